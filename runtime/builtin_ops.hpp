// Built-in ops: their names and parameter layouts. The client lowers array
// expressions to tasks naming these ops; the kernels (builtin_ops.cpp) decode the
// same layouts. Every kernel writes a fresh output chunk of the spec's dtype and shape.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/dtype.hpp"
#include "runtime/op_registry.hpp"
#include "runtime/params.hpp"

namespace rsdat::ops {

void register_builtin_ops(OpRegistry& registry);
// Built-in ops whose run time follows the bytes they touch: no file I/O, no user
// code, no cubic work. Tiny tasks of these may run where waking a thread costs more.
bool is_data_bound(std::string_view op);

// "fill": no inputs; every element = value converted to the output dtype.
inline constexpr const char* kFill = "fill";
inline std::string fill_params(double value) { return ParamWriter().f64(value).take(); }

// "random_uniform": no inputs; uniform [0, 1) values that depend only on (seed, the
// element's linear C-order index in the whole array), so the values are the same
// whatever the chunking and the number of workers.
inline constexpr const char* kRandomUniform = "random_uniform";
inline std::string random_uniform_params(uint64_t seed, const std::vector<int64_t>& array_shape,
                                         const std::vector<int64_t>& chunk_offset) {
  return ParamWriter().u64(seed).i64s(array_shape).i64s(chunk_offset).take();
}
// The value at linear index i (exposed for tests and for checking results).
double uniform_at(uint64_t seed, uint64_t i);
// Which instructions a kernel may use: the best the CPU has, or only the baseline
// (for tests comparing the two).
enum class Isa { kBest, kBaseline };
// n values of the stream from linear index `first` (uniform_at(seed, first + j)); as
// float32 rounded down where rounding would reach 1.
void uniform_values(uint64_t seed, uint64_t first, int64_t n, double* out, Isa isa = Isa::kBest);
void uniform_values(uint64_t seed, uint64_t first, int64_t n, float* out, Isa isa = Isa::kBest);

// "coordinate": no inputs; every element = its index along `axis` in the whole array.
inline constexpr const char* kCoordinate = "coordinate";
inline std::string coordinate_params(int64_t axis, int64_t offset) { return ParamWriter().i64(axis).i64(offset).take(); }

// "elementwise": k inputs of the output's shape; a postfix program evaluated per element
// in the compute type (float32 or float64), result converted to the output dtype.
enum class Instr : uint8_t {
  kLoad = 0,   // arg: input index
  kConst,      // arg: value
  kAdd, kSub, kMul, kDiv, kNeg, kAbs, kSqrt, kExp, kLog, kPow, kMinimum, kMaximum,
  kCast,       // arg: DType; converts the top of stack through that type (astype)
  kSin, kCos,
  kLoadT,      // arg: input index; that input is 2-D and holds the transpose of the output's block
  kIsNan,      // 1 where the top is NaN, else 0
  kWhere,      // pops b, a, cond; pushes cond != 0 ? a : b
};
inline constexpr uint8_t kMaxInstr = static_cast<uint8_t>(Instr::kWhere);
struct Instruction {
  Instr op;
  double arg = 0;
};
inline constexpr const char* kElementwise = "elementwise";
inline std::string elementwise_params(DType compute, const std::vector<Instruction>& program) {
  ParamWriter w;
  w.u8(static_cast<uint8_t>(compute)).u64(program.size());
  for (const auto& ins : program) w.u8(static_cast<uint8_t>(ins.op)).f64(ins.arg);
  return w.take();
}

// "transpose": one input; output = np.transpose(input, perm).
inline constexpr const char* kTranspose = "transpose";
inline std::string transpose_params(const std::vector<int64_t>& perm) { return ParamWriter().i64s(perm).take(); }

// Reductions are trees: reduce_partial per input chunk, reduce_combine over groups of
// partials, the last step finalising. Partials keep the reduced axes with size 1.
//   kind sum:     partial dtype float64 (floats) or int64 (ints, bool)
//   kind min/max: partial dtype = input dtype
//   kind moments: partial dtype float64, shape [3] + keepdims shape: count, mean, M2
//                 (Chan et al.'s parallel update)
enum class ReduceKind : uint8_t { kSum = 0, kMin, kMax, kMoments };
// What the final step produces from the combined partial.
enum class Finalize : uint8_t { kNone = 0, kSum, kMean, kMin, kMax, kVar, kStd };
struct FinalizeSpec {
  Finalize what = Finalize::kNone;
  double count = 0;  // kMean: elements reduced into each output element
  double ddof = 0;   // kVar, kStd
};
inline void write_finalize(ParamWriter& w, const FinalizeSpec& f) {
  w.u8(static_cast<uint8_t>(f.what)).f64(f.count).f64(f.ddof);
}
// "reduce_partial": one input; axes sorted. With a finalize spec other than kNone the
// output is final (reduced axes dropped, output dtype).
inline constexpr const char* kReducePartial = "reduce_partial";
inline std::string reduce_partial_params(ReduceKind kind, const std::vector<int64_t>& axes,
                                         const FinalizeSpec& fin) {
  ParamWriter w;
  w.u8(static_cast<uint8_t>(kind)).i64s(axes);
  write_finalize(w, fin);
  return w.take();
}
// "reduce_expr_partial": reduce_partial of an elementwise program's result over the
// inputs, without storing it: params (elementwise params, its dtype, the block shape)
// followed by reduce_partial's.
inline constexpr const char* kReduceExprPartial = "reduce_expr_partial";
inline std::string reduce_expr_partial_params(const std::string& elementwise, DType dtype, const Shape& block,
                                              const std::string& reduce_partial) {
  ParamWriter w;
  w.str(elementwise).u8(static_cast<uint8_t>(dtype)).i64s(block);
  return w.take() + reduce_partial;
}
// "reduce_combine": n >= 1 partials of identical shape; elementwise combination.
inline constexpr const char* kReduceCombine = "reduce_combine";
inline std::string reduce_combine_params(ReduceKind kind, const FinalizeSpec& fin) {
  ParamWriter w;
  w.u8(static_cast<uint8_t>(kind));
  write_finalize(w, fin);
  return w.take();
}

// "matmul": 2K inputs A(i,0..K-1) then B(0..K-1,j), 2-D; output = sum_k A_k @ B_k.
inline constexpr const char* kMatmul = "matmul";
inline std::string matmul_params(int64_t k) { return ParamWriter().i64(k).take(); }

// "assemble": builds an output block from pieces of input blocks (rechunk, slicing,
// concatenation). Params: the output block's offset in the global array, then per
// input its offset in the same global coordinates. Every output element is covered
// by some input; where inputs overlap, the later input wins.
inline constexpr const char* kAssemble = "assemble";
inline std::string assemble_params(const std::vector<int64_t>& out_offset,
                                   const std::vector<std::vector<int64_t>>& in_offsets) {
  ParamWriter w;
  w.i64s(out_offset).u64(in_offsets.size());
  for (const auto& o : in_offsets) w.i64s(o);
  return w.take();
}

}  // namespace rsdat::ops
