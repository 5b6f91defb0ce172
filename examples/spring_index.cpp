// rsdat-spring-index: the extended spring indices' (SI-x) first-leaf and first-bloom
// days and the growing-degree hours after the leaf, from Daymet-like daily tmin, tmax
// and dayl Zarr arrays to a Zarr store, on an rsdat cluster.
//
// The model (rsdat/phenology.hpp holds it in full): each day's growing-degree hours
// above 31 °F from an hourly temperature curve (a sine through the daylight hours from
// tmin to tmax, a logarithmic decay through the night from the sunset temperature);
// per day the sums over the last three days (dde2) and over days d-7..d-5 (dd57), the
// running count of days with dde2 >= 637 (synop) and the day index (mds0); per plant
// (lilac, arnold red, zabelii) mdsum1 = a mds0 + b synop + c dde2 + e dd57, and the
// first-leaf day is the first day (1-based) with mdsum1 >= 999.5, NaN where there is
// none; "mean" is the plants' mean rounded. agdh_after_leaf is the growing-degree hours
// summed from the first-leaf day to the last day. The first-bloom day is the first day
// from the leaf on with alpha agdh + beta (days since the leaf) > 999.5, agdh being the
// growing-degree hours from the leaf to that day. Pixels without data (NaN inputs: the
// sea) are NaN.
//
// Inputs: (time, y, x) arrays in °C, °C and seconds (any numeric dtype; as xarray
// writes them, with _ARRAY_DIMENSIONS), or NetCDF variables (Daymet's files: one per
// variable, _FillValue -9999 read as NaN; or one file holding the three). They are rechunked to one chunk along time (or
// --time-chunk days) and --chunk pixels along y and x: with one chunk along time every
// spatial block is one task after its growing-degree hours. Outputs, in --out:
// first_leaf, first_bloom and agdh_after_leaf, (plant, y, x) float32, with a `plant`
// coordinate of the plants' names, readable by xarray.open_zarr.
//
// --generate DIR writes a synthetic Daymet-like year instead: tmin, tmax and dayl
// (float32, (time, y, x)) with a seasonal cycle, a north-south gradient, a cold mountain
// and noise, NaN over a "sea" along the eastern edge, and time, y and x coordinates.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <numbers>
#include <sstream>

#include "core/chunk.hpp"
#include "example_main.hpp"
#include "rsdat/rsdat.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Adds `attrs` to the .zattrs of the array `name` in `store` (xarray reads them as the
// variable's attributes).
void add_attributes(const std::string& store, const std::string& name, const json& attrs) {
  json current = json::object();
  if (rsdat::store_exists(store, name + "/.zattrs")) current = json::parse(rsdat::store_get(store, name + "/.zattrs"));
  current.update(attrs);
  rsdat::store_put(store, name + "/.zattrs", current.dump(4));
}

// A 1-d array of fixed-width unicode strings ("<U"), uncompressed in one chunk: the
// plant names as a coordinate xarray decodes.
void write_string_coordinate(const std::string& store, const std::string& name, const std::vector<std::string>& values) {
  size_t width = 1;
  for (const auto& v : values) width = std::max(width, v.size());
  json meta = {{"zarr_format", 2},
               {"shape", json::array({values.size()})},
               {"chunks", json::array({values.size()})},
               {"dtype", "<U" + std::to_string(width)},
               {"compressor", nullptr},
               {"fill_value", nullptr},
               {"filters", nullptr},
               {"order", "C"}};
  rsdat::store_put(store, name + "/.zarray", meta.dump(4));
  rsdat::store_put(store, name + "/.zattrs", json{{"_ARRAY_DIMENSIONS", json::array({name})}}.dump(4));
  std::string raw;
  for (const auto& v : values) {
    for (size_t i = 0; i < width; ++i) {  // UTF-32LE; the names are ASCII
      const char32_t c = i < v.size() ? static_cast<unsigned char>(v[i]) : 0;
      for (int b = 0; b < 4; ++b) raw.push_back(static_cast<char>((c >> (8 * b)) & 0xff));
    }
  }
  rsdat::store_put(store, name + "/0", raw);
}

// The synthetic year: a seasonal cycle of temperature (coldest mid-January, warmest
// mid-July) falling from south to north, 25 °C colder on a mountain, a daily range of 8 to 14 °C, uniform noise, and
// day length from 9 to 15 hours (more spread to the north); NaN over the sea.
void generate(const std::string& dir, int64_t days, int64_t size, int64_t chunk, uint64_t seed, rsdat::Client& client) {
  using namespace rsdat;
  const Shape shape{days, size, size}, chunks{days, std::min(chunk, size), std::min(chunk, size)};
  const double two_pi = 2 * std::numbers::pi;
  auto t = coordinate(shape, chunks, 0, DType::kFloat32);
  auto yn = coordinate(shape, chunks, 1, DType::kFloat32) * (1.0 / static_cast<double>(size));  // 0 south .. 1 north
  auto xn = coordinate(shape, chunks, 2, DType::kFloat32) * (1.0 / static_cast<double>(size));
  auto season = -cos((t - 15.0) * (two_pi / 365.0));                // -1 mid-January .. 1 mid-July
  // A cold mountain in the north-west, where some plants never leaf out.
  auto mountain = ((xn - 0.3) * (xn - 0.3) + (yn - 0.7) * (yn - 0.7) < 0.01).astype(DType::kFloat32);
  auto tmean = 8.0 - 10.0 * yn + (13.0 + 4.0 * yn) * season - 25.0 * mountain;  // °C
  auto range_c = 11.0 + 3.0 * sin(t * (two_pi / 365.0) + 1.0 * xn);
  auto noise = [&](uint64_t s) { return (random::uniform(shape, chunks, s, DType::kFloat32) - 0.5) * 6.0; };
  auto dayl_h = 12.0 + (2.0 + 1.5 * yn) * sin((t - 79.0) * (two_pi / 365.0));
  auto sea = xn > 0.82 + 0.08 * sin(yn * 7.0);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto tmin = where(sea, nan, tmean - 0.5 * range_c + noise(seed)).astype(DType::kFloat32);
  auto tmax = where(sea, nan, tmean + 0.5 * range_c + noise(seed + 1)).astype(DType::kFloat32);
  auto dayl = where(sea, nan, dayl_h * 3600.0).astype(DType::kFloat32);

  ZarrWriteOptions opts;
  opts.chunks = chunks;
  opts.fill_value = nan;
  opts.dims = {"time", "y", "x"};
  write_zarr(tmin, dir, "tmin", opts, &client);
  write_zarr(tmax, dir, "tmax", opts, &client);
  write_zarr(dayl, dir, "dayl", opts, &client);
  add_attributes(dir, "tmin", {{"units", "degrees C"}, {"long_name", "minimum air temperature"}});
  add_attributes(dir, "tmax", {{"units", "degrees C"}, {"long_name", "maximum air temperature"}});
  add_attributes(dir, "dayl", {{"units", "s"}, {"long_name", "daylength"}});
  // Coordinates: days since the start of the year, and 1 km grid positions.
  ZarrWriteOptions c1;
  c1.compressor = "none";
  c1.dims = {"time"};
  write_zarr(arange(0, static_cast<double>(days), 1, days), dir, "time", c1, &client);
  add_attributes(dir, "time", {{"units", "days since 2023-01-01"}, {"calendar", "standard"}});
  for (const char* axis : {"y", "x"}) {
    c1.dims = {axis};
    write_zarr(arange(0, static_cast<double>(size), 1, size, DType::kFloat64) * 1000.0, dir, axis, c1, &client);
    add_attributes(dir, axis, {{"units", "m"}});
  }
}

// Whether an input store is a NetCDF file: by --format, else by its name.
bool is_netcdf(const std::string& store, const std::string& format) {
  if (format != "auto") return format == "netcdf";
  for (const char* ext : {".nc", ".nc4", ".h5", ".hdf5"}) {
    const std::string e(ext);
    if (store.size() > e.size() && store.compare(store.size() - e.size(), e.size(), e) == 0) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rsdat-spring-index: SI-x first-leaf and first-bloom days and growing-degree hours after the leaf, from daily tmin, tmax\n"
               "and dayl Zarr arrays or NetCDF variables (time, y, x; degrees C and seconds) to a Zarr store.\n"
               "A store argument is a directory or an http(s):// or dav(s):// URL, with :PATH for an array inside a\n"
               "group (e.g. daymet.zarr:tmin, https://dcache.example.org:2880/daymet.zarr:tmin). A NetCDF input is a\n"
               "file with :VARIABLE (default tmin, tmax or dayl): Daymet's one file per variable (--tmin tmin_2020.nc\n"
               "--tmax ... --dayl ...), or one file holding the three (--daymet daymet.nc)."};
  std::string tmin_arg, tmax_arg, dayl_arg, daymet_arg, out_arg, generate_dir, scheduler_file, compressor = "blosc";
  std::string format = "auto";
  int workers = 2, threads = 1;
  int64_t days = 0, size = 512, chunk = 256, time_chunk = 0;
  uint64_t seed = 2023;
  app.add_option("--daymet", daymet_arg, "a store holding tmin, tmax and dayl (as --generate writes it)");
  app.add_option("--tmin", tmin_arg, "daily minimum temperature, degrees C (default DAYMET:tmin)");
  app.add_option("--tmax", tmax_arg, "daily maximum temperature, degrees C (default DAYMET:tmax)");
  app.add_option("--dayl", dayl_arg, "day length, seconds (default DAYMET:dayl)");
  app.add_option("--out", out_arg, "output store (first_leaf, agdh_after_leaf, plant); its arrays are replaced");
  app.add_option("--days", days, "use the first N days (default: all; with --generate: 365)")
      ->check(CLI::PositiveNumber);
  app.add_option("--chunk", chunk, "chunk size along y and x")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--time-chunk", time_chunk,
                 "chunk size along time (default: all days in one chunk, the fastest)")
      ->check(CLI::PositiveNumber);
  app.add_option("--generate", generate_dir, "write a synthetic Daymet-like year to this store and exit");
  app.add_option("--size", size, "with --generate: pixels along y and x")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "with --generate: random seed of the noise")->capture_default_str();
  app.add_option("--scheduler-file", scheduler_file, "use a running cluster instead of a local one");
  app.add_option("--workers", workers, "workers of the local cluster")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "threads per worker of the local cluster")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--compressor", compressor, "blosc, zstd, lz4, zlib, gzip or none")->capture_default_str();
  app.add_option("--format", format,
                 "inputs: zarr, netcdf, or auto (NetCDF for files ending in .nc, .nc4, .h5, .hdf5)")
      ->capture_default_str()->check(CLI::IsMember({"auto", "zarr", "netcdf"}));
  CLI11_PARSE(app, argc, argv);
  if (generate_dir.empty() && out_arg.empty()) {
    std::fprintf(stderr, "rsdat-spring-index: give --out (or --generate DIR); see --help\n");
    return 2;
  }
  auto input = [&](std::string& arg, const char* name) {
    if (arg.empty() && !daymet_arg.empty()) arg = daymet_arg + ":" + name;
    return !arg.empty();
  };
  if (generate_dir.empty() && !(input(tmin_arg, "tmin") & input(tmax_arg, "tmax") & input(dayl_arg, "dayl"))) {
    std::fprintf(stderr, "rsdat-spring-index: give --daymet STORE, or --tmin, --tmax and --dayl\n");
    return 2;
  }

  return rsdat::examples::run_reporting_errors("rsdat-spring-index", [&] {
    using Clock = std::chrono::steady_clock;
    using namespace rsdat;
    auto connection = examples::connect(scheduler_file, workers, threads);
    auto& client = connection.client;
    if (!generate_dir.empty()) {
      const int64_t n = days > 0 ? days : 365;
      auto t0 = Clock::now();
      generate(generate_dir, n, size, chunk, seed, *client);
      std::printf("wrote %s: tmin, tmax, dayl (time %lld, y %lld, x %lld) float32 in %.2f s\n", generate_dir.c_str(),
                  static_cast<long long>(n), static_cast<long long>(size), static_cast<long long>(size),
                  std::chrono::duration<double>(Clock::now() - t0).count());
      return 0;
    }

    auto open = [&](const std::string& arg, const char* name) {
      auto [store, path] = split_store_arg(arg);
      Array a = is_netcdf(store, format) ? from_netcdf(store, path.empty() ? name : path) : from_zarr(store, path);
      if (a.ndim() != 3) throw std::invalid_argument(arg + " is not 3-D (time, y, x)");
      return a;
    };
    Array tmin = open(tmin_arg, "tmin"), tmax = open(tmax_arg, "tmax"), dayl = open(dayl_arg, "dayl");
    if (tmin.shape() != tmax.shape() || tmin.shape() != dayl.shape()) {
      throw std::invalid_argument("the inputs differ in shape: " + shape_to_string(tmin.shape()) + ", " +
                                  shape_to_string(tmax.shape()) + ", " + shape_to_string(dayl.shape()));
    }
    const int64_t n = days > 0 ? std::min(days, tmin.shape()[0]) : tmin.shape()[0];
    const int64_t ny = tmin.shape()[1], nx = tmin.shape()[2];
    // One chunk along time: each spatial block's whole chain is one task after gdh.
    // Shorter time chunks run the model as pad, rolling sums, a scan and reductions.
    const std::vector<int64_t> layout{time_chunk > 0 ? std::min(time_chunk, n) : n, std::min(chunk, ny),
                                      std::min(chunk, nx)};
    auto prepare = [&](const Array& a) {
      Array first = n < a.shape()[0] ? view(a, range(0, n)) : a;
      return first.rechunk(layout);
    };
    std::printf("SI-x first leaf and bloom of %s, %s, %s: %lld days of %lld x %lld pixels, chunks %lld x %lld x %lld, on %zu workers\n",
                tmin_arg.c_str(), tmax_arg.c_str(), dayl_arg.c_str(), static_cast<long long>(n),
                static_cast<long long>(ny), static_cast<long long>(nx), static_cast<long long>(layout[0]),
                static_cast<long long>(layout[1]), static_cast<long long>(layout[2]),
                client->cluster_status().workers.size());
    std::fflush(stdout);

    auto si = spring_index(prepare(tmin), prepare(tmax), prepare(dayl));
    auto [out_store, out_path] = split_store_arg(out_arg);
    const std::string out_dir = out_path.empty() ? out_store : out_store + "/" + out_path;
    ZarrWriteOptions opts;
    opts.compressor = compressor;
    opts.chunks = {4, layout[1], layout[2]};
    opts.fill_value = std::nan("");
    opts.dims = {"plant", tmin.dims().size() == 3 ? tmin.dims()[1] : "y", tmin.dims().size() == 3 ? tmin.dims()[2] : "x"};
    // The outputs in one computation: they share gdh and the leaf days.
    auto leaf_written = to_zarr(si.first_leaf, out_dir, "first_leaf", opts);
    auto bloom_written = to_zarr(si.first_bloom, out_dir, "first_bloom", opts);
    auto agdh_written = to_zarr(si.agdh_after_leaf.astype(DType::kFloat32), out_dir, "agdh_after_leaf", opts);
    auto t0 = Clock::now();
    const double bytes = stack({leaf_written.sum().astype(DType::kFloat64), bloom_written.sum().astype(DType::kFloat64),
                                agdh_written.sum().astype(DType::kFloat64)})
                             .sum()
                             .item(client.get());
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const uint64_t tasks = client->last_stats().tasks;
    std::vector<std::string> plants(kSpringIndexPlants.begin(), kSpringIndexPlants.end());
    write_string_coordinate(out_dir, "plant", plants);
    add_attributes(out_dir, "first_leaf",
                   {{"long_name", "SI-x first-leaf day"}, {"units", "day (1 = the first input day)"}});
    add_attributes(out_dir, "first_bloom",
                   {{"long_name", "SI-x first-bloom day"}, {"units", "day (1 = the first input day)"}});
    add_attributes(out_dir, "agdh_after_leaf",
                   {{"long_name", "growing-degree hours from the first-leaf day to the last day"},
                    {"units", "degree F hours"}, {"base_temperature", "31 degrees F"}});

    // Summary, read back from the store.
    auto leaf = from_zarr(out_dir, "first_leaf");
    auto valid = (~isnan(leaf)).sum({1, 2}).compute<double>(client.get());
    auto mean_day = leaf.nanmean({1, 2}).compute<double>(client.get());
    auto bloom_day = from_zarr(out_dir, "first_bloom").nanmean({1, 2}).compute<double>(client.get());
    auto agdh = from_zarr(out_dir, "agdh_after_leaf").nanmean({1, 2}).compute<double>(client.get());
    std::printf("wrote %s: first_leaf, first_bloom and agdh_after_leaf (plant %zu, y %lld, x %lld) float32, %.1f MB (%s)\n",
                out_dir.c_str(), plants.size(), static_cast<long long>(ny), static_cast<long long>(nx), bytes / 1e6,
                compressor.c_str());
    for (size_t p = 0; p < plants.size(); ++p) {
      std::printf("  %-11s first leaf on day %6.1f on average, %5.1f%% of pixels; first bloom on day %6.1f; "
                  "%8.0f degree-hours after the leaf\n",
                  plants[p].c_str(), mean_day(p), 100.0 * valid(p) / static_cast<double>(ny * nx), bloom_day(p),
                  agdh(p));
    }
    std::printf("  %.2f s, %llu tasks, %.1f MB of input\n", seconds, static_cast<unsigned long long>(tasks),
                (tmin.nbytes() + tmax.nbytes() + dayl.nbytes()) * static_cast<double>(n) / tmin.shape()[0] / 1e6);
    return 0;
  });
}
