// Chunk: one block of an n-dimensional array in C order.
//
// The bytes live in a reference-counted Buffer that may be heap memory, a received
// ZeroMQ frame or (later) a mapped spill file; kernels read through it without copies.
// A Chunk is a cheap value; its buffer is immutable once the chunk is published.
// Thread-safe to share for reading.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "rsdat/dtype.hpp"

namespace rsdat {

using Shape = std::vector<int64_t>;

int64_t shape_size(const Shape& s);
std::string shape_to_string(const Shape& s);
// C-order strides in elements.
Shape c_strides(const Shape& s);

class Buffer {
 public:
  // 64-byte aligned heap memory, uninitialised.
  static std::shared_ptr<Buffer> allocate(size_t nbytes);
  // Borrows `data`; `release` runs when the last reference goes.
  static std::shared_ptr<Buffer> wrap(void* data, size_t nbytes, std::function<void()> release);

  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  Buffer(uint8_t* data, size_t size, std::function<void()> release)
      : data_(data), size_(size), release_(std::move(release)) {}
  uint8_t* data_;
  size_t size_;
  std::function<void()> release_;
};

// Freed buffers of 1 MiB and more are kept for reuse up to this many bytes (default
// 512 MiB); a worker sets it from its memory limit. Thread-safe.
void set_buffer_pool_limit(size_t bytes);
size_t buffer_pool_cached_bytes();
// Frees every cached buffer and returns free heap memory to the system (under memory
// pressure). Thread-safe.
void trim_buffer_pool();

struct Chunk {
  DType dtype = DType::kFloat64;
  Shape shape;
  std::shared_ptr<Buffer> buffer;

  // A new chunk with uninitialised storage.
  static Chunk allocate(DType dtype, Shape shape);

  int64_t num_elements() const { return shape_size(shape); }
  size_t nbytes() const { return static_cast<size_t>(num_elements()) * dtype_size(dtype); }
  const uint8_t* bytes() const { return buffer ? buffer->data() : nullptr; }
  uint8_t* mutable_bytes() { return buffer ? buffer->data() : nullptr; }
  template <typename T> const T* data() const { return reinterpret_cast<const T*>(bytes()); }
  template <typename T> T* mutable_data() { return reinterpret_cast<T*>(mutable_bytes()); }
};

}  // namespace rsdat
