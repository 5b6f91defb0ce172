#include "net/security.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>

#include "net/scheduler_file.hpp"

namespace rsdat {

namespace fs = std::filesystem;

namespace {

constexpr size_t kZ85KeyLength = 40;
constexpr double kLogEverySeconds = 10;  // per address, for refusals

double seconds_now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

bool is_z85_key(const std::string& s) {
  // Z85's alphabet, checked here: the decoder would stop at a NUL and leave the rest
  // of the key unwritten.
  static constexpr std::string_view kZ85 =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  if (s.size() != kZ85KeyLength || s.find_first_not_of(kZ85) != std::string::npos) return false;
  uint8_t raw[32];
  return zmq_z85_decode(raw, s.c_str()) != nullptr;
}

std::string decode_key(const std::string& z85) {
  uint8_t raw[32];
  zmq_z85_decode(raw, z85.c_str());
  return std::string(reinterpret_cast<const char*>(raw), sizeof raw);
}

std::string encode_key(const std::string& raw) {
  char z85[kZ85KeyLength + 1];
  zmq_z85_encode(z85, reinterpret_cast<const uint8_t*>(raw.data()), 32);
  return z85;
}

// True when a refusal from `address` should be logged now (at most once per
// kLogEverySeconds per address, so a peer retrying in a loop cannot flood the log).
bool should_log(std::map<std::string, double>& last_logged, const std::string& address) {
  double now = seconds_now();
  // Per host: a peer that retries comes from a new port each time.
  std::string host = address.substr(0, address.rfind(':') == std::string::npos || address.find('.') == std::string::npos
                                           ? address.size()
                                           : address.rfind(':'));
  auto [it, fresh] = last_logged.try_emplace(host, now);
  if (fresh) {
    if (last_logged.size() > 4096) last_logged.clear();
    return true;
  }
  if (now - it->second < kLogEverySeconds) return false;
  it->second = now;
  return true;
}

}  // namespace

CurveKeys generate_curve_keys() {
  CurveKeys k;
  char pub[kZ85KeyLength + 1], sec[kZ85KeyLength + 1];
  if (zmq_curve_keypair(pub, sec) != 0) throw std::runtime_error("zmq_curve_keypair failed: no CURVE support");
  k.server_public = pub;
  k.server_secret = sec;
  zmq_curve_keypair(pub, sec);
  k.client_public = pub;
  k.client_secret = sec;
  return k;
}

Result<CurveKeys> parse_key_file(std::string_view text, const std::string& path) {
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    CurveKeys k;
    k.server_public = j.at("server_public").get<std::string>();
    k.server_secret = j.value("server_secret", "");
    k.client_public = j.at("client_public").get<std::string>();
    k.client_secret = j.at("client_secret").get<std::string>();
    for (const std::string* key : {&k.server_public, &k.client_public, &k.client_secret}) {
      if (!is_z85_key(*key)) return invalid_argument("key file " + path + " holds a key that is not 40 Z85 characters");
    }
    if (!k.server_secret.empty() && !is_z85_key(k.server_secret)) {
      return invalid_argument("key file " + path + ": server_secret is not 40 Z85 characters");
    }
    return k;
  } catch (const std::exception& e) {
    return invalid_argument("key file " + path + " is not valid: " + e.what());
  }
}

Result<CurveKeys> read_key_file(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return not_found("key file " + path + " does not exist");
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    std::ostringstream mode;
    mode << std::oct << (st.st_mode & 0777);
    return invalid_argument("key file " + path + " can be read by other users (mode " + mode.str() +
                            "); make it private with chmod 600");
  }
  auto text = read_small_file(path, kMaxConfigFileBytes);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kInvalidArgument) return invalid_argument("key file " + text.status().message());
    return io_error("cannot read key file " + path);
  }
  return parse_key_file(*text, path);
}

Status write_key_file(const std::string& path, const CurveKeys& keys) {
  nlohmann::json j;
  j["comment"] = "rsdat cluster keys: keep this file private (mode 0600)";
  j["server_public"] = keys.server_public;
  if (!keys.server_secret.empty()) j["server_secret"] = keys.server_secret;
  j["client_public"] = keys.client_public;
  j["client_secret"] = keys.client_secret;
  return write_private_file(path, j.dump(2) + "\n", /*replace=*/false);
}

Result<CurveKeys> load_or_create_key_file(const std::string& path, bool* created) {
  if (created) *created = false;
  auto existing = read_key_file(path);
  if (existing.ok() || existing.status().code() != StatusCode::kNotFound) return existing;
  RSDAT_RETURN_IF_ERROR(write_key_file(path, generate_curve_keys()), "creating the cluster key file");
  auto made = read_key_file(path);
  if (made.ok() && created) *created = true;
  return made;
}

Result<std::vector<std::string>> parse_allowed_keys(std::string_view text, const std::string& path) {
  std::istringstream in{std::string(text)};
  std::vector<std::string> keys;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    // A key, then optionally a comment. Z85 has '#' among its characters, so a comment
    // is a line that starts with '#' or text after the key and a space.
    std::istringstream words(line);
    std::string key, rest;
    if (!(words >> key) || key[0] == '#') continue;
    if (words >> rest && rest[0] != '#') key.clear();
    if (!is_z85_key(key)) {
      return invalid_argument("allowed-keys file " + path + " line " + std::to_string(number) +
                              ": not a public key (40 Z85 characters)");
    }
    keys.push_back(key);
  }
  return keys;
}

Result<std::vector<std::string>> read_allowed_keys(const std::string& path) {
  auto text = read_small_file(path, kMaxConfigFileBytes);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return not_found("allowed-keys file " + path + " does not exist");
    if (text.status().code() == StatusCode::kIO) return text.status();
    return invalid_argument("allowed-keys file " + text.status().message());
  }
  return parse_allowed_keys(*text, path);
}

std::string default_key_file(const std::string& scheduler_file) {
  if (!scheduler_file.empty()) {
    fs::path p = fs::absolute(scheduler_file);
    return (p.parent_path() / (p.stem().string() + ".key")).string();
  }
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.rsdat/cluster.key";
}

bool is_tcp_endpoint(const std::string& endpoint) { return endpoint.rfind("tcp://", 0) == 0; }

void SocketSecurity::make_server(zmq::socket_t& socket, const std::string& endpoint) const {
  if (!applies_to(endpoint)) return;
  socket.set(zmq::sockopt::curve_server, 1);
  socket.set(zmq::sockopt::curve_secretkey, keys.server_secret);
  socket.set(zmq::sockopt::zap_domain, "rsdat");
}

void SocketSecurity::make_client(zmq::socket_t& socket, const std::string& endpoint) const {
  if (!applies_to(endpoint)) return;
  socket.set(zmq::sockopt::curve_serverkey, keys.server_public);
  socket.set(zmq::sockopt::curve_publickey, keys.client_public);
  socket.set(zmq::sockopt::curve_secretkey, keys.client_secret);
}

Result<SocketSecurity> load_security(bool encryption, const std::string& key_file, bool need_server_secret) {
  SocketSecurity security;
  security.encryption = encryption;
  if (!encryption) return security;
  auto keys = read_key_file(key_file);
  if (!keys.ok()) {
    return Status(keys.status().code(),
                  keys.status().message() +
                      "; connections are encrypted, so this needs the cluster's key file (the scheduler's --key-file)"
                      ", or --no-encryption on every daemon of a cluster started without encryption");
  }
  if (need_server_secret && keys->server_secret.empty()) {
    return invalid_argument("key file " + key_file +
                            " holds only client keys; a worker serves its peers and needs the cluster's full key file");
  }
  security.keys = std::move(keys).value();
  return security;
}

std::string SocketSecurity::refusal_hint(const std::string& endpoint) const {
  if (applies_to(endpoint)) {
    return " (this side encrypts: it needs the cluster's own key file, and a scheduler started with encryption)";
  }
  return " (this side does not encrypt: without --no-encryption and with the cluster's key file it would)";
}

ZapHandler::ZapHandler(zmq::context_t& context, const std::vector<std::string>& allowed_z85, std::string owner)
    : owner_(std::move(owner)) {
  for (const auto& k : allowed_z85) allowed_.push_back(decode_key(k));
  std::promise<std::string> bound;
  auto bound_future = bound.get_future();
  thread_ = std::thread([this, &context, &bound] {
    zmq::socket_t socket(context, zmq::socket_type::rep);
    socket.set(zmq::sockopt::linger, 0);
    try {
      socket.bind("inproc://zeromq.zap.01");
    } catch (const zmq::error_t& e) {
      bound.set_value(e.what());
      return;
    }
    bound.set_value("");
    serve(socket);
  });
  if (std::string error = bound_future.get(); !error.empty()) {
    thread_.join();
    throw std::runtime_error("cannot start the ZAP handler: " + error);
  }
}

ZapHandler::~ZapHandler() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
}

void ZapHandler::serve(zmq::socket_t& socket) {
  while (!stopping_.load()) {
    zmq::pollitem_t item{static_cast<void*>(socket), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      // version, request id, domain, address, identity, mechanism, credentials...
      std::vector<zmq::message_t> frames;
      do {
        frames.emplace_back();
        if (!socket.recv(frames.back(), zmq::recv_flags::dontwait)) break;
      } while (frames.back().more() && frames.size() < 16);
      while (frames.back().more()) {  // a malformed request: drain it
        zmq::message_t rest;
        if (!socket.recv(rest, zmq::recv_flags::dontwait)) break;
        if (!rest.more()) break;
      }
      auto text = [&](size_t i) { return i < frames.size() ? frames[i].to_string() : std::string(); };
      std::string request_id = text(1), address = text(3), mechanism = text(5);
      std::string status = "400", reason;
      if (text(0) != "1.0") {
        reason = "unknown ZAP version";
      } else if (mechanism != "CURVE" || frames.size() < 7 || frames[6].size() != 32) {
        reason = "mechanism " + mechanism + " is not accepted";
      } else {
        std::string key = frames[6].to_string();
        bool ok = false;
        for (const auto& a : allowed_) ok = ok || a == key;
        if (ok) {
          status = "200";
        } else {
          reason = "key " + encode_key(key) + " is not on the allow-list";
        }
      }
      if (status == "200") {
        ++admitted_;
      } else {
        ++refused_;
        if (should_log(last_logged_, address)) {
          spdlog::warn("{} refused a connection from {}: {}", owner_, address.empty() ? "?" : address, reason);
        }
      }
      std::array<std::string, 6> reply{"1.0", request_id, status, status == "200" ? "OK" : reason,
                                       status == "200" ? "rsdat" : "", ""};
      for (size_t i = 0; i < reply.size(); ++i) {
        socket.send(zmq::buffer(reply[i]), i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
      }
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      if (e.num() != EINTR) spdlog::warn("{}: ZAP handler: {}", owner_, e.what());
    }
  }
}

void ConnectionMonitor::start(zmq::socket_t& socket, const std::string& inproc_address) {
  init(socket, inproc_address,
       ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
  thread_ = std::thread([this] {
    while (!stopping_.load()) {
      try {
        check_event(100);
      } catch (const zmq::error_t& e) {
        if (e.num() == ETERM) return;
      }
    }
  });
}

ConnectionMonitor::~ConnectionMonitor() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
}

std::vector<int> ConnectionMonitor::take_closed() {
  std::lock_guard lock(mu_);
  return std::exchange(closed_, {});
}

void ConnectionMonitor::on_event_accepted(const zmq_event_t& event, const char*) {
  int fd = static_cast<int>(event.value);
  address_by_fd_[fd] = socket_peer_address(fd);
}

void ConnectionMonitor::on_event_handshake_failed_protocol(const zmq_event_t& event, const char*) {
  pending_failure_ = describe_handshake_error(static_cast<int>(event.value));
}

void ConnectionMonitor::on_event_handshake_failed_no_detail(const zmq_event_t& event, const char*) {
  pending_failure_ = std::string("the connection broke during the handshake (") +
                     std::strerror(static_cast<int>(event.value)) + ")";
}

void ConnectionMonitor::on_event_disconnected(const zmq_event_t& event, const char*) {
  int fd = static_cast<int>(event.value);
  if (collect_closed_) {
    std::lock_guard lock(mu_);
    closed_.push_back(fd);
  }
  std::string address;
  if (auto it = address_by_fd_.find(fd); it != address_by_fd_.end()) {
    address = std::move(it->second);
    address_by_fd_.erase(it);
  }
  // libzmq reports a failed handshake, then the disconnection of its descriptor.
  if (pending_failure_.empty()) return;
  ++refused_;
  if (address.empty()) address = "an address already gone";
  if (should_log(last_logged_, address)) {
    spdlog::warn("{} refused a connection from {}: {}", owner_, address, pending_failure_);
  }
  pending_failure_.clear();
}

void HandshakeWatch::start(zmq::socket_t& socket, const std::string& inproc_address, bool watch_closed) {
  init(socket, inproc_address,
       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
           (watch_closed ? ZMQ_EVENT_DISCONNECTED : 0));
}

void HandshakeWatch::on_event_disconnected(const zmq_event_t&, const char*) { closed_ = true; }

void HandshakeWatch::on_event_handshake_failed_protocol(const zmq_event_t& event, const char*) {
  failure_ = describe_handshake_error(static_cast<int>(event.value));
}

void HandshakeWatch::on_event_handshake_failed_auth(const zmq_event_t& event, const char*) {
  failure_ = "the other side does not admit this key (status " + std::to_string(event.value) +
             "): it is not on the cluster's allow-list";
}

void HandshakeWatch::on_event_handshake_failed_no_detail(const zmq_event_t&, const char*) {
  // A connection that breaks during the handshake: the other side closed it, which a
  // server refusing our mechanism or key does. Say so only if nothing better is known.
  if (failure_.empty()) failure_ = "the other side closed the connection during the handshake";
}

std::string describe_handshake_error(int code) {
  switch (code) {
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
      return "security mechanisms differ (one side encrypts with CURVE, the other does not)";
    case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
      return "CURVE keys do not match (wrong server key, or a damaged message)";
    case ZMQ_PROTOCOL_ERROR_ZAP_UNSPECIFIED:
    case ZMQ_PROTOCOL_ERROR_ZAP_MALFORMED_REPLY:
    case ZMQ_PROTOCOL_ERROR_ZAP_BAD_REQUEST_ID:
    case ZMQ_PROTOCOL_ERROR_ZAP_BAD_VERSION:
    case ZMQ_PROTOCOL_ERROR_ZAP_INVALID_STATUS_CODE:
    case ZMQ_PROTOCOL_ERROR_ZAP_INVALID_METADATA:
      return "the authentication handler failed";
    default:
      if (code >= ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED && code < ZMQ_PROTOCOL_ERROR_ZAP_UNSPECIFIED) {
        return "the peer broke the ZeroMQ handshake (protocol error " + std::to_string(code) + ")";
      }
      return "handshake error " + std::to_string(code);
  }
}

std::string socket_peer_address(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "";
  char host[INET6_ADDRSTRLEN] = "";
  int port = 0;
  if (addr.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  } else {
    return "";
  }
  return std::string(host) + ":" + std::to_string(port);
}

std::string endpoint_host(const std::string& endpoint) {
  if (!is_tcp_endpoint(endpoint)) return "";
  std::string rest = endpoint.substr(6);
  auto colon = rest.rfind(':');
  std::string host = colon == std::string::npos ? rest : rest.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host;
}

}  // namespace rsdat
