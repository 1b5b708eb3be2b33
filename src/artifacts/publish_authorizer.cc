#include "artifacts/publish_authorizer.h"

#include "artifacts/store.h"
#include "ledger/transaction.h"

namespace vigil::artifacts {
namespace {

std::set<crypto::PublicKey> PublishersOf(const ledger::State& state) {
  std::set<crypto::PublicKey> publishers;
  for (const auto& [key, record] : ledger::ListPublishers(state)) publishers.insert(key);
  return publishers;
}

}  // namespace

std::shared_ptr<PublishAuthorizer> PublishAuthorizer::FromState(const ledger::State& state) {
  auto authorizer = std::make_shared<PublishAuthorizer>(state.chain_id());
  authorizer->SetPublishers(PublishersOf(state));
  for (auto& release : ledger::ListReleases(state, std::nullopt)) {
    authorizer->AddPublished(std::move(release.app), std::move(release.version));
  }
  return authorizer;
}

void PublishAuthorizer::ApplyBlock(const ledger::State& state_after, const ledger::Block& block,
                                   const ledger::BlockExecution& execution) {
  bool publishers_changed = false;
  for (size_t i = 0; i < block.transactions.size() && i < execution.results.size(); ++i) {
    if (!execution.results[i].ok()) continue;
    auto envelope = ledger::DecodeEnvelope(block.transactions[i]);
    if (!envelope) continue;
    if (envelope->kind == ledger::TransactionKind::kAddPublisher ||
        envelope->kind == ledger::TransactionKind::kRemovePublisher) {
      publishers_changed = true;
    } else if (envelope->kind == ledger::TransactionKind::kPublishRelease) {
      auto body = ledger::DecodeBody(envelope->kind, envelope->body);
      if (!body) continue;
      auto& release = std::get<ledger::PublishRelease>(*body);
      AddPublished(release.app, release.version);
    }
  }
  if (publishers_changed) SetPublishers(PublishersOf(state_after));
}

void PublishAuthorizer::SetPublishers(std::set<crypto::PublicKey> publishers) {
  std::lock_guard lock(mutex_);
  publishers_ = std::move(publishers);
}

void PublishAuthorizer::AddPublished(std::string app, std::string version) {
  std::lock_guard lock(mutex_);
  published_.emplace(std::move(app), std::move(version));
}

Status PublishAuthorizer::Authorize(ByteSpan envelope, const crypto::Sha256Digest& digest,
                                    uint64_t total_bytes) const {
  // Signature checks run outside the lock: the chain id never changes.
  auto checked = ledger::CheckTransactionStateless(envelope, chain_id_);
  if (!checked) {
    const ledger::TransactionResult& result = checked.error();
    std::string reason = "the publish transaction is refused (" +
                         std::string(ledger::ResultCodeName(result.code)) + "): " + result.reason;
    switch (result.code) {
      case ledger::ResultCode::kBadSignature:
        return Fail(ErrorCode::kUnauthenticated, reason);
      case ledger::ResultCode::kWrongChain:
        return Fail(ErrorCode::kPermissionDenied, reason);
      default:
        return Fail(ErrorCode::kInvalidArgument, reason);
    }
  }
  if (checked->envelope.kind != ledger::TransactionKind::kPublishRelease) {
    return Fail(ErrorCode::kInvalidArgument,
                "the transaction is a " +
                    std::string(ledger::TransactionKindName(checked->envelope.kind)) +
                    ", not a publish transaction");
  }
  const auto& release = std::get<ledger::PublishRelease>(checked->body);
  if (release.bundle_digest != digest) {
    return Fail(ErrorCode::kPermissionDenied,
                "the transaction publishes bundle " + DigestToHex(release.bundle_digest) +
                    ", not " + DigestToHex(digest));
  }
  if (release.bundle_size_bytes != total_bytes) {
    return Fail(ErrorCode::kPermissionDenied,
                "the transaction says the bundle has " + std::to_string(release.bundle_size_bytes) +
                    " bytes, the upload " + std::to_string(total_bytes));
  }
  std::lock_guard lock(mutex_);
  if (!publishers_.contains(checked->envelope.signer)) {
    return Fail(ErrorCode::kPermissionDenied,
                "the signer " + ToHex(checked->envelope.signer) +
                    " is not a publisher on this ledger");
  }
  if (published_.contains({release.app, release.version})) {
    return Fail(ErrorCode::kAlreadyExists,
                release.app + " " + release.version + " is already published");
  }
  return Ok();
}

AuthorizeFunction PublishAuthorizer::AsFunction(
    std::shared_ptr<const PublishAuthorizer> authorizer) {
  return [authorizer = std::move(authorizer)](ByteSpan envelope, const crypto::Sha256Digest& digest,
                                              uint64_t total_bytes) {
    return authorizer->Authorize(envelope, digest, total_bytes);
  };
}

}  // namespace vigil::artifacts
