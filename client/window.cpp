// Neighbourhoods (rsdat/window.hpp): every function here is one halo node. Its blocks
// are "overlap" tasks reading their own block plus slabs; the slabs are the tasks of a
// pieces node, each a "gather" of one input block (or a fill, outside the array), so
// that only the halo's bytes travel to the block that needs them.
#include "rsdat/window.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>

#include "client/array_internal.hpp"
#include "ops/window.hpp"

namespace rsdat {

using detail::BlockIndex;
using detail::make_node;
using detail::need;
using detail::Node;
using ops::GatherRun;

namespace {

int64_t normalize_axis(int64_t axis, size_t ndim, const char* op) {
  const auto nd = static_cast<int64_t>(ndim);
  if (axis < -nd || axis >= nd) {
    throw std::invalid_argument(std::string(op) + ": axis " + std::to_string(axis) +
                                " is out of bounds for an array of " + std::to_string(nd) + " dims");
  }
  return axis < 0 ? axis + nd : axis;
}

// One entry per axis from a list of one (the same for all) or ndim entries.
template <typename T>
std::vector<T> per_axis(const std::vector<T>& v, size_t nd, const char* op, const char* what) {
  if (v.size() == nd) return v;
  if (v.size() == 1) return std::vector<T>(nd, v[0]);
  throw std::invalid_argument(std::string(op) + ": " + std::to_string(v.size()) + " " + what + " for an array of " +
                              std::to_string(nd) + " dims");
}

std::vector<int64_t> boundaries(const std::vector<int64_t>& chunks) {
  std::vector<int64_t> b{0};
  for (int64_t c : chunks) b.push_back(b.back() + c);
  return b;
}

// What lies outside the array along an axis, in numpy.pad's names ("none": nothing).
struct AxisHalo {
  int64_t lo = 0, hi = 0;
  std::string mode = "none";
  double fill = 0;
};

// Positions [pos, pos + count) of an extended block along one axis, read from input
// block `block` (-1: the fill value) at `run`.
struct Segment {
  int64_t block = -1, pos = 0, count = 0;
  GatherRun run;
  bool own = false;    // the block itself, in place
  bool whole = false;  // all of input block `block`, in order
};

// The segments of block j's extension along an axis with boundaries `bounds`, and the
// position of the block itself in it (its halo before).
std::vector<Segment> axis_segments(const std::vector<int64_t>& bounds, int64_t j, const AxisHalo& h, int64_t* before) {
  const int64_t n = bounds.back();
  int64_t start = bounds[j] - h.lo, stop = bounds[j + 1] + h.hi;
  if (h.mode == "none") {
    start = std::max<int64_t>(start, 0);
    stop = std::min(stop, n);
  }
  *before = bounds[j] - start;
  std::vector<Segment> out;
  int64_t pos = 0;
  // Positions [v0, v1) as runs of consecutive sources with one step, each inside one
  // input block (or the fill value).
  auto add = [&](int64_t v0, int64_t v1) {
    for (int64_t v = v0; v < v1;) {
      const int64_t first = detail::pad_source(v, n, h.mode);
      Segment s;
      s.pos = pos;
      if (first < 0) {
        s.run = {-1, 0, 1};
        while (v + s.run.count < v1 && detail::pad_source(v + s.run.count, n, h.mode) < 0) ++s.run.count;
      } else {
        s.block = std::upper_bound(bounds.begin(), bounds.end(), first) - bounds.begin() - 1;
        s.run = {first, 1, 1};
        if (v + 1 < v1) {
          const int64_t step = detail::pad_source(v + 1, n, h.mode) - first;
          if (step >= -1 && step <= 1) {
            int64_t k = 1;
            while (v + k < v1) {
              const int64_t src = detail::pad_source(v + k, n, h.mode);
              if (src != first + k * step || src < bounds[s.block] || src >= bounds[s.block + 1]) break;
              ++k;
            }
            if (k > 1) s.run = {first, step, k};
          }
        }
      }
      s.count = s.run.count;
      s.whole = s.block >= 0 && s.run.first == bounds[s.block] && (s.run.step == 1 || s.count == 1) &&
                s.count == bounds[s.block + 1] - bounds[s.block];
      out.push_back(s);
      pos += s.count;
      v += s.count;
    }
  };
  add(start, bounds[j]);
  Segment own;
  own.block = j;
  own.pos = pos;
  own.count = bounds[j + 1] - bounds[j];
  own.run = {bounds[j], 1, own.count};
  own.own = own.whole = true;
  out.push_back(own);
  pos += own.count;
  add(bounds[j + 1], stop);
  return out;
}

// The tasks of one block of a halo node: where its inputs go in the extended block.
struct HaloBlock {
  Shape ext_shape;
  std::vector<int64_t> before;  // the halo before the block, per axis
  std::vector<TaskKey> deps;    // its own block first
  std::vector<std::vector<int64_t>> offsets;
};

// Fills the params of one block's overlap task from its extended shape, halo before,
// and output block shape: inner op and params, inner_shape, trim.
using InnerFn = std::function<void(const HaloBlock& h, const Shape& out_block, ops::OverlapParams& p)>;

// A node of `out_chunks` whose block b is inner(a's block b extended by `halo`).
Array halo_array(const Array& a, const std::vector<AxisHalo>& halo, const Chunks& out_chunks, DType out_dtype,
                 const std::string& name, InnerFn inner) {
  const Node& in = need(a.node());
  const size_t nd = in.shape.size();
  std::vector<std::vector<int64_t>> bounds(nd);
  for (size_t d = 0; d < nd; ++d) bounds[d] = boundaries(in.chunks[d]);
  auto pieces = std::make_shared<std::vector<TaskSpec>>();
  auto blocks = std::make_shared<std::vector<HaloBlock>>();
  const uint64_t piece_token = detail::new_token();
  const int64_t nb = detail::num_blocks(in.chunks);
  for (int64_t i = 0; i < nb; ++i) {
    const BlockIndex b = detail::unravel_block(in.chunks, static_cast<uint64_t>(i));
    HaloBlock hb;
    hb.before.resize(nd);
    std::vector<std::vector<Segment>> segs(nd);
    for (size_t d = 0; d < nd; ++d) {
      segs[d] = axis_segments(bounds[d], b[d], halo[d], &hb.before[d]);
      int64_t len = 0;
      for (const Segment& s : segs[d]) len += s.count;
      hb.ext_shape.push_back(len);
    }
    hb.deps.push_back(detail::key_of(in, b));
    hb.offsets.push_back(hb.before);
    // Every combination of one segment per axis is one box of the extended block.
    std::vector<size_t> pos(nd, 0);
    while (true) {
      bool own = true, whole = true;
      int fill_axis = -1;
      Shape box(nd), at(nd);
      BlockIndex src(nd);
      for (size_t d = 0; d < nd; ++d) {
        const Segment& s = segs[d][pos[d]];
        own = own && s.own;
        whole = whole && s.whole;
        if (s.block < 0) fill_axis = static_cast<int>(d);
        box[d] = s.count;
        at[d] = s.pos;
        src[d] = s.block;
      }
      if (!own && shape_size(box) > 0) {
        if (whole && fill_axis < 0) {
          // A whole neighbour block inside the halo (a halo deeper than a chunk): that
          // block itself, no copy.
          hb.deps.push_back(detail::key_of(in, src));
        } else {
          TaskSpec t;
          t.key = {piece_token, pieces->size()};
          t.dtype = in.dtype;
          t.shape = box;
          if (fill_axis >= 0) {
            // The constant of the last axis that fills, as dask pads axis by axis.
            t.op = ops::kFill;
            t.params = ops::fill_params(halo[fill_axis].fill);
          } else {
            ops::GatherParams g;
            for (size_t d = 0; d < nd; ++d) {
              g.block_offsets.push_back({bounds[d][src[d]]});
              g.runs.push_back({segs[d][pos[d]].run});
            }
            t.op = ops::kGather;
            t.params = encode_params(g);
            t.deps.push_back(detail::key_of(in, src));
          }
          hb.deps.push_back(t.key);
          pieces->push_back(std::move(t));
        }
        hb.offsets.push_back(at);
      }
      size_t k = nd;
      while (k-- > 0) {
        if (++pos[k] < segs[k].size()) break;
        pos[k] = 0;
      }
      if (k == static_cast<size_t>(-1)) break;
    }
    blocks->push_back(std::move(hb));
  }
  Shape shape(nd);
  for (size_t d = 0; d < nd; ++d) shape[d] = boundaries(out_chunks[d]).back();
  auto n = make_node(name, shape, out_chunks, out_dtype);
  n->inputs = {a.node()};
  if (!pieces->empty()) {
    const auto np = static_cast<int64_t>(pieces->size());
    auto p = make_node(name + "-halo", {np}, {std::vector<int64_t>(static_cast<size_t>(np), 1)}, in.dtype);
    p->token = piece_token;
    p->inputs = {a.node()};
    p->lower = [pieces](const Node&, const BlockIndex& b, TaskSpec& t) {
      const TaskSpec& s = (*pieces)[static_cast<size_t>(b[0])];
      t.op = s.op;
      t.params = s.params;
      t.deps = s.deps;
      t.shape = s.shape;
    };
    n->inputs.push_back(p);
  }
  n->lower = [blocks, inner](const Node& self, const BlockIndex& b, TaskSpec& t) {
    const HaloBlock& h = (*blocks)[detail::linear_block(self.chunks, b)];
    ops::OverlapParams p;
    p.ext_shape = h.ext_shape;
    p.in_offsets = h.offsets;
    inner(h, detail::block_shape(self.chunks, b), p);
    t.op = ops::kOverlap;
    t.params = encode_params(p);
    t.deps = h.deps;
  };
  return Array(n);
}

// map_overlap's boundary names as numpy.pad's.
std::vector<AxisHalo> dask_halo(const Node& in, const std::vector<int64_t>& depth,
                                const std::vector<Boundary>& boundary, const char* op) {
  const size_t nd = in.shape.size();
  const std::vector<int64_t> dep = per_axis(depth, nd, op, "depths");
  const std::vector<Boundary> bnd = per_axis(boundary, nd, op, "boundaries");
  std::vector<AxisHalo> h(nd);
  for (size_t d = 0; d < nd; ++d) {
    if (dep[d] < 0) {
      throw std::invalid_argument(std::string(op) + ": depth must be non-negative, got " + std::to_string(dep[d]));
    }
    const std::string& m = bnd[d].mode;
    if (m == "none") {
      h[d].mode = "none";
    } else if (m == "reflect") {
      h[d].mode = "symmetric";
    } else if (m == "periodic") {
      h[d].mode = "wrap";
    } else if (m == "nearest") {
      h[d].mode = "edge";
    } else if (m == "constant") {
      h[d].mode = "constant";
    } else {
      throw std::invalid_argument(std::string(op) + ": boundary \"" + m +
                                  "\" is not one of none, reflect, periodic, nearest, constant");
    }
    h[d].lo = h[d].hi = dep[d];
    h[d].fill = bnd[d].value;
  }
  return h;
}

// The chunks of the extended blocks.
Chunks extended_chunks(const Node& in, const std::vector<AxisHalo>& h) {
  Chunks c = in.chunks;
  for (size_t d = 0; d < c.size(); ++d) {
    const std::vector<int64_t> b = boundaries(in.chunks[d]);
    for (size_t j = 0; j < c[d].size(); ++j) {
      int64_t before = 0;
      int64_t len = 0;
      for (const Segment& s : axis_segments(b, static_cast<int64_t>(j), h[d], &before)) len += s.count;
      c[d][j] = len;
    }
  }
  return c;
}

}  // namespace

// ---- overlap ------------------------------------------------------------------

Array map_overlap(const std::string& op, const Array& a, const std::vector<int64_t>& depth,
                  const std::vector<Boundary>& boundary, bool trim, std::optional<DType> dtype,
                  const std::string& params) {
  if (op.empty()) throw std::invalid_argument("map_overlap: empty op name");
  const Node& in = need(a.node());
  const std::vector<AxisHalo> h = dask_halo(in, depth, boundary, "map_overlap");
  const DType out = dtype.value_or(in.dtype);
  const Chunks chunks = trim ? in.chunks : extended_chunks(in, h);
  return halo_array(a, h, chunks, out, "map_overlap-" + op,
                    [op, params, trim](const HaloBlock& hb, const Shape&, ops::OverlapParams& p) {
                      p.inner = op;
                      p.inner_params = params;
                      p.inner_shape = hb.ext_shape;
                      p.trim = trim ? hb.before : std::vector<int64_t>(hb.before.size(), 0);
                    });
}

Array overlap(const Array& a, const std::vector<int64_t>& depth, const std::vector<Boundary>& boundary) {
  const Node& in = need(a.node());
  const std::vector<AxisHalo> h = dask_halo(in, depth, boundary, "overlap");
  return halo_array(a, h, extended_chunks(in, h), in.dtype, "overlap",
                    [](const HaloBlock& hb, const Shape&, ops::OverlapParams& p) {
                      p.inner_shape = hb.ext_shape;
                      p.trim = std::vector<int64_t>(hb.before.size(), 0);
                    });
}

// ---- scipy.ndimage filters ----------------------------------------------------

namespace {

// A filter reading positions i - before[d] .. i - before[d] + size[d] - 1 along each axis.
Array filter(const Array& a, ops::FilterKind kind, const std::vector<int64_t>& size, const std::vector<int64_t>& before,
             std::vector<std::vector<double>> weights, const std::string& mode, double cval, const char* op) {
  const Node& in = need(a.node());
  const size_t nd = in.shape.size();
  static const std::vector<std::pair<std::string, std::string>> kModes = {
      {"reflect", "symmetric"}, {"constant", "constant"}, {"nearest", "edge"}, {"mirror", "reflect"}, {"wrap", "wrap"}};
  auto m = std::find_if(kModes.begin(), kModes.end(), [&](const auto& e) { return e.first == mode; });
  if (m == kModes.end()) {
    throw std::invalid_argument(std::string(op) + ": mode \"" + mode +
                                "\" is not one of reflect, constant, nearest, mirror, wrap");
  }
  if (nd == 0 || in.shape.empty() || shape_size(in.shape) == 0) return a;
  std::vector<AxisHalo> h(nd);
  for (size_t d = 0; d < nd; ++d) {
    h[d].lo = before[d];
    h[d].hi = size[d] - 1 - before[d];
    h[d].mode = m->second;
    h[d].fill = cval;
  }
  ops::WindowFilterParams wp;
  wp.kind = kind;
  wp.before = before;
  wp.size = size;
  wp.weights = std::move(weights);
  return halo_array(a, h, in.chunks, in.dtype, op, [wp](const HaloBlock& hb, const Shape& out, ops::OverlapParams& p) {
    ops::WindowFilterParams w = wp;
    w.lo = hb.before;
    p.inner = ops::kWindowFilter;
    p.inner_params = encode_params(w);
    p.inner_shape = out;
    p.trim = std::vector<int64_t>(out.size(), 0);
  });
}

std::vector<int64_t> sizes_of(const Array& a, const std::vector<int64_t>& size, const char* op) {
  std::vector<int64_t> s = per_axis(size, a.ndim(), op, "sizes");
  for (int64_t v : s) {
    if (v < 1) throw std::invalid_argument(std::string(op) + ": size must be at least 1, got " + std::to_string(v));
  }
  return s;
}

std::vector<int64_t> halves(const std::vector<int64_t>& size) {
  std::vector<int64_t> b;
  for (int64_t s : size) b.push_back(s / 2);
  return b;
}

Array size_filter(const Array& a, ops::FilterKind kind, const std::vector<int64_t>& size, const std::string& mode,
                  double cval, const char* op) {
  const std::vector<int64_t> s = sizes_of(a, size, op);
  return filter(a, kind, s, halves(s), {}, mode, cval, op);
}

}  // namespace

Array uniform_filter(const Array& a, const std::vector<int64_t>& size, const std::string& mode, double cval) {
  return size_filter(a, ops::FilterKind::kUniform, size, mode, cval, "uniform_filter");
}
Array median_filter(const Array& a, const std::vector<int64_t>& size, const std::string& mode, double cval) {
  return size_filter(a, ops::FilterKind::kMedian, size, mode, cval, "median_filter");
}
Array minimum_filter(const Array& a, const std::vector<int64_t>& size, const std::string& mode, double cval) {
  return size_filter(a, ops::FilterKind::kMinimum, size, mode, cval, "minimum_filter");
}
Array maximum_filter(const Array& a, const std::vector<int64_t>& size, const std::string& mode, double cval) {
  return size_filter(a, ops::FilterKind::kMaximum, size, mode, cval, "maximum_filter");
}

Array gaussian_filter(const Array& a, const std::vector<double>& sigma, const std::string& mode, double cval,
                      double truncate) {
  const std::vector<double> sd = per_axis(sigma, a.ndim(), "gaussian_filter", "sigmas");
  std::vector<int64_t> size, before;
  std::vector<std::vector<double>> weights;
  for (double s : sd) {
    if (!(s >= 0)) throw std::invalid_argument("gaussian_filter: sigma must be non-negative");
    // scipy's _gaussian_kernel1d; axes with sigma 0 are left alone, as scipy does.
    const auto r = s > 1e-15 ? static_cast<int64_t>(truncate * s + 0.5) : 0;
    if (r < 0) throw std::invalid_argument("gaussian_filter: truncate must be non-negative");
    std::vector<double> w;
    double total = 0;
    for (int64_t x = -r; x <= r; ++x) {
      w.push_back(std::exp(-0.5 / (s * s) * static_cast<double>(x * x)));
      total += w.back();
    }
    if (r == 0) w = {1.0}, total = 1.0;
    for (double& v : w) v /= total;
    size.push_back(2 * r + 1);
    before.push_back(r);
    weights.push_back(std::move(w));
  }
  return filter(a, ops::FilterKind::kGaussian, size, before, std::move(weights), mode, cval, "gaussian_filter");
}

Array convolve(const Array& a, const xt::xarray<double>& weights, const std::string& mode, double cval) {
  if (weights.dimension() != a.ndim()) {
    throw std::invalid_argument("convolve: weights of " + std::to_string(weights.dimension()) +
                                " dims for an array of " + std::to_string(a.ndim()) + " dims");
  }
  std::vector<int64_t> size, before;
  for (size_t d = 0; d < weights.dimension(); ++d) {
    const auto m = static_cast<int64_t>(weights.shape()[d]);
    if (m < 1) throw std::invalid_argument("convolve: empty weights");
    size.push_back(m);
    // out[i] = sum_j w[j] * a[i + m / 2 - j]: a correlation with the flipped weights.
    before.push_back(m - 1 - m / 2);
  }
  // Every axis flipped: the C-order elements reversed.
  std::vector<double> flipped(weights.begin(), weights.end());
  std::reverse(flipped.begin(), flipped.end());
  return filter(a, ops::FilterKind::kConvolve, size, before, {flipped}, mode, cval, "convolve");
}

// ---- rolling windows ----------------------------------------------------------

Rolling rolling(const Array& a, int64_t axis, int64_t window, bool center, std::optional<int64_t> min_periods) {
  const int64_t ax = normalize_axis(axis, need(a.node()).shape.size(), "rolling");
  if (window < 1) throw std::invalid_argument("rolling: window must be > 0, got " + std::to_string(window));
  const int64_t mp = min_periods.value_or(window);
  if (mp < 1) throw std::invalid_argument("rolling: min_periods must be greater than zero, got " + std::to_string(mp));
  return Rolling(a, ax, window, center, mp);
}

Array Rolling::reduce(uint8_t stat_code) const {
  const auto stat = static_cast<ops::RollingStat>(stat_code);
  const Node& in = need(a_.node());
  const DType value_dtype = in.dtype == DType::kFloat32 ? DType::kFloat32 : DType::kFloat64;
  const DType out_dtype = stat == ops::RollingStat::kCount ? DType::kFloat64 : value_dtype;
  // Floats, so that positions outside the array can be NaN: skipped like missing values.
  const Array x = a_.astype(value_dtype);
  if (shape_size(in.shape) == 0) return x.astype(out_dtype);
  const size_t nd = in.shape.size();
  const int64_t before = center_ ? window_ / 2 : window_ - 1;
  const int64_t after = center_ ? (window_ - 1) / 2 : 0;
  std::vector<AxisHalo> h(nd);
  h[axis_] = {before, after, "constant", std::numeric_limits<double>::quiet_NaN()};
  ops::RollingParams rp;
  rp.stat = stat;
  rp.axis = axis_;
  rp.before = before;
  rp.after = after;
  rp.min_periods = min_periods_;
  return halo_array(x, h, in.chunks, out_dtype, "rolling",
                    [rp](const HaloBlock& hb, const Shape& out, ops::OverlapParams& p) {
                      ops::RollingParams r = rp;
                      r.lo = hb.before[static_cast<size_t>(r.axis)];
                      p.inner = ops::kRolling;
                      p.inner_params = encode_params(r);
                      p.inner_shape = out;
                      p.trim = std::vector<int64_t>(out.size(), 0);
                    });
}

Array Rolling::sum() const { return reduce(static_cast<uint8_t>(ops::RollingStat::kSum)); }
Array Rolling::mean() const { return reduce(static_cast<uint8_t>(ops::RollingStat::kMean)); }
Array Rolling::min() const { return reduce(static_cast<uint8_t>(ops::RollingStat::kMin)); }
Array Rolling::max() const { return reduce(static_cast<uint8_t>(ops::RollingStat::kMax)); }
Array Rolling::std() const { return reduce(static_cast<uint8_t>(ops::RollingStat::kStd)); }
Array Rolling::var() const { return reduce(static_cast<uint8_t>(ops::RollingStat::kVar)); }
Array Rolling::count() const { return reduce(static_cast<uint8_t>(ops::RollingStat::kCount)); }
Array Rolling::median() const { return reduce(static_cast<uint8_t>(ops::RollingStat::kMedian)); }

}  // namespace rsdat
