// Decoding fanotify event records (pure): well-formed records give the directory key and the
// entry name; every kind of malformed length stops the decoding as "malformed" without reading
// beyond the buffer (mutation and truncation fuzzing, run under ASan in CI).
#include "integrity/fanotify_events.h"

#include <gtest/gtest.h>
#include <linux/fanotify.h>

#include <cstring>
#include <string>
#include <vector>

namespace vigil::integrity {
namespace {

constexpr uint8_t kFilesystemId[8] = {1, 2, 3, 4, 5, 6, 7, 8};
constexpr uint8_t kHandle[8] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7};
constexpr int32_t kHandleType = 1;

template <typename T>
void Append(std::vector<uint8_t>& out, const T& value) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(&value);
  out.insert(out.end(), bytes, bytes + sizeof(T));
}

// One directory record: header, fsid, file_handle, then (for DFID_NAME) the name, NUL and
// padding to 4 bytes, as the kernel writes it.
std::vector<uint8_t> DirectoryRecord(uint8_t type, const std::string* name,
                                     uint32_t handle_bytes = sizeof(kHandle)) {
  std::vector<uint8_t> record(sizeof(fanotify_event_info_header));
  record.insert(record.end(), kFilesystemId, kFilesystemId + 8);
  Append(record, handle_bytes);
  Append(record, kHandleType);
  record.insert(record.end(), kHandle, kHandle + sizeof(kHandle));
  if (name) {
    record.insert(record.end(), name->begin(), name->end());
    record.push_back(0);
  }
  while (record.size() % 4) record.push_back(0);
  fanotify_event_info_header header{
      .info_type = type, .pad = 0, .len = static_cast<uint16_t>(record.size())};
  std::memcpy(record.data(), &header, sizeof(header));
  return record;
}

std::vector<uint8_t> Event(uint64_t mask, const std::vector<uint8_t>& records) {
  fanotify_event_metadata metadata{};
  metadata.event_len = static_cast<uint32_t>(sizeof(metadata) + records.size());
  metadata.vers = FANOTIFY_METADATA_VERSION;
  metadata.metadata_len = sizeof(metadata);
  metadata.mask = mask;
  metadata.fd = FAN_NOFD;
  metadata.pid = 42;
  std::vector<uint8_t> event;
  Append(event, metadata);
  event.insert(event.end(), records.begin(), records.end());
  return event;
}

std::vector<uint8_t> NamedEvent(uint64_t mask, const std::string& name) {
  return Event(mask, DirectoryRecord(FAN_EVENT_INFO_TYPE_DFID_NAME, &name));
}

std::string ExpectedKey() {
  return MakeFanotifyDirectoryKey(kFilesystemId, sizeof(kHandle), kHandleType, kHandle);
}

// The events view `bytes`: a temporary would leave them dangling.
FanotifyDecoded Decode(const std::vector<uint8_t>& bytes) {
  return DecodeFanotifyEvents(bytes.data(), bytes.size());
}
FanotifyDecoded Decode(std::vector<uint8_t>&& bytes) = delete;

TEST(FanotifyEventsTest, ADirectoryEventGivesItsKeyAndName) {
  auto bytes = NamedEvent(FAN_CLOSE_WRITE, "config.toml");
  auto decoded = Decode(bytes);
  ASSERT_FALSE(decoded.malformed);
  ASSERT_EQ(decoded.events.size(), 1u);
  EXPECT_EQ(decoded.events[0].mask, uint64_t{FAN_CLOSE_WRITE});
  EXPECT_EQ(decoded.events[0].fd, FAN_NOFD);
  EXPECT_EQ(decoded.events[0].directory_key, ExpectedKey());
  EXPECT_EQ(decoded.events[0].name, "config.toml");
}

TEST(FanotifyEventsTest, AnEventOnTheDirectoryItselfHasNoName) {
  auto dot_bytes = NamedEvent(FAN_DELETE_SELF | FAN_ONDIR, ".");
  auto dot = Decode(dot_bytes);
  ASSERT_FALSE(dot.malformed);
  ASSERT_EQ(dot.events.size(), 1u);
  EXPECT_EQ(dot.events[0].directory_key, ExpectedKey());
  EXPECT_EQ(dot.events[0].name, "");
  auto unnamed_bytes =
      Event(FAN_MOVE_SELF | FAN_ONDIR, DirectoryRecord(FAN_EVENT_INFO_TYPE_DFID, nullptr));
  auto unnamed = Decode(unnamed_bytes);
  ASSERT_FALSE(unnamed.malformed);
  ASSERT_EQ(unnamed.events.size(), 1u);
  EXPECT_EQ(unnamed.events[0].directory_key, ExpectedKey());
  EXPECT_EQ(unnamed.events[0].name, "");
}

TEST(FanotifyEventsTest, EventsBackToBackAndRecordsOfOtherTypes) {
  std::vector<uint8_t> bytes = Event(FAN_Q_OVERFLOW, {});
  auto pidfd = DirectoryRecord(FAN_EVENT_INFO_TYPE_PIDFD, nullptr);  // any other type: skipped
  std::string name = "b";
  auto named = DirectoryRecord(FAN_EVENT_INFO_TYPE_DFID_NAME, &name);
  pidfd.insert(pidfd.end(), named.begin(), named.end());
  auto second = Event(FAN_ATTRIB, pidfd);
  bytes.insert(bytes.end(), second.begin(), second.end());
  auto third = NamedEvent(FAN_CREATE | FAN_ONDIR, "c");
  bytes.insert(bytes.end(), third.begin(), third.end());
  auto decoded = Decode(bytes);
  ASSERT_FALSE(decoded.malformed);
  ASSERT_EQ(decoded.events.size(), 3u);
  EXPECT_EQ(decoded.events[0].mask, uint64_t{FAN_Q_OVERFLOW});
  EXPECT_TRUE(decoded.events[0].directory_key.empty());
  EXPECT_EQ(decoded.events[1].name, "b");
  EXPECT_EQ(decoded.events[2].name, "c");
  EXPECT_EQ(decoded.events[2].mask, uint64_t{FAN_CREATE | FAN_ONDIR});
}

// Each malformed buffer: the event before it is kept, it and everything after are not.
void ExpectMalformedAfterOne(std::vector<uint8_t> bad, const char* what) {
  std::vector<uint8_t> bytes = NamedEvent(FAN_MODIFY, "good");
  bytes.insert(bytes.end(), bad.begin(), bad.end());
  auto after = NamedEvent(FAN_MODIFY, "after");
  bytes.insert(bytes.end(), after.begin(), after.end());
  auto decoded = Decode(bytes);
  EXPECT_TRUE(decoded.malformed) << what;
  ASSERT_GE(decoded.events.size(), 1u) << what;
  EXPECT_EQ(decoded.events[0].name, "good") << what;
  for (const auto& event : decoded.events) EXPECT_NE(event.name, "after") << what;
  for (size_t i = 1; i < decoded.events.size(); ++i) {
    EXPECT_TRUE(decoded.events[i].directory_key.empty()) << what;
  }
}

void SetEventLength(std::vector<uint8_t>& event, uint32_t length) {
  std::memcpy(event.data() + offsetof(fanotify_event_metadata, event_len), &length, 4);
}

TEST(FanotifyEventsTest, MalformedMetadataStopsTheDecoding) {
  auto event = NamedEvent(FAN_MODIFY, "x");
  auto short_length = event;
  SetEventLength(short_length, 8);
  ExpectMalformedAfterOne(short_length, "event_len below the metadata");
  auto long_length = event;
  SetEventLength(long_length, 1 << 20);
  ExpectMalformedAfterOne(long_length, "event_len beyond the buffer");
  auto version = event;
  version[offsetof(fanotify_event_metadata, vers)] = FANOTIFY_METADATA_VERSION + 1;
  ExpectMalformedAfterOne(version, "unknown version");
  auto metadata_length = event;
  uint16_t too_long = static_cast<uint16_t>(event.size() + 4);
  std::memcpy(metadata_length.data() + offsetof(fanotify_event_metadata, metadata_len), &too_long,
              2);
  ExpectMalformedAfterOne(metadata_length, "metadata_len beyond event_len");
  // A buffer that ends inside the metadata.
  std::vector<uint8_t> cut(event.begin(), event.begin() + 10);
  auto decoded = Decode(cut);
  EXPECT_TRUE(decoded.malformed);
  EXPECT_TRUE(decoded.events.empty());
}

TEST(FanotifyEventsTest, MalformedInfoRecordsStopTheDecoding) {
  std::string name = "x";
  auto with_record_length = [&](uint16_t length) {
    auto record = DirectoryRecord(FAN_EVENT_INFO_TYPE_DFID_NAME, &name);
    std::memcpy(record.data() + offsetof(fanotify_event_info_header, len), &length, 2);
    return Event(FAN_MODIFY, record);
  };
  ExpectMalformedAfterOne(with_record_length(0), "info len 0 (would loop forever)");
  ExpectMalformedAfterOne(with_record_length(2), "info len below its header");
  ExpectMalformedAfterOne(with_record_length(400), "info len beyond the event");
  ExpectMalformedAfterOne(with_record_length(12), "too short for fsid and handle");
  ExpectMalformedAfterOne(
      Event(FAN_MODIFY, DirectoryRecord(FAN_EVENT_INFO_TYPE_DFID_NAME, &name, 0)),
      "handle_bytes 0");
  ExpectMalformedAfterOne(
      Event(FAN_MODIFY, DirectoryRecord(FAN_EVENT_INFO_TYPE_DFID_NAME, &name, 200)),
      "handle_bytes above MAX_HANDLE_SZ");
  ExpectMalformedAfterOne(
      Event(FAN_MODIFY, DirectoryRecord(FAN_EVENT_INFO_TYPE_DFID_NAME, &name, 100)),
      "handle beyond the record");
  for (const char* bad_name : {"", "..", "a/b"}) {
    std::string text = bad_name;
    ExpectMalformedAfterOne(
        Event(FAN_MODIFY, DirectoryRecord(FAN_EVENT_INFO_TYPE_DFID_NAME, &text)), bad_name);
  }
  // A name without its NUL: the record ends right after the name's bytes.
  std::string four = "abcd";
  auto record = DirectoryRecord(FAN_EVENT_INFO_TYPE_DFID_NAME, &four);
  record.erase(record.end() - 4, record.end());  // drops the NUL and the padding
  uint16_t length = static_cast<uint16_t>(record.size());
  std::memcpy(record.data() + offsetof(fanotify_event_info_header, len), &length, 2);
  ExpectMalformedAfterOne(Event(FAN_MODIFY, record), "name without NUL");
  // Two directory records in one event.
  auto twice = DirectoryRecord(FAN_EVENT_INFO_TYPE_DFID_NAME, &name);
  auto again = DirectoryRecord(FAN_EVENT_INFO_TYPE_DFID, nullptr);
  twice.insert(twice.end(), again.begin(), again.end());
  ExpectMalformedAfterOne(Event(FAN_MODIFY, twice), "two directory records");
}

// Every view an event holds lies inside the decoded buffer.
void ExpectInside(const FanotifyDecoded& decoded, const std::vector<uint8_t>& bytes) {
  auto inside = [&](std::string_view view) {
    if (view.empty()) return true;
    auto begin = reinterpret_cast<const char*>(bytes.data());
    return view.data() >= begin && view.data() + view.size() <= begin + bytes.size();
  };
  for (const auto& event : decoded.events) {
    EXPECT_TRUE(inside(event.directory_key));
    EXPECT_TRUE(inside(event.name));
  }
}

std::vector<std::vector<uint8_t>> ThreeEventList() {
  return {NamedEvent(FAN_CLOSE_WRITE, "first"),
          Event(FAN_DELETE_SELF | FAN_ONDIR, DirectoryRecord(FAN_EVENT_INFO_TYPE_DFID, nullptr)),
          NamedEvent(FAN_MOVED_TO, "third-with-a-longer-name")};
}

std::vector<uint8_t> ThreeEvents() {
  std::vector<uint8_t> bytes;
  for (const auto& event : ThreeEventList()) bytes.insert(bytes.end(), event.begin(), event.end());
  return bytes;
}

// A buffer cut at an event boundary holds the events before it; cut anywhere else, the event
// cut through is malformed. Never a view outside the bytes given.
TEST(FanotifyEventsTest, EveryTruncationIsMalformedUnlessAtAnEventBoundary) {
  const auto full = ThreeEvents();
  ASSERT_EQ(Decode(full).events.size(), 3u);
  std::vector<size_t> boundaries = {0};
  for (const auto& event : ThreeEventList()) boundaries.push_back(boundaries.back() + event.size());
  for (size_t length = 0; length < full.size(); ++length) {
    // A copy of exactly `length` bytes, so ASan catches any read past it.
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(length));
    auto decoded = Decode(cut);
    ExpectInside(decoded, cut);
    size_t whole = 0;  // events entirely inside the cut
    while (whole + 1 < boundaries.size() && boundaries[whole + 1] <= length) ++whole;
    bool at_boundary = boundaries[whole] == length;
    EXPECT_EQ(decoded.malformed, !at_boundary) << length;
    EXPECT_EQ(decoded.events.size(), whole) << length;
  }
}

TEST(FanotifyEventsTest, RandomMutationsNeverReadOutOfBounds) {
  const auto full = ThreeEvents();
  uint64_t state = 0x5eed;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  size_t malformed = 0;
  for (int round = 0; round < 50'000; ++round) {
    auto bytes = full;
    for (int flips = 1 + static_cast<int>(next() % 4); flips > 0; --flips) {
      bytes[next() % bytes.size()] = static_cast<uint8_t>(next());
    }
    bytes.resize(bytes.size() - next() % 16);
    auto decoded = Decode(bytes);
    ExpectInside(decoded, bytes);
    EXPECT_LE(decoded.events.size(), 3u);
    malformed += decoded.malformed;
  }
  EXPECT_GT(malformed, 0u);  // the mutations do reach the checks
}

}  // namespace
}  // namespace vigil::integrity
