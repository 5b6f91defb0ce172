// Scans and differences along an axis: cumsum, cumprod, nancumsum, nancumprod, cummax,
// cummin, diff and ediff1d, with NumPy's names, dtypes and edge cases. Lazy, like the
// rest of rsdat::Array.
//
//   auto x = rsdat::random::uniform({64, 4096, 4096}, {8, 1024, 1024}, 1, rsdat::DType::kFloat32);
//   auto running = rsdat::cumsum(x, 0);                  // float32, x's chunks
//   auto peak = rsdat::cummax(x - 0.5, -1);              // the elementwise producer fused in
//   auto steps = rsdat::diff(x, 1, 0);                   // x[1:] - x[:-1]
//
// How a scan runs, never rechunking the scanned axis (reduce-then-scan):
// 1. every block's total along the axis (a slab: the block with that axis of size 1),
//    computed as a reduction's partial, an elementwise producer evaluated inside the
//    task (float and bool expressions; integer ones are read as stored);
// 2. the inclusive prefix of those totals along the axis, a chain of tiny slab tasks
//    (ScanMethod::kSequential: one combine of two slabs per block, a chain as long as
//    the axis has blocks) or a log-depth tree (ScanMethod::kLogDepth: ceil(log2 n)
//    levels of n slab tasks, Hillis and Steele's scan);
// 3. every block scanned from its carry (the prefix of the blocks before it): one task
//    reads the block (its producer fused in) and one slab and writes its result once.
// Memory per task: one input block + one output block + one slab; no task reads two
// blocks of the scanned axis. The work is two reads of the input and one write of the
// output (dask's cumreduction stores each block's local scan and adds the carry in a
// second pass: one more write and read of the whole output).
//
// Dtypes as NumPy's: cumsum, cumprod, nancumsum and nancumprod of bool and signed
// integers give int64, of unsigned integers uint64, of floats their own dtype; cummax and
// cummin keep the input's. A given `dtype` is the result's and the accumulator's: the
// input is cast to it first (numpy.cumsum(a, dtype=...)). Integers are exact in 64 bits
// and wrap as NumPy's; floats accumulate in the result's dtype within a block (float32
// stays float32, as NumPy's sequential accumulation), the totals between blocks in
// float64. Without an axis the array is scanned flattened in C order (a 1-d result, as
// numpy.cumsum(a)), and a 0-d array scans as one element; an axis out of range throws
// std::invalid_argument naming the function. Thread-safe: building an array does no work.
#pragma once

#include <cstdint>
#include <optional>

#include "rsdat/array.hpp"

namespace rsdat {

// How the prefix over the blocks' totals is built (see above): a chain (fewest tasks;
// the default: measured in docs/architecture.md) or a log-depth tree.
enum class ScanMethod { kSequential, kLogDepth };

// The running sum along `axis` (numpy.cumsum).
Array cumsum(const Array& a, std::optional<int64_t> axis = std::nullopt, std::optional<DType> dtype = std::nullopt,
             ScanMethod method = ScanMethod::kSequential);
// The running product along `axis` (numpy.cumprod).
Array cumprod(const Array& a, std::optional<int64_t> axis = std::nullopt, std::optional<DType> dtype = std::nullopt,
              ScanMethod method = ScanMethod::kSequential);
// cumsum with NaN counted as 0 (numpy.nancumsum: a leading NaN gives 0).
Array nancumsum(const Array& a, std::optional<int64_t> axis = std::nullopt, std::optional<DType> dtype = std::nullopt,
                ScanMethod method = ScanMethod::kSequential);
// cumprod with NaN counted as 1 (numpy.nancumprod).
Array nancumprod(const Array& a, std::optional<int64_t> axis = std::nullopt, std::optional<DType> dtype = std::nullopt,
                 ScanMethod method = ScanMethod::kSequential);
// The running maximum and minimum along `axis` (numpy.maximum.accumulate and
// numpy.minimum.accumulate; without an axis, of the flattened array), in a's dtype: once
// a NaN is met, NaN from there on.
Array cummax(const Array& a, std::optional<int64_t> axis = std::nullopt, ScanMethod method = ScanMethod::kSequential);
Array cummin(const Array& a, std::optional<int64_t> axis = std::nullopt, ScanMethod method = ScanMethod::kSequential);

// The n-th discrete difference along `axis` (numpy.diff): a[1:] - a[:-1] along it, n
// times, in a's dtype (unsigned integers wrap as NumPy's); of bool arrays not_equal, as
// NumPy gives. With `prepend` or `append` those values are joined before or after `a`
// along the axis first (a 0-d array is broadcast to one slice, another array must match
// a's shape but along the axis; the dtype is then the promoted one). n larger than the
// axis gives an empty axis; n = 0 gives `a`. Views and one elementwise subtraction per
// order: each output block reads the input blocks it overlaps, nothing more. A negative
// n, a 0-d `a`, or an axis out of range throw std::invalid_argument naming diff.
Array diff(const Array& a, int64_t n = 1, int64_t axis = -1, std::optional<Array> prepend = std::nullopt,
           std::optional<Array> append = std::nullopt);
// The differences of the flattened array (numpy.ediff1d), with `to_begin` and `to_end`
// (flattened, cast to a's dtype) joined before and after; 1-d, in a's dtype. Bool
// arrays throw std::invalid_argument, as NumPy refuses to subtract booleans.
Array ediff1d(const Array& a, std::optional<Array> to_end = std::nullopt, std::optional<Array> to_begin = std::nullopt);

}  // namespace rsdat
