// End-to-end tests of `vigil tx submit|show` and `vigil ledger status|block|tail`: the real
// binary against a real one-peer cluster (`vigil cluster up`), as an operator would use them.
//
// The cluster is shared by the tests of the suite (one start, ~1 s) and each test enrolls its
// own fresh device keys, so the tests do not depend on each other's order; ctest, which runs
// every test in its own process, gets one cluster per test.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/bytes.h"
#include "crypto/crypto.h"
#include "test_support/run_vigil.h"
#include "test_support/temporary_directory.h"

namespace vigil {
namespace {

using test_support::CommandResult;
using test_support::RunVigil;

// Every command is quick against a local peer; a hang fails the test instead of blocking it.
constexpr int kCommandTimeLimitSeconds = 20;

CommandResult Vigil(const std::string& arguments) {
  return RunVigil(arguments, kCommandTimeLimitSeconds);
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The JSON object a command prints on stdout (an error line may come with it on stderr); a
// discarded value when there is none.
nlohmann::json FirstLineJson(const std::string& output) {
  size_t start = output.starts_with('{') ? 0 : output.find("\n{");
  if (start == std::string::npos) return nlohmann::json::value_t::discarded;
  if (start != 0) ++start;
  return nlohmann::json::parse(output.substr(start, output.find('\n', start) - start), nullptr,
                               false);
}

std::string FreshPublicKeyHex() {
  auto key = crypto::PrivateKey::Generate();
  EXPECT_TRUE(key.has_value());
  return ToHex(key->public_key());
}

class TxLedgerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    temporary_ = new test_support::TemporaryDirectory("vigil-tx-ledger");
    cluster_ = (temporary_->path() / "cluster").string();
    CommandResult up =
        Vigil("cluster up --dir " + cluster_ + " --peers 1 --empty-block-interval-ms 200");
    ASSERT_EQ(up.exit_code, 0) << up.output;
  }
  static void TearDownTestSuite() {
    CommandResult down = Vigil("cluster down --dir " + cluster_ + " --purge");
    EXPECT_EQ(down.exit_code, 0) << down.output;
    delete temporary_;
    temporary_ = nullptr;
  }
  void SetUp() override {
    if (!std::filesystem::exists(cluster_ + "/cluster.json")) GTEST_SKIP() << "no cluster";
  }

  static std::string Path(const std::string& name) { return (temporary_->path() / name).string(); }

  // `vigil tx submit enroll-device` signed by the cluster's admins; the parsed JSON answer.
  static CommandResult Enroll(const std::string& device_hex, const std::string& extra = "") {
    return Vigil("tx submit enroll-device --device-key " + device_hex +
                 " --group presses --label line=3 --label site=plant-a --cluster " + cluster_ +
                 " --json " + extra);
  }

  static test_support::TemporaryDirectory* temporary_;
  static std::string cluster_;
};

test_support::TemporaryDirectory* TxLedgerTest::temporary_ = nullptr;
std::string TxLedgerTest::cluster_;

TEST_F(TxLedgerTest, EnrollmentCommitsAndItsProofVerifies) {
  const std::string device = FreshPublicKeyHex();
  CommandResult submitted = Enroll(device);
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
  nlohmann::json answer = FirstLineJson(submitted.output);
  ASSERT_TRUE(answer.is_object()) << submitted.output;
  EXPECT_EQ(answer["outcome"], "committed");
  EXPECT_EQ(answer["result"], "ok");
  EXPECT_EQ(answer["kind"], "enroll-device");
  EXPECT_GE(answer["height"].get<uint64_t>(), 1u);
  const std::string id = answer["transaction_id"];
  ASSERT_EQ(id.size(), 64u);

  CommandResult shown = Vigil("tx show " + id + " --cluster " + cluster_);
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_TRUE(Contains(shown.output, "enroll-device")) << shown.output;
  EXPECT_TRUE(Contains(shown.output, device)) << shown.output;
  EXPECT_TRUE(Contains(shown.output, "line=3, site=plant-a")) << shown.output;
  EXPECT_TRUE(Contains(shown.output, "verified: 1 of 1 validators signed block " +
                                         std::to_string(answer["height"].get<uint64_t>())))
      << shown.output;

  CommandResult shown_json = Vigil("tx show " + id + " --cluster " + cluster_ + " --json");
  ASSERT_EQ(shown_json.exit_code, 0) << shown_json.output;
  nlohmann::json proof = FirstLineJson(shown_json.output);
  EXPECT_EQ(proof["verified"], true);
  EXPECT_EQ(proof["height"], answer["height"]);
  EXPECT_EQ(proof["index"], answer["index"]);
  EXPECT_EQ(proof["body"]["device_key"], device);
  EXPECT_EQ(proof["body"]["group"], "presses");
  EXPECT_EQ(proof["sequence"], answer["sequence"]);
}

TEST_F(TxLedgerTest, EnrollingTwiceIsRefusedWithTheReasonAndExitStatusOne) {
  const std::string device = FreshPublicKeyHex();
  CommandResult first = Enroll(device);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const uint64_t first_sequence = FirstLineJson(first.output)["sequence"];

  // The default sequence is the next one, so only the rules can refuse it. The peer's mempool
  // runs the same rules, so it refuses at admission (a committed refusal needs a race).
  CommandResult second = Enroll(device);
  EXPECT_EQ(second.exit_code, 1) << second.output;
  nlohmann::json answer = FirstLineJson(second.output);
  ASSERT_TRUE(answer.is_object()) << second.output;
  EXPECT_EQ(answer["sequence"], first_sequence + 1);
  EXPECT_EQ(answer["result"], "already-exists") << second.output;
  EXPECT_TRUE(Contains(second.output, "vigil tx submit: ")) << second.output;
  EXPECT_TRUE(Contains(second.output, "already")) << second.output;

  // A sequence already used: refused, and the reason names the next one.
  CommandResult replay = Enroll(FreshPublicKeyHex(), "--sequence 1");
  EXPECT_EQ(replay.exit_code, 1) << replay.output;
  EXPECT_EQ(FirstLineJson(replay.output)["result"], "bad-sequence") << replay.output;
  EXPECT_TRUE(Contains(replay.output, "the next is " + std::to_string(first_sequence + 1)))
      << replay.output;
}

TEST_F(TxLedgerTest, AnotherGenesisMakesVerificationFail) {
  CommandResult submitted = Enroll(FreshPublicKeyHex());
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
  const std::string id = FirstLineJson(submitted.output)["transaction_id"];
  const uint64_t height = FirstLineJson(submitted.output)["height"];

  // The same chain with another validator key: a relayed proof must not convince us.
  nlohmann::json genesis = nlohmann::json::parse(std::ifstream(cluster_ + "/genesis.json"));
  genesis["validators"][0]["public_key"] = FreshPublicKeyHex();
  const std::string tampered = Path("tampered-genesis.json");
  std::ofstream(tampered) << genesis.dump(2);

  CommandResult shown =
      Vigil("tx show " + id + " --cluster " + cluster_ + " --genesis " + tampered);
  EXPECT_EQ(shown.exit_code, 1) << shown.output;
  EXPECT_TRUE(Contains(shown.output, "does NOT verify")) << shown.output;
  EXPECT_FALSE(Contains(shown.output, "verified:")) << shown.output;

  CommandResult block = Vigil("ledger block " + std::to_string(height) + " --cluster " + cluster_ +
                              " --genesis " + tampered);
  EXPECT_EQ(block.exit_code, 1) << block.output;
  EXPECT_TRUE(Contains(block.output, "does NOT verify")) << block.output;

  CommandResult tail =
      Vigil("ledger tail --count 1 --cluster " + cluster_ + " --genesis " + tampered);
  EXPECT_EQ(tail.exit_code, 1) << tail.output;
  EXPECT_TRUE(Contains(tail.output, "does NOT verify")) << tail.output;
}

TEST_F(TxLedgerTest, PublisherAndAdminDefaultsFromTheCluster) {
  const std::string publisher = FreshPublicKeyHex();
  CommandResult added = Vigil("tx submit add-publisher --publisher-key " + publisher +
                              " --name release-bot-2 --cluster " + cluster_);
  EXPECT_EQ(added.exit_code, 0) << added.output;
  EXPECT_TRUE(Contains(added.output, "committed at height")) << added.output;
  EXPECT_TRUE(Contains(added.output, ": ok")) << added.output;

  const std::string digest(64, 'a');
  CommandResult published =
      Vigil("tx submit publish-release --app press-controller --version 1.2.0 --bundle-digest " +
            digest + " --bundle-size 4096 --manifest-root " + digest + " --notes first --cluster " +
            cluster_ + " --json");
  ASSERT_EQ(published.exit_code, 0) << published.output;
  nlohmann::json answer = FirstLineJson(published.output);
  EXPECT_EQ(answer["kind"], "publish");
  CommandResult shown =
      Vigil("tx show " + answer["transaction_id"].get<std::string>() + " --cluster " + cluster_);
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_TRUE(Contains(shown.output, "press-controller")) << shown.output;
  EXPECT_TRUE(Contains(shown.output, "4096")) << shown.output;

  // Not newer than what was just published: committed-or-refused, never ok.
  CommandResult older =
      Vigil("tx submit publish-release --app press-controller --version 1.1.0 --bundle-digest " +
            digest + " --bundle-size 1 --manifest-root " + digest + " --cluster " + cluster_);
  EXPECT_EQ(older.exit_code, 1) << older.output;
  EXPECT_TRUE(Contains(older.output, "not-newer")) << older.output;
}

TEST_F(TxLedgerTest, ReportsAreSignedWithTheGivenKey) {
  // A device key from `vigil keygen`, enrolled by its directory, then reporting with it.
  CommandResult keygen = Vigil("keygen --out " + Path("press-07") + " --json");
  ASSERT_EQ(keygen.exit_code, 0) << keygen.output;
  const std::string device = FirstLineJson(keygen.output)["public_key"];
  CommandResult enrolled = Vigil("tx submit enroll-device --device-key " + Path("press-07") +
                                 " --group presses --cluster " + cluster_);
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled.output;

  CommandResult report = Vigil(
      "tx submit device-report --kind app-restarted --app press-controller "
      "--detail segfault --key " +
      Path("press-07") + " --cluster " + cluster_ + " --json");
  ASSERT_EQ(report.exit_code, 0) << report.output;
  nlohmann::json answer = FirstLineJson(report.output);
  EXPECT_EQ(answer["signer"], device);
  EXPECT_EQ(answer["sequence"], 1);
  EXPECT_EQ(answer["result"], "ok");

  // Admitted only (--no-wait): pending or, once the next block is made, committed.
  CommandResult restarted = Vigil(
      "tx submit device-report --kind app-restarted --app "
      "press-controller --no-wait --key " +
      Path("press-07/key.pem") + " --cluster " + cluster_ + " --json");
  ASSERT_EQ(restarted.exit_code, 0) << restarted.output;
  answer = FirstLineJson(restarted.output);
  EXPECT_EQ(answer["outcome"], "pending") << restarted.output;
  EXPECT_EQ(answer["sequence"], 2);
  CommandResult shown = Vigil("tx show " + answer["transaction_id"].get<std::string>() +
                              " --cluster " + cluster_ + " --json");
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_TRUE(FirstLineJson(shown.output)["status"] == "pending" ||
              FirstLineJson(shown.output)["verified"] == true)
      << shown.output;

  // The validator's own key signs its peer report.
  CommandResult peer_report = Vigil("tx submit peer-report --rules-version 1 --key " + cluster_ +
                                    "/peer-1/node --cluster " + cluster_);
  EXPECT_EQ(peer_report.exit_code, 0) << peer_report.output;
  EXPECT_TRUE(Contains(peer_report.output, ": ok\n")) << peer_report.output;
  // Not a device: the rules refuse it.
  CommandResult impostor = Vigil(
      "tx submit device-report --kind app-restarted --app "
      "press-controller --key " +
      cluster_ + "/peer-1/node --cluster " + cluster_);
  EXPECT_EQ(impostor.exit_code, 1) << impostor.output;
  EXPECT_TRUE(Contains(impostor.output, "unauthorized")) << impostor.output;
}

TEST_F(TxLedgerTest, LedgerStatusBlockAndTail) {
  CommandResult status = Vigil("ledger status --cluster " + cluster_);
  ASSERT_EQ(status.exit_code, 0) << status.output;
  EXPECT_TRUE(Contains(status.output, "peer-1")) << status.output;
  EXPECT_TRUE(Contains(status.output, "vigil-local")) << status.output;

  CommandResult one_peer = Vigil("ledger status --cluster " + cluster_ + " --json");
  ASSERT_EQ(one_peer.exit_code, 0) << one_peer.output;
  nlohmann::json peers = FirstLineJson(one_peer.output)["peers"];
  ASSERT_EQ(peers.size(), 1u) << one_peer.output;
  EXPECT_EQ(peers[0]["validators"], 1);
  EXPECT_EQ(peers[0]["is_validator"], true);
  const std::string address = peers[0]["address"];
  CommandResult single = Vigil("ledger status --cluster " + cluster_ + " --peer " + address);
  ASSERT_EQ(single.exit_code, 0) << single.output;
  EXPECT_TRUE(Contains(single.output, "block hash")) << single.output;
  EXPECT_TRUE(Contains(single.output, "(validator)")) << single.output;

  CommandResult block = Vigil("ledger block 1 --cluster " + cluster_);
  ASSERT_EQ(block.exit_code, 0) << block.output;
  EXPECT_TRUE(Contains(block.output, "block 1\n")) << block.output;
  EXPECT_TRUE(Contains(block.output, "verified: 1 of 1 validators signed block 1")) << block.output;
  CommandResult block_json = Vigil("ledger block 1 --cluster " + cluster_ + " --json");
  ASSERT_EQ(block_json.exit_code, 0) << block_json.output;
  EXPECT_EQ(FirstLineJson(block_json.output)["height"], 1);
  EXPECT_EQ(FirstLineJson(block_json.output)["verified"], true);
  CommandResult far = Vigil("ledger block 999999999 --cluster " + cluster_);
  EXPECT_EQ(far.exit_code, 1) << far.output;
  EXPECT_TRUE(Contains(far.output, "no block at height 999999999")) << far.output;

  // Two new blocks come within a second (an empty block every 200 ms).
  CommandResult tail = Vigil("ledger tail --count 2 --cluster " + cluster_ + " --json");
  ASSERT_EQ(tail.exit_code, 0) << tail.output;
  nlohmann::json first = FirstLineJson(tail.output);
  nlohmann::json second =
      nlohmann::json::parse(tail.output.substr(tail.output.find('\n') + 1), nullptr, false);
  ASSERT_TRUE(first.is_object() && second.is_object()) << tail.output;
  EXPECT_EQ(second["height"].get<uint64_t>(), first["height"].get<uint64_t>() + 1);
  EXPECT_EQ(first["verified"], true);
  CommandResult tail_from = Vigil("ledger tail --from 1 --count 3 --cluster " + cluster_);
  ASSERT_EQ(tail_from.exit_code, 0) << tail_from.output;
  EXPECT_EQ(std::ranges::count(tail_from.output, '\n'), 4) << tail_from.output;  // header + 3
}

TEST_F(TxLedgerTest, BadInputsAreClearErrors) {
  struct Case {
    std::string arguments;
    std::string says;
  };
  const std::string target = " --cluster " + cluster_;
  const Case cases[] = {
      {"tx submit enroll-device --group presses --device-key abc123" + target,
       "--device-key 'abc123': is neither 64 hex characters"},
      {"tx submit enroll-device --group presses --device-key " + std::string(64, 'z') + target,
       "is neither 64 hex characters"},
      {"tx submit launch-rocket --key x" + target, "not expected: launch-rocket"},
      {"tx submit --key x" + target, "which kind of transaction? one of enroll-device"},
      {"tx submit enroll-device --group Presses --device-key " + FreshPublicKeyHex() + target,
       "malformed, not sent"},
      {"tx submit device-report --kind exploded --app a" + target, "--kind 'exploded'"},
      {"tx submit device-report --kind installed --app a --version 1.0.0" + target, "who signs?"},
      {"tx submit enroll-device --group g --device-key " + FreshPublicKeyHex() +
           " --key /nonexistent/key.pem" + target,
       "--key '/nonexistent/key.pem'"},
      {"tx show nothex" + target, "ID 'nothex'"},
      {"tx show " + std::string(64, '0') + target, "neither committed nor pending"},
      {"ledger block 1 --peer 127.0.0.1:1 --as " + cluster_ + "/admin-1", "--genesis FILE"},
      {"ledger status --peer nowhere", "--peer must be host:port"},
  };
  for (const Case& c : cases) {
    CommandResult result = Vigil(c.arguments);
    EXPECT_NE(result.exit_code, 0) << c.arguments << "\n" << result.output;
    EXPECT_TRUE(Contains(result.output, c.says)) << c.arguments << "\n" << result.output;
  }
}

}  // namespace
}  // namespace vigil
