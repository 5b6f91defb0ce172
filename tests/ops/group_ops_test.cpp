// The grouped-reduction, histogram and distinct-value kernels on their own, through
// run_kernel: partials merged in order, and malformed parameters failing the task.
#include "ops/group.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "core/task.hpp"
#include "ops/builtin_ops.hpp"

namespace rsdat::ops {
namespace {

Chunk make(DType dt, Shape shape, const std::vector<double>& v) {
  Chunk c = Chunk::allocate(dt, std::move(shape));
  visit_dtype(dt, [&](auto t) {
    using T = decltype(t);
    for (int64_t i = 0; i < c.num_elements(); ++i) c.mutable_data<T>()[i] = static_cast<T>(v[static_cast<size_t>(i)]);
  });
  return c;
}

std::vector<double> values(const Chunk& c) {
  std::vector<double> v;
  visit_dtype(c.dtype, [&](auto t) {
    for (int64_t i = 0; i < c.num_elements(); ++i) v.push_back(static_cast<double>(c.data<decltype(t)>()[i]));
  });
  return v;
}

TaskSpec spec(const char* op, std::string params, DType dt, Shape shape) {
  TaskSpec s;
  s.key = {1, 0};
  s.op = op;
  s.params = std::move(params);
  s.dtype = dt;
  s.shape = std::move(shape);
  return s;
}

std::string group(GroupOp op, int64_t ngroups, std::vector<int64_t> slots, bool finalize) {
  GroupParams p;
  p.op = op;
  p.axis = 0;
  p.ngroups = ngroups;
  p.slots = std::move(slots);
  p.finalize = finalize;
  return encode_params(p);
}

// Two chunks of one 1-d axis: [1, NaN, 3] and [4, 5]; slots 0 1 0 | 1 0.
struct TwoChunks {
  Chunk a = make(DType::kFloat64, {3}, {1, NAN, 3});
  Chunk b = make(DType::kFloat64, {2}, {4, 5});
  std::vector<double> reduce(GroupOp op) {
    const DType pdt = group_partial_dtype(op, DType::kFloat64);
    const int64_t k = group_partial_lead(op);
    auto pa = run_kernel(spec(kGroupPartial, group(op, 2, {0, 1, 0}, false), pdt, {k, 2}), std::vector<Chunk>{a});
    auto pb = run_kernel(spec(kGroupPartial, group(op, 2, {1, 0}, false), pdt, {k, 2}), std::vector<Chunk>{b});
    EXPECT_TRUE(pa.ok() && pb.ok());
    auto r = run_kernel(spec(kGroupCombine, group(op, 2, {}, true), DType::kFloat64, {2}),
                        std::vector<Chunk>{*pa, *pb});
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? values(*r) : std::vector<double>{};
  }
};

void expect_values(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << i;
    } else {
      EXPECT_DOUBLE_EQ(got[i], want[i]) << i;
    }
  }
}

TEST(GroupOps, PartialsMergeInAxisOrder) {
  TwoChunks t;
  // Group 0 holds 1, 3, 5; group 1 holds NaN, 4.
  expect_values(t.reduce(GroupOp::kSum), {9, NAN});
  expect_values(t.reduce(GroupOp::kNanSum), {9, 4});
  expect_values(t.reduce(GroupOp::kNanMean), {3, 4});
  expect_values(t.reduce(GroupOp::kFirst), {1, NAN});
  expect_values(t.reduce(GroupOp::kLast), {5, 4});
  expect_values(t.reduce(GroupOp::kNanFirst), {1, 4});
  expect_values(t.reduce(GroupOp::kMax), {5, NAN});
  expect_values(t.reduce(GroupOp::kNanMin), {1, 4});
  expect_values(t.reduce(GroupOp::kNanVar), {8.0 / 3.0, 0});
  expect_values(t.reduce(GroupOp::kCount), {3, 1});
}

TEST(GroupOps, MedianGathersEveryInputOfItsGroups) {
  TwoChunks t;
  auto r = run_kernel(spec(kGroupPartial, group(GroupOp::kNanMedian, 2, {0, 1, 0, 1, 0}, true), DType::kFloat64, {2}),
                      std::vector<Chunk>{t.a, t.b});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  expect_values(values(*r), {3, 4});
}

TEST(GroupOps, MalformedParamsFailTheTask) {
  TwoChunks t;
  // Slots that do not cover the input, a slot past the groups, a partial of a median.
  EXPECT_FALSE(run_kernel(spec(kGroupPartial, group(GroupOp::kSum, 2, {0, 1}, true), DType::kFloat64, {2}),
                          std::vector<Chunk>{t.a}).ok());
  EXPECT_FALSE(run_kernel(spec(kGroupPartial, group(GroupOp::kSum, 2, {0, 2, 0}, true), DType::kFloat64, {2}),
                          std::vector<Chunk>{t.a}).ok());
  EXPECT_FALSE(run_kernel(spec(kGroupPartial, group(GroupOp::kMedian, 2, {0, 1, 0}, false), DType::kFloat64, {0, 2}),
                          std::vector<Chunk>{t.a}).ok());
  // Partials of different shapes.
  auto pa = run_kernel(spec(kGroupPartial, group(GroupOp::kSum, 2, {0, 1, 0}, false), DType::kFloat64, {1, 2}),
                       std::vector<Chunk>{t.a});
  ASSERT_TRUE(pa.ok());
  EXPECT_FALSE(run_kernel(spec(kGroupCombine, group(GroupOp::kSum, 3, {}, true), DType::kFloat64, {3}),
                          std::vector<Chunk>{*pa}).ok());
}

TEST(GroupOps, HistogramClosesTheLastBinAndSkipsNaN) {
  Chunk x = make(DType::kFloat64, {6}, {0, 0.5, 1, NAN, -1, 0.25});
  HistogramParams p;
  p.edges = {0, 0.5, 1};
  p.uniform = true;
  auto r = run_kernel(spec(kHistogram, encode_params(p), DType::kInt64, {1, 2}), std::vector<Chunk>{x});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  expect_values(values(*r), {2, 2});
}

TEST(GroupOps, UniqueCollapsesNaN) {
  Chunk x = make(DType::kFloat32, {6}, {2, NAN, 1, 2, NAN, 1});
  auto n = run_kernel(spec(kUniqueCount, "", DType::kInt64, {1}), std::vector<Chunk>{x});
  ASSERT_TRUE(n.ok());
  expect_values(values(*n), {3});
  auto v = run_kernel(spec(kUniqueValues, "", DType::kFloat32, {3}), std::vector<Chunk>{x});
  auto c = run_kernel(spec(kUniqueCounts, "", DType::kInt64, {3}), std::vector<Chunk>{x});
  ASSERT_TRUE(v.ok() && c.ok());
  expect_values(values(*v), {1, 2, NAN});
  expect_values(values(*c), {2, 2, 2});
}

}  // namespace
}  // namespace rsdat::ops
