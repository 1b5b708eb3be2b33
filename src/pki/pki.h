// The fleet PKI: a Vigil CA and the X.509 certificates it issues to peers, gateways,
// devices, admins and publishers.
//
// Each certificate binds a node's Ed25519 identity key (the same key that signs its ledger
// transactions) to its role and name. The subject is "CN=<name>, OU=<role>, O=Vigil"; the
// CA is self-signed with basicConstraints CA:TRUE. Leaf certificates carry
// basicConstraints CA:FALSE, keyUsage digitalSignature, extendedKeyUsage serverAuth +
// clientAuth and a subjectAltName DNS:<name>, so `openssl verify -CAfile ca.pem` accepts them.
//
// On disk (see docs/pki.md):
//   CA directory:   ca.pem (certificate), ca.key (private key, 0600)
//   node directory: key.pem (identity private key, 0600), cert.pem, ca.pem (copy of the CA)
//
// Thread-safety: Certificate is an immutable value once built; share it freely.
#pragma once

#include <openssl/x509.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "crypto/crypto.h"

namespace vigil::pki {

// DO NOT CHANGE the spellings: they are written into certificates.
enum class Role : uint8_t { kCa, kPeer, kGateway, kDevice, kAdmin, kPublisher };
std::string_view RoleName(Role role);           // "ca", "peer", "gateway", ...
Expected<Role> ParseRole(std::string_view text);  // refuses unknown names, listing valid ones

// Who is on the other end of a certificate: what the transport hands to the application.
struct Identity {
  crypto::PublicKey public_key{};
  Role role = Role::kDevice;
  std::string name;
  friend bool operator==(const Identity&, const Identity&) = default;
};

using TimePoint = std::chrono::system_clock::time_point;

class Certificate {
 public:
  static Expected<Certificate> FromPem(std::string_view pem);
  static Expected<Certificate> FromX509(X509* certificate);  // takes a new reference

  std::string ToPem() const;
  X509* x509() const { return certificate_.get(); }
  // Public key, role (from OU) and name (from CN). Fails for a non-Ed25519 key or a
  // subject without a known role.
  Expected<Identity> GetIdentity() const;
  TimePoint not_before() const;
  TimePoint not_after() const;

 private:
  struct X509Deleter {
    void operator()(X509* certificate) const { X509_free(certificate); }
  };
  explicit Certificate(X509* owned) : certificate_(owned) {}
  std::shared_ptr<X509> certificate_;
};

struct Validity {
  TimePoint not_before;
  TimePoint not_after;
  // From `now` (backdated one minute for clock skew) for `days` days.
  static Validity ForDays(TimePoint now, uint32_t days);
};

Expected<Certificate> CreateCaCertificate(const crypto::PrivateKey& ca_key, std::string_view name,
                                          const Validity& validity);

Expected<Certificate> IssueCertificate(const Certificate& ca_certificate,
                                       const crypto::PrivateKey& ca_key,
                                       const crypto::PublicKey& subject_key, Role role,
                                       std::string_view name, const Validity& validity);

// Verifies that `certificate` was issued by `ca_certificate` and is valid at `now`. The error
// says why not: another CA, expired (with the date), not yet valid, bad signature.
Status VerifyCertificate(const Certificate& ca_certificate, const Certificate& certificate,
                         TimePoint now);

// --- Directories used by `vigil pki` ---
struct CaDirectory {
  Certificate certificate;
  crypto::PrivateKey key;
};
Status InitCaDirectory(const std::filesystem::path& directory, std::string_view name,
                       uint32_t validity_days);
Expected<CaDirectory> LoadCaDirectory(const std::filesystem::path& directory);

// Issues into `out`: uses `identity_key_path` when given, else out/key.pem when present,
// else generates a new identity key there. Writes out/cert.pem and out/ca.pem.
Expected<Certificate> IssueToDirectory(const std::filesystem::path& ca_directory, Role role,
                                       std::string_view name, uint32_t validity_days,
                                       const std::filesystem::path& out,
                                       const std::optional<std::filesystem::path>& identity_key_path);

// The credentials of one node as the transport needs them (node directory layout above).
struct NodeCredentials {
  Certificate certificate;
  crypto::PrivateKey key;
  Certificate ca_certificate;
};
Expected<NodeCredentials> LoadNodeDirectory(const std::filesystem::path& directory);

}  // namespace vigil::pki
