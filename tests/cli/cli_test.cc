#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "pki/pki.h"
#include "test_support/notify_socket.h"
#include "test_support/run_vigil.h"
#include "test_support/temporary_directory.h"

namespace vigil {
namespace {

using test_support::CommandResult;
using test_support::RunVigil;

class CliTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const { return (directory_ / name).string(); }
  test_support::TemporaryDirectory temporary_{"vigil-cli"};
  const std::filesystem::path& directory_ = temporary_.path();
};

TEST_F(CliTest, HelpListsEverySubcommand) {
  CommandResult result = RunVigil("--help");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  for (const char* command : {"keygen", "pki", "demo"}) {
    EXPECT_NE(result.output.find(command), std::string::npos) << command;
  }
  EXPECT_EQ(RunVigil("pki issue --help").exit_code, 0);
}

TEST_F(CliTest, KeygenWritesAPrivateKeyOnlyTheOwnerCanRead) {
  CommandResult result = RunVigil("keygen --out " + Path("node") + " --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  nlohmann::json printed = nlohmann::json::parse(result.output);
  struct stat status {};
  ASSERT_EQ(::stat(Path("node/key.pem").c_str(), &status), 0);
  EXPECT_EQ(status.st_mode & 0777, 0600u);
  auto key = crypto::ReadPrivateKeyFile(Path("node/key.pem"));
  ASSERT_TRUE(key.has_value()) << key.error().ToString();
  EXPECT_EQ(printed["public_key"], ToHex(key->public_key()));

  CommandResult again = RunVigil("keygen --out " + Path("node"));
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.output.find("already exists"), std::string::npos) << again.output;
}

TEST_F(CliTest, IssuedCertificatesPassOpensslVerify) {
  ASSERT_EQ(RunVigil("pki init --out " + Path("ca")).exit_code, 0);
  CommandResult issued =
      RunVigil("pki issue --ca " + Path("ca") + " --role device --name press-07 --out " +
               Path("press-07") + " --json");
  ASSERT_EQ(issued.exit_code, 0) << issued.output;
  nlohmann::json printed = nlohmann::json::parse(issued.output);
  EXPECT_EQ(printed["role"], "device");
  EXPECT_EQ(printed["name"], "press-07");

  std::string verify = "openssl verify -CAfile " + Path("ca/ca.pem") + " " +
                       Path("press-07/cert.pem") + " > /dev/null 2>&1";
  EXPECT_EQ(std::system(verify.c_str()), 0);
  auto node = pki::LoadNodeDirectory(Path("press-07"));
  ASSERT_TRUE(node.has_value()) << node.error().ToString();
  EXPECT_EQ(printed["public_key"], ToHex(node->key.public_key()));
}

TEST_F(CliTest, RefusalsAreOneClearLineAndANonZeroExit) {
  ASSERT_EQ(RunVigil("pki init --out " + Path("ca")).exit_code, 0);
  CommandResult bad_role =
      RunVigil("pki issue --ca " + Path("ca") + " --role emperor --name x --out " + Path("x"));
  EXPECT_NE(bad_role.exit_code, 0);
  EXPECT_NE(bad_role.output.find("emperor"), std::string::npos) << bad_role.output;
  CommandResult bad_name =
      RunVigil("pki issue --ca " + Path("ca") + " --role device --name 'a b' --out " + Path("y"));
  EXPECT_NE(bad_name.exit_code, 0);
  ::chmod(Path("ca/ca.key").c_str(), 0644);
  CommandResult loose_key =
      RunVigil("pki issue --ca " + Path("ca") + " --role device --name z --out " + Path("z"));
  EXPECT_NE(loose_key.exit_code, 0);
  EXPECT_NE(loose_key.output.find("chmod 600"), std::string::npos) << loose_key.output;
}

TEST_F(CliTest, DemoRollsOutTwoReleasesRepairsATamperedDeviceAndRefusesEveryAttack) {
  CommandResult result = RunVigil("demo --peers 1 --devices 2 --dir " + Path("demo"), 240);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  for (const char* expected :
       {"all 2 devices staged 1.0.0", "all 2 devices run 1.0.0", "device-2 goes offline",
        "refused  activation while 1 of 2 staged", "1 of 2 enrolled devices",
        "device-2 is back and stages 2.0.0", "all 2 devices run 2.0.0",
        "refused  replaying an older version",
        "refused  publishing a version that exists",
        "refused  publishing with a key that is not a publisher",
        "refused  a bit flip in the archive", "refused  a bit flip in the manifest",
        "every attack refused"}) {
    EXPECT_NE(result.output.find(expected), std::string::npos) << expected << "\n" << result.output;
  }
  // The tampering section: both ledger records of device-1, the file restored on disk, and
  // the fleet's compliance where device-1 is compliant again with its repair recorded.
  for (const char* expected :
       {"overwrote state/apps/press-control/current/config/line.conf",
        "device-1   tamper           press-control 2.0.0    1 change: modified content: "
        "config/line.conf",
        "device-1   repaired", "app restarted; clean",
        "line.conf on disk again: \"line_speed=2.0.0\" as published", "fleet compliance",
        "compliant 2.0.0        2.0.0        compliant since", "tampered 1 time(s)", "summary: "}) {
    EXPECT_NE(result.output.find(expected), std::string::npos) << expected << "\n" << result.output;
  }
  EXPECT_EQ(result.output.find("ACCEPTED"), std::string::npos) << result.output;
  EXPECT_FALSE(std::filesystem::exists(Path("demo"))) << "demo must clean up without --keep";
}

// `vigil peer` under systemd (Type=notify, deploy/vigil-peer.service): READY=1 once it serves,
// WATCHDOG=1 from its event loop at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM.
TEST_F(CliTest, PeerTellsSystemdItIsReadyKeepsTheWatchdogFedAndSaysWhenItStops) {
  CommandResult up = RunVigil("cluster up --dir " + Path("cluster") + " --peers 1");
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_EQ(RunVigil("cluster down --dir " + Path("cluster")).exit_code, 0);
  const std::string socket_path = Path("notify.sock");
  test_support::NotifySocket socket(socket_path);
  ASSERT_TRUE(socket.bound());
  ::setenv("NOTIFY_SOCKET", socket_path.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "400000", 1);  // keep-alives every 200 ms
  // `timeout` sends SIGTERM after 4 s and then exits with 124. The socket is read meanwhile,
  // as systemd does (its queue holds only a few datagrams).
  auto running = std::async(std::launch::async, [&] {
    return RunVigil("peer --config " + Path("cluster/peer-1/peer.toml"), 4);
  });
  std::vector<std::string> messages;
  while (running.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    for (auto& message : socket.Read()) messages.push_back(std::move(message));
  }
  CommandResult ran = running.get();
  for (auto& message : socket.Read()) messages.push_back(std::move(message));
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  EXPECT_EQ(ran.exit_code, 124) << ran.output;
  EXPECT_NE(ran.output.find("peer stopping signal=15"), std::string::npos) << ran.output;
  ASSERT_GE(messages.size(), 2u);
  EXPECT_EQ(messages.front().rfind("READY=1\nSTATUS=peer peer-1 at height ", 0), 0u)
      << messages.front();
  size_t keep_alives = 0;
  for (const auto& message : messages) keep_alives += message == "WATCHDOG=1" ? 1 : 0;
  EXPECT_GE(keep_alives, 5u);
  EXPECT_EQ(messages.back(), "STOPPING=1");
}

}  // namespace
}  // namespace vigil
