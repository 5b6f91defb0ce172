#include "scheduler/memory_plan.hpp"

#include <algorithm>
#include <functional>
#include <optional>
#include <queue>
#include <unordered_map>

namespace rsdat::sched {
namespace {

void add_held(ArrayHeld& a, uint64_t bytes) {
  a.bytes += bytes;
  ++a.chunks;
}
void remove_held(ArrayHeld& a, uint64_t bytes) {
  a.bytes -= bytes;
  --a.chunks;
}

}  // namespace

MemoryProjection project_memory(const PlanGraph& g, std::span<const uint32_t> threads) {
  const uint32_t one = 1;
  if (threads.empty()) threads = std::span<const uint32_t>(&one, 1);
  const size_t n = g.size();
  std::vector<uint32_t> users_left(n, 0), inputs_left(n, 0);
  std::vector<size_t> user_begin(n + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t k = g.dep_begin[i]; k < g.dep_begin[i + 1]; ++k) {
      const uint32_t d = g.deps[k];
      if (d == PlanGraph::kHeldInput) continue;
      ++users_left[d];
      ++inputs_left[i];
      ++user_begin[d + 1];
    }
  }
  for (size_t i = 0; i < n; ++i) user_begin[i + 1] += user_begin[i];
  std::vector<uint32_t> users(user_begin[n]);
  {
    std::vector<size_t> fill(user_begin.begin(), user_begin.end() - 1);
    for (size_t i = 0; i < n; ++i)
      for (size_t k = g.dep_begin[i]; k < g.dep_begin[i + 1]; ++k)
        if (g.deps[k] != PlanGraph::kHeldInput) users[fill[g.deps[k]]++] = static_cast<uint32_t>(i);
  }
  // What is held, per array (dense indices), to name the largest at the peak.
  std::vector<uint32_t> array_of(n);
  std::vector<ArrayHeld> arrays;
  {
    std::unordered_map<uint64_t, uint32_t> index;
    for (size_t i = 0; i < n; ++i) {
      auto [it, added] = index.try_emplace(g.token[i], static_cast<uint32_t>(arrays.size()));
      if (added) arrays.push_back({g.token[i], 0, 0});
      array_of[i] = it->second;
    }
  }
  // Roots (no inputs at all) wait in their worker's queue, in their order, taken from
  // the front by their worker and from the back by an idle one; the rest run when ready.
  const size_t workers = threads.size();
  std::vector<std::vector<uint32_t>> queues(workers);
  using Ready = std::pair<uint64_t, uint32_t>;  // (order, task)
  std::priority_queue<Ready, std::vector<Ready>, std::greater<>> ready;
  for (size_t i = 0; i < n; ++i) {
    if (g.dep_begin[i] == g.dep_begin[i + 1]) {
      queues[std::min<size_t>(g.queue.empty() ? 0 : g.queue[i], workers - 1)].push_back(static_cast<uint32_t>(i));
    } else if (inputs_left[i] == 0) {
      ready.emplace(g.order[i], static_cast<uint32_t>(i));
    }
  }
  std::vector<size_t> head(workers, 0), tail(workers);
  for (size_t w = 0; w < workers; ++w) {
    std::sort(queues[w].begin(), queues[w].end(), [&](uint32_t a, uint32_t b) { return g.order[a] < g.order[b]; });
    tail[w] = queues[w].size();
  }
  // The longest queue, looked for again only when the one found runs dry (or at most
  // once a round): idle workers of a big cluster would otherwise each search them all.
  size_t victim = workers;
  auto next_root = [&](size_t w) -> std::optional<uint32_t> {
    if (head[w] < tail[w]) return queues[w][head[w]++];
    if (victim == workers || head[victim] == tail[victim]) {
      victim = 0;
      for (size_t v = 1; v < workers; ++v)
        if (tail[v] - head[v] > tail[victim] - head[victim]) victim = v;
    }
    if (head[victim] == tail[victim]) return std::nullopt;
    return queues[victim][--tail[victim]];
  };
  // Tasks whose last input was made in this round, and in the one before: the
  // scheduler sends them after the report, so they run a round later.
  std::vector<uint32_t> reported, arriving;

  MemoryProjection p;
  uint64_t live = 0, described = 0;
  size_t done = 0;
  std::vector<uint32_t> round;
  auto free_chunk = [&](uint32_t i) {
    live -= g.nbytes[i];
    remove_held(arrays[array_of[i]], g.nbytes[i]);
  };
  while (done < n) {
    round.clear();
    victim = workers;
    for (uint32_t i : arriving) ready.emplace(g.order[i], i);
    arriving.swap(reported);  // reported in the last round: ready in the next
    reported.clear();
    for (size_t w = 0; w < workers; ++w) {
      for (uint32_t k = 0; k < threads[w]; ++k) {
        if (!ready.empty()) {
          round.push_back(ready.top().second);
          ready.pop();
        } else if (auto r = next_root(w)) {
          round.push_back(*r);
        } else {
          break;
        }
      }
    }
    if (round.empty() && arriving.empty()) break;  // not in dependency order: nothing more can run
    ++p.rounds;
    for (uint32_t i : round) {
      live += g.nbytes[i];
      add_held(arrays[array_of[i]], g.nbytes[i]);
    }
    if (live > p.peak_bytes) {
      p.peak_bytes = live;
      // Say what is held, again only when the peak grew by a hundredth since: a
      // snapshot costs a pass over the arrays.
      if (live - described > described / 100) {
        described = live;
        p.at_peak.clear();
        for (const ArrayHeld& a : arrays)
          if (a.bytes > 0) p.at_peak.push_back(a);
      }
    }
    for (uint32_t i : round) {
      ++done;
      for (size_t k = g.dep_begin[i]; k < g.dep_begin[i + 1]; ++k) {
        const uint32_t d = g.deps[k];
        if (d != PlanGraph::kHeldInput && --users_left[d] == 0 && !g.wanted[d]) free_chunk(d);
      }
      if (users_left[i] == 0 && !g.wanted[i]) free_chunk(i);  // nothing reads it, nor wants it
      for (size_t u = user_begin[i]; u < user_begin[i + 1]; ++u) {
        if (--inputs_left[users[u]] == 0) reported.push_back(users[u]);
      }
    }
  }
  p.final_bytes = live;
  std::sort(p.at_peak.begin(), p.at_peak.end(), [](const ArrayHeld& a, const ArrayHeld& b) {
    return a.bytes != b.bytes ? a.bytes > b.bytes : a.token < b.token;
  });
  if (p.at_peak.size() > 4) p.at_peak.resize(4);
  return p;
}

}  // namespace rsdat::sched
