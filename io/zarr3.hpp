// Zarr v3: zarr.json metadata, the codec pipeline, shards, and the chunk and shard
// read/write kernels (the format of the Zarr v3.0 specification, as zarrita and
// zarr-python 3 write it).
//
// What is supported: data types bool, int8-64, uint8-64, float32, float64; the regular
// chunk grid; chunk_key_encoding "default" ("c/0/1", separator "/" or ".") and "v2"
// ("0.1" or "0/1"); fill values as numbers, booleans, "NaN", "Infinity", "-Infinity"
// and hex bit patterns ("0x7fc00000"); dimension_names; attributes; groups. Codecs:
// array-to-array `transpose`; array-to-bytes `bytes` (endian little or big) and
// `sharding_indexed` (inner chunk shape, inner codecs, index codecs of fixed size,
// index_location "end" or "start"; an inner chunk whose index entry is the pair
// 2^64-1, 2^64-1 is empty and reads as the fill value); bytes-to-bytes `gzip`, `zstd`,
// `blosc` and `crc32c` (checked on read). Edge chunks are stored at full chunk size.
//
// A sharded array is read and written one shard per task: a write gathers the inner
// chunks of its shard, encodes them and puts the shard object once (memory: the shard's
// data plus its encoded bytes); a read fetches the shard index with one ranged get and
// then only the inner chunks inside the array, with ranged gets (adjacent ones merged).
//
// Errors name the store's URL or directory and the key they concern. Thread-safe (no
// shared state).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/chunk.hpp"
#include "core/status.hpp"
#include "io/store.hpp"
#include "io/zarr.hpp"

namespace rsdat::zarr3 {

using Bytes = store::Bytes;

// One codec of a pipeline, with the configuration of its kind.
struct Codec {
  std::string name;  // "bytes", "transpose", "gzip", "zstd", "blosc", "crc32c", "sharding_indexed"
  bool big_endian = false;         // bytes
  std::vector<int64_t> order;      // transpose: a permutation of the axes
  zarr::Compressor compressor;     // gzip, zstd, blosc (id "gzip", "zstd", "blosc")
  int typesize = 0;                // blosc: 0 = the data type's size
  bool checksum = false;           // zstd: frames carry a checksum
  // sharding_indexed
  Shape inner_chunks;
  std::vector<Codec> inner;         // the inner chunks' pipeline
  std::vector<Codec> index_codecs;  // the index's pipeline (fixed size: bytes, crc32c)
  bool index_at_start = false;
};

// The metadata of one array (zarr.json with node_type "array").
struct ArrayMeta {
  Shape shape;
  Shape chunks;  // the chunk grid: the shard shape when the array is sharded
  DType dtype = DType::kFloat64;
  std::optional<double> fill_value = 0.0;
  std::vector<Codec> codecs;
  bool v2_keys = false;  // chunk_key_encoding "v2" (no "c" prefix)
  char separator = '/';
  std::vector<std::string> dims;  // dimension_names; empty when there are none
  std::string attributes = "{}";  // the attributes object, as JSON text

  // The sharding codec when the pipeline is sharded, else nullptr.
  const Codec* sharding() const;
  // The bytes of one chunk of the grid (a whole shard) in memory.
  size_t chunk_nbytes() const;
  // The same metadata as a v2 ArrayMeta (shape, chunks, dtype, fill value, dims): what
  // the shared grid helpers (zarr::blocks_along, zarr::block_extent) take.
  zarr::ArrayMeta grid() const;
};

// Parses a zarr.json document of an array; `where` names it in errors. The document is
// untrusted: like zarr::parse_zarray, deep nesting, huge chunks and anything this reader
// does not support (an unknown codec or data type, a missing array-to-bytes codec, a
// shard shape that is no multiple of the inner chunk shape) are kInvalidArgument.
Result<ArrayMeta> parse_array(std::string_view text, const std::string& where);
// "array" or "group" for a zarr.json document (kInvalidArgument for anything else).
Result<std::string> node_type(std::string_view text, const std::string& where);
// The zarr.json document of `meta`.
std::string to_json(const ArrayMeta& meta);
// The zarr.json document of a group with no attributes.
std::string group_json();

// The key of a chunk (a shard) of the grid, relative to the array: "c/0/3/1" ("c" for
// a zero-dimensional array), or "0.3.1" with the v2 encoding.
std::string chunk_key(const ArrayMeta& meta, const std::vector<int64_t>& block);

// CRC-32C (Castagnoli), as the crc32c codec stores it (little-endian, after the data).
uint32_t crc32c(const uint8_t* data, size_t n, uint32_t crc = 0);

// Encodes one chunk of `shape` (C order, native byte order, exactly `shape`) through
// `codecs`. Sharding is refused here (encode_shard does it). Errors name `where`.
Result<Bytes> encode(const std::vector<Codec>& codecs, DType dtype, const Shape& shape, const Chunk& chunk,
                     const std::string& where);
// Decodes the stored bytes of one chunk of `shape` through `codecs` into a C-order
// chunk in native byte order. The bytes are untrusted: kIO (naming `where`) when they
// do not decode to exactly one chunk, or a checksum differs.
Result<Chunk> decode(const std::vector<Codec>& codecs, DType dtype, const Shape& shape, std::string_view stored,
                     const std::string& where);

// The pair that marks an empty inner chunk in a shard index.
inline constexpr uint64_t kEmptyEntry = UINT64_MAX;
// How many inner chunks a shard holds along each axis.
Shape inner_grid(const ArrayMeta& meta);
// The stored size of the shard index (16 bytes per inner chunk plus what its codecs add).
Result<uint64_t> shard_index_nbytes(const ArrayMeta& meta);
// The shard index: (offset, nbytes) per inner chunk, in C order of the inner grid.
// Checks the index codecs (crc32c), and that every entry is empty or lies inside a
// shard object of `shard_size` bytes (0: unknown) outside the index. Errors name `where`.
Result<std::vector<uint64_t>> decode_shard_index(const ArrayMeta& meta, std::string_view stored, uint64_t shard_size,
                                                 const std::string& where);
// Encodes the shard at `block` from `data` (its part of the array, C order, at most the
// shard shape): every inner chunk inside the array goes through the inner codecs, an
// inner chunk that holds only the fill value is left out (marked empty), and the index
// goes first or last. An empty `Bytes` (size 0) when every inner chunk is empty.
Result<Bytes> encode_shard(const ArrayMeta& meta, const Chunk& data, const std::string& where);

// The stored bytes of the chunk (shard) whose part of the array is `data` (the block's
// extent): edge chunks are padded with the fill value; a shard goes to encode_shard.
Result<Bytes> encode_block(const ArrayMeta& meta, const Chunk& data, const std::string& where);

// Reads the chunk (shard) at `block` of the array stored under `key` in `st` into a
// chunk of the block's extent; a missing object reads as the fill value. A sharded
// array's index is read with one ranged get, then its non-empty inner chunks inside the
// array with ranged gets. `where` (the array's URL) starts every error message.
Result<Chunk> read_block(store::Store& st, const std::string& key, const ArrayMeta& meta,
                         const std::vector<int64_t>& block, const std::string& where);

// The metadata of the array at `path` inside `store` (a directory or a URL) from its
// zarr.json. kNotFound when there is no zarr.json there (the caller may try v2);
// kInvalidArgument for a group (naming its members) or a malformed document.
Result<ArrayMeta> open_array(const std::string& store, const std::string& path);

// Prepares the array for writing: refuses a directory that holds files and is not a
// Zarr array or group, or a group; removes an old array's chunks (unless its metadata
// is the very same), writes group zarr.json files on the way from the root when there
// are none, then the array's zarr.json.
Status create_array(const std::string& store, const std::string& path, const ArrayMeta& meta);

}  // namespace rsdat::zarr3

namespace rsdat::ops {
// Reads one chunk (shard) of a Zarr v3 array: params (array URL, zarr.json text, block).
inline constexpr const char* kZarr3Read = "zarr3_read";
// Writes its input (the last one; the first may be the create task) as the chunk or
// shard at `block`: params (array URL, zarr.json text, block). Output: int64 (1,...,1),
// the bytes written.
inline constexpr const char* kZarr3Write = "zarr3_write";
// Creates the array: params (store, path in store, zarr.json text). Output 0.
inline constexpr const char* kZarr3Create = "zarr3_create";
std::string zarr3_block_params(const std::string& array_url, const std::string& meta_json,
                               const std::vector<int64_t>& block);
std::string zarr3_create_params(const std::string& store, const std::string& path, const std::string& meta_json);
}  // namespace rsdat::ops

namespace rsdat {
class OpRegistry;
namespace ops {
// Registers the Zarr v3 kernels (register_io_ops calls it).
void register_zarr3_ops(OpRegistry& registry);
}  // namespace ops
}  // namespace rsdat
