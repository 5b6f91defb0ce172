// The built-in ops, by family. Each family's header declares its ops' names, typed
// parameters and dtype rules; the client lowers array expressions to tasks naming these
// ops, and the kernels decode the same parameters. Every kernel writes a fresh output
// chunk of the spec's dtype and shape. The elementwise functions and the pairwise
// reductions are listed once, in rsdat/elementwise_ops.def and rsdat/reductions.def.
#pragma once

#include <string_view>

#include "ops/creation.hpp"
#include "ops/elementwise.hpp"
#include "ops/group.hpp"
#include "ops/layout.hpp"
#include "ops/linalg.hpp"
#include "ops/order.hpp"
#include "ops/phenology.hpp"
#include "ops/op_registry.hpp"
#include "ops/reduce.hpp"
#include "ops/scan.hpp"
#include "ops/window.hpp"

namespace rsdat::ops {

void register_builtin_ops(OpRegistry& registry);
// Whether `op` is registered as data-bound (CostClass::kDataBound).
bool is_data_bound(std::string_view op);

}  // namespace rsdat::ops
