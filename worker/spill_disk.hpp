// SpillDisk: the one way a worker's memory store touches the disk.
//
// A spill directory per store, and whole files in it: a chunk is written as one
// file and read back as one. The POSIX disk is what workers use; tests put a failing
// one underneath (a full disk, a file that shrank) to check that the store keeps the
// chunk in memory or reports the error, and never reads back a chunk that was not
// written whole, or an in-memory one so that the memory policy runs without files.
//
// Implementations must be usable from the worker's event-loop thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.hpp"

namespace rsdat::worker {

class SpillDisk {
 public:
  virtual ~SpillDisk() = default;
  // Makes a new directory for one store's spill files under `parent` (made when
  // missing) and returns its path. It stays locked until remove_directory(), so
  // that clean_stale_spill_dirs() tells a dead worker's leftovers from a live one's.
  // Errors: kIO.
  virtual Result<std::string> make_directory(const std::string& parent) = 0;
  // Removes a directory make_directory() returned, with every file in it.
  virtual void remove_directory(const std::string& dir) = 0;
  // Writes `n` bytes as the file `path`, replacing it. On failure (a full disk) the
  // error names the file, and no file is left at `path`.
  virtual Status write_file(const std::string& path, const uint8_t* data, size_t n) = 0;
  // Reads the file `path`, which must hold exactly `n` bytes, into `out`; an error
  // naming the file when it cannot be read or has another size.
  virtual Status read_file(const std::string& path, uint8_t* out, size_t n) = 0;
  virtual void remove_file(const std::string& path) = 0;
};

// Plain files through the kernel's page cache; spill directories are named
// `rsdat-spill-PID-XXXXXX` and locked with flock() on a `lock` file inside.
std::shared_ptr<SpillDisk> posix_spill_disk();

// Removes the POSIX disk's spill directories under `local_directory` left by workers
// that died (their lock is free). Returns how many it removed.
size_t clean_stale_spill_dirs(const std::string& local_directory);

}  // namespace rsdat::worker
