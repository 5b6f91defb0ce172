// The memory plan: how many bytes a graph holds at once when it runs the way the
// scheduler runs it. A pure function over plain data; SchedulerState gathers the
// graph before anything of it is added, and refuses it or warns the client with the
// answer (docs/architecture.md, "the memory plan").
//
// Every task's output size is known before it runs, so the projection replays the
// graph in rounds, each worker thread running one task per round, as the cluster runs
// it: each worker takes ready tasks that are not roots first, lowest order first, then
// the roots of its own queue in their order (SchedulerState queues roots per worker by
// their position in their array), and a worker whose queue is empty takes from the far
// end of the longest one. A task's users become ready one round after it ran (its
// report's round trip, in which the threads go on with roots). A task's output counts
// from the round it runs; an input is freed once its last user has run, unless it is
// wanted (wanted results stay until the client releases them). Chunks the cluster held
// before (inputs from earlier computations) are not part of the projection: the caller
// adds them.
//
// Thread-safe: no shared state.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace rsdat::sched {

// The graph, one entry per task to run, in an order where inputs come before their
// users. deps of task i: deps[dep_begin[i] .. dep_begin[i + 1]), indices of other
// tasks, or kHeldInput for a chunk that is held already.
struct PlanGraph {
  static constexpr uint32_t kHeldInput = UINT32_MAX;
  std::vector<uint64_t> nbytes;
  std::vector<uint64_t> order;  // SchedulerState's priority: lower runs first
  std::vector<char> wanted;
  std::vector<uint64_t> token;  // the array each task makes, to name it
  std::vector<uint32_t> queue;  // roots: the worker whose queue holds it (index into threads)
  std::vector<size_t> dep_begin;  // size n + 1
  std::vector<uint32_t> deps;
  size_t size() const { return nbytes.size(); }
};

struct ArrayHeld {
  uint64_t token = 0;
  uint64_t bytes = 0;
  uint64_t chunks = 0;
};

struct MemoryProjection {
  uint64_t peak_bytes = 0;     // held at once by the graph's tasks, at most
  uint64_t final_bytes = 0;    // held when it is done (its wanted results)
  uint64_t rounds = 0;         // rounds it took
  std::vector<ArrayHeld> at_peak;  // what was held at the peak, largest first (at most 4 arrays)
};

// Replays `graph` on workers with threads[w] threads each (at least one worker).
MemoryProjection project_memory(const PlanGraph& graph, std::span<const uint32_t> threads);

}  // namespace rsdat::sched
