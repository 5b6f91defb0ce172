#include "ops/elementwise.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <string>
#include <type_traits>

#include "ops/elementwise_eval.hpp"
#include "ops/kernel_util.hpp"
#include "ops/simd.hpp"

namespace rsdat::ops {

namespace {

// The per-element functions of elementwise_ops.def that differ between float and
// integer compute types. Integers follow NumPy: wrapping arithmetic, a zero divisor
// gives 0, shifts by the width or more give 0 (or -1 for a negative value shifted right).
template <typename C>
constexpr bool kIntegral = std::is_integral_v<C>;

// x mod y with the divisor's sign, as Python's % and numpy.mod.
template <typename C>
C python_mod(C x, C y) {
  if constexpr (kIntegral<C>) {
    if (y == 0) return 0;
    if constexpr (std::is_signed_v<C>) {
      if (y == -1) return 0;  // also for the lowest value, where x % y would trap
      const C m = x % y;
      return (m != 0 && ((m < 0) != (y < 0))) ? m + y : m;
    }
    return x % y;
  } else {
    C m = std::fmod(x, y);
    if (m != 0 && ((y < 0) != (m < 0))) m += y;
    return m == 0 ? std::copysign(C(0), y) : m;
  }
}

template <typename C>
C floor_div(C x, C y) {
  if constexpr (kIntegral<C>) {
    if (y == 0) return 0;
    if constexpr (std::is_signed_v<C>) {
      if (y == -1) return static_cast<C>(0 - static_cast<std::make_unsigned_t<C>>(x));  // wraps for the lowest
      const C q = x / y;
      return (x % y != 0 && ((x < 0) != (y < 0))) ? q - 1 : q;
    }
    return x / y;
  } else {
    return std::floor(x / y);
  }
}

template <typename C>
C divide_of(C x, C y) {
  if constexpr (kIntegral<C>) {
    return floor_div(x, y);  // not reached: true division computes in floats
  } else {
    return x / y;
  }
}

template <typename C>
C power_of(C x, C y) {
  if constexpr (kIntegral<C>) {
    if constexpr (std::is_signed_v<C>) {
      if (y < 0) fail("power: integers to negative integer powers are not allowed");
    }
    using U = std::make_unsigned_t<C>;
    U base = static_cast<U>(x), result = 1;
    for (U e = static_cast<U>(y); e != 0; e >>= 1) {
      if (e & 1) result *= base;
      base *= base;
    }
    return static_cast<C>(result);
  } else {
    return std::pow(x, y);
  }
}

template <typename C>
C absolute(C x) {
  if constexpr (std::is_unsigned_v<C>) {
    return x;
  } else if constexpr (kIntegral<C>) {
    return x < 0 ? static_cast<C>(0 - static_cast<std::make_unsigned_t<C>>(x)) : x;
  } else {
    return std::abs(x);
  }
}

template <typename C>
C fmin_of(C x, C y) {
  if constexpr (kIntegral<C>) {
    return y < x ? y : x;
  } else {
    return std::fmin(x, y);
  }
}
template <typename C>
C fmax_of(C x, C y) {
  if constexpr (kIntegral<C>) {
    return y > x ? y : x;
  } else {
    return std::fmax(x, y);
  }
}

// Bitwise functions: in a float program (an integer operand of a float result) on the
// values' integer forms.
template <typename C>
int64_t as_bits(C x) {
  return static_cast<int64_t>(x);
}
template <typename C>
C bit_and(C x, C y) {
  if constexpr (kIntegral<C>) return x & y; else return static_cast<C>(as_bits(x) & as_bits(y));
}
template <typename C>
C bit_or(C x, C y) {
  if constexpr (kIntegral<C>) return x | y; else return static_cast<C>(as_bits(x) | as_bits(y));
}
template <typename C>
C bit_xor(C x, C y) {
  if constexpr (kIntegral<C>) return x ^ y; else return static_cast<C>(as_bits(x) ^ as_bits(y));
}
template <typename C>
C bit_not(C x) {
  if constexpr (kIntegral<C>) return ~x; else return static_cast<C>(~as_bits(x));
}
template <typename C>
C shift_left(C x, C y) {
  if constexpr (kIntegral<C>) {
    using U = std::make_unsigned_t<C>;
    return static_cast<U>(y) < 64 ? static_cast<C>(static_cast<U>(x) << static_cast<U>(y)) : C(0);
  } else {
    return static_cast<C>(shift_left(as_bits(x), as_bits(y)));
  }
}
template <typename C>
C shift_right(C x, C y) {
  if constexpr (kIntegral<C>) {
    using U = std::make_unsigned_t<C>;
    if (static_cast<U>(y) < 64) return x >> static_cast<U>(y);
    if constexpr (std::is_signed_v<C>) {
      if (x < 0) return C(-1);
    }
    return C(0);
  } else {
    return static_cast<C>(shift_right(as_bits(x), as_bits(y)));
  }
}

}  // namespace

int instr_arity(Instr op) {
  switch (op) {
    case Instr::kLoad: case Instr::kLoadT: case Instr::kConst: return 0;
    case Instr::kCast: case Instr::kWrap: return 1;
    case Instr::kWhere: return 3;
#define RSDAT_UNARY(name, Tag, code, rule, expr) case Instr::k##Tag: return 1;
#define RSDAT_BINARY(name, Tag, code, rule, expr) case Instr::k##Tag: return 2;
#include "rsdat/elementwise_ops.def"
  }
  return -1;
}

const char* instr_name(Instr op) {
  switch (op) {
#define RSDAT_UNARY(name, Tag, code, rule, expr) case Instr::k##Tag: return #name;
#define RSDAT_BINARY(name, Tag, code, rule, expr) case Instr::k##Tag: return #name;
#include "rsdat/elementwise_ops.def"
    default: return "elementwise";
  }
}

namespace {

DTypeRule rule_of(Instr op) {
  switch (op) {
#define RSDAT_UNARY(name, Tag, code, rule, expr) case Instr::k##Tag: return DTypeRule::rule;
#define RSDAT_BINARY(name, Tag, code, rule, expr) case Instr::k##Tag: return DTypeRule::rule;
#include "rsdat/elementwise_ops.def"
    default: RSDAT_CHECK_MSG(false, "no dtype rule for a structural instruction");
  }
  return DTypeRule::kPromote;
}

}  // namespace

DType result_dtype(Instr op, DType a, DType b) {
  const DType t = promote(a, b);
  switch (rule_of(op)) {
    case DTypeRule::kFloat: return dtype_is_float(t) ? t : DType::kFloat64;
    case DTypeRule::kNumeric: return t == DType::kBool ? DType::kInt64 : t;
    case DTypeRule::kPredicate: return DType::kBool;
    case DTypeRule::kArithmetic: return t == DType::kBool ? DType::kInt64 : t;
    case DTypeRule::kDivide: return dtype_is_float(t) ? t : DType::kFloat64;
    case DTypeRule::kPromote: return t;
    case DTypeRule::kBitwise:
    case DTypeRule::kShift:
      if (dtype_is_float(t)) {
        throw std::invalid_argument(std::string(instr_name(op)) + ": not supported for " + dtype_name(a) +
                                    (a == b ? std::string() : std::string(" and ") + dtype_name(b)) +
                                    " (integer and bool arrays only)");
      }
      return rule_of(op) == DTypeRule::kShift && t == DType::kBool ? DType::kInt8 : t;
  }
  return t;
}

DType result_dtype(Instr op, DType a) { return result_dtype(op, a, a); }

DType scalar_result_dtype(Instr op, DType a, double s, ScalarKind kind) {
  switch (rule_of(op)) {
    case DTypeRule::kPredicate: return DType::kBool;
    case DTypeRule::kFloat:
    case DTypeRule::kDivide: return dtype_is_float(a) ? a : DType::kFloat64;
    case DTypeRule::kBitwise:
    case DTypeRule::kShift:
      if (kind == ScalarKind::kFloat || std::floor(s) != s) {
        throw std::invalid_argument(std::string(instr_name(op)) + ": not supported for a float scalar");
      }
      if (kind == ScalarKind::kBool) return result_dtype(op, a, DType::kBool);
      return a == DType::kBool ? result_dtype(op, DType::kInt64, DType::kInt64) : result_dtype(op, a, a);
    default: break;
  }
  if (dtype_is_float(a)) return a;
  if (kind == ScalarKind::kFloat || std::floor(s) != s) return DType::kFloat64;
  if (kind == ScalarKind::kBool) return result_dtype(op, a, DType::kBool);
  return a == DType::kBool ? DType::kInt64 : a;
}

namespace {

constexpr int64_t kBlock = 1024;

Program read_program(ParamReader& p, size_t num_inputs) {
  ElementwiseParams params = decode_params<ElementwiseParams>(p, "elementwise");
  Program prog;
  prog.compute = checked_dtype(static_cast<uint64_t>(params.compute), "elementwise");
  if (prog.compute != DType::kFloat32 && prog.compute != DType::kFloat64 && prog.compute != DType::kInt64 &&
      prog.compute != DType::kUInt64) {
    fail("elementwise: compute type must be float32, float64, int64 or uint64");
  }
  const bool integral = !dtype_is_float(prog.compute);
  if (params.program.empty() || params.program.size() > 100000) fail("elementwise: bad program length");
  size_t depth = 0;
  for (const Instruction& ins : params.program) {
    const int arity = instr_arity(ins.op);
    if (arity < 0) fail("elementwise: unknown instruction " + std::to_string(static_cast<int>(ins.op)));
    if (ins.op == Instr::kLoad || ins.op == Instr::kLoadT) {
      if (!(ins.arg >= 0) || ins.arg >= static_cast<double>(num_inputs) || ins.arg != std::floor(ins.arg)) {
        fail("elementwise: load of a missing input");
      }
    }
    if ((ins.op == Instr::kCast || ins.op == Instr::kWrap) &&
        (!(ins.arg >= 0) || ins.arg >= kNumDTypes || ins.arg != std::floor(ins.arg))) {
      fail("elementwise: bad cast type");
    }
    if (integral && arity > 0 && ins.op != Instr::kCast && ins.op != Instr::kWrap && ins.op != Instr::kWhere &&
        (rule_of(ins.op) == DTypeRule::kFloat || rule_of(ins.op) == DTypeRule::kDivide)) {
      fail(std::string("elementwise: ") + instr_name(ins.op) + " in an integer program");
    }
    if (integral && ins.op == Instr::kConst && !(std::abs(ins.arg) < 9.2e18 && ins.arg == std::floor(ins.arg))) {
      fail("elementwise: a constant that is no integer in an integer program");
    }
    if (depth < static_cast<size_t>(arity)) fail("elementwise: stack underflow");
    depth = depth - static_cast<size_t>(arity) + 1;
    prog.max_depth = std::max(prog.max_depth, depth);
  }
  if (depth != 1) fail("elementwise: program must leave exactly one value");
  prog.code = std::move(params.program);
  return prog;
}

// Evaluates the program over `len` elements into regs[0]. `load(in, r)` and
// `load_t(in, r)` fill a register with the block's elements of input `in`, read as it
// is or transposed.
template <typename C, typename Load, typename LoadT>
void eval_block(const Program& prog, std::span<const Chunk> inputs, std::vector<std::vector<C>>& regs, int64_t len,
                Load&& load, LoadT&& load_t) {
  size_t sp = 0;
  for (size_t pc = 0; pc < prog.code.size(); ++pc) {
    const Instruction& ins = prog.code[pc];
    // A constant followed by arithmetic: one pass with the scalar, no constant register.
    if (ins.op == Instr::kConst && pc + 1 < prog.code.size() && sp >= 1) {
      const Instr next = prog.code[pc + 1].op;
      const C c = static_cast<C>(ins.arg);
      C* a = regs[sp - 1].data();
      bool fused = true;
      switch (next) {
        case Instr::kAdd: for (int64_t i = 0; i < len; ++i) a[i] += c; break;
        case Instr::kSub: for (int64_t i = 0; i < len; ++i) a[i] -= c; break;
        case Instr::kMul: for (int64_t i = 0; i < len; ++i) a[i] *= c; break;
        case Instr::kDiv:
          if constexpr (std::is_integral_v<C>) {
            fused = false;
          } else {
            for (int64_t i = 0; i < len; ++i) a[i] /= c;
          }
          break;
        default: fused = false;
      }
      if (fused) {
        ++pc;
        continue;
      }
    }
    switch (ins.op) {
      case Instr::kLoad: load(inputs[static_cast<size_t>(ins.arg)], regs[sp++].data()); break;
      case Instr::kLoadT: load_t(inputs[static_cast<size_t>(ins.arg)], regs[sp++].data()); break;
      case Instr::kConst: {
        C* r = regs[sp++].data();
        std::fill_n(r, len, static_cast<C>(ins.arg));
        break;
      }
      case Instr::kCast: {
        C* r = regs[sp - 1].data();
        visit_dtype(static_cast<DType>(static_cast<int>(ins.arg)), [&](auto t) {
          using T = decltype(t);
          for (int64_t i = 0; i < len; ++i) r[i] = static_cast<C>(convert<T>(r[i]));
        });
        break;
      }
      case Instr::kWrap: {
        C* r = regs[sp - 1].data();
        visit_dtype(static_cast<DType>(static_cast<int>(ins.arg)), [&](auto t) {
          using T = decltype(t);
          if constexpr (std::is_same_v<T, bool> || !std::is_integral_v<T>) {
            for (int64_t i = 0; i < len; ++i) r[i] = static_cast<C>(convert<T>(r[i]));
          } else if constexpr (std::is_integral_v<C>) {
            for (int64_t i = 0; i < len; ++i) r[i] = static_cast<C>(static_cast<T>(r[i]));
          } else {  // an integer value held as a float: through int64, which wraps
            for (int64_t i = 0; i < len; ++i) r[i] = static_cast<C>(static_cast<T>(static_cast<int64_t>(r[i])));
          }
        });
        break;
      }
#define RSDAT_UNARY(name, Tag, code, rule, expr)          \
  case Instr::k##Tag: {                                   \
    C* r = regs[sp - 1].data();                           \
    for (int64_t i = 0; i < len; ++i) {                   \
      const C x = r[i];                                   \
      r[i] = (expr);                                      \
    }                                                     \
    break;                                                \
  }
#define RSDAT_BINARY(name, Tag, code, rule, expr)         \
  case Instr::k##Tag: {                                   \
    C* r = regs[sp - 2].data();                           \
    const C* b = regs[sp - 1].data();                     \
    for (int64_t i = 0; i < len; ++i) {                   \
      const C x = r[i], y = b[i];                         \
      r[i] = (expr);                                      \
    }                                                     \
    --sp;                                                 \
    break;                                                \
  }
#include "rsdat/elementwise_ops.def"
      case Instr::kWhere: {
        C* c = regs[sp - 3].data();
        const C* x = regs[sp - 2].data();
        const C* y = regs[sp - 1].data();
        if constexpr (std::is_floating_point_v<C>) {
          // Selected by bit masks: the vectoriser takes this form, and a cloud mask's
          // scattered choices cost no mispredicted branches.
          using U = std::conditional_t<sizeof(C) == 4, uint32_t, uint64_t>;
          for (int64_t i = 0; i < len; ++i) {
            const U m = U(0) - static_cast<U>(c[i] != 0);
            c[i] = std::bit_cast<C>((std::bit_cast<U>(x[i]) & m) | (std::bit_cast<U>(y[i]) & ~m));
          }
        } else {
          for (int64_t i = 0; i < len; ++i) {
            const C a = x[i], b = y[i];
            c[i] = c[i] != 0 ? a : b;
          }
        }
        sp -= 2;
        break;
      }
      default: fail("elementwise: bad instruction");
    }
  }
}

}  // namespace

namespace {

// The strides (in elements) at which an input broadcast to `out` is read along each of
// out's axes: 0 along an axis it lacks or has with size 1. Empty when the input has
// out's shape (read in memory order).
Shape broadcast_strides(const Shape& in, const Shape& out) {
  if (in == out) return {};
  const Shape st = c_strides(in);
  const size_t shift = out.size() - in.size();
  Shape b(out.size(), 0);
  for (size_t d = 0; d < in.size(); ++d) b[shift + d] = in[d] == 1 ? 0 : st[d];
  return b;
}

// Fills r[0..len) with the elements of a broadcast input `s` at output elements
// start..start+len of an output of `shape`, a run of the last axis at a time.
template <typename C, typename From>
void load_broadcast(const From* s, const Shape& shape, const Shape& bstr, int64_t start, int64_t len, C* r) {
  const size_t nd = shape.size();
  if (nd == 0) {
    std::fill_n(r, len, static_cast<C>(s[0]));
    return;
  }
  Shape idx(nd);
  int64_t rest = start, off = 0;
  for (size_t d = nd; d-- > 0;) {
    idx[d] = rest % shape[d];
    rest /= shape[d];
    off += idx[d] * bstr[d];
  }
  const int64_t last = shape[nd - 1], step = bstr[nd - 1];
  for (int64_t i = 0; i < len;) {
    const int64_t run = std::min(len - i, last - idx[nd - 1]);
    if (step == 0) {
      std::fill_n(r + i, run, static_cast<C>(s[off]));
    } else {
      for (int64_t j = 0; j < run; ++j) r[i + j] = static_cast<C>(s[off + j]);
    }
    i += run;
    idx[nd - 1] += run;
    off += run * step;
    for (size_t d = nd - 1; d > 0 && idx[d] == shape[d]; --d) {  // carry into the axes before
      idx[d] = 0;
      off -= shape[d] * bstr[d];
      ++idx[d - 1];
      off += bstr[d - 1];
    }
  }
}

}  // namespace

template <typename C>
void run_program(const Program& prog, std::span<const Chunk> inputs, const Shape& shape, const ValueSink<C>& sink,
                 int64_t strip_cols) {
  const int64_t n = shape_size(shape);
  std::vector<std::vector<C>> regs(prog.max_depth, std::vector<C>(kBlock));
  const bool transposes = std::any_of(prog.code.begin(), prog.code.end(),
                                      [](const Instruction& i) { return i.op == Instr::kLoadT; });
  // Inputs of another shape than the output are broadcast to it (checked before).
  std::vector<Shape> bstrides(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) bstrides[i] = broadcast_strides(inputs[i].shape, shape);
  auto strides_of = [&](const Chunk& in) -> const Shape& { return bstrides[static_cast<size_t>(&in - inputs.data())]; };
  if (!transposes) {
    auto run_block = [&](int64_t start, int64_t len) {
      auto load = [&](const Chunk& in, C* r) {
        visit_dtype(in.dtype, [&](auto f) {
          using From = decltype(f);
          const Shape& bstr = strides_of(in);
          if (!bstr.empty()) return load_broadcast(in.data<From>(), shape, bstr, start, len, r);
          const From* s = in.data<From>() + start;
          for (int64_t i = 0; i < len; ++i) r[i] = static_cast<C>(s[i]);
        });
      };
      eval_block<C>(prog, inputs, regs, len, load, load);  // no transposed loads here
      sink(start, len, 1, 0, regs[0].data());
    };
    if (strip_cols > 0 && n > strip_cols && n % strip_cols == 0) {
      // Strips of kStrip columns of the rows, each strip down every row, so that what the
      // sink keeps per column (a reduction's partial) stays in cache for all rows.
      constexpr int64_t kStrip = 8 * kBlock;
      const int64_t rows = n / strip_cols;
      for (int64_t c0 = 0; c0 < strip_cols; c0 += kStrip) {
        const int64_t w = std::min(kStrip, strip_cols - c0);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t b = 0; b < w; b += kBlock) run_block(r * strip_cols + c0 + b, std::min(kBlock, w - b));
      }
      return;
    }
    // Runs of kBlock elements in memory order.
    for (int64_t start = 0; start < n; start += kBlock) run_block(start, std::min(kBlock, n - start));
    return;
  }
  // A transposed input (2-D): square tiles, so that both the input read across and the
  // one read down stay in cache and in the TLB (a row of the output is a column of the
  // input, one page per element).
  constexpr int64_t kTile = 32;
  static_assert(kTile * kTile <= kBlock);
  const int64_t rows = shape[0], cols = shape[1];
  for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
    const int64_t th = std::min(kTile, rows - r0);
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t tw = std::min(kTile, cols - c0);
      auto load = [&](const Chunk& in, C* r) {
        visit_dtype(in.dtype, [&](auto f) {
          using From = decltype(f);
          const From* s = in.data<From>();
          if (const Shape& bstr = strides_of(in); !bstr.empty()) {
            for (int64_t i = 0; i < th; ++i)
              for (int64_t j = 0; j < tw; ++j) r[i * tw + j] = static_cast<C>(s[(r0 + i) * bstr[0] + (c0 + j) * bstr[1]]);
            return;
          }
          if (c0 + kTile < cols) {
            for (int64_t i = 0; i < th; ++i) {
              const From* row = s + (r0 + i) * cols + c0 + kTile;
              for (int64_t j = 0; j < kTile; j += 64 / static_cast<int64_t>(sizeof(From))) __builtin_prefetch(row + j);
            }
          }
          for (int64_t i = 0; i < th; ++i)
            for (int64_t j = 0; j < tw; ++j) r[i * tw + j] = static_cast<C>(s[(r0 + i) * cols + c0 + j]);
        });
      };
      auto load_t = [&](const Chunk& in, C* r) {
        // Output (row, col) is input (col, row): input rows c0.. read along.
        visit_dtype(in.dtype, [&](auto f) {
          using From = decltype(f);
          const From* s = in.data<From>();
          // The next tile's rows are far apart (no prefetcher follows them): ask for them now.
          if (c0 + kTile < cols) {
            const int64_t next = std::min(kTile, cols - c0 - kTile);
            for (int64_t j = 0; j < next; ++j) {
              const From* row = s + (c0 + kTile + j) * rows + r0;
              for (int64_t i = 0; i < th; i += 64 / static_cast<int64_t>(sizeof(From))) __builtin_prefetch(row + i);
            }
          }
          if constexpr (std::is_same_v<From, C> && sizeof(C) == 8) {
            if (transpose_8byte(s + c0 * rows + r0, rows, r, tw, th, tw)) return;
          }
          for (int64_t j = 0; j < tw; ++j)
            for (int64_t i = 0; i < th; ++i) r[i * tw + j] = static_cast<C>(s[(c0 + j) * rows + r0 + i]);
        });
      };
      eval_block<C>(prog, inputs, regs, th * tw, load, load_t);
      sink(r0 * cols + c0, tw, th, cols, regs[0].data());
    }
  }
}

template void run_program<float>(const Program&, std::span<const Chunk>, const Shape&, const ValueSink<float>&,
                                   int64_t);
template void run_program<double>(const Program&, std::span<const Chunk>, const Shape&, const ValueSink<double>&,
                                   int64_t);
template void run_program<int64_t>(const Program&, std::span<const Chunk>, const Shape&, const ValueSink<int64_t>&,
                                   int64_t);
template void run_program<uint64_t>(const Program&, std::span<const Chunk>, const Shape&, const ValueSink<uint64_t>&,
                                   int64_t);

namespace {
// NumPy's rule: `in`, aligned on the right, has each of out's dims or 1 there.
bool broadcasts_to(const Shape& in, const Shape& out) {
  if (in.size() > out.size()) return false;
  const size_t shift = out.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d)
    if (in[d] != out[shift + d] && in[d] != 1) return false;
  return true;
}
}  // namespace

// Reads an elementwise program and checks its inputs against the output shape (each of
// it, broadcast to it, or for a transposed load its transpose).
Program read_checked_program(KernelContext& ctx) {
  Program prog = read_program(ctx.params, ctx.inputs.size());
  check_no_trailing(ctx.params, "elementwise");
  check_inputs(ctx, ctx.inputs.size(), "elementwise");
  Shape transposed_shape;
  if (ctx.out_shape.size() == 2) transposed_shape = {ctx.out_shape[1], ctx.out_shape[0]};
  for (const Instruction& ins : prog.code) {
    if (ins.op != Instr::kLoad && ins.op != Instr::kLoadT) continue;
    const Chunk& in = ctx.inputs[static_cast<size_t>(ins.arg)];
    if (ins.op == Instr::kLoad && broadcasts_to(in.shape, ctx.out_shape)) continue;
    const Shape& want = ins.op == Instr::kLoad ? ctx.out_shape : transposed_shape;
    if (in.shape != want || (ins.op == Instr::kLoadT && ctx.out_shape.size() != 2)) {
      fail("elementwise: input of shape " + shape_to_string(in.shape) + " for output " +
           shape_to_string(ctx.out_shape) + (ins.op == Instr::kLoadT ? " (transposed)" : ""));
    }
  }
  return prog;
}

namespace {

Chunk elementwise_kernel(KernelContext& ctx) {
  Program prog = read_checked_program(ctx);
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  visit_dtype(out.dtype, [&](auto t) {
    using T = decltype(t);
    T* d = out.mutable_data<T>();
    auto store = [&](int64_t off, int64_t width, int64_t rows, int64_t stride, const auto* v) {
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < width; ++i) d[off + r * stride + i] = convert<T>(v[r * width + i]);
    };
    switch (prog.compute) {
      case DType::kInt64: run_program<int64_t>(prog, ctx.inputs, ctx.out_shape, ValueSink<int64_t>(store)); break;
      case DType::kUInt64: run_program<uint64_t>(prog, ctx.inputs, ctx.out_shape, ValueSink<uint64_t>(store)); break;
      default:
        run_program_as_computed(prog, ctx.inputs, ctx.out_shape, [&](int64_t off, int64_t len, const auto* v) {
          for (int64_t i = 0; i < len; ++i) d[off + i] = convert<T>(v[i]);
        });
    }
  });
  return out;
}


}  // namespace

void register_elementwise_ops(OpRegistry& r) { r.add(kElementwise, elementwise_kernel, CostClass::kDataBound); }

}  // namespace rsdat::ops
