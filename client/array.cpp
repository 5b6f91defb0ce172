#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <map>
#include <numeric>
#include <optional>
#include <stdexcept>

#include "client/array_internal.hpp"
#include "client/client_internal.hpp"

namespace rsdat {

using detail::BlockIndex;
using detail::Node;
using detail::NodePtr;
using ops::Instr;
using ops::Instruction;


namespace {

using detail::expr_of;
using detail::from_expr;
using detail::make_node;
using detail::need;

// ---- creation ---------------------------------------------------------------

Array filled(const Shape& shape, const Chunks& chunks, double value, DType dtype, const char* name) {
  auto n = make_node(name, shape, chunks, dtype);
  std::string params = ops::fill_params(value);
  n->group = [params](const Node&, TaskGroup& g) {
    g.op = ops::kFill;
    g.params = {params};
  };
  return Array(n);
}

}  // namespace

// ---- Array accessors --------------------------------------------------------

const Shape& Array::shape() const { return need(node_).shape; }
const Chunks& Array::chunks() const { return need(node_).chunks; }
DType Array::dtype() const { return need(node_).dtype; }
int64_t Array::size() const { return shape_size(shape()); }
uint64_t Array::nbytes() const { return static_cast<uint64_t>(size()) * dtype_size(dtype()); }
int64_t Array::num_chunks() const { return detail::num_blocks(chunks()); }
const std::string& Array::name() const { return need(node_).name; }
const std::vector<std::string>& Array::dims() const { return need(node_).dims; }

Array Array::astype(DType t) const {
  const Node& n = need(node_);
  if (t == n.dtype) return *this;
  detail::ExprInfo e = expr_of(node_, t);
  e.program.push_back({Instr::kCast, static_cast<double>(static_cast<int>(t))});
  return detail::with_grid(from_expr("astype", n.shape, n.chunks, std::move(e), t), n.grid);
}

Array Array::transpose(std::vector<int64_t> axes) const {
  const Node& in = need(node_);
  const size_t nd = in.shape.size();
  if (axes.empty()) {
    axes.resize(nd);
    for (size_t i = 0; i < nd; ++i) axes[i] = static_cast<int64_t>(nd - 1 - i);
  }
  if (axes.size() != nd) throw std::invalid_argument("transpose: axes do not match the array's dims");
  std::vector<bool> seen(nd, false);
  for (auto& ax : axes) {
    if (ax < 0) ax += static_cast<int64_t>(nd);
    if (ax < 0 || ax >= static_cast<int64_t>(nd) || seen[ax]) throw std::invalid_argument("transpose: bad axes");
    seen[ax] = true;
  }
  bool identity = true;
  for (size_t i = 0; i < nd; ++i) identity = identity && axes[i] == static_cast<int64_t>(i);
  if (identity) return *this;
  Shape shape(nd);
  Chunks chunks(nd);
  for (size_t i = 0; i < nd; ++i) {
    shape[i] = in.shape[axes[i]];
    chunks[i] = in.chunks[axes[i]];
  }
  auto n = make_node("transpose", shape, chunks, in.dtype);
  n->inputs = {node_};
  if (nd == 2) n->transpose_of = node_;
  std::string params = ops::transpose_params(axes);
  std::vector<int32_t> src_axes(nd);
  for (size_t i = 0; i < nd; ++i) src_axes[axes[i]] = static_cast<int32_t>(i);
  n->group = [params, src_axes](const Node&, TaskGroup& g) {
    g.op = ops::kTranspose;
    g.params = {params};
    g.deps.push_back(DepPattern::mapped(0, src_axes));
  };
  if (nd >= 2 && axes[nd - 2] == static_cast<int64_t>(nd - 2) && axes[nd - 1] == static_cast<int64_t>(nd - 1)) {
    n->grid = in.grid;  // y and x stay in place
  }
  return Array(n);
}


Array Array::rechunk(std::vector<int64_t> chunk_shape) const {
  return rechunk(detail::regular_chunks(shape(), chunk_shape));
}

namespace {

// Blocks of `target` built by copying the overlapping parts of `input`'s blocks,
// converted to `dtype`.
Array rechunk_direct(const NodePtr& input, const Chunks& target, DType dtype);
Array rechunk_stages(const NodePtr& input, const Chunks& target);

// The float array `n` is a plain float-to-float astype of, if it is one: a rechunk
// then converts as it copies (the same conversion), and the astype is never stored.
NodePtr float_cast_source(const Node& n) {
  if (!n.expr || n.expr->leaves.size() != 1 || n.expr->program.size() != 2) return nullptr;
  const auto& prog = n.expr->program;
  const NodePtr& leaf = n.expr->leaves[0];
  if (prog[0].op != Instr::kLoad || prog[0].arg != 0 || prog[1].op != Instr::kCast || n.expr->transposed[0] ||
      leaf->shape != n.shape) {
    return nullptr;
  }
  return dtype_is_float(leaf->dtype) && dtype_is_float(n.dtype) ? leaf : nullptr;
}

std::vector<int64_t> boundaries(const std::vector<int64_t>& chunks) {
  std::vector<int64_t> b{0};
  for (int64_t c : chunks) b.push_back(b.back() + c);
  return b;
}

// The chunks of the grid cut by both `a`'s and `b`'s boundaries along one axis.
std::vector<int64_t> common_refinement(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  std::vector<int64_t> ba = boundaries(a), bb = boundaries(b), cuts;
  std::set_union(ba.begin(), ba.end(), bb.begin(), bb.end(), std::back_inserter(cuts));
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  std::vector<int64_t> out;
  for (size_t i = 1; i < cuts.size(); ++i) out.push_back(cuts[i] - cuts[i - 1]);
  if (out.empty()) out = a;  // a zero-length axis
  return out;
}

double mean_chunk(const std::vector<int64_t>& chunks) {
  int64_t total = 0;
  for (int64_t c : chunks) total += c;
  return chunks.empty() ? 0.0 : static_cast<double>(total) / static_cast<double>(chunks.size());
}

}  // namespace

// Pieces smaller than this are not worth a task and a transfer of their own: the
// intermediate grid of a two-stage rechunk is coarsened until its pieces reach it.
constexpr double kMinRechunkPieceBytes = 1 << 18;

Chunks detail::rechunk_intermediate(const Chunks& from, const Chunks& to, size_t itemsize) {
  Chunks mid(from.size());
  for (size_t i = 0; i < from.size(); ++i) mid[i] = common_refinement(from[i], to[i]);
  // Coarsen from the last axis inwards, joining neighbouring pieces of the same input
  // block (then a piece is read by several outputs): the last axes first, so pieces
  // stay long contiguous runs of their input block.
  for (size_t k = mid.size(); k-- > 0;) {
    double piece = static_cast<double>(itemsize);
    for (const auto& c : mid) piece *= mean_chunk(c);
    if (piece >= kMinRechunkPieceBytes) break;
    const double factor = std::ceil(kMinRechunkPieceBytes / piece);
    const double target = mean_chunk(mid[k]) * factor;
    std::vector<int64_t> joined;
    std::vector<int64_t> cuts = boundaries(from[k]);
    size_t next_cut = 1;
    int64_t pos = 0, run = 0;
    for (int64_t c : mid[k]) {
      run += c;
      pos += c;
      const bool at_cut = next_cut < cuts.size() && pos == cuts[next_cut];
      if (at_cut) ++next_cut;
      if (at_cut || static_cast<double>(run) >= target) {
        joined.push_back(run);
        run = 0;
      }
    }
    if (run > 0) joined.push_back(run);
    mid[k] = std::move(joined);
  }
  return mid;
}

Array Array::rechunk(const Chunks& target) const {
  const Node& in = need(node_);
  if (target == in.chunks) return *this;
  if (target.size() != in.shape.size()) throw std::invalid_argument("rechunk: chunks do not match the array's dims");
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t total = 0;
    for (int64_t c : target[i]) {
      if (c < 0 || (c == 0 && in.shape[i] != 0)) throw std::invalid_argument("rechunk: chunk sizes must be positive");
      total += c;
    }
    if (total != in.shape[i]) throw std::invalid_argument("rechunk: chunks along an axis must add up to its length");
  }
  // When blocks are both split and merged (each output drawing small parts of many
  // inputs), the inputs are first cut into pieces on the grid both chunkings share.
  // Each output then gathers only the pieces it needs, not its inputs whole: fewer
  // bytes moved between workers, and inputs released once cut.
  return detail::with_grid(rechunk_stages(node_, target), in.grid, node_);
}

namespace {
Array rechunk_stages(const NodePtr& node_, const Chunks& target) {
  const Node& in = *node_;
  NodePtr source = node_;
  if (NodePtr cast_of = float_cast_source(in); cast_of && cast_of->chunks == in.chunks) source = cast_of;
  Chunks mid = detail::rechunk_intermediate(in.chunks, target, dtype_size(in.dtype));
  if (mid != in.chunks && mid != target) {
    return rechunk_direct(rechunk_direct(source, mid, in.dtype).node(), target, in.dtype);
  }
  return rechunk_direct(source, target, in.dtype);
}
}  // namespace

namespace {

Array rechunk_direct(const NodePtr& input, const Chunks& target, DType dtype) {
  const Node& in = *input;
  auto n = make_node("rechunk", in.shape, target, dtype);
  n->inputs = {input};
  // Per axis, the input blocks' offsets, to find overlaps by search.
  std::vector<std::vector<int64_t>> in_starts(in.chunks.size());
  for (size_t i = 0; i < in.chunks.size(); ++i) {
    int64_t off = 0;
    for (int64_t c : in.chunks[i]) {
      in_starts[i].push_back(off);
      off += c;
    }
  }
  n->lower = [in_starts](const Node& self, const BlockIndex& b, TaskSpec& t) {
    const Node& src = *self.inputs[0];
    Shape off = detail::block_offset(self.chunks, b);
    Shape shp = detail::block_shape(self.chunks, b);
    const size_t nd = b.size();
    std::vector<int64_t> lo(nd), hi(nd);
    for (size_t i = 0; i < nd; ++i) {
      const auto& st = in_starts[i];
      lo[i] = std::upper_bound(st.begin(), st.end(), off[i]) - st.begin() - 1;
      int64_t end = off[i] + std::max<int64_t>(shp[i], 1);
      hi[i] = std::lower_bound(st.begin(), st.end(), end) - st.begin();
      if (lo[i] < 0) lo[i] = 0;
      if (hi[i] <= lo[i]) hi[i] = lo[i] + 1;
    }
    std::vector<std::vector<int64_t>> in_offsets;
    BlockIndex cur = lo;
    while (true) {
      t.deps.push_back(detail::key_of(src, cur));
      std::vector<int64_t> o(nd);
      for (size_t i = 0; i < nd; ++i) o[i] = in_starts[i][cur[i]];
      in_offsets.push_back(std::move(o));
      size_t k = nd;
      while (k-- > 0) {
        if (++cur[k] < hi[k]) break;
        cur[k] = lo[k];
      }
      if (k == static_cast<size_t>(-1)) break;
    }
    t.op = ops::kAssemble;
    t.params = ops::assemble_params(off, in_offsets);
  };
  return Array(n);
}

}  // namespace

// ---- compute ----------------------------------------------------------------

namespace {
Client& client_or_default(Client* c) {
  if (c) return *c;
  Client* d = Client::current();
  if (!d) throw ClusterError("no rsdat::Client: create one (or a LocalCluster and a Client) before compute()");
  return *d;
}

template <typename From, typename To>
void convert_block(const From* src, To* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<To>(src[i]);
}
}  // namespace

Array Array::persist(Client* c) const {
  const Node& n = need(node_);
  if (n.persisted) return *this;
  Client& client = client_or_default(c);
  std::vector<TaskKey> keys = detail::all_keys(n);
  (void)client.impl().run(detail::lower_parts(n), keys);
  auto p = std::make_shared<Node>();
  p->token = n.token;
  p->name = n.name;
  p->shape = n.shape;
  p->chunks = n.chunks;
  p->dtype = n.dtype;
  p->dims = n.dims;
  p->grid = n.grid;
  p->persisted = std::make_shared<detail::PersistHandle>();
  p->persisted->client = &client;
  p->persisted->keys = std::move(keys);
  return Array(p);
}

// compute() results up to this size travel inline, with their KeysReady.
constexpr uint64_t kInlineResultTotal = 1 << 20;

void Array::compute_into(Client* c, DType as, void* out) const {
  const Node& n = need(node_);
  Client& client = client_or_default(c);
  std::vector<TaskKey> keys = detail::all_keys(n);
  // A small result comes back with the message that says it is ready. Not a large
  // one: the scheduler would relay its bytes.
  const uint64_t result_bytes = static_cast<uint64_t>(shape_size(n.shape)) * dtype_size(n.dtype);
  const uint64_t inline_bytes = result_bytes <= kInlineResultTotal ? result_bytes : 0;
  auto where = client.impl().run(n.persisted ? std::vector<GraphPart>{} : detail::lower_parts(n), keys, inline_bytes);
  std::vector<Chunk> chunks;
  try {
    chunks = client.impl().gather(keys, where);
  } catch (...) {
    if (!n.persisted) client.impl().release(keys);
    throw;
  }
  if (!n.persisted) client.impl().release(keys);
  detail::assemble_blocks(n, keys, chunks, as, out);
}

void detail::assemble_blocks(const Node& n, const std::vector<TaskKey>& keys, const std::vector<Chunk>& chunks, DType as,
                             void* out) {
  const size_t nd = n.shape.size();
  const Shape strides = c_strides(n.shape);
  const size_t out_size = dtype_size(as);
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& ch = chunks[i];
    BlockIndex b = detail::unravel_block(n.chunks, i);
    Shape off = detail::block_offset(n.chunks, b);
    Shape shp = detail::block_shape(n.chunks, b);
    if (ch.shape != shp) throw ClusterError("chunk " + keys[i].to_string() + " came back with a wrong shape");
    if (shape_size(shp) == 0) continue;
    const int64_t row = nd == 0 ? 1 : shp[nd - 1];
    const int64_t rows = shape_size(shp) / row;
    std::vector<int64_t> idx(nd == 0 ? 0 : nd - 1, 0);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t dst = 0;
      for (size_t k = 0; k + 1 < nd; ++k) dst += (off[k] + idx[k]) * strides[k];
      if (nd > 0) dst += off[nd - 1];
      const uint8_t* src = ch.bytes() + static_cast<size_t>(r * row) * dtype_size(ch.dtype);
      uint8_t* to = static_cast<uint8_t*>(out) + static_cast<size_t>(dst) * out_size;
      if (ch.dtype == as) {
        std::memcpy(to, src, static_cast<size_t>(row) * out_size);
      } else {
        visit_dtype(ch.dtype, [&](auto f) {
          using From = decltype(f);
          visit_dtype(as, [&](auto t) {
            using To = decltype(t);
            convert_block(reinterpret_cast<const From*>(src), reinterpret_cast<To*>(to), row);
          });
        });
      }
      for (size_t k = idx.size(); k-- > 0;) {
        if (++idx[k] < shp[k]) break;
        idx[k] = 0;
      }
    }
  }
}

double Array::item(Client* c) const {
  if (size() != 1) throw std::invalid_argument("item(): the array has " + std::to_string(size()) + " elements");
  return compute<double>(c).flat(0);
}

// ---- free functions ---------------------------------------------------------

Array zeros(const Shape& shape, const Shape& chunks, DType dtype) {
  return filled(shape, detail::regular_chunks(shape, chunks), 0.0, dtype, "zeros");
}
Array ones(const Shape& shape, const Shape& chunks, DType dtype) {
  return filled(shape, detail::regular_chunks(shape, chunks), 1.0, dtype, "ones");
}
Array full(const Shape& shape, const Shape& chunks, double value, DType dtype) {
  return filled(shape, detail::regular_chunks(shape, chunks), value, dtype, "full");
}
Array full_like(const Array& a, double value, std::optional<DType> dtype) {
  const Node& n = need(a.node());
  return filled(n.shape, n.chunks, value, dtype.value_or(n.dtype), "full_like");
}
Array zeros_like(const Array& a, std::optional<DType> dtype) { return full_like(a, 0.0, dtype); }
Array ones_like(const Array& a, std::optional<DType> dtype) { return full_like(a, 1.0, dtype); }
Array empty(const Shape& shape, const Shape& chunks, DType dtype) {
  return filled(shape, detail::regular_chunks(shape, chunks), 0.0, dtype, "empty");
}

Array eye(int64_t n, std::optional<int64_t> m, int64_t k, int64_t chunk, DType dtype) {
  const int64_t cols = m.value_or(n);
  if (n < 0 || cols < 0) throw std::invalid_argument("eye: negative dimensions are not allowed");
  if (chunk < 1) throw std::invalid_argument("eye: chunk must be at least 1");
  const Shape shape{n, cols}, chunks{chunk, chunk};
  return (coordinate(shape, chunks, 1, DType::kInt64) - coordinate(shape, chunks, 0, DType::kInt64) == k).astype(dtype);
}

Array arange(double start, double stop, double step, int64_t chunk, std::optional<DType> dtype) {
  if (step == 0) throw std::invalid_argument("arange: step is 0");
  if (chunk < 1) throw std::invalid_argument("arange: chunk must be at least 1");
  const auto n = static_cast<int64_t>(std::max(0.0, std::ceil((stop - start) / step)));
  const bool ints = std::floor(start) == start && std::floor(step) == step && std::floor(stop) == stop;
  const DType t = dtype.value_or(ints ? DType::kInt64 : DType::kFloat64);
  return (coordinate({n}, {chunk}, 0, DType::kFloat64) * step + start).astype(t);
}

Array linspace(double start, double stop, int64_t num, int64_t chunk, bool endpoint, DType dtype) {
  if (num < 0) throw std::invalid_argument("linspace: num must be non-negative");
  if (chunk < 1) throw std::invalid_argument("linspace: chunk must be at least 1");
  const int64_t div = endpoint ? num - 1 : num;
  const double step = div > 0 ? (stop - start) / static_cast<double>(div) : 0.0;
  Array y = coordinate({num}, {chunk}, 0, DType::kFloat64) * step + start;
  // The last value is `stop` itself, as NumPy makes it.
  if (endpoint && num > 1) y = where(coordinate({num}, {chunk}, 0, DType::kFloat64) == static_cast<double>(num - 1), stop, y);
  return y.astype(dtype);
}

Array coordinate(const Shape& shape, const Shape& chunk_shape, int64_t axis, DType dtype) {
  if (axis < 0) axis += static_cast<int64_t>(shape.size());
  if (axis < 0 || axis >= static_cast<int64_t>(shape.size())) throw std::invalid_argument("coordinate: axis out of range");
  auto n = make_node("coordinate", shape, detail::regular_chunks(shape, chunk_shape), dtype);
  n->group = [axis](const Node& self, TaskGroup& g) {
    g.op = ops::kCoordinate;
    // One entry per block along the axis: the offset is all that differs.
    std::vector<int64_t> nb = detail::blocks_per_axis(self.chunks);
    int64_t offset = 0;
    for (int64_t c : self.chunks[axis]) {
      g.params.push_back(ops::coordinate_params(axis, offset));
      offset += c;
    }
    int64_t inner = 1;
    for (size_t d = static_cast<size_t>(axis) + 1; d < nb.size(); ++d) inner *= nb[d];
    const int64_t total = detail::num_blocks(self.chunks);
    g.params_index.resize(static_cast<size_t>(total));
    for (int64_t i = 0; i < total; ++i) g.params_index[i] = static_cast<uint32_t>((i / inner) % nb[axis]);
    if (g.params.size() == 1) g.params_index.clear();
  };
  return Array(n);
}

namespace random {
Array uniform(const Shape& shape, const Shape& chunk_shape, uint64_t seed, DType dtype) {
  if (!dtype_is_float(dtype)) throw std::invalid_argument("random::uniform: dtype must be float32 or float64");
  auto n = make_node("random_uniform", shape, detail::regular_chunks(shape, chunk_shape), dtype);
  n->group = [seed](const Node& self, TaskGroup& g) {
    g.op = ops::kRandomUniform;
    // Every block draws from its own place in the stream: one entry per task.
    const int64_t total = detail::num_blocks(self.chunks);
    g.params.reserve(static_cast<size_t>(total));
    for (int64_t i = 0; i < total; ++i) {
      g.params.push_back(ops::random_uniform_params(
          seed, self.shape, detail::block_offset(self.chunks, detail::unravel_block(self.chunks, static_cast<uint64_t>(i)))));
    }
  };
  return Array(n);
}
}  // namespace random

Array map_blocks(const std::string& op, const std::vector<Array>& inputs, DType dtype, const std::string& params) {
  if (op.empty()) throw std::invalid_argument("map_blocks: empty op name");
  if (inputs.empty()) throw std::invalid_argument("map_blocks: needs at least one input");
  const Node& first = need(inputs[0].node());
  auto n = make_node("map_blocks-" + op, first.shape, first.chunks, dtype);
  for (const Array& a : inputs) {
    const Node& na = need(a.node());
    if (na.shape != first.shape) {
      throw std::invalid_argument("map_blocks: input shapes " + shape_to_string(first.shape) + " and " +
                                  shape_to_string(na.shape) + " differ");
    }
    n->inputs.push_back(na.chunks == first.chunks ? a.node() : a.rechunk(first.chunks).node());
  }
  n->group = [op, params](const Node& self, TaskGroup& g) {
    g.op = op;
    g.params = {params};
    for (size_t i = 0; i < self.inputs.size(); ++i)
      g.deps.push_back(DepPattern::same(static_cast<uint32_t>(i), self.chunks.size()));
  };
  return Array(n);
}

}  // namespace rsdat