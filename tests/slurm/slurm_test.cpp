// rsdat under a real SLURM (tests/slurm/run.sh starts it): the daemons as batch jobs
// through deploy/slurm/rsdat-slurm and its sbatch scripts, a client finding them by the
// scheduler file; scaling, a cancelled worker and a worker reaching its time limit
// while computations run.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <atomic>
#include <cmath>

#include "rsdat/rsdat.hpp"
#include "core/params.hpp"
#include "core/sysinfo.hpp"

namespace rsdat {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;


std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

class SlurmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(env("SLURM_CONF").empty()) << "run through tests/slurm/run.sh";
    name_ = std::string("t") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    name_ = name_.substr(0, 24);
    dir_ = env("RSDAT_SLURM_TEST_DIR") + "/" + name_;
    fs::create_directories(dir_);
    scheduler_file_ = dir_ + "/scheduler.json";
  }
  void TearDown() override {
    client_.reset();
    run_shell(slurm() + " --timeout 60 stop");
    run_shell("scancel --name=" + name_ + "-worker," + name_ + "-scheduler");
  }
  // rsdat-slurm with this test's cluster name, scheduler file and small jobs.
  std::string slurm(const std::string& extra = "") const {
    return "RSDAT_SLURM_CONFIG=/dev/null " + env("RSDAT_SLURM") + " --name " + name_ + " --scheduler-file " +
           scheduler_file_ + " --bin " + env("RSDAT_BIN_DIR") + " --cpus 1 --memory 1G --walltime 00:10:00 " +
           extra;
  }
  Client& client() {
    if (!client_) client_ = Client::from_scheduler_file(scheduler_file_, 60, ClientOptions{.progress = false});
    return *client_;
  }
  // Waits up to `seconds` for the scheduler to count `n` workers.
  bool wait_workers(size_t n, double seconds = 90) {
    auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < deadline) {
      if (client().cluster_status().workers.size() == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }
  std::vector<std::string> worker_jobs() const {
    std::vector<std::string> ids;
    std::istringstream in(
        run_shell("squeue -h --name=" + name_ + "-worker --states=PENDING,CONFIGURING,RUNNING -o %i | sort -n").output);
    for (std::string id; in >> id;) ids.push_back(id);
    return ids;
  }
  std::string logs() const { return run_shell("tail -n 20 " + dir_ + "/logs/*.log").output; }

  std::string name_, dir_, scheduler_file_;
  std::unique_ptr<Client> client_;
};

TEST_F(SlurmTest, ScriptsStartComputeScaleAndStop) {
  auto t0 = Clock::now();
  CommandOutcome start = run_shell(slurm() + " start 2");
  ASSERT_EQ(start.status, 0) << start.output;
  ASSERT_TRUE(wait_workers(2)) << logs();
  auto x = random::uniform({1200, 1200}, {200, 200}, 7);
  auto compute = [&] { return (x + x.T()).mean({0}).compute<double>(&client()); };
  const xt::xarray<double> ref = compute();
  std::printf("cluster of 2 SLURM workers computing after %.1f s\n",
              std::chrono::duration<double>(Clock::now() - t0).count());

  // Scale to 3, then to 1, while computations run: results do not change.
  std::atomic<bool> scaled{false};
  std::string scale_log;
  std::thread scaler([&] {
    scale_log += run_shell(slurm() + " scale 3").output;
    for (int i = 0; i < 300 && client_ && worker_jobs().size() < 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));
    scale_log += run_shell(slurm() + " scale 1").output;
    scaled.store(true);
  });
  int rounds = 0;
  for (; rounds < 2000 && !scaled.load(); ++rounds) EXPECT_EQ(compute(), ref) << "round " << rounds;
  scaler.join();
  EXPECT_NE(scale_log.find("submitted"), std::string::npos) << scale_log;
  EXPECT_NE(scale_log.find("retiring"), std::string::npos) << scale_log;
  EXPECT_EQ(compute(), ref);
  ASSERT_TRUE(wait_workers(1)) << logs();
  EXPECT_EQ(compute(), ref);
  for (int i = 0; i < 300 && worker_jobs().size() != 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(worker_jobs().size(), 1u) << "retired workers' jobs end";

  CommandOutcome status = run_shell(slurm() + " status");
  EXPECT_EQ(status.status, 0) << status.output;
  EXPECT_NE(status.output.find("1 workers"), std::string::npos) << status.output;
  client_.reset();
  CommandOutcome stop = run_shell(slurm() + " stop");
  EXPECT_EQ(stop.status, 0) << stop.output;
  EXPECT_EQ(run_shell("squeue -h --name=" + name_ + "-worker," + name_ + "-scheduler").output, "");
  std::printf("start, %d computations while scaling 2 -> 3 -> 1, stop: %.1f s\n", rounds,
              std::chrono::duration<double>(Clock::now() - t0).count());
}

TEST_F(SlurmTest, AWorkerCancelledMidComputationChangesNothing) {
  auto t0 = Clock::now();
  ASSERT_EQ(run_shell(slurm() + " start 3").status, 0);
  ASSERT_TRUE(wait_workers(3)) << logs();
  auto a = random::uniform({2000, 2000}, {400, 400}, 1);
  auto b = random::uniform({2000, 2000}, {400, 400}, 2);
  auto compute = [&] { return matmul(a, b).compute<double>(&client()); };
  const xt::xarray<double> ref = compute();
  std::vector<std::string> jobs = worker_jobs();
  ASSERT_EQ(jobs.size(), 3u);
  // SIGKILL, as when a node fails: no retirement.
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    run_shell("scancel --signal=KILL " + jobs[1]);
  });
  xt::xarray<double> got = compute();
  killer.join();
  EXPECT_EQ(got, ref);
  ASSERT_TRUE(wait_workers(2, 30)) << logs();
  EXPECT_EQ(compute(), ref);
  // A replacement joins and computes too.
  ASSERT_EQ(run_shell(slurm() + " scale 3").status, 0);
  ASSERT_TRUE(wait_workers(3)) << logs();
  EXPECT_EQ(compute(), ref);
  std::printf("scancel of a worker mid-matmul, replaced: %.1f s\n",
              std::chrono::duration<double>(Clock::now() - t0).count());
}

TEST_F(SlurmTest, AWorkerAtItsTimeLimitRetiresWithoutRecomputation) {
  auto t0 = Clock::now();
  const std::string plugin = std::string("--worker-args '--plugin ") + RSDAT_TEST_OPS + "'";
  ASSERT_EQ(run_shell(slurm(plugin) + " start 1").status, 0);
  ASSERT_TRUE(wait_workers(1)) << logs();
  // One more worker whose job has SLURM's shortest time limit; it retires 30 s early.
  CommandOutcome short_job = run_shell(slurm(plugin + " --walltime 00:01:00 --retire-before 30") + " scale 2");
  ASSERT_EQ(short_job.status, 0) << short_job.output;
  ASSERT_TRUE(wait_workers(2)) << logs();
  std::vector<std::string> jobs = worker_jobs();
  ASSERT_EQ(jobs.size(), 2u);
  const std::string short_id = jobs[1];

  // The short worker is about to retire, so it no longer counts: scaling to 2 submits
  // its replacement ahead of time.
  const std::string long_jobs = slurm(plugin + " --retire-before 30");
  EXPECT_EQ(run_shell(long_jobs + " count").output, "1\n");
  CommandOutcome ahead = run_shell(long_jobs + " scale 2");
  EXPECT_NE(ahead.output.find("submitted"), std::string::npos) << ahead.output;
  ASSERT_TRUE(wait_workers(3)) << logs();

  const std::string counter = dir_ + "/runs";
  auto runs = [&] {
    struct stat st{};
    return ::stat(counter.c_str(), &st) == 0 ? static_cast<long>(st.st_size) : 0L;
  };
  auto x = map_blocks("test_count_runs", {random::uniform({600, 600}, {100, 100}, 4)}, DType::kFloat64,
                      ParamWriter().str(counter).take())
               .persist(&client());
  ASSERT_EQ(runs(), 36);
  const double sum = x.sum().item(&client());
  auto status = client().cluster_status();
  for (const auto& w : status.workers) EXPECT_GT(w.keys, 0u) << w.name << " holds none of x";

  // The short job ends before its limit: SLURM's --signal or the worker's --lifetime
  // (whichever comes first) makes the worker retire. Everything it held stays.
  const auto job_start = Clock::now();
  bool ended = false;
  for (int i = 0; i < 1200 && !ended; ++i) {
    ended = run_shell("squeue -h -j " + short_id + " -o %T").output.empty();
    if (!ended) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(ended) << logs();
  const double lived = std::chrono::duration<double>(Clock::now() - job_start).count();
  EXPECT_LT(lived, 58.0) << "the worker job ran into its time limit";
  std::string worker_log = run_shell("cat " + dir_ + "/logs/" + name_ + "-worker-" + short_id + ".log").output;
  EXPECT_NE(worker_log.find("retiring ("), std::string::npos) << worker_log;
  EXPECT_NE(worker_log.find("scheduler says goodbye: retired"), std::string::npos) << worker_log;
  ASSERT_TRUE(wait_workers(2, 10));  // the long one and the replacement
  EXPECT_DOUBLE_EQ(x.sum().item(&client()), sum);
  EXPECT_EQ(runs(), 36) << "chunks were computed again";
  std::printf("worker with a 1-minute limit retired in time, nothing recomputed: %.1f s\n",
              std::chrono::duration<double>(Clock::now() - t0).count());
}

TEST_F(SlurmTest, SlurmClusterStartsScalesAdaptsAndCloses) {
  auto t0 = Clock::now();
  SlurmClusterOptions options{.name = name_, .scheduler_file = scheduler_file_, .config = "/dev/null",
                              .walltime = "00:10:00", .cpus = 1, .memory = "1G", .bin = env("RSDAT_BIN_DIR"),
                              .rsdat_slurm = env("RSDAT_SLURM"), .timeout = 120};
  {
    SlurmCluster cluster(options);
    EXPECT_EQ(cluster.scheduler_file(), scheduler_file_);
    const std::string script = cluster.job_script();
    EXPECT_NE(script.find("#SBATCH --mem=1G"), std::string::npos) << script;
    EXPECT_NE(script.find("#SBATCH --job-name=" + name_ + "-worker"), std::string::npos) << script;
    EXPECT_NE(script.find("rsdat-worker"), std::string::npos) << script;
    EXPECT_NE(cluster.job_script("scheduler").find("#SBATCH --job-name=" + name_ + "-scheduler"), std::string::npos);

    cluster.scale(2);
    EXPECT_EQ(cluster.jobs(), 2);
    ASSERT_TRUE(wait_workers(2)) << logs();
    auto x = random::uniform({1000, 1000}, {100, 100}, 9);
    const double ref = x.sum().item(&client());
    cluster.scale(1);
    ASSERT_TRUE(wait_workers(1)) << logs();
    EXPECT_DOUBLE_EQ(x.sum().item(&client()), ref);

    // adapt: more workers while tasks wait, back to the minimum once idle.
    cluster.adapt(1, 3, /*idle_seconds=*/3, /*interval=*/1);
    auto a = random::uniform({2400, 2400}, {200, 200}, 1);
    std::atomic<bool> done{false};
    int most = 1;
    std::thread watch([&] {
      while (!done.load()) {
        most = std::max(most, cluster.jobs());
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
      }
    });
    for (int i = 0; i < 40 && most < 2; ++i) {
      auto m = matmul(a, a.T()).sum().item(&client());
      EXPECT_TRUE(std::isfinite(m));
    }
    done.store(true);
    watch.join();
    EXPECT_GE(most, 2) << "adapt asked for no worker while tasks waited";
    bool back = false;
    for (int i = 0; i < 600 && !back; ++i) {
      back = cluster.jobs() == 1;
      if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(back) << "adapt kept idle workers: " << cluster.status();
    EXPECT_DOUBLE_EQ(x.sum().item(&client()), ref);
    client_.reset();
    cluster.close();
  }
  EXPECT_EQ(run_shell("squeue -h --name=" + name_ + "-worker," + name_ + "-scheduler --states=PENDING,RUNNING").output, "");
  std::printf("SlurmCluster start, scale 2 -> 1, adapt 1..3 up and down, close: %.1f s\n",
              std::chrono::duration<double>(Clock::now() - t0).count());
}

}  // namespace
}  // namespace rsdat
