// Bundles end to end in one process: build, inspect, verify and unpack real files on disk.
#include "release/bundle.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "release/test_tree.h"
#include "test_support/temporary_directory.h"

namespace vigil::release {
namespace {

namespace fs = std::filesystem;
using testing::ArchiveItem;
using testing::AssembleBundle;
using testing::EntryFor;
using testing::File;
using testing::MakeArchive;
using testing::ManifestWith;
using testing::PseudoRandomBytes;
using testing::ReadWhole;
using testing::Typed;
using testing::WriteTreeFile;
using testing::WriteWhole;
using testing::Zeros;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

size_t EntriesIn(const fs::path& directory) {
  return static_cast<size_t>(
      std::distance(fs::directory_iterator(directory), fs::directory_iterator()));
}

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteTreeFile(source(), "bin/press-control", "#!/bin/sh\necho running\n", 0755);
    WriteTreeFile(source(), "etc/config.toml", "line = 3\n", 0640);
    WriteTreeFile(source(), "lib/data.bin", PseudoRandomBytes(300'000, 1), 0444);
    WriteTreeFile(source(), "empty", "", 0600);
  }
  fs::path source() const { return temporary_.path() / "source"; }
  fs::path bundle() const { return temporary_.path() / "press-control.vigil"; }
  static BuildOptions Options() {
    return {.app = "press-control",
            .version = "1.4.0",
            .entry = {"bin/press-control", "--line", "3"},
            .health = {.stay_up_seconds = 5, .command = {}, .tcp_port = 8080, .timeout_seconds = 0},
            .hooks = {}};
  }
  BuiltBundle Build() {
    auto built = BuildBundle(source(), Options(), bundle());
    EXPECT_TRUE(built.has_value()) << built.error().ToString();
    return built.value_or(BuiltBundle{});
  }

  test_support::TemporaryDirectory temporary_{"vigil-release"};
};

TEST_F(BundleTest, BuildsInspectsVerifiesAndUnpacks) {
  BuiltBundle built = Build();
  ASSERT_EQ(built.manifest.files.size(), 4u);
  EXPECT_EQ(built.manifest.files[0].path, "bin/press-control");
  EXPECT_EQ(built.manifest.files[1].path, "empty");
  EXPECT_EQ(built.manifest.files[3].mode, 0444u);
  EXPECT_EQ(built.manifest_root, ManifestRoot(built.manifest));
  EXPECT_EQ(built.bundle_size_bytes, fs::file_size(bundle()));
  EXPECT_EQ(built.bundle_digest, crypto::Sha256OfFile(bundle()).value());

  auto read = ReadBundleManifest(bundle());
  ASSERT_TRUE(read.has_value()) << read.error().ToString();
  EXPECT_EQ(*read, built.manifest);
  auto summary = InspectBundle(bundle());
  ASSERT_TRUE(summary.has_value()) << summary.error().ToString();
  EXPECT_EQ(summary->bundle_digest, built.bundle_digest);
  EXPECT_EQ(summary->manifest_root, built.manifest_root);

  auto verified = VerifyBundle(bundle());
  ASSERT_TRUE(verified.has_value()) << verified.error().ToString();

  fs::path slot = temporary_.path() / "slots" / "1";
  fs::create_directories(slot.parent_path());
  auto unpacked = UnpackBundle(bundle(), slot);
  ASSERT_TRUE(unpacked.has_value()) << unpacked.error().ToString();
  EXPECT_EQ(ReadWhole(slot / "lib/data.bin"), ReadWhole(source() / "lib/data.bin"));
  EXPECT_EQ(fs::status(slot / "bin/press-control").permissions(), fs::perms(0755));
  EXPECT_EQ(fs::status(slot / "etc/config.toml").permissions(), fs::perms(0640));
  EXPECT_EQ(fs::status(slot / "lib/data.bin").permissions(), fs::perms(0444));
  auto tree = VerifyTree(built.manifest, slot);
  EXPECT_TRUE(tree.has_value()) << tree.error().ToString();
  // Nothing else was left beside the slot.
  EXPECT_EQ(std::distance(fs::directory_iterator(slot.parent_path()), fs::directory_iterator()), 1);
}

TEST_F(BundleTest, SameTreeGivesTheSameBundle) {
  BuiltBundle first = Build();
  BuiltBundle second = Build();
  EXPECT_EQ(first.bundle_digest, second.bundle_digest);
  EXPECT_EQ(first.manifest_root, second.manifest_root);
}

TEST_F(BundleTest, BuildRefusesLinksSpecialFilesPrivilegesAndOutputInside) {
  fs::create_symlink("../../etc/passwd", source() / "etc/escape");
  auto built = BuildBundle(source(), Options(), bundle());
  ASSERT_FALSE(built.has_value());
  EXPECT_TRUE(Contains(built.error().message(), "etc/escape")) << built.error().message();
  EXPECT_TRUE(Contains(built.error().message(), "symbolic link"));
  fs::remove(source() / "etc/escape");
  fs::create_symlink("config.toml", source() / "etc/inside");  // confined links are refused too
  EXPECT_FALSE(BuildBundle(source(), Options(), bundle()).has_value());
  fs::remove(source() / "etc/inside");

  ASSERT_EQ(::mkfifo((source() / "pipe").c_str(), 0644), 0);
  built = BuildBundle(source(), Options(), bundle());
  ASSERT_FALSE(built.has_value());
  EXPECT_TRUE(Contains(built.error().message(), "regular files only")) << built.error().message();
  fs::remove(source() / "pipe");

  WriteTreeFile(source(), "bin/setuid", "x", 04755);
  built = BuildBundle(source(), Options(), bundle());
  ASSERT_FALSE(built.has_value());
  EXPECT_TRUE(Contains(built.error().message(), "setuid")) << built.error().message();
  fs::remove(source() / "bin/setuid");

  built = BuildBundle(source(), Options(), source() / "out.vigil");
  ASSERT_FALSE(built.has_value());
  EXPECT_TRUE(Contains(built.error().message(), "inside")) << built.error().message();

  BuildOptions options = Options();
  options.entry = {"etc/config.toml"};
  built = BuildBundle(source(), options, bundle());
  ASSERT_FALSE(built.has_value());
  EXPECT_TRUE(Contains(built.error().message(), "not executable")) << built.error().message();
  EXPECT_FALSE(fs::exists(bundle()));
  EXPECT_EQ(EntriesIn(temporary_.path()), 1u) << "no temporary file left behind";
}

// --- Refusals of hand-made bundles: each aims at one check. ---

class RefusalTest : public BundleTest {
 protected:
  // Writes a bundle of `manifest` and `items`, then expects VerifyBundle and UnpackBundle to
  // refuse it with `reason`, and the unpack to leave nothing behind.
  void ExpectRefused(const Manifest& manifest, const std::vector<ArchiveItem>& items,
                     const std::string& reason, int filter = ARCHIVE_FILTER_ZSTD) {
    WriteWhole(bundle(), AssembleBundle(EncodeManifest(manifest), MakeArchive(items, filter)));
    ExpectFileRefused(reason);
  }
  void ExpectFileRefused(const std::string& reason) {
    auto verified = VerifyBundle(bundle());
    ASSERT_FALSE(verified.has_value()) << "expected: " << reason;
    EXPECT_TRUE(Contains(verified.error().message(), reason)) << verified.error().message();
    fs::path slots = temporary_.path() / "slots";
    fs::create_directories(slots);
    auto unpacked = UnpackBundle(bundle(), slots / "new");
    ASSERT_FALSE(unpacked.has_value()) << "expected: " << reason;
    EXPECT_TRUE(Contains(unpacked.error().message(), reason)) << unpacked.error().message();
    EXPECT_EQ(EntriesIn(slots), 0u) << "unpack left something behind";
    EXPECT_FALSE(fs::exists(temporary_.path() / "etc"));
  }
};

TEST_F(RefusalTest, HandMadeValidBundleIsAccepted) {
  Manifest manifest = ManifestWith({EntryFor("a", "alpha"), EntryFor("b/c", "gamma", 0755)});
  WriteWhole(bundle(),
             AssembleBundle(EncodeManifest(manifest),
                            MakeArchive({File("a", "alpha"), File("b/c", "gamma", 0755)})));
  auto verified = VerifyBundle(bundle());
  EXPECT_TRUE(verified.has_value()) << verified.error().ToString();
}

TEST_F(RefusalTest, DotDotEntry) {
  ExpectRefused(ManifestWith({EntryFor("a", "x")}), {File("../a", "x")}, "\"..\"");
}

TEST_F(RefusalTest, AbsoluteEntry) {
  ExpectRefused(ManifestWith({EntryFor("etc/passwd", "x")}), {File("/etc/passwd", "x")},
                "absolute");
}

TEST_F(RefusalTest, DeviceFileEntry) {
  ExpectRefused(ManifestWith({EntryFor("dev", "")}), {Typed("dev", AE_IFCHR)},
                "not a regular file");
}

TEST_F(RefusalTest, EscapingSymlinkEntry) {
  ExpectRefused(ManifestWith({EntryFor("etc", ""), EntryFor("etc2", "x")}),
                {Typed("etc", AE_IFLNK, "../../../etc"), File("etc2", "x")}, "symbolic link");
}

TEST_F(RefusalTest, HardLinkEntry) {
  ExpectRefused(ManifestWith({EntryFor("a", "x"), EntryFor("b", "")}),
                {File("a", "x"), Typed("b", AE_IFREG, "a")}, "hard link");
}

TEST_F(RefusalTest, DirectoryEntry) {
  ExpectRefused(ManifestWith({EntryFor("d/a", "x")}),
                {Typed("d", AE_IFDIR, "", 0755), File("d/a", "x")}, "not a regular file");
}

TEST_F(RefusalTest, ExtraEntry) {
  ExpectRefused(ManifestWith({EntryFor("a", "x")}), {File("a", "x"), File("b", "y")}, "extra");
}

TEST_F(RefusalTest, MissingFile) {
  ExpectRefused(ManifestWith({EntryFor("a", "x"), EntryFor("b", "y")}), {File("a", "x")},
                "lacks \"b\"");
}

TEST_F(RefusalTest, OutOfOrderEntries) {
  ExpectRefused(ManifestWith({EntryFor("a", "x"), EntryFor("b", "y")}),
                {File("b", "y"), File("a", "x")}, "out of order");
}

TEST_F(RefusalTest, SizeMismatch) {
  ExpectRefused(ManifestWith({EntryFor("a", "xyz")}), {File("a", "xy")}, "the manifest says 3");
}

TEST_F(RefusalTest, DigestMismatchOfTheLastFileLeavesNothing) {
  // Earlier files are written before the last one fails: the whole unpack must disappear.
  ExpectRefused(ManifestWith({EntryFor("a", "first"), EntryFor("z/z", "right")}),
                {File("a", "first"), File("z/z", "wrong")}, "SHA-256");
}

TEST_F(RefusalTest, ModeMismatch) {
  ExpectRefused(ManifestWith({EntryFor("a", "x", 0644)}), {File("a", "x", 0755)}, "mode");
}

TEST_F(RefusalTest, NotZstd) {
  ExpectRefused(ManifestWith({EntryFor("a", "x")}), {File("a", "x")}, "not zstd",
                ARCHIVE_FILTER_NONE);
}

TEST_F(RefusalTest, DecompressionBombByRatio) {
  // 64 MiB of zeros compresses to a few KiB: refused before anything is decompressed.
  const uint64_t size = 64ULL << 20;
  FileEntry bomb = {.path = "bomb", .size_bytes = size, .mode = 0644, .sha256 = {}};
  {
    crypto::Sha256Hasher hasher;
    const std::string zeros(1 << 20, '\0');
    for (uint64_t i = 0; i < size; i += zeros.size()) hasher.Update(AsBytes(zeros));
    bomb.sha256 = hasher.Finish();
  }
  Manifest manifest = ManifestWith({bomb});
  WriteWhole(bundle(),
             AssembleBundle(EncodeManifest(manifest), MakeArchive({Zeros("bomb", size)})));
  auto read = ReadBundleManifest(bundle());
  ASSERT_FALSE(read.has_value());
  EXPECT_TRUE(Contains(read.error().message(), "decompression bomb")) << read.error().message();
  ExpectFileRefused("decompression bomb");
}

TEST_F(RefusalTest, DecompressionBombByOversizedEntry) {
  // The manifest declares 10 bytes; the entry holds 256 MiB of zeros. Refused at its header,
  // before its data is decompressed (the test would take seconds otherwise).
  Manifest manifest = ManifestWith({EntryFor("a", "0123456789")});
  ExpectRefused(manifest, {Zeros("a", 256ULL << 20)}, "the manifest says 10");
}

TEST_F(RefusalTest, BitFlipInManifest) {
  Build();
  Bytes bytes = ReadWhole(bundle());
  bytes[kBundleHeaderBytes + 20] ^= 0x04;
  WriteWhole(bundle(), bytes);
  EXPECT_FALSE(ReadBundleManifest(bundle()).has_value());
  ExpectFileRefused("corrupted manifest");
}

TEST_F(RefusalTest, BitFlipAnywhereInArchive) {
  BuiltBundle built = Build();
  const Bytes original = ReadWhole(bundle());
  const size_t archive_begin = kBundleHeaderBytes + EncodeManifest(built.manifest).size();
  const size_t archive_end = original.size() - kBundleTrailerBytes;
  for (size_t offset : {archive_begin, archive_begin + 1, (archive_begin + archive_end) / 2,
                        archive_end - 1, archive_end + 3, original.size() - 1}) {
    Bytes bytes = original;
    bytes[offset] ^= 0x10;
    WriteWhole(bundle(), bytes);
    EXPECT_FALSE(VerifyBundle(bundle()).has_value()) << "flip at " << offset;
    fs::path slot = temporary_.path() / "slot";
    EXPECT_FALSE(UnpackBundle(bundle(), slot).has_value()) << "flip at " << offset;
    EXPECT_FALSE(fs::exists(slot));
  }
}

TEST_F(RefusalTest, TruncatedOrExtendedBundle) {
  Build();
  const Bytes original = ReadWhole(bundle());
  for (size_t length :
       {size_t{0}, size_t{7}, kBundleHeaderBytes, kBundleHeaderBytes + 10, original.size() / 2,
        original.size() - kBundleTrailerBytes, original.size() - 1}) {
    WriteWhole(bundle(), ByteSpan(original.data(), length));
    EXPECT_FALSE(VerifyBundle(bundle()).has_value()) << length;
  }
  Bytes extended = original;
  extended.push_back(0);
  WriteWhole(bundle(), extended);
  ExpectFileRefused("truncated or extended");
}

TEST_F(RefusalTest, NotABundle) {
  WriteWhole(bundle(), AsBytes(std::string(200, 'x')));
  ExpectFileRefused("VIGILBND");
}

TEST_F(BundleTest, UnpackRefusesAnExistingDestination) {
  Build();
  fs::path slot = temporary_.path() / "slot";
  fs::create_directory(slot);
  auto unpacked = UnpackBundle(bundle(), slot);
  ASSERT_FALSE(unpacked.has_value());
  EXPECT_EQ(unpacked.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(EntriesIn(slot), 0u);
}

TEST_F(BundleTest, VerifyTreeFindsEveryKindOfDifference) {
  BuiltBundle built = Build();
  fs::path slot = temporary_.path() / "slot";
  ASSERT_TRUE(UnpackBundle(bundle(), slot).has_value());
  ASSERT_TRUE(VerifyTree(built.manifest, slot).has_value());

  WriteTreeFile(slot, "etc/config.toml", "line = 4\n", 0640);  // same size, other bytes
  WriteTreeFile(slot, "added", "x");
  fs::remove(slot / "empty");
  fs::permissions(slot / "bin/press-control", fs::perms(0777));
  fs::remove(slot / "lib/data.bin");
  fs::create_symlink("/etc/passwd", slot / "lib/data.bin");
  auto verified = VerifyTree(built.manifest, slot);
  ASSERT_FALSE(verified.has_value());
  const std::string& message = verified.error().message();
  EXPECT_TRUE(Contains(message, "5 places")) << message;
  EXPECT_TRUE(Contains(message, "\"etc/config.toml\" was modified")) << message;
  EXPECT_TRUE(Contains(message, "\"added\" is not part")) << message;
  EXPECT_TRUE(Contains(message, "\"empty\" is missing")) << message;
  EXPECT_TRUE(Contains(message, "mode 0777")) << message;
  EXPECT_TRUE(Contains(message, "\"lib/data.bin\" has the wrong type")) << message;
}

TEST_F(BundleTest, RemoveAbandonedUnpacksClearsOnlyHiddenUnpackDirectories) {
  fs::path slots = temporary_.path() / "slots";
  fs::create_directories(slots / ".7.unpack-abc123" / "bin");
  fs::create_directories(slots / "6");
  ASSERT_TRUE(RemoveAbandonedUnpacks(slots).has_value());
  EXPECT_FALSE(fs::exists(slots / ".7.unpack-abc123"));
  EXPECT_TRUE(fs::exists(slots / "6"));
}

TEST_F(BundleTest, TenMegabyteMultiFileBundle) {
  fs::path big = temporary_.path() / "big";
  for (int i = 0; i < 40; ++i) {
    WriteTreeFile(big, "part" + std::to_string(i / 10) + "/file" + std::to_string(i) + ".bin",
                  PseudoRandomBytes(256 * 1024, static_cast<uint64_t>(i)), i % 2 ? 0755 : 0644);
  }
  BuildOptions options = Options();
  options.entry = {"/usr/bin/env", "true"};
  auto built = BuildBundle(big, options, bundle());
  ASSERT_TRUE(built.has_value()) << built.error().ToString();
  EXPECT_EQ(built->manifest.files.size(), 40u);
  EXPECT_EQ(TotalSizeBytes(built->manifest), 40u * 256 * 1024);
  EXPECT_GT(built->bundle_size_bytes, 10'000'000u);  // random bytes do not compress
  ASSERT_TRUE(VerifyBundle(bundle()).has_value());
  fs::path slot = temporary_.path() / "slot";
  ASSERT_TRUE(UnpackBundle(bundle(), slot).has_value());
  EXPECT_TRUE(VerifyTree(built->manifest, slot).has_value());
  EXPECT_EQ(fs::status(slot / "part0/file1.bin").permissions(), fs::perms(0755));
}

long PeakResidentKilobytes() {
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

TEST_F(BundleTest, LargeBundleTakesBoundedMemory) {
  // 192 MiB of incompressible data, written in pieces: the peak resident size of this process
  // must not grow by anything near the bundle's size while building, verifying and unpacking.
  constexpr size_t kPieceBytes = 4 << 20;
  constexpr size_t kPieces = 48;
  fs::path big = temporary_.path() / "big";
  fs::create_directories(big);
  {
    std::ofstream out(big / "blob", std::ios::binary);
    for (size_t i = 0; i < kPieces; ++i) {
      std::string piece = PseudoRandomBytes(kPieceBytes, i);
      out.write(piece.data(), static_cast<std::streamsize>(piece.size()));
    }
  }
  const long before = PeakResidentKilobytes();
  BuildOptions options = Options();
  options.entry = {"/usr/bin/env", "true"};
  auto built = BuildBundle(big, options, bundle());
  ASSERT_TRUE(built.has_value()) << built.error().ToString();
  ASSERT_TRUE(VerifyBundle(bundle()).has_value());
  fs::path slot = temporary_.path() / "slot";
  ASSERT_TRUE(UnpackBundle(bundle(), slot).has_value());
  ASSERT_TRUE(VerifyTree(built->manifest, slot).has_value());
  const long growth_kilobytes = PeakResidentKilobytes() - before;
  EXPECT_LT(growth_kilobytes, 48 * 1024) << "peak memory grew by " << growth_kilobytes << " KiB";
}

}  // namespace
}  // namespace vigil::release
