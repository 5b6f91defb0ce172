#include "scheduler/placement.hpp"

#include <algorithm>

namespace rsdat::sched {

std::vector<Candidate> build_candidates(std::span<const PlacementInput> inputs, std::span<const WorkerLoad> holders,
                                        std::span<const WorkerLoad> others, uint64_t output_bytes,
                                        double memory_pause) {
  std::vector<Candidate> candidates;
  auto add = [&](const WorkerLoad& w) {
    for (const Candidate& c : candidates)
      if (c.id == w.id) return;
    Candidate c{w.id, 0, w.occupancy, w.nthreads};
    for (const PlacementInput& in : inputs) {
      const bool held = std::find(in.holders.begin(), in.holders.end(), w.id) != in.holders.end();
      if (!held && std::find(in.fetching.begin(), in.fetching.end(), w.id) == in.fetching.end()) {
        c.missing_bytes += in.nbytes;
      }
    }
    if (w.memory_limit > 0) {
      const double pause = memory_pause * static_cast<double>(w.memory_limit);
      c.over_memory = static_cast<double>(w.rss_bytes + c.missing_bytes + output_bytes) > pause;
    }
    candidates.push_back(c);
  };
  for (const WorkerLoad& w : holders) add(w);
  const WorkerLoad* idle = nullptr;
  for (const WorkerLoad& w : others) {
    if (!idle || w.occupancy < idle->occupancy) idle = &w;
  }
  if (idle) add(*idle);
  return candidates;
}

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

std::vector<StealPlan> plan_steals(std::span<const WorkerLoad> workers) {
  std::vector<StealPlan> plans;
  for (size_t i = 0; i < workers.size(); ++i) {
    const WorkerLoad& thief = workers[i];
    if (thief.roots_waiting) continue;
    const size_t load = thief.processing + thief.incoming_steals;
    const double threads = std::max<uint32_t>(1, thief.nthreads);
    const double thief_wait = thief.incoming_steals > 0 ? 0 : thief.occupancy / threads;
    if (load >= thief.nthreads && (thief.incoming_steals > 0 || thief_wait > kShortWork)) continue;
    const size_t want = load < thief.nthreads ? thief.nthreads - load : 1;
    std::optional<size_t> victim;
    double worst = 0;
    for (size_t j = 0; j < workers.size(); ++j) {
      const WorkerLoad& v = workers[j];
      if (j == i || v.processing <= v.nthreads) continue;  // nothing waits there
      const double wait = v.occupancy / std::max<uint32_t>(1, v.nthreads);
      if (!victim || wait > worst) {
        victim = j;
        worst = wait;
      }
    }
    if (!victim) continue;
    const size_t spare = workers[*victim].processing - workers[*victim].nthreads;
    plans.push_back({i, *victim, std::min(want, spare), thief_wait, worst});
  }
  return plans;
}

size_t rank_steal_candidates(std::span<StealCandidate> candidates) {
  const size_t considered = std::min(candidates.size(), kStealConsidered);
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<long>(considered), candidates.end(),
                    [](const StealCandidate& a, const StealCandidate& b) {
                      if (a.root != b.root) return a.root;
                      return a.root ? a.order > b.order : a.order < b.order;
                    });
  return considered;
}

std::vector<TaskKey> choose_steals(std::span<const StealCandidate> ranked, const StealPlan& plan, double bandwidth) {
  std::vector<TaskKey> taken;
  for (const StealCandidate& c : ranked) {
    if (taken.size() >= plan.count) break;
    if (2.0 * static_cast<double>(c.missing_bytes) / bandwidth + plan.thief_wait >= plan.victim_wait) continue;
    taken.push_back(c.key);
  }
  return taken;
}

}  // namespace rsdat::sched
