#include "scheduler/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace rsdat::sched {
namespace {

TEST(MetricsText, FamiliesSamplesAndEscapedLabels) {
  MetricsText m;
  m.family("rsdat_x", "gauge", "An x.\nOn two lines.");
  m.sample("rsdat_x", 3);
  m.sample("rsdat_x", 0.25, {{"worker", "w\"1\\\n"}, {"store", "file"}});
  m.sample("rsdat_x", std::nan(""));
  m.sample("rsdat_x", -INFINITY);
  m.sample("rsdat_x", 1e20);
  EXPECT_EQ(m.take(),
            "# HELP rsdat_x An x. On two lines.\n"
            "# TYPE rsdat_x gauge\n"
            "rsdat_x 3\n"
            "rsdat_x{worker=\"w\\\"1\\\\\\n\",store=\"file\"} 0.25\n"
            "rsdat_x NaN\n"
            "rsdat_x -Inf\n"
            "rsdat_x 1e+20\n");
}

TEST(LoopStats, CumulativeBucketsSumCountAndBusyFraction) {
  LoopStats s;
  EXPECT_EQ(s.busy_fraction_since_last(10.0), 0);  // the first call only starts the window
  s.record_turn(2e-6);                             // first bucket
  s.record_turn(1e-4);                             // on a bound: that bucket (le is inclusive)
  s.record_turn(5.0);                              // above every bound: +Inf only
  EXPECT_NEAR(s.busy_fraction_since_last(20.0), (2e-6 + 1e-4 + 5.0) / 10, 1e-12);
  s.record_turn(30.0);  // more busy time than wall time (clocks differ): capped
  EXPECT_EQ(s.busy_fraction_since_last(21.0), 1.0);
  MetricsText m;
  s.write(m, "scheduler", 0.5);
  const std::string t = m.take();
  EXPECT_NE(t.find("rsdat_scheduler_event_loop_turn_seconds_bucket{le=\"1e-05\"} 1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("rsdat_scheduler_event_loop_turn_seconds_bucket{le=\"0.0001\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("rsdat_scheduler_event_loop_turn_seconds_bucket{le=\"1\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("rsdat_scheduler_event_loop_turn_seconds_bucket{le=\"+Inf\"} 4\n"), std::string::npos) << t;
  EXPECT_NE(t.find("rsdat_scheduler_event_loop_turn_seconds_count 4\n"), std::string::npos) << t;
  EXPECT_NE(t.find("rsdat_scheduler_event_loop_busy_fraction 0.5\n"), std::string::npos) << t;
  EXPECT_NE(t.find("# TYPE rsdat_scheduler_event_loop_turn_seconds histogram\n"), std::string::npos) << t;
}

}  // namespace
}  // namespace rsdat::sched
