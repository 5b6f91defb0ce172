// Client::Impl: the sockets and protocol of the client. Not installed.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "rsdat/client.hpp"
#include "core/chunk.hpp"
#include "net/security.hpp"
#include "core/task_group.hpp"
#include "core/task.hpp"
#include "net/transport.hpp"

namespace rsdat {

struct KeyInfo {
  DType dtype = DType::kFloat64;
  Shape shape;
  std::vector<std::string> holders;
  std::optional<Chunk> data;  // a small result that came with its KeysReady
};

// The dependencies of the graphs a client submitted while a performance report
// watched it, for the report's critical path. Groups are kept as their patterns (a
// million-task array is one entry); tasks listed one by one keep their dependency
// keys, up to kMaxListedDeps in all, beyond which the log says it is incomplete.
// Guarded by the Client::Impl's `mu`.
class GraphLog {
 public:
  static constexpr size_t kMaxListedDeps = size_t{1} << 22;

  void add(const std::vector<GraphPart>& graph);
  // The inputs of task `key`; false when the log does not know the task.
  bool deps(const TaskKey& key, std::vector<TaskKey>& out) const;
  // Whether `key` is a task of a logged graph.
  bool knows(const TaskKey& key) const { return groups_.contains(key.token) || listed_.contains(key); }
  uint64_t graphs = 0;
  uint64_t tasks = 0;         // tasks submitted
  bool incomplete = false;    // some listed tasks' dependencies were not kept

 private:
  std::unordered_map<uint64_t, TaskGroup> groups_;  // by token, without their parameters
  std::unordered_map<TaskKey, std::vector<TaskKey>> listed_;
  size_t listed_deps_ = 0;
};

// One page of the scheduler's task stream and its counters (TaskStreamReply).
struct StreamEvent {
  double start = 0, stop = 0;
  TaskKey key;
  uint64_t worker = 0, bytes = 0;
  uint32_t thread = 0;
  uint16_t op = 0;
  uint8_t kind = 0;  // 0 compute, 1 error, 2 transfer, 3 spill, 4 unspill
};
struct StreamWorkerName {
  uint64_t id = 0;
  std::string name;
  uint32_t nthreads = 1;
};
struct StreamPage {
  uint64_t next = 0, first = 0, capacity = 0;
  double clock = 0;
  std::vector<StreamEvent> events;
  std::vector<std::string> ops;
  std::vector<StreamWorkerName> workers;
  double loop_busy_seconds = 0;
  uint64_t transitions = 0, bytes_transferred = 0, tasks_finished = 0;
};

// Thread-safe: every public call takes `mu` for its whole exchange with the cluster,
// so calls from several threads run one after another (the sockets are used by one
// thread at a time).
struct Client::Impl {
  Impl(const std::string& address, ClientOptions options);
  ~Impl();

  // Submits `graph` and waits until every wanted key is in memory. Throws TaskError
  // (after releasing `wanted`) or ClusterError.
  // `inline_bytes`: wanted results up to this size may come with KeysReady, sparing
  // gather() a request (for small results that are fetched at once, as compute's).
  std::unordered_map<TaskKey, KeyInfo> run(std::vector<GraphPart> graph, const std::vector<TaskKey>& wanted,
                                           uint64_t inline_bytes = 0);
  // Fetches chunks from the workers holding them. Throws ClusterError.
  std::vector<Chunk> gather(const std::vector<TaskKey>& keys, const std::unordered_map<TaskKey, KeyInfo>& where);
  void release(const std::vector<TaskKey>& keys);
  ClusterStatus cluster_status();
  // The task events from sequence number `since` on, a page of them. Throws ClusterError.
  StreamPage task_stream(uint64_t since);

  std::string address;
  ClientOptions options;
  std::mutex mu;
  // Counts Client::cancel() calls; a computation that sees it change ends. Lock-free:
  // cancel() never waits for `mu`, held by the computation.
  std::atomic<uint64_t> cancels{0};
  ComputeStats stats;  // guarded by mu
  // The performance reports watching: run() logs every graph in each.
  std::vector<GraphLog*> graph_logs;  // guarded by mu

 private:
  // release() with `mu` held. Best effort: a scheduler that is gone holds nothing.
  void send_release(const std::vector<TaskKey>& keys);
  zmq::socket_t& worker_socket(const std::string& address);
  // Waits for the next message; with `ping`, sends heartbeats so a live scheduler answers.
  // With `cancel_seen`, throws CancelledError once `cancels` differs from it.
  ReceivedMessage receive_from_scheduler(std::chrono::steady_clock::time_point deadline, bool ping = false,
                                         std::optional<uint64_t> cancel_seen = std::nullopt);

  zmq::context_t context_;
  SocketSecurity security_;
  zmq::socket_t scheduler_;
  // Refused handshakes while waiting for the welcome, then a closed connection.
  std::unique_ptr<HandshakeWatch> watch_;
  bool welcomed_ = false;
  std::map<std::string, zmq::socket_t> workers_;
  uint64_t next_graph_ = 1;
  uint64_t next_request_ = 1;
};

}  // namespace rsdat

namespace rsdat {
// Where rsdat-scheduler and rsdat-worker are: $RSDAT_BIN_DIR, beside this program (or
// in ../bin), else "" (on PATH).
std::string rsdat_bin_dir();
// Releases `keys` through `c` if it is a Client that has not been destroyed (on any
// thread); `c` cannot be destroyed while this runs. Throws ClusterError.
void release_if_live(Client* c, const std::vector<TaskKey>& keys);
}  // namespace rsdat
