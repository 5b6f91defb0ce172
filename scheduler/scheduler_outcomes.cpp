// SchedulerState: what workers report about tasks: finished, failed, missing inputs,
// and copies of chunks acquired.
#include "scheduler/scheduler_state.hpp"

#include <algorithm>

#include "scheduler/scheduler_state_internal.hpp"

namespace rsdat::sched {

void SchedulerState::task_finished(WorkerId worker, const TaskKey& key, uint64_t nbytes, double seconds,
                                   Commands& out, uint64_t bytes_fetched, TaskTiming timing) {
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
  const uint16_t op = t.array ? t.array->op_index : 0;
  if (t.array) ++t.array->finished;
  const double start = timing.now - seconds;
  if (bytes_fetched > 0) {
    // The fetch came before the kernel ran; its duration is not reported, so it is a mark.
    stream_.record({start, start, key, worker.value, bytes_fetched, timing.thread, op, TaskEventKind::kTransfer});
  }
  stream_.record({start, timing.now, key, worker.value, nbytes, timing.thread, op, TaskEventKind::kCompute});

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
  // Neither list changes below: on_ready() places tasks, and maybe_release() walks
  // from an input towards its inputs and forgets only records nothing depends on
  // (`t` depends on each of its inputs until it is forgotten itself, last).
  for (const TaskKey& d : t.dependents) {
    Task& dt = tasks_.at(d);
    if (dt.status != TaskStatus::kWaiting) continue;
    bool ready = std::all_of(dt.spec.deps.begin(), dt.spec.deps.end(),
                             [&](const TaskKey& k) { return tasks_.at(k).status == TaskStatus::kMemory; });
    if (ready) on_ready(dt, out);
  }
  for (const TaskKey& d : t.spec.deps) maybe_release(d, out);
  maybe_release(key, out);
  fill_queue_for(worker, out);
}

SchedulerState::Task* SchedulerState::take_report(WorkerId worker, const TaskKey& key) {
  auto it = tasks_.find(key);
  if (!workers_.contains(worker) || it == tasks_.end() || it->second.status != TaskStatus::kProcessing ||
      it->second.processing_on != worker) {
    ++ignored_reports_;
    return nullptr;
  }
  Task& t = it->second;
  forget_steal(t);
  unassign(t);
  return &t;
}

void SchedulerState::task_erred(WorkerId worker, const TaskKey& key, const std::string& message, Commands& out,
                                TaskTiming timing) {
  Task* t = take_report(worker, key);
  if (!t) return;
  stream_.record({timing.now, timing.now, key, worker.value, 0, timing.thread, t->array ? t->array->op_index : uint16_t{0},
                  TaskEventKind::kError});
  fail_task(*t, message, workers_.at(worker).info.name, key, out);
  fill_queue_for(worker, out);
}

void SchedulerState::task_missing_deps(WorkerId worker, const TaskKey& key, const std::vector<TaskKey>& missing,
                                       Commands& out) {
  Task* report = take_report(worker, key);
  if (!report) return;
  Task& t = *report;
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

void SchedulerState::notify_ready(Task& t, Commands& out) {
  for (ClientId c : t.wanted_by) out.ready.push_back({c, t.spec.key, t.spec.dtype, t.spec.shape, t.who_has});
}

void SchedulerState::fail_task(Task& t, const std::string& message, const std::string& worker, const TaskKey& origin,
                               Commands& out) {
  fail_task(t, std::make_shared<const TaskError>(TaskError{message, worker, origin}), out);
}

void SchedulerState::fail_task(Task& t, std::shared_ptr<const TaskError> error, Commands& out) {
  std::vector<Task*> stack{&t};
  std::vector<TaskKey> touched;
  const TaskError& e = *error;
  std::string origin_op = tasks_.count(e.origin) ? tasks_.at(e.origin).spec.op : t.spec.op;
  while (!stack.empty()) {
    Task* cur = stack.back();
    stack.pop_back();
    transition(*cur, TaskStatus::kErred);
    cur->error = error;
    for (ClientId c : cur->wanted_by) out.failed.push_back({c, cur->spec.key, e.origin, origin_op, e.worker, e.message});
    for (const TaskKey& d : cur->spec.deps) touched.push_back(d);
    for (const TaskKey& d : cur->dependents) {
      Task& dt = tasks_.at(d);
      if (dt.status == TaskStatus::kWaiting || dt.status == TaskStatus::kQueued) stack.push_back(&dt);
    }
    touched.push_back(cur->spec.key);
  }
  for (const TaskKey& k : touched) maybe_release(k, out);
}

}  // namespace rsdat::sched
