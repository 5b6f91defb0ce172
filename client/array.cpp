#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <map>
#include <numeric>
#include <stdexcept>

#include "client/array_internal.hpp"
#include "client/client_internal.hpp"

namespace rsdat {

using detail::BlockIndex;
using detail::Node;
using detail::NodePtr;
using ops::Instr;
using ops::Instruction;

namespace {

const Node& need(const std::shared_ptr<const Node>& n) {
  if (!n) throw std::invalid_argument("operation on an empty rsdat::Array");
  return *n;
}

using detail::make_node;

// ---- creation ---------------------------------------------------------------

Array filled(const Shape& shape, const Shape& chunk_shape, double value, DType dtype, const char* name) {
  auto n = make_node(name, shape, detail::regular_chunks(shape, chunk_shape), dtype);
  std::string params = ops::fill_params(value);
  n->group = [params](const Node&, TaskGroup& g) {
    g.op = ops::kFill;
    g.params = {params};
  };
  return Array(n);
}

// ---- elementwise ------------------------------------------------------------

// The fusable form of an array: its own program, or a load of itself.
detail::ExprInfo expr_of(const NodePtr& n) {
  if (n->expr) return *n->expr;
  if (n->transpose_of) return {{n->transpose_of}, {true}, {{Instr::kLoadT, 0}}};
  return {{n}, {false}, {{Instr::kLoad, 0}}};
}

// Appends b's program to a's, sharing leaves.
void append_expr(detail::ExprInfo& a, const detail::ExprInfo& b) {
  std::vector<int> remap(b.leaves.size());
  for (size_t i = 0; i < b.leaves.size(); ++i) {
    size_t found = a.leaves.size();
    for (size_t j = 0; j < a.leaves.size(); ++j) {
      if (a.leaves[j]->token == b.leaves[i]->token && a.transposed[j] == b.transposed[i]) found = j;
    }
    if (found == a.leaves.size()) {
      a.leaves.push_back(b.leaves[i]);
      a.transposed.push_back(b.transposed[i]);
    }
    remap[i] = static_cast<int>(found);
  }
  for (Instruction ins : b.program) {
    if (ins.op == Instr::kLoad || ins.op == Instr::kLoadT) ins.arg = remap[static_cast<size_t>(ins.arg)];
    a.program.push_back(ins);
  }
}

bool small_type(DType t) { return t == DType::kFloat32 || (dtype_size(t) <= 2); }

// The elementwise kernel's params for `expr` producing `dtype`: computed in float32 when
// the result and every input fit in it.
std::string expr_params(const detail::ExprInfo& expr, DType dtype) {
  bool f32 = dtype == DType::kFloat32 &&
             std::all_of(expr.leaves.begin(), expr.leaves.end(), [](const NodePtr& l) { return small_type(l->dtype); });
  return ops::elementwise_params(f32 ? DType::kFloat32 : DType::kFloat64, expr.program);
}

// The patterns of an expression's leaves (the group's inputs) read at one block of a
// grid whose input-block axis d follows group axis block_axes[d] (-1: block 0).
void add_leaf_deps(const std::vector<bool>& transposed, const std::vector<int32_t>& block_axes, TaskGroup& g) {
  for (size_t i = 0; i < transposed.size(); ++i) {
    g.deps.push_back(DepPattern::mapped(static_cast<uint32_t>(i), transposed[i]
                                                                      ? std::vector<int32_t>{block_axes[1], block_axes[0]}
                                                                      : block_axes));
  }
}

std::vector<int32_t> identity_axes(size_t nd) {
  std::vector<int32_t> axes(nd);
  for (size_t d = 0; d < nd; ++d) axes[d] = static_cast<int32_t>(d);
  return axes;
}

Array from_expr(std::string name, const Node& like, detail::ExprInfo expr, DType dtype) {
  auto n = make_node(std::move(name), like.shape, like.chunks, dtype);
  std::string params = expr_params(expr, dtype);
  n->inputs = expr.leaves;
  n->group = [params, transposed = expr.transposed](const Node& self, TaskGroup& g) {
    g.op = ops::kElementwise;
    g.params = {params};
    add_leaf_deps(transposed, identity_axes(self.chunks.size()), g);
  };
  n->expr = std::move(expr);
  return Array(n);
}

DType arith_type(DType a, DType b, Instr op) {
  DType t = promote(a, b);
  if (op == Instr::kDiv && !dtype_is_float(t)) return DType::kFloat64;
  if (t == DType::kBool && (op == Instr::kSub || op == Instr::kAdd || op == Instr::kMul)) return DType::kInt64;
  return t;
}

// A Python-scalar operand: keeps the array's dtype unless it needs floats.
DType scalar_type(DType a, double s, Instr op) {
  if (op == Instr::kDiv) return dtype_is_float(a) ? a : DType::kFloat64;
  if (dtype_is_float(a)) return a;
  if (std::floor(s) != s) return DType::kFloat64;
  return a == DType::kBool ? DType::kInt64 : a;
}

const char* instr_name(Instr op) {
  switch (op) {
    case Instr::kAdd: return "add";
    case Instr::kSub: return "subtract";
    case Instr::kMul: return "multiply";
    case Instr::kDiv: return "divide";
    case Instr::kMinimum: return "minimum";
    case Instr::kMaximum: return "maximum";
    default: return "elementwise";
  }
}

Array binary(const Array& a, const Array& b, Instr op) {
  const Node& na = need(a.node());
  const Node& nb = need(b.node());
  if (na.shape != nb.shape) {
    throw std::invalid_argument(std::string(instr_name(op)) + ": shapes " + shape_to_string(na.shape) + " and " +
                                shape_to_string(nb.shape) + " differ (broadcasting is not supported)");
  }
  Array bb = nb.chunks == na.chunks ? b : b.rechunk(na.chunks);
  detail::ExprInfo e = expr_of(a.node());
  append_expr(e, expr_of(bb.node()));
  e.program.push_back({op, 0});
  return from_expr(instr_name(op), na, std::move(e), arith_type(na.dtype, nb.dtype, op));
}

Array with_scalar(const Array& a, double s, Instr op, bool scalar_first) {
  const Node& na = need(a.node());
  detail::ExprInfo e = expr_of(a.node());
  if (scalar_first) {
    detail::ExprInfo c{{}, {}, {{Instr::kConst, s}}};
    append_expr(c, e);
    e = std::move(c);
  } else {
    e.program.push_back({Instr::kConst, s});
  }
  e.program.push_back({op, 0});
  return from_expr(instr_name(op), na, std::move(e), scalar_type(na.dtype, s, op));
}

Array unary(const Array& a, Instr op, const char* name, bool to_float) {
  const Node& na = need(a.node());
  detail::ExprInfo e = expr_of(a.node());
  e.program.push_back({op, 0});
  DType t = na.dtype;
  if (to_float && !dtype_is_float(t)) t = DType::kFloat64;
  if (!to_float && t == DType::kBool) t = DType::kInt64;
  return from_expr(name, na, std::move(e), t);
}

// ---- reductions -------------------------------------------------------------

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

DType partial_dtype(ops::ReduceKind kind, DType in) {
  switch (kind) {
    case ops::ReduceKind::kSum: return dtype_is_float(in) ? DType::kFloat64 : DType::kInt64;
    case ops::ReduceKind::kMoments: return DType::kFloat64;
    default: return in;
  }
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
    if (in.shape[ax] == 0 && (kind == ops::ReduceKind::kMin || kind == ops::ReduceKind::kMax)) {
      throw std::invalid_argument(std::string(name) + ": zero-size axis has no identity");
    }
  }
  const bool moments = kind == ops::ReduceKind::kMoments;
  const DType pdt = partial_dtype(kind, in.dtype);
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
  std::vector<bool> transposed = fuse ? in.expr->transposed : std::vector<bool>{};
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
      add_leaf_deps(transposed, block_axes, g);
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

DType sum_result(DType t) {
  if (dtype_is_float(t)) return t;
  if (t >= DType::kUInt8 && t <= DType::kUInt64) return DType::kUInt64;
  return DType::kInt64;
}

}  // namespace

// ---- Array accessors --------------------------------------------------------

const Shape& Array::shape() const { return need(node_).shape; }
const Chunks& Array::chunks() const { return need(node_).chunks; }
DType Array::dtype() const { return need(node_).dtype; }
int64_t Array::size() const { return shape_size(shape()); }
uint64_t Array::nbytes() const { return static_cast<uint64_t>(size()) * dtype_size(dtype()); }
int64_t Array::num_chunks() const { return detail::num_blocks(chunks()); }
const std::string& Array::name() const { return need(node_).name; }
const std::vector<std::string>& Array::dims() const { return need(node_).dims; }

Array Array::astype(DType t) const {
  const Node& n = need(node_);
  if (t == n.dtype) return *this;
  detail::ExprInfo e = expr_of(node_);
  e.program.push_back({Instr::kCast, static_cast<double>(static_cast<int>(t))});
  return from_expr("astype", n, std::move(e), t);
}

Array Array::transpose(std::vector<int64_t> axes) const {
  const Node& in = need(node_);
  const size_t nd = in.shape.size();
  if (axes.empty()) {
    axes.resize(nd);
    for (size_t i = 0; i < nd; ++i) axes[i] = static_cast<int64_t>(nd - 1 - i);
  }
  if (axes.size() != nd) throw std::invalid_argument("transpose: axes do not match the array's dims");
  std::vector<bool> seen(nd, false);
  for (auto& ax : axes) {
    if (ax < 0) ax += static_cast<int64_t>(nd);
    if (ax < 0 || ax >= static_cast<int64_t>(nd) || seen[ax]) throw std::invalid_argument("transpose: bad axes");
    seen[ax] = true;
  }
  bool identity = true;
  for (size_t i = 0; i < nd; ++i) identity = identity && axes[i] == static_cast<int64_t>(i);
  if (identity) return *this;
  Shape shape(nd);
  Chunks chunks(nd);
  for (size_t i = 0; i < nd; ++i) {
    shape[i] = in.shape[axes[i]];
    chunks[i] = in.chunks[axes[i]];
  }
  auto n = make_node("transpose", shape, chunks, in.dtype);
  n->inputs = {node_};
  if (nd == 2) n->transpose_of = node_;
  std::string params = ops::transpose_params(axes);
  std::vector<int32_t> src_axes(nd);
  for (size_t i = 0; i < nd; ++i) src_axes[axes[i]] = static_cast<int32_t>(i);
  n->group = [params, src_axes](const Node&, TaskGroup& g) {
    g.op = ops::kTranspose;
    g.params = {params};
    g.deps.push_back(DepPattern::mapped(0, src_axes));
  };
  return Array(n);
}

Array Array::sum(std::vector<int64_t> axes, int split_every) const {
  return reduce(*this, std::move(axes), ops::ReduceKind::kSum, {ops::Finalize::kSum}, sum_result(dtype()), split_every,
                "sum");
}
Array Array::mean(std::vector<int64_t> axes, int split_every) const {
  return reduce(*this, std::move(axes), ops::ReduceKind::kSum, {ops::Finalize::kMean}, float_result(dtype()),
                split_every, "mean");
}
Array Array::nanmean(std::vector<int64_t> axes, int split_every) const {
  if (!dtype_is_float(dtype())) return mean(std::move(axes), split_every);
  Array missing = isnan(*this);
  Array total = where(missing, 0.0, *this).sum(axes, split_every);
  Array count = where(missing, 0.0, 1.0 + 0.0 * *this).sum(axes, split_every);
  return total / count;
}
Array Array::min(std::vector<int64_t> axes, int split_every) const {
  return reduce(*this, std::move(axes), ops::ReduceKind::kMin, {ops::Finalize::kMin}, dtype(), split_every, "min");
}
Array Array::max(std::vector<int64_t> axes, int split_every) const {
  return reduce(*this, std::move(axes), ops::ReduceKind::kMax, {ops::Finalize::kMax}, dtype(), split_every, "max");
}
Array Array::var(std::vector<int64_t> axes, double ddof, int split_every) const {
  return reduce(*this, std::move(axes), ops::ReduceKind::kMoments, {ops::Finalize::kVar, 0, ddof},
                float_result(dtype()), split_every, "var");
}
Array Array::std(std::vector<int64_t> axes, double ddof, int split_every) const {
  return reduce(*this, std::move(axes), ops::ReduceKind::kMoments, {ops::Finalize::kStd, 0, ddof},
                float_result(dtype()), split_every, "std");
}

Array Array::rechunk(std::vector<int64_t> chunk_shape) const {
  return rechunk(detail::regular_chunks(shape(), chunk_shape));
}

namespace {

// Blocks of `target` built by copying the overlapping parts of `input`'s blocks,
// converted to `dtype`.
Array rechunk_direct(const NodePtr& input, const Chunks& target, DType dtype);

// The float array `n` is a plain float-to-float astype of, if it is one: a rechunk
// then converts as it copies (the same conversion), and the astype is never stored.
NodePtr float_cast_source(const Node& n) {
  if (!n.expr || n.expr->leaves.size() != 1 || n.expr->program.size() != 2) return nullptr;
  const auto& prog = n.expr->program;
  const NodePtr& leaf = n.expr->leaves[0];
  if (prog[0].op != Instr::kLoad || prog[0].arg != 0 || prog[1].op != Instr::kCast || n.expr->transposed[0]) {
    return nullptr;
  }
  return dtype_is_float(leaf->dtype) && dtype_is_float(n.dtype) ? leaf : nullptr;
}

std::vector<int64_t> boundaries(const std::vector<int64_t>& chunks) {
  std::vector<int64_t> b{0};
  for (int64_t c : chunks) b.push_back(b.back() + c);
  return b;
}

// The chunks of the grid cut by both `a`'s and `b`'s boundaries along one axis.
std::vector<int64_t> common_refinement(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  std::vector<int64_t> ba = boundaries(a), bb = boundaries(b), cuts;
  std::set_union(ba.begin(), ba.end(), bb.begin(), bb.end(), std::back_inserter(cuts));
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  std::vector<int64_t> out;
  for (size_t i = 1; i < cuts.size(); ++i) out.push_back(cuts[i] - cuts[i - 1]);
  if (out.empty()) out = a;  // a zero-length axis
  return out;
}

double mean_chunk(const std::vector<int64_t>& chunks) {
  int64_t total = 0;
  for (int64_t c : chunks) total += c;
  return chunks.empty() ? 0.0 : static_cast<double>(total) / static_cast<double>(chunks.size());
}

}  // namespace

// Pieces smaller than this are not worth a task and a transfer of their own: the
// intermediate grid of a two-stage rechunk is coarsened until its pieces reach it.
constexpr double kMinRechunkPieceBytes = 1 << 18;

Chunks detail::rechunk_intermediate(const Chunks& from, const Chunks& to, size_t itemsize) {
  Chunks mid(from.size());
  for (size_t i = 0; i < from.size(); ++i) mid[i] = common_refinement(from[i], to[i]);
  // Coarsen from the last axis inwards, joining neighbouring pieces of the same input
  // block (then a piece is read by several outputs): the last axes first, so pieces
  // stay long contiguous runs of their input block.
  for (size_t k = mid.size(); k-- > 0;) {
    double piece = static_cast<double>(itemsize);
    for (const auto& c : mid) piece *= mean_chunk(c);
    if (piece >= kMinRechunkPieceBytes) break;
    const double factor = std::ceil(kMinRechunkPieceBytes / piece);
    const double target = mean_chunk(mid[k]) * factor;
    std::vector<int64_t> joined;
    std::vector<int64_t> cuts = boundaries(from[k]);
    size_t next_cut = 1;
    int64_t pos = 0, run = 0;
    for (int64_t c : mid[k]) {
      run += c;
      pos += c;
      const bool at_cut = next_cut < cuts.size() && pos == cuts[next_cut];
      if (at_cut) ++next_cut;
      if (at_cut || static_cast<double>(run) >= target) {
        joined.push_back(run);
        run = 0;
      }
    }
    if (run > 0) joined.push_back(run);
    mid[k] = std::move(joined);
  }
  return mid;
}

Array Array::rechunk(const Chunks& target) const {
  const Node& in = need(node_);
  if (target == in.chunks) return *this;
  if (target.size() != in.shape.size()) throw std::invalid_argument("rechunk: chunks do not match the array's dims");
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t total = 0;
    for (int64_t c : target[i]) {
      if (c < 0 || (c == 0 && in.shape[i] != 0)) throw std::invalid_argument("rechunk: chunk sizes must be positive");
      total += c;
    }
    if (total != in.shape[i]) throw std::invalid_argument("rechunk: chunks along an axis must add up to its length");
  }
  // When blocks are both split and merged (each output drawing small parts of many
  // inputs), the inputs are first cut into pieces on the grid both chunkings share.
  // Each output then gathers only the pieces it needs, not its inputs whole: fewer
  // bytes moved between workers, and inputs released once cut.
  NodePtr source = node_;
  if (NodePtr cast_of = float_cast_source(in); cast_of && cast_of->chunks == in.chunks) source = cast_of;
  Chunks mid = detail::rechunk_intermediate(in.chunks, target, dtype_size(in.dtype));
  if (mid != in.chunks && mid != target) {
    return rechunk_direct(rechunk_direct(source, mid, in.dtype).node(), target, in.dtype);
  }
  return rechunk_direct(source, target, in.dtype);
}

namespace {

Array rechunk_direct(const NodePtr& input, const Chunks& target, DType dtype) {
  const Node& in = *input;
  auto n = make_node("rechunk", in.shape, target, dtype);
  n->inputs = {input};
  // Per axis, the input blocks' offsets, to find overlaps by search.
  std::vector<std::vector<int64_t>> in_starts(in.chunks.size());
  for (size_t i = 0; i < in.chunks.size(); ++i) {
    int64_t off = 0;
    for (int64_t c : in.chunks[i]) {
      in_starts[i].push_back(off);
      off += c;
    }
  }
  n->lower = [in_starts](const Node& self, const BlockIndex& b, TaskSpec& t) {
    const Node& src = *self.inputs[0];
    Shape off = detail::block_offset(self.chunks, b);
    Shape shp = detail::block_shape(self.chunks, b);
    const size_t nd = b.size();
    std::vector<int64_t> lo(nd), hi(nd);
    for (size_t i = 0; i < nd; ++i) {
      const auto& st = in_starts[i];
      lo[i] = std::upper_bound(st.begin(), st.end(), off[i]) - st.begin() - 1;
      int64_t end = off[i] + std::max<int64_t>(shp[i], 1);
      hi[i] = std::lower_bound(st.begin(), st.end(), end) - st.begin();
      if (lo[i] < 0) lo[i] = 0;
      if (hi[i] <= lo[i]) hi[i] = lo[i] + 1;
    }
    std::vector<std::vector<int64_t>> in_offsets;
    BlockIndex cur = lo;
    while (true) {
      t.deps.push_back(detail::key_of(src, cur));
      std::vector<int64_t> o(nd);
      for (size_t i = 0; i < nd; ++i) o[i] = in_starts[i][cur[i]];
      in_offsets.push_back(std::move(o));
      size_t k = nd;
      while (k-- > 0) {
        if (++cur[k] < hi[k]) break;
        cur[k] = lo[k];
      }
      if (k == static_cast<size_t>(-1)) break;
    }
    t.op = ops::kAssemble;
    t.params = ops::assemble_params(off, in_offsets);
  };
  return Array(n);
}

}  // namespace

// ---- compute ----------------------------------------------------------------

namespace {
Client& client_or_default(Client* c) {
  if (c) return *c;
  Client* d = Client::current();
  if (!d) throw ClusterError("no rsdat::Client: create one (or a LocalCluster and a Client) before compute()");
  return *d;
}

template <typename From, typename To>
void convert_block(const From* src, To* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<To>(src[i]);
}
}  // namespace

Array Array::persist(Client* c) const {
  const Node& n = need(node_);
  if (n.persisted) return *this;
  Client& client = client_or_default(c);
  std::vector<TaskKey> keys = detail::all_keys(n);
  (void)client.impl().run(detail::lower_parts(n), keys);
  auto p = std::make_shared<Node>();
  p->token = n.token;
  p->name = n.name;
  p->shape = n.shape;
  p->chunks = n.chunks;
  p->dtype = n.dtype;
  p->persisted = std::make_shared<detail::PersistHandle>();
  p->persisted->client = &client;
  p->persisted->keys = std::move(keys);
  return Array(p);
}

// compute() results up to this size travel inline, with their KeysReady.
constexpr uint64_t kInlineResultTotal = 1 << 20;

void Array::compute_into(Client* c, DType as, void* out) const {
  const Node& n = need(node_);
  Client& client = client_or_default(c);
  std::vector<TaskKey> keys = detail::all_keys(n);
  // A small result comes back with the message that says it is ready. Not a large
  // one: the scheduler would relay its bytes.
  const uint64_t result_bytes = static_cast<uint64_t>(shape_size(n.shape)) * dtype_size(n.dtype);
  const uint64_t inline_bytes = result_bytes <= kInlineResultTotal ? result_bytes : 0;
  auto where = client.impl().run(n.persisted ? std::vector<GraphPart>{} : detail::lower_parts(n), keys, inline_bytes);
  std::vector<Chunk> chunks;
  try {
    chunks = client.impl().gather(keys, where);
  } catch (...) {
    if (!n.persisted) client.impl().release(keys);
    throw;
  }
  if (!n.persisted) client.impl().release(keys);
  const size_t nd = n.shape.size();
  const Shape strides = c_strides(n.shape);
  const size_t out_size = dtype_size(as);
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& ch = chunks[i];
    BlockIndex b = detail::unravel_block(n.chunks, i);
    Shape off = detail::block_offset(n.chunks, b);
    Shape shp = detail::block_shape(n.chunks, b);
    if (ch.shape != shp) throw ClusterError("chunk " + keys[i].to_string() + " came back with a wrong shape");
    if (shape_size(shp) == 0) continue;
    const int64_t row = nd == 0 ? 1 : shp[nd - 1];
    const int64_t rows = shape_size(shp) / row;
    std::vector<int64_t> idx(nd == 0 ? 0 : nd - 1, 0);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t dst = 0;
      for (size_t k = 0; k + 1 < nd; ++k) dst += (off[k] + idx[k]) * strides[k];
      if (nd > 0) dst += off[nd - 1];
      const uint8_t* src = ch.bytes() + static_cast<size_t>(r * row) * dtype_size(ch.dtype);
      uint8_t* to = static_cast<uint8_t*>(out) + static_cast<size_t>(dst) * out_size;
      if (ch.dtype == as) {
        std::memcpy(to, src, static_cast<size_t>(row) * out_size);
      } else {
        visit_dtype(ch.dtype, [&](auto f) {
          using From = decltype(f);
          visit_dtype(as, [&](auto t) {
            using To = decltype(t);
            convert_block(reinterpret_cast<const From*>(src), reinterpret_cast<To*>(to), row);
          });
        });
      }
      for (size_t k = idx.size(); k-- > 0;) {
        if (++idx[k] < shp[k]) break;
        idx[k] = 0;
      }
    }
  }
}

double Array::item(Client* c) const {
  if (size() != 1) throw std::invalid_argument("item(): the array has " + std::to_string(size()) + " elements");
  return compute<double>(c).flat(0);
}

// ---- free functions ---------------------------------------------------------

Array zeros(const Shape& shape, const Shape& chunks, DType dtype) { return filled(shape, chunks, 0.0, dtype, "zeros"); }
Array ones(const Shape& shape, const Shape& chunks, DType dtype) { return filled(shape, chunks, 1.0, dtype, "ones"); }
Array full(const Shape& shape, const Shape& chunks, double value, DType dtype) {
  return filled(shape, chunks, value, dtype, "full");
}

Array coordinate(const Shape& shape, const Shape& chunk_shape, int64_t axis, DType dtype) {
  if (axis < 0) axis += static_cast<int64_t>(shape.size());
  if (axis < 0 || axis >= static_cast<int64_t>(shape.size())) throw std::invalid_argument("coordinate: axis out of range");
  auto n = make_node("coordinate", shape, detail::regular_chunks(shape, chunk_shape), dtype);
  n->group = [axis](const Node& self, TaskGroup& g) {
    g.op = ops::kCoordinate;
    // One entry per block along the axis: the offset is all that differs.
    std::vector<int64_t> nb = detail::blocks_per_axis(self.chunks);
    int64_t offset = 0;
    for (int64_t c : self.chunks[axis]) {
      g.params.push_back(ops::coordinate_params(axis, offset));
      offset += c;
    }
    int64_t inner = 1;
    for (size_t d = static_cast<size_t>(axis) + 1; d < nb.size(); ++d) inner *= nb[d];
    const int64_t total = detail::num_blocks(self.chunks);
    g.params_index.resize(static_cast<size_t>(total));
    for (int64_t i = 0; i < total; ++i) g.params_index[i] = static_cast<uint32_t>((i / inner) % nb[axis]);
    if (g.params.size() == 1) g.params_index.clear();
  };
  return Array(n);
}

namespace random {
Array uniform(const Shape& shape, const Shape& chunk_shape, uint64_t seed, DType dtype) {
  if (!dtype_is_float(dtype)) throw std::invalid_argument("random::uniform: dtype must be float32 or float64");
  auto n = make_node("random_uniform", shape, detail::regular_chunks(shape, chunk_shape), dtype);
  n->group = [seed](const Node& self, TaskGroup& g) {
    g.op = ops::kRandomUniform;
    // Every block draws from its own place in the stream: one entry per task.
    const int64_t total = detail::num_blocks(self.chunks);
    g.params.reserve(static_cast<size_t>(total));
    for (int64_t i = 0; i < total; ++i) {
      g.params.push_back(ops::random_uniform_params(
          seed, self.shape, detail::block_offset(self.chunks, detail::unravel_block(self.chunks, static_cast<uint64_t>(i)))));
    }
  };
  return Array(n);
}
}  // namespace random

Array operator+(const Array& a, const Array& b) { return binary(a, b, Instr::kAdd); }
Array operator-(const Array& a, const Array& b) { return binary(a, b, Instr::kSub); }
Array operator*(const Array& a, const Array& b) { return binary(a, b, Instr::kMul); }
Array operator/(const Array& a, const Array& b) { return binary(a, b, Instr::kDiv); }
Array operator+(const Array& a, double b) { return with_scalar(a, b, Instr::kAdd, false); }
Array operator-(const Array& a, double b) { return with_scalar(a, b, Instr::kSub, false); }
Array operator*(const Array& a, double b) { return with_scalar(a, b, Instr::kMul, false); }
Array operator/(const Array& a, double b) { return with_scalar(a, b, Instr::kDiv, false); }
Array operator+(double a, const Array& b) { return with_scalar(b, a, Instr::kAdd, true); }
Array operator-(double a, const Array& b) { return with_scalar(b, a, Instr::kSub, true); }
Array operator*(double a, const Array& b) { return with_scalar(b, a, Instr::kMul, true); }
Array operator/(double a, const Array& b) { return with_scalar(b, a, Instr::kDiv, true); }
Array operator-(const Array& a) { return unary(a, Instr::kNeg, "negative", false); }
Array abs(const Array& a) { return unary(a, Instr::kAbs, "abs", false); }
Array sqrt(const Array& a) { return unary(a, Instr::kSqrt, "sqrt", true); }
Array exp(const Array& a) { return unary(a, Instr::kExp, "exp", true); }
Array log(const Array& a) { return unary(a, Instr::kLog, "log", true); }
Array sin(const Array& a) { return unary(a, Instr::kSin, "sin", true); }
Array cos(const Array& a) { return unary(a, Instr::kCos, "cos", true); }
Array isnan(const Array& a) {
  const Node& na = need(a.node());
  detail::ExprInfo e = expr_of(a.node());
  e.program.push_back({Instr::kIsNan, 0});
  return from_expr("isnan", na, std::move(e), DType::kBool);
}
namespace {
// where() with each branch an array or a scalar (an array of a.shape when `arr` is set).
Array where_impl(const Array& cond, const Array* a, double sa, const Array* b, double sb) {
  const Node& nc = need(cond.node());
  detail::ExprInfo e = expr_of(cond.node());
  DType t = DType::kBool;
  bool first = true;
  for (auto [arr, scalar] : {std::pair{a, sa}, std::pair{b, sb}}) {
    DType bt;
    if (arr) {
      const Node& nx = need(arr->node());
      if (nx.shape != nc.shape) {
        throw std::invalid_argument("where: shapes " + shape_to_string(nc.shape) + " and " + shape_to_string(nx.shape) +
                                    " differ (broadcasting is not supported)");
      }
      Array xx = nx.chunks == nc.chunks ? *arr : arr->rechunk(nc.chunks);
      append_expr(e, expr_of(xx.node()));
      bt = nx.dtype;
    } else {
      e.program.push_back({Instr::kConst, scalar});
      bt = std::floor(scalar) == scalar ? DType::kBool : DType::kFloat64;
    }
    t = first ? bt : promote(t, bt);
    first = false;
  }
  // A scalar branch does not widen an array branch's type beyond what it needs.
  if (a && !b) t = scalar_type(a->dtype(), sb, Instr::kAdd);
  if (b && !a) t = scalar_type(b->dtype(), sa, Instr::kAdd);
  e.program.push_back({Instr::kWhere, 0});
  return from_expr("where", nc, std::move(e), t);
}
}  // namespace

Array where(const Array& cond, const Array& a, const Array& b) { return where_impl(cond, &a, 0, &b, 0); }
Array where(const Array& cond, double a, const Array& b) { return where_impl(cond, nullptr, a, &b, 0); }
Array where(const Array& cond, const Array& a, double b) { return where_impl(cond, &a, 0, nullptr, b); }
Array minimum(const Array& a, const Array& b) { return binary(a, b, Instr::kMinimum); }
Array maximum(const Array& a, const Array& b) { return binary(a, b, Instr::kMaximum); }

Array map_blocks(const std::string& op, const std::vector<Array>& inputs, DType dtype, const std::string& params) {
  if (op.empty()) throw std::invalid_argument("map_blocks: empty op name");
  if (inputs.empty()) throw std::invalid_argument("map_blocks: needs at least one input");
  const Node& first = need(inputs[0].node());
  auto n = make_node("map_blocks-" + op, first.shape, first.chunks, dtype);
  for (const Array& a : inputs) {
    const Node& na = need(a.node());
    if (na.shape != first.shape) {
      throw std::invalid_argument("map_blocks: input shapes " + shape_to_string(first.shape) + " and " +
                                  shape_to_string(na.shape) + " differ");
    }
    n->inputs.push_back(na.chunks == first.chunks ? a.node() : a.rechunk(first.chunks).node());
  }
  n->group = [op, params](const Node& self, TaskGroup& g) {
    g.op = op;
    g.params = {params};
    for (size_t i = 0; i < self.inputs.size(); ++i)
      g.deps.push_back(DepPattern::same(static_cast<uint32_t>(i), self.chunks.size()));
  };
  return Array(n);
}

Array matmul(const Array& a, const Array& b_in) {
  const Node& na = need(a.node());
  const Node& nb0 = need(b_in.node());
  if (na.shape.size() != 2 || nb0.shape.size() != 2) throw std::invalid_argument("matmul: both arrays must be 2-D");
  if (na.shape[1] != nb0.shape[0]) {
    throw std::invalid_argument("matmul: shapes " + shape_to_string(na.shape) + " and " + shape_to_string(nb0.shape) +
                                " do not align");
  }
  Array b = nb0.chunks[0] == na.chunks[1] ? b_in : b_in.rechunk(Chunks{na.chunks[1], nb0.chunks[1]});
  const Node& nb = *b.node();
  DType t = promote(na.dtype, nb.dtype);
  if (!dtype_is_float(t)) t = DType::kFloat64;
  auto n = make_node("matmul", {na.shape[0], nb.shape[1]}, {na.chunks[0], nb.chunks[1]}, t);
  n->inputs = {a.node(), b.node()};
  const int64_t k = static_cast<int64_t>(na.chunks[1].size());
  std::string params = ops::matmul_params(k);
  n->group = [params, k](const Node&, TaskGroup& g) {
    g.op = ops::kMatmul;
    g.params = {params};
    // Block (i, j) reads A's row of blocks (i, 0..k) and B's column (0..k, j).
    DepPattern row = DepPattern::mapped(0, {0, -1});
    row.count[1] = static_cast<uint32_t>(k);
    DepPattern column = DepPattern::mapped(1, {-1, 1});
    column.count[0] = static_cast<uint32_t>(k);
    g.deps = {row, column};
  };
  return Array(n);
}

}  // namespace rsdat
