#include "ops/linalg.hpp"

#include <cblas.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "ops/kernel_util.hpp"

namespace rsdat::ops {

namespace {

// Copies the elements of `src` at offsets sum_d idx[d] * strides[d], for idx in C order
// over `sizes`, to `dst` (contiguous), converting S to T.
template <typename T, typename S>
void gather(const S* src, const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides, T* dst) {
  const size_t nd = sizes.size();
  for (int64_t s : sizes)
    if (s == 0) return;
  if (nd == 0) {
    *dst = convert<T>(*src);
    return;
  }
  const int64_t inner = sizes[nd - 1], inner_stride = strides[nd - 1];
  std::vector<int64_t> idx(nd - 1, 0);
  int64_t offset = 0;
  while (true) {
    const S* s = src + offset;
    if (inner_stride == 1 && std::is_same_v<T, S>) {
      std::memcpy(dst, s, static_cast<size_t>(inner) * sizeof(T));
    } else {
      for (int64_t i = 0; i < inner; ++i) dst[i] = convert<T>(s[i * inner_stride]);
    }
    dst += inner;
    size_t d = nd - 1;
    while (d-- > 0) {
      offset += strides[d];
      if (++idx[d] < sizes[d]) break;
      offset -= strides[d] * sizes[d];
      idx[d] = 0;
    }
    if (d == static_cast<size_t>(-1)) return;
  }
}

// gather() from a chunk of any dtype.
template <typename T>
void gather_chunk(const Chunk& c, const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides, T* dst) {
  visit_dtype(c.dtype, [&](auto s) { gather(c.data<decltype(s)>(), sizes, strides, dst); });
}

// c (m x n) += a (m x k) @ b (k x n), all row-major and contiguous.
void gemm(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(m), static_cast<blasint>(n),
              static_cast<blasint>(k), 1.0f, a, static_cast<blasint>(k), b, static_cast<blasint>(n), 1.0f, c,
              static_cast<blasint>(n));
}
void gemm(const double* a, const double* b, double* c, int64_t m, int64_t n, int64_t k) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(m), static_cast<blasint>(n),
              static_cast<blasint>(k), 1.0, a, static_cast<blasint>(k), b, static_cast<blasint>(n), 1.0, c,
              static_cast<blasint>(n));
}
// Integers in unsigned 64-bit arithmetic: exact modulo 2^64, so exact after the cast to
// any narrower integer, as NumPy's wrapping integer matmul is.
void gemm(const uint64_t* a, const uint64_t* b, uint64_t* c, int64_t m, int64_t n, int64_t k) {
  for (int64_t i = 0; i < m; ++i) {
    uint64_t* row = c + i * n;
    for (int64_t l = 0; l < k; ++l) {
      const uint64_t x = a[i * k + l];
      if (x == 0) continue;
      const uint64_t* brow = b + l * n;
      for (int64_t j = 0; j < n; ++j) row[j] += x * brow[j];
    }
  }
}

// Which part each label plays in the contraction of one task.
struct Layout {
  // Batch labels (output order), A's free labels and B's free labels (output order),
  // contracted labels (A's order).
  std::vector<int64_t> batch, m, n, k;
  std::vector<int64_t> size;  // per label: its size in the output, or A's for contracted
  bool canonical = false;     // the output's labels are batch, m, n in that order
};

std::vector<int64_t> c_strides_of(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;) s[d - 1] = s[d] * shape[d];
  return s;
}

// An operand block's shape as the kernel reads it (flat: 1-D).
Shape operand_shape(const Chunk& c, bool flat) { return flat ? Shape{c.num_elements()} : c.shape; }

// Position of each label among `labels` (-1: absent).
std::array<int, kMaxLabels> positions(const std::vector<int64_t>& labels) {
  std::array<int, kMaxLabels> pos;
  pos.fill(-1);
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= 0) pos[static_cast<size_t>(labels[i])] = static_cast<int>(i);
  return pos;
}

// Packs one operand block into [batch (at the operand's own sizes)][rows][cols]
// contiguous, converted to T; returns a pointer to the packed data (the block's own
// data when it already is laid out so), and the operand's batch strides (0 for a
// broadcast label).
template <typename T>
const T* pack(const Chunk& c, bool flat, const std::vector<int64_t>& labels, const Layout& lay,
              const std::vector<int64_t>& rows, const std::vector<int64_t>& cols, std::vector<T>& storage,
              std::vector<int64_t>& batch_strides) {
  const Shape shape = operand_shape(c, flat);
  const std::vector<int64_t> strides = c_strides_of(shape);
  const auto pos = positions(labels);
  std::vector<int64_t> order;  // labels in packed order
  order.insert(order.end(), lay.batch.begin(), lay.batch.end());
  order.insert(order.end(), rows.begin(), rows.end());
  order.insert(order.end(), cols.begin(), cols.end());
  std::vector<int64_t> sizes, src_strides;
  for (int64_t l : order) {
    const int p = pos[static_cast<size_t>(l)];
    sizes.push_back(shape[p]);
    src_strides.push_back(strides[p]);
  }
  // The batch strides within the packed layout.
  int64_t inner = 1;
  for (size_t i = lay.batch.size(); i < sizes.size(); ++i) inner *= sizes[i];
  batch_strides.assign(lay.batch.size(), 0);
  for (size_t i = lay.batch.size(); i-- > 0;) {
    batch_strides[i] = sizes[i] == 1 ? 0 : inner;
    inner *= sizes[i];
  }
  if (c.dtype == dtype_of<T>() && order == labels) return c.data<T>();
  storage.resize(static_cast<size_t>(shape_size(sizes)));
  gather_chunk(c, sizes, src_strides, storage.data());
  return storage.data();
}

template <typename T>
void contract_typed(const KernelContext& ctx, const TensordotParams& p, const Layout& lay, int64_t pairs,
                    const std::vector<int64_t>& b_index, Chunk& out) {
  const auto size_of = [&](const std::vector<int64_t>& labels) {
    int64_t s = 1;
    for (int64_t l : labels) s *= lay.size[static_cast<size_t>(l)];
    return s;
  };
  const int64_t m = size_of(lay.m), n = size_of(lay.n), batches = size_of(lay.batch);
  // BLAS takes 32-bit dimensions.
  if (m > INT32_MAX || n > INT32_MAX) fail("tensordot: a block's matrix dimension exceeds 2^31");
  const int64_t out_elems = out.num_elements();
  const bool direct = lay.canonical && out.dtype == dtype_of<T>();
  std::vector<T> acc_storage;
  T* acc;
  if (direct) {
    acc = out.mutable_data<T>();
  } else {
    acc_storage.resize(static_cast<size_t>(out_elems));
    acc = acc_storage.data();
  }
  std::fill(acc, acc + out_elems, T(0));
  std::vector<T> a_storage, b_storage;
  std::vector<int64_t> a_batch, b_batch;
  std::vector<int64_t> bidx(lay.batch.size());
  for (int64_t r = 0; r < pairs; ++r) {
    const Chunk& a = ctx.inputs[static_cast<size_t>(r)];
    const Chunk& b = ctx.inputs[static_cast<size_t>(pairs + b_index[static_cast<size_t>(r)])];
    const Shape ashape = operand_shape(a, p.a_flat);
    const auto apos = positions(p.a_labels);
    int64_t k = 1;
    for (int64_t l : lay.k) k *= ashape[apos[static_cast<size_t>(l)]];
    if (m == 0 || n == 0 || k == 0) continue;
    if (k > INT32_MAX) fail("tensordot: a block's contracted size exceeds 2^31");
    const T* pa = pack<T>(a, p.a_flat, p.a_labels, lay, lay.m, lay.k, a_storage, a_batch);
    const T* pb = pack<T>(b, p.b_flat, p.b_labels, lay, lay.k, lay.n, b_storage, b_batch);
    std::fill(bidx.begin(), bidx.end(), 0);
    int64_t ao = 0, bo = 0;
    for (int64_t i = 0; i < batches; ++i) {
      gemm(pa + ao, pb + bo, acc + i * m * n, m, n, k);
      for (size_t d = bidx.size(); d-- > 0;) {
        ao += a_batch[d];
        bo += b_batch[d];
        if (++bidx[d] < lay.size[static_cast<size_t>(lay.batch[d])]) break;
        ao -= a_batch[d] * bidx[d];
        bo -= b_batch[d] * bidx[d];
        bidx[d] = 0;
      }
    }
  }
  if (direct) return;
  // The accumulator is [batch][m][n]: read it in the output's axis order.
  std::vector<int64_t> canonical;
  canonical.insert(canonical.end(), lay.batch.begin(), lay.batch.end());
  canonical.insert(canonical.end(), lay.m.begin(), lay.m.end());
  canonical.insert(canonical.end(), lay.n.begin(), lay.n.end());
  std::vector<int64_t> csizes;
  for (int64_t l : canonical) csizes.push_back(lay.size[static_cast<size_t>(l)]);
  const std::vector<int64_t> cstrides = c_strides_of(csizes);
  const auto cpos = positions(canonical);
  std::vector<int64_t> sizes, strides;
  for (size_t d = 0; d < p.out_labels.size(); ++d) {
    sizes.push_back(ctx.out_shape[d]);
    strides.push_back(p.out_labels[d] < 0 ? 0 : cstrides[cpos[static_cast<size_t>(p.out_labels[d])]]);
  }
  visit_dtype(out.dtype, [&](auto t) { gather(acc, sizes, strides, out.mutable_data<decltype(t)>()); });
}

Chunk tensordot_kernel(KernelContext& ctx) {
  const TensordotParams p = read_params<TensordotParams>(ctx, kTensordot);
  check_inputs(ctx, ctx.inputs.size(), kTensordot);
  if (p.out_labels.size() != ctx.out_shape.size()) fail("tensordot: output labels do not match the output's dims");
  if (p.a_flat && p.a_labels.size() != 1) fail("tensordot: a flat operand has one label");
  if (p.b_flat && p.b_labels.size() != 1) fail("tensordot: a flat operand has one label");
  // Each label once per operand and in the output, in range.
  auto check_labels = [](const std::vector<int64_t>& labels, bool allow_lead) {
    std::array<bool, kMaxLabels> seen{};
    for (int64_t l : labels) {
      if (l == -1 && allow_lead) continue;
      if (l < 0 || l >= kMaxLabels || seen[static_cast<size_t>(l)]) fail("tensordot: bad or repeated label");
      seen[static_cast<size_t>(l)] = true;
    }
  };
  check_labels(p.a_labels, false);
  check_labels(p.b_labels, false);
  check_labels(p.out_labels, true);
  const auto apos = positions(p.a_labels), bpos = positions(p.b_labels), opos = positions(p.out_labels);
  Layout lay;
  lay.size.assign(kMaxLabels, 1);
  for (size_t d = 0; d < p.out_labels.size(); ++d) {
    const int64_t l = p.out_labels[d];
    if (l < 0) {
      if (ctx.out_shape[d] != 1) fail("tensordot: a leading group axis of size other than 1");
      continue;
    }
    const bool in_a = apos[static_cast<size_t>(l)] >= 0, in_b = bpos[static_cast<size_t>(l)] >= 0;
    if (in_a && in_b) {
      lay.batch.push_back(l);
    } else if (in_a) {
      lay.m.push_back(l);
    } else if (in_b) {
      lay.n.push_back(l);
    } else {
      fail("tensordot: an output label in neither operand");
    }
    lay.size[static_cast<size_t>(l)] = ctx.out_shape[d];
  }
  for (int64_t l : p.a_labels) {
    if (opos[static_cast<size_t>(l)] >= 0) continue;
    if (bpos[static_cast<size_t>(l)] < 0) fail("tensordot: a label of one operand only is not summed here");
    lay.k.push_back(l);
  }
  for (int64_t l : p.b_labels) {
    if (opos[static_cast<size_t>(l)] < 0 && apos[static_cast<size_t>(l)] < 0) {
      fail("tensordot: a label of one operand only is not summed here");
    }
  }
  if (p.counts.size() != lay.k.size()) fail("tensordot: one count per contracted label expected");
  int64_t pairs = 1;
  for (int64_t c : p.counts) {
    if (c < 1 || c > (1 << 20)) fail("tensordot: bad block count");
    pairs *= c;
    if (pairs > (1 << 20)) fail("tensordot: too many blocks");
  }
  if (ctx.inputs.size() != static_cast<size_t>(2 * pairs)) {
    fail("tensordot: expected " + std::to_string(2 * pairs) + " inputs, got " + std::to_string(ctx.inputs.size()));
  }
  // B's blocks come in C order of B's axes: the r-th pair's B block, with r in C order
  // of the contracted labels in A's order.
  std::vector<int64_t> bk;  // contracted labels in B's order
  for (int64_t l : p.b_labels)
    if (opos[static_cast<size_t>(l)] < 0) bk.push_back(l);
  std::vector<int64_t> b_stride(kMaxLabels, 0);
  {
    int64_t s = 1;
    for (size_t i = bk.size(); i-- > 0;) {
      const size_t ai = static_cast<size_t>(std::find(lay.k.begin(), lay.k.end(), bk[i]) - lay.k.begin());
      b_stride[static_cast<size_t>(bk[i])] = s;
      s *= p.counts[ai];
    }
  }
  std::vector<int64_t> b_index(static_cast<size_t>(pairs));
  {
    std::vector<int64_t> r(lay.k.size(), 0);
    for (int64_t i = 0; i < pairs; ++i) {
      int64_t bi = 0;
      for (size_t d = 0; d < r.size(); ++d) bi += r[d] * b_stride[static_cast<size_t>(lay.k[d])];
      b_index[static_cast<size_t>(i)] = bi;
      for (size_t d = r.size(); d-- > 0;) {
        if (++r[d] < p.counts[d]) break;
        r[d] = 0;
      }
    }
  }
  // Every pair's shapes against the output and against each other.
  for (int64_t i = 0; i < pairs; ++i) {
    const Chunk& a = ctx.inputs[static_cast<size_t>(i)];
    const Chunk& b = ctx.inputs[static_cast<size_t>(pairs + b_index[static_cast<size_t>(i)])];
    const Shape as = operand_shape(a, p.a_flat), bs = operand_shape(b, p.b_flat);
    if (as.size() != p.a_labels.size() || bs.size() != p.b_labels.size()) {
      fail("tensordot: blocks " + shape_to_string(a.shape) + " and " + shape_to_string(b.shape) +
           " do not match their labels");
    }
    for (size_t d = 0; d < as.size(); ++d) {
      const int64_t l = p.a_labels[d];
      const bool contracted = opos[static_cast<size_t>(l)] < 0;
      const bool ok = contracted ? as[d] == bs[bpos[static_cast<size_t>(l)]]
                                 : as[d] == lay.size[static_cast<size_t>(l)] ||
                                       (as[d] == 1 && bpos[static_cast<size_t>(l)] >= 0);
      if (!ok) {
        fail("tensordot: blocks " + shape_to_string(a.shape) + " and " + shape_to_string(b.shape) + " do not make " +
             shape_to_string(ctx.out_shape));
      }
    }
    for (size_t d = 0; d < bs.size(); ++d) {
      const int64_t l = p.b_labels[d];
      if (opos[static_cast<size_t>(l)] < 0) continue;
      if (bs[d] != lay.size[static_cast<size_t>(l)] && !(bs[d] == 1 && apos[static_cast<size_t>(l)] >= 0)) {
        fail("tensordot: blocks " + shape_to_string(a.shape) + " and " + shape_to_string(b.shape) + " do not make " +
             shape_to_string(ctx.out_shape));
      }
    }
  }
  std::vector<int64_t> canonical;
  for (int64_t l : p.out_labels)
    if (l >= 0) canonical.push_back(l);
  std::vector<int64_t> want = lay.batch;
  want.insert(want.end(), lay.m.begin(), lay.m.end());
  want.insert(want.end(), lay.n.begin(), lay.n.end());
  lay.canonical = canonical == want;

  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  if (ctx.out_dtype == DType::kFloat32) {
    contract_typed<float>(ctx, p, lay, pairs, b_index, out);
  } else if (ctx.out_dtype == DType::kFloat64) {
    contract_typed<double>(ctx, p, lay, pairs, b_index, out);
  } else {
    contract_typed<uint64_t>(ctx, p, lay, pairs, b_index, out);
  }
  return out;
}

}  // namespace

void register_linalg_ops(OpRegistry& r) { r.add(kTensordot, tensordot_kernel, CostClass::kComputeBound); }

}  // namespace rsdat::ops
