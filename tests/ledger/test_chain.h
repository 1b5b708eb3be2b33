// A small chain for ledger tests: a genesis with three admins (2-of-3), one publisher, one
// validator, and helpers that sign transactions and commit blocks the way a proposer and the
// validators would.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "consensus/types.h"
#include "crypto/crypto.h"
#include "ledger/execute.h"
#include "ledger/genesis.h"

namespace vigil::ledger::testing {

inline constexpr std::string_view kChainId = "vigil-test";
inline constexpr int64_t kGenesisTimeMs = 1'790'000'000'000;

crypto::PrivateKey KeyFromByte(uint8_t byte);
std::string TestCaPem();

struct Keys {
  crypto::PrivateKey admin1 = KeyFromByte(1);
  crypto::PrivateKey admin2 = KeyFromByte(2);
  crypto::PrivateKey admin3 = KeyFromByte(3);
  crypto::PrivateKey publisher = KeyFromByte(10);
  crypto::PrivateKey validator = KeyFromByte(20);
  crypto::PrivateKey device1 = KeyFromByte(30);
  crypto::PrivateKey device2 = KeyFromByte(31);
  crypto::PrivateKey outsider = KeyFromByte(40);
};

Genesis TestGenesis(const Keys& keys);

class TestChain {
 public:
  TestChain();

  const Keys& keys() const { return *keys_; }
  const State& state() const { return state_; }
  const Genesis& genesis() const { return genesis_; }
  // Every block committed so far, in order (what storage would hold).
  const std::vector<Block>& blocks() const { return blocks_; }

  // Signs with the signer's next sequence (from the state plus what this chain handed out but
  // has not committed yet).
  Bytes Sign(const Body& body, const crypto::PrivateKey& signer,
             std::vector<const crypto::PrivateKey*> co_signers = {});
  Bytes SignWithSequence(const Body& body, const crypto::PrivateKey& signer, uint64_t sequence,
                         std::vector<const crypto::PrivateKey*> co_signers = {});
  // Governance signed by admin1 and admin2 (meets the threshold).
  Bytes Govern(const Body& body);

  // Builds the next block from `transactions` (BuildBlock), validates it as another validator
  // would (ExecuteBlock on a copy), applies it, and returns the execution.
  BlockExecution Commit(std::vector<Bytes> transactions);
  // One transaction in its own block; returns its result (asserts it was included).
  TransactionResult Submit(const Bytes& transaction);

  // What a (Byzantine) proposer could assemble: any transactions, executed in order, with
  // correct roots. No filtering.
  Block ForgeBlock(const std::vector<Bytes>& transactions) const;
  // The certificate that block `height` with `hash` is committed (the one validator signs).
  consensus::CommitCertificate CertificateFor(uint64_t height, const Sha256Digest& hash) const;
  consensus::ValidatorSet validator_set() const { return GenesisValidatorSet(genesis_); }
  int64_t NextTimeMs() const { return state_.tip().time_ms + 1000; }

  // Convenience bodies.
  EnrollDevice Enroll(const crypto::PrivateKey& device, std::string group = "presses") const;
  PublishRelease Release(std::string app, std::string version) const;

 private:
  // Shared so a test can copy a chain (keys are move-only) and run two futures side by side.
  std::shared_ptr<const Keys> keys_;
  Genesis genesis_;
  State state_;
  std::optional<consensus::CommitCertificate> last_commit_;
  std::map<PublicKey, uint64_t> pending_sequences_;
  std::vector<Block> blocks_;
};

}  // namespace vigil::ledger::testing
