// Manifests: canonical encoding, the Merkle root and its per-file proofs, and every field rule
// (docs/bundle-format.md#manifest).
#include "release/manifest.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/limits.h"
#include "merkle/merkle.h"
#include "release/test_tree.h"

namespace vigil::release {
namespace {

using testing::EntryFor;
using testing::ManifestWith;

Manifest Sample() {
  Manifest manifest = ManifestWith({EntryFor("bin/server", "#!/bin/sh\n", 0755),
                                    EntryFor("etc/config", "port = 80\n", 0640),
                                    EntryFor("share/data.bin", std::string(1000, 'x'), 0444)});
  manifest.entry = {"bin/server", "--port", "80"};
  manifest.health = {.stay_up_seconds = 10,
                     .command = {"bin/server", "--check"},
                     .tcp_port = 80,
                     .timeout_seconds = 30};
  manifest.hooks = {.pre_activate = {"/usr/bin/env", "true"}, .post_activate = {}};
  return manifest;
}

// The first error DecodeManifest gives for a manifest, encoded as is.
std::string DecodeError(const Manifest& manifest) {
  auto decoded = DecodeManifest(EncodeManifest(manifest));
  return decoded ? std::string("decoded") : decoded.error().message();
}

TEST(ManifestTest, RoundTripsAndReencodesToTheSameBytes) {
  const Manifest manifest = Sample();
  const Bytes encoded = EncodeManifest(manifest);
  auto decoded = DecodeManifest(encoded);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, manifest);
  EXPECT_EQ(EncodeManifest(*decoded), encoded);
  EXPECT_TRUE(ValidateManifest(manifest).has_value());
}

TEST(ManifestTest, EncodingIsHeaderThenFilesAsTheFormatDocumentSays) {
  Manifest manifest = ManifestWith({EntryFor("a", "x", 0644)});
  const Bytes encoded = EncodeManifest(manifest);
  const Bytes header = EncodeManifestHeader(manifest);
  const Bytes file = EncodeFileEntry(manifest.files[0]);
  ASSERT_EQ(encoded.size(), header.size() + 4 + file.size());
  EXPECT_TRUE(std::equal(header.begin(), header.end(), encoded.begin()));
  EXPECT_EQ(Bytes(encoded.begin() + static_cast<long>(header.size()),
                  encoded.begin() + static_cast<long>(header.size()) + 4),
            (Bytes{1, 0, 0, 0}));
  // u32 format_version 1, then string app with its u32 length.
  EXPECT_EQ(Bytes(header.begin(), header.begin() + 8), (Bytes{1, 0, 0, 0, 13, 0, 0, 0}));
  // File leaf: u32 path length, "a", u64 size 1, u32 mode 0644, 32 digest bytes.
  ASSERT_EQ(file.size(), 4u + 1 + 8 + 4 + 32);
  EXPECT_EQ(file[4], 'a');
  EXPECT_EQ(file[5], 1);
  EXPECT_EQ(file[13], 0644 & 0xff);
  EXPECT_EQ(file[14], 0644 >> 8);
}

TEST(ManifestTest, RootCoversHeaderAndEveryFileAndProvesSingleFiles) {
  const Manifest manifest = Sample();
  const crypto::Sha256Digest root = ManifestRoot(manifest);
  merkle::Tree tree = ManifestTree(manifest);
  ASSERT_EQ(tree.size(), manifest.files.size() + 1);
  EXPECT_EQ(tree.Root(), root);
  for (size_t i = 0; i < manifest.files.size(); ++i) {
    auto proof = tree.ProveInclusion(FileLeafIndex(i));
    ASSERT_TRUE(proof.has_value());
    EXPECT_TRUE(
        merkle::VerifyInclusion(merkle::HashLeaf(EncodeFileEntry(manifest.files[i])), *proof, root)
            .has_value());
  }
  auto changed = [&](auto mutate) {
    Manifest copy = manifest;
    mutate(copy);
    return ManifestRoot(copy) != root;
  };
  EXPECT_TRUE(changed([](Manifest& m) { m.version = "1.0.1"; }));
  EXPECT_TRUE(changed([](Manifest& m) { m.entry.push_back("-v"); }));
  EXPECT_TRUE(changed([](Manifest& m) { m.health.tcp_port = 81; }));
  EXPECT_TRUE(changed([](Manifest& m) { m.hooks.post_activate = {"/bin/true"}; }));
  EXPECT_TRUE(changed([](Manifest& m) { m.files[1].mode = 0600; }));
  EXPECT_TRUE(changed([](Manifest& m) { m.files[2].size_bytes += 1; }));
  EXPECT_TRUE(changed([](Manifest& m) { m.files[2].sha256[0] ^= 1; }));
  EXPECT_TRUE(changed([](Manifest& m) { m.files[0].path = "bin/serve"; }));
  EXPECT_TRUE(changed([](Manifest& m) { m.files.pop_back(); }));
}

TEST(ManifestTest, RefusesTruncationAndTrailingBytes) {
  const Bytes encoded = EncodeManifest(Sample());
  for (size_t length = 0; length < encoded.size(); ++length) {
    EXPECT_FALSE(DecodeManifest(ByteSpan(encoded.data(), length)).has_value()) << length;
  }
  Bytes longer = encoded;
  longer.push_back(0);
  EXPECT_FALSE(DecodeManifest(longer).has_value());
}

TEST(ManifestTest, RefusesOtherFormatVersions) {
  Manifest manifest = Sample();
  manifest.format_version = 2;
  EXPECT_NE(DecodeError(manifest).find("format_version 2"), std::string::npos);
}

TEST(ManifestTest, RefusesUnconfinedOrMalformedPaths) {
  for (const std::string& path : std::vector<std::string>{
           "../etc/passwd", "a/../../b", "/etc/passwd", "a//b", "a/", "./a", "a/.", "", "a\\b",
           std::string("a\nb"), std::string("a\0b", 3), "caf\xc3\xa9",
           std::string(limits::kReleasePathComponentBytesMax + 1, 'x')}) {
    Manifest manifest = ManifestWith({EntryFor(path, "x")});
    EXPECT_NE(DecodeError(manifest), "decoded") << "path " << path;
    EXPECT_FALSE(ValidateRelativePath("path", path).has_value()) << path;
  }
  std::string deep;
  for (size_t i = 0; i <= limits::kReleasePathDepthMax; ++i) deep += "d/";
  EXPECT_FALSE(ValidateRelativePath("path", deep + "f").has_value());
  EXPECT_TRUE(ValidateRelativePath("path", "a b/c-d_e.f+g@h=i,j~k").has_value());
}

TEST(ManifestTest, RefusesUnsortedDuplicateAndFileDirectoryClashes) {
  EXPECT_NE(DecodeError(ManifestWith({EntryFor("b", "x"), EntryFor("a", "x")})).find("order"),
            std::string::npos);
  EXPECT_NE(DecodeError(ManifestWith({EntryFor("a", "x"), EntryFor("a", "y")})).find("repeated"),
            std::string::npos);
  EXPECT_NE(
      DecodeError(ManifestWith({EntryFor("a", "x"), EntryFor("a-b", "x"), EntryFor("a/b", "x")}))
          .find("itself a file"),
      std::string::npos);
}

TEST(ManifestTest, RefusesPrivilegedOrUnreadableModes) {
  for (uint32_t mode : {04755u, 02755u, 01755u, 0200u, 0077u, 010644u}) {
    EXPECT_NE(DecodeError(ManifestWith({EntryFor("a", "x", mode)})).find("mode"), std::string::npos)
        << mode;
  }
  EXPECT_EQ(DecodeError(ManifestWith({EntryFor("a", "x", 0400)})), "decoded");
}

TEST(ManifestTest, RefusesBadAppAndVersion) {
  Manifest manifest = Sample();
  manifest.app = "Press Control";
  EXPECT_NE(DecodeError(manifest).find("app"), std::string::npos);
  manifest = Sample();
  manifest.version = "v1.0";
  EXPECT_NE(DecodeError(manifest).find("version"), std::string::npos);
}

TEST(ManifestTest, RefusesCommandsThatCannotRun) {
  Manifest manifest = Sample();
  manifest.entry = {};
  EXPECT_NE(DecodeError(manifest).find("entry must name"), std::string::npos);
  manifest.entry = {"bin/missing"};
  EXPECT_NE(DecodeError(manifest).find("neither an absolute path nor a file"), std::string::npos);
  manifest.entry = {"etc/config"};  // 0640: not executable
  EXPECT_NE(DecodeError(manifest).find("not executable"), std::string::npos);
  manifest.entry = {"../bin/sh"};
  EXPECT_NE(DecodeError(manifest), "decoded");
  manifest.entry = {"/usr/../bin/sh"};
  EXPECT_NE(DecodeError(manifest), "decoded");
  manifest.entry = {"/usr/bin/python3", std::string("a\0b", 3)};
  EXPECT_NE(DecodeError(manifest).find("NUL"), std::string::npos);
  manifest.entry = std::vector<std::string>(limits::kReleaseArgumentsMax + 1, "/bin/true");
  EXPECT_NE(DecodeError(manifest), "decoded");
  manifest = Sample();
  manifest.health.command = {"bin/nothing"};
  EXPECT_NE(DecodeError(manifest).find("health.command"), std::string::npos);
  manifest = Sample();
  manifest.hooks.post_activate = {"relative-hook"};
  EXPECT_NE(DecodeError(manifest).find("hooks.post_activate"), std::string::npos);
}

TEST(ManifestTest, RefusesHealthTimesBeyondTheLimit) {
  Manifest manifest = Sample();
  manifest.health.stay_up_seconds = limits::kReleaseHealthSecondsMax + 1;
  EXPECT_NE(DecodeError(manifest).find("stay_up_seconds"), std::string::npos);
  manifest = Sample();
  manifest.health.timeout_seconds = limits::kReleaseHealthSecondsMax + 1;
  EXPECT_NE(DecodeError(manifest).find("timeout_seconds"), std::string::npos);
}

TEST(ManifestTest, RefusesTooLargeTotals) {
  FileEntry huge = EntryFor("a", "x");
  huge.size_bytes = limits::kReleaseUnpackedBytesMax;
  FileEntry more = EntryFor("b", "x");
  EXPECT_NE(DecodeError(ManifestWith({huge, more})).find("add up"), std::string::npos);
  EXPECT_EQ(DecodeError(ManifestWith({huge})), "decoded");
}

TEST(ManifestTest, EmptyManifestHasOneLeaf) {
  Manifest manifest = ManifestWith({});
  EXPECT_EQ(DecodeError(manifest), "decoded");
  EXPECT_EQ(ManifestTree(manifest).size(), 1u);
  EXPECT_EQ(TotalSizeBytes(manifest), 0u);
}

}  // namespace
}  // namespace vigil::release
