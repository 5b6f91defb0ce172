// The op registry: named chunk kernels that tasks refer to.
//
// Built-in ops (ops/builtin_ops.hpp) are registered when the registry is first
// used. User kernels register with RSDAT_REGISTER_OP in a plugin library that a
// worker loads from its own command line, or in a program that runs as a worker.
// A client can only name ops; it can never make a worker load code.
//
// Kernels run on the worker's oneTBB arena. They may throw: the task fails with the
// exception's message and the worker goes on. Thread-safe after start-up.
#pragma once

#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>

#include "core/chunk.hpp"
#include "core/params.hpp"
#include "core/status.hpp"

namespace rsdat {

struct KernelContext {
  std::span<const Chunk> inputs;  // in TaskSpec::deps order
  ParamReader params;
  DType out_dtype;
  const Shape& out_shape;
};

using Kernel = std::function<Chunk(KernelContext&)>;

// What bounds an op's run time. A data-bound op's time follows the bytes it touches
// (no file I/O, no user code, no cubic work), so a worker may run tiny tasks of it on
// its event loop, where waking a thread would cost more than the task.
enum class CostClass : uint8_t { kComputeBound, kDataBound, kIO };

class OpRegistry {
 public:
  static OpRegistry& global();
  // Registers `kernel` under `name`; returns false if the name is taken. User kernels
  // count as compute-bound.
  bool add(const std::string& name, Kernel kernel, CostClass cost = CostClass::kComputeBound);
  // nullptr when unknown.
  const Kernel* find(const std::string& name) const;
  // kComputeBound when unknown.
  CostClass cost_class(const std::string& name) const;

 private:
  struct Entry {
    Kernel kernel;
    CostClass cost;
  };
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> ops_;  // guarded by mu_
};

struct OpRegistrar {
  OpRegistrar(const char* name, Kernel kernel) { OpRegistry::global().add(name, std::move(kernel)); }
};

// Runs `spec`'s kernel on `inputs`, converting any exception into a task error and
// checking the output's dtype and shape against the spec.
struct TaskSpec;
Result<Chunk> run_kernel(const TaskSpec& spec, std::span<const Chunk> inputs);

}  // namespace rsdat

#define RSDAT_REGISTER_OP(name, fn) \
  static ::rsdat::OpRegistrar RSDAT_CONCAT(rsdat_op_registrar_, __LINE__)(name, fn)
