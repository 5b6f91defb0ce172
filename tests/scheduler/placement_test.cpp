// The placement and work-stealing policies on hand-built situations.
#include "scheduler/placement.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace rsdat::sched {
namespace {

TEST(Placement, GoesWhereTheInputsAre) {
  std::vector<Candidate> c{{WorkerId{1}, 64 << 20, 0.0, 1}, {WorkerId{2}, 0, 0.0, 1}};
  EXPECT_EQ(choose_worker(c, 1e9), WorkerId{2});
}

TEST(Placement, SaturatedHolderLosesWhenInputsAreSmall) {
  // B holds the inputs but has 2 s of work queued; moving 1 MB costs 1 ms.
  std::vector<Candidate> c{{WorkerId{2}, 0, 2.0, 1}, {WorkerId{1}, 1 << 20, 0.0, 1}};
  EXPECT_EQ(choose_worker(c, 1e9), WorkerId{1});
  // With 4 GB to move, waiting for B is cheaper.
  c[1].missing_bytes = 4ull << 30;
  EXPECT_EQ(choose_worker(c, 1e9), WorkerId{2});
}

TEST(Placement, MoreThreadsDrainTheQueueFaster) {
  std::vector<Candidate> c{{WorkerId{1}, 0, 1.0, 1}, {WorkerId{2}, 0, 1.0, 8}};
  EXPECT_EQ(choose_worker(c, 1e9), WorkerId{2});
}

TEST(Placement, NoCandidates) { EXPECT_FALSE(choose_worker({}, 1e9).has_value()); }

TEST(Placement, AWorkerNearItsPauseThresholdIsAvoided) {
  // A holds the inputs but would go past its pause threshold; B has room.
  std::vector<Candidate> c{{WorkerId{1}, 0, 0.0, 1, true}, {WorkerId{2}, 64 << 20, 0.5, 1, false}};
  EXPECT_EQ(choose_worker(c, 1e9), WorkerId{2});
  // When every worker is near its threshold, the usual cost decides.
  c[1].over_memory = true;
  EXPECT_EQ(choose_worker(c, 1e9), WorkerId{1});
}

TEST(Placement, RootsGoToContiguousBalancedRanges) {
  std::vector<size_t> count(4, 0);
  size_t last = 0;
  for (uint64_t i = 0; i < 100; ++i) {
    size_t w = root_worker_index(i, 100, 4);
    ASSERT_LT(w, 4u);
    EXPECT_GE(w, last);  // contiguous: never goes back
    last = w;
    ++count[w];
  }
  for (size_t n : count) EXPECT_EQ(n, 25u);
  EXPECT_EQ(root_worker_index(5, 0, 4), 0u);
  EXPECT_EQ(root_worker_index(500, 100, 4), 3u);
}

TEST(Placement, InputsMayMoveOnlyToAWorkerWithAThreadFreeAndNoRootsWaiting) {
  EXPECT_TRUE(worth_moving_inputs_to(false, true, true));
  EXPECT_FALSE(worth_moving_inputs_to(false, false, true));  // busy, and a holder can take it
  EXPECT_TRUE(worth_moving_inputs_to(false, false, false));  // busy, but no holder can
  EXPECT_FALSE(worth_moving_inputs_to(true, true, true));    // its own roots wait
  EXPECT_FALSE(worth_moving_inputs_to(true, true, false));
}

TEST(Placement, CandidatesAreTheHoldersEachOnceThenTheLeastOccupiedOther) {
  const std::vector<WorkerId> on_1{WorkerId{1}}, on_1_and_2{WorkerId{1}, WorkerId{2}};
  const std::vector<PlacementInput> inputs{{100, on_1_and_2, {}}, {10, on_1, {}}};
  const std::vector<WorkerLoad> holders{{WorkerId{2}, 1, 0.5}, {WorkerId{1}, 2, 0.25}, {WorkerId{2}, 1, 0.5}};
  const std::vector<WorkerLoad> others{{WorkerId{4}, 1, 0.75}, {WorkerId{3}, 4, 0.125}, {WorkerId{5}, 1, 0.125}};
  const auto c = build_candidates(inputs, holders, others, 8, 0.8);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].id, WorkerId{2});
  EXPECT_EQ(c[0].missing_bytes, 10u);
  EXPECT_EQ(c[0].queued_seconds, 0.5);
  EXPECT_EQ(c[1].id, WorkerId{1});
  EXPECT_EQ(c[1].missing_bytes, 0u);
  EXPECT_EQ(c[1].nthreads, 2u);
  EXPECT_EQ(c[2].id, WorkerId{3});  // least occupied; the tie with worker 5 goes to the earlier
  EXPECT_EQ(c[2].missing_bytes, 110u);
  EXPECT_EQ(c[2].nthreads, 4u);
  for (const Candidate& x : c) EXPECT_FALSE(x.over_memory);  // no memory limit known
}

TEST(Placement, TheLeastOccupiedOtherIsNotAddedTwice) {
  const std::vector<WorkerId> on_1{WorkerId{1}};
  const std::vector<PlacementInput> inputs{{100, on_1, {}}};
  const std::vector<WorkerLoad> holders{{WorkerId{1}, 1, 0.0}};
  const std::vector<WorkerLoad> others{{WorkerId{2}, 1, 0.5}, {WorkerId{1}, 1, 0.0}};
  const auto c = build_candidates(inputs, holders, others, 8, 0.8);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].id, WorkerId{1});
  EXPECT_TRUE(build_candidates(inputs, {}, {}, 8, 0.8).empty());
}

TEST(Placement, AnInputOnItsWayToAWorkerIsNotMissingThere) {
  // Both inputs are on worker 1; worker 2 fetches the big one for a sibling already.
  const std::vector<WorkerId> on_1{WorkerId{1}}, fetched_by_2{WorkerId{2}};
  const std::vector<PlacementInput> inputs{{64 << 20, on_1, fetched_by_2}, {1 << 20, on_1, {}}};
  const std::vector<WorkerLoad> others{{WorkerId{2}, 1, 0.0}};
  const auto c = build_candidates(inputs, {}, others, 8, 0.8);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].missing_bytes, uint64_t{1} << 20);
}

TEST(Placement, ACandidateThatWouldPassItsPauseThresholdIsOverMemory) {
  const std::vector<WorkerId> on_1{WorkerId{1}};
  const std::vector<PlacementInput> inputs{{200, on_1, {}}};
  // Worker 2: 500 of RSS, 200 to fetch and 100 of output against a pause at 800.
  const std::vector<WorkerLoad> fits{{WorkerId{2}, 1, 0.0, 500, 1000}};
  EXPECT_FALSE(build_candidates(inputs, {}, fits, 100, 0.8)[0].over_memory);
  const std::vector<WorkerLoad> over{{WorkerId{2}, 1, 0.0, 501, 1000}};
  EXPECT_TRUE(build_candidates(inputs, {}, over, 100, 0.8)[0].over_memory);
  const std::vector<WorkerLoad> holder{{WorkerId{1}, 1, 0.0, 701, 1000}};  // holds the input: only its output counts
  EXPECT_TRUE(build_candidates(inputs, holder, {}, 100, 0.8)[0].over_memory);
}

// A worker with `processing` tasks of `occupancy` seconds in all.
WorkerLoad busy(uint64_t id, uint32_t threads, size_t processing, double occupancy) {
  WorkerLoad w;
  w.id = WorkerId{id};
  w.nthreads = threads;
  w.processing = processing;
  w.occupancy = occupancy;
  return w;
}

TEST(Stealing, AnIdleWorkerStealsFromTheLongestWaitForWhatItHasThreadsFor) {
  // Worker 3 (4 threads, 1 task) steals from worker 2, whose wait per thread (2 s) is
  // the longest; worker 2 has 4 tasks beyond its threads, worker 3 three threads free.
  std::vector<WorkerLoad> w{busy(1, 1, 5, 1.0), busy(2, 2, 6, 4.0), busy(3, 4, 1, 0.01)};
  auto plans = plan_steals(w);
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].thief, 2u);
  EXPECT_EQ(plans[0].victim, 1u);
  EXPECT_EQ(plans[0].count, 3u);
  EXPECT_DOUBLE_EQ(plans[0].thief_wait, 0.0025);
  EXPECT_DOUBLE_EQ(plans[0].victim_wait, 2.0);
  // Never more than the victim has waiting beyond its threads.
  w[1].processing = 3;
  plans = plan_steals(w);
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].count, 1u);
}

TEST(Stealing, NoThiefWithItsOwnRootsWaitingOrItsThreadsAwaitingSteals) {
  std::vector<WorkerLoad> w{busy(1, 1, 5, 5.0), busy(2, 2, 0, 0.0)};
  w[1].roots_waiting = true;
  EXPECT_TRUE(plan_steals(w).empty());
  w[1].roots_waiting = false;
  w[1].incoming_steals = 2;  // both threads will be busy once they arrive
  EXPECT_TRUE(plan_steals(w).empty());
  w[1].incoming_steals = 1;  // one still free: its own wait counts as none
  auto plans = plan_steals(w);
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].count, 1u);
  EXPECT_EQ(plans[0].thief_wait, 0.0);
}

TEST(Stealing, AWorkerWithOnlyShortWorkLeftStealsOneTask) {
  std::vector<WorkerLoad> w{busy(1, 1, 5, 5.0), busy(2, 2, 3, 2 * kShortWork)};
  auto plans = plan_steals(w);
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].thief, 1u);
  EXPECT_EQ(plans[0].count, 1u);
  w[1].occupancy = 3 * kShortWork;  // 1.5 kShortWork per thread: busy enough
  EXPECT_TRUE(plan_steals(w).empty());
  w[1].occupancy = kShortWork;
  w[1].incoming_steals = 1;  // a steal underway already
  EXPECT_TRUE(plan_steals(w).empty());
}

TEST(Stealing, OnlyAWorkerWithMoreTasksThanThreadsIsAVictim) {
  std::vector<WorkerLoad> w{busy(1, 2, 2, 9.0), busy(2, 1, 0, 0.0)};
  EXPECT_TRUE(plan_steals(w).empty());
  EXPECT_TRUE(plan_steals({}).empty());
  // Equal waits: the earlier worker is the victim; each idle worker plans its steal.
  w = {busy(1, 1, 3, 1.0), busy(2, 1, 3, 1.0), busy(3, 1, 0, 0.0), busy(4, 1, 0, 0.0)};
  auto plans = plan_steals(w);
  ASSERT_EQ(plans.size(), 2u);
  EXPECT_EQ(plans[0].thief, 2u);
  EXPECT_EQ(plans[0].victim, 0u);
  EXPECT_EQ(plans[1].thief, 3u);
  EXPECT_EQ(plans[1].victim, 0u);
}

TEST(Stealing, RootsTheLatestFirstThenConsumersTheEarliestFirst) {
  std::vector<StealCandidate> c{{{2, 0}, false, 7}, {{1, 0}, true, 1}, {{2, 1}, false, 5}, {{1, 1}, true, 3}};
  ASSERT_EQ(rank_steal_candidates(c), 4u);
  EXPECT_EQ(c[0].key, (TaskKey{1, 1}));
  EXPECT_EQ(c[1].key, (TaskKey{1, 0}));
  EXPECT_EQ(c[2].key, (TaskKey{2, 1}));
  EXPECT_EQ(c[3].key, (TaskKey{2, 0}));
  // Of many, only the first few are looked at.
  std::vector<StealCandidate> many;
  for (uint64_t i = 0; i < 1000; ++i) many.push_back({{2, i}, false, 1000 - i});
  ASSERT_EQ(rank_steal_candidates(many), kStealConsidered);
  EXPECT_EQ(many[0].order, 1u);
  EXPECT_EQ(many[kStealConsidered - 1].order, kStealConsidered);
}

TEST(Stealing, OnlyTasksWhoseInputsMoveInWellUnderTheWaitAreTaken) {
  StealPlan plan{1, 0, 2, 0.1, 1.0};
  // At 1 GB/s: 100 MB cost 0.2 s (taken), 450 MB 0.9 s (not: 0.9 + 0.1 is the wait).
  std::vector<StealCandidate> c{{{1, 0}, true, 9, 450'000'000}, {{1, 1}, true, 8, 100'000'000},
                                {{1, 2}, true, 7, 0}, {{1, 3}, true, 6, 0}};
  EXPECT_EQ(choose_steals(c, plan, 1e9), (std::vector<TaskKey>{{1, 1}, {1, 2}}));  // two at most
  plan.count = 0;
  EXPECT_TRUE(choose_steals(c, plan, 1e9).empty());
  plan = {1, 0, 4, 1.0, 1.0};  // the thief's own wait is as long as the victim's
  EXPECT_TRUE(choose_steals(c, plan, 1e9).empty());
}

}  // namespace
}  // namespace rsdat::sched
