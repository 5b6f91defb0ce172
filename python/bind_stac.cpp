// rsdat._rsdat's stores and STAC catalogs (rsdat/store.hpp, rsdat/stac.hpp), for
// rsdat.store and rsdat.stac.
#include <pybind11/stl.h>

#include <stdexcept>

#include "python/bindings.hpp"
#include "rsdat/stac.hpp"
#include "rsdat/store.hpp"

namespace rsdat::python {

void bind_stac(py::module_& m) {
  namespace stac = rsdat::stac;

  // ---- stores: a program's own small files beside its arrays ----
  m.def("store_get", [](const std::string& store, const std::string& key) {
    std::string bytes;
    try {
      py::gil_scoped_release nogil;
      bytes = rsdat::store_get(store, key);
    } catch (const std::out_of_range& e) {
      throw py::key_error(e.what());
    }
    return py::bytes(bytes);
  });
  m.def("store_put", [](const std::string& store, const std::string& key, const py::bytes& data) {
    std::string bytes = data;
    py::gil_scoped_release nogil;
    rsdat::store_put(store, key, bytes);
  });
  m.def("store_exists", [](const std::string& store, const std::string& key) {
    py::gil_scoped_release nogil;
    return rsdat::store_exists(store, key);
  });
  m.def("store_remove", [](const std::string& store, const std::string& key) {
    py::gil_scoped_release nogil;
    rsdat::store_remove(store, key);
  });
  m.def("store_list", [](const std::string& store, const std::string& prefix) {
    std::vector<rsdat::StoreEntry> entries;
    try {
      py::gil_scoped_release nogil;
      entries = rsdat::store_list(store, prefix);
    } catch (const std::out_of_range& e) {
      throw py::key_error(e.what());
    }
    py::list out;
    for (const auto& e : entries) out.append(py::make_tuple(e.name, e.is_dir));
    return out;
  });

  // ---- STAC ----
  py::class_<stac::Asset>(m, "StacAsset")
      .def(py::init<>())
      .def_readwrite("href", &stac::Asset::href)
      .def_readwrite("type", &stac::Asset::type)
      .def_readwrite("roles", &stac::Asset::roles)
      .def_readwrite("epsg", &stac::Asset::epsg)
      .def_readwrite("transform", &stac::Asset::transform)
      .def_readwrite("shape", &stac::Asset::shape)
      .def("__repr__", [](const stac::Asset& a) { return "<StacAsset " + a.href + ">"; });
  py::class_<stac::Item>(m, "StacItem")
      .def(py::init<>())
      .def_readwrite("id", &stac::Item::id)
      .def_readwrite("collection", &stac::Item::collection)
      .def_readwrite("url", &stac::Item::url)
      .def_readwrite("datetime", &stac::Item::datetime)
      .def_readwrite("time", &stac::Item::time)
      .def_readwrite("bbox", &stac::Item::bbox)
      .def_readwrite("cloud_cover", &stac::Item::cloud_cover)
      .def_readwrite("epsg", &stac::Item::epsg)
      .def_readwrite("transform", &stac::Item::transform)
      .def_readwrite("shape", &stac::Item::shape)
      .def_readwrite("assets", &stac::Item::assets)
      .def("__repr__", [](const stac::Item& i) { return "<StacItem " + i.id + " " + i.datetime + ">"; });
  m.def("stac_read_items", [](const std::string& url) {
    py::gil_scoped_release nogil;
    return stac::read_items(url);
  });
  m.def("stac_search", [](const std::string& api_url, std::vector<double> bbox, std::string datetime,
                          std::vector<std::string> collections, int limit, int64_t max_items) {
    stac::SearchOptions o{std::move(bbox), std::move(datetime), std::move(collections), limit, max_items};
    py::gil_scoped_release nogil;
    return stac::search(api_url, o);
  });
  m.def("stac_stack", [](const std::vector<stac::Item>& items, const std::vector<std::string>& assets,
                         std::optional<double> max_cloud_cover, std::string start, std::string end,
                         std::string xy_coords) {
    stac::StackOptions o{max_cloud_cover, std::move(start), std::move(end), std::move(xy_coords)};
    stac::Stack s;
    {
      py::gil_scoped_release nogil;
      s = stac::stack(items, assets, o);
    }
    py::dict d;
    d["data"] = s.data;
    d["dims"] = s.dims;
    d["time"] = s.time;
    d["datetime"] = s.datetime;
    d["id"] = s.id;
    d["band"] = s.band;
    d["y"] = s.y;
    d["x"] = s.x;
    d["epsg"] = s.epsg;
    d["crs"] = s.crs;
    d["transform"] = s.transform;
    return d;
  });
  m.def("stac_parse_datetime", &stac::parse_datetime);
}

}  // namespace rsdat::python
