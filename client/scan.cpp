// Scans along an axis as reduce-then-scan (see rsdat/scan.hpp), and differences.
#include "rsdat/scan.hpp"

#include <map>
#include <stdexcept>
#include <string>
#include <utility>

#include "client/array_internal.hpp"
#include "ops/scan.hpp"
#include "rsdat/shape.hpp"

namespace rsdat {

using detail::add_leaf_deps;
using detail::BlockIndex;
using detail::make_node;
using detail::need;
using detail::Node;
using detail::NodePtr;

namespace {

int64_t normalize_axis(int64_t axis, size_t ndim, const char* name) {
  const int64_t nd = static_cast<int64_t>(ndim);
  if (axis < -nd || axis >= nd) {
    throw std::invalid_argument(std::string(name) + ": axis " + std::to_string(axis) +
                                " is out of bounds for array of dimension " + std::to_string(ndim));
  }
  return axis < 0 ? axis + nd : axis;
}

std::vector<int32_t> identity_axes(size_t nd) {
  std::vector<int32_t> axes(nd);
  for (size_t d = 0; d < nd; ++d) axes[d] = static_cast<int32_t>(d);
  return axes;
}

// Whether a scan evaluates `n`'s expression inside its own tasks: the float and bool
// ones, computed in floats as the fused reductions do (an integer program is exact
// only in the elementwise kernel's integer mode, so it is read as stored).
bool fuses(const Node& n) {
  return n.expr.has_value() && !n.persisted && (dtype_is_float(n.dtype) || n.dtype == DType::kBool);
}

// The inputs of a group whose block b reads block b of `in`: in's leaves when its
// producer is fused in, else in itself.
std::vector<NodePtr> block_inputs(const NodePtr& in) {
  return fuses(*in) ? in->expr->leaves : std::vector<NodePtr>{in};
}

// A group's params table with one entry per distinct key of its blocks.
template <typename KeyOf, typename ParamsOf>
void params_by_block(const Node& self, TaskGroup& g, KeyOf key_of, ParamsOf params_of) {
  using Key = decltype(key_of(BlockIndex{}));
  std::map<Key, uint32_t> entry_of;
  const int64_t nb = detail::num_blocks(self.chunks);
  g.params_index.resize(static_cast<size_t>(nb));
  for (int64_t i = 0; i < nb; ++i) {
    const BlockIndex b = detail::unravel_block(self.chunks, static_cast<uint64_t>(i));
    const Key k = key_of(b);
    auto [it, fresh] = entry_of.try_emplace(k, static_cast<uint32_t>(g.params.size()));
    if (fresh) g.params.push_back(params_of(b));
    g.params_index[static_cast<size_t>(i)] = it->second;
  }
  if (g.params.size() == 1) g.params_index.clear();
}

// Pass 1: the totals of blocks 0 .. nb-2 along `axis` (the last one's is never needed),
// each a slab of dtype partial_dtype(kind).
NodePtr block_totals(const NodePtr& in, int64_t axis, ops::ReduceKind kind, const char* name) {
  const size_t nd = in->shape.size();
  const int64_t nb = static_cast<int64_t>(in->chunks[static_cast<size_t>(axis)].size());
  Chunks chunks = in->chunks;
  chunks[static_cast<size_t>(axis)] = std::vector<int64_t>(static_cast<size_t>(nb - 1), 1);
  Shape shape = in->shape;
  shape[static_cast<size_t>(axis)] = nb - 1;
  auto n = make_node(std::string(name) + "-totals", shape, chunks, ops::partial_dtype(kind, in->dtype));
  n->inputs = block_inputs(in);
  const bool fuse = fuses(*in);
  const std::string rparams = ops::reduce_partial_params(kind, {axis}, {});
  const std::string eparams = fuse ? detail::expr_params(*in->expr, in->dtype) : std::string();
  const auto leaf_axes = fuse ? in->expr->axes : std::vector<std::vector<int32_t>>{};
  const Chunks in_chunks = in->chunks;
  const DType in_dtype = in->dtype;
  n->group = [=](const Node& self, TaskGroup& g) {
    if (!fuse) {
      g.op = ops::kReducePartial;
      g.params = {rparams};
      g.deps.push_back(DepPattern::mapped(0, identity_axes(nd)));
      return;
    }
    g.op = ops::kReduceExprPartial;
    add_leaf_deps(leaf_axes, identity_axes(nd), g);
    auto shape_of = [&](const BlockIndex& b) { return detail::block_shape(in_chunks, b); };
    params_by_block(self, g, shape_of, [&](const BlockIndex& b) {
      return ops::reduce_expr_partial_params(eparams, in_dtype, shape_of(b), rparams);
    });
  };
  return n;
}

// One combine of slabs: reduce_combine of `kind` over the patterns' blocks, in order.
void combine_group(TaskGroup& g, ops::ReduceKind kind, std::vector<DepPattern> deps) {
  g.op = ops::kReduceCombine;
  g.params = {ops::reduce_combine_params(kind, {})};
  g.deps = std::move(deps);
}

// Pass 2's carries: the inclusive prefix of the totals along `axis`, block k holding the
// combined totals of blocks 0 .. k, as a chain of one combine per block.
NodePtr prefix_sequential(const NodePtr& totals, int64_t axis, ops::ReduceKind kind, const char* name) {
  const size_t nd = totals->shape.size();
  const size_t ax = static_cast<size_t>(axis);
  const int64_t nt = totals->shape[ax];
  if (nt == 1) return totals;
  // carry_0 is total_0 (a slab copied, so that every carry keeps the totals' grid);
  // carry_k combines carry_{k-1} with total_k: a chain.
  Chunks one = totals->chunks;
  one[ax] = {1};
  Shape slab = totals->shape;
  slab[ax] = 1;
  std::vector<Array> carries;
  for (int64_t k = 0; k < nt; ++k) {
    auto n = make_node(std::string(name) + "-carry", slab, one, totals->dtype);
    n->inputs = {totals};
    if (k > 0) n->inputs.push_back(carries.back().node());
    n->group = [=](const Node&, TaskGroup& g) {
      DepPattern total = DepPattern::mapped(0, identity_axes(nd));
      total.axis_map[ax] = -1;
      total.start[ax] = k;
      std::vector<DepPattern> deps{total};
      if (k > 0) deps.insert(deps.begin(), DepPattern::mapped(1, identity_axes(nd)));
      combine_group(g, kind, std::move(deps));
    };
    carries.push_back(Array(n));
  }
  return concatenate(carries, axis).node();
}

// The same prefix as a log-depth tree (Hillis and Steele): ceil(log2 n) levels of n
// combines, each reading at most two slabs.
NodePtr prefix_log_depth(const NodePtr& totals, int64_t axis, ops::ReduceKind kind, const char* name) {
  const size_t nd = totals->shape.size();
  const size_t ax = static_cast<size_t>(axis);
  const int64_t nt = totals->shape[ax];
  NodePtr level = totals;
  // Level j: block k combines blocks k - 2^j (when there is one) and k of level j - 1.
  for (int64_t step = 1; step < nt; step *= 2) {
    auto n = make_node(std::string(name) + "-prefix", totals->shape, totals->chunks, totals->dtype);
    n->inputs = {level};
    n->group = [=](const Node&, TaskGroup& g) {
      DepPattern before = DepPattern::mapped(0, identity_axes(nd));
      before.start[ax] = -step;  // outside the grid for k < step: skipped
      combine_group(g, kind, {before, DepPattern::mapped(0, identity_axes(nd))});
    };
    level = n;
  }
  return level;
}

// Pass 2: each block of `in` scanned from the carry of block k - 1 (none for block 0).
Array scan_blocks(const NodePtr& in, const NodePtr& carries, int64_t axis, ops::ReduceKind kind, DType out,
                  const char* name) {
  const size_t nd = in->shape.size();
  const size_t ax = static_cast<size_t>(axis);
  auto n = make_node(name, in->shape, in->chunks, out);
  n->inputs = block_inputs(in);
  const bool fuse = fuses(*in);
  const uint32_t carry_input = static_cast<uint32_t>(n->inputs.size());
  if (carries) n->inputs.push_back(carries);
  const std::string eparams = fuse ? detail::expr_params(*in->expr, in->dtype) : std::string();
  const auto leaf_axes = fuse ? in->expr->axes : std::vector<std::vector<int32_t>>{};
  const Chunks in_chunks = in->chunks;
  const DType in_dtype = in->dtype;
  const bool has_carries = carries != nullptr;
  n->group = [=](const Node& self, TaskGroup& g) {
    g.op = ops::kScanBlock;
    if (fuse) {
      add_leaf_deps(leaf_axes, identity_axes(nd), g);
    } else {
      g.deps.push_back(DepPattern::mapped(0, identity_axes(nd)));
    }
    if (has_carries) {
      DepPattern carry = DepPattern::mapped(carry_input, identity_axes(nd));
      carry.start[ax] = -1;  // block k reads carry k - 1; block 0 none
      g.deps.push_back(carry);
    }
    auto key_of = [&](const BlockIndex& b) {
      return std::make_pair(fuse ? detail::block_shape(in_chunks, b) : Shape{}, has_carries && b[ax] > 0);
    };
    params_by_block(self, g, key_of, [&](const BlockIndex& b) {
      const auto [block, carry] = key_of(b);
      return ops::scan_block_params(kind, axis, carry, eparams, in_dtype, block);
    });
  };
  return Array(n);
}

bool accumulates(ops::ReduceKind kind) { return kind != ops::ReduceKind::kMax && kind != ops::ReduceKind::kMin; }

Array scan(const Array& a, std::optional<int64_t> axis_in, ops::ReduceKind kind, std::optional<DType> dtype,
           ScanMethod method, const char* name) {
  need(a.node());
  // A 0-d array scans as one element, along axis 0 or -1 (numpy.cumsum's ravel).
  Array x = axis_in && a.ndim() > 0 ? a : ravel(a);
  const int64_t axis = normalize_axis(axis_in.value_or(0), x.ndim(), name);
  if (dtype && *dtype != x.dtype()) x = x.astype(*dtype);
  const DType out = dtype ? *dtype : accumulates(kind) ? ops::result_dtype(ops::ReduceKind::kSum, x.dtype()) : x.dtype();
  if (!dtype_is_float(x.dtype()) && kind == ops::ReduceKind::kNanSum) kind = ops::ReduceKind::kSum;
  if (!dtype_is_float(x.dtype()) && kind == ops::ReduceKind::kNanProd) kind = ops::ReduceKind::kProd;
  const NodePtr& in = x.node();
  const int64_t nb = static_cast<int64_t>(in->chunks[static_cast<size_t>(axis)].size());
  NodePtr carries;
  if (nb > 1) {
    NodePtr totals = block_totals(in, axis, kind, name);
    carries = method == ScanMethod::kSequential ? prefix_sequential(totals, axis, kind, name)
                                                : prefix_log_depth(totals, axis, kind, name);
  }
  return scan_blocks(in, carries, axis, kind, out, name);
}

}  // namespace

Array cumsum(const Array& a, std::optional<int64_t> axis, std::optional<DType> dtype, ScanMethod method) {
  return scan(a, axis, ops::ReduceKind::kSum, dtype, method, "cumsum");
}
Array cumprod(const Array& a, std::optional<int64_t> axis, std::optional<DType> dtype, ScanMethod method) {
  return scan(a, axis, ops::ReduceKind::kProd, dtype, method, "cumprod");
}
Array nancumsum(const Array& a, std::optional<int64_t> axis, std::optional<DType> dtype, ScanMethod method) {
  return scan(a, axis, ops::ReduceKind::kNanSum, dtype, method, "nancumsum");
}
Array nancumprod(const Array& a, std::optional<int64_t> axis, std::optional<DType> dtype, ScanMethod method) {
  return scan(a, axis, ops::ReduceKind::kNanProd, dtype, method, "nancumprod");
}
Array cummax(const Array& a, std::optional<int64_t> axis, ScanMethod method) {
  return scan(a, axis, ops::ReduceKind::kMax, std::nullopt, method, "cummax");
}
Array cummin(const Array& a, std::optional<int64_t> axis, ScanMethod method) {
  return scan(a, axis, ops::ReduceKind::kMin, std::nullopt, method, "cummin");
}

namespace {

// a along `axis` from `start` to `stop` (a[..., start:stop, ...]).
Array slice_axis(const Array& a, size_t axis, RangeBound start, RangeBound stop) {
  std::vector<Index> idx(a.ndim(), All{});
  idx[axis] = range(start, stop);
  return view(a, idx);
}

}  // namespace

Array diff(const Array& a, int64_t n, int64_t axis_in, std::optional<Array> prepend, std::optional<Array> append) {
  const Node& in = need(a.node());
  if (n < 0) throw std::invalid_argument("diff: order must be non-negative but got " + std::to_string(n));
  if (in.shape.empty()) throw std::invalid_argument("diff: diff requires input that is at least one dimensional");
  const size_t axis = static_cast<size_t>(normalize_axis(axis_in, in.shape.size(), "diff"));
  if (n == 0) return a;
  // A 0-d prepend or append is one slice of its value, as NumPy broadcasts it.
  auto slices = [&](const Array& e) {
    if (!need(e.node()).shape.empty()) return e;
    Shape slab = in.shape;
    slab[axis] = 1;
    return broadcast_to(e, slab);
  };
  std::vector<Array> parts;
  if (prepend) parts.push_back(slices(*prepend));
  parts.push_back(a);
  if (append) parts.push_back(slices(*append));
  Array x = parts.size() == 1 ? a : concatenate(parts, static_cast<int64_t>(axis));
  const bool boolean = x.dtype() == DType::kBool;
  for (int64_t k = 0; k < n; ++k) {
    Array hi = slice_axis(x, axis, 1, _), lo = slice_axis(x, axis, 0, -1);
    x = boolean ? not_equal(hi, lo) : subtract(hi, lo);
  }
  return x;
}

Array ediff1d(const Array& a, std::optional<Array> to_end, std::optional<Array> to_begin) {
  const Node& in = need(a.node());
  if (in.dtype == DType::kBool) {
    throw std::invalid_argument("ediff1d: numpy boolean subtract, the `-` operator, is not supported");
  }
  Array flat = ravel(a);
  Array d = diff(flat);
  std::vector<Array> parts;
  if (to_begin) parts.push_back(ravel(*to_begin).astype(in.dtype));
  parts.push_back(d);
  if (to_end) parts.push_back(ravel(*to_end).astype(in.dtype));
  return parts.size() == 1 ? d : concatenate(parts, 0);
}

}  // namespace rsdat
