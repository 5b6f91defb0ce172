// Scans (cumsum, cumprod, nancumsum, nancumprod, cummax, cummin) and differences (diff,
// ediff1d) against NumPy on chunked inputs, on a real scheduler and 2 workers; and the
// graph a scan lowers to: no task reads two blocks of one array along the scanned axis.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "client/array_internal.hpp"
#include "rsdat/rsdat.hpp"
#include "tests/integration/cluster_suite.hpp"
#include "tests/numpy/numpy_parity.hpp"

namespace rsdat {
namespace {

using test_support::NumpyParity;

class ScanTest : public test_support::ClusterSuite {};

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// Inputs on irregular chunk grids: several chunks along every axis, of sizes 1 and up.
struct Inputs {
  Array a, w, f, i, i8, u8, b, v;
  explicit Inputs(NumpyParity& p) {
    const Shape shape{7, 10, 9};
    const Chunks chunks{{2, 1, 4}, {1, 3, 3, 3}, {4, 1, 4}};
    auto u = [&](uint64_t seed, DType t = DType::kFloat64) { return random::uniform(shape, {3, 4, 5}, seed, t).rechunk(chunks); };
    a = p.input("a", u(1));
    w = p.input("w", where(u(2) < 0.15, kNaN, u(3) + 0.5));  // NaN in about one value of seven
    f = p.input("f", u(4, DType::kFloat32));
    i = p.input("i", (u(5) * 2e9 - 1e9).astype(DType::kInt32));
    i8 = p.input("i8", (u(6) * 250.0 - 125.0).astype(DType::kInt8));
    u8 = p.input("u8", (u(7) * 255.0).astype(DType::kUInt8));
    b = p.input("b", u(8) > 0.6);
    // A long 1-d axis of many chunks (29 blocks, the last one shorter).
    v = p.input("v", random::uniform({200}, {7}, 9) - 0.5);
  }
};

TEST_F(ScanTest, CumsumAlongEveryAxisMatchesNumpy) {
  NumpyParity p("scan-cumsum");
  Inputs in(p);
  p.add("cumsum_axis0", cumsum(in.a, 0), "np.cumsum(a, axis=0)");
  p.add("cumsum_axis1", cumsum(in.a, 1), "np.cumsum(a, axis=1)");
  p.add("cumsum_axis2", cumsum(in.a, 2), "np.cumsum(a, axis=2)");
  p.add("cumsum_axis_minus2", cumsum(in.a, -2), "np.cumsum(a, axis=-2)");
  p.add("cumsum_flattened", cumsum(in.a), "np.cumsum(a)", 1e-10);
  p.add("cumsum_f32_keeps_f32", cumsum(in.f, 1), "np.cumsum(f, axis=1)", 1e-5);
  p.add("cumsum_long_axis", cumsum(in.v), "np.cumsum(v)", 1e-9, 1e-12);
  p.add("cumsum_long_axis_log_depth", cumsum(in.v, 0, std::nullopt, ScanMethod::kLogDepth), "np.cumsum(v)", 1e-9,
        1e-12);
  p.add("cumsum_log_depth_axis1", cumsum(in.a, 1, std::nullopt, ScanMethod::kLogDepth), "np.cumsum(a, axis=1)");
  p.add("cumsum_dtype_f32", cumsum(in.a, 0, DType::kFloat32), "np.cumsum(a, axis=0, dtype=np.float32)", 1e-6);
  p.add("cumprod_axis2", cumprod(in.a + 0.5, 2), "np.cumprod(a + 0.5, axis=2)");
  p.add("cumprod_axis0_log_depth", cumprod(in.a + 0.5, 0, std::nullopt, ScanMethod::kLogDepth),
        "np.cumprod(a + 0.5, axis=0)");
  p.add("cumprod_long_axis", cumprod(in.v + 1.0), "np.cumprod(v + 1.0)", 1e-9);
  // An elementwise producer fused into both passes, and a reduction after the scan.
  p.add("cumsum_of_expression", cumsum(in.a * 2.0 - in.f, 1), "np.cumsum(a * 2.0 - f, axis=1)", 1e-12, 1e-12);
  p.add("cumsum_of_broadcast_expression", cumsum(in.a - in.a.mean({0}), 0), "np.cumsum(a - a.mean(axis=0), axis=0)",
        1e-12, 1e-14);
  p.add("cumsum_of_int_times_float", cumsum(in.i * 0.5, 2), "np.cumsum(i * 0.5, axis=2)");
  Array m = p.input("m", random::uniform({9, 13}, {4, 5}, 21));
  p.add("cumsum_of_transposed_expression", cumsum(m.T() + 1.0, 0), "np.cumsum(m.T + 1.0, axis=0)");
  p.add("cummin_of_transposed_expression", cummin(m.T() * 2.0, 1), "np.minimum.accumulate(m.T * 2.0, axis=1)");
  p.add("cumsum_then_mean", cumsum(in.a, 0).mean({0}), "np.cumsum(a, axis=0).mean(axis=0)");
  p.add("cumsum_then_max", (cumsum(in.a, 2) >= 2.0).max({2}), "(np.cumsum(a, axis=2) >= 2.0).max(axis=2)");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(ScanTest, IntegerAndBoolDtypesAndWrapAsNumpy) {
  NumpyParity p("scan-ints");
  Inputs in(p);
  p.add("cumsum_i32_gives_i64", cumsum(in.i, 0), "np.cumsum(i, axis=0)");
  p.add("cumprod_i32_wraps_in_i64", cumprod(in.i, 1), "np.cumprod(i, axis=1)");
  p.add("cumprod_i32_flat_wraps", cumprod(in.i), "np.cumprod(i)");
  p.add("cumsum_i8_gives_i64", cumsum(in.i8, 2), "np.cumsum(i8, axis=2)");
  p.add("cumsum_i8_dtype_i8_wraps", cumsum(in.i8, 1, DType::kInt8), "np.cumsum(i8, axis=1, dtype=np.int8)");
  p.add("cumsum_u8_gives_u64", cumsum(in.u8, 0), "np.cumsum(u8, axis=0)");
  p.add("cumsum_u8_dtype_u8_wraps", cumsum(in.u8, 2, DType::kUInt8), "np.cumsum(u8, axis=2, dtype=np.uint8)");
  p.add("cumprod_u8_wraps_in_u64", cumprod(in.u8, 1), "np.cumprod(u8, axis=1)");
  p.add("cumsum_i32_dtype_f32", cumsum(in.i, 2, DType::kFloat32), "np.cumsum(i, axis=2, dtype=np.float32)", 1e-5);
  p.add("cumsum_bool_gives_i64", cumsum(in.b, 1), "np.cumsum(b, axis=1)");
  p.add("cumprod_bool", cumprod(in.b, 0), "np.cumprod(b, axis=0)");
  p.add("cummax_bool", cummax(in.b, 2), "np.maximum.accumulate(b, axis=2)");
  p.add("cummax_i8", cummax(in.i8, 0), "np.maximum.accumulate(i8, axis=0)");
  p.add("cummin_u8", cummin(in.u8, 1), "np.minimum.accumulate(u8, axis=1)");
  p.add("nancumsum_int_is_cumsum", nancumsum(in.i8, 1), "np.nancumsum(i8, axis=1)");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(ScanTest, NanFormsAndRunningExtremaMatchNumpy) {
  NumpyParity p("scan-nan");
  Inputs in(p);
  p.add("cumsum_nan_propagates", cumsum(in.w, 1), "np.cumsum(w, axis=1)");
  p.add("nancumsum_axis0", nancumsum(in.w, 0), "np.nancumsum(w, axis=0)");
  p.add("nancumsum_axis2", nancumsum(in.w, 2), "np.nancumsum(w, axis=2)");
  p.add("nancumsum_flattened", nancumsum(in.w), "np.nancumsum(w)", 1e-10);
  p.add("nancumprod_axis1", nancumprod(in.w, 1), "np.nancumprod(w, axis=1)");
  p.add("nancumprod_log_depth", nancumprod(in.w, 0, std::nullopt, ScanMethod::kLogDepth), "np.nancumprod(w, axis=0)");
  p.add("cummax_nan_stays", cummax(in.w, 1), "np.maximum.accumulate(w, axis=1)");
  p.add("cummin_nan_stays", cummin(in.w, 0), "np.minimum.accumulate(w, axis=0)");
  p.add("cummax_axis2", cummax(in.a, 2), "np.maximum.accumulate(a, axis=2)");
  p.add("cummin_f32_flattened", cummin(in.f), "np.minimum.accumulate(f.ravel())");
  p.add("cummax_of_expression", cummax(in.a - in.w, -1), "np.maximum.accumulate(a - w, axis=-1)");
  p.add("cummax_long_axis_log_depth", cummax(in.v, 0, ScanMethod::kLogDepth), "np.maximum.accumulate(v)");
  EXPECT_TRUE(p.check()) << p.report();
}

TEST_F(ScanTest, SizeZeroSizeOneAndZeroDimensional) {
  NumpyParity p("scan-edges");
  Array e = p.input("e", random::uniform({4, 0, 3}, {2, 1, 2}, 1));
  Array s = p.input("s", random::uniform({1, 5}, {1, 2}, 2));
  Array z = p.input("z", random::uniform({}, {}, 3));
  p.add("cumsum_empty_axis", cumsum(e, 1), "np.cumsum(e, axis=1)");
  p.add("cumsum_along_axis_of_empty", cumsum(e, 0), "np.cumsum(e, axis=0)");
  p.add("cumsum_empty_flattened", cumsum(e), "np.cumsum(e)");
  p.add("cumprod_size1_axis", cumprod(s, 0), "np.cumprod(s, axis=0)");
  p.add("cummax_size1_rows", cummax(s, 1), "np.maximum.accumulate(s, axis=1)");
  p.add("cumsum_0d", cumsum(z), "np.cumsum(z)");
  p.add("cumprod_0d_axis0", cumprod(z, 0), "np.cumprod(z, axis=0)");
  p.add("diff_empty_axis", diff(e, 1, 1), "np.diff(e, axis=1)");
  EXPECT_TRUE(p.check()) << p.report();
  EXPECT_THROW(cumsum(s, 2), std::invalid_argument);
  EXPECT_THROW(cumsum(s, -3), std::invalid_argument);
  EXPECT_THROW(cummax(z, 1), std::invalid_argument);
}

TEST_F(ScanTest, DiffAndEdiff1dMatchNumpy) {
  NumpyParity p("scan-diff");
  Inputs in(p);
  Array before = p.input("before", random::uniform({7, 1, 9}, {3, 1, 4}, 11));
  Array after = p.input("after", random::uniform({7, 3, 9}, {2, 3, 9}, 12));
  Array zero_d = p.input("zero_d", full({}, {}, 0.25));
  p.add("diff_last_axis", diff(in.a), "np.diff(a)");
  p.add("diff_axis0", diff(in.a, 1, 0), "np.diff(a, axis=0)");
  p.add("diff_second_order", diff(in.a, 2, 1), "np.diff(a, n=2, axis=1)");
  p.add("diff_third_order_long", diff(in.v, 3), "np.diff(v, n=3)", 1e-12, 1e-15);
  p.add("diff_n_beyond_axis", diff(in.a, 12, 1), "np.diff(a, n=12, axis=1)");
  p.add("diff_n_zero", diff(in.a, 0), "np.diff(a, n=0)");
  p.add("diff_bool_not_equal", diff(in.b, 1, 2), "np.diff(b, axis=2)");
  p.add("diff_u8_wraps", diff(in.u8, 1, 0), "np.diff(u8, axis=0)");
  p.add("diff_i8_second_order", diff(in.i8, 2, -1), "np.diff(i8, n=2)");
  p.add("diff_nan", diff(in.w, 1, 1), "np.diff(w, axis=1)");
  p.add("diff_prepend_append", diff(in.a, 1, 1, before, after),
        "np.diff(a, axis=1, prepend=before, append=after)");
  p.add("diff_prepend_0d", diff(in.a, 2, 2, zero_d), "np.diff(a, n=2, axis=2, prepend=zero_d)");
  p.add("diff_of_cumsum", diff(cumsum(in.i, 0), 1, 0), "np.diff(np.cumsum(i, axis=0), axis=0)");
  p.add("ediff1d", ediff1d(in.a), "np.ediff1d(a)");
  p.add("ediff1d_ends", ediff1d(in.i8, in.u8, full({2}, {-1}, 3.0)), "np.ediff1d(i8, to_end=u8.astype(np.int8), to_begin=np.full(2, 3, np.int8))");
  EXPECT_TRUE(p.check()) << p.report();
  EXPECT_THROW(diff(in.a, -1), std::invalid_argument);
  EXPECT_THROW(diff(full({}, {}, 1.0)), std::invalid_argument);
  EXPECT_THROW(diff(in.a, 1, 3), std::invalid_argument);
  EXPECT_THROW(ediff1d(in.b), std::invalid_argument);
}

// The tasks of `root`'s graph, and for each the extent along `axis` of every block it
// reads, by the array the block belongs to.
struct Reads {
  std::vector<TaskSpec> tasks;
  std::map<TaskKey, Shape> shape_of;
  explicit Reads(const Array& root) : tasks(detail::lower_graph(*root.node())) {
    for (const TaskSpec& t : tasks) shape_of[t.key] = t.shape;
  }
  // The most blocks of one array with more than one element along `axis` a task reads.
  int max_blocks_along(size_t axis) const {
    int most = 0;
    for (const TaskSpec& t : tasks) {
      std::map<uint64_t, int> per_array;
      for (const TaskKey& k : t.deps) {
        const Shape& s = shape_of.at(k);
        if (s.size() > axis && s[axis] > 1) most = std::max(most, ++per_array[k.token]);
      }
    }
    return most;
  }
  int count(const std::string& op) const {
    int n = 0;
    for (const TaskSpec& t : tasks) n += t.op == op;
    return n;
  }
};

TEST(ScanGraph, NoTaskReadsTwoBlocksOfTheScannedAxis) {
  // 12 blocks along axis 0, 3 along axis 1.
  Array x = random::uniform({24, 9}, {2, 3}, 1);
  Array y = random::uniform({24, 9}, {2, 3}, 2);
  for (ScanMethod m : {ScanMethod::kSequential, ScanMethod::kLogDepth}) {
    for (const Array& s : {cumsum(x, 0, std::nullopt, m), cummax(x * 2.0 + y, 0, m), nancumprod(x, 0, std::nullopt, m)}) {
      Reads r(s);
      EXPECT_EQ(r.max_blocks_along(0), 1);
      // Every output block is one block of the input's grid: the axis is not rechunked.
      for (const TaskSpec& t : r.tasks) EXPECT_LE(t.shape.empty() ? 0 : t.shape[0], 2);
      EXPECT_EQ(r.count(ops::kScanBlock), 12 * 3);
      // The producer is evaluated inside the scan's own tasks, never stored.
      EXPECT_EQ(r.count(ops::kElementwise), 0);
    }
  }
  // The prefix: a chain of 11 combines per column (totals of blocks 0..10), or
  // ceil(log2 11) = 4 levels of 11.
  EXPECT_EQ(Reads(cumsum(x, 0)).count(ops::kReduceCombine), 11 * 3);
  EXPECT_EQ(Reads(cumsum(x, 0, std::nullopt, ScanMethod::kLogDepth)).count(ops::kReduceCombine), 4 * 11 * 3);
  // One block along the axis: the block scanned alone, no totals.
  Reads single(cumsum(random::uniform({24, 9}, {2, 9}, 3), 1));
  EXPECT_EQ(single.count(ops::kScanBlock), 12);
  EXPECT_EQ(single.count(ops::kReducePartial) + single.count(ops::kReduceCombine), 0);
}

}  // namespace
}  // namespace rsdat
