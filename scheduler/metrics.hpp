// Metrics in Prometheus' text exposition format (version 0.0.4), as the scheduler's
// /metrics serves them:
//
//   MetricsText m;
//   m.family("rsdat_scheduler_tasks", "gauge", "Tasks the scheduler holds, by state.");
//   m.sample("rsdat_scheduler_tasks", 12, {{"state", "processing"}});
//   std::string body = m.take();
//
// Each family is written once, its samples right after it (the format requires that).
// Label values are escaped; values print as integers when they are whole.
//
// LoopStats measures an event loop: the time spent working in each turn (not waiting)
// as a counter and a histogram, from which busy fraction and latency follow.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace rsdat::sched {

class MetricsText {
 public:
  using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;
  // `type`: counter, gauge or histogram.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, double value, Labels labels = {});
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

// Turn durations of an event loop. Thread-compatible (the loop's own thread).
class LoopStats {
 public:
  // Upper bounds of the histogram's buckets, seconds (+Inf is implied).
  static constexpr std::array<double, 10> kBounds = {1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 1.0};

  void record_turn(double busy_seconds);
  // The fraction of wall time `now` - last call spent busy (0 on the first call).
  double busy_fraction_since_last(double now);
  // Seconds spent busy since the loop started.
  double busy_seconds() const { return busy_total_; }
  // Writes rsdat_<prefix>_event_loop_busy_seconds_total and the turn histogram.
  void write(MetricsText& m, std::string_view prefix, double busy_fraction) const;

 private:
  std::array<uint64_t, kBounds.size() + 1> buckets_{};
  uint64_t turns_ = 0;
  double busy_total_ = 0;
  double last_now_ = -1, last_busy_total_ = 0;
};

}  // namespace rsdat::sched
