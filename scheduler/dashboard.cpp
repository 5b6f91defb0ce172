#include "scheduler/dashboard.hpp"

#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <stdexcept>

#include "scheduler/dashboard_pages.hpp"

namespace rsdat::sched {

namespace {

std::string new_token() {
  std::array<unsigned char, 20> raw{};
  if (FILE* f = std::fopen("/dev/urandom", "rb")) {
    size_t n = std::fread(raw.data(), 1, raw.size(), f);
    std::fclose(f);
    if (n != raw.size()) throw std::runtime_error("cannot read /dev/urandom");
  } else {
    throw std::runtime_error("cannot open /dev/urandom");
  }
  static const char* hex = "0123456789abcdef";
  std::string token;
  for (unsigned char b : raw) {
    token.push_back(hex[b >> 4]);
    token.push_back(hex[b & 15]);
  }
  return token;
}

}  // namespace

Dashboard::Dashboard(size_t task_stream_size)
    : server_(std::make_unique<httplib::Server>()), token_(new_token()), events_(task_stream_size) {}

Dashboard::~Dashboard() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

Status Dashboard::start(const std::string& host, int port, bool metrics_public) {
  auto authorized = [this](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") == "Bearer " + token_) return true;
    if (req.get_param_value("token") == token_) {
      res.set_header("Set-Cookie", "rsdat_token=" + token_ + "; HttpOnly; SameSite=Strict; Path=/");
      return true;
    }
    if (req.get_header_value("Cookie").find("rsdat_token=" + token_) != std::string::npos) return true;
    res.status = 401;
    res.set_content("rsdat dashboard: open the address in the scheduler file (it carries the token)\n", "text/plain");
    return false;
  };
  for (const DashboardPage& page : dashboard_pages()) {
    const std::string html = page.html;
    for (const char* path : page.paths) {
      server_->Get(path, [authorized, html](const httplib::Request& req, httplib::Response& res) {
        if (authorized(req, res)) res.set_content(html, "text/html; charset=utf-8");
      });
    }
  }
  auto serve = [this, authorized](std::string Dashboard::*doc) {
    return [this, authorized, doc](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      std::lock_guard lock(mu_);
      res.set_header("Cache-Control", "no-store");
      res.set_content(this->*doc, "application/json");
    };
  };
  server_->Get("/status.json", serve(&Dashboard::status_));
  // The loop builds the views only while they are watched: the first request after a
  // pause waits (a second at most) for the loop's next build rather than answering
  // with what it built then.
  auto serve_view = [this, authorized](std::string Dashboard::*doc) {
    return [this, authorized, doc](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      std::unique_lock lock(mu_);
      const uint64_t seen = views_published_;
      lock.unlock();
      const bool stale = note_view_request();
      lock.lock();
      if (stale) views_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return views_published_ != seen; });
      res.set_header("Cache-Control", "no-store");
      res.set_content(this->*doc, "application/json");
    };
  };
  server_->Get("/api/progress.json", serve_view(&Dashboard::progress_));
  server_->Get("/api/memory.json", serve_view(&Dashboard::memory_));
  server_->Get("/api/graph.json", serve_view(&Dashboard::graph_));
  server_->Get("/api/task-stream.json", [this, authorized](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res)) return;
    double seconds = 60;
    uint64_t after = 0;
    if (req.has_param("after")) {
      const std::string text = req.get_param_value("after");
      char* end = nullptr;
      after = std::strtoull(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || text[0] == '-') {
        res.status = 400;
        res.set_content("after: the \"next\" of an earlier answer, not '" + text.substr(0, 40) + "'\n", "text/plain");
        return;
      }
    }
    if (req.has_param("seconds")) {
      const std::string text = req.get_param_value("seconds");
      char* end = nullptr;
      seconds = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || !(seconds > 0) || seconds > 86400) {
        res.status = 400;
        res.set_content("seconds: a number of seconds above 0 and at most 86400, not '" + text.substr(0, 40) + "'\n",
                        "text/plain");
        return;
      }
    }
    using namespace std::chrono;
    const double now = duration<double>(steady_clock::now().time_since_epoch()).count();
    res.set_header("Cache-Control", "no-store");
    res.set_content(task_stream_json(now, seconds, after), "application/json");
  });
  server_->Get("/metrics", [this, authorized, metrics_public](const httplib::Request& req, httplib::Response& res) {
    if (!metrics_public && !authorized(req, res)) return;
    std::lock_guard lock(mu_);
    res.set_content(metrics_, "text/plain; version=0.0.4; charset=utf-8");
  });
  host_ = host;
  port_ = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (port_ < 0) return unavailable("dashboard cannot bind " + host + ":" + std::to_string(port));
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return Status::ok();
}

std::string Dashboard::url() const {
  return "http://" + host_ + ":" + std::to_string(port_) + "/?token=" + token_;
}

std::string Dashboard::metrics_url() const {
  return "http://" + host_ + ":" + std::to_string(port_) + "/metrics";
}

void Dashboard::publish(std::string status_json, std::string metrics_text) {
  std::lock_guard lock(mu_);
  status_ = std::move(status_json);
  metrics_ = std::move(metrics_text);
}

namespace {
int64_t steady_ns() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
}
constexpr int64_t kWatchedNs = 10'000'000'000;
}  // namespace

bool Dashboard::note_view_request() {
  const int64_t now = steady_ns();
  if (now - last_view_ns_.exchange(now, std::memory_order_relaxed) > kWatchedNs) {
    view_request_.store(true, std::memory_order_relaxed);
    return true;
  }
  return false;
}

bool Dashboard::views_watched() const {
  return steady_ns() - last_view_ns_.load(std::memory_order_relaxed) <= kWatchedNs;
}

void Dashboard::publish_views(std::string progress_json, std::string memory_json, std::string graph_json) {
  std::lock_guard lock(mu_);
  progress_ = std::move(progress_json);
  memory_ = std::move(memory_json);
  graph_ = std::move(graph_json);
  ++views_published_;
  views_cv_.notify_all();
}

void Dashboard::publish_events(const std::vector<TaskEvent>& events, const std::vector<std::string>& ops,
                               const std::vector<StreamWorker>& workers) {
  std::lock_guard lock(mu_);
  for (const TaskEvent& e : events) events_.record(e);
  if (ops.size() != ops_.size()) ops_ = ops;
  // Bounded: a long-lived scheduler with much worker churn forgets those gone.
  if (workers_.size() > 4096) workers_.clear();
  current_workers_.clear();
  for (const StreamWorker& w : workers) {
    workers_[w.id] = w;
    current_workers_.push_back(w.id);
  }
}

namespace {

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      out += c;
    }
  }
  out += '"';
}

}  // namespace

std::string Dashboard::task_stream_json(double now, double seconds, uint64_t after) {
  std::vector<TaskEvent> events;
  std::vector<std::string> ops;
  std::vector<StreamWorker> workers;
  uint64_t next = 0;
  {
    std::lock_guard lock(mu_);
    next = events_.copy_since(after, events);
    ops = ops_;
    const size_t served = std::min(events.size(), kMaxServedEvents);
    std::vector<uint64_t> ids = current_workers_;
    for (size_t i = events.size() - served; i < events.size(); ++i) {
      if (std::find(ids.begin(), ids.end(), events[i].worker) == ids.end()) ids.push_back(events[i].worker);
    }
    for (uint64_t id : ids) {
      auto it = workers_.find(id);
      workers.push_back(it != workers_.end() ? it->second : StreamWorker{id, "worker " + std::to_string(id), 1});
    }
  }
  const double since = now - seconds;
  // The newest events that ended in the window (recorded in about the order they ended).
  size_t first = events.size();
  while (first > 0 && events.size() - first < kMaxServedEvents && events[first - 1].stop >= since) --first;
  std::string out = fmt::format(R"({{"window":{},"now":0,"clock":{:.6f},"next":{},"truncated":{},"workers":[)", seconds,
                                now, next, first > 0 && events[first - 1].stop >= since ? "true" : "false");
  for (size_t i = 0; i < workers.size(); ++i) {
    if (i) out += ',';
    out += fmt::format(R"({{"id":{},"nthreads":{},"name":)", workers[i].id, workers[i].nthreads);
    append_json_string(out, workers[i].name);
    out += '}';
  }
  out += R"(],"ops":[)";
  for (size_t i = 0; i < ops.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, ops[i]);
  }
  // Each event: [worker id, thread, kind, op, start, stop, bytes, chunk], times in
  // seconds relative to now (negative).
  out += R"(],"kinds":["compute","error","transfer","spill","unspill"],"events":[)";
  for (size_t i = first; i < events.size(); ++i) {
    const TaskEvent& e = events[i];
    if (i > first) out += ',';
    fmt::format_to(std::back_inserter(out), "[{},{},{},{},{:.6f},{:.6f},{},{}]", e.worker, e.thread,
                   static_cast<int>(e.kind), e.op, e.start - now, e.stop - now, e.bytes, e.key.chunk);
  }
  out += "]}";
  return out;
}

}  // namespace rsdat::sched
