// Small, durable file-system helpers shared by every component.
//
// `WriteFileAtomically` is the only way Vigil writes a file that matters: temporary file in
// the same directory, write, fsync, rename over the target, fsync the directory. After a
// crash (kill -9 or power loss) the target holds either the old or the new bytes, never a mix.
#pragma once

#include <sys/types.h>

#include <filesystem>

#include "common/bytes.h"
#include "common/error.h"

namespace vigil {

Status WriteFileAtomically(const std::filesystem::path& path, ByteSpan contents, mode_t mode);

// Reads a whole file, refusing files larger than `size_bytes_max` (named by the caller).
Expected<Bytes> ReadFile(const std::filesystem::path& path, size_t size_bytes_max);

// Creates the directory (and parents) if missing, with the given mode for new directories.
Status EnsureDirectory(const std::filesystem::path& path, mode_t mode);

}  // namespace vigil
