// Placement policy: pure functions over plain, read-only data about
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

// A worker as placement sees it.
struct WorkerLoad {
  WorkerId id;
  uint32_t nthreads = 1;
  double occupancy = 0;        // estimated seconds of the work processing there
  uint64_t rss_bytes = 0;      // from its latest heartbeat
  uint64_t memory_limit = 0;   // 0: none known
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
bool worth_moving_inputs_to(bool roots_waiting, bool free_thread, bool holder_at_hand);

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

}  // namespace rsdat::sched
