// SchedulerServer: the scheduler daemon's sockets and event loop.
//
// Owns one ZeroMQ ROUTER that clients and workers talk to, translates messages into
// SchedulerState events and the resulting Commands into messages, batched: one
// message per destination per loop turn. Every message is decoded inside a border
// that turns malformed input into an error reply and a log line.
//
// Construct, then run() on one thread; stop() may be called from any thread or a
// signal handler (it only sets a flag).
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <zmq.hpp>

#include "net/security.hpp"
#include "scheduler/dashboard.hpp"
#include "scheduler/metrics.hpp"
#include "core/status.hpp"
#include "net/transport.hpp"
#include "scheduler/scheduler_state.hpp"

namespace rsdat::sched {

struct SchedulerOptions {
  std::string host;               // address to bind; default: that of `interface`, else loopback
  std::string interface;         // network interface whose address to bind (e.g. ib0)
  int port = 0;                  // 0: a free port
  std::string listen;            // a ZeroMQ endpoint to bind instead (ipc://PATH for a node-local cluster)
  bool encryption = true;        // CURVE on tcp endpoints, with a ZAP allow-list
  std::string key_file;          // cluster keys; default next to the scheduler file; created when absent
  std::string allowed_keys;      // extra client public keys admitted (one per line)
  int dashboard_port = 0;        // HTTP status page on the scheduler's host: 0 a free port, -1 none
  bool metrics_public = false;   // the dashboard's /metrics without its token
  std::string scheduler_file;    // written once bound (JSON, mode 0600); removed at exit
  double worker_timeout = 5.0;   // seconds without a heartbeat (a closed connection counts at once)
  uint32_t heartbeat_ms = 1000;  // asked of workers
  uint64_t max_graph_tasks = uint64_t{1} << 28;  // tasks one submitted graph may expand to
  // Every worker paused with nothing running while clients wait: they are told at
  // once, and their computations fail after this many seconds if it does not clear.
  double stall_timeout = 60.0;
  SchedulerConfig state;
};

class SchedulerServer {
 public:
  explicit SchedulerServer(SchedulerOptions options);
  ~SchedulerServer();

  // Binds and writes the scheduler file. Errors: kUnavailable (address in use), kIO.
  Status start();
  // Serves until stop(). Returns when stopped.
  void run();
  void stop() { stopping_.store(true); }

  const std::string& address() const { return address_; }
  // Handles the frames of one message (identity first) as if it had arrived on the
  // socket, replies included: the way the fuzz target feeds the decoder.
  void handle_frames(std::vector<zmq::message_t>&& frames);

 private:
  struct Peer {
    enum class Role { kClient, kWorker } role;
    uint64_t id;
    std::string identity;
    std::string name;
  };

  void process(const Status& decoded, ReceivedMessage& received);
  void handle(ReceivedMessage& msg);
  void on_hello(const zmq::message_t& identity, wire::Hello::Reader hello, int source_fd, const std::string& from);
  void flush();
  void send_info(const zmq::message_t& identity, uint64_t request_id);
  // Task events from sequence number `since` on (a page of them) and the counters a
  // performance report takes differences of.
  void send_task_stream(const zmq::message_t& identity, uint64_t request_id, uint64_t since);
  void check_timeouts();
  // Whether the cluster can make progress for the clients waiting on it (see
  // SchedulerOptions::stall_timeout); warns them, then fails their computations.
  void check_stall();
  // Sends one message to every client in `clients`.
  void tell_clients(const std::vector<ClientId>& clients, const std::function<void(wire::Envelope::Builder)>& fill);
  void check_disconnects();
  void drop_peer(const std::string& identity, const std::string& reason);
  // Forgets a peer's connection without telling the state (which let it go already).
  std::optional<Peer> forget_peer(const std::string& identity);
  const Peer* peer(const zmq::message_t& identity) const;
  Status write_scheduler_file();
  Status set_up_security(const std::string& endpoint);
  double now() const;
  std::vector<std::string> addresses(const std::vector<WorkerId>& ids) const;

  SchedulerOptions options_;
  zmq::context_t context_;
  std::unique_ptr<ZapHandler> zap_;  // before router_: outlives it
  zmq::socket_t router_;
  SocketSecurity security_;
  std::string address_;
  std::atomic<bool> stopping_{false};

  SchedulerState state_;
  Commands commands_;
  // Small results that came with this turn's reports, for the KeysReady they cause.
  std::unordered_map<TaskKey, zmq::message_t> inline_results_;
  uint64_t next_id_ = 1;
  std::unordered_map<std::string, Peer> peers_;           // by ZeroMQ identity
  std::unordered_map<uint64_t, std::string> identity_of_;  // worker/client id -> identity
  std::unordered_map<int, std::string> identity_by_fd_;   // connection -> peer, to notice hang-ups
  ConnectionMonitor monitor_{"scheduler", /*collect_closed=*/true};
  std::unique_ptr<Dashboard> dashboard_;
  double last_dashboard_ = 0;
  double last_progress_ = 0;
  void publish_status();
  // The dashboard's progress, memory and graph views, and the task events since the last call.
  void publish_views(double t);
  void sample_memory(double t);
  uint64_t stream_published_ = 0;  // task events handed to the dashboard
  std::vector<TaskEvent> stream_scratch_;
  struct MemorySample {
    double t;
    uint64_t managed, unmanaged, spilled;
  };
  // Per worker, a sample per publish for the last kMemoryHistory of them.
  static constexpr size_t kMemoryHistory = 600;
  std::map<WorkerId, std::deque<MemorySample>> memory_history_;
  // Tells each client whose graph advanced how far it is (a message per client).
  void send_progress();
  double last_timeout_check_ = 0;
  double stalled_since_ = -1;  // every worker paused and idle while clients wait, since; -1: not
  double last_balance_ = 0;
  struct {
    size_t tasks = 0;
    std::string client;
    double since = 0;
  } pending_graph_;  // the graph being added in steps, for the log
  uint64_t malformed_ = 0;
  uint64_t graphs_ = 0;  // graphs submitted
  LoopStats loop_stats_;
  // Prometheus text of the state, for the dashboard's /metrics.
  std::string metrics_text(double busy_fraction) const;
};

}  // namespace rsdat::sched
