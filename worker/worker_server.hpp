// WorkerServer: the worker daemon's sockets, event loop and executor.
//
// One event-loop thread owns every socket: a DEALER to the scheduler, a ROUTER that
// serves chunks to peers and clients, and one DEALER per peer it fetches from.
// Kernels run on a oneTBB arena of `nthreads`; a finished kernel hands its result
// back through a queue and wakes the loop with an eventfd. WorkerState decides,
// this class does the I/O.
//
// Construct, start(), then run() on one thread; stop() is safe from any thread or
// a signal handler.
#pragma once

#include <tbb/task_arena.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <zmq.hpp>

#include "net/security.hpp"
#include "core/status.hpp"
#include "net/transport.hpp"
#include "worker/worker_state.hpp"

namespace rsdat::worker {

struct WorkerOptions {
  std::string scheduler_address;  // tcp://host:port (or ipc://path on one node)
  std::string host;               // where this worker's ROUTER binds; default: that of `interface`,
                                  // else the address this node uses to reach the scheduler
  std::string interface;          // network interface whose address to bind (e.g. ib0)
  int port = 0;
  std::string listen;             // a ZeroMQ endpoint to bind instead (ipc://PATH)
  SocketSecurity security;        // CURVE keys for tcp connections
  std::vector<std::string> allowed_keys;  // client keys admitted besides the cluster's own
  int nthreads = 1;
  uint64_t memory_limit = 0;
  std::vector<std::string> local_directories{"/tmp"};  // spill directories, the next used when one is full
  // Fractions of memory_limit: above target (managed bytes in memory) chunks spill to
  // disk; above spill (process RSS) too; above pause (RSS) no new task starts.
  double memory_target = 0.6;
  double memory_spill = 0.7;
  double memory_pause = 0.8;
  bool spill_compression = false;  // lz4 spill files
  std::string name;
  double connect_timeout = 30.0;  // seconds to wait for the scheduler's welcome
  double fetch_timeout = 60.0;    // seconds before a silent peer counts as failed
  double death_timeout = 60.0;    // seconds without a word from the scheduler before exiting
  double lifetime = 0;            // seconds after start at which to retire (0: never)
  double retire_timeout = 60.0;   // seconds a retirement may take before the worker just leaves
};

class WorkerServer {
 public:
  explicit WorkerServer(WorkerOptions options);
  ~WorkerServer();

  // Binds the peer socket and says hello to the scheduler. Errors: kUnavailable
  // (scheduler does not answer), kProtocol (refused), kIO.
  Status start();
  void run();
  void stop() { stopping_.store(true); }
  // Leaves gracefully: the scheduler moves the chunks only this worker holds to others,
  // then says goodbye. A second call stops at once. Safe from a signal handler.
  void retire() {
    if (retire_requested_.exchange(true)) stopping_.store(true);
  }

  const std::string& address() const { return address_; }
  // Handles the frames of one message (identity first) as if it had arrived on the
  // peer socket: the way the fuzz target feeds the decoder.
  void handle_peer_frames(std::vector<zmq::message_t>&& frames);

 private:
  struct Completion {
    TaskKey key;
    Result<Chunk> result;
    double seconds;
    uint32_t thread;  // 0 the event loop, n executor thread n
  };
  struct PeerConnection {
    std::unique_ptr<zmq::socket_t> socket;
    std::unordered_map<uint64_t, std::pair<std::vector<TaskKey>, std::chrono::steady_clock::time_point>> requests;
  };

  void handle_scheduler(ReceivedMessage& msg);
  void process_router(const Status& decoded, ReceivedMessage& msg);
  void handle_router(ReceivedMessage& msg);
  void handle_peer_reply(const std::string& peer, ReceivedMessage& msg);
  void apply(WorkerCommands& cmds);
  void execute(const std::vector<TaskKey>& batch);
  void drain_completions();
  void send_reports();
  void heartbeat();
  // Bytes free for spilling on this worker's disks (0 when it does not spill).
  uint64_t spill_space() const;
  void check_fetch_timeouts();
  // Starts retiring when asked to or when the lifetime is up; leaves when that takes too long.
  void check_retirement();
  // Runs a round of the state's memory policy: reads the RSS and trims the buffer pool
  // when it asks (spilling and pausing are its decisions).
  void manage_memory();
  void log_notice(const Notice& n);
  // A chunk held here to send, read back from disk if need be; an unreadable spill
  // file is logged.
  std::optional<Chunk> held_chunk(const TaskKey& key);
  PeerConnection& peer(const std::string& address);
  void drop_peer(const std::string& address, const std::string& why);
  Result<std::string> bind_endpoint() const;
  Status wait_for_welcome(HandshakeWatch& watch);

  WorkerOptions options_;
  zmq::context_t context_;
  std::unique_ptr<ZapHandler> zap_;  // before the sockets: outlives them
  zmq::socket_t scheduler_;
  zmq::socket_t router_;
  ConnectionMonitor router_monitor_{"worker", /*collect_closed=*/false};  // logs refusals
  std::string address_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> retire_requested_{false};
  bool retiring_ = false;
  std::chrono::steady_clock::time_point started_, retire_deadline_;
  int wake_fd_ = -1;

  WorkerState state_;
  WorkerCommands commands_;
  std::vector<TaskReport> pending_reports_;
  // Assigned tasks whose small result a client waits for: sent with their report.
  std::unordered_set<TaskKey> inline_results_;
  // A batch of built-in tasks touching at most this many bytes runs on the loop.
  static constexpr uint64_t kInlineTaskBytes = 64 << 10;
  std::vector<TaskKey> pending_acquired_;
  std::unordered_map<std::string, PeerConnection> peers_;
  std::unordered_set<std::string> router_hello_;  // identities that said hello
  std::unordered_set<std::string> lost_peers_;    // reported lost by the scheduler
  uint64_t next_request_ = 1;
  uint64_t malformed_ = 0;
  // Totals for the scheduler's /metrics, sent with each heartbeat.
  struct {
    uint64_t tasks_executed = 0, tasks_failed = 0;
    uint64_t fetched_bytes = 0, fetches = 0, served_bytes = 0;
    double fetch_seconds = 0;
  } counters_;
  std::chrono::steady_clock::time_point last_heartbeat_;
  std::chrono::steady_clock::time_point last_from_scheduler_;
  uint32_t heartbeat_ms_ = 1000;
  // Why no new task starts, in words for the scheduler and its clients; empty when
  // not paused. The last spill failure, kept to explain a pause it caused.
  std::string pause_reason_;
  std::string last_spill_error_;
  bool own_memory_too_large_ = false;  // above the pause threshold before any task: the limit is too low

  tbb::task_arena arena_;  // runs kernels; nothing else
  std::mutex mu_;
  std::condition_variable idle_;
  std::deque<Completion> completions_;  // guarded by mu_
  size_t running_ = 0;                  // guarded by mu_
};

}  // namespace rsdat::worker
