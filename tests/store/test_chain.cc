#include "test_chain.h"

#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <system_error>

namespace vigil::store::testing {

Bytes Derive(std::string_view label, uint64_t a, uint64_t b) {
  // SplitMix64 over (label, a, b): cheap, deterministic and collision-free enough here.
  uint64_t state = 0x9e3779b97f4a7c15ULL;
  for (char character : label) state = state * 131 + static_cast<uint8_t>(character);
  state ^= a * 0xbf58476d1ce4e5b9ULL;
  state ^= (b + 1) * 0x94d049bb133111ebULL;
  Bytes bytes;
  bytes.reserve(32);
  for (int word = 0; word < 4; ++word) {
    state += 0x9e3779b97f4a7c15ULL;
    uint64_t mixed = state;
    mixed = (mixed ^ (mixed >> 30)) * 0xbf58476d1ce4e5b9ULL;
    mixed = (mixed ^ (mixed >> 27)) * 0x94d049bb133111ebULL;
    mixed ^= mixed >> 31;
    for (int shift = 0; shift < 64; shift += 8)
      bytes.push_back(static_cast<uint8_t>(mixed >> shift));
  }
  // Make (a, b) recoverable in the first bytes so distinct inputs never collide.
  for (int shift = 0; shift < 64; shift += 8)
    bytes[static_cast<size_t>(shift / 8)] = static_cast<uint8_t>(a >> shift);
  for (int shift = 0; shift < 32; shift += 8)
    bytes[8 + static_cast<size_t>(shift / 8)] = static_cast<uint8_t>(b >> shift);
  return bytes;
}

uint64_t TransactionCount(uint64_t height) { return (height % 7) * 20 + 1; }

std::string BlockKey(uint64_t height) {
  char key[32];
  std::snprintf(key, sizeof key, "block/%010llu", static_cast<unsigned long long>(height));
  return key;
}

std::string BulkKey(uint64_t residue, uint64_t index) {
  return "bulk/" + std::to_string(residue) + "/" + std::to_string(index);
}

Bytes BulkValue(uint64_t height, uint64_t index) {
  Bytes value;
  for (int part = 0; part < 8; ++part) {
    Bytes piece = Derive("bulk", height, index * 8 + static_cast<uint64_t>(part));
    value.insert(value.end(), piece.begin(), piece.end());
  }
  return value;  // 256 bytes
}

namespace {
Bytes ConsensusState(uint64_t height) { return ToBytes("consensus at " + std::to_string(height)); }
}  // namespace

BlockCommit MakeCommit(uint64_t height) {
  BlockCommit commit;
  commit.height = height;
  commit.block_hash = Derive("hash", height);
  if (height > 1) commit.previous_block_hash = Derive("hash", height - 1);
  commit.block = ToBytes("block " + std::to_string(height));
  commit.block.resize(commit.block.size() + height % 1000, 0x5a);
  commit.commit_certificate = ToBytes("certificate " + std::to_string(height));
  commit.state_hash = Derive("state", height);
  for (uint64_t index = 0; index < TransactionCount(height); ++index) {
    commit.transactions.push_back(
        {Derive("transaction", height, index),
         ToBytes("result " + std::to_string(height) + "/" + std::to_string(index))});
  }
  commit.state_writes.push_back({ToBytes("height"), ToBytes(std::to_string(height))});
  commit.state_writes.push_back({ToBytes(BlockKey(height)), Derive("block", height)});
  if (height > 3) commit.state_writes.push_back({ToBytes(BlockKey(height - 3)), std::nullopt});
  for (uint64_t index = 0; index < kBulkKeys; ++index) {
    commit.state_writes.push_back({ToBytes(BulkKey(height % 5, index)), BulkValue(height, index)});
  }
  if (height % 2 == 1) commit.consensus_state = ConsensusState(height);
  return commit;
}

namespace {

std::string Describe(const Error& error) { return error.ToString(); }

std::string VerifyBlocks(BlockStore& store, uint64_t last_height) {
  for (uint64_t height = 1; height <= last_height; ++height) {
    const BlockCommit expected = MakeCommit(height);
    auto block = store.GetBlock(height);
    if (!block) return "block " + std::to_string(height) + ": " + Describe(block.error());
    if (block->block_hash != expected.block_hash || block->block != expected.block ||
        block->commit_certificate != expected.commit_certificate ||
        block->state_hash != expected.state_hash ||
        block->transaction_count != expected.transactions.size()) {
      return "block " + std::to_string(height) + " differs";
    }
    auto transactions = store.TransactionsOfBlock(height);
    if (!transactions) return Describe(transactions.error());
    if (transactions->size() != expected.transactions.size()) {
      return "block " + std::to_string(height) + " has " + std::to_string(transactions->size()) +
             " transactions indexed";
    }
    for (size_t index = 0; index < transactions->size(); ++index) {
      const TransactionEntry& entry = (*transactions)[index];
      if (entry.id != expected.transactions[index].id ||
          entry.result != expected.transactions[index].result) {
        return "transaction " + std::to_string(height) + "/" + std::to_string(index) + " differs";
      }
      auto location = store.FindTransaction(entry.id);
      if (!location || location->height != height || location->index != index) {
        return "transaction " + std::to_string(height) + "/" + std::to_string(index) +
               " is not found where it should be";
      }
    }
  }
  if (auto next = store.GetBlock(last_height + 1);
      next || next.error().code() != ErrorCode::kNotFound) {
    return "a block exists after the last height " + std::to_string(last_height);
  }
  if (auto next = store.FindTransaction(Derive("transaction", last_height + 1, 0)); next) {
    return "a transaction of block " + std::to_string(last_height + 1) + " is indexed";
  }
  return "";
}

std::string VerifyState(BlockStore& store, uint64_t last_height) {
  auto height = store.GetState(AsBytes("height"));
  if (!height) return Describe(height.error());
  std::optional<Bytes> expected_height;
  if (last_height > 0) expected_height = ToBytes(std::to_string(last_height));
  if (*height != expected_height) return "state key 'height' does not name the last block";
  for (uint64_t block = 1; block <= last_height + 1; ++block) {
    auto value = store.GetState(AsBytes(BlockKey(block)));
    if (!value) return Describe(value.error());
    bool expect_present = block <= last_height && block + 3 > last_height;
    if (value->has_value() != expect_present ||
        (expect_present && **value != Derive("block", block))) {
      return "state key " + BlockKey(block) + " is wrong";
    }
  }
  for (uint64_t residue = 0; residue < 5; ++residue) {
    // The last block with this residue wrote every bulk key of it.
    uint64_t writer = 0;
    for (uint64_t block = last_height; block >= 1 && block + 5 > last_height; --block) {
      if (block % 5 == residue) {
        writer = block;
        break;
      }
    }
    auto entries = store.ScanState(AsBytes("bulk/" + std::to_string(residue) + "/"), 1000);
    if (!entries) return Describe(entries.error());
    if (entries->size() != (writer == 0 ? 0 : kBulkKeys)) {
      return "bulk keys of residue " + std::to_string(residue) + ": " +
             std::to_string(entries->size());
    }
    for (const StateEntry& entry : *entries) {
      std::string key(entry.key.begin(), entry.key.end());
      uint64_t index = std::stoull(key.substr(key.rfind('/') + 1));
      if (entry.value != BulkValue(writer, index) || entry.height != writer) {
        return "state key " + key + " was not written by block " + std::to_string(writer);
      }
    }
  }
  auto consensus = store.LoadConsensusState();
  if (!consensus) return Describe(consensus.error());
  uint64_t odd = last_height % 2 == 1 ? last_height : last_height - 1;
  std::optional<Bytes> expected_consensus;
  if (last_height > 0) expected_consensus = ConsensusState(odd);
  if (*consensus != expected_consensus) return "consensus state is not that of the last odd block";
  return "";
}

}  // namespace

std::string VerifyChain(BlockStore& store, uint64_t last_height) {
  auto stored_last = store.LastHeight();
  if (!stored_last) return Describe(stored_last.error());
  if (*stored_last != last_height) {
    return "last height is " + std::to_string(*stored_last) + ", expected " +
           std::to_string(last_height);
  }
  if (std::string problem = VerifyBlocks(store, last_height); !problem.empty()) return problem;
  if (std::string problem = VerifyState(store, last_height); !problem.empty()) return problem;
  if (auto integrity = store.CheckIntegrity(); !integrity) return Describe(integrity.error());
  return "";
}

}  // namespace vigil::store::testing
