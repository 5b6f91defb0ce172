// Keys, ids and task specs shared by scheduler, worker and client.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/chunk.hpp"
#include "rsdat/dtype.hpp"

namespace rsdat {

// The name of one chunk result: (array token, linear chunk index in its grid).
struct TaskKey {
  uint64_t token = 0;
  uint64_t chunk = 0;
  friend bool operator==(const TaskKey&, const TaskKey&) = default;
  friend auto operator<=>(const TaskKey&, const TaskKey&) = default;
  std::string to_string() const;
};

struct TaskKeyHash {
  size_t operator()(const TaskKey& k) const noexcept {
    uint64_t h = k.token * 0x9E3779B97F4A7C15ull ^ (k.chunk + 0x632BE59BD9B4E019ull + (k.token << 6));
    h ^= h >> 31;
    return static_cast<size_t>(h * 0xBF58476D1CE4E5B9ull);
  }
};

// Strong ids. Worker and client ids are assigned by the scheduler.
struct WorkerId {
  uint64_t value = 0;
  friend bool operator==(const WorkerId&, const WorkerId&) = default;
  friend auto operator<=>(const WorkerId&, const WorkerId&) = default;
};
struct ClientId {
  uint64_t value = 0;
  friend bool operator==(const ClientId&, const ClientId&) = default;
  friend auto operator<=>(const ClientId&, const ClientId&) = default;
};

struct TaskSpec {
  TaskKey key;
  std::string op;             // op registry name
  std::string params;         // encoded by core/params.hpp
  std::vector<TaskKey> deps;  // inputs in the order the op expects
  DType dtype = DType::kFloat64;
  Shape shape;                // output shape

  size_t output_nbytes() const { return static_cast<size_t>(shape_size(shape)) * dtype_size(dtype); }
};

}  // namespace rsdat

template <> struct std::hash<rsdat::TaskKey> : rsdat::TaskKeyHash {};
template <> struct std::hash<rsdat::WorkerId> {
  size_t operator()(const rsdat::WorkerId& w) const noexcept { return std::hash<uint64_t>()(w.value); }
};
template <> struct std::hash<rsdat::ClientId> {
  size_t operator()(const rsdat::ClientId& c) const noexcept { return std::hash<uint64_t>()(c.value); }
};
