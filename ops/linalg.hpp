// Linear algebra ops.
#pragma once

#include <cstdint>
#include <string>

#include "core/params.hpp"
#include "ops/op_registry.hpp"

namespace rsdat::ops {

// "matmul": 2K inputs A(i,0..K-1) then B(0..K-1,j), 2-D; output = sum_k A_k @ B_k
// (float32 or float64 through BLAS; other output dtypes computed in float64).
inline constexpr const char* kMatmul = "matmul";
struct MatmulParams {
  static constexpr uint8_t kVersion = 1;
  int64_t k = 0;
  template <typename A> void fields(A& a) { a(k); }
};
inline std::string matmul_params(int64_t k) { return encode_params(MatmulParams{k}); }

void register_linalg_ops(OpRegistry& registry);

}  // namespace rsdat::ops
