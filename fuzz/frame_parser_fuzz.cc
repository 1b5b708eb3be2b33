// Fuzzes the transport frame parser (src/transport/frame.h) with untrusted bytes.
//
// The first two input bytes choose the chunk size and the endpoint's frame maximum, so the
// fuzzer explores every split of the stream and both sides of the oversize check. Checks:
// no crash or sanitizer report; a frame never exceeds the maximum; the parser never holds
// more than one header plus one maximal payload; after an error it stays failed; and the
// frames it yields re-encode to exactly the bytes it consumed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "transport/frame.h"

namespace {

void Require(bool condition) {
  if (!condition) std::abort();
}

// The most a parser may hold: one header and one maximal payload.
size_t BufferedBytesMax(size_t payload_bytes_max) {
  return vigil::limits::kFrameHeaderBytes + payload_bytes_max;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using vigil::Bytes;
  using vigil::ByteSpan;
  using namespace vigil::transport;
  if (size < 2) return 0;
  const size_t chunk_bytes = 1 + data[0];
  const size_t payload_bytes_max = static_cast<size_t>(data[1]) * 64;
  ByteSpan stream(data + 2, size - 2);

  FrameParser parser(payload_bytes_max);
  Bytes reencoded;
  size_t consumed = 0;
  bool failed = false;
  for (size_t offset = 0; offset < stream.size() && !failed; offset += chunk_bytes) {
    ByteSpan chunk = stream.subspan(offset, std::min(chunk_bytes, stream.size() - offset));
    while (true) {
      const size_t before = chunk.size();
      auto frame = parser.Next(&chunk);
      consumed += before - chunk.size();
      if (!frame) {
        failed = true;
        Require(parser.failed());
        ByteSpan more = stream;
        Require(!parser.Next(&more));  // stays failed
        break;
      }
      Require(parser.buffered_bytes() <= BufferedBytesMax(payload_bytes_max));
      if (!frame->has_value()) break;
      const FrameView& view = **frame;
      Require(view.type != kFrameTypeInvalid);
      Require(view.payload.size() <= payload_bytes_max);
      Bytes encoded = EncodeFrame(view.type, view.payload);
      reencoded.insert(reencoded.end(), encoded.begin(), encoded.end());
    }
  }
  if (!failed) {
    // Everything consumed is either whole frames or the partial frame still buffered.
    Require(consumed == stream.size());
    Require(reencoded.size() + parser.buffered_bytes() == consumed);
    for (size_t index = 0; index < reencoded.size(); ++index) {
      Require(reencoded[index] == stream[index]);
    }
  }
  return 0;
}
