// rsdat-ndvi: per-pixel NDVI averaged over time, from red and near-infrared Zarr stores
// to a float32 Zarr store.
//
// Inputs are 3-D (time, y, x) arrays of any numeric dtype, of the same shape. Each
// observation's NDVI is (nir - red) / (nir + red); it is missing (NaN) where both bands
// are 0 or either is NaN, which covers chunks never written to a store whose
// fill_value is 0 or NaN. The output pixel is the mean of its non-missing
// observations, NaN when there are none. The output has the inputs' spatial chunks.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>

#include "example_main.hpp"
#include "rsdat/rsdat.hpp"
#include "core/chunk.hpp"

int main(int argc, char** argv) {
  CLI::App app{"rsdat-ndvi: time-mean NDVI of red and near-infrared Zarr stores, written to a Zarr store.\n"
               "A store argument is a directory or an http(s)://, dav(s):// or s3:// URL, with :PATH for an array inside\n"
               "a group (e.g. cube.zarr:B04, https://dcache.example.org:2880/cube.zarr:B04, s3://bucket/cube.zarr:B04)."};
  std::string red_arg, nir_arg, out_arg, scheduler_file, compressor = "blosc";
  int workers = 2, threads = 1, level = 5;
  app.add_option("--red", red_arg, "red band store (time, y, x)")->required();
  app.add_option("--nir", nir_arg, "near-infrared band store (time, y, x)")->required();
  app.add_option("--out", out_arg, "output store for the NDVI map (float32, y x x); replaced if it is a Zarr array")
      ->required();
  app.add_option("--scheduler-file", scheduler_file, "use a running cluster instead of a local one");
  app.add_option("--workers", workers, "workers of the local cluster")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "threads per worker of the local cluster")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--compressor", compressor, "blosc, zstd, lz4, zlib, gzip or none")->capture_default_str();
  app.add_option("--level", level, "compression level")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  return rsdat::examples::run_reporting_errors("rsdat-ndvi", [&] {
    using Clock = std::chrono::steady_clock;
    auto [red_store, red_path] = rsdat::split_store_arg(red_arg);
    auto [nir_store, nir_path] = rsdat::split_store_arg(nir_arg);
    auto [out_store, out_path] = rsdat::split_store_arg(out_arg);
    rsdat::Array red = rsdat::from_zarr(red_store, red_path);
    rsdat::Array nir = rsdat::from_zarr(nir_store, nir_path);
    if (red.ndim() != 3) throw std::invalid_argument(red_arg + " is not 3-D (time, y, x)");
    if (red.shape() != nir.shape()) {
      throw std::invalid_argument("the bands differ in shape: " + red_arg + " is " + rsdat::shape_to_string(red.shape()) +
                                  ", " + nir_arg + " is " + rsdat::shape_to_string(nir.shape()));
    }
    auto connection = rsdat::examples::connect(scheduler_file, workers, threads);
    auto& client = connection.client;
    std::printf("NDVI time mean of %s and %s: %s %s cube, chunks %lld x %lld x %lld, on %zu workers\n",
                red_arg.c_str(), nir_arg.c_str(), rsdat::shape_to_string(red.shape()).c_str(),
                rsdat::dtype_name(red.dtype()), static_cast<long long>(red.chunks()[0][0]),
                static_cast<long long>(red.chunks()[1][0]), static_cast<long long>(red.chunks()[2][0]),
                client->cluster_status().workers.size());
    std::fflush(stdout);

    using rsdat::DType;
    const DType ft = red.dtype() == DType::kFloat64 || nir.dtype() == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32;
    auto r = red.astype(ft);
    auto n = nir.rechunk(red.chunks()).astype(ft);
    auto ndvi = (n - r) / (n + r);  // 0 / 0 is NaN: both bands 0
    auto map = ndvi.nanmean({0}).astype(DType::kFloat32);

    rsdat::ZarrWriteOptions opts;
    opts.compressor = compressor;
    opts.level = level;
    opts.chunks = {red.chunks()[1][0], red.chunks()[2][0]};
    opts.fill_value = std::nan("");
    if (red.dims().size() == 3) opts.dims = {red.dims()[1], red.dims()[2]};
    auto t0 = Clock::now();
    uint64_t written = rsdat::write_zarr(map, out_store, out_path, opts, client.get());
    double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const uint64_t tasks = client->last_stats().tasks;

    // Summary from what was written.
    auto result = rsdat::from_zarr(out_store, out_path);
    auto missing = rsdat::isnan(result);
    double valid = rsdat::where(missing, 0.0, 1.0 + 0.0 * rsdat::where(missing, 0.0, result)).sum().item(client.get());
    double mean = result.nanmean().item(client.get());
    double lo = rsdat::where(missing, INFINITY, result).min().item(client.get());
    double hi = rsdat::where(missing, -INFINITY, result).max().item(client.get());
    std::printf("wrote %s: %lld x %lld float32, %.1f MB compressed (%s)\n", out_arg.c_str(),
                static_cast<long long>(result.shape()[0]), static_cast<long long>(result.shape()[1]), written / 1e6,
                compressor.c_str());
    std::printf("  NDVI mean %.4f  min %.4f  max %.4f  (%.0f valid pixels of %lld)\n", mean, lo, hi, valid,
                static_cast<long long>(result.size()));
    std::printf("  %.2f s, %llu tasks, %.1f MB read\n", seconds, static_cast<unsigned long long>(tasks),
                (red.nbytes() + nir.nbytes()) / 1e6);
    return 0;
  });
}
