#include "ops/phenology.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "ops/kernel_util.hpp"

namespace rsdat::ops {

namespace {

// clip(T - base, min=0), and 0 where that is not finite.
inline double degree_hour(double t, double base_f) {
  const double x = t - base_f;
  if (!std::isfinite(x)) return 0;
  return x > 0 ? x : 0;
}

// log(c) for the night hours' c = 1..23 (the same values std::log gives each time).
const std::array<double, 25>& log_table() {
  static const std::array<double, 25> table = [] {
    std::array<double, 25> t{};
    for (int c = 0; c < 25; ++c) t[static_cast<size_t>(c)] = std::log(static_cast<double>(c));
    return t;
  }();
  return table;
}

// The model as written, one std::sin or std::log per hour: for day lengths outside
// [0, 24] hours (or not finite), where the fast path's assumptions do not hold.
double literal_gdh(double tn, double tx, double dl, double base_f) {
  constexpr double kPi = std::numbers::pi;
  const double amp = tx - tn, fl = std::floor(dl);
  double ts = amp * std::sin(kPi * dl / (dl + 4)) + tn;
  if (ts <= 0) ts = 0.01;
  const double k = (ts - tn) / std::log(24 - dl);
  double sum = degree_hour(tn, base_f);
  for (int h = 1; h < 24; ++h) {
    double t = std::nan("");
    if (h <= fl) {
      t = amp * std::sin(kPi * h / (dl + 4)) + tn;
    } else if (h > fl) {
      t = ts - k * std::log(h - fl);
    }
    sum += degree_hour(t, base_f);
  }
  return sum;
}

}  // namespace

double growing_degree_hours_of(double tn, double tx, double dl, double base_f) {
  double out = 0;
  growing_degree_hours_tile(&tn, &tx, &dl, 1, base_f, &out);
  return out;
}

void growing_degree_hours_tile(const double* tmin_f, const double* tmax_f, const double* dayl_h, int64_t n,
                               double base_f, double* out) {
  constexpr int64_t kTile = 256;
  constexpr double kMax = std::numeric_limits<double>::max();
  // Per element of the tile: the model's day constants, and the running sum.
  alignas(64) double amp[kTile], tn[kTile], fl[kTile], prev[kTile], cur[kTile], twice_cos[kTile], s4[kTile],
      ts[kTile], k[kTile], sum[kTile];
  const auto& log_c = log_table();
  for (int64_t start = 0; start < n; start += kTile) {
    const int64_t len = std::min(kTile, n - start);
    // Hours 1..max_day are daylight somewhere in the tile, hours from min_day + 1 night.
    double max_day = 0, min_day = 24;
    bool literal = false;
    for (int64_t i = 0; i < len; ++i) {
      const double dl = dayl_h[start + i];
      const bool usual = dl >= 0 && dl <= 24;  // not NaN either
      literal = literal || !usual;
      const double d = usual ? dl : 12;  // recomputed below as written
      tn[i] = tmin_f[start + i];
      amp[i] = tmax_f[start + i] - tn[i];
      fl[i] = usual ? std::floor(d) : -1;  // -1: no day or night hour here
      max_day = std::max(max_day, fl[i]);
      if (usual) min_day = std::min(min_day, fl[i]);
      // sin(pi h / (dl + 4)) for h = 0, 1, ... by Chebyshev's recurrence
      // s(h + 1) = 2 cos(t) s(h) - s(h - 1), t = pi / (dl + 4): one sin and one cos per
      // day instead of one sin per daylight hour (each step adds about one rounding
      // error, far below what the thresholds on the sums could see). The sunset
      // temperature's sin(pi dl / (dl + 4)) is sin(pi - 4t) = sin(4t).
      const double theta = std::numbers::pi / (d + 4);
      prev[i] = 0;
      const double sin_theta = std::sin(theta);
      cur[i] = sin_theta;
      // cos from sin, 0 < t <= pi / 4: within an ulp, and cheaper than std::cos.
      twice_cos[i] = 2 * std::sqrt(1 - sin_theta * sin_theta);
      sum[i] = degree_hour(tn[i], base_f);  // hour 0: tmin
    }
    const int last_day = static_cast<int>(std::max(max_day, 4.0));
    for (int h = 1; h <= last_day && h < 24; ++h) {
      for (int64_t i = 0; i < len; ++i) {
        // Without branches (& not &&): which hours are daylight varies from day to day.
        const double x = amp[i] * cur[i] + tn[i] - base_f;
        const bool keep = (h <= fl[i]) & (x > 0) & (x <= kMax);
        sum[i] += keep ? x : 0.0;
        const double next = twice_cos[i] * cur[i] - prev[i];
        prev[i] = cur[i];
        cur[i] = next;
      }
      if (h == 4) std::copy_n(prev, len, s4);
    }
    for (int64_t i = 0; i < len; ++i) {
      double t = amp[i] * s4[i] + tn[i];
      if (t <= 0) t = 0.01;
      ts[i] = t;
      k[i] = (t - tn[i]) / std::log(24 - (fl[i] < 0 ? 12 : dayl_h[start + i]));
    }
    // Night hour h = floor(dl) + c for c = 1, 2, ...: T = ts - k log(c).
    for (int c = 1; c <= 23 - static_cast<int>(min_day); ++c) {
      const double lc = log_c[static_cast<size_t>(c)];
      const double night_from = 23 - c;  // c is a night hour's where floor(dl) <= 23 - c
      for (int64_t i = 0; i < len; ++i) {
        const double x = ts[i] - k[i] * lc - base_f;
        const bool keep = (fl[i] >= 0) & (fl[i] <= night_from) & (x > 0) & (x <= kMax);
        sum[i] += keep ? x : 0.0;
      }
    }
    for (int64_t i = 0; i < len; ++i) out[start + i] = sum[i];
    if (literal) {
      for (int64_t i = 0; i < len; ++i) {
        const double dl = dayl_h[start + i];
        if (!(dl >= 0 && dl <= 24)) out[start + i] = literal_gdh(tmin_f[start + i], tmax_f[start + i], dl, base_f);
      }
    }
  }
}

namespace {

Chunk growing_degree_hours_kernel(KernelContext& ctx) {
  check_inputs(ctx, 3, kGrowingDegreeHours);
  const auto p = decode_params<GrowingDegreeHoursParams>(ctx.params, kGrowingDegreeHours);
  check_no_trailing(ctx.params, kGrowingDegreeHours);
  const Chunk& tmin = ctx.inputs[0];
  const Chunk& tmax = ctx.inputs[1];
  const Chunk& dayl = ctx.inputs[2];
  if (tmin.shape != tmax.shape || tmin.shape != dayl.shape || tmin.shape != ctx.out_shape) {
    fail("growing_degree_hours: inputs of different shapes");
  }
  if (ctx.out_dtype != DType::kFloat64) fail("growing_degree_hours: the output is float64");
  Chunk out = Chunk::allocate(DType::kFloat64, ctx.out_shape);
  double* o = out.mutable_data<double>();
  const int64_t n = out.num_elements();
  // Converted a tile at a time, so that each input's dtype is dispatched once.
  constexpr int64_t kTile = 4096;
  std::vector<double> tn(kTile), tx(kTile), dl(kTile);
  auto load = [](const Chunk& c, int64_t off, int64_t len, double* dst, double scale, double offset) {
    visit_dtype(c.dtype, [&](auto v) {
      using T = decltype(v);
      const T* src = c.data<T>() + off;
      for (int64_t i = 0; i < len; ++i) dst[i] = static_cast<double>(src[i]) * scale + offset;
    });
  };
  for (int64_t start = 0; start < n; start += kTile) {
    const int64_t len = std::min(kTile, n - start);
    // Daymet's units to the model's: °C to °F (t * 1.8 + 32), seconds to hours.
    load(tmin, start, len, tn.data(), 1.8, 32);
    load(tmax, start, len, tx.data(), 1.8, 32);
    visit_dtype(dayl.dtype, [&](auto v) {
      using T = decltype(v);
      const T* src = dayl.data<T>() + start;
      for (int64_t i = 0; i < len; ++i) dl[static_cast<size_t>(i)] = static_cast<double>(src[i]) / 3600;
    });
    growing_degree_hours_tile(tn.data(), tx.data(), dl.data(), len, p.base_f, o + start);
  }
  return out;
}

// "spring_index_chain": see ops/phenology.hpp.
Chunk spring_index_chain_kernel(KernelContext& ctx) {
  check_inputs(ctx, 3, kSpringIndexChain);
  const auto params = decode_params<SpringIndexChainParams>(ctx.params, kSpringIndexChain);
  check_no_trailing(ctx.params, kSpringIndexChain);
  const Chunk& tmin = ctx.inputs[0];
  const Chunk& tmax = ctx.inputs[1];
  const Chunk& dayl = ctx.inputs[2];
  if (tmin.shape.size() != 3 || tmin.shape != tmax.shape || tmin.shape != dayl.shape) {
    fail("spring_index_chain: the inputs are 3-d blocks of one shape");
  }
  const int64_t days = tmin.shape[0], pixels = tmin.shape[1] * tmin.shape[2];
  if (ctx.out_shape != Shape{12, tmin.shape[1], tmin.shape[2]} || ctx.out_dtype != DType::kFloat64) {
    fail("spring_index_chain: the output is (12, y, x) float64");
  }
  // The growing-degree hours of the block, and the pixels with a NaN input on some day.
  std::vector<double> gdh(static_cast<size_t>(days * pixels));
  std::vector<uint8_t> nodata(static_cast<size_t>(pixels), 0);
  {
    constexpr int64_t kTile = 4096;
    std::vector<double> tn(kTile), tx(kTile), dl(kTile);
    auto load = [](const Chunk& c, int64_t off, int64_t len, double* dst, double scale, double offset) {
      visit_dtype(c.dtype, [&](auto v) {
        using T = decltype(v);
        const T* src = c.data<T>() + off;
        for (int64_t i = 0; i < len; ++i) dst[i] = static_cast<double>(src[i]) * scale + offset;
      });
    };
    const int64_t n = days * pixels;
    for (int64_t start = 0; start < n; start += kTile) {
      const int64_t len = std::min(kTile, n - start);
      load(tmin, start, len, tn.data(), 1.8, 32);
      load(tmax, start, len, tx.data(), 1.8, 32);
      load(dayl, start, len, dl.data(), 1, 0);
      for (int64_t i = 0; i < len; ++i) dl[static_cast<size_t>(i)] /= 3600;  // as the model divides
      growing_degree_hours_tile(tn.data(), tx.data(), dl.data(), len, params.base_f, gdh.data() + start);
      for (int64_t i = 0; i < len; ++i) {
        const size_t j = static_cast<size_t>(i);
        if (std::isnan(tn[j]) || std::isnan(tx[j]) || std::isnan(dl[j])) nodata[static_cast<size_t>((start + i) % pixels)] = 1;
      }
    }
  }
  const double* g = gdh.data();
  static constexpr double kCoef[3][4] = {{3.306, 13.878, 0.201, 0.153}, {4.266, 20.899, 0.0, 0.248},
                                         {2.802, 21.433, 0.266, 0.0}};
  // The bloom model's (agdh, mds0) coefficients, as rsdat/phenology.hpp gives them.
  static constexpr double kBloomCoef[3][2] = {{0.116, -23.934}, {0.127, -24.825}, {0.096, -11.368}};
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Chunk out = Chunk::allocate(DType::kFloat64, ctx.out_shape);
  double* o = out.mutable_data<double>();
  std::vector<double> synop(static_cast<size_t>(pixels), 0.0);
  double* first = o;               // rows 0-2 while running: the 0-based day, -1: not yet
  double* after = o + 4 * pixels;  // rows 4-6: gdh summed from the first day on
  double* bloom = o + 8 * pixels;  // rows 8-10 while running: the 0-based bloom day, -1: not yet
  std::fill_n(first, 3 * pixels, -1.0);
  std::fill_n(after, 4 * pixels, 0.0);
  std::fill_n(bloom, 3 * pixels, -1.0);
  auto row = [&](int64_t d) { return g + std::max<int64_t>(d, 0) * pixels; };  // day -k reads day 0
  for (int64_t d = 0; d < days; ++d) {
    const double *g0 = row(d), *g1 = row(d - 1), *g2 = row(d - 2), *g5 = row(d - 5), *g6 = row(d - 6),
                 *g7 = row(d - 7);
    const double dd = static_cast<double>(d);
    for (int64_t p = 0; p < pixels; ++p) {
      const double dde2 = g0[p] + g1[p] + g2[p];
      const double dd57 = g5[p] + g6[p] + g7[p];
      const double s = synop[p] += dde2 >= 637 ? 1.0 : 0.0;
      for (int pl = 0; pl < 3; ++pl) {
        const double m = kCoef[pl][0] * dd + kCoef[pl][1] * s + kCoef[pl][2] * dde2 + kCoef[pl][3] * dd57;
        double& f = first[pl * pixels + p];
        if (f < 0 && m >= 999.5) f = dd;
        if (f < 0) continue;
        const double agdh = after[pl * pixels + p] += g0[p];
        double& b = bloom[pl * pixels + p];
        if (b < 0 && kBloomCoef[pl][0] * agdh + kBloomCoef[pl][1] * (dd - f) > 999.5) b = dd;
      }
    }
  }
  // The 0-based days to 1-based days, NaN where never reached, and the plants' mean.
  auto days_and_mean = [&](double* rows) {
    for (int64_t p = 0; p < pixels; ++p) {
      double sum = 0;
      for (int pl = 0; pl < 3; ++pl) {
        double& f = rows[pl * pixels + p];
        f = f < 0 ? nan : f + 1;
        sum += f;
      }
      rows[3 * pixels + p] = std::nearbyint(sum / 3);  // half to even, as numpy.round; NaN stays
    }
  };
  days_and_mean(first);
  days_and_mean(bloom);
  const double* mean_first = o + 3 * pixels;
  for (int64_t d = 0; d < days; ++d) {
    const double* g0 = row(d);
    const double dd = static_cast<double>(d);
    for (int64_t p = 0; p < pixels; ++p) after[3 * pixels + p] += dd >= mean_first[p] - 1 ? g0[p] : 0.0;
  }
  for (int64_t p = 0; p < pixels; ++p) {
    if (!nodata[static_cast<size_t>(p)]) continue;
    for (int r = 0; r < 4; ++r) o[r * pixels + p] = bloom[r * pixels + p] = nan;
  }
  for (int64_t i = 0; i < 4 * pixels; ++i) {
    if (std::isnan(o[i])) after[i] = nan;
  }
  return out;
}

}  // namespace

void register_phenology_ops(OpRegistry& r) {
  r.add(kGrowingDegreeHours, growing_degree_hours_kernel, CostClass::kComputeBound);
  r.add(kSpringIndexChain, spring_index_chain_kernel, CostClass::kComputeBound);
}

}  // namespace rsdat::ops
