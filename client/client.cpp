#include <kj/exception.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "client/client_internal.hpp"
#include "rsdat/local_cluster.hpp"
#include "net/scheduler_file.hpp"
#include "net/wire_convert.hpp"

namespace rsdat {

namespace {

using Clock = std::chrono::steady_clock;
// Live clients of the process, most recent last. Held while a persisted array on any
// thread releases its keys, so its Client cannot go away in the middle.
std::mutex g_clients_mu;
std::vector<Client*> g_clients;  // guarded by g_clients_mu

void send_hello(zmq::socket_t& s, wire::Role role, const std::string& name) {
  capnp::MallocMessageBuilder b;
  auto h = b.initRoot<wire::Envelope>().initHello();
  h.setVersion(wire::PROTOCOL_VERSION);
  h.setRole(role);
  h.setName(name);
  send_best_effort(s, nullptr, b);
}

std::mutex progress_mu;
ProgressCallback progress_hook;  // rsdat::progress()

// What a computation shows of its progress: the bar on stderr and the callbacks.
class Progress {
 public:
  Progress(bool bar, ProgressCallback own)
      : bar_(bar), tty_(isatty(STDERR_FILENO) == 1), own_(std::move(own)), start_(Clock::now()) {
    std::lock_guard lock(progress_mu);
    hook_ = progress_hook;
  }
  ~Progress() {
    if (drawn_ && !finished_) std::fputc('\n', stderr);  // an exception ends it: keep the last line
  }
  void update(uint64_t done, uint64_t total) {
    info_.tasks_done = done;
    info_.tasks_total = total;
    report();
  }
  // `tasks`: the graph's tasks as the client counts them, for a graph the scheduler
  // finished before its first count.
  void finish(uint64_t tasks) {
    if (info_.tasks_total == 0) info_.tasks_total = tasks;
    info_.tasks_done = info_.tasks_total;
    info_.finished = true;
    finished_ = true;
    report();
  }

 private:
  void report() {
    info_.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    if (own_) own_(info_);
    if (hook_) hook_(info_);
    if (!bar_ || info_.tasks_total == 0) return;
    if (!tty_) {
      if (info_.finished && info_.seconds >= 2) {
        std::fprintf(stderr, "rsdat: %llu tasks in %.1f s\n", static_cast<unsigned long long>(info_.tasks_total),
                     info_.seconds);
      }
      return;
    }
    const auto now = Clock::now();
    if (!info_.finished && (info_.seconds < 0.5 || now - last_ < std::chrono::milliseconds(200))) return;
    if (info_.finished && !drawn_) return;  // a quick one: no bar at all
    last_ = now;
    constexpr int kWidth = 30;
    const double fraction = static_cast<double>(info_.tasks_done) / static_cast<double>(info_.tasks_total);
    const int filled = static_cast<int>(kWidth * fraction);
    char left[48] = "";
    if (!info_.finished && info_.tasks_done > 0) {
      std::snprintf(left, sizeof left, ", about %.0f s left", info_.seconds * (1 - fraction) / fraction);
    }
    std::fprintf(stderr, "\r[%.*s%*s] %llu/%llu tasks, %.1f s%s\033[K", filled, "##############################",
                 kWidth - filled, "", static_cast<unsigned long long>(info_.tasks_done),
                 static_cast<unsigned long long>(info_.tasks_total), info_.seconds, left);
    if (info_.finished) std::fputc('\n', stderr);
    std::fflush(stderr);
    drawn_ = true;
  }

  bool bar_, tty_;
  ProgressCallback own_, hook_;
  Clock::time_point start_, last_{};
  ProgressInfo info_;
  bool drawn_ = false, finished_ = false;
};

}  // namespace

Client::Impl::Impl(const std::string& addr, ClientOptions opts)
    : address(addr), options(std::move(opts)), context_(1), scheduler_(context_, zmq::socket_type::dealer) {
  auto security = load_security(options.encryption && is_tcp_endpoint(address),
                                options.key_file.empty() ? default_key_file() : options.key_file,
                                /*need_server_secret=*/false);
  if (!security.ok()) throw ClusterError("cannot connect to scheduler at " + address + ": " + security.status().message());
  security_ = std::move(security).value();
  configure_socket(scheduler_);
  security_.make_client(scheduler_, address);
  watch_ = std::make_unique<HandshakeWatch>();
  watch_->start(scheduler_, "inproc://rsdat-client-handshake", /*watch_closed=*/true);
  try {
    scheduler_.connect(address);
  } catch (const zmq::error_t& e) {
    throw ClusterError("cannot connect to scheduler '" + address + "': " + e.what());
  }
  send_hello(scheduler_, wire::Role::CLIENT, options.name.empty() ? "client-" + std::to_string(getpid()) : options.name);
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(options.connect_timeout));
  ReceivedMessage msg = receive_from_scheduler(deadline);
  try {
    auto env = msg.envelope();
    if (env.which() == wire::Envelope::ERROR) {
      throw ClusterError("scheduler at " + address + " refused this client: " + env.getError().getMessage().cStr());
    }
    if (env.which() != wire::Envelope::WELCOME) throw ClusterError("scheduler at " + address + " did not welcome us");
    welcomed_ = true;
  } catch (const kj::Exception& e) {
    throw ClusterError(std::string("undecodable reply from scheduler: ") + e.getDescription().cStr());
  }
}

Client::Impl::~Impl() {
  capnp::MallocMessageBuilder b;
  b.initRoot<wire::Envelope>().initGoodbye().setReason("client closing");
  send_best_effort(scheduler_, nullptr, b);
  // Give the goodbye a moment to leave, so the scheduler releases what we held.
  scheduler_.set(zmq::sockopt::linger, 2000);
}

ReceivedMessage Client::Impl::receive_from_scheduler(Clock::time_point deadline, bool ping,
                                                     std::optional<uint64_t> cancel_seen) {
  auto last_ping = Clock::now();
  while (true) {
    if (cancel_seen && cancels.load() != *cancel_seen) throw CancelledError();
    if (ping && Clock::now() - last_ping > std::chrono::duration<double>(std::min(5.0, options.scheduler_timeout / 4))) {
      capnp::MallocMessageBuilder b;
      b.initRoot<wire::Envelope>().initHeartbeat();
      send_best_effort(scheduler_, nullptr, b);
      last_ping = Clock::now();
    }
    if (!welcomed_ && !watch_->failure().empty()) {
      throw ClusterError("scheduler at " + address + " refused the connection: " + watch_->failure() +
                         security_.refusal_hint(address));
    }
    if (welcomed_ && watch_->closed()) {
      throw ClusterError("lost the connection to the scheduler at " + address +
                         ": it closed (the scheduler stopped or was killed); its results and persisted arrays are gone");
    }
    zmq::pollitem_t item{static_cast<void*>(scheduler_), 0, ZMQ_POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      throw ClusterError("no answer from scheduler at " + address +
                         (ping ? " for " + std::to_string(static_cast<int>(options.scheduler_timeout)) +
                                     " s: it stopped or the network is down"
                               : " (is it running and reachable?)"));
    }
    try {
      zmq::poll(&item, 1, std::min(left, std::chrono::milliseconds(welcomed_ ? 200 : 50)));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      throw ClusterError(std::string("poll failed: ") + e.what());
    }
    if (!(item.revents & ZMQ_POLLIN)) continue;
    auto msg = recv_message(scheduler_, false);
    if (!msg.ok()) throw ClusterError("bad message from scheduler: " + msg.status().to_string());
    return std::move(msg).value();
  }
}

void progress(ProgressCallback callback) {
  std::lock_guard lock(progress_mu);
  progress_hook = std::move(callback);
}

std::unordered_map<TaskKey, KeyInfo> Client::Impl::run(std::vector<GraphPart> graph,
                                                        const std::vector<TaskKey>& wanted, uint64_t inline_bytes) {
  std::lock_guard lock(mu);
  const uint64_t cancel_seen = cancels.load();
  const uint64_t graph_id = next_graph_++;
  stats = ComputeStats{};
  stats.tasks = num_tasks(graph);
  auto t0 = Clock::now();
  {
    capnp::MallocMessageBuilder b;
    auto g = b.initRoot<wire::Envelope>().initSubmitGraph();
    g.setGraphId(graph_id);
    g.setInlineBytes(inline_bytes);
    set_graph_parts(g, graph);
    auto w = g.initWanted(wanted.size());
    for (size_t i = 0; i < wanted.size(); ++i) set_key(w[i], wanted[i]);
    Status st = send_message(scheduler_, nullptr, b);
    if (!st.is_ok()) throw ClusterError("cannot send graph: " + st.to_string());
  }
  for (GraphLog* log : graph_logs) log->add(graph);
  graph.clear();
  std::unordered_set<TaskKey> pending(wanted.begin(), wanted.end());
  std::unordered_map<TaskKey, KeyInfo> ready;
  Progress progress(options.progress, options.on_progress);
  // No deadline while the scheduler works: a computation may take hours. While
  // waiting, the client pings every few seconds; a scheduler that answers nothing for
  // a minute is gone.
  while (!pending.empty()) {
    ReceivedMessage msg;
    try {
      msg = receive_from_scheduler(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                      std::chrono::duration<double>(options.scheduler_timeout)),
                                   /*ping=*/true, cancel_seen);
    } catch (const CancelledError&) {
      send_release(wanted);  // the scheduler lets go of what only this computation needed
      throw;
    }
    try {
      auto env = msg.envelope();
      switch (env.which()) {
        case wire::Envelope::KEYS_READY: {
          size_t frame = 0;
          for (auto loc : env.getKeysReady().getKeys()) {
            TaskKey k = to_key(loc.getKey());
            std::optional<zmq::message_t> bytes;
            if (loc.getInline() && frame < msg.payload.size()) bytes = std::move(msg.payload[frame++]);
            if (!pending.erase(k)) {
              // Recomputed after its holder was lost: it lives elsewhere now.
              if (auto it = ready.find(k); it != ready.end()) {
                it->second.holders.clear();
                for (auto w : loc.getWorkers()) it->second.holders.emplace_back(w.cStr());
              }
              continue;
            }
            KeyInfo info;
            auto dt = to_dtype(loc.getDtype());
            if (!dt.ok()) throw ClusterError(dt.status().to_string());
            info.dtype = *dt;
            auto shape = to_shape(loc.getShape(), info.dtype);
            if (!shape.ok()) throw ClusterError(shape.status().to_string());
            info.shape = std::move(shape).value();
            for (auto w : loc.getWorkers()) info.holders.emplace_back(w.cStr());
            if (bytes) {
              // A frame of the wrong size is ignored: gather() then asks the holder.
              auto chunk = chunk_from_frame(std::move(*bytes), info.dtype, info.shape);
              if (chunk.ok()) info.data = std::move(chunk).value();
            }
            ready.emplace(k, std::move(info));
          }
          break;
        }
        case wire::Envelope::TASK_FAILED: {
          auto f = env.getTaskFailed();
          // Another wanted key of an earlier computation that failed the same way.
          if (!pending.count(to_key(f.getKey()))) break;
          TaskError err(f.getOp().cStr(), f.getWorker().cStr(), f.getMessage().cStr());
          send_release(wanted);
          throw err;
        }
        case wire::Envelope::ERROR: {
          auto e = env.getError();
          std::string text = e.getMessage().cStr();
          // The cluster cannot go on with it (every worker paused, for one): not a
          // refusal of this graph, but the end of every computation waiting.
          if (e.getCode() == wire::ErrorCode::UNAVAILABLE) {
            send_release(wanted);
            throw ClusterError("computation failed: " + text);
          }
          if (e.getRequestId() == graph_id) send_release(wanted);
          throw ClusterError("scheduler refused the computation: " + text);
        }
        case wire::Envelope::NOTICE:
          spdlog::warn("scheduler at {}: {}", address, env.getNotice().getMessage().cStr());
          break;
        case wire::Envelope::PROGRESS:
          // A graph before this one may have had its last count sent after its results.
          if (env.getProgress().getGraphId() != graph_id) break;
          progress.update(env.getProgress().getDone(), env.getProgress().getTotal());
          break;
        case wire::Envelope::PEER_LOST: {
          std::string lost = env.getPeerLost().getAddress().cStr();
          for (auto& [k, info] : ready) {
            info.holders.erase(std::remove(info.holders.begin(), info.holders.end(), lost), info.holders.end());
          }
          workers_.erase(lost);
          break;
        }
        case wire::Envelope::GOODBYE:
          throw ClusterError(std::string("scheduler went away: ") + env.getGoodbye().getReason().cStr());
        default:
          break;
      }
    } catch (const kj::Exception& e) {
      throw ClusterError(std::string("malformed message from scheduler: ") + e.getDescription().cStr());
    }
  }
  stats.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  progress.finish(stats.tasks);
  return ready;
}

zmq::socket_t& Client::Impl::worker_socket(const std::string& addr) {
  auto it = workers_.find(addr);
  if (it != workers_.end()) return it->second;
  zmq::socket_t s(context_, zmq::socket_type::dealer);
  configure_socket(s);
  security_.make_client(s, addr);
  try {
    s.connect(addr);
  } catch (const zmq::error_t& e) {
    throw ClusterError("cannot connect to worker '" + addr + "': " + e.what());
  }
  send_hello(s, wire::Role::CLIENT, options.name);
  return workers_.emplace(addr, std::move(s)).first->second;
}

std::vector<Chunk> Client::Impl::gather(const std::vector<TaskKey>& keys,
                                        const std::unordered_map<TaskKey, KeyInfo>& ready) {
  std::lock_guard lock(mu);
  auto t0 = Clock::now();
  // Holders change while we gather: a worker may die, and the scheduler then
  // recomputes the chunks it held and says where they are now.
  std::unordered_map<TaskKey, KeyInfo> where = ready;
  std::unordered_map<TaskKey, Chunk> got;
  std::unordered_map<TaskKey, size_t> attempt;  // which holder to ask next
  std::unordered_set<TaskKey> awaiting;          // every holder failed: wait for the scheduler
  std::vector<TaskKey> todo;
  for (const TaskKey& k : keys) {
    auto it = where.find(k);
    if (it != where.end() && it->second.data) {
      if (got.emplace(k, *it->second.data).second) {
        stats.bytes_transferred += it->second.data->nbytes();
        ++stats.results_inline;
      }
    } else {
      todo.push_back(k);
    }
  }
  std::sort(todo.begin(), todo.end());
  todo.erase(std::unique(todo.begin(), todo.end()), todo.end());
  struct Request {
    std::string address;
    std::vector<TaskKey> keys;
    Clock::time_point sent;
  };
  std::map<uint64_t, Request> requests;
  const auto patience = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(std::max(options.scheduler_timeout, 1.0)));
  auto last_from_scheduler = Clock::now();
  auto last_ping = Clock::now();
  const size_t needed = todo.size() + got.size();  // distinct keys, those that came inline included

  auto forget_worker = [&](const std::string& addr) {
    for (auto it = requests.begin(); it != requests.end();) {
      if (it->second.address != addr) {
        ++it;
        continue;
      }
      todo.insert(todo.end(), it->second.keys.begin(), it->second.keys.end());
      it = requests.erase(it);
    }
    for (auto& [k, info] : where) {
      info.holders.erase(std::remove(info.holders.begin(), info.holders.end(), addr), info.holders.end());
    }
    workers_.erase(addr);
  };
  auto on_scheduler_message = [&](ReceivedMessage& msg) {
    auto env = msg.envelope();
    switch (env.which()) {
      case wire::Envelope::KEYS_READY:
        for (auto loc : env.getKeysReady().getKeys()) {
          TaskKey k = to_key(loc.getKey());
          auto it = where.find(k);
          if (it == where.end() || got.count(k)) continue;
          it->second.holders.clear();
          for (auto w : loc.getWorkers()) it->second.holders.emplace_back(w.cStr());
          attempt[k] = 0;
          if (awaiting.erase(k)) todo.push_back(k);
        }
        break;
      case wire::Envelope::PEER_LOST:
        forget_worker(env.getPeerLost().getAddress().cStr());
        break;
      case wire::Envelope::TASK_FAILED: {
        auto f = env.getTaskFailed();
        if (!where.count(to_key(f.getKey()))) break;
        throw TaskError(f.getOp().cStr(), f.getWorker().cStr(), f.getMessage().cStr());
      }
      case wire::Envelope::GOODBYE:
        throw ClusterError(std::string("scheduler went away: ") + env.getGoodbye().getReason().cStr());
      default:
        break;
    }
  };
  auto on_worker_reply = [&](ReceivedMessage& msg) {
    auto env = msg.envelope();
    uint64_t id = 0;
    if (env.which() == wire::Envelope::ERROR) {
      id = env.getError().getRequestId();
    } else if (env.which() == wire::Envelope::CHUNKS) {
      id = env.getChunks().getRequestId();
    } else {
      return;
    }
    auto r = requests.find(id);
    if (r == requests.end()) return;
    std::vector<TaskKey> asked = std::move(r->second.keys);
    requests.erase(r);
    std::unordered_set<TaskKey> answered;
    if (env.which() == wire::Envelope::CHUNKS) {
      size_t frame = 0;
      for (auto h : env.getChunks().getChunks()) {
        if (!h.getFound() || frame >= msg.payload.size()) continue;
        TaskKey k = to_key(h.getKey());
        auto dt = to_dtype(h.getDtype());
        const size_t first = frame;
        const size_t count = std::max<uint32_t>(h.getFrames(), 1);
        frame += count;
        if (!dt.ok() || !where.count(k) || got.count(k)) continue;
        auto shape = to_shape(h.getShape(), *dt);
        if (!shape.ok()) continue;
        auto chunk = chunk_from_frames(msg.payload, first, count, *dt, std::move(shape).value());
        if (!chunk.ok()) continue;
        stats.bytes_transferred += chunk->nbytes();
        got[k] = std::move(chunk).value();
        answered.insert(k);
      }
    }
    for (const TaskKey& k : asked)
      if (!answered.count(k)) todo.push_back(k);
  };

  while (got.size() < needed) {
    // Ask the next holder of every key still missing, batched per worker.
    std::map<std::string, std::vector<TaskKey>> by_worker;
    for (const TaskKey& k : todo) {
      if (got.count(k)) continue;
      const KeyInfo& info = where.at(k);
      size_t& a = attempt[k];
      if (a >= info.holders.size()) {
        awaiting.insert(k);
        continue;
      }
      by_worker[info.holders[a++]].push_back(k);
    }
    todo.clear();
    for (auto& [addr, ks] : by_worker) {
      zmq::socket_t& s = worker_socket(addr);
      uint64_t id = next_request_++;
      capnp::MallocMessageBuilder b;
      auto req = b.initRoot<wire::Envelope>().initGetChunks();
      req.setRequestId(id);
      auto list = req.initKeys(ks.size());
      for (size_t i = 0; i < ks.size(); ++i) set_key(list[i], ks[i]);
      if (!send_message(s, nullptr, b).is_ok()) {
        todo.insert(todo.end(), ks.begin(), ks.end());
        continue;
      }
      requests.emplace(id, Request{addr, std::move(ks), Clock::now()});
    }
    // A holder that does not answer in time counts as failed: try the next one.
    for (auto it = requests.begin(); it != requests.end();) {
      if (Clock::now() - it->second.sent < patience) {
        ++it;
        continue;
      }
      spdlog::warn("worker {} did not answer a request for {} chunks in {} s", it->second.address,
                   it->second.keys.size(), static_cast<int>(options.scheduler_timeout));
      todo.insert(todo.end(), it->second.keys.begin(), it->second.keys.end());
      it = requests.erase(it);
    }
    // Chunks no holder could give are recomputed by the scheduler, which says where.
    if (Clock::now() - last_from_scheduler > patience) {
      throw ClusterError("no answer from scheduler at " + address + " for " +
                         std::to_string(static_cast<int>(options.scheduler_timeout)) +
                         " s while waiting for chunk " +
                         (awaiting.empty() ? std::string("data") : awaiting.begin()->to_string()));
    }
    if (Clock::now() - last_ping > std::chrono::seconds(2)) {
      capnp::MallocMessageBuilder b;
      b.initRoot<wire::Envelope>().initHeartbeat();
      send_best_effort(scheduler_, nullptr, b);
      last_ping = Clock::now();
    }

    std::vector<zmq::pollitem_t> items{{static_cast<void*>(scheduler_), 0, ZMQ_POLLIN, 0}};
    std::vector<std::string> addrs{""};
    for (auto& [addr, s] : workers_) {
      items.push_back({static_cast<void*>(s), 0, ZMQ_POLLIN, 0});
      addrs.push_back(addr);
    }
    try {
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(200));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      throw ClusterError(e.what());
    }
    try {
      if (items[0].revents & ZMQ_POLLIN) {
        for (int i = 0; i < 64; ++i) {
          auto msg = recv_message(scheduler_, false, zmq::recv_flags::dontwait);
          if (!msg.ok()) break;
          last_from_scheduler = Clock::now();
          on_scheduler_message(*msg);
        }
      }
      for (size_t i = 1; i < items.size(); ++i) {
        if (!(items[i].revents & ZMQ_POLLIN)) continue;
        auto wit = workers_.find(addrs[i]);
        if (wit == workers_.end()) continue;  // forgotten while handling this turn
        auto msg = recv_message(wit->second, false, zmq::recv_flags::dontwait);
        if (msg.ok()) on_worker_reply(*msg);
      }
    } catch (const kj::Exception& e) {
      throw ClusterError(std::string("malformed message: ") + e.getDescription().cStr());
    }
  }
  std::vector<Chunk> out;
  out.reserve(keys.size());
  for (const TaskKey& k : keys) out.push_back(got.at(k));
  stats.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  return out;
}

void Client::Impl::release(const std::vector<TaskKey>& keys) {
  if (keys.empty()) return;
  std::lock_guard lock(mu);
  send_release(keys);
}

void Client::Impl::send_release(const std::vector<TaskKey>& keys) {
  capnp::MallocMessageBuilder b;
  auto list = b.initRoot<wire::Envelope>().initReleaseKeys().initKeys(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) set_key(list[i], keys[i]);
  send_best_effort(scheduler_, nullptr, b);
}

ClusterStatus Client::Impl::cluster_status() {
  std::lock_guard lock(mu);
  const uint64_t id = next_request_++;
  capnp::MallocMessageBuilder b;
  b.initRoot<wire::Envelope>().initInfoRequest().setRequestId(id);
  Status st = send_message(scheduler_, nullptr, b);
  if (!st.is_ok()) throw ClusterError("cannot reach scheduler: " + st.to_string());
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (true) {
    ReceivedMessage msg = receive_from_scheduler(deadline);
    try {
      auto env = msg.envelope();
      if (env.which() != wire::Envelope::CLUSTER_INFO || env.getClusterInfo().getRequestId() != id) continue;
      auto info = env.getClusterInfo();
      ClusterStatus out;
      out.tasks = info.getTasks();
      out.bytes_transferred = info.getBytesTransferred();
      out.malformed_messages = info.getMalformedMessages();
      out.tasks_finished = info.getTasksFinished();
      out.held_bytes = info.getHeldBytes();
      out.plan_projected_peak = info.getPlanProjectedPeak();
      out.plan_replayed = info.getPlanReplayed();
      out.plan_measured_peak = info.getPlanMeasuredPeak();
      for (auto w : info.getWorkers()) {
        out.workers.push_back({w.getName().cStr(), w.getAddress().cStr(), w.getNthreads(), w.getMemoryLimit(),
                               w.getKeys(), w.getProcessing(), w.getManagedBytes(), w.getSpilledBytes(),
                               w.getRssBytes(), w.getPeakRssBytes(), w.getSpilledTotal()});
      }
      return out;
    } catch (const kj::Exception& e) {
      throw ClusterError(std::string("malformed message from scheduler: ") + e.getDescription().cStr());
    }
  }
}

StreamPage Client::Impl::task_stream(uint64_t since) {
  std::lock_guard lock(mu);
  const uint64_t id = next_request_++;
  capnp::MallocMessageBuilder b;
  auto req = b.initRoot<wire::Envelope>().initTaskStreamRequest();
  req.setRequestId(id);
  req.setSince(since);
  Status st = send_message(scheduler_, nullptr, b);
  if (!st.is_ok()) throw ClusterError("cannot reach scheduler: " + st.to_string());
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (true) {
    ReceivedMessage msg = receive_from_scheduler(deadline);
    try {
      auto env = msg.envelope();
      if (env.which() == wire::Envelope::ERROR && env.getError().getRequestId() == id) {
        throw ClusterError(std::string("scheduler refused the task stream request: ") +
                           env.getError().getMessage().cStr());
      }
      if (env.which() != wire::Envelope::TASK_STREAM_REPLY || env.getTaskStreamReply().getRequestId() != id) continue;
      auto r = env.getTaskStreamReply();
      StreamPage page;
      page.next = r.getNext();
      page.first = r.getFirst();
      page.capacity = r.getCapacity();
      page.clock = r.getClock();
      page.loop_busy_seconds = r.getLoopBusySeconds();
      page.transitions = r.getTransitions();
      page.bytes_transferred = r.getBytesTransferred();
      page.tasks_finished = r.getTasksFinished();
      page.events.reserve(r.getEvents().size());
      for (auto e : r.getEvents()) {
        page.events.push_back({e.getStart(), e.getStop(), to_key(e.getKey()), e.getWorker(), e.getBytes(),
                               e.getThread(), e.getOp(), e.getKind()});
      }
      for (auto op : r.getOps()) page.ops.emplace_back(op.cStr());
      for (auto w : r.getWorkers()) page.workers.push_back({w.getId(), w.getName().cStr(), w.getNthreads()});
      return page;
    } catch (const kj::Exception& e) {
      throw ClusterError(std::string("malformed message from scheduler: ") + e.getDescription().cStr());
    }
  }
}

void GraphLog::add(const std::vector<GraphPart>& graph) {
  ++graphs;
  tasks += num_tasks(graph);
  for (const GraphPart& part : graph) {
    if (const auto* g = std::get_if<TaskGroup>(&part)) {
      TaskGroup kept = *g;
      kept.params = {std::string()};  // expand() needs one; the log needs none
      kept.params_index.clear();
      groups_[kept.token] = std::move(kept);
      continue;
    }
    for (const TaskSpec& t : std::get<std::vector<TaskSpec>>(part)) {
      if (listed_deps_ + t.deps.size() + 1 > kMaxListedDeps) {
        incomplete = true;
        continue;
      }
      listed_deps_ += t.deps.size() + 1;
      listed_[t.key] = t.deps;
    }
  }
}

bool GraphLog::deps(const TaskKey& key, std::vector<TaskKey>& out) const {
  out.clear();
  if (auto it = listed_.find(key); it != listed_.end()) {
    out = it->second;
    return true;
  }
  auto g = groups_.find(key.token);
  if (g == groups_.end() || key.chunk >= g->second.size()) return false;
  TaskSpec spec;
  g->second.expand(key.chunk, spec);
  out = std::move(spec.deps);
  return true;
}

// ---- Client -----------------------------------------------------------------

Client::Client(const std::string& scheduler_address, ClientOptions options)
    : impl_(std::make_unique<Impl>(scheduler_address, std::move(options))) {
  std::lock_guard lock(g_clients_mu);
  g_clients.push_back(this);
}

namespace {
ClientOptions for_cluster(const LocalCluster& cluster, ClientOptions options) {
  if (options.key_file.empty()) options.key_file = cluster.key_file();
  options.encryption = options.encryption && !cluster.key_file().empty();
  return options;
}
}  // namespace

Client::Client(const LocalCluster& cluster, ClientOptions options)
    : Client(cluster.scheduler_address(), for_cluster(cluster, std::move(options))) {}

std::unique_ptr<Client> Client::from_scheduler_file(const std::string& path, double timeout, ClientOptions options) {
  auto info = wait_for_scheduler_file(path, timeout);
  if (!info.ok()) throw ClusterError(info.status().to_string());
  if (info->protocol_version != 0 && info->protocol_version != wire::PROTOCOL_VERSION) {
    throw ClusterError("scheduler in " + path + " speaks protocol " + std::to_string(info->protocol_version) +
                       ", this client " + std::to_string(wire::PROTOCOL_VERSION));
  }
  options.encryption = options.encryption && info->encryption;
  if (options.key_file.empty()) options.key_file = info->key_file;
  return std::make_unique<Client>(info->address, std::move(options));
}

Client::~Client() {
  std::lock_guard lock(g_clients_mu);
  g_clients.erase(std::remove(g_clients.begin(), g_clients.end(), this), g_clients.end());
}

const std::string& Client::scheduler_address() const { return impl_->address; }
ComputeStats Client::last_stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}
ClusterStatus Client::cluster_status() { return impl_->cluster_status(); }

void Client::cancel() { impl_->cancels.fetch_add(1); }
Client* Client::current() {
  std::lock_guard lock(g_clients_mu);
  return g_clients.empty() ? nullptr : g_clients.back();
}

}  // namespace rsdat

namespace rsdat {
void release_if_live(Client* c, const std::vector<TaskKey>& keys) {
  std::lock_guard lock(g_clients_mu);
  if (std::find(g_clients.begin(), g_clients.end(), c) == g_clients.end()) return;
  c->impl().release(keys);
}
}  // namespace rsdat
