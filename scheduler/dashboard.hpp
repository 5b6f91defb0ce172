// Dashboard: the scheduler's status over HTTP, for a browser (through an ssh tunnel on
// a cluster). Read-only: a page that refreshes itself, /status.json, and /metrics in
// Prometheus' text format. Every request must carry the token the scheduler file holds
// (?token=..., then a cookie; or `Authorization: Bearer TOKEN`, as Prometheus sends
// it), so other users of the node see nothing; with `metrics_public`, /metrics needs
// none. Serves on a thread of its own; the scheduler's loop publishes a fresh snapshot
// now and then.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/status.hpp"

namespace httplib {
class Server;
}

namespace rsdat::sched {

class Dashboard {
 public:
  Dashboard();
  ~Dashboard();
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  // Binds `host`:`port` (0: a free port) and starts serving. Errors: kUnavailable.
  Status start(const std::string& host, int port, bool metrics_public = false);
  int port() const { return port_; }
  const std::string& token() const { return token_; }
  // http://HOST:PORT/?token=TOKEN
  std::string url() const;
  // http://HOST:PORT/metrics
  std::string metrics_url() const;
  void publish(std::string status_json, std::string metrics_text);

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string host_, token_;
  int port_ = -1;
  std::mutex mu_;
  std::string status_ = "{}";  // guarded by mu_
  std::string metrics_;        // guarded by mu_
};

}  // namespace rsdat::sched
