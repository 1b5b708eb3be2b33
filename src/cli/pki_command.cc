// `vigil pki init` and `vigil pki issue`: the fleet CA and the certificates it issues to
// peers, gateways, devices, admins and publishers. Layout and formats: docs/pki.md.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "common/limits.h"
#include "crypto/crypto.h"
#include "pki/pki.h"

namespace vigil::cli {
namespace {

struct InitOptions {
  std::string out;
  std::string name = "vigil-ca";
  uint32_t days = limits::kCaValidityDaysDefault;
  bool json = false;
};

struct IssueOptions {
  std::string ca;
  std::string role;
  std::string name;
  std::string out;
  std::string key;
  uint32_t days = limits::kCertificateValidityDaysDefault;
  bool json = false;
};


// The facts both commands print about the certificate they wrote.
void PrintCertificate(const pki::Identity& identity, const pki::Certificate& certificate,
                      const std::filesystem::path& directory, bool json) {
  const std::string public_hex = ToHex(identity.public_key);
  const std::string not_before = pki::FormatUtcTime(certificate.not_before());
  const std::string not_after = pki::FormatUtcTime(certificate.not_after());
  if (json) {
    PrintJson({{"role", pki::RoleName(identity.role)},
               {"name", identity.name},
               {"public_key", public_hex},
               {"not_before", not_before},
               {"not_after", not_after},
               {"directory", directory.string()}});
    return;
  }
  std::printf("role        %.*s\n", static_cast<int>(pki::RoleName(identity.role).size()),
              pki::RoleName(identity.role).data());
  std::printf("name        %s\n", identity.name.c_str());
  std::printf("public key  %s\n", public_hex.c_str());
  std::printf("valid       %s to %s\n", not_before.c_str(), not_after.c_str());
  std::printf("directory   %s\n", directory.c_str());
}

Status RunInit(const InitOptions& options) {
  const std::filesystem::path directory(options.out);
  VIGIL_RETURN_IF_ERROR(pki::InitCaDirectory(directory, options.name, options.days));
  VIGIL_ASSIGN_OR_RETURN(pki::CaDirectory ca, pki::LoadCaDirectory(directory));
  VIGIL_ASSIGN_OR_RETURN(pki::Identity identity, ca.certificate.GetIdentity());
  PrintCertificate(identity, ca.certificate, directory, options.json);
  if (!options.json) {
    std::fprintf(stderr, "wrote %s and %s (mode 0600: keep it off every networked machine)\n",
                 (directory / std::string(pki::kCaCertificateFileName)).c_str(),
                 (directory / std::string(pki::kCaKeyFileName)).c_str());
  }
  return Ok();
}

Status RunIssue(const IssueOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(pki::Role role, pki::ParseRole(options.role));
  std::optional<std::filesystem::path> key_path;
  if (!options.key.empty()) key_path = options.key;
  const std::filesystem::path out(options.out);
  VIGIL_ASSIGN_OR_RETURN(
      pki::Certificate certificate,
      pki::IssueToDirectory(options.ca, role, options.name, options.days, out, key_path));
  VIGIL_ASSIGN_OR_RETURN(pki::Identity identity, certificate.GetIdentity());
  PrintCertificate(identity, certificate, out, options.json);
  return Ok();
}

std::string DaysHelp(std::string_view what, uint32_t default_days) {
  return std::string(what) + " validity in days, 1 to " +
         std::to_string(limits::kCertificateValidityDaysMax) + " (default " +
         std::to_string(default_days) + ")";
}

void RegisterInit(CLI::App& pki, CommandContext& context) {
  CLI::App* command = pki.add_subcommand(
      "init",
      "Create the fleet CA: a new Ed25519 key DIR/ca.key (mode 0600) and a self-signed CA "
      "certificate DIR/ca.pem with subject CN=NAME, OU=ca, O=Vigil. Refuses to overwrite.");
  auto options = std::make_shared<InitOptions>();
  command->add_option("--out", options->out, "CA directory (created 0700)")->required();
  command->add_option("--name", options->name,
                      "CA name: letters, digits, '.', '_', '-' (default vigil-ca)");
  command->add_option("--days", options->days,
                      DaysHelp("CA certificate", limits::kCaValidityDaysDefault));
  command->add_flag("--json", options->json, "Print a JSON object instead of text");
  command->callback([options, &context] {
    if (Status status = RunInit(*options); !status) {
      ReportError(context, "pki init", status.error());
    }
  });
}

void RegisterIssue(CLI::App& pki, CommandContext& context) {
  CLI::App* command = pki.add_subcommand(
      "issue",
      "Issue a certificate for a peer, gateway, device, admin or publisher into DIR: "
      "DIR/cert.pem, DIR/ca.pem, and DIR/key.pem (reused when present, else taken from --key, "
      "else generated).");
  auto options = std::make_shared<IssueOptions>();
  command->add_option("--ca", options->ca, "CA directory made by `vigil pki init`")->required();
  command->add_option("--role", options->role, "peer, gateway, device, admin or publisher")
      ->required();
  command
      ->add_option("--name", options->name,
                   "Node name for CN and DNS subjectAltName: 1 to " +
                       std::to_string(limits::kCertificateNameBytesMax) +
                       " letters, digits, '.', '_', '-'")
      ->required();
  command->add_option("--out", options->out, "Node directory (created 0700)")->required();
  command->add_option("--key", options->key,
                      "Subject key: a private key (copied to DIR/key.pem) or only a public key "
                      "(key.pub; the private key stays on the device)");
  command->add_option("--days", options->days,
                      DaysHelp("Certificate", limits::kCertificateValidityDaysDefault));
  command->add_flag("--json", options->json, "Print a JSON object instead of text");
  command->callback([options, &context] {
    if (Status status = RunIssue(*options); !status) {
      ReportError(context, "pki issue", status.error());
    }
  });
}

}  // namespace

void RegisterPkiCommand(CLI::App& app, CommandContext& context) {
  CLI::App* pki =
      app.add_subcommand("pki", "Fleet CA and node certificates (Ed25519 X.509; see docs/pki.md)");
  pki->require_subcommand(1);
  RegisterInit(*pki, context);
  RegisterIssue(*pki, context);
}
VIGIL_REGISTER_COMMAND(kOrderPki, RegisterPkiCommand);

}  // namespace vigil::cli
