// SchedulerState: clients, the graphs they submit (checked and planned at once, added in
// steps), and the keys they release: what is needed gets computed, what is not is let go.
#include "scheduler/scheduler_state.hpp"

#include <algorithm>
#include <span>
#include <unordered_map>

#include "core/sysinfo.hpp"
#include "scheduler/memory_plan.hpp"
#include "scheduler/scheduler_state_internal.hpp"

namespace rsdat::sched {

namespace {

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

// For each new task i, the order in which a depth-first walk from the wanted keys (in
// their order, each task's inputs in theirs) first reaches it; UINT64_MAX where none
// does. Only the roots' numbers are used.
template <typename DepsOf>
std::vector<uint64_t> roots_by_first_use(size_t n, const std::vector<TaskKey>& wanted, const GraphIndex& index,
                                         const std::vector<char>& known, const DepsOf& deps_of) {
  constexpr uint32_t kKnown = UINT32_MAX;
  std::vector<uint64_t> first(n, UINT64_MAX);
  std::vector<std::pair<uint32_t, uint32_t>> stack;  // (task, its next input)
  uint64_t next = 0;
  for (const TaskKey& k : wanted) {
    const auto at = index.find(k);
    if (!at || known[*at] || first[*at] != UINT64_MAX) continue;
    first[*at] = next++;
    stack.emplace_back(*at, 0);
    while (!stack.empty()) {
      auto& [task, pos] = stack.back();
      const auto deps = deps_of(task);
      if (pos == deps.size()) {
        stack.pop_back();
        continue;
      }
      const uint32_t d = deps[pos++];
      if (d == kKnown || first[d] != UINT64_MAX) continue;
      first[d] = next++;
      stack.emplace_back(d, 0);
    }
  }
  return first;
}

}  // namespace

void SchedulerState::add_client(ClientId id) { clients_.try_emplace(id); }

void SchedulerState::set_inline_bytes(ClientId id, uint64_t bytes) {
  if (auto it = clients_.find(id); it != clients_.end()) it->second.inline_bytes = bytes;
}

void SchedulerState::set_graph_id(ClientId id, uint64_t graph_id) {
  if (auto it = clients_.find(id); it != clients_.end()) it->second.graph_id = graph_id;
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

  // Co-assignment groups: roots of one array, each alone, except that chunks of one
  // array a task reads together (x[i, j] and x[j, i] for x + x.T) form one group, up to
  // kMaxGroup chunks. Groups are ranked by the first use of their first root (the order
  // in which a depth-first walk from the wanted keys reaches them; chunk order among
  // roots nothing wanted reaches); a group's rank decides its worker and its place in
  // the order. So the eight time blocks a reduction over time combines are made one
  // after the other on one worker, not one per pass over the whole cube.
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
  const std::vector<uint64_t> first_use = roots_by_first_use(n, wanted, index, known, deps_of);
  std::vector<uint32_t> group_rank(n, 0), group_rank_of(n, UINT32_MAX);
  std::unordered_map<uint64_t, uint64_t> roots_per_token;  // groups per token
  for (auto& [token, idx] : roots_of_token) {
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
      return first_use[a] != first_use[b] ? first_use[a] < first_use[b] : graph[a].key.chunk < graph[b].key.chunk;
    });
    uint32_t groups = 0;  // ranked by first use, as idx is sorted
    for (size_t i : idx) {
      const size_t g = find(i);
      if (group_rank_of[g] == UINT32_MAX) group_rank_of[g] = groups++;
      group_rank[i] = group_rank_of[g];
    }
    roots_per_token[token] = groups;
  }
  // Roots of different arrays are ordered by their relative position, interleaved (the
  // k-th chunk of every input array together), so that whatever combines them can run
  // as soon as they are made instead of after a whole array is in memory. A chunk's
  // position is where its share of the array starts, as that is when the first task
  // reading it can run: the one chunk of a small array (a coordinate, coefficients)
  // comes first, not after half of the big arrays it is combined with.
  std::vector<std::pair<double, size_t>> by_position;
  for (size_t i = 0; i < n; ++i) {
    if (!is_new_root(i)) continue;
    by_position.emplace_back(static_cast<double>(group_rank[i]) /
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
  // What the wanted keys need of the new tasks.
  std::vector<char> needed(n, 0);
  {
    std::vector<uint32_t> stack;
    for (const TaskKey& k : wanted) {
      if (auto at = index.find(k); at && !known[*at] && !needed[*at]) {
        needed[*at] = 1;
        stack.push_back(*at);
      }
    }
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
  }
  {
    std::vector<char> wanted_new(n, 0);
    for (const TaskKey& k : wanted)
      if (auto at = index.find(k); at && !known[*at]) wanted_new[*at] = 1;
    // Roots go to their worker's queue by position (rebuild_root_queues()).
    std::vector<uint32_t> root_queue(n, 0);
    for (size_t i = 0; i < n; ++i) {
      if (is_new_root(i)) {
        root_queue[i] = static_cast<uint32_t>(
            root_worker_index(group_rank[i], roots_per_token[graph[i].key.token], workers_.size()));
      }
    }
    if (Status st = check_memory_plan(client, graph, topo, needed, wanted_new, dep_begin, dep_ref, order_of,
                                      root_queue, out);
        !st.is_ok()) {
      return st;
    }
  }
  // What the wanted keys need: known records at once, new tasks as they are added.
  Client& c = cit->second;
  defer_ready_ = true;
  for (const TaskKey& k : wanted) {
    if (auto at = index.find(k); at && !known[*at]) continue;
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
      {
        const TaskError& e = *t.error;
        out.failed.push_back({client, k, e.origin, tasks_.count(e.origin) ? tasks_.at(e.origin).spec.op : t.spec.op,
                              e.worker, e.message});
      }
        break;
      default:
        ensure_computed(k, out);
    }
  }
  place_deferred(out);
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
  c.graph_tasks = p.topo.size();
  c.graph_finished_base = c.stats.tasks_finished;
  c.progress_reported = 0;
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

Status SchedulerState::check_memory_plan(ClientId client, const std::vector<TaskSpec>& graph,
                                         const std::vector<uint32_t>& topo, const std::vector<char>& needed,
                                         const std::vector<char>& wanted, const std::vector<size_t>& dep_begin,
                                         const std::vector<uint32_t>& dep_ref, const std::vector<uint64_t>& order_of,
                                         const std::vector<uint32_t>& root_queue, Commands& out) {
  last_plan_ = {};
  last_plan_.held_at_submit = held_bytes_;
  peak_held_bytes_ = held_bytes_;
  if (workers_.empty()) return Status::ok();
  uint64_t memory = 0, spill = 0, held = 0;
  uint32_t threads = 0;
  std::vector<uint32_t> threads_of;  // in the order of the root queues (worker_order_)
  bool limited = true;
  for (const auto& [id, w] : workers_) {
    limited = limited && w.info.memory_limit > 0;
    memory += w.info.memory_limit;
    spill += w.metrics.spill_space;
    held += w.metrics.managed_bytes;
    threads += w.info.nthreads;
    threads_of.push_back(w.info.nthreads);
  }
  const auto kept = static_cast<uint64_t>(config_.memory_target * static_cast<double>(memory));
  const std::string sizes = "the workers' memory (" + format_bytes(memory) + ") and spill space (" +
                            format_bytes(spill) + ") together";

  // The wanted results are all held at once when the graph is done, beside what the
  // cluster holds already, whatever the order: more than the memory and spill space
  // together can never fit.
  struct Wanted {
    uint64_t bytes = 0, chunks = 0;
    std::string op;
  };
  std::unordered_map<uint64_t, Wanted> by_array;  // key token -> what of it is wanted
  uint64_t wanted_bytes = 0, all_bytes = 0;
  for (uint32_t i : topo) {
    if (!needed[i]) continue;
    all_bytes += graph[i].output_nbytes();
    if (!wanted[i]) continue;
    Wanted& a = by_array[graph[i].key.token];
    a.bytes += graph[i].output_nbytes();
    a.chunks += 1;
    a.op = graph[i].op;
    wanted_bytes += graph[i].output_nbytes();
  }
  last_plan_.projected_peak = held_bytes_ + all_bytes;  // until replayed below
  if (!limited || held + all_bytes <= kept) return Status::ok();  // even everything at once stays in memory
  if (wanted_bytes > 0) {
    auto largest = std::max_element(by_array.begin(), by_array.end(),
                                    [](const auto& a, const auto& b) { return a.second.bytes < b.second.bytes; });
    const std::string what = "the " + std::to_string(largest->second.chunks) + " wanted chunks of array " +
                             largest->second.op + " " + TaskKey{largest->first, 0}.to_string().substr(0, 16) +
                             " (" + format_bytes(largest->second.bytes) + ")" +
                             (by_array.size() > 1 ? ", with the other wanted results (" +
                                                        format_bytes(wanted_bytes - largest->second.bytes) + ")"
                                                  : std::string()) +
                             " and the " + format_bytes(held) + " the cluster holds";
    if (held + wanted_bytes > memory + spill) {
      return invalid_argument(what + " need " + format_bytes(held + wanted_bytes) + " at once: more than " + sizes +
                              "; compute less at once (a reduction, or a part), or add workers");
    }
  }

  // Then the graph replayed as it will run (memory_plan.hpp): intermediate results
  // that must be held together count too.
  PlanGraph plan;
  std::vector<uint32_t> plan_of(graph.size(), PlanGraph::kHeldInput);
  std::vector<uint32_t> task_of;
  for (uint32_t i : topo) {
    if (!needed[i]) continue;
    plan_of[i] = static_cast<uint32_t>(task_of.size());
    task_of.push_back(i);
  }
  plan.dep_begin.reserve(task_of.size() + 1);
  for (uint32_t i : task_of) {
    plan.nbytes.push_back(graph[i].output_nbytes());
    plan.order.push_back(order_of[i]);
    plan.wanted.push_back(wanted[i]);
    plan.token.push_back(graph[i].key.token);
    plan.queue.push_back(root_queue[i]);
    plan.dep_begin.push_back(plan.deps.size());
    for (size_t k = dep_begin[i]; k < dep_begin[i + 1]; ++k)
      plan.deps.push_back(dep_ref[k] == UINT32_MAX ? PlanGraph::kHeldInput : plan_of[dep_ref[k]]);
  }
  plan.dep_begin.push_back(plan.deps.size());
  const MemoryProjection p = project_memory(plan, threads_of);
  last_plan_.projected_peak = held_bytes_ + p.peak_bytes;
  last_plan_.replayed = true;
  std::string what;
  if (!p.at_peak.empty()) {
    // The op of each array named: the first task of it in the plan.
    std::unordered_map<uint64_t, std::string> op_of;
    for (uint32_t i : task_of) op_of.try_emplace(graph[i].key.token, graph[i].op);
    for (size_t a = 0; a < p.at_peak.size(); ++a) {
      const ArrayHeld& h = p.at_peak[a];
      what += (a == 0 ? "" : ", ") + std::to_string(h.chunks) + " chunks of array " + op_of[h.token] + " " +
              TaskKey{h.token, 0}.to_string().substr(0, 16) + " (" + format_bytes(h.bytes) + ")";
    }
  }
  const std::string peak = "run in the scheduler's order on " + std::to_string(workers_.size()) + " workers (" +
                           std::to_string(threads) + " threads), this computation holds up to " + format_bytes(p.peak_bytes) +
                           " at once (" + what + "), beside the " + format_bytes(held) + " the cluster holds";
  if (held + p.peak_bytes > memory + spill) {
    return invalid_argument(peak + ": " + format_bytes(held + p.peak_bytes) + ", more than " + sizes +
                            "; use smaller chunks, compute less at once, or add workers");
  }
  // (Not for a graph of its own small next to that: a small reduction of an array that
  // spilled already.)
  if (held + p.peak_bytes > kept && p.peak_bytes >= kept / 100) {
    out.notices.push_back({client, "this computation will spill: " + peak + ": " +
                                       format_bytes(held + p.peak_bytes) + ", more than the workers keep in memory (" +
                                       format_bytes(kept) + "): about " +
                                       format_bytes(held + p.peak_bytes - kept) + " will spill to disk"});
  }
  return Status::ok();
}

bool SchedulerState::add_pending(size_t budget, Commands& out) {
  if (!pending_) return false;
  PendingGraph& p = *pending_;
  constexpr uint32_t kKnown = UINT32_MAX;
  defer_ready_ = true;
  uint64_t last_dep_token = 0;
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
    ++tasks_in_[static_cast<size_t>(task.status)];
    // Its array's counts: consecutive tasks are mostly of one array, so one look-up each run.
    if (!intake_array_ || intake_array_->token != key.token) {
      intake_array_ = &array_of(key.token, task.spec.op);
      last_dep_token = key.token;
    }
    ArrayProgress* array = intake_array_;
    task.array = array;
    ++array->total;
    ++array->live;
    ++array->in[static_cast<size_t>(task.status)];
    for (const TaskKey& d : task.spec.deps) {
      if (d.token != key.token && d.token != last_dep_token &&
          std::find(array->deps.begin(), array->deps.end(), d.token) == array->deps.end()) {
        array->deps.push_back(d.token);
      }
      last_dep_token = d.token;
    }
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
      fail_task(task, erred_dep->error, out);
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
      fail_task(t, erred_dep->error, out);
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

void SchedulerState::maybe_release(const TaskKey& key, Commands& out) {
  // Called for every input of every finished task: most find the record still needed,
  // so the walk's stack is a member, not an allocation per call.
  std::vector<TaskKey>& stack = release_stack_;
  stack.assign(1, key);
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
      --tasks_in_[static_cast<size_t>(t.status)];
      forget_in_array(t);
      tasks_.erase(it);
    }
  }
}

}  // namespace rsdat::sched
