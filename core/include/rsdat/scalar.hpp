// How a C++ scalar operand of an array function behaves: as NumPy treats a Python bool,
// int or float. An integer keeps the array's integer dtype (`i32 + 1` is int32), a
// floating value makes an integer array float64 (`i32 * 2.0`) but leaves a float array's
// dtype (`f32 * 2.0` is float32), a bool is a bool.
#pragma once

#include <cstdint>
#include <type_traits>

namespace rsdat {

enum class ScalarKind : uint8_t { kBool, kInt, kFloat };

template <typename S>
concept Scalar = std::is_arithmetic_v<S>;

template <Scalar S>
constexpr ScalarKind scalar_kind() {
  if constexpr (std::is_same_v<S, bool>) {
    return ScalarKind::kBool;
  } else if constexpr (std::is_integral_v<S>) {
    return ScalarKind::kInt;
  } else {
    return ScalarKind::kFloat;
  }
}

}  // namespace rsdat
