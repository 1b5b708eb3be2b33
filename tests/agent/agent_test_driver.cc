// Test driver for the kill -9 tests (kill_test.cc): runs an UpdaterRunner on --root for the app
// "demo", optionally installs and activates --bundle, and exits 0 once the update has settled
// and the app has written the version it runs into $VIGIL_TEST_VERSION_FILE.
//
// VIGIL_AGENT_TEST_CRASH_AT=<state name> makes it SIGKILL itself right after the record of
// that state is persisted (before any of its actions run) — the worst moment to die.
// Reports are appended to <root>/reports.log, one per line: "<kind> <version> <detail>".
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "agent/updater_runner.h"
#include "release/bundle.h"

namespace {

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream file(path);
  std::string text;
  std::getline(file, text);
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  namespace agent = vigil::agent;
  std::filesystem::path root;
  std::filesystem::path bundle;
  bool activate = false;
  for (int i = 1; i < argc; ++i) {
    std::string argument = argv[i];
    if (argument == "--root" && i + 1 < argc) root = argv[++i];
    else if (argument == "--bundle" && i + 1 < argc) bundle = argv[++i];
    else if (argument == "--activate") activate = true;
  }
  if (root.empty()) {
    std::fprintf(stderr, "usage: agent_test_driver --root DIR [--bundle FILE] [--activate]\n");
    return 2;
  }
  const std::filesystem::path version_file = root / "running-version";
  ::setenv("VIGIL_TEST_VERSION_FILE", version_file.c_str(), 1);
  std::filesystem::remove(version_file);

  agent::UpdaterRunnerOptions options;
  options.root = root;
  options.supervisor.stop_grace_period = std::chrono::milliseconds(2'000);
  options.supervisor.restart_delay_initial = std::chrono::milliseconds(100);
  options.health_stay_up_default = std::chrono::milliseconds(500);
  options.health_timeout_default = std::chrono::milliseconds(3'000);
  if (const char* crash_at = std::getenv("VIGIL_AGENT_TEST_CRASH_AT")) {
    auto state = agent::ParseUpdaterState(crash_at);
    if (!state) {
      std::fprintf(stderr, "%s\n", state.error().ToString().c_str());
      return 2;
    }
    options.after_persist = [crash_state = *state](const agent::UpdaterRecord& record) {
      if (record.state == crash_state) ::raise(SIGKILL);
    };
  }
  asio::io_context io_context;
  std::ofstream reports(root / "reports.log", std::ios::app);
  agent::UpdaterRunner runner(
      io_context, options,
      [&](const vigil::ledger::DeviceReport& report, std::function<void()> accepted) {
        reports << vigil::ledger::DeviceReportKindName(report.report_kind) << " "
                << report.version << " " << report.detail << std::endl;
        accepted();
      });
  if (auto status = runner.Start(); !status) {
    std::fprintf(stderr, "start: %s\n", status.error().ToString().c_str());
    return 1;
  }
  const std::string app = "demo";
  if (!bundle.empty()) {
    auto summary = vigil::release::InspectBundle(bundle);
    if (!summary) {
      std::fprintf(stderr, "inspect: %s\n", summary.error().ToString().c_str());
      return 1;
    }
    vigil::delivery::VerifiedRelease release{
        .app = summary->manifest.app, .version = summary->manifest.version,
        .bundle_digest = summary->bundle_digest, .bundle_size_bytes = summary->bundle_size_bytes,
        .manifest_root = summary->manifest_root, .publisher = {}, .height = 1};
    // The runner deletes the bundle once unpacked: hand it a copy.
    std::filesystem::path copy = root / "download.bundle";
    std::filesystem::copy_file(bundle, copy, std::filesystem::copy_options::overwrite_existing);
    if (runner.WantsRelease(release)) {
      if (auto status = runner.Install(release, copy, std::chrono::microseconds(1000)); !status) {
        std::fprintf(stderr, "install: %s\n", status.error().ToString().c_str());
        return 1;
      }
    }
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool activation_requested = false;
  while (std::chrono::steady_clock::now() < deadline) {
    io_context.run_for(std::chrono::milliseconds(20));
    io_context.restart();
    auto record = runner.record(app);
    if (!record) continue;
    if (activate && !activation_requested && runner.settled(app) &&
        record->state == agent::UpdaterState::kStaged) {
      activation_requested = true;
      if (auto status = runner.Activate(app); !status) {
        std::fprintf(stderr, "activate: %s\n", status.error().ToString().c_str());
        return 1;
      }
      continue;
    }
    bool done = runner.settled(app) &&
                (record->state == agent::UpdaterState::kIdle || !activate);
    std::string running = runner.running_version(app);
    if (done && !running.empty() && ReadText(version_file) == running) {
      std::printf("settled state=%s running=%s\n",
                  std::string(agent::UpdaterStateName(record->state)).c_str(), running.c_str());
      return 0;
    }
  }
  std::fprintf(stderr, "timed out\n");
  return 3;
}
