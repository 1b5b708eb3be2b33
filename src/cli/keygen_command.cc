// `vigil keygen`: create an Ed25519 identity key (the key that signs a node's ledger
// transactions and that its certificate binds). See docs/pki.md.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "common/file.h"
#include "crypto/crypto.h"
#include "pki/pki.h"

namespace vigil::cli {
namespace {

constexpr std::string_view kCommandName = "keygen";
// Beside key.pem, so `vigil pki issue --out DIR` later finds and reuses DIR/key.pem.
constexpr std::string_view kPublicKeyFileName = "key.pub";

struct KeygenOptions {
  std::string out;
  bool force = false;
  bool json = false;
};


Status RunKeygen(const KeygenOptions& options) {
  const std::filesystem::path directory(options.out);
  const std::filesystem::path private_path = directory / std::string(pki::kNodeKeyFileName);
  const std::filesystem::path public_path = directory / std::string(kPublicKeyFileName);
  std::error_code ignored;
  if (!options.force && std::filesystem::exists(private_path, ignored)) {
    return Fail(ErrorCode::kAlreadyExists,
                private_path.string() +
                    " already exists; refusing to overwrite an identity key: pass --force to "
                    "replace it (the old key is then lost for good)");
  }
  // 0700: the directory holds a private key.
  VIGIL_RETURN_IF_ERROR(EnsureDirectory(directory, 0700));
  VIGIL_ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::PrivateKey::Generate());
  VIGIL_RETURN_IF_ERROR(crypto::WritePrivateKeyFile(private_path, key));
  VIGIL_RETURN_IF_ERROR(crypto::WritePublicKeyFile(public_path, key.public_key()));

  const std::string public_hex = ToHex(key.public_key());
  if (options.json) {
    PrintJson({{"public_key", public_hex},
               {"private_key_file", private_path.string()},
               {"public_key_file", public_path.string()}});
  } else {
    std::printf("%s\n", public_hex.c_str());
    std::fprintf(stderr, "wrote %s (private, mode 0600) and %s (public)\n", private_path.c_str(),
                 public_path.c_str());
  }
  return Ok();
}

}  // namespace

void RegisterKeygenCommand(CLI::App& app, CommandContext& context) {
  CLI::App* command = app.add_subcommand(
      std::string(kCommandName),
      "Create an Ed25519 identity key: writes DIR/key.pem (private, mode 0600) and DIR/key.pub, "
      "and prints the public key in hex. `vigil pki issue --out DIR` certifies this key.");
  auto options = std::make_shared<KeygenOptions>();
  command->add_option("--out", options->out, "Directory for key.pem and key.pub (created 0700)")
      ->required();
  command->add_flag("--force", options->force,
                    "Replace an existing DIR/key.pem (the old identity is lost)");
  command->add_flag("--json", options->json, "Print a JSON object instead of text");
  command->callback([options, &context] {
    if (Status status = RunKeygen(*options); !status) {
      ReportError(context, kCommandName, status.error());
    }
  });
}
VIGIL_REGISTER_COMMAND(kOrderKeygen, RegisterKeygenCommand);

}  // namespace vigil::cli
