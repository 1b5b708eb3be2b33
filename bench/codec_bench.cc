// Canonical codec throughput: encoding and strictly decoding a transaction-sized record.
#include <benchmark/benchmark.h>

#include "codec/codec.h"

namespace vigil::codec {
namespace {

// Shaped like a signed ledger transaction: ids, a digest, a body, a signature.
struct Transaction {
  std::string chain_id = "vigil-factory-7";
  uint16_t kind = 3;
  Bytes body = Bytes(96, 0x42);
  std::array<uint8_t, 32> signer{};
  uint64_t sequence = 123456;
  std::array<uint8_t, 64> signature{};
};

void Encode(Encoder& encoder, const Transaction& transaction) {
  encoder.WriteString(transaction.chain_id);
  encoder.WriteU16(transaction.kind);
  encoder.WriteBytes(transaction.body);
  encoder.WriteFixed(transaction.signer);
  encoder.WriteU64(transaction.sequence);
  encoder.WriteFixed(transaction.signature);
}

Expected<Transaction> Decode(Decoder& decoder) {
  Transaction transaction;
  VIGIL_ASSIGN_OR_RETURN(transaction.chain_id, decoder.ReadString("chain_id", 64));
  VIGIL_ASSIGN_OR_RETURN(transaction.kind, decoder.ReadU16("kind"));
  VIGIL_ASSIGN_OR_RETURN(transaction.body, decoder.ReadBytes("body", 1 << 20));
  VIGIL_ASSIGN_OR_RETURN(transaction.signer, decoder.ReadFixed<32>("signer"));
  VIGIL_ASSIGN_OR_RETURN(transaction.sequence, decoder.ReadU64("sequence"));
  VIGIL_ASSIGN_OR_RETURN(transaction.signature, decoder.ReadFixed<64>("signature"));
  return transaction;
}

void BM_EncodeTransaction(benchmark::State& state) {
  Transaction transaction;
  size_t bytes = 0;
  for (auto _ : state) {
    Encoder encoder;
    Encode(encoder, transaction);
    bytes = encoder.bytes().size();
    benchmark::DoNotOptimize(encoder.bytes().data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["bytes_per_item"] = static_cast<double>(bytes);
}
BENCHMARK(BM_EncodeTransaction);

void BM_DecodeTransaction(benchmark::State& state) {
  Encoder encoder;
  Encode(encoder, Transaction{});
  const Bytes encoded = std::move(encoder).Take();
  for (auto _ : state) {
    auto decoded = DecodeExactly(encoded, Decode);
    if (!decoded) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(decoded);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * encoded.size()));
}
BENCHMARK(BM_DecodeTransaction);

void BM_DecodeBytesField(benchmark::State& state) {
  Encoder encoder;
  encoder.WriteBytes(Bytes(static_cast<size_t>(state.range(0)), 0x17));
  const Bytes encoded = std::move(encoder).Take();
  for (auto _ : state) {
    Decoder decoder(encoded);
    auto bytes = decoder.ReadBytes("blob", limits::kCodecFieldBytesMax);
    benchmark::DoNotOptimize(bytes);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * encoded.size()));
}
BENCHMARK(BM_DecodeBytesField)->Arg(256)->Arg(1 << 20);

}  // namespace
}  // namespace vigil::codec
