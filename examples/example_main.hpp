// Shared by the example programs: the cluster their command line asks for, and errors
// reported the same way (one line on stderr naming the program, exit status 1).
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "rsdat/rsdat.hpp"

namespace rsdat::examples {

// A LocalCluster of `workers` x `threads`, or the running cluster of `scheduler_file`.
struct ClusterConnection {
  std::unique_ptr<LocalCluster> local;
  std::unique_ptr<Client> client;
};

inline ClusterConnection connect(const std::string& scheduler_file, int workers, int threads) {
  ClusterConnection c;
  if (scheduler_file.empty()) {
    c.local = std::make_unique<LocalCluster>(LocalClusterOptions{.workers = workers, .threads_per_worker = threads});
    c.client = std::make_unique<Client>(*c.local);
  } else {
    c.client = Client::from_scheduler_file(scheduler_file);
  }
  return c;
}

// Runs `body` (returning the exit status) and turns exceptions into a message.
template <typename F>
int run_reporting_errors(const char* program, F&& body) {
  try {
    return body();
  } catch (const TaskError& e) {
    std::fprintf(stderr, "%s: a task failed: %s\n", program, e.what());
  } catch (const ClusterError& e) {
    std::fprintf(stderr, "%s: cluster problem: %s\n", program, e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
  }
  return 1;
}

}  // namespace rsdat::examples
