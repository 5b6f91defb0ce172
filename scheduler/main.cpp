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
  auto* host = app.add_option("--host", options.host, "address to bind (default: loopback, 127.0.0.1)");
  app.add_option("--interface", options.interface, "bind to the IPv4 address of this network interface (e.g. ib0)")
      ->excludes(host);
  app.add_option("--port", options.port, "port to bind; 0 picks a free port")->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--scheduler-file", options.scheduler_file,
                 "write the address here (JSON, mode 0600) for workers and clients");
  app.add_option("--listen", options.listen, "bind this ZeroMQ endpoint instead (ipc://PATH: a node-local cluster)")
      ->excludes(host);
  app.add_option("--key-file", options.key_file,
                 "cluster keys (JSON, mode 0600), created at the first start; default: next to the scheduler file "
                 "(NAME.key), else ~/.rsdat/cluster.key");
  app.add_option("--allowed-keys", options.allowed_keys,
                 "file of further client public keys to admit (Z85, one per line)")
      ->check(CLI::ExistingFile);
  bool no_encryption = false;
  app.add_flag("--no-encryption", no_encryption,
               "do not encrypt or authenticate tcp connections (anyone who reaches the port can use the cluster)");
  app.add_option("--dashboard-port", options.dashboard_port,
                 "port of the HTTP dashboard on the scheduler's address: 0 picks a free one, -1 turns it off "
                 "(its address, with the access token, goes into the scheduler file)")
      ->capture_default_str()->check(CLI::Range(-1, 65535));
  app.add_flag("--metrics-public", options.metrics_public,
               "serve the dashboard's /metrics (Prometheus text) without the token; everything else still needs it");
  app.add_option("--worker-timeout", options.worker_timeout, "seconds without heartbeat before a worker is lost")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--stall-timeout", options.stall_timeout,
                 "seconds every worker may stay paused with nothing running while clients wait, before their "
                 "computations fail (they are warned at once)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--allowed-failures", options.state.allowed_failures,
                 "a task that was running on this many workers when they were lost errs instead of running again")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--max-graph-tasks", options.max_graph_tasks,
                 "refuse a submitted graph of more tasks (about 0.5 KB of scheduler memory each)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--task-stream-size", options.state.task_stream_size,
                 "task events (tasks run and failed, fetches, spills) the scheduler keeps for the dashboard's task "
                 "stream, about 110 bytes each with the dashboard's copy; 0 keeps none")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  CLI11_PARSE(app, argc, argv);
  options.encryption = !no_encryption;

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
