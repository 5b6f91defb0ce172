// Zarr metadata and chunk codecs without a cluster: every codec and layout round-trips,
// and malformed input is an error, never a crash.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include <unistd.h>

#include "io/zarr.hpp"

namespace rsdat::zarr {
namespace {

Chunk iota_chunk(DType t, const Shape& shape) {
  Chunk c = Chunk::allocate(t, shape);
  visit_dtype(t, [&](auto tag) {
    using T = decltype(tag);
    T* p = c.mutable_data<T>();
    for (int64_t i = 0; i < c.num_elements(); ++i) p[i] = static_cast<T>(i % 97);
  });
  return c;
}

bool same_bytes(const Chunk& a, const Chunk& b) {
  return a.dtype == b.dtype && a.shape == b.shape && std::memcmp(a.bytes(), b.bytes(), a.nbytes()) == 0;
}

TEST(ZarrCodec, EveryCodecAndLayoutRoundTrips) {
  std::vector<Compressor> codecs;
  codecs.push_back({});
  for (const char* cname : {"lz4", "lz4hc", "blosclz", "zstd", "zlib"}) {
    for (int shuffle : {0, 1, 2}) codecs.push_back({"blosc", cname, 5, shuffle});
  }
  for (const char* id : {"zstd", "lz4", "zlib", "gzip"}) codecs.push_back({id, "", 3});
  for (const Compressor& c : codecs) {
    for (DType t : {DType::kFloat32, DType::kInt16, DType::kUInt8, DType::kFloat64, DType::kBool}) {
      for (bool big : {false, true}) {
        for (bool fortran : {false, true}) {
          ArrayMeta m;
          m.shape = {10, 7, 5};
          m.chunks = {4, 3, 5};
          m.dtype = t;
          m.big_endian = big;
          m.fortran_order = fortran;
          m.compressor = c;
          SCOPED_TRACE(c.id + "/" + c.cname + "/" + std::to_string(c.shuffle) + " " + dtype_string(t, big) +
                       (fortran ? " F" : " C"));
          for (const std::vector<int64_t>& block : {std::vector<int64_t>{0, 0, 0}, std::vector<int64_t>{2, 2, 0}}) {
            Shape extent = block_extent(m, block);
            Chunk data = iota_chunk(t, extent);
            auto stored = encode_chunk(m, data);
            ASSERT_TRUE(stored.ok()) << stored.status().to_string();
            auto back = decode_chunk(m, stored->view(), extent, "chunk");
            ASSERT_TRUE(back.ok()) << back.status().to_string();
            EXPECT_TRUE(same_bytes(*back, data));
          }
        }
      }
    }
  }
}

TEST(ZarrCodec, EdgeChunksArePaddedWithTheFillValue) {
  ArrayMeta m;
  m.shape = {5};
  m.chunks = {4};
  m.dtype = DType::kFloat32;
  m.fill_value = std::nan("");
  Chunk edge = iota_chunk(DType::kFloat32, block_extent(m, {1}));
  ASSERT_EQ(edge.shape, (Shape{1}));
  auto stored = encode_chunk(m, edge);
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size, 16u);
  const float* f = reinterpret_cast<const float*>(stored->view().data());
  EXPECT_EQ(f[0], 0.0f);
  for (int i = 1; i < 4; ++i) EXPECT_TRUE(std::isnan(f[i]));
}

TEST(ZarrCodec, ChunkKeysFollowTheSeparator) {
  ArrayMeta m;
  m.shape = {10, 10};
  m.chunks = {3, 3};
  EXPECT_EQ(chunk_key(m, {1, 3}), "1.3");
  m.separator = '/';
  EXPECT_EQ(chunk_key(m, {1, 3}), "1/3");
  m.shape = {};
  m.chunks = {};
  EXPECT_EQ(chunk_key(m, {}), "0");
}

TEST(ZarrCodec, MetadataRoundTripsAndBadMetadataIsNamed) {
  ArrayMeta m;
  m.shape = {3, 4};
  m.chunks = {2, 2};
  m.dtype = DType::kUInt16;
  m.big_endian = true;
  m.fill_value = std::numeric_limits<double>::infinity();
  m.compressor = {"blosc", "zstd", 7, 2};
  auto back = parse_zarray(to_zarray(m), "x");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->shape, m.shape);
  EXPECT_EQ(back->dtype, DType::kUInt16);
  EXPECT_TRUE(back->big_endian);
  EXPECT_TRUE(std::isinf(*back->fill_value));
  EXPECT_EQ(back->compressor.cname, "zstd");
  EXPECT_EQ(back->compressor.shuffle, 2);

  for (const char* bad : {"", "[]", "{\"zarr_format\": 3}", "{\"zarr_format\": 2}",
                          R"({"zarr_format": 2, "shape": [4], "chunks": [0], "dtype": "<f4"})",
                          R"({"zarr_format": 2, "shape": [4], "chunks": [2, 2], "dtype": "<f4"})",
                          R"({"zarr_format": 2, "shape": [-4], "chunks": [2], "dtype": "<f4"})",
                          R"({"zarr_format": 2, "shape": [4], "chunks": [2], "dtype": "<U4"})",
                          R"({"zarr_format": 2, "shape": [4], "chunks": [2], "dtype": [["a", "<f4"]]})",
                          R"({"zarr_format": 2, "shape": [4], "chunks": [2], "dtype": "<f4", "order": "K"})",
                          R"({"zarr_format": 2, "shape": [4], "chunks": [2], "dtype": "<f4", "filters": [{"id": "delta"}]})",
                          R"({"zarr_format": 2, "shape": [4], "chunks": [2], "dtype": "<f4", "compressor": {"id": "blosc", "cname": "brotli"}})",
                          R"({"zarr_format": 2, "shape": [4], "chunks": [2], "dtype": "<f4", "fill_value": "banana"})",
                          R"({"zarr_format": 2, "shape": [4], "chunks": [2], "dtype": "<f4", "dimension_separator": "-"})"}) {
    auto r = parse_zarray(bad, "store/.zarray");
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("store/.zarray"), std::string::npos) << r.status().message();
    }
  }
}

TEST(ZarrCodec, DamagedChunksAreErrors) {
  ArrayMeta m;
  m.shape = {64};
  m.chunks = {64};
  m.dtype = DType::kFloat64;
  for (const char* id : {"blosc", "zstd", "lz4", "zlib", "gzip", ""}) {
    m.compressor = Compressor{id};
    SCOPED_TRACE(id);
    Chunk data = iota_chunk(DType::kFloat64, {64});
    auto stored = encode_chunk(m, data);
    ASSERT_TRUE(stored.ok());
    std::string bytes(stored->view());
    EXPECT_FALSE(decode_chunk(m, bytes.substr(0, bytes.size() / 2), {64}, "f").ok());
    EXPECT_FALSE(decode_chunk(m, "", {64}, "f").ok());
    std::string noise(bytes.size(), '\x5a');
    auto r = decode_chunk(m, noise, {64}, "some/file");
    if (std::string(id).empty()) {
      EXPECT_TRUE(r.ok());  // raw bytes of the right size are data
    } else {
      ASSERT_FALSE(r.ok());
      EXPECT_NE(r.status().message().find("some/file"), std::string::npos);
    }
  }
}

TEST(ZarrCodec, PathsMayNotLeaveTheStore) {
  EXPECT_FALSE(join_inside("/s", "../x").ok());
  EXPECT_FALSE(join_inside("/s", "a/../../x").ok());
  EXPECT_FALSE(join_inside("/s", "/etc").ok());
  EXPECT_EQ(*join_inside("/s", "a/b"), "/s/a/b");
  EXPECT_EQ(*join_inside("/s", ""), "/s");
}

}  // namespace
}  // namespace rsdat::zarr

namespace rsdat::zarr {
namespace {

// Creating an array again with the very same metadata keeps its chunks: a write's
// create step that runs again (the worker holding its result was lost) must not delete
// the chunks already written. Other metadata replaces the array, chunks and all.
TEST(ZarrCodec, CreatingTheSameArrayAgainKeepsItsChunks) {
  namespace fs = std::filesystem;
  const fs::path store = fs::temp_directory_path() / ("rsdat-create-" + std::to_string(::getpid()));
  fs::remove_all(store);
  ArrayMeta meta;
  meta.shape = {4, 4};
  meta.chunks = {2, 2};
  meta.dtype = DType::kFloat64;
  ASSERT_TRUE(create_array(store.string(), "a", meta).is_ok());
  const fs::path chunk = store / "a" / chunk_key(meta, {1, 0});
  ASSERT_TRUE(write_file_atomic(chunk.string(), "not really a chunk").is_ok());
  ASSERT_TRUE(create_array(store.string(), "a", meta).is_ok());
  EXPECT_TRUE(fs::exists(chunk)) << "the same array, created again, lost a chunk";
  meta.chunks = {4, 2};
  ASSERT_TRUE(create_array(store.string(), "a", meta).is_ok());
  EXPECT_FALSE(fs::exists(chunk)) << "another array kept the old one's chunk";
  fs::remove_all(store);
}

}  // namespace
}  // namespace rsdat::zarr
