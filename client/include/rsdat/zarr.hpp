// Zarr v2 and v3 stores, read and written by the workers, compatible with zarr-python
// 2.x and with Zarr v3 readers and writers (zarrita, zarr-python 3), sharding included.
//
//   auto red = rsdat::from_zarr("/scratch/s2.zarr", "B04");   // lazy; chunks = the store's
//   auto out = rsdat::to_zarr(ndvi, "/scratch/out.zarr", "ndvi_mean");
//   out.sum().item();                                         // runs the write
//
//   auto b04 = rsdat::from_zarr("https://dcache.example.org:2880/s2.zarr", "B04");
//   rsdat::write_zarr(ndvi, "davs://dcache.example.org:2880/out.zarr", "ndvi_mean");
//
//   rsdat::ZarrWriteOptions v3;                 // Zarr v3, shards of 16 chunks of 256 x 256
//   v3.zarr_format = 3;
//   v3.chunks = {256, 256};
//   v3.shards = {1024, 1024};
//   rsdat::write_zarr(ndvi, "/scratch/out.zarr", "ndvi_v3", v3);
//   auto back = rsdat::from_zarr("/scratch/out.zarr", "ndvi_v3");  // chunks = the shards
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
// the store's chunks (a sharded v3 array: one chunk per shard). A zarr.json there
// makes it Zarr v3, else it is read as v2 (.zarray). Throws std::invalid_argument naming the file or URL when the
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
                                    // (v2) or as dimension_names (v3)
  int zarr_format = 2;              // 2, or 3 (compressor then blosc, zstd, gzip or none)
  Shape shards;                     // v3: the shard shape in elements, a multiple of chunks
                                    // per axis (-1: the whole axis); empty: no sharding
  std::string index_location = "end";  // v3 shards: the index "end" or "start"
  bool checksum = false;            // v3: a crc32c codec after the chunks' compressor
};

// A lazy write of `array` to `path` inside `store`: an int64 array with one element per
// stored chunk (the bytes written). Computing it (e.g. `.sum().item()`) creates the
// array's metadata first, replacing an array already there, then writes every chunk.
// When the array's chunks differ from the store's it is rechunked on the way. A sharded
// v3 write runs one task per shard, which encodes the shard's inner chunks and puts the
// shard once (inner chunks that hold only the fill value are left out).
Array to_zarr(const Array& array, const std::string& store, const std::string& path = "",
              const ZarrWriteOptions& options = {});
// Writes now; returns the bytes written. Throws like compute(). Once every chunk is in
// place, the temporaries of workers that died while writing are removed.
uint64_t write_zarr(const Array& array, const std::string& store, const std::string& path = "",
                    const ZarrWriteOptions& options = {}, Client* client = nullptr);

}  // namespace rsdat
