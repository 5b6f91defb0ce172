#include "rsdat/zarr.hpp"

#include <algorithm>
#include <stdexcept>

#include "client/array_internal.hpp"
#include "io/store.hpp"
#include "io/zarr.hpp"
#include "io/zarr3.hpp"

namespace rsdat {
namespace {

using detail::BlockIndex;
using detail::Node;

using detail::make_node;

zarr::Compressor compressor_of(const ZarrWriteOptions& o) {
  zarr::Compressor c;
  const std::string& id = o.compressor;
  auto level_in = [&](int lo, int hi) {
    if (o.level < lo || o.level > hi) {
      throw std::invalid_argument("to_zarr: " + id + " level must be " + std::to_string(lo) + ".." + std::to_string(hi) +
                                  ", not " + std::to_string(o.level));
    }
  };
  if (id == "none" || id.empty()) return c;
  c.id = id;
  c.level = o.level;
  if (id == "blosc") {
    level_in(0, 9);
    static const char* kNames[] = {"lz4", "lz4hc", "blosclz", "zstd", "zlib"};
    if (std::find(std::begin(kNames), std::end(kNames), o.cname) == std::end(kNames)) {
      throw std::invalid_argument("to_zarr: blosc cname must be lz4, lz4hc, blosclz, zstd or zlib, not '" + o.cname + "'");
    }
    if (o.shuffle < 0 || o.shuffle > 2) throw std::invalid_argument("to_zarr: blosc shuffle must be 0, 1 or 2");
    c.cname = o.cname;
    c.shuffle = o.shuffle;
  } else if (id == "zstd") {
    level_in(-7, 22);
  } else if (id == "zlib" || id == "gzip") {
    level_in(0, 9);
  } else if (id == "lz4") {
    c.acceleration = 1;
  } else {
    throw std::invalid_argument("to_zarr: unknown compressor '" + id + "' (blosc, zstd, lz4, zlib, gzip or none)");
  }
  return c;
}

// The v3 metadata of a write: the v2 metadata's grid and compressor as a codec pipeline,
// sharded when the options ask for it.
zarr3::ArrayMeta v3_meta_of(const zarr::ArrayMeta& v2, const ZarrWriteOptions& o, const std::vector<std::string>& dims) {
  zarr3::ArrayMeta m;
  m.shape = v2.shape;
  m.dtype = v2.dtype;
  m.fill_value = v2.fill_value.value_or(0.0);
  m.dims = dims;
  const size_t nd = m.shape.size();
  std::vector<zarr3::Codec> chunk_codecs;
  if (o.fortran_order && nd > 1) {
    zarr3::Codec t{.name = "transpose"};
    for (size_t d = nd; d-- > 0;) t.order.push_back(static_cast<int64_t>(d));
    chunk_codecs.push_back(t);
  }
  chunk_codecs.push_back(zarr3::Codec{.name = "bytes"});
  if (!v2.compressor.id.empty()) {
    const std::string& id = v2.compressor.id;
    if (id != "blosc" && id != "zstd" && id != "gzip") {
      throw std::invalid_argument("to_zarr: zarr_format 3 writes the compressors blosc, zstd, gzip or none, not '" + id + "'");
    }
    zarr3::Codec c{.name = id, .compressor = v2.compressor};
    if (id == "blosc") c.typesize = static_cast<int>(dtype_size(m.dtype));
    chunk_codecs.push_back(c);
  }
  if (o.checksum) chunk_codecs.push_back(zarr3::Codec{.name = "crc32c"});
  if (o.index_location != "end" && o.index_location != "start") {
    throw std::invalid_argument("to_zarr: index_location must be \"end\" or \"start\", not '" + o.index_location + "'");
  }
  if (o.shards.empty()) {
    m.chunks = v2.chunks;
    m.codecs = std::move(chunk_codecs);
    return m;
  }
  if (o.shards.size() != nd) throw std::invalid_argument("to_zarr: shards must have one size per axis");
  m.chunks = o.shards;
  for (size_t d = 0; d < nd; ++d) {
    if (m.chunks[d] == -1) m.chunks[d] = (m.shape[d] + v2.chunks[d] - 1) / v2.chunks[d] * v2.chunks[d];
    if (m.chunks[d] <= 0 || m.chunks[d] % v2.chunks[d] != 0) {
      throw std::invalid_argument("to_zarr: the shard shape " + shape_to_string(o.shards) +
                                  " must be a positive multiple of the chunk shape " + shape_to_string(v2.chunks) +
                                  " on every axis");
    }
  }
  zarr3::Codec shard{.name = "sharding_indexed"};
  shard.inner_chunks = v2.chunks;
  shard.inner = std::move(chunk_codecs);
  shard.index_codecs = {zarr3::Codec{.name = "bytes"}, zarr3::Codec{.name = "crc32c"}};
  shard.index_at_start = o.index_location == "start";
  m.codecs = {shard};
  return m;
}

Array from_zarr3(const std::string& dir, const zarr3::ArrayMeta& meta) {
  auto n = make_node("from_zarr", meta.shape, detail::regular_chunks(meta.shape, meta.chunks), meta.dtype);
  n->dims = meta.dims;
  const std::string doc = zarr3::to_json(meta);
  n->lower = [dir, doc](const Node&, const BlockIndex& b, TaskSpec& t) {
    t.op = ops::kZarr3Read;
    t.params = ops::zarr3_block_params(dir, doc, b);
  };
  return Array(n);
}

}  // namespace

Array from_zarr(const std::string& store, const std::string& path) {
  auto v3 = zarr3::open_array(store, path);
  if (v3.ok()) {
    auto dir = store::join_url(store, path);
    if (!dir.ok()) throw std::invalid_argument("from_zarr: " + dir.status().message());
    return from_zarr3(*dir, *v3);
  }
  if (v3.status().code() != StatusCode::kNotFound) throw std::invalid_argument("from_zarr: " + v3.status().message());
  auto meta = zarr::open_array(store, path);
  if (!meta.ok()) throw std::invalid_argument("from_zarr: " + meta.status().message());
  auto dir = store::join_url(store, path);
  if (!dir.ok()) throw std::invalid_argument("from_zarr: " + dir.status().message());
  auto n = make_node("from_zarr", meta->shape, detail::regular_chunks(meta->shape, meta->chunks), meta->dtype);
  n->dims = meta->dims;
  const std::string zarray = zarr::to_zarray(*meta);
  n->lower = [d = *dir, zarray](const Node&, const BlockIndex& b, TaskSpec& t) {
    t.op = ops::kZarrRead;
    t.params = ops::zarr_read_params(d, zarray, b);
  };
  return Array(n);
}

namespace {

// One write task per chunk of the v3 grid: per shard when the array is sharded.
Array to_zarr3(const Array& array, const std::string& store, const std::string& path, const std::string& dir,
               const zarr3::ArrayMeta& meta) {
  const size_t nd = array.ndim();
  const std::string doc = zarr3::to_json(meta);
  auto create = make_node("zarr_create", Shape(nd, 1), detail::regular_chunks(Shape(nd, 1), Shape(nd, 1)), DType::kInt64);
  create->lower = [store, path, doc](const Node&, const BlockIndex&, TaskSpec& t) {
    t.op = ops::kZarr3Create;
    t.params = ops::zarr3_create_params(store, path, doc);
  };
  Array data = array.rechunk(detail::regular_chunks(meta.shape, meta.chunks));
  Shape grid(nd);
  for (size_t d = 0; d < nd; ++d) grid[d] = (meta.shape[d] + meta.chunks[d] - 1) / meta.chunks[d];
  auto write = make_node("to_zarr", grid, detail::regular_chunks(grid, Shape(nd, 1)), DType::kInt64);
  write->inputs = {create, data.node()};
  write->lower = [dir, doc](const Node& self, const BlockIndex& b, TaskSpec& t) {
    t.deps = {detail::key_of(*self.inputs[0], BlockIndex(b.size(), 0)), detail::key_of(*self.inputs[1], b)};
    t.op = ops::kZarr3Write;
    t.params = ops::zarr3_block_params(dir, doc, b);
  };
  return Array(write);
}

}  // namespace

Array to_zarr(const Array& array, const std::string& store, const std::string& path, const ZarrWriteOptions& options) {
  if (!array.node()) throw std::invalid_argument("to_zarr: empty rsdat::Array");
  const size_t nd = array.ndim();
  for (int64_t s : array.shape()) {
    if (s == 0) throw std::invalid_argument("to_zarr: arrays with a zero-length axis cannot be written yet");
  }
  auto dir = store::join_url(store, path);
  if (!dir.ok()) throw std::invalid_argument("to_zarr: " + dir.status().message());
  if (auto opened = store::open_store(store); !opened.ok()) {
    throw std::invalid_argument("to_zarr: " + opened.status().message());
  }
  zarr::ArrayMeta meta;
  meta.shape = array.shape();
  meta.dtype = array.dtype();
  meta.fortran_order = options.fortran_order;
  meta.fill_value = options.fill_value;
  meta.compressor = compressor_of(options);
  if (!options.chunks.empty()) {
    if (options.chunks.size() != nd) throw std::invalid_argument("to_zarr: chunks must have one size per axis");
    meta.chunks = options.chunks;
    for (size_t d = 0; d < nd; ++d) {
      if (meta.chunks[d] == -1) meta.chunks[d] = meta.shape[d];
      if (meta.chunks[d] <= 0) throw std::invalid_argument("to_zarr: chunk sizes must be positive");
    }
  } else {
    for (size_t d = 0; d < nd; ++d) meta.chunks.push_back(array.chunks()[d].empty() ? 1 : array.chunks()[d][0]);
  }
  if (!options.dims.empty() && options.dims.size() != nd) {
    throw std::invalid_argument("to_zarr: dims must name every axis");
  }
  const std::vector<std::string> dims = !options.dims.empty() ? options.dims : array.dims();
  if (options.zarr_format != 2 && options.zarr_format != 3) {
    throw std::invalid_argument("to_zarr: zarr_format must be 2 or 3, not " + std::to_string(options.zarr_format));
  }
  if (options.zarr_format == 2 && (!options.shards.empty() || options.checksum)) {
    throw std::invalid_argument("to_zarr: shards and checksum need zarr_format 3");
  }
  if (options.zarr_format == 3) return to_zarr3(array, store, path, *dir, v3_meta_of(meta, options, dims));
  const std::string zarray = zarr::to_zarray(meta);

  auto create = make_node("zarr_create", Shape(nd, 1), detail::regular_chunks(Shape(nd, 1), Shape(nd, 1)), DType::kInt64);
  create->lower = [store, path, zarray, dims](const Node&, const BlockIndex&, TaskSpec& t) {
    t.op = ops::kZarrCreate;
    t.params = ops::zarr_create_params(store, path, zarray, dims);
  };
  Array data = array.rechunk(detail::regular_chunks(meta.shape, meta.chunks));
  Shape grid(nd);
  for (size_t d = 0; d < nd; ++d) grid[d] = (meta.shape[d] + meta.chunks[d] - 1) / meta.chunks[d];
  auto write = make_node("to_zarr", grid, detail::regular_chunks(grid, Shape(nd, 1)), DType::kInt64);
  write->inputs = {create, data.node()};
  write->lower = [d = *dir, zarray](const Node& self, const BlockIndex& b, TaskSpec& t) {
    t.deps = {detail::key_of(*self.inputs[0], BlockIndex(b.size(), 0)), detail::key_of(*self.inputs[1], b)};
    t.op = ops::kZarrWrite;
    t.params = ops::zarr_write_params(d, zarray, b);
  };
  return Array(write);
}

uint64_t write_zarr(const Array& array, const std::string& store, const std::string& path,
                    const ZarrWriteOptions& options, Client* client) {
  const auto written = static_cast<uint64_t>(to_zarr(array, store, path, options).sum().item(client));
  // Every chunk is in place: what a worker killed between writing a chunk and renaming
  // it into place left behind is garbage now (its task ran again elsewhere).
  // (A remote store's PUT is atomic on the server: nothing is left there.)
  if (store::is_remote_url(store)) return written;
  std::string local = store;
  if (local.rfind("file://", 0) == 0) local = store::url_decode(local.substr(7));
  if (auto dir = zarr::join_inside(local, path); dir.ok()) zarr::remove_temporaries(*dir);
  return written;
}

}  // namespace rsdat
