// Ledger blocks: header, transactions, and the commit certificate of the previous block.
//
// Byte layouts: docs/ledger.md#blocks. The block hash is SHA-256 of the encoded header; it is
// what the next header names as its previous block and what the commit certificate's value id
// must be, so a light client holding the validator set verifies a transaction from
// (transaction, inclusion proof, header, certificate) alone (`VerifyTransactionInclusion`,
// `VerifyHeaderCommitted`). The header's results root covers this block's own transactions
// (the proposer executes before proposing), so one header also proves a transaction's result.
//
// Thread-safety: plain value types and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "codec/codec.h"
#include "consensus/types.h"
#include "crypto/crypto.h"
#include "ledger/transaction.h"
#include "merkle/merkle.h"

namespace vigil::ledger {

struct BlockHeader {
  std::string chain_id;
  uint64_t height = 0;                 // the first block is 1; genesis is 0
  int64_t time_ms = 0;                 // proposer's clock, strictly increasing
  Sha256Digest previous_block_hash{};  // at height 1: the genesis hash
  merkle::Hash transactions_root{};    // RFC 6962 root over the encoded envelopes
  merkle::Hash results_root{};         // RFC 6962 root over EncodeResultLeaf of each
  Sha256Digest state_hash{};           // after the previous block (at height 1: after genesis)
  uint32_t rules_version = 0;          // the rules this block executes under
  PublicKey proposer{};                // a validator's key
  friend bool operator==(const BlockHeader&, const BlockHeader&) = default;
};

struct Block {
  BlockHeader header;
  std::vector<Bytes> transactions;  // encoded envelopes, in execution order
  // Precommits of more than 2/3 of the voting power for the previous block (its hash as the
  // value id). Absent at height 1, required above.
  std::optional<consensus::CommitCertificate> last_commit;
  friend bool operator==(const Block&, const Block&) = default;
};

void EncodeHeader(codec::Encoder& encoder, const BlockHeader& header);
Expected<BlockHeader> DecodeHeader(codec::Decoder& decoder);
Bytes EncodeHeader(const BlockHeader& header);
Expected<BlockHeader> DecodeHeader(ByteSpan bytes);
Sha256Digest BlockHash(const BlockHeader& header);

// The block hash straight from an encoded block (decodes only the header at its front): the
// value id consensus should use for ledger blocks, so commit certificates name the block hash
// and a light client can check a header without the block's transactions. (consensus'
// ComputeValueId hashes the whole value instead; see docs/ledger.md#light-clients.)
Expected<Sha256Digest> BlockHashOfEncodedBlock(ByteSpan encoded_block);

// Refuses blocks above limits::kLedgerBlockBytesMax or kLedgerBlockTransactionsMax
// transactions, each transaction above kLedgerTransactionBytesMax, and trailing bytes.
Bytes EncodeBlock(const Block& block);
Expected<Block> DecodeBlock(ByteSpan bytes);

merkle::Hash TransactionsRoot(std::span<const Bytes> transactions);
// RFC 6962 root over EncodeResultLeaf(ids[i], results[i]); the spans have equal sizes.
merkle::Hash ResultsRoot(std::span<const TransactionId> ids,
                         std::span<const TransactionResult> results);

// --- Light client ---

// The transaction's leaf is in the header's transactions tree.
Status VerifyTransactionInclusion(ByteSpan encoded_transaction, const merkle::InclusionProof& proof,
                                  const BlockHeader& header);
// The result's leaf (bound to the transaction id) is in the header's results tree.
Status VerifyResultInclusion(const TransactionId& id, const TransactionResult& result,
                             const merkle::InclusionProof& proof, const BlockHeader& header);
// More than 2/3 of `validators` precommitted this header's hash at its height.
Status VerifyHeaderCommitted(const consensus::ValidatorSet& validators, const BlockHeader& header,
                             const consensus::CommitCertificate& certificate);

}  // namespace vigil::ledger
