#include "artifacts/http_headers.h"

#include <gtest/gtest.h>

namespace vigil::artifacts {
namespace {

using Kind = RangeSpec::Kind;

TEST(RangeHeaderTest, ParsesTheThreeSingleRangeForms) {
  EXPECT_EQ(ParseRangeHeader("bytes=10-19").value(),
            (RangeSpec{.kind = Kind::kFromTo, .first = 10, .last = 19, .suffix_bytes = 0}));
  EXPECT_EQ(ParseRangeHeader("bytes=7-").value(),
            (RangeSpec{.kind = Kind::kFrom, .first = 7, .last = 0, .suffix_bytes = 0}));
  EXPECT_EQ(ParseRangeHeader("bytes=-5").value(),
            (RangeSpec{.kind = Kind::kSuffix, .first = 0, .last = 0, .suffix_bytes = 5}));
  EXPECT_EQ(ParseRangeHeader("bytes=18446744073709551615-").value().first, UINT64_MAX);
}

TEST(RangeHeaderTest, RefusesEverythingElse) {
  for (const char* value :
       {"", "bytes=", "bytes=-", "items=0-1", "bytes=1-2,4-5", "bytes=5-4", "bytes= 1-2",
        "bytes=+1-2", "bytes=1-2 ", "bytes=a-b", "bytes=18446744073709551616-", "Bytes=0-1",
        "bytes=0x1-2", "bytes=1--2"}) {
    EXPECT_FALSE(ParseRangeHeader(value).has_value()) << value;
  }
  EXPECT_FALSE(ParseRangeHeader("bytes=" + std::string(200, '1') + "-").has_value());
}

TEST(RangeHeaderTest, ResolvesAgainstTheSize) {
  auto resolve = [](std::string_view header, uint64_t size) {
    return ResolveRange(ParseRangeHeader(header).value(), size);
  };
  EXPECT_EQ(resolve("bytes=10-19", 100), (ByteRange{.first = 10, .last = 19}));
  EXPECT_EQ(resolve("bytes=90-200", 100), (ByteRange{.first = 90, .last = 99}));  // clamped
  EXPECT_EQ(resolve("bytes=99-", 100), (ByteRange{.first = 99, .last = 99}));
  EXPECT_EQ(resolve("bytes=-7", 100), (ByteRange{.first = 93, .last = 99}));
  EXPECT_EQ(resolve("bytes=-700", 100), (ByteRange{.first = 0, .last = 99}));
  EXPECT_EQ(resolve("bytes=100-", 100), std::nullopt);
  EXPECT_EQ(resolve("bytes=100-200", 100), std::nullopt);
  EXPECT_EQ(resolve("bytes=-0", 100), std::nullopt);
  EXPECT_EQ(resolve("bytes=0-", 0), std::nullopt);
}

TEST(ContentRangeTest, ParsesAndFormats) {
  auto parsed = ParseContentRange("bytes 0-99/1000");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, (ContentRange{.range = {.first = 0, .last = 99}, .total_bytes = 1000}));
  EXPECT_EQ(FormatContentRange(*parsed), "bytes 0-99/1000");
  for (const char* value : {"bytes 0-1000/1000", "bytes 5-4/10", "bytes */10", "bytes 0-1/*",
                            "bytes=0-1/2", "bytes 0-1/", "bytes -1/2", "bytes 0-1/2/3"}) {
    EXPECT_FALSE(ParseContentRange(value).has_value()) << value;
  }
  EXPECT_EQ(ParseCompletionRange("bytes */42").value(), 42u);
  EXPECT_FALSE(ParseCompletionRange("bytes */").has_value());
  EXPECT_FALSE(ParseCompletionRange("bytes 0-1/2").has_value());
}

TEST(Base64Test, RoundTripsEveryLengthAndRefusesNonCanonicalText) {
  Bytes bytes;
  for (size_t length = 0; length < 40; ++length) {
    std::string text = Base64Encode(bytes);
    auto decoded = Base64Decode(text, 100);
    ASSERT_TRUE(decoded.has_value()) << text;
    EXPECT_EQ(*decoded, bytes);
    bytes.push_back(static_cast<uint8_t>(length * 37 + 11));
  }
  EXPECT_EQ(Base64Encode(ToBytes("foobar")), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(ToBytes("fo")), "Zm8=");
  for (const char* text : {"Zm8", "Zm9=", "Zg==Zg==", "Z===", "Zm 9", "Zm8=\n", "Zg=a", "====",
                           "Zh=="}) {
    EXPECT_FALSE(Base64Decode(text, 100).has_value()) << text;
  }
  EXPECT_FALSE(Base64Decode("Zm9vYmFy", 5).has_value());  // 6 bytes > 5
}

}  // namespace
}  // namespace vigil::artifacts
