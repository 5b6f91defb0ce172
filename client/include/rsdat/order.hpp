// Order statistics: medians, quantiles and percentiles, sorting, and top-k, with
// NumPy's names, arguments, dtypes and NaN rules (and dask's for topk). Lazy, like
// every rsdat::Array; exact on chunked axes, never approximate.
//
//   auto stack = rsdat::random::uniform({100, 10980, 10980}, {10, 1098, 1098}, 1, rsdat::DType::kFloat32);
//   auto composite = rsdat::nanmedian(stack, {0});                // (10980, 10980) float32
//   auto deciles = rsdat::quantile(stack, std::vector<double>{0.1, 0.9}, {0});  // (2, 10980, 10980) float64
//   auto brightest = rsdat::topk(stack, 3, 0);                    // (3, 10980, 10980), largest first
//
// How they run, and what a task holds:
// - median, quantile, percentile and their nan forms, sort and argsort need every
//   element of a slice in one task. Each task reads, for one block of the other axes,
//   all the blocks of the reduced axes (they are not joined into one chunk first: the
//   task reads them as they are), and the other axes are cut (split, never merged) so
//   that these inputs hold at most OrderOptions::task_bytes (64 MiB by default). A
//   task then needs its inputs, its output (inputs ÷ reduced length × the number of
//   q for quantiles; as large as its inputs for sort, 8 bytes per element for
//   argsort), a 256 KiB tile of slices, and 16 bytes per element of one slice. Only
//   when one slice alone exceeds the bound (one block of the other axes holds one
//   slice) does a task read more: that slice. Quantiles select with std::nth_element
//   (O(n) per slice and q, not a full sort), and slices of at most 64 values (after
//   NaN is left out) are sorted by counting ranks, which costs less there; sort uses
//   std::sort, argsort std::stable_sort.
// - topk and argtopk are trees along their axis, as dask builds them: each task keeps
//   the |k| best of at most `split_every` blocks (or partials) along the axis; the other
//   axes keep their chunks. A task reads split_every blocks, never the whole axis, and
//   nothing is rechunked.
// Arguments that do not fit (an axis out of range, a repeated axis, q out of its range,
// an unknown method, |k| too large) throw std::invalid_argument when the array is
// built, naming the function.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rsdat/array.hpp"

namespace rsdat {

// How order statistics cut the axes they do not reduce: a task's input blocks hold at
// most `task_bytes` (unless one slice alone is larger).
struct OrderOptions {
  uint64_t task_bytes = uint64_t{64} << 20;
};

// numpy.median over `axes` (empty: all; negative count from the end): the middle value,
// or the mean of the two middle ones; float32 for float32, float64 for other inputs.
// A slice holding a NaN gives NaN; an empty slice gives NaN. With `keepdims` the
// reduced axes stay with size 1.
Array median(const Array& a, std::vector<int64_t> axes = {}, bool keepdims = false, const OrderOptions& o = {});
// numpy.nanmedian: the median of the values that are not NaN; NaN for a slice of NaN
// only. On integers, median.
Array nanmedian(const Array& a, std::vector<int64_t> axes = {}, bool keepdims = false, const OrderOptions& o = {});

// numpy.quantile(a, q, axis, method=, keepdims=) with q in [0, 1], NumPy 1.24's
// `method` one of "linear" (default), "lower", "higher", "nearest" (the position
// (n - 1) q rounded half to even) and "midpoint". Result dtype: float64 for "linear"
// and "midpoint" (also of float32), the input's dtype for the other three. A list of q
// adds a leading axis of its length (std::vector<double>{0.5} has one; the double 0.5
// none). A slice holding a NaN gives NaN. An empty reduced axis, q outside [0, 1], an
// unknown method, and bool inputs with "linear" or "midpoint" (NumPy cannot subtract
// booleans) throw std::invalid_argument naming the function.
Array quantile(const Array& a, double q, std::vector<int64_t> axes = {}, const std::string& method = "linear",
               bool keepdims = false, const OrderOptions& o = {});
Array quantile(const Array& a, const std::vector<double>& q, std::vector<int64_t> axes = {},
               const std::string& method = "linear", bool keepdims = false, const OrderOptions& o = {});
// numpy.nanquantile: NaN left out; NaN for a slice of NaN only.
Array nanquantile(const Array& a, double q, std::vector<int64_t> axes = {}, const std::string& method = "linear",
                  bool keepdims = false, const OrderOptions& o = {});
Array nanquantile(const Array& a, const std::vector<double>& q, std::vector<int64_t> axes = {},
                  const std::string& method = "linear", bool keepdims = false, const OrderOptions& o = {});
// numpy.percentile and numpy.nanpercentile: quantile of q / 100, q in [0, 100].
Array percentile(const Array& a, double q, std::vector<int64_t> axes = {}, const std::string& method = "linear",
                 bool keepdims = false, const OrderOptions& o = {});
Array percentile(const Array& a, const std::vector<double>& q, std::vector<int64_t> axes = {},
                 const std::string& method = "linear", bool keepdims = false, const OrderOptions& o = {});
Array nanpercentile(const Array& a, double q, std::vector<int64_t> axes = {}, const std::string& method = "linear",
                    bool keepdims = false, const OrderOptions& o = {});
Array nanpercentile(const Array& a, const std::vector<double>& q, std::vector<int64_t> axes = {},
                    const std::string& method = "linear", bool keepdims = false, const OrderOptions& o = {});

// numpy.sort along `axis` (negative counts from the end): NaN last. The result has one
// chunk along the axis (the other axes cut as above).
Array sort(const Array& a, int64_t axis = -1, const OrderOptions& o = {});
// numpy.argsort(kind="stable"): the int64 positions along `axis` that sort it, equal
// values in their order, NaN last.
Array argsort(const Array& a, int64_t axis = -1, const OrderOptions& o = {});

// dask.array.topk: for k > 0 the k largest values along `axis`, largest first; for
// k < 0 the |k| smallest, smallest first. NaN counts as the largest value (it comes
// first for k > 0, last for k < 0). The result has |k| along the axis, in one chunk,
// in a's dtype. k = 0 and |k| above the axis's length throw std::invalid_argument.
Array topk(const Array& a, int64_t k, int64_t axis = -1, int split_every = 8);
// dask.array.argtopk: the int64 indices along `axis` of topk's values; equal values
// give the lower index first.
Array argtopk(const Array& a, int64_t k, int64_t axis = -1, int split_every = 8);

}  // namespace rsdat
