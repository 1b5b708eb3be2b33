// Fuzzes the canonical decoder. Two properties:
//  1. no input crashes, leaks or trips a sanitizer;
//  2. canonical means one encoding per value: whatever decodes re-encodes to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "codec/codec.h"
#include "merkle/merkle.h"

namespace {

using vigil::Bytes;
using vigil::Expected;
using vigil::codec::Decoder;
using vigil::codec::Encoder;

// A record that uses every primitive the ledger's types use.
struct Record {
  uint8_t kind = 0;
  uint16_t port = 0;
  uint32_t count = 0;
  int64_t time_ms = 0;
  bool flag = false;
  std::array<uint8_t, 32> digest{};
  Bytes blob;
  std::string name;
  std::vector<std::string> labels;
  std::optional<uint64_t> height;
};

Expected<Record> DecodeRecord(Decoder& decoder) {
  Record record;
  VIGIL_ASSIGN_OR_RETURN(record.kind, decoder.ReadU8("kind"));
  VIGIL_ASSIGN_OR_RETURN(record.port, decoder.ReadU16("port"));
  VIGIL_ASSIGN_OR_RETURN(record.count, decoder.ReadU32("count"));
  VIGIL_ASSIGN_OR_RETURN(record.time_ms, decoder.ReadI64("time_ms"));
  VIGIL_ASSIGN_OR_RETURN(record.flag, decoder.ReadBool("flag"));
  VIGIL_ASSIGN_OR_RETURN(record.digest, decoder.ReadFixed<32>("digest"));
  VIGIL_ASSIGN_OR_RETURN(record.blob, decoder.ReadBytes("blob", 4096));
  VIGIL_ASSIGN_OR_RETURN(record.name, decoder.ReadString("name", 64));
  VIGIL_ASSIGN_OR_RETURN(record.labels, decoder.ReadVector("labels", 16, [](Decoder& d) {
                           return d.ReadString("label", 64);
                         }));
  VIGIL_ASSIGN_OR_RETURN(record.height,
                         decoder.ReadOptional("height", [](Decoder& d) { return d.ReadU64("h"); }));
  return record;
}

Bytes EncodeRecord(const Record& record) {
  Encoder encoder;
  encoder.WriteU8(record.kind);
  encoder.WriteU16(record.port);
  encoder.WriteU32(record.count);
  encoder.WriteI64(record.time_ms);
  encoder.WriteBool(record.flag);
  encoder.WriteFixed(record.digest);
  encoder.WriteBytes(record.blob);
  encoder.WriteString(record.name);
  encoder.WriteVector(record.labels, [](Encoder& e, const std::string& s) { e.WriteString(s); });
  encoder.WriteOptional(record.height, [](Encoder& e, uint64_t h) { e.WriteU64(h); });
  return std::move(encoder).Take();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vigil::ByteSpan input(data, size);
  if (auto record = vigil::codec::DecodeExactly(input, DecodeRecord); record.has_value()) {
    Bytes again = EncodeRecord(*record);
    if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();
  }
  if (auto proof = vigil::codec::DecodeExactly(input, vigil::merkle::DecodeInclusionProof);
      proof.has_value()) {
    vigil::codec::Encoder encoder;
    vigil::merkle::EncodeInclusionProof(encoder, *proof);
    if (encoder.bytes().size() != size) std::abort();
    // Verification of arbitrary proofs must fail cleanly, never crash.
    (void)vigil::merkle::VerifyInclusion(vigil::merkle::Hash{}, *proof, vigil::merkle::Hash{});
  }
  return 0;
}
