// Building arrays and lowering them to tasks: no cluster involved.
#include <gtest/gtest.h>

#include <set>
#include <unordered_set>

#include "client/array_internal.hpp"
#include "net/wire_convert.hpp"

#include <capnp/message.h>
#include <map>
#include "rsdat/array.hpp"
#include "rsdat/shape.hpp"

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

TEST(Graph, RechunksThatSplitAndMergeGoThroughPieces) {
  using detail::rechunk_intermediate;
  // rechunk_timeseries: whole time steps to time series of 128 x 128 pixels. The
  // common grid's pieces (1, 128, 128) are 64 KiB of float32: joined along the last
  // axis, within their time step, to 256 KiB.
  Chunks from = detail::regular_chunks({64, 2048, 2048}, {1, 2048, 2048});
  Chunks to = detail::regular_chunks({64, 2048, 2048}, {64, 128, 128});
  Chunks mid = rechunk_intermediate(from, to, 4);
  EXPECT_EQ(mid[0], from[0]);
  EXPECT_EQ(mid[1], to[1]);
  EXPECT_EQ(mid[2], std::vector<int64_t>(4, 512));
  auto x = random::uniform({64, 2048, 2048}, {1, 2048, 2048}, 0, DType::kFloat32);
  auto r = x.rechunk({64, 128, 128});
  EXPECT_EQ(r.chunks(), to);
  EXPECT_EQ(detail::lower_graph(*r.node()).size(), 64u + 64 * 16 * 4 + 256);
  // A float astype before it is done by the cutting (as in rechunk_timeseries): no
  // task of its own, and the pieces are float32.
  auto cast = random::uniform({64, 2048, 2048}, {1, 2048, 2048}, 0).astype(DType::kFloat32).rechunk({64, 128, 128});
  EXPECT_EQ(cast.dtype(), DType::kFloat32);
  auto tasks = detail::lower_graph(*cast.node());
  EXPECT_EQ(tasks.size(), 64u + 64 * 16 * 4 + 256);
  for (const auto& t : tasks) {
    EXPECT_NE(t.op, ops::kElementwise);
    if (t.op == ops::kAssemble) {
      EXPECT_EQ(t.dtype, DType::kFloat32);
    }
  }
  // Large pieces are kept as they are.
  EXPECT_EQ(rechunk_intermediate(from, detail::regular_chunks({64, 2048, 2048}, {64, 1024, 1024}), 4),
            detail::regular_chunks({64, 2048, 2048}, {1, 1024, 1024}));
  // Pure merges and pure splits take one stage: the grid is where they start.
  EXPECT_EQ(rechunk_intermediate(detail::regular_chunks({8, 8}, {2, 2}), detail::regular_chunks({8, 8}, {4, 8}), 8),
            detail::regular_chunks({8, 8}, {2, 2}));
  // Pieces never straddle an input block, even when joined: 100-wide blocks cut at
  // multiples of 30 give pieces 30 30 30 10 | 20 30 30 20 of 128,000 bytes on
  // average; joined to reach 262,144 (3 at a time), but never across a block.
  Chunks m = rechunk_intermediate({{640}, {100, 100}}, {{640}, {30, 30, 30, 30, 30, 30, 20}}, 8);
  EXPECT_EQ(m[0], std::vector<int64_t>{640});
  EXPECT_EQ(m[1], (std::vector<int64_t>{90, 10, 80, 20}));
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

TEST(Graph, ShapesThatDoNotBroadcastNameTheOperationAndTheShapes) {
  auto x = random::uniform({6, 8}, {2, 3}, 0);
  try {
    (void)(x * random::uniform({6}, {2}, 1));
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "multiply: operands could not be broadcast together with shapes (6, 8) (6,)");
  }
  EXPECT_THROW(where(random::uniform({5, 1}, {5, 1}, 2), x, 0.0), std::invalid_argument);
}

// hours (24, 1, 1, 1) times x (T, Y, X), summed over the hours: one task per block of
// the result's partials, each reading its block of x and the one block of hours; the
// 24 x T x Y x X product is never a task's output.
TEST(Graph, BroadcastingFusesIntoTheReductionWithoutMaterialising) {
  auto x = random::uniform({10, 40, 30}, {5, 20, 10}, 3);
  auto hours = random::uniform({24, 1, 1, 1}, {6, 1, 1, 1}, 4);
  auto gdh = sin(hours * x).sum({0});
  EXPECT_EQ(gdh.shape(), (Shape{10, 40, 30}));
  EXPECT_EQ(gdh.chunks(), x.chunks());
  const int64_t biggest_input_block = 5 * 20 * 10;
  for (const TaskSpec& t : detail::lower_graph(*gdh.node())) {
    EXPECT_NE(t.op, ops::kElementwise);
    EXPECT_LE(shape_size(t.shape), biggest_input_block) << t.op << shape_to_string(t.shape);
    if (t.op == ops::kReduceExprPartial) {
      EXPECT_EQ(t.deps.size(), 2u);  // its block of hours and of x
    }
  }
}

// The keys a task of `tasks` reads, by the task's block index in its array.
std::map<TaskKey, const TaskSpec*> by_key(const std::vector<TaskSpec>& tasks) {
  std::map<TaskKey, const TaskSpec*> m;
  for (const auto& t : tasks) m[t.key] = &t;
  return m;
}

TEST(Graph, TransposeReadsThePermutedBlock) {
  auto x = random::uniform({6, 8, 10}, {2, 3, 4}, 0);
  auto y = x.transpose({2, 0, 1});
  auto all = detail::lower_graph(*y.node());
  auto tasks = by_key(all);
  for (int64_t i = 0; i < y.num_chunks(); ++i) {
    auto b = detail::unravel_block(y.chunks(), static_cast<uint64_t>(i));
    const TaskSpec& t = *tasks.at(detail::key_of(*y.node(), b));
    ASSERT_EQ(t.deps.size(), 1u);
    EXPECT_EQ(t.deps[0], detail::key_of(*x.node(), {b[1], b[2], b[0]}));
    EXPECT_EQ(t.shape, detail::block_shape(y.chunks(), b));
  }
}

TEST(Graph, MatmulReadsARowOfBlocksAndAColumn) {
  auto a = random::uniform({10, 9}, {4, 3}, 1);
  auto b = random::uniform({9, 7}, {3, 5}, 2);
  auto c = matmul(a, b);
  auto all = detail::lower_graph(*c.node());
  auto tasks = by_key(all);
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t j = 0; j < 2; ++j) {
      const TaskSpec& t = *tasks.at(detail::key_of(*c.node(), {i, j}));
      std::vector<TaskKey> want;
      for (int64_t k = 0; k < 3; ++k) want.push_back(detail::key_of(*a.node(), {i, k}));
      for (int64_t k = 0; k < 3; ++k) want.push_back(detail::key_of(*b.node(), {k, j}));
      EXPECT_EQ(t.deps, want);
    }
  }
}

TEST(Graph, ElementwiseWithATransposeReadsMirroredBlocks) {
  auto x = random::uniform({9, 9}, {3, 3}, 1);
  auto y = x + x.T();
  auto all = detail::lower_graph(*y.node());
  auto tasks = by_key(all);
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t j = 0; j < 3; ++j) {
      const TaskSpec& t = *tasks.at(detail::key_of(*y.node(), {i, j}));
      EXPECT_EQ(t.deps, (std::vector<TaskKey>{detail::key_of(*x.node(), {i, j}), detail::key_of(*x.node(), {j, i})}));
    }
  }
}

TEST(Graph, EveryReductionLevelReadsEachBlockBelowOnce) {
  // Two reduced axes of 2-D blocks, one kept, moments (a leading axis), uneven ends.
  auto x = random::uniform({50, 6, 70}, {3, 3, 4}, 1);
  for (Array r : {x.var({0, 2}, 0, 5), x.sum({1}, 2), x.mean({}, 3), (x * 2.0).max({0, 2}, 4)}) {
    auto tasks = detail::lower_graph(*r.node());
    std::map<TaskKey, int> reads;
    std::set<TaskKey> made;
    for (const auto& t : tasks) {
      made.insert(t.key);
      for (const auto& d : t.deps) ++reads[d];
    }
    for (const auto& t : tasks) {
      if (t.op == ops::kReduceCombine || t.op == ops::kReducePartial || t.op == ops::kReduceExprPartial) {
        if (t.key.token != r.node()->token) {
          EXPECT_EQ(reads[t.key], 1) << t.op << " " << t.key.to_string();
        }
      }
    }
    for (const auto& [k, n] : reads) EXPECT_TRUE(made.count(k)) << "reads a block never made";
    for (int64_t i = 0; i < r.num_chunks(); ++i) EXPECT_TRUE(made.count({r.node()->token, static_cast<uint64_t>(i)}));
  }
}

TEST(Graph, PerBlockParametersFollowTheBlock) {
  auto c = coordinate({10, 6}, {4, 4}, 0);
  for (const auto& t : detail::lower_graph(*c.node())) {
    auto b = detail::unravel_block(c.chunks(), t.key.chunk);
    EXPECT_EQ(t.params, ops::coordinate_params(0, detail::block_offset(c.chunks(), b)[0]));
  }
  auto x = random::uniform({10, 6}, {4, 4}, 3);
  for (const auto& t : detail::lower_graph(*x.node())) {
    auto b = detail::unravel_block(x.chunks(), t.key.chunk);
    EXPECT_EQ(t.params, ops::random_uniform_params(3, x.shape(), detail::block_offset(x.chunks(), b)));
  }
}

TEST(Graph, AMillionTaskExpressionTravelsAsAFewPatterns) {
  auto s = ones({1000000}, {1}).sum();
  auto parts = detail::lower_parts(*s.node());
  EXPECT_GT(num_tasks(parts), 1000000u);
  for (const auto& p : parts) EXPECT_TRUE(std::holds_alternative<TaskGroup>(p));
  capnp::MallocMessageBuilder b;
  set_graph_parts(b.initRoot<wire::SubmitGraph>(), parts);
  EXPECT_LT(b.sizeInWords() * 8, 4096u) << "bytes on the wire";
}

TEST(Graph, PartsSurviveTheWire) {
  auto x = random::uniform({20, 20}, {6, 5}, 1);
  auto y = (x + x.T().rechunk({6, 5}).rechunk({5, 5}).rechunk({6, 5})).var({0});
  auto parts = detail::lower_parts(*y.node());
  EXPECT_TRUE(std::any_of(parts.begin(), parts.end(),
                          [](const GraphPart& p) { return std::holds_alternative<std::vector<TaskSpec>>(p); }));
  capnp::MallocMessageBuilder b;
  set_graph_parts(b.initRoot<wire::SubmitGraph>(), parts);
  auto back = to_graph_parts(b.getRoot<wire::SubmitGraph>().asReader());
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  auto expanded = expand_parts(std::move(back).value());
  auto direct = expand_parts(parts);
  ASSERT_EQ(expanded.size(), direct.size());
  for (size_t i = 0; i < direct.size(); ++i) {
    EXPECT_EQ(expanded[i].key, direct[i].key);
    EXPECT_EQ(expanded[i].op, direct[i].op);
    EXPECT_EQ(expanded[i].params, direct[i].params);
    EXPECT_EQ(expanded[i].deps, direct[i].deps);
    EXPECT_EQ(expanded[i].shape, direct[i].shape);
    EXPECT_EQ(expanded[i].dtype, direct[i].dtype);
  }
}

TEST(TaskGroup, RefusesPatternsThatDoNotFit) {
  TaskGroup g;
  g.token = 1;
  g.op = "fill";
  g.chunks = {{2, 2}, {3}};
  g.params = {"p"};
  EXPECT_TRUE(g.validate().is_ok());
  g.inputs = {{7, {2, 1}}};
  g.deps = {DepPattern::same(0, 2)};
  EXPECT_TRUE(g.validate().is_ok());
  auto bad = g;
  bad.deps[0].input = 1;
  EXPECT_FALSE(bad.validate().is_ok());
  bad = g;
  bad.deps[0].axis_map = {0, 2};
  EXPECT_FALSE(bad.validate().is_ok());
  bad = g;
  bad.deps[0].count = {0, 1};
  EXPECT_FALSE(bad.validate().is_ok());
  bad = g;
  bad.deps[0].stride.pop_back();
  EXPECT_FALSE(bad.validate().is_ok());
  bad = g;
  bad.params = {"a", "b", "c"};
  EXPECT_FALSE(bad.validate().is_ok());
  bad.params_index = {0};
  EXPECT_FALSE(bad.validate().is_ok());
  bad.params_index = {0, 3};
  EXPECT_FALSE(bad.validate().is_ok());
  bad.params_index = {2, 0};
  EXPECT_TRUE(bad.validate().is_ok());
  bad = g;
  bad.chunks = {std::vector<int64_t>(1 << 17, 1), std::vector<int64_t>(1 << 16, 1)};
  EXPECT_FALSE(bad.validate().is_ok()) << "2^33 tasks";
  // Blocks outside the input's grid are skipped.
  TaskSpec t;
  g.expand(1, t);
  EXPECT_EQ(t.deps, (std::vector<TaskKey>{{7, 1}}));
  EXPECT_EQ(t.shape, (Shape{2, 3}));
  g.deps[0].count = {3, 1};
  g.expand(1, t);
  EXPECT_EQ(t.deps, (std::vector<TaskKey>{{7, 1}}));
  g.expand(0, t);
  EXPECT_EQ(t.deps, (std::vector<TaskKey>{{7, 0}, {7, 1}}));
}

// The tasks of `a` made by its own node (not its inputs').
std::vector<TaskSpec> own_tasks(const Array& a) {
  std::vector<TaskSpec> own;
  for (TaskSpec& t : detail::lower_graph(*a.node()))
    if (t.key.token == a.node()->token) own.push_back(std::move(t));
  return own;
}

TEST(Graph, ViewsReadOnlyTheBlocksTheyTouch) {
  auto x = random::uniform({100, 60}, {10, 20}, 1);
  // x[25:45, 20:40]: rows from blocks 2..4, columns from block 1 only.
  auto v = view(x, range(25, 45), range(20, 40));
  EXPECT_EQ(v.chunks(), (Chunks{{5, 10, 5}, {20}}));
  std::set<uint64_t> read;
  for (const TaskSpec& t : own_tasks(v))
    for (const TaskKey& k : t.deps) read.insert(k.chunk);
  EXPECT_EQ(read, (std::set<uint64_t>{2 * 3 + 1, 3 * 3 + 1, 4 * 3 + 1}));
  // A whole block is that block: the output shares its buffer, nothing is copied.
  for (const TaskSpec& t : own_tasks(v)) EXPECT_EQ(t.op, t.shape[0] == 10 ? ops::kReshape : ops::kGather);
  // Every 7th row: pieces of blocks joined up to a block's size.
  auto s = view(x, range(_, _, 7));
  EXPECT_EQ(s.shape(), (Shape{15, 60}));
  int64_t total = 0;
  for (int64_t c : s.chunks()[0]) {
    EXPECT_LE(c, 10);
    total += c;
  }
  EXPECT_EQ(total, 15);
  EXPECT_EQ(view(x, all()).node(), x.node());
}

TEST(Graph, ReshapeAndJoiningNeverCopyElements) {
  auto x = random::uniform({6, 8, 5}, {3, 8, 5}, 1);
  // Merging the last two axes: block i of the result is block i of x.
  auto r = reshape(x, {6, 40});
  EXPECT_EQ(r.chunks(), (Chunks{{3, 3}, {40}}));
  for (const TaskSpec& t : own_tasks(r)) EXPECT_EQ(t.op, ops::kReshape);
  // Axes merged must be whole but the first: x is rechunked first, as dask does.
  auto y = random::uniform({6, 8}, {3, 4}, 2);
  auto ry = reshape(y, {48});
  EXPECT_EQ(ry.chunks()[0], std::vector<int64_t>(6, 8));  // blocks of 12 elements become rows of 8
  for (const TaskSpec& t : own_tasks(ry)) EXPECT_EQ(t.op, ops::kReshape);
  auto c = concatenate({x, x}, 0);
  EXPECT_EQ(c.chunks()[0], (std::vector<int64_t>{3, 3, 3, 3}));
  for (const TaskSpec& t : own_tasks(c)) EXPECT_EQ(t.op, ops::kReshape);
  for (const TaskSpec& t : own_tasks(expand_dims(x, 1))) EXPECT_EQ(t.op, ops::kReshape);
}

TEST(Graph, BadIndexingAndShapesThrowNamingTheOperation) {
  auto x = random::uniform({6, 8}, {2, 3}, 0);
  auto expect_message = [](auto f, const std::string& want) {
    try {
      f();
      ADD_FAILURE() << "no exception, wanted " << want;
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  };
  EXPECT_THROW(view(x, 6), std::out_of_range);
  EXPECT_THROW(view(x, 0, -9), std::out_of_range);
  EXPECT_THROW(view(x, 0, 0, 0), std::invalid_argument);
  EXPECT_THROW(view(x, range(0, 4, 0)), std::invalid_argument);
  EXPECT_THROW(take(x, {8}, 1), std::out_of_range);
  EXPECT_THROW(take(x, {0}, 2), std::invalid_argument);
  EXPECT_THROW(compress({false, false, false, false, false, false, false, true}, x, 0), std::out_of_range);
  expect_message([&] { reshape(x, {5, 10}); }, "reshape: cannot reshape an array of size 48 into shape (5, 10)");
  EXPECT_THROW(reshape(x, {-1, -1}), std::invalid_argument);
  EXPECT_THROW(reshape(x, {-1, 5}), std::invalid_argument);
  expect_message([&] { squeeze(x, 0); }, "squeeze: cannot select an axis to squeeze out");
  EXPECT_THROW(expand_dims(x, 3), std::invalid_argument);
  EXPECT_THROW(moveaxis(x, {0}, {0, 1}), std::invalid_argument);
  EXPECT_THROW(swapaxes(x, 0, 2), std::invalid_argument);
  EXPECT_THROW(flip(x, 2), std::invalid_argument);
  EXPECT_THROW(roll(x, 1, -3), std::invalid_argument);
  expect_message([&] { concatenate({x, random::uniform({5, 7}, {2, 3}, 1)}, 0); },
                 "concatenate: shapes (6, 8) and (5, 7) differ other than along axis 0");
  EXPECT_THROW(concatenate({}, 0), std::invalid_argument);
  EXPECT_THROW(concatenate({full({}, {}, 1.0)}, 0), std::invalid_argument);
  expect_message([&] { stack({x, x.T()}); }, "stack: all input arrays must have the same shape, got (6, 8) and (8, 6)");
  expect_message([&] { pad(x, {{1, 1}}, "mirror"); }, "pad: mode \"mirror\"");
  EXPECT_THROW(pad(x, {{1, 1}, {1, 1}, {1, 1}}), std::invalid_argument);
  EXPECT_THROW(pad(x, {{-1, 1}}), std::invalid_argument);
  EXPECT_THROW(pad(zeros({0, 3}, {1, 1}), {{1, 1}}, "edge"), std::invalid_argument);
  EXPECT_THROW(eye(-1), std::invalid_argument);
}

TEST(Graph, LongContractedAxesAreSummedAsATreeOfBoundedTasks) {
  // 101 blocks along the contracted axis: groups of 13 (the last of 10) whose partial
  // products a tree reduction sums; no product task reads more than 16 pairs.
  auto a = random::uniform({6, 1003}, {4, 10}, 1);
  auto b = random::uniform({1003, 5}, {10, 3}, 2);
  auto c = matmul(a, b);
  EXPECT_EQ(c.shape(), (Shape{6, 5}));
  EXPECT_EQ(c.chunks()[0], (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(c.chunks()[1], (std::vector<int64_t>{3, 2}));
  std::map<TaskKey, int> reads;  // how often each block of a is read
  size_t products = 0;
  for (const TaskSpec& t : detail::lower_graph(*c.node())) {
    if (t.op != ops::kTensordot) continue;
    ++products;
    EXPECT_LE(t.deps.size(), 2u * 13);
    for (const TaskKey& k : t.deps)
      if (k.token == a.node()->token) ++reads[k];
  }
  EXPECT_EQ(products, 8u * 2 * 2);
  EXPECT_EQ(reads.size(), 2u * 101);
  for (const auto& entry : reads) EXPECT_EQ(entry.second, 2) << entry.first.to_string();  // once per column block
}

}  // namespace
}  // namespace rsdat
