// STAC catalogs as lazy arrays: a static catalog of 36 items with Zarr assets (written
// by zarr-python, tests/stac/make_catalog.py) served by the WebDAV test server with a
// bearer token, stacked and reduced and compared with NumPy; items on two grids, a
// GeoTIFF asset, and a STAC API search (tests/stac/search_server.py) over four pages
// of both kinds of "next" link.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "rsdat/rsdat.hpp"
#include "rsdat/stac.hpp"
#include "tests/integration/dav_server.hpp"
#include "tests/integration/store_test_util.hpp"

namespace rsdat {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test_support::read_text;
using test_support::DavServer;

constexpr const char* kToken = "stac-9e1d44b2-secret";
const std::string kMake = RSDAT_SOURCE_DIR "/tests/stac/make_catalog.py";
const std::string kSearch = RSDAT_SOURCE_DIR "/tests/stac/search_server.py";

template <typename T>
std::vector<T> read_raw(const fs::path& path) {
  const std::string bytes = read_text(path);
  std::vector<T> v(bytes.size() / sizeof(T));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

template <typename T, typename A>
std::vector<T> values_of(const A& a) {
  return std::vector<T>(a.begin(), a.end());
}

// The search server on a free port, stopped by pid.
class SearchServer {
 public:
  SearchServer(const fs::path& dir, const std::string& base, fs::path log) : log_(std::move(log)) {
    port_ = test_support::free_port();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      const std::string port = std::to_string(port_);
      ::execl("/usr/bin/python3", "python3", kSearch.c_str(), port.c_str(), dir.c_str(), base.c_str(), log_.c_str(), nullptr);
      ::_exit(127);
    }
    for (int i = 0; i < 1000 && !test_support::port_accepts(port_); ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("search_server.py exited at start");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~SearchServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  fs::path log_;
  int port_ = 0;
  pid_t pid_ = -1;
};

class StacCatalog : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("rsdat-stac-" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_);
    ::setenv("RSDAT_BEARER_TOKEN", kToken, 1);  // the workers read it too
    ::unsetenv("RSDAT_BEARER_TOKEN_FILE");
    ::setenv("RSDAT_STORES_CONFIG", (*dir_ / "no-stores.json").c_str(), 1);
    server_ = new DavServer(*dir_ / "dav", kToken);
    const fs::path root = server_->root() / "stac";
    const std::string cmd = "/usr/bin/python3 " + kMake + " " + root.string() + " " + server_->url("stac/") + " >/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error(cmd + " failed");
    cluster_ = new LocalCluster(LocalClusterOptions{.workers = 2, .threads_per_worker = 2, .memory_limit = "1GB"});
    client_ = new Client(*cluster_, ClientOptions{.progress = false});
  }
  static void TearDownTestSuite() {
    delete client_;
    delete cluster_;
    delete server_;
    ::unsetenv("RSDAT_BEARER_TOKEN");
    ::unsetenv("RSDAT_STORES_CONFIG");
    fs::remove_all(*dir_);
    delete dir_;
  }
  static fs::path expected(const std::string& name) { return server_->root() / "stac" / "expected" / name; }

  static fs::path* dir_;
  static DavServer* server_;
  static LocalCluster* cluster_;
  static Client* client_;
};
fs::path* StacCatalog::dir_ = nullptr;
DavServer* StacCatalog::server_ = nullptr;
LocalCluster* StacCatalog::cluster_ = nullptr;
Client* StacCatalog::client_ = nullptr;

TEST_F(StacCatalog, ReadsEveryItemThroughChildAndItemLinks) {
  auto items = stac::read_items(server_->url("stac/catalog.json"));
  ASSERT_EQ(items.size(), 36u);
  for (size_t k = 0; k < items.size(); ++k) {
    char id[32];
    std::snprintf(id, sizeof id, "S2_%02zu", k);
    EXPECT_EQ(items[k].id, id);  // in the order of the links
    EXPECT_EQ(items[k].collection, "s2");
    EXPECT_EQ(items[k].epsg, 32631);
    EXPECT_EQ(items[k].shape, (std::vector<int64_t>{40, 30}));
    ASSERT_EQ(items[k].assets.count("B04"), 1u);
    // Relative, "../" and absolute hrefs all resolve to the one asset beside the item.
    EXPECT_EQ(items[k].assets.at("B04").href, server_->url("stac/s2/items/") + id + "/B04.zarr");
    EXPECT_EQ(items[k].cloud_cover, static_cast<double>((k * 37) % 100));
  }
  EXPECT_EQ(items[10].datetime, items[11].datetime);
  EXPECT_EQ(items[1].time - items[0].time, int64_t{3} * 86400 * 1000000000);
  EXPECT_EQ(items[0].time, stac::parse_datetime("2021-05-01T12:30:00+02:00"));
  EXPECT_EQ(stac::parse_datetime("1970-01-02"), int64_t{86400} * 1000000000);
  EXPECT_EQ(stac::parse_datetime("1970-01-01T00:00:00.25Z"), 250000000);
  EXPECT_THROW(stac::parse_datetime("2021-05-01T10:30:00"), std::invalid_argument);
  // One item, and the collection by itself.
  EXPECT_EQ(stac::read_items(server_->url("stac/s2/items/S2_05/S2_05.json")).at(0).id, "S2_05");
  EXPECT_EQ(stac::read_items(server_->url("stac/s2/collection.json")).size(), 36u);
}

TEST_F(StacCatalog, StacksFilteredItemsAsNumPyDoes) {
  auto items = stac::read_items(server_->url("stac/catalog.json"));
  stac::Stack s = stac::stack(items, {"B04", "B08"},
                              {.max_cloud_cover = 75, .start_datetime = "2021-05-10T00:00:00Z", .end_datetime = "2021-07-20T00:00:00Z"});
  const json want = json::parse(read_text(expected("static.json")));
  EXPECT_EQ(s.id, want["ids"].get<std::vector<std::string>>());
  EXPECT_EQ(s.time, want["time"].get<std::vector<int64_t>>());
  EXPECT_EQ(s.x, want["x"].get<std::vector<double>>());
  EXPECT_EQ(s.y, want["y"].get<std::vector<double>>());
  EXPECT_EQ(s.band, (std::vector<std::string>{"B04", "B08"}));
  EXPECT_EQ(s.crs, "EPSG:32631");
  EXPECT_EQ(s.dims, (std::vector<std::string>{"time", "band", "y", "x"}));
  EXPECT_EQ(s.data.shape(), (Shape{static_cast<int64_t>(s.id.size()), 2, 40, 30}));
  EXPECT_EQ(s.data.dtype(), DType::kUInt16);
  EXPECT_EQ(values_of<int64_t>(s.data.astype(DType::kInt64).sum({0}).compute<int64_t>(client_)),
            read_raw<int64_t>(expected("static_sum.raw")));
  EXPECT_EQ(values_of<uint16_t>(s.data.max({0}).compute<uint16_t>(client_)), read_raw<uint16_t>(expected("static_max.raw")));
  // The composite written back beside the catalog (dav://, the same token), read again.
  const std::string out = "dav" + server_->url("stac/out/composite.zarr").substr(4);
  write_zarr(s.data.max({0}), out, "max", {.dims = {"band", "y", "x"}}, client_);
  Array back = from_zarr(server_->url("stac/out/composite.zarr"), "max");
  EXPECT_EQ(back.dims(), (std::vector<std::string>{"band", "y", "x"}));
  EXPECT_EQ(values_of<uint16_t>(back.compute<uint16_t>(client_)), read_raw<uint16_t>(expected("static_max.raw")));
  // Pixel centres on request.
  stac::Stack c = stac::stack(items, {"B04"}, {.xy_coords = "center"});
  EXPECT_EQ(c.x[0], 600005.0);
  EXPECT_EQ(c.y[0], 5799995.0);
  EXPECT_EQ(c.id.size(), 36u);
}

// Sentinel-2 as it is catalogued: one Cloud-Optimised GeoTIFF per band, read with ranged
// GETs through GDAL over the same WebDAV server and token.
TEST_F(StacCatalog, StacksCogAssetsAsNumPyDoes) {
  auto items = stac::read_items(server_->url("stac/cogs.json"));
  ASSERT_EQ(items.size(), 6u);
  stac::Stack s = stac::stack(items, {"B04", "B08"});
  EXPECT_EQ(s.data.shape(), (Shape{6, 2, 40, 30}));
  EXPECT_EQ(s.data.dtype(), DType::kUInt16);
  EXPECT_EQ(values_of<int64_t>(s.data.astype(DType::kInt64).sum({0}).compute<int64_t>(client_)),
            read_raw<int64_t>(expected("cogs_sum.raw")));
  EXPECT_EQ(s.crs, "EPSG:32631");
  EXPECT_EQ(s.x[0], 600000.0);
}

TEST_F(StacCatalog, ItemsOnAnotherGridAreNamed) {
  auto items = stac::read_items(server_->url("stac/mixed.json"));
  ASSERT_EQ(items.size(), 37u);
  try {
    stac::stack(items, {"B04"});
    ADD_FAILURE() << "stacking two grids did not throw";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("do not share a grid"), std::string::npos) << m;
    EXPECT_NE(m.find("odd-grid-0"), std::string::npos) << m;
    EXPECT_NE(m.find("transform [20, 0, 600000"), std::string::npos) << m;
    EXPECT_EQ(m.find("S2_01"), std::string::npos) << m;
  }
}

TEST_F(StacCatalog, BadInputIsNamed) {
  auto expect_error = [](const std::function<void()>& f, const std::vector<std::string>& parts) {
    try {
      f();
      ADD_FAILURE() << "no error";
    } catch (const std::invalid_argument& e) {
      const std::string m = e.what();
      for (const auto& p : parts) EXPECT_NE(m.find(p), std::string::npos) << m;
      EXPECT_EQ(m.find(kToken), std::string::npos) << m;
    }
  };
  expect_error([] { stac::stack(stac::read_items(server_->url("stac/jp2.json"))); },
               {"jp2-item", "visual", "image/jp2", "Zarr and GeoTIFF (COG) assets are read"});
  auto items = stac::read_items(server_->url("stac/catalog.json"));
  expect_error([&] { stac::stack(items, {"B12"}); }, {"S2_00", "no asset 'B12'"});
  expect_error([&] { stac::stack(items, {}, {.max_cloud_cover = -1}); }, {"no item is left"});
  expect_error([] { stac::read_items(server_->url("stac/none.json")); }, {server_->url("stac/none.json"), "not found"});
  expect_error([] { stac::read_items(server_->url("stac/expected/static.json")); }, {"static.json", "type"});
}

TEST_F(StacCatalog, SearchFollowsNextLinksOfBothKinds) {
  const fs::path log = *dir_ / "search.log";
  SearchServer api(server_->root() / "stac", server_->url("stac/"), log);
  const json want = json::parse(read_text(expected("search.json")));
  const json& q = want["search"];
  auto items = stac::search(api.url(), {.bbox = q["bbox"].get<std::vector<double>>(),
                                        .datetime = q["datetime"].get<std::string>(),
                                        .collections = q["collections"].get<std::vector<std::string>>(),
                                        .limit = 4});
  std::vector<std::string> ids;
  for (const auto& it : items) ids.push_back(it.id);
  EXPECT_EQ(ids, want["ids"].get<std::vector<std::string>>());
  const std::string requests = read_text(log);
  EXPECT_EQ(requests, "POST /search\nPOST /search\nGET /search?token=8&limit=4&collections=s2&bbox=4.9,52.35,4.95,52.38"
                      "&datetime=2021-06-01T00%3A00%3A00Z%2F2021-07-31T23%3A59%3A59Z\nPOST /search\n");
  stac::Stack s = stac::stack(items, {"B04", "B08"});
  EXPECT_EQ(values_of<int64_t>(s.data.astype(DType::kInt64).sum({0}).compute<int64_t>(client_)),
            read_raw<int64_t>(expected("search_sum.raw")));
  // max_items stops early.
  EXPECT_EQ(stac::search(api.url(), {.collections = {"s2"}, .limit = 5, .max_items = 7}).size(), 7u);
}

}  // namespace
}  // namespace rsdat
