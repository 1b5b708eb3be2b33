// Helpers for release tests: source trees on disk and raw bundle surgery.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/assert.h"
#include "common/bytes.h"
#include "common/file.h"

namespace vigil::release::testing {

inline void WriteTreeFile(const std::filesystem::path& root, const std::string& relative,
                          std::string_view contents, mode_t mode = 0644) {
  std::filesystem::path path = root / relative;
  std::filesystem::create_directories(path.parent_path());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    VIGIL_ASSERT(out.good());
  }
  VIGIL_ASSERT(::chmod(path.c_str(), mode) == 0);
}

inline Bytes ReadWhole(const std::filesystem::path& path) {
  auto bytes = ReadFile(path, 1ULL << 31);
  VIGIL_ASSERT(bytes.has_value());
  return *bytes;
}

inline void WriteWhole(const std::filesystem::path& path, ByteSpan bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  VIGIL_ASSERT(out.good());
}

// Deterministic pseudo-random bytes (xorshift), incompressible like real binaries.
inline std::string PseudoRandomBytes(size_t size, uint64_t seed) {
  std::string bytes(size, '\0');
  uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (size_t i = 0; i < size; ++i) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    bytes[i] = static_cast<char>(state);
  }
  return bytes;
}

}  // namespace vigil::release::testing
