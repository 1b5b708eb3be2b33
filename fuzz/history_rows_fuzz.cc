// Fuzzes the history core (src/history/history.h) on committed transactions it did not build:
// the input is split into transactions; each is either raw bytes or, to get past the envelope
// decoder, fuzz bytes as the body of a kind the first byte picks, wrapped in a well-formed
// envelope. Properties:
//  1. no input crashes, leaks or trips a sanitizer;
//  2. RowsOfBlock gives at most one row per transaction, each naming its own height and index;
//  3. HistoryBuilder keeps at most rows_max rows and only rows that match its filter.
// Needs vigil_history linked (fuzz/CMakeLists.txt).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "history/history.h"
#include "ledger/block.h"
#include "ledger/transaction.h"

namespace {

namespace ledger = vigil::ledger;
namespace history = vigil::history;
using vigil::Bytes;

constexpr ledger::TransactionKind kKinds[] = {
    ledger::TransactionKind::kEnrollDevice,   ledger::TransactionKind::kRevokeDevice,
    ledger::TransactionKind::kAddPublisher,   ledger::TransactionKind::kRemovePublisher,
    ledger::TransactionKind::kPublishRelease, ledger::TransactionKind::kDeviceReport,
    ledger::TransactionKind::kPeerReport};
constexpr size_t kTransactionsMax = 64;
constexpr size_t kRowsMax = 3;

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ledger::Block block;
  block.header.height = 7;
  block.header.time_ms = 1'790'000'000'000;
  std::vector<ledger::TransactionResult> results;
  size_t at = 0;
  while (at + 2 <= size && block.transactions.size() < kTransactionsMax) {
    const uint8_t selector = data[at];
    const size_t length = std::min<size_t>(data[at + 1], size - at - 2);
    Bytes piece(data + at + 2, data + at + 2 + length);
    at += 2 + length;
    if (selector & 0x80) {
      block.transactions.push_back(std::move(piece));
    } else {
      ledger::Envelope envelope{.chain_id = "fuzz-chain",
                                .kind = kKinds[selector % std::size(kKinds)],
                                .body = std::move(piece),
                                .signer = {},
                                .sequence = 1,
                                .signatures = {{.public_key = {}, .signature = {}}}};
      block.transactions.push_back(ledger::EncodeEnvelope(envelope));
    }
    results.push_back(selector & 0x40 ? ledger::TransactionResult{}
                                      : ledger::Refuse(ledger::ResultCode::kNotFound, "no"));
  }
  auto rows = history::RowsOfBlock(block, results);
  Check(rows.has_value());
  Check(rows->size() <= block.transactions.size());
  for (const history::Row& row : *rows) {
    Check(row.height == 7 && row.index < block.transactions.size());
  }
  history::HistoryBuilder builder({.device = "00000000", .app = "", .since_height = 0}, kRowsMax);
  Check(builder.AddBlock(block, results).has_value());
  Check(builder.rows().size() <= kRowsMax);
  for (const history::Row& row : builder.rows()) Check(row.device.has_value());
  (void)builder.Finish();
  return 0;
}
