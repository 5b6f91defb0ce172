#include "worker/worker_server.hpp"

#include <kj/exception.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <set>
#include <thread>

#include "ops/builtin_ops.hpp"
#include "io/store.hpp"
#include "io/zarr.hpp"
#include "io/netcdf.hpp"
#include "ops/op_registry.hpp"
#include "core/sysinfo.hpp"
#include "net/wire_convert.hpp"

namespace rsdat::worker {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kMaxMessagesPerTurn = 1024;

std::string identity_string(const zmq::message_t& m) { return std::string(static_cast<const char*>(m.data()), m.size()); }

// Seconds on the monotonic clock: the time WorkerState is given.
double seconds_now() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

// Bytes free for spilling: on each disk of the spill directories once (several
// directories may share a file system).
uint64_t free_spill_space(const std::vector<std::string>& dirs) {
  std::set<unsigned long> seen;
  uint64_t free = 0;
  for (const std::string& d : dirs) {
    struct statvfs st {};
    if (::statvfs(d.c_str(), &st) != 0 || !seen.insert(st.f_fsid).second) continue;
    free += static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  }
  return free;
}

void send_hello(zmq::socket_t& s, wire::Role role, const std::string& name, const std::string& address,
                uint32_t nthreads, uint64_t memory_limit, uint64_t spill_space) {
  capnp::MallocMessageBuilder b;
  auto h = b.initRoot<wire::Envelope>().initHello();
  h.setVersion(wire::PROTOCOL_VERSION);
  h.setRole(role);
  h.setName(name);
  h.setAddress(address);
  h.setNthreads(nthreads);
  h.setMemoryLimit(memory_limit);
  h.setSpillSpace(spill_space);
  send_best_effort(s, nullptr, b);
}

}  // namespace

WorkerServer::WorkerServer(WorkerOptions options)
    : options_(std::move(options)),
      context_(1),
      scheduler_(context_, zmq::socket_type::dealer),
      router_(context_, zmq::socket_type::router),
      state_(options_.nthreads),
      arena_(options_.nthreads < 1 ? 1 : options_.nthreads, /*reserved_for_masters=*/0) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ops::register_io_ops();
  // Remote NetCDF files are copied to the worker's scratch, beside its spilled chunks.
  if (!options_.local_directories.empty()) netcdf::set_cache_directory(options_.local_directories.front());
  (void)netcdf::library_mutex();  // its settings made before any task thread runs
}

WorkerServer::~WorkerServer() {
  // Kernels still running hold references to this object: wait for them.
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return running_ == 0; });
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status WorkerServer::start() {
  if (wake_fd_ < 0) return io_error("eventfd failed");
  if (options_.memory_limit > 0) {
    state_.set_fetch_budget(std::max<uint64_t>(32ull << 20, options_.memory_limit / 8));
    state_.set_memory_limits({.limit = options_.memory_limit,
                              .target = options_.memory_target,
                              .spill = options_.memory_spill,
                              .pause = options_.memory_pause});
  }
  if (options_.memory_limit > 0 && !options_.local_directories.empty()) {
    for (const std::string& dir : options_.local_directories) {
      if (size_t n = clean_stale_spill_dirs(dir)) {
        spdlog::info("removed {} spill directories left in {} by workers that died", n, dir);
      }
    }
    RSDAT_RETURN_IF_ERROR(state_.enable_spill(options_.local_directories, options_.spill_compression));
  }
  auto endpoint = bind_endpoint();
  if (!endpoint.ok()) return endpoint.status();
  const SocketSecurity& security = options_.security;
  if (security.applies_to(*endpoint)) {
    std::vector<std::string> allowed{security.keys.client_public};
    allowed.insert(allowed.end(), options_.allowed_keys.begin(), options_.allowed_keys.end());
    try {
      zap_ = std::make_unique<ZapHandler>(context_, allowed, "worker");
    } catch (const std::exception& e) {
      return internal_error(e.what());
    }
  }
  configure_socket(router_);
  configure_socket(scheduler_);
  router_.set(zmq::sockopt::router_mandatory, 1);
  security.make_server(router_, *endpoint);
  try {
    router_.bind(*endpoint);
  } catch (const zmq::error_t& e) {
    return unavailable("cannot bind " + *endpoint + ": " + e.what());
  }
  address_ = router_.get(zmq::sockopt::last_endpoint);
  router_monitor_.start(router_, "inproc://rsdat-worker-monitor");
  if (options_.name.empty()) options_.name = host_name() + "-" + std::to_string(getpid());
  security.make_client(scheduler_, options_.scheduler_address);
  // Watching from before the connection starts: a refused handshake is not missed.
  HandshakeWatch watch;
  watch.start(scheduler_, "inproc://rsdat-worker-handshake");
  try {
    scheduler_.connect(options_.scheduler_address);
  } catch (const zmq::error_t& e) {
    return unavailable("cannot connect to scheduler at '" + options_.scheduler_address + "': " + e.what());
  }
  send_hello(scheduler_, wire::Role::WORKER, options_.name, address_, static_cast<uint32_t>(options_.nthreads),
             options_.memory_limit, spill_space());
  return wait_for_welcome(watch);
}

Result<std::string> WorkerServer::bind_endpoint() const {
  if (!options_.listen.empty()) return options_.listen;
  std::string fallback = local_address_towards(endpoint_host(options_.scheduler_address));
  if (fallback.empty()) fallback = "127.0.0.1";
  auto host = resolve_bind_host(options_.host, options_.interface, fallback);
  if (!host.ok()) return host.status();
  return "tcp://" + *host + ":" + (options_.port == 0 ? "*" : std::to_string(options_.port));
}

// Waits for the scheduler's welcome, so that a wrong address, version or key is
// reported at start, with the reason when the handshake was refused.
Status WorkerServer::wait_for_welcome(HandshakeWatch& watch) {
  auto deadline = Clock::now() + std::chrono::duration<double>(options_.connect_timeout);
  while (Clock::now() < deadline && !stopping_.load()) {
    if (const std::string& why = watch.failure(); !why.empty()) {
      return unavailable("scheduler at " + options_.scheduler_address + " refused the connection: " + why +
                         options_.security.refusal_hint(options_.scheduler_address));
    }
    zmq::pollitem_t item{static_cast<void*>(scheduler_), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      return unavailable(e.what());
    }
    if (!(item.revents & ZMQ_POLLIN)) continue;
    auto msg = recv_message(scheduler_, false);
    if (!msg.ok()) return msg.status().with_context("scheduler's reply");
    try {
      auto env = msg->envelope();
      if (env.which() == wire::Envelope::WELCOME) {
        heartbeat_ms_ = std::max<uint32_t>(50, env.getWelcome().getHeartbeatMs());
        spdlog::info("worker {} at {} joined scheduler {} ({} threads, memory limit {}{})", options_.name, address_,
                     options_.scheduler_address, options_.nthreads, format_bytes(options_.memory_limit),
                     options_.security.applies_to(options_.scheduler_address) ? ", CURVE encrypted" : "");
        last_heartbeat_ = Clock::now();
        last_from_scheduler_ = last_heartbeat_;
        const uint64_t own = current_rss_bytes();
        if (options_.memory_limit > 0 && own > options_.memory_pause * static_cast<double>(options_.memory_limit)) {
          own_memory_too_large_ = true;
          spdlog::warn("worker {}: its own memory, {} before any task, is above its pause threshold ({:.0f}% of its "
                       "limit {}): it will pause and run nothing; raise --memory-limit",
                       options_.name, format_bytes(own), options_.memory_pause * 100,
                       format_bytes(options_.memory_limit));
        }
        return Status::ok();
      }
      if (env.which() == wire::Envelope::ERROR) {
        return protocol_error("scheduler refused this worker: " + std::string(env.getError().getMessage().cStr()));
      }
    } catch (const kj::Exception& e) {
      return protocol_error(std::string("undecodable reply from scheduler: ") + e.getDescription().cStr());
    }
  }
  std::string here;
  for (const std::string& a : interface_addresses()) here += (here.empty() ? "" : ", ") + a;
  return unavailable("no answer from scheduler at " + options_.scheduler_address + " within " +
                     std::to_string(static_cast<int>(options_.connect_timeout)) +
                     " s: is the scheduler running, and is its address on a network this node reaches? (this "
                     "node, " + host_name() + ", has " + (here.empty() ? "no IPv4 address" : here) +
                     "; bind the scheduler with --interface to the cluster network)");
}

void WorkerServer::run() {
  std::vector<zmq::pollitem_t> items;
  std::vector<std::string> peer_order;
  started_ = Clock::now();
  while (!stopping_.load()) {
    check_retirement();
    items.clear();
    peer_order.clear();
    items.push_back({static_cast<void*>(scheduler_), 0, ZMQ_POLLIN, 0});
    items.push_back({static_cast<void*>(router_), 0, ZMQ_POLLIN, 0});
    items.push_back({nullptr, wake_fd_, ZMQ_POLLIN, 0});
    for (auto& [addr, pc] : peers_) {
      items.push_back({static_cast<void*>(*pc.socket), 0, ZMQ_POLLIN, 0});
      peer_order.push_back(addr);
    }
    try {
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(heartbeat_ms_ / 2 + 1));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      spdlog::error("poll failed: {}", e.what());
      break;
    }
    if (items[2].revents & ZMQ_POLLIN) {
      uint64_t v;
      (void)!::read(wake_fd_, &v, sizeof v);
      drain_completions();
    }
    if (items[0].revents & ZMQ_POLLIN) {
      for (int i = 0; i < kMaxMessagesPerTurn && !stopping_.load(); ++i) {
        auto msg = recv_message(scheduler_, false, zmq::recv_flags::dontwait);
        if (!msg.ok()) {
          if (msg.status().code() == StatusCode::kUnavailable) break;
          spdlog::warn("malformed message from scheduler: {}", msg.status().to_string());
          continue;
        }
        handle_scheduler(*msg);
      }
    }
    if (items[1].revents & ZMQ_POLLIN) {
      for (int i = 0; i < kMaxMessagesPerTurn; ++i) {
        ReceivedMessage msg;
        Status st = recv_message(router_, true, zmq::recv_flags::dontwait, msg);
        if (st.code() == StatusCode::kUnavailable) break;
        process_router(st, msg);
      }
    }
    for (size_t i = 0; i < peer_order.size(); ++i) {
      if (!(items[3 + i].revents & ZMQ_POLLIN)) continue;
      const std::string& addr = peer_order[i];
      for (int n = 0; n < kMaxMessagesPerTurn; ++n) {
        auto it = peers_.find(addr);
        if (it == peers_.end()) break;
        auto msg = recv_message(*it->second.socket, false, zmq::recv_flags::dontwait);
        if (!msg.ok()) {
          if (msg.status().code() == StatusCode::kUnavailable) break;
          spdlog::warn("malformed reply from peer {}: {}", addr, msg.status().to_string());
          continue;
        }
        handle_peer_reply(addr, *msg);
      }
    }
    drain_completions();
    check_fetch_timeouts();
    manage_memory();
    send_reports();
    if (Clock::now() - last_heartbeat_ > std::chrono::milliseconds(heartbeat_ms_)) heartbeat();
    if (Clock::now() - last_from_scheduler_ > std::chrono::duration<double>(options_.death_timeout)) {
      spdlog::error("no word from the scheduler at {} for {} s: it is gone; exiting", options_.scheduler_address,
                    static_cast<int>(options_.death_timeout));
      stopping_.store(true);
    }
  }
  capnp::MallocMessageBuilder b;
  b.initRoot<wire::Envelope>().initGoodbye().setReason("worker stopping");
  send_best_effort(scheduler_, nullptr, b);
  scheduler_.set(zmq::sockopt::linger, 2000);  // let the goodbye leave before the socket closes
  spdlog::info("worker {} stopped", options_.name);
}

void WorkerServer::handle_scheduler(ReceivedMessage& msg) {
  try {
    auto env = msg.envelope();
    // An error is no sign that the scheduler counts this worker: a scheduler that dropped
    // it, or one started again at its address, answers each of its messages with
    // "say hello first". Such a worker is gone from the cluster and leaves after
    // --death-timeout, like one whose scheduler is silent.
    if (env.which() != wire::Envelope::ERROR) last_from_scheduler_ = Clock::now();
    switch (env.which()) {
      case wire::Envelope::COMPUTE_TASKS: {
        std::vector<Assignment> tasks;
        for (auto a : env.getComputeTasks().getTasks()) {
          auto spec = to_task_spec(a.getSpec());
          if (!spec.ok()) {
            spdlog::warn("bad task from scheduler: {}", spec.status().to_string());
            continue;
          }
          Assignment as;
          as.spec = std::move(spec).value();
          if (a.getInlineResult() && as.spec.output_nbytes() <= kMaxInlineResultBytes) inline_results_.insert(as.spec.key);
          for (auto loc : a.getDepLocations()) {
            std::vector<std::string> holders;
            for (auto w : loc.getWorkers()) {
              holders.emplace_back(w.cStr());
              // Named after it was lost: a worker that came back at the same address.
              if (!lost_peers_.empty()) lost_peers_.erase(holders.back());
            }
            TaskKey dep = to_key(loc.getKey());
            auto dt = to_dtype(loc.getDtype());
            if (dt.ok() && loc.hasShape()) {
              auto shape = to_shape(loc.getShape(), *dt);
              if (shape.ok()) as.dep_nbytes[dep] = static_cast<uint64_t>(shape_size(*shape)) * dtype_size(*dt);
            }
            as.dep_locations.emplace_back(dep, std::move(holders));
          }
          tasks.push_back(std::move(as));
        }
        state_.add_tasks(std::move(tasks), commands_);
        break;
      }
      case wire::Envelope::RELEASE_CHUNKS: {
        std::vector<TaskKey> keys;
        for (auto k : env.getReleaseChunks().getKeys()) keys.push_back(to_key(k));
        for (const TaskKey& k : keys) inline_results_.erase(k);
        state_.release(keys, commands_);
        break;
      }
      case wire::Envelope::REPLICATE: {
        std::vector<std::pair<TaskKey, std::vector<std::string>>> keys;
        std::unordered_map<TaskKey, uint64_t> nbytes;
        for (auto loc : env.getReplicate().getKeys()) {
          TaskKey key = to_key(loc.getKey());
          std::vector<std::string> holders;
          for (auto w : loc.getWorkers()) holders.emplace_back(w.cStr());
          auto dtype = to_dtype(loc.getDtype());
          if (dtype.ok()) {
            auto shape = to_shape(loc.getShape(), *dtype);
            if (shape.ok()) nbytes[key] = static_cast<uint64_t>(shape_size(*shape)) * dtype_size(*dtype);
          }
          keys.emplace_back(key, std::move(holders));
        }
        spdlog::info("taking over {} chunks from a retiring worker", keys.size());
        state_.replicate(keys, nbytes, commands_);
        break;
      }
      case wire::Envelope::STEAL_TASKS: {
        auto keys = env.getStealTasks().getKeys();
        capnp::MallocMessageBuilder b;
        auto results = b.initRoot<wire::Envelope>().initStealReply().initResults(keys.size());
        for (size_t i = 0; i < keys.size(); ++i) {
          TaskKey k = to_key(keys[i]);
          set_key(results[i].initKey(), k);
          results[i].setStolen(state_.steal(k, commands_));
        }
        send_best_effort(scheduler_, nullptr, b);
        break;
      }
      case wire::Envelope::PEER_LOST: {
        std::string address = env.getPeerLost().getAddress().cStr();
        // Fetches from it that wait for the budget must not go out later either.
        if (lost_peers_.size() < 4096) lost_peers_.insert(address);
        if (peers_.count(address)) drop_peer(address, "the scheduler reports it lost");
        break;
      }
      case wire::Envelope::GOODBYE:
        spdlog::info("scheduler says goodbye: {}", env.getGoodbye().getReason().cStr());
        stopping_.store(true);
        break;
      case wire::Envelope::ERROR:
        spdlog::warn("scheduler reports an error: {}", env.getError().getMessage().cStr());
        break;
      case wire::Envelope::WELCOME:
      case wire::Envelope::HEARTBEAT:
        break;
      default:
        spdlog::warn("unexpected message kind {} from scheduler", static_cast<int>(env.which()));
    }
  } catch (const kj::Exception& e) {
    spdlog::warn("malformed message from scheduler: {}", e.getDescription().cStr());
  }
  apply(commands_);
}

void WorkerServer::process_router(const Status& decoded, ReceivedMessage& msg) {
  if (!decoded.is_ok()) {
    ++malformed_;
    spdlog::warn("malformed message on peer socket from {}: {}", msg.peer_address, decoded.message());
    if (msg.identity) send_error(router_, &*msg.identity, decoded.code(), decoded.message());
    return;
  }
  handle_router(msg);
}

void WorkerServer::handle_peer_frames(std::vector<zmq::message_t>&& frames) {
  ReceivedMessage msg;
  Status st = decode_message(std::move(frames), /*router=*/true, msg);
  process_router(st, msg);
}

void WorkerServer::handle_router(ReceivedMessage& msg) {
  const zmq::message_t& identity = *msg.identity;
  try {
    auto env = msg.envelope();
    std::string id = identity_string(identity);
    if (env.which() == wire::Envelope::HELLO) {
      auto h = env.getHello();
      if (h.getVersion() != wire::PROTOCOL_VERSION) {
        spdlog::warn("refused peer {}: protocol version {}", msg.peer_address, h.getVersion());
        send_error(router_, &identity, StatusCode::kProtocol,
                   "protocol version " + std::to_string(h.getVersion()) + " is not supported; this worker speaks " +
                       std::to_string(wire::PROTOCOL_VERSION));
        return;
      }
      if (router_hello_.size() > 100000) router_hello_.clear();  // bounded: peers say hello again if refused
      router_hello_.insert(id);
      return;
    }
    if (!router_hello_.count(id)) {
      spdlog::warn("message from {} before hello", msg.peer_address);
      send_error(router_, &identity, StatusCode::kProtocol, "say hello first");
      return;
    }
    if (env.which() != wire::Envelope::GET_CHUNKS) {
      spdlog::warn("unexpected message kind {} on peer socket from {}", static_cast<int>(env.which()),
                   msg.peer_address);
      send_error(router_, &identity, StatusCode::kProtocol,
                 "unexpected message kind " + std::to_string(static_cast<int>(env.which())));
      return;
    }
    auto req = env.getGetChunks();
    auto keys = req.getKeys();
    if (keys.size() > 1'000'000) {
      send_error(router_, &identity, StatusCode::kInvalidArgument, "too many keys in one request", req.getRequestId());
      return;
    }
    capnp::MallocMessageBuilder b;
    auto reply = b.initRoot<wire::Envelope>().initChunks();
    reply.setRequestId(req.getRequestId());
    auto headers = reply.initChunks(keys.size());
    std::vector<zmq::message_t> payload;
    for (size_t i = 0; i < keys.size(); ++i) {
      TaskKey k = to_key(keys[i]);
      set_key(headers[i].initKey(), k);
      auto c = held_chunk(k);
      headers[i].setFound(c.has_value());
      if (c) {
        headers[i].setDtype(to_wire(c->dtype));
        set_shape(headers[i].initShape(c->shape.size()), c->shape);
        auto frames = chunk_frames(*c);
        counters_.served_bytes += c->nbytes();
        headers[i].setFrames(static_cast<uint32_t>(frames.size()));
        for (auto& f : frames) payload.push_back(std::move(f));
      }
    }
    Status st = send_message(router_, &identity, b, std::move(payload));
    if (!st.is_ok()) spdlog::debug("reply to {} failed: {}", msg.peer_address, st.to_string());
  } catch (const kj::Exception& e) {
    spdlog::warn("malformed message from {}: {}", msg.peer_address, e.getDescription().cStr());
    send_error(router_, &identity, StatusCode::kProtocol, std::string("malformed message: ") + e.getDescription().cStr());
  }
}

void WorkerServer::handle_peer_reply(const std::string& address, ReceivedMessage& msg) {
  auto pit = peers_.find(address);
  if (pit == peers_.end()) return;
  PeerConnection& pc = pit->second;
  try {
    auto env = msg.envelope();
    if (env.which() == wire::Envelope::ERROR) {
      auto err = env.getError();
      spdlog::warn("peer {} answered with an error: {}", address, err.getMessage().cStr());
      auto req = pc.requests.find(err.getRequestId());
      if (req != pc.requests.end()) {
        auto keys = std::move(req->second.first);
        pc.requests.erase(req);
        for (const TaskKey& k : keys) state_.fetch_failed(k, commands_);
      }
      apply(commands_);
      return;
    }
    if (env.which() != wire::Envelope::CHUNKS) return;  // welcome and the like
    auto reply = env.getChunks();
    auto req = pc.requests.find(reply.getRequestId());
    if (req == pc.requests.end()) return;  // timed out already
    std::vector<TaskKey> asked = std::move(req->second.first);
    ++counters_.fetches;
    counters_.fetch_seconds += std::chrono::duration<double>(Clock::now() - req->second.second).count();
    pc.requests.erase(req);
    std::unordered_set<TaskKey> answered;
    size_t next_frame = 0;
    for (auto h : reply.getChunks()) {
      TaskKey k = to_key(h.getKey());
      if (!h.getFound()) continue;
      if (next_frame >= msg.payload.size()) break;
      const size_t first = next_frame;
      const size_t count = std::max<uint32_t>(h.getFrames(), 1);
      next_frame += count;
      auto dtype = to_dtype(h.getDtype());
      if (!dtype.ok()) continue;
      auto shape = to_shape(h.getShape(), *dtype);
      if (!shape.ok()) continue;
      auto chunk = chunk_from_frames(msg.payload, first, count, *dtype, std::move(shape).value());
      if (!chunk.ok()) {
        spdlog::warn("bad chunk from {}: {}", address, chunk.status().to_string());
        continue;
      }
      if (std::find(asked.begin(), asked.end(), k) == asked.end()) continue;
      answered.insert(k);
      counters_.fetched_bytes += chunk->nbytes();
      state_.fetch_arrived(k, std::move(chunk).value(), commands_);
    }
    for (const TaskKey& k : asked) {
      if (!answered.count(k)) state_.fetch_failed(k, commands_);
    }
  } catch (const kj::Exception& e) {
    spdlog::warn("malformed reply from peer {}: {}", address, e.getDescription().cStr());
  }
  apply(commands_);
}

WorkerServer::PeerConnection& WorkerServer::peer(const std::string& address) {
  auto it = peers_.find(address);
  if (it != peers_.end()) return it->second;
  PeerConnection pc;
  pc.socket = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
  configure_socket(*pc.socket);
  options_.security.make_client(*pc.socket, address);
  pc.socket->connect(address);
  send_hello(*pc.socket, wire::Role::PEER, options_.name, address_, 0, 0, 0);
  return peers_.emplace(address, std::move(pc)).first->second;
}

void WorkerServer::drop_peer(const std::string& address, const std::string& why) {
  auto it = peers_.find(address);
  if (it == peers_.end()) return;
  std::vector<TaskKey> failed;
  for (auto& [id, req] : it->second.requests) failed.insert(failed.end(), req.first.begin(), req.first.end());
  // Worth a warning only when fetches were waiting on it (a peer that left cleanly is not).
  if (failed.empty()) {
    spdlog::info("dropping connection to peer {}: {}", address, why);
  } else {
    spdlog::warn("dropping connection to peer {} with {} chunks on the way: {}", address, failed.size(), why);
  }
  peers_.erase(it);
  for (const TaskKey& k : failed) state_.fetch_failed(k, commands_);
}

void WorkerServer::check_fetch_timeouts() {
  auto now = Clock::now();
  std::vector<std::string> stale;
  for (auto& [addr, pc] : peers_) {
    for (auto& [id, req] : pc.requests) {
      if (now - req.second > std::chrono::duration<double>(options_.fetch_timeout)) {
        stale.push_back(addr);
        break;
      }
    }
  }
  for (const auto& addr : stale) drop_peer(addr, "no answer within the fetch timeout");
  if (!stale.empty()) apply(commands_);
}

void WorkerServer::check_retirement() {
  const auto now = Clock::now();
  if (!retiring_) {
    std::string reason;
    if (retire_requested_.load()) {
      reason = "asked to";
    } else if (options_.lifetime > 0 && now - started_ >= std::chrono::duration<double>(options_.lifetime)) {
      reason = "lifetime of " + std::to_string(static_cast<int>(options_.lifetime)) + " s reached";
    } else {
      return;
    }
    retiring_ = true;
    retire_requested_.store(true);
    retire_deadline_ = now + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(options_.retire_timeout));
    spdlog::info("retiring ({}): handing chunks over to other workers", reason);
    capnp::MallocMessageBuilder b;
    b.initRoot<wire::Envelope>().initRetiring().setReason(reason);
    send_best_effort(scheduler_, nullptr, b);
    return;
  }
  if (now > retire_deadline_) {
    spdlog::warn("retirement did not finish within {} s: leaving (what only this worker holds will be recomputed)",
                 options_.retire_timeout);
    stopping_.store(true);
  }
}

void WorkerServer::apply(WorkerCommands& cmds) {
  // Fetches may fail synchronously (unreachable peer) and produce more commands: loop.
  while (!cmds.empty()) {
    WorkerCommands now = std::move(cmds);
    cmds.clear();
    for (auto& f : now.fetch) {
      if (lost_peers_.count(f.peer)) {
        for (const TaskKey& k : f.keys) state_.fetch_failed(k, cmds);
        continue;
      }
      PeerConnection* pc = nullptr;
      try {
        pc = &peer(f.peer);
      } catch (const zmq::error_t& e) {
        spdlog::warn("cannot connect to peer '{}': {}", f.peer, e.what());
        for (const TaskKey& k : f.keys) state_.fetch_failed(k, cmds);
        continue;
      }
      uint64_t id = next_request_++;
      spdlog::debug("fetching {} chunks from {}", f.keys.size(), f.peer);
      capnp::MallocMessageBuilder b;
      auto req = b.initRoot<wire::Envelope>().initGetChunks();
      req.setRequestId(id);
      auto keys = req.initKeys(f.keys.size());
      for (size_t i = 0; i < f.keys.size(); ++i) set_key(keys[i], f.keys[i]);
      Status st = send_message(*pc->socket, nullptr, b);
      if (!st.is_ok()) {
        for (const TaskKey& k : f.keys) state_.fetch_failed(k, cmds);
        continue;
      }
      pc->requests.emplace(id, std::make_pair(std::move(f.keys), Clock::now()));
    }
    for (const auto& batch : now.execute) execute(batch);
    for (auto& r : now.reports) pending_reports_.push_back(std::move(r));
    for (auto& k : now.acquired) pending_acquired_.push_back(k);
    for (const Notice& n : now.notices) log_notice(n);
  }
}

void WorkerServer::log_notice(const Notice& n) {
  switch (n.kind) {
    case Notice::Kind::kPaused: {
      pause_reason_ = fmt::format("memory {} of {} (pauses above {:.0f}%)", format_bytes(n.rss_bytes),
                                  format_bytes(options_.memory_limit), options_.memory_pause * 100);
      if (own_memory_too_large_) {
        pause_reason_ += ", its own memory before any task already above that; raise --memory-limit";
      } else if (!last_spill_error_.empty()) {
        pause_reason_ += "; " + last_spill_error_;
      }
      spdlog::warn("worker {} paused: {}; no new task starts until it falls", options_.name, pause_reason_);
      heartbeat();  // the scheduler hears of it now, not at the next beat
      break;
    }
    case Notice::Kind::kResumed:
      spdlog::info("worker {} resumes: process memory {}", options_.name, format_bytes(n.rss_bytes));
      pause_reason_.clear();
      heartbeat();
      break;
    case Notice::Kind::kSpillFailed:
      last_spill_error_ = n.error.message();
      spdlog::error("{} (chunks stay in memory)", n.error.message());
      if (!pause_reason_.empty() && pause_reason_.find(last_spill_error_) == std::string::npos) {
        pause_reason_ += "; " + last_spill_error_;
      }
      break;
  }
}

std::optional<Chunk> WorkerServer::held_chunk(const TaskKey& key) {
  Result<Chunk> c = state_.store().load(key);
  if (c.ok()) return std::move(c).value();
  if (c.status().code() != StatusCode::kNotFound) spdlog::error("spilled chunk {}: {}", key.to_string(), c.status().message());
  return std::nullopt;
}

void WorkerServer::execute(const std::vector<TaskKey>& batch) {
  struct Job {
    TaskSpec spec;
    std::vector<Chunk> inputs;
    Status input_error;  // an input could not be read back: the task fails with this
  };
  auto jobs = std::make_shared<std::vector<Job>>();
  jobs->reserve(batch.size());
  // Tiny built-in tasks run here on the event loop: handing them to a thread and
  // waking this loop for the result costs more than they do.
  bool tiny = true;
  uint64_t tiny_bytes = 0;
  for (const TaskKey& key : batch) {
    const TaskSpec* spec = state_.spec(key);
    RSDAT_CHECK(spec);
    // Formatting the key costs more than a tiny task: only when it is logged.
    if (spdlog::should_log(spdlog::level::debug)) spdlog::debug("running {} {}", spec->op, key.to_string());
    Result<std::vector<Chunk>> in = state_.inputs(key);
    if (in.ok()) {
      jobs->push_back(Job{*spec, std::move(in).value(), Status::ok()});
    } else {
      spdlog::error("task {}: {}", key.to_string(), in.status().message());
      jobs->push_back(Job{*spec, {}, in.status()});
    }
    tiny_bytes += spec->output_nbytes();
    for (const Chunk& in : jobs->back().inputs) tiny_bytes += in.nbytes();
    tiny = tiny && ops::is_data_bound(spec->op);
  }
  tiny = tiny && tiny_bytes <= kInlineTaskBytes;
  const uint32_t nthreads = static_cast<uint32_t>(std::max(1, options_.nthreads));
  auto work = [this, jobs, nthreads]() {
    std::vector<Completion> done;
    done.reserve(jobs->size());
    // Off the arena (a tiny task run on the event loop) the index is negative: 0. An
    // arena of one thread has two slots (one kept for a thread outside it), so its
    // worker thread may sit in slot 1: lanes are 1..nthreads whatever the slot.
    const int index = tbb::this_task_arena::current_thread_index();
    const uint32_t thread = index < 0 ? 0 : std::min<uint32_t>(static_cast<uint32_t>(index), nthreads - 1) + 1;
    for (Job& job : *jobs) {
      auto t0 = Clock::now();
      Result<Chunk> result = job.input_error.is_ok() ? run_kernel(job.spec, job.inputs) : Result<Chunk>(job.input_error);
      double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      job.inputs.clear();  // inputs may be released while the result is queued
      done.push_back({job.spec.key, std::move(result), seconds, thread});
    }
    uint64_t one = 1;
    std::lock_guard lock(mu_);
    for (auto& c : done) completions_.push_back(std::move(c));
    (void)!::write(wake_fd_, &one, sizeof one);
    if (--running_ == 0) idle_.notify_all();
  };
  {
    std::lock_guard lock(mu_);
    ++running_;
  }
  if (tiny) {
    work();  // its completion is drained on the next turn of the loop, as any other
  } else {
    arena_.enqueue(std::move(work));
  }
}

void WorkerServer::drain_completions() {
  std::deque<Completion> done;
  {
    std::lock_guard lock(mu_);
    done.swap(completions_);
  }
  for (auto& c : done) {
    if (spdlog::should_log(spdlog::level::debug)) spdlog::debug("finished {} in {:.6f} s", c.key.to_string(), c.seconds);
    ++counters_.tasks_executed;
    if (!c.result.ok()) {
      ++counters_.tasks_failed;
      const TaskSpec* spec = state_.spec(c.key);
      spdlog::warn("task {} ({}) failed: {}", c.key.to_string(), spec ? spec->op : "?", c.result.status().message());
    }
    state_.execute_finished(c.key, std::move(c.result), c.seconds, commands_, c.thread);
  }
  apply(commands_);
}

void WorkerServer::send_reports() {
  if (pending_reports_.empty() && pending_acquired_.empty()) return;
  capnp::MallocMessageBuilder b;
  auto tr = b.initRoot<wire::Envelope>().initTaskResults();
  auto results = tr.initResults(pending_reports_.size());
  std::vector<zmq::message_t> payload;
  for (size_t i = 0; i < pending_reports_.size(); ++i) {
    const TaskReport& r = pending_reports_[i];
    set_key(results[i].initKey(), r.key);
    // A small result a client waits for goes with the report, saving the client a
    // request to this worker (it stays here as well, like any other result).
    if (inline_results_.erase(r.key) && r.ok) {
      if (auto chunk = held_chunk(r.key); chunk && chunk->nbytes() <= kMaxInlineResultBytes) {
        results[i].setInline(true);
        payload.push_back(chunk_frame(*chunk));
      }
    }
    results[i].setOk(r.ok);
    results[i].setNbytes(r.nbytes);
    results[i].setMessage(r.message.substr(0, 16384));
    results[i].setSeconds(r.seconds);
    results[i].setThread(r.thread);
    results[i].setBytesFetched(r.bytes_fetched);
    auto missing = results[i].initMissingDeps(r.missing_deps.size());
    for (size_t j = 0; j < r.missing_deps.size(); ++j) set_key(missing[j], r.missing_deps[j]);
  }
  auto acquired = tr.initAcquired(pending_acquired_.size());
  for (size_t i = 0; i < pending_acquired_.size(); ++i) set_key(acquired[i], pending_acquired_[i]);
  send_best_effort(scheduler_, nullptr, b, std::move(payload));
  pending_reports_.clear();
  pending_acquired_.clear();
}

void WorkerServer::manage_memory() {
  // The state decides; this reads the RSS and trims the buffer pool when it asks.
  const double now = seconds_now();
  MemoryStep step = state_.check_memory(now, commands_);
  while (step != MemoryStep::kDone) {
    if (step == MemoryStep::kTrimThenRead) trim_buffer_pool();
    step = state_.memory_reading({current_rss_bytes(), now}, commands_);
  }
  apply(commands_);
}

uint64_t WorkerServer::spill_space() const {
  // Spilling happens only under a memory limit (see start()).
  if (options_.memory_limit == 0) return 0;
  return free_spill_space(state_.store().spill_directories());
}

namespace {
// User and system CPU time of this process so far, for the dashboard's CPU figure.
double process_cpu_seconds() {
  rusage u{};
  if (::getrusage(RUSAGE_SELF, &u) != 0) return 0;
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}
}  // namespace

void WorkerServer::heartbeat() {
  last_heartbeat_ = Clock::now();
  capnp::MallocMessageBuilder b;
  auto h = b.initRoot<wire::Envelope>().initHeartbeat();
  h.setManagedBytes(state_.store().memory_bytes());
  h.setSpilledBytes(state_.store().spilled_bytes());
  h.setSpilledTotal(state_.store().spilled_total());
  h.setRssBytes(current_rss_bytes());
  h.setPeakRssBytes(peak_rss_bytes());
  h.setCpuSeconds(process_cpu_seconds());
  h.setExecuting(static_cast<uint32_t>(state_.executing()));
  h.setReady(static_cast<uint32_t>(state_.ready()));
  h.setSpillSpace(spill_space());
  h.setPaused(state_.paused());
  h.setPauseReason(state_.paused() ? pause_reason_ : std::string());
  auto c = h.initCounters();
  c.setTasksExecuted(counters_.tasks_executed);
  c.setTasksFailed(counters_.tasks_failed);
  c.setFetchedBytes(counters_.fetched_bytes);
  c.setFetches(counters_.fetches);
  c.setFetchSeconds(counters_.fetch_seconds);
  c.setServedBytes(counters_.served_bytes);
  c.setUnspilledTotal(state_.store().unspilled_total());
  c.setSpillSeconds(state_.store().spill_seconds());
  c.setUnspillSeconds(state_.store().unspill_seconds());
  const std::vector<store::StoreIoCount> io = store::store_io_counts();
  auto stores = c.initStores(static_cast<unsigned>(io.size()));
  for (size_t i = 0; i < io.size(); ++i) {
    stores[i].setStore(io[i].store);
    stores[i].setReadBytes(io[i].read_bytes);
    stores[i].setWrittenBytes(io[i].written_bytes);
    stores[i].setRequests(io[i].requests);
  }
  send_best_effort(scheduler_, nullptr, b);
}

}  // namespace rsdat::worker
