#include "runtime/chunk.hpp"

#include <malloc.h>

#include <cstdlib>
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
// buffers wait here by size (bounded), and allocation takes one of the same size.
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
    void* p = it->second.back();
    it->second.pop_back();
    cached_ -= size;
    return p;
  }
  void give(void* p, size_t size) {
    {
      std::lock_guard lock(mu_);
      if (cached_ + size <= limit_) {
        free_[size].push_back(p);
        cached_ += size;
        return;
      }
    }
    std::free(p);
  }
  void set_limit(size_t bytes) {
    std::vector<std::pair<void*, size_t>> drop;
    {
      std::lock_guard lock(mu_);
      limit_ = bytes;
      for (auto& [size, list] : free_) {
        while (cached_ > limit_ && !list.empty()) {
          drop.emplace_back(list.back(), size);
          list.pop_back();
          cached_ -= size;
        }
      }
    }
    for (auto& [p, size] : drop) std::free(p);
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
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;  // guarded by mu_
  size_t cached_ = 0;                                     // guarded by mu_
  size_t limit_ = size_t{512} << 20;                      // guarded by mu_
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
