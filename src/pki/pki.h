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
std::string_view RoleName(Role role);             // "ca", "peer", "gateway", ...
Expected<Role> ParseRole(std::string_view text);  // refuses unknown names, listing valid ones

// A certificate name (CN and DNS subjectAltName) is 1..limits::kCertificateNameBytesMax
// characters of [A-Za-z0-9._-]: safe as a DNS name, a file name and a log field.
Status ValidateName(std::string_view name);

// "2026-11-22T03:10:00Z": how certificate dates appear in messages and CLI output.
std::string FormatUtcTime(std::chrono::system_clock::time_point time);

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
  // Refuses more than limits::kPemFileBytesMax bytes.
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
  // The shared_ptr must carry X509Deleter: X509 is opaque, so `delete` cannot destroy it.
  explicit Certificate(X509* owned) : certificate_(owned, X509Deleter()) {}
  std::shared_ptr<X509> certificate_;
};

// Certificate files are PEM, written atomically with mode 0644.
Expected<Certificate> ReadCertificateFile(const std::filesystem::path& path);
Status WriteCertificateFile(const std::filesystem::path& path, const Certificate& certificate);

struct Validity {
  TimePoint not_before;
  TimePoint not_after;
  // From `now` (backdated one minute for clock skew) for `days` days.
  static Validity ForDays(TimePoint now, uint32_t days);
};

Expected<Certificate> CreateCaCertificate(const crypto::PrivateKey& ca_key, std::string_view name,
                                          const Validity& validity);

// Refuses role kCa (Vigil has no intermediate CAs), a key that does not match the CA
// certificate, and a validity that starts before or ends after the CA's own.
Expected<Certificate> IssueCertificate(const Certificate& ca_certificate,
                                       const crypto::PrivateKey& ca_key,
                                       const crypto::PublicKey& subject_key, Role role,
                                       std::string_view name, const Validity& validity);

// Verifies that `certificate` was issued by `ca_certificate` and is valid at `now`. The error
// says why not: another CA, expired (with the date), not yet valid, bad signature.
Status VerifyCertificate(const Certificate& ca_certificate, const Certificate& certificate,
                         TimePoint now);

// --- Directories used by `vigil pki` ---
// DO NOT CHANGE: operators' scripts and systemd units name these files.
inline constexpr std::string_view kCaCertificateFileName = "ca.pem";
inline constexpr std::string_view kCaKeyFileName = "ca.key";
inline constexpr std::string_view kNodeKeyFileName = "key.pem";
inline constexpr std::string_view kNodeCertificateFileName = "cert.pem";
inline constexpr std::string_view kNodeCaCertificateFileName = "ca.pem";

// Refuses 0 and more than limits::kCertificateValidityDaysMax.
Status ValidateValidityDays(uint32_t days);

struct CaDirectory {
  Certificate certificate;
  crypto::PrivateKey key;
};
// Creates the directory (0700) if needed; refuses to overwrite an existing ca.key or ca.pem.
Status InitCaDirectory(const std::filesystem::path& directory, std::string_view name,
                       uint32_t validity_days);
Expected<CaDirectory> LoadCaDirectory(const std::filesystem::path& directory);

// Issues into `out` (created 0700 if needed): uses `identity_key_path` when given, else
// out/key.pem when present, else generates a new identity key there. Writes out/cert.pem and
// out/ca.pem. `identity_key_path` may name a private key (PKCS#8 PEM, copied to out/key.pem
// unless that already holds the same key) or only a public key (SubjectPublicKeyInfo PEM, for
// a device whose private key never leaves it; out/key.pem is then not written).
Expected<Certificate> IssueToDirectory(
    const std::filesystem::path& ca_directory, Role role, std::string_view name,
    uint32_t validity_days, const std::filesystem::path& out,
    const std::optional<std::filesystem::path>& identity_key_path);

// The credentials of one node as the transport needs them (node directory layout above).
// Checks that key.pem matches cert.pem; does not check dates (the caller owns the clock).
struct NodeCredentials {
  Certificate certificate;
  crypto::PrivateKey key;
  Certificate ca_certificate;
};
Expected<NodeCredentials> LoadNodeDirectory(const std::filesystem::path& directory);

}  // namespace vigil::pki
