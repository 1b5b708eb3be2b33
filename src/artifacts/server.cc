#include "artifacts/server.h"

#include <httplib.h>
#include <openssl/ssl.h>

#include <vector>

#include "artifacts/bounded_thread_pool.h"
#include "artifacts/http_headers.h"
#include "common/log.h"

namespace vigil::artifacts {
namespace {

constexpr const char* kArtifactPattern = R"(/v1/artifacts/sha256/([^/]*))";
constexpr const char* kUploadPattern = R"(/v1/uploads/sha256/([^/]*))";
// The declared total of an upload, sent with the transaction to GET /v1/uploads/... so the
// server can check the transaction before the client sends any bytes.
constexpr const char* kUploadLengthHeader = "X-Vigil-Upload-Length";
constexpr std::chrono::seconds kListenerStartTimeout{5};
constexpr const char* kOctetStream = "application/octet-stream";
// Artifacts never change under their name: caches may keep them for a year without asking.
constexpr const char* kImmutableCacheControl = "public, max-age=31536000, immutable";

// HTTP statuses, named.
constexpr int kOk = 200;
constexpr int kCreated = 201;
constexpr int kPartialContent = 206;
constexpr int kNotModified = 304;
constexpr int kBadRequest = 400;
constexpr int kUnauthorized = 401;
constexpr int kForbidden = 403;
constexpr int kNotFound = 404;
constexpr int kConflict = 409;
constexpr int kLengthRequired = 411;
constexpr int kPayloadTooLarge = 413;
constexpr int kRangeNotSatisfiable = 416;
constexpr int kUnprocessable = 422;
constexpr int kInternalError = 500;
constexpr int kServiceUnavailable = 503;

void Refuse(httplib::Response& response, int status, const char* token, std::string message) {
  response.status = status;
  response.set_header(kErrorHeader, token);
  response.set_content(message + "\n", "text/plain; charset=utf-8");
}

// The status and token for an error from authorize or the store.
std::pair<int, const char*> StatusOf(const Error& error) {
  switch (error.code()) {
    case ErrorCode::kInvalidArgument: return {kBadRequest, "malformed"};
    case ErrorCode::kUnauthenticated: return {kUnauthorized, "unauthenticated"};
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kRefused: return {kForbidden, "forbidden"};
    case ErrorCode::kAlreadyExists: return {kConflict, "already-exists"};
    case ErrorCode::kResourceExhausted: return {kServiceUnavailable, "busy"};
    case ErrorCode::kUnavailable: return {kServiceUnavailable, "unavailable"};
    case ErrorCode::kCorruption: return {kUnprocessable, "digest-mismatch"};
    default: return {kInternalError, "internal"};
  }
}

std::string OffsetBody(uint64_t offset) {
  return "{\"offset\":" + std::to_string(offset) + "}\n";
}

// Reads and discards a refused request's body (up to a bound) so the client, which sends the
// whole chunk before it reads, sees the refusal instead of a reset connection.
void DrainBody(const httplib::Request& request, httplib::Response& response,
               const httplib::ContentReader& content_reader) {
  auto length = ParseDecimal(request.get_header_value("Content-Length"));
  if (!length || *length > limits::kArtifactRefusedBodyDrainBytesMax) {
    response.set_header("Connection", "close");
    return;
  }
  uint64_t drained = 0;
  content_reader([&](const char*, size_t size) {
    drained += size;
    return drained <= limits::kArtifactRefusedBodyDrainBytesMax;
  });
}

class Handlers {
 public:
  Handlers(std::shared_ptr<ArtifactStore> store, AuthorizeFunction authorize)
      : store_(std::move(store)), authorize_(std::move(authorize)) {}

  void GetArtifact(const httplib::Request& request, httplib::Response& response) const;
  void PutArtifact(const httplib::Request& request, httplib::Response& response,
                   const httplib::ContentReader& content_reader) const;
  void GetUpload(const httplib::Request& request, httplib::Response& response) const;

 private:
  // Decodes and checks the transaction header; on refusal fills `response` and returns false.
  bool Authorize(const httplib::Request& request, httplib::Response& response,
                 const crypto::Sha256Digest& digest, uint64_t total_bytes) const;

  std::shared_ptr<ArtifactStore> store_;
  AuthorizeFunction authorize_;
};

void Handlers::GetArtifact(const httplib::Request& request, httplib::Response& response) const {
  // cpp-httplib applies request.ranges to the response itself (and would serve several ranges
  // as multipart, or an out-of-bounds range as garbage). Vigil resolves the Range here, with
  // its own strict parser, and hands httplib exactly the one range to send (or none). The
  // Request object is not const inside httplib; only the handler's view of it is.
  auto& ranges = const_cast<httplib::Request&>(request).ranges;
  ranges.clear();
  auto digest = DigestFromHex(request.matches[1].str());
  if (!digest) {
    Refuse(response, kBadRequest, "malformed", "the path must name a lower-case hex SHA-256");
    return;
  }
  auto file = store_->OpenArtifact(*digest);
  if (!file) {
    if (file.error().code() != ErrorCode::kNotFound) {
      Refuse(response, kInternalError, "internal", file.error().message());
      return;
    }
    if (auto offset = store_->UploadOffset(*digest)) {
      response.set_header(kUploadOffsetHeader, std::to_string(*offset));
    }
    Refuse(response, kNotFound, "not-found", "no artifact " + DigestToHex(*digest) + " here");
    return;
  }
  const uint64_t size = (*file)->size_bytes();
  const std::string etag = "\"" + DigestToHex(*digest) + "\"";
  response.set_header("ETag", etag);
  response.set_header("Cache-Control", kImmutableCacheControl);
  response.set_header("Accept-Ranges", "bytes");
  if (request.get_header_value("If-None-Match") == etag) {
    response.status = kNotModified;
    return;
  }
  response.status = kOk;
  if (request.has_header("Range")) {
    // A Range this parser does not accept (another unit, several ranges) is ignored, as
    // RFC 9110 allows: the whole artifact is sent.
    if (auto spec = ParseRangeHeader(request.get_header_value("Range"))) {
      auto range = ResolveRange(*spec, size);
      if (!range) {
        response.set_header("Content-Range", "bytes */" + std::to_string(size));
        Refuse(response, kRangeNotSatisfiable, "range-not-satisfiable",
               "the artifact has " + std::to_string(size) + " bytes");
        return;
      }
      response.status = kPartialContent;
      ranges.emplace_back(static_cast<ssize_t>(range->first), static_cast<ssize_t>(range->last));
    }
  }
  if (size == 0) {
    response.set_content("", kOctetStream);
    return;
  }
  std::shared_ptr<ArtifactFile> shared_file = std::move(*file);
  response.set_content_provider(
      static_cast<size_t>(size), kOctetStream,
      [shared_file](size_t offset, size_t length, httplib::DataSink& sink) {
        std::vector<uint8_t> buffer(std::min(length, limits::kArtifactReadChunkBytes));
        auto read = shared_file->ReadAt(offset, buffer);
        if (!read || *read == 0) return false;
        return sink.write(reinterpret_cast<const char*>(buffer.data()), *read);
      });
}

bool Handlers::Authorize(const httplib::Request& request, httplib::Response& response,
                         const crypto::Sha256Digest& digest, uint64_t total_bytes) const {
  if (!request.has_header(kTransactionHeader)) {
    Refuse(response, kUnauthorized, "missing-transaction",
           std::string("an upload must carry the signed publish transaction in the ") +
               kTransactionHeader + " header");
    return false;
  }
  std::string header = request.get_header_value(kTransactionHeader);
  if (header.size() > limits::kArtifactTransactionHeaderBytesMax) {
    Refuse(response, kBadRequest, "malformed",
           std::string(kTransactionHeader) + " is longer than " +
               std::to_string(limits::kArtifactTransactionHeaderBytesMax) + " bytes");
    return false;
  }
  auto envelope = Base64Decode(header, limits::kArtifactTransactionBytesMax);
  if (!envelope) {
    Refuse(response, kBadRequest, "malformed",
           std::string(kTransactionHeader) + " is not valid base64: " + envelope.error().message());
    return false;
  }
  if (!authorize_) {
    Refuse(response, kForbidden, "forbidden", "this artifact store does not accept uploads");
    return false;
  }
  if (auto allowed = authorize_(*envelope, digest, total_bytes); !allowed) {
    auto [status, token] = StatusOf(allowed.error());
    Refuse(response, status, token, allowed.error().message());
    spdlog::info("artifacts upload_refused digest={} status={} reason={}", DigestToHex(digest),
                 status, LogValue(allowed.error().message()));
    return false;
  }
  return true;
}

void Handlers::PutArtifact(const httplib::Request& request, httplib::Response& response,
                           const httplib::ContentReader& content_reader) const {
  auto refuse = [&](int status, const char* token, std::string message) {
    Refuse(response, status, token, std::move(message));
    DrainBody(request, response, content_reader);
  };
  auto digest = DigestFromHex(request.matches[1].str());
  if (!digest) {
    return refuse(kBadRequest, "malformed", "the path must name a lower-case hex SHA-256");
  }
  if (auto size = store_->StoredSize(*digest)) {
    response.set_header(kUploadOffsetHeader, std::to_string(*size));
    return refuse(kConflict, "already-stored", "the artifact " + DigestToHex(*digest) +
                                                   " is already stored");
  }
  if (!request.has_header("Content-Length")) {
    return refuse(kLengthRequired, "length-required", "an upload chunk needs a Content-Length");
  }
  auto length = ParseDecimal(request.get_header_value("Content-Length"));
  if (!length) return refuse(kBadRequest, "malformed", "Content-Length is not a number");
  uint64_t first = 0;
  uint64_t total = *length;
  if (request.has_header("Content-Range")) {
    std::string value = request.get_header_value("Content-Range");
    if (auto completion = ParseCompletionRange(value)) {
      if (*length != 0) {
        return refuse(kBadRequest, "malformed", "'bytes */N' is sent with an empty body");
      }
      first = *completion;
      total = *completion;
    } else {
      auto range = ParseContentRange(value);
      if (!range) return refuse(kBadRequest, "malformed", range.error().message());
      if (range->range.length_bytes() != *length) {
        return refuse(kBadRequest, "malformed",
                      "Content-Range names " + std::to_string(range->range.length_bytes()) +
                          " bytes but Content-Length is " + std::to_string(*length));
      }
      first = range->range.first;
      total = range->total_bytes;
    }
  }
  if (total > store_->options().artifact_bytes_max) {
    return refuse(kPayloadTooLarge, "too-large",
                  "the artifact is " + std::to_string(total) + " bytes; this store keeps at most " +
                      std::to_string(store_->options().artifact_bytes_max));
  }
  if (!Authorize(request, response, *digest, total)) {
    DrainBody(request, response, content_reader);
    return;
  }
  auto session = store_->BeginUpload(*digest, total, first);
  if (!session) {
    const Error& error = session.error();
    if (error.code() == ErrorCode::kRefused || error.code() == ErrorCode::kUnavailable) {
      response.set_header(kUploadOffsetHeader,
                          std::to_string(store_->UploadOffset(*digest).value_or(0)));
      return refuse(kConflict, "offset-mismatch", error.message());
    }
    if (error.code() == ErrorCode::kAlreadyExists) {
      return refuse(kConflict, "already-stored", error.message());
    }
    auto [status, token] = StatusOf(error);
    return refuse(status, token, error.message());
  }
  UploadSession& upload = **session;
  std::optional<Error> append_error;
  content_reader([&](const char* data, size_t size) {
    if (auto appended = upload.Append(ByteSpan(reinterpret_cast<const uint8_t*>(data), size));
        !appended) {
      append_error = appended.error();
      return false;
    }
    return true;
  });
  if (append_error) {
    response.set_header("Connection", "close");
    auto [status, token] = StatusOf(*append_error);
    Refuse(response, status, token, append_error->message());
    return;
  }
  response.set_header(kUploadOffsetHeader, std::to_string(upload.offset_bytes()));
  if (upload.offset_bytes() != first + *length) {
    Refuse(response, kBadRequest, "short-body",
           "the body ended after " + std::to_string(upload.offset_bytes() - first) + " of " +
               std::to_string(*length) + " bytes; resume at the offset");
    return;
  }
  if (!upload.complete()) {
    response.status = kOk;
    response.set_content(OffsetBody(upload.offset_bytes()), "application/json");
    return;
  }
  if (auto finished = upload.Finish(); !finished) {
    if (finished.error().code() == ErrorCode::kCorruption) {
      response.set_header(kUploadOffsetHeader, "0");
      Refuse(response, kUnprocessable, "digest-mismatch", finished.error().message());
    } else if (finished.error().code() == ErrorCode::kAlreadyExists) {
      Refuse(response, kConflict, "already-stored", finished.error().message());
    } else {
      Refuse(response, kInternalError, "internal", finished.error().message());
    }
    spdlog::warn("artifacts upload_failed digest={} reason={}", DigestToHex(*digest),
                 LogValue(finished.error().message()));
    return;
  }
  spdlog::info("artifacts stored digest={} bytes={}", DigestToHex(*digest), total);
  response.status = kCreated;
  response.set_content(OffsetBody(total), "application/json");
}

void Handlers::GetUpload(const httplib::Request& request, httplib::Response& response) const {
  auto digest = DigestFromHex(request.matches[1].str());
  if (!digest) {
    Refuse(response, kBadRequest, "malformed", "the path must name a lower-case hex SHA-256");
    return;
  }
  if (auto size = store_->StoredSize(*digest)) {
    response.set_header(kUploadOffsetHeader, std::to_string(*size));
    Refuse(response, kConflict, "already-stored",
           "the artifact " + DigestToHex(*digest) + " is already stored");
    return;
  }
  if (request.has_header(kTransactionHeader)) {
    auto total = ParseDecimal(request.get_header_value(kUploadLengthHeader));
    if (!total) {
      Refuse(response, kBadRequest, "malformed",
             std::string(kUploadLengthHeader) + " must accompany the transaction");
      return;
    }
    if (*total > store_->options().artifact_bytes_max) {
      Refuse(response, kPayloadTooLarge, "too-large",
             "the artifact is " + std::to_string(*total) + " bytes; this store keeps at most " +
                 std::to_string(store_->options().artifact_bytes_max));
      return;
    }
    if (!Authorize(request, response, *digest, *total)) return;
  }
  uint64_t offset = store_->UploadOffset(*digest).value_or(0);
  response.set_header(kUploadOffsetHeader, std::to_string(offset));
  response.set_header("Cache-Control", "no-store");
  response.status = kOk;
  response.set_content(OffsetBody(offset), "application/json");
}

}  // namespace

ArtifactServer::ArtifactServer(std::shared_ptr<ArtifactStore> store, ArtifactServerOptions options)
    : store_(std::move(store)), options_(std::move(options)) {}

ArtifactServer::~ArtifactServer() { Stop(); }

Expected<std::unique_ptr<ArtifactServer>> ArtifactServer::Start(
    std::shared_ptr<ArtifactStore> store, ArtifactServerOptions options) {
  if (!store) return Fail(ErrorCode::kInvalidArgument, "the artifact server needs a store");
  if (options.threads == 0) {
    return Fail(ErrorCode::kInvalidArgument, "the artifact server needs at least one thread");
  }
  std::unique_ptr<ArtifactServer> server(new ArtifactServer(std::move(store), std::move(options)));
  VIGIL_RETURN_IF_ERROR(server->Listen());
  return server;
}

Status ArtifactServer::Listen() {
  if (options_.credentials) {
    const pki::NodeCredentials& credentials = *options_.credentials;
    server_ = std::make_unique<httplib::SSLServer>([&credentials](SSL_CTX& context) {
      // TLS 1.2 as the floor rather than 1.3: caches and CDNs that fetch from the store are
      // not all on 1.3. No client certificate is requested (see the header).
      return SSL_CTX_set_min_proto_version(&context, TLS1_2_VERSION) == 1 &&
             SSL_CTX_use_certificate(&context, credentials.certificate.x509()) == 1 &&
             SSL_CTX_use_PrivateKey(&context, credentials.key.evp_pkey()) == 1 &&
             SSL_CTX_check_private_key(&context) == 1;
    });
  } else {
    server_ = std::make_unique<httplib::Server>();
  }
  if (!server_->is_valid()) {
    return Fail(ErrorCode::kInvalidArgument,
                "the artifact server's TLS context could not be built from the node certificate");
  }
  const size_t threads = options_.threads;
  server_->new_task_queue = [threads] {
    return new BoundedThreadPool(threads, limits::kArtifactServerQueuedConnectionsMax);
  };
  server_->set_read_timeout(limits::kArtifactServerReadTimeout);
  server_->set_write_timeout(limits::kArtifactServerWriteTimeout);
  server_->set_keep_alive_timeout(limits::kArtifactServerKeepAliveTimeout.count());
  server_->set_keep_alive_max_count(limits::kArtifactServerKeepAliveRequestsMax);
  server_->set_payload_max_length(
      static_cast<size_t>(std::max<uint64_t>(store_->options().artifact_bytes_max,
                                             limits::kArtifactRefusedBodyDrainBytesMax)));
  Route();
  int port = 0;
  if (options_.port == 0) {
    port = server_->bind_to_any_port(options_.listen_address);
  } else {
    port = server_->bind_to_port(options_.listen_address, options_.port) ? options_.port : -1;
  }
  if (port <= 0) {
    return Fail(ErrorCode::kUnavailable, "the artifact server cannot listen on " +
                                             options_.listen_address + ":" +
                                             std::to_string(options_.port));
  }
  port_ = static_cast<uint16_t>(port);
  thread_ = std::thread([server = server_.get()] { server->listen_after_bind(); });
  // httplib's stop() only interrupts a listener that is already running: wait for it, so a
  // Stop right after Start cannot leave the thread accepting forever.
  const auto deadline = std::chrono::steady_clock::now() + kListenerStartTimeout;
  while (!server_->is_running()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return Fail(ErrorCode::kInternal, "the artifact server's listener did not start");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  spdlog::info("artifacts listening address={}:{} tls={}", options_.listen_address, port_,
               tls());
  return Ok();
}

void ArtifactServer::Route() {
  auto handlers = std::make_shared<Handlers>(store_, options_.authorize);
  server_->Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("ok\n", "text/plain");
  });
  server_->Get(kArtifactPattern,
               [handlers](const httplib::Request& request, httplib::Response& response) {
                 handlers->GetArtifact(request, response);
               });
  server_->Put(kArtifactPattern,
               [handlers](const httplib::Request& request, httplib::Response& response,
                          const httplib::ContentReader& content_reader) {
                 handlers->PutArtifact(request, response, content_reader);
               });
  server_->Get(kUploadPattern,
               [handlers](const httplib::Request& request, httplib::Response& response) {
                 handlers->GetUpload(request, response);
               });
  server_->set_exception_handler(
      [](const httplib::Request&, httplib::Response& response, std::exception_ptr) {
        Refuse(response, kInternalError, "internal", "the artifact server failed on this request");
      });
}

void ArtifactServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace vigil::artifacts
