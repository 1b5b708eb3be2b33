// Ledger execution throughput: a block of N device reports of about 256 bytes each, every
// signature verified, executed as a validator does (ExecuteBlock: stateless checks, stateful
// rules, results root, write set, state hash). Also the proposer's BuildBlock and the stateless
// check alone. Items are transactions, so items_per_second is tx/s.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>

#include "common/assert.h"
#include "ledger/execute.h"
#include "ledger/genesis.h"
#include "pki/pki.h"

namespace vigil::ledger {
namespace {

constexpr std::string_view kChainId = "vigil-bench";

crypto::PrivateKey KeyFromIndex(uint32_t index) {
  std::array<uint8_t, limits::kEd25519SeedBytes> seed{};
  for (size_t i = 0; i < 4; ++i) seed[i] = static_cast<uint8_t>(index >> (8 * i));
  seed[31] = 0x5A;  // keeps these seeds apart from the fixed admin and validator seeds below
  return crypto::PrivateKey::FromSeed(seed).value();
}

// A chain after one block that enrolled `devices` devices, and a block of one integrity
// snapshot report from each.
struct Workload {
  crypto::PrivateKey admin = KeyFromIndex(0xFFFF'FF01);
  crypto::PrivateKey validator = KeyFromIndex(0xFFFF'FF02);
  std::vector<crypto::PrivateKey> devices;
  State state;
  std::vector<Bytes> reports;
  Block block;
  size_t transaction_bytes_total = 0;

  explicit Workload(size_t device_count) {
    crypto::PrivateKey ca_key = KeyFromIndex(0xFFFF'FF03);
    auto ca = pki::CreateCaCertificate(
        ca_key, "bench-ca", pki::Validity::ForDays(std::chrono::system_clock::now(), 30));
    VIGIL_ASSERT(ca.has_value());
    Genesis genesis =
        ValidateGenesis(Genesis{.chain_id = std::string(kChainId),
                                .genesis_time_ms = 1'790'000'000'000,
                                .validators = {{.name = "peer-1",
                                                .public_key = validator.public_key(),
                                                .voting_power = 1,
                                                .address = "127.0.0.1:7100"}},
                                .admins = {{.name = "admin", .public_key = admin.public_key()}},
                                .admin_threshold = 1,
                                .publishers = {},
                                .rules_version = 1,
                                .ca_certificate_pem = ca->ToPem()})
            .value();
    state = GenesisState(genesis);
    std::vector<Bytes> enrollments;
    for (uint32_t i = 0; i < device_count; ++i) {
      devices.push_back(KeyFromIndex(i));
      EnrollDevice enroll{
          .device_key = devices.back().public_key(), .group = "presses", .labels = {"line=3"}};
      enrollments.push_back(SignTransaction(kChainId, enroll, i + 1, admin));
    }
    Commit(enrollments);
    for (const crypto::PrivateKey& device : devices) {
      DeviceReport report{.report_kind = DeviceReportKind::kIntegritySnapshot,
                          .app = "press-controller",
                          .version = "2.4.0",
                          .observed_time_ms = 1'790'000'000'500,
                          .snapshot_root = crypto::Sha256(device.public_key()),
                          .files_changed = 0,
                          .duration_ms = 12,
                          .detail = "scan: ok"};
      reports.push_back(SignTransaction(kChainId, report, 1, device));
      transaction_bytes_total += reports.back().size();
    }
    block = Build(reports).block;
  }

  BuiltBlock Build(const std::vector<Bytes>& transactions) const {
    std::optional<consensus::CommitCertificate> last_commit;
    if (state.tip().height > 0) last_commit = CertificateForTip();
    auto built = BuildBlock(state, transactions,
                            BuildOptions{.time_ms = state.tip().time_ms + 1000,
                                         .proposer = validator.public_key(),
                                         .last_commit = last_commit,
                                         .execute = {}});
    VIGIL_ASSERT(built.has_value());
    VIGIL_ASSERT(built->block.transactions.size() == transactions.size());
    return std::move(*built);
  }

  void Commit(const std::vector<Bytes>& transactions) {
    BuiltBlock built = Build(transactions);
    ApplyBlock(state, built.execution);
  }

  consensus::CommitCertificate CertificateForTip() const {
    const ChainTip& tip = state.tip();
    consensus::Vote vote{.type = consensus::VoteType::kPrecommit,
                         .height = tip.height,
                         .round = 0,
                         .value_id = tip.block_hash,
                         .validator_index = 0,
                         .signature = {}};
    return {.height = tip.height,
            .round = 0,
            .value_id = tip.block_hash,
            .signatures = {{0, validator.Sign(consensus::VoteSignBytes(kChainId, vote))}}};
  }
};

const Workload& GetWorkload(size_t devices) {
  static std::map<size_t, std::unique_ptr<Workload>> workloads;
  auto& workload = workloads[devices];
  if (!workload) workload = std::make_unique<Workload>(devices);
  return *workload;
}

void SetCounters(benchmark::State& state, const Workload& workload) {
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(workload.reports.size()));
  state.counters["tx_bytes_mean"] = static_cast<double>(workload.transaction_bytes_total) /
                                    static_cast<double>(workload.reports.size());
}

void BM_ExecuteBlockOfDeviceReports(benchmark::State& state) {
  const Workload& workload = GetWorkload(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    auto execution = ExecuteBlock(workload.state, workload.block);
    VIGIL_ASSERT(execution.has_value());
    benchmark::DoNotOptimize(execution->tip.state_hash);
  }
  SetCounters(state, workload);
}
BENCHMARK(BM_ExecuteBlockOfDeviceReports)
    ->Arg(100)
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond);

void BM_BuildBlockOfDeviceReports(benchmark::State& state) {
  const Workload& workload = GetWorkload(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    BuiltBlock built = workload.Build(workload.reports);
    benchmark::DoNotOptimize(built.execution.tip.state_hash);
  }
  SetCounters(state, workload);
}
BENCHMARK(BM_BuildBlockOfDeviceReports)->Arg(1000)->Unit(benchmark::kMillisecond);

// The mempool's admission cost per transaction: decoding, field rules, one Ed25519 verify.
void BM_CheckTransactionStateless(benchmark::State& state) {
  const Workload& workload = GetWorkload(1000);
  size_t index = 0;
  for (auto _ : state) {
    auto checked = CheckTransactionStateless(workload.reports[index], kChainId);
    benchmark::DoNotOptimize(checked);
    index = (index + 1) % workload.reports.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CheckTransactionStateless);

}  // namespace
}  // namespace vigil::ledger
