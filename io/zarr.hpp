// Zarr v2: array metadata, chunk codecs and chunk files, compatible with zarr-python 2.x.
//
// What is supported: numeric dtypes of either byte order and bool; order C and F;
// fill_value numbers, "NaN", "Infinity", "-Infinity" and null (read as 0); filters
// null; compressors null, blosc (any cname and shuffle), zstd, lz4 (numcodecs
// framing: 4-byte little-endian size, then an LZ4 block), zlib and gzip;
// dimension_separator "." and "/". Edge chunks are stored at full chunk size.
//
// Everything here works on bytes and stores (io/store.hpp: a directory or an
// http(s)/dav(s) URL); the array operations that use it are in the client (from_zarr,
// to_zarr) and the zarr_read/zarr_write kernels. Errors name the file or URL they
// concern. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/chunk.hpp"
#include "core/status.hpp"
#include "io/store.hpp"

namespace rsdat::zarr {

struct Compressor {
  std::string id;            // "" (none), "blosc", "zstd", "lz4", "zlib", "gzip"
  std::string cname = "lz4"; // blosc only
  int level = 5;             // blosc clevel, zstd/zlib/gzip level
  int shuffle = 1;           // blosc: 0 none, 1 byte, 2 bit, -1 auto
  int blocksize = 0;         // blosc
  int acceleration = 1;      // lz4
};

struct ArrayMeta {
  Shape shape;
  Shape chunks;
  DType dtype = DType::kFloat64;
  bool big_endian = false;
  bool fortran_order = false;
  std::optional<double> fill_value;  // nullopt: null
  Compressor compressor;
  char separator = '.';
  std::vector<std::string> dims;     // from .zattrs _ARRAY_DIMENSIONS, if any

  size_t chunk_nbytes() const;
};

// Parses a .zarray document; `where` names it in errors. The document is untrusted:
// nesting deeper than 256 levels, chunks of more than 16 GiB and shapes of more than
// 2^63 elements are kInvalidArgument, as is anything this reader does not support.
Result<ArrayMeta> parse_zarray(std::string_view text, const std::string& where);

// The documents of one array in a consolidated .zmetadata document (zarr-python's
// consolidate_metadata), as text for parse_zarray and parse_zattrs.
struct ConsolidatedArray {
  std::string zarray;        // "" when the document does not list the array
  std::string zarray_where;  // how errors name it: "WHERE[PATH/.zarray]"
  std::string zattrs;        // "" when it has none
};
// Finds the array at `path` (relative to the store root, "" for the root) in the
// .zmetadata `text`. Errors: kInvalidArgument (not JSON, nested deeper than 256
// levels, no "metadata" object), naming `where`.
Result<ConsolidatedArray> parse_zmetadata(std::string_view text, const std::string& path, const std::string& where);
// Reads the dimension names of a .zattrs document (xarray's _ARRAY_DIMENSIONS) into
// meta.dims, when there is one name per axis of meta.shape; other attributes are
// ignored. Errors: kInvalidArgument (not JSON, too deeply nested), naming `where`.
Status parse_zattrs(std::string_view text, ArrayMeta& meta, const std::string& where);
// The .zarray document of `meta` (zarr_format 2).
std::string to_zarray(const ArrayMeta& meta);
// "<f4", ">f8", "|u1", "|b1", ... for `t`.
std::string dtype_string(DType t, bool big_endian);

// The chunk file's path relative to the array directory ("0.3.1" or "0/3/1").
std::string chunk_key(const ArrayMeta& meta, const std::vector<int64_t>& block);
// How many blocks the array has along `axis` (0 for an empty axis), without overflow.
int64_t blocks_along(const ArrayMeta& meta, size_t axis);
// The block's shape inside the array (edge blocks are smaller than meta.chunks).
Shape block_extent(const ArrayMeta& meta, const std::vector<int64_t>& block);

// Bytes of a chunk file: a buffer (pooled, or a chunk's own) and how much of it is used.
using Bytes = store::Bytes;

// Decodes a chunk file's bytes into a C-order chunk in native byte order, cropped to
// `extent` (each axis at most meta.chunks). Errors name `where`: kIO for bytes that do
// not decode to exactly one chunk, kInvalidArgument for an extent larger than a chunk.
// The bytes are untrusted: their headers, or the codec's largest expansion (1:1 raw,
// 256:1 lz4, 1032:1 zlib/gzip, 32768:1 zstd; blosc by its inner codec), are checked
// against meta.chunk_nbytes() before anything is allocated. Memory: the output plus
// up to two full chunks of scratch (one without cropping or F order).
Result<Chunk> decode_chunk(const ArrayMeta& meta, std::string_view stored, const Shape& extent,
                           const std::string& where);
// A chunk of `extent` holding the fill value (0 where it is null).
Chunk fill_chunk(const ArrayMeta& meta, const Shape& extent);
// Encodes `chunk` (C order, native byte order, shape <= meta.chunks: padded with
// the fill value to full chunk size) as the bytes of its chunk file.
// Without compression or reordering the result shares the chunk's buffer.
Result<Bytes> encode_chunk(const ArrayMeta& meta, const Chunk& chunk);

// The compressors above on raw bytes, for formats that share them (Zarr v3's gzip, zstd
// and blosc codecs): `item` is the element size blosc shuffles by. decompress_bytes
// checks the stored bytes against `expected` (as decode_chunk does) before it
// allocates, and gives exactly `expected` bytes or kIO naming `where`.
// Metadata JSON (Zarr v2 and v3), refused before parsing when nested deeper than any
// metadata needs (a bomb of brackets); kInvalidArgument naming `where`.
Result<nlohmann::json> parse_json(std::string_view text, const std::string& where);
// The product of `dims` when it stays at most `limit`, else nullopt.
std::optional<int64_t> checked_product(const Shape& dims, int64_t limit);

Result<Bytes> compress_bytes(const Compressor& c, const uint8_t* in, size_t n, size_t item);
Result<Bytes> decompress_bytes(const Compressor& c, std::string_view in, size_t expected, const std::string& where);

// Reads a whole file into one buffer. kNotFound when it does not exist; kIO when it
// is larger than `limit` bytes (checked before the buffer is allocated).
Result<Bytes> read_file(const std::string& path, uint64_t limit = uint64_t{1} << 34);
// The largest chunk file of `meta` that can be valid: a chunk's bytes, what any codec
// adds to incompressible data (well under 1/8), and 1 MiB for headers.
uint64_t max_stored_bytes(const ArrayMeta& meta);
Result<std::string> read_text(const std::string& path);
// Writes `bytes` to a temporary file beside `path` and renames it into place, so a
// reader never sees half a file; creates missing parent directories.
Status write_file_atomic(const std::string& path, std::string_view bytes);
// `base` joined with a relative `sub` path that may not leave it (no "..", not absolute).
Result<std::string> join_inside(const std::string& base, const std::string& sub);
// Removes the temporaries write_file_atomic leaves when its process dies between
// writing and renaming (`NAME.tmp.PID.N`) anywhere under `dir`. Only for a directory
// no one is writing to. Returns how many it removed.
size_t remove_temporaries(const std::string& dir);

// Reads the metadata of the array at `path` inside `store` (a directory or a URL):
// from the store's consolidated .zmetadata when there is one, else from its .zarray
// and .zattrs.
Result<ArrayMeta> open_array(const std::string& store, const std::string& path);

// Prepares the array directory (WebDAV: collection) for writing: refuses a non-empty
// directory that is not a Zarr array or group, removes an old array's chunks, writes
// .zgroup files for the groups on the way, then .zarray and .zattrs.
Status create_array(const std::string& store, const std::string& path, const ArrayMeta& meta);

}  // namespace rsdat::zarr

namespace rsdat::ops {
// Reads one stored chunk: params (the array's directory or URL, .zarray text, block).
// The worker resolves the URL's credentials itself: params never carry them.
// A missing chunk file reads as the fill value.
inline constexpr const char* kZarrRead = "zarr_read";
std::string zarr_read_params(const std::string& array_dir, const std::string& zarray, const std::vector<int64_t>& block);
// Writes its one input as a stored chunk; its output is the number of bytes written,
// an int64 chunk of shape (1, ..., 1). Input 0 of a write task may be preceded by the
// array-creation task (`zarr_create`), which it only waits for.
inline constexpr const char* kZarrWrite = "zarr_write";
std::string zarr_write_params(const std::string& array_dir, const std::string& zarray, const std::vector<int64_t>& block);
// Creates the array: params (store, path in store, .zarray text, dimension names joined
// by '\n'); output an int64 chunk of shape (1, ..., 1) holding 0.
inline constexpr const char* kZarrCreate = "zarr_create";
std::string zarr_create_params(const std::string& store, const std::string& path, const std::string& zarray,
                               const std::vector<std::string>& dims);
}  // namespace rsdat::ops

namespace rsdat {
class OpRegistry;
namespace ops {
void register_zarr_ops(OpRegistry& registry);
void register_raster_ops(OpRegistry& registry);  // io/raster.cpp
// Registers every storage-format op in OpRegistry::global(), once (thread-safe): what
// a process that runs kernels (a worker, a test) calls before it runs any.
void register_io_ops();
}  // namespace ops
}  // namespace rsdat
