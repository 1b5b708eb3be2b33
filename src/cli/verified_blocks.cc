#include "cli/verified_blocks.h"

#include <utility>

#include "common/bytes.h"
#include "peer/cluster.h"

namespace vigil::cli {

Expected<Trusted> LoadTrusted(const std::string& genesis, const PeerTarget& target) {
  std::filesystem::path path = genesis;
  if (path.empty()) {
    if (target.cluster.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "which validators to trust? pass --genesis FILE (the chain's genesis.json) or "
                  "--cluster DIR");
    }
    VIGIL_ASSIGN_OR_RETURN(peer::Cluster cluster, peer::ReadCluster(target.cluster));
    path = cluster.genesis;
  }
  VIGIL_ASSIGN_OR_RETURN(ledger::Genesis read, ledger::ReadGenesisFile(path));
  consensus::ValidatorSet validators = ledger::GenesisValidatorSet(read);
  return Trusted{.genesis_path = path, .genesis = std::move(read), .validators = validators};
}

Expected<ledger::Block> VerifyBlock(const Trusted& trusted, const api::CommittedBlock& block,
                                    const crypto::Sha256Digest& peer_genesis_hash) {
  auto verified = api::VerifyCommittedBlock(trusted.validators, trusted.genesis.chain_id, block);
  if (!verified) {
    const crypto::Sha256Digest file_hash = ledger::GenesisHash(trusted.genesis);
    std::string hint;
    if (peer_genesis_hash != file_hash) {
      hint = " (this is not the peer's genesis: the peer's genesis hash is " +
             ToHex(peer_genesis_hash) + ", the file's " + ToHex(file_hash) + ")";
    }
    return Fail(ErrorCode::kUnauthenticated,
                "block " + std::to_string(block.height) + " does NOT verify against the " +
                    std::to_string(trusted.validators.size()) + " validators of " +
                    trusted.genesis_path.string() + ": " + verified.error().message() + hint);
  }
  return verified;
}

std::string VerifiedSentence(const Trusted& trusted, const api::CommittedBlock& block) {
  return "verified: " + std::to_string(block.certificate.signatures.size()) + " of " +
         std::to_string(trusted.validators.size()) + " validators signed block " +
         std::to_string(block.height) + " (2f+1 needed), checked against " +
         trusted.genesis_path.string();
}

}  // namespace vigil::cli
