#include "rsdat/netcdf.hpp"

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <unistd.h>

#include "client/array_internal.hpp"
#include "client/client_internal.hpp"
#include "io/netcdf.hpp"
#include "io/store.hpp"

namespace rsdat {
namespace {

using detail::BlockIndex;
using detail::Node;

// Gathered to the client at once while writing: about this many bytes of blocks.
constexpr uint64_t kWriteBatchBytes = uint64_t{64} << 20;

NetcdfAttribute public_attribute(const netcdf::Attribute& a) {
  NetcdfAttribute p;
  p.name = a.name;
  p.is_text = a.is_text;
  p.text = a.text;
  p.values = a.values;
  p.dtype = a.dtype;
  return p;
}

NetcdfVariable public_variable(const netcdf::Variable& v) {
  NetcdfVariable p;
  p.name = v.name;
  p.dtype = v.dtype;
  p.dims = v.dims;
  p.shape = v.shape;
  p.chunking = v.chunking;
  p.deflate_level = v.deflate_level;
  for (const auto& a : v.attributes) p.attributes.push_back(public_attribute(a));
  return p;
}

struct Opened {
  std::string local;
  uint64_t size = 0;  // the remote file's size (what workers check their copy against); 0 for local files
  netcdf::FileInfo info;
};

Opened open_file(const std::string& url, const char* who) {
  Opened o;
  uint64_t size = 0;
  auto local = netcdf::local_file(url, 0, &size, /*refresh=*/true);
  if (!local.ok()) throw std::invalid_argument(std::string(who) + ": " + local.status().message());
  o.local = *local;
  if (store::is_remote_url(url)) o.size = size;
  auto info = netcdf::inspect(o.local, url);
  if (!info.ok()) throw std::invalid_argument(std::string(who) + ": " + info.status().message());
  o.info = std::move(info).value();
  return o;
}

// Contiguous storage: whole trailing axes, as many leading rows as fit in `target`.
Shape contiguous_chunks(const Shape& shape, size_t item, uint64_t target) {
  Shape c = shape;
  for (size_t d = 0; d < shape.size(); ++d) {
    uint64_t rest = item;
    for (size_t e = d + 1; e < shape.size(); ++e) rest *= static_cast<uint64_t>(std::max<int64_t>(shape[e], 1));
    if (rest <= target) {
      c[d] = std::clamp<int64_t>(static_cast<int64_t>(target / rest), 1, std::max<int64_t>(shape[d], 1));
      return c;
    }
    c[d] = 1;
  }
  return c;
}

Shape read_chunks(const netcdf::Variable& v, const NetcdfReadOptions& o, const std::string& where) {
  const size_t nd = v.shape.size();
  Shape c(nd);
  if (!o.chunks.empty()) {
    if (o.chunks.size() != nd) throw std::invalid_argument("from_netcdf: " + where + ": chunks must have one size per axis");
    for (size_t d = 0; d < nd; ++d) {
      if (o.chunks[d] == 0 || o.chunks[d] < -1) throw std::invalid_argument("from_netcdf: chunk sizes must be positive (or -1)");
      c[d] = o.chunks[d] == -1 ? v.shape[d] : std::min(o.chunks[d], v.shape[d]);
    }
  } else if (!v.chunking.empty()) {
    if (!o.chunk_multiple.empty() && o.chunk_multiple.size() != nd) {
      throw std::invalid_argument("from_netcdf: " + where + ": chunk_multiple must have one factor per axis");
    }
    for (size_t d = 0; d < nd; ++d) {
      const int64_t m = o.chunk_multiple.empty() ? 1 : o.chunk_multiple[d];
      if (m <= 0) throw std::invalid_argument("from_netcdf: chunk_multiple factors must be positive");
      c[d] = std::min(v.chunking[d] * m, v.shape[d]);
    }
  } else {
    c = contiguous_chunks(v.shape, dtype_size(v.dtype), std::max<uint64_t>(o.contiguous_chunk_bytes, 1));
  }
  for (auto& x : c) x = std::max<int64_t>(x, 1);
  return c;
}

}  // namespace

const NetcdfAttribute* NetcdfVariable::attribute(std::string_view n) const {
  for (const auto& a : attributes) {
    if (a.name == n) return &a;
  }
  return nullptr;
}

const NetcdfVariable* NetcdfInfo::variable(std::string_view n) const {
  for (const auto& v : variables) {
    if (v.name == n) return &v;
  }
  return nullptr;
}

NetcdfInfo netcdf_info(const std::string& url) {
  Opened o = open_file(url, "netcdf_info");
  NetcdfInfo info;
  info.url = url;
  info.format = o.info.format;
  info.dimensions = o.info.dimensions;
  for (const auto& v : o.info.variables) info.variables.push_back(public_variable(v));
  for (const auto& a : o.info.attributes) info.attributes.push_back(public_attribute(a));
  return info;
}

Array from_netcdf(const std::string& url, const std::string& variable, const NetcdfReadOptions& options) {
  Opened o = open_file(url, "from_netcdf");
  const netcdf::Variable* v = o.info.variable(variable);
  if (!v) {
    std::string names;
    for (const auto& x : o.info.variables) names += (names.empty() ? "" : ", ") + x.name;
    throw std::invalid_argument("from_netcdf: " + url + ": no variable '" + variable + "' (it has: " +
                                (names.empty() ? "(none)" : names) + ")");
  }
  auto decoding = netcdf::decoding_of(*v, options.mask_and_scale, url);
  if (!decoding.ok()) throw std::invalid_argument("from_netcdf: " + decoding.status().message());
  const Shape chunk_shape = read_chunks(*v, options, url + ": variable '" + variable + "'");
  auto n = detail::make_node("from_netcdf", v->shape, detail::regular_chunks(v->shape, chunk_shape), decoding->out);
  n->dims = v->dims;
  n->lower = [url, size = o.size, variable, d = *decoding](const Node& self, const BlockIndex& b, TaskSpec& t) {
    t.op = ops::kNetcdfRead;
    t.params = ops::netcdf_read_params(url, size, variable, d, detail::block_offset(self.chunks, b),
                                       detail::block_shape(self.chunks, b));
  };
  return Array(n);
}

uint64_t to_netcdf(const Array& array, const std::string& path, const std::string& variable,
                   const NetcdfWriteOptions& options, Client* c) {
  const Node& n = detail::need(array.node());
  const size_t nd = n.shape.size();
  const bool remote = store::is_remote_url(path);
  if (remote && options.mode == "a") {
    throw std::invalid_argument("to_netcdf: " + path + ": variables are added to local files only (mode 'a')");
  }
  std::shared_ptr<store::Store> remote_store;
  std::string remote_key;
  if (remote) {
    // Written locally, then sent in one PUT (the server replaces the file atomically).
    const size_t slash = path.find_last_of('/');
    auto st = slash == std::string::npos ? Result<std::shared_ptr<store::Store>>(invalid_argument(path + ": not a file URL"))
                                         : store::open_store(path.substr(0, slash));
    if (!st.ok()) throw std::invalid_argument("to_netcdf: " + st.status().message());
    remote_store = *st;
    remote_key = store::url_decode(path.substr(slash + 1));
    if (remote_key.empty()) throw std::invalid_argument("to_netcdf: " + path + ": not a file URL");
  }
  if (options.mode != "w" && options.mode != "a") {
    throw std::invalid_argument("to_netcdf: mode must be 'w' or 'a', not '" + options.mode + "'");
  }
  if (options.level < 0 || options.level > 9) throw std::invalid_argument("to_netcdf: level must be 0..9");
  netcdf::WriteSpec spec;
  spec.variable = variable;
  spec.dtype = n.dtype;
  spec.shape = n.shape;
  spec.deflate_level = options.level;
  spec.shuffle = options.shuffle;
  spec.fill_value = options.fill_value;
  spec.append = options.mode == "a";
  if (!options.dims.empty()) {
    if (options.dims.size() != nd) throw std::invalid_argument("to_netcdf: dims must name every axis");
    spec.dims = options.dims;
  } else if (n.dims.size() == nd) {
    spec.dims = n.dims;
  } else {
    for (size_t d = 0; d < nd; ++d) spec.dims.push_back("dim_" + std::to_string(d));
  }
  if (!options.chunks.empty()) {
    if (options.chunks.size() != nd) throw std::invalid_argument("to_netcdf: chunks must have one size per axis");
    spec.chunking = options.chunks;
    for (size_t d = 0; d < nd; ++d) {
      if (spec.chunking[d] == -1) spec.chunking[d] = n.shape[d];
      if (spec.chunking[d] <= 0) throw std::invalid_argument("to_netcdf: chunk sizes must be positive (or -1)");
    }
  } else {
    for (size_t d = 0; d < nd; ++d) spec.chunking.push_back(n.chunks[d].empty() ? 1 : std::max<int64_t>(n.chunks[d][0], 1));
  }
  for (const auto& a : options.attrs) {
    netcdf::Attribute x;
    x.name = a.name;
    x.is_text = a.is_text;
    x.text = a.text;
    x.values = a.values;
    x.dtype = a.dtype;
    spec.attributes.push_back(std::move(x));
  }
  Client* client = c ? c : Client::current();
  if (!client) throw ClusterError("no rsdat::Client: create one (or a LocalCluster and a Client) before to_netcdf()");

  // "w" writes a temporary file renamed into place at the end: a reader never sees a
  // half-written file, and a failed computation leaves the old file as it was.
  std::string target = path;
  if (!spec.append) {
    static std::atomic<uint64_t> counter{0};
    const std::string suffix = ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    target = remote ? (std::filesystem::temp_directory_path() / ("rsdat-to-netcdf" + suffix + ".nc")).string()
                    : path + suffix;
  }
  // Messages name the file the caller gave, not the temporary one.
  auto named = [&](std::string m) {
    for (size_t at = m.find(target); target != path && at != std::string::npos; at = m.find(target, at + path.size())) {
      m.replace(at, target.size(), path);
    }
    return m;
  };
  auto writer = netcdf::Writer::create(target, spec);
  if (!writer.ok()) {
    throw std::invalid_argument("to_netcdf: " + named(writer.status().message()));
  }
  auto discard = [&] {
    (void)(*writer)->close();
    if (!spec.append) {
      std::error_code ec;
      std::filesystem::remove(target, ec);
    }
  };

  std::vector<TaskKey> keys = detail::all_keys(n);
  const bool temporary = !n.persisted;
  uint64_t written = 0;
  try {
    auto where = client->impl().run(temporary ? detail::lower_parts(n) : std::vector<GraphPart>{}, keys);
    // In C order of the block grid, a batch of about kWriteBatchBytes at a time, each
    // batch released on the cluster once written.
    size_t i = 0;
    while (i < keys.size()) {
      std::vector<TaskKey> batch;
      uint64_t bytes = 0;
      while (i < keys.size() && (batch.empty() || bytes < kWriteBatchBytes)) {
        const Shape s = detail::block_shape(n.chunks, detail::unravel_block(n.chunks, i));
        bytes += static_cast<uint64_t>(shape_size(s)) * dtype_size(n.dtype);
        batch.push_back(keys[i++]);
      }
      std::vector<Chunk> chunks = client->impl().gather(batch, where);
      const size_t first = i - batch.size();
      for (size_t k = 0; k < batch.size(); ++k) {
        const BlockIndex b = detail::unravel_block(n.chunks, first + k);
        const Shape expect = detail::block_shape(n.chunks, b);
        if (chunks[k].shape != expect || chunks[k].dtype != n.dtype) {
          throw ClusterError("to_netcdf: block " + shape_to_string(b) + " arrived as " + shape_to_string(chunks[k].shape));
        }
        Status st = (*writer)->write(detail::block_offset(n.chunks, b), chunks[k]);
        if (!st.is_ok()) throw std::runtime_error("to_netcdf: " + named(st.message()));
        written += chunks[k].nbytes();
      }
      if (temporary) client->impl().release(batch);
    }
  } catch (...) {
    if (temporary) client->impl().release(keys);
    discard();
    throw;
  }
  Status st = (*writer)->close();
  if (!st.is_ok()) {
    discard();
    throw std::runtime_error("to_netcdf: " + named(st.message()));
  }
  if (remote) {
    auto bytes = store::read_file_range(target, 0, UINT64_MAX);
    Status put = bytes.ok() ? remote_store->put(remote_key, bytes->view()) : bytes.status();
    discard();
    if (!put.is_ok()) throw std::runtime_error("to_netcdf: " + named(put.message()));
  } else if (!spec.append) {
    std::error_code ec;
    std::filesystem::rename(target, path, ec);
    if (ec) {
      discard();
      throw std::runtime_error("to_netcdf: cannot rename " + target + " to " + path + ": " + ec.message());
    }
  }
  return written;
}

}  // namespace rsdat
