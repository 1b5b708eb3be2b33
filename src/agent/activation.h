// Coordinated activation on the device (seed 002, docs/agent.md#coordinated-activation).
//
// Installing no longer activates: a release is staged, `installed` is reported, and the
// device waits for the ledger. The gateway hands it the ActivateRelease transactions of its
// group and, while one is pending, every committed block header — each checked by the device
// session against the genesis validators (delivery::VerifyActivation, VerifyLedgerHeader).
// The ActivationTracker keeps the latest verified activation of each app (persisted, written
// atomically, so a restart does not forget an activation the gateway may be slow to re-send)
// and, on every verified header and every settled install, decides what to do with the pure
// `DecideActivation`:
//
//   not effective yet at the verified height/time             → wait
//   the effective version runs                                → done
//   the effective version is staged                           → activate (once)
//   neither, policy halt                                      → stop the app, report it
//   neither, policy keep                                      → keep the old one, report it
//
// In both missing cases the session downloads the version (the gateway offers it; the agent
// accepts an OLDER release only because a verified activation names it: a downgrade), and
// once it is staged the next decision activates it.
//
// The same tracker runs in the agent daemon (src/agent/daemon.cc) and in the simulated
// devices of the benchmarks (src/rollout/simulated_device.cc); each supplies the hooks.
//
// Thread-safety: one thread (the io_context's), like the agent.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "common/bytes.h"
#include "common/error.h"
#include "delivery/protocol.h"

namespace vigil::agent {

enum class ActivationStep : uint8_t {
  kWait,         // not effective at the verified height/time
  kDone,         // the effective version runs
  kActivate,     // the effective version is staged: switch to it now
  kHaltMissing,  // not staged, policy halt: stop the app until it is
  kKeepMissing,  // not staged, policy keep: the old version keeps running, behind
};
std::string_view ActivationStepName(ActivationStep step);

// The pure decision. `running` and `staged` are versions ("" for none; `staged` only when
// the install has settled in the Staged state).
ActivationStep DecideActivation(const delivery::VerifiedActivation& activation, uint64_t height,
                                int64_t time_ms, std::string_view running, std::string_view staged);

// Whether the device takes an offered `version` of an app, given the app's latest verified
// activation (if any), what runs and what is staged, and whether the updater wants it on its
// own (a newer release). While an activation is pending (its version does not run yet) only
// its version is taken, older ones too (a downgrade): any other release would replace it in
// the staged slot, and the queued switch would start that one instead.
bool AcceptsOffer(const std::optional<delivery::VerifiedActivation>& activation,
                  std::string_view version, std::string_view running, std::string_view staged,
                  bool updater_wants);

// The persisted form (<root>/activations/<app>.record): strict, canonical, with limits.
Bytes EncodeActivation(const delivery::VerifiedActivation& activation);
Expected<delivery::VerifiedActivation> DecodeActivation(ByteSpan bytes);

struct ActivationHooks {
  std::function<std::string(const std::string& app)> running_version;
  std::function<std::string(const std::string& app)> staged_version;
  // Start the activation of the staged version; `note` goes into the activated report.
  // Returns false when the updater cannot take it now (asked again on the next decision).
  std::function<bool(const std::string& app, const std::string& note)> activate;
  // The effective version is missing: halt (true) or keep (false). Called once per activation
  // (and again after a restart). `detail` says what, since when, and what runs.
  std::function<void(const delivery::VerifiedActivation& activation, bool halt,
                     const std::string& detail)>
      missing;
  std::function<void(const std::string& line)> log;  // optional
};

class ActivationTracker {
 public:
  // `directory` holds one record per app (created on first use).
  ActivationTracker(std::filesystem::path directory, ActivationHooks hooks);

  // Reads the persisted activations; a record that does not decode is an error naming it.
  Status Load();

  // The device's group as the gateway's Welcome says; activations of other groups are ignored.
  void set_group(std::string group) { group_ = std::move(group); }
  // A verified activation: kept (and persisted) if it is the first or later than the one
  // known for its app, then decided on.
  Status OnActivation(const delivery::VerifiedActivation& activation);
  // A verified header: the ledger has reached `height` at `time_ms`.
  void OnHeader(uint64_t height, int64_t time_ms);
  // Decide again for `app` (an install settled, an activation ended).
  void Reevaluate(const std::string& app);

  // The latest verified activation of `app`, if any.
  std::optional<delivery::VerifiedActivation> activation(const std::string& app) const;
  uint64_t height() const { return height_; }

 private:
  struct Entry {
    delivery::VerifiedActivation activation;
    bool activation_requested = false;
    bool missing_reported = false;
  };
  std::filesystem::path RecordPath(const std::string& app) const {
    return directory_ / (app + ".record");
  }
  void Log(const std::string& line) const {
    if (hooks_.log) hooks_.log(line);
  }

  std::filesystem::path directory_;
  ActivationHooks hooks_;
  std::string group_;
  std::map<std::string, Entry> entries_;
  uint64_t height_ = 0;
  int64_t time_ms_ = 0;
};

}  // namespace vigil::agent
