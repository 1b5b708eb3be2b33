// The compliance query's messages (issue 6): round trips, every limit, strict decoding, and
// the frame dispatcher knowing both frames.
#include <gtest/gtest.h>

#include "api/messages.h"
#include "common/limits.h"

namespace vigil::api {
namespace {

ledger::ComplianceRecord TamperedRecord() {
  return ledger::ComplianceRecord{.state = ledger::ComplianceState::kTampered,
                                  .since_height = 41,
                                  .expected_version = "1.2.0",
                                  .running_version = "1.2.0",
                                  .reported_version = "1.2.0",
                                  .snapshot_root = crypto::Sha256(AsBytes("tampered")),
                                  .snapshot_height = 41,
                                  .last_report_kind = ledger::DeviceReportKind::kTamperDetected,
                                  .tamper_count = 1,
                                  .last_tamper_height = 41,
                                  .last_tamper_files_changed = 1,
                                  .last_tamper_detail = "modified: bin/app",
                                  .repair_count = 0,
                                  .last_repair_height = 0,
                                  .last_repair_files_changed = 0,
                                  .last_repair_duration_ms = 0,
                                  .reason = "root differs"};
}

ComplianceDevice Device(uint8_t byte, size_t apps) {
  ComplianceDevice device{.device_key = {}, .group = "line-1", .apps = {}, .apps_truncated = false};
  device.device_key.fill(byte);
  for (size_t i = 0; i < apps; ++i) {
    device.apps.push_back({.app = "app-" + std::to_string(i), .record = TamperedRecord()});
  }
  return device;
}

ComplianceResponse Response(size_t devices, size_t apps) {
  ComplianceResponse response{.request_id = 7,
                              .height = 42,
                              .block_time_ms = 1'700'000'000'000,
                              .block_hash = crypto::Sha256(AsBytes("block")),
                              .state_hash = crypto::Sha256(AsBytes("state")),
                              .devices = {},
                              .devices_truncated = true};
  for (size_t i = 0; i < devices; ++i) {
    response.devices.push_back(Device(static_cast<uint8_t>(i), apps));
  }
  return response;
}

TEST(ComplianceMessagesTest, RequestRoundTripsWithAndWithoutGroupAndPage) {
  ComplianceRequest all{.request_id = 1, .group = "", .start_after = std::nullopt};
  auto decoded = DecodeComplianceRequest(Encode(all));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
  EXPECT_EQ(*decoded, all);
  crypto::PublicKey after{};
  after.fill(9);
  ComplianceRequest page{.request_id = 2, .group = "line-1", .start_after = after};
  decoded = DecodeComplianceRequest(Encode(page));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
  EXPECT_EQ(*decoded, page);
  EXPECT_EQ(RequestIdOf(kFrameComplianceRequest, Encode(page)), 2u);
  EXPECT_TRUE(IsClientRequestFrame(kFrameComplianceRequest));
  EXPECT_TRUE(DecodeFrame(kFrameComplianceRequest, Encode(page)).has_value());
}

TEST(ComplianceMessagesTest, RequestRefusesBadGroupsAndTrailingBytes) {
  ComplianceRequest request{.request_id = 1,
                            .group = std::string(limits::kApiComplianceGroupBytesMax + 1, 'g'),
                            .start_after = std::nullopt};
  EXPECT_FALSE(DecodeComplianceRequest(Encode(request)).has_value());
  request.group = "bad group/..";
  EXPECT_FALSE(DecodeComplianceRequest(Encode(request)).has_value());
  request.group = "line-1";
  Bytes bytes = Encode(request);
  bytes.push_back(0);
  EXPECT_FALSE(DecodeComplianceRequest(bytes).has_value());
}

TEST(ComplianceMessagesTest, AFullPageRoundTripsAndFitsTheDefaultFrame) {
  ComplianceResponse response =
      Response(limits::kApiComplianceDevicesMax, limits::kApiComplianceAppsMax);
  Bytes bytes = Encode(response);
  EXPECT_LE(bytes.size(), limits::kFramePayloadBytesDefault);
  auto decoded = DecodeComplianceResponse(bytes);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
  EXPECT_EQ(*decoded, response);
  EXPECT_EQ(RequestIdOf(kFrameComplianceResponse, bytes), 7u);
  EXPECT_TRUE(DecodeFrame(kFrameComplianceResponse, bytes).has_value());
}

TEST(ComplianceMessagesTest, ResponseRefusesMoreThanItsLimits) {
  EXPECT_FALSE(DecodeComplianceResponse(Encode(Response(limits::kApiComplianceDevicesMax + 1, 0)))
                   .has_value());
  EXPECT_FALSE(
      DecodeComplianceResponse(Encode(Response(1, limits::kApiComplianceAppsMax + 1))).has_value());
  // A response cut short.
  ComplianceResponse response = Response(1, 1);
  response.devices[0].apps[0].record.reason = "x";
  Bytes bytes = Encode(response);
  Bytes truncated(bytes.begin(), bytes.end() - 1);
  EXPECT_FALSE(DecodeComplianceResponse(truncated).has_value());
}

}  // namespace
}  // namespace vigil::api
