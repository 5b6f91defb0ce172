#include "ops/order.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <span>
#include <type_traits>

#include "ops/kernel_util.hpp"

namespace rsdat::ops {

bool quantile_method_from_name(const std::string& name, QuantileMethod& out) {
  static const std::pair<const char*, QuantileMethod> kNames[] = {{"linear", QuantileMethod::kLinear},
                                                                  {"lower", QuantileMethod::kLower},
                                                                  {"higher", QuantileMethod::kHigher},
                                                                  {"nearest", QuantileMethod::kNearest},
                                                                  {"midpoint", QuantileMethod::kMidpoint}};
  for (const auto& [n, m] : kNames) {
    if (name == n) {
      out = m;
      return true;
    }
  }
  return false;
}

DType quantile_dtype(QuantileMethod method, DType in) {
  switch (method) {
    case QuantileMethod::kLower:
    case QuantileMethod::kHigher:
    case QuantileMethod::kNearest:
      return in;
    case QuantileMethod::kMedian:
      return in == DType::kFloat32 ? DType::kFloat32 : DType::kFloat64;
    case QuantileMethod::kLinear:
    case QuantileMethod::kMidpoint:
      break;
  }
  return DType::kFloat64;
}

namespace {

// A block as the kernels read it: `shape` elements in C order from `data`.
struct BlockView {
  const uint8_t* data = nullptr;
  Shape shape;
};

std::vector<int64_t> c_strides(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;) s[d - 1] = s[d] * shape[d];
  return s;
}

// Where each element of a task's slices lies in its input blocks. The blocks form a
// grid over the reduced axes (`counts` blocks along each, C order) and share one block
// of the other (kept) axes. A slice is numbered by its kept elements' C order, an
// element of a slice by its position in C order over the reduced axes' whole extents.
class Slices {
 public:
  Slices(std::vector<BlockView> blocks, const std::vector<int64_t>& axes, const std::vector<int64_t>& counts,
         const char* op)
      : blocks_(std::move(blocks)) {
    const int64_t want = std::accumulate(counts.begin(), counts.end(), int64_t{1}, std::multiplies<>());
    if (axes.size() != counts.size() || static_cast<int64_t>(blocks_.size()) != want || blocks_.empty()) {
      fail(std::string(op) + ": expected " + std::to_string(want) + " input blocks, got " +
           std::to_string(blocks_.size()));
    }
    const size_t nd = blocks_[0].shape.size();
    std::vector<bool> reduced(nd, false);
    for (int64_t ax : axes) {
      if (ax < 0 || static_cast<size_t>(ax) >= nd || reduced[static_cast<size_t>(ax)]) {
        fail(std::string(op) + ": bad axis " + std::to_string(ax));
      }
      reduced[static_cast<size_t>(ax)] = true;
    }
    for (size_t d = 0; d < nd; ++d) {
      if (!reduced[d]) {
        kept_.push_back(d);
        kept_ext_.push_back(blocks_[0].shape[d]);
      }
    }
    const std::vector<int64_t> grid_strides = c_strides(counts);
    // Extents and offsets of each reduced axis's blocks, from the blocks on its line
    // through block 0.
    std::vector<std::vector<int64_t>> offset(axes.size());
    Shape ext(axes.size(), 0);
    for (size_t j = 0; j < axes.size(); ++j) {
      for (int64_t i = 0; i < counts[j]; ++i) {
        offset[j].push_back(ext[j]);
        ext[j] += blocks_[static_cast<size_t>(i * grid_strides[j])].shape[static_cast<size_t>(axes[j])];
      }
    }
    length_ = shape_size(ext);
    const std::vector<int64_t> r_strides = c_strides(ext);
    red_off_.resize(blocks_.size());
    red_pos_.resize(blocks_.size());
    kept_strides_.resize(blocks_.size());
    for (size_t p = 0; p < blocks_.size(); ++p) {
      const Shape& s = blocks_[p].shape;
      if (s.size() != nd) fail(std::string(op) + ": input blocks of different ranks");
      const std::vector<int64_t> st = c_strides(s);
      std::vector<int64_t> pos(axes.size());
      for (size_t j = 0; j < axes.size(); ++j) {
        pos[j] = (static_cast<int64_t>(p) / grid_strides[j]) % counts[j];
        const size_t ax = static_cast<size_t>(axes[j]);
        const int64_t line = blocks_[static_cast<size_t>(pos[j] * grid_strides[j])].shape[ax];
        if (s[ax] != line) fail(std::string(op) + ": input blocks do not form a grid");
      }
      for (size_t e = 0; e < kept_.size(); ++e) {
        if (s[kept_[e]] != kept_ext_[e]) fail(std::string(op) + ": input blocks do not form a grid");
        kept_strides_[p].push_back(st[kept_[e]]);
      }
      // The block's reduced positions in C order.
      Shape local(axes.size());
      for (size_t j = 0; j < axes.size(); ++j) local[j] = s[static_cast<size_t>(axes[j])];
      const int64_t n = shape_size(local);
      std::vector<int64_t> idx(axes.size(), 0);
      for (int64_t i = 0; i < n; ++i) {
        int64_t off = 0, r = 0;
        for (size_t j = 0; j < axes.size(); ++j) {
          off += idx[j] * st[static_cast<size_t>(axes[j])];
          r += (offset[j][static_cast<size_t>(pos[j])] + idx[j]) * r_strides[j];
        }
        red_off_[p].push_back(off);
        red_pos_[p].push_back(r);
        for (size_t j = axes.size(); j-- > 0;) {
          if (++idx[j] < local[j]) break;
          idx[j] = 0;
        }
      }
    }
    slices_ = shape_size(kept_ext_);
  }

  int64_t slices() const { return slices_; }   // number of slices
  int64_t length() const { return length_; }   // elements per slice
  const Shape& kept_extents() const { return kept_ext_; }

  // Slices [s0, s1) of elements of type T into out[(s - s0) * length() + position].
  template <typename T>
  void gather(int64_t s0, int64_t s1, T* out) const {
    std::vector<int64_t> koff(static_cast<size_t>(s1 - s0));
    for (size_t p = 0; p < blocks_.size(); ++p) {
      kept_offsets(kept_strides_[p], s0, koff);
      const T* src = reinterpret_cast<const T*>(blocks_[p].data);
      const std::vector<int64_t>& offs = red_off_[p];
      const std::vector<int64_t>& poss = red_pos_[p];
      for (size_t j = 0; j < offs.size(); ++j) {
        const T* s = src + offs[j];
        T* d = out + poss[j];
        for (size_t i = 0; i < koff.size(); ++i) d[static_cast<int64_t>(i) * length_] = s[koff[i]];
      }
    }
  }

  // The offsets of slices [s0, s0 + out.size()) under the kept axes' `strides`.
  void kept_offsets(const std::vector<int64_t>& strides, int64_t s0, std::vector<int64_t>& out) const {
    const size_t nk = kept_ext_.size();
    std::vector<int64_t> idx(nk, 0);
    int64_t rest = s0, off = 0;
    for (size_t e = nk; e-- > 0;) {
      idx[e] = rest % std::max<int64_t>(kept_ext_[e], 1);
      rest /= std::max<int64_t>(kept_ext_[e], 1);
      off += idx[e] * strides[e];
    }
    for (size_t i = 0; i < out.size(); ++i) {
      out[i] = off;
      for (size_t e = nk; e-- > 0;) {
        off += strides[e];
        if (++idx[e] < kept_ext_[e]) break;
        off -= strides[e] * kept_ext_[e];
        idx[e] = 0;
      }
    }
  }

 private:
  std::vector<BlockView> blocks_;
  std::vector<size_t> kept_;
  Shape kept_ext_;
  std::vector<std::vector<int64_t>> kept_strides_;
  std::vector<std::vector<int64_t>> red_off_, red_pos_;
  int64_t length_ = 0;
  int64_t slices_ = 0;
};

std::vector<BlockView> views_of(std::span<const Chunk> inputs, const char* op) {
  std::vector<BlockView> v;
  for (const Chunk& c : inputs) {
    if (!c.buffer || c.buffer->size() < c.nbytes()) fail(std::string(op) + ": input buffer smaller than its shape");
    if (c.dtype != inputs[0].dtype) fail(std::string(op) + ": input blocks of different dtypes");
    v.push_back({c.bytes(), c.shape});
  }
  return v;
}

// Slices per tile: a tile's scratch is about 256 KiB, and one slice at least.
int64_t tile_slices(int64_t length, size_t itemsize, int64_t slices) {
  const int64_t per = static_cast<int64_t>((256u << 10) / std::max<size_t>(1, itemsize * static_cast<size_t>(std::max<int64_t>(length, 1))));
  return std::clamp<int64_t>(per, 1, std::max<int64_t>(slices, 1));
}

// Bool elements are handled as the bytes 0 and 1 they are.
template <typename T>
using Elem = std::conditional_t<std::is_same_v<T, bool>, uint8_t, T>;

template <typename T>
constexpr bool kIsFloat = std::is_floating_point_v<T>;

// a < b with NaN above everything (numpy.sort's order).
template <typename T>
bool less_nan_last(T a, T b) {
  if constexpr (kIsFloat<T>) {
    return a < b || (std::isnan(b) && !std::isnan(a));
  } else {
    return a < b;
  }
}

// b - a in T, wrapping for integers as NumPy's subtract does, as a double.
template <typename T>
double difference(T b, T a) {
  if constexpr (kIsFloat<T>) {
    return static_cast<double>(static_cast<T>(b - a));
  } else if constexpr (std::is_same_v<T, bool>) {
    return static_cast<double>(b) - static_cast<double>(a);
  } else {
    using U = std::make_unsigned_t<T>;
    return static_cast<double>(static_cast<T>(static_cast<U>(static_cast<U>(b) - static_cast<U>(a))));
  }
}

// NumPy 1.24's _lerp: a + (b - a) * t, or b - (b - a) * (1 - t) where t >= 0.5.
template <typename T>
double lerp(T a, T b, double t) {
  const double diff = difference(b, a);
  return t >= 0.5 ? static_cast<double>(b) - diff * (1 - t) : static_cast<double>(a) + diff * t;
}

// The order statistics numpy.quantile reads for q over n values, per method: the
// sorted positions needed (prev, next) and the weight of next.
struct Pick {
  int64_t prev = 0, next = 0;
  double gamma = 0;
};
Pick pick(QuantileMethod m, double q, int64_t n) {
  const double v0 = static_cast<double>(n - 1) * q;
  Pick p;
  switch (m) {
    case QuantileMethod::kLower:
      p.prev = p.next = static_cast<int64_t>(std::floor(v0));
      return p;
    case QuantileMethod::kHigher:
      p.prev = p.next = static_cast<int64_t>(std::ceil(v0));
      return p;
    case QuantileMethod::kNearest:
      p.prev = p.next = static_cast<int64_t>(std::nearbyint(v0));  // half to even, as np.around
      return p;
    case QuantileMethod::kMedian:
      p.prev = (n - 1) / 2;
      p.next = n / 2;
      return p;
    case QuantileMethod::kLinear:
    case QuantileMethod::kMidpoint:
      break;
  }
  const double v = m == QuantileMethod::kMidpoint ? 0.5 * (std::floor(v0) + std::ceil(v0)) : v0;
  // _get_indexes: at or past the last position both neighbours are the last one (and
  // the weight is taken from -1, as NumPy's is).
  double prevf = std::floor(v);
  if (v >= static_cast<double>(n - 1)) prevf = -1;
  p.prev = prevf < 0 ? n - 1 : static_cast<int64_t>(prevf);
  p.next = prevf < 0 ? n - 1 : p.prev + 1;
  p.gamma = m == QuantileMethod::kMidpoint ? (std::fmod(v, 1.0) == 0 ? 0.0 : 0.5) : v - prevf;
  return p;
}

// Slices up to this long (a time series of a few dozen steps) are sorted by counting
// ranks: n^2 comparisons without branches, which vectorise, cost less there than
// nth_element's unpredictable partitions.
constexpr int64_t kRankSortMax = 64;

// Sorts v[0, n) (no NaN), n <= kRankSortMax: each value goes to its rank, the number
// of values below it plus the equal ones before it.
template <typename T>
void rank_sort(T* v, int64_t n, T* tmp) {
  for (int64_t i = 0; i < n; ++i) {
    const T x = v[i];
    int32_t r = 0;
    for (int64_t j = 0; j < i; ++j) r += v[j] <= x ? 1 : 0;
    for (int64_t j = i + 1; j < n; ++j) r += v[j] < x ? 1 : 0;
    tmp[r] = x;
  }
  std::copy(tmp, tmp + n, v);
}

template <typename T, typename O>
void quantile_slices(const Slices& sl, const QuantileParams& p, O* out) {
  const int64_t len = sl.length(), ns = sl.slices();
  const int64_t tile = tile_slices(len, sizeof(T), ns);
  std::vector<T> scratch(static_cast<size_t>(tile * len));
  std::vector<int64_t> want;
  std::vector<Pick> picks(p.q.size());
  T sorted[kRankSortMax];
  const O nan = std::numeric_limits<O>::has_quiet_NaN ? std::numeric_limits<O>::quiet_NaN() : O{};
  for (int64_t s0 = 0; s0 < ns; s0 += tile) {
    const int64_t s1 = std::min(ns, s0 + tile);
    sl.gather(s0, s1, scratch.data());
    for (int64_t s = s0; s < s1; ++s) {
      T* v = scratch.data() + (s - s0) * len;
      int64_t n = len;
      bool has_nan = false;
      if constexpr (kIsFloat<T>) {
        if (p.skip_nan) {
          // Compacted without branches: whether a value is NaN is random in masked data.
          n = 0;
          for (int64_t i = 0; i < len; ++i) {
            const T x = v[i];
            v[n] = x;
            n += std::isnan(x) ? 0 : 1;
          }
        } else {
          has_nan = std::any_of(v, v + len, [](T x) { return std::isnan(x); });
        }
      }
      if (has_nan || n == 0) {
        for (size_t i = 0; i < p.q.size(); ++i) out[static_cast<int64_t>(i) * ns + s] = nan;
        continue;
      }
      // Select the positions needed, smallest first: after nth_element at k, what
      // follows k is not smaller, so the next selection looks only there.
      want.clear();
      for (size_t i = 0; i < p.q.size(); ++i) {
        picks[i] = pick(p.method, p.q[i], n);
        want.push_back(picks[i].prev);
        want.push_back(picks[i].next);
      }
      std::sort(want.begin(), want.end());
      want.erase(std::unique(want.begin(), want.end()), want.end());
      // No NaN is left in v[0, n): plain comparisons.
      if (n <= kRankSortMax) want.clear();  // sorted whole instead
      if (n <= kRankSortMax) rank_sort(v, n, sorted);
      int64_t from = 0;
      for (int64_t k : want) {
        if (k > from) {
          std::nth_element(v + from, v + k, v + n);
        } else if (k == from && from < n) {
          std::iter_swap(v + k, std::min_element(v + k, v + n));
        }
        from = k + 1;
      }
      for (size_t i = 0; i < p.q.size(); ++i) {
        const Pick& pk = picks[i];
        const T a = v[pk.prev], b = v[pk.next];
        O r;
        switch (p.method) {
          case QuantileMethod::kLower:
          case QuantileMethod::kHigher:
          case QuantileMethod::kNearest:
            r = convert<O>(a);
            break;
          case QuantileMethod::kMedian:
            // numpy.mean of the one or two middle values: in float32 for float32.
            if constexpr (std::is_same_v<O, float>) {
              r = pk.prev == pk.next ? static_cast<float>(a) : (static_cast<float>(a) + static_cast<float>(b)) / 2.0f;
            } else {
              r = pk.prev == pk.next ? static_cast<O>(a)
                                     : static_cast<O>((static_cast<double>(a) + static_cast<double>(b)) / 2.0);
            }
            break;
          default:
            r = static_cast<O>(lerp(a, b, pk.gamma));
            break;
        }
        out[static_cast<int64_t>(i) * ns + s] = r;
      }
    }
  }
}

Chunk quantile_kernel(KernelContext& ctx) {
  const auto p = read_params<QuantileParams>(ctx, kQuantile);
  if (static_cast<uint8_t>(p.method) > static_cast<uint8_t>(QuantileMethod::kMedian)) fail("quantile: bad method");
  if (p.q.empty()) fail("quantile: no quantiles");
  for (double q : p.q)
    if (!(q >= 0 && q <= 1)) fail("quantile: Quantiles must be in the range [0, 1]");
  const Slices sl(views_of(ctx.inputs, kQuantile), p.axes, p.counts, kQuantile);
  const DType in = ctx.inputs[0].dtype;
  if (ctx.out_dtype != quantile_dtype(p.method, in)) fail("quantile: wrong output dtype");
  if (shape_size(ctx.out_shape) != static_cast<int64_t>(p.q.size()) * sl.slices()) {
    fail("quantile: output shape " + shape_to_string(ctx.out_shape) + " does not fit the inputs");
  }
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  visit_dtype(in, [&](auto t) {
    using T = Elem<decltype(t)>;
    visit_dtype(ctx.out_dtype, [&](auto o) {
      using O = Elem<decltype(o)>;
      if constexpr (std::is_same_v<O, T> || std::is_same_v<O, double> || std::is_same_v<O, float>) {
        quantile_slices<T, O>(sl, p, out.mutable_data<O>());
      } else {
        fail("quantile: wrong output dtype");
      }
    });
  });
  return out;
}

// The offsets in a block of `shape` (C order) of slice s's elements along `axis`
// start at offset(s) and step by stride(axis): the slices are the other axes' elements.
struct AxisLayout {
  Shape kept;                       // the other axes' extents
  std::vector<int64_t> kept_strides;
  int64_t stride = 1;               // along the axis
  AxisLayout(const Shape& shape, size_t axis) {
    const std::vector<int64_t> st = c_strides(shape);
    for (size_t d = 0; d < shape.size(); ++d) {
      if (d == axis) {
        stride = st[d];
      } else {
        kept.push_back(shape[d]);
        kept_strides.push_back(st[d]);
      }
    }
  }
};

template <typename T>
void sort_slices(const Slices& sl, const SortParams& p, const Shape& out_shape, uint8_t* out) {
  const int64_t len = sl.length(), ns = sl.slices();
  const AxisLayout lay(out_shape, static_cast<size_t>(p.axis));
  const int64_t tile = tile_slices(len, sizeof(T), ns);
  std::vector<T> scratch(static_cast<size_t>(tile * len));
  std::vector<int64_t> offs(static_cast<size_t>(tile)), order(static_cast<size_t>(len));
  for (int64_t s0 = 0; s0 < ns; s0 += tile) {
    const int64_t s1 = std::min(ns, s0 + tile);
    sl.gather(s0, s1, scratch.data());
    offs.resize(static_cast<size_t>(s1 - s0));
    sl.kept_offsets(lay.kept_strides, s0, offs);
    for (int64_t s = s0; s < s1; ++s) {
      T* v = scratch.data() + (s - s0) * len;
      const int64_t base = offs[static_cast<size_t>(s - s0)];
      if (p.arg) {
        std::iota(order.begin(), order.end(), int64_t{0});
        std::stable_sort(order.begin(), order.end(), [v](int64_t a, int64_t b) { return less_nan_last(v[a], v[b]); });
        int64_t* o = reinterpret_cast<int64_t*>(out);
        for (int64_t i = 0; i < len; ++i) o[base + i * lay.stride] = order[static_cast<size_t>(i)];
      } else {
        std::sort(v, v + len, less_nan_last<T>);
        T* o = reinterpret_cast<T*>(out);
        for (int64_t i = 0; i < len; ++i) o[base + i * lay.stride] = v[i];
      }
    }
  }
}

Chunk sort_kernel(KernelContext& ctx) {
  const auto p = read_params<SortParams>(ctx, kSort);
  const Slices sl(views_of(ctx.inputs, kSort), {p.axis}, {p.count}, kSort);
  const DType in = ctx.inputs[0].dtype;
  if (ctx.out_dtype != (p.arg ? DType::kInt64 : in)) fail("sort: wrong output dtype");
  Shape want = ctx.inputs[0].shape;
  want[static_cast<size_t>(p.axis)] = sl.length();
  if (ctx.out_shape != want) fail("sort: output shape " + shape_to_string(ctx.out_shape) + " does not fit the inputs");
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  visit_dtype(in, [&](auto t) { sort_slices<Elem<decltype(t)>>(sl, p, ctx.out_shape, out.mutable_bytes()); });
  return out;
}

// An int64 that orders as the values do (NaN above everything, -0 as 0).
template <typename T>
int64_t order_key(T v) {
  if constexpr (kIsFloat<T>) {
    if (std::isnan(v)) return std::numeric_limits<int64_t>::max();
    const double d = v == 0 ? 0.0 : static_cast<double>(v);
    const int64_t b = std::bit_cast<int64_t>(d);
    return b >= 0 ? b : b ^ std::numeric_limits<int64_t>::max();
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    return static_cast<int64_t>(v ^ (uint64_t{1} << 63));
  } else {
    return static_cast<int64_t>(v);
  }
}

// Whether a goes before b in a top-k of sign `k`.
template <typename T>
bool before(T a, T b, int64_t k) {
  return k > 0 ? less_nan_last(b, a) : less_nan_last(a, b);
}

template <typename T>
void topk_values(const Slices& sl, const TopkParams& p, const Shape& out_shape, T* out) {
  const int64_t len = sl.length(), ns = sl.slices();
  const int64_t kk = std::min<int64_t>(std::abs(p.k), len);
  const AxisLayout lay(out_shape, static_cast<size_t>(p.axis));
  const int64_t tile = tile_slices(len, sizeof(T), ns);
  std::vector<T> scratch(static_cast<size_t>(tile * len));
  std::vector<int64_t> offs(static_cast<size_t>(tile));
  const int64_t k = p.k;
  for (int64_t s0 = 0; s0 < ns; s0 += tile) {
    const int64_t s1 = std::min(ns, s0 + tile);
    sl.gather(s0, s1, scratch.data());
    offs.resize(static_cast<size_t>(s1 - s0));
    sl.kept_offsets(lay.kept_strides, s0, offs);
    for (int64_t s = s0; s < s1; ++s) {
      T* v = scratch.data() + (s - s0) * len;
      std::partial_sort(v, v + kk, v + len, [k](T a, T b) { return before(a, b, k); });
      const int64_t base = offs[static_cast<size_t>(s - s0)];
      for (int64_t i = 0; i < kk; ++i) out[base + i * lay.stride] = v[i];
    }
  }
}

// argtopk: (key, index) candidates gathered from values (keys made here) or from
// partials (two halves of each block).
void topk_args(const Slices& keys, const Slices* indices, const TopkParams& p, DType in, const Shape& out_shape,
               int64_t* out) {
  const int64_t len = keys.length(), ns = keys.slices();
  const int64_t kk = std::min<int64_t>(std::abs(p.k), len);
  // The output: [2] + block for a partial, the block of indices when final.
  const Shape block = p.final ? out_shape : Shape(out_shape.begin() + 1, out_shape.end());
  const int64_t half = shape_size(block);
  const AxisLayout lay(block, static_cast<size_t>(p.axis));
  const int64_t tile = tile_slices(len, 16, ns);
  std::vector<int64_t> k_scratch(static_cast<size_t>(tile * len)), i_scratch(static_cast<size_t>(tile * len));
  std::vector<int64_t> offs(static_cast<size_t>(tile)), order(static_cast<size_t>(len));
  for (int64_t s0 = 0; s0 < ns; s0 += tile) {
    const int64_t s1 = std::min(ns, s0 + tile);
    if (indices != nullptr) {
      keys.gather(s0, s1, k_scratch.data());
      indices->gather(s0, s1, i_scratch.data());
    } else {
      visit_dtype(in, [&](auto t) {
        using T = Elem<decltype(t)>;
        std::vector<T> v(static_cast<size_t>((s1 - s0) * len));
        keys.gather(s0, s1, v.data());
        for (size_t i = 0; i < v.size(); ++i) k_scratch[i] = order_key(v[i]);
      });
      for (int64_t s = s0; s < s1; ++s)
        for (int64_t i = 0; i < len; ++i) i_scratch[static_cast<size_t>((s - s0) * len + i)] = p.index_base + i;
    }
    offs.resize(static_cast<size_t>(s1 - s0));
    keys.kept_offsets(lay.kept_strides, s0, offs);
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t* kv = k_scratch.data() + (s - s0) * len;
      const int64_t* iv = i_scratch.data() + (s - s0) * len;
      std::iota(order.begin(), order.end(), int64_t{0});
      const bool largest = p.k > 0;
      std::partial_sort(order.begin(), order.begin() + kk, order.end(), [&](int64_t a, int64_t b) {
        if (kv[a] != kv[b]) return largest ? kv[a] > kv[b] : kv[a] < kv[b];
        return iv[a] < iv[b];
      });
      const int64_t base = offs[static_cast<size_t>(s - s0)];
      for (int64_t i = 0; i < kk; ++i) {
        const int64_t j = order[static_cast<size_t>(i)];
        if (p.final) {
          out[base + i * lay.stride] = iv[j];
        } else {
          out[base + i * lay.stride] = kv[j];
          out[half + base + i * lay.stride] = iv[j];
        }
      }
    }
  }
}

Chunk topk_kernel(KernelContext& ctx) {
  const auto p = read_params<TopkParams>(ctx, kTopk);
  if (p.k == 0) fail("topk: k must not be 0");
  if (p.from_partials && !p.arg) fail("topk: partials are argtopk's");
  std::vector<BlockView> views = views_of(ctx.inputs, kTopk);
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  if (!p.arg) {
    const Slices sl(std::move(views), {p.axis}, {p.count}, kTopk);
    if (ctx.out_dtype != ctx.inputs[0].dtype) fail("topk: wrong output dtype");
    Shape want = ctx.inputs[0].shape;
    want[static_cast<size_t>(p.axis)] = std::min<int64_t>(std::abs(p.k), sl.length());
    if (ctx.out_shape != want) fail("topk: output shape " + shape_to_string(ctx.out_shape) + " does not fit the inputs");
    visit_dtype(ctx.out_dtype, [&](auto t) {
      using T = Elem<decltype(t)>;
      topk_values<T>(sl, p, ctx.out_shape, out.mutable_data<T>());
    });
    return out;
  }
  if (ctx.out_dtype != DType::kInt64) fail("topk: wrong output dtype");
  if (!p.from_partials) {
    const Slices sl(std::move(views), {p.axis}, {p.count}, kTopk);
    Shape want = ctx.inputs[0].shape;
    want[static_cast<size_t>(p.axis)] = std::min<int64_t>(std::abs(p.k), sl.length());
    if (!p.final) want.insert(want.begin(), 2);
    if (ctx.out_shape != want) fail("topk: output shape " + shape_to_string(ctx.out_shape) + " does not fit the inputs");
    topk_args(sl, nullptr, p, ctx.inputs[0].dtype, ctx.out_shape, out.mutable_data<int64_t>());
    return out;
  }
  // Partials: the keys are the first half of each block, the indices the second.
  std::vector<BlockView> keys, indices;
  for (const BlockView& v : views) {
    if (ctx.inputs[0].dtype != DType::kInt64 || v.shape.empty() || v.shape[0] != 2) fail("topk: malformed partial");
    const Shape block(v.shape.begin() + 1, v.shape.end());
    keys.push_back({v.data, block});
    indices.push_back({v.data + shape_size(block) * 8, block});
  }
  const Slices ks(std::move(keys), {p.axis}, {p.count}, kTopk);
  const Slices is(std::move(indices), {p.axis}, {p.count}, kTopk);
  Shape want(ctx.inputs[0].shape.begin() + 1, ctx.inputs[0].shape.end());
  want[static_cast<size_t>(p.axis)] = std::min<int64_t>(std::abs(p.k), ks.length());
  if (!p.final) want.insert(want.begin(), 2);
  if (ctx.out_shape != want) fail("topk: output shape " + shape_to_string(ctx.out_shape) + " does not fit the inputs");
  topk_args(ks, &is, p, DType::kInt64, ctx.out_shape, out.mutable_data<int64_t>());
  return out;
}

}  // namespace

void register_order_ops(OpRegistry& r) {
  r.add(kQuantile, quantile_kernel, CostClass::kComputeBound);
  r.add(kSort, sort_kernel, CostClass::kComputeBound);
  r.add(kTopk, topk_kernel, CostClass::kComputeBound);
}

}  // namespace rsdat::ops
