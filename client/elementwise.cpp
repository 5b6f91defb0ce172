// Elementwise functions: each builds a fusable program over its operands' leaves.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "client/array_internal.hpp"

namespace rsdat {

using detail::ExprInfo;
using detail::need;
using detail::Node;
using detail::NodePtr;
using ops::Instr;
using ops::Instruction;

namespace detail {

const Node& need(const std::shared_ptr<const Node>& n) {
  if (!n) throw std::invalid_argument("operation on an empty rsdat::Array");
  return *n;
}

// The fusable form of an array: its own program, or a load of itself.
ExprInfo expr_of(const NodePtr& n) {
  if (n->expr) return *n->expr;
  if (n->transpose_of) return {{n->transpose_of}, {true}, {{Instr::kLoadT, 0}}};
  return {{n}, {false}, {{Instr::kLoad, 0}}};
}

// Appends b's program to a's, sharing leaves.
void append_expr(ExprInfo& a, const ExprInfo& b) {
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

static bool small_type(DType t) { return t == DType::kFloat32 || (dtype_size(t) <= 2); }

// The elementwise kernel's params for `expr` producing `dtype`: computed in float32 when
// the result and every input fit in it.
std::string expr_params(const ExprInfo& expr, DType dtype) {
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

static std::vector<int32_t> identity_axes(size_t nd) {
  std::vector<int32_t> axes(nd);
  for (size_t d = 0; d < nd; ++d) axes[d] = static_cast<int32_t>(d);
  return axes;
}

Array from_expr(std::string name, const Node& like, ExprInfo expr, DType dtype) {
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

}  // namespace detail

namespace {

using detail::append_expr;
using detail::expr_of;
using detail::from_expr;

Array binary(const Array& a, const Array& b, Instr op) {
  const Node& na = need(a.node());
  const Node& nb = need(b.node());
  if (na.shape != nb.shape) {
    throw std::invalid_argument(std::string(ops::instr_name(op)) + ": shapes " + shape_to_string(na.shape) + " and " +
                                shape_to_string(nb.shape) + " differ (broadcasting is not supported)");
  }
  Array bb = nb.chunks == na.chunks ? b : b.rechunk(na.chunks);
  detail::ExprInfo e = expr_of(a.node());
  append_expr(e, expr_of(bb.node()));
  e.program.push_back({op, 0});
  return from_expr(ops::instr_name(op), na, std::move(e), ops::result_dtype(op, na.dtype, nb.dtype));
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
  return from_expr(ops::instr_name(op), na, std::move(e), ops::scalar_result_dtype(op, na.dtype, s));
}

Array unary(const Array& a, Instr op) {
  const Node& na = need(a.node());
  detail::ExprInfo e = expr_of(a.node());
  e.program.push_back({op, 0});
  return from_expr(ops::instr_name(op), na, std::move(e), ops::result_dtype(op, na.dtype));
}

}  // namespace

// Every function of rsdat/elementwise_ops.def.
#define RSDAT_UNARY(name, Tag, code, rule, expr) \
  Array name(const Array& a) { return unary(a, Instr::k##Tag); }
#define RSDAT_BINARY(name, Tag, code, rule, expr) \
  Array name(const Array& a, const Array& b) { return binary(a, b, Instr::k##Tag); }
#include "rsdat/elementwise_ops.def"

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
Array operator-(const Array& a) { return negative(a); }
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
  if (a && !b) t = ops::scalar_result_dtype(Instr::kAdd, a->dtype(), sb);
  if (b && !a) t = ops::scalar_result_dtype(Instr::kAdd, b->dtype(), sa);
  e.program.push_back({Instr::kWhere, 0});
  return from_expr("where", nc, std::move(e), t);
}
}  // namespace

Array where(const Array& cond, const Array& a, const Array& b) { return where_impl(cond, &a, 0, &b, 0); }
Array where(const Array& cond, double a, const Array& b) { return where_impl(cond, nullptr, a, &b, 0); }
Array where(const Array& cond, const Array& a, double b) { return where_impl(cond, &a, 0, nullptr, b); }


}  // namespace rsdat
