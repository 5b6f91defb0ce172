// Window ops: blocks computed from themselves plus a halo of their neighbours
// (map_overlap, the scipy.ndimage filters, rolling windows).
//
// The halo arrives as small slabs: each is cut by a "gather" task that reads one
// neighbouring block only, so it runs where that block is and only the slab's bytes
// move. An "overlap" task then reads its own block and the slabs, joins them into the
// extended block, runs its inner kernel on it and keeps the part it was asked for.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "ops/op_registry.hpp"

namespace rsdat::ops {

// "overlap": the inputs (its own block first, then the halo slabs) placed at
// `in_offsets` in an extended block of `ext_shape` elements (they must cover it), in
// the output's dtype; the registered kernel `inner` (empty: none) runs on that block
// with `inner_params` and must give a block of `inner_shape`; the output is the part of
// it at `trim` (per axis, the elements cut before) of the output's shape.
inline constexpr const char* kOverlap = "overlap";
struct OverlapParams {
  static constexpr uint8_t kVersion = 1;
  std::vector<int64_t> ext_shape;
  std::vector<std::vector<int64_t>> in_offsets;
  std::string inner;
  std::string inner_params;
  std::vector<int64_t> inner_shape;
  std::vector<int64_t> trim;
  template <typename A> void fields(A& a) { a(ext_shape, in_offsets, inner, inner_params, inner_shape, trim); }
};

// "window_filter": one input, an extended block; the output block starts at `lo` in it
// (per axis) and is a scipy.ndimage filter of it: the input's elements outside the
// output are its halo, boundary modes already applied. Along axis d the filter reads
// input positions i + lo[d] - before[d] .. i + lo[d] - before[d] + size[d] - 1 for
// output position i. Separable kinds (uniform, gaussian, minimum, maximum) run one pass
// per axis with `weights` (per axis, gaussian only), storing each pass in the output
// dtype as scipy does; median and convolve read the whole n-d window (`weights`[0] is
// the convolution kernel in C order, of shape `size`).
enum class FilterKind : uint8_t { kUniform, kGaussian, kMinimum, kMaximum, kMedian, kConvolve };
inline constexpr const char* kWindowFilter = "window_filter";
struct WindowFilterParams {
  static constexpr uint8_t kVersion = 1;
  FilterKind kind = FilterKind::kUniform;
  std::vector<int64_t> lo, before, size;
  std::vector<std::vector<double>> weights;
  template <typename A> void fields(A& a) { a(kind, lo, before, size, weights); }
};

// "rolling": one input, an extended float block whose halo along `axis` is `lo`
// elements before the output's (NaN outside the array); output position i reads the
// window of input positions i + lo - before .. i + lo + after, skipping NaN, and is NaN
// where fewer than `min_periods` values are valid. O(n) per line for sum, mean, count,
// var and std (running sums), min and max (monotonic deques); O(n log w) for median.
enum class RollingStat : uint8_t { kSum, kMean, kMin, kMax, kStd, kVar, kCount, kMedian };
inline constexpr const char* kRolling = "rolling";
struct RollingParams {
  static constexpr uint8_t kVersion = 1;
  RollingStat stat = RollingStat::kSum;
  int64_t axis = 0, lo = 0, before = 0, after = 0, min_periods = 1;
  template <typename A> void fields(A& a) { a(stat, axis, lo, before, after, min_periods); }
};

void register_window_ops(OpRegistry& registry);

}  // namespace rsdat::ops
