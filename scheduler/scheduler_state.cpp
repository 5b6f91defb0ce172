// SchedulerState: the table of legal transitions and the one function that applies it,
// read-only views, and validate().
#include "scheduler/scheduler_state.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "scheduler/scheduler_state_internal.hpp"

namespace rsdat::sched {

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

}  // namespace

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

void SchedulerState::transition(Task& t, TaskStatus to) {
  RSDAT_CHECK_MSG(kLegal[static_cast<int>(t.status)][static_cast<int>(to)],
                  std::string("illegal transition ") + task_status_name(t.status) + " -> " +
                      task_status_name(to) + " of " + t.spec.key.to_string());
  if (t.status == TaskStatus::kQueued) {
    queue_.erase(t.order);
    if (t.root) {
      root_queues_.erase(t.queue_pos, t.order);
    } else {
      --queued_non_roots_;
    }
  }
  if (to == TaskStatus::kQueued) {
    queue_.emplace(t.order, t.spec.key);
    if (t.root) {
      t.queue_pos = static_cast<uint32_t>(root_worker_index(t.root_group, t.root_count, root_queues_.size()));
      root_queues_.emplace(t.queue_pos, t.order, t.spec.key);
    } else {
      ++queued_non_roots_;
    }
  }
  if (t.status == TaskStatus::kMemory && to != TaskStatus::kMemory) held_bytes_ -= t.nbytes;
  if (to == TaskStatus::kMemory && t.status != TaskStatus::kMemory) {
    held_bytes_ += t.nbytes;
    peak_held_bytes_ = std::max(peak_held_bytes_, held_bytes_);
  }
  --tasks_in_[static_cast<size_t>(t.status)];
  ++tasks_in_[static_cast<size_t>(to)];
  if (to == TaskStatus::kErred) ++tasks_erred_;
  if (ArrayProgress* a = t.array) {
    --a->in[static_cast<size_t>(t.status)];
    ++a->in[static_cast<size_t>(to)];
    if (to == TaskStatus::kErred) ++a->erred;
  }
  t.status = to;
  ++transitions_;
}

ArrayProgress& SchedulerState::array_of(uint64_t token, const std::string& op) {
  auto [it, added] = arrays_.try_emplace(token);
  ArrayProgress& a = it->second;
  if (added) {
    a.token = token;
    a.op = op;
    a.op_index = stream_.op_index(op);
    a.order = next_array_order_++;
  }
  return a;
}

void SchedulerState::forget_in_array(Task& t) {
  ArrayProgress* a = t.array;
  if (!a) return;
  t.array = nullptr;
  --a->in[static_cast<size_t>(t.status)];
  if (--a->live > 0) return;
  if (a == intake_array_) intake_array_ = nullptr;
  recent_arrays_.push_back(std::move(*a));
  if (recent_arrays_.size() > kRecentArrays) recent_arrays_.pop_front();
  arrays_.erase(recent_arrays_.back().token);
}

std::vector<const ArrayProgress*> SchedulerState::arrays() const {
  std::vector<const ArrayProgress*> out;
  out.reserve(arrays_.size() + recent_arrays_.size());
  for (const ArrayProgress& a : recent_arrays_) out.push_back(&a);
  for (const auto& [token, a] : arrays_) out.push_back(&a);
  std::sort(out.begin(), out.end(), [](const ArrayProgress* a, const ArrayProgress* b) { return a->order < b->order; });
  return out;
}

SchedulerState::Worker* SchedulerState::find_worker(WorkerId id) {
  if (auto it = workers_.find(id); it != workers_.end()) return &it->second;
  if (auto it = retiring_.find(id); it != retiring_.end()) return &it->second.worker;
  return nullptr;
}

const SchedulerState::Worker* SchedulerState::find_worker(WorkerId id) const {
  return const_cast<SchedulerState*>(this)->find_worker(id);
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

std::vector<SchedulerState::GraphProgress> SchedulerState::take_progress() {
  std::vector<GraphProgress> changed;
  for (auto& [id, c] : clients_) {
    const uint64_t done = std::min(c.graph_tasks, c.stats.tasks_finished - c.graph_finished_base);
    if (done == c.progress_reported) continue;
    c.progress_reported = done;
    changed.push_back({id, c.graph_id, done, c.graph_tasks});
  }
  return changed;
}

void SchedulerState::validate() const {
  std::map<WorkerId, size_t> incoming;
  uint64_t held = 0;
  std::array<uint64_t, 6> in_status{};
  for (const auto& [key, t] : tasks_) {
    ++in_status[static_cast<size_t>(t.status)];
    if (t.status == TaskStatus::kMemory) held += t.nbytes;
    RSDAT_CHECK_MSG(pending_ || t.pending_users == 0, "users to come counted with no graph being added");
    if (t.steal_to) {
      RSDAT_CHECK_MSG(t.status == TaskStatus::kProcessing, "steal in flight for a task not processing: " + key.to_string());
      ++incoming[*t.steal_to];
    }
  }
  RSDAT_CHECK_MSG(held == held_bytes_, "bytes in memory miscounted");
  RSDAT_CHECK_MSG(in_status == tasks_in_, "tasks by status miscounted");
  // Every record counted in its array, by status.
  std::unordered_map<uint64_t, std::array<uint64_t, 6>> by_array;
  for (const auto& [key, t] : tasks_) {
    RSDAT_CHECK_MSG(t.array && t.array->token == key.token, "task not counted in its array: " + key.to_string());
    ++by_array[key.token][static_cast<size_t>(t.status)];
  }
  RSDAT_CHECK_MSG(by_array.size() == arrays_.size(), "arrays without task records kept as live");
  for (const auto& [token, a] : arrays_) {
    auto it = by_array.find(token);
    RSDAT_CHECK_MSG(it != by_array.end() && it->second == a.in, "array tasks by status miscounted");
    uint64_t live = 0;
    for (uint64_t n : a.in) live += n;
    RSDAT_CHECK_MSG(live == a.live, "array live records miscounted");
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
