// rsdat against NumPy on the same inputs, on a real scheduler and 2 workers: every
// case's dtype, shape and values must match what NumPy computes (tests/numpy/).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "rsdat/rsdat.hpp"
#include "tests/numpy/numpy_parity.hpp"

namespace rsdat {
namespace {

using test_support::NumpyParity;

class NumpyParityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new LocalCluster(LocalClusterOptions{.workers = 2, .threads_per_worker = 1, .memory_limit = "1GB"});
    client_ = new Client(*cluster_, ClientOptions{.progress = false});
  }
  static void TearDownTestSuite() {
    delete client_;
    delete cluster_;
  }
  static LocalCluster* cluster_;
  static Client* client_;
};
LocalCluster* NumpyParityTest::cluster_ = nullptr;
Client* NumpyParityTest::client_ = nullptr;

// Inputs on an uneven chunk grid, in several dtypes, and with NaN and infinities.
struct Inputs {
  Array a, f, i, u, w;
  explicit Inputs(NumpyParity& p) {
    const Shape shape{6, 8, 5}, chunks{4, 3, 2};
    a = p.input("a", random::uniform(shape, chunks, 1));
    f = p.input("f", random::uniform(shape, chunks, 2, DType::kFloat32));
    i = p.input("i", (random::uniform(shape, chunks, 3) * 20.0 - 10.0).astype(DType::kInt32));
    u = p.input("u", (random::uniform(shape, chunks, 4) * 200.0).astype(DType::kUInt8));
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    // A condition is true where it is not zero: the integer part of a scaled value.
    auto int_part = [](const Array& v) { return v.astype(DType::kInt32); };
    Array x = random::uniform(shape, chunks, 5);
    Array m = where(int_part((x - 0.3) * 40.0), x, -inf);  // -inf for 0.275 < x < 0.325
    m = where(int_part(x / 0.28), m, nan);                  // NaN below 0.28
    w = p.input("w", where(int_part(x * 1.05), inf, m));     // inf above 0.952
  }
};

TEST_F(NumpyParityTest, Reductions) {
  NumpyParity p("reductions");
  Inputs in(p);
  p.add("sum_f64_axis0", in.a.sum({0}), "np.sum(a, axis=0)");
  p.add("sum_i32_all", in.i.sum(), "np.sum(i)");
  p.add("sum_u8_axes12", in.u.sum({1, 2}), "np.sum(u, axis=(1, 2))");
  p.add("sum_f32_negative_axis", in.f.sum({-1}), "np.sum(f, axis=-1)", 1e-6);
  p.add("min_f32_axis2", in.f.min({2}), "np.min(f, axis=2)");
  p.add("max_i32_axis1", in.i.max({1}), "np.max(i, axis=1)");
  p.add("max_nan_wins", in.w.max({0}), "np.max(w, axis=0)");
  p.add("mean_f32_axis0", in.f.mean({0}), "np.mean(f, axis=0)", 1e-6);
  p.add("mean_i32_all", in.i.mean(), "np.mean(i)");
  p.add("var_ddof1", in.a.var({0, 2}, 1), "np.var(a, axis=(0, 2), ddof=1)");
  p.add("std_axis1", in.a.std({1}), "np.std(a, axis=1)");
  p.add("nanmean_with_infinities", in.w.nanmean({0}), "np.nanmean(w, axis=0)");
  p.add("nanmean_all", in.w.nanmean(), "np.nanmean(w)");
  p.add("prod_f64_axis0", (in.a + 0.5).prod({0}), "np.prod(a + 0.5, axis=0)");
  p.add("prod_f32_axes02", (in.f + 0.5).prod({0, 2}), "np.prod(f + 0.5, axis=(0, 2))", 1e-6);
  p.add("prod_i32_axis1", (in.i / 4.0).astype(DType::kInt32).prod({1}), "np.prod((i / 4.0).astype(np.int32), axis=1)");
  p.add("prod_u8_all_wraps", in.u.prod(), "np.prod(u)");
  p.add("prod_nan_and_inf", in.w.prod({2}), "np.prod(w, axis=2)");
  p.add("any_f64", (in.a > 0.9).any({0}), "np.any(a > 0.9, axis=0)");
  p.add("all_ints", in.i.all({1, 2}), "np.all(i, axis=(1, 2))");
  p.add("any_nan_is_true", in.w.any(), "np.any(w)");
  p.add("all_u8", in.u.all({0}), "np.all(u, axis=0)");
  p.add("nansum", in.w.nansum({0}), "np.nansum(w, axis=0)");
  p.add("nansum_ints", in.i.nansum({1}), "np.nansum(i, axis=1)");
  p.add("nanprod", (in.w * 0.5 + 0.8).nanprod({2}), "np.nanprod(w * 0.5 + 0.8, axis=2)");
  p.add("nanmin", in.w.nanmin({0}), "np.nanmin(w, axis=0)");
  p.add("nanmax_f32", in.w.astype(DType::kFloat32).nanmax({1}), "np.nanmax(w.astype(np.float32), axis=1)");
  p.add("nanmin_ints", in.i.nanmin(), "np.nanmin(i)");
  p.add("count_nonzero", (in.i / 5.0).astype(DType::kInt32).count_nonzero({0}),
        "np.count_nonzero((i / 5.0).astype(np.int32), axis=0)");
  p.add("ptp_ints", in.i.ptp({1}), "np.ptp(i, axis=1)");
  p.add("ptp_f32", in.f.ptp(), "np.ptp(f)");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(NumpyParityTest, Elementwise) {
  NumpyParity p("elementwise");
  Inputs in(p);
  p.add("arith", (in.a * 2.0 - in.a / 3.0) + 1.0, "(a * 2.0 - a / 3.0) + 1.0");
  p.add("divide_ints", divide(in.i, in.i + 20), "np.divide(i, i + 20)");
  p.add("power", power(in.a, in.a), "np.power(a, a)");
  p.add("exp_log_f32", log(exp(in.f) + 1.0), "np.log(np.exp(f) + 1.0)", 1e-6);
  p.add("sin_cos_sqrt", sin(in.a) * cos(in.a) + sqrt(in.a), "np.sin(a) * np.cos(a) + np.sqrt(a)");
  p.add("minimum_nan_wins", minimum(in.w, in.a), "np.minimum(w, a)");
  p.add("maximum_ints", maximum(in.i, in.i * 2), "np.maximum(i, i * 2)");
  p.add("negative_abs", abs(-in.i), "np.abs(-i)");
  p.add("isnan", isnan(in.w), "np.isnan(w)");
  p.add("tanh", tanh(in.a * 4.0 - 2.0), "np.tanh(a * 4.0 - 2.0)");
  p.add("tanh_f32", tanh(in.f), "np.tanh(f)", 1e-6);
  p.add("tanh_ints", tanh(in.i), "np.tanh(i)");
  p.add("tanh_infinities", tanh(in.w), "np.tanh(w)");
  p.add("where", where(isnan(in.w), 0.0, in.w), "np.where(np.isnan(w), 0.0, w)");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(NumpyParityTest, ComparisonsLogicAndScalars) {
  NumpyParity p("comparisons");
  Inputs in(p);
  Array row = p.input("row", random::uniform({8, 1}, {3, 1}, 6));
  p.add("less_array", in.a < row, "a < row");
  p.add("less_equal_scalar", in.a <= 0.5, "a <= 0.5");
  p.add("scalar_greater", 0.5 > in.f, "0.5 > f");
  p.add("greater_equal_ints", in.i >= 0, "i >= 0");
  p.add("equal_nan_unequal", in.w == in.w, "w == w");
  p.add("not_equal", in.i != 3, "i != 3");
  p.add("and_or_xor_not", ((in.a > 0.2) & isfinite(in.w)) | ~(in.f < 0.5) ^ (in.i > 0),
        "((a > 0.2) & np.isfinite(w)) | ~(f < 0.5) ^ (i > 0)");
  p.add("masked_mean", where((in.a > 0.2) & isfinite(in.w), in.w, std::nan("")).nanmean({0}),
        "np.nanmean(np.where((a > 0.2) & np.isfinite(w), w, np.nan), axis=0)");
  p.add("isin", isin(in.i, {-3, 0, 7}), "np.isin(i, [-3, 0, 7])");
  p.add("int_plus_int_keeps_int32", in.i + 1, "i + 1");
  p.add("int_times_float_is_float64", in.i * 2.0, "i * 2.0");
  p.add("f32_times_float_stays", in.f * 2.0, "f * 2.0");
  p.add("u8_plus_int_stays_u8", in.u + 3, "u + 3");
  p.add("mod_ints", in.i % 3, "i % 3");
  p.add("mod_floats_sign", (in.a - 0.5) % -0.3, "(a - 0.5) % -0.3", 1e-12, 1e-15);
  p.add("floor_divide", floor_divide(in.a * 10.0, 3.0), "np.floor_divide(a * 10.0, 3.0)");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(NumpyParityTest, MathFunctions) {
  NumpyParity p("math");
  Inputs in(p);
  Array b = p.input("b", random::uniform({6, 8, 5}, {4, 3, 2}, 11) * 2.0 - 1.0);  // in [-1, 1)
  p.add("floor_ceil_trunc", floor(b * 3.0) + ceil(b * 3.0) * 10.0 + trunc(b * 3.0) * 100.0,
        "np.floor(b * 3.0) + np.ceil(b * 3.0) * 10.0 + np.trunc(b * 3.0) * 100.0");
  p.add("rint_halves_to_even", rint(b * 4.0 + 0.5), "np.rint(b * 4.0 + 0.5)");
  p.add("round_2", round(b * 100.0, 2), "np.round(b * 100.0, 2)");
  p.add("clip", clip(in.w, 0.25, 0.75), "np.clip(w, 0.25, 0.75)");
  p.add("clip_ints_keep_int32", clip(in.i, -3, 4), "np.clip(i, -3, 4)");
  p.add("clip_upper_only", clip(in.i, std::nullopt, 2), "np.clip(i, None, 2)");
  p.add("clip_arrays", clip(in.a, b * 0.5, in.f + 0.2), "np.clip(a, b * 0.5, f + 0.2)");
  p.add("isclose", isclose(in.a, in.a + b * 1e-6), "np.isclose(a, a + b * 1e-6)");
  p.add("isclose_infinities", isclose(in.w, in.w * 1.0), "np.isclose(w, w * 1.0)");
  p.add("isclose_equal_nan", isclose(in.w, in.w, 0.0, 0.0, true), "np.isclose(w, w, 0.0, 0.0, equal_nan=True)");
  p.add("nan_to_num", nan_to_num(in.w), "np.nan_to_num(w)");
  p.add("nan_to_num_f32_values", nan_to_num(in.w.astype(DType::kFloat32), -1.0, 9.0, -9.0),
        "np.nan_to_num(w.astype(np.float32), nan=-1.0, posinf=9.0, neginf=-9.0)");
  p.add("cbrt_exp2_expm1", cbrt(b) + exp2(b) + expm1(b), "np.cbrt(b) + np.exp2(b) + np.expm1(b)");
  p.add("logs", log2(in.a) + log10(in.a) + log1p(in.a), "np.log2(a) + np.log10(a) + np.log1p(a)");
  p.add("trig", tan(b) + arcsin(b) + arccos(b) + arctan(b), "np.tan(b) + np.arcsin(b) + np.arccos(b) + np.arctan(b)");
  p.add("hyperbolic", sinh(b) + cosh(b) + arcsinh(b) + arccosh(in.a + 1.0) + arctanh(b * 0.9),
        "np.sinh(b) + np.cosh(b) + np.arcsinh(b) + np.arccosh(a + 1.0) + np.arctanh(b * 0.9)");
  p.add("arctan2_hypot", arctan2(b, in.a) + hypot(b, in.a), "np.arctan2(b, a) + np.hypot(b, a)");
  p.add("degrees", rad2deg(deg2rad(b * 180.0)), "np.rad2deg(np.deg2rad(b * 180.0))");
  p.add("square_sign_reciprocal", square(b) + sign(b) + reciprocal(in.a + 1.0),
        "np.square(b) + np.sign(b) + np.reciprocal(a + 1.0)");
  p.add("sign_ints", sign(in.i), "np.sign(i)");
  p.add("square_ints", square(in.i), "np.square(i)");
  p.add("fmin_fmax_nan_loses", fmin(in.w, in.a) + fmax(in.w, in.a), "np.fmin(w, a) + np.fmax(w, a)");
  p.add("isinf_isfinite", isinf(in.w) | isfinite(in.w), "np.isinf(w) | np.isfinite(w)");
  p.add("logical_not_ints", logical_not(in.i), "np.logical_not(i)");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(NumpyParityTest, Broadcasting) {
  NumpyParity p("broadcasting");
  Inputs in(p);
  Array row = p.input("row", random::uniform({8, 1}, {3, 1}, 6));
  Array col = p.input("col", random::uniform({5}, {2}, 7));
  Array hours = p.input("hours", random::uniform({4, 1, 1, 1}, {3, 1, 1, 1}, 8));
  Array one = p.input("one", random::uniform({1, 1, 1}, {1, 1, 1}, 9));
  p.add("array_row", in.a + row, "a + row");
  p.add("row_array", row - in.a, "row - a");
  p.add("col_times_row", col * row, "col * row");
  p.add("three_operands", (in.a + col) * row, "(a + col) * row");
  p.add("size_one_everywhere", in.i * one, "i * one");
  p.add("where_broadcast", where(isnan(in.w), row, col), "np.where(np.isnan(w), row, col)");
  p.add("hours_sum", sin(hours * in.a).sum({0}), "np.sin(hours * a).sum(axis=0)");
  p.add("hours_mean_f32", (hours * in.f).mean({0, 2}), "np.mean(hours * f, axis=(0, 2))", 1e-6);
  p.add("transpose_broadcast", in.a.transpose({0, 2, 1}) + row.T() * 1.0, "a.transpose(0, 2, 1) + row.T * 1.0");
  p.add("two_d_transpose_row", (in.a.sum({0}).T() + row.T()) * 2.0, "(a.sum(axis=0).T + row.T) * 2.0");
  p.add("broadcast_to", broadcast_to(row, {3, 8, 5}), "np.broadcast_to(row, (3, 8, 5))");
  p.add("broadcast_to_then_sum", broadcast_to(col, {7, 5}).sum({0}), "np.broadcast_to(col, (7, 5)).sum(axis=0)");
  auto both = broadcast_arrays({row, col});
  p.add("broadcast_arrays_0", both[0], "np.broadcast_arrays(row, col)[0]");
  p.add("broadcast_arrays_1", both[1] * 1.0, "np.broadcast_arrays(row, col)[1] * 1.0");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(NumpyParityTest, Creation) {
  NumpyParity p("creation");
  Inputs in(p);
  p.add("zeros_like", zeros_like(in.i), "np.zeros_like(i)");
  p.add("ones_like_f32", ones_like(in.a, DType::kFloat32), "np.ones_like(a, dtype=np.float32)");
  p.add("full_like", full_like(in.u, 7), "np.full_like(u, 7)");
  p.add("arange_ints", arange(0, 100, 3, 7), "np.arange(0, 100, 3)");
  p.add("arange_floats", arange(0.5, 10.0, 0.25, 6), "np.arange(0.5, 10.0, 0.25)");
  p.add("arange_down", arange(10, 0, -1, 4), "np.arange(10, 0, -1)");
  p.add("arange_empty", arange(5, 5, 1, 4), "np.arange(5, 5, 1)");
  p.add("linspace", linspace(0.0, 1.0, 11, 4), "np.linspace(0.0, 1.0, 11)");
  p.add("linspace_no_endpoint", linspace(-2.0, 3.0, 20, 6, false), "np.linspace(-2.0, 3.0, 20, endpoint=False)");
  EXPECT_TRUE(p.check()) << p.report();
}

// matmul, dot, tensordot, outer and einsum on chunk grids the shapes do not divide,
// with broadcast batch axes, 1-D and size-1 operands, integer, bool and float32
// inputs, and contracted axes of many chunks (summed as a tree of partial products).
TEST_F(NumpyParityTest, LinearAlgebra) {
  NumpyParity p("linalg");
  auto uniform = [](const Shape& shape, const Shape& chunks, uint64_t seed) {
    return random::uniform(shape, chunks, seed) * 2.0 - 1.0;
  };
  auto ints = [&](const Shape& shape, const Shape& chunks, uint64_t seed) {
    return (uniform(shape, chunks, seed) * 10.0).astype(DType::kInt32);
  };
  Array a = p.input("a", uniform({7, 9}, {3, 4}, 1));
  Array b = p.input("b", uniform({9, 5}, {2, 3}, 2));
  Array v = p.input("v", uniform({9}, {4}, 3));
  Array x = p.input("x", uniform({2, 1, 4, 3}, {1, 1, 3, 2}, 4));
  Array y = p.input("y", uniform({5, 3, 2}, {2, 2, 1}, 5));
  Array w = p.input("w", uniform({3}, {2}, 6));
  Array row = p.input("row", uniform({1, 9}, {1, 4}, 7));
  Array col = p.input("col", uniform({9, 1}, {5, 1}, 8));
  Array one = p.input("one", uniform({1, 4, 3}, {1, 3, 3}, 9));
  Array ia = p.input("ia", ints({7, 9}, {3, 4}, 10));
  Array ib = p.input("ib", ints({9, 5}, {4, 2}, 11));
  Array fa = p.input("fa", uniform({7, 9}, {3, 4}, 12).astype(DType::kFloat32));
  Array fb = p.input("fb", uniform({9, 5}, {2, 3}, 13).astype(DType::kFloat32));
  Array ba = p.input("ba", uniform({7, 9}, {3, 4}, 14) > 0.6);
  Array bb = p.input("bb", uniform({9, 5}, {2, 3}, 15) > 0.6);
  // Contracted axes of 21 and 20 chunks: more than one task reads, so partial products
  // summed as a tree (21 chunks: groups of 11 and 10).
  Array la = p.input("la", uniform({6, 103}, {4, 5}, 16));
  Array lb = p.input("lb", uniform({103, 4}, {5, 3}, 17));
  Array li = p.input("li", ints({5, 100}, {2, 5}, 18));
  Array lj = p.input("lj", ints({100, 3}, {5, 2}, 19));
  Array lf = p.input("lf", uniform({100}, {5}, 20).astype(DType::kFloat32));
  Array lg = p.input("lg", uniform({100, 3}, {5, 2}, 21).astype(DType::kFloat32));
  // int32 products that wrap around, as NumPy's do.
  Array big = p.input("big", full({3, 40}, {2, 7}, 70000.0, DType::kInt32));
  Array big2 = p.input("big2", full({40, 2}, {7, 1}, 70001.0, DType::kInt32));
  Array t = p.input("t", uniform({4, 5, 6}, {3, 2, 4}, 22));
  Array u = p.input("u", uniform({5, 6, 3}, {2, 5, 2}, 23));
  Array tv = p.input("tv", uniform({6, 3, 4}, {4, 2, 3}, 24));
  Array bx = p.input("bx", uniform({3, 4, 5}, {2, 3, 2}, 25));
  Array by = p.input("by", uniform({3, 5, 2}, {1, 3, 2}, 26));
  Array c3 = p.input("c3", uniform({5, 4}, {2, 3}, 27));
  Array gu = p.input("gu", uniform({5, 4, 3}, {2, 3, 2}, 29));
  // Two contracted axes of 7 and 8 chunks: both cut into groups (of 4 and 3, 4 and 4).
  Array ga = p.input("ga", uniform({3, 45, 30}, {2, 7, 4}, 30));
  Array gb = p.input("gb", uniform({30, 45, 2}, {5, 6, 2}, 31));
  Array gi = p.input("gi", ints({3, 45, 30}, {2, 7, 4}, 32));
  Array gj = p.input("gj", ints({45, 30, 2}, {9, 4, 1}, 33));
  Array s = p.input("s", uniform({7}, {7}, 28).sum());

  p.add("matmul_2d", matmul(a, b), "a @ b");
  p.add("matmul_batch_broadcast", matmul(x, y), "x @ y");
  p.add("matmul_batch_broadcast_transposed", matmul(y.transpose({0, 2, 1}), x.transpose({0, 1, 3, 2})),
        "np.matmul(y.transpose(0, 2, 1), x.transpose(0, 1, 3, 2))");
  p.add("matmul_1d_2d", matmul(v, b), "v @ b");
  p.add("matmul_2d_1d", matmul(a, v), "a @ v");
  p.add("matmul_1d_1d", matmul(v, v), "v @ v");
  p.add("matmul_1d_3d", matmul(w, y), "w @ y");
  p.add("matmul_4d_1d", matmul(x, w), "x @ w");
  p.add("matmul_size1_row_col", matmul(row, col), "row @ col");
  p.add("matmul_size1_col_row", matmul(col, row), "col @ row");
  p.add("matmul_size1_batch", matmul(one, y), "one @ y");
  p.add("matmul_int32", matmul(ia, ib), "ia @ ib");
  p.add("matmul_int32_wraps", matmul(big, big2), "big @ big2");
  p.add("matmul_float32", matmul(fa, fb), "fa @ fb", 1e-5, 1e-6);
  p.add("matmul_int32_float32", matmul(ia, fb), "ia @ fb", 1e-6, 1e-6);
  p.add("matmul_float32_float64", matmul(fa, b), "fa @ b", 1e-12, 1e-12);
  p.add("matmul_bool", matmul(ba, bb), "ba @ bb");
  p.add("matmul_bool_int32", matmul(ba, ib), "ba @ ib");
  p.add("matmul_many_chunks", matmul(la, lb), "la @ lb");
  p.add("matmul_many_chunks_int32", matmul(li, lj), "li @ lj");
  p.add("matmul_many_chunks_float32", matmul(lf, lg), "lf @ lg", 1e-5, 1e-5);
  p.add("matmul_empty_contracted_axis", matmul(ones({3, 0}, {2, 1}), ones({0, 2}, {1, 1})),
        "np.ones((3, 0)) @ np.ones((0, 2))");
  p.add("matmul_empty_batch", matmul(ones({0, 2, 3}, {1, 2, 3}), ones({3, 2}, {2, 2})),
        "np.ones((0, 2, 3)) @ np.ones((3, 2))");
  p.add("matmul_many_chunks_1d", matmul(la.sum({0}), la.T()), "la.sum(axis=0) @ la.T");

  p.add("dot_1d_1d", dot(v, v), "np.dot(v, v)");
  p.add("dot_2d_2d", dot(a, b), "np.dot(a, b)");
  p.add("dot_3d_1d", dot(t, tv.sum({1, 2})), "np.dot(t, tv.sum(axis=(1, 2)))");
  p.add("dot_3d_2d", dot(t, u.sum({0})), "np.dot(t, u.sum(axis=0))");
  p.add("dot_2d_3d", dot(c3.T(), t), "np.dot(c3.T, t)");
  p.add("dot_1d_3d", dot(w, y), "np.dot(w, y)");
  p.add("dot_int32", dot(ia, ib), "np.dot(ia, ib)");
  p.add("dot_0d", dot(s, a), "np.dot(s, a)");
  p.add("dot_many_chunks_1d", dot(lf, lf), "np.dot(lf, lf)", 1e-5);

  p.add("tensordot_2", tensordot(t, u), "np.tensordot(t, u)");
  p.add("tensordot_1", tensordot(t, u.transpose({1, 0, 2}), 1), "np.tensordot(t, u.transpose(1, 0, 2), axes=1)");
  p.add("tensordot_0", tensordot(v, w, 0), "np.tensordot(v, w, axes=0)");
  p.add("tensordot_pairs", tensordot(t, tv, {0, 2}, {2, 0}), "np.tensordot(t, tv, axes=([0, 2], [2, 0]))");
  p.add("tensordot_negative_axes", tensordot(t, u, {-2}, {0}), "np.tensordot(t, u, axes=([-2], [0]))");
  p.add("tensordot_grouped_axes", tensordot(ga, gb, {1, 2}, {1, 0}), "np.tensordot(ga, gb, axes=([1, 2], [1, 0]))");
  p.add("tensordot_grouped_axes_int32", tensordot(gi, gj), "np.tensordot(gi, gj)");
  p.add("tensordot_int32", tensordot(ia, ib, 1), "np.tensordot(ia, ib, axes=1)");

  p.add("outer_1d", outer(v, w), "np.outer(v, w)");
  p.add("outer_nd", outer(t, c3), "np.outer(t, c3)");
  p.add("outer_int32_float32", outer(ia, fb), "np.outer(ia, fb)", 1e-6);
  p.add("outer_0d", outer(s, w), "np.outer(s, w)");

  p.add("einsum_matmul", einsum("ij,jk->ik", {a, b}), "np.einsum('ij,jk->ik', a, b)");
  p.add("einsum_column_sums", einsum("ij->j", {a}), "np.einsum('ij->j', a)");
  p.add("einsum_batched", einsum("bij,bjk->bik", {bx, by}), "np.einsum('bij,bjk->bik', bx, by)");
  p.add("einsum_inner", einsum("i,i->", {v, v}), "np.einsum('i,i->', v, v)");
  p.add("einsum_transpose", einsum("ij->ji", {a}), "np.einsum('ij->ji', a)");
  p.add("einsum_implicit", einsum("ij,jk", {a, b}), "np.einsum('ij,jk', a, b)");
  p.add("einsum_implicit_transpose", einsum("ji", {a}), "np.einsum('ji', a)");
  p.add("einsum_sum_all", einsum("ij->", {a}), "np.einsum('ij->', a)");
  p.add("einsum_general", einsum("ijk,jil->kl", {t, gu}), "np.einsum('ijk,jil->kl', t, gu)");
  p.add("einsum_output_order", einsum("bij,bjk->kbi", {bx, by}), "np.einsum('bij,bjk->kbi', bx, by)");
  p.add("einsum_lone_axes", einsum("ij,jk->k", {a, b}), "np.einsum('ij,jk->k', a, b)");
  p.add("einsum_outer", einsum("i,j->ij", {v, w}), "np.einsum('i,j->ij', v, w)");
  p.add("einsum_elementwise", einsum("ij,ij->ij", {a, a}), "np.einsum('ij,ij->ij', a, a)");
  p.add("einsum_three", einsum("ij,jk,kl->il", {a, b, c3}), "np.einsum('ij,jk,kl->il', a, b, c3)");
  p.add("einsum_int32", einsum("ij,jk->ik", {ia, ib}), "np.einsum('ij,jk->ik', ia, ib)");
  p.add("einsum_int32_sum", einsum("ij->i", {ia}), "np.einsum('ij->i', ia)");
  p.add("einsum_float32", einsum("ij,jk->ik", {fa, fb}), "np.einsum('ij,jk->ik', fa, fb)", 1e-5, 1e-6);
  p.add("einsum_many_chunks", einsum("ij,jk->ik", {la, lb}), "np.einsum('ij,jk->ik', la, lb)");
  EXPECT_TRUE(p.check()) << p.report();
}

}  // namespace
}  // namespace rsdat
