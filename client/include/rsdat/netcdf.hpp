// NetCDF4/HDF5 (and classic NetCDF) files, read by the workers through libnetcdf, and
// written from the client.
//
//   auto info = rsdat::netcdf_info("/scratch/daymet_v4_daily_na_tmax_2020.nc");
//   const auto* tmax = info.variable("tmax");          // dtype, dims, shape, chunking, attributes
//   auto t = rsdat::from_netcdf("/scratch/daymet_v4_daily_na_tmax_2020.nc", "tmax");  // lazy
//   auto summer = rsdat::view(t, rsdat::range(151, 243)).mean({0});
//   rsdat::to_netcdf(summer, "/scratch/summer.nc", "tmax_mean", {.dims = {"y", "x"}});
//
// Reading is lazy: each task reads its hyperslab on the worker it runs on, with the
// worker's own open file handles (one per file per process). The array's chunks are
// the variable's HDF5 chunks (or a multiple of them), or for contiguous storage blocks
// of about 64 MiB. Values are decoded as xarray's decode_cf does (scale_factor,
// add_offset, _FillValue and missing_value), unless mask_and_scale is false.
//
// A file is a path every worker sees (on a cluster: the shared filesystem), a file://
// URL, or an http(s):// or dav(s):// URL: libnetcdf reads no byte ranges over HTTP, so
// a remote file is fetched whole through the stores (rsdat/store.hpp: credentials,
// limits, retries) into a local cache file, once by the client for its metadata and
// once per worker process that reads it, and read there.
//
// Errors: std::invalid_argument naming the file and the variable for a missing file,
// a missing variable, a file that is not NetCDF, or a type rsdat does not read (strings,
// compounds); a block that cannot be read fails its task.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rsdat/array.hpp"

namespace rsdat {

// One attribute: text, or numbers (read as doubles; `dtype` is the stored type).
struct NetcdfAttribute {
  std::string name;
  bool is_text = false;
  std::string text;
  std::vector<double> values;
  DType dtype = DType::kFloat64;
  static NetcdfAttribute of_text(std::string name, std::string text) {
    NetcdfAttribute a;
    a.name = std::move(name);
    a.is_text = true;
    a.text = std::move(text);
    return a;
  }
  static NetcdfAttribute of_numbers(std::string name, std::vector<double> values, DType dtype = DType::kFloat64) {
    NetcdfAttribute a;
    a.name = std::move(name);
    a.values = std::move(values);
    a.dtype = dtype;
    return a;
  }
};

struct NetcdfVariable {
  std::string name;
  DType dtype = DType::kFloat64;  // as stored; from_netcdf's dtype may differ (CF decoding)
  std::vector<std::string> dims;
  Shape shape;
  Shape chunking;         // the HDF5 chunk shape; empty when stored contiguous
  int deflate_level = 0;  // zlib level, 0 when not compressed
  std::vector<NetcdfAttribute> attributes;
  const NetcdfAttribute* attribute(std::string_view name) const;
};

struct NetcdfInfo {
  std::string url;
  std::string format;  // "netCDF-4", "netCDF-4 classic model", "classic", "64-bit offset", "64-bit data"
  std::vector<std::pair<std::string, int64_t>> dimensions;
  std::vector<NetcdfVariable> variables;  // of types rsdat reads, in file order
  std::vector<NetcdfAttribute> attributes;  // global
  // nullptr when there is none.
  const NetcdfVariable* variable(std::string_view name) const;
};

// The dimensions, variables and attributes of the file at `url` (its root group).
// Throws std::invalid_argument naming the file when it is missing or not NetCDF.
NetcdfInfo netcdf_info(const std::string& url);

struct NetcdfReadOptions {
  // CF decoding (xarray's mask_and_scale): _FillValue and missing_value to NaN, then
  // scale_factor and add_offset; the dtype as xarray's: integers masked read as float32
  // (8 and 16 bits) or float64, scaled ones as float32 when 16 bits or fewer and no
  // add_offset, else float64; floats keep theirs. false: the stored values and dtype.
  bool mask_and_scale = true;
  // The array's chunk shape (-1: the whole axis); empty: the storage chunks, each axis
  // multiplied by chunk_multiple's (e.g. {1, 4, 4}; at most the axis).
  Shape chunks;
  Shape chunk_multiple;
  // Contiguous storage: blocks of about this many bytes, cut along the leading axes
  // (whole trailing axes, so each block is few contiguous runs of the file).
  uint64_t contiguous_chunk_bytes = uint64_t{64} << 20;
};

// The variable `variable` of the file at `url`, lazily, with its dimension names as
// dims(). Coordinate variables (time, y, x, lat, lon) read as any other; their
// attributes (units, calendar) are netcdf_info's. Throws as netcdf_info does, and for
// a missing variable (the message lists those there are).
Array from_netcdf(const std::string& url, const std::string& variable, const NetcdfReadOptions& options = {});

struct NetcdfWriteOptions {
  std::vector<std::string> dims;  // one name per axis; default the array's dims(), else dim_0, dim_1, ...
  std::vector<NetcdfAttribute> attrs;
  Shape chunks;                   // HDF5 chunk shape; default the array's first chunk along each axis
  int level = 4;                  // zlib level 1-9, 0 for none
  bool shuffle = true;            // HDF5's byte shuffle before zlib
  std::optional<double> fill_value;  // written as _FillValue
  // "w": replace the file; "a": add the variable to an existing NetCDF4 file (its
  // dimensions shared by name, their lengths checked), as xarray's mode= does.
  std::string mode = "w";
};

// Computes `array` and writes it as the NetCDF4 variable `variable` of the file at
// `path` (chunked, zlib-compressed), readable by netCDF4-python and xarray: a local
// file (written beside it and renamed into place), or an http(s)/dav(s) URL (written
// to a temporary file, then sent in one PUT; mode "a" is for local files only). The blocks
// are gathered to this process a few at a time (at most about 64 MiB at once, C order
// of the block grid) and written as they arrive: the client holds one batch, never the
// whole array; the cluster holds the computed array until it is written. Returns the
// bytes of data written (before compression). Throws std::invalid_argument for bad
// options (bool arrays: astype(uint8) first), TaskError / ClusterError as compute().
uint64_t to_netcdf(const Array& array, const std::string& path, const std::string& variable,
                   const NetcdfWriteOptions& options = {}, Client* client = nullptr);

}  // namespace rsdat
