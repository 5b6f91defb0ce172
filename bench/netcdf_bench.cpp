// What the process-wide NetCDF lock costs: the four chunks of a file read by one thread,
// and by two threads (two chunks each) at once. libnetcdf and HDF5 run one call at a
// time (io/netcdf.hpp), so two threads gain only what happens outside the lock (the
// buffer allocation); the zlib-compressed file shows the case where decompression, which
// runs inside the lock, dominates.
//
//   build/bin/rsdat-netcdf-bench --benchmark_min_time=1
#include <benchmark/benchmark.h>
#include <netcdf.h>

#include <filesystem>
#include <thread>
#include <unistd.h>

#include "io/netcdf.hpp"

namespace {

namespace fs = std::filesystem;
using namespace rsdat;

constexpr int64_t kSide = 1024;  // four chunks of 1 x 1024 x 1024 float32 (4 MiB each)

const std::string& bench_file(int level) {
  static std::string files[10];
  std::string& path = files[level];
  if (!path.empty()) return path;
  path = (fs::temp_directory_path() / ("rsdat-netcdf-bench-" + std::to_string(::getpid()) + "-" +
                                       std::to_string(level) + ".nc")).string();
  netcdf::WriteSpec spec;
  spec.variable = "v";
  spec.dtype = DType::kFloat32;
  spec.shape = {4, kSide, kSide};
  spec.dims = {"time", "y", "x"};
  spec.chunking = {1, kSide, kSide};
  spec.deflate_level = level;
  auto w = netcdf::Writer::create(path, spec);
  if (!w.ok()) throw std::runtime_error(w.status().to_string());
  for (int64_t t = 0; t < 4; ++t) {
    Chunk c = Chunk::allocate(DType::kFloat32, {1, kSide, kSide});
    float* p = c.mutable_data<float>();
    uint32_t s = 12345 + static_cast<uint32_t>(t);
    for (int64_t i = 0; i < kSide * kSide; ++i) {
      s = s * 1664525u + 1013904223u;
      p[i] = 20.0f + static_cast<float>(s >> 20) / 256.0f;  // temperature-like: compressible a little
    }
    if (!(*w)->write({t, 0, 0}, c).is_ok()) throw std::runtime_error("write failed");
  }
  if (!(*w)->close().is_ok()) throw std::runtime_error("close failed");
  return path;
}

void read_chunks(const std::string& path, int64_t first, int64_t n) {
  for (int64_t t = first; t < first + n; ++t) {
    auto c = netcdf::read(path, "v", {t, 0, 0}, {1, kSide, kSide}, path);
    if (!c.ok()) throw std::runtime_error(c.status().to_string());
    benchmark::DoNotOptimize(c->bytes());
  }
}

// range(0): zlib level (0: uncompressed); range(1): threads.
void BM_ReadFourChunks(benchmark::State& state) {
  const std::string& path = bench_file(static_cast<int>(state.range(0)));
  const int threads = static_cast<int>(state.range(1));
  read_chunks(path, 0, 4);  // opened and in the page cache
  for (auto _ : state) {
    if (threads == 1) {
      read_chunks(path, 0, 4);
    } else {
      std::thread a(read_chunks, std::cref(path), 0, 2), b(read_chunks, std::cref(path), 2, 2);
      a.join();
      b.join();
    }
  }
  state.SetBytesProcessed(state.iterations() * 4 * kSide * kSide * 4);
}
BENCHMARK(BM_ReadFourChunks)->Args({0, 1})->Args({0, 2})->Args({1, 1})->Args({1, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  // No HDF5 chunk cache: every read decompresses its chunk, as a task that reads a
  // block once does (with the cache, repeated reads here would only copy).
  nc_set_chunk_cache(0, 0, 0.0f);
  benchmark::RunSpecifiedBenchmarks();
  netcdf::close_cached_files();
  for (int level : {0, 1}) {
    std::error_code ec;
    fs::remove(bench_file(level), ec);
  }
  return 0;
}
