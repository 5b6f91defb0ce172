#include "scheduler/scheduler_server.hpp"

#include <kj/exception.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <unordered_set>
#include <nlohmann/json.hpp>
#include <fmt/format.h>

#include "net/scheduler_file.hpp"
#include "core/sysinfo.hpp"
#include "net/transport.hpp"
#include "net/wire_convert.hpp"

namespace rsdat::sched {

namespace {

std::string identity_string(const zmq::message_t& m) { return std::string(static_cast<const char*>(m.data()), m.size()); }

zmq::message_t identity_frame(const std::string& s) { return zmq::message_t(s.data(), s.size()); }

constexpr int kMaxMessagesPerTurn = 4096;

}  // namespace

SchedulerServer::SchedulerServer(SchedulerOptions options)
    : options_(std::move(options)), context_(1), router_(context_, zmq::socket_type::router) {
  options_.state.worker_timeout = options_.worker_timeout;
  state_ = SchedulerState(options_.state);
}

SchedulerServer::~SchedulerServer() {
  if (!options_.scheduler_file.empty() && !address_.empty()) {
    std::error_code ec;
    std::filesystem::remove(options_.scheduler_file, ec);
  }
}

double SchedulerServer::now() const {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

Status SchedulerServer::start() {
  std::string endpoint = options_.listen;
  if (endpoint.empty()) {
    auto host = resolve_bind_host(options_.host, options_.interface, "127.0.0.1");
    if (!host.ok()) return host.status();
    endpoint = "tcp://" + *host + ":" + (options_.port == 0 ? "*" : std::to_string(options_.port));
  }
  RSDAT_RETURN_IF_ERROR(set_up_security(endpoint));
  configure_socket(router_);
  router_.set(zmq::sockopt::router_mandatory, 1);
  security_.make_server(router_, endpoint);
  try {
    router_.bind(endpoint);
  } catch (const zmq::error_t& e) {
    return unavailable("cannot bind " + endpoint + ": " + e.what());
  }
  address_ = router_.get(zmq::sockopt::last_endpoint);
  // A peer that hangs up (or dies: the kernel closes its sockets) is noticed at once,
  // not only when its heartbeats stop; a refused handshake is logged.
  monitor_.start(router_, "inproc://rsdat-scheduler-monitor");
  spdlog::info("scheduler at {}{}", address_, security_.applies_to(address_) ? " (CURVE encrypted)" : "");
  if (options_.dashboard_port >= 0) {
    std::string host = is_tcp_endpoint(address_) ? endpoint_host(address_) : "127.0.0.1";
    auto dashboard = std::make_unique<Dashboard>(options_.state.task_stream_size);
    if (Status st = dashboard->start(host, options_.dashboard_port, options_.metrics_public); st.is_ok()) {
      dashboard_ = std::move(dashboard);
      publish_status();
      spdlog::info("dashboard at http://{}:{}/ (the token is in the scheduler file)", host, dashboard_->port());
    } else {
      spdlog::warn("no dashboard: {}", st.message());
    }
  }
  if (!options_.scheduler_file.empty()) RSDAT_RETURN_IF_ERROR(write_scheduler_file());
  return Status::ok();
}

Status SchedulerServer::set_up_security(const std::string& endpoint) {
  security_.encryption = options_.encryption;
  if (!is_tcp_endpoint(endpoint)) return Status::ok();
  if (!options_.encryption) {
    spdlog::warn("encryption is OFF (--no-encryption): anyone who can reach {} can use this cluster and read its data",
                 endpoint);
    return Status::ok();
  }
  if (options_.key_file.empty()) options_.key_file = default_key_file(options_.scheduler_file);
  options_.key_file = std::filesystem::absolute(options_.key_file).string();
  bool created = false;
  auto keys = load_or_create_key_file(options_.key_file, &created);
  if (!keys.ok()) return keys.status();
  if (keys->server_secret.empty()) {
    return invalid_argument("key file " + options_.key_file + " holds no server key; the scheduler needs the full set");
  }
  security_.keys = std::move(keys).value();
  spdlog::info("{} cluster keys {}", created ? "created" : "using", options_.key_file);
  std::vector<std::string> allowed{security_.keys.client_public};
  if (!options_.allowed_keys.empty()) {
    options_.allowed_keys = std::filesystem::absolute(options_.allowed_keys).string();
    auto extra = read_allowed_keys(options_.allowed_keys);
    if (!extra.ok()) return extra.status();
    allowed.insert(allowed.end(), extra->begin(), extra->end());
  }
  try {
    zap_ = std::make_unique<ZapHandler>(context_, allowed, "scheduler");
  } catch (const std::exception& e) {
    return internal_error(e.what());
  }
  return Status::ok();
}

Status SchedulerServer::write_scheduler_file() {
  nlohmann::json j;
  j["address"] = address_;
  j["protocol_version"] = wire::PROTOCOL_VERSION;
  j["pid"] = getpid();
  j["host"] = host_name();
  j["started"] = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch()).count();
  j["dashboard"] = dashboard_ ? nlohmann::json(dashboard_->url()) : nlohmann::json(nullptr);
  j["metrics"] = dashboard_ ? nlohmann::json(dashboard_->metrics_url()) : nlohmann::json(nullptr);
  j["encryption"] = security_.applies_to(address_);
  if (security_.applies_to(address_)) {
    j["server_key"] = security_.keys.server_public;
    j["key_file"] = options_.key_file;
    if (!options_.allowed_keys.empty()) j["allowed_keys"] = options_.allowed_keys;
  }
  return write_private_file(options_.scheduler_file, j.dump(2) + "\n", /*replace=*/true);
}

void SchedulerServer::run() {
  zmq::pollitem_t items[] = {{static_cast<void*>(router_), 0, ZMQ_POLLIN, 0}};
  while (!stopping_.load()) {
    try {
      // While a graph is being added, only look for messages between its steps.
      zmq::poll(items, 1, std::chrono::milliseconds(state_.graph_pending() ? 0 : 200));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      spdlog::error("poll failed: {}", e.what());
      break;
    }
    const double turn_start = now();
    const bool working = (items[0].revents & ZMQ_POLLIN) || state_.graph_pending();
    check_disconnects();  // before new messages, whose connection may reuse a closed fd
    if (items[0].revents & ZMQ_POLLIN) {
      for (int i = 0; i < kMaxMessagesPerTurn; ++i) {
        ReceivedMessage received;
        Status st = recv_message(router_, /*router=*/true, zmq::recv_flags::dontwait, received);
        if (st.code() == StatusCode::kUnavailable) break;
        process(st, received);
      }
    }
    if (state_.graph_pending() && !state_.add_pending(kGraphStep, commands_)) {
      spdlog::info("graph of {} tasks from {} added in {:.2f} s", pending_graph_.tasks, pending_graph_.client,
                   now() - pending_graph_.since);
    }
    flush();
    check_disconnects();
    check_timeouts();
    if (double t = now(); t - last_balance_ > 0.01) {
      last_balance_ = t;
      state_.balance(commands_);
      if (state_.num_retiring() > 0) state_.check_retiring(commands_);
      if (t - last_progress_ >= 0.2) {
        last_progress_ = t;
        send_progress();
      }
      // A view asked for while not being watched is brought up to date at once.
      if (dashboard_ && (t - last_dashboard_ > 0.5 || dashboard_->take_view_request())) {
        last_dashboard_ = t;
        publish_status();
      }
    }
    flush();
    if (working) loop_stats_.record_turn(now() - turn_start);
  }
  // Tell workers to stop? Workers outlive a scheduler restart only with the file; say goodbye.
  for (const auto& [identity, p] : peers_) {
    capnp::MallocMessageBuilder b;
    b.initRoot<wire::Envelope>().initGoodbye().setReason("scheduler stopping");
    zmq::message_t id = identity_frame(identity);
    send_best_effort(router_, &id, b);
  }
  spdlog::info("scheduler stopped");
}

void SchedulerServer::process(const Status& decoded, ReceivedMessage& received) {
  if (!decoded.is_ok()) {
    ++malformed_;
    spdlog::warn("malformed message from {}: {}", received.peer_address, decoded.message());
    if (received.identity) send_error(router_, &*received.identity, decoded.code(), decoded.message());
    return;
  }
  handle(received);
}

void SchedulerServer::handle_frames(std::vector<zmq::message_t>&& frames) {
  ReceivedMessage received;
  Status st = decode_message(std::move(frames), /*router=*/true, received);
  process(st, received);
  state_.finish_pending(commands_);
  flush();
}

const SchedulerServer::Peer* SchedulerServer::peer(const zmq::message_t& identity) const {
  auto it = peers_.find(identity_string(identity));
  return it == peers_.end() ? nullptr : &it->second;
}

void SchedulerServer::handle(ReceivedMessage& msg) {
  const zmq::message_t& identity = *msg.identity;
  try {
    auto env = msg.envelope();
    if (env.which() == wire::Envelope::HELLO) {
      on_hello(identity, env.getHello(), msg.source_fd, msg.peer_address);
      return;
    }
    if (env.which() == wire::Envelope::INFO_REQUEST) {
      send_info(identity, env.getInfoRequest().getRequestId());
      return;
    }
    if (env.which() == wire::Envelope::TASK_STREAM_REQUEST) {
      auto r = env.getTaskStreamRequest();
      send_task_stream(identity, r.getRequestId(), r.getSince());
      return;
    }
    const Peer* p = peer(identity);
    if (!p) {
      // A goodbye queued behind the hang-up that already dropped its peer.
      if (env.which() == wire::Envelope::GOODBYE) return;
      ++malformed_;
      spdlog::warn("message from {} before hello", msg.peer_address);
      send_error(router_, &identity, StatusCode::kProtocol, "say hello first");
      return;
    }
    const bool is_worker = p->role == Peer::Role::kWorker;
    switch (env.which()) {
      case wire::Envelope::SUBMIT_GRAPH: {
        if (is_worker) break;
        const double t0 = now();
        auto g = env.getSubmitGraph();
        auto parts = to_graph_parts(g);
        if (!parts.ok()) {
          send_error(router_, &identity, StatusCode::kProtocol, "bad graph: " + parts.status().message(),
                     g.getGraphId());
          return;
        }
        const uint64_t n_tasks = num_tasks(parts.value()), n_deps = num_deps_bound(parts.value());
        if (n_tasks > options_.max_graph_tasks || n_deps > 16 * options_.max_graph_tasks) {
          send_error(router_, &identity, StatusCode::kInvalidArgument,
                     "graph of " + std::to_string(n_tasks) + " tasks and " + std::to_string(n_deps) +
                         " dependencies: more than this scheduler takes at once (" +
                         std::to_string(options_.max_graph_tasks) + " tasks)",
                     g.getGraphId());
          return;
        }
        std::vector<TaskSpec> tasks = expand_parts(std::move(parts).value());
        std::vector<TaskKey> wanted;
        for (auto k : g.getWanted()) wanted.push_back(to_key(k));
        const size_t n = tasks.size();
        if (state_.graph_pending()) {  // submit_graph adds the rest of it first
          spdlog::info("graph of {} tasks from {}, {:.2f} s after it came: the rest of it is added now, before the "
                       "next graph", pending_graph_.tasks, pending_graph_.client, now() - pending_graph_.since);
        }
        state_.set_inline_bytes(ClientId{p->id}, std::min<uint64_t>(g.getInlineBytes(), kMaxInlineResultBytes));
        state_.set_graph_id(ClientId{p->id}, g.getGraphId());
        Status st = state_.submit_graph(ClientId{p->id}, std::move(tasks), wanted, commands_, kGraphStep);
        if (st.is_ok()) ++graphs_;
        if (!st.is_ok()) {
          send_error(router_, &identity, StatusCode::kInvalidArgument, st.message(), g.getGraphId());
        } else if (state_.graph_pending()) {
          spdlog::info("graph of {} tasks from {} checked in {:.2f} s; first tasks sent while the rest is added", n,
                       p->name, now() - t0);
          pending_graph_ = {n, p->name, t0};
        } else if (n >= 10000) {
          spdlog::info("graph of {} tasks from {} added in {:.2f} s", n, p->name, now() - t0);
        }
        return;
      }
      case wire::Envelope::RELEASE_KEYS: {
        if (is_worker) break;
        std::vector<TaskKey> keys;
        for (auto k : env.getReleaseKeys().getKeys()) keys.push_back(to_key(k));
        state_.release_keys(ClientId{p->id}, keys, commands_);
        return;
      }
      case wire::Envelope::RETIRING: {
        if (!is_worker) break;
        WorkerId w{p->id};
        state_.worker_retiring(w, commands_);
        spdlog::info("worker {} retiring ({}): handing over {} chunks", p->name,
                     env.getRetiring().getReason().cStr(), commands_.replicate.size());
        return;
      }
      case wire::Envelope::STEAL_REPLY: {
        if (!is_worker) break;
        WorkerId w{p->id};
        auto results = env.getStealReply().getResults();
        for (auto r : results) state_.steal_response(w, to_key(r.getKey()), r.getStolen(), commands_);
        return;
      }
      case wire::Envelope::TASK_RESULTS: {
        if (!is_worker) break;
        WorkerId w{p->id};
        auto r = env.getTaskResults();
        size_t frame = 0;
        const double received_at = now();
        for (auto res : r.getResults()) {
          TaskKey key = to_key(res.getKey());
          // A small result a client waits for: it goes on with the KeysReady this
          // report causes (flush() sends them, then forgets the bytes).
          if (res.getInline() && frame < msg.payload.size()) inline_results_[key] = std::move(msg.payload[frame++]);
          if (res.getOk()) {
            state_.task_finished(w, key, res.getNbytes(), res.getSeconds(), commands_, res.getBytesFetched(),
                                 {received_at, res.getThread()});
          } else if (res.getMissingDeps().size() > 0) {
            std::vector<TaskKey> missing;
            for (auto k : res.getMissingDeps()) missing.push_back(to_key(k));
            state_.task_missing_deps(w, key, missing, commands_);
          } else {
            state_.task_erred(w, key, res.getMessage().cStr(), commands_, {received_at, res.getThread()});
          }
        }
        for (auto k : r.getAcquired()) state_.replica_acquired(w, to_key(k), commands_);
        state_.touch(w, now());
        return;
      }
      case wire::Envelope::HEARTBEAT: {
        if (is_worker) {
          auto h = env.getHeartbeat();
          WorkerMetrics m{h.getManagedBytes(), h.getSpilledBytes(), h.getSpilledTotal(), h.getRssBytes(),
                          h.getPeakRssBytes(), h.getExecuting(), h.getPaused(), h.getPauseReason().cStr(),
                          h.getSpillSpace(), h.getCpuSeconds()};
          if (h.hasCounters()) {
            auto c = h.getCounters();
            m.counters = {c.getTasksExecuted(), c.getTasksFailed(), c.getFetchedBytes(), c.getFetches(),
                          c.getServedBytes(),   c.getFetchSeconds(), c.getUnspilledTotal(), c.getSpillSeconds(),
                          c.getUnspillSeconds(), {}};
            for (auto io : c.getStores()) {
              m.counters.stores.push_back(
                  {io.getStore().cStr(), io.getReadBytes(), io.getWrittenBytes(), io.getRequests()});
            }
          }
          state_.heartbeat(WorkerId{p->id}, std::move(m), now());
        }
        // The answer tells workers and waiting clients that the scheduler is alive.
        capnp::MallocMessageBuilder b;
        b.initRoot<wire::Envelope>().initHeartbeat();
        send_best_effort(router_, &identity, b);
        return;
      }
      case wire::Envelope::GOODBYE:
        drop_peer(identity_string(identity), env.getGoodbye().getReason().cStr());
        return;
      default:
        break;
    }
    ++malformed_;
    spdlog::warn("unexpected message kind {} from {}", static_cast<int>(env.which()), msg.peer_address);
    send_error(router_, &identity, StatusCode::kProtocol,
               "unexpected message kind " + std::to_string(static_cast<int>(env.which())));
  } catch (const kj::Exception& e) {
    ++malformed_;
    spdlog::warn("malformed message from {}: {}", msg.peer_address, e.getDescription().cStr());
    send_error(router_, &identity, StatusCode::kProtocol, std::string("malformed message: ") + e.getDescription().cStr());
  }
}

void SchedulerServer::on_hello(const zmq::message_t& identity, wire::Hello::Reader hello, int source_fd,
                               const std::string& from) {
  std::string id_str = identity_string(identity);
  if (hello.getVersion() != wire::PROTOCOL_VERSION) {
    spdlog::warn("refused {}: protocol version {}, this scheduler speaks {}", from,
                 hello.getVersion(), wire::PROTOCOL_VERSION);
    send_error(router_, &identity, StatusCode::kProtocol,
               "protocol version " + std::to_string(hello.getVersion()) + " is not supported; the scheduler speaks " +
                   std::to_string(wire::PROTOCOL_VERSION));
    return;
  }
  if (peers_.count(id_str)) {
    send_error(router_, &identity, StatusCode::kProtocol, "hello sent twice");
    return;
  }
  Peer p;
  p.id = next_id_++;
  p.identity = id_str;
  p.name = hello.getName().cStr();
  if (p.name.size() > 256) p.name.resize(256);
  if (hello.getRole() == wire::Role::WORKER) {
    std::string address = hello.getAddress().cStr();
    if (address.rfind("tcp://", 0) != 0 && address.rfind("ipc://", 0) != 0) {
      send_error(router_, &identity, StatusCode::kInvalidArgument, "worker hello without a valid address");
      return;
    }
    p.role = Peer::Role::kWorker;
    WorkerInfo info{p.name.empty() ? address : p.name, address, std::max<uint32_t>(1, hello.getNthreads()),
                    hello.getMemoryLimit(), hello.getSpillSpace()};
    spdlog::info("worker {} joined: {} threads at {}", info.name, info.nthreads, address);
    state_.add_worker(WorkerId{p.id}, std::move(info), now(), commands_);
  } else if (hello.getRole() == wire::Role::CLIENT) {
    p.role = Peer::Role::kClient;
    state_.add_client(ClientId{p.id});
    spdlog::info("client {} connected from {}", p.name, from);
  } else {
    send_error(router_, &identity, StatusCode::kProtocol, "unknown role");
    return;
  }
  identity_of_[p.id] = id_str;
  if (source_fd >= 0) identity_by_fd_[source_fd] = id_str;
  uint64_t id = p.id;
  peers_.emplace(id_str, std::move(p));
  capnp::MallocMessageBuilder b;
  auto w = b.initRoot<wire::Envelope>().initWelcome();
  w.setVersion(wire::PROTOCOL_VERSION);
  w.setId(id);
  w.setHeartbeatMs(options_.heartbeat_ms);
  send_best_effort(router_, &identity, b);
}

void SchedulerServer::send_info(const zmq::message_t& identity, uint64_t request_id) {
  capnp::MallocMessageBuilder b;
  auto info = b.initRoot<wire::Envelope>().initClusterInfo();
  info.setRequestId(request_id);
  info.setTasks(state_.num_tasks());
  info.setBytesTransferred(state_.total_bytes_transferred());
  info.setMalformedMessages(malformed_);
  info.setTasksFinished(state_.tasks_finished());
  const MemoryPlanReport plan = state_.memory_plan_report();
  info.setHeldBytes(state_.held_bytes());
  info.setPlanProjectedPeak(plan.projected_peak);
  info.setPlanReplayed(plan.replayed);
  info.setPlanMeasuredPeak(plan.measured_peak);
  auto ids = state_.worker_ids();
  auto list = info.initWorkers(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const WorkerInfo* w = state_.worker_info(ids[i]);
    const WorkerMetrics* m = state_.worker_metrics(ids[i]);
    list[i].setName(w->name);
    list[i].setAddress(w->address);
    list[i].setNthreads(w->nthreads);
    list[i].setMemoryLimit(w->memory_limit);
    list[i].setKeys(state_.keys_held_by(ids[i]));
    list[i].setProcessing(state_.processing_on(ids[i]));
    list[i].setManagedBytes(m->managed_bytes);
    list[i].setSpilledBytes(m->spilled_bytes);
    list[i].setRssBytes(m->rss_bytes);
    list[i].setPeakRssBytes(m->peak_rss_bytes);
    list[i].setSpilledTotal(m->spilled_total);
  }
  send_best_effort(router_, &identity, b);
}

void SchedulerServer::send_task_stream(const zmq::message_t& identity, uint64_t request_id, uint64_t since) {
  // A page at a time keeps each reply a few MiB however large the ring is.
  constexpr size_t kMaxReplyEvents = 50000;
  const TaskStream& stream = state_.task_stream();
  const uint64_t next = stream.recorded();
  const uint64_t oldest = next > stream.capacity() ? next - stream.capacity() : 0;
  const uint64_t first = std::min(std::max(since, oldest), next);
  stream_scratch_.clear();
  stream.copy_since(first, stream_scratch_);
  if (stream_scratch_.size() > kMaxReplyEvents) stream_scratch_.resize(kMaxReplyEvents);
  capnp::MallocMessageBuilder b;
  auto reply = b.initRoot<wire::Envelope>().initTaskStreamReply();
  reply.setRequestId(request_id);
  reply.setNext(next);
  reply.setFirst(first);
  reply.setCapacity(stream.capacity());
  reply.setClock(now());
  reply.setLoopBusySeconds(loop_stats_.busy_seconds());
  reply.setTransitions(state_.transitions());
  reply.setBytesTransferred(state_.total_bytes_transferred());
  reply.setTasksFinished(state_.tasks_finished());
  auto events = reply.initEvents(stream_scratch_.size());
  for (size_t i = 0; i < stream_scratch_.size(); ++i) {
    const TaskEvent& e = stream_scratch_[i];
    auto w = events[i];
    w.setStart(e.start);
    w.setStop(e.stop);
    set_key(w.initKey(), e.key);
    w.setWorker(e.worker);
    w.setBytes(e.bytes);
    w.setThread(e.thread);
    w.setOp(e.op);
    w.setKind(static_cast<uint8_t>(e.kind));
  }
  stream_scratch_.clear();
  const auto& ops = stream.ops();
  auto op_list = reply.initOps(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) op_list.set(i, ops[i]);
  const std::vector<WorkerId> ids = state_.worker_ids();
  auto workers = reply.initWorkers(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const WorkerInfo* w = state_.worker_info(ids[i]);
    workers[i].setId(ids[i].value);
    workers[i].setName(w->name);
    workers[i].setNthreads(w->nthreads);
  }
  send_best_effort(router_, &identity, b);
}

void SchedulerServer::send_progress() {
  for (const auto& p : state_.take_progress()) {
    capnp::MallocMessageBuilder b;
    auto m = b.initRoot<wire::Envelope>().initProgress();
    m.setDone(p.done);
    m.setTotal(p.total);
    m.setGraphId(p.graph_id);
    auto it = identity_of_.find(p.client.value);
    if (it == identity_of_.end()) continue;
    zmq::message_t frame = identity_frame(it->second);
    send_best_effort(router_, &frame, b);
  }
}

void SchedulerServer::publish_status() {
  nlohmann::json j;
  j["address"] = address_;
  j["tasks"] = state_.num_tasks();
  j["bytes_transferred"] = state_.total_bytes_transferred();
  j["malformed_messages"] = malformed_;
  j["tasks_finished"] = state_.tasks_finished();
  j["retiring"] = state_.num_retiring();
  {
    const MemoryPlanReport plan = state_.memory_plan_report();
    j["held_bytes"] = state_.held_bytes();
    j["memory_plan"] = {{"projected_peak", plan.projected_peak},
                        {"replayed", plan.replayed},
                        {"measured_peak", plan.measured_peak}};
  }
  uint64_t threads = 0, processing = 0;
  nlohmann::json workers = nlohmann::json::array();
  for (WorkerId id : state_.worker_ids()) {
    const WorkerInfo* w = state_.worker_info(id);
    const WorkerMetrics* m = state_.worker_metrics(id);
    threads += w->nthreads;
    processing += state_.processing_on(id);
    workers.push_back({{"name", w->name},
                       {"address", w->address},
                       {"nthreads", w->nthreads},
                       {"memory_limit", w->memory_limit},
                       {"keys", state_.keys_held_by(id)},
                       {"processing", state_.processing_on(id)},
                       {"managed_bytes", m->managed_bytes},
                       {"spilled_bytes", m->spilled_bytes},
                       {"rss_bytes", m->rss_bytes},
                       {"peak_rss_bytes", m->peak_rss_bytes},
                       {"executing", m->executing},
                       {"cpu", m->cpu_rate},
                       {"cpu_seconds", m->cpu_seconds},
                       {"network_in_bytes", m->counters.fetched_bytes},
                       {"network_out_bytes", m->counters.served_bytes},
                       {"network_in_rate", m->fetch_rate},
                       {"network_out_rate", m->serve_rate},
                       {"paused", m->paused},
                       {"pause_reason", m->pause_reason}});
  }
  j["threads"] = threads;
  j["processing"] = processing;
  j["workers"] = std::move(workers);
  dashboard_->publish(j.dump(), metrics_text(loop_stats_.busy_fraction_since_last(now())));
  publish_views(now());
}

void SchedulerServer::sample_memory(double t) {
  std::vector<WorkerId> ids = state_.worker_ids();
  for (auto it = memory_history_.begin(); it != memory_history_.end();) {
    it = std::find(ids.begin(), ids.end(), it->first) == ids.end() ? memory_history_.erase(it) : std::next(it);
  }
  for (WorkerId id : ids) {
    const WorkerMetrics* m = state_.worker_metrics(id);
    const uint64_t unmanaged = m->rss_bytes > m->managed_bytes ? m->rss_bytes - m->managed_bytes : 0;
    auto& history = memory_history_[id];
    history.push_back({t, m->managed_bytes, unmanaged, m->spilled_bytes});
    if (history.size() > kMemoryHistory) history.pop_front();
  }
}

void SchedulerServer::publish_views(double t) {
  // Task events: copies of those recorded since the last time.
  stream_scratch_.clear();
  stream_published_ = state_.task_stream().copy_since(stream_published_, stream_scratch_);
  std::vector<StreamWorker> stream_workers;
  for (WorkerId id : state_.worker_ids()) {
    const WorkerInfo* w = state_.worker_info(id);
    stream_workers.push_back({id.value, w->name, w->nthreads});
  }
  dashboard_->publish_events(stream_scratch_, state_.task_stream().ops(), stream_workers);
  sample_memory(t);
  // The views cost more to build than the rest: only while someone looks at them.
  if (!dashboard_->views_watched()) return;

  // Progress and graph: the arrays, newest last (at most kMaxArrays of them).
  constexpr size_t kMaxArrays = 1000;
  std::vector<const ArrayProgress*> arrays = state_.arrays();
  if (arrays.size() > kMaxArrays) arrays.erase(arrays.begin(), arrays.end() - kMaxArrays);
  nlohmann::json progress = nlohmann::json::array(), graph = nlohmann::json::array();
  for (const ArrayProgress* a : arrays) {
    auto in = [a](TaskStatus s) { return a->in[static_cast<size_t>(s)]; };
    // Released records are mostly of tasks done whose chunks were let go (kept to
    // recompute them if needed): not waiting.
    const uint64_t waiting = in(TaskStatus::kWaiting) + in(TaskStatus::kQueued);
    const uint64_t finished = std::min(a->finished, a->total);
    nlohmann::json entry = {{"token", fmt::format("{:016x}", a->token)},
                            {"name", a->op},
                            {"total", a->total},
                            {"finished", finished},
                            {"memory", in(TaskStatus::kMemory)},
                            {"erred", a->erred},
                            {"processing", in(TaskStatus::kProcessing)},
                            {"waiting", waiting}};
    progress.push_back(entry);
    const char* state = a->erred > 0                             ? "erred"
                        : in(TaskStatus::kProcessing) > 0        ? "processing"
                        : waiting > 0                            ? "waiting"
                        : in(TaskStatus::kMemory) > 0            ? "memory"
                                                                 : "done";
    entry["state"] = state;
    nlohmann::json deps = nlohmann::json::array();
    for (uint64_t d : a->deps) deps.push_back(fmt::format("{:016x}", d));
    entry["deps"] = std::move(deps);
    graph.push_back(std::move(entry));
  }

  // Memory: now and over time, per worker.
  nlohmann::json memory = nlohmann::json::array();
  for (WorkerId id : state_.worker_ids()) {
    const WorkerInfo* w = state_.worker_info(id);
    const WorkerMetrics* m = state_.worker_metrics(id);
    const uint64_t unmanaged = m->rss_bytes > m->managed_bytes ? m->rss_bytes - m->managed_bytes : 0;
    const auto& history = memory_history_[id];
    nlohmann::json ts = nlohmann::json::array(), managed = nlohmann::json::array(), unman = nlohmann::json::array(),
                   spilled = nlohmann::json::array();
    for (const MemorySample& s : history) {
      ts.push_back(std::round((s.t - t) * 100) / 100);
      managed.push_back(s.managed);
      unman.push_back(s.unmanaged);
      spilled.push_back(s.spilled);
    }
    memory.push_back({{"name", w->name},
                      {"memory_limit", w->memory_limit},
                      {"managed", m->managed_bytes},
                      {"unmanaged", unmanaged},
                      {"spilled", m->spilled_bytes},
                      {"history", {{"t", ts}, {"managed", managed}, {"unmanaged", unman}, {"spilled", spilled}}}});
  }
  dashboard_->publish_views(nlohmann::json{{"arrays", std::move(progress)}}.dump(),
                            nlohmann::json{{"workers", std::move(memory)}}.dump(),
                            nlohmann::json{{"arrays", std::move(graph)}}.dump());
}

std::string SchedulerServer::metrics_text(double busy_fraction) const {
  MetricsText m;
  auto gauge = [&m](const char* name, const char* help, double v) {
    m.family(name, "gauge", help);
    m.sample(name, v);
  };
  auto counter = [&m](const char* name, const char* help, double v) {
    m.family(name, "counter", help);
    m.sample(name, v);
  };
  m.family("rsdat_scheduler_tasks", "gauge", "Tasks the scheduler holds, by state.");
  for (TaskStatus s : {TaskStatus::kReleased, TaskStatus::kWaiting, TaskStatus::kQueued, TaskStatus::kProcessing,
                       TaskStatus::kMemory, TaskStatus::kErred}) {
    m.sample("rsdat_scheduler_tasks", static_cast<double>(state_.num_tasks_in(s)), {{"state", task_status_name(s)}});
  }
  counter("rsdat_scheduler_tasks_finished_total", "Tasks that finished on a worker.",
          static_cast<double>(state_.tasks_finished()));
  counter("rsdat_scheduler_tasks_erred_total", "Tasks that failed for good.", static_cast<double>(state_.tasks_erred()));
  counter("rsdat_scheduler_graphs_total", "Graphs clients submitted.", static_cast<double>(graphs_));
  counter("rsdat_scheduler_transitions_total", "Task state transitions.", static_cast<double>(state_.transitions()));
  counter("rsdat_scheduler_transferred_bytes_total", "Bytes of chunks moved between workers.",
          static_cast<double>(state_.total_bytes_transferred()));
  counter("rsdat_scheduler_malformed_messages_total", "Messages refused as malformed.", static_cast<double>(malformed_));
  gauge("rsdat_scheduler_held_bytes", "Bytes of the chunks in memory on workers (each once).",
        static_cast<double>(state_.held_bytes()));
  uint64_t threads = 0;
  for (WorkerId id : state_.worker_ids()) threads += state_.worker_info(id)->nthreads;
  gauge("rsdat_scheduler_workers", "Workers connected.", static_cast<double>(state_.num_workers()));
  gauge("rsdat_scheduler_retiring_workers", "Workers handing their chunks over before leaving.",
        static_cast<double>(state_.num_retiring()));
  gauge("rsdat_scheduler_threads", "Worker threads in all.", static_cast<double>(threads));
  gauge("rsdat_scheduler_clients", "Clients connected.",
        static_cast<double>(std::count_if(peers_.begin(), peers_.end(), [](const auto& p) { return p.second.role == Peer::Role::kClient; })));
  loop_stats_.write(m, "scheduler", busy_fraction);

  // One series per worker, named by its label, from its latest heartbeat.
  struct PerWorker {
    const char* name;
    const char* type;
    const char* help;
    std::function<double(const WorkerInfo&, const WorkerMetrics&, WorkerId)> value;
  };
  const std::vector<PerWorker> per_worker = {
      {"rsdat_worker_threads", "gauge", "Threads that run tasks.",
       [](const WorkerInfo& w, const WorkerMetrics&, WorkerId) { return w.nthreads; }},
      {"rsdat_worker_memory_limit_bytes", "gauge", "The worker's memory limit (0: none).",
       [](const WorkerInfo& w, const WorkerMetrics&, WorkerId) { return static_cast<double>(w.memory_limit); }},
      {"rsdat_worker_tasks_processing", "gauge", "Tasks assigned to it, running or queued there.",
       [this](const WorkerInfo&, const WorkerMetrics&, WorkerId id) {
         return static_cast<double>(state_.processing_on(id));
       }},
      {"rsdat_worker_tasks_running", "gauge", "Tasks running there.",
       [](const WorkerInfo&, const WorkerMetrics& m, WorkerId) { return m.executing; }},
      {"rsdat_worker_chunks", "gauge", "Chunks it holds.",
       [this](const WorkerInfo&, const WorkerMetrics&, WorkerId id) {
         return static_cast<double>(state_.keys_held_by(id));
       }},
      {"rsdat_worker_managed_bytes", "gauge", "Bytes of the chunks it holds in memory.",
       [](const WorkerInfo&, const WorkerMetrics& m, WorkerId) { return static_cast<double>(m.managed_bytes); }},
      {"rsdat_worker_spilled_bytes", "gauge", "Bytes of its chunks on disk only.",
       [](const WorkerInfo&, const WorkerMetrics& m, WorkerId) { return static_cast<double>(m.spilled_bytes); }},
      {"rsdat_worker_rss_bytes", "gauge", "Resident memory of the worker process.",
       [](const WorkerInfo&, const WorkerMetrics& m, WorkerId) { return static_cast<double>(m.rss_bytes); }},
      {"rsdat_worker_paused", "gauge", "1 while no new task starts there (memory above the pause fraction).",
       [](const WorkerInfo&, const WorkerMetrics& m, WorkerId) { return m.paused ? 1.0 : 0.0; }},
      {"rsdat_worker_tasks_executed_total", "counter", "Tasks it ran.",
       [](const WorkerInfo&, const WorkerMetrics& m, WorkerId) {
         return static_cast<double>(m.counters.tasks_executed);
       }},
      {"rsdat_worker_tasks_failed_total", "counter", "Tasks whose kernel failed there.",
       [](const WorkerInfo&, const WorkerMetrics& m, WorkerId) { return static_cast<double>(m.counters.tasks_failed); }},
      {"rsdat_worker_spilled_bytes_total", "counter", "Bytes it wrote to spill files.",
       [](const WorkerInfo&, const WorkerMetrics& m, WorkerId) { return static_cast<double>(m.spilled_total); }},
      {"rsdat_worker_unspilled_bytes_total", "counter", "Bytes it read back from spill files.",
       [](const WorkerInfo&, const WorkerMetrics& m, WorkerId) {
         return static_cast<double>(m.counters.unspilled_total);
       }},
      {"rsdat_worker_spill_seconds_total", "counter", "Seconds spent writing spill files.",
       [](const WorkerInfo&, const WorkerMetrics& m, WorkerId) { return m.counters.spill_seconds; }},
      {"rsdat_worker_unspill_seconds_total", "counter", "Seconds spent reading spill files back.",
       [](const WorkerInfo&, const WorkerMetrics& m, WorkerId) { return m.counters.unspill_seconds; }},
      {"rsdat_worker_fetched_bytes_total", "counter", "Bytes of chunks fetched from other workers.",
       [](const WorkerInfo&, const WorkerMetrics& m, WorkerId) { return static_cast<double>(m.counters.fetched_bytes); }},
      {"rsdat_worker_served_bytes_total", "counter", "Bytes of chunks sent to other workers and clients.",
       [](const WorkerInfo&, const WorkerMetrics& m, WorkerId) { return static_cast<double>(m.counters.served_bytes); }},
  };
  std::vector<std::pair<const WorkerInfo*, const WorkerMetrics*>> workers;
  std::vector<WorkerId> ids = state_.worker_ids();
  for (WorkerId id : ids) workers.emplace_back(state_.worker_info(id), state_.worker_metrics(id));
  for (const PerWorker& f : per_worker) {
    m.family(f.name, f.type, f.help);
    for (size_t i = 0; i < ids.size(); ++i) {
      m.sample(f.name, f.value(*workers[i].first, *workers[i].second, ids[i]), {{"worker", workers[i].first->name}});
    }
  }
  // Fetch latency as a summary (its sum and count): rate(sum) / rate(count) is the mean.
  m.family("rsdat_worker_fetch_seconds", "summary", "Time from asking a peer for chunks to its answer.");
  for (const auto& [w, wm] : workers) {
    m.sample("rsdat_worker_fetch_seconds_sum", wm->counters.fetch_seconds, {{"worker", w->name}});
    m.sample("rsdat_worker_fetch_seconds_count", static_cast<double>(wm->counters.fetches), {{"worker", w->name}});
  }
  struct StoreCounter {
    const char* name;
    const char* help;
    uint64_t WorkerMetrics::StoreIo::*field;
  };
  for (const StoreCounter& f : {StoreCounter{"rsdat_worker_store_read_bytes_total", "Bytes read from a store.",
                                             &WorkerMetrics::StoreIo::read_bytes},
                                StoreCounter{"rsdat_worker_store_written_bytes_total", "Bytes written to a store.",
                                             &WorkerMetrics::StoreIo::written_bytes},
                                StoreCounter{"rsdat_worker_store_requests_total", "Reads and writes of a store.",
                                             &WorkerMetrics::StoreIo::requests}}) {
    m.family(f.name, "counter", f.help);
    for (const auto& [w, wm] : workers) {
      for (const auto& io : wm->counters.stores) {
        m.sample(f.name, static_cast<double>(io.*f.field), {{"worker", w->name}, {"store", io.store}});
      }
    }
  }
  return m.take();
}

std::optional<SchedulerServer::Peer> SchedulerServer::forget_peer(const std::string& identity) {
  auto it = peers_.find(identity);
  if (it == peers_.end()) return std::nullopt;
  Peer p = it->second;
  peers_.erase(it);
  identity_of_.erase(p.id);
  for (auto fit = identity_by_fd_.begin(); fit != identity_by_fd_.end();) {
    fit = fit->second == identity ? identity_by_fd_.erase(fit) : std::next(fit);
  }
  return p;
}

void SchedulerServer::drop_peer(const std::string& identity, const std::string& reason) {
  auto found = forget_peer(identity);
  if (!found) return;
  const Peer& p = *found;
  if (p.role == Peer::Role::kWorker) {
    spdlog::info("worker {} left: {}", p.name, reason);
    const WorkerInfo* info = state_.worker_info(WorkerId{p.id});
    std::string address = info ? info->address : "";
    state_.remove_worker(WorkerId{p.id}, reason, commands_);
    // Workers and clients waiting on chunks from it stop waiting and try other holders.
    if (!address.empty()) {
      capnp::MallocMessageBuilder b;
      b.initRoot<wire::Envelope>().initPeerLost().setAddress(address);
      for (const auto& [other_identity, other] : peers_) {
        zmq::message_t id = identity_frame(other_identity);
        send_best_effort(router_, &id, b);
      }
    }
  } else {
    spdlog::info("client {} left: {}", p.name, reason);
    state_.remove_client(ClientId{p.id}, commands_);
  }
}

void SchedulerServer::check_disconnects() {
  for (int fd : monitor_.take_closed()) {
    auto it = identity_by_fd_.find(fd);
    if (it == identity_by_fd_.end()) continue;
    // File descriptors are reused: the peer on this fd may be a new connection. The
    // ROUTER (mandatory routing) refuses to send to an identity that is really gone.
    std::string identity = it->second;
    capnp::MallocMessageBuilder b;
    b.initRoot<wire::Envelope>().initHeartbeat();
    zmq::message_t frame = identity_frame(identity);
    if (send_message(router_, &frame, b).is_ok()) continue;
    identity_by_fd_.erase(it);
    drop_peer(identity, "connection closed");
  }
}

namespace {
std::string format_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, s < 10 ? "%.1f s" : "%.0f s", s);
  return buf;
}
}  // namespace

void SchedulerServer::check_timeouts() {
  double t = now();
  if (t - last_timeout_check_ < 0.5) return;
  last_timeout_check_ = t;
  check_stall();
  for (WorkerId w : state_.timed_out_workers(t)) {
    auto it = identity_of_.find(w.value);
    if (it == identity_of_.end()) continue;
    const std::string identity = it->second;
    const std::string reason = "no heartbeat for " + format_seconds(options_.worker_timeout);
    // Its connection is still open (a closed one counts at once): the worker is frozen,
    // or cut off behind a network partition. The goodbye waits in the connection's queue
    // and, should the worker come back, tells it that its chunks and tasks are no longer
    // the cluster's: it leaves instead of running on unused.
    capnp::MallocMessageBuilder b;
    b.initRoot<wire::Envelope>().initGoodbye().setReason("lost: " + reason);
    zmq::message_t id = identity_frame(identity);
    send_best_effort(router_, &id, b);
    drop_peer(identity, reason);
  }
}

void SchedulerServer::check_stall() {
  const double t = now();
  // Stalled: no worker at all, or every one paused with no task running (nothing will
  // finish and free memory), while some client waits for a result.
  std::vector<WorkerId> ids = state_.worker_ids();
  bool stalled = true;
  for (WorkerId w : ids) {
    const WorkerMetrics* m = state_.worker_metrics(w);
    if (!m || !m->paused || m->executing > 0) stalled = false;
  }
  std::vector<ClientId> waiting;
  if (stalled) waiting = state_.waiting_clients();
  if (waiting.empty()) {
    if (stalled_since_ >= 0) spdlog::info("the cluster makes progress again");
    stalled_since_ = -1;
    return;
  }
  std::string why = "every worker is paused (";
  for (size_t i = 0; i < ids.size(); ++i) {
    const WorkerInfo* info = state_.worker_info(ids[i]);
    const WorkerMetrics* m = state_.worker_metrics(ids[i]);
    why += std::string(i > 0 ? "; " : "") + "worker " + (info ? info->name : std::to_string(ids[i].value)) + ": " +
           (m->pause_reason.empty() ? std::string("paused") : m->pause_reason);
  }
  why += ")";
  if (ids.empty()) {
    // Workers may yet come (a SLURM job waiting in its queue): say so now and then,
    // and wait for them.
    if (stalled_since_ >= 0 && t - stalled_since_ < options_.stall_timeout) return;
    stalled_since_ = t;
    const std::string text = "no task can start: no worker is connected; the computation waits for one to join";
    spdlog::warn("{}", text);
    tell_clients(waiting, [&](wire::Envelope::Builder e) { e.initNotice().setMessage(text); });
    return;
  }
  if (stalled_since_ < 0) {
    stalled_since_ = t;
    const std::string text = "no task can start: " + why + "; the computation fails in " +
                             format_seconds(options_.stall_timeout) + " unless memory frees or a worker joins";
    spdlog::warn("{}", text);
    tell_clients(waiting, [&](wire::Envelope::Builder e) { e.initNotice().setMessage(text); });
    return;
  }
  if (t - stalled_since_ < options_.stall_timeout) return;
  const std::string text = "no task could start for " + format_seconds(t - stalled_since_) + ": " + why;
  spdlog::error("{}: failing the computations of {} client(s)", text, waiting.size());
  tell_clients(waiting, [&](wire::Envelope::Builder e) {
    auto err = e.initError();
    err.setCode(wire::ErrorCode::UNAVAILABLE);
    err.setMessage(text);
  });
  stalled_since_ = -1;
}

void SchedulerServer::tell_clients(const std::vector<ClientId>& clients,
                                   const std::function<void(wire::Envelope::Builder)>& fill) {
  for (ClientId c : clients) {
    auto it = identity_of_.find(c.value);
    if (it == identity_of_.end()) continue;
    capnp::MallocMessageBuilder b;
    fill(b.initRoot<wire::Envelope>());
    zmq::message_t id = identity_frame(it->second);
    send_best_effort(router_, &id, b);
  }
}

std::vector<std::string> SchedulerServer::addresses(const std::vector<WorkerId>& ids) const {
  std::vector<std::string> out;
  for (WorkerId w : ids) {
    if (const WorkerInfo* info = state_.worker_info(w)) out.push_back(info->address);
  }
  return out;
}

void SchedulerServer::flush() {
  if (commands_.empty()) {
    inline_results_.clear();
    return;
  }
  auto send_to = [&](uint64_t id, capnp::MallocMessageBuilder& b, std::vector<zmq::message_t> payload = {}) {
    auto it = identity_of_.find(id);
    if (it == identity_of_.end()) return;
    zmq::message_t frame = identity_frame(it->second);
    Status st = send_message(router_, &frame, b, std::move(payload));
    if (!st.is_ok()) spdlog::debug("send to peer {} failed: {}", id, st.to_string());
  };
  // One message of keys per worker; `init` makes the envelope's key list.
  auto send_keys = [&](const auto& commands, auto worker_of, auto init) {
    std::map<uint64_t, std::vector<TaskKey>> by_worker;
    for (const auto& c : commands) by_worker[worker_of(c).value].push_back(c.key);
    for (const auto& [worker, keys] : by_worker) {
      capnp::MallocMessageBuilder b;
      auto list = init(b.initRoot<wire::Envelope>(), keys.size());
      for (size_t i = 0; i < keys.size(); ++i) set_key(list[i], keys[i]);
      send_to(worker, b);
    }
  };
  // Assignments, one message per worker.
  // Releases first: a key released and then assigned again in one turn must not be
  // dropped by the worker after it was reported as computed.
  send_keys(commands_.release, [](const ReleaseCommand& r) { return r.worker; },
            [](wire::Envelope::Builder e, size_t n) { return e.initReleaseChunks().initKeys(n); });
  // Commands gathered over a turn: an assignment still stands only if the task is
  // still processing there (a later event of the turn may have undone it).
  std::map<uint64_t, std::vector<const AssignCommand*>> assign;
  std::unordered_set<TaskKey> sent;
  for (const auto& a : commands_.assign) {
    if (state_.processing_worker(a.key) == a.worker && sent.insert(a.key).second) {
      assign[a.worker.value].push_back(&a);
    }
  }
  for (const auto& [worker, list] : assign) {
    capnp::MallocMessageBuilder b;
    auto tasks = b.initRoot<wire::Envelope>().initComputeTasks().initTasks(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      set_task_spec(tasks[i].initSpec(), *state_.spec_of(list[i]->key));
      tasks[i].setInlineResult(list[i]->inline_result);
      auto locs = tasks[i].initDepLocations(list[i]->dep_locations.size());
      for (size_t j = 0; j < list[i]->dep_locations.size(); ++j) {
        set_key(locs[j].initKey(), list[i]->dep_locations[j].first);
        if (const TaskSpec* dep = state_.spec_of(list[i]->dep_locations[j].first)) {
          locs[j].setDtype(to_wire(dep->dtype));
          set_shape(locs[j].initShape(dep->shape.size()), dep->shape);
        }
        auto addrs = addresses(list[i]->dep_locations[j].second);
        auto wl = locs[j].initWorkers(addrs.size());
        for (size_t k = 0; k < addrs.size(); ++k) wl.set(k, addrs[k]);
      }
    }
    send_to(worker, b);
  }
  // Steal requests, after the assignments they may concern.
  send_keys(commands_.steal, [](const StealCommand& s) { return s.victim; },
            [](wire::Envelope::Builder e, size_t n) { return e.initStealTasks().initKeys(n); });
  // Copies a retiring worker hands over: one message per receiving worker.
  std::map<uint64_t, std::vector<const ReplicateCommand*>> replicate;
  for (const auto& r : commands_.replicate) replicate[r.worker.value].push_back(&r);
  for (const auto& [worker, list] : replicate) {
    capnp::MallocMessageBuilder b;
    auto keys = b.initRoot<wire::Envelope>().initReplicate().initKeys(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      set_key(keys[i].initKey(), list[i]->key);
      if (const TaskSpec* spec = state_.spec_of(list[i]->key)) {
        keys[i].setDtype(to_wire(spec->dtype));
        set_shape(keys[i].initShape(spec->shape.size()), spec->shape);
      }
      auto addrs = addresses({list[i]->from});
      auto wl = keys[i].initWorkers(addrs.size());
      for (size_t k = 0; k < addrs.size(); ++k) wl.set(k, addrs[k]);
    }
    send_to(worker, b);
  }
  std::map<uint64_t, std::vector<const ReadyCommand*>> ready;
  for (const auto& r : commands_.ready) ready[r.client.value].push_back(&r);
  for (const auto& [client, list] : ready) {
    capnp::MallocMessageBuilder b;
    auto kr = b.initRoot<wire::Envelope>().initKeysReady();
    auto keys = kr.initKeys(list.size());
    std::vector<zmq::message_t> payload;
    for (size_t i = 0; i < list.size(); ++i) {
      set_key(keys[i].initKey(), list[i]->key);
      keys[i].setDtype(to_wire(list[i]->dtype));
      set_shape(keys[i].initShape(list[i]->shape.size()), list[i]->shape);
      auto addrs = addresses(list[i]->holders);
      auto wl = keys[i].initWorkers(addrs.size());
      for (size_t k = 0; k < addrs.size(); ++k) wl.set(k, addrs[k]);
      if (auto it = inline_results_.find(list[i]->key); it != inline_results_.end()) {
        keys[i].setInline(true);
        payload.emplace_back().copy(it->second);  // shares the bytes
      }
    }
    send_to(client, b, std::move(payload));
  }
  for (const auto& f : commands_.failed) {
    capnp::MallocMessageBuilder b;
    auto tf = b.initRoot<wire::Envelope>().initTaskFailed();
    set_key(tf.initKey(), f.wanted);
    tf.setOp(f.op + " " + f.failed.to_string());
    tf.setWorker(f.worker);
    tf.setMessage(f.message);
    send_to(f.client.value, b);
  }
  for (const auto& [client, text] : commands_.notices) {
    capnp::MallocMessageBuilder b;
    b.initRoot<wire::Envelope>().initNotice().setMessage(text);
    send_to(client.value, b);
  }
  // Retired workers: nothing depends on them any more; they may go.
  for (const auto& [w, address] : commands_.retired) {
    auto it = identity_of_.find(w.value);
    if (it == identity_of_.end()) continue;
    capnp::MallocMessageBuilder b;
    b.initRoot<wire::Envelope>().initGoodbye().setReason("retired");
    send_to(w.value, b);
    if (auto p = forget_peer(std::string(it->second))) spdlog::info("worker {} retired", p->name);
    // Whoever still fetches from it asks the other holders.
    capnp::MallocMessageBuilder lost;
    lost.initRoot<wire::Envelope>().initPeerLost().setAddress(address);
    for (const auto& [other_identity, other] : peers_) {
      zmq::message_t id = identity_frame(other_identity);
      send_best_effort(router_, &id, lost);
    }
  }
  commands_.clear();
  inline_results_.clear();
}

}  // namespace rsdat::sched
