// Helpers every built-in kernel uses: failing a task, checking inputs and parameters,
// converting elements between dtypes. Internal to the operations library.
#pragma once

#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "core/chunk.hpp"
#include "core/params.hpp"
#include "ops/op_registry.hpp"

namespace rsdat::ops {

[[noreturn]] inline void fail(const std::string& message) { throw std::invalid_argument(message); }

// Whether an element is NaN: never for integers and bool.
template <typename T>
inline bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::isnan(v);
  } else {
    return false;
  }
}

template <typename To, typename From>
inline To convert(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else {
    return static_cast<To>(v);
  }
}

inline void check_inputs(const KernelContext& ctx, size_t n, const char* op) {
  if (ctx.inputs.size() != n) {
    fail(std::string(op) + ": expected " + std::to_string(n) + " inputs, got " + std::to_string(ctx.inputs.size()));
  }
  for (const Chunk& c : ctx.inputs) {
    if (!c.buffer || c.buffer->size() < c.nbytes()) fail(std::string(op) + ": input buffer smaller than its shape");
  }
}

inline void check_no_trailing(const ParamReader& p, const char* op) {
  if (!p.at_end()) fail(std::string(op) + ": trailing bytes in parameters");
}

inline DType checked_dtype(uint64_t v, const char* op) {
  if (v >= static_cast<uint64_t>(kNumDTypes)) fail(std::string(op) + ": bad dtype " + std::to_string(v));
  return static_cast<DType>(v);
}

// The int64 scalar a write kernel returns (bytes written), in a chunk of `ndim` axes of size 1.
inline Chunk int64_scalar_chunk(size_t ndim, int64_t value) {
  Chunk c = Chunk::allocate(DType::kInt64, Shape(ndim, 1));
  *c.mutable_data<int64_t>() = value;
  return c;
}

// Copies n elements converting types (memcpy when they are the same).
inline void convert_elements(const Chunk& src, int64_t src_off, DType to, uint8_t* dst, int64_t n) {
  if (src.dtype == to) {
    std::memcpy(dst, src.bytes() + static_cast<size_t>(src_off) * dtype_size(to), static_cast<size_t>(n) * dtype_size(to));
    return;
  }
  visit_dtype(src.dtype, [&](auto f) {
    using From = decltype(f);
    const From* s = src.data<From>() + src_off;
    visit_dtype(to, [&](auto t) {
      using To = decltype(t);
      To* d = reinterpret_cast<To*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = convert<To>(s[i]);
    });
  });
}

// Min and max where NaN wins, as numpy.min and numpy.max.
template <typename T>
inline T nan_min(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
  }
  return b < a ? b : a;
}
template <typename T>
inline T nan_max(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
  }
  return b > a ? b : a;
}


}  // namespace rsdat::ops

namespace rsdat::ops {

// The op's typed parameters from the task (the whole params, nothing after them).
template <typename P>
P read_params(KernelContext& ctx, const char* op) {
  P p = decode_params<P>(ctx.params, op);
  check_no_trailing(ctx.params, op);
  return p;
}

}  // namespace rsdat::ops
