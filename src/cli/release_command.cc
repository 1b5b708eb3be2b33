// `vigil release build|inspect|verify`: make a release bundle from a directory, show what a
// bundle holds, and check one completely (docs/bundle-format.md).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/bytes.h"
#include "release/bundle.h"

namespace vigil::cli {
namespace {

constexpr std::string_view kBuildName = "release build";
constexpr std::string_view kInspectName = "release inspect";
constexpr std::string_view kVerifyName = "release verify";

// Splits "CMD ARGS" into argv the way a shell splits words, without expansion: whitespace
// separates, '...' and "..." group (no escapes inside), nothing else is special. Entry points
// are run with execve, never through a shell, so what is split here is exactly what runs.
Expected<std::vector<std::string>> SplitCommandLine(std::string_view option,
                                                    std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (char c : text) {
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else {
        word += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(option) + " has an unterminated " + quote + " quote");
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

std::string Octal(uint32_t mode) {
  char text[16];
  std::snprintf(text, sizeof text, "0%03o", mode);
  return text;
}

std::string JoinArgv(const std::vector<std::string>& argv) {
  std::string joined;
  for (const std::string& argument : argv) {
    if (!joined.empty()) joined += ' ';
    bool needs_quotes = argument.empty() || argument.find_first_of(" \t\n'\"") != std::string::npos;
    joined += needs_quotes ? "'" + argument + "'" : argument;
  }
  return joined;
}

nlohmann::json ManifestJson(const release::Manifest& manifest) {
  nlohmann::json files = nlohmann::json::array();
  for (const release::FileEntry& file : manifest.files) {
    files.push_back({{"path", file.path},
                     {"size_bytes", file.size_bytes},
                     {"mode", Octal(file.mode)},
                     {"sha256", ToHex(file.sha256)}});
  }
  return {{"format_version", manifest.format_version},
          {"app", manifest.app},
          {"version", manifest.version},
          {"entry", manifest.entry},
          {"health",
           {{"stay_up_seconds", manifest.health.stay_up_seconds},
            {"command", manifest.health.command},
            {"tcp_port", manifest.health.tcp_port},
            {"timeout_seconds", manifest.health.timeout_seconds}}},
          {"hooks",
           {{"pre_activate", manifest.hooks.pre_activate},
            {"post_activate", manifest.hooks.post_activate}}},
          {"files", files}};
}

// --- build ---

struct BuildCommandOptions {
  std::string directory;
  std::string app;
  std::string version;
  std::string entry;
  uint32_t health_stay_up_seconds = 0;
  std::string health_command;
  uint16_t health_port = 0;
  uint32_t health_timeout_seconds = 0;
  std::string pre_activate;
  std::string post_activate;
  std::string out;
  bool json = false;
};

Status RunBuild(const BuildCommandOptions& options) {
  release::BuildOptions build;
  build.app = options.app;
  build.version = options.version;
  VIGIL_ASSIGN_OR_RETURN(build.entry, SplitCommandLine("--entry", options.entry));
  VIGIL_ASSIGN_OR_RETURN(build.health.command,
                         SplitCommandLine("--health-command", options.health_command));
  build.health.stay_up_seconds = options.health_stay_up_seconds;
  build.health.tcp_port = options.health_port;
  build.health.timeout_seconds = options.health_timeout_seconds;
  VIGIL_ASSIGN_OR_RETURN(build.hooks.pre_activate,
                         SplitCommandLine("--pre-activate", options.pre_activate));
  VIGIL_ASSIGN_OR_RETURN(build.hooks.post_activate,
                         SplitCommandLine("--post-activate", options.post_activate));
  const std::filesystem::path out =
      options.out.empty() ? std::filesystem::path(options.app + "-" + options.version + ".vigil")
                          : std::filesystem::path(options.out);
  VIGIL_ASSIGN_OR_RETURN(release::BuiltBundle built,
                         release::BuildBundle(options.directory, build, out));
  const uint64_t unpacked_bytes = release::TotalSizeBytes(built.manifest);
  if (options.json) {
    PrintJson({{"bundle", out.string()},
               {"app", built.manifest.app},
               {"version", built.manifest.version},
               {"files", built.manifest.files.size()},
               {"unpacked_size_bytes", unpacked_bytes},
               {"bundle_digest", ToHex(built.bundle_digest)},
               {"bundle_size_bytes", built.bundle_size_bytes},
               {"manifest_root", ToHex(built.manifest_root)}});
    return Ok();
  }
  std::printf("built %s %s: %zu files, %llu bytes unpacked\n", built.manifest.app.c_str(),
              built.manifest.version.c_str(), built.manifest.files.size(),
              static_cast<unsigned long long>(unpacked_bytes));
  std::printf("bundle         %s\n", out.c_str());
  std::printf("bundle_digest  %s\n", ToHex(built.bundle_digest).c_str());
  std::printf("bundle_size    %llu bytes\n",
              static_cast<unsigned long long>(built.bundle_size_bytes));
  std::printf("manifest_root  %s\n", ToHex(built.manifest_root).c_str());
  return Ok();
}

void RegisterBuild(CLI::App& release, CommandContext& context) {
  CLI::App* command = release.add_subcommand(
      "build",
      "Bundle every regular file under DIR (with its permission bits) into one release file: a "
      "manifest and a tar+zstd archive. Prints the bundle digest, size and manifest root that "
      "`vigil publish` signs and the ledger records. Refuses links, device files and "
      "setuid/setgid bits.");
  auto options = std::make_shared<BuildCommandOptions>();
  command->add_option("DIR", options->directory, "Directory holding the release's files")
      ->required();
  command->add_option("--app", options->app, "App name ([a-z0-9._-], as on the ledger)")
      ->required();
  command->add_option("--version", options->version, "Semantic version (e.g. 1.4.0)")->required();
  command
      ->add_option("--entry", options->entry,
                   "Command that starts the app, e.g. \"bin/server --port 80\": the program "
                   "is a file of the bundle (executable) or an absolute system path")
      ->required();
  command->add_option("--health-stay-up", options->health_stay_up_seconds,
                      "Health check: seconds the app must stay running after start");
  command->add_option("--health-command", options->health_command,
                      "Health check: command run in the release directory; must exit 0");
  command->add_option("--health-port", options->health_port,
                      "Health check: 127.0.0.1:PORT must accept a connection");
  command->add_option("--health-timeout", options->health_timeout_seconds,
                      "Health check: seconds all checks may take (0 = the agent's default)");
  command->add_option("--pre-activate", options->pre_activate,
                      "Install hook run in the new release directory before it is activated");
  command->add_option("--post-activate", options->post_activate,
                      "Install hook run after the new release is activated");
  command->add_option("--out", options->out, "Bundle file to write (default APP-VERSION.vigil)");
  command->add_flag("--json", options->json, "Print a JSON object instead of text");
  command->callback([options, &context] {
    if (Status status = RunBuild(*options); !status) {
      ReportError(context, kBuildName, status.error());
    }
  });
}

// --- inspect ---

struct InspectCommandOptions {
  std::string bundle;
  bool json = false;
};

Status RunInspect(const InspectCommandOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(release::BundleSummary summary, release::InspectBundle(options.bundle));
  const release::Manifest& manifest = summary.manifest;
  if (options.json) {
    nlohmann::json json = ManifestJson(manifest);
    json["bundle"] = options.bundle;
    json["bundle_digest"] = ToHex(summary.bundle_digest);
    json["bundle_size_bytes"] = summary.bundle_size_bytes;
    json["archive_size_bytes"] = summary.archive_size_bytes;
    json["manifest_root"] = ToHex(summary.manifest_root);
    json["unpacked_size_bytes"] = release::TotalSizeBytes(manifest);
    PrintJson(json);
    return Ok();
  }
  std::printf("app            %s\n", manifest.app.c_str());
  std::printf("version        %s\n", manifest.version.c_str());
  std::printf("entry          %s\n", JoinArgv(manifest.entry).c_str());
  std::printf("health         stay up %u s, command %s, tcp port %u, timeout %u s\n",
              manifest.health.stay_up_seconds,
              manifest.health.command.empty() ? "-" : JoinArgv(manifest.health.command).c_str(),
              static_cast<unsigned>(manifest.health.tcp_port), manifest.health.timeout_seconds);
  std::printf("pre_activate   %s\n", manifest.hooks.pre_activate.empty()
                                         ? "-"
                                         : JoinArgv(manifest.hooks.pre_activate).c_str());
  std::printf("post_activate  %s\n", manifest.hooks.post_activate.empty()
                                         ? "-"
                                         : JoinArgv(manifest.hooks.post_activate).c_str());
  std::printf("bundle_digest  %s\n", ToHex(summary.bundle_digest).c_str());
  std::printf("bundle_size    %llu bytes (archive %llu)\n",
              static_cast<unsigned long long>(summary.bundle_size_bytes),
              static_cast<unsigned long long>(summary.archive_size_bytes));
  std::printf("manifest_root  %s\n", ToHex(summary.manifest_root).c_str());
  std::printf("files          %zu, %llu bytes unpacked\n", manifest.files.size(),
              static_cast<unsigned long long>(release::TotalSizeBytes(manifest)));
  for (const release::FileEntry& file : manifest.files) {
    std::printf("  %s %12llu  %s  %s\n", Octal(file.mode).c_str(),
                static_cast<unsigned long long>(file.size_bytes), ToHex(file.sha256).c_str(),
                file.path.c_str());
  }
  return Ok();
}

void RegisterInspect(CLI::App& release, CommandContext& context) {
  CLI::App* command = release.add_subcommand(
      "inspect",
      "Show a bundle's manifest (app, version, entry, health check, hooks, files), its digest "
      "and its manifest root. Checks the manifest; `verify` also checks every file.");
  auto options = std::make_shared<InspectCommandOptions>();
  command->add_option("BUNDLE", options->bundle, "Bundle file")->required();
  command->add_flag("--json", options->json, "Print a JSON object instead of text");
  command->callback([options, &context] {
    if (Status status = RunInspect(*options); !status) {
      ReportError(context, kInspectName, status.error());
    }
  });
}

// --- verify ---

struct VerifyCommandOptions {
  std::string bundle;
  bool json = false;
};

Status RunVerify(const VerifyCommandOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(release::Manifest manifest, release::VerifyBundle(options.bundle));
  const std::string root = ToHex(release::ManifestRoot(manifest));
  if (options.json) {
    PrintJson({{"ok", true},
               {"bundle", options.bundle},
               {"app", manifest.app},
               {"version", manifest.version},
               {"files", manifest.files.size()},
               {"manifest_root", root}});
  } else {
    std::printf("ok: %s is an intact bundle of %s %s (%zu files, manifest root %s)\n",
                options.bundle.c_str(), manifest.app.c_str(), manifest.version.c_str(),
                manifest.files.size(), root.c_str());
  }
  return Ok();
}

void RegisterVerify(CLI::App& release, CommandContext& context) {
  CLI::App* command = release.add_subcommand(
      "verify",
      "Check a bundle completely without unpacking it: layout, manifest, and every file's "
      "path, size, mode and SHA-256. Exit status 1 and one sentence on stderr on any failure.");
  auto options = std::make_shared<VerifyCommandOptions>();
  command->add_option("BUNDLE", options->bundle, "Bundle file")->required();
  command->add_flag("--json", options->json, "Print a JSON object instead of text");
  command->callback([options, &context] {
    if (Status status = RunVerify(*options); !status) {
      ReportError(context, kVerifyName, status.error());
    }
  });
}

void RegisterReleaseCommand(CLI::App& app, CommandContext& context) {
  CLI::App* release = app.add_subcommand(
      "release", "Build, inspect and verify release bundles (docs/bundle-format.md)");
  release->require_subcommand(1);
  RegisterBuild(*release, context);
  RegisterInspect(*release, context);
  RegisterVerify(*release, context);
}

}  // namespace

VIGIL_REGISTER_COMMAND(kOrderRelease, RegisterReleaseCommand);

}  // namespace vigil::cli
