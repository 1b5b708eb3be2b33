// Fuzzes the ledger's decoders: envelopes (and the whole stateless check), bodies of every
// kind, block headers, blocks, results and semantic versions. The first input byte picks the
// decoder, the rest is the untrusted input. Properties:
//  1. no input crashes, leaks or trips a sanitizer;
//  2. canonical: whatever decodes re-encodes to exactly the input bytes.
// Needs vigil_ledger linked (fuzz/CMakeLists.txt).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "ledger/block.h"
#include "ledger/semver.h"
#include "ledger/transaction.h"

namespace {

using vigil::Bytes;
using vigil::ByteSpan;
namespace ledger = vigil::ledger;

void RequireSame(const Bytes& encoded, ByteSpan input) {
  if (encoded.size() != input.size() ||
      !std::equal(encoded.begin(), encoded.end(), input.begin())) {
    std::abort();
  }
}

void FuzzEnvelope(ByteSpan input) {
  if (auto envelope = ledger::DecodeEnvelope(input)) {
    RequireSame(ledger::EncodeEnvelope(*envelope), input);
  }
  // Signatures in fuzz input almost never verify; the check must fail cleanly either way.
  auto checked = ledger::CheckTransactionStateless(input, "fuzz-chain");
  if (checked) RequireSame(ledger::EncodeEnvelope(checked->envelope), input);
}

void FuzzBody(uint16_t kind, ByteSpan input) {
  auto body = ledger::DecodeBody(static_cast<ledger::TransactionKind>(kind), input);
  if (body) RequireSame(ledger::EncodeBody(*body), input);
}

void FuzzBlock(ByteSpan input) {
  if (auto block = ledger::DecodeBlock(input)) RequireSame(ledger::EncodeBlock(*block), input);
  if (auto header = ledger::DecodeHeader(input)) RequireSame(ledger::EncodeHeader(*header), input);
}

void FuzzResult(ByteSpan input) {
  if (auto result = ledger::DecodeResult(input)) RequireSame(ledger::EncodeResult(*result), input);
}

void FuzzVersion(ByteSpan input) {
  std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
  auto version = ledger::SemanticVersion::Parse(text);
  if (!version) return;
  if (version->text() != text) std::abort();
  // Precedence is a total order: reflexive and antisymmetric against a fixed version.
  auto other = ledger::SemanticVersion::Parse("1.0.0-rc.1").value();
  if (version->ComparePrecedence(*version) != std::strong_ordering::equal) std::abort();
  if ((version->ComparePrecedence(other) < 0) != (other.ComparePrecedence(*version) > 0)) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  ByteSpan input(data + 1, size - 1);
  switch (data[0] % 12) {
    case 0:
      FuzzEnvelope(input);
      break;
    case 1:
      FuzzBlock(input);
      break;
    case 2:
      FuzzResult(input);
      break;
    case 3:
      FuzzVersion(input);
      break;
    case 4:
      FuzzBody(1, input);
      break;
    case 5:
      FuzzBody(2, input);
      break;
    case 6:
      FuzzBody(3, input);
      break;
    case 7:
      FuzzBody(4, input);
      break;
    case 8:
      FuzzBody(10, input);
      break;
    case 9:
      FuzzBody(20, input);
      break;
    case 10:
      FuzzBody(30, input);
      break;
    default:
      FuzzBody(static_cast<uint16_t>(size), input);
      break;  // unknown kinds too
  }
  return 0;
}
