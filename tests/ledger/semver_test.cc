#include "ledger/semver.h"

#include <gtest/gtest.h>

namespace vigil::ledger {
namespace {

SemanticVersion V(std::string_view text) { return SemanticVersion::Parse(text).value(); }

TEST(SemanticVersionTest, ParsesCoreAndPreReleaseAndBuild) {
  SemanticVersion version = V("2.4.10-rc.1+sha.5114f85");
  EXPECT_EQ(version.major(), 2u);
  EXPECT_EQ(version.minor(), 4u);
  EXPECT_EQ(version.patch(), 10u);
  EXPECT_EQ(version.pre_release(), (std::vector<std::string>{"rc", "1"}));
  EXPECT_EQ(version.build(), "sha.5114f85");
  EXPECT_EQ(version.text(), "2.4.10-rc.1+sha.5114f85");
  EXPECT_EQ(V("18446744073709551615.0.0").major(), UINT64_MAX);
}

TEST(SemanticVersionTest, RefusesWhatSemVerForbids) {
  for (std::string_view text :
       {"", "1", "1.2", "1.2.3.4", "v1.2.3", "01.2.3", "1.02.3", "1.2.03", "1.2.3-", "1.2.3-01",
        "1.2.3-rc..1", "1.2.3+", "1.2.3+a..b", "1.2.3-rc_1", "1.2.3 ", "-1.2.3", "1.2.x",
        "18446744073709551616.0.0", "1.2.3-é"}) {
    EXPECT_FALSE(SemanticVersion::Parse(text).has_value()) << text;
  }
  // Build metadata may have leading zeros (§10); pre-release alphanumerics may too.
  EXPECT_TRUE(SemanticVersion::Parse("1.2.3+001").has_value());
  EXPECT_TRUE(SemanticVersion::Parse("1.2.3-0a").has_value());
  EXPECT_FALSE(SemanticVersion::Parse(std::string(60, '1') + ".0.0").has_value());
  auto error = SemanticVersion::Parse("2.4").error();
  EXPECT_NE(error.message().find("three numbers"), std::string::npos) << error.message();
}

// The precedence example chain of SemVer 2.0.0 §11.4, each strictly newer than the last.
TEST(SemanticVersionTest, PrecedenceFollowsTheSpecificationExample) {
  std::vector<std::string_view> ordered = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                                           "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                                           "1.0.0-rc.1",  "1.0.0",         "1.0.1",
                                           "1.1.0",       "2.0.0",         "10.0.0"};
  for (size_t i = 0; i < ordered.size(); ++i) {
    for (size_t j = 0; j < ordered.size(); ++j) {
      EXPECT_EQ(V(ordered[i]).ComparePrecedence(V(ordered[j])), i <=> j)
          << ordered[i] << " vs " << ordered[j];
    }
  }
}

TEST(SemanticVersionTest, BuildMetadataDoesNotChangePrecedence) {
  EXPECT_EQ(V("1.0.0+a").ComparePrecedence(V("1.0.0+b")), std::strong_ordering::equal);
  EXPECT_FALSE(V("1.0.0+b").IsNewerThan(V("1.0.0")));
  // Numeric identifiers compare numerically, and before alphanumeric ones.
  EXPECT_TRUE(V("1.0.0-10").IsNewerThan(V("1.0.0-9")));
  EXPECT_TRUE(V("1.0.0-a").IsNewerThan(V("1.0.0-999")));
  EXPECT_TRUE(V("1.0.0-B").IsNewerThan(V("1.0.0-A")));  // ASCII order
  EXPECT_TRUE(V("1.0.0-a").IsNewerThan(V("1.0.0-B")));  // lower case sorts after upper
}

}  // namespace
}  // namespace vigil::ledger
