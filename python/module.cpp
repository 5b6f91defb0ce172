// rsdat._rsdat: the pybind11 extension under the rsdat Python package.
//
// A thin layer over the client library: its Array, LocalCluster and Client, the
// creation functions, Zarr, and compute(). The dask-like names, keyword arguments and
// argument forms (chunks=, axis=None, Python scalars) live in rsdat/array.py; the
// operations on arrays are bound in bind_ops.cpp.
//
// Threads and the GIL: building arrays holds the GIL (it does no work). Computations
// run on a thread of their own while the calling thread waits without the GIL, checking
// for signals every 50 ms: on KeyboardInterrupt (Ctrl-C) it cancels the computation
// through Client::cancel(), waits for it to end (nothing of it stays on the cluster)
// and raises the KeyboardInterrupt. The cluster and the client stay usable.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "python/bindings.hpp"

using rsdat::Array;
using rsdat::DType;
using namespace rsdat::python;

void bind_ops(py::module_& m);  // bind_ops.cpp

namespace {

PyObject* task_error = nullptr;
PyObject* cluster_error = nullptr;
PyObject* cancelled_error = nullptr;

// A numpy array over the computed buffer, which a capsule keeps alive: no copy.
py::array to_numpy(rsdat::HostArray h) {
  const size_t item = rsdat::dtype_size(h.dtype);
  std::vector<py::ssize_t> shape(h.shape.begin(), h.shape.end()), strides(h.shape.size());
  py::ssize_t stride = static_cast<py::ssize_t>(item);
  for (size_t i = h.shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= std::max<py::ssize_t>(h.shape[i], 1);
  }
  auto* owner = new std::shared_ptr<uint8_t>(std::move(h.data));
  py::capsule base(owner, [](void* p) { delete static_cast<std::shared_ptr<uint8_t>*>(p); });
  return py::array(py::dtype(rsdat::dtype_name(h.dtype)), shape, strides, owner->get(), base);
}

void translate(std::exception_ptr p) {
  try {
    if (p) std::rethrow_exception(p);
  } catch (const rsdat::TaskError& e) {
    py::object err = py::reinterpret_borrow<py::object>(task_error)(e.what());
    err.attr("task") = e.task();
    err.attr("worker") = e.worker();
    err.attr("worker_message") = e.worker_message();
    PyErr_SetObject(task_error, err.ptr());
  } catch (const rsdat::ClusterError& e) {
    PyErr_SetString(cluster_error, e.what());
  } catch (const rsdat::CancelledError& e) {
    PyErr_SetString(cancelled_error, e.what());
  }
}

// A Client's options: `progress` draws the client's own bar on stderr (off where
// Python shows progress its own way, as in a notebook).
rsdat::ClientOptions client_options(bool progress) {
  rsdat::ClientOptions o;
  o.progress = progress;
  return o;
}

// Python's progress callback (rsdat.progress), called with (tasks_done, tasks_total,
// seconds, finished); None: none.
py::object* progress_callback = nullptr;

}  // namespace

bool rsdat::python::deliver_progress(ProgressSlot& slot, bool last) {
  rsdat::ProgressInfo info;
  {
    std::lock_guard lock(slot.mu);
    if (!slot.fresh) return false;
    slot.fresh = false;
    info = slot.info;
  }
  if (!progress_callback || progress_callback->is_none()) return false;
  try {
    (*progress_callback)(info.tasks_done, info.tasks_total, info.seconds, info.finished);
  } catch (py::error_already_set& e) {
    // Ctrl-C while the callback ran is the user's, for the computation: handed back.
    if (!last && e.matches(PyExc_KeyboardInterrupt)) {
      e.restore();
      return true;
    }
    e.discard_as_unraisable("rsdat progress callback");  // a display's failure does not end the computation
  }
  return false;
}

PYBIND11_MODULE(_rsdat, m) {
  m.doc() = "rsdat's client library; use the rsdat package (rsdat.array), not this module";

  // Owned by the module for the life of the process (never freed: the interpreter may
  // still raise them while shutting down).
  task_error = PyErr_NewException("rsdat.TaskError", PyExc_RuntimeError, nullptr);
  cluster_error = PyErr_NewException("rsdat.ClusterError", PyExc_RuntimeError, nullptr);
  cancelled_error = PyErr_NewException("rsdat.CancelledError", PyExc_RuntimeError, nullptr);
  m.attr("TaskError") = py::handle(task_error);
  m.attr("ClusterError") = py::handle(cluster_error);
  m.attr("CancelledError") = py::handle(cancelled_error);
  py::register_exception_translator(translate);

  // The client's progress, for rsdat.progress() and the notebook's bar: kept for the
  // thread that waits on the computation (see run_interruptible).
  rsdat::progress([](const rsdat::ProgressInfo& info) {
    if (auto slot = current_progress) {
      std::lock_guard lock(slot->mu);
      slot->info = info;
      slot->fresh = true;
    }
  });
  m.def("set_progress", [](py::object callback) {
    if (!progress_callback) progress_callback = new py::object();  // never freed, as the exceptions
    *progress_callback = std::move(callback);
  });

  // ---- cluster and client ----
  py::class_<ClusterBox, std::shared_ptr<ClusterBox>>(m, "LocalCluster")
      .def(py::init([](int workers, int threads_per_worker, std::string memory_limit, std::string log_level,
                       std::string local_directory, std::string transport, double start_timeout,
                       std::vector<std::string> worker_plugins, std::vector<std::string> python_kernels) {
             rsdat::LocalClusterOptions o;
             o.workers = workers;
             o.threads_per_worker = threads_per_worker;
             o.memory_limit = std::move(memory_limit);
             o.log_level = std::move(log_level);
             o.local_directory = std::move(local_directory);
             o.transport = std::move(transport);
             o.start_timeout = start_timeout;
             o.worker_plugins = std::move(worker_plugins);
             o.worker_python_kernels = std::move(python_kernels);
             auto box = std::make_shared<ClusterBox>();
             py::gil_scoped_release nogil;
             box->cluster = std::make_unique<rsdat::LocalCluster>(o);
             return box;
           }),
           py::arg("workers"), py::arg("threads_per_worker"), py::arg("memory_limit"), py::arg("log_level"),
           py::arg("local_directory"), py::arg("transport"), py::arg("start_timeout"), py::arg("worker_plugins"),
           py::arg("python_kernels"))
      .def_property_readonly("scheduler_address", [](ClusterBox& b) { return b.get().scheduler_address(); })
      .def_property_readonly("scheduler_file", [](ClusterBox& b) { return b.get().scheduler_file(); })
      .def_property_readonly("worker_pids", [](ClusterBox& b) { return b.get().worker_pids(); })
      .def_property_readonly("closed", [](ClusterBox& b) { return !b.cluster; })
      .def("add_worker", [](ClusterBox& b) {
        auto& c = b.get();
        py::gil_scoped_release nogil;
        return c.add_worker();
      })
      .def("close", [](ClusterBox& b) {
        py::gil_scoped_release nogil;
        b.cluster.reset();
      });

  py::class_<ClientBox, std::shared_ptr<ClientBox>>(m, "Client")
      .def_static(
          "connect_cluster",
          [](ClusterBox& cluster, bool progress) {
            auto box = std::make_shared<ClientBox>();
            auto& c = cluster.get();
            py::gil_scoped_release nogil;
            box->client = std::make_unique<rsdat::Client>(c, client_options(progress));
            return box;
          },
          py::arg("cluster"), py::arg("progress") = true)
      .def_static(
          "connect_address",
          [](const std::string& address, bool progress) {
            auto box = std::make_shared<ClientBox>();
            py::gil_scoped_release nogil;
            box->client = std::make_unique<rsdat::Client>(address, client_options(progress));
            return box;
          },
          py::arg("address"), py::arg("progress") = true)
      .def_static(
          "connect_scheduler_file",
          [](const std::string& path, double timeout, bool progress) {
            auto box = std::make_shared<ClientBox>();
            py::gil_scoped_release nogil;
            box->client = rsdat::Client::from_scheduler_file(path, timeout, client_options(progress));
            return box;
          },
          py::arg("path"), py::arg("timeout"), py::arg("progress") = true)
      .def_property_readonly("scheduler_address", [](ClientBox& b) { return b.get().scheduler_address(); })
      .def_property_readonly("closed", [](ClientBox& b) { return !b.client; })
      .def("cancel", [](ClientBox& b) { b.get().cancel(); })
      .def("workers",
           [](ClientBox& b) {
             auto& c = b.get();
             rsdat::ClusterStatus s;
             {
               py::gil_scoped_release nogil;
               s = c.cluster_status();
             }
             py::list out;
             for (const auto& w : s.workers) {
               py::dict d;
               d["name"] = w.name;
               d["address"] = w.address;
               d["nthreads"] = w.nthreads;
               d["memory_limit"] = w.memory_limit;
               d["keys"] = w.keys;
               d["managed_bytes"] = w.managed_bytes;
               out.append(d);
             }
             return out;
           })
      .def("last_stats",
           [](ClientBox& b) {
             rsdat::ComputeStats s = b.get().last_stats();
             py::dict d;
             d["tasks"] = s.tasks;
             d["bytes_transferred"] = s.bytes_transferred;
             d["results_inline"] = s.results_inline;
             d["seconds"] = s.seconds;
             return d;
           })
      .def("close", [](ClientBox& b) {
        py::gil_scoped_release nogil;
        b.client.reset();
      });

  // A performance report keeps the Python client it watches alive.
  struct ReportBox {
    std::shared_ptr<ClientBox> client;
    std::unique_ptr<rsdat::PerformanceReport> report;
  };
  py::class_<ReportBox>(m, "PerformanceReport")
      .def(py::init([](const std::string& filename, std::shared_ptr<ClientBox> box) {
             if (!box || !box->client) throw rsdat::ClusterError("performance report: no open rsdat.Client");
             auto r = std::make_unique<ReportBox>();
             r->client = box;
             rsdat::Client* c = &box->get();
             py::gil_scoped_release nogil;
             r->report = std::make_unique<rsdat::PerformanceReport>(filename, c);
             return r;
           }),
           py::arg("filename"), py::arg("client").none(true))
      .def("close", [](ReportBox& r) {
        if (!r.client->client) throw rsdat::ClusterError("performance report: its client was closed first");
        py::gil_scoped_release nogil;
        r.report->close();
      });

  // ---- Array ----
  py::class_<Array>(m, "Array")
      .def_property_readonly("shape", [](const Array& a) { return a.shape(); })
      .def_property_readonly("chunks", [](const Array& a) { return a.chunks(); })
      .def_property_readonly("dtype", [](const Array& a) { return std::string(rsdat::dtype_name(a.dtype())); })
      .def_property_readonly("name", [](const Array& a) { return a.name(); })
      .def_property_readonly("dims", [](const Array& a) { return a.dims(); })
      .def_property_readonly("num_chunks", &Array::num_chunks)
      .def_property_readonly("nbytes", &Array::nbytes)
      .def("astype", [](const Array& a, const std::string& dtype) { return a.astype(dtype_arg(dtype)); })
      .def("transpose", &Array::transpose, py::arg("axes"))
      .def("rechunk", [](const Array& a, const rsdat::Chunks& chunks) { return a.rechunk(chunks); })
      .def("rechunk_shape", [](const Array& a, const ChunkShape& shape) { return a.rechunk(shape); })
      .def(
          "persist",
          [](const Array& a, ClientBox* box) {
            rsdat::Client* c = client_arg(box);
            return run_interruptible(c, [a, c] { return a.persist(c); });
          },
          py::arg("client").none(true));

  m.def(
      "compute",
      [](std::vector<Array> arrays, ClientBox* box) {
        rsdat::Client* c = client_arg(box);
        std::vector<rsdat::HostArray> results =
            run_interruptible(c, [arrays = std::move(arrays), c] { return rsdat::compute(arrays, c); });
        py::list out;
        for (auto& h : results) out.append(to_numpy(std::move(h)));
        return out;
      },
      py::arg("arrays"), py::arg("client").none(true));

  // ---- creation ----
  m.def("zeros", [](const rsdat::Shape& s, const ChunkShape& c, const std::string& d) {
    return rsdat::zeros(s, c, dtype_arg(d));
  });
  m.def("ones", [](const rsdat::Shape& s, const ChunkShape& c, const std::string& d) {
    return rsdat::ones(s, c, dtype_arg(d));
  });
  m.def("empty", [](const rsdat::Shape& s, const ChunkShape& c, const std::string& d) {
    return rsdat::empty(s, c, dtype_arg(d));
  });
  m.def("full", [](const rsdat::Shape& s, const ChunkShape& c, double v, const std::string& d) {
    return rsdat::full(s, c, v, dtype_arg(d));
  });
  m.def("full_like", [](const Array& a, double v, std::optional<std::string> d) {
    return rsdat::full_like(a, v, d ? std::optional<DType>(dtype_arg(*d)) : std::nullopt);
  });
  m.def("arange", [](double start, double stop, double step, int64_t chunk, std::optional<std::string> d) {
    return rsdat::arange(start, stop, step, chunk, d ? std::optional<DType>(dtype_arg(*d)) : std::nullopt);
  });
  m.def("linspace", [](double start, double stop, int64_t num, int64_t chunk, bool endpoint, const std::string& d) {
    return rsdat::linspace(start, stop, num, chunk, endpoint, dtype_arg(d));
  });
  m.def("eye", [](int64_t n, std::optional<int64_t> m, int64_t k, int64_t chunk, const std::string& d) {
    return rsdat::eye(n, m, k, chunk, dtype_arg(d));
  });
  m.def("coordinate", [](const rsdat::Shape& s, const ChunkShape& c, int64_t axis, const std::string& d) {
    return rsdat::coordinate(s, c, axis, dtype_arg(d));
  });
  m.def("random_uniform", [](const rsdat::Shape& s, const ChunkShape& c, uint64_t seed, const std::string& d) {
    return rsdat::random::uniform(s, c, seed, dtype_arg(d));
  });
  // A C-contiguous numpy array of a supported dtype (rsdat/array.py makes it one).
  m.def(
      "from_array",
      [](py::array a, const ChunkShape& chunks, ClientBox* box) {
        if (!(a.flags() & py::array::c_style)) throw py::value_error("from_array: the array must be C-contiguous");
        DType t = dtype_arg(py::str(a.dtype()));
        rsdat::Shape shape(a.shape(), a.shape() + a.ndim());
        rsdat::Client* c = client_arg(box);
        const void* data = a.data();
        py::gil_scoped_release nogil;  // `a` (held by the caller) keeps the data alive
        return rsdat::detail::from_array(data, t, shape, chunks, c);
      },
      py::arg("a"), py::arg("chunks"), py::arg("client").none(true));

  // ---- Zarr ----
  m.def("from_zarr", [](const std::string& store, const std::string& path) { return rsdat::from_zarr(store, path); });
  m.def(
      "write_zarr",
      [](const Array& a, const std::string& store, const std::string& path, const ChunkShape& chunks,
         const std::string& compressor, std::vector<std::string> dims, ClientBox* box, int zarr_format,
         const ChunkShape& shards) {
        rsdat::ZarrWriteOptions o;
        o.chunks = chunks;
        o.compressor = compressor;
        o.dims = std::move(dims);
        o.zarr_format = zarr_format;
        o.shards = shards;
        rsdat::Client* c = client_arg(box);
        return run_interruptible(c, [a, store, path, o, c] { return rsdat::write_zarr(a, store, path, o, c); });
      },
      py::arg("a"), py::arg("store"), py::arg("path"), py::arg("chunks"), py::arg("compressor"), py::arg("dims"),
      py::arg("client").none(true), py::arg("zarr_format") = 2, py::arg("shards") = ChunkShape{});

  // ---- Rasters (GDAL) ----
  m.def(
      "from_raster",
      [](const std::string& url, bool masked, bool mask_and_scale, int overview, std::vector<int> bands,
         const ChunkShape& chunks) {
        return rsdat::from_raster(url, {.chunks = chunks, .masked = masked, .mask_and_scale = mask_and_scale,
                                        .overview = overview, .bands = std::move(bands)});
      },
      py::arg("url"), py::arg("masked"), py::arg("mask_and_scale"), py::arg("overview"), py::arg("bands"),
      py::arg("chunks"));
  m.def("raster_grid", [](const Array& a) -> py::object {
    auto g = rsdat::raster_grid(a);
    if (!g) return py::none();
    py::dict d;
    d["crs_wkt"] = g->crs_wkt;
    d["epsg"] = g->epsg ? py::object(py::int_(*g->epsg)) : py::none();
    d["transform"] = py::make_tuple(g->transform[0], g->transform[1], g->transform[2], g->transform[3],
                                    g->transform[4], g->transform[5]);
    d["height"] = g->height;
    d["width"] = g->width;
    return d;
  });
  m.def(
      "to_raster",
      [](const Array& a, const std::string& path, const std::string& driver, const std::string& compress,
         int predictor, int blocksize, bool overviews, std::optional<double> nodata, ClientBox* box) {
        rsdat::RasterWriteOptions o{.driver = driver, .compress = compress, .predictor = predictor,
                                    .blocksize = blocksize, .overviews = overviews, .nodata = nodata};
        rsdat::Client* c = client_arg(box);
        return run_interruptible(c, [a, path, o, c] { return rsdat::to_raster(a, path, o, c); });
      },
      py::arg("a"), py::arg("path"), py::arg("driver"), py::arg("compress"), py::arg("predictor"),
      py::arg("blocksize"), py::arg("overviews"), py::arg("nodata").none(true), py::arg("client").none(true));

  // ---- NetCDF ----
  m.def(
      "from_netcdf",
      [](const std::string& url, const std::string& variable, bool mask_and_scale, const rsdat::Shape& chunks) {
        return rsdat::from_netcdf(url, variable, {.mask_and_scale = mask_and_scale, .chunks = chunks});
      },
      py::arg("url"), py::arg("variable"), py::arg("mask_and_scale"), py::arg("chunks"));
  m.def(
      "to_netcdf",
      [](const Array& a, const std::string& path, const std::string& variable, std::vector<std::string> dims,
         const std::map<std::string, std::string>& text_attrs,
         const std::map<std::string, std::vector<double>>& number_attrs, const std::string& mode, int level,
         ClientBox* box) {
        rsdat::NetcdfWriteOptions o;
        o.dims = std::move(dims);
        for (const auto& [k, v] : text_attrs) o.attrs.push_back(rsdat::NetcdfAttribute::of_text(k, v));
        for (const auto& [k, v] : number_attrs) o.attrs.push_back(rsdat::NetcdfAttribute::of_numbers(k, v));
        o.mode = mode;
        o.level = level;
        rsdat::Client* c = client_arg(box);
        return run_interruptible(c, [a, path, variable, o, c] { return rsdat::to_netcdf(a, path, variable, o, c); });
      },
      py::arg("a"), py::arg("path"), py::arg("variable"), py::arg("dims"), py::arg("text_attrs"),
      py::arg("number_attrs"), py::arg("mode"), py::arg("level"), py::arg("client").none(true));

  bind_ops(m);
  bind_stac(m);
}
