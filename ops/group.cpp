#include "ops/group.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "ops/kernel_util.hpp"

namespace rsdat::ops {

namespace {

constexpr bool is_moment(GroupOp op) {
  switch (op) {
    case GroupOp::kMean: case GroupOp::kNanMean: case GroupOp::kVar: case GroupOp::kNanVar:
    case GroupOp::kStd: case GroupOp::kNanStd: case GroupOp::kMedian: case GroupOp::kNanMedian:
      return true;
    default:
      return false;
  }
}

constexpr bool skips_nan(GroupOp op) {
  switch (op) {
    case GroupOp::kNanSum: case GroupOp::kNanProd: case GroupOp::kNanMean: case GroupOp::kNanMin:
    case GroupOp::kNanMax: case GroupOp::kCount: case GroupOp::kNanVar: case GroupOp::kNanStd:
    case GroupOp::kNanFirst: case GroupOp::kNanLast: case GroupOp::kNanMedian:
      return true;
    default:
      return false;
  }
}

constexpr bool is_median(GroupOp op) { return op == GroupOp::kMedian || op == GroupOp::kNanMedian; }

// A value and how many elements made it (min, max, first, last).
constexpr bool is_pick(GroupOp op) {
  switch (op) {
    case GroupOp::kMin: case GroupOp::kMax: case GroupOp::kNanMin: case GroupOp::kNanMax: case GroupOp::kFirst:
    case GroupOp::kLast: case GroupOp::kNanFirst: case GroupOp::kNanLast:
      return true;
    default:
      return false;
  }
}

template <GroupOp Op, typename T>
using partial_t = std::conditional_t<is_moment(Op) || std::is_floating_point_v<T>, double,
                                     std::conditional_t<std::is_unsigned_v<T> && !std::is_same_v<T, bool>, uint64_t,
                                                        int64_t>>;

template <typename F>
decltype(auto) visit_group_op(GroupOp op, F&& f) {
#define RSDAT_GROUP_CASE_(Name) \
  case GroupOp::Name: return f(std::integral_constant<GroupOp, GroupOp::Name>{});
  switch (op) {
    RSDAT_GROUP_CASE_(kSum) RSDAT_GROUP_CASE_(kNanSum) RSDAT_GROUP_CASE_(kProd) RSDAT_GROUP_CASE_(kNanProd)
    RSDAT_GROUP_CASE_(kMean) RSDAT_GROUP_CASE_(kNanMean) RSDAT_GROUP_CASE_(kMin) RSDAT_GROUP_CASE_(kMax)
    RSDAT_GROUP_CASE_(kNanMin) RSDAT_GROUP_CASE_(kNanMax) RSDAT_GROUP_CASE_(kCount) RSDAT_GROUP_CASE_(kVar)
    RSDAT_GROUP_CASE_(kNanVar) RSDAT_GROUP_CASE_(kStd) RSDAT_GROUP_CASE_(kNanStd) RSDAT_GROUP_CASE_(kFirst)
    RSDAT_GROUP_CASE_(kLast) RSDAT_GROUP_CASE_(kNanFirst) RSDAT_GROUP_CASE_(kNanLast)
    RSDAT_GROUP_CASE_(kMedian) RSDAT_GROUP_CASE_(kNanMedian)
  }
#undef RSDAT_GROUP_CASE_
  fail("group: unknown reduction " + std::to_string(static_cast<int>(op)));
}

// Partial planes: K arrays of `plane` elements, one after the other.
template <GroupOp Op, typename P>
void init_planes(P* v, int64_t plane) {
  const int64_t k = group_partial_lead(Op);
  std::fill(v, v + k * plane, P(0));
  if constexpr (Op == GroupOp::kProd || Op == GroupOp::kNanProd) std::fill(v, v + plane, P(1));
}

template <GroupOp Op, typename P, typename T>
inline void step(P* v, int64_t plane, int64_t j, T raw) {
  if constexpr (skips_nan(Op)) {
    if (is_nan(raw)) return;
  }
  const P x = convert<P>(raw);
  if constexpr (Op == GroupOp::kSum || Op == GroupOp::kNanSum) {
    v[j] += x;
  } else if constexpr (Op == GroupOp::kProd || Op == GroupOp::kNanProd) {
    v[j] *= x;
  } else if constexpr (Op == GroupOp::kCount) {
    v[j] += 1;
  } else if constexpr (Op == GroupOp::kMean || Op == GroupOp::kNanMean) {
    v[j] += x;
    v[plane + j] += 1;
  } else if constexpr (Op == GroupOp::kVar || Op == GroupOp::kNanVar || Op == GroupOp::kStd ||
                       Op == GroupOp::kNanStd) {
    // Welford's update: count, mean, sum of squared deviations.
    const P n = v[j] += 1;
    const P d = x - v[plane + j];
    v[plane + j] += d / n;
    v[2 * plane + j] += d * (x - v[plane + j]);
  } else if constexpr (is_pick(Op)) {
    P& value = v[j];
    P& count = v[plane + j];
    if constexpr (Op == GroupOp::kMin || Op == GroupOp::kNanMin) {
      value = count == 0 ? x : nan_min(value, x);
    } else if constexpr (Op == GroupOp::kMax || Op == GroupOp::kNanMax) {
      value = count == 0 ? x : nan_max(value, x);
    } else if constexpr (Op == GroupOp::kFirst || Op == GroupOp::kNanFirst) {
      if (count == 0) value = x;
    } else {
      value = x;
    }
    count += 1;
  }
}

// Merges partial b (its planes of `bplane`) at j into a at j.
template <GroupOp Op, typename P>
inline void merge(P* a, const P* b, int64_t plane, int64_t j) {
  if constexpr (Op == GroupOp::kSum || Op == GroupOp::kNanSum || Op == GroupOp::kCount) {
    a[j] += b[j];
  } else if constexpr (Op == GroupOp::kProd || Op == GroupOp::kNanProd) {
    a[j] *= b[j];
  } else if constexpr (Op == GroupOp::kMean || Op == GroupOp::kNanMean) {
    a[j] += b[j];
    a[plane + j] += b[plane + j];
  } else if constexpr (Op == GroupOp::kVar || Op == GroupOp::kNanVar || Op == GroupOp::kStd ||
                       Op == GroupOp::kNanStd) {
    // Chan's pairwise combination of (count, mean, M2).
    const P nb = b[j];
    if (nb == 0) return;
    const P na = a[j];
    if (na == 0) {
      for (int k = 0; k < 3; ++k) a[k * plane + j] = b[k * plane + j];
      return;
    }
    const P n = na + nb;
    const P delta = b[plane + j] - a[plane + j];
    a[plane + j] += delta * nb / n;
    a[2 * plane + j] += b[2 * plane + j] + delta * delta * na * nb / n;
    a[j] = n;
  } else if constexpr (is_pick(Op)) {
    const P cb = b[plane + j];
    if (cb == 0) return;
    P& value = a[j];
    P& count = a[plane + j];
    if constexpr (Op == GroupOp::kMin || Op == GroupOp::kNanMin) {
      value = count == 0 ? b[j] : nan_min(value, b[j]);
    } else if constexpr (Op == GroupOp::kMax || Op == GroupOp::kNanMax) {
      value = count == 0 ? b[j] : nan_max(value, b[j]);
    } else if constexpr (Op == GroupOp::kFirst || Op == GroupOp::kNanFirst) {
      if (count == 0) value = b[j];
    } else {
      value = b[j];
    }
    count += cb;
  }
}

// Writes the finished values of planes `v` to `out` (dtype R): empty groups of the
// picking reductions are NaN (0 in a dtype without NaN, which the client avoids).
template <GroupOp Op, typename P>
void finish(const P* v, int64_t plane, double ddof, Chunk& out) {
  visit_dtype(out.dtype, [&](auto r) {
    using R = decltype(r);
    R* o = out.mutable_data<R>();
    constexpr R kEmpty = std::is_floating_point_v<R> ? std::numeric_limits<R>::quiet_NaN() : R(0);
    for (int64_t j = 0; j < plane; ++j) {
      if constexpr (Op == GroupOp::kMean || Op == GroupOp::kNanMean) {
        o[j] = v[plane + j] == 0 ? kEmpty : convert<R>(v[j] / v[plane + j]);
      } else if constexpr (Op == GroupOp::kVar || Op == GroupOp::kNanVar || Op == GroupOp::kStd ||
                           Op == GroupOp::kNanStd) {
        const double dof = static_cast<double>(v[j]) - ddof;
        double var = dof <= 0 ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(v[2 * plane + j]) / dof;
        if constexpr (Op == GroupOp::kStd || Op == GroupOp::kNanStd) var = std::sqrt(var);
        o[j] = convert<R>(var);
      } else if constexpr (is_pick(Op)) {
        o[j] = v[plane + j] == 0 ? kEmpty : convert<R>(v[j]);
      } else {
        o[j] = convert<R>(v[j]);
      }
    }
  });
}

struct Dims {
  int64_t outer = 1, len = 1, inner = 1;
};
Dims dims_of(const Shape& s, int64_t axis) {
  Dims d;
  for (int64_t i = 0; i < axis; ++i) d.outer *= s[i];
  d.len = s[axis];
  for (size_t i = static_cast<size_t>(axis) + 1; i < s.size(); ++i) d.inner *= s[i];
  return d;
}

struct Checked {
  GroupParams p;
  Shape finished;  // the finished block's shape
  Dims out;        // with len = G
  std::vector<int64_t> slot_begin;  // where each input's slots start in p.slots
};

// Decodes and checks the params against the output and the inputs.
Checked check_group(KernelContext& ctx, const char* name, bool partial_inputs) {
  Checked c;
  c.p = read_params<GroupParams>(ctx, name);
  const GroupParams& p = c.p;
  if (static_cast<int>(p.op) >= kNumGroupOps) fail(std::string(name) + ": bad reduction");
  const int64_t lead = group_partial_lead(p.op);
  if (!p.finalize && lead == 0) fail(std::string(name) + ": a median has no partials");
  c.finished = p.finalize ? ctx.out_shape : Shape(ctx.out_shape.begin() + (ctx.out_shape.empty() ? 0 : 1), ctx.out_shape.end());
  if (!p.finalize && (ctx.out_shape.empty() || ctx.out_shape[0] != lead)) fail(std::string(name) + ": bad partial shape");
  if (p.axis < 0 || p.axis >= static_cast<int64_t>(c.finished.size()) || c.finished[p.axis] != p.ngroups) {
    fail(std::string(name) + ": axis or group count does not fit the output");
  }
  c.out = dims_of(c.finished, p.axis);
  int64_t at = 0;
  for (const Chunk& in : ctx.inputs) {
    if (!in.buffer || in.buffer->size() < in.nbytes()) fail(std::string(name) + ": input buffer smaller than its shape");
    if (in.dtype != ctx.inputs[0].dtype) fail(std::string(name) + ": inputs of different dtypes");
    if (partial_inputs) {
      Shape want = c.finished;
      want.insert(want.begin(), lead);
      if (in.shape != want) fail(std::string(name) + ": partials of another shape");
    } else {
      if (in.shape.size() != c.finished.size()) fail(std::string(name) + ": input of another rank");
      for (size_t d = 0; d < c.finished.size(); ++d) {
        if (static_cast<int64_t>(d) != p.axis && in.shape[d] != c.finished[d]) {
          fail(std::string(name) + ": input block does not match the output");
        }
      }
    }
    c.slot_begin.push_back(at);
    if (!partial_inputs) at += in.shape[p.axis];
  }
  if (!partial_inputs) {
    if (at != static_cast<int64_t>(p.slots.size())) fail(std::string(name) + ": slots do not match the inputs");
    for (int64_t s : p.slots)
      if (s < -1 || s >= p.ngroups) fail(std::string(name) + ": slot out of range");
  }
  return c;
}

template <GroupOp Op, typename T, typename P>
void accumulate(const Chunk& in, const int64_t* slots, const Dims& out, int64_t axis, P* v, int64_t plane) {
  const Dims d = dims_of(in.shape, axis);
  const T* x = in.data<T>();
  for (int64_t o = 0; o < d.outer; ++o) {
    for (int64_t l = 0; l < d.len; ++l) {
      const int64_t s = slots[l];
      if (s < 0) continue;
      const T* row = x + (o * d.len + l) * d.inner;
      const int64_t base = (o * out.len + s) * out.inner;
      for (int64_t i = 0; i < d.inner; ++i) step<Op, P>(v, plane, base + i, row[i]);
    }
  }
}

double median_in(std::vector<double>& buf, bool nan, bool skip);

// The medians: every element of a group gathered, per output element.
template <typename T>
void median_of(const Checked& c, std::span<const Chunk> inputs, Chunk& out) {
  const bool skip = c.p.op == GroupOp::kNanMedian;
  // Per slot, the (input, index along the axis) of its elements, in order.
  std::vector<std::vector<std::pair<size_t, int64_t>>> members(static_cast<size_t>(c.p.ngroups));
  for (size_t k = 0; k < inputs.size(); ++k) {
    for (int64_t l = 0; l < inputs[k].shape[c.p.axis]; ++l) {
      const int64_t s = c.p.slots[static_cast<size_t>(c.slot_begin[k] + l)];
      if (s >= 0) members[static_cast<size_t>(s)].push_back({k, l});
    }
  }
  std::vector<Dims> in_dims;
  for (const Chunk& in : inputs) in_dims.push_back(dims_of(in.shape, c.p.axis));
  std::vector<double> buf;
  visit_dtype(out.dtype, [&](auto r) {
    using R = decltype(r);
    R* o = out.mutable_data<R>();
    const Dims& od = c.out;
    for (int64_t oi = 0; oi < od.outer; ++oi) {
      for (int64_t s = 0; s < od.len; ++s) {
        for (int64_t i = 0; i < od.inner; ++i) {
          buf.clear();
          bool nan = false;
          for (auto [k, l] : members[static_cast<size_t>(s)]) {
            const Dims& d = in_dims[k];
            const T v = inputs[k].template data<T>()[(oi * d.len + l) * d.inner + i];
            if (is_nan(v)) {
              nan = true;
              continue;
            }
            buf.push_back(static_cast<double>(v));
          }
          o[(oi * od.len + s) * od.inner + i] = convert<R>(median_in(buf, nan, skip));
        }
      }
    }
  });
}

Chunk group_partial_kernel(KernelContext& ctx) {
  const Checked c = check_group(ctx, kGroupPartial, false);
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  const DType in_dtype = ctx.inputs.empty() ? DType::kFloat64 : ctx.inputs[0].dtype;
  if (is_median(c.p.op)) {
    visit_dtype(in_dtype, [&](auto t) { median_of<decltype(t)>(c, ctx.inputs, out); });
    return out;
  }
  if (ctx.inputs.empty() && !c.p.finalize) fail("group-partial: a partial of no inputs");
  const int64_t plane = c.out.outer * c.out.len * c.out.inner;
  visit_group_op(c.p.op, [&](auto op) {
    constexpr GroupOp Op = decltype(op)::value;
    if constexpr (!is_median(Op)) {
      visit_dtype(in_dtype, [&](auto t) {
        using T = decltype(t);
        using P = partial_t<Op, T>;
        if (!c.p.finalize && ctx.out_dtype != dtype_of<P>()) fail("group-partial: bad partial dtype");
        std::vector<P> tmp;
        P* v = nullptr;
        if (c.p.finalize) {
          tmp.resize(static_cast<size_t>(group_partial_lead(Op) * plane));
          v = tmp.data();
        } else {
          v = out.mutable_data<P>();
        }
        init_planes<Op, P>(v, plane);
        for (size_t k = 0; k < ctx.inputs.size(); ++k) {
          accumulate<Op, T, P>(ctx.inputs[k], c.p.slots.data() + c.slot_begin[k], c.out, c.p.axis, v, plane);
        }
        if (c.p.finalize) finish<Op, P>(v, plane, c.p.ddof, out);
      });
    }
  });
  return out;
}

Chunk group_combine_kernel(KernelContext& ctx) {
  const Checked c = check_group(ctx, kGroupCombine, true);
  if (ctx.inputs.empty()) fail("group-combine: no inputs");
  if (is_median(c.p.op)) fail("group-combine: a median has no partials");
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  const int64_t plane = c.out.outer * c.out.len * c.out.inner;
  const DType pdt = ctx.inputs[0].dtype;
  if (!c.p.finalize && pdt != ctx.out_dtype) fail("group-combine: partials of another dtype");
  visit_group_op(c.p.op, [&](auto op) {
    constexpr GroupOp Op = decltype(op)::value;
    if constexpr (!is_median(Op)) {
      auto run = [&](auto ptag) {
        using P = decltype(ptag);
        const int64_t k = group_partial_lead(Op);
        std::vector<P> tmp;
        P* v = c.p.finalize ? (tmp.resize(static_cast<size_t>(k * plane)), tmp.data()) : out.mutable_data<P>();
        std::memcpy(v, ctx.inputs[0].data<P>(), static_cast<size_t>(k * plane) * sizeof(P));
        for (size_t i = 1; i < ctx.inputs.size(); ++i) {
          const P* b = ctx.inputs[i].data<P>();
          for (int64_t j = 0; j < plane; ++j) merge<Op, P>(v, b, plane, j);
        }
        if (c.p.finalize) finish<Op, P>(v, plane, c.p.ddof, out);
      };
      switch (pdt) {
        case DType::kInt64: return run(int64_t{});
        case DType::kUInt64: return run(uint64_t{});
        case DType::kFloat64: return run(double{});
        default: fail("group-combine: bad partial dtype");
      }
    }
  });
  return out;
}

// The median of buf (reordered), NaN when empty; NaN when it held NaN and !skip.
double median_in(std::vector<double>& buf, bool nan, bool skip) {
  if ((nan && !skip) || buf.empty()) return std::numeric_limits<double>::quiet_NaN();
  const size_t h = buf.size() / 2;
  std::nth_element(buf.begin(), buf.begin() + static_cast<long>(h), buf.end());
  double m = buf[h];
  if (buf.size() % 2 == 0) m = (m + *std::max_element(buf.begin(), buf.begin() + static_cast<long>(h))) / 2;
  return m;
}

Chunk block_median_kernel(KernelContext& ctx) {
  const auto p = read_params<BlockMedianParams>(ctx, kBlockMedian);
  check_inputs(ctx, 1, kBlockMedian);
  const Chunk& in = ctx.inputs[0];
  const size_t nd = in.shape.size();
  std::vector<bool> reduced(nd, false);
  for (size_t k = 0; k < p.axes.size(); ++k) {
    if (p.axes[k] < 0 || p.axes[k] >= static_cast<int64_t>(nd) || (k > 0 && p.axes[k] <= p.axes[k - 1])) {
      fail("block-median: bad axes");
    }
    reduced[static_cast<size_t>(p.axes[k])] = true;
  }
  Shape kept_shape, kept_strides, red_shape, red_strides;
  const Shape strides = c_strides(in.shape);
  for (size_t d = 0; d < nd; ++d) {
    (reduced[d] ? red_shape : kept_shape).push_back(in.shape[d]);
    (reduced[d] ? red_strides : kept_strides).push_back(strides[d]);
  }
  if (ctx.out_shape != kept_shape || !dtype_is_float(ctx.out_dtype)) fail("block-median: bad output");
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  const int64_t nout = shape_size(kept_shape), nred = shape_size(red_shape);
  // The offsets of one window's elements, relative to its first.
  std::vector<int64_t> window(static_cast<size_t>(nred), 0);
  for (int64_t r = 0; r < nred; ++r) {
    int64_t rem = r, off = 0;
    for (size_t k = red_shape.size(); k-- > 0;) {
      off += rem % red_shape[k] * red_strides[k];
      rem /= red_shape[k];
    }
    window[static_cast<size_t>(r)] = off;
  }
  std::vector<double> buf;
  visit_dtype(in.dtype, [&](auto t) {
    using T = decltype(t);
    const T* x = in.data<T>();
    for (int64_t o = 0; o < nout; ++o) {
      int64_t rem = o, base = 0;
      for (size_t k = kept_shape.size(); k-- > 0;) {
        base += rem % kept_shape[k] * kept_strides[k];
        rem /= kept_shape[k];
      }
      buf.clear();
      bool nan = false;
      for (int64_t off : window) {
        const T v = x[base + off];
        if (is_nan(v)) {
          nan = true;
        } else {
          buf.push_back(static_cast<double>(v));
        }
      }
      const double m = median_in(buf, nan, p.skipna);
      if (ctx.out_dtype == DType::kFloat32) {
        out.mutable_data<float>()[o] = static_cast<float>(m);
      } else {
        out.mutable_data<double>()[o] = m;
      }
    }
  });
  return out;
}

Chunk bincount_kernel(KernelContext& ctx) {
  const auto p = read_params<BincountParams>(ctx, kBincount);
  check_inputs(ctx, p.weighted ? 2 : 1, kBincount);
  const Chunk& x = ctx.inputs[0];
  if (x.shape.size() != 1 || (p.weighted && ctx.inputs[1].shape != x.shape)) fail("bincount: bad input shapes");
  if (ctx.out_shape != Shape{1, p.length}) fail("bincount: bad output shape");
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  std::vector<double> w;
  if (p.weighted) {
    w.resize(static_cast<size_t>(x.shape[0]));
    convert_elements(ctx.inputs[1], 0, DType::kFloat64, reinterpret_cast<uint8_t*>(w.data()), x.shape[0]);
  }
  visit_dtype(x.dtype, [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_floating_point_v<T>) {
      fail("bincount: x must be integers");
    } else {
      const T* v = x.data<T>();
      auto index = [&](int64_t i) {
        const auto b = static_cast<int64_t>(v[i]);
        if (b < 0 || b >= p.length) fail("bincount: value " + std::to_string(b) + " outside [0, length)");
        return b;
      };
      if (p.weighted) {
        if (ctx.out_dtype != DType::kFloat64) fail("bincount: weighted counts are float64");
        double* o = out.mutable_data<double>();
        std::fill(o, o + p.length, 0.0);
        for (int64_t i = 0; i < x.shape[0]; ++i) o[index(i)] += w[static_cast<size_t>(i)];
      } else {
        if (ctx.out_dtype != DType::kInt64) fail("bincount: counts are int64");
        int64_t* o = out.mutable_data<int64_t>();
        std::fill(o, o + p.length, int64_t{0});
        for (int64_t i = 0; i < x.shape[0]; ++i) ++o[index(i)];
      }
    }
  });
  return out;
}

// The bin of x by NumPy's rules, or -1; E is the type the comparisons run in.
template <typename E>
struct Binner {
  std::vector<E> edges;
  bool uniform = false;
  double first = 0, norm = 0;
  int64_t nbins = 0;
  int64_t operator()(E x) const {
    if (!(x >= edges[0] && x <= edges[static_cast<size_t>(nbins)])) return -1;  // NaN too
    int64_t i;
    if (uniform) {
      i = static_cast<int64_t>((static_cast<double>(x) - first) * norm);
      i = std::clamp<int64_t>(i, 0, nbins - 1);
      while (i > 0 && x < edges[static_cast<size_t>(i)]) --i;
      while (i < nbins - 1 && x >= edges[static_cast<size_t>(i) + 1]) ++i;
    } else {
      i = std::upper_bound(edges.begin(), edges.end(), x) - edges.begin() - 1;
      if (i == nbins) --i;
    }
    return i;
  }
};

Chunk histogram_kernel(KernelContext& ctx) {
  const auto p = read_params<HistogramParams>(ctx, kHistogram);
  check_inputs(ctx, p.weighted ? 2 : 1, kHistogram);
  if (p.edges.size() < 2) fail("histogram: fewer than two edges");
  const int64_t nbins = static_cast<int64_t>(p.edges.size()) - 1;
  const Chunk& in = ctx.inputs[0];
  if (p.weighted && ctx.inputs[1].shape != in.shape) fail("histogram: the weights' block differs in shape");
  Shape want{1, nbins};
  Dims d;
  if (p.axis >= 0) {
    if (p.axis >= static_cast<int64_t>(in.shape.size())) fail("histogram: axis out of range");
    want = in.shape;
    want[p.axis] = 1;
    want.push_back(nbins);
    d = dims_of(in.shape, p.axis);
  } else {
    d.len = in.num_elements();
  }
  if (ctx.out_shape != want) fail("histogram: bad output shape");
  if (ctx.out_dtype != DType::kInt64 && !(p.weighted && ctx.out_dtype == DType::kFloat64)) {
    fail("histogram: counts are int64, weighted sums int64 or float64");
  }
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  // Sums of the weights in the output's type (int64 weights exactly), or counts.
  auto run = [&](auto etag, auto acc_tag) {
    using E = decltype(etag);
    using Acc = decltype(acc_tag);
    Binner<E> bin;
    for (double e : p.edges) bin.edges.push_back(static_cast<E>(e));
    bin.uniform = p.uniform;
    bin.nbins = nbins;
    bin.first = p.edges.front();
    bin.norm = static_cast<double>(nbins) / (p.edges.back() - p.edges.front());
    std::vector<Acc> w;
    if (p.weighted) {
      w.resize(static_cast<size_t>(in.num_elements()));
      convert_elements(ctx.inputs[1], 0, ctx.out_dtype, reinterpret_cast<uint8_t*>(w.data()), in.num_elements());
    }
    Acc* o = out.mutable_data<Acc>();
    std::fill(o, o + out.num_elements(), Acc{0});
    visit_dtype(in.dtype, [&](auto t) {
      using T = decltype(t);
      const T* x = in.data<T>();
      for (int64_t oi = 0; oi < d.outer; ++oi) {
        for (int64_t i = 0; i < d.inner; ++i) {
          Acc* h = o + (oi * d.inner + i) * nbins;
          for (int64_t l = 0; l < d.len; ++l) {
            const int64_t at = (oi * d.len + l) * d.inner + i;
            const int64_t b = bin(static_cast<E>(x[at]));
            if (b >= 0) h[b] += p.weighted ? w[static_cast<size_t>(at)] : Acc{1};
          }
        }
      }
    });
  };
  auto in_type = [&](auto etag) {
    if (ctx.out_dtype == DType::kFloat64) {
      run(etag, double{});
    } else {
      run(etag, int64_t{});
    }
  };
  if (p.single) {
    in_type(float{});
  } else {
    in_type(double{});
  }
  return out;
}

// The block's values sorted, NaN last, and the distinct ones with their counts.
template <typename T>
void distinct(const Chunk& in, std::vector<T>& values, std::vector<int64_t>& counts) {
  std::vector<T> v(in.data<T>(), in.data<T>() + in.num_elements());
  auto nan_begin = std::partition(v.begin(), v.end(), [](T x) { return !is_nan(x); });
  std::sort(v.begin(), nan_begin);
  for (auto it = v.begin(); it != nan_begin; ++it) {
    if (values.empty() || !(values.back() == *it)) {
      values.push_back(*it);
      counts.push_back(0);
    }
    ++counts.back();
  }
  if (nan_begin != v.end()) {
    values.push_back(*nan_begin);
    counts.push_back(v.end() - nan_begin);
  }
}

Chunk unique_kernel(KernelContext& ctx, int what, const char* name) {
  check_inputs(ctx, 1, name);
  check_no_trailing(ctx.params, name);
  const Chunk& in = ctx.inputs[0];
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  visit_dtype(in.dtype, [&](auto t) {
    using T = decltype(t);
    std::vector<T> values;
    std::vector<int64_t> counts;
    distinct<T>(in, values, counts);
    const auto n = static_cast<int64_t>(values.size());
    if (what == 0) {
      if (ctx.out_shape != Shape{1} || ctx.out_dtype != DType::kInt64) fail(std::string(name) + ": bad output");
      *out.mutable_data<int64_t>() = n;
    } else if (what == 1) {
      if (ctx.out_shape != Shape{n} || ctx.out_dtype != in.dtype) fail(std::string(name) + ": bad output");
      std::copy(values.begin(), values.end(), out.mutable_data<T>());
    } else {
      if (ctx.out_shape != Shape{n} || ctx.out_dtype != DType::kInt64) fail(std::string(name) + ": bad output");
      std::copy(counts.begin(), counts.end(), out.mutable_data<int64_t>());
    }
  });
  return out;
}

}  // namespace

int64_t group_partial_lead(GroupOp op) {
  if (is_median(op)) return 0;
  if (op == GroupOp::kVar || op == GroupOp::kNanVar || op == GroupOp::kStd || op == GroupOp::kNanStd) return 3;
  if (op == GroupOp::kMean || op == GroupOp::kNanMean || is_pick(op)) return 2;
  return 1;
}

DType group_partial_dtype(GroupOp op, DType in) {
  if (is_moment(op) || dtype_is_float(in)) return DType::kFloat64;
  switch (in) {
    case DType::kUInt8: case DType::kUInt16: case DType::kUInt32: case DType::kUInt64:
      return DType::kUInt64;
    default:
      return DType::kInt64;
  }
}

DType group_result_dtype(GroupOp op, DType in, bool has_empty) {
  const bool unsigned_in = in == DType::kUInt8 || in == DType::kUInt16 || in == DType::kUInt32 || in == DType::kUInt64;
  switch (op) {
    case GroupOp::kSum: case GroupOp::kNanSum: case GroupOp::kProd: case GroupOp::kNanProd:
      if (dtype_is_float(in)) return in;
      return unsigned_in ? DType::kUInt64 : DType::kInt64;
    case GroupOp::kCount:
      return DType::kInt64;
    default:
      break;
  }
  if (is_moment(op)) return in == DType::kFloat32 ? DType::kFloat32 : DType::kFloat64;
  if (!has_empty || dtype_is_float(in)) return in;
  return dtype_size(in) <= 2 && in != DType::kBool ? DType::kFloat32 : DType::kFloat64;
}

void register_group_ops(OpRegistry& r) {
  r.add(kGroupPartial, group_partial_kernel, CostClass::kDataBound);
  r.add(kGroupCombine, group_combine_kernel, CostClass::kDataBound);
  r.add(kBincount, bincount_kernel, CostClass::kDataBound);
  r.add(kHistogram, histogram_kernel, CostClass::kDataBound);
  r.add(kBlockMedian, block_median_kernel, CostClass::kComputeBound);
  r.add(kUniqueCount, [](KernelContext& ctx) { return unique_kernel(ctx, 0, kUniqueCount); }, CostClass::kComputeBound);
  r.add(kUniqueValues, [](KernelContext& ctx) { return unique_kernel(ctx, 1, kUniqueValues); }, CostClass::kComputeBound);
  r.add(kUniqueCounts, [](KernelContext& ctx) { return unique_kernel(ctx, 2, kUniqueCounts); }, CostClass::kComputeBound);
}

}  // namespace rsdat::ops
