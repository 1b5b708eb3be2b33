// `vigil demo`: the whole system on this machine, narrated as it happens (seed 001's story).
//
// It creates a local cluster with a plant (`peer::CreateCluster` with devices: 4 peers with
// their artifact stores, a gateway, 3 devices), starts every process as `vigil cluster up`
// would, and prints each ledger record as its block commits — the publication, each device's
// install and activation with their timings — by following the ledger like any client, every
// block verified against the genesis validators. The devices stage each release and switch only
// on an activation (seed 002): v1 is published, staged everywhere and activated from the next
// block; v2 is a staged rollout — one device offline, so activation is refused below the
// threshold with the counts; it comes back and stages v2; the activation at a chosen height is
// accepted and every device switches at that block. Then it tampers
// with a file of the running release on one device and narrates the device's automatic repair
// and its `tamper detected` and `repaired` records, shows the file restored and the fleet's
// compliance, tries the attacks an operator worries about and prints each refusal, and cleans up.
#include <spdlog/spdlog.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstring>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "api/client.h"
#include "cli/commands.h"
#include "cli/compliance_fetch.h"
#include "cli/ledger_watch.h"
#include "cli/local_cluster.h"
#include "cli/peer_target.h"
#include "cli/tx_submit.h"
#include "common/file.h"
#include "compliance/report.h"
#include "history/history.h"
#include "ledger/genesis.h"
#include "peer/cluster.h"
#include "pki/pki.h"
#include "publish/publish.h"
#include "release/bundle.h"

namespace vigil::cli {
namespace {

using namespace std::chrono_literals;
constexpr char kApp[] = "press-control";
constexpr std::chrono::seconds kStepTimeout{90};

struct DemoOptions {
  std::string directory;
  size_t peers = 4;
  size_t devices = 3;
  bool keep = false;
  bool verbose = false;
};

[[gnu::format(printf, 1, 2)]] void Say(const char* format, ...) {
  va_list arguments;
  va_start(arguments, format);
  std::vprintf(format, arguments);
  va_end(arguments);
  std::printf("\n");
  std::fflush(stdout);
}
void Heading(const char* text) { Say("\n== %s", text); }

// Prints every ledger row as its block commits, and counts what the demo waits for
// (activations per version).
class LedgerNarrator {
 public:
  explicit LedgerNarrator(const peer::Cluster& cluster)
      : watch_(cluster, [this](const history::Row& row, auto) { Print(row); }) {}

  Status Start() { return watch_.Start(); }
  void Stop() { watch_.Stop(); }

  // Devices that reported `kind` for `version`.
  size_t Count(const std::string& kind, const std::string& version) {
    std::lock_guard lock(mutex_);
    return counts_[kind + " " + version];
  }
  // Rows of `kind` a device reported (reports may name no version), and the block of the last.
  size_t CountOf(const std::string& kind, const std::string& device) {
    std::lock_guard lock(mutex_);
    return counts_[kind + "@" + device];
  }
  uint64_t LastHeightOf(const std::string& kind, const std::string& device) {
    std::lock_guard lock(mutex_);
    return heights_[kind + "@" + device];
  }
  // The blocks at which devices switched to `version`, as their `activated` reports say.
  std::set<uint64_t> SwitchBlocks(const std::string& version) {
    std::lock_guard lock(mutex_);
    return switch_blocks_[version];
  }

 private:
  void Print(const history::Row& row) {
    std::string who = row.device ? watch_.DeviceName(*row.device) : "";
    std::string kind(history::RowKindName(row.kind));
    std::string what = row.app + (row.version.empty() ? "" : " " + row.version);
    std::string extra;
    if (!row.result.ok()) {
      extra = "REFUSED: " + row.result.reason;
    } else if (row.duration_ms > 0) {
      extra = std::to_string(row.duration_ms) + " ms";
    }
    if (!row.detail.empty()) extra += (extra.empty() ? "" : "; ") + row.detail;
    Say("  block %-5llu %-10s %-16s %-22s %s", static_cast<unsigned long long>(row.height),
        who.c_str(), kind.c_str(), what.c_str(), extra.c_str());
    std::lock_guard lock(mutex_);
    if (!row.result.ok()) return;
    ++counts_[kind + " " + row.version];
    constexpr std::string_view kSwitched = "switched at block ";
    if (size_t at = row.detail.find(kSwitched);
        row.kind == history::RowKind::kActivated && at != std::string::npos) {
      switch_blocks_[row.version].insert(
          std::strtoull(row.detail.c_str() + at + kSwitched.size(), nullptr, 10));
    }
    if (!who.empty()) {
      ++counts_[kind + "@" + who];
      heights_[kind + "@" + who] = row.height;
    }
  }

  std::mutex mutex_;
  std::map<std::string, size_t> counts_;
  std::map<std::string, uint64_t> heights_;
  std::map<std::string, std::set<uint64_t>> switch_blocks_;
  LedgerWatch watch_;  // last: its thread calls Print, which uses the members above
};

// The demo's app: a script that logs its start and runs until stopped.
Expected<std::filesystem::path> BuildRelease(const std::filesystem::path& root,
                                             const std::string& version, const std::string& body) {
  std::filesystem::path source = root / "releases" / version;
  std::error_code error;
  std::filesystem::create_directories(source / "config", error);
  if (error) return Fail(ErrorCode::kIOError, "cannot create " + source.string());
  std::string script = "#!/bin/sh\necho \"$(date +%T.%N) press-control " + version +
                       " started\" >> ../../app-starts.log\n" + body + "\n";
  VIGIL_RETURN_IF_ERROR(WriteFileAtomically(source / "run.sh", AsBytes(script), 0755));
  std::string config = "line_speed=" + version + "\n";
  VIGIL_RETURN_IF_ERROR(
      WriteFileAtomically(source / "config" / "line.conf", AsBytes(config), 0644));
  std::filesystem::path bundle = root / "releases" / (version + ".vigil");
  release::BuildOptions options;
  options.app = kApp;
  options.version = version;
  options.entry = {"run.sh"};
  options.health.stay_up_seconds = 1;
  VIGIL_ASSIGN_OR_RETURN(auto built, release::BuildBundle(source, options, bundle));
  Say("  built %s %s: %zu files, bundle %s…, manifest root %s…", kApp, version.c_str(),
      built.manifest.files.size(), ToHex(built.bundle_digest).substr(0, 12).c_str(),
      ToHex(built.manifest_root).substr(0, 12).c_str());
  return bundle;
}

Expected<publish::PublishOutcome> Publish(const peer::Cluster& cluster,
                                          const std::filesystem::path& bundle,
                                          const std::filesystem::path& key_directory = {}) {
  VIGIL_ASSIGN_OR_RETURN(publish::PublishRequest request,
                         publish::RequestForCluster(cluster, bundle));
  if (!key_directory.empty()) request.key_directory = key_directory;
  return publish::PublishBundle(request, {});
}

bool WaitFor(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + kStepTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return done();
}

// `vigil activate` for the demo's app, every enrolled device required (cli/tx_submit.h).
Expected<api::SubmitResponse> Activate(const peer::Cluster& cluster, const std::string& version,
                                       std::optional<uint64_t> at_height) {
  return ActivateInCluster(cluster.directory.string(), cluster.device_group, kApp, version,
                           at_height);
}

Status WaitForCount(LedgerNarrator& narrator, const peer::Cluster& cluster, const char* kind,
                    const std::string& version, size_t devices) {
  if (WaitFor([&] { return narrator.Count(kind, version) >= devices; })) return Ok();
  return Fail(ErrorCode::kTimeout, std::to_string(devices) + " devices did not report '" + kind +
                                       "' for " + version + " within " +
                                       std::to_string(kStepTimeout.count()) + " s; logs in " +
                                       cluster.directory.string());
}

// Every device switched to `version`: when, and at which ledger blocks.
Status SaySwitched(LedgerNarrator& narrator, const peer::Cluster& cluster,
                   const std::string& version, std::chrono::steady_clock::time_point started) {
  size_t devices = cluster.devices.size();
  VIGIL_RETURN_IF_ERROR(WaitForCount(narrator, cluster, "activated", version, devices));
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  std::string blocks;
  for (uint64_t block : narrator.SwitchBlocks(version)) {
    blocks += (blocks.empty() ? "" : ", ") + std::to_string(block);
  }
  Say("  all %zu devices run %s, %lld ms after the activation; switched at block %s", devices,
      version.c_str(), static_cast<long long>(took.count()), blocks.c_str());
  return Ok();
}

// v1: published, staged by every device (installed on the ledger, not running), then one
// activation from the next block.
Status FirstRelease(const peer::Cluster& cluster, LedgerNarrator& narrator,
                    const std::filesystem::path& root, const std::string& version) {
  Heading(("Publish " + std::string(kApp) + " " + version +
           ": every device stages it; one activation switches them together")
              .c_str());
  VIGIL_ASSIGN_OR_RETURN(auto bundle, BuildRelease(root, version, "exec sleep 100000"));
  VIGIL_ASSIGN_OR_RETURN(auto outcome, Publish(cluster, bundle));
  Say("  published: uploaded to %zu artifact stores, committed at block %llu",
      outcome.uploads.size(), static_cast<unsigned long long>(outcome.height));
  size_t devices = cluster.devices.size();
  VIGIL_RETURN_IF_ERROR(WaitForCount(narrator, cluster, "installed", version, devices));
  Say("  all %zu devices staged %s (verified, unpacked, installed on the ledger); none runs it",
      devices, version.c_str());
  auto started = std::chrono::steady_clock::now();
  VIGIL_ASSIGN_OR_RETURN(auto activation, Activate(cluster, version, std::nullopt));
  Say("  vigil activate --version %s --next: recorded at block %llu, effective from block %llu",
      version.c_str(), static_cast<unsigned long long>(activation.height),
      static_cast<unsigned long long>(activation.height + 1));
  return SaySwitched(narrator, cluster, version, started);
}

// v2, the staged rollout of seed 002: a device is offline while the release is staged, so the
// activation is refused below the threshold (with the counts); it comes back and stages it; the
// activation at a chosen height is accepted and every device switches at exactly that block.
Status StagedRollout(const peer::Cluster& cluster, LedgerNarrator& narrator,
                     const std::filesystem::path& root, const std::string& version) {
  Heading(("Staged rollout of " + std::string(kApp) + " " + version +
           ": refused below the threshold, then activated at a chosen block")
              .c_str());
  const peer::ClusterDaemon& offline = cluster.devices.back();
  VIGIL_RETURN_IF_ERROR(peer::StopClusterDaemon(offline));
  Say("  %s goes offline", offline.name.c_str());
  VIGIL_ASSIGN_OR_RETURN(auto bundle, BuildRelease(root, version, "exec sleep 100000"));
  VIGIL_ASSIGN_OR_RETURN(auto outcome, Publish(cluster, bundle));
  Say("  published %s at block %llu", version.c_str(),
      static_cast<unsigned long long>(outcome.height));
  size_t devices = cluster.devices.size();
  VIGIL_RETURN_IF_ERROR(WaitForCount(narrator, cluster, "installed", version, devices - 1));
  auto refused = Activate(cluster, version, std::nullopt);
  if (refused) return Fail(ErrorCode::kInternal, "the activation below the threshold was ACCEPTED");
  Say("  refused  activation while %zu of %zu staged: %s", devices - 1, devices,
      refused.error().message().c_str());
  VIGIL_RETURN_IF_ERROR(peer::StartClusterDaemon(cluster, offline, peer::CurrentExecutable()));
  Say("  %s is back and stages %s", offline.name.c_str(), version.c_str());
  VIGIL_RETURN_IF_ERROR(WaitForCount(narrator, cluster, "installed", version, devices));
  PeerTarget target{.cluster = cluster.directory.string(), .peer = "", .as = ""};
  VIGIL_ASSIGN_OR_RETURN(auto client, ConnectToPeer(target));
  VIGIL_ASSIGN_OR_RETURN(api::StatusResponse status, client->Status());
  uint64_t at_height = status.height + 6;  // a few blocks ahead, for the operator to see
  auto started = std::chrono::steady_clock::now();
  VIGIL_ASSIGN_OR_RETURN(auto activation, Activate(cluster, version, at_height));
  Say("  vigil activate --version %s --at-height %llu: recorded at block %llu; every device "
      "waits for block %llu",
      version.c_str(), static_cast<unsigned long long>(at_height),
      static_cast<unsigned long long>(activation.height),
      static_cast<unsigned long long>(at_height));
  VIGIL_RETURN_IF_ERROR(SaySwitched(narrator, cluster, version, started));
  auto blocks = narrator.SwitchBlocks(version);
  if (blocks != std::set<uint64_t>{at_height}) {
    return Fail(ErrorCode::kInternal, "the devices did not all switch at block " +
                                          std::to_string(at_height));
  }
  return Ok();
}

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

// Tampering with the running release on one device: its agent's integrity monitor sees the
// change at once (inotify), restores the file from its pristine store, restarts the app (a
// configuration file changed) and reports `tamper detected` then `repaired` to the ledger, where
// the fleet's compliance shows it (the same answer as `vigil compliance`).
Status Tampering(const peer::Cluster& cluster, LedgerNarrator& narrator) {
  Heading(
      "Tamper with the running release on a device: it repairs itself, the ledger records both");
  const peer::ClusterDaemon& device = cluster.devices.front();
  std::filesystem::path relative =
      std::filesystem::path("state") / "apps" / kApp / "current" / "config" / "line.conf";
  std::filesystem::path line_conf = device.directory / relative;
  VIGIL_ASSIGN_OR_RETURN(Bytes genuine, ReadFile(line_conf, 64 * 1024));
  std::string genuine_text(genuine.begin(), genuine.end());
  size_t repaired_before = narrator.CountOf("repaired", device.name);
  const std::string tampered_text = "line_speed=9999\n";
  auto started = std::chrono::steady_clock::now();
  {
    std::ofstream out(line_conf, std::ios::trunc);
    out << tampered_text;
    if (!out.flush()) return Fail(ErrorCode::kIOError, "cannot write " + line_conf.string());
  }
  Say("  %s: overwrote %s: \"%s\" -> \"%s\"", device.name.c_str(), relative.c_str(),
      FirstLine(genuine_text).c_str(), FirstLine(tampered_text).c_str());
  if (!WaitFor([&] { return narrator.CountOf("repaired", device.name) > repaired_before; })) {
    return Fail(ErrorCode::kTimeout, device.name + " did not report a repair within " +
                                         std::to_string(kStepTimeout.count()) + " s; logs in " +
                                         device.directory.string());
  }
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  VIGIL_ASSIGN_OR_RETURN(Bytes now, ReadFile(line_conf, 64 * 1024));
  if (now != genuine) {
    return Fail(ErrorCode::kInternal, line_conf.string() + " still differs from the release");
  }
  Say("  %s on disk again: \"%s\" as published; %lld ms from the write to the repair's block",
      relative.filename().c_str(), FirstLine(genuine_text).c_str(),
      static_cast<long long>(took.count()));

  // The compliance answer of a peer that has the repair's block.
  uint64_t repaired_at = narrator.LastHeightOf("repaired", device.name);
  PeerTarget target{.cluster = cluster.directory.string(), .peer = "", .as = ""};
  VIGIL_ASSIGN_OR_RETURN(auto client, ConnectToPeer(target));
  Expected<compliance::ComplianceReport> report = FetchComplianceReport(*client, "");
  WaitFor([&] {
    if (report && report->height >= repaired_at) return true;
    report = FetchComplianceReport(*client, "");
    return report && report->height >= repaired_at;
  });
  if (!report) return std::unexpected(report.error());
  std::string legend;
  for (const auto& each : cluster.devices) {
    auto key = crypto::ReadPrivateKeyFile(each.directory / "node" / "key.pem");
    if (key) legend += " " + each.name + " = " + ToHex(key->public_key()).substr(0, 16) + ";";
  }
  Say("  fleet compliance on the ledger (vigil compliance):%s", legend.c_str());
  std::string text = compliance::FormatText(*report);
  for (size_t begin = 0; begin < text.size();) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    Say("    %s", text.substr(begin, end - begin).c_str());
    begin = end + 1;
  }
  return Ok();
}

// Each attack must be refused; the refusal is what the operator sees.
Status Attacks(const peer::Cluster& cluster, const std::filesystem::path& root) {
  Heading("Attacks: each one is refused, with the reason");
  int failures = 0;
  auto expect_refused = [&](const char* attack, auto outcome) {
    if (outcome) {
      Say("  !! %s was ACCEPTED", attack);
      ++failures;
    } else {
      Say("  refused  %-44s %s", attack, outcome.error().message().c_str());
    }
  };
  VIGIL_ASSIGN_OR_RETURN(auto older, BuildRelease(root, "1.5.0", "exec sleep 100000"));
  expect_refused("replaying an older version (rollback)", Publish(cluster, older));
  expect_refused("publishing a version that exists",
                 Publish(cluster, root / "releases" / "2.0.0.vigil"));
  VIGIL_ASSIGN_OR_RETURN(auto rogue, BuildRelease(root, "9.0.0", "exec sleep 100000"));
  expect_refused("publishing with a key that is not a publisher",
                 Publish(cluster, rogue, cluster.admins.front()));

  // One bit flipped in the archive, then in the manifest: the bundle's own checks catch both.
  VIGIL_ASSIGN_OR_RETURN(Bytes genuine, ReadFile(rogue, 64 * 1024 * 1024));
  for (auto [name, offset] : {std::pair{"a bit flip in the archive", genuine.size() - 80},
                              std::pair{"a bit flip in the manifest", size_t{60}}}) {
    Bytes flipped = genuine;
    flipped[offset] ^= 0x01;
    std::filesystem::path tampered = root / "releases" / "tampered.vigil";
    VIGIL_RETURN_IF_ERROR(WriteFileAtomically(tampered, flipped, 0644));
    expect_refused(name, Publish(cluster, tampered));
  }
  if (failures > 0) {
    return Fail(ErrorCode::kInternal, std::to_string(failures) + " attack(s) were not refused");
  }
  Say("  (the gateway and the devices refuse on their side too: certificates from another CA,");
  Say("   unenrolled and revoked devices, mirrors serving wrong or endless bytes, offers without");
  Say("   a valid ledger proof — each has a test in tests/gateway, tests/delivery, tests/agent.)");
  return Ok();
}

void StopAll(const peer::Cluster& cluster) {
  for (const auto& device : cluster.devices) (void)peer::StopClusterDaemon(device);
  if (cluster.gateway) (void)peer::StopClusterDaemon(*cluster.gateway);
  for (size_t i = 0; i < cluster.peers.size(); ++i) (void)peer::StopPeer(cluster, i);
}

// Ctrl-C (or SIGTERM, or a closed pipe such as `vigil demo | head`) during the demo: the
// peers, the gateway and the agents run in sessions of their own and would outlive it, so a
// thread waiting for those signals stops them before the demo exits (status 130).
class StopOnSignal {
 public:
  explicit StopOnSignal(const peer::Cluster& cluster) {
    sigemptyset(&signals_);
    for (int signal : {SIGINT, SIGTERM, SIGPIPE}) sigaddset(&signals_, signal);
    // Blocked in this thread before any other starts, so only the waiter receives them.
    pthread_sigmask(SIG_BLOCK, &signals_, &previous_);
    waiter_ = std::thread([this, &cluster] {
      int received = 0;
      if (sigwait(&signals_, &received) != 0 || stopping_) return;
      std::fprintf(stderr, "\nvigil demo: %s; stopping the demo's processes\n",
                   strsignal(received));
      StopAll(cluster);
      std::_Exit(130);
    });
  }
  ~StopOnSignal() {
    stopping_ = true;
    pthread_kill(waiter_.native_handle(), SIGTERM);  // wakes sigwait; nothing else sees it
    waiter_.join();
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

 private:
  sigset_t signals_{};
  sigset_t previous_{};
  std::atomic<bool> stopping_{false};
  std::thread waiter_;
};

Status RunStory(const peer::Cluster& cluster, const std::filesystem::path& root) {
  auto binary = peer::CurrentExecutable();
  Heading("Start the ledger: peers with their artifact stores (Tendermint BFT)");
  for (size_t i = 0; i < cluster.peers.size(); ++i) {
    VIGIL_RETURN_IF_ERROR(peer::StartPeer(cluster, i, binary));
    Say("  %s  %s:%u  artifacts https://%s:%u", cluster.peers[i].name.c_str(),
        cluster.peers[i].host.c_str(), cluster.peers[i].port, cluster.peers[i].host.c_str(),
        cluster.peers[i].artifacts_port);
  }
  VIGIL_RETURN_IF_ERROR(WaitForPeers(cluster, 60s));
  LedgerNarrator narrator(cluster);
  VIGIL_RETURN_IF_ERROR(narrator.Start());

  Heading("Enroll the devices on the ledger, start the gateway and the device agents");
  VIGIL_RETURN_IF_ERROR(StartPlant(cluster, binary));
  Say("  gateway on 127.0.0.1:%u; devices connect over mutual TLS and are admitted only because",
      cluster.gateway->port);
  Say("  the ledger lists their keys as enrolled");

  VIGIL_RETURN_IF_ERROR(FirstRelease(cluster, narrator, root, "1.0.0"));
  VIGIL_RETURN_IF_ERROR(StagedRollout(cluster, narrator, root, "2.0.0"));
  VIGIL_RETURN_IF_ERROR(Tampering(cluster, narrator));
  VIGIL_RETURN_IF_ERROR(Attacks(cluster, root));
  std::this_thread::sleep_for(500ms);  // let the last blocks print
  narrator.Stop();
  return Ok();
}

Status RunDemo(const DemoOptions& options) {
  std::filesystem::path root;
  if (options.directory.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "vigil-demo-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return Fail(ErrorCode::kIOError, "cannot create a temporary directory for the demo");
    }
    root = pattern;
  } else {
    root = options.directory;
    VIGIL_RETURN_IF_ERROR(EnsureDirectory(root, 0700));
  }
  Say("Vigil demo: %zu ledger peers, a gateway and %zu devices on this machine (files in %s)",
      options.peers, options.devices, root.c_str());
  peer::ClusterSpec spec;
  spec.directory = root / "cluster";
  spec.peers = options.peers;
  spec.chain_id = "vigil-demo";
  spec.empty_block_interval = 500ms;
  spec.devices = options.devices;
  spec.device_apps = {kApp};
  spec.device_auto_activate = false;  // seed 002: stage, switch on an activation
  VIGIL_ASSIGN_OR_RETURN(peer::Cluster cluster, peer::CreateCluster(spec));
  StopOnSignal stop_on_signal(cluster);
  Status status = RunStory(cluster, root);
  StopAll(cluster);
  if (!options.keep && status) {
    std::error_code ignored;
    std::filesystem::remove_all(root, ignored);
  }
  if (!status) {
    Say("\nThe demo stopped: %s", status.error().message().c_str());
    Say("Everything is kept in %s (logs: */*.log)", root.c_str());
    return status;
  }
  Heading("Done: every genuine step was accepted and recorded, every attack refused.");
  if (options.keep) Say("Kept everything in %s", root.c_str());
  return Ok();
}

}  // namespace

void RegisterDemoCommand(CLI::App& app, CommandContext& context) {
  CLI::App* command = app.add_subcommand(
      "demo",
      "Run the whole system on this machine and narrate it: ledger peers, a gateway and devices; "
      "publish v1 then v2, watch every device stage them and switch together on an activation, "
      "a tampered device repair itself, then see attacks refused");
  auto options = std::make_shared<DemoOptions>();
  command->add_option("--dir", options->directory,
                      "Where to put the cluster (default: a new temporary directory)");
  command->add_option("--peers", options->peers, "Ledger peers")->capture_default_str();
  command->add_option("--devices", options->devices, "Devices")->capture_default_str();
  command->add_flag("--keep", options->keep, "Keep the directory afterwards");
  command->add_flag("--verbose", options->verbose, "Also print the components' own log lines");
  command->callback([options, &context] {
    if (!options->verbose) spdlog::set_level(spdlog::level::err);
    if (Status status = RunDemo(*options); !status) {
      ReportError(context, "demo", status.error());
    }
  });
}
VIGIL_REGISTER_COMMAND(kOrderDemo, RegisterDemoCommand);

}  // namespace vigil::cli
