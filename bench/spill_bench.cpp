// rsdat-spill-bench: spilling a worker's chunks to disk and reading them back, with and
// without lz4, for random (incompressible) and smooth (compressible) float64 chunks of
// 8 MB. Bytes per second count the chunk, both ways (spill + read back).
//
//   build/bin/rsdat-spill-bench [--benchmark_min_time=0.5]
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "ops/builtin_ops.hpp"
#include "worker/memory_store.hpp"

namespace {

using namespace rsdat;

Chunk make_chunk(bool smooth, uint64_t seed) {
  Chunk c = Chunk::allocate(DType::kFloat64, {1000, 1000});
  double* p = c.mutable_data<double>();
  for (int64_t i = 0; i < c.num_elements(); ++i) {
    p[i] = smooth ? std::round(100.0 * std::sin(static_cast<double>(i % 1000) * 0.01)) / 100.0
                  : ops::uniform_at(seed, static_cast<uint64_t>(i));
  }
  return c;
}

void BM_SpillAndReadBack(benchmark::State& state, bool compress, bool smooth) {
  const char* tmp = std::getenv("TMPDIR");
  const std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/rsdat-spill-bench-" + std::to_string(::getpid());
  worker::MemoryStore store;
  if (!store.enable_spill(dir, compress).is_ok()) {
    state.SkipWithError("cannot create spill directory");
    return;
  }
  constexpr int kChunks = 16;
  for (int i = 0; i < kChunks; ++i) store.put(TaskKey{1, static_cast<uint64_t>(i)}, make_chunk(smooth, i));
  const uint64_t bytes = store.memory_bytes();
  for (auto _ : state) {
    store.spill_to(0);
    for (int i = 0; i < kChunks; ++i) benchmark::DoNotOptimize(store.get(TaskKey{1, static_cast<uint64_t>(i)}));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  std::filesystem::remove_all(dir);
}

}  // namespace

BENCHMARK_CAPTURE(BM_SpillAndReadBack, raw_random, false, false)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_SpillAndReadBack, lz4_random, true, false)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_SpillAndReadBack, raw_smooth, false, true)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_SpillAndReadBack, lz4_smooth, true, true)->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
