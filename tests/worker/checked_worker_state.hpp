// CheckedWorkerState: a WorkerState that checks every invariant after every event,
// for the state-machine tests (validate() is a check failure when one breaks).
#pragma once

#include "worker/worker_state.hpp"

namespace rsdat::worker {

class CheckedWorkerState : public WorkerState {
 public:
  using WorkerState::WorkerState;

  void add_tasks(std::vector<Assignment> tasks, WorkerCommands& out) {
    WorkerState::add_tasks(std::move(tasks), out);
    validate();
  }
  void release(const std::vector<TaskKey>& keys, WorkerCommands& out) {
    WorkerState::release(keys, out);
    validate();
  }
  void fetch_arrived(const TaskKey& key, Chunk chunk, WorkerCommands& out) {
    WorkerState::fetch_arrived(key, std::move(chunk), out);
    validate();
  }
  void fetch_failed(const TaskKey& key, WorkerCommands& out) {
    WorkerState::fetch_failed(key, out);
    validate();
  }
  void execute_finished(const TaskKey& key, Result<Chunk> result, double seconds, WorkerCommands& out) {
    WorkerState::execute_finished(key, std::move(result), seconds, out);
    validate();
  }
  bool steal(const TaskKey& key, WorkerCommands& out) {
    const bool stolen = WorkerState::steal(key, out);
    validate();
    return stolen;
  }
  void replicate(const std::vector<std::pair<TaskKey, std::vector<std::string>>>& keys,
                 const std::unordered_map<TaskKey, uint64_t>& nbytes, WorkerCommands& out) {
    WorkerState::replicate(keys, nbytes, out);
    validate();
  }
  MemoryStep check_memory(double now, WorkerCommands& out) {
    const MemoryStep step = WorkerState::check_memory(now, out);
    validate();
    return step;
  }
  MemoryStep memory_reading(const MemoryReading& reading, WorkerCommands& out) {
    const MemoryStep step = WorkerState::memory_reading(reading, out);
    validate();
    return step;
  }
};

}  // namespace rsdat::worker
