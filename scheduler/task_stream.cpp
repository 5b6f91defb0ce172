#include "scheduler/task_stream.hpp"

#include <algorithm>

namespace rsdat::sched {

const char* task_event_kind_name(TaskEventKind k) {
  switch (k) {
    case TaskEventKind::kCompute: return "compute";
    case TaskEventKind::kError: return "error";
    case TaskEventKind::kTransfer: return "transfer";
    case TaskEventKind::kSpill: return "spill";
    case TaskEventKind::kUnspill: return "unspill";
  }
  return "?";
}

uint64_t TaskStream::copy_since(uint64_t seq, std::vector<TaskEvent>& out) const {
  const uint64_t oldest = next_ > ring_.size() ? next_ - ring_.size() : 0;
  for (uint64_t s = std::max(seq, oldest); s < next_; ++s) out.push_back(ring_[s % ring_.size()]);
  return next_;
}

uint16_t TaskStream::op_index(const std::string& op) {
  if (auto it = op_ids_.find(op); it != op_ids_.end()) return it->second;
  if (ops_.size() + 1 >= kMaxOps) {
    if (ops_.size() + 1 == kMaxOps) ops_.push_back("other");
    return static_cast<uint16_t>(kMaxOps - 1);
  }
  const auto id = static_cast<uint16_t>(ops_.size());
  ops_.push_back(op);
  op_ids_.emplace(op, id);
  return id;
}

}  // namespace rsdat::sched
