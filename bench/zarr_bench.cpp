// rsdat-zarr-bench: Zarr chunk write and read throughput on one core (what one worker
// thread does per task): encode + write through a temporary file and rename, then
// read + decode, for 8 MiB float32 chunks of two kinds of data: random values (barely
// compressible) and a smooth field quantised like reflectances (compressible).
// Bytes per second count the uncompressed chunk.
//
//   build/bin/rsdat-zarr-bench [--benchmark_filter=Read] [--benchmark_min_time=0.5]
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "ops/builtin_ops.hpp"
#include "io/zarr.hpp"

namespace {

using namespace rsdat;

const Shape kChunk{8, 512, 512};

Chunk make_data(bool smooth) {
  Chunk c = Chunk::allocate(DType::kFloat32, kChunk);
  float* p = c.mutable_data<float>();
  for (int64_t i = 0; i < c.num_elements(); ++i) {
    if (smooth) {
      const int64_t x = i % 512, y = (i / 512) % 512;
      p[i] = std::round(1000.0f * (0.3f + 0.2f * std::sin(x * 0.01f) * std::cos(y * 0.013f))) / 1000.0f;
    } else {
      p[i] = static_cast<float>(ops::uniform_at(1, static_cast<uint64_t>(i)));
    }
  }
  return c;
}

zarr::ArrayMeta meta_for(const std::string& codec) {
  zarr::ArrayMeta m;
  m.shape = kChunk;
  m.chunks = kChunk;
  m.dtype = DType::kFloat32;
  if (codec == "blosc-lz4") {
    m.compressor.id = "blosc";
    m.compressor.cname = "lz4";
  } else if (codec == "blosc-zstd") {
    m.compressor.id = "blosc";
    m.compressor.cname = "zstd";
  } else if (codec == "zstd") {
    m.compressor.id = "zstd";
    m.compressor.level = 1;
  } else if (codec == "lz4") {
    m.compressor.id = "lz4";
  }
  return m;
}

std::string scratch_file() {
  const char* tmp = std::getenv("TMPDIR");
  return std::string(tmp && *tmp ? tmp : "/tmp") + "/rsdat-zarr-bench-" + std::to_string(::getpid()) + "/0.0.0";
}

void BM_Write(benchmark::State& state, std::string codec, bool smooth) {
  const zarr::ArrayMeta meta = meta_for(codec);
  const Chunk data = make_data(smooth);
  const std::string file = scratch_file();
  size_t stored = 0;
  for (auto _ : state) {
    auto bytes = zarr::encode_chunk(meta, data);
    if (!bytes.ok()) {
      state.SkipWithError(bytes.status().message().c_str());
      break;
    }
    stored = bytes->size;
    Status st = zarr::write_file_atomic(file, bytes->view());
    if (!st.is_ok()) {
      state.SkipWithError(st.message().c_str());
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.nbytes()));
  state.counters["ratio"] = static_cast<double>(data.nbytes()) / static_cast<double>(std::max<size_t>(stored, 1));
}

void BM_Read(benchmark::State& state, std::string codec, bool smooth) {
  const zarr::ArrayMeta meta = meta_for(codec);
  const Chunk data = make_data(smooth);
  const std::string file = scratch_file();
  if (!zarr::write_file_atomic(file, zarr::encode_chunk(meta, data)->view()).is_ok()) state.SkipWithError("cannot write");
  for (auto _ : state) {
    auto bytes = zarr::read_file(file);
    auto chunk = zarr::decode_chunk(meta, bytes->view(), kChunk, file);
    if (!chunk.ok()) {
      state.SkipWithError(chunk.status().message().c_str());
      break;
    }
    benchmark::DoNotOptimize(chunk->bytes());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.nbytes()));
}

void BM_Memcpy(benchmark::State& state) {
  const Chunk data = make_data(false);
  Chunk out = Chunk::allocate(DType::kFloat32, kChunk);
  for (auto _ : state) {
    std::memcpy(out.mutable_bytes(), data.bytes(), data.nbytes());
    benchmark::DoNotOptimize(out.mutable_bytes());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.nbytes()));
}

}  // namespace

BENCHMARK(BM_Memcpy)->UseRealTime();
BENCHMARK_CAPTURE(BM_Write, blosc_lz4_random, "blosc-lz4", false)->UseRealTime();
BENCHMARK_CAPTURE(BM_Write, blosc_lz4_smooth, "blosc-lz4", true)->UseRealTime();
BENCHMARK_CAPTURE(BM_Write, zstd_random, "zstd", false)->UseRealTime();
BENCHMARK_CAPTURE(BM_Write, zstd_smooth, "zstd", true)->UseRealTime();
BENCHMARK_CAPTURE(BM_Write, none_random, "none", false)->UseRealTime();
BENCHMARK_CAPTURE(BM_Read, blosc_lz4_random, "blosc-lz4", false)->UseRealTime();
BENCHMARK_CAPTURE(BM_Read, blosc_lz4_smooth, "blosc-lz4", true)->UseRealTime();
BENCHMARK_CAPTURE(BM_Read, zstd_random, "zstd", false)->UseRealTime();
BENCHMARK_CAPTURE(BM_Read, zstd_smooth, "zstd", true)->UseRealTime();
BENCHMARK_CAPTURE(BM_Read, none_random, "none", false)->UseRealTime();

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::filesystem::remove_all(std::filesystem::path(scratch_file()).parent_path());
  return 0;
}
