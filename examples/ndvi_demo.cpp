// rsdat-ndvi-demo: time-mean NDVI of a synthetic red / near-infrared cube.
//
// The cube (time x y x x, float32) is generated on the workers; NDVI per pixel,
// (nir - red) / (nir + red), is averaged over time and gathered as a map; the map is
// summarised and written as a PNG quicklook with a colour scale.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>

#include "quicklook.hpp"
#include "example_main.hpp"
#include "rsdat/rsdat.hpp"

int main(int argc, char** argv) {
  CLI::App app{"rsdat-ndvi-demo: time-mean NDVI of a synthetic red/NIR cube on an rsdat cluster"};
  int64_t time = 32, size = 2048, chunk = 512, time_chunk = 8;
  int workers = 2, threads = 1;
  uint64_t seed = 2024;
  std::string scheduler_file, out = "ndvi_quicklook.png";
  app.add_option("--time", time, "time steps in the cube")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--size", size, "pixels along y and x")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--chunk", chunk, "chunk size along y and x")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--time-chunk", time_chunk, "chunk size along time")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--workers", workers, "workers of the local cluster")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "threads per worker")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--scheduler-file", scheduler_file, "use a running cluster instead of a local one");
  app.add_option("--seed", seed, "random seed of the synthetic bands")->capture_default_str();
  app.add_option("--out", out, "PNG quicklook to write")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (chunk > size || time_chunk > time) {
    std::cerr << "rsdat-ndvi-demo: chunks must not be larger than the cube (--chunk <= --size, --time-chunk <= --time)\n";
    return 2;
  }

  return rsdat::examples::run_reporting_errors("rsdat-ndvi-demo", [&] {
    using Clock = std::chrono::steady_clock;
    auto connection = rsdat::examples::connect(scheduler_file, workers, threads);
    auto& client = connection.client;
    const auto status = client->cluster_status();
    std::printf("computing NDVI mean over a %lld x %lld x %lld float32 cube (chunks %lld x %lld x %lld) on %zu workers x %u threads...\n",
                static_cast<long long>(time), static_cast<long long>(size), static_cast<long long>(size),
                static_cast<long long>(time_chunk), static_cast<long long>(chunk), static_cast<long long>(chunk),
                status.workers.size(), status.workers.empty() ? 0u : status.workers[0].nthreads);
    std::fflush(stdout);

    const rsdat::Shape shape{time, size, size}, chunks{time_chunk, chunk, chunk};
    // A landscape: fields of more and less vegetation (a smooth pattern over y and x)
    // that green up and brown off over the season (time), with sensor noise. Red
    // reflectance falls and near-infrared rises with vegetation.
    using rsdat::DType;
    auto t = rsdat::coordinate(shape, chunks, 0, DType::kFloat32);
    auto y = rsdat::coordinate(shape, chunks, 1, DType::kFloat32);
    auto x = rsdat::coordinate(shape, chunks, 2, DType::kFloat32);
    // Normalised coordinates in [0, 1): a large vegetated area in the middle and a
    // band of sparse vegetation along the diagonal.
    auto xn = x * (1.0 / static_cast<double>(size));
    auto yn = y * (1.0 / static_cast<double>(size));
    auto tn = t * (1.0 / static_cast<double>(time));
    auto hill = 16.0 * xn * (1.0 - xn) * yn * (1.0 - yn);
    auto diag = (xn - yn) * (xn - yn);
    auto season = 4.0 * tn * (1.0 - tn);  // green-up and senescence
    auto veg = 0.15 + 0.6 * hill * (0.5 + 0.5 * season) - 0.3 * rsdat::minimum(diag, 0.0 * diag + 0.5);
    auto red = 0.02 + 0.12 * (1.0 - veg) + 0.02 * rsdat::random::uniform(shape, chunks, seed, DType::kFloat32);
    auto nir = 0.10 + 0.45 * veg + 0.04 * rsdat::random::uniform(shape, chunks, seed + 1, DType::kFloat32);
    auto ndvi_mean = ((nir - red) / (nir + red)).mean({0});

    auto t0 = Clock::now();
    xt::xarray<float> map = ndvi_mean.compute<float>(client.get());
    double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const uint64_t tasks = client->last_stats().tasks;

    double sum = 0;
    float lo = INFINITY, hi = -INFINITY;
    size_t valid = 0;
    for (float v : map) {
      if (std::isnan(v)) continue;
      sum += v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      ++valid;
    }
    std::string error;
    const float vmin = 0.0f, vmax = 1.0f;
    bool png = rsdat::examples::write_quicklook_png(out, map, vmin, vmax, &error);
    std::printf("NDVI time mean: %zu x %zu map\n", map.shape()[0], map.shape()[1]);
    std::printf("  mean %.4f  min %.4f  max %.4f  (%zu valid pixels)\n", valid ? sum / valid : NAN, lo, hi, valid);
    std::printf("  %.2f s, %llu tasks, %.1f MB of input generated on the workers\n", seconds,
                static_cast<unsigned long long>(tasks), 2.0 * time * size * size * 4 / 1e6);
    if (png) {
      std::printf("  quicklook: %s (colour scale %.1f brown .. %.1f green along the bottom)\n", out.c_str(), vmin, vmax);
    } else {
      std::fprintf(stderr, "rsdat-ndvi-demo: %s\n", error.c_str());
      return 1;
    }
    return 0;
  });
}
