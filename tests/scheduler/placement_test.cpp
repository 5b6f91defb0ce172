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

}  // namespace
}  // namespace rsdat::sched
