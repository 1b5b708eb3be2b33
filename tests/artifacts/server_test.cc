// ArtifactServer and ArtifactClient over real TLS on loopback, with the real PublishAuthorizer
// and real signed publish transactions. Misbehaving mirrors (dropping, wrong or endless bytes)
// are small cpp-httplib servers in the test: they stand in for a broken mirror, not for the
// component under test (FetchArtifact).
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/ssl.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "artifacts/client.h"
#include "artifacts/http_headers.h"
#include "artifacts/publish_authorizer.h"
#include "artifacts/server.h"
#include "artifacts/store.h"
#include "common/file.h"
#include "common/log.h"
#include "ledger/transaction.h"
#include "test_support/temporary_directory.h"

namespace vigil::artifacts {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kChainId = "artifact-test";

Bytes Pattern(size_t size, uint8_t seed) {
  Bytes bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>((i * 131 + seed) ^ (i >> 9));
  return bytes;
}

crypto::PrivateKey KeyFromByte(uint8_t byte) {
  std::array<uint8_t, 32> seed{};
  seed.fill(byte);
  return std::move(*crypto::PrivateKey::FromSeed(seed));
}

std::string AsString(ByteSpan bytes) { return std::string(bytes.begin(), bytes.end()); }

// A plain-HTTP mirror that misbehaves on purpose.
class TestMirror {
 public:
  explicit TestMirror(std::function<void(const httplib::Request&, httplib::Response&)> handler) {
    server_.Get(R"(/v1/artifacts/sha256/([0-9a-f]+))", std::move(handler));
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() only interrupts a running listener.
    for (int i = 0; i < 5000 && !server_.is_running(); ++i) std::this_thread::sleep_for(1ms);
  }
  ~TestMirror() {
    server_.stop();
    thread_.join();
  }
  MirrorUrl url() const {
    return MirrorUrl{.scheme = "http", .host = "127.0.0.1", .port = static_cast<uint16_t>(port_),
                     .path_prefix = ""};
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

class ArtifactServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::warn);
    const auto ca = directory_.path() / "ca";
    ASSERT_TRUE(pki::InitCaDirectory(ca, "artifact-test-ca", 3650).has_value());
    ASSERT_TRUE(pki::IssueToDirectory(ca, pki::Role::kPeer, "peer-1", 365, directory_.path() / "node",
                                      std::nullopt)
                    .has_value());
    ca_file_ = directory_.path() / "node" / "ca.pem";
    authorizer_ = std::make_shared<PublishAuthorizer>(std::string(kChainId));
    authorizer_->SetPublishers({publisher_.public_key()});
    StartServer();
  }

  void StartServer(uint64_t artifact_bytes_max = 16 * 1024 * 1024) {
    server_.reset();
    store_.reset();
    auto store = ArtifactStore::Open({.directory = directory_.path() / "store",
                                      .artifact_bytes_max = artifact_bytes_max,
                                      .uploads_max = 4,
                                      .partial_age_max = std::chrono::hours(1)});
    ASSERT_TRUE(store.has_value()) << store.error().message();
    store_ = std::move(*store);
    auto credentials = pki::LoadNodeDirectory(directory_.path() / "node");
    ASSERT_TRUE(credentials.has_value());
    auto server = ArtifactServer::Start(
        store_, {.listen_address = "127.0.0.1", .port = 0, .credentials = std::move(*credentials),
                 .threads = 4, .authorize = PublishAuthorizer::AsFunction(authorizer_)});
    ASSERT_TRUE(server.has_value()) << server.error().message();
    server_ = std::move(*server);
  }

  MirrorUrl Url() const {
    return MirrorUrl{.scheme = "https", .host = "127.0.0.1", .port = server_->port(),
                     .path_prefix = ""};
  }

  // Writes a bundle file; returns its path.
  std::filesystem::path WriteBundle(const Bytes& bytes, std::string_view name = "bundle.tar.zst") {
    auto path = directory_.path() / name;
    EXPECT_TRUE(WriteFileAtomically(path, bytes, 0644).has_value());
    return path;
  }

  Bytes Publish(const crypto::PrivateKey& signer, const Bytes& bundle, std::string version = "1.0.0",
                std::optional<uint64_t> size = std::nullopt) {
    ledger::PublishRelease body{.app = "press-control", .version = std::move(version),
                                .bundle_digest = crypto::Sha256(bundle),
                                .bundle_size_bytes = size.value_or(bundle.size()),
                                .manifest_root = crypto::Sha256(ToBytes("manifest")),
                                .notes = ""};
    return ledger::SignTransaction(kChainId, body, 1, signer);
  }

  UploadOptions SmallChunks() {
    UploadOptions options;
    options.connection.ca_file = ca_file_;
    options.chunk_bytes = 64 * 1024;
    options.retry_delay = 10ms;
    return options;
  }

  FetchOptions Fetching() {
    FetchOptions options;
    options.connection.ca_file = ca_file_;
    options.connection.read_timeout = 5s;
    options.total_timeout = 20s;
    options.retry_delay = 10ms;
    return options;
  }

  Status Upload(const Bytes& bundle, const Bytes& envelope) {
    return UploadArtifact(Url(), WriteBundle(bundle), envelope, nullptr, SmallChunks());
  }

  // A raw HTTPS client trusting the test CA (OpenSSL checks the chain; see client.cc).
  std::unique_ptr<httplib::SSLClient> RawClient() {
    auto client = std::make_unique<httplib::SSLClient>("127.0.0.1", server_->port());
    client->enable_server_certificate_verification(false);
    SSL_CTX_set_verify(client->ssl_context(), SSL_VERIFY_PEER, nullptr);
    EXPECT_EQ(SSL_CTX_load_verify_locations(client->ssl_context(), ca_file_.c_str(), nullptr), 1);
    client->set_read_timeout(5s);
    client->set_connection_timeout(5s);
    return client;
  }

  std::string Path(const Bytes& bundle) { return ArtifactPath(Url(), crypto::Sha256(bundle)); }

  test_support::TemporaryDirectory directory_{"vigil-artifact-server"};
  std::filesystem::path ca_file_;
  crypto::PrivateKey publisher_ = KeyFromByte(7);
  std::shared_ptr<PublishAuthorizer> authorizer_;
  std::shared_ptr<ArtifactStore> store_;
  std::unique_ptr<ArtifactServer> server_;
};

TEST_F(ArtifactServerTest, GetServesTheWholeArtifactWithImmutableCacheHeaders) {
  Bytes bundle = Pattern(300'000, 1);
  ASSERT_TRUE(Upload(bundle, Publish(publisher_, bundle)).has_value());
  auto client = RawClient();
  auto response = client->Get(Path(bundle));
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, AsString(bundle));
  EXPECT_EQ(response->get_header_value("ETag"), "\"" + DigestToHex(crypto::Sha256(bundle)) + "\"");
  EXPECT_EQ(response->get_header_value("Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(response->get_header_value("Accept-Ranges"), "bytes");
  EXPECT_EQ(response->get_header_value("Content-Length"), "300000");

  auto health = client->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto unknown = client->Get(ArtifactPath(Url(), crypto::Sha256(ToBytes("nothing"))));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  auto malformed = client->Get("/v1/artifacts/sha256/ABC");
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);
  auto cached = client->Get(Path(bundle), {{"If-None-Match", response->get_header_value("ETag")}});
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->status, 304);
  EXPECT_TRUE(cached->body.empty());
}

TEST_F(ArtifactServerTest, GetServesOneRangeAnd416WhenUnsatisfiable) {
  Bytes bundle = Pattern(100'000, 2);
  ASSERT_TRUE(Upload(bundle, Publish(publisher_, bundle)).has_value());
  auto client = RawClient();
  struct Case {
    std::string range;
    uint64_t first;
    uint64_t last;
  };
  for (const Case& c : {Case{"bytes=10-19", 10, 19}, Case{"bytes=99990-", 99990, 99999},
                        Case{"bytes=-7", 99993, 99999}, Case{"bytes=50000-999999", 50000, 99999},
                        Case{"bytes=0-0", 0, 0}}) {
    auto response = client->Get(Path(bundle), {{"Range", c.range}});
    ASSERT_TRUE(response) << c.range;
    EXPECT_EQ(response->status, 206) << c.range;
    EXPECT_EQ(response->get_header_value("Content-Range"),
              "bytes " + std::to_string(c.first) + "-" + std::to_string(c.last) + "/100000")
        << c.range;
    EXPECT_EQ(response->get_header_value("Content-Length"), std::to_string(c.last - c.first + 1));
    EXPECT_EQ(response->body, AsString(ByteSpan(bundle).subspan(c.first, c.last - c.first + 1)))
        << c.range;
  }
  for (const char* range : {"bytes=100000-", "bytes=-0", "bytes=200000-300000"}) {
    auto response = client->Get(Path(bundle), {{"Range", range}});
    ASSERT_TRUE(response) << range;
    EXPECT_EQ(response->status, 416) << range;
    EXPECT_EQ(response->get_header_value("Content-Range"), "bytes */100000");
  }
  // Several ranges are not served as multipart: the whole artifact comes back.
  auto several = client->Get(Path(bundle), {{"Range", "bytes=0-1,5-6"}});
  ASSERT_TRUE(several);
  EXPECT_EQ(several->status, 200);
  EXPECT_EQ(several->body.size(), bundle.size());
}

TEST_F(ArtifactServerTest, HeadAnswersHeadersWithoutABody) {
  Bytes bundle = Pattern(5000, 3);
  ASSERT_TRUE(Upload(bundle, Publish(publisher_, bundle)).has_value());
  auto client = RawClient();
  auto response = client->Head(Path(bundle));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->get_header_value("Content-Length"), "5000");
  EXPECT_EQ(response->get_header_value("Accept-Ranges"), "bytes");
  EXPECT_TRUE(response->body.empty());
  auto ranged = client->Head(Path(bundle), {{"Range", "bytes=100-199"}});
  ASSERT_TRUE(ranged);
  EXPECT_EQ(ranged->status, 206);
  EXPECT_EQ(ranged->get_header_value("Content-Length"), "100");
  auto missing = client->Head(ArtifactPath(Url(), crypto::Sha256(ToBytes("no"))));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST_F(ArtifactServerTest, UploadInChunksWithProgressThenFetch) {
  Bytes bundle = Pattern(1'000'000, 4);
  std::vector<uint64_t> progress;
  auto uploaded = UploadArtifact(
      Url(), WriteBundle(bundle), Publish(publisher_, bundle),
      [&](uint64_t done, uint64_t total) {
        EXPECT_EQ(total, bundle.size());
        progress.push_back(done);
      },
      SmallChunks());
  ASSERT_TRUE(uploaded.has_value()) << uploaded.error().message();
  ASSERT_GE(progress.size(), 16u);  // 1,000,000 / 65,536 chunks, plus the start and the end
  EXPECT_EQ(progress.front(), 0u);
  EXPECT_EQ(progress.back(), bundle.size());
  EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));
  EXPECT_EQ(store_->StoredSize(crypto::Sha256(bundle)), bundle.size());

  auto partial = directory_.path() / "fetched.partial";
  auto fetched = FetchArtifact(Url(), crypto::Sha256(bundle), bundle.size(), partial, Fetching());
  ASSERT_TRUE(fetched.has_value()) << fetched.error().message();
  EXPECT_EQ(fetched->bytes_transferred, bundle.size());
  EXPECT_EQ(fetched->resumed_from_bytes, 0u);
  EXPECT_EQ(ReadFile(partial, 2'000'000).value(), bundle);
}

TEST_F(ArtifactServerTest, FetchResumesFromAPartialFileAndAfterADroppedConnection) {
  Bytes bundle = Pattern(400'000, 5);
  ASSERT_TRUE(Upload(bundle, Publish(publisher_, bundle)).has_value());
  // What an earlier, interrupted fetch left behind.
  auto partial = directory_.path() / "resume.partial";
  ASSERT_TRUE(WriteFileAtomically(partial, ByteSpan(bundle).first(123'456), 0644).has_value());
  auto fetched = FetchArtifact(Url(), crypto::Sha256(bundle), bundle.size(), partial, Fetching());
  ASSERT_TRUE(fetched.has_value()) << fetched.error().message();
  EXPECT_EQ(fetched->resumed_from_bytes, 123'456u);
  EXPECT_EQ(fetched->bytes_transferred, bundle.size() - 123'456);
  EXPECT_EQ(ReadFile(partial, 1'000'000).value(), bundle);

  // A mirror that drops the first connection half-way, then serves Range requests (cpp-httplib's
  // own Range handling: any ordinary HTTP server).
  std::atomic<int> requests{0};
  std::vector<std::string> ranges;
  std::mutex ranges_mutex;
  TestMirror dropping([&](const httplib::Request& request, httplib::Response& response) {
    int number = ++requests;
    {
      std::lock_guard lock(ranges_mutex);
      ranges.push_back(request.get_header_value("Range"));
    }
    response.set_content_provider(
        bundle.size(), "application/octet-stream",
        [&bundle, number](size_t offset, size_t length, httplib::DataSink& sink) {
          if (number == 1 && offset >= 200'000) return false;  // the connection breaks
          size_t size = std::min<size_t>(length, 50'000);
          return sink.write(reinterpret_cast<const char*>(bundle.data() + offset), size);
        });
  });
  auto second = directory_.path() / "dropped.partial";
  auto resumed = FetchArtifact(dropping.url(), crypto::Sha256(bundle), bundle.size(), second,
                               Fetching());
  ASSERT_TRUE(resumed.has_value()) << resumed.error().message();
  EXPECT_EQ(resumed->attempts, 2u);
  EXPECT_EQ(ReadFile(second, 1'000'000).value(), bundle);
  std::lock_guard lock(ranges_mutex);
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[0], "");
  EXPECT_EQ(ranges[1], "bytes=200000-");
}

TEST_F(ArtifactServerTest, FetchDetectsWrongBytesAndDeletesThePartial) {
  Bytes bundle = Pattern(70'000, 6);
  Bytes wrong = bundle;
  wrong[69'999] ^= 0x80;
  TestMirror lying([&](const httplib::Request&, httplib::Response& response) {
    response.set_content(AsString(wrong), "application/octet-stream");
  });
  auto partial = directory_.path() / "wrong.partial";
  auto fetched = FetchArtifact(lying.url(), crypto::Sha256(bundle), bundle.size(), partial,
                               Fetching());
  ASSERT_FALSE(fetched.has_value());
  EXPECT_EQ(fetched.error().code(), ErrorCode::kCorruption);
  EXPECT_NE(fetched.error().message().find("SHA-256"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(partial));

  // More bytes than the ledger's size, announced up front.
  TestMirror longer([&](const httplib::Request&, httplib::Response& response) {
    response.set_content(AsString(bundle) + "extra", "application/octet-stream");
  });
  auto too_long = FetchArtifact(longer.url(), crypto::Sha256(bundle), bundle.size(), partial,
                                Fetching());
  ASSERT_FALSE(too_long.has_value());
  EXPECT_EQ(too_long.error().code(), ErrorCode::kCorruption);
}

TEST_F(ArtifactServerTest, FetchStopsAMirrorSendingEndlessBytes) {
  Bytes bundle = Pattern(100'000, 7);
  std::atomic<bool> stop{false};
  TestMirror endless([&](const httplib::Request&, httplib::Response& response) {
    response.set_chunked_content_provider(
        "application/octet-stream", [&](size_t, httplib::DataSink& sink) {
          std::string block(64 * 1024, 'x');
          return !stop && sink.write(block.data(), block.size());
        });
  });
  auto partial = directory_.path() / "endless.partial";
  auto start = std::chrono::steady_clock::now();
  auto fetched = FetchArtifact(endless.url(), crypto::Sha256(bundle), bundle.size(), partial,
                               Fetching());
  stop = true;
  ASSERT_FALSE(fetched.has_value());
  EXPECT_EQ(fetched.error().code(), ErrorCode::kCorruption);
  EXPECT_NE(fetched.error().message().find("more than"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_FALSE(std::filesystem::exists(partial));
}

TEST_F(ArtifactServerTest, FetchRefusesAServerCertificateFromAnotherCa) {
  Bytes bundle = Pattern(1000, 8);
  ASSERT_TRUE(Upload(bundle, Publish(publisher_, bundle)).has_value());
  const auto other = directory_.path() / "other-ca";
  ASSERT_TRUE(pki::InitCaDirectory(other, "other-ca", 3650).has_value());
  FetchOptions options = Fetching();
  options.connection.ca_file = other / "ca.pem";
  options.attempts = 1;
  auto partial = directory_.path() / "untrusted.partial";
  auto fetched = FetchArtifact(Url(), crypto::Sha256(bundle), bundle.size(), partial, options);
  ASSERT_FALSE(fetched.has_value());
  EXPECT_EQ(fetched.error().code(), ErrorCode::kUnavailable);
  // Without a CA file the system store is used, which does not know the fleet CA either.
  options.connection.ca_file.reset();
  EXPECT_FALSE(FetchArtifact(Url(), crypto::Sha256(bundle), bundle.size(), partial, options)
                   .has_value());
  // Plain http:// to the https port fails too, and nothing was accepted.
  EXPECT_EQ(std::filesystem::file_size(partial), 0u);
}

TEST_F(ArtifactServerTest, EveryUploadRefusalHasItsStatusAndReason) {
  Bytes bundle = Pattern(200'000, 9);
  const Bytes envelope = Publish(publisher_, bundle);
  auto expect_refused = [&](const Bytes& bytes, const Bytes& transaction, ErrorCode code,
                            std::string_view reason_part) {
    auto uploaded = Upload(bytes, transaction);
    ASSERT_FALSE(uploaded.has_value()) << reason_part;
    EXPECT_EQ(uploaded.error().code(), code) << uploaded.error().message();
    EXPECT_NE(uploaded.error().message().find(reason_part), std::string::npos)
        << uploaded.error().message();
  };
  // A bad signature.
  Bytes forged = envelope;
  forged[forged.size() - 1] ^= 1;
  expect_refused(bundle, forged, ErrorCode::kUnauthenticated, "HTTP 401");
  // A signer who is not a publisher.
  expect_refused(bundle, Publish(KeyFromByte(8), bundle), ErrorCode::kPermissionDenied,
                 "is not a publisher");
  // A transaction for other bytes, and one with another size.
  expect_refused(bundle, Publish(publisher_, Pattern(10, 1)), ErrorCode::kPermissionDenied,
                 "publishes bundle");
  expect_refused(bundle, Publish(publisher_, bundle, "1.0.0", bundle.size() + 1),
                 ErrorCode::kPermissionDenied, "bytes");
  // Not a publish transaction at all.
  Bytes enroll = ledger::SignTransaction(
      kChainId, ledger::EnrollDevice{.device_key = publisher_.public_key(), .group = "g", .labels = {}},
      1, publisher_);
  expect_refused(bundle, enroll, ErrorCode::kInvalidArgument, "not a publish transaction");
  // An already published release.
  authorizer_->AddPublished("press-control", "0.9.0");
  expect_refused(bundle, Publish(publisher_, bundle, "0.9.0"), ErrorCode::kAlreadyExists,
                 "already published");
  EXPECT_FALSE(store_->UploadOffset(crypto::Sha256(bundle)).has_value());  // nothing was written

  // Raw requests: no transaction, a chunk at the wrong offset, bytes that do not match.
  auto client = RawClient();
  const std::string transaction = Base64Encode(envelope);
  const std::string body = AsString(ByteSpan(bundle).first(1000));
  auto none = client->Put(Path(bundle), {{"Content-Range", "bytes 0-999/200000"}}, body,
                          "application/octet-stream");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->get_header_value(kErrorHeader), "missing-transaction");
  auto first = client->Put(Path(bundle),
                           {{kTransactionHeader, transaction}, {"Content-Range", "bytes 0-999/200000"}},
                           body, "application/octet-stream");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->get_header_value(kUploadOffsetHeader), "1000");
  auto skipped = client->Put(
      Path(bundle), {{kTransactionHeader, transaction}, {"Content-Range", "bytes 5000-5999/200000"}},
      body, "application/octet-stream");
  ASSERT_TRUE(skipped);
  EXPECT_EQ(skipped->status, 409);
  EXPECT_EQ(skipped->get_header_value(kErrorHeader), "offset-mismatch");
  EXPECT_EQ(skipped->get_header_value(kUploadOffsetHeader), "1000");
  auto status = client->Get(UploadStatusPath(Url(), crypto::Sha256(bundle)));
  ASSERT_TRUE(status);
  EXPECT_EQ(status->status, 200);
  EXPECT_EQ(status->get_header_value(kUploadOffsetHeader), "1000");
  auto head = client->Head(Path(bundle));  // the partial is reported, never served
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 404);
  EXPECT_EQ(head->get_header_value(kUploadOffsetHeader), "1000");
  auto mismatched_length = client->Put(
      Path(bundle), {{kTransactionHeader, transaction}, {"Content-Range", "bytes 1000-1999/200000"}},
      "short", "application/octet-stream");
  ASSERT_TRUE(mismatched_length);
  EXPECT_EQ(mismatched_length->status, 400);

  // The rest with one byte changed: the digest check at the end fails and the partial goes.
  std::string rest = AsString(ByteSpan(bundle).subspan(1000));
  rest[rest.size() / 2] ^= 1;
  auto wrong = client->Put(
      Path(bundle), {{kTransactionHeader, transaction}, {"Content-Range", "bytes 1000-199999/200000"}},
      rest, "application/octet-stream");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 422);
  EXPECT_EQ(wrong->get_header_value(kErrorHeader), "digest-mismatch");
  EXPECT_FALSE(store_->UploadOffset(crypto::Sha256(bundle)).has_value());
  EXPECT_FALSE(store_->StoredSize(crypto::Sha256(bundle)).has_value());

  // Now the real upload, then again: already stored.
  ASSERT_TRUE(Upload(bundle, envelope).has_value());
  expect_refused(bundle, envelope, ErrorCode::kAlreadyExists, "already stored");
}

TEST_F(ArtifactServerTest, TooLargeIsRefusedBeforeAnyByteIsSent) {
  StartServer(/*artifact_bytes_max=*/100'000);
  Bytes bundle = Pattern(100'001, 10);
  auto uploaded = Upload(bundle, Publish(publisher_, bundle));
  ASSERT_FALSE(uploaded.has_value());
  EXPECT_EQ(uploaded.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(uploaded.error().message().find("413"), std::string::npos);
  // A raw chunk claiming the too-large total is refused as well, and its body drained so the
  // client reads the answer.
  auto client = RawClient();
  auto raw = client->Put(Path(bundle),
                         {{kTransactionHeader, Base64Encode(Publish(publisher_, bundle))},
                          {"Content-Range", "bytes 0-65535/100001"}},
                         std::string(65536, 'a'), "application/octet-stream");
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->status, 413);
}

TEST_F(ArtifactServerTest, APartialLeftByAStoppedServerIsResumedOrDiscardedNeverServed) {
  Bytes bundle = Pattern(500'000, 11);
  const Bytes envelope = Publish(publisher_, bundle);
  const auto digest = crypto::Sha256(bundle);
  {
    auto client = RawClient();
    auto first = client->Put(Path(bundle),
                             {{kTransactionHeader, Base64Encode(envelope)},
                              {"Content-Range", "bytes 0-199999/500000"}},
                             AsString(ByteSpan(bundle).first(200'000)), "application/octet-stream");
    ASSERT_TRUE(first);
    ASSERT_EQ(first->status, 200);
  }
  // The server goes away (its store with it) and a new one starts on the same directory.
  StartServer();
  auto client = RawClient();
  auto get = client->Get(Path(bundle));
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 404);
  EXPECT_EQ(get->get_header_value(kUploadOffsetHeader), "200000");
  std::vector<uint64_t> progress;
  auto uploaded = UploadArtifact(Url(), WriteBundle(bundle), envelope,
                                 [&](uint64_t done, uint64_t) { progress.push_back(done); },
                                 SmallChunks());
  ASSERT_TRUE(uploaded.has_value()) << uploaded.error().message();
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.front(), 200'000u);  // resumed, not restarted
  EXPECT_EQ(store_->StoredSize(digest), bundle.size());

  // A partial whose last chunk arrived but was never committed (killed between the two) is
  // completed by an empty PUT with 'bytes */total'.
  Bytes second = Pattern(300'000, 12);
  const Bytes second_envelope = Publish(publisher_, second, "2.0.0");
  server_.reset();
  {
    auto session = store_->BeginUpload(crypto::Sha256(second), second.size(), 0);
    ASSERT_TRUE(session.has_value());
    ASSERT_TRUE((*session)->Append(second).has_value());  // no Finish: the "kill"
  }
  StartServer();
  EXPECT_FALSE(store_->StoredSize(crypto::Sha256(second)).has_value());
  auto completed = UploadArtifact(Url(), WriteBundle(second, "second"), second_envelope, nullptr,
                                  SmallChunks());
  ASSERT_TRUE(completed.has_value()) << completed.error().message();
  EXPECT_EQ(store_->StoredSize(crypto::Sha256(second)), second.size());

  // A torn partial (garbage where a crash left it) fails the digest check and is discarded;
  // the next upload starts over and succeeds.
  Bytes third = Pattern(100'000, 13);
  const Bytes third_envelope = Publish(publisher_, third, "3.0.0");
  server_.reset();
  {
    auto session = store_->BeginUpload(crypto::Sha256(third), third.size(), 0);
    ASSERT_TRUE(session.has_value());
    ASSERT_TRUE((*session)->Append(Bytes(50'000, 0)).has_value());
  }
  StartServer();
  auto torn = UploadArtifact(Url(), WriteBundle(third, "third"), third_envelope, nullptr,
                             SmallChunks());
  ASSERT_FALSE(torn.has_value());
  EXPECT_EQ(torn.error().code(), ErrorCode::kCorruption);
  EXPECT_FALSE(store_->UploadOffset(crypto::Sha256(third)).has_value());
  EXPECT_FALSE(store_->StoredSize(crypto::Sha256(third)).has_value());
  ASSERT_TRUE(UploadArtifact(Url(), WriteBundle(third, "third"), third_envelope, nullptr,
                             SmallChunks())
                  .has_value());
  EXPECT_EQ(store_->StoredSize(crypto::Sha256(third)), third.size());
}

TEST(MirrorUrlTest, ParsesSchemesPortsPrefixesAndRefusesTheRest) {
  auto url = ParseMirrorUrl("https://peer-1.plant:8443/cache/");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(*url, (MirrorUrl{.scheme = "https", .host = "peer-1.plant", .port = 8443,
                             .path_prefix = "/cache"}));
  EXPECT_EQ(url->ToString(), "https://peer-1.plant:8443/cache");
  EXPECT_EQ(ParseMirrorUrl("http://cache").value().port, 80);
  EXPECT_EQ(ParseMirrorUrl("https://[::1]:9000").value().host, "::1");
  for (const char* bad : {"ftp://x", "https://", "https://:80", "https://h:0", "https://h:70000",
                          "https://h:", "https://u@h", "https://h/?q", "file:///tmp"}) {
    EXPECT_FALSE(ParseMirrorUrl(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace vigil::artifacts
