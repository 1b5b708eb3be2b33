// Tests for pki/: issuing and verifying Ed25519 X.509 certificates, the identity they carry,
// refusals with their reasons, interoperability with the `openssl` command, and the CA and
// node directory layouts of docs/pki.md.
#include "pki/pki.h"
#include "test_support/temporary_directory.h"

#include <gtest/gtest.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/file.h"

namespace vigil::pki {
namespace {

using test_support::TemporaryDirectory;

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::system_clock;

constexpr hours kDay{24};
constexpr hours kYear = kDay * 365;


mode_t FileMode(const std::filesystem::path& path) {
  struct stat status {};
  EXPECT_EQ(::stat(path.c_str(), &status), 0) << path;
  return status.st_mode & 07777;
}

// Runs a shell command, returning its exit status and combined output.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[512];
  while (size_t read = std::fread(buffer, 1, sizeof(buffer), pipe))
    result.output.append(buffer, read);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool HaveOpenSslCommand() { return RunCommand("openssl version").exit_code == 0; }

std::string Quote(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

// A CA and its key, valid from ten years ago to ten years ahead so tests can place leaf
// certificates anywhere in time.
struct TestCa {
  crypto::PrivateKey key;
  Certificate certificate;
};
TestCa MakeCa(std::string_view name = "test-ca",
              Validity validity = {system_clock::now() - 10 * kYear,
                                   system_clock::now() + 10 * kYear}) {
  auto key = crypto::PrivateKey::Generate();
  EXPECT_TRUE(key.has_value());
  auto certificate = CreateCaCertificate(*key, name, validity);
  EXPECT_TRUE(certificate.has_value()) << certificate.error().ToString();
  return TestCa{std::move(*key), std::move(*certificate)};
}

Certificate Issue(const TestCa& ca, Role role, std::string_view name, const Validity& validity,
                  crypto::PublicKey* subject_key_out = nullptr) {
  auto subject = crypto::PrivateKey::Generate();
  EXPECT_TRUE(subject.has_value());
  if (subject_key_out != nullptr) *subject_key_out = subject->public_key();
  auto certificate =
      IssueCertificate(ca.certificate, ca.key, subject->public_key(), role, name, validity);
  EXPECT_TRUE(certificate.has_value()) << certificate.error().ToString();
  return std::move(*certificate);
}

Validity Now365() { return Validity::ForDays(system_clock::now(), 365); }

// --- Issue, verify, identity ---

TEST(PkiTest, IssuedCertificateVerifiesAndCarriesTheIdentity) {
  TestCa ca = MakeCa();
  crypto::PublicKey subject_key{};
  Certificate certificate = Issue(ca, Role::kPeer, "peer-1", Now365(), &subject_key);
  EXPECT_TRUE(VerifyCertificate(ca.certificate, certificate, system_clock::now()).has_value());

  auto identity = certificate.GetIdentity();
  ASSERT_TRUE(identity.has_value()) << identity.error().ToString();
  EXPECT_EQ(*identity, (Identity{subject_key, Role::kPeer, "peer-1"}));

  auto ca_identity = ca.certificate.GetIdentity();
  ASSERT_TRUE(ca_identity.has_value());
  EXPECT_EQ(ca_identity->role, Role::kCa);
  EXPECT_EQ(ca_identity->name, "test-ca");
  EXPECT_EQ(ca_identity->public_key, ca.key.public_key());
}

TEST(PkiTest, EveryRoleRoundTripsThroughGetIdentity) {
  TestCa ca = MakeCa();
  for (Role role : {Role::kPeer, Role::kGateway, Role::kDevice, Role::kAdmin, Role::kPublisher}) {
    std::string name = "node." + std::string(RoleName(role)) + "_1";
    crypto::PublicKey key{};
    Certificate certificate = Issue(ca, role, name, Now365(), &key);
    auto identity = certificate.GetIdentity();
    ASSERT_TRUE(identity.has_value()) << identity.error().ToString();
    EXPECT_EQ(*identity, (Identity{key, role, name}));
    // And through PEM, as a peer would receive it.
    auto decoded = Certificate::FromPem(certificate.ToPem());
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(decoded->GetIdentity(), identity);
  }
}

TEST(PkiTest, RoleNamesParseBackAndUnknownRolesAreListed) {
  for (Role role :
       {Role::kCa, Role::kPeer, Role::kGateway, Role::kDevice, Role::kAdmin, Role::kPublisher}) {
    EXPECT_EQ(ParseRole(RoleName(role)), role);
  }
  auto unknown = ParseRole("Peer");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().message(),
            "unknown role \"Peer\": expected one of ca, peer, gateway, device, admin, publisher");
}

TEST(PkiTest, SubjectAndExtensionsAreAsDocumented) {
  TestCa ca = MakeCa("fleet-ca");
  Certificate leaf = Issue(ca, Role::kDevice, "press-7", Now365());

  auto subject_text = [](const Certificate& certificate) {
    BIO* bio = BIO_new(BIO_s_mem());
    X509_NAME_print_ex(bio, X509_get_subject_name(certificate.x509()), 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    std::string text(data, static_cast<size_t>(size));
    BIO_free(bio);
    return text;
  };
  EXPECT_EQ(subject_text(ca.certificate), "CN=fleet-ca,OU=ca,O=Vigil");
  EXPECT_EQ(subject_text(leaf), "CN=press-7,OU=device,O=Vigil");

  auto is_critical = [](const Certificate& certificate, int nid) {
    int index = X509_get_ext_by_NID(certificate.x509(), nid, -1);
    return index >= 0 && X509_EXTENSION_get_critical(X509_get_ext(certificate.x509(), index)) == 1;
  };
  X509* ca_x509 = ca.certificate.x509();
  EXPECT_TRUE(X509_get_extension_flags(ca_x509) & EXFLAG_CA);
  EXPECT_TRUE(is_critical(ca.certificate, NID_basic_constraints));
  EXPECT_EQ(X509_get_key_usage(ca_x509), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_NE(X509_get0_subject_key_id(ca_x509), nullptr);

  X509* leaf_x509 = leaf.x509();
  EXPECT_FALSE(X509_get_extension_flags(leaf_x509) & EXFLAG_CA);
  EXPECT_GE(X509_get_ext_by_NID(leaf_x509, NID_basic_constraints, -1), 0);
  EXPECT_EQ(X509_get_key_usage(leaf_x509), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(leaf_x509),
            static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  ASSERT_NE(X509_get0_authority_key_id(leaf_x509), nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf_x509),
                                  X509_get0_subject_key_id(ca_x509)),
            0);
  // The subjectAltName is exactly DNS:press-7.
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(leaf_x509, NID_subject_alt_name, nullptr, nullptr));
  ASSERT_NE(names, nullptr);
  ASSERT_EQ(sk_GENERAL_NAME_num(names), 1);
  const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, 0);
  ASSERT_EQ(name->type, GEN_DNS);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
                        static_cast<size_t>(ASN1_STRING_length(name->d.dNSName))),
            "press-7");
  GENERAL_NAMES_free(names);
}

TEST(PkiTest, SerialsArePositive128BitAndDistinct) {
  TestCa ca = MakeCa();
  Certificate first = Issue(ca, Role::kPeer, "a", Now365());
  Certificate second = Issue(ca, Role::kPeer, "a", Now365());
  for (const Certificate* certificate : {&ca.certificate, &first, &second}) {
    const ASN1_INTEGER* serial = X509_get0_serialNumber(certificate->x509());
    BIGNUM* number = ASN1_INTEGER_to_BN(serial, nullptr);
    ASSERT_NE(number, nullptr);
    EXPECT_FALSE(BN_is_negative(number));
    EXPECT_EQ(BN_num_bits(number), 127);  // top bit clear, next bit set: 16 DER bytes
    BN_free(number);
  }
  EXPECT_NE(
      ASN1_INTEGER_cmp(X509_get0_serialNumber(first.x509()), X509_get0_serialNumber(second.x509())),
      0);
}

TEST(PkiTest, ValidityIsStoredToTheSecond) {
  TestCa ca = MakeCa();
  TimePoint start = system_clock::from_time_t(1'800'000'000);
  Certificate certificate = Issue(ca, Role::kAdmin, "ops", {start, start + kDay});
  EXPECT_EQ(certificate.not_before(), start);
  EXPECT_EQ(certificate.not_after(), start + kDay);
  Validity validity = Validity::ForDays(start, 30);
  EXPECT_EQ(validity.not_before, start - minutes(1));
  EXPECT_EQ(validity.not_after, start + 30 * kDay);
}

// --- Refusals ---

TEST(PkiTest, CertificateFromAnotherCaIsRefused) {
  TestCa ours = MakeCa("our-ca");
  TestCa theirs = MakeCa("their-ca");
  Certificate foreign = Issue(theirs, Role::kDevice, "intruder", Now365());
  Status status = VerifyCertificate(ours.certificate, foreign, system_clock::now());
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(status.error().message().find("issued by another CA (CN=their-ca,OU=ca,O=Vigil)"),
            std::string::npos)
      << status.error().message();
}

TEST(PkiTest, CertificateFromAnotherCaWithTheSameNameIsRefused) {
  // Two fleets that both kept the default CA name: the names match, the keys do not.
  TestCa ours = MakeCa("vigil-ca");
  TestCa theirs = MakeCa("vigil-ca");
  Certificate foreign = Issue(theirs, Role::kDevice, "intruder", Now365());
  Status status = VerifyCertificate(ours.certificate, foreign, system_clock::now());
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(status.error().message().find("another CA"), std::string::npos)
      << status.error().message();
}

TEST(PkiTest, ExpiredCertificateIsRefusedWithTheDate) {
  TestCa ca = MakeCa();
  TimePoint start = system_clock::from_time_t(1'700'000'000);
  Certificate certificate = Issue(ca, Role::kGateway, "gw-1", {start, start + kDay});
  EXPECT_TRUE(VerifyCertificate(ca.certificate, certificate, start + hours(1)).has_value());
  Status status = VerifyCertificate(ca.certificate, certificate, start + 2 * kDay);
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(status.error().message().find("certificate CN=gw-1,OU=gateway,O=Vigil expired on " +
                                          FormatUtcTime(start + kDay)),
            std::string::npos)
      << status.error().message();
  EXPECT_EQ(FormatUtcTime(start + kDay), "2023-11-15T22:13:20Z");
}

TEST(PkiTest, NotYetValidCertificateIsRefusedWithTheDate) {
  TestCa ca = MakeCa();
  TimePoint start = system_clock::now() + 30 * kDay;
  Certificate certificate = Issue(ca, Role::kDevice, "d-1", {start, start + kDay});
  Status status = VerifyCertificate(ca.certificate, certificate, system_clock::now());
  ASSERT_FALSE(status.has_value());
  EXPECT_NE(status.error().message().find("is not valid before " + FormatUtcTime(start)),
            std::string::npos)
      << status.error().message();
}

TEST(PkiTest, ExpiredCaIsNamedAsTheCa) {
  TimePoint start = system_clock::now() - 2 * kDay;
  TestCa ca = MakeCa("old-ca", {start, start + kDay});
  Certificate certificate = Issue(ca, Role::kPeer, "p", {start, start + hours(12)});
  Status status = VerifyCertificate(ca.certificate, certificate, system_clock::now());
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().message().rfind("CA certificate CN=old-ca,OU=ca,O=Vigil expired on ", 0),
            0u)
      << status.error().message();
}

TEST(PkiTest, AlteredCertificateHasABadSignature) {
  TestCa ca = MakeCa();
  Certificate certificate = Issue(ca, Role::kPeer, "p", Now365());
  unsigned char* der = nullptr;
  int length = i2d_X509(certificate.x509(), &der);
  ASSERT_GT(length, 0);
  der[length - 1] ^= 0x01;  // the last byte belongs to the signature
  const unsigned char* cursor = der;
  X509* altered_raw = d2i_X509(nullptr, &cursor, length);
  OPENSSL_free(der);
  ASSERT_NE(altered_raw, nullptr);
  auto altered = Certificate::FromX509(altered_raw);
  X509_free(altered_raw);  // FromX509 took its own reference
  ASSERT_TRUE(altered.has_value());
  Status status = VerifyCertificate(ca.certificate, *altered, system_clock::now());
  ASSERT_FALSE(status.has_value());
  EXPECT_NE(status.error().message().find("bad signature"), std::string::npos)
      << status.error().message();
}

TEST(PkiTest, BadNamesAreRefused) {
  TestCa ca = MakeCa();
  auto key = crypto::PrivateKey::Generate();
  ASSERT_TRUE(key.has_value());
  const std::string longest(limits::kCertificateNameBytesMax, 'n');
  for (std::string bad :
       {std::string(), longest + "n", std::string("a b"), std::string("a,b"), std::string("a/b"),
        std::string("a:b"), std::string("CN=x"), std::string("caf\xc3\xa9"), std::string("a\nb"),
        std::string("a\0b", 3)}) {
    auto certificate =
        IssueCertificate(ca.certificate, ca.key, key->public_key(), Role::kDevice, bad, Now365());
    ASSERT_FALSE(certificate.has_value()) << bad;
    EXPECT_EQ(certificate.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(certificate.error().message().find("certificate name"), std::string::npos);
    EXPECT_FALSE(CreateCaCertificate(*key, bad, Now365()).has_value()) << bad;
  }
  EXPECT_EQ(ValidateName("a b").error().message(),
            "certificate name \"a b\" has a character not allowed at offset 1: use only letters, "
            "digits, '.', '_' and '-'");
  EXPECT_EQ(ValidateName("").error().message(),
            "certificate name \"\" has 0 characters; it must have 1 to 64");
  EXPECT_TRUE(
      IssueCertificate(ca.certificate, ca.key, key->public_key(), Role::kDevice, longest, Now365())
          .has_value());
  EXPECT_TRUE(ValidateName("Line-3.press_07").has_value());
}

TEST(PkiTest, IssueRefusesCaRoleWrongCaKeyAndValidityBeyondTheCa) {
  TestCa ca = MakeCa("ca", Validity::ForDays(system_clock::now(), 10));
  auto subject = crypto::PrivateKey::Generate();
  ASSERT_TRUE(subject.has_value());
  auto as_ca =
      IssueCertificate(ca.certificate, ca.key, subject->public_key(), Role::kCa, "x", Now365());
  ASSERT_FALSE(as_ca.has_value());
  EXPECT_NE(as_ca.error().message().find("role ca"), std::string::npos);

  auto wrong_key = IssueCertificate(ca.certificate, *subject, subject->public_key(), Role::kPeer,
                                    "x", Validity::ForDays(system_clock::now(), 1));
  ASSERT_FALSE(wrong_key.has_value());
  EXPECT_NE(wrong_key.error().message().find("does not belong to CA certificate"),
            std::string::npos);

  auto outliving =
      IssueCertificate(ca.certificate, ca.key, subject->public_key(), Role::kPeer, "x", Now365());
  ASSERT_FALSE(outliving.has_value());
  EXPECT_NE(outliving.error().message().find("outside the CA's own"), std::string::npos);

  TimePoint now = system_clock::now();
  EXPECT_FALSE(IssueCertificate(ca.certificate, ca.key, subject->public_key(), Role::kPeer, "x",
                                {now + kDay, now})
                   .has_value());
}

TEST(PkiTest, FromPemRefusesGarbage) {
  auto certificate = Certificate::FromPem("-----BEGIN CERTIFICATE-----\nAAAA\n");
  ASSERT_FALSE(certificate.has_value());
  EXPECT_EQ(certificate.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(Certificate::FromPem(std::string(limits::kPemFileBytesMax + 1, 'A')).has_value());
  EXPECT_FALSE(Certificate::FromX509(nullptr).has_value());
}

// --- Directories and the openssl command ---

TEST(PkiDirectoryTest, InitLoadAndRefuseToOverwrite) {
  TemporaryDirectory temporary;
  const auto ca_directory = temporary.path() / "fleet" / "ca";
  ASSERT_TRUE(InitCaDirectory(ca_directory, "fleet-ca", 30).has_value());
  EXPECT_EQ(FileMode(ca_directory / "ca.key"), 0600u);
  EXPECT_EQ(FileMode(ca_directory / "ca.pem"), 0644u);
  EXPECT_EQ(FileMode(ca_directory), 0700u);
  auto ca = LoadCaDirectory(ca_directory);
  ASSERT_TRUE(ca.has_value()) << ca.error().ToString();
  EXPECT_EQ(ca->certificate.GetIdentity()->name, "fleet-ca");
  EXPECT_NEAR(
      std::chrono::duration<double>(ca->certificate.not_after() - ca->certificate.not_before())
          .count(),
      std::chrono::duration<double>(30 * kDay + minutes(1)).count(), 2.0);

  Status again = InitCaDirectory(ca_directory, "fleet-ca", 30);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_FALSE(InitCaDirectory(temporary.path() / "x", "fleet-ca", 0).has_value());
  EXPECT_FALSE(
      InitCaDirectory(temporary.path() / "x", "fleet-ca", limits::kCertificateValidityDaysMax + 1)
          .has_value());
}

TEST(PkiDirectoryTest, IssueToDirectoryWritesTheLayoutAndReusesKeyPem) {
  TemporaryDirectory temporary;
  const auto ca_directory = temporary.path() / "ca";
  const auto node = temporary.path() / "peer-1";
  ASSERT_TRUE(InitCaDirectory(ca_directory, "fleet-ca", 3650).has_value());

  auto first = IssueToDirectory(ca_directory, Role::kPeer, "peer-1", 30, node, std::nullopt);
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  EXPECT_EQ(FileMode(node / "key.pem"), 0600u);
  EXPECT_EQ(FileMode(node / "cert.pem"), 0644u);
  EXPECT_EQ(FileMode(node / "ca.pem"), 0644u);
  auto key = crypto::ReadPrivateKeyFile(node / "key.pem");
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(first->GetIdentity()->public_key, key->public_key());

  // Renewal: the same identity key, a new certificate.
  auto second = IssueToDirectory(ca_directory, Role::kPeer, "peer-1", 60, node, std::nullopt);
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  EXPECT_EQ(second->GetIdentity()->public_key, key->public_key());
  EXPECT_NE(second->ToPem(), first->ToPem());
  EXPECT_EQ(crypto::ReadPrivateKeyFile(node / "key.pem")->public_key(), key->public_key());
}

TEST(PkiDirectoryTest, IssueToDirectoryWithAnExplicitKey) {
  TemporaryDirectory temporary;
  const auto ca_directory = temporary.path() / "ca";
  ASSERT_TRUE(InitCaDirectory(ca_directory, "fleet-ca", 3650).has_value());
  auto key = crypto::PrivateKey::Generate();
  ASSERT_TRUE(key.has_value());
  const auto private_path = temporary.path() / "own.pem";
  const auto public_path = temporary.path() / "own.pub";
  ASSERT_TRUE(crypto::WritePrivateKeyFile(private_path, *key).has_value());
  ASSERT_TRUE(crypto::WritePublicKeyFile(public_path, key->public_key()).has_value());

  // A private key is copied into the node directory.
  const auto node = temporary.path() / "gw";
  auto issued = IssueToDirectory(ca_directory, Role::kGateway, "gw", 30, node, private_path);
  ASSERT_TRUE(issued.has_value()) << issued.error().ToString();
  EXPECT_EQ(issued->GetIdentity()->public_key, key->public_key());
  EXPECT_EQ(crypto::ReadPrivateKeyFile(node / "key.pem")->public_key(), key->public_key());

  // A public key alone: the private key stays on the device, none is written here.
  const auto device = temporary.path() / "device";
  auto public_only = IssueToDirectory(ca_directory, Role::kDevice, "d", 30, device, public_path);
  ASSERT_TRUE(public_only.has_value()) << public_only.error().ToString();
  EXPECT_EQ(public_only->GetIdentity()->public_key, key->public_key());
  EXPECT_FALSE(std::filesystem::exists(device / "key.pem"));
  EXPECT_TRUE(std::filesystem::exists(device / "cert.pem"));

  // A directory that already holds another key is not silently mixed with this one.
  auto other =
      IssueToDirectory(ca_directory, Role::kPeer, "p", 30, temporary.path() / "p", std::nullopt);
  ASSERT_TRUE(other.has_value());
  auto mixed =
      IssueToDirectory(ca_directory, Role::kPeer, "p", 30, temporary.path() / "p", private_path);
  ASSERT_FALSE(mixed.has_value());
  EXPECT_EQ(mixed.error().code(), ErrorCode::kAlreadyExists);

  // A world-readable key is refused before anything is issued.
  ASSERT_EQ(::chmod(private_path.c_str(), 0644), 0);
  auto loose =
      IssueToDirectory(ca_directory, Role::kPeer, "q", 30, temporary.path() / "q", private_path);
  ASSERT_FALSE(loose.has_value());
  EXPECT_EQ(loose.error().code(), ErrorCode::kPermissionDenied);
}

TEST(PkiDirectoryTest, LoadNodeDirectoryRoundTrips) {
  TemporaryDirectory temporary;
  const auto ca_directory = temporary.path() / "ca";
  const auto node = temporary.path() / "node";
  ASSERT_TRUE(InitCaDirectory(ca_directory, "fleet-ca", 3650).has_value());
  auto issued =
      IssueToDirectory(ca_directory, Role::kPublisher, "release-bot", 30, node, std::nullopt);
  ASSERT_TRUE(issued.has_value());

  auto credentials = LoadNodeDirectory(node);
  ASSERT_TRUE(credentials.has_value()) << credentials.error().ToString();
  EXPECT_EQ(credentials->certificate.ToPem(), issued->ToPem());
  EXPECT_EQ(credentials->key.public_key(), issued->GetIdentity()->public_key);
  auto ca = LoadCaDirectory(ca_directory);
  ASSERT_TRUE(ca.has_value());
  EXPECT_EQ(credentials->ca_certificate.ToPem(), ca->certificate.ToPem());
  EXPECT_TRUE(
      VerifyCertificate(credentials->ca_certificate, credentials->certificate, system_clock::now())
          .has_value());

  // A key that does not match the certificate is refused with a way out.
  auto stranger = crypto::PrivateKey::Generate();
  ASSERT_TRUE(stranger.has_value());
  ASSERT_TRUE(crypto::WritePrivateKeyFile(node / "key.pem", *stranger).has_value());
  auto mismatched = LoadNodeDirectory(node);
  ASSERT_FALSE(mismatched.has_value());
  EXPECT_NE(mismatched.error().message().find("does not match"), std::string::npos);

  auto missing = LoadNodeDirectory(temporary.path() / "absent");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST(PkiOpenSslTest, IssuedFilesPassOpensslVerify) {
  if (!HaveOpenSslCommand()) GTEST_SKIP() << "the openssl command is not installed";
  TemporaryDirectory temporary;
  const auto ca_directory = temporary.path() / "ca";
  ASSERT_TRUE(InitCaDirectory(ca_directory, "fleet-ca", 3650).has_value());
  for (Role role : {Role::kPeer, Role::kGateway, Role::kDevice, Role::kAdmin, Role::kPublisher}) {
    const auto node = temporary.path() / std::string(RoleName(role));
    ASSERT_TRUE(IssueToDirectory(ca_directory, role, "n-1", 30, node, std::nullopt).has_value());
    for (std::string options :
         {"", "-x509_strict -purpose sslserver", "-x509_strict -purpose sslclient"}) {
      CommandResult result =
          RunCommand("openssl verify " + options + " -CAfile " + Quote(ca_directory / "ca.pem") +
                     " " + Quote(node / "cert.pem"));
      EXPECT_EQ(result.exit_code, 0) << options << ": " << result.output;
      EXPECT_NE(result.output.find("cert.pem: OK"), std::string::npos) << result.output;
    }
    // The node's copy of the CA is the same CA.
    CommandResult copy = RunCommand("openssl verify -CAfile " + Quote(node / "ca.pem") + " " +
                                    Quote(node / "cert.pem"));
    EXPECT_EQ(copy.exit_code, 0) << copy.output;
  }

  // openssl agrees that another CA's certificate does not verify.
  const auto other_ca = temporary.path() / "other-ca";
  ASSERT_TRUE(InitCaDirectory(other_ca, "fleet-ca", 3650).has_value());
  CommandResult foreign = RunCommand("openssl verify -CAfile " + Quote(other_ca / "ca.pem") + " " +
                                     Quote(temporary.path() / "peer" / "cert.pem"));
  EXPECT_NE(foreign.exit_code, 0) << foreign.output;
}

TEST(PkiOpenSslTest, GetIdentityRefusesCertificatesThatAreNotVigils) {
  if (!HaveOpenSslCommand()) GTEST_SKIP() << "the openssl command is not installed";
  TemporaryDirectory temporary;
  auto make = [&](const std::string& subject) -> Expected<Identity> {
    const auto key = temporary.path() / "k.pem";
    const auto certificate = temporary.path() / "c.pem";
    CommandResult result =
        RunCommand("openssl req -x509 -newkey ed25519 -nodes -days 1 -keyout " + Quote(key) +
                   " -out " + Quote(certificate) + " -subj '" + subject + "'");
    EXPECT_EQ(result.exit_code, 0) << result.output;
    auto loaded = ReadCertificateFile(certificate);
    EXPECT_TRUE(loaded.has_value());
    return loaded->GetIdentity();
  };
  EXPECT_TRUE(make("/O=Vigil/OU=peer/CN=p").has_value());
  auto other_organization = make("/O=Other/OU=peer/CN=p");
  ASSERT_FALSE(other_organization.has_value());
  EXPECT_NE(other_organization.error().message().find("not a Vigil certificate"),
            std::string::npos);
  auto unknown_role = make("/O=Vigil/OU=root/CN=p");
  ASSERT_FALSE(unknown_role.has_value());
  EXPECT_NE(unknown_role.error().message().find("unknown role \"root\""), std::string::npos);
  auto two_names = make("/O=Vigil/OU=peer/CN=p/CN=q");
  ASSERT_FALSE(two_names.has_value());
  EXPECT_NE(two_names.error().message().find("more than one CN"), std::string::npos);
  EXPECT_FALSE(make("/O=Vigil/CN=p").has_value());
}

}  // namespace
}  // namespace vigil::pki
