// The mempool against a real genesis and real signed transactions (tests/ledger/test_chain.h):
// every refusal with its reason, pending sequences and dependencies, the bounds, Reap's order,
// Update's recheck, and a block built from Reap passing ExecuteBlock.
#include "mempool/mempool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ledger/test_chain.h"

namespace vigil::mempool {
namespace {

using ledger::BlockExecution;
using ledger::ResultCode;
using ledger::testing::KeyFromByte;
using ledger::testing::TestChain;
using ::testing::HasSubstr;

using Evicted = std::vector<std::pair<ledger::TransactionId, ledger::TransactionResult>>;

// A chain where device1 and device2 are enrolled (admin1 used sequences 1 and 2), and a mempool
// over it that verifies through a signature cache.
class MempoolTest : public ::testing::Test {
 protected:
  MempoolTest() {
    BlockExecution enrolled = chain_.Commit({chain_.Govern(chain_.Enroll(keys().device1)),
                                             chain_.Govern(chain_.Enroll(keys().device2))});
    for (const auto& result : enrolled.results) EXPECT_TRUE(result.ok()) << result.reason;
  }

  const ledger::testing::Keys& keys() const { return chain_.keys(); }

  ledger::BlockContext Next() const {
    return NextBlockContext(chain_.state(), chain_.NextTimeMs()).value();
  }

  Admission Add(Bytes transaction) {
    return mempool_.Add(std::move(transaction), chain_.state(), Next());
  }

  // An integrity-snapshot report of about 256 bytes; `detail` makes otherwise equal ones differ.
  Bytes Report(const crypto::PrivateKey& device, uint64_t sequence,
               std::string detail = "scan: ok") {
    ledger::DeviceReport report{.report_kind = ledger::DeviceReportKind::kIntegritySnapshot,
                                .app = "press-controller",
                                .version = "2.4.0",
                                .observed_time_ms = 1'790'000'000'500,
                                .snapshot_root = crypto::Sha256(device.public_key()),
                                .files_changed = 0,
                                .duration_ms = 12,
                                .detail = std::move(detail)};
    return chain_.SignWithSequence(report, device, sequence);
  }

  Bytes Governance(const ledger::Body& body, uint64_t admin1_sequence) {
    return chain_.SignWithSequence(body, keys().admin1, admin1_sequence, {&keys().admin2});
  }

  // Another peer's block: commits `transactions` (none need be pending here) and updates.
  Evicted CommitElsewhereAndUpdate(std::vector<Bytes> transactions) {
    BlockExecution execution = chain_.Commit(std::move(transactions));
    for (const auto& result : execution.results) EXPECT_TRUE(result.ok()) << result.reason;
    return mempool_.Update(execution.transaction_ids, chain_.state(), Next());
  }

  std::vector<Bytes> ReapAll() const { return mempool_.Reap(SIZE_MAX, SIZE_MAX); }

  static void ExpectRefused(const Admission& admission, ResultCode code, std::string_view words) {
    EXPECT_FALSE(admission.admitted());
    EXPECT_FALSE(admission.duplicate);
    EXPECT_EQ(admission.result.code, code) << admission.result.reason;
    EXPECT_THAT(admission.result.reason, HasSubstr(words));
  }

  TestChain chain_;
  SignatureCache cache_;
  Mempool mempool_{std::string(ledger::testing::kChainId), {}, cache_.AsVerifyFunction()};
};

// --- Admission and each refusal ---

TEST_F(MempoolTest, AdmitsAValidTransaction) {
  Bytes report = Report(keys().device1, 1);
  Admission admission = Add(report);
  EXPECT_TRUE(admission.admitted()) << admission.result.reason;
  EXPECT_FALSE(admission.duplicate);
  EXPECT_EQ(admission.result, ledger::TransactionResult{});
  EXPECT_EQ(admission.id, ledger::ComputeTransactionId(report));
  EXPECT_TRUE(mempool_.Contains(admission.id));
  EXPECT_EQ(mempool_.size(), 1u);
  EXPECT_EQ(mempool_.bytes(), report.size());
  EXPECT_EQ(ReapAll(), std::vector<Bytes>{report});
  EXPECT_EQ(cache_.misses(), 1u);  // the one signature, verified once
  EXPECT_EQ(cache_.size(), 1u);
}

TEST_F(MempoolTest, RefusesBytesThatDoNotDecode) {
  Bytes garbage = ToBytes("not a transaction");
  Admission admission = Add(garbage);
  ExpectRefused(admission, ResultCode::kMalformed, "does not decode");
  EXPECT_EQ(admission.id, ledger::ComputeTransactionId(garbage));
  EXPECT_EQ(mempool_.size(), 0u);
  EXPECT_EQ(mempool_.bytes(), 0u);
}

TEST_F(MempoolTest, RefusesAnOversizeTransactionBeforeHashingIt) {
  Admission admission = Add(Bytes(limits::kLedgerTransactionBytesMax + 1, 0x42));
  ExpectRefused(admission, ResultCode::kMalformed, "65537 bytes exceeds the limit of 65536");
  EXPECT_EQ(admission.id, ledger::TransactionId{});
  EXPECT_EQ(mempool_.size(), 0u);
}

TEST_F(MempoolTest, RefusesATransactionForAnotherChain) {
  ledger::DeviceReport report{.report_kind = ledger::DeviceReportKind::kAppRestarted,
                              .app = "press-controller"};
  Admission admission = Add(ledger::SignTransaction("plant-b", report, 1, keys().device1));
  ExpectRefused(admission, ResultCode::kWrongChain, "\"plant-b\"");
  EXPECT_EQ(mempool_.size(), 0u);
}

TEST_F(MempoolTest, RefusesABadSignatureAndDoesNotCacheIt) {
  Bytes report = Report(keys().device1, 1);
  report.back() ^= 0x01;  // the envelope ends with the signature
  ExpectRefused(Add(report), ResultCode::kBadSignature, "does not verify");
  ExpectRefused(Add(report), ResultCode::kBadSignature, "does not verify");
  EXPECT_EQ(cache_.size(), 0u);
  EXPECT_EQ(cache_.misses(), 2u);
  EXPECT_EQ(mempool_.size(), 0u);
}

TEST_F(MempoolTest, RefusesAReplayedSequence) {
  ASSERT_TRUE(chain_.Submit(Report(keys().device1, 1, "committed")).ok());
  ExpectRefused(Add(Report(keys().device1, 1, "again")), ResultCode::kBadSequence,
                "sequence 1 of " + ToHex(ByteSpan(keys().device1.public_key()).first(8)) +
                    " is already used (replay); the next is 2");
  EXPECT_EQ(mempool_.size(), 0u);
}

TEST_F(MempoolTest, RefusesASequenceGapNamingTheExpectedOne) {
  ExpectRefused(Add(Report(keys().device1, 3)), ResultCode::kBadSequence,
                "skips ahead; the next is 1");
  ASSERT_TRUE(Add(Report(keys().device1, 1)).admitted());
  // The expected one counts the pending transaction.
  ExpectRefused(Add(Report(keys().device1, 3)), ResultCode::kBadSequence,
                "skips ahead; the next is 2");
  EXPECT_EQ(mempool_.size(), 1u);
}

TEST_F(MempoolTest, RefusesAnUnauthorizedSigner) {
  ExpectRefused(Add(Report(keys().outsider, 1)), ResultCode::kUnauthorized,
                "is not an enrolled device");
  ExpectRefused(
      Add(chain_.SignWithSequence(chain_.Release("press-controller", "2.5.0"), keys().outsider, 1)),
      ResultCode::kUnauthorized, "is not a publisher");
  EXPECT_EQ(mempool_.size(), 0u);
}

TEST_F(MempoolTest, RefusesGovernanceBelowTheThreshold) {
  Bytes alone = chain_.SignWithSequence(chain_.Enroll(KeyFromByte(32)), keys().admin1, 3);
  ExpectRefused(Add(alone), ResultCode::kBelowThreshold, "needs 2 admin signatures, has 1");
  EXPECT_EQ(mempool_.size(), 0u);
}

TEST_F(MempoolTest, RefusesWhatThePendingTransactionsMakeInvalid) {
  ASSERT_TRUE(
      Add(chain_.SignWithSequence(chain_.Release("press-controller", "2.5.0"), keys().publisher, 1))
          .admitted());
  // Only the pending release makes this one "not newer": the check sees the overlay.
  ExpectRefused(Add(chain_.SignWithSequence(chain_.Release("press-controller", "2.4.0"),
                                            keys().publisher, 2)),
                ResultCode::kNotNewer, "is not newer than the latest 2.5.0");
  ExpectRefused(Add(Governance(chain_.Enroll(keys().device1), 3)), ResultCode::kAlreadyExists,
                "already enrolled");
}

TEST_F(MempoolTest, ARefusalChangesNothing) {
  // Refused by the rules (an installed report for an unpublished release) at sequence 1: the
  // sequence stays free for the next transaction.
  ledger::DeviceReport installed{.report_kind = ledger::DeviceReportKind::kInstalled,
                                 .app = "press-controller",
                                 .version = "9.9.9"};
  ExpectRefused(Add(chain_.SignWithSequence(installed, keys().device1, 1)), ResultCode::kNotFound,
                "is not a published release");
  EXPECT_TRUE(Add(Report(keys().device1, 1)).admitted());
  EXPECT_EQ(mempool_.size(), 1u);
}

// --- Duplicates ---

TEST_F(MempoolTest, AnswersADuplicateOfAPendingTransactionWithoutVerifyingIt) {
  Bytes report = Report(keys().device1, 1);
  ASSERT_TRUE(Add(report).admitted());
  uint64_t verifications = cache_.misses() + cache_.hits();
  Admission again = Add(report);
  EXPECT_TRUE(again.admitted());
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.id, ledger::ComputeTransactionId(report));
  EXPECT_EQ(cache_.misses() + cache_.hits(), verifications);
  EXPECT_EQ(mempool_.size(), 1u);
  EXPECT_EQ(mempool_.bytes(), report.size());
}

TEST_F(MempoolTest, ACommittedTransactionIsNoDuplicateButAReplay) {
  Bytes report = Report(keys().device1, 1);
  ASSERT_TRUE(Add(report).admitted());
  EXPECT_TRUE(CommitElsewhereAndUpdate({report}).empty());
  Admission again = Add(report);
  EXPECT_FALSE(again.duplicate);
  ExpectRefused(again, ResultCode::kBadSequence, "already used");
}

// --- Admission of a transaction checked elsewhere (the peer's verifier threads) ---

TEST_F(MempoolTest, APrecheckedTransactionIsAdmittedWithoutDecodingOrVerifyingAgain) {
  Bytes report = Report(keys().device1, 1);
  StatelessCheck check =
      CheckStateless(report, ledger::testing::kChainId, cache_.AsVerifyFunction());
  ASSERT_TRUE(check.checked.has_value()) << check.checked.error().reason;
  EXPECT_EQ(check.id, ledger::ComputeTransactionId(report));
  uint64_t verifications = cache_.misses() + cache_.hits();
  EXPECT_EQ(verifications, 1u);

  Admission admission = mempool_.Add(std::move(check), chain_.state(), Next());
  EXPECT_TRUE(admission.admitted()) << admission.result.reason;
  EXPECT_FALSE(admission.duplicate);
  EXPECT_EQ(admission.id, ledger::ComputeTransactionId(report));
  EXPECT_EQ(cache_.misses() + cache_.hits(), verifications);
  EXPECT_EQ(ReapAll(), std::vector<Bytes>{report});
  EXPECT_EQ(mempool_.bytes(), report.size());

  // Checked again, it is a duplicate; its stateful rules still apply (the sequence is pending).
  Admission again = mempool_.Add(
      CheckStateless(report, ledger::testing::kChainId, cache_.AsVerifyFunction()),
      chain_.state(), Next());
  EXPECT_TRUE(again.duplicate);
  ExpectRefused(mempool_.Add(CheckStateless(Report(keys().device1, 1, "other"),
                                            ledger::testing::kChainId, cache_.AsVerifyFunction()),
                             chain_.state(), Next()),
                ResultCode::kBadSequence, "already used");
  EXPECT_EQ(mempool_.size(), 1u);
}

TEST_F(MempoolTest, APrecheckedRefusalIsTheAnswerAndChangesNothing) {
  Bytes forged = Report(keys().device1, 1);
  forged.back() ^= 0x01;
  StatelessCheck check =
      CheckStateless(forged, ledger::testing::kChainId, cache_.AsVerifyFunction());
  Admission admission = mempool_.Add(std::move(check), chain_.state(), Next());
  ExpectRefused(admission, ResultCode::kBadSignature, "does not verify");
  EXPECT_EQ(admission.id, ledger::ComputeTransactionId(forged));

  StatelessCheck oversize = CheckStateless(Bytes(limits::kLedgerTransactionBytesMax + 1, 0x42),
                                           ledger::testing::kChainId, cache_.AsVerifyFunction());
  EXPECT_EQ(oversize.id, ledger::TransactionId{});
  ExpectRefused(mempool_.Add(std::move(oversize), chain_.state(), Next()), ResultCode::kMalformed,
                "exceeds the limit");
  EXPECT_EQ(mempool_.size(), 0u);
  EXPECT_EQ(mempool_.bytes(), 0u);
  EXPECT_EQ(cache_.size(), 0u);
}

// --- Pending sequences and dependencies ---

TEST_F(MempoolTest, HoldsConsecutiveSequencesOfOneSigner) {
  for (uint64_t sequence = 1; sequence <= 3; ++sequence) {
    Admission admission = Add(Report(keys().device1, sequence));
    EXPECT_TRUE(admission.admitted()) << sequence << ": " << admission.result.reason;
  }
  ExpectRefused(Add(Report(keys().device1, 2, "another second")), ResultCode::kBadSequence,
                "sequence 2 of");
  ExpectRefused(Add(Report(keys().device1, 5)), ResultCode::kBadSequence,
                "skips ahead; the next is 4");
  EXPECT_TRUE(Add(Report(keys().device1, 4)).admitted());
  EXPECT_EQ(mempool_.size(), 4u);
}

TEST_F(MempoolTest, AdmitsAReportOfADeviceWhoseEnrolmentIsPending) {
  crypto::PrivateKey device3 = KeyFromByte(32);
  ExpectRefused(Add(Report(device3, 1)), ResultCode::kUnauthorized, "not an enrolled device");
  ASSERT_TRUE(Add(Governance(chain_.Enroll(device3), 3)).admitted());
  EXPECT_TRUE(Add(Report(device3, 1)).admitted());
  // Revoked by a pending transaction: refused already.
  ASSERT_TRUE(
      Add(Governance(ledger::RevokeDevice{.device_key = device3.public_key(), .reason = "stolen"},
                     4))
          .admitted());
  ExpectRefused(Add(Report(device3, 2)), ResultCode::kRevoked, "was revoked");
}

// --- Bounds ---

TEST_F(MempoolTest, RefusesBeyondItsTransactionCount) {
  Mempool mempool(std::string(ledger::testing::kChainId), {.transactions_max = 2},
                  cache_.AsVerifyFunction());
  ASSERT_TRUE(mempool.Add(Report(keys().device1, 1), chain_.state(), Next()).admitted());
  ASSERT_TRUE(mempool.Add(Report(keys().device2, 1), chain_.state(), Next()).admitted());
  Admission third = mempool.Add(Report(keys().device1, 2), chain_.state(), Next());
  ExpectRefused(third, ResultCode::kLimitReached,
                "mempool full: 2 transactions pending, the limit (transactions_max)");
  EXPECT_EQ(mempool.size(), 2u);
  // Refused before its signature was verified: only the two admitted ones were.
  EXPECT_EQ(cache_.misses(), 2u);
}

TEST_F(MempoolTest, RefusesBeyondItsBytes) {
  Bytes first = Report(keys().device1, 1);
  Bytes second = Report(keys().device2, 1);
  Mempool mempool(std::string(ledger::testing::kChainId),
                  {.bytes_max = first.size() + second.size() - 1}, cache_.AsVerifyFunction());
  ASSERT_TRUE(mempool.Add(first, chain_.state(), Next()).admitted());
  ExpectRefused(mempool.Add(second, chain_.state(), Next()), ResultCode::kLimitReached,
                "more would exceed the limit of " +
                    std::to_string(first.size() + second.size() - 1) + " bytes (bytes_max)");
  EXPECT_EQ(mempool.size(), 1u);
  EXPECT_EQ(mempool.bytes(), first.size());
}

TEST_F(MempoolTest, RefusesBeyondItsTransactionsPerSigner) {
  Mempool mempool(std::string(ledger::testing::kChainId), {.per_signer_max = 2},
                  cache_.AsVerifyFunction());
  ASSERT_TRUE(mempool.Add(Report(keys().device1, 1), chain_.state(), Next()).admitted());
  ASSERT_TRUE(mempool.Add(Report(keys().device1, 2), chain_.state(), Next()).admitted());
  ExpectRefused(mempool.Add(Report(keys().device1, 3), chain_.state(), Next()),
                ResultCode::kLimitReached,
                "already has 2 transactions pending, the limit per signer (per_signer_max)");
  // Other signers are not held back.
  EXPECT_TRUE(mempool.Add(Report(keys().device2, 1), chain_.state(), Next()).admitted());
  // A committed block frees the signer's room.
  BlockExecution execution = chain_.Commit(mempool.Reap(1, SIZE_MAX));
  EXPECT_TRUE(mempool.Update(execution.transaction_ids, chain_.state(), Next()).empty());
  EXPECT_TRUE(mempool.Add(Report(keys().device1, 3), chain_.state(), Next()).admitted());
  EXPECT_EQ(mempool.size(), 3u);
}

// --- Reap ---

TEST_F(MempoolTest, ReapsInAdmissionOrder) {
  std::vector<Bytes> admitted = {Report(keys().device2, 1), Report(keys().device1, 1),
                                 Report(keys().device2, 2), Report(keys().device1, 2)};
  for (const Bytes& transaction : admitted) ASSERT_TRUE(Add(transaction).admitted());
  EXPECT_EQ(ReapAll(), admitted);
  // Reap takes nothing away.
  EXPECT_EQ(ReapAll(), admitted);
  EXPECT_EQ(mempool_.size(), 4u);
}

TEST_F(MempoolTest, ReapsTheLongestPrefixWithinItsLimits) {
  std::vector<Bytes> admitted = {Report(keys().device1, 1, "short"),
                                 Report(keys().device2, 1, std::string(300, 'x')),
                                 Report(keys().device1, 2, "short")};
  for (const Bytes& transaction : admitted) ASSERT_TRUE(Add(transaction).admitted());
  size_t first_two = admitted[0].size() + admitted[1].size();
  EXPECT_EQ(mempool_.Reap(2, SIZE_MAX), std::vector<Bytes>(admitted.begin(), admitted.begin() + 2));
  EXPECT_EQ(mempool_.Reap(0, SIZE_MAX), std::vector<Bytes>{});
  EXPECT_EQ(mempool_.Reap(SIZE_MAX, first_two),
            std::vector<Bytes>(admitted.begin(), admitted.begin() + 2));
  // The long second one does not fit: Reap stops there rather than skip to the short third.
  EXPECT_EQ(mempool_.Reap(SIZE_MAX, first_two - 1), std::vector<Bytes>{admitted[0]});
  EXPECT_EQ(mempool_.Reap(SIZE_MAX, admitted[0].size() - 1), std::vector<Bytes>{});
}

TEST_F(MempoolTest, ABlockBuiltFromReapPassesExecuteBlockOnCachedSignatures) {
  ledger::State state = chain_.state();
  crypto::PrivateKey device3 = KeyFromByte(32);
  std::vector<Bytes> admitted = {
      Report(keys().device1, 1), Governance(chain_.Enroll(device3), 3), Report(device3, 1),
      Report(keys().device1, 2),
      chain_.SignWithSequence(chain_.Release("press-controller", "2.5.0"), keys().publisher, 1)};
  for (const Bytes& transaction : admitted) {
    Admission admission = mempool_.Add(transaction, state, NextBlockContext(state, 0).value());
    ASSERT_TRUE(admission.admitted()) << admission.result.reason;
  }
  uint64_t misses = cache_.misses();
  ledger::VerifyFunction verify = cache_.AsVerifyFunction();

  const ledger::BuildOptions options{
      .time_ms = chain_.NextTimeMs(),
      .proposer = keys().validator.public_key(),
      .last_commit = chain_.CertificateFor(state.tip().height, state.tip().block_hash),
      .execute = {.verify = verify}};
  const size_t transactions_max = ledger::FindRules(1)->block_transactions_max;
  auto built = ledger::BuildBlock(state, mempool_.Reap(transactions_max, 1 << 20), options);
  ASSERT_TRUE(built.has_value()) << built.error().ToString();
  EXPECT_TRUE(built->dropped.empty());
  EXPECT_TRUE(built->deferred.empty());
  EXPECT_EQ(built->block.transactions, admitted);
  for (const auto& result : built->execution.results) EXPECT_TRUE(result.ok()) << result.reason;

  auto executed = ledger::ExecuteBlock(state, built->block, {.verify = verify});
  ASSERT_TRUE(executed.has_value()) << executed.error().ToString();
  EXPECT_EQ(executed->tip, built->execution.tip);
  // Every transaction signature (6: the enrolment is co-signed) was a hit, twice; only the
  // commit certificate's one signature was new.
  EXPECT_EQ(cache_.misses(), misses + 1);
  EXPECT_GE(cache_.hits(), 2u * 6u);

  // Built from the mempool's decoded transactions: the same block, and no transaction's
  // signature looked up again (the one lookup is the commit certificate's).
  uint64_t lookups = cache_.hits() + cache_.misses();
  auto built_checked =
      ledger::BuildBlock(state, mempool_.ReapChecked(transactions_max, 1 << 20), options);
  ASSERT_TRUE(built_checked.has_value()) << built_checked.error().ToString();
  EXPECT_EQ(ledger::EncodeBlock(built_checked->block), ledger::EncodeBlock(built->block));
  EXPECT_EQ(built_checked->execution.tip, built->execution.tip);
  EXPECT_EQ(built_checked->execution.results, built->execution.results);
  EXPECT_EQ(cache_.hits() + cache_.misses(), lookups + 1);

  ledger::ApplyBlock(state, *executed);
  EXPECT_TRUE(mempool_.Update(executed->transaction_ids, state, NextBlockContext(state, 0).value())
                  .empty());
  EXPECT_EQ(mempool_.size(), 0u);
  EXPECT_EQ(mempool_.bytes(), 0u);
  EXPECT_TRUE(ReapAll().empty());
}

// --- Update ---

TEST_F(MempoolTest, UpdateRemovesTheCommittedTransactions) {
  Bytes first = Report(keys().device1, 1);
  Bytes second = Report(keys().device2, 1);
  Bytes third = Report(keys().device1, 2);
  for (const Bytes& transaction : {first, second, third}) ASSERT_TRUE(Add(transaction).admitted());
  // A block holding only the first (a proposer may reap less than everything).
  EXPECT_TRUE(CommitElsewhereAndUpdate({first}).empty());
  EXPECT_FALSE(mempool_.Contains(ledger::ComputeTransactionId(first)));
  EXPECT_EQ(mempool_.size(), 2u);
  EXPECT_EQ(mempool_.bytes(), second.size() + third.size());
  EXPECT_EQ(ReapAll(), (std::vector<Bytes>{second, third}));
  // The overlay was rebuilt on the new state: device1's next is 3.
  ExpectRefused(Add(Report(keys().device1, 4)), ResultCode::kBadSequence,
                "skips ahead; the next is 3");
  EXPECT_TRUE(Add(Report(keys().device1, 3)).admitted());
}

TEST_F(MempoolTest, UpdateEvictsWhatAnotherPeersBlockMadeAReplay) {
  Bytes pending_first = Report(keys().device1, 1, "from this peer");
  Bytes pending_second = Report(keys().device1, 2);
  ASSERT_TRUE(Add(pending_first).admitted());
  ASSERT_TRUE(Add(pending_second).admitted());
  // Another peer committed a different transaction with device1's sequence 1.
  Evicted evicted = CommitElsewhereAndUpdate({Report(keys().device1, 1, "from another peer")});
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(evicted[0].first, ledger::ComputeTransactionId(pending_first));
  EXPECT_EQ(evicted[0].second.code, ResultCode::kBadSequence);
  EXPECT_THAT(evicted[0].second.reason, HasSubstr("already used (replay)"));
  // Sequence 2 is still the next: it stays.
  EXPECT_EQ(ReapAll(), std::vector<Bytes>{pending_second});
  EXPECT_EQ(mempool_.bytes(), pending_second.size());
}

TEST_F(MempoolTest, UpdateEvictsReportsOfADeviceRevokedMeanwhile) {
  Bytes report = Report(keys().device2, 1);
  ASSERT_TRUE(Add(report).admitted());
  Evicted evicted = CommitElsewhereAndUpdate({Governance(
      ledger::RevokeDevice{.device_key = keys().device2.public_key(), .reason = "stolen"}, 3)});
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(evicted[0].first, ledger::ComputeTransactionId(report));
  EXPECT_EQ(evicted[0].second.code, ResultCode::kRevoked);
  EXPECT_EQ(mempool_.size(), 0u);
  EXPECT_EQ(mempool_.bytes(), 0u);
}

TEST_F(MempoolTest, UpdateEvictsTheSuccessorsOfAnEvictedTransaction) {
  // A second publisher, which will win the race for press-controller 2.5.0.
  ASSERT_TRUE(
      chain_
          .Submit(Governance(ledger::AddPublisher{.publisher_key = keys().outsider.public_key(),
                                                  .name = "second-bot"},
                             3))
          .ok());
  Bytes publish =
      chain_.SignWithSequence(chain_.Release("press-controller", "2.5.0"), keys().publisher, 1);
  Bytes successor = chain_.SignWithSequence(chain_.Release("gauge", "1.0.0"), keys().publisher, 2);
  Bytes unrelated = Report(keys().device1, 1);
  for (const Bytes& transaction : {publish, successor, unrelated}) {
    ASSERT_TRUE(Add(transaction).admitted());
  }
  Evicted evicted = CommitElsewhereAndUpdate(
      {chain_.SignWithSequence(chain_.Release("press-controller", "2.5.0"), keys().outsider, 1)});
  ASSERT_EQ(evicted.size(), 2u);
  EXPECT_EQ(evicted[0].first, ledger::ComputeTransactionId(publish));
  EXPECT_EQ(evicted[0].second.code, ResultCode::kAlreadyExists);
  // Its successor is now a gap: sequence 1 was never used.
  EXPECT_EQ(evicted[1].first, ledger::ComputeTransactionId(successor));
  EXPECT_EQ(evicted[1].second.code, ResultCode::kBadSequence);
  EXPECT_THAT(evicted[1].second.reason, HasSubstr("skips ahead; the next is 1"));
  EXPECT_EQ(ReapAll(), std::vector<Bytes>{unrelated});
  // Nothing of the evicted ones lingers in the overlay: sequence 1 is free again.
  EXPECT_TRUE(Add(chain_.SignWithSequence(chain_.Release("gauge", "1.0.0"), keys().publisher, 1))
                  .admitted());
}

TEST_F(MempoolTest, UpdateDoesNotVerifySignaturesAgain) {
  for (uint64_t sequence = 1; sequence <= 3; ++sequence) {
    ASSERT_TRUE(Add(Report(keys().device1, sequence)).admitted());
  }
  uint64_t verifications = cache_.misses() + cache_.hits();
  BlockExecution execution = chain_.Commit({});  // TestChain verifies without the cache
  EXPECT_TRUE(mempool_.Update(execution.transaction_ids, chain_.state(), Next()).empty());
  EXPECT_EQ(cache_.misses() + cache_.hits(), verifications);
  EXPECT_EQ(mempool_.size(), 3u);
}

TEST_F(MempoolTest, AnEmptyMempoolFollowsTheStateWithoutUpdate) {
  ASSERT_TRUE(chain_.Submit(Report(keys().device1, 1)).ok());
  EXPECT_TRUE(Add(Report(keys().device1, 2)).admitted());
}

TEST_F(MempoolTest, ApplyingABlockWithoutUpdateIsAProgrammerError) {
  ASSERT_TRUE(Add(Report(keys().device1, 1)).admitted());
  chain_.Commit({});
  EXPECT_DEATH(Add(Report(keys().device2, 1)), "without calling Mempool::Update");
}

TEST(NextBlockContextTest, IsTheBlockAfterTheTip) {
  TestChain chain;
  const ledger::State& state = chain.state();
  auto context = NextBlockContext(state, state.tip().time_ms + 5000);
  ASSERT_TRUE(context.has_value()) << context.error().ToString();
  EXPECT_EQ(context->height, 1u);
  EXPECT_EQ(context->time_ms, state.tip().time_ms + 5000);
  EXPECT_EQ(context->rules, ledger::FindRules(1));
  // A clock behind the tip still gives a later time, as the next header needs.
  EXPECT_EQ(NextBlockContext(state, 0)->time_ms, state.tip().time_ms + 1);
}

}  // namespace
}  // namespace vigil::mempool
