#include "peer/node.h"

#include <algorithm>
#include <asio/post.hpp>
#include <charconv>

#include "artifacts/publish_authorizer.h"
#include "artifacts/server.h"
#include "artifacts/store.h"
#include "common/bytes.h"
#include "common/log.h"
#include "ledger/rules.h"

namespace vigil::peer {
namespace {

using Clock = std::chrono::steady_clock;

// How long a catch-up answer or a sync request to one peer is not repeated.
constexpr auto kCatchUpRepeatAfter = std::chrono::milliseconds(500);
constexpr auto kSyncRequestRepeatAfter = std::chrono::milliseconds(2000);
// Bounds on what is buffered for later heights.
constexpr size_t kEarlyMessagesMax = 4096;
constexpr uint64_t kPendingCommitsAheadMax = 256;

std::string ShortHex(ByteSpan bytes) { return ToHex(bytes).substr(0, 12); }

Expected<PeerAddress> ParseAddress(std::string_view address, std::string_view name) {
  size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Fail(ErrorCode::kInvalidArgument, "validator '" + std::string(name) + "': address '" +
                                                 std::string(address) + "' is not host:port");
  }
  uint16_t port = 0;
  std::string_view port_text = address.substr(colon + 1);
  auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc() || end != port_text.data() + port_text.size() || port == 0) {
    return Fail(ErrorCode::kInvalidArgument, "validator '" + std::string(name) + "': port '" +
                                                 std::string(port_text) + "' is not 1..65535");
  }
  return PeerAddress{
      .host = std::string(address.substr(0, colon)), .port = port, .name = std::string(name)};
}

}  // namespace

Expected<std::vector<PeerAddress>> PeersFromGenesis(const ledger::Genesis& genesis,
                                                    const crypto::PublicKey& own_key) {
  std::vector<PeerAddress> peers;
  for (const auto& validator : genesis.validators) {
    if (validator.public_key == own_key) continue;
    VIGIL_ASSIGN_OR_RETURN(PeerAddress address, ParseAddress(validator.address, validator.name));
    peers.push_back(std::move(address));
  }
  return peers;
}

// The ledger as consensus's application (consensus.h ValueSource): blocks are the values.
class PeerNode::Values final : public consensus::ValueSource {
 public:
  explicit Values(PeerNode& node) : node_(node) {}

  Bytes GetValue(uint64_t height, uint32_t round, int64_t now_ms) override {
    const ledger::State& state = node_.chain_->state();
    VIGIL_ASSERT(height == state.tip().height + 1);
    // Decoded and verified at admission: the builder does neither again.
    auto candidates = node_.mempool_->ReapChecked(node_.options_.block_transactions_max,
                                                  node_.options_.block_bytes_max);
    ledger::BuildOptions build;
    std::optional<ledger::CheckedTransaction> replay;  // a Byzantine test proposer's
    if (node_.options_.byzantine == ByzantineMode::kReplayCommitted &&
        node_.last_committed_transaction_) {
      auto checked = ledger::CheckTransactionStateless(
          *node_.last_committed_transaction_, state.chain_id(), node_.execute_options_.verify);
      if (checked) {
        replay = std::move(*checked);
        candidates.insert(candidates.begin(), &*replay);
        build.keep_replays = true;
      }
    }
    build.time_ms = std::max(now_ms, state.tip().time_ms + 1);
    build.proposer = node_.key().public_key();
    build.last_commit = node_.chain_->last_certificate();
    build.execute = node_.execute_options_;
    auto built = ledger::BuildBlock(state, candidates, build);
    if (!built) {
      // Only a bug can get here (the builder leaves out what it cannot include); an empty
      // block still lets the chain advance.
      spdlog::error("peer build_block_failed height={} round={} error={}", height, round,
                    LogValue(built.error().message()));
      built = ledger::BuildBlock(state, std::span<const Bytes>{}, build);
      VIGIL_ASSERT(built.has_value());
    }
    Bytes encoded = ledger::EncodeBlock(built->block);
    spdlog::debug("peer proposing height={} round={} transactions={} bytes={}", height, round,
                  built->block.transactions.size(), encoded.size());
    node_.executions_[built->execution.tip.block_hash] = std::move(built->execution);
    return encoded;
  }

  bool IsValid(uint64_t height, ByteSpan value) override {
    auto block = ledger::DecodeBlock(value);
    if (!block) {
      spdlog::warn("peer invalid_proposal height={} error={}", height,
                   LogValue(block.error().message()));
      return false;
    }
    const ledger::State& state = node_.chain_->state();
    if (height != state.tip().height + 1 || block->header.height != height) return false;
    // Timeliness: a proposer cannot push the chain's clock far ahead of the validators'.
    if (block->header.time_ms > node_.NowMs() + limits::kPeerBlockFutureTimeMaxMs) {
      spdlog::warn(
          "peer invalid_proposal height={} error={}", height,
          LogValue("block time is more than " + std::to_string(limits::kPeerBlockFutureTimeMaxMs) +
                   " ms ahead of this peer's clock"));
      return false;
    }
    Sha256Digest hash = ledger::BlockHash(block->header);
    if (node_.executions_.contains(hash)) return true;
    auto execution = ledger::ExecuteBlock(state, *block, node_.execute_options_);
    if (!execution) {
      spdlog::warn("peer invalid_proposal height={} error={}", height,
                   LogValue(execution.error().message()));
      return false;
    }
    if (Status fresh = node_.chain_->CheckNoneCommittedBefore(*execution); !fresh) {
      spdlog::warn("peer invalid_proposal height={} error={}", height,
                   LogValue(fresh.error().message()));
      return false;
    }
    node_.executions_[hash] = std::move(*execution);
    return true;
  }

  Expected<consensus::ValueId> IdOf(ByteSpan value) override {
    return ledger::BlockHashOfEncodedBlock(value);
  }

 private:
  PeerNode& node_;
};

namespace {
// Signature checks of consensus messages go through the same cache as transactions'.
class CachedVerifier final : public consensus::SignatureVerifier {
 public:
  explicit CachedVerifier(mempool::SignatureCache& cache) : cache_(cache) {}
  bool Verify(const crypto::PublicKey& key, ByteSpan message,
              const crypto::Signature& signature) override {
    return cache_.Verify(key, message, signature);
  }

 private:
  mempool::SignatureCache& cache_;
};
}  // namespace

PeerNode::PeerNode(asio::io_context& io_context, PeerOptions options, std::unique_ptr<Chain> chain)
    : io_context_(io_context),
      options_(std::move(options)),
      chain_(std::move(chain)),
      gossip_timer_(io_context),
      status_timer_(io_context),
      next_height_timer_(io_context) {}

PeerNode::~PeerNode() {
  Stop();
  store_thread_.join();  // a block write in flight finishes; its completion finds alive_ false
  *alive_ = false;
}

Expected<std::unique_ptr<PeerNode>> PeerNode::Start(asio::io_context& io_context,
                                                    PeerOptions options) {
  options.consensus.chain_id = options.genesis.chain_id;
  VIGIL_RETURN_IF_ERROR(consensus::CheckConfig(options.consensus));
  if (!options.credentials) {
    return Fail(ErrorCode::kInvalidArgument, "a peer needs its node credentials (node_dir)");
  }
  store::StoreOptions store_options;
  store_options.synchronous = options.synchronous;
  store_options.fault_hook = options.store_fault_hook;
  VIGIL_ASSIGN_OR_RETURN(auto chain,
                         Chain::Open(options.data_directory, options.genesis, store_options));
  // An older binary than the chain needs (docs/peer.md#rules-versions): refuse to start.
  if (Status rules = ledger::CheckRulesAvailable(chain->state(), chain->height() + 1,
                                                 options.max_rules_version);
      !rules) {
    return std::unexpected(rules.error().WithContext("refusing to start at height " +
                                                     std::to_string(chain->height())));
  }
  std::unique_ptr<PeerNode> node(new PeerNode(io_context, std::move(options), std::move(chain)));
  VIGIL_RETURN_IF_ERROR(node->Open());
  return node;
}

int64_t PeerNode::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ledger::BlockContext PeerNode::NextBlockContext(int64_t now_ms) const {
  const ledger::State& state = chain_->state();
  uint64_t height = state.tip().height + 1;
  return ledger::BlockContext{.height = height,
                              .time_ms = std::max(now_ms, state.tip().time_ms + 1),
                              .rules = ledger::FindRules(ledger::RulesVersionAt(state, height),
                                                         options_.max_rules_version)};
}

Status PeerNode::Open() {
  if (!chain_->validators().IndexOf(key().public_key())) {
    spdlog::warn("peer not_a_validator name={} key={} (following only)", LogValue(options_.name),
                 ShortHex(key().public_key()));
  }
  signer_ = std::make_unique<consensus::Ed25519Signer>(key());
  execute_options_.verify = signature_cache_.AsVerifyFunction();
  execute_options_.rules_version_max = options_.max_rules_version;
  mempool_ = std::make_unique<mempool::Mempool>(options_.genesis.chain_id, options_.mempool,
                                                execute_options_.verify);
  if (options_.verify_threads > 0) {
    verifier_pool_ = std::make_unique<VerifierPool>(io_context_, options_.verify_threads,
                                                    options_.genesis.chain_id);
  }
  values_ = std::make_unique<Values>(*this);
  verifier_ = std::make_unique<CachedVerifier>(signature_cache_);
  const consensus::Signer* signer =
      chain_->validators().IndexOf(key().public_key()) ? signer_.get() : nullptr;
  consensus_ =
      std::make_unique<consensus::Consensus>(options_.consensus, signer, *values_, *verifier_);

  VIGIL_ASSIGN_OR_RETURN(server_tls_, transport::TlsContext::Create(*options_.credentials,
                                                                    transport::TlsSide::kServer));
  VIGIL_ASSIGN_OR_RETURN(client_tls_, transport::TlsContext::Create(*options_.credentials,
                                                                    transport::TlsSide::kClient));
  transport::Handlers handlers;
  handlers.on_open = [this](const transport::ConnectionPointer& connection) { OnOpen(connection); };
  handlers.on_frame = [this](const transport::ConnectionPointer& connection,
                             transport::FrameType type,
                             ByteSpan payload) { OnFrame(connection, type, payload); };
  handlers.on_writable = [this](const transport::ConnectionPointer&) { PumpSubscribers(); };
  handlers.on_close = [this](const transport::ConnectionPointer& connection, const Error&) {
    OnClose(connection);
  };

  transport::ConnectionOptions connection_options;
  connection_options.frame_payload_bytes_max = limits::kFramePayloadBytesMax;
  connection_options.send_queue_bytes_max = 4 * limits::kFramePayloadBytesMax;

  transport::ServerOptions server_options;
  server_options.listen_address = options_.listen_address;
  server_options.port = options_.port;
  server_options.connection = connection_options;
  server_options.connection.allowed_peer_roles = {pki::Role::kPeer, pki::Role::kAdmin,
                                                  pki::Role::kPublisher, pki::Role::kGateway};
  VIGIL_ASSIGN_OR_RETURN(
      server_, transport::Server::Create(io_context_, server_tls_, server_options, handlers));

  if (options_.artifacts_enabled) {
    publish_authorizer_ = artifacts::PublishAuthorizer::FromState(chain_->state());
    auto directory = options_.artifacts_directory.empty() ? options_.data_directory / "artifacts"
                                                          : options_.artifacts_directory;
    VIGIL_ASSIGN_OR_RETURN(
        std::shared_ptr<artifacts::ArtifactStore> store,
        artifacts::ArtifactStore::Open({.directory = directory,
                                        .artifact_bytes_max = limits::kArtifactBytesMaxDefault,
                                        .uploads_max = limits::kArtifactUploadsMaxDefault,
                                        .partial_age_max = limits::kArtifactPartialAgeMaxDefault}));
    // The server keeps its own copy of the node's credentials (a PrivateKey is move-only).
    VIGIL_ASSIGN_OR_RETURN(crypto::PrivateKey server_key,
                           crypto::PrivateKey::FromPem(options_.credentials->key.ToPem()));
    VIGIL_ASSIGN_OR_RETURN(
        artifact_server_,
        artifacts::ArtifactServer::Start(
            std::move(store),
            {.listen_address = options_.artifacts_listen_address,
             .port = options_.artifacts_port,
             .credentials =
                 pki::NodeCredentials{.certificate = options_.credentials->certificate,
                                      .key = std::move(server_key),
                                      .ca_certificate = options_.credentials->ca_certificate},
             .threads = limits::kArtifactServerThreadsDefault,
             .authorize = artifacts::PublishAuthorizer::AsFunction(publish_authorizer_)}));
  }

  uint64_t seed = 0;
  for (size_t i = 0; i < 8; ++i) seed = (seed << 8) | key().public_key()[i];
  for (const PeerAddress& peer : options_.peers) {
    transport::DialOptions dial;
    dial.host = peer.host;
    dial.port = peer.port;
    dial.connection = connection_options;
    dial.connection.allowed_peer_roles = {pki::Role::kPeer};
    transport::BackoffOptions backoff;
    backoff.delay_initial = std::chrono::milliseconds(100);
    backoff.delay_max = std::chrono::milliseconds(2000);
    auto dialer = std::make_unique<transport::ReconnectingClient>(
        io_context_, client_tls_, std::move(dial), handlers, backoff, seed++);
    dialer->Start();
    dialers_.push_back(std::move(dialer));
  }

  // Restart rule (docs/peer.md#restart).
  uint64_t next_height = chain_->height() + 1;
  VIGIL_ASSIGN_OR_RETURN(auto saved, chain_->store().LoadConsensusState());
  std::optional<consensus::DurableState> durable;
  if (saved) {
    VIGIL_ASSIGN_OR_RETURN(durable, consensus::DecodeDurableState(*saved));
  }
  if (durable && durable->height == next_height) {
    spdlog::info("peer restoring name={} height={} round={} step={}", LogValue(options_.name),
                 durable->height, durable->round, consensus::RoundStepName(durable->step));
    consensus_->Restore(*durable, chain_->validators(), NowMs());
    consensus_started_ = true;
    ProcessReady();
  } else {
    if (durable && durable->height > next_height) {
      return Fail(ErrorCode::kCorruption,
                  "the consensus state is at height " + std::to_string(durable->height) +
                      " but the store ends at " + std::to_string(chain_->height()) +
                      ": the store lost committed blocks");
    }
    StartConsensusAt(next_height);
  }
  spdlog::info("peer started name={} chain={} height={} port={} peers={} validator={}",
               LogValue(options_.name), LogValue(options_.genesis.chain_id), chain_->height(),
               server_->port(), options_.peers.size(), signer != nullptr);
  last_commit_time_ = Clock::now();
  OnGossipTimer();
  OnStatusTimer();
  MaybeReportRulesSupport();
  return Ok();
}

void PeerNode::Stop() {
  if (stopped_) return;
  stopped_ = true;
  gossip_timer_.cancel();
  status_timer_.cancel();
  next_height_timer_.cancel();
  for (auto& scheduled : timeouts_) scheduled.timer->cancel();
  timeouts_.clear();
  for (auto& dialer : dialers_) dialer->Stop();
  if (server_) server_->Stop();
  verifier_pool_.reset();
  artifact_server_.reset();  // joins its threads
}

uint16_t PeerNode::port() const { return server_->port(); }

uint16_t PeerNode::artifacts_port() const {
  return artifact_server_ ? artifact_server_->port() : 0;
}

void PeerNode::Halt(Error error) {
  spdlog::critical("peer halted name={} height={} error={}", LogValue(options_.name),
                   chain_->height(), LogValue(error.message()));
  fatal_error_ = std::move(error);
  Stop();
  if (on_halt_) on_halt_();
}

bool PeerNode::HaltIfRulesMissing(uint64_t height) {
  Status rules = ledger::CheckRulesAvailable(chain_->state(), height, options_.max_rules_version);
  if (rules) return false;
  Halt(rules.error().WithContext("halted before executing block " + std::to_string(height) +
                                 " (the store is intact at height " +
                                 std::to_string(chain_->height()) +
                                 "; restart with a binary that has it to resume)"));
  return true;
}

void PeerNode::MaybeReportRulesSupport() {
  if (stopped_ || !chain_->validators().IndexOf(key().public_key())) return;
  const ledger::State& state = chain_->state();
  std::vector<uint32_t> supported = ledger::SupportedRulesVersions(options_.max_rules_version);
  auto recorded = ledger::GetRulesSupport(state, key().public_key());
  if (recorded && recorded->versions == supported) return;
  // One report in flight at a time: again after a few blocks if it did not land.
  constexpr uint64_t kReportRetryBlocks = 5;
  if (rules_report_height_ != 0 && height() < rules_report_height_ + kReportRetryBlocks) return;
  rules_report_height_ = std::max<uint64_t>(height(), 1);
  Bytes report = ledger::SignTransaction(state.chain_id(),
                                         ledger::PeerReport{.supported_rules_versions = supported},
                                         ledger::GetSequence(state, key().public_key()) + 1, key());
  api::SubmitResponse admitted = Admit(CheckOnLoop(report), /*from_client=*/true);
  spdlog::info("peer rules_support_reported versions={} outcome={} result={}", supported.size(),
               api::SubmitOutcomeName(admitted.outcome), LogValue(admitted.result.reason));
}

// --- Consensus driving ---

void PeerNode::StartConsensusAt(uint64_t height) {
  VIGIL_ASSERT(height == chain_->height() + 1);
  if (HaltIfRulesMissing(height)) return;
  consensus_->Start(height, chain_->validators(), NowMs());
  consensus_started_ = true;
  ProcessReady();
  FeedBuffered();
}

// After a commit the next height starts when another validator has moved on to it, when a
// block's worth of transactions is pending, when transactions are pending and `batch_delay`
// has passed since the commit (so the transactions still in the sockets join this block rather
// than each making its own), or when the empty-block interval has passed.
void PeerNode::MaybeStartNextHeight() {
  if (stopped_ || consensus_started_ || commit_in_flight_) return;
  bool others_moved_on = !early_messages_.empty() || pending_commits_.contains(height() + 1);
  auto since_commit = Clock::now() - last_commit_time_;
  bool batch_ready = mempool_->size() >= options_.block_transactions_max ||
                     (mempool_->size() > 0 && since_commit >= options_.batch_delay);
  if (batch_ready || others_moved_on || since_commit >= options_.empty_block_interval) {
    next_height_timer_.cancel();
    StartConsensusAt(height() + 1);
    return;
  }
  next_height_timer_.expires_at(last_commit_time_ + (mempool_->size() > 0
                                                         ? options_.batch_delay
                                                         : options_.empty_block_interval));
  next_height_timer_.async_wait([this, alive = alive_](const asio::error_code& error) {
    if (*alive && !error) MaybeStartNextHeight();
  });
}

void PeerNode::FeedBuffered() {
  if (!consensus_started_) return;
  uint64_t current = height() + 1;
  auto pending = pending_commits_.find(current);
  if (pending != pending_commits_.end()) {
    consensus::Message message = std::move(pending->second);
    pending_commits_.erase(pending);
    StepConsensus(message, nullptr);
    return;  // a decision re-enters FeedBuffered for the next height
  }
  std::vector<consensus::Message> messages;
  messages.swap(early_messages_);
  for (const auto& message : messages) {
    if (!consensus_started_ || stopped_) break;
    if (consensus::MessageHeight(message) == height() + 1) StepConsensus(message, nullptr);
  }
}

void PeerNode::StepConsensus(const consensus::Message& message,
                             const transport::ConnectionPointer& from) {
  if (stopped_) return;
  uint64_t message_height = consensus::MessageHeight(message);
  uint64_t next = NextHeight();
  if (message_height < next) {
    // Late messages of the block being written are of no use; older ones tell of a peer behind.
    if (from && message_height <= height()) AnswerBehindPeer(from, message_height);
    return;
  }
  if (message_height > next || !consensus_started_) {
    if (const auto* commit = std::get_if<consensus::Commit>(&message)) {
      if (message_height <= height() + kPendingCommitsAheadMax) {
        pending_commits_.emplace(message_height, *commit);
      }
    } else if (message_height == next && early_messages_.size() < kEarlyMessagesMax) {
      early_messages_.push_back(message);
    }
    if (message_height > next && from) RequestSync(from, message_height - 1);
    if (message_height == next) MaybeStartNextHeight();
    return;
  }
  Status status = consensus_->Step(message, NowMs());
  if (!status) {
    ++counters_.messages_refused;
    spdlog::debug("peer consensus_message_refused from={} error={}",
                  from ? LogValue(from->peer_identity().name) : std::string("sync"),
                  LogValue(status.error().message()));
  }
  ProcessReady();
}

void PeerNode::ProcessReady() {
  while (!stopped_ && consensus_->HasReady()) {
    consensus::Ready ready = consensus_->TakeReady();
    // 1. Persist before send. With a decision in the same step, the record goes into the
    //    block's store transaction (step 2), which syncs once for both; nothing is sent before.
    std::optional<Bytes> persist_with_block;
    if (ready.persist) {
      Bytes encoded = consensus::EncodeDurableState(*ready.persist);
      if (ready.decision) {
        persist_with_block = std::move(encoded);
      } else {
        VIGIL_ASSERT(!commit_in_flight_);  // no step runs while a block is being written
        Status saved = chain_->store().SaveConsensusState(encoded);
        if (!saved) {
          Halt(saved.error().WithContext("cannot persist the consensus state"));
          return;
        }
        ++counters_.consensus_states_saved;
      }
    }
    if (!ready.evidence.empty()) RecordEvidence(ready.evidence);
    // 2. Commit the decided block. Its store write runs on the store thread; sending this
    //    step's messages and starting the next height wait for it (OnCommitWritten).
    if (ready.decision) {
      Status started = StartCommit(*ready.decision, std::move(persist_with_block),
                                   std::move(ready.messages));
      if (!started) {
        Halt(started.error().WithContext("cannot commit the decided block " +
                                         std::to_string(ready.decision->height)));
        return;
      }
      consensus_started_ = false;
      for (auto& scheduled : timeouts_) scheduled.timer->cancel();
      timeouts_.clear();
      continue;
    }
    // 3. Send.
    BroadcastConsensus(ready.messages);
    // 4. Timers.
    for (const auto& timeout : ready.timers) ScheduleTimeout(timeout);
  }
}

Status PeerNode::StartCommit(const consensus::Decision& decision,
                             std::optional<Bytes> consensus_state,
                             std::vector<consensus::Message> messages) {
  VIGIL_ASSERT(!commit_in_flight_);
  VIGIL_ASSIGN_OR_RETURN(ledger::Block block, ledger::DecodeBlock(decision.value));
  std::optional<ledger::BlockExecution> execution;
  auto cached = executions_.find(decision.certificate.value_id);
  if (cached != executions_.end()) execution = std::move(cached->second);
  auto commit = std::make_unique<CommitInFlight>();
  commit->round = decision.round;
  commit->from_sync = cached == executions_.end();
  commit->with_consensus_state = consensus_state.has_value();
  commit->messages = std::move(messages);
  VIGIL_ASSIGN_OR_RETURN(commit->prepared,
                         chain_->PrepareCommit(std::move(block), decision.value,
                                               decision.certificate, std::move(execution),
                                               execute_options_, std::move(consensus_state)));
  executions_.clear();
  commit_in_flight_ = std::move(commit);
  // The thread touches only the chain's writing connection and the prepared rows; the loop
  // neither writes nor moves the chain until the completion below runs on it.
  asio::post(store_thread_, [this, chain = chain_.get(), prepared = &commit_in_flight_->prepared,
                             alive = alive_] {
    Status written = chain->WriteCommit(*prepared);
    asio::post(io_context_, [this, alive, written = std::move(written)]() mutable {
      if (*alive) OnCommitWritten(std::move(written));
    });
  });
  return Ok();
}

void PeerNode::OnCommitWritten(Status written) {
  std::unique_ptr<CommitInFlight> commit = std::move(commit_in_flight_);
  if (stopped_) return;
  const ledger::Block& block = commit->prepared.block;
  if (!written) {
    Halt(written.error().WithContext("cannot commit the decided block " +
                                     std::to_string(block.header.height)));
    return;
  }
  chain_->FinishCommit(commit->prepared);
  const ledger::BlockExecution& executed = commit->prepared.execution;
  if (commit->with_consensus_state) ++counters_.consensus_states_with_block;
  ++counters_.blocks_committed;
  counters_.transactions_committed += block.transactions.size();
  if (commit->from_sync) ++counters_.blocks_synced;
  spdlog::info("peer committed height={} round={} transactions={} hash={} state={}",
               block.header.height, commit->round, block.transactions.size(),
               ShortHex(executed.tip.block_hash), ShortHex(executed.tip.state_hash));
  // The step's write-ahead record is durable with the block: its messages may go now.
  BroadcastConsensus(commit->messages);
  AfterCommit(block, executed);
  MaybeStartNextHeight();
}

void PeerNode::AfterCommit(const ledger::Block& block, const ledger::BlockExecution& execution) {
  last_commit_time_ = Clock::now();
  if (options_.byzantine == ByzantineMode::kReplayCommitted && !block.transactions.empty()) {
    last_committed_transaction_ = block.transactions.front();
  }
  if (publish_authorizer_) publish_authorizer_->ApplyBlock(chain_->state(), block, execution);
  for (size_t i = 0; i < execution.transaction_ids.size(); ++i) {
    const auto& id = execution.transaction_ids[i];
    if (!waiters_.contains(id)) continue;
    AnswerWaiters(id, api::SubmitResponse{.request_id = 0,
                                          .transaction_id = id,
                                          .outcome = api::SubmitOutcome::kCommitted,
                                          .result = execution.results[i],
                                          .height = block.header.height,
                                          .index = i});
  }
  if (HaltIfRulesMissing(height() + 1)) return;
  auto evicted =
      mempool_->Update(execution.transaction_ids, chain_->state(), NextBlockContext(NowMs()));
  for (auto& [id, result] : evicted) {
    AnswerWaiters(id, api::SubmitResponse{.request_id = 0,
                                          .transaction_id = id,
                                          .outcome = api::SubmitOutcome::kRefused,
                                          .result = std::move(result)});
  }
  PumpSubscribers();
  Bytes status = api::Encode(api::PeerStatus{.height = height()});
  Broadcast(api::kFramePeerStatus, status);
  MaybeReportRulesSupport();
}

void PeerNode::ScheduleTimeout(const consensus::Timeout& timeout) {
  auto& scheduled = timeouts_.emplace_back();
  scheduled.id = next_timeout_id_++;
  scheduled.timeout = timeout;
  scheduled.timer = std::make_unique<asio::steady_timer>(io_context_);
  scheduled.timer->expires_after(std::chrono::milliseconds(timeout.duration_ms));
  // By id, not by list position: a timer that fired just before a commit cleared the list
  // still runs its handler (cancel() cannot recall it), and its entry is gone.
  scheduled.timer->async_wait([this, alive = alive_, id = scheduled.id](
                                  const asio::error_code& error) {
    if (!*alive || error || stopped_) return;
    auto position = std::ranges::find(timeouts_, id, &ScheduledTimeout::id);
    if (position == timeouts_.end()) return;
    consensus::Timeout fired = position->timeout;
    timeouts_.erase(position);
    if (!consensus_started_ || fired.height != height() + 1) return;
    consensus_->OnTimeout(fired, NowMs());
    ProcessReady();
  });
}

void PeerNode::Broadcast(transport::FrameType type, const Bytes& payload) {
  auto shared = std::make_shared<const Bytes>(payload);
  for (const auto& session : peer_sessions_) {
    Status sent = session->Send(type, shared);
    if (!sent) {
      spdlog::debug("peer send_failed to={} error={}", LogValue(session->peer_identity().name),
                    LogValue(sent.error().message()));
    }
  }
}

void PeerNode::BroadcastConsensus(const std::vector<consensus::Message>& messages) {
  for (const auto& message : messages) {
    Broadcast(api::kFrameConsensus, consensus::EncodeMessage(message));
    if (options_.byzantine != ByzantineMode::kEquivocate) continue;
    // Test-only: contradict every own vote (see ByzantineMode).
    const auto* vote = std::get_if<consensus::Vote>(&message);
    if (vote == nullptr || !consensus_->validator_index() ||
        vote->validator_index != *consensus_->validator_index()) {
      continue;
    }
    consensus::Vote conflicting = *vote;
    if (conflicting.value_id) {
      conflicting.value_id.reset();
    } else {
      conflicting.value_id = crypto::Sha256(AsBytes("vigil byzantine test value"));
    }
    conflicting.signature =
        key().Sign(consensus::VoteSignBytes(options_.genesis.chain_id, conflicting));
    Broadcast(api::kFrameConsensus, consensus::EncodeMessage(conflicting));
  }
}

void PeerNode::RecordEvidence(const std::vector<consensus::Evidence>& evidence) {
  for (const auto& item : evidence) {
    ++counters_.evidence_recorded;
    const auto& validator = chain_->validators().at(item.first.validator_index);
    spdlog::warn("peer evidence validator={} type={} height={} round={}",
                 ShortHex(validator.public_key), consensus::VoteTypeName(item.first.type),
                 item.first.height, item.first.round);
    codec::Encoder encoder;
    consensus::EncodeEvidence(encoder, item);
    std::string name = "evidence/" + std::to_string(item.first.height) + "/" +
                       std::to_string(item.first.round) + "/" +
                       std::to_string(item.first.validator_index) + "/" +
                       std::string(consensus::VoteTypeName(item.first.type));
    VIGIL_ASSERT(!commit_in_flight_);  // evidence comes with steps, never during a block write
    Status saved = chain_->store().SetMetadata(name, encoder.bytes());
    if (!saved) {
      spdlog::error("peer evidence_not_saved error={}", LogValue(saved.error().message()));
    }
  }
}

// --- Network ---

void PeerNode::OnOpen(const transport::ConnectionPointer& connection) {
  if (stopped_) return;
  if (connection->peer_identity().role != pki::Role::kPeer) return;
  if (connection->side() == transport::TlsSide::kClient) peer_sessions_.insert(connection);
  SendStatus(connection);
}

void PeerNode::OnClose(const transport::ConnectionPointer& connection) {
  peer_sessions_.erase(connection);
  known_heights_.erase(connection.get());
  sync_requested_.erase(connection.get());
  std::erase_if(catch_up_answered_,
                [&](const auto& entry) { return entry.first.first == connection.get(); });
  std::erase_if(subscribers_, [&](const Subscriber& subscriber) {
    auto open = subscriber.connection.lock();
    return !open || open == connection;
  });
}

void PeerNode::OnFrame(const transport::ConnectionPointer& connection, transport::FrameType type,
                       ByteSpan payload) {
  if (stopped_) return;
  bool is_peer = connection->peer_identity().role == pki::Role::kPeer;
  Status status;
  if (api::IsPeerFrame(type)) {
    status = is_peer ? HandlePeerFrame(connection, type, payload)
                     : Fail(ErrorCode::kPermissionDenied,
                            "frame type " + std::to_string(type) + " is for validators only");
  } else if (api::IsClientRequestFrame(type)) {
    status = HandleClientFrame(connection, type, payload);
  } else {
    status = Fail(ErrorCode::kRefused,
                  "frame type " + std::to_string(type) + " is not a request this peer serves");
  }
  if (!status) {
    ++counters_.messages_refused;
    spdlog::info("peer refused_frame from={} role={} type={} error={}",
                 LogValue(connection->peer_identity().name),
                 pki::RoleName(connection->peer_identity().role), type,
                 LogValue(status.error().message()));
    auto request_id = api::RequestIdOf(type, payload);
    if (api::IsClientRequestFrame(type) || !is_peer) {
      (void)connection->Send(
          api::kFrameErrorResponse,
          api::Encode(api::ErrorResponse{
              .request_id = request_id.value_or(0),
              .message = Refuse(ledger::ResultCode::kMalformed, status.error().message()).reason}));
    }
  }
}

Status PeerNode::HandlePeerFrame(const transport::ConnectionPointer& connection,
                                 transport::FrameType type, ByteSpan payload) {
  switch (type) {
    case api::kFrameConsensus: {
      VIGIL_ASSIGN_OR_RETURN(consensus::Message message, consensus::DecodeMessage(payload));
      StepConsensus(message, connection);
      return Ok();
    }
    case api::kFrameTransactions: {
      VIGIL_ASSIGN_OR_RETURN(api::TransactionBatch batch, api::DecodeTransactionBatch(payload));
      for (auto& transaction : batch.transactions) {
        if (!verifier_pool_) {
          Admit(CheckOnLoop(transaction), false);
          continue;
        }
        verifier_pool_->Submit(std::move(transaction), [this](VerifiedTransaction verified) {
          Admit(RememberVerified(std::move(verified)), false);
        });
      }
      return Ok();
    }
    case api::kFramePeerStatus: {
      VIGIL_ASSIGN_OR_RETURN(api::PeerStatus status, api::DecodePeerStatus(payload));
      known_heights_[connection.get()] = status.height;
      if (status.height > height()) RequestSync(connection, status.height);
      return Ok();
    }
    case api::kFrameSyncRequest: {
      VIGIL_ASSIGN_OR_RETURN(api::SyncRequest request, api::DecodeSyncRequest(payload));
      api::SyncResponse response;
      uint64_t last = std::min<uint64_t>(height(), request.from_height + request.count - 1);
      for (uint64_t h = request.from_height; h <= last; ++h) {
        VIGIL_ASSIGN_OR_RETURN(consensus::Commit commit, chain_->ReadCommit(h));
        response.commits.push_back(std::move(commit));
      }
      return connection->Send(api::kFrameSyncResponse, api::Encode(response));
    }
    case api::kFrameSyncResponse: {
      VIGIL_ASSIGN_OR_RETURN(api::SyncResponse response, api::DecodeSyncResponse(payload));
      sync_requested_.erase(connection.get());
      for (auto& commit : response.commits) StepConsensus(commit, connection);
      auto known = known_heights_.find(connection.get());
      if (known != known_heights_.end() && known->second > height()) {
        RequestSync(connection, known->second);
      }
      return Ok();
    }
    default:
      return Fail(ErrorCode::kRefused, "unknown peer frame type " + std::to_string(type));
  }
}

void PeerNode::AnswerBehindPeer(const transport::ConnectionPointer& connection, uint64_t behind) {
  auto key = std::make_pair(connection.get(), behind);
  auto now = Clock::now();
  auto answered = catch_up_answered_.find(key);
  if (answered != catch_up_answered_.end() && now - answered->second < kCatchUpRepeatAfter) return;
  catch_up_answered_[key] = now;
  auto commit = chain_->ReadCommit(behind);
  if (!commit) return;
  (void)connection->Send(api::kFrameConsensus, consensus::EncodeMessage(*commit));
}

void PeerNode::RequestSync(const transport::ConnectionPointer& connection, uint64_t peer_height) {
  known_heights_[connection.get()] = std::max(known_heights_[connection.get()], peer_height);
  // From the first height neither being written nor already received.
  uint64_t first = NextHeight();
  while (pending_commits_.contains(first)) ++first;
  if (peer_height < first) return;
  auto now = Clock::now();
  auto requested = sync_requested_.find(connection.get());
  if (requested != sync_requested_.end() && now - requested->second < kSyncRequestRepeatAfter) {
    return;
  }
  sync_requested_[connection.get()] = now;
  uint64_t count =
      std::min<uint64_t>(peer_height - first + 1, limits::kPeerSyncBlocksPerResponse);
  (void)connection->Send(api::kFrameSyncRequest,
                         api::Encode(api::SyncRequest{.from_height = first,
                                                      .count = static_cast<uint32_t>(count)}));
}

void PeerNode::SendStatus(const transport::ConnectionPointer& connection) {
  (void)connection->Send(api::kFramePeerStatus, api::Encode(api::PeerStatus{.height = height()}));
}

void PeerNode::OnGossipTimer() {
  if (stopped_) return;
  if (consensus_started_) {
    consensus_->OnGossipTick(NowMs());
    ProcessReady();
  }
  gossip_timer_.expires_after(options_.gossip_interval);
  gossip_timer_.async_wait([this, alive = alive_](const asio::error_code& error) {
    if (*alive && !error) OnGossipTimer();
  });
}

void PeerNode::OnStatusTimer() {
  if (stopped_) return;
  Broadcast(api::kFramePeerStatus, api::Encode(api::PeerStatus{.height = height()}));
  status_timer_.expires_after(options_.status_interval);
  status_timer_.async_wait([this, alive = alive_](const asio::error_code& error) {
    if (*alive && !error) OnStatusTimer();
  });
}

// --- Clients ---

mempool::StatelessCheck PeerNode::CheckOnLoop(ByteSpan transaction) {
  return mempool::CheckStateless(transaction, options_.genesis.chain_id, execute_options_.verify);
}

mempool::StatelessCheck PeerNode::RememberVerified(VerifiedTransaction verified) {
  for (const auto& entry : verified.entries) signature_cache_.RememberVerified(entry);
  return std::move(verified.check);
}

api::SubmitResponse PeerNode::Admit(mempool::StatelessCheck transaction, bool from_client) {
  if (stopped_) {
    return api::SubmitResponse{
        .request_id = 0,
        .transaction_id = transaction.id,
        .outcome = api::SubmitOutcome::kRefused,
        .result = ledger::Refuse(ledger::ResultCode::kUnsupported, "this peer has halted")};
  }
  if (chain_->CommittedWithRefusal(transaction.id)) {
    // Its sequence is unused, so the mempool could take it again: see Chain.
    return api::SubmitResponse{
        .request_id = 0,
        .transaction_id = transaction.id,
        .outcome = api::SubmitOutcome::kRefused,
        .result = ledger::Refuse(ledger::ResultCode::kAlreadyExists,
                                 "transaction " + ToHex(transaction.id) +
                                     " is already on the ledger, with a refusal")};
  }
  std::optional<Bytes> gossip;  // a client's transaction goes to the other validators
  if (from_client && transaction.checked) gossip = transaction.checked->encoded;
  mempool::Admission admission =
      mempool_->Add(std::move(transaction), chain_->state(), NextBlockContext(NowMs()));
  api::SubmitResponse response{
      .request_id = 0,
      .transaction_id = admission.id,
      .outcome = admission.admitted() ? api::SubmitOutcome::kPending : api::SubmitOutcome::kRefused,
      .result = admission.result};
  if (admission.admitted() && !admission.duplicate) {
    if (gossip) {
      gossip_batch_.push_back(std::move(*gossip));
      if (!gossip_flush_posted_) {
        gossip_flush_posted_ = true;
        asio::post(io_context_, [this, alive = alive_] {
          if (*alive) FlushTransactionGossip();
        });
      }
    }
    // Posted, not called: the caller registers its waiter first, and a burst of submissions
    // lands in one block.
    if (!consensus_started_ && !start_posted_) {
      start_posted_ = true;
      asio::post(io_context_, [this, alive = alive_] {
        if (!*alive) return;
        start_posted_ = false;
        MaybeStartNextHeight();
      });
    }
  }
  return response;
}

void PeerNode::FlushTransactionGossip() {
  gossip_flush_posted_ = false;
  if (stopped_ || gossip_batch_.empty()) return;
  api::TransactionBatch batch;
  batch.transactions.swap(gossip_batch_);
  Broadcast(api::kFrameTransactions, api::Encode(batch));
}

void PeerNode::AnswerWaiters(const ledger::TransactionId& id, api::SubmitResponse response) {
  auto found = waiters_.find(id);
  if (found == waiters_.end()) return;
  for (const Waiter& waiter : found->second) {
    auto connection = waiter.connection.lock();
    if (!connection) continue;
    response.request_id = waiter.request_id;
    (void)connection->Send(api::kFrameSubmitResponse, api::Encode(response));
  }
  waiters_.erase(found);
}

Status PeerNode::HandleClientFrame(const transport::ConnectionPointer& connection,
                                   transport::FrameType type, ByteSpan payload) {
  switch (type) {
    case api::kFrameSubmitRequest: {
      VIGIL_ASSIGN_OR_RETURN(api::SubmitRequest request, api::DecodeSubmitRequest(payload));
      if (!verifier_pool_) {
        return SubmitFromClient(connection, request.request_id, request.wait_for_commit,
                                CheckOnLoop(request.transaction));
      }
      std::weak_ptr<transport::Connection> weak = connection;
      verifier_pool_->Submit(
          std::move(request.transaction),
          [this, weak, id = request.request_id,
           wait = request.wait_for_commit](VerifiedTransaction verified) {
            mempool::StatelessCheck check = RememberVerified(std::move(verified));
            auto open = weak.lock();
            if (!open) return;
            if (Status answered = SubmitFromClient(open, id, wait, std::move(check));
                !answered) {
              spdlog::debug("peer submit_answer_failed error={}",
                            LogValue(answered.error().message()));
            }
          });
      return Ok();
    }
    case api::kFrameBlockRequest: {
      VIGIL_ASSIGN_OR_RETURN(api::BlockRequest request, api::DecodeBlockRequest(payload));
      uint64_t wanted = request.height == 0 ? height() : request.height;
      api::BlockResponse response{.request_id = request.request_id, .block = std::nullopt};
      if (wanted >= 1 && wanted <= height()) {
        VIGIL_ASSIGN_OR_RETURN(response.block, chain_->ReadCommittedBlock(wanted));
      }
      return connection->Send(api::kFrameBlockResponse, api::Encode(response));
    }
    case api::kFrameTransactionRequest: {
      VIGIL_ASSIGN_OR_RETURN(api::TransactionRequest request,
                             api::DecodeTransactionRequest(payload));
      api::TransactionResponse response{.request_id = request.request_id, .proof = std::nullopt};
      VIGIL_ASSIGN_OR_RETURN(response.proof, chain_->ReadTransactionProof(request.transaction_id));
      response.pending = !response.proof && mempool_->Contains(request.transaction_id);
      return connection->Send(api::kFrameTransactionResponse, api::Encode(response));
    }
    case api::kFrameSubscribeRequest: {
      VIGIL_ASSIGN_OR_RETURN(api::SubscribeRequest request, api::DecodeSubscribeRequest(payload));
      size_t mine = std::ranges::count_if(subscribers_, [&](const Subscriber& subscriber) {
        return subscriber.connection.lock() == connection;
      });
      if (mine >= 8) {
        return Fail(ErrorCode::kResourceExhausted, "at most 8 subscriptions per session");
      }
      subscribers_.push_back(Subscriber{connection, request.from_height});
      PumpSubscriber(subscribers_.back());
      return Ok();
    }
    case api::kFrameStatusRequest: {
      VIGIL_ASSIGN_OR_RETURN(api::StatusRequest request, api::DecodeStatusRequest(payload));
      return connection->Send(api::kFrameStatusResponse,
                              api::Encode(BuildStatus(request.request_id)));
    }
    case api::kFrameGroupRequest: {
      VIGIL_ASSIGN_OR_RETURN(api::GroupRequest request, api::DecodeGroupRequest(payload));
      VIGIL_ASSIGN_OR_RETURN(api::GroupResponse response, chain_->ReadGroup(request.group));
      response.request_id = request.request_id;
      return connection->Send(api::kFrameGroupResponse, api::Encode(response));
    }
    case api::kFrameComplianceRequest: {
      VIGIL_ASSIGN_OR_RETURN(api::ComplianceRequest request, api::DecodeComplianceRequest(payload));
      return connection->Send(api::kFrameComplianceResponse,
                              api::Encode(chain_->ReadCompliance(request)));
    }
    default:
      return Fail(ErrorCode::kRefused, "unknown request type " + std::to_string(type));
  }
}

Status PeerNode::SubmitFromClient(const transport::ConnectionPointer& connection,
                                  uint64_t request_id, bool wait_for_commit,
                                  mempool::StatelessCheck transaction) {
  api::SubmitResponse response = Admit(std::move(transaction), true);
  response.request_id = request_id;
  const ledger::TransactionId id = response.transaction_id;
  if (response.outcome == api::SubmitOutcome::kRefused) {
    // Admission refuses a transaction already on the chain (a used sequence, or
    // Chain::CommittedWithRefusal): only then is the store asked, so that a fresh submission
    // costs no read. Found: the answer is where and how it was committed.
    auto location = chain_->reader().FindTransaction(id);
    if (location) {
      VIGIL_ASSIGN_OR_RETURN(auto result, ledger::DecodeResult(ByteSpan(location->result)));
      response = api::SubmitResponse{.request_id = request_id,
                                     .transaction_id = id,
                                     .outcome = api::SubmitOutcome::kCommitted,
                                     .result = std::move(result),
                                     .height = location->height,
                                     .index = location->index};
    }
  }
  if (response.outcome == api::SubmitOutcome::kPending && wait_for_commit) {
    auto& waiting = waiters_[id];
    if (waiting.size() < limits::kPeerClientRequestsInFlightMax) {
      waiting.push_back(Waiter{connection, request_id});
      return Ok();
    }
  }
  return connection->Send(api::kFrameSubmitResponse, api::Encode(response));
}

void PeerNode::PumpSubscribers() {
  for (auto& subscriber : subscribers_) PumpSubscriber(subscriber);
}

void PeerNode::PumpSubscriber(Subscriber& subscriber) {
  auto connection = subscriber.connection.lock();
  if (!connection || !connection->is_open()) return;
  // Keep at most a quarter of the send queue for one subscription; on_writable resumes it.
  size_t queue_share = limits::kFramePayloadBytesMax;
  while (subscriber.next_height <= height() && connection->queued_bytes() < queue_share) {
    auto block = chain_->ReadCommittedBlock(subscriber.next_height);
    if (!block) {
      spdlog::error("peer subscription_read_failed height={} error={}", subscriber.next_height,
                    LogValue(block.error().message()));
      return;
    }
    Status sent = connection->Send(api::kFrameBlockEvent, api::Encode(*block));
    if (!sent) return;  // queue full: on_writable pumps again
    ++subscriber.next_height;
  }
}

api::StatusResponse PeerNode::BuildStatus(uint64_t request_id) const {
  const ledger::ChainTip& tip = chain_->state().tip();
  api::StatusResponse status;
  status.request_id = request_id;
  status.node_name = options_.name;
  status.chain_id = options_.genesis.chain_id;
  status.genesis_hash = chain_->genesis_hash();
  status.height = tip.height;
  status.block_hash = tip.block_hash;
  status.state_hash = tip.state_hash;
  status.block_time_ms = tip.time_ms;
  status.rules_version = ledger::RulesVersionAt(chain_->state(), tip.height + 1);
  status.validators = static_cast<uint32_t>(chain_->validators().size());
  status.is_validator = consensus_->validator_index().has_value();
  status.peers_connected = static_cast<uint32_t>(peer_sessions_.size());
  status.mempool_transactions = mempool_->size();
  status.mempool_bytes = mempool_->bytes();
  status.consensus_round = consensus_->round();
  status.evidence_count = counters_.evidence_recorded;
  return status;
}

}  // namespace vigil::peer
