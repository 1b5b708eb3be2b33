// Reading Vigil's TOML configuration files (`vigil peer|gateway|agent --config FILE`) the same
// way everywhere: a bounded read, unknown keys refused (a typo must not silently fall back to
// a default), every value checked for type and range, and errors that name the key.
//
//   VIGIL_ASSIGN_OR_RETURN(toml::table root, config::LoadTomlFile(path));
//   VIGIL_RETURN_IF_ERROR(config::RefuseUnknownKeys(root, "config", {"name", "listen"}));
//   VIGIL_ASSIGN_OR_RETURN(std::string name, config::RequiredString(root, "name"));
//
// Thread-safety: pure functions (LoadTomlFile reads one file).
#pragma once

#include <toml++/toml.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/error.h"

namespace vigil::config {

// Parses TOML text; the error gives line and column.
Expected<toml::table> ParseToml(std::string_view text);
// Reads at most limits::kConfigFileBytesMax and parses it; errors carry the path.
Expected<toml::table> LoadTomlFile(const std::filesystem::path& path);

Status RefuseUnknownKeys(const toml::table& table, std::string_view where,
                         const std::set<std::string_view>& known);

// A present, non-empty string.
Expected<std::string> RequiredString(const toml::table& table, std::string_view key);
// `fallback` when absent; an error when present but not a non-empty string.
Expected<std::string> OptionalString(const toml::table& table, std::string_view key,
                                     std::string fallback);
// An array of non-empty strings (absent: empty), at most `count_max` of them.
Expected<std::vector<std::string>> StringList(const toml::table& table, std::string_view key,
                                              size_t count_max);

// An optional integer in 0..maximum; `out` is left alone when the key is absent.
Expected<int64_t> OptionalInteger(const toml::table& table, std::string_view where,
                                  std::string_view key, int64_t current, int64_t maximum);
template <typename Number>
Status ReadNumber(const toml::table& table, std::string_view where, std::string_view key,
                  int64_t maximum, Number& out) {
  VIGIL_ASSIGN_OR_RETURN(int64_t value, OptionalInteger(table, where, key,
                                                        static_cast<int64_t>(out), maximum));
  out = static_cast<Number>(value);
  return Ok();
}
// Milliseconds up to one day.
Status ReadMilliseconds(const toml::table& table, std::string_view where, std::string_view key,
                        std::chrono::milliseconds& out);

// "host:port" with a port in 1..65535 (or 0..65535 with `allow_any_port`).
Expected<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view key,
                                                         const std::string& text,
                                                         bool allow_any_port = false);

}  // namespace vigil::config
