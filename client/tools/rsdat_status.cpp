// rsdat-status: what a running cluster's scheduler knows: its workers, their memory
// and queues, and the tasks it holds.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "rsdat/rsdat.hpp"
#include "core/sysinfo.hpp"

int main(int argc, char** argv) {
  CLI::App app{"rsdat-status: the workers and tasks of a running rsdat cluster"};
  std::string address, scheduler_file, key_file;
  double timeout = 30;
  bool no_encryption = false;
  auto* addr = app.add_option("--scheduler", address, "scheduler address, tcp://HOST:PORT or ipc://PATH");
  app.add_option("--scheduler-file", scheduler_file, "read the scheduler's address (and keys) from this file")
      ->excludes(addr);
  app.add_option("--key-file", key_file, "cluster keys (default: the scheduler file's, else ~/.rsdat/cluster.key)");
  app.add_flag("--no-encryption", no_encryption, "for a scheduler started with --no-encryption");
  app.add_option("--timeout", timeout, "seconds to wait for the scheduler")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (address.empty() && scheduler_file.empty()) {
    std::cerr << "rsdat-status: give --scheduler ADDR or --scheduler-file FILE (see --help)\n";
    return 2;
  }
  try {
    rsdat::ClientOptions options{.connect_timeout = timeout, .scheduler_timeout = timeout, .progress = false,
                                 .name = "rsdat-status", .key_file = key_file, .encryption = !no_encryption};
    auto client = scheduler_file.empty() ? std::make_unique<rsdat::Client>(address, options)
                                         : rsdat::Client::from_scheduler_file(scheduler_file, timeout, options);
    rsdat::ClusterStatus status = client->cluster_status();
    std::printf("scheduler %s: %zu workers, %llu tasks held, %s moved between workers\n",
                client->scheduler_address().c_str(), status.workers.size(),
                static_cast<unsigned long long>(status.tasks), rsdat::format_bytes(status.bytes_transferred).c_str());
    if (!scheduler_file.empty()) {
      // The dashboard's address without its token (the scheduler file holds that).
      std::ifstream in(scheduler_file);
      auto file = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
      if (file.is_object() && file.value("dashboard", nlohmann::json()).is_string()) {
        const std::string url = file["dashboard"];
        std::printf("  dashboard %s (the token is in %s)\n", url.substr(0, url.find('?')).c_str(),
                    scheduler_file.c_str());
      }
      if (file.is_object() && file.value("metrics", nlohmann::json()).is_string()) {
        std::printf("  metrics   %s\n", file["metrics"].get<std::string>().c_str());
      }
    }
    std::printf("  %-24s %-28s %7s %9s %9s %9s %9s %9s\n", "worker", "address", "threads", "limit", "memory",
                "spilled", "chunks", "queued");
    for (const auto& w : status.workers) {
      std::printf("  %-24s %-28s %7u %9s %9s %9s %9llu %9llu\n", w.name.c_str(), w.address.c_str(), w.nthreads,
                  rsdat::format_bytes(w.memory_limit).c_str(), rsdat::format_bytes(w.rss_bytes).c_str(),
                  rsdat::format_bytes(w.spilled_bytes).c_str(), static_cast<unsigned long long>(w.keys),
                  static_cast<unsigned long long>(w.processing));
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "rsdat-status: " << e.what() << "\n";
    return 1;
  }
}
