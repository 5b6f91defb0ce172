#include "core/chunk.hpp"

#include <malloc.h>

#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace rsdat {

int64_t shape_size(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_to_string(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  if (s.size() == 1) out += ",";
  return out + ")";
}

Shape c_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

namespace {

// Large chunk buffers are reused: a fresh multi-megabyte allocation costs a page fault
// per 4 KiB when first written, which is slower than the kernels that fill it. Freed
// buffers wait here by size, and allocation takes one of the same size. Beyond the
// byte limit the oldest go first: a computation's sizes replace the last one's (a
// pool full of a finished workload's sizes would turn every new size away).
class BufferPool {
 public:
  static constexpr size_t kMinPooled = 1 << 20;
  static BufferPool& instance() {
    static BufferPool* pool = new BufferPool();  // never destroyed: buffers may outlive statics
    return *pool;
  }
  void* take(size_t size) {
    std::lock_guard lock(mu_);
    auto it = free_.find(size);
    if (it == free_.end() || it->second.empty()) return nullptr;
    const uint64_t age = it->second.back();  // the most recently freed: warmest
    it->second.pop_back();
    auto entry = by_age_.find(age);
    void* p = entry->second.second;
    by_age_.erase(entry);
    cached_ -= size;
    return p;
  }
  void give(void* p, size_t size) {
    std::vector<void*> drop;
    {
      std::lock_guard lock(mu_);
      if (size > limit_) {
        drop.push_back(p);
      } else {
        const uint64_t age = next_age_++;
        by_age_.emplace(age, std::make_pair(size, p));
        free_[size].push_back(age);
        cached_ += size;
        evict_locked(drop);
      }
    }
    for (void* d : drop) std::free(d);
  }
  void set_limit(size_t bytes) {
    std::vector<void*> drop;
    {
      std::lock_guard lock(mu_);
      limit_ = bytes;
      evict_locked(drop);
    }
    for (void* d : drop) std::free(d);
  }
  void trim() {
    size_t keep;
    {
      std::lock_guard lock(mu_);
      keep = limit_;
    }
    set_limit(0);
    set_limit(keep);
  }
  size_t cached() {
    std::lock_guard lock(mu_);
    return cached_;
  }

 private:
  // The oldest buffers out until the pool fits its limit (their memory to `drop`).
  void evict_locked(std::vector<void*>& drop) {
    while (cached_ > limit_ && !by_age_.empty()) {
      auto oldest = by_age_.begin();
      const auto [size, p] = oldest->second;
      std::deque<uint64_t>& ages = free_[size];
      ages.pop_front();  // ages of one size are in order: the oldest is first
      by_age_.erase(oldest);
      cached_ -= size;
      drop.push_back(p);
    }
  }

  std::mutex mu_;
  std::map<uint64_t, std::pair<size_t, void*>> by_age_;     // guarded by mu_
  std::unordered_map<size_t, std::deque<uint64_t>> free_;  // guarded by mu_: ages by size
  uint64_t next_age_ = 0;                                   // guarded by mu_
  size_t cached_ = 0;                                       // guarded by mu_
  size_t limit_ = size_t{512} << 20;                        // guarded by mu_
};

}  // namespace

void set_buffer_pool_limit(size_t bytes) { BufferPool::instance().set_limit(bytes); }
size_t buffer_pool_cached_bytes() { return BufferPool::instance().cached(); }
void trim_buffer_pool() {
  BufferPool::instance().trim();
  ::malloc_trim(0);
}

std::shared_ptr<Buffer> Buffer::allocate(size_t nbytes) {
  size_t rounded = (nbytes + 4095) / 4096 * 4096;
  if (rounded == 0) rounded = 64;
  if (rounded >= BufferPool::kMinPooled) {
    void* p = BufferPool::instance().take(rounded);
    if (!p) p = std::aligned_alloc(64, rounded);
    if (!p) throw std::bad_alloc();
    return std::shared_ptr<Buffer>(
        new Buffer(static_cast<uint8_t*>(p), nbytes, [p, rounded] { BufferPool::instance().give(p, rounded); }));
  }
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw std::bad_alloc();
  return std::shared_ptr<Buffer>(new Buffer(static_cast<uint8_t*>(p), nbytes, [p] { std::free(p); }));
}

std::shared_ptr<Buffer> Buffer::wrap(void* data, size_t nbytes, std::function<void()> release) {
  return std::shared_ptr<Buffer>(new Buffer(static_cast<uint8_t*>(data), nbytes, std::move(release)));
}

Buffer::~Buffer() {
  if (release_) release_();
}

Chunk Chunk::allocate(DType dtype, Shape shape) {
  Chunk c;
  c.dtype = dtype;
  c.shape = std::move(shape);
  c.buffer = Buffer::allocate(c.nbytes());
  return c;
}

}  // namespace rsdat
