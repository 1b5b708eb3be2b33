// `vigil ledger status|block|tail`: what a peer (or every peer of a local cluster) says about
// the chain, and committed blocks verified against the genesis validators before they are
// shown (docs/cli.md#vigil-ledger).
//
// Blocks are checked against the genesis validators by cli/verified_blocks.h.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/client.h"
#include "api/messages.h"
#include "cli/commands.h"
#include "cli/peer_target.h"
#include "cli/verified_blocks.h"
#include "common/bytes.h"
#include "consensus/types.h"
#include "ledger/block.h"
#include "ledger/genesis.h"
#include "ledger/transaction.h"
#include "peer/cluster.h"

namespace vigil::cli {
namespace {

using crypto::Sha256Digest;

constexpr std::string_view kStatusName = "ledger status";
constexpr std::string_view kBlockName = "ledger block";
constexpr std::string_view kTailName = "ledger tail";
// Hex characters shown of a key or hash in table columns.
constexpr size_t kShortHexCharacters = 16;
// How long `ledger tail` waits for the next block by default (a cluster makes an empty block
// every empty_block_interval_ms, 1 s by default, so a minute of silence means trouble).
constexpr uint32_t kTailIdleSecondsDefault = 60;

struct StatusOptions {
  PeerTarget target;
  bool json = false;
};

struct BlockOptions {
  PeerTarget target;
  uint64_t height = 0;  // 0: the latest
  std::string genesis;
  bool json = false;
};

struct TailOptions {
  PeerTarget target;
  std::optional<uint64_t> from;
  std::optional<uint64_t> count;
  uint32_t idle_seconds = kTailIdleSecondsDefault;
  std::string genesis;
  bool json = false;
};

std::string ShortHex(ByteSpan bytes) { return ToHex(bytes).substr(0, kShortHexCharacters); }

// Trust: the genesis validators (cli/verified_blocks.h, shared with `vigil history`).

// --- ledger status ---

nlohmann::json StatusJson(const api::StatusResponse& s) {
  return {{"node", s.node_name},
          {"chain_id", s.chain_id},
          {"genesis_hash", ToHex(s.genesis_hash)},
          {"height", s.height},
          {"block_hash", ToHex(s.block_hash)},
          {"state_hash", ToHex(s.state_hash)},
          {"block_time_ms", s.block_time_ms},
          {"rules_version", s.rules_version},
          {"validators", s.validators},
          {"is_validator", s.is_validator},
          {"peers_connected", s.peers_connected},
          {"mempool_transactions", s.mempool_transactions},
          {"mempool_bytes", s.mempool_bytes},
          {"consensus_round", s.consensus_round},
          {"evidence", s.evidence_count}};
}

void PrintStatusTable(const api::StatusResponse& s) {
  auto row = [](const char* field, const std::string& value) {
    std::printf("%-12s %s\n", field, value.c_str());
  };
  row("node", s.node_name + (s.is_validator ? " (validator)" : " (not a validator)"));
  row("chain", s.chain_id + " (genesis " + ShortHex(s.genesis_hash) + ")");
  row("height", std::to_string(s.height));
  row("block hash", ToHex(s.block_hash));
  row("state hash", ToHex(s.state_hash));
  row("block time", s.height == 0 ? "(genesis)" : ledger::FormatUtcTimeMs(s.block_time_ms));
  row("rules", "v" + std::to_string(s.rules_version));
  row("validators", std::to_string(s.validators));
  row("peers", std::to_string(s.peers_connected) + " connected");
  row("mempool", std::to_string(s.mempool_transactions) + " transactions, " +
                     std::to_string(s.mempool_bytes) + " bytes");
  row("round", std::to_string(s.consensus_round));
  row("evidence", std::to_string(s.evidence_count));
}

// One peer of a cluster: its status, or why there is none.
struct PeerRow {
  const peer::ClusterPeer* peer = nullptr;
  std::optional<api::StatusResponse> status;
  std::string problem;
};

std::vector<PeerRow> QueryCluster(const peer::Cluster& cluster, const PeerTarget& target) {
  std::vector<PeerRow> rows;
  for (size_t i = 0; i < cluster.peers.size(); ++i) {
    PeerRow row{.peer = &cluster.peers[i], .status = std::nullopt, .problem = ""};
    if (!peer::RunningPeer(cluster, i)) {
      row.problem = "not running";
      rows.push_back(std::move(row));
      continue;
    }
    PeerTarget one{.cluster = "",
                   .peer = row.peer->host + ":" + std::to_string(row.peer->port),
                   .as = target.as.empty() ? cluster.admins.front().string() : target.as};
    auto client = ConnectToPeer(one);
    auto status = client ? (*client)->Status()
                         : Expected<api::StatusResponse>(std::unexpected(client.error()));
    if (status) {
      row.status = std::move(*status);
    } else {
      row.problem = status.error().message();
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

void PrintClusterTable(const peer::Cluster& cluster, const std::vector<PeerRow>& rows) {
  std::printf("cluster %s, chain %s\n", cluster.directory.c_str(), cluster.chain_id.c_str());
  std::printf("%-8s %-21s %7s %-16s %-16s %-24s %5s %5s %7s %5s %5s\n", "peer", "address", "height",
              "block hash", "state hash", "block time", "rules", "peers", "mempool", "round",
              "evid.");
  for (const PeerRow& row : rows) {
    std::string address = row.peer->host + ":" + std::to_string(row.peer->port);
    if (!row.status) {
      std::printf("%-8s %-21s %s\n", row.peer->name.c_str(), address.c_str(), row.problem.c_str());
      continue;
    }
    const api::StatusResponse& s = *row.status;
    std::printf(
        "%-8s %-21s %7llu %-16s %-16s %-24s %5u %5u %7llu %5u %5llu\n", row.peer->name.c_str(),
        address.c_str(), static_cast<unsigned long long>(s.height), ShortHex(s.block_hash).c_str(),
        ShortHex(s.state_hash).c_str(),
        (s.height == 0 ? std::string("(genesis)") : ledger::FormatUtcTimeMs(s.block_time_ms))
            .c_str(),
        s.rules_version, s.peers_connected, static_cast<unsigned long long>(s.mempool_transactions),
        s.consensus_round, static_cast<unsigned long long>(s.evidence_count));
  }
}

Status RunStatus(const StatusOptions& options) {
  // --cluster alone: every peer side by side. --peer picks one.
  if (!options.target.cluster.empty() && options.target.peer.empty()) {
    VIGIL_ASSIGN_OR_RETURN(peer::Cluster cluster, peer::ReadCluster(options.target.cluster));
    std::vector<PeerRow> rows = QueryCluster(cluster, options.target);
    size_t answered =
        std::ranges::count_if(rows, [](const PeerRow& row) { return row.status.has_value(); });
    if (options.json) {
      nlohmann::json peers = nlohmann::json::array();
      for (const PeerRow& row : rows) {
        nlohmann::json peer = row.status ? StatusJson(*row.status) : nlohmann::json::object();
        peer["name"] = row.peer->name;
        peer["address"] = row.peer->host + ":" + std::to_string(row.peer->port);
        if (!row.status) peer["error"] = row.problem;
        peers.push_back(std::move(peer));
      }
      PrintJson({{"directory", cluster.directory.string()},
                 {"chain_id", cluster.chain_id},
                 {"peers", peers}});
    } else {
      PrintClusterTable(cluster, rows);
    }
    if (answered == 0) {
      return Fail(ErrorCode::kUnavailable, "no peer of the cluster at " + options.target.cluster +
                                               " answered (`vigil cluster up --dir " +
                                               options.target.cluster + "`)");
    }
    return Ok();
  }
  VIGIL_ASSIGN_OR_RETURN(auto client, ConnectToPeer(options.target));
  VIGIL_ASSIGN_OR_RETURN(api::StatusResponse status, client->Status());
  if (options.json) {
    PrintJson(StatusJson(status));
  } else {
    PrintStatusTable(status);
  }
  return Ok();
}

// --- ledger block ---

struct TransactionLine {
  std::string id;
  std::string kind;
  std::string signer;
  uint64_t sequence = 0;
  const ledger::TransactionResult* result = nullptr;
};

std::vector<TransactionLine> DescribeTransactions(const ledger::Block& block,
                                                  const api::CommittedBlock& committed) {
  std::vector<TransactionLine> lines;
  for (size_t i = 0; i < block.transactions.size(); ++i) {
    TransactionLine line{.id = ToHex(ledger::ComputeTransactionId(block.transactions[i])),
                         .kind = "undecodable",
                         .signer = "",
                         .sequence = 0,
                         .result = &committed.results[i]};
    // Committed transactions passed the stateless check, so this decodes; say so if not.
    if (auto envelope = ledger::DecodeEnvelope(block.transactions[i])) {
      line.kind = ledger::TransactionKindName(envelope->kind);
      line.signer = ToHex(envelope->signer);
      line.sequence = envelope->sequence;
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

nlohmann::json BlockJson(const ledger::Block& block, const api::CommittedBlock& committed,
                         const Trusted& trusted) {
  const ledger::BlockHeader& h = block.header;
  nlohmann::json transactions = nlohmann::json::array();
  for (const TransactionLine& line : DescribeTransactions(block, committed)) {
    transactions.push_back({{"id", line.id},
                            {"kind", line.kind},
                            {"signer", line.signer},
                            {"sequence", line.sequence},
                            {"result", ledger::ResultCodeName(line.result->code)},
                            {"reason", line.result->reason}});
  }
  nlohmann::json json = {{"height", h.height},
                         {"hash", ToHex(ledger::BlockHash(h))},
                         {"chain_id", h.chain_id},
                         {"time_ms", h.time_ms},
                         {"previous_block_hash", ToHex(h.previous_block_hash)},
                         {"transactions_root", ToHex(h.transactions_root)},
                         {"results_root", ToHex(h.results_root)},
                         {"state_hash", ToHex(h.state_hash)},
                         {"rules_version", h.rules_version},
                         {"proposer", ToHex(h.proposer)},
                         {"certificate",
                          {{"round", committed.certificate.round},
                           {"signatures", committed.certificate.signatures.size()}}},
                         {"transactions", transactions},
                         {"verified", true},
                         {"validators", trusted.validators.size()}};
  if (block.last_commit) {
    json["last_commit"] = {{"height", block.last_commit->height},
                           {"round", block.last_commit->round},
                           {"signatures", block.last_commit->signatures.size()}};
  }
  return json;
}

void PrintBlockText(const ledger::Block& block, const api::CommittedBlock& committed,
                    const Trusted& trusted) {
  const ledger::BlockHeader& h = block.header;
  auto row = [](const char* field, const std::string& value) {
    std::printf("  %-18s %s\n", field, value.c_str());
  };
  std::printf("block %llu\n", static_cast<unsigned long long>(h.height));
  row("hash", ToHex(ledger::BlockHash(h)));
  row("chain", h.chain_id);
  row("time", ledger::FormatUtcTimeMs(h.time_ms));
  row("previous block", ToHex(h.previous_block_hash));
  row("transactions root", ToHex(h.transactions_root));
  row("results root", ToHex(h.results_root));
  row("state hash", ToHex(h.state_hash) +
                        (h.height == 1 ? std::string(" (after genesis)")
                                       : " (after block " + std::to_string(h.height - 1) + ")"));
  row("rules", "v" + std::to_string(h.rules_version));
  row("proposer", ToHex(h.proposer));
  row("certificate", "round " + std::to_string(committed.certificate.round) + ", " +
                         std::to_string(committed.certificate.signatures.size()) + " signatures");
  if (block.last_commit) {
    row("last commit", "block " + std::to_string(block.last_commit->height) + ", round " +
                           std::to_string(block.last_commit->round) + ", " +
                           std::to_string(block.last_commit->signatures.size()) + " signatures");
  }
  std::printf("transactions (%zu)\n", block.transactions.size());
  size_t index = 0;
  for (const TransactionLine& line : DescribeTransactions(block, committed)) {
    std::string result(ledger::ResultCodeName(line.result->code));
    if (!line.result->reason.empty()) result += ": " + line.result->reason;
    std::printf("  %3zu %s %-16s signer %s seq %llu  %s\n", index++,
                line.id.substr(0, kShortHexCharacters).c_str(), line.kind.c_str(),
                line.signer.substr(0, kShortHexCharacters).c_str(),
                static_cast<unsigned long long>(line.sequence), result.c_str());
  }
  std::printf("%s\n", VerifiedSentence(trusted, committed).c_str());
}

Status RunBlock(const BlockOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(Trusted trusted, LoadTrusted(options.genesis, options.target));
  VIGIL_ASSIGN_OR_RETURN(auto client, ConnectToPeer(options.target));
  VIGIL_ASSIGN_OR_RETURN(api::StatusResponse status, client->Status());
  VIGIL_ASSIGN_OR_RETURN(api::BlockResponse response, client->GetBlock(options.height));
  if (!response.block) {
    const std::string tip = " (the chain is at height " + std::to_string(status.height) + ")";
    return Fail(ErrorCode::kNotFound,
                options.height == 0 ? "the chain has no block yet"
                                    : "no block at height " + std::to_string(options.height) + tip);
  }
  if (options.height != 0 && response.block->height != options.height) {
    return Fail(ErrorCode::kCorruption, "asked for block " + std::to_string(options.height) +
                                            ", the peer sent block " +
                                            std::to_string(response.block->height));
  }
  VIGIL_ASSIGN_OR_RETURN(ledger::Block block,
                         VerifyBlock(trusted, *response.block, status.genesis_hash));
  if (options.json) {
    PrintJson(BlockJson(block, *response.block, trusted));
  } else {
    PrintBlockText(block, *response.block, trusted);
  }
  return Ok();
}

// --- ledger tail ---

Status RunTail(const TailOptions& options) {
  if (options.count && *options.count == 0) {
    return Fail(ErrorCode::kInvalidArgument, "--count must be at least 1");
  }
  if (options.idle_seconds == 0) {
    return Fail(ErrorCode::kInvalidArgument, "--idle-seconds must be at least 1");
  }
  VIGIL_ASSIGN_OR_RETURN(Trusted trusted, LoadTrusted(options.genesis, options.target));
  VIGIL_ASSIGN_OR_RETURN(auto client, ConnectToPeer(options.target));
  VIGIL_ASSIGN_OR_RETURN(api::StatusResponse status, client->Status());
  // Like tail(1): by default the newest block first, then each one as it commits.
  const uint64_t from = std::max<uint64_t>(options.from.value_or(status.height), 1);
  if (!options.json) {
    std::printf("%7s  %-24s %4s  %-16s %s\n", "height", "time", "txs", "proposer", "hash");
    std::fflush(stdout);
  }
  uint64_t expected = from;
  uint64_t shown = 0;
  Status failure = Ok();
  auto on_block = [&](const api::CommittedBlock& committed) {
    if (committed.height != expected) {
      failure = Fail(ErrorCode::kCorruption, "expected block " + std::to_string(expected) +
                                                 ", the peer sent block " +
                                                 std::to_string(committed.height));
      return false;
    }
    auto block = VerifyBlock(trusted, committed, status.genesis_hash);
    if (!block) {
      failure = std::unexpected(block.error());
      return false;
    }
    const ledger::BlockHeader& h = block->header;
    const std::string hash = ToHex(ledger::BlockHash(h));
    if (options.json) {
      PrintJson({{"height", h.height},
                 {"time_ms", h.time_ms},
                 {"transactions", block->transactions.size()},
                 {"proposer", ToHex(h.proposer)},
                 {"hash", hash},
                 {"signatures", committed.certificate.signatures.size()},
                 {"verified", true}});
    } else {
      std::printf("%7llu  %-24s %4zu  %-16s %s\n", static_cast<unsigned long long>(h.height),
                  ledger::FormatUtcTimeMs(h.time_ms).c_str(), block->transactions.size(),
                  ShortHex(h.proposer).c_str(), hash.c_str());
    }
    // Each line as it comes, also into a pipe: tail runs until Ctrl-C.
    std::fflush(stdout);
    ++expected;
    ++shown;
    return !options.count || shown < *options.count;
  };
  Status subscribed = client->Subscribe(from, on_block, std::chrono::seconds(options.idle_seconds));
  if (!failure) return failure;
  if (!subscribed) {
    if (subscribed.error().code() == ErrorCode::kTimeout) {
      return Fail(ErrorCode::kTimeout, "no block " + std::to_string(expected) + " within " +
                                           std::to_string(options.idle_seconds) +
                                           " s (--idle-seconds); is the chain stalled? try "
                                           "`vigil ledger status`");
    }
    return subscribed;
  }
  return Ok();
}

// --- Registration ---

void RegisterStatus(CLI::App* ledger, CommandContext& context) {
  auto options = std::make_shared<StatusOptions>();
  CLI::App* command = ledger->add_subcommand(
      "status", "The peer's view of the chain; with --cluster DIR, every peer side by side");
  AddPeerTargetOptions(*command, options->target);
  command->add_flag("--json", options->json, "Print a JSON object instead of text");
  command->callback([options, &context] {
    if (Status status = RunStatus(*options); !status) {
      ReportError(context, kStatusName, status.error());
    }
  });
}

void RegisterBlock(CLI::App* ledger, CommandContext& context) {
  auto options = std::make_shared<BlockOptions>();
  CLI::App* command = ledger->add_subcommand(
      "block",
      "One committed block (default: the latest), verified against the genesis "
      "validators before it is shown");
  command->add_option("HEIGHT", options->height, "Block height (default: the latest)");
  AddPeerTargetOptions(*command, options->target);
  command->add_option("--genesis", options->genesis,
                      "The chain's genesis.json, whose validators are trusted (default: the "
                      "cluster's)");
  command->add_flag("--json", options->json, "Print a JSON object instead of text");
  command->callback([options, &context] {
    if (Status status = RunBlock(*options); !status) {
      ReportError(context, kBlockName, status.error());
    }
  });
}

void RegisterTail(CLI::App* ledger, CommandContext& context) {
  auto options = std::make_shared<TailOptions>();
  CLI::App* command = ledger->add_subcommand(
      "tail", "Follow committed blocks, one verified line each, until --count blocks or Ctrl-C");
  AddPeerTargetOptions(*command, options->target);
  command->add_option("--from", options->from, "First height (default: the latest block)");
  command->add_option("--count", options->count, "Stop after this many blocks");
  command
      ->add_option("--idle-seconds", options->idle_seconds,
                   "Give up when no block comes for this long")
      ->capture_default_str();
  command->add_option("--genesis", options->genesis,
                      "The chain's genesis.json, whose validators are trusted (default: the "
                      "cluster's)");
  command->add_flag("--json", options->json, "One JSON object per block instead of text");
  command->callback([options, &context] {
    if (Status status = RunTail(*options); !status) {
      ReportError(context, kTailName, status.error());
    }
  });
}

}  // namespace

void RegisterLedgerCommand(CLI::App& app, CommandContext& context) {
  CLI::App* ledger = app.add_subcommand(
      "ledger",
      "Read the chain from a peer: status, verified blocks, and new blocks as they "
      "commit");
  ledger->require_subcommand(1);
  RegisterStatus(ledger, context);
  RegisterBlock(ledger, context);
  RegisterTail(ledger, context);
}
VIGIL_REGISTER_COMMAND(kOrderLedger, RegisterLedgerCommand);

}  // namespace vigil::cli
