#include "ledger/genesis.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "codec/codec.h"
#include "common/assert.h"
#include "common/file.h"
#include "common/limits.h"
#include "ledger/rules.h"
#include "ledger/transaction.h"
#include "pki/pki.h"

namespace vigil::ledger {
namespace {

using Json = nlohmann::json;

std::unexpected<Error> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidArgument, "genesis: " + message);
}

// Refuses any member of `object` not in `allowed`, so a misspelt field is an error rather than
// a silently ignored setting.
Status CheckFields(const Json& object, std::string_view where,
                   std::initializer_list<std::string_view> allowed) {
  if (!object.is_object()) return Invalid(std::string(where) + " must be a JSON object");
  for (const auto& [key, value] : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return Invalid(std::string(where) + " has an unknown field \"" + key + "\"");
    }
  }
  for (std::string_view field : allowed) {
    if (!object.contains(std::string(field))) {
      return Invalid(std::string(where) + " lacks the field \"" + std::string(field) + "\"");
    }
  }
  return Ok();
}

Expected<std::string> GetString(const Json& object, std::string_view where,
                                std::string_view field) {
  const Json& value = object.at(std::string(field));
  if (!value.is_string()) {
    return Invalid(std::string(where) + "." + std::string(field) + " must be a string");
  }
  return value.get<std::string>();
}

Expected<uint64_t> GetUnsigned(const Json& object, std::string_view where, std::string_view field,
                               uint64_t max) {
  const Json& value = object.at(std::string(field));
  if (!value.is_number_unsigned() || value.get<uint64_t>() > max) {
    return Invalid(std::string(where) + "." + std::string(field) +
                   " must be an integer from 0 to " + std::to_string(max));
  }
  return value.get<uint64_t>();
}

Expected<PublicKey> GetKey(const Json& object, std::string_view where) {
  VIGIL_ASSIGN_OR_RETURN(std::string hex, GetString(object, where, "public_key"));
  auto key = FixedFromHex<limits::kEd25519PublicKeyBytes>(hex);
  if (!key) {
    return Invalid(std::string(where) + ".public_key: " + key.error().message() +
                   " (an Ed25519 public key is 64 hex characters; see `vigil keygen`)");
  }
  return *key;
}

Expected<const Json*> GetArray(const Json& object, std::string_view where, std::string_view field,
                               size_t max) {
  const Json& value = object.at(std::string(field));
  if (!value.is_array() || value.size() > max) {
    return Invalid(std::string(where) + std::string(field) + " must be a list of at most " +
                   std::to_string(max) + " entries");
  }
  return &value;
}

Status ValidateAddress(std::string_view where, std::string_view address) {
  size_t colon = address.rfind(':');
  bool valid = colon != std::string_view::npos && colon > 0 &&
               address.size() <= limits::kLedgerAddressBytesMax;
  if (valid) {
    std::string_view host = address.substr(0, colon);
    std::string_view port = address.substr(colon + 1);
    valid = std::all_of(host.begin(), host.end(),
                        [](char c) {
                          return std::isalnum(static_cast<unsigned char>(c)) || c == '.' ||
                                 c == '-' || c == ':' || c == '[' || c == ']';
                        }) &&
            !port.empty() && port.size() <= 5 &&
            std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (valid) {
      int number = std::stoi(std::string(port));
      valid = number >= 1 && number <= 65535;
    }
  }
  if (!valid) {
    return Invalid(std::string(where) + ".address \"" + std::string(address.substr(0, 64)) +
                   "\" must be host:port with a port from 1 to 65535");
  }
  return Ok();
}

template <typename Member>
void SortByKey(std::vector<Member>& members) {
  std::sort(members.begin(), members.end(),
            [](const Member& a, const Member& b) { return a.public_key < b.public_key; });
}

// Keys and names must be unique within a list.
template <typename Member>
Status CheckUnique(std::string_view list, const std::vector<Member>& members) {
  std::set<std::string> names;
  for (size_t i = 0; i < members.size(); ++i) {
    if (i > 0 && members[i - 1].public_key == members[i].public_key) {
      return Invalid(std::string(list) + " lists key " + ToHex(members[i].public_key) + " twice");
    }
    if (!names.insert(members[i].name).second) {
      return Invalid(std::string(list) + " lists the name \"" + members[i].name + "\" twice");
    }
  }
  return Ok();
}

Expected<GenesisMember> ParseMember(const Json& object, const std::string& where) {
  VIGIL_RETURN_IF_ERROR(CheckFields(object, where, {"name", "public_key"}));
  GenesisMember member;
  VIGIL_ASSIGN_OR_RETURN(member.name, GetString(object, where, "name"));
  VIGIL_ASSIGN_OR_RETURN(member.public_key, GetKey(object, where));
  return member;
}

Expected<GenesisValidator> ParseValidator(const Json& object, const std::string& where) {
  VIGIL_RETURN_IF_ERROR(CheckFields(object, where, {"name", "public_key", "power", "address"}));
  GenesisValidator validator;
  VIGIL_ASSIGN_OR_RETURN(validator.name, GetString(object, where, "name"));
  VIGIL_ASSIGN_OR_RETURN(validator.public_key, GetKey(object, where));
  VIGIL_ASSIGN_OR_RETURN(
      validator.voting_power,
      GetUnsigned(object, where, "power", limits::kConsensusTotalVotingPowerMax));
  VIGIL_ASSIGN_OR_RETURN(validator.address, GetString(object, where, "address"));
  return validator;
}

Expected<Genesis> ParseJson(const Json& root) {
  VIGIL_RETURN_IF_ERROR(CheckFields(root, "the file",
                                    {"chain_id", "genesis_time", "validators", "admins",
                                     "publishers", "rules_version", "ca_certificate"}));
  Genesis genesis;
  VIGIL_ASSIGN_OR_RETURN(genesis.chain_id, GetString(root, "", "chain_id"));
  VIGIL_ASSIGN_OR_RETURN(std::string time, GetString(root, "", "genesis_time"));
  auto time_ms = ParseUtcTimeMs(time);
  if (!time_ms) return Invalid("genesis_time: " + time_ms.error().message());
  genesis.genesis_time_ms = *time_ms;

  VIGIL_ASSIGN_OR_RETURN(const Json* validators,
                         GetArray(root, "", "validators", limits::kConsensusValidatorsMax));
  for (size_t i = 0; i < validators->size(); ++i) {
    VIGIL_ASSIGN_OR_RETURN(
        GenesisValidator validator,
        ParseValidator((*validators)[i], "validators[" + std::to_string(i) + "]"));
    genesis.validators.push_back(std::move(validator));
  }

  const Json& admins = root.at("admins");
  VIGIL_RETURN_IF_ERROR(CheckFields(admins, "admins", {"threshold", "keys"}));
  VIGIL_ASSIGN_OR_RETURN(uint64_t threshold,
                         GetUnsigned(admins, "admins", "threshold", limits::kLedgerAdminsMax));
  genesis.admin_threshold = static_cast<uint32_t>(threshold);
  VIGIL_ASSIGN_OR_RETURN(const Json* admin_keys,
                         GetArray(admins, "admins.", "keys", limits::kLedgerAdminsMax));
  for (size_t i = 0; i < admin_keys->size(); ++i) {
    VIGIL_ASSIGN_OR_RETURN(GenesisMember admin,
                           ParseMember((*admin_keys)[i], "admins.keys[" + std::to_string(i) + "]"));
    genesis.admins.push_back(std::move(admin));
  }

  VIGIL_ASSIGN_OR_RETURN(const Json* publishers,
                         GetArray(root, "", "publishers", limits::kLedgerPublishersMax));
  for (size_t i = 0; i < publishers->size(); ++i) {
    VIGIL_ASSIGN_OR_RETURN(GenesisMember publisher,
                           ParseMember((*publishers)[i], "publishers[" + std::to_string(i) + "]"));
    genesis.publishers.push_back(std::move(publisher));
  }
  VIGIL_ASSIGN_OR_RETURN(uint64_t rules_version,
                         GetUnsigned(root, "", "rules_version", UINT32_MAX));
  genesis.rules_version = static_cast<uint32_t>(rules_version);
  VIGIL_ASSIGN_OR_RETURN(genesis.ca_certificate_pem, GetString(root, "", "ca_certificate"));
  return ValidateGenesis(std::move(genesis));
}

void EncodeMembers(codec::Encoder& encoder, const std::vector<GenesisMember>& members) {
  encoder.WriteVector(members, [](codec::Encoder& e, const GenesisMember& member) {
    e.WriteFixed(member.public_key);
    e.WriteString(member.name);
  });
}

Json MembersToJson(const std::vector<GenesisMember>& members) {
  Json list = Json::array();
  for (const GenesisMember& member : members) {
    list.push_back({{"name", member.name}, {"public_key", ToHex(member.public_key)}});
  }
  return list;
}

}  // namespace

Expected<int64_t> ParseUtcTimeMs(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.mmm]Z
  auto digits = [&](size_t offset, size_t count) -> std::optional<int> {
    if (offset + count > text.size()) return std::nullopt;
    int value = 0;
    for (size_t i = offset; i < offset + count; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  auto year = digits(0, 4), month = digits(5, 2), day = digits(8, 2);
  auto hour = digits(11, 2), minute = digits(14, 2), second = digits(17, 2);
  bool shape = text.size() >= 20 && text[4] == '-' && text[7] == '-' && text[10] == 'T' &&
               text[13] == ':' && text[16] == ':';
  std::optional<int> millisecond = 0;
  if (shape && text.size() == 24) {
    millisecond = text[19] == '.' ? digits(20, 3) : std::nullopt;
  } else if (text.size() != 20) {
    shape = false;
  }
  shape = shape && text.back() == 'Z';
  if (!shape || !year || !month || !day || !hour || !minute || !second || !millisecond ||
      *hour > 23 || *minute > 59 || *second > 59) {
    return Fail(ErrorCode::kInvalidArgument,
                "\"" + std::string(text.substr(0, 40)) +
                    "\" is not a UTC time like 2026-11-22T00:00:00Z or 2026-11-22T00:00:00.250Z");
  }
  std::chrono::year_month_day date{std::chrono::year(*year),
                                   std::chrono::month(static_cast<unsigned>(*month)),
                                   std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok()) {
    return Fail(ErrorCode::kInvalidArgument, "\"" + std::string(text) + "\" is not a real date");
  }
  auto days = std::chrono::sys_days(date).time_since_epoch().count();
  return ((static_cast<int64_t>(days) * 24 + *hour) * 60 + *minute) * 60'000 +
         int64_t{*second} * 1000 + *millisecond;
}

std::string FormatUtcTimeMs(int64_t time_ms) {
  using namespace std::chrono;
  sys_time<milliseconds> time{milliseconds(time_ms)};
  sys_days days = floor<std::chrono::days>(time);
  year_month_day date(days);
  hh_mm_ss<milliseconds> clock(time - days);
  char text[40];
  std::snprintf(
      text, sizeof(text), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(date.year()),
      static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
      static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
      static_cast<int>(clock.seconds().count()), static_cast<int>(clock.subseconds().count()));
  return text;
}

Expected<Genesis> ValidateGenesis(Genesis genesis) {
  if (auto status = consensus::CheckChainId(genesis.chain_id); !status) {
    return Invalid("chain_id: " + status.error().message());
  }
  if (genesis.validators.empty()) return Invalid("validators: at least one validator is needed");
  SortByKey(genesis.validators);
  SortByKey(genesis.admins);
  SortByKey(genesis.publishers);
  for (const GenesisValidator& validator : genesis.validators) {
    std::string where = "validator \"" + validator.name + "\"";
    if (auto status = ValidateDisplayName("name", validator.name); !status) {
      return Invalid("validators: " + status.error().message());
    }
    VIGIL_RETURN_IF_ERROR(ValidateAddress(where, validator.address));
  }
  VIGIL_RETURN_IF_ERROR(CheckUnique("validators", genesis.validators));
  std::set<std::string> addresses;
  for (const GenesisValidator& validator : genesis.validators) {
    // Two validators at one address means a copy-paste error: one of them is unreachable.
    if (!addresses.insert(validator.address).second) {
      return Invalid("validators: the address " + validator.address + " is listed twice");
    }
  }
  std::vector<consensus::Validator> set;
  for (const GenesisValidator& validator : genesis.validators) {
    set.push_back({validator.public_key, validator.voting_power});
  }
  if (auto created = consensus::ValidatorSet::Create(set); !created) {
    return Invalid("validators: " + created.error().message());
  }

  if (genesis.admins.empty()) return Invalid("admins.keys: at least one admin is needed");
  if (genesis.admins.size() > limits::kLedgerAdminsMax) {
    return Invalid("admins.keys: at most " + std::to_string(limits::kLedgerAdminsMax) + " admins");
  }
  for (const GenesisMember& admin : genesis.admins) {
    if (auto status = ValidateDisplayName("name", admin.name); !status) {
      return Invalid("admins.keys: " + status.error().message());
    }
  }
  VIGIL_RETURN_IF_ERROR(CheckUnique("admins.keys", genesis.admins));
  if (genesis.admin_threshold < 1 || genesis.admin_threshold > genesis.admins.size()) {
    return Invalid("admins.threshold " + std::to_string(genesis.admin_threshold) +
                   " must be from 1 to the number of admin keys (" +
                   std::to_string(genesis.admins.size()) + ")");
  }

  if (genesis.publishers.size() > limits::kLedgerPublishersMax) {
    return Invalid("publishers: at most " + std::to_string(limits::kLedgerPublishersMax));
  }
  for (const GenesisMember& publisher : genesis.publishers) {
    if (auto status = ValidateDisplayName("name", publisher.name); !status) {
      return Invalid("publishers: " + status.error().message());
    }
  }
  VIGIL_RETURN_IF_ERROR(CheckUnique("publishers", genesis.publishers));

  if (FindRules(genesis.rules_version) == nullptr) {
    return Invalid("rules_version " + std::to_string(genesis.rules_version) +
                   " is not implemented by this Vigil (it has " +
                   std::to_string(SupportedRulesVersions().back()) + " at most)");
  }

  auto certificate = pki::Certificate::FromPem(genesis.ca_certificate_pem);
  if (!certificate) return Invalid("ca_certificate: " + certificate.error().message());
  auto identity = certificate->GetIdentity();
  if (!identity || identity->role != pki::Role::kCa) {
    return Invalid("ca_certificate is not a Vigil CA certificate (see `vigil pki init`)");
  }
  return genesis;
}

Expected<Genesis> ParseGenesis(std::string_view json) {
  if (json.size() > limits::kLedgerGenesisFileBytesMax) {
    return Invalid("the file is larger than " + std::to_string(limits::kLedgerGenesisFileBytesMax) +
                   " bytes");
  }
  Json root = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return Invalid("the file is not valid JSON");
  return ParseJson(root);
}

Expected<Genesis> ReadGenesisFile(const std::filesystem::path& path) {
  auto bytes = ReadFile(path, limits::kLedgerGenesisFileBytesMax);
  if (!bytes) return std::unexpected(bytes.error().WithContext("reading " + path.string()));
  auto genesis =
      ParseGenesis(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
  if (!genesis) return std::unexpected(genesis.error().WithContext(path.string()));
  return genesis;
}

std::string GenesisToJson(const Genesis& genesis) {
  Json validators = Json::array();
  for (const GenesisValidator& validator : genesis.validators) {
    validators.push_back({{"name", validator.name},
                          {"public_key", ToHex(validator.public_key)},
                          {"power", validator.voting_power},
                          {"address", validator.address}});
  }
  Json root = {
      {"chain_id", genesis.chain_id},
      {"genesis_time", FormatUtcTimeMs(genesis.genesis_time_ms)},
      {"validators", validators},
      {"admins", {{"threshold", genesis.admin_threshold}, {"keys", MembersToJson(genesis.admins)}}},
      {"publishers", MembersToJson(genesis.publishers)},
      {"rules_version", genesis.rules_version},
      {"ca_certificate", genesis.ca_certificate_pem}};
  return root.dump(2) + "\n";
}

Bytes EncodeGenesis(const Genesis& genesis) {
  codec::Encoder encoder;
  encoder.WriteString(genesis.chain_id);
  encoder.WriteI64(genesis.genesis_time_ms);
  encoder.WriteVector(genesis.validators, [](codec::Encoder& e, const GenesisValidator& v) {
    e.WriteFixed(v.public_key);
    e.WriteString(v.name);
    e.WriteU64(v.voting_power);
    e.WriteString(v.address);
  });
  EncodeMembers(encoder, genesis.admins);
  encoder.WriteU32(genesis.admin_threshold);
  EncodeMembers(encoder, genesis.publishers);
  encoder.WriteU32(genesis.rules_version);
  encoder.WriteString(genesis.ca_certificate_pem);
  return std::move(encoder).Take();
}

Sha256Digest GenesisHash(const Genesis& genesis) { return crypto::Sha256(EncodeGenesis(genesis)); }

State GenesisState(const Genesis& genesis) {
  State empty;
  Overlay writes(&empty);
  PutChainId(writes, genesis.chain_id);
  PutAdminThreshold(writes, genesis.admin_threshold);
  PutRules(writes,
           RulesRecord{.version = genesis.rules_version, .next_version = 0, .next_height = 0});
  PutCaCertificatePem(writes, genesis.ca_certificate_pem);
  for (const GenesisMember& admin : genesis.admins) PutAdmin(writes, admin.public_key, admin.name);
  for (const GenesisValidator& validator : genesis.validators) {
    PutValidator(writes, validator.public_key,
                 ValidatorRecord{.name = validator.name,
                                 .voting_power = validator.voting_power,
                                 .address = validator.address});
  }
  for (const GenesisMember& publisher : genesis.publishers) {
    PutPublisher(writes, publisher.public_key,
                 PublisherRecord{.name = publisher.name, .added_height = 0});
  }
  PutPublisherCount(writes, genesis.publishers.size());
  WriteSet write_set = std::move(writes).TakeWrites();
  ChainTip tip{.height = 0,
               .block_hash = GenesisHash(genesis),
               .state_hash = NextStateHash(Sha256Digest{}, write_set),
               .time_ms = genesis.genesis_time_ms};
  State state;
  state.Apply(write_set, tip);
  return state;
}

consensus::ValidatorSet GenesisValidatorSet(const Genesis& genesis) {
  std::vector<consensus::Validator> validators;
  for (const GenesisValidator& validator : genesis.validators) {
    validators.push_back({validator.public_key, validator.voting_power});
  }
  auto set = consensus::ValidatorSet::Create(std::move(validators));
  VIGIL_ASSERT(set.has_value());  // ValidateGenesis checked it
  return std::move(*set);
}

}  // namespace vigil::ledger
