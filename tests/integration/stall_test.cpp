// A computation that cannot go on ends with a clear error within seconds instead of
// waiting without a word: a scheduler that was killed, and a cluster whose every
// worker is paused with nothing running.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>

#include "rsdat/rsdat.hpp"
#include "core/params.hpp"

namespace rsdat {
namespace {

std::string compute_error(const Array& a, Client& client) {
  try {
    a.compute<double>(&client);
  } catch (const ClusterError& e) {
    return e.what();
  }
  return "no ClusterError";
}

// The client hears of the closed connection from its socket monitor: the message says
// so, where the silence timeout (set far beyond the test's own) would say "no answer".
TEST(Stall, AKilledSchedulerFailsTheComputationAtOnce) {
  for (const char* transport : {"ipc", "tcp"}) {
    SCOPED_TRACE(transport);
    LocalCluster cluster(LocalClusterOptions{.workers = 1, .worker_plugins = {RSDAT_TEST_OPS}, .transport = transport});
    Client client(cluster, ClientOptions{.scheduler_timeout = 3600, .progress = false});
    // Four tasks of a second on one worker thread: running when the scheduler dies.
    auto slow = map_blocks("test_sleep", {ones({4}, {1})}, DType::kFloat64, ParamWriter().str("1000").take());
    const pid_t scheduler = cluster.scheduler_pid();
    std::thread killer([scheduler] {
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
      ::kill(scheduler, SIGKILL);
    });
    const std::string what = compute_error(slow.sum(), client);
    killer.join();  // the cluster reaps the scheduler
    EXPECT_NE(what.find("lost the connection to the scheduler"), std::string::npos) << what;
    EXPECT_NE(what.find("stopped or was killed"), std::string::npos) << what;
  }
}

// A worker whose own memory is above its pause threshold before any task pauses at
// once and never resumes: the client is told at once, and the computation fails after
// the stall timeout, naming the worker and the numbers.
TEST(Stall, EveryWorkerPausedFailsTheComputationNamingThem) {
  LocalCluster cluster(LocalClusterOptions{.workers = 2, .memory_limit = "8MB", .stall_timeout = 2});
  Client client(cluster, ClientOptions{.progress = false});
  const std::string what = compute_error(ones({100}, {10}).sum(), client);
  EXPECT_NE(what.find("computation failed: no task could start"), std::string::npos) << what;
  EXPECT_NE(what.find("every worker is paused"), std::string::npos) << what;
  EXPECT_NE(what.find("worker local-0"), std::string::npos) << what;
  EXPECT_NE(what.find("worker local-1"), std::string::npos) << what;
  EXPECT_NE(what.find("its own memory before any task already above that"), std::string::npos) << what;
  EXPECT_NE(what.find("raise --memory-limit"), std::string::npos) << what;
  // The scheduler still serves this client and others.
  EXPECT_EQ(client.cluster_status().workers.size(), 2u);
  Client other(cluster, ClientOptions{.progress = false});
  EXPECT_EQ(other.cluster_status().workers.size(), 2u);
}

}  // namespace
}  // namespace rsdat
