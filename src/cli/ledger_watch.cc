#include "cli/ledger_watch.h"

#include <cstdio>

#include "ledger/genesis.h"
#include "pki/pki.h"

namespace vigil::cli {

LedgerWatch::LedgerWatch(const peer::Cluster& cluster, OnRow on_row)
    : cluster_(cluster), on_row_(std::move(on_row)) {
  for (const auto& device : cluster.devices) {
    auto key = crypto::ReadPrivateKeyFile(device.directory / "node" / "key.pem");
    if (key) names_[key->public_key()] = device.name;
  }
}

LedgerWatch::~LedgerWatch() { Stop(); }

Status LedgerWatch::Start() {
  VIGIL_ASSIGN_OR_RETURN(ledger::Genesis genesis, ledger::ReadGenesisFile(cluster_.genesis));
  validators_ = ledger::GenesisValidatorSet(genesis);
  VIGIL_ASSIGN_OR_RETURN(pki::NodeCredentials credentials,
                         pki::LoadNodeDirectory(cluster_.admins.front()));
  const auto& peer = cluster_.peers.front();
  VIGIL_ASSIGN_OR_RETURN(client_, api::ApiClient::Connect(credentials, peer.host, peer.port,
                                                          std::chrono::seconds(10)));
  thread_ = std::thread([this] { Run(); });
  return Ok();
}

void LedgerWatch::Stop() {
  stopping_ = true;
  if (client_) client_->Cancel();
  if (thread_.joinable()) thread_.join();
}

std::string LedgerWatch::DeviceName(const crypto::PublicKey& key) const {
  auto found = names_.find(key);
  return found != names_.end() ? found->second : ToHex(key).substr(0, 10);
}

void LedgerWatch::Run() {
  Status ended = client_->Subscribe(
      1,
      [this](const api::CommittedBlock& committed) {
        auto received = std::chrono::system_clock::now();
        auto block = api::VerifyCommittedBlock(validators_, cluster_.chain_id, committed);
        if (!block) {
          std::fprintf(stderr, "block %llu did not verify: %s\n",
                       static_cast<unsigned long long>(committed.height),
                       block.error().message().c_str());
          return !stopping_;
        }
        auto rows = history::RowsOfBlock(*block, committed.results);
        if (rows) {
          for (const auto& row : *rows) on_row_(row, received);
        }
        return !stopping_;
      },
      std::chrono::hours(24));
  (void)ended;  // cancelled by Stop(), or the peer went away: the caller's wait times out
}

}  // namespace vigil::cli
