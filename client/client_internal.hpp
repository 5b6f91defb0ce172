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

  std::string address;
  ClientOptions options;
  std::mutex mu;
  // Counts Client::cancel() calls; a computation that sees it change ends. Lock-free:
  // cancel() never waits for `mu`, held by the computation.
  std::atomic<uint64_t> cancels{0};
  ComputeStats stats;  // guarded by mu

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
