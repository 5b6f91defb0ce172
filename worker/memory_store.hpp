// MemoryStore: the chunks a worker holds, with the bytes they take.
//
// Everything the worker keeps goes through here, so that spilling to disk fits in
// behind the same calls. Thread-compatible: the worker's event loop owns it.
#pragma once

#include <optional>
#include <unordered_map>

#include "runtime/chunk.hpp"
#include "runtime/task.hpp"

namespace rsdat::worker {

class MemoryStore {
 public:
  // Replaces any chunk under `key`.
  void put(const TaskKey& key, Chunk chunk);
  std::optional<Chunk> get(const TaskKey& key) const;
  bool contains(const TaskKey& key) const { return chunks_.count(key) != 0; }
  // Returns whether a chunk was there.
  bool erase(const TaskKey& key);
  size_t size() const { return chunks_.size(); }
  uint64_t managed_bytes() const { return managed_bytes_; }

 private:
  std::unordered_map<TaskKey, Chunk> chunks_;
  uint64_t managed_bytes_ = 0;
};

}  // namespace rsdat::worker
