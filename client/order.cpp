// Order statistics (rsdat/order.hpp): quantile and sort tasks that read the whole
// reduced extent of one block of the other axes, and topk trees.
#include "rsdat/order.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "client/array_internal.hpp"

namespace rsdat {

using detail::make_node;
using detail::need;
using detail::Node;

namespace {


// Sizes of `size` split into `parts` pieces as even as they can be.
std::vector<int64_t> split_even(int64_t size, int64_t parts) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < parts; ++i) out.push_back(size / parts + (i < size % parts ? 1 : 0));
  return out;
}

// `a` with the axes not `reduced` cut (chunks split, never merged) so that one block of
// them over the reduced axes' whole extent holds at most `task_bytes`: the leading
// kept axes are split first, keeping rows along the last axes whole where possible.
Array cut_for_order(const Array& a, const std::vector<bool>& reduced, uint64_t task_bytes) {
  const Node& in = need(a.node());
  const size_t nd = in.shape.size();
  double slice = static_cast<double>(dtype_size(in.dtype));
  for (size_t d = 0; d < nd; ++d)
    if (reduced[d]) slice *= static_cast<double>(in.shape[d]);
  const double budget = std::max(1.0, std::floor(static_cast<double>(task_bytes) / std::max(slice, 1.0)));
  Chunks chunks = in.chunks;
  auto largest = [&](size_t d) {
    return chunks[d].empty() ? int64_t{0} : *std::max_element(chunks[d].begin(), chunks[d].end());
  };
  for (size_t d = 0; d < nd; ++d) {
    if (reduced[d]) continue;
    double rest = 1;  // the later kept axes' largest chunks
    for (size_t e = d + 1; e < nd; ++e)
      if (!reduced[e]) rest *= static_cast<double>(std::max<int64_t>(largest(e), 1));
    if (static_cast<double>(largest(d)) * rest <= budget) break;
    const int64_t allowed = static_cast<int64_t>(std::max(1.0, std::floor(budget / rest)));
    std::vector<int64_t> cut;
    for (int64_t c : chunks[d]) {
      const std::vector<int64_t> pieces = split_even(c, std::max<int64_t>(1, (c + allowed - 1) / allowed));
      cut.insert(cut.end(), pieces.begin(), pieces.end());
    }
    chunks[d] = std::move(cut);
    if (budget / rest >= 1) break;
  }
  return chunks == in.chunks ? a : a.rechunk(chunks);
}

// A node reading, per block of the kept axes, all blocks of the reduced ones: the
// dependency pattern of the quantile and sort tasks. `lead` output axes come first;
// kept input axis d is output axis out_axis[d].
DepPattern whole_reduced(const Node& in, const std::vector<bool>& reduced, const std::vector<int32_t>& out_axis,
                         std::vector<int64_t>& counts) {
  const size_t nd = in.shape.size();
  DepPattern p = DepPattern::mapped(0, std::vector<int32_t>(nd, -1));
  counts.clear();
  for (size_t d = 0; d < nd; ++d) {
    if (reduced[d]) {
      p.count[d] = static_cast<uint32_t>(in.chunks[d].size());
      counts.push_back(static_cast<int64_t>(in.chunks[d].size()));
    } else {
      p.axis_map[d] = out_axis[d];
    }
  }
  return p;
}

Array quantile_impl(const Array& a, std::vector<double> q, bool q_list, std::vector<int64_t> axes_in,
                    ops::QuantileMethod method, bool skip_nan, bool keepdims, const OrderOptions& o,
                    const char* name) {
  const Node& in0 = need(a.node());
  const size_t nd = in0.shape.size();
  const std::vector<int64_t> axes = detail::reduction_axes(std::move(axes_in), nd, name);
  std::vector<bool> reduced(nd, false);
  int64_t length = 1;
  for (int64_t ax : axes) {
    reduced[static_cast<size_t>(ax)] = true;
    length *= in0.shape[static_cast<size_t>(ax)];
  }
  if (in0.dtype == DType::kBool &&
      (method == ops::QuantileMethod::kLinear || method == ops::QuantileMethod::kMidpoint)) {
    throw std::invalid_argument(std::string(name) + ": boolean input cannot be interpolated (NumPy cannot subtract booleans)");
  }
  if (length == 0 && method != ops::QuantileMethod::kMedian) {
    throw std::invalid_argument(std::string(name) + ": cannot do a non-empty take from an empty axes");
  }
  const DType dtype = ops::quantile_dtype(method, in0.dtype);
  const bool skip = skip_nan && dtype_is_float(in0.dtype);  // on integers, the plain forms
  const int64_t nq = static_cast<int64_t>(q.size());
  Shape shape;
  Chunks chunks;
  if (q_list) {
    shape.push_back(nq);
    chunks.push_back({nq});
  }
  const Array cut = length == 0 ? a : cut_for_order(a, reduced, o.task_bytes);
  const Node& in = need(cut.node());
  std::vector<int32_t> out_axis(nd, -1);
  for (size_t d = 0; d < nd; ++d) {
    if (!reduced[d]) {
      out_axis[d] = static_cast<int32_t>(shape.size());
      shape.push_back(in.shape[d]);
      chunks.push_back(in.chunks[d]);
    } else if (keepdims) {
      shape.push_back(1);
      chunks.push_back({1});
    }
  }
  if (length == 0) {  // numpy.median of nothing: NaN
    Shape regular;
    for (const auto& c : chunks) regular.push_back(c.empty() ? 1 : std::max<int64_t>(1, c[0]));
    return full(shape, regular, std::numeric_limits<double>::quiet_NaN(), dtype);
  }
  auto n = make_node(name, shape, chunks, dtype);
  n->inputs = {cut.node()};
  ops::QuantileParams params;
  params.method = method;
  params.skip_nan = skip;
  params.q = std::move(q);
  params.axes = axes;
  const DepPattern dep = whole_reduced(in, reduced, out_axis, params.counts);
  const std::string bytes = encode_params(params);
  n->group = [dep, bytes](const Node&, TaskGroup& g) {
    g.op = ops::kQuantile;
    g.deps = {dep};
    g.params = {bytes};
  };
  return Array(n);
}

ops::QuantileMethod method_of(const std::string& method, const char* name) {
  ops::QuantileMethod m;
  if (!ops::quantile_method_from_name(method, m)) {
    throw std::invalid_argument(std::string(name) + ": '" + method +
                                "' is not a valid method. Use one of: linear, lower, higher, nearest, midpoint");
  }
  return m;
}

std::vector<double> checked_q(std::vector<double> q, double scale, const char* name) {
  for (double& v : q) {
    if (scale != 1) v = v / scale;  // NumPy's true_divide(q, 100)
    if (!(v >= 0 && v <= 1)) {
      throw std::invalid_argument(std::string(name) + (scale == 1 ? ": Quantiles must be in the range [0, 1]"
                                                                  : ": Percentiles must be in the range [0, 100]"));
    }
  }
  if (q.empty()) throw std::invalid_argument(std::string(name) + ": no quantiles given");
  return q;
}

Array sort_impl(const Array& a, int64_t axis_in, bool arg, const OrderOptions& o, const char* name) {
  const Node& in0 = need(a.node());
  const size_t nd = in0.shape.size();
  if (nd == 0) throw std::invalid_argument(std::string(name) + ": a 0-d array has no axis to sort");
  const int64_t axis = detail::reduction_axes({axis_in}, nd, name)[0];
  std::vector<bool> reduced(nd, false);
  reduced[static_cast<size_t>(axis)] = true;
  const DType dtype = arg ? DType::kInt64 : in0.dtype;
  if (in0.shape[static_cast<size_t>(axis)] == 0) return arg ? a.astype(DType::kInt64) : a;
  const Array cut = cut_for_order(a, reduced, o.task_bytes);
  const Node& in = need(cut.node());
  Chunks chunks = in.chunks;
  chunks[static_cast<size_t>(axis)] = {in.shape[static_cast<size_t>(axis)]};
  std::vector<int32_t> out_axis(nd);
  std::iota(out_axis.begin(), out_axis.end(), 0);
  auto n = make_node(name, in.shape, chunks, dtype);
  n->inputs = {cut.node()};
  std::vector<int64_t> counts;
  const DepPattern dep = whole_reduced(in, reduced, out_axis, counts);
  const std::string bytes = encode_params(ops::SortParams{arg, axis, counts[0]});
  n->group = [dep, bytes](const Node&, TaskGroup& g) {
    g.op = ops::kSort;
    g.deps = {dep};
    g.params = {bytes};
  };
  return Array(n);
}

// dask's topk tree along `axis`: each level keeps the |k| best of `split_every` blocks
// of the level below. For argtopk the levels below the last carry (key, index) pairs
// as int64 partials with a leading axis of 2.
Array topk_impl(const Array& a, int64_t k, int64_t axis_in, int split_every, bool arg, const char* name) {
  const Node& in = need(a.node());
  const size_t nd = in.shape.size();
  if (nd == 0) throw std::invalid_argument(std::string(name) + ": a 0-d array has no axis");
  const int64_t axis = detail::reduction_axes({axis_in}, nd, name)[0];
  const size_t ax = static_cast<size_t>(axis);
  if (split_every < 2) throw std::invalid_argument(std::string(name) + ": split_every must be at least 2");
  if (k == 0) throw std::invalid_argument(std::string(name) + ": k must not be 0");
  if (std::abs(k) > in.shape[ax]) {
    throw std::invalid_argument(std::string(name) + ": |k| = " + std::to_string(std::abs(k)) +
                                " is larger than the axis's length " + std::to_string(in.shape[ax]));
  }
  const int64_t kk = std::abs(k);
  const int64_t m = split_every;
  detail::NodePtr level = a.node();
  bool from_partials = false;
  std::vector<int64_t> lengths = in.chunks[ax];
  while (true) {
    const int64_t nb = static_cast<int64_t>(lengths.size());
    const int64_t groups = (nb + m - 1) / m;
    const bool last = groups == 1;
    std::vector<int64_t> next, index_base;
    int64_t offset = 0;
    for (int64_t g = 0; g < groups; ++g) {
      int64_t total = 0;
      for (int64_t b = g * m; b < std::min(nb, (g + 1) * m); ++b) total += lengths[static_cast<size_t>(b)];
      next.push_back(std::min(kk, total));
      index_base.push_back(offset);
      offset += total;
    }
    const bool lead_out = arg && !last;
    Shape shape = in.shape;
    Chunks chunks = in.chunks;
    shape[ax] = std::accumulate(next.begin(), next.end(), int64_t{0});
    chunks[ax] = next;
    if (lead_out) {
      shape.insert(shape.begin(), 2);
      chunks.insert(chunks.begin(), {2});
    }
    const DType dtype = arg ? DType::kInt64 : in.dtype;
    auto n = make_node(last ? std::string(name) : std::string(name) + "-partial", shape, chunks, dtype);
    n->inputs = {level};
    // The level below's axes: a leading 2 when it holds partials.
    const size_t lead_in = from_partials ? 1 : 0, lead = lead_out ? 1 : 0;
    DepPattern dep = DepPattern::mapped(0, std::vector<int32_t>(nd + lead_in, -1));
    if (lead_in && lead) dep.axis_map[0] = 0;
    for (size_t d = 0; d < nd; ++d) dep.axis_map[d + lead_in] = static_cast<int32_t>(d + lead);
    dep.stride[ax + lead_in] = m;
    dep.count[ax + lead_in] = static_cast<uint32_t>(m);
    ops::TopkParams base;
    base.k = k;
    base.axis = axis;
    base.arg = arg;
    base.from_partials = from_partials;
    base.final = last;
    const int64_t out_ax = static_cast<int64_t>(ax + lead);
    const bool per_group = arg && !from_partials && groups > 1;
    n->group = [dep, base, index_base, lengths, m, nb, out_ax, per_group](const Node& self, TaskGroup& g) {
      g.op = ops::kTopk;
      g.deps = {dep};
      // Blocks in a group (the last group may have fewer), and the first one's index.
      const int64_t groups = static_cast<int64_t>(index_base.size());
      for (int64_t i = 0; i < groups; ++i) {
        ops::TopkParams p = base;
        p.count = std::min(m, nb - i * m);
        p.index_base = per_group ? index_base[static_cast<size_t>(i)] : 0;
        g.params.push_back(encode_params(p));
      }
      if (groups == 1) return;
      const int64_t tasks = detail::num_blocks(self.chunks);
      g.params_index.resize(static_cast<size_t>(tasks));
      for (int64_t t = 0; t < tasks; ++t) {
        const auto b = detail::unravel_block(self.chunks, static_cast<uint64_t>(t));
        g.params_index[static_cast<size_t>(t)] = static_cast<uint32_t>(b[static_cast<size_t>(out_ax)]);
      }
    };
    level = n;
    if (last) return Array(level);
    lengths = next;
    from_partials = arg;  // topk's partials are values, read as the input was
  }
}

}  // namespace

Array median(const Array& a, std::vector<int64_t> axes, bool keepdims, const OrderOptions& o) {
  return quantile_impl(a, {0.5}, false, std::move(axes), ops::QuantileMethod::kMedian, false, keepdims, o, "median");
}
Array nanmedian(const Array& a, std::vector<int64_t> axes, bool keepdims, const OrderOptions& o) {
  return quantile_impl(a, {0.5}, false, std::move(axes), ops::QuantileMethod::kMedian, true, keepdims, o, "nanmedian");
}

#define RSDAT_QUANTILE_(fn, scale, skip)                                                                         \
  Array fn(const Array& a, double q, std::vector<int64_t> axes, const std::string& method, bool keepdims,         \
           const OrderOptions& o) {                                                                              \
    return quantile_impl(a, checked_q({q}, scale, #fn), false, std::move(axes), method_of(method, #fn), skip,    \
                         keepdims, o, #fn);                                                                      \
  }                                                                                                              \
  Array fn(const Array& a, const std::vector<double>& q, std::vector<int64_t> axes, const std::string& method,    \
           bool keepdims, const OrderOptions& o) {                                                               \
    return quantile_impl(a, checked_q(q, scale, #fn), true, std::move(axes), method_of(method, #fn), skip,       \
                         keepdims, o, #fn);                                                                      \
  }
RSDAT_QUANTILE_(quantile, 1, false)
RSDAT_QUANTILE_(nanquantile, 1, true)
RSDAT_QUANTILE_(percentile, 100, false)
RSDAT_QUANTILE_(nanpercentile, 100, true)
#undef RSDAT_QUANTILE_

Array sort(const Array& a, int64_t axis, const OrderOptions& o) { return sort_impl(a, axis, false, o, "sort"); }
Array argsort(const Array& a, int64_t axis, const OrderOptions& o) { return sort_impl(a, axis, true, o, "argsort"); }

Array topk(const Array& a, int64_t k, int64_t axis, int split_every) {
  return topk_impl(a, k, axis, split_every, false, "topk");
}
Array argtopk(const Array& a, int64_t k, int64_t axis, int split_every) {
  return topk_impl(a, k, axis, split_every, true, "argtopk");
}

}  // namespace rsdat
