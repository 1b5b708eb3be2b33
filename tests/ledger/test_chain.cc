#include "test_chain.h"

#include <gtest/gtest.h>

#include "common/assert.h"
#include "pki/pki.h"

namespace vigil::ledger::testing {

crypto::PrivateKey KeyFromByte(uint8_t byte) {
  std::array<uint8_t, limits::kEd25519SeedBytes> seed{};
  seed.fill(byte);
  return crypto::PrivateKey::FromSeed(seed).value();
}

std::string TestCaPem() {
  static const std::string pem = [] {
    crypto::PrivateKey ca_key = KeyFromByte(99);
    auto certificate = pki::CreateCaCertificate(
        ca_key, "test-ca", pki::Validity::ForDays(std::chrono::system_clock::now(), 30));
    VIGIL_ASSERT(certificate.has_value());
    return certificate->ToPem();
  }();
  return pem;
}

Genesis TestGenesis(const Keys& keys) {
  Genesis genesis{
      .chain_id = std::string(kChainId),
      .genesis_time_ms = kGenesisTimeMs,
      .validators = {{.name = "peer-1",
                      .public_key = keys.validator.public_key(),
                      .voting_power = 1,
                      .address = "127.0.0.1:7100"}},
      .admins = {{"alice", keys.admin1.public_key()},
                 {"bob", keys.admin2.public_key()},
                 {"carol", keys.admin3.public_key()}},
      .admin_threshold = 2,
      .publishers = {{"release-bot", keys.publisher.public_key()}},
      .rules_version = 1,
      .ca_certificate_pem = TestCaPem(),
  };
  return ValidateGenesis(std::move(genesis)).value();
}

TestChain::TestChain()
    : keys_(std::make_shared<const Keys>()),
      genesis_(TestGenesis(*keys_)),
      state_(GenesisState(genesis_)) {}

Bytes TestChain::SignWithSequence(const Body& body, const crypto::PrivateKey& signer,
                                  uint64_t sequence,
                                  std::vector<const crypto::PrivateKey*> co_signers) {
  return SignTransaction(kChainId, body, sequence, signer, co_signers);
}

Bytes TestChain::Sign(const Body& body, const crypto::PrivateKey& signer,
                      std::vector<const crypto::PrivateKey*> co_signers) {
  uint64_t& pending = pending_sequences_[signer.public_key()];
  pending = std::max(pending, GetSequence(state_, signer.public_key())) + 1;
  return SignWithSequence(body, signer, pending, std::move(co_signers));
}

Bytes TestChain::Govern(const Body& body) { return Sign(body, keys_->admin1, {&keys_->admin2}); }

BlockExecution TestChain::Commit(std::vector<Bytes> transactions) {
  BuildOptions options{.time_ms = NextTimeMs(),
                       .proposer = keys_->validator.public_key(),
                       .last_commit = last_commit_,
                       .execute = {}};
  auto built = BuildBlock(state_, transactions, options);
  VIGIL_ASSERT(built.has_value());
  // Another validator re-executes the proposal and must agree on everything.
  auto validated = ExecuteBlock(state_, built->block);
  EXPECT_TRUE(validated.has_value()) << validated.error().ToString();
  EXPECT_EQ(validated->tip, built->execution.tip);
  EXPECT_EQ(validated->writes, built->execution.writes);
  ApplyBlock(state_, *validated);
  blocks_.push_back(built->block);
  last_commit_ = CertificateFor(state_.tip().height, state_.tip().block_hash);
  pending_sequences_.clear();
  return std::move(*validated);
}

TransactionResult TestChain::Submit(const Bytes& transaction) {
  BlockExecution execution = Commit({transaction});
  VIGIL_ASSERT(execution.results.size() == 1);
  return execution.results[0];
}

Block TestChain::ForgeBlock(const std::vector<Bytes>& transactions) const {
  uint64_t height = state_.tip().height + 1;
  Block block;
  block.header = BlockHeader{.chain_id = state_.chain_id(),
                             .height = height,
                             .time_ms = NextTimeMs(),
                             .previous_block_hash = state_.tip().block_hash,
                             .transactions_root = TransactionsRoot(transactions),
                             .results_root = {},
                             .state_hash = state_.tip().state_hash,
                             .rules_version = RulesVersionAt(state_, height),
                             .proposer = keys_->validator.public_key()};
  block.transactions = transactions;
  block.last_commit = last_commit_;
  BlockContext context{.height = height,
                       .time_ms = block.header.time_ms,
                       .rules = FindRules(block.header.rules_version)};
  Overlay overlay(&state_);
  std::vector<Bytes> leaves;
  for (const Bytes& transaction : transactions) {
    auto checked = CheckTransactionStateless(transaction, state_.chain_id());
    VIGIL_ASSERT(checked.has_value());
    leaves.push_back(EncodeResultLeaf(checked->id, ExecuteTransaction(overlay, *checked, context)));
  }
  block.header.results_root = merkle::Tree::FromLeaves(leaves).Root();
  return block;
}

consensus::CommitCertificate TestChain::CertificateFor(uint64_t height,
                                                       const Sha256Digest& hash) const {
  consensus::Vote vote{.type = consensus::VoteType::kPrecommit,
                       .height = height,
                       .round = 0,
                       .value_id = hash,
                       .validator_index = 0,
                       .signature = {}};
  return consensus::CommitCertificate{
      .height = height,
      .round = 0,
      .value_id = hash,
      .signatures = {{0, keys_->validator.Sign(consensus::VoteSignBytes(kChainId, vote))}}};
}

EnrollDevice TestChain::Enroll(const crypto::PrivateKey& device, std::string group) const {
  return EnrollDevice{.device_key = device.public_key(),
                      .group = std::move(group),
                      .labels = {"line=3", "site=plant-a"}};
}

PublishRelease TestChain::Release(std::string app, std::string version) const {
  return PublishRelease{.app = std::move(app),
                        .version = std::move(version),
                        .bundle_digest = crypto::Sha256(AsBytes("bundle")),
                        .bundle_size_bytes = 1234,
                        .manifest_root = crypto::Sha256(AsBytes("manifest")),
                        .notes = "fixes the press timing"};
}

}  // namespace vigil::ledger::testing
