// Creation ops: arrays made on the workers from nothing but their parameters.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "ops/op_registry.hpp"
#include "ops/simd.hpp"

namespace rsdat::ops {

// "fill": no inputs; every element = value converted to the output dtype.
inline constexpr const char* kFill = "fill";
struct FillParams {
  static constexpr uint8_t kVersion = 1;
  double value = 0;
  template <typename A> void fields(A& a) { a(value); }
};
inline std::string fill_params(double value) { return encode_params(FillParams{value}); }

// "random_uniform": no inputs; uniform [0, 1) values that depend only on (seed, the
// element's linear C-order index in the whole array), so the values are the same
// whatever the chunking and the number of workers.
inline constexpr const char* kRandomUniform = "random_uniform";
struct RandomUniformParams {
  static constexpr uint8_t kVersion = 1;
  uint64_t seed = 0;
  std::vector<int64_t> array_shape;
  std::vector<int64_t> chunk_offset;
  template <typename A> void fields(A& a) { a(seed, array_shape, chunk_offset); }
};
inline std::string random_uniform_params(uint64_t seed, const std::vector<int64_t>& array_shape,
                                         const std::vector<int64_t>& chunk_offset) {
  return encode_params(RandomUniformParams{seed, array_shape, chunk_offset});
}
// The value at linear index i (exposed for tests and for checking results).
double uniform_at(uint64_t seed, uint64_t i);
// n values of the stream from linear index `first` (uniform_at(seed, first + j)); as
// float32 rounded down where rounding would reach 1.
void uniform_values(uint64_t seed, uint64_t first, int64_t n, double* out, Isa isa = Isa::kBest);
void uniform_values(uint64_t seed, uint64_t first, int64_t n, float* out, Isa isa = Isa::kBest);

// "coordinate": no inputs; every element = its index along `axis` in the whole array.
inline constexpr const char* kCoordinate = "coordinate";
struct CoordinateParams {
  static constexpr uint8_t kVersion = 1;
  int64_t axis = 0;
  int64_t offset = 0;  // of the chunk along the axis
  template <typename A> void fields(A& a) { a(axis, offset); }
};
inline std::string coordinate_params(int64_t axis, int64_t offset) {
  return encode_params(CoordinateParams{axis, offset});
}

// "literal": no inputs; the output block's bytes (C order, the output dtype) carried in
// the parameters, in pieces of at most kLiteralPieceBytes (from_array).
inline constexpr const char* kLiteral = "literal";
inline constexpr size_t kLiteralPieceBytes = 8u << 20;
struct LiteralParams {
  static constexpr uint8_t kVersion = 1;
  std::vector<std::string> pieces;
  template <typename A> void fields(A& a) { a(pieces); }
};
std::string literal_params(const uint8_t* bytes, size_t n);

void register_creation_ops(OpRegistry& registry);

}  // namespace rsdat::ops
