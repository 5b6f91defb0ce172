// rsdat-scheduler: the cluster's scheduler daemon.
#include <CLI/CLI.hpp>
#include <csignal>
#include <spdlog/spdlog.h>

#include "scheduler/scheduler_server.hpp"

namespace {
rsdat::sched::SchedulerServer* g_server = nullptr;
void on_signal(int) {
  if (g_server) g_server->stop();
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rsdat-scheduler: places chunk tasks on rsdat workers"};
  rsdat::sched::SchedulerOptions options;
  std::string log_level = "info";
  app.add_option("--host", options.host, "address to bind (default loopback)")->capture_default_str();
  app.add_option("--port", options.port, "port to bind; 0 picks a free port")->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--scheduler-file", options.scheduler_file,
                 "write the address here (JSON, mode 0600) for workers and clients");
  app.add_option("--worker-timeout", options.worker_timeout, "seconds without heartbeat before a worker is lost")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--allowed-failures", options.state.allowed_failures,
                 "a task that was running on this many workers when they were lost errs instead of running again")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e scheduler %l: %v");
  rsdat::sched::SchedulerServer server(options);
  if (auto st = server.start(); !st.is_ok()) {
    spdlog::error("{}", st.to_string());
    return 1;
  }
  g_server = &server;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  server.run();
  g_server = nullptr;
  return 0;
}
