#include "ledger/state.h"

#include "codec/codec.h"
#include "common/assert.h"
#include "common/limits.h"

namespace vigil::ledger {
namespace {

// Domain-separation prefixes. DO NOT CHANGE: they are hashed into every state hash.
constexpr std::string_view kStateHashDomain = "vigil/state/v1";
constexpr std::string_view kStateDigestDomain = "vigil/state-digest/v1";

// Config entry names. DO NOT CHANGE: stored.
constexpr std::string_view kConfigChainId = "chain_id";
constexpr std::string_view kConfigAdminThreshold = "admin_threshold";
constexpr std::string_view kConfigRules = "rules";
constexpr std::string_view kConfigCaCertificate = "ca_certificate";
constexpr std::string_view kConfigPublisherCount = "publisher_count";

// Builds a key: table byte, then canonical parts.
class KeyBuilder {
 public:
  explicit KeyBuilder(Table table) { encoder_.WriteU8(static_cast<uint8_t>(table)); }
  KeyBuilder& Key(const PublicKey& key) {
    encoder_.WriteFixed(key);
    return *this;
  }
  KeyBuilder& String(std::string_view text) {
    encoder_.WriteString(text);
    return *this;
  }
  KeyBuilder& U8(uint8_t value) {
    encoder_.WriteU8(value);
    return *this;
  }
  Bytes Build() { return std::move(encoder_).Take(); }

 private:
  codec::Encoder encoder_;
};

Bytes ConfigKey(std::string_view name) { return KeyBuilder(Table::kConfig).String(name).Build(); }

// Decodes a stored value. Only this process wrote it, so failure is a broken invariant.
template <typename Decode>
auto DecodeStored(const Bytes& value, Decode decode) {
  auto decoded = codec::DecodeExactly(value, decode);
  VIGIL_ASSERT(decoded.has_value());
  return std::move(*decoded);
}

template <typename Record, typename Decode>
std::optional<Record> GetRecord(const StateReader& state, const Bytes& key, Decode decode) {
  const Bytes* value = state.Find(key);
  if (value == nullptr) return std::nullopt;
  return DecodeStored(*value, decode);
}

template <typename Record, typename Encode>
void PutRecord(Overlay& state, Bytes key, const Record& record, Encode encode) {
  codec::Encoder encoder;
  encode(encoder, record);
  state.Put(std::move(key), std::move(encoder).Take());
}

Expected<PublicKey> ReadKey(codec::Decoder& decoder) {
  return decoder.ReadFixed<limits::kEd25519PublicKeyBytes>("key");
}
Expected<Sha256Digest> ReadDigest(codec::Decoder& decoder) {
  return decoder.ReadFixed<limits::kSha256DigestBytes>("digest");
}
void WriteStrings(codec::Encoder& encoder, const std::vector<std::string>& strings) {
  encoder.WriteVector(strings, [](codec::Encoder& e, const std::string& s) { e.WriteString(s); });
}
Expected<std::vector<std::string>> ReadStrings(codec::Decoder& decoder) {
  return decoder.ReadVector("strings", limits::kLedgerLabelsMax, [](codec::Decoder& d) {
    return d.ReadString("string", limits::kLedgerLabelBytesMax);
  });
}

// --- Record encodings (docs/ledger.md#state) ---

void EncodeDevice(codec::Encoder& encoder, const DeviceRecord& record) {
  encoder.WriteString(record.group);
  WriteStrings(encoder, record.labels);
  encoder.WriteU8(static_cast<uint8_t>(record.status));
  encoder.WriteU64(record.enrolled_height);
  encoder.WriteU64(record.revoked_height);
  encoder.WriteOptional(record.snapshot_root,
                        [](codec::Encoder& e, const Sha256Digest& root) { e.WriteFixed(root); });
  encoder.WriteU64(record.snapshot_height);
  encoder.WriteBool(record.tampered);
}
Expected<DeviceRecord> DecodeDevice(codec::Decoder& decoder) {
  DeviceRecord record;
  VIGIL_ASSIGN_OR_RETURN(record.group, decoder.ReadString("group", limits::kLedgerNameBytesMax));
  VIGIL_ASSIGN_OR_RETURN(record.labels, ReadStrings(decoder));
  VIGIL_ASSIGN_OR_RETURN(uint8_t status, decoder.ReadU8("status"));
  record.status = static_cast<DeviceStatus>(status);
  VIGIL_ASSIGN_OR_RETURN(record.enrolled_height, decoder.ReadU64("enrolled_height"));
  VIGIL_ASSIGN_OR_RETURN(record.revoked_height, decoder.ReadU64("revoked_height"));
  VIGIL_ASSIGN_OR_RETURN(record.snapshot_root, decoder.ReadOptional("snapshot_root", ReadDigest));
  VIGIL_ASSIGN_OR_RETURN(record.snapshot_height, decoder.ReadU64("snapshot_height"));
  VIGIL_ASSIGN_OR_RETURN(record.tampered, decoder.ReadBool("tampered"));
  return record;
}

void EncodeReport(codec::Encoder& encoder, const ReportRecord& record) {
  encoder.WriteU64(record.height);
  encoder.WriteI64(record.block_time_ms);
  encoder.WriteBytes(EncodeBody(record.report));
}
Expected<ReportRecord> DecodeReport(codec::Decoder& decoder) {
  ReportRecord record;
  VIGIL_ASSIGN_OR_RETURN(record.height, decoder.ReadU64("height"));
  VIGIL_ASSIGN_OR_RETURN(record.block_time_ms, decoder.ReadI64("block_time_ms"));
  VIGIL_ASSIGN_OR_RETURN(Bytes body, decoder.ReadBytes("report", limits::kLedgerBodyBytesMax));
  VIGIL_ASSIGN_OR_RETURN(Body decoded, DecodeBody(TransactionKind::kDeviceReport, body));
  record.report = std::get<DeviceReport>(std::move(decoded));
  return record;
}

void EncodeDeviceApp(codec::Encoder& encoder, const DeviceAppRecord& record) {
  encoder.WriteString(record.installed_version);
  encoder.WriteString(record.active_version);
  encoder.WriteU64(record.restarts);
}
Expected<DeviceAppRecord> DecodeDeviceApp(codec::Decoder& decoder) {
  DeviceAppRecord record;
  VIGIL_ASSIGN_OR_RETURN(record.installed_version,
                         decoder.ReadString("installed_version", limits::kLedgerVersionBytesMax));
  VIGIL_ASSIGN_OR_RETURN(record.active_version,
                         decoder.ReadString("active_version", limits::kLedgerVersionBytesMax));
  VIGIL_ASSIGN_OR_RETURN(record.restarts, decoder.ReadU64("restarts"));
  return record;
}

void EncodePublisher(codec::Encoder& encoder, const PublisherRecord& record) {
  encoder.WriteString(record.name);
  encoder.WriteU64(record.added_height);
}
Expected<PublisherRecord> DecodePublisher(codec::Decoder& decoder) {
  PublisherRecord record;
  VIGIL_ASSIGN_OR_RETURN(record.name, decoder.ReadString("name", limits::kLedgerNameBytesMax));
  VIGIL_ASSIGN_OR_RETURN(record.added_height, decoder.ReadU64("added_height"));
  return record;
}

void EncodeRelease(codec::Encoder& encoder, const ReleaseRecord& record) {
  encoder.WriteFixed(record.bundle_digest);
  encoder.WriteU64(record.bundle_size_bytes);
  encoder.WriteFixed(record.manifest_root);
  encoder.WriteFixed(record.publisher);
  encoder.WriteU64(record.height);
  encoder.WriteI64(record.time_ms);
  encoder.WriteString(record.notes);
}
Expected<ReleaseRecord> DecodeRelease(codec::Decoder& decoder) {
  ReleaseRecord record;
  VIGIL_ASSIGN_OR_RETURN(record.bundle_digest, ReadDigest(decoder));
  VIGIL_ASSIGN_OR_RETURN(record.bundle_size_bytes, decoder.ReadU64("bundle_size_bytes"));
  VIGIL_ASSIGN_OR_RETURN(record.manifest_root, ReadDigest(decoder));
  VIGIL_ASSIGN_OR_RETURN(record.publisher, ReadKey(decoder));
  VIGIL_ASSIGN_OR_RETURN(record.height, decoder.ReadU64("height"));
  VIGIL_ASSIGN_OR_RETURN(record.time_ms, decoder.ReadI64("time_ms"));
  VIGIL_ASSIGN_OR_RETURN(record.notes, decoder.ReadString("notes", limits::kLedgerNotesBytesMax));
  return record;
}

void EncodeValidator(codec::Encoder& encoder, const ValidatorRecord& record) {
  encoder.WriteString(record.name);
  encoder.WriteU64(record.voting_power);
  encoder.WriteString(record.address);
}
Expected<ValidatorRecord> DecodeValidator(codec::Decoder& decoder) {
  ValidatorRecord record;
  VIGIL_ASSIGN_OR_RETURN(record.name, decoder.ReadString("name", limits::kLedgerNameBytesMax));
  VIGIL_ASSIGN_OR_RETURN(record.voting_power, decoder.ReadU64("voting_power"));
  VIGIL_ASSIGN_OR_RETURN(record.address,
                         decoder.ReadString("address", limits::kLedgerAddressBytesMax));
  return record;
}

void EncodeRulesSupport(codec::Encoder& encoder, const RulesSupportRecord& record) {
  encoder.WriteVector(record.versions, [](codec::Encoder& e, uint32_t v) { e.WriteU32(v); });
  encoder.WriteU64(record.height);
}
Expected<RulesSupportRecord> DecodeRulesSupport(codec::Decoder& decoder) {
  RulesSupportRecord record;
  VIGIL_ASSIGN_OR_RETURN(record.versions,
                         decoder.ReadVector("versions", limits::kLedgerRulesVersionsMax,
                                            [](codec::Decoder& d) { return d.ReadU32("v"); }));
  VIGIL_ASSIGN_OR_RETURN(record.height, decoder.ReadU64("height"));
  return record;
}

void EncodeRules(codec::Encoder& encoder, const RulesRecord& record) {
  encoder.WriteU32(record.version);
  encoder.WriteU32(record.next_version);
  encoder.WriteU64(record.next_height);
}
Expected<RulesRecord> DecodeRules(codec::Decoder& decoder) {
  RulesRecord record;
  VIGIL_ASSIGN_OR_RETURN(record.version, decoder.ReadU32("version"));
  VIGIL_ASSIGN_OR_RETURN(record.next_version, decoder.ReadU32("next_version"));
  VIGIL_ASSIGN_OR_RETURN(record.next_height, decoder.ReadU64("next_height"));
  return record;
}

void EncodeActivation(codec::Encoder& encoder, const ActivationRecord& record) {
  encoder.WriteString(record.version);
  encoder.WriteU64(record.effective_height);
  encoder.WriteI64(record.effective_time_ms);
  encoder.WriteU32(record.installed_threshold);
  encoder.WriteU8(static_cast<uint8_t>(record.on_missing));
  encoder.WriteString(record.previous_version);
  encoder.WriteU64(record.recorded_height);
}
Expected<ActivationRecord> DecodeActivation(codec::Decoder& decoder) {
  ActivationRecord record;
  VIGIL_ASSIGN_OR_RETURN(record.version,
                         decoder.ReadString("version", limits::kLedgerVersionBytesMax));
  VIGIL_ASSIGN_OR_RETURN(record.effective_height, decoder.ReadU64("effective_height"));
  VIGIL_ASSIGN_OR_RETURN(record.effective_time_ms, decoder.ReadI64("effective_time_ms"));
  VIGIL_ASSIGN_OR_RETURN(record.installed_threshold, decoder.ReadU32("installed_threshold"));
  VIGIL_ASSIGN_OR_RETURN(uint8_t policy, decoder.ReadU8("on_missing"));
  if (policy < 1 || policy > 2) {
    return Fail(ErrorCode::kCorruption, "unknown on_missing " + std::to_string(policy));
  }
  record.on_missing = static_cast<MissingVersionPolicy>(policy);
  VIGIL_ASSIGN_OR_RETURN(record.previous_version,
                         decoder.ReadString("previous_version", limits::kLedgerVersionBytesMax));
  VIGIL_ASSIGN_OR_RETURN(record.recorded_height, decoder.ReadU64("recorded_height"));
  return record;
}

void EncodeU64(codec::Encoder& encoder, uint64_t value) { encoder.WriteU64(value); }
Expected<uint64_t> DecodeU64(codec::Decoder& decoder) { return decoder.ReadU64("value"); }
void EncodeU32(codec::Encoder& encoder, uint32_t value) { encoder.WriteU32(value); }
Expected<uint32_t> DecodeU32(codec::Decoder& decoder) { return decoder.ReadU32("value"); }
void EncodeText(codec::Encoder& encoder, std::string_view text) { encoder.WriteString(text); }
Expected<std::string> DecodeText(codec::Decoder& decoder) {
  return decoder.ReadString("text", limits::kPemFileBytesMax);
}

void WriteLengthPrefixed(crypto::Sha256Hasher& hasher, ByteSpan bytes) {
  codec::Encoder length;
  length.WriteU32(static_cast<uint32_t>(bytes.size()));
  hasher.Update(length.bytes());
  hasher.Update(bytes);
}

}  // namespace

// --- Overlay ---

const Bytes* Overlay::FindHashed(const HashedKey& key) const {
  if (const std::optional<Bytes>* write = writes_.Find(key)) {
    return write->has_value() ? &**write : nullptr;
  }
  return parent_.FindHashed(key);
}

void Overlay::MergeInto(Overlay& target) && {
  target.writes_.Absorb(std::move(writes_));
}

// --- State ---

const Bytes* State::FindHashed(const HashedKey& key) const {
  return entries_.Find(key);
}

Expected<State> State::FromEntries(std::map<Bytes, Bytes> entries, const ChainTip& tip) {
  State state;
  state.entries_ = IndexedMap(std::move(entries));
  state.tip_ = tip;
  auto chain_id = GetChainId(state);
  if (!chain_id || chain_id->empty()) {
    return Fail(ErrorCode::kCorruption, "the stored state has no chain id: not a ledger state");
  }
  state.chain_id_ = std::move(*chain_id);
  return state;
}

void State::Apply(const WriteSet& writes, const ChainTip& tip) {
  bool genesis = chain_id_.empty();
  VIGIL_ASSERT(genesis ? (entries_.empty() && tip.height == 0) : tip.height == tip_.height + 1);
  for (const auto& [key, value] : writes) {
    if (value.has_value()) {
      entries_.Set(key, *value);
    } else {
      entries_.Erase(key);
    }
  }
  tip_ = tip;
  if (genesis) {
    auto chain_id = GetChainId(*this);
    VIGIL_ASSERT(chain_id.has_value() && !chain_id->empty());
    chain_id_ = std::move(*chain_id);
  }
}

// GCC 12 at -O2 reports a false stringop-overread inside std::map<vector<uint8_t>>::lower_bound
// (its range analysis loses the vector's size); the comparison reads only both vectors' bytes.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overread"
#endif
void State::ForEachWithPrefix(const Bytes& prefix, const Visit& visit) const {
  const std::map<Bytes, Bytes>& entries = entries_.ordered();
  for (auto entry = entries.lower_bound(prefix);
       entry != entries.end() && entry->first.size() >= prefix.size() &&
       std::equal(prefix.begin(), prefix.end(), entry->first.begin());
       ++entry) {
    visit(entry->first, entry->second);
  }
}

void Overlay::ForEachWithPrefix(const Bytes& prefix, const Visit& visit) const {
  std::map<Bytes, const Bytes*> merged;
  parent_.ForEachWithPrefix(prefix,
                            [&](const Bytes& key, const Bytes& value) { merged[key] = &value; });
  writes_.ForEachWithPrefix(prefix, [&](const Bytes& key, const std::optional<Bytes>& value) {
    if (value.has_value()) {
      merged[key] = &*value;
    } else {
      merged.erase(key);
    }
  });
  for (const auto& [key, value] : merged) visit(key, *value);
}

void State::ForEachInTable(
    Table table, const std::function<void(ByteSpan key, const Bytes& value)>& visit) const {
  uint8_t table_byte = static_cast<uint8_t>(table);
  Bytes prefix;
  prefix.push_back(table_byte);
  const std::map<Bytes, Bytes>& entries = entries_.ordered();
  for (auto entry = entries.lower_bound(prefix);
       entry != entries.end() && !entry->first.empty() && entry->first[0] == table_byte; ++entry) {
    visit(ByteSpan(entry->first).subspan(1), entry->second);
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

Sha256Digest State::ComputeDigest() const {
  crypto::Sha256Hasher hasher;
  hasher.Update(AsBytes(kStateDigestDomain));
  codec::Encoder tip;
  tip.WriteU64(tip_.height);
  tip.WriteFixed(tip_.block_hash);
  tip.WriteFixed(tip_.state_hash);
  tip.WriteI64(tip_.time_ms);
  hasher.Update(tip.bytes());
  for (const auto& [key, value] : entries_.ordered()) {
    WriteLengthPrefixed(hasher, key);
    WriteLengthPrefixed(hasher, value);
  }
  return hasher.Finish();
}

Bytes EncodeWriteSet(const WriteSet& writes) {
  codec::Encoder encoder;
  VIGIL_ASSERT(writes.size() <= UINT32_MAX);
  encoder.WriteU32(static_cast<uint32_t>(writes.size()));
  for (const auto& [key, value] : writes) {
    encoder.WriteBytes(key);
    encoder.WriteOptional(value, [](codec::Encoder& e, const Bytes& v) { e.WriteBytes(v); });
  }
  return std::move(encoder).Take();
}

Sha256Digest NextStateHash(const Sha256Digest& previous, const WriteSet& writes) {
  Sha256Digest writes_digest = crypto::Sha256(EncodeWriteSet(writes));
  crypto::Sha256Hasher hasher;
  hasher.Update(AsBytes(kStateHashDomain));
  hasher.Update(previous);
  hasher.Update(writes_digest);
  return hasher.Finish();
}

// --- Typed accessors ---

std::optional<DeviceRecord> GetDevice(const StateReader& state, const PublicKey& device) {
  return GetRecord<DeviceRecord>(state, KeyBuilder(Table::kDevice).Key(device).Build(),
                                 DecodeDevice);
}
void PutDevice(Overlay& state, const PublicKey& device, const DeviceRecord& record) {
  PutRecord(state, KeyBuilder(Table::kDevice).Key(device).Build(), record, EncodeDevice);
}

std::optional<ReportRecord> GetLastReport(const StateReader& state, const PublicKey& device,
                                          DeviceReportKind kind) {
  return GetRecord<ReportRecord>(
      state, KeyBuilder(Table::kDeviceReport).Key(device).U8(static_cast<uint8_t>(kind)).Build(),
      DecodeReport);
}
void PutLastReport(Overlay& state, const PublicKey& device, const ReportRecord& record) {
  PutRecord(state,
            KeyBuilder(Table::kDeviceReport)
                .Key(device)
                .U8(static_cast<uint8_t>(record.report.report_kind))
                .Build(),
            record, EncodeReport);
}

std::optional<DeviceAppRecord> GetDeviceApp(const StateReader& state, const PublicKey& device,
                                            std::string_view app) {
  return GetRecord<DeviceAppRecord>(
      state, KeyBuilder(Table::kDeviceApp).Key(device).String(app).Build(), DecodeDeviceApp);
}
void PutDeviceApp(Overlay& state, const PublicKey& device, std::string_view app,
                  const DeviceAppRecord& record) {
  PutRecord(state, KeyBuilder(Table::kDeviceApp).Key(device).String(app).Build(), record,
            EncodeDeviceApp);
}

std::optional<PublisherRecord> GetPublisher(const StateReader& state, const PublicKey& publisher) {
  return GetRecord<PublisherRecord>(state, KeyBuilder(Table::kPublisher).Key(publisher).Build(),
                                    DecodePublisher);
}
void PutPublisher(Overlay& state, const PublicKey& publisher, const PublisherRecord& record) {
  PutRecord(state, KeyBuilder(Table::kPublisher).Key(publisher).Build(), record, EncodePublisher);
}
void ErasePublisher(Overlay& state, const PublicKey& publisher) {
  state.Erase(KeyBuilder(Table::kPublisher).Key(publisher).Build());
}

std::optional<ReleaseRecord> GetRelease(const StateReader& state, std::string_view app,
                                        std::string_view version) {
  return GetRecord<ReleaseRecord>(
      state, KeyBuilder(Table::kRelease).String(app).String(version).Build(), DecodeRelease);
}
void PutRelease(Overlay& state, std::string_view app, std::string_view version,
                const ReleaseRecord& record) {
  PutRecord(state, KeyBuilder(Table::kRelease).String(app).String(version).Build(), record,
            EncodeRelease);
}
std::optional<std::string> GetLatestVersion(const StateReader& state, std::string_view app) {
  return GetRecord<std::string>(state, KeyBuilder(Table::kLatestRelease).String(app).Build(),
                                DecodeText);
}
void PutLatestVersion(Overlay& state, std::string_view app, std::string_view version) {
  PutRecord(state, KeyBuilder(Table::kLatestRelease).String(app).Build(), version, EncodeText);
}

std::optional<uint64_t> GetInstallation(const StateReader& state, std::string_view app,
                                        std::string_view version, const PublicKey& device) {
  return GetRecord<uint64_t>(
      state, KeyBuilder(Table::kInstallation).String(app).String(version).Key(device).Build(),
      DecodeU64);
}
void PutInstallation(Overlay& state, std::string_view app, std::string_view version,
                     const PublicKey& device, uint64_t height) {
  PutRecord(state, KeyBuilder(Table::kInstallation).String(app).String(version).Key(device).Build(),
            height, EncodeU64);
}

uint64_t GetSequence(const StateReader& state, const PublicKey& signer) {
  return GetRecord<uint64_t>(state, KeyBuilder(Table::kSequence).Key(signer).Build(), DecodeU64)
      .value_or(0);
}
void PutSequence(Overlay& state, const PublicKey& signer, uint64_t sequence) {
  PutRecord(state, KeyBuilder(Table::kSequence).Key(signer).Build(), sequence, EncodeU64);
}

std::optional<std::string> GetAdminName(const StateReader& state, const PublicKey& admin) {
  return GetRecord<std::string>(state, KeyBuilder(Table::kAdmin).Key(admin).Build(), DecodeText);
}
void PutAdmin(Overlay& state, const PublicKey& admin, std::string_view name) {
  PutRecord(state, KeyBuilder(Table::kAdmin).Key(admin).Build(), name, EncodeText);
}

std::optional<ValidatorRecord> GetValidator(const StateReader& state, const PublicKey& validator) {
  return GetRecord<ValidatorRecord>(state, KeyBuilder(Table::kValidator).Key(validator).Build(),
                                    DecodeValidator);
}
void PutValidator(Overlay& state, const PublicKey& validator, const ValidatorRecord& record) {
  PutRecord(state, KeyBuilder(Table::kValidator).Key(validator).Build(), record, EncodeValidator);
}

std::optional<RulesSupportRecord> GetRulesSupport(const StateReader& state,
                                                  const PublicKey& validator) {
  return GetRecord<RulesSupportRecord>(
      state, KeyBuilder(Table::kRulesSupport).Key(validator).Build(), DecodeRulesSupport);
}
void PutRulesSupport(Overlay& state, const PublicKey& validator, const RulesSupportRecord& record) {
  PutRecord(state, KeyBuilder(Table::kRulesSupport).Key(validator).Build(), record,
            EncodeRulesSupport);
}

std::optional<ActivationRecord> GetActivation(const StateReader& state, std::string_view group,
                                              std::string_view app) {
  return GetRecord<ActivationRecord>(
      state, KeyBuilder(Table::kActivation).String(group).String(app).Build(), DecodeActivation);
}
void PutActivation(Overlay& state, std::string_view group, std::string_view app,
                   const ActivationRecord& record) {
  PutRecord(state, KeyBuilder(Table::kActivation).String(group).String(app).Build(), record,
            EncodeActivation);
}

std::optional<std::string> GetChainId(const StateReader& state) {
  return GetRecord<std::string>(state, ConfigKey(kConfigChainId), DecodeText);
}
void PutChainId(Overlay& state, std::string_view chain_id) {
  PutRecord(state, ConfigKey(kConfigChainId), chain_id, EncodeText);
}
uint32_t GetAdminThreshold(const StateReader& state) {
  auto threshold = GetRecord<uint32_t>(state, ConfigKey(kConfigAdminThreshold), DecodeU32);
  VIGIL_ASSERT(threshold.has_value());
  return *threshold;
}
void PutAdminThreshold(Overlay& state, uint32_t threshold) {
  PutRecord(state, ConfigKey(kConfigAdminThreshold), threshold, EncodeU32);
}
RulesRecord GetRules(const StateReader& state) {
  auto rules = GetRecord<RulesRecord>(state, ConfigKey(kConfigRules), DecodeRules);
  VIGIL_ASSERT(rules.has_value());
  return *rules;
}
void PutRules(Overlay& state, const RulesRecord& record) {
  PutRecord(state, ConfigKey(kConfigRules), record, EncodeRules);
}
std::optional<std::string> GetCaCertificatePem(const StateReader& state) {
  return GetRecord<std::string>(state, ConfigKey(kConfigCaCertificate), DecodeText);
}
void PutCaCertificatePem(Overlay& state, std::string_view pem) {
  PutRecord(state, ConfigKey(kConfigCaCertificate), pem, EncodeText);
}
uint64_t GetPublisherCount(const StateReader& state) {
  return GetRecord<uint64_t>(state, ConfigKey(kConfigPublisherCount), DecodeU64).value_or(0);
}
void PutPublisherCount(Overlay& state, uint64_t count) {
  PutRecord(state, ConfigKey(kConfigPublisherCount), count, EncodeU64);
}

// Entries of a table keyed by a public key alone.
template <typename Record, typename Decode>
std::vector<std::pair<PublicKey, Record>> ListKeyed(const StateReader& state, Table table,
                                                    Decode decode) {
  std::vector<std::pair<PublicKey, Record>> entries;
  state.ForEachWithPrefix(KeyBuilder(table).Build(), [&](const Bytes& key, const Bytes& value) {
    auto public_key = codec::DecodeExactly(ByteSpan(key).subspan(1), ReadKey);
    VIGIL_ASSERT(public_key.has_value());
    entries.emplace_back(*public_key, DecodeStored(value, decode));
  });
  return entries;
}

std::vector<std::pair<PublicKey, std::string>> ListAdmins(const State& state) {
  std::vector<std::pair<PublicKey, std::string>> admins;
  state.ForEachInTable(Table::kAdmin, [&](ByteSpan key, const Bytes& value) {
    auto public_key = codec::DecodeExactly(key, ReadKey);
    VIGIL_ASSERT(public_key.has_value());
    admins.emplace_back(*public_key, DecodeStored(value, DecodeText));
  });
  return admins;
}

std::vector<std::pair<PublicKey, ValidatorRecord>> ListValidators(const StateReader& state) {
  return ListKeyed<ValidatorRecord>(state, Table::kValidator, DecodeValidator);
}

std::vector<std::pair<PublicKey, PublisherRecord>> ListPublishers(const State& state) {
  return ListKeyed<PublisherRecord>(state, Table::kPublisher, DecodePublisher);
}

std::vector<std::pair<PublicKey, DeviceRecord>> ListDevices(const State& state) {
  return ListKeyed<DeviceRecord>(state, Table::kDevice, DecodeDevice);
}

std::vector<ReleaseEntry> ListReleases(const State& state, std::optional<std::string_view> app) {
  std::vector<ReleaseEntry> releases;
  state.ForEachInTable(Table::kRelease, [&](ByteSpan key, const Bytes& value) {
    codec::Decoder decoder(key);
    auto release_app = decoder.ReadString("app", limits::kLedgerNameBytesMax);
    auto version = decoder.ReadString("version", limits::kLedgerVersionBytesMax);
    VIGIL_ASSERT(release_app.has_value() && version.has_value() && decoder.Finish().has_value());
    if (app.has_value() && *release_app != *app) return;
    releases.push_back(
        {std::move(*release_app), std::move(*version), DecodeStored(value, DecodeRelease)});
  });
  return releases;
}

void PutGroupDevice(Overlay& state, std::string_view group, const PublicKey& device,
                    uint64_t enrolled_height) {
  PutRecord(state, KeyBuilder(Table::kGroupDevice).String(group).Key(device).Build(),
            enrolled_height, EncodeU64);
}
void EraseGroupDevice(Overlay& state, std::string_view group, const PublicKey& device) {
  state.Erase(KeyBuilder(Table::kGroupDevice).String(group).Key(device).Build());
}
std::vector<PublicKey> ListGroupDevices(const StateReader& state, std::string_view group) {
  Bytes prefix = KeyBuilder(Table::kGroupDevice).String(group).Build();
  std::vector<PublicKey> devices;
  state.ForEachWithPrefix(prefix, [&](const Bytes& key, const Bytes&) {
    auto device = codec::DecodeExactly(ByteSpan(key).subspan(prefix.size()), ReadKey);
    VIGIL_ASSERT(device.has_value());
    devices.push_back(*device);
  });
  return devices;
}

std::vector<ActivationEntry> ListActivations(const StateReader& state, std::string_view group) {
  Bytes prefix = KeyBuilder(Table::kActivation).String(group).Build();
  std::vector<ActivationEntry> activations;
  state.ForEachWithPrefix(prefix, [&](const Bytes& key, const Bytes& value) {
    auto app = codec::DecodeExactly(ByteSpan(key).subspan(prefix.size()), [](codec::Decoder& d) {
      return d.ReadString("app", limits::kLedgerNameBytesMax);
    });
    VIGIL_ASSERT(app.has_value());
    activations.push_back({std::move(*app), DecodeStored(value, DecodeActivation)});
  });
  return activations;
}

void EncodeActivationRecord(codec::Encoder& encoder, const ActivationRecord& record) {
  EncodeActivation(encoder, record);
}
Expected<ActivationRecord> DecodeActivationRecord(codec::Decoder& decoder) {
  return DecodeActivation(decoder);
}

std::vector<std::pair<std::string, DeviceAppRecord>> ListDeviceApps(const StateReader& state,
                                                                    const PublicKey& device) {
  Bytes prefix = KeyBuilder(Table::kDeviceApp).Key(device).Build();
  std::vector<std::pair<std::string, DeviceAppRecord>> apps;
  state.ForEachWithPrefix(prefix, [&](const Bytes& key, const Bytes& value) {
    auto app = codec::DecodeExactly(ByteSpan(key).subspan(prefix.size()), [](codec::Decoder& d) {
      return d.ReadString("app", limits::kLedgerNameBytesMax);
    });
    VIGIL_ASSERT(app.has_value());
    apps.emplace_back(std::move(*app), DecodeStored(value, DecodeDeviceApp));
  });
  return apps;
}

}  // namespace vigil::ledger
