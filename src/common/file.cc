#include "common/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace vigil {
namespace {

Error IoError(std::string_view what, const std::filesystem::path& path) {
  return Error(ErrorCode::kIOError,
               std::string(what) + " " + path.string() + ": " + std::strerror(errno));
}


Status WriteAll(int fd, ByteSpan contents, const std::filesystem::path& path) {
  size_t written = 0;
  while (written < contents.size()) {
    ssize_t result = ::write(fd, contents.data() + written, contents.size() - written);
    if (result < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(IoError("cannot write", path));
    }
    written += static_cast<size_t>(result);
  }
  return Ok();
}

}  // namespace

Status SyncDirectory(const std::filesystem::path& directory) {
  FileDescriptor fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return std::unexpected(IoError("cannot open directory", directory));
  if (::fsync(fd.get()) != 0) return std::unexpected(IoError("cannot fsync directory", directory));
  return Ok();
}

Status SyncFile(const std::filesystem::path& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::unexpected(IoError("cannot open", path));
  if (::fsync(fd.get()) != 0) return std::unexpected(IoError("cannot fsync", path));
  return Ok();
}

Status RenameDurably(const std::filesystem::path& from, const std::filesystem::path& to) {
  VIGIL_RETURN_IF_ERROR(SyncFile(from));
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return std::unexpected(IoError("cannot rename " + from.string() + " to", to));
  }
  std::filesystem::path directory = to.parent_path();
  return SyncDirectory(directory.empty() ? "." : directory);
}

Status WriteFileAtomically(const std::filesystem::path& path, ByteSpan contents, mode_t mode) {
  std::filesystem::path directory = path.parent_path();
  if (directory.empty()) directory = ".";
  std::string temporary = (directory / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  FileDescriptor fd(::mkstemp(temporary.data()));
  if (fd.get() < 0) return std::unexpected(IoError("cannot create temporary file in", directory));
  auto cleanup_on_error = [&](Error error) -> Status {
    ::unlink(temporary.c_str());
    return std::unexpected(std::move(error));
  };
  // mkstemp creates 0600; set the final mode before any byte is written.
  if (::fchmod(fd.get(), mode) != 0) return cleanup_on_error(IoError("cannot chmod", temporary));
  if (auto written = WriteAll(fd.get(), contents, temporary); !written) {
    return cleanup_on_error(written.error());
  }
  if (::fsync(fd.get()) != 0) return cleanup_on_error(IoError("cannot fsync", temporary));
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    return cleanup_on_error(IoError("cannot rename temporary file to", path));
  }
  return SyncDirectory(directory);
}

Expected<Bytes> ReadFile(const std::filesystem::path& path, size_t size_bytes_max) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    ErrorCode code = errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIOError;
    return Fail(code, "cannot open " + path.string() + ": " + std::strerror(errno));
  }
  struct stat status {};
  if (::fstat(fd.get(), &status) != 0) return std::unexpected(IoError("cannot stat", path));
  if (static_cast<uint64_t>(status.st_size) > size_bytes_max) {
    return Fail(ErrorCode::kInvalidArgument,
                path.string() + " is " + std::to_string(status.st_size) +
                    " bytes, more than the limit of " + std::to_string(size_bytes_max));
  }
  Bytes contents(static_cast<size_t>(status.st_size));
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t result = ::read(fd.get(), contents.data() + done, contents.size() - done);
    if (result < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(IoError("cannot read", path));
    }
    if (result == 0) break;  // file shrank while reading
    done += static_cast<size_t>(result);
  }
  contents.resize(done);
  return contents;
}

Status EnsureDirectory(const std::filesystem::path& path, mode_t mode) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) return Ok();
  if (!path.parent_path().empty() && path.parent_path() != path) {
    VIGIL_RETURN_IF_ERROR(EnsureDirectory(path.parent_path(), mode));
  }
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return std::unexpected(IoError("cannot create directory", path));
  }
  return Ok();
}

}  // namespace vigil
