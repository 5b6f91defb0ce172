#include "ops/window.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <set>
#include <span>
#include <type_traits>

#include "ops/kernel_util.hpp"

namespace rsdat::ops {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Copies `in` whole into `out` at `offset` (both C order, one dtype).
void place(const Chunk& in, const std::vector<int64_t>& offset, Chunk& out) {
  const size_t nd = out.shape.size();
  const int64_t n = in.num_elements();
  if (n == 0) return;
  const size_t esize = dtype_size(out.dtype);
  const Shape ostr = c_strides(out.shape);
  const int64_t row = nd == 0 ? 1 : in.shape[nd - 1];
  const int64_t rows = n / row;
  std::vector<int64_t> idx(nd == 0 ? 0 : nd - 1, 0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t dst = 0;
    for (size_t d = 0; d + 1 < nd; ++d) dst += (offset[d] + idx[d]) * ostr[d];
    if (nd > 0) dst += offset[nd - 1];
    std::memcpy(out.mutable_bytes() + static_cast<size_t>(dst) * esize,
                in.bytes() + static_cast<size_t>(r * row) * esize, static_cast<size_t>(row) * esize);
    for (size_t d = idx.size(); d-- > 0;) {
      if (++idx[d] < in.shape[d]) break;
      idx[d] = 0;
    }
  }
}

// The box of `shape` at `offset` of `in`.
Chunk crop(const Chunk& in, const std::vector<int64_t>& offset, const Shape& shape) {
  Chunk out = Chunk::allocate(in.dtype, shape);
  const size_t nd = shape.size();
  const int64_t n = out.num_elements();
  if (n == 0) return out;
  const size_t esize = dtype_size(in.dtype);
  const Shape istr = c_strides(in.shape);
  const int64_t row = nd == 0 ? 1 : shape[nd - 1];
  const int64_t rows = n / row;
  std::vector<int64_t> idx(nd == 0 ? 0 : nd - 1, 0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t src = 0;
    for (size_t d = 0; d + 1 < nd; ++d) src += (offset[d] + idx[d]) * istr[d];
    if (nd > 0) src += offset[nd - 1];
    std::memcpy(out.mutable_bytes() + static_cast<size_t>(r * row) * esize,
                in.bytes() + static_cast<size_t>(src) * esize, static_cast<size_t>(row) * esize);
    for (size_t d = idx.size(); d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

Chunk overlap_kernel(KernelContext& ctx) {
  const auto p = read_params<OverlapParams>(ctx, "overlap");
  const size_t nd = p.ext_shape.size();
  if (ctx.inputs.empty() || p.in_offsets.size() != ctx.inputs.size()) {
    fail("overlap: parameters name " + std::to_string(p.in_offsets.size()) + " inputs, got " +
         std::to_string(ctx.inputs.size()));
  }
  check_inputs(ctx, ctx.inputs.size(), "overlap");
  if (p.inner_shape.size() != nd || p.trim.size() != nd || ctx.out_shape.size() != nd) {
    fail("overlap: parameters do not match the output's dims");
  }
  const DType dtype = ctx.inputs[0].dtype;
  for (size_t d = 0; d < nd; ++d) {
    if (p.ext_shape[d] < 0 || p.trim[d] < 0 || p.trim[d] + ctx.out_shape[d] > p.inner_shape[d]) {
      fail("overlap: output block outside the kernel's result");
    }
  }
  // The extended block: the own block alone when there is no halo, else a join. The
  // inputs, which do not overlap, must fill it exactly: checked before allocating, so
  // parameters naming a huge block cannot make the worker allocate it.
  int64_t covered = 0;
  for (const Chunk& in : ctx.inputs) covered += in.num_elements();
  int64_t ext_size = 1;
  for (int64_t e : p.ext_shape) {
    if (e > 0 && ext_size > covered / e) fail("overlap: inputs do not cover the extended block");
    ext_size *= e;
  }
  if (covered != ext_size) fail("overlap: inputs do not cover the extended block");
  Chunk ext;
  if (ctx.inputs.size() == 1 && ctx.inputs[0].shape == p.ext_shape) {
    ext = ctx.inputs[0];
  } else {
    ext = Chunk::allocate(dtype, p.ext_shape);
    for (size_t i = 0; i < ctx.inputs.size(); ++i) {
      const Chunk& in = ctx.inputs[i];
      const auto& off = p.in_offsets[i];
      if (in.dtype != dtype) fail("overlap: halo dtype differs from the block's");
      if (in.shape.size() != nd || off.size() != nd) fail("overlap: input dims do not match");
      for (size_t d = 0; d < nd; ++d) {
        if (off[d] < 0 || off[d] + in.shape[d] > p.ext_shape[d]) fail("overlap: input outside the extended block");
      }
      place(in, off, ext);
    }
  }
  Chunk result = ext;
  if (!p.inner.empty()) {
    const Kernel* k = OpRegistry::global().find(p.inner);
    if (!k) fail("overlap: unknown op \"" + p.inner + "\"");
    const Chunk one[] = {ext};
    const Shape inner_shape = p.inner_shape;
    KernelContext ictx{std::span<const Chunk>(one, 1), ParamReader(p.inner_params), ctx.out_dtype, inner_shape};
    result = (*k)(ictx);
    if (result.shape != inner_shape || result.dtype != ctx.out_dtype) {
      fail("overlap: \"" + p.inner + "\" gave a block of shape " + shape_to_string(result.shape) + ", expected " +
           shape_to_string(inner_shape));
    }
  } else if (dtype != ctx.out_dtype || p.inner_shape != p.ext_shape) {
    fail("overlap: without a kernel the block keeps its dtype and shape");
  }
  if (result.shape == ctx.out_shape) return result;
  return crop(result, p.trim, ctx.out_shape);
}

// ---- filters ------------------------------------------------------------------

// outer × len × inner view of a shape along `axis`.
struct Lines {
  int64_t outer = 1, len = 1, inner = 1;
};
Lines lines_of(const Shape& s, size_t axis) {
  Lines l;
  for (size_t d = 0; d < axis; ++d) l.outer *= s[d];
  l.len = s[axis];
  for (size_t d = axis + 1; d < s.size(); ++d) l.inner *= s[d];
  return l;
}

// Values stored in dtype `t` and read back (scipy keeps each pass in the output dtype).
void round_to(DType t, std::vector<double>& v) {
  if (t == DType::kFloat64) return;
  visit_dtype(t, [&](auto tag) {
    using T = decltype(tag);
    for (double& x : v) x = static_cast<double>(convert<T>(x));
  });
}

std::vector<double> as_doubles(const Chunk& c) {
  std::vector<double> v(static_cast<size_t>(c.num_elements()));
  visit_dtype(c.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* s = c.data<T>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(s[i]);
  });
  return v;
}

Chunk from_doubles(const std::vector<double>& v, DType t, const Shape& shape) {
  Chunk out = Chunk::allocate(t, shape);
  visit_dtype(t, [&](auto tag) {
    using T = decltype(tag);
    T* d = out.mutable_data<T>();
    for (size_t i = 0; i < v.size(); ++i) d[i] = convert<T>(v[i]);
  });
  return out;
}

// One pass along `axis`: from `in` of shape `s` to the `n` output positions starting
// at `start` (read window start[i] = start + i, `size` elements).
std::vector<double> separable_pass(const std::vector<double>& in, const Shape& s, size_t axis, int64_t start, int64_t n,
                                   int64_t size, FilterKind kind, const std::vector<double>& w) {
  const Lines l = lines_of(s, axis);
  std::vector<double> out(static_cast<size_t>(l.outer * n * l.inner));
  for (int64_t o = 0; o < l.outer; ++o) {
    const double* src = in.data() + o * l.len * l.inner;
    double* dst = out.data() + o * n * l.inner;
    for (int64_t i = 0; i < n; ++i) {
      double* row = dst + i * l.inner;
      const double* first = src + (start + i) * l.inner;
      std::copy(first, first + l.inner, row);
      if (kind == FilterKind::kGaussian) {
        for (int64_t j = 0; j < l.inner; ++j) row[j] *= w[0];
      }
      for (int64_t k = 1; k < size; ++k) {
        const double* r = first + k * l.inner;
        switch (kind) {
          case FilterKind::kUniform:
            for (int64_t j = 0; j < l.inner; ++j) row[j] += r[j];
            break;
          case FilterKind::kGaussian:
            for (int64_t j = 0; j < l.inner; ++j) row[j] += w[k] * r[j];
            break;
          case FilterKind::kMinimum:
            for (int64_t j = 0; j < l.inner; ++j) row[j] = std::min(row[j], r[j]);
            break;
          default:
            for (int64_t j = 0; j < l.inner; ++j) row[j] = std::max(row[j], r[j]);
            break;
        }
      }
      if (kind == FilterKind::kUniform) {
        for (int64_t j = 0; j < l.inner; ++j) row[j] /= static_cast<double>(size);
      }
    }
  }
  return out;
}

// Linear offsets in a C-order block of `s` of the window's elements (C order).
std::vector<int64_t> window_offsets(const Shape& s, const std::vector<int64_t>& size) {
  const Shape str = c_strides(s);
  std::vector<int64_t> offs{0};
  for (size_t d = 0; d < s.size(); ++d) {
    std::vector<int64_t> next;
    for (int64_t o : offs)
      for (int64_t k = 0; k < size[d]; ++k) next.push_back(o + k * str[d]);
    offs = std::move(next);
  }
  return offs;
}

Chunk window_filter_kernel(KernelContext& ctx) {
  check_inputs(ctx, 1, "window_filter");
  const auto p = read_params<WindowFilterParams>(ctx, "window_filter");
  const Chunk& in = ctx.inputs[0];
  const size_t nd = in.shape.size();
  if (p.lo.size() != nd || p.before.size() != nd || p.size.size() != nd || ctx.out_shape.size() != nd) {
    fail("window_filter: parameters do not match the input's dims");
  }
  if (static_cast<uint8_t>(p.kind) > static_cast<uint8_t>(FilterKind::kConvolve)) fail("window_filter: bad kind");
  for (size_t d = 0; d < nd; ++d) {
    const int64_t start = p.lo[d] - p.before[d];
    if (p.size[d] < 1 || start < 0 || start + ctx.out_shape[d] - 1 + p.size[d] > in.shape[d]) {
      fail("window_filter: the halo does not hold the window");
    }
  }
  std::vector<double> v = as_doubles(in);
  if (ctx.out_shape.empty() || shape_size(ctx.out_shape) == 0) return from_doubles({}, ctx.out_dtype, ctx.out_shape);
  const bool separable = p.kind != FilterKind::kMedian && p.kind != FilterKind::kConvolve;
  if (separable) {
    if (p.kind == FilterKind::kGaussian && p.weights.size() != nd) fail("window_filter: weights per axis expected");
    Shape s = in.shape;
    for (size_t d = 0; d < nd; ++d) {
      const std::vector<double> w = p.kind == FilterKind::kGaussian ? p.weights[d] : std::vector<double>{};
      if (p.kind == FilterKind::kGaussian && static_cast<int64_t>(w.size()) != p.size[d]) {
        fail("window_filter: bad weights");
      }
      // An axis of size 1 is only cut (scipy skips it, so nothing is rounded).
      const bool skip = p.size[d] == 1 && (p.kind != FilterKind::kGaussian || w[0] == 1.0);
      v = separable_pass(v, s, d, p.lo[d] - p.before[d], ctx.out_shape[d], p.size[d], p.kind, w);
      s[d] = ctx.out_shape[d];
      if (!skip) round_to(ctx.out_dtype, v);
    }
    return from_doubles(v, ctx.out_dtype, ctx.out_shape);
  }
  const std::vector<int64_t> offs = window_offsets(in.shape, p.size);
  if (p.kind == FilterKind::kConvolve && (p.weights.size() != 1 || p.weights[0].size() != offs.size())) {
    fail("window_filter: the kernel does not match the window");
  }
  std::vector<double> out(static_cast<size_t>(shape_size(ctx.out_shape)));
  const Shape istr = c_strides(in.shape);
  int64_t base0 = 0;
  for (size_t d = 0; d < nd; ++d) base0 += (p.lo[d] - p.before[d]) * istr[d];
  const int64_t row = ctx.out_shape[nd - 1];
  const int64_t rows = static_cast<int64_t>(out.size()) / row;
  std::vector<int64_t> idx(nd - 1, 0);
  std::vector<double> win(offs.size());
  const size_t rank = offs.size() / 2;  // scipy's median rank: filter size // 2
  for (int64_t r = 0; r < rows; ++r) {
    int64_t base = base0;
    for (size_t d = 0; d + 1 < nd; ++d) base += idx[d] * istr[d];
    double* o = out.data() + r * row;
    if (p.kind == FilterKind::kConvolve) {
      std::fill_n(o, row, 0.0);
      for (size_t k = 0; k < offs.size(); ++k) {
        const double w = p.weights[0][k];
        const double* s = v.data() + base + offs[k];
        for (int64_t j = 0; j < row; ++j) o[j] += w * s[j];
      }
    } else {
      for (int64_t j = 0; j < row; ++j) {
        for (size_t k = 0; k < offs.size(); ++k) win[k] = v[static_cast<size_t>(base + j + offs[k])];
        std::nth_element(win.begin(), win.begin() + static_cast<std::ptrdiff_t>(rank), win.end());
        o[j] = win[rank];
      }
    }
    for (size_t d = idx.size(); d-- > 0;) {
      if (++idx[d] < ctx.out_shape[d]) break;
      idx[d] = 0;
    }
  }
  return from_doubles(out, ctx.out_dtype, ctx.out_shape);
}

// ---- rolling ------------------------------------------------------------------

// Running sums of a window per column of a tile: the count of valid (not NaN) values,
// the sum and (kSquares) the sum of squares of the finite ones, and (kInf) the
// infinities counted apart, so that +inf - +inf never happens.
template <bool kSquares, bool kInf>
struct RunningSums {
  std::vector<double> s, ss, n, pinf, ninf;
  explicit RunningSums(int64_t cols)
      : s(cols), ss(kSquares ? cols : 0), n(cols), pinf(kInf ? cols : 0), ninf(kInf ? cols : 0) {}
  void clear() {
    for (auto* v : {&s, &ss, &n, &pinf, &ninf}) std::fill(v->begin(), v->end(), 0.0);
  }
  template <typename T>
  void add(const T* r, double sign, size_t count) {
    // Without branches, so that the loop vectorises.
    double* __restrict ps = s.data();
    double* __restrict pss = ss.data();
    double* __restrict pn = n.data();
    double* __restrict pp = pinf.data();
    double* __restrict pm = ninf.data();
    for (size_t j = 0; j < count; ++j) {
      const double x = static_cast<double>(r[j]);
      const bool valid = x == x;
      double f = valid ? x : 0.0;
      if constexpr (kInf) {
        const bool inf = std::abs(x) == std::numeric_limits<double>::infinity();
        f = inf ? 0.0 : f;
        pp[j] += inf && x > 0 ? sign : 0.0;
        pm[j] += inf && x < 0 ? sign : 0.0;
      }
      pn[j] += valid ? sign : 0.0;
      ps[j] += sign * f;
      if constexpr (kSquares) pss[j] += sign * f * f;
    }
  }
};

// One output row of statistic S from the running sums.
template <RollingStat S, bool kSquares, bool kInf, typename O>
void sums_row(const RunningSums<kSquares, kInf>& r, size_t cols, double min_periods, O* out) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  for (size_t j = 0; j < cols; ++j) {
    const double n = r.n[j];
    double v;
    if constexpr (S == RollingStat::kCount) {
      v = n;
    } else if constexpr (S == RollingStat::kSum || S == RollingStat::kMean) {
      v = S == RollingStat::kSum ? r.s[j] : r.s[j] / n;
      if constexpr (kInf) {
        const bool p = r.pinf[j] > 0, m = r.ninf[j] > 0;
        v = p && m ? kNaN : p ? inf : m ? -inf : v;
      }
    } else {
      const double mean = r.s[j] / n;
      const double var = n == 1 ? 0.0 : std::max(0.0, r.ss[j] / n - mean * mean);
      v = S == RollingStat::kVar ? var : std::sqrt(var);
      if constexpr (kInf) v = r.pinf[j] > 0 || r.ninf[j] > 0 ? kNaN : v;
    }
    out[j] = static_cast<O>(n < min_periods ? kNaN : v);
  }
}

// Statistic S of every window by running sums, a tile of columns at a time (the sums
// stay in cache). The sums are rebuilt from the window every w steps, so rounding from
// adding and removing never builds up (O(1) per element still).
template <RollingStat S, bool kInf, typename T, typename O>
void rolling_sums(const T* v, const Lines& l, int64_t n, int64_t first, int64_t w, int64_t min_periods, O* dst_all) {
  constexpr bool kSquares = S == RollingStat::kVar || S == RollingStat::kStd;
  constexpr int64_t kTile = 2048;
  RunningSums<kSquares, kInf> r(std::min(l.inner, kTile));
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t j0 = 0; j0 < l.inner; j0 += kTile) {
      const auto cols = static_cast<size_t>(std::min(kTile, l.inner - j0));
      const T* src = v + o * l.len * l.inner + j0;
      O* dst = dst_all + o * n * l.inner + j0;
      for (int64_t i = 0; i < n; ++i) {
        if (i % w == 0) {
          r.clear();
          for (int64_t k = first + i; k < first + i + w; ++k) r.add(src + k * l.inner, 1, cols);
        } else {
          r.add(src + (first + i + w - 1) * l.inner, 1, cols);
        }
        sums_row<S>(r, cols, static_cast<double>(min_periods), dst + i * l.inner);
        r.add(src + (first + i) * l.inner, -1, cols);
      }
    }
  }
}

// The window statistic of one line (contiguous), for min, max and median.
void order_line(RollingStat stat, const double* x, int64_t len_in, double* out, int64_t n, int64_t first, int64_t w,
                int64_t min_periods) {
  if (stat == RollingStat::kMedian) {
    // Two halves: every value of `low` is at most every value of `high`; `low` holds
    // the extra one when the count is odd.
    std::multiset<double> low, high;
    auto rebalance = [&] {
      if (low.size() > high.size() + 1) {
        high.insert(*low.rbegin());
        low.erase(std::prev(low.end()));
      } else if (high.size() > low.size()) {
        low.insert(*high.begin());
        high.erase(high.begin());
      }
    };
    auto insert = [&](double v) {
      if (std::isnan(v)) return;
      if (low.empty() || v <= *low.rbegin()) {
        low.insert(v);
      } else {
        high.insert(v);
      }
      rebalance();
    };
    auto erase = [&](double v) {
      if (std::isnan(v)) return;
      if (!low.empty() && v <= *low.rbegin()) {
        low.erase(low.find(v));
      } else {
        high.erase(high.find(v));
      }
      rebalance();
    };
    for (int64_t k = first; k < first + w - 1 && k < len_in; ++k) insert(x[k]);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t last = first + i + w - 1;
      if (last < len_in) insert(x[last]);
      const size_t cnt = low.size() + high.size();
      if (cnt == 0 || static_cast<int64_t>(cnt) < min_periods) {
        out[i] = kNaN;
      } else {
        out[i] = cnt % 2 ? *low.rbegin() : (*low.rbegin() + *high.begin()) / 2;
      }
      erase(x[first + i]);
    }
    return;
  }
  // Monotonic deque of indices: values increasing (min) or decreasing (max) from the front.
  const bool is_min = stat == RollingStat::kMin;
  std::deque<int64_t> q;
  int64_t valid = 0;
  auto push = [&](int64_t k) {
    if (std::isnan(x[k])) return;
    ++valid;
    while (!q.empty() && (is_min ? x[q.back()] >= x[k] : x[q.back()] <= x[k])) q.pop_back();
    q.push_back(k);
  };
  for (int64_t k = first; k < first + w - 1 && k < len_in; ++k) push(k);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t last = first + i + w - 1;
    if (last < len_in) push(last);
    while (!q.empty() && q.front() < first + i) q.pop_front();
    out[i] = valid < min_periods || valid == 0 ? kNaN : x[q.front()];
    if (!std::isnan(x[first + i])) --valid;
  }
}

Chunk rolling_kernel(KernelContext& ctx) {
  check_inputs(ctx, 1, "rolling");
  const auto p = read_params<RollingParams>(ctx, "rolling");
  const Chunk& in = ctx.inputs[0];
  const size_t nd = in.shape.size();
  if (static_cast<uint8_t>(p.stat) > static_cast<uint8_t>(RollingStat::kMedian)) fail("rolling: bad statistic");
  if (p.axis < 0 || p.axis >= static_cast<int64_t>(nd) || ctx.out_shape.size() != nd) fail("rolling: bad axis");
  const auto ax = static_cast<size_t>(p.axis);
  const Lines l = lines_of(in.shape, ax);
  const int64_t n = ctx.out_shape[ax], w = p.before + p.after + 1, first = p.lo - p.before;
  if (p.before < 0 || p.after < 0 || first < 0 || first + n - 1 + w > l.len) {
    fail("rolling: the halo does not hold the window");
  }
  for (size_t d = 0; d < nd; ++d) {
    if (d != ax && ctx.out_shape[d] != in.shape[d]) fail("rolling: output shape does not match the input");
  }
  if (in.dtype != DType::kFloat32 && in.dtype != DType::kFloat64) fail("rolling: the input must be float32 or float64");
  if (ctx.out_dtype != DType::kFloat32 && ctx.out_dtype != DType::kFloat64) fail("rolling: the output must be a float");
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  auto run = [&](const auto* v, auto* dst_all) {
    using O = std::remove_pointer_t<decltype(dst_all)>;
    using T = std::remove_cv_t<std::remove_pointer_t<decltype(v)>>;
    bool has_inf = false;
    const int64_t total = in.num_elements();
    for (int64_t k = 0; k < total; ++k) has_inf |= std::isinf(v[k]);
    auto sums = [&](auto stat) {
      if (has_inf) {
        rolling_sums<decltype(stat)::value, true, T, O>(v, l, n, first, w, p.min_periods, dst_all);
      } else {
        rolling_sums<decltype(stat)::value, false, T, O>(v, l, n, first, w, p.min_periods, dst_all);
      }
    };
    using St = RollingStat;
    switch (p.stat) {
      case St::kSum:
        return sums(std::integral_constant<St, St::kSum>{});
      case St::kMean:
        return sums(std::integral_constant<St, St::kMean>{});
      case St::kCount:
        return sums(std::integral_constant<St, St::kCount>{});
      case St::kVar:
        return sums(std::integral_constant<St, St::kVar>{});
      case St::kStd:
        return sums(std::integral_constant<St, St::kStd>{});
      default:
        break;
    }
    std::vector<double> line(static_cast<size_t>(l.len)), res(static_cast<size_t>(n));
    for (int64_t o = 0; o < l.outer; ++o) {
      for (int64_t j = 0; j < l.inner; ++j) {
        const auto* src = v + o * l.len * l.inner + j;
        for (int64_t k = 0; k < l.len; ++k) line[k] = static_cast<double>(src[k * l.inner]);
        order_line(p.stat, line.data(), l.len, res.data(), n, first, w, p.min_periods);
        O* dst = dst_all + o * n * l.inner + j;
        for (int64_t i = 0; i < n; ++i) dst[i * l.inner] = static_cast<O>(res[i]);
      }
    }
  };
  auto with_output = [&](const auto* v) {
    if (ctx.out_dtype == DType::kFloat32) {
      run(v, out.mutable_data<float>());
    } else {
      run(v, out.mutable_data<double>());
    }
  };
  if (in.dtype == DType::kFloat32) {
    with_output(in.data<float>());
  } else {
    with_output(in.data<double>());
  }
  return out;
}

}  // namespace

void register_window_ops(OpRegistry& r) {
  r.add(kOverlap, overlap_kernel, CostClass::kComputeBound);
  r.add(kWindowFilter, window_filter_kernel, CostClass::kComputeBound);
  r.add(kRolling, rolling_kernel, CostClass::kComputeBound);
}

}  // namespace rsdat::ops
