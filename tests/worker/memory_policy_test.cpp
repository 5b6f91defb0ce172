// WorkerState's memory policy: spilling to the target, spilling the RSS excess after a
// trim, pausing and resuming, and a failing disk. The disk is a fake in memory and
// time is passed in: no files, no sleeps.
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "checked_worker_state.hpp"

namespace rsdat::worker {
namespace {

constexpr uint64_t kMiB = 1 << 20;

// Spill files in a map. `full` makes every write fail as a full disk does.
class MemoryDisk : public SpillDisk {
 public:
  Result<std::string> make_directory(const std::string& parent) override {
    return parent + "/spill-" + std::to_string(++dirs_made);
  }
  void remove_directory(const std::string& dir) override {
    const std::string prefix = dir + "/";
    for (auto it = files.lower_bound(prefix); it != files.end() && it->first.rfind(prefix, 0) == 0;) {
      it = files.erase(it);
    }
  }
  Status write_file(const std::string& path, const uint8_t* data, size_t n) override {
    ++writes;
    if (full) return io_error("cannot write " + path + ": No space left on device");
    files[path].assign(data, data + n);
    return Status::ok();
  }
  Status read_file(const std::string& path, uint8_t* out, size_t n) override {
    ++reads;
    auto it = files.find(path);
    if (it == files.end()) return io_error("cannot open " + path);
    if (it->second.size() != n) return io_error(path + " has another size than the chunk it holds");
    std::memcpy(out, it->second.data(), n);
    return Status::ok();
  }
  void remove_file(const std::string& path) override { files.erase(path); }

  std::map<std::string, std::vector<uint8_t>> files;
  bool full = false;
  int dirs_made = 0;
  int writes = 0;
  int reads = 0;
};

TaskSpec mib_task(uint64_t token, uint64_t chunk) {
  TaskSpec s;
  s.key = {token, chunk};
  s.op = "fill";
  s.dtype = DType::kUInt8;
  s.shape = {static_cast<int64_t>(kMiB)};  // large: runs alone
  return s;
}

Chunk mib_chunk(uint8_t value) {
  Chunk c = Chunk::allocate(DType::kUInt8, {static_cast<int64_t>(kMiB)});
  std::memset(c.mutable_bytes(), value, kMiB);
  return c;
}

// A limit of 10 MiB: chunks spill above 6 MiB in memory, RSS above 7 MiB spills the
// excess, above 8 MiB pauses.
class MemoryPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(state.enable_spill("mem", false, disk).is_ok());
    state.set_memory_limits({.limit = 10 * kMiB, .target = 0.6, .spill = 0.7, .pause = 0.8});
  }
  // Runs `n` root tasks of `token` one after the other; their 1 MiB results stay in the
  // store, held by nothing else (so they may spill).
  void hold(uint64_t token, uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) {
      out.clear();
      state.add_tasks({{mib_task(token, i), {}}}, out);
      ASSERT_EQ(out.execute.size(), 1u);
      state.execute_finished({token, i}, mib_chunk(static_cast<uint8_t>(i)), 0, out);
    }
    out.clear();
  }
  // One round at `now`, given the RSS readings in turn; the steps it asked for, from
  // check_memory() on. A reading is a check failure if the round asks for none.
  std::vector<MemoryStep> round(double now, std::vector<uint64_t> rss) {
    std::vector<MemoryStep> steps{state.check_memory(now, out)};
    for (uint64_t r : rss) {
      EXPECT_NE(steps.back(), MemoryStep::kDone) << "the round ended before reading " << r;
      if (steps.back() == MemoryStep::kDone) break;
      steps.push_back(state.memory_reading({r, now}, out));
    }
    EXPECT_EQ(steps.back(), MemoryStep::kDone) << "the round wants more readings";
    return steps;
  }
  using S = MemoryStep;

  std::shared_ptr<MemoryDisk> disk = std::make_shared<MemoryDisk>();
  CheckedWorkerState state{1};  // validated after every event
  WorkerCommands out;
};

TEST_F(MemoryPolicyTest, ChunksAboveTheTargetSpillLeastRecentlyUsedFirst) {
  hold(1, 8);
  ASSERT_TRUE(state.store().get({1, 0}).has_value());  // (1, 0) is now the most recently used
  EXPECT_EQ(round(1.0, {kMiB}), (std::vector<S>{S::kReadRss, S::kDone}));
  EXPECT_EQ(state.store().memory_bytes(), 6 * kMiB);
  EXPECT_EQ(state.store().spilled_bytes(), 2 * kMiB);
  EXPECT_EQ(disk->files.size(), 2u);
  EXPECT_TRUE(out.notices.empty());
  EXPECT_FALSE(state.paused());
  // (1, 1) and (1, 2) went to disk, (1, 0) did not.
  EXPECT_EQ(state.store().get({1, 0})->bytes()[10], 0);
  EXPECT_EQ(disk->reads, 0);
  EXPECT_EQ(state.store().get({1, 1})->bytes()[10], 1);
  EXPECT_EQ(disk->reads, 1);
}

TEST_F(MemoryPolicyTest, ARoundRunsAtMostEveryFiveMilliseconds) {
  hold(1, 7);
  round(1.0, {0});
  EXPECT_EQ(state.store().memory_bytes(), 6 * kMiB);
  hold(2, 1);
  EXPECT_EQ(state.check_memory(1.004, out), MemoryStep::kDone);  // too soon: nothing happens
  EXPECT_EQ(state.store().memory_bytes(), 7 * kMiB);
  round(1.006, {0});
  EXPECT_EQ(state.store().memory_bytes(), 6 * kMiB);
}

TEST_F(MemoryPolicyTest, RssAboveTheSpillThresholdTrimsFirstThenSpillsTheExcess) {
  hold(1, 5);  // below the target
  // 7.5 MiB: trim first; still 7.5 MiB: half a MiB spills (one chunk), then trim again.
  EXPECT_EQ(round(1.0, {15 * kMiB / 2, 15 * kMiB / 2, 13 * kMiB / 2}),
            (std::vector<S>{S::kReadRss, S::kTrimThenRead, S::kTrimThenRead, S::kDone}));
  EXPECT_EQ(state.store().spilled_bytes(), kMiB);
  EXPECT_EQ(state.store().memory_bytes(), 4 * kMiB);
  // The trim was enough: nothing spills.
  EXPECT_EQ(round(2.0, {15 * kMiB / 2, 7 * kMiB}), (std::vector<S>{S::kReadRss, S::kTrimThenRead, S::kDone}));
  EXPECT_EQ(state.store().spilled_bytes(), kMiB);
  // Below the threshold: no trim.
  EXPECT_EQ(round(3.0, {7 * kMiB}), (std::vector<S>{S::kReadRss, S::kDone}));
  EXPECT_FALSE(state.paused());
  EXPECT_TRUE(out.notices.empty());
}

TEST_F(MemoryPolicyTest, TrimmingBeforeSpillingIsAtMostEvery100Milliseconds) {
  hold(1, 5);
  round(1.0, {15 * kMiB / 2, 6 * kMiB});  // trimmed at 1.0
  EXPECT_EQ(state.store().spilled_bytes(), 0u);
  // 50 ms later the reading stands without a trim: the excess spills, then the pool
  // is trimmed (after spilling always).
  EXPECT_EQ(round(1.05, {15 * kMiB / 2, 6 * kMiB}), (std::vector<S>{S::kReadRss, S::kTrimThenRead, S::kDone}));
  EXPECT_EQ(state.store().spilled_bytes(), kMiB);
  // That trim counts too: 50 ms after it, no trim first again.
  EXPECT_EQ(round(1.1, {15 * kMiB / 2, 6 * kMiB}), (std::vector<S>{S::kReadRss, S::kTrimThenRead, S::kDone}));
  EXPECT_EQ(state.store().spilled_bytes(), 2 * kMiB);
}

// What spilled to the target in the round counts for the trim after spilling, even
// when the excess finds nothing more to spill.
TEST_F(MemoryPolicyTest, SpillingToTheTargetCountsForTheTrimAfterSpilling) {
  hold(1, 7);  // one above the target
  std::vector<Chunk> in_use;  // being sent, say: these cannot spill
  for (uint64_t i = 1; i < 7; ++i) in_use.push_back(*state.store().get({1, i}));
  EXPECT_EQ(round(1.0, {8 * kMiB, 8 * kMiB, 8 * kMiB}),
            (std::vector<S>{S::kReadRss, S::kTrimThenRead, S::kTrimThenRead, S::kDone}));
  EXPECT_EQ(state.store().spilled_bytes(), kMiB);  // (1, 0), to the target
  EXPECT_EQ(state.store().memory_bytes(), 6 * kMiB);
  EXPECT_FALSE(state.paused());  // 8 MiB is not above the pause threshold
}

TEST_F(MemoryPolicyTest, PausesAboveThePauseThresholdAndResumesBelow) {
  hold(1, 2);
  // Two tasks: one runs, one waits for the thread.
  state.add_tasks({{mib_task(2, 0), {}}, {mib_task(2, 1), {}}}, out);
  ASSERT_EQ(out.execute.size(), 1u);
  const TaskKey running = out.execute[0][0];
  const TaskKey waiting = running == TaskKey{2, 0} ? TaskKey{2, 1} : TaskKey{2, 0};
  out.clear();
  // 9 MiB: trim, spill the 2 MiB excess (both chunks), trim; 8.5 MiB is still above
  // the pause threshold.
  EXPECT_EQ(round(1.0, {9 * kMiB, 9 * kMiB, 17 * kMiB / 2}),
            (std::vector<S>{S::kReadRss, S::kTrimThenRead, S::kTrimThenRead, S::kDone}));
  EXPECT_EQ(state.store().memory_bytes(), 0u);
  EXPECT_TRUE(state.paused());
  ASSERT_EQ(out.notices.size(), 1u);
  EXPECT_EQ(out.notices[0].kind, Notice::Kind::kPaused);
  EXPECT_EQ(out.notices[0].rss_bytes, 17 * kMiB / 2);
  out.clear();
  // The running task finishes; nothing new starts, nor does a new task.
  state.execute_finished(running, mib_chunk(7), 0, out);
  ASSERT_EQ(out.reports.size(), 1u);
  EXPECT_TRUE(out.execute.empty());
  state.add_tasks({{mib_task(3, 0), {}}}, out);
  EXPECT_TRUE(out.execute.empty());
  EXPECT_EQ(state.ready(), 2u);
  out.clear();
  // Still above it, with nothing left to spill but the new result: no second notice.
  round(2.0, {9 * kMiB, 9 * kMiB, 9 * kMiB});
  EXPECT_TRUE(state.paused());
  EXPECT_TRUE(out.notices.empty());
  // Below it: the worker resumes and starts what is ready.
  EXPECT_EQ(round(3.0, {6 * kMiB}), (std::vector<S>{S::kReadRss, S::kDone}));
  EXPECT_FALSE(state.paused());
  ASSERT_EQ(out.notices.size(), 1u);
  EXPECT_EQ(out.notices[0].kind, Notice::Kind::kResumed);
  EXPECT_EQ(out.notices[0].rss_bytes, 6 * kMiB);
  ASSERT_EQ(out.execute.size(), 1u);
  EXPECT_EQ(out.execute[0][0], waiting);
}

TEST_F(MemoryPolicyTest, AFullDiskKeepsChunksInMemoryAndIsReportedEveryThirtySeconds) {
  hold(1, 8);
  disk->full = true;
  round(1.0, {0});
  EXPECT_EQ(state.store().memory_bytes(), 8 * kMiB);
  EXPECT_EQ(disk->writes, 1);  // the first failure ends the round
  EXPECT_TRUE(disk->files.empty());
  ASSERT_EQ(out.notices.size(), 1u);
  EXPECT_EQ(out.notices[0].kind, Notice::Kind::kSpillFailed);
  const std::string& why = out.notices[0].error.message();
  EXPECT_NE(why.find("cannot spill " + TaskKey{1, 0}.to_string()), std::string::npos) << why;
  EXPECT_NE(why.find("No space left"), std::string::npos) << why;
  out.clear();
  round(2.0, {0});
  round(30.9, {0});
  EXPECT_EQ(disk->writes, 3);
  EXPECT_TRUE(out.notices.empty());  // said once in 30 s
  round(31.5, {0});
  EXPECT_EQ(out.notices.size(), 1u);
  out.clear();
  disk->full = false;  // room again
  round(32.0, {0});
  EXPECT_TRUE(out.notices.empty());
  EXPECT_EQ(state.store().memory_bytes(), 6 * kMiB);
  EXPECT_EQ(state.store().get({1, 0})->bytes()[99], 0);
}

TEST(MemoryPolicy, WithoutALimitNothingSpillsOrPauses) {
  auto disk = std::make_shared<MemoryDisk>();
  CheckedWorkerState state(1);
  ASSERT_TRUE(state.enable_spill("mem", false, disk).is_ok());
  WorkerCommands out;
  state.add_tasks({{mib_task(1, 0), {}}}, out);
  state.execute_finished({1, 0}, mib_chunk(1), 0, out);
  EXPECT_EQ(state.check_memory(1.0, out), MemoryStep::kDone);
  EXPECT_EQ(disk->writes, 0);
  EXPECT_FALSE(state.paused());
}

TEST(MemoryPolicyDeathTest, AReadingOutsideARoundIsACheckFailure) {
  WorkerState state(1);
  state.set_memory_limits({.limit = 10 * kMiB});
  WorkerCommands out;
  EXPECT_DEATH(state.memory_reading({kMiB, 1.0}, out), "a memory reading outside a round");
}

}  // namespace
}  // namespace rsdat::worker
