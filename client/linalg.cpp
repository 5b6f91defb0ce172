// Linear algebra, each product lowered to one
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

}  // namespace rsdat
