// Array: a lazy, chunked n-dimensional array.
//
// An Array is a cheap value handle to an immutable node of an expression graph;
// building one does no work. compute() lowers the graph to chunk tasks, runs them
// on the cluster and returns an xt::xarray; persist() keeps the chunks on the
// workers and returns an Array that refers to them.
//
//   auto red = rsdat::random::uniform({32, 4096, 4096}, {8, 1024, 1024}, 1, rsdat::DType::kFloat32);
//   auto nir = rsdat::random::uniform({32, 4096, 4096}, {8, 1024, 1024}, 2, rsdat::DType::kFloat32);
//   auto ndvi = ((nir - red) / (nir + red)).mean({0});
//   xt::xarray<float> map = ndvi.compute<float>();
//
// Elementwise chains are fused into one task per chunk, also into a reduction that
// follows (no intermediate is stored). Operands broadcast by NumPy's rules (size-1 and
// missing leading axes); along each axis the chunks follow the first operand that has
// the axis at full size, the others being rechunked to match, and a size-1 axis is read
// once per chunk, never materialised. Shapes that do not broadcast throw
// std::invalid_argument at build time, naming the operation and the shapes.
// Thread-safe to share: nodes are immutable.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>
#include <xtensor/xarray.hpp>

#include "rsdat/client.hpp"
#include "rsdat/dtype.hpp"
#include "rsdat/scalar.hpp"

namespace rsdat {

namespace detail {
struct Node;
}

using Shape = std::vector<int64_t>;
using Chunks = std::vector<std::vector<int64_t>>;  // per axis, the sizes of its chunks

// How a reduction is built: trees of at most `split_every` inputs per step (at least
// 2), and with `keepdims` the reduced axes kept with size 1 (NumPy's keepdims=True;
// free: only the result's shape and grid differ, never an extra pass). The same as
// the trailing (split_every, keepdims) arguments, by name:
//   a.sum({0}, {.keepdims = true});  // a.sum({0}, 8, true)
// (a.sum({0}, true) would pass true as split_every: 1, which throws.)
struct ReduceOptions {
  int split_every = 8;
  bool keepdims = false;
};

class Array {
 public:
  Array() = default;
  explicit Array(std::shared_ptr<const detail::Node> node) : node_(std::move(node)) {}

  const Shape& shape() const;
  const Chunks& chunks() const;
  DType dtype() const;
  size_t ndim() const { return shape().size(); }
  int64_t size() const;
  uint64_t nbytes() const;
  int64_t num_chunks() const;
  const std::string& name() const;
  // Dimension names when known (read from a Zarr store written by xarray), else empty.
  const std::vector<std::string>& dims() const;

  Array astype(DType dtype) const;
  // Axes permutation (default: reversed), like numpy.transpose.
  Array transpose(std::vector<int64_t> axes = {}) const;
  Array T() const { return transpose(); }
  // Reductions over `axes` (empty: all axes; negative counts from the end) as trees
  // of at most `split_every` inputs per step; with `keepdims` the reduced axes stay
  // with size 1 (ReduceOptions is the other spelling of the last two arguments).
  // The pairwise ones (sum, prod, min, max, any, all, nansum, nanprod, nanmin, nanmax;
  // listed with their result dtypes in rsdat/reductions.def) follow NumPy's names and
  // types: sum and prod of bool and signed integers give int64, of unsigned integers
  // uint64, of floats their own dtype. An axis out of range, a repeated axis, or
  // split_every < 2 throw std::invalid_argument naming the operation, as do min and
  // max (and what is made of them) over a zero-size axis. A reduction of an
  // elementwise expression evaluates it inside its own tasks, never storing it.
#define RSDAT_MONOID(name, Tag, code, partial, identity, step, combine)                         \
  Array name(std::vector<int64_t> axes = {}, int split_every = 8, bool keepdims = false) const; \
  Array name(std::vector<int64_t> axes, const ReduceOptions& o) const {                         \
    return name(std::move(axes), o.split_every, o.keepdims);                                    \
  }
#include "rsdat/reductions.def"
#define RSDAT_REDUCTION_(name)                                                                  \
  Array name(std::vector<int64_t> axes = {}, int split_every = 8, bool keepdims = false) const; \
  Array name(std::vector<int64_t> axes, const ReduceOptions& o) const {                         \
    return name(std::move(axes), o.split_every, o.keepdims);                                    \
  }
#define RSDAT_DDOF_REDUCTION_(name)                                                                          \
  Array name(std::vector<int64_t> axes = {}, double ddof = 0, int split_every = 8, bool keepdims = false) const; \
  Array name(std::vector<int64_t> axes, double ddof, const ReduceOptions& o) const {                          \
    return name(std::move(axes), ddof, o.split_every, o.keepdims);                                            \
  }
  // The arithmetic mean: float64 for integers, bool and float64, float32 for float32.
  RSDAT_REDUCTION_(mean)
  // Variance and standard deviation with `ddof` delta degrees of freedom (dividing by
  // count - ddof; NaN where that is <= 0), float64 for integers; a NaN makes NaN.
  RSDAT_DDOF_REDUCTION_(var)
  RSDAT_DDOF_REDUCTION_(std)
  // The same over the values that are not NaN (numpy.nanvar, numpy.nanstd): NaN where
  // there are none or count - ddof <= 0 (NumPy gives NaN with a RuntimeWarning);
  // infinities count (and make NaN). On integers they are var and std.
  RSDAT_DDOF_REDUCTION_(nanvar)
  RSDAT_DDOF_REDUCTION_(nanstd)
  // Elements that are not zero, as int64 (numpy.count_nonzero).
  RSDAT_REDUCTION_(count_nonzero)
  // max - min (numpy.ptp), in the input's dtype.
  RSDAT_REDUCTION_(ptp)
  // The mean of the values that are not NaN; NaN where there are none (numpy.nanmean).
  RSDAT_REDUCTION_(nanmean)
#undef RSDAT_REDUCTION_
#undef RSDAT_DDOF_REDUCTION_
  // The int64 index of the smallest or largest value along `axis` (negative counts
  // from the end), or with std::nullopt of the whole array as a flat C-order index
  // (numpy.argmin, numpy.argmax; keepdims then keeps every axis with size 1). Ties
  // give the first occurrence; a NaN wins: the index of the first NaN. Built as a tree
  // whose partials carry (value, index) per output element. An empty axis throws
  // std::invalid_argument ("argmax: attempt to get argmax of an empty sequence"), as
  // does an axis out of range.
  Array argmin(std::optional<int64_t> axis = std::nullopt, int split_every = 8, bool keepdims = false) const;
  Array argmax(std::optional<int64_t> axis = std::nullopt, int split_every = 8, bool keepdims = false) const;
  // The same with NaN ignored (numpy.nanargmin, numpy.nanargmax; on integers argmin and
  // argmax). A slice of NaN only has no answer: NumPy raises ValueError; here, the
  // graph being lazy, compute() throws TaskError carrying the worker's message
  // "nanargmax: All-NaN slice encountered" (or nanargmin).
  Array nanargmin(std::optional<int64_t> axis = std::nullopt, int split_every = 8, bool keepdims = false) const;
  Array nanargmax(std::optional<int64_t> axis = std::nullopt, int split_every = 8, bool keepdims = false) const;
  Array argmin(std::optional<int64_t> axis, const ReduceOptions& o) const { return argmin(axis, o.split_every, o.keepdims); }
  Array argmax(std::optional<int64_t> axis, const ReduceOptions& o) const { return argmax(axis, o.split_every, o.keepdims); }
  Array nanargmin(std::optional<int64_t> axis, const ReduceOptions& o) const {
    return nanargmin(axis, o.split_every, o.keepdims);
  }
  Array nanargmax(std::optional<int64_t> axis, const ReduceOptions& o) const {
    return nanargmax(axis, o.split_every, o.keepdims);
  }
  // New regular chunk shape (-1 on an axis: one chunk along it).
  Array rechunk(std::vector<int64_t> chunk_shape) const;
  Array rechunk(const Chunks& chunks) const;

  // Computes and keeps the chunks on the workers while the returned Array (or a copy)
  // lives. Throws TaskError or ClusterError.
  Array persist(Client* client = nullptr) const;
  // Computes and gathers the whole array, converted to T. Throws TaskError or ClusterError.
  template <typename T>
  xt::xarray<T> compute(Client* client = nullptr) const {
    xt::xarray<T> out = xt::xarray<T>::from_shape(std::vector<size_t>(shape().begin(), shape().end()));
    compute_into(client, dtype_of<T>(), out.data());
    return out;
  }
  // Computes a 0-d or one-element array as a double.
  double item(Client* client = nullptr) const;

  const std::shared_ptr<const detail::Node>& node() const { return node_; }

 private:
  void compute_into(Client* client, DType as, void* out) const;
  std::shared_ptr<const detail::Node> node_;
};

// The reductions as functions, by NumPy's names: rsdat::sum(a, {0}) is a.sum({0}), with
// the same arguments and the same ReduceOptions spelling, for every reduction above
// (min and max reduce; minimum and maximum are the elementwise ones). rsdat::std is a
// function: std::vector and the rest still name namespace std, also after
// `using namespace rsdat`.
#define RSDAT_REDUCTION_(name)                                                                                 \
  inline Array name(const Array& a, std::vector<int64_t> axes = {}, int split_every = 8, bool keepdims = false) { \
    return a.name(std::move(axes), split_every, keepdims);                                                   \
  }                                                                                                          \
  inline Array name(const Array& a, std::vector<int64_t> axes, const ReduceOptions& o) {                     \
    return a.name(std::move(axes), o);                                                                       \
  }
#define RSDAT_MONOID(name, Tag, code, partial, identity, step, combine) RSDAT_REDUCTION_(name)
#include "rsdat/reductions.def"
RSDAT_REDUCTION_(mean)
RSDAT_REDUCTION_(count_nonzero)
RSDAT_REDUCTION_(ptp)
RSDAT_REDUCTION_(nanmean)
#undef RSDAT_REDUCTION_
#define RSDAT_DDOF_REDUCTION_(name)                                                                       \
  inline Array name(const Array& a, std::vector<int64_t> axes = {}, double ddof = 0, int split_every = 8, \
                    bool keepdims = false) {                                                              \
    return a.name(std::move(axes), ddof, split_every, keepdims);                                          \
  }                                                                                                       \
  inline Array name(const Array& a, std::vector<int64_t> axes, double ddof, const ReduceOptions& o) {     \
    return a.name(std::move(axes), ddof, o);                                                              \
  }
RSDAT_DDOF_REDUCTION_(var)
RSDAT_DDOF_REDUCTION_(std)
RSDAT_DDOF_REDUCTION_(nanvar)
RSDAT_DDOF_REDUCTION_(nanstd)
#undef RSDAT_DDOF_REDUCTION_
#define RSDAT_ARG_REDUCTION_(name)                                                                   \
  inline Array name(const Array& a, std::optional<int64_t> axis = std::nullopt, int split_every = 8, \
                    bool keepdims = false) {                                                         \
    return a.name(axis, split_every, keepdims);                                                      \
  }                                                                                                  \
  inline Array name(const Array& a, std::optional<int64_t> axis, const ReduceOptions& o) { return a.name(axis, o); }
RSDAT_ARG_REDUCTION_(argmin)
RSDAT_ARG_REDUCTION_(argmax)
RSDAT_ARG_REDUCTION_(nanargmin)
RSDAT_ARG_REDUCTION_(nanargmax)
#undef RSDAT_ARG_REDUCTION_

// Creation. `chunks` is a chunk shape (-1: the whole axis).
Array zeros(const Shape& shape, const Shape& chunks, DType dtype = DType::kFloat64);
Array ones(const Shape& shape, const Shape& chunks, DType dtype = DType::kFloat64);
Array full(const Shape& shape, const Shape& chunks, double value, DType dtype = DType::kFloat64);
// Of a's shape and chunks, and its dtype unless one is given.
Array full_like(const Array& a, double value, std::optional<DType> dtype = std::nullopt);
Array zeros_like(const Array& a, std::optional<DType> dtype = std::nullopt);
Array ones_like(const Array& a, std::optional<DType> dtype = std::nullopt);
// start, start + step, ... below stop (numpy.arange), in chunks of `chunk`: int64 when
// start, stop and step are whole numbers, else float64, unless a dtype is given.
Array arange(double start, double stop, double step = 1, int64_t chunk = 1 << 20,
             std::optional<DType> dtype = std::nullopt);
// `num` values evenly spaced from start to stop (numpy.linspace; without `endpoint`, stop
// is left out), in chunks of `chunk`.
Array linspace(double start, double stop, int64_t num = 50, int64_t chunk = 1 << 20, bool endpoint = true,
               DType dtype = DType::kFloat64);
// The n × m (default n × n) array with ones on diagonal k (0: the main one, positive:
// above it) and zeros elsewhere (numpy.eye), in square chunks of `chunk`.
Array eye(int64_t n, std::optional<int64_t> m = std::nullopt, int64_t k = 0, int64_t chunk = 4096,
          DType dtype = DType::kFloat64);
// An array whose values are not to be relied on (numpy.empty): it costs what zeros
// does, as rsdat fills new blocks anyway.
Array empty(const Shape& shape, const Shape& chunks, DType dtype = DType::kFloat64);
// Every element holds its index along `axis` (like one array of numpy.indices).
Array coordinate(const Shape& shape, const Shape& chunks, int64_t axis, DType dtype = DType::kFloat64);
namespace random {
// Uniform [0, 1). The values depend only on (seed, element index): the same for any
// chunking and any number of workers.
Array uniform(const Shape& shape, const Shape& chunks, uint64_t seed = 0, DType dtype = DType::kFloat64);
}  // namespace random

// The elementwise functions by their NumPy names, each with its result dtype in
// rsdat/elementwise_ops.def: arithmetic (add, subtract, multiply, divide: true
// division, power, mod: the divisor's sign, floor_divide), comparisons (equal,
// not_equal, less, less_equal, greater, greater_equal) and logic (logical_and,
// logical_or, logical_xor, logical_not) giving bool arrays, minimum and maximum (NaN
// wins), fmin and fmax (NaN loses), rounding (floor, ceil, trunc, rint), powers,
// logarithms and trigonometry (sqrt, cbrt, exp, exp2, expm1, log, log2, log10, log1p,
// sin, cos, tan, arcsin, arccos, arctan, arctan2, sinh, cosh, tanh, arcsinh, arccosh,
// arctanh, hypot, deg2rad, rad2deg), negative, abs, square, sign, reciprocal, and the
// tests isnan, isfinite, isinf; and on integer and bool arrays only, bitwise_and,
// bitwise_or, bitwise_xor, invert, left_shift and right_shift (floats throw
// std::invalid_argument). Integer and bool values compute exactly in 64-bit integers,
// each result wrapped into its dtype as NumPy's integers wrap (a zero divisor gives 0,
// a negative integer power fails the task); with floats involved, in float32 or
// float64. A 0-d array promotes as an array (NumPy 2's rule), a C++ scalar as a Python
// scalar. A binary function takes two arrays, or an array and a C++ scalar on either
// side (see rsdat/scalar.hpp for the scalar's dtype).
namespace detail {
template <typename S>
double scalar_value(S s) {
  return static_cast<double>(s);
}
}  // namespace detail
#define RSDAT_UNARY(name, Tag, code, rule, expr) Array name(const Array& a);
#define RSDAT_BINARY(name, Tag, code, rule, expr)                                                  \
  Array name(const Array& a, const Array& b);                                                      \
  namespace detail {                                                                               \
  Array name##_with_scalar(const Array& a, double s, ScalarKind kind, bool scalar_first);          \
  }                                                                                                \
  template <Scalar S>                                                                              \
  Array name(const Array& a, S s) {                                                                \
    return detail::name##_with_scalar(a, detail::scalar_value(s), scalar_kind<S>(), false);        \
  }                                                                                                \
  template <Scalar S>                                                                              \
  Array name(S s, const Array& a) {                                                                \
    return detail::name##_with_scalar(a, detail::scalar_value(s), scalar_kind<S>(), true);         \
  }
#include "rsdat/elementwise_ops.def"

// Operators, as NumPy's: + - * / % between arrays and with scalars on either side,
// unary -, comparisons giving bool arrays, and & | ^ ~ on bool arrays (logical_and,
// logical_or, logical_xor, logical_not; integer operands throw std::invalid_argument:
// bitwise integer operations are not built yet).
#define RSDAT_OPERATOR(op, function)                                   \
  Array operator op(const Array& a, const Array& b);                  \
  template <Scalar S>                                                  \
  Array operator op(const Array& a, S s) {                             \
    return function(a, s);                                             \
  }                                                                    \
  template <Scalar S>                                                  \
  Array operator op(S s, const Array& a) {                             \
    return function(s, a);                                             \
  }
RSDAT_OPERATOR(+, add)
RSDAT_OPERATOR(-, subtract)
RSDAT_OPERATOR(*, multiply)
RSDAT_OPERATOR(/, divide)
RSDAT_OPERATOR(%, mod)
RSDAT_OPERATOR(==, equal)
RSDAT_OPERATOR(!=, not_equal)
RSDAT_OPERATOR(<, less)
RSDAT_OPERATOR(<=, less_equal)
RSDAT_OPERATOR(>, greater)
RSDAT_OPERATOR(>=, greater_equal)
#undef RSDAT_OPERATOR
Array operator-(const Array& a);
// Logical on bool arrays, bitwise on integer ones (numpy's & | ^ ~).
Array operator&(const Array& a, const Array& b);
Array operator|(const Array& a, const Array& b);
Array operator^(const Array& a, const Array& b);
Array operator~(const Array& a);
// numpy.pow's other name.
inline Array pow(const Array& a, const Array& b) { return power(a, b); }
// True where a equals one of `values` (numpy.isin).
Array isin(const Array& a, const std::vector<double>& values);
// a limited to [lo, hi] (numpy.clip), a bound being an array (broadcast), a scalar of
// its kind, or std::nullopt for none; NaN stays NaN. Scalar bounds with lo > hi throw
// std::invalid_argument.
Array clip(const Array& a, const Array& lo, const Array& hi);
template <Scalar L, Scalar H>
Array clip(const Array& a, L lo, H hi) {
  if (lo > hi) throw std::invalid_argument("clip: the lower bound is above the upper bound");
  return minimum(maximum(a, lo), hi);
}
template <Scalar H>
Array clip(const Array& a, std::nullopt_t, H hi) {
  return minimum(a, hi);
}
template <Scalar L>
Array clip(const Array& a, L lo, std::nullopt_t) {
  return maximum(a, lo);
}
inline Array clip(const Array& a, const Array& lo, std::nullopt_t) { return maximum(a, lo); }
inline Array clip(const Array& a, std::nullopt_t, const Array& hi) { return minimum(a, hi); }
// True where a and b are equal within atol + rtol * |b| (numpy.isclose): infinities
// only close to the same infinity, NaN close to NaN only with equal_nan.
Array isclose(const Array& a, const Array& b, double rtol = 1e-05, double atol = 1e-08, bool equal_nan = false);
// NaN replaced by `nan`, +inf by `posinf` and -inf by `neginf` (default: the dtype's
// largest and smallest finite values), as numpy.nan_to_num; other dtypes unchanged.
Array nan_to_num(const Array& a, double nan = 0.0, std::optional<double> posinf = std::nullopt,
                 std::optional<double> neginf = std::nullopt);
// Rounded to `decimals` digits, halves to even (numpy.round: rint(a * 10^d) / 10^d).
Array round(const Array& a, int decimals = 0);
// cond ? a : b per element (cond: any dtype, non-zero is true), like numpy.where.
Array where(const Array& cond, const Array& a, const Array& b);
Array where(const Array& cond, double a, const Array& b);
Array where(const Array& cond, const Array& a, double b);
// `a` broadcast to `shape` by NumPy's rules, without copying: a size-1 axis is read as
// its one block. Axes `a` lacks or has with size 1 become one chunk. Throws
// std::invalid_argument when a does not broadcast to shape.
Array broadcast_to(const Array& a, const Shape& shape);
// The arrays broadcast to their common shape (numpy.broadcast_arrays).
std::vector<Array> broadcast_arrays(const std::vector<Array>& arrays);

// ---- Linear algebra ---------------------------------------------------------
//
// NumPy's products, with NumPy's shapes and result dtypes (promote(a, b)): integers
// stay integers and wrap on overflow as NumPy's do (int32 @ int32 is int32), bool
// products are bool (any a & b), float32 stays float32. Float products run through
// OpenBLAS (sgemm, dgemm) on blocks; integer and bool ones through an exact 64-bit
// integer loop. Each is one contraction over blocks: b is rechunked to a's chunks
// along the axes they share. A task reads at most 16 pairs of blocks of the
// contracted axes; longer contracted axes are cut into groups whose partial products
// are summed as a tree (as sum() is), so no task reads an unbounded amount.
// Shapes that do not fit throw std::invalid_argument at build time, naming the
// function and the shapes.
//
//   auto a = rsdat::random::uniform({8, 1000, 300}, {2, 500, 300}, 1);
//   auto b = rsdat::random::uniform({300, 40}, {100, 40}, 2);
//   auto c = rsdat::matmul(a, b);                          // (8, 1000, 40)
//   auto d = rsdat::einsum("bij,jk->bk", {a, b});          // (8, 40)
//
// numpy.matmul: a (..., n, k) @ b (..., k, m) -> (..., n, m), the batch axes (all but
// the last two) broadcast by NumPy's rules; a 1-D a is read as (1, k) and b as (k, 1),
// and that axis is left out of the result. 0-d operands throw.
Array matmul(const Array& a, const Array& b);
// numpy.dot: for 1-D a and b their inner product (0-d); for 2-D, matmul; for N-D a and
// 1-D b, the sum over a's last axis; for N-D a and M-D b (M >= 2), the sum over a's
// last axis and b's second-to-last (tensordot(a, b, {-1}, {-2})); 0-d a or b:
// multiply(a, b).
Array dot(const Array& a, const Array& b);
// numpy.tensordot(a, b, axes=N): the sum over a's last N axes and b's first N; the
// result has a's other axes, then b's.
Array tensordot(const Array& a, const Array& b, int64_t axes = 2);
// numpy.tensordot(a, b, axes=(a_axes, b_axes)): the sum over each a_axes[i] paired
// with b_axes[i] (negative counts from the end; same sizes required).
Array tensordot(const Array& a, const Array& b, const std::vector<int64_t>& a_axes,
                const std::vector<int64_t>& b_axes);
// numpy.outer: (a.size, b.size), a and b flattened in C order (an N-D operand is first
// rechunked to one chunk along all its axes but the first).
Array outer(const Array& a, const Array& b);
// numpy.einsum over subscript letters (a-z, A-Z), e.g. "ij,jk->ik", "bij,bjk->bik",
// "i,i->", "ij->j", "ji" (transpose): labels missing from the output are summed over;
// without "->" the output is the labels used once, in alphabetical order, as in NumPy.
// Any number of operands, contracted pairwise from the left; the result dtype is the
// operands' promoted dtype (einsum keeps int32 as int32). Not supported (they throw
// std::invalid_argument): a letter repeated within one operand (a diagonal, "ii->i")
// and '...'.
Array einsum(const std::string& subscripts, const std::vector<Array>& operands);
// ---- end of linear algebra ----------------------------------------------------

// Applies the kernel registered as `op` on the workers (a plugin given to rsdat-worker
// with --plugin, registering it with RSDAT_REGISTER_OP) to each block: the kernel gets
// the inputs' blocks (rechunked to the first input's chunks; same shapes required) and
// `params` as is, and returns a block of the first input's block shape in `dtype`.
// An op no worker knows fails its task with a TaskError.
Array map_blocks(const std::string& op, const std::vector<Array>& inputs, DType dtype, const std::string& params = "");

}  // namespace rsdat
