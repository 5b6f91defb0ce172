// SchedulerState: where ready tasks run (placement, root queues), work stealing, and the
// task-duration estimates both price work with.
#include "scheduler/scheduler_state.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <span>
#include <unordered_map>
#include <vector>

#include "scheduler/scheduler_state_internal.hpp"

namespace rsdat::sched {

namespace {

constexpr double kDefaultTaskSeconds = 0.001;
// Arrays whose task durations are remembered; beyond it the record starts afresh.
constexpr size_t kMaxTrackedTokens = 4096;

}  // namespace

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
    assign(t, workers_.at(choose_worker_for(t)), out);
    return;
  }
  transition(t, TaskStatus::kQueued);
  if (!workers_.empty() && !worker_order_.empty()) fill_worker(t.queue_pos, out);
}

WorkerId SchedulerState::choose_worker_for(const Task& t) const {
  // Its inputs, where they are and where they are on their way: siblings reading the
  // same pieces (the outputs of a rechunk, say) then gather on the worker that fetches
  // them anyway, and each piece crosses the network once. A bounded look: an input
  // read by thousands of tasks is not searched through.
  constexpr size_t kLook = 16;
  std::vector<WorkerId> fetching;  // the inputs' spans point into it
  std::vector<PlacementInput> inputs;
  inputs.reserve(t.spec.deps.size());
  std::vector<WorkerLoad> holders;
  for (const TaskKey& d : t.spec.deps) {
    const Task& dt = tasks_.at(d);
    const size_t begin = fetching.size();
    for (size_t i = 0; i < std::min(dt.dependents.size(), kLook); ++i) {
      auto it = tasks_.find(dt.dependents[i]);
      if (it == tasks_.end() || !it->second.processing_on) continue;
      // Reserved in full at the first (most tasks have none), so the spans stay valid.
      if (fetching.empty()) fetching.reserve(t.spec.deps.size() * kLook);
      fetching.push_back(*it->second.processing_on);
    }
    inputs.push_back({dt.nbytes, dt.who_has, std::span<const WorkerId>(fetching).subspan(begin)});
    for (WorkerId h : dt.who_has) {
      auto hw = workers_.find(h);
      if (hw == workers_.end()) continue;  // a retiring one
      const bool seen = std::any_of(holders.begin(), holders.end(), [&](const WorkerLoad& l) { return l.id == h; });
      if (!seen) holders.push_back(load_of(hw->second));
    }
  }
  // Besides the holders, the least occupied worker of a bounded sample.
  std::vector<WorkerLoad> others;
  size_t pos = 0;
  for (const auto& [id, w] : workers_) {
    const bool roots_waiting = pos < root_queues_.size() && !root_queues_[pos].empty();
    const bool free_thread = w.processing.size() < w.info.nthreads;
    if (worth_moving_inputs_to(roots_waiting, free_thread, !holders.empty())) {
      if (others.empty()) others.reserve(std::min<size_t>(workers_.size(), 64));
      others.push_back(load_of(w));
    }
    if (++pos >= 64) break;
  }
  if (holders.empty() && others.empty()) {
    // Its inputs are on retiring workers only, and every worker has roots waiting.
    for (const auto& [id, w] : workers_) others.push_back(load_of(w));
  }
  const std::vector<Candidate> candidates = build_candidates(inputs, holders, others, t.nbytes, config_.memory_pause);
  return *choose_worker(candidates, config_.bandwidth);
}

WorkerLoad SchedulerState::load_of(const Worker& w) const {
  return {w.id, w.info.nthreads, occupancy_of(w), w.metrics.rss_bytes, w.info.memory_limit, w.processing.size(),
          w.incoming_steals};
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
  root_queues_.reset(workers_.size());
  worker_order_.clear();
  for (auto& [id, w] : workers_) worker_order_.push_back(id);
  for (const auto& [order, key] : queue_) {
    Task& t = tasks_.at(key);
    if (!t.root) continue;
    t.queue_pos = static_cast<uint32_t>(root_worker_index(t.root_group, t.root_count, root_queues_.size()));
    root_queues_.emplace(t.queue_pos, order, key);
  }
}

bool SchedulerState::fill_worker(size_t pos, Commands& out) {
  Worker& w = workers_.at(worker_order_[pos]);
  bool any = false;
  while (has_root_slot(w)) {
    const auto& own = root_queues_[pos];
    TaskKey key;
    if (!own.empty()) {
      key = own.begin()->second;
    } else {
      if (queue_.size() == queued_non_roots_) break;  // no root queued anywhere
      // Idle with nothing of its own: take from the far end of the longest queue,
      // so the victim keeps its contiguous range.
      const auto& victim = root_queues_[root_queues_.longest()];
      if (victim.empty()) break;
      key = std::prev(victim.end())->second;
    }
    assign(tasks_.at(key), w, out);
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
  std::vector<WorkerLoad> loads;
  std::vector<Worker*> at;  // the worker of each load
  loads.reserve(workers_.size());
  at.reserve(workers_.size());
  size_t pos = 0;  // workers_ is in worker_order_ order
  for (auto& [id, w] : workers_) {
    WorkerLoad& load = loads.emplace_back(load_of(w));
    load.roots_waiting = pos < root_queues_.size() && !root_queues_[pos].empty();
    at.push_back(&w);
    ++pos;
  }
  for (const StealPlan& plan : plan_steals(loads)) {
    Worker& thief = *at[plan.thief];
    const Worker& victim = *at[plan.victim];
    std::vector<StealCandidate> candidates;
    for (const TaskKey& k : victim.processing) {
      const Task& t = tasks_.at(k);
      if (!t.steal_to) candidates.push_back({k, t.root, t.order});  // not asked for by an earlier thief
    }
    candidates.resize(rank_steal_candidates(candidates));
    for (StealCandidate& c : candidates) {
      for (const TaskKey& d : tasks_.at(c.key).spec.deps) {
        const Task& dt = tasks_.at(d);
        if (!contains(dt.who_has, thief.id)) c.missing_bytes += dt.nbytes;
      }
    }
    for (const TaskKey& k : choose_steals(candidates, plan, config_.bandwidth)) {
      tasks_.at(k).steal_to = thief.id;
      ++thief.incoming_steals;
      out.steal.push_back({victim.id, k});
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

}  // namespace rsdat::sched
