// Writes the seed corpus of the fuzz targets: valid conversations with the scheduler
// (a worker and a client joining, a graph submitted, run, reported and released) and
// with a worker's peer socket (hello, fetches, status).
// Also valid Zarr documents and chunks of every codec (rsdat-fuzz-zarr) and the
// scheduler, key and allowed-keys files a cluster writes (rsdat-fuzz-config).
// Usage: rsdat-fuzz-seeds DIR   (writes DIR/scheduler/*, DIR/worker/*, DIR/zarr/*, DIR/zarr3/*, DIR/config/*)
#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>

#include "rsdat.capnp.h"
#include "core/params.hpp"
#include "io/zarr.hpp"
#include "io/zarr3.hpp"
#include "net/security.hpp"
#include "net/wire_convert.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "tests/fuzz/zarr_input.hpp"

namespace rsdat::fuzz {
namespace {

std::string bytes_of(capnp::MessageBuilder& b) {
  auto words = capnp::messageToFlatArray(b);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

Message hello(uint8_t sender, wire::Role role) {
  capnp::MallocMessageBuilder b;
  auto h = b.initRoot<wire::Envelope>().initHello();
  h.setVersion(wire::PROTOCOL_VERSION);
  h.setRole(role);
  h.setName(role == wire::Role::WORKER ? "w" : "c");
  if (role == wire::Role::WORKER) h.setAddress("tcp://127.0.0.1:9");
  h.setNthreads(2);
  h.setMemoryLimit(1 << 30);
  return {sender, {bytes_of(b)}};
}

TaskSpec task(uint64_t chunk, std::string op, std::vector<TaskKey> deps, Shape shape) {
  TaskSpec t;
  t.key = {7, chunk};
  t.op = std::move(op);
  t.params = ParamWriter().f64(1.5).take();
  t.deps = std::move(deps);
  t.shape = std::move(shape);
  return t;
}

Message submit(uint8_t sender) {
  capnp::MallocMessageBuilder b;
  auto g = b.initRoot<wire::Envelope>().initSubmitGraph();
  g.setGraphId(1);
  std::vector<TaskSpec> tasks{task(0, "fill", {}, {4, 4}), task(1, "fill", {}, {4, 4}),
                              task(2, "sum", {{7, 0}, {7, 1}}, {})};
  auto list = g.initTasks(static_cast<unsigned>(tasks.size()));
  for (unsigned i = 0; i < tasks.size(); ++i) set_task_spec(list[i], tasks[i]);
  set_key(g.initWanted(1)[0], {7, 2});
  return {sender, {bytes_of(b)}};
}

// The same graph as patterns: a group of two fills, then one task reading both.
Message submit_parts(uint8_t sender) {
  capnp::MallocMessageBuilder b;
  auto g = b.initRoot<wire::Envelope>().initSubmitGraph();
  g.setGraphId(2);
  TaskGroup fills;
  fills.token = 8;
  fills.op = "fill";
  fills.chunks = {{4, 4}, {4}};
  fills.params = {ParamWriter().f64(1.5).take()};
  TaskGroup sum;
  sum.token = 7;
  sum.op = "sum";
  sum.chunks = {{1}};
  sum.params = {"", ""};
  sum.params_index = {1};
  sum.inputs = {{8, {2, 1}}};
  DepPattern both = DepPattern::mapped(0, {0, -1});
  both.count[0] = 2;
  sum.deps = {both};
  set_graph_parts(g, {fills, sum});
  set_key(g.initWanted(1)[0], {7, 0});
  return {sender, {bytes_of(b)}};
}

Message results(uint8_t sender, std::vector<uint64_t> chunks) {
  capnp::MallocMessageBuilder b;
  auto r = b.initRoot<wire::Envelope>().initTaskResults();
  auto list = r.initResults(static_cast<unsigned>(chunks.size()));
  for (unsigned i = 0; i < chunks.size(); ++i) {
    set_key(list[i].initKey(), {7, chunks[i]});
    list[i].setOk(true);
    list[i].setNbytes(128);
    list[i].setSeconds(0.001);
  }
  return {sender, {bytes_of(b)}};
}

template <typename Fill>
Message simple(uint8_t sender, Fill fill) {
  capnp::MallocMessageBuilder b;
  fill(b.initRoot<wire::Envelope>());
  return {sender, {bytes_of(b)}};
}

void write(const std::filesystem::path& dir, const std::string& name, const std::vector<Message>& messages) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << encode(messages);
}

void write_raw(const std::filesystem::path& dir, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

// Zarr documents as zarr-python writes them, and one small chunk of each codec, dtype,
// byte order and order (edge blocks included), each under the cap of zarr_input.hpp.
void write_zarr_seeds(const std::filesystem::path& dir) {
  using namespace rsdat::zarr;
  std::vector<Compressor> codecs{{}, {"blosc", "lz4", 5, 1}, {"blosc", "zstd", 3, 2}, {"blosc", "zlib", 1, 0},
                                 {"blosc", "blosclz", 9, 1}, {"zstd", "", 1}, {"lz4", "", 1}, {"zlib", "", 1},
                                 {"gzip", "", 1}};
  int n = 0;
  for (const Compressor& c : codecs) {
    for (DType t : {DType::kFloat64, DType::kFloat32, DType::kInt16, DType::kUInt32, DType::kInt64, DType::kBool}) {
      for (int layout = 0; layout < 4; ++layout) {
        ArrayMeta m;
        m.shape = {5, 3};
        m.chunks = {4, 2};
        m.dtype = t;
        m.big_endian = layout & 1;
        m.fortran_order = layout & 2;
        m.compressor = c;
        m.fill_value = t == DType::kFloat64 ? std::optional<double>(std::nan("")) : std::optional<double>(3);
        const std::string zarray = to_zarray(m);
        if (t == DType::kFloat64 && layout == 0) {
          write_raw(dir, "zarray-" + std::to_string(n), encode_zarr(ZarrMode::kZarray, 0, zarray));
        }
        for (uint8_t last : {0, 1}) {
          const std::vector<int64_t> block = last ? std::vector<int64_t>{1, 1} : std::vector<int64_t>{0, 0};
          Chunk data = Chunk::allocate(t, block_extent(m, block));
          for (size_t i = 0; i < data.nbytes(); ++i) data.mutable_bytes()[i] = static_cast<uint8_t>(t == DType::kBool ? i % 2 : i % 5);
          auto stored = encode_chunk(m, data);
          if (!stored.ok() || stored->size > kMaxChunkInput) continue;
          write_raw(dir, "chunk-" + std::to_string(n++), encode_zarr(ZarrMode::kChunk, last, zarray, stored->view()));
        }
      }
    }
  }
  ArrayMeta m;
  m.shape = {6, 4};
  m.chunks = {3, 4};
  m.separator = '/';
  m.compressor = {"blosc", "lz4", 5, 1};
  const std::string zattrs = R"({"_ARRAY_DIMENSIONS": ["y", "x"], "units": "K", "history": [1, {"a": null}]})";
  const std::string zmetadata = R"({"metadata": {".zgroup": {"zarr_format": 2}, "a/.zgroup": {"zarr_format": 2},
    "a/b/.zarray": )" + to_zarray(m) + R"(, "a/b/.zattrs": )" + zattrs + R"(}, "zarr_consolidated_format": 1})";
  write_raw(dir, "zmetadata", encode_zarr(ZarrMode::kZmetadata, 0, zmetadata, "a/b"));
  write_raw(dir, "zmetadata-root", encode_zarr(ZarrMode::kZmetadata, 0, zmetadata, ""));
  write_raw(dir, "zattrs", encode_zarr(ZarrMode::kZattrs, 2, zattrs));
}

// Zarr v3 documents (plain and sharded, every codec) with a small chunk each: a whole
// chunk for a plain array, one inner chunk for a sharded one, and a shard's index.
void write_zarr3_seeds(const std::filesystem::path& dir) {
  using namespace rsdat::zarr3;
  auto comp = [](const std::string& id) {
    Codec c{.name = id};
    c.compressor.id = id;
    c.compressor.level = id == "zstd" ? 3 : 5;
    if (id == "blosc") c.compressor.cname = "lz4";
    return c;
  };
  std::vector<std::vector<Codec>> pipelines{{Codec{.name = "bytes"}},
                                            {Codec{.name = "bytes", .big_endian = true}, Codec{.name = "crc32c"}},
                                            {Codec{.name = "transpose", .order = {1, 0}}, Codec{.name = "bytes"}, comp("zstd")},
                                            {Codec{.name = "bytes"}, comp("gzip"), Codec{.name = "crc32c"}},
                                            {Codec{.name = "bytes"}, comp("blosc")}};
  int n = 0;
  for (const auto& p : pipelines) {
    for (DType t : {DType::kFloat32, DType::kInt16, DType::kUInt8, DType::kBool, DType::kFloat64}) {
      for (bool sharded : {false, true}) {
        ArrayMeta m;
        m.shape = {5, 7};
        m.chunks = sharded ? Shape{4, 4} : Shape{2, 3};
        m.dtype = t;
        m.fill_value = t == DType::kFloat32 ? std::nan("") : 1.0;
        m.dims = {"y", "x"};
        if (sharded) {
          Codec s{.name = "sharding_indexed"};
          s.inner_chunks = {2, 2};
          s.inner = p;
          s.index_codecs = {Codec{.name = "bytes"}, Codec{.name = "crc32c"}};
          s.index_at_start = n % 2;
          m.codecs = {s};
        } else {
          m.codecs = p;
        }
        const std::string doc = to_json(m);
        if (t == DType::kFloat32) write_raw(dir, "zarr-json-" + std::to_string(n), encode_zarr(ZarrMode::kZarray, 0, doc));
        const Shape& shape = sharded ? m.codecs[0].inner_chunks : m.chunks;
        Chunk data = Chunk::allocate(t, shape);
        for (size_t i = 0; i < data.nbytes(); ++i) data.mutable_bytes()[i] = static_cast<uint8_t>(t == DType::kBool ? i % 2 : i % 5);
        auto stored = encode(sharded ? m.codecs[0].inner : m.codecs, t, shape, data, "seed");
        if (stored.ok() && stored->size <= kMaxChunkInput) {
          write_raw(dir, "chunk-" + std::to_string(n), encode_zarr(ZarrMode::kChunk, 0, doc, stored->view()));
        }
        if (sharded) {
          Chunk whole = Chunk::allocate(t, m.chunks);
          for (size_t i = 0; i < whole.nbytes(); ++i) whole.mutable_bytes()[i] = static_cast<uint8_t>(t == DType::kBool ? i % 2 : i % 3);
          auto shard = encode_shard(m, whole, "seed");
          auto index_size = shard_index_nbytes(m);
          if (shard.ok() && shard->size && index_size.ok()) {
            const std::string_view all = shard->view();
            const std::string_view index = m.codecs[0].index_at_start ? all.substr(0, *index_size)
                                                                      : all.substr(all.size() - *index_size);
            write_raw(dir, "index-" + std::to_string(n), encode_zarr(ZarrMode::kChunk, 0, doc, index));
          }
        }
        ++n;
      }
    }
  }
}

// The files of a cluster: a scheduler file as rsdat-scheduler writes it, a key file
// and a client-only key file as write_key_file writes them, an allowed-keys file.
void write_config_seeds(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const CurveKeys keys = generate_curve_keys();
  const std::string scheduler = R"({"address": "tcp://10.0.0.5:8786", "protocol_version": 1, "pid": 4242,
    "host": "node01", "started": 1764650000, "dashboard": "http://10.0.0.5:8787", "encryption": true,
    "server_key": ")" + keys.server_public + R"(", "key_file": "/home/u/.rsdat/scheduler.key",
    "allowed_keys": "/home/u/.rsdat/allowed"})";
  write_raw(dir, "scheduler-file", std::string(1, '\0') + scheduler);
  write_raw(dir, "scheduler-file-ipc", std::string(1, '\0') + R"({"address": "ipc:///tmp/rsdat-1/s", "protocol_version": 1, "pid": 7, "host": "h", "encryption": false, "dashboard": null})");
  CurveKeys client_only = keys;
  client_only.server_secret.clear();
  for (const auto& [name, k] : {std::pair{"key-file", keys}, std::pair{"client-key-file", client_only}}) {
    const std::filesystem::path path = dir / (std::string(name) + ".tmp");
    std::filesystem::remove(path);
    if (!write_key_file(path.string(), k).is_ok()) continue;
    std::ifstream in(path, std::ios::binary);
    write_raw(dir, name, std::string(1, '\1') + std::string(std::istreambuf_iterator<char>(in), {}));
    std::filesystem::remove(path);
  }
  write_raw(dir, "allowed-keys", std::string(1, '\2') + "# colleagues\n\n" + generate_curve_keys().client_public + "\n  " +
                                     generate_curve_keys().client_public + "   # alice\n");
}

}  // namespace
}  // namespace rsdat::fuzz

int main(int argc, char** argv) {
  using namespace rsdat;
  using namespace rsdat::fuzz;
  if (argc != 2 || std::string(argv[1]) == "--help") {
    std::cerr << "usage: rsdat-fuzz-seeds DIR  (writes the fuzz targets' seed corpus under DIR)\n";
    return argc == 2 ? 0 : 2;
  }
  std::filesystem::path dir = argv[1];
  auto heartbeat = simple(0, [](wire::Envelope::Builder e) { e.initHeartbeat().setManagedBytes(100); });
  auto release = simple(1, [](wire::Envelope::Builder e) { set_key(e.initReleaseKeys().initKeys(1)[0], {7, 2}); });
  auto info = simple(1, [](wire::Envelope::Builder e) { e.initInfoRequest().setRequestId(3); });
  auto steal = simple(0, [](wire::Envelope::Builder e) {
    auto r = e.initStealReply().initResults(1)[0];
    set_key(r.initKey(), {7, 1});
    r.setStolen(true);
  });
  auto failed = simple(0, [](wire::Envelope::Builder e) {
    auto r = e.initTaskResults().initResults(1)[0];
    set_key(r.initKey(), {7, 0});
    r.setOk(false);
    r.setMessage("kernel failed");
    set_key(r.initMissingDeps(1)[0], {7, 5});
  });
  auto goodbye = [](uint8_t s) {
    return simple(s, [](wire::Envelope::Builder e) { e.initGoodbye().setReason("done"); });
  };
  write(dir / "scheduler", "run", {hello(0, wire::Role::WORKER), hello(1, wire::Role::CLIENT), submit(1),
                                   results(0, {0, 1}), heartbeat, results(0, {2}), info, release, goodbye(1)});
  write(dir / "scheduler", "two-workers", {hello(0, wire::Role::WORKER), hello(2, wire::Role::WORKER),
                                           hello(1, wire::Role::CLIENT), submit(1), steal, failed, goodbye(2),
                                           results(0, {0, 1, 2}), goodbye(0)});
  write(dir / "scheduler", "client-leaves", {hello(0, wire::Role::WORKER), hello(1, wire::Role::CLIENT), submit(1),
                                             goodbye(1), results(0, {0})});
  write(dir / "scheduler", "before-hello", {submit(1), results(0, {0}), heartbeat});
  write(dir / "scheduler", "patterns", {hello(0, wire::Role::WORKER), hello(1, wire::Role::CLIENT), submit_parts(1),
                                        info, goodbye(1)});

  auto get = simple(1, [](wire::Envelope::Builder e) {
    auto g = e.initGetChunks();
    g.setRequestId(9);
    auto keys = g.initKeys(2);
    set_key(keys[0], {7, 0});
    set_key(keys[1], {7, 1});
  });
  write(dir / "worker", "fetch", {hello(1, wire::Role::PEER), get, info, goodbye(1)});
  write(dir / "worker", "client-fetch", {hello(2, wire::Role::CLIENT), get, get});
  write(dir / "worker", "before-hello", {get, heartbeat});
  write_zarr_seeds(dir / "zarr");
  write_zarr3_seeds(dir / "zarr3");
  write_config_seeds(dir / "config");
  return 0;
}
