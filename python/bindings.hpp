// What the two translation units of the extension share. Not installed.
#pragma once

#include <pybind11/pybind11.h>

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "rsdat/rsdat.hpp"

namespace py = pybind11;

namespace rsdat::python {

// The chunk shape argument of the creation functions (-1: the whole axis).
using ChunkShape = std::vector<int64_t>;

// A dtype by NumPy's name ("float32", "bool"); another one raises TypeError.
inline DType dtype_arg(const std::string& name) {
  auto t = rsdat::dtype_from_name(name);
  if (!t) throw py::type_error("rsdat has no dtype " + name);
  return *t;
}

// A LocalCluster or Client that close() destroys before Python lets go of the object.
struct ClusterBox {
  std::unique_ptr<rsdat::LocalCluster> cluster;
  rsdat::LocalCluster& get() {
    if (!cluster) throw py::value_error("the LocalCluster is closed");
    return *cluster;
  }
};
struct ClientBox {
  std::unique_ptr<rsdat::Client> client;
  rsdat::Client& get() {
    if (!client) throw py::value_error("the Client is closed");
    return *client;
  }
};

inline rsdat::Client* client_arg(ClientBox* box) { return box ? &box->get() : nullptr; }

// Progress of the computation a run_interruptible() waits for. The client reports it on
// the thread that computes; the waiting thread hands it to Python's progress callback
// (rsdat.progress), so that Python sees it on the thread that called compute(), as a
// notebook's output needs.
struct ProgressSlot {
  std::mutex mu;
  rsdat::ProgressInfo info;
  bool fresh = false;
};
// The slot of the computation this thread runs (set on run_interruptible's thread).
inline thread_local std::shared_ptr<ProgressSlot> current_progress;
// Calls Python's progress callback with the slot's news, if any. Holds the GIL. An
// exception of the callback is reported as unraisable, except a KeyboardInterrupt
// before the `last` call: that is left set as Python's error, and true returned.
bool deliver_progress(ProgressSlot& slot, bool last = false);  // module.cpp

void bind_stac(py::module_& m);  // bind_stac.cpp

// Runs f() (a computation through `client`, default Client::current()) on a thread of
// its own while the caller waits without the GIL. Every 50 ms it takes the GIL to run
// Python's signal handlers: when one raises (KeyboardInterrupt on Ctrl-C) it cancels
// the computation, waits for it to end (it releases what it asked the cluster for, and
// the client stays usable) and raises that exception. Returns f()'s result or rethrows
// its exception.
template <typename F>
auto run_interruptible(rsdat::Client* client, F f) -> decltype(f()) {
  if (!client) client = rsdat::Client::current();
  if (!client) throw rsdat::ClusterError("no rsdat Client: create one (rsdat.Client(cluster)) before compute()");
  auto slot = std::make_shared<ProgressSlot>();
  auto done = std::async(std::launch::async, [slot, f = std::move(f)]() mutable {
    current_progress = slot;
    struct Clear {
      ~Clear() { current_progress.reset(); }
    } clear;
    return f();
  });
  struct LastNews {  // the last count (finished, or where it failed), whichever way this ends
    ProgressSlot& slot;
    ~LastNews() {
      {
        std::lock_guard lock(slot.mu);
        if (!slot.info.finished) {  // cancelled or failed: the end all the same
          slot.info.finished = true;
          slot.fresh = true;
        }
      }
      deliver_progress(slot, /*last=*/true);
    }
  } last{*slot};
  py::gil_scoped_release nogil;
  while (done.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0 || deliver_progress(*slot)) {
      client->cancel();
      {
        py::gil_scoped_release wait;
        done.wait();
      }
      try {
        (void)done.get();
      } catch (...) {  // CancelledError, as asked; or what ended it first
      }
      throw py::error_already_set();
    }
  }
  return done.get();
}

}  // namespace rsdat::python
