// Consensus costs: a whole height decided by in-process validators (real Ed25519, no network),
// the gossip hot path (a duplicate vote), vote encoding, and commit certificate verification
// (what a light client pays per block).
#include <benchmark/benchmark.h>

#include <deque>
#include <memory>

#include "consensus/consensus.h"

namespace vigil::consensus {
namespace {

constexpr std::string_view kChainId = "vigil-bench";

class BenchValues final : public ValueSource {
 public:
  Bytes GetValue(uint64_t height, uint32_t, int64_t) override {
    Bytes value(1024, static_cast<uint8_t>(height));  // a small block
    return value;
  }
  bool IsValid(uint64_t, ByteSpan) override { return true; }
};

struct Cluster {
  explicit Cluster(size_t size) {
    std::vector<Validator> validators;
    for (size_t i = 0; i < size; ++i) {
      std::array<uint8_t, limits::kEd25519SeedBytes> seed{};
      seed.fill(static_cast<uint8_t>(i + 1));
      keys.push_back(crypto::PrivateKey::FromSeed(seed).value());
      validators.push_back({keys.back().public_key(), 1});
    }
    set = ValidatorSet::Create(validators).value();
    config.chain_id = std::string(kChainId);
    for (const auto& key : keys) signers.push_back(std::make_unique<Ed25519Signer>(key));
    for (const auto& signer : signers) {
      nodes.push_back(std::make_unique<Consensus>(config, signer.get(), values, verifier));
    }
  }

  // Starts `height` everywhere and routes messages until every node has decided it.
  void DecideHeight(uint64_t height) {
    std::deque<std::pair<size_t, Message>> in_flight;
    auto drain = [&](size_t from) {
      Ready ready = nodes[from]->TakeReady();
      for (auto& message : ready.messages) in_flight.emplace_back(from, std::move(message));
    };
    for (size_t i = 0; i < nodes.size(); ++i) {
      nodes[i]->Start(height, set, 0);
      drain(i);
    }
    while (!in_flight.empty()) {
      auto [from, message] = std::move(in_flight.front());
      in_flight.pop_front();
      for (size_t to = 0; to < nodes.size(); ++to) {
        if (to == from || nodes[to]->decided()) continue;
        (void)nodes[to]->Step(message, 0);
        drain(to);
      }
    }
    for (const auto& node : nodes) VIGIL_ASSERT(node->decided());
  }

  std::vector<crypto::PrivateKey> keys;
  std::vector<std::unique_ptr<Ed25519Signer>> signers;
  ValidatorSet set;
  Config config;
  BenchValues values;
  Ed25519Verifier verifier;
  std::vector<std::unique_ptr<Consensus>> nodes;
};

void BM_DecideHeight(benchmark::State& state) {
  Cluster cluster(static_cast<size_t>(state.range(0)));
  uint64_t height = 1;
  for (auto _ : state) cluster.DecideHeight(height++);
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("heights (all validators in one thread)");
}
BENCHMARK(BM_DecideHeight)->Arg(1)->Arg(4)->Arg(7);

void BM_DuplicateVote(benchmark::State& state) {
  Cluster cluster(4);
  cluster.nodes[0]->Start(1, cluster.set, 0);
  Vote vote{.type = VoteType::kPrevote,
            .height = 1,
            .round = 0,
            .value_id = std::nullopt,
            .validator_index = 1,
            .signature = {}};
  const uint32_t signer_index = 1;
  for (size_t i = 0; i < cluster.keys.size(); ++i) {
    if (cluster.set.IndexOf(cluster.keys[i].public_key()) == signer_index) {
      vote.signature = cluster.keys[i].Sign(VoteSignBytes(kChainId, vote));
    }
  }
  const Message message = vote;
  (void)cluster.nodes[0]->Step(message, 0);
  for (auto _ : state) {
    benchmark::DoNotOptimize(cluster.nodes[0]->Step(message, 0));
    benchmark::DoNotOptimize(cluster.nodes[0]->TakeReady());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DuplicateVote);

void BM_VoteEncodeDecode(benchmark::State& state) {
  const Message message = Vote{.type = VoteType::kPrecommit,
                               .height = 12345,
                               .round = 2,
                               .value_id = ComputeValueId(ToBytes("block")),
                               .validator_index = 3,
                               .signature = {}};
  for (auto _ : state) {
    Bytes bytes = EncodeMessage(message);
    benchmark::DoNotOptimize(DecodeMessage(bytes));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VoteEncodeDecode);

void BM_VerifyCommitCertificate(benchmark::State& state) {
  Cluster cluster(static_cast<size_t>(state.range(0)));
  const ValueId id = ComputeValueId(ToBytes("block"));
  CommitCertificate certificate{.height = 9, .round = 0, .value_id = id, .signatures = {}};
  for (uint32_t index = 0; index < cluster.set.size(); ++index) {
    Vote vote{.type = VoteType::kPrecommit,
              .height = 9,
              .round = 0,
              .value_id = id,
              .validator_index = index,
              .signature = {}};
    for (const auto& key : cluster.keys) {
      if (key.public_key() == cluster.set.at(index).public_key) {
        certificate.signatures.push_back({index, key.Sign(VoteSignBytes(kChainId, vote))});
      }
    }
  }
  for (auto _ : state) {
    auto status = VerifyCommitCertificate(cluster.set, kChainId, 9, id, certificate);
    VIGIL_ASSERT(status.has_value());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyCommitCertificate)->Arg(4)->Arg(16);

}  // namespace
}  // namespace vigil::consensus
