// Reading the scheduler file that rsdat-scheduler writes (JSON, mode 0600).
#pragma once

#include <string>

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

// Reads `path`. Errors: kNotFound (absent), kInvalidArgument (not a scheduler file).
Result<SchedulerFileInfo> read_scheduler_file(const std::string& path);
// Writes `text` to `path` (mode 0600, fsynced, through a temporary file, creating the
// directory). `replace`: an existing file is replaced; otherwise it is kept as it is,
// so that two processes creating the file at once agree on one. Errors: kIO.
Status write_private_file(const std::string& path, const std::string& text, bool replace);
// Waits up to `timeout` seconds for the file to appear, then reads it.
Result<SchedulerFileInfo> wait_for_scheduler_file(const std::string& path, double timeout);

}  // namespace rsdat
