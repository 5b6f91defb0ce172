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

void register_layout_ops(OpRegistry& registry);

}  // namespace rsdat::ops
