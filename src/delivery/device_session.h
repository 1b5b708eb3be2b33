// The device's side of the delivery protocol (docs/delivery.md): one persistent mutual-TLS
// session with its gateway, kept up with reconnection and backoff.
//
// On every session it sends a Hello with what the device runs and has staged. For each Offer
// it checks everything itself — the ledger proof against the validators of its own genesis,
// the publisher's signature, that the ledger accepted the publication (VerifyOffer) — then
// asks the agent whether it wants the release (an app it runs, newer than what runs, not
// staged yet: `accept_offer`), and downloads the bundle in chunks into
// `<downloads>/<digest>.partial`, resuming where it stopped (across sessions and agent
// restarts), checks size and SHA-256 against the ledger's record, and renames it to
// `<downloads>/<digest>.bundle` before handing it on. The gateway is never trusted: a wrong
// byte costs a new download, never an install.
//
// Reports are signed here with the device key, with the sequence the ledger expects (from the
// Welcome, then each ReportResult), and sent one at a time: a report the ledger refuses for
// its sequence is signed again with the right one.
//
// Thread-safety: everything runs on the io_context's thread, including every callback.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/limits.h"
#include "consensus/types.h"
#include "delivery/protocol.h"
#include "ledger/genesis.h"
#include "pki/pki.h"
#include "transport/backoff.h"
#include "transport/client.h"

namespace vigil::delivery {

struct DeviceSessionOptions {
  pki::NodeCredentials credentials;  // the device's certificate and key (role device)
  ledger::Genesis genesis;           // whose validators every offer is checked against
  std::string gateway_host = "127.0.0.1";
  uint16_t gateway_port = 0;
  std::optional<std::string> gateway_name;  // when set, the gateway's certificate name
  std::filesystem::path downloads_directory;
  uint32_t chunk_bytes = limits::kDeliveryChunkBytesDefault;
  uint32_t chunks_in_flight = limits::kAgentChunksInFlightDefault;
  transport::BackoffOptions reconnect;  // defaults from limits.h
  uint64_t seed = 1;                    // backoff jitter
};

struct DeviceSessionCallbacks {
  // What the device runs and has staged, for every Hello (sorted by app, unique).
  std::function<std::vector<AppStatus>()> app_statuses;
  // An offer passed every check; return false to decline it (e.g. already staged).
  std::function<bool(const VerifiedRelease& release)> accept_offer;
  // The bundle of `release` is at `bundle`, complete and matching the ledger's digest.
  // `transmission` is how long the download from the gateway took.
  std::function<void(const VerifiedRelease& release, const std::filesystem::path& bundle,
                     std::chrono::microseconds transmission)>
      on_bundle;
  // Optional: a line for the log (offer refused, download restarted, ...).
  std::function<void(const std::string& event)> on_event;
};

// Coordinated activation (seed 002), set with DeviceSession::SetActivationCallbacks before
// Start: an activation of the device's group (as the Welcome names it) that passed
// VerifyActivation, and a header that passed VerifyLedgerHeader. Anything that does not
// verify is dropped with an event, never handed on. Without them both frames are ignored.
struct ActivationCallbacks {
  std::function<void(const std::string& group)> on_welcome;
  std::function<void(const VerifiedActivation& activation)> on_activation;
  std::function<void(const ledger::BlockHeader& header)> on_ledger_header;
};

class DeviceSessionCore;

class DeviceSession {
 public:
  DeviceSession(asio::io_context& io_context, DeviceSessionOptions options,
                DeviceSessionCallbacks callbacks);
  ~DeviceSession();
  DeviceSession(const DeviceSession&) = delete;
  DeviceSession& operator=(const DeviceSession&) = delete;

  void SetActivationCallbacks(ActivationCallbacks callbacks);
  Status Start();
  void Stop();

  // Sends a Hello again (what runs or is staged changed), if a session is up.
  void SendHello();

  // Asks the gateway for a release again (ReleaseRequest): the integrity monitor needs its
  // bundle to repair files whose pristine copies are damaged. Sent now when a session is up,
  // again on every new session until an offer of it arrives; the offer is then checked and
  // handed to `accept_offer` like any other.
  void RequestRelease(const std::string& app, const std::string& version);

  // Signs `report` with the device key and sends it when its turn comes; `done` gets the
  // ledger's answer (committed with its result, or refused with the reason).
  using ReportDone = std::function<void(const ReportResult& result)>;
  void SendReport(ledger::DeviceReport report, ReportDone done);

  bool connected() const;
  // Connected, and the gateway's Welcome (with the proof of this device's enrollment) checked.
  bool welcomed() const;
  size_t reports_waiting() const;

 private:
  std::shared_ptr<DeviceSessionCore> core_;
};

}  // namespace vigil::delivery
