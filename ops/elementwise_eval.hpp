// The evaluator of elementwise programs, for kernels that consume values as they are
// computed (the fused reductions). Internal to the operations library.
#pragma once

#include <functional>
#include <stdexcept>
#include <span>
#include <vector>

#include "core/chunk.hpp"
#include "ops/elementwise.hpp"
#include "ops/op_registry.hpp"

namespace rsdat::ops {

struct Program {
  DType compute;
  std::vector<Instruction> code;
  size_t max_depth = 0;
};

// Reads an elementwise program and checks it and its inputs against the output shape.
Program read_checked_program(KernelContext& ctx);

// Evaluates the program over an output of `shape` and hands the values, in the compute
// type, to the sink a block at a time: `rows` runs of `width` values (row-major in
// `values`), the first at element `offset` of the output (C order), the next `stride`
// elements further. The sink is type-erased (one instantiation per compute type) and
// called once per block of up to 1024 values. With `strip_cols` > 0 (and no transposed
// input) the output is walked as rows of that many elements, in strips of 8192 columns
// taken down every row before the next strip: for a sink that accumulates per column.
template <typename C>
using ValueSink = std::function<void(int64_t offset, int64_t width, int64_t rows, int64_t stride, const C* values)>;
template <typename C>
void run_program(const Program& prog, std::span<const Chunk> inputs, const Shape& shape, const ValueSink<C>& sink,
                 int64_t strip_cols = 0);
extern template void run_program<float>(const Program&, std::span<const Chunk>, const Shape&, const ValueSink<float>&,
                                        int64_t);
extern template void run_program<double>(const Program&, std::span<const Chunk>, const Shape&,
                                         const ValueSink<double>&, int64_t);
extern template void run_program<int64_t>(const Program&, std::span<const Chunk>, const Shape&,
                                          const ValueSink<int64_t>&, int64_t);
extern template void run_program<uint64_t>(const Program&, std::span<const Chunk>, const Shape&,
                                           const ValueSink<uint64_t>&, int64_t);

// Runs the program in its compute type, handing each run of consecutive output values
// to `segment(offset, len, values)` (a generic lambda: values are float or double);
// `strip_cols` as for run_program.
template <typename Segment>
void run_program_as_computed(const Program& prog, std::span<const Chunk> inputs, const Shape& shape,
                             Segment&& segment, int64_t strip_cols = 0) {
  auto by_rows = [&](int64_t offset, int64_t width, int64_t rows, int64_t stride, const auto* values) {
    for (int64_t r = 0; r < rows; ++r) segment(offset + r * stride, width, values + r * width);
  };
  if (!dtype_is_float(prog.compute)) throw std::invalid_argument("integer programs are for the elementwise kernel");
  if (prog.compute == DType::kFloat32) {
    run_program<float>(prog, inputs, shape, ValueSink<float>(by_rows), strip_cols);
  } else {
    run_program<double>(prog, inputs, shape, ValueSink<double>(by_rows), strip_cols);
  }
}

}  // namespace rsdat::ops
