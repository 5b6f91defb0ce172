#include "worker/memory_store.hpp"

namespace rsdat::worker {

void MemoryStore::put(const TaskKey& key, Chunk chunk) {
  erase(key);
  managed_bytes_ += chunk.nbytes();
  chunks_.emplace(key, std::move(chunk));
}

std::optional<Chunk> MemoryStore::get(const TaskKey& key) const {
  auto it = chunks_.find(key);
  if (it == chunks_.end()) return std::nullopt;
  return it->second;
}

bool MemoryStore::erase(const TaskKey& key) {
  auto it = chunks_.find(key);
  if (it == chunks_.end()) return false;
  managed_bytes_ -= it->second.nbytes();
  chunks_.erase(it);
  return true;
}

}  // namespace rsdat::worker
