// Every limit in Vigil, in one place (STYLE.md rule 7, TigerBeetle's constants file).
//
// A queue, loop, retry, message or payload without a named maximum is a defect. Names end
// with their unit. Static assertions below record how the limits relate; change a limit
// here and the compiler tells you what else must move.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace vigil::limits {

// --- Sizes of primitives (fixed by the algorithms; DO NOT CHANGE). ---
inline constexpr size_t kSha256DigestBytes = 32;
inline constexpr size_t kEd25519PublicKeyBytes = 32;
inline constexpr size_t kEd25519SignatureBytes = 64;
inline constexpr size_t kEd25519SeedBytes = 32;

// --- Canonical encoding (docs/encoding.md). ---
// Upper bound on any single length-prefixed field; callers pass tighter limits per field.
inline constexpr size_t kCodecFieldBytesMax = 64 * 1024 * 1024;
// Upper bound on the element count of any vector; callers pass tighter limits per field.
inline constexpr size_t kCodecVectorElementsMax = 1 << 20;
// Upper bound on a whole encoded object handed to a decoder.
inline constexpr size_t kCodecMessageBytesMax = 64 * 1024 * 1024;
// Nesting depth for recursive structures (none yet; reserved for the ledger's types).
inline constexpr size_t kCodecNestingDepthMax = 16;

// --- Merkle trees (RFC 6962 / RFC 9162). ---
// A proof for a tree of 2^64 leaves has at most 64 hashes.
inline constexpr size_t kMerkleProofHashesMax = 64;

// Read buffer when hashing a file (crypto::Sha256OfFile).
inline constexpr size_t kFileHashBufferBytes = 1024 * 1024;

// A TOML configuration file (common/config_file.h): far above any real one.
inline constexpr size_t kConfigFileBytesMax = 256 * 1024;
// Entries of one list in a configuration file (peers, mirrors, apps).
inline constexpr size_t kConfigListEntriesMax = 256;

// --- Keys and certificates. ---
inline constexpr size_t kPemFileBytesMax = 64 * 1024;
inline constexpr uint32_t kCertificateValidityDaysDefault = 365;
inline constexpr uint32_t kCaValidityDaysDefault = 3650;
inline constexpr uint32_t kCertificateValidityDaysMax = 36500;
inline constexpr size_t kCertificateNameBytesMax = 64;  // X.509 ub-common-name

// --- Transport (docs/transport.md). ---
// A frame is [u32 payload length][u16 type][payload].
inline constexpr size_t kFrameHeaderBytes = 6;
inline constexpr size_t kFramePayloadBytesMax = 16 * 1024 * 1024;
inline constexpr size_t kFramePayloadBytesDefault = 4 * 1024 * 1024;
// Bytes (and frames) a connection may have queued for sending before Send refuses.
inline constexpr size_t kSendQueueBytesDefault = 32 * 1024 * 1024;
inline constexpr size_t kSendQueueFramesMax = 65536;
// Bytes read from the socket per read call.
inline constexpr size_t kReadChunkBytes = 256 * 1024;
inline constexpr size_t kServerConnectionsDefault = 4096;
inline constexpr size_t kServerConnectionsMax = 65536;
inline constexpr std::chrono::milliseconds kConnectTimeoutDefault{5000};
inline constexpr std::chrono::milliseconds kHandshakeTimeoutDefault{5000};
inline constexpr std::chrono::milliseconds kIdleTimeoutDefault{30000};
inline constexpr std::chrono::milliseconds kReconnectDelayInitial{100};
inline constexpr std::chrono::milliseconds kReconnectDelayMax{30000};
inline constexpr uint32_t kReconnectAttemptsMax = 1'000'000;
// A healthy but quiet session sends a heartbeat frame this often, so the peer's idle timeout
// only closes sessions that have gone silent (dead peer, half-open TCP).
inline constexpr std::chrono::milliseconds kHeartbeatIntervalDefault{10000};
// How long a graceful close may take (send the close frame, flush the queue, wait for the
// peer to hang up) before the socket is simply closed.
inline constexpr std::chrono::milliseconds kCloseTimeoutDefault{2000};
// After accept() fails (e.g. out of file descriptors) the server waits this long before
// accepting again, instead of spinning on the error.
inline constexpr std::chrono::milliseconds kAcceptRetryDelay{100};
// The reason text carried by a close frame (type 2); longer reasons are truncated.
inline constexpr size_t kCloseReasonBytesMax = 1024;
// Frames gathered into one scatter-gather write.
inline constexpr size_t kWriteBatchFramesMax = 64;

static_assert(kFramePayloadBytesDefault <= kFramePayloadBytesMax);
static_assert(kSendQueueBytesDefault >= 2 * kFramePayloadBytesDefault,
              "a send queue must hold at least two full frames, or pipelining stalls");
static_assert(kFramePayloadBytesMax <= UINT32_MAX, "payload length travels as u32");
static_assert(kFramePayloadBytesMax <= kCodecMessageBytesMax,
              "every frame payload must be decodable");
static_assert(kServerConnectionsDefault <= kServerConnectionsMax);
static_assert(kReconnectDelayInitial <= kReconnectDelayMax);
static_assert(2 * kHeartbeatIntervalDefault <= kIdleTimeoutDefault,
              "a peer must be able to miss one heartbeat before its session is closed as idle");
static_assert(kCloseReasonBytesMax <= kFramePayloadBytesDefault);
static_assert(kWriteBatchFramesMax <= kSendQueueFramesMax);
static_assert(kCodecFieldBytesMax <= kCodecMessageBytesMax);

}  // namespace vigil::limits

// --- Consensus (docs/consensus.md). ---
namespace vigil::limits {
// Validators of one height. Votes carry a u32 index; 256 keeps a commit certificate (64 bytes
// of signature a validator) under 20 KiB.
inline constexpr size_t kConsensusValidatorsMax = 256;
// 3 x the total must fit in u64: quorum checks compute 3 * power > 2 * total.
inline constexpr uint64_t kConsensusTotalVotingPowerMax = uint64_t{1} << 60;
inline constexpr size_t kConsensusChainIdBytesMax = 64;
// A proposed value (for the ledger, one encoded block).
inline constexpr size_t kConsensusValueBytesMax = 8 * 1024 * 1024;
// A whole consensus message: a proposal or commit (value + certificate) and its framing.
inline constexpr size_t kConsensusMessageBytesMax = kConsensusValueBytesMax + 64 * 1024;
// Rounds within one height. Timeouts grow with the round, so reaching this takes years; a
// message naming a higher round is refused as malformed.
inline constexpr uint32_t kConsensusRoundMax = 1'000'000;
// Messages are stored for the current round and this many rounds ahead of it; further rounds
// only count toward the f+1 round-skip rule (one highest round per validator), so a Byzantine
// validator cannot make a node store votes for a million rounds.
inline constexpr uint32_t kConsensusRoundsAheadMax = 16;
// Rounds behind the current one whose votes are kept (for late precommits, line 49).
inline constexpr uint32_t kConsensusRoundsBehindMax = 64;
// Votes of an equivocating validator counted beyond its first, per round and vote type. The
// paper counts messages, so a Byzantine validator's second vote for a value this node holds a
// proposal for counts toward that value (otherwise a correct node that saw the other vote
// first could never see the 2f+1 prevotes that justify a proposal's valid round, line 28).
inline constexpr size_t kConsensusConflictingVotesMax = 4;
// Evidence kept by one node for the current height (at most one per validator, type and round
// it has votes for, so this bounds memory, not correctness).
inline constexpr size_t kConsensusEvidenceMax = 1024;
// The three timeouts of Algorithm 1 (lines 57-67): base + round x delta.
inline constexpr std::chrono::milliseconds kConsensusTimeoutProposeDefault{3000};
inline constexpr std::chrono::milliseconds kConsensusTimeoutPrevoteDefault{1000};
inline constexpr std::chrono::milliseconds kConsensusTimeoutPrecommitDefault{1000};
inline constexpr std::chrono::milliseconds kConsensusTimeoutDeltaDefault{500};
// No timeout grows beyond this, whatever the round.
inline constexpr std::chrono::milliseconds kConsensusTimeoutMax{10 * 60 * 1000};

static_assert(3 * kConsensusTotalVotingPowerMax > kConsensusTotalVotingPowerMax,
              "3 x total voting power must not overflow u64");
static_assert(kConsensusValidatorsMax <= kCodecVectorElementsMax);
static_assert(kConsensusMessageBytesMax <= kFramePayloadBytesMax,
              "a consensus message must fit in one transport frame");
static_assert(kConsensusValueBytesMax < kConsensusMessageBytesMax);
static_assert(kConsensusTimeoutProposeDefault <= kConsensusTimeoutMax);
}  // namespace vigil::limits

// --- Store (docs/storage.md). ---
namespace vigil::limits {
// Block hashes, transaction ids and state hashes are SHA-256 digests.
inline constexpr size_t kStoreHashBytes = kSha256DigestBytes;
// One encoded block is one consensus value.
inline constexpr size_t kStoreBlockBytesMax = kConsensusValueBytesMax;
// A commit certificate holds at most one signed precommit per validator (under 20 KiB at
// 256 validators); 1 MiB leaves room for the encoding to grow.
inline constexpr size_t kStoreCommitCertificateBytesMax = 1024 * 1024;
inline constexpr size_t kStoreTransactionsPerBlockMax = kCodecVectorElementsMax;
inline constexpr size_t kStoreStateWritesPerBlockMax = kCodecVectorElementsMax;
inline constexpr size_t kStoreResultBytesMax = 1024 * 1024;
inline constexpr size_t kStoreStateKeyBytesMax = 1024;
inline constexpr size_t kStoreStateValueBytesMax = 16 * 1024 * 1024;
// The consensus DurableState may hold a proposal plus locked and valid values, each up to one
// consensus message.
inline constexpr size_t kStoreConsensusStateBytesMax = 4 * kConsensusMessageBytesMax;
inline constexpr size_t kStoreMetadataNameBytesMax = 256;
inline constexpr size_t kStoreMetadataValueBytesMax = 1024 * 1024;
// One BlocksFrom call (catch-up, subscriptions) and one ScanState call.
inline constexpr size_t kStoreBlocksPerReadMax = 1000;
inline constexpr size_t kStoreScanEntriesMax = 100'000;
// How long a connection waits for another connection's lock before failing with kUnavailable.
inline constexpr std::chrono::milliseconds kStoreBusyTimeoutDefault{5000};
// SQLite's page cache per connection. A 1,000-transaction block dirties about two thousand
// 4 KiB pages of randomly keyed B-trees (transaction ids, state keys); a cache that holds them
// keeps the commit from spilling to the WAL midway.
inline constexpr size_t kStorePageCacheBytes = 64 * 1024 * 1024;
// The WAL is copied back into the main file once it reaches this many pages (40 MiB): a hot
// page rewritten by many blocks is then checkpointed once, not once per block.
inline constexpr size_t kStoreWalCheckpointPages = 10'000;

static_assert(kStoreHashBytes == kSha256DigestBytes);
static_assert(kStoreBlockBytesMax + kStoreCommitCertificateBytesMax < 1'000'000'000,
              "a block row must stay under SQLite's default SQLITE_MAX_LENGTH");
static_assert(kStoreStateValueBytesMax < 1'000'000'000);
static_assert(kStoreConsensusStateBytesMax < 1'000'000'000);
}  // namespace vigil::limits

// --- Ledger (docs/ledger.md). ---
namespace vigil::limits {
// Names that appear in transactions and state: app names, device groups, admin, publisher and
// validator names. Short enough for a log line and a dashboard column.
inline constexpr size_t kLedgerNameBytesMax = 64;
// A semantic version string (SemVer 2.0.0 sets no limit; 64 bytes holds any real one).
inline constexpr size_t kLedgerVersionBytesMax = 64;
// Device labels ("line=3", "site=plant-a"): count and size of each.
inline constexpr size_t kLedgerLabelsMax = 32;
inline constexpr size_t kLedgerLabelBytesMax = 64;
// Free text: release notes, report details, revocation reasons, result reasons.
inline constexpr size_t kLedgerNotesBytesMax = 4096;
inline constexpr size_t kLedgerDetailBytesMax = 1024;
inline constexpr size_t kLedgerReasonBytesMax = 1024;
// Admins named at genesis; a governance envelope carries at most one signature per admin.
inline constexpr size_t kLedgerAdminsMax = 64;
inline constexpr size_t kLedgerSignaturesMax = kLedgerAdminsMax;
// Publishers and validator network addresses ("host:port").
inline constexpr size_t kLedgerPublishersMax = 1024;
inline constexpr size_t kLedgerAddressBytesMax = 256;
// Rules versions one peer can report supporting.
inline constexpr size_t kLedgerRulesVersionsMax = 16;
// One encoded transaction envelope and the kind-specific body inside it.
inline constexpr size_t kLedgerTransactionBytesMax = 64 * 1024;
inline constexpr size_t kLedgerBodyBytesMax = 32 * 1024;
// One block: transactions and total encoded size (it is one consensus value).
inline constexpr size_t kLedgerBlockTransactionsMax = 10'000;
inline constexpr size_t kLedgerBlockBytesMax = kConsensusValueBytesMax;
// The genesis file, CA certificate included.
inline constexpr size_t kLedgerGenesisFileBytesMax = 1024 * 1024;

static_assert(kLedgerSignaturesMax >= kLedgerAdminsMax,
              "a k-of-n governance envelope must be able to carry n signatures");
static_assert(kLedgerBodyBytesMax + kLedgerSignaturesMax * (kEd25519PublicKeyBytes +
                                                            kEd25519SignatureBytes) +
                      1024 <=
                  kLedgerTransactionBytesMax,
              "a maximal body with every signature must fit in one envelope");
static_assert(kLedgerNotesBytesMax < kLedgerBodyBytesMax);
static_assert(kLedgerTransactionBytesMax <= kLedgerBlockBytesMax);
static_assert(kLedgerBlockBytesMax <= kConsensusValueBytesMax,
              "a block is one consensus value");
static_assert(kLedgerBlockTransactionsMax <= kCodecVectorElementsMax);
static_assert(kLedgerReasonBytesMax <= kCodecFieldBytesMax);
}  // namespace vigil::limits

// --- Mempool (src/mempool). ---
namespace vigil::limits {
// Pending transactions a peer holds at most, by count and by encoded bytes; beyond either, new
// transactions are refused ("mempool full") until blocks drain it.
inline constexpr size_t kMempoolTransactionsDefault = 50'000;
inline constexpr size_t kMempoolBytesDefault = 64 * 1024 * 1024;
// Pending transactions of one signer (its sequence numbers ahead of the committed one).
inline constexpr size_t kMempoolPerSignerDefault = 1'000;
// Signature verifications remembered (admission verifies once; block execution hits the cache).
inline constexpr size_t kSignatureCacheEntriesDefault = 200'000;
static_assert(kMempoolBytesDefault >= kMempoolTransactionsDefault * 256);
}  // namespace vigil::limits

// --- Peer daemon (src/peer, docs/peer.md). ---
namespace vigil::limits {
// Blocks sent in one block-sync response.
inline constexpr size_t kPeerSyncBlocksPerResponse = 16;
// How far ahead of this peer's clock a proposed block's time may be.
inline constexpr int64_t kPeerBlockFutureTimeMaxMs = 10'000;
// Client requests in flight per session, and subscriptions per session.
inline constexpr size_t kPeerClientRequestsInFlightMax = 1'024;
// A group query answers at most this many devices (and apps per device, activations per
// group); a larger group's answer says it was truncated.
inline constexpr size_t kApiGroupDevicesMax = 1'024;
inline constexpr size_t kApiGroupAppsMax = 64;

// --- Delivery protocol, gateway ↔ device (docs/delivery.md). ---
// Bytes of a bundle one ChunkRequest may ask for; a device keeps a few in flight.
inline constexpr size_t kDeliveryChunkBytesMax = 1024 * 1024;
inline constexpr size_t kDeliveryChunkBytesDefault = 256 * 1024;
// Apps one device may run (the Hello's list).
inline constexpr size_t kDeliveryAppsMax = 64;
// A gateway's explanation of a chunk it cannot serve.
inline constexpr size_t kDeliveryErrorBytesMax = 1024;
static_assert(kDeliveryChunkBytesMax + 1024 <= kFramePayloadBytesDefault,
              "a chunk and its header must fit in one frame");

// --- Gateway (docs/gateway.md). ---
// Bytes of verified bundles the cache keeps by default (least recently used evicted first).
inline constexpr uint64_t kGatewayCacheBytesDefault = 4ULL * 1024 * 1024 * 1024;
// Blocks received from the peer but not yet verified and applied by the event loop; the
// subscription waits beyond this, so a fast peer cannot fill the gateway's memory.
inline constexpr size_t kGatewayBlocksInFlightMax = 64;
// Device reports waiting to be relayed to a peer, and relayed ones waiting for their block.
inline constexpr size_t kGatewayRelayQueueMax = 10'000;
inline constexpr size_t kGatewayPendingReportsMax = 100'000;
// How long a relayed report may wait for its block before the device is told to resend.
inline constexpr std::chrono::milliseconds kGatewayReportCommitTimeout{60'000};
// Subscription: how long to wait for the next block before asking again (blocks come at
// least every empty_block_interval, 1 s by default), and between attempts on failure.
inline constexpr std::chrono::milliseconds kGatewaySubscriptionIdle{5'000};
inline constexpr std::chrono::milliseconds kGatewayPeerRetryDelay{500};
// Transactions of the latest blocks remembered, so a relay answer that arrives after its
// block was applied still finds its result.
inline constexpr size_t kGatewayRecentCommitsMax = 20'000;
// Fetch timings kept for status() (benchmarks read them).
inline constexpr size_t kGatewayFetchHistoryMax = 64;
// Bytes queued for sending across all device sessions beyond which chunk requests wait (in
// arrival order) until writes drain: the gateway's memory does not grow with the fleet.
inline constexpr size_t kGatewayQueuedBytesMax = 128 * 1024 * 1024;
// Chunk requests one session may have waiting for that budget; more is a misbehaving device.
inline constexpr size_t kGatewayDeferredChunksPerSessionMax = 64;

// --- A device's session with its gateway (src/delivery/device_session.h). ---
// Chunk requests a device keeps in flight (× the chunk size bounds the gateway's send queue
// for this device).
inline constexpr uint32_t kAgentChunksInFlightDefault = 8;
// Downloads of one release that ended with wrong bytes before the agent waits for a new offer.
inline constexpr uint32_t kAgentDownloadRestartsMax = 3;
// Reports waiting to be sent (the oldest is dropped beyond), and tries of one report.
inline constexpr size_t kAgentReportsQueuedMax = 1'000;
inline constexpr uint32_t kAgentReportAttemptsMax = 5;
inline constexpr std::chrono::milliseconds kAgentReportRetryDelay{200};
static_assert(kAgentChunksInFlightDefault * kDeliveryChunkBytesMax <= kSendQueueBytesDefault,
              "a device's chunks in flight must fit in the gateway's send queue");
}  // namespace vigil::limits

// --- Device agent: slots, updater, supervisor, health checks (src/agent, docs/agent.md). ---
namespace vigil::limits {
// The updater's persisted record (one per app): small, but the reason and paths vary.
inline constexpr size_t kAgentRecordBytesMax = 64 * 1024;
inline constexpr size_t kAgentPathBytesMax = 4096;
// Times the agent may crash (or be killed) inside one step of an update before that step is
// abandoned: an install goes back to idle, an activation rolls back.
inline constexpr uint32_t kAgentStepAttemptsMax = 3;
// Versions of one app the updater record remembers as rolled back (never wanted again); the
// oldest is forgotten first.
inline constexpr size_t kAgentRolledBackVersionsMax = 16;
// Slots kept per app: current, previous and staged; anything else is garbage-collected.
inline constexpr size_t kAgentSlotsKeptMax = 3;
// Entries of a slots directory looked at by one garbage collection.
inline constexpr size_t kAgentSlotEntriesScannedMax = 1'000;
// Hex digits of the bundle digest in a slot's name ("1.2.0-3fa9c1d20b7e").
inline constexpr size_t kAgentSlotDigestHexDigits = 12;
// Supervisor: restart delays (doubling from initial to max), the uptime after which a run
// counts as healthy (the delay starts over), crash-loop detection (this many restarts within
// the window), the slow retry delay while in a crash loop, the stop grace period.
inline constexpr std::chrono::milliseconds kAgentRestartDelayInitial{500};
inline constexpr std::chrono::milliseconds kAgentRestartDelayMax{30'000};
inline constexpr std::chrono::milliseconds kAgentStableUptime{60'000};
inline constexpr uint32_t kAgentCrashLoopRestarts = 5;
inline constexpr std::chrono::milliseconds kAgentCrashLoopWindow{120'000};
inline constexpr std::chrono::milliseconds kAgentCrashLoopRetryDelay{300'000};
inline constexpr std::chrono::milliseconds kAgentStopGracePeriod{10'000};
// app.log: rotated to app.log.1 beyond this size, so two files bound the disk it takes.
inline constexpr uint64_t kAgentAppLogBytesMax = 16 * 1024 * 1024;
inline constexpr size_t kAgentAppLogReadBytes = 64 * 1024;
// Health checks: how long the command and the port check may take when the manifest does not
// say, and how often a TCP port is tried again (or the app's exit looked at) meanwhile.
inline constexpr std::chrono::milliseconds kAgentHealthTimeoutDefault{30'000};
inline constexpr std::chrono::milliseconds kAgentHealthRetryInterval{100};
// A manifest without any health check must still stay up this long to count as started.
inline constexpr std::chrono::milliseconds kAgentHealthStayUpDefault{5'000};
// Install hooks (pre_activate, post_activate): how long one may run before it is killed and
// counts as failed, and the bytes of its output's tail kept for the rollback report's reason.
inline constexpr std::chrono::milliseconds kAgentHookTimeout{60'000};
inline constexpr size_t kAgentHookOutputTailBytes = 512;
static_assert(kAgentRestartDelayInitial <= kAgentRestartDelayMax);
static_assert(kAgentRestartDelayMax <= kAgentCrashLoopRetryDelay,
              "a crash loop must slow restarts down, not speed them up");
static_assert(kAgentSlotsKeptMax >= 3, "current, previous and staged must all be kept");
static_assert(kAgentHookOutputTailBytes < kLedgerReasonBytesMax,
              "a hook's output tail must leave room in the reason for what failed");
}  // namespace vigil::limits

// --- Release bundles (src/release, docs/bundle-format.md). ---
namespace vigil::limits {
// Files of one release, and the encoded manifest that lists them (the manifest is the binding
// cap: 100,000 files of 1 KiB paths would not fit, 100,000 files of ordinary paths do).
inline constexpr size_t kReleaseFilesMax = 100'000;
inline constexpr size_t kReleaseManifestBytesMax = 16 * 1024 * 1024;
// A file's path inside the bundle, one component of it (NAME_MAX), and its depth.
inline constexpr size_t kReleasePathBytesMax = 1024;
inline constexpr size_t kReleasePathComponentBytesMax = 255;
inline constexpr size_t kReleasePathDepthMax = 32;
// Arguments of one command (entry, health check, hooks) and bytes of one argument.
inline constexpr size_t kReleaseArgumentsMax = 64;
inline constexpr size_t kReleaseArgumentBytesMax = 4096;
// Seconds a health check may ask the app to stay up, or may take in total.
inline constexpr uint32_t kReleaseHealthSecondsMax = 3600;
// Bytes all files of one release unpack to (the disk a device must have free).
inline constexpr uint64_t kReleaseUnpackedBytesMax = 16ULL * 1024 * 1024 * 1024;
// Decompression bomb guard: the bytes a manifest declares may be at most this many times the
// compressed archive (zstd reaches ~32,000:1 only on long runs of one byte value; real
// releases compress 2:1 to 10:1), checked before anything is decompressed.
inline constexpr uint64_t kReleaseCompressionRatioMax = 1'000;
// Decompressed tar bytes one entry may add beyond its file's data (header, pax extension with
// a long path, padding to 512 bytes), and at the end of the archive (end blocks, record).
inline constexpr uint64_t kReleaseTarEntryOverheadBytesMax = 8 * 1024;
inline constexpr uint64_t kReleaseTarTrailerBytesMax = 64 * 1024;
// Read and write buffer when building, verifying and unpacking (memory stays constant).
inline constexpr size_t kReleaseIoBufferBytes = 256 * 1024;
// zstd level a bundle is built with (3 is zstd's own default: fast, ~3:1 on binaries).
inline constexpr int kReleaseZstdLevelDefault = 3;

static_assert(kReleaseFilesMax <= kCodecVectorElementsMax);
static_assert(kReleaseManifestBytesMax <= kCodecMessageBytesMax);
static_assert(kReleaseManifestBytesMax <= UINT32_MAX, "the manifest length travels as u32");
static_assert(kReleasePathComponentBytesMax <= kReleasePathBytesMax);
static_assert(kReleaseArgumentBytesMax <= kCodecFieldBytesMax);
static_assert(kReleaseFilesMax * kReleaseTarEntryOverheadBytesMax + kReleaseTarTrailerBytesMax <
                  kReleaseUnpackedBytesMax,
              "tar overhead must not dominate the unpacked size bound");
}  // namespace vigil::limits

// --- Artifact store, served by peers (src/artifacts, docs/artifacts.md). ---
namespace vigil::limits {
// The largest artifact (a release bundle) a store accepts by default.
inline constexpr uint64_t kArtifactBytesMaxDefault = 4ULL * 1024 * 1024 * 1024;
// Uploads in progress (partial files) at once; a further upload is refused until one
// completes or ages out.
inline constexpr size_t kArtifactUploadsMaxDefault = 16;
// A partial upload not extended for this long is deleted (its client gave up).
inline constexpr std::chrono::seconds kArtifactPartialAgeMaxDefault{24 * 3600};
// Bytes one GET response reads from disk per write to the socket (never the whole file).
inline constexpr size_t kArtifactReadChunkBytes = 256 * 1024;
// Bytes an upload client sends per PUT; a refused or broken chunk costs at most this much.
inline constexpr size_t kArtifactUploadChunkBytesDefault = 4 * 1024 * 1024;
inline constexpr size_t kArtifactUploadChunkBytesMax = 64 * 1024 * 1024;
// Bytes of a refused PUT body the server reads and discards so the client sees the refusal
// (beyond this it closes the connection instead).
inline constexpr size_t kArtifactRefusedBodyDrainBytesMax = kArtifactUploadChunkBytesMax;
// The X-Vigil-Publish-Transaction header value (base64). cpp-httplib 0.11 refuses header
// lines over 8192 bytes; a publish envelope with maximal notes is about 6.3 KiB in base64.
inline constexpr size_t kArtifactTransactionHeaderBytesMax = 8000;
inline constexpr size_t kArtifactTransactionBytesMax = kArtifactTransactionHeaderBytesMax / 4 * 3;
// A Range / Content-Range header value (one range; anything longer is malformed).
inline constexpr size_t kArtifactRangeHeaderBytesMax = 128;
// Server: worker threads (each serves one connection at a time) and socket timeouts.
inline constexpr size_t kArtifactServerThreadsDefault = 8;
// Accepted connections waiting for a worker; beyond this the accept thread waits, and new
// connections queue in the kernel's (bounded) listen backlog instead of in memory.
inline constexpr size_t kArtifactServerQueuedConnectionsMax = 64;
inline constexpr std::chrono::seconds kArtifactServerReadTimeout{30};
inline constexpr std::chrono::seconds kArtifactServerWriteTimeout{30};
inline constexpr std::chrono::seconds kArtifactServerKeepAliveTimeout{5};
inline constexpr size_t kArtifactServerKeepAliveRequestsMax = 100;
// Client: timeouts, tries of one fetch (resuming each time) and of one upload chunk.
inline constexpr std::chrono::milliseconds kArtifactConnectTimeoutDefault{5'000};
inline constexpr std::chrono::milliseconds kArtifactReadTimeoutDefault{30'000};
inline constexpr std::chrono::milliseconds kArtifactFetchTimeoutDefault{30 * 60 * 1000};
inline constexpr uint32_t kArtifactFetchAttemptsDefault = 3;
inline constexpr uint32_t kArtifactUploadChunkAttemptsDefault = 5;
inline constexpr std::chrono::milliseconds kArtifactRetryDelay{200};
// Bytes of an error response body a client keeps for its message.
inline constexpr size_t kArtifactErrorBodyBytesMax = 1024;

static_assert(kArtifactUploadChunkBytesDefault <= kArtifactUploadChunkBytesMax);
static_assert(kArtifactRefusedBodyDrainBytesMax >= kArtifactUploadChunkBytesMax,
              "a refused chunk must be drained so the client reads the refusal");
static_assert(kArtifactTransactionHeaderBytesMax + 64 <= 8192,
              "the header line must fit cpp-httplib's CPPHTTPLIB_HEADER_MAX_LENGTH");
static_assert(kArtifactReadChunkBytes <= kArtifactUploadChunkBytesMax);
}  // namespace vigil::limits

// --- Publishing and history (src/publish, src/history, docs/cli.md). ---
namespace vigil::limits {
// Submissions of one publish transaction: the first uses a guessed sequence (1 by default); a
// bad-sequence refusal names the right one and the transaction is signed again. More than one
// retry only happens when the same key publishes concurrently.
inline constexpr uint32_t kPublishSequenceAttemptsMax = 4;
// Artifact stores one publish uploads to (a cluster's peers, or --artifacts URLs).
inline constexpr size_t kPublishArtifactStoresMax = 64;
// How long `vigil publish` waits for the block that commits its transaction.
inline constexpr std::chrono::milliseconds kPublishCommitTimeoutDefault{60'000};
// Rows `vigil history` prints by default, and at most (--limit).
inline constexpr size_t kHistoryRowsDefault = 1'000;
inline constexpr size_t kHistoryRowsMax = 1'000'000;
// A device named by a prefix of its key's hex needs this many characters (32 bits), so a
// typo rarely matches another device; a prefix matching several devices is refused.
inline constexpr size_t kHistoryDevicePrefixHexMin = 8;
// How long `vigil history` waits for each next block while walking the chain.
inline constexpr std::chrono::milliseconds kHistoryBlockWaitMax{30'000};
static_assert(kPublishArtifactStoresMax <= kConfigListEntriesMax);
static_assert(kHistoryRowsDefault <= kHistoryRowsMax);
static_assert(kHistoryDevicePrefixHexMin <= 2 * kEd25519PublicKeyBytes);
}  // namespace vigil::limits

// --- Integrity monitoring: scanner, watcher, pristine store (src/integrity, docs/integrity.md).
namespace vigil::limits {
// Entries one scan records (files, links, others; directories not counted): a release is
// bounded by kReleaseFilesMax, but an attacker may add files, and the scan must stay bounded.
inline constexpr size_t kIntegrityScanEntriesMax = 1'000'000;
// Directory depth a scan descends (deeper is reported as an error, not silently skipped).
inline constexpr size_t kIntegrityScanDepthMax = 64;
// Hashing threads of one scan (0 in ScanOptions = the number of cores, capped here).
inline constexpr size_t kIntegrityScanThreadsMax = 64;
// Read buffer of each hashing thread: memory is threads x this, whatever the file sizes.
inline constexpr size_t kIntegrityReadBufferBytes = 128 * 1024;
// Directories the inotify fallback watches (one watch each; the kernel's own limit is
// fs.inotify.max_user_watches); beyond it the watcher refuses to start.
inline constexpr size_t kIntegrityInotifyWatchesMax = 100'000;
// Paths one Drain returns at most; the rest stay queued for the next call (and beyond
// kIntegrityPendingPathsMax distinct paths the watcher reports "full scan needed" instead).
inline constexpr size_t kIntegrityDrainPathsMax = 4'096;
inline constexpr size_t kIntegrityPendingPathsMax = 65'536;
// Bytes read from the kernel per read() of the fanotify or inotify descriptor.
inline constexpr size_t kIntegrityEventBufferBytes = 64 * 1024;
static_assert(kIntegrityDrainPathsMax <= kIntegrityPendingPathsMax);
}  // namespace vigil::limits

// --- The agent's integrity monitor and service manager (src/agent/integrity_monitor.h,
// src/agent/service_notify.h, docs/agent.md#integrity).
namespace vigil::limits {
// Full scan of every active release (besides the start-up scan and the watcher's re-checks).
inline constexpr std::chrono::milliseconds kAgentIntegrityFullScanInterval{3'600'000};
// `integrity snapshot` report of every active release.
inline constexpr std::chrono::milliseconds kAgentIntegritySnapshotInterval{300'000};
// Watcher events arriving within this window after the first are checked together.
inline constexpr std::chrono::milliseconds kAgentIntegrityCoalesceWindow{20};
// Checks that find differences are at least this far apart; the spacing doubles while the
// tampering goes on, up to the maximum (a tampering loop cannot storm the ledger).
inline constexpr std::chrono::milliseconds kAgentIntegrityBurstIntervalMin{1'000};
inline constexpr std::chrono::milliseconds kAgentIntegrityBurstIntervalMax{60'000};
// Bytes of a tamper/repaired report's detail (the ledger's limit).
inline constexpr size_t kAgentIntegrityDetailBytesMax = kLedgerDetailBytesMax;
// Bytes of a NOTIFY_SOCKET message and of its path.
inline constexpr size_t kServiceNotifyMessageBytesMax = 4'096;
static_assert(kAgentIntegrityBurstIntervalMin <= kAgentIntegrityBurstIntervalMax);
static_assert(kAgentIntegrityCoalesceWindow < kAgentIntegrityBurstIntervalMin);
}  // namespace vigil::limits

// --- Compliance (src/ledger/compliance.*, the compliance query, `vigil compliance`). ---
namespace vigil::limits {
// A compliance record's reason (built by the rules from names, versions and heights).
inline constexpr size_t kLedgerComplianceReasonBytesMax = 1'024;
// A compliance query answers at most this many devices per page (the client asks for the next
// page after the last key), and apps per device. A row is at most ~2.6 KB (detail and reason
// at their limits), so a full page (~2.7 MB) fits in one frame of the default size.
inline constexpr size_t kApiComplianceDevicesMax = 128;
inline constexpr size_t kApiComplianceAppsMax = 8;
// Pages `vigil compliance` fetches at most (128 × 1024 devices).
inline constexpr size_t kCliCompliancePagesMax = 1'024;
// The group named in a compliance query.
inline constexpr size_t kApiComplianceGroupBytesMax = kLedgerNameBytesMax;
static_assert(kApiComplianceDevicesMax * kApiComplianceAppsMax *
                      (kLedgerComplianceReasonBytesMax + kLedgerDetailBytesMax +
                       4 * kLedgerNameBytesMax + 256) <=
                  kFramePayloadBytesDefault,
              "a full compliance page must fit in one frame");
}  // namespace vigil::limits

// --- Coordinated activation on the device (src/agent/activation.h, docs/agent.md). ---
namespace vigil::limits {
// Bytes of one persisted activation record (<root>/activations/<app>.record): a format, three
// names, three integers and a policy.
inline constexpr size_t kAgentActivationRecordBytesMax = 1'024;
}  // namespace vigil::limits
