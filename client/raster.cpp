#include "rsdat/raster.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "client/array_internal.hpp"
#include "io/raster.hpp"
#include "io/store.hpp"

namespace rsdat {

namespace fs = std::filesystem;
using detail::BlockIndex;
using detail::GridPtr;
using detail::Node;
using detail::NodePtr;

// ---- the grid -------------------------------------------------------------------

namespace {
bool close_to(double a, double b) {
  return a == b || std::abs(a - b) <= 1e-9 * std::max({1.0, std::abs(a), std::abs(b)});
}
std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}
}  // namespace

bool RasterGrid::same_grid(const RasterGrid& o) const {
  if (height != o.height || width != o.width) return false;
  for (size_t i = 0; i < 6; ++i)
    if (!close_to(transform[i], o.transform[i])) return false;
  if (epsg && o.epsg) return *epsg == *o.epsg;
  return crs_wkt == o.crs_wkt;
}

std::string RasterGrid::describe() const {
  std::string s = epsg ? "EPSG:" + std::to_string(*epsg) : crs_wkt.empty() ? "no CRS" : "a CRS without EPSG code";
  s += " " + std::to_string(width) + "x" + std::to_string(height) + " transform (";
  for (size_t i = 0; i < 6; ++i) s += (i ? ", " : "") + number(transform[i]);
  s += ")";
  if (!source.empty()) s += " of " + source;
  return s;
}

namespace detail {

GridPtr elementwise_grid(const std::vector<NodePtr>& operands, const Shape& out, const char* op) {
  GridPtr g;
  if (out.size() < 2) return g;
  for (const NodePtr& n : operands) {
    if (!n || !n->grid) continue;
    const size_t k = n->shape.size();
    if (k < 2 || n->shape[k - 2] != out[out.size() - 2] || n->shape[k - 1] != out.back()) continue;
    if (!g) {
      g = n->grid;
    } else if (g != n->grid && !g->same_grid(*n->grid)) {
      throw std::invalid_argument(std::string(op) + ": the rasters are on different grids: " + g->describe() +
                                  " and " + n->grid->describe());
    }
  }
  return g;
}

GridPtr reduced_grid(const Node& in, const std::vector<int64_t>& axes) {
  const int64_t nd = static_cast<int64_t>(in.shape.size());
  if (!in.grid || axes.empty()) return nullptr;
  for (int64_t ax : axes)
    if (ax >= nd - 2) return nullptr;
  return in.grid;
}

GridPtr view_grid(const Node& in, const std::vector<int32_t>& out_axes, const std::vector<int64_t>& start,
                  const std::vector<int64_t>& step, const std::vector<int64_t>& count) {
  const int32_t nd = static_cast<int32_t>(in.shape.size());
  const size_t no = out_axes.size();
  if (!in.grid || nd < 2 || no < 2 || out_axes[no - 2] != nd - 2 || out_axes[no - 1] != nd - 1) return nullptr;
  const int64_t sr = start[nd - 2], tr = step[nd - 2], sc = start[nd - 1], tc = step[nd - 1];
  auto g = std::make_shared<RasterGrid>(*in.grid);
  const auto& t = in.grid->transform;
  // The first pixel's centre stays where it was; a step of k makes pixels k times
  // larger around the centres it keeps (as rioxarray recomputes it from x and y).
  const double cx = sc + 0.5, cy = sr + 0.5;
  g->transform = {t[0] + cx * t[1] + cy * t[2] - 0.5 * (tc * t[1] + tr * t[2]), t[1] * tc, t[2] * tr,
                  t[3] + cx * t[4] + cy * t[5] - 0.5 * (tc * t[4] + tr * t[5]), t[4] * tc, t[5] * tr};
  g->height = count[nd - 2];
  g->width = count[nd - 1];
  return g;
}

Array with_grid(Array r, GridPtr grid, const NodePtr& input) {
  if (!grid || !r.node() || (input && r.node() == input) || r.node()->grid == grid) return r;
  const Node& n = *r.node();
  const size_t k = n.shape.size();
  if (k < 2 || n.shape[k - 2] != grid->height || n.shape[k - 1] != grid->width) return r;
  // A node made a moment ago for this result: no one else holds it yet.
  const_cast<Node&>(n).grid = std::move(grid);
  return r;
}

}  // namespace detail

std::optional<RasterGrid> raster_grid(const Array& array) {
  const Node& n = detail::need(array.node());
  if (!n.grid) return std::nullopt;
  return *n.grid;
}

Array with_raster_grid(const Array& array, const RasterGrid& grid) {
  const Node& n = detail::need(array.node());
  const size_t k = n.shape.size();
  if (k < 2 || n.shape[k - 2] != grid.height || n.shape[k - 1] != grid.width) {
    throw std::invalid_argument("with_raster_grid: a grid of " + std::to_string(grid.height) + " x " +
                                std::to_string(grid.width) + " pixels does not fit an array of shape " +
                                shape_to_string(n.shape));
  }
  detail::ExprInfo e = detail::expr_of(array.node());
  Array r = detail::from_expr("with_raster_grid", n.shape, n.chunks, std::move(e), n.dtype);
  const_cast<Node&>(*r.node()).dims = n.dims;
  return detail::with_grid(r, std::make_shared<RasterGrid>(grid));
}

namespace {
const RasterGrid& north_up_grid(const Array& array, const char* fn) {
  const Node& n = detail::need(array.node());
  if (!n.grid) throw std::invalid_argument(std::string(fn) + ": the array has no georeferencing");
  if (n.grid->transform[2] != 0 || n.grid->transform[4] != 0) {
    throw std::invalid_argument(std::string(fn) + ": the grid is rotated: " + n.grid->describe());
  }
  return *n.grid;
}
}  // namespace

std::vector<double> raster_x(const Array& array) {
  const RasterGrid& g = north_up_grid(array, "raster_x");
  std::vector<double> x(static_cast<size_t>(g.width));
  for (size_t j = 0; j < x.size(); ++j) x[j] = g.transform[0] + (static_cast<double>(j) + 0.5) * g.transform[1];
  return x;
}

std::vector<double> raster_y(const Array& array) {
  const RasterGrid& g = north_up_grid(array, "raster_y");
  std::vector<double> y(static_cast<size_t>(g.height));
  for (size_t i = 0; i < y.size(); ++i) y[i] = g.transform[3] + (static_cast<double>(i) + 0.5) * g.transform[5];
  return y;
}

// ---- reading ----------------------------------------------------------------------

namespace {

raster::FileInfo describe_or_throw(const std::string& url, const char* fn) {
  auto info = raster::describe(url);
  if (!info.ok()) throw std::invalid_argument(std::string(fn) + ": " + info.status().message());
  return std::move(info).value();
}

RasterGrid grid_of(const raster::FileInfo& f, const std::string& url) {
  RasterGrid g;
  g.crs_wkt = f.crs_wkt;
  g.epsg = f.epsg;
  g.transform = f.transform;
  g.height = f.height;
  g.width = f.width;
  g.source = url;
  return g;
}

// The default chunk length along an axis of `n` pixels stored in blocks of `block`:
// a multiple of the block near `target`, or the block when it is larger.
int64_t chunk_along(int64_t n, int64_t block, int64_t target) {
  block = std::clamp<int64_t>(block, 1, std::max<int64_t>(n, 1));
  const int64_t k = std::max<int64_t>(1, (target + block / 2) / block);
  return std::min(n, k * block);
}

}  // namespace

RasterInfo raster_info(const std::string& url) {
  raster::FileInfo f = describe_or_throw(url, "raster_info");
  RasterInfo r;
  r.url = url;
  r.bands = f.bands;
  r.height = f.height;
  r.width = f.width;
  r.dtype = f.dtype;
  r.block_height = f.block_height;
  r.block_width = f.block_width;
  r.nodata = f.nodata;
  r.scale = f.scale;
  r.offset = f.offset;
  r.grid = grid_of(f, url);
  r.has_transform = f.has_transform;
  r.overviews = f.overviews;
  r.driver = f.driver;
  r.pixel_interleaved = f.pixel_interleaved;
  return r;
}

Array from_raster(const std::string& url, const RasterReadOptions& o) {
  raster::FileInfo f = describe_or_throw(url, "from_raster");
  RasterGrid grid = grid_of(f, url);
  int64_t height = f.height, width = f.width;
  if (o.overview >= 0) {
    if (o.overview >= static_cast<int>(f.overviews.size())) {
      throw std::invalid_argument("from_raster: " + url + " has " + std::to_string(f.overviews.size()) +
                                  " overview levels, no level " + std::to_string(o.overview));
    }
    std::tie(height, width) = f.overviews[static_cast<size_t>(o.overview)];
    auto& t = grid.transform;
    const double sx = static_cast<double>(f.width) / static_cast<double>(width);
    const double sy = static_cast<double>(f.height) / static_cast<double>(height);
    t = {t[0], t[1] * sx, t[2] * sy, t[3], t[4] * sx, t[5] * sy};
    grid.height = height;
    grid.width = width;
  } else if (o.overview < -1) {
    throw std::invalid_argument("from_raster: overview must be -1 (full resolution) or a level, not " +
                                std::to_string(o.overview));
  }
  if (!o.chunks.empty() && o.chunks.size() != 3) {
    throw std::invalid_argument("from_raster: chunks has one size per axis (band, y, x)");
  }
  // Masked or scaled values are floats, as xarray decodes them: float32 for values of
  // up to 16 bits and float32 itself, float64 otherwise.
  const bool masked = o.masked || o.mask_and_scale;
  const bool has_nodata = std::any_of(f.nodata.begin(), f.nodata.end(), [](auto v) { return v.has_value(); });
  bool has_scale = false;
  for (size_t b = 0; b < f.scale.size(); ++b) has_scale = has_scale || f.scale[b] != 1 || f.offset[b] != 0;
  DType dtype = f.dtype;
  if ((masked && has_nodata) || (o.mask_and_scale && has_scale)) {
    dtype = dtype_is_float(f.dtype) ? f.dtype : dtype_size(f.dtype) <= 2 ? DType::kFloat32 : DType::kFloat64;
  }
  std::vector<int64_t> bands;
  for (int b : o.bands) {
    if (b < 1 || b > f.bands) {
      throw std::invalid_argument("from_raster: " + url + " has no band " + std::to_string(b) + " (it has " +
                                  std::to_string(f.bands) + ", numbered from 1)");
    }
    bands.push_back(b);
  }
  if (o.bands.empty())
    for (int64_t b = 1; b <= f.bands; ++b) bands.push_back(b);
  const Shape shape{static_cast<int64_t>(bands.size()), height, width};
  auto pick = [&](size_t axis, int64_t fallback) {
    if (o.chunks.empty() || o.chunks[axis] == 0) return fallback;
    if (o.chunks[axis] == -1) return shape[axis];
    if (o.chunks[axis] < 0) throw std::invalid_argument("from_raster: chunk sizes must be positive, 0 or -1");
    return std::min(o.chunks[axis], std::max<int64_t>(shape[axis], 1));
  };
  const bool striped = f.block_width >= f.width;
  const int64_t cx = pick(2, striped ? width : chunk_along(width, f.block_width, 1024));
  const int64_t cy = pick(1, striped ? chunk_along(height, f.block_height, std::max<int64_t>(1, (1 << 20) / width))
                                     : chunk_along(height, f.block_height, 1024));
  const int64_t cb = pick(0, f.pixel_interleaved ? shape[0] : 1);
  auto n = detail::make_node("from_raster", shape, detail::regular_chunks(shape, {cb, cy, cx}), dtype);
  n->dims = {"band", "y", "x"};
  if (f.has_transform || !f.crs_wkt.empty()) n->grid = std::make_shared<RasterGrid>(grid);
  n->lower = [url, bands, overview = o.overview, masked, scaled = o.mask_and_scale](const Node& self,
                                                                                     const BlockIndex& b, TaskSpec& t) {
    const Shape off = detail::block_offset(self.chunks, b), len = detail::block_shape(self.chunks, b);
    t.op = ops::kRasterRead;
    const std::vector<int64_t> numbers(bands.begin() + off[0], bands.begin() + off[0] + len[0]);
    t.params = ops::raster_read_params(url, overview, numbers, {off[1], len[1], off[2], len[2]}, masked, scaled);
  };
  return Array(n);
}

// ---- writing ----------------------------------------------------------------------

uint64_t to_raster(const Array& array, const std::string& path, const RasterWriteOptions& o, Client* client) {
  const Node& in = detail::need(array.node());
  const size_t nd = in.shape.size();
  auto fail = [&](const std::string& why) { return std::invalid_argument("to_raster: " + path + ": " + why); };
  if (nd != 2 && nd != 3) throw fail("needs a (y, x) or (band, y, x) array, not shape " + shape_to_string(in.shape));
  for (int64_t s : in.shape)
    if (s == 0) throw fail("the array is empty (shape " + shape_to_string(in.shape) + ")");
  if (store::is_remote_url(path) || path.find("://") != std::string::npos) {
    throw fail("writes local files only (a path every worker sees)");
  }
  if (o.driver != "COG" && o.driver != "GTiff") throw fail("driver must be COG or GTiff, not '" + o.driver + "'");
  static const char* kCodecs[] = {"DEFLATE", "ZSTD", "LZW", "NONE"};
  if (std::find(std::begin(kCodecs), std::end(kCodecs), o.compress) == std::end(kCodecs)) {
    throw fail("compress must be DEFLATE, ZSTD, LZW or NONE, not '" + o.compress + "'");
  }
  if (o.blocksize < 16 || o.blocksize % 16 != 0) throw fail("blocksize must be a positive multiple of 16");
  if (o.predictor != 0 && o.predictor != 2 && o.predictor != 3) throw fail("predictor must be 0, 2 or 3");
  if (o.predictor == 3 && !dtype_is_float(in.dtype)) throw fail("predictor 3 is for floating-point arrays");
  const int64_t height = in.shape[nd - 2], width = in.shape[nd - 1];
  std::optional<RasterGrid> grid = o.grid ? o.grid : raster_grid(array);
  if (grid && (grid->height != height || grid->width != width)) {
    throw fail("the grid (" + grid->describe() + ") does not fit shape " + shape_to_string(in.shape));
  }
  const fs::path target = fs::absolute(path);
  std::error_code ec;
  if (!fs::is_directory(target.parent_path(), ec)) throw fail("its directory does not exist");

  // Pieces of whole tiles (a multiple of the blocksize), every band in one piece.
  const int64_t bs = o.blocksize;
  auto round_up = [&](int64_t c, int64_t n) { return std::min(n, std::max<int64_t>(bs, (c + bs - 1) / bs * bs)); };
  Shape piece(nd, -1);
  piece[nd - 2] = round_up(std::max<int64_t>(in.chunks[nd - 2][0], 2048), height);
  piece[nd - 1] = round_up(std::max<int64_t>(in.chunks[nd - 1][0], 2048), width);
  Array data = array.rechunk(piece);
  static std::atomic<int> counter{0};
  const fs::path dir = target.string() + ".pieces-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  fs::remove_all(dir, ec);
  const Chunks& dc = data.chunks();
  Shape grid_shape(nd);
  for (size_t d = 0; d < nd; ++d) grid_shape[d] = static_cast<int64_t>(dc[d].size());
  std::vector<std::string> names;
  for (int64_t i = 0; i < detail::num_blocks(dc); ++i) {
    const BlockIndex b = detail::unravel_block(dc, static_cast<uint64_t>(i));
    names.push_back((dir / ("piece-" + std::to_string(b[nd - 2]) + "-" + std::to_string(b[nd - 1]) + ".tif")).string());
  }
  auto write = detail::make_node("to_raster", grid_shape, detail::regular_chunks(grid_shape, Shape(nd, 1)),
                                 DType::kInt64);
  write->inputs = {data.node()};
  const std::string wkt = grid ? grid->crs_wkt : "";
  const std::array<double, 6> t = grid ? grid->transform : std::array<double, 6>{0, 1, 0, 0, 0, 1};
  write->lower = [names, wkt, t, has = grid.has_value(), nodata = o.nodata, bs](const Node& self, const BlockIndex& b,
                                                                                 TaskSpec& task) {
    const Node& src = *self.inputs[0];
    const Shape off = detail::block_offset(src.chunks, b);
    const size_t k = off.size();
    const double r = static_cast<double>(off[k - 2]), c = static_cast<double>(off[k - 1]);
    const std::array<double, 6> w{t[0] + c * t[1] + r * t[2], t[1], t[2], t[3] + c * t[4] + r * t[5], t[4], t[5]};
    task.deps = {detail::key_of(src, b)};
    task.op = ops::kRasterWritePiece;
    task.params = ops::raster_write_piece_params(names[detail::linear_block(src.chunks, b)], wkt, has, w, nodata,
                                                 static_cast<int>(bs));
  };
  try {
    (void)Array(write).sum().item(client);
  } catch (...) {
    fs::remove_all(dir, ec);
    throw;
  }
  raster::AssembleOptions ao{o.driver, o.compress, o.level, o.predictor, o.blocksize, o.overviews, o.resampling};
  auto bytes = raster::assemble(names, target.string(), ao);
  fs::remove_all(dir, ec);
  if (!bytes.ok()) throw std::runtime_error("to_raster: " + bytes.status().message());
  return *bytes;
}

}  // namespace rsdat
