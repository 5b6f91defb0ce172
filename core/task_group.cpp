#include "core/task_group.hpp"

#include <limits>

namespace rsdat {

DepPattern DepPattern::same(uint32_t input, size_t ndim) {
  std::vector<int32_t> axes(ndim);
  for (size_t d = 0; d < ndim; ++d) axes[d] = static_cast<int32_t>(d);
  return mapped(input, std::move(axes));
}

DepPattern DepPattern::mapped(uint32_t input, std::vector<int32_t> axis_map) {
  DepPattern p;
  p.input = input;
  const size_t n = axis_map.size();
  p.axis_map = std::move(axis_map);
  p.stride.assign(n, 1);
  p.start.assign(n, 0);
  p.count.assign(n, 1);
  return p;
}

uint64_t TaskGroup::size() const {
  uint64_t n = 1;
  for (const auto& axis : chunks) n *= axis.size();
  return n;
}

uint64_t TaskGroup::deps_per_task() const {
  uint64_t n = 0;
  for (const DepPattern& p : deps) {
    uint64_t keys = 1;
    for (uint32_t c : p.count) keys *= c;
    n += keys;
  }
  return n;
}

namespace {

constexpr uint64_t kMaxGroupTasks = uint64_t{1} << 32;
constexpr int64_t kMaxPatternValue = int64_t{1} << 40;

}  // namespace

Status TaskGroup::validate() const {
  if (op.empty()) return invalid_argument("group without an op");
  if (chunks.size() > 32) return invalid_argument("group grid with " + std::to_string(chunks.size()) + " dims");
  __int128 tasks = 1;
  __int128 largest_chunk = dtype_size(dtype);
  for (const auto& axis : chunks) {
    if (axis.empty()) return invalid_argument("group grid with an axis of no chunks");
    tasks *= axis.size();
    if (tasks > kMaxGroupTasks) return invalid_argument("group of more than 2^32 tasks");
    int64_t biggest = 0;
    for (int64_t c : axis) {
      if (c < 0) return invalid_argument("negative chunk size in group");
      biggest = std::max(biggest, c);
    }
    largest_chunk *= biggest;
    if (largest_chunk > (__int128{1} << 40)) return invalid_argument("group chunk too large");
  }
  if (params.empty()) return invalid_argument("group without params");
  if (!params_index.empty()) {
    if (params_index.size() != static_cast<uint64_t>(tasks)) return invalid_argument("group params index of wrong length");
    for (uint32_t p : params_index)
      if (p >= params.size()) return invalid_argument("group params index out of range");
  } else if (params.size() != 1 && params.size() != static_cast<uint64_t>(tasks)) {
    return invalid_argument("group has " + std::to_string(params.size()) + " params for " +
                            std::to_string(static_cast<uint64_t>(tasks)) + " tasks");
  }
  for (const GroupInput& in : inputs) {
    if (in.blocks.size() > 32) return invalid_argument("group input with too many dims");
    __int128 blocks = 1;
    for (uint64_t b : in.blocks) {
      blocks *= b;
      if (b == 0 || blocks > kMaxGroupTasks) return invalid_argument("group input grid out of range");
    }
  }
  __int128 deps_per_task = 0;
  for (const DepPattern& p : deps) {
    if (p.input >= inputs.size()) return invalid_argument("dependency pattern names no input");
    const size_t nd = inputs[p.input].blocks.size();
    if (p.axis_map.size() != nd || p.stride.size() != nd || p.start.size() != nd || p.count.size() != nd) {
      return invalid_argument("dependency pattern does not match its input's dims");
    }
    __int128 keys = 1;
    for (size_t d = 0; d < nd; ++d) {
      if (p.axis_map[d] < -1 || p.axis_map[d] >= static_cast<int32_t>(chunks.size()))
        return invalid_argument("dependency pattern maps to no output axis");
      if (p.count[d] == 0) return invalid_argument("dependency pattern reads no blocks");
      if (p.stride[d] < -kMaxPatternValue || p.stride[d] > kMaxPatternValue || p.start[d] < -kMaxPatternValue ||
          p.start[d] > kMaxPatternValue)
        return invalid_argument("dependency pattern out of range");
      keys *= p.count[d];
    }
    deps_per_task += keys;
    if (deps_per_task > (1 << 20)) return invalid_argument("too many dependencies per task");
  }
  return Status::ok();
}

void TaskGroup::expand(uint64_t i, TaskSpec& out) const {
  const size_t nd = chunks.size();
  int64_t block[32];
  uint64_t rest = i;
  for (size_t d = nd; d-- > 0;) {
    block[d] = static_cast<int64_t>(rest % chunks[d].size());
    rest /= chunks[d].size();
  }
  out.key = {token, i};
  out.op = op;
  out.params = params.size() == 1 ? params[0] : params[params_index.empty() ? i : params_index[i]];
  out.dtype = dtype;
  out.shape.resize(nd);
  for (size_t d = 0; d < nd; ++d) out.shape[d] = chunks[d][static_cast<size_t>(block[d])];
  out.deps.clear();
  for (const DepPattern& p : deps) {
    const GroupInput& in = inputs[p.input];
    const size_t ni = in.blocks.size();
    int64_t base[32];
    uint32_t r[32] = {};
    for (size_t d = 0; d < ni; ++d) {
      base[d] = (p.axis_map[d] >= 0 ? block[p.axis_map[d]] : 0) * p.stride[d] + p.start[d];
    }
    while (true) {
      uint64_t linear = 0;
      bool inside = true;
      for (size_t d = 0; d < ni; ++d) {
        int64_t at = base[d] + r[d];
        if (at < 0 || at >= static_cast<int64_t>(in.blocks[d])) inside = false;
        linear = linear * in.blocks[d] + static_cast<uint64_t>(at);
      }
      if (inside) out.deps.push_back({in.token, linear});
      size_t d = ni;
      while (d-- > 0) {
        if (++r[d] < p.count[d]) break;
        r[d] = 0;
      }
      if (d == static_cast<size_t>(-1)) break;
    }
  }
}

uint64_t num_tasks(const std::vector<GraphPart>& parts) {
  uint64_t n = 0;
  for (const GraphPart& part : parts) {
    if (const auto* g = std::get_if<TaskGroup>(&part)) {
      n += g->size();
    } else {
      n += std::get<std::vector<TaskSpec>>(part).size();
    }
  }
  return n;
}

uint64_t num_deps_bound(const std::vector<GraphPart>& parts) {
  uint64_t n = 0;
  for (const GraphPart& part : parts) {
    if (const auto* g = std::get_if<TaskGroup>(&part)) {
      n += g->size() * g->deps_per_task();
    } else {
      for (const TaskSpec& t : std::get<std::vector<TaskSpec>>(part)) n += t.deps.size();
    }
  }
  return n;
}

std::vector<TaskSpec> expand_parts(std::vector<GraphPart> parts) {
  std::vector<TaskSpec> tasks;
  tasks.reserve(num_tasks(parts));
  for (GraphPart& part : parts) {
    if (auto* g = std::get_if<TaskGroup>(&part)) {
      const uint64_t n = g->size();
      for (uint64_t i = 0; i < n; ++i) g->expand(i, tasks.emplace_back());
    } else {
      for (TaskSpec& t : std::get<std::vector<TaskSpec>>(part)) tasks.push_back(std::move(t));
    }
  }
  return tasks;
}

}  // namespace rsdat
