// Fuzzes reading a bundle file: ReadBundleManifest and VerifyBundle (the checks UnpackBundle
// runs, without the disk writes) on a temporary file. Properties: no input crashes, leaks,
// hangs or trips a sanitizer, and whatever VerifyBundle accepts ReadBundleManifest agrees with.
//
// The first input byte picks the mode:
//  - even: the rest is written as the bundle file, byte for byte (framing, digests, layout);
//  - odd: the rest is [u32 manifest length][manifest][archive] and the harness frames it with
//    correct digests (docs/bundle-format.md), so the fuzzer reaches libarchive, zstd and the
//    entry checks instead of stopping at a digest mismatch.
// Seeds: fuzz/corpus/release_bundle_fuzz (bundles built by `vigil release build`).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "crypto/crypto.h"
#include "release/bundle.h"

namespace {

namespace release = vigil::release;
using vigil::Bytes;
using vigil::ByteSpan;

Bytes Frame(ByteSpan input) {
  if (input.size() < 4) return Bytes(input.begin(), input.end());
  uint32_t manifest_length =
      static_cast<uint32_t>(input[0]) | static_cast<uint32_t>(input[1]) << 8 |
      static_cast<uint32_t>(input[2]) << 16 | static_cast<uint32_t>(input[3]) << 24;
  ByteSpan rest = input.subspan(4);
  if (manifest_length > rest.size()) manifest_length = static_cast<uint32_t>(rest.size());
  ByteSpan manifest = rest.subspan(0, manifest_length);
  ByteSpan archive = rest.subspan(manifest_length);
  Bytes out(release::kBundleMagic, release::kBundleMagic + sizeof release::kBundleMagic);
  auto put = [&out](uint64_t value, int width) {
    for (int i = 0; i < width; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
  };
  put(release::kBundleFormatVersion, 4);
  put(manifest.size(), 4);
  auto manifest_digest = vigil::crypto::Sha256(manifest);
  out.insert(out.end(), manifest_digest.begin(), manifest_digest.end());
  out.insert(out.end(), manifest.begin(), manifest.end());
  out.insert(out.end(), archive.begin(), archive.end());
  put(archive.size(), 8);
  auto archive_digest = vigil::crypto::Sha256(archive);
  out.insert(out.end(), archive_digest.begin(), archive_digest.end());
  return out;
}

const std::filesystem::path& BundlePath() {
  static const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("vigil-release-fuzz-" + std::to_string(::getpid()));
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  ByteSpan input(data + 1, size - 1);
  Bytes bundle = (data[0] & 1) != 0 ? Frame(input) : Bytes(input.begin(), input.end());
  {
    std::ofstream out(BundlePath(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bundle.data()),
              static_cast<std::streamsize>(bundle.size()));
  }
  auto manifest = release::ReadBundleManifest(BundlePath());
  auto verified = release::VerifyBundle(BundlePath());
  if (verified && (!manifest || !(*manifest == *verified))) std::abort();
  std::error_code ignored;
  std::filesystem::remove(BundlePath(), ignored);
  return 0;
}
