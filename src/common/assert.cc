#include "common/assert.h"

#include <cstdio>
#include <cstdlib>

namespace vigil {

void AssertionFailed(const char* expression, std::source_location location) {
  std::fprintf(stderr, "vigil: assertion failed: %s at %s:%u in %s\n", expression,
               location.file_name(), static_cast<unsigned>(location.line()),
               location.function_name());
  std::fflush(stderr);
  std::abort();
}

}  // namespace vigil
