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
}  // namespace

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
    if (placed.missing == 0) make_ready(placed);
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
      if (it == tasks_.end() || it->second.state != State::kFetching) continue;
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

void WorkerState::make_ready(Task& t) {
  t.state = State::kReady;
  ready_.emplace(ready_key(t), t.spec.key);
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
      ready_.erase(ready_.begin());
      t.state = State::kExecuting;
      ++executing_;
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
  if (it == tasks_.end() || it->second.state == State::kExecuting) return false;
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
    if (t == tasks_.end() || t->second.state != State::kFetching) continue;
    if (!counted) t->second.bytes_fetched += nbytes;
    counted = true;
    if (--t->second.missing == 0) make_ready(t->second);
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

void WorkerState::execute_finished(const TaskKey& key, Result<Chunk> result, double seconds, WorkerCommands& out) {
  auto it = tasks_.find(key);
  RSDAT_CHECK_MSG(it != tasks_.end() && it->second.state == State::kExecuting, "finished a task not executing");
  Task& t = it->second;
  --executing_;
  auto b = batch_of_.find(key);
  if (--batch_left_.at(b->second) == 0) {
    batch_left_.erase(b->second);
    --busy_slots_;
  }
  batch_of_.erase(b);
  if (!t.cancelled) {
    TaskReport r;
    r.key = key;
    r.seconds = seconds;
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
      if (it->second.state == State::kExecuting) {
        it->second.cancelled = true;
      } else {
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
  if (t.state == State::kReady) ready_.erase(ready_key(t));
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
  size_t executing = 0, ready = 0;
  std::unordered_map<TaskKey, int> refs;
  for (const auto& [key, t] : tasks_) {
    if (t.state == State::kExecuting) ++executing;
    if (t.state == State::kReady) {
      ++ready;
      RSDAT_CHECK(ready_.count(ready_key(t)));
    }
    size_t missing = 0;
    for (const TaskKey& dep : unique_deps(t.spec)) {
      ++refs[dep];
      if (!store_.contains(dep)) {
        ++missing;
        if (t.state == State::kFetching) {
          auto f = fetches_.find(dep);
          RSDAT_CHECK_MSG(f != fetches_.end(), "input neither held nor being fetched");
          RSDAT_CHECK(std::count(f->second.waiting.begin(), f->second.waiting.end(), key) == 1);
        }
      }
    }
    if (t.state == State::kFetching) RSDAT_CHECK(missing == t.missing && missing > 0);
    if (t.state != State::kFetching) RSDAT_CHECK_MSG(missing == 0, "task past fetching without its inputs");
  }
  RSDAT_CHECK(executing == executing_);
  RSDAT_CHECK(batch_of_.size() == executing_ && batch_left_.size() == busy_slots_);
  RSDAT_CHECK(busy_slots_ <= static_cast<size_t>(nthreads_));
  RSDAT_CHECK(ready == ready_.size());
  RSDAT_CHECK(refs == input_refs_);
  for (const TaskKey& k : released_) RSDAT_CHECK(input_refs_.count(k) && store_.contains(k));
  uint64_t in_flight = 0;
  for (const auto& [k, f] : fetches_) in_flight += f.in_flight ? fetch_cost(f) : 0;
  RSDAT_CHECK_MSG(in_flight == fetch_bytes_in_flight_, "fetch bytes in flight miscounted");
}

}  // namespace rsdat::worker
