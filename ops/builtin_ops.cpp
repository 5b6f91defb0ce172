#include "ops/builtin_ops.hpp"

#include <string>

namespace rsdat::ops {

void register_builtin_ops(OpRegistry& r) {
  register_creation_ops(r);
  register_elementwise_ops(r);
  register_layout_ops(r);
  register_reduce_ops(r);
  register_linalg_ops(r);
  register_scan_ops(r);
  register_order_ops(r);
  register_window_ops(r);
  register_group_ops(r);
  register_phenology_ops(r);
}

bool is_data_bound(std::string_view op) {
  return OpRegistry::global().cost_class(std::string(op)) == CostClass::kDataBound;
}

}  // namespace rsdat::ops
