// SchedulerState fed with events, no sockets and no clocks; validate() after every event.
// Graphs and their outcomes, lost and retiring workers, clients; where tasks run is
// in scheduler_placement_test.cpp.
#include "scheduler/scheduler_state.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "tests/scheduler/scheduler_state_fixture.hpp"

namespace rsdat::sched {
namespace {

TEST_F(SchedulerStateTest, LinearGraphRunsAndReleaseLeavesNothing) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{7});
  ASSERT_TRUE(submit(7, {task(1, 0), task(2, 0, {{1, 0}}), task(3, 0, {{2, 0}})}, {{3, 0}}).is_ok());
  ASSERT_EQ(out.assign.size(), 1u);
  EXPECT_EQ(out.assign[0].key, (TaskKey{1, 0}));
  auto ready = run_all();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].key, (TaskKey{3, 0}));
  EXPECT_EQ(ready[0].client, ClientId{7});
  EXPECT_EQ(ready[0].holders.size(), 1u);
  release(7, {{3, 0}});
  ASSERT_EQ(out.release.size(), 1u);
  EXPECT_EQ(state.num_tasks(), 0u);
  EXPECT_EQ(state.keys_held_by(WorkerId{1}) + state.keys_held_by(WorkerId{2}), 0u);
}

TEST_F(SchedulerStateTest, ProgressCountsTheLatestGraphAndCarriesItsNumber) {
  add_worker(1);
  state.add_client(ClientId{7});
  state.set_graph_id(ClientId{7}, 41);
  ASSERT_TRUE(submit(7, {task(1, 0), task(2, 0, {{1, 0}})}, {{2, 0}}).is_ok());
  EXPECT_TRUE(state.take_progress().empty()) << "nothing done yet";
  finish(out.assign[0]);
  auto p = state.take_progress();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].client, ClientId{7});
  EXPECT_EQ(p[0].graph_id, 41u);
  EXPECT_EQ(p[0].done, 1u);
  EXPECT_EQ(p[0].total, 2u);
  run_all();
  p = state.take_progress();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].done, 2u);
  EXPECT_TRUE(state.take_progress().empty()) << "reported once";
  // The next graph counts from zero under its own number; the first's count is never
  // reported as the second's.
  state.set_graph_id(ClientId{7}, 42);
  ASSERT_TRUE(submit(7, {task(3, 0), task(3, 1), task(4, 0, {{3, 0}, {3, 1}})}, {{4, 0}}).is_ok());
  finish(out.assign[0]);
  p = state.take_progress();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].graph_id, 42u);
  EXPECT_EQ(p[0].done, 1u);
  EXPECT_EQ(p[0].total, 3u);
}

TEST_F(SchedulerStateTest, IntermediatesAreReleasedOnceTheirDependentsAreInMemory) {
  add_worker(1);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0), task(1, 1), task(2, 0, {{1, 0}, {1, 1}})}, {{2, 0}}).is_ok());
  ASSERT_EQ(out.assign.size(), 2u);
  auto roots = out.assign;
  finish(roots[0]);
  EXPECT_TRUE(out.release.empty());  // still needed by the combine
  finish(roots[1]);
  ASSERT_EQ(out.assign.size(), 1u);
  auto combine = out.assign[0];
  EXPECT_EQ(combine.dep_locations.size(), 2u);
  finish(combine);
  EXPECT_EQ(out.release.size(), 2u);  // both roots released
  EXPECT_EQ(state.keys_held_by(WorkerId{1}), 1u);
  EXPECT_EQ(state.status({1, 0}), TaskStatus::kReleased);  // record kept for recomputation
}

TEST_F(SchedulerStateTest, TreeReductionOverManyRoots) {
  add_worker(1, 2);
  add_worker(2, 2);
  state.add_client(ClientId{1});
  std::vector<TaskSpec> g;
  for (uint64_t i = 0; i < 64; ++i) g.push_back(task(1, i));
  for (uint64_t i = 0; i < 8; ++i) {
    std::vector<TaskKey> d;
    for (uint64_t j = 0; j < 8; ++j) d.push_back({1, i * 8 + j});
    g.push_back(task(2, i, d));
  }
  std::vector<TaskKey> top;
  for (uint64_t i = 0; i < 8; ++i) top.push_back({2, i});
  g.push_back(task(3, 0, top));
  ASSERT_TRUE(submit(1, g, {{3, 0}}).is_ok());
  auto ready = run_all();
  ASSERT_EQ(ready.size(), 1u);
  release(1, {{3, 0}});
  EXPECT_EQ(state.num_tasks(), 0u);
}

TEST_F(SchedulerStateTest, BadGraphsAreRefusedAndChangeNothing) {
  add_worker(1);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0)}, {{1, 0}}).is_ok());
  const size_t before = state.num_tasks();
  EXPECT_FALSE(submit(1, {task(2, 0, {{9, 9}})}, {{2, 0}}).is_ok());           // unknown dependency
  EXPECT_FALSE(submit(1, {task(2, 0), task(2, 0)}, {{2, 0}}).is_ok());          // key twice
  EXPECT_FALSE(submit(1, {task(2, 0, {{2, 1}}), task(2, 1, {{2, 0}})}, {{2, 0}}).is_ok());  // cycle
  EXPECT_FALSE(submit(1, {task(2, 0)}, {{5, 5}}).is_ok());                      // unknown wanted key
  EXPECT_FALSE(submit(99, {task(2, 0)}, {{2, 0}}).is_ok());                     // unknown client
  EXPECT_EQ(state.num_tasks(), before);
}

TEST_F(SchedulerStateTest, GraphWaitsForTheFirstWorker) {
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0), task(2, 0, {{1, 0}})}, {{2, 0}}).is_ok());
  EXPECT_TRUE(out.assign.empty());
  EXPECT_EQ(state.status({1, 0}), TaskStatus::kQueued);
  add_worker(1);
  ASSERT_EQ(out.assign.size(), 1u);
  auto ready = run_all();
  ASSERT_EQ(ready.size(), 1u);
}

TEST_F(SchedulerStateTest, ErrorReachesTheClientAndDependentsErrToo) {
  add_worker(1);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0), task(1, 1), task(2, 0, {{1, 0}}), task(3, 0, {{1, 1}})},
                     {{2, 0}, {3, 0}}).is_ok());
  auto roots = out.assign;
  ASSERT_EQ(roots.size(), 2u);
  err(roots[0].worker, {1, 0}, "kernel exploded");
  ASSERT_EQ(out.failed.size(), 1u);
  EXPECT_EQ(out.failed[0].wanted, (TaskKey{2, 0}));
  EXPECT_EQ(out.failed[0].failed, (TaskKey{1, 0}));
  EXPECT_EQ(out.failed[0].message, "kernel exploded");
  EXPECT_EQ(out.failed[0].worker, "w1");
  EXPECT_EQ(state.status({2, 0}), TaskStatus::kErred);
  // The independent key still completes.
  finish(roots[1]);
  auto ready = run_all();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].key, (TaskKey{3, 0}));
  release(1, {{2, 0}, {3, 0}});
  EXPECT_EQ(state.num_tasks(), 0u);
}

TEST_F(SchedulerStateTest, MismatchedReportsAreIgnored) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0)}, {{1, 0}}).is_ok());
  WorkerId w = out.assign[0].worker;
  WorkerId other{w.value == 1 ? 2u : 1u};
  finish(other, {1, 0});  // never assigned there
  EXPECT_EQ(state.ignored_reports(), 1u);
  ASSERT_EQ(out.release.size(), 1u);
  EXPECT_EQ(out.release[0].worker, other);
  finish(WorkerId{42}, {1, 0});  // unknown worker
  finish(w, {8, 8});             // unknown key
  EXPECT_EQ(state.ignored_reports(), 3u);
  ASSERT_EQ(out.release.size(), 1u);
  finish(w, {1, 0});
  EXPECT_EQ(out.ready.size(), 1u);
  finish(w, {1, 0});  // duplicate
  EXPECT_EQ(state.ignored_reports(), 4u);
  EXPECT_TRUE(out.release.empty());  // it is a tracked holder: nothing to drop
  err(w, {1, 0}, "late");
  EXPECT_EQ(state.ignored_reports(), 5u);
  EXPECT_EQ(state.status({1, 0}), TaskStatus::kMemory);
}

TEST_F(SchedulerStateTest, LostWorkerRecomputesItsKeys) {
  add_worker(1);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0), task(2, 0, {{1, 0}}), task(3, 0, {{2, 0}})}, {{3, 0}}).is_ok());
  finish(out.assign[0]);  // (1,0) on w1
  finish(out.assign[0]);  // (2,0) on w1; (1,0) released
  EXPECT_EQ(state.status({1, 0}), TaskStatus::kReleased);
  ASSERT_EQ(out.assign.size(), 1u);  // (3,0) processing on w1
  add_worker(2);
  remove_worker(1);
  // (2,0) was only on w1 and (3,0) needs it: recomputed from (1,0), recursively.
  ASSERT_EQ(out.assign.size(), 1u);
  EXPECT_EQ(out.assign[0].key, (TaskKey{1, 0}));
  EXPECT_EQ(out.assign[0].worker, WorkerId{2});
  auto ready = run_all();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].holders, std::vector<WorkerId>{WorkerId{2}});
}

TEST_F(SchedulerStateTest, TaskThatKeepsKillingWorkersErrs) {
  state = SchedulerState(SchedulerConfig{.allowed_failures = 2});
  state.add_client(ClientId{1});
  add_worker(1);
  ASSERT_TRUE(submit(1, {task(1, 0)}, {{1, 0}}).is_ok());
  add_worker(2);
  remove_worker(1);
  ASSERT_EQ(out.assign.size(), 1u);
  EXPECT_EQ(out.assign[0].worker, WorkerId{2});
  remove_worker(2);
  ASSERT_EQ(out.failed.size(), 1u);
  EXPECT_NE(out.failed[0].message.find("w2"), std::string::npos) << out.failed[0].message;
  EXPECT_NE(out.failed[0].message.find("2 times"), std::string::npos) << out.failed[0].message;
}

TEST_F(SchedulerStateTest, MissingInputsAreRecomputedAndTheTaskRunsAgain) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0), task(2, 0, {{1, 0}})}, {{2, 0}}).is_ok());
  finish(out.assign[0]);
  AssignCommand consumer = out.assign[0];
  out.clear();
  state.task_missing_deps(consumer.worker, {2, 0}, {{1, 0}}, out);
  state.validate();
  // The holder no longer counts and is told to drop it; the input is computed again.
  ASSERT_EQ(out.release.size(), 1u);
  ASSERT_EQ(out.assign.size(), 1u);
  EXPECT_EQ(out.assign[0].key, (TaskKey{1, 0}));
  auto ready = run_all();
  ASSERT_EQ(ready.size(), 1u);
}

TEST_F(SchedulerStateTest, RemoveClientReleasesWhatItWanted) {
  add_worker(1);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0), task(1, 1)}, {{1, 0}, {1, 1}}).is_ok());
  run_all();
  EXPECT_EQ(state.keys_held_by(WorkerId{1}), 2u);
  out.clear();
  state.remove_client(ClientId{1}, out);
  state.validate();
  EXPECT_EQ(out.release.size(), 2u);
  EXPECT_EQ(state.num_tasks(), 0u);
}

TEST_F(SchedulerStateTest, SharedKeyStaysUntilTheLastClientReleases) {
  add_worker(1);
  state.add_client(ClientId{1});
  state.add_client(ClientId{2});
  ASSERT_TRUE(submit(1, {task(1, 0)}, {{1, 0}}).is_ok());
  run_all();
  ASSERT_TRUE(submit(2, {task(1, 0)}, {{1, 0}}).is_ok());
  ASSERT_EQ(out.ready.size(), 1u);  // already in memory
  EXPECT_EQ(out.ready[0].client, ClientId{2});
  release(1, {{1, 0}});
  EXPECT_TRUE(out.release.empty());
  EXPECT_EQ(state.status({1, 0}), TaskStatus::kMemory);
  release(2, {{1, 0}});
  EXPECT_EQ(out.release.size(), 1u);
  EXPECT_EQ(state.num_tasks(), 0u);
}

TEST_F(SchedulerStateTest, ReplicasAreTrackedAndUnknownOnesDropped) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0)}, {{1, 0}}).is_ok());
  WorkerId w = out.assign[0].worker;
  WorkerId other{w.value == 1 ? 2u : 1u};
  finish(out.assign[0]);
  out.clear();
  state.replica_acquired(other, {1, 0}, out);
  state.validate();
  EXPECT_EQ(state.who_has({1, 0}).size(), 2u);
  state.replica_acquired(other, {5, 5}, out);
  state.validate();
  ASSERT_EQ(out.release.size(), 1u);
  EXPECT_EQ(out.release[0].key, (TaskKey{5, 5}));
  release(1, {{1, 0}});
  EXPECT_EQ(out.release.size(), 2u);  // both holders
}

TEST_F(SchedulerStateTest, BytesMovedAreCounted) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{1});
  // Roots are spread by their first use: (3, 0) is used first of its array, so (3, 1)
  // goes to the other half of the workers than (1, 0), the first of its own. Their
  // combine must fetch one of them. ((1, 1) is not needed.)
  ASSERT_TRUE(submit(1, {task(1, 0, {}, 8000), task(1, 1, {}, 8000), task(3, 0, {}, 8000), task(3, 1, {}, 8000),
                         task(2, 1, {{3, 0}}), task(2, 0, {{1, 0}, {3, 1}})},
                     {{2, 1}, {2, 0}})
                  .is_ok());
  ASSERT_EQ(out.assign.size(), 3u);
  std::map<TaskKey, WorkerId> root_at;
  for (const AssignCommand& a : out.assign) root_at[a.key] = a.worker;
  EXPECT_NE(root_at.at({1, 0}), root_at.at({3, 1}));
  auto roots = out.assign;
  for (const AssignCommand& a : roots) finish(a);
  std::optional<WorkerId> where;
  for (const AssignCommand& a : out.assign)
    if (a.key == TaskKey{2, 0}) where = a.worker;
  ASSERT_TRUE(where.has_value());
  out.clear();
  state.task_finished(*where, {2, 0}, 800, 0.001, out, 8000);  // the worker fetched one root
  state.validate();
  EXPECT_EQ(state.stats(ClientId{1}).bytes_transferred, 8000u);
  EXPECT_EQ(state.total_bytes_transferred(), 8000u);
}

// Roots are ordered and placed by their first use: the blocks a reduction over the
// leading axis combines (x[t, i] for every t) are made together, on one worker, not one
// per pass over every i.
TEST_F(SchedulerStateTest, RootsAreGroupedByTheReductionThatUsesThem) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{1});
  // x has 2 x 4 blocks in C order (t, i); y[i] reads x[0, i] and x[1, i].
  std::vector<TaskSpec> graph;
  for (uint64_t c = 0; c < 8; ++c) graph.push_back(task(1, c, {}, 8000));
  std::vector<TaskKey> wanted;
  for (uint64_t i = 0; i < 4; ++i) {
    graph.push_back(task(2, i, {{1, i}, {1, 4 + i}}));
    wanted.push_back({2, i});
  }
  ASSERT_TRUE(submit(1, graph, wanted).is_ok());
  std::map<TaskKey, WorkerId> root_at;
  std::vector<TaskKey> roots;
  while (true) {
    auto assigned = out.assign;
    out.clear();
    bool any_root = false;
    for (const AssignCommand& a : assigned) {
      if (a.key.token != 1) continue;
      any_root = true;
      root_at[a.key] = a.worker;
      roots.push_back(a.key);
      finish(a);
    }
    if (!any_root) break;
  }
  ASSERT_EQ(root_at.size(), 8u);
  for (uint64_t i = 0; i < 4; ++i) EXPECT_EQ(root_at.at({1, i}), root_at.at({1, 4 + i})) << "block " << i;
  EXPECT_NE(root_at.at({1, 0}), root_at.at({1, 3}));  // and the pairs spread over both workers
}

// Results a client waits for travel inline when it asked for results of their size;
// intermediates never do.
TEST_F(SchedulerStateTest, SmallWantedResultsAreAssignedToBeSentInline) {
  add_worker(1);
  state.add_client(ClientId{1});
  state.set_inline_bytes(ClientId{1}, 1000);
  ASSERT_TRUE(submit(1, {task(1, 0, {}, 800), task(2, 0, {{1, 0}}, 800), task(3, 0, {}, 8000)}, {{2, 0}, {3, 0}})
                  .is_ok());
  std::map<TaskKey, bool> inline_of;
  auto collect = [&] {
    for (const auto& a : out.assign) inline_of[a.key] = a.inline_result;
  };
  collect();
  finish(WorkerId{1}, {1, 0});
  collect();
  ASSERT_EQ(inline_of.size(), 3u);
  EXPECT_FALSE(inline_of.at({1, 0}));  // not wanted
  EXPECT_TRUE(inline_of.at({2, 0}));   // wanted, 800 bytes
  EXPECT_FALSE(inline_of.at({3, 0}));  // wanted, but 8,000 bytes
  // A graph submitted without (persist): nothing inline.
  state.set_inline_bytes(ClientId{1}, 0);
  ASSERT_TRUE(submit(1, {task(4, 0, {}, 8)}, {{4, 0}}).is_ok());
  ASSERT_EQ(out.assign.size(), 1u);
  EXPECT_FALSE(out.assign[0].inline_result);
}

TEST_F(SchedulerStateTest, AComputationThatCanNeverFitIsRefusedBeforeItStarts) {
  add_worker(1);  // 1 GiB memory limit
  state.add_client(ClientId{1});
  // One 600 MB chunk is fine; its 2 x 600 MB sum of two does not fit anywhere.
  Status st = submit(1, {task(1, 0, {}, 600u << 20), task(1, 1, {}, 600u << 20), task(2, 0, {{1, 0}, {1, 1}})},
                     {{2, 0}});
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("combine"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("memory limit"), std::string::npos) << st.message();
  EXPECT_TRUE(out.assign.empty());
  EXPECT_EQ(state.num_tasks(), 0u);
  EXPECT_TRUE(submit(1, {task(1, 0, {}, 600u << 20)}, {{1, 0}}).is_ok());
}

// Random DAGs, random worker joins and losses, random completion order, bounded.
TEST(SchedulerStateRandom, InvariantsHoldAndEveryWantedKeyArrives) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::mt19937_64 rng(seed);
    SchedulerState state(SchedulerConfig{.root_saturation = 1.0, .root_bytes_budget = 1000, .allowed_failures = 100});
    Commands out;
    uint64_t next_worker = 1;
    std::set<uint64_t> workers;
    auto join = [&] {
      out.clear();
      uint64_t id = next_worker++;
      state.add_worker(WorkerId{id}, {"w", "tcp://w", 1 + static_cast<uint32_t>(rng() % 2), 1 << 30}, 0, out);
      workers.insert(id);
    };
    join();
    join();
    state.add_client(ClientId{1});
    std::vector<TaskSpec> g;
    const uint64_t n = 30 + rng() % 30;
    for (uint64_t i = 0; i < n; ++i) {
      std::vector<TaskKey> deps;
      if (i > 3) {
        for (int d = 0; d < 3; ++d) {
          TaskKey k{1, rng() % i};
          if (rng() % 2 && std::find(deps.begin(), deps.end(), k) == deps.end()) deps.push_back(k);
        }
      }
      g.push_back(task(1, i, deps));
    }
    std::vector<TaskKey> wanted{{1, n - 1}, {1, n / 2}, {1, 0}};
    std::vector<AssignCommand> pending;
    std::vector<StealCommand> steals;
    std::set<TaskKey> ready;
    auto absorb = [&] {
      pending.insert(pending.end(), out.assign.begin(), out.assign.end());
      steals.insert(steals.end(), out.steal.begin(), out.steal.end());
      for (const auto& r : out.ready) ready.insert(r.key);
      state.validate();
    };
    out.clear();
    // Half the seeds add the graph a few tasks at a time, between the other events.
    const size_t graph_step = seed % 2 ? 1 + rng() % 4 : SIZE_MAX;
    ASSERT_TRUE(state.submit_graph(ClientId{1}, g, wanted, out, graph_step).is_ok());
    absorb();
    for (int step = 0; step < 2000 && ready.size() < 3; ++step) {
      uint64_t dice = rng() % 20;
      if ((dice == 4 || pending.empty()) && state.graph_pending()) {
        out.clear();
        state.add_pending(graph_step, out);
        absorb();
        continue;
      }
      if (dice == 0 && workers.size() > 1) {
        uint64_t victim = *std::next(workers.begin(), static_cast<long>(rng() % workers.size()));
        workers.erase(victim);
        out.clear();
        state.remove_worker(WorkerId{victim}, "chaos", out);
        absorb();
      } else if (dice == 1) {
        join();
        absorb();
      } else if (dice == 2) {
        out.clear();
        state.balance(out);
        absorb();
      } else if (dice == 3 && !steals.empty()) {
        // The victim answers, having started the task or not (the answer may be stale).
        StealCommand sc = steals.back();
        steals.pop_back();
        out.clear();
        state.steal_response(sc.victim, sc.key, rng() % 2 == 0, out);
        absorb();
      } else if (!pending.empty()) {
        size_t i = rng() % pending.size();
        AssignCommand a = pending[i];
        pending.erase(pending.begin() + static_cast<long>(i));
        out.clear();
        if (rng() % 10 == 0) {
          state.replica_acquired(WorkerId{*workers.begin()}, a.key, out);  // may be stale: must be safe
          absorb();
          out.clear();
        }
        state.task_finished(a.worker, a.key, 800, 0.001, out);
        absorb();
      }
    }
    EXPECT_EQ(ready.size(), 3u) << "seed " << seed;
    EXPECT_FALSE(state.graph_pending());
    out.clear();
    state.release_keys(ClientId{1}, wanted, out);
    state.validate();
    // Tasks still running finish (their results are dropped), then nothing is left.
    for (const AssignCommand& a : pending) {
      out.clear();
      state.task_finished(a.worker, a.key, 800, 0.001, out);
      state.validate();
    }
    EXPECT_EQ(state.num_tasks(), 0u) << "seed " << seed;
  }
}

// A retiring worker gets no new work, its unfinished tasks run elsewhere, the chunks
// only it holds are copied to another worker, and then it may go: nothing recomputed.
TEST_F(SchedulerStateTest, ARetiringWorkerHandsOverWhatOnlyItHolds) {
  state.add_client(ClientId{1});
  add_worker(1);
  add_worker(2);
  const std::vector<TaskKey> wanted = compute_roots(1, 1, 8);
  std::vector<TaskKey> on_1;
  for (const TaskKey& k : wanted) {
    ASSERT_EQ(state.status(k), TaskStatus::kMemory);
    if (state.who_has(k) == std::vector<WorkerId>{WorkerId{1}}) on_1.push_back(k);
  }
  ASSERT_FALSE(on_1.empty());
  // A task queued on worker 1 when it starts retiring goes to worker 2.
  ASSERT_TRUE(submit(1, {task(2, 0, {on_1[0]})}, {{2, 0}}).is_ok());
  out.clear();
  state.worker_retiring(WorkerId{1}, out);
  state.validate();
  EXPECT_EQ(state.num_workers(), 1u);
  std::set<TaskKey> asked;
  for (const auto& r : out.replicate) {
    EXPECT_EQ(r.worker, WorkerId{2});
    EXPECT_EQ(r.from, WorkerId{1});
    asked.insert(r.key);
  }
  EXPECT_EQ(asked, std::set<TaskKey>(on_1.begin(), on_1.end()));
  // Worker 1 still counts as a holder: a task needing its chunks may fetch from it.
  EXPECT_EQ(state.worker_info(WorkerId{1})->address, "tcp://w1");
  out.clear();
  state.check_retiring(out);
  EXPECT_TRUE(out.retired.empty()) << "chunks not handed over yet";
  for (const TaskKey& k : on_1) {
    out.clear();
    state.replica_acquired(WorkerId{2}, k, out);
    state.validate();
  }
  out.clear();
  state.check_retiring(out);
  state.validate();
  ASSERT_EQ(out.retired.size(), 1u);
  EXPECT_EQ(out.retired[0].first, WorkerId{1});
  EXPECT_EQ(out.retired[0].second, "tcp://w1");
  EXPECT_TRUE(out.assign.empty()) << "nothing recomputed";
  for (const TaskKey& k : wanted) {
    EXPECT_EQ(state.status(k), TaskStatus::kMemory);
    EXPECT_EQ(state.who_has(k), std::vector<WorkerId>{WorkerId{2}});
  }
  EXPECT_EQ(state.num_retiring(), 0u);
}

// A retiring worker lost before it finished: what only it held is recomputed.
TEST_F(SchedulerStateTest, ARetiringWorkerLostHalfwayIsALoss) {
  state.add_client(ClientId{1});
  add_worker(1);
  add_worker(2);
  const std::vector<TaskKey> wanted = compute_roots(1, 1, 6);
  out.clear();
  state.worker_retiring(WorkerId{1}, out);
  state.validate();
  remove_worker(1);
  EXPECT_EQ(state.num_retiring(), 0u);
  bool recomputed = false;
  for (const auto& a : out.assign) recomputed = recomputed || a.worker == WorkerId{2};
  EXPECT_TRUE(recomputed);
  run_all();
  for (const TaskKey& k : wanted) EXPECT_EQ(state.status(k), TaskStatus::kMemory);
}

// A task running on worker 1 that nobody needs any more, yet whose record stays because
// a chunk in memory was made from it: (1,0) -> (2,0) -> (3,0), with (3,0) wanted, is
// computed; then (4,0), reading (2,0), is wanted, so (1,0) and (2,0) run again on
// worker 1, and is released while (2,0) runs. Worker 2 joins last.
class AbandonedTask : public SchedulerStateTest {
 protected:
  void SetUp() override {
    add_worker(1);
    state.add_client(ClientId{1});
    ASSERT_TRUE(submit(1, {task(1, 0), task(2, 0, {{1, 0}}), task(3, 0, {{2, 0}})}, {{3, 0}}).is_ok());
    run_all();
    ASSERT_EQ(state.status({3, 0}), TaskStatus::kMemory);
    ASSERT_EQ(state.status({1, 0}), TaskStatus::kReleased);
    ASSERT_TRUE(submit(1, {task(4, 0, {{2, 0}})}, {{4, 0}}).is_ok());
    ASSERT_EQ(out.assign.size(), 1u);
    finish(out.assign[0]);  // (1,0) again
    ASSERT_EQ(state.processing_worker({2, 0}), WorkerId{1});
    release(1, {{4, 0}});
    ASSERT_EQ(state.status({2, 0}), TaskStatus::kProcessing);
    ASSERT_EQ(state.status({1, 0}), TaskStatus::kMemory);
    add_worker(2);
  }
};

// Its input was kept only for it: once the task is dropped, so is the input.
TEST_F(AbandonedTask, ARetiringWorkersReleasedTaskReleasesItsInputs) {
  out.clear();
  state.worker_retiring(WorkerId{1}, out);
  state.validate();
  EXPECT_TRUE(out.assign.empty()) << "nothing to run elsewhere";
  EXPECT_EQ(state.status({2, 0}), TaskStatus::kReleased);
  EXPECT_EQ(state.status({1, 0}), TaskStatus::kReleased);
  ASSERT_EQ(out.release.size(), 1u);
  EXPECT_EQ(out.release[0].worker, WorkerId{1});
  EXPECT_EQ(out.release[0].key, (TaskKey{1, 0}));
}

TEST_F(AbandonedTask, ALostWorkersReleasedTaskReleasesItsInputs) {
  // Copies on worker 2: nothing is recomputed when worker 1 is lost.
  for (const TaskKey& k : {TaskKey{1, 0}, TaskKey{3, 0}}) {
    out.clear();
    state.replica_acquired(WorkerId{2}, k, out);
    state.validate();
  }
  remove_worker(1);
  EXPECT_TRUE(out.assign.empty()) << "nothing to recompute";
  EXPECT_EQ(state.status({2, 0}), TaskStatus::kReleased);
  EXPECT_EQ(state.status({1, 0}), TaskStatus::kReleased);
  ASSERT_EQ(out.release.size(), 1u);
  EXPECT_EQ(out.release[0].worker, WorkerId{2});
  EXPECT_EQ(out.release[0].key, (TaskKey{1, 0}));
}

// A wanted chunk held by two workers, one of them lost: nothing to recompute, but the
// client must hear where the chunk is now (it may know only the lost holder).
TEST_F(SchedulerStateTest, ALostHolderOfAReplicatedChunkIsReportedToItsClient) {
  state.add_client(ClientId{1});
  add_worker(1);
  add_worker(2);
  ASSERT_TRUE(submit(1, {task(1, 0)}, {{1, 0}}).is_ok());
  run_all();
  const WorkerId first = state.who_has({1, 0}).at(0);
  const WorkerId other{first.value == 1 ? 2u : 1u};
  out.clear();
  state.replica_acquired(other, {1, 0}, out);
  state.validate();
  remove_worker(first.value);
  EXPECT_TRUE(out.assign.empty()) << "nothing to recompute";
  ASSERT_EQ(out.ready.size(), 1u);
  EXPECT_EQ(out.ready[0].key, (TaskKey{1, 0}));
  EXPECT_EQ(out.ready[0].holders, std::vector<WorkerId>{other});
}

// A graph added a step at a time: its first tasks run, and their chunks stay for the
// users still to come; the result is the one of the graph added at once.
TEST_F(SchedulerStateTest, ABigGraphRunsWhileItIsAdded) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{1});
  std::vector<TaskSpec> g;
  for (uint64_t i = 0; i < 16; ++i) g.push_back(task(1, i));
  for (uint64_t i = 0; i < 4; ++i) g.push_back(task(2, i, {{1, 4 * i}, {1, 4 * i + 1}, {1, 4 * i + 2}, {1, 4 * i + 3}}));
  g.push_back(task(3, 0, {{2, 0}, {2, 1}, {2, 2}, {2, 3}}));
  out.clear();
  ASSERT_TRUE(state.submit_graph(ClientId{1}, g, {{3, 0}}, out, 2).is_ok());
  state.validate();
  EXPECT_TRUE(state.graph_pending());
  EXPECT_EQ(state.num_tasks(), 2u);
  ASSERT_FALSE(out.assign.empty());
  // The first roots finish before anything that reads them exists: they are kept.
  std::vector<AssignCommand> running = out.assign;
  for (const AssignCommand& a : running) finish(a);
  for (const AssignCommand& a : running) EXPECT_EQ(state.status(a.key), TaskStatus::kMemory);
  std::set<TaskKey> ready;
  std::vector<AssignCommand> todo;
  for (int steps = 0; steps < 1000 && ready.empty(); ++steps) {
    if (state.graph_pending()) {
      out.clear();
      state.add_pending(3, out);
      state.validate();
      todo.insert(todo.end(), out.assign.begin(), out.assign.end());
    }
    if (!todo.empty()) {
      AssignCommand a = todo.front();
      todo.erase(todo.begin());
      finish(a);
      todo.insert(todo.end(), out.assign.begin(), out.assign.end());
      for (const auto& r : out.ready) ready.insert(r.key);
    }
  }
  EXPECT_EQ(ready, (std::set<TaskKey>{{3, 0}}));
  EXPECT_FALSE(state.graph_pending());
  for (uint64_t i = 0; i < 16; ++i) EXPECT_EQ(state.status({1, i}), TaskStatus::kReleased) << "data kept";
  release(1, {{3, 0}});
  EXPECT_EQ(state.num_tasks(), 0u);
}

// What would change a pending graph's meaning adds the rest of it first: a new graph
// (it may read the pending one's keys), and a release or leave by its client.
TEST_F(SchedulerStateTest, APendingGraphIsCompletedBeforeWhatDependsOnIt) {
  add_worker(1);
  state.add_client(ClientId{1});
  state.add_client(ClientId{2});
  std::vector<TaskSpec> g;
  for (uint64_t i = 0; i < 8; ++i) g.push_back(task(1, i));
  out.clear();
  ASSERT_TRUE(state.submit_graph(ClientId{1}, g, {{1, 7}, {1, 6}}, out, 1).is_ok());
  EXPECT_TRUE(state.graph_pending());
  // Another client's graph reads a key not added yet.
  ASSERT_TRUE(submit(2, {task(2, 0, {{1, 7}})}, {{2, 0}}).is_ok());
  EXPECT_FALSE(state.graph_pending());
  EXPECT_EQ(state.num_tasks(), 3u) << "only what the wanted keys need";
  // A release by the client of a pending graph.
  out.clear();
  ASSERT_TRUE(state.submit_graph(ClientId{1}, {task(3, 0), task(3, 1)}, {{3, 0}, {3, 1}}, out, 1).is_ok());
  EXPECT_TRUE(state.graph_pending());
  std::vector<AssignCommand> running = out.assign;
  release(1, {{3, 1}});
  EXPECT_FALSE(state.graph_pending());
  running.insert(running.end(), out.assign.begin(), out.assign.end());
  for (const AssignCommand& a : running) finish(a);
  EXPECT_FALSE(state.status({3, 1}).has_value());
  EXPECT_EQ(state.status({3, 0}), TaskStatus::kMemory);
  // Leaving is a release of everything.
  out.clear();
  ASSERT_TRUE(state.submit_graph(ClientId{1}, {task(4, 0), task(4, 1)}, {{4, 0}, {4, 1}}, out, 1).is_ok());
  running = out.assign;
  out.clear();
  state.remove_client(ClientId{1}, out);
  state.validate();
  EXPECT_FALSE(state.graph_pending());
  running.insert(running.end(), out.assign.begin(), out.assign.end());
  for (const AssignCommand& a : running) finish(a);
  EXPECT_FALSE(state.status({4, 1}).has_value());
  EXPECT_FALSE(state.status({3, 0}).has_value());
}

// A worker's report that it fetched a copy of a chunk can arrive after the chunk was
// lost and its task given to that same worker: the task must stay there, not be
// released (the worker would drop it and the computation would wait forever).
TEST_F(SchedulerStateTest, ALateCopyReportDoesNotUndoAnAssignment) {
  add_worker(1);
  add_worker(2);
  state.add_client(ClientId{1});
  ASSERT_TRUE(submit(1, {task(1, 0), task(2, 0, {{1, 0}})}, {{2, 0}}).is_ok());
  ASSERT_EQ(out.assign.size(), 1u);
  finish(out.assign[0]);
  ASSERT_EQ(out.assign.size(), 1u);
  const AssignCommand use = out.assign[0];
  // The reader could not fetch the root: it is released and computed again.
  out.clear();
  state.task_missing_deps(use.worker, use.key, {{1, 0}}, out);
  state.validate();
  ASSERT_EQ(out.assign.size(), 1u);
  const WorkerId again = out.assign[0].worker;
  EXPECT_EQ(state.processing_worker({1, 0}), again);
  // The copy that worker fetched for the reader earlier is reported only now.
  out.clear();
  state.replica_acquired(again, {1, 0}, out);
  state.validate();
  for (const ReleaseCommand& r : out.release) EXPECT_FALSE(r.worker == again && (r.key == TaskKey{1, 0}));
  EXPECT_EQ(state.processing_worker({1, 0}), again);
  // A copy reported by a worker not computing it is dropped as before.
  const WorkerId other = again == WorkerId{1} ? WorkerId{2} : WorkerId{1};
  out.clear();
  state.replica_acquired(other, {1, 0}, out);
  ASSERT_EQ(out.release.size(), 1u);
  EXPECT_EQ(out.release[0].worker, other);
  // The computation completes.
  finish(again, {1, 0});
  ASSERT_EQ(out.assign.size(), 1u);
  finish(out.assign[0]);
  ASSERT_EQ(out.ready.size(), 1u);
  EXPECT_EQ(out.ready[0].key, (TaskKey{2, 0}));
}

}  // namespace
}  // namespace rsdat::sched

namespace rsdat::sched {
namespace {

// The memory plan: the wanted results are held at once when a graph ends. More than
// the workers' memory and spill space together is refused before anything runs,
// naming the array and the numbers; more than what they keep in memory is accepted
// with a notice that it will spill; less passes quietly.
TEST_F(SchedulerStateTest, AGraphWhoseResultsCannotBeHeldIsRefusedAndOneThatWillSpillIsToldSo) {
  state.add_client(ClientId{1});
  add_worker(1);
  add_worker(2);  // 1 GiB each
  for (uint64_t w : {1, 2}) {
    WorkerMetrics m;
    m.spill_space = 1ull << 30;
    state.heartbeat(WorkerId{w}, m, 0);
  }
  auto roots = [](uint64_t token, uint64_t n) {
    std::vector<TaskSpec> tasks;
    std::vector<TaskKey> keys;
    for (uint64_t i = 0; i < n; ++i) {
      tasks.push_back(task(token, i, {}, 512ull << 20));  // 512 MiB each
      keys.push_back(tasks.back().key);
    }
    return std::make_pair(tasks, keys);
  };
  auto [too_many, too_many_keys] = roots(7, 10);  // 5 GiB > 2 GiB memory + 2 GiB disk
  Status st = submit(1, too_many, too_many_keys);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("the 10 wanted chunks of array fill"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("5.00 GiB"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("memory (2.00 GiB) and spill space (2.00 GiB)"), std::string::npos) << st.message();
  EXPECT_EQ(state.num_tasks(), 0u) << "nothing of a refused graph is kept";

  auto [spills, spills_keys] = roots(8, 4);  // 2 GiB > 60% of 2 GiB: spills
  ASSERT_TRUE(submit(1, spills, spills_keys).is_ok());
  ASSERT_EQ(out.notices.size(), 1u);
  EXPECT_EQ(out.notices[0].first, ClientId{1});
  EXPECT_NE(out.notices[0].second.find("will spill"), std::string::npos) << out.notices[0].second;
  release(1, spills_keys);

  auto [fits, fits_keys] = roots(9, 2);  // 1 GiB: stays in memory
  ASSERT_TRUE(submit(1, fits, fits_keys).is_ok());
  EXPECT_TRUE(out.notices.empty());
}

}  // namespace
}  // namespace rsdat::sched
