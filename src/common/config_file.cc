#include "common/config_file.h"

#include <charconv>
#include <sstream>

#include "common/file.h"
#include "common/limits.h"

namespace vigil::config {

Expected<toml::table> ParseToml(std::string_view text) {
  try {
    return toml::parse(text);
  } catch (const toml::parse_error& error) {
    std::ostringstream where;
    where << error.source().begin;
    return Fail(ErrorCode::kInvalidArgument,
                "not valid TOML at " + where.str() + ": " + std::string(error.description()));
  }
}

Expected<toml::table> LoadTomlFile(const std::filesystem::path& path) {
  auto bytes = ReadFile(path, limits::kConfigFileBytesMax);
  if (!bytes) return std::unexpected(bytes.error().WithContext(path.string()));
  auto table = ParseToml(
      std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
  if (!table) return std::unexpected(table.error().WithContext(path.string()));
  return table;
}

Status RefuseUnknownKeys(const toml::table& table, std::string_view where,
                         const std::set<std::string_view>& known) {
  for (const auto& [key, value] : table) {
    if (!known.contains(key.str())) {
      return Fail(ErrorCode::kInvalidArgument,
                  std::string(where) + ": unknown key '" + std::string(key.str()) + "'");
    }
  }
  return Ok();
}

Expected<std::string> RequiredString(const toml::table& table, std::string_view key) {
  if (table.get(key) == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "missing key '" + std::string(key) + "'");
  }
  return OptionalString(table, key, "");
}

Expected<std::string> OptionalString(const toml::table& table, std::string_view key,
                                     std::string fallback) {
  const auto* node = table.get(key);
  if (node == nullptr) return fallback;
  auto value = node->value<std::string>();
  if (!value || value->empty()) {
    return Fail(ErrorCode::kInvalidArgument, "'" + std::string(key) + "' must be a non-empty string");
  }
  return *value;
}

Expected<std::vector<std::string>> StringList(const toml::table& table, std::string_view key,
                                              size_t count_max) {
  std::vector<std::string> list;
  const auto* node = table.get(key);
  if (node == nullptr) return list;
  const auto* array = node->as_array();
  std::string must = "'" + std::string(key) + "' must be an array of at most " +
                     std::to_string(count_max) + " non-empty strings";
  if (array == nullptr || array->size() > count_max) {
    return Fail(ErrorCode::kInvalidArgument, must);
  }
  for (const auto& element : *array) {
    auto value = element.value<std::string>();
    if (!value || value->empty()) return Fail(ErrorCode::kInvalidArgument, must);
    list.push_back(*value);
  }
  return list;
}

Expected<int64_t> OptionalInteger(const toml::table& table, std::string_view where,
                                  std::string_view key, int64_t current, int64_t maximum) {
  const auto* node = table.get(key);
  if (node == nullptr) return current;
  auto value = node->value<int64_t>();
  if (!value || *value < 0 || *value > maximum) {
    return Fail(ErrorCode::kInvalidArgument, std::string(where) + "'" + std::string(key) +
                                                 "' must be an integer in 0.." +
                                                 std::to_string(maximum));
  }
  return *value;
}

Status ReadMilliseconds(const toml::table& table, std::string_view where, std::string_view key,
                        std::chrono::milliseconds& out) {
  int64_t value = out.count();
  VIGIL_RETURN_IF_ERROR(ReadNumber(table, where, key, int64_t{24} * 3600 * 1000, value));
  out = std::chrono::milliseconds(value);
  return Ok();
}

Expected<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view key,
                                                         const std::string& text,
                                                         bool allow_any_port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "'" + std::string(key) + "' must be host:port, not '" + text + "'");
  }
  int64_t port = -1;
  std::string_view digits = std::string_view(text).substr(colon + 1);
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  int64_t lowest = allow_any_port ? 0 : 1;
  if (error != std::errc() || end != digits.data() + digits.size() || port < lowest ||
      port > 65535) {
    return Fail(ErrorCode::kInvalidArgument, "'" + std::string(key) + "': the port of '" + text +
                                                 "' is not " + std::to_string(lowest) +
                                                 "..65535");
  }
  return std::make_pair(text.substr(0, colon), static_cast<uint16_t>(port));
}

}  // namespace vigil::config
