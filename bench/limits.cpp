// rsdat-limits: what this machine can do at best, measured now, as one JSON line:
// memory bandwidth (a STREAM triad over arrays much larger than the caches, on every
// core; 24 bytes per element), the dgemm rate of OpenBLAS on every core in one process,
// and raw ZeroMQ bandwidth over TCP loopback (1 MiB messages). bench/compare-dask puts
// the workloads beside these.
//
//   build/bin/rsdat-limits [--threads N] [--triad-mib M] [--dgemm-n N]
#include <cblas.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>
#include <zmq.hpp>

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double triad_gbps(int threads, size_t n) {
  std::vector<double> a(n), b(n, 1.0), c(n, 2.0);
  auto run = [&](double s) {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        size_t lo = n * t / threads, hi = n * (t + 1) / threads;
        for (size_t i = lo; i < hi; ++i) a[i] = b[i] + s * c[i];
      });
    }
    for (auto& th : ts) th.join();
  };
  run(0.5);  // touch every page first
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    auto t0 = Clock::now();
    run(3.0);
    best = std::min(best, since(t0));
  }
  return 24.0 * static_cast<double>(n) / best / 1e9;
}

double dgemm_gflops(int threads, int n) {
  openblas_set_num_threads(threads);
  std::vector<double> a(static_cast<size_t>(n) * n, 1.0), b(a.size(), 0.5), c(a.size());
  double best = 1e30;
  for (int r = 0; r < 3; ++r) {
    auto t0 = Clock::now();
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a.data(), n, b.data(), n, 0.0, c.data(), n);
    best = std::min(best, since(t0));
  }
  return 2.0 * n * static_cast<double>(n) * n / best / 1e9;
}

double zmq_gbps() {
  constexpr size_t kMsg = 1 << 20, kCount = 1024;
  zmq::context_t ctx(1);
  zmq::socket_t sink(ctx, zmq::socket_type::pull);
  sink.bind("tcp://127.0.0.1:*");
  const std::string addr = sink.get(zmq::sockopt::last_endpoint);
  std::thread sender([&] {
    zmq::socket_t out(ctx, zmq::socket_type::push);
    out.connect(addr);
    std::vector<char> data(kMsg, 1);
    for (size_t i = 0; i < 2 * kCount; ++i) out.send(zmq::buffer(data), zmq::send_flags::none);
  });
  zmq::message_t m;
  for (size_t i = 0; i < kCount; ++i) (void)sink.recv(m);  // warm up
  auto t0 = Clock::now();
  for (size_t i = 0; i < kCount; ++i) (void)sink.recv(m);
  double s = since(t0);
  sender.join();
  return static_cast<double>(kMsg * kCount) / s / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rsdat-limits: memory bandwidth, dgemm rate and ZeroMQ loopback bandwidth of this machine"};
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int triad_mib = 512, dgemm_n = 4000;
  app.add_option("--threads", threads, "threads for the triad and dgemm")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--triad-mib", triad_mib, "MiB per triad array")->capture_default_str()->check(CLI::Range(16, 65536));
  app.add_option("--dgemm-n", dgemm_n, "dgemm matrix size")->capture_default_str()->check(CLI::Range(256, 32768));
  CLI11_PARSE(app, argc, argv);
  nlohmann::json j;
  j["threads"] = threads;
  j["triad_gbps"] = triad_gbps(threads, static_cast<size_t>(triad_mib) << 17);
  j["dgemm_gflops"] = dgemm_gflops(threads, dgemm_n);
  j["zmq_gbps"] = zmq_gbps();
  std::cout << j.dump() << std::endl;
  return 0;
}
