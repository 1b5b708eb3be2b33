// Helpers for release tests: source trees on disk and raw bundle surgery.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/assert.h"
#include "common/bytes.h"
#include "common/file.h"
#include "crypto/crypto.h"
#include "release/bundle.h"

namespace vigil::release::testing {

inline void WriteTreeFile(const std::filesystem::path& root, const std::string& relative,
                          std::string_view contents, mode_t mode = 0644) {
  std::filesystem::path path = root / relative;
  std::filesystem::create_directories(path.parent_path());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    VIGIL_ASSERT(out.good());
  }
  VIGIL_ASSERT(::chmod(path.c_str(), mode) == 0);
}

inline Bytes ReadWhole(const std::filesystem::path& path) {
  auto bytes = ReadFile(path, 1ULL << 31);
  VIGIL_ASSERT(bytes.has_value());
  return *bytes;
}

inline void WriteWhole(const std::filesystem::path& path, ByteSpan bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  VIGIL_ASSERT(out.good());
}

// Deterministic pseudo-random bytes (xorshift), incompressible like real binaries.
inline std::string PseudoRandomBytes(size_t size, uint64_t seed) {
  std::string bytes(size, '\0');
  uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (size_t i = 0; i < size; ++i) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    bytes[i] = static_cast<char>(state);
  }
  return bytes;
}

// One entry of a hand-made archive: any type, any path, any declared size (for refusals).
struct ArchiveItem {
  std::string path;
  std::string contents;
  mode_t mode = 0644;
  mode_t type = AE_IFREG;
  std::string link_target;     // symlink or hard link target
  uint64_t zero_bytes = 0;     // appended zeros, streamed (for bombs)
  int64_t declared_size = -1;  // the size in the tar header; -1 = the real size
};

inline ArchiveItem File(std::string path, std::string contents, mode_t mode = 0644) {
  ArchiveItem item;
  item.path = std::move(path);
  item.contents = std::move(contents);
  item.mode = mode;
  return item;
}
inline ArchiveItem Zeros(std::string path, uint64_t zero_bytes) {
  ArchiveItem item;
  item.path = std::move(path);
  item.zero_bytes = zero_bytes;
  return item;
}
inline ArchiveItem Typed(std::string path, mode_t type, std::string link_target = "",
                         mode_t mode = 0644) {
  ArchiveItem item;
  item.path = std::move(path);
  item.type = type;
  item.link_target = std::move(link_target);
  item.mode = mode;
  return item;
}

// A tar stream compressed with `filter` (zstd unless a test wants another), in memory.
inline Bytes MakeArchive(const std::vector<ArchiveItem>& items, int filter = ARCHIVE_FILTER_ZSTD) {
  Bytes out;
  struct archive* archive = archive_write_new();
  if (filter == ARCHIVE_FILTER_ZSTD) archive_write_add_filter_zstd(archive);
  if (filter == ARCHIVE_FILTER_GZIP) archive_write_add_filter_gzip(archive);
  archive_write_set_format_pax_restricted(archive);
  archive_write_set_bytes_per_block(archive, 0);
  auto write = [](struct archive*, void* self, const void* data, size_t length) -> la_ssize_t {
    auto* bytes = static_cast<Bytes*>(self);
    bytes->insert(bytes->end(), static_cast<const uint8_t*>(data),
                  static_cast<const uint8_t*>(data) + length);
    return static_cast<la_ssize_t>(length);
  };
  VIGIL_ASSERT(archive_write_open(archive, &out, nullptr, write, nullptr) == ARCHIVE_OK);
  const std::string zeros(64 * 1024, '\0');
  for (const ArchiveItem& item : items) {
    struct archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, item.path.c_str());
    archive_entry_set_filetype(entry, item.type);
    archive_entry_set_perm(entry, item.mode);
    uint64_t real_size = item.contents.size() + item.zero_bytes;
    if (item.type == AE_IFREG) {
      archive_entry_set_size(
          entry, item.declared_size >= 0 ? item.declared_size : static_cast<int64_t>(real_size));
    }
    if (item.type == AE_IFLNK) archive_entry_set_symlink(entry, item.link_target.c_str());
    if (item.type == AE_IFREG && !item.link_target.empty()) {
      archive_entry_set_hardlink(entry, item.link_target.c_str());
      archive_entry_set_size(entry, 0);
    }
    if (item.type == AE_IFCHR) archive_entry_set_rdev(entry, 0x0501);
    VIGIL_ASSERT(archive_write_header(archive, entry) == ARCHIVE_OK);
    if (item.type == AE_IFREG && item.link_target.empty()) {
      archive_write_data(archive, item.contents.data(), item.contents.size());
      for (uint64_t left = item.zero_bytes; left > 0;) {
        size_t chunk = static_cast<size_t>(std::min<uint64_t>(left, zeros.size()));
        archive_write_data(archive, zeros.data(), chunk);
        left -= chunk;
      }
    }
    archive_entry_free(entry);
  }
  VIGIL_ASSERT(archive_write_close(archive) == ARCHIVE_OK);
  archive_write_free(archive);
  return out;
}

// A bundle file from any manifest bytes and archive bytes, with correct framing digests, so a
// test reaches the check it aims at (docs/bundle-format.md#file-layout).
inline Bytes AssembleBundle(ByteSpan manifest, ByteSpan archive) {
  Bytes out(kBundleMagic, kBundleMagic + sizeof kBundleMagic);
  auto put = [&out](uint64_t value, int width) {
    for (int i = 0; i < width; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
  };
  put(kBundleFormatVersion, 4);
  put(manifest.size(), 4);
  crypto::Sha256Digest manifest_digest = crypto::Sha256(manifest);
  out.insert(out.end(), manifest_digest.begin(), manifest_digest.end());
  out.insert(out.end(), manifest.begin(), manifest.end());
  out.insert(out.end(), archive.begin(), archive.end());
  put(archive.size(), 8);
  crypto::Sha256Digest archive_digest = crypto::Sha256(archive);
  out.insert(out.end(), archive_digest.begin(), archive_digest.end());
  return out;
}

inline FileEntry EntryFor(std::string path, std::string_view contents, uint32_t mode = 0644) {
  return {.path = std::move(path),
          .size_bytes = contents.size(),
          .mode = mode,
          .sha256 = crypto::Sha256(AsBytes(contents))};
}

// A minimal valid manifest whose entry is an absolute system binary (so files may be anything).
inline Manifest ManifestWith(std::vector<FileEntry> files) {
  return {.format_version = kManifestFormatVersion,
          .app = "press-control",
          .version = "1.0.0",
          .entry = {"/bin/true"},
          .health = {},
          .hooks = {},
          .files = std::move(files)};
}

}  // namespace vigil::release::testing
