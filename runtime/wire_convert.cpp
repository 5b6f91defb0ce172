#include "runtime/wire_convert.hpp"

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

}  // namespace rsdat
