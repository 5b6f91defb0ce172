#include "rsdat/dtype.hpp"

#include <algorithm>

namespace rsdat {

size_t dtype_size(DType t) {
  return visit_dtype(t, [](auto v) { return sizeof(v); });
}

const char* dtype_name(DType t) {
  static const char* names[kNumDTypes] = {"bool",   "int8",   "int16",  "int32",   "int64",  "uint8",
                                          "uint16", "uint32", "uint64", "float32", "float64"};
  return names[static_cast<int>(t)];
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (int i = 0; i < kNumDTypes; ++i) {
    if (name == dtype_name(static_cast<DType>(i))) return static_cast<DType>(i);
  }
  return std::nullopt;
}

bool dtype_is_float(DType t) { return t == DType::kFloat32 || t == DType::kFloat64; }
bool dtype_is_integer(DType t) { return !dtype_is_float(t) && t != DType::kBool; }

namespace {
bool is_signed_int(DType t) { return t >= DType::kInt8 && t <= DType::kInt64; }
bool is_unsigned_int(DType t) { return t >= DType::kUInt8 && t <= DType::kUInt64; }
}  // namespace

DType promote(DType a, DType b) {
  if (a == b) return a;
  if (a == DType::kBool) return b;
  if (b == DType::kBool) return a;
  if (dtype_is_float(a) || dtype_is_float(b)) {
    if (a == DType::kFloat64 || b == DType::kFloat64) return DType::kFloat64;
    // float32 with an integer: NumPy gives float64 for 32/64-bit ints, float32 for small ones.
    DType other = dtype_is_float(a) ? b : a;
    if (other == DType::kFloat32) return DType::kFloat32;
    return dtype_size(other) <= 2 ? DType::kFloat32 : DType::kFloat64;
  }
  if (is_signed_int(a) == is_signed_int(b)) {
    return dtype_size(a) >= dtype_size(b) ? a : b;
  }
  DType s = is_signed_int(a) ? a : b;
  DType u = is_unsigned_int(a) ? a : b;
  if (dtype_size(s) > dtype_size(u)) return s;
  switch (dtype_size(u)) {
    case 1: return DType::kInt16;
    case 2: return DType::kInt32;
    case 4: return DType::kInt64;
    default: return DType::kFloat64;
  }
}

}  // namespace rsdat
