// rsdat-transfer-bench: chunk transfer bandwidth over loopback, by chunk size.
//
// BM_WorkerToPeer: a worker process holds 256 MiB in chunks of the given size and a
// peer process fetches them all with GetChunks requests, the path a worker uses to
// fetch inputs from another (batched per request, chunk bytes as zero-copy frames).
// Here the fetching peer is the client library, which speaks the same protocol, with
// the allocator settings of rsdat-worker. The second argument is the transport: ipc
// (LocalCluster), tcp, and tcp with CURVE encryption (the default across nodes).
// BM_RawZmq: the same bytes as plain ZeroMQ messages between two threads, the ceiling.
//
//   build/bin/rsdat-transfer-bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <malloc.h>

#include <thread>
#include <zmq.hpp>

#include "bench/bench_cluster.hpp"
#include "client/array_internal.hpp"
#include "client/client_internal.hpp"
#include "rsdat/rsdat.hpp"

namespace {

using namespace rsdat;

constexpr int64_t kTotal = 256 << 20;

void BM_WorkerToPeer(benchmark::State& state) {
  const int64_t chunk = state.range(0);
  const int transport = static_cast<int>(state.range(1));
  Client& client = bench::bench_cluster(transport, 1, "4GB").client;
  state.SetLabel(bench::transport_name(transport));
  Array x = ones({kTotal}, {chunk}, DType::kUInt8).persist(&client);
  std::vector<TaskKey> keys = detail::all_keys(*x.node());
  auto where = client.impl().run({}, keys);
  for (auto _ : state) {
    auto chunks = client.impl().gather(keys, where);
    benchmark::DoNotOptimize(chunks.data());
  }
  state.SetBytesProcessed(state.iterations() * kTotal);
  state.counters["chunks"] = static_cast<double>(keys.size());
  client.impl().release(keys);
}

void BM_RawZmq(benchmark::State& state) {
  const size_t chunk = static_cast<size_t>(state.range(0));
  const size_t count = kTotal / chunk;
  zmq::context_t ctx(1);
  zmq::socket_t sink(ctx, zmq::socket_type::pull);
  sink.bind("tcp://127.0.0.1:*");
  const std::string addr = sink.get(zmq::sockopt::last_endpoint);
  std::vector<char> data(chunk, 1);
  std::atomic<bool> stop{false};
  std::atomic<int> rounds{0};
  std::thread sender([&] {
    zmq::socket_t out(ctx, zmq::socket_type::push);
    out.set(zmq::sockopt::sndhwm, 4);
    out.connect(addr);
    while (!stop.load()) {
      if (rounds.load() <= 0) {
        std::this_thread::yield();
        continue;
      }
      for (size_t i = 0; i < count; ++i) out.send(zmq::buffer(data), zmq::send_flags::none);
      rounds.fetch_sub(1);
    }
  });
  for (auto _ : state) {
    rounds.fetch_add(1);
    for (size_t i = 0; i < count; ++i) {
      zmq::message_t m;
      (void)sink.recv(m);
    }
  }
  stop.store(true);
  sender.join();
  state.SetBytesProcessed(state.iterations() * kTotal);
}

}  // namespace

BENCHMARK(BM_WorkerToPeer)
    ->ArgsProduct({{64 << 10, 1 << 20, 16 << 20, 64 << 20}, {bench::kIpc, bench::kTcp, bench::kTcpCurve}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RawZmq)->Arg(64 << 10)->Arg(1 << 20)->Arg(16 << 20)->Arg(64 << 20)->UseRealTime()->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  // The fetching side gets the allocator settings rsdat-worker runs with (worker/main.cpp).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
