#include "worker/worker_state.hpp"

#include <algorithm>

namespace rsdat::worker {

namespace {

std::vector<TaskKey> unique_deps(const TaskSpec& spec) {
  std::vector<TaskKey> deps = spec.deps;
  std::sort(deps.begin(), deps.end());
  deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
  return deps;
}

// kLegal[from][to]: the table of legal transitions. A task starts fetching (and goes
// ready at once when it has all its inputs); it leaves through forgotten, but never
// while it runs: a running task is cancelled instead, and forgotten once done.
constexpr bool kLegal[6][6] = {
    //            fetching ready  executing cancelled done   forgotten
    /* fetch  */ {false,   true,  false,    false,    false, true},
    /* ready  */ {false,   false, true,     false,    false, true},
    /* exec   */ {false,   false, false,    true,     true,  false},
    /* cancel */ {false,   false, false,    false,    true,  false},
    /* done   */ {false,   false, false,    false,    false, true},
    /* forgot */ {false,   false, false,    false,    false, false},
};

}  // namespace

const char* task_state_name(TaskState s) {
  switch (s) {
    case TaskState::kFetching: return "fetching";
    case TaskState::kReady: return "ready";
    case TaskState::kExecuting: return "executing";
    case TaskState::kCancelled: return "cancelled";
    case TaskState::kDone: return "done";
    case TaskState::kForgotten: return "forgotten";
  }
  return "?";
}

void WorkerState::transition(Task& t, TaskState to) {
  RSDAT_CHECK_MSG(kLegal[static_cast<int>(t.state)][static_cast<int>(to)],
                  std::string("illegal transition ") + task_state_name(t.state) + " -> " + task_state_name(to) +
                      " of " + t.spec.key.to_string());
  if (t.state == TaskState::kReady) ready_.erase(ready_key(t));
  if (to == TaskState::kReady) ready_.emplace(ready_key(t), t.spec.key);
  if (to == TaskState::kExecuting) ++executing_;
  if (to == TaskState::kDone) --executing_;
  t.state = to;
}

void WorkerState::add_tasks(std::vector<Assignment> tasks, WorkerCommands& out) {
  std::vector<TaskKey> to_fetch;
  for (auto& a : tasks) {
    const TaskKey key = a.spec.key;
    if (tasks_.count(key)) continue;  // assigned twice: the first one stands
    if (store_.contains(key) && !released_.count(key)) {
      out.reports.push_back({key, true, store_.get(key)->nbytes(), "", 0, 0, {}});
      continue;
    }
    std::unordered_map<TaskKey, const std::vector<std::string>*> where;
    for (const auto& [k, holders] : a.dep_locations) where[k] = &holders;
    Task t;
    t.order = next_order_++;
    for (const TaskKey& dep : unique_deps(a.spec)) {
      ++input_refs_[dep];
      if (store_.contains(dep)) continue;
      ++t.missing;
      auto [it, fresh] = fetches_.try_emplace(dep);
      Fetch& f = it->second;
      f.waiting.push_back(key);
      if (auto n = a.dep_nbytes.find(dep); n != a.dep_nbytes.end() && !f.in_flight) f.nbytes = n->second;
      if (auto w = where.find(dep); w != where.end()) {
        for (const auto& h : *w->second) {
          if (std::find(f.holders.begin(), f.holders.end(), h) == f.holders.end()) f.holders.push_back(h);
        }
      }
      if (fresh) to_fetch.push_back(dep);
    }
    t.spec = std::move(a.spec);
    Task& placed = tasks_.emplace(key, std::move(t)).first->second;
    if (placed.missing == 0) transition(placed, TaskState::kReady);
  }
  start_fetches(to_fetch, out);
  try_execute(out);
}

void WorkerState::start_fetches(const std::vector<TaskKey>& keys, WorkerCommands& out) {
  for (const TaskKey& k : keys) fetch_queue_.push_back(k);
  pump_fetches(out);
}

void WorkerState::pump_fetches(WorkerCommands& out) {
  std::map<std::string, std::vector<TaskKey>> batches;
  std::vector<TaskKey> exhausted;
  while (!fetch_queue_.empty()) {
    const TaskKey k = fetch_queue_.front();
    auto it = fetches_.find(k);
    if (it == fetches_.end() || it->second.in_flight) {
      fetch_queue_.pop_front();
      continue;
    }
    Fetch& f = it->second;
    if (f.waiting.empty() && !f.replica) {  // every task that wanted it went away
      fetches_.erase(it);
      fetch_queue_.pop_front();
      continue;
    }
    if (f.next >= f.holders.size()) {
      fetch_queue_.pop_front();
      exhausted.push_back(k);
      continue;
    }
    const uint64_t cost = fetch_cost(f);
    if (fetch_bytes_in_flight_ > 0 && fetch_bytes_in_flight_ + cost > fetch_budget_) break;
    fetch_queue_.pop_front();
    f.in_flight = true;
    fetch_bytes_in_flight_ += cost;
    batches[f.holders[f.next++]].push_back(k);
  }
  for (auto& [peer, ks] : batches) out.fetch.push_back({peer, std::move(ks)});
  for (const TaskKey& k : exhausted) {
    Fetch f = std::move(fetches_.at(k));
    fetches_.erase(k);
    for (const TaskKey& waiting : f.waiting) {
      auto it = tasks_.find(waiting);
      if (it == tasks_.end() || it->second.state != TaskState::kFetching) continue;
      TaskReport r;
      r.key = waiting;
      r.ok = false;
      r.message = "no holder could give input " + k.to_string();
      r.missing_deps.push_back(k);
      out.reports.push_back(std::move(r));
      drop_task(waiting);
    }
  }
}

void WorkerState::try_execute(WorkerCommands& out) {
  while (!paused_ && busy_slots_ < static_cast<size_t>(nthreads_) && !ready_.empty()) {
    std::vector<TaskKey> batch;
    const uint64_t id = next_batch_++;
    uint64_t batch_input_bytes = 0;
    while (!ready_.empty() && batch.size() < kMaxBatch) {
      TaskKey key = ready_.begin()->second;
      Task& t = tasks_.at(key);
      uint64_t input_bytes = 0;
      for (const TaskKey& dep : t.spec.deps) input_bytes += store_.nbytes(dep);
      // Small tasks run in batches, unless their inputs are large (then the per-task
      // cost is small anyway, and a batch would hold all their inputs in memory at once).
      const bool small = t.spec.output_nbytes() < kSmallTaskBytes && input_bytes < kSmallTaskInputBytes;
      if (!batch.empty() && (!small || batch_input_bytes + input_bytes > kSmallTaskInputBytes)) break;
      batch_input_bytes += input_bytes;
      transition(t, TaskState::kExecuting);
      batch_of_[key] = id;
      batch.push_back(key);
      if (!small) break;
    }
    batch_left_[id] = batch.size();
    ++busy_slots_;
    out.execute.push_back(std::move(batch));
  }
}

bool WorkerState::steal(const TaskKey& key, WorkerCommands& out) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return false;
  if (it->second.state == TaskState::kExecuting || it->second.state == TaskState::kCancelled) return false;
  drop_task(key);
  try_execute(out);
  return true;
}

void WorkerState::replicate(const std::vector<std::pair<TaskKey, std::vector<std::string>>>& keys,
                            const std::unordered_map<TaskKey, uint64_t>& nbytes, WorkerCommands& out) {
  std::vector<TaskKey> start;
  for (const auto& [key, holders] : keys) {
    if (store_.contains(key)) {
      out.acquired.push_back(key);
      continue;
    }
    auto [it, fresh] = fetches_.try_emplace(key);
    it->second.replica = true;
    if (!fresh) continue;  // already on its way for a task
    it->second.holders = holders;
    if (auto n = nbytes.find(key); n != nbytes.end()) it->second.nbytes = n->second;
    start.push_back(key);
  }
  start_fetches(start, out);
}

void WorkerState::set_paused(bool paused, WorkerCommands& out) {
  if (paused_ == paused) return;
  paused_ = paused;
  if (!paused_) try_execute(out);
}

// ---- memory policy ----------------------------------------------------------

MemoryStep WorkerState::check_memory(double now, WorkerCommands& out) {
  RSDAT_CHECK_MSG(memory_phase_ == MemoryPhase::kIdle, "a memory round began before the last one ended");
  if (limits_.limit == 0) return MemoryStep::kDone;
  if (now - last_memory_check_ < kMemoryCheckInterval) return MemoryStep::kDone;
  last_memory_check_ = now;
  round_spilled_ = 0;
  const uint64_t target = threshold(limits_.target);
  if (store_.memory_bytes() > target) round_spilled_ += spill(target, now, out);
  memory_phase_ = MemoryPhase::kFirstReading;
  return MemoryStep::kReadRss;
}

MemoryStep WorkerState::memory_reading(const MemoryReading& reading, WorkerCommands& out) {
  const uint64_t spill_at = threshold(limits_.spill);
  const uint64_t rss = reading.rss_bytes;
  switch (memory_phase_) {
    case MemoryPhase::kIdle:
      RSDAT_CHECK_MSG(false, "a memory reading outside a round");
      break;
    case MemoryPhase::kFirstReading:
      if (rss <= spill_at) return decide_pause(rss, out);
      // Freed chunk buffers wait in the pool for reuse: give them back first.
      if (reading.now - last_trim_ > kTrimInterval) {
        last_trim_ = reading.now;
        memory_phase_ = MemoryPhase::kTrimmed;
        return MemoryStep::kTrimThenRead;
      }
      [[fallthrough]];  // trimmed lately: this reading stands
    case MemoryPhase::kTrimmed:
      if (rss > spill_at) {
        const uint64_t excess = rss - spill_at;
        const uint64_t held = store_.memory_bytes();
        round_spilled_ += spill(held > excess ? held - excess : 0, reading.now, out);
        // What was spilled (in this round, to the target too) sits in the pool now.
        if (round_spilled_ > 0) {
          last_trim_ = reading.now;
          memory_phase_ = MemoryPhase::kSpilled;
          return MemoryStep::kTrimThenRead;
        }
      }
      return decide_pause(rss, out);
    case MemoryPhase::kSpilled:
      return decide_pause(rss, out);
  }
  return MemoryStep::kDone;
}

MemoryStep WorkerState::decide_pause(uint64_t rss_bytes, WorkerCommands& out) {
  memory_phase_ = MemoryPhase::kIdle;
  const bool pause = rss_bytes > threshold(limits_.pause);
  if (pause != paused_) {
    out.notices.push_back({pause ? Notice::Kind::kPaused : Notice::Kind::kResumed, rss_bytes, Status::ok()});
    set_paused(pause, out);
  }
  return MemoryStep::kDone;
}

uint64_t WorkerState::spill(uint64_t target, double now, WorkerCommands& out) {
  Status error;
  const uint64_t spilled = store_.spill_to(target, &error);
  // The disk is full or gone: chunks stay in memory; say so now and then.
  if (!error.is_ok() && now - last_spill_error_ > kSpillErrorInterval) {
    out.notices.push_back({Notice::Kind::kSpillFailed, 0, std::move(error)});
    last_spill_error_ = now;
  }
  return spilled;
}

void WorkerState::fetch_arrived(const TaskKey& key, Chunk chunk, WorkerCommands& out) {
  auto it = fetches_.find(key);
  if (it == fetches_.end()) return;  // not asked for (or no longer): drop it
  Fetch f = std::move(it->second);
  fetches_.erase(it);
  if (f.in_flight) fetch_bytes_in_flight_ -= std::min(fetch_bytes_in_flight_, fetch_cost(f));
  const uint64_t nbytes = chunk.nbytes();
  store_.put(key, std::move(chunk));
  out.acquired.push_back(key);
  if (!input_refs_.count(key)) released_.erase(key);
  bool counted = false;  // one transfer, counted once
  for (const TaskKey& waiting : f.waiting) {
    auto t = tasks_.find(waiting);
    if (t == tasks_.end() || t->second.state != TaskState::kFetching) continue;
    if (!counted) t->second.bytes_fetched += nbytes;
    counted = true;
    if (--t->second.missing == 0) transition(t->second, TaskState::kReady);
  }
  pump_fetches(out);
  try_execute(out);
}

void WorkerState::fetch_failed(const TaskKey& key, WorkerCommands& out) {
  auto it = fetches_.find(key);
  if (it == fetches_.end()) return;
  if (it->second.in_flight) {
    fetch_bytes_in_flight_ -= std::min(fetch_bytes_in_flight_, fetch_cost(it->second));
    it->second.in_flight = false;
  }
  fetch_queue_.push_front(key);  // its next holder, before fetches not yet begun
  pump_fetches(out);
  try_execute(out);
}

void WorkerState::execute_finished(const TaskKey& key, Result<Chunk> result, double seconds, WorkerCommands& out,
                                   uint32_t thread) {
  auto it = tasks_.find(key);
  RSDAT_CHECK_MSG(it != tasks_.end(), "finished a task not executing here: " + key.to_string());
  Task& t = it->second;
  const bool cancelled = t.state == TaskState::kCancelled;
  transition(t, TaskState::kDone);
  auto b = batch_of_.find(key);
  if (--batch_left_.at(b->second) == 0) {
    batch_left_.erase(b->second);
    --busy_slots_;
  }
  batch_of_.erase(b);
  if (!cancelled) {
    TaskReport r;
    r.key = key;
    r.seconds = seconds;
    r.thread = thread;
    r.bytes_fetched = t.bytes_fetched;
    if (result.ok()) {
      r.ok = true;
      r.nbytes = result->nbytes();
      store_.put(key, std::move(result).value());
    } else {
      r.message = result.status().message();
    }
    out.reports.push_back(std::move(r));
  }
  drop_task(key);
  try_execute(out);
}

void WorkerState::release(const std::vector<TaskKey>& keys, WorkerCommands& out) {
  for (const TaskKey& key : keys) {
    auto it = tasks_.find(key);
    if (it != tasks_.end()) {
      switch (it->second.state) {
        case TaskState::kExecuting:
          transition(it->second, TaskState::kCancelled);  // runs on; its result is dropped
          break;
        case TaskState::kCancelled:
          break;  // released twice
        default:
          drop_task(key);
      }
    }
    if (store_.contains(key)) {
      if (input_refs_.count(key)) {
        released_.insert(key);
      } else {
        store_.erase(key);
      }
    }
  }
  try_execute(out);
}

void WorkerState::drop_task(const TaskKey& key) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return;
  Task& t = it->second;
  transition(t, TaskState::kForgotten);
  for (const TaskKey& dep : unique_deps(t.spec)) {
    if (auto f = fetches_.find(dep); f != fetches_.end()) {
      auto& w = f->second.waiting;
      w.erase(std::remove(w.begin(), w.end(), key), w.end());
    }
    unref_input(dep);
  }
  tasks_.erase(it);
}

void WorkerState::unref_input(const TaskKey& key) {
  auto it = input_refs_.find(key);
  if (it == input_refs_.end()) return;
  if (--it->second > 0) return;
  input_refs_.erase(it);
  if (released_.erase(key)) store_.erase(key);
}

std::optional<TaskState> WorkerState::task_state(const TaskKey& key) const {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return std::nullopt;
  return it->second.state;
}

const TaskSpec* WorkerState::spec(const TaskKey& key) const {
  auto it = tasks_.find(key);
  return it == tasks_.end() ? nullptr : &it->second.spec;
}

Result<std::vector<Chunk>> WorkerState::inputs(const TaskKey& key) const {
  const Task& t = tasks_.at(key);
  std::vector<Chunk> in;
  in.reserve(t.spec.deps.size());
  for (const TaskKey& dep : t.spec.deps) {
    Result<Chunk> c = store_.load(dep);
    if (!c.ok()) return io_error("input " + dep.to_string() + ": " + c.status().message());
    in.push_back(std::move(c).value());
  }
  return in;
}

void WorkerState::validate() const {
  store_.validate();
  size_t executing = 0, ready = 0;
  std::unordered_map<TaskKey, int> refs;
  for (const auto& [key, t] : tasks_) {
    RSDAT_CHECK(t.spec.key == key);
    RSDAT_CHECK_MSG(t.state != TaskState::kDone && t.state != TaskState::kForgotten,
                    std::string("a ") + task_state_name(t.state) + " task left in the table");
    if (t.state == TaskState::kExecuting || t.state == TaskState::kCancelled) {
      ++executing;
      RSDAT_CHECK_MSG(batch_of_.count(key), "a running task in no batch");
    }
    if (t.state == TaskState::kReady) {
      ++ready;
      auto r = ready_.find(ready_key(t));
      RSDAT_CHECK(r != ready_.end() && r->second == key);
    }
    size_t missing = 0;
    for (const TaskKey& dep : unique_deps(t.spec)) {
      ++refs[dep];
      if (!store_.contains(dep)) {
        ++missing;
        if (t.state == TaskState::kFetching) {
          auto f = fetches_.find(dep);
          RSDAT_CHECK_MSG(f != fetches_.end(), "input neither held nor being fetched");
          RSDAT_CHECK(std::count(f->second.waiting.begin(), f->second.waiting.end(), key) == 1);
        }
      }
    }
    if (t.state == TaskState::kFetching) RSDAT_CHECK(missing == t.missing && missing > 0);
    if (t.state != TaskState::kFetching) RSDAT_CHECK_MSG(missing == 0, "task past fetching without its inputs");
  }
  RSDAT_CHECK(executing == executing_);
  RSDAT_CHECK(batch_of_.size() == executing_ && batch_left_.size() == busy_slots_);
  size_t in_batches = 0;
  for (const auto& [id, left] : batch_left_) {
    RSDAT_CHECK_MSG(left > 0, "a finished batch still holds a thread");
    in_batches += left;
  }
  RSDAT_CHECK(in_batches == executing_);
  for (const auto& [key, id] : batch_of_) RSDAT_CHECK(batch_left_.count(id) && tasks_.count(key));
  RSDAT_CHECK(busy_slots_ <= static_cast<size_t>(nthreads_));
  RSDAT_CHECK(ready == ready_.size());
  RSDAT_CHECK_MSG(paused_ || ready_.empty() || busy_slots_ == static_cast<size_t>(nthreads_),
                  "a ready task waits while a thread is free");
  RSDAT_CHECK(refs == input_refs_);
  for (const TaskKey& k : released_) RSDAT_CHECK(input_refs_.count(k) && store_.contains(k));
  uint64_t in_flight = 0;
  const std::unordered_set<TaskKey> queued(fetch_queue_.begin(), fetch_queue_.end());
  for (const auto& [k, f] : fetches_) {
    in_flight += f.in_flight ? fetch_cost(f) : 0;
    RSDAT_CHECK_MSG(f.in_flight || queued.count(k), "a fetch neither asked for nor queued");
    RSDAT_CHECK(f.next <= f.holders.size() && (!f.in_flight || f.next > 0));
    for (const TaskKey& w : f.waiting) {
      auto t = tasks_.find(w);
      RSDAT_CHECK_MSG(t != tasks_.end() && t->second.state == TaskState::kFetching,
                      "a fetch waited on by a task not fetching");
    }
  }
  RSDAT_CHECK_MSG(in_flight == fetch_bytes_in_flight_, "fetch bytes in flight miscounted");
  RSDAT_CHECK_MSG(memory_phase_ == MemoryPhase::kIdle || limits_.limit > 0, "a memory round without limits");
}

}  // namespace rsdat::worker
