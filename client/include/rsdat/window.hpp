// Neighbourhoods: map_overlap and overlap (dask.array's), the scipy.ndimage filters,
// and rolling windows (xarray's). Everything is lazy, like the rest of rsdat::Array.
//
//   auto smooth = rsdat::gaussian_filter(img, 2.0);                 // scipy's mode "reflect"
//   auto edges = rsdat::map_overlap("my_stencil", img, {1, 1}, {"periodic", "nearest"});
//   auto week = rsdat::rolling(t, 0, 7).mean();                      // xr ... .rolling(time=7).mean()
//
// How they run: each block's task reads its own block and the halo around it, and the
// halo travels as slabs. Every slab is cut by a task of its own that reads only the one
// neighbouring block it comes from (so it runs where that block is held), and only the
// slab's bytes move to the block's worker: `depth` elements deep along each axis,
// nothing of the rest of the neighbour. A halo deeper than a neighbouring chunk is cut
// from as many chunks as it spans. Boundary values outside the array are slabs too
// (cut from the blocks at the edge, or filled with the constant).
//
// Memory per task: its block B, the halo H (B's extension by `depth` on both sides of
// every axis, minus B), the extended block B + H, and the output; the filters add one
// float64 copy of the extended block (two while a separable pass runs); rolling reads
// it in place (sums for a tile of 2048 columns, or one line for min, max and median).
// No task holds a whole neighbour block unless the halo covers it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>
#include <xtensor/xarray.hpp>

#include "rsdat/array.hpp"

namespace rsdat {

// ---- overlap ------------------------------------------------------------------

// What lies outside the array along an axis, as dask.array.overlap names it: "none"
// (nothing: blocks at the array's edge get no halo on that side), "reflect" (mirrored
// with the edge element repeated: numpy.pad's "symmetric"), "periodic" (from the other
// end: "wrap"), "nearest" (the edge element repeated: "edge"), or "constant" with a
// value; a number is that constant, as in dask.
struct Boundary {
  std::string mode = "none";
  double value = 0;
  Boundary() = default;
  Boundary(const char* m) : mode(m) {}          // NOLINT: implicit, as in {"reflect"}
  Boundary(std::string m) : mode(std::move(m)) {}  // NOLINT: implicit
  template <typename T>
    requires std::is_arithmetic_v<T>
  Boundary(T v) : mode("constant"), value(static_cast<double>(v)) {}  // NOLINT: implicit, as in {0.0}
};

// Applies the registered kernel `op` (a plugin's, see map_blocks) to each block of `a`
// extended by depth[d] elements on both sides of every axis d (one value: the same for
// all axes; 0: none along that axis) with `boundary` (per axis, or one for all), as
// dask.array.map_overlap. The kernel gets the extended block and `params` and returns
// a block of the extended block's shape in `dtype` (default: a's); with `trim` the
// halo is cut off again, so the result has a's shape and chunks; without it the
// result's chunks are the extended blocks' (dask's trim=False). A depth larger than a
// neighbouring chunk reads several chunks. Throws std::invalid_argument naming
// map_overlap for a negative depth, an unknown boundary, or lists of the wrong length;
// an op no worker knows fails its task with a TaskError.
Array map_overlap(const std::string& op, const Array& a, const std::vector<int64_t>& depth,
                  const std::vector<Boundary>& boundary = {Boundary{}}, bool trim = true,
                  std::optional<DType> dtype = std::nullopt, const std::string& params = "");
// Each block of `a` with its halo (dask.array.overlap.overlap): the chunks grow by
// 2 * depth along every axis (less at the array's edge with boundary "none"). Where
// depth exceeds a chunk, dask first rechunks; here the chunks stay a's, grown by the
// halo, read from as many chunks as it spans.
Array overlap(const Array& a, const std::vector<int64_t>& depth, const std::vector<Boundary>& boundary = {Boundary{}});

// ---- scipy.ndimage filters ----------------------------------------------------
//
// scipy.ndimage's filters with its names, arguments and results: the result has a's
// shape, chunks and dtype (an integer result truncates, as scipy's does, also between
// the passes of a separable filter). `mode` is scipy's: "reflect" (d c b a | a b c d |
// d c b a, the default), "constant" (cval), "nearest", "mirror" (d c b | a b c d | c b
// a) or "wrap"; a size or sigma is per axis or one for all. Uniform, gaussian, minimum
// and maximum filters are separable: one pass per axis, O(size) per element per axis;
// median and convolve read the whole n-d window, O(prod(size)) per element. Throws
// std::invalid_argument naming the filter for an unknown mode, a size below 1, a
// negative sigma or lists of the wrong length.

// The mean over a window of size[d] elements, from i - size[d] / 2 (scipy.ndimage.uniform_filter).
Array uniform_filter(const Array& a, const std::vector<int64_t>& size, const std::string& mode = "reflect",
                     double cval = 0);
inline Array uniform_filter(const Array& a, int64_t size, const std::string& mode = "reflect", double cval = 0) {
  return uniform_filter(a, std::vector<int64_t>{size}, mode, cval);
}
// Gaussian smoothing of standard deviation sigma[d], the kernel reaching
// int(truncate * sigma + 0.5) elements on each side (scipy.ndimage.gaussian_filter,
// order 0); sigma 0 leaves an axis alone.
Array gaussian_filter(const Array& a, const std::vector<double>& sigma, const std::string& mode = "reflect",
                      double cval = 0, double truncate = 4.0);
inline Array gaussian_filter(const Array& a, double sigma, const std::string& mode = "reflect", double cval = 0,
                             double truncate = 4.0) {
  return gaussian_filter(a, std::vector<double>{sigma}, mode, cval, truncate);
}
// The median of the window (scipy.ndimage.median_filter: for an even count, the upper
// of the two middle values).
Array median_filter(const Array& a, const std::vector<int64_t>& size, const std::string& mode = "reflect",
                    double cval = 0);
inline Array median_filter(const Array& a, int64_t size, const std::string& mode = "reflect", double cval = 0) {
  return median_filter(a, std::vector<int64_t>{size}, mode, cval);
}
// The smallest and largest value of the window (scipy.ndimage.minimum_filter, maximum_filter).
Array minimum_filter(const Array& a, const std::vector<int64_t>& size, const std::string& mode = "reflect",
                     double cval = 0);
inline Array minimum_filter(const Array& a, int64_t size, const std::string& mode = "reflect", double cval = 0) {
  return minimum_filter(a, std::vector<int64_t>{size}, mode, cval);
}
Array maximum_filter(const Array& a, const std::vector<int64_t>& size, const std::string& mode = "reflect",
                     double cval = 0);
inline Array maximum_filter(const Array& a, int64_t size, const std::string& mode = "reflect", double cval = 0) {
  return maximum_filter(a, std::vector<int64_t>{size}, mode, cval);
}
// The n-d convolution with `weights` (as many dims as a; small: it travels with every
// task), centred at weights.shape / 2 (scipy.ndimage.convolve, origin 0). Call it
// rsdat::convolve: with an xt::xarray argument, lookup also finds xt::convolve.
Array convolve(const Array& a, const xt::xarray<double>& weights, const std::string& mode = "reflect", double cval = 0);

// ---- rolling windows ----------------------------------------------------------

// Moving-window statistics along one axis with xarray's semantics
// (xr.DataArray(a).rolling(dim=window, center=center, min_periods=min_periods)):
// the result has a's shape and chunks; position i summarises a[i - window + 1 .. i]
// (with `center`, a[i - window / 2 .. i + (window - 1) / 2]), positions outside the
// array and NaN values skipped, and is NaN where fewer than min_periods values are
// left. Results are float64 for integer and bool input and float32 for float32 (count
// is always float64); var and std divide by the count (ddof 0). Only the window - 1
// elements before each block (with `center`, about half of them on each side) travel
// to it. Per element: O(1) for sum, mean, count, var and std (running sums), O(1)
// amortised for min and max (a monotonic deque), O(log window) for median.
//
//   auto r = rsdat::rolling(t, 0, 24, false, 12);
//   auto daily = r.mean();   // NaN where fewer than 12 of the 24 values are valid
class Rolling {
 public:
  Rolling(Array a, int64_t axis, int64_t window, bool center, int64_t min_periods)
      : a_(std::move(a)), axis_(axis), window_(window), center_(center), min_periods_(min_periods) {}
  Array sum() const;
  Array mean() const;
  Array min() const;
  Array max() const;
  Array std() const;
  Array var() const;
  Array count() const;
  Array median() const;

 private:
  Array reduce(uint8_t stat) const;
  Array a_;
  int64_t axis_, window_;
  bool center_;
  int64_t min_periods_;
};
// A rolling window of `window` elements along `axis` (negative counts from the end);
// min_periods defaults to the window. Throws std::invalid_argument naming rolling for
// an axis out of range, a window below 1 or min_periods below 1.
Rolling rolling(const Array& a, int64_t axis, int64_t window, bool center = false,
                std::optional<int64_t> min_periods = std::nullopt);

}  // namespace rsdat
