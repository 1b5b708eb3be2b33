#include "transport/frame.h"

#include <gtest/gtest.h>

#include <random>

namespace vigil::transport {
namespace {

struct ParsedFrame {
  FrameType type;
  Bytes payload;
  friend bool operator==(const ParsedFrame&, const ParsedFrame&) = default;
};

// Feeds `stream` in pieces of the given sizes (the last piece takes the rest).
Expected<std::vector<ParsedFrame>> ParseInPieces(FrameParser& parser, ByteSpan stream,
                                                 const std::vector<size_t>& cuts) {
  std::vector<ParsedFrame> frames;
  size_t offset = 0;
  for (size_t index = 0; index <= cuts.size(); ++index) {
    size_t end = index < cuts.size() ? cuts[index] : stream.size();
    ByteSpan chunk = stream.subspan(offset, end - offset);
    offset = end;
    while (true) {
      auto frame = parser.Next(&chunk);
      if (!frame) return std::unexpected(frame.error());
      if (!frame->has_value()) break;
      frames.push_back({(*frame)->type, Bytes((*frame)->payload.begin(), (*frame)->payload.end())});
    }
    EXPECT_TRUE(chunk.empty());
  }
  return frames;
}

TEST(FrameTest, HeaderIsLittleEndianLengthThenType) {
  FrameHeaderBytes header = EncodeFrameHeader(0x1234, 0x0A0B0C0D);
  EXPECT_EQ(header, (FrameHeaderBytes{0x0D, 0x0C, 0x0B, 0x0A, 0x34, 0x12}));
}

TEST(FrameTest, SplitAtEveryByteBoundaryYieldsTheSameFrames) {
  Bytes stream;
  std::vector<ParsedFrame> expected = {{16, ToBytes("hello")},
                                       {kFrameTypeHeartbeat, {}},
                                       {17, Bytes(300, 0xAB)},
                                       {65535, ToBytes("x")}};
  for (const auto& frame : expected) {
    Bytes encoded = EncodeFrame(frame.type, frame.payload);
    stream.insert(stream.end(), encoded.begin(), encoded.end());
  }
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    FrameParser parser(1024);
    auto frames = ParseInPieces(parser, stream, {cut});
    ASSERT_TRUE(frames) << frames.error().ToString();
    EXPECT_EQ(*frames, expected) << "cut at " << cut;
    EXPECT_TRUE(parser.at_frame_boundary());
  }
  // Byte by byte.
  std::vector<size_t> every_byte;
  for (size_t cut = 1; cut < stream.size(); ++cut) every_byte.push_back(cut);
  FrameParser parser(1024);
  auto frames = ParseInPieces(parser, stream, every_byte);
  ASSERT_TRUE(frames);
  EXPECT_EQ(*frames, expected);
}

TEST(FrameTest, ManyFramesInOneChunkAreViewsWithoutCopying) {
  Bytes stream;
  for (int index = 0; index < 100; ++index) {
    Bytes encoded = EncodeFrame(16, Bytes(static_cast<size_t>(index), static_cast<uint8_t>(index)));
    stream.insert(stream.end(), encoded.begin(), encoded.end());
  }
  FrameParser parser(1024);
  ByteSpan input(stream);
  int count = 0;
  while (auto frame = parser.Next(&input)) {
    if (!frame->has_value()) break;
    EXPECT_EQ((*frame)->payload.size(), static_cast<size_t>(count));
    if (!(*frame)->payload.empty()) {
      // Whole frames inside the chunk point into it.
      EXPECT_GE((*frame)->payload.data(), stream.data());
      EXPECT_LT((*frame)->payload.data(), stream.data() + stream.size());
    }
    ++count;
  }
  EXPECT_EQ(count, 100);
  EXPECT_EQ(parser.buffered_bytes(), 0u);
}

TEST(FrameTest, ExactMaximumIsAcceptedOneMoreIsRefusedBeforeBuffering) {
  constexpr size_t kMax = 4096;
  {
    FrameParser parser(kMax);
    Bytes stream = EncodeFrame(16, Bytes(kMax, 7));
    auto frames = ParseInPieces(parser, stream, {3, 100});
    ASSERT_TRUE(frames);
    ASSERT_EQ(frames->size(), 1u);
    EXPECT_EQ((*frames)[0].payload.size(), kMax);
  }
  FrameParser parser(kMax);
  FrameHeaderBytes header = EncodeFrameHeader(16, kMax + 1);
  ByteSpan input(header);
  auto frame = parser.Next(&input);
  ASSERT_FALSE(frame);
  EXPECT_EQ(frame.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(frame.error().message().find("oversize frame"), std::string::npos);
  EXPECT_LE(parser.buffered_bytes(), limits::kFrameHeaderBytes);
}

TEST(FrameTest, HugeLengthIsRefusedFromTheHeaderAlone) {
  FrameParser parser(limits::kFramePayloadBytesMax);
  FrameHeaderBytes header = EncodeFrameHeader(16, UINT32_MAX);
  ByteSpan input(header);
  auto frame = parser.Next(&input);
  ASSERT_FALSE(frame);
  EXPECT_EQ(frame.error().code(), ErrorCode::kResourceExhausted);
}

TEST(FrameTest, TypeZeroIsRefusedSoZeroFilledGarbageFails) {
  FrameParser parser(1024);
  Bytes zeros(64, 0);
  ByteSpan input(zeros);
  auto frame = parser.Next(&input);
  ASSERT_FALSE(frame);
  EXPECT_EQ(frame.error().code(), ErrorCode::kCorruption);
  EXPECT_NE(frame.error().message().find("type 0"), std::string::npos);
}

TEST(FrameTest, StaysFailedAfterAnError) {
  FrameParser parser(1024);
  Bytes zeros(6, 0);
  ByteSpan input(zeros);
  ASSERT_FALSE(parser.Next(&input));
  EXPECT_TRUE(parser.failed());
  Bytes good = EncodeFrame(16, ToBytes("fine"));
  ByteSpan good_input(good);
  EXPECT_FALSE(parser.Next(&good_input));
}

TEST(FrameTest, EmptyInputAndPartialHeaderYieldNothing) {
  FrameParser parser(1024);
  ByteSpan empty;
  auto frame = parser.Next(&empty);
  ASSERT_TRUE(frame);
  EXPECT_FALSE(frame->has_value());
  Bytes partial = {5, 0, 0};
  ByteSpan input(partial);
  frame = parser.Next(&input);
  ASSERT_TRUE(frame);
  EXPECT_FALSE(frame->has_value());
  EXPECT_FALSE(parser.at_frame_boundary());
  EXPECT_EQ(parser.buffered_bytes(), 3u);
}

TEST(FrameTest, RandomSplitsOfRandomFramesRoundTrip) {
  std::mt19937_64 random(42);
  for (int round = 0; round < 50; ++round) {
    std::vector<ParsedFrame> expected;
    Bytes stream;
    for (int index = 0; index < 20; ++index) {
      ParsedFrame frame{static_cast<FrameType>(16 + random() % 1000), Bytes(random() % 2000)};
      for (auto& byte : frame.payload) byte = static_cast<uint8_t>(random());
      Bytes encoded = EncodeFrame(frame.type, frame.payload);
      stream.insert(stream.end(), encoded.begin(), encoded.end());
      expected.push_back(std::move(frame));
    }
    std::vector<size_t> cuts;
    size_t position = 0;
    while (true) {
      position += 1 + random() % 700;
      if (position >= stream.size()) break;
      cuts.push_back(position);
    }
    FrameParser parser(2000);
    auto frames = ParseInPieces(parser, stream, cuts);
    ASSERT_TRUE(frames);
    EXPECT_EQ(*frames, expected);
  }
}

}  // namespace
}  // namespace vigil::transport
