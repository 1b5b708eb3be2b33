#include "test_fleet.h"

#include <gtest/gtest.h>

#include "common/assert.h"

namespace vigil::transport::testing {
namespace {

crypto::PrivateKey NewKey() {
  auto key = crypto::PrivateKey::Generate();
  VIGIL_ASSERT(key.has_value());
  return std::move(*key);
}

pki::Certificate NewCa(const crypto::PrivateKey& key, const std::string& name) {
  auto now = std::chrono::system_clock::now();
  pki::Validity validity{now - std::chrono::hours(24 * 30), now + std::chrono::hours(24 * 3650)};
  auto certificate = pki::CreateCaCertificate(key, name, validity);
  if (!certificate) ADD_FAILURE() << certificate.error().ToString();
  VIGIL_ASSERT(certificate.has_value());
  return *certificate;
}

}  // namespace

TestFleet::TestFleet(std::string ca_name)
    : ca_key_(NewKey()), ca_certificate_(NewCa(ca_key_, ca_name)) {}

pki::NodeCredentials TestFleet::Issue(pki::Role role, const std::string& name,
                                      std::optional<pki::Validity> validity) const {
  crypto::PrivateKey key = NewKey();
  pki::Validity chosen =
      validity.value_or(pki::Validity::ForDays(std::chrono::system_clock::now(), 30));
  auto certificate =
      pki::IssueCertificate(ca_certificate_, ca_key_, key.public_key(), role, name, chosen);
  if (!certificate) ADD_FAILURE() << certificate.error().ToString();
  VIGIL_ASSERT(certificate.has_value());
  return pki::NodeCredentials{*certificate, std::move(key), ca_certificate_};
}

std::shared_ptr<TlsContext> MakeTls(const pki::NodeCredentials& credentials, TlsSide side) {
  auto tls = TlsContext::Create(credentials, side);
  if (!tls) ADD_FAILURE() << tls.error().ToString();
  VIGIL_ASSERT(tls.has_value());
  return *tls;
}

bool RunUntil(asio::io_context& io_context, const std::function<bool()>& done,
              std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    io_context.restart();
    io_context.run_for(std::chrono::milliseconds(5));
  }
  return true;
}

void RunFor(asio::io_context& io_context, std::chrono::milliseconds duration) {
  auto deadline = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < deadline) {
    io_context.restart();
    io_context.run_for(std::chrono::milliseconds(5));
  }
}

}  // namespace vigil::transport::testing
