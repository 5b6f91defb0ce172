// The expression graph behind rsdat::Array, and its lowering to chunk tasks.
// Not installed: the public API is client/include/rsdat/.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rsdat/array.hpp"
#include "ops/builtin_ops.hpp"
#include "core/chunk.hpp"
#include "core/task.hpp"
#include "core/task_group.hpp"

namespace rsdat {
struct RasterGrid;  // rsdat/raster.hpp
}

namespace rsdat::detail {

using NodePtr = std::shared_ptr<const Node>;
using BlockIndex = std::vector<int64_t>;

// Keys held in the cluster for a persisted array; released when the last handle goes.
struct PersistHandle {
  Client* client = nullptr;
  std::vector<TaskKey> keys;
  ~PersistHandle();
};

// Elementwise nodes keep their fusable form: a program over leaf arrays on one grid.
struct ExprInfo {
  std::vector<NodePtr> leaves;
  std::vector<bool> transposed;  // leaf read as the 2-D transpose of its blocks
  // Per leaf, per leaf axis: the expression axis it follows, or -1 where the leaf has
  // size 1 and is broadcast (every block of the expression reads the leaf's block 0).
  std::vector<std::vector<int32_t>> axes;
  std::vector<ops::Instruction> program;
};

struct Node {
  uint64_t token = 0;
  std::string name;
  Shape shape;
  Chunks chunks;
  DType dtype = DType::kFloat64;
  std::vector<NodePtr> inputs;  // nodes whose keys this node's tasks read
  // How the node's tasks are made, one of:
  // - group: fills op, params and dependency patterns of the node's TaskGroup (token,
  //   dtype and chunks are set; inputs are this node's inputs), sent as one pattern;
  // - lower: fills op, params and deps of the task of one block (key, dtype, shape are
  //   set), for dependencies that follow no pattern.
  std::function<void(const Node& self, TaskGroup& group)> group;
  std::function<void(const Node& self, const BlockIndex& block, TaskSpec& task)> lower;
  std::optional<ExprInfo> expr;
  NodePtr transpose_of;  // a 2-D transpose of this node: fusable as transposed loads
  std::shared_ptr<PersistHandle> persisted;
  std::vector<std::string> dims;  // dimension names, when known (from Zarr/xarray)
  // Georeferencing of the last two axes (y, x), when known (client/raster.cpp).
  std::shared_ptr<const RasterGrid> grid;
};

// Georeferencing hooks (client/raster.cpp): where arrays are made, the grid follows.
using GridPtr = std::shared_ptr<const RasterGrid>;
// The grid of an elementwise result of shape `out`: that of the operands whose y and x
// axes are the result's. Two operands of different grids throw std::invalid_argument
// naming `op` and both grids.
GridPtr elementwise_grid(const std::vector<NodePtr>& operands, const Shape& out, const char* op);
// The grid of `in` reduced over `axes` (sorted, non-negative): kept unless y or x is reduced.
GridPtr reduced_grid(const Node& in, const std::vector<int64_t>& axes);
// The grid of a view of `in` whose output axes are `out_axes` (-1: a new axis) and
// that takes, along input axis d, `count[d]` elements from `start[d]` by `step[d]`.
GridPtr view_grid(const Node& in, const std::vector<int32_t>& out_axes, const std::vector<int64_t>& start,
                  const std::vector<int64_t>& step, const std::vector<int64_t>& count);
// `r` with `grid` on its node, when `r` is a node just made (not one of the inputs,
// which carry their own); returns r.
Array with_grid(Array r, GridPtr grid, const NodePtr& input = nullptr);

// The node behind an array; throws std::invalid_argument for an empty Array.
const Node& need(const std::shared_ptr<const Node>& n);

// Elementwise expressions (client/elementwise.cpp).
// The fusable form of an array: its own program, or a load of itself; read by a result
// of dtype `consumer`, an integer program of 32 or 64 bits is a load when the result is
// a float (it computes apart, exactly).
ExprInfo expr_of(const NodePtr& n, std::optional<DType> consumer = std::nullopt);
// Appends b's program to a's, sharing leaves.
void append_expr(ExprInfo& a, const ExprInfo& b);
// The elementwise kernel's params for `expr` producing `dtype`.
std::string expr_params(const ExprInfo& expr, DType dtype);
// The patterns of an expression's leaves (the group's inputs, with ExprInfo::axes) read
// at one block of a grid whose expression axis d follows group axis block_axes[d]
// (-1: block 0).
void add_leaf_deps(const std::vector<std::vector<int32_t>>& leaf_axes, const std::vector<int32_t>& block_axes,
                   TaskGroup& g);
// A node of that shape and chunks computing `expr`.
Array from_expr(std::string name, const Shape& shape, const Chunks& chunks, ExprInfo expr, DType dtype);
// The axes a reduction runs over (client/reduce.cpp): empty means all of them,
// negative ones count from the end; sorted. One out of range or repeated throws
// std::invalid_argument naming `name`.
std::vector<int64_t> reduction_axes(std::vector<int64_t> axes, size_t ndim, const char* name);
// The input index numpy.pad reads at position v (-before..n+after) of a padded axis of
// n elements in `mode` (constant, edge, wrap, reflect, symmetric): -1 for the constant
// (client/shape.cpp).
int64_t pad_source(int64_t v, int64_t n, const std::string& mode);
// NumPy's broadcast of `shapes`; throws std::invalid_argument naming `op` and the shapes.
Shape broadcast_shapes(const std::vector<Shape>& shapes, const char* op);

uint64_t new_token();
// A new node with a fresh token (lower, inputs and the rest left to the caller).
std::shared_ptr<Node> make_node(std::string name, Shape shape, Chunks chunks, DType dtype);
// Grid helpers.
std::vector<int64_t> blocks_per_axis(const Chunks& chunks);
int64_t num_blocks(const Chunks& chunks);
uint64_t linear_block(const Chunks& chunks, const BlockIndex& block);
BlockIndex unravel_block(const Chunks& chunks, uint64_t linear);
Shape block_shape(const Chunks& chunks, const BlockIndex& block);
Shape block_offset(const Chunks& chunks, const BlockIndex& block);
Chunks regular_chunks(const Shape& shape, const Shape& chunk_shape);
TaskKey key_of(const Node& node, const BlockIndex& block);
// The grid a rechunk from `from` to `to` goes through: `from` itself when one stage
// does (then each output copies from its overlapping inputs), else a grid whose
// pieces each lie in one input block and one output block, coarsened so pieces of
// `itemsize`-byte elements are not tiny.
Chunks rechunk_intermediate(const Chunks& from, const Chunks& to, size_t itemsize);

// Every task needed for `root` (persisted nodes contribute none), inputs first: as
// the graph is sent (one part per node), and expanded.
std::vector<GraphPart> lower_parts(const Node& root);
// The same for several roots in one graph: a node they share is lowered once.
std::vector<GraphPart> lower_parts(const std::vector<NodePtr>& roots);
std::vector<TaskSpec> lower_graph(const Node& root);
// The keys of all of a node's blocks, in C order of the block grid.
std::vector<TaskKey> all_keys(const Node& node);
// Copies the gathered blocks of `n` (`chunks[i]` holding block `keys[i]`, in C order of
// the block grid) into `out`, C order, converting to `as`. Throws ClusterError when a
// block has the wrong shape.
void assemble_blocks(const Node& n, const std::vector<TaskKey>& keys, const std::vector<Chunk>& chunks, DType as,
                     void* out);

}  // namespace rsdat::detail
