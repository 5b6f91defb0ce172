// Zarr v3 on a cluster: rsdat writes v3 arrays (sharded or not, every codec) and reads
// them back exactly, over a directory and over WebDAV; one write task per shard; v2
// stays the default; bad stores give clear errors naming the store and key. The
// interoperability with zarrita is tests/zarr3/ (zarr3_interop_test).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/integration/dav_server.hpp"
#include "io/zarr3.hpp"
#include "rsdat/rsdat.hpp"

namespace rsdat {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr const char* kToken = "tok-zarr3-5d1c0b9e";

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// Distinct values of every type: the C-order index, as floats base / 4 - 20, as
// integers base % 200 - 100 (unsigned: base % 200), bool base % 3 == 0.
Array values(DType t, const Shape& shape, const Shape& chunks) {
  Array base = zeros(shape, chunks);
  int64_t stride = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    base = base + coordinate(shape, chunks, static_cast<int64_t>(d)) * static_cast<double>(stride);
    stride *= shape[d];
  }
  if (dtype_is_float(t)) return (base * 0.25 - 20.0).astype(t);
  if (t == DType::kBool) return base % 3.0 == 0.0;
  Array m = base % 200.0;
  if (t == DType::kUInt8 || t == DType::kUInt16 || t == DType::kUInt32 || t == DType::kUInt64) return m.astype(t);
  return (m - 100.0).astype(t);
}

class Zarr3Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("rsdat-zarr3-" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_);
    write_text((*dir_ / "token").string(), std::string(kToken) + "\n");
    ::unsetenv("RSDAT_BEARER_TOKEN");
    ::setenv("RSDAT_BEARER_TOKEN_FILE", (*dir_ / "token").c_str(), 1);
    ::setenv("RSDAT_STORES_CONFIG", (*dir_ / "no-stores.json").c_str(), 1);
    cluster_ = new LocalCluster(LocalClusterOptions{.workers = 2, .threads_per_worker = 1, .memory_limit = "2GB"});
    client_ = new Client(*cluster_, ClientOptions{.progress = false});
  }
  static void TearDownTestSuite() {
    delete client_;
    delete cluster_;
    fs::remove_all(*dir_);
    delete dir_;
  }
  std::string path(const std::string& name) const {
    return (*dir_ / (::testing::UnitTest::GetInstance()->current_test_info()->name() + std::string("-") + name)).string();
  }
  std::string bytes_of(const Array& a) {
    return visit_dtype(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      auto v = a.compute<T>(client_);
      return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
    });
  }
  static fs::path* dir_;
  static LocalCluster* cluster_;
  static Client* client_;
};
fs::path* Zarr3Test::dir_ = nullptr;
LocalCluster* Zarr3Test::cluster_ = nullptr;
Client* Zarr3Test::client_ = nullptr;

void expect_throw(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST_F(Zarr3Test, WritesAndReadsBackEveryKindExactly) {
  struct Case {
    std::string name;
    DType dtype;
    Shape shape, chunks;
    ZarrWriteOptions options;
  };
  auto v3 = [](const std::string& compressor, Shape chunks, Shape shards = {}) {
    ZarrWriteOptions o;
    o.zarr_format = 3;
    o.compressor = compressor;
    o.level = compressor == "zstd" ? 3 : 5;
    o.chunks = std::move(chunks);
    o.shards = std::move(shards);
    return o;
  };
  std::vector<Case> cases;
  for (int i = 0; i < kNumDTypes; ++i) {
    const DType t = static_cast<DType>(i);
    cases.push_back({std::string("plain_") + dtype_name(t), t, {9, 11}, {4, 5}, v3("blosc", {4, 5})});
    cases.push_back({std::string("sharded_") + dtype_name(t), t, {9, 11}, {5, 5}, v3("zstd", {2, 3}, {4, 6})});
  }
  for (const char* c : {"gzip", "zstd", "blosc", "none"}) {
    ZarrWriteOptions o = v3(c, {3, 4}, {6, 8});
    o.checksum = true;
    o.index_location = "start";
    cases.push_back({std::string("start_crc_") + c, DType::kFloat32, {13, 10}, {13, 10}, o});
    ZarrWriteOptions u = v3(c, {3, 4});
    u.checksum = true;
    cases.push_back({std::string("crc_") + c, DType::kInt16, {13, 10}, {5, 5}, u});
  }
  {
    ZarrWriteOptions o = v3("zstd", {2, 3, 4}, {4, 3, 8});
    o.fortran_order = true;  // a transpose codec
    o.dims = {"t", "y", "x"};
    o.fill_value = std::nan("");
    cases.push_back({"transpose_3d", DType::kFloat64, {5, 7, 9}, {3, 7, 4}, o});
  }
  {
    ZarrWriteOptions o = v3("blosc", {1000}, {-1});  // one shard holding every chunk
    cases.push_back({"one_shard", DType::kUInt32, {2500}, {700}, o});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string store = path(c.name + ".zarr");
    Array a = values(c.dtype, c.shape, c.chunks);
    Array w = to_zarr(a, store, "g/a", c.options);
    // One write task per shard (or chunk, unsharded).
    const Shape grid_of = c.options.shards.empty() ? c.options.chunks : c.options.shards;
    for (size_t d = 0; d < c.shape.size(); ++d) {
      const int64_t s = grid_of[d] == -1 ? c.shape[d] : grid_of[d];
      EXPECT_EQ(w.shape()[d], (c.shape[d] + s - 1) / s);
    }
    EXPECT_GT(w.sum().item(client_), 0.0);
    ASSERT_TRUE(fs::exists(store + "/g/a/zarr.json"));
    EXPECT_FALSE(fs::exists(store + "/g/a/.zarray"));
    EXPECT_EQ(json::parse(read_text(store + "/zarr.json"))["node_type"], "group");
    EXPECT_EQ(json::parse(read_text(store + "/g/zarr.json"))["node_type"], "group");
    Array b = from_zarr(store, "g/a");
    EXPECT_EQ(b.shape(), c.shape);
    EXPECT_EQ(b.dtype(), c.dtype);
    EXPECT_EQ(b.dims(), c.options.dims);
    EXPECT_TRUE(bytes_of(b) == bytes_of(a)) << "values differ";
    // The shards are the read tasks too.
    if (!c.options.shards.empty() && c.options.shards[0] != -1) EXPECT_EQ(b.chunks()[0][0], c.options.shards[0]);
  }
}

TEST_F(Zarr3Test, ShardsLeaveOutChunksOfFillValues) {
  const std::string store = path("sparse.zarr");
  ZarrWriteOptions o;
  o.zarr_format = 3;
  o.chunks = {4, 4};
  o.shards = {8, 8};
  o.fill_value = -1;
  // Only the top-left 4 x 4 corner differs from the fill value.
  Array corner = (coordinate({16, 16}, {8, 8}, 0) < 4.0) & (coordinate({16, 16}, {8, 8}, 1) < 4.0);
  Array a = where(corner, full({16, 16}, {8, 8}, 5.0), -1.0).astype(DType::kInt32);
  write_zarr(a, store, "", o, client_);
  EXPECT_TRUE(fs::exists(store + "/c/0/0"));
  // Shards of fill values only are not stored at all.
  EXPECT_FALSE(fs::exists(store + "/c/1/1"));
  EXPECT_FALSE(fs::exists(store + "/c/0/1"));
  // One inner chunk stored: 64 bytes of data at most (zstd/blosc) plus the index of 4 x 16 + 4.
  EXPECT_LT(fs::file_size(store + "/c/0/0"), 4u * 4 * 4 + 68 + 64);
  EXPECT_EQ(from_zarr(store).compute<int32_t>(client_), a.compute<int32_t>(client_));
}

TEST_F(Zarr3Test, V2StaysTheDefault) {
  const std::string store = path("v2.zarr");
  Array a = values(DType::kFloat32, {6, 7}, {3, 3});
  write_zarr(a, store, "", {}, client_);
  EXPECT_TRUE(fs::exists(store + "/.zarray"));
  EXPECT_FALSE(fs::exists(store + "/zarr.json"));
  EXPECT_TRUE(bytes_of(from_zarr(store)) == bytes_of(a));
  // Writing v3 over it replaces the v2 array.
  ZarrWriteOptions o;
  o.zarr_format = 3;
  write_zarr(a * 2.0, store, "", o, client_);
  EXPECT_FALSE(fs::exists(store + "/.zarray"));
  EXPECT_TRUE(bytes_of(from_zarr(store)) == bytes_of(a * 2.0));
}

TEST_F(Zarr3Test, BadStoresGiveClearErrorsNamingTheStoreAndKey) {
  const std::string good = R"({"zarr_format":3,"node_type":"array","shape":[4,4],"data_type":"float64",
    "chunk_grid":{"name":"regular","configuration":{"chunk_shape":[2,2]}},
    "chunk_key_encoding":{"name":"default","configuration":{"separator":"/"}},
    "fill_value":0,"codecs":[{"name":"bytes","configuration":{"endian":"little"}}]})";
  auto patched = [&](const char* key, const json& value) {
    json j = json::parse(good);
    j[key] = value;
    return j.dump();
  };
  const std::string nocodec = path("nocodec.zarr");
  write_text(nocodec + "/zarr.json", patched("codecs", json::array({{{"name", "zstd"}}})));
  expect_throw([&] { from_zarr(nocodec); }, nocodec + "/zarr.json");
  expect_throw([&] { from_zarr(nocodec); }, "no array-to-bytes codec");
  const std::string unknown = path("unknown.zarr");
  write_text(unknown + "/zarr.json",
             patched("codecs", json::array({{{"name", "bytes"}, {"configuration", {{"endian", "little"}}}},
                                            {{"name", "brotli"}}})));
  expect_throw([&] { from_zarr(unknown); }, "unsupported codec 'brotli'");
  expect_throw([&] { from_zarr(unknown); }, unknown + "/zarr.json");
  const std::string corrupt = path("corrupt.zarr");
  write_text(corrupt + "/zarr.json", "{\"zarr_format\": 3, \"node_type\": \"arr");
  expect_throw([&] { from_zarr(corrupt); }, corrupt + "/zarr.json");
  const std::string group = path("group.zarr");
  write_text(group + "/zarr.json", zarr3::group_json());
  write_text(group + "/member/zarr.json", good);
  expect_throw([&] { from_zarr(group); }, "member");
  EXPECT_EQ(from_zarr(group, "member").shape(), (Shape{4, 4}));

  // A chunk of the wrong size (the shape in zarr.json does not match the stored chunk).
  const std::string mismatch = path("mismatch.zarr");
  write_text(mismatch + "/zarr.json", good);
  write_text(mismatch + "/c/1/0", std::string(5 * 8, '\0'));
  expect_throw([&] { from_zarr(mismatch).compute<double>(client_); }, mismatch + "/c/1/0");
  expect_throw([&] { from_zarr(mismatch).compute<double>(client_); }, "expected 32");

  // A truncated shard fails its task with the shard's key; the cluster goes on.
  const std::string trunc = path("trunc.zarr");
  ZarrWriteOptions o;
  o.zarr_format = 3;
  o.chunks = {2, 2};
  o.shards = {4, 4};
  write_zarr(values(DType::kFloat64, {8, 4}, {4, 4}) + 1.0, trunc, "", o, client_);
  const std::string shard = trunc + "/c/1/0";
  const std::string bytes = read_text(shard);
  write_text(shard, bytes.substr(0, bytes.size() - 7));
  expect_throw([&] { from_zarr(trunc).compute<double>(client_); }, shard);
  write_text(shard, bytes.substr(0, 20));
  expect_throw([&] { from_zarr(trunc).compute<double>(client_); }, "truncated shard");

  // Options that cannot be written.
  ZarrWriteOptions bad = o;
  bad.shards = {3, 4};
  expect_throw([&] { to_zarr(ones({8, 4}, {4, 4}), path("x.zarr"), "", bad); }, "multiple of the chunk shape");
  bad = o;
  bad.compressor = "lz4";
  expect_throw([&] { to_zarr(ones({8, 4}, {4, 4}), path("x.zarr"), "", bad); }, "zarr_format 3 writes");
  bad = o;
  bad.index_location = "middle";
  expect_throw([&] { to_zarr(ones({8, 4}, {4, 4}), path("x.zarr"), "", bad); }, "index_location");
  bad = ZarrWriteOptions{};
  bad.shards = {4, 4};
  expect_throw([&] { to_zarr(ones({8, 4}, {4, 4}), path("x.zarr"), "", bad); }, "need zarr_format 3");
  EXPECT_EQ(ones({3}, {2}).sum().item(client_), 3.0);
}

TEST_F(Zarr3Test, ReadsAShardedStoreOverWebDav) {
  test_support::DavServer server(*dir_ / "dav", kToken);
  ZarrWriteOptions o;
  o.zarr_format = 3;
  o.compressor = "zstd";
  o.chunks = {3, 4};
  o.shards = {6, 8};
  o.dims = {"y", "x"};
  Array a = values(DType::kFloat32, {14, 17}, {6, 8});
  // Written through the server (PUT of whole shards), read through it (ranged GETs).
  write_zarr(a, server.url("cube.zarr"), "b04", o, client_);
  EXPECT_TRUE(fs::exists(server.root() / "cube.zarr" / "b04" / "c" / "2" / "2"));
  Array b = from_zarr(server.url("cube.zarr"), "b04");
  EXPECT_EQ(b.dims(), o.dims);
  EXPECT_TRUE(bytes_of(b) == bytes_of(a));
  // Index at the start, too.
  o.index_location = "start";
  write_zarr(a * 3.0, server.url("cube.zarr"), "b08", o, client_);
  EXPECT_TRUE(bytes_of(from_zarr(server.url("cube.zarr"), "b08")) == bytes_of(a * 3.0));
  // A truncated shard on the server: the task's error names the URL of the shard.
  const fs::path shard = server.root() / "cube.zarr" / "b04" / "c" / "0" / "1";
  const std::string bytes = read_text(shard.string());
  write_text(shard.string(), bytes.substr(0, bytes.size() / 2));
  expect_throw([&] { from_zarr(server.url("cube.zarr"), "b04").compute<float>(client_); },
               server.url("cube.zarr/b04/c/0/1"));
}

}  // namespace
}  // namespace rsdat
