// SlurmCluster: an rsdat cluster made of SLURM batch jobs, driven from the analysis
// program (like dask-jobqueue's SLURMCluster).
//
//   rsdat::SlurmCluster cluster({.partition = "rome", .walltime = "02:00:00", .cpus = 16, .memory = "28G"});
//   cluster.scale(8);                       // or cluster.adapt(1, 32);
//   auto client = cluster.client();
//   ...
//   cluster.close();                        // the scheduler job stops, its workers with it
//
// It runs deploy/slurm/rsdat-slurm, so the jobs are exactly those the command submits;
// job_script() shows them. Settings not given here come from the rsdat-slurm settings
// file (~/.rsdat/slurm.conf, or `config`).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rsdat/client.hpp"

namespace rsdat {

struct SlurmClusterOptions {
  std::string name;                // prefix of job names (default rsdat)
  std::string scheduler_file;      // default: the settings file's, else ~/.rsdat/scheduler.json
  std::string config;              // rsdat-slurm settings file
  std::string partition, account, qos;
  std::string walltime;            // per worker job, e.g. "01:00:00"
  std::string scheduler_walltime;
  int cpus = 0;                    // per worker (0: the settings file's)
  std::string memory;              // per worker, e.g. "16G"
  std::string interface;           // network of the daemons, e.g. "ib0"
  std::string prelude;             // shell run before the daemons, e.g. "module load rsdat"
  std::string worker_args;         // further rsdat-worker options
  int retire_before = 0;           // seconds before the time limit to retire (0: the settings file's)
  std::vector<std::string> extra_sbatch;  // further #SBATCH options, e.g. "--constraint=scratch-node"
  std::string bin;                 // where rsdat-scheduler and rsdat-worker are (default: beside this program)
  std::string rsdat_slurm;         // the rsdat-slurm command (default: $RSDAT_SLURM, beside the daemons, PATH)
  double timeout = 600;            // seconds to wait for the scheduler job to start
};

class SlurmCluster {
 public:
  // Submits the scheduler job, or attaches to the one running under the same name, and
  // waits for its scheduler file. Throws ClusterError.
  explicit SlurmCluster(SlurmClusterOptions options = {});
  ~SlurmCluster();  // close()
  SlurmCluster(const SlurmCluster&) = delete;
  SlurmCluster& operator=(const SlurmCluster&) = delete;

  const std::string& scheduler_file() const { return scheduler_file_; }
  std::unique_ptr<Client> client(ClientOptions options = {}) const;

  // Submits or retires worker jobs until `workers` are queued or running (stops adapt).
  void scale(int workers);
  // From now on keeps between `minimum` and `maximum` worker jobs: one more (every
  // `interval` seconds at most; controllers refuse bursts of sbatch) while tasks wait
  // for threads, one fewer when every worker has been idle for `idle_seconds`, and
  // replacements for workers that retired or died.
  void adapt(int minimum, int maximum, double idle_seconds = 60, double interval = 2);
  // Stops the scheduler job (its workers leave with it) and cancels queued workers. Idempotent.
  void close();

  // Worker jobs queued or running.
  int jobs() const;
  // The job script submitted for "worker" or "scheduler".
  std::string job_script(const std::string& kind = "worker") const;
  // rsdat-slurm status: the jobs and the workers the scheduler sees.
  std::string status() const;

 private:
  std::string command(const std::string& args) const;
  std::string run(const std::string& args) const;  // throws ClusterError
  void stop_adapt();
  void adapt_loop(int minimum, int maximum, double idle_seconds, double interval);

  SlurmClusterOptions options_;
  std::string scheduler_file_;
  bool closed_ = false;
  std::atomic<bool> adapt_stop_{false};
  std::thread adapt_thread_;
  mutable std::mutex mu_;  // one rsdat-slurm at a time
};

}  // namespace rsdat
