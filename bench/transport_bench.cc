// Transport throughput over one mutually authenticated TLS 1.3 connection on loopback.
// The server runs on its own thread and io_context; the benchmark thread is the client.
//
//   build/default/bench/bench_transport --benchmark_min_time=0.5
//
// Targets (docs/transport.md): >= 1 GB/s with 1 MiB frames, >= 100,000 messages/s with
// 256-byte frames. Time is wall-clock (UseRealTime) from the first Send until the server
// has received the last frame.
#include <benchmark/benchmark.h>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <atomic>
#include <thread>

#include "common/assert.h"
#include "transport/client.h"
#include "transport/server.h"

namespace vigil::transport {
namespace {

constexpr FrameType kBenchType = kFrameTypeApplicationFirst;

crypto::PrivateKey NewKey() {
  auto key = crypto::PrivateKey::Generate();
  VIGIL_ASSERT(key.has_value());
  return std::move(*key);
}

struct Fleet {
  crypto::PrivateKey ca_key = NewKey();
  pki::Certificate ca = *pki::CreateCaCertificate(
      ca_key, "bench-ca", pki::Validity::ForDays(std::chrono::system_clock::now(), 30));

  pki::NodeCredentials Issue(pki::Role role, const char* name) const {
    crypto::PrivateKey key = NewKey();
    auto certificate =
        pki::IssueCertificate(ca, ca_key, key.public_key(), role, name,
                              pki::Validity::ForDays(std::chrono::system_clock::now(), 1));
    VIGIL_ASSERT(certificate.has_value());
    return pki::NodeCredentials{*certificate, std::move(key), ca};
  }
};

// One server thread, one client session, driven from the benchmark thread.
class Loopback {
 public:
  explicit Loopback(size_t frame_payload_bytes_max) {
    Fleet fleet;
    auto server_tls =
        TlsContext::Create(fleet.Issue(pki::Role::kGateway, "gateway"), TlsSide::kServer);
    auto client_tls =
        TlsContext::Create(fleet.Issue(pki::Role::kDevice, "device"), TlsSide::kClient);
    VIGIL_ASSERT(server_tls && client_tls);

    ServerOptions server_options;
    server_options.connection.allowed_peer_roles = {pki::Role::kDevice};
    server_options.connection.frame_payload_bytes_max = frame_payload_bytes_max;
    Handlers server_handlers;
    server_handlers.on_frame = [this](const ConnectionPointer&, FrameType, ByteSpan payload) {
      received_bytes_.fetch_add(payload.size(), std::memory_order_relaxed);
      received_frames_.fetch_add(1, std::memory_order_release);
    };
    auto server = Server::Create(server_io_, *server_tls, server_options, server_handlers);
    VIGIL_ASSERT(server.has_value());
    server_ = std::move(*server);
    server_thread_ = std::thread([this] { server_io_.run(); });

    DialOptions dial;
    dial.port = server_->port();
    dial.connection.allowed_peer_roles = {pki::Role::kGateway};
    dial.connection.frame_payload_bytes_max = frame_payload_bytes_max;
    Handlers handlers;
    handlers.on_open = [this](const ConnectionPointer&) { open_ = true; };
    handlers.on_writable = [this](const ConnectionPointer&) { writable_ = true; };
    handlers.on_close = [this](const ConnectionPointer&, const Error& reason) {
      closed_ = true;
      if (reason.code() != ErrorCode::kUnavailable) {
        fprintf(stderr, "bench session closed: %s\n", reason.ToString().c_str());
      }
    };
    connection_ = Dial(client_io_, *client_tls, dial, handlers);
    while (!open_ && !closed_) client_io_.run_one();
    VIGIL_ASSERT(open_);
  }

  ~Loopback() {
    connection_->Close("benchmark done");
    while (!closed_) client_io_.run_one();
    asio::post(server_io_, [this] { server_.reset(); });
    server_thread_.join();
  }

  // Queues one frame, running the client's event loop while the send queue is full.
  template <typename Payload>
  void Send(const Payload& payload) {
    while (true) {
      Status sent = connection_->Send(kBenchType, payload);
      if (sent) break;
      VIGIL_ASSERT(sent.error().code() == ErrorCode::kResourceExhausted);
      writable_ = false;
      while (!writable_ && !closed_) client_io_.run_one();
      VIGIL_ASSERT(!closed_);
    }
    // Let write completions run now and then so the pipeline never idles.
    if ((++sent_frames_ & 31) == 0) client_io_.poll();
  }

  // Runs the client until the server has every frame sent so far.
  void Drain() {
    while (received_frames_.load(std::memory_order_acquire) < sent_frames_) {
      client_io_.run_for(std::chrono::milliseconds(1));
    }
  }

  std::string cipher() { return connection_->cipher(); }

 private:
  asio::io_context server_io_;
  asio::io_context client_io_;
  std::unique_ptr<Server> server_;
  std::thread server_thread_;
  ConnectionPointer connection_;
  bool open_ = false;
  bool closed_ = false;
  bool writable_ = true;
  uint64_t sent_frames_ = 0;
  std::atomic<uint64_t> received_bytes_{0};
  std::atomic<uint64_t> received_frames_{0};
};

void BM_TransportLargeFrames(benchmark::State& state) {
  const auto frame_bytes = static_cast<size_t>(state.range(0));
  Loopback loopback(limits::kFramePayloadBytesMax);
  // Shared: the benchmark measures the transport, not a 1 MiB copy per Send.
  auto payload = std::make_shared<const Bytes>(Bytes(frame_bytes, 0xA5));
  for (auto _ : state) loopback.Send(payload);
  loopback.Drain();
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * frame_bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(loopback.cipher());
}
BENCHMARK(BM_TransportLargeFrames)->Arg(64 * 1024)->Arg(1024 * 1024)->UseRealTime();

void BM_TransportSmallFrames(benchmark::State& state) {
  const auto frame_bytes = static_cast<size_t>(state.range(0));
  Loopback loopback(limits::kFramePayloadBytesDefault);
  Bytes payload(frame_bytes, 0x5A);
  // Copying Send: what an application sending small messages does.
  for (auto _ : state) loopback.Send(ByteSpan(payload));
  loopback.Drain();
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * frame_bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(loopback.cipher());
}
BENCHMARK(BM_TransportSmallFrames)->Arg(256)->Arg(4096)->UseRealTime();

}  // namespace
}  // namespace vigil::transport
