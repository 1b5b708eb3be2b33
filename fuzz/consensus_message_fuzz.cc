// Fuzzes the consensus decoders (docs/consensus.md#encoding): wire messages, validator sets,
// commit certificates and the persisted DurableState. Properties:
//  1. no input crashes, leaks or trips a sanitizer;
//  2. canonical: whatever decodes re-encodes to exactly the input bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "consensus/consensus.h"
#include "consensus/types.h"

namespace {

using vigil::Bytes;
using vigil::ByteSpan;

void RequireSame(ByteSpan input, const Bytes& encoded) {
  if (encoded.size() != input.size() ||
      !std::equal(encoded.begin(), encoded.end(), input.begin())) {
    std::abort();  // two encodings of one value: the canonical form is broken
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const ByteSpan input(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      if (auto message = vigil::consensus::DecodeMessage(input)) {
        RequireSame(input, vigil::consensus::EncodeMessage(*message));
        (void)vigil::consensus::MessageHeight(*message);
      }
      break;
    case 1:
      if (auto set = vigil::consensus::ValidatorSet::Decode(input)) {
        RequireSame(input, set->Encode());
      }
      break;
    case 2:
      if (auto certificate = vigil::consensus::DecodeCommitCertificate(input)) {
        RequireSame(input, vigil::consensus::EncodeCommitCertificate(*certificate));
      }
      break;
    case 3:
      if (auto state = vigil::consensus::DecodeDurableState(input)) {
        // Version 1 records are read but written as the current version: for them the
        // property is that the state survives the re-encoding.
        Bytes encoded = vigil::consensus::EncodeDurableState(*state);
        if (!input.empty() && input[0] == 1) {
          auto again = vigil::consensus::DecodeDurableState(encoded);
          if (!again || !(*again == *state)) std::abort();
        } else {
          RequireSame(input, encoded);
        }
      }
      break;
  }
  return 0;
}
