#include "net/wire_convert.hpp"

namespace rsdat {

Result<DType> to_dtype(wire::DType t) {
  auto v = static_cast<uint16_t>(t);
  if (v >= kNumDTypes) return protocol_error("unknown dtype " + std::to_string(v));
  return static_cast<DType>(v);
}

Result<Shape> to_shape(capnp::List<uint64_t>::Reader s, DType dtype) {
  if (s.size() > kMaxDims) return protocol_error("shape with " + std::to_string(s.size()) + " dims");
  Shape out;
  out.reserve(s.size());
  __int128 bytes = dtype_size(dtype);
  for (uint64_t d : s) {
    if (d > static_cast<uint64_t>(kMaxChunkBytes)) return protocol_error("dimension too large");
    bytes *= d;
    if (bytes > kMaxChunkBytes) return protocol_error("chunk too large");
    out.push_back(static_cast<int64_t>(d));
  }
  return out;
}

void set_shape(capnp::List<uint64_t>::Builder b, const Shape& s) {
  for (size_t i = 0; i < s.size(); ++i) b.set(i, static_cast<uint64_t>(s[i]));
}

Result<TaskSpec> to_task_spec(wire::TaskSpec::Reader r) {
  TaskSpec spec;
  spec.key = to_key(r.getKey());
  auto op = r.getOp();
  if (op.size() == 0 || op.size() > kMaxOpName) return protocol_error("bad op name length");
  spec.op = op.cStr();
  auto params = r.getParams();
  if (params.size() > kMaxParamsBytes) return protocol_error("op parameters too large");
  spec.params.assign(reinterpret_cast<const char*>(params.begin()), params.size());
  auto deps = r.getDeps();
  if (deps.size() > kMaxDeps) return protocol_error("too many dependencies");
  spec.deps.reserve(deps.size());
  for (auto d : deps) spec.deps.push_back(to_key(d));
  RSDAT_ASSIGN_OR_RETURN(spec.dtype, to_dtype(r.getDtype()));
  RSDAT_ASSIGN_OR_RETURN(spec.shape, to_shape(r.getShape(), spec.dtype));
  return spec;
}

void set_task_spec(wire::TaskSpec::Builder b, const TaskSpec& spec) {
  set_key(b.initKey(), spec.key);
  b.setOp(spec.op);
  b.setParams(kj::arrayPtr(reinterpret_cast<const kj::byte*>(spec.params.data()), spec.params.size()));
  auto deps = b.initDeps(spec.deps.size());
  for (size_t i = 0; i < spec.deps.size(); ++i) set_key(deps[i], spec.deps[i]);
  b.setDtype(to_wire(spec.dtype));
  set_shape(b.initShape(spec.shape.size()), spec.shape);
}

namespace {

template <class T, class R>
std::vector<T> to_vector(R list) {
  std::vector<T> v;
  v.reserve(list.size());
  for (auto x : list) v.push_back(static_cast<T>(x));
  return v;
}

template <class B, class V>
void set_list(B b, const V& v) {
  for (size_t i = 0; i < v.size(); ++i) b.set(static_cast<unsigned>(i), v[i]);
}

}  // namespace

Result<TaskGroup> to_task_group(wire::TaskGroup::Reader r) {
  TaskGroup g;
  g.token = r.getToken();
  auto op = r.getOp();
  if (op.size() == 0 || op.size() > kMaxOpName) return protocol_error("bad op name length");
  g.op = op.cStr();
  RSDAT_ASSIGN_OR_RETURN(g.dtype, to_dtype(r.getDtype()));
  if (r.getChunks().size() > kMaxDims) return protocol_error("group grid with too many dims");
  uint64_t grid_chunks = 0;  // over all axes: what the grid costs to hold
  for (auto axis : r.getChunks()) {
    // Runs of equal chunks: (size, count) pairs.
    if (axis.size() % 2 != 0) return protocol_error("group grid axis is not (size, count) pairs");
    std::vector<int64_t> sizes;
    for (unsigned i = 0; i < axis.size(); i += 2) {
      const uint64_t size = axis[i], count = axis[i + 1];
      if (size > static_cast<uint64_t>(kMaxChunkBytes)) return protocol_error("chunk size too large");
      if (count > kMaxGridChunks - grid_chunks) {
        return protocol_error("group grid of more than " + std::to_string(kMaxGridChunks) + " chunks along its axes");
      }
      grid_chunks += count;
      sizes.insert(sizes.end(), count, static_cast<int64_t>(size));
    }
    g.chunks.push_back(std::move(sizes));
  }
  for (auto p : r.getParams()) {
    if (p.size() > kMaxParamsBytes) return protocol_error("op parameters too large");
    g.params.emplace_back(reinterpret_cast<const char*>(p.begin()), p.size());
  }
  g.params_index = to_vector<uint32_t>(r.getParamsIndex());
  for (auto in : r.getInputs()) {
    if (in.getBlocks().size() > kMaxDims) return protocol_error("group input with too many dims");
    g.inputs.push_back({in.getToken(), to_vector<uint64_t>(in.getBlocks())});
  }
  for (auto d : r.getDeps()) {
    if (d.getAxisMap().size() > kMaxDims || d.getStride().size() > kMaxDims || d.getStart().size() > kMaxDims ||
        d.getCount().size() > kMaxDims)
      return protocol_error("dependency pattern with too many dims");
    DepPattern p;
    p.input = d.getInput();
    p.axis_map = to_vector<int32_t>(d.getAxisMap());
    p.stride = to_vector<int64_t>(d.getStride());
    p.start = to_vector<int64_t>(d.getStart());
    p.count = to_vector<uint32_t>(d.getCount());
    g.deps.push_back(std::move(p));
  }
  Status st = g.validate();
  if (!st.is_ok()) return protocol_error("bad task group: " + st.message());
  return g;
}

void set_task_group(wire::TaskGroup::Builder b, const TaskGroup& g) {
  b.setToken(g.token);
  b.setOp(g.op);
  b.setDtype(to_wire(g.dtype));
  auto chunks = b.initChunks(static_cast<unsigned>(g.chunks.size()));
  for (size_t d = 0; d < g.chunks.size(); ++d) {
    std::vector<uint64_t> runs;  // (size, count) pairs
    for (int64_t c : g.chunks[d]) {
      if (!runs.empty() && runs[runs.size() - 2] == static_cast<uint64_t>(c)) {
        ++runs.back();
      } else {
        runs.push_back(static_cast<uint64_t>(c));
        runs.push_back(1);
      }
    }
    set_list(chunks.init(static_cast<unsigned>(d), static_cast<unsigned>(runs.size())), runs);
  }
  auto params = b.initParams(static_cast<unsigned>(g.params.size()));
  for (size_t i = 0; i < g.params.size(); ++i) {
    params.set(static_cast<unsigned>(i),
               kj::arrayPtr(reinterpret_cast<const kj::byte*>(g.params[i].data()), g.params[i].size()));
  }
  set_list(b.initParamsIndex(static_cast<unsigned>(g.params_index.size())), g.params_index);
  auto inputs = b.initInputs(static_cast<unsigned>(g.inputs.size()));
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    inputs[i].setToken(g.inputs[i].token);
    set_list(inputs[i].initBlocks(static_cast<unsigned>(g.inputs[i].blocks.size())), g.inputs[i].blocks);
  }
  auto deps = b.initDeps(static_cast<unsigned>(g.deps.size()));
  for (size_t i = 0; i < g.deps.size(); ++i) {
    const DepPattern& p = g.deps[i];
    deps[i].setInput(p.input);
    set_list(deps[i].initAxisMap(static_cast<unsigned>(p.axis_map.size())), p.axis_map);
    set_list(deps[i].initStride(static_cast<unsigned>(p.stride.size())), p.stride);
    set_list(deps[i].initStart(static_cast<unsigned>(p.start.size())), p.start);
    set_list(deps[i].initCount(static_cast<unsigned>(p.count.size())), p.count);
  }
}

Result<std::vector<GraphPart>> to_graph_parts(wire::SubmitGraph::Reader r) {
  std::vector<GraphPart> parts;
  auto add_tasks = [&](capnp::List<wire::TaskSpec>::Reader list) -> Status {
    std::vector<TaskSpec> tasks;
    tasks.reserve(list.size());
    for (auto t : list) {
      RSDAT_ASSIGN_OR_RETURN(TaskSpec spec, to_task_spec(t));
      tasks.push_back(std::move(spec));
    }
    parts.emplace_back(std::move(tasks));
    return Status::ok();
  };
  if (r.hasTasks()) RSDAT_RETURN_IF_ERROR(add_tasks(r.getTasks()), "graph tasks");
  size_t index = 0;
  for (auto part : r.getParts()) {
    if (part.isTasks()) {
      RSDAT_RETURN_IF_ERROR(add_tasks(part.getTasks()), "graph part " + std::to_string(index));
    } else {
      RSDAT_ASSIGN_OR_RETURN(TaskGroup g, to_task_group(part.getGroup()), "graph part " + std::to_string(index));
      parts.emplace_back(std::move(g));
    }
    ++index;
  }
  return parts;
}

void set_graph_parts(wire::SubmitGraph::Builder b, const std::vector<GraphPart>& parts) {
  auto out = b.initParts(static_cast<unsigned>(parts.size()));
  for (size_t i = 0; i < parts.size(); ++i) {
    if (const auto* g = std::get_if<TaskGroup>(&parts[i])) {
      set_task_group(out[i].initGroup(), *g);
    } else {
      const auto& tasks = std::get<std::vector<TaskSpec>>(parts[i]);
      auto list = out[i].initTasks(static_cast<unsigned>(tasks.size()));
      for (size_t j = 0; j < tasks.size(); ++j) set_task_spec(list[j], tasks[j]);
    }
  }
}

}  // namespace rsdat
