// Linear algebra: matmul, dot, tensordot, outer and einsum, each lowered to one
// block contraction (the "tensordot" op, ops/linalg.hpp) over labelled axes.
//
// A task of a contraction reads, along every contracted axis, the blocks of A and B
// it pairs up and sums their products. When that would be more than kMaxBlockPairs
// pairs, the contracted axes are cut into groups: one task per group and output
// block computes a partial product, and the partials are summed by the ordinary
// tree reduction. So a task never reads more than 2 * kMaxBlockPairs blocks, however
// long the contracted axes are.
#include <algorithm>
#include <map>
#include <numeric>
#include <stdexcept>
#include <string>

#include "client/array_internal.hpp"

namespace rsdat {

using detail::make_node;
using detail::need;
using detail::Node;

namespace {

// Block products a contraction task sums at most: 16 pairs of 1000 x 1000 float64
// blocks are 256 MB of inputs.
constexpr int64_t kMaxBlockPairs = 16;

using Labels = std::vector<int64_t>;

bool has(const Labels& labels, int64_t l) { return std::find(labels.begin(), labels.end(), l) != labels.end(); }
size_t index_of(const Labels& labels, int64_t l) {
  return static_cast<size_t>(std::find(labels.begin(), labels.end(), l) - labels.begin());
}

std::string shapes_of(const Array& a, const Array& b) {
  return shape_to_string(a.shape()) + " and " + shape_to_string(b.shape());
}

// `a` with the axes whose labels are neither in `other` nor in `keep` summed out
// (einsum sums them), in a's dtype as einsum keeps it; `labels` loses them.
Array sum_lone_labels(const Array& a, Labels& labels, const Labels& other, const Labels& keep) {
  std::vector<int64_t> axes;
  Labels rest;
  for (size_t d = 0; d < labels.size(); ++d) {
    if (!has(other, labels[d]) && !has(keep, labels[d])) {
      axes.push_back(static_cast<int64_t>(d));
    } else {
      rest.push_back(labels[d]);
    }
  }
  if (axes.empty()) return a;
  labels = std::move(rest);
  Array s = a.sum(axes);
  return s.dtype() == a.dtype() ? s : s.astype(a.dtype());
}

// The contraction of a (axes labelled `al`) and b (`bl`) to the labels `out`: labels
// of both operands missing from `out` are summed over, labels of one operand only
// and not in `out` are summed out of it first. A label of both operands in `out`
// broadcasts where one has size 1; every other label must have the same size in
// both. Throws std::invalid_argument naming `op` and the shapes.
Array contract(const char* op, Array a, Labels al, Array b, Labels bl, const Labels& out) {
  const std::string shapes = shapes_of(a, b);
  a = sum_lone_labels(a, al, bl, out);
  b = sum_lone_labels(b, bl, al, out);
  const Node& na = need(a.node());
  const Node& nb = need(b.node());
  // Each label's size and chunks: A's, or B's where A lacks the label or broadcasts it.
  std::map<int64_t, int64_t> size;
  std::map<int64_t, std::vector<int64_t>> chunks;
  for (size_t d = 0; d < al.size(); ++d) {
    size[al[d]] = na.shape[d];
    chunks[al[d]] = na.chunks[d];
  }
  for (size_t d = 0; d < bl.size(); ++d) {
    const int64_t l = bl[d];
    auto it = size.find(l);
    if (it == size.end() || (it->second == 1 && nb.shape[d] != 1 && has(out, l))) {
      size[l] = nb.shape[d];
      chunks[l] = nb.chunks[d];
    } else if (it->second != nb.shape[d] && !(nb.shape[d] == 1 && has(out, l))) {
      throw std::invalid_argument(std::string(op) + ": shapes " + shapes + " do not align: an axis of size " +
                                  std::to_string(it->second) + " meets one of size " + std::to_string(nb.shape[d]));
    }
  }
  // Both operands on the same chunks along their shared axes (a broadcast axis keeps
  // its one chunk).
  auto aligned = [&](const Array& x, const Node& nx, const Labels& xl) {
    Chunks want = nx.chunks;
    for (size_t d = 0; d < xl.size(); ++d)
      if (nx.shape[d] == size[xl[d]]) want[d] = chunks[xl[d]];
    return want == nx.chunks ? x : x.rechunk(want);
  };
  a = aligned(a, na, al);
  b = aligned(b, nb, bl);

  // Contracted labels (A's order) and how their blocks are grouped: per[i] blocks
  // of label ck[i] per task, in groups[i] groups.
  Labels ck;
  for (int64_t l : al)
    if (!has(out, l)) ck.push_back(l);
  std::vector<int64_t> blocks(ck.size()), per(ck.size()), groups(ck.size());
  for (size_t i = 0; i < ck.size(); ++i) blocks[i] = per[i] = static_cast<int64_t>(chunks[ck[i]].size());
  auto pairs = [&] { return std::accumulate(per.begin(), per.end(), int64_t{1}, std::multiplies<>()); };
  while (pairs() > kMaxBlockPairs) {
    auto most = std::max_element(per.begin(), per.end());
    *most = (*most + 1) / 2;
  }
  Labels grouped;  // indices into ck of the labels cut into more than one group
  for (size_t i = 0; i < ck.size(); ++i) {
    groups[i] = (blocks[i] + per[i] - 1) / per[i];
    per[i] = (blocks[i] + groups[i] - 1) / groups[i];  // the groups as even as they can be
    if (groups[i] > 1) grouped.push_back(static_cast<int64_t>(i));
  }
  const size_t lead = grouped.size();

  // The (partial) products: one leading axis of size-1 chunks per grouped label.
  Shape shape;
  Chunks grid;
  for (int64_t i : grouped) {
    shape.push_back(groups[static_cast<size_t>(i)]);
    grid.emplace_back(static_cast<size_t>(groups[static_cast<size_t>(i)]), 1);
  }
  Labels out_labels(lead, -1);
  for (int64_t l : out) {
    shape.push_back(size[l]);
    grid.push_back(chunks[l]);
    out_labels.push_back(l);
  }
  const DType t = promote(a.dtype(), b.dtype());
  auto n = make_node(lead > 0 ? std::string(op) + "-partial" : std::string(op), shape, grid, t);
  n->inputs = {a.node(), b.node()};
  auto pattern = [&](uint32_t input, const Node& x, const Labels& xl) {
    DepPattern p = DepPattern::mapped(input, std::vector<int32_t>(xl.size(), -1));
    for (size_t d = 0; d < xl.size(); ++d) {
      const int64_t l = xl[d];
      if (has(out, l)) {
        if (x.shape[d] == size[l]) p.axis_map[d] = static_cast<int32_t>(lead + index_of(out, l));
        continue;
      }
      const size_t i = index_of(ck, l);
      if (groups[i] > 1) {
        p.axis_map[d] = static_cast<int32_t>(index_of(grouped, static_cast<int64_t>(i)));
        p.stride[d] = per[i];
      }
      p.count[d] = static_cast<uint32_t>(per[i]);
    }
    return p;
  };
  std::vector<DepPattern> deps = {pattern(0, *a.node(), al), pattern(1, *b.node(), bl)};
  ops::TensordotParams base;
  base.a_labels = al;
  base.b_labels = bl;
  base.out_labels = out_labels;
  n->group = [base, deps, ck, blocks, per, groups, grouped](const Node& self, TaskGroup& g) {
    g.op = ops::kTensordot;
    g.deps = deps;
    // A task's blocks per contracted label: fewer in a label's last group when the
    // groups do not divide its blocks evenly.
    int64_t combos = 1;
    for (int64_t i : grouped) combos *= groups[static_cast<size_t>(i)];
    std::map<std::vector<int64_t>, uint32_t> table;
    std::vector<uint32_t> of_combo(static_cast<size_t>(combos));
    for (int64_t c = 0; c < combos; ++c) {
      std::vector<int64_t> counts = per;
      int64_t rest = c;
      for (size_t j = grouped.size(); j-- > 0;) {
        const size_t i = static_cast<size_t>(grouped[j]);
        const int64_t gi = rest % groups[i];
        rest /= groups[i];
        counts[i] = std::min(per[i], blocks[i] - gi * per[i]);
      }
      auto it = table.find(counts);
      if (it == table.end()) {
        ops::TensordotParams p = base;
        p.counts = counts;
        it = table.emplace(counts, static_cast<uint32_t>(g.params.size())).first;
        g.params.push_back(ops::tensordot_params(p));
      }
      of_combo[static_cast<size_t>(c)] = it->second;
    }
    if (g.params.size() == 1) return;
    // Task i's group combination is its leading block index.
    const int64_t tasks = detail::num_blocks(self.chunks);
    const int64_t per_combo = tasks / combos;
    g.params_index.resize(static_cast<size_t>(tasks));
    for (int64_t i = 0; i < tasks; ++i) g.params_index[static_cast<size_t>(i)] = of_combo[static_cast<size_t>(i / per_combo)];
  };
  Array products(n);
  if (lead == 0) return products;
  std::vector<int64_t> axes(lead);
  std::iota(axes.begin(), axes.end(), int64_t{0});
  Array total = products.sum(axes);
  return total.dtype() == t ? total : total.astype(t);
}

// Axes of a rank-`rank` array, negative ones counted from the end; throws naming `op`.
int64_t normalized_axis(int64_t axis, size_t rank, const char* op, const std::string& shapes) {
  const int64_t r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) {
    throw std::invalid_argument(std::string(op) + ": axis " + std::to_string(axis) + " is out of range for shapes " +
                                shapes);
  }
  return axis < 0 ? axis + r : axis;
}

Array tensordot_axes(const char* op, const Array& a, const Array& b, const std::vector<int64_t>& a_axes,
                     const std::vector<int64_t>& b_axes) {
  const std::string shapes = shapes_of(a, b);
  if (a_axes.size() != b_axes.size()) {
    throw std::invalid_argument(std::string(op) + ": " + std::to_string(a_axes.size()) + " axes of a and " +
                                std::to_string(b_axes.size()) + " of b to sum over (shapes " + shapes + ")");
  }
  const size_t ra = a.ndim(), rb = b.ndim();
  Labels al(ra), bl(rb, -1);
  std::iota(al.begin(), al.end(), int64_t{0});
  std::vector<bool> a_summed(ra, false);
  for (size_t i = 0; i < a_axes.size(); ++i) {
    const int64_t x = normalized_axis(a_axes[i], ra, op, shapes), y = normalized_axis(b_axes[i], rb, op, shapes);
    if (a_summed[static_cast<size_t>(x)] || bl[static_cast<size_t>(y)] >= 0) {
      throw std::invalid_argument(std::string(op) + ": an axis is summed over twice (shapes " + shapes + ")");
    }
    if (a.shape()[static_cast<size_t>(x)] != b.shape()[static_cast<size_t>(y)]) {
      throw std::invalid_argument(std::string(op) + ": shapes " + shapes + " do not align: axis " + std::to_string(x) +
                                  " of a has size " + std::to_string(a.shape()[static_cast<size_t>(x)]) +
                                  ", axis " + std::to_string(y) + " of b " +
                                  std::to_string(b.shape()[static_cast<size_t>(y)]));
    }
    a_summed[static_cast<size_t>(x)] = true;
    bl[static_cast<size_t>(y)] = x;
  }
  Labels out;
  for (size_t d = 0; d < ra; ++d)
    if (!a_summed[d]) out.push_back(static_cast<int64_t>(d));
  for (size_t d = 0; d < rb; ++d) {
    if (bl[d] >= 0) continue;
    bl[d] = static_cast<int64_t>(ra + d);
    out.push_back(bl[d]);
  }
  return contract(op, a, al, b, bl, out);
}

// `a` so that its blocks, read flat, are contiguous runs of its flattened elements:
// one chunk along every axis but the first, which is cut to keep blocks about as big
// as a's largest.
Array flat_blocks(const Array& a) {
  const Node& n = need(a.node());
  if (n.shape.size() <= 1) return a;
  bool whole = true;
  int64_t inner = 1, biggest = 1;
  for (size_t d = 0; d < n.shape.size(); ++d) {
    if (d > 0) {
      whole = whole && n.chunks[d].size() == 1;
      inner *= n.shape[d];
    }
    biggest *= *std::max_element(n.chunks[d].begin(), n.chunks[d].end());
  }
  if (whole) return a;
  std::vector<int64_t> chunk(n.shape.size(), -1);
  chunk[0] = std::max<int64_t>(1, biggest / std::max<int64_t>(inner, 1));
  return a.rechunk(chunk);
}

// The chunks of a's flattened axis (a as flat_blocks() left it).
std::vector<int64_t> flat_chunks(const Array& a) {
  const Node& n = need(a.node());
  if (n.shape.empty()) return {1};
  int64_t inner = 1;
  for (size_t d = 1; d < n.shape.size(); ++d) inner *= n.shape[d];
  std::vector<int64_t> out;
  for (int64_t c : n.chunks[0]) out.push_back(c * inner);
  return out;
}

}  // namespace

Array matmul(const Array& a, const Array& b) {
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  const std::string shapes = shapes_of(a, b);
  if (as.empty() || bs.empty()) {
    throw std::invalid_argument("matmul: shapes " + shapes + ": a 0-d operand has no matrix product (use multiply)");
  }
  const size_t ra = as.size(), rb = bs.size();
  const int64_t ka = as[ra - 1], kb = rb == 1 ? bs[0] : bs[rb - 2];
  if (ka != kb) {
    throw std::invalid_argument("matmul: shapes " + shapes + " do not align: a's last axis has size " +
                                std::to_string(ka) + ", b's " + (rb == 1 ? "only" : "second-to-last") + " axis " +
                                std::to_string(kb));
  }
  // Batch axes, aligned from the right, broadcast; labels 0..nbatch-1, then m, k, n.
  const size_t ba = ra >= 2 ? ra - 2 : 0, bb = rb >= 2 ? rb - 2 : 0, nbatch = std::max(ba, bb);
  for (size_t i = 0; i < nbatch; ++i) {
    if (i < nbatch - ba || i < nbatch - bb) continue;
    const int64_t x = as[i - (nbatch - ba)], y = bs[i - (nbatch - bb)];
    if (x != y && x != 1 && y != 1) {
      throw std::invalid_argument("matmul: shapes " + shapes + ": the batch axes do not broadcast (" +
                                  std::to_string(x) + " against " + std::to_string(y) + ")");
    }
  }
  const int64_t m = static_cast<int64_t>(nbatch), k = m + 1, n = m + 2;
  Labels al, bl, out;
  for (size_t j = 0; j < ba; ++j) al.push_back(static_cast<int64_t>(nbatch - ba + j));
  if (ra >= 2) al.push_back(m);
  al.push_back(k);
  for (size_t j = 0; j < bb; ++j) bl.push_back(static_cast<int64_t>(nbatch - bb + j));
  bl.push_back(k);
  if (rb >= 2) bl.push_back(n);
  for (size_t i = 0; i < nbatch; ++i) out.push_back(static_cast<int64_t>(i));
  if (ra >= 2) out.push_back(m);
  if (rb >= 2) out.push_back(n);
  return contract("matmul", a, al, b, bl, out);
}

Array dot(const Array& a, const Array& b) {
  const size_t ra = a.ndim(), rb = b.ndim();
  if (ra == 0 || rb == 0) return multiply(a, b);
  const int64_t kb = rb == 1 ? b.shape()[0] : b.shape()[rb - 2];
  if (a.shape()[ra - 1] != kb) {
    throw std::invalid_argument("dot: shapes " + shapes_of(a, b) + " do not align: a's last axis has size " +
                                std::to_string(a.shape()[ra - 1]) + ", b's " +
                                (rb == 1 ? "only" : "second-to-last") + " axis " + std::to_string(kb));
  }
  return tensordot_axes("dot", a, b, {static_cast<int64_t>(ra) - 1}, {rb == 1 ? 0 : static_cast<int64_t>(rb) - 2});
}

Array tensordot(const Array& a, const Array& b, int64_t axes) {
  const size_t ra = a.ndim(), rb = b.ndim();
  if (axes < 0 || static_cast<size_t>(axes) > std::min(ra, rb)) {
    throw std::invalid_argument("tensordot: cannot sum over " + std::to_string(axes) + " axes of shapes " +
                                shapes_of(a, b));
  }
  std::vector<int64_t> a_axes, b_axes;
  for (int64_t i = 0; i < axes; ++i) {
    a_axes.push_back(static_cast<int64_t>(ra) - axes + i);
    b_axes.push_back(i);
  }
  return tensordot_axes("tensordot", a, b, a_axes, b_axes);
}

Array tensordot(const Array& a, const Array& b, const std::vector<int64_t>& a_axes,
                const std::vector<int64_t>& b_axes) {
  return tensordot_axes("tensordot", a, b, a_axes, b_axes);
}

Array outer(const Array& a_in, const Array& b_in) {
  const Array a = flat_blocks(a_in), b = flat_blocks(b_in);
  const Node& na = need(a.node());
  const Node& nb = need(b.node());
  const std::vector<int64_t> ac = flat_chunks(a), bc = flat_chunks(b);
  const Shape shape{a.size(), b.size()};
  auto n = make_node("outer", shape, Chunks{ac, bc}, promote(na.dtype, nb.dtype));
  n->inputs = {a.node(), b.node()};
  // Block (i, j) reads a's block i along its first axis and b's block j.
  auto flat_pattern = [](uint32_t input, size_t rank, int32_t axis) {
    std::vector<int32_t> map(rank, -1);
    if (rank > 0) map[0] = axis;
    return DepPattern::mapped(input, std::move(map));
  };
  std::vector<DepPattern> deps = {flat_pattern(0, na.shape.size(), 0), flat_pattern(1, nb.shape.size(), 1)};
  ops::TensordotParams p;
  p.a_labels = {0};
  p.b_labels = {1};
  p.out_labels = {0, 1};
  p.a_flat = p.b_flat = true;
  const std::string params = ops::tensordot_params(p);
  n->group = [params, deps](const Node&, TaskGroup& g) {
    g.op = ops::kTensordot;
    g.params = {params};
    g.deps = deps;
  };
  return Array(n);
}

Array einsum(const std::string& subscripts, const std::vector<Array>& operands) {
  std::string spec;
  for (char c : subscripts)
    if (c != ' ') spec += c;
  if (spec.find('.') != std::string::npos) {
    throw std::invalid_argument("einsum: '...' (broadcast axes) is not supported, in \"" + subscripts + "\"");
  }
  const size_t arrow = spec.find("->");
  const std::string lhs = spec.substr(0, arrow);
  std::vector<std::string> terms(1);
  for (char c : lhs) {
    if (c == ',') {
      terms.emplace_back();
    } else {
      terms.back() += c;
    }
  }
  std::string shapes;
  for (const Array& x : operands) shapes += (shapes.empty() ? "" : " ") + shape_to_string(x.shape());
  const std::string where = " (\"" + subscripts + "\" with shapes " + shapes + ")";
  if (operands.empty()) throw std::invalid_argument("einsum: no operands" + where);
  if (terms.size() != operands.size()) {
    throw std::invalid_argument("einsum: " + std::to_string(terms.size()) + " subscripts for " +
                                std::to_string(operands.size()) + " operands" + where);
  }
  auto label_of = [&](char c) -> int64_t {
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= 'A' && c <= 'Z') return 26 + (c - 'A');
    throw std::invalid_argument(std::string("einsum: '") + c + "' is not a subscript letter" + where);
  };
  std::vector<Labels> labels(terms.size());
  std::map<int64_t, int> uses;
  for (size_t i = 0; i < terms.size(); ++i) {
    for (char c : terms[i]) {
      const int64_t l = label_of(c);
      if (has(labels[i], l)) {
        throw std::invalid_argument(std::string("einsum: subscript '") + c +
                                    "' repeats in one operand (a diagonal), which is not supported" + where);
      }
      labels[i].push_back(l);
      ++uses[l];
    }
    if (labels[i].size() != operands[i].ndim()) {
      throw std::invalid_argument("einsum: subscripts \"" + terms[i] + "\" for an operand of " +
                                  std::to_string(operands[i].ndim()) + " dims" + where);
    }
  }
  Labels out;
  if (arrow == std::string::npos) {
    // NumPy's implicit output: the labels used once, in alphabetical order
    // (upper case first).
    std::vector<char> once;
    for (const std::string& t : terms)
      for (char c : t)
        if (uses[label_of(c)] == 1) once.push_back(c);
    std::sort(once.begin(), once.end());
    for (char c : once) out.push_back(label_of(c));
  } else {
    for (char c : spec.substr(arrow + 2)) {
      const int64_t l = label_of(c);
      if (has(out, l)) throw std::invalid_argument(std::string("einsum: output subscript '") + c + "' repeats" + where);
      if (!uses.count(l)) {
        throw std::invalid_argument(std::string("einsum: output subscript '") + c + "' is in no operand" + where);
      }
      out.push_back(l);
    }
  }
  // Every operand's sizes for a label agree (1 broadcasts where the label is kept).
  std::map<int64_t, int64_t> size;
  for (size_t i = 0; i < operands.size(); ++i) {
    for (size_t d = 0; d < labels[i].size(); ++d) {
      const int64_t l = labels[i][d], s = operands[i].shape()[d];
      auto it = size.find(l);
      if (it == size.end() || it->second == 1) {
        size[l] = s;
      } else if (s != it->second && s != 1) {
        throw std::invalid_argument("einsum: subscript '" + std::string(1, terms[i][d]) + "' has sizes " +
                                    std::to_string(it->second) + " and " + std::to_string(s) + where);
      }
    }
  }
  if (operands.size() == 1) {
    Labels l = labels[0];
    Array r = sum_lone_labels(operands[0], l, {}, out);
    std::vector<int64_t> axes;
    for (int64_t x : out) axes.push_back(static_cast<int64_t>(index_of(l, x)));
    return r.transpose(axes);
  }
  // Operands contracted pairwise, left to right, each step keeping the labels the
  // output or a later operand needs.
  Array acc = operands[0];
  Labels acc_labels = labels[0];
  for (size_t i = 1; i < operands.size(); ++i) {
    Labels keep;
    if (i + 1 == operands.size()) {
      keep = out;
    } else {
      for (const Labels* ls : {&acc_labels, &labels[i]}) {
        for (int64_t l : *ls) {
          bool later = has(out, l);
          for (size_t j = i + 1; j < operands.size() && !later; ++j) later = has(labels[j], l);
          if (later && !has(keep, l)) keep.push_back(l);
        }
      }
    }
    acc = contract("einsum", acc, acc_labels, operands[i], labels[i], keep);
    acc_labels = keep;
  }
  return acc;
}

}  // namespace rsdat
