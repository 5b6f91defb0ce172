// The scan family: cumulative sums, products, maxima and minima along one axis.
//
// A scan over a chunked axis runs in two passes with a prefix over slabs between them
// (client/scan.cpp builds the graph):
// 1. the total of each block along the axis: reduce_partial (or reduce_expr_partial,
//    an elementwise producer fused in) with the scan's ReduceKind, keeping the axis
//    with size 1: a slab per block;
// 2. the inclusive prefix of those totals along the axis, reduce_combine steps over
//    slabs (a chain or a log-depth tree);
// 3. "scan_block": each block scanned starting from the prefix of the blocks before it
//    (its carry), written once.
//
// The kinds are the ReduceKinds whose combining step is the scan's: kSum (cumsum),
// kProd (cumprod), kNanSum (nancumsum: NaN counts as 0), kNanProd (nancumprod: NaN
// counts as 1), kMax (cummax: numpy.maximum.accumulate, NaN propagates), kMin (cummin).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "ops/op_registry.hpp"
#include "ops/reduce.hpp"
#include "rsdat/dtype.hpp"

namespace rsdat::ops {

// Whether `kind` is one a scan can run (see above).
bool is_scan_kind(ReduceKind kind);

// "scan_block": the block's running `kind` along `axis`, accumulated in the output
// dtype (as NumPy accumulates in the result's dtype: float32 stays float32, integers
// wrap in 64 bits), starting from the carry.
// Inputs: the block (or, with `elementwise` set, the leaves of an elementwise program
// of dtype `dtype` evaluated over a block of shape `block`, never stored), then with
// `carry` one slab: the block's shape with `axis` of size 1, any dtype (converted to
// the output's), the combined totals of every block before this one along the axis.
// Without a carry the scan starts from the kind's identity.
// Output: the block's shape, in the task's dtype. Touches one input block, one output
// block and one slab.
inline constexpr const char* kScanBlock = "scan_block";
struct ScanBlockParams {
  static constexpr uint8_t kVersion = 1;
  ReduceKind kind = ReduceKind::kSum;
  int64_t axis = 0;
  bool carry = false;
  std::string elementwise;  // ElementwiseParams, encoded; empty: input 0 is the block
  DType dtype = DType::kFloat64;
  std::vector<int64_t> block;
  template <typename A> void fields(A& a) { a(kind, axis, carry, elementwise, dtype, block); }
};
inline std::string scan_block_params(ReduceKind kind, int64_t axis, bool carry, const std::string& elementwise = {},
                                     DType dtype = DType::kFloat64, const std::vector<int64_t>& block = {}) {
  return encode_params(ScanBlockParams{kind, axis, carry, elementwise, dtype, block});
}

void register_scan_ops(OpRegistry& registry);

}  // namespace rsdat::ops
