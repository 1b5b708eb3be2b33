// `vigil publish BUNDLE --key DIR`: upload a release bundle to the artifact stores, submit the
// publish transaction, wait for its block and print what the ledger recorded
// (docs/cli.md#vigil-publish). The work is publish::PublishBundle; this file holds the flags,
// the progress bar and the printing.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "artifacts/client.h"
#include "cli/commands.h"
#include "common/bytes.h"
#include "ledger/genesis.h"
#include "peer/cluster.h"
#include "publish/publish.h"

namespace vigil::cli {
namespace {

constexpr std::string_view kCommandName = "publish";
// The progress bar is redrawn at most this often (and once at the end of each store).
constexpr std::chrono::milliseconds kProgressRedrawInterval{100};
constexpr size_t kProgressBarCells = 30;

struct PublishOptions {
  std::string bundle;
  std::string key;
  std::string cluster;
  std::vector<std::string> peers;
  std::vector<std::string> artifacts;
  std::string genesis;
  std::string notes;
  bool json = false;
};

Expected<publish::PeerAddress> ParsePeer(const std::string& text) {
  const size_t colon = text.rfind(':');
  uint16_t port = 0;
  if (colon != std::string::npos) {
    std::string_view digits = std::string_view(text).substr(colon + 1);
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (error != std::errc() || end != digits.data() + digits.size()) port = 0;
  }
  if (colon == std::string::npos || colon == 0 || port == 0) {
    return Fail(ErrorCode::kInvalidArgument, "--peer must be host:port, not '" + text + "'");
  }
  return publish::PeerAddress{.host = text.substr(0, colon), .port = port};
}

// The cluster's defaults, then each flag given overrides its part.
Expected<publish::PublishRequest> BuildRequest(const PublishOptions& options) {
  publish::PublishRequest request;
  if (!options.cluster.empty()) {
    VIGIL_ASSIGN_OR_RETURN(peer::Cluster cluster, peer::ReadCluster(options.cluster));
    VIGIL_ASSIGN_OR_RETURN(request, publish::RequestForCluster(cluster, options.bundle));
  }
  request.bundle = options.bundle;
  request.notes = options.notes;
  if (!options.key.empty()) request.key_directory = options.key;
  if (!options.genesis.empty()) request.genesis = options.genesis;
  if (!options.peers.empty()) {
    request.peers.clear();
    for (const std::string& text : options.peers) {
      VIGIL_ASSIGN_OR_RETURN(publish::PeerAddress address, ParsePeer(text));
      request.peers.push_back(std::move(address));
    }
  }
  if (!options.artifacts.empty()) {
    request.artifact_stores.clear();
    for (const std::string& text : options.artifacts) {
      VIGIL_ASSIGN_OR_RETURN(artifacts::MirrorUrl url, artifacts::ParseMirrorUrl(text));
      request.artifact_stores.push_back(std::move(url));
    }
  }
  if (request.key_directory.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "who publishes? pass --key DIR (key.pem, cert.pem, ca.pem of a publisher) or "
                "--cluster DIR");
  }
  if (request.peers.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "which peer? pass --peer HOST:PORT or --cluster DIR");
  }
  if (request.artifact_stores.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "which artifact store? pass --artifacts https://HOST:PORT or --cluster DIR");
  }
  return request;
}

std::string Mebibytes(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

// One line on stderr, redrawn in place: store, bar, bytes, rate. Only on a terminal.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled) {}

  void Update(const artifacts::MirrorUrl& store, uint64_t done, uint64_t total) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    const std::string url = store.ToString();
    if (url != store_) {  // a new store: a new line, a new rate
      if (!store_.empty()) std::fputc('\n', stderr);
      store_ = url;
      started_ = now;
      first_bytes_ = done;
      last_draw_ = {};
    }
    if (done < total && now - last_draw_ < kProgressRedrawInterval) return;
    last_draw_ = now;
    const double seconds = std::chrono::duration<double>(now - started_).count();
    const double rate = seconds > 0 ? static_cast<double>(done - first_bytes_) / seconds : 0;
    const size_t filled = total == 0 ? kProgressBarCells
                                     : static_cast<size_t>(kProgressBarCells * done / total);
    std::string bar(filled, '#');
    bar.resize(kProgressBarCells, '.');
    std::fprintf(stderr, "\ruploading to %s [%s] %s / %s  %s/s ", url.c_str(), bar.c_str(),
                 Mebibytes(done).c_str(), Mebibytes(total).c_str(),
                 Mebibytes(static_cast<uint64_t>(rate)).c_str());
    std::fflush(stderr);
  }

  void Finish() {
    if (enabled_ && !store_.empty()) std::fputc('\n', stderr);
    store_.clear();
  }

 private:
  bool enabled_;
  std::string store_;
  std::chrono::steady_clock::time_point started_{};
  std::chrono::steady_clock::time_point last_draw_{};
  uint64_t first_bytes_ = 0;
};

nlohmann::json OutcomeJson(const publish::PublishOutcome& outcome) {
  nlohmann::json uploads = nlohmann::json::array();
  for (const publish::StoreUpload& upload : outcome.uploads) {
    uploads.push_back({{"url", upload.url},
                       {"stored", upload.stored},
                       {"resumed_from_bytes", upload.resumed_from_bytes},
                       {"problem", upload.problem}});
  }
  return {{"app", outcome.app},
          {"version", outcome.version},
          {"bundle_digest", ToHex(outcome.bundle_digest)},
          {"bundle_size_bytes", outcome.bundle_size_bytes},
          {"manifest_root", ToHex(outcome.manifest_root)},
          {"files", outcome.files},
          {"publisher", ToHex(outcome.publisher)},
          {"sequence", outcome.sequence},
          {"submissions", outcome.submissions},
          {"uploads", uploads},
          {"transaction_id", ToHex(outcome.transaction_id)},
          {"height", outcome.height},
          {"index", outcome.index},
          {"result", ledger::ResultCodeName(outcome.result.code)},
          {"verified", outcome.verified},
          {"block_time_ms", outcome.block_time_ms},
          {"peer", outcome.peer}};
}

void PrintOutcome(const publish::PublishOutcome& outcome, const publish::PublishRequest& request) {
  auto row = [](const char* field, const std::string& value) {
    std::printf("  %-14s %s\n", field, value.c_str());
  };
  std::printf("published %s %s\n", outcome.app.c_str(), outcome.version.c_str());
  row("bundle", ToHex(outcome.bundle_digest) + " (" + std::to_string(outcome.bundle_size_bytes) +
                    " bytes, " + std::to_string(outcome.files) +
                    (outcome.files == 1 ? " file)" : " files)"));
  row("manifest root", ToHex(outcome.manifest_root));
  row("publisher", ToHex(outcome.publisher) + ", sequence " + std::to_string(outcome.sequence));
  for (const publish::StoreUpload& upload : outcome.uploads) {
    std::string state = upload.stored ? "stored" : "NOT stored: " + upload.problem;
    if (upload.stored && upload.resumed_from_bytes > 0) {
      state += " (resumed from byte " + std::to_string(upload.resumed_from_bytes) + ")";
    }
    row("artifacts", upload.url + " " + state);
  }
  row("transaction", ToHex(outcome.transaction_id));
  std::string committed = "height " + std::to_string(outcome.height) + ", index " +
                          std::to_string(outcome.index);
  if (outcome.verified) committed += ", " + ledger::FormatUtcTimeMs(outcome.block_time_ms);
  row("committed", committed + " (via " + outcome.peer + ")");
  row("result", std::string(ledger::ResultCodeName(outcome.result.code)));
  if (outcome.verified) {
    std::printf("verified: the transaction's proof checks against the validators of %s\n",
                request.genesis->string().c_str());
  }
}

Status Run(const PublishOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(publish::PublishRequest request, BuildRequest(options));
  ProgressBar bar(::isatty(STDERR_FILENO) == 1);
  publish::PublishProgress progress{
      .on_stage = [&bar](publish::Stage stage) {
        if (stage != publish::Stage::kUploading) bar.Finish();
      },
      .on_upload = [&bar](const artifacts::MirrorUrl& store, uint64_t done,
                          uint64_t total) { bar.Update(store, done, total); }};
  auto outcome = publish::PublishBundle(request, progress);
  bar.Finish();
  if (!outcome) return std::unexpected(outcome.error());
  if (options.json) {
    PrintJson(OutcomeJson(*outcome));
  } else {
    PrintOutcome(*outcome, request);
  }
  return Ok();
}

void RegisterPublishCommand(CLI::App& app, CommandContext& context) {
  auto options = std::make_shared<PublishOptions>();
  CLI::App* command = app.add_subcommand(
      "publish",
      "Upload a release bundle to the artifact stores, submit the publish transaction, wait "
      "for its block and print what the ledger recorded");
  command->add_option("BUNDLE", options->bundle, "The bundle (`vigil release build`)")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("--key", options->key,
                      "The publisher's directory: key.pem, cert.pem, ca.pem (default: the "
                      "cluster's publisher/)");
  command
      ->add_option("--cluster", options->cluster,
                   "A `vigil cluster up` directory: its peers, their artifact stores, its "
                   "publisher and genesis (default: $VIGIL_CLUSTER)")
      ->envname("VIGIL_CLUSTER");
  command->add_option("--peer", options->peers,
                      "A peer's client address host:port (repeatable; tried in order)");
  command->add_option("--artifacts", options->artifacts,
                      "An artifact store URL, https://host:port (repeatable; every one gets the "
                      "upload, at least one must succeed)");
  command->add_option("--genesis", options->genesis,
                      "The chain's genesis.json: verify the committed transaction's proof "
                      "(default: the cluster's)");
  command->add_option("--notes", options->notes, "Release notes recorded on the ledger");
  command->add_flag("--json", options->json, "Print the outcome as one JSON object");
  command->callback([options, &context] {
    if (Status status = Run(*options); !status) {
      ReportError(context, kCommandName, status.error());
    }
  });
}

}  // namespace

VIGIL_REGISTER_COMMAND(kOrderPublish, RegisterPublishCommand);

}  // namespace vigil::cli
