// Workers with a small memory limit hold an array three times the cluster's memory: they
// spill to disk, compute the right result, stay inside their limit, and clean up.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "rsdat/rsdat.hpp"
#include "tests/sanitizer.hpp"

namespace rsdat {
namespace {

namespace fs = std::filesystem;

TEST(Spill, ArrayThreeTimesTheClusterMemoryStaysInsideTheLimit) {
  const fs::path local = fs::temp_directory_path() / ("rsdat-test-spill-" + std::to_string(::getpid()));
  fs::remove_all(local);
  const uint64_t limit = test_support::memory_limit(400'000'000);
  {
    LocalCluster cluster(LocalClusterOptions{.workers = 2, .threads_per_worker = 1,
                                             .memory_limit = std::to_string(limit), .local_directory = local.string()});
    Client client(cluster, ClientOptions{.progress = false});
    // 2.59 GB of float64 in 8 MB chunks over 2 x 400 MB: 3.2 times the cluster's memory.
    const int64_t side = 18000;
    const uint64_t x_bytes = static_cast<uint64_t>(side) * side * 8;
    ASSERT_GT(x_bytes, 3 * 2 * limit);
    auto x = random::uniform({side, side}, {1000, 1000}, 4).persist(&client);
    const double expected = random::uniform({side, side}, {1000, 1000}, 4).sum().item(&client);
    EXPECT_NEAR(x.sum().item(&client), expected, 1e-6 * expected);
    EXPECT_NEAR((x * 2.0).mean().item(&client), 2.0 * expected / (side * side), 1e-9);
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // a heartbeat later
    auto status = client.cluster_status();
    uint64_t spilled_total = 0;
    for (const auto& w : status.workers) {
      spilled_total += w.spilled_total;
      EXPECT_LE(w.peak_rss_bytes, limit) << w.name << " went past its memory limit";
      EXPECT_GT(w.spilled_bytes, 0u) << w.name << " holds its share of x on disk";
    }
    EXPECT_GE(spilled_total, x_bytes - 2 * limit);  // all but what fits in memory
    // The reductions run where the chunks are: only small partials travel, and the
    // chunks an idle worker steals, which depend on timing (a few percent of x when the
    // machine is quiet; the scheduler's unit tests check placement exactly). Moving a
    // quarter of x would mean placement ignores where chunks are.
    EXPECT_LT(status.bytes_transferred, x_bytes / 4) << "reductions ran where the chunks are";
  }
  // The workers removed their spill files when they stopped.
  size_t left = 0;
  for (const auto& e : fs::recursive_directory_iterator(local)) left += e.is_regular_file();
  EXPECT_EQ(left, 0u);
  fs::remove_all(local);
}

TEST(Spill, AChunkLargerThanAnyWorkerIsAClearErrorBeforeAnythingRuns) {
  LocalCluster cluster(LocalClusterOptions{.workers = 2, .threads_per_worker = 1,
                                           .memory_limit = test_support::memory_limit_text(100'000'000)});
  Client client(cluster, ClientOptions{.progress = false});
  auto big = ones({8000, 8000}, {8000, 8000});  // one 512 MB chunk
  try {
    big.sum().item(&client);
    ADD_FAILURE() << "no error";
  } catch (const ClusterError& e) {
    EXPECT_NE(std::string(e.what()).find("memory limit"), std::string::npos) << e.what();
  }
  EXPECT_EQ(client.cluster_status().tasks, 0u);
  // Smaller chunks of the same array work.
  EXPECT_EQ(ones({8000, 8000}, {1000, 1000}).sum().item(&client), 64e6);
}

}  // namespace
}  // namespace rsdat
