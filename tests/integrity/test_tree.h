// Helpers for integrity tests: a release tree on disk and its manifest.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "common/assert.h"
#include "crypto/crypto.h"
#include "release/manifest.h"

namespace vigil::integrity::testing {

inline void WriteFile(const std::filesystem::path& path, std::string_view contents,
                      mode_t mode = 0644) {
  std::filesystem::create_directories(path.parent_path());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    VIGIL_ASSERT(out.good());
  }
  VIGIL_ASSERT(::chmod(path.c_str(), mode) == 0);
}

inline std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct TreeFile {
  std::string contents;
  uint32_t mode = 0644;
};

// Writes `files` under `root` and returns the manifest that describes exactly them.
inline release::Manifest WriteRelease(const std::filesystem::path& root,
                                      const std::map<std::string, TreeFile>& files) {
  release::Manifest manifest;
  manifest.app = "press-control";
  manifest.version = "1.0.0";
  for (const auto& [path, file] : files) {
    WriteFile(root / path, file.contents, file.mode);
    manifest.files.push_back(release::FileEntry{.path = path,
                                                .size_bytes = file.contents.size(),
                                                .mode = file.mode,
                                                .sha256 = crypto::Sha256(AsBytes(file.contents))});
  }
  manifest.entry = {manifest.files.front().path};
  return manifest;
}

inline std::map<std::string, TreeFile> SampleFiles() {
  return {{"bin/run", {"#!/bin/sh\nexec sleep 100\n", 0755}},
          {"etc/config.toml", {"speed = 3\n", 0644}},
          {"lib/big.bin", {std::string(300 * 1024, 'b') + "end", 0644}},
          {"lib/empty", {"", 0600}},
          {"share/deep/a/b/c/note.txt", {"deep\n", 0444}}};
}

}  // namespace vigil::integrity::testing
