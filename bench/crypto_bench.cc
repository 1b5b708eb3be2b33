// crypto/ throughput: SHA-256 at ledger-node, file-chunk and bundle sizes; Ed25519 key
// generation, signing and verification (a transaction and a vote are each one signature).
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include "crypto/crypto.h"

namespace vigil::crypto {
namespace {

void BM_Sha256(benchmark::State& state) {
  const Bytes data(static_cast<size_t>(state.range(0)), 0x5a);
  for (auto _ : state) {
    Sha256Digest digest = Sha256(data);
    benchmark::DoNotOptimize(digest);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
// 64 B: a Merkle node (two child digests); 4 KiB: a file-system page; 1 MiB: a bundle chunk.
BENCHMARK(BM_Sha256)->Arg(64)->Arg(4 << 10)->Arg(1 << 20);

void BM_Sha256Incremental4KiBChunks(benchmark::State& state) {
  const Bytes chunk(4 << 10, 0x5a);
  constexpr int kChunks = 256;  // 1 MiB in total, as the integrity scanner reads files
  for (auto _ : state) {
    Sha256Hasher hasher;
    for (int i = 0; i < kChunks; ++i) hasher.Update(chunk);
    Sha256Digest digest = hasher.Finish();
    benchmark::DoNotOptimize(digest);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kChunks *
                          static_cast<int64_t>(chunk.size()));
}
BENCHMARK(BM_Sha256Incremental4KiBChunks);

void BM_Ed25519Keygen(benchmark::State& state) {
  for (auto _ : state) {
    auto key = PrivateKey::Generate();
    benchmark::DoNotOptimize(key);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ed25519Keygen);

// A 256-byte message: about the size of a signed ledger transaction or consensus vote.
constexpr size_t kMessageBytes = 256;

// Runs `operation(key, message, signature)` once per iteration on a fresh key, a 256-byte
// message and the key's signature of it, counting one item per iteration.
template <typename Operation>
void RunOnSignedMessage(benchmark::State& state, Operation operation) {
  auto key = PrivateKey::Generate();
  if (!key) {
    state.SkipWithError("key generation failed");
    return;
  }
  const Bytes message(kMessageBytes, 0x17);
  const Signature signature = key->Sign(message);
  for (auto _ : state) operation(*key, message, signature);
  state.SetItemsProcessed(state.iterations());
}

void BM_Ed25519Sign(benchmark::State& state) {
  RunOnSignedMessage(state, [](const PrivateKey& key, const Bytes& message, const Signature&) {
    Signature signature = key.Sign(message);
    benchmark::DoNotOptimize(signature);
  });
}
BENCHMARK(BM_Ed25519Sign);

// Signing through OpenSSL 3's EVP interface, as Sign did before it moved to libsodium: run side
// by side so the ratio is measured, not remembered.
void BM_Ed25519SignOpenSslEvp(benchmark::State& state) {
  RunOnSignedMessage(state, [](const PrivateKey& key, const Bytes& message, const Signature&) {
    EVP_MD_CTX* context = EVP_MD_CTX_new();
    Signature signature{};
    size_t length = signature.size();
    bool signed_ok =
        EVP_DigestSignInit(context, nullptr, nullptr, nullptr, key.evp_pkey()) == 1 &&
        EVP_DigestSign(context, signature.data(), &length, message.data(), message.size()) == 1;
    EVP_MD_CTX_free(context);
    benchmark::DoNotOptimize(signed_ok);
    benchmark::DoNotOptimize(signature);
  });
}
BENCHMARK(BM_Ed25519SignOpenSslEvp);

void BM_Ed25519Verify(benchmark::State& state) {
  RunOnSignedMessage(state,
                     [](const PrivateKey& key, const Bytes& message, const Signature& signature) {
                       bool valid = Verify(key.public_key(), message, signature);
                       benchmark::DoNotOptimize(valid);
                     });
}
BENCHMARK(BM_Ed25519Verify);

// The same verification through OpenSSL 3's EVP interface, as Verify did before libsodium.
void BM_Ed25519VerifyOpenSslEvp(benchmark::State& state) {
  RunOnSignedMessage(
      state, [](const PrivateKey& key, const Bytes& message, const Signature& signature) {
        const PublicKey& public_key = key.public_key();
        EVP_PKEY* evp_key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                                        public_key.data(), public_key.size());
        EVP_MD_CTX* context = EVP_MD_CTX_new();
        bool valid = EVP_DigestVerifyInit(context, nullptr, nullptr, nullptr, evp_key) == 1 &&
                     EVP_DigestVerify(context, signature.data(), signature.size(), message.data(),
                                      message.size()) == 1;
        EVP_MD_CTX_free(context);
        EVP_PKEY_free(evp_key);
        benchmark::DoNotOptimize(valid);
      });
}
BENCHMARK(BM_Ed25519VerifyOpenSslEvp);

}  // namespace
}  // namespace vigil::crypto
