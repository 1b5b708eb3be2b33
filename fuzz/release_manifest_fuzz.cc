// Fuzzes release::DecodeManifest, the decoder of every bundle's manifest. Properties:
//  1. no input crashes, leaks or trips a sanitizer;
//  2. canonical: whatever decodes re-encodes to exactly the input bytes;
//  3. whatever decodes passes ValidateManifest, and its Merkle tree has one leaf per file
//     plus the header, each file provable against the root.
// Needs vigil_release linked (fuzz/CMakeLists.txt). Seeds: fuzz/corpus/release_manifest_fuzz.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "release/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace release = vigil::release;
  vigil::ByteSpan input(data, size);
  auto manifest = release::DecodeManifest(input);
  if (!manifest) return 0;
  vigil::Bytes encoded = release::EncodeManifest(*manifest);
  if (encoded.size() != size || !std::equal(encoded.begin(), encoded.end(), data)) std::abort();
  if (!release::ValidateManifest(*manifest)) std::abort();
  vigil::merkle::Tree tree = release::ManifestTree(*manifest);
  if (tree.size() != manifest->files.size() + 1) std::abort();
  if (!manifest->files.empty()) {
    size_t index = manifest->files.size() / 2;
    auto proof = tree.ProveInclusion(release::FileLeafIndex(index));
    if (!proof) std::abort();
    auto leaf = vigil::merkle::HashLeaf(release::EncodeFileEntry(manifest->files[index]));
    if (!vigil::merkle::VerifyInclusion(leaf, *proof, release::ManifestRoot(*manifest))) {
      std::abort();
    }
  }
  return 0;
}
