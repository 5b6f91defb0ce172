// Neighbourhoods (rsdat/window.hpp) against their peers on the same inputs, on a real
// scheduler and 2 workers: overlap and map_overlap against dask.array and
// scipy.ndimage, the filters against scipy.ndimage, rolling against xarray; and the
// graph of a halo, whose block tasks read their own block plus slabs of the halo's size.
#include "ops/window.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <unordered_map>

#include "client/array_internal.hpp"
#include "core/params.hpp"
#include "rsdat/rsdat.hpp"
#include "tests/integration/cluster_suite.hpp"
#include "tests/numpy/numpy_parity.hpp"

namespace rsdat {
namespace {

using test_support::NumpyParity;

class WindowTest : public test_support::ClusterSuite {};

// NaN where the value is below `frac` (the integer part of x / frac is 0).
Array with_nan(const Array& x, double frac) {
  return where((x / frac).astype(DType::kInt32), x, std::numeric_limits<double>::quiet_NaN());
}

std::string radius_params(const std::vector<int64_t>& r) { return ParamWriter().i64s(r).take(); }

TEST_F(WindowTest, OverlapMatchesDaskInEveryBoundary) {
  NumpyParity p("overlap");
  auto x = p.input("x", random::uniform({23}, {5}, 1));
  for (const char* b : {"reflect", "periodic", "nearest", "none"}) {
    p.add(std::string("1d_") + b, overlap(x, {2}, {b}),
          std::string("da.overlap.overlap(da.from_array(x, chunks=5), depth={0: 2}, boundary={0: '") + b +
              "'}).compute()");
  }
  p.add("1d_constant", overlap(x, {2}, {-1.5}),
        "da.overlap.overlap(da.from_array(x, chunks=5), depth={0: 2}, boundary={0: -1.5}).compute()");
  auto y = p.input("y", random::uniform({11, 13}, {4, 5}, 2));
  p.add("2d_depth0_axis", overlap(y, {2, 0}, {"periodic", "none"}),
        "da.overlap.overlap(da.from_array(y, chunks=(4, 5)), depth={0: 2, 1: 0}, "
        "boundary={0: 'periodic', 1: 'none'}).compute()");
  p.add("2d_mixed", overlap(y, {1, 2}, {"nearest", "reflect"}),
        "da.overlap.overlap(da.from_array(y, chunks=(4, 5)), depth={0: 1, 1: 2}, "
        "boundary={0: 'nearest', 1: 'reflect'}).compute()");
  p.add("2d_constants", overlap(y, {2, 3}, {0.5, 2.0}),
        "da.overlap.overlap(da.from_array(y, chunks=(4, 5)), depth={0: 2, 1: 3}, "
        "boundary={0: 0.5, 1: 2.0}).compute()");
  auto z = p.input("z", random::uniform({6, 7, 6}, {4, 3, 2}, 3));
  p.add("3d", overlap(z, {1, 0, 2}, {"reflect", "none", "periodic"}),
        "da.overlap.overlap(da.from_array(z, chunks=(4, 3, 2)), depth={0: 1, 1: 0, 2: 2}, "
        "boundary={0: 'reflect', 1: 'none', 2: 'periodic'}).compute()");
  auto i = p.input("i", (random::uniform({9, 8}, {4, 3}, 4) * 100.0).astype(DType::kInt16));
  p.add("int16_keeps_dtype", overlap(i, {1}, {"reflect"}),
        "da.overlap.overlap(da.from_array(i, chunks=(4, 3)), depth=1, boundary='reflect').compute()");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(WindowTest, MapOverlapRunsAPluginKernelWithHalosWiderThanChunks) {
  NumpyParity p("map_overlap");
  // Chunks of 1 and 3 elements under a halo of 3: pieces come from several chunks.
  auto x = p.input("x", random::uniform({23}, {23}, 1).rechunk(Chunks{{3, 7, 1, 8, 4}}));
  const std::map<std::string, std::string> scipy_mode = {
      {"reflect", "'reflect'"}, {"periodic", "'wrap'"}, {"nearest", "'nearest'"}, {"none", "'constant'"}};
  for (const auto& [b, mode] : scipy_mode) {
    p.add("1d_" + b, map_overlap("test_box_sum", x, {3}, {b.c_str()}, true, std::nullopt, radius_params({3})),
          "ndimage.uniform_filter(x, 7, mode=" + mode + ") * 7", 1e-10, 1e-12);
  }
  p.add("1d_constant", map_overlap("test_box_sum", x, {3}, {0.25}, true, std::nullopt, radius_params({3})),
        "ndimage.uniform_filter(x, 7, mode='constant', cval=0.25) * 7", 1e-10, 1e-12);
  // A halo deeper than the kernel reads gives the same result.
  p.add("1d_deeper_halo", map_overlap("test_box_sum", x, {5}, {"periodic"}, true, std::nullopt, radius_params({2})),
        "ndimage.uniform_filter(x, 5, mode='wrap') * 5", 1e-10, 1e-12);
  auto y = p.input("y", random::uniform({11, 13}, {11, 13}, 2).rechunk(Chunks{{2, 5, 4}, {6, 1, 6}}));
  p.add("2d_depth0_axis",
        map_overlap("test_box_sum", y, {2, 0}, {"periodic", "none"}, true, std::nullopt, radius_params({2, 0})),
        "ndimage.uniform_filter(y, (5, 1), mode='wrap') * 5", 1e-10, 1e-12);
  p.add("2d_nearest", map_overlap("test_box_sum", y, {3, 2}, {"nearest"}, true, std::nullopt, radius_params({3, 2})),
        "ndimage.uniform_filter(y, (7, 5), mode='nearest') * 35", 1e-10, 1e-12);
  p.add("2d_mixed_modes",
        map_overlap("test_box_sum", y, {1, 2}, {"reflect", "periodic"}, true, std::nullopt, radius_params({1, 2})),
        "ndimage.uniform_filter(y, (3, 5), mode=['reflect', 'wrap']) * 15", 1e-10, 1e-12);
  auto z = p.input("z", random::uniform({6, 7, 5}, {4, 3, 2}, 3));
  p.add("3d_reflect",
        map_overlap("test_box_sum", z, {1, 2, 1}, {"reflect"}, true, std::nullopt, radius_params({1, 1, 1})),
        "ndimage.uniform_filter(z, 3, mode='reflect') * 27", 1e-10, 1e-12);
  // trim=False: the kernel's blocks with their halos, as dask gives them.
  auto w = p.input("w", random::uniform({23}, {5}, 4));
  p.add("no_trim", map_overlap("test_add_one", w, {2}, {"reflect"}, false),
        "da.map_overlap(lambda b: b + 1, da.from_array(w, chunks=5), depth=2, boundary='reflect', "
        "trim=False).compute()");
  p.add("no_trim_none", map_overlap("test_add_one", w, {2}, {"none"}, false),
        "da.map_overlap(lambda b: b + 1, da.from_array(w, chunks=5), depth=2, boundary='none', "
        "trim=False).compute()");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(WindowTest, FiltersMatchScipyNdimage) {
  NumpyParity p("filters");
  // Irregular chunks, one of them a single element, so windows cross several chunks.
  auto y = p.input("y", random::uniform({11, 13}, {11, 13}, 5).rechunk(Chunks{{2, 5, 4}, {6, 1, 6}}));
  for (const char* mode : {"reflect", "constant", "nearest", "mirror", "wrap"}) {
    const std::string m = mode;
    p.add("uniform_" + m, uniform_filter(y, 3, m, 0.5), "ndimage.uniform_filter(y, 3, mode='" + m + "', cval=0.5)");
    p.add("gaussian_" + m, gaussian_filter(y, 1.5, m, 0.5),
          "ndimage.gaussian_filter(y, 1.5, mode='" + m + "', cval=0.5)", 1e-10);
    p.add("median_" + m, median_filter(y, 3, m, 0.5), "ndimage.median_filter(y, 3, mode='" + m + "', cval=0.5)");
    p.add("minimum_" + m, minimum_filter(y, {2, 5}, m, 0.5),
          "ndimage.minimum_filter(y, (2, 5), mode='" + m + "', cval=0.5)");
    p.add("maximum_" + m, maximum_filter(y, 4, m, 0.5), "ndimage.maximum_filter(y, 4, mode='" + m + "', cval=0.5)");
  }
  p.add("uniform_sizes", uniform_filter(y, {5, 1}, "nearest"), "ndimage.uniform_filter(y, (5, 1), mode='nearest')");
  p.add("uniform_even", uniform_filter(y, 4), "ndimage.uniform_filter(y, 4)");
  p.add("uniform_wider_than_axis", uniform_filter(y, {15, 2}), "ndimage.uniform_filter(y, (15, 2))");
  p.add("gaussian_sigma0_axis", gaussian_filter(y, {1.0, 0.0}, "constant", 0.3),
        "ndimage.gaussian_filter(y, (1.0, 0.0), mode='constant', cval=0.3)", 1e-10);
  p.add("gaussian_truncate", gaussian_filter(y, 2.0, "reflect", 0, 1.5),
        "ndimage.gaussian_filter(y, 2.0, truncate=1.5)", 1e-10);
  p.add("median_even", median_filter(y, {4, 3}, "mirror"), "ndimage.median_filter(y, (4, 3), mode='mirror')");
  xt::xarray<double> k = {{1.0, 2.0}, {0.0, -1.0}, {3.0, 1.0}};
  p.add("convolve_reflect", rsdat::convolve(y, k), "ndimage.convolve(y, np.array([[1., 2.], [0., -1.], [3., 1.]]))",
        1e-12, 1e-14);
  p.add("convolve_constant", rsdat::convolve(y, k, "constant", 0.25),
        "ndimage.convolve(y, np.array([[1., 2.], [0., -1.], [3., 1.]]), mode='constant', cval=0.25)", 1e-12, 1e-14);
  auto z = p.input("z", random::uniform({6, 7, 5}, {4, 3, 2}, 6));
  p.add("gaussian_3d", gaussian_filter(z, 0.8, "wrap"), "ndimage.gaussian_filter(z, 0.8, mode='wrap')", 1e-10);
  p.add("uniform_3d", uniform_filter(z, {3, 1, 4}), "ndimage.uniform_filter(z, (3, 1, 4))");
  p.add("median_3d", median_filter(z, 2, "nearest"), "ndimage.median_filter(z, 2, mode='nearest')");
  xt::xarray<double> k3 = xt::xarray<double>::from_shape({3, 1, 2});
  for (size_t n = 0; n < k3.size(); ++n) k3.flat(n) = static_cast<double>(n) - 2.0;
  p.add("convolve_3d", rsdat::convolve(z, k3, "nearest"),
        "ndimage.convolve(z, np.arange(6.).reshape(3, 1, 2) - 2, mode='nearest')", 1e-12, 1e-14);
  auto x = p.input("x", random::uniform({23}, {23}, 7).rechunk(Chunks{{3, 7, 1, 8, 4}}));
  p.add("1d_maximum", maximum_filter(x, 6, "wrap"), "ndimage.maximum_filter(x, 6, mode='wrap')");
  p.add("1d_gaussian", gaussian_filter(x, 3.0), "ndimage.gaussian_filter(x, 3.0)", 1e-10);
  // Other dtypes: the result keeps them, integers truncated after every pass as scipy's.
  auto f = p.input("f", random::uniform({11, 13}, {4, 5}, 8, DType::kFloat32));
  p.add("float32_gaussian", gaussian_filter(f, 1.0), "ndimage.gaussian_filter(f, 1.0)", 1e-6);
  p.add("float32_uniform", uniform_filter(f, 3), "ndimage.uniform_filter(f, 3)", 1e-6);
  auto i = p.input("i", (random::uniform({11, 13}, {4, 5}, 9) * 1000.0).astype(DType::kInt32));
  p.add("int32_uniform", uniform_filter(i, 3), "ndimage.uniform_filter(i, 3)");
  p.add("int32_gaussian", gaussian_filter(i, 1.0), "ndimage.gaussian_filter(i, 1.0)");
  p.add("int32_median", median_filter(i, 3), "ndimage.median_filter(i, 3)");
  p.add("int32_minimum", minimum_filter(i, 3, "constant", 7), "ndimage.minimum_filter(i, 3, mode='constant', cval=7)");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(WindowTest, RollingMatchesXarrayWithNaN) {
  NumpyParity p("rolling");
  // NaN below 0.2; chunks of 1 and 4 under windows of 7: halos from several chunks.
  auto x = p.input("x", with_nan(random::uniform({30}, {30}, 11), 0.2).rechunk(Chunks{{4, 1, 10, 7, 8}}));
  const std::vector<std::string> stats = {"sum", "mean", "min", "max", "std", "var", "count", "median"};
  auto apply = [](const Rolling& r, const std::string& s) {
    if (s == "sum") return r.sum();
    if (s == "mean") return r.mean();
    if (s == "min") return r.min();
    if (s == "max") return r.max();
    if (s == "std") return r.std();
    if (s == "var") return r.var();
    if (s == "count") return r.count();
    return r.median();
  };
  struct Setting {
    int64_t window;
    bool center;
    std::optional<int64_t> min_periods;
  };
  for (const Setting& s :
       {Setting{3, false, {}}, Setting{7, false, 2}, Setting{4, true, 1}, Setting{7, true, 3}, Setting{40, false, 1}}) {
    const std::string args = "dim_0=" + std::to_string(s.window) + ", center=" + (s.center ? "True" : "False") +
                             (s.min_periods ? ", min_periods=" + std::to_string(*s.min_periods) : "");
    const Rolling r = rolling(x, 0, s.window, s.center, s.min_periods);
    for (const std::string& stat : stats) {
      p.add("w" + std::to_string(s.window) + (s.center ? "c_" : "_") + stat, apply(r, stat),
            "xr.DataArray(x).rolling(" + args + ")." + stat + "().values", 1e-10, 1e-12);
    }
  }
  // Infinities of both signs among the NaN: sums and means go infinite or NaN as
  // xarray's do, var and std NaN.
  const double inf = std::numeric_limits<double>::infinity();
  auto u = random::uniform({30}, {30}, 16);
  auto v = p.input("v", where((u * 1.1).astype(DType::kInt32), inf, where((u * 12.0).astype(DType::kInt32), x, -inf))
                            .rechunk(Chunks{{4, 1, 10, 7, 8}}));
  for (const std::string& stat : stats) {
    p.add("inf_" + stat, apply(rolling(v, 0, 5, false, 1), stat),
          "xr.DataArray(v).rolling(dim_0=5, min_periods=1)." + stat + "().values", 1e-10, 1e-12);
  }
  // 2-D along each axis, 3-D along the last, integer and float32 inputs.
  auto y = p.input("y", with_nan(random::uniform({9, 12}, {9, 12}, 12), 0.1).rechunk(Chunks{{2, 3, 4}, {5, 7}}));
  for (const std::string& stat : stats) {
    p.add("2d_axis1_" + stat, apply(rolling(y, 1, 6, true, 2), stat),
          "xr.DataArray(y).rolling(dim_1=6, center=True, min_periods=2)." + stat + "().values", 1e-10, 1e-12);
    p.add("2d_axis0_" + stat, apply(rolling(y, -2, 4), stat), "xr.DataArray(y).rolling(dim_0=4)." + stat + "().values",
          1e-10, 1e-12);
  }
  auto z = p.input("z", random::uniform({4, 5, 9}, {3, 2, 4}, 13));
  p.add("3d_mean", rolling(z, 2, 5, false, 1).mean(), "xr.DataArray(z).rolling(dim_2=5, min_periods=1).mean().values",
        1e-10);
  p.add("3d_median", rolling(z, 2, 5, true).median(), "xr.DataArray(z).rolling(dim_2=5, center=True).median().values");
  auto i = p.input("i", (random::uniform({20}, {6}, 14) * 100.0).astype(DType::kInt32));
  p.add("int32_sum", rolling(i, 0, 3).sum(), "xr.DataArray(i).rolling(dim_0=3).sum().values");
  p.add("int32_max", rolling(i, 0, 3).max(), "xr.DataArray(i).rolling(dim_0=3).max().values");
  p.add("int32_count", rolling(i, 0, 3, false, 1).count(),
        "xr.DataArray(i).rolling(dim_0=3, min_periods=1).count().values");
  auto f = p.input("f", with_nan(random::uniform({20}, {6}, 15), 0.2).astype(DType::kFloat32));
  p.add("float32_mean", rolling(f, 0, 4, false, 1).mean(),
        "xr.DataArray(f).rolling(dim_0=4, min_periods=1).mean().values", 1e-5);
  p.add("float32_std", rolling(f, 0, 4, false, 2).std(), "xr.DataArray(f).rolling(dim_0=4, min_periods=2).std().values",
        1e-4, 1e-6);
  p.add("float32_count", rolling(f, 0, 4).count(), "xr.DataArray(f).rolling(dim_0=4).count().values");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(WindowTest, EmptyAndSizeOneAxes) {
  NumpyParity p("window_edges");
  auto e = p.input("e", random::uniform({0, 5}, {1, 2}, 1));
  auto s = p.input("s", random::uniform({1, 7}, {1, 3}, 2));
  p.add("uniform_empty", uniform_filter(e, 3), "ndimage.uniform_filter(e, 3)");
  p.add("rolling_empty", rolling(e, 1, 2).sum(), "xr.DataArray(e).rolling(dim_1=2).sum().values");
  p.add("uniform_size1_axis", uniform_filter(s, 3), "ndimage.uniform_filter(s, 3)");
  p.add("median_size1_axis", median_filter(s, 2, "wrap"), "ndimage.median_filter(s, 2, mode='wrap')");
  p.add("rolling_size1_axis", rolling(s, 0, 2, false, 1).mean(),
        "xr.DataArray(s).rolling(dim_0=2, min_periods=1).mean().values");
  p.add("overlap_size1_axis", overlap(s, {2, 1}, {"periodic", "nearest"}),
        "da.overlap.overlap(da.from_array(s, chunks=(1, 3)), depth={0: 0, 1: 1}, boundary={0: 'none', 1: 'nearest'})"
        ".compute()[[0, 0, 0, 0, 0]]");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST(WindowGraph, BlockTasksReadTheirBlockAndHaloSlabsOnly) {
  // 3 x 3 blocks of 4 x 4; depth 1: the middle block's halo is 6 * 6 - 16 = 20 elements.
  auto a = random::uniform({12, 12}, {4, 4}, 1);
  auto r = map_overlap("test_box_sum", a, {1, 1}, {"reflect"}, true, std::nullopt, radius_params({1, 1}));
  std::vector<TaskSpec> tasks = detail::lower_graph(*r.node());
  std::unordered_map<TaskKey, const TaskSpec*> by_key;
  for (const TaskSpec& t : tasks) by_key[t.key] = &t;
  const uint64_t input = a.node()->token;
  int blocks = 0;
  for (const TaskSpec& t : tasks) {
    if (t.key.token != r.node()->token) continue;
    ++blocks;
    ASSERT_EQ(t.op, ops::kOverlap);
    ASSERT_FALSE(t.deps.empty());
    EXPECT_EQ(t.deps[0], (TaskKey{input, t.key.chunk}));  // its own block, whole
    int64_t halo = 0;
    for (size_t k = 1; k < t.deps.size(); ++k) {
      const TaskSpec& slab = *by_key.at(t.deps[k]);
      EXPECT_EQ(slab.op, ops::kGather);
      ASSERT_EQ(slab.deps.size(), 1u);  // a slab reads one block
      EXPECT_EQ(slab.deps[0].token, input);
      EXPECT_LT(shape_size(slab.shape), 16);
      halo += shape_size(slab.shape);
    }
    EXPECT_EQ(halo, 6 * 6 - 16) << "block " << t.key.chunk;  // reflect: every block has a full halo
  }
  EXPECT_EQ(blocks, 9);

  // A halo of 5 along axis 0 over chunks of 4: it takes the next block whole and a slab
  // of the one after; with boundary "none" nothing comes from outside the array.
  auto deep = map_overlap("test_box_sum", a, {5, 0}, {"none"}, true, std::nullopt, radius_params({5, 0}));
  tasks = detail::lower_graph(*deep.node());
  by_key.clear();
  for (const TaskSpec& t : tasks) by_key[t.key] = &t;
  for (const TaskSpec& t : tasks) {
    if (t.key.token != deep.node()->token) continue;
    const int64_t row = static_cast<int64_t>(t.key.chunk) / 3;
    // Rows of the array within 5 of the block's 4, clipped to the array, minus its own.
    const int64_t lo = std::max<int64_t>(0, row * 4 - 5), hi = std::min<int64_t>(12, row * 4 + 4 + 5);
    int64_t halo = 0;
    for (size_t k = 1; k < t.deps.size(); ++k) {
      const TaskKey& d = t.deps[k];
      halo += d.token == input ? 16 : shape_size(by_key.at(d)->shape);
    }
    EXPECT_EQ(halo, (hi - lo - 4) * 4) << "block " << t.key.chunk;
  }
}

TEST(WindowGraph, RollingMovesOnlyTheTrailingWindow) {
  auto a = random::uniform({40, 6}, {10, 3}, 1);
  auto r = rolling(a, 0, 4).sum();
  std::vector<TaskSpec> tasks = detail::lower_graph(*r.node());
  std::unordered_map<TaskKey, const TaskSpec*> by_key;
  for (const TaskSpec& t : tasks) by_key[t.key] = &t;
  for (const TaskSpec& t : tasks) {
    if (t.key.token != r.node()->token) continue;
    int64_t halo = 0;
    for (size_t k = 1; k < t.deps.size(); ++k) halo += shape_size(by_key.at(t.deps[k])->shape);
    EXPECT_EQ(halo, 3 * 3) << "block " << t.key.chunk;  // w - 1 rows of the block's 3 columns
  }
}

TEST(WindowArgs, BadInputThrowsNamingTheOperation) {
  auto a = random::uniform({10, 10}, {5, 5}, 1);
  auto message = [](auto f) {
    try {
      f();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  EXPECT_EQ(message([&] { uniform_filter(a, 3, "bogus"); }),
            "uniform_filter: mode \"bogus\" is not one of reflect, constant, nearest, mirror, wrap");
  EXPECT_EQ(message([&] { median_filter(a, {3, 3, 3}); }), "median_filter: 3 sizes for an array of 2 dims");
  EXPECT_EQ(message([&] { minimum_filter(a, 0); }), "minimum_filter: size must be at least 1, got 0");
  EXPECT_EQ(message([&] { gaussian_filter(a, -1.0); }), "gaussian_filter: sigma must be non-negative");
  EXPECT_EQ(message([&] {
              rsdat::convolve(a, xt::xarray<double>{1.0, 2.0});
            }),
            "convolve: weights of 1 dims for an array of 2 dims");
  EXPECT_EQ(message([&] { map_overlap("x", a, {-1}); }), "map_overlap: depth must be non-negative, got -1");
  EXPECT_EQ(message([&] { map_overlap("x", a, {1}, {"mirror"}); }),
            "map_overlap: boundary \"mirror\" is not one of none, reflect, periodic, nearest, constant");
  EXPECT_EQ(message([&] { overlap(a, {1, 1, 1}); }), "overlap: 3 depths for an array of 2 dims");
  EXPECT_EQ(message([&] { rolling(a, 2, 3); }), "rolling: axis 2 is out of bounds for an array of 2 dims");
  EXPECT_EQ(message([&] { rolling(a, 0, 0); }), "rolling: window must be > 0, got 0");
  EXPECT_EQ(message([&] { rolling(a, 0, 3, false, 0); }), "rolling: min_periods must be greater than zero, got 0");
}

}  // namespace
}  // namespace rsdat
