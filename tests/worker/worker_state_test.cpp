// WorkerState on its own: no sockets, no threads, no sleeps.
#include "worker/worker_state.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <set>

#include "checked_worker_state.hpp"

namespace rsdat::worker {
namespace {

TaskSpec spec(uint64_t token, uint64_t chunk, std::vector<TaskKey> deps = {}) {
  TaskSpec s;
  s.key = {token, chunk};
  s.op = "fill";
  s.deps = std::move(deps);
  s.dtype = DType::kFloat64;
  s.shape = {8192};  // 64 KiB: large enough to run alone, not batched
  return s;
}

Chunk chunk_of(double v) {
  Chunk c = Chunk::allocate(DType::kFloat64, {4});
  for (int i = 0; i < 4; ++i) c.mutable_data<double>()[i] = v;
  return c;
}

class WorkerStateTest : public ::testing::Test {
 protected:
  CheckedWorkerState state{2};  // validated after every event
  WorkerCommands out;
  void check() { state.validate(); }
};

TEST_F(WorkerStateTest, RootTasksRunUpToThreadsAtOnce) {
  std::vector<Assignment> tasks;
  for (uint64_t i = 0; i < 5; ++i) tasks.push_back({spec(1, i), {}});
  state.add_tasks(tasks, out);
  check();
  EXPECT_EQ(out.execute.size(), 2u);
  EXPECT_TRUE(out.fetch.empty());
  TaskKey first = out.execute[0][0];
  out.clear();
  state.execute_finished(first, chunk_of(1), 0.1, out);
  check();
  ASSERT_EQ(out.reports.size(), 1u);
  EXPECT_TRUE(out.reports[0].ok);
  EXPECT_EQ(out.reports[0].nbytes, 32u);
  EXPECT_EQ(out.execute.size(), 1u);
  EXPECT_TRUE(state.store().contains(first));
}

TEST_F(WorkerStateTest, QueuedTasksCanBeStolenRunningOnesCannot) {
  std::vector<Assignment> tasks;
  for (uint64_t i = 0; i < 4; ++i) tasks.push_back({spec(1, i), {}});
  Assignment fetching{spec(2, 0, {{9, 0}}), {{{9, 0}, {"tcp://a"}}}};
  tasks.push_back(fetching);
  state.add_tasks(tasks, out);
  check();
  ASSERT_EQ(out.execute.size(), 2u);
  const TaskKey running = out.execute[0][0];
  out.clear();
  EXPECT_FALSE(state.steal(running, out));
  check();
  TaskKey queued{1, 3};
  EXPECT_TRUE(state.steal(queued, out));  // ready, not started
  check();
  EXPECT_TRUE(state.steal({2, 0}, out));  // still fetching its input
  check();
  EXPECT_FALSE(state.steal(queued, out));  // gone already
  EXPECT_FALSE(state.steal({7, 7}, out));  // never known
  EXPECT_EQ(state.num_tasks(), 3u);
}

TEST_F(WorkerStateTest, FetchesWaitForBudget) {
  state.set_fetch_budget(100);
  std::vector<Assignment> tasks;
  for (uint64_t i = 0; i < 3; ++i) {
    Assignment a{spec(2, i, {{1, i}}), {{{1, i}, {"tcp://a"}}}, {{{1, i}, 64}}};
    tasks.push_back(a);
  }
  state.add_tasks(tasks, out);
  check();
  ASSERT_EQ(out.fetch.size(), 1u);  // 64 + 64 > 100: one at a time
  ASSERT_EQ(out.fetch[0].keys.size(), 1u);
  EXPECT_EQ(state.fetch_bytes_in_flight(), 64u);
  TaskKey first = out.fetch[0].keys[0];
  out.clear();
  state.fetch_arrived(first, chunk_of(1), out);
  check();
  ASSERT_EQ(out.fetch.size(), 1u);  // the next one starts
  TaskKey second = out.fetch[0].keys[0];
  EXPECT_NE(second, first);
  out.clear();
  state.fetch_failed(second, out);  // no other holder: reported missing, budget freed
  check();
  EXPECT_EQ(out.reports.size(), 1u);
  ASSERT_EQ(out.fetch.size(), 1u);  // and the third starts
  EXPECT_EQ(state.fetch_bytes_in_flight(), 64u);
}

TEST_F(WorkerStateTest, MissingInputsAreFetchedBatchedPerPeer) {
  Assignment a{spec(2, 0, {{1, 0}, {1, 1}, {1, 2}}), {{{1, 0}, {"tcp://a"}}, {{1, 1}, {"tcp://a"}}, {{1, 2}, {"tcp://b"}}}};
  state.add_tasks({a}, out);
  check();
  ASSERT_EQ(out.fetch.size(), 2u);
  size_t total = 0;
  for (const auto& f : out.fetch) total += f.keys.size();
  EXPECT_EQ(total, 3u);
  EXPECT_TRUE(out.execute.empty());
  out.clear();
  state.fetch_arrived({1, 0}, chunk_of(1), out);
  state.fetch_arrived({1, 1}, chunk_of(2), out);
  check();
  EXPECT_TRUE(out.execute.empty());
  state.fetch_arrived({1, 2}, chunk_of(3), out);
  check();
  ASSERT_EQ(out.execute.size(), 1u);
  EXPECT_EQ(out.acquired.size(), 3u);
  auto inputs = state.inputs({2, 0});
  ASSERT_TRUE(inputs.ok());
  ASSERT_EQ(inputs->size(), 3u);
  EXPECT_EQ((*inputs)[2].data<double>()[0], 3.0);
  out.clear();
  state.execute_finished({2, 0}, chunk_of(6), 0.0, out);
  check();
  ASSERT_EQ(out.reports.size(), 1u);
  EXPECT_EQ(out.reports[0].bytes_fetched, 96u);
}

TEST_F(WorkerStateTest, FailedFetchTriesTheNextHolderThenReportsMissing) {
  Assignment a{spec(2, 0, {{1, 0}}), {{{1, 0}, {"tcp://a", "tcp://b"}}}};
  state.add_tasks({a}, out);
  ASSERT_EQ(out.fetch.size(), 1u);
  EXPECT_EQ(out.fetch[0].peer, "tcp://a");
  out.clear();
  state.fetch_failed({1, 0}, out);
  check();
  ASSERT_EQ(out.fetch.size(), 1u);
  EXPECT_EQ(out.fetch[0].peer, "tcp://b");
  out.clear();
  state.fetch_failed({1, 0}, out);
  check();
  ASSERT_EQ(out.reports.size(), 1u);
  EXPECT_FALSE(out.reports[0].ok);
  ASSERT_EQ(out.reports[0].missing_deps.size(), 1u);
  EXPECT_EQ(out.reports[0].missing_deps[0], (TaskKey{1, 0}));
  EXPECT_EQ(state.num_tasks(), 0u);
}

TEST_F(WorkerStateTest, ReleasedInputIsKeptUntilItsLastLocalUserRuns) {
  state.add_tasks({{spec(1, 0), {}}}, out);
  state.execute_finished({1, 0}, chunk_of(1), 0, out);
  out.clear();
  state.add_tasks({{spec(2, 0, {{1, 0}}), {}}, {spec(2, 1, {{1, 0}}), {}}}, out);
  check();
  ASSERT_EQ(out.execute.size(), 2u);
  state.release({{1, 0}}, out);
  check();
  EXPECT_TRUE(state.store().contains({1, 0}));
  state.execute_finished({2, 0}, chunk_of(2), 0, out);
  EXPECT_TRUE(state.store().contains({1, 0}));
  state.execute_finished({2, 1}, chunk_of(2), 0, out);
  check();
  EXPECT_FALSE(state.store().contains({1, 0}));
  state.release({{2, 0}, {2, 1}}, out);
  check();
  EXPECT_EQ(state.store().size(), 0u);
  EXPECT_EQ(state.store().managed_bytes(), 0u);
}

TEST_F(WorkerStateTest, ReleasingAnExecutingTaskDropsItsResult) {
  state.add_tasks({{spec(1, 0), {}}}, out);
  out.clear();
  state.release({{1, 0}}, out);
  state.execute_finished({1, 0}, chunk_of(1), 0, out);
  check();
  EXPECT_TRUE(out.reports.empty());
  EXPECT_FALSE(state.store().contains({1, 0}));
}

TEST_F(WorkerStateTest, ConsumersRunBeforeNewRoots) {
  CheckedWorkerState one(1);
  one.add_tasks({{spec(1, 0), {}}, {spec(1, 1), {}}, {spec(1, 2), {}}}, out);
  ASSERT_EQ(out.execute.size(), 1u);
  out.clear();
  one.execute_finished({1, 0}, chunk_of(1), 0, out);
  out.clear();
  // A consumer of (1,0) arrives while roots wait: it goes first.
  one.add_tasks({{spec(2, 0, {{1, 0}}), {}}}, out);
  one.execute_finished(out.execute.empty() ? TaskKey{1, 1} : out.execute[0][0], chunk_of(1), 0, out);
  one.validate();
  ASSERT_FALSE(out.execute.empty());
  EXPECT_EQ(out.execute.back().back(), (TaskKey{2, 0}));
}

// Among ready consumers the latest assigned runs first (it reads what was just made,
// and running it frees that); roots keep their order.
TEST_F(WorkerStateTest, TheLatestConsumerRunsFirstRootsInOrder) {
  CheckedWorkerState one(1);
  one.add_tasks({{spec(1, 0), {}}}, out);
  ASSERT_EQ(out.execute.size(), 1u);
  out.clear();
  one.execute_finished({1, 0}, chunk_of(1), 0, out);
  out.clear();
  one.add_tasks({{spec(1, 1), {}}, {spec(1, 2), {}}}, out);  // roots: (1,1) starts
  ASSERT_EQ(out.execute.size(), 1u);
  EXPECT_EQ(out.execute[0][0], (TaskKey{1, 1}));
  out.clear();
  one.add_tasks({{spec(2, 0, {{1, 0}}), {}}}, out);
  one.add_tasks({{spec(3, 0, {{1, 0}}), {}}}, out);
  EXPECT_TRUE(out.execute.empty());  // its one thread is busy
  std::vector<TaskKey> ran;
  for (int i = 0; i < 4; ++i) {
    TaskKey done = i == 0 ? TaskKey{1, 1} : ran.back();
    out.clear();
    one.execute_finished(done, chunk_of(1), 0, out);
    one.validate();
    if (out.execute.empty()) break;
    ran.push_back(out.execute[0][0]);
  }
  EXPECT_EQ(ran, (std::vector<TaskKey>{{3, 0}, {2, 0}, {1, 2}}));
}

// An input whose spill file cannot be read back: the task gets an error naming the
// file (it then fails like a kernel error), not a crash and not wrong data.
TEST_F(WorkerStateTest, AnInputThatCannotBeReadBackIsAnErrorForItsTask) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("rsdat-state-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    CheckedWorkerState one(1);
    ASSERT_TRUE(one.enable_spill(dir.string()).is_ok());
    one.set_memory_limits({.limit = 1 << 30, .target = 0});  // every idle chunk spills
    one.add_tasks({{spec(1, 0), {}}}, out);
    ASSERT_EQ(out.execute.size(), 1u);
    out.clear();
    Chunk big = Chunk::allocate(DType::kFloat64, {8192});
    std::fill_n(big.mutable_data<double>(), 8192, 1.0);
    one.execute_finished({1, 0}, big, 0, out);
    big = Chunk{};
    ASSERT_EQ(one.check_memory(0.0, out), MemoryStep::kReadRss);
    ASSERT_EQ(one.memory_reading({0, 0.0}, out), MemoryStep::kDone);
    ASSERT_EQ(one.store().spilled_bytes(), 8192u * 8);
    for (const auto& e : fs::directory_iterator(one.store().spill_directory()))
      if (e.path().filename() != "lock") fs::resize_file(e.path(), 100);
    out.clear();
    one.add_tasks({{spec(2, 0, {{1, 0}}), {}}}, out);
    ASSERT_EQ(out.execute.size(), 1u);
    auto in = one.inputs({2, 0});
    ASSERT_FALSE(in.ok());
    EXPECT_NE(in.status().message().find("input " + TaskKey{1, 0}.to_string()), std::string::npos) << in.status().message();
    EXPECT_NE(in.status().message().find("shorter"), std::string::npos) << in.status().message();
    one.execute_finished({2, 0}, in.status(), 0, out);
    one.validate();
    ASSERT_EQ(out.reports.size(), 1u);
    EXPECT_FALSE(out.reports[0].ok);
  }
  fs::remove_all(dir);
}

TEST_F(WorkerStateTest, SmallTasksRunInBatches) {
  CheckedWorkerState one(1);
  std::vector<Assignment> tasks;
  for (uint64_t i = 0; i < 40; ++i) {
    TaskSpec s = spec(1, i);
    s.shape = {4};
    tasks.push_back({s, {}});
  }
  one.add_tasks(tasks, out);
  one.validate();
  ASSERT_EQ(out.execute.size(), 1u);  // one thread: one batch at a time
  EXPECT_EQ(out.execute[0].size(), 32u);
  std::vector<TaskKey> first = out.execute[0];
  out.clear();
  for (size_t i = 0; i + 1 < first.size(); ++i) one.execute_finished(first[i], chunk_of(1), 0, out);
  EXPECT_TRUE(out.execute.empty());  // the batch still holds the thread
  one.execute_finished(first.back(), chunk_of(1), 0, out);
  one.validate();
  ASSERT_EQ(out.execute.size(), 1u);
  EXPECT_EQ(out.execute[0].size(), 8u);
  // A large task is never batched with small ones.
  TaskSpec big = spec(2, 0);
  out.clear();
  one.add_tasks({{big, {}}}, out);
  EXPECT_TRUE(out.execute.empty());
}

TEST_F(WorkerStateTest, KernelErrorIsReported) {
  state.add_tasks({{spec(1, 0), {}}}, out);
  out.clear();
  state.execute_finished({1, 0}, task_error("boom"), 0, out);
  check();
  ASSERT_EQ(out.reports.size(), 1u);
  EXPECT_FALSE(out.reports[0].ok);
  EXPECT_EQ(out.reports[0].message, "boom");
  EXPECT_FALSE(state.store().contains({1, 0}));
}

// Finishing a task that never started is a bug in the caller: the transition
// ready -> done is not in the table, and fails a check.
TEST(WorkerStateDeathTest, AnIllegalTransitionIsACheckFailure) {
  WorkerState one(1);
  WorkerCommands out;
  one.add_tasks({{spec(1, 0), {}}, {spec(1, 1), {}}}, out);
  ASSERT_EQ(out.execute.size(), 1u);
  const TaskKey ready = out.execute[0][0] == TaskKey{1, 0} ? TaskKey{1, 1} : TaskKey{1, 0};
  ASSERT_EQ(one.task_state(ready), TaskState::kReady);
  EXPECT_DEATH(one.execute_finished(ready, chunk_of(1), 0, out), "illegal transition ready -> done");
  one.validate();  // the check fired in a child process: this state is as it was
}

// A task released while it runs is cancelled: it cannot be stolen, a second release
// changes nothing, and its result is dropped when it finishes.
TEST_F(WorkerStateTest, AReleasedRunningTaskIsCancelled) {
  state.add_tasks({{spec(1, 0), {}}}, out);
  out.clear();
  state.release({{1, 0}}, out);
  EXPECT_EQ(state.task_state({1, 0}), TaskState::kCancelled);
  EXPECT_EQ(state.executing(), 1u);
  EXPECT_FALSE(state.steal({1, 0}, out));
  state.release({{1, 0}}, out);
  EXPECT_EQ(state.task_state({1, 0}), TaskState::kCancelled);
  state.execute_finished({1, 0}, chunk_of(1), 0, out);
  EXPECT_TRUE(out.reports.empty());
  EXPECT_EQ(state.task_state({1, 0}), std::nullopt);
  EXPECT_EQ(state.executing(), 0u);
}

TEST_F(WorkerStateTest, UnaskedChunksAreDropped) {
  state.fetch_arrived({9, 9}, chunk_of(1), out);
  check();
  EXPECT_FALSE(state.store().contains({9, 9}));
  EXPECT_TRUE(out.acquired.empty());
}

}  // namespace
}  // namespace rsdat::worker
