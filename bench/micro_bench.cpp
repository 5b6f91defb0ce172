// rsdat-micro-bench: the small costs that add up.
//
// BM_Message*: one message of each main kind encoded, sent over an inproc ZeroMQ pair,
//   received, checked and decoded (the daemons' path minus TCP).
// BM_NoopTasks / BM_RoundTrip: real scheduler and 2 workers on loopback: tasks per
//   second for 20,000 tiny tasks, and the time from compute() to the result of one;
//   BM_ZmqRoundTrip: a raw ZeroMQ message there and back, beside it.
// BM_GraphSubmission: compute() on ones({1000000}, {1}).sum() (2.1 million tasks):
//   seconds until the first task has run, and until the result.
// BM_Kernel*: elementwise, transpose and reduction kernels on one chunk, beside memcpy.
//
//   build/bin/rsdat-micro-bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include <unistd.h>

#include "bench/bench_cluster.hpp"
#include "rsdat/rsdat.hpp"
#include "ops/builtin_ops.hpp"
#include "net/transport.hpp"
#include "net/wire_convert.hpp"

namespace {

using namespace rsdat;

TaskSpec sample_task(uint64_t i) {
  TaskSpec t;
  t.key = {0x1234567890abcdefull, i};
  t.op = ops::kElementwise;
  t.params = ops::elementwise_params(DType::kFloat64, {{ops::Instr::kLoad, 0}, {ops::Instr::kConst, 2}, {ops::Instr::kMul, 0}});
  t.deps = {{0x42, i}};
  t.dtype = DType::kFloat64;
  t.shape = {1000, 1000};
  return t;
}

// Sends what `build` makes and decodes it with `check` on the other end, per iteration.
template <typename Build, typename Check>
void roundtrip(benchmark::State& state, Build build, Check check, size_t items) {
  zmq::context_t ctx;
  zmq::socket_t a(ctx, zmq::socket_type::pair), b(ctx, zmq::socket_type::pair);
  a.bind("inproc://micro");
  b.connect("inproc://micro");
  for (auto _ : state) {
    capnp::MallocMessageBuilder m;
    build(m);
    if (!send_message(a, nullptr, m).is_ok()) state.SkipWithError("send failed");
    auto got = recv_message(b, false);
    if (!got.ok()) state.SkipWithError("receive failed");
    check(got->envelope());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * items));
}

void BM_MessageComputeTasks(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<TaskSpec> tasks;
  for (size_t i = 0; i < n; ++i) tasks.push_back(sample_task(i));
  roundtrip(
      state,
      [&](capnp::MallocMessageBuilder& m) {
        auto list = m.initRoot<wire::Envelope>().initComputeTasks().initTasks(n);
        for (size_t i = 0; i < n; ++i) {
          set_task_spec(list[i].initSpec(), tasks[i]);
          auto locs = list[i].initDepLocations(1);
          set_key(locs[0].initKey(), tasks[i].deps[0]);
          locs[0].initWorkers(1).set(0, "tcp://127.0.0.1:40000");
        }
      },
      [&](wire::Envelope::Reader env) {
        for (auto a : env.getComputeTasks().getTasks()) benchmark::DoNotOptimize(to_task_spec(a.getSpec()));
      },
      n);
}

void BM_MessageTaskResults(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  roundtrip(
      state,
      [&](capnp::MallocMessageBuilder& m) {
        auto list = m.initRoot<wire::Envelope>().initTaskResults().initResults(n);
        for (size_t i = 0; i < n; ++i) {
          set_key(list[i].initKey(), {7, i});
          list[i].setOk(true);
          list[i].setNbytes(8'000'000);
          list[i].setSeconds(0.01);
        }
      },
      [&](wire::Envelope::Reader env) {
        for (auto r : env.getTaskResults().getResults()) benchmark::DoNotOptimize(to_key(r.getKey()));
      },
      n);
}

void BM_MessageHeartbeat(benchmark::State& state) {
  roundtrip(
      state, [&](capnp::MallocMessageBuilder& m) { m.initRoot<wire::Envelope>().initHeartbeat().setRssBytes(1 << 30); },
      [&](wire::Envelope::Reader env) { benchmark::DoNotOptimize(env.getHeartbeat().getRssBytes()); }, 1);
}

void BM_MessageGetChunks(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  roundtrip(
      state,
      [&](capnp::MallocMessageBuilder& m) {
        auto req = m.initRoot<wire::Envelope>().initGetChunks();
        req.setRequestId(1);
        auto keys = req.initKeys(n);
        for (size_t i = 0; i < n; ++i) set_key(keys[i], {9, i});
      },
      [&](wire::Envelope::Reader env) {
        for (auto k : env.getGetChunks().getKeys()) benchmark::DoNotOptimize(to_key(k));
      },
      n);
}

// The second argument of the cluster benchmarks is the transport (bench_cluster.hpp).
Client& client_for(benchmark::State& state, int64_t transport) {
  state.SetLabel(bench::transport_name(transport));
  return bench::bench_cluster(static_cast<int>(transport), 2, "2GB").client;
}

void BM_NoopTasks(benchmark::State& state) {
  const int64_t n = state.range(0);
  Client& client = client_for(state, state.range(1));
  for (auto _ : state) {
    // n fill tasks of one element, kept on the workers, then released.
    Array x = zeros({n}, {1}).persist(&client);
    benchmark::DoNotOptimize(x.node());
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_RoundTrip(benchmark::State& state) {
  Client& client = client_for(state, state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(full({1}, {1}, 3.0).item(&client));
}

// Raw ZeroMQ beside BM_RoundTrip: one small message to an echoing ROUTER in another
// thread and back, over ipc or loopback tcp (no encryption).
void BM_ZmqRoundTrip(benchmark::State& state) {
  const bool tcp = state.range(0) == bench::kTcp;
  state.SetLabel(tcp ? "tcp" : "ipc");
  zmq::context_t ctx(1);
  zmq::socket_t echo(ctx, zmq::socket_type::router);
  const std::string where = "ipc:///tmp/rsdat-zmq-rt-" + std::to_string(::getpid());
  echo.bind(tcp ? "tcp://127.0.0.1:0" : where);
  const std::string addr = echo.get(zmq::sockopt::last_endpoint);
  std::atomic<bool> stop{false};
  std::thread server([&] {
    zmq::pollitem_t items[] = {{static_cast<void*>(echo), 0, ZMQ_POLLIN, 0}};
    while (!stop.load()) {
      if (zmq::poll(items, 1, std::chrono::milliseconds(50)) == 0) continue;
      zmq::message_t id, body;
      (void)echo.recv(id);
      (void)echo.recv(body);
      echo.send(id, zmq::send_flags::sndmore);
      echo.send(body, zmq::send_flags::none);
    }
  });
  zmq::socket_t client(ctx, zmq::socket_type::dealer);
  client.connect(addr);
  const std::string payload(64, 'x');
  for (auto _ : state) {
    client.send(zmq::buffer(payload), zmq::send_flags::none);
    zmq::message_t reply;
    (void)client.recv(reply);
  }
  stop.store(true);
  server.join();
}

// The time from compute() on an expression of about n tasks until the first of them
// has run: a watcher (its own client) asks the scheduler every millisecond how many
// tasks have finished. The scheduler answers between events, so the figure is an
// upper bound. Also reports the whole computation and the graph's size.
void BM_GraphSubmission(benchmark::State& state) {
  const int64_t n = state.range(0);
  bench::BenchCluster& cluster = bench::bench_cluster(bench::kIpc, 2, "2GB");
  Client watcher_client(cluster.local, ClientOptions{.progress = false});
  double first_task = 0, total = 0;
  uint64_t tasks = 0;
  for (auto _ : state) {
    Array s = ones({n}, {1}).sum();
    const uint64_t before = watcher_client.cluster_status().tasks_finished;
    std::atomic<bool> done{false};
    std::atomic<double> first{-1};
    const auto t0 = std::chrono::steady_clock::now();
    auto since = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    std::thread watcher([&] {
      while (!done.load()) {
        if (watcher_client.cluster_status().tasks_finished > before) {
          first.store(since());
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
    const double sum = s.item(&cluster.client);
    total = since();
    done.store(true);
    watcher.join();
    first_task = first.load();
    tasks = cluster.client.last_stats().tasks;
    if (sum != static_cast<double>(n)) state.SkipWithError("wrong sum");
  }
  state.counters["tasks"] = static_cast<double>(tasks);
  state.counters["first_task_s"] = first_task;
  state.counters["total_s"] = total;
}

Chunk big_chunk() {
  Chunk c = Chunk::allocate(DType::kFloat64, {8 << 20});
  for (int64_t i = 0; i < c.num_elements(); ++i) c.mutable_data<double>()[i] = static_cast<double>(i & 1023);
  return c;
}

void run_op(benchmark::State& state, TaskSpec spec) {
  const Chunk in = big_chunk();
  for (auto _ : state) {
    auto out = run_kernel(spec, std::span<const Chunk>(&in, 1));
    if (!out.ok()) state.SkipWithError(out.status().message().c_str());
    benchmark::DoNotOptimize(out->bytes());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in.nbytes()));
}

void BM_KernelElementwise(benchmark::State& state) {
  TaskSpec t;
  t.op = ops::kElementwise;
  t.params = ops::elementwise_params(
      DType::kFloat64, {{ops::Instr::kLoad, 0}, {ops::Instr::kConst, 2}, {ops::Instr::kMul, 0}, {ops::Instr::kConst, 1}, {ops::Instr::kAdd, 0}});
  t.deps = {{1, 0}};
  t.dtype = DType::kFloat64;
  t.shape = {8 << 20};
  run_op(state, t);
}

void BM_KernelSum(benchmark::State& state) {
  TaskSpec t;
  t.op = ops::kReducePartial;
  t.params = ops::reduce_partial_params(ops::ReduceKind::kSum, {0}, {ops::Finalize::kConvert});
  t.deps = {{1, 0}};
  t.dtype = DType::kFloat64;
  t.shape = {};
  run_op(state, t);
}

// x[i, j] + x[j, i].T for a 2000 x 2000 float64 block, the elementwise step of
// x + x.T (bytes processed: both inputs).
void BM_KernelAddTranspose(benchmark::State& state) {
  const int64_t n = 2000;
  Chunk a = Chunk::allocate(DType::kFloat64, {n, n}), b = Chunk::allocate(DType::kFloat64, {n, n});
  for (int64_t i = 0; i < n * n; ++i) {
    a.mutable_data<double>()[i] = static_cast<double>(i & 1023);
    b.mutable_data<double>()[i] = static_cast<double>(i % 977);
  }
  TaskSpec t;
  t.op = ops::kElementwise;
  t.params = ops::elementwise_params(DType::kFloat64,
                                     {{ops::Instr::kLoad, 0}, {ops::Instr::kLoadT, 1}, {ops::Instr::kAdd, 0}});
  t.deps = {{1, 0}, {1, 1}};
  t.dtype = DType::kFloat64;
  t.shape = {n, n};
  const Chunk inputs[] = {a, b};
  for (auto _ : state) {
    auto out = run_kernel(t, std::span<const Chunk>(inputs, 2));
    if (!out.ok()) state.SkipWithError(out.status().message().c_str());
    benchmark::DoNotOptimize(out->bytes());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * 2 * a.nbytes()));
}

// A 2000 x 2000 float64 block transposed.
void BM_KernelTranspose(benchmark::State& state) {
  const int64_t n = 2000;
  Chunk a = Chunk::allocate(DType::kFloat64, {n, n});
  for (int64_t i = 0; i < n * n; ++i) a.mutable_data<double>()[i] = static_cast<double>(i & 1023);
  TaskSpec t;
  t.op = ops::kTranspose;
  t.params = ops::transpose_params({1, 0});
  t.deps = {{1, 0}};
  t.dtype = DType::kFloat64;
  t.shape = {n, n};
  for (auto _ : state) {
    auto out = run_kernel(t, std::span<const Chunk>(&a, 1));
    if (!out.ok()) state.SkipWithError(out.status().message().c_str());
    benchmark::DoNotOptimize(out->bytes());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * a.nbytes()));
}

// One output block of the rechunk in rechunk_timeseries: (64, 128, 128) float32
// assembled from 64 pieces of (1, 128, 128), as the second stage of the rechunk does.
void BM_KernelRechunkMerge(benchmark::State& state) {
  const int64_t depth = 64, side = 128;
  std::vector<Chunk> pieces;
  std::vector<std::vector<int64_t>> offsets;
  TaskSpec t;
  for (int64_t k = 0; k < depth; ++k) {
    Chunk p = Chunk::allocate(DType::kFloat32, {1, side, side});
    std::fill_n(p.mutable_data<float>(), side * side, static_cast<float>(k));
    pieces.push_back(std::move(p));
    offsets.push_back({k, 0, 0});
    t.deps.push_back({1, static_cast<uint64_t>(k)});
  }
  t.op = ops::kAssemble;
  t.params = ops::assemble_params({0, 0, 0}, offsets);
  t.dtype = DType::kFloat32;
  t.shape = {depth, side, side};
  for (auto _ : state) {
    auto out = run_kernel(t, pieces);
    if (!out.ok()) state.SkipWithError(out.status().message().c_str());
    benchmark::DoNotOptimize(out->bytes());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * depth * side * side * 4));
}

void BM_Memcpy(benchmark::State& state) {
  const Chunk in = big_chunk();
  Chunk out = Chunk::allocate(DType::kFloat64, in.shape);
  for (auto _ : state) {
    std::memcpy(out.mutable_bytes(), in.bytes(), in.nbytes());
    benchmark::DoNotOptimize(out.mutable_bytes());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in.nbytes()));
}

}  // namespace

BENCHMARK(BM_MessageComputeTasks)->Arg(1)->Arg(100);
BENCHMARK(BM_MessageTaskResults)->Arg(100);
BENCHMARK(BM_MessageHeartbeat);
BENCHMARK(BM_MessageGetChunks)->Arg(100);
BENCHMARK(BM_NoopTasks)
    ->ArgsProduct({{20000}, {bench::kIpc, bench::kTcp, bench::kTcpCurve}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RoundTrip)->DenseRange(bench::kIpc, bench::kTcpCurve)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ZmqRoundTrip)->Arg(bench::kIpc)->Arg(bench::kTcp)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GraphSubmission)->Arg(1000000)->Iterations(1)->UseRealTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_KernelElementwise)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_KernelAddTranspose)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_KernelTranspose)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_KernelRechunkMerge)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_KernelSum)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Memcpy)->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
