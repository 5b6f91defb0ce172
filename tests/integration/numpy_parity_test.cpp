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

TEST_F(NumpyParityTest, ArgAndNanReductions) {
  NumpyParity p("arg-and-nan-reductions");
  Inputs in(p);
  // A size-1 axis, and zeros of both signs (equal: ties, whichever chunk they are in).
  Array s1 = p.input("s1", random::uniform({6, 1, 5}, {4, 1, 2}, 12));
  Array z = p.input("z", where(in.a > 0.5, zeros_like(in.a), -0.0));
  p.add("argmax_axis0", in.a.argmax(0), "np.argmax(a, axis=0)");
  p.add("argmin_axis1", in.a.argmin(1), "np.argmin(a, axis=1)");
  p.add("argmax_negative_axis", in.f.argmax(-1), "np.argmax(f, axis=-1)");
  p.add("argmin_flat_is_0d", in.a.argmin(), "np.argmin(a)");
  p.add("argmax_flat_deep_tree", in.a.argmax(std::nullopt, 2), "np.argmax(a)");
  p.add("argmax_ties_first_i32", in.i.argmax(0), "np.argmax(i, axis=0)");
  p.add("argmin_ties_first_u8", in.u.argmin(2), "np.argmin(u, axis=2)");
  p.add("argmax_flat_ties", in.i.argmax(), "np.argmax(i)");
  p.add("argmax_signed_zeros_tie", z.argmax(0), "np.argmax(z, axis=0)");
  p.add("argmin_signed_zeros_flat", z.argmin(), "np.argmin(z)");
  p.add("argmax_first_nan_wins", in.w.argmax(0), "np.argmax(w, axis=0)");
  p.add("argmin_first_nan_wins", in.w.argmin(2), "np.argmin(w, axis=2)");
  p.add("argmax_flat_first_nan", in.w.argmax(), "np.argmax(w)");
  p.add("argmax_infinities", where(isnan(in.w), 0.5, in.w).argmax(1), "np.argmax(np.where(np.isnan(w), 0.5, w), axis=1)");
  p.add("argmin_neg_infinity", where(isnan(in.w), 0.5, in.w).argmin(), "np.argmin(np.where(np.isnan(w), 0.5, w))");
  p.add("nanargmax_axis0", in.w.nanargmax(0), "np.nanargmax(w, axis=0)");
  p.add("nanargmin_axis1", in.w.nanargmin(1), "np.nanargmin(w, axis=1)");
  p.add("nanargmax_flat", in.w.nanargmax(), "np.nanargmax(w)");
  p.add("nanargmin_f32_flat", in.w.astype(DType::kFloat32).nanargmin(), "np.nanargmin(w.astype(np.float32))");
  p.add("nanargmax_ints", in.i.nanargmax(1), "np.nanargmax(i, axis=1)");
  p.add("argmax_fused_chain", (in.a * 2.0 - in.f).argmax(0), "np.argmax(a * 2.0 - f, axis=0)");
  p.add("argmin_fused_flat", sin(in.a * 7.0).argmin(), "np.argmin(np.sin(a * 7.0))");
  p.add("nanargmax_fused", (in.w * -1.0).nanargmax(2, 2), "np.nanargmax(w * -1.0, axis=2)");
  p.add("argmax_size1_axis", s1.argmax(1), "np.argmax(s1, axis=1)");
  p.add("argmin_size1_keepdims", s1.argmin(0, {.keepdims = true}), "np.argmin(s1, axis=0, keepdims=True)");
  p.add("argmax_flat_keepdims", in.a.argmax(std::nullopt, 8, true), "np.argmax(a, keepdims=True)");
  p.add("argmax_bool", (in.a > 0.9).argmax(0), "np.argmax(a > 0.9, axis=0)");
  // Chunks wide enough (600 output elements: a tile of 512 and a rest) for the kernel's
  // walk in tiles across rows, with ties (values rounded to 20 levels) and NaN.
  Array r = random::uniform({10, 40, 30}, {4, 20, 30}, 13);
  Array big = p.input("big", where(r > 0.93, std::nan(""), round(random::uniform({10, 40, 30}, {4, 20, 30}, 14) * 20.0)));
  p.add("argmax_wide_nan_wins", big.argmax(0), "np.argmax(big, axis=0)");
  p.add("argmin_wide_f32", big.astype(DType::kFloat32).argmin(0), "np.argmin(big.astype(np.float32), axis=0)");
  p.add("nanargmax_wide", big.nanargmax(0), "np.nanargmax(big, axis=0)");
  p.add("nanargmin_wide_keepdims", big.nanargmin(0, 2, true), "np.nanargmin(big, axis=0, keepdims=True)");
  p.add("argmax_wide_ints", nan_to_num(big, -1.0).astype(DType::kInt16).argmax(0),
        "np.argmax(np.nan_to_num(big, nan=-1.0).astype(np.int16), axis=0)");
  p.add("argmin_wide_fused", (nan_to_num(big, 5.0) * -1.0).argmin(0), "np.argmin(np.nan_to_num(big, nan=5.0) * -1.0, axis=0)");
  // Every dtype: argmax and argmin, and the sums' and means' result dtypes.
  const std::vector<std::pair<DType, const char*>> ints = {
      {DType::kInt8, "int8"},     {DType::kInt16, "int16"},   {DType::kInt32, "int32"},
      {DType::kInt64, "int64"},   {DType::kUInt8, "uint8"},   {DType::kUInt16, "uint16"},
      {DType::kUInt32, "uint32"}, {DType::kUInt64, "uint64"}, {DType::kFloat32, "float32"},
      {DType::kFloat64, "float64"}};
  for (const auto& dt : ints) {
    const std::string t = dt.second;
    const bool is_unsigned = t[0] == 'u';
    Array x = (is_unsigned ? in.u : in.i).astype(dt.first);
    const std::string xs = std::string(is_unsigned ? "u" : "i") + ".astype(np." + t + ")";
    p.add("argmax_" + t, x.argmax(1), "np.argmax(" + xs + ", axis=1)");
    p.add("argmin_flat_" + t, x.argmin(), "np.argmin(" + xs + ")");
    p.add("sum_" + t, x.sum({0}), "np.sum(" + xs + ", axis=0)");
    p.add("mean_" + t, x.mean({2}), "np.mean(" + xs + ", axis=2)", 1e-6);
    p.add("nanvar_" + t, x.nanvar({0}), "np.nanvar(" + xs + ", axis=0)", 1e-5);
  }
  p.add("sum_bool_is_int64", (in.a > 0.5).sum({0}), "np.sum(a > 0.5, axis=0)");
  p.add("mean_bool", (in.a > 0.5).mean(), "np.mean(a > 0.5)");
  // uint32 above int32's range, whose keys in the narrow partials are shifted.
  p.add("argmax_uint32_large", (in.u.astype(DType::kUInt32) * 20000000).argmax(0),
        "np.argmax(u.astype(np.uint32) * 20000000, axis=0)");
  p.add("argmin_uint32_large_flat", (in.u.astype(DType::kUInt32) * 20000000).argmin(),
        "np.argmin(u.astype(np.uint32) * 20000000)");
  p.add("argmax_int64_large", (in.i.astype(DType::kInt64) * int64_t{1000000007}).argmax(2),
        "np.argmax(i.astype(np.int64) * 1000000007, axis=2)");
  // nanvar and nanstd: NaN skipped, infinities make NaN, NaN where count - ddof <= 0.
  p.add("nanvar_axis0", in.w.nanvar({0}), "np.nanvar(w, axis=0)");
  p.add("nanvar_finite_ddof1", where(isinf(in.w), 0.25, in.w).nanvar({0, 2}, 1),
        "np.nanvar(np.where(np.isinf(w), 0.25, w), axis=(0, 2), ddof=1)");
  p.add("nanstd_finite", where(isinf(in.w), 0.25, in.w).nanstd({1}), "np.nanstd(np.where(np.isinf(w), 0.25, w), axis=1)");
  p.add("nanstd_all", where(isinf(in.w), 0.25, in.w).nanstd(), "np.nanstd(np.where(np.isinf(w), 0.25, w))");
  p.add("nanvar_f32", where(isinf(in.w), 0.25, in.w).astype(DType::kFloat32).nanvar({0}),
        "np.nanvar(np.where(np.isinf(w), 0.25, w).astype(np.float32), axis=0)", 1e-5);
  p.add("nanvar_ddof_too_large", where(isinf(in.w), 0.25, in.w).nanvar({2}, 4),
        "np.nanvar(np.where(np.isinf(w), 0.25, w), axis=2, ddof=4)");
  p.add("nanvar_all_nan_is_nan", (in.a * std::nan("")).nanvar({1}), "np.nanvar(a * np.nan, axis=1)");
  p.add("nanstd_ints", in.i.nanstd({0}, 1), "np.nanstd(i, axis=0, ddof=1)");
  // The free functions, as NumPy's.
  p.add("free_sum", rsdat::sum(in.i, {-1}), "np.sum(i, axis=-1)");
  p.add("free_min_max", rsdat::max(in.a, {0}) - rsdat::min(in.a, {0}), "np.max(a, axis=0) - np.min(a, axis=0)");
  p.add("free_std", rsdat::std(in.a, {1}, 1), "np.std(a, axis=1, ddof=1)");
  p.add("free_argmax", rsdat::argmax(in.f, 2), "np.argmax(f, axis=2)");
  p.add("free_nanargmin", rsdat::nanargmin(in.w, 0), "np.nanargmin(w, axis=0)");
  p.add("free_any_all", rsdat::any(in.i > 8, {0}) | rsdat::all(in.u, {0}, {.split_every = 2}),
        "np.any(i > 8, axis=0) | np.all(u, axis=0)");
  p.add("free_nanmean_ptp", rsdat::nanmean(in.w, {0}) + rsdat::ptp(in.a, {0}), "np.nanmean(w, axis=0) + np.ptp(a, axis=0)");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(NumpyParityTest, Keepdims) {
  NumpyParity p("keepdims");
  Inputs in(p);
  p.add("sum_keepdims", in.a.sum({0}, 8, true), "np.sum(a, axis=0, keepdims=True)");
  p.add("sum_keepdims_options", in.i.sum({0, 2}, {.keepdims = true}), "np.sum(i, axis=(0, 2), keepdims=True)");
  p.add("prod_keepdims_single_block", (in.a + 0.5).prod({-1}, {.split_every = 4, .keepdims = true}),
        "np.prod(a + 0.5, axis=-1, keepdims=True)");
  p.add("max_all_keepdims", in.w.max({}, 2, true), "np.max(w, keepdims=True)");
  p.add("nanmin_keepdims", in.w.nanmin({1}, 8, true), "np.nanmin(w, axis=1, keepdims=True)");
  p.add("mean_keepdims_broadcasts", in.a - in.a.mean({0}, 8, true), "a - np.mean(a, axis=0, keepdims=True)");
  p.add("var_keepdims", in.f.var({1}, 1, 8, true), "np.var(f, axis=1, ddof=1, keepdims=True)", 1e-5);
  p.add("std_keepdims_options", in.a.std({0, 1}, 0, {.keepdims = true}), "np.std(a, axis=(0, 1), keepdims=True)");
  p.add("nanvar_keepdims", in.w.nanvar({0}, 0, {.keepdims = true}), "np.nanvar(w, axis=0, keepdims=True)");
  p.add("nanmean_keepdims", in.w.nanmean({2}, 8, true), "np.nanmean(w, axis=2, keepdims=True)");
  p.add("count_nonzero_keepdims", in.i.count_nonzero({1}, 8, true), "np.count_nonzero(i, axis=1, keepdims=True)");
  p.add("ptp_keepdims", in.u.ptp({0}, 8, true), "np.ptp(u, axis=0, keepdims=True)");
  p.add("any_keepdims", (in.a > 0.95).any({0, 1}, 8, true), "np.any(a > 0.95, axis=(0, 1), keepdims=True)");
  p.add("argmax_keepdims", in.a.argmax(1, 8, true), "np.argmax(a, axis=1, keepdims=True)");
  p.add("nanargmin_keepdims", in.w.nanargmin(0, {.keepdims = true}), "np.nanargmin(w, axis=0, keepdims=True)");
  p.add("free_mean_keepdims", rsdat::mean(in.f, {0}, 8, true), "np.mean(f, axis=0, keepdims=True)", 1e-6);
  p.add("fused_sum_keepdims", (in.a * 3.0).sum({1}, 8, true), "np.sum(a * 3.0, axis=1, keepdims=True)");
  EXPECT_TRUE(p.check()) << p.report();
}

}  // namespace
}  // namespace rsdat
