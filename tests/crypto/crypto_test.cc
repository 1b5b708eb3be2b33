// Known-answer and negative tests for crypto/: SHA-256 (FIPS 180-4 examples), Ed25519
// (RFC 8032 section 7.1), PEM encodings and key-file permissions.
#include "crypto/crypto.h"
#include "test_support/temporary_directory.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/file.h"

namespace vigil::crypto {
namespace {

using test_support::TemporaryDirectory;

Bytes Hex(std::string_view hex) {
  auto bytes = FromHex(hex);
  EXPECT_TRUE(bytes.has_value()) << hex;
  return bytes.value_or(Bytes{});
}

template <size_t N>
std::array<uint8_t, N> FixedHex(std::string_view hex) {
  auto bytes = FixedFromHex<N>(hex);
  EXPECT_TRUE(bytes.has_value()) << hex;
  return bytes.value_or(std::array<uint8_t, N>{});
}


// --- SHA-256: the examples of FIPS 180-4 / NIST CSRC "SHA256.pdf". ---

TEST(Sha256Test, EmptyString) {
  EXPECT_EQ(ToHex(Sha256(AsBytes(""))),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256Test, Abc) {
  EXPECT_EQ(ToHex(Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, TwoBlockMessage448Bits) {
  EXPECT_EQ(ToHex(Sha256(AsBytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, OneMillionLetterA) {
  constexpr std::string_view kExpected =
      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  std::string million(1'000'000, 'a');
  EXPECT_EQ(ToHex(Sha256(AsBytes(million))), kExpected);

  // The same through the incremental hasher, in pieces that straddle block boundaries.
  Sha256Hasher hasher;
  std::string_view rest = million;
  while (!rest.empty()) {
    size_t piece = std::min<size_t>(rest.size(), 1000);
    hasher.Update(AsBytes(rest.substr(0, piece)));
    rest.remove_prefix(piece);
  }
  EXPECT_EQ(ToHex(hasher.Finish()), kExpected);
}

TEST(Sha256HasherTest, IncrementalEqualsOneShotAtEverySplit) {
  Bytes data(300);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + 3);
  const Sha256Digest expected = Sha256(data);
  Sha256Hasher hasher;
  for (size_t split = 0; split <= data.size(); ++split) {
    ByteSpan all(data);
    hasher.Update(all.subspan(0, split));
    hasher.Update(all.subspan(split));
    ASSERT_EQ(hasher.Finish(), expected) << "split at " << split;
  }
}

TEST(Sha256HasherTest, FinishResetsForReuseAndSurvivesMove) {
  Sha256Hasher hasher;
  hasher.Update(AsBytes("something else first"));
  (void)hasher.Finish();
  EXPECT_EQ(hasher.Finish(), Sha256(AsBytes("")));
  hasher.Update(AsBytes("ab"));
  Sha256Hasher moved = std::move(hasher);
  moved.Update(AsBytes("c"));
  EXPECT_EQ(ToHex(moved.Finish()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// --- Ed25519: RFC 8032 section 7.1. ---

struct Rfc8032Vector {
  const char* name;
  const char* secret_key;
  const char* public_key;
  const char* message;
  const char* signature;
};

// TEST 1024's message is 1023 bytes.
constexpr const char* kTest1024Message =
    "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98"
    "fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8"
    "79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
    "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc"
    "1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe"
    "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
    "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef"
    "efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7"
    "aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
    "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2"
    "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24"
    "554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
    "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc"
    "2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07"
    "07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
    "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a"
    "ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e"
    "c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
    "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c"
    "42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8"
    "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
    "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08"
    "d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649"
    "de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
    "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3"
    "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e"
    "6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
    "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5"
    "0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1"
    "369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
    "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c"
    "0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0";

const Rfc8032Vector kRfc8032Vectors[] = {
    {"TEST1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e397"
     "01cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f361"
     "3d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"TEST3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f76"
     "0984dc6594a7c15e9716ed28dc027beceea1ec40a"},
    {"TEST1024", "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
     "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e", kTest1024Message,
     "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea2"
     "3c436d94b5e8fcd4f681e30a6ac00a9704a188a03"},
};

class Ed25519Rfc8032Test : public testing::TestWithParam<Rfc8032Vector> {};

TEST_P(Ed25519Rfc8032Test, DerivesPublicKeySignsAndVerifies) {
  const Rfc8032Vector& vector = GetParam();
  auto key = PrivateKey::FromSeed(Hex(vector.secret_key));
  ASSERT_TRUE(key.has_value()) << key.error().ToString();
  Bytes message = Hex(vector.message);
  EXPECT_EQ(ToHex(key->public_key()), vector.public_key);
  // Ed25519 is deterministic, so the signature must match byte for byte.
  EXPECT_EQ(ToHex(key->Sign(message)), vector.signature);
  EXPECT_TRUE(Verify(FixedHex<32>(vector.public_key), message, FixedHex<64>(vector.signature)));
}

INSTANTIATE_TEST_SUITE_P(Rfc8032Section7_1, Ed25519Rfc8032Test, testing::ValuesIn(kRfc8032Vectors),
                         [](const testing::TestParamInfo<Rfc8032Vector>& vector_info) {
                           return std::string(vector_info.param.name);
                         });

TEST(Ed25519Test, Test1024MessageIs1023Bytes) { EXPECT_EQ(Hex(kTest1024Message).size(), 1023u); }

// Fixture with a valid (public key, message, signature) triple to corrupt: RFC 8032 TEST 3.
class Ed25519RejectTest : public testing::Test {
 protected:
  const PublicKey public_key_ = FixedHex<32>(kRfc8032Vectors[2].public_key);
  const Bytes message_ = Hex(kRfc8032Vectors[2].message);
  const Signature signature_ = FixedHex<64>(kRfc8032Vectors[2].signature);
};

TEST_F(Ed25519RejectTest, AcceptsTheUnmodifiedTriple) {
  EXPECT_TRUE(Verify(public_key_, message_, signature_));
}

TEST_F(Ed25519RejectTest, RejectsEveryFlippedMessageBit) {
  for (size_t bit = 0; bit < message_.size() * 8; ++bit) {
    Bytes message = message_;
    message[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(Verify(public_key_, message, signature_)) << "bit " << bit;
  }
  Bytes longer = message_;
  longer.push_back(0);
  EXPECT_FALSE(Verify(public_key_, longer, signature_));
  EXPECT_FALSE(Verify(public_key_, {}, signature_));
}

TEST_F(Ed25519RejectTest, RejectsEveryFlippedSignatureBit) {
  for (size_t bit = 0; bit < signature_.size() * 8; ++bit) {
    Signature signature = signature_;
    signature[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(Verify(public_key_, message_, signature)) << "bit " << bit;
  }
}

TEST_F(Ed25519RejectTest, RejectsAnotherKey) {
  EXPECT_FALSE(Verify(FixedHex<32>(kRfc8032Vectors[1].public_key), message_, signature_));
  auto other = PrivateKey::Generate();
  ASSERT_TRUE(other.has_value());
  EXPECT_FALSE(Verify(other->public_key(), message_, signature_));
}

TEST_F(Ed25519RejectTest, RejectsMalformedSignatures) {
  Signature all_ones;
  all_ones.fill(0xff);
  EXPECT_FALSE(Verify(public_key_, message_, all_ones));
  Signature all_zeros{};
  EXPECT_FALSE(Verify(public_key_, message_, all_zeros));

  // S = L, the group order (little-endian): out of range, must be refused (RFC 8032 5.1.7).
  const auto group_order =
      FixedHex<32>("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
  Signature s_equals_order = signature_;
  std::copy(group_order.begin(), group_order.end(), s_equals_order.begin() + 32);
  EXPECT_FALSE(Verify(public_key_, message_, s_equals_order));

  // S + L is the same scalar modulo L, so a verifier that skips the range check would accept
  // it: the classic signature malleability. It must be refused.
  Signature s_plus_order = signature_;
  unsigned carry = 0;
  for (size_t i = 0; i < 32; ++i) {
    unsigned sum = s_plus_order[32 + i] + group_order[i] + carry;
    s_plus_order[32 + i] = static_cast<uint8_t>(sum);
    carry = sum >> 8;
  }
  ASSERT_EQ(carry, 0u);
  EXPECT_FALSE(Verify(public_key_, message_, s_plus_order));
}

TEST_F(Ed25519RejectTest, RejectsMalformedPublicKeysWithoutCrashing) {
  PublicKey all_ones;
  all_ones.fill(0xff);
  EXPECT_FALSE(Verify(all_ones, message_, signature_));
  EXPECT_FALSE(Verify(PublicKey{}, message_, signature_));
}

TEST(Ed25519Test, GeneratedKeysAreDistinctAndSignVerifiably) {
  auto first = PrivateKey::Generate();
  auto second = PrivateKey::Generate();
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_NE(first->public_key(), second->public_key());
  Bytes message = ToBytes("release manifest root");
  Signature signature = first->Sign(message);
  EXPECT_TRUE(Verify(first->public_key(), message, signature));
  EXPECT_FALSE(Verify(second->public_key(), message, signature));
}

TEST(Ed25519Test, FromSeedRefusesWrongLength) {
  Bytes short_seed(31);
  auto key = PrivateKey::FromSeed(short_seed);
  ASSERT_FALSE(key.has_value());
  EXPECT_EQ(key.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(key.error().message().find("32 bytes, got 31"), std::string::npos);
}

// --- PEM ---

// RFC 8032 TEST 1's seed as PKCS#8, the encoding `openssl genpkey -algorithm ed25519` writes.
constexpr std::string_view kTest1PrivatePem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";
constexpr std::string_view kTest1PublicPem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
    "-----END PUBLIC KEY-----\n";

TEST(PemTest, EncodesLikeOpenSsl) {
  auto key = PrivateKey::FromSeed(Hex(kRfc8032Vectors[0].secret_key));
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->ToPem(), kTest1PrivatePem);
  EXPECT_EQ(PublicKeyToPem(key->public_key()), kTest1PublicPem);
}

TEST(PemTest, PrivateKeyRoundTrips) {
  auto key = PrivateKey::Generate();
  ASSERT_TRUE(key.has_value());
  auto decoded = PrivateKey::FromPem(key->ToPem());
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->public_key(), key->public_key());
  Bytes message = ToBytes("x");
  EXPECT_EQ(decoded->Sign(message), key->Sign(message));
}

TEST(PemTest, PublicKeyRoundTrips) {
  auto decoded = PublicKeyFromPem(kTest1PublicPem);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(ToHex(*decoded), kRfc8032Vectors[0].public_key);
  EXPECT_EQ(PublicKeyToPem(*decoded), kTest1PublicPem);
}

TEST(PemTest, RefusesGarbageAndTheWrongKind) {
  EXPECT_EQ(PrivateKey::FromPem("not a key").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(PublicKeyFromPem("not a key").error().code(), ErrorCode::kInvalidArgument);
  // A public key where a private key belongs, and the reverse.
  EXPECT_FALSE(PrivateKey::FromPem(kTest1PublicPem).has_value());
  EXPECT_FALSE(PublicKeyFromPem(kTest1PrivatePem).has_value());
  std::string oversized(limits::kPemFileBytesMax + 1, 'A');
  EXPECT_FALSE(PrivateKey::FromPem(oversized).has_value());
}

TEST(PemTest, RefusesNonEd25519Keys) {
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  ASSERT_NE(raw, nullptr);
  EvpPkeyPointer ec_key(raw);
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PrivateKey(bio, ec_key.get(), nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);

  auto key = PrivateKey::FromPem(pem);
  ASSERT_FALSE(key.has_value());
  EXPECT_NE(key.error().message().find("Ed25519"), std::string::npos) << key.error().message();
  EXPECT_FALSE(PublicKeyFromEvp(ec_key.get()).has_value());
}

TEST(PemTest, RefusesAnEncryptedKeyWithoutPrompting) {
  auto key = PrivateKey::Generate();
  ASSERT_TRUE(key.has_value());
  BIO* bio = BIO_new(BIO_s_mem());
  const char passphrase[] = "correct horse";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio, key->evp_pkey(), EVP_aes_256_cbc(), passphrase,
                                          sizeof(passphrase) - 1, nullptr, nullptr),
            1);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  ASSERT_NE(pem.find("ENCRYPTED"), std::string::npos);
  // Would block on the terminal if the passphrase callback were missing.
  EXPECT_FALSE(PrivateKey::FromPem(pem).has_value());
}

// --- Key files ---

mode_t FileMode(const std::filesystem::path& path) {
  struct stat status {};
  EXPECT_EQ(::stat(path.c_str(), &status), 0);
  return status.st_mode & 07777;
}

TEST(KeyFileTest, WritesMode0600AndReadsBack) {
  TemporaryDirectory directory("vigil-crypto");
  auto key = PrivateKey::Generate();
  ASSERT_TRUE(key.has_value());
  const auto path = directory.path() / "key.pem";
  ASSERT_TRUE(WritePrivateKeyFile(path, *key).has_value());
  EXPECT_EQ(FileMode(path), 0600u);
  auto read = ReadPrivateKeyFile(path);
  ASSERT_TRUE(read.has_value()) << read.error().ToString();
  EXPECT_EQ(read->public_key(), key->public_key());

  // Overwriting keeps the mode and replaces the contents.
  auto replacement = PrivateKey::Generate();
  ASSERT_TRUE(replacement.has_value());
  ASSERT_TRUE(WritePrivateKeyFile(path, *replacement).has_value());
  EXPECT_EQ(FileMode(path), 0600u);
  EXPECT_EQ(ReadPrivateKeyFile(path)->public_key(), replacement->public_key());
}

TEST(KeyFileTest, RefusesKeysReadableByGroupOrOthers) {
  TemporaryDirectory directory("vigil-crypto");
  auto key = PrivateKey::Generate();
  ASSERT_TRUE(key.has_value());
  const auto path = directory.path() / "key.pem";
  ASSERT_TRUE(WritePrivateKeyFile(path, *key).has_value());
  for (mode_t mode : {0644, 0640, 0604, 0660, 0602, 0620}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    auto read = ReadPrivateKeyFile(path);
    ASSERT_FALSE(read.has_value()) << std::oct << mode;
    EXPECT_EQ(read.error().code(), ErrorCode::kPermissionDenied);
    EXPECT_EQ(read.error().message(), "key file " + path.string() + " has mode 0" +
                                          std::to_string(mode / 64) + std::to_string(mode / 8 % 8) +
                                          std::to_string(mode % 8) +
                                          "; it must not be readable by group or others: run "
                                          "chmod 600 " +
                                          path.string());
  }
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);  // read-only for the owner is fine
  EXPECT_TRUE(ReadPrivateKeyFile(path).has_value());
}

TEST(KeyFileTest, ReportsMissingAndOversizedFiles) {
  TemporaryDirectory directory("vigil-crypto");
  auto missing = ReadPrivateKeyFile(directory.path() / "absent.pem");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("absent.pem"), std::string::npos);

  const auto big = directory.path() / "big.pem";
  Bytes contents(limits::kPemFileBytesMax + 1, 'A');
  ASSERT_TRUE(WriteFileAtomically(big, contents, 0600).has_value());
  EXPECT_FALSE(ReadPrivateKeyFile(big).has_value());
  EXPECT_FALSE(ReadPublicKeyFile(big).has_value());
}

TEST(KeyFileTest, PublicKeyFileRoundTripsWithMode0644) {
  TemporaryDirectory directory("vigil-crypto");
  const auto path = directory.path() / "key.pub";
  const PublicKey key = FixedHex<32>(kRfc8032Vectors[1].public_key);
  ASSERT_TRUE(WritePublicKeyFile(path, key).has_value());
  EXPECT_EQ(FileMode(path), 0644u);
  auto read = ReadPublicKeyFile(path);
  ASSERT_TRUE(read.has_value()) << read.error().ToString();
  EXPECT_EQ(*read, key);
}

// --- Constant-time comparison ---

TEST(ConstantTimeEqualsTest, ComparesContentsAndLengths) {
  EXPECT_TRUE(ConstantTimeEquals(AsBytes(""), AsBytes("")));
  EXPECT_TRUE(ConstantTimeEquals(AsBytes("same bytes"), AsBytes("same bytes")));
  EXPECT_FALSE(ConstantTimeEquals(AsBytes("Xame bytes"), AsBytes("same bytes")));
  EXPECT_FALSE(ConstantTimeEquals(AsBytes("same byteX"), AsBytes("same bytes")));
  EXPECT_FALSE(ConstantTimeEquals(AsBytes("same"), AsBytes("same bytes")));
  EXPECT_FALSE(ConstantTimeEquals(AsBytes(""), AsBytes("x")));
}

}  // namespace
}  // namespace vigil::crypto
