#include "rsdat/slurm_cluster.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <spdlog/spdlog.h>

#include "client/client_internal.hpp"
#include "rsdat/errors.hpp"
#include "core/sysinfo.hpp"

namespace rsdat {

namespace {

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string find_rsdat_slurm(const SlurmClusterOptions& o) {
  if (!o.rsdat_slurm.empty()) return o.rsdat_slurm;
  if (const char* env = std::getenv("RSDAT_SLURM"); env && *env) return env;
  std::string bin = o.bin.empty() ? rsdat_bin_dir() : o.bin;
  std::error_code ec;
  if (!bin.empty() && std::filesystem::exists(bin + "/rsdat-slurm", ec)) return bin + "/rsdat-slurm";
  return "rsdat-slurm";
}

}  // namespace

SlurmCluster::SlurmCluster(SlurmClusterOptions options) : options_(std::move(options)) {
  if (options_.bin.empty()) options_.bin = rsdat_bin_dir();
  options_.rsdat_slurm = find_rsdat_slurm(options_);
  std::string started = run("start 0");
  spdlog::info("{}", started);
  // The file the command used: the one given, or the settings file's.
  auto pos = started.find("scheduler file: ");
  if (pos == std::string::npos) throw ClusterError("rsdat-slurm start did not name the scheduler file:\n" + started);
  scheduler_file_ = started.substr(pos + 16, started.find('\n', pos) - pos - 16);
}

SlurmCluster::~SlurmCluster() {
  try {
    close();
  } catch (const std::exception& e) {
    spdlog::warn("SlurmCluster: {}", e.what());
  }
}

std::string SlurmCluster::command(const std::string& args) const {
  const auto& o = options_;
  std::string c = quote(o.rsdat_slurm);
  auto opt = [&](const char* flag, const std::string& v) {
    if (!v.empty()) c += std::string(" ") + flag + " " + quote(v);
  };
  opt("--config", o.config);
  opt("--name", o.name);
  opt("--scheduler-file", o.scheduler_file);
  opt("--partition", o.partition);
  opt("--account", o.account);
  opt("--qos", o.qos);
  opt("--walltime", o.walltime);
  opt("--scheduler-walltime", o.scheduler_walltime);
  opt("--cpus", o.cpus > 0 ? std::to_string(o.cpus) : "");
  opt("--memory", o.memory);
  opt("--interface", o.interface);
  opt("--prelude", o.prelude);
  opt("--worker-args", o.worker_args);
  opt("--retire-before", o.retire_before > 0 ? std::to_string(o.retire_before) : "");
  opt("--bin", o.bin);
  opt("--timeout", std::to_string(static_cast<int>(o.timeout)));
  for (const auto& e : o.extra_sbatch) opt("--extra-sbatch", e);
  return c + " " + args;
}

std::string SlurmCluster::run(const std::string& args) const {
  std::lock_guard lock(mu_);
  CommandOutcome r = run_shell(command(args));
  if (r.status != 0) {
    throw ClusterError("rsdat-slurm " + args + " failed (status " + std::to_string(r.status) + "):\n" + r.output);
  }
  while (!r.output.empty() && r.output.back() == '\n') r.output.pop_back();
  return r.output;
}

std::unique_ptr<Client> SlurmCluster::client(ClientOptions options) const {
  return Client::from_scheduler_file(scheduler_file_, options_.timeout, std::move(options));
}

void SlurmCluster::scale(int workers) {
  if (workers < 0) throw std::invalid_argument("SlurmCluster::scale: workers must be >= 0");
  stop_adapt();
  spdlog::info("{}", run("scale " + std::to_string(workers)));
}

int SlurmCluster::jobs() const { return std::stoi(run("count")); }

std::string SlurmCluster::job_script(const std::string& kind) const {
  if (kind != "worker" && kind != "scheduler") throw std::invalid_argument("job_script: worker or scheduler");
  return run("script " + kind);
}

std::string SlurmCluster::status() const { return run("status"); }

void SlurmCluster::adapt(int minimum, int maximum, double idle_seconds, double interval) {
  if (minimum < 0 || maximum < minimum) throw std::invalid_argument("SlurmCluster::adapt: need 0 <= minimum <= maximum");
  stop_adapt();
  adapt_stop_.store(false);
  adapt_thread_ = std::thread([=, this] { adapt_loop(minimum, maximum, idle_seconds, std::max(0.5, interval)); });
}

void SlurmCluster::adapt_loop(int minimum, int maximum, double idle_seconds, double interval) {
  using Clock = std::chrono::steady_clock;
  std::unique_ptr<Client> watcher;
  auto idle_since = Clock::now();
  while (!adapt_stop_.load()) {
    try {
      if (!watcher) watcher = client(ClientOptions{.connect_timeout = 30, .scheduler_timeout = 30, .progress = false,
                                                   .name = "adapt"});
      ClusterStatus st = watcher->cluster_status();
      uint64_t processing = 0, threads = 0;
      for (const auto& w : st.workers) {
        processing += w.processing;
        threads += w.nthreads;
      }
      const int have = jobs();
      if (processing > 0) idle_since = Clock::now();
      const bool waiting = processing > threads || (st.workers.empty() && st.tasks > 0);
      const bool idle = std::chrono::duration<double>(Clock::now() - idle_since).count() >= idle_seconds;
      int want = have;
      if (waiting && have < maximum) want = have + 1;
      if (!waiting && idle && have > minimum) {
        want = have - 1;
        idle_since = Clock::now();  // one at a time
      }
      want = std::clamp(want, minimum, maximum);  // replaces workers that left
      if (want != have) spdlog::info("adapt: {} -> {} workers: {}", have, want, run("scale " + std::to_string(want)));
    } catch (const std::exception& e) {
      spdlog::warn("adapt: {}", e.what());
      watcher.reset();
    }
    for (double t = 0; t < interval && !adapt_stop_.load(); t += 0.1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

void SlurmCluster::stop_adapt() {
  adapt_stop_.store(true);
  if (adapt_thread_.joinable()) adapt_thread_.join();
}

void SlurmCluster::close() {
  if (closed_) return;
  stop_adapt();
  closed_ = true;
  spdlog::info("{}", run("stop"));
}

}  // namespace rsdat
