// Compact binary encoding of op parameters (TaskSpec::params).
//
// Params arrive from the network: ParamReader checks every read and throws
// ParamError on malformed input. Kernels run inside the kernel exception border,
// so a bad parameter fails the task, never the worker.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rsdat {

struct ParamError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class ParamWriter {
 public:
  ParamWriter& u8(uint8_t v) { return raw(&v, 1); }
  ParamWriter& i64(int64_t v) { return raw(&v, 8); }
  ParamWriter& u64(uint64_t v) { return raw(&v, 8); }
  ParamWriter& f64(double v) { return raw(&v, 8); }
  ParamWriter& i64s(const std::vector<int64_t>& v) {
    u64(v.size());
    return raw(v.data(), v.size() * 8);
  }
  ParamWriter& str(std::string_view s) {
    u64(s.size());
    return raw(s.data(), s.size());
  }
  std::string take() { return std::move(out_); }

 private:
  ParamWriter& raw(const void* p, size_t n) {
    out_.append(static_cast<const char*>(p), n);
    return *this;
  }
  std::string out_;
};

class ParamReader {
 public:
  explicit ParamReader(std::string_view in) : in_(in) {}
  uint8_t u8() { uint8_t v; raw(&v, 1); return v; }
  int64_t i64() { int64_t v; raw(&v, 8); return v; }
  uint64_t u64() { uint64_t v; raw(&v, 8); return v; }
  double f64() { double v; raw(&v, 8); return v; }
  std::vector<int64_t> i64s(size_t max_len = 1u << 20) {
    uint64_t n = u64();
    if (n > max_len || n * 8 > in_.size() - pos_) throw ParamError("parameter list too long");
    std::vector<int64_t> v(n);
    raw(v.data(), n * 8);
    return v;
  }
  std::string str(size_t max_len = 1u << 20) {
    uint64_t n = u64();
    if (n > max_len || n > in_.size() - pos_) throw ParamError("parameter string too long");
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  bool at_end() const { return pos_ == in_.size(); }

 private:
  void raw(void* p, size_t n) {
    if (n > in_.size() - pos_) throw ParamError("truncated op parameters");
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
  }
  std::string_view in_;
  size_t pos_ = 0;
};

}  // namespace rsdat
