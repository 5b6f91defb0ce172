// LocalCluster: a scheduler and K workers as child processes on loopback.
//
//   rsdat::LocalCluster cluster({.workers = 2, .threads_per_worker = 1});
//   rsdat::Client client(cluster);
//
// The daemons are the rsdat-scheduler and rsdat-worker programs, found in
// $RSDAT_BIN_DIR, next to the running program, in ../bin from it, or on PATH.
// They stop when the LocalCluster is destroyed, and also when this process dies
// (they get SIGTERM from the kernel), so an exception or Ctrl-C leaves nothing
// behind. Not copyable; thread-compatible.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace rsdat {

struct LocalClusterOptions {
  int workers = 2;
  int threads_per_worker = 1;
  std::string memory_limit = "auto";  // per worker: bytes ("2GB") or auto (machine memory / workers)
  std::string log_level = "warn";
  std::string local_directory;        // default: a fresh directory under $TMPDIR or /tmp
  double start_timeout = 30;          // seconds for the daemons to come up
  std::vector<std::string> worker_plugins;  // shared libraries of kernels (rsdat-worker --plugin)
  std::vector<std::string> worker_python_kernels;  // Python kernel files (rsdat-worker --python-kernels)
  // "ipc": sockets in the cluster's private directory (mode 0700), which only this user
  // can open; "tcp": loopback TCP, CURVE-encrypted with a key file made for the cluster.
  // ipc falls back to tcp when the directory's path is too long for a socket name.
  std::string transport = "ipc";
  bool encryption = true;  // tcp only; false prints the daemons' warning
  // Seconds every worker may stay paused with nothing running while a client waits,
  // before the computations fail (rsdat-scheduler --stall-timeout).
  double stall_timeout = 60;
};

class LocalCluster {
 public:
  explicit LocalCluster(LocalClusterOptions options = {});
  LocalCluster(int workers, int threads_per_worker);
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  const std::string& scheduler_address() const { return address_; }
  const std::string& scheduler_file() const { return scheduler_file_; }
  // The cluster's key file ("" when its connections are not encrypted).
  const std::string& key_file() const { return key_file_; }
  pid_t scheduler_pid() const { return scheduler_pid_; }
  const std::vector<pid_t>& worker_pids() const { return worker_pids_; }
  // Starts one more worker; returns its pid.
  pid_t add_worker();
  // Stops every daemon (SIGTERM, then SIGKILL after a grace period). Idempotent.
  void stop();

 private:
  // The thread every daemon is forked from. A child stops when that thread ends (its
  // parent-death signal follows the forking thread, not the process), so the thread
  // lives as long as the cluster: add_worker() from a thread that ends later, or the
  // program dying, each do the right thing.
  struct Spawner;
  std::unique_ptr<Spawner> spawner_;
  pid_t spawn(const std::string& program, const std::vector<std::string>& args);
  void wait_for_workers(size_t n);
  LocalClusterOptions options_;
  std::string endpoint(const std::string& name) const;  // where a daemon binds
  std::string dir_, scheduler_file_, address_, bin_dir_, key_file_;
  bool ipc_ = true;
  int next_worker_ = 0;
  pid_t scheduler_pid_ = -1;
  std::vector<pid_t> worker_pids_;
};

}  // namespace rsdat
