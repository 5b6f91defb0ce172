// Dashboard: the scheduler's status over HTTP, for a browser (through an ssh tunnel on
// a cluster). Read-only. Five pages, each drawn by a small script of its own from a JSON
// endpoint it polls once a second (nothing is loaded from elsewhere):
//
//   /workers (and /)  /status.json               the workers: tasks, memory, CPU, network, pause reason
//   /tasks            /api/task-stream.json      tasks per worker thread over the last seconds, by operation
//   /progress         /api/progress.json         each array of the graphs: done, in memory, erred, waiting
//   /memory           /api/memory.json           per worker managed/unmanaged/spilled against the limit, and over time
//   /graph            /api/graph.json            the arrays and their dependencies, with their state
//
// and /metrics in Prometheus' text format. Every request must carry the token the
// scheduler file holds (?token=..., then a cookie; or `Authorization: Bearer TOKEN`, as
// Prometheus sends it), so other users of the node see nothing; with `metrics_public`,
// /metrics needs none. Serves on a thread of its own; the scheduler's loop publishes a
// fresh snapshot now and then, and the task events since the last one.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <unordered_map>
#include <vector>

#include "core/status.hpp"
#include "scheduler/task_stream.hpp"

namespace httplib {
class Server;
}

namespace rsdat::sched {

// A worker as the task stream names it.
struct StreamWorker {
  uint64_t id = 0;
  std::string name;
  uint32_t nthreads = 1;
};

// Thread-safe: start() and publish*() from the scheduler's loop, requests on the
// server's own thread.
class Dashboard {
 public:
  // Task events served at most by /api/task-stream.json, the newest.
  static constexpr size_t kMaxServedEvents = 20000;

  // Keeps the last `task_stream_size` task events published.
  explicit Dashboard(size_t task_stream_size = 100000);
  ~Dashboard();
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  // Binds `host`:`port` (0: a free port) and starts serving. Errors: kUnavailable.
  Status start(const std::string& host, int port, bool metrics_public = false);
  int port() const { return port_; }
  const std::string& token() const { return token_; }
  // http://HOST:PORT/?token=TOKEN
  std::string url() const;
  // http://HOST:PORT/metrics
  std::string metrics_url() const;
  void publish(std::string status_json, std::string metrics_text);
  // The JSON documents of the progress, memory and graph views.
  void publish_views(std::string progress_json, std::string memory_json, std::string graph_json);
  // Task events recorded since the last call (oldest first), the operation names their
  // `op` indexes, and the workers there are now (those gone keep their names).
  void publish_events(const std::vector<TaskEvent>& events, const std::vector<std::string>& ops,
                      const std::vector<StreamWorker>& workers);
  // /api/task-stream.json for the events that ended in the last `seconds` before `now`
  // (the scheduler's clock), of those from sequence number `after` on (the "next" of an
  // earlier answer: a page polls for what is new): the newest kMaxServedEvents of them.
  std::string task_stream_json(double now, double seconds, uint64_t after = 0);
  // Whether a view's JSON was asked for in the last 10 s (so the loop builds them).
  bool views_watched() const;
  // True once after a view was asked for while not watched.
  bool take_view_request() { return view_request_.exchange(false, std::memory_order_relaxed); }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string host_, token_;
  int port_ = -1;
  std::atomic<int64_t> last_view_ns_{INT64_MIN / 2};  // steady clock, of the last view request
  std::atomic<bool> view_request_{false};
  bool note_view_request();  // true when the views were not watched until now
  std::mutex mu_;
  std::string status_ = "{}";  // guarded by mu_
  std::string metrics_;        // guarded by mu_
  std::string progress_ = "{\"arrays\":[]}", memory_ = "{\"workers\":[]}", graph_ = "{\"arrays\":[]}";  // guarded by mu_
  uint64_t views_published_ = 0;        // guarded by mu_: publish_views() calls
  std::condition_variable views_cv_;    // with mu_: views_published_ changed
  TaskStream events_;                                   // guarded by mu_ (its op names unused)
  std::vector<std::string> ops_;                        // guarded by mu_
  std::unordered_map<uint64_t, StreamWorker> workers_;  // guarded by mu_: every worker seen
  std::vector<uint64_t> current_workers_;               // guarded by mu_
};

}  // namespace rsdat::sched
