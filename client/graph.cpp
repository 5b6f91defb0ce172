#include <atomic>
#include <random>
#include <stdexcept>
#include <unordered_set>

#include "client/array_internal.hpp"
#include "client/client_internal.hpp"

namespace rsdat::detail {

PersistHandle::~PersistHandle() {
  if (!client) return;
  try {
    release_if_live(client, keys);
  } catch (...) {
    // The cluster is gone: nothing to release.
  }
}

uint64_t new_token() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t base = [] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }();
  uint64_t x = base + 0x9E3779B97F4A7C15ull * (counter.fetch_add(1) + 1);
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  return x;
}

std::shared_ptr<Node> make_node(std::string name, Shape shape, Chunks chunks, DType dtype) {
  auto n = std::make_shared<Node>();
  n->token = new_token();
  n->name = std::move(name);
  n->shape = std::move(shape);
  n->chunks = std::move(chunks);
  n->dtype = dtype;
  return n;
}

std::vector<int64_t> blocks_per_axis(const Chunks& chunks) {
  std::vector<int64_t> n;
  n.reserve(chunks.size());
  for (const auto& c : chunks) n.push_back(static_cast<int64_t>(c.size()));
  return n;
}

int64_t num_blocks(const Chunks& chunks) {
  int64_t n = 1;
  for (const auto& c : chunks) n *= static_cast<int64_t>(c.size());
  return n;
}

uint64_t linear_block(const Chunks& chunks, const BlockIndex& block) {
  uint64_t idx = 0;
  for (size_t i = 0; i < chunks.size(); ++i) idx = idx * chunks[i].size() + static_cast<uint64_t>(block[i]);
  return idx;
}

BlockIndex unravel_block(const Chunks& chunks, uint64_t linear) {
  BlockIndex b(chunks.size());
  for (size_t i = chunks.size(); i-- > 0;) {
    b[i] = static_cast<int64_t>(linear % chunks[i].size());
    linear /= chunks[i].size();
  }
  return b;
}

Shape block_shape(const Chunks& chunks, const BlockIndex& block) {
  Shape s(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) s[i] = chunks[i][block[i]];
  return s;
}

Shape block_offset(const Chunks& chunks, const BlockIndex& block) {
  Shape o(chunks.size(), 0);
  for (size_t i = 0; i < chunks.size(); ++i)
    for (int64_t j = 0; j < block[i]; ++j) o[i] += chunks[i][j];
  return o;
}

Chunks regular_chunks(const Shape& shape, const Shape& chunk_shape) {
  if (chunk_shape.size() != shape.size()) {
    throw std::invalid_argument("chunk shape has " + std::to_string(chunk_shape.size()) + " dims, array has " +
                                std::to_string(shape.size()));
  }
  Chunks chunks(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) throw std::invalid_argument("negative dimension in shape " + shape_to_string(shape));
    int64_t c = chunk_shape[i] == -1 ? std::max<int64_t>(shape[i], 1) : chunk_shape[i];
    if (c <= 0) throw std::invalid_argument("chunk sizes must be positive (or -1), got " + shape_to_string(chunk_shape));
    if (shape[i] == 0) {
      chunks[i] = {0};
      continue;
    }
    for (int64_t off = 0; off < shape[i]; off += c) chunks[i].push_back(std::min(c, shape[i] - off));
  }
  return chunks;
}

TaskKey key_of(const Node& node, const BlockIndex& block) { return {node.token, linear_block(node.chunks, block)}; }

std::vector<TaskKey> all_keys(const Node& node) {
  int64_t n = num_blocks(node.chunks);
  std::vector<TaskKey> keys;
  keys.reserve(n);
  for (int64_t i = 0; i < n; ++i) keys.push_back({node.token, static_cast<uint64_t>(i)});
  return keys;
}

namespace {
std::vector<GraphPart> lower_roots(const std::vector<const Node*>& roots) {
  // Post-order walk without recursion: inputs before the nodes that read them.
  std::vector<const Node*> order;
  std::unordered_set<uint64_t> seen;
  std::vector<std::pair<const Node*, size_t>> stack;
  for (const Node* root : roots) {
    if (seen.insert(root->token).second) stack.push_back({root, 0});
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (node->persisted || next == node->inputs.size()) {
        order.push_back(node);
        stack.pop_back();
        continue;
      }
      const Node* in = node->inputs[next++].get();
      if (seen.insert(in->token).second) stack.push_back({in, 0});
    }
  }
  std::vector<GraphPart> parts;
  for (const Node* n : order) {
    if (n->persisted) continue;
    if (n->group) {
      TaskGroup g;
      g.token = n->token;
      g.dtype = n->dtype;
      g.chunks = n->chunks;
      for (const NodePtr& in : n->inputs) {
        std::vector<uint64_t> blocks;
        for (const auto& axis : in->chunks) blocks.push_back(axis.size());
        g.inputs.push_back({in->token, std::move(blocks)});
      }
      n->group(*n, g);
      parts.emplace_back(std::move(g));
      continue;
    }
    if (parts.empty() || !std::holds_alternative<std::vector<TaskSpec>>(parts.back())) {
      parts.emplace_back(std::vector<TaskSpec>{});
    }
    auto& tasks = std::get<std::vector<TaskSpec>>(parts.back());
    const int64_t nb = num_blocks(n->chunks);
    tasks.reserve(tasks.size() + static_cast<size_t>(nb));
    for (int64_t i = 0; i < nb; ++i) {
      BlockIndex b = unravel_block(n->chunks, static_cast<uint64_t>(i));
      TaskSpec t;
      t.key = {n->token, static_cast<uint64_t>(i)};
      t.dtype = n->dtype;
      t.shape = block_shape(n->chunks, b);
      n->lower(*n, b, t);
      tasks.push_back(std::move(t));
    }
  }
  return parts;
}
}  // namespace

std::vector<GraphPart> lower_parts(const Node& root) { return lower_roots({&root}); }

std::vector<GraphPart> lower_parts(const std::vector<NodePtr>& roots) {
  std::vector<const Node*> nodes;
  for (const NodePtr& r : roots) nodes.push_back(r.get());
  return lower_roots(nodes);
}

std::vector<TaskSpec> lower_graph(const Node& root) { return expand_parts(lower_parts(root)); }

}  // namespace rsdat::detail
