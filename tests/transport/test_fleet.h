// Test helpers: a fleet CA issuing certificates in memory, and an event-loop runner with a
// time limit so that a hang fails the test instead of blocking it.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "pki/pki.h"
#include "transport/tls.h"

namespace vigil::transport::testing {

class TestFleet {
 public:
  // A CA valid from 30 days ago, so tests can issue already-expired certificates.
  explicit TestFleet(std::string ca_name = "vigil-test-ca");

  // Credentials for `role`/`name`, valid now unless `validity` says otherwise. The returned
  // credentials trust this fleet's CA.
  pki::NodeCredentials Issue(pki::Role role, const std::string& name,
                             std::optional<pki::Validity> validity = std::nullopt) const;
  const pki::Certificate& ca_certificate() const { return ca_certificate_; }

 private:
  crypto::PrivateKey ca_key_;
  pki::Certificate ca_certificate_;
};

std::shared_ptr<TlsContext> MakeTls(const pki::NodeCredentials& credentials, TlsSide side);

// Runs `io_context` until `done()` or `timeout`; false on timeout.
bool RunUntil(asio::io_context& io_context, const std::function<bool()>& done,
              std::chrono::milliseconds timeout);
// Runs for `duration` (to observe that something does NOT happen).
void RunFor(asio::io_context& io_context, std::chrono::milliseconds duration);

}  // namespace vigil::transport::testing
