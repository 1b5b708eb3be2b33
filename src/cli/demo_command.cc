// `vigil demo`: the whole system on one machine.
//
// Today Vigil's foundation exists — PKI, signatures, Merkle proofs, mutual-TLS sessions — and
// the ledger, gateway and agent do not yet. The demo shows exactly what exists, for real (real
// keys, real certificates, real TLS over loopback), and says so when it starts.
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "codec/codec.h"
#include "common/file.h"
#include "crypto/crypto.h"
#include "merkle/merkle.h"
#include "pki/pki.h"
#include "transport/client.h"
#include "transport/server.h"

namespace vigil::cli {
namespace {

using Clock = std::chrono::system_clock;
constexpr transport::FrameType kDemoMessage = transport::kFrameTypeApplicationFirst;
constexpr std::chrono::seconds kStepTimeout{10};

struct DemoOptions {
  std::string directory;
  bool keep = false;
  bool verbose = false;
};

// printf with a newline; the attribute lets the compiler check every format string.
[[gnu::format(printf, 1, 2)]] void Say(const char* format, ...) {
  va_list arguments;
  va_start(arguments, format);
  std::vprintf(format, arguments);
  va_end(arguments);
  std::printf("\n");
  std::fflush(stdout);
}
void Heading(const char* text) { Say("\n== %s", text); }
std::string Short(ByteSpan bytes) { return ToHex(bytes).substr(0, 16) + "…"; }

// Runs the event loop until `done()` or the step timeout; false on timeout.
bool RunUntil(asio::io_context& io_context, const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + kStepTimeout;
  io_context.restart();
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io_context.run_one_for(std::chrono::milliseconds(50));
    if (io_context.stopped()) io_context.restart();
  }
  return true;
}

// Credentials whose certificate `issuer` signed, trusting the real fleet CA (an attacker can
// always download the fleet's public CA certificate).
Expected<pki::NodeCredentials> CredentialsSignedBy(const pki::CaDirectory& issuer,
                                                   const pki::Certificate& fleet_ca,
                                                   pki::Role role, std::string_view name,
                                                   const pki::Validity& validity) {
  VIGIL_ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::PrivateKey::Generate());
  VIGIL_ASSIGN_OR_RETURN(pki::Certificate certificate,
                         pki::IssueCertificate(issuer.certificate, issuer.key, key.public_key(),
                                               role, name, validity));
  return pki::NodeCredentials{std::move(certificate), std::move(key), fleet_ca};
}

// A fleet CA as `vigil pki init` makes it, but created a week ago, so the demo can show a
// certificate that expired yesterday (a CA never issues beyond its own validity).
Status CreateWeekOldCa(const std::filesystem::path& directory, std::string_view name) {
  VIGIL_RETURN_IF_ERROR(EnsureDirectory(directory, 0700));
  VIGIL_ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::PrivateKey::Generate());
  Clock::time_point week_ago = Clock::now() - std::chrono::hours(24 * 7);
  VIGIL_ASSIGN_OR_RETURN(pki::Certificate certificate,
                         pki::CreateCaCertificate(key, name, pki::Validity::ForDays(week_ago, 3650)));
  VIGIL_RETURN_IF_ERROR(
      crypto::WritePrivateKeyFile(directory / std::string(pki::kCaKeyFileName), key));
  return pki::WriteCertificateFile(directory / std::string(pki::kCaCertificateFileName),
                                   certificate);
}

Status ShowPki(const std::filesystem::path& root) {
  Heading("1. Fleet PKI: a CA, and certificates that bind each node's Ed25519 key to its role");
  VIGIL_RETURN_IF_ERROR(CreateWeekOldCa(root / "ca", "factory-ca"));
  Say("created the fleet CA 'factory-ca' in %s (dated a week ago)", (root / "ca").c_str());
  struct Node {
    pki::Role role;
    const char* name;
  };
  for (Node node : {Node{pki::Role::kGateway, "gateway-1"}, Node{pki::Role::kDevice, "press-07"},
                    Node{pki::Role::kPublisher, "release-team"}}) {
    VIGIL_ASSIGN_OR_RETURN(pki::Certificate certificate,
                           pki::IssueToDirectory(root / "ca", node.role, node.name, 365,
                                                 root / node.name, std::nullopt));
    VIGIL_ASSIGN_OR_RETURN(pki::Identity identity, certificate.GetIdentity());
    Say("issued %-9s %-13s key %s  valid to %s", std::string(pki::RoleName(node.role)).c_str(),
        node.name, Short(identity.public_key).c_str(),
        pki::FormatUtcTime(certificate.not_after()).c_str());
  }
  return Ok();
}

Status ShowSignatures(const std::filesystem::path& root) {
  Heading("2. A publisher signs a release statement; one flipped bit and it no longer verifies");
  VIGIL_ASSIGN_OR_RETURN(pki::NodeCredentials publisher,
                         pki::LoadNodeDirectory(root / "release-team"));
  codec::Encoder statement;
  statement.WriteString("vigil/demo/release/v1");  // domain separation
  statement.WriteString("press-controller");
  statement.WriteString("2.4.0");
  statement.WriteFixed(crypto::Sha256(AsBytes("the bundle's bytes")));
  crypto::Signature signature = publisher.key.Sign(statement.bytes());
  const crypto::PublicKey& key = publisher.key.public_key();
  bool genuine = crypto::Verify(key, statement.bytes(), signature);
  Bytes tampered = statement.bytes();
  tampered[tampered.size() - 1] ^= 0x01;
  bool forged = crypto::Verify(key, tampered, signature);
  Say("statement press-controller 2.4.0, %zu bytes, signature %s", statement.bytes().size(),
      Short(signature).c_str());
  Say("verify genuine statement:        %s", genuine ? "valid" : "INVALID");
  Say("verify statement with 1 bit off: %s", forged ? "VALID (bug!)" : "refused");
  if (!genuine || forged) return Fail(ErrorCode::kInternal, "signature check misbehaved");
  return Ok();
}

Status ShowMerkle() {
  Heading("3. Merkle proofs (RFC 6962): prove one transaction is in a block without the others");
  std::vector<Bytes> transactions;
  for (int i = 0; i < 8; ++i) {
    transactions.push_back(ToBytes("install report from device press-0" + std::to_string(i)));
  }
  merkle::Tree tree = merkle::Tree::FromLeaves(transactions);
  VIGIL_ASSIGN_OR_RETURN(merkle::InclusionProof proof, tree.ProveInclusion(5));
  Say("block of %zu transactions, root %s", transactions.size(), Short(tree.Root()).c_str());
  Say("proof for transaction #5: %zu hashes", proof.path.size());
  Status genuine = merkle::VerifyInclusion(merkle::HashLeaf(transactions[5]), proof, tree.Root());
  Status forged = merkle::VerifyInclusion(
      merkle::HashLeaf(AsBytes("install report from device press-99")), proof, tree.Root());
  Say("verify genuine transaction: %s", genuine ? "included" : genuine.error().message().c_str());
  Say("verify forged transaction:  %s", forged ? "INCLUDED (bug!)" : "refused");
  if (!genuine || forged) return Fail(ErrorCode::kInternal, "Merkle check misbehaved");
  return Ok();
}

// One dial to the gateway; prints what each side saw.
struct DialOutcome {
  bool opened = false;
  bool closed = false;
  std::string echo;
  std::string close_reason;
};

Status DialOnce(asio::io_context& io_context, uint16_t port, pki::NodeCredentials credentials,
                const char* label, DialOutcome& outcome) {
  VIGIL_ASSIGN_OR_RETURN(auto tls, transport::TlsContext::Create(credentials,
                                                                 transport::TlsSide::kClient));
  transport::DialOptions options;
  options.port = port;
  options.connection.allowed_peer_roles = {pki::Role::kGateway};
  transport::Handlers handlers;
  handlers.on_open = [&outcome, label](const transport::ConnectionPointer& connection) {
    outcome.opened = true;
    Say("%s: session open; the gateway is '%s' (%s), cipher %s", label,
        connection->peer_identity().name.c_str(),
        std::string(pki::RoleName(connection->peer_identity().role)).c_str(),
        connection->cipher().c_str());
    (void)connection->Send(kDemoMessage, AsBytes(std::string("hello from ") + label));
  };
  handlers.on_frame = [&outcome](const transport::ConnectionPointer& connection,
                                 transport::FrameType, ByteSpan payload) {
    outcome.echo.assign(payload.begin(), payload.end());
    connection->Close("demo done");
  };
  handlers.on_close = [&outcome](const transport::ConnectionPointer&, const Error& reason) {
    outcome.closed = true;
    outcome.close_reason = reason.message();
  };
  transport::ConnectionPointer connection =
      transport::Dial(io_context, tls, options, std::move(handlers));
  if (!RunUntil(io_context, [&] { return outcome.closed; })) {
    return Fail(ErrorCode::kTimeout, std::string(label) + ": no outcome within 10 s");
  }
  return Ok();
}

Status ShowTransport(const std::filesystem::path& root) {
  Heading("4. Mutual TLS 1.3: the gateway admits only devices certified by the fleet CA");
  asio::io_context io_context;
  VIGIL_ASSIGN_OR_RETURN(pki::NodeCredentials gateway, pki::LoadNodeDirectory(root / "gateway-1"));
  VIGIL_ASSIGN_OR_RETURN(auto gateway_tls,
                         transport::TlsContext::Create(gateway, transport::TlsSide::kServer));
  transport::ServerOptions server_options;
  server_options.connection.allowed_peer_roles = {pki::Role::kDevice};
  transport::Handlers gateway_handlers;
  gateway_handlers.on_open = [](const transport::ConnectionPointer& connection) {
    const pki::Identity& device = connection->peer_identity();
    Say("gateway: admitted device '%s' key %s from %s", device.name.c_str(),
        Short(device.public_key).c_str(), connection->peer_address().c_str());
  };
  gateway_handlers.on_frame = [](const transport::ConnectionPointer& connection,
                                 transport::FrameType type, ByteSpan payload) {
    std::string text(payload.begin(), payload.end());
    Say("gateway: received \"%s\"; echoing it back", text.c_str());
    (void)connection->Send(type, payload);
  };
  gateway_handlers.on_close = [](const transport::ConnectionPointer&, const Error&) {};
  VIGIL_ASSIGN_OR_RETURN(auto server, transport::Server::Create(io_context, gateway_tls,
                                                                server_options, gateway_handlers));
  Say("gateway 'gateway-1' listening on 127.0.0.1:%u (TLS 1.3 only, client certificates required)",
      static_cast<unsigned>(server->port()));

  // The genuine device.
  VIGIL_ASSIGN_OR_RETURN(pki::NodeCredentials device, pki::LoadNodeDirectory(root / "press-07"));
  DialOutcome genuine;
  VIGIL_RETURN_IF_ERROR(DialOnce(io_context, server->port(), std::move(device), "press-07",
                                 genuine));
  Say("press-07: got the echo \"%s\"", genuine.echo.c_str());
  if (!genuine.opened || genuine.echo.empty()) {
    return Fail(ErrorCode::kInternal, "the genuine device was not served: " + genuine.close_reason);
  }

  // The attackers.
  VIGIL_RETURN_IF_ERROR(pki::InitCaDirectory(root / "rogue-ca", "factory-ca", 3650));
  VIGIL_ASSIGN_OR_RETURN(pki::CaDirectory rogue_ca, pki::LoadCaDirectory(root / "rogue-ca"));
  VIGIL_ASSIGN_OR_RETURN(pki::CaDirectory fleet_ca, pki::LoadCaDirectory(root / "ca"));
  Clock::time_point now = Clock::now();
  pki::Validity current = pki::Validity::ForDays(now, 30);
  pki::Validity expired{now - std::chrono::hours(48), now - std::chrono::hours(24)};
  struct Attack {
    const char* label;
    const char* story;
    const pki::CaDirectory& ca;
    pki::Role role;
    pki::Validity validity;
  };
  const Attack attacks[] = {
      {"impostor", "a device certificate from a rogue CA with the same name", rogue_ca,
       pki::Role::kDevice, current},
      {"press-08", "a device whose certificate expired yesterday", fleet_ca, pki::Role::kDevice,
       expired},
      {"release-team", "a genuine publisher certificate on the device endpoint", fleet_ca,
       pki::Role::kPublisher, current},
  };
  for (const Attack& attack : attacks) {
    Say("%s: %s", attack.label, attack.story);
    VIGIL_ASSIGN_OR_RETURN(pki::NodeCredentials credentials,
                           CredentialsSignedBy(attack.ca, fleet_ca.certificate, attack.role,
                                               attack.label, attack.validity));
    DialOutcome outcome;
    VIGIL_RETURN_IF_ERROR(DialOnce(io_context, server->port(), std::move(credentials),
                                   attack.label, outcome));
    if (outcome.opened) return Fail(ErrorCode::kInternal, std::string(attack.label) + " got in");
    Say("%s: refused — %s", attack.label, outcome.close_reason.c_str());
  }

  Say("scanner: sends an HTTP request instead of a TLS handshake");
  uint64_t refused_before = server->stats().refused_total();
  asio::ip::tcp::socket raw(io_context);
  asio::error_code error;
  raw.connect({asio::ip::make_address("127.0.0.1"), server->port()}, error);
  if (!error) asio::write(raw, asio::buffer(std::string("GET / HTTP/1.1\r\n\r\n")), error);
  if (!RunUntil(io_context, [&] { return server->stats().refused_total() > refused_before; })) {
    return Fail(ErrorCode::kTimeout, "the gateway did not refuse the scanner within 10 s");
  }
  Say("scanner: refused");
  Say("gateway refusals, as counted: %s", server->stats().DescribeRefusals().c_str());
  Say("gateway sessions opened: %llu — only press-07 got in",
      static_cast<unsigned long long>(server->stats().sessions_opened.load()));
  server->Stop();
  return Ok();
}

Status RunDemo(const DemoOptions& options) {
  std::filesystem::path root;
  if (options.directory.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "vigil-demo-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return Fail(ErrorCode::kIOError, "cannot create a temporary directory for the demo");
    }
    root = pattern;
  } else {
    root = options.directory;
    VIGIL_RETURN_IF_ERROR(EnsureDirectory(root, 0700));
  }
  Say("Vigil demo (foundation build)");
  Say("The ledger, gateway and device agent are not built yet. What follows is the foundation");
  Say("they stand on, working for real on this machine: keys, certificates, signatures, Merkle");
  Say("proofs and mutually authenticated TLS sessions over loopback. Files: %s", root.c_str());

  Status status = ShowPki(root);
  if (status) status = ShowSignatures(root);
  if (status) status = ShowMerkle();
  if (status) status = ShowTransport(root);

  if (!options.keep) {
    std::error_code ignored;
    std::filesystem::remove_all(root, ignored);
  }
  if (!status) return status;
  Heading("Done: every genuine step was accepted, and every forgery and impostor refused.");
  if (options.keep) Say("Kept the keys and certificates in %s", root.c_str());
  return Ok();
}

}  // namespace

void RegisterDemoCommand(CLI::App& app, CommandContext& context) {
  CLI::App* command = app.add_subcommand(
      "demo", "Run Vigil on this machine and narrate what happens (foundation build)");
  auto options = std::make_shared<DemoOptions>();
  command->add_option("--dir", options->directory,
                      "Where to put keys and certificates (default: a new temporary directory)");
  command->add_flag("--keep", options->keep, "Keep the directory afterwards");
  command->add_flag("--verbose", options->verbose, "Also print the components' own log lines");
  command->callback([options, &context] {
    // The demo narrates on stdout; component logs would say the same things twice.
    if (!options->verbose) spdlog::set_level(spdlog::level::err);
    if (Status status = RunDemo(*options); !status) {
      ReportError(context, "demo", status.error());
    }
  });
}
VIGIL_REGISTER_COMMAND(kOrderDemo, RegisterDemoCommand);

}  // namespace vigil::cli
