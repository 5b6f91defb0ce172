// Progress: the scheduler counts a graph's tasks done for its client a few times a
// second, and the client passes the counts to its callbacks and its bar.
#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "core/params.hpp"
#include "rsdat/rsdat.hpp"
#include "tests/integration/cluster_suite.hpp"

namespace rsdat {
namespace {

class Progress : public test_support::ClusterSuite {};

// Checks what a computation reported: counts that only grow, and a last call that says
// it finished with every task done. Returns the number of calls between the first and
// the last that were neither empty nor complete.
size_t check_reports(const std::vector<ProgressInfo>& reports, uint64_t at_least_tasks) {
  EXPECT_FALSE(reports.empty());
  if (reports.empty()) return 0;
  size_t partial = 0;
  for (size_t i = 0; i < reports.size(); ++i) {
    const ProgressInfo& r = reports[i];
    EXPECT_EQ(r.finished, i + 1 == reports.size()) << "report " << i;
    EXPECT_LE(r.tasks_done, r.tasks_total) << "report " << i;
    if (i > 0) {
      EXPECT_GE(r.tasks_done, reports[i - 1].tasks_done) << "report " << i;
      EXPECT_GE(r.seconds, reports[i - 1].seconds) << "report " << i;
    }
    if (r.tasks_done > 0 && r.tasks_done < r.tasks_total) ++partial;
  }
  EXPECT_EQ(reports.back().tasks_done, reports.back().tasks_total);
  EXPECT_GE(reports.back().tasks_total, at_least_tasks);
  return partial;
}

TEST_F(Progress, AReductionToOneChunkCountsItsTasks) {
  // 10,000 chunks summed to one: the wanted chunk is one, the tasks more than 10,000.
  std::vector<ProgressInfo> reports;
  Client client(*cluster_, ClientOptions{.progress = false, .on_progress = [&](const ProgressInfo& p) {
                                           reports.push_back(p);
                                         }});
  auto x = random::uniform({10000 * 2000}, {2000}, 3);
  const double total = x.sum().item(&client);
  EXPECT_NEAR(total, 10000 * 2000 * 0.5, 10000 * 2000 * 0.01);
  const size_t partial = check_reports(reports, 10000);
  if (reports.back().seconds > 1.0) {
    EXPECT_GT(partial, 0u) << "a computation of " << reports.back().seconds << " s had no report before its end";
  }
  // A second computation on the same Client counts its own graph only.
  reports.clear();
  EXPECT_EQ(ones({100}, {10}).sum().item(&client), 100.0);
  check_reports(reports, 10);
  // None of its counts is the first graph's (whose last count may come after its results).
  for (const ProgressInfo& r : reports) EXPECT_LT(r.tasks_total, 100u);
}

TEST_F(Progress, ASlowComputationIsReportedWhileItRuns) {
  // 60 tasks of 50 ms on two workers: 1.5 s, counted five times a second. (Chunks of
  // 128 KiB: workers run small tasks in batches and report them together.)
  std::vector<ProgressInfo> reports;
  Client client(*cluster_, ClientOptions{.progress = false, .on_progress = [&](const ProgressInfo& p) {
                                           reports.push_back(p);
                                         }});
  auto slow = map_blocks("test_sleep", {ones({60, 16384}, {1, 16384})}, DType::kFloat64, ParamWriter().str("50").take());
  EXPECT_EQ(slow.sum().item(&client), 60.0 * 16384);
  EXPECT_GE(check_reports(reports, 60), 2u) << "counts while it ran";
}

TEST_F(Progress, TheProcessWideCallbackSeesEveryClientAndCanBeCleared) {
  std::mutex mu;
  size_t calls = 0, finished = 0;
  rsdat::progress([&](const ProgressInfo& p) {
    std::lock_guard lock(mu);
    ++calls;
    finished += p.finished;
  });
  EXPECT_EQ(ones({1000}, {10}).sum().item(client_), 1000.0);
  EXPECT_EQ(ones({1000}, {100}).mean().item(client_), 1.0);
  rsdat::progress(nullptr);
  EXPECT_EQ(ones({1000}, {10}).sum().item(client_), 1000.0);
  EXPECT_GE(calls, 2u);
  EXPECT_EQ(finished, 2u) << "one last call per computation, none after clearing";
}

TEST_F(Progress, AFailedComputationEndsItsReportsWithoutClaimingItFinished) {
  std::vector<ProgressInfo> reports;
  Client client(*cluster_, ClientOptions{.progress = false, .on_progress = [&](const ProgressInfo& p) {
                                           reports.push_back(p);
                                         }});
  const Array a = ones({100}, {10});
  auto bad = map_blocks("test_add_one", {a, a}, DType::kFloat64);  // it takes one input
  EXPECT_THROW(bad.sum().item(&client), TaskError);
  for (const ProgressInfo& r : reports) EXPECT_FALSE(r.finished);
}

}  // namespace
}  // namespace rsdat
