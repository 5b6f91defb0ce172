// The placement policy on hand-built situations.
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

}  // namespace
}  // namespace rsdat::sched
