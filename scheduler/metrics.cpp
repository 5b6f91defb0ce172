#include "scheduler/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace rsdat::sched {

namespace {

void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (v == std::floor(v) && std::fabs(v) < 9.0e15) {
    out += fmt::format("{}", static_cast<int64_t>(v));
  } else {
    out += fmt::format("{}", v);  // the shortest text that reads back exactly
  }
}

void append_label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

}  // namespace

void MetricsText::family(std::string_view name, std::string_view type, std::string_view help) {
  text_ += fmt::format("# HELP {} ", name);
  for (char c : help) text_ += c == '\n' ? ' ' : c;
  text_ += fmt::format("\n# TYPE {} {}\n", name, type);
}

void MetricsText::sample(std::string_view name, double value, Labels labels) {
  text_ += name;
  if (labels.size() > 0) {
    text_ += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) text_ += ',';
      first = false;
      text_ += k;
      text_ += "=\"";
      append_label_value(text_, v);
      text_ += '"';
    }
    text_ += '}';
  }
  text_ += ' ';
  append_value(text_, value);
  text_ += '\n';
}

void LoopStats::record_turn(double busy_seconds) {
  ++turns_;
  busy_total_ += busy_seconds;
  auto it = std::lower_bound(kBounds.begin(), kBounds.end(), busy_seconds);
  ++buckets_[static_cast<size_t>(it - kBounds.begin())];
}

double LoopStats::busy_fraction_since_last(double now) {
  double fraction = 0;
  if (last_now_ >= 0 && now > last_now_) {
    fraction = std::clamp((busy_total_ - last_busy_total_) / (now - last_now_), 0.0, 1.0);
  }
  last_now_ = now;
  last_busy_total_ = busy_total_;
  return fraction;
}

void LoopStats::write(MetricsText& m, std::string_view prefix, double busy_fraction) const {
  const std::string busy = fmt::format("rsdat_{}_event_loop_busy_seconds_total", prefix);
  m.family(busy, "counter", "Seconds the event loop spent handling messages and timers (not waiting).");
  m.sample(busy, busy_total_);
  const std::string fraction = fmt::format("rsdat_{}_event_loop_busy_fraction", prefix);
  m.family(fraction, "gauge", "Fraction of wall time the event loop was busy, over the last half second or so.");
  m.sample(fraction, busy_fraction);
  const std::string turn = fmt::format("rsdat_{}_event_loop_turn_seconds", prefix);
  m.family(turn, "histogram", "Time one turn of the event loop took: the latency it adds to a message.");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i];
    const std::string le = fmt::format("{}", kBounds[i]);
    m.sample(turn + "_bucket", static_cast<double>(cumulative), {{"le", le}});
  }
  cumulative += buckets_.back();
  m.sample(turn + "_bucket", static_cast<double>(cumulative), {{"le", "+Inf"}});
  m.sample(turn + "_sum", busy_total_);
  m.sample(turn + "_count", static_cast<double>(turns_));
}

}  // namespace rsdat::sched
