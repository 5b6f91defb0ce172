// Block aggregation, grouped reductions, bin counts, histograms and distinct values:
// xarray's coarsen, flox's groupby_reduce, numpy.bincount, numpy.histogram and
// numpy.unique on lazy chunked arrays.
//
//   auto t = rsdat::random::uniform({360, 1024, 1024}, {30, 512, 512}, 1, rsdat::DType::kFloat32);
//   auto weekly = rsdat::coarsen(t, {{0, 5}}).mean();                     // (72, 1024, 1024)
//   std::vector<int64_t> month(360);
//   for (int64_t d = 0; d < 360; ++d) month[d] = d / 30;
//   auto monthly = rsdat::groupby_reduce(t, month, 0, "mean");           // values (12, 1024, 1024)
//   auto [counts, edges] = rsdat::histogram(t, 20, {{0.0, 1.0}});          // counts (20), int64
//
// Inputs that are not right (an axis out of range, labels of another length, an unknown
// reduction, bad windows or bins) throw std::invalid_argument naming the function, when
// the call is made. Everything is lazy unless its comment says "computed at call": those
// run a computation on the cluster first, because the result's shape depends on the
// values (they need a Client: `client` or the current one; they throw TaskError or
// ClusterError as compute() does). Thread-safe as Array is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rsdat/array.hpp"

namespace rsdat {

// ---- coarsen ------------------------------------------------------------------

// Windows of `coarsen()`, reduced. Each reduction follows xarray's DataArray.coarsen
// with skipna left at its default: on float arrays NaN is skipped (sum of an all-NaN
// window 0, mean, min, max, var and std NaN), on others nothing is NaN. Result dtypes
// as xarray's: sum and prod of integers int64 (uint64 for unsigned), mean, var and std
// float64 for integers, count int64, min and max the input's.
//
// How it runs: each windowed axis of n is split into (n / f, f) by rsdat::reshape,
// which costs nothing where every chunk along the axis is a multiple of f and is
// rechunked to such chunks (dask's reshape rechunk) where one is not; the reduction
// then reads whole windows in every block: one task per block, no tree, no copy of the
// array. Memory: one input block per task. A cheap value, like Array; thread-safe to
// share.
//
//   auto daily_to_weekly = rsdat::coarsen(t, {{0, 7}}, "trim").mean();
class Coarsen {
 public:
  Array sum() const;
  Array prod() const;
  Array mean() const;
  Array min() const;
  Array max() const;
  // Divided by count - ddof (NaN where that is <= 0).
  Array var(double ddof = 0) const;
  Array std(double ddof = 0) const;
  // The values that are not NaN, per window (int64).
  Array count() const;
  // The median of each window (NaN skipped on floats), float64 (float32 for float32):
  // one task per block, holding one window's values at a time.
  Array median() const;

 private:
  friend Coarsen coarsen(const Array&, const std::vector<std::pair<int64_t, int64_t>>&, const std::string&,
                         const std::string&);
  Array split_;                      // each windowed axis split into (windows, window)
  std::vector<int64_t> window_axes_;  // the window axes of split_
};

// `a` in windows of {axis, size} (negative axes count from the end; axes not listed
// are kept), as xarray's a.coarsen({dim: size}, boundary, side). `boundary`:
// "exact" throws std::invalid_argument when an axis is not a multiple of its window;
// "trim" leaves the rest out (at the end with side "left", at the start with
// "right"); "pad" fills the last window with NaN (at the end with side "left", at the
// start with "right"), integers becoming float64 (float32 for 1- and 2-byte ones), as
// xarray pads. A window size below 1, a repeated axis, an unknown boundary or side
// throw std::invalid_argument.
Coarsen coarsen(const Array& a, const std::vector<std::pair<int64_t, int64_t>>& windows,
                const std::string& boundary = "exact", const std::string& side = "left");

// ---- grouped reductions ----------------------------------------------------------

struct GroupbyOptions {
  // The groups of the result, in place of the labels' own: sorted (repeats dropped);
  // a group without elements gives 0 for sum, nansum and count, 1 for prod and
  // nanprod, NaN for the others (flox's expected_groups with its default fill_value).
  // Labels that are not among them count as no group. Negative entries throw.
  std::optional<std::vector<int64_t>> expected_groups;
  // The value of the groups without elements instead (flox's fill_value), in the dtype
  // where(empty, fill_value, result) gives: a whole number keeps an integer result's
  // dtype, NaN or a fraction makes it float64.
  std::optional<double> fill_value;
  // "auto" (the same as "cohorts"), "cohorts" or "map-reduce"; see groupby_reduce.
  std::string method = "auto";
  // var, std, nanvar and nanstd divide by count - ddof.
  double ddof = 0;
  // Partials merged per task in the tree (at least 2).
  int split_every = 8;
};

struct GroupbyResult {
  // `a` with `axis` replaced by one entry per group, in the order of `groups`.
  Array values;
  // The groups: the distinct labels (>= 0), or the expected groups, sorted.
  std::vector<int64_t> groups;
  // The plan used: "cohorts" or "map-reduce".
  std::string method;
};

// `a` reduced along `axis` per group of equal `labels` (one label per index of the
// axis; a negative label is "no group": its elements are left out, as xarray leaves
// out NaN labels). `op`, flox's names: sum, nansum, prod, nanprod, mean, nanmean, min,
// max, nanmin, nanmax, count (the values that are not NaN), var, nanvar, std, nanstd,
// median, nanmedian, first, last, nanfirst, nanlast (the first or last element of the
// group along the axis; the nan ones the first or last that is not NaN). The plain
// ones let NaN through (a group holding NaN gives NaN; first and last may be NaN),
// the nan ones skip it; on integers they are the same. xarray's groupby reductions
// skip NaN by default: its .sum() on floats is "nansum" here, .mean() "nanmean",
// .first() "nanfirst". Result dtypes, NumPy's: sums and products of bool and signed
// integers int64, of unsigned ones uint64, of floats their own; count int64; means,
// variances and medians float32 for float32, else float64; min, max, first and last
// the input's, unless a group has no elements and the input is not a float: then
// float64 (float32 for 1- and 2-byte integers, as xarray promotes) with NaN there.
//
// Plans (flox's). The groups are cut, in sorted order, into output blocks: a group
// joins the current block when one of the input chunks along `axis` holding its
// elements also holds elements of the block's groups, else it starts a block. With
// more than one block the plan is "cohorts": each block's chunk of the result reads
// only the input chunks of its groups (labels of consecutive runs, such as months
// along a daily axis, give one block per run of chunks; a group whose elements lie in
// one chunk needs one task per block of the other axes, no tree). With one block
// (labels that interleave across the chunks, such as the day of the week along a
// daily axis) it is "map-reduce": every input chunk is reduced to a partial holding
// every group, and the partials are merged in a tree of at most `split_every` per
// task. "map-reduce" asks for one block whatever the labels.
//
// Memory: a partial holds K statistics (1 to 3) of 8 bytes per group of its block and
// element of the other axes' input block: K x 8 x G x (input block / its length along
// `axis`); a task reads one input block, or `split_every` partials. The medians have
// no partials: one task per output block reads every input chunk of its groups
// (along `axis`; blocks of the other axes as the input's) and holds them all, plus one
// group's values of one element: memory = those chunks, which for "map-reduce" labels
// is the whole axis times one block of the other axes.
GroupbyResult groupby_reduce(const Array& a, const std::vector<int64_t>& labels, int64_t axis, const std::string& op,
                             const GroupbyOptions& options = {});
// The same with the labels an integer 1-d Array, computed at call.
GroupbyResult groupby_reduce(const Array& a, const Array& labels, int64_t axis, const std::string& op,
                             const GroupbyOptions& options = {}, Client* client = nullptr);

// ---- bin counts and histograms ------------------------------------------------------

// How often each value 0, 1, ... max(x) occurs in the 1-d non-negative integer array
// `x` (numpy.bincount): int64 of length max(max(x) + 1, minlength); with `weights` (of
// x's shape) the sums of the weights instead, float64. Computed at call: x's minimum
// and maximum (one round trip), then lazy: one (length) partial per chunk of x, summed
// as a tree (memory: split_every x length x 8 bytes per task). A float x, a negative
// value, weights of another shape or a negative minlength throw std::invalid_argument.
Array bincount(const Array& x, const std::optional<Array>& weights = std::nullopt, int64_t minlength = 0,
               Client* client = nullptr);

struct Histogram {
  Array counts;               // int64; the weights' dtype with weights; float64 with density
  std::vector<double> edges;  // bins + 1 edges
};
// numpy.histogram's weights and density.
struct HistogramOptions {
  // Of a's shape: each value adds its weight to its bin instead of one. The sums have
  // the weights' dtype, as NumPy's (integer sums are exact in int64, then cast: an int8
  // sum wraps as NumPy's does; bool weights give whether a bin has a true weight).
  std::optional<Array> weights;
  // counts / (their total x the bin's width), float64: a probability density (NaN
  // everywhere when nothing is counted, as NumPy's 0/0).
  bool density = false;
};
// numpy.histogram of all of `a`'s values: `bins` equal bins over `range` (default:
// a's minimum and maximum, computed at call; (0, 1) for an empty array; a range of
// one value widened by 0.5 on both sides). Bin i counts edges[i] <= x < edges[i + 1],
// the last bin also x == its upper edge; values outside and NaN are not counted. For
// float32 data the edges and comparisons are float32, as NumPy's (the edges returned
// are those float32 values). bins < 1, a range whose minimum is above its maximum, or a
// range that is not finite (also computed from data with NaN) throw
// std::invalid_argument. Lazy given a range: one (bins) partial per block, summed as a
// tree.
Histogram histogram(const Array& a, int64_t bins = 10, std::optional<std::pair<double, double>> range = std::nullopt,
                    Client* client = nullptr);
// With weights (a second input per block; weights of another shape throw
// std::invalid_argument) or density, e.g. histogram(a, 20, {{0.0, 1.0}}, {.density = true}).
Histogram histogram(const Array& a, int64_t bins, std::optional<std::pair<double, double>> range,
                    const HistogramOptions& options, Client* client = nullptr);
// The same with the bins' edges given (increasing, at least two; else
// std::invalid_argument), compared in float64.
Histogram histogram(const Array& a, const std::vector<double>& edges, const HistogramOptions& options = {});
// A histogram of every line of `a` along `axis` (a per-pixel histogram of a time axis):
// counts of shape (a's shape without `axis`..., bins), int64; each line counted as
// numpy.histogram(line, bins, range) does. The range is the same for every line, so
// it must be given. Memory: a task reads one input block and holds bins int64 per
// element of the block's other axes; chunks along `axis` are summed as a tree.
// With options, each line's weights and density as histogram's.
Histogram histogram_along(const Array& a, int64_t axis, int64_t bins, std::pair<double, double> range,
                          const HistogramOptions& options = {});
Histogram histogram_along(const Array& a, int64_t axis, const std::vector<double>& edges,
                          const HistogramOptions& options = {});

// ---- distinct values ------------------------------------------------------------------

struct Unique {
  Array values;  // sorted, NaN last (one NaN for all); a's dtype; one chunk
  Array counts;  // how often each occurs (int64); empty Array without return_counts
};
// numpy.unique(a, return_counts) of the flattened array, computed at call: each block's
// distinct values are found on the workers (two round trips: their number, then the
// values and with `return_counts` their counts), the client merges them and returns
// them as small in-memory arrays. Memory on the client: the blocks' distinct values
// together (at most a's size; for categorical data, a few per block).
Unique unique(const Array& a, bool return_counts = false, Client* client = nullptr);

}  // namespace rsdat
