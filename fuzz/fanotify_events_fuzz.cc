// Fuzzes the fanotify record decoder (src/integrity/fanotify_events.h): the bytes a read() of a
// fanotify descriptor returns, which the watcher must never read beyond. Properties:
//  1. no input crashes, leaks or trips a sanitizer;
//  2. every view an event holds (directory key, entry name) lies inside the input;
//  3. what decodes is what the kernel could have said: a directory key is a filesystem id, a
//     handle header and at most kFanotifyHandleBytesMax handle bytes; a name is never "." or
//     "..", never holds '/' or a NUL.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "integrity/fanotify_events.h"

namespace {

bool Inside(std::string_view view, const uint8_t* data, size_t size) {
  if (view.empty()) return true;
  auto begin = reinterpret_cast<const uint8_t*>(view.data());
  return begin >= data && begin + view.size() <= data + size;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace integrity = vigil::integrity;
  integrity::FanotifyDecoded decoded = integrity::DecodeFanotifyEvents(data, size);
  constexpr size_t kKeyBytesMax = 8 + 4 + 4 + integrity::kFanotifyHandleBytesMax;
  for (const auto& event : decoded.events) {
    if (!Inside(event.directory_key, data, size) || !Inside(event.name, data, size)) std::abort();
    if (event.directory_key.size() > kKeyBytesMax) std::abort();
    if (event.name == "." || event.name == ".." ||
        event.name.find_first_of(std::string_view("/\0", 2)) != std::string_view::npos) {
      std::abort();
    }
  }
  return 0;
}
