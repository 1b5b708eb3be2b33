// Fuzzes the peer protocol's decoders (src/api/messages.h): every message a validator or a
// client can send a peer, and every answer a client decodes. The first input byte picks the
// message, the rest is the untrusted input. Properties:
//  1. no input crashes, leaks or trips a sanitizer;
//  2. canonical: whatever decodes re-encodes to exactly the input bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "api/messages.h"

namespace {

using vigil::Bytes;
using vigil::ByteSpan;
namespace api = vigil::api;

template <typename Decode>
void RoundTrip(ByteSpan input, Decode decode) {
  auto decoded = decode(input);
  if (!decoded) return;
  Bytes encoded = api::Encode(*decoded);
  if (encoded.size() != input.size() ||
      !std::equal(encoded.begin(), encoded.end(), input.begin())) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  ByteSpan input(data + 1, size - 1);
  switch (data[0] % 15) {
    case 0: RoundTrip(input, api::DecodeTransactionBatch); break;
    case 1: RoundTrip(input, api::DecodePeerStatus); break;
    case 2: RoundTrip(input, api::DecodeSyncRequest); break;
    case 3: RoundTrip(input, api::DecodeSyncResponse); break;
    case 4: RoundTrip(input, api::DecodeSubmitRequest); break;
    case 5: RoundTrip(input, api::DecodeSubmitResponse); break;
    case 6: RoundTrip(input, api::DecodeBlockRequest); break;
    case 7: RoundTrip(input, api::DecodeCommittedBlock); break;
    case 8: RoundTrip(input, api::DecodeBlockResponse); break;
    case 9: RoundTrip(input, api::DecodeTransactionRequest); break;
    case 10: RoundTrip(input, api::DecodeTransactionResponse); break;
    case 11: RoundTrip(input, api::DecodeSubscribeRequest); break;
    case 12: RoundTrip(input, api::DecodeStatusRequest); break;
    case 13: RoundTrip(input, api::DecodeStatusResponse); break;
    case 14: RoundTrip(input, api::DecodeErrorResponse); break;
  }
  // The peer's dispatcher decodes by frame type; it must not crash either.
  if (size >= 2) (void)api::DecodeFrame(data[1], ByteSpan(data + 2, size - 2));
  return 0;
}
