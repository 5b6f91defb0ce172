// Order statistics: quantiles and medians, sorting, and top-k along axes.
//
// The quantile and sort ops see, in one task, every element of the slices they
// reduce: their inputs are the blocks of the reduced axes' whole grid for one block
// of the other axes (the client cuts those axes so that a task's inputs stay within a
// byte bound). The top-k op is a tree step: it reads a few blocks (or partials) along
// one axis and keeps their |k| best.
//
// How a task holds its slices: the kernel copies a tile of slices (at most 256 KiB,
// at least one slice) from the input blocks into a scratch buffer, selects or sorts
// there, and writes the results; so a task needs its inputs, its output, one tile, and
// 16 bytes per element of one slice (where each element of a slice lies in the inputs).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "ops/op_registry.hpp"
#include "rsdat/dtype.hpp"

namespace rsdat::ops {

// NumPy 1.24's quantile methods (numpy.quantile's `method=`), and numpy.median's own
// rule (the mean of the one or two middle values, in the mean's dtype).
enum class QuantileMethod : uint8_t { kLinear = 0, kLower = 1, kHigher = 2, kNearest = 3, kMidpoint = 4, kMedian = 5 };
// The method called `name` ("linear", ...; not "median"), or false.
bool quantile_method_from_name(const std::string& name, QuantileMethod& out);
// The result dtype: float64 for "linear" and "midpoint" (also for float32 inputs, as
// NumPy 1.24 gives), the input's dtype for "lower", "higher" and "nearest", and for
// the median float32 of float32 and float64 otherwise.
DType quantile_dtype(QuantileMethod method, DType in);

// "quantile": inputs are the blocks of a grid over the reduced `axes` (sorted, of the
// input blocks' rank), `counts` blocks along each, in C order; all share one block of
// the other axes. Output: per q (in order), the other axes' elements in C order (the
// output shape is the client's: a leading q axis, kept size-1 axes, or neither). A
// slice holding a NaN gives NaN, unless `skip_nan` (the nan forms), which leave NaN out
// and give NaN for a slice with nothing else. Selection with std::nth_element: O(n)
// per slice and q, no full sort; a slice of at most 64 values is sorted by counting
// ranks (n^2 comparisons without branches, cheaper than partitions at that size).
inline constexpr const char* kQuantile = "quantile";
struct QuantileParams {
  static constexpr uint8_t kVersion = 1;
  QuantileMethod method = QuantileMethod::kLinear;
  bool skip_nan = false;
  std::vector<double> q;
  std::vector<int64_t> axes;
  std::vector<int64_t> counts;
  template <typename A> void fields(A& a) { a(method, skip_nan, q, axes, counts); }
};

// "sort": inputs are the `count` blocks along `axis` for one block of the other axes;
// output: the block with the whole axis, sorted (NaN last, as numpy.sort), or with
// `arg` the int64 positions along the axis that sort it, ties in their order (a
// stable argsort).
inline constexpr const char* kSort = "sort";
struct SortParams {
  static constexpr uint8_t kVersion = 1;
  bool arg = false;
  int64_t axis = 0;
  int64_t count = 1;
  template <typename A> void fields(A& a) { a(arg, axis, count); }
};

// "topk": one step of dask's topk tree along `axis` (of the values' rank). k > 0 keeps
// the k largest in descending order, k < 0 the |k| smallest in ascending order (NaN is
// largest); the output keeps min(|k|, elements) along the axis. Inputs: `count`
// blocks along the axis, values (`from_partials` false) or partials.
// Without `arg`, partials are values as the output is. With `arg` (argtopk), a
// partial is int64 of shape [2] + block: an order key per element (one that orders as
// the values do, NaN largest) and its index along the whole axis; the values' first
// element along the axis is at index `index_base`; `final` outputs the indices only.
// Ties keep the lower index first.
inline constexpr const char* kTopk = "topk";
struct TopkParams {
  static constexpr uint8_t kVersion = 1;
  int64_t k = 1;
  int64_t axis = 0;
  int64_t count = 1;
  bool arg = false;
  bool from_partials = false;
  bool final = true;
  int64_t index_base = 0;
  template <typename A> void fields(A& a) { a(k, axis, count, arg, from_partials, final, index_base); }
};

void register_order_ops(OpRegistry& registry);

}  // namespace rsdat::ops
