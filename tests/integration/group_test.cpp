// coarsen, groupby_reduce, bincount, histogram and unique against NumPy and xarray on
// the same inputs (tests/numpy/), on a real scheduler and 2 workers: irregular chunks,
// NaN, labels spread over every chunk (map-reduce) and in runs (cohorts), empty and
// expected groups, integer and float32 inputs, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "rsdat/rsdat.hpp"
#include "tests/integration/cluster_suite.hpp"
#include "tests/numpy/numpy_parity.hpp"

namespace rsdat {
namespace {

using test_support::NumpyParity;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

class GroupTest : public test_support::ClusterSuite {};

// (5, 23, 4) with irregular chunks along the grouped axis 1, in float64 and float32
// with NaN, and int32.
struct Inputs {
  Array a, f, i;
  explicit Inputs(NumpyParity& p) {
    const Chunks chunks{{2, 3}, {5, 7, 3, 8}, {4}};
    Array x = random::uniform({5, 23, 4}, {5, 23, 4}, 11).rechunk(chunks);
    Array u = random::uniform({5, 23, 4}, {5, 23, 4}, 12).rechunk(chunks);
    a = p.input("a", where(u < 0.12, kNaN, x));
    f = p.input("f", where(u > 0.9, kNaN, x).astype(DType::kFloat32));
    i = p.input("i", (x * 100.0 - 50.0).astype(DType::kInt32));
  }
};

Array labels_array(const std::vector<int64_t>& labels) {
  xt::xarray<int64_t> v = xt::xarray<int64_t>::from_shape({labels.size()});
  std::copy(labels.begin(), labels.end(), v.begin());
  return from_array(v, {6});
}

std::string py_list(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (int64_t x : v) s += std::to_string(x) + ",";
  return s + "]";
}

// NumPy's answer: `func` of s (the elements of one group, compressed along `axis`),
// stacked over `groups`.
std::string per_group(const std::string& func, const std::string& arr, const std::string& lab, int axis,
                      const std::vector<int64_t>& groups) {
  const std::string ax = std::to_string(axis);
  return "np.stack([" + func + " for s in [np.compress(" + lab + " == g, " + arr + ", axis=" + ax + ") for g in " +
         py_list(groups) + "]], axis=" + ax + ")";
}

// xarray's answer: arr.groupby(labels along dim_<axis>, negative labels as NaN).<reduction>
std::string xr_group(const std::string& reduction, const std::string& arr, const std::string& lab, int axis) {
  return "xr.DataArray(" + arr + ").groupby(xr.DataArray(np.where(" + lab + " < 0, np.nan, " + lab + "), dims='dim_" +
         std::to_string(axis) + "', name='g'))." + reduction + ".values";
}

// Labels 0..3 interleaved over every chunk, a few without a group.
std::vector<int64_t> spread_labels() {
  std::vector<int64_t> l;
  for (int64_t k = 0; k < 23; ++k) l.push_back(k % 7 == 6 ? -1 : (k * 5) % 4);
  return l;
}
// Runs: group 0 over chunks 0 and 1, 1 inside chunk 2, 3 and 4 inside chunk 3.
std::vector<int64_t> run_labels() {
  std::vector<int64_t> l(23);
  for (int64_t k = 0; k < 23; ++k) l[k] = k < 12 ? 0 : k < 15 ? 1 : k < 19 ? 3 : 4;
  return l;
}

TEST_F(GroupTest, GroupbyMapReduceMatchesNumpyAndXarray) {
  NumpyParity p("group-mapreduce");
  Inputs in(p);
  const std::vector<int64_t> labels = spread_labels();
  p.input("lab", labels_array(labels));
  const std::vector<int64_t> groups{0, 1, 2, 3};
  auto g = [&](const Array& x, const std::string& op, GroupbyOptions o = {}) {
    GroupbyResult r = groupby_reduce(x, labels, 1, op, o);
    EXPECT_EQ(r.method, "map-reduce") << op;
    EXPECT_EQ(r.groups, groups) << op;
    return r.values;
  };
  auto np_case = [&](const std::string& name, const Array& r, const std::string& func, const std::string& arr,
                     double rtol = 1e-12) { p.add(name, r, per_group(func, arr, "lab", 1, groups), rtol); };
  // The plain reductions let NaN through, as NumPy's.
  np_case("sum", g(in.a, "sum"), "np.sum(s, axis=1)", "a");
  np_case("prod", g(in.a, "prod"), "np.prod(s, axis=1)", "a");
  np_case("mean", g(in.a, "mean"), "np.mean(s, axis=1)", "a");
  np_case("min", g(in.a, "min"), "np.min(s, axis=1)", "a");
  np_case("max", g(in.a, "max"), "np.max(s, axis=1)", "a");
  np_case("var_ddof1", g(in.a, "var", {.ddof = 1}), "np.var(s, axis=1, ddof=1)", "a");
  np_case("std", g(in.a, "std"), "np.std(s, axis=1)", "a");
  np_case("median", g(in.a, "median"), "np.median(s, axis=1)", "a");
  np_case("first", g(in.a, "first"), "np.take(s, 0, axis=1)", "a");
  np_case("last", g(in.a, "last"), "np.take(s, -1, axis=1)", "a");
  np_case("nanmedian", g(in.a, "nanmedian"), "np.nanmedian(s, axis=1)", "a");
  // xarray's defaults skip NaN: its sum is nansum, and so on.
  p.add("xr_sum", g(in.a, "nansum"), xr_group("sum()", "a", "lab", 1));
  p.add("xr_prod", g(in.a, "nanprod"), xr_group("prod()", "a", "lab", 1));
  p.add("xr_mean", g(in.a, "nanmean"), xr_group("mean()", "a", "lab", 1));
  p.add("xr_min", g(in.a, "nanmin"), xr_group("min()", "a", "lab", 1));
  p.add("xr_max", g(in.a, "nanmax"), xr_group("max()", "a", "lab", 1));
  p.add("xr_count", g(in.a, "count"), xr_group("count()", "a", "lab", 1));
  p.add("xr_var", g(in.a, "nanvar"), xr_group("var()", "a", "lab", 1), 1e-12, 1e-15);
  p.add("xr_std_ddof1", g(in.a, "nanstd", {.ddof = 1}), xr_group("std(ddof=1)", "a", "lab", 1), 1e-12, 1e-15);
  p.add("xr_median", g(in.a, "nanmedian"), xr_group("median()", "a", "lab", 1));
  p.add("xr_first", g(in.a, "nanfirst"), xr_group("first()", "a", "lab", 1));
  p.add("xr_last", g(in.a, "nanlast"), xr_group("last()", "a", "lab", 1));
  // float32 stays float32; integers as NumPy's.
  np_case("f32_mean", g(in.f, "mean"), "np.mean(s, axis=1)", "f", 1e-5);
  np_case("f32_var", g(in.f, "var"), "np.var(s, axis=1)", "f", 1e-5);
  np_case("f32_median", g(in.f, "median"), "np.median(s, axis=1)", "f", 1e-6);
  np_case("f32_max", g(in.f, "max"), "np.max(s, axis=1)", "f");
  p.add("f32_xr_sum", g(in.f, "nansum"), xr_group("sum()", "f", "lab", 1), 1e-5);
  np_case("i32_sum", g(in.i, "sum"), "np.sum(s, axis=1)", "i");
  np_case("i32_mean", g(in.i, "nanmean"), "np.mean(s, axis=1)", "i");
  np_case("i32_max", g(in.i, "max"), "np.max(s, axis=1)", "i");
  np_case("i32_last", g(in.i, "nanlast"), "np.take(s, -1, axis=1)", "i");
  np_case("i32_count", g(in.i, "count"), "np.sum(np.ones_like(s, dtype=np.int64), axis=1)", "i");
  np_case("i32_median", g(in.i, "median"), "np.median(s, axis=1)", "i");
  // A tree of several levels.
  np_case("tree_split2", g(in.a, "nanmean", {.split_every = 2}), "np.nanmean(s, axis=1)", "a");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(GroupTest, GroupbyCohortsMatchesNumpy) {
  NumpyParity p("group-cohorts");
  Inputs in(p);
  const std::vector<int64_t> labels = run_labels();
  p.input("lab", labels_array(labels));
  const std::vector<int64_t> groups{0, 1, 3, 4};
  auto g = [&](const Array& x, const std::string& op, GroupbyOptions o = {}) {
    GroupbyResult r = groupby_reduce(x, labels, 1, op, o);
    EXPECT_EQ(r.groups, groups) << op;
    EXPECT_EQ(r.method, o.method == "map-reduce" ? "map-reduce" : "cohorts") << op;
    return r.values;
  };
  auto np_case = [&](const std::string& name, const Array& r, const std::string& func, const std::string& arr,
                     double rtol = 1e-12) { p.add(name, r, per_group(func, arr, "lab", 1, groups), rtol); };
  // Group 0 spans two chunks (a partial per chunk, merged), the others lie in one.
  Array mean = g(in.a, "nanmean");
  EXPECT_EQ(mean.chunks()[1], (std::vector<int64_t>{1, 1, 2}));
  np_case("nanmean", mean, "np.nanmean(s, axis=1)", "a");
  np_case("sum", g(in.a, "sum"), "np.sum(s, axis=1)", "a");
  np_case("nanvar", g(in.a, "nanvar"), "np.nanvar(s, axis=1)", "a");
  np_case("median", g(in.a, "median"), "np.median(s, axis=1)", "a");
  np_case("nanmedian", g(in.a, "nanmedian"), "np.nanmedian(s, axis=1)", "a");
  np_case("first", g(in.a, "first"), "np.take(s, 0, axis=1)", "a");
  np_case("last", g(in.a, "last"), "np.take(s, -1, axis=1)", "a");
  np_case("i32_min", g(in.i, "min"), "np.min(s, axis=1)", "i");
  np_case("f32_nanmax", g(in.f, "nanmax"), "np.nanmax(s, axis=1)", "f");
  np_case("forced_map_reduce", g(in.a, "nanmean", {.method = "map-reduce", .split_every = 2}),
          "np.nanmean(s, axis=1)", "a");
  // The labels as an Array, computed at call.
  GroupbyResult from_array_labels = groupby_reduce(in.a, labels_array(labels), 1, "mean");
  EXPECT_EQ(from_array_labels.groups, groups);
  np_case("array_labels", from_array_labels.values, "np.mean(s, axis=1)", "a");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(GroupTest, GroupbyExpectedGroupsOtherAxesAndEdges) {
  NumpyParity p("group-expected");
  Inputs in(p);
  const std::vector<int64_t> labels = spread_labels();
  p.input("lab", labels_array(labels));
  // Groups 5 and 7 have no elements; label 2 is not expected, so left out.
  const std::vector<int64_t> expected{7, 0, 1, 3, 5};
  const std::vector<int64_t> groups{0, 1, 3, 5, 7};
  GroupbyOptions o{.expected_groups = expected};
  auto g = [&](const Array& x, const std::string& op) {
    GroupbyResult r = groupby_reduce(x, labels, 1, op, o);
    EXPECT_EQ(r.groups, groups);
    return r.values;
  };
  auto np_case = [&](const std::string& name, const Array& r, const std::string& func, const std::string& arr) {
    p.add(name, r, per_group(func, arr, "lab", 1, groups));
  };
  np_case("expected_nansum", g(in.a, "nansum"), "np.nansum(s, axis=1)", "a");
  np_case("expected_count", g(in.a, "count"), "np.sum(~np.isnan(s), axis=1)", "a");
  np_case("expected_nanmean", g(in.a, "nanmean"), "np.nanmean(s, axis=1)", "a");
  np_case("expected_prod", g(in.i, "prod"), "np.prod(s, axis=1)", "i");
  // An empty group of an integer min is NaN: the result becomes float64.
  np_case("expected_i32_max", g(in.i, "max"),
          "(np.max(s, axis=1) if s.shape[1] else np.full((5, 4), np.nan)).astype(np.float64)", "i");
  np_case("expected_median", g(in.a, "median"),
          "np.median(s, axis=1) if s.shape[1] else np.full((5, 4), np.nan)", "a");
  GroupbyOptions filled = o;
  filled.fill_value = kNaN;
  p.add("fill_nan_i32_sum", groupby_reduce(in.i, labels, 1, "sum", filled).values,
        per_group("np.sum(s, axis=1) if s.shape[1] else np.full((5, 4), np.nan)", "i", "lab", 1, groups));
  filled.fill_value = -1;
  p.add("fill_minus1_nanmean", groupby_reduce(in.a, labels, 1, "nanmean", filled).values,
        per_group("np.nanmean(s, axis=1) if s.shape[1] else np.full((5, 4), -1.0)", "a", "lab", 1, groups));
  // Unsigned sums are uint64; an empty group of a 2-byte integer max makes float32.
  Array u8 = p.input("u8", (in.a * 0.0 + 1.0).astype(DType::kUInt8) * 200);
  np_case("expected_u8_sum", g(u8, "sum"), "np.sum(s, axis=1)", "u8");
  Array i16 = p.input("i16", in.i.astype(DType::kInt16));
  np_case("expected_i16_max", g(i16, "max"),
          "(np.max(s, axis=1) if s.shape[1] else np.full((5, 4), np.nan)).astype(np.float32)", "i16");
  // A size-1 other axis, and a grouped axis of size 0 (every expected group empty).
  p.add("size1_axis", groupby_reduce(view(in.a, range(0, 1)), labels, 1, "nanmean").values,
        per_group("np.nanmean(s, axis=1)", "a[0:1]", "lab", 1, {0, 1, 2, 3}));
  Array empty = view(in.a, all(), range(0, 0));
  GroupbyOptions two{.expected_groups = std::vector<int64_t>{0, 1}};
  p.add("size0_sum", groupby_reduce(empty, std::vector<int64_t>{}, 1, "sum", two).values, "np.zeros((5, 2, 4))");
  p.add("size0_mean", groupby_reduce(empty, std::vector<int64_t>{}, 1, "mean", two).values,
        "np.full((5, 2, 4), np.nan)");
  p.add("size0_count", groupby_reduce(empty, std::vector<int64_t>{}, 1, "count", two).values,
        "np.zeros((5, 2, 4), dtype=np.int64)");
  // Along the first and the last (negative) axis; one label per chunk of size 1.
  std::vector<int64_t> l0{1, 1, 0, 0, 1};
  p.input("l0", labels_array(l0));
  p.add("axis0_mean", groupby_reduce(in.a, l0, 0, "mean").values, per_group("np.mean(s, axis=0)", "a", "l0", 0, {0, 1}));
  std::vector<int64_t> l2{2, -1, 2, 0};
  p.input("l2", labels_array(l2));
  p.add("axis_neg1_last", groupby_reduce(in.a, l2, -1, "last").values,
        per_group("np.take(s, -1, axis=2)", "a", "l2", 2, {0, 2}));
  // Every label distinct: one group per element, each inside its chunk.
  std::vector<int64_t> distinct(23);
  for (int64_t k = 0; k < 23; ++k) distinct[k] = 22 - k;
  GroupbyResult each = groupby_reduce(in.a, distinct, 1, "max");
  EXPECT_EQ(each.method, "cohorts");
  p.add("distinct_labels", each.values, "a[:, ::-1, :]");
  // No group at all: an axis of size 0.
  GroupbyResult none = groupby_reduce(in.a, std::vector<int64_t>(23, -1), 1, "sum");
  EXPECT_TRUE(none.groups.empty());
  p.add("no_groups", none.values, "np.zeros((5, 0, 4))");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(GroupTest, CoarsenMatchesXarray) {
  NumpyParity p("coarsen");
  const Chunks chunks{{5, 7}, {4, 6}};
  Array x = random::uniform({12, 10}, {12, 10}, 21).rechunk(chunks);
  Array u = random::uniform({12, 10}, {12, 10}, 22).rechunk(chunks);
  Array c = p.input("c", where(u < 0.15, kNaN, x));
  Array k = p.input("k", (x * 100.0).astype(DType::kInt32));
  Array g = p.input("g", where(u < 0.15, kNaN, x).astype(DType::kFloat32));
  auto xr_c = [](const std::string& arr, const std::string& args, const std::string& red) {
    return "xr.DataArray(" + arr + ").coarsen(" + args + ")." + red + ".values";
  };
  Coarsen w = coarsen(c, {{0, 3}, {-1, 2}});
  p.add("mean", w.mean(), xr_c("c", "dim_0=3, dim_1=2", "mean()"));
  p.add("sum", w.sum(), xr_c("c", "dim_0=3, dim_1=2", "sum()"));
  p.add("max", w.max(), xr_c("c", "dim_0=3, dim_1=2", "max()"));
  p.add("min", w.min(), xr_c("c", "dim_0=3, dim_1=2", "min()"));
  p.add("prod", w.prod(), xr_c("c", "dim_0=3, dim_1=2", "prod()"));
  p.add("var", w.var(), xr_c("c", "dim_0=3, dim_1=2", "var()"), 1e-12, 1e-15);
  p.add("std_ddof1", w.std(1), xr_c("c", "dim_0=3, dim_1=2", "std(ddof=1)"), 1e-12, 1e-15);
  p.add("count", w.count(), xr_c("c", "dim_0=3, dim_1=2", "count()"));
  p.add("median", w.median(), xr_c("c", "dim_0=3, dim_1=2", "median()"));
  p.add("int_median", coarsen(k, {{1, 5}}).median(), xr_c("k", "dim_1=5", "median()"));
  p.add("f32_median_pad", coarsen(g, {{0, 5}}, "pad").median(), xr_c("g", "dim_0=5, boundary='pad'", "median()"), 1e-6);
  p.add("trim", coarsen(c, {{0, 5}}, "trim").mean(), xr_c("c", "dim_0=5, boundary='trim'", "mean()"));
  p.add("trim_right", coarsen(c, {{0, 5}, {1, 3}}, "trim", "right").sum(),
        xr_c("c", "dim_0=5, dim_1=3, boundary='trim', side='right'", "sum()"));
  p.add("pad", coarsen(c, {{1, 4}}, "pad").max(), xr_c("c", "dim_1=4, boundary='pad'", "max()"));
  p.add("pad_right_int", coarsen(k, {{0, 5}}, "pad", "right").mean(),
        xr_c("k", "dim_0=5, boundary='pad', side='right'", "mean()"));
  p.add("int_sum", coarsen(k, {{0, 4}, {1, 5}}).sum(), xr_c("k", "dim_0=4, dim_1=5", "sum()"));
  p.add("int_max", coarsen(k, {{0, 6}}).max(), xr_c("k", "dim_0=6", "max()"));
  p.add("int_mean", coarsen(k, {{1, 2}}).mean(), xr_c("k", "dim_1=2", "mean()"));
  p.add("f32_mean", coarsen(g, {{0, 2}, {1, 5}}).mean(), xr_c("g", "dim_0=2, dim_1=5", "mean()"), 1e-6);
  p.add("window_1", coarsen(c, {{0, 1}}).sum(), xr_c("c", "dim_0=1", "sum()"));
  p.add("window_whole", coarsen(c, {{0, 12}, {1, 10}}).mean(), xr_c("c", "dim_0=12, dim_1=10", "mean()"));
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(GroupTest, BincountHistogramUniqueMatchNumpy) {
  NumpyParity p("histogram");
  Array x = p.input("x", (random::uniform({50}, {50}, 31) * 9.0).astype(DType::kInt64).rechunk(Chunks{{7, 13, 30}}));
  Array wt = p.input("wt", random::uniform({50}, {9}, 32));
  p.add("bincount", bincount(x), "np.bincount(x)");
  p.add("bincount_weights", bincount(x, wt), "np.bincount(x, weights=wt)");
  p.add("bincount_minlength", bincount(x, std::nullopt, 15), "np.bincount(x, minlength=15)");
  Array x16 = p.input("x16", (random::uniform({20}, {6}, 33) * 4.0).astype(DType::kUInt16));
  p.add("bincount_u16", bincount(x16), "np.bincount(x16)");

  const Chunks chunks{{2, 3}, {5, 7, 3, 8}, {4}};
  Array v = random::uniform({5, 23, 4}, {5, 23, 4}, 34).rechunk(chunks);
  Array u = random::uniform({5, 23, 4}, {5, 23, 4}, 35).rechunk(chunks);
  Array a = p.input("a", where(u < 0.1, kNaN, v));
  Array b = p.input("b", v * 3.0 - 1.0);
  Array f = p.input("f", v.astype(DType::kFloat32));
  Array i = p.input("i", (v * 40.0 - 7.0).astype(DType::kInt32));
  auto counts = [&](const std::string& name, const Histogram& h, const std::string& numpy, DType edge_dtype) {
    p.add(name, h.counts, "np.histogram(" + numpy + ")[0]");
    xt::xarray<double> e = xt::xarray<double>::from_shape({h.edges.size()});
    std::copy(h.edges.begin(), h.edges.end(), e.begin());
    p.add(name + "_edges", from_array(e, {-1}).astype(edge_dtype), "np.histogram(" + numpy + ")[1]");
  };
  counts("range_nan", histogram(a, 7, {{0.1, 0.9}}), "a, 7, range=(0.1, 0.9)", DType::kFloat64);
  counts("auto_range", histogram(b, 5), "b, 5", DType::kFloat64);
  counts("f32_range", histogram(f, 6, {{0.2, 0.8}}), "f, 6, range=(0.2, 0.8)", DType::kFloat32);
  counts("f32_auto", histogram(f, 9), "f, 9", DType::kFloat32);
  counts("int_auto", histogram(i, 4), "i, 4", DType::kFloat64);
  counts("one_value", histogram(i * 0 + 3, 3), "i * 0 + 3, 3", DType::kFloat64);
  counts("edges", histogram(a, std::vector<double>{0, 0.1, 0.5, 0.55, 1.0}), "a, [0, 0.1, 0.5, 0.55, 1.0]",
         DType::kFloat64);
  counts("edges_int", histogram(i, std::vector<double>{-7, 0, 5, 33}), "i, [-7.0, 0, 5, 33]", DType::kFloat64);
  p.add("along_axis1", histogram_along(a, 1, 5, {0.0, 1.0}).counts,
        "np.moveaxis(np.apply_along_axis(lambda v: np.histogram(v, 5, range=(0.0, 1.0))[0], 1, a), 1, -1)");
  p.add("along_axis0_f32", histogram_along(f, 0, 3, {0.25, 0.75}).counts,
        "np.moveaxis(np.apply_along_axis(lambda v: np.histogram(v, 3, range=(0.25, 0.75))[0], 0, f), 0, -1)");
  p.add("along_edges", histogram_along(i, -1, std::vector<double>{-7, 0, 10, 33}).counts,
        "np.apply_along_axis(lambda v: np.histogram(v, [-7, 0, 10, 33])[0], 2, i)");
  // Weights (on other chunks than the data) and density, NumPy's result dtypes.
  Array w = p.input("w", random::uniform({5, 23, 4}, {3, 6, 4}, 36) - 0.25);
  Array w8 = p.input("w8", (v * 100.0).astype(DType::kInt8));
  Array w32 = p.input("w32", w.astype(DType::kFloat32));
  Array wb = p.input("wb", u < 0.5);
  p.add("weights", histogram(a, 7, {{0.1, 0.9}}, {.weights = w}).counts,
        "np.histogram(a, 7, range=(0.1, 0.9), weights=w)[0]");
  p.add("weights_int8_wraps", histogram(b, 5, std::nullopt, {.weights = w8}).counts,
        "np.histogram(b, 5, weights=w8)[0]");
  p.add("weights_f32", histogram(f, 6, {{0.2, 0.8}}, {.weights = w32}).counts,
        "np.histogram(f, 6, range=(0.2, 0.8), weights=w32)[0]");
  p.add("weights_bool", histogram(i, 4, std::nullopt, {.weights = wb}).counts, "np.histogram(i, 4, weights=wb)[0]");
  p.add("weights_edges", histogram(i, std::vector<double>{-7, 0, 5, 33}, {.weights = w8}).counts,
        "np.histogram(i, [-7.0, 0, 5, 33], weights=w8)[0]");
  p.add("density", histogram(a, 7, {{0.1, 0.9}}, {.density = true}).counts,
        "np.histogram(a, 7, range=(0.1, 0.9), density=True)[0]");
  p.add("density_edges", histogram(a, std::vector<double>{0, 0.1, 0.5, 0.55, 1.0}, {.density = true}).counts,
        "np.histogram(a, [0, 0.1, 0.5, 0.55, 1.0], density=True)[0]");
  p.add("density_weights", histogram(b, 5, std::nullopt, {.weights = w, .density = true}).counts,
        "np.histogram(b, 5, weights=w, density=True)[0]");
  p.add("density_empty", histogram(view(f, all(), range(0, 0)), 3, {{0.0, 1.0}}, {.density = true}).counts,
        "np.histogram(f[:, 0:0], 3, range=(0.0, 1.0), density=True)[0]");
  p.add("along_weights_density", histogram_along(a, 1, 5, {0.0, 1.0}, {.weights = w, .density = true}).counts,
        "np.array([[np.histogram(a[j, :, k], 5, range=(0.0, 1.0), weights=w[j, :, k], density=True)[0]"
        " for k in range(4)] for j in range(5)])");
  p.add("along_weights_int8", histogram_along(i, 0, std::vector<double>{-7, 0, 10, 33}, {.weights = w8}).counts,
        "np.array([[np.histogram(i[:, j, k], [-7, 0, 10, 33], weights=w8[:, j, k])[0]"
        " for k in range(4)] for j in range(23)])");

  Unique ui = unique(i, true);
  p.add("unique_int", ui.values, "np.unique(i)");
  p.add("unique_int_counts", ui.counts, "np.unique(i, return_counts=True)[1]");
  Array r = p.input("r", round(a * 4.0));
  Unique ur = unique(r, true);
  p.add("unique_nan", ur.values, "np.unique(r)");
  p.add("unique_nan_counts", ur.counts, "np.unique(r, return_counts=True)[1]");
  p.add("unique_f32", unique(f).values, "np.unique(f)");
  EXPECT_EQ(unique(f).counts.node(), nullptr);
  Unique none = unique(view(f, all(), range(0, 0)), true);
  p.add("unique_empty", none.values, "np.unique(f[:, 0:0])");
  p.add("unique_empty_counts", none.counts, "np.unique(f[:, 0:0], return_counts=True)[1]");
  EXPECT_TRUE(p.check()) << p.report();
}

// Each call's message names the function.
void expect_invalid(const std::function<void()>& f, const std::string& name) {
  try {
    f();
    ADD_FAILURE() << name << ": no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
  }
}

TEST_F(GroupTest, BadInputThrowsNamingTheFunction) {
  Array a = random::uniform({6, 10}, {3, 4}, 1);
  std::vector<int64_t> labels(10, 0);
  expect_invalid([&] { groupby_reduce(a, std::vector<int64_t>(9, 0), 1, "sum"); }, "groupby_reduce");
  expect_invalid([&] { groupby_reduce(a, labels, 1, "mode"); }, "groupby_reduce");
  expect_invalid([&] { groupby_reduce(a, labels, 2, "sum"); }, "groupby_reduce");
  expect_invalid([&] { groupby_reduce(a, labels, 1, "sum", {.method = "blockwise"}); }, "groupby_reduce");
  expect_invalid([&] { groupby_reduce(a, labels, 1, "sum", {.expected_groups = std::vector<int64_t>{-1}}); },
                 "groupby_reduce");
  expect_invalid([&] { groupby_reduce(a, labels, 1, "sum", {.split_every = 1}); }, "groupby_reduce");
  expect_invalid([&] { groupby_reduce(a, a, 1, "sum"); }, "groupby_reduce");
  expect_invalid([&] { coarsen(a, {{1, 3}}); }, "coarsen");
  expect_invalid([&] { coarsen(a, {{0, 0}}); }, "coarsen");
  expect_invalid([&] { coarsen(a, {{0, 2}, {-2, 3}}); }, "coarsen");
  expect_invalid([&] { coarsen(a, {{2, 2}}); }, "coarsen");
  expect_invalid([&] { coarsen(a, {{0, 2}}, "wrap"); }, "coarsen");
  expect_invalid([&] { coarsen(a, {{0, 4}}, "trim", "middle"); }, "coarsen");
  expect_invalid([&] { bincount(a); }, "bincount");
  expect_invalid([&] { bincount(view((a * 5.0).astype(DType::kInt32) - 2, 0)); }, "bincount");
  expect_invalid([&] { bincount(a.astype(DType::kInt32)); }, "bincount");
  expect_invalid([&] { bincount(view(a.astype(DType::kInt32), 0), view(a, 0, range(0, 3))); }, "bincount");
  expect_invalid([&] { histogram(a, 0); }, "histogram");
  expect_invalid([&] { histogram(a, 5, {{1.0, 0.0}}); }, "histogram");
  expect_invalid([&] { histogram(where(a < 0.5, kNaN, a), 5); }, "histogram");
  expect_invalid([&] { histogram(a, std::vector<double>{0, 0.5, 0.2}); }, "histogram");
  expect_invalid([&] { histogram_along(a, 3, 5, {0.0, 1.0}); }, "histogram_along");
  expect_invalid([&] { histogram(a, 5, {{0.0, 1.0}}, {.weights = view(a, 0)}); }, "histogram");
  expect_invalid([&] { histogram_along(a, 0, 5, {0.0, 1.0}, {.weights = a.T()}); }, "histogram_along");
}

}  // namespace
}  // namespace rsdat
