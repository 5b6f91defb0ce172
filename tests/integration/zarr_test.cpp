// Zarr interoperability with zarr-python (Debian's python3-zarr): Python writes stores
// of every supported kind and rsdat reads them; rsdat writes stores and Python reads
// them back. Values are compared exactly. Plus the errors a user meets with bad stores.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "rsdat/rsdat.hpp"
#include "io/zarr.hpp"

namespace rsdat {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const char* kScript = RSDAT_SOURCE_DIR "/tests/zarr/interop.py";

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

class ZarrTest : public ::testing::Test {
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
    dir_ = fs::temp_directory_path() / ("rsdat-zarr-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  // Computes `a` and returns its bytes (C order, native byte order).
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
LocalCluster* ZarrTest::cluster_ = nullptr;
Client* ZarrTest::client_ = nullptr;

TEST_F(ZarrTest, ReadsWhatZarrPythonWrites) {
  ASSERT_EQ(std::system(("/usr/bin/python3 " + std::string(kScript) + " write " + dir_.string()).c_str()), 0);
  json manifest = json::parse(read_text((dir_ / "python" / "manifest.json").string()));
  ASSERT_GT(manifest.size(), 50u);
  for (const auto& m : manifest) {
    const std::string what = m["store"].get<std::string>() + " " + m["path"].get<std::string>() + ": " +
                             m["what"].get<std::string>();
    SCOPED_TRACE(what);
    Array a = from_zarr(m["store"], m["path"]);
    EXPECT_EQ(dtype_name(a.dtype()), m["dtype"].get<std::string>());
    EXPECT_EQ(a.shape(), m["shape"].get<Shape>());
    EXPECT_EQ(a.dims(), m["dims"].get<std::vector<std::string>>());
    EXPECT_TRUE(bytes_of(a) == read_text(m["expected"])) << "values differ";
  }
}

struct WriteCase {
  std::string name;
  DType dtype;
  Shape shape;
  Shape array_chunks;
  ZarrWriteOptions options;
  std::string path = "";
};

// The values interop.py expects: base = C-order index; floats base/4 - 20, integers
// base % 100, bool (rule "nonzero") base/4 - 20 != 0.
Array expected_values(DType t, const Shape& shape, const Shape& chunks) {
  Array base = zeros(shape, chunks);
  int64_t stride = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    base = base + coordinate(shape, chunks, static_cast<int64_t>(d)) * static_cast<double>(stride);
    stride *= shape[d];
  }
  if (dtype_is_float(t) || t == DType::kBool) return (base * 0.25 - 20.0).astype(t);
  return base.astype(t);
}

TEST_F(ZarrTest, ZarrPythonReadsWhatRsdatWrites) {
  std::vector<WriteCase> cases;
  // Every dtype with the default codec (blosc lz4, byte shuffle); shapes <= 100 elements
  // so base % 100 == base.
  for (int i = 0; i < kNumDTypes; ++i) {
    DType t = static_cast<DType>(i);
    cases.push_back({std::string("dtype_") + dtype_name(t), t, {9, 11}, {4, 5}, {}});
  }
  for (const char* cname : {"lz4", "lz4hc", "blosclz", "zstd", "zlib"}) {
    for (int shuffle : {0, 1, 2}) {
      ZarrWriteOptions o;
      o.cname = cname;
      o.shuffle = shuffle;
      cases.push_back({std::string("blosc_") + cname + "_" + std::to_string(shuffle), DType::kFloat32, {9, 11}, {9, 11}, o});
    }
  }
  for (const char* comp : {"zstd", "lz4", "zlib", "gzip", "none"}) {
    ZarrWriteOptions o;
    o.compressor = comp;
    o.level = std::string(comp) == "zstd" ? 3 : 6;
    cases.push_back({std::string("codec_") + comp, DType::kFloat64, {9, 11}, {3, 4}, o});
  }
  {
    ZarrWriteOptions o;
    o.fortran_order = true;
    o.chunks = {2, 3, 4};
    cases.push_back({"order_f", DType::kInt16, {3, 5, 6}, {3, 5, 6}, o});
  }
  {
    ZarrWriteOptions o;  // store chunks differ from the array's
    o.chunks = {4, 3};
    o.fill_value = std::numeric_limits<double>::quiet_NaN();
    o.dims = {"y", "x"};
    cases.push_back({"rechunked_nan_fill_dims", DType::kFloat32, {9, 11}, {2, 5}, o, "grp/sub/arr"});
  }
  {
    ZarrWriteOptions o;
    o.fill_value = std::nullopt;
    o.chunks = {-1};
    cases.push_back({"one_d_null_fill", DType::kUInt16, {97}, {10}, o});
  }

  json manifest = json::array();
  for (const WriteCase& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string store = (dir_ / "rsdat" / (c.name + ".zarr")).string();
    Array a = expected_values(c.dtype, c.shape, c.array_chunks);
    uint64_t written = write_zarr(a, store, c.path, c.options, client_);
    EXPECT_GT(written, 0u);
    json comp = {{"id", c.options.compressor}};
    if (c.options.compressor == "blosc") {
      comp["cname"] = c.options.cname;
      comp["shuffle"] = c.options.shuffle;
      comp["clevel"] = c.options.level;
    } else if (c.options.compressor != "none" && c.options.compressor != "lz4") {
      comp["level"] = c.options.level;
    }
    Shape chunks = c.options.chunks.empty() ? c.array_chunks : c.options.chunks;
    for (size_t d = 0; d < chunks.size(); ++d) {
      if (chunks[d] == -1) chunks[d] = c.shape[d];
    }
    json entry = {{"store", store}, {"path", c.path}, {"dtype", dtype_name(c.dtype)}, {"shape", c.shape},
                  {"chunks", chunks}, {"compressor", comp}, {"order", c.options.fortran_order ? "F" : "C"},
                  {"dims", c.options.dims}, {"what", c.name}, {"rule", "nonzero"}};
    if (c.options.fill_value && std::isnan(*c.options.fill_value)) entry["fill"] = "NaN";
    manifest.push_back(entry);
  }
  write_text((dir_ / "rsdat" / "manifest.json").string(), manifest.dump(1));
  EXPECT_EQ(std::system(("/usr/bin/python3 " + std::string(kScript) + " check " + dir_.string()).c_str()), 0);
}

TEST_F(ZarrTest, RoundTripThroughRsdatKeepsValuesAndDims) {
  const std::string store = (dir_ / "rt.zarr").string();
  Array x = random::uniform({50, 40, 30}, {20, 16, 7}, 5, DType::kFloat32);
  ZarrWriteOptions o;
  o.dims = {"time", "y", "x"};
  o.compressor = "zstd";
  o.level = 3;
  write_zarr(x, store, "", o, client_);
  Array y = from_zarr(store);
  EXPECT_EQ(y.dims(), o.dims);
  EXPECT_EQ(y.chunks(), x.chunks());
  EXPECT_EQ(x.compute<float>(client_), y.compute<float>(client_));
  // Writing again over it replaces the array.
  write_zarr(x * 2.0, store, "", o, client_);
  EXPECT_EQ((x * 2.0).compute<float>(client_), from_zarr(store).compute<float>(client_));
}

// A view of a store reads the chunk files it touches and no others: every other chunk
// file is garbage here, and the view still computes.
TEST_F(ZarrTest, AViewReadsOnlyTheChunksItTouches) {
  const std::string store = (dir_ / "view.zarr").string();
  Array x = random::uniform({40, 50}, {10, 10}, 8, DType::kFloat32);
  write_zarr(x, store, "", {}, client_);
  // Rows 12..27 and columns 31..38: chunks (1..2, 3).
  for (int64_t i = 0; i < 4; ++i) {
    for (int64_t j = 0; j < 5; ++j) {
      if ((i == 1 || i == 2) && j == 3) continue;
      write_text(store + "/" + std::to_string(i) + "." + std::to_string(j), "not a chunk");
    }
  }
  Array z = from_zarr(store);
  auto expect = view(x, range(12, 28), range(31, 39)).compute<float>(client_);
  EXPECT_EQ(view(z, range(12, 28), range(31, 39)).compute<float>(client_), expect);
  EXPECT_EQ(view(z, range(27, 11, -1), 35).compute<float>(client_), view(x, range(27, 11, -1), 35).compute<float>(client_));
  EXPECT_THROW(z.compute<float>(client_), TaskError);  // the garbage is read when touched
}

TEST_F(ZarrTest, BadStoresGiveClearErrorsNamingTheFile) {
  auto expect_throw = [](auto&& f, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const std::string s = dir_.string();
  expect_throw([&] { from_zarr(s + "/nothing.zarr"); }, "nothing.zarr");
  write_text(s + "/corrupt.zarr/.zarray", "{\"zarr_format\": 2, \"shape\": [4");
  expect_throw([&] { from_zarr(s + "/corrupt.zarr"); }, "corrupt.zarr/.zarray");
  const std::string good =
      R"({"zarr_format": 2, "shape": [4, 4], "chunks": [2, 2], "dtype": "<f8", "compressor": null,
          "fill_value": 0, "order": "C", "filters": null})";
  auto patched = [&](const char* key, const json& value) {
    json j = json::parse(good);
    j[key] = value;
    return j.dump();
  };
  write_text(s + "/codec.zarr/.zarray", patched("compressor", {{"id", "brotli"}}));
  expect_throw([&] { from_zarr(s + "/codec.zarr"); }, "unknown codec 'brotli'");
  write_text(s + "/dtype.zarr/.zarray", patched("dtype", "<c16"));
  expect_throw([&] { from_zarr(s + "/dtype.zarr"); }, "unsupported dtype '<c16'");
  write_text(s + "/group.zarr/.zgroup", "{\"zarr_format\": 2}");
  write_text(s + "/group.zarr/member/.zarray", good);
  expect_throw([&] { from_zarr(s + "/group.zarr"); }, "member");
  expect_throw([&] { from_zarr(s + "/group.zarr", "../codec.zarr"); }, "leaves the store");
  expect_throw([&] { from_zarr(s + "/group.zarr", "/etc"); }, "relative");

  // A truncated chunk fails its task with the file's name; the cluster goes on.
  write_zarr(ones({4, 4}, {2, 2}), s + "/trunc.zarr", "", {}, client_);
  const std::string chunk = s + "/trunc.zarr/1.0";
  std::string bytes = read_text(chunk);
  write_text(chunk, bytes.substr(0, bytes.size() / 2));
  expect_throw([&] { from_zarr(s + "/trunc.zarr").compute<double>(client_); }, chunk);
  // An undecodable one, too.
  write_text(chunk, std::string(bytes.size(), 'x'));
  expect_throw([&] { from_zarr(s + "/trunc.zarr").compute<double>(client_); }, chunk);

  // Writing into a directory that holds other files is refused, and they stay.
  write_text(s + "/precious/data.txt", "keep me");
  expect_throw([&] { write_zarr(ones({4}, {2}), s + "/precious", "", {}, client_); }, "refusing");
  EXPECT_EQ(read_text(s + "/precious/data.txt"), "keep me");
  ZarrWriteOptions bad;
  bad.compressor = "snappy";
  expect_throw([&] { to_zarr(ones({4}, {2}), s + "/x.zarr", "", bad); }, "unknown compressor 'snappy'");
  EXPECT_EQ(from_zarr(s + "/trunc.zarr").shape(), (Shape{4, 4}));  // still served
  EXPECT_EQ(ones({3}, {2}).sum().item(client_), 3.0);
}

TEST_F(ZarrTest, NdviProgramMatchesNumpy) {
  const std::string script = RSDAT_SOURCE_DIR "/tests/zarr/ndvi_check.py";
  const char* bin = std::getenv("RSDAT_BIN_DIR");
  ASSERT_NE(bin, nullptr);
  const std::string d = dir_.string();
  ASSERT_EQ(std::system(("/usr/bin/python3 " + script + " make " + d).c_str()), 0);
  for (const char* name : {"float", "cube"}) {
    SCOPED_TRACE(name);
    const std::string in = d + "/" + name + ".zarr";
    const std::string out = d + "/" + name + "_ndvi.zarr:ndvi/mean";
    const std::string cmd = std::string(bin) + "/rsdat-ndvi --workers 2 --red " + in + ":B04 --nir " + in +
                            ":B08 --out " + out + " --scheduler-file " + cluster_->scheduler_file();
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    EXPECT_EQ(std::system(("/usr/bin/python3 " + script + " check " + d + " " + name + " " + out).c_str()), 0);
  }
  // Bad input: a clear error, nothing written.
  const std::string bad = std::string(bin) + "/rsdat-ndvi --red " + d + "/missing.zarr --nir " + d +
                          "/float.zarr:B08 --out " + d + "/never.zarr --scheduler-file " + cluster_->scheduler_file() +
                          " 2>" + d + "/err.txt";
  EXPECT_NE(std::system(bad.c_str()), 0);
  EXPECT_NE(read_text(d + "/err.txt").find("missing.zarr"), std::string::npos) << read_text(d + "/err.txt");
  EXPECT_FALSE(fs::exists(d + "/never.zarr"));
}

}  // namespace
}  // namespace rsdat
