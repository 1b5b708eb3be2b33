// integrity: decoding the records a fanotify group reports with FAN_REPORT_DFID_NAME (pure;
// no system calls). Internal to the fanotify watcher back end; tested by
// tests/integrity/fanotify_events_test.cc and fuzzed by fuzz/fanotify_events_fuzz.cc.
//
// A read() of a fanotify descriptor returns events back to back, each
//   struct fanotify_event_metadata { u32 event_len; u8 vers; u8 reserved; u16 metadata_len;
//                                    u64 mask; s32 fd; s32 pid; }
// followed, up to event_len, by info records, each starting with
//   struct fanotify_event_info_header { u8 info_type; u8 pad; u16 len; }
// For the directory records (FAN_EVENT_INFO_TYPE_DFID_NAME, FAN_EVENT_INFO_TYPE_DFID) the
// header is followed by the filesystem id (8 bytes), a struct file_handle { u32 handle_bytes;
// s32 handle_type; u8 f_handle[handle_bytes]; } and, for DFID_NAME, a NUL-terminated entry
// name ("." for an event on the directory itself). See fanotify(7) and <linux/fanotify.h>.
//
// Every length is checked against the bytes actually read: a record that does not fit, or
// does not say what the kernel would say, stops the decoding and marks the buffer malformed
// (the watcher then asks for a full scan); nothing is ever read beyond the buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace vigil::integrity {

// Bytes of the kernel's struct file_handle f_handle at most (MAX_HANDLE_SZ in fcntl.h).
inline constexpr size_t kFanotifyHandleBytesMax = 128;

struct FanotifyEvent {
  uint64_t mask = 0;
  int32_t fd = -1;  // FAN_NOFD with FID reporting; anything else must be closed by the reader
  // The directory the event happened in (or on): filesystem id, handle_bytes, handle_type and
  // f_handle, byte for byte as in the record — the key the watcher's directory table uses.
  // Empty when the event has no directory record (e.g. the queue overflow event).
  std::string_view directory_key;
  // The entry in that directory; empty for an event on the directory itself ("." or a DFID
  // record without a name).
  std::string_view name;
};

struct FanotifyDecoded {
  std::vector<FanotifyEvent> events;  // those before the first malformed record, in order
  bool malformed = false;
};

// Views into `data`: valid as long as it is.
FanotifyDecoded DecodeFanotifyEvents(const uint8_t* data, size_t length);

// The key DecodeFanotifyEvents reports for a directory with this filesystem id (8 bytes, as
// statfs's f_fsid) and file handle (as name_to_handle_at fills it).
std::string MakeFanotifyDirectoryKey(const void* filesystem_id, uint32_t handle_bytes,
                                     int32_t handle_type, const uint8_t* handle);

}  // namespace vigil::integrity
