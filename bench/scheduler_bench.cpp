// rsdat-scheduler-bench: SchedulerState alone, no sockets: a graph of about 1,000,000
// tasks (a sum tree over 875,000 root chunks with 8 inputs per combine) on 1,000
// simulated workers, driven to completion by finishing every assigned task in order.
// Reports task transitions per second on one core.
//
//   build/bin/rsdat-scheduler-bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <deque>

#include "scheduler/scheduler_state.hpp"

namespace {

using namespace rsdat;
using namespace rsdat::sched;

std::vector<TaskSpec> tree_graph(uint64_t roots, std::vector<TaskKey>& wanted) {
  std::vector<TaskSpec> g;
  auto make = [&](uint64_t token, uint64_t chunk, std::vector<TaskKey> deps) {
    TaskSpec t;
    t.key = {token, chunk};
    t.op = deps.empty() ? "fill" : "reduce_combine";
    t.deps = std::move(deps);
    t.dtype = DType::kFloat64;
    t.shape = {1};
    g.push_back(std::move(t));
  };
  uint64_t level_size = roots;
  for (uint64_t i = 0; i < roots; ++i) make(1, i, {});
  uint64_t token = 1;
  while (level_size > 1) {
    uint64_t next = (level_size + 7) / 8;
    for (uint64_t i = 0; i < next; ++i) {
      std::vector<TaskKey> deps;
      for (uint64_t j = i * 8; j < std::min(level_size, i * 8 + 8); ++j) deps.push_back({token, j});
      make(token + 1, i, std::move(deps));
    }
    ++token;
    level_size = next;
  }
  wanted = {{token, 0}};
  return g;
}

void BM_MillionTaskGraph(benchmark::State& state) {
  const uint64_t roots = static_cast<uint64_t>(state.range(0));
  const int workers = static_cast<int>(state.range(1));
  uint64_t transitions = 0, tasks = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<TaskKey> wanted;
    std::vector<TaskSpec> graph = tree_graph(roots, wanted);
    tasks = graph.size();
    SchedulerState s;
    Commands out;
    for (int w = 0; w < workers; ++w) {
      s.add_worker(WorkerId{static_cast<uint64_t>(w + 1)}, {"w", "tcp://w", 2, 1ull << 34}, 0, out);
    }
    s.add_client(ClientId{1});
    const uint64_t before = s.transitions();
    state.ResumeTiming();
    out.clear();
    if (!s.submit_graph(ClientId{1}, std::move(graph), wanted, out).is_ok()) {
      state.SkipWithError("graph refused");
      break;
    }
    std::deque<std::pair<WorkerId, TaskKey>> running;
    bool done = false;
    while (!done) {
      for (const auto& a : out.assign) running.emplace_back(a.worker, a.key);
      done = !out.ready.empty();
      out.clear();
      if (done || running.empty()) break;
      auto [w, k] = running.front();
      running.pop_front();
      s.task_finished(w, k, 8, 0.001, out);
    }
    transitions = s.transitions() - before;
    if (!done) state.SkipWithError("graph did not complete");
  }
  state.counters["tasks"] = static_cast<double>(tasks);
  state.counters["transitions_per_s"] =
      benchmark::Counter(static_cast<double>(transitions) * state.iterations(), benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_MillionTaskGraph)->Args({875000, 1000})->Unit(benchmark::kSecond)->Iterations(1);

BENCHMARK_MAIN();
