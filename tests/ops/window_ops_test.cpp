// The window kernels on their own, through run_kernel: joining a block with its halo,
// refusing parameters that do not fit the inputs, and rolling statistics by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/task.hpp"
#include "ops/builtin_ops.hpp"
#include "ops/window.hpp"

namespace rsdat::ops {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Chunk make(Shape shape, std::vector<double> values) {
  Chunk c = Chunk::allocate(DType::kFloat64, std::move(shape));
  for (size_t i = 0; i < values.size(); ++i) c.mutable_data<double>()[i] = values[i];
  return c;
}

TaskSpec spec(const char* op, std::string params, Shape shape, DType dt = DType::kFloat64) {
  TaskSpec s;
  s.key = {1, 0};
  s.op = op;
  s.params = std::move(params);
  s.dtype = dt;
  s.shape = std::move(shape);
  return s;
}

std::vector<double> values(const Chunk& c) {
  return std::vector<double>(c.data<double>(), c.data<double>() + c.num_elements());
}

TEST(WindowOps, OverlapJoinsTheBlockWithItsSlabsAndTrims) {
  OverlapParams p;
  p.ext_shape = {2, 3};
  p.in_offsets = {{0, 1}, {0, 0}};  // the block at column 1, a slab of one column before it
  p.inner_shape = {2, 3};
  p.trim = {0, 1};
  std::vector<Chunk> in = {make({2, 2}, {1, 2, 3, 4}), make({2, 1}, {9, 8})};
  auto r = run_kernel(spec(kOverlap, encode_params(p), {2, 2}), in);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(values(*r), (std::vector<double>{1, 2, 3, 4}));
  p.trim = {0, 0};
  r = run_kernel(spec(kOverlap, encode_params(p), {2, 3}), in);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(values(*r), (std::vector<double>{9, 1, 2, 8, 3, 4}));
}

TEST(WindowOps, OverlapRefusesParametersThatDoNotFitItsInputs) {
  std::vector<Chunk> in = {make({2, 2}, {1, 2, 3, 4}), make({2, 1}, {9, 8})};
  OverlapParams p;
  p.ext_shape = {2, 4};  // one column not covered
  p.in_offsets = {{0, 1}, {0, 0}};
  p.inner_shape = {2, 4};
  p.trim = {0, 0};
  EXPECT_FALSE(run_kernel(spec(kOverlap, encode_params(p), {2, 4}), in).ok());
  p.ext_shape = {int64_t{1} << 40, int64_t{1} << 40};  // never allocated
  p.inner_shape = p.ext_shape;
  EXPECT_FALSE(run_kernel(spec(kOverlap, encode_params(p), {2, 2}), in).ok());
  p.ext_shape = {2, 3};
  p.inner_shape = {2, 3};
  p.in_offsets = {{0, 2}, {0, 0}};  // the block sticks out
  EXPECT_FALSE(run_kernel(spec(kOverlap, encode_params(p), {2, 3}), in).ok());
  p.in_offsets = {{0, 1}};
  EXPECT_FALSE(run_kernel(spec(kOverlap, encode_params(p), {2, 3}), in).ok());
  p.in_offsets = {{0, 1}, {0, 0}};
  p.inner = "no_such_op";
  EXPECT_FALSE(run_kernel(spec(kOverlap, encode_params(p), {2, 3}), in).ok());
}

TEST(WindowOps, RollingSkipsNaNAndCountsMinPeriods) {
  // Two halo elements (NaN: outside the array) before [1, NaN, 3, 4, inf].
  Chunk in = make({7}, {kNaN, kNaN, 1, kNaN, 3, 4, std::numeric_limits<double>::infinity()});
  RollingParams p;
  p.axis = 0;
  p.lo = 2;
  p.before = 2;
  p.after = 0;
  p.min_periods = 2;
  auto run = [&](RollingStat s) {
    p.stat = s;
    auto r = run_kernel(spec(kRolling, encode_params(p), {5}), std::vector<Chunk>{in});
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? values(*r) : std::vector<double>{};
  };
  auto same = [](const std::vector<double>& got, const std::vector<double>& want) {
    if (got.size() != want.size()) return false;
    for (size_t i = 0; i < got.size(); ++i) {
      if (!(got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i])))) return false;
    }
    return true;
  };
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(same(run(RollingStat::kSum), {kNaN, kNaN, 4, 7, inf}));
  EXPECT_TRUE(same(run(RollingStat::kCount), {kNaN, kNaN, 2, 2, 3}));
  EXPECT_TRUE(same(run(RollingStat::kMax), {kNaN, kNaN, 3, 4, inf}));
  EXPECT_TRUE(same(run(RollingStat::kMedian), {kNaN, kNaN, 2, 3.5, 4}));
  EXPECT_TRUE(same(run(RollingStat::kVar), {kNaN, kNaN, 1, 0.25, kNaN}));
  p.lo = 1;  // the halo no longer holds the window
  p.stat = RollingStat::kSum;
  EXPECT_FALSE(run_kernel(spec(kRolling, encode_params(p), {5}), std::vector<Chunk>{in}).ok());
}

TEST(WindowOps, FilterRefusesAHaloThatDoesNotHoldTheWindow) {
  Chunk in = make({5}, {1, 2, 3, 4, 5});
  WindowFilterParams p;
  p.kind = FilterKind::kUniform;
  p.lo = {1};
  p.before = {1};
  p.size = {3};
  auto r = run_kernel(spec(kWindowFilter, encode_params(p), {3}), std::vector<Chunk>{in});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(values(*r), (std::vector<double>{2, 3, 4}));
  EXPECT_FALSE(run_kernel(spec(kWindowFilter, encode_params(p), {4}), std::vector<Chunk>{in}).ok());
  p.size = {0};
  EXPECT_FALSE(run_kernel(spec(kWindowFilter, encode_params(p), {3}), std::vector<Chunk>{in}).ok());
}

}  // namespace
}  // namespace rsdat::ops
