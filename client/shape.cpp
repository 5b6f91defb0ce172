// Indexing and shape (rsdat/shape.hpp): every function here is one of three kinds of
// node. A gather node picks elements along each axis independently (views, take, flip,
// roll, pad); an alias node gives each of its blocks one input block under another
// shape (reshape, expand_dims, squeeze, concatenate, stack); transposes move axes.
#include "rsdat/shape.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <stdexcept>

#include "client/array_internal.hpp"
#include "client/client_internal.hpp"

namespace rsdat {

namespace detail {
int64_t pad_source(int64_t v, int64_t n, const std::string& mode) {
  if (v >= 0 && v < n) return v;
  if (mode == "constant") return -1;
  if (mode == "edge") return v < 0 ? 0 : n - 1;
  if (mode == "wrap") return ((v % n) + n) % n;
  if (mode == "reflect") {
    if (n == 1) return 0;
    const int64_t period = 2 * (n - 1);
    const int64_t r = ((v % period) + period) % period;
    return r < n ? r : period - r;
  }
  // symmetric
  const int64_t period = 2 * n;
  const int64_t r = ((v % period) + period) % period;
  return r < n ? r : period - 1 - r;
}
}  // namespace detail

using detail::BlockIndex;
using detail::make_node;
using detail::need;
using detail::Node;
using detail::NodePtr;
using ops::GatherRun;

namespace {

std::string shapes_text(const std::vector<Array>& arrays) {
  std::string s;
  for (const Array& a : arrays) s += (s.empty() ? "" : " and ") + shape_to_string(a.shape());
  return s;
}

// `axis` counted from the front, for an array of `ndim` dims; throws naming `op`.
int64_t normalize_axis(int64_t axis, size_t ndim, const char* op) {
  const auto nd = static_cast<int64_t>(ndim);
  if (axis < -nd || axis >= nd) {
    throw std::invalid_argument(std::string(op) + ": axis " + std::to_string(axis) + " is out of bounds for an array of " +
                                std::to_string(nd) + " dims");
  }
  return axis < 0 ? axis + nd : axis;
}

std::vector<int64_t> normalize_axes(std::vector<int64_t> axes, size_t ndim, const char* op) {
  for (auto& ax : axes) ax = normalize_axis(ax, ndim, op);
  std::vector<int64_t> sorted = axes;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    throw std::invalid_argument(std::string(op) + ": repeated axis");
  }
  return axes;
}

std::vector<int64_t> boundaries(const std::vector<int64_t>& chunks) {
  std::vector<int64_t> b{0};
  for (int64_t c : chunks) b.push_back(b.back() + c);
  return b;
}

// ---- gather nodes -------------------------------------------------------------

// Calls f(block, count) for the pieces of run `r` that each lie in one input block, in
// order; block -1 for a run of the fill value. `bounds` are the blocks' boundaries.
template <typename F>
void for_each_piece(const GatherRun& r, const std::vector<int64_t>& bounds, F&& f) {
  if (r.count <= 0) return;
  if (r.first < 0) {
    f(int64_t{-1}, r.count);
    return;
  }
  int64_t idx = r.first, left = r.count;
  while (left > 0) {
    const int64_t j = std::upper_bound(bounds.begin(), bounds.end(), idx) - bounds.begin() - 1;
    int64_t n = left;
    if (r.step > 0) n = (bounds[j + 1] - idx + r.step - 1) / r.step;
    if (r.step < 0) n = (idx - bounds[j]) / -r.step + 1;
    n = std::min(n, left);
    f(j, n);
    idx += n * r.step;
    left -= n;
  }
}

// The runs at output positions [lo, hi).
std::vector<GatherRun> clip_runs(const std::vector<GatherRun>& runs, int64_t lo, int64_t hi) {
  std::vector<GatherRun> out;
  int64_t pos = 0;
  for (const GatherRun& r : runs) {
    const int64_t a = std::max(lo, pos), b = std::min(hi, pos + r.count);
    if (a < b) out.push_back({r.first < 0 ? -1 : r.first + (a - pos) * r.step, r.first < 0 ? 0 : r.step, b - a});
    pos += r.count;
  }
  return out;
}

int64_t runs_length(const std::vector<GatherRun>& runs) {
  int64_t n = 0;
  for (const GatherRun& r : runs) n += r.count;
  return n;
}

// The output's chunks along an axis read by `runs` from an axis chunked `in_chunks`:
// pieces within one input block, joined while no larger than the largest input chunk
// (and longer pieces, repeats or padding, cut to that size).
std::vector<int64_t> gather_chunks(const std::vector<GatherRun>& runs, const std::vector<int64_t>& in_chunks) {
  const int64_t target = std::max<int64_t>(1, *std::max_element(in_chunks.begin(), in_chunks.end()));
  const std::vector<int64_t> bounds = boundaries(in_chunks);
  std::vector<int64_t> out;
  int64_t cur = 0;
  for (const GatherRun& r : runs) {
    for_each_piece(r, bounds, [&](int64_t, int64_t n) {
      while (n > 0) {
        const int64_t take = std::min(n, target);
        if (cur + take > target) {
          out.push_back(cur);
          cur = 0;
        }
        cur += take;
        n -= take;
      }
    });
  }
  if (cur > 0 || out.empty()) out.push_back(cur);
  return out;
}

// What a gather node reads along each axis of its input, and how its axes are laid out:
// per output axis, the input axis it is (-1: a new axis of size 1). Input axes not laid
// out are read at one index and dropped.
struct GatherSpec {
  std::vector<std::vector<GatherRun>> runs;  // per input axis
  std::vector<int32_t> out_axes;
  double fill = 0;
};

Array gather(const Array& a, GatherSpec spec, const char* name) {
  const Node& in = need(a.node());
  const size_t nd = in.shape.size();
  Shape shape;
  Chunks chunks;
  for (int32_t ax : spec.out_axes) {
    if (ax < 0) {
      shape.push_back(1);
      chunks.push_back({1});
      continue;
    }
    shape.push_back(runs_length(spec.runs[ax]));
    chunks.push_back(gather_chunks(spec.runs[ax], in.chunks[ax]));
  }
  // Nothing picked or moved: the input itself.
  bool identity = spec.out_axes.size() == nd;
  for (size_t d = 0; identity && d < nd; ++d) {
    identity = spec.out_axes[d] == static_cast<int32_t>(d) && spec.runs[d].size() == 1 && spec.runs[d][0].first == 0 &&
               spec.runs[d][0].step == 1 && spec.runs[d][0].count == in.shape[d];
  }
  if (identity || (nd == 0 && spec.out_axes.empty())) return a;
  auto n = make_node(name, shape, chunks, in.dtype);
  n->inputs = {a.node()};
  std::vector<std::vector<int64_t>> bounds(nd);
  for (size_t d = 0; d < nd; ++d) bounds[d] = boundaries(in.chunks[d]);
  n->lower = [spec = std::move(spec), bounds](const Node& self, const BlockIndex& b, TaskSpec& t) {
    const Node& src = *self.inputs[0];
    const size_t nd = src.shape.size();
    const Shape off = detail::block_offset(self.chunks, b), shp = detail::block_shape(self.chunks, b);
    ops::GatherParams p;
    p.fill = spec.fill;
    p.runs.resize(nd);
    for (size_t d = 0; d < nd; ++d) p.runs[d] = {{0, 1, 1}};
    std::vector<int64_t> first_out(nd, 0), count_out(nd, 1);
    for (size_t k = 0; k < spec.out_axes.size(); ++k) {
      if (spec.out_axes[k] < 0) continue;
      first_out[spec.out_axes[k]] = off[k];
      count_out[spec.out_axes[k]] = shp[k];
    }
    // Per input axis: this block's runs, and the input blocks they touch.
    std::vector<std::vector<int64_t>> touched(nd);
    bool all_fill = shape_size(shp) == 0;
    for (size_t d = 0; d < nd; ++d) {
      p.runs[d] = clip_runs(spec.runs[d], first_out[d], first_out[d] + count_out[d]);
      for (const GatherRun& r : p.runs[d]) {
        for_each_piece(r, bounds[d], [&](int64_t j, int64_t) {
          if (j >= 0) touched[d].push_back(j);
        });
      }
      std::sort(touched[d].begin(), touched[d].end());
      touched[d].erase(std::unique(touched[d].begin(), touched[d].end()), touched[d].end());
      if (touched[d].empty()) all_fill = true;
    }
    if (all_fill) {
      t.op = ops::kFill;
      t.params = ops::fill_params(spec.fill);
      return;
    }
    // One whole input block, in order: that block under this block's shape.
    bool whole = true;
    for (size_t d = 0; whole && d < nd; ++d) {
      const int64_t j = touched[d][0];
      whole = touched[d].size() == 1 && p.runs[d].size() == 1 && p.runs[d][0].first == bounds[d][j] &&
              (p.runs[d][0].step == 1 || p.runs[d][0].count == 1) && p.runs[d][0].count == bounds[d][j + 1] - bounds[d][j];
    }
    BlockIndex cur(nd, 0);
    std::vector<size_t> pos(nd, 0);
    while (true) {
      for (size_t d = 0; d < nd; ++d) cur[d] = touched[d][pos[d]];
      t.deps.push_back(detail::key_of(src, cur));
      size_t k = nd;
      while (k-- > 0) {
        if (++pos[k] < touched[k].size()) break;
        pos[k] = 0;
      }
      if (k == static_cast<size_t>(-1)) break;
    }
    if (whole) {
      t.op = ops::kReshape;
      return;
    }
    p.block_offsets.resize(nd);
    for (size_t d = 0; d < nd; ++d)
      for (int64_t j : touched[d]) p.block_offsets[d].push_back(bounds[d][j]);
    t.op = ops::kGather;
    t.params = encode_params(p);
  };
  return Array(n);
}

// A spec that takes every axis whole, in order.
GatherSpec whole_spec(const Shape& shape) {
  GatherSpec s;
  for (size_t d = 0; d < shape.size(); ++d) {
    s.runs.push_back({{0, 1, shape[d]}});
    s.out_axes.push_back(static_cast<int32_t>(d));
  }
  return s;
}

// An index list (-1: the fill value) as runs of equal steps.
std::vector<GatherRun> runs_of(const std::vector<int64_t>& idx) {
  std::vector<GatherRun> runs;
  for (size_t i = 0; i < idx.size();) {
    const bool fill = idx[i] < 0;
    GatherRun r{fill ? -1 : idx[i], fill ? 0 : 1, 1};
    if (i + 1 < idx.size() && (idx[i + 1] < 0) == fill) {
      const int64_t step = idx[i + 1] - idx[i];
      size_t j = i + 1;
      while (j < idx.size() && (idx[j] < 0) == fill && idx[j] - idx[j - 1] == step) ++j;
      r.count = static_cast<int64_t>(j - i);
      if (!fill) r.step = step;
    }
    runs.push_back(r);
    i += static_cast<size_t>(r.count);
  }
  return runs;
}

// ---- alias nodes ----------------------------------------------------------------

// A node of `shape` and `chunks` whose block i is block i of `a` (same C order of
// elements, as many blocks): for reshapes whose grids correspond.
Array alias(const Array& a, const Shape& shape, const Chunks& chunks, const char* name) {
  const Node& in = need(a.node());
  if (detail::num_blocks(chunks) != detail::num_blocks(in.chunks)) {
    throw std::logic_error(std::string(name) + ": block grids do not correspond");
  }
  auto n = make_node(name, shape, chunks, in.dtype);
  n->inputs = {a.node()};
  n->lower = [](const Node& self, const BlockIndex& b, TaskSpec& t) {
    const Node& src = *self.inputs[0];
    t.op = ops::kReshape;
    t.deps.push_back({src.token, detail::linear_block(self.chunks, b)});
  };
  return Array(n);
}

}  // namespace

// ---- view -------------------------------------------------------------------

Array view(const Array& a, const std::vector<Index>& index) {
  const Node& in = need(a.node());
  const size_t nd = in.shape.size();
  size_t used = 0;
  for (const Index& i : index) used += std::holds_alternative<NewAxis>(i) ? 0 : 1;
  if (used > nd) {
    throw std::invalid_argument("view: " + std::to_string(used) + " indices for an array of shape " +
                                shape_to_string(in.shape));
  }
  GatherSpec spec;
  spec.runs.resize(nd);
  size_t d = 0;
  auto take_axis = [&](const Index& i) {
    if (std::holds_alternative<NewAxis>(i)) {
      spec.out_axes.push_back(-1);
      return;
    }
    const int64_t n = in.shape[d];
    if (const auto* k = std::get_if<int64_t>(&i)) {
      if (*k < -n || *k >= n) {
        throw std::out_of_range("view: index " + std::to_string(*k) + " is out of bounds for axis " + std::to_string(d) +
                                " with size " + std::to_string(n));
      }
      spec.runs[d] = {{*k < 0 ? *k + n : *k, 1, 1}};
    } else if (const auto* r = std::get_if<Range>(&i)) {
      // As PySlice_AdjustIndices.
      const int64_t step = r->step;
      if (step == 0) throw std::invalid_argument("view: range step cannot be zero");
      auto bound = [&](std::optional<int64_t> v, bool is_start) {
        if (!v) return step < 0 ? (is_start ? n - 1 : -1) : (is_start ? 0 : n);
        int64_t x = *v;
        if (x < 0) {
          x += n;
          if (x < 0) x = step < 0 ? -1 : 0;
        } else if (x >= n) {
          x = step < 0 ? n - 1 : n;
        }
        return x;
      };
      const int64_t start = bound(r->start, true), stop = bound(r->stop, false);
      int64_t count = 0;
      if (step > 0 && stop > start) count = (stop - start - 1) / step + 1;
      if (step < 0 && start > stop) count = (start - stop - 1) / -step + 1;
      spec.runs[d] = {{start, count > 1 ? step : 1, count}};
      spec.out_axes.push_back(static_cast<int32_t>(d));
    } else {
      spec.runs[d] = {{0, 1, n}};
      spec.out_axes.push_back(static_cast<int32_t>(d));
    }
    ++d;
  };
  for (const Index& i : index) take_axis(i);
  while (d < nd) take_axis(All{});
  detail::GridPtr grid;
  if (in.grid) {
    std::vector<int64_t> start(nd), step(nd), count(nd);
    for (size_t k = 0; k < nd; ++k) {
      start[k] = spec.runs[k][0].first;
      step[k] = spec.runs[k][0].step;
      count[k] = spec.runs[k][0].count;
    }
    grid = detail::view_grid(in, spec.out_axes, start, step, count);
  }
  return detail::with_grid(gather(a, std::move(spec), "view"), grid, a.node());
}

// ---- picking elements ---------------------------------------------------------

Array take(const Array& a, const std::vector<int64_t>& indices, std::optional<int64_t> axis) {
  if (!axis) return take(ravel(a), indices, 0);
  const Node& in = need(a.node());
  const int64_t ax = normalize_axis(*axis, in.shape.size(), "take");
  const int64_t n = in.shape[ax];
  std::vector<int64_t> idx = indices;
  for (int64_t& i : idx) {
    if (i < -n || i >= n) {
      throw std::out_of_range("take: index " + std::to_string(i) + " is out of bounds for axis " + std::to_string(ax) +
                              " with size " + std::to_string(n));
    }
    if (i < 0) i += n;
  }
  GatherSpec spec = whole_spec(in.shape);
  spec.runs[ax] = runs_of(idx);
  return gather(a, std::move(spec), "take");
}

Array compress(const std::vector<bool>& condition, const Array& a, std::optional<int64_t> axis) {
  if (!axis) return compress(condition, ravel(a), 0);
  const Node& in = need(a.node());
  const int64_t ax = normalize_axis(*axis, in.shape.size(), "compress");
  std::vector<int64_t> idx;
  for (size_t i = 0; i < condition.size(); ++i) {
    if (!condition[i]) continue;
    if (static_cast<int64_t>(i) >= in.shape[ax]) {
      throw std::out_of_range("compress: condition is true at " + std::to_string(i) + ", out of bounds for axis " +
                              std::to_string(ax) + " with size " + std::to_string(in.shape[ax]));
    }
    idx.push_back(static_cast<int64_t>(i));
  }
  return take(a, idx, ax);
}

Array compress(const Array& condition, const Array& a, std::optional<int64_t> axis, Client* client) {
  const Node& c = need(condition.node());
  if (c.shape.size() != 1) {
    throw std::invalid_argument("compress: the condition must be 1-d, got shape " + shape_to_string(c.shape));
  }
  xt::xarray<bool> values = condition.compute<bool>(client);
  return compress(std::vector<bool>(values.begin(), values.end()), a, axis);
}

// ---- shape ------------------------------------------------------------------------

namespace {

// Chunks of `n` elements in pieces of `size`.
std::vector<int64_t> regular(int64_t n, int64_t size) { return detail::regular_chunks({n}, {size})[0]; }

// The input's chunks for a reshape to `out` that maps blocks one to one, and the
// output's chunks (dask's reshape_rechunk). Groups of axes whose sizes multiply to the
// same are matched from the end: one axis to one keeps its chunks; several merged into
// one keep the first one's chunks (the others whole, the first's shrunk so blocks stay
// the size they were); one split into several has chunks that are multiples of the
// split's inner size; several to several are whole.
std::pair<Chunks, Chunks> reshape_chunks(const Shape& in, const Chunks& in_chunks, const Shape& out) {
  Chunks ic(in.size()), oc(out.size());
  auto ii = static_cast<int64_t>(in.size()) - 1, oi = static_cast<int64_t>(out.size()) - 1;
  auto largest = [](const std::vector<int64_t>& c) { return *std::max_element(c.begin(), c.end()); };
  while (ii >= 0 || oi >= 0) {
    if (ii >= 0 && in[ii] == 1 && (oi < 0 || out[oi] != 1)) {
      ic[ii--] = {1};
      continue;
    }
    if (oi >= 0 && out[oi] == 1 && (ii < 0 || in[ii] != 1)) {
      oc[oi--] = {1};
      continue;
    }
    int64_t il = ii, ol = oi, pin = in[ii], pout = out[oi];
    while (pin != pout) {
      if (pin < pout) {
        pin *= in[--il];
      } else {
        pout *= out[--ol];
      }
    }
    if (il == ii && ol == oi) {
      ic[ii] = in_chunks[ii];
      oc[oi] = in_chunks[ii];
    } else if (ol == oi) {
      int64_t rest = 1, block = largest(in_chunks[il]);
      for (int64_t i = il + 1; i <= ii; ++i) {
        ic[i] = {in[i]};
        rest *= in[i];
        block *= largest(in_chunks[i]);
      }
      const int64_t first = std::max<int64_t>(1, block / rest);
      ic[il] = largest(in_chunks[il]) <= first ? in_chunks[il] : regular(in[il], first);
      for (int64_t c : ic[il]) oc[oi].push_back(c * rest);
    } else if (il == ii) {
      int64_t inner = 1;
      for (int64_t o = ol + 1; o <= oi; ++o) {
        oc[o] = {out[o]};
        inner *= out[o];
      }
      const bool multiples = std::all_of(in_chunks[ii].begin(), in_chunks[ii].end(),
                                         [inner](int64_t c) { return c % inner == 0; });
      ic[ii] = multiples ? in_chunks[ii] : regular(in[ii], std::max<int64_t>(1, largest(in_chunks[ii]) / inner) * inner);
      for (int64_t c : ic[ii]) oc[ol].push_back(c / inner);
    } else {
      for (int64_t i = il; i <= ii; ++i) ic[i] = {in[i]};
      for (int64_t o = ol; o <= oi; ++o) oc[o] = {out[o]};
    }
    ii = il - 1;
    oi = ol - 1;
  }
  return {ic, oc};
}

}  // namespace

Array reshape(const Array& a, Shape shape) {
  const Node& in = need(a.node());
  const int64_t size = shape_size(in.shape);
  int64_t known = 1, unknown = -1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1 && unknown < 0) {
      unknown = static_cast<int64_t>(d);
    } else if (shape[d] < 0) {
      throw std::invalid_argument("reshape: can only specify one unknown dimension, and no other negative ones, got " +
                                  shape_to_string(shape));
    } else {
      known *= shape[d];
    }
  }
  if (unknown >= 0 && known != 0 && size % known == 0) shape[unknown] = size / known;
  if ((unknown >= 0 && (known == 0 || size % known != 0)) || shape_size(shape) != size) {
    throw std::invalid_argument("reshape: cannot reshape an array of size " + std::to_string(size) + " into shape " +
                                shape_to_string(shape));
  }
  if (shape == in.shape) return a;
  if (size == 0) return full(shape, Shape(shape.size(), -1), 0.0, in.dtype);
  auto [ic, oc] = reshape_chunks(in.shape, in.chunks, shape);
  return alias(a.rechunk(ic), shape, oc, "reshape");
}

Array ravel(const Array& a) { return reshape(a, {-1}); }

Array expand_dims(const Array& a, std::vector<int64_t> axes) {
  const Node& in = need(a.node());
  const size_t nd = in.shape.size() + axes.size();
  axes = normalize_axes(axes, nd, "expand_dims");
  Shape shape;
  Chunks chunks;
  size_t next = 0;
  for (size_t d = 0; d < nd; ++d) {
    if (std::find(axes.begin(), axes.end(), static_cast<int64_t>(d)) != axes.end()) {
      shape.push_back(1);
      chunks.push_back({1});
    } else {
      shape.push_back(in.shape[next]);
      chunks.push_back(in.chunks[next++]);
    }
  }
  const bool keeps_yx = std::none_of(axes.begin(), axes.end(), [&](int64_t ax) { return ax + 2 >= static_cast<int64_t>(nd); });
  return detail::with_grid(alias(a, shape, chunks, "expand_dims"), keeps_yx ? in.grid : nullptr, a.node());
}

Array squeeze(const Array& a, std::optional<std::vector<int64_t>> axes) {
  const Node& in = need(a.node());
  std::vector<int64_t> drop;
  if (axes) {
    drop = normalize_axes(*axes, in.shape.size(), "squeeze");
    for (int64_t ax : drop) {
      if (in.shape[ax] != 1) {
        throw std::invalid_argument("squeeze: cannot select an axis to squeeze out which has size not equal to one (axis " +
                                    std::to_string(ax) + " of shape " + shape_to_string(in.shape) + ")");
      }
    }
  } else {
    for (size_t d = 0; d < in.shape.size(); ++d)
      if (in.shape[d] == 1) drop.push_back(static_cast<int64_t>(d));
  }
  if (drop.empty()) return a;
  Shape shape;
  Chunks chunks;
  for (size_t d = 0; d < in.shape.size(); ++d) {
    if (std::find(drop.begin(), drop.end(), static_cast<int64_t>(d)) != drop.end()) continue;
    shape.push_back(in.shape[d]);
    chunks.push_back(in.chunks[d]);
  }
  return alias(a, shape, chunks, "squeeze");
}

Array moveaxis(const Array& a, std::vector<int64_t> source, std::vector<int64_t> destination) {
  const size_t nd = a.ndim();
  if (source.size() != destination.size()) {
    throw std::invalid_argument("moveaxis: source and destination must have the same number of elements");
  }
  source = normalize_axes(source, nd, "moveaxis");
  destination = normalize_axes(destination, nd, "moveaxis");
  std::vector<int64_t> order;
  for (size_t d = 0; d < nd; ++d)
    if (std::find(source.begin(), source.end(), static_cast<int64_t>(d)) == source.end()) order.push_back(static_cast<int64_t>(d));
  std::vector<std::pair<int64_t, int64_t>> moves;
  for (size_t i = 0; i < source.size(); ++i) moves.push_back({destination[i], source[i]});
  std::sort(moves.begin(), moves.end());
  for (const auto& m : moves) order.insert(order.begin() + m.first, m.second);
  return a.transpose(order);
}

Array swapaxes(const Array& a, int64_t axis1, int64_t axis2) {
  const size_t nd = a.ndim();
  axis1 = normalize_axis(axis1, nd, "swapaxes");
  axis2 = normalize_axis(axis2, nd, "swapaxes");
  std::vector<int64_t> order(nd);
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[axis1], order[axis2]);
  return a.transpose(order);
}

Array flip(const Array& a, std::optional<std::vector<int64_t>> axes) {
  const Node& in = need(a.node());
  std::vector<int64_t> flipped;
  if (axes) {
    flipped = normalize_axes(*axes, in.shape.size(), "flip");
  } else {
    for (size_t d = 0; d < in.shape.size(); ++d) flipped.push_back(static_cast<int64_t>(d));
  }
  GatherSpec spec = whole_spec(in.shape);
  for (int64_t ax : flipped) {
    const int64_t n = in.shape[ax];
    spec.runs[ax] = {{n - 1, n > 1 ? -1 : 1, n}};
  }
  return gather(a, std::move(spec), "flip");
}

Array roll(const Array& a, const std::vector<int64_t>& shifts, const std::vector<int64_t>& axes) {
  const Node& in = need(a.node());
  if (shifts.size() != axes.size()) throw std::invalid_argument("roll: shifts and axes must have the same length");
  GatherSpec spec = whole_spec(in.shape);
  std::vector<int64_t> total(in.shape.size(), 0);
  for (size_t i = 0; i < axes.size(); ++i) total[normalize_axis(axes[i], in.shape.size(), "roll")] += shifts[i];
  for (size_t d = 0; d < total.size(); ++d) {
    const int64_t n = in.shape[d];
    if (n == 0) continue;
    const int64_t s = ((total[d] % n) + n) % n;
    if (s == 0) continue;
    spec.runs[d] = {{n - s, 1, s}, {0, 1, n - s}};
  }
  return gather(a, std::move(spec), "roll");
}

Array roll(const Array& a, int64_t shift, std::optional<int64_t> axis) {
  if (!axis) return reshape(roll(ravel(a), shift, 0), a.shape());
  return roll(a, std::vector<int64_t>{shift}, std::vector<int64_t>{*axis});
}

// ---- joining and padding -------------------------------------------------------------

Array concatenate(const std::vector<Array>& arrays, int64_t axis) {
  if (arrays.empty()) throw std::invalid_argument("concatenate: needs at least one array");
  const Node& first = need(arrays[0].node());
  if (first.shape.empty()) throw std::invalid_argument("concatenate: zero-dimensional arrays cannot be concatenated");
  const size_t nd = first.shape.size();
  const int64_t ax = normalize_axis(axis, nd, "concatenate");
  DType dtype = first.dtype;
  Shape shape = first.shape;
  shape[ax] = 0;
  for (const Array& x : arrays) {
    const Node& n = need(x.node());
    bool fits = n.shape.size() == nd;
    for (size_t d = 0; fits && d < nd; ++d) fits = static_cast<int64_t>(d) == ax || n.shape[d] == first.shape[d];
    if (!fits) {
      throw std::invalid_argument("concatenate: shapes " + shapes_text(arrays) + " differ other than along axis " +
                                  std::to_string(ax));
    }
    dtype = promote(dtype, n.dtype);
    shape[ax] += n.shape[ax];
  }
  // Each array in the common dtype and on the first's chunks across the axis.
  std::vector<Array> parts;
  Chunks chunks = first.chunks;
  chunks[ax].clear();
  std::vector<std::pair<size_t, int64_t>> source;  // per output block along axis: (part, its block)
  for (const Array& x : arrays) {
    Chunks target = first.chunks;
    target[ax] = x.chunks()[ax];
    Array part = x.astype(dtype).rechunk(target);
    if (part.shape()[ax] == 0) continue;
    for (size_t j = 0; j < target[ax].size(); ++j) {
      chunks[ax].push_back(target[ax][j]);
      source.push_back({parts.size(), static_cast<int64_t>(j)});
    }
    parts.push_back(part);
  }
  if (parts.empty()) return full(shape, Shape(nd, -1), 0.0, dtype);
  if (parts.size() == 1) return parts[0];
  auto n = make_node("concatenate", shape, chunks, dtype);
  if (ax + 2 < static_cast<int64_t>(nd)) {  // along a band or time axis: y and x keep their grid
    std::vector<NodePtr> nodes;
    for (const Array& x : arrays) nodes.push_back(x.node());
    n->grid = detail::elementwise_grid(nodes, shape, "concatenate");
  }
  for (const Array& p : parts) n->inputs.push_back(p.node());
  n->lower = [source, ax](const Node& self, const BlockIndex& b, TaskSpec& t) {
    const auto [part, j] = source[b[ax]];
    const Node& src = *self.inputs[part];
    BlockIndex at = b;
    at[ax] = j;
    t.op = ops::kReshape;
    t.deps.push_back(detail::key_of(src, at));
  };
  return Array(n);
}

Array stack(const std::vector<Array>& arrays, int64_t axis) {
  if (arrays.empty()) throw std::invalid_argument("stack: needs at least one array");
  const Shape& shape = arrays[0].shape();
  for (const Array& x : arrays) {
    if (x.shape() != shape) throw std::invalid_argument("stack: all input arrays must have the same shape, got " + shapes_text(arrays));
  }
  const int64_t ax = normalize_axis(axis, shape.size() + 1, "stack");
  std::vector<Array> expanded;
  for (const Array& x : arrays) expanded.push_back(expand_dims(x, ax));
  return concatenate(expanded, ax);
}

namespace {

std::vector<GatherRun> pad_runs(int64_t n, int64_t before, int64_t after, const std::string& mode) {
  std::vector<int64_t> head, tail;
  for (int64_t v = -before; v < 0; ++v) head.push_back(detail::pad_source(v, n, mode));
  for (int64_t v = n; v < n + after; ++v) tail.push_back(detail::pad_source(v, n, mode));
  std::vector<GatherRun> runs = runs_of(head);
  if (n > 0) runs.push_back({0, 1, n});
  for (const GatherRun& r : runs_of(tail)) runs.push_back(r);
  return runs;
}

}  // namespace

Array pad(const Array& a, const std::vector<std::pair<int64_t, int64_t>>& pad_width, const std::string& mode,
          double constant_value) {
  const Node& in = need(a.node());
  const size_t nd = in.shape.size();
  static const std::vector<std::string> kModes = {"constant", "edge", "reflect", "symmetric", "wrap"};
  if (std::find(kModes.begin(), kModes.end(), mode) == kModes.end()) {
    throw std::invalid_argument("pad: mode \"" + mode + "\" is not one of constant, edge, reflect, symmetric, wrap");
  }
  if (pad_width.size() != nd && pad_width.size() != 1) {
    throw std::invalid_argument("pad: " + std::to_string(pad_width.size()) + " pad widths for an array of shape " +
                                shape_to_string(in.shape));
  }
  GatherSpec spec = whole_spec(in.shape);
  spec.fill = constant_value;
  for (size_t d = 0; d < nd; ++d) {
    const auto [before, after] = pad_width.size() == 1 ? pad_width[0] : pad_width[d];
    if (before < 0 || after < 0) throw std::invalid_argument("pad: pad widths must be non-negative");
    if (before == 0 && after == 0) continue;
    if (in.shape[d] == 0 && mode != "constant") {
      throw std::invalid_argument("pad: can't extend empty axis " + std::to_string(d) + " using modes other than 'constant'");
    }
    spec.runs[d] = pad_runs(in.shape[d], before, after, mode);
  }
  return gather(a, std::move(spec), "pad");
}

// ---- arrays from local data --------------------------------------------------------------

namespace {

// Arrays up to this size travel inline with the graph; larger ones are sent once.
constexpr uint64_t kInlineArrayBytes = 64ull << 20;
// Blocks sent to the workers per message, for a large array.
constexpr uint64_t kScatterBatchBytes = 256ull << 20;

// The box at `offset` of `box` elements of a C-order array of `shape`, as bytes.
std::string copy_box(const uint8_t* data, size_t esize, const Shape& shape, const Shape& offset, const Shape& box) {
  const size_t nd = shape.size();
  std::string bytes(static_cast<size_t>(shape_size(box)) * esize, '\0');
  const int64_t row = nd == 0 ? 1 : box[nd - 1];
  const int64_t rows = row == 0 ? 0 : shape_size(box) / row;
  const Shape strides = c_strides(shape);
  std::vector<int64_t> idx(nd == 0 ? 0 : nd - 1, 0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t src = 0;
    for (size_t k = 0; k + 1 < nd; ++k) src += (offset[k] + idx[k]) * strides[k];
    if (nd > 0) src += offset[nd - 1];
    std::memcpy(bytes.data() + static_cast<size_t>(r * row) * esize, data + static_cast<size_t>(src) * esize,
                static_cast<size_t>(row) * esize);
    for (size_t k = idx.size(); k-- > 0;) {
      if (++idx[k] < box[k]) break;
      idx[k] = 0;
    }
  }
  return bytes;
}

// Makes the tasks of a local array's blocks. A block of up to kLiteralPieceBytes is one
// literal task; a larger one is assembled on a worker from literal pieces (slabs of
// the block), since a task's parameters are bounded.
class LocalBlocks {
 public:
  LocalBlocks(const void* data, DType dtype, Shape shape, Chunks chunks, uint64_t token, uint64_t piece_token)
      : data_(static_cast<const uint8_t*>(data)), dtype_(dtype), esize_(dtype_size(dtype)), shape_(std::move(shape)),
        chunks_(std::move(chunks)), token_(token), piece_token_(piece_token) {}

  // Block i's task, after the tasks of its pieces when it has any.
  std::vector<TaskSpec> tasks(uint64_t i) {
    const BlockIndex b = detail::unravel_block(chunks_, i);
    const Shape off = detail::block_offset(chunks_, b), box = detail::block_shape(chunks_, b);
    std::vector<TaskSpec> out;
    TaskSpec t;
    t.key = {token_, i};
    t.dtype = dtype_;
    t.shape = box;
    if (static_cast<uint64_t>(shape_size(box)) * esize_ <= ops::kLiteralPieceBytes) {
      const std::string bytes = copy_box(data_, esize_, shape_, off, box);
      t.op = ops::kLiteral;
      t.params = ops::literal_params(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      out.push_back(std::move(t));
      return out;
    }
    // Slabs along the first axis d whose inner axes fit in a piece: one index along
    // the axes before d, the whole block along those after it.
    const size_t nd = box.size();
    auto row_bytes = [&](size_t axis) {
      uint64_t n = esize_;
      for (size_t k = axis + 1; k < nd; ++k) n *= static_cast<uint64_t>(box[k]);
      return n;
    };
    size_t d = 0;
    while (row_bytes(d) > ops::kLiteralPieceBytes) ++d;  // ends: one element fits
    const auto thick = static_cast<int64_t>(ops::kLiteralPieceBytes / row_bytes(d));
    std::vector<std::vector<int64_t>> in_offsets;
    Shape idx(d, 0);
    int64_t prefix = 1;
    for (size_t k = 0; k < d; ++k) prefix *= box[k];
    for (int64_t p = 0; p < prefix; ++p) {
      for (int64_t at = 0; at < box[d]; at += thick) {
        Shape poff = off, pbox = box;
        for (size_t k = 0; k < d; ++k) {
          poff[k] += idx[k];
          pbox[k] = 1;
        }
        poff[d] += at;
        pbox[d] = std::min(thick, box[d] - at);
        const std::string bytes = copy_box(data_, esize_, shape_, poff, pbox);
        TaskSpec piece;
        piece.key = {piece_token_, next_piece_++};
        piece.dtype = dtype_;
        piece.shape = pbox;
        piece.op = ops::kLiteral;
        piece.params = ops::literal_params(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
        t.deps.push_back(piece.key);
        in_offsets.push_back(poff);
        out.push_back(std::move(piece));
      }
      for (size_t k = d; k-- > 0;) {
        if (++idx[k] < box[k]) break;
        idx[k] = 0;
      }
    }
    t.op = ops::kAssemble;
    t.params = ops::assemble_params(off, in_offsets);
    out.push_back(std::move(t));
    return out;
  }

 private:
  const uint8_t* data_;
  DType dtype_;
  size_t esize_;
  Shape shape_;
  Chunks chunks_;
  uint64_t token_, piece_token_, next_piece_ = 0;
};

}  // namespace

Array detail::from_array(const void* data, DType dtype, const Shape& shape, const Shape& chunk_shape, Client* client) {
  const Chunks chunks = regular_chunks(shape, chunk_shape);
  auto n = make_node("from_array", shape, chunks, dtype);
  const uint64_t piece_token = new_token();
  LocalBlocks blocks(data, dtype, shape, chunks, n->token, piece_token);
  const auto nb = static_cast<uint64_t>(num_blocks(chunks));
  const uint64_t total = static_cast<uint64_t>(shape_size(shape)) * dtype_size(dtype);
  if (total <= kInlineArrayBytes) {
    // The blocks' tasks are made now (the local array may go), and sent with the graph
    // of each computation that reads them; pieces of large blocks through a node of
    // their own, one block per piece.
    auto own = std::make_shared<std::vector<TaskSpec>>();
    auto pieces = std::make_shared<std::vector<TaskSpec>>();
    for (uint64_t i = 0; i < nb; ++i) {
      for (TaskSpec& t : blocks.tasks(i)) (t.key.token == piece_token ? *pieces : *own).push_back(std::move(t));
    }
    // Each block's task is the one made above (its key set by lowering).
    auto copy_task = [](std::shared_ptr<const std::vector<TaskSpec>> from) {
      return [from](const Node& self, const BlockIndex& b, TaskSpec& t) {
        const TaskSpec& s = (*from)[linear_block(self.chunks, b)];
        t.op = s.op;
        t.params = s.params;
        t.deps = s.deps;
        t.shape = s.shape;
      };
    };
    if (!pieces->empty()) {
      auto p = make_node("from_array-pieces", {static_cast<int64_t>(pieces->size())},
                         {std::vector<int64_t>(pieces->size(), 1)}, dtype);
      p->token = piece_token;
      p->lower = copy_task(pieces);
      n->inputs = {p};
    }
    n->lower = copy_task(own);
    return Array(n);
  }
  // A large array goes to the workers now, a batch of blocks per message, and stays.
  Client* c = client ? client : Client::current();
  if (!c) throw ClusterError("from_array: an array over 64 MiB is sent to the workers at once: create a Client first");
  auto persisted = std::make_shared<Node>();
  persisted->token = n->token;
  persisted->name = n->name;
  persisted->shape = n->shape;
  persisted->chunks = n->chunks;
  persisted->dtype = n->dtype;
  persisted->persisted = std::make_shared<PersistHandle>();
  persisted->persisted->client = c;
  for (uint64_t i = 0; i < nb;) {
    std::vector<TaskSpec> batch;
    std::vector<TaskKey> wanted;
    uint64_t bytes = 0;
    for (; i < nb && (wanted.empty() || bytes < kScatterBatchBytes); ++i) {
      for (TaskSpec& t : blocks.tasks(i)) {
        bytes += t.params.size();
        batch.push_back(std::move(t));
      }
      wanted.push_back(batch.back().key);
    }
    (void)c->impl().run({GraphPart(std::move(batch))}, wanted);
    // Held from here: released with the Array, also if a later batch fails.
    persisted->persisted->keys.insert(persisted->persisted->keys.end(), wanted.begin(), wanted.end());
  }
  return Array(persisted);
}

}  // namespace rsdat
