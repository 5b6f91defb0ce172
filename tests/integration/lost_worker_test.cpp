// Workers killed with SIGKILL in the middle of computations: results are the same,
// bit for bit, as an undisturbed run, and new workers join and get work.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "rsdat/rsdat.hpp"

namespace rsdat {
namespace {

TEST(LostWorkers, KilledWorkersDoNotChangeResults) {
  LocalCluster cluster(LocalClusterOptions{.workers = 3, .threads_per_worker = 1, .memory_limit = "2GB"});
  Client client(cluster, ClientOptions{.progress = false});
  auto a = random::uniform({1200, 1200}, {200, 200}, 11);
  auto b = random::uniform({1200, 1200}, {200, 200}, 12);
  auto x = random::uniform({3000, 3000}, {300, 300}, 13);
  auto mm = [&] { return matmul(a, b).compute<double>(&client); };
  auto xx = [&] { return (x + x.T()).mean({0}).compute<double>(&client); };
  const xt::xarray<double> mm_ref = mm();
  const xt::xarray<double> xx_ref = xx();

  std::mt19937 rng(7);
  std::vector<pid_t> alive = cluster.worker_pids();
  int kills = 0;
  for (int round = 0; round < 4; ++round) {
    std::atomic<bool> done{false};
    const int delay_ms = 5 + static_cast<int>(rng() % 150);
    const size_t victim_index = rng() % alive.size();
    pid_t victim = alive[victim_index];
    std::thread killer([&] {
      auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(delay_ms);
      while (std::chrono::steady_clock::now() < until && !done.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      ::kill(victim, SIGKILL);
    });
    xt::xarray<double> got;
    std::string error;
    try {
      got = round % 2 == 0 ? mm() : xx();
    } catch (const std::exception& e) {
      error = e.what();
    }
    done.store(true);
    killer.join();
    ASSERT_EQ(error, "") << "round " << round;
    ::waitpid(victim, nullptr, 0);
    ++kills;
    alive.erase(alive.begin() + static_cast<long>(victim_index));
    EXPECT_EQ(got, round % 2 == 0 ? mm_ref : xx_ref) << "round " << round;
    // A replacement joins and the cluster keeps its size.
    alive.push_back(cluster.add_worker());
    for (int i = 0; i < 200; ++i) {
      if (client.cluster_status().workers.size() == 3) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ASSERT_EQ(client.cluster_status().workers.size(), 3u) << "round " << round;
  }
  EXPECT_EQ(kills, 4);
  // Every worker, including the replacements, takes part in a final computation.
  EXPECT_EQ(mm(), mm_ref);
  auto status = client.cluster_status();
  EXPECT_EQ(status.workers.size(), 3u);
}

}  // namespace
}  // namespace rsdat
