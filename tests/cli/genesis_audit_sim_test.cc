// End-to-end tests of `vigil genesis create`, `vigil audit` and `vigil sim`: the real binary,
// real key and CA directories, real stores written the way a peer writes them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "audit/stored_chain.h"
#include "common/file.h"
#include "ledger/genesis.h"
#include "test_support/run_vigil.h"
#include "test_support/temporary_directory.h"

namespace vigil {
namespace {

using test_support::CommandResult;
using test_support::RunVigil;

size_t Lines(const std::string& text) { return std::ranges::count(text, '\n'); }

// The JSON object a command prints on its first line (an error line may follow on stderr).
nlohmann::json FirstLineJson(const std::string& output) {
  return nlohmann::json::parse(output.substr(0, output.find('\n')));
}

class GenesisAuditSimTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const { return (directory_ / name).string(); }

  // `vigil keygen --out DIR`; returns the public key in hex.
  std::string Keygen(const std::string& name) {
    CommandResult result = RunVigil("keygen --json --out " + Path(name));
    EXPECT_EQ(result.exit_code, 0) << result.output;
    return nlohmann::json::parse(result.output)["public_key"];
  }

  test_support::TemporaryDirectory temporary_{"vigil-cli"};
  const std::filesystem::path& directory_ = temporary_.path();
};

TEST_F(GenesisAuditSimTest, HelpListsTheCommands) {
  CommandResult help = RunVigil("--help");
  ASSERT_EQ(help.exit_code, 0) << help.output;
  for (const char* command : {"genesis", "audit", "sim"}) {
    EXPECT_NE(help.output.find(command), std::string::npos) << command;
  }
  for (const char* command : {"genesis create --help", "audit --help", "sim --help"}) {
    EXPECT_EQ(RunVigil(command).exit_code, 0) << command;
  }
  EXPECT_EQ(RunVigil("sim --help").output.find("sabotage"), std::string::npos);
}

// --- vigil genesis create ---

class GenesisCreateTest : public GenesisAuditSimTest {
 protected:
  void SetUp() override {
    ASSERT_EQ(RunVigil("pki init --out " + Path("ca")).exit_code, 0);
    peer_1_ = Keygen("peer-1");
    peer_2_ = Keygen("peer-2");
    alice_ = Keygen("alice");
    bob_ = Keygen("bob");
    bot_ = Keygen("bot");
  }
  // A valid command line; a test replaces one flag's value to break it.
  std::vector<std::pair<std::string, std::string>> Flags() const {
    return {{"--chain-id", "plant-a"},
            {"--validator", "peer-1=" + Path("peer-1") + "@10.0.0.1:7100"},
            {"--validator", "peer-2=" + Path("peer-2/key.pub") + "@10.0.0.2:7100,power=2"},
            {"--admin", "alice=" + alice_},
            {"--admin", "bob=" + Path("bob")},
            {"--admin-threshold", "2"},
            {"--publisher", "release-bot=" + bot_},
            {"--genesis-time", "2026-11-22T00:00:00Z"},
            {"--ca", Path("ca")},
            {"--out", Path("genesis.json")}};
  }
  static CommandResult Create(const std::vector<std::pair<std::string, std::string>>& flags,
                              const std::string& extra = "") {
    std::string arguments = "genesis create";
    for (const auto& [flag, value] : flags) {
      if (!value.empty()) arguments += " " + flag + " '" + value + "'";
    }
    return RunVigil(arguments + " " + extra);
  }
  static std::vector<std::pair<std::string, std::string>> With(
      std::vector<std::pair<std::string, std::string>> flags, const std::string& flag,
      const std::string& value) {
    for (auto& [name, current] : flags) {
      if (name == flag) {
        current = value;
        break;
      }
    }
    return flags;
  }

  std::string peer_1_, peer_2_, alice_, bob_, bot_;
};

TEST_F(GenesisCreateTest, WritesAGenesisThatParsesToThePrintedHash) {
  CommandResult result = Create(Flags(), "--json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  nlohmann::json printed = nlohmann::json::parse(result.output);
  auto genesis = ledger::ReadGenesisFile(Path("genesis.json"));
  ASSERT_TRUE(genesis.has_value()) << genesis.error().ToString();
  EXPECT_EQ(printed["genesis_hash"], ToHex(ledger::GenesisHash(*genesis)));
  EXPECT_EQ(printed["chain_id"], "plant-a");
  EXPECT_EQ(printed["file"], Path("genesis.json"));
  EXPECT_EQ(printed["total_voting_power"], 3);
  EXPECT_EQ(genesis->genesis_time_ms, ledger::ParseUtcTimeMs("2026-11-22T00:00:00Z").value());
  EXPECT_EQ(genesis->admin_threshold, 2u);
  // Keys given as a keygen directory, a key.pub file and hex all resolve to the same keys.
  std::vector<std::string> validator_keys, admin_keys;
  for (const auto& validator : genesis->validators) {
    validator_keys.push_back(ToHex(validator.public_key));
    EXPECT_EQ(validator.voting_power, validator.name == "peer-2" ? 2u : 1u);
  }
  for (const auto& admin : genesis->admins) admin_keys.push_back(ToHex(admin.public_key));
  EXPECT_THAT(validator_keys, ::testing::UnorderedElementsAre(peer_1_, peer_2_));
  EXPECT_THAT(admin_keys, ::testing::UnorderedElementsAre(alice_, bob_));
  ASSERT_EQ(genesis->publishers.size(), 1u);
  EXPECT_EQ(ToHex(genesis->publishers[0].public_key), bot_);
  auto ca = ReadFile(Path("ca/ca.pem"), 1 << 16).value();
  EXPECT_EQ(genesis->ca_certificate_pem, std::string(ca.begin(), ca.end()));
}

TEST_F(GenesisCreateTest, TextOutputNamesTheChainTheHashAndTheFile) {
  CommandResult result = Create(Flags());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  auto genesis = ledger::ReadGenesisFile(Path("genesis.json")).value();
  EXPECT_NE(result.output.find("chain id      plant-a"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("genesis hash  " + ToHex(ledger::GenesisHash(genesis))),
            std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("file          " + Path("genesis.json")), std::string::npos);
}

TEST_F(GenesisCreateTest, RefusesToOverwriteUnlessForced) {
  ASSERT_EQ(Create(Flags()).exit_code, 0);
  auto first = ReadFile(Path("genesis.json"), 1 << 20).value();
  CommandResult again = Create(With(Flags(), "--chain-id", "plant-b"));
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.output.find("already exists"), std::string::npos) << again.output;
  EXPECT_EQ(ReadFile(Path("genesis.json"), 1 << 20).value(), first);
  CommandResult forced = Create(With(Flags(), "--chain-id", "plant-b"), "--force");
  EXPECT_EQ(forced.exit_code, 0) << forced.output;
  EXPECT_EQ(ledger::ReadGenesisFile(Path("genesis.json")).value().chain_id, "plant-b");
}

TEST_F(GenesisCreateTest, EveryBadInputIsOneLineNamingItsFlag) {
  struct Case {
    std::string flag;
    std::string value;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"--chain-id", std::string(65, 'a'), "--chain-id: "},
      {"--validator", "peer-1", "--validator \"peer-1\": expected NAME=PUBKEY@HOST:PORT"},
      {"--validator", "peer-1=" + peer_1_ + "@10.0.0.1:0", "--validator: "},
      {"--validator", "peer-1=" + peer_1_ + "@10.0.0.1:7100,power=0",
       "--validator \"peer-1=" + peer_1_ + "@10.0.0.1:7100,power=0\": power must be"},
      {"--validator", "peer-1=" + Path("nowhere") + "@10.0.0.1:7100",
       "--validator \"peer-1=" + Path("nowhere") +
           "@10.0.0.1:7100\": the key is neither 64 hex characters nor a key.pub file"},
      {"--validator", "peer 1=" + peer_1_ + "@10.0.0.1:7100", "--validator: "},
      {"--admin", "alice", "--admin \"alice\": expected NAME=PUBKEY"},
      {"--admin", "alice=" + Path("bob"), "--admin: admins.keys lists key " + bob_ + " twice"},
      {"--admin-threshold", "3", "--admin-threshold: admins.threshold 3 must be from 1"},
      {"--admin-threshold", "", "--admin-threshold is required with 2 admins"},
      {"--publisher", "bot=xyz", "--publisher \"bot=xyz\""},
      {"--genesis-time", "yesterday", "--genesis-time \"yesterday\""},
      {"--ca", Path("peer-1"), "--ca \""},
      {"--rules-version", "99", "--rules-version: rules_version 99 is not implemented"},
  };
  for (const Case& test : cases) {
    std::vector<std::pair<std::string, std::string>> flags = With(Flags(), test.flag, test.value);
    if (test.flag == "--rules-version") flags.push_back({test.flag, test.value});
    CommandResult result = Create(flags);
    EXPECT_EQ(result.exit_code, 1) << test.flag << " " << test.value << ": " << result.output;
    EXPECT_NE(result.output.find("vigil genesis create: " + test.says), std::string::npos)
        << test.says << "\n"
        << result.output;
    EXPECT_EQ(Lines(result.output), 1u) << result.output;
    EXPECT_FALSE(std::filesystem::exists(Path("genesis.json"))) << test.flag;
  }
}

// --- vigil audit ---

class AuditCommandTest : public GenesisAuditSimTest {
 protected:
  void SetUp() override {
    stored_ = std::make_unique<audit::testing::StoredChain>(directory_);
    stored_->CommitMixedBlocks(12);
    stored_->Close();
  }
  std::unique_ptr<audit::testing::StoredChain> stored_;
};

TEST_F(AuditCommandTest, ACleanChainIsOkAndExitsZero) {
  CommandResult text = RunVigil("audit --data " + directory_.string());
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("blocks        12 of 12 verified"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("result        OK"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find(ToHex(stored_->chain().state().tip().state_hash)), std::string::npos);

  CommandResult json = RunVigil("audit --json --data " + directory_.string());
  ASSERT_EQ(json.exit_code, 0) << json.output;
  nlohmann::json report = nlohmann::json::parse(json.output);
  EXPECT_EQ(report["ok"], true);
  EXPECT_EQ(report["verified_height"], 12);
  EXPECT_EQ(report["certificates_verified"], 12);
  EXPECT_EQ(report["state_hash"], ToHex(stored_->chain().state().tip().state_hash));
  EXPECT_TRUE(report["findings"].empty());
}

TEST_F(AuditCommandTest, ATamperedStoreExitsOneNamingTheHeight) {
  audit::testing::RunSql(stored_->store_path(),
                         "UPDATE blocks SET state_hash = ?1 WHERE height = 7", Bytes(32, 0xee));
  CommandResult text = RunVigil("audit --data " + directory_.string());
  EXPECT_EQ(text.exit_code, 1) << text.output;
  EXPECT_NE(text.output.find("  height 7     state hash: the store says eeeeeeeeeeeeeeee..."),
            std::string::npos)
      << text.output;
  EXPECT_NE(text.output.find("result        FAILED"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("vigil audit: the store in " + directory_.string() +
                             " does not verify: 1 finding(s), the first at height 7"),
            std::string::npos)
      << text.output;

  CommandResult json = RunVigil("audit --json --data " + directory_.string());
  EXPECT_EQ(json.exit_code, 1);
  nlohmann::json report = FirstLineJson(json.output);
  EXPECT_EQ(report["ok"], false);
  ASSERT_EQ(report["findings"].size(), 1u);
  EXPECT_EQ(report["findings"][0]["height"], 7);
  EXPECT_EQ(report["findings"][0]["subject"], "state hash");
}

TEST_F(AuditCommandTest, AGenesisFileOfAnotherChainIsRefused) {
  ledger::Genesis genesis = stored_->chain().genesis();
  ASSERT_TRUE(WriteFileAtomically(Path("same.json"), AsBytes(ledger::GenesisToJson(genesis)), 0644)
                  .has_value());
  genesis.chain_id = "plant-b";
  ASSERT_TRUE(WriteFileAtomically(Path("other.json"), AsBytes(ledger::GenesisToJson(genesis)), 0644)
                  .has_value());
  EXPECT_EQ(
      RunVigil("audit --data " + directory_.string() + " --genesis " + Path("same.json")).exit_code,
      0);
  CommandResult other =
      RunVigil("audit --data " + directory_.string() + " --genesis " + Path("other.json"));
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.output.find("vigil audit: --genesis " + Path("other.json") +
                              ": the given genesis hashes to"),
            std::string::npos)
      << other.output;
  EXPECT_NE(other.output.find("belongs to another chain"), std::string::npos) << other.output;
  EXPECT_EQ(Lines(other.output), 1u) << other.output;
}

TEST_F(AuditCommandTest, ADirectoryWithoutAStoreSaysWhatToGive) {
  CommandResult result = RunVigil("audit --data " + Path("nowhere"));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.output.find("holds no ledger.sqlite3"), std::string::npos) << result.output;
}

// --- vigil sim ---

TEST_F(GenesisAuditSimTest, SimRunsOneSeedVerbosely) {
  CommandResult result = RunVigil("sim --seed 42");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("vigil sim: seeds 42..42, 4 nodes, faults mixed"), std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("ok   seed=42 "), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("vigil sim: 1 seeds, 0 failed"), std::string::npos);
}

TEST_F(GenesisAuditSimTest, SimJsonIsOneObject) {
  CommandResult result = RunVigil("sim --seeds 4 --first-seed 7 --jobs 2 --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  nlohmann::json summary = nlohmann::json::parse(result.output);
  EXPECT_EQ(summary["ok"], true);
  EXPECT_EQ(summary["seeds"], 4);
  EXPECT_EQ(summary["first_seed"], 7);
  EXPECT_EQ(summary["failed"], 0);
  EXPECT_TRUE(summary["results"].empty()) << "only failures without --verbose";
}

// The checkers' self-test makes runs fail; each failure must name the command that replays it,
// and that command must reproduce the same failure.
TEST_F(GenesisAuditSimTest, SimPrintsEachFailureWithTheCommandThatReplaysIt) {
  CommandResult result = RunVigil("sim --seeds 40 --jobs 2 --sabotage-forget-state --json");
  EXPECT_EQ(result.exit_code, 1);
  nlohmann::json summary = FirstLineJson(result.output);
  ASSERT_GT(summary["failed"], 0);
  ASSERT_EQ(summary["results"].size(), summary["failed"]);
  const nlohmann::json& failure = summary["results"][0];
  const std::string replay = failure["replay"];
  const std::string seed = std::to_string(failure["seed"].get<uint64_t>());
  ASSERT_EQ(replay.rfind("vigil sim --seed " + seed + " ", 0), 0u) << replay;
  ASSERT_TRUE(replay.ends_with(" --trace")) << replay;

  // Replayed without --trace (to keep the output small): the same failure.
  const std::string arguments =
      replay.substr(std::string("vigil ").size(),
                    replay.size() - std::string("vigil ").size() - std::string(" --trace").size());
  CommandResult replayed = RunVigil(arguments);
  EXPECT_EQ(replayed.exit_code, 1) << replayed.output;
  EXPECT_NE(replayed.output.find("FAIL seed=" + seed + " "), std::string::npos) << replayed.output;
  EXPECT_NE(replayed.output.find(failure["failure"].get<std::string>()), std::string::npos)
      << replayed.output;
  EXPECT_NE(replayed.output.find("replay: " + replay), std::string::npos) << replayed.output;
}

// Rules activations through `vigil sim` (docs/testing.md#rules-activations): every seed passes,
// versions take effect and the halting node halts; the late-activation sabotage is caught and
// its replay command (with the rules flags) reproduces the failure.
TEST_F(GenesisAuditSimTest, SimRunsRulesActivationsAndReplaysTheirFailures) {
  CommandResult passed = RunVigil("sim --seeds 10 --jobs 2 --rules-halting-node --json");
  ASSERT_EQ(passed.exit_code, 0) << passed.output;
  nlohmann::json summary = nlohmann::json::parse(passed.output);
  EXPECT_EQ(summary["failed"], 0);
  EXPECT_GE(summary["rules_activations"].get<uint64_t>(), 10u);
  EXPECT_EQ(summary["rules_halts"], 10);

  CommandResult late = RunVigil("sim --seeds 3 --sabotage-late-activation --json");
  EXPECT_EQ(late.exit_code, 1) << late.output;
  nlohmann::json failures = FirstLineJson(late.output);
  ASSERT_EQ(failures["failed"], 3);
  const nlohmann::json& failure = failures["results"][0];
  EXPECT_NE(failure["failure"].get<std::string>().find("rules activation"), std::string::npos)
      << failure;
  std::string replay = failure["replay"];
  ASSERT_TRUE(replay.ends_with(" --trace")) << replay;
  CommandResult replayed = RunVigil(replay.substr(std::string("vigil ").size(),
                                                  replay.size() - std::string("vigil ").size() -
                                                      std::string(" --trace").size()));
  EXPECT_EQ(replayed.exit_code, 1) << replayed.output;
  EXPECT_NE(replayed.output.find(failure["failure"].get<std::string>()), std::string::npos)
      << replayed.output;
}

TEST_F(GenesisAuditSimTest, SimRefusesBadArgumentsNamingTheFlag) {
  CommandResult byzantine = RunVigil("sim --nodes 4 --byzantine 2");
  EXPECT_EQ(byzantine.exit_code, 1);
  EXPECT_NE(byzantine.output.find("vigil sim: --byzantine may be at most f"), std::string::npos)
      << byzantine.output;
  CommandResult faults = RunVigil("sim --faults lightning");
  EXPECT_EQ(faults.exit_code, 1);
  EXPECT_NE(faults.output.find("vigil sim: --faults: unknown fault 'lightning'"), std::string::npos)
      << faults.output;
  EXPECT_NE(RunVigil("sim --seed 1 --seeds 5").exit_code, 0);
}

}  // namespace
}  // namespace vigil
