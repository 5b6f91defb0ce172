// SchedulerState: workers joining, leaving and retiring, and their heartbeats.
#include "scheduler/scheduler_state.hpp"

#include <algorithm>

#include "scheduler/scheduler_state_internal.hpp"

namespace rsdat::sched {

void SchedulerState::add_worker(WorkerId id, WorkerInfo info, double now, Commands& out) {
  RSDAT_CHECK(!workers_.count(id));
  Worker w;
  w.id = id;
  if (info.nthreads == 0) info.nthreads = 1;
  w.info = std::move(info);
  w.metrics.spill_space = w.info.spill_space;
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
  std::vector<TaskKey> inputs;  // of the tasks it was running, see below
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
      inputs.insert(inputs.end(), t.spec.deps.begin(), t.spec.deps.end());
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
  // An input kept only for a task it was running is not needed once that task is
  // released, but maybe_release reaches it only if it forgets the task's record, which
  // stays while a chunk made from the task is in memory. Checked once every task has
  // been placed again or released, so that inputs still needed stay.
  for (const TaskKey& d : inputs) maybe_release(d, out);
  fill_queue(out);
}

void SchedulerState::heartbeat(WorkerId id, const WorkerMetrics& metrics, double now) {
  Worker* w = find_worker(id);
  if (!w) return;
  // Spilling since the last heartbeat, for the task stream: it took the spill seconds
  // the worker counted, up to now.
  const WorkerMetrics& was = w->metrics;
  if (metrics.spilled_total > was.spilled_total) {
    const double seconds = std::max(0.0, metrics.counters.spill_seconds - was.counters.spill_seconds);
    stream_.record({now - seconds, now, {}, id.value, metrics.spilled_total - was.spilled_total, 0, 0,
                    TaskEventKind::kSpill});
  }
  if (metrics.counters.unspilled_total > was.counters.unspilled_total) {
    const double seconds = std::max(0.0, metrics.counters.unspill_seconds - was.counters.unspill_seconds);
    stream_.record({now - seconds, now, {}, id.value,
                    metrics.counters.unspilled_total - was.counters.unspilled_total, 0, 0, TaskEventKind::kUnspill});
  }
  WorkerMetrics m = metrics;
  if (w->heartbeat_at >= 0 && now > w->heartbeat_at) {
    const double dt = now - w->heartbeat_at;
    auto rate = [dt](double a, double b) { return a > b ? (a - b) / dt : 0.0; };
    m.cpu_rate = rate(m.cpu_seconds, was.cpu_seconds);
    m.fetch_rate = rate(static_cast<double>(m.counters.fetched_bytes), static_cast<double>(was.counters.fetched_bytes));
    m.serve_rate = rate(static_cast<double>(m.counters.served_bytes), static_cast<double>(was.counters.served_bytes));
  }
  w->metrics = std::move(m);
  w->heartbeat_at = now;
  w->last_seen = now;
}

void SchedulerState::touch(WorkerId id, double now) {
  if (Worker* w = find_worker(id)) w->last_seen = now;
}

std::vector<ClientId> SchedulerState::waiting_clients() const {
  std::vector<ClientId> out;
  for (const auto& [id, c] : clients_) {
    for (const TaskKey& k : c.wanted) {
      auto it = tasks_.find(k);
      if (it != tasks_.end() && it->second.status != TaskStatus::kMemory && it->second.status != TaskStatus::kErred) {
        out.push_back(id);
        break;
      }
    }
  }
  return out;
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
  std::vector<TaskKey> inputs;  // of the unfinished tasks nobody needs now
  for (const TaskKey& key : unfinished) {
    Task& t = tasks_.at(key);
    forget_steal(t);
    t.processing_on.reset();
    r.worker.processing.erase(key);
    transition(t, TaskStatus::kReleased);
    if (needs_data(t)) {
      ensure_computed(key, out);
    } else {
      inputs.insert(inputs.end(), t.spec.deps.begin(), t.spec.deps.end());
      maybe_release(key, out);
    }
  }
  // They may have been kept only for such a task, and maybe_release reaches them only
  // if it forgets the task's record, which stays while a chunk made from it is in memory.
  for (const TaskKey& d : inputs) maybe_release(d, out);
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

}  // namespace rsdat::sched
