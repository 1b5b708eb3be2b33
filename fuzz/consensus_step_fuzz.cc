// Fuzzes the consensus state machine itself: the input is a script of messages, timeouts and
// gossip ticks fed to one validator of four. Signatures are accepted unchecked (the verifier
// says yes to everything), so the fuzzer reaches every upon rule instead of stopping at the
// signature check. Property: no input trips an assertion (VIGIL_ASSERT stays on), crashes or
// trips a sanitizer, and the node never signs two different votes for one round and step.
//
// Script: repeated [u8 op] ... ; op % 4 == 0: [u16 length][message bytes] -> Step;
// 1: [u8 kind][u8 round] -> OnTimeout; 2: gossip tick; 3: [u8 height delta] -> Start next.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>

#include "consensus/consensus.h"

namespace {

using namespace vigil;
using namespace vigil::consensus;

class AcceptAll final : public SignatureVerifier {
 public:
  bool Verify(const PublicKey&, ByteSpan, const Signature&) override { return true; }
};

class Values final : public ValueSource {
 public:
  Bytes GetValue(uint64_t height, uint32_t round, int64_t) override {
    return ToBytes("v" + std::to_string(height) + "/" + std::to_string(round));
  }
  bool IsValid(uint64_t, ByteSpan value) override { return value.empty() || value[0] != 'x'; }
};

struct World {
  World() {
    std::vector<Validator> validators;
    for (uint8_t i = 0; i < 4; ++i) {
      std::array<uint8_t, 32> seed{};
      seed.fill(static_cast<uint8_t>(i + 1));
      keys.push_back(crypto::PrivateKey::FromSeed(seed).value());
      validators.push_back({keys.back().public_key(), 1});
    }
    set = ValidatorSet::Create(validators).value();
    config.chain_id = "fuzz";
  }
  std::vector<crypto::PrivateKey> keys;
  ValidatorSet set;
  Config config;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World world;
  Values values;
  AcceptAll verifier;
  Ed25519Signer signer(world.keys[0]);
  Consensus consensus(world.config, &signer, values, verifier);
  uint64_t height = 1;
  consensus.Start(height, world.set, 0);
  std::map<std::tuple<uint64_t, uint32_t, VoteType>, std::optional<ValueId>> signed_votes;
  const uint32_t own = *consensus.validator_index();
  size_t offset = 0;
  int64_t now_ms = 0;
  auto check = [&](const Ready& ready) {
    for (const Message& message : ready.messages) {
      const Vote* vote = std::get_if<Vote>(&message);
      if (vote == nullptr || vote->validator_index != own) continue;
      // Only what this node signed: the script may inject votes in its name (the verifier
      // accepts anything), which the node then relays.
      if (!crypto::Verify(world.keys[0].public_key(), VoteSignBytes("fuzz", *vote),
                          vote->signature)) {
        continue;
      }
      auto [it, inserted] =
          signed_votes.try_emplace({vote->height, vote->round, vote->type}, vote->value_id);
      if (!inserted && it->second != vote->value_id) std::abort();  // double signing
    }
  };
  check(consensus.TakeReady());
  while (offset < size) {
    const uint8_t op = data[offset++];
    now_ms += 10;
    switch (op % 4) {
      case 0: {
        if (offset + 2 > size) return 0;
        const size_t length = data[offset] | (static_cast<size_t>(data[offset + 1]) << 8);
        offset += 2;
        if (offset + length > size) return 0;
        auto message = DecodeMessage(ByteSpan(data + offset, length));
        offset += length;
        if (message) (void)consensus.Step(*message, now_ms);
        break;
      }
      case 1: {
        if (offset + 2 > size) return 0;
        Timeout timeout{.kind = static_cast<TimeoutKind>(1 + data[offset] % 3),
                        .height = height,
                        .round = data[offset + 1],
                        .duration_ms = 0};
        offset += 2;
        consensus.OnTimeout(timeout, now_ms);
        break;
      }
      case 2:
        consensus.OnGossipTick(now_ms);
        break;
      case 3:
        if (consensus.decided()) {
          consensus.Start(++height, world.set, now_ms);
        }
        break;
    }
    check(consensus.TakeReady());
  }
  return 0;
}
