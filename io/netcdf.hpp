// NetCDF4/HDF5 (and classic NetCDF) files through libnetcdf: metadata, CF decoding,
// hyperslab reads, chunked zlib-compressed writes, and the netcdf_read kernel.
//
// libnetcdf (and HDF5 beneath it, decompression included) is not thread-safe as rsdat
// uses it: every call into it here holds library_mutex(), one per process. Tasks of a
// worker thus read NetCDF one at a time; their CF decoding and everything else runs in
// parallel (docs/architecture.md gives what that costs).
//
// Remote files: Debian's libnetcdf reads no byte ranges over HTTP, so an http(s):// or
// dav(s):// URL is fetched whole through the store layer (io/store.hpp) into a file of
// the process's cache directory, once per process per URL and size, then read locally.
// The cache directory (set_cache_directory: a worker's --local-directory, else the
// system's temporary directory) holds the copies under rsdat-netcdf-PID/, removed when
// the process exits normally; those of processes that are gone are removed when the
// next process makes its own.
//
// Errors name the file (or URL) and the variable. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/chunk.hpp"
#include "core/status.hpp"

namespace rsdat::netcdf {

// One attribute: text, or numbers (held as doubles; `dtype` is the stored type).
struct Attribute {
  std::string name;
  bool is_text = false;
  std::string text;
  std::vector<double> values;
  DType dtype = DType::kFloat64;
};

struct Variable {
  std::string name;
  DType dtype = DType::kFloat64;  // as stored
  std::vector<std::string> dims;
  Shape shape;
  Shape chunking;  // the HDF5 chunk shape; empty when stored contiguous (or classic NetCDF)
  int deflate_level = 0;  // 0: not compressed
  std::vector<Attribute> attributes;
  const Attribute* attribute(std::string_view name) const;
};

struct FileInfo {
  std::string where;   // the file or URL, for messages
  std::string format;  // "netCDF-4", "netCDF-4 classic model", "classic", "64-bit offset", "64-bit data"
  std::vector<std::pair<std::string, int64_t>> dimensions;
  std::vector<Variable> variables;
  std::vector<Attribute> attributes;  // global
  const Variable* variable(std::string_view name) const;
};

// The lock every libnetcdf call of the process holds. Its first use sets
// HDF5_USE_FILE_LOCKING=FALSE unless set (see io/netcdf.cpp): call it once early, while
// the process has one thread (setenv races with getenv on other threads), as a worker does.
std::mutex& library_mutex();

// Where remote files are copied to (the directory must exist or be creatable).
void set_cache_directory(const std::string& dir);
// The local file to read for `url`: a local path (or file:// URL) as it is (kNotFound
// when missing); a remote one fetched into the cache unless already there at
// `expected_size` bytes (0: any size). kIO when the fetched file's size differs from
// `expected_size` (it changed since it was opened). `size` receives the file's size.
// With `refresh`, a remote file is fetched again even when a copy is there (what a
// client opening it does, so that it sees the file as it is now).
Result<std::string> local_file(const std::string& url, uint64_t expected_size = 0, uint64_t* size = nullptr,
                               bool refresh = false);

// The file's dimensions, variables (root group) and attributes. `where` names it.
Result<FileInfo> inspect(const std::string& path, const std::string& where);

// CF decoding of one variable as xarray's decode_cf(mask_and_scale=True) does it:
// values equal to _FillValue or missing_value become NaN (integers then read as
// float32 up to 16 bits, float64 above), then value * scale_factor + add_offset in
// float32 (floats of up to 32 bits, integers of up to 16 bits without add_offset) or
// float64 (anything else), scale and offset cast to that type.
struct Decoding {
  DType stored = DType::kFloat64;
  DType out = DType::kFloat64;
  std::vector<double> fill_values;  // compared after the cast to `out`; NaN ones dropped
  std::optional<double> scale_factor, add_offset;
  bool identity() const { return out == stored && fill_values.empty() && !scale_factor && !add_offset; }
};
// The decoding of `v`; with !mask_and_scale, the identity. kInvalidArgument for a
// scale_factor or add_offset of more than one value.
Result<Decoding> decoding_of(const Variable& v, bool mask_and_scale, const std::string& where);
// `raw` (of dtype d.stored) decoded.
Chunk decode(const Chunk& raw, const Decoding& d);

// Reads `count` elements from `start` of `variable` in the local `path` into a chunk of
// the variable's stored dtype. Files stay open (one handle per file per process,
// reopened when the file changes on disk). Errors name `where` and the variable.
Result<Chunk> read(const std::string& path, const std::string& variable, const Shape& start, const Shape& count,
                   const std::string& where);
// Closes every file read() keeps open.
void close_cached_files();

// A NetCDF4 variable being written: created (the file replaced, or with `append` a
// variable added to an existing file), written block by block, closed.
struct WriteSpec {
  std::string variable;
  DType dtype = DType::kFloat64;
  Shape shape;
  std::vector<std::string> dims;  // one per axis
  Shape chunking;                 // one per axis (empty for a 0-d variable)
  int deflate_level = 4;          // 0: none
  bool shuffle = true;
  std::optional<double> fill_value;
  std::vector<Attribute> attributes;
  bool append = false;
};
class Writer {
 public:
  // Creates the variable (see WriteSpec). Errors name `path` and the variable.
  static Result<std::unique_ptr<Writer>> create(const std::string& path, const WriteSpec& spec);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  // Writes `block` (C order, of the variable's dtype) at `start`.
  Status write(const Shape& start, const Chunk& block);
  // Closes the file: what was written is complete only once this returns ok.
  Status close();

 private:
  Writer(std::string path, std::string variable, int ncid, int varid, DType dtype);
  std::string path_, variable_;
  int ncid_ = -1, varid_ = -1;
  DType dtype_;
};

}  // namespace rsdat::netcdf

namespace rsdat::ops {
// Reads one block of a NetCDF variable: params (URL or path, file size for remote
// files, variable, stored dtype, decoding, start, count). The worker fetches a remote
// file itself (once per process); the output has the decoded dtype.
inline constexpr const char* kNetcdfRead = "netcdf_read";
std::string netcdf_read_params(const std::string& url, uint64_t size, const std::string& variable,
                               const netcdf::Decoding& decoding, const Shape& start, const Shape& count);
}  // namespace rsdat::ops

namespace rsdat {
class OpRegistry;
namespace ops {
void register_netcdf_ops(OpRegistry& registry);
}  // namespace ops
}  // namespace rsdat
