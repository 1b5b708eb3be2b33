// Mempool throughput on the ledger benchmark's workload: 5,000 enrolled devices, each sending
// integrity-snapshot reports of about 256 bytes. Admission with a cold signature cache (one
// Ed25519 verification per transaction), with a warm one, and after a stateless check done
// elsewhere (the peer's verifier threads); Reap of 5,000, Update after a block of 5,000, and
// ExecuteBlock of that block with and without the cache the mempool filled. Items are
// transactions, so items_per_second is tx/s.
#include <benchmark/benchmark.h>

#include <memory>

#include "common/assert.h"
#include "ledger/execute.h"
#include "ledger/genesis.h"
#include "mempool/mempool.h"
#include "pki/pki.h"

namespace vigil::mempool {
namespace {

constexpr std::string_view kChainId = "vigil-bench";
constexpr size_t kDevices = 5000;

crypto::PrivateKey KeyFromIndex(uint32_t index) {
  std::array<uint8_t, limits::kEd25519SeedBytes> seed{};
  for (size_t i = 0; i < 4; ++i) seed[i] = static_cast<uint8_t>(index >> (8 * i));
  seed[31] = 0x5A;
  return crypto::PrivateKey::FromSeed(seed).value();
}

// A chain after one block that enrolled kDevices devices (`before`); two reports from each
// device (sequences 1 and 2); and the chain after a block of every device's first report
// (`after`, with that block's transaction ids).
struct Workload {
  crypto::PrivateKey admin = KeyFromIndex(0xFFFF'FF01);
  crypto::PrivateKey validator = KeyFromIndex(0xFFFF'FF02);
  ledger::State before;
  ledger::State after;
  ledger::Block block;  // the first reports, on `before`
  std::vector<ledger::TransactionId> block_ids;
  std::vector<Bytes> first_reports;
  std::vector<Bytes> second_reports;
  size_t report_bytes_total = 0;

  Workload() {
    crypto::PrivateKey ca_key = KeyFromIndex(0xFFFF'FF03);
    auto ca = pki::CreateCaCertificate(
        ca_key, "bench-ca", pki::Validity::ForDays(std::chrono::system_clock::now(), 30));
    VIGIL_ASSERT(ca.has_value());
    ledger::Genesis genesis =
        ledger::ValidateGenesis(
            ledger::Genesis{.chain_id = std::string(kChainId),
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
    before = ledger::GenesisState(genesis);
    std::vector<Bytes> enrollments;
    std::vector<crypto::PrivateKey> devices;
    for (uint32_t i = 0; i < kDevices; ++i) {
      devices.push_back(KeyFromIndex(i));
      ledger::EnrollDevice enroll{
          .device_key = devices.back().public_key(), .group = "presses", .labels = {"line=3"}};
      enrollments.push_back(ledger::SignTransaction(kChainId, enroll, i + 1, admin));
    }
    ledger::ApplyBlock(before, Build(before, enrollments).execution);
    for (const crypto::PrivateKey& device : devices) {
      first_reports.push_back(Report(device, 1));
      second_reports.push_back(Report(device, 2));
      report_bytes_total += first_reports.back().size();
    }
    ledger::BuiltBlock built = Build(before, first_reports);
    block = built.block;
    block_ids = built.execution.transaction_ids;
    after = before;
    ledger::ApplyBlock(after, built.execution);
  }

  static Bytes Report(const crypto::PrivateKey& device, uint64_t sequence) {
    ledger::DeviceReport report{.report_kind = ledger::DeviceReportKind::kIntegritySnapshot,
                                .app = "press-controller",
                                .version = "2.4.0",
                                .observed_time_ms = 1'790'000'000'500,
                                .snapshot_root = crypto::Sha256(device.public_key()),
                                .files_changed = 0,
                                .duration_ms = 12,
                                .detail = "scan: ok"};
    return ledger::SignTransaction(kChainId, report, sequence, device);
  }

  ledger::BuiltBlock Build(const ledger::State& state, const std::vector<Bytes>& transactions) {
    std::optional<consensus::CommitCertificate> last_commit;
    if (state.tip().height > 0) last_commit = CertificateForTip(state);
    auto built = ledger::BuildBlock(state, transactions,
                                    ledger::BuildOptions{.time_ms = state.tip().time_ms + 1000,
                                                         .proposer = validator.public_key(),
                                                         .last_commit = last_commit,
                                                         .execute = {}});
    VIGIL_ASSERT(built.has_value());
    VIGIL_ASSERT(built->block.transactions.size() == transactions.size());
    return std::move(*built);
  }

  consensus::CommitCertificate CertificateForTip(const ledger::State& state) const {
    const ledger::ChainTip& tip = state.tip();
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

  ledger::BlockContext NextContext(const ledger::State& state) const {
    return NextBlockContext(state, state.tip().time_ms + 1000).value();
  }

  // A mempool holding `transactions`, all admitted on `before`.
  std::unique_ptr<Mempool> Fill(SignatureCache& cache,
                                std::initializer_list<const std::vector<Bytes>*> lists) const {
    auto mempool = std::make_unique<Mempool>(std::string(kChainId), MempoolOptions{},
                                             cache.AsVerifyFunction());
    ledger::BlockContext context = NextContext(before);
    for (const std::vector<Bytes>* transactions : lists) {
      for (const Bytes& transaction : *transactions) {
        VIGIL_ASSERT(mempool->Add(transaction, before, context).admitted());
      }
    }
    return mempool;
  }
};

const Workload& GetWorkload() {
  static const Workload workload;
  return workload;
}

// Verified once for every report: the warm cache the peer has by the time a block arrives.
SignatureCache& WarmCache() {
  static SignatureCache cache;
  static bool warmed = [] {
    const Workload& workload = GetWorkload();
    for (const auto* reports : {&workload.first_reports, &workload.second_reports}) {
      for (const Bytes& report : *reports) {
        VIGIL_ASSERT(ledger::CheckTransactionStateless(report, kChainId, cache.AsVerifyFunction())
                         .has_value());
      }
    }
    return true;
  }();
  (void)warmed;
  return cache;
}

void SetCounters(benchmark::State& state, size_t transactions_per_iteration) {
  const Workload& workload = GetWorkload();
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(transactions_per_iteration));
  state.counters["tx_bytes_mean"] =
      static_cast<double>(workload.report_bytes_total) / static_cast<double>(kDevices);
}

// Admission of 5,000 reports into an empty mempool, each verified (a fresh cache).
void BM_AddColdCache(benchmark::State& state) {
  const Workload& workload = GetWorkload();
  ledger::BlockContext context = workload.NextContext(workload.before);
  // Declared outside the loop so that freeing the previous round is not timed.
  std::unique_ptr<SignatureCache> cache;
  std::unique_ptr<Mempool> mempool;
  for (auto _ : state) {
    state.PauseTiming();
    mempool.reset();
    cache = std::make_unique<SignatureCache>();
    mempool = std::make_unique<Mempool>(std::string(kChainId), MempoolOptions{},
                                        cache->AsVerifyFunction());
    state.ResumeTiming();
    for (const Bytes& report : workload.first_reports) {
      Admission admission = mempool->Add(report, workload.before, context);
      benchmark::DoNotOptimize(admission);
    }
    VIGIL_ASSERT(mempool->size() == kDevices);
  }
  SetCounters(state, kDevices);
}
BENCHMARK(BM_AddColdCache)->Unit(benchmark::kMillisecond);

// Every device's first report into a fresh mempool, every signature already in the cache.
// `prechecked`: the stateless check ran before, outside the timed part (CheckStateless, as the
// peer's verifier threads do), so what is timed is what the peer's event loop pays.
void AddWithWarmCache(benchmark::State& state, bool prechecked) {
  const Workload& workload = GetWorkload();
  SignatureCache& cache = WarmCache();
  ledger::BlockContext context = workload.NextContext(workload.before);
  std::unique_ptr<Mempool> mempool;
  for (auto _ : state) {
    state.PauseTiming();
    mempool = std::make_unique<Mempool>(std::string(kChainId), MempoolOptions{},
                                        cache.AsVerifyFunction());
    std::vector<StatelessCheck> checks;
    if (prechecked) {
      checks.reserve(workload.first_reports.size());
      for (const Bytes& report : workload.first_reports) {
        checks.push_back(CheckStateless(report, kChainId, cache.AsVerifyFunction()));
      }
    }
    state.ResumeTiming();
    for (size_t i = 0; i < workload.first_reports.size(); ++i) {
      Admission admission =
          prechecked ? mempool->Add(std::move(checks[i]), workload.before, context)
                     : mempool->Add(workload.first_reports[i], workload.before, context);
      benchmark::DoNotOptimize(admission);
    }
    VIGIL_ASSERT(mempool->size() == kDevices);
  }
  SetCounters(state, kDevices);
}

// E.g. a transaction gossiped after the client's own submission was verified: decoding,
// hashing, the rules, the overlay.
void BM_AddWarmCache(benchmark::State& state) { AddWithWarmCache(state, false); }
BENCHMARK(BM_AddWarmCache)->Unit(benchmark::kMillisecond);

// Only the duplicate and room checks and the execution.
void BM_AddPrechecked(benchmark::State& state) { AddWithWarmCache(state, true); }
BENCHMARK(BM_AddPrechecked)->Unit(benchmark::kMillisecond);

void BM_Reap5000(benchmark::State& state) {
  const Workload& workload = GetWorkload();
  auto mempool = workload.Fill(WarmCache(), {&workload.first_reports});
  for (auto _ : state) {
    std::vector<Bytes> candidates =
        mempool->Reap(limits::kLedgerBlockTransactionsMax, limits::kLedgerBlockBytesMax / 2);
    VIGIL_ASSERT(candidates.size() == kDevices);
    benchmark::DoNotOptimize(candidates);
  }
  SetCounters(state, kDevices);
}
BENCHMARK(BM_Reap5000)->Unit(benchmark::kMillisecond);

// Update after a block of 5,000 pending reports. Arg 0: nothing else pending (removal only).
// Arg 1: each device's second report also pending, so 5,000 are removed and 5,000 rechecked.
void BM_UpdateAfterBlockOf5000(benchmark::State& state) {
  const Workload& workload = GetWorkload();
  bool with_successors = state.range(0) == 1;
  ledger::BlockContext context = workload.NextContext(workload.after);
  std::unique_ptr<Mempool> mempool;
  for (auto _ : state) {
    state.PauseTiming();
    mempool.reset();
    mempool = with_successors
                  ? workload.Fill(WarmCache(), {&workload.first_reports, &workload.second_reports})
                  : workload.Fill(WarmCache(), {&workload.first_reports});
    state.ResumeTiming();
    auto evicted = mempool->Update(workload.block_ids, workload.after, context);
    VIGIL_ASSERT(evicted.empty());
    VIGIL_ASSERT(mempool->size() == (with_successors ? kDevices : 0));
    benchmark::DoNotOptimize(evicted);
  }
  SetCounters(state, kDevices);
}
BENCHMARK(BM_UpdateAfterBlockOf5000)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// What the cache saves a validator: ExecuteBlock of the 5,000 reports, verifying every
// signature (Arg 0) or through the cache admission filled (Arg 1).
void BM_ExecuteBlockOf5000(benchmark::State& state) {
  const Workload& workload = GetWorkload();
  bool cached = state.range(0) == 1;
  ledger::ExecuteOptions options;
  if (cached) options.verify = WarmCache().AsVerifyFunction();
  for (auto _ : state) {
    auto execution = ledger::ExecuteBlock(workload.before, workload.block, options);
    VIGIL_ASSERT(execution.has_value());
    benchmark::DoNotOptimize(execution->tip.state_hash);
  }
  SetCounters(state, kDevices);
}
BENCHMARK(BM_ExecuteBlockOf5000)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace vigil::mempool
