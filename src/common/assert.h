// Invariant checks that stay on in release builds (STYLE.md rule 5).
//
// VIGIL_ASSERT is for programmer errors only: a broken invariant stops the process before
// it can corrupt state. Operating errors (bad input, I/O failure) are Error values instead.
#pragma once

#include <source_location>

namespace vigil {
[[noreturn]] void AssertionFailed(const char* expression, std::source_location location);
}  // namespace vigil

#define VIGIL_ASSERT(condition)                                                    \
  do {                                                                             \
    if (!(condition)) [[unlikely]] {                                               \
      ::vigil::AssertionFailed(#condition, std::source_location::current());      \
    }                                                                              \
  } while (false)
