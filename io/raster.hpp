// Rasters through GDAL (GeoTIFF, COG and the rest of GDAL's raster drivers): what a
// file holds, the read kernel (one window of a file per task) and the write kernel
// (one tiled GeoTIFF piece per task), and the assembly of pieces into one file.
//
// Each worker thread keeps its own GDAL dataset handles open (GDAL handles are not
// thread-safe; reopening a remote COG costs requests), at most kHandlesPerThread of
// them. Remote files (http, https, dav, davs) are read through /vsicurl/ with ranged
// GETs; the credentials of the store layer (store::resolve_credentials) go into
// GDAL_HTTP_HEADERS as a thread-local configuration option, set only while the thread
// works on that file, so they are in no path, URL or message. Errors name the file or
// URL and never carry a token.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/chunk.hpp"
#include "core/status.hpp"

namespace rsdat::raster {

struct FileInfo {
  int64_t bands = 0, height = 0, width = 0;
  DType dtype = DType::kUInt8;
  int64_t block_height = 0, block_width = 0;
  std::vector<std::optional<double>> nodata;
  std::vector<double> scale, offset;
  std::string crs_wkt;
  std::optional<int> epsg;
  bool has_transform = false;
  std::array<double, 6> transform{0, 1, 0, 0, 0, 1};
  std::vector<std::pair<int64_t, int64_t>> overviews;  // (height, width)
  std::string driver;
  bool pixel_interleaved = false;
};

// The path GDAL opens for `url`: a local path as it is, file:// decoded,
// http(s)/dav(s) as /vsicurl/http(s)://... kInvalidArgument for other schemes.
Result<std::string> gdal_path(const std::string& url);

// Opens `url` (on this thread, with its credentials) and describes it. Errors name the
// URL: kNotFound when there is no such file, kInvalidArgument when GDAL cannot read it
// or it holds complex or unsupported values.
Result<FileInfo> describe(const std::string& url);

// Sizes GDAL's block cache for a process of `memory_limit` bytes: 5 % of it, at least
// 16 MiB and at most 1 GiB. Returns the bytes given to the cache (part of the process's
// memory, which the worker's spill and pause thresholds measure).
uint64_t set_cache_for_memory_limit(uint64_t memory_limit);

// What the COG or GTiff driver is asked for when pieces are assembled.
struct AssembleOptions {
  std::string driver = "COG";
  std::string compress = "DEFLATE";
  int level = -1;
  int predictor = 0;
  int blocksize = 512;
  bool overviews = true;
  std::string resampling = "AVERAGE";
};
// Builds `path` from the GeoTIFF pieces (a VRT of them, translated by the driver);
// writes to a temporary beside `path` and renames it into place. Returns its size.
Result<uint64_t> assemble(const std::vector<std::string>& pieces, const std::string& path,
                          const AssembleOptions& options);

}  // namespace rsdat::raster

namespace rsdat::ops {
// Reads one window of a raster: params (url, overview, band numbers (1-based), window
// {y0, rows, x0, cols}, masked, scaled); output (bands, rows, cols) in the task's dtype. The
// worker resolves the URL's credentials itself: params never carry them.
inline constexpr const char* kRasterRead = "raster_read";
std::string raster_read_params(const std::string& url, int overview, const std::vector<int64_t>& bands,
                               const std::vector<int64_t>& window, bool masked, bool scaled);
// Writes its input ((rows, cols) or (bands, rows, cols)) as the tiled GeoTIFF `piece`:
// params (piece path, CRS WKT, the window's geotransform, has_nodata, nodata,
// blocksize); output an int64 chunk of ones-shape holding the bytes written.
inline constexpr const char* kRasterWritePiece = "raster_write_piece";
std::string raster_write_piece_params(const std::string& piece, const std::string& crs_wkt, bool has_transform,
                                      const std::array<double, 6>& transform, std::optional<double> nodata,
                                      int blocksize);
}  // namespace rsdat::ops

namespace rsdat {
class OpRegistry;
namespace ops {
void register_raster_ops(OpRegistry& registry);
}  // namespace ops
}  // namespace rsdat
