#include "ops/layout.hpp"

#include <algorithm>
#include <cstring>
#include <span>

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


Chunk reshape_kernel(KernelContext& ctx) {
  check_inputs(ctx, 1, "reshape");
  check_no_trailing(ctx.params, "reshape");
  const Chunk& in = ctx.inputs[0];
  if (in.dtype != ctx.out_dtype) fail("reshape: dtype changes");
  if (in.num_elements() != shape_size(ctx.out_shape)) {
    fail("reshape: input of shape " + shape_to_string(in.shape) + " for output " + shape_to_string(ctx.out_shape));
  }
  return Chunk{in.dtype, ctx.out_shape, in.buffer};
}

Shape without_ones(const Shape& s) {
  Shape out;
  for (int64_t d : s)
    if (d != 1) out.push_back(d);
  return out;
}

// Where the output's positions along one axis are read: the input block (an index into
// the blocks read along the axis, -1 for the fill value) and the index within it.
struct AxisSources {
  std::vector<int32_t> block;
  std::vector<int64_t> local;
};

AxisSources axis_sources(const std::vector<GatherRun>& runs, const std::vector<int64_t>& offsets,
                         const std::vector<int64_t>& sizes) {
  AxisSources s;
  for (const GatherRun& r : runs) {
    for (int64_t k = 0; k < r.count; ++k) {
      if (r.first == -1) {
        s.block.push_back(-1);
        s.local.push_back(0);
        continue;
      }
      const int64_t idx = r.first + k * r.step;
      const auto j = std::upper_bound(offsets.begin(), offsets.end(), idx) - offsets.begin() - 1;
      if (j < 0 || idx >= offsets[j] + sizes[j]) fail("gather: index " + std::to_string(idx) + " is in no block read");
      s.block.push_back(static_cast<int32_t>(j));
      s.local.push_back(idx - offsets[j]);
    }
  }
  return s;
}

template <typename E>
void gather_elements(std::span<const Chunk> inputs, const std::vector<AxisSources>& src,
                     const std::vector<std::vector<int64_t>>& sizes, const std::vector<int64_t>& input_strides, E fill,
                     E* out) {
  const size_t nd = src.size();
  if (nd == 0) {
    out[0] = inputs[0].data<E>()[0];
    return;
  }
  const AxisSources& last = src[nd - 1];
  const auto row = static_cast<int64_t>(last.block.size());
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < nd; ++d) rows *= static_cast<int64_t>(src[d].block.size());
  std::vector<int64_t> idx(nd - 1, 0);
  for (int64_t r = 0; r < rows; ++r, out += row) {
    bool filled = false;
    int64_t base = 0, row_offset = 0;
    for (size_t d = 0; d + 1 < nd; ++d) {
      const int32_t j = src[d].block[idx[d]];
      if (j < 0) {
        filled = true;
        break;
      }
      base += j * input_strides[d];
      row_offset = row_offset * sizes[d][j] + src[d].local[idx[d]];
    }
    if (filled) {
      std::fill_n(out, row, fill);
    } else {
      for (int64_t o = 0; o < row;) {
        const int32_t j = last.block[o];
        if (j < 0) {
          out[o++] = fill;
          continue;
        }
        const E* s = inputs[base + j].data<E>() + row_offset * sizes[nd - 1][j];
        // A run of consecutive indices in one block is one copy.
        int64_t end = o + 1;
        while (end < row && last.block[end] == j && last.local[end] == last.local[end - 1] + 1) ++end;
        if (end - o > 1) {
          std::memcpy(out + o, s + last.local[o], static_cast<size_t>(end - o) * sizeof(E));
          o = end;
        } else {
          out[o] = s[last.local[o]];
          ++o;
        }
      }
    }
    for (size_t d = idx.size(); d-- > 0;) {
      if (++idx[d] < static_cast<int64_t>(src[d].block.size())) break;
      idx[d] = 0;
    }
  }
}

Chunk gather_kernel(KernelContext& ctx) {
  const auto p = read_params<GatherParams>(ctx, "gather");
  const size_t nd = p.runs.size();
  if (p.block_offsets.size() != nd) fail("gather: block offsets and runs name different dims");
  // The inputs are every combination of the blocks read along each axis, in C order.
  std::vector<int64_t> input_strides(nd, 1);
  uint64_t n_inputs = 1;
  for (size_t d = nd; d-- > 0;) {
    input_strides[d] = static_cast<int64_t>(n_inputs);
    if (p.block_offsets[d].empty() || p.block_offsets[d].size() > ctx.inputs.size()) fail("gather: bad block offsets");
    n_inputs *= p.block_offsets[d].size();
    if (n_inputs > ctx.inputs.size()) fail("gather: parameters name more inputs than the task has");
  }
  check_inputs(ctx, n_inputs, "gather");
  std::vector<std::vector<int64_t>> sizes(nd);
  for (size_t d = 0; d < nd; ++d) {
    if (!std::is_sorted(p.block_offsets[d].begin(), p.block_offsets[d].end())) fail("gather: block offsets not ascending");
    for (size_t j = 0; j < p.block_offsets[d].size(); ++j) {
      const Chunk& in = ctx.inputs[j * static_cast<size_t>(input_strides[d])];
      if (in.shape.size() != nd) fail("gather: input dims do not match the parameters");
      sizes[d].push_back(in.shape[d]);
    }
  }
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    const Chunk& in = ctx.inputs[i];
    if (in.dtype != ctx.out_dtype) fail("gather: dtype changes");
    for (size_t d = 0; d < nd; ++d) {
      const size_t j = (i / static_cast<size_t>(input_strides[d])) % p.block_offsets[d].size();
      if (in.shape.size() != nd || in.shape[d] != sizes[d][j]) fail("gather: input blocks do not form a grid");
    }
  }
  // The runs must make the output's shape (up to size-1 axes) before any is expanded.
  Shape counts(nd, 0);
  for (size_t d = 0; d < nd; ++d) {
    for (const GatherRun& r : p.runs[d]) {
      if (r.count < 0 || r.count > std::max<int64_t>(1, shape_size(ctx.out_shape))) fail("gather: bad run length");
      counts[d] += r.count;
    }
  }
  if (without_ones(counts) != without_ones(ctx.out_shape) &&
      !(shape_size(counts) == 0 && shape_size(ctx.out_shape) == 0)) {
    fail("gather: runs of shape " + shape_to_string(counts) + " for output " + shape_to_string(ctx.out_shape));
  }
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  if (out.num_elements() == 0) return out;
  std::vector<AxisSources> src(nd);
  for (size_t d = 0; d < nd; ++d) src[d] = axis_sources(p.runs[d], p.block_offsets[d], sizes[d]);
  visit_dtype(ctx.out_dtype, [&](auto t) {
    using T = decltype(t);
    const T fill = convert<T>(p.fill);
    gather_elements<T>(ctx.inputs, src, sizes, input_strides, fill, out.mutable_data<T>());
  });
  return out;
}

}  // namespace

void register_layout_ops(OpRegistry& r) {
  r.add(kTranspose, transpose_kernel, CostClass::kDataBound);
  r.add(kAssemble, assemble_kernel, CostClass::kDataBound);
  r.add(kReshape, reshape_kernel, CostClass::kDataBound);
  r.add(kGather, gather_kernel, CostClass::kDataBound);
}

}  // namespace rsdat::ops
