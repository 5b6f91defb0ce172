// Reading the scheduler file that rsdat-scheduler writes (JSON, mode 0600).
#pragma once

#include <string>
#include <string_view>

#include "core/status.hpp"

namespace rsdat {

struct SchedulerFileInfo {
  std::string address;
  uint32_t protocol_version = 0;
  int pid = 0;
  std::string host;
  // Security: whether tcp connections are encrypted, the server's public key, and the
  // key file (and allowed-keys file) a legitimate peer uses.
  bool encryption = false;
  std::string server_key;
  std::string key_file;
  std::string allowed_keys;
};

// The files a daemon or client reads (scheduler file, key file, allowed keys) are
// small: reading one stops here, so that a wrong path (a device, a huge file) cannot
// fill the memory.
inline constexpr size_t kMaxConfigFileBytes = 1 << 20;

// Reads `path`. Errors: kNotFound (absent), kInvalidArgument (not a scheduler file,
// or larger than kMaxConfigFileBytes).
Result<SchedulerFileInfo> read_scheduler_file(const std::string& path);
// Parses the text of a scheduler file; `path` names it in errors. The text is
// untrusted: an "address" string is required, "protocol_version" and "pid" must be
// integers in range, unknown fields are ignored. Errors: kInvalidArgument.
Result<SchedulerFileInfo> parse_scheduler_file(std::string_view text, const std::string& path);
// The whole of `path` when it holds at most `limit` bytes. Errors: kNotFound (cannot
// be opened), kInvalidArgument (larger, "PATH is larger than LIMIT bytes"), kIO.
Result<std::string> read_small_file(const std::string& path, size_t limit);
// Writes `text` to `path` (mode 0600, fsynced, through a temporary file, creating the
// directory). `replace`: an existing file is replaced; otherwise it is kept as it is,
// so that two processes creating the file at once agree on one. Errors: kIO.
Status write_private_file(const std::string& path, const std::string& text, bool replace);
// Waits up to `timeout` seconds for the file to appear, then reads it.
Result<SchedulerFileInfo> wait_for_scheduler_file(const std::string& path, double timeout);

}  // namespace rsdat
