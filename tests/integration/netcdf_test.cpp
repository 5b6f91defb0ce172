// NetCDF4 interoperability with netCDF4-python and xarray (Debian's python3-netcdf4,
// python3-xarray): tests/netcdf/make_files.py writes files in Daymet's layout and
// others, and rsdat's reads are compared exactly with what xarray reads (decoded and
// raw); rsdat writes files and xarray reads them back. Remote files over the WebDAV
// test server. Plus the errors a user meets with bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "io/netcdf.hpp"
#include "rsdat/rsdat.hpp"
#include "tests/integration/dav_server.hpp"

namespace rsdat {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string kScript = RSDAT_SOURCE_DIR "/tests/netcdf/make_files.py";
constexpr const char* kToken = "netcdf-test-token";

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class NetcdfTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("rsdat-netcdf-test-" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_ / "files");
    ASSERT_EQ(std::system(("/usr/bin/python3 " + kScript + " write " + (*dir_ / "files").string()).c_str()), 0);
    server_ = new test_support::DavServer(*dir_ / "dav", kToken);
    fs::copy_file(*dir_ / "files" / "daymet_chunked.nc", server_->root() / "daymet_chunked.nc");
    ::setenv("RSDAT_BEARER_TOKEN", kToken, 1);  // the workers, started next, inherit it
    cluster_ = new LocalCluster(LocalClusterOptions{.workers = 2, .threads_per_worker = 2, .memory_limit = "1GB"});
    client_ = new Client(*cluster_, ClientOptions{.progress = false});
  }
  static void TearDownTestSuite() {
    delete client_;
    delete cluster_;
    delete server_;
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string file(const std::string& name) { return (*dir_ / "files" / name).string(); }
  static std::string bytes_of(const Array& a) {
    return visit_dtype(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      auto v = a.compute<T>(client_);
      return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
    });
  }
  // Equal bytes, NaN included (xarray's and rsdat's NaN are both the quiet NaN of a cast).
  static bool same_values(const Array& a, const std::string& want) {
    std::string got = bytes_of(a);
    if (got.size() != want.size()) return false;
    if (got == want) return true;
    if (!dtype_is_float(a.dtype())) return false;
    return visit_dtype(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* g = reinterpret_cast<const T*>(got.data());
      const T* w = reinterpret_cast<const T*>(want.data());
      for (size_t i = 0; i < got.size() / sizeof(T); ++i) {
        if (!(g[i] == w[i] || (std::isnan(static_cast<double>(g[i])) && std::isnan(static_cast<double>(w[i]))))) return false;
      }
      return true;
    });
  }
  static json manifest() { return json::parse(read_bytes((*dir_ / "files" / "manifest.json").string())); }

  inline static fs::path* dir_ = nullptr;
  inline static test_support::DavServer* server_ = nullptr;
  inline static LocalCluster* cluster_ = nullptr;
  inline static Client* client_ = nullptr;
};

TEST_F(NetcdfTest, ReadsWhatXarrayReadsDecodedAndRaw) {
  json m = manifest();
  ASSERT_GE(m.size(), 40u);
  for (const auto& e : m) {
    const bool mask = e["mask_and_scale"];
    const std::string what = e["file"].get<std::string>() + " " + e["variable"].get<std::string>() +
                             (mask ? " decoded" : " raw");
    SCOPED_TRACE(what);
    Array a = from_netcdf(e["file"], e["variable"], {.mask_and_scale = mask});
    EXPECT_EQ(dtype_name(a.dtype()), e["dtype"].get<std::string>());
    EXPECT_EQ(a.shape(), e["shape"].get<Shape>());
    EXPECT_EQ(a.dims(), e["dims"].get<std::vector<std::string>>());
    EXPECT_TRUE(same_values(a, read_bytes(e["expected"]))) << "values differ";
  }
}

TEST_F(NetcdfTest, ChunksFollowTheStorage) {
  // Daymet's (1, 64, 64) chunks over (12, 96, 80): edge chunks of 32 and 16.
  Array t = from_netcdf(file("daymet_chunked.nc"), "tmax");
  EXPECT_EQ(t.chunks(), (Chunks{std::vector<int64_t>(12, 1), {64, 32}, {64, 16}}));
  EXPECT_EQ(t.num_chunks(), 12 * 2 * 2);
  Array m = from_netcdf(file("daymet_chunked.nc"), "tmax", {.chunk_multiple = {4, 2, 2}});
  EXPECT_EQ(m.chunks(), (Chunks{{4, 4, 4}, {96}, {80}}));
  // Contiguous: about contiguous_chunk_bytes per block, whole trailing axes.
  Array c = from_netcdf(file("daymet_contiguous.nc"), "tmax", {.contiguous_chunk_bytes = 96 * 80 * 4 * 5});
  EXPECT_EQ(c.chunks(), (Chunks{{5, 5, 2}, {96}, {80}}));
  Array whole = from_netcdf(file("daymet_contiguous.nc"), "tmax");
  EXPECT_EQ(whole.num_chunks(), 1);
  Array x = from_netcdf(file("daymet_chunked.nc"), "tmax", {.chunks = {5, -1, 30}});
  EXPECT_EQ(x.chunks(), (Chunks{{5, 5, 2}, {96}, {30, 30, 20}}));
  // The same values whatever the chunks.
  EXPECT_TRUE(bytes_of(c) == bytes_of(whole));
  EXPECT_TRUE(bytes_of(t) == bytes_of(m));
  EXPECT_TRUE(bytes_of(t) == bytes_of(x));
}

TEST_F(NetcdfTest, InfoListsVariablesAttributesAndCoordinates) {
  NetcdfInfo info = netcdf_info(file("daymet_chunked.nc"));
  EXPECT_EQ(info.format, "netCDF-4");
  ASSERT_NE(info.variable("tmax"), nullptr);
  const NetcdfVariable& t = *info.variable("tmax");
  EXPECT_EQ(t.dtype, DType::kFloat32);
  EXPECT_EQ(t.dims, (std::vector<std::string>{"time", "y", "x"}));
  EXPECT_EQ(t.shape, (Shape{12, 96, 80}));
  EXPECT_EQ(t.chunking, (Shape{1, 64, 64}));
  EXPECT_EQ(t.deflate_level, 4);
  ASSERT_NE(t.attribute("_FillValue"), nullptr);
  EXPECT_EQ(t.attribute("_FillValue")->values, std::vector<double>{-9999.0});
  EXPECT_EQ(t.attribute("units")->text, "degrees C");
  const NetcdfVariable* time = info.variable("time");
  ASSERT_NE(time, nullptr);
  EXPECT_EQ(time->attribute("units")->text, "days since 1980-01-01 00:00:00 UTC");
  EXPECT_EQ(time->attribute("calendar")->text, "standard");
  EXPECT_EQ(time->dims, std::vector<std::string>{"time"});
  ASSERT_EQ(info.dimensions.size(), 3u);
  EXPECT_EQ(info.dimensions[0], (std::pair<std::string, int64_t>{"time", 12}));
  ASSERT_FALSE(info.attributes.empty());
  EXPECT_EQ(info.attributes[0].text, "rsdat tests, Daymet's layout");
  EXPECT_TRUE(netcdf_info(file("daymet_contiguous.nc")).variable("tmin")->chunking.empty());
  // Coordinates are arrays like any other.
  auto x = from_netcdf(file("daymet_chunked.nc"), "x").compute<float>(client_);
  EXPECT_EQ(x(0), -2000.0f);
  EXPECT_EQ(x(79), 77000.0f);
  auto days = from_netcdf(file("daymet_chunked.nc"), "time").compute<double>(client_);
  EXPECT_EQ(days(11), 11.5);
}

TEST_F(NetcdfTest, DecodedArraysComputeLikeOthers) {
  // NaN where _FillValue was: the sea (7 columns) and a patch on day 3.
  Array t = from_netcdf(file("daymet_chunked.nc"), "tmax");
  EXPECT_EQ(isnan(t).sum().item(client_), 12.0 * 96 * 7 + 10 * 4);
  Array raw = from_netcdf(file("daymet_chunked.nc"), "tmax", {.mask_and_scale = false});
  EXPECT_EQ((raw == -9999.0f).sum().item(client_), 12.0 * 96 * 7 + 10 * 4);
  auto mean = t.nanmean({0}).compute<float>(client_);
  EXPECT_TRUE(std::isnan(mean(0, 79)));
  EXPECT_FALSE(std::isnan(mean(0, 0)));
}

TEST_F(NetcdfTest, XarrayReadsWhatToNetcdfWrites) {
  const std::string out = (*dir_ / "written.nc").string();
  Array t = from_netcdf(file("daymet_chunked.nc"), "tmax", {.chunk_multiple = {3, 1, 1}});
  Array mean = t.nanmean({0});  // (96, 80) float32 with NaN, chunks (64|32, 64|16)
  const uint64_t written = to_netcdf(mean, out, "tmax_mean",
                                     {.dims = {"y", "x"},
                                      .attrs = {NetcdfAttribute::of_text("units", "degrees C"),
                                                NetcdfAttribute::of_numbers("valid_max", {60.0}, DType::kFloat32)},
                                      .fill_value = std::nan("")},
                                     client_);
  EXPECT_EQ(written, 96u * 80 * 4);
  const std::string expected = (*dir_ / "tmax_mean.bin").string();
  std::ofstream(expected, std::ios::binary) << bytes_of(mean);
  EXPECT_EQ(std::system(("/usr/bin/python3 " + kScript + " check " + out + " tmax_mean " + expected +
                         " float32 96,80 y,x 64,64").c_str()),
            0);
  // rsdat reads its own file back, with the attributes.
  NetcdfInfo info = netcdf_info(out);
  EXPECT_EQ(info.variable("tmax_mean")->attribute("units")->text, "degrees C");
  EXPECT_EQ(info.variable("tmax_mean")->attribute("valid_max")->dtype, DType::kFloat32);
  EXPECT_TRUE(same_values(from_netcdf(out, "tmax_mean"), bytes_of(mean)));

  // Appending variables (mode "a"): an int16 4-D one, many blocks in several batches.
  Array cube = from_netcdf(file("various.nc"), "cube");
  to_netcdf(mean.astype(DType::kFloat64), out, "tmax_mean64", {.mode = "a"}, client_);
  EXPECT_EQ(netcdf_info(out).variables.size(), 2u);
  const std::string out4 = (*dir_ / "cube.nc").string();
  Array big = (cube % 1000).astype(DType::kInt16);
  to_netcdf(big, out4, "cube", {.dims = {"a", "b", "c", "d"}, .chunks = {1, 1, 8, 8}, .level = 1}, client_);
  const std::string expected4 = (*dir_ / "cube.bin").string();
  std::ofstream(expected4, std::ios::binary) << bytes_of(big);
  EXPECT_EQ(std::system(("/usr/bin/python3 " + kScript + " check " + out4 + " cube " + expected4 +
                         " int16 2,3,40,50 a,b,c,d 1,1,8,8").c_str()),
            0);
  // Appending to a dimension of another length is refused, naming it.
  try {
    to_netcdf(zeros({5}, {5}), out, "short", {.dims = {"y"}, .mode = "a"}, client_);
    FAIL() << "appended a variable whose dimension differs";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("dimension 'y' has length 96"), std::string::npos) << e.what();
  }
}

TEST_F(NetcdfTest, ReadsRemoteFilesThroughTheStores) {
  const std::string url = server_->url("daymet_chunked.nc");
  Array remote = from_netcdf(url, "tmax");
  EXPECT_EQ(remote.chunks().size(), 3u);
  EXPECT_TRUE(bytes_of(remote) == bytes_of(from_netcdf(file("daymet_chunked.nc"), "tmax")));
  EXPECT_EQ(netcdf_info("dav" + url.substr(4)).variable("time")->attribute("units")->text,
            "days since 1980-01-01 00:00:00 UTC");
  // A file replaced on the server: a new from_netcdf reads the new file; tasks of an
  // array opened before read the old copy where a worker still has it, else fail
  // saying the file changed (never values of the other file).
  fs::copy_file(file("daymet_contiguous.nc"), server_->root() / "changing.nc");
  const std::string old_values = bytes_of(from_netcdf(file("daymet_contiguous.nc"), "tmin"));
  Array before = from_netcdf(server_->url("changing.nc"), "tmin");
  EXPECT_TRUE(bytes_of(before) == old_values);
  // Replaced through the server (a PUT), so that its cache of file sizes knows at once.
  store_put(server_->url(""), "changing.nc", read_bytes(file("daymet_chunked.nc")));
  Array after = from_netcdf(server_->url("changing.nc"), "tmin");
  EXPECT_EQ(after.num_chunks(), 48);  // the chunked file's grid
  EXPECT_TRUE(bytes_of(after) == bytes_of(from_netcdf(file("daymet_chunked.nc"), "tmin")));
  try {
    EXPECT_TRUE(bytes_of(before) == old_values);
  } catch (const TaskError& e) {
    EXPECT_NE(std::string(e.what()).find("the file changed"), std::string::npos) << e.what();
  }
  // Written to the server: locally, then one PUT (the collection made on the way).
  const std::string up = server_->url("out/cube.nc");
  Array cube = from_netcdf(file("various.nc"), "cube");
  EXPECT_EQ(to_netcdf(cube, up, "cube", {.dims = {"a", "b", "c", "d"}}, client_), 2u * 3 * 40 * 50 * 4);
  EXPECT_TRUE(fs::exists(server_->root() / "out" / "cube.nc"));
  EXPECT_TRUE(bytes_of(from_netcdf(up, "cube")) == bytes_of(cube));
  // A missing remote file, named.
  try {
    from_netcdf(server_->url("nothere.nc"), "tmax");
    FAIL() << "read a missing remote file";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("nothere.nc"), std::string::npos) << e.what();
  }
}

TEST_F(NetcdfTest, BadInputNamesTheFileAndVariable) {
  auto message = [](auto f) {
    try {
      f();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  std::string m = message([] { from_netcdf(file("missing.nc"), "tmax"); });
  EXPECT_NE(m.find("missing.nc: no such file"), std::string::npos) << m;
  m = message([] { from_netcdf(file("daymet_chunked.nc"), "tmean"); });
  EXPECT_NE(m.find("daymet_chunked.nc: no variable 'tmean' (it has: time, y, x, tmax, tmin, dayl)"), std::string::npos)
      << m;
  m = message([] { from_netcdf(file("not_netcdf.nc"), "tmax"); });
  EXPECT_NE(m.find("not_netcdf.nc: not a NetCDF file"), std::string::npos) << m;
  m = message([] { netcdf_info(file("not_netcdf.nc")); });
  EXPECT_NE(m.find("not_netcdf.nc: not a NetCDF file"), std::string::npos) << m;
  m = message([] { from_netcdf(file("daymet_chunked.nc"), "tmax", {.chunks = {1, 2}}); });
  EXPECT_NE(m.find("variable 'tmax': chunks must have one size per axis"), std::string::npos) << m;
  m = message([] { to_netcdf(zeros({3}, {3}, DType::kBool), file("b.nc"), "b"); });
  EXPECT_NE(m.find("variable 'b': NetCDF has no bool type"), std::string::npos) << m;
  // A file removed after it was opened fails the task, naming it.
  fs::copy_file(file("various.nc"), file("gone.nc"));
  Array gone = from_netcdf(file("gone.nc"), "elev");
  fs::remove(file("gone.nc"));
  try {
    (void)bytes_of(gone);
    FAIL() << "read a removed file";
  } catch (const TaskError& e) {
    EXPECT_NE(std::string(e.what()).find("gone.nc: no such file"), std::string::npos) << e.what();
  }
}

// The process-wide lock: two threads reading the same file at once get what one reads
// alone (libnetcdf and HDF5 are not thread-safe without it).
TEST(NetcdfLock, ConcurrentReadsAreCorrect) {
  const std::string dir = (fs::temp_directory_path() / ("rsdat-netcdf-lock-" + std::to_string(::getpid()))).string();
  fs::create_directories(dir);
  ASSERT_EQ(std::system(("/usr/bin/python3 " + kScript + " write " + dir).c_str()), 0);
  const std::string path = dir + "/daymet_chunked.nc";
  std::vector<std::string> alone;
  for (int64_t t = 0; t < 12; ++t) {
    auto c = netcdf::read(path, "tmax", {t, 0, 0}, {1, 96, 80}, path);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    alone.emplace_back(reinterpret_cast<const char*>(c->bytes()), c->nbytes());
  }
  netcdf::close_cached_files();
  std::atomic<int> wrong{0};
  auto reader = [&](int phase) {
    for (int round = 0; round < 20; ++round) {
      for (int64_t t = 0; t < 12; ++t) {
        const int64_t day = (t + phase) % 12;
        auto c = netcdf::read(path, "tmax", {day, 0, 0}, {1, 96, 80}, path);
        if (!c.ok() || std::string(reinterpret_cast<const char*>(c->bytes()), c->nbytes()) != alone[day]) ++wrong;
      }
    }
  };
  std::thread a(reader, 0), b(reader, 5);
  a.join();
  b.join();
  EXPECT_EQ(wrong.load(), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rsdat
