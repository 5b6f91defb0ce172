// Who may talk to rsdat's daemons: CURVE keys, the allow-list and the watch on
// handshakes.
//
// A cluster has one key set, kept in a JSON file of mode 0600 (by default next to the
// scheduler file, or ~/.rsdat/cluster.key). Every socket that binds (the scheduler's,
// each worker's peer socket) is a CURVE server with the set's server key pair; every
// socket that connects is a CURVE client with its client key pair. A ZAP handler in
// each daemon admits only client keys on its allow-list: the set's own client key and
// any listed in an allowed-keys file. Only tcp:// endpoints are encrypted: an ipc://
// endpoint lives in a directory of mode 0700 that no other user can open.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "core/status.hpp"

namespace rsdat {

struct CurveKeys {
  std::string server_public, server_secret;  // Z85 (40 characters); secret empty in a client-only file
  std::string client_public, client_secret;
};

CurveKeys generate_curve_keys();
// Errors: kNotFound (no file), kInvalidArgument (not a key file, readable by others,
// or larger than kMaxConfigFileBytes).
Result<CurveKeys> read_key_file(const std::string& path);
// Parses the text of a key file (JSON: server_public, optional server_secret,
// client_public, client_secret, each 40 Z85 characters); `path` names it in errors.
// The text is untrusted. Errors: kInvalidArgument.
Result<CurveKeys> parse_key_file(std::string_view text, const std::string& path);
// Writes `keys` to `path` (mode 0600, atomically). Errors: kIO.
Status write_key_file(const std::string& path, const CurveKeys& keys);
// Reads `path`, or creates it with a new key set when it does not exist.
Result<CurveKeys> load_or_create_key_file(const std::string& path, bool* created = nullptr);
// Z85 public keys, one per line, each optionally followed by a space and a '#'
// comment; blank lines and lines starting with '#' are skipped.
// Errors: kNotFound, kInvalidArgument (a line that is not a key, naming it, or a file
// larger than kMaxConfigFileBytes).
Result<std::vector<std::string>> read_allowed_keys(const std::string& path);
// The same for the text of an allowed-keys file; `path` names it in errors.
Result<std::vector<std::string>> parse_allowed_keys(std::string_view text, const std::string& path);
// The key file that goes with `scheduler_file` (same directory), or ~/.rsdat/cluster.key.
std::string default_key_file(const std::string& scheduler_file = "");

bool is_tcp_endpoint(const std::string& endpoint);

// How one process secures its sockets.
struct SocketSecurity {
  bool encryption = true;
  CurveKeys keys;

  // Makes `socket` a CURVE server when it will bind a tcp endpoint.
  void make_server(zmq::socket_t& socket, const std::string& endpoint) const;
  // Makes `socket` a CURVE client when it will connect to a tcp endpoint.
  void make_client(zmq::socket_t& socket, const std::string& endpoint) const;
  bool applies_to(const std::string& endpoint) const { return encryption && is_tcp_endpoint(endpoint); }
  // What to check when `endpoint` refused our handshake.
  std::string refusal_hint(const std::string& endpoint) const;
};

// The security of a process that joins a cluster: the keys of `key_file`, or none when
// `encryption` is false. A worker also serves peers and needs the server secret.
// Errors name the file and what to do about it.
Result<SocketSecurity> load_security(bool encryption, const std::string& key_file, bool need_server_secret);

// Answers ZAP requests (RFC 27) of every CURVE server socket of `context`: admits
// client keys on the allow-list, refuses others and logs the refusal with the peer's
// address. Must exist before such a socket binds; lives on its own thread.
class ZapHandler {
 public:
  ZapHandler(zmq::context_t& context, const std::vector<std::string>& allowed_z85, std::string owner);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  uint64_t admitted() const { return admitted_.load(); }
  uint64_t refused() const { return refused_.load(); }

 private:
  void serve(zmq::socket_t& socket);

  std::vector<std::string> allowed_;  // 32-byte binary keys
  std::string owner_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> admitted_{0}, refused_{0};
  std::map<std::string, double> last_logged_;  // per address, against a flood of log lines
  std::thread thread_;
};

// Watches a bound socket's connections on a thread of its own, so that it sees a
// connection while it is still open: logs the ones refused during the handshake
// (wrong mechanism, wrong server key) with the peer's address, and collects the
// descriptors of connections that closed.
class ConnectionMonitor : public zmq::monitor_t {
 public:
  // `collect_closed`: keep the descriptors of closed connections for take_closed().
  ConnectionMonitor(std::string owner, bool collect_closed)
      : owner_(std::move(owner)), collect_closed_(collect_closed) {}
  ~ConnectionMonitor() override;
  void start(zmq::socket_t& socket, const std::string& inproc_address);
  // Closed connections since the last call.
  std::vector<int> take_closed();
  uint64_t refused() const { return refused_.load(); }

  void on_event_accepted(const zmq_event_t& event, const char*) override;
  void on_event_disconnected(const zmq_event_t& event, const char*) override;
  void on_event_handshake_failed_protocol(const zmq_event_t& event, const char*) override;
  void on_event_handshake_failed_no_detail(const zmq_event_t& event, const char*) override;

 private:
  std::string owner_;
  bool collect_closed_;
  std::mutex mu_;
  std::vector<int> closed_;  // guarded by mu_
  // The rest belongs to the monitor thread.
  std::unordered_map<int, std::string> address_by_fd_;
  std::string pending_failure_;
  std::map<std::string, double> last_logged_;
  std::atomic<uint64_t> refused_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Watches a connecting socket for a refused handshake, so that a peer with the wrong
// keys hears why at once instead of waiting out a timeout.
//
// With `watch_closed`, it also notices when an established connection closes (the
// peer stopped or was killed: its kernel closed the socket), so a client waiting on a
// scheduler that died hears it at once rather than after its timeout.
class HandshakeWatch : public zmq::monitor_t {
 public:
  void start(zmq::socket_t& socket, const std::string& inproc_address, bool watch_closed = false);
  // True once a connection closed.
  bool closed() {
    while (check_event(0)) {
    }
    return closed_;
  }
  // Empty while nothing failed; else why the other side refused us.
  const std::string& failure() {
    while (check_event(0)) {
    }
    return failure_;
  }

  void on_event_handshake_failed_protocol(const zmq_event_t& event, const char*) override;
  void on_event_handshake_failed_auth(const zmq_event_t& event, const char*) override;
  void on_event_handshake_failed_no_detail(const zmq_event_t& event, const char*) override;
  void on_event_disconnected(const zmq_event_t& event, const char*) override;

 private:
  std::string failure_;
  bool closed_ = false;
};

// Text for a ZMQ_PROTOCOL_ERROR_* code seen in a handshake.
std::string describe_handshake_error(int code);
// "ADDR:PORT" of the peer of a connected socket, or "" when it is gone.
std::string socket_peer_address(int fd);
// Pulls the host out of tcp://HOST:PORT ("" for other endpoints).
std::string endpoint_host(const std::string& endpoint);

}  // namespace rsdat
