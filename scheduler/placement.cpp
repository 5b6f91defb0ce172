#include "scheduler/placement.hpp"

#include <algorithm>

namespace rsdat::sched {

std::optional<WorkerId> choose_worker(std::span<const Candidate> candidates, double bandwidth) {
  std::optional<WorkerId> best;
  double best_cost = 0;
  const bool any_fits = std::any_of(candidates.begin(), candidates.end(), [](const Candidate& c) { return !c.over_memory; });
  for (const auto& c : candidates) {
    if (any_fits && c.over_memory) continue;
    double cost = static_cast<double>(c.missing_bytes) / bandwidth +
                  c.queued_seconds / static_cast<double>(c.nthreads == 0 ? 1 : c.nthreads);
    if (!best || cost < best_cost) {
      best = c.id;
      best_cost = cost;
    }
  }
  return best;
}

size_t root_worker_index(uint64_t index, uint64_t count, size_t num_workers) {
  if (num_workers == 0 || count == 0) return 0;
  if (index >= count) index = count - 1;
  return static_cast<size_t>((static_cast<unsigned __int128>(index) * num_workers) / count);
}

}  // namespace rsdat::sched
