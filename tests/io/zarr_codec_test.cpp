// Zarr metadata and chunk codecs without a cluster: every codec and layout round-trips,
// and malformed input is an error, never a crash.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

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

// A chunk file of a few bytes whose metadata claims a huge chunk is refused before
// the chunk is allocated, from the stored headers or the codec's largest expansion.
TEST(ZarrCodec, SmallChunkFilesCannotClaimHugeChunks) {
  ArrayMeta m;
  m.shape = {int64_t{1} << 27};
  m.chunks = m.shape;  // 1 GiB of float64
  m.dtype = DType::kFloat64;
  ArrayMeta small = m;
  small.shape = small.chunks = {64};
  for (const char* id : {"zstd", "lz4", "zlib", "gzip", "blosc"}) {
    SCOPED_TRACE(id);
    m.compressor = small.compressor = Compressor{id, "lz4"};
    Chunk zeros = Chunk::allocate(DType::kFloat64, {64});
    std::memset(zeros.mutable_bytes(), 0, zeros.nbytes());
    auto stored = encode_chunk(small, zeros);
    ASSERT_TRUE(stored.ok());
    std::string bytes(stored->view());
    // Headers that say the right size: a lz4 size prefix, a blosc header.
    const uint32_t claimed = static_cast<uint32_t>(m.chunk_nbytes());
    if (std::string(id) == "lz4") std::memcpy(bytes.data(), &claimed, 4);
    if (std::string(id) == "blosc") {
      std::memcpy(bytes.data() + 4, &claimed, 4);
      std::memcpy(bytes.data() + 8, &claimed, 4);  // one block of the whole chunk
    }
    auto r = decode_chunk(m, bytes, m.chunks, "big/0");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("cannot decode to the 1073741824 bytes of a chunk"), std::string::npos)
        << r.status().message();
  }
  // A zstd frame that says it holds more than the chunk, and blosc blocks larger than it.
  m.compressor = Compressor{"zstd"};
  small.compressor = m.compressor;
  Chunk data = iota_chunk(DType::kFloat64, {64});
  auto zstd = encode_chunk(small, data);
  ASSERT_TRUE(zstd.ok());
  ArrayMeta smaller = small;
  smaller.shape = smaller.chunks = {32};
  auto r = decode_chunk(smaller, zstd->view(), {32}, "f");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("decodes to 512 bytes, expected 256"), std::string::npos) << r.status().message();
  small.compressor = Compressor{"blosc", "zstd"};
  auto blosc = encode_chunk(small, data);
  ASSERT_TRUE(blosc.ok());
  std::string bytes(blosc->view());
  const uint32_t huge_block = 1u << 30;
  std::memcpy(bytes.data() + 8, &huge_block, 4);
  r = decode_chunk(small, bytes, {64}, "f");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("block size 1073741824 out of range"), std::string::npos) << r.status().message();
  EXPECT_EQ(decode_chunk(small, blosc->view(), {65}, "f").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(decode_chunk(small, blosc->view(), {64, 1}, "f").status().code(), StatusCode::kInvalidArgument);
}

TEST(ZarrCodec, MetadataWhoseProductsOverflowIsRefused) {
  // 2^32 cubed is 2^96 elements: the product wraps to 0 in int64 arithmetic.
  auto chunks = parse_zarray(R"({"zarr_format": 2, "shape": [4294967296, 4294967296, 4294967296],
      "chunks": [4294967296, 4294967296, 4294967296], "dtype": "|u1"})", "s/.zarray");
  ASSERT_FALSE(chunks.ok());
  EXPECT_NE(chunks.status().message().find("16 GiB"), std::string::npos) << chunks.status().message();
  auto shape = parse_zarray(R"({"zarr_format": 2, "shape": [4294967296, 4294967296, 4294967296],
      "chunks": [1, 1, 1], "dtype": "|u1"})", "s/.zarray");
  ASSERT_FALSE(shape.ok());
  EXPECT_NE(shape.status().message().find("2^63 elements"), std::string::npos) << shape.status().message();
  EXPECT_TRUE(parse_zarray(R"({"zarr_format": 2, "shape": [0, 4294967296, 4294967296, 4294967296],
      "chunks": [1, 1, 1, 1], "dtype": "|u1"})", "s/.zarray").ok());
  // Counting blocks by (shape + chunk - 1) / chunk would overflow here.
  auto wide = parse_zarray(R"({"zarr_format": 2, "shape": [9223372036854775807], "chunks": [1000], "dtype": "|u1"})", "s");
  ASSERT_TRUE(wide.ok());
  EXPECT_EQ(blocks_along(*wide, 0), 9223372036854776);
  EXPECT_EQ(block_extent(*wide, {9223372036854775}), (Shape{807}));
}

TEST(ZarrCodec, DeeplyNestedMetadataIsRefusedNotRecursedInto) {
  // Printing a rejected value for the error message would recurse once per level.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  auto r = parse_zarray(R"({"zarr_format": 2, "shape": )" + deep + R"(, "chunks": [1], "dtype": "<f4"})", "s/.zarray");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nested deeper than 256 levels"), std::string::npos) << r.status().message();
  auto c = parse_zmetadata(R"({"metadata": {".zarray": )" + deep + "}}", "", "s/.zmetadata");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("s/.zmetadata: nested deeper"), std::string::npos) << c.status().message();
  ArrayMeta m;
  EXPECT_FALSE(parse_zattrs(deep, m, "s/.zattrs").is_ok());
  // Brackets inside strings are text, and moderate nesting is fine.
  EXPECT_TRUE(parse_zattrs(R"({"a": ")" + std::string(1000, '[') + R"(\"", "b": [[[[1]]]]})", m, "s/.zattrs").is_ok());
}

TEST(ZarrCodec, ConsolidatedMetadataAndAttributesParse) {
  ArrayMeta meta;
  meta.shape = {3, 4};
  meta.chunks = {2, 2};
  const std::string doc = R"({"metadata": {".zgroup": {"zarr_format": 2}, "g/a/.zarray": )" + to_zarray(meta) +
                          R"(, "g/a/.zattrs": {"_ARRAY_DIMENSIONS": ["y", "x"]}}, "zarr_consolidated_format": 1})";
  auto found = parse_zmetadata(doc, "g/a/", "s/.zmetadata");
  ASSERT_TRUE(found.ok()) << found.status().to_string();
  EXPECT_EQ(found->zarray_where, "s/.zmetadata[g/a/.zarray]");
  auto parsed = parse_zarray(found->zarray, found->zarray_where);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->shape, meta.shape);
  ASSERT_TRUE(parse_zattrs(found->zattrs, *parsed, "s/g/a/.zattrs").is_ok());
  EXPECT_EQ(parsed->dims, (std::vector<std::string>{"y", "x"}));
  auto absent = parse_zmetadata(doc, "g/b", "s/.zmetadata");
  ASSERT_TRUE(absent.ok());
  EXPECT_TRUE(absent->zarray.empty());
  EXPECT_FALSE(parse_zmetadata(R"({"metadata": 3})", "", "s/.zmetadata").ok());
  EXPECT_FALSE(parse_zmetadata("{", "", "s/.zmetadata").ok());
  // Dimension names that do not match the rank are dropped, not an error.
  ArrayMeta one;
  one.shape = {5};
  ASSERT_TRUE(parse_zattrs(R"({"_ARRAY_DIMENSIONS": ["y", "x"]})", one, "a").is_ok());
  EXPECT_TRUE(one.dims.empty());
}

// Fill values outside an integer dtype's range saturate (NumPy's own cast of them is
// undefined): 2^64 - 1 reaches the reader as the double 2^64.
TEST(ZarrCodec, FillValuesSaturateToTheDtype) {
  auto m = parse_zarray(R"({"zarr_format": 2, "shape": [2], "chunks": [2], "dtype": "|i1", "fill_value": 1e300})", "a");
  ASSERT_TRUE(m.ok());
  Chunk c = fill_chunk(*m, {2});
  EXPECT_EQ(c.data<int8_t>()[0], 127);
  m = parse_zarray(R"({"zarr_format": 2, "shape": [2], "chunks": [2], "dtype": "<u8",
      "fill_value": 18446744073709551615})", "a");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(fill_chunk(*m, {2}).data<uint64_t>()[1], std::numeric_limits<uint64_t>::max());
  EXPECT_NE(to_zarray(*m).find("18446744073709551615"), std::string::npos) << to_zarray(*m);
  m = parse_zarray(R"({"zarr_format": 2, "shape": [2], "chunks": [2], "dtype": "<i4", "fill_value": -1e10})", "a");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(fill_chunk(*m, {2}).data<int32_t>()[0], std::numeric_limits<int32_t>::min());
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

// A chunk file larger than any chunk of its array could be is refused before it is read.
TEST(ZarrCodec, OversizedChunkFilesAreNotRead) {
  namespace fs = std::filesystem;
  const fs::path file = fs::temp_directory_path() / ("rsdat-big-chunk-" + std::to_string(::getpid()));
  ASSERT_TRUE(write_file_atomic(file.string(), std::string(4096, 'x')).is_ok());
  ArrayMeta m;
  m.shape = m.chunks = {8};
  m.dtype = DType::kUInt8;
  EXPECT_EQ(max_stored_bytes(m), 8u + 1 + (1u << 20));
  EXPECT_TRUE(read_file(file.string(), max_stored_bytes(m)).ok());
  auto r = read_file(file.string(), 4095);
  EXPECT_EQ(r.status().code(), StatusCode::kIO);
  EXPECT_NE(r.status().message().find("larger than any chunk can be (4096 bytes)"), std::string::npos)
      << r.status().message();
  fs::remove(file);
}

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
