#include "ops/linalg.hpp"

#include <Eigen/Core>

#include "ops/kernel_util.hpp"

namespace rsdat::ops {

namespace {

template <typename T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <typename T>
void matmul_typed(std::span<const Chunk> in, int64_t k, Chunk& out) {
  const int64_t m = out.shape[0], p = out.shape[1];
  Eigen::Map<RowMajor<T>> c(out.mutable_data<T>(), m, p);
  c.setZero();
  std::vector<Chunk> converted;
  auto view = [&](const Chunk& ch) -> const T* {
    if (ch.dtype == dtype_of<T>()) return ch.data<T>();
    Chunk tmp = Chunk::allocate(dtype_of<T>(), ch.shape);
    convert_elements(ch, 0, dtype_of<T>(), tmp.mutable_bytes(), ch.num_elements());
    converted.push_back(tmp);
    return converted.back().data<T>();
  };
  for (int64_t i = 0; i < k; ++i) {
    const Chunk& a = in[i];
    const Chunk& b = in[k + i];
    Eigen::Map<const RowMajor<T>> ma(view(a), a.shape[0], a.shape[1]);
    Eigen::Map<const RowMajor<T>> mb(view(b), b.shape[0], b.shape[1]);
    c.noalias() += ma * mb;
  }
}

Chunk matmul_kernel(KernelContext& ctx) {
  const int64_t k = read_params<MatmulParams>(ctx, "matmul").k;
  if (k <= 0 || static_cast<size_t>(2 * k) != ctx.inputs.size()) fail("matmul: expected 2K inputs");
  check_inputs(ctx, ctx.inputs.size(), "matmul");
  if (ctx.out_shape.size() != 2) fail("matmul: output must be 2-D");
  const int64_t m = ctx.out_shape[0], p = ctx.out_shape[1];
  for (int64_t i = 0; i < k; ++i) {
    const Chunk& a = ctx.inputs[i];
    const Chunk& b = ctx.inputs[k + i];
    if (a.shape.size() != 2 || b.shape.size() != 2) fail("matmul: inputs must be 2-D");
    if (a.shape[0] != m || b.shape[1] != p || a.shape[1] != b.shape[0]) {
      fail("matmul: blocks " + shape_to_string(a.shape) + " and " + shape_to_string(b.shape) + " do not make " +
           shape_to_string(ctx.out_shape));
    }
  }
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  if (ctx.out_dtype == DType::kFloat32) {
    matmul_typed<float>(ctx.inputs, k, out);
  } else if (ctx.out_dtype == DType::kFloat64) {
    matmul_typed<double>(ctx.inputs, k, out);
  } else {
    Chunk tmp = Chunk::allocate(DType::kFloat64, ctx.out_shape);
    matmul_typed<double>(ctx.inputs, k, tmp);
    convert_elements(tmp, 0, ctx.out_dtype, out.mutable_bytes(), tmp.num_elements());
  }
  return out;
}


}  // namespace

void register_linalg_ops(OpRegistry& r) { r.add(kMatmul, matmul_kernel, CostClass::kComputeBound); }

}  // namespace rsdat::ops
