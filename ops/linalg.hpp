// Linear algebra ops.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "ops/op_registry.hpp"

namespace rsdat::ops {

// "tensordot": the block of a contraction of two arrays, einsum-style. Every axis of
// A, B and the output carries a label (a small integer); a label of both A and B
// that the output lacks is contracted (summed over), one in the output and in both
// operands is a batch axis (an operand's size 1 broadcasts), one in the output and
// one operand is a free axis. Output labels of -1 are leading axes of size 1 (the
// group axes of a tree of partial products). Labels in one operand only and not in
// the output are refused: the client sums them out first.
//
// Inputs: P blocks of A, then P blocks of B, where P = the product of `counts` (the
// blocks read along each contracted label, in A's axis order). The blocks of each
// operand come in C order of its own axes, as DepPattern lists them, so A's r-th
// and B's r-th need not pair up when the operands order the contracted labels
// differently: the kernel pairs them by label. Output = the sum of the P block
// contractions.
//
// With `a_flat` (`b_flat`), A's (B's) block is read as 1-D, its elements in C order:
// the blocks of numpy.outer's flattened operands.
//
// Float32 and float64 outputs are computed in their own type by OpenBLAS sgemm/dgemm;
// integer and bool outputs exactly, in 64-bit integers wrapping as NumPy's do, then
// cast to the output (bool: any product non-zero).
inline constexpr const char* kTensordot = "tensordot";
struct TensordotParams {
  static constexpr uint8_t kVersion = 1;
  std::vector<int64_t> a_labels;
  std::vector<int64_t> b_labels;
  std::vector<int64_t> out_labels;
  std::vector<int64_t> counts;
  bool a_flat = false;
  bool b_flat = false;
  template <typename A> void fields(A& a) { a(a_labels, b_labels, out_labels, counts, a_flat, b_flat); }
};
inline std::string tensordot_params(const TensordotParams& p) { return encode_params(p); }

// Labels are below this.
inline constexpr int64_t kMaxLabels = 128;

void register_linalg_ops(OpRegistry& registry);

}  // namespace rsdat::ops
