// Order statistics lowered to tasks, without a cluster: what one task reads.
#include <gtest/gtest.h>

#include <algorithm>
#include <unordered_map>

#include "client/array_internal.hpp"
#include "rsdat/order.hpp"

namespace rsdat {
namespace {

struct TaskBytes {
  uint64_t largest = 0;  // the most input bytes any task of the op reads
  int64_t tasks = 0;
  uint64_t largest_deps = 0;
};

// The input bytes of every task running `op` in the graph of `root`.
TaskBytes input_bytes(const Array& root, const std::string& op) {
  const std::vector<TaskSpec> tasks = detail::lower_graph(*root.node());
  std::unordered_map<TaskKey, uint64_t> size;
  for (const TaskSpec& t : tasks) size[t.key] = t.output_nbytes();
  TaskBytes out;
  for (const TaskSpec& t : tasks) {
    if (t.op != op) continue;
    uint64_t bytes = 0;
    for (const TaskKey& k : t.deps) bytes += size.at(k);
    out.largest = std::max(out.largest, bytes);
    out.largest_deps = std::max<uint64_t>(out.largest_deps, t.deps.size());
    ++out.tasks;
  }
  return out;
}

TEST(OrderGraph, AQuantileTaskReadsAtMostTheBound) {
  // 64 steps of 512 x 512 float32 (64 MiB) in chunks of 8 steps.
  Array x = random::uniform({64, 512, 512}, {8, 512, 512}, 1, DType::kFloat32);
  const OrderOptions o{.task_bytes = uint64_t{1} << 20};
  const TaskBytes t = input_bytes(nanmedian(x, {0}, false, o), ops::kQuantile);
  EXPECT_LE(t.largest, o.task_bytes);
  EXPECT_GT(t.largest, o.task_bytes / 2);  // cut no finer than needed
  EXPECT_EQ(t.largest_deps, 8u);           // the 8 blocks along time, not a joined chunk
  EXPECT_EQ(t.tasks, 64);                 // 64 MiB in tasks of 1 MiB
  // Several reduced axes: all their blocks, the kept axis cut.
  const TaskBytes q = input_bytes(quantile(x, std::vector<double>{0.1, 0.9}, {0, 2}, "linear", false, o),
                                  ops::kQuantile);
  EXPECT_LE(q.largest, o.task_bytes);
  EXPECT_EQ(q.largest_deps, 8u);
}

TEST(OrderGraph, ACloudFreeCompositeOfSentinelTilesFitsSmallWorkers) {
  // 100 time steps of a 10980 x 10980 float32 tile, chunks of 10 x 1098 x 1098: with
  // the default bound no median task reads more than 64 MiB.
  Array x = random::uniform({100, 10980, 10980}, {10, 1098, 1098}, 1, DType::kFloat32);
  const TaskBytes t = input_bytes(nanmedian(x, {0}), ops::kQuantile);
  EXPECT_LE(t.largest, OrderOptions{}.task_bytes);
  EXPECT_EQ(t.largest_deps, 10u);
  const TaskBytes s = input_bytes(sort(x, 0), ops::kSort);
  EXPECT_LE(s.largest, OrderOptions{}.task_bytes);
}

TEST(OrderGraph, TopkIsATreeThatNeverJoinsTheAxis) {
  Array x = random::uniform({1000, 64}, {10, 64}, 1);
  for (bool arg : {false, true}) {
    Array t = arg ? argtopk(x, 5, 0, 4) : topk(x, 5, 0, 4);
    const TaskBytes b = input_bytes(t, ops::kTopk);
    EXPECT_LE(b.largest_deps, 4u);
    EXPECT_LE(b.largest, 4u * 10 * 64 * 8 * (arg ? 2 : 1));
    EXPECT_EQ(t.shape(), (Shape{5, 64}));
    EXPECT_EQ(t.dtype(), arg ? DType::kInt64 : DType::kFloat64);
  }
}

}  // namespace
}  // namespace rsdat
