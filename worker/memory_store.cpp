#include "worker/memory_store.hpp"

#include <chrono>

#include <lz4.h>

#include <cstdio>

namespace rsdat::worker {

MemoryStore::~MemoryStore() {
  for (const std::string& dir : dirs_) disk_->remove_directory(dir);
}

Status MemoryStore::enable_spill(const std::vector<std::string>& local_directories, bool compress,
                                 std::shared_ptr<SpillDisk> disk) {
  RSDAT_CHECK_MSG(dirs_.empty(), "spilling enabled twice");
  if (local_directories.empty()) return invalid_argument("no spill directory given");
  if (!disk) disk = posix_spill_disk();
  std::vector<std::string> made;
  for (const std::string& parent : local_directories) {
    Result<std::string> dir = disk->make_directory(parent);
    if (!dir.ok()) {
      for (const std::string& d : made) disk->remove_directory(d);
      return dir.status();
    }
    made.push_back(std::move(dir).value());
  }
  dirs_ = std::move(made);
  compress_ = compress;
  disk_ = std::move(disk);
  return Status::ok();
}

std::string MemoryStore::file_of(const TaskKey& key, uint32_t dir) const {
  char name[48];
  std::snprintf(name, sizeof name, "/%016llx-%llu", static_cast<unsigned long long>(key.token),
                static_cast<unsigned long long>(key.chunk));
  return dirs_[dir] + name;
}

void MemoryStore::put(const TaskKey& key, Chunk chunk) {
  erase(key);
  Entry e;
  e.nbytes = chunk.nbytes();
  e.chunk = std::move(chunk);
  lru_.push_back(key);
  e.lru = std::prev(lru_.end());
  memory_bytes_ += e.nbytes;
  entries_.emplace(key, std::move(e));
}

std::optional<Chunk> MemoryStore::get(const TaskKey& key) const {
  Result<Chunk> c = load(key);
  if (!c.ok()) return std::nullopt;
  return std::move(c).value();
}

Result<Chunk> MemoryStore::load(const TaskKey& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return not_found("chunk " + key.to_string() + " is not held here");
  Entry& e = it->second;
  if (e.spilled) {
    RSDAT_RETURN_IF_ERROR(read_back(key, e));
  } else {
    lru_.splice(lru_.end(), lru_, e.lru);
  }
  return e.chunk;
}

bool MemoryStore::erase(const TaskKey& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  Entry& e = it->second;
  if (e.spilled) {
    spilled_bytes_ -= e.nbytes;
  } else {
    memory_bytes_ -= e.nbytes;
    lru_.erase(e.lru);
  }
  if (e.on_disk) disk_->remove_file(file_of(key, e.dir));
  entries_.erase(it);
  return true;
}

uint64_t MemoryStore::spill_to(uint64_t target, Status* error) {
  if (dirs_.empty()) return 0;
  uint64_t spilled = 0;
  for (auto it = lru_.begin(); it != lru_.end() && memory_bytes_ > target;) {
    const TaskKey key = *it++;
    Entry& e = entries_.at(key);
    // Only chunks nobody else holds: spilling one in use would free nothing.
    if (!e.chunk.buffer || e.chunk.buffer.use_count() > 1 || e.nbytes == 0) continue;
    const bool written = !e.on_disk;
    const auto t0 = std::chrono::steady_clock::now();
    Status st = write_out(key, e);
    spill_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!st.is_ok()) {
      // The disk is full or gone: the rest would fail alike, and stay in memory too.
      if (error) *error = st.with_context("cannot spill " + key.to_string());
      break;
    }
    spilled += e.nbytes;
    if (written) spilled_total_ += e.nbytes;
  }
  return spilled;
}

Status MemoryStore::write_out(const TaskKey& key, Entry& e) {
  if (e.on_disk) {
    e.chunk.buffer.reset();
    e.spilled = true;
    lru_.erase(e.lru);
    memory_bytes_ -= e.nbytes;
    spilled_bytes_ += e.nbytes;
    return Status::ok();
  }
  const uint8_t* data = e.chunk.bytes();
  uint64_t file_bytes = e.nbytes;
  std::shared_ptr<Buffer> packed;
  if (compress_ && e.nbytes <= static_cast<uint64_t>(LZ4_MAX_INPUT_SIZE)) {
    packed = Buffer::allocate(static_cast<size_t>(LZ4_compressBound(static_cast<int>(e.nbytes))));
    int n = LZ4_compress_default(reinterpret_cast<const char*>(e.chunk.bytes()), reinterpret_cast<char*>(packed->data()),
                                 static_cast<int>(e.nbytes), static_cast<int>(packed->size()));
    if (n <= 0) return internal_error("lz4 failed on " + key.to_string());
    file_bytes = static_cast<uint64_t>(n);
    data = packed->data();
  }
  // The directory the last chunk went to, then the others in turn: a full disk moves
  // spilling to the next directory for good.
  Status st;
  std::string failures;
  const auto n_dirs = static_cast<uint32_t>(dirs_.size());
  for (uint32_t i = 0; i < n_dirs; ++i) {
    const uint32_t dir = (current_dir_ + i) % n_dirs;
    st = disk_->write_file(file_of(key, dir), data, static_cast<size_t>(file_bytes));
    if (st.is_ok()) {
      current_dir_ = dir;
      e.dir = dir;
      break;
    }
    failures += (failures.empty() ? "" : "; ") + st.message();
  }
  if (!st.is_ok() && n_dirs > 1) st = io_error(failures);
  if (!st.is_ok()) return st;  // the chunk stays in memory; no file is left
  e.file_bytes = file_bytes;
  e.chunk.buffer.reset();
  e.spilled = true;
  e.on_disk = true;
  lru_.erase(e.lru);
  memory_bytes_ -= e.nbytes;
  spilled_bytes_ += e.nbytes;
  return Status::ok();
}

Status MemoryStore::read_back(const TaskKey& key, Entry& e) const {
  const auto t0 = std::chrono::steady_clock::now();
  Status st = read_file_back(key, e);
  unspill_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (st.is_ok()) unspilled_total_ += e.nbytes;
  return st;
}

Status MemoryStore::read_file_back(const TaskKey& key, Entry& e) const {
  const std::string path = file_of(key, e.dir);
  auto buf = Buffer::allocate(e.nbytes);
  Status st;
  if (e.file_bytes != e.nbytes) {
    auto packed = Buffer::allocate(e.file_bytes);
    st = disk_->read_file(path, packed->data(), e.file_bytes);
    if (st.is_ok()) {
      int n = LZ4_decompress_safe(reinterpret_cast<const char*>(packed->data()), reinterpret_cast<char*>(buf->data()),
                                  static_cast<int>(e.file_bytes), static_cast<int>(e.nbytes));
      if (n < 0 || static_cast<uint64_t>(n) != e.nbytes) st = io_error(path + " is damaged");
    }
  } else {
    st = disk_->read_file(path, buf->data(), e.nbytes);
  }
  if (!st.is_ok()) return st;
  e.chunk.buffer = std::move(buf);
  e.spilled = false;
  lru_.push_back(key);
  e.lru = std::prev(lru_.end());
  spilled_bytes_ -= e.nbytes;
  memory_bytes_ += e.nbytes;
  return Status::ok();
}

void MemoryStore::validate() const {
  uint64_t in_memory = 0, spilled = 0;
  size_t resident = 0;
  for (const auto& [key, e] : entries_) {
    if (e.spilled) {
      RSDAT_CHECK_MSG(e.on_disk && !e.chunk.buffer, "a spilled chunk without its file, or still in memory");
      spilled += e.nbytes;
    } else {
      RSDAT_CHECK(*e.lru == key);
      in_memory += e.nbytes;
      ++resident;
    }
    RSDAT_CHECK_MSG(!e.on_disk || e.dir < dirs_.size(), "a spill file without its spill directory");
  }
  RSDAT_CHECK_MSG(in_memory == memory_bytes_ && spilled == spilled_bytes_, "store bytes miscounted");
  RSDAT_CHECK_MSG(resident == lru_.size(), "recently-used list out of step with the chunks in memory");
}

}  // namespace rsdat::worker
