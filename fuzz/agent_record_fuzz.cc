// Fuzzes the device agent's updater record (src/agent/updater.h): the bytes an agent reads
// back from <root>/apps/<app>/updater.record after a crash, which a damaged disk can corrupt.
// Properties:
//  1. no input crashes, leaks or trips a sanitizer;
//  2. canonical: whatever decodes re-encodes to exactly the input bytes (a format 1 record,
//     which is upgraded to the current format, re-encodes to a record that decodes equal);
//  3. every record that decodes can be recovered and stepped by the table, and the result is
//     again a valid record (the table never produces what its decoder would refuse).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "agent/updater.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  namespace agent = vigil::agent;
  vigil::ByteSpan input(data + 1, size - 1);
  auto record = agent::DecodeRecord(input);
  if (!record) return 0;
  vigil::Bytes encoded = agent::EncodeRecord(*record);
  const bool format_1 = input.size() >= 2 && input[0] == 1 && input[1] == 0;  // u16, little-endian
  if (format_1) {
    auto again = agent::DecodeRecord(encoded);
    if (!again || *again != *record) std::abort();
  } else if (encoded.size() != input.size() ||
             !std::equal(encoded.begin(), encoded.end(), input.begin())) {
    std::abort();
  }
  agent::Transition recovered = agent::Recover(*record);
  if (!agent::CheckRecord(recovered.record)) std::abort();
  agent::Event event;
  event.kind = static_cast<agent::EventKind>(
      data[0] % (static_cast<uint8_t>(agent::EventKind::kReportAccepted) + 1));
  if (event.kind == agent::EventKind::kBundleReady) {
    event.release = record->from.empty() ? record->to : record->from;
    if (event.release.empty()) return 0;
  }
  agent::Transition next = agent::Next(*record, event);
  if (!agent::CheckRecord(next.record)) std::abort();
  if (!agent::DecodeRecord(agent::EncodeRecord(next.record))) std::abort();
  return 0;
}
