// rsdat._rsdat: the operations on arrays, by their C++ (NumPy) names. The elementwise
// functions and the pairwise reductions come from their .def lists, so a function
// added there is bound here without more code. Argument forms are the C++ ones; the
// NumPy and dask forms (axis=None, scalars, keywords) are rsdat/array.py's.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "python/bindings.hpp"

using rsdat::Array;
using rsdat::DType;
using namespace rsdat::python;

namespace {

using Axes = std::vector<int64_t>;
using OptAxis = std::optional<int64_t>;

std::optional<DType> opt_dtype(const std::optional<std::string>& d) {
  return d ? std::optional<DType>(dtype_arg(*d)) : std::nullopt;
}

// NumPy's basic index, already expanded by rsdat/array.py: an int per axis taken, a
// slice, or None for a new axis (no Ellipsis).
std::vector<rsdat::Index> index_arg(const py::list& items) {
  std::vector<rsdat::Index> index;
  auto bound = [](const py::object& o) -> std::optional<int64_t> {
    if (o.is_none()) return std::nullopt;
    return o.cast<int64_t>();
  };
  for (const py::handle& h : items) {
    if (h.is_none()) {
      index.emplace_back(rsdat::NewAxis{});
    } else if (py::isinstance<py::slice>(h)) {
      rsdat::Range r;
      r.start = bound(h.attr("start"));
      r.stop = bound(h.attr("stop"));
      py::object step = h.attr("step");
      r.step = step.is_none() ? 1 : step.cast<int64_t>();
      index.emplace_back(r);
    } else {
      index.emplace_back(h.cast<int64_t>());
    }
  }
  return index;
}

}  // namespace

void bind_ops(py::module_& m) {
  // ---- elementwise ----
#define RSDAT_UNARY(name, Tag, code, rule, expr) \
  m.def(#name, [](const Array& a) { return rsdat::name(a); });
#define RSDAT_BINARY(name, Tag, code, rule, expr)                                          \
  m.def(#name, [](const Array& a, const Array& b) { return rsdat::name(a, b); });        \
  m.def("_" #name "_scalar", [](const Array& a, double s, int kind, bool scalar_first) { \
    return rsdat::detail::name##_with_scalar(a, s, static_cast<rsdat::ScalarKind>(kind), scalar_first); \
  });
#include "rsdat/elementwise_ops.def"
  m.def("isin", &rsdat::isin);
  m.def("clip", [](const Array& a, const Array& lo, const Array& hi) { return rsdat::clip(a, lo, hi); });
  m.def("isclose", &rsdat::isclose);
  m.def("nan_to_num", &rsdat::nan_to_num);
  m.def("round", &rsdat::round);
  m.def("where", py::overload_cast<const Array&, const Array&, const Array&>(&rsdat::where));
  m.def("where", py::overload_cast<const Array&, double, const Array&>(&rsdat::where));
  m.def("where", py::overload_cast<const Array&, const Array&, double>(&rsdat::where));
  m.def("broadcast_to", &rsdat::broadcast_to);
  m.def("broadcast_arrays", &rsdat::broadcast_arrays);

  // ---- reductions (methods of Array in C++; functions here) ----
#define RSDAT_REDUCTION_(name)                                                        \
  m.def(#name, [](const Array& a, const Axes& axes, int split_every, bool keepdims) { \
    return a.name(axes, split_every, keepdims);                                       \
  });
#define RSDAT_MONOID(name, Tag, code, partial, identity, step, combine) RSDAT_REDUCTION_(name)
#include "rsdat/reductions.def"
  RSDAT_REDUCTION_(mean)
  RSDAT_REDUCTION_(count_nonzero)
  RSDAT_REDUCTION_(ptp)
  RSDAT_REDUCTION_(nanmean)
#undef RSDAT_REDUCTION_
#define RSDAT_DDOF_REDUCTION_(name)                                                              \
  m.def(#name, [](const Array& a, const Axes& axes, double ddof, int split_every, bool keepdims) { \
    return a.name(axes, ddof, split_every, keepdims);                                            \
  });
  RSDAT_DDOF_REDUCTION_(var)
  RSDAT_DDOF_REDUCTION_(std)
  RSDAT_DDOF_REDUCTION_(nanvar)
  RSDAT_DDOF_REDUCTION_(nanstd)
#undef RSDAT_DDOF_REDUCTION_
#define RSDAT_ARG_REDUCTION_(name)                                                       \
  m.def(#name, [](const Array& a, OptAxis axis, int split_every, bool keepdims) {        \
    return a.name(axis, split_every, keepdims);                                          \
  });
  RSDAT_ARG_REDUCTION_(argmin)
  RSDAT_ARG_REDUCTION_(argmax)
  RSDAT_ARG_REDUCTION_(nanargmin)
  RSDAT_ARG_REDUCTION_(nanargmax)
#undef RSDAT_ARG_REDUCTION_

  // ---- linear algebra ----
  m.def("matmul", &rsdat::matmul);
  m.def("dot", &rsdat::dot);
  m.def("tensordot", py::overload_cast<const Array&, const Array&, int64_t>(&rsdat::tensordot));
  m.def("tensordot", py::overload_cast<const Array&, const Array&, const Axes&, const Axes&>(&rsdat::tensordot));
  m.def("outer", &rsdat::outer);
  m.def("einsum", &rsdat::einsum);

  // ---- indexing and shape ----
  m.def("view", [](const Array& a, const py::list& index) { return rsdat::view(a, index_arg(index)); });
  m.def("take", &rsdat::take);
  m.def("compress_local", [](const std::vector<bool>& cond, const Array& a, OptAxis axis) {
    return rsdat::compress(cond, a, axis);
  });
  m.def(
      "compress",
      [](const Array& cond, const Array& a, OptAxis axis, ClientBox* box) {
        rsdat::Client* c = client_arg(box);
        return run_interruptible(c, [cond, a, axis, c] { return rsdat::compress(cond, a, axis, c); });
      },
      py::arg("condition"), py::arg("a"), py::arg("axis"), py::arg("client").none(true));
  m.def("reshape", &rsdat::reshape);
  m.def("ravel", &rsdat::ravel);
  m.def("expand_dims", py::overload_cast<const Array&, Axes>(&rsdat::expand_dims));
  m.def("squeeze", py::overload_cast<const Array&, std::optional<Axes>>(&rsdat::squeeze));
  m.def("moveaxis", py::overload_cast<const Array&, Axes, Axes>(&rsdat::moveaxis));
  m.def("swapaxes", &rsdat::swapaxes);
  m.def("flip", py::overload_cast<const Array&, std::optional<Axes>>(&rsdat::flip));
  m.def("roll", py::overload_cast<const Array&, int64_t, OptAxis>(&rsdat::roll));
  m.def("roll", py::overload_cast<const Array&, const Axes&, const Axes&>(&rsdat::roll));
  m.def("concatenate", &rsdat::concatenate);
  m.def("stack", &rsdat::stack);
  m.def("pad", &rsdat::pad);

  // ---- kernels the workers load, by name ----
  m.def("map_blocks", [](const std::string& op, const std::vector<Array>& inputs, const std::string& d,
                         const std::string& params) { return rsdat::map_blocks(op, inputs, dtype_arg(d), params); });
  m.def("map_overlap", [](const std::string& op, const Array& a, const std::vector<int64_t>& depth,
                          const std::vector<std::pair<std::string, double>>& boundary, bool trim,
                          std::optional<std::string> d, const std::string& params) {
    std::vector<rsdat::Boundary> b;
    for (const auto& [mode, value] : boundary) {
      b.emplace_back(mode);
      b.back().value = value;
    }
    return rsdat::map_overlap(op, a, depth, b, trim, opt_dtype(d), params);
  });

  // ---- scans and differences ----
  m.def("cumsum", [](const Array& a, OptAxis axis, std::optional<std::string> d) {
    return rsdat::cumsum(a, axis, opt_dtype(d));
  });
  m.def("cumprod", [](const Array& a, OptAxis axis, std::optional<std::string> d) {
    return rsdat::cumprod(a, axis, opt_dtype(d));
  });
  m.def("nancumsum", [](const Array& a, OptAxis axis, std::optional<std::string> d) {
    return rsdat::nancumsum(a, axis, opt_dtype(d));
  });
  m.def("nancumprod", [](const Array& a, OptAxis axis, std::optional<std::string> d) {
    return rsdat::nancumprod(a, axis, opt_dtype(d));
  });
  m.def("cummax", [](const Array& a, OptAxis axis) { return rsdat::cummax(a, axis); });
  m.def("cummin", [](const Array& a, OptAxis axis) { return rsdat::cummin(a, axis); });
  m.def("diff", &rsdat::diff);
  m.def("ediff1d", &rsdat::ediff1d);

  // ---- order statistics ----
  m.def("median", [](const Array& a, const Axes& axes, bool keepdims) { return rsdat::median(a, axes, keepdims); });
  m.def("nanmedian",
        [](const Array& a, const Axes& axes, bool keepdims) { return rsdat::nanmedian(a, axes, keepdims); });
#define RSDAT_QUANTILE_(name)                                                                               \
  m.def(#name, [](const Array& a, double q, const Axes& axes, const std::string& method, bool keepdims) {   \
    return rsdat::name(a, q, axes, method, keepdims);                                                       \
  });                                                                                                       \
  m.def(#name, [](const Array& a, const std::vector<double>& q, const Axes& axes, const std::string& method, \
                  bool keepdims) { return rsdat::name(a, q, axes, method, keepdims); });
  RSDAT_QUANTILE_(quantile)
  RSDAT_QUANTILE_(nanquantile)
  RSDAT_QUANTILE_(percentile)
  RSDAT_QUANTILE_(nanpercentile)
#undef RSDAT_QUANTILE_
  m.def("sort", [](const Array& a, int64_t axis) { return rsdat::sort(a, axis); });
  m.def("argsort", [](const Array& a, int64_t axis) { return rsdat::argsort(a, axis); });
  m.def("topk", &rsdat::topk);
  m.def("argtopk", &rsdat::argtopk);

  // ---- scipy.ndimage's filters ----
  m.def("uniform_filter", py::overload_cast<const Array&, const Axes&, const std::string&, double>(
                              &rsdat::uniform_filter));
  m.def("gaussian_filter", py::overload_cast<const Array&, const std::vector<double>&, const std::string&, double,
                                             double>(&rsdat::gaussian_filter));
  m.def("median_filter", py::overload_cast<const Array&, const Axes&, const std::string&, double>(
                             &rsdat::median_filter));
  m.def("minimum_filter", py::overload_cast<const Array&, const Axes&, const std::string&, double>(
                              &rsdat::minimum_filter));
  m.def("maximum_filter", py::overload_cast<const Array&, const Axes&, const std::string&, double>(
                              &rsdat::maximum_filter));
  m.def("convolve", [](const Array& a, py::array_t<double, py::array::c_style | py::array::forcecast> weights,
                       const std::string& mode, double cval) {
    std::vector<size_t> shape(weights.shape(), weights.shape() + weights.ndim());
    xt::xarray<double> w = xt::xarray<double>::from_shape(shape);
    std::copy(weights.data(), weights.data() + weights.size(), w.data());
    return rsdat::convolve(a, w, mode, cval);
  });

  // ---- coarsen (one reduction of the windows; `stat` names the Coarsen method) ----
  m.def("coarsen", [](const Array& a, const std::vector<std::pair<int64_t, int64_t>>& windows,
                      const std::string& boundary, const std::string& stat, double ddof) {
    rsdat::Coarsen c = rsdat::coarsen(a, windows, boundary);
    if (stat == "sum") return c.sum();
    if (stat == "prod") return c.prod();
    if (stat == "mean") return c.mean();
    if (stat == "min") return c.min();
    if (stat == "max") return c.max();
    if (stat == "var") return c.var(ddof);
    if (stat == "std") return c.std(ddof);
    if (stat == "count") return c.count();
    if (stat == "median") return c.median();
    throw py::value_error("coarsen: no reduction " + stat);
  });

  // ---- rolling windows (xarray's) and grouped reductions (flox's) ----
  m.def("rolling", [](const Array& a, int64_t axis, int64_t window, bool center, std::optional<int64_t> min_periods,
                      const std::string& stat) {
    rsdat::Rolling r = rsdat::rolling(a, axis, window, center, min_periods);
    if (stat == "sum") return r.sum();
    if (stat == "mean") return r.mean();
    if (stat == "min") return r.min();
    if (stat == "max") return r.max();
    if (stat == "std") return r.std();
    if (stat == "var") return r.var();
    if (stat == "count") return r.count();
    if (stat == "median") return r.median();
    throw py::value_error("rolling: no reduction " + stat);
  });
  m.def("groupby_reduce", [](const Array& a, const std::vector<int64_t>& labels, int64_t axis, const std::string& op,
                             std::optional<std::vector<int64_t>> expected_groups, std::optional<double> fill_value,
                             const std::string& method, double ddof, int split_every) {
    rsdat::GroupbyOptions o;
    o.expected_groups = std::move(expected_groups);
    o.fill_value = fill_value;
    o.method = method;
    o.ddof = ddof;
    o.split_every = split_every;
    rsdat::GroupbyResult r = rsdat::groupby_reduce(a, labels, axis, op, o);
    return py::make_tuple(r.values, r.groups, r.method);
  });

  // ---- counting (computed at call where NumPy's result shape needs the values) ----
  m.def(
      "bincount",
      [](const Array& x, std::optional<Array> weights, int64_t minlength, ClientBox* box) {
        rsdat::Client* c = client_arg(box);
        return run_interruptible(c, [x, weights, minlength, c] { return rsdat::bincount(x, weights, minlength, c); });
      },
      py::arg("x"), py::arg("weights").none(true), py::arg("minlength"), py::arg("client").none(true));
  m.def(
      "histogram",
      [](const Array& a, int64_t bins, std::optional<std::pair<double, double>> range, std::optional<Array> weights,
         bool density, ClientBox* box) {
        rsdat::Client* c = client_arg(box);
        auto h = run_interruptible(c, [a, bins, range, weights, density, c] {
          return rsdat::histogram(a, bins, range, {weights, density}, c);
        });
        return std::make_pair(h.counts, h.edges);
      },
      py::arg("a"), py::arg("bins"), py::arg("range"), py::arg("weights").none(true), py::arg("density"),
      py::arg("client").none(true));
  m.def(
      "histogram_edges",
      [](const Array& a, const std::vector<double>& edges, std::optional<Array> weights, bool density) {
        auto h = rsdat::histogram(a, edges, {weights, density});
        return std::make_pair(h.counts, h.edges);
      },
      py::arg("a"), py::arg("edges"), py::arg("weights").none(true), py::arg("density"));
  m.def(
      "unique",
      [](const Array& a, bool return_counts, ClientBox* box) {
        rsdat::Client* c = client_arg(box);
        auto u = run_interruptible(c, [a, return_counts, c] { return rsdat::unique(a, return_counts, c); });
        return std::make_pair(u.values, u.counts);
      },
      py::arg("a"), py::arg("return_counts"), py::arg("client").none(true));
}
