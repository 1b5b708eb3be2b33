// Structured logging for every Vigil program.
//
// Messages are one line each: an event name followed by key=value fields (logfmt), so a
// person can read them and a script can parse them:
//
//   2026-11-22T03:10:00.123Z info transport tls_refused peer=127.0.0.1:5123 reason="..."
//
// `InitLogging` is called once by main(); components log through spdlog's default logger.
// Thread-safety: spdlog's default logger is thread-safe.
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace vigil {

// level: "trace", "debug", "info", "warn", "error", "off". Unknown levels fall back to info.
void InitLogging(std::string_view level);

// Quotes a field value for logfmt when it holds spaces, quotes or '='.
std::string LogValue(std::string_view value);

}  // namespace vigil
