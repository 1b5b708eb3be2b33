#include "gateway/mirror_fetch.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "artifacts/client.h"
#include "common/file.h"
#include "common/limits.h"
#include "crypto/crypto.h"

namespace vigil::gateway {
namespace {

constexpr std::string_view kFileScheme = "file://";
constexpr std::string_view kHttpsScheme = "https://";
constexpr std::string_view kHttpScheme = "http://";


Error SystemError(std::string_view what, const std::filesystem::path& path) {
  return Error(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIOError,
               std::string(what) + " " + path.string() + ": " + std::strerror(errno));
}

Status WriteAll(int fd, const uint8_t* data, size_t size, const std::filesystem::path& path) {
  size_t done = 0;
  while (done < size) {
    ssize_t wrote = ::write(fd, data + done, size - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return std::unexpected(SystemError("cannot write", path));
    done += static_cast<size_t>(wrote);
  }
  return Ok();
}

}  // namespace

Status ValidateMirrors(const std::vector<std::string>& mirrors) {
  if (mirrors.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "the gateway needs at least one artifact mirror");
  }
  for (const auto& mirror : mirrors) {
    if (mirror.starts_with(kFileScheme)) {
      if (mirror.size() == kFileScheme.size() || mirror[kFileScheme.size()] != '/') {
        return Fail(ErrorCode::kInvalidArgument,
                    "mirror '" + mirror + "': a file mirror needs an absolute path (file:///dir)");
      }
    } else if (mirror.starts_with(kHttpsScheme) || mirror.starts_with(kHttpScheme)) {
      auto url = artifacts::ParseMirrorUrl(mirror);
      if (!url) return std::unexpected(url.error().WithContext("mirror '" + mirror + "'"));
    } else {
      return Fail(ErrorCode::kInvalidArgument,
                  "mirror '" + mirror + "': use file:///dir, https://host:port or http://host:port");
    }
  }
  return Ok();
}

Status FetchFromDirectory(const std::filesystem::path& directory,
                          const delivery::VerifiedRelease& release,
                          const std::filesystem::path& destination) {
  std::filesystem::path source = directory / ToHex(release.bundle_digest);
  FileDescriptor in(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) return std::unexpected(SystemError("cannot open", source));
  FileDescriptor out(::open(destination.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (out.get() < 0) return std::unexpected(SystemError("cannot create", destination));
  std::vector<uint8_t> buffer(limits::kFileHashBufferBytes);
  uint64_t copied = 0;
  while (true) {
    ssize_t read = ::read(in.get(), buffer.data(), buffer.size());
    if (read < 0 && errno == EINTR) continue;
    if (read < 0) return std::unexpected(SystemError("cannot read", source));
    if (read == 0) break;
    copied += static_cast<uint64_t>(read);
    if (copied > release.bundle_size_bytes) {
      return Fail(ErrorCode::kCorruption, source.string() + " holds more than the " +
                                              std::to_string(release.bundle_size_bytes) +
                                              " bytes the ledger recorded");
    }
    VIGIL_RETURN_IF_ERROR(WriteAll(out.get(), buffer.data(), static_cast<size_t>(read), destination));
  }
  if (::fsync(out.get()) != 0) return std::unexpected(SystemError("cannot fsync", destination));
  return Ok();
}

namespace {

// One file:// mirror, checked here too so a bad mirror is skipped in favour of the next one
// rather than failing the whole attempt at the cache.
Status FetchFromFileMirror(const std::string& mirror, const delivery::VerifiedRelease& release,
                           const std::filesystem::path& destination) {
  VIGIL_RETURN_IF_ERROR(
      FetchFromDirectory(mirror.substr(kFileScheme.size()), release, destination));
  VIGIL_ASSIGN_OR_RETURN(crypto::Sha256Digest digest, crypto::Sha256OfFile(destination));
  if (digest != release.bundle_digest) {
    return Fail(ErrorCode::kCorruption, "served bytes with SHA-256 " + ToHex(digest).substr(0, 12) +
                                            ", the ledger says " +
                                            ToHex(release.bundle_digest).substr(0, 12));
  }
  return Ok();
}

// One https:// or http:// mirror: a peer's artifact store or an HTTP cache in front of one.
// FetchArtifact resumes from what `destination` already holds and checks size and digest.
Status FetchFromHttpMirror(const std::string& mirror, const delivery::VerifiedRelease& release,
                           const std::filesystem::path& destination,
                           const MirrorFetchOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(artifacts::MirrorUrl url, artifacts::ParseMirrorUrl(mirror));
  artifacts::FetchOptions fetch;
  fetch.connection.ca_file = options.ca_file;
  VIGIL_ASSIGN_OR_RETURN(artifacts::FetchResult result,
                         artifacts::FetchArtifact(url, release.bundle_digest,
                                                  release.bundle_size_bytes, destination, fetch));
  (void)result;
  return Ok();
}

}  // namespace

FetchFunction MakeMirrorFetch(std::vector<std::string> mirrors, MirrorFetchOptions options) {
  return [mirrors = std::move(mirrors), options = std::move(options)](
             const delivery::VerifiedRelease& release,
             const std::filesystem::path& destination) -> Status {
    std::string failures;
    for (const auto& mirror : mirrors) {
      Status fetched = mirror.starts_with(kFileScheme)
                           ? FetchFromFileMirror(mirror, release, destination)
                           : FetchFromHttpMirror(mirror, release, destination, options);
      if (fetched) return Ok();
      // Bytes from a mirror that lied must not be resumed from by the next one.
      if (fetched.error().code() == ErrorCode::kCorruption) {
        std::error_code ignored;
        std::filesystem::remove(destination, ignored);
      }
      failures += (failures.empty() ? "" : "; ") + mirror + ": " + fetched.error().message();
    }
    return Fail(ErrorCode::kUnavailable, "no mirror served " + release.app + " " +
                                             release.version + " (" + failures + ")");
  };
}

}  // namespace vigil::gateway
