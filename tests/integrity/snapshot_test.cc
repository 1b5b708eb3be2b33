// The pure core: leaf encoding, snapshot roots, the release view and every difference kind.
#include "integrity/snapshot.h"

#include <gtest/gtest.h>

namespace vigil::integrity {
namespace {

release::FileEntry Entry(std::string path, std::string_view contents, uint32_t mode = 0644) {
  return release::FileEntry{.path = std::move(path),
                            .size_bytes = contents.size(),
                            .mode = mode,
                            .sha256 = crypto::Sha256(AsBytes(contents))};
}

FileRecord Record(std::string path, std::string_view contents, uint32_t mode = 0644,
                  FileKind kind = FileKind::kRegular) {
  return FileRecord{.path = std::move(path),
                    .kind = kind,
                    .size_bytes = contents.size(),
                    .mode = mode,
                    .owner_uid = 0,
                    .owner_gid = 0,
                    .sha256 = crypto::Sha256(AsBytes(contents))};
}

release::Manifest TestManifest() {
  release::Manifest manifest;
  manifest.app = "press-control";
  manifest.version = "1.0.0";
  manifest.entry = {"bin/run"};
  manifest.files = {Entry("bin/run", "#!/bin/sh\n", 0755), Entry("etc/config", "speed=3\n"),
                    Entry("lib/data", "payload")};
  return manifest;
}

std::vector<FileRecord> Matching() {
  return {Record("bin/run", "#!/bin/sh\n", 0755), Record("etc/config", "speed=3\n"),
          Record("lib/data", "payload")};
}

TEST(SnapshotTest, LeafEncodingIsFixed) {
  FileRecord record = Record("a", "x", 0600);
  record.owner_uid = 1000;
  record.owner_gid = 0x01020304;
  Bytes leaf = EncodeRecordLeaf(record);
  // version, kind, string "a" (u32 length + byte), u64 size, u32 mode, u32 uid, u32 gid, 32.
  ASSERT_EQ(leaf.size(), 1u + 1 + 4 + 1 + 8 + 4 + 4 + 4 + 32);
  EXPECT_EQ(leaf[0], kSnapshotLeafVersion);
  EXPECT_EQ(leaf[1], 1);
  EXPECT_EQ(leaf[6], 'a');
  EXPECT_EQ(leaf[7], 1);      // size 1, little endian
  EXPECT_EQ(leaf[15], 0x80);  // 0600 = 0x180
  EXPECT_EQ(leaf[16], 0x01);
  EXPECT_EQ(leaf[19], 1000 & 0xff);
  EXPECT_EQ(leaf[23], 0x04);
}

TEST(SnapshotTest, RootCommitsToEveryField) {
  auto records = Matching();
  auto base = SnapshotRoot(records);
  EXPECT_EQ(base, SnapshotRoot(Matching()));
  auto changed = [&](auto mutate) {
    auto copy = Matching();
    mutate(copy[1]);
    return SnapshotRoot(copy);
  };
  EXPECT_NE(base, changed([](FileRecord& r) { r.mode = 0600; }));
  EXPECT_NE(base, changed([](FileRecord& r) { r.owner_uid = 1; }));
  EXPECT_NE(base, changed([](FileRecord& r) { r.owner_gid = 1; }));
  EXPECT_NE(base, changed([](FileRecord& r) { r.size_bytes += 1; }));
  EXPECT_NE(base, changed([](FileRecord& r) { r.sha256[0] ^= 1; }));
  EXPECT_NE(base, changed([](FileRecord& r) { r.kind = FileKind::kSymlink; }));
  EXPECT_NE(base, changed([](FileRecord& r) { r.path = "etc/configs"; }));
  EXPECT_EQ(SnapshotRoot({}), merkle::EmptyTreeRoot());
}

TEST(SnapshotTest, ReleaseViewRootEqualsManifestRootOnlyWhenIdentical) {
  auto manifest = TestManifest();
  EXPECT_EQ(ReleaseViewRoot(manifest, Matching()), release::ManifestRoot(manifest));
  auto records = Matching();
  records[0].mode = 0700;
  EXPECT_NE(ReleaseViewRoot(manifest, records), release::ManifestRoot(manifest));
  records = Matching();
  records[2].kind = FileKind::kSymlink;  // same size/mode/hash but a link
  EXPECT_NE(ReleaseViewRoot(manifest, records), release::ManifestRoot(manifest));
  records = Matching();
  records.pop_back();
  EXPECT_NE(ReleaseViewRoot(manifest, records), release::ManifestRoot(manifest));
}

TEST(SnapshotTest, CleanTreeHasNoDifferences) {
  auto snapshot = MakeSnapshot(TestManifest(), Matching(), {});
  EXPECT_TRUE(snapshot.Clean());
  EXPECT_EQ(snapshot.release_view_root, release::ManifestRoot(TestManifest()));
}

TEST(SnapshotTest, EveryDifferenceKind) {
  auto manifest = TestManifest();
  manifest.files.push_back(Entry("lib/gone", "bye"));
  manifest.files.push_back(Entry("lib/link", "target"));
  manifest.files.push_back(Entry("lib/pipe", ""));
  release::Manifest sorted = manifest;
  std::sort(sorted.files.begin(), sorted.files.end(),
            [](const auto& a, const auto& b) { return a.path < b.path; });
  std::vector<FileRecord> records = {
      Record("bin/run", "#!/bin/sh\nrm -rf /\n", 0755),  // content
      Record("etc/config", "speed=3\n", 0666),           // mode
      Record("lib/data", "payload"),                     // unchanged
      Record("lib/extra", "implant"),                    // added
      Record("lib/link", "/etc/shadow", 0777, FileKind::kSymlink),
      Record("lib/pipe", "", 0644, FileKind::kOther),
  };
  auto snapshot = MakeSnapshot(sorted, records, {});
  ASSERT_EQ(snapshot.differences.size(), 6u);
  const auto& d = snapshot.differences;
  EXPECT_EQ(d[0].path, "bin/run");
  EXPECT_EQ(d[0].kind, DifferenceKind::kModified);
  EXPECT_EQ(d[0].aspects, kAspectContent);
  EXPECT_EQ(d[1].path, "etc/config");
  EXPECT_EQ(d[1].aspects, kAspectMode);
  EXPECT_EQ(d[2].path, "lib/extra");
  EXPECT_EQ(d[2].kind, DifferenceKind::kAdded);
  EXPECT_FALSE(d[2].expected.has_value());
  EXPECT_EQ(d[3].path, "lib/gone");
  EXPECT_EQ(d[3].kind, DifferenceKind::kRemoved);
  EXPECT_FALSE(d[3].actual.has_value());
  EXPECT_EQ(d[4].kind, DifferenceKind::kReplacedByLink);
  EXPECT_EQ(d[5].kind, DifferenceKind::kReplacedByOther);
  EXPECT_EQ(DescribeDifference(d[0]), "modified content: bin/run");
  EXPECT_EQ(DescribeDifference(d[2]), "added: lib/extra");
}

TEST(SnapshotTest, OwnerCheckedOnlyWhenExpected) {
  auto records = Matching();
  records[1].owner_uid = 1000;
  EXPECT_TRUE(DiffAgainstManifest(TestManifest(), records, {}).empty());
  DiffOptions options{.expected_uid = 0, .expected_gid = 0};
  auto differences = DiffAgainstManifest(TestManifest(), records, options);
  ASSERT_EQ(differences.size(), 1u);
  EXPECT_EQ(differences[0].aspects, kAspectOwner);
  records[1].mode = 0600;
  records[1].sha256[3] ^= 0xff;
  differences = DiffAgainstManifest(TestManifest(), records, options);
  ASSERT_EQ(differences.size(), 1u);
  EXPECT_EQ(differences[0].aspects, kAspectOwner | kAspectMode | kAspectContent);
  EXPECT_EQ(DescribeDifference(differences[0]), "modified content,mode,owner: etc/config");
}

TEST(SnapshotTest, CheckOneAgreesWithTheFullDiff) {
  auto manifest = TestManifest();
  EXPECT_FALSE(CheckOne(manifest, "bin/run", Record("bin/run", "#!/bin/sh\n", 0755), {}));
  EXPECT_FALSE(CheckOne(manifest, "not/there", std::nullopt, {}));
  auto removed = CheckOne(manifest, "etc/config", std::nullopt, {});
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->kind, DifferenceKind::kRemoved);
  auto added = CheckOne(manifest, "x", Record("x", "new"), {});
  ASSERT_TRUE(added);
  EXPECT_EQ(added->kind, DifferenceKind::kAdded);
  auto truncated = CheckOne(manifest, "lib/data", Record("lib/data", ""), {});
  ASSERT_TRUE(truncated);
  EXPECT_EQ(truncated->aspects, kAspectContent);
}

TEST(SnapshotTest, EmptyDiskAgainstManifestIsAllRemoved) {
  auto differences = DiffAgainstManifest(TestManifest(), {}, {});
  ASSERT_EQ(differences.size(), 3u);
  for (const auto& d : differences) EXPECT_EQ(d.kind, DifferenceKind::kRemoved);
}

}  // namespace
}  // namespace vigil::integrity
