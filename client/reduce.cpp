// Reductions along axes, as trees of partials, combines and a final step.
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <stdexcept>

#include "client/array_internal.hpp"

namespace rsdat {

using detail::add_leaf_deps;
using detail::BlockIndex;
using detail::expr_params;
using detail::make_node;
using detail::need;
using detail::Node;
using detail::NodePtr;

namespace {

std::vector<int64_t> normalize_axes(std::vector<int64_t> axes, size_t ndim) {
  if (axes.empty()) {
    axes.resize(ndim);
    std::iota(axes.begin(), axes.end(), 0);
  }
  for (auto& ax : axes) {
    if (ax < 0) ax += static_cast<int64_t>(ndim);
    if (ax < 0 || ax >= static_cast<int64_t>(ndim)) {
      throw std::invalid_argument("axis out of range for an array of " + std::to_string(ndim) + " dims");
    }
  }
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) throw std::invalid_argument("repeated axis");
  return axes;
}

// Builds the tree: partial per input block, combines of up to split_every partials,
// and the finalising step; returns the final array (reduced axes dropped).
Array reduce(const Array& a, std::vector<int64_t> axes_in, ops::ReduceKind kind, ops::FinalizeSpec fin, DType out_dtype,
             int split_every, const char* name) {
  const Node& in = need(a.node());
  if (split_every < 2) throw std::invalid_argument("split_every must be at least 2");
  const size_t nd = in.shape.size();
  const std::vector<int64_t> axes = normalize_axes(std::move(axes_in), nd);
  std::vector<bool> reduced(nd, false);
  for (int64_t ax : axes) reduced[ax] = true;
  for (int64_t ax : axes) {
    if (in.shape[ax] == 0 && !ops::has_identity(kind)) {
      throw std::invalid_argument(std::string(name) + ": zero-size axis has no identity");
    }
  }
  const bool moments = kind == ops::ReduceKind::kMoments;
  const DType pdt = ops::partial_dtype(kind, in.dtype);
  double count = 1;
  for (int64_t ax : axes) count *= static_cast<double>(in.shape[ax]);
  fin.count = count;

  // Final shape and chunks.
  Shape out_shape;
  Chunks out_chunks;
  for (size_t i = 0; i < nd; ++i) {
    if (!reduced[i]) {
      out_shape.push_back(in.shape[i]);
      out_chunks.push_back(in.chunks[i]);
    }
  }
  // A partial-level grid: kept axes as the input's, reduced axes with n blocks of 1.
  auto level_chunks = [&](const std::vector<int64_t>& nblocks) {
    Chunks c;
    if (moments) c.push_back({3});
    for (size_t i = 0; i < nd; ++i) c.push_back(reduced[i] ? std::vector<int64_t>(nblocks[i], 1) : in.chunks[i]);
    return c;
  };
  auto level_shape = [&](const Chunks& c) {
    Shape s;
    for (const auto& v : c) s.push_back(std::accumulate(v.begin(), v.end(), int64_t{0}));
    return s;
  };
  const size_t lead = moments ? 1 : 0;
  std::vector<int64_t> nblocks = detail::blocks_per_axis(in.chunks);
  bool single = std::all_of(axes.begin(), axes.end(), [&](int64_t ax) { return nblocks[ax] == 1; });

  // Maps a final block index to the index in a level grid (reduced axes at 0).
  auto to_level_block = [reduced, lead, nd](const BlockIndex& out_block) {
    BlockIndex b(lead, 0);
    size_t k = 0;
    for (size_t i = 0; i < nd; ++i) b.push_back(reduced[i] ? 0 : out_block[k++]);
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
  auto first_level = [&](std::shared_ptr<Node> n, std::string rparams, bool from_final) {
    n->inputs = fuse ? in.expr->leaves : std::vector<NodePtr>{a.node()};
    const Chunks in_chunks = in.chunks;
    const DType in_dtype = in.dtype;
    // Input axis d of a task's block follows this axis of the node's block (-1: 0).
    std::vector<int32_t> block_axes(nd);
    for (size_t d = 0, kept = 0; d < nd; ++d) {
      if (!from_final) {
        block_axes[d] = static_cast<int32_t>(lead + d);
      } else {
        block_axes[d] = reduced[d] ? -1 : static_cast<int32_t>(kept++);
      }
    }
    n->group = [=](const Node& self, TaskGroup& g) {
      if (!fuse) {
        g.op = ops::kReducePartial;
        g.params = {rparams};
        g.deps.push_back(DepPattern::mapped(0, block_axes));
        return;
      }
      g.op = ops::kReduceExprPartial;
      add_leaf_deps(leaf_axes, block_axes, g);
      // The kernel is told its input block's shape: one params entry per distinct shape.
      std::map<Shape, uint32_t> entry_of;
      const int64_t nb = detail::num_blocks(self.chunks);
      g.params_index.resize(static_cast<size_t>(nb));
      for (int64_t i = 0; i < nb; ++i) {
        BlockIndex b = detail::unravel_block(self.chunks, static_cast<uint64_t>(i));
        BlockIndex ib = to_input_block(from_final ? to_level_block(b) : b);
        auto [it, fresh] = entry_of.try_emplace(detail::block_shape(in_chunks, ib), static_cast<uint32_t>(g.params.size()));
        if (fresh) g.params.push_back(ops::reduce_expr_partial_params(eparams, in_dtype, it->first, rparams));
        g.params_index[static_cast<size_t>(i)] = it->second;
      }
      if (g.params.size() == 1) g.params_index.clear();
    };
  };
  if (single) {
    auto n = make_node(std::string(name), out_shape, out_chunks, out_dtype);
    first_level(n, ops::reduce_partial_params(kind, axes, fin), true);
    return Array(n);
  }

  Chunks pchunks = level_chunks(nblocks);
  auto partial = make_node(std::string(name) + "-partial", level_shape(pchunks), pchunks, pdt);
  first_level(partial, ops::reduce_partial_params(kind, axes, {}), false);
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
    } else {
      Chunks c = level_chunks(next);
      node = make_node(std::string(name) + "-combine", level_shape(c), c, pdt);
    }
    node->inputs = {prev};
    std::string params = ops::reduce_combine_params(kind, last ? fin : ops::FinalizeSpec{});
    // Each task reads the product of g blocks along every reduced axis of the level
    // below (fewer at its end); kept axes follow the task's own block.
    DepPattern pattern = DepPattern::mapped(0, std::vector<int32_t>(lead + nd, -1));
    for (size_t d = 0, kept = 0; d < nd; ++d) {
      const size_t j = lead + d;
      if (reduced[d]) {
        pattern.axis_map[j] = last ? -1 : static_cast<int32_t>(j);
        pattern.stride[j] = g;
        pattern.count[j] = static_cast<uint32_t>(g);
      } else {
        pattern.axis_map[j] = static_cast<int32_t>(last ? kept++ : j);
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
  Array Array::name(std::vector<int64_t> axes, int split_every) const {                        \
    return reduce(*this, std::move(axes), ops::ReduceKind::k##Tag, {ops::Finalize::kConvert},   \
                  ops::result_dtype(ops::ReduceKind::k##Tag, dtype()), split_every, #name);      \
  }
#include "rsdat/reductions.def"

Array Array::mean(std::vector<int64_t> axes, int split_every) const {
  return reduce(*this, std::move(axes), ops::ReduceKind::kSum, {ops::Finalize::kMean}, float_result(dtype()),
                split_every, "mean");
}
Array Array::count_nonzero(std::vector<int64_t> axes, int split_every) const {
  return not_equal(*this, 0).sum(std::move(axes), split_every);
}

Array Array::ptp(std::vector<int64_t> axes, int split_every) const {
  return max(axes, split_every) - min(axes, split_every);
}

Array Array::nanmean(std::vector<int64_t> axes, int split_every) const {
  if (!dtype_is_float(dtype())) return mean(std::move(axes), split_every);
  Array missing = isnan(*this);
  Array total = where(missing, 0.0, *this).sum(axes, split_every);
  // 1 per value that is not NaN (an expression of the values themselves, such as
  // 1 + 0 * x, would be NaN at infinities), counted in the values' dtype.
  Array count = (1.0 - missing).astype(dtype()).sum(axes, split_every);
  return total / count;
}
Array Array::var(std::vector<int64_t> axes, double ddof, int split_every) const {
  return reduce(*this, std::move(axes), ops::ReduceKind::kMoments, {ops::Finalize::kVar, 0, ddof},
                float_result(dtype()), split_every, "var");
}
Array Array::std(std::vector<int64_t> axes, double ddof, int split_every) const {
  return reduce(*this, std::move(axes), ops::ReduceKind::kMoments, {ops::Finalize::kStd, 0, ddof},
                float_result(dtype()), split_every, "std");
}


}  // namespace rsdat
