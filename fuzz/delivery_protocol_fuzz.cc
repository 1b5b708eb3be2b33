// Fuzzes the delivery protocol's decoders (src/delivery/protocol.h): every message a device
// can send its gateway and every message a gateway can send a device. The first input byte
// picks the message, the rest is the untrusted input. Properties:
//  1. no input crashes, leaks or trips a sanitizer;
//  2. canonical: whatever decodes re-encodes to exactly the input bytes;
//  3. an offer, an activation or a header that decodes is checked (VerifyOffer,
//     VerifyActivation, VerifyLedgerHeader) without crashing, and refused: the fuzzer cannot
//     forge a certificate of the validator below.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "delivery/protocol.h"

namespace {

using vigil::Bytes;
using vigil::ByteSpan;
namespace delivery = vigil::delivery;
namespace ledger = vigil::ledger;
namespace crypto = vigil::crypto;

template <typename Decode>
void RoundTrip(ByteSpan input, Decode decode) {
  auto decoded = decode(input);
  if (!decoded) return;
  Bytes encoded = delivery::Encode(*decoded);
  if (encoded.size() != input.size() ||
      !std::equal(encoded.begin(), encoded.end(), input.begin())) {
    std::abort();
  }
}

void VerifyDecodedOffer(ByteSpan input) {
  auto offer = delivery::DecodeOffer(input);
  if (!offer) return;
  static const vigil::consensus::ValidatorSet validators = [] {
    std::array<uint8_t, 32> seed{};
    seed.fill(20);
    auto key = vigil::crypto::PrivateKey::FromSeed(seed);
    return *vigil::consensus::ValidatorSet::Create(
        {vigil::consensus::Validator{.public_key = key->public_key(), .voting_power = 1}});
  }();
  if (delivery::VerifyOffer(validators, "vigil-fuzz", *offer).has_value()) std::abort();
}

const vigil::consensus::ValidatorSet& FuzzValidators() {
  static const vigil::consensus::ValidatorSet validators = [] {
    std::array<uint8_t, 32> seed{};
    seed.fill(20);
    auto key = vigil::crypto::PrivateKey::FromSeed(seed);
    return *vigil::consensus::ValidatorSet::Create(
        {vigil::consensus::Validator{.public_key = key->public_key(), .voting_power = 1}});
  }();
  return validators;
}

// An activation or a header that decodes must still be refused: nothing can be forged.
void VerifyDecodedActivation(ByteSpan input) {
  RoundTrip(input, delivery::DecodeActivation);
  auto activation = delivery::DecodeActivation(input);
  if (!activation) return;
  if (delivery::VerifyActivation(FuzzValidators(), "vigil-fuzz", *activation).has_value()) {
    std::abort();
  }
}

// A Welcome's enrollment proof cannot be forged either: whatever decodes is refused.
void VerifyDecodedWelcome(ByteSpan input) {
  RoundTrip(input, delivery::DecodeWelcome);
  auto welcome = delivery::DecodeWelcome(input);
  if (!welcome) return;
  // The key it claims to enroll, so that only the ledger proof stands in the way.
  crypto::PublicKey device{};
  if (auto envelope = ledger::DecodeEnvelope(welcome->enrollment.transaction)) {
    auto body = ledger::DecodeBody(envelope->kind, envelope->body);
    if (body && std::holds_alternative<ledger::EnrollDevice>(*body)) {
      device = std::get<ledger::EnrollDevice>(*body).device_key;
    }
  }
  if (delivery::VerifyEnrollment(FuzzValidators(), "vigil-fuzz", device, welcome->enrollment)
          .has_value()) {
    std::abort();
  }
}

void VerifyDecodedHeader(ByteSpan input) {
  RoundTrip(input, delivery::DecodeLedgerHeader);
  auto header = delivery::DecodeLedgerHeader(input);
  if (!header) return;
  if (delivery::VerifyLedgerHeader(FuzzValidators(), "vigil-fuzz", *header).has_value()) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  ByteSpan input(data + 1, size - 1);
  switch (data[0] % 11) {
    case 0:
      RoundTrip(input, delivery::DecodeHello);
      break;
    case 1:
      VerifyDecodedWelcome(input);
      break;
    case 2:
      RoundTrip(input, delivery::DecodeOffer);
      break;
    case 3:
      RoundTrip(input, delivery::DecodeChunkRequest);
      break;
    case 4:
      RoundTrip(input, delivery::DecodeChunk);
      break;
    case 5:
      RoundTrip(input, delivery::DecodeReport);
      break;
    case 6:
      RoundTrip(input, delivery::DecodeReportResult);
      break;
    case 7:
      VerifyDecodedOffer(input);
      break;
    case 8:
      VerifyDecodedActivation(input);
      break;
    case 9:
      VerifyDecodedHeader(input);
      break;
    case 10:
      RoundTrip(input, delivery::DecodeReleaseRequest);
      break;
  }
  return 0;
}
