// The chunk path of a rollout: a gateway encoding 256 KiB chunk frames, a device decoding them.
// "Copied" is how it was done before the in-place encoding (a buffer of the bytes, then the
// Chunk message encoded from it); "InPlace" is what the gateway and the device do now.
#include <benchmark/benchmark.h>

#include <cstring>

#include "delivery/protocol.h"

namespace vigil::delivery {
namespace {

constexpr size_t kChunkBytes = 256 * 1024;  // the agent's chunk size

const Bytes& Source() {
  static const Bytes source(kChunkBytes, 0x5a);  // stands in for the page-cached bundle
  return source;
}

void BM_ChunkFrameCopied(benchmark::State& state) {
  for (auto _ : state) {
    Bytes bytes(kChunkBytes);
    std::memcpy(bytes.data(), Source().data(), kChunkBytes);
    Chunk chunk{.request_id = 1, .offset = 0, .bytes = std::move(bytes), .error = ""};
    Bytes frame = Encode(chunk);
    benchmark::DoNotOptimize(frame.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kChunkBytes));
}
BENCHMARK(BM_ChunkFrameCopied);

void BM_ChunkFrameInPlace(benchmark::State& state) {
  for (auto _ : state) {
    Bytes frame = EncodeChunk(1, 0, kChunkBytes, [](std::span<uint8_t> out) -> Status {
      std::memcpy(out.data(), Source().data(), out.size());
      return Ok();
    });
    benchmark::DoNotOptimize(frame.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kChunkBytes));
}
BENCHMARK(BM_ChunkFrameInPlace);

void BM_DecodeChunkCopied(benchmark::State& state) {
  Bytes frame = Encode(Chunk{.request_id = 1, .offset = 0, .bytes = Source(), .error = ""});
  for (auto _ : state) {
    auto chunk = DecodeChunk(frame);
    benchmark::DoNotOptimize(chunk->bytes.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kChunkBytes));
}
BENCHMARK(BM_DecodeChunkCopied);

void BM_DecodeChunkView(benchmark::State& state) {
  Bytes frame = Encode(Chunk{.request_id = 1, .offset = 0, .bytes = Source(), .error = ""});
  for (auto _ : state) {
    auto chunk = DecodeChunkView(frame);
    benchmark::DoNotOptimize(chunk->bytes.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kChunkBytes));
}
BENCHMARK(BM_DecodeChunkView);

}  // namespace
}  // namespace vigil::delivery
