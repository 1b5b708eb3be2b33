// `vigil genesis create`: write the genesis file a chain starts from (docs/ledger.md#genesis).
//
// The command only turns flags into a ledger::Genesis; ledger::ValidateGenesis decides what is
// valid and ledger::GenesisToJson writes the file, so the file always parses back to the same
// genesis hash. (`vigil cluster up` builds a ledger::Genesis in-process the same way.)
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
#include "common/bytes.h"
#include "common/file.h"
#include "common/limits.h"
#include "crypto/crypto.h"
#include "ledger/genesis.h"
#include "pki/pki.h"

namespace vigil::cli {
namespace {

constexpr std::string_view kCommandName = "genesis create";
// What `vigil keygen --out DIR` writes beside key.pem.
constexpr std::string_view kPublicKeyFileName = "key.pub";
constexpr std::string_view kPowerSuffix = ",power=";

struct GenesisOptions {
  std::string chain_id;
  std::vector<std::string> validators;
  std::vector<std::string> admins;
  uint32_t admin_threshold = 0;  // 0: not given
  std::vector<std::string> publishers;
  uint32_t rules_version = 1;
  std::string genesis_time;  // empty: now
  std::string ca;
  std::string out;
  bool force = false;
  bool json = false;
};

std::unexpected<Error> Invalid(std::string_view flag, std::string_view value,
                               std::string_view problem) {
  return Fail(ErrorCode::kInvalidArgument, std::string(flag) + " \"" +
                                               std::string(value.substr(0, 200)) +
                                               "\": " + std::string(problem));
}

bool IsHexKey(std::string_view text) {
  return text.size() == 2 * limits::kEd25519PublicKeyBytes && std::ranges::all_of(text, [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c));
         });
}

// 64 hex characters, a public key file (PEM, as `vigil keygen` writes key.pub), or a directory
// holding key.pub (`vigil keygen --out DIR`) or cert.pem (`vigil pki issue --out DIR`).
Expected<crypto::PublicKey> ResolvePublicKey(std::string_view text) {
  if (IsHexKey(text)) return FixedFromHex<limits::kEd25519PublicKeyBytes>(text);
  std::filesystem::path path{std::string(text)};
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    const std::filesystem::path certificate = path / std::string(pki::kNodeCertificateFileName);
    path /= std::string(kPublicKeyFileName);
    if (!std::filesystem::exists(path, ignored) && std::filesystem::exists(certificate, ignored)) {
      VIGIL_ASSIGN_OR_RETURN(pki::Certificate read, pki::ReadCertificateFile(certificate));
      VIGIL_ASSIGN_OR_RETURN(pki::Identity identity, read.GetIdentity());
      return identity.public_key;
    }
  }
  if (!std::filesystem::exists(path, ignored)) {
    return Fail(ErrorCode::kInvalidArgument,
                "the key is neither 64 hex characters nor a key.pub file nor a directory "
                "holding one (see `vigil keygen`)");
  }
  return crypto::ReadPublicKeyFile(path);
}

// NAME=PUBKEY: an admin or a publisher.
Expected<ledger::GenesisMember> ParseMember(std::string_view flag, std::string_view text) {
  const size_t equals = text.find('=');
  if (equals == std::string_view::npos || equals == 0 || equals + 1 == text.size()) {
    return Invalid(flag, text, "expected NAME=PUBKEY");
  }
  auto key = ResolvePublicKey(text.substr(equals + 1));
  if (!key) return Invalid(flag, text, key.error().message());
  return ledger::GenesisMember{.name = std::string(text.substr(0, equals)), .public_key = *key};
}

// NAME=PUBKEY@HOST:PORT[,power=N]. The key may be a path, which may hold '@', so the address
// starts after the last '@' (an address never holds one).
Expected<ledger::GenesisValidator> ParseValidator(std::string_view text) {
  constexpr std::string_view kFlag = "--validator";
  constexpr std::string_view kShape =
      "expected NAME=PUBKEY@HOST:PORT or NAME=PUBKEY@HOST:PORT,power=N";
  std::string_view rest = text;
  uint64_t power = 1;
  if (const size_t suffix = rest.rfind(kPowerSuffix); suffix != std::string_view::npos) {
    const std::string_view digits = rest.substr(suffix + kPowerSuffix.size());
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), power);
    if (error != std::errc() || end != digits.data() + digits.size() || power == 0) {
      return Invalid(kFlag, text, "power must be a whole number of at least 1");
    }
    rest = rest.substr(0, suffix);
  }
  const size_t equals = rest.find('=');
  const size_t at = rest.rfind('@');
  if (equals == std::string_view::npos || equals == 0 || at == std::string_view::npos ||
      at < equals + 2 || at + 1 == rest.size()) {
    return Invalid(kFlag, text, kShape);
  }
  auto key = ResolvePublicKey(rest.substr(equals + 1, at - equals - 1));
  if (!key) return Invalid(kFlag, text, key.error().message());
  return ledger::GenesisValidator{.name = std::string(rest.substr(0, equals)),
                                  .public_key = *key,
                                  .voting_power = power,
                                  .address = std::string(rest.substr(at + 1))};
}

// The CA certificate of a `vigil pki init` directory (or a PEM file), re-encoded so the genesis
// holds exactly one certificate.
Expected<std::string> ReadCaCertificate(const std::string& text) {
  std::filesystem::path path(text);
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    path /= std::string(pki::kCaCertificateFileName);
  }
  auto certificate = pki::ReadCertificateFile(path);
  if (!certificate) return Invalid("--ca", text, certificate.error().message());
  return certificate->ToPem();
}

// ValidateGenesis names JSON fields; an operator typed flags. Maps the first to the second.
Error NameTheFlag(const Error& error) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kFlags = {{
      {"chain_id", "--chain-id"},
      {"validator", "--validator"},
      {"admins.keys", "--admin"},
      {"admins.threshold", "--admin-threshold"},
      {"publishers", "--publisher"},
      {"rules_version", "--rules-version"},
      {"ca_certificate", "--ca"},
  }};
  constexpr std::string_view kPrefix = "genesis: ";
  std::string_view message = error.message();
  if (message.starts_with(kPrefix)) message.remove_prefix(kPrefix.size());
  for (const auto& [field, flag] : kFlags) {
    if (!message.starts_with(field)) continue;
    std::string_view rest = message;
    // "validators: the address ... is listed twice" reads better as "--validator: the ...".
    if (const size_t colon = rest.find(": ");
        colon != std::string_view::npos &&
        rest.substr(0, colon).find(' ') == std::string_view::npos) {
      rest.remove_prefix(colon + 2);
    }
    return Error(error.code(), std::string(flag) + ": " + std::string(rest));
  }
  return error;
}

Expected<ledger::Genesis> AssembleGenesis(const GenesisOptions& options) {
  ledger::Genesis genesis;
  genesis.chain_id = options.chain_id;
  if (options.genesis_time.empty()) {
    using namespace std::chrono;
    genesis.genesis_time_ms =
        duration_cast<seconds>(system_clock::now().time_since_epoch()).count() * 1000;
  } else {
    auto time_ms = ledger::ParseUtcTimeMs(options.genesis_time);
    if (!time_ms) return Invalid("--genesis-time", options.genesis_time, time_ms.error().message());
    genesis.genesis_time_ms = *time_ms;
  }
  for (const std::string& text : options.validators) {
    VIGIL_ASSIGN_OR_RETURN(ledger::GenesisValidator validator, ParseValidator(text));
    genesis.validators.push_back(std::move(validator));
  }
  for (const std::string& text : options.admins) {
    VIGIL_ASSIGN_OR_RETURN(ledger::GenesisMember admin, ParseMember("--admin", text));
    genesis.admins.push_back(std::move(admin));
  }
  for (const std::string& text : options.publishers) {
    VIGIL_ASSIGN_OR_RETURN(ledger::GenesisMember publisher, ParseMember("--publisher", text));
    genesis.publishers.push_back(std::move(publisher));
  }
  // One admin needs no threshold; with more, k of n is a decision the operator must state.
  genesis.admin_threshold = options.admin_threshold;
  if (genesis.admin_threshold == 0 && genesis.admins.size() == 1) genesis.admin_threshold = 1;
  if (genesis.admin_threshold == 0 && genesis.admins.size() > 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "--admin-threshold is required with " + std::to_string(genesis.admins.size()) +
                    " admins: how many of them must sign governance transactions");
  }
  genesis.rules_version = options.rules_version;
  VIGIL_ASSIGN_OR_RETURN(genesis.ca_certificate_pem, ReadCaCertificate(options.ca));
  auto validated = ledger::ValidateGenesis(std::move(genesis));
  if (!validated) return std::unexpected(NameTheFlag(validated.error()));
  return validated;
}

Status RunGenesisCreate(const GenesisOptions& options) {
  const std::filesystem::path out(options.out);
  std::error_code ignored;
  if (!options.force && std::filesystem::exists(out, ignored)) {
    return Fail(ErrorCode::kAlreadyExists,
                "--out " + out.string() +
                    " already exists; refusing to overwrite a genesis file (a chain's peers must "
                    "all start from the same one): pass --force to replace it");
  }
  VIGIL_ASSIGN_OR_RETURN(ledger::Genesis genesis, AssembleGenesis(options));
  const std::string json = ledger::GenesisToJson(genesis);
  VIGIL_RETURN_IF_ERROR(WriteFileAtomically(out, AsBytes(json), 0644));

  const std::string hash = ToHex(ledger::GenesisHash(genesis));
  uint64_t power = 0;
  for (const ledger::GenesisValidator& validator : genesis.validators) {
    power += validator.voting_power;
  }
  if (options.json) {
    PrintJson({{"chain_id", genesis.chain_id},
               {"genesis_hash", hash},
               {"genesis_time", ledger::FormatUtcTimeMs(genesis.genesis_time_ms)},
               {"validators", genesis.validators.size()},
               {"total_voting_power", power},
               {"admins", genesis.admins.size()},
               {"admin_threshold", genesis.admin_threshold},
               {"publishers", genesis.publishers.size()},
               {"rules_version", genesis.rules_version},
               {"file", out.string()}});
    return Ok();
  }
  std::printf("chain id      %s\n", genesis.chain_id.c_str());
  std::printf("genesis hash  %s\n", hash.c_str());
  std::printf("genesis time  %s\n", ledger::FormatUtcTimeMs(genesis.genesis_time_ms).c_str());
  std::printf("validators    %zu (total voting power %llu)\n", genesis.validators.size(),
              static_cast<unsigned long long>(power));
  std::printf("admins        %zu (%u must sign governance)\n", genesis.admins.size(),
              genesis.admin_threshold);
  std::printf("publishers    %zu\n", genesis.publishers.size());
  std::printf("file          %s\n", out.c_str());
  return Ok();
}

}  // namespace

void RegisterGenesisCommand(CLI::App& app, CommandContext& context) {
  CLI::App* genesis =
      app.add_subcommand("genesis", "The genesis file a chain starts from (docs/ledger.md)");
  genesis->require_subcommand(1);
  CLI::App* create = genesis->add_subcommand(
      "create",
      "Write a genesis file: chain id, validators, admins (k of n), publishers, rules version "
      "and the fleet CA. Every peer of the chain starts from this file; its genesis hash names "
      "the chain. A PUBKEY is 64 hex characters, a key.pub file, or a directory from `vigil "
      "keygen` (key.pub) or `vigil pki issue` (cert.pem).");
  auto options = std::make_shared<GenesisOptions>();
  create->add_option("--chain-id", options->chain_id, "Chain id, e.g. plant-a (1 to 64 bytes)")
      ->required();
  create
      ->add_option("--validator", options->validators,
                   "NAME=PUBKEY@HOST:PORT[,power=N] (repeat; power defaults to 1)")
      ->required();
  create->add_option("--admin", options->admins, "NAME=PUBKEY (repeat)")->required();
  create->add_option("--admin-threshold", options->admin_threshold,
                     "How many admins must sign governance (required with 2 or more admins)");
  create->add_option("--publisher", options->publishers, "NAME=PUBKEY (repeat; optional)");
  create->add_option("--rules-version", options->rules_version, "Rules version (default 1)");
  create->add_option("--genesis-time", options->genesis_time,
                     "UTC time like 2026-11-22T00:00:00Z (default: now, whole seconds)");
  create->add_option("--ca", options->ca, "The CA directory of `vigil pki init` (or its ca.pem)")
      ->required();
  create->add_option("--out", options->out, "Genesis file to write, e.g. genesis.json")->required();
  create->add_flag("--force", options->force, "Replace an existing --out file");
  create->add_flag("--json", options->json, "Print a JSON object instead of text");
  create->callback([options, &context] {
    if (Status status = RunGenesisCreate(*options); !status) {
      ReportError(context, kCommandName, status.error());
    }
  });
}
VIGIL_REGISTER_COMMAND(kOrderGenesis, RegisterGenesisCommand);

}  // namespace vigil::cli
