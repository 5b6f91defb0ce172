// The fixture of the SchedulerState tests (scheduler_state_test.cpp,
// scheduler_placement_test.cpp): events go through its helpers, which check the
// invariants with validate() after each one.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "scheduler/scheduler_state.hpp"

namespace rsdat::sched {

inline TaskSpec task(uint64_t token, uint64_t chunk, std::vector<TaskKey> deps = {}, size_t nbytes = 800) {
  TaskSpec t;
  t.key = {token, chunk};
  t.op = deps.empty() ? "fill" : "combine";
  t.deps = std::move(deps);
  t.dtype = DType::kFloat64;
  t.shape = {static_cast<int64_t>(nbytes / 8)};
  return t;
}

class SchedulerStateTest : public ::testing::Test {
 protected:
  explicit SchedulerStateTest(SchedulerConfig config = {}) : state(config) {}

  // Every event goes through these, so the invariants are checked after each one.
  void add_worker(uint64_t id, uint32_t threads = 1) {
    out.clear();
    state.add_worker(WorkerId{id}, {"w" + std::to_string(id), "tcp://w" + std::to_string(id), threads, 1 << 30}, 0,
                     out);
    state.validate();
  }
  void remove_worker(uint64_t id) {
    out.clear();
    state.remove_worker(WorkerId{id}, "test", out);
    state.validate();
  }
  Status submit(uint64_t client, std::vector<TaskSpec> tasks, std::vector<TaskKey> wanted) {
    out.clear();
    Status st = state.submit_graph(ClientId{client}, std::move(tasks), wanted, out);
    state.validate();
    return st;
  }
  void finish(const AssignCommand& a) { finish(a.worker, a.key, state.spec_of(a.key)->output_nbytes()); }
  void finish(WorkerId w, TaskKey k, uint64_t nbytes = 800) {
    out.clear();
    state.task_finished(w, k, nbytes, 0.001, out);
    state.validate();
  }
  void err(WorkerId w, TaskKey k, const std::string& msg) {
    out.clear();
    state.task_erred(w, k, msg, out);
    state.validate();
  }
  void release(uint64_t client, std::vector<TaskKey> keys) {
    out.clear();
    state.release_keys(ClientId{client}, keys, out);
    state.validate();
  }
  // Runs every assignment to completion, in order, until nothing is assigned.
  std::vector<ReadyCommand> run_all(size_t limit = 100000) {
    std::vector<ReadyCommand> ready = out.ready;
    std::vector<AssignCommand> pending = out.assign;
    size_t steps = 0;
    while (!pending.empty() && steps++ < limit) {
      AssignCommand a = pending.front();
      pending.erase(pending.begin());
      finish(a);
      pending.insert(pending.end(), out.assign.begin(), out.assign.end());
      ready.insert(ready.end(), out.ready.begin(), out.ready.end());
    }
    return ready;
  }

  // Client `client` submits `n` root tasks of array `token`, wants them all, and they
  // run to completion. Returns their keys.
  std::vector<TaskKey> compute_roots(uint64_t client, uint64_t token, uint64_t n) {
    std::vector<TaskSpec> tasks;
    std::vector<TaskKey> keys;
    for (uint64_t i = 0; i < n; ++i) {
      tasks.push_back(task(token, i));
      keys.push_back({token, i});
    }
    EXPECT_TRUE(submit(client, tasks, keys).is_ok());
    run_all();
    return keys;
  }

  // Worker 1, alone, computes a small chunk (1,0); then ten tasks (2,i) of `op` reading
  // it are all assigned there.
  void queue_ten_tasks_on_worker_1(const char* op = "combine") {
    add_worker(1);
    state.add_client(ClientId{1});
    ASSERT_TRUE(submit(1, {task(1, 0, {}, 800)}, {{1, 0}}).is_ok());
    finish(out.assign[0]);
    std::vector<TaskSpec> ts;
    std::vector<TaskKey> wanted;
    for (uint64_t i = 0; i < 10; ++i) {
      ts.push_back(task(2, i, {{1, 0}}));
      ts.back().op = op;
      wanted.push_back({2, i});
    }
    ASSERT_TRUE(submit(1, ts, wanted).is_ok());
    ASSERT_EQ(out.assign.size(), 10u);
  }

  SchedulerState state;
  Commands out;
};

}  // namespace rsdat::sched
