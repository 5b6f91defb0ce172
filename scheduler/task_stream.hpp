// TaskStream: the most recent task events (a task ran, failed, fetched its inputs, a
// worker spilled) in a ring of fixed size, for the dashboard's task stream.
//
//   TaskStream stream(100000);
//   uint16_t op = stream.op_index("add");      // once per array, not per task
//   stream.record({.start = t0, .stop = t1, .key = k, .worker = w, .op = op});
//   std::vector<TaskEvent> recent;
//   uint64_t next = stream.copy_since(0, recent);  // what is still in the ring, oldest first
//
// record() is a store into a preallocated slot: no allocation, no lock. When the ring
// is full the oldest event is overwritten. A capacity of 0 records nothing.
//
// Thread-compatible: the scheduler's event loop records; the dashboard gets copies.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/task.hpp"

namespace rsdat::sched {

enum class TaskEventKind : uint8_t { kCompute, kError, kTransfer, kSpill, kUnspill };
const char* task_event_kind_name(TaskEventKind k);

struct TaskEvent {
  double start = 0, stop = 0;  // seconds on the scheduler's clock
  TaskKey key;                 // the task's (none for spills)
  uint64_t worker = 0;         // WorkerId::value
  uint64_t bytes = 0;          // output (compute), fetched (transfer), written or read (spill, unspill)
  uint32_t thread = 0;         // 0: the worker's event loop, n: its executor thread n
  uint16_t op = 0;             // index into ops()
  TaskEventKind kind = TaskEventKind::kCompute;
};

class TaskStream {
 public:
  // Names beyond this many distinct operations share the last index, "other".
  static constexpr size_t kMaxOps = 1024;

  explicit TaskStream(size_t capacity = 0) : ring_(capacity) {}

  void record(const TaskEvent& e) noexcept {
    if (ring_.empty()) return;
    ring_[next_ % ring_.size()] = e;
    ++next_;
  }
  size_t capacity() const { return ring_.size(); }
  // Events ever recorded; the sequence number of the next one.
  uint64_t recorded() const { return next_; }
  // Appends the events with sequence numbers from `seq` that are still in the ring,
  // oldest first, and returns recorded().
  uint64_t copy_since(uint64_t seq, std::vector<TaskEvent>& out) const;

  // The index of an operation's name, added the first time it is seen.
  uint16_t op_index(const std::string& op);
  const std::vector<std::string>& ops() const { return ops_; }

 private:
  std::vector<TaskEvent> ring_;
  uint64_t next_ = 0;
  std::vector<std::string> ops_;
  std::unordered_map<std::string, uint16_t> op_ids_;
};

}  // namespace rsdat::sched
