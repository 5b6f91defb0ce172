// The memory plan: project_memory() on graphs whose peak is known by hand, against
// what SchedulerState runs hold, and the refusal of a graph whose intermediate results
// cannot be held at once.
#include "scheduler/memory_plan.hpp"

#include <gtest/gtest.h>


#include "tests/scheduler/scheduler_state_fixture.hpp"

namespace rsdat::sched {
namespace {

constexpr uint32_t kHeld = PlanGraph::kHeldInput;

// Adds a task to `g`: its bytes, order, array, inputs; returns its index.
uint32_t add(PlanGraph& g, uint64_t nbytes, uint64_t token, std::vector<uint32_t> deps, bool wanted = false) {
  if (g.dep_begin.empty()) g.dep_begin.push_back(0);
  const auto i = static_cast<uint32_t>(g.size());
  g.nbytes.push_back(nbytes);
  g.order.push_back(i);
  g.wanted.push_back(wanted);
  g.token.push_back(token);
  g.deps.insert(g.deps.end(), deps.begin(), deps.end());
  g.dep_begin.push_back(g.deps.size());
  return i;
}

// Four roots r (100 bytes), a = f(r) each (100), s = sum of the a (8, wanted).
PlanGraph map_then_sum() {
  PlanGraph g;
  std::vector<uint32_t> r, a;
  for (int i = 0; i < 4; ++i) r.push_back(add(g, 100, 1, {}));
  for (int i = 0; i < 4; ++i) a.push_back(add(g, 100, 2, {r[i]}));
  add(g, 8, 3, a, true);
  return g;
}

// Workers of these many threads each.
MemoryProjection replay(const PlanGraph& g, std::vector<uint32_t> threads) { return project_memory(g, threads); }

TEST(MemoryPlan, OneThreadRunsEachMapSoonAfterItsRootAndHoldsTheMapsForTheSum) {
  // A task's users run a round after it (the report's round trip), so: r0, r1, a0 (r0
  // freed), a1, r2, r3, a2, a3, a round waiting for the sum's inputs' report, the sum.
  // At a2's round: a0, a1, a2, r2, r3 held: 500 bytes; in the end the sum's 8.
  const MemoryProjection p = replay(map_then_sum(), {1});
  EXPECT_EQ(p.peak_bytes, 500u);
  EXPECT_EQ(p.final_bytes, 8u);
  EXPECT_EQ(p.rounds, 10u);
  ASSERT_EQ(p.at_peak.size(), 2u);
  EXPECT_EQ(p.at_peak[0].token, 2u);
  EXPECT_EQ(p.at_peak[0].chunks, 3u);
  EXPECT_EQ(p.at_peak[0].bytes, 300u);
  EXPECT_EQ(p.at_peak[1].token, 1u);
  EXPECT_EQ(p.at_peak[1].chunks, 2u);
}

TEST(MemoryPlan, MoreThreadsRunMoreRootsAtOnce) {
  // Two threads: {r0, r1}, {r2, r3}, {a0, a1}, {a2, a3} (600 held), a wait, the sum.
  const MemoryProjection p = replay(map_then_sum(), {2});
  EXPECT_EQ(p.peak_bytes, 600u);
  EXPECT_EQ(p.final_bytes, 8u);
  EXPECT_EQ(p.rounds, 6u);
  // Eight threads: every root at once (400), a wait, every map (800), a wait, the sum.
  EXPECT_EQ(replay(map_then_sum(), {8}).peak_bytes, 800u);
}

TEST(MemoryPlan, AnIdleWorkerTakesRootsFromTheFarEndOfTheLongestQueue) {
  PlanGraph g = map_then_sum();
  g.queue.assign(g.size(), 0);  // every root in worker 0's queue
  // Worker 0 takes r0, r1; worker 1 takes r3, r2: the same rounds as one worker of
  // two threads.
  const MemoryProjection p = replay(g, {1, 1});
  EXPECT_EQ(p.peak_bytes, 600u);
  EXPECT_EQ(p.rounds, 6u);
}

TEST(MemoryPlan, HeldInputsAndUnreadResultsCostNothingAfterwards) {
  PlanGraph g;
  const uint32_t a = add(g, 50, 1, {kHeld});      // reads a chunk held already
  add(g, 70, 2, {a, kHeld}, true);                // wanted
  add(g, 1000, 3, {});                            // read by nothing, wanted by no one
  const MemoryProjection p = replay(g, {1});
  EXPECT_EQ(p.final_bytes, 70u);
  // a and the unread root first (the root freed at once); b two rounds after a, then
  // a freed: 1050 at most.
  EXPECT_EQ(p.peak_bytes, 1050u);
  EXPECT_EQ(p.rounds, 3u);
}

TEST(MemoryPlan, AnEmptyGraphHoldsNothing) {
  const MemoryProjection p = replay(PlanGraph{}, {4});
  EXPECT_EQ(p.peak_bytes, 0u);
  EXPECT_EQ(p.rounds, 0u);
  EXPECT_TRUE(p.at_peak.empty());
}

constexpr uint64_t kMiB = 1ull << 20;

// x (n roots of `bytes`), y = f(x), m = mean of y (partials, then one combine),
// w = y - m, and the sum of w (partials, one combine) as the one wanted result: every
// y is held until m is known.
std::pair<std::vector<TaskSpec>, std::vector<TaskKey>> anomaly_sum(uint64_t n, uint64_t bytes) {
  std::vector<TaskSpec> g;
  std::vector<TaskKey> py, pw;
  for (uint64_t i = 0; i < n; ++i) g.push_back(task(1, i, {}, bytes));
  for (uint64_t i = 0; i < n; ++i) g.push_back(task(2, i, {{1, i}}, bytes));
  for (uint64_t i = 0; i < n; ++i) {
    g.push_back(task(3, i, {{2, i}}, 8));
    py.push_back(g.back().key);
  }
  g.push_back(task(4, 0, py, 8));
  for (uint64_t i = 0; i < n; ++i) g.push_back(task(5, i, {{2, i}, {4, 0}}, bytes));
  for (uint64_t i = 0; i < n; ++i) {
    g.push_back(task(6, i, {{5, i}}, 8));
    pw.push_back(g.back().key);
  }
  g.push_back(task(7, 0, pw, 8));
  return {g, {{7, 0}}};
}

class MemoryPlanState : public SchedulerStateTest {
 protected:
  // Two workers of one thread and 1 GiB, with `spill` bytes of spill space each.
  void two_workers(uint64_t spill) {
    state.add_client(ClientId{1});
    add_worker(1);
    add_worker(2);
    for (uint64_t w : {1, 2}) {
      WorkerMetrics m;
      m.spill_space = spill;
      state.heartbeat(WorkerId{w}, m, 0);
    }
  }
};

TEST_F(MemoryPlanState, AGraphWhoseIntermediatesCannotBeHeldAtOnceIsRefused) {
  two_workers(512 * kMiB);
  // 16 chunks of y, 256 MiB each: 4 GiB held before the mean is known, more than
  // 2 GiB of memory and 1 GiB of spill space. Each task alone fits a worker, and the
  // wanted result is 8 bytes.
  auto [g, wanted] = anomaly_sum(16, 256 * kMiB);
  Status st = submit(1, g, wanted);
  ASSERT_FALSE(st.is_ok());
  // At the peak, most of y (and the roots run ahead of it).
  EXPECT_NE(st.message().find("chunks of array combine 0000000000000002"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("holds up to 4.50 GiB at once"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("memory (2.00 GiB) and spill space (1.00 GiB)"), std::string::npos) << st.message();
  EXPECT_EQ(state.num_tasks(), 0u) << "nothing of a refused graph is kept";

  // A quarter of it fits, with a notice that it spills (1 GiB held, more than 60 % of 2 GiB).
  auto [small, small_wanted] = anomaly_sum(4, 256 * kMiB);
  ASSERT_TRUE(submit(1, small, small_wanted).is_ok());
  ASSERT_EQ(out.notices.size(), 1u);
  EXPECT_NE(out.notices[0].second.find("will spill"), std::string::npos) << out.notices[0].second;
  EXPECT_NE(out.notices[0].second.find("chunks of array combine 0000000000000002"), std::string::npos)
      << out.notices[0].second;
}

TEST_F(MemoryPlanState, TheProjectionIsCloseToWhatARunHolds) {
  two_workers(8ull << 30);
  for (uint64_t n : {8, 24}) {
    auto [g, wanted] = anomaly_sum(n, 64 * kMiB);
    ASSERT_TRUE(submit(1, g, wanted).is_ok());
    const MemoryPlanReport plan = state.memory_plan_report();
    ASSERT_TRUE(plan.replayed) << "n " << n;
    run_all();
    const MemoryPlanReport after = state.memory_plan_report();
    EXPECT_EQ(after.projected_peak, plan.projected_peak);
    // Every y is held before the mean: at least n chunks of 64 MiB, in both.
    EXPECT_GE(after.measured_peak, n * 64 * kMiB) << "n " << n;
    EXPECT_GE(after.projected_peak, n * 64 * kMiB) << "n " << n;
    // The run holds finished chunks only; the replay counts the chunks being made
    // too (one per thread), and the roots the workers run ahead of the maps.
    EXPECT_LE(after.measured_peak, after.projected_peak) << "n " << n;
    EXPECT_LE(after.projected_peak, after.measured_peak + 4 * 64 * kMiB) << "n " << n;
    release(1, wanted);
    EXPECT_EQ(state.held_bytes(), 0u);
  }
}

}  // namespace
}  // namespace rsdat::sched
