// `vigil release build|inspect|verify` end to end: the real binary on real directories, as a
// publisher would run it.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "common/bytes.h"
#include "release/bundle.h"
#include "release/test_tree.h"
#include "test_support/run_vigil.h"
#include "test_support/temporary_directory.h"

namespace vigil::release {
namespace {

namespace fs = std::filesystem;
using test_support::CommandResult;
using test_support::RunVigil;
using testing::ReadWhole;
using testing::WriteTreeFile;
using testing::WriteWhole;

constexpr int kCommandTimeLimitSeconds = 30;

CommandResult Vigil(const std::string& arguments) {
  return RunVigil(arguments, kCommandTimeLimitSeconds);
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

nlohmann::json Json(const std::string& output) {
  return nlohmann::json::parse(output.substr(0, output.find('\n')), nullptr, false);
}

class ReleaseCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteTreeFile(source(), "bin/server", "#!/bin/sh\nexec sleep 100\n", 0755);
    WriteTreeFile(source(), "share/index.html", "<h1>press</h1>\n", 0644);
  }
  std::string source() const { return (temporary_.path() / "source").string(); }
  std::string bundle() const { return (temporary_.path() / "server.vigil").string(); }
  CommandResult BuildJson() {
    return Vigil("release build " + source() +
                 " --app press-control --version 2.1.0-rc.1 --entry \"bin/server --port 8080\""
                 " --health-stay-up 5 --health-port 8080 --health-command \"/bin/sh -c 'exit 0'\""
                 " --out " +
                 bundle() + " --json");
  }

  test_support::TemporaryDirectory temporary_{"vigil-release-cli"};
};

TEST_F(ReleaseCliTest, BuildInspectVerifyAgreeWithTheLibrary) {
  CommandResult built = BuildJson();
  ASSERT_EQ(built.exit_code, 0) << built.output;
  nlohmann::json build = Json(built.output);
  ASSERT_FALSE(build.is_discarded()) << built.output;
  EXPECT_EQ(build["files"], 2);

  auto summary = InspectBundle(bundle());
  ASSERT_TRUE(summary.has_value()) << summary.error().ToString();
  EXPECT_EQ(build["bundle_digest"], ToHex(summary->bundle_digest));
  EXPECT_EQ(build["manifest_root"], ToHex(summary->manifest_root));
  EXPECT_EQ(build["bundle_size_bytes"], summary->bundle_size_bytes);
  EXPECT_EQ(summary->manifest.entry, (std::vector<std::string>{"bin/server", "--port", "8080"}));
  EXPECT_EQ(summary->manifest.health.command,
            (std::vector<std::string>{"/bin/sh", "-c", "exit 0"}));
  EXPECT_EQ(summary->manifest.health.tcp_port, 8080);
  EXPECT_EQ(summary->manifest.health.stay_up_seconds, 5u);

  CommandResult inspected = Vigil("release inspect " + bundle() + " --json");
  ASSERT_EQ(inspected.exit_code, 0) << inspected.output;
  nlohmann::json inspect = Json(inspected.output);
  EXPECT_EQ(inspect["version"], "2.1.0-rc.1");
  EXPECT_EQ(inspect["bundle_digest"], build["bundle_digest"]);
  EXPECT_EQ(inspect["files"][0]["path"], "bin/server");
  EXPECT_EQ(inspect["files"][0]["mode"], "0755");

  CommandResult text = Vigil("release inspect " + bundle());
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_TRUE(Contains(text.output, "share/index.html")) << text.output;
  EXPECT_TRUE(Contains(text.output, build["manifest_root"].get<std::string>())) << text.output;

  CommandResult verified = Vigil("release verify " + bundle());
  ASSERT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_TRUE(Contains(verified.output, "ok: ")) << verified.output;
}

TEST_F(ReleaseCliTest, VerifyFailsWithOneSentenceOnACorruptBundle) {
  ASSERT_EQ(BuildJson().exit_code, 0);
  Bytes bytes = ReadWhole(bundle());
  bytes[bytes.size() - kBundleTrailerBytes - 5] ^= 0x01;
  WriteWhole(bundle(), bytes);
  CommandResult verified = Vigil("release verify " + bundle());
  EXPECT_EQ(verified.exit_code, 1) << verified.output;
  EXPECT_TRUE(verified.output.starts_with("vigil release verify: ")) << verified.output;
  EXPECT_EQ(verified.output.find('\n'), verified.output.size() - 1) << verified.output;

  CommandResult missing = Vigil("release verify " + bundle() + ".missing");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(Contains(missing.output, "cannot open")) << missing.output;
}

TEST_F(ReleaseCliTest, BuildRefusesWhatCannotBeABundle) {
  fs::create_symlink("/etc/passwd", fs::path(source()) / "share/passwd");
  CommandResult built = BuildJson();
  EXPECT_EQ(built.exit_code, 1);
  EXPECT_TRUE(Contains(built.output, "share/passwd")) << built.output;
  EXPECT_FALSE(fs::exists(bundle()));
  fs::remove(fs::path(source()) / "share/passwd");

  built = Vigil("release build " + source() +
                " --app Press --version 1.0.0 --entry bin/server"
                " --out " +
                bundle());
  EXPECT_EQ(built.exit_code, 1);
  EXPECT_TRUE(Contains(built.output, "app")) << built.output;
  built = Vigil("release build " + source() +
                " --app press --version 1.0 --entry bin/server"
                " --out " +
                bundle());
  EXPECT_EQ(built.exit_code, 1);
  built = Vigil("release build " + source() +
                " --app press --version 1.0.0 --entry "
                "\"bin/server 'unterminated\" --out " +
                bundle());
  EXPECT_EQ(built.exit_code, 1);
  EXPECT_TRUE(Contains(built.output, "unterminated")) << built.output;
  EXPECT_FALSE(fs::exists(bundle()));
}

}  // namespace
}  // namespace vigil::release
