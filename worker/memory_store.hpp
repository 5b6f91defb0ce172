// MemoryStore: the chunks a worker holds, in memory or spilled to its spill directory.
//
// Everything the worker keeps goes through here. spill_to() writes least-recently-used
// chunks that nothing else is using (no running task, no send in flight) to files and
// frees their memory; get() and load() read a spilled chunk back and keep it in memory
// again. Spill files go away when their chunk is erased and when the store is
// destroyed. When to spill is the caller's decision (WorkerState's memory policy); the
// store keeps no clock and logs nothing: errors come back to the caller. Every file
// and directory it uses goes through its SpillDisk, which keeps the directory locked
// while the store lives (see clean_stale_spill_dirs).
//
//   MemoryStore store;
//   RSDAT_RETURN_IF_ERROR(store.enable_spill("/tmp"));
//   store.put(key, chunk);
//   Status error;
//   store.spill_to(/*target=*/0, &error);  // everything idle goes to disk
//   Result<Chunk> back = store.load(key);  // read back (or why it cannot be)
//
// Thread-compatible: the worker's event loop owns it (get() and load() are const for
// callers but move chunks between disk and memory).
#pragma once

#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/chunk.hpp"
#include "core/status.hpp"
#include "core/task.hpp"
#include "worker/spill_disk.hpp"

namespace rsdat::worker {

class MemoryStore {
 public:
  MemoryStore() = default;  // never spills
  ~MemoryStore();
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  // Spills into a new directory under each of `local_directories`, made by `disk`
  // (default: plain files, posix_spill_disk()); `compress` writes spill files
  // lz4-compressed. A chunk goes to the directory the last one went to; when a write
  // there fails (a full disk), the next ones are tried in turn, and the first that
  // takes it is used from then on. Errors: kIO (a directory cannot be made).
  Status enable_spill(const std::vector<std::string>& local_directories, bool compress = false,
                      std::shared_ptr<SpillDisk> disk = nullptr);
  Status enable_spill(const std::string& local_directory, bool compress = false,
                      std::shared_ptr<SpillDisk> disk = nullptr) {
    return enable_spill(std::vector<std::string>{local_directory}, compress, std::move(disk));
  }
  // The first spill directory ("" when the store never spills), and all of them.
  const std::string& spill_directory() const { return dirs_.empty() ? kNoDirectory : dirs_.front(); }
  const std::vector<std::string>& spill_directories() const { return dirs_; }

  // Replaces any chunk under `key`.
  void put(const TaskKey& key, Chunk chunk);
  // The chunk, read back from disk when it was spilled; nullopt when it is not held or
  // cannot be read back (load() says why). Marks it recently used.
  std::optional<Chunk> get(const TaskKey& key) const;
  // The same, with the reason when it cannot be had: kNotFound (not held), kIO (its
  // spill file could not be read back whole; the error names the file).
  Result<Chunk> load(const TaskKey& key) const;
  bool contains(const TaskKey& key) const { return entries_.count(key) != 0; }
  // The chunk's size in bytes (0 when absent), without reading it back.
  uint64_t nbytes(const TaskKey& key) const {
    auto it = entries_.find(key);
    return it == entries_.end() ? 0 : it->second.nbytes;
  }
  // Returns whether a chunk was there.
  bool erase(const TaskKey& key);
  size_t size() const { return entries_.size(); }
  // Bytes of all chunks held, in memory and on disk.
  uint64_t managed_bytes() const { return memory_bytes_ + spilled_bytes_; }
  uint64_t memory_bytes() const { return memory_bytes_; }
  uint64_t spilled_bytes() const { return spilled_bytes_; }
  uint64_t spilled_total() const { return spilled_total_; }  // bytes ever written out
  uint64_t unspilled_total() const { return unspilled_total_; }  // bytes ever read back
  // Seconds spent writing spill files and reading them back.
  double spill_seconds() const { return spill_seconds_; }
  double unspill_seconds() const { return unspill_seconds_; }
  // Spills least-recently-used idle chunks until memory_bytes() <= target (or none is
  // left to spill). A chunk read back keeps its file, so spilling it again only drops
  // it from memory. Returns the bytes that left memory. A write that fails (a full
  // disk) ends the round with that chunk still in memory; its error, naming the chunk,
  // goes to `*error` when given (otherwise it is dropped: the next round tries again).
  uint64_t spill_to(uint64_t target, Status* error = nullptr);
  // Checks the byte counts and the recently-used list against the entries.
  void validate() const;

 private:
  struct Entry {
    Chunk chunk;  // buffer is null while spilled
    uint64_t nbytes = 0;
    bool spilled = false;   // only on disk
    bool on_disk = false;   // its spill file is valid (chunks never change once stored)
    uint64_t file_bytes = 0;
    uint32_t dir = 0;  // on disk: the index of its spill directory
    std::list<TaskKey>::iterator lru;  // in lru_ while in memory
  };
  std::string file_of(const TaskKey& key, uint32_t dir) const;
  Status write_out(const TaskKey& key, Entry& e);
  Status read_back(const TaskKey& key, Entry& e) const;  // read_file_back, timed and counted
  Status read_file_back(const TaskKey& key, Entry& e) const;

  mutable std::unordered_map<TaskKey, Entry> entries_;
  mutable std::list<TaskKey> lru_;  // front: least recently used, in memory only
  mutable uint64_t memory_bytes_ = 0;
  mutable uint64_t spilled_bytes_ = 0;
  uint64_t spilled_total_ = 0;
  mutable uint64_t unspilled_total_ = 0;
  double spill_seconds_ = 0;
  mutable double unspill_seconds_ = 0;
  inline static const std::string kNoDirectory;
  std::vector<std::string> dirs_;  // empty: never spills
  uint32_t current_dir_ = 0;       // where the next chunk goes
  bool compress_ = false;
  std::shared_ptr<SpillDisk> disk_;
};

}  // namespace rsdat::worker
