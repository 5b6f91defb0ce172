// Chaos, bounded and repeatable: each benchmark workload, at a small scale, runs while a
// seeded random schedule kills workers (SIGKILL), retires them (SIGTERM), starts
// replacements and freezes workers for a moment (SIGSTOP, then SIGCONT), also while
// they spill, write Zarr chunks and send chunks to each other. Every run must give the
// same result, bit for bit, as an undisturbed run; a Zarr store written under chaos
// holds every chunk whole and nothing else; when the cluster stops no process of it
// and no spill file is left.
//
// RSDAT_CHAOS_SEED picks the schedule (default 1; a failure prints the seed that
// reproduces it), RSDAT_CHAOS_ROUNDS how many disturbed runs per workload (default 1;
// `make chaos` runs more), RSDAT_CHAOS_LOG_LEVEL the daemons' log level (default warn).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "rsdat/rsdat.hpp"
#include "tests/sanitizer.hpp"

namespace rsdat {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

uint64_t env_or(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

struct Workload {
  std::string name;
  std::function<double(Client&, const std::string& scratch)> run;
};

std::vector<Workload> workloads() {
  return {
      {"tiny_tasks_sum", [](Client& c, const std::string&) { return ones({300000}, {100}).sum().item(&c); }},
      {"x_plus_xT_mean",
       [](Client& c, const std::string&) {
         auto x = random::uniform({4000, 4000}, {400, 400}, 1);
         return (x + x.T()).mean({0}).sum().item(&c);
       }},
      {"matmul",
       [](Client& c, const std::string&) {
         auto a = random::uniform({2000, 2000}, {250, 250}, 2);
         auto b = random::uniform({2000, 2000}, {250, 250}, 3);
         return matmul(a, b).sum().item(&c);
       }},
      {"rechunk_timeseries",
       [](Client& c, const std::string&) {
         auto x = random::uniform({32, 1024, 1024}, {1, 1024, 1024}, 4, DType::kFloat32);
         return x.rechunk({32, 128, 128}).std({0}).sum().item(&c);
       }},
      {"ndvi_zarr",
       [](Client& c, const std::string& scratch) {
         const std::string store = scratch + "/ndvi.zarr";
         auto red = random::uniform({16, 1024, 1024}, {4, 512, 512}, 5, DType::kFloat32);
         auto nir = random::uniform({16, 1024, 1024}, {4, 512, 512}, 6, DType::kFloat32);
         write_zarr(red, store, "red", {}, &c);
         write_zarr(nir, store, "nir", {}, &c);
         auto r = from_zarr(store, "red"), n = from_zarr(store, "nir");
         write_zarr(((n - r) / (n + r)).mean({0}), store, "ndvi", {}, &c);
         return from_zarr(store, "ndvi").sum().item(&c);
       }},
      {"spill_2x_memory",
       [](Client& c, const std::string&) {
         // 576 MB held on workers of 128 MB each: most of it spilled.
         auto x = random::uniform({12000, 6000}, {500, 500}, 7).persist(&c);
         return x.sum().item(&c);
       }},
  };
}

// The disturbances, drawn from `rng` until `done`; at least one worker always runs.
class Chaos {
 public:
  // `gone`: workers killed or retired so far (a retiring one may still run a while, and a
  // dead one stays a zombie until the cluster reaps it): never chosen again.
  Chaos(LocalCluster& cluster, uint64_t seed, std::set<pid_t>& gone) : cluster_(cluster), rng_(seed), dead_(gone) {}

  void run_during(const std::function<void()>& work, int max_actions) {
    std::atomic<bool> done{false};
    std::thread t([&] {
      for (int i = 0; i < max_actions && !done.load(); ++i) {
        sleep_unless(done, 10 + static_cast<int>(rng_() % 150));
        if (done.load()) break;
        act();
      }
    });
    work();
    done.store(true);
    t.join();
  }
  const std::string& log() const { return log_; }
  int kills() const { return kills_; }

 private:
  static void sleep_unless(const std::atomic<bool>& done, int ms) {
    const auto until = Clock::now() + std::chrono::milliseconds(ms);
    while (Clock::now() < until && !done.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  void act() {
    std::vector<pid_t> alive;
    for (pid_t p : cluster_.worker_pids()) {
      if (::kill(p, 0) == 0 && !dead_.count(p)) alive.push_back(p);
    }
    if (alive.empty()) return;
    const pid_t victim = alive[rng_() % alive.size()];
    switch (rng_() % 3) {
      case 0:
        ::kill(victim, SIGKILL);
        dead_.insert(victim);
        ++kills_;
        log_ += " kill:" + std::to_string(victim);
        cluster_.add_worker();
        break;
      case 1:
        ::kill(victim, SIGTERM);  // retires: hands its chunks over, then leaves
        dead_.insert(victim);
        log_ += " term:" + std::to_string(victim);
        cluster_.add_worker();
        break;
      default: {
        const int ms = 100 + static_cast<int>(rng_() % 900);
        ::kill(victim, SIGSTOP);
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        ::kill(victim, SIGCONT);
        log_ += " stop:" + std::to_string(victim) + ":" + std::to_string(ms) + "ms";
        break;
      }
    }
  }

  LocalCluster& cluster_;
  std::mt19937_64 rng_;
  std::set<pid_t>& dead_;
  std::string log_;
  int kills_ = 0;
};

// Files of a Zarr store that are neither metadata nor a chunk that reads back.
std::vector<std::string> stray_files(const std::string& store) {
  std::vector<std::string> stray;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(store, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const std::string name = it->path().filename().string();
    if (name.find(".tmp.") != std::string::npos) stray.push_back(it->path().string());
  }
  return stray;
}

// Processes whose command line names `needle` (the cluster's private directory).
std::vector<std::string> processes_naming(const std::string& needle) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string pid = e.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    for (char& ch : cmd) ch = ch == '\0' ? ' ' : ch;
    if (cmd.find(needle) != std::string::npos) found.push_back(pid + ": " + cmd);
  }
  return found;
}

TEST(Chaos, EveryWorkloadGivesTheUndisturbedResultUnderASeededSchedule) {
  const uint64_t seed = env_or("RSDAT_CHAOS_SEED", 1);
  const uint64_t rounds = env_or("RSDAT_CHAOS_ROUNDS", 1);
  std::printf("chaos: seed %lu, %lu round(s) per workload\n", static_cast<unsigned long>(seed),
              static_cast<unsigned long>(rounds));
  const fs::path scratch = fs::temp_directory_path() / ("rsdat-chaos-" + std::to_string(::getpid()));
  const fs::path spill = scratch / "spill";
  fs::create_directories(spill);
  int runs = 0, kills = 0;
  std::string cluster_dir;
  {
    const char* log_level = std::getenv("RSDAT_CHAOS_LOG_LEVEL");  // the daemons' (default warn)
    LocalCluster cluster(LocalClusterOptions{.workers = 3, .threads_per_worker = 1, .memory_limit = test_support::memory_limit_text(128'000'000),
                                             .log_level = log_level ? log_level : "warn",
                                             .local_directory = spill.string()});
    cluster_dir = fs::path(cluster.scheduler_file()).parent_path().string();
    Client client(cluster, ClientOptions{.progress = false});
    uint64_t schedule = seed;
    std::set<pid_t> gone;
    for (const Workload& w : workloads()) {
      const std::string quiet_dir = (scratch / (w.name + "-quiet")).string();
      fs::create_directories(quiet_dir);
      const double expected = w.run(client, quiet_dir);
      for (uint64_t r = 0; r < rounds; ++r, ++schedule) {
        const std::string dir = (scratch / (w.name + "-" + std::to_string(r))).string();
        fs::create_directories(dir);
        Chaos chaos(cluster, schedule, gone);
        double got = 0;
        std::string error;
        chaos.run_during(
            [&] {
              try {
                got = w.run(client, dir);
              } catch (const std::exception& e) {
                error = e.what();
              }
            },
            6);
        ++runs;
        kills += chaos.kills();
        EXPECT_EQ(error, "") << w.name << ", schedule seed " << schedule << ":" << chaos.log();
        EXPECT_EQ(got, expected) << w.name << ", schedule seed " << schedule << ":" << chaos.log();
        EXPECT_EQ(stray_files(dir), std::vector<std::string>{}) << w.name << ", schedule seed " << schedule;
        std::printf("chaos: %s, schedule %lu:%s\n", w.name.c_str(), static_cast<unsigned long>(schedule),
                    chaos.log().c_str());
      }
    }
  }
  // The cluster is stopped: none of its processes and none of its spill files stay.
  EXPECT_EQ(processes_naming(cluster_dir), std::vector<std::string>{});
  size_t left = 0;
  for (const auto& e : fs::recursive_directory_iterator(spill)) left += e.is_regular_file();
  EXPECT_EQ(left, 0u) << "spill files left in " << spill;
  std::printf("chaos: %d disturbed runs, %d workers killed\n", runs, kills);
  fs::remove_all(scratch);
}

}  // namespace
}  // namespace rsdat
