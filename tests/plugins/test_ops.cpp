// Kernels for the tests, loaded by rsdat-worker --plugin: one that works and one that
// kills the worker running it (as a kernel crashing the process would).
#include <signal.h>

#include <stdexcept>

#include "runtime/op_registry.hpp"

namespace {

rsdat::Chunk add_one(rsdat::KernelContext& ctx) {
  if (ctx.inputs.size() != 1) throw std::invalid_argument("test_add_one: one input");
  const rsdat::Chunk& in = ctx.inputs[0];
  rsdat::Chunk out = rsdat::Chunk::allocate(rsdat::DType::kFloat64, in.shape);
  for (int64_t i = 0; i < in.num_elements(); ++i) out.mutable_data<double>()[i] = in.data<double>()[i] + 1.0;
  return out;
}

rsdat::Chunk kill_worker(rsdat::KernelContext&) {
  ::raise(SIGKILL);
  return {};
}

}  // namespace

RSDAT_REGISTER_OP("test_add_one", add_one);
RSDAT_REGISTER_OP("test_kill_worker", kill_worker);
