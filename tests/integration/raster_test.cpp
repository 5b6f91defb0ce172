// Rasters through GDAL: files made by GDAL itself (tests/raster/rasters.py) read by
// rsdat and compared pixel by pixel with GDAL's own reads; NDVI written by to_raster
// checked against NumPy and GDAL's COG validator; georeferencing through views and
// operations; remote reads over a WebDAV server on loopback with a bearer token.
#include <gdal.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "dav_server.hpp"
#include "rsdat/rsdat.hpp"

namespace rsdat {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test_support::DavServer;

const char* kScript = RSDAT_SOURCE_DIR "/tests/raster/rasters.py";
constexpr const char* kToken = "raster-token-5b1f0c9e7d";
constexpr const char* kWrongToken = "wrong-token-77aa31c2";

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int rc = ::pclose(p);
  if (rc != 0) throw std::runtime_error(cmd + " failed (" + std::to_string(rc) + "): " + out);
  return out;
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// GDAL's own read of `bands` (1-based) of `path` as float64, nodata as NaN when
// `masked`, value * scale + offset when `scaled`; overview level `overview` (-1: none).
std::vector<double> gdal_read(const std::string& path, std::vector<int> bands, bool masked, bool scaled = false,
                              int overview = -1) {
  GDALAllRegister();
  GDALDatasetH ds = GDALOpen(path.c_str(), GA_ReadOnly);
  if (!ds) throw std::runtime_error("GDAL cannot open " + path);
  if (bands.empty())
    for (int b = 1; b <= GDALGetRasterCount(ds); ++b) bands.push_back(b);
  std::vector<double> out;
  for (int b : bands) {
    GDALRasterBandH band = GDALGetRasterBand(ds, b);
    int has = 0;
    const double nodata = GDALGetRasterNoDataValue(band, &has);
    const double scale = GDALGetRasterScale(band, nullptr), offset = GDALGetRasterOffset(band, nullptr);
    if (overview >= 0) band = GDALGetOverview(band, overview);
    const int w = GDALGetRasterBandXSize(band), h = GDALGetRasterBandYSize(band);
    std::vector<double> v(static_cast<size_t>(w) * h);
    if (GDALRasterIO(band, GF_Read, 0, 0, w, h, v.data(), w, h, GDT_Float64, 0, 0) != CE_None) {
      throw std::runtime_error("GDAL cannot read " + path);
    }
    for (double& x : v) {
      if (masked && has && x == nodata) x = NAN;
      if (scaled) x = x * scale + offset;
    }
    out.insert(out.end(), v.begin(), v.end());
  }
  GDALClose(ds);
  return out;
}

// How many elements differ (NaN equals NaN).
size_t mismatches(const Array& a, const std::vector<double>& want, Client* client) {
  auto got = a.compute<double>(client);
  if (got.size() != want.size()) return std::max(got.size(), want.size());
  size_t bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = got.data()[i], w = want[i];
    if (!(g == w || (std::isnan(g) && std::isnan(w)))) ++bad;
  }
  return bad;
}

class RasterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("rsdat-raster-" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_ / "in");
    run("/usr/bin/python3 " + std::string(kScript) + " make " + (*dir_ / "in").string());
    token_file_ = new fs::path(*dir_ / "token");
    write_text(*token_file_, std::string(kToken) + "\n");
    // What the workers inherit: they resolve credentials themselves, from this file.
    ::unsetenv("RSDAT_BEARER_TOKEN");
    ::setenv("RSDAT_BEARER_TOKEN_FILE", token_file_->c_str(), 1);
    ::setenv("RSDAT_STORES_CONFIG", (*dir_ / "no-stores.json").c_str(), 1);
    server_ = new DavServer(*dir_ / "dav", kToken);
    fs::copy_file(*dir_ / "in" / "red.tif", server_->root() / "red.tif");
    fs::copy_file(*dir_ / "in" / "cog_u16_3b.tif", server_->root() / "cog_u16_3b.tif");
    cluster_ = new LocalCluster(LocalClusterOptions{.workers = 2, .threads_per_worker = 1, .memory_limit = "1GB"});
    client_ = new Client(*cluster_, ClientOptions{.progress = false});
  }
  static void TearDownTestSuite() {
    delete client_;
    delete cluster_;
    delete server_;
    ::unsetenv("RSDAT_BEARER_TOKEN_FILE");
    ::unsetenv("RSDAT_STORES_CONFIG");
    fs::remove_all(*dir_);
    delete token_file_;
    delete dir_;
  }
  void TearDown() override { write_text(*token_file_, kToken); }
  static std::string in(const std::string& name) { return (*dir_ / "in" / name).string(); }
  static std::string out(const std::string& name) { return (*dir_ / name).string(); }

  static fs::path* dir_;
  static fs::path* token_file_;
  static DavServer* server_;
  static LocalCluster* cluster_;
  static Client* client_;
};
fs::path* RasterTest::dir_ = nullptr;
fs::path* RasterTest::token_file_ = nullptr;
DavServer* RasterTest::server_ = nullptr;
LocalCluster* RasterTest::cluster_ = nullptr;
Client* RasterTest::client_ = nullptr;

TEST_F(RasterTest, InfoDescribesTheFile) {
  RasterInfo i = raster_info(in("cog_u16_3b.tif"));
  EXPECT_EQ(i.bands, 3);
  EXPECT_EQ(i.height, 900);
  EXPECT_EQ(i.width, 700);
  EXPECT_EQ(i.dtype, DType::kUInt16);
  EXPECT_EQ(i.block_height, 256);
  EXPECT_EQ(i.block_width, 256);
  ASSERT_EQ(i.nodata.size(), 3u);
  EXPECT_EQ(i.nodata[0], 65535.0);
  EXPECT_EQ(i.grid.epsg, 32631);
  EXPECT_NE(i.grid.crs_wkt.find("UTM zone 31N"), std::string::npos);
  EXPECT_EQ(i.grid.transform, (std::array<double, 6>{600000, 10, 0, 5000040, 0, -10}));
  EXPECT_EQ(i.overviews, (std::vector<std::pair<int64_t, int64_t>>{{450, 350}, {225, 175}}));
  EXPECT_TRUE(i.pixel_interleaved);
  EXPECT_EQ(i.driver, "GTiff");
  RasterInfo s = raster_info(in("striped_i16.tif"));
  EXPECT_EQ(s.block_width, 777);
  EXPECT_EQ(s.block_height, 8);
}

TEST_F(RasterTest, ReadsEveryKindLikeGdal) {
  struct Case {
    const char* file;
    DType raw, masked;
    Shape chunks;  // the default chunking
  };
  const Case cases[] = {
      {"cog_u8.tif", DType::kUInt8, DType::kFloat32, {1, 700, 1000}},
      {"cog_u16_3b.tif", DType::kUInt16, DType::kFloat32, {3, 900, 700}},
      {"striped_i16.tif", DType::kInt16, DType::kFloat32, {2, 513, 777}},  // pixel-interleaved strips
      {"cog_f32.tif", DType::kFloat32, DType::kFloat32, {1, 600, 500}},
      {"scaled_u16.tif", DType::kUInt16, DType::kUInt16, {1, 300, 400}},  // no nodata: stays uint16
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    Array masked = from_raster(in(c.file));
    EXPECT_EQ(masked.dtype(), c.masked);
    EXPECT_EQ(masked.chunks()[0][0], c.chunks[0]);
    EXPECT_EQ(masked.chunks()[1][0], c.chunks[1]);
    EXPECT_EQ(masked.chunks()[2][0], c.chunks[2]);
    EXPECT_EQ(mismatches(masked, gdal_read(in(c.file), {}, true), client_), 0u);
    Array raw = from_raster(in(c.file), {.masked = false});
    EXPECT_EQ(raw.dtype(), c.raw);
    EXPECT_EQ(mismatches(raw, gdal_read(in(c.file), {}, false), client_), 0u);
    // Many chunks, none on tile boundaries, edge chunks smaller.
    Array small = from_raster(in(c.file), {.chunks = {1, 100, 300}});
    EXPECT_GE(small.num_chunks(), 6);
    EXPECT_EQ(mismatches(small, gdal_read(in(c.file), {}, true), client_), 0u);
  }
}

// int8 is bytes marked PIXELTYPE=SIGNEDBYTE in GDAL 3.6: read as int8 (and widened exactly
// when masked), written back the same way, as rasterio reads it.
TEST_F(RasterTest, Int8ReadsAndWritesAsRasterioSeesIt) {
  auto rasterio = [&](const std::string& path) {
    return json::parse(run("/usr/bin/python3 " + std::string(kScript) + " int8 " + path));
  };
  const json want = rasterio(in("cog_i8.tif"));
  ASSERT_EQ(want["dtype"], "int8") << want["dtype"];
  std::vector<double> first;
  for (const auto& v : want["values"]) first.push_back(v.get<double>());
  ASSERT_EQ(first.size(), 300u * 500u);
  EXPECT_EQ(raster_info(in("cog_i8.tif")).dtype, DType::kInt8);
  auto band1 = [](const Array& a) { return view(a, {Index{int64_t{0}}, Range{}, Range{}}); };
  Array raw = from_raster(in("cog_i8.tif"), {.chunks = {1, 128, 200}, .masked = false});
  EXPECT_EQ(raw.dtype(), DType::kInt8);
  EXPECT_EQ(mismatches(band1(raw), first, client_), 0u);
  Array masked = from_raster(in("cog_i8.tif"));
  EXPECT_EQ(masked.dtype(), DType::kFloat32);
  std::vector<double> nan_first = first;
  size_t nodata = 0;
  for (double& v : nan_first) {
    if (v == -128) {
      v = NAN;
      ++nodata;
    }
  }
  EXPECT_GE(nodata, 500u);  // row 7, and a few others
  EXPECT_EQ(mismatches(band1(masked), nan_first, client_), 0u);
  for (const char* driver : {"COG", "GTiff"}) {
    SCOPED_TRACE(driver);
    const std::string path = out(std::string("i8-") + driver + ".tif");
    to_raster(raw, path, {.driver = driver, .nodata = -128}, client_);
    const json got = rasterio(path);
    EXPECT_EQ(got["dtype"], "int8");
    EXPECT_EQ(got["nodata"], -128);
    EXPECT_EQ(got["values"], want["values"]);
    EXPECT_EQ(json::parse(run("/usr/bin/python3 " + std::string(kScript) + " check " + path))["pixeltype"], "SIGNEDBYTE");
    EXPECT_EQ(from_raster(path, {.masked = false}).dtype(), DType::kInt8);
  }
}

TEST_F(RasterTest, ChunksAreMultiplesOfLargeTiles) {
  // 256-pixel tiles: chunks of 1024 (4 tiles) where the image is large enough.
  Array red = from_raster(in("red.tif"));
  EXPECT_EQ(red.chunks()[1], (std::vector<int64_t>{1024, 76}));
  EXPECT_EQ(red.chunks()[2], (std::vector<int64_t>{900}));
  Array two = from_raster(in("red.tif"), {.chunks = {0, 512, 512}});
  EXPECT_EQ(two.chunks()[1], (std::vector<int64_t>{512, 512, 76}));
}

TEST_F(RasterTest, BandsOverviewsAndScale) {
  Array b2 = from_raster(in("cog_u16_3b.tif"), {.bands = {3, 1}});
  EXPECT_EQ(b2.shape(), (Shape{2, 900, 700}));
  EXPECT_EQ(mismatches(b2, gdal_read(in("cog_u16_3b.tif"), {3, 1}, true), client_), 0u);
  Array ov = from_raster(in("cog_u16_3b.tif"), {.overview = 0});
  EXPECT_EQ(ov.shape(), (Shape{3, 450, 350}));
  EXPECT_EQ(mismatches(ov, gdal_read(in("cog_u16_3b.tif"), {}, true, false, 0), client_), 0u);
  EXPECT_EQ(raster_grid(ov)->transform, (std::array<double, 6>{600000, 20, 0, 5000040, 0, -20}));
  Array scaled = from_raster(in("scaled_u16.tif"), {.mask_and_scale = true});
  EXPECT_EQ(scaled.dtype(), DType::kFloat32);
  EXPECT_EQ(mismatches(scaled, gdal_read(in("scaled_u16.tif"), {}, true, true), client_), 0u);
}

TEST_F(RasterTest, NdviWrittenAsCogIsGeoreferencedAndMatchesNumpy) {
  Array red = from_raster(in("red.tif"));
  Array nir = from_raster(in("nir.tif"));
  Array ndvi = (nir - red) / (nir + red);
  ASSERT_TRUE(raster_grid(ndvi));
  EXPECT_TRUE(raster_grid(ndvi)->same_grid(*raster_grid(red)));
  const uint64_t bytes = to_raster(ndvi, out("ndvi.tif"), {.compress = "DEFLATE", .predictor = 3}, client_);
  EXPECT_EQ(bytes, fs::file_size(out("ndvi.tif")));
  for (const auto& e : fs::directory_iterator(*dir_)) {
    EXPECT_EQ(e.path().filename().string().find(".pieces-"), std::string::npos) << e.path();  // pieces removed
  }
  json check = json::parse(run("/usr/bin/python3 " + std::string(kScript) + " ndvi " + in("red.tif") + " " +
                               in("nir.tif") + " " + out("ndvi.tif")));
  EXPECT_TRUE(check["equal"].get<bool>()) << check.dump();
  EXPECT_TRUE(check["same_transform"].get<bool>()) << check.dump();
  EXPECT_TRUE(check["same_crs"].get<bool>()) << check.dump();
  json cog = json::parse(run("/usr/bin/python3 " + std::string(kScript) + " check " + out("ndvi.tif")));
  EXPECT_TRUE(cog["errors"].empty()) << cog.dump();
  EXPECT_EQ(cog["layout"], "COG") << cog.dump();
  EXPECT_EQ(cog["compression"], "DEFLATE");
  EXPECT_EQ(cog["block"], (json{512, 512}));
  EXPECT_EQ(cog["size"], (json{1, 1100, 900}));
  EXPECT_EQ(cog["dtype"], "Float32");
  EXPECT_FALSE(cog["overviews"].empty()) << cog.dump();
  EXPECT_EQ(cog["epsg"], 32631);
  // And as gdalinfo (gdal-bin) reports it.
  json gi = json::parse(run("gdalinfo -json " + out("ndvi.tif")));
  EXPECT_EQ(gi["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"], "COG") << gi["metadata"].dump();
  EXPECT_EQ(gi["geoTransform"], (json{600000, 10, 0, 5000040, 0, -10}));
  EXPECT_EQ(gi["bands"][0]["block"], (json{512, 512}));
  // Read back by rsdat: the same values as computed.
  EXPECT_EQ(mismatches(from_raster(out("ndvi.tif")), gdal_read(out("ndvi.tif"), {}, true), client_), 0u);
}

TEST_F(RasterTest, GridFollowsViewsReductionsAndStacks) {
  Array red = from_raster(in("red.tif"));
  // A slice shifts the transform; a step scales it around the kept pixel centres.
  Array v = view(red, {Index{int64_t{0}}, Range{100, 300, 2}, Range{50, std::nullopt, 1}});
  ASSERT_TRUE(raster_grid(v));
  EXPECT_EQ(raster_grid(v)->transform, (std::array<double, 6>{600000 + 50 * 10, 10, 0, 5000040 - 100 * 10 + 5, 0, -20}));
  EXPECT_EQ(raster_grid(v)->height, 100);
  EXPECT_EQ(raster_grid(v)->width, 850);
  const std::vector<double> x = raster_x(v), y = raster_y(v);
  ASSERT_EQ(x.size(), 850u);
  ASSERT_EQ(y.size(), 100u);
  EXPECT_EQ(x[0], 600000 + 50 * 10 + 5);          // the centre of column 50
  EXPECT_EQ(y[0], 5000040 - 100 * 10 - 5);        // the centre of row 100
  EXPECT_EQ(y[1], 5000040 - 102 * 10 - 5);        // of row 102
  // Written out, the view lands where GDAL puts those pixels.
  to_raster(v, out("view.tif"), {.driver = "GTiff", .compress = "LZW"}, client_);
  json info = json::parse(run("/usr/bin/python3 " + std::string(kScript) + " check " + out("view.tif")));
  EXPECT_EQ(info["transform"], (json{600500, 10, 0, 4999045, 0, -20}));
  // Reductions over bands or time keep it, over x or y drop it; so do stacks in time.
  Array stack3 = stack({red, red, red}, 0);                 // (time, band, y, x)
  EXPECT_TRUE(raster_grid(stack3.mean({0, 1})));
  EXPECT_FALSE(raster_grid(red.mean({2})));
  EXPECT_TRUE(raster_grid(red.astype(DType::kFloat64).rechunk({1, 256, 256})));
  EXPECT_FALSE(raster_grid(red.transpose({0, 2, 1})));
  // Elementwise with a plain array keeps the raster's grid.
  EXPECT_TRUE(raster_grid(red * full({1100, 900}, {1100, 900}, 2.0)));
}

TEST_F(RasterTest, DifferentGridsAreAnErrorNamingBoth) {
  Array red = from_raster(in("red.tif"));
  Array other = from_raster(in("other_grid.tif"));
  try {
    (void)(red - other);
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("different grids"), std::string::npos) << m;
    EXPECT_NE(m.find("red.tif"), std::string::npos) << m;
    EXPECT_NE(m.find("other_grid.tif"), std::string::npos) << m;
    EXPECT_NE(m.find("transform (600000, 20"), std::string::npos) << m;
  }
}

TEST_F(RasterTest, MissingFileAndBadBandNameTheFile) {
  const std::string missing = out("no-such.tif");
  try {
    from_raster(missing);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  try {
    from_raster(in("cog_u8.tif"), {.bands = {2}});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(in("cog_u8.tif")), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no band 2"), std::string::npos) << e.what();
  }
  write_text(out("garbage.tif"), "not a tiff at all");
  EXPECT_THROW(from_raster(out("garbage.tif")), std::invalid_argument);
  EXPECT_THROW(from_raster(in("cog_u8.tif"), {.overview = 9}), std::invalid_argument);
  EXPECT_THROW(to_raster(from_raster(in("cog_u8.tif")), out("x.tif"), {.compress = "BROTLI"}, client_),
               std::invalid_argument);
}

TEST_F(RasterTest, ReadsOverWebDavWithTheTokenAndNeverShowsIt) {
  Array remote = from_raster(server_->url("red.tif"), {.chunks = {1, 300, 300}});
  EXPECT_EQ(remote.shape(), (Shape{1, 1100, 900}));
  EXPECT_EQ(raster_grid(remote)->epsg, 32631);
  EXPECT_EQ(mismatches(remote, gdal_read(in("red.tif"), {}, true), client_), 0u);
  const std::string dav = "dav://127.0.0.1:" + std::to_string(server_->port()) + "/cog_u16_3b.tif";
  EXPECT_EQ(mismatches(from_raster(dav, {.overview = 1}), gdal_read(in("cog_u16_3b.tif"), {}, true, false, 1), client_),
            0u);
  // A missing file, and a wrong token: errors that name the URL, never a token.
  std::string errors;
  try {
    from_raster(server_->url("absent.tif"));
  } catch (const std::invalid_argument& e) {
    errors += std::string(e.what()) + "\n";
    EXPECT_NE(std::string(e.what()).find(server_->url("absent.tif")), std::string::npos) << e.what();
  }
  write_text(*token_file_, kWrongToken);
  fs::copy_file(*dir_ / "in" / "nir.tif", server_->root() / "nir.tif");
  try {
    from_raster(server_->url("nir.tif"));
    ADD_FAILURE() << "read with the wrong token";
  } catch (const std::invalid_argument& e) {
    errors += std::string(e.what()) + "\n";
    EXPECT_NE(std::string(e.what()).find(server_->url("nir.tif")), std::string::npos) << e.what();
  }
  EXPECT_EQ(errors.find(kToken), std::string::npos) << errors;
  EXPECT_EQ(errors.find(kWrongToken), std::string::npos) << errors;
}

}  // namespace
}  // namespace rsdat
