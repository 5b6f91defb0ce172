// Compact binary encoding of op parameters (TaskSpec::params).
//
// Params arrive from the network: ParamReader checks every read and throws
// ParamError on malformed input. Kernels run inside the kernel exception border,
// so a bad parameter fails the task, never the worker.
//
// An op's parameters are a typed struct that lists its fields once, for both
// directions, and carries a version; encode_params() writes the version first and
// decode_params() refuses any other, so a worker never misreads a client's bytes:
//
//   struct TransposeParams {
//     static constexpr uint8_t kVersion = 1;
//     std::vector<int64_t> perm;
//     template <typename A> void fields(A& a) { a(perm); }
//   };
//   std::string bytes = encode_params(TransposeParams{{1, 0}});
//   TransposeParams p = decode_params<TransposeParams>(reader);  // throws ParamError
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
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

  // Field operators for typed parameter structs (see fields() above).
  template <typename... T>
  void operator()(const T&... v) {
    (field(v), ...);
  }

 private:
  template <typename T>
  void field(const T& v) {
    if constexpr (std::is_enum_v<T>) {
      static_assert(sizeof(T) == 1, "enum parameters are one byte");
      u8(static_cast<uint8_t>(v));
    } else if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, bool>) {
      u8(static_cast<uint8_t>(v));
    } else if constexpr (std::is_same_v<T, int64_t>) {
      i64(v);
    } else if constexpr (std::is_same_v<T, uint64_t>) {
      u64(v);
    } else if constexpr (std::is_same_v<T, double>) {
      f64(v);
    } else if constexpr (std::is_same_v<T, std::string>) {
      str(v);
    } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
      i64s(v);
    } else if constexpr (requires { v.begin(); v.size(); }) {  // a vector of structs or vectors
      u64(v.size());
      for (const auto& e : v) field(e);
    } else {
      const_cast<T&>(v).fields(*this);  // a nested struct; fields() only reads here
    }
  }
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
  size_t remaining() const { return in_.size() - pos_; }
  // Everything not read yet, as it is (a kernel's parameters in a format of its own).
  std::string_view rest() {
    std::string_view s = in_.substr(pos_);
    pos_ = in_.size();
    return s;
  }

  template <typename... T>
  void operator()(T&... v) {
    (field(v), ...);
  }

 private:
  template <typename T>
  void field(T& v) {
    if constexpr (std::is_enum_v<T>) {
      static_assert(sizeof(T) == 1, "enum parameters are one byte");
      v = static_cast<T>(u8());  // the op checks the range
    } else if constexpr (std::is_same_v<T, bool>) {
      v = u8() != 0;
    } else if constexpr (std::is_same_v<T, uint8_t>) {
      v = u8();
    } else if constexpr (std::is_same_v<T, int64_t>) {
      v = i64();
    } else if constexpr (std::is_same_v<T, uint64_t>) {
      v = u64();
    } else if constexpr (std::is_same_v<T, double>) {
      v = f64();
    } else if constexpr (std::is_same_v<T, std::string>) {
      v = str(1u << 24);
    } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
      v = i64s();
    } else if constexpr (requires { v.begin(); v.resize(1); }) {
      const uint64_t n = u64();
      if (n > remaining()) throw ParamError("parameter list too long");  // every element takes a byte at least
      v.resize(n);
      for (auto& e : v) field(e);
    } else {
      v.fields(*this);
    }
  }

  void raw(void* p, size_t n) {
    if (n == 0) return;  // p may be null then (an empty vector's data()), which memcpy may not take
    if (n > in_.size() - pos_) throw ParamError("truncated op parameters");
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
  }
  std::string_view in_;
  size_t pos_ = 0;
};

// The bytes of a typed parameter struct: its version, then its fields.
template <typename P>
std::string encode_params(const P& p) {
  ParamWriter w;
  w.u8(P::kVersion);
  w(p);
  return w.take();
}

// Reads a typed parameter struct written by encode_params() from `r` (which may hold
// more after it). Throws ParamError on another version or malformed bytes.
template <typename P>
P decode_params(ParamReader& r, const char* op) {
  const uint8_t version = r.u8();
  if (version != P::kVersion) {
    throw ParamError(std::string(op) + ": parameters of version " + std::to_string(version) + ", this build reads " +
                     std::to_string(P::kVersion));
  }
  P p;
  r(p);
  return p;
}

// The same, for bytes that must hold the struct and nothing else.
template <typename P>
P decode_params(std::string_view bytes, const char* op) {
  ParamReader r(bytes);
  P p = decode_params<P>(r, op);
  if (!r.at_end()) throw ParamError(std::string(op) + ": trailing bytes in parameters");
  return p;
}

}  // namespace rsdat
