// A LocalCluster per transport for the benchmarks that measure what the connection
// costs: ipc sockets (LocalCluster's default), loopback tcp without encryption, and
// loopback tcp with CURVE (what a multi-node cluster uses by default).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "rsdat/rsdat.hpp"

namespace rsdat::bench {

enum Transport : int { kIpc = 0, kTcp = 1, kTcpCurve = 2 };

inline const char* transport_name(int t) { return t == kIpc ? "ipc" : t == kTcp ? "tcp" : "tcp+curve"; }

struct BenchCluster {
  BenchCluster(int transport, int workers, const std::string& memory_limit)
      : local(LocalClusterOptions{.workers = workers,
                                  .threads_per_worker = 1,
                                  .memory_limit = memory_limit,
                                  .transport = transport == kIpc ? "ipc" : "tcp",
                                  .encryption = transport == kTcpCurve}),
        client(local, ClientOptions{.progress = false}) {}
  LocalCluster local;
  Client client;
};

// Started on first use, kept for the process's life.
inline BenchCluster& bench_cluster(int transport, int workers, const std::string& memory_limit) {
  static std::map<int, std::unique_ptr<BenchCluster>> clusters;
  auto& c = clusters[transport];
  if (!c) c = std::make_unique<BenchCluster>(transport, workers, memory_limit);
  return *c;
}

}  // namespace rsdat::bench
