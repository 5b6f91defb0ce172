// Zarr v3 interoperability with zarrita, the JavaScript reference implementation
// (tests/zarr3/: package.json and its lock; run.sh installs it with npm ci and runs
// this binary): zarrita writes stores and rsdat reads them, rsdat writes stores and
// zarrita reads them, sharded both ways. Values are compared exactly, byte for byte.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "rsdat/rsdat.hpp"

namespace rsdat {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string kScripts = RSDAT_SOURCE_DIR "/tests/zarr3";

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Distinct values of every type (as tests/integration/zarr3_test.cpp makes them).
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

class Zarr3Interop : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new LocalCluster(LocalClusterOptions{.workers = 2, .threads_per_worker = 1, .memory_limit = "2GB"});
    client_ = new Client(*cluster_, ClientOptions{.progress = false});
  }
  static void TearDownTestSuite() {
    delete client_;
    delete cluster_;
  }
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kScripts + "/node_modules/zarrita")) << "run tests/zarr3/run.sh (npm ci) first";
    dir_ = fs::temp_directory_path() / ("rsdat-zarr3-interop-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  std::string bytes_of(const Array& a) {
    return visit_dtype(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      auto v = a.compute<T>(client_);
      return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
    });
  }
  static LocalCluster* cluster_;
  static Client* client_;
  fs::path dir_;
};
LocalCluster* Zarr3Interop::cluster_ = nullptr;
Client* Zarr3Interop::client_ = nullptr;

TEST_F(Zarr3Interop, ReadsWhatZarritaWrites) {
  const std::string cmd = "node " + kScripts + "/write.mjs " + dir_.string() + " > " + (dir_ / "out.txt").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_text((dir_ / "out.txt").string());
  json manifest = json::parse(read_text((dir_ / "manifest.json").string()));
  ASSERT_EQ(manifest.size(), 12u);
  int sharded = 0;
  for (const auto& m : manifest) {
    const std::string what = m["path"].get<std::string>() + ": " + m["what"].get<std::string>();
    SCOPED_TRACE(what);
    sharded += what.find("sharded") != std::string::npos;
    Array a = from_zarr(m["store"], m["path"]);
    EXPECT_EQ(dtype_name(a.dtype()), m["dtype"].get<std::string>());
    EXPECT_EQ(a.shape(), m["shape"].get<Shape>());
    EXPECT_EQ(a.dims(), m["dims"].get<std::vector<std::string>>());
    EXPECT_TRUE(bytes_of(a) == read_text(m["expected"])) << "values differ";
  }
  EXPECT_EQ(sharded, 3);
  // The root is a group: naming an array is needed, and the error lists the members.
  try {
    from_zarr((dir_ / "zarrita.zarr").string());
    ADD_FAILURE() << "a group read as an array";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("u8_zstd"), std::string::npos) << e.what();
  }
}

TEST_F(Zarr3Interop, ZarritaReadsWhatRsdatWrites) {
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
  for (DType t : {DType::kUInt8, DType::kInt16, DType::kInt32, DType::kFloat32, DType::kFloat64, DType::kBool,
                  DType::kUInt16, DType::kInt8, DType::kUInt32}) {
    cases.push_back({std::string("zstd_") + dtype_name(t), t, {9, 11}, {4, 5}, v3("zstd", {4, 5})});
    cases.push_back({std::string("sharded_blosc_") + dtype_name(t), t, {9, 11}, {4, 6}, v3("blosc", {2, 3}, {4, 6})});
  }
  {
    ZarrWriteOptions o = v3("gzip", {3, 4});
    o.checksum = true;  // zarrita reads gzip and crc32c, though it cannot write them
    o.dims = {"y", "x"};
    o.fill_value = std::nan("");
    cases.push_back({"gzip_crc_nan", DType::kFloat32, {7, 10}, {7, 10}, o});
  }
  {
    ZarrWriteOptions o = v3("none", {2, 3, 4}, {4, 3, 8});
    o.dims = {"t", "y", "x"};
    o.fill_value = 42;
    cases.push_back({"sharded_raw_3d", DType::kInt32, {5, 7, 9}, {4, 7, 8}, o});
  }
  {
    ZarrWriteOptions o = v3("zstd", {3, 3}, {6, 6});
    o.fortran_order = true;  // the transpose codec inside the shards
    o.checksum = true;
    cases.push_back({"sharded_transpose_crc", DType::kFloat64, {10, 8}, {6, 6}, o});
  }
  std::string specs;
  for (const Case& c : cases) {
    write_zarr(values(c.dtype, c.shape, c.chunks), (dir_ / "rsdat.zarr").string(), c.name, c.options, client_);
    specs += " " + (dir_ / "rsdat.zarr").string() + ":" + c.name;
  }
  // Every shard of a sharded array is read by zarrita through its index (at the end).
  const std::string out = (dir_ / "read.json").string();
  const std::string cmd = "node " + kScripts + "/read.mjs " + (dir_ / "read").string() + specs + " > " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_text(out);
  json got = json::parse(read_text(out));
  ASSERT_EQ(got.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE(c.name);
    EXPECT_EQ(got[i]["dtype"], dtype_name(c.dtype));
    EXPECT_EQ(got[i]["shape"].get<Shape>(), c.shape);
    EXPECT_EQ(got[i]["dims"].get<std::vector<std::string>>(), c.options.dims);
    const Shape inner = got[i]["chunks"].get<Shape>();
    EXPECT_EQ(inner, c.options.chunks) << "zarrita's chunks are the inner chunks of a shard";
    EXPECT_TRUE(read_text(got[i]["bytes"]) == bytes_of(values(c.dtype, c.shape, c.chunks))) << "values differ";
  }
  EXPECT_EQ(got[cases.size() - 3]["fill_value"], "NaN");
  EXPECT_EQ(got[cases.size() - 2]["fill_value"], "42");
}

}  // namespace
}  // namespace rsdat
