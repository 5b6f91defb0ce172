// Rasters through GDAL: GeoTIFF and Cloud-Optimised GeoTIFF (and whatever else GDAL
// reads), read and written by the workers, with their georeferencing.
//
//   auto red = rsdat::from_raster("/scratch/B04.tif");          // (band, y, x), lazy
//   auto nir = rsdat::from_raster("https://dcache.example.org:2880/B08.tif");
//   auto ndvi = (nir - red) / (nir + red);                      // keeps the grid
//   rsdat::to_raster(ndvi, "/scratch/ndvi.tif");                // a COG, georeferenced
//   auto grid = rsdat::raster_grid(ndvi);                       // CRS and transform
//
// Reads: chunks follow the file's internal tiles (a multiple of them, about 1024 x 1024
// pixels by default; a striped file is chunked by rows); each task opens the file on
// its worker (one GDAL handle per worker thread, kept open) and reads its window.
// A http(s):// or dav(s):// URL is read with ranged GETs through GDAL's /vsicurl/,
// with the credentials of the store layer (rsdat/store.hpp: RSDAT_BEARER_TOKEN, the
// stores config) resolved by the worker; they never appear in a URL, an error or a log.
//
// Georeferencing (RasterGrid: the CRS and the affine transform of the last two axes,
// y and x) follows an array through elementwise operations, reductions over other
// axes, rechunks, casts and views that keep y and x (a slice shifts the transform, a
// step scales it); an elementwise operation on two arrays of different grids throws
// std::invalid_argument naming both.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rsdat/array.hpp"

namespace rsdat {

// Where the pixels of an array's last two axes (y, x) lie: rioxarray's rio.crs and
// rio.transform(). transform is GDAL's geotransform: the map coordinates of the pixel
// (row, col) corner are (t[0] + col t[1] + row t[2], t[3] + col t[4] + row t[5]).
struct RasterGrid {
  std::string crs_wkt;        // "" when the file has no CRS
  std::optional<int> epsg;    // the CRS's EPSG code, when it has one
  std::array<double, 6> transform{0, 1, 0, 0, 0, 1};
  int64_t height = 0;         // y
  int64_t width = 0;          // x
  std::string source;         // the file or URL it came from (for messages; not compared)

  // Same CRS, transform and size (the source does not count).
  bool same_grid(const RasterGrid& other) const;
  // "EPSG:32631 1000x800 transform (600000, 10, 0, 5000040, 0, -10) of FILE", for messages.
  std::string describe() const;
};

// What a raster holds (gdalinfo's answer), from raster_info.
struct RasterInfo {
  std::string url;
  int64_t bands = 0;
  int64_t height = 0;
  int64_t width = 0;
  DType dtype = DType::kUInt8;             // of the stored values
  int64_t block_height = 0;                // the internal tile or strip
  int64_t block_width = 0;
  std::vector<std::optional<double>> nodata;  // per band
  std::vector<double> scale;               // per band (1 when none)
  std::vector<double> offset;              // per band (0 when none)
  RasterGrid grid;
  bool has_transform = false;              // false: the file has no geotransform
  std::vector<std::pair<int64_t, int64_t>> overviews;  // (height, width) per level
  std::string driver;                      // "GTiff", ...
  bool pixel_interleaved = false;          // all bands of a pixel stored together
};

// Opens `url` (a path, file://, http(s):// or dav(s)://) on the client and describes
// it. Throws std::invalid_argument naming the file or URL when GDAL cannot open it.
RasterInfo raster_info(const std::string& url);

struct RasterReadOptions {
  // Chunk shape (band, y, x); 0 on an axis: the default (bands: all of them when the
  // file interleaves pixels, else 1; y and x: a multiple of the block, about 1024
  // pixels, or the block when it is larger); -1: the whole axis.
  Shape chunks;
  // Nodata values read as NaN (rioxarray's masked=True): integer bands become float32
  // (8 and 16 bits) or float64 (32 and 64 bits). false: the stored values as they are.
  bool masked = true;
  // The bands' scale and offset applied (value * scale + offset, as float; rioxarray's
  // mask_and_scale); false: not applied.
  bool mask_and_scale = false;
  // -1: full resolution; k >= 0: overview level k (0 is the largest).
  int overview = -1;
  // The bands to read, numbered from 1 as GDAL and rioxarray's band coordinate do;
  // empty: all of them.
  std::vector<int> bands;
};

// The raster at `url` as a lazy (band, y, x) array carrying its RasterGrid. Throws
// std::invalid_argument naming the file or URL when it cannot be opened, holds
// complex values, or an option does not fit it (a band or overview it lacks); a window that
// cannot be read later fails its task with GDAL's message, naming the file.
Array from_raster(const std::string& url, const RasterReadOptions& options = {});

struct RasterWriteOptions {
  std::string driver = "COG";       // "COG" (tiled, with overviews) or "GTiff" (tiled)
  std::string compress = "DEFLATE"; // "DEFLATE", "ZSTD", "LZW" or "NONE"
  int level = -1;                   // compression level; -1: GDAL's default
  int predictor = 0;                // 0: none, 2: horizontal (integers), 3: floating point
  int blocksize = 512;              // tile size (pixels, square)
  bool overviews = true;            // COG: build overviews (GDAL's AUTO levels)
  std::string resampling = "AVERAGE";  // of the overviews
  std::optional<double> nodata;     // written as the bands' nodata; floats with NaN: NaN
  // The grid to write; default the array's own (raster_grid), none: no georeferencing.
  std::optional<RasterGrid> grid;
};

// Writes `array` ((y, x) or (band, y, x), any real dtype) now to the local `path` as a
// GeoTIFF, with its georeferencing. Workers write their chunks in parallel, as tiled
// GeoTIFF pieces in a directory beside `path`; the client then assembles the pieces
// through a GDAL VRT into one file (the COG driver: overviews, then tiles in COG order)
// and removes them. Returns the size of the file in bytes. Throws
// std::invalid_argument for a bad option or array (naming the path), like compute()
// when a task fails, and std::runtime_error when GDAL cannot write the file.
uint64_t to_raster(const Array& array, const std::string& path, const RasterWriteOptions& options = {},
                   Client* client = nullptr);

// The georeferencing an array carries (rio.crs, rio.transform()), or nullopt.
std::optional<RasterGrid> raster_grid(const Array& array);
// The same array with `grid` as its georeferencing (rio.write_crs / write_transform):
// the grid's height and width must be the array's last two axes.
Array with_raster_grid(const Array& array, const RasterGrid& grid);
// The map coordinates of the pixel centres along x (columns) and y (rows) of a
// north-up grid: rioxarray's x and y coordinates. Throws std::invalid_argument when the
// array has no grid or the grid is rotated.
std::vector<double> raster_x(const Array& array);
std::vector<double> raster_y(const Array& array);

}  // namespace rsdat
