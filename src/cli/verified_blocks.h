// Trusting committed blocks a peer sends: the genesis validators, and the check of each block
// against them. Shared by the commands that show blocks (`vigil ledger block|tail`, `vigil
// history`), so every one of them verifies the same way (docs/cli.md).
//
// Blocks are checked with api::VerifyCommittedBlock: the commit certificate holds precommits
// of more than 2/3 of the genesis validators' power for the header's hash, and the block's
// transactions and results match the header's roots. The validator set is the genesis one:
// the ledger has no validator-change transaction yet (kind 7 is reserved), so it holds at
// every height; when it gains one, verification must follow the changes.
#pragma once

#include <filesystem>
#include <string>

#include "api/messages.h"
#include "cli/peer_target.h"
#include "consensus/types.h"
#include "crypto/crypto.h"
#include "ledger/block.h"
#include "ledger/genesis.h"

namespace vigil::cli {

struct Trusted {
  std::filesystem::path genesis_path;
  ledger::Genesis genesis;
  consensus::ValidatorSet validators;
};

// --genesis, or the cluster's genesis.json.
Expected<Trusted> LoadTrusted(const std::string& genesis, const PeerTarget& target);

// The block, verified; the error names the block and the genesis it was checked against, and
// says when that genesis is not the one the peer's chain started from.
Expected<ledger::Block> VerifyBlock(const Trusted& trusted, const api::CommittedBlock& block,
                                    const crypto::Sha256Digest& peer_genesis_hash);

// "verified: 1 of 1 validators signed block 7 (2f+1 needed), checked against genesis.json"
std::string VerifiedSentence(const Trusted& trusted, const api::CommittedBlock& block);

}  // namespace vigil::cli
