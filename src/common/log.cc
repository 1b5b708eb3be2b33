#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace vigil {

void InitLogging(std::string_view level) {
  // Idempotent: tests and the demo may call it more than once.
  auto logger = spdlog::get("vigil");
  if (!logger) logger = spdlog::stderr_color_mt("vigil");
  spdlog::set_default_logger(logger);
  spdlog::level::level_enum parsed = spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") parsed = spdlog::level::info;
  spdlog::set_level(parsed);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
}

std::string LogValue(std::string_view value) {
  bool needs_quotes = value.empty();
  for (char character : value) {
    if (character == ' ' || character == '"' || character == '=' || character == '\\') {
      needs_quotes = true;
    }
  }
  if (!needs_quotes) return std::string(value);
  std::string quoted = "\"";
  for (char character : value) {
    if (character == '"' || character == '\\') quoted += '\\';
    quoted += character;
  }
  quoted += '"';
  return quoted;
}

}  // namespace vigil
