#include "scheduler/scheduler_state.hpp"

#include <algorithm>
#include <cmath>
#include <span>
#include <unordered_map>

#include "core/sysinfo.hpp"

namespace rsdat::sched {

const char* task_status_name(TaskStatus s) {
  switch (s) {
    case TaskStatus::kReleased: return "released";
    case TaskStatus::kWaiting: return "waiting";
    case TaskStatus::kQueued: return "queued";
    case TaskStatus::kProcessing: return "processing";
    case TaskStatus::kMemory: return "memory";
    case TaskStatus::kErred: return "erred";
  }
  return "?";
}

namespace {

// kLegal[from][to]: the table of legal transitions.
constexpr bool kLegal[6][6] = {
    //           released waiting queued processing memory erred
    /* rel  */ {false, true, true, true, false, true},
    /* wait */ {true, false, true, true, false, true},
    /* que  */ {true, true, false, true, false, true},
    /* proc */ {true, true, false, false, true, true},
    /* mem  */ {true, false, false, false, false, false},
    /* err  */ {true, false, false, false, false, false},
};

template <typename V, typename T>
void erase_value(V& v, const T& x) {
  v.erase(std::remove(v.begin(), v.end(), x), v.end());
}

template <typename V, typename T>
bool contains(const V& v, const T& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

constexpr double kDefaultTaskSeconds = 0.001;
// Arrays whose task durations are remembered; beyond it the record starts afresh.
constexpr size_t kMaxTrackedTokens = 4096;
// A worker whose processing tasks are estimated at less than this (per thread) may
// steal though no thread is free.
constexpr double kShortWork = 0.005;

// Where each key of a submitted graph is. A graph comes array by array, each array's
// tasks a run of chunks 0, 1, 2, ...: those keys are found by arithmetic, and only
// the others are hashed.
class GraphIndex {
 public:
  // The key that appears twice, if one does.
  std::optional<TaskKey> build(const std::vector<TaskSpec>& graph) {
    struct Segment {
      size_t first, count;
      bool dense;  // chunks 0, 1, 2, ...
    };
    std::unordered_map<uint64_t, std::vector<Segment>> segments;
    for (size_t i = 0; i < graph.size();) {
      const uint64_t token = graph[i].key.token;
      Segment seg{i, 0, true};
      for (; i < graph.size() && graph[i].key.token == token; ++i, ++seg.count) {
        seg.dense = seg.dense && graph[i].key.chunk == seg.count;
      }
      segments[token].push_back(seg);
    }
    for (const auto& [token, list] : segments) {
      if (list.size() == 1 && list[0].dense) {
        runs_.emplace(token, std::pair<size_t, size_t>(list[0].first, list[0].count));
        continue;
      }
      for (const Segment& seg : list) {
        for (size_t i = seg.first; i < seg.first + seg.count; ++i) {
          if (!others_.emplace(graph[i].key, static_cast<uint32_t>(i)).second) return graph[i].key;
        }
      }
    }
    return std::nullopt;
  }
  std::optional<uint32_t> find(const TaskKey& k) const {
    if (auto it = runs_.find(k.token); it != runs_.end()) {
      if (k.chunk >= it->second.second) return std::nullopt;
      return static_cast<uint32_t>(it->second.first + k.chunk);
    }
    auto it = others_.find(k);
    if (it == others_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::unordered_map<uint64_t, std::pair<size_t, size_t>> runs_;  // token -> (first index, count)
  KeyMap<uint32_t> others_;
};

}  // namespace

void SchedulerState::transition(Task& t, TaskStatus to) {
  RSDAT_CHECK_MSG(kLegal[static_cast<int>(t.status)][static_cast<int>(to)],
                  std::string("illegal transition ") + task_status_name(t.status) + " -> " +
                      task_status_name(to) + " of " + t.spec.key.to_string());
  if (t.status == TaskStatus::kQueued) {
    queue_.erase(t.order);
    if (t.root) {
      root_queues_[t.queue_pos].erase(t.order);
    } else {
      --queued_non_roots_;
    }
  }
  if (to == TaskStatus::kQueued) {
    queue_.emplace(t.order, t.spec.key);
    if (t.root) {
      t.queue_pos = root_worker_index(t.root_group, t.root_count, root_queues_.size());
      root_queues_[t.queue_pos].emplace(t.order, t.spec.key);
    } else {
      ++queued_non_roots_;
    }
  }
  t.status = to;
  ++transitions_;
}

// ---- workers ----------------------------------------------------------------

void SchedulerState::add_worker(WorkerId id, WorkerInfo info, double now, Commands& out) {
  RSDAT_CHECK(!workers_.count(id));
  Worker w;
  w.id = id;
  if (info.nthreads == 0) info.nthreads = 1;
  w.info = std::move(info);
  w.last_seen = now;
  workers_.emplace(id, std::move(w));
  rebuild_root_queues();
  fill_queue(out);
}

void SchedulerState::remove_worker(WorkerId id, const std::string& reason, Commands& out) {
  if (auto r = retiring_.find(id); r != retiring_.end()) {
    // Lost before it finished retiring: what only it held is recomputed, as for any loss.
    workers_.emplace(id, std::move(r->second.worker));
    retiring_.erase(r);
  }
  auto wit = workers_.find(id);
  if (wit == workers_.end()) return;
  Worker lost = std::move(wit->second);
  workers_.erase(wit);
  rebuild_root_queues();

  std::vector<TaskKey> to_recompute;
  for (const TaskKey& key : lost.has) {
    Task& t = tasks_.at(key);
    erase_value(t.who_has, id);
    if (t.who_has.empty() && t.status == TaskStatus::kMemory) {
      transition(t, TaskStatus::kReleased);
      for (const TaskKey& d : t.dependents) {
        Task& dt = tasks_.at(d);
        if (dt.status == TaskStatus::kQueued) transition(dt, TaskStatus::kWaiting);
      }
      to_recompute.push_back(key);
    } else if (t.status == TaskStatus::kMemory) {
      // Still held elsewhere: a client gathering it may know only the lost holder.
      notify_ready(t, out);
    }
  }
  for (const TaskKey& key : lost.processing) {
    Task& t = tasks_.at(key);
    forget_steal(t);
    t.processing_on.reset();
    ++t.failures;
    if (t.failures >= config_.allowed_failures) {
      fail_task(t,
                "worker '" + lost.info.name + "' (" + lost.info.address + ") was lost while running this task, " +
                    std::to_string(t.failures) + " times (" + reason + ")",
                lost.info.name, key, out);
    } else {
      transition(t, TaskStatus::kReleased);
      to_recompute.push_back(key);
    }
  }
  for (const TaskKey& key : to_recompute) {
    auto it = tasks_.find(key);
    if (it == tasks_.end()) continue;
    if (it->second.status == TaskStatus::kReleased && needs_data(it->second)) {
      ensure_computed(key, out);
    } else {
      maybe_release(key, out);
    }
  }
  fill_queue(out);
}

void SchedulerState::heartbeat(WorkerId id, const WorkerMetrics& metrics, double now) {
  Worker* w = find_worker(id);
  if (!w) return;
  w->metrics = metrics;
  w->last_seen = now;
}

void SchedulerState::touch(WorkerId id, double now) {
  if (Worker* w = find_worker(id)) w->last_seen = now;
}

std::vector<WorkerId> SchedulerState::timed_out_workers(double now) const {
  std::vector<WorkerId> out;
  for (const auto& [id, w] : workers_) {
    if (now - w.last_seen > config_.worker_timeout) out.push_back(id);
  }
  for (const auto& [id, r] : retiring_) {
    if (now - r.worker.last_seen > config_.worker_timeout) out.push_back(id);
  }
  return out;
}

void SchedulerState::worker_retiring(WorkerId id, Commands& out) {
  auto wit = workers_.find(id);
  if (wit == workers_.end()) return;
  Retiring& r = retiring_[id];
  r.worker = std::move(wit->second);
  workers_.erase(wit);
  rebuild_root_queues();
  // Tasks it has not finished run elsewhere (its reports for them are ignored from now on).
  std::vector<TaskKey> unfinished(r.worker.processing.begin(), r.worker.processing.end());
  for (const TaskKey& key : unfinished) {
    Task& t = tasks_.at(key);
    forget_steal(t);
    t.processing_on.reset();
    r.worker.processing.erase(key);
    transition(t, TaskStatus::kReleased);
    if (needs_data(t)) {
      ensure_computed(key, out);
    } else {
      maybe_release(key, out);
    }
  }
  r.worker.processing_roots = 0;
  r.worker.processing_root_bytes = 0;
  r.worker.load.clear();
  for (const TaskKey& key : r.worker.has) {
    const Task& t = tasks_.at(key);
    if (t.who_has.size() == 1 && needs_data(t)) r.pending.emplace(key, std::nullopt);
  }
  ask_replicas(r, out);
  fill_queue(out);
}

void SchedulerState::ask_replicas(Retiring& r, Commands& out) {
  for (auto& [key, target] : r.pending) {
    if (target && workers_.count(*target)) continue;  // asked, and that worker is still here
    target.reset();
    // The worker with the most memory to spare takes it.
    const Worker* best = nullptr;
    double best_room = 0;
    for (const auto& [id, w] : workers_) {
      double room = static_cast<double>(w.info.memory_limit) - static_cast<double>(w.metrics.rss_bytes);
      if (w.info.memory_limit == 0) room = 1e18;
      if (!best || room > best_room) {
        best = &w;
        best_room = room;
      }
    }
    if (!best) return;  // no worker to take it yet: asked again when one joins
    target = best->id;
    out.replicate.push_back({best->id, key, r.worker.id});
  }
}

void SchedulerState::check_retiring(Commands& out) {
  for (auto it = retiring_.begin(); it != retiring_.end();) {
    Retiring& r = it->second;
    for (auto p = r.pending.begin(); p != r.pending.end();) {
      auto t = tasks_.find(p->first);
      const bool done = t == tasks_.end() || t->second.status != TaskStatus::kMemory || !needs_data(t->second) ||
                        t->second.who_has.size() > 1 || !contains(t->second.who_has, it->first);
      p = done ? r.pending.erase(p) : std::next(p);
    }
    if (!r.pending.empty()) {
      ask_replicas(r, out);
      ++it;
      continue;
    }
    // Every chunk it holds has another holder or is not needed: drop it as a holder.
    const WorkerId id = it->first;
    for (const TaskKey& key : r.worker.has) {
      Task& t = tasks_.at(key);
      erase_value(t.who_has, id);
      if (t.who_has.empty() && t.status == TaskStatus::kMemory) {
        transition(t, TaskStatus::kReleased);
        if (needs_data(t)) ensure_computed(key, out);  // not expected: it was not needed a moment ago
      } else if (t.status == TaskStatus::kMemory) {
        notify_ready(t, out);  // clients gathering it learn where it is now
      }
    }
    out.retired.push_back({id, r.worker.info.address});
    it = retiring_.erase(it);
  }
}

SchedulerState::Worker* SchedulerState::find_worker(WorkerId id) {
  if (auto it = workers_.find(id); it != workers_.end()) return &it->second;
  if (auto it = retiring_.find(id); it != retiring_.end()) return &it->second.worker;
  return nullptr;
}

const SchedulerState::Worker* SchedulerState::find_worker(WorkerId id) const {
  return const_cast<SchedulerState*>(this)->find_worker(id);
}

// ---- clients ----------------------------------------------------------------

void SchedulerState::add_client(ClientId id) { clients_.try_emplace(id); }

void SchedulerState::set_inline_bytes(ClientId id, uint64_t bytes) {
  if (auto it = clients_.find(id); it != clients_.end()) it->second.inline_bytes = bytes;
}

void SchedulerState::remove_client(ClientId id, Commands& out) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  if (pending_ && pending_->client == id) finish_pending(out);  // then all it wants is known
  std::vector<TaskKey> keys(it->second.wanted.begin(), it->second.wanted.end());
  release_keys(id, keys, out);
  clients_.erase(id);
}

Status SchedulerState::submit_graph(ClientId client, std::vector<TaskSpec> graph, const std::vector<TaskKey>& wanted,
                                    Commands& out, size_t step) {
  auto cit = clients_.find(client);
  if (cit == clients_.end()) return invalid_argument("unknown client");
  finish_pending(out);  // one graph is added at a time
  const size_t n = graph.size();
  // Check before changing anything. Every key and every dependency is looked up once:
  // a task is new or known (its record wins), a dependency is a new task (its index
  // here) or a known record (kKnown).
  constexpr uint32_t kKnown = UINT32_MAX;
  GraphIndex index;
  if (auto twice = index.build(graph)) return invalid_argument("graph names key " + twice->to_string() + " twice");
  std::vector<char> known(n, 0);
  if (!tasks_.empty()) {
    for (size_t i = 0; i < n; ++i) known[i] = tasks_.count(graph[i].key) ? 1 : 0;
  }
  std::vector<size_t> dep_begin(n + 1, 0);  // deps of new task i: dep_ref[dep_begin[i] .. dep_begin[i + 1])
  std::vector<uint32_t> dep_ref;
  for (size_t i = 0; i < n; ++i) {
    dep_begin[i] = dep_ref.size();
    if (known[i]) continue;
    for (const TaskKey& d : graph[i].deps) {
      auto at = index.find(d);
      if (at && !known[*at]) {
        dep_ref.push_back(*at);
      } else if (at || tasks_.count(d)) {
        dep_ref.push_back(kKnown);
      } else {
        return invalid_argument("task " + graph[i].key.to_string() + " (" + graph[i].op + ") depends on unknown key " +
                                d.to_string());
      }
    }
  }
  dep_begin[n] = dep_ref.size();
  auto deps_of = [&](size_t i) { return std::span<const uint32_t>(dep_ref.data() + dep_begin[i], dep_ref.data() + dep_begin[i + 1]); };
  // Kahn's algorithm over the new tasks: cycles are refused.
  std::vector<uint32_t> indegree(n, 0);
  std::vector<size_t> user_begin(n + 1, 0);
  for (uint32_t j : dep_ref)
    if (j != kKnown) ++user_begin[j + 1];
  for (size_t i = 0; i < n; ++i) user_begin[i + 1] += user_begin[i];
  std::vector<uint32_t> users(user_begin[n]);
  {
    std::vector<size_t> fill(user_begin.begin(), user_begin.end() - 1);
    for (size_t i = 0; i < n; ++i) {
      for (uint32_t j : deps_of(i)) {
        if (j == kKnown) continue;
        ++indegree[i];
        users[fill[j]++] = static_cast<uint32_t>(i);
      }
    }
  }
  // First in, first out: inputs before their users, otherwise in the graph's order.
  std::vector<uint32_t> topo;
  topo.reserve(n);
  for (size_t i = 0; i < n; ++i)
    if (indegree[i] == 0) topo.push_back(static_cast<uint32_t>(i));
  for (size_t next = 0; next < topo.size(); ++next) {
    const uint32_t i = topo[next];
    for (size_t u = user_begin[i]; u < user_begin[i + 1]; ++u)
      if (--indegree[users[u]] == 0) topo.push_back(users[u]);
  }
  if (topo.size() != n) return invalid_argument("graph has a cycle");
  for (const TaskKey& k : wanted) {
    if (!index.find(k) && !tasks_.count(k)) return invalid_argument("wanted key " + k.to_string() + " is unknown");
  }

  // A task whose inputs and output together exceed every worker's memory limit can
  // never run: refuse the graph before anything starts.
  uint64_t largest_limit = 0;
  for (const auto& [id, w] : workers_) largest_limit = std::max(largest_limit, w.info.memory_limit);
  if (largest_limit > 0) {
    for (size_t i = 0; i < n; ++i) {
      if (known[i]) continue;
      const TaskSpec& spec = graph[i];
      uint64_t need = spec.output_nbytes();
      auto refs = deps_of(i);
      for (size_t k = 0; k < refs.size(); ++k) {
        need += refs[k] != kKnown ? graph[refs[k]].output_nbytes() : tasks_.at(spec.deps[k]).nbytes;
      }
      if (need > largest_limit) {
        return invalid_argument("task " + spec.key.to_string() + " (" + spec.op + ") needs " + format_bytes(need) +
                                " for its inputs and output at once, more than the largest worker memory limit (" +
                                format_bytes(largest_limit) + "): use smaller chunks");
      }
    }
  }

  // Co-assignment groups: roots of one array, by chunk index, except that chunks of one
  // array a task reads together (x[i, j] and x[j, i] for x + x.T) form one group, up to
  // kMaxGroup chunks. Groups are ranked by their first chunk; a group's rank decides
  // its worker and its place in the order.
  constexpr size_t kMaxGroup = 4;
  std::vector<size_t> parent(n), group_size(n, 1);
  for (size_t i = 0; i < n; ++i) parent[i] = i;
  auto find = [&](size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  };
  auto is_new_root = [&](size_t i) { return graph[i].deps.empty() && !known[i]; };
  for (size_t i = 0; i < n; ++i) {
    if (graph[i].deps.size() < 2 || known[i]) continue;
    std::optional<size_t> first;
    for (uint32_t j : deps_of(i)) {
      if (j == kKnown || !is_new_root(j)) continue;
      if (!first) {
        first = j;
        continue;
      }
      if (graph[*first].key.token != graph[j].key.token) continue;
      size_t a = find(*first), b = find(j);
      if (a == b || group_size[a] + group_size[b] > kMaxGroup) continue;
      parent[b] = a;
      group_size[a] += group_size[b];
    }
  }
  std::unordered_map<uint64_t, std::vector<size_t>> roots_of_token;
  for (size_t i = 0; i < n; ++i) {
    if (is_new_root(i)) roots_of_token[graph[i].key.token].push_back(i);
  }
  std::vector<uint32_t> group_rank(n, 0), group_rank_of(n, UINT32_MAX);
  std::unordered_map<uint64_t, uint64_t> roots_per_token;  // groups per token
  for (auto& [token, idx] : roots_of_token) {
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return graph[a].key.chunk < graph[b].key.chunk; });
    uint32_t groups = 0;  // ranked by first chunk, as idx is sorted
    for (size_t i : idx) {
      const size_t g = find(i);
      if (group_rank_of[g] == UINT32_MAX) group_rank_of[g] = groups++;
      group_rank[i] = group_rank_of[g];
    }
    roots_per_token[token] = groups;
  }
  // Roots of different arrays are ordered by their relative position, interleaved (the
  // k-th chunk of every input array together), so that whatever combines them can run
  // as soon as they are made instead of after a whole array is in memory.
  std::vector<std::pair<double, size_t>> by_position;
  for (size_t i = 0; i < n; ++i) {
    if (!is_new_root(i)) continue;
    by_position.emplace_back((static_cast<double>(group_rank[i]) + 0.5) /
                                 static_cast<double>(std::max<uint64_t>(1, roots_per_token[graph[i].key.token])),
                             i);
  }
  std::stable_sort(by_position.begin(), by_position.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<uint64_t> order_of(n, 0);
  for (const auto& [position, i] : by_position) order_of[i] = next_order_++;
  for (size_t i = 0; i < n; ++i) {
    if (!graph[i].deps.empty()) order_of[i] = next_order_++;
  }
  // What the wanted keys need: known records at once, new tasks as they are added.
  Client& c = cit->second;
  std::vector<char> needed(n, 0);
  std::vector<uint32_t> stack;
  defer_ready_ = true;
  for (const TaskKey& k : wanted) {
    if (auto at = index.find(k); at && !known[*at]) {
      if (!needed[*at]) stack.push_back(*at);
      needed[*at] = 1;
      continue;
    }
    c.wanted.insert(k);
    Task& t = tasks_.at(k);
    if (!contains(t.wanted_by, client)) t.wanted_by.push_back(client);
    switch (t.status) {
      case TaskStatus::kMemory: {
        ReadyCommand r{client, k, t.spec.dtype, t.spec.shape, t.who_has};
        out.ready.push_back(std::move(r));
        break;
      }
      case TaskStatus::kErred:
        out.failed.push_back({client, k, t.error_origin, tasks_.count(t.error_origin) ? tasks_.at(t.error_origin).spec.op : t.spec.op,
                              t.error_worker, t.error});
        break;
      default:
        ensure_computed(k, out);
    }
  }
  place_deferred(out);
  while (!stack.empty()) {
    const uint32_t i = stack.back();
    stack.pop_back();
    for (uint32_t j : deps_of(i)) {
      if (j != kKnown && !needed[j]) {
        needed[j] = 1;
        stack.push_back(j);
      }
    }
  }
  // New tasks nobody wants (a graph with extra keys) are never added. Until all are,
  // every input keeps a count of the users still to come, so that its chunk is kept.
  PendingGraph p;
  p.client = client;
  p.wanted.assign(n, 0);
  for (const TaskKey& k : wanted)
    if (auto at = index.find(k); at && !known[*at]) p.wanted[*at] = 1;
  p.users_left.assign(n, 0);
  p.root_count.assign(n, 1);
  for (uint32_t i : topo) {
    if (!needed[i]) continue;
    p.topo.push_back(i);
    if (graph[i].deps.empty()) p.root_count[i] = static_cast<uint32_t>(roots_per_token[graph[i].key.token]);
    auto refs = deps_of(i);
    for (size_t k = 0; k < refs.size(); ++k) {
      if (refs[k] != kKnown) {
        ++p.users_left[refs[k]];
      } else {
        ++tasks_.at(graph[i].deps[k]).pending_users;
      }
    }
  }
  p.tasks = std::move(graph);
  p.dep_begin = std::move(dep_begin);
  p.dep_ref = std::move(dep_ref);
  p.order_of = std::move(order_of);
  p.root_group = std::move(group_rank);
  p.added.assign(n, nullptr);
  tasks_.reserve(tasks_.size() + p.topo.size());
  pending_ = std::move(p);
  add_pending(step, out);
  return Status::ok();
}

bool SchedulerState::add_pending(size_t budget, Commands& out) {
  if (!pending_) return false;
  PendingGraph& p = *pending_;
  constexpr uint32_t kKnown = UINT32_MAX;
  defer_ready_ = true;
  for (; budget > 0 && p.next < p.topo.size(); --budget) {
    const uint32_t i = p.topo[p.next++];
    TaskSpec& spec = p.tasks[i];
    Task t;
    t.root = spec.deps.empty();
    if (t.root) {
      t.root_group = p.root_group[i];
      t.root_count = p.root_count[i];
    }
    t.nbytes = spec.output_nbytes();
    t.order = p.order_of[i];
    t.owner = p.client;
    t.pending_users = p.users_left[i];
    t.spec = std::move(spec);
    const TaskKey key = t.spec.key;
    Task& task = tasks_.emplace(key, std::move(t)).first->second;
    p.added[i] = &task;
    if (p.wanted[i]) {
      task.wanted_by.push_back(p.client);
      clients_.at(p.client).wanted.insert(key);
    }
    // Its inputs (added before it, or known): it depends on them now.
    const Task* erred_dep = nullptr;
    bool all_ready = true, any_released = false;
    const size_t first = p.dep_begin[i];
    for (size_t k = 0; k < task.spec.deps.size(); ++k) {
      const uint32_t j = p.dep_ref[first + k];
      Task& dt = j != kKnown ? *p.added[j] : tasks_.at(task.spec.deps[k]);
      --dt.pending_users;
      if (std::find(task.spec.deps.begin(), task.spec.deps.begin() + static_cast<long>(k), task.spec.deps[k]) ==
          task.spec.deps.begin() + static_cast<long>(k)) {
        dt.dependents.push_back(key);
      }
      if (dt.status == TaskStatus::kErred) erred_dep = &dt;
      if (dt.status != TaskStatus::kMemory) all_ready = false;
      if (dt.status == TaskStatus::kReleased) any_released = true;
    }
    // Then what ensure_computed() would do.
    if (erred_dep) {
      fail_task(task, erred_dep->error, erred_dep->error_worker, erred_dep->error_origin, out);
    } else if (all_ready) {
      on_ready(task, out);
    } else {
      transition(task, TaskStatus::kWaiting);
      if (any_released) {
        for (const TaskKey& d : task.spec.deps) {
          if (tasks_.at(d).status == TaskStatus::kReleased) ensure_computed(d, out);
        }
      }
    }
  }
  place_deferred(out);
  const bool more = p.next < p.topo.size();
  if (!more) pending_.reset();
  fill_queue(out);
  return more;
}

void SchedulerState::finish_pending(Commands& out) {
  while (add_pending(SIZE_MAX, out)) {
  }
}

void SchedulerState::release_keys(ClientId client, const std::vector<TaskKey>& keys, Commands& out) {
  auto cit = clients_.find(client);
  if (cit == clients_.end()) return;
  if (pending_ && pending_->client == client) finish_pending(out);  // its keys may be among them
  for (const TaskKey& k : keys) {
    if (!cit->second.wanted.erase(k)) continue;
    auto it = tasks_.find(k);
    if (it == tasks_.end()) continue;
    erase_value(it->second.wanted_by, client);
    maybe_release(k, out);
  }
}

// ---- task outcomes ----------------------------------------------------------

void SchedulerState::task_finished(WorkerId worker, const TaskKey& key, uint64_t nbytes, double seconds,
                                   Commands& out, uint64_t bytes_fetched) {
  auto wit = workers_.find(worker);
  auto it = tasks_.find(key);
  if (wit == workers_.end()) {
    ++ignored_reports_;
    return;
  }
  Worker& w = wit->second;
  if (it == tasks_.end() || it->second.status != TaskStatus::kProcessing || it->second.processing_on != worker) {
    ++ignored_reports_;
    // The worker holds a result nobody tracks: let it go, unless it is a known replica.
    bool tracked = it != tasks_.end() && contains(it->second.who_has, worker);
    if (!tracked) out.release.push_back({worker, key});
    return;
  }
  Task& t = it->second;
  forget_steal(t);
  unassign(t);
  record_duration(t, seconds);

  t.nbytes = nbytes;
  t.who_has.push_back(worker);
  w.has.insert(key);
  transition(t, TaskStatus::kMemory);
  total_bytes_transferred_ += bytes_fetched;
  ++tasks_finished_;
  if (auto cit = clients_.find(t.owner); cit != clients_.end()) {
    ++cit->second.stats.tasks_finished;
    cit->second.stats.bytes_transferred += bytes_fetched;
  }
  notify_ready(t, out);
  std::vector<TaskKey> dependents = t.dependents;
  for (const TaskKey& d : dependents) {
    Task& dt = tasks_.at(d);
    if (dt.status != TaskStatus::kWaiting) continue;
    bool ready = std::all_of(dt.spec.deps.begin(), dt.spec.deps.end(),
                             [&](const TaskKey& k) { return tasks_.at(k).status == TaskStatus::kMemory; });
    if (ready) on_ready(dt, out);
  }
  std::vector<TaskKey> deps = t.spec.deps;
  for (const TaskKey& d : deps) maybe_release(d, out);
  maybe_release(key, out);
  fill_queue_for(worker, out);
}

void SchedulerState::task_erred(WorkerId worker, const TaskKey& key, const std::string& message, Commands& out) {
  auto wit = workers_.find(worker);
  auto it = tasks_.find(key);
  if (wit == workers_.end() || it == tasks_.end() || it->second.status != TaskStatus::kProcessing ||
      it->second.processing_on != worker) {
    ++ignored_reports_;
    return;
  }
  Worker& w = wit->second;
  Task& t = it->second;
  forget_steal(t);
  unassign(t);
  fail_task(t, message, w.info.name, key, out);
  fill_queue_for(worker, out);
}

void SchedulerState::task_missing_deps(WorkerId worker, const TaskKey& key, const std::vector<TaskKey>& missing,
                                       Commands& out) {
  auto wit = workers_.find(worker);
  auto it = tasks_.find(key);
  if (wit == workers_.end() || it == tasks_.end() || it->second.status != TaskStatus::kProcessing ||
      it->second.processing_on != worker) {
    ++ignored_reports_;
    return;
  }
  Task& t = it->second;
  forget_steal(t);
  unassign(t);
  // Every holder listed at assignment was tried: none of them counts as holding the
  // input any more (a holder that still has it is told to drop it).
  for (const TaskKey& m : missing) {
    auto mit = tasks_.find(m);
    if (mit == tasks_.end() || !contains(t.spec.deps, m)) continue;
    Task& mt = mit->second;
    if (mt.status != TaskStatus::kMemory) continue;
    for (WorkerId h : mt.who_has) {
      out.release.push_back({h, m});
      find_worker(h)->has.erase(m);
    }
    mt.who_has.clear();
    transition(mt, TaskStatus::kReleased);
  }
  transition(t, TaskStatus::kReleased);
  ensure_computed(key, out);
  fill_queue(out);
}

void SchedulerState::replica_acquired(WorkerId worker, const TaskKey& key, Commands& out) {
  auto wit = workers_.find(worker);
  if (wit == workers_.end()) return;
  auto it = tasks_.find(key);
  if (it == tasks_.end() || it->second.status != TaskStatus::kMemory) {
    // A copy that arrived after the chunk was lost and its task given to this very
    // worker: the assignment stands (releasing the key would drop the task there).
    if (it != tasks_.end() && it->second.processing_on == worker) return;
    out.release.push_back({worker, key});
    return;
  }
  if (!contains(it->second.who_has, worker)) {
    it->second.who_has.push_back(worker);
    wit->second.has.insert(key);
  }
}

// ---- internals --------------------------------------------------------------

bool SchedulerState::needs_data(const Task& t) const {
  if (!t.wanted_by.empty() || t.pending_users > 0) return true;
  for (const TaskKey& d : t.dependents) {
    TaskStatus s = tasks_.at(d).status;
    if (s == TaskStatus::kWaiting || s == TaskStatus::kQueued || s == TaskStatus::kProcessing) return true;
  }
  return false;
}

void SchedulerState::ensure_computed(const TaskKey& key, Commands& out) {
  std::vector<TaskKey> stack{key};
  while (!stack.empty()) {
    TaskKey k = stack.back();
    stack.pop_back();
    Task& t = tasks_.at(k);
    if (t.status != TaskStatus::kReleased) continue;
    const Task* erred_dep = nullptr;
    bool all_ready = true;
    for (const TaskKey& d : t.spec.deps) {
      const Task& dt = tasks_.at(d);
      if (dt.status == TaskStatus::kErred) erred_dep = &dt;
      if (dt.status != TaskStatus::kMemory) all_ready = false;
    }
    if (erred_dep) {
      fail_task(t, erred_dep->error, erred_dep->error_worker, erred_dep->error_origin, out);
      continue;
    }
    if (all_ready) {
      on_ready(t, out);
      continue;
    }
    transition(t, TaskStatus::kWaiting);
    for (const TaskKey& d : t.spec.deps) {
      if (tasks_.at(d).status == TaskStatus::kReleased) stack.push_back(d);
    }
  }
}

void SchedulerState::place_deferred(Commands& out) {
  defer_ready_ = false;
  if (deferred_ready_.empty()) return;
  // Group by the worker holding the most input bytes, keep submission order within a
  // group, and take one task of each group in turn.
  std::map<uint64_t, std::vector<TaskKey>> groups;
  for (const TaskKey& key : deferred_ready_) {
    const Task& t = tasks_.at(key);
    std::unordered_map<uint64_t, uint64_t> bytes;
    for (const TaskKey& d : t.spec.deps)
      for (WorkerId h : tasks_.at(d).who_has) bytes[h.value] += tasks_.at(d).nbytes;
    uint64_t best = 0, best_bytes = 0;
    for (const auto& [w, b] : bytes) {
      if (b > best_bytes || (b == best_bytes && w < best)) {
        best = w;
        best_bytes = b;
      }
    }
    groups[best].push_back(key);
  }
  deferred_ready_.clear();
  std::vector<size_t> next(groups.size(), 0);
  for (bool any = true; any;) {
    any = false;
    size_t g = 0;
    for (auto& [w, keys] : groups) {
      if (next[g] < keys.size()) {
        Task& t = tasks_.at(keys[next[g]++]);
        if (t.status == TaskStatus::kWaiting) on_ready(t, out);
        any = true;
      }
      ++g;
    }
  }
}

void SchedulerState::on_ready(Task& t, Commands& out) {
  if (defer_ready_ && !t.root) {
    if (t.status != TaskStatus::kWaiting) transition(t, TaskStatus::kWaiting);
    deferred_ready_.push_back(t.spec.key);
    return;
  }
  if (!t.root && !workers_.empty()) {
    // Inputs' holders, plus the least occupied worker of a bounded sample.
    std::vector<Candidate> candidates;
    auto add = [&](const Worker& w) {
      for (const auto& c : candidates)
        if (c.id == w.id) return;
      Candidate c{w.id, 0, occupancy_of(w), w.info.nthreads};
      for (const TaskKey& d : t.spec.deps) {
        const Task& dt = tasks_.at(d);
        if (!contains(dt.who_has, w.id) && !fetch_underway(dt, w.id)) c.missing_bytes += dt.nbytes;
      }
      if (w.info.memory_limit > 0) {
        const double pause = config_.memory_pause * static_cast<double>(w.info.memory_limit);
        c.over_memory = static_cast<double>(w.metrics.rss_bytes + c.missing_bytes + t.nbytes) > pause;
      }
      candidates.push_back(c);
    };
    for (const TaskKey& d : t.spec.deps)
      for (WorkerId h : tasks_.at(d).who_has) {
        if (auto hw = workers_.find(h); hw != workers_.end()) add(hw->second);  // not a retiring one
      }
    // A worker with root tasks of its own waiting is busy even when its queue is short:
    // moving inputs there only trades its work for a transfer. So is one with every
    // thread taken: when the holders are busy too, which queue is a little shorter
    // is not worth moving inputs for (work stealing evens the queues out later).
    const Worker* idle = nullptr;
    double idle_occupancy = 0;
    auto consider = [&](const Worker& w) {
      const double occ = occupancy_of(w);
      if (!idle || occ < idle_occupancy) {
        idle = &w;
        idle_occupancy = occ;
      }
    };
    size_t pos = 0;
    for (const auto& [id, w] : workers_) {
      const bool roots_waiting = pos < root_queues_.size() && !root_queues_[pos].empty();
      const bool free_thread = w.processing.size() < w.info.nthreads;
      if (!roots_waiting && (free_thread || candidates.empty())) consider(w);
      if (++pos >= 64) break;
    }
    if (idle) add(*idle);
    if (candidates.empty()) {
      // Its inputs are on retiring workers only, and every worker has roots waiting.
      for (const auto& [id, w] : workers_) consider(w);
      add(*idle);
    }
    auto choice = choose_worker(candidates, config_.bandwidth);
    assign(t, workers_.at(*choice), out);
    return;
  }
  transition(t, TaskStatus::kQueued);
  if (!workers_.empty() && !worker_order_.empty()) fill_worker(t.queue_pos, out);
}

bool SchedulerState::fetch_underway(const Task& dep, WorkerId w) const {
  // Siblings reading the same pieces (the outputs of a rechunk, say) then gather on
  // the worker that fetches them anyway, and each piece crosses the network once. A
  // bounded look: an input read by thousands of tasks is not searched through.
  constexpr size_t kLook = 16;
  const size_t n = std::min(dep.dependents.size(), kLook);
  for (size_t i = 0; i < n; ++i) {
    auto it = tasks_.find(dep.dependents[i]);
    if (it != tasks_.end() && it->second.processing_on == w) return true;
  }
  return false;
}

bool SchedulerState::has_root_slot(const Worker& w) const {
  const double slots = std::ceil(w.info.nthreads * config_.root_saturation);
  const double roots = static_cast<double>(w.processing_roots);
  // Tiny roots go out in bulk, to save round trips, but not a whole graph's worth: a
  // worker's queue is then work no other worker can take over.
  return roots < slots || (w.processing_root_bytes < config_.root_bytes_budget &&
                           roots < w.info.nthreads * config_.root_max_per_thread);
}

void SchedulerState::rebuild_root_queues() {
  // Root tasks are queued per worker position (co-assignment), so a change in the
  // set of workers re-spreads what is still queued.
  root_queues_.assign(std::max<size_t>(1, workers_.size()), {});
  worker_order_.clear();
  for (auto& [id, w] : workers_) worker_order_.push_back(id);
  for (const auto& [order, key] : queue_) {
    Task& t = tasks_.at(key);
    if (!t.root) continue;
    t.queue_pos = root_worker_index(t.root_group, t.root_count, root_queues_.size());
    root_queues_[t.queue_pos].emplace(order, key);
  }
}

bool SchedulerState::fill_worker(size_t pos, Commands& out) {
  Worker& w = workers_.at(worker_order_[pos]);
  bool any = false;
  while (has_root_slot(w)) {
    auto& own = root_queues_[pos];
    std::map<uint64_t, TaskKey>::iterator it;
    if (!own.empty()) {
      it = own.begin();
    } else {
      if (queue_.size() == queued_non_roots_) break;  // no root queued anywhere
      // Idle with nothing of its own: take from the far end of the longest queue,
      // so the victim keeps its contiguous range.
      size_t victim = pos;
      for (size_t i = 0; i < root_queues_.size(); ++i)
        if (root_queues_[i].size() > root_queues_[victim].size()) victim = i;
      if (root_queues_[victim].empty()) break;
      it = std::prev(root_queues_[victim].end());
    }
    assign(tasks_.at(it->second), w, out);
    any = true;
  }
  return any;
}

void SchedulerState::fill_queue(Commands& out) {
  if (workers_.empty()) return;
  if (queued_non_roots_ > 0) {
    // Non-root tasks wait in the queue only for a first worker.
    std::vector<TaskKey> waiting;
    for (const auto& [order, key] : queue_)
      if (!tasks_.at(key).root) waiting.push_back(key);
    for (const TaskKey& k : waiting) {
      Task& t = tasks_.at(k);
      transition(t, TaskStatus::kReleased);
      transition(t, TaskStatus::kWaiting);
      on_ready(t, out);
    }
  }
  if (queue_.empty()) return;
  for (size_t pos = 0; pos < worker_order_.size(); ++pos) fill_worker(pos, out);
}

void SchedulerState::fill_queue_for(WorkerId id, Commands& out) {
  if (queue_.empty() || queued_non_roots_ > 0) {
    fill_queue(out);
    return;
  }
  auto it = std::lower_bound(worker_order_.begin(), worker_order_.end(), id);
  if (it != worker_order_.end() && *it == id) fill_worker(static_cast<size_t>(it - worker_order_.begin()), out);
}

void SchedulerState::unassign(Task& t) {
  if (!t.processing_on) return;
  auto wit = workers_.find(*t.processing_on);
  t.processing_on.reset();
  if (wit == workers_.end()) return;
  Worker& w = wit->second;
  w.processing.erase(t.spec.key);
  if (t.root) {
    --w.processing_roots;
    w.processing_root_bytes -= std::min(w.processing_root_bytes, t.nbytes);
  }
  if (auto lit = w.load.find(t.spec.key.token); lit != w.load.end()) {
    lit->second.bytes -= std::min(lit->second.bytes, t.nbytes);
    if (--lit->second.tasks == 0) w.load.erase(lit);
  }
}

void SchedulerState::forget_steal(Task& t) {
  if (!t.steal_to) return;
  if (auto th = workers_.find(*t.steal_to); th != workers_.end() && th->second.incoming_steals > 0) {
    --th->second.incoming_steals;
  }
  t.steal_to.reset();
}

void SchedulerState::balance(Commands& out) {
  if (workers_.size() < 2) return;
  size_t pos = 0;  // workers_ is in worker_order_ order
  for (auto& [tid, thief] : workers_) {
    // A worker whose own root tasks wait for it is not idle: they come as slots free.
    const size_t my_pos = pos++;
    if (my_pos < root_queues_.size() && !root_queues_[my_pos].empty()) continue;
    // A thief has a thread free, or only short work left (small tasks keep arriving
    // at a worker that has run out of long ones: it is idle in all but name).
    const size_t load = thief.processing.size() + thief.incoming_steals;
    const double threads = std::max<uint32_t>(1, thief.info.nthreads);
    const double thief_wait = thief.incoming_steals > 0 ? 0 : occupancy_of(thief) / threads;
    if (load >= thief.info.nthreads && (thief.incoming_steals > 0 || thief_wait > kShortWork)) continue;
    size_t want = load < thief.info.nthreads ? thief.info.nthreads - load : 1;
    Worker* victim = nullptr;
    double worst = 0;
    for (auto& [vid, v] : workers_) {
      if (vid == tid || v.processing.size() <= v.info.nthreads) continue;  // nothing waits there
      const double wait = occupancy_of(v) / std::max<uint32_t>(1, v.info.nthreads);
      if (!victim || wait > worst) {
        victim = &v;
        worst = wait;
      }
    }
    if (!victim) continue;
    std::vector<Task*> candidates;
    for (const TaskKey& k : victim->processing) {
      Task& t = tasks_.at(k);
      if (!t.steal_to) candidates.push_back(&t);
    }
    // The least likely to have started first. A worker runs consumers before roots,
    // the latest assigned consumer first, and roots in order: so roots, the latest
    // first, then consumers, the earliest first. Only the first few are considered: a
    // victim may hold many thousands, and this runs every 10 ms.
    constexpr size_t kConsidered = 64;
    const size_t considered = std::min(candidates.size(), kConsidered);
    std::partial_sort(candidates.begin(), candidates.begin() + static_cast<long>(considered), candidates.end(),
                      [](const Task* a, const Task* b) {
                        if (a->root != b->root) return a->root;
                        return a->root ? a->order > b->order : a->order < b->order;
                      });
    candidates.resize(considered);
    size_t spare = victim->processing.size() - victim->info.nthreads;
    for (Task* t : candidates) {
      if (want == 0 || spare == 0) break;
      uint64_t missing = 0;
      for (const TaskKey& d : t->spec.deps) {
        const Task& dt = tasks_.at(d);
        if (!contains(dt.who_has, tid)) missing += dt.nbytes;
      }
      // Steal only when moving the inputs costs well under the wait (half), so that
      // estimates off by a little do not send chunks back and forth.
      if (2.0 * static_cast<double>(missing) / config_.bandwidth + thief_wait >= worst) continue;
      t->steal_to = tid;
      ++thief.incoming_steals;
      --want;
      --spare;
      out.steal.push_back({victim->id, t->spec.key});
    }
  }
}

void SchedulerState::steal_response(WorkerId victim, const TaskKey& key, bool stolen, Commands& out) {
  auto it = tasks_.find(key);
  if (it == tasks_.end() || !it->second.steal_to) {
    ++ignored_reports_;
    return;
  }
  Task& t = it->second;
  const WorkerId thief = *t.steal_to;
  forget_steal(t);
  if (!stolen || t.status != TaskStatus::kProcessing || t.processing_on != victim) return;
  unassign(t);
  transition(t, TaskStatus::kReleased);
  auto th = workers_.find(thief);
  if (th != workers_.end()) {
    assign(t, th->second, out);
  } else {
    on_ready(t, out);
  }
}

void SchedulerState::assign(Task& t, Worker& w, Commands& out) {
  transition(t, TaskStatus::kProcessing);
  t.processing_on = w.id;
  w.processing.insert(t.spec.key);
  if (t.root) {
    ++w.processing_roots;
    w.processing_root_bytes += t.nbytes;
  }
  Worker::ArrayLoad& load = w.load[t.spec.key.token];
  if (load.tasks++ == 0) load.op = t.spec.op;
  load.bytes += t.nbytes;
  AssignCommand cmd{w.id, &t.spec, {}, t.spec.key};
  for (ClientId c : t.wanted_by) {
    if (auto cit = clients_.find(c); cit != clients_.end() && t.nbytes <= cit->second.inline_bytes) cmd.inline_result = true;
  }
  for (const TaskKey& d : t.spec.deps) cmd.dep_locations.emplace_back(d, tasks_.at(d).who_has);
  out.assign.push_back(std::move(cmd));
}

void SchedulerState::notify_ready(Task& t, Commands& out) {
  for (ClientId c : t.wanted_by) out.ready.push_back({c, t.spec.key, t.spec.dtype, t.spec.shape, t.who_has});
}

void SchedulerState::fail_task(Task& t, const std::string& message, const std::string& worker, const TaskKey& origin,
                               Commands& out) {
  std::vector<Task*> stack{&t};
  t.error = message;
  t.error_worker = worker;
  t.error_origin = origin;
  std::vector<TaskKey> touched;
  std::string origin_op = tasks_.count(origin) ? tasks_.at(origin).spec.op : t.spec.op;
  while (!stack.empty()) {
    Task* cur = stack.back();
    stack.pop_back();
    transition(*cur, TaskStatus::kErred);
    cur->error = message;
    cur->error_worker = worker;
    cur->error_origin = origin;
    for (ClientId c : cur->wanted_by) out.failed.push_back({c, cur->spec.key, origin, origin_op, worker, message});
    for (const TaskKey& d : cur->spec.deps) touched.push_back(d);
    for (const TaskKey& d : cur->dependents) {
      Task& dt = tasks_.at(d);
      if (dt.status == TaskStatus::kWaiting || dt.status == TaskStatus::kQueued) stack.push_back(&dt);
    }
    touched.push_back(cur->spec.key);
  }
  for (const TaskKey& k : touched) maybe_release(k, out);
}

void SchedulerState::maybe_release(const TaskKey& key, Commands& out) {
  std::vector<TaskKey> stack{key};
  while (!stack.empty()) {
    TaskKey k = stack.back();
    stack.pop_back();
    auto it = tasks_.find(k);
    if (it == tasks_.end()) continue;
    Task& t = it->second;
    if (needs_data(t)) continue;
    switch (t.status) {
      case TaskStatus::kMemory:
        for (WorkerId w : t.who_has) {
          out.release.push_back({w, k});
          find_worker(w)->has.erase(k);
        }
        t.who_has.clear();
        transition(t, TaskStatus::kReleased);
        break;
      case TaskStatus::kWaiting:
      case TaskStatus::kQueued:
        transition(t, TaskStatus::kReleased);
        for (const TaskKey& d : t.spec.deps) stack.push_back(d);
        break;
      default:
        break;  // processing: released when it finishes
    }
    if ((t.status == TaskStatus::kReleased || t.status == TaskStatus::kErred) && t.wanted_by.empty() &&
        t.dependents.empty()) {
      for (const TaskKey& d : t.spec.deps) {
        auto dit = tasks_.find(d);
        if (dit == tasks_.end()) continue;
        erase_value(dit->second.dependents, k);
        stack.push_back(d);
      }
      tasks_.erase(it);
    }
  }
}

void SchedulerState::record_duration(const Task& t, double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return;
  const uint64_t out_bytes = t.spec.output_nbytes();
  auto [oit, first] = op_cost_.try_emplace(t.spec.op);
  OpCost& op = oit->second;
  if (first) {
    op.seconds = seconds;
    if (out_bytes > 0) op.seconds_per_byte = seconds / static_cast<double>(out_bytes);
  } else {
    op.seconds = 0.9 * op.seconds + 0.1 * seconds;
    if (out_bytes > 0) op.seconds_per_byte = 0.9 * op.seconds_per_byte + 0.1 * seconds / static_cast<double>(out_bytes);
  }
  if (token_seconds_.size() >= kMaxTrackedTokens) token_seconds_.clear();
  auto [tit, fresh] = token_seconds_.try_emplace(t.spec.key.token, seconds);
  if (!fresh) tit->second = 0.9 * tit->second + 0.1 * seconds;
}

double SchedulerState::duration_estimate(uint64_t token, const std::string& op, uint32_t tasks,
                                         uint64_t bytes) const {
  if (auto it = token_seconds_.find(token); it != token_seconds_.end()) return it->second * tasks;
  auto it = op_cost_.find(op);
  if (it == op_cost_.end()) return kDefaultTaskSeconds * tasks;
  if (bytes > 0 && it->second.seconds_per_byte > 0) return it->second.seconds_per_byte * static_cast<double>(bytes);
  return it->second.seconds * tasks;
}

double SchedulerState::occupancy_of(const Worker& w) const {
  double seconds = 0;
  for (const auto& [token, load] : w.load) seconds += duration_estimate(token, load.op, load.tasks, load.bytes);
  return seconds;
}

// ---- views ------------------------------------------------------------------

std::optional<TaskStatus> SchedulerState::status(const TaskKey& key) const {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return std::nullopt;
  return it->second.status;
}

std::vector<WorkerId> SchedulerState::who_has(const TaskKey& key) const {
  auto it = tasks_.find(key);
  return it == tasks_.end() ? std::vector<WorkerId>{} : it->second.who_has;
}

const TaskSpec* SchedulerState::spec_of(const TaskKey& key) const {
  auto it = tasks_.find(key);
  return it == tasks_.end() ? nullptr : &it->second.spec;
}

std::optional<WorkerId> SchedulerState::processing_worker(const TaskKey& key) const {
  auto it = tasks_.find(key);
  return it == tasks_.end() ? std::nullopt : it->second.processing_on;
}

const WorkerInfo* SchedulerState::worker_info(WorkerId id) const {
  const Worker* w = find_worker(id);
  return w ? &w->info : nullptr;
}

const WorkerMetrics* SchedulerState::worker_metrics(WorkerId id) const {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : &it->second.metrics;
}

std::vector<WorkerId> SchedulerState::worker_ids() const {
  std::vector<WorkerId> ids;
  for (const auto& [id, w] : workers_) ids.push_back(id);
  return ids;
}

size_t SchedulerState::keys_held_by(WorkerId id) const {
  auto it = workers_.find(id);
  return it == workers_.end() ? 0 : it->second.has.size();
}

size_t SchedulerState::processing_on(WorkerId id) const {
  auto it = workers_.find(id);
  return it == workers_.end() ? 0 : it->second.processing.size();
}

double SchedulerState::occupancy(WorkerId id) const {
  auto it = workers_.find(id);
  return it == workers_.end() ? 0 : occupancy_of(it->second);
}

ComputationStats SchedulerState::stats(ClientId client) const {
  auto it = clients_.find(client);
  return it == clients_.end() ? ComputationStats{} : it->second.stats;
}

void SchedulerState::validate() const {
  std::map<WorkerId, size_t> incoming;
  for (const auto& [key, t] : tasks_) {
    RSDAT_CHECK_MSG(pending_ || t.pending_users == 0, "users to come counted with no graph being added");
    if (t.steal_to) {
      RSDAT_CHECK_MSG(t.status == TaskStatus::kProcessing, "steal in flight for a task not processing: " + key.to_string());
      ++incoming[*t.steal_to];
    }
  }
  for (const auto& [id, w] : workers_) {
    auto it = incoming.find(id);
    RSDAT_CHECK_MSG(w.incoming_steals == (it == incoming.end() ? 0 : it->second), "steal count off for a worker");
  }
  for (const auto& [key, t] : tasks_) {
    RSDAT_CHECK(t.spec.key == key);
    for (const TaskKey& d : t.spec.deps) {
      auto dit = tasks_.find(d);
      RSDAT_CHECK_MSG(dit != tasks_.end(), "dependency record missing for " + key.to_string());
      RSDAT_CHECK_MSG(contains(dit->second.dependents, key), "dependents not symmetric at " + d.to_string());
    }
    for (const TaskKey& d : t.dependents) {
      auto dit = tasks_.find(d);
      RSDAT_CHECK(dit != tasks_.end());
      RSDAT_CHECK(contains(dit->second.spec.deps, key));
    }
    RSDAT_CHECK_MSG((t.status == TaskStatus::kMemory) == !t.who_has.empty(),
                    "who_has inconsistent with status at " + key.to_string());
    for (WorkerId w : t.who_has) {
      const Worker* holder = find_worker(w);
      RSDAT_CHECK(holder != nullptr);
      RSDAT_CHECK(holder->has.count(key));
    }
    RSDAT_CHECK((t.status == TaskStatus::kProcessing) == t.processing_on.has_value());
    if (t.processing_on) {
      auto wit = workers_.find(*t.processing_on);
      RSDAT_CHECK(wit != workers_.end());
      RSDAT_CHECK(wit->second.processing.count(key));
    }
    RSDAT_CHECK((t.status == TaskStatus::kQueued) == (queue_.count(t.order) && queue_.at(t.order) == key));
    if (t.status == TaskStatus::kWaiting) {
      bool all = std::all_of(t.spec.deps.begin(), t.spec.deps.end(),
                             [&](const TaskKey& d) { return tasks_.at(d).status == TaskStatus::kMemory; });
      RSDAT_CHECK_MSG(!all, "waiting task with every input in memory: " + key.to_string());
    }
    if (t.status == TaskStatus::kWaiting || t.status == TaskStatus::kQueued || t.status == TaskStatus::kProcessing) {
      RSDAT_CHECK_MSG(needs_data(t) || t.status == TaskStatus::kProcessing,
                      "task on its way that nobody needs: " + key.to_string());
    }
    for (ClientId c : t.wanted_by) {
      auto cit = clients_.find(c);
      RSDAT_CHECK(cit != clients_.end());
      RSDAT_CHECK(cit->second.wanted.count(key));
    }
    if (t.status == TaskStatus::kMemory) RSDAT_CHECK_MSG(needs_data(t), "data kept that nobody needs: " + key.to_string());
  }
  RSDAT_CHECK(queue_.size() <= tasks_.size());
  size_t queued_roots = 0;
  for (const auto& [order, key] : queue_) {
    auto it = tasks_.find(key);
    RSDAT_CHECK(it != tasks_.end() && it->second.status == TaskStatus::kQueued);
    if (it->second.root) ++queued_roots;
  }
  RSDAT_CHECK(queue_.size() - queued_roots == queued_non_roots_);
  for (const auto& [id, w] : workers_) {
    size_t roots = 0;
    for (const TaskKey& k : w.has) {
      auto it = tasks_.find(k);
      RSDAT_CHECK_MSG(it != tasks_.end(), "worker holds a forgotten key");
      RSDAT_CHECK(contains(it->second.who_has, id));
    }
    std::unordered_map<uint64_t, uint32_t> per_array;
    for (const TaskKey& k : w.processing) {
      auto it = tasks_.find(k);
      RSDAT_CHECK(it != tasks_.end() && it->second.processing_on == id);
      if (it->second.root) ++roots;
      ++per_array[k.token];
    }
    RSDAT_CHECK(roots == w.processing_roots);
    RSDAT_CHECK(per_array.size() == w.load.size());
    for (const auto& [token, n] : per_array) {
      auto lit = w.load.find(token);
      RSDAT_CHECK_MSG(lit != w.load.end() && lit->second.tasks == n, "worker load does not match its processing");
    }
  }
  for (const auto& [id, c] : clients_) {
    for (const TaskKey& k : c.wanted) {
      auto it = tasks_.find(k);
      RSDAT_CHECK(it != tasks_.end() && contains(it->second.wanted_by, id));
    }
  }
}

}  // namespace rsdat::sched
