// Eight clients on one cluster at once, with graphs of mixed sizes, some cancelled
// midway and one client that vanishes without a word: every result is right, and
// afterwards the cluster holds nothing and the scheduler's memory is back where it was.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "rsdat/rsdat.hpp"

namespace rsdat {
namespace {

uint64_t rss_kib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  uint64_t value = 0;
  while (f >> key) {
    if (key == "VmRSS:") {
      f >> value;
      return value;
    }
    f.ignore(1 << 12, '\n');
  }
  return 0;
}

// The graphs the clients run, by kind; each has a known answer.
Array graph(int kind) {
  switch (kind % 3) {
    case 0: return ones({20000}, {100}).sum();                                  // 200 tiny tasks
    case 1: return random::uniform({2000, 2000}, {250, 250}, 5).sum();          // 64 chunks
    default: {
      auto x = random::uniform({1500, 1500}, {300, 300}, 6);
      return (x + x.T()).mean();                                                // transposed reads
    }
  }
}

TEST(ManyClients, EightAtOnceWithCancelledAndAbandonedGraphsLeaveNothingBehind) {
  LocalCluster cluster(LocalClusterOptions{.workers = 2, .threads_per_worker = 1, .memory_limit = "2GB"});
  // The client that vanishes: a process of its own (forked before this one has any
  // client, so no thread is copied) that submits a big graph and is killed midway.
  const pid_t abandoner = ::fork();
  if (abandoner == 0) {
    try {
      Client c(cluster, ClientOptions{.progress = false, .name = "abandoner"});
      random::uniform({6000, 6000}, {500, 500}, 7).sum().item(&c);
    } catch (...) {
    }
    ::_exit(0);
  }
  Client watcher(cluster, ClientOptions{.progress = false, .name = "watcher"});
  std::vector<double> expected;
  for (int kind = 0; kind < 3; ++kind) expected.push_back(graph(kind).item(&watcher));
  ASSERT_EQ(expected[0], 20000.0);
  const uint64_t baseline_kib = rss_kib(cluster.scheduler_pid());

  std::atomic<int> wrong{0}, cancelled{0}, finished{0};
  std::vector<std::string> problems(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      try {
        // The scheduler's first count of tasks done tells the canceller the big graph runs.
        std::atomic<bool> running{false};
        Client c(cluster, ClientOptions{.progress = false,
                                        .on_progress = [&running](const ProgressInfo& p) {
                                          if (p.tasks_done > 0 && !p.finished) running = true;
                                        },
                                        .name = "client-" + std::to_string(i)});
        for (int round = 0; round < 3; ++round) {
          const int kind = i + round;
          if (i % 4 == 3) {
            // Cancelled midway, from another thread, once it runs (or after 5 s).
            running = false;
            std::thread canceller([&c, &running] {
              for (int t = 0; t < 500 && !running; ++t) std::this_thread::sleep_for(std::chrono::milliseconds(10));
              c.cancel();
            });
            try {
              // 2,304 chunks, 1.2 GB to generate: seconds on two workers, so that a
              // cancel sent at its first progress report arrives while it runs.
              const double v = random::uniform({12000, 12000}, {250, 250}, 8 + i).sum().item(&c);
              if (!(std::abs(v - 72e6) < 1e5)) ++wrong;  // finished first: still right
            } catch (const CancelledError&) {
              ++cancelled;
            }
            canceller.join();
          }
          const double v = graph(kind).item(&c);
          if (v != expected[kind % 3]) {
            ++wrong;
            problems[i] = "kind " + std::to_string(kind % 3) + ": " + std::to_string(v);
          }
          ++finished;
        }
      } catch (const std::exception& e) {
        problems[i] = e.what();
        ++wrong;
      }
    });
  }
  // Kill the vanishing client once its graph is at the scheduler.
  for (int i = 0; i < 400 && watcher.cluster_status().tasks < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(abandoner, SIGKILL);
  ::waitpid(abandoner, nullptr, 0);
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i) EXPECT_TRUE(problems[i].empty()) << "client " << i << ": " << problems[i];
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(finished.load(), 24);
  EXPECT_GE(cancelled.load(), 1) << "a cancel came after its computation had finished, each time";

  // Nothing stays: no task record, no chunk on a worker.
  ClusterStatus st;
  for (int i = 0; i < 500; ++i) {
    st = watcher.cluster_status();
    bool empty = st.tasks == 0;
    for (const auto& w : st.workers) empty = empty && w.keys == 0;
    if (empty) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(st.tasks, 0u);
  for (const auto& w : st.workers) EXPECT_EQ(w.keys, 0u) << w.name;
  const uint64_t after_kib = rss_kib(cluster.scheduler_pid());
  EXPECT_LT(after_kib, baseline_kib + 64 * 1024) << "scheduler memory " << baseline_kib << " KiB before, "
                                                  << after_kib << " KiB after";
  std::printf("scheduler memory: %lu KiB before the clients, %lu KiB after; %d of 6 cancels took effect\n",
              static_cast<unsigned long>(baseline_kib), static_cast<unsigned long>(after_kib), cancelled.load());
}

}  // namespace
}  // namespace rsdat
