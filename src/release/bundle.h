// Release bundles: one file holding a manifest and a tar + zstd archive of the release's files.
//
// Byte layout: docs/bundle-format.md. In short:
//
//   "VIGILBND" | u32 bundle format | u32 manifest length L | SHA-256(manifest) | manifest (L)
//   | archive (A bytes, tar compressed with zstd) | u64 A | SHA-256(archive)
//
// The bundle digest the ledger records (ledger::PublishRelease::bundle_digest) is the SHA-256
// of the whole file; the manifest root (manifest.h) is what the publisher signs.
//
// The archive holds exactly the manifest's files, as regular-file entries in manifest order:
// no directory entries, no symbolic or hard links, no device files, fifos or sockets. Symbolic
// links are refused everywhere (building, verifying, unpacking): a release that needs one
// creates it in a pre_activate hook. Every path is checked against the manifest's rules
// (manifest.h) before it touches the file system, so nothing lands outside the destination.
//
// Every function streams through limits::kReleaseIoBufferBytes buffers: memory does not grow
// with the bundle's size (a 1 GB bundle takes what a 10 MB one takes). Decompression is
// bounded by what the manifest declares (limits::kReleaseCompressionRatioMax and the tar
// overhead limits), checked before and while decompressing.
//
//   auto built = release::BuildBundle("build/out", {.app = "press-control", .version = "1.4.0",
//                                     .entry = {"bin/press-control", "--line", "3"},
//                                     .health = {}, .hooks = {}}, "press-control-1.4.0.vigil");
//   auto manifest = release::UnpackBundle("press-control-1.4.0.vigil", "/var/lib/vigil/slots/7");
//
// Thread-safety: free functions without shared state; concurrent calls on different paths
// are safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"
#include "crypto/crypto.h"
#include "release/manifest.h"

namespace vigil::release {

// DO NOT CHANGE: the first bytes of every bundle file, and the layout version after them.
inline constexpr char kBundleMagic[8] = {'V', 'I', 'G', 'I', 'L', 'B', 'N', 'D'};
inline constexpr uint32_t kBundleFormatVersion = 1;
// magic (8) + u32 format + u32 manifest length + SHA-256 of the manifest.
inline constexpr size_t kBundleHeaderBytes = 8 + 4 + 4 + 32;
// u64 archive length + SHA-256 of the archive.
inline constexpr size_t kBundleTrailerBytes = 8 + 32;

// Cheap: reads the header, manifest and trailer only (not the archive). Checks the layout,
// the manifest's digest and every manifest rule, and the decompression-ratio guard.
Expected<Manifest> ReadBundleManifest(const std::filesystem::path& bundle);

struct BundleSummary {
  Manifest manifest;
  crypto::Sha256Digest bundle_digest{};  // SHA-256 of the whole file (the ledger's digest)
  uint64_t bundle_size_bytes = 0;
  crypto::Sha256Digest manifest_root{};
  uint64_t archive_size_bytes = 0;
};
// ReadBundleManifest plus the bundle's digest (one streaming read of the file). The archive
// is not decompressed: this is what `vigil release inspect` and `vigil publish` show.
Expected<BundleSummary> InspectBundle(const std::filesystem::path& bundle);

struct BuildOptions {
  std::string app, version;
  std::vector<std::string> entry;  // argv
  HealthCheck health;
  InstallHooks hooks;
};

struct BuiltBundle {
  Manifest manifest;
  crypto::Sha256Digest bundle_digest{};
  uint64_t bundle_size_bytes = 0;
  crypto::Sha256Digest manifest_root{};
};

// Bundles every regular file under `source_directory` (recursively; empty directories are not
// kept) with its permission bits. Refuses symbolic links, device files, fifos and sockets,
// setuid/setgid/sticky bits, paths the manifest rules refuse, a source file that changes while
// it is read, and an output inside the source directory. The output is written atomically
// (temporary file, fsync, rename, fsync of the directory): after a crash it is absent, the old
// file, or the complete new bundle.
Expected<BuiltBundle> BuildBundle(const std::filesystem::path& source_directory,
                                  const BuildOptions& options,
                                  const std::filesystem::path& output_bundle);

// Full check without writing anything: manifest decodes, archive entries are exactly the
// manifest's files (no extras, none missing, confined paths, regular files only), sizes, modes
// and SHA-256 match, and the archive's digest matches the trailer. Returns the manifest.
Expected<Manifest> VerifyBundle(const std::filesystem::path& bundle);

// Extracts into `destination` (must not exist; its parent must), refusing anything
// unconfined, checking each file's size and SHA-256 while writing, setting modes, fsyncing
// files and directories. Files are written into a hidden sibling directory
// (".<name>.unpack-XXXXXX") that is renamed to `destination` only when everything checked
// out, so on any error — and after kill -9 — `destination` does not exist; a kill -9 leaves
// the hidden directory behind (RemoveAbandonedUnpacks clears it). Directories get mode 0755.
Expected<Manifest> UnpackBundle(const std::filesystem::path& bundle,
                                const std::filesystem::path& destination);
// Removes ".*.unpack-*" directories in `parent` left by an UnpackBundle that was killed.
Status RemoveAbandonedUnpacks(const std::filesystem::path& parent);

// Re-hashes an unpacked tree against the manifest (after unpack, and by integrity checks):
// every file present, regular, with its size, mode and SHA-256, and nothing else in the tree
// (no extra files, links or special files). The error lists what differs.
Status VerifyTree(const Manifest& manifest, const std::filesystem::path& directory);

}  // namespace vigil::release
