// Cryptographic primitives of Vigil: SHA-256 and Ed25519 through OpenSSL 3 EVP.
//
// Everything Vigil hashes uses SHA-256 and everything it signs uses Ed25519 (RFC 8032,
// pure mode, no pre-hash). Keys are value types: `PrivateKey` owns an OpenSSL EVP_PKEY and is
// move-only; `PublicKey`, `Signature` and `Sha256Digest` are plain byte arrays.
//
// Thread-safety: all free functions are thread-safe; a PrivateKey may be used to sign from
// several threads at once (OpenSSL EVP_PKEY is immutable after creation).
#pragma once

#include <openssl/evp.h>

#include <array>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/error.h"
#include "common/limits.h"

namespace vigil::crypto {

using Sha256Digest = std::array<uint8_t, limits::kSha256DigestBytes>;
using PublicKey = std::array<uint8_t, limits::kEd25519PublicKeyBytes>;
using Signature = std::array<uint8_t, limits::kEd25519SignatureBytes>;

// --- SHA-256 ---
Sha256Digest Sha256(ByteSpan data);
// SHA-256 of a whole file, read in bounded chunks (never the whole file in memory).
Expected<Sha256Digest> Sha256OfFile(const std::filesystem::path& path);

// Incremental SHA-256 for streams and for hashing several pieces without concatenating.
class Sha256Hasher {
 public:
  Sha256Hasher();
  Sha256Hasher(Sha256Hasher&&) noexcept;
  Sha256Hasher& operator=(Sha256Hasher&&) noexcept;
  ~Sha256Hasher();

  void Update(ByteSpan data);
  // Returns the digest and resets the hasher for reuse.
  Sha256Digest Finish();

 private:
  struct ContextDeleter {
    void operator()(EVP_MD_CTX* context) const;
  };
  std::unique_ptr<EVP_MD_CTX, ContextDeleter> context_;
};

// --- Ed25519 ---
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using EvpPkeyPointer = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

class PrivateKey {
 public:
  // A fresh key from the operating system's randomness (OpenSSL's DRBG).
  static Expected<PrivateKey> Generate();
  // The RFC 8032 private key: a 32-byte seed.
  static Expected<PrivateKey> FromSeed(ByteSpan seed);
  // PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"), Ed25519 only.
  static Expected<PrivateKey> FromPem(std::string_view pem);

  PrivateKey(PrivateKey&&) noexcept = default;
  PrivateKey& operator=(PrivateKey&&) noexcept = default;

  const PublicKey& public_key() const { return public_key_; }
  Signature Sign(ByteSpan message) const;
  std::string ToPem() const;
  // For the PKI and TLS layers, which hand the key to OpenSSL. Not owned by the caller.
  EVP_PKEY* evp_pkey() const { return key_.get(); }

 private:
  // libsodium's form of the key (seed then public key), kept for signing; wiped when freed.
  struct SigningSecret {
    std::array<uint8_t, 64> bytes{};
  };
  struct SigningSecretDeleter {
    void operator()(SigningSecret* secret) const;
  };
  PrivateKey(EvpPkeyPointer key, const PublicKey& public_key,
             std::unique_ptr<SigningSecret, SigningSecretDeleter> secret)
      : key_(std::move(key)), public_key_(public_key), secret_(std::move(secret)) {}
  static Expected<PrivateKey> FromEvp(EvpPkeyPointer key);
  EvpPkeyPointer key_;
  PublicKey public_key_;
  std::unique_ptr<SigningSecret, SigningSecretDeleter> secret_;
};

// True only for a valid signature of `message` by `public_key`. Never throws, never aborts on
// malformed keys or signatures: they simply do not verify.
bool Verify(const PublicKey& public_key, ByteSpan message, const Signature& signature);

// SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----"), Ed25519 only.
Expected<PublicKey> PublicKeyFromPem(std::string_view pem);
std::string PublicKeyToPem(const PublicKey& public_key);
// The raw 32-byte key of an OpenSSL Ed25519 EVP_PKEY (e.g. from a certificate).
Expected<PublicKey> PublicKeyFromEvp(const EVP_PKEY* key);

// Compares without an early exit, so timing reveals nothing about where inputs differ.
// Different lengths compare unequal (lengths are not secret).
bool ConstantTimeEquals(ByteSpan left, ByteSpan right);

// --- Keyed short hash (hash tables) ---
// SipHash-2-4 (libsodium's crypto_shorthash) of `bytes` under a key drawn from the operating
// system's randomness once per process. For hash tables whose keys others choose: without the
// key nobody can aim collisions at a table. Not a digest: the same bytes hash differently in
// another process, so nothing stored or sent may depend on it (nor on a table's bucket order).
uint64_t ProcessKeyedHash(ByteSpan bytes);

// --- Key files ---
// Writes the key as PEM with mode 0600, atomically (common/file.h).
Status WritePrivateKeyFile(const std::filesystem::path& path, const PrivateKey& key);
// Refuses (kPermissionDenied, saying which mode and how to fix it) a key file that group or
// others may read or write, like ssh does.
Expected<PrivateKey> ReadPrivateKeyFile(const std::filesystem::path& path);
Status WritePublicKeyFile(const std::filesystem::path& path, const PublicKey& key);
Expected<PublicKey> ReadPublicKeyFile(const std::filesystem::path& path);

}  // namespace vigil::crypto
