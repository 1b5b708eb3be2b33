#include "codec/codec.h"

#include <gtest/gtest.h>

#include <limits>

namespace vigil::codec {
namespace {

// A small record exercising every primitive, as the ledger's types will.
struct Sample {
  uint8_t kind = 0;
  uint16_t port = 0;
  uint32_t count = 0;
  uint64_t height = 0;
  int64_t time_ms = 0;
  bool flag = false;
  std::array<uint8_t, 32> digest{};
  Bytes blob;
  std::string name;
  std::vector<std::string> labels;
  std::optional<uint64_t> activate_at;
  friend bool operator==(const Sample&, const Sample&) = default;
};

constexpr size_t kNameBytesMax = 64;
constexpr size_t kBlobBytesMax = 1024;
constexpr size_t kLabelsMax = 8;

Bytes Encode(const Sample& sample) {
  Encoder encoder;
  encoder.WriteU8(sample.kind);
  encoder.WriteU16(sample.port);
  encoder.WriteU32(sample.count);
  encoder.WriteU64(sample.height);
  encoder.WriteI64(sample.time_ms);
  encoder.WriteBool(sample.flag);
  encoder.WriteFixed(sample.digest);
  encoder.WriteBytes(sample.blob);
  encoder.WriteString(sample.name);
  encoder.WriteVector(sample.labels,
                      [](Encoder& e, const std::string& label) { e.WriteString(label); });
  encoder.WriteOptional(sample.activate_at, [](Encoder& e, uint64_t value) { e.WriteU64(value); });
  return std::move(encoder).Take();
}

Expected<Sample> DecodeSample(Decoder& decoder) {
  Sample sample;
  VIGIL_ASSIGN_OR_RETURN(sample.kind, decoder.ReadU8("kind"));
  VIGIL_ASSIGN_OR_RETURN(sample.port, decoder.ReadU16("port"));
  VIGIL_ASSIGN_OR_RETURN(sample.count, decoder.ReadU32("count"));
  VIGIL_ASSIGN_OR_RETURN(sample.height, decoder.ReadU64("height"));
  VIGIL_ASSIGN_OR_RETURN(sample.time_ms, decoder.ReadI64("time_ms"));
  VIGIL_ASSIGN_OR_RETURN(sample.flag, decoder.ReadBool("flag"));
  VIGIL_ASSIGN_OR_RETURN(sample.digest, decoder.ReadFixed<32>("digest"));
  VIGIL_ASSIGN_OR_RETURN(sample.blob, decoder.ReadBytes("blob", kBlobBytesMax));
  VIGIL_ASSIGN_OR_RETURN(sample.name, decoder.ReadString("name", kNameBytesMax));
  VIGIL_ASSIGN_OR_RETURN(sample.labels,
                         decoder.ReadVector("labels", kLabelsMax, [](Decoder& d) {
                           return d.ReadString("label", kNameBytesMax);
                         }));
  VIGIL_ASSIGN_OR_RETURN(sample.activate_at, decoder.ReadOptional("activate_at", [](Decoder& d) {
                           return d.ReadU64("height");
                         }));
  return sample;
}

Expected<Sample> Decode(ByteSpan bytes) { return DecodeExactly(bytes, DecodeSample); }

Sample FullSample() {
  Sample sample;
  sample.kind = 0xab;
  sample.port = 0xbeef;
  sample.count = 0xdeadbeef;
  sample.height = std::numeric_limits<uint64_t>::max();
  sample.time_ms = -1234567;
  sample.flag = true;
  sample.digest.fill(0x5a);
  sample.blob = {1, 2, 3};
  sample.name = "línea-7";
  sample.labels = {"plant=berlin", "line=7"};
  sample.activate_at = 42;
  return sample;
}

TEST(CodecTest, RoundTripsEveryPrimitive) {
  Sample sample = FullSample();
  auto decoded = Decode(Encode(sample));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, sample);
}

TEST(CodecTest, RoundTripsEmptyValues) {
  Sample sample;
  auto decoded = Decode(Encode(sample));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, sample);
}

TEST(CodecTest, IntegersAreLittleEndianFixedWidth) {
  Encoder encoder;
  encoder.WriteU16(0x0102);
  encoder.WriteU32(0x03040506);
  encoder.WriteU64(0x0708090a0b0c0d0e);
  encoder.WriteI64(-2);
  EXPECT_EQ(ToHex(encoder.bytes()),
            "0201"
            "06050403"
            "0e0d0c0b0a090807"
            "feffffffffffffff");
}

TEST(CodecTest, BytesStringsVectorsOptionalsHaveTheDocumentedLayout) {
  Encoder encoder;
  encoder.WriteBytes(Bytes{0xaa, 0xbb});
  encoder.WriteString("hi");
  encoder.WriteVector(std::vector<uint16_t>{1, 2}, [](Encoder& e, uint16_t v) { e.WriteU16(v); });
  encoder.WriteOptional(std::optional<uint8_t>(), [](Encoder& e, uint8_t v) { e.WriteU8(v); });
  encoder.WriteOptional(std::optional<uint8_t>(9), [](Encoder& e, uint8_t v) { e.WriteU8(v); });
  encoder.WriteBool(false);
  EXPECT_EQ(ToHex(encoder.bytes()),
            "02000000aabb"          // bytes
            "020000006869"          // string
            "0200000001000200"      // vector<u16>
            "00"                    // absent optional
            "0109"                  // present optional
            "00");                  // bool
}

TEST(CodecTest, RefusesTruncationAtEveryLength) {
  Bytes encoded = Encode(FullSample());
  for (size_t length = 0; length < encoded.size(); ++length) {
    auto decoded = Decode(ByteSpan(encoded.data(), length));
    ASSERT_FALSE(decoded.has_value()) << "accepted a prefix of " << length << " bytes";
    EXPECT_EQ(decoded.error().code(), ErrorCode::kCorruption);
  }
}

TEST(CodecTest, RefusesTrailingBytes) {
  Bytes encoded = Encode(FullSample());
  encoded.push_back(0);
  auto decoded = Decode(encoded);
  ASSERT_FALSE(decoded.has_value());
  EXPECT_NE(decoded.error().message().find("1 trailing bytes"), std::string::npos)
      << decoded.error().message();
}

TEST(CodecTest, RefusesOverLimitLengthBeforeAllocating) {
  Encoder encoder;
  encoder.WriteU32(0xffffffff);  // claims a 4 GiB field inside a 4-byte message
  Decoder decoder(encoder.bytes());
  auto bytes = decoder.ReadBytes("blob", kBlobBytesMax);
  ASSERT_FALSE(bytes.has_value());
  EXPECT_NE(bytes.error().message().find("field 'blob' has length 4294967295"), std::string::npos)
      << bytes.error().message();
  EXPECT_NE(bytes.error().message().find("limit of 1024"), std::string::npos);
}

TEST(CodecTest, RefusesLengthWithinLimitButBeyondInput) {
  Encoder encoder;
  encoder.WriteU32(10);
  encoder.WriteFixed(Bytes{1, 2, 3});
  Decoder decoder(encoder.bytes());
  auto bytes = decoder.ReadBytes("blob", kBlobBytesMax);
  ASSERT_FALSE(bytes.has_value());
  EXPECT_NE(bytes.error().message().find("truncated"), std::string::npos);
}

TEST(CodecTest, RefusesOverLimitVectorCount) {
  Encoder encoder;
  encoder.WriteU32(kLabelsMax + 1);
  Decoder decoder(encoder.bytes());
  auto labels = decoder.ReadVector("labels", kLabelsMax,
                                   [](Decoder& d) { return d.ReadString("label", kNameBytesMax); });
  ASSERT_FALSE(labels.has_value());
  EXPECT_NE(labels.error().message().find("9 elements"), std::string::npos);
}

TEST(CodecTest, VectorErrorsNameTheElement) {
  Encoder encoder;
  encoder.WriteU32(2);
  encoder.WriteString("ok");
  encoder.WriteU32(1);
  encoder.WriteU8(0xff);  // not UTF-8
  Decoder decoder(encoder.bytes());
  auto labels = decoder.ReadVector("labels", kLabelsMax,
                                   [](Decoder& d) { return d.ReadString("label", kNameBytesMax); });
  ASSERT_FALSE(labels.has_value());
  EXPECT_NE(labels.error().message().find("labels[1]"), std::string::npos)
      << labels.error().message();
}

TEST(CodecTest, RefusesNonCanonicalBool) {
  for (uint8_t value : {uint8_t{2}, uint8_t{7}, uint8_t{255}}) {
    Bytes bytes{value};
    Decoder decoder(bytes);
    auto flag = decoder.ReadBool("flag");
    ASSERT_FALSE(flag.has_value()) << int{value};
    EXPECT_NE(flag.error().message().find("non-canonical"), std::string::npos);
  }
}

TEST(CodecTest, RefusesNonCanonicalOptionalTag) {
  Bytes bytes{2, 0, 0, 0, 0, 0, 0, 0, 0};
  Decoder decoder(bytes);
  auto value = decoder.ReadOptional("activate_at", [](Decoder& d) { return d.ReadU64("h"); });
  ASSERT_FALSE(value.has_value());
  EXPECT_NE(value.error().message().find("optional tag 2"), std::string::npos);
}

TEST(CodecTest, RefusesMalformedUtf8) {
  const std::vector<std::string> malformed = {
      "\xc0\xaf",          // overlong '/'
      "\xe0\x80\xaf",      // overlong, three bytes
      "\xed\xa0\x80",      // UTF-16 surrogate
      "\xf4\x90\x80\x80",  // above U+10FFFF
      "\x80",              // lone continuation byte
      "\xe2\x82",          // truncated sequence
      "\xff",              // never valid
  };
  for (const std::string& text : malformed) {
    EXPECT_FALSE(IsValidUtf8(text)) << ToHex(AsBytes(text));
    Encoder encoder;
    encoder.WriteBytes(AsBytes(text));  // bypasses WriteString's assertion on purpose
    Decoder decoder(encoder.bytes());
    EXPECT_FALSE(decoder.ReadString("name", kNameBytesMax).has_value()) << ToHex(AsBytes(text));
  }
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x92"));  // é € 🔒
  EXPECT_TRUE(IsValidUtf8(std::string("nul\0inside", 10)));
}

TEST(CodecTest, EveryFlippedByteIsRefusedOrDecodesToADifferentValue) {
  // Canonical means injective: no other byte string decodes to the same value.
  Sample sample = FullSample();
  Bytes encoded = Encode(sample);
  for (size_t i = 0; i < encoded.size(); ++i) {
    Bytes mutated = encoded;
    mutated[i] ^= uint8_t{0x01};
    auto decoded = Decode(mutated);
    if (decoded.has_value()) {
      EXPECT_NE(*decoded, sample) << "byte " << i;
    }
  }
}

TEST(CodecTest, RefusesOversizeMessage) {
  Bytes huge(limits::kCodecMessageBytesMax + 1);
  Decoder decoder(huge);
  auto value = decoder.ReadU8("kind");
  ASSERT_FALSE(value.has_value());
  EXPECT_NE(value.error().message().find("exceeds the limit"), std::string::npos);
}

TEST(CodecDeathTest, EncodingInvalidUtf8IsAProgrammerError) {
  Encoder encoder;
  EXPECT_DEATH(encoder.WriteString("\xff"), "assertion failed");
}

}  // namespace
}  // namespace vigil::codec
