// The built-in chunk kernels. Parameter layouts are in builtin_ops.hpp; every
// kernel checks its inputs and parameters and throws std::invalid_argument on
// anything malformed (the task fails, the worker goes on).
#include "runtime/builtin_ops.hpp"
#include "runtime/zarr.hpp"

#include <Eigen/Core>
#include <immintrin.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <type_traits>

namespace rsdat::ops {

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument(message); }

template <typename To, typename From>
inline To convert(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else {
    return static_cast<To>(v);
  }
}

void check_inputs(const KernelContext& ctx, size_t n, const char* op) {
  if (ctx.inputs.size() != n) {
    fail(std::string(op) + ": expected " + std::to_string(n) + " inputs, got " + std::to_string(ctx.inputs.size()));
  }
  for (const Chunk& c : ctx.inputs) {
    if (!c.buffer || c.buffer->size() < c.nbytes()) fail(std::string(op) + ": input buffer smaller than its shape");
  }
}

void check_no_trailing(const ParamReader& p, const char* op) {
  if (!p.at_end()) fail(std::string(op) + ": trailing bytes in parameters");
}

DType checked_dtype(uint64_t v, const char* op) {
  if (v >= static_cast<uint64_t>(kNumDTypes)) fail(std::string(op) + ": bad dtype " + std::to_string(v));
  return static_cast<DType>(v);
}

// Copies n elements converting types (memcpy when they are the same).
void convert_elements(const Chunk& src, int64_t src_off, DType to, uint8_t* dst, int64_t n) {
  if (src.dtype == to) {
    std::memcpy(dst, src.bytes() + static_cast<size_t>(src_off) * dtype_size(to), static_cast<size_t>(n) * dtype_size(to));
    return;
  }
  visit_dtype(src.dtype, [&](auto f) {
    using From = decltype(f);
    const From* s = src.data<From>() + src_off;
    visit_dtype(to, [&](auto t) {
      using To = decltype(t);
      To* d = reinterpret_cast<To*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = convert<To>(s[i]);
    });
  });
}

// ---- fill and random --------------------------------------------------------

Chunk fill_kernel(KernelContext& ctx) {
  check_inputs(ctx, 0, "fill");
  double value = ctx.params.f64();
  check_no_trailing(ctx.params, "fill");
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  visit_dtype(out.dtype, [&](auto t) {
    using T = decltype(t);
    std::fill_n(out.mutable_data<T>(), out.num_elements(), convert<T>(value));
  });
  return out;
}

inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The stream of uniform_at(), n values from index `first`. The loop is the same for
// every instruction set; with AVX-512 (64-bit multiplies and conversions in vectors)
// the compiler runs it about four times faster, with the same results to the bit.
template <typename T>
[[gnu::always_inline]] inline void uniform_row(uint64_t key, uint64_t first, int64_t n, T* out) {
  for (int64_t j = 0; j < n; ++j) {
    const double v = static_cast<double>(mix64(key + (first + static_cast<uint64_t>(j)) * 0x9E3779B97F4A7C15ull) >> 11) *
                     0x1.0p-53;
    if constexpr (std::is_same_v<T, double>) {
      out[j] = v;
    } else {
      out[j] = std::min(static_cast<float>(v), 0x1.fffffep-1f);  // float(v) may round up to 1
    }
  }
}
template <typename T>
void uniform_row_generic(uint64_t key, uint64_t first, int64_t n, T* out) {
  uniform_row(key, first, n, out);
}
template <typename T>
[[gnu::target("avx512f,avx512dq,avx512vl")]] void uniform_row_avx512(uint64_t key, uint64_t first, int64_t n, T* out) {
  uniform_row(key, first, n, out);
}
bool cpu_has_avx512() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
  }();
  return has;
}
// GCC 12's AVX-512 headers start shuffles from an "undefined" vector it then warns
// about; the values are fully defined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// Transposes of 8-byte elements, 8 x 8 at a time in AVX-512 registers: a column of
// the source is read as 8 rows' worth of one vector each, not element by element.
// dst[a * ldd + b] = src[b * lds + a] for a < drows, b < dcols (multiples of 8).
[[gnu::target("avx512f")]] [[gnu::always_inline]] inline void transpose8x8_avx512(const double* src, int64_t lds,
                                                                                 double* dst, int64_t ldd) {
  __m512d r[8], a[8], b[8];
  for (int k = 0; k < 8; ++k) r[k] = _mm512_loadu_pd(src + k * lds);
  for (int k = 0; k < 8; k += 2) {
    a[k] = _mm512_unpacklo_pd(r[k], r[k + 1]);
    a[k + 1] = _mm512_unpackhi_pd(r[k], r[k + 1]);
  }
  for (int h = 0; h < 8; h += 4) {  // rows 0-3, then 4-7
    b[h + 0] = _mm512_shuffle_f64x2(a[h + 0], a[h + 2], 0x88);
    b[h + 1] = _mm512_shuffle_f64x2(a[h + 0], a[h + 2], 0xDD);
    b[h + 2] = _mm512_shuffle_f64x2(a[h + 1], a[h + 3], 0x88);
    b[h + 3] = _mm512_shuffle_f64x2(a[h + 1], a[h + 3], 0xDD);
  }
  _mm512_storeu_pd(dst + 0 * ldd, _mm512_shuffle_f64x2(b[0], b[4], 0x88));
  _mm512_storeu_pd(dst + 4 * ldd, _mm512_shuffle_f64x2(b[0], b[4], 0xDD));
  _mm512_storeu_pd(dst + 2 * ldd, _mm512_shuffle_f64x2(b[1], b[5], 0x88));
  _mm512_storeu_pd(dst + 6 * ldd, _mm512_shuffle_f64x2(b[1], b[5], 0xDD));
  _mm512_storeu_pd(dst + 1 * ldd, _mm512_shuffle_f64x2(b[2], b[6], 0x88));
  _mm512_storeu_pd(dst + 5 * ldd, _mm512_shuffle_f64x2(b[2], b[6], 0xDD));
  _mm512_storeu_pd(dst + 3 * ldd, _mm512_shuffle_f64x2(b[3], b[7], 0x88));
  _mm512_storeu_pd(dst + 7 * ldd, _mm512_shuffle_f64x2(b[3], b[7], 0xDD));
}
[[gnu::target("avx512f")]] void transpose_blocks_avx512(const double* src, int64_t lds, double* dst, int64_t ldd,
                                                        int64_t drows, int64_t dcols) {
  for (int64_t b = 0; b < dcols; b += 8)
    for (int64_t a = 0; a < drows; a += 8) transpose8x8_avx512(src + b * lds + a, lds, dst + a * ldd + b, ldd);
}
#pragma GCC diagnostic pop
// False (and nothing done) when the CPU or the sizes do not allow it. Elements are
// moved, never computed on: any 8-byte type may pass as double.
bool transpose_8byte(const void* src, int64_t lds, void* dst, int64_t ldd, int64_t drows, int64_t dcols) {
  if (drows % 8 != 0 || dcols % 8 != 0 || !cpu_has_avx512()) return false;
  transpose_blocks_avx512(static_cast<const double*>(src), lds, static_cast<double*>(dst), ldd, drows, dcols);
  return true;
}

template <typename T>
void uniform_values_as(uint64_t seed, uint64_t first, int64_t n, T* out, Isa isa) {
  const uint64_t key = mix64(seed ^ 0x5851F42D4C957F2Dull);
  if (isa == Isa::kBest && cpu_has_avx512()) {
    uniform_row_avx512(key, first, n, out);
  } else {
    uniform_row_generic(key, first, n, out);
  }
}

Chunk random_uniform_kernel(KernelContext& ctx) {
  check_inputs(ctx, 0, "random_uniform");
  uint64_t seed = ctx.params.u64();
  std::vector<int64_t> array_shape = ctx.params.i64s(64);
  std::vector<int64_t> offset = ctx.params.i64s(64);
  check_no_trailing(ctx.params, "random_uniform");
  const size_t nd = ctx.out_shape.size();
  if (array_shape.size() != nd || offset.size() != nd) fail("random_uniform: parameters do not match the chunk's dims");
  for (size_t i = 0; i < nd; ++i) {
    if (offset[i] < 0 || array_shape[i] < 0 || offset[i] + ctx.out_shape[i] > array_shape[i]) {
      fail("random_uniform: chunk lies outside the array");
    }
  }
  if (!dtype_is_float(ctx.out_dtype)) fail("random_uniform: dtype must be float32 or float64");
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  const int64_t n = out.num_elements();
  if (n == 0) return out;
  const Shape gstrides = c_strides(array_shape);
  const int64_t row = nd == 0 ? 1 : ctx.out_shape[nd - 1];
  const int64_t rows = n / row;
  std::vector<int64_t> idx(nd == 0 ? 0 : nd - 1, 0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t lin = 0;
    for (size_t k = 0; k + 1 < nd; ++k) lin += (offset[k] + idx[k]) * gstrides[k];
    if (nd > 0) lin += offset[nd - 1];
    if (out.dtype == DType::kFloat64) {
      uniform_values(seed, static_cast<uint64_t>(lin), row, out.mutable_data<double>() + r * row);
    } else {
      uniform_values(seed, static_cast<uint64_t>(lin), row, out.mutable_data<float>() + r * row);
    }
    for (size_t k = idx.size(); k-- > 0;) {
      if (++idx[k] < ctx.out_shape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

Chunk coordinate_kernel(KernelContext& ctx) {
  check_inputs(ctx, 0, "coordinate");
  int64_t axis = ctx.params.i64();
  int64_t offset = ctx.params.i64();
  check_no_trailing(ctx.params, "coordinate");
  const size_t nd = ctx.out_shape.size();
  if (axis < 0 || axis >= static_cast<int64_t>(nd)) fail("coordinate: axis out of range");
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  const int64_t n = out.num_elements();
  if (n == 0) return out;
  const int64_t inner = c_strides(ctx.out_shape)[axis];  // elements per step along axis
  const int64_t len = ctx.out_shape[axis];
  visit_dtype(out.dtype, [&](auto t) {
    using T = decltype(t);
    T* d = out.mutable_data<T>();
    for (int64_t start = 0; start < n; start += inner * len)
      for (int64_t i = 0; i < len; ++i) std::fill_n(d + start + i * inner, inner, convert<T>(offset + i));
  });
  return out;
}

// ---- elementwise ------------------------------------------------------------

constexpr int64_t kBlock = 1024;

struct Program {
  DType compute;
  std::vector<Instruction> code;
  size_t max_depth = 0;
};

Program read_program(ParamReader& p, size_t num_inputs) {
  Program prog;
  prog.compute = checked_dtype(p.u8(), "elementwise");
  if (prog.compute != DType::kFloat32 && prog.compute != DType::kFloat64) fail("elementwise: compute type must be float");
  uint64_t n = p.u64();
  if (n == 0 || n > 100000) fail("elementwise: bad program length");
  size_t depth = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint8_t op = p.u8();
    double arg = p.f64();
    if (op > kMaxInstr) fail("elementwise: unknown instruction " + std::to_string(op));
    Instruction ins{static_cast<Instr>(op), arg};
    switch (ins.op) {
      case Instr::kLoad:
      case Instr::kLoadT:
        if (!(arg >= 0) || arg >= static_cast<double>(num_inputs) || arg != std::floor(arg)) {
          fail("elementwise: load of a missing input");
        }
        ++depth;
        break;
      case Instr::kConst: ++depth; break;
      case Instr::kAdd: case Instr::kSub: case Instr::kMul: case Instr::kDiv: case Instr::kPow:
      case Instr::kMinimum: case Instr::kMaximum:
        if (depth < 2) fail("elementwise: stack underflow");
        --depth;
        break;
      case Instr::kWhere:
        if (depth < 3) fail("elementwise: stack underflow");
        depth -= 2;
        break;
      case Instr::kCast:
        if (!(arg >= 0) || arg >= kNumDTypes || arg != std::floor(arg)) fail("elementwise: bad cast type");
        [[fallthrough]];
      default:
        if (depth < 1) fail("elementwise: stack underflow");
    }
    prog.max_depth = std::max(prog.max_depth, depth);
    prog.code.push_back(ins);
  }
  if (depth != 1) fail("elementwise: program must leave exactly one value");
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
        case Instr::kDiv: for (int64_t i = 0; i < len; ++i) a[i] /= c; break;
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
      case Instr::kNeg: { C* r = regs[sp - 1].data(); for (int64_t i = 0; i < len; ++i) r[i] = -r[i]; break; }
      case Instr::kAbs: { C* r = regs[sp - 1].data(); for (int64_t i = 0; i < len; ++i) r[i] = std::abs(r[i]); break; }
      case Instr::kSqrt: { C* r = regs[sp - 1].data(); for (int64_t i = 0; i < len; ++i) r[i] = std::sqrt(r[i]); break; }
      case Instr::kExp: { C* r = regs[sp - 1].data(); for (int64_t i = 0; i < len; ++i) r[i] = std::exp(r[i]); break; }
      case Instr::kLog: { C* r = regs[sp - 1].data(); for (int64_t i = 0; i < len; ++i) r[i] = std::log(r[i]); break; }
      case Instr::kSin: { C* r = regs[sp - 1].data(); for (int64_t i = 0; i < len; ++i) r[i] = std::sin(r[i]); break; }
      case Instr::kCos: { C* r = regs[sp - 1].data(); for (int64_t i = 0; i < len; ++i) r[i] = std::cos(r[i]); break; }
      case Instr::kIsNan: { C* r = regs[sp - 1].data(); for (int64_t i = 0; i < len; ++i) r[i] = std::isnan(r[i]) ? 1 : 0; break; }
      case Instr::kWhere: {
        C* c = regs[sp - 3].data();
        const C* x = regs[sp - 2].data();
        const C* y = regs[sp - 1].data();
        for (int64_t i = 0; i < len; ++i) c[i] = c[i] != 0 ? x[i] : y[i];
        sp -= 2;
        break;
      }
      default: {
        C* a = regs[sp - 2].data();
        const C* b = regs[sp - 1].data();
        --sp;
        switch (ins.op) {
          case Instr::kAdd: for (int64_t i = 0; i < len; ++i) a[i] += b[i]; break;
          case Instr::kSub: for (int64_t i = 0; i < len; ++i) a[i] -= b[i]; break;
          case Instr::kMul: for (int64_t i = 0; i < len; ++i) a[i] *= b[i]; break;
          case Instr::kDiv: for (int64_t i = 0; i < len; ++i) a[i] /= b[i]; break;
          case Instr::kPow: for (int64_t i = 0; i < len; ++i) a[i] = std::pow(a[i], b[i]); break;
          case Instr::kMinimum:
            for (int64_t i = 0; i < len; ++i) a[i] = (std::isnan(a[i]) || a[i] < b[i]) ? a[i] : b[i];
            break;
          case Instr::kMaximum:
            for (int64_t i = 0; i < len; ++i) a[i] = (std::isnan(a[i]) || a[i] > b[i]) ? a[i] : b[i];
            break;
          default: fail("elementwise: bad instruction");
        }
      }
    }
  }
}

// Evaluates the program over an output of `shape` and hands the values, in the compute
// type, to the sink a block at a time: `rows` runs of `width` values (row-major in
// `values`), the first at element `offset` of the output (C order), the next `stride`
// elements further. The sink is type-erased (one instantiation per compute type) and
// called once per block of up to kBlock values.
template <typename C>
using ValueSink = std::function<void(int64_t offset, int64_t width, int64_t rows, int64_t stride, const C* values)>;

template <typename C>
void run_program(const Program& prog, std::span<const Chunk> inputs, const Shape& shape, const ValueSink<C>& sink) {
  const int64_t n = shape_size(shape);
  std::vector<std::vector<C>> regs(prog.max_depth, std::vector<C>(kBlock));
  const bool transposes = std::any_of(prog.code.begin(), prog.code.end(),
                                      [](const Instruction& i) { return i.op == Instr::kLoadT; });
  if (!transposes) {
    // Runs of kBlock elements in memory order.
    for (int64_t start = 0; start < n; start += kBlock) {
      const int64_t len = std::min(kBlock, n - start);
      auto load = [&](const Chunk& in, C* r) {
        visit_dtype(in.dtype, [&](auto f) {
          using From = decltype(f);
          const From* s = in.data<From>() + start;
          for (int64_t i = 0; i < len; ++i) r[i] = static_cast<C>(s[i]);
        });
      };
      eval_block<C>(prog, inputs, regs, len, load, load);  // no transposed loads here
      sink(start, len, 1, 0, regs[0].data());
    }
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

// Reads an elementwise program and checks its inputs against the output shape.
Program read_checked_program(KernelContext& ctx) {
  Program prog = read_program(ctx.params, ctx.inputs.size());
  check_no_trailing(ctx.params, "elementwise");
  check_inputs(ctx, ctx.inputs.size(), "elementwise");
  Shape transposed_shape;
  if (ctx.out_shape.size() == 2) transposed_shape = {ctx.out_shape[1], ctx.out_shape[0]};
  for (const Instruction& ins : prog.code) {
    if (ins.op != Instr::kLoad && ins.op != Instr::kLoadT) continue;
    const Chunk& in = ctx.inputs[static_cast<size_t>(ins.arg)];
    const Shape& want = ins.op == Instr::kLoad ? ctx.out_shape : transposed_shape;
    if (in.shape != want || (ins.op == Instr::kLoadT && ctx.out_shape.size() != 2)) {
      fail("elementwise: input of shape " + shape_to_string(in.shape) + " for output " +
           shape_to_string(ctx.out_shape) + (ins.op == Instr::kLoadT ? " (transposed)" : ""));
    }
  }
  return prog;
}

// Runs the program in its compute type, handing each run of consecutive output values
// to `segment(offset, len, values)` (a generic lambda: values are float or double).
template <typename Segment>
void run_program_as_computed(const Program& prog, std::span<const Chunk> inputs, const Shape& shape,
                             Segment&& segment) {
  auto by_rows = [&](int64_t offset, int64_t width, int64_t rows, int64_t stride, const auto* values) {
    for (int64_t r = 0; r < rows; ++r) segment(offset + r * stride, width, values + r * width);
  };
  if (prog.compute == DType::kFloat32) {
    run_program<float>(prog, inputs, shape, ValueSink<float>(by_rows));
  } else {
    run_program<double>(prog, inputs, shape, ValueSink<double>(by_rows));
  }
}

Chunk elementwise_kernel(KernelContext& ctx) {
  Program prog = read_checked_program(ctx);
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  visit_dtype(out.dtype, [&](auto t) {
    using T = decltype(t);
    T* d = out.mutable_data<T>();
    run_program_as_computed(prog, ctx.inputs, ctx.out_shape, [&](int64_t off, int64_t len, const auto* v) {
      for (int64_t i = 0; i < len; ++i) d[off + i] = convert<T>(v[i]);
    });
  });
  return out;
}

// ---- transpose --------------------------------------------------------------

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
  std::vector<int64_t> perm = ctx.params.i64s(64);
  check_no_trailing(ctx.params, "transpose");
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

// ---- reductions -------------------------------------------------------------

FinalizeSpec read_finalize(ParamReader& p) {
  FinalizeSpec f;
  uint8_t w = p.u8();
  if (w > static_cast<uint8_t>(Finalize::kStd)) fail("reduce: unknown finalize step");
  f.what = static_cast<Finalize>(w);
  f.count = p.f64();
  f.ddof = p.f64();
  return f;
}

ReduceKind read_kind(ParamReader& p) {
  uint8_t k = p.u8();
  if (k > static_cast<uint8_t>(ReduceKind::kMoments)) fail("reduce: unknown kind");
  return static_cast<ReduceKind>(k);
}

void check_finalize_fits(ReduceKind kind, const FinalizeSpec& f) {
  bool ok = true;
  switch (f.what) {
    case Finalize::kNone: break;
    case Finalize::kSum: case Finalize::kMean: ok = kind == ReduceKind::kSum; break;
    case Finalize::kMin: ok = kind == ReduceKind::kMin; break;
    case Finalize::kMax: ok = kind == ReduceKind::kMax; break;
    case Finalize::kVar: case Finalize::kStd: ok = kind == ReduceKind::kMoments; break;
  }
  if (!ok) fail("reduce: finalize step does not fit the reduction kind");
  if (f.what == Finalize::kMean && !(f.count > 0)) {
    // The mean over zero elements is NaN, as NumPy gives.
  }
}

DType partial_type(ReduceKind kind, DType in) {
  switch (kind) {
    case ReduceKind::kSum: return dtype_is_float(in) ? DType::kFloat64 : DType::kInt64;
    case ReduceKind::kMoments: return DType::kFloat64;
    default: return in;
  }
}

// Writes the final values of a combined partial (K elements per slot) into out.
void finalize_into(ReduceKind kind, const FinalizeSpec& f, const Chunk& partial, int64_t k, Chunk& out) {
  visit_dtype(out.dtype, [&](auto t) {
    using T = decltype(t);
    T* d = out.mutable_data<T>();
    if (kind == ReduceKind::kMoments) {
      const double* cnt = partial.data<double>();
      const double* m2 = cnt + 2 * k;
      for (int64_t i = 0; i < k; ++i) {
        double var = m2[i] / (cnt[i] - f.ddof);
        if (cnt[i] - f.ddof <= 0) var = std::numeric_limits<double>::quiet_NaN();
        d[i] = convert<T>(f.what == Finalize::kStd ? std::sqrt(var) : var);
      }
      return;
    }
    visit_dtype(partial.dtype, [&](auto p) {
      using P = decltype(p);
      const P* s = partial.data<P>();
      for (int64_t i = 0; i < k; ++i) {
        if (f.what == Finalize::kMean) {
          d[i] = convert<T>(static_cast<double>(s[i]) / f.count);
        } else {
          d[i] = convert<T>(s[i]);
        }
      }
    });
  });
}

// The output shape of a final step: the keepdims shape with the reduced axes dropped;
// checked by element count and by the kept dims.
void check_final_shape(const Shape& keep, const std::vector<bool>& reduced, const Shape& out_shape, const char* op) {
  Shape expect;
  for (size_t i = 0; i < keep.size(); ++i)
    if (!reduced[i]) expect.push_back(keep[i]);
  if (expect != out_shape) fail(std::string(op) + ": output shape " + shape_to_string(out_shape) + ", expected " +
                                shape_to_string(expect));
}

template <typename In, typename A, typename Op>
void reduce_rows(const In* in, const Shape& shape, const std::vector<bool>& reduced, A* acc, Op op) {
  const size_t nd = shape.size();
  const int64_t n = shape_size(shape);
  if (n == 0) return;
  // Output strides (keepdims C order), zero along reduced axes.
  Shape keep = shape;
  for (size_t i = 0; i < nd; ++i)
    if (reduced[i]) keep[i] = 1;
  Shape ks = c_strides(keep);
  for (size_t i = 0; i < nd; ++i)
    if (reduced[i]) ks[i] = 0;
  const int64_t row = nd == 0 ? 1 : shape[nd - 1];
  const bool last_reduced = nd > 0 && reduced[nd - 1];
  const int64_t rows = n / row;
  std::vector<int64_t> idx(nd == 0 ? 0 : nd - 1, 0);
  int64_t o = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const In* src = in + r * row;
    if (last_reduced || nd == 0) {
      A a = acc[o];
      for (int64_t j = 0; j < row; ++j) a = op(a, static_cast<A>(src[j]));
      acc[o] = a;
    } else {
      A* dst = acc + o;
      for (int64_t j = 0; j < row; ++j) dst[j] = op(dst[j], static_cast<A>(src[j]));
    }
    for (size_t k = idx.size(); k-- > 0;) {
      o += ks[k];
      if (++idx[k] < shape[k]) break;
      o -= ks[k] * shape[k];
      idx[k] = 0;
    }
  }
}

template <typename T>
T nan_min(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
  }
  return b < a ? b : a;
}
template <typename T>
T nan_max(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
  }
  return b > a ? b : a;
}

// The partial of one input chunk (keepdims shape; moments with a leading 3).
Chunk compute_partial(ReduceKind kind, const Chunk& in, const std::vector<bool>& reduced, const Shape& keep) {
  const int64_t k = shape_size(keep);
  const DType pdt = partial_type(kind, in.dtype);
  Shape pshape = keep;
  if (kind == ReduceKind::kMoments) pshape.insert(pshape.begin(), 3);
  Chunk p = Chunk::allocate(pdt, pshape);
  const int64_t count = k == 0 ? 0 : in.num_elements() / std::max<int64_t>(k, 1);
  visit_dtype(in.dtype, [&](auto tag) {
    using In = decltype(tag);
    const In* src = in.data<In>();
    switch (kind) {
      case ReduceKind::kSum:
        if (pdt == DType::kFloat64) {
          double* a = p.mutable_data<double>();
          std::fill_n(a, k, 0.0);
          reduce_rows(src, in.shape, reduced, a, [](double x, double y) { return x + y; });
        } else {
          int64_t* a = p.mutable_data<int64_t>();
          std::fill_n(a, k, int64_t{0});
          reduce_rows(src, in.shape, reduced, a, [](int64_t x, int64_t y) { return x + y; });
        }
        break;
      case ReduceKind::kMin: {
        In* a = p.mutable_data<In>();
        if (count == 0) fail("min: zero-size reduction");
        std::fill_n(a, k, std::numeric_limits<In>::has_infinity ? std::numeric_limits<In>::infinity()
                                                                  : std::numeric_limits<In>::max());
        reduce_rows(src, in.shape, reduced, a, [](In x, In y) { return nan_min(x, y); });
        break;
      }
      case ReduceKind::kMax: {
        In* a = p.mutable_data<In>();
        if (count == 0) fail("max: zero-size reduction");
        std::fill_n(a, k, std::numeric_limits<In>::has_infinity ? -std::numeric_limits<In>::infinity()
                                                                  : std::numeric_limits<In>::lowest());
        reduce_rows(src, in.shape, reduced, a, [](In x, In y) { return nan_max(x, y); });
        break;
      }
      case ReduceKind::kMoments: {
        double* cnt = p.mutable_data<double>();
        double* mean = cnt + k;
        double* m2 = mean + k;
        std::fill_n(cnt, k, static_cast<double>(count));
        std::fill_n(mean, k, 0.0);
        std::fill_n(m2, k, 0.0);
        reduce_rows(src, in.shape, reduced, mean, [](double x, double y) { return x + y; });
        for (int64_t i = 0; i < k; ++i) mean[i] = count ? mean[i] / static_cast<double>(count) : 0.0;
        // Second pass: squared deviations from each output element's mean.
        const size_t nd = in.shape.size();
        Shape ks = c_strides(keep);
        for (size_t i = 0; i < nd; ++i)
          if (reduced[i]) ks[i] = 0;
        const int64_t n = in.num_elements();
        if (n == 0) break;
        const int64_t row = nd == 0 ? 1 : in.shape[nd - 1];
        const bool last_reduced = nd == 0 || reduced[nd - 1];
        std::vector<int64_t> idx(nd == 0 ? 0 : nd - 1, 0);
        int64_t o = 0;
        for (int64_t r = 0; r < n / row; ++r) {
          const In* s = src + r * row;
          if (last_reduced) {
            double mu = mean[o], acc = 0;
            for (int64_t j = 0; j < row; ++j) {
              double d = static_cast<double>(s[j]) - mu;
              acc += d * d;
            }
            m2[o] += acc;
          } else {
            for (int64_t j = 0; j < row; ++j) {
              double d = static_cast<double>(s[j]) - mean[o + j];
              m2[o + j] += d * d;
            }
          }
          for (size_t kk = idx.size(); kk-- > 0;) {
            o += ks[kk];
            if (++idx[kk] < in.shape[kk]) break;
            o -= ks[kk] * in.shape[kk];
            idx[kk] = 0;
          }
        }
        break;
      }
    }
  });
  return p;
}

// What a partial reduction reads after its input: kind, axes and finalising step.
struct ReduceRequest {
  ReduceKind kind;
  std::vector<bool> reduced;
  Shape keep;  // the input's shape with reduced axes 1
  FinalizeSpec fin;
};

ReduceRequest read_reduce(KernelContext& ctx, const Shape& in_shape) {
  ReduceRequest r;
  r.kind = read_kind(ctx.params);
  std::vector<int64_t> axes = ctx.params.i64s(64);
  r.fin = read_finalize(ctx.params);
  check_no_trailing(ctx.params, "reduce_partial");
  check_finalize_fits(r.kind, r.fin);
  const size_t nd = in_shape.size();
  r.reduced.assign(nd, false);
  for (size_t i = 0; i < axes.size(); ++i) {
    if (axes[i] < 0 || axes[i] >= static_cast<int64_t>(nd)) fail("reduce_partial: axis out of range");
    if (i > 0 && axes[i] <= axes[i - 1]) fail("reduce_partial: axes must be sorted and distinct");
    r.reduced[axes[i]] = true;
  }
  r.keep = in_shape;
  for (size_t i = 0; i < nd; ++i)
    if (r.reduced[i]) r.keep[i] = 1;
  return r;
}

// The task's output from its partial: the partial itself, or finalised.
Chunk finish_partial(const ReduceRequest& r, Chunk partial, KernelContext& ctx) {
  if (r.fin.what == Finalize::kNone) {
    if (partial.shape != ctx.out_shape || partial.dtype != ctx.out_dtype) {
      fail("reduce_partial: output " + std::string(dtype_name(ctx.out_dtype)) + shape_to_string(ctx.out_shape) +
           " does not match the partial " + dtype_name(partial.dtype) + shape_to_string(partial.shape));
    }
    return partial;
  }
  check_final_shape(r.keep, r.reduced, ctx.out_shape, "reduce_partial");
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  finalize_into(r.kind, r.fin, partial, shape_size(r.keep), out);
  return out;
}

// The partial (sum, min or max) of an elementwise program's values of dtype `vdt` over
// `shape`, accumulated as they are computed: the values are never stored.
Chunk fused_partial(const Program& prog, std::span<const Chunk> inputs, const Shape& shape, DType vdt,
                    const ReduceRequest& r) {
  const int64_t k = shape_size(r.keep);
  const DType pdt = partial_type(r.kind, vdt);
  Chunk p = Chunk::allocate(pdt, r.keep);
  const int64_t count = k == 0 ? 0 : shape_size(shape) / k;  // values per output element
  if (count == 0 && r.kind != ReduceKind::kSum) {
    fail(std::string(r.kind == ReduceKind::kMin ? "min" : "max") + ": zero-size reduction");
  }
  const size_t nd = shape.size();
  const Shape st = c_strides(shape);
  Shape ks = c_strides(r.keep);
  for (size_t d = 0; d < nd; ++d)
    if (r.reduced[d]) ks[d] = 0;
  const int64_t row = nd == 0 ? 1 : shape[nd - 1];
  const bool last_reduced = nd == 0 || r.reduced[nd - 1];
  auto out_index = [&](int64_t off) {
    int64_t o = 0;
    for (size_t d = 0; d < nd; ++d) o += (off / st[d]) % shape[d] * ks[d];
    return o;
  };
  visit_dtype(vdt, [&](auto vtag) {
    using V = decltype(vtag);
    auto accumulate = [&](auto* a, auto op) {
      using A = std::remove_pointer_t<decltype(a)>;
      run_program_as_computed(prog, inputs, shape, [&](int64_t off, int64_t len, const auto* v) {
        while (len > 0) {  // piece by piece within a row of the last axis
          const int64_t m = std::min(len, row - off % row);
          const int64_t o = out_index(off);
          if (last_reduced) {
            A acc = a[o];
            for (int64_t j = 0; j < m; ++j) acc = op(acc, static_cast<A>(convert<V>(v[j])));
            a[o] = acc;
          } else {
            A* dst = a + o;
            for (int64_t j = 0; j < m; ++j) dst[j] = op(dst[j], static_cast<A>(convert<V>(v[j])));
          }
          off += m;
          len -= m;
          v += m;
        }
      });
    };
    switch (r.kind) {
      case ReduceKind::kSum:
        if (pdt == DType::kFloat64) {
          double* a = p.mutable_data<double>();
          std::fill_n(a, k, 0.0);
          accumulate(a, [](double x, double y) { return x + y; });
        } else {
          int64_t* a = p.mutable_data<int64_t>();
          std::fill_n(a, k, int64_t{0});
          accumulate(a, [](int64_t x, int64_t y) { return x + y; });
        }
        break;
      case ReduceKind::kMin: {
        V* a = p.mutable_data<V>();
        std::fill_n(a, k, std::numeric_limits<V>::has_infinity ? std::numeric_limits<V>::infinity()
                                                                 : std::numeric_limits<V>::max());
        accumulate(a, [](V x, V y) { return nan_min(x, y); });
        break;
      }
      case ReduceKind::kMax: {
        V* a = p.mutable_data<V>();
        std::fill_n(a, k, std::numeric_limits<V>::has_infinity ? -std::numeric_limits<V>::infinity()
                                                                 : std::numeric_limits<V>::lowest());
        accumulate(a, [](V x, V y) { return nan_max(x, y); });
        break;
      }
      default: fail("fused_partial: moments need the values twice");
    }
  });
  return p;
}

Chunk reduce_partial_kernel(KernelContext& ctx) {
  check_inputs(ctx, 1, "reduce_partial");
  const Chunk& in = ctx.inputs[0];
  ReduceRequest r = read_reduce(ctx, in.shape);
  return finish_partial(r, compute_partial(r.kind, in, r.reduced, r.keep), ctx);
}

Chunk reduce_expr_partial_kernel(KernelContext& ctx) {
  const std::string program = ctx.params.str(1u << 24);
  const DType expr_dtype = checked_dtype(ctx.params.u8(), "reduce_expr_partial");
  const Shape block = ctx.params.i64s(64);
  for (int64_t d : block) {
    if (d < 0) fail("reduce_expr_partial: negative block shape");
  }
  KernelContext inner{ctx.inputs, ParamReader(program), expr_dtype, block};
  Program prog = read_checked_program(inner);
  ReduceRequest r = read_reduce(ctx, block);
  if (r.kind == ReduceKind::kMoments) {
    // Two passes over the values (mean, then squared deviations): they are stored once.
    Chunk values = Chunk::allocate(expr_dtype, block);
    visit_dtype(expr_dtype, [&](auto t) {
      using T = decltype(t);
      T* d = values.mutable_data<T>();
      run_program_as_computed(prog, ctx.inputs, block, [&](int64_t off, int64_t len, const auto* v) {
        for (int64_t i = 0; i < len; ++i) d[off + i] = convert<T>(v[i]);
      });
    });
    return finish_partial(r, compute_partial(r.kind, values, r.reduced, r.keep), ctx);
  }
  return finish_partial(r, fused_partial(prog, ctx.inputs, block, expr_dtype, r), ctx);
}

Chunk reduce_combine_kernel(KernelContext& ctx) {
  ReduceKind kind = read_kind(ctx.params);
  FinalizeSpec fin = read_finalize(ctx.params);
  check_no_trailing(ctx.params, "reduce_combine");
  check_finalize_fits(kind, fin);
  if (ctx.inputs.empty()) fail("reduce_combine: no inputs");
  check_inputs(ctx, ctx.inputs.size(), "reduce_combine");
  const Chunk& first = ctx.inputs[0];
  for (const Chunk& c : ctx.inputs) {
    if (c.shape != first.shape || c.dtype != first.dtype) fail("reduce_combine: partials differ in shape or dtype");
  }
  if ((kind == ReduceKind::kSum && first.dtype != DType::kFloat64 && first.dtype != DType::kInt64) ||
      (kind == ReduceKind::kMoments && (first.dtype != DType::kFloat64 || first.shape.empty() || first.shape[0] != 3))) {
    fail("reduce_combine: partials of the wrong type for this kind");
  }
  Chunk acc = Chunk::allocate(first.dtype, first.shape);
  std::memcpy(acc.mutable_bytes(), first.bytes(), first.nbytes());
  const int64_t total = first.num_elements();
  const int64_t k = kind == ReduceKind::kMoments ? total / 3 : total;
  for (size_t i = 1; i < ctx.inputs.size(); ++i) {
    const Chunk& c = ctx.inputs[i];
    if (kind == ReduceKind::kMoments) {
      double* na = acc.mutable_data<double>();
      double* ma = na + k;
      double* qa = ma + k;
      const double* nb = c.data<double>();
      const double* mb = nb + k;
      const double* qb = mb + k;
      for (int64_t j = 0; j < k; ++j) {
        double n = na[j] + nb[j];
        if (n == 0) continue;
        double delta = mb[j] - ma[j];
        ma[j] += delta * nb[j] / n;
        qa[j] += qb[j] + delta * delta * na[j] * nb[j] / n;
        na[j] = n;
      }
      continue;
    }
    visit_dtype(first.dtype, [&](auto tag) {
      using T = decltype(tag);
      T* a = acc.mutable_data<T>();
      const T* b = c.data<T>();
      switch (kind) {
        case ReduceKind::kSum: for (int64_t j = 0; j < k; ++j) a[j] = static_cast<T>(a[j] + b[j]); break;
        case ReduceKind::kMin: for (int64_t j = 0; j < k; ++j) a[j] = nan_min(a[j], b[j]); break;
        case ReduceKind::kMax: for (int64_t j = 0; j < k; ++j) a[j] = nan_max(a[j], b[j]); break;
        default: break;
      }
    });
  }
  if (fin.what == Finalize::kNone) {
    if (acc.shape != ctx.out_shape || acc.dtype != ctx.out_dtype) fail("reduce_combine: output does not match the partials");
    return acc;
  }
  if (shape_size(ctx.out_shape) != k) fail("reduce_combine: final output of the wrong size");
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  finalize_into(kind, fin, acc, k, out);
  return out;
}

// ---- matmul -----------------------------------------------------------------

template <typename T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <typename T>
void matmul_typed(std::span<const Chunk> in, int64_t k, Chunk& out) {
  const int64_t m = out.shape[0], p = out.shape[1];
  Eigen::Map<RowMajor<T>> c(out.mutable_data<T>(), m, p);
  c.setZero();
  std::vector<Chunk> converted;
  auto view = [&](const Chunk& ch) -> const T* {
    if (ch.dtype == dtype_of<T>()) return ch.data<T>();
    Chunk tmp = Chunk::allocate(dtype_of<T>(), ch.shape);
    convert_elements(ch, 0, dtype_of<T>(), tmp.mutable_bytes(), ch.num_elements());
    converted.push_back(tmp);
    return converted.back().data<T>();
  };
  for (int64_t i = 0; i < k; ++i) {
    const Chunk& a = in[i];
    const Chunk& b = in[k + i];
    Eigen::Map<const RowMajor<T>> ma(view(a), a.shape[0], a.shape[1]);
    Eigen::Map<const RowMajor<T>> mb(view(b), b.shape[0], b.shape[1]);
    c.noalias() += ma * mb;
  }
}

Chunk matmul_kernel(KernelContext& ctx) {
  int64_t k = ctx.params.i64();
  check_no_trailing(ctx.params, "matmul");
  if (k <= 0 || static_cast<size_t>(2 * k) != ctx.inputs.size()) fail("matmul: expected 2K inputs");
  check_inputs(ctx, ctx.inputs.size(), "matmul");
  if (ctx.out_shape.size() != 2) fail("matmul: output must be 2-D");
  const int64_t m = ctx.out_shape[0], p = ctx.out_shape[1];
  for (int64_t i = 0; i < k; ++i) {
    const Chunk& a = ctx.inputs[i];
    const Chunk& b = ctx.inputs[k + i];
    if (a.shape.size() != 2 || b.shape.size() != 2) fail("matmul: inputs must be 2-D");
    if (a.shape[0] != m || b.shape[1] != p || a.shape[1] != b.shape[0]) {
      fail("matmul: blocks " + shape_to_string(a.shape) + " and " + shape_to_string(b.shape) + " do not make " +
           shape_to_string(ctx.out_shape));
    }
  }
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  if (ctx.out_dtype == DType::kFloat32) {
    matmul_typed<float>(ctx.inputs, k, out);
  } else if (ctx.out_dtype == DType::kFloat64) {
    matmul_typed<double>(ctx.inputs, k, out);
  } else {
    Chunk tmp = Chunk::allocate(DType::kFloat64, ctx.out_shape);
    matmul_typed<double>(ctx.inputs, k, tmp);
    convert_elements(tmp, 0, ctx.out_dtype, out.mutable_bytes(), tmp.num_elements());
  }
  return out;
}

// ---- assemble ---------------------------------------------------------------

Chunk assemble_kernel(KernelContext& ctx) {
  std::vector<int64_t> out_off = ctx.params.i64s(64);
  uint64_t n = ctx.params.u64();
  if (n != ctx.inputs.size()) fail("assemble: parameters name " + std::to_string(n) + " inputs, got " +
                                   std::to_string(ctx.inputs.size()));
  std::vector<std::vector<int64_t>> in_offs;
  for (uint64_t i = 0; i < n; ++i) in_offs.push_back(ctx.params.i64s(64));
  check_no_trailing(ctx.params, "assemble");
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

void uniform_values(uint64_t seed, uint64_t first, int64_t n, double* out, Isa isa) {
  uniform_values_as(seed, first, n, out, isa);
}
void uniform_values(uint64_t seed, uint64_t first, int64_t n, float* out, Isa isa) {
  uniform_values_as(seed, first, n, out, isa);
}

double uniform_at(uint64_t seed, uint64_t i) {
  const uint64_t key = mix64(seed ^ 0x5851F42D4C957F2Dull);
  return static_cast<double>(mix64(key + i * 0x9E3779B97F4A7C15ull) >> 11) * 0x1.0p-53;
}

bool is_data_bound(std::string_view op) {
  for (const char* name : {kFill, kRandomUniform, kCoordinate, kElementwise, kTranspose, kReducePartial,
                           kReduceExprPartial, kReduceCombine, kAssemble}) {
    if (op == name) return true;
  }
  return false;
}

void register_builtin_ops(OpRegistry& r) {
  r.add(kFill, fill_kernel);
  r.add(kRandomUniform, random_uniform_kernel);
  r.add(kCoordinate, coordinate_kernel);
  r.add(kElementwise, elementwise_kernel);
  r.add(kTranspose, transpose_kernel);
  r.add(kReducePartial, reduce_partial_kernel);
  r.add(kReduceExprPartial, reduce_expr_partial_kernel);
  r.add(kReduceCombine, reduce_combine_kernel);
  r.add(kMatmul, matmul_kernel);
  r.add(kAssemble, assemble_kernel);
  register_zarr_ops(r);
}

}  // namespace rsdat::ops
