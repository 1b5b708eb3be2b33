// Fuzzes the compliance decoders (issue 6): the client API's ComplianceRequest (what any
// client may send a peer) and ComplianceResponse (what `vigil compliance` decodes from a
// peer), and the stored ComplianceRecord (src/ledger/compliance.h). The first input byte picks
// the decoder, the rest is the untrusted input. Properties:
//  1. no input crashes, leaks or trips a sanitizer;
//  2. canonical: whatever decodes re-encodes to exactly the input bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "api/messages.h"
#include "ledger/compliance.h"

namespace {

using vigil::Bytes;
using vigil::ByteSpan;
namespace api = vigil::api;
namespace ledger = vigil::ledger;

void RequireSame(const Bytes& encoded, ByteSpan input) {
  if (encoded.size() != input.size() || !std::equal(encoded.begin(), encoded.end(), input.begin())) {
    std::abort();
  }
}

template <typename Decode>
void RoundTrip(ByteSpan input, Decode decode) {
  auto decoded = decode(input);
  if (!decoded) return;
  RequireSame(api::Encode(*decoded), input);
}

void RecordRoundTrip(ByteSpan input) {
  auto decoded = vigil::codec::DecodeExactly(input, ledger::DecodeComplianceRecord);
  if (!decoded) return;
  vigil::codec::Encoder encoder;
  ledger::EncodeComplianceRecord(encoder, *decoded);
  RequireSame(std::move(encoder).Take(), input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  ByteSpan input(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0: RoundTrip(input, api::DecodeComplianceRequest); break;
    case 1: RoundTrip(input, api::DecodeComplianceResponse); break;
    case 2: RecordRoundTrip(input); break;
  }
  return 0;
}
