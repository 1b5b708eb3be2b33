#include "integrity/fanotify_events.h"

#include <linux/fanotify.h>

#include <cstring>
#include <string>

namespace vigil::integrity {
namespace {

constexpr size_t kMetadataBytes = sizeof(fanotify_event_metadata);
constexpr size_t kInfoHeaderBytes = sizeof(fanotify_event_info_header);
constexpr size_t kFilesystemIdBytes = 8;  // __kernel_fsid_t
constexpr size_t kHandleHeaderBytes = 8;  // file_handle: handle_bytes, handle_type
static_assert(sizeof(fanotify_event_info_fid) == kInfoHeaderBytes + kFilesystemIdBytes);

template <typename T>
T Load(const uint8_t* at) {
  T value;
  std::memcpy(&value, at, sizeof(T));
  return value;
}

// Decodes one directory record (`record`, `length` bytes including its header) into `event`;
// false when it is malformed.
bool DecodeDirectoryRecord(const uint8_t* record, size_t length, bool with_name,
                           FanotifyEvent& event) {
  constexpr size_t kFixedBytes = kInfoHeaderBytes + kFilesystemIdBytes + kHandleHeaderBytes;
  if (length < kFixedBytes) return false;
  uint32_t handle_bytes = Load<uint32_t>(record + kInfoHeaderBytes + kFilesystemIdBytes);
  if (handle_bytes == 0 || handle_bytes > kFanotifyHandleBytesMax) return false;
  if (handle_bytes > length - kFixedBytes) return false;
  size_t key_bytes = kFilesystemIdBytes + kHandleHeaderBytes + handle_bytes;
  event.directory_key =
      std::string_view(reinterpret_cast<const char*>(record + kInfoHeaderBytes), key_bytes);
  event.name = {};
  if (!with_name) return true;
  const char* text = reinterpret_cast<const char*>(record + kFixedBytes + handle_bytes);
  size_t room = length - kFixedBytes - handle_bytes;  // the name and its padding
  const void* terminator = std::memchr(text, '\0', room);
  if (terminator == nullptr) return false;
  std::string_view name(text, static_cast<size_t>(static_cast<const char*>(terminator) - text));
  if (name.empty() || name == ".." || name.find('/') != std::string_view::npos) return false;
  if (name != ".") event.name = name;
  return true;
}

// Decodes the info records of one event (`length` bytes after the metadata); false when one is
// malformed. Records of other types (pidfd, error, rename pairs) are skipped.
bool DecodeInfoRecords(const uint8_t* records, size_t length, FanotifyEvent& event) {
  bool have_directory = false;
  size_t offset = 0;
  while (offset < length) {
    if (length - offset < kInfoHeaderBytes) return false;
    auto header = Load<fanotify_event_info_header>(records + offset);
    if (header.len < kInfoHeaderBytes || header.len > length - offset) return false;
    const uint8_t* record = records + offset;
    offset += header.len;
    if (header.info_type != FAN_EVENT_INFO_TYPE_DFID_NAME &&
        header.info_type != FAN_EVENT_INFO_TYPE_DFID) {
      continue;
    }
    if (have_directory) return false;  // FAN_REPORT_DFID_NAME reports one directory
    have_directory = true;
    if (!DecodeDirectoryRecord(record, header.len,
                               header.info_type == FAN_EVENT_INFO_TYPE_DFID_NAME, event)) {
      return false;
    }
  }
  return true;
}

}  // namespace

FanotifyDecoded DecodeFanotifyEvents(const uint8_t* data, size_t length) {
  FanotifyDecoded decoded;
  size_t offset = 0;
  while (offset < length) {
    if (length - offset < kMetadataBytes) {
      decoded.malformed = true;
      break;
    }
    auto metadata = Load<fanotify_event_metadata>(data + offset);
    if (metadata.vers != FANOTIFY_METADATA_VERSION || metadata.event_len < kMetadataBytes ||
        metadata.event_len > length - offset || metadata.metadata_len < kMetadataBytes ||
        metadata.metadata_len > metadata.event_len) {
      decoded.malformed = true;
      break;
    }
    FanotifyEvent event;
    event.mask = metadata.mask;
    event.fd = metadata.fd;
    const uint8_t* records = data + offset + metadata.metadata_len;
    size_t records_length = metadata.event_len - metadata.metadata_len;
    offset += metadata.event_len;
    if (!DecodeInfoRecords(records, records_length, event)) {
      decoded.malformed = true;
      // The fd (if any) is still the reader's to close; report the event without a directory.
      event.directory_key = {};
      event.name = {};
      decoded.events.push_back(event);
      break;
    }
    decoded.events.push_back(event);
  }
  return decoded;
}

std::string MakeFanotifyDirectoryKey(const void* filesystem_id, uint32_t handle_bytes,
                                     int32_t handle_type, const uint8_t* handle) {
  std::string key(kFilesystemIdBytes + kHandleHeaderBytes + handle_bytes, '\0');
  std::memcpy(key.data(), filesystem_id, kFilesystemIdBytes);
  std::memcpy(key.data() + kFilesystemIdBytes, &handle_bytes, sizeof(handle_bytes));
  std::memcpy(key.data() + kFilesystemIdBytes + 4, &handle_type, sizeof(handle_type));
  std::memcpy(key.data() + kFilesystemIdBytes + kHandleHeaderBytes, handle, handle_bytes);
  return key;
}

}  // namespace vigil::integrity
