// TaskGroup: all the tasks of one array, described by a pattern instead of one by one.
//
// A million-chunk array is one group: its op, its output grid, its parameters (one
// set shared by every task, or a small table indexed per task) and, for each input
// the op reads, a dependency pattern. Client and scheduler share expand(), so the
// tasks a group stands for are defined in one place; a graph travels as a list of
// parts, each a group or (for arrays whose dependencies follow no pattern, such as
// rechunk) explicit TaskSpecs, inputs before the parts that read them.
//
// Dependency pattern. For output block b (C order over `chunks`), the block read
// along input axis d is
//     (axis_map[d] >= 0 ? b[axis_map[d]] : 0) * stride[d] + start[d] + r_d,
// for r_d in [0, count[d]); blocks outside the input's grid are skipped, and the keys
// come in C order of r. Elementwise: axis_map = identity, count = 1. A 2-D transpose:
// axis_map = {1, 0}. A tree-reduction step over `g` blocks of axis d: stride[d] =
// count[d] = g. Matmul block (i, j): A's (i, 0..k) then B's (0..k, j).
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/status.hpp"
#include "core/task.hpp"

namespace rsdat {

using Chunks = std::vector<std::vector<int64_t>>;  // per axis, the sizes of its chunks

struct DepPattern {
  uint32_t input = 0;             // index into TaskGroup::inputs
  std::vector<int32_t> axis_map;  // per input axis: the output axis it follows, or -1
  std::vector<int64_t> stride;
  std::vector<int64_t> start;
  std::vector<uint32_t> count;  // blocks read along the axis (>= 1)

  // Block b of the input for block b of the output (grids of equal rank).
  static DepPattern same(uint32_t input, size_t ndim);
  // One input block per output block, input axis d following output axis axis_map[d].
  static DepPattern mapped(uint32_t input, std::vector<int32_t> axis_map);
};

struct GroupInput {
  uint64_t token = 0;
  std::vector<uint64_t> blocks;  // the input array's blocks per axis
};

struct TaskGroup {
  uint64_t token = 0;
  std::string op;
  DType dtype = DType::kFloat64;
  Chunks chunks;                     // the output grid: task i computes block i, C order
  std::vector<std::string> params;   // one shared by all tasks, or a table...
  std::vector<uint32_t> params_index;  // ...with task i's entry (empty: params[i])
  std::vector<GroupInput> inputs;
  std::vector<DepPattern> deps;      // task i's deps: each pattern's keys in turn

  uint64_t size() const;  // tasks
  uint64_t deps_per_task() const;  // at most (blocks outside an input's grid are skipped)
  // Checks that every pattern fits its input and every index is in range; expand()
  // may only be called on a group that passed.
  Status validate() const;
  // Task i of the group (key, op, params, deps, dtype, shape).
  void expand(uint64_t i, TaskSpec& out) const;
};

// One part of a graph: a group, or tasks listed one by one.
using GraphPart = std::variant<TaskGroup, std::vector<TaskSpec>>;

uint64_t num_tasks(const std::vector<GraphPart>& parts);
// The dependency keys the parts expand to, at most.
uint64_t num_deps_bound(const std::vector<GraphPart>& parts);
// Every task of the parts, in order (validated groups only).
std::vector<TaskSpec> expand_parts(std::vector<GraphPart> parts);

}  // namespace rsdat
