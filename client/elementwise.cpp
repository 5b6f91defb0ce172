// Elementwise functions: each builds a fusable program over its operands' leaves.
#include <algorithm>
#include <optional>
#include <cmath>
#include <limits>
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

static std::vector<int32_t> identity_axes(size_t nd) {
  std::vector<int32_t> axes(nd);
  for (size_t d = 0; d < nd; ++d) axes[d] = static_cast<int32_t>(d);
  return axes;
}

// The fusable form of an array: its own program, or a load of itself. An integer
// program of 32 or 64 bits read by a float result is computed apart, exactly in
// integers: in floats its products could round.
ExprInfo expr_of(const NodePtr& n, std::optional<DType> consumer) {
  const bool exact_apart = consumer && dtype_is_float(*consumer) && n->expr && dtype_is_integer(n->dtype) &&
                           dtype_size(n->dtype) >= 4;
  if (n->expr && !exact_apart) return *n->expr;
  if (n->transpose_of) return {{n->transpose_of}, {true}, {{1, 0}}, {{Instr::kLoadT, 0}}};
  return {{n}, {false}, {identity_axes(n->shape.size())}, {{Instr::kLoad, 0}}};
}

// Appends b's program to a's, sharing leaves.
void append_expr(ExprInfo& a, const ExprInfo& b) {
  std::vector<int> remap(b.leaves.size());
  for (size_t i = 0; i < b.leaves.size(); ++i) {
    size_t found = a.leaves.size();
    for (size_t j = 0; j < a.leaves.size(); ++j) {
      if (a.leaves[j]->token == b.leaves[i]->token && a.transposed[j] == b.transposed[i] && a.axes[j] == b.axes[i]) {
        found = j;
      }
    }
    if (found == a.leaves.size()) {
      a.leaves.push_back(b.leaves[i]);
      a.transposed.push_back(b.transposed[i]);
      a.axes.push_back(b.axes[i]);
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

void add_leaf_deps(const std::vector<std::vector<int32_t>>& leaf_axes, const std::vector<int32_t>& block_axes,
                   TaskGroup& g) {
  for (size_t i = 0; i < leaf_axes.size(); ++i) {
    std::vector<int32_t> map;
    for (int32_t ax : leaf_axes[i]) map.push_back(ax < 0 ? -1 : block_axes[static_cast<size_t>(ax)]);
    g.deps.push_back(DepPattern::mapped(static_cast<uint32_t>(i), std::move(map)));
  }
}

namespace {

bool integer_type(DType t) { return !dtype_is_float(t); }  // bool included
bool dtype_is_signed_int(DType t) {
  return t == DType::kInt8 || t == DType::kInt16 || t == DType::kInt32 || t == DType::kInt64;
}

// The integer type an elementwise program computes in exactly, when it is one of integers
// and bools alone (leaves, results, casts and constants): int64, or uint64 when there are
// uint64 values and no signed ones; else nothing (it computes in floats).
std::optional<DType> integer_compute(const ExprInfo& expr, DType dtype) {
  if (!integer_type(dtype)) return std::nullopt;
  bool unsigned64 = dtype == DType::kUInt64, is_signed = dtype_is_signed_int(dtype);
  for (const NodePtr& l : expr.leaves) {
    if (!integer_type(l->dtype)) return std::nullopt;
    unsigned64 = unsigned64 || l->dtype == DType::kUInt64;
    is_signed = is_signed || dtype_is_signed_int(l->dtype);
  }
  for (const Instruction& ins : expr.program) {
    switch (ins.op) {
      case Instr::kLoad: case Instr::kLoadT: case Instr::kWhere: break;
      case Instr::kConst:
        if (!(std::abs(ins.arg) < 9.2e18) || std::floor(ins.arg) != ins.arg) return std::nullopt;
        break;
      case Instr::kCast: case Instr::kWrap: {
        const auto t = static_cast<DType>(static_cast<int>(ins.arg));
        if (!integer_type(t)) return std::nullopt;
        unsigned64 = unsigned64 || t == DType::kUInt64;
        is_signed = is_signed || dtype_is_signed_int(t);
        break;
      }
      default:
        if (ops::result_dtype(ins.op, DType::kInt64) == DType::kFloat64) return std::nullopt;  // a float function
    }
  }
  if (unsigned64 && is_signed) return std::nullopt;
  return unsigned64 ? DType::kUInt64 : DType::kInt64;
}

}  // namespace

Array from_expr(std::string name, const Shape& shape, const Chunks& chunks, ExprInfo expr, DType dtype) {
  auto n = make_node(std::move(name), shape, chunks, dtype);
  const std::optional<DType> integer = integer_compute(expr, dtype);
  std::string params = integer ? ops::elementwise_params(*integer, expr.program) : expr_params(expr, dtype);
  n->inputs = expr.leaves;
  n->group = [params, axes = expr.axes](const Node& self, TaskGroup& g) {
    g.op = ops::kElementwise;
    g.params = {params};
    add_leaf_deps(axes, identity_axes(self.chunks.size()), g);
  };
  n->expr = std::move(expr);
  return Array(n);
}

Shape broadcast_shapes(const std::vector<Shape>& shapes, const char* op) {
  size_t nd = 0;
  for (const Shape& s : shapes) nd = std::max(nd, s.size());
  Shape out(nd, 1);
  for (const Shape& s : shapes) {
    const size_t shift = nd - s.size();
    for (size_t d = 0; d < s.size(); ++d) {
      int64_t& o = out[shift + d];
      if (s[d] == o || s[d] == 1) continue;
      if (o != 1) {
        std::string all;
        for (const Shape& t : shapes) all += (all.empty() ? "" : " ") + shape_to_string(t);
        throw std::invalid_argument(std::string(op) + ": operands could not be broadcast together with shapes " + all);
      }
      o = s[d];
    }
  }
  return out;
}

}  // namespace detail

namespace {

using detail::append_expr;
using detail::broadcast_shapes;
using detail::expr_of;
using detail::from_expr;

// An operand of an elementwise function: an array, or a scalar when `node` is null.
struct Operand {
  NodePtr node;
  double scalar = 0;
};

// `n`'s expression read as an array of `to` (a broadcast of n's shape): the leaves'
// axes move right by the axes `to` adds in front, and axes where n has size 1 but `to`
// does not are broadcast (-1: every output block reads the leaf's one block there).
// An expression with transposed loads is not broadcast; n is read as it is stored.
ExprInfo broadcast_expr(const NodePtr& n, const Shape& to, std::optional<DType> consumer = std::nullopt) {
  ExprInfo e = expr_of(n, consumer);
  if (n->shape == to) return e;
  if (std::any_of(e.transposed.begin(), e.transposed.end(), [](bool t) { return t; })) {
    e = ExprInfo{{n}, {false}, {{}}, {{Instr::kLoad, 0}}};
    for (size_t d = 0; d < n->shape.size(); ++d) e.axes[0].push_back(static_cast<int32_t>(d));
  }
  const int32_t shift = static_cast<int32_t>(to.size() - n->shape.size());
  for (auto& map : e.axes) {
    for (int32_t& ax : map) {
      if (ax < 0) continue;
      ax = n->shape[static_cast<size_t>(ax)] == 1 && to[static_cast<size_t>(ax + shift)] != 1 ? -1 : ax + shift;
    }
  }
  return e;
}

// After an integer function whose values may leave its result type's range: the values
// wrapped into it, as NumPy stores them (the program computes in 64 bits or floats).
void wrap_integer(ExprInfo& e, Instr instr, DType dtype) {
  if (dtype_is_float(dtype) || dtype == DType::kBool || dtype_size(dtype) == 8) return;
  if (instr == Instr::kMinimum || instr == Instr::kMaximum || instr == Instr::kFmin || instr == Instr::kFmax ||
      instr == Instr::kWhere) {
    return;  // a value of an operand, in range already
  }
  if (ops::result_dtype(instr, DType::kInt8) == DType::kBool) return;  // a predicate
  e.program.push_back({Instr::kWrap, static_cast<double>(static_cast<int>(dtype))});
}

// The fused expression `instr` of the operands (in order, pushed on the stack),
// broadcast by NumPy's rules. Along each output axis the chunks follow the first array
// operand that has the axis at full size; the other operands that have it at full size
// are rechunked to match, and those where it is 1 (or missing) read their one block.
Array nary(const char* name, std::vector<Operand> operands, Instr instr, DType dtype) {
  std::vector<Shape> shapes;
  for (const Operand& o : operands)
    if (o.node) shapes.push_back(o.node->shape);
  const Shape out = broadcast_shapes(shapes, name);
  std::vector<NodePtr> arrays;
  for (const Operand& o : operands)
    if (o.node) arrays.push_back(o.node);
  const detail::GridPtr grid = detail::elementwise_grid(arrays, out, name);
  const size_t nd = out.size();
  Chunks chunks(nd);
  std::vector<bool> chosen(nd, false);
  for (const Operand& o : operands) {
    if (!o.node) continue;
    const size_t shift = nd - o.node->shape.size();
    for (size_t d = 0; d < o.node->shape.size(); ++d) {
      if (!chosen[shift + d] && o.node->shape[d] == out[shift + d]) {
        chunks[shift + d] = o.node->chunks[d];
        chosen[shift + d] = true;
      }
    }
  }
  ExprInfo e;
  for (Operand& o : operands) {
    if (!o.node) {
      e.program.push_back({Instr::kConst, o.scalar});
      continue;
    }
    const size_t shift = nd - o.node->shape.size();
    Chunks want = o.node->chunks;
    for (size_t d = 0; d < want.size(); ++d)
      if (o.node->shape[d] == out[shift + d]) want[d] = chunks[shift + d];
    if (want != o.node->chunks) o.node = Array(o.node).rechunk(want).node();
    ExprInfo oe = broadcast_expr(o.node, out, dtype);
    // A float32 intermediate read by a wider result is rounded to float32 first, as
    // NumPy stores it: the fused program may compute it in float64.
    if (o.node->expr && o.node->dtype == DType::kFloat32 && dtype != DType::kFloat32) {
      oe.program.push_back({Instr::kCast, static_cast<double>(static_cast<int>(DType::kFloat32))});
    }
    append_expr(e, oe);
  }
  e.program.push_back({instr, 0});
  wrap_integer(e, instr, dtype);
  return detail::with_grid(from_expr(name, out, chunks, std::move(e), dtype), grid);
}

Array binary(const Array& a, const Array& b, Instr op) {
  // & | ^ of bools are the logical functions (the same values, as NumPy's), which the
  // kernel computes without a round trip through integers.
  if (need(a.node()).dtype == DType::kBool && need(b.node()).dtype == DType::kBool) {
    if (op == Instr::kBitwiseAnd) op = Instr::kLogicalAnd;
    if (op == Instr::kBitwiseOr) op = Instr::kLogicalOr;
    if (op == Instr::kBitwiseXor) op = Instr::kLogicalXor;
  }
  const DType t = ops::result_dtype(op, need(a.node()).dtype, need(b.node()).dtype);
  return nary(ops::instr_name(op), {{a.node()}, {b.node()}}, op, t);
}

Array with_scalar(const Array& a, double s, ScalarKind kind, Instr op, bool scalar_first) {
  const DType t = ops::scalar_result_dtype(op, need(a.node()).dtype, s, kind);
  // With a float32 array NumPy casts the scalar to float32 first (0.2 is 0.2f).
  if (a.dtype() == DType::kFloat32) s = static_cast<float>(s);
  std::vector<Operand> operands{{a.node()}, {nullptr, s}};
  if (scalar_first) std::swap(operands[0], operands[1]);
  return nary(ops::instr_name(op), std::move(operands), op, t);
}

Array unary(const Array& a, Instr op) {
  const Node& na = need(a.node());
  if (op == Instr::kInvert && na.dtype == DType::kBool) op = Instr::kLogicalNot;  // ~ of bools, as NumPy
  const DType t = ops::result_dtype(op, na.dtype);
  detail::ExprInfo e = expr_of(a.node(), t);
  e.program.push_back({op, 0});
  wrap_integer(e, op, t);
  return detail::with_grid(from_expr(ops::instr_name(op), na.shape, na.chunks, std::move(e), t), na.grid);
}

// where() with each branch an array or a scalar.
Array where_impl(const Array& cond, const Array* a, double sa, const Array* b, double sb) {
  need(cond.node());
  DType t = DType::kBool;
  bool first = true;
  for (auto [arr, scalar] : {std::pair{a, sa}, std::pair{b, sb}}) {
    const DType bt = arr ? need(arr->node()).dtype : std::floor(scalar) == scalar ? DType::kBool : DType::kFloat64;
    t = first ? bt : promote(t, bt);
    first = false;
  }
  // A scalar branch does not widen an array branch's type beyond what it needs.
  if (a && !b) t = ops::scalar_result_dtype(Instr::kAdd, a->dtype(), sb, ScalarKind::kInt);
  if (b && !a) t = ops::scalar_result_dtype(Instr::kAdd, b->dtype(), sa, ScalarKind::kInt);
  if (t == DType::kFloat32) {  // scalar branches as float32 values, as NumPy casts them
    sa = static_cast<float>(sa);
    sb = static_cast<float>(sb);
  }
  return nary("where", {{cond.node()}, {a ? a->node() : nullptr, sa}, {b ? b->node() : nullptr, sb}}, Instr::kWhere, t);
}

}  // namespace

// Every function of rsdat/elementwise_ops.def.
#define RSDAT_UNARY(name, Tag, code, rule, expr) \
  Array name(const Array& a) { return unary(a, Instr::k##Tag); }
#define RSDAT_BINARY(name, Tag, code, rule, expr) \
  Array name(const Array& a, const Array& b) { return binary(a, b, Instr::k##Tag); }
#include "rsdat/elementwise_ops.def"

namespace detail {
#define RSDAT_BINARY(name, Tag, code, rule, expr)                                          \
  Array name##_with_scalar(const Array& a, double s, ScalarKind kind, bool scalar_first) { \
    return with_scalar(a, s, kind, Instr::k##Tag, scalar_first);                           \
  }
#include "rsdat/elementwise_ops.def"
}  // namespace detail

Array operator+(const Array& a, const Array& b) { return add(a, b); }
Array operator-(const Array& a, const Array& b) { return subtract(a, b); }
Array operator*(const Array& a, const Array& b) { return multiply(a, b); }
Array operator/(const Array& a, const Array& b) { return divide(a, b); }
Array operator%(const Array& a, const Array& b) { return mod(a, b); }
Array operator==(const Array& a, const Array& b) { return equal(a, b); }
Array operator!=(const Array& a, const Array& b) { return not_equal(a, b); }
Array operator<(const Array& a, const Array& b) { return less(a, b); }
Array operator<=(const Array& a, const Array& b) { return less_equal(a, b); }
Array operator>(const Array& a, const Array& b) { return greater(a, b); }
Array operator>=(const Array& a, const Array& b) { return greater_equal(a, b); }
Array operator-(const Array& a) { return negative(a); }

// & | ^ ~: logical on bools, bitwise on integers (numpy.bitwise_and ...); floats refused.
Array operator&(const Array& a, const Array& b) { return bitwise_and(a, b); }
Array operator|(const Array& a, const Array& b) { return bitwise_or(a, b); }
Array operator^(const Array& a, const Array& b) { return bitwise_xor(a, b); }
Array operator~(const Array& a) { return invert(a); }

Array isin(const Array& a, const std::vector<double>& values) {
  if (values.empty()) return isnan(a) & ~isnan(a);  // all false, of a's shape
  Array out = equal(a, values[0]);
  for (size_t i = 1; i < values.size(); ++i) out = logical_or(out, equal(a, values[i]));
  return out;
}

Array clip(const Array& a, const Array& lo, const Array& hi) { return minimum(maximum(a, lo), hi); }

Array isclose(const Array& a, const Array& b, double rtol, double atol, bool equal_nan) {
  if (!(rtol >= 0) || !(atol >= 0)) throw std::invalid_argument("isclose: rtol and atol must be non-negative");
  Array finite = isfinite(a) & isfinite(b);
  Array close = where(finite, abs(a - b) <= abs(b) * rtol + atol, a == b);
  return equal_nan ? close | (isnan(a) & isnan(b)) : close;
}

Array nan_to_num(const Array& a, double nan, std::optional<double> posinf, std::optional<double> neginf) {
  const DType t = need(a.node()).dtype;
  if (!dtype_is_float(t)) return a;
  const double big = t == DType::kFloat32 ? std::numeric_limits<float>::max() : std::numeric_limits<double>::max();
  const double inf = std::numeric_limits<double>::infinity();
  Array out = where(a == inf, posinf.value_or(big), a);
  out = where(a == -inf, neginf.value_or(-big), out);
  return where(isnan(a), nan, out);
}

Array round(const Array& a, int decimals) {
  if (decimals == 0) return rint(a);
  const double scale = std::pow(10.0, decimals);
  return rint(a * scale) / scale;
}

Array broadcast_to(const Array& a, const Shape& shape) {
  const Node& n = need(a.node());
  if (broadcast_shapes({n.shape, shape}, "broadcast_to") != shape) {
    throw std::invalid_argument("broadcast_to: cannot broadcast an array of shape " + shape_to_string(n.shape) +
                                " to " + shape_to_string(shape));
  }
  if (n.shape == shape) return a;
  const size_t shift = shape.size() - n.shape.size();
  Chunks chunks(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    const bool has = d >= shift && n.shape[d - shift] == shape[d];
    chunks[d] = has ? n.chunks[d - shift] : std::vector<int64_t>{shape[d]};
  }
  return detail::with_grid(from_expr("broadcast_to", shape, chunks, broadcast_expr(a.node(), shape), n.dtype),
                           detail::elementwise_grid({a.node()}, shape, "broadcast_to"), a.node());
}

std::vector<Array> broadcast_arrays(const std::vector<Array>& arrays) {
  std::vector<Shape> shapes;
  for (const Array& a : arrays) shapes.push_back(need(a.node()).shape);
  const Shape out = broadcast_shapes(shapes, "broadcast_arrays");
  std::vector<Array> result;
  for (const Array& a : arrays) result.push_back(broadcast_to(a, out));
  return result;
}

Array where(const Array& cond, const Array& a, const Array& b) { return where_impl(cond, &a, 0, &b, 0); }
Array where(const Array& cond, double a, const Array& b) { return where_impl(cond, nullptr, a, &b, 0); }
Array where(const Array& cond, const Array& a, double b) { return where_impl(cond, &a, 0, nullptr, b); }


}  // namespace rsdat
