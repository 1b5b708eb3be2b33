// Release bundles: build, verify and unpack throughput of a 10 MB multi-file bundle (what a
// publisher, a gateway and a device each do once per release). Bytes/s count the files'
// unpacked bytes. The tree is 40 files of 256 KiB: half incompressible (like binaries), half
// repetitive text (like configuration and scripts), so zstd does real work both ways.
// Unpack includes its fsyncs (file and directory), as on a device.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/assert.h"
#include "release/bundle.h"

namespace vigil::release {
namespace {

namespace fs = std::filesystem;

constexpr int kFiles = 40;
constexpr size_t kFileBytes = 256 * 1024;

std::string FileContents(int index) {
  std::string bytes(kFileBytes, '\0');
  if (index % 2 == 0) {
    uint64_t state = static_cast<uint64_t>(index) * 0x9E3779B97F4A7C15ULL + 1;
    for (char& byte : bytes) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      byte = static_cast<char>(state);
    }
  } else {
    const std::string line = "press." + std::to_string(index) + ".setpoint = 42 # kPa\n";
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = line[i % line.size()];
  }
  return bytes;
}

// One source tree and one bundle for all benchmarks, removed at exit.
struct Fixture {
  Fixture() {
    std::string pattern = (fs::temp_directory_path() / "vigil-release-bench-XXXXXX").string();
    VIGIL_ASSERT(::mkdtemp(pattern.data()) != nullptr);
    root = pattern;
    for (int i = 0; i < kFiles; ++i) {
      fs::path path =
          root / "source" / ("dir" + std::to_string(i / 8)) / ("file" + std::to_string(i));
      fs::create_directories(path.parent_path());
      std::ofstream(path, std::ios::binary) << FileContents(i);
    }
    options = {
        .app = "bench", .version = "1.0.0", .entry = {"/bin/true"}, .health = {}, .hooks = {}};
    VIGIL_ASSERT(BuildBundle(root / "source", options, bundle()).has_value());
  }
  ~Fixture() {
    std::error_code ignored;
    fs::remove_all(root, ignored);
  }
  fs::path bundle() const { return root / "bench.vigil"; }
  fs::path root;
  BuildOptions options;
};

Fixture& Shared() {
  static Fixture fixture;
  return fixture;
}

void BM_BuildBundle(benchmark::State& state) {
  Fixture& fixture = Shared();
  fs::path out = fixture.root / "built.vigil";
  for (auto _ : state) {
    auto built = BuildBundle(fixture.root / "source", fixture.options, out);
    if (!built) state.SkipWithError(built.error().ToString().c_str());
  }
  state.SetBytesProcessed(state.iterations() * kFiles * static_cast<int64_t>(kFileBytes));
  state.counters["bundle_bytes"] = static_cast<double>(fs::file_size(out));
}
BENCHMARK(BM_BuildBundle)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_VerifyBundle(benchmark::State& state) {
  Fixture& fixture = Shared();
  for (auto _ : state) {
    auto verified = VerifyBundle(fixture.bundle());
    if (!verified) state.SkipWithError(verified.error().ToString().c_str());
  }
  state.SetBytesProcessed(state.iterations() * kFiles * static_cast<int64_t>(kFileBytes));
}
BENCHMARK(BM_VerifyBundle)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_UnpackBundle(benchmark::State& state) {
  Fixture& fixture = Shared();
  fs::path slot = fixture.root / "slot";
  for (auto _ : state) {
    auto unpacked = UnpackBundle(fixture.bundle(), slot);
    if (!unpacked) state.SkipWithError(unpacked.error().ToString().c_str());
    state.PauseTiming();
    fs::remove_all(slot);
    state.ResumeTiming();
  }
  state.SetBytesProcessed(state.iterations() * kFiles * static_cast<int64_t>(kFileBytes));
}
BENCHMARK(BM_UnpackBundle)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ReadBundleManifest(benchmark::State& state) {
  Fixture& fixture = Shared();
  for (auto _ : state) {
    auto manifest = ReadBundleManifest(fixture.bundle());
    if (!manifest) state.SkipWithError(manifest.error().ToString().c_str());
  }
}
BENCHMARK(BM_ReadBundleManifest)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace vigil::release
