// The elementwise family: every function of rsdat/elementwise_ops.def, fused into one
// kernel that evaluates a postfix program per block of elements.
//
// "elementwise": k inputs of the output's shape; a postfix program evaluated per
// element in the compute type (float32 or float64; int64 or uint64 for a program of
// integers and bools alone, exact and wrapping as NumPy's integers do), the result
// converted to the output dtype. The client and the kernel take the result dtypes from here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "ops/op_registry.hpp"
#include "rsdat/dtype.hpp"
#include "rsdat/scalar.hpp"

namespace rsdat::ops {

enum class Instr : uint8_t {
  kLoad = 0,    // arg: input index
  kConst = 1,   // arg: value
  kCast = 14,   // arg: DType; converts the top of stack through that type (astype)
  kLoadT = 17,  // arg: input index; that input is 2-D and holds the transpose of the output's block
  kWhere = 19,  // pops b, a, cond; pushes cond != 0 ? a : b
  kWrap = 39,   // arg: an integer DType; wraps the top of stack into that type's range (an
                // integer intermediate, as NumPy stores it)
#define RSDAT_UNARY(name, Tag, code, rule, expr) k##Tag = code,
#define RSDAT_BINARY(name, Tag, code, rule, expr) k##Tag = code,
#include "rsdat/elementwise_ops.def"
};

struct Instruction {
  Instr op;
  double arg = 0;
  template <typename A> void fields(A& a) { a(op, arg); }
};

inline constexpr const char* kElementwise = "elementwise";
struct ElementwiseParams {
  static constexpr uint8_t kVersion = 1;
  DType compute = DType::kFloat64;
  std::vector<Instruction> program;
  template <typename A> void fields(A& a) { a(compute, program); }
};
inline std::string elementwise_params(DType compute, const std::vector<Instruction>& program) {
  return encode_params(ElementwiseParams{compute, program});
}

// How a function's result dtype follows from its operands' (see elementwise_ops.def).
enum class DTypeRule : uint8_t { kFloat, kNumeric, kPredicate, kArithmetic, kDivide, kPromote, kBitwise, kShift };

// Values an instruction pops (loads and constants pop none and push one; kWhere pops
// three); -1 for a byte that is no instruction.
int instr_arity(Instr op);
// The NumPy name of a function of elementwise_ops.def, else "elementwise".
const char* instr_name(Instr op);
// The result dtype of a function of elementwise_ops.def on operands of dtype a (and b).
DType result_dtype(Instr op, DType a, DType b);
DType result_dtype(Instr op, DType a);
// The same with a scalar operand, which behaves as a Python scalar of its kind does in
// NumPy: the array's dtype wins, unless the scalar is a float and the array is not
// (then float64), or the function's rule says otherwise (bool for predicates).
DType scalar_result_dtype(Instr op, DType a, double scalar, ScalarKind kind);

void register_elementwise_ops(OpRegistry& registry);

}  // namespace rsdat::ops
