// Reductions along axes, as trees of partials, combines and a final step.
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <utility>

#include "client/array_internal.hpp"

namespace rsdat {

namespace detail {
std::vector<int64_t> reduction_axes(std::vector<int64_t> axes, size_t ndim, const char* name) {
  if (axes.empty()) {
    axes.resize(ndim);
    std::iota(axes.begin(), axes.end(), 0);
  }
  for (auto& ax : axes) {
    const int64_t given = ax;
    if (ax < 0) ax += static_cast<int64_t>(ndim);
    if (ax < 0 || ax >= static_cast<int64_t>(ndim)) {
      throw std::invalid_argument(std::string(name) + ": axis " + std::to_string(given) +
                                  " is out of range for an array of " + std::to_string(ndim) + " dims");
    }
  }
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) {
    throw std::invalid_argument(std::string(name) + ": repeated axis");
  }
  return axes;
}
}  // namespace detail

using detail::add_leaf_deps;
using detail::BlockIndex;
using detail::expr_params;
using detail::make_node;
using detail::need;
using detail::Node;
using detail::NodePtr;

namespace {


// Builds the tree: partial per input block, combines of up to split_every partials,
// and the finalising step; returns the final array (reduced axes dropped, or kept with
// size 1 and one chunk: the same tasks, only the final grid differs).
Array reduce(const Array& a, std::vector<int64_t> axes_in, ops::ReduceKind kind, ops::FinalizeSpec fin, DType out_dtype,
             int split_every, bool keepdims, const char* name) {
  const Node& in = need(a.node());
  if (split_every < 2) throw std::invalid_argument(std::string(name) + ": split_every must be at least 2");
  const size_t nd = in.shape.size();
  const std::vector<int64_t> axes = detail::reduction_axes(std::move(axes_in), nd, name);
  std::vector<bool> reduced(nd, false);
  for (int64_t ax : axes) reduced[ax] = true;
  const bool arg = ops::is_arg(kind);
  for (int64_t ax : axes) {
    if (in.shape[ax] == 0 && arg) {
      const bool is_max = kind == ops::ReduceKind::kArgMax || kind == ops::ReduceKind::kNanArgMax;
      throw std::invalid_argument(std::string(name) + ": attempt to get " + (is_max ? "argmax" : "argmin") +
                                  " of an empty sequence");
    }
    if (in.shape[ax] == 0 && !ops::has_identity(kind)) {
      throw std::invalid_argument(std::string(name) + ": zero-size axis has no identity");
    }
  }
  double count = 1;
  for (int64_t ax : axes) count *= static_cast<double>(in.shape[ax]);
  fin.count = count;
  int64_t reduced_size = 1;
  for (int64_t ax : axes) reduced_size *= in.shape[ax];
  const DType pdt = arg ? ops::arg_partial_dtype(in.dtype, reduced_size) : ops::partial_dtype(kind, in.dtype);
  // The arg kinds number the elements in C order over the reduced axes.
  std::vector<int64_t> index_strides(axes.size(), 1);
  for (size_t i = axes.size(); i-- > 1;) index_strides[i - 1] = index_strides[i] * in.shape[axes[i]];

  // Final shape and chunks.
  Shape out_shape;
  Chunks out_chunks;
  for (size_t i = 0; i < nd; ++i) {
    if (!reduced[i]) {
      out_shape.push_back(in.shape[i]);
      out_chunks.push_back(in.chunks[i]);
    } else if (keepdims) {
      out_shape.push_back(1);
      out_chunks.push_back({1});
    }
  }
  // Final axis of input axis d (-1: a reduced axis, read at block 0).
  std::vector<int32_t> final_axis(nd, -1);
  for (size_t d = 0, kept = 0; d < nd; ++d) {
    if (!reduced[d]) final_axis[d] = static_cast<int32_t>(keepdims ? d : kept++);
  }
  // Partials of the moments, arg and nanmean kinds have a leading axis (of 3 or 2 values).
  const int64_t lead_size = ops::partial_lead(kind);
  const size_t lead = lead_size > 0 ? 1 : 0;
  // A partial-level grid: kept axes as the input's, reduced axes with n blocks of 1.
  auto level_chunks = [&](const std::vector<int64_t>& nblocks) {
    Chunks c;
    if (lead > 0) c.push_back({lead_size});
    for (size_t i = 0; i < nd; ++i) c.push_back(reduced[i] ? std::vector<int64_t>(nblocks[i], 1) : in.chunks[i]);
    return c;
  };
  auto level_shape = [&](const Chunks& c) {
    Shape s;
    for (const auto& v : c) s.push_back(std::accumulate(v.begin(), v.end(), int64_t{0}));
    return s;
  };
  std::vector<int64_t> nblocks = detail::blocks_per_axis(in.chunks);
  bool single = std::all_of(axes.begin(), axes.end(), [&](int64_t ax) { return nblocks[ax] == 1; });

  // Maps a final block index to the index in a level grid (reduced axes at 0).
  auto to_level_block = [final_axis, lead, nd](const BlockIndex& out_block) {
    BlockIndex b(lead, 0);
    for (size_t i = 0; i < nd; ++i) b.push_back(final_axis[i] < 0 ? 0 : out_block[final_axis[i]]);
    return b;
  };
  auto to_input_block = [lead](const BlockIndex& level_block) {
    return BlockIndex(level_block.begin() + static_cast<long>(lead), level_block.end());
  };

  // The first level reads the input's blocks; an elementwise input is evaluated inside
  // the reduction's tasks instead of being stored (its leaves become the inputs).
  const bool fuse = in.expr.has_value() && !in.persisted;
  std::vector<std::vector<int32_t>> leaf_axes = fuse ? in.expr->axes : std::vector<std::vector<int32_t>>{};
  const std::string eparams = fuse ? expr_params(*in.expr, in.dtype) : std::string();
  auto first_level = [&](std::shared_ptr<Node> n, ops::FinalizeSpec level_fin, bool from_final) {
    n->inputs = fuse ? in.expr->leaves : std::vector<NodePtr>{a.node()};
    const Chunks in_chunks = in.chunks;
    const DType in_dtype = in.dtype;
    // Input axis d of a task's block follows this axis of the node's block (-1: 0).
    std::vector<int32_t> block_axes(nd);
    for (size_t d = 0; d < nd; ++d) block_axes[d] = from_final ? final_axis[d] : static_cast<int32_t>(lead + d);
    n->group = [=](const Node& self, TaskGroup& g) {
      if (fuse) {
        g.op = ops::kReduceExprPartial;
        add_leaf_deps(leaf_axes, block_axes, g);
      } else {
        g.op = ops::kReducePartial;
        g.deps.push_back(DepPattern::mapped(0, block_axes));
      }
      auto params_at = [&](const Shape& block, int64_t index_base) {
        std::string rparams =
            ops::reduce_partial_params(kind, axes, level_fin, index_base, arg ? index_strides : std::vector<int64_t>{});
        return fuse ? ops::reduce_expr_partial_params(eparams, in_dtype, block, rparams) : rparams;
      };
      if (!fuse && !arg) {
        g.params = {params_at({}, 0)};
        return;
      }
      // The fused kernel is told its input block's shape, the arg kinds the index of the
      // block's first element: one params entry per distinct pair.
      std::map<std::pair<Shape, int64_t>, uint32_t> entry_of;
      const int64_t nb = detail::num_blocks(self.chunks);
      g.params_index.resize(static_cast<size_t>(nb));
      for (int64_t i = 0; i < nb; ++i) {
        BlockIndex b = detail::unravel_block(self.chunks, static_cast<uint64_t>(i));
        BlockIndex ib = to_input_block(from_final ? to_level_block(b) : b);
        int64_t index_base = 0;
        if (arg) {
          const Shape offset = detail::block_offset(in_chunks, ib);
          for (size_t j = 0; j < axes.size(); ++j) index_base += offset[axes[j]] * index_strides[j];
        }
        const Shape block = fuse ? detail::block_shape(in_chunks, ib) : Shape{};
        auto [it, fresh] = entry_of.try_emplace(std::make_pair(block, index_base),
                                                static_cast<uint32_t>(g.params.size()));
        if (fresh) g.params.push_back(params_at(block, index_base));
        g.params_index[static_cast<size_t>(i)] = it->second;
      }
      if (g.params.size() == 1) g.params_index.clear();
    };
  };
  const detail::GridPtr grid = detail::reduced_grid(in, axes);
  if (single) {
    auto n = make_node(std::string(name), out_shape, out_chunks, out_dtype);
    n->grid = grid;
    first_level(n, fin, true);
    return Array(n);
  }

  Chunks pchunks = level_chunks(nblocks);
  auto partial = make_node(std::string(name) + "-partial", level_shape(pchunks), pchunks, pdt);
  first_level(partial, {}, false);
  NodePtr level = partial;
  // Group factor per axis so that one combine reads at most split_every partials.
  while (true) {
    std::vector<int64_t> cur = nblocks;
    int multi = 0;
    for (int64_t ax : axes)
      if (cur[ax] > 1) ++multi;
    if (multi == 0) break;
    int64_t g = std::max<int64_t>(2, static_cast<int64_t>(std::floor(std::pow(split_every, 1.0 / multi) + 1e-9)));
    std::vector<int64_t> next = cur;
    for (int64_t ax : axes) next[ax] = (cur[ax] + g - 1) / g;
    bool last = std::all_of(axes.begin(), axes.end(), [&](int64_t ax) { return next[ax] == 1; });
    NodePtr prev = level;
    std::vector<int64_t> prev_blocks = cur;
    std::shared_ptr<Node> node;
    if (last) {
      node = make_node(std::string(name), out_shape, out_chunks, out_dtype);
      node->grid = grid;
    } else {
      Chunks c = level_chunks(next);
      node = make_node(std::string(name) + "-combine", level_shape(c), c, pdt);
    }
    node->inputs = {prev};
    std::string params = ops::reduce_combine_params(kind, last ? fin : ops::FinalizeSpec{});
    // Each task reads the product of g blocks along every reduced axis of the level
    // below (fewer at its end); kept axes follow the task's own block.
    DepPattern pattern = DepPattern::mapped(0, std::vector<int32_t>(lead + nd, -1));
    for (size_t d = 0; d < nd; ++d) {
      const size_t j = lead + d;
      if (reduced[d]) {
        pattern.axis_map[j] = last ? -1 : static_cast<int32_t>(j);
        pattern.stride[j] = g;
        pattern.count[j] = static_cast<uint32_t>(g);
      } else {
        pattern.axis_map[j] = last ? final_axis[d] : static_cast<int32_t>(j);
      }
    }
    node->group = [params, pattern](const Node&, TaskGroup& grp) {
      grp.op = ops::kReduceCombine;
      grp.params = {params};
      grp.deps.push_back(pattern);
    };
    nblocks = next;
    level = node;
    if (last) return Array(level);
  }
  return Array(level);  // unreachable: the loop ends on the last level
}

DType float_result(DType t) { return t == DType::kFloat32 ? DType::kFloat32 : DType::kFloat64; }


}  // namespace

// Every pairwise reduction of rsdat/reductions.def.
#define RSDAT_MONOID(name, Tag, code, partial, identity, step, combine)                              \
  Array Array::name(std::vector<int64_t> axes, int split_every, bool keepdims) const {         \
    return reduce(*this, std::move(axes), ops::ReduceKind::k##Tag, {ops::Finalize::kConvert},   \
                  ops::result_dtype(ops::ReduceKind::k##Tag, dtype()), split_every, keepdims, #name); \
  }
#include "rsdat/reductions.def"

Array Array::mean(std::vector<int64_t> axes, int split_every, bool keepdims) const {
  return reduce(*this, std::move(axes), ops::ReduceKind::kSum, {ops::Finalize::kMean}, float_result(dtype()),
                split_every, keepdims, "mean");
}
Array Array::count_nonzero(std::vector<int64_t> axes, int split_every, bool keepdims) const {
  return not_equal(*this, 0).sum(std::move(axes), split_every, keepdims);
}

Array Array::ptp(std::vector<int64_t> axes, int split_every, bool keepdims) const {
  return max(axes, split_every, keepdims) - min(axes, split_every, keepdims);
}

Array Array::nanmean(std::vector<int64_t> axes, int split_every, bool keepdims) const {
  if (!dtype_is_float(dtype())) return mean(std::move(axes), split_every, keepdims);
  // The sum and the count of the values that are not NaN, in one pass over them.
  return reduce(*this, std::move(axes), ops::ReduceKind::kNanMean, {ops::Finalize::kMean}, float_result(dtype()),
                split_every, keepdims, "nanmean");
}
Array Array::var(std::vector<int64_t> axes, double ddof, int split_every, bool keepdims) const {
  return reduce(*this, std::move(axes), ops::ReduceKind::kMoments, {ops::Finalize::kVar, 0, ddof},
                float_result(dtype()), split_every, keepdims, "var");
}
Array Array::std(std::vector<int64_t> axes, double ddof, int split_every, bool keepdims) const {
  return reduce(*this, std::move(axes), ops::ReduceKind::kMoments, {ops::Finalize::kStd, 0, ddof},
                float_result(dtype()), split_every, keepdims, "std");
}
Array Array::nanvar(std::vector<int64_t> axes, double ddof, int split_every, bool keepdims) const {
  const auto kind = dtype_is_float(dtype()) ? ops::ReduceKind::kNanMoments : ops::ReduceKind::kMoments;
  return reduce(*this, std::move(axes), kind, {ops::Finalize::kVar, 0, ddof}, float_result(dtype()), split_every,
                keepdims, "nanvar");
}
Array Array::nanstd(std::vector<int64_t> axes, double ddof, int split_every, bool keepdims) const {
  const auto kind = dtype_is_float(dtype()) ? ops::ReduceKind::kNanMoments : ops::ReduceKind::kMoments;
  return reduce(*this, std::move(axes), kind, {ops::Finalize::kStd, 0, ddof}, float_result(dtype()), split_every,
                keepdims, "nanstd");
}

namespace {
// One axis, or all of them flattened in C order (std::nullopt), as numpy.argmax's axis.
Array arg_reduce(const Array& a, std::optional<int64_t> axis, ops::ReduceKind kind, int split_every, bool keepdims,
                 const char* name) {
  std::vector<int64_t> axes;
  if (axis) axes.push_back(*axis);
  // On integers nothing is NaN: the nan forms are the plain ones.
  if (!dtype_is_float(a.dtype()) && kind == ops::ReduceKind::kNanArgMin) kind = ops::ReduceKind::kArgMin;
  if (!dtype_is_float(a.dtype()) && kind == ops::ReduceKind::kNanArgMax) kind = ops::ReduceKind::kArgMax;
  return reduce(a, std::move(axes), kind, {ops::Finalize::kIndex}, DType::kInt64, split_every, keepdims, name);
}
}  // namespace

Array Array::argmin(std::optional<int64_t> axis, int split_every, bool keepdims) const {
  return arg_reduce(*this, axis, ops::ReduceKind::kArgMin, split_every, keepdims, "argmin");
}
Array Array::argmax(std::optional<int64_t> axis, int split_every, bool keepdims) const {
  return arg_reduce(*this, axis, ops::ReduceKind::kArgMax, split_every, keepdims, "argmax");
}
Array Array::nanargmin(std::optional<int64_t> axis, int split_every, bool keepdims) const {
  return arg_reduce(*this, axis, ops::ReduceKind::kNanArgMin, split_every, keepdims, "nanargmin");
}
Array Array::nanargmax(std::optional<int64_t> axis, int split_every, bool keepdims) const {
  return arg_reduce(*this, axis, ops::ReduceKind::kNanArgMax, split_every, keepdims, "nanargmax");
}

}  // namespace rsdat
