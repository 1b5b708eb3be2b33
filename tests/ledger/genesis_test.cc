#include "ledger/genesis.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/file.h"
#include "test_chain.h"

namespace vigil::ledger {
namespace {

using Json = nlohmann::json;

Json ValidJson() {
  testing::Keys keys;
  return Json::parse(GenesisToJson(testing::TestGenesis(keys)));
}

std::string ErrorFor(const Json& json) {
  auto genesis = ParseGenesis(json.dump());
  EXPECT_FALSE(genesis.has_value()) << json.dump(2);
  return genesis ? "" : genesis.error().message();
}

TEST(GenesisTest, JsonRoundTripsAndHashesCanonically) {
  testing::Keys keys;
  Genesis genesis = testing::TestGenesis(keys);
  Genesis parsed = ParseGenesis(GenesisToJson(genesis)).value();
  EXPECT_EQ(parsed, genesis);
  // Listing order in the file does not matter.
  Json reordered = Json::parse(GenesisToJson(genesis));
  std::reverse(reordered["admins"]["keys"].begin(), reordered["admins"]["keys"].end());
  EXPECT_EQ(GenesisHash(ParseGenesis(reordered.dump()).value()), GenesisHash(genesis));
  // Any change does.
  Json changed = Json::parse(GenesisToJson(genesis));
  changed["admins"]["threshold"] = 3;
  EXPECT_NE(GenesisHash(ParseGenesis(changed.dump()).value()), GenesisHash(genesis));
  EXPECT_EQ(GenesisState(genesis), GenesisState(parsed));
}

TEST(GenesisTest, ParsesUtcTimes) {
  EXPECT_EQ(ParseUtcTimeMs("1970-01-01T00:00:00Z").value(), 0);
  EXPECT_EQ(ParseUtcTimeMs("2026-11-22T03:10:00.250Z").value(), 1795317000250);
  EXPECT_EQ(ParseUtcTimeMs("1969-12-31T23:59:59Z").value(), -1000);
  EXPECT_EQ(FormatUtcTimeMs(1795317000250), "2026-11-22T03:10:00.250Z");
  for (std::string_view bad :
       {"2026-11-22", "2026-11-22T03:10:00", "2026-11-22T03:10:00+01:00", "2026-02-30T00:00:00Z",
        "2026-11-22T24:00:00Z", "2026-11-22T03:10:00.25Z", "2026-11-22 03:10:00Z"}) {
    EXPECT_FALSE(ParseUtcTimeMs(bad).has_value()) << bad;
  }
}

TEST(GenesisTest, RefusesMalformedFiles) {
  EXPECT_NE(ParseGenesis("{").error().message().find("not valid JSON"), std::string::npos);
  EXPECT_NE(ParseGenesis("[]").error().message().find("JSON object"), std::string::npos);

  Json json = ValidJson();
  json["chain_idd"] = "typo";
  EXPECT_NE(ErrorFor(json).find("unknown field \"chain_idd\""), std::string::npos);
  json = ValidJson();
  json.erase("rules_version");
  EXPECT_NE(ErrorFor(json).find("lacks the field \"rules_version\""), std::string::npos);
  json = ValidJson();
  json["chain_id"] = "";
  EXPECT_NE(ErrorFor(json).find("chain_id"), std::string::npos);
  json = ValidJson();
  json["chain_id"] = 5;
  EXPECT_NE(ErrorFor(json).find("must be a string"), std::string::npos);
  json = ValidJson();
  json["genesis_time"] = "yesterday";
  EXPECT_NE(ErrorFor(json).find("genesis_time"), std::string::npos);
}

TEST(GenesisTest, RefusesBadValidators) {
  Json json = ValidJson();
  json["validators"] = Json::array();
  EXPECT_NE(ErrorFor(json).find("at least one validator"), std::string::npos);
  json = ValidJson();
  json["validators"][0]["public_key"] = "abcd";
  EXPECT_NE(ErrorFor(json).find("validators[0].public_key"), std::string::npos);
  json = ValidJson();
  json["validators"][0]["power"] = 0;
  EXPECT_NE(ErrorFor(json).find("zero voting power"), std::string::npos);
  json = ValidJson();
  json["validators"][0]["power"] = -1;
  EXPECT_NE(ErrorFor(json).find("power"), std::string::npos);
  json = ValidJson();
  json["validators"][0]["address"] = "no-port";
  EXPECT_NE(ErrorFor(json).find("host:port"), std::string::npos);
  json = ValidJson();
  json["validators"][0]["address"] = "host:70000";
  EXPECT_NE(ErrorFor(json).find("host:port"), std::string::npos);
  json = ValidJson();
  json["validators"].push_back(json["validators"][0]);
  EXPECT_NE(ErrorFor(json).find("twice"), std::string::npos);
  json = ValidJson();
  Json second = json["validators"][0];
  second["name"] = "peer-2";
  second["public_key"] = json["publishers"][0]["public_key"];
  json["validators"].push_back(second);
  EXPECT_NE(ErrorFor(json).find("address 127.0.0.1:7100 is listed twice"), std::string::npos);
  second["address"] = "127.0.0.1:7101";
  json["validators"][1] = second;
  EXPECT_TRUE(ParseGenesis(json.dump()).has_value());
  json = ValidJson();
  json["validators"][0]["name"] = "peer one";
  EXPECT_NE(ErrorFor(json).find("validators"), std::string::npos);
}

TEST(GenesisTest, RefusesBadAdminsAndPublishers) {
  Json json = ValidJson();
  json["admins"]["threshold"] = 4;
  EXPECT_NE(ErrorFor(json).find("threshold 4 must be from 1 to the number of admin keys (3)"),
            std::string::npos);
  json["admins"]["threshold"] = 0;
  EXPECT_NE(ErrorFor(json).find("threshold 0"), std::string::npos);
  json = ValidJson();
  json["admins"]["keys"] = Json::array();
  json["admins"]["threshold"] = 1;
  EXPECT_NE(ErrorFor(json).find("at least one admin"), std::string::npos);
  json = ValidJson();
  json["admins"]["keys"][1]["public_key"] = json["admins"]["keys"][0]["public_key"];
  EXPECT_NE(ErrorFor(json).find("twice"), std::string::npos);
  json = ValidJson();
  json["admins"]["keys"][1]["name"] = json["admins"]["keys"][0]["name"];
  EXPECT_NE(ErrorFor(json).find("name"), std::string::npos);
  json = ValidJson();
  json["admins"]["quorum"] = 2;
  EXPECT_NE(ErrorFor(json).find("unknown field \"quorum\""), std::string::npos);
  json = ValidJson();
  json["publishers"][0]["public_key"] = std::string(64, 'z');
  EXPECT_NE(ErrorFor(json).find("publishers[0].public_key"), std::string::npos);
}

TEST(GenesisTest, RefusesUnknownRulesAndBadCertificates) {
  Json json = ValidJson();
  json["rules_version"] = 99;
  EXPECT_NE(ErrorFor(json).find("rules_version 99 is not implemented"), std::string::npos);
  json = ValidJson();
  json["ca_certificate"] = "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n";
  EXPECT_NE(ErrorFor(json).find("ca_certificate"), std::string::npos);
}

TEST(GenesisTest, ReadsAFileAndNamesItInErrors) {
  testing::Keys keys;
  Genesis genesis = testing::TestGenesis(keys);
  std::filesystem::path directory =
      std::filesystem::temp_directory_path() / ("vigil-genesis-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(directory);
  std::filesystem::path path = directory / "genesis.json";
  std::string json = GenesisToJson(genesis);
  ASSERT_TRUE(WriteFileAtomically(path, AsBytes(json), 0644).has_value());
  EXPECT_EQ(ReadGenesisFile(path).value(), genesis);
  auto missing = ReadGenesisFile(directory / "missing.json");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find("missing.json"), std::string::npos);
  ASSERT_TRUE(WriteFileAtomically(path, AsBytes("{\"chain_id\": 1}"), 0644).has_value());
  auto invalid = ReadGenesisFile(path);
  ASSERT_FALSE(invalid.has_value());
  EXPECT_NE(invalid.error().message().find("genesis.json"), std::string::npos);
  std::filesystem::remove_all(directory);
}

}  // namespace
}  // namespace vigil::ledger
