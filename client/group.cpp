// coarsen, groupby_reduce, bincount, histogram and unique (rsdat/group.hpp).
#include "rsdat/group.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <stdexcept>
#include <string>

#include "client/array_internal.hpp"
#include "ops/group.hpp"
#include "rsdat/shape.hpp"

namespace rsdat {

using detail::BlockIndex;
using detail::make_node;
using detail::need;
using detail::Node;
using detail::NodePtr;

namespace {

int64_t axis_in(int64_t axis, size_t ndim, const char* name) {
  const int64_t given = axis;
  if (axis < 0) axis += static_cast<int64_t>(ndim);
  if (axis < 0 || axis >= static_cast<int64_t>(ndim)) {
    throw std::invalid_argument(std::string(name) + ": axis " + std::to_string(given) +
                                " is out of range for an array of " + std::to_string(ndim) + " dims");
  }
  return axis;
}

std::vector<int64_t> offsets_of(const std::vector<int64_t>& chunks) {
  std::vector<int64_t> o{0};
  for (int64_t c : chunks) o.push_back(o.back() + c);
  return o;
}

// xarray's maybe_promote for padding with NaN.
DType nan_dtype(DType t) {
  if (dtype_is_float(t)) return t;
  return dtype_size(t) <= 2 && t != DType::kBool ? DType::kFloat32 : DType::kFloat64;
}

}  // namespace

// ---- coarsen ------------------------------------------------------------------

Coarsen coarsen(const Array& a, const std::vector<std::pair<int64_t, int64_t>>& windows, const std::string& boundary,
                const std::string& side) {
  const Node& in = need(a.node());
  const size_t nd = in.shape.size();
  if (boundary != "exact" && boundary != "trim" && boundary != "pad") {
    throw std::invalid_argument("coarsen: boundary must be 'exact', 'trim' or 'pad', got '" + boundary + "'");
  }
  if (side != "left" && side != "right") {
    throw std::invalid_argument("coarsen: side must be 'left' or 'right', got '" + side + "'");
  }
  std::vector<int64_t> window(nd, 0);
  for (auto [axis, size] : windows) {
    const int64_t ax = axis_in(axis, nd, "coarsen");
    if (size < 1) throw std::invalid_argument("coarsen: window size must be at least 1, got " + std::to_string(size));
    if (window[ax] != 0) throw std::invalid_argument("coarsen: axis " + std::to_string(axis) + " given twice");
    window[ax] = size;
  }
  Array x = a;
  std::vector<std::pair<int64_t, int64_t>> pad_width(nd, {0, 0});
  bool padded = false;
  std::vector<Index> trim(nd, All{});
  bool trimmed = false;
  for (size_t d = 0; d < nd; ++d) {
    const int64_t f = window[d], n = in.shape[d];
    if (f == 0 || n % f == 0) continue;
    if (boundary == "exact") {
      throw std::invalid_argument("coarsen: could not coarsen axis " + std::to_string(d) + " of size " +
                                  std::to_string(n) + " with window " + std::to_string(f) +
                                  " and boundary 'exact'; try boundary 'trim' or 'pad'");
    }
    const int64_t keep = n / f * f, excess = n - keep;
    if (boundary == "trim") {
      trim[d] = side == "left" ? range(0, keep) : range(excess, n);
      trimmed = true;
    } else {
      const int64_t pad = f - excess;
      pad_width[d] = side == "left" ? std::make_pair(int64_t{0}, pad) : std::make_pair(pad, int64_t{0});
      padded = true;
    }
  }
  if (trimmed) x = view(x, trim);
  if (padded) {
    x = x.astype(nan_dtype(x.dtype()));
    x = pad(x, pad_width, "constant", std::numeric_limits<double>::quiet_NaN());
  }
  Shape split;
  Coarsen c;
  for (size_t d = 0; d < nd; ++d) {
    if (window[d] == 0) {
      split.push_back(x.shape()[d]);
      continue;
    }
    split.push_back(x.shape()[d] / window[d]);
    c.window_axes_.push_back(static_cast<int64_t>(split.size()));
    split.push_back(window[d]);
  }
  c.split_ = reshape(x, split);
  return c;
}

namespace {
bool floats(const Array& a) { return dtype_is_float(a.dtype()); }
}  // namespace

Array Coarsen::sum() const { return floats(split_) ? split_.nansum(window_axes_) : split_.sum(window_axes_); }
Array Coarsen::prod() const { return floats(split_) ? split_.nanprod(window_axes_) : split_.prod(window_axes_); }
Array Coarsen::mean() const { return floats(split_) ? split_.nanmean(window_axes_) : split_.mean(window_axes_); }
Array Coarsen::min() const { return floats(split_) ? split_.nanmin(window_axes_) : split_.min(window_axes_); }
Array Coarsen::max() const { return floats(split_) ? split_.nanmax(window_axes_) : split_.max(window_axes_); }
Array Coarsen::var(double ddof) const { return split_.nanvar(window_axes_, ddof); }
Array Coarsen::std(double ddof) const { return split_.nanstd(window_axes_, ddof); }
Array Coarsen::count() const { return logical_not(isnan(split_)).sum(window_axes_); }

Array Coarsen::median() const {
  const Node& in = need(split_.node());
  Shape shape;
  Chunks chunks;
  std::vector<bool> window(in.shape.size(), false);
  for (int64_t ax : window_axes_) window[static_cast<size_t>(ax)] = true;
  for (size_t d = 0; d < in.shape.size(); ++d) {
    if (window[d]) {
      if (in.chunks[d].size() != 1) throw std::logic_error("coarsen: a window split over blocks");
      continue;
    }
    shape.push_back(in.shape[d]);
    chunks.push_back(in.chunks[d]);
  }
  const DType dtype = in.dtype == DType::kFloat32 ? DType::kFloat32 : DType::kFloat64;
  auto n = make_node("coarsen-median", shape, chunks, dtype);
  n->inputs = {split_.node()};
  const std::string params = encode_params(ops::BlockMedianParams{window_axes_, dtype_is_float(in.dtype)});
  n->lower = [window, params](const Node& self, const BlockIndex& blk, TaskSpec& t) {
    BlockIndex src;
    for (size_t d = 0, k = 0; d < window.size(); ++d) src.push_back(window[d] ? 0 : blk[k++]);
    t.deps.push_back(detail::key_of(*self.inputs[0], src));
    t.op = ops::kBlockMedian;
    t.params = params;
  };
  return Array(n);
}

// ---- grouped reductions ----------------------------------------------------------

namespace {

const std::map<std::string, ops::GroupOp>& group_ops() {
  using G = ops::GroupOp;
  static const std::map<std::string, G> ops = {
      {"sum", G::kSum},       {"nansum", G::kNanSum},       {"prod", G::kProd},         {"nanprod", G::kNanProd},
      {"mean", G::kMean},     {"nanmean", G::kNanMean},     {"min", G::kMin},           {"max", G::kMax},
      {"nanmin", G::kNanMin}, {"nanmax", G::kNanMax},       {"count", G::kCount},       {"var", G::kVar},
      {"nanvar", G::kNanVar}, {"std", G::kStd},             {"nanstd", G::kNanStd},     {"first", G::kFirst},
      {"last", G::kLast},     {"nanfirst", G::kNanFirst},   {"nanlast", G::kNanLast},   {"median", G::kMedian},
      {"nanmedian", G::kNanMedian}};
  return ops;
}

// An output block: groups [g0, g1) and the input chunks along the axis holding them.
struct OutBlock {
  int64_t g0 = 0, g1 = 0;
  std::vector<int64_t> chunks;
};

// One task of a partial or combine level: its output block and what it reads (input
// chunks along the axis at the first level, entries of the level below after).
struct Entry {
  int64_t block = 0;
  std::vector<int64_t> srcs;
};

struct Plan {
  ops::GroupOp op;
  int64_t axis = 0;
  double ddof = 0;
  std::vector<int64_t> slot_of;       // per index along the axis, its group (or -1)
  std::vector<int64_t> bounds;        // the input's chunk offsets along the axis
  std::vector<OutBlock> blocks;
  // The slots of input chunk c for output block b, concatenated over `chunks`.
  std::vector<int64_t> slots(const OutBlock& b, const std::vector<int64_t>& chunks) const {
    std::vector<int64_t> s;
    for (int64_t c : chunks) {
      for (int64_t i = bounds[c]; i < bounds[c + 1]; ++i) {
        const int64_t g = slot_of[static_cast<size_t>(i)];
        s.push_back(g >= b.g0 && g < b.g1 ? g - b.g0 : -1);
      }
    }
    return s;
  }
  std::string params(const OutBlock& b, std::vector<int64_t> slots, bool finalize) const {
    ops::GroupParams p;
    p.op = op;
    p.axis = axis;
    p.ngroups = b.g1 - b.g0;
    p.slots = std::move(slots);
    p.finalize = finalize;
    p.ddof = ddof;
    return encode_params(p);
  }
};

}  // namespace

GroupbyResult groupby_reduce(const Array& a, const std::vector<int64_t>& labels, int64_t axis, const std::string& op,
                             const GroupbyOptions& options) {
  const char* name = "groupby_reduce";
  const Node& in = need(a.node());
  const size_t nd = in.shape.size();
  if (nd == 0) throw std::invalid_argument("groupby_reduce: a 0-d array has no axis to group along");
  const int64_t ax = axis_in(axis, nd, name);
  auto found = group_ops().find(op);
  if (found == group_ops().end()) {
    throw std::invalid_argument("groupby_reduce: unknown reduction '" + op +
                                "' (sum, nansum, prod, nanprod, mean, nanmean, min, max, nanmin, nanmax, count, var, "
                                "nanvar, std, nanstd, median, nanmedian, first, last, nanfirst, nanlast)");
  }
  if (static_cast<int64_t>(labels.size()) != in.shape[ax]) {
    throw std::invalid_argument("groupby_reduce: " + std::to_string(labels.size()) + " labels for axis " +
                                std::to_string(ax) + " of size " + std::to_string(in.shape[ax]));
  }
  if (options.split_every < 2) throw std::invalid_argument("groupby_reduce: split_every must be at least 2");
  if (options.method != "auto" && options.method != "cohorts" && options.method != "map-reduce") {
    throw std::invalid_argument("groupby_reduce: method must be 'auto', 'cohorts' or 'map-reduce', got '" +
                                options.method + "'");
  }
  Plan plan;
  plan.op = found->second;
  plan.axis = ax;
  plan.ddof = options.ddof;
  GroupbyResult result;
  std::vector<int64_t>& groups = result.groups;
  if (options.expected_groups) {
    groups = *options.expected_groups;
    for (int64_t g : groups)
      if (g < 0) throw std::invalid_argument("groupby_reduce: expected groups must not be negative");
  } else {
    for (int64_t l : labels)
      if (l >= 0) groups.push_back(l);
  }
  std::sort(groups.begin(), groups.end());
  groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  const auto ngroups = static_cast<int64_t>(groups.size());
  std::vector<bool> present(groups.size(), false);
  for (int64_t l : labels) {
    auto it = std::lower_bound(groups.begin(), groups.end(), l);
    int64_t s = -1;
    if (l >= 0 && it != groups.end() && *it == l) {
      s = it - groups.begin();
      present[static_cast<size_t>(s)] = true;
    }
    plan.slot_of.push_back(s);
  }
  const bool has_empty = std::find(present.begin(), present.end(), false) != present.end();
  const DType out_dtype = ops::group_result_dtype(plan.op, in.dtype, has_empty);
  const DType pdt = ops::group_partial_dtype(plan.op, in.dtype);
  const int64_t lead = ops::group_partial_lead(plan.op);
  const bool median = lead == 0;
  plan.bounds = offsets_of(in.chunks[ax]);
  const auto nchunks = static_cast<int64_t>(in.chunks[ax].size());

  // The input chunks holding each group.
  std::vector<std::vector<int64_t>> chunks_of(groups.size());
  for (int64_t c = 0; c < nchunks; ++c) {
    for (int64_t i = plan.bounds[c]; i < plan.bounds[c + 1]; ++i) {
      const int64_t s = plan.slot_of[static_cast<size_t>(i)];
      if (s >= 0 && (chunks_of[s].empty() || chunks_of[s].back() != c)) chunks_of[s].push_back(c);
    }
  }
  // Output blocks: a group joins the block whose chunks it shares.
  std::vector<bool> in_block(static_cast<size_t>(nchunks), false);
  for (int64_t s = 0; s < ngroups; ++s) {
    const auto& cs = chunks_of[s];
    bool joins = !plan.blocks.empty() && (options.method == "map-reduce" || cs.empty() ||
                                          std::any_of(cs.begin(), cs.end(), [&](int64_t c) { return in_block[c]; }));
    if (!joins) {
      for (const int64_t c : plan.blocks.empty() ? std::vector<int64_t>{} : plan.blocks.back().chunks) in_block[c] = false;
      plan.blocks.push_back({s, s, {}});
    }
    OutBlock& b = plan.blocks.back();
    b.g1 = s + 1;
    for (int64_t c : cs) {
      if (!in_block[c]) {
        in_block[c] = true;
        b.chunks.push_back(c);
      }
    }
  }
  for (auto& b : plan.blocks) std::sort(b.chunks.begin(), b.chunks.end());
  if (plan.blocks.empty()) plan.blocks.push_back({0, 0, {}});
  result.method = plan.blocks.size() > 1 ? "cohorts" : "map-reduce";

  Shape out_shape = in.shape;
  out_shape[ax] = ngroups;
  Chunks out_chunks = in.chunks;
  out_chunks[ax].clear();
  for (const auto& b : plan.blocks) out_chunks[ax].push_back(b.g1 - b.g0);

  // The partial and combine levels, for blocks reading more than one chunk.
  const auto nblocks = static_cast<int64_t>(plan.blocks.size());
  std::vector<int64_t> last_level(static_cast<size_t>(nblocks), -1);   // -1: read the input directly
  std::vector<std::vector<int64_t>> last_entries(static_cast<size_t>(nblocks));
  std::vector<NodePtr> levels;
  if (!median) {
    std::vector<Entry> entries;
    for (int64_t b = 0; b < nblocks; ++b) {
      const auto& cs = plan.blocks[b].chunks;
      if (cs.size() <= 1) continue;
      last_level[b] = 0;
      for (int64_t c : cs) {
        last_entries[b].push_back(static_cast<int64_t>(entries.size()));
        entries.push_back({b, {c}});
      }
    }
    int64_t level = 0;
    while (!entries.empty()) {
      Chunks lc;
      lc.push_back({lead});
      for (size_t d = 0; d < nd; ++d) lc.push_back(in.chunks[d]);
      lc[ax + 1].clear();
      for (const Entry& e : entries) lc[ax + 1].push_back(plan.blocks[e.block].g1 - plan.blocks[e.block].g0);
      Shape ls;
      for (const auto& c : lc) ls.push_back(std::accumulate(c.begin(), c.end(), int64_t{0}));
      auto node = make_node(std::string(name) + (level == 0 ? "-partial" : "-combine"), ls, lc, pdt);
      node->inputs = {level == 0 ? a.node() : levels.back()};
      const bool first = level == 0;
      node->lower = [plan, entries, first, ax](const Node& self, const BlockIndex& blk, TaskSpec& t) {
        const Entry& e = entries[static_cast<size_t>(blk[ax + 1])];
        const OutBlock& b = plan.blocks[e.block];
        BlockIndex src(blk.begin() + (first ? 1 : 0), blk.end());
        const size_t at = static_cast<size_t>(first ? ax : ax + 1);
        for (int64_t s : e.srcs) {
          src[at] = s;
          t.deps.push_back(detail::key_of(*self.inputs[0], src));
        }
        t.op = first ? ops::kGroupPartial : ops::kGroupCombine;
        t.params = plan.params(b, first ? plan.slots(b, e.srcs) : std::vector<int64_t>{}, false);
      };
      levels.push_back(node);
      // The next level merges split_every entries per task, for blocks that have more.
      std::vector<Entry> next;
      for (int64_t b = 0; b < nblocks; ++b) {
        if (last_level[b] != level || static_cast<int>(last_entries[b].size()) <= options.split_every) continue;
        std::vector<int64_t> mine;
        const auto& src = last_entries[b];
        for (size_t i = 0; i < src.size(); i += static_cast<size_t>(options.split_every)) {
          Entry e{b, {}};
          for (size_t j = i; j < std::min(src.size(), i + static_cast<size_t>(options.split_every)); ++j) {
            e.srcs.push_back(src[j]);
          }
          mine.push_back(static_cast<int64_t>(next.size()));
          next.push_back(std::move(e));
        }
        last_level[b] = level + 1;
        last_entries[b] = std::move(mine);
      }
      entries = std::move(next);
      ++level;
    }
  }

  auto out = make_node(std::string(name) + "-" + op, out_shape, out_chunks, out_dtype);
  out->inputs = {a.node()};
  for (const NodePtr& l : levels) out->inputs.push_back(l);
  const auto nlevels = static_cast<int64_t>(levels.size());
  out->lower = [plan, last_level, last_entries, ax, nlevels](const Node& self, const BlockIndex& blk, TaskSpec& t) {
    const int64_t b = blk[ax];
    const OutBlock& ob = plan.blocks[b];
    const int64_t level = last_level[b];
    if (level < 0) {
      BlockIndex src = blk;
      for (int64_t c : ob.chunks) {
        src[ax] = c;
        t.deps.push_back(detail::key_of(*self.inputs[0], src));
      }
      t.op = ops::kGroupPartial;
      t.params = plan.params(ob, plan.slots(ob, ob.chunks), true);
      return;
    }
    if (level >= nlevels) throw std::logic_error("groupby_reduce: a block past the last level");
    const Node& from = *self.inputs[static_cast<size_t>(level) + 1];
    BlockIndex src{0};
    src.insert(src.end(), blk.begin(), blk.end());
    for (int64_t e : last_entries[b]) {
      src[ax + 1] = e;
      t.deps.push_back(detail::key_of(from, src));
    }
    t.op = ops::kGroupCombine;
    t.params = plan.params(ob, {}, true);
  };
  result.values = Array(out);
  if (options.fill_value && has_empty) {
    Shape mask_shape(nd, 1);
    mask_shape[ax] = ngroups;
    xt::xarray<bool> empty = xt::xarray<bool>::from_shape(std::vector<size_t>(mask_shape.begin(), mask_shape.end()));
    for (int64_t s = 0; s < ngroups; ++s) empty.data()[s] = !present[static_cast<size_t>(s)];
    Chunks mask_chunks(nd, std::vector<int64_t>{1});
    mask_chunks[ax] = out_chunks[ax];
    Array mask = from_array(empty, Shape(nd, -1)).rechunk(mask_chunks);
    result.values = where(mask, *options.fill_value, result.values);
  }
  return result;
}

GroupbyResult groupby_reduce(const Array& a, const Array& labels, int64_t axis, const std::string& op,
                             const GroupbyOptions& options, Client* client) {
  const Node& l = need(labels.node());
  if (l.shape.size() != 1 || !dtype_is_integer(l.dtype)) {
    throw std::invalid_argument("groupby_reduce: the labels must be a 1-d integer array, got " +
                                std::string(dtype_name(l.dtype)) + " of shape " + shape_to_string(l.shape));
  }
  xt::xarray<int64_t> values = labels.compute<int64_t>(client);
  return groupby_reduce(a, std::vector<int64_t>(values.begin(), values.end()), axis, op, options);
}

// ---- bin counts and histograms ------------------------------------------------------

namespace {

// A node of (blocks of `a`, length) whose row i is the kernel's output for block i of
// `a` (and of `b`, when given, on the same grid), summed over the rows.
Array per_block_sum(const Array& a, const std::optional<Array>& b, int64_t length, DType dtype, const char* name,
                    std::string op, std::string params) {
  const Node& in = need(a.node());
  const int64_t nb = detail::num_blocks(in.chunks);
  auto n = make_node(name, {nb, length}, {std::vector<int64_t>(static_cast<size_t>(nb), 1), {length}}, dtype);
  n->inputs = {a.node()};
  if (b) n->inputs.push_back(b->node());
  n->lower = [op, params](const Node& self, const BlockIndex& blk, TaskSpec& t) {
    for (const NodePtr& src : self.inputs) t.deps.push_back({src->token, static_cast<uint64_t>(blk[0])});
    t.op = op;
    t.params = params;
  };
  return Array(n).sum({0});
}

}  // namespace

Array bincount(const Array& x, const std::optional<Array>& weights, int64_t minlength, Client* client) {
  const Node& in = need(x.node());
  if (in.shape.size() != 1) {
    throw std::invalid_argument("bincount: x must be 1-d, got shape " + shape_to_string(in.shape));
  }
  if (!dtype_is_integer(in.dtype) && in.dtype != DType::kBool) {
    throw std::invalid_argument(std::string("bincount: x must be an integer array, got ") + dtype_name(in.dtype));
  }
  if (minlength < 0) throw std::invalid_argument("bincount: minlength must not be negative");
  std::optional<Array> w;
  if (weights) {
    if (weights->shape() != in.shape) {
      throw std::invalid_argument("bincount: the weights and x do not have the same length");
    }
    w = weights->rechunk(in.chunks);
  }
  int64_t length = minlength;
  if (in.shape[0] > 0) {
    xt::xarray<int64_t> lo_hi = stack({x.min().astype(DType::kInt64), x.max().astype(DType::kInt64)}).compute<int64_t>(client);
    if (lo_hi(0) < 0) throw std::invalid_argument("bincount: x must not have negative values");
    length = std::max(length, lo_hi(1) + 1);
  }
  const DType dtype = w ? DType::kFloat64 : DType::kInt64;
  if (length == 0) return zeros({0}, {-1}, dtype);
  return per_block_sum(x, w, length, dtype, "bincount", ops::kBincount,
                       encode_params(ops::BincountParams{length, w.has_value()}));
}

namespace {

// numpy.linspace(first, last, bins + 1) as NumPy computes it (in float64), then in
// float32 for float32 data.
std::vector<double> equal_edges(double first, double last, int64_t bins, bool single) {
  std::vector<double> e(static_cast<size_t>(bins) + 1);
  const double step = (last - first) / static_cast<double>(bins);
  for (int64_t i = 0; i <= bins; ++i) {
    volatile double scaled = static_cast<double>(i) * step;  // no fused multiply-add: NumPy rounds twice
    e[static_cast<size_t>(i)] = scaled + first;
  }
  e.back() = last;
  if (single)
    for (double& v : e) v = static_cast<double>(static_cast<float>(v));
  return e;
}

std::pair<double, double> outer_edges(const Array& a, std::optional<std::pair<double, double>> range, Client* client,
                                      const char* name) {
  double first, last;
  if (range) {
    std::tie(first, last) = *range;
    if (first > last) throw std::invalid_argument(std::string(name) + ": max must be larger than min in range parameter");
    if (!std::isfinite(first) || !std::isfinite(last)) {
      throw std::invalid_argument(std::string(name) + ": supplied range of [" + std::to_string(first) + ", " +
                                  std::to_string(last) + "] is not finite");
    }
  } else if (a.size() == 0) {
    first = 0;
    last = 1;
  } else {
    xt::xarray<double> lo_hi = stack({a.min().astype(DType::kFloat64), a.max().astype(DType::kFloat64)}).compute<double>(client);
    first = lo_hi(0);
    last = lo_hi(1);
    if (!std::isfinite(first) || !std::isfinite(last)) {
      throw std::invalid_argument(std::string(name) + ": autodetected range of [" + std::to_string(first) + ", " +
                                  std::to_string(last) + "] is not finite");
    }
  }
  if (first == last) {
    first -= 0.5;
    last += 0.5;
  }
  return {first, last};
}

void check_edges(const std::vector<double>& edges, const char* name) {
  if (edges.size() < 2) throw std::invalid_argument(std::string(name) + ": at least two bin edges are needed");
  for (size_t i = 1; i < edges.size(); ++i) {
    if (!(edges[i] >= edges[i - 1])) throw std::invalid_argument(std::string(name) + ": bins must increase monotonically");
  }
}

// The weights of `options` checked against `a` (numpy.histogram's rules) and put on a's
// chunks; nullopt without weights.
std::optional<Array> weights_for(const Array& a, const HistogramOptions& options, const char* name) {
  if (!options.weights) return std::nullopt;
  const Array& w = *options.weights;
  need(w.node());
  if (w.shape() != a.shape()) {
    throw std::invalid_argument(std::string(name) + ": weights should have the same shape as a: " +
                                shape_to_string(w.shape()) + " against " + shape_to_string(a.shape()));
  }
  return w.chunks() == a.chunks() ? w : w.rechunk(a.chunks());
}

// The kernel's partial sums (int64 or float64) to numpy.histogram's result: the weights'
// dtype (integer sums wrap as NumPy's do, by the cast), or with `density` the counts
// divided by their total and the bins' widths, float64.
Array histogram_result(Array sums, const std::optional<Array>& weights, const std::vector<double>& edges,
                       const HistogramOptions& options, int64_t bins_axis) {
  if (weights) sums = sums.astype(weights->dtype());
  if (!options.density) return sums;
  const int64_t nbins = static_cast<int64_t>(edges.size()) - 1;
  xt::xarray<double> widths = xt::xarray<double>::from_shape({static_cast<size_t>(nbins)});
  for (int64_t i = 0; i < nbins; ++i) widths(i) = edges[static_cast<size_t>(i) + 1] - edges[static_cast<size_t>(i)];
  const Array counts = sums.astype(DType::kFloat64);
  // For histogram_along, each line's total; the widths broadcast along the last axis.
  const Array total = bins_axis < 0 ? counts.sum() : counts.sum({-1}, {.keepdims = true});
  return counts / from_array(widths, {-1}) / total;
}

DType sums_dtype(const std::optional<Array>& weights) {
  if (!weights) return DType::kInt64;
  return dtype_is_integer(weights->dtype()) || weights->dtype() == DType::kBool ? DType::kInt64 : DType::kFloat64;
}

Histogram histogram_of(const Array& a, ops::HistogramParams p, const HistogramOptions& options) {
  const auto nbins = static_cast<int64_t>(p.edges.size()) - 1;
  const std::optional<Array> w = weights_for(a, options, "histogram");
  p.weighted = w.has_value();
  Histogram h;
  h.edges = p.edges;
  const DType dtype = sums_dtype(w);
  const Array sums = a.size() == 0 ? zeros({nbins}, {-1}, dtype)
                                   : per_block_sum(a, w, nbins, dtype, "histogram", ops::kHistogram, encode_params(p));
  h.counts = histogram_result(sums, w, p.edges, options, -1);
  return h;
}

Histogram histogram_along_of(const Array& a, int64_t axis, ops::HistogramParams p, const HistogramOptions& options) {
  const Node& in = need(a.node());
  const int64_t ax = axis_in(axis, in.shape.size(), "histogram_along");
  const auto nbins = static_cast<int64_t>(p.edges.size()) - 1;
  const std::optional<Array> w = weights_for(a, options, "histogram_along");
  p.axis = ax;
  p.weighted = w.has_value();
  const DType dtype = sums_dtype(w);
  Shape shape = in.shape;
  Chunks chunks = in.chunks;
  shape[ax] = static_cast<int64_t>(chunks[ax].size());
  chunks[ax] = std::vector<int64_t>(chunks[ax].size(), 1);
  shape.push_back(nbins);
  chunks.push_back({nbins});
  Histogram h;
  h.edges = p.edges;
  if (in.shape[ax] == 0 || a.size() == 0) {
    Shape s = in.shape;
    s.erase(s.begin() + ax);
    s.push_back(nbins);
    h.counts = histogram_result(zeros(s, Shape(s.size(), -1), dtype), w, p.edges, options, 0);
    return h;
  }
  auto n = make_node("histogram_along", shape, chunks, dtype);
  n->inputs = {a.node()};
  if (w) n->inputs.push_back(w->node());
  const std::string params = encode_params(p);
  n->lower = [params](const Node& self, const BlockIndex& blk, TaskSpec& t) {
    for (const NodePtr& src : self.inputs) t.deps.push_back(detail::key_of(*src, BlockIndex(blk.begin(), blk.end() - 1)));
    t.op = ops::kHistogram;
    t.params = params;
  };
  h.counts = histogram_result(Array(n).sum({ax}), w, p.edges, options, 0);
  return h;
}

ops::HistogramParams equal_bins(const Array& a, int64_t bins, std::pair<double, double> edges) {
  ops::HistogramParams p;
  p.single = a.dtype() == DType::kFloat32;
  p.uniform = true;
  p.edges = equal_edges(edges.first, edges.second, bins, p.single);
  return p;
}

}  // namespace

Histogram histogram(const Array& a, int64_t bins, std::optional<std::pair<double, double>> range,
                    const HistogramOptions& options, Client* client) {
  need(a.node());
  if (bins < 1) throw std::invalid_argument("histogram: bins must be at least 1, got " + std::to_string(bins));
  return histogram_of(a, equal_bins(a, bins, outer_edges(a, range, client, "histogram")), options);
}

Histogram histogram(const Array& a, int64_t bins, std::optional<std::pair<double, double>> range, Client* client) {
  return histogram(a, bins, range, HistogramOptions{}, client);
}

Histogram histogram(const Array& a, const std::vector<double>& edges, const HistogramOptions& options) {
  need(a.node());
  check_edges(edges, "histogram");
  ops::HistogramParams p;
  p.edges = edges;
  return histogram_of(a, p, options);
}

Histogram histogram_along(const Array& a, int64_t axis, int64_t bins, std::pair<double, double> range,
                          const HistogramOptions& options) {
  need(a.node());
  if (bins < 1) throw std::invalid_argument("histogram_along: bins must be at least 1, got " + std::to_string(bins));
  return histogram_along_of(a, axis, equal_bins(a, bins, outer_edges(a, range, nullptr, "histogram_along")), options);
}

Histogram histogram_along(const Array& a, int64_t axis, const std::vector<double>& edges,
                          const HistogramOptions& options) {
  need(a.node());
  check_edges(edges, "histogram_along");
  ops::HistogramParams p;
  p.edges = edges;
  return histogram_along_of(a, axis, p, options);
}

// ---- distinct values ------------------------------------------------------------------

namespace {

// One output per block of `a` (sizes: `sizes`, blocks of size 0 left out), by `op`.
Array per_block(const Array& a, const std::vector<int64_t>& sizes, DType dtype, const char* op) {
  std::vector<uint64_t> block;
  std::vector<int64_t> chunks;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] == 0) continue;
    block.push_back(i);
    chunks.push_back(sizes[i]);
  }
  const int64_t total = std::accumulate(chunks.begin(), chunks.end(), int64_t{0});
  auto n = make_node(op, {total}, {chunks}, dtype);
  n->inputs = {a.node()};
  n->lower = [block, op](const Node& self, const BlockIndex& blk, TaskSpec& t) {
    t.deps.push_back({self.inputs[0]->token, block[static_cast<size_t>(blk[0])]});
    t.op = op;
  };
  return Array(n);
}

template <typename T>
bool is_nan_value(T x) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::isnan(x);
  } else {
    return false;
  }
}

template <typename T>
bool nan_last_less(T x, T y) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(x)) return false;
    if (std::isnan(y)) return true;
  }
  return x < y;
}

}  // namespace

Unique unique(const Array& a, bool return_counts, Client* client) {
  const Node& in = need(a.node());
  Unique u;
  const int64_t nb = detail::num_blocks(in.chunks);
  std::vector<int64_t> sizes;
  if (a.size() > 0) {
    xt::xarray<int64_t> per = per_block(a, std::vector<int64_t>(static_cast<size_t>(nb), 1), DType::kInt64,
                                        ops::kUniqueCount)
                                  .compute<int64_t>(client);
    sizes.assign(per.begin(), per.end());
  }
  const int64_t total = std::accumulate(sizes.begin(), sizes.end(), int64_t{0});
  visit_dtype(in.dtype, [&](auto tag) {
    using T = decltype(tag);
    // Merged on the client in float64 or 64-bit integers, exact for every dtype.
    using W = std::conditional_t<std::is_floating_point_v<T>, double,
                                 std::conditional_t<std::is_unsigned_v<T> && !std::is_same_v<T, bool>, uint64_t, int64_t>>;
    std::vector<W> values;
    std::vector<int64_t> counts;
    if (total > 0) {
      xt::xarray<W> v = per_block(a, sizes, in.dtype, ops::kUniqueValues).compute<W>(client);
      values.assign(v.begin(), v.end());
      if (return_counts) {
        xt::xarray<int64_t> c = per_block(a, sizes, DType::kInt64, ops::kUniqueCounts).compute<int64_t>(client);
        counts.assign(c.begin(), c.end());
      } else {
        counts.assign(values.size(), 0);
      }
    }
    std::vector<size_t> order(values.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t i, size_t j) { return nan_last_less(values[i], values[j]); });
    std::vector<W> mv;
    std::vector<int64_t> mc;
    for (size_t i : order) {
      const bool same = !mv.empty() && (mv.back() == values[i] || (is_nan_value(mv.back()) && is_nan_value(values[i])));
      if (!same) {
        mv.push_back(values[i]);
        mc.push_back(0);
      }
      mc.back() += counts[i];
    }
    if (mv.empty()) {
      u.values = zeros({0}, {-1}, in.dtype);
      if (return_counts) u.counts = zeros({0}, {-1}, DType::kInt64);
      return;
    }
    xt::xarray<W> xv = xt::xarray<W>::from_shape({mv.size()});
    std::copy(mv.begin(), mv.end(), xv.begin());
    u.values = from_array(xv, {-1}, client).astype(in.dtype);
    if (return_counts) {
      xt::xarray<int64_t> xc = xt::xarray<int64_t>::from_shape({mc.size()});
      std::copy(mc.begin(), mc.end(), xc.begin());
      u.counts = from_array(xc, {-1}, client);
    }
  });
  return u;
}

}  // namespace rsdat
