// Placement policy: pure functions over a read-only view of the cluster.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "core/task.hpp"

namespace rsdat::sched {

struct Candidate {
  WorkerId id;
  uint64_t missing_bytes = 0;   // input bytes this worker would have to fetch
  double queued_seconds = 0;    // estimated work already queued there
  uint32_t nthreads = 1;
  // The task's inputs it lacks plus its output would take this worker past its pause
  // threshold (known from heartbeats): chosen only when every candidate would be.
  bool over_memory = false;
};

// The candidate minimising missing_bytes / bandwidth + queued_seconds / nthreads among
// those not over_memory (all, when every one is); ties go to the earlier candidate.
// nullopt when there is none.
std::optional<WorkerId> choose_worker(std::span<const Candidate> candidates, double bandwidth);

// Co-assignment of root tasks: the `index`-th of `count` sibling roots goes to the
// worker at the returned position, so neighbouring chunks (reduced together later)
// are produced on the same worker and each worker gets a contiguous share.
size_t root_worker_index(uint64_t index, uint64_t count, size_t num_workers);

}  // namespace rsdat::sched
