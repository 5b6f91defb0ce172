// Workers killed with SIGKILL in the middle of computations: results are the same,
// bit for bit, as an undisturbed run, and new workers join and get work.
#include <gtest/gtest.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <thread>

#include "rsdat/rsdat.hpp"
#include "core/params.hpp"
#include "tests/integration/spawn.hpp"

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
    // A replacement joins and the cluster keeps its size: the scheduler lists exactly
    // the workers alive (LocalCluster names them local-<n> in the order it starts them).
    alive.push_back(cluster.add_worker());
    std::set<std::string> expected;
    for (pid_t pid : alive) {
      const auto& all = cluster.worker_pids();
      expected.insert("local-" + std::to_string(std::find(all.begin(), all.end(), pid) - all.begin()));
    }
    std::set<std::string> listed;
    // A loaded machine (tests run two at a time) can keep a new worker waiting a while.
    for (int i = 0; i < 800 && listed != expected; ++i) {
      if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(25));
      listed.clear();
      for (const auto& w : client.cluster_status().workers) listed.insert(w.name);
    }
    std::string names;
    for (const auto& n : listed) names += " " + n;
    ASSERT_EQ(listed, expected) << "round " << round << ", workers:" << names;
  }
  EXPECT_EQ(kills, 4);
  // Every worker, including the replacements, takes part in a final computation.
  EXPECT_EQ(mm(), mm_ref);
  auto status = client.cluster_status();
  EXPECT_EQ(status.workers.size(), 3u);
}

TEST(LostWorkers, PluginKernelsRunOnWorkers) {
  LocalCluster cluster(LocalClusterOptions{.workers = 2, .threads_per_worker = 1, .worker_plugins = {RSDAT_TEST_OPS}});
  Client client(cluster, ClientOptions{.progress = false});
  auto x = random::uniform({50, 40}, {20, 15}, 3);
  auto y = map_blocks("test_add_one", {x}, DType::kFloat64);
  EXPECT_EQ(y.compute<double>(&client), (x + 1.0).compute<double>(&client));
  // An op no worker has fails its task with a clear error; the cluster goes on.
  EXPECT_THROW(map_blocks("no_such_op", {x}, DType::kFloat64).compute<double>(&client), TaskError);
  EXPECT_EQ(x.sum().item(&client), random::uniform({50, 40}, {20, 15}, 3).sum().item(&client));
}

TEST(LostWorkers, AKernelThatKillsItsWorkerErrsAfterAllowedFailures) {
  LocalCluster cluster(LocalClusterOptions{.workers = 3, .threads_per_worker = 1, .worker_plugins = {RSDAT_TEST_OPS}});
  Client client(cluster, ClientOptions{.progress = false});
  auto bad = map_blocks("test_kill_worker", {ones({4}, {4})}, DType::kFloat64);
  try {
    bad.compute<double>(&client);
    ADD_FAILURE() << "no error";
  } catch (const TaskError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("test_kill_worker"), std::string::npos) << what;
    EXPECT_NE(what.find("3 times"), std::string::npos) << what;
  }
  for (pid_t p : cluster.worker_pids()) ::waitpid(p, nullptr, WNOHANG);
  // New workers join and the cluster computes again.
  cluster.add_worker();
  for (int i = 0; i < 200 && client.cluster_status().workers.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(ones({10}, {5}).sum().item(&client), 10.0);
}

// SIGTERM (what scancel and SLURM's --signal send) makes a worker retire: the chunks
// only it holds move to the others and it leaves. Nothing is computed twice.
TEST(LostWorkers, ARetiringWorkerHandsItsChunksOverAndNothingIsRecomputed) {
  LocalCluster cluster(LocalClusterOptions{.workers = 3, .threads_per_worker = 1, .memory_limit = "1GB",
                                           .worker_plugins = {RSDAT_TEST_OPS}});
  Client client(cluster, ClientOptions{.progress = false});
  const std::string counter = cluster.scheduler_file() + ".runs";
  auto runs = [&] {
    struct stat st{};
    return ::stat(counter.c_str(), &st) == 0 ? static_cast<long>(st.st_size) : 0L;
  };
  auto x = map_blocks("test_count_runs", {random::uniform({600, 600}, {100, 100}, 4)}, DType::kFloat64,
                      ParamWriter().str(counter).take())
               .persist(&client);
  ASSERT_EQ(runs(), 36);
  const double before = x.sum().item(&client);
  auto held = client.cluster_status().workers;
  ASSERT_EQ(held.size(), 3u);
  for (const auto& w : held) EXPECT_GT(w.keys, 0u) << w.name << " holds none of x";

  const pid_t victim = cluster.worker_pids()[1];
  ASSERT_EQ(::kill(victim, SIGTERM), 0);
  int status = -1;
  for (int i = 0; i < 600 && ::waitpid(victim, &status, WNOHANG) != victim; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_TRUE(WIFEXITED(status)) << "the retiring worker did not leave within 15 s";
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(client.cluster_status().workers.size(), 2u);
  EXPECT_DOUBLE_EQ(x.sum().item(&client), before);
  EXPECT_EQ(x.compute<double>(&client), random::uniform({600, 600}, {100, 100}, 4).compute<double>(&client));
  EXPECT_EQ(runs(), 36) << "chunks of x were computed again";
  // The cluster goes on with a new worker.
  cluster.add_worker();
  for (int i = 0; i < 400 && client.cluster_status().workers.size() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(client.cluster_status().workers.size(), 3u);
  EXPECT_DOUBLE_EQ(x.sum().item(&client), before);
  EXPECT_EQ(runs(), 36);
}

// --lifetime (what the SLURM job script sets from the job's time limit): the worker
// retires by itself when it is up, and its chunks stay in the cluster.
TEST(LostWorkers, AWorkerRetiresWhenItsLifetimeIsUp) {
  LocalCluster cluster(LocalClusterOptions{.workers = 1, .threads_per_worker = 1, .memory_limit = "1GB"});
  Client client(cluster, ClientOptions{.progress = false});
  const char* bin = std::getenv("RSDAT_BIN_DIR");
  ASSERT_NE(bin, nullptr);
  const std::string log = cluster.scheduler_file() + ".lifetime.log";
  std::vector<std::string> args{std::string(bin) + "/rsdat-worker", "--scheduler", cluster.scheduler_address(),
                                "--listen", "ipc://" + cluster.scheduler_file() + ".short.sock", "--nthreads", "1",
                                "--memory-limit", "1GB", "--lifetime", "3", "--name", "short-lived"};
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = test_support::spawn_logged(args, log);
  for (int i = 0; i < 200 && client.cluster_status().workers.size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(client.cluster_status().workers.size(), 2u);
  auto x = random::uniform({800, 800}, {100, 100}, 6).persist(&client);
  const double sum = x.sum().item(&client);
  int status = -1;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  const double lived = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_GE(lived, 2.5);
  EXPECT_LT(lived, 20.0);
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("retiring (lifetime of 3 s reached)"), std::string::npos) << text;
  EXPECT_NE(text.find("scheduler says goodbye: retired"), std::string::npos) << text;
  EXPECT_EQ(client.cluster_status().workers.size(), 1u);
  EXPECT_DOUBLE_EQ(x.sum().item(&client), sum);
}

TEST(LostWorkers, AClientThatGoesAwayHasItsWorkCancelled) {
  LocalCluster cluster(LocalClusterOptions{.workers = 2, .threads_per_worker = 1});
  Client other(cluster, ClientOptions{.progress = false});
  auto kept = random::uniform({400, 400}, {100, 100}, 1).persist(&other);
  {
    Client leaving(cluster, ClientOptions{.progress = false});
    auto held = random::uniform({2000, 2000}, {500, 500}, 2).persist(&leaving);
    EXPECT_GT(other.cluster_status().tasks, 16u);
  }  // its goodbye releases what it held
  for (int i = 0; i < 200 && other.cluster_status().tasks != 16u; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(other.cluster_status().tasks, 16u) << "only the other client's chunks remain";
  EXPECT_EQ(kept.sum().item(&other), random::uniform({400, 400}, {100, 100}, 1).sum().item(&other));
}

}  // namespace
}  // namespace rsdat
