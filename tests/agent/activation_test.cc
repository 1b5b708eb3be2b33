// Coordinated activation on the device (src/agent/activation.h): the pure decision, the
// persisted record, and the tracker's behaviour on activations and headers — with a real
// directory, and hooks that record what the agent would do.
#include "agent/activation.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <vector>

#include "common/file.h"
#include "test_support/temporary_directory.h"

namespace vigil::agent {
namespace {

delivery::VerifiedActivation Activation(
    std::string version, uint64_t recorded, uint64_t at,
    ledger::MissingVersionPolicy policy = ledger::MissingVersionPolicy::kHalt) {
  return delivery::VerifiedActivation{.group = "line-1",
                                      .app = "press",
                                      .version = std::move(version),
                                      .recorded_height = recorded,
                                      .index = 0,
                                      .effective_height = at,
                                      .effective_time_ms = 0,
                                      .on_missing = policy};
}

TEST(ActivationDecisionTest, EveryCase) {
  auto halt = Activation("2.0.0", 10, 15);
  EXPECT_EQ(DecideActivation(halt, 14, 0, "1.0.0", "2.0.0"), ActivationStep::kWait);
  EXPECT_EQ(DecideActivation(halt, 15, 0, "1.0.0", "2.0.0"), ActivationStep::kActivate);
  EXPECT_EQ(DecideActivation(halt, 16, 0, "2.0.0", ""), ActivationStep::kDone);
  EXPECT_EQ(DecideActivation(halt, 15, 0, "1.0.0", ""), ActivationStep::kHaltMissing);
  auto keep = Activation("2.0.0", 10, 15, ledger::MissingVersionPolicy::kKeep);
  EXPECT_EQ(DecideActivation(keep, 15, 0, "1.0.0", "1.5.0"), ActivationStep::kKeepMissing);
  // By time: the first header whose time reaches it.
  auto timed = Activation("2.0.0", 10, 0);
  timed.effective_time_ms = 5'000;
  EXPECT_EQ(DecideActivation(timed, 99, 4'999, "1.0.0", "2.0.0"), ActivationStep::kWait);
  EXPECT_EQ(DecideActivation(timed, 20, 5'000, "1.0.0", "2.0.0"), ActivationStep::kActivate);
  // A downgrade is just another version.
  EXPECT_EQ(DecideActivation(Activation("1.0.0", 20, 21), 21, 0, "2.0.0", "1.0.0"),
            ActivationStep::kActivate);
}

// The halt case of tests/cli/activation_flow_test.cc: 1.0.0 runs, 3.0.0 is staged, an
// activation of 2.0.0 arrives; the device stages 2.0.0 and queues the switch, then the gateway
// offers 3.0.0 (the newest) again. Taking it replaced 2.0.0 in the staged slot and the queued
// switch started 3.0.0. While an activation is pending, only its version is taken.
TEST(ActivationOfferTest, OnlyThePendingActivationsVersionWhileItDoesNotRun) {
  auto pending = std::make_optional(Activation("2.0.0", 87, 88));
  EXPECT_FALSE(AcceptsOffer(pending, "3.0.0", "1.0.0", "2.0.0", /*updater_wants=*/true));
  EXPECT_FALSE(AcceptsOffer(pending, "3.0.0", "1.0.0", "", true));
  EXPECT_TRUE(AcceptsOffer(pending, "2.0.0", "1.0.0", "3.0.0", true));   // replaces 3.0.0
  EXPECT_FALSE(AcceptsOffer(pending, "2.0.0", "1.0.0", "2.0.0", true));  // staged already
  // A downgrade: taken only because the activation names it.
  auto downgrade = std::make_optional(Activation("1.0.0", 53, 54));
  EXPECT_TRUE(AcceptsOffer(downgrade, "1.0.0", "2.0.0", "", /*updater_wants=*/false));
  EXPECT_FALSE(AcceptsOffer(downgrade, "1.5.0", "2.0.0", "", false));
  EXPECT_FALSE(AcceptsOffer(downgrade, "1.0.0", "1.0.0", "", false));  // runs already
  // Halted (nothing runs): still only the activation's version.
  EXPECT_FALSE(AcceptsOffer(pending, "3.0.0", "", "", true));
  EXPECT_TRUE(AcceptsOffer(pending, "2.0.0", "", "", true));
  // Once it runs (or with no activation), whatever the updater wants: newer releases stage.
  EXPECT_TRUE(AcceptsOffer(pending, "3.0.0", "2.0.0", "", true));
  EXPECT_FALSE(AcceptsOffer(pending, "1.5.0", "2.0.0", "", false));
  EXPECT_TRUE(AcceptsOffer(std::nullopt, "3.0.0", "2.0.0", "", true));
  EXPECT_FALSE(AcceptsOffer(std::nullopt, "1.0.0", "2.0.0", "", false));
}

TEST(ActivationRecordTest, RoundTripsCanonicallyAndStrictly) {
  auto activation = Activation("2.0.0", 10, 15, ledger::MissingVersionPolicy::kKeep);
  activation.index = 3;
  Bytes encoded = EncodeActivation(activation);
  auto decoded = DecodeActivation(encoded);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
  EXPECT_EQ(*decoded, activation);
  Bytes longer = encoded;
  longer.push_back(0);
  EXPECT_FALSE(DecodeActivation(longer).has_value());
  Bytes shorter(encoded.begin(), encoded.end() - 1);
  EXPECT_FALSE(DecodeActivation(shorter).has_value());
  Bytes bad_policy = encoded;
  bad_policy.back() = 9;
  EXPECT_FALSE(DecodeActivation(bad_policy).has_value());
}

class ActivationTrackerTest : public ::testing::Test {
 protected:
  std::unique_ptr<ActivationTracker> MakeTracker() {
    auto tracker = std::make_unique<ActivationTracker>(
        directory_.path() / "activations",
        ActivationHooks{.running_version = [this](const std::string&) { return running_; },
                        .staged_version = [this](const std::string&) { return staged_; },
                        .activate =
                            [this](const std::string& app, const std::string& note) {
                              activated_.push_back(app + " " + staged_ + " | " + note);
                              return true;
                            },
                        .missing =
                            [this](const delivery::VerifiedActivation& activation, bool halt,
                                   const std::string& detail) {
                              missing_.push_back(std::string(halt ? "halt " : "keep ") +
                                                 activation.version + " | " + detail);
                            },
                        .log = nullptr});
    EXPECT_TRUE(tracker->Load().has_value());
    tracker->set_group("line-1");
    return tracker;
  }

  test_support::TemporaryDirectory directory_;
  std::string running_ = "1.0.0";
  std::string staged_;
  std::vector<std::string> activated_;
  std::vector<std::string> missing_;
};

TEST_F(ActivationTrackerTest, ActivatesOnceAtTheEffectiveHeaderAndNotBefore) {
  auto tracker = MakeTracker();
  staged_ = "2.0.0";
  ASSERT_TRUE(tracker->OnActivation(Activation("2.0.0", 10, 15)).has_value());
  tracker->OnHeader(14, 0);
  EXPECT_TRUE(activated_.empty());
  tracker->OnHeader(15, 0);
  ASSERT_EQ(activated_.size(), 1u);
  EXPECT_NE(activated_[0].find("switched at block 15"), std::string::npos) << activated_[0];
  tracker->OnHeader(16, 0);
  tracker->Reevaluate("press");
  EXPECT_EQ(activated_.size(), 1u);  // once
  EXPECT_TRUE(missing_.empty());
}

TEST_F(ActivationTrackerTest, IgnoresOtherGroupsAndOlderActivationsAndRemembersAcrossRestarts) {
  {
    auto tracker = MakeTracker();
    auto other = Activation("2.0.0", 10, 15);
    other.group = "line-2";
    ASSERT_TRUE(tracker->OnActivation(other).has_value());
    EXPECT_FALSE(tracker->activation("press").has_value());
    ASSERT_TRUE(tracker->OnActivation(Activation("2.0.0", 12, 20)).has_value());
    ASSERT_TRUE(tracker->OnActivation(Activation("3.0.0", 11, 20)).has_value());  // older
    EXPECT_EQ(tracker->activation("press")->version, "2.0.0");
    auto later_in_block = Activation("3.0.0", 12, 20);
    later_in_block.index = 1;
    ASSERT_TRUE(tracker->OnActivation(later_in_block).has_value());
    EXPECT_EQ(tracker->activation("press")->version, "3.0.0");
  }
  // A new tracker (agent restart) reads it back and acts on the next header.
  auto tracker = MakeTracker();
  ASSERT_TRUE(tracker->activation("press").has_value());
  EXPECT_EQ(tracker->activation("press")->version, "3.0.0");
  staged_ = "3.0.0";
  tracker->OnHeader(20, 0);
  EXPECT_EQ(activated_.size(), 1u);
}

TEST_F(ActivationTrackerTest, MissingVersionHaltsOrKeepsOnceThenActivatesWhenStaged) {
  auto tracker = MakeTracker();
  ASSERT_TRUE(tracker->OnActivation(Activation("2.0.0", 10, 11)).has_value());
  tracker->OnHeader(11, 0);
  ASSERT_EQ(missing_.size(), 1u);
  EXPECT_EQ(missing_[0].rfind("halt 2.0.0 | halted: 2.0.0 is effective", 0), 0u) << missing_[0];
  tracker->OnHeader(12, 0);
  EXPECT_EQ(missing_.size(), 1u);  // reported once
  staged_ = "2.0.0";               // the download finished and it is staged
  tracker->Reevaluate("press");
  EXPECT_EQ(activated_.size(), 1u);

  running_ = "2.0.0";
  staged_ = "";
  ASSERT_TRUE(
      tracker->OnActivation(Activation("1.0.0", 13, 14, ledger::MissingVersionPolicy::kKeep))
          .has_value());
  tracker->OnHeader(14, 0);
  ASSERT_EQ(missing_.size(), 2u);
  EXPECT_NE(missing_[1].find("behind: 1.0.0 is effective (block 14) but not staged here; 2.0.0 "
                             "keeps running"),
            std::string::npos)
      << missing_[1];
}

}  // namespace
}  // namespace vigil::agent
