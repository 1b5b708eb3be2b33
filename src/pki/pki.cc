#include "pki/pki.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <array>
#include <ctime>
#include <utility>

#include "common/assert.h"
#include "common/file.h"
#include "common/limits.h"
#include "crypto/openssl_util.h"

namespace vigil::pki {
namespace {

using crypto::BioPointer;
using crypto::TakeOpenSslErrors;

struct X509Free {
  void operator()(X509* certificate) const { X509_free(certificate); }
};
using X509Pointer = std::unique_ptr<X509, X509Free>;

struct StoreFree {
  void operator()(X509_STORE* store) const { X509_STORE_free(store); }
};
struct StoreContextFree {
  void operator()(X509_STORE_CTX* context) const { X509_STORE_CTX_free(context); }
};

// Every Vigil certificate carries O=Vigil; DO NOT CHANGE (it is in issued certificates).
constexpr std::string_view kOrganization = "Vigil";

constexpr std::array<std::pair<Role, std::string_view>, 6> kRoleNames = {{
    {Role::kCa, "ca"},
    {Role::kPeer, "peer"},
    {Role::kGateway, "gateway"},
    {Role::kDevice, "device"},
    {Role::kAdmin, "admin"},
    {Role::kPublisher, "publisher"},
}};

// 128-bit serial with the top bit clear (DER INTEGERs are signed, RFC 5280 4.1.2.2 wants a
// positive one) and the next bit set, so every serial is exactly 16 bytes with 126 random
// bits: far beyond the 64 bits of entropy the CA/Browser Forum asks for.
constexpr size_t kSerialBytes = 16;

time_t ToTimeT(TimePoint time) { return std::chrono::system_clock::to_time_t(time); }

TimePoint FromAsn1Time(const ASN1_TIME* time) {
  std::tm parts{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) return TimePoint{};
  return std::chrono::system_clock::from_time_t(::timegm(&parts));
}

// "CN=device-7,OU=device,O=Vigil" (RFC 2253 order: most specific first).
std::string NameText(const X509_NAME* name) {
  BioPointer bio = crypto::NewMemoryBio();
  if (bio == nullptr) return "(unknown)";
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  return crypto::MemoryBioContents(bio.get());
}

std::string SubjectText(const X509* certificate) {
  return NameText(X509_get_subject_name(certificate));
}

// The single entry of type `nid` in `name`, as UTF-8. Two CNs (or OUs) would make the
// identity ambiguous, so they are refused rather than picking one.
Expected<std::string> SingleNameEntry(const X509_NAME* name, int nid) {
  const char* label = OBJ_nid2sn(nid);
  int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "certificate subject " + NameText(name) + " has no " + label);
  }
  if (X509_NAME_get_index_by_NID(name, nid, index) >= 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "certificate subject " + NameText(name) + " has more than one " + label);
  }
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) {
    return Fail(ErrorCode::kInvalidArgument, std::string("certificate subject ") + label +
                                                 " is not a valid string: " + TakeOpenSslErrors());
  }
  std::string text(reinterpret_cast<const char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  return text;
}

Status AddNameEntry(X509_NAME* name, const char* field, std::string_view value) {
  if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.data()),
                                 static_cast<int>(value.size()), -1, 0) != 1) {
    return Fail(ErrorCode::kInternal, std::string("cannot set certificate subject ") + field +
                                          ": " + TakeOpenSslErrors());
  }
  return Ok();
}

Status SetRandomSerial(X509* certificate) {
  std::array<uint8_t, kSerialBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return Fail(ErrorCode::kInternal,
                "cannot draw a random certificate serial: " + TakeOpenSslErrors());
  }
  bytes[0] = static_cast<uint8_t>((bytes[0] & 0x7f) | 0x40);
  BIGNUM* number = BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr);
  bool ok = number != nullptr &&
            BN_to_ASN1_INTEGER(number, X509_get_serialNumber(certificate)) != nullptr;
  BN_free(number);
  if (!ok)
    return Fail(ErrorCode::kInternal, "cannot set certificate serial: " + TakeOpenSslErrors());
  return Ok();
}

Status AddExtension(X509* certificate, X509V3_CTX* context, int nid, const std::string& value) {
  X509_EXTENSION* extension = X509V3_EXT_nconf_nid(nullptr, context, nid, value.c_str());
  if (extension == nullptr) {
    return Fail(ErrorCode::kInternal, std::string("cannot build extension ") + OBJ_nid2sn(nid) +
                                          "=" + value + ": " + TakeOpenSslErrors());
  }
  int added = X509_add_ext(certificate, extension, -1);
  X509_EXTENSION_free(extension);
  if (added != 1) {
    return Fail(ErrorCode::kInternal, std::string("cannot add extension ") + OBJ_nid2sn(nid) +
                                          ": " + TakeOpenSslErrors());
  }
  return Ok();
}

Status CheckValidity(const Validity& validity) {
  if (validity.not_after <= validity.not_before) {
    return Fail(ErrorCode::kInvalidArgument,
                "certificate validity ends (" + FormatUtcTime(validity.not_after) +
                    ") before it starts (" + FormatUtcTime(validity.not_before) + ")");
  }
  return Ok();
}

// What differs between a CA and a leaf certificate; everything else is shared.
struct CertificateTemplate {
  EVP_PKEY* subject_key;  // public part goes into the certificate
  EVP_PKEY* signing_key;  // the CA key
  const X509* issuer;     // null for the self-signed CA
  Role role;
  std::string_view name;
  Validity validity;
};

Expected<Certificate> BuildCertificate(const CertificateTemplate& request) {
  VIGIL_RETURN_IF_ERROR(ValidateName(request.name));
  VIGIL_RETURN_IF_ERROR(CheckValidity(request.validity));
  X509Pointer certificate(X509_new());
  if (certificate == nullptr)
    return Fail(ErrorCode::kInternal, "out of memory building a certificate");
  X509* raw = certificate.get();
  if (X509_set_version(raw, X509_VERSION_3) != 1 ||
      ASN1_TIME_set(X509_getm_notBefore(raw), ToTimeT(request.validity.not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(raw), ToTimeT(request.validity.not_after)) == nullptr ||
      X509_set_pubkey(raw, request.subject_key) != 1) {
    return Fail(ErrorCode::kInternal, "cannot fill in the certificate: " + TakeOpenSslErrors());
  }
  VIGIL_RETURN_IF_ERROR(SetRandomSerial(raw));

  // DER order O, OU, CN, which prints as "CN=<name>,OU=<role>,O=Vigil" in RFC 2253 form.
  X509_NAME* subject = X509_get_subject_name(raw);
  VIGIL_RETURN_IF_ERROR(AddNameEntry(subject, "O", kOrganization));
  VIGIL_RETURN_IF_ERROR(AddNameEntry(subject, "OU", RoleName(request.role)));
  VIGIL_RETURN_IF_ERROR(AddNameEntry(subject, "CN", request.name));
  const X509_NAME* issuer_name =
      request.issuer != nullptr ? X509_get_subject_name(request.issuer) : subject;
  if (X509_set_issuer_name(raw, issuer_name) != 1) {
    return Fail(ErrorCode::kInternal, "cannot set certificate issuer: " + TakeOpenSslErrors());
  }

  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  // X509V3_set_ctx takes a non-const issuer but only reads it (for authorityKeyIdentifier).
  X509V3_set_ctx(&context, request.issuer != nullptr ? const_cast<X509*>(request.issuer) : raw, raw,
                 nullptr, nullptr, 0);
  // The subjectKeyIdentifier goes first: authorityKeyIdentifier is computed from it.
  std::vector<std::pair<int, std::string>> extensions;
  if (request.role == Role::kCa) {
    // pathlen:0 because Vigil has no intermediate CAs: nothing this CA signs may sign.
    extensions = {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                  {NID_key_usage, "critical,keyCertSign,cRLSign"},
                  {NID_subject_key_identifier, "hash"}};
  } else {
    extensions = {{NID_basic_constraints, "critical,CA:FALSE"},
                  {NID_key_usage, "critical,digitalSignature"},
                  {NID_ext_key_usage, "serverAuth,clientAuth"},
                  // Safe to splice: ValidateName admits no ',' or ':'.
                  {NID_subject_alt_name, "DNS:" + std::string(request.name)},
                  {NID_subject_key_identifier, "hash"},
                  {NID_authority_key_identifier, "keyid:always"}};
  }
  for (const auto& [nid, value] : extensions) {
    VIGIL_RETURN_IF_ERROR(AddExtension(raw, &context, nid, value));
  }

  // Ed25519 signs the certificate body itself, so the digest argument is null.
  if (X509_sign(raw, request.signing_key, nullptr) <= 0) {
    return Fail(ErrorCode::kInternal, "cannot sign the certificate: " + TakeOpenSslErrors());
  }
  return Certificate::FromX509(raw);
}

std::string VerifyFailureMessage(int error, const X509* failing, const Certificate& ca_certificate,
                                 const Certificate& certificate, TimePoint now) {
  const X509* subject = failing != nullptr ? failing : certificate.x509();
  const bool is_ca = X509_cmp(subject, ca_certificate.x509()) == 0;
  const std::string what = (is_ca ? "CA certificate " : "certificate ") + SubjectText(subject);
  const std::string ca_text = SubjectText(ca_certificate.x509());
  switch (error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return what + " expired on " + FormatUtcTime(FromAsn1Time(X509_get0_notAfter(subject))) +
             " (checked at " + FormatUtcTime(now) + "): " +
             (is_ca ? "create a new CA and reissue its certificates"
                    : "issue a new one with `vigil pki issue`");
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return what + " is not valid before " +
             FormatUtcTime(FromAsn1Time(X509_get0_notBefore(subject))) + " (checked at " +
             FormatUtcTime(now) + "): check this machine's clock";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: {
      std::string issuer = NameText(X509_get_issuer_name(certificate.x509()));
      return what + " was issued by another CA (" + issuer +
             (issuer == ca_text ? ", a different CA with the same name" : "") +
             "), not by the trusted CA " + ca_text +
             ": issue it again with this fleet's CA, or use that CA's ca.pem";
    }
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      return what + " is self-signed and is not the trusted CA " + ca_text;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      return what + " has a bad signature: it was altered, or not signed by the key of CA " +
             ca_text;
    default:
      return what + " failed verification against CA " + ca_text + ": " +
             X509_verify_cert_error_string(error);
  }
}

Expected<crypto::PublicKey> PublicKeyOf(const Certificate& certificate) {
  return crypto::PublicKeyFromEvp(X509_get0_pubkey(certificate.x509()));
}

std::filesystem::path Child(const std::filesystem::path& directory, std::string_view name) {
  return directory / std::string(name);
}

// The identity key for IssueToDirectory, and whether out/key.pem must be written with it.
struct SubjectKey {
  crypto::PublicKey public_key{};
  std::optional<crypto::PrivateKey> private_key_to_write;
};

Expected<SubjectKey> ResolveSubjectKey(const std::filesystem::path& out,
                                       const std::optional<std::filesystem::path>& key_path) {
  const std::filesystem::path node_key_path = Child(out, kNodeKeyFileName);
  std::error_code ignored;
  const bool node_key_exists = std::filesystem::exists(node_key_path, ignored);
  SubjectKey subject;
  if (key_path.has_value()) {
    VIGIL_ASSIGN_OR_RETURN(Bytes contents, ReadFile(*key_path, limits::kPemFileBytesMax));
    std::string_view text(reinterpret_cast<const char*>(contents.data()), contents.size());
    if (text.find("-----BEGIN PUBLIC KEY-----") != std::string_view::npos) {
      VIGIL_ASSIGN_OR_RETURN(subject.public_key, crypto::ReadPublicKeyFile(*key_path));
    } else {
      VIGIL_ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::ReadPrivateKeyFile(*key_path));
      subject.public_key = key.public_key();
      if (!node_key_exists) subject.private_key_to_write = std::move(key);
    }
  } else if (!node_key_exists) {
    VIGIL_ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::PrivateKey::Generate());
    subject.public_key = key.public_key();
    subject.private_key_to_write = std::move(key);
    return subject;
  }
  if (node_key_exists) {
    VIGIL_ASSIGN_OR_RETURN(crypto::PrivateKey existing, crypto::ReadPrivateKeyFile(node_key_path));
    if (!key_path.has_value()) {
      subject.public_key = existing.public_key();
    } else if (existing.public_key() != subject.public_key) {
      return Fail(ErrorCode::kAlreadyExists,
                  node_key_path.string() + " holds a different key than " + key_path->string() +
                      ": remove it, or issue into another directory");
    }
  }
  return subject;
}

}  // namespace

std::string_view RoleName(Role role) {
  for (const auto& [known, name] : kRoleNames) {
    if (known == role) return name;
  }
  VIGIL_ASSERT(false && "Role without a name");
  return {};
}

Expected<Role> ParseRole(std::string_view text) {
  for (const auto& [role, name] : kRoleNames) {
    if (name == text) return role;
  }
  std::string valid;
  for (const auto& [role, name] : kRoleNames) {
    if (!valid.empty()) valid += ", ";
    valid += name;
  }
  return Fail(ErrorCode::kInvalidArgument,
              "unknown role \"" + std::string(text) + "\": expected one of " + valid);
}

Status ValidateName(std::string_view name) {
  if (name.empty() || name.size() > limits::kCertificateNameBytesMax) {
    return Fail(ErrorCode::kInvalidArgument, "certificate name \"" + std::string(name) + "\" has " +
                                                 std::to_string(name.size()) +
                                                 " characters; it must have 1 to " +
                                                 std::to_string(limits::kCertificateNameBytesMax));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '.' || c == '_' || c == '-';
    if (!allowed) {
      return Fail(ErrorCode::kInvalidArgument, "certificate name \"" + std::string(name) +
                                                   "\" has a character not allowed at "
                                                   "offset " +
                                                   std::to_string(i) +
                                                   ": use only letters, digits, '.', '_' and '-'");
    }
  }
  return Ok();
}

Status ValidateValidityDays(uint32_t days) {
  if (days == 0 || days > limits::kCertificateValidityDaysMax) {
    return Fail(ErrorCode::kInvalidArgument,
                "validity of " + std::to_string(days) + " days is out of range: use 1 to " +
                    std::to_string(limits::kCertificateValidityDaysMax));
  }
  return Ok();
}

std::string FormatUtcTime(std::chrono::system_clock::time_point time) {
  time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm parts{};
  if (::gmtime_r(&seconds, &parts) == nullptr) return "(invalid time)";
  char text[32];
  size_t length = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &parts);
  return std::string(text, length);
}

// --- Certificate ---

Expected<Certificate> Certificate::FromPem(std::string_view pem) {
  if (pem.size() > limits::kPemFileBytesMax) {
    return Fail(ErrorCode::kInvalidArgument, "certificate PEM is " + std::to_string(pem.size()) +
                                                 " bytes, more than the limit of " +
                                                 std::to_string(limits::kPemFileBytesMax));
  }
  BioPointer bio = crypto::NewReadOnlyBio(pem);
  if (bio == nullptr) return Fail(ErrorCode::kInternal, "out of memory reading a certificate");
  X509* certificate = PEM_read_bio_X509(bio.get(), nullptr, crypto::RefusePassphrase, nullptr);
  if (certificate == nullptr) {
    return Fail(ErrorCode::kInvalidArgument,
                "not a PEM certificate (\"-----BEGIN CERTIFICATE-----\"): " + TakeOpenSslErrors());
  }
  return Certificate(certificate);
}

Expected<Certificate> Certificate::FromX509(X509* certificate) {
  if (certificate == nullptr || X509_up_ref(certificate) != 1) {
    return Fail(ErrorCode::kInvalidArgument, "no certificate");
  }
  return Certificate(certificate);
}

std::string Certificate::ToPem() const {
  BioPointer bio = crypto::NewMemoryBio();
  VIGIL_ASSERT(bio != nullptr);
  VIGIL_ASSERT(PEM_write_bio_X509(bio.get(), certificate_.get()) == 1);
  return crypto::MemoryBioContents(bio.get());
}

Expected<Identity> Certificate::GetIdentity() const {
  Identity identity;
  VIGIL_ASSIGN_OR_RETURN(identity.public_key, PublicKeyOf(*this));
  const X509_NAME* subject = X509_get_subject_name(certificate_.get());
  VIGIL_ASSIGN_OR_RETURN(std::string organization, SingleNameEntry(subject, NID_organizationName));
  if (organization != kOrganization) {
    return Fail(ErrorCode::kInvalidArgument, "certificate subject " + NameText(subject) +
                                                 " is not a Vigil certificate (O is not Vigil)");
  }
  VIGIL_ASSIGN_OR_RETURN(std::string role, SingleNameEntry(subject, NID_organizationalUnitName));
  auto parsed_role = ParseRole(role);
  if (!parsed_role) {
    return std::unexpected(
        parsed_role.error().WithContext("certificate subject " + NameText(subject) + " has OU"));
  }
  identity.role = *parsed_role;
  VIGIL_ASSIGN_OR_RETURN(identity.name, SingleNameEntry(subject, NID_commonName));
  VIGIL_RETURN_IF_ERROR(ValidateName(identity.name));
  return identity;
}

TimePoint Certificate::not_before() const {
  return FromAsn1Time(X509_get0_notBefore(certificate_.get()));
}

TimePoint Certificate::not_after() const {
  return FromAsn1Time(X509_get0_notAfter(certificate_.get()));
}

Expected<Certificate> ReadCertificateFile(const std::filesystem::path& path) {
  VIGIL_ASSIGN_OR_RETURN(Bytes contents, ReadFile(path, limits::kPemFileBytesMax));
  auto certificate = Certificate::FromPem(
      std::string_view(reinterpret_cast<const char*>(contents.data()), contents.size()));
  if (!certificate) {
    return std::unexpected(certificate.error().WithContext("certificate file " + path.string()));
  }
  return certificate;
}

Status WriteCertificateFile(const std::filesystem::path& path, const Certificate& certificate) {
  Status written = WriteFileAtomically(path, AsBytes(certificate.ToPem()), 0644);
  if (!written) return std::unexpected(written.error().WithContext("writing certificate"));
  return Ok();
}

Validity Validity::ForDays(TimePoint now, uint32_t days) {
  using std::chrono::hours;
  using std::chrono::minutes;
  return Validity{.not_before = now - minutes(1), .not_after = now + hours(24) * days};
}

// --- Issuing and verifying ---

Expected<Certificate> CreateCaCertificate(const crypto::PrivateKey& ca_key, std::string_view name,
                                          const Validity& validity) {
  return BuildCertificate(CertificateTemplate{.subject_key = ca_key.evp_pkey(),
                                              .signing_key = ca_key.evp_pkey(),
                                              .issuer = nullptr,
                                              .role = Role::kCa,
                                              .name = name,
                                              .validity = validity});
}

Expected<Certificate> IssueCertificate(const Certificate& ca_certificate,
                                       const crypto::PrivateKey& ca_key,
                                       const crypto::PublicKey& subject_key, Role role,
                                       std::string_view name, const Validity& validity) {
  if (role == Role::kCa) {
    return Fail(ErrorCode::kInvalidArgument,
                "cannot issue a certificate with role ca: Vigil has one CA per fleet and no "
                "intermediates; use CreateCaCertificate (`vigil pki init`)");
  }
  VIGIL_ASSIGN_OR_RETURN(crypto::PublicKey ca_public_key, PublicKeyOf(ca_certificate));
  if (ca_public_key != ca_key.public_key()) {
    return Fail(ErrorCode::kInvalidArgument, "the CA key does not belong to CA certificate " +
                                                 SubjectText(ca_certificate.x509()) +
                                                 ": use the ca.key of the same CA");
  }
  if (validity.not_before < ca_certificate.not_before() ||
      validity.not_after > ca_certificate.not_after()) {
    return Fail(ErrorCode::kInvalidArgument,
                "certificate validity " + FormatUtcTime(validity.not_before) + " to " +
                    FormatUtcTime(validity.not_after) + " is outside the CA's own (" +
                    FormatUtcTime(ca_certificate.not_before()) + " to " +
                    FormatUtcTime(ca_certificate.not_after()) +
                    "): issue for fewer days, or create a new CA");
  }
  crypto::EvpPkeyPointer subject(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, subject_key.data(), subject_key.size()));
  if (subject == nullptr) {
    return Fail(ErrorCode::kInvalidArgument,
                "cannot use the subject's Ed25519 public key: " + TakeOpenSslErrors());
  }
  return BuildCertificate(CertificateTemplate{.subject_key = subject.get(),
                                              .signing_key = ca_key.evp_pkey(),
                                              .issuer = ca_certificate.x509(),
                                              .role = role,
                                              .name = name,
                                              .validity = validity});
}

Status VerifyCertificate(const Certificate& ca_certificate, const Certificate& certificate,
                         TimePoint now) {
  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, StoreContextFree> context(X509_STORE_CTX_new());
  if (store == nullptr || context == nullptr ||
      X509_STORE_add_cert(store.get(), ca_certificate.x509()) != 1 ||
      X509_STORE_CTX_init(context.get(), store.get(), certificate.x509(), nullptr) != 1) {
    return Fail(ErrorCode::kInternal,
                "cannot set up certificate verification: " + TakeOpenSslErrors());
  }
  X509_VERIFY_PARAM* parameters = X509_STORE_CTX_get0_param(context.get());
  // The caller's clock, not OpenSSL's: tests and the deterministic simulator control time.
  X509_VERIFY_PARAM_set_time(parameters, ToTimeT(now));
  // Strict RFC 5280 checks (key identifiers present, CA basicConstraints critical, ...):
  // Vigil issues only conforming certificates, so anything else is not one of ours.
  X509_VERIFY_PARAM_set_flags(parameters, X509_V_FLAG_X509_STRICT);
  int result = X509_verify_cert(context.get());
  if (result == 1) {
    ERR_clear_error();
    return Ok();
  }
  int error = X509_STORE_CTX_get_error(context.get());
  std::string message = VerifyFailureMessage(error, X509_STORE_CTX_get_current_cert(context.get()),
                                             ca_certificate, certificate, now);
  ERR_clear_error();
  return Fail(ErrorCode::kUnauthenticated, std::move(message));
}

// --- Directories ---

Status InitCaDirectory(const std::filesystem::path& directory, std::string_view name,
                       uint32_t validity_days) {
  VIGIL_RETURN_IF_ERROR(ValidateName(name));
  VIGIL_RETURN_IF_ERROR(ValidateValidityDays(validity_days));
  for (std::string_view file : {kCaKeyFileName, kCaCertificateFileName}) {
    std::error_code ignored;
    if (std::filesystem::exists(Child(directory, file), ignored)) {
      return Fail(ErrorCode::kAlreadyExists,
                  Child(directory, file).string() +
                      " already exists; refusing to overwrite a CA: choose another directory or "
                      "remove the old CA first");
    }
  }
  // 0700: the directory holds the CA's private key.
  VIGIL_RETURN_IF_ERROR(EnsureDirectory(directory, 0700));
  VIGIL_ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::PrivateKey::Generate());
  VIGIL_ASSIGN_OR_RETURN(
      Certificate certificate,
      CreateCaCertificate(key, name,
                          Validity::ForDays(std::chrono::system_clock::now(), validity_days)));
  // Key first: a crash in between leaves a key without a certificate, which the existence
  // check above refuses to overwrite, rather than a certificate whose key is lost.
  VIGIL_RETURN_IF_ERROR(crypto::WritePrivateKeyFile(Child(directory, kCaKeyFileName), key));
  return WriteCertificateFile(Child(directory, kCaCertificateFileName), certificate);
}

Expected<CaDirectory> LoadCaDirectory(const std::filesystem::path& directory) {
  auto certificate_file = ReadCertificateFile(Child(directory, kCaCertificateFileName));
  if (!certificate_file) {
    return std::unexpected(certificate_file.error().WithContext(
        "loading the CA in " + directory.string() + " (made by `vigil pki init`)"));
  }
  Certificate certificate = std::move(*certificate_file);
  VIGIL_ASSIGN_OR_RETURN(crypto::PrivateKey key,
                         crypto::ReadPrivateKeyFile(Child(directory, kCaKeyFileName)));
  VIGIL_ASSIGN_OR_RETURN(Identity identity, certificate.GetIdentity());
  if (identity.role != Role::kCa) {
    return Fail(ErrorCode::kInvalidArgument,
                Child(directory, kCaCertificateFileName).string() + " is a " +
                    std::string(RoleName(identity.role)) +
                    " certificate, not a CA: pass the directory made by `vigil pki init`");
  }
  if (identity.public_key != key.public_key()) {
    return Fail(ErrorCode::kInvalidArgument,
                Child(directory, kCaKeyFileName).string() + " does not match " +
                    Child(directory, kCaCertificateFileName).string() +
                    ": the CA directory is damaged; restore both files from the same backup");
  }
  return CaDirectory{std::move(certificate), std::move(key)};
}

Expected<Certificate> IssueToDirectory(
    const std::filesystem::path& ca_directory, Role role, std::string_view name,
    uint32_t validity_days, const std::filesystem::path& out,
    const std::optional<std::filesystem::path>& identity_key_path) {
  VIGIL_RETURN_IF_ERROR(ValidateName(name));
  VIGIL_RETURN_IF_ERROR(ValidateValidityDays(validity_days));
  VIGIL_ASSIGN_OR_RETURN(CaDirectory ca, LoadCaDirectory(ca_directory));
  VIGIL_RETURN_IF_ERROR(EnsureDirectory(out, 0700));
  VIGIL_ASSIGN_OR_RETURN(SubjectKey subject, ResolveSubjectKey(out, identity_key_path));
  VIGIL_ASSIGN_OR_RETURN(
      Certificate certificate,
      IssueCertificate(ca.certificate, ca.key, subject.public_key, role, name,
                       Validity::ForDays(std::chrono::system_clock::now(), validity_days)));
  if (subject.private_key_to_write.has_value()) {
    VIGIL_RETURN_IF_ERROR(
        crypto::WritePrivateKeyFile(Child(out, kNodeKeyFileName), *subject.private_key_to_write));
  }
  VIGIL_RETURN_IF_ERROR(WriteCertificateFile(Child(out, kNodeCertificateFileName), certificate));
  VIGIL_RETURN_IF_ERROR(
      WriteCertificateFile(Child(out, kNodeCaCertificateFileName), ca.certificate));
  return certificate;
}

Expected<NodeCredentials> LoadNodeDirectory(const std::filesystem::path& directory) {
  VIGIL_ASSIGN_OR_RETURN(Certificate certificate,
                         ReadCertificateFile(Child(directory, kNodeCertificateFileName)));
  VIGIL_ASSIGN_OR_RETURN(Certificate ca_certificate,
                         ReadCertificateFile(Child(directory, kNodeCaCertificateFileName)));
  VIGIL_ASSIGN_OR_RETURN(crypto::PrivateKey key,
                         crypto::ReadPrivateKeyFile(Child(directory, kNodeKeyFileName)));
  VIGIL_ASSIGN_OR_RETURN(Identity identity, certificate.GetIdentity());
  if (identity.public_key != key.public_key()) {
    return Fail(ErrorCode::kInvalidArgument,
                Child(directory, kNodeKeyFileName).string() + " does not match " +
                    Child(directory, kNodeCertificateFileName).string() +
                    ": reissue the certificate for this key with `vigil pki issue --out " +
                    directory.string() + "`");
  }
  return NodeCredentials{std::move(certificate), std::move(key), std::move(ca_certificate)};
}

}  // namespace vigil::pki
