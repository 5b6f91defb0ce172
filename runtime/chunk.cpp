#include "runtime/chunk.hpp"

#include <cstdlib>
#include <new>

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

std::shared_ptr<Buffer> Buffer::allocate(size_t nbytes) {
  size_t rounded = (nbytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
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
