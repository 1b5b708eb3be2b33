// The genesis file: what a chain starts from, and the state it produces.
//
// JSON (docs/ledger.md#genesis), parsed strictly: unknown fields, wrong types, duplicate keys
// or names, out-of-range numbers and malformed values are refused with a message naming the
// field. Lists are sorted by public key after parsing, so the listing order in the file does
// not change the genesis hash.
//
//   {
//     "chain_id": "plant-a",
//     "genesis_time": "2026-11-22T00:00:00Z",
//     "validators": [{"name": "peer-1", "public_key": "<64 hex>", "power": 1,
//                     "address": "10.0.0.1:7100"}],
//     "admins": {"threshold": 2, "keys": [{"name": "alice", "public_key": "<64 hex>"}, ...]},
//     "publishers": [{"name": "release-bot", "public_key": "<64 hex>"}],
//     "rules_version": 1,
//     "ca_certificate": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"
//   }
//
// The genesis hash is SHA-256 of the canonical encoding; block 1 names it as its previous
// block, so a peer started from another genesis file refuses the chain at block 1.
//
// Thread-safety: plain value types and pure functions (ReadGenesisFile reads one file).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/error.h"
#include "consensus/types.h"
#include "crypto/crypto.h"
#include "ledger/state.h"

namespace vigil::ledger {

struct GenesisValidator {
  std::string name;
  PublicKey public_key{};
  uint64_t voting_power = 0;
  std::string address;  // host:port of its peer-to-peer listener
  friend bool operator==(const GenesisValidator&, const GenesisValidator&) = default;
};

struct GenesisMember {  // an admin or a publisher
  std::string name;
  PublicKey public_key{};
  friend bool operator==(const GenesisMember&, const GenesisMember&) = default;
};

struct Genesis {
  std::string chain_id;
  int64_t genesis_time_ms = 0;
  std::vector<GenesisValidator> validators;  // sorted by key
  std::vector<GenesisMember> admins;         // sorted by key
  uint32_t admin_threshold = 0;              // k of the k-of-n
  std::vector<GenesisMember> publishers;     // sorted by key
  uint32_t rules_version = 1;
  std::string ca_certificate_pem;
  friend bool operator==(const Genesis&, const Genesis&) = default;
};

// Sorts the lists and checks every rule.
Expected<Genesis> ValidateGenesis(Genesis genesis);
Expected<Genesis> ParseGenesis(std::string_view json);
// Refuses files above limits::kLedgerGenesisFileBytesMax.
Expected<Genesis> ReadGenesisFile(const std::filesystem::path& path);
// The JSON form ParseGenesis reads (for `vigil genesis` and tests).
std::string GenesisToJson(const Genesis& genesis);

// "2026-11-22T00:00:00Z" or with milliseconds ("...00.250Z"); UTC only.
Expected<int64_t> ParseUtcTimeMs(std::string_view text);
std::string FormatUtcTimeMs(int64_t time_ms);

Bytes EncodeGenesis(const Genesis& genesis);
Sha256Digest GenesisHash(const Genesis& genesis);

// The state at height 0. Its tip names the genesis hash as the block hash and the genesis time.
State GenesisState(const Genesis& genesis);
consensus::ValidatorSet GenesisValidatorSet(const Genesis& genesis);

}  // namespace vigil::ledger
