// Protocol scenarios as data files with golden output (etcd-io/raft's testdata style).
//
// Each file in tests/consensus/testdata/ is a script for validator 0 of four (power 1 each;
// with equal powers the proposer of (h, r) is validator (h + r) mod 4). A command line is
// followed by the lines of output it must produce, each starting with "> ":
//
//   start H                                  Start(H)
//   proposal R VALUE [vr V]                  the proposal of round R from its proposer
//   prevote|precommit R VALUE|nil I J ...    votes from validators I, J, ...
//   timeout propose|prevote|precommit R      OnTimeout
//   gossip                                   OnGossipTick
//   state                                    prints height, round, step, lock, valid value
//
// Output: what the Ready holds, in order: persisted (signed) state changes, the decision,
// this node's own messages and timers. Run with VIGIL_REWRITE_GOLDEN=1 to rewrite the files
// from the current behaviour (then review the diff: that is the point).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "consensus/consensus.h"
#include "consensus/test_config.h"

namespace vigil::consensus {
namespace {

constexpr std::string_view kChainId = "vigil-scenario";

class ScenarioValues final : public ValueSource {
 public:
  Bytes GetValue(uint64_t height, uint32_t round, int64_t) override {
    return ToBytes("own-" + std::to_string(height) + "-" + std::to_string(round));
  }
  bool IsValid(uint64_t, ByteSpan value) override {
    return !(value.size() >= 3 && value[0] == 'b' && value[1] == 'a' && value[2] == 'd');
  }
};

class Scenario {
 public:
  Scenario() {
    std::vector<Validator> validators;
    std::vector<crypto::PrivateKey> keys;
    for (uint8_t i = 0; i < 4; ++i) {
      std::array<uint8_t, limits::kEd25519SeedBytes> seed{};
      seed.fill(static_cast<uint8_t>(0x30 + i));
      keys.push_back(crypto::PrivateKey::FromSeed(seed).value());
      validators.push_back({keys.back().public_key(), 1});
    }
    set_ = ValidatorSet::Create(validators).value();
    keys_.resize(4);
    for (auto& key : keys) {
      const uint32_t index = *set_.IndexOf(key.public_key());
      keys_[index].emplace(std::move(key));
    }
    signer_.emplace(*keys_[0]);
    consensus_.emplace(TestConfig(kChainId), &*signer_, values_, verifier_);
  }

  // Runs one command; returns its output lines (without "> ").
  std::vector<std::string> Run(const std::string& line) {
    std::istringstream words(line);
    std::string command;
    words >> command;
    if (command == "start") {
      words >> height_;
      consensus_->Start(height_, set_, 0);
    } else if (command == "proposal") {
      uint32_t round = 0;
      std::string value;
      words >> round >> value;
      Proposal proposal{.height = height_,
                        .round = round,
                        .value = ToBytes(value),
                        .valid_round = std::nullopt,
                        .proposer_index = consensus_->Proposer(round),
                        .signature = {}};
      std::string keyword;
      uint32_t valid_round = 0;
      if (words >> keyword >> valid_round && keyword == "vr") proposal.valid_round = valid_round;
      Name(ToBytes(value));
      proposal.signature =
          keys_[proposal.proposer_index]->Sign(ProposalSignBytes(kChainId, proposal));
      Expect(consensus_->Step(proposal, 0));
    } else if (command == "prevote" || command == "precommit") {
      uint32_t round = 0;
      std::string value;
      words >> round >> value;
      std::optional<ValueId> id;
      if (value != "nil") id = Name(ToBytes(value));
      for (uint32_t index = 0; words >> index;) {
        Vote vote{.type = command == "prevote" ? VoteType::kPrevote : VoteType::kPrecommit,
                  .height = height_,
                  .round = round,
                  .value_id = id,
                  .validator_index = index,
                  .signature = {}};
        vote.signature = keys_[index]->Sign(VoteSignBytes(kChainId, vote));
        Expect(consensus_->Step(vote, 0));
      }
    } else if (command == "timeout") {
      std::string kind;
      uint32_t round = 0;
      words >> kind >> round;
      const TimeoutKind timeout_kind = kind == "propose"   ? TimeoutKind::kPropose
                                       : kind == "prevote" ? TimeoutKind::kPrevote
                                                           : TimeoutKind::kPrecommit;
      consensus_->OnTimeout({timeout_kind, height_, round, 0}, 0);
    } else if (command == "gossip") {
      consensus_->OnGossipTick(0);
    } else if (command == "state") {
      const DurableState& state = consensus_->durable_state();
      output_.push_back(
          "h" + std::to_string(state.height) + " r" + std::to_string(state.round) + " " +
          std::string(RoundStepName(state.step)) + " locked=" +
          (state.locked ? NameOf(state.locked->value) + "@" + std::to_string(state.locked->round)
                        : "-") +
          " valid=" +
          (state.valid ? NameOf(state.valid->value) + "@" + std::to_string(state.valid->round)
                       : "-"));
    } else {
      output_.push_back("unknown command: " + command);
    }
    Describe(consensus_->TakeReady());
    return std::exchange(output_, {});
  }

 private:
  ValueId Name(const Bytes& value) {
    const ValueId id = ComputeValueId(value);
    names_[id] = std::string(value.begin(), value.end());
    return id;
  }
  std::string NameOf(const Bytes& value) { return std::string(value.begin(), value.end()); }
  std::string NameOf(const std::optional<ValueId>& id) {
    if (!id) return "nil";
    auto it = names_.find(*id);
    return it == names_.end() ? ToHex(*id).substr(0, 8) : it->second;
  }
  void Expect(const Status& status) {
    if (!status) output_.push_back("refused: " + status.error().message());
  }

  void Describe(const Ready& ready) {
    if (ready.decision) {
      output_.push_back(
          "decide h" + std::to_string(ready.decision->height) + " r" +
          std::to_string(ready.decision->round) + " " + NameOf(ready.decision->value) + " with " +
          std::to_string(ready.decision->certificate.signatures.size()) + " precommits");
    }
    for (const Message& message : ready.messages) {
      if (const Proposal* proposal = std::get_if<Proposal>(&message)) {
        Name(proposal->value);
        output_.push_back("send proposal r" + std::to_string(proposal->round) + " " +
                          NameOf(proposal->value) + " vr " +
                          (proposal->valid_round ? std::to_string(*proposal->valid_round) : "-") +
                          " by " + std::to_string(proposal->proposer_index));
      } else if (const Vote* vote = std::get_if<Vote>(&message)) {
        output_.push_back("send " + std::string(VoteTypeName(vote->type)) + " r" +
                          std::to_string(vote->round) + " " + NameOf(vote->value_id) + " by " +
                          std::to_string(vote->validator_index));
      } else if (std::holds_alternative<Evidence>(message)) {
        output_.push_back("send evidence");
      }
    }
    for (const Timeout& timer : ready.timers) {
      output_.push_back("timer " + std::string(TimeoutKindName(timer.kind)) + " r" +
                        std::to_string(timer.round) + " " + std::to_string(timer.duration_ms) +
                        "ms");
    }
    if (ready.persist && ready.persist->locked != last_locked_) {
      last_locked_ = ready.persist->locked;
      output_.push_back("persist lock " + (last_locked_ ? NameOf(last_locked_->value) + "@" +
                                                              std::to_string(last_locked_->round)
                                                        : std::string("-")));
    }
  }

  ValidatorSet set_;
  std::vector<std::optional<crypto::PrivateKey>> keys_;
  std::optional<Ed25519Signer> signer_;
  ScenarioValues values_;
  Ed25519Verifier verifier_;
  std::optional<Consensus> consensus_;
  uint64_t height_ = 1;
  std::map<ValueId, std::string> names_;
  std::vector<std::string> output_;
  std::optional<RoundValue> last_locked_;
};

// Runs a file; returns it as it should be (commands and comments kept, outputs regenerated).
std::string RunFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  Scenario scenario;
  std::string expected_text;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("> ", 0) == 0) continue;  // old output: regenerated below
    expected_text += line + "\n";
    if (line.empty() || line[0] == '#') continue;
    for (const std::string& output : scenario.Run(line)) expected_text += "> " + output + "\n";
  }
  return expected_text;
}

TEST(ScenarioTest, EveryTestdataFileMatchesItsGoldenOutput) {
  const std::filesystem::path directory = VIGIL_CONSENSUS_TESTDATA_DIR;
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (entry.path().extension() != ".txt") continue;
    ++files;
    std::ifstream in(entry.path());
    const std::string current((std::istreambuf_iterator<char>(in)), {});
    const std::string wanted = RunFile(entry.path());
    if (std::getenv("VIGIL_REWRITE_GOLDEN") != nullptr) {
      std::ofstream(entry.path()) << wanted;
      continue;
    }
    EXPECT_EQ(current, wanted) << entry.path()
                               << " differs; rerun with VIGIL_REWRITE_GOLDEN=1 "
                                  "and review the diff";
  }
  EXPECT_GT(files, 0);
}

}  // namespace
}  // namespace vigil::consensus
