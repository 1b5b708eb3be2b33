// Merkle tree build, proof generation and verification (RFC 6962 hashing).
#include <benchmark/benchmark.h>

#include "merkle/merkle.h"

namespace vigil::merkle {
namespace {

std::vector<Hash> LeafHashes(size_t count) {
  std::vector<Hash> hashes;
  hashes.reserve(count);
  for (size_t i = 0; i < count; ++i) hashes.push_back(HashLeaf(AsBytes(std::to_string(i))));
  return hashes;
}

void BM_BuildTree(benchmark::State& state) {
  const std::vector<Hash> leaves = LeafHashes(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    Tree tree = Tree::FromLeafHashes(leaves);
    benchmark::DoNotOptimize(tree.Root());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_BuildTree)->Arg(1000)->Arg(100000);

void BM_ProveInclusion(benchmark::State& state) {
  const Tree tree = Tree::FromLeafHashes(LeafHashes(static_cast<size_t>(state.range(0))));
  uint64_t index = 0;
  for (auto _ : state) {
    auto proof = tree.ProveInclusion(index);
    benchmark::DoNotOptimize(proof);
    index = (index + 7919) % tree.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ProveInclusion)->Arg(1000)->Arg(1000000);

void BM_VerifyInclusion(benchmark::State& state) {
  const std::vector<Hash> leaves = LeafHashes(static_cast<size_t>(state.range(0)));
  const Tree tree = Tree::FromLeafHashes(leaves);
  const uint64_t index = tree.size() / 3;
  const InclusionProof proof = tree.ProveInclusion(index).value();
  const Hash root = tree.Root();
  for (auto _ : state) {
    auto verified = VerifyInclusion(leaves[index], proof, root);
    if (!verified) state.SkipWithError("verification failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyInclusion)->Arg(1000)->Arg(1000000);

void BM_ProveAndVerifyConsistency(benchmark::State& state) {
  const Tree tree = Tree::FromLeafHashes(LeafHashes(static_cast<size_t>(state.range(0))));
  const uint64_t old_size = tree.size() * 2 / 3 + 1;
  const Hash old_root = tree.RootAtSize(old_size).value();
  for (auto _ : state) {
    auto proof = tree.ProveConsistency(old_size).value();
    if (!VerifyConsistency(old_size, tree.size(), old_root, tree.Root(), proof)) {
      state.SkipWithError("verification failed");
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ProveAndVerifyConsistency)->Arg(1000)->Arg(1000000);

}  // namespace
}  // namespace vigil::merkle
