#include "artifacts/client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "artifacts/http_headers.h"
#include "artifacts/server.h"
#include "artifacts/store.h"
#include "common/file.h"

namespace vigil::artifacts {
namespace {

using Clock = std::chrono::steady_clock;


std::unexpected<Error> SystemError(std::string_view what, const std::filesystem::path& path) {
  return Fail(ErrorCode::kIOError,
              std::string(what) + " " + path.string() + ": " + std::strerror(errno));
}

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += written;
    size -= static_cast<size_t>(written);
  }
  return true;
}

// SHA-256 and size of what `fd` holds, read from the start in bounded chunks.
Expected<std::pair<uint64_t, crypto::Sha256Digest>> HashDescriptor(
    int fd, const std::filesystem::path& path) {
  crypto::Sha256Hasher hasher;
  std::vector<uint8_t> buffer(limits::kArtifactReadChunkBytes);
  uint64_t offset = 0;
  for (;;) {
    ssize_t read = ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(offset));
    if (read < 0) {
      if (errno == EINTR) continue;
      return SystemError("reading", path);
    }
    if (read == 0) break;
    hasher.Update(ByteSpan(buffer.data(), static_cast<size_t>(read)));
    offset += static_cast<uint64_t>(read);
  }
  return std::make_pair(offset, hasher.Finish());
}

bool IsIpAddress(const std::string& host) {
  in6_addr address6{};
  in_addr address4{};
  return ::inet_pton(AF_INET, host.c_str(), &address4) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), &address6) == 1;
}

// cpp-httplib 0.11 can only check the host name together with the chain, and it checks after
// the handshake. Vigil needs the chain checked against the fleet CA without a host name (a
// node certificate names the node, not its address), so it configures OpenSSL directly and
// leaves httplib's own verification off: OpenSSL then fails the handshake itself.
Expected<std::unique_ptr<httplib::ClientImpl>> MakeClient(const MirrorUrl& url,
                                                          const ConnectionOptions& options) {
  std::unique_ptr<httplib::ClientImpl> client;
  if (url.scheme == "https") {
    auto ssl = std::make_unique<httplib::SSLClient>(url.host, url.port);
    SSL_CTX* context = ssl->ssl_context();
    if (context == nullptr) return Fail(ErrorCode::kInternal, "cannot create a TLS context");
    ssl->enable_server_certificate_verification(false);
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nullptr);
    if (options.ca_file) {
      if (SSL_CTX_load_verify_locations(context, options.ca_file->c_str(), nullptr) != 1) {
        return Fail(ErrorCode::kInvalidArgument,
                    "cannot load the CA certificate " + options.ca_file->string());
      }
    } else {
      if (SSL_CTX_set_default_verify_paths(context) != 1) {
        return Fail(ErrorCode::kInternal, "cannot load the system's trusted certificates");
      }
      X509_VERIFY_PARAM* parameters = SSL_CTX_get0_param(context);
      int checked = IsIpAddress(url.host)
                        ? X509_VERIFY_PARAM_set1_ip_asc(parameters, url.host.c_str())
                        : X509_VERIFY_PARAM_set1_host(parameters, url.host.c_str(), 0);
      if (checked != 1) return Fail(ErrorCode::kInternal, "cannot set the expected host name");
    }
    client = std::move(ssl);
  } else {
    client = std::make_unique<httplib::ClientImpl>(url.host, url.port);
  }
  client->set_connection_timeout(options.connect_timeout);
  client->set_read_timeout(options.read_timeout);
  client->set_write_timeout(options.read_timeout);
  client->set_keep_alive(true);
  client->set_follow_location(false);
  return client;
}

std::string Describe(const MirrorUrl& url) { return url.ToString(); }

std::string BodyExcerpt(const httplib::Response& response) {
  std::string body = response.body.substr(0, limits::kArtifactErrorBodyBytesMax);
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  return body.empty() ? "no reason given" : body;
}

// The error for a refused upload request.
Error RefusalError(const MirrorUrl& url, const httplib::Response& response) {
  std::string message = "the artifact store " + Describe(url) + " refused the upload (HTTP " +
                        std::to_string(response.status) + "): " + BodyExcerpt(response);
  ErrorCode code = ErrorCode::kInvalidArgument;
  switch (response.status) {
    case 401: code = ErrorCode::kUnauthenticated; break;
    case 403: code = ErrorCode::kPermissionDenied; break;
    case 404: code = ErrorCode::kNotFound; break;
    case 409: code = ErrorCode::kAlreadyExists; break;
    case 413: code = ErrorCode::kResourceExhausted; break;
    case 422: code = ErrorCode::kCorruption; break;
    default: code = response.status >= 500 ? ErrorCode::kUnavailable : ErrorCode::kInvalidArgument;
  }
  return Error(code, message);
}

std::optional<uint64_t> OffsetOf(const httplib::Response& response) {
  auto offset = ParseDecimal(response.get_header_value(kUploadOffsetHeader));
  if (!offset) return std::nullopt;
  return *offset;
}

}  // namespace

std::string MirrorUrl::ToString() const {
  bool ipv6 = host.find(':') != std::string::npos;
  return scheme + "://" + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port) +
         path_prefix;
}

Expected<MirrorUrl> ParseMirrorUrl(std::string_view url) {
  auto malformed = [&](std::string_view why) {
    return Fail(ErrorCode::kInvalidArgument,
                "mirror URL '" + std::string(url) + "' " + std::string(why) +
                    " (expected https://host:port[/prefix] or http://...)");
  };
  MirrorUrl result;
  std::string_view rest;
  if (url.starts_with("https://")) {
    result.scheme = "https";
    result.port = 443;
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    result.scheme = "http";
    result.port = 80;
    rest = url.substr(7);
  } else {
    return malformed("has another scheme");
  }
  if (rest.find_first_of("?#@ \t\r\n") != std::string_view::npos) {
    return malformed("holds a query, fragment, user or space");
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  std::string_view port_text;
  if (authority.starts_with("[")) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return malformed("has an unclosed '['");
    result.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(":")) return malformed("has text after ']'");
      port_text = after.substr(1);
      if (port_text.empty()) return malformed("has an empty port");
    }
  } else {
    size_t colon = authority.find(':');
    result.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return malformed("has an empty port");
    }
  }
  if (result.host.empty()) return malformed("has no host");
  if (!port_text.empty()) {
    auto port = ParseDecimal(port_text);
    if (!port || *port == 0 || *port > 65535) return malformed("has a port outside 1..65535");
    result.port = static_cast<uint16_t>(*port);
  }
  while (path.ends_with("/")) path.remove_suffix(1);
  result.path_prefix = std::string(path);
  return result;
}

std::string ArtifactPath(const MirrorUrl& url, const crypto::Sha256Digest& digest) {
  return url.path_prefix + "/v1/artifacts/sha256/" + DigestToHex(digest);
}

std::string UploadStatusPath(const MirrorUrl& url, const crypto::Sha256Digest& digest) {
  return url.path_prefix + "/v1/uploads/sha256/" + DigestToHex(digest);
}

Expected<FetchResult> FetchArtifact(const MirrorUrl& mirror, const crypto::Sha256Digest& digest,
                                    uint64_t size_bytes,
                                    const std::filesystem::path& partial_path,
                                    const FetchOptions& options) {
  const auto start = Clock::now();
  const auto deadline = start + options.total_timeout;
  const std::string where = "mirror " + Describe(mirror) + ", artifact " + DigestToHex(digest);
  VIGIL_ASSIGN_OR_RETURN(auto client, MakeClient(mirror, options.connection));
  FileDescriptor file(::open(partial_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (file.get() < 0) return SystemError("opening", partial_path);
  struct stat status {};
  if (::fstat(file.get(), &status) != 0) return SystemError("stat", partial_path);
  uint64_t have = static_cast<uint64_t>(status.st_size);
  auto restart = [&]() -> bool {
    have = 0;
    return ::ftruncate(file.get(), 0) == 0 && ::lseek(file.get(), 0, SEEK_SET) == 0;
  };
  if (have > size_bytes && !restart()) return SystemError("truncating", partial_path);
  if (::lseek(file.get(), static_cast<off_t>(have), SEEK_SET) < 0) {
    return SystemError("seeking", partial_path);
  }
  FetchResult result;
  result.resumed_from_bytes = have;
  auto corrupt = [&](const std::string& why) {
    ::unlink(partial_path.c_str());
    return Fail(ErrorCode::kCorruption, where + ": " + why + "; the partial download was deleted");
  };
  std::optional<Error> last_error;
  const std::string path = ArtifactPath(mirror, digest);
  for (uint32_t attempt = 1; attempt <= std::max<uint32_t>(options.attempts, 1); ++attempt) {
    if (have == size_bytes) break;
    if (Clock::now() >= deadline) {
      return Fail(ErrorCode::kTimeout, where + ": not complete after " +
                                           std::to_string(options.total_timeout.count()) + " ms");
    }
    if (attempt > 1) std::this_thread::sleep_for(options.retry_delay);
    result.attempts = attempt;
    httplib::Headers headers;
    if (have > 0) headers.emplace("Range", "bytes=" + std::to_string(have) + "-");
    std::optional<std::string> corruption;
    std::optional<Error> local_error;
    bool timed_out = false;
    auto response = client->Get(
        path, headers,
        [&](const httplib::Response& answer) {
          if (answer.status == 206) {
            auto range = ParseContentRange(answer.get_header_value("Content-Range"));
            if (!range || range->range.first != have || range->total_bytes != size_bytes) {
              corruption = "answered 'Content-Range: " +
                           answer.get_header_value("Content-Range") + "' to a request from byte " +
                           std::to_string(have) + " of " + std::to_string(size_bytes);
              return false;
            }
          } else if (answer.status == 200) {
            // The mirror ignored the Range (a cache may): start over from its first byte.
            if (have > 0 && !restart()) {
              local_error = Error(ErrorCode::kIOError, "cannot truncate " + partial_path.string());
              return false;
            }
            if (answer.has_header("Content-Length")) {
              auto length = ParseDecimal(answer.get_header_value("Content-Length"));
              if (!length || *length != size_bytes) {
                corruption = "announced " + answer.get_header_value("Content-Length") +
                             " bytes; the ledger says " + std::to_string(size_bytes);
                return false;
              }
            }
          } else {
            return false;
          }
          return true;
        },
        [&](const char* data, size_t size) {
          if (size > size_bytes - have) {
            corruption = "sent more than the " + std::to_string(size_bytes) +
                         " bytes the ledger records";
            return false;
          }
          if (!WriteAll(file.get(), data, size)) {
            local_error = Error(ErrorCode::kIOError, "writing " + partial_path.string() + ": " +
                                                         std::strerror(errno));
            return false;
          }
          have += size;
          result.bytes_transferred += size;
          if (Clock::now() >= deadline) {
            timed_out = true;
            return false;
          }
          return true;
        });
    if (corruption) return corrupt(*corruption);
    if (local_error) return std::unexpected(*local_error);
    if (timed_out) {
      return Fail(ErrorCode::kTimeout, where + ": not complete after " +
                                           std::to_string(options.total_timeout.count()) + " ms");
    }
    if (response) {
      int code = response->status;
      if (code == 404) return Fail(ErrorCode::kNotFound, where + ": not found (HTTP 404)");
      if (code == 416) return corrupt("has fewer bytes than the ledger records (HTTP 416)");
      if (code != 200 && code != 206) {
        last_error = Error(ErrorCode::kUnavailable,
                           where + ": HTTP " + std::to_string(code) + " " + BodyExcerpt(*response));
        if (code < 500) return std::unexpected(*last_error);
        continue;
      }
      if (have < size_bytes) {
        last_error = Error(ErrorCode::kUnavailable,
                           where + ": the response ended after byte " + std::to_string(have));
      }
    } else {
      last_error = Error(ErrorCode::kUnavailable,
                         where + ": " + httplib::to_string(response.error()) + " after byte " +
                             std::to_string(have));
    }
  }
  if (have != size_bytes) {
    return std::unexpected(last_error.value_or(
        Error(ErrorCode::kUnavailable, where + ": incomplete after every attempt")));
  }
  VIGIL_ASSIGN_OR_RETURN(auto hashed, HashDescriptor(file.get(), partial_path));
  if (hashed.first != size_bytes || hashed.second != digest) {
    return corrupt("sent bytes whose SHA-256 is " + DigestToHex(hashed.second));
  }
  if (::fsync(file.get()) != 0) return SystemError("fsync", partial_path);
  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  return result;
}

Status UploadArtifact(const MirrorUrl& base_url, const std::filesystem::path& bundle,
                      ByteSpan publish_envelope, const UploadProgress& progress,
                      const UploadOptions& options) {
  if (publish_envelope.size() > limits::kArtifactTransactionBytesMax) {
    return Fail(ErrorCode::kInvalidArgument,
                "the publish transaction is " + std::to_string(publish_envelope.size()) +
                    " bytes; an upload header carries at most " +
                    std::to_string(limits::kArtifactTransactionBytesMax) + " (shorten the notes)");
  }
  if (options.chunk_bytes == 0 || options.chunk_bytes > limits::kArtifactUploadChunkBytesMax) {
    return Fail(ErrorCode::kInvalidArgument,
                "chunk_bytes must be 1.." + std::to_string(limits::kArtifactUploadChunkBytesMax));
  }
  FileDescriptor file(::open(bundle.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) return SystemError("opening", bundle);
  VIGIL_ASSIGN_OR_RETURN(auto hashed, HashDescriptor(file.get(), bundle));
  const uint64_t size = hashed.first;
  const crypto::Sha256Digest digest = hashed.second;
  VIGIL_ASSIGN_OR_RETURN(auto client, MakeClient(base_url, options.connection));
  const std::string transaction = Base64Encode(publish_envelope);
  const std::string artifact_path = ArtifactPath(base_url, digest);
  const uint32_t attempts_max = std::max<uint32_t>(options.chunk_attempts, 1);
  uint32_t failures = 0;
  std::optional<Error> last_error;

  // Counts a failure; false once the attempts are spent.
  auto failed = [&](Error error) {
    last_error = std::move(error);
    if (++failures >= attempts_max) return false;
    std::this_thread::sleep_for(options.retry_delay);
    return true;
  };
  auto ask_offset = [&]() -> Expected<std::optional<uint64_t>> {
    httplib::Headers headers = {{kTransactionHeader, transaction},
                                {"X-Vigil-Upload-Length", std::to_string(size)}};
    auto response = client->Get(UploadStatusPath(base_url, digest), headers);
    // A connection failure is no answer (nullopt): the caller counts it and retries.
    if (!response) return std::optional<uint64_t>();
    if (response->status != 200) return std::unexpected(RefusalError(base_url, *response));
    auto offset = OffsetOf(*response);
    if (!offset) {
      return Fail(ErrorCode::kCorruption, "the artifact store " + Describe(base_url) +
                                              " answered without an upload offset");
    }
    return offset;
  };

  std::optional<uint64_t> offset;
  while (!offset) {
    VIGIL_ASSIGN_OR_RETURN(offset, ask_offset());
    if (!offset && !failed(Error(ErrorCode::kUnavailable,
                                 "the artifact store " + Describe(base_url) + " cannot be reached"))) {
      return std::unexpected(*last_error);
    }
  }
  for (;;) {
    if (*offset > size) {
      return Fail(ErrorCode::kRefused,
                  "the artifact store " + Describe(base_url) + " holds " + std::to_string(*offset) +
                      " bytes of an upload of this digest, more than the bundle's " +
                      std::to_string(size) + "; it discards them after its partial age limit");
    }
    if (progress) progress(*offset, size);
    httplib::Headers headers = {{kTransactionHeader, transaction}};
    httplib::Result response{nullptr, httplib::Error::Unknown};
    if (*offset == size) {
      // Everything is there but not committed (a crash after the last byte, or an empty
      // artifact): ask the server to check and store it.
      if (size > 0) headers.emplace("Content-Range", "bytes */" + std::to_string(size));
      response = client->Put(artifact_path, headers, "", 0, "application/octet-stream");
    } else {
      const uint64_t first = *offset;
      const size_t length = static_cast<size_t>(std::min<uint64_t>(options.chunk_bytes, size - first));
      headers.emplace("Content-Range",
                      FormatContentRange({.range = {.first = first, .last = first + length - 1},
                                          .total_bytes = size}));
      int fd = file.get();
      response = client->Put(
          artifact_path, headers, length,
          [fd, first](size_t offset_in_chunk, size_t length_left, httplib::DataSink& sink) {
            std::vector<char> buffer(std::min(length_left, limits::kArtifactReadChunkBytes));
            ssize_t read = ::pread(fd, buffer.data(), buffer.size(),
                                   static_cast<off_t>(first + offset_in_chunk));
            if (read <= 0) return false;
            return sink.write(buffer.data(), static_cast<size_t>(read));
          },
          "application/octet-stream");
    }
    if (!response || response->status >= 500) {
      std::string why = response ? "HTTP " + std::to_string(response->status) + ": " +
                                       BodyExcerpt(*response)
                                 : httplib::to_string(response.error());
      if (!failed(Error(ErrorCode::kUnavailable, "uploading to " + Describe(base_url) +
                                                     " failed after " + std::to_string(attempts_max) +
                                                     " attempts: " + why))) {
        return std::unexpected(*last_error);
      }
      std::optional<uint64_t> asked;
      VIGIL_ASSIGN_OR_RETURN(asked, ask_offset());
      if (asked) offset = asked;
      continue;
    }
    const std::string token = response->get_header_value(kErrorHeader);
    if (response->status == 201) {
      if (progress) progress(size, size);
      return Ok();
    }
    if (response->status == 200 || (response->status == 409 && token == "offset-mismatch") ||
        token == "short-body") {
      auto next = OffsetOf(*response);
      if (!next) {
        return Fail(ErrorCode::kCorruption, "the artifact store " + Describe(base_url) +
                                                " answered without an upload offset");
      }
      if (response->status != 200 && !failed(RefusalError(base_url, *response))) {
        return std::unexpected(*last_error);
      }
      if (response->status == 200) failures = 0;
      offset = *next;
      continue;
    }
    return std::unexpected(RefusalError(base_url, *response));
  }
}

}  // namespace vigil::artifacts
