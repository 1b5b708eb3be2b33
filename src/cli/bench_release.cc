#include "cli/bench_release.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>

#include "common/file.h"
#include "release/bundle.h"

namespace vigil::cli {

Expected<uint64_t> ParseBenchSize(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::string unit = text.substr(digits);
  std::ranges::transform(unit, unit.begin(), [](char c) { return static_cast<char>(std::toupper(c)); });
  static const std::map<std::string, uint64_t> kUnits = {
      {"", 1}, {"B", 1}, {"KB", 1'000}, {"MB", 1'000'000}, {"GB", 1'000'000'000}};
  auto unit_found = kUnits.find(unit);
  if (digits == 0 || digits > 6 || unit_found == kUnits.end()) {
    return Fail(ErrorCode::kInvalidArgument,
                "--size '" + text + "': write a number with B, KB, MB or GB, e.g. 10MB");
  }
  uint64_t size = std::stoull(text.substr(0, digits)) * unit_found->second;
  if (size == 0 || size > 4'000'000'000) {
    return Fail(ErrorCode::kInvalidArgument, "--size must be 1 byte to 4 GB");
  }
  return size;
}

Expected<std::filesystem::path> BuildPayloadRelease(const std::filesystem::path& root,
                                                    const std::string& app,
                                                    const std::string& version, uint64_t size,
                                                    std::mt19937_64& random) {
  std::filesystem::path source = root / "releases" / version;
  VIGIL_RETURN_IF_ERROR(EnsureDirectory(source / "data", 0755));
  std::string script = "#!/bin/sh\nexec sleep 100000\n";
  VIGIL_RETURN_IF_ERROR(WriteFileAtomically(source / "run.sh", AsBytes(script), 0755));
  Bytes payload(size);  // random: incompressible, the worst case for transfer
  for (size_t i = 0; i < payload.size(); i += 8) {
    uint64_t word = random();
    std::memcpy(payload.data() + i, &word, std::min<size_t>(8, payload.size() - i));
  }
  VIGIL_RETURN_IF_ERROR(WriteFileAtomically(source / "data" / "model.bin", payload, 0644));
  release::BuildOptions options;
  options.app = app;
  options.version = version;
  options.entry = {"run.sh"};
  options.health.command = {"/bin/true"};
  std::filesystem::path bundle = root / "releases" / (version + ".vigil");
  VIGIL_RETURN_IF_ERROR(release::BuildBundle(source, options, bundle));
  std::error_code ignored;
  std::filesystem::remove_all(source, ignored);
  return bundle;
}

}  // namespace vigil::cli
