#include "rsdat/compute.hpp"

#include <unordered_set>

#include "client/array_internal.hpp"
#include "client/client_internal.hpp"

namespace rsdat {

namespace {
// Results up to this size in all travel inline, with their KeysReady (as compute()'s).
constexpr uint64_t kInlineResultTotal = 1 << 20;
}  // namespace

std::vector<HostArray> compute(const std::vector<Array>& arrays, Client* c) {
  Client* client = c ? c : Client::current();
  if (!client) throw ClusterError("no rsdat::Client: create one (or a LocalCluster and a Client) before compute()");
  std::vector<detail::NodePtr> roots, lowered;
  std::vector<TaskKey> keys, temporary;
  std::unordered_set<uint64_t> seen;
  uint64_t result_bytes = 0;
  for (const Array& a : arrays) {
    const detail::Node& n = detail::need(a.node());
    roots.push_back(a.node());
    result_bytes += static_cast<uint64_t>(shape_size(n.shape)) * dtype_size(n.dtype);
    if (!seen.insert(n.token).second) continue;  // the same array twice: asked for once
    std::vector<TaskKey> k = detail::all_keys(n);
    if (!n.persisted) {
      lowered.push_back(a.node());
      temporary.insert(temporary.end(), k.begin(), k.end());
    }
    keys.insert(keys.end(), k.begin(), k.end());
  }
  if (keys.empty()) return {};
  const uint64_t inline_bytes = result_bytes <= kInlineResultTotal ? result_bytes : 0;
  auto where = client->impl().run(detail::lower_parts(lowered), keys, inline_bytes);
  std::vector<Chunk> chunks;
  try {
    chunks = client->impl().gather(keys, where);
  } catch (...) {
    client->impl().release(temporary);
    throw;
  }
  client->impl().release(temporary);

  // Each root's blocks, by key, placed into its own buffer.
  std::unordered_map<TaskKey, size_t> index;
  for (size_t i = 0; i < keys.size(); ++i) index.emplace(keys[i], i);
  std::vector<HostArray> out;
  out.reserve(roots.size());
  for (const detail::NodePtr& r : roots) {
    HostArray h;
    h.dtype = r->dtype;
    h.shape = r->shape;
    std::vector<TaskKey> k = detail::all_keys(*r);
    const size_t item = dtype_size(r->dtype);
    if (k.size() == 1) {
      const Chunk& only = chunks[index.at(k[0])];
      auto p = reinterpret_cast<uintptr_t>(only.bytes());
      if (only.shape == r->shape && only.dtype == r->dtype && only.buffer && p % item == 0) {
        // The received block is the result: share its buffer (aliasing shared_ptr).
        h.data = std::shared_ptr<uint8_t>(only.buffer, only.buffer->data());
        out.push_back(std::move(h));
        continue;
      }
    }
    const size_t bytes = static_cast<size_t>(shape_size(r->shape)) * item;
    h.data = std::shared_ptr<uint8_t>(new uint8_t[bytes == 0 ? item : bytes], std::default_delete<uint8_t[]>());
    std::vector<Chunk> blocks;
    blocks.reserve(k.size());
    for (const TaskKey& key : k) blocks.push_back(chunks[index.at(key)]);
    detail::assemble_blocks(*r, k, blocks, r->dtype, h.data.get());
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace rsdat
