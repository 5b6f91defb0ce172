// Layout ops: elements moved, never computed on (transposes, and blocks assembled from
// pieces of others for rechunk, slicing and concatenation).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "ops/op_registry.hpp"

namespace rsdat::ops {

// "transpose": one input; output = np.transpose(input, perm).
inline constexpr const char* kTranspose = "transpose";
struct TransposeParams {
  static constexpr uint8_t kVersion = 1;
  std::vector<int64_t> perm;
  template <typename A> void fields(A& a) { a(perm); }
};
inline std::string transpose_params(const std::vector<int64_t>& perm) { return encode_params(TransposeParams{perm}); }

// "assemble": builds an output block from pieces of input blocks (rechunk, slicing,
// concatenation). Params: the output block's offset in the global array, then per
// input its offset in the same global coordinates. Every output element is covered
// by some input; where inputs overlap, the later input wins.
inline constexpr const char* kAssemble = "assemble";
struct AssembleParams {
  static constexpr uint8_t kVersion = 1;
  std::vector<int64_t> out_offset;
  std::vector<std::vector<int64_t>> in_offsets;
  template <typename A> void fields(A& a) { a(out_offset, in_offsets); }
};
inline std::string assemble_params(const std::vector<int64_t>& out_offset,
                                   const std::vector<std::vector<int64_t>>& in_offsets) {
  return encode_params(AssembleParams{out_offset, in_offsets});
}

// "reshape": one input; the output is its elements in the same C order under the
// output's shape (as many elements, same dtype). The output shares the input's
// buffer: nothing is copied (reshape, expand_dims, squeeze, concatenate).
inline constexpr const char* kReshape = "reshape";

// "gather": an output block of elements picked from input blocks along each axis
// independently (slices with any step, take, flip, roll, pad). Per input axis: the
// global offsets of the input blocks read, ascending (the inputs are every
// combination of them, in C order), and the global input indices at the output's
// positions along the axis as runs (first, step, count), a run with first -1 standing
// for `fill`. The output has the runs' element count and the inputs' dtype; its shape
// may drop or add size-1 axes.
inline constexpr const char* kGather = "gather";
struct GatherRun {
  int64_t first = 0, step = 1, count = 0;
  template <typename A> void fields(A& a) { a(first, step, count); }
};
struct GatherParams {
  static constexpr uint8_t kVersion = 1;
  std::vector<std::vector<int64_t>> block_offsets;
  std::vector<std::vector<GatherRun>> runs;
  double fill = 0;
  template <typename A> void fields(A& a) { a(block_offsets, runs, fill); }
};

void register_layout_ops(OpRegistry& registry);

}  // namespace rsdat::ops
