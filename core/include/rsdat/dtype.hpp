// Element types of chunks. Values equal wire::DType's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rsdat {

enum class DType : uint8_t {
  kBool = 0, kInt8, kInt16, kInt32, kInt64, kUInt8, kUInt16, kUInt32, kUInt64, kFloat32, kFloat64,
};
inline constexpr int kNumDTypes = 11;

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "float32", "uint8", ...
std::optional<DType> dtype_from_name(std::string_view name);
bool dtype_is_float(DType t);
bool dtype_is_integer(DType t);
// The result type of arithmetic between a and b (NumPy's promotion for these types).
DType promote(DType a, DType b);

template <DType T> struct dtype_traits;
template <> struct dtype_traits<DType::kBool> { using type = bool; };
template <> struct dtype_traits<DType::kInt8> { using type = int8_t; };
template <> struct dtype_traits<DType::kInt16> { using type = int16_t; };
template <> struct dtype_traits<DType::kInt32> { using type = int32_t; };
template <> struct dtype_traits<DType::kInt64> { using type = int64_t; };
template <> struct dtype_traits<DType::kUInt8> { using type = uint8_t; };
template <> struct dtype_traits<DType::kUInt16> { using type = uint16_t; };
template <> struct dtype_traits<DType::kUInt32> { using type = uint32_t; };
template <> struct dtype_traits<DType::kUInt64> { using type = uint64_t; };
template <> struct dtype_traits<DType::kFloat32> { using type = float; };
template <> struct dtype_traits<DType::kFloat64> { using type = double; };

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<bool>() { return DType::kBool; }
template <> constexpr DType dtype_of<int8_t>() { return DType::kInt8; }
template <> constexpr DType dtype_of<int16_t>() { return DType::kInt16; }
template <> constexpr DType dtype_of<int32_t>() { return DType::kInt32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::kInt64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::kUInt8; }
template <> constexpr DType dtype_of<uint16_t>() { return DType::kUInt16; }
template <> constexpr DType dtype_of<uint32_t>() { return DType::kUInt32; }
template <> constexpr DType dtype_of<uint64_t>() { return DType::kUInt64; }
template <> constexpr DType dtype_of<float>() { return DType::kFloat32; }
template <> constexpr DType dtype_of<double>() { return DType::kFloat64; }

// Calls f(T{}) with T the C++ type of `t` (a tag value; use decltype).
template <typename F>
decltype(auto) visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::kBool: return f(bool{});
    case DType::kInt8: return f(int8_t{});
    case DType::kInt16: return f(int16_t{});
    case DType::kInt32: return f(int32_t{});
    case DType::kInt64: return f(int64_t{});
    case DType::kUInt8: return f(uint8_t{});
    case DType::kUInt16: return f(uint16_t{});
    case DType::kUInt32: return f(uint32_t{});
    case DType::kUInt64: return f(uint64_t{});
    case DType::kFloat32: return f(float{});
    case DType::kFloat64: break;
  }
  return f(double{});
}

}  // namespace rsdat
