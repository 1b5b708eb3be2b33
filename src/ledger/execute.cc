#include "ledger/execute.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <set>
#include <type_traits>

#include "common/assert.h"
#include "common/limits.h"
#include "ledger/compliance.h"
#include "ledger/semver.h"

namespace vigil::ledger {
namespace {

// Reasons name keys by their first 8 bytes: enough to find them, short enough to read.
std::string ShortKey(const PublicKey& key) { return ToHex(ByteSpan(key).first(8)); }

TransactionResult Accept() { return TransactionResult{}; }

// --- Authorization: who may sign each kind ---

TransactionResult AuthorizeGovernance(const StateReader& state, const Envelope& envelope) {
  std::string kind(TransactionKindName(envelope.kind));
  if (!GetAdminName(state, envelope.signer)) {
    return Refuse(ResultCode::kUnauthorized,
                  kind + " refused: signer " + ShortKey(envelope.signer) + " is not an admin");
  }
  for (size_t i = 1; i < envelope.signatures.size(); ++i) {
    const PublicKey& co_signer = envelope.signatures[i].public_key;
    if (!GetAdminName(state, co_signer)) {
      return Refuse(ResultCode::kUnauthorized,
                    kind + " refused: co-signer " + ShortKey(co_signer) + " is not an admin");
    }
  }
  uint32_t threshold = GetAdminThreshold(state);
  if (envelope.signatures.size() < threshold) {
    return Refuse(ResultCode::kBelowThreshold,
                  kind + " refused: needs " + std::to_string(threshold) +
                      " admin signatures, has " + std::to_string(envelope.signatures.size()));
  }
  return Accept();
}

TransactionResult Authorize(const StateReader& state, const Envelope& envelope) {
  if (IsGovernanceKind(envelope.kind)) return AuthorizeGovernance(state, envelope);
  switch (envelope.kind) {
    case TransactionKind::kPublishRelease:
      if (!GetPublisher(state, envelope.signer)) {
        return Refuse(
            ResultCode::kUnauthorized,
            "publish refused: signer " + ShortKey(envelope.signer) + " is not a publisher");
      }
      return Accept();
    case TransactionKind::kDeviceReport: {
      auto device = GetDevice(state, envelope.signer);
      if (!device) {
        return Refuse(
            ResultCode::kUnauthorized,
            "device report refused: " + ShortKey(envelope.signer) + " is not an enrolled device");
      }
      if (device->status == DeviceStatus::kRevoked) {
        return Refuse(ResultCode::kRevoked,
                      "device report refused: device " + ShortKey(envelope.signer) +
                          " was revoked at height " + std::to_string(device->revoked_height));
      }
      return Accept();
    }
    case TransactionKind::kPeerReport:
      if (!GetValidator(state, envelope.signer)) {
        return Refuse(ResultCode::kUnauthorized,
                      "peer report refused: " + ShortKey(envelope.signer) + " is not a validator");
      }
      return Accept();
    default:
      break;
  }
  VIGIL_ASSERT(false && "every kind is authorized above");
  return Accept();
}

constexpr std::string_view kNextSequenceIs = "; the next is ";

TransactionResult CheckSequence(const StateReader& state, const Envelope& envelope) {
  uint64_t last = GetSequence(state, envelope.signer);
  if (envelope.sequence == last + 1) return Accept();
  std::string prefix = std::string(TransactionKindName(envelope.kind)) + " refused: sequence " +
                       std::to_string(envelope.sequence) + " of " + ShortKey(envelope.signer);
  if (envelope.sequence <= last) {
    return Refuse(ResultCode::kBadSequence,
                  prefix + " is already used (replay)" + std::string(kNextSequenceIs) +
                      std::to_string(last + 1));
  }
  return Refuse(ResultCode::kBadSequence,
                prefix + " skips ahead" + std::string(kNextSequenceIs) + std::to_string(last + 1));
}

// --- The rules of each kind. `signer` is authorized and its sequence checked. ---

struct KindExecutor {
  Overlay& state;
  const Envelope& envelope;
  const BlockContext& context;

  TransactionResult operator()(const EnrollDevice& body) const {
    if (auto device = GetDevice(state, body.device_key)) {
      if (device->status == DeviceStatus::kRevoked) {
        return Refuse(ResultCode::kRevoked,
                      "enroll-device refused: device " + ShortKey(body.device_key) +
                          " was revoked at height " + std::to_string(device->revoked_height) +
                          "; a revoked key stays revoked, give the device a new key");
      }
      return Refuse(ResultCode::kAlreadyExists,
                    "enroll-device refused: device " + ShortKey(body.device_key) +
                        " is already enrolled in group " + device->group);
    }
    PutDevice(state, body.device_key,
              DeviceRecord{.group = body.group,
                           .labels = body.labels,
                           .status = DeviceStatus::kEnrolled,
                           .enrolled_height = context.height,
                           .revoked_height = 0,
                           .snapshot_root = std::nullopt,
                           .snapshot_height = 0,
                           .tampered = false});
    PutGroupDevice(state, body.group, body.device_key, context.height);
    return Accept();
  }

  TransactionResult operator()(const RevokeDevice& body) const {
    auto device = GetDevice(state, body.device_key);
    if (!device) {
      return Refuse(ResultCode::kNotFound, "revoke-device refused: device " +
                                               ShortKey(body.device_key) + " is not enrolled");
    }
    if (device->status == DeviceStatus::kRevoked) {
      return Refuse(ResultCode::kRevoked,
                    "revoke-device refused: device " + ShortKey(body.device_key) +
                        " was already revoked at height " + std::to_string(device->revoked_height));
    }
    device->status = DeviceStatus::kRevoked;
    device->revoked_height = context.height;
    PutDevice(state, body.device_key, *device);
    EraseGroupDevice(state, device->group, body.device_key);
    return Accept();
  }

  TransactionResult operator()(const AddPublisher& body) const {
    if (auto publisher = GetPublisher(state, body.publisher_key)) {
      return Refuse(ResultCode::kAlreadyExists,
                    "add-publisher refused: " + ShortKey(body.publisher_key) +
                        " is already publisher " + publisher->name);
    }
    uint64_t count = GetPublisherCount(state);
    if (count >= limits::kLedgerPublishersMax) {
      return Refuse(ResultCode::kLimitReached, "add-publisher refused: the ledger already has " +
                                                   std::to_string(count) +
                                                   " publishers, the limit; remove one first");
    }
    PutPublisher(state, body.publisher_key,
                 PublisherRecord{.name = body.name, .added_height = context.height});
    PutPublisherCount(state, count + 1);
    return Accept();
  }

  TransactionResult operator()(const RemovePublisher& body) const {
    if (!GetPublisher(state, body.publisher_key)) {
      return Refuse(
          ResultCode::kNotFound,
          "remove-publisher refused: " + ShortKey(body.publisher_key) + " is not a publisher");
    }
    ErasePublisher(state, body.publisher_key);
    PutPublisherCount(state, GetPublisherCount(state) - 1);
    return Accept();
  }

  TransactionResult operator()(const PublishRelease& body) const {
    std::string release = body.app + " " + body.version;
    if (auto existing = GetRelease(state, body.app, body.version)) {
      return Refuse(ResultCode::kAlreadyExists, "publish refused: " + release +
                                                    " already exists (published at height " +
                                                    std::to_string(existing->height) + ")");
    }
    auto version = SemanticVersion::Parse(body.version);
    VIGIL_ASSERT(version.has_value());  // the stateless check parsed it
    if (auto latest_text = GetLatestVersion(state, body.app);
        latest_text && context.rules->publish_requires_newer_version) {
      auto latest = SemanticVersion::Parse(*latest_text);
      VIGIL_ASSERT(latest.has_value());
      if (!version->IsNewerThan(*latest)) {
        return Refuse(ResultCode::kNotNewer, "publish refused: " + release +
                                                 " is not newer than the latest " + *latest_text);
      }
    }
    PutRelease(state, body.app, body.version,
               ReleaseRecord{.bundle_digest = body.bundle_digest,
                             .bundle_size_bytes = body.bundle_size_bytes,
                             .manifest_root = body.manifest_root,
                             .publisher = envelope.signer,
                             .height = context.height,
                             .time_ms = context.time_ms,
                             .notes = body.notes});
    PutLatestVersion(state, body.app, body.version);
    return Accept();
  }

  TransactionResult operator()(const DeviceReport& body) const {
    const PublicKey& device_key = envelope.signer;
    std::string kind = std::string(DeviceReportKindName(body.report_kind)) + " report";
    bool names_release = body.report_kind == DeviceReportKind::kInstalled ||
                         body.report_kind == DeviceReportKind::kActivated ||
                         body.report_kind == DeviceReportKind::kRolledBack;
    if (names_release && !GetRelease(state, body.app, body.version)) {
      return Refuse(ResultCode::kNotFound, kind + " refused: " + body.app + " " + body.version +
                                               " is not a published release");
    }
    if (body.report_kind == DeviceReportKind::kActivated &&
        context.rules->activated_report_requires_installed &&
        !GetInstallation(state, body.app, body.version, device_key)) {
      return Refuse(ResultCode::kNotFound, kind + " refused: device " + ShortKey(device_key) +
                                               " never reported installing " + body.app + " " +
                                               body.version + " (rules version " +
                                               std::to_string(context.rules->version) + ")");
    }
    DeviceAppRecord app = GetDeviceApp(state, device_key, body.app).value_or(DeviceAppRecord{});
    auto device = GetDevice(state, device_key);
    VIGIL_ASSERT(device.has_value());  // authorized
    switch (body.report_kind) {
      case DeviceReportKind::kInstalled:
        app.installed_version = body.version;
        PutInstallation(state, body.app, body.version, device_key, context.height);
        break;
      case DeviceReportKind::kActivated:
        app.active_version = body.version;
        break;
      case DeviceReportKind::kRolledBack:
        break;  // the previous release keeps running: the active version does not change
      case DeviceReportKind::kAppRestarted:
        ++app.restarts;
        break;
      case DeviceReportKind::kIntegritySnapshot:
      case DeviceReportKind::kRepaired:
      case DeviceReportKind::kTamperDetected:
        device->snapshot_root = body.snapshot_root;
        device->snapshot_height = context.height;
        device->tampered = body.report_kind == DeviceReportKind::kTamperDetected;
        PutDevice(state, device_key, *device);
        break;
    }
    PutDeviceApp(state, device_key, body.app, app);
    RecordComplianceReport(state, device_key, device->group, body, context.height,
                           context.time_ms);
    PutLastReport(
        state, device_key,
        ReportRecord{.height = context.height, .block_time_ms = context.time_ms, .report = body});
    return Accept();
  }

  TransactionResult operator()(const PeerReport& body) const {
    PutRulesSupport(
        state, envelope.signer,
        RulesSupportRecord{.versions = body.supported_rules_versions, .height = context.height});
    return Accept();
  }

  // docs/ledger.md#activate-release.
  TransactionResult operator()(const ActivateRelease& body) const {
    std::string release = body.app + " " + body.version;
    std::string prefix = "activate refused: ";
    if (!GetRelease(state, body.app, body.version)) {
      return Refuse(ResultCode::kNotFound, prefix + release + " was never published");
    }
    ActivationRecord record{.version = body.version,
                            .effective_height = 0,
                            .effective_time_ms = 0,
                            .installed_threshold = 0,
                            .on_missing = body.on_missing,
                            .previous_version = "",
                            .recorded_height = context.height};
    switch (body.timing) {
      case ActivationTiming::kAtHeight:
        if (body.at_height <= context.height) {
          return Refuse(ResultCode::kNotInFuture,
                        prefix + "height " + std::to_string(body.at_height) +
                            " is not in the future (this block is " +
                            std::to_string(context.height) + ")");
        }
        record.effective_height = body.at_height;
        break;
      case ActivationTiming::kAtTime:
        if (body.at_time_ms <= context.time_ms) {
          return Refuse(ResultCode::kNotInFuture,
                        prefix + "time " + std::to_string(body.at_time_ms) +
                            " ms is not in the future (this block's time is " +
                            std::to_string(context.time_ms) + " ms)");
        }
        record.effective_time_ms = body.at_time_ms;
        break;
      case ActivationTiming::kNext:
        record.effective_height = context.height + 1;
        break;
    }
    auto existing = GetActivation(state, body.group, body.app);
    if (existing) {
      bool pending = !existing->IsEffectiveAt(context.height, context.time_ms);
      if (pending && existing->recorded_height != context.height) {
        return Refuse(ResultCode::kConflict,
                      prefix + "the activation of " + body.app + " " + existing->version +
                          " for group '" + body.group + "' recorded at height " +
                          std::to_string(existing->recorded_height) +
                          " is still pending; wait until it is effective");
      }
      // Effective now: it is what the new one replaces. Pending but recorded in this block:
      // the last in block order wins, replacing it as if it had never been.
      record.previous_version = pending ? existing->previous_version : existing->version;
      if (record.previous_version == body.version) {
        return Refuse(ResultCode::kAlreadyExists,
                      prefix + release + " is already the effective version for group '" +
                          body.group + "'");
      }
    }
    std::vector<PublicKey> devices = ListGroupDevices(state, body.group);
    if (devices.empty()) {
      return Refuse(ResultCode::kNotFound,
                    prefix + "group '" + body.group + "' has no enrolled devices");
    }
    uint64_t required = body.installed_threshold;
    if (body.threshold_kind == InstalledThresholdKind::kPercent) {
      required = (uint64_t{body.installed_threshold} * devices.size() + 99) / 100;
    }
    uint64_t installed = 0;
    for (const PublicKey& device : devices) {
      if (GetInstallation(state, body.app, body.version, device)) ++installed;
    }
    if (installed < required) {
      return Refuse(ResultCode::kInsufficient,
                    prefix + std::to_string(installed) + " of " + std::to_string(devices.size()) +
                        " enrolled devices of group '" + body.group + "' have installed " +
                        release + "; the activation needs " + std::to_string(required));
    }
    record.installed_threshold = static_cast<uint32_t>(required);
    PutActivation(state, body.group, body.app, record);
    return Accept();
  }

  // docs/ledger.md#activate-rules.
  TransactionResult operator()(const ActivateRules& body) const {
    std::string prefix = "activate-rules refused: ";
    std::string target = "rules version " + std::to_string(body.version);
    if (body.at_height <= context.height) {
      return Refuse(ResultCode::kNotInFuture,
                    prefix + "height " + std::to_string(body.at_height) +
                        " is not in the future (this block is " + std::to_string(context.height) +
                        ")");
    }
    RulesRecord rules = GetRules(state);
    uint32_t in_force = RulesVersionAt(state, context.height);
    bool pending = rules.next_version != 0 && context.height < rules.next_height;
    if (body.version == in_force) {
      if (!pending) {
        return Refuse(ResultCode::kAlreadyExists, prefix + target + " is already in force");
      }
      // Activating the version in force cancels the pending switch.
      PutRules(state, RulesAfterActivation(rules, context.height, body.version, body.at_height));
      return Accept();
    }
    uint64_t total_power = 0;
    uint64_t supporting_power = 0;
    size_t supporting = 0;
    std::vector<std::pair<PublicKey, ValidatorRecord>> validators = ListValidators(state);
    for (const auto& [key, validator] : validators) {
      total_power += validator.voting_power;
      auto support = GetRulesSupport(state, key);
      if (support && std::ranges::binary_search(support->versions, body.version)) {
        supporting_power += validator.voting_power;
        ++supporting;
      }
    }
    const Rules& current = *context.rules;
    // supporting / total > numerator / denominator, in integers (power ≤ 2^60, fractions small).
    if (supporting_power * current.rules_support_denominator <=
        total_power * current.rules_support_numerator) {
      return Refuse(ResultCode::kInsufficient,
                    prefix + std::to_string(supporting) + " of " +
                        std::to_string(validators.size()) + " validators (voting power " +
                        std::to_string(supporting_power) + " of " + std::to_string(total_power) +
                        ") have recorded support for " + target + "; it needs more than " +
                        std::to_string(current.rules_support_numerator) + "/" +
                        std::to_string(current.rules_support_denominator) +
                        " of the voting power");
    }
    // A pending switch is replaced (rescheduled); a reached one becomes the version in force.
    PutRules(state, RulesAfterActivation(rules, context.height, body.version, body.at_height));
    return Accept();
  }
};

// Stateless failures make a block invalid; this names the transaction.
std::unexpected<Error> InvalidBlock(uint64_t height, std::string message) {
  return Fail(ErrorCode::kRefused, "block " + std::to_string(height) + " refused: " + message);
}

// One block's execution, shared by BuildBlock and ExecuteBlock so both take the same steps.
class BlockRun {
 public:
  BlockRun(const State& state, const BlockContext& context)
      : block_state_(&state), context_(context) {}

  TransactionResult Run(const CheckedTransaction& transaction) {
    return ExecuteTransaction(block_state_, transaction, context_);
  }
  void Record(const TransactionId& id, TransactionResult result) {
    execution_.transaction_ids.push_back(id);
    execution_.results.push_back(std::move(result));
  }
  BlockExecution Finish(const State& state, const Sha256Digest& block_hash) && {
    execution_.results_root = ResultsRoot();
    execution_.writes = std::move(block_state_).TakeWrites();
    execution_.tip =
        ChainTip{.height = context_.height,
                 .block_hash = block_hash,
                 .state_hash = NextStateHash(state.tip().state_hash, execution_.writes),
                 .time_ms = context_.time_ms};
    return std::move(execution_);
  }
  const StateReader& state() const { return block_state_; }
  merkle::Hash ResultsRoot() const {
    return ledger::ResultsRoot(execution_.transaction_ids, execution_.results);
  }

 private:
  Overlay block_state_;
  BlockContext context_;
  BlockExecution execution_;
};

Expected<const Rules*> RulesForBlock(const State& state, uint64_t height, uint32_t named,
                                     uint32_t rules_version_max) {
  uint32_t version = RulesVersionAt(state, height);
  if (named != version) {
    return InvalidBlock(height, "header names rules version " + std::to_string(named) +
                                    " but version " + std::to_string(version) + " is in force");
  }
  VIGIL_RETURN_IF_ERROR(CheckRulesAvailable(state, height, rules_version_max));
  return FindRules(version, rules_version_max);
}

Status CheckLastCommit(const State& state, const Block& block, const ExecuteOptions& options) {
  uint64_t height = block.header.height;
  if (height == 1) {
    if (block.last_commit.has_value()) {
      return InvalidBlock(height, "the first block carries no last commit");
    }
    return Ok();
  }
  if (!block.last_commit.has_value()) {
    return InvalidBlock(
        height, "the commit certificate of block " + std::to_string(height - 1) + " is missing");
  }
  std::vector<consensus::Validator> validators;
  for (const auto& [key, record] : ListValidators(state)) {
    validators.push_back({key, record.voting_power});
  }
  VIGIL_ASSIGN_OR_RETURN(consensus::ValidatorSet set,
                         consensus::ValidatorSet::Create(std::move(validators)));
  auto verified =
      consensus::VerifyCommitCertificate(set, state.chain_id(), height - 1, state.tip().block_hash,
                                         *block.last_commit, options.verify);
  if (!verified) return InvalidBlock(height, verified.error().message());
  return Ok();
}

Status CheckHeader(const State& state, const BlockHeader& header) {
  const ChainTip& tip = state.tip();
  uint64_t height = header.height;
  if (header.chain_id != state.chain_id()) {
    return InvalidBlock(height,
                        "chain id \"" + header.chain_id + "\" is not \"" + state.chain_id() + "\"");
  }
  if (height != tip.height + 1) {
    return InvalidBlock(height, "the next height is " + std::to_string(tip.height + 1));
  }
  if (header.previous_block_hash != tip.block_hash) {
    return InvalidBlock(height, "previous block hash " + ToHex(header.previous_block_hash) +
                                    " is not block " + std::to_string(tip.height) + "'s " +
                                    ToHex(tip.block_hash));
  }
  if (header.time_ms <= tip.time_ms) {
    return InvalidBlock(height, "time " + std::to_string(header.time_ms) +
                                    " ms is not after the previous block's " +
                                    std::to_string(tip.time_ms) + " ms");
  }
  if (header.state_hash != tip.state_hash) {
    return InvalidBlock(height, "state hash " + ToHex(header.state_hash) +
                                    " differs from the state after block " +
                                    std::to_string(tip.height) + ", " + ToHex(tip.state_hash));
  }
  if (!GetValidator(state, header.proposer)) {
    return InvalidBlock(height, "proposer " + ShortKey(header.proposer) + " is not a validator");
  }
  return Ok();
}

}  // namespace

std::optional<uint64_t> NextSequenceNamedBy(const TransactionResult& refusal) {
  if (refusal.code != ResultCode::kBadSequence) return std::nullopt;
  size_t at = refusal.reason.rfind(kNextSequenceIs);
  if (at == std::string::npos) return std::nullopt;
  std::string_view digits = std::string_view(refusal.reason).substr(at + kNextSequenceIs.size());
  uint64_t next = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), next);
  if (error != std::errc() || end != digits.data() + digits.size() || next == 0) {
    return std::nullopt;
  }
  return next;
}

TransactionResult ExecuteTransaction(Overlay& state, const CheckedTransaction& transaction,
                                     const BlockContext& context) {
  VIGIL_ASSERT(context.rules != nullptr);
  Overlay transaction_state(&state);
  const Envelope& envelope = transaction.envelope;
  TransactionResult result = Authorize(transaction_state, envelope);
  if (!result.ok()) return result;
  result = CheckSequence(transaction_state, envelope);
  if (!result.ok()) return result;
  result = std::visit(KindExecutor{transaction_state, envelope, context}, transaction.body);
  if (!result.ok()) return result;  // transaction_state is dropped: nothing half-applied
  PutSequence(transaction_state, envelope.signer, envelope.sequence);
  std::move(transaction_state).MergeInto(state);
  return result;
}

TransactionResult CheckTransactionStateful(const StateReader& state,
                                           const CheckedTransaction& transaction,
                                           const BlockContext& context) {
  Overlay scratch(&state);
  return ExecuteTransaction(scratch, transaction, context);
}

uint32_t RulesVersionAt(const StateReader& state, uint64_t height) {
  return RulesVersionAt(GetRules(state), height);
}

Status CheckRulesAvailable(const StateReader& state, uint64_t height,
                           uint32_t rules_version_max) {
  return CheckRulesAvailable(GetRules(state), height, SupportedRulesVersions(rules_version_max));
}

uint32_t RulesVersionAt(const RulesRecord& rules, uint64_t height) {
  if (rules.next_version != 0 && height >= rules.next_height) return rules.next_version;
  return rules.version;
}

Status CheckRulesAvailable(const RulesRecord& rules, uint64_t height,
                           std::span<const uint32_t> versions_have) {
  uint32_t version = RulesVersionAt(rules, height);
  if (std::ranges::binary_search(versions_have, version)) return Ok();
  uint64_t from = rules.next_version == version && rules.next_version != 0 ? rules.next_height
                                                                            : height;
  return Fail(ErrorCode::kUnavailable,
              "block " + std::to_string(height) + " executes under rules version " +
                  std::to_string(version) + " (in force from height " + std::to_string(from) +
                  "), which this peer does not have (it has rules versions up to " +
                  std::to_string(versions_have.empty() ? 0 : versions_have.back()) +
                  "); halt and install a Vigil release that supports rules version " +
                  std::to_string(version));
}

RulesRecord RulesAfterActivation(const RulesRecord& rules, uint64_t height, uint32_t version,
                                 uint64_t at_height) {
  uint32_t in_force = RulesVersionAt(rules, height);
  if (version == in_force) {
    return RulesRecord{.version = in_force, .next_version = 0, .next_height = 0};
  }
  return RulesRecord{.version = in_force, .next_version = version, .next_height = at_height};
}

Expected<BlockExecution> ExecuteBlock(const State& state, const Block& block,
                                      const ExecuteOptions& options) {
  const BlockHeader& header = block.header;
  uint64_t height = header.height;
  VIGIL_RETURN_IF_ERROR(CheckHeader(state, header));
  VIGIL_ASSIGN_OR_RETURN(const Rules* rules, RulesForBlock(state, height, header.rules_version,
                                                           options.rules_version_max));
  if (block.transactions.size() > rules->block_transactions_max) {
    return InvalidBlock(height, std::to_string(block.transactions.size()) +
                                    " transactions exceed the limit of " +
                                    std::to_string(rules->block_transactions_max));
  }
  if (TransactionsRoot(block.transactions) != header.transactions_root) {
    return InvalidBlock(height, "transactions root does not match its transactions");
  }
  VIGIL_RETURN_IF_ERROR(CheckLastCommit(state, block, options));

  BlockRun run(state, BlockContext{.height = height, .time_ms = header.time_ms, .rules = rules});
  std::set<TransactionId> seen;
  for (size_t i = 0; i < block.transactions.size(); ++i) {
    auto checked =
        CheckTransactionStateless(block.transactions[i], state.chain_id(), options.verify);
    if (!checked) {
      return InvalidBlock(height, "transaction " + std::to_string(i) +
                                      " cannot be included: " + checked.error().reason);
    }
    if (!seen.insert(checked->id).second) {
      return InvalidBlock(height,
                          "transaction " + std::to_string(i) + " repeats " + ToHex(checked->id));
    }
    TransactionResult result = run.Run(*checked);
    run.Record(checked->id, std::move(result));
  }
  BlockExecution execution = std::move(run).Finish(state, BlockHash(header));
  if (execution.results_root != header.results_root) {
    return InvalidBlock(height, "results root " + ToHex(header.results_root) +
                                    " differs from re-execution's " +
                                    ToHex(execution.results_root));
  }
  return execution;
}

Status ValidateBlock(const State& state, const Block& block, const ExecuteOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(BlockExecution execution, ExecuteBlock(state, block, options));
  (void)execution;
  return Ok();
}

void ApplyBlock(State& state, const BlockExecution& execution) {
  state.Apply(execution.writes, execution.tip);
}

namespace {

// BuildBlock over encoded candidates (Bytes: checked here) or checked ones (CheckedTransaction
// pointers).
template <typename Candidate>
Expected<BuiltBlock> BuildBlockOf(const State& state, std::span<const Candidate> candidates,
                                  const BuildOptions& options) {
  uint64_t height = state.tip().height + 1;
  BuiltBlock built;
  BlockHeader& header = built.block.header;
  header = BlockHeader{.chain_id = state.chain_id(),
                       .height = height,
                       .time_ms = options.time_ms,
                       .previous_block_hash = state.tip().block_hash,
                       .transactions_root = {},
                       .results_root = {},
                       .state_hash = state.tip().state_hash,
                       .rules_version = RulesVersionAt(state, height),
                       .proposer = options.proposer};
  built.block.last_commit = options.last_commit;
  VIGIL_RETURN_IF_ERROR(CheckHeader(state, header));
  VIGIL_ASSIGN_OR_RETURN(const Rules* rules,
                         RulesForBlock(state, height, header.rules_version,
                                       options.execute.rules_version_max));
  VIGIL_RETURN_IF_ERROR(CheckLastCommit(state, built.block, options.execute));

  // Room for the header, the certificate and the vector framing, generously.
  size_t block_bytes = EncodeBlock(built.block).size() + 1024;
  BlockRun run(state, BlockContext{.height = height, .time_ms = options.time_ms, .rules = rules});
  std::set<TransactionId> seen;
  for (const Candidate& candidate : candidates) {
    std::optional<CheckedTransaction> decoded;
    const CheckedTransaction* checked = nullptr;
    if constexpr (std::is_same_v<Candidate, Bytes>) {
      auto result = CheckTransactionStateless(candidate, state.chain_id(), options.execute.verify);
      if (!result) {
        built.dropped.push_back({ComputeTransactionId(candidate), std::move(result.error())});
        continue;
      }
      checked = &decoded.emplace(std::move(*result));
    } else {
      checked = candidate;
    }
    if (seen.contains(checked->id)) {
      built.dropped.push_back(
          {checked->id, Refuse(ResultCode::kAlreadyExists, "transaction repeated in the block")});
      continue;
    }
    size_t transaction_bytes = checked->encoded.size() + 4;
    if (built.block.transactions.size() >= rules->block_transactions_max ||
        block_bytes + transaction_bytes > rules->block_bytes_max) {
      built.deferred.push_back({checked->id, Refuse(ResultCode::kLimitReached, "block is full")});
      continue;
    }
    TransactionResult result = run.Run(*checked);
    if (result.code == ResultCode::kBadSequence) {
      bool ahead = checked->envelope.sequence > GetSequence(run.state(), checked->envelope.signer);
      if (ahead || !options.keep_replays) {
        (ahead ? built.deferred : built.dropped).push_back({checked->id, std::move(result)});
        continue;
      }
    }
    seen.insert(checked->id);
    block_bytes += transaction_bytes;
    built.block.transactions.push_back(checked->encoded);
    run.Record(checked->id, std::move(result));
  }
  header.transactions_root = TransactionsRoot(built.block.transactions);
  header.results_root = run.ResultsRoot();
  built.execution = std::move(run).Finish(state, BlockHash(header));
  return built;
}

}  // namespace

Expected<BuiltBlock> BuildBlock(const State& state, std::span<const Bytes> candidates,
                                const BuildOptions& options) {
  return BuildBlockOf(state, candidates, options);
}

Expected<BuiltBlock> BuildBlock(const State& state,
                                std::span<const CheckedTransaction* const> candidates,
                                const BuildOptions& options) {
  return BuildBlockOf(state, candidates, options);
}

}  // namespace vigil::ledger
