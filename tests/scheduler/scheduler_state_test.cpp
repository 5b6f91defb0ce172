// SchedulerState fed with events, no sockets and no clocks; validate() after every event.
#include "scheduler/scheduler_state.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

namespace rsdat::sched {
namespace {

TaskSpec task(uint64_t token, uint64_t chunk, std::vector<TaskKey> deps = {}, size_t nbytes = 800) {
  TaskSpec t;
  t.key = {token, chunk};
  t.op = deps.empty() ? "fill" : "combine";
  t.deps = std::move(deps);
  t.dtype = DType::kFloat64;
  t.shape = {static_cast<int64_t>(nbytes / 8)};
  return t;
}

class SchedulerStateTest : public ::testing::Test {
 protected:
  explicit SchedulerStateTest(SchedulerConfig config = {}) : state(config) {}

  // Every event goes through these, so the invariants are checked after each one.
  void add_worker(uint64_t id, uint32_t threads = 1) {
    out.clear();
    state.add_worker(WorkerId{id}, {"w" + std::to_string(id), "tcp://w" + std::to_string(id), threads, 1 << 30}, 0,
                     out);
    state.validate();
  }
  void remove_worker(uint64_t id) {
    out.clear();
    state.remove_worker(WorkerId{id}, "test", out);
    state.validate();
  }
  Status submit(uint64_t client, std::vector<TaskSpec> tasks, std::vector<TaskKey> wanted) {
    out.clear();
    Status st = state.submit_graph(ClientId{client}, std::move(tasks), wanted, out);
    state.validate();
    return st;
  }
  void finish(const AssignCommand& a) { finish(a.worker, a.key, state.spec_of(a.key)->output_nbytes()); }
  void finish(WorkerId w, TaskKey k, uint64_t nbytes = 800) {
    out.clear();
    state.task_finished(w, k, nbytes, 0.001, out);
    state.validate();
  }
  void err(WorkerId w, TaskKey k, const std::string& msg) {
    out.clear();
    state.task_erred(w, k, msg, out);
    state.validate();
  }
  void release(uint64_t client, std::vector<TaskKey> keys) {
    out.clear();
    state.release_keys(ClientId{client}, keys, out);
    state.validate();
  }
  // Runs every assignment to completion, in order, until nothing is assigned.
  std::vector<ReadyCommand> run_all(size_t limit = 100000) {
    std::vector<ReadyCommand> ready = out.ready;
    std::vector<AssignCommand> pending = out.assign;
    size_t steps = 0;
    while (!pending.empty() && steps++ < limit) {
      AssignCommand a = pending.front();
      pending.erase(pending.begin());
      finish(a);
      pending.insert(pending.end(), out.assign.begin(), out.assign.end());
      ready.insert(ready.end(), out.ready.begin(), out.ready.end());
    }
    return ready;
  }

  // Client `client` submits `n` root tasks of array `token`, wants them all, and they
  // run to completion. Returns their keys.
  std::vector<TaskKey> compute_roots(uint64_t client, uint64_t token, uint64_t n) {
    std::vector<TaskSpec> tasks;
    std::vector<TaskKey> keys;
    for (uint64_t i = 0; i < n; ++i) {
      tasks.push_back(task(token, i));
      keys.push_back({token, i});
    }
    EXPECT_TRUE(submit(client, tasks, keys).is_ok());
    run_all();
    return keys;
  }

  // Worker 1, alone, computes a small chunk (1,0); then ten tasks (2,i) of `op` reading
  // it are all assigned there.
  void queue_ten_tasks_on_worker_1(const char* op = "combine") {
    add_worker(1);
    state.add_client(ClientId{1});
    ASSERT_TRUE(submit(1, {task(1, 0, {}, 800)}, {{1, 0}}).is_ok());
    finish(out.assign[0]);
    std::vector<TaskSpec> ts;
    std::vector<TaskKey> wanted;
    for (uint64_t i = 0; i < 10; ++i) {
      ts.push_back(task(2, i, {{1, 0}}));
      ts.back().op = op;
      wanted.push_back({2, i});
    }
    ASSERT_TRUE(submit(1, ts, wanted).is_ok());
    ASSERT_EQ(out.assign.size(), 10u);
  }

  SchedulerState state;
  Commands out;
};

TEST_F(SchedulerStateTest, LinearGraphRunsAndReleaseLeavesNothing) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{7});
  ASSERT_TRUE(submit(7, {task(1, 0), task(2, 0, {{1, 0}}), task(3, 0, {{2, 0}})}, {{3, 0}}).is_ok());
  ASSERT_EQ(out.assign.size(), 1u);
  EXPECT_EQ(out.assign[0].key, (TaskKey{1, 0}));
  auto ready = run_all();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].key, (TaskKey{3, 0}));
  EXPECT_EQ(ready[0].client, ClientId{7});
  EXPECT_EQ(ready[0].holders.size(), 1u);
  release(7, {{3, 0}});
  ASSERT_EQ(out.release.size(), 1u);
  EXPECT_EQ(state.num_tasks(), 0u);
  EXPECT_EQ(state.keys_held_by(WorkerId{1}) + state.keys_held_by(WorkerId{2}), 0u);
}

TEST_F(SchedulerStateTest, IntermediatesAreReleasedOnceTheirDependentsAreInMemory) {
  add_worker(1);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0), task(1, 1), task(2, 0, {{1, 0}, {1, 1}})}, {{2, 0}}).is_ok());
  ASSERT_EQ(out.assign.size(), 2u);
  auto roots = out.assign;
  finish(roots[0]);
  EXPECT_TRUE(out.release.empty());  // still needed by the combine
  finish(roots[1]);
  ASSERT_EQ(out.assign.size(), 1u);
  auto combine = out.assign[0];
  EXPECT_EQ(combine.dep_locations.size(), 2u);
  finish(combine);
  EXPECT_EQ(out.release.size(), 2u);  // both roots released
  EXPECT_EQ(state.keys_held_by(WorkerId{1}), 1u);
  EXPECT_EQ(state.status({1, 0}), TaskStatus::kReleased);  // record kept for recomputation
}

TEST_F(SchedulerStateTest, TreeReductionOverManyRoots) {
  add_worker(1, 2);
  add_worker(2, 2);
  state.add_client(ClientId{1});
  std::vector<TaskSpec> g;
  for (uint64_t i = 0; i < 64; ++i) g.push_back(task(1, i));
  for (uint64_t i = 0; i < 8; ++i) {
    std::vector<TaskKey> d;
    for (uint64_t j = 0; j < 8; ++j) d.push_back({1, i * 8 + j});
    g.push_back(task(2, i, d));
  }
  std::vector<TaskKey> top;
  for (uint64_t i = 0; i < 8; ++i) top.push_back({2, i});
  g.push_back(task(3, 0, top));
  ASSERT_TRUE(submit(1, g, {{3, 0}}).is_ok());
  auto ready = run_all();
  ASSERT_EQ(ready.size(), 1u);
  release(1, {{3, 0}});
  EXPECT_EQ(state.num_tasks(), 0u);
}

TEST_F(SchedulerStateTest, BadGraphsAreRefusedAndChangeNothing) {
  add_worker(1);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0)}, {{1, 0}}).is_ok());
  const size_t before = state.num_tasks();
  EXPECT_FALSE(submit(1, {task(2, 0, {{9, 9}})}, {{2, 0}}).is_ok());           // unknown dependency
  EXPECT_FALSE(submit(1, {task(2, 0), task(2, 0)}, {{2, 0}}).is_ok());          // key twice
  EXPECT_FALSE(submit(1, {task(2, 0, {{2, 1}}), task(2, 1, {{2, 0}})}, {{2, 0}}).is_ok());  // cycle
  EXPECT_FALSE(submit(1, {task(2, 0)}, {{5, 5}}).is_ok());                      // unknown wanted key
  EXPECT_FALSE(submit(99, {task(2, 0)}, {{2, 0}}).is_ok());                     // unknown client
  EXPECT_EQ(state.num_tasks(), before);
}

TEST_F(SchedulerStateTest, GraphWaitsForTheFirstWorker) {
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0), task(2, 0, {{1, 0}})}, {{2, 0}}).is_ok());
  EXPECT_TRUE(out.assign.empty());
  EXPECT_EQ(state.status({1, 0}), TaskStatus::kQueued);
  add_worker(1);
  ASSERT_EQ(out.assign.size(), 1u);
  auto ready = run_all();
  ASSERT_EQ(ready.size(), 1u);
}

TEST_F(SchedulerStateTest, ErrorReachesTheClientAndDependentsErrToo) {
  add_worker(1);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0), task(1, 1), task(2, 0, {{1, 0}}), task(3, 0, {{1, 1}})},
                     {{2, 0}, {3, 0}}).is_ok());
  auto roots = out.assign;
  ASSERT_EQ(roots.size(), 2u);
  err(roots[0].worker, {1, 0}, "kernel exploded");
  ASSERT_EQ(out.failed.size(), 1u);
  EXPECT_EQ(out.failed[0].wanted, (TaskKey{2, 0}));
  EXPECT_EQ(out.failed[0].failed, (TaskKey{1, 0}));
  EXPECT_EQ(out.failed[0].message, "kernel exploded");
  EXPECT_EQ(out.failed[0].worker, "w1");
  EXPECT_EQ(state.status({2, 0}), TaskStatus::kErred);
  // The independent key still completes.
  finish(roots[1]);
  auto ready = run_all();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].key, (TaskKey{3, 0}));
  release(1, {{2, 0}, {3, 0}});
  EXPECT_EQ(state.num_tasks(), 0u);
}

TEST_F(SchedulerStateTest, MismatchedReportsAreIgnored) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0)}, {{1, 0}}).is_ok());
  WorkerId w = out.assign[0].worker;
  WorkerId other{w.value == 1 ? 2u : 1u};
  finish(other, {1, 0});  // never assigned there
  EXPECT_EQ(state.ignored_reports(), 1u);
  ASSERT_EQ(out.release.size(), 1u);
  EXPECT_EQ(out.release[0].worker, other);
  finish(WorkerId{42}, {1, 0});  // unknown worker
  finish(w, {8, 8});             // unknown key
  EXPECT_EQ(state.ignored_reports(), 3u);
  ASSERT_EQ(out.release.size(), 1u);
  finish(w, {1, 0});
  EXPECT_EQ(out.ready.size(), 1u);
  finish(w, {1, 0});  // duplicate
  EXPECT_EQ(state.ignored_reports(), 4u);
  EXPECT_TRUE(out.release.empty());  // it is a tracked holder: nothing to drop
  err(w, {1, 0}, "late");
  EXPECT_EQ(state.ignored_reports(), 5u);
  EXPECT_EQ(state.status({1, 0}), TaskStatus::kMemory);
}

TEST_F(SchedulerStateTest, LostWorkerRecomputesItsKeys) {
  add_worker(1);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0), task(2, 0, {{1, 0}}), task(3, 0, {{2, 0}})}, {{3, 0}}).is_ok());
  finish(out.assign[0]);  // (1,0) on w1
  finish(out.assign[0]);  // (2,0) on w1; (1,0) released
  EXPECT_EQ(state.status({1, 0}), TaskStatus::kReleased);
  ASSERT_EQ(out.assign.size(), 1u);  // (3,0) processing on w1
  add_worker(2);
  remove_worker(1);
  // (2,0) was only on w1 and (3,0) needs it: recomputed from (1,0), recursively.
  ASSERT_EQ(out.assign.size(), 1u);
  EXPECT_EQ(out.assign[0].key, (TaskKey{1, 0}));
  EXPECT_EQ(out.assign[0].worker, WorkerId{2});
  auto ready = run_all();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].holders, std::vector<WorkerId>{WorkerId{2}});
}

TEST_F(SchedulerStateTest, TaskThatKeepsKillingWorkersErrs) {
  state = SchedulerState(SchedulerConfig{.allowed_failures = 2});
  state.add_client(ClientId{1});
  add_worker(1);
  ASSERT_TRUE(submit(1, {task(1, 0)}, {{1, 0}}).is_ok());
  add_worker(2);
  remove_worker(1);
  ASSERT_EQ(out.assign.size(), 1u);
  EXPECT_EQ(out.assign[0].worker, WorkerId{2});
  remove_worker(2);
  ASSERT_EQ(out.failed.size(), 1u);
  EXPECT_NE(out.failed[0].message.find("w2"), std::string::npos) << out.failed[0].message;
  EXPECT_NE(out.failed[0].message.find("2 times"), std::string::npos) << out.failed[0].message;
}

TEST_F(SchedulerStateTest, MissingInputsAreRecomputedAndTheTaskRunsAgain) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0), task(2, 0, {{1, 0}})}, {{2, 0}}).is_ok());
  finish(out.assign[0]);
  AssignCommand consumer = out.assign[0];
  out.clear();
  state.task_missing_deps(consumer.worker, {2, 0}, {{1, 0}}, out);
  state.validate();
  // The holder no longer counts and is told to drop it; the input is computed again.
  ASSERT_EQ(out.release.size(), 1u);
  ASSERT_EQ(out.assign.size(), 1u);
  EXPECT_EQ(out.assign[0].key, (TaskKey{1, 0}));
  auto ready = run_all();
  ASSERT_EQ(ready.size(), 1u);
}

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

TEST_F(SchedulerStateTest, RemoveClientReleasesWhatItWanted) {
  add_worker(1);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0), task(1, 1)}, {{1, 0}, {1, 1}}).is_ok());
  run_all();
  EXPECT_EQ(state.keys_held_by(WorkerId{1}), 2u);
  out.clear();
  state.remove_client(ClientId{1}, out);
  state.validate();
  EXPECT_EQ(out.release.size(), 2u);
  EXPECT_EQ(state.num_tasks(), 0u);
}

TEST_F(SchedulerStateTest, SharedKeyStaysUntilTheLastClientReleases) {
  add_worker(1);
  state.add_client(ClientId{1});
  state.add_client(ClientId{2});
  ASSERT_TRUE(submit(1, {task(1, 0)}, {{1, 0}}).is_ok());
  run_all();
  ASSERT_TRUE(submit(2, {task(1, 0)}, {{1, 0}}).is_ok());
  ASSERT_EQ(out.ready.size(), 1u);  // already in memory
  EXPECT_EQ(out.ready[0].client, ClientId{2});
  release(1, {{1, 0}});
  EXPECT_TRUE(out.release.empty());
  EXPECT_EQ(state.status({1, 0}), TaskStatus::kMemory);
  release(2, {{1, 0}});
  EXPECT_EQ(out.release.size(), 1u);
  EXPECT_EQ(state.num_tasks(), 0u);
}

TEST_F(SchedulerStateTest, ReplicasAreTrackedAndUnknownOnesDropped) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0)}, {{1, 0}}).is_ok());
  WorkerId w = out.assign[0].worker;
  WorkerId other{w.value == 1 ? 2u : 1u};
  finish(out.assign[0]);
  out.clear();
  state.replica_acquired(other, {1, 0}, out);
  state.validate();
  EXPECT_EQ(state.who_has({1, 0}).size(), 2u);
  state.replica_acquired(other, {5, 5}, out);
  state.validate();
  ASSERT_EQ(out.release.size(), 1u);
  EXPECT_EQ(out.release[0].key, (TaskKey{5, 5}));
  release(1, {{1, 0}});
  EXPECT_EQ(out.release.size(), 2u);  // both holders
}

TEST_F(SchedulerStateTest, BytesMovedAreCounted) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{1});
  // The first chunk of one array and the last of another go to different workers;
  // their combine must fetch one of them. (The other two roots are not needed.)
  ASSERT_TRUE(submit(1, {task(1, 0, {}, 8000), task(1, 1, {}, 8000), task(3, 0, {}, 8000), task(3, 1, {}, 8000),
                         task(2, 0, {{1, 0}, {3, 1}})},
                     {{2, 0}})
                  .is_ok());
  ASSERT_EQ(out.assign.size(), 2u);
  EXPECT_NE(out.assign[0].worker, out.assign[1].worker);
  auto roots = out.assign;
  finish(roots[0]);
  finish(roots[1]);
  ASSERT_EQ(out.assign.size(), 1u);
  const WorkerId where = out.assign[0].worker;
  out.clear();
  state.task_finished(where, {2, 0}, 800, 0.001, out, 8000);  // the worker fetched one root
  state.validate();
  EXPECT_EQ(out.ready.size(), 1u);
  EXPECT_EQ(state.stats(ClientId{1}).bytes_transferred, 8000u);
  EXPECT_EQ(state.total_bytes_transferred(), 8000u);
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

// Results a client waits for travel inline when it asked for results of their size;
// intermediates never do.
TEST_F(SchedulerStateTest, SmallWantedResultsAreAssignedToBeSentInline) {
  add_worker(1);
  state.add_client(ClientId{1});
  state.set_inline_bytes(ClientId{1}, 1000);
  ASSERT_TRUE(submit(1, {task(1, 0, {}, 800), task(2, 0, {{1, 0}}, 800), task(3, 0, {}, 8000)}, {{2, 0}, {3, 0}})
                  .is_ok());
  std::map<TaskKey, bool> inline_of;
  auto collect = [&] {
    for (const auto& a : out.assign) inline_of[a.key] = a.inline_result;
  };
  collect();
  finish(WorkerId{1}, {1, 0});
  collect();
  ASSERT_EQ(inline_of.size(), 3u);
  EXPECT_FALSE(inline_of.at({1, 0}));  // not wanted
  EXPECT_TRUE(inline_of.at({2, 0}));   // wanted, 800 bytes
  EXPECT_FALSE(inline_of.at({3, 0}));  // wanted, but 8,000 bytes
  // A graph submitted without (persist): nothing inline.
  state.set_inline_bytes(ClientId{1}, 0);
  ASSERT_TRUE(submit(1, {task(4, 0, {}, 8)}, {{4, 0}}).is_ok());
  ASSERT_EQ(out.assign.size(), 1u);
  EXPECT_FALSE(out.assign[0].inline_result);
}

TEST_F(SchedulerStateTest, AComputationThatCanNeverFitIsRefusedBeforeItStarts) {
  add_worker(1);  // 1 GiB memory limit
  state.add_client(ClientId{1});
  // One 600 MB chunk is fine; its 2 x 600 MB sum of two does not fit anywhere.
  Status st = submit(1, {task(1, 0, {}, 600u << 20), task(1, 1, {}, 600u << 20), task(2, 0, {{1, 0}, {1, 1}})},
                     {{2, 0}});
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("combine"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("memory limit"), std::string::npos) << st.message();
  EXPECT_TRUE(out.assign.empty());
  EXPECT_EQ(state.num_tasks(), 0u);
  EXPECT_TRUE(submit(1, {task(1, 0, {}, 600u << 20)}, {{1, 0}}).is_ok());
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

// Random DAGs, random worker joins and losses, random completion order, bounded.
TEST(SchedulerStateRandom, InvariantsHoldAndEveryWantedKeyArrives) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::mt19937_64 rng(seed);
    SchedulerState state(SchedulerConfig{.root_saturation = 1.0, .root_bytes_budget = 1000, .allowed_failures = 100});
    Commands out;
    uint64_t next_worker = 1;
    std::set<uint64_t> workers;
    auto join = [&] {
      out.clear();
      uint64_t id = next_worker++;
      state.add_worker(WorkerId{id}, {"w", "tcp://w", 1 + static_cast<uint32_t>(rng() % 2), 1 << 30}, 0, out);
      workers.insert(id);
    };
    join();
    join();
    state.add_client(ClientId{1});
    std::vector<TaskSpec> g;
    const uint64_t n = 30 + rng() % 30;
    for (uint64_t i = 0; i < n; ++i) {
      std::vector<TaskKey> deps;
      if (i > 3) {
        for (int d = 0; d < 3; ++d) {
          TaskKey k{1, rng() % i};
          if (rng() % 2 && std::find(deps.begin(), deps.end(), k) == deps.end()) deps.push_back(k);
        }
      }
      g.push_back(task(1, i, deps));
    }
    std::vector<TaskKey> wanted{{1, n - 1}, {1, n / 2}, {1, 0}};
    std::vector<AssignCommand> pending;
    std::vector<StealCommand> steals;
    std::set<TaskKey> ready;
    auto absorb = [&] {
      pending.insert(pending.end(), out.assign.begin(), out.assign.end());
      steals.insert(steals.end(), out.steal.begin(), out.steal.end());
      for (const auto& r : out.ready) ready.insert(r.key);
      state.validate();
    };
    out.clear();
    // Half the seeds add the graph a few tasks at a time, between the other events.
    const size_t graph_step = seed % 2 ? 1 + rng() % 4 : SIZE_MAX;
    ASSERT_TRUE(state.submit_graph(ClientId{1}, g, wanted, out, graph_step).is_ok());
    absorb();
    for (int step = 0; step < 2000 && ready.size() < 3; ++step) {
      uint64_t dice = rng() % 20;
      if ((dice == 4 || pending.empty()) && state.graph_pending()) {
        out.clear();
        state.add_pending(graph_step, out);
        absorb();
        continue;
      }
      if (dice == 0 && workers.size() > 1) {
        uint64_t victim = *std::next(workers.begin(), static_cast<long>(rng() % workers.size()));
        workers.erase(victim);
        out.clear();
        state.remove_worker(WorkerId{victim}, "chaos", out);
        absorb();
      } else if (dice == 1) {
        join();
        absorb();
      } else if (dice == 2) {
        out.clear();
        state.balance(out);
        absorb();
      } else if (dice == 3 && !steals.empty()) {
        // The victim answers, having started the task or not (the answer may be stale).
        StealCommand sc = steals.back();
        steals.pop_back();
        out.clear();
        state.steal_response(sc.victim, sc.key, rng() % 2 == 0, out);
        absorb();
      } else if (!pending.empty()) {
        size_t i = rng() % pending.size();
        AssignCommand a = pending[i];
        pending.erase(pending.begin() + static_cast<long>(i));
        out.clear();
        if (rng() % 10 == 0) {
          state.replica_acquired(WorkerId{*workers.begin()}, a.key, out);  // may be stale: must be safe
          absorb();
          out.clear();
        }
        state.task_finished(a.worker, a.key, 800, 0.001, out);
        absorb();
      }
    }
    EXPECT_EQ(ready.size(), 3u) << "seed " << seed;
    EXPECT_FALSE(state.graph_pending());
    out.clear();
    state.release_keys(ClientId{1}, wanted, out);
    state.validate();
    // Tasks still running finish (their results are dropped), then nothing is left.
    for (const AssignCommand& a : pending) {
      out.clear();
      state.task_finished(a.worker, a.key, 800, 0.001, out);
      state.validate();
    }
    EXPECT_EQ(state.num_tasks(), 0u) << "seed " << seed;
  }
}

}  // namespace
}  // namespace rsdat::sched

namespace rsdat::sched {
namespace {

// A retiring worker gets no new work, its unfinished tasks run elsewhere, the chunks
// only it holds are copied to another worker, and then it may go: nothing recomputed.
TEST_F(SchedulerStateTest, ARetiringWorkerHandsOverWhatOnlyItHolds) {
  state.add_client(ClientId{1});
  add_worker(1);
  add_worker(2);
  const std::vector<TaskKey> wanted = compute_roots(1, 1, 8);
  std::vector<TaskKey> on_1;
  for (const TaskKey& k : wanted) {
    ASSERT_EQ(state.status(k), TaskStatus::kMemory);
    if (state.who_has(k) == std::vector<WorkerId>{WorkerId{1}}) on_1.push_back(k);
  }
  ASSERT_FALSE(on_1.empty());
  // A task queued on worker 1 when it starts retiring goes to worker 2.
  ASSERT_TRUE(submit(1, {task(2, 0, {on_1[0]})}, {{2, 0}}).is_ok());
  out.clear();
  state.worker_retiring(WorkerId{1}, out);
  state.validate();
  EXPECT_EQ(state.num_workers(), 1u);
  std::set<TaskKey> asked;
  for (const auto& r : out.replicate) {
    EXPECT_EQ(r.worker, WorkerId{2});
    EXPECT_EQ(r.from, WorkerId{1});
    asked.insert(r.key);
  }
  EXPECT_EQ(asked, std::set<TaskKey>(on_1.begin(), on_1.end()));
  // Worker 1 still counts as a holder: a task needing its chunks may fetch from it.
  EXPECT_EQ(state.worker_info(WorkerId{1})->address, "tcp://w1");
  out.clear();
  state.check_retiring(out);
  EXPECT_TRUE(out.retired.empty()) << "chunks not handed over yet";
  for (const TaskKey& k : on_1) {
    out.clear();
    state.replica_acquired(WorkerId{2}, k, out);
    state.validate();
  }
  out.clear();
  state.check_retiring(out);
  state.validate();
  ASSERT_EQ(out.retired.size(), 1u);
  EXPECT_EQ(out.retired[0].first, WorkerId{1});
  EXPECT_EQ(out.retired[0].second, "tcp://w1");
  EXPECT_TRUE(out.assign.empty()) << "nothing recomputed";
  for (const TaskKey& k : wanted) {
    EXPECT_EQ(state.status(k), TaskStatus::kMemory);
    EXPECT_EQ(state.who_has(k), std::vector<WorkerId>{WorkerId{2}});
  }
  EXPECT_EQ(state.num_retiring(), 0u);
}

// A retiring worker lost before it finished: what only it held is recomputed.
TEST_F(SchedulerStateTest, ARetiringWorkerLostHalfwayIsALoss) {
  state.add_client(ClientId{1});
  add_worker(1);
  add_worker(2);
  const std::vector<TaskKey> wanted = compute_roots(1, 1, 6);
  out.clear();
  state.worker_retiring(WorkerId{1}, out);
  state.validate();
  remove_worker(1);
  EXPECT_EQ(state.num_retiring(), 0u);
  bool recomputed = false;
  for (const auto& a : out.assign) recomputed = recomputed || a.worker == WorkerId{2};
  EXPECT_TRUE(recomputed);
  run_all();
  for (const TaskKey& k : wanted) EXPECT_EQ(state.status(k), TaskStatus::kMemory);
}

}  // namespace
}  // namespace rsdat::sched

namespace rsdat::sched {
namespace {

// A wanted chunk held by two workers, one of them lost: nothing to recompute, but the
// client must hear where the chunk is now (it may know only the lost holder).
TEST_F(SchedulerStateTest, ALostHolderOfAReplicatedChunkIsReportedToItsClient) {
  state.add_client(ClientId{1});
  add_worker(1);
  add_worker(2);
  ASSERT_TRUE(submit(1, {task(1, 0)}, {{1, 0}}).is_ok());
  run_all();
  const WorkerId first = state.who_has({1, 0}).at(0);
  const WorkerId other{first.value == 1 ? 2u : 1u};
  out.clear();
  state.replica_acquired(other, {1, 0}, out);
  state.validate();
  remove_worker(first.value);
  EXPECT_TRUE(out.assign.empty()) << "nothing to recompute";
  ASSERT_EQ(out.ready.size(), 1u);
  EXPECT_EQ(out.ready[0].key, (TaskKey{1, 0}));
  EXPECT_EQ(out.ready[0].holders, std::vector<WorkerId>{other});
}


// A graph added a step at a time: its first tasks run, and their chunks stay for the
// users still to come; the result is the one of the graph added at once.
TEST_F(SchedulerStateTest, ABigGraphRunsWhileItIsAdded) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{1});
  std::vector<TaskSpec> g;
  for (uint64_t i = 0; i < 16; ++i) g.push_back(task(1, i));
  for (uint64_t i = 0; i < 4; ++i) g.push_back(task(2, i, {{1, 4 * i}, {1, 4 * i + 1}, {1, 4 * i + 2}, {1, 4 * i + 3}}));
  g.push_back(task(3, 0, {{2, 0}, {2, 1}, {2, 2}, {2, 3}}));
  out.clear();
  ASSERT_TRUE(state.submit_graph(ClientId{1}, g, {{3, 0}}, out, 2).is_ok());
  state.validate();
  EXPECT_TRUE(state.graph_pending());
  EXPECT_EQ(state.num_tasks(), 2u);
  ASSERT_FALSE(out.assign.empty());
  // The first roots finish before anything that reads them exists: they are kept.
  std::vector<AssignCommand> running = out.assign;
  for (const AssignCommand& a : running) finish(a);
  for (const AssignCommand& a : running) EXPECT_EQ(state.status(a.key), TaskStatus::kMemory);
  std::set<TaskKey> ready;
  std::vector<AssignCommand> todo;
  for (int steps = 0; steps < 1000 && ready.empty(); ++steps) {
    if (state.graph_pending()) {
      out.clear();
      state.add_pending(3, out);
      state.validate();
      todo.insert(todo.end(), out.assign.begin(), out.assign.end());
    }
    if (!todo.empty()) {
      AssignCommand a = todo.front();
      todo.erase(todo.begin());
      finish(a);
      todo.insert(todo.end(), out.assign.begin(), out.assign.end());
      for (const auto& r : out.ready) ready.insert(r.key);
    }
  }
  EXPECT_EQ(ready, (std::set<TaskKey>{{3, 0}}));
  EXPECT_FALSE(state.graph_pending());
  for (uint64_t i = 0; i < 16; ++i) EXPECT_EQ(state.status({1, i}), TaskStatus::kReleased) << "data kept";
  release(1, {{3, 0}});
  EXPECT_EQ(state.num_tasks(), 0u);
}

// What would change a pending graph's meaning adds the rest of it first: a new graph
// (it may read the pending one's keys), and a release or leave by its client.
TEST_F(SchedulerStateTest, APendingGraphIsCompletedBeforeWhatDependsOnIt) {
  add_worker(1);
  state.add_client(ClientId{1});
  state.add_client(ClientId{2});
  std::vector<TaskSpec> g;
  for (uint64_t i = 0; i < 8; ++i) g.push_back(task(1, i));
  out.clear();
  ASSERT_TRUE(state.submit_graph(ClientId{1}, g, {{1, 7}, {1, 6}}, out, 1).is_ok());
  EXPECT_TRUE(state.graph_pending());
  // Another client's graph reads a key not added yet.
  ASSERT_TRUE(submit(2, {task(2, 0, {{1, 7}})}, {{2, 0}}).is_ok());
  EXPECT_FALSE(state.graph_pending());
  EXPECT_EQ(state.num_tasks(), 3u) << "only what the wanted keys need";
  // A release by the client of a pending graph.
  out.clear();
  ASSERT_TRUE(state.submit_graph(ClientId{1}, {task(3, 0), task(3, 1)}, {{3, 0}, {3, 1}}, out, 1).is_ok());
  EXPECT_TRUE(state.graph_pending());
  std::vector<AssignCommand> running = out.assign;
  release(1, {{3, 1}});
  EXPECT_FALSE(state.graph_pending());
  running.insert(running.end(), out.assign.begin(), out.assign.end());
  for (const AssignCommand& a : running) finish(a);
  EXPECT_FALSE(state.status({3, 1}).has_value());
  EXPECT_EQ(state.status({3, 0}), TaskStatus::kMemory);
  // Leaving is a release of everything.
  out.clear();
  ASSERT_TRUE(state.submit_graph(ClientId{1}, {task(4, 0), task(4, 1)}, {{4, 0}, {4, 1}}, out, 1).is_ok());
  running = out.assign;
  out.clear();
  state.remove_client(ClientId{1}, out);
  state.validate();
  EXPECT_FALSE(state.graph_pending());
  running.insert(running.end(), out.assign.begin(), out.assign.end());
  for (const AssignCommand& a : running) finish(a);
  EXPECT_FALSE(state.status({4, 1}).has_value());
  EXPECT_FALSE(state.status({3, 0}).has_value());
}


// A worker's report that it fetched a copy of a chunk can arrive after the chunk was
// lost and its task given to that same worker: the task must stay there, not be
// released (the worker would drop it and the computation would wait forever).
TEST_F(SchedulerStateTest, ALateCopyReportDoesNotUndoAnAssignment) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0), task(2, 0, {{1, 0}})}, {{2, 0}}).is_ok());
  ASSERT_EQ(out.assign.size(), 1u);
  finish(out.assign[0]);
  ASSERT_EQ(out.assign.size(), 1u);
  const AssignCommand use = out.assign[0];
  // The reader could not fetch the root: it is released and computed again.
  out.clear();
  state.task_missing_deps(use.worker, use.key, {{1, 0}}, out);
  state.validate();
  ASSERT_EQ(out.assign.size(), 1u);
  const WorkerId again = out.assign[0].worker;
  EXPECT_EQ(state.processing_worker({1, 0}), again);
  // The copy that worker fetched for the reader earlier is reported only now.
  out.clear();
  state.replica_acquired(again, {1, 0}, out);
  state.validate();
  for (const ReleaseCommand& r : out.release) EXPECT_FALSE(r.worker == again && (r.key == TaskKey{1, 0}));
  EXPECT_EQ(state.processing_worker({1, 0}), again);
  // A copy reported by a worker not computing it is dropped as before.
  const WorkerId other = again == WorkerId{1} ? WorkerId{2} : WorkerId{1};
  out.clear();
  state.replica_acquired(other, {1, 0}, out);
  ASSERT_EQ(out.release.size(), 1u);
  EXPECT_EQ(out.release[0].worker, other);
  // The computation completes.
  finish(again, {1, 0});
  ASSERT_EQ(out.assign.size(), 1u);
  finish(out.assign[0]);
  ASSERT_EQ(out.ready.size(), 1u);
  EXPECT_EQ(out.ready[0].key, (TaskKey{2, 0}));
}

}  // namespace
}  // namespace rsdat::sched
