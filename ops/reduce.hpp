// The reduction family. Reductions are trees: reduce_partial per input chunk,
// reduce_combine over groups of partials, the last step finalising. Partials keep the
// reduced axes with size 1.
//
// The pairwise kinds (sum, prod, min, max, ...) are defined in rsdat/reductions.def:
// their partial type, identity and combining step. The others:
// - kMoments and kNanMoments: partials of dtype float64, shape [3] + keepdims shape:
//   count, mean, M2 (Chan et al.'s parallel update), finalised as var or std;
//   kNanMoments leaves NaN values out (numpy.nanvar).
// - kArgMin, kArgMax, kNanArgMin, kNanArgMax: partials of dtype int32 or int64
//   (arg_partial_dtype), shape [2] + keepdims shape: the winner's value as an integer
//   key that orders as the values do, and its index,
//   the flat C-order index over the reduced axes of the whole array. A combine keeps
//   the better key, the lower index on ties: NumPy's first occurrence. NaN wins in
//   argmin/argmax and loses in the nan forms; a slice of NaN only fails the task
//   ("All-NaN slice encountered"), as numpy.nanargmax raises. The nan forms take
//   floating-point inputs only (on integers they are argmin/argmax).
// - kNanMean: partials of dtype float64, shape [2] + keepdims shape: the sum and the
//   count of the values that are not NaN, added in combines and finalised (kMean) as
//   their quotient (NaN for a slice of NaN only, as numpy.nanmean). One pass over the
//   values, fused with an elementwise input as the pairwise kinds are.
//
// The client builds the tree with partial_dtype() and result_dtype() from here, and the
// kernels compute with the same functions, so the two cannot disagree.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "ops/op_registry.hpp"
#include "rsdat/dtype.hpp"

namespace rsdat::ops {

enum class ReduceKind : uint8_t {
#define RSDAT_MONOID(name, Tag, code, partial, identity, step, combine) k##Tag = code,
#include "rsdat/reductions.def"
  kMoments = 3,
  // Codes above the pairwise ones: reductions.def must not use them.
  kNanMoments = 11,
  kArgMin = 12,
  kArgMax = 13,
  kNanArgMin = 14,
  kNanArgMax = 15,
  kNanMean = 16,
};
// The partial's and the result's dtype (see reductions.def).
enum class PartialRule : uint8_t { kAccumulate, kInput, kBool };
// Where a pairwise kind's partial starts.
enum class Identity : uint8_t { kZero, kOne, kHighest, kLowest, kNaNOrHighest, kNaNOrLowest };

// The kind's name ("sum", "moments"), or nullptr for a byte that is no kind.
const char* reduce_kind_name(ReduceKind kind);
// The dtype of the partials of `kind` over an input of dtype `in` (for the arg kinds,
// the widest: int64).
DType partial_dtype(ReduceKind kind, DType in);
// The dtype of arg partials that reduce `count` elements of dtype `in` into each output
// element: int32 where both keys (values of 4 bytes or less) and indices fit, halving
// what the tree stores and moves, else int64.
DType arg_partial_dtype(DType in, int64_t count);
// The result dtype of a pairwise kind over an input of dtype `in`.
DType result_dtype(ReduceKind kind, DType in);
// Whether a zero-size reduction of `kind` has a value (sum: 0) or is an error (min).
bool has_identity(ReduceKind kind);
// The leading axis of a partial: 3 for the moments kinds, 2 for the arg kinds and
// kNanMean, else 0 (no leading axis).
int64_t partial_lead(ReduceKind kind);
bool is_moments(ReduceKind kind);
bool is_arg(ReduceKind kind);
bool is_sum_count(ReduceKind kind);  // kNanMean

// What the final step produces from the combined partial: the partial as it is (not
// final), the partial converted to the output dtype, or the mean, variance or
// standard deviation, or the winner's index (arg kinds).
enum class Finalize : uint8_t { kNone = 0, kConvert = 1, kMean = 2, kVar = 5, kStd = 6, kIndex = 7 };
struct FinalizeSpec {
  Finalize what = Finalize::kNone;
  double count = 0;  // kMean of kSum: elements reduced into each output element
  double ddof = 0;   // kVar, kStd
  template <typename A> void fields(A& a) { a(what, count, ddof); }
};

// "reduce_partial": one input; axes sorted. With a finalize spec other than kNone the
// output is final: reduced axes dropped, or kept with size 1 (keepdims: the same
// values in the same order), in the output dtype. The arg kinds number the input's
// elements: index_base + sum over the reduced axes of (position in the block) *
// index_strides[i], one stride per reduced axis (others ignore both).
inline constexpr const char* kReducePartial = "reduce_partial";
struct ReducePartialParams {
  static constexpr uint8_t kVersion = 2;
  ReduceKind kind = ReduceKind::kSum;
  std::vector<int64_t> axes;
  FinalizeSpec fin;
  int64_t index_base = 0;
  std::vector<int64_t> index_strides;
  template <typename A> void fields(A& a) { a(kind, axes, fin, index_base, index_strides); }
};
inline std::string reduce_partial_params(ReduceKind kind, const std::vector<int64_t>& axes, const FinalizeSpec& fin,
                                         int64_t index_base = 0, const std::vector<int64_t>& index_strides = {}) {
  return encode_params(ReducePartialParams{kind, axes, fin, index_base, index_strides});
}

// "reduce_expr_partial": reduce_partial of an elementwise program's result over the
// inputs, without storing it: the elementwise params, its dtype, the block shape, and
// reduce_partial's params.
inline constexpr const char* kReduceExprPartial = "reduce_expr_partial";
struct ReduceExprPartialParams {
  static constexpr uint8_t kVersion = 1;
  std::string elementwise;  // ElementwiseParams, encoded
  DType dtype = DType::kFloat64;
  std::vector<int64_t> block;
  std::string reduce;  // ReducePartialParams, encoded
  template <typename A> void fields(A& a) { a(elementwise, dtype, block, reduce); }
};
inline std::string reduce_expr_partial_params(const std::string& elementwise, DType dtype, const Shape& block,
                                              const std::string& reduce_partial) {
  return encode_params(ReduceExprPartialParams{elementwise, dtype, block, reduce_partial});
}

// "reduce_combine": n >= 1 partials of identical shape, in the order of the blocks they
// come from; elementwise combination.
inline constexpr const char* kReduceCombine = "reduce_combine";
struct ReduceCombineParams {
  static constexpr uint8_t kVersion = 1;
  ReduceKind kind = ReduceKind::kSum;
  FinalizeSpec fin;
  template <typename A> void fields(A& a) { a(kind, fin); }
};
inline std::string reduce_combine_params(ReduceKind kind, const FinalizeSpec& fin) {
  return encode_params(ReduceCombineParams{kind, fin});
}

void register_reduce_ops(OpRegistry& registry);

}  // namespace rsdat::ops
