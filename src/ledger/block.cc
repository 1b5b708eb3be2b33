#include "ledger/block.h"

#include "common/limits.h"

namespace vigil::ledger {
namespace {

Expected<Sha256Digest> ReadDigest(codec::Decoder& decoder, std::string_view field) {
  return decoder.ReadFixed<limits::kSha256DigestBytes>(field);
}

Expected<Block> DecodeBlockFrom(codec::Decoder& decoder) {
  Block block;
  VIGIL_ASSIGN_OR_RETURN(block.header, DecodeHeader(decoder));
  VIGIL_ASSIGN_OR_RETURN(
      block.transactions,
      decoder.ReadVector("transactions", limits::kLedgerBlockTransactionsMax,
                         [](codec::Decoder& d) {
                           return d.ReadBytes("transaction", limits::kLedgerTransactionBytesMax);
                         }));
  VIGIL_ASSIGN_OR_RETURN(block.last_commit,
                         decoder.ReadOptional("last_commit", [](codec::Decoder& d) {
                           return consensus::DecodeCommitCertificate(d);
                         }));
  return block;
}

}  // namespace

void EncodeHeader(codec::Encoder& encoder, const BlockHeader& header) {
  encoder.WriteString(header.chain_id);
  encoder.WriteU64(header.height);
  encoder.WriteI64(header.time_ms);
  encoder.WriteFixed(header.previous_block_hash);
  encoder.WriteFixed(header.transactions_root);
  encoder.WriteFixed(header.results_root);
  encoder.WriteFixed(header.state_hash);
  encoder.WriteU32(header.rules_version);
  encoder.WriteFixed(header.proposer);
}

Expected<BlockHeader> DecodeHeader(codec::Decoder& decoder) {
  BlockHeader header;
  VIGIL_ASSIGN_OR_RETURN(header.chain_id,
                         decoder.ReadString("chain_id", limits::kConsensusChainIdBytesMax));
  VIGIL_ASSIGN_OR_RETURN(header.height, decoder.ReadU64("height"));
  VIGIL_ASSIGN_OR_RETURN(header.time_ms, decoder.ReadI64("time_ms"));
  VIGIL_ASSIGN_OR_RETURN(header.previous_block_hash, ReadDigest(decoder, "previous_block_hash"));
  VIGIL_ASSIGN_OR_RETURN(header.transactions_root, ReadDigest(decoder, "transactions_root"));
  VIGIL_ASSIGN_OR_RETURN(header.results_root, ReadDigest(decoder, "results_root"));
  VIGIL_ASSIGN_OR_RETURN(header.state_hash, ReadDigest(decoder, "state_hash"));
  VIGIL_ASSIGN_OR_RETURN(header.rules_version, decoder.ReadU32("rules_version"));
  VIGIL_ASSIGN_OR_RETURN(header.proposer,
                         decoder.ReadFixed<limits::kEd25519PublicKeyBytes>("proposer"));
  return header;
}

Bytes EncodeHeader(const BlockHeader& header) {
  codec::Encoder encoder;
  EncodeHeader(encoder, header);
  return std::move(encoder).Take();
}

Expected<BlockHeader> DecodeHeader(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](codec::Decoder& d) { return DecodeHeader(d); });
}

Sha256Digest BlockHash(const BlockHeader& header) { return crypto::Sha256(EncodeHeader(header)); }

Expected<Sha256Digest> BlockHashOfEncodedBlock(ByteSpan encoded_block) {
  codec::Decoder decoder(encoded_block);
  size_t begin = decoder.offset();
  VIGIL_ASSIGN_OR_RETURN(BlockHeader header, DecodeHeader(decoder));
  (void)header;  // decoded only to find where the header ends, strictly
  return crypto::Sha256(encoded_block.subspan(begin, decoder.offset() - begin));
}

Bytes EncodeBlock(const Block& block) {
  codec::Encoder encoder;
  EncodeHeader(encoder, block.header);
  encoder.WriteVector(block.transactions, [](codec::Encoder& e, const Bytes& transaction) {
    e.WriteBytes(transaction);
  });
  encoder.WriteOptional(block.last_commit,
                        [](codec::Encoder& e, const consensus::CommitCertificate& certificate) {
                          consensus::EncodeCommitCertificate(e, certificate);
                        });
  return std::move(encoder).Take();
}

Expected<Block> DecodeBlock(ByteSpan bytes) {
  if (bytes.size() > limits::kLedgerBlockBytesMax) {
    return Fail(ErrorCode::kCorruption, "block of " + std::to_string(bytes.size()) +
                                            " bytes exceeds the limit of " +
                                            std::to_string(limits::kLedgerBlockBytesMax));
  }
  return codec::DecodeExactly(bytes, DecodeBlockFrom);
}

merkle::Hash TransactionsRoot(std::span<const Bytes> transactions) {
  return merkle::Tree::FromLeaves(transactions).Root();
}

merkle::Hash ResultsRoot(std::span<const TransactionId> ids,
                         std::span<const TransactionResult> results) {
  VIGIL_ASSERT(ids.size() == results.size());
  std::vector<merkle::Hash> leaves;
  leaves.reserve(results.size());
  for (size_t i = 0; i < results.size(); ++i) {
    leaves.push_back(merkle::HashLeaf(EncodeResultLeaf(ids[i], results[i])));
  }
  return merkle::Tree::FromLeafHashes(std::move(leaves)).Root();
}

Status VerifyTransactionInclusion(ByteSpan encoded_transaction, const merkle::InclusionProof& proof,
                                  const BlockHeader& header) {
  auto status = merkle::VerifyInclusion(merkle::HashLeaf(encoded_transaction), proof,
                                        header.transactions_root);
  if (!status) {
    return std::unexpected(
        status.error().WithContext("transaction is not in block " + std::to_string(header.height)));
  }
  return Ok();
}

Status VerifyResultInclusion(const TransactionId& id, const TransactionResult& result,
                             const merkle::InclusionProof& proof, const BlockHeader& header) {
  auto status = merkle::VerifyInclusion(merkle::HashLeaf(EncodeResultLeaf(id, result)), proof,
                                        header.results_root);
  if (!status) {
    return std::unexpected(
        status.error().WithContext("result is not in block " + std::to_string(header.height)));
  }
  return Ok();
}

Status VerifyHeaderCommitted(const consensus::ValidatorSet& validators, const BlockHeader& header,
                             const consensus::CommitCertificate& certificate) {
  return consensus::VerifyCommitCertificate(validators, header.chain_id, header.height,
                                            BlockHash(header), certificate);
}

}  // namespace vigil::ledger
