#include "ops/scan.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>

#include "ops/elementwise_eval.hpp"
#include "ops/kernel_util.hpp"

namespace rsdat::ops {

bool is_scan_kind(ReduceKind kind) {
  switch (kind) {
    case ReduceKind::kSum: case ReduceKind::kProd: case ReduceKind::kNanSum: case ReduceKind::kNanProd:
    case ReduceKind::kMax: case ReduceKind::kMin: return true;
    default: return false;
  }
}

namespace {

// Calls f(identity, step) for a scan kind: the value a scan starts from and the running
// value `a` taking the next one `b`, both in the output's type T. Narrow integer types
// wrap as NumPy's do (the ops library compiles with -fwrapv).
template <typename T, typename F>
void visit_scan(ReduceKind kind, F&& f) {
  using L = std::numeric_limits<T>;
  const T lowest = L::has_infinity ? -L::infinity() : L::lowest();
  const T highest = L::has_infinity ? L::infinity() : L::max();
  switch (kind) {
    case ReduceKind::kSum: f(T(0), [](T a, T b) { return static_cast<T>(a + b); }); return;
    case ReduceKind::kProd: f(T(1), [](T a, T b) { return static_cast<T>(a * b); }); return;
    case ReduceKind::kNanSum: f(T(0), [](T a, T b) { return is_nan(b) ? a : static_cast<T>(a + b); }); return;
    case ReduceKind::kNanProd: f(T(1), [](T a, T b) { return is_nan(b) ? a : static_cast<T>(a * b); }); return;
    case ReduceKind::kMax: f(lowest, [](T a, T b) { return nan_max(a, b); }); return;
    case ReduceKind::kMin: f(highest, [](T a, T b) { return nan_min(a, b); }); return;
    default: fail("scan_block: not a scan kind");
  }
}

// The block as (outer, n, inner): `n` elements along the axis, `inner` after it.
struct Layout {
  int64_t outer = 1, n = 1, inner = 1;
};

// The scan of one block of values into `out`, from `start` (one value per (outer,
// inner) position). Values come in runs of consecutive elements (C order), each run's
// predecessors along the axis already written: every element takes the one before it
// along the axis (or its start) and its own value, so nothing else is stored.
template <typename T, typename Step>
struct BlockScan {
  Layout l;
  const T* start;
  T* out;
  Step step;

  // Elements [idx, idx + len) from `value(t)`, the t-th of the run.
  template <typename Value>
  void run(int64_t idx, int64_t len, Value&& value) {
    if (l.inner == 1) {  // along the last axis: the predecessor is the element before
      int64_t j = idx % l.n;
      T acc = j == 0 ? T{} : out[idx - 1];
      for (int64_t t = 0; t < len; ++t, ++idx) {
        if (j == 0) acc = start[idx / l.n];
        acc = step(acc, value(t));
        out[idx] = acc;
        if (++j == l.n) j = 0;
      }
      return;
    }
    int64_t t = 0;
    while (t < len) {  // piece by piece within one row of the inner axes
      const int64_t i = idx % l.inner;
      const int64_t q = idx / l.inner;  // o * n + j
      const int64_t m = std::min(len - t, l.inner - i);
      const T* prev = q % l.n == 0 ? start + (q / l.n) * l.inner + i : out + idx - l.inner;
      T* dst = out + idx;
      for (int64_t r = 0; r < m; ++r) dst[r] = step(prev[r], value(t + r));
      t += m;
      idx += m;
    }
  }
};

Chunk scan_block_kernel(KernelContext& ctx) {
  const auto p = read_params<ScanBlockParams>(ctx, kScanBlock);
  if (!is_scan_kind(p.kind)) fail("scan_block: not a scan kind");
  const size_t carried = p.carry ? 1 : 0;
  if (ctx.inputs.size() < 1 + carried) fail("scan_block: expected the block and its carry");
  check_inputs(ctx, ctx.inputs.size(), kScanBlock);
  const bool fused = !p.elementwise.empty();
  for (int64_t d : p.block) {
    if (d < 0) fail("scan_block: negative block shape");
  }
  const Shape shape = fused ? Shape(p.block) : ctx.inputs[0].shape;
  if (!fused && ctx.inputs.size() != 1 + carried) fail("scan_block: expected the block and its carry");
  if (shape != ctx.out_shape) {
    fail("scan_block: output " + shape_to_string(ctx.out_shape) + " for a block " + shape_to_string(shape));
  }
  const int64_t nd = static_cast<int64_t>(shape.size());
  if (p.axis < 0 || p.axis >= nd) fail("scan_block: axis out of range");
  Layout l;
  for (int64_t d = 0; d < nd; ++d) (d < p.axis ? l.outer : d == p.axis ? l.n : l.inner) *= shape[d];
  Shape slab = shape;
  slab[p.axis] = 1;
  if (p.carry && ctx.inputs.back().shape != slab) {
    fail("scan_block: carry of shape " + shape_to_string(ctx.inputs.back().shape) + ", expected " +
         shape_to_string(slab));
  }
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  if (shape_size(shape) == 0) return out;
  const std::span<const Chunk> values = ctx.inputs.first(ctx.inputs.size() - carried);
  Program prog;
  DType vdt = ctx.inputs[0].dtype;
  if (fused) {
    vdt = checked_dtype(static_cast<uint64_t>(p.dtype), kScanBlock);
    KernelContext inner{values, ParamReader(p.elementwise), vdt, shape};
    prog = read_checked_program(inner);
  }
  visit_dtype(ctx.out_dtype, [&](auto ttag) {
    using T = decltype(ttag);
    visit_scan<T>(p.kind, [&](T identity, auto step) {
      // The start of each (outer, inner) position: the carry, or the identity.
      const int64_t k = l.outer * l.inner;
      std::unique_ptr<T[]> start(new T[static_cast<size_t>(k)]);  // not vector<bool>'s proxies
      if (p.carry) {
        convert_elements(ctx.inputs.back(), 0, ctx.out_dtype, reinterpret_cast<uint8_t*>(start.get()), k);
      } else {
        std::fill_n(start.get(), k, identity);
      }
      BlockScan<T, decltype(step)> scan{l, start.get(), out.mutable_data<T>(), step};
      visit_dtype(vdt, [&](auto vtag) {
        using V = decltype(vtag);
        if (!fused) {
          const V* src = ctx.inputs[0].data<V>();
          const int64_t n = shape_size(shape);
          for (int64_t idx = 0; idx < n; idx += 4096) {
            scan.run(idx, std::min<int64_t>(4096, n - idx), [&](int64_t t) { return convert<T>(src[idx + t]); });
          }
          return;
        }
        // Values in the program's compute type, stored as the expression would be (a
        // float32 expression rounded to float32), then converted to the output's type.
        auto sink = [&](int64_t offset, int64_t width, int64_t rows, int64_t stride, const auto* v) {
          for (int64_t r = 0; r < rows; ++r) {
            const auto* row = v + r * width;
            scan.run(offset + r * stride, width, [&](int64_t t) { return convert<T>(convert<V>(row[t])); });
          }
        };
        switch (prog.compute) {
          case DType::kFloat32: run_program<float>(prog, values, shape, ValueSink<float>(sink)); break;
          case DType::kFloat64: run_program<double>(prog, values, shape, ValueSink<double>(sink)); break;
          case DType::kInt64: run_program<int64_t>(prog, values, shape, ValueSink<int64_t>(sink)); break;
          case DType::kUInt64: run_program<uint64_t>(prog, values, shape, ValueSink<uint64_t>(sink)); break;
          default: fail("scan_block: program of compute type " + std::string(dtype_name(prog.compute)));
        }
      });
    });
  });
  return out;
}

}  // namespace

void register_scan_ops(OpRegistry& r) { r.add(kScanBlock, scan_block_kernel, CostClass::kDataBound); }

}  // namespace rsdat::ops
