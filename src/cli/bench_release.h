// What the system benchmarks that publish releases share (`vigil bench update`, `vigil bench
// rollout`): the --size option and a release bundle with a payload of random bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>

#include "common/error.h"

namespace vigil::cli {

// "10MB", "512KB", "1GB", "4096" (bytes); decimal units as in the seed's table. 1 B to 4 GB.
Expected<uint64_t> ParseBenchSize(const std::string& text);

// Builds `<root>/releases/<version>.vigil`: app `app`, entry run.sh (a shell that sleeps), a
// health command that exits 0, and data/model.bin of `size` random bytes (incompressible: the
// worst case for transfer). The source tree is removed afterwards.
Expected<std::filesystem::path> BuildPayloadRelease(const std::filesystem::path& root,
                                                    const std::string& app,
                                                    const std::string& version, uint64_t size,
                                                    std::mt19937_64& random);

}  // namespace vigil::cli
