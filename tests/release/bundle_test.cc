// Bundles end to end in one process: build, inspect, verify and unpack real files on disk.
#include "release/bundle.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "release/test_tree.h"
#include "test_support/temporary_directory.h"

namespace vigil::release {
namespace {

namespace fs = std::filesystem;
using testing::PseudoRandomBytes;
using testing::ReadWhole;
using testing::WriteTreeFile;

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
  EXPECT_EQ(built.bundle_digest, DigestOfFile(bundle()).value());

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

}  // namespace
}  // namespace vigil::release
