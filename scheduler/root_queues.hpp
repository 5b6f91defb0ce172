// RootQueues: the queued root tasks of each worker position (co-assignment), by order,
// and which position has the most of them.
//
// A worker whose own queue is empty takes from the far end of the longest one. Finding
// that by a scan costs one step per worker for every task taken, which at 1,000
// workers was the scheduler's largest cost; here a tree of maxima over the queue sizes
// answers in one step and is kept up to date in log2(positions) steps per change.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "core/task.hpp"

namespace rsdat::sched {

class RootQueues {
 public:
  using Queue = std::map<uint64_t, TaskKey>;

  RootQueues() { reset(1); }

  // `positions` empty queues (at least one).
  void reset(size_t positions) {
    queues_.assign(positions == 0 ? 1 : positions, {});
    leaves_ = 1;
    while (leaves_ < queues_.size()) leaves_ *= 2;
    best_.assign(2 * leaves_, 0);
    for (size_t i = 0; i < leaves_; ++i) best_[leaves_ + i] = static_cast<uint32_t>(i);  // past size(): padding
    for (size_t n = leaves_ - 1; n > 0; --n) best_[n] = pick(best_[2 * n], best_[2 * n + 1]);
  }

  size_t size() const { return queues_.size(); }
  const Queue& operator[](size_t pos) const { return queues_[pos]; }

  void emplace(size_t pos, uint64_t order, const TaskKey& key) {
    queues_[pos].emplace(order, key);
    update(pos);
  }
  void erase(size_t pos, uint64_t order) {
    queues_[pos].erase(order);
    update(pos);
  }

  // The position with the most queued roots (the lowest such position on a tie).
  size_t longest() const { return best_[1]; }

 private:
  // The better of two positions; a padding leaf loses to any position.
  uint32_t pick(uint32_t a, uint32_t b) const {
    if (b >= queues_.size()) return a;
    if (a >= queues_.size()) return b;
    const size_t sa = queues_[a].size(), sb = queues_[b].size();
    return sb > sa || (sb == sa && b < a) ? b : a;
  }
  void update(size_t pos) {
    // Every level up: the size at a node's best position changed even where the
    // position did not.
    for (size_t n = (leaves_ + pos) / 2; n > 0; n /= 2) best_[n] = pick(best_[2 * n], best_[2 * n + 1]);
  }

  std::vector<Queue> queues_;
  size_t leaves_ = 1;
  std::vector<uint32_t> best_;  // best_[n]: the position of most roots under tree node n
};

}  // namespace rsdat::sched
