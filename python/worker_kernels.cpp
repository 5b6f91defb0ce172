// librsdat_python_kernels.so: Python kernels in a worker, loaded by
// `rsdat-worker --python-kernels FILE`.
//
// The worker dlopens this library only when asked to (so a worker without Python kernels
// never loads libpython), and calls rsdat_load_python_kernels() for each FILE before it
// connects: an interpreter embedded in the worker process runs the file, and every
// function it decorates with @rsdat.kernel("name") becomes the op "name", which clients
// call with rsdat.map_blocks("name", x, dtype=...). A client still only names ops: the
// code is the worker's own, from its command line.
//
// A kernel gets its input blocks as read-only NumPy arrays over the blocks' memory (no
// copy) and map_blocks' keyword arguments, and returns an array of the block's shape; it
// is cast to the task's dtype only when its dtype differs, and kept without a copy
// otherwise. Kernels run on the worker's threads, each holding the GIL only while Python
// runs; like the plugins, this library links no rsdat library: its rsdat symbols resolve
// against the worker executable.
#include <pybind11/embed.h>
#include <pybind11/numpy.h>

#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/chunk.hpp"
#include "ops/op_registry.hpp"

namespace py = pybind11;

// Its presence tells `import rsdat` that it runs inside a worker: only rsdat.kernel is
// needed then, not the client library.
PYBIND11_EMBEDDED_MODULE(_rsdat_worker, m) { m.doc() = "rsdat-worker's embedded interpreter"; }

namespace {

// The GIL for a worker thread, through Python's own API for threads it did not start.
// A thread's first hold gives it a Python thread state it keeps (one more
// PyGILState_Ensure than Release, then the GIL released), so that a task costs no thread
// state of its own; holds nest, as when the last reference to a kernel's result goes
// while another kernel's arguments are released.
class HoldGil {
 public:
  HoldGil() {
    thread_local const bool anchored = [] {
      PyGILState_Ensure();
      PyEval_SaveThread();
      return true;
    }();
    (void)anchored;
    state_ = PyGILState_Ensure();
  }
  ~HoldGil() { PyGILState_Release(state_); }
  HoldGil(const HoldGil&) = delete;
  HoldGil& operator=(const HoldGil&) = delete;

 private:
  PyGILState_STATE state_;
};

struct PythonKernel {
  std::string name;
  py::object fn;
};

std::string shape_text(const std::vector<py::ssize_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

// A read-only array over the block's memory, keeping the block's buffer alive.
py::array block_view(const rsdat::Chunk& c) {
  auto* keep = new std::shared_ptr<rsdat::Buffer>(c.buffer);
  py::capsule owner(keep, [](void* p) { delete static_cast<std::shared_ptr<rsdat::Buffer>*>(p); });
  std::vector<py::ssize_t> shape(c.shape.begin(), c.shape.end());
  py::array a(py::dtype(rsdat::dtype_name(c.dtype)), shape, c.bytes(), owner);
  a.attr("setflags")(py::arg("write") = false);
  return a;
}

rsdat::Chunk run(const PythonKernel& k, rsdat::KernelContext& ctx) {
  const std::string kwargs_json(ctx.params.rest());
  HoldGil gil;
  try {
    py::tuple args(ctx.inputs.size());
    for (size_t i = 0; i < ctx.inputs.size(); ++i) args[i] = block_view(ctx.inputs[i]);
    py::dict kwargs;
    if (!kwargs_json.empty()) kwargs = py::module_::import("json").attr("loads")(kwargs_json);
    py::object result = k.fn(*args, **kwargs);
    py::module_ np = py::module_::import("numpy");
    py::array a = np.attr("ascontiguousarray")(result, py::arg("dtype") = rsdat::dtype_name(ctx.out_dtype));
    std::vector<py::ssize_t> got(a.shape(), a.shape() + a.ndim());
    std::vector<py::ssize_t> want(ctx.out_shape.begin(), ctx.out_shape.end());
    if (got != want) {
      throw std::runtime_error("Python kernel " + k.name + " returned an array of shape " + shape_text(got) +
                               " for a block of shape " + shape_text(want));
    }
    // The block is the array's own memory, released (under the GIL) with the last reference.
    auto* ref = new py::object(a);
    auto buffer = rsdat::Buffer::wrap(const_cast<void*>(a.data()), static_cast<size_t>(a.nbytes()), [ref] {
      HoldGil g;
      delete ref;
    });
    return rsdat::Chunk{ctx.out_dtype, ctx.out_shape, std::move(buffer)};
  } catch (py::error_already_set& e) {
    throw std::runtime_error("Python kernel " + k.name + ": " + e.what());
  }
}

// Where `import rsdat` finds the package when it is not installed: the build tree's.
void add_package_path(py::module_& sys) {
#ifdef RSDAT_BUILD_PYTHON_DIR
  if (!py::module_::import("importlib.util").attr("find_spec")("rsdat").is_none()) return;
  if (std::filesystem::is_directory(RSDAT_BUILD_PYTHON_DIR "/rsdat")) sys.attr("path").attr("append")(RSDAT_BUILD_PYTHON_DIR);
#else
  (void)sys;
#endif
}

}  // namespace

// Runs `path` in the worker's interpreter (started on the first call) and registers the
// kernels it defines. Returns false with the reason in `*error` (the Python traceback's
// last line, a name taken, no kernel at all). Called by the worker's main thread before
// any kernel runs; on return no thread holds the GIL.
extern "C" __attribute__((visibility("default"))) bool rsdat_load_python_kernels(const char* path,
                                                                                 std::string* error) {
  static PyThreadState* released = nullptr;
  static std::set<std::string> loaded;  // the names registered so far
  if (!Py_IsInitialized()) {
    py::initialize_interpreter(/*init_signal_handlers=*/false);
  } else {
    PyEval_RestoreThread(released);
  }
  bool ok = false;
  try {
    py::module_ sys = py::module_::import("sys");
    add_package_path(sys);
    const std::string dir = std::filesystem::absolute(path).parent_path().string();
    sys.attr("path").attr("insert")(0, dir);
    py::dict registered = py::module_::import("rsdat.kernels").attr("_registered");
    const size_t before = py::len(registered);
    py::module_::import("runpy").attr("run_path")(std::string(path), py::arg("run_name") = "__rsdat_kernels__");
    if (py::len(registered) == before) {
      *error = std::string(path) + " defines no kernel (decorate functions with @rsdat.kernel(\"name\"))";
    } else {
      ok = true;
      for (auto item : registered) {
        const std::string name = py::str(item.first);
        if (!loaded.insert(name).second) continue;  // an earlier file's
        // Kept for the process's life: kernels may run until the worker exits.
        auto* k = new PythonKernel{name, py::reinterpret_borrow<py::object>(item.second)};
        if (!rsdat::OpRegistry::global().add(name, [k](rsdat::KernelContext& ctx) { return run(*k, ctx); })) {
          *error = std::string(path) + ": kernel name " + name + " is taken by another op";
          ok = false;
          break;
        }
      }
    }
  } catch (py::error_already_set& e) {
    *error = std::string(path) + ": " + e.what();
  } catch (const std::exception& e) {
    *error = std::string(path) + ": " + e.what();
  }
  released = PyEval_SaveThread();
  return ok;
}
