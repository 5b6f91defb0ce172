// Zarr v2 stores, read and written by the workers, compatible with zarr-python 2.x.
//
//   auto red = rsdat::from_zarr("/scratch/s2.zarr", "B04");   // lazy; chunks = the store's
//   auto out = rsdat::to_zarr(ndvi, "/scratch/out.zarr", "ndvi_mean");
//   out.sum().item();                                         // runs the write
//
//   auto b04 = rsdat::from_zarr("https://dcache.example.org:2880/s2.zarr", "B04");
//   rsdat::write_zarr(ndvi, "davs://dcache.example.org:2880/out.zarr", "ndvi_mean");
//
// A store is a directory every worker sees at the same path (on a cluster: the
// shared filesystem), an http(s):// or dav(s):// URL, or an s3://bucket/prefix
// (rsdat/store.hpp; the README's "Stores" and "S3" for credentials, limits and retries). Each task reads or writes its own
// chunk; a chunk is written to a temporary file and renamed, or sent in one PUT, so a
// crashed writer never leaves half a chunk.
// What is read and written is listed in io/zarr.hpp and the README.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "rsdat/array.hpp"

namespace rsdat {

// The array at `path` inside `store` ("" when the store is the array itself), with
// the store's chunks. Throws std::invalid_argument naming the file or URL when the
// metadata is missing, corrupt or unsupported, or the server refuses it (with the
// HTTP status); a chunk that cannot be read fails its task (after the retries).
Array from_zarr(const std::string& store, const std::string& path = "");

struct ZarrWriteOptions {
  Shape chunks;                     // the store's chunk shape; empty: the array's first chunks
  std::string compressor = "blosc"; // "blosc", "zstd", "lz4", "zlib", "gzip" or "none"
  std::string cname = "lz4";        // blosc: lz4, lz4hc, blosclz, zstd, zlib
  int level = 5;                    // compression level (blosc clevel, zstd/zlib/gzip level)
  int shuffle = 1;                  // blosc: 0 none, 1 byte, 2 bit
  bool fortran_order = false;
  std::optional<double> fill_value = 0.0;  // nullopt: null
  std::vector<std::string> dims;    // dimension names, written as xarray's _ARRAY_DIMENSIONS
};

// A lazy write of `array` to `path` inside `store`: an int64 array with one element per
// stored chunk (the bytes written). Computing it (e.g. `.sum().item()`) creates the
// array's metadata first, replacing an array already there, then writes every chunk.
// When the array's chunks differ from the store's it is rechunked on the way.
Array to_zarr(const Array& array, const std::string& store, const std::string& path = "",
              const ZarrWriteOptions& options = {});
// Writes now; returns the bytes written. Throws like compute(). Once every chunk is in
// place, the temporaries of workers that died while writing are removed.
uint64_t write_zarr(const Array& array, const std::string& store, const std::string& path = "",
                    const ZarrWriteOptions& options = {}, Client* client = nullptr);

}  // namespace rsdat
