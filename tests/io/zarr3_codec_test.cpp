// Zarr v3 metadata, the codec pipeline and shards without a cluster: known bytes of
// each codec, round trips of every layout, the shard index, ranged reads, and
// malformed input as errors that name the store and key.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "io/zarr3.hpp"

namespace rsdat::zarr3 {
namespace {

namespace fs = std::filesystem;

Chunk iota_chunk(DType t, const Shape& shape, int seed = 0) {
  Chunk c = Chunk::allocate(t, shape);
  visit_dtype(t, [&](auto tag) {
    using T = decltype(tag);
    T* p = c.mutable_data<T>();
    for (int64_t i = 0; i < c.num_elements(); ++i) {
      if constexpr (std::is_same_v<T, bool>) {
        p[i] = (i + seed) % 3 == 0;
      } else {
        p[i] = static_cast<T>((i * 7 + seed) % 97);
      }
    }
  });
  return c;
}

bool same_bytes(const Chunk& a, const Chunk& b) {
  return a.dtype == b.dtype && a.shape == b.shape && std::memcmp(a.bytes(), b.bytes(), a.nbytes()) == 0;
}

std::string hex(std::string_view b) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char ch : b) {
    out += kDigits[ch >> 4];
    out += kDigits[ch & 15];
  }
  return out;
}

Codec bytes_codec(bool big = false) { return Codec{.name = "bytes", .big_endian = big}; }
Codec crc_codec() { return Codec{.name = "crc32c"}; }
Codec compressor(const std::string& id) {
  Codec c{.name = id};
  c.compressor.id = id;
  c.compressor.level = 3;
  if (id == "blosc") {
    c.compressor.cname = "lz4";
    c.compressor.shuffle = 1;
  }
  return c;
}

// A scratch directory removed at the end.
struct TempDir {
  fs::path path = fs::temp_directory_path() /
                  ("rsdat-zarr3-" + std::to_string(::getpid()) + "-" +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  TempDir() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

// Records what a reader asks of the store it wraps.
class CountingStore final : public store::Store {
 public:
  explicit CountingStore(std::shared_ptr<store::Store> inner) : inner_(std::move(inner)) {}
  std::string url() const override { return inner_->url(); }
  Result<Bytes> get(const std::string& key) override {
    ++gets;
    return inner_->get(key);
  }
  Result<Bytes> get_range(const std::string& key, uint64_t offset, uint64_t length) override {
    ++ranges;
    auto r = inner_->get_range(key, offset, length);
    if (r.ok()) bytes_read += r->size;
    return r;
  }
  Result<Bytes> get_suffix(const std::string& key, uint64_t length) override {
    ++suffixes;
    auto r = inner_->get_suffix(key, length);
    if (r.ok()) bytes_read += r->size;
    return r;
  }
  Status put(const std::string& key, std::string_view bytes) override { return inner_->put(key, bytes); }
  Status remove(const std::string& key) override { return inner_->remove(key); }
  Result<std::vector<store::Entry>> list(const std::string& prefix) override { return inner_->list(prefix); }
  Result<bool> exists(const std::string& key) override { return inner_->exists(key); }
  Result<bool> is_dir(const std::string& key) override { return inner_->is_dir(key); }
  int gets = 0, ranges = 0, suffixes = 0;
  uint64_t bytes_read = 0;

 private:
  std::shared_ptr<store::Store> inner_;
};

ArrayMeta sharded_meta(DType t, Shape shape, Shape shard, Shape inner, std::vector<Codec> inner_codecs, bool start = false) {
  ArrayMeta m;
  m.shape = std::move(shape);
  m.chunks = std::move(shard);
  m.dtype = t;
  m.fill_value = 0;
  Codec s{.name = "sharding_indexed"};
  s.inner_chunks = std::move(inner);
  s.inner = std::move(inner_codecs);
  s.index_codecs = {bytes_codec(), crc_codec()};
  s.index_at_start = start;
  m.codecs = {s};
  return m;
}

TEST(Zarr3Codec, Crc32cOfTheCheckString) {
  const std::string s = "123456789";
  EXPECT_EQ(crc32c(reinterpret_cast<const uint8_t*>(s.data()), s.size()), 0xE3069283u);
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
  // 32 zero bytes (RFC 3720, B.4).
  const std::vector<uint8_t> zeros(32, 0);
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
}

TEST(Zarr3Codec, KnownBytesOfBytesTransposeAndCrc) {
  Chunk c = Chunk::allocate(DType::kInt16, {2, 3});
  for (int i = 0; i < 6; ++i) c.mutable_data<int16_t>()[i] = static_cast<int16_t>(i + 1);
  auto le = encode({bytes_codec()}, DType::kInt16, {2, 3}, c, "t");
  ASSERT_TRUE(le.ok()) << le.status().message();
  EXPECT_EQ(hex(le->view()), "010002000300040005000600");
  auto be = encode({bytes_codec(true)}, DType::kInt16, {2, 3}, c, "t");
  EXPECT_EQ(hex(be->view()), "000100020003000400050006");
  // transpose [1, 0] stores the columns first: 1 4 2 5 3 6.
  auto tr = encode({Codec{.name = "transpose", .order = {1, 0}}, bytes_codec()}, DType::kInt16, {2, 3}, c, "t");
  EXPECT_EQ(hex(tr->view()), "010004000200050003000600");
  // crc32c appends the little-endian checksum of what comes before it.
  Chunk s = Chunk::allocate(DType::kUInt8, {9});
  std::memcpy(s.mutable_bytes(), "123456789", 9);
  auto crc = encode({bytes_codec(), crc_codec()}, DType::kUInt8, {9}, s, "t");
  EXPECT_EQ(hex(crc->view()), hex("123456789") + "839206e3");
  auto back = decode({bytes_codec(), crc_codec()}, DType::kUInt8, {9}, crc->view(), "t");
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(same_bytes(*back, s));
}

TEST(Zarr3Codec, EveryPipelineRoundTrips) {
  std::vector<std::vector<Codec>> pipelines;
  for (bool big : {false, true}) {
    pipelines.push_back({bytes_codec(big)});
    for (const char* id : {"gzip", "zstd", "blosc"}) {
      pipelines.push_back({bytes_codec(big), compressor(id)});
      pipelines.push_back({bytes_codec(big), compressor(id), crc_codec()});
      pipelines.push_back({bytes_codec(big), crc_codec(), compressor(id)});
    }
  }
  for (auto p : std::vector<std::vector<Codec>>(pipelines)) {
    p.insert(p.begin(), Codec{.name = "transpose", .order = {2, 0, 1}});
    pipelines.push_back(p);
  }
  for (const auto& p : pipelines) {
    for (DType t : {DType::kUInt8, DType::kInt16, DType::kInt32, DType::kFloat32, DType::kFloat64, DType::kBool,
                    DType::kUInt64}) {
      const Shape shape{3, 4, 5};
      Chunk c = iota_chunk(t, shape);
      auto enc = encode(p, t, shape, c, "t");
      ASSERT_TRUE(enc.ok()) << enc.status().message();
      auto dec = decode(p, t, shape, enc->view(), "t");
      ASSERT_TRUE(dec.ok()) << dec.status().message();
      EXPECT_TRUE(same_bytes(*dec, c)) << dtype_name(t) << " through " << p.size() << " codecs";
    }
  }
}

TEST(Zarr3Codec, CorruptBytesAreErrorsNamingTheKey) {
  Chunk c = iota_chunk(DType::kFloat32, {8});
  auto enc = encode({bytes_codec(), compressor("zstd"), crc_codec()}, DType::kFloat32, {8}, c, "k");
  ASSERT_TRUE(enc.ok());
  std::string damaged(enc->view());
  damaged[2] ^= 0x40;
  auto dec = decode({bytes_codec(), compressor("zstd"), crc_codec()}, DType::kFloat32, {8}, damaged, "/s.zarr/a/c/0");
  ASSERT_FALSE(dec.ok());
  EXPECT_EQ(dec.status().code(), StatusCode::kIO);
  EXPECT_NE(dec.status().message().find("/s.zarr/a/c/0"), std::string::npos);
  EXPECT_NE(dec.status().message().find("crc32c"), std::string::npos);
  // Too few bytes for the chunk.
  auto short_raw = decode({bytes_codec()}, DType::kFloat32, {8}, std::string(31, '\0'), "/s.zarr/a/c/1");
  ASSERT_FALSE(short_raw.ok());
  EXPECT_NE(short_raw.status().message().find("/s.zarr/a/c/1"), std::string::npos);
  // gzip garbage.
  auto gz = decode({bytes_codec(), compressor("gzip")}, DType::kFloat32, {8}, "not gzip at all", "/s.zarr/a/c/2");
  ASSERT_FALSE(gz.ok());
  EXPECT_NE(gz.status().message().find("/s.zarr/a/c/2"), std::string::npos);
}

TEST(Zarr3Metadata, RoundTripsAndReadsTheSpecForms) {
  ArrayMeta m = sharded_meta(DType::kFloat32, {10, 9}, {6, 6}, {3, 2}, {bytes_codec(), compressor("blosc")}, true);
  m.fill_value = std::numeric_limits<double>::quiet_NaN();
  m.dims = {"y", "x"};
  m.attributes = R"({"units":"K"})";
  auto back = parse_array(to_json(m), "zarr.json");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->shape, m.shape);
  EXPECT_EQ(back->chunks, m.chunks);
  EXPECT_TRUE(std::isnan(*back->fill_value));
  EXPECT_EQ(back->dims, m.dims);
  EXPECT_EQ(back->attributes, m.attributes);
  ASSERT_NE(back->sharding(), nullptr);
  EXPECT_TRUE(back->sharding()->index_at_start);
  EXPECT_EQ(back->sharding()->inner_chunks, (Shape{3, 2}));
  EXPECT_EQ(back->sharding()->inner[1].compressor.cname, "lz4");
  EXPECT_EQ(to_json(*back), to_json(m));

  const std::string base = R"({"zarr_format":3,"node_type":"array","shape":[4],"data_type":"float64",
    "chunk_grid":{"name":"regular","configuration":{"chunk_shape":[2]}},
    "chunk_key_encoding":{"name":"v2","configuration":{"separator":"."}},
    "codecs":[{"name":"bytes","configuration":{"endian":"little"}}],)";
  auto inf = parse_array(base + R"("fill_value":"-Infinity"})", "w");
  ASSERT_TRUE(inf.ok()) << inf.status().message();
  EXPECT_EQ(*inf->fill_value, -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(inf->v2_keys);
  EXPECT_EQ(chunk_key(*inf, {3}), "3");
  auto hexfill = parse_array(base + R"("fill_value":"0x3ff8000000000000"})", "w");
  ASSERT_TRUE(hexfill.ok()) << hexfill.status().message();
  EXPECT_EQ(*hexfill->fill_value, 1.5);
  ArrayMeta d = m;
  d.v2_keys = false;
  d.separator = '/';
  EXPECT_EQ(chunk_key(d, {1, 0}), "c/1/0");
  d.separator = '.';
  EXPECT_EQ(chunk_key(d, {1, 0}), "c.1.0");
  auto group = node_type(group_json(), "g");
  ASSERT_TRUE(group.ok());
  EXPECT_EQ(*group, "group");
}

TEST(Zarr3Metadata, BadDocumentsAreClearErrors) {
  auto doc = [](const std::string& codecs, const std::string& chunks = "[2,2]", const std::string& dt = "float32") {
    return R"({"zarr_format":3,"node_type":"array","shape":[4,4],"data_type":")" + dt +
           R"(","chunk_grid":{"name":"regular","configuration":{"chunk_shape":)" + chunks +
           R"(}},"fill_value":0,"codecs":)" + codecs + "}";
  };
  auto err = [](const Result<ArrayMeta>& r) { return r.ok() ? std::string("ok") : r.status().message(); };
  EXPECT_NE(err(parse_array(doc(R"([{"name":"zstd"}])"), "/s.zarr/a/zarr.json")).find("no array-to-bytes codec"),
            std::string::npos);
  const std::string unknown = err(parse_array(doc(R"([{"name":"bytes","configuration":{"endian":"little"}},{"name":"brotli"}])"),
                                              "/s.zarr/a/zarr.json"));
  EXPECT_NE(unknown.find("unsupported codec 'brotli'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("/s.zarr/a/zarr.json"), std::string::npos);
  const std::string shard = err(parse_array(
      doc(R"([{"name":"sharding_indexed","configuration":{"chunk_shape":[3,2],"codecs":[{"name":"bytes","configuration":{"endian":"little"}}]}}])",
          "[4,4]"),
      "w"));
  EXPECT_NE(shard.find("not a multiple of the inner chunk shape"), std::string::npos) << shard;
  EXPECT_NE(err(parse_array(doc(R"([{"name":"bytes"}])", "[2,2]", "complex64"), "w")).find("unsupported data_type"),
            std::string::npos);
  EXPECT_NE(err(parse_array(doc(R"([{"name":"bytes"}])"), "w")).find("endian is required"), std::string::npos);
  EXPECT_NE(err(parse_array(doc(R"([{"name":"bytes","configuration":{"endian":"little"}}])", "[2]"), "w"))
                .find("differ in length"),
            std::string::npos);
  EXPECT_NE(err(parse_array(R"({"zarr_format":2})", "w")).find("zarr_format must be 3"), std::string::npos);
  EXPECT_NE(err(parse_array(std::string(1000, '['), "w")).find("nested deeper"), std::string::npos);
}

TEST(Zarr3Shard, EncodesInnerChunksAndMarksEmptyOnes) {
  for (bool start : {false, true}) {
    ArrayMeta m = sharded_meta(DType::kInt32, {5, 6}, {4, 4}, {2, 2}, {bytes_codec(), compressor("zstd")}, start);
    // Shard (1, 1) of a 5 x 6 array holds 1 x 2 elements: one inner chunk inside the
    // array, three outside it (empty).
    Chunk data = iota_chunk(DType::kInt32, {1, 2}, 5);
    auto bytes = encode_shard(m, data, "w");
    ASSERT_TRUE(bytes.ok()) << bytes.status().message();
    const uint64_t index_size = *shard_index_nbytes(m);
    EXPECT_EQ(index_size, 4u * 16 + 4);
    const std::string_view all = bytes->view();
    const std::string_view index = start ? all.substr(0, index_size) : all.substr(all.size() - index_size);
    auto entries = decode_shard_index(m, index, all.size(), "w");
    ASSERT_TRUE(entries.ok()) << entries.status().message();
    ASSERT_EQ(entries->size(), 8u);
    EXPECT_EQ((*entries)[0], start ? index_size : 0u);
    EXPECT_EQ((*entries)[1], all.size() - index_size);
    for (size_t i = 2; i < 8; ++i) EXPECT_EQ((*entries)[i], kEmptyEntry);
    // An inner chunk of fill values only is left out too; all empty: nothing to store.
    Chunk zeros = Chunk::allocate(DType::kInt32, {1, 2});
    std::memset(zeros.mutable_bytes(), 0, zeros.nbytes());
    auto none = encode_shard(m, zeros, "w");
    ASSERT_TRUE(none.ok());
    EXPECT_EQ(none->size, 0u);
  }
}

TEST(Zarr3Shard, ReadsTheIndexAndOnlyTheInnerChunksInsideTheArray) {
  TempDir dir;
  for (bool start : {false, true}) {
    auto local = store::open_store(dir.path.string());
    ASSERT_TRUE(local.ok());
    CountingStore st(*local);
    ArrayMeta m = sharded_meta(DType::kFloat64, {10, 7}, {8, 8}, {2, 4}, {bytes_codec(), compressor("blosc")}, start);
    for (int64_t by = 0; by < 2; ++by) {
      const Shape extent{std::min<int64_t>(8, 10 - 8 * by), 7};
      Chunk data = iota_chunk(DType::kFloat64, extent, static_cast<int>(by) + 1);
      auto bytes = encode_shard(m, data, "w");
      ASSERT_TRUE(bytes.ok());
      ASSERT_TRUE(st.put(chunk_key(m, {by, 0}), bytes->view()).is_ok());
      st.gets = st.ranges = st.suffixes = 0;
      st.bytes_read = 0;
      auto back = read_block(st, "", m, {by, 0}, dir.path.string());
      ASSERT_TRUE(back.ok()) << back.status().message();
      EXPECT_TRUE(same_bytes(*back, data));
      EXPECT_EQ(st.gets, 0) << "the whole shard was read";
      EXPECT_EQ(st.suffixes, start ? 0 : 1);
      EXPECT_EQ(st.suffixes + st.ranges, 2) << "the index, then the adjacent inner chunks in one get";
      EXPECT_EQ(st.bytes_read, bytes->size);
    }
    // A missing shard reads as the fill value.
    std::filesystem::remove(dir.path / "c" / "1" / "0");
    auto fill = read_block(st, "", m, {1, 0}, dir.path.string());
    ASSERT_TRUE(fill.ok());
    for (int64_t i = 0; i < fill->num_elements(); ++i) EXPECT_EQ(fill->data<double>()[i], 0.0);
  }
}

TEST(Zarr3Shard, TruncatedShardsAreErrorsNamingTheKey) {
  TempDir dir;
  auto st = store::open_store(dir.path.string());
  ASSERT_TRUE(st.ok());
  for (bool start : {false, true}) {
    ArrayMeta m = sharded_meta(DType::kUInt16, {8}, {8}, {2}, {bytes_codec(), compressor("gzip")}, start);
    auto bytes = encode_shard(m, iota_chunk(DType::kUInt16, {8}, 1), "w");
    ASSERT_TRUE(bytes.ok());
    // Cut off the end: either the index (at the end) or the last inner chunk.
    const std::string cut(bytes->view().substr(0, bytes->size - 10));
    ASSERT_TRUE((*st)->put("c/0", cut).is_ok());
    auto r = read_block(**st, "", m, {0}, "/data/t.zarr");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("/data/t.zarr/c/0"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(start ? "truncated shard" : "crc32c"), std::string::npos)
        << r.status().message();
    // A shard shorter than its index.
    ASSERT_TRUE((*st)->put("c/0", "tiny").is_ok());
    auto t = read_block(**st, "", m, {0}, "/data/t.zarr");
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.status().message().find("truncated shard"), std::string::npos) << t.status().message();
  }
}

TEST(Zarr3Store, SuffixReadsOfALocalStore) {
  TempDir dir;
  auto st = store::open_store(dir.path.string());
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE((*st)->put("a/b", "0123456789").is_ok());
  EXPECT_EQ((*st)->get_suffix("a/b", 3)->view(), "789");
  EXPECT_EQ((*st)->get_suffix("a/b", 30)->view(), "0123456789");
  EXPECT_EQ((*st)->get_suffix("a/none", 3).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace rsdat::zarr3
