// Order statistics against NumPy on the same inputs, on a real scheduler and 2
// workers: medians, quantiles and percentiles (every method, NaN and all-NaN slices,
// integer and float32 dtypes), sort and argsort, and dask's topk and argtopk, on
// chunked and irregularly chunked axes.
#include <gtest/gtest.h>

#include <limits>

#include "rsdat/rsdat.hpp"
#include "tests/integration/cluster_suite.hpp"
#include "tests/numpy/numpy_parity.hpp"

namespace rsdat {
namespace {

using test_support::NumpyParity;

class OrderTest : public test_support::ClusterSuite {};

// Inputs of shape (13, 6, 5) on irregular chunks (4 along the first axis, of 1 to 5),
// in several dtypes; `w` has NaN (and its slices at [:, 2, :] are NaN only), `i` and
// `u` many ties.
struct Inputs {
  Array a, w, f, i, u, one;
  explicit Inputs(NumpyParity& p) {
    const Shape shape{13, 6, 5};
    const Chunks irregular{{1, 4, 3, 5}, {2, 4}, {3, 2}};
    const double nan = std::numeric_limits<double>::quiet_NaN();
    Array x = random::uniform(shape, {4, 4, 2}, 1).rechunk(irregular);
    a = p.input("a", x);
    Array col = coordinate(shape, {4, 4, 2}, 1).rechunk(irregular);
    w = p.input("w", where(col == 2.0, nan, where(x < 0.25, nan, x)));
    f = p.input("f", w.astype(DType::kFloat32));
    i = p.input("i", (random::uniform(shape, {4, 4, 2}, 3) * 7.0 - 3.0).astype(DType::kInt32).rechunk(irregular));
    u = p.input("u", (random::uniform(shape, {5, 3, 5}, 4) * 250.0).astype(DType::kUInt8));
    one = p.input("one", random::uniform({1, 6, 5}, {1, 4, 2}, 5));
  }
};

TEST_F(OrderTest, MediansMatchNumPy) {
  NumpyParity p("order-median");
  Inputs in(p);
  const OrderOptions tiny{.task_bytes = 256};  // cuts the kept axes into many tasks
  p.add("median_axis0", median(in.a, {0}), "np.median(a, axis=0)");
  p.add("median_all", median(in.a), "np.median(a)");
  p.add("median_long_i32", median(in.i, {0, 1}), "np.median(i, axis=(0, 1))");
  p.add("nanmedian_long_f32", nanmedian(in.f, {}), "np.nanmedian(f)");
  p.add("median_axes02_keepdims", median(in.a, {0, 2}, true), "np.median(a, axis=(0, 2), keepdims=True)");
  p.add("median_negative_axis", median(in.a, {-1}), "np.median(a, axis=-1)");
  p.add("median_nan", median(in.w, {0}), "np.median(w, axis=0)");
  p.add("nanmedian_nan", nanmedian(in.w, {0}), "np.nanmedian(w, axis=0)");
  p.add("nanmedian_axes01", nanmedian(in.w, {0, 1}), "np.nanmedian(w, axis=(0, 1))");
  p.add("nanmedian_f32", nanmedian(in.f, {0}), "np.nanmedian(f, axis=0)");
  p.add("median_f32_axis1", median(in.f, {1}), "np.median(f, axis=1)");
  p.add("median_i32", median(in.i, {0}), "np.median(i, axis=0)");
  p.add("nanmedian_u8_axis2", nanmedian(in.u, {2}), "np.nanmedian(u, axis=2)");
  p.add("median_size1_axis", median(in.one, {0}), "np.median(one, axis=0)");
  p.add("nanmedian_cut", nanmedian(in.w, {0}, false, tiny), "np.nanmedian(w, axis=0)");
  p.add("median_cut_axes12", median(in.a, {1, 2}, true, tiny), "np.median(a, axis=(1, 2), keepdims=True)");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(OrderTest, QuantilesOfEveryMethodMatchNumPy) {
  NumpyParity p("order-quantile");
  Inputs in(p);
  const std::vector<double> qs{0.0, 0.1, 0.25, 0.375, 0.5, 0.625, 0.9, 1.0};  // 0.375 * 12 = 4.5: nearest rounds half to even
  for (const char* m : {"linear", "lower", "higher", "nearest", "midpoint"}) {
    const std::string ms(m);
    const std::string arg = ", method='" + ms + "'";
    p.add("quantile_" + ms, quantile(in.a, 0.3, {0}, ms), "np.quantile(a, 0.3, axis=0" + arg + ")");
    p.add("quantile_list_" + ms, quantile(in.a, qs, {0}, ms), "np.quantile(a, [0.0, 0.1, 0.25, 0.375, 0.5, 0.625, 0.9, 1.0], axis=0" + arg + ")");
    p.add("quantile_nan_" + ms, quantile(in.w, qs, {0}, ms), "np.quantile(w, [0.0, 0.1, 0.25, 0.375, 0.5, 0.625, 0.9, 1.0], axis=0" + arg + ")");
    p.add("nanquantile_" + ms, nanquantile(in.w, qs, {0}, ms), "np.nanquantile(w, [0.0, 0.1, 0.25, 0.375, 0.5, 0.625, 0.9, 1.0], axis=0" + arg + ")");
    p.add("nanquantile_f32_" + ms, nanquantile(in.f, 0.4, {0, 2}, ms), "np.nanquantile(f, 0.4, axis=(0, 2)" + arg + ")");
    p.add("quantile_i32_" + ms, quantile(in.i, qs, {0}, ms), "np.quantile(i, [0.0, 0.1, 0.25, 0.375, 0.5, 0.625, 0.9, 1.0], axis=0" + arg + ")");
    p.add("quantile_u8_" + ms, quantile(in.u, 0.5, {-2}, ms), "np.quantile(u, 0.5, axis=-2" + arg + ")");
    p.add("percentile_" + ms, percentile(in.i, {12.5, 37.5, 62.5, 87.5}, {}, ms),
          "np.percentile(i, [12.5, 37.5, 62.5, 87.5]" + arg + ")");
    p.add("nanpercentile_keepdims_" + ms, nanpercentile(in.w, {29.0, 71.0}, {0, 1}, ms, true),
          "np.nanpercentile(w, [29.0, 71.0], axis=(0, 1), keepdims=True" + arg + ")");
    // Slices longer than 64 values select with nth_element, shorter ones sort by rank.
    p.add("nanquantile_long_" + ms, nanquantile(in.w, qs, {}, ms),
          "np.nanquantile(w, [0.0, 0.1, 0.25, 0.375, 0.5, 0.625, 0.9, 1.0]" + arg + ")");
    p.add("quantile_long_i32_" + ms, quantile(in.i, qs, {0, 1}, ms),
          "np.quantile(i, [0.0, 0.1, 0.25, 0.375, 0.5, 0.625, 0.9, 1.0], axis=(0, 1)" + arg + ")");
  }
  p.add("quantile_size1", quantile(in.one, {0.2, 0.8}, {0}), "np.quantile(one, [0.2, 0.8], axis=0)");
  p.add("quantile_cut", quantile(in.a, {0.2, 0.8}, {0}, "linear", false, OrderOptions{.task_bytes = 200}),
        "np.quantile(a, [0.2, 0.8], axis=0)");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(OrderTest, SortAndArgsortMatchNumPy) {
  NumpyParity p("order-sort");
  Inputs in(p);
  p.add("sort_axis0", sort(in.a, 0), "np.sort(a, axis=0)");
  p.add("sort_last", sort(in.w), "np.sort(w)");
  p.add("sort_nan_axis0", sort(in.w, 0), "np.sort(w, axis=0)");
  p.add("sort_i32_ties", sort(in.i, -3), "np.sort(i, axis=0)");
  p.add("sort_f32_cut", sort(in.f, 0, OrderOptions{.task_bytes = 128}), "np.sort(f, axis=0)");
  p.add("argsort_i32_ties", argsort(in.i, 0), "np.argsort(i, axis=0, kind='stable')");
  p.add("argsort_u8_axis1", argsort(in.u, 1), "np.argsort(u, axis=1, kind='stable')");
  p.add("argsort_nan", argsort(in.w, 0), "np.argsort(w, axis=0, kind='stable')");
  p.add("argsort_size1", argsort(in.one, 0), "np.argsort(one, axis=0, kind='stable')");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(OrderTest, TopkAndArgtopkMatchDasksDefinition) {
  NumpyParity p("order-topk");
  Inputs in(p);
  // dask.array.topk: the k largest, largest first (NaN largest); k < 0 the smallest,
  // smallest first. A tree of 2 blocks per step along 4 irregular blocks.
  p.add("topk_3", topk(in.w, 3, 0, 2), "np.flip(np.sort(w, axis=0), axis=0)[:3]");
  p.add("topk_minus4", topk(in.w, -4, 0, 2), "np.sort(w, axis=0)[:4]");
  p.add("topk_all", topk(in.a, 13, 0), "np.flip(np.sort(a, axis=0), axis=0)");
  p.add("topk_i32_last", topk(in.i, 2, -1), "np.flip(np.sort(i, axis=-1), axis=-1)[..., :2]");
  p.add("topk_f32_axis1", topk(in.f, -2, 1, 2), "np.sort(f, axis=1)[:, :2]");
  // argtopk: ties give the lower index first.
  p.add("argtopk_3", argtopk(in.i, 3, 0, 2),
        "(12 - np.flip(np.argsort(np.flip(i, axis=0), axis=0, kind='stable'), axis=0))[:3]");
  p.add("argtopk_nan", argtopk(in.w, 5, 0, 3),
        "(12 - np.flip(np.argsort(np.flip(w, axis=0), axis=0, kind='stable'), axis=0))[:5]");
  p.add("argtopk_minus3", argtopk(in.i, -3, 0, 2), "np.argsort(i, axis=0, kind='stable')[:3]");
  p.add("argtopk_u8_axis1", argtopk(in.u, -4, 1), "np.argsort(u, axis=1, kind='stable')[:, :4]");
  p.add("argtopk_one_block", argtopk(in.a, 2, 2), "(4 - np.flip(np.argsort(np.flip(a, axis=2), axis=2, kind='stable'), axis=2))[..., :2]");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(OrderTest, TopkMatchesDaskItself) {
  // The same inputs through dask.array.topk and argtopk (no ties: uniform floats).
  NumpyParity p("order-dask");
  Inputs in(p);
  p.add("dask_topk", topk(in.a, 4, 0, 2),
        "__import__('dask.array', fromlist=['x']).topk(__import__('dask.array', fromlist=['x']).from_array(a, chunks=(3, 4, 5)), 4, axis=0).compute()");
  p.add("dask_argtopk", argtopk(in.a, -3, 1),
        "__import__('dask.array', fromlist=['x']).argtopk(__import__('dask.array', fromlist=['x']).from_array(a, chunks=(3, 4, 5)), -3, axis=1).compute()");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(OrderTest, BadArgumentsThrowNamingTheFunction) {
  Array a = random::uniform({10, 4}, {3, 4}, 1);
  auto message = [](auto f) {
    try {
      f();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  EXPECT_EQ(message([&] { quantile(a, 1.5); }), "quantile: Quantiles must be in the range [0, 1]");
  EXPECT_EQ(message([&] { nanquantile(a, std::vector<double>{0.5, -0.1}); }),
            "nanquantile: Quantiles must be in the range [0, 1]");
  EXPECT_EQ(message([&] { percentile(a, 150.0); }), "percentile: Percentiles must be in the range [0, 100]");
  EXPECT_EQ(message([&] { nanpercentile(a, std::numeric_limits<double>::quiet_NaN()); }),
            "nanpercentile: Percentiles must be in the range [0, 100]");
  EXPECT_NE(message([&] { quantile(a, 0.5, {0}, "cubic"); }).find("quantile: 'cubic' is not a valid method"),
            std::string::npos);
  EXPECT_EQ(message([&] { median(a, {2}); }), "median: axis 2 is out of range for an array of 2 dims");
  EXPECT_EQ(message([&] { median(a, {0, -2}); }), "median: repeated axis");
  EXPECT_EQ(message([&] { topk(a, 0, 0); }), "topk: k must not be 0");
  EXPECT_NE(message([&] { argtopk(a, -11, 0); }).find("argtopk: |k| = 11 is larger"), std::string::npos);
  EXPECT_NE(message([&] { quantile(a > 0.5, 0.5); }).find("quantile: boolean input"), std::string::npos);
  EXPECT_NE(message([&] { quantile(zeros({0, 3}, {1, 3}), 0.5, {0}); }).find("quantile: cannot do"), std::string::npos);
}

TEST_F(OrderTest, EmptyMedianIsNaN) {
  auto m = median(zeros({0, 3}, {1, 3}), {0}).compute<double>();
  ASSERT_EQ(m.size(), 3u);
  EXPECT_TRUE(std::isnan(m(0)));
}

}  // namespace
}  // namespace rsdat
