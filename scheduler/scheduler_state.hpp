// SchedulerState: the scheduler's decisions, with no sockets, threads or clocks.
//
// Events come in as method calls (a graph submitted, a task finished or failed, a
// worker joined, heartbeat, worker lost, keys released) with the time passed in;
// decisions go out as Commands that SchedulerServer turns into messages, batched
// per event-loop turn. validate() checks every invariant; tests call it after
// every event.
//
// Task states (DESIGN.md): released -> waiting -> queued -> processing(worker)
// -> memory(workers) | erred, and forgotten (removed) once no client and no
// dependent needs the key. Every change of state goes through transition(),
// against one table of legal transitions.
//
// One class, defined by concern across scheduler_state.cpp (transitions, views,
// validate), scheduler_workers.cpp, scheduler_intake.cpp (clients, graphs, release),
// scheduler_outcomes.cpp (workers' reports) and scheduler_placement.cpp (placement,
// stealing, duration estimates); the policies themselves are pure functions in
// placement.hpp.
//
// Thread-compatible: SchedulerServer uses it from its event-loop thread only.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/status.hpp"
#include "core/task.hpp"
#include "scheduler/key_map.hpp"
#include "scheduler/placement.hpp"
#include "scheduler/root_queues.hpp"
#include "scheduler/task_stream.hpp"

namespace rsdat::sched {

enum class TaskStatus : uint8_t { kReleased, kWaiting, kQueued, kProcessing, kMemory, kErred };
const char* task_status_name(TaskStatus s);

struct WorkerInfo {
  std::string name;
  std::string address;  // where peers and clients reach the worker
  uint32_t nthreads = 1;
  uint64_t memory_limit = 0;
  uint64_t spill_space = 0;  // bytes free for spilling when it joined
};

struct WorkerMetrics {
  uint64_t managed_bytes = 0;
  uint64_t spilled_bytes = 0;
  uint64_t spilled_total = 0;
  uint64_t rss_bytes = 0;
  uint64_t peak_rss_bytes = 0;
  uint32_t executing = 0;    // tasks running there
  bool paused = false;       // no new task starts there
  std::string pause_reason;  // the worker's words for why
  uint64_t spill_space = 0;  // bytes free for spilling, as of its last heartbeat
  double cpu_seconds = 0;    // CPU time of the worker process so far
  // Between its last two heartbeats (set by SchedulerState::heartbeat): CPU time per
  // second (1 = one core busy), and bytes per second fetched from peers and served.
  double cpu_rate = 0, fetch_rate = 0, serve_rate = 0;
  // Totals since the worker started, for /metrics.
  struct StoreIo {
    std::string store;  // "file" or scheme://host[:port]
    uint64_t read_bytes = 0, written_bytes = 0, requests = 0;
  };
  struct Counters {
    uint64_t tasks_executed = 0, tasks_failed = 0;
    uint64_t fetched_bytes = 0, fetches = 0, served_bytes = 0;
    double fetch_seconds = 0;
    uint64_t unspilled_total = 0;
    double spill_seconds = 0, unspill_seconds = 0;
    std::vector<StoreIo> stores;
  } counters;
};

// What the server sends after an event.
struct AssignCommand {
  WorkerId worker;
  const TaskSpec* spec;  // valid until the next event; later use spec_of(key)
  std::vector<std::pair<TaskKey, std::vector<WorkerId>>> dep_locations;
  TaskKey key;
  bool inline_result = false;  // a client waits for it and takes results this small inline
};
struct ReleaseCommand {
  WorkerId worker;
  TaskKey key;
};
struct ReadyCommand {
  ClientId client;
  TaskKey key;
  DType dtype;
  Shape shape;
  std::vector<WorkerId> holders;
};
struct FailedCommand {
  ClientId client;
  TaskKey wanted;   // the client's key that cannot be computed
  TaskKey failed;   // the task that raised
  std::string op;
  std::string worker;
  std::string message;
};
// Ask `victim` to give up `key` if it has not started it (work stealing).
struct StealCommand {
  WorkerId victim;
  TaskKey key;
};
// Hold a copy of `key`, fetched from `from` (a retiring worker hands over its chunks).
struct ReplicateCommand {
  WorkerId worker;
  TaskKey key;
  WorkerId from;
};
struct Commands {
  std::vector<AssignCommand> assign;
  std::vector<ReplicateCommand> replicate;
  std::vector<std::pair<WorkerId, std::string>> retired;  // may leave now (id, address): nothing depends on them
  std::vector<ReleaseCommand> release;
  std::vector<ReadyCommand> ready;
  std::vector<FailedCommand> failed;
  std::vector<StealCommand> steal;
  std::vector<std::pair<ClientId, std::string>> notices;  // words for a client (a graph that will spill)
  bool empty() const {
    return assign.empty() && release.empty() && ready.empty() && failed.empty() && steal.empty() &&
           replicate.empty() && retired.empty() && notices.empty();
  }
  void clear() {
    assign.clear();
    replicate.clear();
    retired.clear();
    release.clear();
    ready.clear();
    failed.clear();
    steal.clear();
    notices.clear();
  }
};

struct SchedulerConfig {
  double bandwidth = 1e9;            // bytes/s between workers, for placement
  double root_saturation = 2.0;      // root tasks in flight per worker thread...
  uint64_t root_bytes_budget = 64ull << 20;  // ...or while their outputs stay under this,
  double root_max_per_thread = 256;   // but never more than this many per thread
  double worker_timeout = 30.0;      // seconds without a heartbeat before a worker is lost
  int allowed_failures = 3;          // a task that was running on this many lost workers errs
  double memory_pause = 0.8;         // workers' pause threshold, a fraction of their memory limit
  double memory_target = 0.6;        // workers' spill target, a fraction of their memory limit
  size_t task_stream_size = 100000;  // task events kept for the dashboard (about 56 bytes each); 0: none
};

// When and where a reported task ran, for the task stream: the report's arrival on the
// scheduler's clock, and the worker's thread.
struct TaskTiming {
  double now = 0;
  uint32_t thread = 0;  // 0: the worker's event loop, n: its executor thread n
};

// One array (key token) of the graphs: its tasks by state, for the dashboard's progress
// and graph views. `finished` counts completions, of tasks since forgotten too.
struct ArrayProgress {
  uint64_t token = 0;
  std::string op;
  uint16_t op_index = 0;  // into task_stream().ops()
  uint64_t total = 0;     // task records ever added
  uint64_t finished = 0, erred = 0;
  uint64_t live = 0;      // task records held now
  std::array<uint64_t, 6> in{};  // of those, by TaskStatus
  std::vector<uint64_t> deps;    // tokens of the arrays its tasks read
  uint64_t order = 0;            // first seen: arrays in submission order
};

// Tasks of a big graph the scheduler adds per turn of its event loop (about 20 ms),
// between which it serves the workers already running the first ones.
inline constexpr size_t kGraphStep = 20000;

// The memory plan of the last graph submitted (memory_plan.hpp), beside what happened:
// bytes of chunks in memory by the scheduler's count (each chunk once, whatever its
// copies).
struct MemoryPlanReport {
  uint64_t held_at_submit = 0;  // in memory when it was submitted
  uint64_t projected_peak = 0;  // held_at_submit plus the replayed peak
  bool replayed = false;        // false: projected_peak is everything at once, a bound
  uint64_t measured_peak = 0;   // the most in memory at once since it was submitted
};

struct ComputationStats {
  uint64_t tasks_finished = 0;
  uint64_t bytes_transferred = 0;  // bytes of inputs moved between workers
};

class SchedulerState {
 public:
  explicit SchedulerState(SchedulerConfig config = {}) : config_(config) {}

  // Workers.
  void add_worker(WorkerId id, WorkerInfo info, double now, Commands& out);
  void remove_worker(WorkerId id, const std::string& reason, Commands& out);
  void heartbeat(WorkerId id, const WorkerMetrics& metrics, double now);
  // Any message from a worker shows it is alive.
  void touch(WorkerId id, double now);
  // Clients holding wanted keys that are neither in memory nor erred: they wait.
  std::vector<ClientId> waiting_clients() const;
  // Workers that have been silent longer than the timeout.
  std::vector<WorkerId> timed_out_workers(double now) const;
  // A worker about to leave (walltime, scale-down): it gets no more tasks; those it has
  // not finished run elsewhere; the chunks only it holds that are still needed are
  // copied to other workers. check_retiring() says (Commands::retired) when it may go:
  // then it is no longer a worker here, and nothing is recomputed.
  void worker_retiring(WorkerId id, Commands& out);
  void check_retiring(Commands& out);
  size_t num_retiring() const { return retiring_.size(); }

  // Clients.
  void add_client(ClientId id);
  // Results the client waits for that are at most `bytes` long travel with their
  // KeysReady (the worker sends them with its report): a round trip saved for small
  // results. Set per graph; 0 (the default) turns it off.
  void set_inline_bytes(ClientId id, uint64_t bytes);
  // The number the client gave the graph it submits next: its progress carries it, so
  // that the client tells it from a count of its graph before.
  void set_graph_id(ClientId id, uint64_t graph_id);
  void remove_client(ClientId id, Commands& out);
  // Adds tasks (keys already known are kept as they are) and makes the client hold
  // `wanted`. Fails, changing nothing, when a dependency is neither in the graph nor
  // known, or the graph names a key twice. The whole graph is checked and planned at
  // once; then `step` tasks are added, inputs first, and the rest by add_pending(), so
  // that the first tasks of a big graph run while the rest is added. Until then, the
  // chunks the rest will read are kept. A new graph, or a release by the client whose
  // graph it is, first adds all of the one pending.
  Status submit_graph(ClientId client, std::vector<TaskSpec> tasks, const std::vector<TaskKey>& wanted,
                      Commands& out, size_t step = SIZE_MAX);
  // Adds up to `budget` more tasks of the pending graph; true while some remain.
  bool add_pending(size_t budget, Commands& out);
  void finish_pending(Commands& out);
  bool graph_pending() const { return pending_.has_value(); }
  void release_keys(ClientId client, const std::vector<TaskKey>& keys, Commands& out);

  // Task outcomes reported by workers. Reports that do not match the state (a task
  // never assigned to that worker, a key unknown) are ignored and counted.
  // `bytes_fetched`: input bytes the worker fetched from peers for this task.
  // `timing` places the task in task_stream(): it ran for `seconds` until `timing.now`.
  void task_finished(WorkerId worker, const TaskKey& key, uint64_t nbytes, double seconds, Commands& out,
                     uint64_t bytes_fetched = 0, TaskTiming timing = {});
  void task_erred(WorkerId worker, const TaskKey& key, const std::string& message, Commands& out,
                  TaskTiming timing = {});
  void task_missing_deps(WorkerId worker, const TaskKey& key, const std::vector<TaskKey>& missing,
                         Commands& out);
  void replica_acquired(WorkerId worker, const TaskKey& key, Commands& out);

  // Work stealing. balance() finds workers with free threads while others have tasks
  // waiting, and asks the busiest to give up queued tasks whose inputs cost less to
  // move than their wait; steal_response() moves a task the victim gave up (it had
  // not started it) to the thief. The policy: plan_steals() and choose_steals() in
  // placement.hpp.
  void balance(Commands& out);
  void steal_response(WorkerId victim, const TaskKey& key, bool stolen, Commands& out);

  // Checks every invariant; a violation is a check failure.
  void validate() const;

  // Read-only views.
  size_t num_tasks() const { return tasks_.size(); }
  size_t num_workers() const { return workers_.size(); }
  std::optional<TaskStatus> status(const TaskKey& key) const;
  std::vector<WorkerId> who_has(const TaskKey& key) const;
  // The spec of a known task (nullptr when forgotten) and where it is processing.
  const TaskSpec* spec_of(const TaskKey& key) const;
  std::optional<WorkerId> processing_worker(const TaskKey& key) const;
  const WorkerInfo* worker_info(WorkerId id) const;
  const WorkerMetrics* worker_metrics(WorkerId id) const;
  std::vector<WorkerId> worker_ids() const;
  size_t keys_held_by(WorkerId id) const;
  size_t processing_on(WorkerId id) const;
  // Estimated seconds of the work processing there (running and queued).
  double occupancy(WorkerId id) const;
  uint64_t ignored_reports() const { return ignored_reports_; }
  ComputationStats stats(ClientId client) const;
  // The clients whose latest graph advanced since the last call, with its tasks done
  // and in all.
  struct GraphProgress {
    ClientId client;
    uint64_t graph_id = 0;  // as set_graph_id() gave it
    uint64_t done = 0, total = 0;
  };
  std::vector<GraphProgress> take_progress();
  uint64_t transitions() const { return transitions_; }
  uint64_t tasks_finished() const { return tasks_finished_; }
  uint64_t tasks_erred() const { return tasks_erred_; }
  // Tasks the scheduler holds in `status` now.
  uint64_t num_tasks_in(TaskStatus status) const { return tasks_in_[static_cast<size_t>(status)]; }
  uint64_t total_bytes_transferred() const { return total_bytes_transferred_; }
  // Bytes of the chunks in memory (each once), and the last graph's plan.
  uint64_t held_bytes() const { return held_bytes_; }
  // The latest task events (tasks run and failed, inputs fetched, spills).
  const TaskStream& task_stream() const { return stream_; }
  // The arrays that have task records now, and the last kRecentArrays whose records
  // are all gone (computed and released), oldest first.
  static constexpr size_t kRecentArrays = 64;
  std::vector<const ArrayProgress*> arrays() const;
  MemoryPlanReport memory_plan_report() const {
    MemoryPlanReport r = last_plan_;
    r.measured_peak = peak_held_bytes_;
    return r;
  }

 private:
  // Why a task erred: the message, the worker it came from and the task that raised,
  // shared by every task the failure spread to.
  struct TaskError {
    std::string message;
    std::string worker;
    TaskKey origin;
  };
  // A million of these for a big graph: the fields are ordered to pack, and what only
  // a failure needs is behind one pointer.
  struct Task {
    TaskSpec spec;
    std::vector<TaskKey> dependents;
    std::vector<WorkerId> who_has;
    std::vector<ClientId> wanted_by;
    uint64_t nbytes = 0;
    uint64_t order = 0;   // submission order: lower runs first
    ClientId owner;       // the client that submitted it (for per-computation counts)
    ArrayProgress* array = nullptr;  // its array's counts (arrays_)
    std::shared_ptr<const TaskError> error;  // erred: why
    std::optional<WorkerId> processing_on;
    std::optional<WorkerId> steal_to;  // a steal request for it is in flight, for this thief
    uint32_t root_group = 0;  // co-assignment: index of this root among its array's roots
    uint32_t root_count = 1;
    uint32_t pending_users = 0;  // tasks of the graph being added that will read it
    uint32_t queue_pos = 0;   // queued roots: index into root_queues_
    int32_t failures = 0;     // lost workers it was running on
    TaskStatus status = TaskStatus::kReleased;
    bool root = false;
  };
  struct Worker {
    WorkerId id;
    WorkerInfo info;
    WorkerMetrics metrics;
    double last_seen = 0;
    double heartbeat_at = -1;  // its last heartbeat; -1: none yet
    KeySet has;
    KeySet processing;
    uint64_t processing_root_bytes = 0;
    size_t processing_roots = 0;
    // What is processing there, per array (key token): occupancy() prices it with the
    // latest estimates, so work assigned before any of its kind had finished (priced
    // at a default) is seen at its real cost once some has.
    struct ArrayLoad {
      uint32_t tasks = 0;
      uint64_t bytes = 0;  // their outputs
      std::string op;
    };
    std::unordered_map<uint64_t, ArrayLoad> load;
    size_t incoming_steals = 0;  // tasks being stolen for it
  };
  struct Client {
    std::unordered_set<TaskKey> wanted;
    ComputationStats stats;
    uint64_t inline_bytes = 0;  // wanted results up to this size go to it with KeysReady
    // Its latest graph: the new tasks it needed, stats.tasks_finished when it came,
    // and the count of those done last reported (take_progress()).
    uint64_t graph_tasks = 0;
    uint64_t graph_finished_base = 0;
    uint64_t progress_reported = 0;
    uint64_t graph_id = 0;
  };

  struct Retiring {
    Worker worker;
    std::unordered_map<TaskKey, std::optional<WorkerId>> pending;  // chunk -> copy asked of
  };
  // A worker, also one retiring (it still holds chunks), or nullptr.
  Worker* find_worker(WorkerId id);
  const Worker* find_worker(WorkerId id) const;
  void ask_replicas(Retiring& r, Commands& out);

  void transition(Task& t, TaskStatus to);
  // Makes sure `key` will be computed (or reported) because something needs it.
  void ensure_computed(const TaskKey& key, Commands& out);
  void on_ready(Task& t, Commands& out);
  // Where a ready task that is not a root runs (there is a worker): the policy of
  // placement.hpp over its inputs and the workers' loads.
  WorkerId choose_worker_for(const Task& t) const;
  // Its load, but for roots_waiting (known by position only).
  WorkerLoad load_of(const Worker& w) const;
  // Places the tasks on_ready deferred, interleaving the workers that hold their inputs
  // so that no worker's queue fills up (and sends work away) before the others get theirs.
  void place_deferred(Commands& out);
  void assign(Task& t, Worker& w, Commands& out);
  void fill_queue(Commands& out);
  void fill_queue_for(WorkerId id, Commands& out);  // after a slot freed on that worker
  bool fill_worker(size_t pos, Commands& out);
  void rebuild_root_queues();
  bool has_root_slot(const Worker& w) const;
  bool needs_data(const Task& t) const;
  // Releases data nobody needs and forgets records nobody refers to, starting at `key`.
  void maybe_release(const TaskKey& key, Commands& out);
  // The task `worker` reports on, if it is processing there (taken off the worker and
  // out of any steal); else nullptr, the report counted as ignored.
  Task* take_report(WorkerId worker, const TaskKey& key);
  void fail_task(Task& t, const std::string& message, const std::string& worker, const TaskKey& origin,
                 Commands& out);
  void fail_task(Task& t, std::shared_ptr<const TaskError> error, Commands& out);
  void notify_ready(Task& t, Commands& out);
  // Estimated seconds of `tasks` tasks of one array, `bytes` of outputs in all.
  double duration_estimate(uint64_t token, const std::string& op, uint32_t tasks, uint64_t bytes) const;
  // Estimated seconds of the work processing on `w` (running and queued).
  double occupancy_of(const Worker& w) const;
  void record_duration(const Task& t, double seconds);
  // Takes `t` off the worker processing it (before it is done there).
  void unassign(Task& t);
  // The steal request for `t` no longer matters (it finished, failed or its worker left).
  void forget_steal(Task& t);

  // The memory plan of a graph about to be added (indices into `graph`; deps of task i
  // are dep_ref[dep_begin[i] ..), UINT32_MAX for a known key): refuses a graph that
  // cannot fit in the workers' memory and spill space together, tells the client of
  // one that will spill, and keeps the projection for memory_plan_report().
  Status check_memory_plan(ClientId client, const std::vector<TaskSpec>& graph, const std::vector<uint32_t>& topo,
                           const std::vector<char>& needed, const std::vector<char>& wanted,
                           const std::vector<size_t>& dep_begin, const std::vector<uint32_t>& dep_ref,
                           const std::vector<uint64_t>& order_of, const std::vector<uint32_t>& root_queue,
                           Commands& out);

  // A graph checked and planned, whose task records are being added in steps.
  struct PendingGraph {
    ClientId client;
    std::vector<TaskSpec> tasks;
    std::vector<uint32_t> topo;  // the tasks to add (what the wanted keys need), inputs first
    size_t next = 0;             // into topo
    std::vector<size_t> dep_begin;   // deps of task i: dep_ref[dep_begin[i] .. dep_begin[i + 1])...
    std::vector<uint32_t> dep_ref;   // ...index of a task of this graph, or UINT32_MAX: a known record
    std::vector<uint64_t> order_of;
    std::vector<uint32_t> root_group, root_count;
    std::vector<uint32_t> users_left;  // per task: its users to add
    std::vector<char> wanted;
    std::vector<Task*> added;
  };

  SchedulerConfig config_;
  KeyMap<Task> tasks_;
  std::map<WorkerId, Worker> workers_;
  std::map<WorkerId, Retiring> retiring_;  // out of workers_: placement never sees them
  std::unordered_map<ClientId, Client> clients_;
  // Ready tasks waiting for a worker slot (roots) or for any worker, by order.
  std::map<uint64_t, TaskKey> queue_;
  RootQueues root_queues_;  // queued roots by worker position
  std::vector<WorkerId> worker_order_;                        // positions: workers by id
  size_t queued_non_roots_ = 0;
  uint64_t next_order_ = 0;
  uint64_t held_bytes_ = 0;       // chunks in memory (Task::nbytes of each in kMemory)
  uint64_t peak_held_bytes_ = 0;  // since the last graph was submitted
  MemoryPlanReport last_plan_;
  uint64_t ignored_reports_ = 0;
  uint64_t transitions_ = 0;
  uint64_t tasks_finished_ = 0;
  uint64_t total_bytes_transferred_ = 0;
  uint64_t tasks_erred_ = 0;
  std::array<uint64_t, 6> tasks_in_{};  // by TaskStatus
  std::optional<PendingGraph> pending_;
  std::vector<TaskKey> release_stack_;  // maybe_release()'s walk (it does not re-enter)
  bool defer_ready_ = false;            // while a graph is added: collect ready tasks...
  std::vector<TaskKey> deferred_ready_;  // ...here, then place_deferred()
  // Task durations, for occupancy: one op runs at very different costs (a rechunk's
  // 64 KiB slices and its 4 MiB merges are both "assemble"), so the estimate is the
  // average of the same array's tasks (key token) once one has run, else the op's
  // seconds per output byte times the task's output bytes.
  struct OpCost {
    double seconds = 0;           // moving average per task
    double seconds_per_byte = 0;  // moving average over tasks with output bytes
  };
  std::unordered_map<std::string, OpCost> op_cost_;
  std::unordered_map<uint64_t, double> token_seconds_;  // bounded: cleared when large

  TaskStream stream_{config_.task_stream_size};
  std::unordered_map<uint64_t, ArrayProgress> arrays_;  // by token: node-based, so Task::array stays valid
  std::deque<ArrayProgress> recent_arrays_;             // forgotten whole, at most kRecentArrays
  uint64_t next_array_order_ = 0;
  ArrayProgress* intake_array_ = nullptr;  // the array of the task added last (cleared when it goes)
  // The record of `token`'s array, made with `op` when new.
  ArrayProgress& array_of(uint64_t token, const std::string& op);
  // Counts a task record forgotten; the array moves to recent_arrays_ with its last one.
  void forget_in_array(Task& t);
};

}  // namespace rsdat::sched
