// Placement and work-stealing policy: pure functions over plain, read-only data about
// the cluster. SchedulerState gathers the inputs (workers' loads, a task's inputs) and
// applies the decisions; these functions keep no state and see no SchedulerState.
//
// Thread-safe: no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/task.hpp"

namespace rsdat::sched {

// A worker as placement and stealing see it.
struct WorkerLoad {
  WorkerId id;
  uint32_t nthreads = 1;
  double occupancy = 0;        // estimated seconds of the work processing there
  uint64_t rss_bytes = 0;      // from its latest heartbeat
  uint64_t memory_limit = 0;   // 0: none known
  size_t processing = 0;       // tasks processing there, running and queued
  size_t incoming_steals = 0;  // tasks being stolen for it
  bool roots_waiting = false;  // root tasks of its own wait there for a slot
};

// ---- placement ----------------------------------------------------------------

struct Candidate {
  WorkerId id;
  uint64_t missing_bytes = 0;   // input bytes this worker would have to fetch
  double queued_seconds = 0;    // estimated work already queued there
  uint32_t nthreads = 1;
  // The task's inputs it lacks plus its output would take this worker past its pause
  // threshold (known from heartbeats): chosen only when every candidate would be.
  bool over_memory = false;
};

// One input of a task being placed (an input read twice comes twice).
struct PlacementInput {
  uint64_t nbytes = 0;
  std::span<const WorkerId> holders;   // workers holding it
  std::span<const WorkerId> fetching;  // workers fetching it already, for another task
};

// Whether a task that is not a root may go to a worker holding none of its inputs.
// Not to one with root tasks of its own waiting: it is busy even when its queue is
// short, and moving inputs there only trades its work for a transfer. Nor to one with
// every thread taken, unless no worker holding an input can take the task: when the
// holders are busy too, which queue is a little shorter is not worth moving inputs
// for (work stealing evens the queues out later).
inline bool worth_moving_inputs_to(bool roots_waiting, bool free_thread, bool holder_at_hand) {
  return !roots_waiting && (free_thread || !holder_at_hand);
}

// The workers a task that is not a root may go to: each of `holders` (the workers
// holding its inputs) once, in their order, then the least occupied of `others` (ties
// to the earlier) unless it is among them already. A candidate misses the bytes of the
// inputs it neither holds nor is fetching; it is over_memory when those and the task's
// `output_bytes` would take its RSS past `memory_pause` times its memory limit.
// Empty when both spans are.
std::vector<Candidate> build_candidates(std::span<const PlacementInput> inputs, std::span<const WorkerLoad> holders,
                                        std::span<const WorkerLoad> others, uint64_t output_bytes,
                                        double memory_pause);

// The candidate minimising missing_bytes / bandwidth + queued_seconds / nthreads among
// those not over_memory (all, when every one is); ties go to the earlier candidate.
// nullopt when there is none.
std::optional<WorkerId> choose_worker(std::span<const Candidate> candidates, double bandwidth);

// Co-assignment of root tasks: the `index`-th of `count` sibling roots goes to the
// worker at the returned position, so neighbouring chunks (reduced together later)
// are produced on the same worker and each worker gets a contiguous share.
size_t root_worker_index(uint64_t index, uint64_t count, size_t num_workers);

// ---- work stealing --------------------------------------------------------------

// A worker whose processing tasks are estimated at less than this (seconds per
// thread) may steal though no thread is free.
inline constexpr double kShortWork = 0.005;
// Tasks of a victim looked at per steal: a victim may hold many thousands.
inline constexpr size_t kStealConsidered = 64;

// `thief` asks `victim` (indices into the workers given to plan_steals) for up to
// `count` queued tasks.
struct StealPlan {
  size_t thief = 0;
  size_t victim = 0;
  size_t count = 0;
  double thief_wait = 0;   // seconds per thread of the thief's own work (0 while it awaits steals)
  double victim_wait = 0;  // seconds per thread of the victim's work
};

// Who steals from whom, thieves in the order of `workers`. A thief has no root tasks
// of its own waiting (they come to it as slots free), and a thread free once the steals
// underway for it arrive, or only short work left (kShortWork) and no steal underway:
// small tasks keep arriving at a worker that has run out of long ones, and it is idle
// in all but name. It asks for one task per free thread (one when none is free) from
// the other worker with the longest wait per thread among those with more tasks than
// threads (ties to the earlier), never for more than that victim has beyond its threads.
std::vector<StealPlan> plan_steals(std::span<const WorkerLoad> workers);

// One of the victim's tasks that no other thief has asked for.
struct StealCandidate {
  TaskKey key;
  bool root = false;
  uint64_t order = 0;          // submission order
  uint64_t missing_bytes = 0;  // bytes of its inputs the thief does not hold
};

// Moves the candidates least likely to have started to the front and returns how many
// are worth a look (at most kStealConsidered). A worker runs consumers before roots,
// the latest assigned consumer first, and roots in order: so roots come first, the
// latest first, then consumers, the earliest first. missing_bytes is not read: it need
// be known only for those returned.
size_t rank_steal_candidates(std::span<StealCandidate> candidates);

// Which of the ranked candidates the thief takes, in their order, at most plan.count:
// those whose inputs move in well under the victim's wait (twice their transfer time
// plus the thief's own wait below it), so that estimates off by a little do not send
// chunks back and forth.
std::vector<TaskKey> choose_steals(std::span<const StealCandidate> ranked, const StealPlan& plan, double bandwidth);

}  // namespace rsdat::sched
