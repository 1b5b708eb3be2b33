// agent::InstallRelease, the updater's unpack step: what the ledger recorded installs; a bundle
// of another version, another manifest, or one changed on disk after its download does not,
// and leaves no slot behind. The bundle's digest is not re-hashed before unpacking, so these
// tests are what shows that a bundle changed since the download cannot install anything.
#include "agent/slots.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "integrity/test_tree.h"
#include "release/bundle.h"
#include "test_support/temporary_directory.h"

namespace vigil::agent {
namespace {

using integrity::testing::ReadText;
using integrity::testing::WriteFile;

constexpr char kApp[] = "press-control";
constexpr char kSlot[] = "1.0.0-test";

class InstallReleaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::path source = directory_.path() / "source";
    WriteFile(source / "bin/run", "#!/bin/sh\nexec sleep 60\n", 0755);
    // Incompressible enough that a flipped archive byte lands in file data or its framing.
    std::string data;
    for (int i = 0; i < 64 * 1024; ++i) data.push_back(static_cast<char>((i * 7919) % 251));
    WriteFile(source / "lib/data.bin", data, 0644);
    auto built = release::BuildBundle(
        source, {.app = kApp, .version = "1.0.0", .entry = {"bin/run"}, .health = {}, .hooks = {}},
        bundle_);
    ASSERT_TRUE(built) << built.error().ToString();
    built_ = *built;
    ASSERT_TRUE(layout_.Create());
  }

  void FlipByteAt(uint64_t offset) {
    int fd = ::open(bundle_.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    char byte = 0;
    ASSERT_EQ(::pread(fd, &byte, 1, static_cast<off_t>(offset)), 1);
    byte = static_cast<char>(byte ^ 0x40);
    ASSERT_EQ(::pwrite(fd, &byte, 1, static_cast<off_t>(offset)), 1);
    ::close(fd);
  }

  bool SlotExists() const { return std::filesystem::exists(layout_.slot(kSlot)); }

  test_support::TemporaryDirectory directory_;
  std::filesystem::path bundle_ = directory_.path() / "release.vigil";
  release::BuiltBundle built_;
  AppLayout layout_{directory_.path() / "device", kApp};
};

TEST_F(InstallReleaseTest, TheRecordedReleaseInstallsEveryFile) {
  auto installed = InstallRelease(layout_, kSlot, bundle_, built_.manifest_root, "1.0.0");
  ASSERT_TRUE(installed) << installed.error().ToString();
  EXPECT_EQ(installed->manifest, built_.manifest);
  EXPECT_EQ(ReadText(layout_.slot(kSlot) / "bin/run"), "#!/bin/sh\nexec sleep 60\n");
  EXPECT_TRUE(release::VerifyTree(built_.manifest, layout_.slot(kSlot)));
}

TEST_F(InstallReleaseTest, ABundleOfAnotherVersionIsRefusedBeforeAnythingIsWritten) {
  auto installed = InstallRelease(layout_, kSlot, bundle_, built_.manifest_root, "2.0.0");
  ASSERT_FALSE(installed);
  EXPECT_NE(installed.error().message().find("holds version 1.0.0, not 2.0.0"), std::string::npos)
      << installed.error().ToString();
  EXPECT_FALSE(SlotExists());
  EXPECT_FALSE(std::filesystem::exists(layout_.manifest(kSlot)));
}

TEST_F(InstallReleaseTest, AManifestTheLedgerDidNotRecordIsRefusedBeforeUnpacking) {
  crypto::Sha256Digest other = built_.manifest_root;
  other[0] ^= 1;
  auto installed = InstallRelease(layout_, kSlot, bundle_, other, "1.0.0");
  ASSERT_FALSE(installed);
  EXPECT_NE(installed.error().message().find("manifest root"), std::string::npos)
      << installed.error().ToString();
  EXPECT_FALSE(SlotExists());
}

TEST_F(InstallReleaseTest, ABundleChangedOnDiskAfterItsDownloadInstallsNothing) {
  // Bytes of the manifest, the archive and the trailer, one at a time on a stride: whatever it
  // hits (compressed file data, tar headers, zstd framing, digests), nothing is installed.
  const uint64_t size = std::filesystem::file_size(bundle_);
  const uint64_t after_header = release::kBundleHeaderBytes + 1;  // the manifest onwards
  int refused = 0;
  for (uint64_t offset = after_header; offset < size; offset += size / 23 + 1) {
    FlipByteAt(offset);
    auto installed = InstallRelease(layout_, kSlot, bundle_, built_.manifest_root, "1.0.0");
    EXPECT_FALSE(installed) << "a bundle flipped at byte " << offset << " of " << size
                            << " installed";
    EXPECT_FALSE(SlotExists()) << "byte " << offset;
    if (!installed) ++refused;
    FlipByteAt(offset);  // back to the genuine bundle
    ASSERT_TRUE(DeleteSlot(layout_, kSlot));
  }
  EXPECT_GE(refused, 20);
  // And the genuine bundle still installs.
  EXPECT_TRUE(InstallRelease(layout_, kSlot, bundle_, built_.manifest_root, "1.0.0"));
}

}  // namespace
}  // namespace vigil::agent
