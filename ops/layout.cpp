#include "ops/layout.hpp"

#include <algorithm>

#include "ops/kernel_util.hpp"
#include "ops/simd.hpp"

namespace rsdat::ops {

namespace {

template <typename E>
void transpose_2d(const E* in, E* out, int64_t rows, int64_t cols) {
  constexpr int64_t kTile = 32;
  for (int64_t i0 = 0; i0 < rows; i0 += kTile) {
    const int64_t i1 = std::min(rows, i0 + kTile);
    for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
      const int64_t j1 = std::min(cols, j0 + kTile);
      if constexpr (sizeof(E) == 8) {
        if (transpose_8byte(in + i0 * cols + j0, cols, out + j0 * rows + i0, rows, j1 - j0, i1 - i0)) continue;
      }
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t j = j0; j < j1; ++j) out[j * rows + i] = in[i * cols + j];
    }
  }
}

template <typename E>
void transpose_nd(const E* in, E* out, const Shape& out_shape, const std::vector<int64_t>& src_strides) {
  const size_t nd = out_shape.size();
  const int64_t n = shape_size(out_shape);
  if (n == 0) return;
  std::vector<int64_t> idx(nd, 0);
  int64_t src = 0;
  for (int64_t o = 0; o < n; ++o) {
    out[o] = in[src];
    for (size_t k = nd; k-- > 0;) {
      src += src_strides[k];
      if (++idx[k] < out_shape[k]) break;
      src -= src_strides[k] * out_shape[k];
      idx[k] = 0;
    }
  }
}

Chunk transpose_kernel(KernelContext& ctx) {
  check_inputs(ctx, 1, "transpose");
  const std::vector<int64_t> perm = read_params<TransposeParams>(ctx, "transpose").perm;
  const Chunk& in = ctx.inputs[0];
  const size_t nd = in.shape.size();
  if (perm.size() != nd) fail("transpose: permutation does not match the input's dims");
  std::vector<bool> seen(nd, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(nd) || seen[p]) fail("transpose: not a permutation");
    seen[p] = true;
  }
  Shape expect(nd);
  for (size_t i = 0; i < nd; ++i) expect[i] = in.shape[perm[i]];
  if (expect != ctx.out_shape) fail("transpose: output shape does not match the permuted input");
  if (in.dtype != ctx.out_dtype) fail("transpose: dtype changes");
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  const Shape in_strides = c_strides(in.shape);
  std::vector<int64_t> src_strides(nd);
  for (size_t k = 0; k < nd; ++k) src_strides[k] = in_strides[perm[k]];
  auto run = [&](auto tag) {
    using E = decltype(tag);
    const E* s = reinterpret_cast<const E*>(in.bytes());
    E* d = reinterpret_cast<E*>(out.mutable_bytes());
    if (nd == 2 && perm[0] == 1) {
      transpose_2d(s, d, in.shape[0], in.shape[1]);
    } else {
      transpose_nd(s, d, ctx.out_shape, src_strides);
    }
  };
  switch (dtype_size(in.dtype)) {
    case 1: run(uint8_t{}); break;
    case 2: run(uint16_t{}); break;
    case 4: run(uint32_t{}); break;
    default: run(uint64_t{}); break;
  }
  return out;
}


Chunk assemble_kernel(KernelContext& ctx) {
  const auto p = read_params<AssembleParams>(ctx, "assemble");
  const std::vector<int64_t>& out_off = p.out_offset;
  const std::vector<std::vector<int64_t>>& in_offs = p.in_offsets;
  const uint64_t n = in_offs.size();
  if (n != ctx.inputs.size()) fail("assemble: parameters name " + std::to_string(n) + " inputs, got " +
                                   std::to_string(ctx.inputs.size()));
  check_inputs(ctx, n, "assemble");
  const size_t nd = ctx.out_shape.size();
  if (out_off.size() != nd) fail("assemble: output offset does not match the dims");
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  const Shape ostr = c_strides(ctx.out_shape);
  const size_t esize = dtype_size(ctx.out_dtype);
  int64_t covered = 0;
  for (uint64_t i = 0; i < n; ++i) {
    const Chunk& in = ctx.inputs[i];
    const auto& ioff = in_offs[i];
    if (in.shape.size() != nd || ioff.size() != nd) fail("assemble: input dims do not match");
    // Intersection box in global coordinates.
    std::vector<int64_t> lo(nd), hi(nd);
    bool empty = false;
    for (size_t d = 0; d < nd; ++d) {
      lo[d] = std::max(out_off[d], ioff[d]);
      hi[d] = std::min(out_off[d] + ctx.out_shape[d], ioff[d] + in.shape[d]);
      if (hi[d] <= lo[d]) empty = true;
    }
    if (empty) continue;
    int64_t vol = 1;
    for (size_t d = 0; d < nd; ++d) vol *= hi[d] - lo[d];
    covered += vol;
    const Shape istr = c_strides(in.shape);
    const int64_t row = nd == 0 ? 1 : hi[nd - 1] - lo[nd - 1];
    const int64_t rows = vol / row;
    std::vector<int64_t> idx(nd == 0 ? 0 : nd - 1, 0);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t so = 0, dof = 0;
      for (size_t d = 0; d + 1 < nd; ++d) {
        so += (lo[d] + idx[d] - ioff[d]) * istr[d];
        dof += (lo[d] + idx[d] - out_off[d]) * ostr[d];
      }
      if (nd > 0) {
        so += lo[nd - 1] - ioff[nd - 1];
        dof += lo[nd - 1] - out_off[nd - 1];
      }
      convert_elements(in, so, ctx.out_dtype, out.mutable_bytes() + static_cast<size_t>(dof) * esize, row);
      for (size_t d = idx.size(); d-- > 0;) {
        if (++idx[d] < hi[d] - lo[d]) break;
        idx[d] = 0;
      }
    }
  }
  if (covered < out.num_elements()) fail("assemble: inputs do not cover the output block");
  return out;
}


}  // namespace

void register_layout_ops(OpRegistry& r) {
  r.add(kTranspose, transpose_kernel, CostClass::kDataBound);
  r.add(kAssemble, assemble_kernel, CostClass::kDataBound);
}

}  // namespace rsdat::ops
