// Conversions between wire structs and runtime types, with the checks that make a
// peer's message safe to act on. Readers may throw kj::Exception on malformed
// input: call these inside the decode border (the servers' handlers).
#pragma once

#include <string>
#include <vector>

#include "rsdat.capnp.h"
#include "core/status.hpp"
#include "core/task.hpp"
#include "core/task_group.hpp"

namespace rsdat {

inline constexpr size_t kMaxDims = 32;
inline constexpr size_t kMaxOpName = 256;
inline constexpr size_t kMaxParamsBytes = 16u << 20;
inline constexpr size_t kMaxDeps = 1u << 20;
inline constexpr int64_t kMaxChunkBytes = int64_t{1} << 40;
inline constexpr uint64_t kMaxGridChunks = uint64_t{1} << 23;  // a group's chunks summed over its axes

inline TaskKey to_key(wire::Key::Reader k) { return {k.getToken(), k.getChunk()}; }
inline void set_key(wire::Key::Builder b, const TaskKey& k) {
  b.setToken(k.token);
  b.setChunk(k.chunk);
}

Result<DType> to_dtype(wire::DType t);
inline wire::DType to_wire(DType t) { return static_cast<wire::DType>(static_cast<uint16_t>(t)); }

// A shape from the wire: at most kMaxDims dims, product within kMaxChunkBytes.
Result<Shape> to_shape(capnp::List<uint64_t>::Reader s, DType dtype);
void set_shape(capnp::List<uint64_t>::Builder b, const Shape& s);

Result<TaskSpec> to_task_spec(wire::TaskSpec::Reader r);
void set_task_spec(wire::TaskSpec::Builder b, const TaskSpec& spec);

// A group from the wire, validated (TaskGroup::validate).
Result<TaskGroup> to_task_group(wire::TaskGroup::Reader r);
void set_task_group(wire::TaskGroup::Builder b, const TaskGroup& g);
// A submitted graph's parts: its `tasks` as a first part, then `parts`.
Result<std::vector<GraphPart>> to_graph_parts(wire::SubmitGraph::Reader r);
void set_graph_parts(wire::SubmitGraph::Builder b, const std::vector<GraphPart>& parts);

}  // namespace rsdat
