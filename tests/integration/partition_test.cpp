// A worker that the scheduler stopped counting while its connection stayed open (frozen
// past --worker-timeout, or cut off behind a network partition that later heals), and a
// worker whose scheduler was started again at the same address: each leaves by itself
// instead of running on, unused, forever. tests/netns/run.sh does the same across real
// network namespaces with the link taken down.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "rsdat/rsdat.hpp"
#include "tests/integration/spawn.hpp"

namespace rsdat {
namespace {

namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Waits up to `seconds` for the child to end; its wait status, or -1 if it still runs.
int wait_exit(pid_t pid, double seconds) {
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int status = 0;
  while (std::chrono::steady_clock::now() < until) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return -1;
}

// A scheduler and workers on ipc sockets in a directory of their own, started by hand so
// that the test picks the timeouts. Every daemon still running is killed at the end.
class PartitionCluster {
 public:
  PartitionCluster() {
    const char* bin = std::getenv("RSDAT_BIN_DIR");
    if (bin) bin_ = bin;
    std::string tmpl = (fs::temp_directory_path() / "rsdat-partition-XXXXXX").string();
    if (::mkdtemp(tmpl.data())) dir_ = tmpl;
  }
  ~PartitionCluster() {
    for (pid_t pid : pids_) {
      if (::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
    }
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  bool ok() const { return !bin_.empty() && !dir_.empty(); }
  std::string file() const { return dir_ + "/scheduler.json"; }
  std::string log(const std::string& name) const { return dir_ + "/" + name + ".log"; }

  pid_t start_scheduler(const std::string& worker_timeout) {
    fs::remove(file());
    return spawn("scheduler", {bin_ + "/rsdat-scheduler", "--listen", "ipc://" + dir_ + "/scheduler.sock",
                               "--scheduler-file", file(), "--worker-timeout", worker_timeout,
                               "--dashboard-port", "-1"});
  }
  pid_t start_worker(const std::string& name, const std::string& death_timeout) {
    return spawn(name, {bin_ + "/rsdat-worker", "--scheduler-file", file(), "--listen",
                        "ipc://" + dir_ + "/" + name + ".sock", "--nthreads", "1", "--memory-limit", "512MB",
                        "--local-directory", dir_, "--name", name, "--death-timeout", death_timeout});
  }
  // Waits up to `seconds` for the scheduler to count `n` workers.
  static bool wait_workers(Client& client, size_t n, double seconds) {
    auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until) {
      if (client.cluster_status().workers.size() == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
  }

 private:
  pid_t spawn(const std::string& name, std::vector<std::string> argv) {
    pid_t pid = test_support::spawn_logged(std::move(argv), log(name));
    pids_.push_back(pid);
    return pid;
  }
  std::string bin_, dir_;
  std::vector<pid_t> pids_;
};

TEST(Partition, AWorkerLostForItsSilenceLeavesWhenItComesBack) {
  PartitionCluster cluster;
  ASSERT_TRUE(cluster.ok()) << "RSDAT_BIN_DIR unset or no temporary directory";
  cluster.start_scheduler("1");
  cluster.start_worker("steady", "60");
  const pid_t frozen = cluster.start_worker("frozen", "60");
  auto client = Client::from_scheduler_file(cluster.file(), 30, ClientOptions{.progress = false});
  ASSERT_TRUE(PartitionCluster::wait_workers(*client, 2, 15)) << read_text(cluster.log("scheduler"));
  auto x = random::uniform({400, 400}, {100, 100}, 3);
  const double expected = x.sum().item(client.get());

  // Frozen, its connection stays open: the scheduler drops it for its silence alone.
  ASSERT_EQ(::kill(frozen, SIGSTOP), 0);
  const bool dropped = PartitionCluster::wait_workers(*client, 1, 10);
  ASSERT_EQ(::kill(frozen, SIGCONT), 0);
  ASSERT_TRUE(dropped) << read_text(cluster.log("scheduler"));
  // Back, it reads the goodbye that waited for it and leaves well before its 60 s
  // death timeout: before, it went on sending heartbeats that earned only errors.
  const int status = wait_exit(frozen, 10);
  ASSERT_NE(status, -1) << "the dropped worker still runs; its log:\n" << read_text(cluster.log("frozen"));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_NE(read_text(cluster.log("frozen")).find("scheduler says goodbye: lost: no heartbeat for 1.0 s"),
            std::string::npos)
      << read_text(cluster.log("frozen"));
  EXPECT_NE(read_text(cluster.log("scheduler")).find("worker frozen left: no heartbeat for 1.0 s"),
            std::string::npos);
  EXPECT_EQ(client->cluster_status().workers.size(), 1u);
  EXPECT_EQ(x.sum().item(client.get()), expected);
}

TEST(Partition, AWorkerThatItsRestartedSchedulerDoesNotKnowLeavesAfterItsDeathTimeout) {
  PartitionCluster cluster;
  ASSERT_TRUE(cluster.ok()) << "RSDAT_BIN_DIR unset or no temporary directory";
  const pid_t first = cluster.start_scheduler("5");
  const pid_t worker = cluster.start_worker("orphan", "2");
  {
    auto client = Client::from_scheduler_file(cluster.file(), 30, ClientOptions{.progress = false});
    ASSERT_TRUE(PartitionCluster::wait_workers(*client, 1, 15)) << read_text(cluster.log("scheduler"));
  }
  // A scheduler killed without a goodbye and started again at the same endpoint: the
  // worker's socket connects to the new one, which answers its heartbeats with errors.
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ::waitpid(first, nullptr, 0);
  cluster.start_scheduler("5");
  const int status = wait_exit(worker, 15);
  ASSERT_NE(status, -1) << "the worker still runs; its log:\n" << read_text(cluster.log("orphan"));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_NE(read_text(cluster.log("orphan")).find("no word from the scheduler"), std::string::npos)
      << read_text(cluster.log("orphan"));
}

}  // namespace
}  // namespace rsdat
