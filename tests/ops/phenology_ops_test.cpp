// The growing_degree_hours kernel on its own: the fast path (sines by recurrence, logs
// from a table, a tile at a time) against the SI-x hourly model written out hour by
// hour, and the kernel through run_kernel in Daymet's units.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <random>
#include <vector>

#include "core/task.hpp"
#include "ops/builtin_ops.hpp"

namespace rsdat::ops {
namespace {

// The model as the notebook writes it: every hour with std::sin or std::log.
double hourly_model(double tn, double tx, double dl, double base) {
  const double pi = std::numbers::pi;
  auto term = [&](double t) {
    const double x = std::max(t - base, 0.0);
    return std::isfinite(x) && !std::isnan(t) ? x : 0.0;
  };
  const double fl = std::floor(dl);
  double ts = (tx - tn) * std::sin(pi * dl / (dl + 4)) + tn;
  if (ts <= 0) ts = 0.01;
  double sum = term(tn);
  for (int h = 1; h < 24; ++h) {
    double t = std::nan("");
    if (h <= fl) t = (tx - tn) * std::sin(pi * h / (dl + 4)) + tn;
    if (h > fl) t = ts - (ts - tn) / std::log(24 - dl) * std::log(h - fl);
    sum += term(t);
  }
  return sum;
}

TEST(PhenologyOps, FastPathMatchesTheHourlyModel) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> temp(-30, 110), range(0, 40), day(0, 24);
  const int64_t n = 5000;  // several tiles, the last one partial
  std::vector<double> tn(n), tx(n), dl(n), got(n);
  for (int64_t i = 0; i < n; ++i) {
    tn[i] = temp(rng);
    tx[i] = tn[i] + range(rng);
    dl[i] = day(rng);
  }
  // Whole hours, the ends of the range, and values outside it (the written-out path).
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const double special[] = {0, 1, 4, 12, 23, 24, 23.999, -1, 25, 30, nan, inf, -inf};
  for (size_t j = 0; j < std::size(special); ++j) dl[j * 7] = special[j];
  tn[3] = nan;
  tx[10] = nan;
  tn[17] = -inf;
  growing_degree_hours_tile(tn.data(), tx.data(), dl.data(), n, 31, got.data());
  int64_t positive = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double want = hourly_model(tn[i], tx[i], dl[i], 31);
    EXPECT_NEAR(got[i], want, 1e-11 * std::max(1.0, std::abs(want)))
        << "tmin " << tn[i] << " tmax " << tx[i] << " dayl " << dl[i];
    positive += want > 0;
  }
  EXPECT_GT(positive, n / 2);
  EXPECT_EQ(growing_degree_hours_of(nan, 60, 12, 31), hourly_model(nan, 60, 12, 31));
}

TEST(PhenologyOps, KernelTakesDaymetUnits) {
  // (2, 3) days of float32 °C and seconds: the kernel converts to °F and hours.
  Chunk tmin = Chunk::allocate(DType::kFloat32, {2, 3}), tmax = Chunk::allocate(DType::kFloat32, {2, 3}),
        dayl = Chunk::allocate(DType::kFloat32, {2, 3});
  const float lo[6] = {-5, 0, 5, 10, std::nanf(""), 20}, hi[6] = {3, 8, 15, 22, 25, 33};
  const float len[6] = {32400, 36000, 43200, 50400, 50400, 54000};
  for (int i = 0; i < 6; ++i) {
    tmin.mutable_data<float>()[i] = lo[i];
    tmax.mutable_data<float>()[i] = hi[i];
    dayl.mutable_data<float>()[i] = len[i];
  }
  TaskSpec s;
  s.key = {1, 0};
  s.op = kGrowingDegreeHours;
  s.params = encode_params(GrowingDegreeHoursParams{31});
  s.dtype = DType::kFloat64;
  s.shape = {2, 3};
  auto r = run_kernel(s, std::vector<Chunk>{tmin, tmax, dayl});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  for (int i = 0; i < 6; ++i) {
    const double want = hourly_model(double(lo[i]) * 1.8 + 32, double(hi[i]) * 1.8 + 32, double(len[i]) / 3600, 31);
    EXPECT_NEAR(r->data<double>()[i], want, 1e-11 * std::max(1.0, want)) << i;
  }
  EXPECT_EQ(r->data<double>()[4], 0.0);  // tmin NaN: every hour's term is NaN, counted 0
  // Inputs of different shapes fail the task.
  auto bad = run_kernel(s, std::vector<Chunk>{tmin, tmax, Chunk::allocate(DType::kFloat32, {3, 2})});
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace rsdat::ops
