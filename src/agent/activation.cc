#include "agent/activation.h"

#include <system_error>

#include "codec/codec.h"
#include "common/file.h"
#include "common/limits.h"

namespace vigil::agent {
namespace {

// DO NOT CHANGE: bump it when the encoding changes, and decode the old one.
constexpr uint16_t kActivationRecordFormat = 1;

std::string Describe(const delivery::VerifiedActivation& activation) {
  std::string when =
      activation.effective_time_ms != 0
          ? "the first block at/after time " + std::to_string(activation.effective_time_ms) + " ms"
          : "block " + std::to_string(activation.effective_height);
  return activation.app + " " + activation.version + " (recorded at block " +
         std::to_string(activation.recorded_height) + ", effective from " + when + ")";
}

}  // namespace

std::string_view ActivationStepName(ActivationStep step) {
  switch (step) {
    case ActivationStep::kWait:
      return "wait";
    case ActivationStep::kDone:
      return "done";
    case ActivationStep::kActivate:
      return "activate";
    case ActivationStep::kHaltMissing:
      return "halt-missing";
    case ActivationStep::kKeepMissing:
      return "keep-missing";
  }
  return "unknown";
}

ActivationStep DecideActivation(const delivery::VerifiedActivation& activation, uint64_t height,
                                int64_t time_ms, std::string_view running,
                                std::string_view staged) {
  if (!activation.IsEffectiveAt(height, time_ms)) return ActivationStep::kWait;
  if (running == activation.version) return ActivationStep::kDone;
  if (staged == activation.version) return ActivationStep::kActivate;
  return activation.on_missing == ledger::MissingVersionPolicy::kHalt
             ? ActivationStep::kHaltMissing
             : ActivationStep::kKeepMissing;
}

bool AcceptsOffer(const std::optional<delivery::VerifiedActivation>& activation,
                  std::string_view version, std::string_view running, std::string_view staged,
                  bool updater_wants) {
  if (version == running || version == staged) return false;
  if (activation && activation->version != running) return version == activation->version;
  return updater_wants;
}

Bytes EncodeActivation(const delivery::VerifiedActivation& activation) {
  codec::Encoder encoder;
  encoder.WriteU16(kActivationRecordFormat);
  encoder.WriteString(activation.group);
  encoder.WriteString(activation.app);
  encoder.WriteString(activation.version);
  encoder.WriteU64(activation.recorded_height);
  encoder.WriteU64(activation.index);
  encoder.WriteU64(activation.effective_height);
  encoder.WriteI64(activation.effective_time_ms);
  encoder.WriteU8(static_cast<uint8_t>(activation.on_missing));
  return std::move(encoder).Take();
}

Expected<delivery::VerifiedActivation> DecodeActivation(ByteSpan bytes) {
  return codec::DecodeExactly(
      bytes, [](codec::Decoder& decoder) -> Expected<delivery::VerifiedActivation> {
        VIGIL_ASSIGN_OR_RETURN(uint16_t format, decoder.ReadU16("format"));
        if (format != kActivationRecordFormat) {
          return Fail(ErrorCode::kInvalidArgument,
                      "activation record: unknown format " + std::to_string(format));
        }
        delivery::VerifiedActivation activation;
        VIGIL_ASSIGN_OR_RETURN(activation.group,
                               decoder.ReadString("group", limits::kLedgerNameBytesMax));
        VIGIL_ASSIGN_OR_RETURN(activation.app,
                               decoder.ReadString("app", limits::kLedgerNameBytesMax));
        VIGIL_RETURN_IF_ERROR(ledger::ValidateAppName("app", activation.app));
        VIGIL_ASSIGN_OR_RETURN(activation.version,
                               decoder.ReadString("version", limits::kLedgerVersionBytesMax));
        VIGIL_ASSIGN_OR_RETURN(activation.recorded_height, decoder.ReadU64("recorded height"));
        VIGIL_ASSIGN_OR_RETURN(activation.index, decoder.ReadU64("index"));
        VIGIL_ASSIGN_OR_RETURN(activation.effective_height, decoder.ReadU64("effective height"));
        VIGIL_ASSIGN_OR_RETURN(activation.effective_time_ms, decoder.ReadI64("effective time"));
        VIGIL_ASSIGN_OR_RETURN(uint8_t policy, decoder.ReadU8("on missing"));
        if (policy != static_cast<uint8_t>(ledger::MissingVersionPolicy::kHalt) &&
            policy != static_cast<uint8_t>(ledger::MissingVersionPolicy::kKeep)) {
          return Fail(ErrorCode::kInvalidArgument,
                      "activation record: unknown on-missing policy " + std::to_string(policy));
        }
        activation.on_missing = static_cast<ledger::MissingVersionPolicy>(policy);
        return activation;
      });
}

ActivationTracker::ActivationTracker(std::filesystem::path directory, ActivationHooks hooks)
    : directory_(std::move(directory)), hooks_(std::move(hooks)) {}

Status ActivationTracker::Load() {
  VIGIL_RETURN_IF_ERROR(EnsureDirectory(directory_, 0700));
  std::error_code error;
  for (const auto& file : std::filesystem::directory_iterator(directory_, error)) {
    if (file.path().extension() != ".record") continue;  // a temporary of an atomic write
    auto bytes = ReadFile(file.path(), limits::kAgentActivationRecordBytesMax);
    if (!bytes) return std::unexpected(bytes.error().WithContext(file.path().string()));
    auto activation = DecodeActivation(*bytes);
    if (!activation) return std::unexpected(activation.error().WithContext(file.path().string()));
    if (file.path().stem().string() != activation->app) {
      return Fail(ErrorCode::kCorruption,
                  file.path().string() + " holds the activation of app " + activation->app);
    }
    entries_[activation->app] =
        Entry{.activation = *activation, .activation_requested = false, .missing_reported = false};
  }
  if (error) {
    return Fail(ErrorCode::kIOError, "cannot list " + directory_.string() + ": " + error.message());
  }
  return Ok();
}

Status ActivationTracker::OnActivation(const delivery::VerifiedActivation& activation) {
  if (!group_.empty() && activation.group != group_) {
    Log("ignored the activation of " + Describe(activation) + ": it is for group '" +
        activation.group + "', this device is of '" + group_ + "'");
    return Ok();
  }
  auto existing = entries_.find(activation.app);
  if (existing != entries_.end()) {
    if (existing->second.activation == activation) {
      Reevaluate(activation.app);  // sent again (a new session): nothing new
      return Ok();
    }
    if (!activation.IsLaterThan(existing->second.activation)) {
      Log("ignored the activation of " + Describe(activation) +
          ": an activation recorded later is known");
      return Ok();
    }
  }
  // Persisted before it is acted on: a restart remembers it even if no one re-sends it.
  VIGIL_RETURN_IF_ERROR(
      WriteFileAtomically(RecordPath(activation.app), EncodeActivation(activation), 0600));
  entries_[activation.app] =
      Entry{.activation = activation, .activation_requested = false, .missing_reported = false};
  Log("verified activation of " + Describe(activation) +
      ", on missing: " + std::string(ledger::MissingVersionPolicyName(activation.on_missing)));
  Reevaluate(activation.app);
  return Ok();
}

void ActivationTracker::OnHeader(uint64_t height, int64_t time_ms) {
  if (height <= height_) return;
  height_ = height;
  time_ms_ = time_ms;
  for (auto& [app, entry] : entries_) Reevaluate(app);
}

void ActivationTracker::Reevaluate(const std::string& app) {
  auto found = entries_.find(app);
  if (found == entries_.end()) return;
  Entry& entry = found->second;
  const delivery::VerifiedActivation& activation = entry.activation;
  std::string running = hooks_.running_version ? hooks_.running_version(app) : "";
  std::string staged = hooks_.staged_version ? hooks_.staged_version(app) : "";
  switch (DecideActivation(activation, height_, time_ms_, running, staged)) {
    case ActivationStep::kWait:
    case ActivationStep::kDone:
      return;
    case ActivationStep::kActivate: {
      if (entry.activation_requested) return;
      std::string note = "activation of " + activation.version + " recorded at block " +
                         std::to_string(activation.recorded_height) + "; switched at block " +
                         std::to_string(height_);
      Log("activating " + Describe(activation) + " at verified block " + std::to_string(height_));
      if (hooks_.activate && hooks_.activate(app, note)) entry.activation_requested = true;
      return;
    }
    case ActivationStep::kHaltMissing:
    case ActivationStep::kKeepMissing: {
      // An activation under way (or one that rolled back: reported as such) is not missing.
      if (entry.activation_requested || entry.missing_reported) return;
      entry.missing_reported = true;
      bool halt = activation.on_missing == ledger::MissingVersionPolicy::kHalt;
      std::string detail =
          std::string(halt ? "halted: " : "behind: ") + activation.version +
          " is effective (block " + std::to_string(height_) + ") but not staged here; " +
          (halt ? "the app is stopped until it is"
                : (running.empty() ? std::string("nothing runs") : running + " keeps running")) +
          "; fetching it";
      Log(detail);
      if (hooks_.missing) hooks_.missing(activation, halt, detail);
      return;
    }
  }
}

std::optional<delivery::VerifiedActivation> ActivationTracker::activation(
    const std::string& app) const {
  auto found = entries_.find(app);
  if (found == entries_.end()) return std::nullopt;
  return found->second.activation;
}

}  // namespace vigil::agent
