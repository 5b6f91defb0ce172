// rsdat-bench: the workloads of BENCHMARKS.md on a LocalCluster or a running cluster.
// Prints one JSON line per workload and repeat.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <unistd.h>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "rsdat/rsdat.hpp"
#include "core/sysinfo.hpp"
#include "tests/integration/dav_server.hpp"  // lighttpd over WebDAV on loopback (remote_zarr_mean)

namespace {

using Clock = std::chrono::steady_clock;

struct Outcome {
  double check = 0;
  double check_sd = 0;  // > 0: the check is random with this standard deviation around 0
  // Released when the whole run is over: clean-up that is not part of the workload.
  // The Dask side deletes its stores at its end too (deleting gigabytes of files keeps
  // the disk and the kernel busy for a while: not during the next workload).
  std::shared_ptr<void> after;
  double seconds = -1;  // >= 0: the time of the workload's timed part (its set-up left out)
  nlohmann::json extra = nlohmann::json::object();  // more fields for its JSON line
};

struct Workload {
  std::string name;
  std::function<Outcome(rsdat::Client&, double scale)> run;
  std::string missing;  // capability not built yet: reported, not run
};

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::vector<Workload> workloads(uint64_t memory_limit_per_worker, int workers) {
  using namespace rsdat;
  std::vector<Workload> w;
  w.push_back({"tiny_tasks_sum", [](Client& c, double s) {
                 int64_t n = static_cast<int64_t>(10000 * s);
                 return Outcome{ones({n * 100}, {100}).sum().item(&c)};
               }, ""});
  w.push_back({"noop_tasks", [](Client& c, double s) {
                 // The no-op task rate: 50,000 one-element chunks made and kept on the
                 // workers (one task each, nothing to combine), timed to the last one
                 // held; the check, their sum, is computed after, untimed.
                 const int64_t n = std::max<int64_t>(1, static_cast<int64_t>(50000 * s));
                 auto t0 = Clock::now();
                 Array x = ones({n}, {1}).persist(&c);
                 const double seconds = seconds_since(t0);
                 Outcome o{x.sum().item(&c)};
                 o.seconds = seconds;
                 o.extra["tasks_per_second"] = static_cast<double>(n) / seconds;
                 return o;
               }, ""});
  w.push_back({"x_plus_xT_mean", [](Client& c, double s) {
                 int64_t m = static_cast<int64_t>(20000 * std::sqrt(s)) / 2000 * 2000;
                 auto x = random::uniform({m, m}, {2000, 2000}, 0);
                 return Outcome{(x + x.T()).mean({0}).sum().item(&c)};
               }, ""});
  w.push_back({"matmul", [](Client& c, double s) {
                 int64_t k = static_cast<int64_t>(8000 * std::cbrt(s)) / 1000 * 1000;
                 auto x = random::uniform({k, k}, {1000, 1000}, 1);
                 auto y = random::uniform({k, k}, {1000, 1000}, 2);
                 return Outcome{matmul(x, y).sum().item(&c)};
               }, ""});
  w.push_back({"ndvi_zarr", [](Client& c, double s) {
                 // Red and NIR written to Zarr (blosc-lz4, as zarr-python's default), read
                 // back, NDVI averaged over time written to Zarr; the check is the sum of the
                 // map read back from its store.
                 const int64_t t = 32;
                 const int64_t y = std::max<int64_t>(1024, static_cast<int64_t>(4096 * std::sqrt(s)) / 1024 * 1024);
                 const char* tmp_env = std::getenv("TMPDIR");
                 static int run = 0;
                 std::string dir = std::string(tmp_env && *tmp_env ? tmp_env : "/tmp") + "/rsdat-bench-ndvi-" +
                                   std::to_string(::getpid()) + "-" + std::to_string(run++);
                 // Deleted when the last of these goes: at the end of the run, or on an error.
                 std::shared_ptr<void> cleanup(nullptr, [dir](void*) { std::filesystem::remove_all(dir); });
                 const Shape shape{t, y, y}, chunks{8, 1024, 1024};
                 write_zarr(random::uniform(shape, chunks, 3, DType::kFloat32), dir, "red", {}, &c);
                 write_zarr(random::uniform(shape, chunks, 4, DType::kFloat32), dir, "nir", {}, &c);
                 auto red = from_zarr(dir, "red");
                 auto nir = from_zarr(dir, "nir");
                 write_zarr(((nir - red) / (nir + red)).mean({0}), dir, "ndvi_mean", {}, &c);
                 double check = from_zarr(dir, "ndvi_mean").sum().item(&c);
                 // Under the random inputs the sum is 0 +- this (one standard deviation).
                 double sd = 0.4768 / std::sqrt(static_cast<double>(t)) * static_cast<double>(y);
                 return Outcome{check, sd, cleanup};
               }, ""});
  w.push_back({"spill_2x_memory", [memory_limit_per_worker, workers](Client& c, double) {
                 double total = 2.0 * static_cast<double>(memory_limit_per_worker) * workers;
                 int64_t side = static_cast<int64_t>(std::sqrt(total / 8)) / 1000 * 1000;
                 auto x = random::uniform({side, side}, {1000, 1000}, 4).persist(&c);
                 return Outcome{x.sum().item(&c)};
               }});
  w.push_back({"rechunk_timeseries", [](Client& c, double s) {
                 int64_t t = std::max<int64_t>(1, static_cast<int64_t>(64 * s));
                 auto x = random::uniform({t, 2048, 2048}, {1, 2048, 2048}, 5).astype(DType::kFloat32);
                 return Outcome{x.rechunk({t, 128, 128}).std({0}).sum().item(&c)};
               }, ""});
  // A time series of grids minus its time mean, broadcast back (x - x.mean(axis=0,
  // keepdims=True) in dask), then its standard deviation over time.
  w.push_back({"broadcast_anomaly", [](Client& c, double s) {
                 const int64_t y = std::max<int64_t>(1024, static_cast<int64_t>(4096 * std::sqrt(s)) / 1024 * 1024);
                 auto x = random::uniform({64, y, y}, {8, 1024, 1024}, 6, DType::kFloat32);
                 return Outcome{(x - x.mean({0})).std({0}).sum().item(&c)};
               }, ""});
  // A cloud mask of the kind Sentinel-2 composites use: keep b where a > 0.2 and b is
  // finite, then the NaN-skipping mean over time.
  w.push_back({"masked_mean", [](Client& c, double s) {
                 const int64_t y = std::max<int64_t>(1024, static_cast<int64_t>(4096 * std::sqrt(s)) / 1024 * 1024);
                 auto a = random::uniform({64, y, y}, {8, 1024, 1024}, 7, DType::kFloat32);
                 auto b = random::uniform({64, y, y}, {8, 1024, 1024}, 8, DType::kFloat32);
                 auto masked = where((a > 0.2) & isfinite(b), b, std::numeric_limits<double>::quiet_NaN());
                 return Outcome{masked.nanmean({0}).sum().item(&c)};
               }, ""});
  // The time step of each pixel's maximum (argmax over time): a partial of (value,
  // index) per pixel per chunk, combined down the time axis.
  w.push_back({"argmax_time", [](Client& c, double s) {
                 const int64_t y = std::max<int64_t>(1024, static_cast<int64_t>(4096 * std::sqrt(s)) / 1024 * 1024);
                 auto x = random::uniform({64, y, y}, {8, 1024, 1024}, 9, DType::kFloat32);
                 return Outcome{x.argmax(0).sum().item(&c)};
               }, ""});
  // ---- scans ----
  // The running sum over time, materialised block by block and averaged over time: the
  // block totals, a chain of slab carries, and each block scanned from its carry.
  w.push_back({"cumsum_time", [](Client& c, double s) {
                 const int64_t y = std::max<int64_t>(1024, static_cast<int64_t>(4096 * std::sqrt(s)) / 1024 * 1024);
                 auto x = random::uniform({64, y, y}, {8, 1024, 1024}, 10, DType::kFloat32);
                 return Outcome{cumsum(x, 0).mean({0}).sum().item(&c)};
               }, ""});
  // ---- end of scans ----
  // ---- median_composite ----
  // A cloud-free median composite: the band masked to NaN where the scene
  // classification (SCL, uint8 0..11) says cloud shadow, cloud or cirrus (3, 8, 9, 10),
  // then the NaN-skipping median over time. Each median task reads its 8 masked blocks
  // of time directly (the pixels cut so that they hold at most 64 MiB).
  w.push_back({"median_composite", [](Client& c, double s) {
                 const int64_t y = std::max<int64_t>(1024, static_cast<int64_t>(4096 * std::sqrt(s)) / 1024 * 1024);
                 const Shape shape{64, y, y}, chunks{8, 1024, 1024};
                 auto b = random::uniform(shape, chunks, 10, DType::kFloat32);
                 auto scl = (random::uniform(shape, chunks, 11) * 12.0).astype(DType::kUInt8);
                 auto masked = where(isin(scl, {3, 8, 9, 10}), std::numeric_limits<double>::quiet_NaN(), b);
                 return Outcome{nanmedian(masked, {0}).sum().item(&c)};
               }, ""});
  // ---- end of median_composite ----
  // A moving sum over 8 time steps, then each pixel's mean over time (NaN skipped, as
  // xarray's mean does): only the 7 time steps before each chunk travel to it.
  w.push_back({"rolling_time", [](Client& c, double s) {
                 const int64_t y = std::max<int64_t>(1024, static_cast<int64_t>(4096 * std::sqrt(s)) / 1024 * 1024);
                 auto x = random::uniform({64, y, y}, {8, 1024, 1024}, 10, DType::kFloat32);
                 return Outcome{rolling(x, 0, 8).sum().nanmean({0}).sum().item(&c)};
               }, ""});
  // ---- groupby_month: a mean per month label of a daily cube (rsdat/group.hpp) ----
  // 360 days of y x y float32 in chunks of (30, 512, 512), labels day / 30: each month
  // lies in one chunk along time, so the cohorts plan reduces each chunk once, no tree.
  w.push_back({"groupby_month", [](Client& c, double s) {
                 const int64_t y = std::max<int64_t>(512, static_cast<int64_t>(2048 * std::sqrt(s)) / 512 * 512);
                 auto x = random::uniform({360, y, y}, {30, 512, 512}, 10, DType::kFloat32);
                 std::vector<int64_t> month(360);
                 for (int64_t d = 0; d < 360; ++d) month[static_cast<size_t>(d)] = d / 30;
                 return Outcome{groupby_reduce(x, month, 0, "mean").values.sum().item(&c)};
               }, ""});
  // ---- end of groupby_month ----
  // ---- spring_index: the SI-x first-leaf model (rsdat/phenology.hpp) ----
  // 300 days of y x y Daymet-like float32 inputs in chunks of (300, 256, 256): tmin and
  // tmax random around a seasonal cycle, dayl random in 8..16 h. The first-leaf days of
  // the three plants and their mean, and the growing-degree hours after them; the check
  // is the mean first-leaf day plus the mean agdh / 1000 (NaN skipped).
  w.push_back({"spring_index", [](Client& c, double s) {
                 const int64_t y = std::max<int64_t>(256, static_cast<int64_t>(2048 * std::sqrt(s)) / 256 * 256);
                 const Shape shape{300, y, y}, chunks{300, 256, 256};
                 auto t = coordinate({300, 1, 1}, {300, 1, 1}, 0, DType::kFloat32);
                 auto season = -cos((t - 15.0) * (2 * 3.141592653589793 / 365));
                 auto u = [&](uint64_t seed) { return random::uniform(shape, chunks, seed, DType::kFloat32); };
                 auto tmin = (5.0 + 13.0 * season - 5.0 + 6.0 * (u(12) - 0.5)).astype(DType::kFloat32);
                 auto tmax = (tmin + 6.0 + 8.0 * u(13)).astype(DType::kFloat32);
                 auto dayl = ((8.0 + 8.0 * u(14)) * 3600.0).astype(DType::kFloat32);
                 auto si = spring_index_leaf(tmin, tmax, dayl);
                 auto both = stack({si.first_leaf.astype(DType::kFloat64).nanmean(), si.agdh_after_leaf.nanmean()});
                 auto v = both.compute<double>(&c);
                 return Outcome{v(0) + v(1) / 1000};
               }, ""});
  // ---- end of spring_index ----
  // ---- cog_ndvi: rasters through GDAL (rsdat/raster.hpp) ----
  // 16 dates x 2 bands of uint16 COGs (bench/cog_inputs.py makes them once, in
  // $RSDAT_BENCH_COG_DIR when set: compare-dask does it before timing either side), NDVI
  // with nodata as NaN averaged over time without NaN, written as a DEFLATE COG; the
  // check is the NaN-skipping sum of the written file, read back.
  w.push_back({"cog_ndvi", [](Client& c, double s) {
                 const int64_t y = std::max<int64_t>(1024, static_cast<int64_t>(4096 * std::sqrt(s)) / 1024 * 1024);
                 const char* tmp_env = std::getenv("TMPDIR");
                 const std::string tmp = tmp_env && *tmp_env ? tmp_env : "/tmp";
                 const char* dir_env = std::getenv("RSDAT_BENCH_COG_DIR");
                 const std::string dir = dir_env && *dir_env ? dir_env : tmp + "/rsdat-bench-cogs-" + std::to_string(y);
                 const std::string cmd = "/usr/bin/python3 " RSDAT_BENCH_DIR "/cog_inputs.py " + dir + " " + std::to_string(y);
                 if (std::system(cmd.c_str()) != 0) throw std::runtime_error("cog_ndvi: " + cmd + " failed");
                 std::vector<Array> red, nir;
                 for (int t = 0; t < 16; ++t) {
                   const std::string date = (t < 10 ? "0" : "") + std::to_string(t) + ".tif";
                   red.push_back(from_raster(dir + "/red_" + date));
                   nir.push_back(from_raster(dir + "/nir_" + date));
                 }
                 auto r = stack(red, 0), n = stack(nir, 0);       // (time, band, y, x)
                 auto mean = ((n - r) / (n + r)).nanmean({0});     // (band, y, x), georeferenced
                 static int run = 0;
                 const std::string out = tmp + "/rsdat-bench-cog-ndvi-" + std::to_string(::getpid()) + "-" +
                                         std::to_string(run++) + ".tif";
                 std::shared_ptr<void> cleanup(nullptr, [out](void*) { std::filesystem::remove(out); });
                 to_raster(mean, out, {.compress = "DEFLATE"}, &c);
                 return Outcome{from_raster(out).nansum().item(&c), 0, cleanup};
               }, ""});
  // ---- remote_zarr_mean: ndvi_zarr's inputs read over WebDAV (rsdat/store.hpp) ----
  // Red and NIR as ndvi_zarr writes them, served by lighttpd on loopback with a bearer
  // token; the NDVI time mean reduced to its sum, read over HTTP and then, for the
  // machine's own measure, from the same files on local disk. Only the reads and the
  // computation are timed ("seconds" remote, "local_seconds" local). compare-dask
  // starts the server and makes the inputs once ($RSDAT_BENCH_REMOTE_URL and
  // $RSDAT_BENCH_REMOTE_DIR, the directory it serves); without them this starts its own.
  w.push_back({"remote_zarr_mean", [](Client& c, double s) {
                 const int64_t t = 32;
                 const int64_t y = std::max<int64_t>(1024, static_cast<int64_t>(4096 * std::sqrt(s)) / 1024 * 1024);
                 const char* url_env = std::getenv("RSDAT_BENCH_REMOTE_URL");
                 const char* dir_env = std::getenv("RSDAT_BENCH_REMOTE_DIR");
                 const char* tmp_env = std::getenv("TMPDIR");
                 const std::string tmp = tmp_env && *tmp_env ? tmp_env : "/tmp";
                 std::shared_ptr<rsdat::test_support::DavServer> own;
                 std::string dir, url;
                 if (url_env && *url_env && dir_env && *dir_env) {
                   dir = dir_env;
                   url = url_env;
                 } else {
                   const std::string scratch = tmp + "/rsdat-bench-dav-" + std::to_string(::getpid());
                   own = std::make_shared<rsdat::test_support::DavServer>(scratch, std::getenv("RSDAT_BEARER_TOKEN"));
                   dir = (own->root() / "cube.zarr").string();
                   url = own->url("cube.zarr");
                 }
                 const Shape shape{t, y, y}, chunks{8, 1024, 1024};
                 if (!std::filesystem::exists(dir + "/nir/.zarray")) {  // made once, untimed
                   write_zarr(random::uniform(shape, chunks, 3, DType::kFloat32), dir, "red", {}, &c);
                   write_zarr(random::uniform(shape, chunks, 4, DType::kFloat32), dir, "nir", {}, &c);
                 }
                 auto ndvi_sum = [&c](const std::string& store) {
                   auto red = from_zarr(store, "red");
                   auto nir = from_zarr(store, "nir");
                   return ((nir - red) / (nir + red)).mean({0}).sum().item(&c);
                 };
                 auto t0 = Clock::now();
                 const double local = ndvi_sum(dir);
                 const double local_seconds = seconds_since(t0);
                 t0 = Clock::now();
                 Outcome o{ndvi_sum(url)};
                 o.seconds = seconds_since(t0);
                 if (o.check != local) throw std::runtime_error("remote_zarr_mean: the remote sum differs from the local one");
                 o.extra["local_seconds"] = local_seconds;
                 const char* conc = std::getenv("RSDAT_STORE_CONCURRENCY");
                 o.extra["store_concurrency"] = conc && *conc ? std::atoi(conc) : 16;
                 if (own) o.after = std::move(own);  // the server and its files go at the end
                 return o;
               }, ""});
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rsdat-bench: the benchmark workloads, one JSON line per workload and repeat"};
  std::string scheduler_file, only, memory_limit = "4GB";
  int workers = 2, threads = 1, repeat = 1;
  double scale = 1.0;
  bool list = false;
  app.add_option("--scheduler-file", scheduler_file, "use a running cluster instead of a LocalCluster");
  app.add_option("--workers", workers, "LocalCluster workers")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "threads per worker")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--workload", only, "comma-separated workload names (default: all)");
  app.add_option("--scale", scale, "size factor (1 = the sizes of BENCHMARKS.md)")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--repeat", repeat, "runs per workload")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--memory-limit", memory_limit, "memory limit per worker")->capture_default_str();
  app.add_flag("--list", list, "list the workloads and exit");
  CLI11_PARSE(app, argc, argv);

  uint64_t limit = 0;
  try {
    auto parsed = rsdat::parse_bytes(memory_limit);
    limit = parsed ? *parsed : rsdat::total_memory_bytes() / static_cast<uint64_t>(workers);
  } catch (const std::exception& e) {
    std::cerr << "rsdat-bench: --memory-limit: " << e.what() << "\n";
    return 2;
  }
  auto all = workloads(limit, workers);
  std::vector<std::string> selected;
  if (!only.empty()) {
    std::stringstream ss(only);
    for (std::string name; std::getline(ss, name, ',');) {
      bool known = false;
      for (const auto& w : all) known = known || w.name == name;
      if (!known) {
        std::cerr << "rsdat-bench: unknown workload '" << name << "' (see --list)\n";
        return 2;
      }
      selected.push_back(name);
    }
  }
  if (list) {
    for (const auto& w : all) std::cout << w.name << (w.missing.empty() ? "" : "  (" + w.missing + ")") << "\n";
    return 0;
  }
  const bool remote = only.empty() || std::find(selected.begin(), selected.end(), "remote_zarr_mean") != selected.end();
  if (remote && !std::getenv("RSDAT_BEARER_TOKEN")) {
    // remote_zarr_mean's own server wants a token, and the workers send the one they
    // inherit from here: made up now, before the cluster starts.
    ::setenv("RSDAT_BEARER_TOKEN", ("bench-" + std::to_string(::getpid()) + "-" + std::to_string(Clock::now().time_since_epoch().count())).c_str(), 1);
  }
  try {
    std::unique_ptr<rsdat::LocalCluster> cluster;
    std::unique_ptr<rsdat::Client> client;
    if (scheduler_file.empty()) {
      cluster = std::make_unique<rsdat::LocalCluster>(rsdat::LocalClusterOptions{
          .workers = workers, .threads_per_worker = threads, .memory_limit = std::to_string(limit)});
      client = std::make_unique<rsdat::Client>(*cluster, rsdat::ClientOptions{.progress = false});
    } else {
      client = rsdat::Client::from_scheduler_file(scheduler_file, 60, rsdat::ClientOptions{.progress = false});
    }
    auto status = client->cluster_status();
    int nthreads = status.workers.empty() ? 0 : static_cast<int>(status.workers[0].nthreads);
    int failures = 0;
    std::vector<std::shared_ptr<void>> at_exit;  // each workload's clean-up, run last
    for (const auto& w : all) {
      if (!selected.empty() && std::find(selected.begin(), selected.end(), w.name) == selected.end()) continue;
      for (int r = 0; r < repeat; ++r) {
        nlohmann::json line;
        line["name"] = w.name;
        line["workers"] = status.workers.size();
        line["threads"] = nthreads;
        line["repeat"] = r;
        if (!w.missing.empty()) {
          line["skipped"] = w.missing;
          std::cout << line.dump() << std::endl;
          break;
        }
        auto before = client->cluster_status();
        uint64_t moved_before = before.bytes_transferred;
        uint64_t spilled_before = 0;
        for (const auto& ws : before.workers) spilled_before += ws.spilled_total;
        auto t0 = Clock::now();
        try {
          Outcome o = w.run(*client, scale);
          line["seconds"] = o.seconds >= 0 ? o.seconds : seconds_since(t0);
          line.update(o.extra);
          if (o.after) at_exit.push_back(std::move(o.after));
          line["check"] = o.check;
          if (o.check_sd > 0) line["check_sd"] = o.check_sd;
        } catch (const std::exception& e) {
          line["seconds"] = seconds_since(t0);
          line["error"] = e.what();
          ++failures;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // a heartbeat later
        auto after = client->cluster_status();
        line["tasks"] = client->last_stats().tasks;
        line["bytes_transferred"] = after.bytes_transferred - moved_before;
        uint64_t spilled = 0;
        std::vector<uint64_t> peak;
        for (const auto& ws : after.workers) {
          spilled += ws.spilled_total;
          peak.push_back(ws.peak_rss_bytes);
        }
        line["bytes_spilled"] = spilled - std::min(spilled, spilled_before);  // written to disk during the run
        line["peak_rss"] = peak;  // per worker, since it started (as of its last heartbeat)
        // The memory plan of the workload's last graph, beside the peak it reached.
        line["plan_projected_peak"] = after.plan_projected_peak;
        line["plan_replayed"] = after.plan_replayed;
        line["plan_measured_peak"] = after.plan_measured_peak;
        std::cout << line.dump() << std::endl;
      }
    }
    return failures == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "rsdat-bench: " << e.what() << "\n";
    return 1;
  }
}
