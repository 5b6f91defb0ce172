// Building arrays and lowering them to tasks: no cluster involved.
#include <gtest/gtest.h>

#include <unordered_set>

#include "client/array_internal.hpp"
#include "rsdat/array.hpp"

namespace rsdat {
namespace {

TEST(Graph, RegularChunksCoverTheShape) {
  auto c = detail::regular_chunks({10, 7, 0}, {4, -1, 3});
  EXPECT_EQ(c[0], (std::vector<int64_t>{4, 4, 2}));
  EXPECT_EQ(c[1], (std::vector<int64_t>{7}));
  EXPECT_EQ(c[2], (std::vector<int64_t>{0}));
  EXPECT_THROW(detail::regular_chunks({10}, {0}), std::invalid_argument);
  EXPECT_THROW(detail::regular_chunks({10}, {2, 2}), std::invalid_argument);
}

TEST(Graph, BlockIndexRoundTrips) {
  Chunks c = detail::regular_chunks({10, 7, 5}, {3, 2, 5});
  for (int64_t i = 0; i < detail::num_blocks(c); ++i) {
    auto b = detail::unravel_block(c, static_cast<uint64_t>(i));
    EXPECT_EQ(detail::linear_block(c, b), static_cast<uint64_t>(i));
  }
  EXPECT_EQ(detail::block_offset(c, {3, 3, 0}), (Shape{9, 6, 0}));
  EXPECT_EQ(detail::block_shape(c, {3, 3, 0}), (Shape{1, 1, 5}));
}

TEST(Graph, ElementwiseChainsFuseIntoOneTaskPerChunk) {
  auto x = random::uniform({100, 100}, {10, 10}, 1);
  auto y = random::uniform({100, 100}, {10, 10}, 2);
  auto z = ((x + y) * 2.0 - x / y).astype(DType::kFloat32);
  auto tasks = detail::lower_graph(*z.node());
  // 100 chunks of x, 100 of y, 100 fused elementwise tasks: no intermediates.
  EXPECT_EQ(tasks.size(), 300u);
  size_t elementwise = 0;
  for (const auto& t : tasks) {
    if (t.op == ops::kElementwise) {
      ++elementwise;
      EXPECT_EQ(t.deps.size(), 2u);
      EXPECT_EQ(t.dtype, DType::kFloat32);
    }
  }
  EXPECT_EQ(elementwise, 100u);
}

TEST(Graph, InputsComeBeforeTheirUsers) {
  auto x = random::uniform({30, 30}, {7, 7}, 1);
  auto r = (x + x.T()).std({0}).sum();
  auto tasks = detail::lower_graph(*r.node());
  std::unordered_set<TaskKey> seen;
  for (const auto& t : tasks) {
    for (const auto& d : t.deps) EXPECT_TRUE(seen.count(d)) << t.op << " before its input";
    EXPECT_TRUE(seen.insert(t.key).second) << "key twice";
  }
}

TEST(Graph, TreeReductionRespectsSplitEvery) {
  auto x = ones({1000}, {10});  // 100 chunks
  auto s = x.sum({}, 4);
  auto tasks = detail::lower_graph(*s.node());
  size_t partials = 0, combines = 0;
  for (const auto& t : tasks) {
    if (t.op == ops::kReducePartial) ++partials;
    if (t.op == ops::kReduceCombine) {
      ++combines;
      EXPECT_LE(t.deps.size(), 4u);
    }
  }
  EXPECT_EQ(partials, 100u);
  EXPECT_EQ(combines, 25u + 7u + 2u + 1u);
  EXPECT_EQ(s.shape(), Shape{});
}

TEST(Graph, ShapesDtypesAndChunksOfResults) {
  auto x = random::uniform({6, 8, 10}, {2, 3, 4}, 0, DType::kFloat32);
  EXPECT_EQ(x.T().shape(), (Shape{10, 8, 6}));
  EXPECT_EQ(x.transpose({1, 0, 2}).chunks()[0], (std::vector<int64_t>{3, 3, 2}));
  EXPECT_EQ(x.mean({1}).shape(), (Shape{6, 10}));
  EXPECT_EQ(x.mean({1}).dtype(), DType::kFloat32);
  EXPECT_EQ(x.sum({0, 2}).shape(), (Shape{8}));
  EXPECT_EQ((x + 1.0).dtype(), DType::kFloat32);
  EXPECT_EQ((x * x.astype(DType::kFloat64)).dtype(), DType::kFloat64);
  EXPECT_EQ((ones({3}, {1}, DType::kInt32) / 2.0).dtype(), DType::kFloat64);
  EXPECT_EQ(x.rechunk({-1, 8, 5}).chunks()[2], (std::vector<int64_t>{5, 5}));
  auto m = matmul(random::uniform({5, 7}, {2, 3}, 0), random::uniform({7, 4}, {2, 2}, 0));
  EXPECT_EQ(m.shape(), (Shape{5, 4}));
  EXPECT_EQ(m.chunks()[0], (std::vector<int64_t>{2, 2, 1}));
}

TEST(Graph, BadArgumentsThrowAtBuildTime) {
  auto x = random::uniform({6, 8}, {2, 3}, 0);
  EXPECT_THROW(x.sum({2}), std::invalid_argument);
  EXPECT_THROW(x.sum({0, 0}), std::invalid_argument);
  EXPECT_THROW(x.transpose({0, 0}), std::invalid_argument);
  EXPECT_THROW(x.rechunk({0, 1}), std::invalid_argument);
  EXPECT_THROW(x + random::uniform({8, 6}, {2, 3}, 0), std::invalid_argument);
  EXPECT_THROW(matmul(x, x), std::invalid_argument);
  EXPECT_THROW(random::uniform({3}, {1}, 0, DType::kInt32), std::invalid_argument);
  EXPECT_THROW(Array().sum(), std::invalid_argument);
  EXPECT_THROW(x.sum({}, 1), std::invalid_argument);
}

}  // namespace
}  // namespace rsdat
