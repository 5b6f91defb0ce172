// Indexing and shape: views, take, compress, reshape and the axis functions,
// concatenate, stack, pad, and arrays made from local data. NumPy's names and
// semantics; everything is lazy, like the rest of rsdat::Array.
//
//   using rsdat::_;
//   auto last_year = rsdat::view(t, rsdat::range(-365, _));      // t[-365:]
//   auto reversed = rsdat::view(t, rsdat::range(_, _, -1), 0);    // t[::-1, 0]
//   auto column = rsdat::view(grid, rsdat::all(), 5, rsdat::newaxis());  // grid[:, 5, None]
//
// How they run: a view, take, flip, roll and pad make each output block from the input
// blocks it touches and no others (a view of a persisted or Zarr-backed array reads only
// the chunks it touches). Along an axis the output's chunks follow the input's: a piece
// of one input block each where that keeps chunks as large as the input's, else pieces
// joined up to the input's largest chunk. An output block that is one whole input
// block is that block, not a copy; so are the blocks of reshape, expand_dims, squeeze,
// concatenate and stack, which never copy elements (reshape may rechunk first, as
// dask does).
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>
#include <xtensor/xarray.hpp>

#include "rsdat/array.hpp"

namespace rsdat {

// ---- view -------------------------------------------------------------------

// An open end of a range: rsdat::range(2, _) is NumPy's 2:, range(_, _, -1) is ::-1.
struct Placeholder {};
inline constexpr Placeholder _{};

// start:stop:step along one axis. Negative start and stop count from the end; a missing
// one is the end in the step's direction. Bounds past the end are clipped, as NumPy
// does; a step of 0 throws std::invalid_argument.
struct Range {
  std::optional<int64_t> start, stop;
  int64_t step = 1;
};
struct RangeBound {
  std::optional<int64_t> value;
  RangeBound(Placeholder) {}  // NOLINT: implicit, as in range(_, 5)
  template <std::integral I>
  RangeBound(I v) : value(static_cast<int64_t>(v)) {}  // NOLINT: implicit, as in range(1, 5)
};
inline Range range(RangeBound start, RangeBound stop, int64_t step = 1) { return {start.value, stop.value, step}; }
// The whole axis (NumPy's :).
struct All {};
inline All all() { return {}; }
// A new axis of size 1 (NumPy's None / np.newaxis).
struct NewAxis {};
inline NewAxis newaxis() { return {}; }

// One argument of view(): an integer selects one index and drops the axis (negative
// counts from the end; out of range throws std::out_of_range).
using Index = std::variant<int64_t, Range, All, NewAxis>;

// a[index...], NumPy's basic indexing: each integer, range or all() takes one axis of
// `a` in order, newaxis() adds one; axes left over are taken whole.
Array view(const Array& a, const std::vector<Index>& index);
template <typename... S>
  requires(sizeof...(S) > 0 && ((std::integral<S> || std::same_as<S, Range> || std::same_as<S, All> ||
                                 std::same_as<S, NewAxis>) && ...))
Array view(const Array& a, S... index) {
  return view(a, std::vector<Index>{[](auto v) -> Index {
    if constexpr (std::integral<decltype(v)>) {
      return static_cast<int64_t>(v);
    } else {
      return v;
    }
  }(index)...});
}

// ---- picking elements ---------------------------------------------------------

// The elements at `indices` along `axis` (numpy.take): repeats and negative indices
// allowed, an index out of range throws std::out_of_range. Without an axis, of the
// flattened array.
Array take(const Array& a, const std::vector<int64_t>& indices, std::optional<int64_t> axis = std::nullopt);
// The slices along `axis` where `condition` (1-d) is true (numpy.compress); without an
// axis, the elements of the flattened array. A condition shorter than the axis keeps
// nothing past its end. The Array form computes the condition on the cluster when
// compress() is called (one round trip; it needs a Client), because the result's
// length is the condition's count of true values: a condition over a long axis costs
// that computation up front, the rest stays lazy.
Array compress(const std::vector<bool>& condition, const Array& a, std::optional<int64_t> axis = std::nullopt);
Array compress(const Array& condition, const Array& a, std::optional<int64_t> axis = std::nullopt,
               Client* client = nullptr);

// ---- shape ------------------------------------------------------------------------

// The same elements in C order under `shape` (one entry may be -1: whatever is left).
// Blocks map one to one when the chunks allow it (axes merged have one chunk but the
// first; an axis split has chunks that are multiples of the split); otherwise the array
// is rechunked to such chunks first, as dask does. Throws std::invalid_argument when
// the sizes differ.
Array reshape(const Array& a, Shape shape);
// reshape(a, {-1}).
Array ravel(const Array& a);
// New size-1 axes at `axes` (positions in the result; negative count from the end).
Array expand_dims(const Array& a, std::vector<int64_t> axes);
inline Array expand_dims(const Array& a, int64_t axis) { return expand_dims(a, std::vector<int64_t>{axis}); }
// Without the size-1 axes `axes` (all size-1 axes when none are given); an axis of
// another size throws std::invalid_argument.
Array squeeze(const Array& a, std::optional<std::vector<int64_t>> axes = std::nullopt);
inline Array squeeze(const Array& a, int64_t axis) { return squeeze(a, std::vector<int64_t>{axis}); }
// Axes moved to new positions, the others keeping their order (numpy.moveaxis).
Array moveaxis(const Array& a, std::vector<int64_t> source, std::vector<int64_t> destination);
inline Array moveaxis(const Array& a, int64_t source, int64_t destination) {
  return moveaxis(a, std::vector<int64_t>{source}, std::vector<int64_t>{destination});
}
// Two axes exchanged (numpy.swapaxes).
Array swapaxes(const Array& a, int64_t axis1, int64_t axis2);
// The order of elements reversed along `axes` (all axes when none are given).
Array flip(const Array& a, std::optional<std::vector<int64_t>> axes = std::nullopt);
inline Array flip(const Array& a, int64_t axis) { return flip(a, std::vector<int64_t>{axis}); }
// Elements shifted by `shift` along `axis`, those falling off the end coming back at
// the start (numpy.roll); without an axis, along the flattened array.
Array roll(const Array& a, int64_t shift, std::optional<int64_t> axis = std::nullopt);
Array roll(const Array& a, const std::vector<int64_t>& shifts, const std::vector<int64_t>& axes);

// ---- joining and padding -------------------------------------------------------------

// The arrays joined along an existing axis (numpy.concatenate), in the dtype NumPy
// promotes them to. Along `axis` the chunks are the arrays' own; along the others, the
// first array's. Shapes that differ other than along `axis` throw std::invalid_argument.
Array concatenate(const std::vector<Array>& arrays, int64_t axis = 0);
// Arrays of one shape joined along a new axis (numpy.stack).
Array stack(const std::vector<Array>& arrays, int64_t axis = 0);
// `a` with pad_width[d] = {before, after} elements added along each axis d (one pair:
// the same for every axis), as numpy.pad with mode "constant" (constant_value),
// "edge", "reflect", "symmetric" or "wrap". The padding makes chunks of its own, joined
// to the neighbouring input chunk where that keeps them no larger than the input's.
Array pad(const Array& a, const std::vector<std::pair<int64_t, int64_t>>& pad_width,
          const std::string& mode = "constant", double constant_value = 0);

// ---- arrays from local data --------------------------------------------------------------

namespace detail {
Array from_array(const void* data, DType dtype, const Shape& shape, const Shape& chunks, Client* client);
}
// A local array put on the cluster in chunks of `chunks` (-1: the whole axis). An array
// of up to 64 MiB travels inline with the graph of the computation that reads it; a
// larger one is sent to the workers once, when from_array is called (that needs a
// Client: `client` or the current one), and its chunks stay there while the returned
// Array, or one made from it, lives.
template <typename T>
Array from_array(const xt::xarray<T>& a, const Shape& chunks, Client* client = nullptr) {
  Shape shape(a.shape().begin(), a.shape().end());
  return detail::from_array(a.data(), dtype_of<T>(), shape, chunks, client);
}

}  // namespace rsdat
