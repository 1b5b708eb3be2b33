#include "release/bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "common/file.h"
#include "common/limits.h"

namespace vigil::release {
namespace {

namespace fs = std::filesystem;

// --- Small I/O helpers ---

Error IoError(std::string_view what, const fs::path& path) {
  return Error(ErrorCode::kIOError,
               std::string(what) + " " + path.string() + ": " + std::strerror(errno));
}

std::unexpected<Error> Corrupt(std::string message) {
  return Fail(ErrorCode::kCorruption, std::move(message));
}


Status WriteAll(int fd, ByteSpan bytes, const fs::path& path) {
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t result = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (result < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(IoError("cannot write", path));
    }
    written += static_cast<size_t>(result);
  }
  return Ok();
}

// Reads up to `length` bytes at `offset`; fewer only at end of file.
Expected<size_t> ReadAt(int fd, uint8_t* buffer, size_t length, uint64_t offset,
                        const fs::path& path) {
  size_t done = 0;
  while (done < length) {
    ssize_t result = ::pread(fd, buffer + done, length - done, static_cast<off_t>(offset + done));
    if (result < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(IoError("cannot read", path));
    }
    if (result == 0) break;
    done += static_cast<size_t>(result);
  }
  return done;
}

Expected<size_t> ReadSome(int fd, uint8_t* buffer, size_t length, const fs::path& path) {
  while (true) {
    ssize_t result = ::read(fd, buffer, length);
    if (result >= 0) return static_cast<size_t>(result);
    if (errno != EINTR) return std::unexpected(IoError("cannot read", path));
  }
}

void PutU32(uint8_t* out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(value >> (8 * i));
}
void PutU64(uint8_t* out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(value >> (8 * i));
}
uint32_t GetU32(const uint8_t* in) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= static_cast<uint32_t>(in[i]) << (8 * i);
  return value;
}
uint64_t GetU64(const uint8_t* in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= static_cast<uint64_t>(in[i]) << (8 * i);
  return value;
}

std::string OctalMode(uint32_t mode) {
  char octal[16];
  std::snprintf(octal, sizeof octal, "0%o", mode);
  return octal;
}

Expected<crypto::Sha256Digest> HashOpenFile(int fd, const fs::path& path, uint64_t* size_bytes) {
  Bytes buffer(limits::kReleaseIoBufferBytes);
  crypto::Sha256Hasher hasher;
  uint64_t total = 0;
  while (true) {
    VIGIL_ASSIGN_OR_RETURN(size_t read, ReadSome(fd, buffer.data(), buffer.size(), path));
    if (read == 0) break;
    hasher.Update(ByteSpan(buffer.data(), read));
    total += read;
  }
  if (size_bytes != nullptr) *size_bytes = total;
  return hasher.Finish();
}

// --- The bundle's framing: header, manifest, archive, trailer ---

struct OpenBundle {
  FileDescriptor fd;
  Manifest manifest;
  uint64_t file_size_bytes = 0;
  uint64_t archive_offset = 0;
  uint64_t archive_size_bytes = 0;
  crypto::Sha256Digest archive_sha256{};
};

Expected<OpenBundle> OpenAndReadFraming(const fs::path& path) {
  OpenBundle bundle;
  bundle.fd = FileDescriptor(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (bundle.fd.get() < 0) {
    ErrorCode code = errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIOError;
    return Fail(code, "cannot open bundle " + path.string() + ": " + std::strerror(errno));
  }
  struct stat status {};
  if (::fstat(bundle.fd.get(), &status) != 0) return std::unexpected(IoError("cannot stat", path));
  if (!S_ISREG(status.st_mode)) return Corrupt(path.string() + " is not a regular file");
  bundle.file_size_bytes = static_cast<uint64_t>(status.st_size);
  if (bundle.file_size_bytes < kBundleHeaderBytes + kBundleTrailerBytes) {
    return Corrupt("bundle is " + std::to_string(bundle.file_size_bytes) +
                   " bytes, too short to be a bundle (truncated?)");
  }
  uint8_t header[kBundleHeaderBytes];
  VIGIL_ASSIGN_OR_RETURN(size_t read, ReadAt(bundle.fd.get(), header, sizeof header, 0, path));
  if (read != sizeof header) return Corrupt("bundle header is truncated");
  if (std::memcmp(header, kBundleMagic, sizeof kBundleMagic) != 0) {
    return Corrupt("not a vigil bundle (the file does not start with \"VIGILBND\")");
  }
  uint32_t format = GetU32(header + 8);
  if (format != kBundleFormatVersion) {
    return Corrupt("bundle format " + std::to_string(format) + " is not supported (this vigil " +
                   "reads format " + std::to_string(kBundleFormatVersion) + ")");
  }
  uint32_t manifest_length = GetU32(header + 12);
  if (manifest_length > limits::kReleaseManifestBytesMax) {
    return Corrupt("bundle manifest length " + std::to_string(manifest_length) +
                   " is more than the limit of " +
                   std::to_string(limits::kReleaseManifestBytesMax) + " bytes");
  }
  if (bundle.file_size_bytes < kBundleHeaderBytes + manifest_length + kBundleTrailerBytes) {
    return Corrupt("bundle is truncated: " + std::to_string(bundle.file_size_bytes) +
                   " bytes cannot hold a " + std::to_string(manifest_length) + "-byte manifest");
  }
  Bytes manifest_bytes(manifest_length);
  VIGIL_ASSIGN_OR_RETURN(read, ReadAt(bundle.fd.get(), manifest_bytes.data(), manifest_length,
                                      kBundleHeaderBytes, path));
  if (read != manifest_length) return Corrupt("bundle manifest is truncated");
  crypto::Sha256Digest manifest_digest = crypto::Sha256(manifest_bytes);
  if (!std::equal(manifest_digest.begin(), manifest_digest.end(), header + 16)) {
    return Corrupt("the bundle's manifest does not match its SHA-256 (corrupted manifest)");
  }

  uint8_t trailer[kBundleTrailerBytes];
  VIGIL_ASSIGN_OR_RETURN(read, ReadAt(bundle.fd.get(), trailer, sizeof trailer,
                                      bundle.file_size_bytes - kBundleTrailerBytes, path));
  if (read != sizeof trailer) return Corrupt("bundle trailer is truncated");
  bundle.archive_offset = kBundleHeaderBytes + manifest_length;
  bundle.archive_size_bytes = GetU64(trailer);
  std::copy(trailer + 8, trailer + kBundleTrailerBytes, bundle.archive_sha256.begin());
  uint64_t expected_archive_bytes =
      bundle.file_size_bytes - kBundleTrailerBytes - bundle.archive_offset;
  if (bundle.archive_size_bytes != expected_archive_bytes) {
    return Corrupt("bundle is truncated or extended: its trailer says the archive is " +
                   std::to_string(bundle.archive_size_bytes) + " bytes, the file holds " +
                   std::to_string(expected_archive_bytes));
  }
  if (bundle.archive_size_bytes == 0) return Corrupt("bundle has no archive");

  auto manifest = DecodeManifest(manifest_bytes);
  if (!manifest) {
    return std::unexpected(Error(ErrorCode::kCorruption, manifest.error().message()));
  }
  bundle.manifest = std::move(*manifest);
  // Decompression bomb guard, before a single byte is decompressed.
  uint64_t declared_bytes = TotalSizeBytes(bundle.manifest);
  if (declared_bytes / limits::kReleaseCompressionRatioMax > bundle.archive_size_bytes) {
    return Corrupt("bundle declares " + std::to_string(declared_bytes) + " bytes of files in a " +
                   std::to_string(bundle.archive_size_bytes) + "-byte archive, more than the " +
                   std::to_string(limits::kReleaseCompressionRatioMax) +
                   ":1 compression ratio allowed (decompression bomb?)");
  }
  return bundle;
}

// --- Reading the archive ---

struct ArchiveDeleter {
  void operator()(struct archive* archive) const { archive_read_free(archive); }
};
struct WriteArchiveDeleter {
  void operator()(struct archive* archive) const { archive_write_free(archive); }
};
struct EntryDeleter {
  void operator()(struct archive_entry* entry) const { archive_entry_free(entry); }
};

// Feeds libarchive the archive's bytes (and only those), hashing them on the way.
struct ArchiveSource {
  int fd = -1;
  const fs::path* path = nullptr;
  uint64_t next_offset = 0;
  uint64_t remaining_bytes = 0;
  Bytes buffer;
  crypto::Sha256Hasher hasher;
  std::optional<Error> error;

  static la_ssize_t Read(struct archive*, void* self_pointer, const void** data) {
    auto* self = static_cast<ArchiveSource*>(self_pointer);
    size_t wanted =
        static_cast<size_t>(std::min<uint64_t>(self->buffer.size(), self->remaining_bytes));
    if (wanted == 0) return 0;
    auto read = ReadAt(self->fd, self->buffer.data(), wanted, self->next_offset, *self->path);
    if (!read || *read != wanted) {
      self->error =
          read ? Error(ErrorCode::kCorruption, "bundle archive is truncated") : read.error();
      return -1;
    }
    self->hasher.Update(ByteSpan(self->buffer.data(), wanted));
    self->next_offset += wanted;
    self->remaining_bytes -= wanted;
    *data = self->buffer.data();
    return static_cast<la_ssize_t>(wanted);
  }
};

// What happens to each file's bytes as they are checked: nothing (verify) or a write (unpack).
class FileSink {
 public:
  virtual ~FileSink() = default;
  virtual Status Begin(const FileEntry& file) = 0;
  virtual Status Write(ByteSpan bytes) = 0;
  virtual Status End(const FileEntry& file) = 0;
};

Error ArchiveError(struct archive* archive, ArchiveSource& source, std::string_view what) {
  if (source.error) return *source.error;
  const char* message = archive_error_string(archive);
  return Error(ErrorCode::kCorruption,
               std::string(what) + ": " + (message != nullptr ? message : "unknown error"));
}

// Checks one archive entry's header against the manifest file it must be.
Status CheckEntryHeader(struct archive_entry* entry, const Manifest& manifest, size_t index) {
  const char* raw_name = archive_entry_pathname(entry);
  std::string name = raw_name != nullptr ? raw_name : "";
  const std::string where = "archive entry " + std::to_string(index) + " \"" +
                            name.substr(0, limits::kReleasePathBytesMax) + "\"";
  mode_t type = archive_entry_filetype(entry);
  if (type == AE_IFLNK || archive_entry_symlink(entry) != nullptr) {
    return Corrupt(where + " is a symbolic link; bundles hold no links");
  }
  if (archive_entry_hardlink(entry) != nullptr) {
    return Corrupt(where + " is a hard link; bundles hold no links");
  }
  if (type != AE_IFREG) {
    return Corrupt(where + " is not a regular file (a directory, device file, fifo or socket)");
  }
  // Only a regular file's name is checked as a path: a directory's carries a trailing '/'.
  if (auto confined = ValidateRelativePath("archive entry path", name); !confined) {
    return std::unexpected(Error(ErrorCode::kCorruption, confined.error().message()));
  }
  if (index >= manifest.files.size()) {
    return Corrupt(where + " is not in the manifest (extra archive entry)");
  }
  const FileEntry& expected = manifest.files[index];
  if (name != expected.path) {
    if (FindFile(manifest, name) != nullptr) {
      return Corrupt(where + " is out of order: the manifest lists \"" + expected.path + "\" here");
    }
    return Corrupt(where + " is not in the manifest (extra archive entry)");
  }
  if (!archive_entry_size_is_set(entry) ||
      static_cast<uint64_t>(archive_entry_size(entry)) != expected.size_bytes) {
    return Corrupt(where + " is " + std::to_string(archive_entry_size(entry)) +
                   " bytes, the manifest says " + std::to_string(expected.size_bytes));
  }
  if (static_cast<uint32_t>(archive_entry_perm(entry)) != expected.mode) {
    return Corrupt(where + " has mode " + OctalMode(archive_entry_perm(entry)) +
                   ", the manifest says " + OctalMode(expected.mode));
  }
  return Ok();
}

// Walks the archive of an open bundle: every entry checked against the manifest, every byte
// hashed and handed to `sink`, the decompressed total bounded, the archive's digest checked.
Status ReadArchive(OpenBundle& bundle, const fs::path& path, FileSink& sink) {
  const Manifest& manifest = bundle.manifest;
  ArchiveSource source;
  source.fd = bundle.fd.get();
  source.path = &path;
  source.next_offset = bundle.archive_offset;
  source.remaining_bytes = bundle.archive_size_bytes;
  source.buffer.resize(limits::kReleaseIoBufferBytes);

  std::unique_ptr<struct archive, ArchiveDeleter> archive(archive_read_new());
  if (!archive) return Fail(ErrorCode::kInternal, "libarchive: out of memory");
  archive_read_support_filter_zstd(archive.get());
  archive_read_support_format_tar(archive.get());
  if (archive_read_open(archive.get(), &source, nullptr, &ArchiveSource::Read, nullptr) !=
      ARCHIVE_OK) {
    return std::unexpected(ArchiveError(archive.get(), source, "cannot read the bundle archive"));
  }
  // Decompression bomb guard while decompressing: the tar stream may hold the declared file
  // bytes plus bounded per-entry overhead, nothing more.
  const uint64_t decompressed_bytes_max =
      TotalSizeBytes(manifest) + manifest.files.size() * limits::kReleaseTarEntryOverheadBytesMax +
      limits::kReleaseTarTrailerBytesMax;
  auto check_decompressed = [&]() -> Status {
    auto decompressed = static_cast<uint64_t>(archive_filter_bytes(archive.get(), 0));
    if (decompressed > decompressed_bytes_max) {
      return Corrupt("bundle archive decompresses to more than the " +
                     std::to_string(decompressed_bytes_max) +
                     " bytes its manifest allows (decompression bomb?)");
    }
    return Ok();
  };

  size_t index = 0;
  crypto::Sha256Hasher file_hasher;
  while (true) {
    struct archive_entry* entry = nullptr;
    int result = archive_read_next_header(archive.get(), &entry);
    if (result == ARCHIVE_EOF) break;
    if (result != ARCHIVE_OK) {
      return std::unexpected(ArchiveError(archive.get(), source, "bundle archive is corrupt"));
    }
    VIGIL_RETURN_IF_ERROR(check_decompressed());
    if (archive_filter_code(archive.get(), 0) != ARCHIVE_FILTER_ZSTD) {
      return Corrupt("bundle archive is not zstd-compressed");
    }
    VIGIL_RETURN_IF_ERROR(CheckEntryHeader(entry, manifest, index));
    const FileEntry& file = manifest.files[index];
    VIGIL_RETURN_IF_ERROR(sink.Begin(file));
    uint64_t written = 0;
    while (true) {
      const void* block = nullptr;
      size_t block_size = 0;
      la_int64_t block_offset = 0;
      result = archive_read_data_block(archive.get(), &block, &block_size, &block_offset);
      if (result == ARCHIVE_EOF) break;
      if (result != ARCHIVE_OK) {
        return std::unexpected(ArchiveError(archive.get(), source,
                                            "bundle archive is corrupt in \"" + file.path + "\""));
      }
      // Sparse entries would leave holes the hash never saw: refuse anything but one run.
      if (static_cast<uint64_t>(block_offset) != written ||
          block_size > file.size_bytes - written) {
        return Corrupt("archive entry \"" + file.path + "\" is sparse or longer than " +
                       std::to_string(file.size_bytes) + " bytes");
      }
      ByteSpan bytes(static_cast<const uint8_t*>(block), block_size);
      file_hasher.Update(bytes);
      VIGIL_RETURN_IF_ERROR(sink.Write(bytes));
      written += block_size;
      VIGIL_RETURN_IF_ERROR(check_decompressed());
    }
    if (written != file.size_bytes) {
      return Corrupt("archive entry \"" + file.path + "\" holds " + std::to_string(written) +
                     " bytes, the manifest says " + std::to_string(file.size_bytes));
    }
    if (file_hasher.Finish() != file.sha256) {
      return Corrupt("\"" + file.path + "\" does not match its SHA-256 in the manifest");
    }
    VIGIL_RETURN_IF_ERROR(sink.End(file));
    ++index;
  }
  VIGIL_RETURN_IF_ERROR(check_decompressed());
  if (index < manifest.files.size()) {
    return Corrupt("bundle archive lacks \"" + manifest.files[index].path + "\" (and " +
                   std::to_string(manifest.files.size() - index - 1) +
                   " more files the manifest lists)");
  }
  // Whatever libarchive did not need (nothing, for a bundle this code built) still counts
  // toward the archive's digest.
  while (source.remaining_bytes > 0) {
    const void* ignored = nullptr;
    if (ArchiveSource::Read(nullptr, &source, &ignored) < 0) return std::unexpected(*source.error);
  }
  if (source.hasher.Finish() != bundle.archive_sha256) {
    return Corrupt("the bundle's archive does not match its SHA-256 (corrupted archive)");
  }
  return Ok();
}

class DiscardSink final : public FileSink {
 public:
  Status Begin(const FileEntry&) override { return Ok(); }
  Status Write(ByteSpan) override { return Ok(); }
  Status End(const FileEntry&) override { return Ok(); }
};

// Writes each file under `root` (a fresh directory nobody else writes into), creating parent
// directories 0755 as needed; remembers them so they can be fsynced once all files exist.
class UnpackSink final : public FileSink {
 public:
  explicit UnpackSink(fs::path root) : root_(std::move(root)) {}

  Status Begin(const FileEntry& file) override {
    fs::path target = root_ / file.path;
    VIGIL_RETURN_IF_ERROR(CreateParents(file.path));
    // O_EXCL | O_NOFOLLOW: never write through something that was already there.
    fd_ = FileDescriptor(
        ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (fd_.get() < 0) return std::unexpected(IoError("cannot create", target));
    current_ = target;
    return Ok();
  }
  Status Write(ByteSpan bytes) override { return WriteAll(fd_.get(), bytes, current_); }
  Status End(const FileEntry& file) override {
    // fchmod after writing: a read-only file (0444) must still be writable while unpacking.
    if (::fchmod(fd_.get(), static_cast<mode_t>(file.mode)) != 0) {
      return std::unexpected(IoError("cannot chmod", current_));
    }
    if (::fsync(fd_.get()) != 0) return std::unexpected(IoError("cannot fsync", current_));
    fd_.Reset();
    return Ok();
  }

  // Deepest first, so each directory's entries are durable before the entry naming it.
  Status SyncDirectories() const {
    for (auto it = directories_.rbegin(); it != directories_.rend(); ++it) {
      VIGIL_RETURN_IF_ERROR(SyncDirectory(root_ / *it));
    }
    return SyncDirectory(root_);
  }

 private:
  Status CreateParents(const std::string& path) {
    for (size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      std::string directory = path.substr(0, slash);
      if (directories_.contains(directory)) continue;
      fs::path target = root_ / directory;
      if (::mkdir(target.c_str(), 0755) != 0) {
        return std::unexpected(IoError("cannot create directory", target));
      }
      directories_.insert(std::move(directory));
    }
    return Ok();
  }

  fs::path root_;
  fs::path current_;
  FileDescriptor fd_;
  std::set<std::string> directories_;
};

// --- Building ---

struct SourceFile {
  fs::path absolute;
  FileEntry entry;
};

Expected<std::vector<SourceFile>> ScanSource(const fs::path& source) {
  std::error_code error;
  auto status = fs::symlink_status(source, error);
  if (error || !fs::is_directory(status)) {
    return Fail(ErrorCode::kInvalidArgument, source.string() + " is not a directory");
  }
  std::vector<SourceFile> files;
  fs::recursive_directory_iterator walk(source, fs::directory_options::none, error);
  if (error)
    return Fail(ErrorCode::kIOError, "cannot list " + source.string() + ": " + error.message());
  for (auto end = fs::recursive_directory_iterator(); walk != end; walk.increment(error)) {
    if (error) {
      return Fail(ErrorCode::kIOError, "cannot list " + source.string() + ": " + error.message());
    }
    const fs::path& absolute = walk->path();
    std::string relative = absolute.lexically_relative(source).generic_string();
    struct stat file_status {};
    if (::lstat(absolute.c_str(), &file_status) != 0) {
      return std::unexpected(IoError("cannot stat", absolute));
    }
    if (S_ISLNK(file_status.st_mode)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "\"" + relative +
                      "\" is a symbolic link; bundles hold no links (create it in a "
                      "pre_activate hook instead, docs/bundle-format.md#links)");
    }
    if (S_ISDIR(file_status.st_mode)) {
      if (walk.depth() + 1 >= static_cast<int>(limits::kReleasePathDepthMax)) {
        return Fail(ErrorCode::kInvalidArgument, "\"" + relative + "\" is nested deeper than " +
                                                     std::to_string(limits::kReleasePathDepthMax) +
                                                     " directories");
      }
      continue;
    }
    if (!S_ISREG(file_status.st_mode)) {
      return Fail(
          ErrorCode::kInvalidArgument,
          "\"" + relative + "\" is a device file, fifo or socket; bundles hold regular files only");
    }
    auto mode = static_cast<uint32_t>(file_status.st_mode & 07777);
    if ((mode & ~kFileModeBits) != 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  "\"" + relative + "\" has mode " + OctalMode(mode) +
                      ": setuid, setgid and sticky bits are not allowed in a release; chmod "
                      "them away");
    }
    if (files.size() >= limits::kReleaseFilesMax) {
      return Fail(ErrorCode::kResourceExhausted, source.string() + " holds more than " +
                                                     std::to_string(limits::kReleaseFilesMax) +
                                                     " files");
    }
    files.push_back({.absolute = absolute,
                     .entry = {.path = std::move(relative),
                               .size_bytes = static_cast<uint64_t>(file_status.st_size),
                               .mode = mode,
                               .sha256 = {}}});
  }
  std::sort(files.begin(), files.end(), [](const SourceFile& left, const SourceFile& right) {
    return left.entry.path < right.entry.path;
  });
  return files;
}

Expected<FileDescriptor> OpenSourceFile(const SourceFile& file) {
  FileDescriptor fd(::open(file.absolute.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) return std::unexpected(IoError("cannot open", file.absolute));
  struct stat status {};
  if (::fstat(fd.get(), &status) != 0)
    return std::unexpected(IoError("cannot stat", file.absolute));
  if (!S_ISREG(status.st_mode) || static_cast<uint64_t>(status.st_size) != file.entry.size_bytes) {
    return Fail(ErrorCode::kUnavailable,
                "\"" + file.entry.path + "\" changed while the bundle was built; build again");
  }
  return fd;
}

// Writes the archive's bytes to the bundle file, hashing them for the trailer and (with
// everything else) for the bundle digest.
struct ArchiveDestination {
  int fd = -1;
  const fs::path* path = nullptr;
  uint64_t size_bytes = 0;
  crypto::Sha256Hasher archive_hasher;
  crypto::Sha256Hasher* file_hasher = nullptr;
  std::optional<Error> error;

  static la_ssize_t Write(struct archive*, void* self_pointer, const void* data, size_t length) {
    auto* self = static_cast<ArchiveDestination*>(self_pointer);
    ByteSpan bytes(static_cast<const uint8_t*>(data), length);
    if (auto written = WriteAll(self->fd, bytes, *self->path); !written) {
      self->error = written.error();
      return -1;
    }
    self->archive_hasher.Update(bytes);
    self->file_hasher->Update(bytes);
    self->size_bytes += length;
    return static_cast<la_ssize_t>(length);
  }
};

Status WriteArchive(const std::vector<SourceFile>& files, ArchiveDestination& destination) {
  std::unique_ptr<struct archive, WriteArchiveDeleter> archive(archive_write_new());
  if (!archive) return Fail(ErrorCode::kInternal, "libarchive: out of memory");
  auto fail = [&](std::string_view what) -> Status {
    if (destination.error) return std::unexpected(*destination.error);
    const char* message = archive_error_string(archive.get());
    return Fail(ErrorCode::kIOError,
                std::string(what) + ": " + (message != nullptr ? message : "unknown error"));
  };
  const std::string level = std::to_string(limits::kReleaseZstdLevelDefault);
  // pax_restricted: plain ustar headers, a pax extension only for paths ustar cannot hold.
  // Unblocked output: no padding of the compressed stream to 10 KiB records.
  if (archive_write_add_filter_zstd(archive.get()) != ARCHIVE_OK ||
      archive_write_set_filter_option(archive.get(), "zstd", "compression-level", level.c_str()) !=
          ARCHIVE_OK ||
      archive_write_set_format_pax_restricted(archive.get()) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(archive.get(), 0) != ARCHIVE_OK) {
    return fail("cannot set up the archive writer");
  }
  if (archive_write_open(archive.get(), &destination, nullptr, &ArchiveDestination::Write,
                         nullptr) != ARCHIVE_OK) {
    return fail("cannot start the archive");
  }
  std::unique_ptr<struct archive_entry, EntryDeleter> entry(archive_entry_new());
  Bytes buffer(limits::kReleaseIoBufferBytes);
  crypto::Sha256Hasher hasher;
  for (const SourceFile& file : files) {
    VIGIL_ASSIGN_OR_RETURN(FileDescriptor source, OpenSourceFile(file));
    archive_entry_clear(entry.get());
    // Fixed owner and time: the same tree always gives the same archive bytes.
    archive_entry_set_pathname(entry.get(), file.entry.path.c_str());
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), static_cast<mode_t>(file.entry.mode));
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(file.entry.size_bytes));
    archive_entry_set_uid(entry.get(), 0);
    archive_entry_set_gid(entry.get(), 0);
    archive_entry_set_mtime(entry.get(), 0, 0);
    if (archive_write_header(archive.get(), entry.get()) != ARCHIVE_OK) {
      return fail("cannot add \"" + file.entry.path + "\" to the archive");
    }
    uint64_t total = 0;
    while (true) {
      VIGIL_ASSIGN_OR_RETURN(size_t read,
                             ReadSome(source.get(), buffer.data(), buffer.size(), file.absolute));
      if (read == 0) break;
      total += read;
      if (total > file.entry.size_bytes) break;
      hasher.Update(ByteSpan(buffer.data(), read));
      if (archive_write_data(archive.get(), buffer.data(), read) != static_cast<la_ssize_t>(read)) {
        return fail("cannot add \"" + file.entry.path + "\" to the archive");
      }
    }
    // The manifest already holds this file's size and digest: the bytes archived must be them.
    if (total != file.entry.size_bytes || hasher.Finish() != file.entry.sha256) {
      return Fail(ErrorCode::kUnavailable,
                  "\"" + file.entry.path + "\" changed while the bundle was built; build again");
    }
  }
  if (archive_write_close(archive.get()) != ARCHIVE_OK) return fail("cannot finish the archive");
  return Ok();
}

bool IsWithin(const fs::path& candidate, const fs::path& directory) {
  auto [directory_end, candidate_end] =
      std::mismatch(directory.begin(), directory.end(), candidate.begin(), candidate.end());
  return directory_end == directory.end();
}

// Writes the complete bundle into an open temporary file; returns the bundle digest and size.
Expected<std::pair<crypto::Sha256Digest, uint64_t>> WriteBundleFile(
    int fd, const fs::path& path, const Bytes& manifest_bytes,
    const std::vector<SourceFile>& files) {
  crypto::Sha256Hasher file_hasher;
  uint8_t header[kBundleHeaderBytes];
  std::memcpy(header, kBundleMagic, sizeof kBundleMagic);
  PutU32(header + 8, kBundleFormatVersion);
  PutU32(header + 12, static_cast<uint32_t>(manifest_bytes.size()));
  crypto::Sha256Digest manifest_digest = crypto::Sha256(manifest_bytes);
  std::memcpy(header + 16, manifest_digest.data(), manifest_digest.size());
  VIGIL_RETURN_IF_ERROR(WriteAll(fd, ByteSpan(header, sizeof header), path));
  VIGIL_RETURN_IF_ERROR(WriteAll(fd, manifest_bytes, path));
  file_hasher.Update(ByteSpan(header, sizeof header));
  file_hasher.Update(manifest_bytes);

  ArchiveDestination destination;
  destination.fd = fd;
  destination.path = &path;
  destination.file_hasher = &file_hasher;
  VIGIL_RETURN_IF_ERROR(WriteArchive(files, destination));

  uint8_t trailer[kBundleTrailerBytes];
  PutU64(trailer, destination.size_bytes);
  crypto::Sha256Digest archive_digest = destination.archive_hasher.Finish();
  std::memcpy(trailer + 8, archive_digest.data(), archive_digest.size());
  VIGIL_RETURN_IF_ERROR(WriteAll(fd, ByteSpan(trailer, sizeof trailer), path));
  file_hasher.Update(ByteSpan(trailer, sizeof trailer));
  if (::fsync(fd) != 0) return std::unexpected(IoError("cannot fsync", path));
  uint64_t size =
      kBundleHeaderBytes + manifest_bytes.size() + destination.size_bytes + kBundleTrailerBytes;
  return std::pair{file_hasher.Finish(), size};
}

}  // namespace

Expected<Manifest> ReadBundleManifest(const fs::path& bundle) {
  auto open = OpenAndReadFraming(bundle);
  if (!open) return std::unexpected(open.error().WithContext(bundle.string()));
  return std::move(open->manifest);
}

Expected<BundleSummary> InspectBundle(const fs::path& bundle) {
  auto open = OpenAndReadFraming(bundle);
  if (!open) return std::unexpected(open.error().WithContext(bundle.string()));
  BundleSummary summary;
  uint64_t hashed_bytes = 0;
  VIGIL_ASSIGN_OR_RETURN(summary.bundle_digest,
                         HashOpenFile(open->fd.get(), bundle, &hashed_bytes));
  if (hashed_bytes != open->file_size_bytes) {
    return Fail(ErrorCode::kUnavailable, bundle.string() + " changed while it was read");
  }
  summary.bundle_size_bytes = open->file_size_bytes;
  summary.archive_size_bytes = open->archive_size_bytes;
  summary.manifest_root = ManifestRoot(open->manifest);
  summary.manifest = std::move(open->manifest);
  return summary;
}

Expected<BuiltBundle> BuildBundle(const fs::path& source_directory, const BuildOptions& options,
                                  const fs::path& output_bundle) {
  std::error_code source_error;
  std::error_code output_error;
  const fs::path source = fs::weakly_canonical(fs::absolute(source_directory), source_error);
  const fs::path output = fs::weakly_canonical(fs::absolute(output_bundle), output_error);
  if (source_error || output_error) {
    return Fail(ErrorCode::kInvalidArgument,
                "cannot resolve " + (source_error ? source_directory : output_bundle).string() +
                    ": " + (source_error ? source_error : output_error).message());
  }
  if (IsWithin(output, source)) {
    return Fail(ErrorCode::kInvalidArgument, "the output " + output_bundle.string() +
                                                 " lies inside the directory being " +
                                                 "bundled; write it elsewhere");
  }
  VIGIL_ASSIGN_OR_RETURN(std::vector<SourceFile> files, ScanSource(source));

  Manifest manifest{.format_version = kManifestFormatVersion,
                    .app = options.app,
                    .version = options.version,
                    .entry = options.entry,
                    .health = options.health,
                    .hooks = options.hooks,
                    .files = {}};
  manifest.files.reserve(files.size());
  for (SourceFile& file : files) {
    VIGIL_ASSIGN_OR_RETURN(FileDescriptor fd, OpenSourceFile(file));
    uint64_t size = 0;
    VIGIL_ASSIGN_OR_RETURN(file.entry.sha256, HashOpenFile(fd.get(), file.absolute, &size));
    if (size != file.entry.size_bytes) {
      return Fail(ErrorCode::kUnavailable,
                  "\"" + file.entry.path + "\" changed while the bundle was built; build again");
    }
    manifest.files.push_back(file.entry);
  }
  // Codec strings must be UTF-8 before encoding; report it as a rule, not an assertion.
  for (const std::string& text : {manifest.app, manifest.version}) {
    if (!codec::IsValidUtf8(text))
      return Fail(ErrorCode::kInvalidArgument, "app and version must be UTF-8");
  }
  VIGIL_RETURN_IF_ERROR(ValidateManifest(manifest));
  Bytes manifest_bytes = EncodeManifest(manifest);
  if (manifest_bytes.size() > limits::kReleaseManifestBytesMax) {
    return Fail(ErrorCode::kResourceExhausted,
                "the manifest would be " + std::to_string(manifest_bytes.size()) +
                    " bytes, more than the limit of " +
                    std::to_string(limits::kReleaseManifestBytesMax) + " (fewer or shorter paths)");
  }

  fs::path directory = output.parent_path();
  std::string temporary = (directory / ("." + output.filename().string() + ".tmp-XXXXXX")).string();
  FileDescriptor fd(::mkstemp(temporary.data()));
  if (fd.get() < 0) return std::unexpected(IoError("cannot create a temporary file in", directory));
  auto written = [&]() -> Expected<std::pair<crypto::Sha256Digest, uint64_t>> {
    if (::fchmod(fd.get(), 0644) != 0) return std::unexpected(IoError("cannot chmod", temporary));
    VIGIL_ASSIGN_OR_RETURN(auto result,
                           WriteBundleFile(fd.get(), temporary, manifest_bytes, files));
    fd.Reset();
    VIGIL_RETURN_IF_ERROR(RenameDurably(temporary, output));
    return result;
  }();
  if (!written) {
    ::unlink(temporary.c_str());
    return std::unexpected(written.error().WithContext("building " + output_bundle.string()));
  }
  BuiltBundle built;
  built.manifest_root = ManifestRoot(manifest);
  built.manifest = std::move(manifest);
  built.bundle_digest = written->first;
  built.bundle_size_bytes = written->second;
  return built;
}

Expected<Manifest> VerifyBundle(const fs::path& bundle) {
  auto open = OpenAndReadFraming(bundle);
  if (!open) return std::unexpected(open.error().WithContext(bundle.string()));
  DiscardSink sink;
  if (auto read = ReadArchive(*open, bundle, sink); !read) {
    return std::unexpected(read.error().WithContext(bundle.string()));
  }
  return std::move(open->manifest);
}

Expected<Manifest> UnpackBundle(const fs::path& bundle, const fs::path& destination) {
  struct stat existing {};
  if (::lstat(destination.c_str(), &existing) == 0) {
    return Fail(ErrorCode::kAlreadyExists,
                destination.string() + " already exists; unpack into a new directory");
  }
  auto open = OpenAndReadFraming(bundle);
  if (!open) return std::unexpected(open.error().WithContext(bundle.string()));

  fs::path parent = destination.parent_path();
  if (parent.empty()) parent = ".";
  std::string temporary =
      (parent / ("." + destination.filename().string() + ".unpack-XXXXXX")).string();
  if (::mkdtemp(temporary.data()) == nullptr) {
    return std::unexpected(IoError("cannot create a directory in", parent));
  }
  auto unpacked = [&]() -> Status {
    if (::chmod(temporary.c_str(), 0755) != 0) {
      return std::unexpected(IoError("cannot chmod", temporary));
    }
    UnpackSink sink{fs::path(temporary)};
    VIGIL_RETURN_IF_ERROR(ReadArchive(*open, bundle, sink));
    VIGIL_RETURN_IF_ERROR(sink.SyncDirectories());
    // RENAME_NOREPLACE: a destination created meanwhile is an error, never overwritten.
    if (::renameat2(AT_FDCWD, temporary.c_str(), AT_FDCWD, destination.c_str(), RENAME_NOREPLACE) !=
        0) {
      return std::unexpected(IoError("cannot rename the unpacked tree to", destination));
    }
    return SyncDirectory(parent);
  }();
  if (!unpacked) {
    std::error_code ignored;
    fs::remove_all(temporary, ignored);
    return std::unexpected(unpacked.error().WithContext("unpacking " + bundle.string()));
  }
  return std::move(open->manifest);
}

Status RemoveAbandonedUnpacks(const fs::path& parent) {
  std::error_code error;
  fs::directory_iterator items(parent, error);
  for (auto end = fs::directory_iterator(); !error && items != end; items.increment(error)) {
    const fs::path& path = items->path();
    const std::string name = path.filename().string();
    std::error_code status_error;
    if (name.starts_with('.') && name.find(".unpack-") != std::string::npos &&
        fs::is_directory(fs::symlink_status(path, status_error))) {
      std::error_code remove_error;
      fs::remove_all(path, remove_error);
      if (remove_error) {
        return Fail(ErrorCode::kIOError,
                    "cannot remove " + path.string() + ": " + remove_error.message());
      }
    }
  }
  if (error) {
    return Fail(ErrorCode::kIOError, "cannot list " + parent.string() + ": " + error.message());
  }
  return Ok();
}

Status VerifyTree(const Manifest& manifest, const fs::path& directory) {
  constexpr size_t kDifferencesShownMax = 10;
  std::vector<std::string> differences;
  size_t difference_count = 0;
  auto differ = [&](std::string what) {
    if (differences.size() < kDifferencesShownMax) differences.push_back(std::move(what));
    ++difference_count;
  };

  // First the walk: anything that is not a listed regular file or one of their directories.
  std::set<std::string> directories;
  for (const FileEntry& file : manifest.files) {
    for (size_t slash = file.path.find('/'); slash != std::string::npos;
         slash = file.path.find('/', slash + 1)) {
      directories.insert(file.path.substr(0, slash));
    }
  }
  std::error_code error;
  fs::recursive_directory_iterator walk(directory, fs::directory_options::none, error);
  if (error) {
    return Fail(ErrorCode::kNotFound, "cannot list " + directory.string() + ": " + error.message());
  }
  std::set<std::string> unsafe;  // links or special files where the manifest expects content
  for (auto end = fs::recursive_directory_iterator(); walk != end; walk.increment(error)) {
    if (error) return Fail(ErrorCode::kIOError, "cannot list " + directory.string());
    std::string relative = walk->path().lexically_relative(directory).generic_string();
    auto status = walk->symlink_status(error);
    if (error) return Fail(ErrorCode::kIOError, "cannot stat " + walk->path().string());
    bool listed_file = FindFile(manifest, relative) != nullptr;
    if (fs::is_directory(status) && directories.contains(relative)) continue;
    if (fs::is_regular_file(status) && listed_file) continue;
    if (fs::is_directory(status)) walk.disable_recursion_pending();
    if (listed_file || directories.contains(relative)) {
      unsafe.insert(relative);
      differ("\"" + relative + "\" has the wrong type (a link, directory or special file)");
    } else {
      differ("\"" + relative + "\" is not part of the release (added)");
    }
  }

  for (const FileEntry& file : manifest.files) {
    if (unsafe.contains(file.path)) continue;
    bool under_unsafe = false;
    for (size_t slash = file.path.find('/'); slash != std::string::npos && !under_unsafe;
         slash = file.path.find('/', slash + 1)) {
      under_unsafe = unsafe.contains(file.path.substr(0, slash));
    }
    if (under_unsafe) continue;
    fs::path target = directory / file.path;
    FileDescriptor fd(::open(target.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.get() < 0) {
      differ("\"" + file.path + "\" is " + (errno == ENOENT ? "missing" : std::strerror(errno)));
      continue;
    }
    struct stat status {};
    if (::fstat(fd.get(), &status) != 0) return std::unexpected(IoError("cannot stat", target));
    if (!S_ISREG(status.st_mode)) {
      differ("\"" + file.path + "\" is not a regular file");
      continue;
    }
    if (static_cast<uint32_t>(status.st_mode & 07777) != file.mode) {
      differ("\"" + file.path + "\" has mode " + OctalMode(status.st_mode & 07777) +
             ", the manifest says " + OctalMode(file.mode));
    }
    uint64_t size = 0;
    VIGIL_ASSIGN_OR_RETURN(crypto::Sha256Digest digest, HashOpenFile(fd.get(), target, &size));
    if (size != file.size_bytes) {
      differ("\"" + file.path + "\" is " + std::to_string(size) + " bytes, the manifest says " +
             std::to_string(file.size_bytes));
    } else if (digest != file.sha256) {
      differ("\"" + file.path + "\" was modified (SHA-256 differs)");
    }
  }
  if (difference_count == 0) return Ok();
  std::string message = directory.string() + " differs from release " + manifest.app + " " +
                        manifest.version + " in " + std::to_string(difference_count) +
                        (difference_count == 1 ? " place: " : " places: ");
  for (size_t i = 0; i < differences.size(); ++i) {
    if (i > 0) message += "; ";
    message += differences[i];
  }
  if (difference_count > differences.size()) message += "; ...";
  return Corrupt(std::move(message));
}

}  // namespace vigil::release
