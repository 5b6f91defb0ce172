// Grouped reductions, bin counts, histograms and distinct values: the kernels behind
// rsdat/group.hpp.
//
// A grouped reduction reads blocks of the input and, along one axis, sends each index
// to a slot (its group within the output block, or -1: none). Its partials carry, per
// output element, a few statistics on a leading axis of `group_partial_lead(op)`
// entries (sums and counts, moments, a value and a count), so partials of the same
// groups merge in any tree; their order along the axis is kept, which first and last
// need. Block shapes: an input block is (outer..., L, inner...), a partial
// (K, outer..., G, inner...), a finished block (outer..., G, inner...), where the axis
// position is the same in all three.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "ops/op_registry.hpp"
#include "rsdat/dtype.hpp"

namespace rsdat::ops {

// The reductions, with flox's names: the plain ones let NaN through (a group with a
// NaN gives NaN; first and last take the element as it is), the nan ones skip NaN.
enum class GroupOp : uint8_t {
  kSum, kNanSum, kProd, kNanProd, kMean, kNanMean, kMin, kMax, kNanMin, kNanMax, kCount,
  kVar, kNanVar, kStd, kNanStd, kFirst, kLast, kNanFirst, kNanLast, kMedian, kNanMedian,
};
inline constexpr int kNumGroupOps = 21;

// The statistics a partial carries per output element (0 for the medians, which have
// no partials: their tasks read every input block of their groups).
int64_t group_partial_lead(GroupOp op);
// The partials' dtype for an input of dtype `in`.
DType group_partial_dtype(GroupOp op, DType in);
// The result dtype (NumPy's and xarray's): sums and products of bool and signed
// integers int64, of unsigned uint64, of floats their own; count int64; means,
// variances and medians float32 for float32, else float64; the others the input's,
// unless `has_empty` (a group with no elements: NaN) and the input is not a float,
// then float32 for integers of 1 or 2 bytes and float64 otherwise (xarray's
// maybe_promote).
DType group_result_dtype(GroupOp op, DType in, bool has_empty);

// "group-partial": any number of input blocks (consecutive along the axis), each with
// its slots (`slots`: the slots of every input's indices along the axis, one input
// after the other). Without `finalize` the output is a partial of `ngroups` slots;
// with it, the finished block (every median task finalizes). Zero inputs give the
// empty groups' values.
inline constexpr const char* kGroupPartial = "group-partial";
// "group-combine": partials of the same slots, in their order along the axis, merged
// into one (or, with `finalize`, into the finished block).
inline constexpr const char* kGroupCombine = "group-combine";
struct GroupParams {
  static constexpr uint8_t kVersion = 1;
  GroupOp op = GroupOp::kSum;
  int64_t axis = 0;     // the grouped axis in the finished block
  int64_t ngroups = 0;  // G
  std::vector<int64_t> slots;
  bool finalize = false;
  double ddof = 0;
  template <typename A> void fields(A& a) { a(op, axis, ngroups, slots, finalize, ddof); }
};

// "block-median": the median over `axes` (ascending) of one input block (numpy.median,
// or numpy.nanmedian with `skipna`), those axes left out of the output: every window
// of coarsen lies whole in a block. Output float32 or float64 (the client's choice).
inline constexpr const char* kBlockMedian = "block-median";
struct BlockMedianParams {
  static constexpr uint8_t kVersion = 1;
  std::vector<int64_t> axes;
  bool skipna = false;
  template <typename A> void fields(A& a) { a(axes, skipna); }
};

// "bincount": one block of a 1-d integer array (and, with `weighted`, the same block of
// the weights), to a (1, length) block of counts (int64) or weight sums (float64).
// A value outside [0, length) fails the task.
inline constexpr const char* kBincount = "bincount";
struct BincountParams {
  static constexpr uint8_t kVersion = 1;
  int64_t length = 0;
  bool weighted = false;
  template <typename A> void fields(A& a) { a(length, weighted); }
};

// "histogram": counts (int64) of one input block's values per bin, NumPy's rules: bin
// i holds edges[i] <= x < edges[i + 1], the last also x == its upper edge; values
// outside and NaN are not counted. With `uniform` (numpy's equal bins) the bin is
// estimated arithmetically and settled by comparisons in float32 when `single` (as
// NumPy compares float32 data with float32 edges), else in float64. With axis < 0 the
// output is (1, nbins) for the whole block; else the histogram of every line along
// `axis`: output (block shape with the axis of size 1, nbins). With `weighted` a second
// input, a block of weights of the same shape, whose sums per bin are the output: int64
// (integer weights, exact) or float64.
inline constexpr const char* kHistogram = "histogram";
struct HistogramParams {
  static constexpr uint8_t kVersion = 2;  // 2: weights
  std::vector<double> edges;
  bool uniform = false;
  bool single = false;
  int64_t axis = -1;
  bool weighted = false;
  template <typename A> void fields(A& a) { a(edges, uniform, single, axis, weighted); }
};

// "unique-count": a block to the number of its distinct values (int64, shape (1)),
// every NaN being one value (numpy.unique's equal_nan). "unique-values": a block to
// its distinct values, sorted, NaN last (output shape (count), the input's dtype);
// "unique-counts": their counts (int64), in the same order.
inline constexpr const char* kUniqueCount = "unique-count";
inline constexpr const char* kUniqueValues = "unique-values";
inline constexpr const char* kUniqueCounts = "unique-counts";

void register_group_ops(OpRegistry& registry);

}  // namespace rsdat::ops
