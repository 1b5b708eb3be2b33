// `vigil bench security --json` end to end: the whole plant (4 peer processes, a gateway, a
// device agent process) and the twelve cases of seed 001's Table 6.4, extended. Every row is
// parsed and must be observed as expected: the genuine release accepted, every attack refused,
// each with where it was stopped.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "test_support/run_vigil.h"
#include "test_support/temporary_directory.h"

namespace vigil {
namespace {

TEST(SecurityBenchTest, GenuineReleaseAcceptedAndEveryAttackRefused) {
  test_support::TemporaryDirectory directory("vigil-bench-security-test");
  test_support::CommandResult result = test_support::RunVigil(
      "bench security --json --dir " + (directory.path() / "bench").string(), 120);
  // The JSON object is the one line of stdout that starts with '{'.
  std::istringstream lines(result.output);
  nlohmann::json report;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.front() == '{') report = nlohmann::json::parse(line, nullptr, false);
  }
  ASSERT_TRUE(report.is_object()) << result.output;
  ASSERT_TRUE(report.contains("cases")) << result.output;
  const auto& cases = report["cases"];
  ASSERT_EQ(cases.size(), 13u) << result.output;
  std::set<std::string> names;
  size_t accepted = 0;
  for (const auto& row : cases) {
    std::string name = row.at("case").get<std::string>();
    names.insert(name);
    EXPECT_EQ(row.at("observed"), row.at("expected")) << name << ": " << row.at("where");
    EXPECT_FALSE(row.at("where").get<std::string>().empty()) << name;
    EXPECT_GE(row.at("ms").get<double>(), 0.0) << name;
    if (row.at("expected") == "accepted") ++accepted;
  }
  EXPECT_EQ(names.size(), 13u);
  EXPECT_TRUE(names.contains("gateway naming another group for a device"));
  EXPECT_EQ(accepted, 1u);  // only the genuine bundle
  EXPECT_EQ(cases[0].at("case"), "genuine bundle");
  EXPECT_EQ(cases[0].at("observed"), "accepted");
  EXPECT_EQ(report.at("all_as_expected"), true);
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

}  // namespace
}  // namespace vigil
