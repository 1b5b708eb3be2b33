// The ledger store (docs/storage.md#performance): block commits of 1, 100 and 1,000
// transactions with as many 256-byte state writes, durable (synchronous=FULL) and, for
// comparison, synchronous=NORMAL; block and transaction reads.
//
//   build/default/bench/bench_store --benchmark_filter=Commit
//
// The store lives in $VIGIL_BENCH_DIR if set, else in the system temporary directory: put it
// on the disk a peer would use, since commit cost is mostly that disk's fsync latency.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "store/block_store.h"

namespace vigil::store {
namespace {

class ScratchDirectory {
 public:
  ScratchDirectory() {
    const char* base = std::getenv("VIGIL_BENCH_DIR");
    std::filesystem::path root = base != nullptr ? base : std::filesystem::temp_directory_path();
    std::string pattern = (root / "vigil-store-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~ScratchDirectory() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

Bytes Digest(uint64_t kind, uint64_t a, uint64_t b) {
  Bytes bytes(32, 0);
  for (int shift = 0; shift < 64; shift += 8) {
    bytes[static_cast<size_t>(shift / 8)] = static_cast<uint8_t>(a >> shift);
    bytes[8 + static_cast<size_t>(shift / 8)] = static_cast<uint8_t>(b >> shift);
    // Spread the ids over the key space like real hashes, not in insertion order.
    bytes[16 + static_cast<size_t>(shift / 8)] =
        static_cast<uint8_t>(((a * 0x9e3779b97f4a7c15ULL) ^ (b * 0xbf58476d1ce4e5b9ULL)) >> shift);
  }
  bytes[31] = static_cast<uint8_t>(kind);
  std::rotate(bytes.begin(), bytes.begin() + 16, bytes.end());
  return bytes;
}

// A block of `count` transactions (100-byte results) and `count` state writes of 256 bytes to
// keys spread over a space of 100,000 (so later blocks update existing keys, as a ledger does).
BlockCommit MakeBlock(uint64_t height, size_t count) {
  BlockCommit commit;
  commit.height = height;
  commit.block_hash = Digest(1, height, 0);
  commit.previous_block_hash = Digest(1, height - 1, 0);
  commit.block.assign(count * 300 + 200, 0xab);     // ~300 bytes per transaction envelope
  commit.commit_certificate.assign(4 * 100, 0xcd);  // 4 validators' precommits
  commit.state_hash = Digest(2, height, 0);
  commit.transactions.reserve(count);
  commit.state_writes.reserve(count);
  for (size_t index = 0; index < count; ++index) {
    commit.transactions.push_back({Digest(3, height, index), Bytes(100, 0x01)});
    uint64_t key = (height * count + index) * 7919 % 100'000;
    Bytes key_bytes = Digest(4, key, 0);
    key_bytes.resize(20);  // state keys are short paths, not digests
    commit.state_writes.push_back({std::move(key_bytes), Bytes(256, 0x02)});
  }
  return commit;
}

void CommitBlocks(benchmark::State& state, Synchronous synchronous) {
  const size_t count = static_cast<size_t>(state.range(0));
  ScratchDirectory directory;
  StoreOptions options;
  options.synchronous = synchronous;
  auto store = BlockStore::Open(directory.path() / "ledger.sqlite3", options).value();
  // Build the blocks outside the timed loop: the benchmark measures the store, not the test
  // data.
  std::vector<BlockCommit> blocks;
  const uint64_t prepared = 64;
  for (uint64_t height = 1; height <= prepared; ++height)
    blocks.push_back(MakeBlock(height, count));
  uint64_t height = 0;
  for (auto _ : state) {
    ++height;
    BlockCommit& block = blocks[(height - 1) % prepared];
    if (height > prepared) {  // reuse a prepared block under a new height and fresh ids
      state.PauseTiming();
      block = MakeBlock(height, count);
      state.ResumeTiming();
    }
    if (auto committed = store->CommitBlock(block); !committed) {
      state.SkipWithError(committed.error().ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["commits_per_second"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_CommitBlockFull(benchmark::State& state) { CommitBlocks(state, Synchronous::kFull); }
void BM_CommitBlockNormal(benchmark::State& state) { CommitBlocks(state, Synchronous::kNormal); }
BENCHMARK(BM_CommitBlockFull)
    ->Arg(1)
    ->Arg(100)
    ->Arg(1000)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CommitBlockNormal)
    ->Arg(1)
    ->Arg(100)
    ->Arg(1000)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_SaveConsensusStateFull(benchmark::State& state) {
  ScratchDirectory directory;
  auto store = BlockStore::Open(directory.path() / "ledger.sqlite3", {}).value();
  Bytes record(600, 0x03);  // a DurableState with votes, without a proposal
  uint64_t counter = 0;
  for (auto _ : state) {
    // A different record each time: SQLite skips writing (and syncing) a row rewritten with
    // identical bytes, which would measure nothing.
    ++counter;
    for (size_t byte = 0; byte < 8; ++byte)
      record[byte] = static_cast<uint8_t>(counter >> (8 * byte));
    if (!store->SaveConsensusState(record)) state.SkipWithError("save failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SaveConsensusStateFull)->UseRealTime()->Unit(benchmark::kMicrosecond);

// A store of 200 blocks of 1,000 transactions for the read benchmarks.
class ReadFixture {
 public:
  static constexpr uint64_t kBlocks = 200;
  static constexpr size_t kTransactions = 1000;
  ReadFixture() {
    StoreOptions options;
    options.synchronous = Synchronous::kNormal;
    store_ = BlockStore::Open(directory_.path() / "ledger.sqlite3", options).value();
    for (uint64_t height = 1; height <= kBlocks; ++height) {
      if (!store_->CommitBlock(MakeBlock(height, kTransactions))) std::abort();
    }
  }
  BlockStore& store() { return *store_; }

 private:
  ScratchDirectory directory_;
  std::unique_ptr<BlockStore> store_;
};

void BM_GetBlock(benchmark::State& state) {
  ReadFixture fixture;
  uint64_t height = 0;
  for (auto _ : state) {
    height = height % ReadFixture::kBlocks + 1;
    auto block = fixture.store().GetBlock(height);
    if (!block) state.SkipWithError("read failed");
    benchmark::DoNotOptimize(block);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GetBlock)->Unit(benchmark::kMicrosecond);

void BM_FindTransaction(benchmark::State& state) {
  ReadFixture fixture;
  std::vector<Bytes> ids;
  for (uint64_t index = 0; index < 10'000; ++index) {
    ids.push_back(Digest(3, 1 + index * 7 % ReadFixture::kBlocks, index * 13 % 1000));
  }
  size_t next = 0;
  for (auto _ : state) {
    auto location = fixture.store().FindTransaction(ids[next++ % ids.size()]);
    if (!location) state.SkipWithError("lookup failed");
    benchmark::DoNotOptimize(location);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FindTransaction)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace vigil::store
