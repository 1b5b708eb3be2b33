#include "sim/simulator.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <sstream>
#include <unordered_map>

#include "consensus/consensus.h"
#include "ledger/execute.h"

namespace vigil::sim {
namespace {

using consensus::Commit;
using consensus::CommitCertificate;
using consensus::Consensus;
using consensus::DurableState;
using consensus::Message;
using consensus::Proposal;
using consensus::Ready;
using consensus::Timeout;
using consensus::ValidatorSet;
using consensus::ValueId;
using consensus::Vote;
using consensus::VoteType;

constexpr std::string_view kChainId = "vigil-sim";
// Commits sent in one catch-up reply, and future-height commits a node buffers.
constexpr uint64_t kCatchUpCommitsMax = 32;
constexpr size_t kFutureCommitsMax = 64;

// Portable across standard libraries (std::uniform_int_distribution is not), so a seed
// replays the same run wherever it is built.
class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}
  uint64_t Next() { return engine_(); }
  // Uniform in [low, high].
  int64_t Between(int64_t low, int64_t high) {
    return low + static_cast<int64_t>(engine_() % static_cast<uint64_t>(high - low + 1));
  }
  double Unit() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  bool Chance(double probability) { return Unit() < probability; }

 private:
  std::mt19937_64 engine_;
};

// Ed25519 verification is the simulation's largest cost and every node checks the same
// signatures: remember each (key, signature, message) result once for the whole cluster.
class CachingVerifier final : public consensus::SignatureVerifier {
 public:
  bool Verify(const consensus::PublicKey& key, ByteSpan message,
              const consensus::Signature& signature) override {
    std::string cache_key;
    cache_key.reserve(key.size() + signature.size() + message.size());
    cache_key.append(reinterpret_cast<const char*>(key.data()), key.size());
    cache_key.append(reinterpret_cast<const char*>(signature.data()), signature.size());
    cache_key.append(reinterpret_cast<const char*>(message.data()), message.size());
    auto [it, inserted] = cache_.try_emplace(std::move(cache_key), false);
    if (inserted) it->second = crypto::Verify(key, message, signature);
    return it->second;
  }

 private:
  std::unordered_map<std::string, bool> cache_;
};

// "Activate rules version V from height H", as a decided value carries it: the simulator's
// stand-in for the ledger's activate-rules transaction (docs/ledger.md#activate-rules). Its
// effect on the RulesRecord is the ledger's own (ledger::RulesAfterActivation); the support
// check of the real transaction is out of scope (every simulated binary reports support).
struct RulesActivation {
  uint32_t version = 0;
  uint64_t from_height = 0;
};

constexpr std::string_view kActivateRulesTag = " activate-rules ";
constexpr std::string_view kFromTag = " from ";

std::string EncodeRulesActivation(const RulesActivation& activation) {
  return std::string(kActivateRulesTag) + std::to_string(activation.version) +
         std::string(kFromTag) + std::to_string(activation.from_height);
}

// The activation a value carries, if any: " activate-rules <V> from <H>" at its end.
std::optional<RulesActivation> ParseRulesActivation(ByteSpan value) {
  std::string_view text(reinterpret_cast<const char*>(value.data()), value.size());
  const size_t tag = text.find(kActivateRulesTag);
  if (tag == std::string_view::npos) return std::nullopt;
  text.remove_prefix(tag + kActivateRulesTag.size());
  RulesActivation activation;
  const char* const end = text.data() + text.size();
  auto version = std::from_chars(text.data(), end, activation.version);
  if (version.ec != std::errc{}) return std::nullopt;
  std::string_view rest(version.ptr, static_cast<size_t>(end - version.ptr));
  if (!rest.starts_with(kFromTag)) return std::nullopt;
  rest.remove_prefix(kFromTag.size());
  auto height = std::from_chars(rest.data(), end, activation.from_height);
  if (height.ec != std::errc{} || height.ptr != end) return std::nullopt;
  return activation;
}

// Heights whose proposals carry a rules activation -> how many heights later it takes effect.
using RulesActivationPlan = std::map<uint64_t, uint64_t>;

// Every rules version a simulated binary can have: 1 and the ones the run activates.
std::vector<uint32_t> AllRulesVersions() {
  std::vector<uint32_t> versions;
  for (uint32_t version = 1; version <= kSimRulesActivations + 1; ++version) {
    versions.push_back(version);
  }
  return versions;
}

struct Block {
  Bytes value;
  CommitCertificate certificate;
  crypto::Sha256Digest state_hash{};
  uint32_t rules_version = 1;  // the version the block executed under
  ledger::RulesRecord rules;   // after the block
};

// What survives a crash: written and synced before anything of the same Ready is sent.
struct Storage {
  std::optional<DurableState> consensus_state;
  std::vector<Block> chain;  // chain[i] is height i + 1
};

// The rules record after the node's last executed block (genesis: version 1, none scheduled).
ledger::RulesRecord RulesAfterChain(const Storage& storage) {
  return storage.chain.empty() ? ledger::RulesRecord{} : storage.chain.back().rules;
}

// The application: values name their proposer, height, round and time; a value starting with
// "invalid" is refused by valid(v) (Byzantine proposers send some). With a rules plan, a value
// proposed at a planned height also carries a rules activation. It reads the node's storage,
// which is what survives a crash, so it needs no restart of its own.
class Application final : public consensus::ValueSource {
 public:
  Application(uint32_t node, const Storage* storage, const RulesActivationPlan* rules_plan)
      : node_(node), storage_(storage), rules_plan_(rules_plan) {}
  Bytes GetValue(uint64_t height, uint32_t round, int64_t now_ms) override {
    std::string value = "block by " + std::to_string(node_) + " at " + std::to_string(height) +
                        "/" + std::to_string(round) + " t=" + std::to_string(now_ms);
    if (auto activation = PlannedRulesActivation(height)) {
      value += EncodeRulesActivation(*activation);
    }
    return ToBytes(value);
  }
  bool IsValid(uint64_t /*height*/, ByteSpan value) override {
    static constexpr std::string_view kInvalid = "invalid";
    return !(value.size() >= kInvalid.size() &&
             std::equal(kInvalid.begin(), kInvalid.end(), value.begin()));
  }

 private:
  // At a planned height, the next version from a few heights on, unless a switch is still
  // pending (a second activation would replace it, and that version would never take effect).
  std::optional<RulesActivation> PlannedRulesActivation(uint64_t height) const {
    if (rules_plan_ == nullptr) return std::nullopt;
    auto planned = rules_plan_->find(height);
    if (planned == rules_plan_->end() || storage_->chain.size() + 1 != height) {
      return std::nullopt;
    }
    const ledger::RulesRecord rules = RulesAfterChain(*storage_);
    if (rules.next_version != 0 && height < rules.next_height) return std::nullopt;
    return RulesActivation{.version = ledger::RulesVersionAt(rules, height) + 1,
                           .from_height = height + planned->second};
  }

  uint32_t node_;
  const Storage* storage_;
  const RulesActivationPlan* rules_plan_;  // null: no activations
};

struct Node {
  uint32_t index = 0;  // validator index
  bool honest = true;
  ByzantineMode mode = ByzantineMode::kMixed;
  std::optional<crypto::PrivateKey> key;
  std::unique_ptr<consensus::Ed25519Signer> signer;
  std::unique_ptr<Application> application;
  std::unique_ptr<Consensus> consensus;
  Storage storage;
  bool up = true;
  // Down because its binary lacks the rules version in force; only an upgrade restarts it.
  bool halted = false;
  std::vector<uint32_t> rules_versions_have = AllRulesVersions();  // ascending
  uint64_t incarnation = 0;  // timers and ticks of an earlier life are ignored
  bool crash_in_next_ready = false;
  bool waiting_next_height = false;
  double clock_rate = 1.0;
  int64_t clock_offset_ms = 0;
  std::map<uint64_t, Commit> future_commits;
  std::vector<int64_t> last_catch_up_reply_ms;
  // Checker state, outside the node so that it survives crashes: (height, round, step) ->
  // what this node signed there.
  std::map<std::tuple<uint64_t, uint32_t, uint8_t>, std::optional<ValueId>> signed_by_step;
};

enum class EventKind : uint8_t {
  kDeliver,
  kTimer,
  kGossip,
  kStartHeight,
  kCrash,
  kRestart,
  kChaos,
  kHeal,
  kFaultPhaseEnd,
  kUpgrade,  // a halted node gets a binary with every rules version
};

struct Event {
  int64_t time_ms = 0;
  uint64_t sequence = 0;
  EventKind kind = EventKind::kDeliver;
  uint32_t node = 0;
  uint32_t from = 0;
  uint64_t incarnation = 0;
  std::shared_ptr<const Message> message;
  Timeout timeout;
};

struct EventLater {
  bool operator()(const Event& a, const Event& b) const {
    if (a.time_ms != b.time_ms) return a.time_ms > b.time_ms;
    return a.sequence > b.sequence;
  }
};

std::string Describe(const Message& message) {
  auto id = [](const std::optional<ValueId>& value) {
    return value ? ToHex(*value).substr(0, 8) : std::string("nil");
  };
  if (const Vote* vote = std::get_if<Vote>(&message)) {
    return std::string(consensus::VoteTypeName(vote->type)) + " h" + std::to_string(vote->height) +
           " r" + std::to_string(vote->round) + " " + id(vote->value_id) + " by " +
           std::to_string(vote->validator_index);
  }
  if (const Proposal* proposal = std::get_if<Proposal>(&message)) {
    return "proposal h" + std::to_string(proposal->height) + " r" +
           std::to_string(proposal->round) + " " + id(consensus::ComputeValueId(proposal->value)) +
           " vr " + (proposal->valid_round ? std::to_string(*proposal->valid_round) : "-") +
           " by " + std::to_string(proposal->proposer_index);
  }
  if (std::holds_alternative<consensus::Evidence>(message)) return "evidence";
  return "commit h" + std::to_string(consensus::MessageHeight(message));
}

std::string_view ModeName(ByzantineMode mode) {
  switch (mode) {
    case ByzantineMode::kEquivocate:
      return "equivocate";
    case ByzantineMode::kInvalidSignature:
      return "invalid-signature";
    case ByzantineMode::kSilent:
      return "silent";
    case ByzantineMode::kMixed:
      return "mixed";
  }
  return "unknown";
}

class Simulation {
 public:
  // The rules scenario draws from its own PRNG, so it leaves the fault schedule as it was.
  explicit Simulation(const SimConfig& config)
      : config_(config), random_(config.seed), rules_random_(config.seed ^ kRulesSeedSalt) {
    result_.seed = config.seed;
  }

  SimResult Run();

 private:
  static constexpr uint64_t kRulesSeedSalt = 0x9e37'79b9'7f4a'7c15;

  void Setup();
  void SetupRules();
  void Schedule(Event event);
  void ScheduleAt(int64_t time_ms, EventKind kind, uint32_t node = 0, uint64_t incarnation = 0) {
    Event event;
    event.time_ms = time_ms;
    event.kind = kind;
    event.node = node;
    event.incarnation = incarnation;
    Schedule(std::move(event));
  }
  void ScheduleDelivery(int64_t time_ms, uint32_t to, uint32_t from,
                        std::shared_ptr<const Message> message) {
    Event event;
    event.time_ms = time_ms;
    event.kind = EventKind::kDeliver;
    event.node = to;
    event.from = from;
    event.message = std::move(message);
    Schedule(std::move(event));
  }
  void Dispatch(const Event& event);
  void Fail(std::string failure);

  int64_t NodeNow(const Node& node) const { return now_ms_ + node.clock_offset_ms; }
  int64_t NodeDuration(const Node& node, int64_t duration_ms) const {
    return std::max<int64_t>(
        1, static_cast<int64_t>(static_cast<double>(duration_ms) * node.clock_rate));
  }

  // Network.
  void Send(uint32_t from, uint32_t to, std::shared_ptr<const Message> message);
  void Broadcast(uint32_t from, std::shared_ptr<const Message> message);
  void SendByzantine(Node& node, const Message& message);

  // Nodes.
  void Drive(Node& node);
  void OnDeliver(Node& node, uint32_t from, const Message& message);
  void ReplyWithCommits(Node& node, uint32_t to, uint64_t from_height);
  void StartNextHeight(Node& node);
  void Crash(Node& node, std::string_view where);
  void Restart(Node& node);
  bool HaltIfRulesMissing(Node& node, uint64_t height);
  void Upgrade(Node& node);
  Block Execute(const Node& node, const consensus::Decision& decision) const;
  void OnChaos();
  void OnFaultPhaseEnd();

  // Checkers.
  void CheckSigned(Node& node, const Message& message);
  void OnDecision(Node& node, const consensus::Decision& decision);
  void CheckRulesActivation(const Node& node, uint64_t height, const Block& block,
                            bool first_decision);
  bool AllHonestReached(uint64_t height) const;
  std::string DescribeNodes() const;

  void Trace(const std::string& line) const {
    if (config_.trace)
      std::fprintf(stderr, "[%8lld ms] %s\n", static_cast<long long>(now_ms_), line.c_str());
  }

  SimConfig config_;
  Random random_;
  Random rules_random_;
  RulesActivationPlan rules_plan_;
  uint64_t rules_plan_last_height_ = 0;  // where the last planned activation takes effect
  std::optional<uint32_t> sabotaged_node_;
  SimResult result_;
  consensus::Config consensus_config_;
  CachingVerifier verifier_;
  std::optional<ValidatorSet> validators_;
  std::vector<Node> nodes_;
  std::priority_queue<Event, std::vector<Event>, EventLater> queue_;
  uint64_t sequence_ = 0;
  int64_t now_ms_ = 0;
  bool fault_phase_ = true;
  bool failed_ = false;
  double drop_probability_ = 0;
  double duplicate_probability_ = 0;
  std::vector<int> partition_group_;
  bool partitioned_ = false;
  std::vector<std::vector<int64_t>> clogged_until_ms_;
  // Checkers.
  std::map<uint64_t, ValueId> decided_;
  std::map<uint64_t, crypto::Sha256Digest> state_hashes_;
  uint64_t liveness_target_height_ = 0;
  int64_t liveness_deadline_ms_ = 0;
  // Rules versions scheduled by decided activations: version -> height, and height -> version.
  std::map<uint32_t, uint64_t> rules_scheduled_;
  std::map<uint64_t, uint32_t> rules_scheduled_by_height_;
  std::map<uint32_t, uint64_t> rules_first_height_;  // version -> first height executed under it
};

void Simulation::Fail(std::string failure) {
  if (failed_) return;
  failed_ = true;
  result_.ok = false;
  result_.failure = std::move(failure);
}

void Simulation::Schedule(Event event) {
  event.sequence = sequence_++;
  queue_.push(std::move(event));
}

void Simulation::Setup() {
  const uint32_t n = config_.nodes;
  const Faults& faults = config_.faults;
  consensus_config_.chain_id = std::string(kChainId);
  consensus_config_.timeout_propose = std::chrono::milliseconds(300);
  consensus_config_.timeout_prevote = std::chrono::milliseconds(100);
  consensus_config_.timeout_precommit = std::chrono::milliseconds(100);
  consensus_config_.timeout_delta = std::chrono::milliseconds(50);

  // Keys from the seed, so the validator order (by key) is part of what the seed decides.
  std::vector<crypto::PrivateKey> keys;
  std::vector<consensus::Validator> validators;
  for (uint32_t i = 0; i < n; ++i) {
    std::array<uint8_t, limits::kEd25519SeedBytes> seed{};
    for (auto& byte : seed) byte = static_cast<uint8_t>(random_.Next());
    keys.push_back(crypto::PrivateKey::FromSeed(seed).value());
    const auto power = config_.weighted ? static_cast<uint64_t>(random_.Between(1, 10)) : 1;
    validators.push_back({keys.back().public_key(), power});
  }
  validators_ = ValidatorSet::Create(validators).value();
  nodes_.resize(n);
  for (auto& key : keys) {
    const uint32_t index = *validators_->IndexOf(key.public_key());
    Node& node = nodes_[index];
    node.index = index;
    node.key.emplace(std::move(key));
    node.last_catch_up_reply_ms.assign(n, -1'000'000);
  }

  const uint32_t f = (n - 1) / 3;
  // A halting node is down by design for a while: it uses one of the f faults.
  const uint32_t byzantine_max = config_.rules_halting_node && f > 0 ? f - 1 : f;
  uint32_t byzantine = 0;
  if (faults.byzantine) {
    byzantine = config_.byzantine_nodes < 0
                    ? static_cast<uint32_t>(random_.Between(0, byzantine_max))
                    : static_cast<uint32_t>(config_.byzantine_nodes);
    VIGIL_ASSERT(byzantine <= byzantine_max);
  }
  uint64_t byzantine_power = 0;
  const uint64_t total_power = validators_->total_voting_power();
  for (uint32_t chosen = 0, attempts = 0; chosen < byzantine && attempts < 100 * n; ++attempts) {
    Node& node = nodes_[static_cast<size_t>(random_.Between(0, n - 1))];
    if (!node.honest) continue;
    const uint64_t power = validators_->at(node.index).voting_power;
    // Safety and liveness hold while Byzantine power stays below 1/3 of the total.
    if (3 * (byzantine_power + power) >= total_power) continue;
    byzantine_power += power;
    node.honest = false;
    node.mode = static_cast<ByzantineMode>(random_.Between(0, 3));
    if (!result_.byzantine.empty()) result_.byzantine += ",";
    result_.byzantine += std::to_string(node.index) + ":" + std::string(ModeName(node.mode));
    ++chosen;
  }

  drop_probability_ = faults.drop ? random_.Unit() * 0.3 : 0;
  duplicate_probability_ = faults.duplicate ? random_.Unit() * 0.2 : 0;
  partition_group_.assign(n, 0);
  clogged_until_ms_.assign(n, std::vector<int64_t>(n, 0));

  SetupRules();
  for (Node& node : nodes_) {
    if (faults.clock_skew) {
      node.clock_rate = 0.6 + random_.Unit();
      node.clock_offset_ms = random_.Between(-2000, 2000);
    }
    node.signer = std::make_unique<consensus::Ed25519Signer>(*node.key);
    node.application = std::make_unique<Application>(
        node.index, &node.storage, config_.rules_activations ? &rules_plan_ : nullptr);
    node.consensus = std::make_unique<Consensus>(consensus_config_, node.signer.get(),
                                                 *node.application, verifier_);
  }
  for (Node& node : nodes_) {
    node.consensus->Start(1, *validators_, NodeNow(node));
    Drive(node);
    ScheduleAt(random_.Between(1, config_.gossip_interval_ms), EventKind::kGossip, node.index);
  }
  ScheduleAt(random_.Between(50, 300), EventKind::kChaos);
  ScheduleAt(config_.fault_phase_ms, EventKind::kFaultPhaseEnd);
}

// The activation plan: each one proposed 1-3 heights after the previous took effect, taking
// effect 2-3 heights after it is proposed; the halting node and the sabotaged node.
void Simulation::SetupRules() {
  if (!config_.rules_activations) return;
  uint64_t height = static_cast<uint64_t>(rules_random_.Between(2, 4));
  for (uint32_t activation = 0; activation < kSimRulesActivations; ++activation) {
    const auto lead = static_cast<uint64_t>(rules_random_.Between(2, 3));
    rules_plan_.emplace(height, lead);
    rules_plan_last_height_ = height + lead;
    height = rules_plan_last_height_ + static_cast<uint64_t>(rules_random_.Between(1, 3));
  }
  std::vector<uint32_t> honest;
  for (const Node& node : nodes_) {
    if (node.honest) honest.push_back(node.index);
  }
  if (honest.empty()) return;
  if (config_.rules_halting_node) {
    Node& node = nodes_[honest[static_cast<size_t>(
        rules_random_.Between(0, static_cast<int64_t>(honest.size()) - 1))]];
    node.rules_versions_have.pop_back();  // the newest
    Trace("node " + std::to_string(node.index) + " lacks rules version " +
          std::to_string(kSimRulesActivations + 1));
  }
  if (config_.sabotage_late_activation) sabotaged_node_ = honest.front();
}

SimResult Simulation::Run() {
  Setup();
  while (!failed_ && !queue_.empty()) {
    if (result_.events >= config_.events_max) {
      Fail("event limit of " + std::to_string(config_.events_max) + " reached at " +
           std::to_string(now_ms_) + " ms (livelock or message storm)");
      break;
    }
    Event event = queue_.top();
    queue_.pop();
    now_ms_ = event.time_ms;
    ++result_.events;
    if (!fault_phase_ && now_ms_ > liveness_deadline_ms_) {
      uint64_t lowest = UINT64_MAX;
      for (const Node& node : nodes_) {
        if (node.honest) lowest = std::min<uint64_t>(lowest, node.storage.chain.size());
      }
      Fail("liveness: " + std::to_string(config_.liveness_bound_ms) +
           " ms after faults stopped, the slowest honest node has decided " +
           std::to_string(lowest) + " heights; target " + std::to_string(liveness_target_height_) +
           "; " + DescribeNodes());
      break;
    }
    Dispatch(event);
    if (!fault_phase_ && AllHonestReached(liveness_target_height_)) break;
  }
  result_.simulated_ms = now_ms_;
  uint64_t lowest = UINT64_MAX;
  for (const Node& node : nodes_) {
    if (!node.honest) continue;
    lowest = std::min<uint64_t>(lowest, node.storage.chain.size());
    if (node.consensus) result_.guard_refusals += node.consensus->refused_signatures();
  }
  result_.min_honest_height = lowest;
  result_.rules_versions_activated = rules_first_height_.size();
  return result_;
}

std::string Simulation::DescribeNodes() const {
  std::string text;
  for (const Node& node : nodes_) {
    text += "\n       node " + std::to_string(node.index) + (node.honest ? "" : " (byzantine)") +
            (node.up ? "" : " down") + (node.halted ? " halted" : "") + " decided " +
            std::to_string(node.storage.chain.size());
    if (!node.consensus) continue;
    const DurableState& state = node.consensus->durable_state();
    text += " at h" + std::to_string(state.height) + " r" + std::to_string(state.round) + " " +
            std::string(consensus::RoundStepName(state.step)) +
            (state.locked ? " locked@" + std::to_string(state.locked->round) : "") +
            (state.valid ? " valid@" + std::to_string(state.valid->round) : "") +
            (node.consensus->decided() ? " decided" : "");
  }
  return text;
}

bool Simulation::AllHonestReached(uint64_t height) const {
  for (const Node& node : nodes_) {
    if (node.honest && node.storage.chain.size() < height) return false;
  }
  return true;
}

void Simulation::Dispatch(const Event& event) {
  Node* node = event.kind == EventKind::kChaos || event.kind == EventKind::kFaultPhaseEnd
                   ? nullptr
                   : &nodes_[event.node];
  switch (event.kind) {
    case EventKind::kDeliver:
      if (node->up) OnDeliver(*node, event.from, *event.message);
      break;
    case EventKind::kTimer:
      if (node->up && node->incarnation == event.incarnation) {
        node->consensus->OnTimeout(event.timeout, NodeNow(*node));
        Drive(*node);
      }
      break;
    case EventKind::kGossip:
      if (node->up && node->incarnation == event.incarnation) {
        node->consensus->OnGossipTick(NodeNow(*node));
        Drive(*node);
        ScheduleAt(now_ms_ + NodeDuration(*node, config_.gossip_interval_ms), EventKind::kGossip,
                   node->index, node->incarnation);
      }
      break;
    case EventKind::kStartHeight:
      if (node->up && node->incarnation == event.incarnation) StartNextHeight(*node);
      break;
    case EventKind::kCrash:
      if (node->up) {
        // Half the crashes happen between events, half inside the next Ready (see Drive).
        if (random_.Chance(0.5)) {
          Crash(*node, "between events");
        } else {
          node->crash_in_next_ready = true;
        }
      }
      break;
    case EventKind::kRestart:
      if (!node->up && !node->halted) Restart(*node);
      break;
    case EventKind::kUpgrade:
      Upgrade(*node);
      break;
    case EventKind::kChaos:
      if (fault_phase_) OnChaos();
      break;
    case EventKind::kHeal:
      if (partitioned_) {
        partition_group_.assign(nodes_.size(), 0);
        partitioned_ = false;
        Trace("partition healed");
      }
      break;
    case EventKind::kFaultPhaseEnd:
      OnFaultPhaseEnd();
      break;
  }
}

// --- Network ---

void Simulation::Send(uint32_t from, uint32_t to, std::shared_ptr<const Message> message) {
  ++result_.messages_sent;
  int64_t delay_ms = random_.Between(1, 10);
  if (fault_phase_) {
    if (partition_group_[from] != partition_group_[to]) return;
    if (random_.Chance(drop_probability_)) return;
    if (config_.faults.delay && random_.Chance(0.1)) delay_ms = random_.Between(20, 1500);
    const int64_t clogged = clogged_until_ms_[from][to];
    if (clogged > now_ms_) delay_ms += clogged - now_ms_;
    if (random_.Chance(duplicate_probability_)) {
      ScheduleDelivery(now_ms_ + delay_ms + random_.Between(0, 200), to, from, message);
    }
  }
  ScheduleDelivery(now_ms_ + delay_ms, to, from, std::move(message));
}

void Simulation::Broadcast(uint32_t from, std::shared_ptr<const Message> message) {
  for (uint32_t to = 0; to < nodes_.size(); ++to) {
    if (to != from) Send(from, to, message);
  }
}

// A Byzantine validator runs the honest algorithm and corrupts what it sends.
void Simulation::SendByzantine(Node& node, const Message& message) {
  ByzantineMode mode = node.mode;
  if (mode == ByzantineMode::kMixed) mode = static_cast<ByzantineMode>(random_.Between(0, 2));
  if (mode == ByzantineMode::kSilent) return;
  const Proposal* proposal = std::get_if<Proposal>(&message);
  const Vote* vote = std::get_if<Vote>(&message);
  const bool own = (proposal && proposal->proposer_index == node.index) ||
                   (vote && vote->validator_index == node.index);
  if (!own) {
    Broadcast(node.index, std::make_shared<const Message>(message));
    return;
  }
  if (mode == ByzantineMode::kInvalidSignature) {
    Message corrupted = message;
    std::visit(
        [&](auto& body) {
          using T = std::decay_t<decltype(body)>;
          if constexpr (std::is_same_v<T, Proposal> || std::is_same_v<T, Vote>) {
            body.signature[static_cast<size_t>(random_.Between(0, 63))] ^=
                static_cast<uint8_t>(1u << random_.Between(0, 7));
          }
        },
        corrupted);
    Broadcast(node.index, std::make_shared<const Message>(std::move(corrupted)));
    return;
  }
  // Equivocate: a second, conflicting message, properly signed; each peer gets one or both.
  Message other = message;
  if (proposal) {
    Proposal& second = std::get<Proposal>(other);
    second.value =
        ToBytes((random_.Chance(0.3) ? "invalid " : "fork ") + std::to_string(random_.Next()));
    second.signature = node.key->Sign(consensus::ProposalSignBytes(kChainId, second));
  } else {
    Vote& second = std::get<Vote>(other);
    if (second.value_id && random_.Chance(0.5)) {
      second.value_id.reset();
    } else {
      second.value_id = consensus::ComputeValueId(ToBytes(std::to_string(random_.Next())));
    }
    second.signature = node.key->Sign(consensus::VoteSignBytes(kChainId, second));
  }
  auto first_pointer = std::make_shared<const Message>(message);
  auto second_pointer = std::make_shared<const Message>(std::move(other));
  for (uint32_t to = 0; to < nodes_.size(); ++to) {
    if (to == node.index) continue;
    const double draw = random_.Unit();
    if (draw < 0.6) Send(node.index, to, first_pointer);
    if (draw >= 0.4) Send(node.index, to, second_pointer);
  }
}

// --- Nodes ---

// Executes the node's Ready in the order written on the type: persist, commit, send, timers.
void Simulation::Drive(Node& node) {
  Ready ready = node.consensus->TakeReady();
  if (ready.empty()) return;
  // A crash inside the Ready: before the write, after the synced write (the commit of the
  // decision not yet done), or after sending part of the messages. An unsynced write is the
  // same as no write, so "written but not synced" is the first case.
  int crash_point = -1;
  if (node.crash_in_next_ready) crash_point = static_cast<int>(random_.Between(0, 2));
  if (crash_point == 0) return Crash(node, "before persisting a Ready");
  if (ready.persist) node.storage.consensus_state = std::move(ready.persist);
  if (crash_point == 1 && ready.decision) return Crash(node, "after persisting, before commit");
  if (ready.decision) OnDecision(node, *ready.decision);
  if (failed_) return;
  if (node.honest) result_.evidence_found += ready.evidence.size();
  size_t send_count = ready.messages.size();
  if (crash_point >= 1) send_count = static_cast<size_t>(random_.Between(0, send_count));
  for (size_t i = 0; i < send_count; ++i) {
    const Message& message = ready.messages[i];
    if (config_.trace) {
      Trace("node " + std::to_string(node.index) + " sends " + Describe(message));
      const Vote* vote = std::get_if<Vote>(&message);
      if (vote && vote->validator_index == node.index && node.consensus) {
        const uint32_t round = node.consensus->round();
        Trace("  node " + std::to_string(node.index) + " " + node.consensus->DescribeRound(round));
        if (round > 0) {
          Trace("  node " + std::to_string(node.index) + " " +
                node.consensus->DescribeRound(round - 1));
        }
      }
    }
    if (node.honest) {
      CheckSigned(node, message);
      if (failed_) return;
      Broadcast(node.index, std::make_shared<const Message>(message));
    } else {
      SendByzantine(node, message);
    }
  }
  if (crash_point >= 1) return Crash(node, "while sending");
  for (const Timeout& timeout : ready.timers) {
    Event event;
    event.time_ms = now_ms_ + NodeDuration(node, timeout.duration_ms);
    event.kind = EventKind::kTimer;
    event.node = node.index;
    event.incarnation = node.incarnation;
    event.timeout = timeout;
    Schedule(std::move(event));
  }
  if (ready.decision) {
    node.waiting_next_height = true;
    ScheduleAt(now_ms_ + NodeDuration(node, config_.block_interval_ms), EventKind::kStartHeight,
               node.index, node.incarnation);
  }
}

void Simulation::StartNextHeight(Node& node) {
  node.waiting_next_height = false;
  const uint64_t height = node.storage.chain.size() + 1;
  if (HaltIfRulesMissing(node, height)) return;
  node.consensus->Start(height, *validators_, NodeNow(node));
  Drive(node);
  if (!node.up) return;  // crashed while executing that Ready
  // A commit for this height that arrived early.
  auto it = node.future_commits.find(height);
  if (it != node.future_commits.end()) {
    Commit commit = std::move(it->second);
    node.future_commits.erase(node.future_commits.begin(), std::next(it));
    (void)node.consensus->Step(commit, NodeNow(node));
    Drive(node);
  }
}

void Simulation::OnDeliver(Node& node, uint32_t from, const Message& message) {
  const uint64_t height = consensus::MessageHeight(message);
  if (height <= node.storage.chain.size()) {
    // The sender is behind (or still at a height this node decided): help it catch up.
    ReplyWithCommits(node, from, height);
    return;
  }
  if (height > node.consensus->height() || node.waiting_next_height) {
    if (const Commit* commit = std::get_if<Commit>(&message);
        commit && node.future_commits.size() < kFutureCommitsMax) {
      node.future_commits.try_emplace(height, *commit);
    }
    return;
  }
  (void)node.consensus->Step(message, NodeNow(node));  // errors: Byzantine input, counted nowhere
  Drive(node);
}

void Simulation::ReplyWithCommits(Node& node, uint32_t to, uint64_t from_height) {
  if (now_ms_ - node.last_catch_up_reply_ms[to] < config_.gossip_interval_ms) return;
  node.last_catch_up_reply_ms[to] = now_ms_;
  const uint64_t last =
      std::min<uint64_t>(node.storage.chain.size(), from_height + kCatchUpCommitsMax - 1);
  for (uint64_t height = from_height; height <= last; ++height) {
    const Block& block = node.storage.chain[height - 1];
    Send(node.index, to, std::make_shared<const Message>(Commit{block.value, block.certificate}));
  }
}

void Simulation::Crash(Node& node, std::string_view where) {
  Trace("node " + std::to_string(node.index) + " crashes " + std::string(where));
  node.up = false;
  node.crash_in_next_ready = false;
  node.waiting_next_height = false;
  node.future_commits.clear();
  node.consensus.reset();  // everything not in node.storage is gone
  ++result_.crashes;
}

void Simulation::Restart(Node& node) {
  const uint64_t next_height = node.storage.chain.size() + 1;
  if (HaltIfRulesMissing(node, next_height)) return;
  Trace("node " + std::to_string(node.index) + " restarts");
  node.up = true;
  ++node.incarnation;
  if (config_.sabotage_forget_state) node.storage.consensus_state.reset();
  node.consensus = std::make_unique<Consensus>(consensus_config_, node.signer.get(),
                                               *node.application, verifier_);
  const auto& state = node.storage.consensus_state;
  if (state && state->height == next_height) {
    node.consensus->Restore(*state, *validators_, NodeNow(node));
  } else {
    // Decided the last height but had not started the next one: nothing signed there yet.
    node.consensus->Start(next_height, *validators_, NodeNow(node));
  }
  Drive(node);
  ScheduleAt(now_ms_ + NodeDuration(node, config_.gossip_interval_ms), EventKind::kGossip,
             node.index, node.incarnation);
}

// What a peer daemon does before starting a height (peer::PeerNode::HaltIfRulesMissing): a
// binary without the rules version in force there stops before executing anything of it, and
// stays stopped (no crash restart) until it is upgraded.
bool Simulation::HaltIfRulesMissing(Node& node, uint64_t height) {
  Status available =
      ledger::CheckRulesAvailable(RulesAfterChain(node.storage), height, node.rules_versions_have);
  if (available) return false;
  Trace("node " + std::to_string(node.index) + " halts before height " + std::to_string(height) +
        ": " + available.error().message());
  node.up = false;
  node.halted = true;
  node.crash_in_next_ready = false;
  node.waiting_next_height = false;
  node.future_commits.clear();
  node.consensus.reset();  // its persisted state stays: the store is intact
  ++result_.rules_halts;
  if (result_.rules_halt_message.empty()) result_.rules_halt_message = available.error().message();
  ScheduleAt(now_ms_ + rules_random_.Between(500, 3000), EventKind::kUpgrade, node.index);
  return true;
}

// The operator installs a binary with every rules version and restarts the node.
void Simulation::Upgrade(Node& node) {
  Trace("node " + std::to_string(node.index) + " upgraded to every rules version");
  node.rules_versions_have = AllRulesVersions();
  node.halted = false;
  if (!node.up) Restart(node);
}

void Simulation::OnChaos() {
  const Faults& faults = config_.faults;
  const auto n = static_cast<int64_t>(nodes_.size());
  if (faults.partition && !partitioned_ && random_.Chance(0.15)) {
    for (auto& group : partition_group_) group = static_cast<int>(random_.Between(0, 1));
    partitioned_ = true;
    Trace("partition");
    ScheduleAt(now_ms_ + random_.Between(200, 3000), EventKind::kHeal);
  }
  if (faults.clog && random_.Chance(0.2)) {
    const auto from = static_cast<size_t>(random_.Between(0, n - 1));
    const auto to = static_cast<size_t>(random_.Between(0, n - 1));
    clogged_until_ms_[from][to] = now_ms_ + random_.Between(100, 2000);
  }
  if (faults.crash && random_.Chance(0.12)) {
    const auto index = static_cast<uint32_t>(random_.Between(0, n - 1));
    ScheduleAt(now_ms_, EventKind::kCrash, index);
    ScheduleAt(now_ms_ + random_.Between(100, 2500), EventKind::kRestart, index);
  }
  ScheduleAt(now_ms_ + random_.Between(100, 400), EventKind::kChaos);
}

void Simulation::OnFaultPhaseEnd() {
  Trace("faults stop");
  fault_phase_ = false;
  partition_group_.assign(nodes_.size(), 0);
  partitioned_ = false;
  for (Node& node : nodes_) {
    node.crash_in_next_ready = false;
    if (!node.up && !node.halted) Restart(node);
  }
  uint64_t highest = 0;
  for (const Node& node : nodes_) {
    if (node.honest) highest = std::max<uint64_t>(highest, node.storage.chain.size());
  }
  liveness_target_height_ = highest + config_.progress_heights;
  // Every run goes past its last planned rules activation, so each one is reached.
  if (config_.rules_activations) {
    liveness_target_height_ =
        std::max(liveness_target_height_, rules_plan_last_height_ + config_.progress_heights);
  }
  liveness_deadline_ms_ = now_ms_ + config_.liveness_bound_ms;
}

// The node's execution of a decided value: the rules version in force at the height (the
// ledger's RulesVersionAt on the node's record), the record after the activation the value
// carries (the ledger's RulesAfterActivation; one for a past height is refused by the ledger
// and changes nothing here either), and the state hash over the value, the version and the
// record.
Block Simulation::Execute(const Node& node, const consensus::Decision& decision) const {
  const uint64_t height = decision.height;
  const ledger::RulesRecord before = RulesAfterChain(node.storage);
  const bool late = sabotaged_node_ == node.index;  // checker self-test only
  const uint32_t version = ledger::RulesVersionAt(before, late ? height - 1 : height);
  ledger::RulesRecord after = before;
  if (auto activation = ParseRulesActivation(decision.value);
      activation && activation->from_height > height) {
    after =
        ledger::RulesAfterActivation(before, height, activation->version, activation->from_height);
  }
  Bytes rules_bytes;
  auto append = [&rules_bytes](uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) rules_bytes.push_back(static_cast<uint8_t>(value >> (8 * i)));
  };
  append(version, 4);
  append(after.version, 4);
  append(after.next_version, 4);
  append(after.next_height, 8);
  crypto::Sha256Hasher hasher;
  if (!node.storage.chain.empty()) hasher.Update(node.storage.chain.back().state_hash);
  hasher.Update(decision.value);
  hasher.Update(rules_bytes);
  return Block{.value = decision.value,
               .certificate = decision.certificate,
               .state_hash = hasher.Finish(),
               .rules_version = version,
               .rules = after};
}

// --- Checkers ---

// For an honest node's block at `height`, before it joins the chain: it executed under a
// version its binary has, the first block under each version is the height a decided
// activation scheduled it from, and a scheduled height runs under its version. So every
// honest node switches at exactly the same block. The first honest decision of a height
// (`first_decision`) records the schedule its activation makes.
void Simulation::CheckRulesActivation(const Node& node, uint64_t height, const Block& block,
                                      bool first_decision) {
  const std::string who = "rules activation: honest node " + std::to_string(node.index);
  const std::string at = " at height " + std::to_string(height);
  const uint32_t version = block.rules_version;
  if (!std::ranges::binary_search(node.rules_versions_have, version)) {
    return Fail(who + " executed the block" + at + " under rules version " +
                std::to_string(version) +
                ", which its binary does not have; it should have halted before it");
  }
  const bool first_block = node.storage.chain.empty();
  const uint32_t previous = first_block ? 1 : node.storage.chain.back().rules_version;
  if (version != previous) {
    auto scheduled = rules_scheduled_.find(version);
    if (scheduled == rules_scheduled_.end() || scheduled->second != height) {
      return Fail(who + " first executed under rules version " + std::to_string(version) + at +
                  (scheduled == rules_scheduled_.end()
                       ? ", which no decided activation scheduled"
                       : " but the decided activation scheduled it from height " +
                             std::to_string(scheduled->second)));
    }
    rules_first_height_.try_emplace(version, height);
  }
  if (auto due = rules_scheduled_by_height_.find(height);
      due != rules_scheduled_by_height_.end() && due->second != version) {
    return Fail(who + " executed the block" + at + " under rules version " +
                std::to_string(version) + " but rules version " + std::to_string(due->second) +
                " was scheduled from that height");
  }
  if (!first_decision) return;
  const ledger::RulesRecord before = RulesAfterChain(node.storage);
  if (block.rules == before) return;
  // A pending switch the activation replaced or cancelled is no longer scheduled.
  if (before.next_version != 0 && height < before.next_height) {
    rules_scheduled_.erase(before.next_version);
    rules_scheduled_by_height_.erase(before.next_height);
  }
  if (block.rules.next_version != 0 && height < block.rules.next_height) {
    rules_scheduled_[block.rules.next_version] = block.rules.next_height;
    rules_scheduled_by_height_[block.rules.next_height] = block.rules.next_version;
  }
}

void Simulation::CheckSigned(Node& node, const Message& message) {
  std::optional<std::tuple<uint64_t, uint32_t, uint8_t>> step;
  std::optional<ValueId> value;
  if (const Proposal* proposal = std::get_if<Proposal>(&message);
      proposal && proposal->proposer_index == node.index) {
    step.emplace(proposal->height, proposal->round, 0);
    value = consensus::ComputeValueId(proposal->value);
  } else if (const Vote* vote = std::get_if<Vote>(&message);
             vote && vote->validator_index == node.index) {
    step.emplace(vote->height, vote->round, static_cast<uint8_t>(vote->type));
    value = vote->value_id;
  }
  if (!step) return;
  auto [it, inserted] = node.signed_by_step.try_emplace(*step, value);
  if (!inserted && it->second != value) {
    Fail("double signing: honest node " + std::to_string(node.index) +
         " signed two different messages for height " + std::to_string(std::get<0>(*step)) +
         " round " + std::to_string(std::get<1>(*step)) + " step " +
         std::to_string(std::get<2>(*step)));
  }
}

void Simulation::OnDecision(Node& node, const consensus::Decision& decision) {
  VIGIL_ASSERT(decision.height == node.storage.chain.size() + 1);
  const ValueId id = consensus::ComputeValueId(decision.value);
  Block block = Execute(node, decision);
  Trace("node " + std::to_string(node.index) + " decides height " +
        std::to_string(decision.height) + " round " + std::to_string(decision.round));
  if (node.honest) {
    auto status = consensus::VerifyCommitCertificate(
        *validators_, kChainId, decision.height, id, decision.certificate,
        [this](const consensus::PublicKey& key, ByteSpan message,
               const consensus::Signature& signature) {
          return verifier_.Verify(key, message, signature);
        });
    if (!status) {
      return Fail("certificate: honest node " + std::to_string(node.index) + " decided height " +
                  std::to_string(decision.height) +
                  " with a certificate that does not verify: " + status.error().message());
    }
    auto [decided, first] = decided_.try_emplace(decision.height, id);
    if (!first && decided->second != id) {
      return Fail("agreement: honest node " + std::to_string(node.index) + " decided " +
                  ToHex(id).substr(0, 16) + " at height " + std::to_string(decision.height) +
                  " where another honest node decided " + ToHex(decided->second).substr(0, 16));
    }
    // Before the state checker, which would also see a late switch (as a different hash), so
    // that a rules failure is reported as one.
    CheckRulesActivation(node, decision.height, block, first);
    if (failed_) return;
    auto [hash, first_hash] = state_hashes_.try_emplace(decision.height, block.state_hash);
    if (!first_hash && hash->second != block.state_hash) {
      return Fail("state: honest node " + std::to_string(node.index) +
                  " has a different state hash at height " + std::to_string(decision.height));
    }
    result_.max_round = std::max<uint64_t>(result_.max_round, decision.round);
  }
  node.storage.chain.push_back(std::move(block));
}

}  // namespace

Expected<Faults> Faults::Parse(std::string_view text) {
  Faults faults;
  if (text == "none") return faults;
  if (text == "mixed" || text == "all") {
    return Faults{true, true, true, true, true, true, true, true};
  }
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view name = text.substr(start, end - start);
    if (name == "drop")
      faults.drop = true;
    else if (name == "delay")
      faults.delay = true;
    else if (name == "duplicate")
      faults.duplicate = true;
    else if (name == "partition")
      faults.partition = true;
    else if (name == "clog")
      faults.clog = true;
    else if (name == "crash")
      faults.crash = true;
    else if (name == "skew")
      faults.clock_skew = true;
    else if (name == "byzantine")
      faults.byzantine = true;
    else {
      return Fail(ErrorCode::kInvalidArgument,
                  "unknown fault '" + std::string(name) +
                      "'; use none, mixed, or a comma list of drop, delay, duplicate, partition, "
                      "clog, crash, skew, byzantine");
    }
    start = end + 1;
  }
  return faults;
}

std::string Faults::ToString() const {
  std::vector<std::string> names;
  if (drop) names.push_back("drop");
  if (delay) names.push_back("delay");
  if (duplicate) names.push_back("duplicate");
  if (partition) names.push_back("partition");
  if (clog) names.push_back("clog");
  if (crash) names.push_back("crash");
  if (clock_skew) names.push_back("skew");
  if (byzantine) names.push_back("byzantine");
  if (names.empty()) return "none";
  if (names.size() == 8) return "mixed";
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ",") + name;
  return text;
}

SimResult RunSimulation(const SimConfig& config) {
  VIGIL_ASSERT(config.nodes >= 1 && config.nodes <= limits::kConsensusValidatorsMax);
  Simulation simulation(config);
  return simulation.Run();
}

std::string ReplayCommand(const SimConfig& config, std::string_view program) {
  std::ostringstream command;
  command << program << " --seed " << config.seed << " --nodes " << config.nodes << " --faults "
          << config.faults.ToString();
  if (config.byzantine_nodes >= 0) command << " --byzantine " << config.byzantine_nodes;
  if (config.fault_phase_ms != SimConfig{}.fault_phase_ms) {
    command << " --fault-ms " << config.fault_phase_ms;
  }
  if (config.weighted) command << " --weighted";
  if (config.rules_activations) command << " --rules-activations";
  if (config.rules_halting_node) command << " --rules-halting-node";
  if (config.sabotage_forget_state) command << " --sabotage-forget-state";
  if (config.sabotage_late_activation) command << " --sabotage-late-activation";
  return command.str();
}

}  // namespace vigil::sim
