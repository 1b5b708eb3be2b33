#include "release/manifest.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

#include "common/limits.h"
#include "ledger/semver.h"
#include "ledger/transaction.h"

namespace vigil::release {
namespace {

std::unexpected<Error> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

// Shows a (possibly hostile) string in an error message: bounded, control bytes escaped.
std::string Quote(std::string_view text) {
  constexpr size_t kShownBytesMax = 80;
  std::string quoted = "\"";
  for (char c : text.substr(0, kShownBytesMax)) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      quoted += "\\x";
      quoted += kHex[byte >> 4];
      quoted += kHex[byte & 0xf];
    } else {
      quoted += c;
    }
  }
  if (text.size() > kShownBytesMax) quoted += "...";
  return quoted + "\"";
}

// Printable ASCII except '\\': no locale or Unicode-normalisation ambiguity between the
// builder's file system, libarchive and the device's file system, and no separator confusion.
bool IsPathCharacter(char c) { return c >= 0x20 && c <= 0x7e && c != '\\'; }

std::string OctalMode(uint32_t mode) {
  char octal[16];
  std::snprintf(octal, sizeof octal, "0%o", mode);
  return octal;
}

bool ContainsPath(const std::vector<FileEntry>& sorted_files, std::string_view path) {
  auto found = std::lower_bound(
      sorted_files.begin(), sorted_files.end(), path,
      [](const FileEntry& file, std::string_view wanted) { return file.path < wanted; });
  return found != sorted_files.end() && found->path == path;
}

void WriteStrings(codec::Encoder& encoder, const std::vector<std::string>& strings) {
  encoder.WriteVector(strings, [](codec::Encoder& e, const std::string& s) { e.WriteString(s); });
}

Expected<std::vector<std::string>> ReadStrings(codec::Decoder& decoder, std::string_view field) {
  return decoder.ReadVector(field, limits::kReleaseArgumentsMax, [](codec::Decoder& d) {
    return d.ReadString("argument", limits::kReleaseArgumentBytesMax);
  });
}

void WriteHeader(codec::Encoder& encoder, const Manifest& manifest) {
  encoder.WriteU32(manifest.format_version);
  encoder.WriteString(manifest.app);
  encoder.WriteString(manifest.version);
  WriteStrings(encoder, manifest.entry);
  encoder.WriteU32(manifest.health.stay_up_seconds);
  WriteStrings(encoder, manifest.health.command);
  encoder.WriteU16(manifest.health.tcp_port);
  encoder.WriteU32(manifest.health.timeout_seconds);
  WriteStrings(encoder, manifest.hooks.pre_activate);
  WriteStrings(encoder, manifest.hooks.post_activate);
}

void WriteFileEntry(codec::Encoder& encoder, const FileEntry& file) {
  encoder.WriteString(file.path);
  encoder.WriteU64(file.size_bytes);
  encoder.WriteU32(file.mode);
  encoder.WriteFixed(file.sha256);
}

Expected<FileEntry> ReadFileEntry(codec::Decoder& decoder) {
  FileEntry file;
  VIGIL_ASSIGN_OR_RETURN(file.path, decoder.ReadString("path", limits::kReleasePathBytesMax));
  VIGIL_ASSIGN_OR_RETURN(file.size_bytes, decoder.ReadU64("size_bytes"));
  VIGIL_ASSIGN_OR_RETURN(file.mode, decoder.ReadU32("mode"));
  VIGIL_ASSIGN_OR_RETURN(file.sha256, decoder.ReadFixed<limits::kSha256DigestBytes>("sha256"));
  return file;
}

Expected<Manifest> ReadManifest(codec::Decoder& decoder) {
  Manifest manifest;
  VIGIL_ASSIGN_OR_RETURN(manifest.format_version, decoder.ReadU32("format_version"));
  if (manifest.format_version != kManifestFormatVersion) {
    return Invalid("manifest format_version " + std::to_string(manifest.format_version) +
                   " is not supported (this vigil reads version " +
                   std::to_string(kManifestFormatVersion) + "); upgrade vigil");
  }
  VIGIL_ASSIGN_OR_RETURN(manifest.app, decoder.ReadString("app", limits::kLedgerNameBytesMax));
  VIGIL_ASSIGN_OR_RETURN(manifest.version,
                         decoder.ReadString("version", limits::kLedgerVersionBytesMax));
  VIGIL_ASSIGN_OR_RETURN(manifest.entry, ReadStrings(decoder, "entry"));
  VIGIL_ASSIGN_OR_RETURN(manifest.health.stay_up_seconds,
                         decoder.ReadU32("health.stay_up_seconds"));
  VIGIL_ASSIGN_OR_RETURN(manifest.health.command, ReadStrings(decoder, "health.command"));
  VIGIL_ASSIGN_OR_RETURN(manifest.health.tcp_port, decoder.ReadU16("health.tcp_port"));
  VIGIL_ASSIGN_OR_RETURN(manifest.health.timeout_seconds,
                         decoder.ReadU32("health.timeout_seconds"));
  VIGIL_ASSIGN_OR_RETURN(manifest.hooks.pre_activate, ReadStrings(decoder, "hooks.pre_activate"));
  VIGIL_ASSIGN_OR_RETURN(manifest.hooks.post_activate, ReadStrings(decoder, "hooks.post_activate"));
  VIGIL_ASSIGN_OR_RETURN(manifest.files,
                         decoder.ReadVector("files", limits::kReleaseFilesMax, ReadFileEntry));
  return manifest;
}

// An absolute argv[0]: "/" followed by a normalised relative path.
Status ValidateAbsolutePath(std::string_view field, std::string_view path) {
  if (path.size() < 2 || path[0] != '/') {
    return Invalid(std::string(field) + " " + Quote(path) + " is not an absolute path");
  }
  return ValidateRelativePath(field, path.substr(1));
}

Status ValidateCommand(std::string_view field, const std::vector<std::string>& argv,
                       const Manifest& manifest, bool required) {
  if (argv.empty()) {
    if (required) return Invalid(std::string(field) + " must name a command (argv[0])");
    return Ok();
  }
  if (argv.size() > limits::kReleaseArgumentsMax) {
    return Invalid(std::string(field) + " has " + std::to_string(argv.size()) +
                   " arguments, more than " + std::to_string(limits::kReleaseArgumentsMax));
  }
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& argument = argv[i];
    if (argument.size() > limits::kReleaseArgumentBytesMax ||
        argument.find('\0') != std::string::npos || !codec::IsValidUtf8(argument)) {
      return Invalid(std::string(field) + "[" + std::to_string(i) +
                     "] must be UTF-8 without NUL, at most " +
                     std::to_string(limits::kReleaseArgumentBytesMax) + " bytes");
    }
  }
  const std::string& program = argv[0];
  if (program.starts_with('/')) {
    return ValidateAbsolutePath(std::string(field) + "[0]", program);
  }
  VIGIL_RETURN_IF_ERROR(ValidateRelativePath(std::string(field) + "[0]", program));
  const FileEntry* file = FindFile(manifest, program);
  if (file == nullptr) {
    return Invalid(std::string(field) + "[0] " + Quote(program) +
                   " is neither an absolute path nor a file of the release");
  }
  if ((file->mode & kFileModeOwnerExecute) == 0) {
    return Invalid(std::string(field) + "[0] " + Quote(program) +
                   " is not executable (mode lacks 0100); chmod u+x it before building");
  }
  return Ok();
}

Status ValidateFiles(const std::vector<FileEntry>& files) {
  if (files.size() > limits::kReleaseFilesMax) {
    return Invalid("the release has " + std::to_string(files.size()) + " files, more than " +
                   std::to_string(limits::kReleaseFilesMax));
  }
  uint64_t total_bytes = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    const FileEntry& file = files[i];
    const std::string field = "files[" + std::to_string(i) + "].path";
    VIGIL_RETURN_IF_ERROR(ValidateRelativePath(field, file.path));
    if (i > 0 && !(files[i - 1].path < file.path)) {
      return Invalid(field + " " + Quote(file.path) +
                     " is out of order or repeated (files are sorted by path, unique)");
    }
    if ((file.mode & ~kFileModeBits) != 0 || (file.mode & kFileModeOwnerRead) == 0) {
      return Invalid("files[" + std::to_string(i) + "] " + Quote(file.path) + " has mode " +
                     OctalMode(file.mode) +
                     ": only permission bits 0..0777 with owner-read (0400) are allowed "
                     "(no setuid, setgid or sticky)");
    }
    if (file.size_bytes > limits::kReleaseUnpackedBytesMax - total_bytes) {
      return Invalid("the release's files add up to more than " +
                     std::to_string(limits::kReleaseUnpackedBytesMax) + " bytes");
    }
    total_bytes += file.size_bytes;
  }
  // A file must not also be the directory of another: "a" and "a/b" cannot both exist on disk.
  for (const FileEntry& file : files) {
    for (size_t slash = file.path.find('/'); slash != std::string::npos;
         slash = file.path.find('/', slash + 1)) {
      std::string_view directory = std::string_view(file.path).substr(0, slash);
      if (ContainsPath(files, directory)) {
        return Invalid("file " + Quote(file.path) + " lies under " + Quote(directory) +
                       ", which is itself a file of the release");
      }
    }
  }
  return Ok();
}

}  // namespace

Status ValidateRelativePath(std::string_view field, std::string_view path) {
  const std::string name = field.empty() ? std::string("path") : std::string(field);
  if (path.empty()) return Invalid(name + " is empty");
  if (path.size() > limits::kReleasePathBytesMax) {
    return Invalid(name + " " + Quote(path) + " is longer than " +
                   std::to_string(limits::kReleasePathBytesMax) + " bytes");
  }
  if (path.front() == '/') {
    return Invalid(name + " " + Quote(path) + " is absolute; paths must stay inside the bundle");
  }
  for (char c : path) {
    if (!IsPathCharacter(c)) {
      return Invalid(name + " " + Quote(path) +
                     " holds a character outside printable ASCII (or a backslash)");
    }
  }
  size_t depth = 0;
  size_t begin = 0;
  while (true) {
    size_t end = path.find('/', begin);
    std::string_view component =
        path.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin);
    if (component.empty()) return Invalid(name + " " + Quote(path) + " has an empty component");
    if (component == "." || component == "..") {
      return Invalid(name + " " + Quote(path) + " has a \"" + std::string(component) +
                     "\" component; paths must be normalised and stay inside the bundle");
    }
    if (component.size() > limits::kReleasePathComponentBytesMax) {
      return Invalid(name + " " + Quote(path) + " has a component longer than " +
                     std::to_string(limits::kReleasePathComponentBytesMax) + " bytes");
    }
    if (++depth > limits::kReleasePathDepthMax) {
      return Invalid(name + " " + Quote(path) + " is deeper than " +
                     std::to_string(limits::kReleasePathDepthMax) + " components");
    }
    if (end == std::string_view::npos) break;
    begin = end + 1;
  }
  return Ok();
}

Status ValidateManifest(const Manifest& manifest) {
  if (manifest.format_version != kManifestFormatVersion) {
    return Invalid("manifest format_version " + std::to_string(manifest.format_version) +
                   " is not supported");
  }
  VIGIL_RETURN_IF_ERROR(ledger::ValidateAppName("app", manifest.app));
  if (auto version = ledger::SemanticVersion::Parse(manifest.version); !version) {
    return std::unexpected(version.error().WithContext("version"));
  }
  VIGIL_RETURN_IF_ERROR(ValidateFiles(manifest.files));
  VIGIL_RETURN_IF_ERROR(ValidateCommand("entry", manifest.entry, manifest, /*required=*/true));
  VIGIL_RETURN_IF_ERROR(
      ValidateCommand("health.command", manifest.health.command, manifest, /*required=*/false));
  VIGIL_RETURN_IF_ERROR(ValidateCommand("hooks.pre_activate", manifest.hooks.pre_activate, manifest,
                                        /*required=*/false));
  VIGIL_RETURN_IF_ERROR(ValidateCommand("hooks.post_activate", manifest.hooks.post_activate,
                                        manifest, /*required=*/false));
  for (auto [field, seconds] :
       {std::pair{"health.stay_up_seconds", manifest.health.stay_up_seconds},
        std::pair{"health.timeout_seconds", manifest.health.timeout_seconds}}) {
    if (seconds > limits::kReleaseHealthSecondsMax) {
      return Invalid(std::string(field) + " " + std::to_string(seconds) + " is more than " +
                     std::to_string(limits::kReleaseHealthSecondsMax));
    }
  }
  return Ok();
}

Bytes EncodeManifestHeader(const Manifest& manifest) {
  codec::Encoder encoder;
  WriteHeader(encoder, manifest);
  return std::move(encoder).Take();
}

Bytes EncodeFileEntry(const FileEntry& file) {
  codec::Encoder encoder;
  WriteFileEntry(encoder, file);
  return std::move(encoder).Take();
}

Bytes EncodeManifest(const Manifest& manifest) {
  codec::Encoder encoder;
  WriteHeader(encoder, manifest);
  encoder.WriteVector(manifest.files, WriteFileEntry);
  return std::move(encoder).Take();
}

Expected<Manifest> DecodeManifest(ByteSpan bytes) {
  if (bytes.size() > limits::kReleaseManifestBytesMax) {
    return Invalid("manifest is " + std::to_string(bytes.size()) + " bytes, more than " +
                   std::to_string(limits::kReleaseManifestBytesMax));
  }
  auto manifest = codec::DecodeExactly(bytes, ReadManifest);
  if (!manifest) return std::unexpected(manifest.error().WithContext("manifest"));
  if (auto valid = ValidateManifest(*manifest); !valid) {
    return std::unexpected(valid.error().WithContext("manifest"));
  }
  return manifest;
}

merkle::Tree ManifestTree(const Manifest& manifest) {
  std::vector<merkle::Hash> leaves;
  leaves.reserve(manifest.files.size() + 1);
  leaves.push_back(merkle::HashLeaf(EncodeManifestHeader(manifest)));
  for (const FileEntry& file : manifest.files) {
    leaves.push_back(merkle::HashLeaf(EncodeFileEntry(file)));
  }
  return merkle::Tree::FromLeafHashes(std::move(leaves));
}

crypto::Sha256Digest ManifestRoot(const Manifest& manifest) {
  return ManifestTree(manifest).Root();
}

uint64_t TotalSizeBytes(const Manifest& manifest) {
  uint64_t total = 0;
  for (const FileEntry& file : manifest.files) total += file.size_bytes;
  return total;
}

const FileEntry* FindFile(const Manifest& manifest, std::string_view path) {
  auto found = std::lower_bound(
      manifest.files.begin(), manifest.files.end(), path,
      [](const FileEntry& file, std::string_view wanted) { return file.path < wanted; });
  if (found == manifest.files.end() || found->path != path) return nullptr;
  return &*found;
}

}  // namespace vigil::release
