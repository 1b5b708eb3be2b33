// `vigil bench ledger`: the ledger's system benchmark (docs/benchmarks.md#ledger).
//
// Peers run as separate `vigil peer` processes on loopback (a `vigil cluster`), with durable
// commits (SQLite synchronous=FULL). The load is 256-byte signed device reports from enrolled
// devices, submitted over the client API by one asynchronous driver in this process, each
// answered when its block commits. In the same run, a 3-member etcd cluster (Debian's
// etcd-server) takes the same load and the ratio is printed.
//
// Phases: 4 peers, closed loop (`--concurrency` in flight) for `--duration` s: sustained
// throughput; 4 peers, open loop at `--rate` tx/s: commit latency measured from each
// transaction's intended send time; 1 peer, closed loop; then etcd, closed and open loop.
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <CLI/CLI.hpp>
#include <sys/utsname.h>

#include <time.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "api/messages.h"
#include "bench/etcd_load.h"
#include "bench/load_stats.h"
#include "cli/commands.h"
#include "common/log.h"
#include "crypto/crypto.h"
#include "ledger/transaction.h"
#include "peer/cluster.h"
#include "pki/pki.h"
#include "transport/client.h"
#include "transport/tls.h"

namespace vigil::cli {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr size_t kTransactionBytes = 256;
// Devices that sign the load (each has its own sequence, so many can be in flight at once).
constexpr size_t kDevices = 2000;
// Governance transactions per batch while enrolling (under the mempool's per-signer bound).
constexpr size_t kEnrollBatch = 500;
constexpr size_t kConnectionsPerPeer = 2;

struct BenchLedgerOptions {
  size_t peers = 4;
  uint32_t duration_seconds = 60;
  uint32_t warmup_seconds = 5;
  double rate = 1000;
  size_t concurrency = 512;
  size_t verify_threads = 2;
  bool skip_single = false;
  bool skip_etcd = false;
  bool json = false;
  std::string directory;  // default: a fresh directory under /tmp
};

crypto::PrivateKey DeviceKey(size_t index) {
  std::array<uint8_t, 32> seed{};
  seed[0] = 0xbe;
  for (size_t i = 0; i < 8; ++i) seed[1 + i] = static_cast<uint8_t>(index >> (8 * i));
  return *crypto::PrivateKey::FromSeed(seed);
}

// A device report padded so its signed envelope is exactly kTransactionBytes.
Bytes SignReport(const std::string& chain_id, const crypto::PrivateKey& device, uint64_t sequence) {
  ledger::DeviceReport report{.report_kind = ledger::DeviceReportKind::kIntegritySnapshot,
                              .app = "bench",
                              .version = "1.0.0",
                              .observed_time_ms = 0,
                              .snapshot_root = crypto::Sha256(AsBytes("bench")),
                              .files_changed = 0,
                              .duration_ms = 0,
                              .detail = ""};
  Bytes encoded = ledger::SignTransaction(chain_id, report, sequence, device);
  if (encoded.size() < kTransactionBytes) {
    report.detail.assign(kTransactionBytes - encoded.size(), 'x');
    encoded = ledger::SignTransaction(chain_id, report, sequence, device);
  }
  return encoded;
}

// Submits transactions over several mutual-TLS sessions and measures each one's commit.
class VigilLoadDriver {
 public:
  // `transactions[i]` goes to session `session_of[i]`; a signer's transactions share a
  // session, so they arrive in sequence order.
  VigilLoadDriver(const peer::Cluster& cluster, const pki::NodeCredentials& credentials)
      : cluster_(cluster), credentials_(credentials) {}

  Status Connect(size_t peers_used) {
    VIGIL_ASSIGN_OR_RETURN(tls_, transport::TlsContext::Create(credentials_,
                                                               transport::TlsSide::kClient));
    for (size_t p = 0; p < peers_used; ++p) {
      for (size_t c = 0; c < kConnectionsPerPeer; ++c) {
        transport::DialOptions dial;
        dial.host = cluster_.peers[p].host;
        dial.port = cluster_.peers[p].port;
        dial.connection.allowed_peer_roles = {pki::Role::kPeer};
        dial.connection.frame_payload_bytes_max = limits::kFramePayloadBytesMax;
        dial.connection.send_queue_bytes_max = 2 * limits::kFramePayloadBytesMax;
        transport::Handlers handlers;
        handlers.on_open = [this](const transport::ConnectionPointer&) { ++open_; };
        handlers.on_frame = [this](const transport::ConnectionPointer&,
                                   transport::FrameType type, ByteSpan payload) {
          OnFrame(type, payload);
        };
        handlers.on_close = [this](const transport::ConnectionPointer&, const Error& error) {
          if (!finished_) closed_error_ = error;
        };
        sessions_.push_back(transport::Dial(io_context_, tls_, std::move(dial), handlers));
      }
    }
    auto deadline = Clock::now() + 10s;
    while (open_ < sessions_.size() && !closed_error_ && Clock::now() < deadline) {
      io_context_.run_one_for(100ms);
    }
    if (open_ < sessions_.size()) {
      return Fail(ErrorCode::kUnavailable,
                  "cannot open the benchmark's sessions: " +
                      (closed_error_ ? closed_error_->message() : std::string("timeout")));
    }
    return Ok();
  }

  size_t sessions() const { return sessions_.size(); }

  // Submits every transaction (in order, `concurrency` in flight) and waits for all commits;
  // for setup (enrollment), not measured.
  Status SubmitAll(std::vector<Bytes> transactions, std::vector<size_t> session_of,
                   size_t concurrency) {
    bench::LoadSpec spec;
    spec.concurrency = concurrency;
    spec.duration = std::chrono::seconds(3600);
    spec.warmup = 0s;
    auto result = Run(std::move(transactions), std::move(session_of), spec, true);
    if (!result) return std::unexpected(result.error());
    if (result->failed > 0) {
      return Fail(ErrorCode::kInternal, std::to_string(result->failed) +
                                            " setup transactions were refused: " + first_refusal_);
    }
    return Ok();
  }

  // One measured run. Closed loop when spec.offered_per_second == 0, else open loop.
  Expected<bench::LoadResult> Run(std::vector<Bytes> transactions, std::vector<size_t> session_of,
                                  const bench::LoadSpec& spec, bool until_done = false) {
    transactions_ = std::move(transactions);
    session_of_ = std::move(session_of);
    sent_at_.assign(transactions_.size(), Clock::time_point{});
    intended_at_.assign(transactions_.size(), Clock::time_point{});
    next_ = 0;
    in_flight_ = 0;
    answered_ = 0;
    committed_in_window_ = 0;
    failed_in_window_ = 0;
    failed_ = 0;
    first_refusal_.clear();
    latencies_ = bench::LatencyRecorder();
    finished_ = false;

    timespec cpu_start{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_start);
    start_ = Clock::now();
    window_begin_ = start_ + spec.warmup;
    window_end_ = until_done ? Clock::time_point::max() : window_begin_ + spec.duration;
    const bool open_loop = spec.offered_per_second > 0;
    std::optional<bench::SendSchedule> schedule;
    if (open_loop) schedule.emplace(spec.offered_per_second);
    asio::steady_timer pacer(io_context_);
    std::function<void()> pace = [&] {
      // Open loop: send what is due by now, each stamped with its intended send time.
      auto now = Clock::now();
      if (now >= window_end_) return;
      auto due = schedule->FirstIndexAtOrAfter(now - start_ + std::chrono::nanoseconds(1));
      while (next_ < due && next_ < transactions_.size()) {
        Send(start_ + std::chrono::duration_cast<Clock::duration>(schedule->Offset(next_)));
      }
      pacer.expires_after(1ms);
      pacer.async_wait([&](const asio::error_code& error) {
        if (!error) pace();
      });
    };
    if (open_loop) {
      pace();
    } else {
      while (in_flight_ < spec.concurrency && next_ < transactions_.size()) Send(Clock::now());
      refill_ = [this, &spec] {
        if (Clock::now() >= window_end_) return;
        while (in_flight_ < spec.concurrency && next_ < transactions_.size()) Send(Clock::now());
      };
    }
    // Run until the window closes (and what was sent in it is answered, at most 15 s more).
    for (;;) {
      io_context_.run_one_for(50ms);
      if (closed_error_) {
        return Fail(ErrorCode::kUnavailable, "a session closed: " + closed_error_->message());
      }
      auto now = Clock::now();
      bool all_answered = answered_ == next_;
      if (until_done && all_answered && next_ == transactions_.size()) break;
      if (!until_done && now >= window_end_ && (all_answered || now >= window_end_ + 15s)) break;
      if (!until_done && next_ == transactions_.size() && all_answered) {
        return Fail(ErrorCode::kResourceExhausted,
                    "the benchmark ran out of pre-signed transactions before the window closed "
                    "(the peers are faster than expected: raise the pre-signed count)");
      }
    }
    pacer.cancel();
    refill_ = nullptr;
    io_context_.restart();
    io_context_.poll();
    timespec cpu_end{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_end);
    bench::LoadResult result;
    for (size_t i = 0; i < next_; ++i) result.submitted += InWindow(i) ? 1 : 0;
    result.committed = committed_in_window_;
    result.failed = until_done ? failed_ : failed_in_window_;
    result.first_failure = first_refusal_;
    result.driver_cpu_seconds = static_cast<double>(cpu_end.tv_sec - cpu_start.tv_sec) +
                                static_cast<double>(cpu_end.tv_nsec - cpu_start.tv_nsec) / 1e9;
    result.seconds = until_done ? std::chrono::duration<double>(Clock::now() - start_).count()
                                : std::chrono::duration<double>(spec.duration).count();
    result.throughput_per_second = static_cast<double>(result.committed) / result.seconds;
    result.latency_p50_ms = latencies_.PercentileMs(0.50);
    result.latency_p99_ms = latencies_.PercentileMs(0.99);
    result.latency_max_ms = latencies_.MaxMs();
    return result;
  }

  void Close() {
    finished_ = true;
    for (auto& session : sessions_) {
      if (session && session->is_open()) session->Close("benchmark done");
    }
    io_context_.run_for(300ms);
  }

  const std::string& first_refusal() const { return first_refusal_; }

  bool InWindow(size_t index) const {
    return intended_at_[index] >= window_begin_ && intended_at_[index] < window_end_;
  }

 private:
  void Send(Clock::time_point intended) {
    size_t index = next_++;
    intended_at_[index] = intended;
    sent_at_[index] = Clock::now();
    ++in_flight_;
    api::SubmitRequest request{.request_id = index + 1,
                               .transaction = std::move(transactions_[index]),
                               .wait_for_commit = true};
    Status sent = sessions_[session_of_[index]]->Send(api::kFrameSubmitRequest,
                                                      api::Encode(request));
    if (!sent) {
      ++failed_;
      ++answered_;
      --in_flight_;
      if (first_refusal_.empty()) first_refusal_ = sent.error().message();
    }
  }

  void OnFrame(transport::FrameType type, ByteSpan payload) {
    if (type != api::kFrameSubmitResponse) return;
    auto response = api::DecodeSubmitResponse(payload);
    if (!response || response->request_id == 0 || response->request_id > next_) return;
    if (response->outcome == api::SubmitOutcome::kPending) return;  // not expected with wait
    size_t index = response->request_id - 1;
    auto now = Clock::now();
    ++answered_;
    --in_flight_;
    bool ok = response->outcome == api::SubmitOutcome::kCommitted && response->result.ok();
    if (!ok && first_refusal_.empty()) first_refusal_ = response->result.reason;
    // As bench/load_stats.h defines it for every driver: a request counts when its send time
    // (the intended one in the open loop) is in the window; latency runs from that time.
    if (InWindow(index)) {
      if (ok) {
        ++committed_in_window_;
        latencies_.Add(
            std::chrono::duration_cast<std::chrono::microseconds>(now - intended_at_[index]));
      } else {
        ++failed_in_window_;
      }
    }
    if (!ok) ++failed_;
    if (refill_) refill_();
  }

  const peer::Cluster& cluster_;
  const pki::NodeCredentials& credentials_;
  asio::io_context io_context_;
  std::shared_ptr<transport::TlsContext> tls_;
  std::vector<transport::ConnectionPointer> sessions_;
  size_t open_ = 0;
  std::optional<Error> closed_error_;
  bool finished_ = false;

  std::vector<Bytes> transactions_;
  std::vector<size_t> session_of_;
  std::vector<Clock::time_point> sent_at_;
  std::vector<Clock::time_point> intended_at_;
  size_t next_ = 0;
  size_t in_flight_ = 0;
  size_t answered_ = 0;
  uint64_t committed_in_window_ = 0;
  uint64_t failed_in_window_ = 0;
  uint64_t failed_ = 0;
  std::string first_refusal_;
  bench::LatencyRecorder latencies_;
  Clock::time_point start_, window_begin_, window_end_;
  std::function<void()> refill_;
};

// Signs `rounds` reports of every device (sequence first_sequence..), round-major, on all
// cores; device d's reports go to session d % sessions.
void SignLoad(const std::string& chain_id, const std::vector<crypto::PrivateKey>& devices,
              uint64_t first_sequence, size_t rounds, size_t sessions,
              std::vector<Bytes>& transactions, std::vector<size_t>& session_of) {
  size_t count = rounds * devices.size();
  transactions.assign(count, Bytes());
  session_of.assign(count, 0);
  size_t threads = std::max<size_t>(1, std::thread::hardware_concurrency());
  std::vector<std::thread> workers;
  for (size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (size_t i = t; i < count; i += threads) {
        size_t round = i / devices.size();
        size_t device = i % devices.size();
        transactions[i] = SignReport(chain_id, devices[device], first_sequence + round);
        session_of[i] = device % sessions;
      }
    });
  }
  for (auto& worker : workers) worker.join();
}

struct Phase {
  std::string label;
  bench::LoadResult result;
};

// One run on a fresh Vigil cluster: create, start, enroll the devices, sign, measure, stop.
// (Each run starts from a new chain, as a repeatable measurement should.)
Expected<Phase> BenchVigil(size_t peers, size_t verify_threads,
                           const std::filesystem::path& directory,
                           const std::string& label, const bench::LoadSpec& load,
                           const std::function<void(const std::string&)>& progress) {
  peer::ClusterSpec spec;
  spec.directory = directory;
  spec.peers = peers;
  spec.chain_id = "bench-ledger";
  spec.durable = true;
  spec.verify_threads = verify_threads;
  VIGIL_ASSIGN_OR_RETURN(peer::Cluster cluster, peer::CreateCluster(spec));
  auto binary = peer::CurrentExecutable();
  struct Stopper {
    peer::Cluster& cluster;
    ~Stopper() {
      for (size_t i = 0; i < cluster.peers.size(); ++i) (void)peer::StopPeer(cluster, i);
    }
  } stopper{cluster};
  for (size_t i = 0; i < peers; ++i) {
    auto started = peer::StartPeer(cluster, i, binary);
    if (!started) return std::unexpected(started.error());
  }
  VIGIL_ASSIGN_OR_RETURN(pki::NodeCredentials credentials,
                         pki::LoadNodeDirectory(cluster.admins.front()));
  VIGIL_ASSIGN_OR_RETURN(crypto::PrivateKey admin,
                         crypto::ReadPrivateKeyFile(cluster.admins.front() / "key.pem"));
  VigilLoadDriver driver(cluster, credentials);
  // The peers take a moment to listen.
  Status connected = Fail(ErrorCode::kUnavailable, "not tried");
  for (int attempt = 0; attempt < 50 && !connected; ++attempt) {
    std::this_thread::sleep_for(200ms);
    connected = driver.Connect(peers);
  }
  VIGIL_RETURN_IF_ERROR(connected);

  progress(label + ": enrolling " + std::to_string(kDevices) + " devices");
  std::vector<crypto::PrivateKey> devices;
  devices.reserve(kDevices);
  for (size_t i = 0; i < kDevices; ++i) devices.push_back(DeviceKey(i));
  for (size_t first = 0; first < kDevices; first += kEnrollBatch) {
    std::vector<Bytes> enrollments;
    for (size_t i = first; i < std::min(kDevices, first + kEnrollBatch); ++i) {
      enrollments.push_back(ledger::SignTransaction(
          spec.chain_id,
          ledger::EnrollDevice{.device_key = devices[i].public_key(), .group = "bench",
                               .labels = {}},
          i + 1, admin));
    }
    std::vector<size_t> to_first(enrollments.size(), 0);
    VIGIL_RETURN_IF_ERROR(driver.SubmitAll(std::move(enrollments), std::move(to_first), 1000));
  }

  // Pre-signed, more than the fastest expected rate needs, so signing never competes with the
  // peers for the CPU while measuring.
  double expected_rate = load.offered_per_second > 0 ? load.offered_per_second * 1.05 : 20000;
  double seconds = static_cast<double>((load.warmup + load.duration).count()) + 1;
  size_t rounds = static_cast<size_t>(expected_rate * seconds / kDevices) + 1;
  progress(label + ": signing " + std::to_string(rounds * kDevices) + " transactions");
  std::vector<Bytes> transactions;
  std::vector<size_t> session_of;
  SignLoad(spec.chain_id, devices, 1, rounds, driver.sessions(), transactions, session_of);
  progress(label + ": measuring " + std::to_string(load.duration.count()) + " s");
  VIGIL_ASSIGN_OR_RETURN(bench::LoadResult result,
                         driver.Run(std::move(transactions), std::move(session_of), load));
  driver.Close();
  if (result.failed > 0) {
    return Fail(ErrorCode::kInternal, label + ": " + std::to_string(result.failed) +
                                          " transactions failed, first: " +
                                          driver.first_refusal());
  }
  result.system = "vigil (" + std::to_string(peers) + (peers == 1 ? " peer)" : " peers)");
  return Phase{label, result};
}

std::string MachineDescription() {
  std::string cpu = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  utsname name{};
  ::uname(&name);
  return std::to_string(std::thread::hardware_concurrency()) + " x " + cpu + ", Linux " +
         name.release;
}

void PrintRow(const std::string& system, const std::string& load, const bench::LoadResult& r) {
  std::printf("  %-22s %-18s %10.0f %9.1f %9.1f %9.1f %10" PRIu64 "\n", system.c_str(),
              load.c_str(), r.throughput_per_second, r.latency_p50_ms, r.latency_p99_ms,
              r.latency_max_ms, r.committed);
}

nlohmann::json ToJson(const std::string& load, const bench::LoadResult& r) {
  return {{"system", r.system},          {"load", load},
          {"tx_per_second", r.throughput_per_second},
          {"p50_ms", r.latency_p50_ms},  {"p99_ms", r.latency_p99_ms},
          {"max_ms", r.latency_max_ms},  {"committed", r.committed},
          {"failed", r.failed},          {"seconds", r.seconds}};
}

Status RunBenchLedger(const BenchLedgerOptions& options) {
  std::filesystem::path root = options.directory;
  if (root.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "vigil-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return Fail(ErrorCode::kIOError, "mkdtemp: " + std::string(std::strerror(errno)));
    }
    root = pattern;
  }
  // A temporary root goes when the run ends (a 60 s etcd run alone leaves ~700 MB); --dir stays.
  struct Cleanup {
    std::filesystem::path root;
    ~Cleanup() {
      std::error_code ignored;
      if (!root.empty()) std::filesystem::remove_all(root, ignored);
    }
  } cleanup{options.directory.empty() ? root : std::filesystem::path()};
  auto progress = [&](const std::string& line) {
    if (!options.json) std::fprintf(stderr, "bench ledger: %s\n", line.c_str());
  };
  spdlog::set_level(spdlog::level::warn);
  bench::LoadSpec closed;
  closed.duration = std::chrono::seconds(options.duration_seconds);
  closed.warmup = std::chrono::seconds(options.warmup_seconds);
  closed.concurrency = options.concurrency;
  closed.offered_per_second = 0;
  bench::LoadSpec open = closed;
  open.offered_per_second = options.rate;
  const std::string closed_label = "closed, " + std::to_string(options.concurrency) + " in flight";
  char rate_text[32];
  std::snprintf(rate_text, sizeof(rate_text), "%.0f/s offered", options.rate);
  const std::string open_label = rate_text;

  std::vector<Phase> results;
  auto run = [&](size_t peers, const std::string& label, const bench::LoadSpec& load,
                 const std::string& name) -> Status {
    VIGIL_ASSIGN_OR_RETURN(Phase phase, BenchVigil(peers, options.verify_threads, root / name, label, load, progress));
    results.push_back(std::move(phase));
    return Ok();
  };
  VIGIL_RETURN_IF_ERROR(run(options.peers, closed_label, closed, "vigil-closed"));
  VIGIL_RETURN_IF_ERROR(run(options.peers, open_label, open, "vigil-open"));
  if (!options.skip_single) VIGIL_RETURN_IF_ERROR(run(1, closed_label, closed, "vigil-single"));
  std::optional<std::string> etcd_problem;
  if (!options.skip_etcd) {
    for (const auto& [label, load] : {std::pair{closed_label, closed}, std::pair{open_label, open}}) {
      progress("etcd: " + label + ", running " + std::to_string(load.duration.count()) + " s");
      bench::EtcdClusterSpec etcd;
      etcd.directory = root / (load.offered_per_second > 0 ? "etcd-open" : "etcd-closed");
      etcd.members = 3;
      etcd.durable = true;
      auto result = bench::RunEtcdLoad(etcd, load);
      if (!result) {
        etcd_problem = result.error().message();
        break;
      }
      results.push_back(Phase{label, *result});
    }
  }

  const bench::LoadResult* vigil_closed = &results[0].result;
  const bench::LoadResult* vigil_open = &results[1].result;
  const bench::LoadResult* etcd_closed = nullptr;
  for (const auto& phase : results) {
    if (phase.result.system.rfind("etcd", 0) == 0 && phase.label == closed_label) {
      etcd_closed = &phase.result;
    }
  }
  const bench::LoadResult* single = options.skip_single ? nullptr : &results[2].result;
  if (options.json) {
    nlohmann::json runs = nlohmann::json::array();
    for (const auto& phase : results) runs.push_back(ToJson(phase.label, phase.result));
    nlohmann::json object = {{"benchmark", "ledger"},
                             {"machine", MachineDescription()},
                             {"transaction_bytes", kTransactionBytes},
                             {"runs", runs}};
    if (etcd_closed) {
      object["vigil_over_etcd_throughput"] =
          vigil_closed->throughput_per_second / etcd_closed->throughput_per_second;
    }
    if (etcd_problem) object["etcd_error"] = *etcd_problem;
    PrintJson(object);
    return Ok();
  }
  std::printf("vigil bench ledger: %zu-byte signed transactions, durable commits, loopback\n",
              kTransactionBytes);
  std::printf("machine: %s\n\n", MachineDescription().c_str());
  std::printf("  %-22s %-18s %10s %9s %9s %9s %10s\n", "system", "load", "tx/s", "p50 ms",
              "p99 ms", "max ms", "committed");
  for (const auto& phase : results) PrintRow(phase.result.system, phase.label, phase.result);
  std::printf("\n");
  if (etcd_closed) {
    std::printf("  vigil / etcd throughput (closed loop): %.2f\n",
                vigil_closed->throughput_per_second / etcd_closed->throughput_per_second);
  } else if (etcd_problem) {
    std::printf("  etcd not measured: %s\n", etcd_problem->c_str());
  }
  auto verdict = [](bool met) { return met ? "met" : "NOT met"; };
  // The goals: 3,000 tx/s for the 4-peer cluster, 12,000 for a lone peer.
  const double throughput_goal = options.peers == 1 ? 12000 : 3000;
  std::printf("  goal >= %s tx/s sustained (%zu peer%s):  %.0f  %s\n",
              options.peers == 1 ? "12,000" : "3,000", options.peers,
              options.peers == 1 ? "" : "s", vigil_closed->throughput_per_second,
              verdict(vigil_closed->throughput_per_second >= throughput_goal));
  std::printf("  goal p50 <= 30 ms, p99 <= 150 ms at %s:  %.1f / %.1f  %s\n", open_label.c_str(),
              vigil_open->latency_p50_ms, vigil_open->latency_p99_ms,
              verdict(vigil_open->latency_p50_ms <= 30 && vigil_open->latency_p99_ms <= 150));
  if (single) {
    std::printf("  goal >= 12,000 tx/s (1 peer):  %.0f  %s\n", single->throughput_per_second,
                verdict(single->throughput_per_second >= 12000));
  }
  if (!options.directory.empty()) std::printf("  data: %s\n", root.c_str());
  return Ok();
}

}  // namespace

void RegisterBenchCommand(CLI::App& app, CommandContext& context) {
  CLI::App* bench = app.add_subcommand(
      "bench", "System benchmarks: readable table, or --json with the same figures");
  bench->require_subcommand(1);
  CLI::App* ledger = bench->add_subcommand(
      "ledger",
      "Peers as separate processes on loopback, 256-byte signed transactions, durable commits: "
      "sustained throughput, commit latency at a fixed rate, one peer; and a 3-member etcd "
      "cluster under the same load");
  auto options = std::make_shared<BenchLedgerOptions>();
  ledger->add_option("--peers", options->peers, "Validators")->capture_default_str();
  ledger->add_option("--duration", options->duration_seconds, "Seconds measured per run")
      ->capture_default_str();
  ledger->add_option("--warmup", options->warmup_seconds, "Seconds before measuring")
      ->capture_default_str();
  ledger->add_option("--rate", options->rate, "Offered tx/s of the latency run")
      ->capture_default_str();
  ledger->add_option("--concurrency", options->concurrency,
                     "Transactions in flight in the throughput runs")
      ->capture_default_str();
  ledger->add_option("--verify-threads", options->verify_threads,
                     "Signature-verifying threads per peer")
      ->capture_default_str();
  ledger->add_flag("--skip-single", options->skip_single, "Do not run the 1-peer throughput run");
  ledger->add_flag("--skip-etcd", options->skip_etcd, "Do not run etcd");
  ledger->add_option("--dir", options->directory, "Where the clusters live (default: /tmp/...)");
  ledger->add_flag("--json", options->json, "Print one JSON object instead of the table");
  ledger->callback([options, &context] {
    if (Status status = RunBenchLedger(*options); !status) {
      ReportError(context, "bench ledger", status.error());
    }
  });
}
VIGIL_REGISTER_COMMAND(kOrderBench, RegisterBenchCommand);

}  // namespace vigil::cli
