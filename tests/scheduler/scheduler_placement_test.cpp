// Where SchedulerState runs tasks: root tasks throttled and co-assigned, other tasks
// placed by their inputs and the workers' queues, and work stealing. Events as in
// scheduler_state_test.cpp, validate() after every one.
#include "scheduler/scheduler_state.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "tests/scheduler/scheduler_state_fixture.hpp"

namespace rsdat::sched {
namespace {

class RootThrottling : public SchedulerStateTest {
 protected:
  RootThrottling() : SchedulerStateTest(SchedulerConfig{.root_saturation = 2.0, .root_bytes_budget = 1}) {}
};

TEST_F(RootThrottling, RootsAreReleasedAsWorkersDrainThem) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{1});
  std::vector<TaskSpec> g;
  std::vector<TaskKey> wanted;
  for (uint64_t i = 0; i < 40; ++i) {
    g.push_back(task(1, i));
    wanted.push_back({1, i});
  }
  ASSERT_TRUE(submit(1, g, wanted).is_ok());
  EXPECT_EQ(out.assign.size(), 4u);  // 2 per worker
  EXPECT_EQ(state.processing_on(WorkerId{1}), 2u);
  auto ready = run_all();
  EXPECT_EQ(ready.size(), 40u);
}

TEST_F(RootThrottling, TheOneChunkOfASmallArrayIsMadeBeforeMoreOfTheBigOnes) {
  // y_k = f(t, x_k): t, one chunk (a coordinate), is read by every y. Listed after
  // the eight chunks of x, it still runs right after the first slots' worth of them,
  // not after half of x is in memory waiting for it.
  add_worker(1);
  state.add_client(ClientId{1});
  std::vector<TaskSpec> g;
  std::vector<TaskKey> wanted;
  for (uint64_t k = 0; k < 8; ++k) g.push_back(task(2, k));
  g.push_back(task(1, 0));
  for (uint64_t k = 0; k < 8; ++k) {
    g.push_back(task(3, k, {{1, 0}, {2, k}}));
    wanted.push_back({3, k});
  }
  ASSERT_TRUE(submit(1, g, wanted).is_ok());
  std::vector<TaskKey> roots_in_order;
  std::vector<AssignCommand> pending = out.assign;
  while (!pending.empty()) {
    AssignCommand a = pending.front();
    pending.erase(pending.begin());
    if (a.key.token != 3) roots_in_order.push_back(a.key);
    finish(a);
    pending.insert(pending.end(), out.assign.begin(), out.assign.end());
  }
  ASSERT_EQ(roots_in_order.size(), 9u);
  const auto at = std::find(roots_in_order.begin(), roots_in_order.end(), TaskKey{1, 0}) - roots_in_order.begin();
  EXPECT_LE(at, 2) << "t is made as root number " << at;
}

TEST_F(RootThrottling, CoAssignmentBalancesAndKeepsNeighboursTogether) {
  for (uint64_t w = 1; w <= 4; ++w) add_worker(w);
  state.add_client(ClientId{1});
  std::vector<TaskSpec> g;
  std::vector<TaskKey> wanted;
  for (uint64_t i = 0; i < 100; ++i) {
    g.push_back(task(1, i));
    wanted.push_back({1, i});
  }
  ASSERT_TRUE(submit(1, g, wanted).is_ok());
  // Equal speed: everyone finishes what it was given, in order.
  std::map<uint64_t, std::vector<uint64_t>> placed;
  std::vector<AssignCommand> pending = out.assign;
  while (!pending.empty()) {
    AssignCommand a = pending.front();
    pending.erase(pending.begin());
    placed[a.worker.value].push_back(a.key.chunk);
    finish(a);
    pending.insert(pending.end(), out.assign.begin(), out.assign.end());
  }
  ASSERT_EQ(placed.size(), 4u);
  size_t pos = 0;
  for (auto& [w, chunks] : placed) {
    // Balanced (an idle worker may take a few from the end of a longer queue)...
    EXPECT_NEAR(static_cast<double>(chunks.size()), 25.0, 2.0) << "worker " << w;
    // ...and nearly all of its share from its own contiguous range.
    size_t own = std::count_if(chunks.begin(), chunks.end(), [&](uint64_t c) { return c / 25 == pos; });
    EXPECT_GE(own, 23u) << "worker " << w;
    ++pos;
  }
}

TEST_F(SchedulerStateTest, ChunksOfOneArrayReadTogetherAreMadeOnOneWorker) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{1});
  // x + x.T on a 4 x 4 grid of blocks: block (i, j) is read with block (j, i).
  std::vector<TaskSpec> g;
  std::vector<TaskKey> wanted;
  for (uint64_t k = 0; k < 16; ++k) g.push_back(task(1, k, {}, 8000));
  for (uint64_t i = 0; i < 4; ++i) {
    for (uint64_t j = 0; j < 4; ++j) {
      g.push_back(task(2, i * 4 + j, {{1, i * 4 + j}, {1, j * 4 + i}}));
      wanted.push_back({2, i * 4 + j});
    }
  }
  ASSERT_TRUE(submit(1, g, wanted).is_ok());
  std::map<uint64_t, WorkerId> where;
  std::vector<AssignCommand> todo = out.assign;
  for (size_t n = 0; n < todo.size() && n < 200; ++n) {
    if (todo[n].key.token == 1) where[todo[n].key.chunk] = todo[n].worker;
    finish(todo[n]);
    todo.insert(todo.end(), out.assign.begin(), out.assign.end());
  }
  ASSERT_EQ(where.size(), 16u);
  int per_worker[3] = {0, 0, 0};
  for (uint64_t i = 0; i < 4; ++i) {
    for (uint64_t j = 0; j < 4; ++j) {
      EXPECT_EQ(where[i * 4 + j], where[j * 4 + i]) << "block " << i << "," << j;
      ++per_worker[where[i * 4 + j].value];
    }
  }
  EXPECT_GE(per_worker[1], 6);  // still spread over both workers
  EXPECT_GE(per_worker[2], 6);
}

// The outputs of a rechunk: each reads pieces from both workers, and all become ready
// at once. Pieces crossing the network once means the siblings reading the same
// pieces gather on one worker, not alternate between two.
TEST_F(SchedulerStateTest, SiblingsReadingTheSamePiecesGatherWhereTheyAreFetched) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{1});
  std::vector<TaskSpec> g;
  std::vector<TaskKey> pieces, wanted;
  for (uint64_t i = 0; i < 8; ++i) {
    g.push_back(task(1, i, {}, 4 << 20));
    pieces.push_back({1, i});
  }
  ASSERT_TRUE(submit(1, g, pieces).is_ok());
  run_all();
  std::set<uint64_t> holders;
  for (const TaskKey& k : pieces) holders.insert(state.who_has(k).at(0).value);
  ASSERT_EQ(holders.size(), 2u);  // co-assignment spread them
  g.clear();
  for (uint64_t j = 0; j < 4; ++j) {
    g.push_back(task(2, j, pieces, 4 << 20));
    wanted.push_back({2, j});
  }
  ASSERT_TRUE(submit(1, g, wanted).is_ok());
  ASSERT_EQ(out.assign.size(), 4u);
  for (const auto& a : out.assign) EXPECT_EQ(a.worker, out.assign[0].worker) << a.key.to_string();
}

// Placement weighs queues only against a worker with a thread free: when every worker
// is busy, a slightly shorter queue elsewhere does not pay for moving the input.
TEST_F(SchedulerStateTest, TasksStayWithTheirInputsWhenEveryWorkerIsBusy) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0, {}, 4 << 20), task(1, 1, {}, 4 << 20)}, {{1, 0}, {1, 1}}).is_ok());
  run_all();
  const WorkerId a = state.who_has({1, 0}).at(0), b = state.who_has({1, 1}).at(0);
  ASSERT_NE(a, b);
  // Twelve tasks queued on a's chunk, six on b's: both workers busy.
  std::vector<TaskSpec> g;
  std::vector<TaskKey> wanted;
  for (uint64_t i = 0; i < 18; ++i) {
    g.push_back(task(2, i, {{1, i < 12 ? 0u : 1u}}, 8));
    wanted.push_back({2, i});
  }
  ASSERT_TRUE(submit(1, g, wanted).is_ok());
  ASSERT_EQ(state.processing_on(a), 12u);
  ASSERT_EQ(state.processing_on(b), 6u);
  // One more on a's chunk: b's queue is 6 ms shorter, the move would cost 4 ms, but b
  // has no thread free, so it stays.
  ASSERT_TRUE(submit(1, {task(3, 0, {{1, 0}}, 8)}, {{3, 0}}).is_ok());
  ASSERT_EQ(out.assign.size(), 1u);
  EXPECT_EQ(out.assign[0].worker, a);
}

// Queued work is estimated per array: tasks of one op (a rechunk's small slices and
// its large merges are all "assemble") can differ a thousandfold.
TEST_F(SchedulerStateTest, QueuedWorkIsEstimatedFromTheSameArraysTasks) {
  add_worker(1);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0, {}, 800)}, {{1, 0}}).is_ok());
  run_all();
  // Array 2 (small outputs) runs in 1 ms a task, array 3 (10x the bytes) in 50 ms.
  std::vector<TaskSpec> g;
  std::vector<TaskKey> wanted;
  for (uint64_t i = 0; i < 4; ++i) {
    g.push_back(task(2, i, {{1, 0}}, 8000));
    g.push_back(task(3, i, {{1, 0}}, 80000));
    wanted.push_back({2, i});
    wanted.push_back({3, i});
  }
  ASSERT_TRUE(submit(1, g, wanted).is_ok());
  for (uint64_t i = 0; i < 4; ++i) {
    out.clear();
    state.task_finished(WorkerId{1}, {2, i}, 8000, 0.001, out);
    state.task_finished(WorkerId{1}, {3, i}, 80000, 0.05, out);
    state.validate();
  }
  EXPECT_NEAR(state.occupancy(WorkerId{1}), 0.0, 1e-9);  // what was added was taken off
  ASSERT_TRUE(submit(1, {task(3, 9, {{1, 0}}, 80000)}, {{3, 9}}).is_ok());
  EXPECT_NEAR(state.occupancy(WorkerId{1}), 0.05, 1e-9);
  // An array not seen yet: the op's time per output byte, times its output bytes. A
  // per-task average would say about 25 ms whatever the size; per byte it is a few
  // milliseconds for 8,000 bytes.
  ASSERT_TRUE(submit(1, {task(4, 0, {{1, 0}}, 8000)}, {{4, 0}}).is_ok());
  const double small = state.occupancy(WorkerId{1}) - 0.05;
  EXPECT_GT(small, 0.0);
  EXPECT_LT(small, 0.01);
  // Work queued before any of its kind had run is priced anew when the first ends:
  // ten tasks of a new op, then one of them takes 0.5 s.
  g.clear();
  wanted.clear();
  for (uint64_t i = 0; i < 10; ++i) {
    g.push_back(task(5, i, {{1, 0}}, 8000));
    g.back().op = "slow";
    wanted.push_back({5, i});
  }
  ASSERT_TRUE(submit(1, g, wanted).is_ok());
  const double before = state.occupancy(WorkerId{1});
  EXPECT_LT(before, 0.1);
  out.clear();
  state.task_finished(WorkerId{1}, {5, 0}, 8000, 0.5, out);
  state.validate();
  EXPECT_NEAR(state.occupancy(WorkerId{1}), before - 10 * 0.001 + 9 * 0.5, 1e-9);  // a default 1 ms each before
}

TEST_F(SchedulerStateTest, TasksOnHeldChunksStayWhereTheChunksAre) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{1});
  // 200 chunks of 8 MB, half on each worker (as persist leaves them)...
  std::vector<TaskSpec> roots;
  std::vector<TaskKey> keys;
  for (uint64_t i = 0; i < 200; ++i) {
    roots.push_back(task(1, i, {}, 8 << 20));
    keys.push_back({1, i});
  }
  ASSERT_TRUE(submit(1, roots, keys).is_ok());
  std::vector<AssignCommand> todo = out.assign;
  for (size_t i = 0; i < todo.size() && i < 1000; ++i) {
    finish(todo[i]);
    todo.insert(todo.end(), out.assign.begin(), out.assign.end());
  }
  std::map<uint64_t, int> per_worker;
  for (const TaskKey& k : keys) {
    ASSERT_EQ(state.who_has(k).size(), 1u);
    ++per_worker[state.who_has(k)[0].value];
  }
  ASSERT_EQ(per_worker.size(), 2u);
  // ...then one small task per chunk, all ready at once: none may move a chunk (each
  // worker's queue grows to 100 ms, far more than moving 8 MB costs).
  std::vector<TaskSpec> sums;
  std::vector<TaskKey> wanted;
  for (uint64_t i = 0; i < 200; ++i) {
    sums.push_back(task(2, i, {{1, i}}, 8));
    wanted.push_back({2, i});
  }
  ASSERT_TRUE(submit(1, sums, wanted).is_ok());
  ASSERT_EQ(out.assign.size(), 200u);
  for (const auto& a : out.assign) {
    EXPECT_EQ(a.worker, state.who_has({1, a.key.chunk})[0]) << a.key.to_string() << " moved";
  }
}

TEST_F(SchedulerStateTest, IdleWorkersStealQueuedTasksWhoseInputsAreCheapToMove) {
  ASSERT_NO_FATAL_FAILURE(queue_ten_tasks_on_worker_1());
  add_worker(2);
  // Worker 2 is idle, worker 1 has nine waiting behind the one it runs.
  out.clear();
  state.balance(out);
  state.validate();
  ASSERT_EQ(out.steal.size(), 1u);  // one thread free on worker 2
  EXPECT_EQ(out.steal[0].victim, WorkerId{1});
  const TaskKey first = out.steal[0].key;
  out.clear();
  state.balance(out);  // already asked: nothing more until it answers
  state.validate();
  EXPECT_TRUE(out.steal.empty());
  // Worker 1 had already started it: it stays there.
  out.clear();
  state.steal_response(WorkerId{1}, first, false, out);
  state.validate();
  EXPECT_EQ(state.processing_worker(first), WorkerId{1});
  out.clear();
  state.balance(out);
  state.validate();
  ASSERT_EQ(out.steal.size(), 1u);
  const TaskKey second = out.steal[0].key;
  out.clear();
  state.steal_response(WorkerId{1}, second, true, out);
  state.validate();
  EXPECT_EQ(state.processing_worker(second), WorkerId{2});
  ASSERT_EQ(out.assign.size(), 1u);
  EXPECT_EQ(out.assign[0].worker, WorkerId{2});
  // A late or unknown answer changes nothing.
  out.clear();
  state.steal_response(WorkerId{1}, second, true, out);
  state.validate();
  EXPECT_EQ(state.processing_worker(second), WorkerId{2});
  // The thief finishing and the victim finishing the rest complete the graph.
  finish(WorkerId{2}, second, 8);
  for (uint64_t i = 0; i < 10; ++i) {
    if (TaskKey{2, i} == second) continue;
    finish(WorkerId{1}, {2, i}, 8);
  }
  EXPECT_EQ(state.processing_on(WorkerId{1}), 0u);
}

// A worker that has run out of long work but keeps getting small tasks is never
// without a task; it steals all the same when another's queue is long.
TEST_F(SchedulerStateTest, AWorkerWithOnlyShortWorkStealsFromALongQueue) {
  ASSERT_NO_FATAL_FAILURE(queue_ten_tasks_on_worker_1("long"));
  out.clear();
  state.task_finished(WorkerId{1}, {2, 0}, 800, 0.5, out);  // now they are known to be long
  state.validate();
  add_worker(2);
  // Two short roots: co-assignment gives the second to worker 2.
  ASSERT_TRUE(submit(1, {task(3, 0, {}, 800), task(3, 1, {}, 800)}, {{3, 0}, {3, 1}}).is_ok());
  ASSERT_EQ(state.processing_worker({3, 1}), WorkerId{2});
  ASSERT_EQ(state.processing_on(WorkerId{2}), 1u);  // no thread free there
  out.clear();
  state.balance(out);
  state.validate();
  ASSERT_EQ(out.steal.size(), 1u);
  EXPECT_EQ(out.steal[0].victim, WorkerId{1});  // the queued root first: it starts last there
  out.clear();
  state.balance(out);  // one at a time while it has work
  state.validate();
  EXPECT_TRUE(out.steal.empty());
}

TEST_F(SchedulerStateTest, LargeInputsAreNotStolenForAShortWait) {
  add_worker(1);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0, {}, 512u << 20)}, {{1, 0}}).is_ok());
  finish(out.assign[0]);
  ASSERT_TRUE(submit(1, {task(2, 0, {{1, 0}}), task(2, 1, {{1, 0}})}, {{2, 0}, {2, 1}}).is_ok());
  add_worker(2);
  out.clear();
  state.balance(out);
  state.validate();
  EXPECT_TRUE(out.steal.empty());  // 512 MiB to move against a millisecond of waiting
}

}  // namespace
}  // namespace rsdat::sched
