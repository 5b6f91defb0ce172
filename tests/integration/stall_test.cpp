// A computation that cannot go on ends with a clear error within seconds instead of
// waiting without a word: a scheduler that was killed, and a cluster whose every
// worker is paused with nothing running.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "rsdat/rsdat.hpp"
#include "core/params.hpp"
#include "tests/integration/spawn.hpp"
#include "tests/sanitizer.hpp"

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

// A cluster without workers (their jobs may be waiting in a SLURM queue): the client
// is told at once and waits; a worker that joins runs the computation.
TEST(Stall, NoWorkerAtAllIsToldAndTheComputationWaitsForOne) {
  LocalCluster cluster(LocalClusterOptions{.workers = 0, .stall_timeout = 1});
  Client client(cluster, ClientOptions{.progress = false});
  std::thread joiner([&cluster] {
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    cluster.add_worker();
  });
  testing::internal::CaptureStdout();
  const double sum = ones({10}, {5}).sum().item(&client);
  const std::string said = testing::internal::GetCapturedStdout();
  joiner.join();
  EXPECT_EQ(sum, 10.0);
  EXPECT_NE(said.find("no task can start: no worker is connected"), std::string::npos) << said;
}

// Spilling that fails (here a file-size limit, as a full disk would) leaves chunks in
// memory until the worker pauses: the error names the spill failure too.
TEST(Stall, SpillingThatFailsEndsInAnErrorNamingTheDisk) {
  const char* bin = std::getenv("RSDAT_BIN_DIR");
  ASSERT_NE(bin, nullptr);
  LocalCluster cluster(LocalClusterOptions{.workers = 0, .stall_timeout = 2});
  const std::string log = cluster.scheduler_file() + ".worker.log";
  const std::string spill = cluster.scheduler_file() + ".spill";
  // Files of at most 64 KiB: no chunk of 2 MiB can be spilled.
  std::vector<std::string> argv{"/usr/bin/prlimit", "--fsize=65536", std::string(bin) + "/rsdat-worker",
                                "--scheduler", cluster.scheduler_address(), "--memory-limit", test_support::memory_limit_text(160'000'000),
                                "--local-directory", spill, "--name", "small-disk"};
  if (cluster.key_file().empty()) {
    argv.push_back("--no-encryption");  // ipc: the cluster's private directory is the guard
  } else {
    argv.insert(argv.end(), {"--key-file", cluster.key_file()});
  }
  const pid_t worker = test_support::spawn_logged(argv, log);
  Client client(cluster, ClientOptions{.progress = false});
  for (int i = 0; i < 200 && client.cluster_status().workers.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_EQ(client.cluster_status().workers.size(), 1u) << "the worker did not join; its log: " << log;
  std::string what;
  try {
    // 1.6 times the memory limit in chunks of 2 MiB, held: more than the worker may
    // keep in memory.
    const int64_t rows = static_cast<int64_t>(1.6 * static_cast<double>(test_support::memory_limit(160'000'000)) /
                                              (2048 * 8)) / 128 * 128;
    random::uniform({rows, 2048}, {128, 2048}, 1).persist(&client);
    what = "no ClusterError";
  } catch (const ClusterError& e) {
    what = e.what();
  }
  ::kill(worker, SIGKILL);
  ::waitpid(worker, nullptr, 0);
  EXPECT_NE(what.find("every worker is paused"), std::string::npos) << what;
  EXPECT_NE(what.find("worker small-disk"), std::string::npos) << what;
  EXPECT_NE(what.find("cannot spill"), std::string::npos) << what;
  EXPECT_NE(what.find("File too large"), std::string::npos) << what;
}

// The memory plan: results that cannot be held at once, even spilled, are refused
// before anything runs, naming the array and the numbers.
TEST(Stall, AGraphWhoseResultsCannotBeHeldEvenOnDiskIsRefusedBeforeItRuns) {
  const std::string spill = "/dev/shm/rsdat-plan-" + std::to_string(::getpid());
  struct statvfs st {};
  ASSERT_EQ(::statvfs("/dev/shm", &st), 0);
  const double disk = static_cast<double>(st.f_bavail) * static_cast<double>(st.f_frsize);
  LocalCluster cluster(
      LocalClusterOptions{.workers = 2, .memory_limit = "1GB", .local_directory = spill, .stall_timeout = 5});
  Client client(cluster, ClientOptions{.progress = false});
  // Twice what memory and the disk can take, in chunks of 80 MB.
  const int64_t rows = static_cast<int64_t>(2 * (disk + 2e9) / 8 / 10000 / 1000 + 1) * 1000;
  std::string what;
  try {
    ones({rows, 10000}, {1000, 10000}).persist(&client);
    what = "no error";
  } catch (const ClusterError& e) {
    what = e.what();
  }
  EXPECT_NE(what.find("wanted chunks of array"), std::string::npos) << what;
  EXPECT_NE(what.find("more than the workers' memory"), std::string::npos) << what;
  EXPECT_NE(what.find("and spill space"), std::string::npos) << what;
  EXPECT_EQ(client.cluster_status().tasks, 0u);
  EXPECT_EQ(client.cluster_status().tasks_finished, 0u) << "nothing ran";
  std::filesystem::remove_all(spill);
}

}  // namespace
}  // namespace rsdat
