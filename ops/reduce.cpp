#include "ops/reduce.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "ops/elementwise_eval.hpp"
#include "ops/kernel_util.hpp"

namespace rsdat::ops {

namespace {

template <typename T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::isnan(v);
  } else {
    return false;
  }
}

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
  }
  return nullptr;
}

DType partial_dtype(ReduceKind kind, DType in) {
  if (kind == ReduceKind::kMoments) return DType::kFloat64;
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
  if (kind == ReduceKind::kMoments) return true;
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
    case Finalize::kConvert: ok = kind != ReduceKind::kMoments; break;
    case Finalize::kMean: ok = kind == ReduceKind::kSum; break;
    case Finalize::kVar: case Finalize::kStd: ok = kind == ReduceKind::kMoments; break;
    default: fail("reduce: unknown finalize step");
  }
  if (!ok) fail("reduce: finalize step does not fit the reduction kind");
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
          d[i] = convert<T>(static_cast<double>(s[i]) / f.count);  // 0 / 0: NaN, as NumPy gives
        } else {
          d[i] = convert<T>(s[i]);
        }
      }
    });
  });
}

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

// The moments partial (count, mean, M2) of one input chunk into p.
template <typename In>
void moments_partial(const Chunk& in, const In* src, const std::vector<bool>& reduced, const Shape& keep, int64_t k,
                     int64_t count, Chunk& p) {
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
}

// The partial of one input chunk (keepdims shape; moments with a leading 3).
Chunk compute_partial(ReduceKind kind, const Chunk& in, const std::vector<bool>& reduced, const Shape& keep) {
  const int64_t k = shape_size(keep);
  Shape pshape = keep;
  if (kind == ReduceKind::kMoments) pshape.insert(pshape.begin(), 3);
  Chunk p = Chunk::allocate(partial_dtype(kind, in.dtype), pshape);
  const int64_t count = k == 0 ? 0 : in.num_elements() / std::max<int64_t>(k, 1);
  if (count == 0 && !has_identity(kind)) fail(std::string(reduce_kind_name(kind)) + ": zero-size reduction");
  visit_dtype(in.dtype, [&](auto tag) {
    using In = decltype(tag);
    const In* src = in.data<In>();
    if (kind == ReduceKind::kMoments) {
      moments_partial(in, src, reduced, keep, k, count, p);
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

// What a partial reduction reads after its input: kind, axes and finalising step.
struct ReduceRequest {
  ReduceKind kind;
  std::vector<bool> reduced;
  Shape keep;  // the input's shape with reduced axes 1
  FinalizeSpec fin;
};

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

// The partial of an elementwise program's values of dtype `vdt` over `shape`, for a
// pairwise kind, accumulated as they are computed: the values are never stored.
Chunk fused_partial(const Program& prog, std::span<const Chunk> inputs, const Shape& shape, DType vdt,
                    const ReduceRequest& r) {
  const int64_t k = shape_size(r.keep);
  Chunk p = Chunk::allocate(partial_dtype(r.kind, vdt), r.keep);
  const int64_t count = k == 0 ? 0 : shape_size(shape) / k;  // values per output element
  if (count == 0 && !has_identity(r.kind)) fail(std::string(reduce_kind_name(r.kind)) + ": zero-size reduction");
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
    visit_monoid(r.kind, [&](auto rule, Identity id, auto op, auto) {
      using A = PartialOf<decltype(rule)::value, V>;
      A* a = p.mutable_data<A>();
      std::fill_n(a, k, identity_value<A>(id));
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
    });
  });
  return p;
}

Chunk reduce_partial_kernel(KernelContext& ctx) {
  check_inputs(ctx, 1, "reduce_partial");
  const Chunk& in = ctx.inputs[0];
  ReduceRequest r = read_reduce(read_params<ReducePartialParams>(ctx, "reduce_partial"), in.shape);
  return finish_partial(r, compute_partial(r.kind, in, r.reduced, r.keep), ctx);
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
  if (r.kind == ReduceKind::kMoments) {
    // Two passes over the values (mean, then squared deviations): they are stored once.
    Chunk values = Chunk::allocate(expr_dtype, p.block);
    visit_dtype(expr_dtype, [&](auto t) {
      using T = decltype(t);
      T* d = values.mutable_data<T>();
      run_program_as_computed(prog, ctx.inputs, p.block, [&](int64_t off, int64_t len, const auto* v) {
        for (int64_t i = 0; i < len; ++i) d[off + i] = convert<T>(v[i]);
      });
    });
    return finish_partial(r, compute_partial(r.kind, values, r.reduced, r.keep), ctx);
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
  const bool moments = kind == ReduceKind::kMoments;
  const bool accumulates = !moments && partial_rule(kind) == PartialRule::kAccumulate;
  const bool bools = !moments && partial_rule(kind) == PartialRule::kBool;
  if ((accumulates && first.dtype != DType::kFloat64 && first.dtype != DType::kInt64) ||
      (bools && first.dtype != DType::kBool) ||
      (moments && (first.dtype != DType::kFloat64 || first.shape.empty() || first.shape[0] != 3))) {
    fail("reduce_combine: partials of the wrong type for this kind");
  }
  Chunk acc = Chunk::allocate(first.dtype, first.shape);
  std::memcpy(acc.mutable_bytes(), first.bytes(), first.nbytes());
  const int64_t total = first.num_elements();
  const int64_t k = moments ? total / 3 : total;
  for (size_t i = 1; i < ctx.inputs.size(); ++i) {
    const Chunk& c = ctx.inputs[i];
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
