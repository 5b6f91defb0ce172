#include "ops/op_registry.hpp"

#include <exception>

#include "ops/builtin_ops.hpp"
#include "core/task.hpp"

namespace rsdat {

OpRegistry& OpRegistry::global() {
  static OpRegistry* registry = [] {
    auto* r = new OpRegistry();
    ops::register_builtin_ops(*r);
    return r;
  }();
  return *registry;
}

bool OpRegistry::add(const std::string& name, Kernel kernel, CostClass cost) {
  std::lock_guard lock(mu_);
  return ops_.emplace(name, Entry{std::move(kernel), cost}).second;
}

// Entries are never removed, and unordered_map keeps them in place: the pointer stays
// valid after the lock is released.
const Kernel* OpRegistry::find(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = ops_.find(name);
  return it == ops_.end() ? nullptr : &it->second.kernel;
}

CostClass OpRegistry::cost_class(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = ops_.find(name);
  return it == ops_.end() ? CostClass::kComputeBound : it->second.cost;
}

Result<Chunk> run_kernel(const TaskSpec& spec, std::span<const Chunk> inputs) {
  const Kernel* kernel = OpRegistry::global().find(spec.op);
  if (!kernel) return invalid_argument("unknown op '" + spec.op + "'");
  try {
    KernelContext ctx{inputs, ParamReader(spec.params), spec.dtype, spec.shape};
    Chunk out = (*kernel)(ctx);
    if (out.dtype != spec.dtype || out.shape != spec.shape || !out.buffer ||
        out.buffer->size() < out.nbytes()) {
      return internal_error("op '" + spec.op + "' produced " + dtype_name(out.dtype) +
                            shape_to_string(out.shape) + ", expected " + dtype_name(spec.dtype) +
                            shape_to_string(spec.shape));
    }
    return out;
  } catch (const std::exception& e) {
    return task_error(e.what());
  } catch (...) {
    return task_error("unknown exception");
  }
}

}  // namespace rsdat
