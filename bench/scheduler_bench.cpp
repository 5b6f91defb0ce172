// rsdat-scheduler-bench: SchedulerState alone, no sockets: a graph of about 1,000,000
// tasks (a sum tree over 875,000 root chunks with 8 inputs per combine) on 1,000
// simulated workers, driven to completion by finishing every assigned task in order.
// Reports task transitions per second on one core, and the scheduler's memory per task:
// resident memory grown from before the graph is made until all of it is added, over its
// tasks (an upper bound: the allocator keeps some of what was freed on the way).
//
//   build/bin/rsdat-scheduler-bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <malloc.h>

#include <chrono>
#include <deque>
#include <unordered_map>

#include "core/sysinfo.hpp"
#include "core/task_group.hpp"
#include "scheduler/memory_plan.hpp"
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
  double submit_seconds = 0, bytes_per_task = 0;
  for (auto _ : state) {
    state.PauseTiming();
    malloc_trim(0);  // what an earlier run freed is not counted as kept
    const uint64_t rss_before = current_rss_bytes();
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
    const auto t0 = std::chrono::steady_clock::now();
    if (!s.submit_graph(ClientId{1}, std::move(graph), wanted, out).is_ok()) {
      state.SkipWithError("graph refused");
      break;
    }
    submit_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bytes_per_task = static_cast<double>(current_rss_bytes() - std::min(current_rss_bytes(), rss_before)) /
                     static_cast<double>(tasks);
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
  state.counters["submit_s"] = submit_seconds;
  state.counters["bytes_per_task"] = bytes_per_task;
  state.counters["transitions_per_s"] =
      benchmark::Counter(static_cast<double>(transitions) * state.iterations(), benchmark::Counter::kIsRate);
}

// The graph of ones({n}, {1}).sum() as the client sends it: a fill group, a partial
// per block, then combines of 8 until one is left.
std::vector<GraphPart> sum_parts(uint64_t n, TaskKey& result) {
  std::vector<GraphPart> parts;
  auto group = [&](uint64_t token, uint64_t blocks, const char* op, uint64_t fan_in, uint64_t input_blocks) {
    TaskGroup g;
    g.token = token;
    g.op = op;
    g.chunks = {std::vector<int64_t>(blocks, 1)};
    g.params = {"p"};
    if (fan_in > 0) {
      g.inputs = {{token - 1, {input_blocks}}};
      DepPattern p = DepPattern::same(0, 1);
      p.stride[0] = static_cast<int64_t>(fan_in);
      p.count[0] = static_cast<uint32_t>(fan_in);
      g.deps = {p};
    }
    parts.emplace_back(std::move(g));
  };
  group(1, n, "fill", 0, 0);
  group(2, n, "reduce_partial", 1, n);
  uint64_t token = 2, blocks = n;
  while (blocks > 1) {
    uint64_t next = (blocks + 7) / 8;
    group(++token, next, "reduce_combine", 8, blocks);
    blocks = next;
  }
  result = {token, 0};
  return parts;
}

// Expanding the parts and adding them, on one core: what stands between a big graph's
// arrival and its first task (the graph checked and its first step of tasks added, as
// rsdat-scheduler does), and until all are added.
void BM_SubmitSumGraph(benchmark::State& state) {
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  double expand_seconds = 0, submit_seconds = 0, all_seconds = 0;
  uint64_t tasks = 0;
  double bytes_per_task = 0;
  for (auto _ : state) {
    state.PauseTiming();
    malloc_trim(0);  // what an earlier run freed is not counted as kept
    const uint64_t rss_before = current_rss_bytes();
    TaskKey result;
    std::vector<GraphPart> parts = sum_parts(n, result);
    SchedulerState s;
    Commands out;
    for (int w = 0; w < 2; ++w) s.add_worker(WorkerId{static_cast<uint64_t>(w + 1)}, {"w", "tcp://w", 1, 1ull << 34}, 0, out);
    s.add_client(ClientId{1});
    state.ResumeTiming();
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<TaskSpec> graph = expand_parts(std::move(parts));
    const auto t1 = std::chrono::steady_clock::now();
    tasks = graph.size();
    if (!s.submit_graph(ClientId{1}, std::move(graph), {result}, out, kGraphStep).is_ok()) {
      state.SkipWithError("graph refused");
    }
    if (out.assign.empty()) state.SkipWithError("no task started");
    const auto t2 = std::chrono::steady_clock::now();
    s.finish_pending(out);
    const auto t3 = std::chrono::steady_clock::now();
    expand_seconds = std::chrono::duration<double>(t1 - t0).count();
    submit_seconds = std::chrono::duration<double>(t2 - t1).count();
    all_seconds = std::chrono::duration<double>(t3 - t1).count();
    state.PauseTiming();
    const uint64_t rss_after = current_rss_bytes();
    bytes_per_task = static_cast<double>(rss_after - std::min(rss_after, rss_before)) / static_cast<double>(tasks);
    {
      SchedulerState gone = std::move(s);  // freeing the records is not part of it
    }
    state.ResumeTiming();
  }
  state.counters["tasks"] = static_cast<double>(tasks);
  state.counters["expand_s"] = expand_seconds;
  state.counters["first_step_s"] = submit_seconds;
  state.counters["all_added_s"] = all_seconds;
  state.counters["bytes_per_task"] = bytes_per_task;
}

// The memory plan's replay of the million-task tree (memory_plan.hpp) on range(1)
// workers: what the scheduler spends on it before a big graph that may not fit starts.
void BM_ProjectMemory(benchmark::State& state) {
  std::vector<TaskKey> wanted;
  const std::vector<TaskSpec> graph = tree_graph(static_cast<uint64_t>(state.range(0)), wanted);
  PlanGraph plan;
  std::unordered_map<TaskKey, uint32_t> index;
  for (const TaskSpec& t : graph) index.emplace(t.key, static_cast<uint32_t>(index.size()));
  plan.dep_begin.push_back(0);
  for (const TaskSpec& t : graph) {
    plan.nbytes.push_back(t.output_nbytes());
    plan.order.push_back(plan.order.size());
    plan.wanted.push_back(t.key == wanted[0]);
    plan.token.push_back(t.key.token);
    for (const TaskKey& d : t.deps) plan.deps.push_back(index.at(d));
    plan.dep_begin.push_back(plan.deps.size());
  }
  // Workers of one thread, the roots spread over their queues in order.
  const std::vector<uint32_t> threads(static_cast<size_t>(state.range(1)), 1);
  uint64_t roots = 0;
  for (const TaskSpec& t : graph) roots += t.deps.empty();
  plan.queue.resize(plan.size());
  for (size_t i = 0, r = 0; i < plan.size(); ++i) {
    if (graph[i].deps.empty()) plan.queue[i] = static_cast<uint32_t>(r++ * threads.size() / roots);
  }
  uint64_t peak = 0;
  for (auto _ : state) peak = project_memory(plan, threads).peak_bytes;
  state.counters["tasks"] = static_cast<double>(plan.size());
  state.counters["peak_bytes"] = static_cast<double>(peak);
}

}  // namespace

BENCHMARK(BM_SubmitSumGraph)->Arg(1000000)->Unit(benchmark::kSecond)->Iterations(1);
BENCHMARK(BM_MillionTaskGraph)->Args({875000, 1000})->Unit(benchmark::kSecond)->Iterations(1);
BENCHMARK(BM_ProjectMemory)->Args({875000, 2000})->Args({10000, 2})->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
