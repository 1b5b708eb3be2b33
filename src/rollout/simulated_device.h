// One simulated device of `vigil bench rollout`: everything a device agent does for an update
// except running the app (docs/agent.md), so that a thousand of them fit in one process.
//
// It has its own Ed25519 key and certificate (in `session.credentials`), its own mutual-TLS
// session to the gateway (delivery::DeviceSession: every offer verified against the genesis
// validators, the bundle downloaded in chunks and checked against the ledger's digest), and
// its own directory (`root`: downloads/, apps/<app>/slots, current, previous, updater.record).
// Its update is the agent's own state table (agent/updater.h), executed here with the agent's
// slot code (agent/slots.h): the record is persisted before every step, the bundle is unpacked
// and every file verified into a new slot, `current` is switched atomically, and the
// `installed` and `activated` reports are signed with the device key and relayed through the
// gateway to the ledger.
//
// With `staged`, it follows seed 002 as the agent does by default: the release is staged and
// `installed` reported, and it switches only when a verified activation of its group becomes
// effective at a verified block header — the agent's own ActivationTracker (agent/activation.h)
// decides, fed by the session's Activation and LedgerHeader frames. Without it, it activates
// as soon as installed (seed 001, the agent's `auto_activate`).
//
// What is simulated: there is no app process. Stopping the old version, starting the new one
// and its health check succeed at once (the real agent's restart and health check are what
// `vigil bench update` measures). Unpacking runs through `run_blocking` (a small worker pool
// shared by all devices), never on the session's thread.
//
// Thread-safety: everything runs on the io_context's thread (one thread per io_context), except
// the unpack handed to `run_blocking`, which posts its outcome back.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/activation.h"
#include "agent/slots.h"
#include "agent/updater.h"
#include "common/error.h"
#include "delivery/device_session.h"
#include "rollout/rollout_tally.h"

namespace vigil::rollout {

struct SimulatedDeviceOptions {
  size_t index = 0;  // the bench's number for it (milestones are reported with it)
  delivery::DeviceSessionOptions session;  // its credentials, the genesis, the gateway
  std::filesystem::path root;              // its own directory
  std::string app;                         // the one app it runs
  bool staged = false;                     // wait for an activation (see above)
  // Runs `work` off the session's thread (unpacking a bundle).
  std::function<void(std::function<void()> work)> run_blocking;
  // Called on the io_context's thread when the device reaches a milestone.
  std::function<void(size_t index, Milestone milestone)> on_milestone;
  // Called when an update failed (unpack, switch) or a report was refused.
  std::function<void(size_t index, const std::string& what)> on_failure;
};

class SimulatedDevice {
 public:
  SimulatedDevice(asio::io_context& io_context, SimulatedDeviceOptions options);
  ~SimulatedDevice();
  SimulatedDevice(const SimulatedDevice&) = delete;
  SimulatedDevice& operator=(const SimulatedDevice&) = delete;

  // Creates its directories and starts the session (which connects in the background).
  Status Start();
  void Stop();

  // Whether its session with the gateway is up (on the io_context's thread).
  bool connected() const { return session_ && session_->connected(); }
  // Bytes of the bundles it downloaded completely.
  uint64_t bytes_received() const { return bytes_received_; }

 private:
  bool WantsRelease(const delivery::VerifiedRelease& release) const;
  std::string StagedVersion() const;
  Status StartActivationTracker();
  void OnBundle(const delivery::VerifiedRelease& release, const std::filesystem::path& bundle,
                std::chrono::microseconds transmission);
  void Request(agent::Event event);
  void DrainQueue();
  void Feed(const agent::Event& event);
  void Apply(agent::Transition transition);
  void Execute(const agent::Action& action, bool last);
  void Finish(bool last, agent::Event event);
  void Unpack(const agent::Action& action);
  void Failed(const std::string& what);

  asio::io_context& io_context_;
  SimulatedDeviceOptions options_;
  agent::AppLayout layout_;
  agent::UpdaterRecord record_;
  bool busy_ = false;
  std::deque<agent::Event> queued_;
  uint64_t bytes_received_ = 0;
  std::unique_ptr<delivery::DeviceSession> session_;
  std::unique_ptr<agent::ActivationTracker> activations_;  // only when staged
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vigil::rollout
