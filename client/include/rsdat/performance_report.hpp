// PerformanceReport: a self-contained HTML page of what the computations inside a
// scope cost, the page to send a colleague when asking why something is slow.
//
//   {
//     auto report = rsdat::performance_report("report.html");
//     xt::xarray<double> m = x.mean({0}).compute<double>();
//   }  // report.html written here
//
// Everything computed through the client between construction and close() (or the
// destructor) is in it: a summary (wall time, tasks, workers, threads, bytes moved
// between workers, bytes spilled), the task stream per worker thread, time per
// operation (compute, transfer, spill, waiting for inputs), the critical path (the
// longest chain of dependent tasks by measured duration) and the scheduler's overhead
// (its event loop's busy seconds and task transitions over the period). The page
// needs nothing else: styles, script and data are inside it.
//
// The task events come from the scheduler's task stream (`--task-stream-size`): if
// more happened in the scope than it holds, the page says how many were lost; a
// scheduler that keeps none gives a page without them that says so. Dependencies for
// the critical path are those of the graphs this client submitted in the scope.
//
// Errors: the constructor throws std::invalid_argument when the file's directory does
// not exist or there is no client, ClusterError when the scheduler does not answer.
// close() throws std::runtime_error when the file cannot be written (or ClusterError);
// the destructor logs such a failure instead. Thread-compatible: one thread uses a
// report; the client it watches may be used from others.
#pragma once

#include <memory>
#include <string>

namespace rsdat {

class Client;

class PerformanceReport {
 public:
  // Starts the period. `client`: default Client::current(); it must outlive the report.
  explicit PerformanceReport(std::string filename, Client* client = nullptr);
  ~PerformanceReport();
  PerformanceReport(PerformanceReport&&) noexcept;
  PerformanceReport& operator=(PerformanceReport&&) noexcept;

  // Ends the period and writes the file. Idempotent: later calls do nothing.
  void close();
  const std::string& filename() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// A report of the scope it lives in, as dask.distributed's performance_report.
inline PerformanceReport performance_report(std::string filename = "rsdat-report.html", Client* client = nullptr) {
  return PerformanceReport(std::move(filename), client);
}

}  // namespace rsdat
