// WorkerState: what a worker decides, with no sockets, threads, clocks or logging.
//
// Events: tasks assigned by the scheduler, keys released, a fetched chunk arrived
// or could not be had, a kernel finished, a memory reading. Decisions: fetch these
// keys from that peer (batched per peer), execute this task, report these results
// and replicas, spill these chunks, pause or resume, and what is worth a line in the
// log. WorkerServer does the I/O. Ready tasks run in priority order: tasks that
// consume results before new root tasks, so memory is freed before more is produced;
// the latest assigned consumer first. Time comes in as seconds on a monotonic clock
// (`now`); the only disk access is the store's spill files, through its SpillDisk.
//
// Task states (docs/architecture.md): fetching -> ready -> executing -> done, and
// forgotten once the task leaves (stolen, released, inputs missing, or done);
// executing -> cancelled when it is released while running (its result is dropped).
// Every change of state goes through transition(), against one table of legal
// transitions; validate() checks every invariant.
//
//   WorkerState state(nthreads);
//   WorkerCommands out;
//   state.add_tasks(std::move(assignments), out);  // out.fetch, out.execute, ...
//   state.execute_finished(key, std::move(result), seconds, out);
//
// Thread-compatible: WorkerServer uses it from its event-loop thread only.
#pragma once

#include <algorithm>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/status.hpp"
#include "core/task.hpp"
#include "worker/memory_store.hpp"

namespace rsdat::worker {

struct Assignment {
  TaskSpec spec;
  std::vector<std::pair<TaskKey, std::vector<std::string>>> dep_locations;  // peer addresses
  std::unordered_map<TaskKey, uint64_t> dep_nbytes;  // sizes of inputs, when the scheduler says
};

// A task's state on this worker (see the class comment).
enum class TaskState : uint8_t { kFetching, kReady, kExecuting, kCancelled, kDone, kForgotten };
const char* task_state_name(TaskState s);

// The limits the memory policy keeps to: fractions of `limit`, as WorkerOptions has them.
struct MemoryLimits {
  uint64_t limit = 0;   // bytes; 0: no limit, and the policy does nothing
  double target = 0.6;  // chunks in memory above target x limit spill, least recently used first
  double spill = 0.7;   // process RSS above spill x limit: trim the buffer pool, then spill the excess
  double pause = 0.8;   // process RSS above pause x limit: no new task starts until it falls
};
// What a round of the memory policy asks of the server next.
enum class MemoryStep {
  kDone,          // the round is over
  kReadRss,       // read the process RSS and pass it to memory_reading()
  kTrimThenRead,  // return freed buffers to the system (trim_buffer_pool()), then the same
};
struct MemoryReading {
  uint64_t rss_bytes = 0;  // resident set size of the worker process
  double now = 0;          // seconds on a monotonic clock
};

// What the server should write to its log: the state decides, the server words it.
struct Notice {
  enum class Kind {
    kPaused,       // process memory went above the pause threshold: no new task starts
    kResumed,      // it fell below again
    kSpillFailed,  // a spill file could not be written: chunks stay in memory
  };
  Kind kind = Kind::kPaused;
  uint64_t rss_bytes = 0;  // kPaused, kResumed: the reading that decided it
  Status error;            // kSpillFailed: why, naming the chunk
};

struct FetchCommand {
  std::string peer;
  std::vector<TaskKey> keys;
};
struct TaskReport {
  TaskKey key;
  bool ok = false;
  uint64_t nbytes = 0;
  std::string message;
  double seconds = 0;
  uint32_t thread = 0;  // where it ran: 0 the event loop, n executor thread n
  uint64_t bytes_fetched = 0;
  std::vector<TaskKey> missing_deps;
};
struct WorkerCommands {
  std::vector<FetchCommand> fetch;
  // Each inner list runs on one executor thread, in order: one large task, or up to
  // kMaxBatch small ones (so tiny tasks do not pay a thread hand-off each).
  std::vector<std::vector<TaskKey>> execute;
  std::vector<TaskReport> reports;
  std::vector<TaskKey> acquired;
  std::vector<Notice> notices;  // for the log, in order
  bool empty() const {
    return fetch.empty() && execute.empty() && reports.empty() && acquired.empty() && notices.empty();
  }
  void clear() {
    fetch.clear();
    execute.clear();
    reports.clear();
    acquired.clear();
    notices.clear();
  }
};

class WorkerState {
 public:
  explicit WorkerState(int nthreads) : nthreads_(nthreads < 1 ? 1 : nthreads) {}

  void add_tasks(std::vector<Assignment> tasks, WorkerCommands& out);
  void release(const std::vector<TaskKey>& keys, WorkerCommands& out);
  void fetch_arrived(const TaskKey& key, Chunk chunk, WorkerCommands& out);
  void fetch_failed(const TaskKey& key, WorkerCommands& out);
  // `thread`: where it ran (0 the event loop, n executor thread n), for the scheduler's task stream.
  void execute_finished(const TaskKey& key, Result<Chunk> result, double seconds, WorkerCommands& out,
                        uint32_t thread = 0);

  // For the server: the spec and inputs of a task it was told to execute.
  const TaskSpec* spec(const TaskKey& key) const;
  // Its inputs, or why one cannot be had (a spill file that cannot be read back).
  Result<std::vector<Chunk>> inputs(const TaskKey& key) const;
  // The chunks held here. Reading one (get, load) may bring it back from disk; only
  // the memory policy below sends chunks to disk.
  const MemoryStore& store() const { return store_; }
  // Lets the store spill, into a new directory under each of `local_directories` made
  // by `disk` (default: plain files), the next tried when one is full. Errors: kIO.
  Status enable_spill(const std::vector<std::string>& local_directories, bool compress = false,
                      std::shared_ptr<SpillDisk> disk = nullptr) {
    return store_.enable_spill(local_directories, compress, std::move(disk));
  }
  Status enable_spill(const std::string& local_directory, bool compress = false,
                      std::shared_ptr<SpillDisk> disk = nullptr) {
    return store_.enable_spill(local_directory, compress, std::move(disk));
  }

  // The memory policy. A round, at most every 5 ms (a call sooner returns kDone at
  // once): chunks in memory above the target spill down to it, least recently used
  // first; then, given the process RSS, above the spill threshold freed buffers are
  // trimmed first (at most every 100 ms) and the excess spills (and buffers are
  // trimmed again); then above the pause threshold no new task starts, and below it
  // they start again. Tasks running finish either way. The server runs a round as:
  //
  //   MemoryStep step = state.check_memory(now, out);
  //   while (step != MemoryStep::kDone) {
  //     if (step == MemoryStep::kTrimThenRead) trim_buffer_pool();
  //     step = state.memory_reading({current_rss_bytes(), now}, out);
  //   }
  //
  // Pausing, resuming and a failed spill (at most once every 30 s) come out as notices.
  void set_memory_limits(const MemoryLimits& limits) { limits_ = limits; }
  MemoryStep check_memory(double now, WorkerCommands& out);
  // Gives the round the RSS its last step asked for. Outside a round (no check_memory()
  // before, or the round said kDone) it is a check failure.
  MemoryStep memory_reading(const MemoryReading& reading, WorkerCommands& out);
  // Gives up `key` if it has not started (work stealing): true when it was dropped.
  bool steal(const TaskKey& key, WorkerCommands& out);
  // Fetches chunks to hold for the cluster (a retiring worker hands them over); each
  // one that arrives, or was here already, is reported in `acquired`.
  void replicate(const std::vector<std::pair<TaskKey, std::vector<std::string>>>& keys,
                 const std::unordered_map<TaskKey, uint64_t>& nbytes, WorkerCommands& out);
  // Bytes of inputs being fetched at once, at most (one fetch always may run): more
  // wait their turn, so that a worker given many tasks does not fill its memory with
  // their inputs before it can run them.
  void set_fetch_budget(uint64_t bytes) { fetch_budget_ = std::max<uint64_t>(bytes, 1); }
  uint64_t fetch_bytes_in_flight() const { return fetch_bytes_in_flight_; }
  bool paused() const { return paused_; }

  size_t num_tasks() const { return tasks_.size(); }
  std::optional<TaskState> task_state(const TaskKey& key) const;
  size_t executing() const { return executing_; }
  size_t ready() const { return ready_.size(); }
  size_t fetches_in_flight() const { return fetches_.size(); }
  void validate() const;

 private:
  struct Task {
    TaskSpec spec;
    TaskState state = TaskState::kFetching;  // changed by transition() only
    size_t missing = 0;
    uint64_t order = 0;
    uint64_t bytes_fetched = 0;
  };
  // The one place a task's state changes: checks `to` against the table of legal
  // transitions and keeps ready_ and executing_ in step.
  void transition(Task& t, TaskState to);
  struct Fetch {
    std::vector<std::string> holders;
    size_t next = 0;  // holders[next - 1] is being asked
    std::vector<TaskKey> waiting;
    uint64_t nbytes = 0;     // 0: unknown
    bool in_flight = false;  // asked of holders[next - 1], counted in fetch_bytes_in_flight_
    bool replica = false;    // wanted for itself (replicate), not only by tasks
  };
  static constexpr uint64_t kUnknownFetchBytes = 8 << 20;
  uint64_t fetch_cost(const Fetch& f) const { return f.nbytes ? f.nbytes : kUnknownFetchBytes; }
  void pump_fetches(WorkerCommands& out);  // starts queued fetches within the budget

  void start_fetches(const std::vector<TaskKey>& keys, WorkerCommands& out);
  void try_execute(WorkerCommands& out);
  // While paused no new task starts; tasks running finish. Unpausing starts what is ready.
  void set_paused(bool paused, WorkerCommands& out);
  // Spills down to `target` bytes in memory; a failed write becomes a notice now and then.
  uint64_t spill(uint64_t target, double now, WorkerCommands& out);
  // The last step of a memory round: pause or resume by the RSS.
  MemoryStep decide_pause(uint64_t rss_bytes, WorkerCommands& out);
  void drop_task(const TaskKey& key);  // forgets a task that will not run here
  void unref_input(const TaskKey& key);

  static constexpr size_t kMaxBatch = 32;
  static constexpr size_t kSmallTaskBytes = 64 << 10;
  static constexpr uint64_t kSmallTaskInputBytes = 4 << 20;

  int nthreads_;
  bool paused_ = false;
  std::deque<TaskKey> fetch_queue_;  // fetches waiting for budget, in order
  uint64_t fetch_bytes_in_flight_ = 0;
  uint64_t fetch_budget_ = 256 << 20;
  size_t executing_ = 0;
  size_t busy_slots_ = 0;                                  // batches running
  uint64_t next_batch_ = 0;
  std::unordered_map<TaskKey, uint64_t> batch_of_;         // executing task -> batch
  std::unordered_map<uint64_t, size_t> batch_left_;        // batch -> tasks not finished
  uint64_t next_order_ = 0;
  MemoryStore store_;
  std::unordered_map<TaskKey, Task> tasks_;
  std::unordered_map<TaskKey, Fetch> fetches_;
  // Ready tasks, first to run first: tasks with inputs before root tasks, and among
  // them the latest assigned first (it most likely reads what was just computed, still
  // in cache, and running it frees that memory), roots in the order they came.
  static std::pair<int, uint64_t> ready_key(const Task& t) {
    return t.spec.deps.empty() ? std::make_pair(1, t.order) : std::make_pair(0, ~t.order);
  }
  std::map<std::pair<int, uint64_t>, TaskKey> ready_;
  std::unordered_map<TaskKey, int> input_refs_;          // inputs of pending tasks
  std::unordered_set<TaskKey> released_;                 // released but still an input here

  // The memory policy's state between and within rounds.
  enum class MemoryPhase {
    kIdle,          // no round open
    kFirstReading,  // chunks spilled to the target; waiting for the RSS
    kTrimmed,       // the buffer pool was trimmed before spilling the excess
    kSpilled,       // the excess spilled and the pool trimmed again
  };
  static constexpr double kMemoryCheckInterval = 0.005;
  static constexpr double kTrimInterval = 0.1;         // trimming walks the heap
  static constexpr double kSpillErrorInterval = 30.0;  // between notices of a failing disk
  static constexpr double kLongAgo = -std::numeric_limits<double>::infinity();
  uint64_t threshold(double fraction) const {
    return static_cast<uint64_t>(fraction * static_cast<double>(limits_.limit));
  }
  MemoryLimits limits_;
  MemoryPhase memory_phase_ = MemoryPhase::kIdle;
  uint64_t round_spilled_ = 0;  // bytes spilled in the open round
  double last_memory_check_ = kLongAgo;
  double last_trim_ = kLongAgo;
  double last_spill_error_ = kLongAgo;
};

}  // namespace rsdat::worker
