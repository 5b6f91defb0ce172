// rsdat-zarr-bench: Zarr chunk write and read throughput on one core (what one worker
// thread does per task): encode + write through a temporary file and rename, then
// read + decode, for 8 MiB float32 chunks of two kinds of data: random values (barely
// compressible) and a smooth field quantised like reflectances (compressible).
// Bytes per second count the uncompressed chunk. The V3Shard rows do the same for a
// Zarr v3 shard of the same 8 MiB holding 16 inner chunks of 8 x 128 x 128 (crc32c
// index at the end): the whole shard encoded and put once, then read back through the
// store with one ranged get of the index and one of the inner chunks.
//
//   build/bin/rsdat-zarr-bench [--benchmark_filter=Read] [--benchmark_min_time=0.5]
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "ops/builtin_ops.hpp"
#include "io/zarr.hpp"
#include "io/zarr3.hpp"

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

zarr3::ArrayMeta shard_meta_for(const std::string& codec) {
  const zarr::ArrayMeta v2 = meta_for(codec);
  zarr3::ArrayMeta m;
  m.shape = kChunk;
  m.chunks = kChunk;
  m.dtype = DType::kFloat32;
  zarr3::Codec shard{.name = "sharding_indexed"};
  shard.inner_chunks = {8, 128, 128};
  shard.inner = {zarr3::Codec{.name = "bytes"}};
  if (!v2.compressor.id.empty()) {
    zarr3::Codec c{.name = v2.compressor.id, .compressor = v2.compressor};
    shard.inner.push_back(c);
  }
  shard.index_codecs = {zarr3::Codec{.name = "bytes"}, zarr3::Codec{.name = "crc32c"}};
  m.codecs = {shard};
  return m;
}

void BM_V3ShardWrite(benchmark::State& state, std::string codec, bool smooth) {
  const zarr3::ArrayMeta meta = shard_meta_for(codec);
  const Chunk data = make_data(smooth);
  const std::string dir = std::filesystem::path(scratch_file()).parent_path().string();
  auto st = store::open_store(dir);
  size_t stored = 0;
  for (auto _ : state) {
    auto bytes = zarr3::encode_shard(meta, data, dir);
    if (!bytes.ok()) {
      state.SkipWithError(bytes.status().message().c_str());
      break;
    }
    stored = bytes->size;
    Status s = (*st)->put("c/0/0/0", bytes->view());
    if (!s.is_ok()) {
      state.SkipWithError(s.message().c_str());
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.nbytes()));
  state.counters["ratio"] = static_cast<double>(data.nbytes()) / static_cast<double>(std::max<size_t>(stored, 1));
}

void BM_V3ShardRead(benchmark::State& state, std::string codec, bool smooth) {
  const zarr3::ArrayMeta meta = shard_meta_for(codec);
  const Chunk data = make_data(smooth);
  const std::string dir = std::filesystem::path(scratch_file()).parent_path().string();
  auto st = store::open_store(dir);
  if (!(*st)->put("c/0/0/0", zarr3::encode_shard(meta, data, dir)->view()).is_ok()) state.SkipWithError("cannot write");
  for (auto _ : state) {
    auto chunk = zarr3::read_block(**st, "", meta, {0, 0, 0}, dir);
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
BENCHMARK_CAPTURE(BM_V3ShardWrite, blosc_lz4_random, "blosc-lz4", false)->UseRealTime();
BENCHMARK_CAPTURE(BM_V3ShardWrite, blosc_lz4_smooth, "blosc-lz4", true)->UseRealTime();
BENCHMARK_CAPTURE(BM_V3ShardWrite, zstd_random, "zstd", false)->UseRealTime();
BENCHMARK_CAPTURE(BM_V3ShardWrite, zstd_smooth, "zstd", true)->UseRealTime();
BENCHMARK_CAPTURE(BM_V3ShardWrite, none_random, "none", false)->UseRealTime();
BENCHMARK_CAPTURE(BM_V3ShardRead, blosc_lz4_random, "blosc-lz4", false)->UseRealTime();
BENCHMARK_CAPTURE(BM_V3ShardRead, blosc_lz4_smooth, "blosc-lz4", true)->UseRealTime();
BENCHMARK_CAPTURE(BM_V3ShardRead, zstd_random, "zstd", false)->UseRealTime();
BENCHMARK_CAPTURE(BM_V3ShardRead, zstd_smooth, "zstd", true)->UseRealTime();
BENCHMARK_CAPTURE(BM_V3ShardRead, none_random, "none", false)->UseRealTime();

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::filesystem::remove_all(std::filesystem::path(scratch_file()).parent_path());
  return 0;
}
