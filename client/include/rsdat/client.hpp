// Client: the analysis program's connection to an rsdat cluster.
//
//   rsdat::LocalCluster cluster;              // or a running cluster:
//   rsdat::Client client(cluster);            //   Client::from_scheduler_file(path)
//   auto x = rsdat::random::uniform({20000, 20000}, {2000, 2000}, /*seed=*/0);
//   xt::xarray<double> m = (x + x.T()).mean({0}).compute<double>();
//
// Array::compute() and persist() use the most recently created live Client of the
// process unless one is passed. Errors: constructors throw ClusterError when the
// scheduler cannot be reached or refuses; compute() throws TaskError naming the failed
// task and carrying the worker's message (the cluster goes on serving).
//
// Thread-safe: a Client may be used from several threads; their calls to the cluster
// run one after another (for computations that overlap, give each thread its own
// Client). An array persisted through a Client releases its chunks when its last
// handle goes, on whichever thread that is; after the Client is destroyed there is
// nothing left to release. Destroying a Client while another thread uses it is a bug.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rsdat/errors.hpp"

namespace rsdat {

class LocalCluster;

// How far a computation is: its graph's new tasks done and in all, as the scheduler
// counts them (a few times a second), then a last call with `finished`.
struct ProgressInfo {
  uint64_t tasks_done = 0;
  uint64_t tasks_total = 0;  // 0 until the scheduler's first count
  double seconds = 0;        // since the graph was submitted
  bool finished = false;     // the computation ended (done, or failed: see compute())
};
using ProgressCallback = std::function<void(const ProgressInfo&)>;

// Every Client of the process calls `callback` (on the thread that computes) as its
// computations advance, for programs that show progress their own way; an empty
// callback stops that. Thread-safe.
void progress(ProgressCallback callback);

struct ClientOptions {
  double connect_timeout = 30;    // seconds to wait for the scheduler's welcome
  double scheduler_timeout = 60;  // seconds of silence (pings unanswered) before giving up
  // A bar of tasks done on stderr, with the time taken and an estimate of the time
  // left, redrawn at most five times a second once a computation takes more than half
  // a second; when stderr is not a terminal, one line at the end of a computation that
  // took two seconds or more.
  bool progress = true;
  ProgressCallback on_progress;  // called as rsdat::progress()'s callback is, for this Client
  std::string name;
  // tcp connections are encrypted and authenticated with the cluster's key file:
  // default the one the scheduler file names, else ~/.rsdat/cluster.key.
  std::string key_file;
  bool encryption = true;  // false only for a scheduler started with --no-encryption
};

// What the last computation cost, as the scheduler and client saw it.
struct ComputeStats {
  uint64_t tasks = 0;              // tasks submitted
  uint64_t bytes_transferred = 0;  // bytes gathered to this client
  uint64_t results_inline = 0;     // small results that came with the scheduler's notice
                                   // that they were ready, not fetched from a worker
  double seconds = 0;
};

struct WorkerStatus {
  std::string name;
  std::string address;
  uint32_t nthreads = 0;
  uint64_t memory_limit = 0;
  uint64_t keys = 0;           // chunks the scheduler knows it holds
  uint64_t processing = 0;     // tasks assigned to it now
  uint64_t managed_bytes = 0;  // as of its last heartbeat
  uint64_t spilled_bytes = 0;
  uint64_t rss_bytes = 0;
  uint64_t peak_rss_bytes = 0;  // high-water mark of the worker process
  uint64_t spilled_total = 0;   // bytes it ever spilled to disk
};

struct ClusterStatus {
  std::vector<WorkerStatus> workers;
  uint64_t tasks = 0;               // task records held by the scheduler
  uint64_t bytes_transferred = 0;   // between workers since the scheduler started
  uint64_t malformed_messages = 0;  // refused by the scheduler since it started
  uint64_t tasks_finished = 0;      // since the scheduler started
  // Bytes of the chunks in memory (each once, by the scheduler's count), and the
  // memory plan of the last graph submitted: its projected peak of held_bytes (the
  // graph replayed in the scheduler's order; when !plan_replayed, everything at once:
  // the graph fitted so easily that no replay was needed) and the peak measured since.
  uint64_t held_bytes = 0;
  uint64_t plan_projected_peak = 0;
  bool plan_replayed = false;
  uint64_t plan_measured_peak = 0;
};

class Client {
 public:
  explicit Client(const std::string& scheduler_address, ClientOptions options = {});
  explicit Client(const LocalCluster& cluster, ClientOptions options = {});
  static std::unique_ptr<Client> from_scheduler_file(const std::string& path, double timeout = 60,
                                                     ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const std::string& scheduler_address() const;
  // What the last computation through this Client (from any thread) cost.
  ComputeStats last_stats() const;
  // Asks the scheduler for the state of the cluster. Throws ClusterError.
  ClusterStatus cluster_status();
  // Cancels the computation this Client runs now (compute() or persist() on another
  // thread, or a signal handler's: it only sets a flag), which then throws
  // CancelledError within a fraction of a second, after releasing on the cluster what
  // it asked for: its tasks still waiting at the scheduler never run, those a worker
  // has already started finish and are dropped, and no chunk of it stays. The next
  // computation runs as usual. Nothing happens when none runs.
  void cancel();

  // The client compute() uses by default: the most recent live one of the process, or
  // nullptr.
  static Client* current();

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rsdat
