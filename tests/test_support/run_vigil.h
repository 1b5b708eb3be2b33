// Runs the `vigil` binary as a user would, for end-to-end tests of its commands. The test
// target defines VIGIL_BINARY as the binary's path ($<TARGET_FILE:vigil>).
#pragma once

#include <stdio.h>
#include <sys/wait.h>

#include <array>
#include <string>

#ifndef VIGIL_BINARY
#error "define VIGIL_BINARY (target_compile_definitions(... VIGIL_BINARY=\"$<TARGET_FILE:vigil>\"))"
#endif

namespace vigil::test_support {

struct CommandResult {
  int exit_code = -1;  // -1 when it did not exit normally (killed, or the time limit hit)
  std::string output;  // stdout and stderr together
};

// `arguments` go through the shell unquoted. Every run has a time limit (STYLE.md rule 11).
inline CommandResult RunVigil(const std::string& arguments, int time_limit_seconds = 60) {
  std::string command = "timeout " + std::to_string(time_limit_seconds) + " " +
                        std::string(VIGIL_BINARY) + " " + arguments + " 2>&1";
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  size_t read = 0;
  while ((read = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    result.output.append(buffer.data(), read);
  }
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace vigil::test_support
