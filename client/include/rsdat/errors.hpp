// Exceptions of the client API. The client library throws for a researcher's
// convenience; inside the runtime errors travel as Status.
#pragma once

#include <stdexcept>
#include <string>

namespace rsdat {

// A task failed on a worker: names the task and carries the worker's message.
class TaskError : public std::runtime_error {
 public:
  TaskError(std::string task, std::string worker, std::string message)
      : std::runtime_error("task " + task + " failed on worker " + worker + ": " + message),
        task_(std::move(task)), worker_(std::move(worker)), message_(std::move(message)) {}
  const std::string& task() const { return task_; }
  const std::string& worker() const { return worker_; }
  const std::string& worker_message() const { return message_; }

 private:
  std::string task_, worker_, message_;
};

// The cluster could not be reached, refused the request, or broke the protocol.
class ClusterError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The computation was cancelled (Client::cancel()) before it finished; what it had
// asked the cluster for is released. Not a ClusterError: the cluster is fine.
class CancelledError : public std::runtime_error {
 public:
  CancelledError() : std::runtime_error("computation cancelled") {}
};

}  // namespace rsdat
