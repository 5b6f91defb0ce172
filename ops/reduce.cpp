#include "ops/reduce.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>

#include "ops/elementwise_eval.hpp"
#include "ops/kernel_util.hpp"
#include "ops/simd.hpp"

namespace rsdat::ops {

namespace {

// Calls f(rule, identity, step, combine) for a pairwise kind: the kind's partial rule as
// a compile-time constant, its identity, and its step (a partial taking a value) and
// combination (of two partials) as generic functions of two values of the partial's type.
template <typename F>
void visit_monoid(ReduceKind kind, F&& f) {
  switch (kind) {
#define RSDAT_MONOID(name, Tag, code, partial, identity, step, combine)                            \
  case ReduceKind::k##Tag:                                                                          \
    f(std::integral_constant<PartialRule, PartialRule::partial>{}, Identity::identity,             \
      [](auto a, decltype(a) b) { return static_cast<decltype(a)>(step); },                         \
      [](auto a, decltype(a) b) { return static_cast<decltype(a)>(combine); });                     \
    return;
#include "rsdat/reductions.def"
    default: fail("reduce: not a pairwise kind");
  }
}

// The C++ type of a partial of values V under `rule`.
template <PartialRule rule, typename V>
using PartialOf = std::conditional_t<
    rule == PartialRule::kBool, bool,
    std::conditional_t<rule == PartialRule::kInput, V, std::conditional_t<std::is_floating_point_v<V>, double, int64_t>>>;

template <typename P>
P identity_value(Identity id) {
  using L = std::numeric_limits<P>;
  switch (id) {
    case Identity::kZero: return P(0);
    case Identity::kOne: return P(1);
    case Identity::kHighest: return L::has_infinity ? L::infinity() : L::max();
    case Identity::kLowest: return L::has_infinity ? -L::infinity() : L::lowest();
    case Identity::kNaNOrHighest: return L::has_quiet_NaN ? L::quiet_NaN() : L::max();
    case Identity::kNaNOrLowest: return L::has_quiet_NaN ? L::quiet_NaN() : L::lowest();
  }
  return P(0);
}

bool is_pairwise(ReduceKind kind) {
  switch (kind) {
#define RSDAT_MONOID(name, Tag, code, partial, identity, step, combine) case ReduceKind::k##Tag: return true;
#include "rsdat/reductions.def"
    default: return false;
  }
}

PartialRule partial_rule(ReduceKind kind) {
  PartialRule out = PartialRule::kInput;
  visit_monoid(kind, [&](auto rule, Identity, auto, auto) { out = decltype(rule)::value; });
  return out;
}

}  // namespace

const char* reduce_kind_name(ReduceKind kind) {
  switch (kind) {
#define RSDAT_MONOID(name, Tag, code, partial, identity, step, combine) case ReduceKind::k##Tag: return #name;
#include "rsdat/reductions.def"
    case ReduceKind::kMoments: return "moments";
    case ReduceKind::kNanMoments: return "nanmoments";
    case ReduceKind::kArgMin: return "argmin";
    case ReduceKind::kArgMax: return "argmax";
    case ReduceKind::kNanArgMin: return "nanargmin";
    case ReduceKind::kNanArgMax: return "nanargmax";
    case ReduceKind::kNanMean: return "nanmean";
  }
  return nullptr;
}

bool is_moments(ReduceKind kind) { return kind == ReduceKind::kMoments || kind == ReduceKind::kNanMoments; }

bool is_arg(ReduceKind kind) {
  return kind == ReduceKind::kArgMin || kind == ReduceKind::kArgMax || kind == ReduceKind::kNanArgMin ||
         kind == ReduceKind::kNanArgMax;
}

bool is_sum_count(ReduceKind kind) { return kind == ReduceKind::kNanMean; }

DType arg_partial_dtype(DType in, int64_t count) {
  return dtype_size(in) <= 4 && count <= std::numeric_limits<int32_t>::max() ? DType::kInt32 : DType::kInt64;
}

int64_t partial_lead(ReduceKind kind) { return is_moments(kind) ? 3 : is_arg(kind) || is_sum_count(kind) ? 2 : 0; }

DType partial_dtype(ReduceKind kind, DType in) {
  if (is_moments(kind) || is_sum_count(kind)) return DType::kFloat64;
  if (is_arg(kind)) return DType::kInt64;  // arg_partial_dtype() may narrow it
  switch (partial_rule(kind)) {
    case PartialRule::kInput: return in;
    case PartialRule::kBool: return DType::kBool;
    case PartialRule::kAccumulate: break;
  }
  return dtype_is_float(in) ? DType::kFloat64 : DType::kInt64;
}

DType result_dtype(ReduceKind kind, DType in) {
  RSDAT_CHECK_MSG(is_pairwise(kind), "result_dtype: not a pairwise reduction");
  if (partial_rule(kind) == PartialRule::kBool) return DType::kBool;
  if (partial_rule(kind) == PartialRule::kInput || dtype_is_float(in)) return in;
  return in >= DType::kUInt8 && in <= DType::kUInt64 ? DType::kUInt64 : DType::kInt64;
}

bool has_identity(ReduceKind kind) {
  if (is_moments(kind) || is_sum_count(kind)) return true;  // no values: NaN
  if (is_arg(kind)) return false;
  bool out = false;
  visit_monoid(kind, [&](auto, Identity id, auto, auto) { out = id == Identity::kZero || id == Identity::kOne; });
  return out;
}

namespace {

void check_kind(ReduceKind kind) {
  if (!reduce_kind_name(kind)) fail("reduce: unknown kind " + std::to_string(static_cast<int>(kind)));
}

void check_finalize_fits(ReduceKind kind, const FinalizeSpec& f) {
  bool ok = true;
  switch (f.what) {
    case Finalize::kNone: break;
    case Finalize::kConvert: ok = is_pairwise(kind); break;
    case Finalize::kMean: ok = kind == ReduceKind::kSum || is_sum_count(kind); break;
    case Finalize::kVar: case Finalize::kStd: ok = is_moments(kind); break;
    case Finalize::kIndex: ok = is_arg(kind); break;
    default: fail("reduce: unknown finalize step");
  }
  if (!ok) fail("reduce: finalize step does not fit the reduction kind");
}

// The arg kinds. Calls f(is_max, nan_wins) with both as compile-time constants.
template <typename F>
void visit_arg(ReduceKind kind, F&& f) {
  switch (kind) {
    case ReduceKind::kArgMin: f(std::false_type{}, std::true_type{}); return;
    case ReduceKind::kArgMax: f(std::true_type{}, std::true_type{}); return;
    case ReduceKind::kNanArgMin: f(std::false_type{}, std::false_type{}); return;
    case ReduceKind::kNanArgMax: f(std::true_type{}, std::false_type{}); return;
    default: fail("reduce: not an arg kind");
  }
}

// Calls f(K{}) with K the integer type of an arg partial (int32 or int64).
template <typename F>
void visit_arg_partial(DType dtype, F&& f) {
  if (dtype == DType::kInt32) {
    f(int32_t{});
  } else if (dtype == DType::kInt64) {
    f(int64_t{});
  } else {
    fail("reduce: arg partials of dtype " + std::string(dtype_name(dtype)));
  }
}

// The key NaN takes: above every value where it wins a max or loses a min, else below.
template <typename K>
constexpr K arg_nan_key(bool is_max, bool nan_wins) {
  return is_max == nan_wins ? std::numeric_limits<K>::max() : std::numeric_limits<K>::min();
}

// An integer K (at least as wide as T) that orders as the values of T do, -0.0 as 0.0
// and NaN as nan_key: the partials of every dtype compare as integers.
template <typename K, typename T>
K arg_key(T v, K nan_key) {
  static_assert(sizeof(T) <= sizeof(K));
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(v)) return nan_key;
    using F = std::conditional_t<sizeof(K) == 8, double, float>;
    const F f = v == 0 ? F(0) : static_cast<F>(v);  // exact: T is no wider than F
    K bits;
    std::memcpy(&bits, &f, sizeof bits);
    // Negative floats order backwards as integers: flip all bits but the sign.
    return bits < 0 ? bits ^ std::numeric_limits<K>::max() : bits;
  } else if constexpr (std::is_unsigned_v<T> && sizeof(T) == sizeof(K)) {
    return static_cast<K>(v ^ (T{1} << (8 * sizeof(T) - 1)));
  } else {
    return static_cast<K>(v);
  }
}

// Whether value v beats the best so far, b: strictly, so that ties keep the first.
template <bool kMax, bool kNanWins, typename T>
[[gnu::always_inline]] inline bool arg_better(T v, T b) {
  const bool beats = kMax ? v > b : v < b;
  if constexpr (std::is_floating_point_v<T>) {
    // v != v: v is NaN. Where NaN wins it beats any number; where it loses, any number beats it.
    return kNanWins ? beats || (v != v && b == b) : beats || (b != b && v == v);
  } else {
    return beats;
  }
}

// Writes the final values of a combined partial (K elements per slot) into out.
void finalize_into(ReduceKind kind, const FinalizeSpec& f, const Chunk& partial, int64_t k, Chunk& out) {
  if (is_arg(kind)) {
    visit_arg_partial(partial.dtype, [&](auto ktag) {
      using K = decltype(ktag);
      const K* key = partial.data<K>();
      const K* index = key + k;
      visit_arg(kind, [&](auto is_max, auto nan_wins) {
        if constexpr (!decltype(nan_wins)::value) {
          constexpr K nan_key = arg_nan_key<K>(decltype(is_max)::value, false);
          for (int64_t i = 0; i < k; ++i) {
            // Only a slice of NaN keeps the NaN key: every number beats it.
            if (key[i] == nan_key) fail(std::string(reduce_kind_name(kind)) + ": All-NaN slice encountered");
          }
        }
      });
      visit_dtype(out.dtype, [&](auto t) {
        using T = decltype(t);
        T* d = out.mutable_data<T>();
        for (int64_t i = 0; i < k; ++i) d[i] = convert<T>(index[i]);
      });
    });
    return;
  }
  visit_dtype(out.dtype, [&](auto t) {
    using T = decltype(t);
    T* d = out.mutable_data<T>();
    if (is_sum_count(kind)) {
      const double* sum = partial.data<double>();
      const double* cnt = sum + k;
      for (int64_t i = 0; i < k; ++i) d[i] = convert<T>(sum[i] / cnt[i]);  // 0 / 0: NaN, as NumPy gives
      return;
    }
    if (is_moments(kind)) {
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
          d[i] = convert<T>(static_cast<double>(s[i]) / f.count);  // 0 / 0: NaN, as NumPy gives
        } else {
          d[i] = convert<T>(s[i]);
        }
      }
    });
  });
}

// A final output drops the reduced axes, or keeps them with size 1 (keepdims).
void check_final_shape(const Shape& keep, const std::vector<bool>& reduced, const Shape& out_shape, const char* op) {
  Shape expect;
  for (size_t i = 0; i < keep.size(); ++i)
    if (!reduced[i]) expect.push_back(keep[i]);
  if (expect != out_shape && keep != out_shape) fail(std::string(op) + ": output shape " + shape_to_string(out_shape) + ", expected " +
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

// The moments partial (count, mean, M2) of one input chunk into p; with kSkipNaN of
// the values that are not NaN (numpy.nanvar: an infinity counts, and makes NaN).
template <bool kSkipNaN, typename In>
void moments_partial(const Chunk& in, const In* src, const std::vector<bool>& reduced, const Shape& keep, int64_t k,
                     int64_t count, Chunk& p) {
  double* cnt = p.mutable_data<double>();
  double* mean = cnt + k;
  double* m2 = mean + k;
  std::fill_n(cnt, k, kSkipNaN ? 0.0 : static_cast<double>(count));
  std::fill_n(mean, k, 0.0);
  std::fill_n(m2, k, 0.0);
  if constexpr (kSkipNaN) {
    reduce_rows(src, in.shape, reduced, cnt, [](double x, double y) { return is_nan(y) ? x : x + 1; });
    reduce_rows(src, in.shape, reduced, mean, [](double x, double y) { return is_nan(y) ? x : x + y; });
  } else {
    reduce_rows(src, in.shape, reduced, mean, [](double x, double y) { return x + y; });
  }
  for (int64_t i = 0; i < k; ++i) mean[i] = cnt[i] > 0 ? mean[i] / cnt[i] : 0.0;
  // Second pass: squared deviations from each output element's mean.
  const size_t nd = in.shape.size();
  Shape ks = c_strides(keep);
  for (size_t i = 0; i < nd; ++i)
    if (reduced[i]) ks[i] = 0;
  const int64_t n = in.num_elements();
  if (n == 0) return;
  const int64_t row = nd == 0 ? 1 : in.shape[nd - 1];
  const bool last_reduced = nd == 0 || reduced[nd - 1];
  std::vector<int64_t> idx(nd == 0 ? 0 : nd - 1, 0);
  int64_t o = 0;
  for (int64_t r = 0; r < n / row; ++r) {
    const In* s = src + r * row;
    if (last_reduced) {
      double mu = mean[o], acc = 0;
      for (int64_t j = 0; j < row; ++j) {
        if (kSkipNaN && is_nan(s[j])) continue;
        double d = static_cast<double>(s[j]) - mu;
        acc += d * d;
      }
      m2[o] += acc;
    } else {
      for (int64_t j = 0; j < row; ++j) {
        if (kSkipNaN && is_nan(s[j])) continue;
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
}

// What a partial reduction reads after its input: kind, axes, finalising step and, for
// the arg kinds, how the input's elements are numbered.
struct ReduceRequest {
  ReduceKind kind;
  std::vector<bool> reduced;
  Shape keep;  // the input's shape with reduced axes 1
  FinalizeSpec fin;
  int64_t index_base = 0;
  std::vector<int64_t> index_strides;  // per input axis; 0 on kept axes
};

// An arg partial where the reduced axes come first: the input is R rows of the K
// output elements, walked in tiles of K so that a tile's winners stay in L1 while
// every row passes over it once, the inner loop branch-free over contiguous values.
template <bool kMax, bool kNanWins, typename T, typename K>
[[gnu::always_inline]] inline void arg_rows_leading(const T* src, int64_t rows, int64_t k, const int64_t* row_index,
                                                    K* key, K* index) {
  constexpr int64_t kTile = 512;
  constexpr K nan_key = arg_nan_key<K>(kMax, kNanWins);
  T best[kTile];
  int32_t row[kTile];
  for (int64_t t0 = 0; t0 < k; t0 += kTile) {
    const int64_t m = std::min(kTile, k - t0);
    std::copy_n(src + t0, m, best);
    std::fill_n(row, m, 0);
    for (int64_t r = 1; r < rows; ++r) {
      const T* v = src + r * k + t0;
      const int32_t rr = static_cast<int32_t>(r);
      if (m == kTile) {  // a constant trip count: the compiler vectorises this one
        for (int64_t j = 0; j < kTile; ++j) {
          const bool w = arg_better<kMax, kNanWins>(v[j], best[j]);
          best[j] = w ? v[j] : best[j];
          row[j] = w ? rr : row[j];
        }
      } else {
        for (int64_t j = 0; j < m; ++j) {
          const bool w = arg_better<kMax, kNanWins>(v[j], best[j]);
          best[j] = w ? v[j] : best[j];
          row[j] = w ? rr : row[j];
        }
      }
    }
    for (int64_t j = 0; j < m; ++j) {
      key[t0 + j] = arg_key(best[j], nan_key);
      index[t0 + j] = static_cast<K>(row_index[row[j]]);  // fits: checked by the caller
    }
  }
}
template <bool kMax, bool kNanWins, typename T, typename K>
void arg_rows_leading_generic(const T* src, int64_t rows, int64_t k, const int64_t* row_index, K* key, K* index) {
  arg_rows_leading<kMax, kNanWins>(src, rows, k, row_index, key, index);
}
template <bool kMax, bool kNanWins, typename T, typename K>
[[gnu::target("avx2")]] void arg_rows_leading_avx2(const T* src, int64_t rows, int64_t k, const int64_t* row_index,
                                                   K* key, K* index) {
  arg_rows_leading<kMax, kNanWins>(src, rows, k, row_index, key, index);
}

// The arg partial of one chunk: per output element the winner's key and index, in K.
template <bool kMax, bool kNanWins, typename T, typename K>
void arg_partial(const T* src, const Shape& shape, const ReduceRequest& r, int64_t k, K* key, K* index) {
  constexpr K nan_key = arg_nan_key<K>(kMax, kNanWins);
  const size_t nd = shape.size();
  const int64_t n = shape_size(shape);
  if (n == 0) return;
  int64_t last_index = r.index_base;
  for (size_t d = 0; d < nd; ++d) last_index += (shape[d] - 1) * r.index_strides[d];
  if (r.index_base < 0 || last_index > std::numeric_limits<K>::max()) {
    fail("reduce_partial: index out of the partial's range");
  }
  size_t lead = 0;  // reduced axes before the first kept one
  while (lead < nd && r.reduced[lead]) ++lead;
  bool leading = true;
  for (size_t d = lead; d < nd; ++d) leading = leading && !r.reduced[d];
  const int64_t rows = n / k;
  if (leading && k >= 64 && rows <= std::numeric_limits<int32_t>::max()) {
    // Each row's index: the row number unravelled over the leading axes.
    std::vector<int64_t> row_index(static_cast<size_t>(rows), r.index_base);
    for (int64_t i = 0; i < rows; ++i) {
      int64_t rest = i;
      for (size_t d = lead; d-- > 0;) {
        row_index[static_cast<size_t>(i)] += rest % shape[d] * r.index_strides[d];
        rest /= shape[d];
      }
    }
    if (cpu_has_avx2()) {
      arg_rows_leading_avx2<kMax, kNanWins>(src, rows, k, row_index.data(), key, index);
    } else {
      arg_rows_leading_generic<kMax, kNanWins>(src, rows, k, row_index.data(), key, index);
    }
    return;
  }
  // Any other layout, row by row of the last axis, as reduce_rows walks them. The
  // elements of one output element come in increasing index order: ties keep the first.
  std::unique_ptr<T[]> best(new T[static_cast<size_t>(k)]);  // not vector<bool>'s proxies
  std::fill_n(index, k, -1);
  Shape ks = c_strides(r.keep);
  for (size_t d = 0; d < nd; ++d)
    if (r.reduced[d]) ks[d] = 0;
  const int64_t row = nd == 0 ? 1 : shape[nd - 1];
  const bool last_reduced = nd == 0 || r.reduced[nd - 1];
  const int64_t step = nd == 0 ? 0 : r.index_strides[nd - 1];
  std::vector<int64_t> idx(nd == 0 ? 0 : nd - 1, 0);
  int64_t o = 0, ri = r.index_base;
  for (int64_t q = 0; q < n / row; ++q) {
    const T* v = src + q * row;
    if (last_reduced) {
      T b = best[o];
      int64_t i = index[o];
      for (int64_t j = 0; j < row; ++j) {
        if (i < 0 || arg_better<kMax, kNanWins>(v[j], b)) {
          b = v[j];
          i = ri + j * step;
        }
      }
      best[o] = b;
      index[o] = static_cast<K>(i);
    } else {
      for (int64_t j = 0; j < row; ++j) {
        if (index[o + j] < 0 || arg_better<kMax, kNanWins>(v[j], best[o + j])) {
          best[o + j] = v[j];
          index[o + j] = static_cast<K>(ri);
        }
      }
    }
    for (size_t d = idx.size(); d-- > 0;) {
      o += ks[d];
      ri += r.index_strides[d];
      if (++idx[d] < shape[d]) break;
      o -= ks[d] * shape[d];
      ri -= r.index_strides[d] * shape[d];
      idx[d] = 0;
    }
  }
  for (int64_t i = 0; i < k; ++i) key[i] = arg_key(best[i], nan_key);
}

// The partial of one input chunk (keepdims shape; a leading axis of partial_lead()), of
// dtype `pdt` (that of partial_dtype(), or for the arg kinds one of arg_partial_dtype()).
Chunk compute_partial(const ReduceRequest& r, const Chunk& in, DType pdt) {
  const ReduceKind kind = r.kind;
  const std::vector<bool>& reduced = r.reduced;
  const Shape& keep = r.keep;
  const int64_t k = shape_size(keep);
  Shape pshape = keep;
  if (partial_lead(kind) > 0) pshape.insert(pshape.begin(), partial_lead(kind));
  if (is_arg(kind) && pdt == DType::kInt32 && dtype_size(in.dtype) > 4) {
    fail("reduce_partial: int32 keys of 8-byte values");
  }
  if (!is_arg(kind) && pdt != partial_dtype(kind, in.dtype)) fail("reduce_partial: partial of the wrong dtype");
  Chunk p = Chunk::allocate(pdt, pshape);
  const int64_t count = k == 0 ? 0 : in.num_elements() / std::max<int64_t>(k, 1);
  // No output elements (a kept axis of size 0) need no values: NumPy gives an empty array.
  if (count == 0 && k > 0 && !has_identity(kind)) fail(std::string(reduce_kind_name(kind)) + ": zero-size reduction");
  if ((kind == ReduceKind::kNanArgMin || kind == ReduceKind::kNanArgMax) && !dtype_is_float(in.dtype)) {
    fail(std::string(reduce_kind_name(kind)) + ": of a non-float dtype; argmin or argmax is the same");
  }
  visit_dtype(in.dtype, [&](auto tag) {
    using In = decltype(tag);
    const In* src = in.data<In>();
    if (kind == ReduceKind::kMoments) {
      moments_partial<false>(in, src, reduced, keep, k, count, p);
      return;
    }
    if (kind == ReduceKind::kNanMoments) {
      moments_partial<true>(in, src, reduced, keep, k, count, p);
      return;
    }
    if (is_sum_count(kind)) {
      double* sum = p.mutable_data<double>();
      double* cnt = sum + k;
      std::fill_n(sum, 2 * k, 0.0);
      reduce_rows(src, in.shape, reduced, sum, [](double x, double y) { return is_nan(y) ? x : x + y; });
      reduce_rows(src, in.shape, reduced, cnt, [](double x, double y) { return is_nan(y) ? x : x + 1; });
      return;
    }
    if (is_arg(kind)) {
      visit_arg(kind, [&](auto is_max, auto nan_wins) {
        constexpr bool kMax = decltype(is_max)::value, kNanWins = decltype(nan_wins)::value;
        visit_arg_partial(pdt, [&](auto ktag) {
          using K = decltype(ktag);
          if constexpr (sizeof(In) <= sizeof(K)) {
            K* key = p.mutable_data<K>();
            arg_partial<kMax, kNanWins>(src, in.shape, r, k, key, key + k);
          }
        });
      });
      return;
    }
    visit_monoid(kind, [&](auto rule, Identity id, auto op, auto) {
      using P = PartialOf<decltype(rule)::value, In>;
      P* a = p.mutable_data<P>();
      std::fill_n(a, k, identity_value<P>(id));
      reduce_rows(src, in.shape, reduced, a, op);
    });
  });
  return p;
}

ReduceRequest read_reduce(const ReducePartialParams& p, const Shape& in_shape) {
  ReduceRequest r;
  r.kind = p.kind;
  check_kind(r.kind);
  r.fin = p.fin;
  check_finalize_fits(r.kind, r.fin);
  const size_t nd = in_shape.size();
  r.reduced.assign(nd, false);
  for (size_t i = 0; i < p.axes.size(); ++i) {
    if (p.axes[i] < 0 || p.axes[i] >= static_cast<int64_t>(nd)) fail("reduce_partial: axis out of range");
    if (i > 0 && p.axes[i] <= p.axes[i - 1]) fail("reduce_partial: axes must be sorted and distinct");
    r.reduced[p.axes[i]] = true;
  }
  r.keep = in_shape;
  for (size_t i = 0; i < nd; ++i)
    if (r.reduced[i]) r.keep[i] = 1;
  if (is_arg(r.kind)) {
    if (p.index_strides.size() != p.axes.size()) fail("reduce_partial: one index stride per reduced axis");
    r.index_base = p.index_base;
    r.index_strides.assign(nd, 0);
    for (size_t i = 0; i < p.axes.size(); ++i) r.index_strides[static_cast<size_t>(p.axes[i])] = p.index_strides[i];
  }
  return r;
}

// The task's output from its partial: the partial itself, or finalised.
// The dtype of a task's partial: the output's where the task outputs it, else (final
// outputs) partial_dtype()'s.
DType partial_dtype_of(const ReduceRequest& r, DType in, const KernelContext& ctx) {
  return is_arg(r.kind) && r.fin.what == Finalize::kNone ? ctx.out_dtype : partial_dtype(r.kind, in);
}

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

// Walks an elementwise program's values over `shape` as they are computed, in pieces
// within one row of the last axis: f(o, v, m) for m values v whose output elements
// start at o (all o when the last axis is reduced, o, o + 1, ... when it is kept).
template <typename F>
void for_each_row_piece(const Program& prog, std::span<const Chunk> inputs, const Shape& shape,
                        const ReduceRequest& r, F&& f) {
  const size_t nd = shape.size();
  const Shape st = c_strides(shape);
  Shape ks = c_strides(r.keep);
  for (size_t d = 0; d < nd; ++d)
    if (r.reduced[d]) ks[d] = 0;
  const int64_t row = nd == 0 ? 1 : shape[nd - 1];
  auto out_index = [&](int64_t off) {
    int64_t o = 0;
    for (size_t d = 0; d < nd; ++d) o += (off / st[d]) % shape[d] * ks[d];
    return o;
  };
  // Reduced axes that all come first (time, in a reduction over time): the values are
  // rows of the kept elements, walked in strips so that the strip's partial stays in
  // cache while every row passes over it, instead of the whole partial once per row.
  const size_t lead = static_cast<size_t>(std::find(r.reduced.begin(), r.reduced.end(), false) - r.reduced.begin());
  const bool leading = lead > 0 && lead < nd && std::none_of(r.reduced.begin() + static_cast<long>(lead), r.reduced.end(),
                                                            [](bool b) { return b; });
  const int64_t strip_cols = leading ? st[lead - 1] : 0;
  run_program_as_computed(
      prog, inputs, shape,
      [&](int64_t off, int64_t len, const auto* v) {
        while (len > 0) {
          const int64_t m = std::min(len, row - off % row);
          f(out_index(off), v, m);
          off += m;
          len -= m;
          v += m;
        }
      },
      strip_cols);
}

// Adds m values (NaN skipped) to the sums and counts of m output elements: with AVX2
// where the values need no conversion, else one at a time.
template <typename V, typename C>
void accumulate_sum_count(const C* v, int64_t m, double* sum, double* cnt) {
  if constexpr (std::is_same_v<V, C>) {
    if (ops::add_sum_count(v, m, sum, cnt)) return;
  }
  for (int64_t j = 0; j < m; ++j) {
    const double x = static_cast<double>(convert<V>(v[j]));
    const bool number = !is_nan(x);
    sum[j] += number ? x : 0.0;
    cnt[j] += number;
  }
}

// The partial of an elementwise program's values of dtype `vdt` over `shape`, for a
// pairwise kind or kNanMean, accumulated as they are computed: the values are never
// stored.
Chunk fused_partial(const Program& prog, std::span<const Chunk> inputs, const Shape& shape, DType vdt,
                    const ReduceRequest& r) {
  const int64_t k = shape_size(r.keep);
  Shape pshape = r.keep;
  if (partial_lead(r.kind) > 0) pshape.insert(pshape.begin(), partial_lead(r.kind));
  Chunk p = Chunk::allocate(partial_dtype(r.kind, vdt), pshape);
  const int64_t count = k == 0 ? 0 : shape_size(shape) / k;  // values per output element
  if (count == 0 && k > 0 && !has_identity(r.kind)) {
    fail(std::string(reduce_kind_name(r.kind)) + ": zero-size reduction");
  }
  const size_t nd = shape.size();
  const bool last_reduced = nd == 0 || r.reduced[nd - 1];
  visit_dtype(vdt, [&](auto vtag) {
    using V = decltype(vtag);
    if (is_sum_count(r.kind)) {
      double* sum = p.mutable_data<double>();
      double* cnt = sum + k;
      std::fill_n(sum, 2 * k, 0.0);
      for_each_row_piece(prog, inputs, shape, r, [&](int64_t o, const auto* v, int64_t m) {
        if (last_reduced) {
          double s = sum[o], c = cnt[o];
          for (int64_t j = 0; j < m; ++j) {
            const double x = static_cast<double>(convert<V>(v[j]));
            const bool number = !is_nan(x);
            s += number ? x : 0.0;
            c += number;
          }
          sum[o] = s;
          cnt[o] = c;
        } else {
          accumulate_sum_count<V>(v, m, sum + o, cnt + o);
        }
      });
      return;
    }
    visit_monoid(r.kind, [&](auto rule, Identity id, auto op, auto) {
      using A = PartialOf<decltype(rule)::value, V>;
      A* a = p.mutable_data<A>();
      std::fill_n(a, k, identity_value<A>(id));
      for_each_row_piece(prog, inputs, shape, r, [&](int64_t o, const auto* v, int64_t m) {
        if (last_reduced) {
          A acc = a[o];
          for (int64_t j = 0; j < m; ++j) acc = op(acc, static_cast<A>(convert<V>(v[j])));
          a[o] = acc;
        } else {
          A* dst = a + o;
          for (int64_t j = 0; j < m; ++j) dst[j] = op(dst[j], static_cast<A>(convert<V>(v[j])));
        }
      });
    });
  });
  return p;
}

Chunk reduce_partial_kernel(KernelContext& ctx) {
  check_inputs(ctx, 1, "reduce_partial");
  const Chunk& in = ctx.inputs[0];
  ReduceRequest r = read_reduce(read_params<ReducePartialParams>(ctx, "reduce_partial"), in.shape);
  return finish_partial(r, compute_partial(r, in, partial_dtype_of(r, in.dtype, ctx)), ctx);
}

Chunk reduce_expr_partial_kernel(KernelContext& ctx) {
  const auto p = read_params<ReduceExprPartialParams>(ctx, "reduce_expr_partial");
  const DType expr_dtype = checked_dtype(static_cast<uint64_t>(p.dtype), "reduce_expr_partial");
  for (int64_t d : p.block) {
    if (d < 0) fail("reduce_expr_partial: negative block shape");
  }
  KernelContext inner{ctx.inputs, ParamReader(p.elementwise), expr_dtype, p.block};
  Program prog = read_checked_program(inner);
  ReduceRequest r = read_reduce(decode_params<ReducePartialParams>(p.reduce, "reduce_partial"), p.block);
  if (!is_pairwise(r.kind) && !is_sum_count(r.kind)) {
    // The moments take two passes over the values (mean, then squared deviations), and
    // the arg kinds walk a chunk in tiles across its rows: the values are stored once.
    Chunk values = Chunk::allocate(expr_dtype, p.block);
    visit_dtype(expr_dtype, [&](auto t) {
      using T = decltype(t);
      T* d = values.mutable_data<T>();
      run_program_as_computed(prog, ctx.inputs, p.block, [&](int64_t off, int64_t len, const auto* v) {
        for (int64_t i = 0; i < len; ++i) d[off + i] = convert<T>(v[i]);
      });
    });
    return finish_partial(r, compute_partial(r, values, partial_dtype_of(r, values.dtype, ctx)), ctx);
  }
  return finish_partial(r, fused_partial(prog, ctx.inputs, p.block, expr_dtype, r), ctx);
}

Chunk reduce_combine_kernel(KernelContext& ctx) {
  const auto params = read_params<ReduceCombineParams>(ctx, "reduce_combine");
  const ReduceKind kind = params.kind;
  const FinalizeSpec& fin = params.fin;
  check_kind(kind);
  check_finalize_fits(kind, fin);
  if (ctx.inputs.empty()) fail("reduce_combine: no inputs");
  check_inputs(ctx, ctx.inputs.size(), "reduce_combine");
  const Chunk& first = ctx.inputs[0];
  for (const Chunk& c : ctx.inputs) {
    if (c.shape != first.shape || c.dtype != first.dtype) fail("reduce_combine: partials differ in shape or dtype");
  }
  const bool moments = is_moments(kind);
  const bool arg = is_arg(kind);
  const bool sum_count = is_sum_count(kind);
  const bool accumulates = is_pairwise(kind) && partial_rule(kind) == PartialRule::kAccumulate;
  const bool bools = is_pairwise(kind) && partial_rule(kind) == PartialRule::kBool;
  const int64_t lead = partial_lead(kind);
  if ((accumulates && first.dtype != DType::kFloat64 && first.dtype != DType::kInt64) ||
      (bools && first.dtype != DType::kBool) ||
      (arg && first.dtype != DType::kInt64 && first.dtype != DType::kInt32) ||
      ((moments || sum_count) && first.dtype != DType::kFloat64) || (lead > 0 && (first.shape.empty() || first.shape[0] != lead))) {
    fail("reduce_combine: partials of the wrong type for this kind");
  }
  Chunk acc = Chunk::allocate(first.dtype, first.shape);
  std::memcpy(acc.mutable_bytes(), first.bytes(), first.nbytes());
  const int64_t total = first.num_elements();
  const int64_t k = lead > 0 ? total / lead : total;
  for (size_t i = 1; i < ctx.inputs.size(); ++i) {
    const Chunk& c = ctx.inputs[i];
    if (arg) {
      visit_arg_partial(first.dtype, [&](auto ktag) {
        using K = decltype(ktag);
        K* ka = acc.mutable_data<K>();
        K* ia = ka + k;
        const K* kb = c.data<K>();
        const K* ib = kb + k;
        visit_arg(kind, [&](auto is_max, auto) {
          for (int64_t j = 0; j < k; ++j) {
            const bool beats = decltype(is_max)::value ? kb[j] > ka[j] : kb[j] < ka[j];
            if (beats || (kb[j] == ka[j] && ib[j] < ia[j])) {  // ties: NumPy's first occurrence
              ka[j] = kb[j];
              ia[j] = ib[j];
            }
          }
        });
      });
      continue;
    }
    if (sum_count) {  // sums and counts alike
      double* a = acc.mutable_data<double>();
      const double* b = c.data<double>();
      for (int64_t j = 0; j < total; ++j) a[j] += b[j];
      continue;
    }
    if (moments) {
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
      visit_monoid(kind, [&](auto, Identity, auto, auto op) {
        for (int64_t j = 0; j < k; ++j) a[j] = op(a[j], b[j]);
      });
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

}  // namespace

void register_reduce_ops(OpRegistry& r) {
  r.add(kReducePartial, reduce_partial_kernel, CostClass::kDataBound);
  r.add(kReduceExprPartial, reduce_expr_partial_kernel, CostClass::kDataBound);
  r.add(kReduceCombine, reduce_combine_kernel, CostClass::kDataBound);
}

}  // namespace rsdat::ops
