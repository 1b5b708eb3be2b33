// `vigil peer`: one ledger peer. The I/O shell around the pure cores — Tendermint consensus
// (src/consensus), the contract rules (src/ledger), the mempool (src/mempool) — with the store
// (src/peer/chain.h) and the mutual-TLS transport (src/transport). Design: docs/peer.md.
//
// One thread runs everything (an asio::io_context): messages, timers and client requests are
// events; each event feeds the consensus machine and then executes its Ready in order —
// persist (the consensus state, synced) BEFORE send, commit the decided block, send, arm
// timers. No locks, and the order of effects is the one docs/consensus.md argues is safe.
// One exception: the store write of a decided block (block, results, state and the step's
// write-ahead record, one sync) runs on a store thread, so that meanwhile the loop goes on
// admitting transactions and answering reads. Until that write returns the chain stays at
// the previous block, nothing of the deciding step is sent and the next height does not start;
// then the loop moves the state, sends, answers the block's waiters and goes on
// (docs/peer.md#commit-pipeline).
//
// Network: the peer listens on one port for both validators (certificate role `peer`) and
// clients (roles admin, publisher, gateway), and keeps one outgoing session to every other
// validator named in the genesis (reconnecting with backoff). Consensus messages and gossiped
// transactions go out on the outgoing sessions; answers go back on the session that asked.
//
// Catching up: peers announce their height (PeerStatus) on connecting and after every block;
// a peer behind asks for the blocks it misses (SyncRequest) and feeds each (block, commit
// certificate) to consensus as a Commit message, which checks the certificate before
// deciding; a message from a peer behind is answered with the Commit of its height.
//
// Restart: the store holds the last committed block and the last persisted consensus state.
// If that state is of the next height, consensus is restored from it (so no vote it signed
// before the crash is contradicted); otherwise the next height starts afresh.
//
// Thread-safety: create, run and destroy on the io_context's thread.
#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/messages.h"
#include "consensus/consensus.h"
#include "ledger/genesis.h"
#include "mempool/mempool.h"
#include "peer/chain.h"
#include "peer/verifier_pool.h"
#include "pki/pki.h"
#include "store/block_store.h"
#include "transport/client.h"
#include "transport/server.h"

namespace vigil::artifacts {
class ArtifactServer;
class PublishAuthorizer;
}  // namespace vigil::artifacts

namespace vigil::peer {

struct PeerAddress {
  std::string host;
  uint16_t port = 0;
  std::string name;  // the validator's name in the genesis, for logs
};

// Test-only misbehaviour, for multi-process tests of Byzantine tolerance.
enum class ByzantineMode : uint8_t {
  kNone,
  // Signs, next to each of its votes, a conflicting one (nil for a value, a made-up value for
  // nil) and sends both to every validator, in opposite orders to alternate validators.
  kEquivocate,
  // Puts into each block it proposes, first, the first transaction of the last non-empty block
  // committed: a transaction already on the chain (a replay).
  kReplayCommitted,
};

struct PeerOptions {
  std::string name;
  std::filesystem::path data_directory;
  ledger::Genesis genesis;
  // The node's TLS credentials (required); its key is also its validator key.
  std::optional<pki::NodeCredentials> credentials;
  std::string listen_address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port (tests)
  // The validators to dial (the genesis lists them; this node's own entry is left out).
  std::vector<PeerAddress> peers;
  consensus::Config consensus;
  mempool::MempoolOptions mempool;
  // With an empty mempool the next block waits this long (empty blocks only mark time).
  std::chrono::milliseconds empty_block_interval{1000};
  // With transactions pending, the next block waits this long after the last commit for more
  // to arrive: under load, blocks batch what came in meanwhile instead of one per read.
  std::chrono::milliseconds batch_delay{3};
  // Consensus re-gossip (lost messages are recovered) and height announcements.
  std::chrono::milliseconds gossip_interval{200};
  std::chrono::milliseconds status_interval{1000};
  // What one block may hold (further capped by the rules version in force).
  size_t block_transactions_max = 5000;
  size_t block_bytes_max = 4 * 1024 * 1024;
  store::Synchronous synchronous = store::Synchronous::kFull;
  // Tests only: the store's fault hook (store::StoreOptions::fault_hook); block writes call it
  // on the store thread.
  std::function<Status(store::CommitPoint)> store_fault_hook;
  // Worker threads that verify incoming transactions' signatures (peer/verifier_pool.h); 0
  // verifies on the event loop.
  size_t verify_threads = 2;
  ByzantineMode byzantine = ByzantineMode::kNone;
  // The newest contract-rules version this peer executes (`--max-rules-version`: simulates an
  // older binary). It reports the versions it has in a peer-report transaction, halts before
  // a block under a later version, and refuses to start when one is already in force.
  uint32_t max_rules_version = UINT32_MAX;
  // The artifact store this peer serves over HTTPS (docs/artifacts.md), with the node
  // certificate; off unless enabled. Its directory defaults to <data_directory>/artifacts.
  bool artifacts_enabled = false;
  std::string artifacts_listen_address = "127.0.0.1";
  uint16_t artifacts_port = 0;  // 0: any free port (tests)
  std::filesystem::path artifacts_directory;
};

// Peers listed in `genesis` other than `own_key`, from their "host:port" addresses.
Expected<std::vector<PeerAddress>> PeersFromGenesis(const ledger::Genesis& genesis,
                                                    const crypto::PublicKey& own_key);

struct PeerCounters {
  uint64_t blocks_committed = 0;
  uint64_t transactions_committed = 0;
  uint64_t blocks_synced = 0;  // decided from a Commit (block sync or a catch-up answer)
  uint64_t messages_refused = 0;
  uint64_t evidence_recorded = 0;
  // Consensus write-ahead records: saved on their own (one sync each), or written in the
  // transaction of the block decided in the same step (no sync of their own).
  uint64_t consensus_states_saved = 0;
  uint64_t consensus_states_with_block = 0;
};

class PeerNode {
 public:
  // Opens the store, restores or starts consensus, binds the listener and dials the peers.
  static Expected<std::unique_ptr<PeerNode>> Start(asio::io_context& io_context,
                                                   PeerOptions options);
  ~PeerNode();
  PeerNode(const PeerNode&) = delete;
  PeerNode& operator=(const PeerNode&) = delete;

  // Closes every session and cancels timers; the io_context then runs out of work.
  void Stop();
  uint16_t port() const;
  // The artifact server's port, or 0 when it is off.
  uint16_t artifacts_port() const;
  uint64_t height() const { return chain_->height(); }
  const ledger::State& state() const { return chain_->state(); }
  const PeerCounters& counters() const { return counters_; }
  const consensus::Consensus& consensus() const { return *consensus_; }
  // Set when the node stopped itself because it cannot go on safely (a store write failed, a
  // decided block does not execute); the peer command exits non-zero with it.
  const std::optional<Error>& fatal_error() const { return fatal_error_; }
  // Called once, on the io_context thread, right after the node halted (fatal_error set): the
  // owner stops whatever else keeps its io_context running so the process can exit.
  void set_on_halt(std::function<void()> on_halt) { on_halt_ = std::move(on_halt); }

 private:
  class Values;
  struct Waiter {
    std::weak_ptr<transport::Connection> connection;
    uint64_t request_id = 0;
  };
  struct Subscriber {
    std::weak_ptr<transport::Connection> connection;
    uint64_t next_height = 1;
  };
  // The decided block whose store write is running on the store thread.
  struct CommitInFlight {
    PreparedCommit prepared;
    uint32_t round = 0;
    bool from_sync = false;
    bool with_consensus_state = false;
    std::vector<consensus::Message> messages;  // sent once the write returned
  };
  struct ScheduledTimeout {
    uint64_t id = 0;  // the handler finds its entry by id: the list may be cleared meanwhile
    consensus::Timeout timeout;
    std::unique_ptr<asio::steady_timer> timer;
  };

  PeerNode(asio::io_context& io_context, PeerOptions options, std::unique_ptr<Chain> chain);
  Status Open();
  int64_t NowMs() const;
  const crypto::PrivateKey& key() const { return options_.credentials->key; }
  ledger::BlockContext NextBlockContext(int64_t now_ms) const;

  // Consensus driving.
  void StartConsensusAt(uint64_t height);
  void MaybeStartNextHeight();
  void StepConsensus(const consensus::Message& message, const transport::ConnectionPointer& from);
  void ProcessReady();
  // Prepares the decided block and starts its store write on the store thread;
  // `consensus_state` is the encoded write-ahead record of the same step, written with the
  // block, and `messages` what that step sends once the write is durable.
  Status StartCommit(const consensus::Decision& decision, std::optional<Bytes> consensus_state,
                     std::vector<consensus::Message> messages);
  // Back on the loop once the write returned: moves the chain, sends, answers, goes on.
  void OnCommitWritten(Status written);
  void AfterCommit(const ledger::Block& block, const ledger::BlockExecution& execution);
  // The height consensus works on next: after the chain's, or after the block being written.
  uint64_t NextHeight() const { return height() + (commit_in_flight_ ? 2 : 1); }
  void FeedBuffered();
  void ScheduleTimeout(const consensus::Timeout& timeout);
  void Broadcast(transport::FrameType type, const Bytes& payload);
  void BroadcastConsensus(const std::vector<consensus::Message>& messages);
  void RecordEvidence(const std::vector<consensus::Evidence>& evidence);
  void Halt(Error error);
  // Halts (before executing anything) when the block at `height` needs a rules version this
  // peer lacks; true when it did.
  bool HaltIfRulesMissing(uint64_t height);
  // Submits a peer report of this binary's rules versions when the ledger's record differs.
  void MaybeReportRulesSupport();

  // Network.
  void OnOpen(const transport::ConnectionPointer& connection);
  void OnFrame(const transport::ConnectionPointer& connection, transport::FrameType type,
               ByteSpan payload);
  void OnClose(const transport::ConnectionPointer& connection);
  Status HandlePeerFrame(const transport::ConnectionPointer& connection, transport::FrameType type,
                         ByteSpan payload);
  Status HandleClientFrame(const transport::ConnectionPointer& connection,
                           transport::FrameType type, ByteSpan payload);
  void AnswerBehindPeer(const transport::ConnectionPointer& connection, uint64_t height);
  void RequestSync(const transport::ConnectionPointer& connection, uint64_t peer_height);
  void SendStatus(const transport::ConnectionPointer& connection);
  void OnGossipTimer();
  void OnStatusTimer();

  // Transactions and clients.
  // Admission's stateless part on the loop thread (no verifier pool, or the peer's own report).
  mempool::StatelessCheck CheckOnLoop(ByteSpan transaction);
  // Keeps a worker's verified signatures in the cache; returns its check for admission.
  mempool::StatelessCheck RememberVerified(VerifiedTransaction verified);
  api::SubmitResponse Admit(mempool::StatelessCheck transaction, bool from_client);
  Status SubmitFromClient(const transport::ConnectionPointer& connection, uint64_t request_id,
                          bool wait_for_commit, mempool::StatelessCheck transaction);
  void FlushTransactionGossip();
  void AnswerWaiters(const ledger::TransactionId& id, api::SubmitResponse response);
  void PumpSubscribers();
  void PumpSubscriber(Subscriber& subscriber);
  api::StatusResponse BuildStatus(uint64_t request_id) const;

  asio::io_context& io_context_;
  PeerOptions options_;
  std::unique_ptr<Chain> chain_;
  std::unique_ptr<consensus::Ed25519Signer> signer_;
  mempool::SignatureCache signature_cache_;
  ledger::ExecuteOptions execute_options_;
  std::unique_ptr<mempool::Mempool> mempool_;
  std::unique_ptr<Values> values_;
  std::unique_ptr<consensus::SignatureVerifier> verifier_;
  std::unique_ptr<consensus::Consensus> consensus_;
  std::unique_ptr<VerifierPool> verifier_pool_;
  // ByzantineMode::kReplayCommitted only: what its next proposal replays.
  std::optional<Bytes> last_committed_transaction_;
  bool consensus_started_ = false;  // at chain_->height() + 1

  std::shared_ptr<transport::TlsContext> server_tls_;
  std::shared_ptr<transport::TlsContext> client_tls_;
  std::unique_ptr<transport::Server> server_;
  std::vector<std::unique_ptr<transport::ReconnectingClient>> dialers_;
  std::set<transport::ConnectionPointer> peer_sessions_;      // outgoing, open
  std::map<transport::Connection*, uint64_t> known_heights_;  // what each peer announced
  std::map<transport::Connection*, std::chrono::steady_clock::time_point> sync_requested_;
  std::map<std::pair<transport::Connection*, uint64_t>, std::chrono::steady_clock::time_point>
      catch_up_answered_;

  // Consensus messages of the next height that arrived before it started, and Commits of later
  // heights (from block sync), fed to consensus when it reaches their height.
  std::vector<consensus::Message> early_messages_;
  std::map<uint64_t, consensus::Commit> pending_commits_;
  std::list<ScheduledTimeout> timeouts_;
  uint64_t next_timeout_id_ = 1;
  // False once the node is destroyed: a handler already queued (a timer that fired just before
  // it was cancelled, a post) checks it before touching the node.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  asio::steady_timer gossip_timer_;
  asio::steady_timer status_timer_;
  asio::steady_timer next_height_timer_;
  std::chrono::steady_clock::time_point last_commit_time_;

  std::vector<Bytes> gossip_batch_;
  bool gossip_flush_posted_ = false;
  bool start_posted_ = false;
  std::map<ledger::TransactionId, std::vector<Waiter>> waiters_;
  std::vector<Subscriber> subscribers_;
  // Executions of blocks this node built or validated at the current height, by block hash,
  // so a decided block is not executed twice.
  std::map<Sha256Digest, ledger::BlockExecution> executions_;
  // At most one block write at a time; the thread only runs Chain::WriteCommit. Declared after
  // chain_ so that it is joined before the chain goes (the destructor also joins it first).
  std::unique_ptr<CommitInFlight> commit_in_flight_;
  asio::thread_pool store_thread_{1};

  // Who may upload artifacts: a snapshot of the publishers and published releases, refreshed
  // after each commit, read by the artifact server's threads (artifacts/publish_authorizer.h
  // says why a snapshot rather than a question to this loop).
  std::shared_ptr<artifacts::PublishAuthorizer> publish_authorizer_;
  std::unique_ptr<artifacts::ArtifactServer> artifact_server_;

  uint64_t rules_report_height_ = 0;  // when the last peer report was submitted (0: never)
  PeerCounters counters_;
  std::optional<Error> fatal_error_;
  std::function<void()> on_halt_;
  bool stopped_ = false;
};

}  // namespace vigil::peer
