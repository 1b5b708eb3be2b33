// integrity: the scanner — what is on disk, as FileRecords (edge: file-system I/O, threads).
//
// `ScanTree` walks a directory tree and hashes every regular file with SHA-256 (OpenSSL EVP)
// on a small pool of threads (one per core by default). Memory is bounded: each thread reads
// through one fixed buffer of limits::kIntegrityReadBufferBytes, never a whole file; the walk
// keeps one entry per file (path and lstat data) until it is hashed.
//
// Symbolic links are never followed: directories are opened with O_NOFOLLOW relative to their
// parent's descriptor, files with openat2(RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH) where the
// kernel has it (O_NOFOLLOW on older kernels), and a link is recorded as a link (the SHA-256 of
// its target text). A file is opened with O_NONBLOCK and checked with fstat after opening, so a
// fifo swapped in mid-scan is recorded as "other", never waited on, and what is hashed is what
// was stat'ed. Directories themselves are not recorded (a release holds files only).
//
// `ScanPath` re-checks one path (after a watcher event); `CheckProcessExecutable` hashes the
// image a running process executes (/proc/PID/exe, even when its file was replaced or
// deleted) and compares it with the release's entry for that path.
//
// Thread-safety: the functions are thread-safe; ScanTree uses its own threads and joins them
// before returning.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "integrity/snapshot.h"
#include "release/manifest.h"

namespace vigil::integrity {

struct ScanOptions {
  size_t threads = 0;  // 0 = one per core (at most limits::kIntegrityScanThreadsMax)
  // Relative paths (files or directories) left out of the scan, e.g. the agent's own state.
  std::vector<std::string> excluded;
};

// Every entry under `root` (sorted by path). A file that vanishes between the walk and its
// hashing is left out (it was removed); any other error fails the scan with the path named.
Expected<std::vector<FileRecord>> ScanTree(const std::filesystem::path& root,
                                           const ScanOptions& options = {});

// The record at `relative` under `root`, nullopt when nothing (or a directory) is there.
// Never follows a link on the way: a symlinked parent directory reads as "not there".
Expected<std::optional<FileRecord>> ScanPath(const std::filesystem::path& root,
                                             std::string_view relative);

struct ExecutableCheck {
  std::string executable;                    // what /proc/PID/exe names (" (deleted)" removed)
  bool deleted = false;                      // the running image is no longer at that path
  std::optional<std::string> relative_path;  // inside `root`: its path there
  uint64_t size_bytes = 0;
  crypto::Sha256Digest sha256{};  // of the image the process runs
  bool matches = false;           // the image is the manifest's file at relative_path
  std::string reason;             // why not, for people ("" when it matches)
};

// Hashes what process `pid` executes and compares it with the manifest.
Expected<ExecutableCheck> CheckProcessExecutable(pid_t pid, const std::filesystem::path& root,
                                                 const release::Manifest& manifest);

// SHA-256 and size of an open regular file, read from offset 0 through `buffer`.
Expected<std::pair<crypto::Sha256Digest, uint64_t>> HashFileDescriptor(
    int fd, std::span<uint8_t> buffer, std::string_view path_for_errors);

}  // namespace vigil::integrity
