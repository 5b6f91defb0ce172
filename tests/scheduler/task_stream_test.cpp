// The task stream's ring and the per-array counts the dashboard shows, fed through
// SchedulerState with validate() after every event.
#include "scheduler/task_stream.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/scheduler/scheduler_state_fixture.hpp"

namespace rsdat::sched {
namespace {

TEST(TaskStream, KeepsTheNewestEventsInOrderWhenFull) {
  TaskStream stream(4);
  for (uint64_t i = 0; i < 10; ++i) stream.record({.start = double(i), .stop = double(i) + 0.5, .key = {1, i}});
  EXPECT_EQ(stream.recorded(), 10u);
  std::vector<TaskEvent> events;
  EXPECT_EQ(stream.copy_since(0, events), 10u);
  ASSERT_EQ(events.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(events[i].key.chunk, 6 + i);
  // From a later sequence number only what came after it.
  events.clear();
  stream.copy_since(8, events);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].key.chunk, 8u);
  events.clear();
  stream.copy_since(10, events);
  EXPECT_TRUE(events.empty());
}

TEST(TaskStream, OfSizeZeroRecordsNothing) {
  TaskStream stream(0);
  stream.record({.key = {1, 1}});
  std::vector<TaskEvent> events;
  stream.copy_since(0, events);
  EXPECT_TRUE(events.empty());
}

TEST(TaskStream, NamesOperationsOnceAndBoundsTheirNumber) {
  TaskStream stream(1);
  EXPECT_EQ(stream.op_index("add"), 0);
  EXPECT_EQ(stream.op_index("sum"), 1);
  EXPECT_EQ(stream.op_index("add"), 0);
  for (int i = 0; i < 2000; ++i) stream.op_index("op" + std::to_string(i));
  EXPECT_EQ(stream.ops().size(), TaskStream::kMaxOps);
  EXPECT_EQ(stream.ops().back(), "other");
  EXPECT_EQ(stream.op_index("yet another"), TaskStream::kMaxOps - 1);
}

class TaskEvents : public SchedulerStateTest {};

TEST_F(TaskEvents, FinishedFailedAndFetchingTasksAreRecordedWithTheirOperation) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0), task(1, 1), task(2, 0, {{1, 0}, {1, 1}})}, {{2, 0}}).is_ok());
  ASSERT_EQ(out.assign.size(), 2u);
  auto roots = out.assign;
  out.clear();
  state.task_finished(roots[0].worker, roots[0].key, 800, 0.25, out, 0, {10.0, 1});
  state.validate();
  out.clear();
  state.task_finished(roots[1].worker, roots[1].key, 800, 0.5, out, 0, {11.0, 2});
  state.validate();
  ASSERT_EQ(out.assign.size(), 1u);
  auto combine = out.assign[0];
  out.clear();
  state.task_erred(combine.worker, combine.key, "boom", out, {12.0, 1});
  state.validate();

  std::vector<TaskEvent> events;
  state.task_stream().copy_since(0, events);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kind, TaskEventKind::kCompute);
  EXPECT_DOUBLE_EQ(events[0].start, 9.75);
  EXPECT_DOUBLE_EQ(events[0].stop, 10.0);
  EXPECT_EQ(events[0].thread, 1u);
  EXPECT_EQ(events[0].worker, roots[0].worker.value);
  EXPECT_EQ(events[0].bytes, 800u);
  EXPECT_EQ(state.task_stream().ops().at(events[0].op), "fill");
  EXPECT_EQ(events[1].thread, 2u);
  EXPECT_EQ(events[2].kind, TaskEventKind::kError);
  EXPECT_EQ(state.task_stream().ops().at(events[2].op), "combine");
  EXPECT_EQ(events[2].key, (TaskKey{2, 0}));
}

TEST_F(TaskEvents, FetchedInputsAndSpillsAreRecorded) {
  add_worker(1);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0)}, {{1, 0}}).is_ok());
  auto a = out.assign.at(0);
  out.clear();
  state.task_finished(a.worker, a.key, 800, 0.5, out, 4096, {3.0, 1});
  state.validate();
  WorkerMetrics m;
  m.spilled_total = 1000;
  m.counters.spill_seconds = 0.25;
  state.heartbeat(WorkerId{1}, m, 4.0);
  m.counters.unspilled_total = 500;
  m.counters.unspill_seconds = 0.125;
  state.heartbeat(WorkerId{1}, m, 5.0);
  state.validate();

  std::vector<TaskEvent> events;
  state.task_stream().copy_since(0, events);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].kind, TaskEventKind::kTransfer);
  EXPECT_EQ(events[0].bytes, 4096u);
  EXPECT_DOUBLE_EQ(events[0].stop, 2.5);  // before the kernel started
  EXPECT_EQ(events[1].kind, TaskEventKind::kCompute);
  EXPECT_EQ(events[2].kind, TaskEventKind::kSpill);
  EXPECT_EQ(events[2].bytes, 1000u);
  EXPECT_DOUBLE_EQ(events[2].start, 3.75);
  EXPECT_EQ(events[3].kind, TaskEventKind::kUnspill);
  EXPECT_EQ(events[3].bytes, 500u);
  EXPECT_DOUBLE_EQ(events[3].start, 4.875);
}

TEST_F(TaskEvents, HeartbeatsGiveCpuAndNetworkRates) {
  add_worker(1);
  WorkerMetrics m;
  m.cpu_seconds = 1.0;
  m.counters.fetched_bytes = 100;
  state.heartbeat(WorkerId{1}, m, 10.0);
  EXPECT_EQ(state.worker_metrics(WorkerId{1})->cpu_rate, 0);  // nothing to compare with yet
  m.cpu_seconds = 1.5;
  m.counters.fetched_bytes = 300;
  m.counters.served_bytes = 1000;
  state.heartbeat(WorkerId{1}, m, 12.0);
  EXPECT_DOUBLE_EQ(state.worker_metrics(WorkerId{1})->cpu_rate, 0.25);
  EXPECT_DOUBLE_EQ(state.worker_metrics(WorkerId{1})->fetch_rate, 100);
  EXPECT_DOUBLE_EQ(state.worker_metrics(WorkerId{1})->serve_rate, 500);
}

const ArrayProgress* array_named(const SchedulerState& state, uint64_t token) {
  for (const ArrayProgress* a : state.arrays()) {
    if (a->token == token) return a;
  }
  return nullptr;
}

TEST_F(TaskEvents, ArraysCountTheirTasksByStateAndKeepTheirDependencies) {
  add_worker(1);
  state.add_client(ClientId{1});
  std::vector<TaskSpec> g;
  for (uint64_t i = 0; i < 4; ++i) g.push_back(task(1, i));
  g.push_back(task(2, 0, {{1, 0}, {1, 1}}));
  g.push_back(task(2, 1, {{1, 2}, {1, 3}}));
  g.push_back(task(3, 0, {{2, 0}, {2, 1}}));
  ASSERT_TRUE(submit(1, g, {{3, 0}}).is_ok());
  const ArrayProgress* roots = array_named(state, 1);
  ASSERT_NE(roots, nullptr);
  EXPECT_EQ(roots->op, "fill");
  EXPECT_EQ(roots->total, 4u);
  EXPECT_EQ(roots->finished, 0u);
  EXPECT_EQ(roots->in[static_cast<size_t>(TaskStatus::kProcessing)] + roots->in[static_cast<size_t>(TaskStatus::kQueued)],
            4u);
  const ArrayProgress* sums = array_named(state, 2);
  ASSERT_NE(sums, nullptr);
  EXPECT_EQ(sums->deps, std::vector<uint64_t>{1});
  EXPECT_EQ(array_named(state, 3)->deps, std::vector<uint64_t>{2});
  // Submission order: inputs first.
  auto arrays = state.arrays();
  ASSERT_EQ(arrays.size(), 3u);
  EXPECT_EQ(arrays[0]->token, 1u);
  EXPECT_EQ(arrays[2]->token, 3u);

  run_all();
  roots = array_named(state, 1);
  ASSERT_NE(roots, nullptr);
  EXPECT_EQ(roots->finished, 4u);
  EXPECT_EQ(roots->in[static_cast<size_t>(TaskStatus::kMemory)], 0u);  // released after the sums
  EXPECT_EQ(array_named(state, 3)->in[static_cast<size_t>(TaskStatus::kMemory)], 1u);

  // Released by the client: every record goes, the arrays stay among the recent ones.
  release(1, {{3, 0}});
  EXPECT_EQ(state.num_tasks(), 0u);
  const ArrayProgress* result = array_named(state, 3);
  ASSERT_NE(result, nullptr);
  EXPECT_EQ(result->live, 0u);
  EXPECT_EQ(result->finished, 1u);
  EXPECT_EQ(state.arrays().size(), 3u);
}

TEST_F(TaskEvents, OnlyTheLastForgottenArraysAreKept) {
  add_worker(1);
  state.add_client(ClientId{1});
  for (uint64_t token = 1; token <= SchedulerState::kRecentArrays + 10; ++token) {
    ASSERT_TRUE(submit(1, {task(token, 0)}, {{token, 0}}).is_ok());
    run_all();
    release(1, {{token, 0}});
  }
  auto arrays = state.arrays();
  ASSERT_EQ(arrays.size(), SchedulerState::kRecentArrays);
  EXPECT_EQ(arrays.back()->token, SchedulerState::kRecentArrays + 10);
  EXPECT_EQ(arrays.front()->token, 11u);
}

TEST_F(TaskEvents, ErredTasksAreCountedInTheirArray) {
  add_worker(1);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0), task(2, 0, {{1, 0}})}, {{2, 0}}).is_ok());
  err(out.assign.at(0).worker, {1, 0}, "boom");
  EXPECT_EQ(array_named(state, 1)->erred, 1u);
  EXPECT_EQ(array_named(state, 2)->erred, 1u);  // it cannot run: erred too
}

}  // namespace
}  // namespace rsdat::sched
