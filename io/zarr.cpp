#include "io/zarr.hpp"

#include <blosc.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <lz4.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>

namespace rsdat::zarr {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr uint64_t kMaxChunkBytes = 1ull << 34;  // 16 GiB: anything larger is not a chunk
}  // namespace

// Nesting deeper than this is refused before parsing: nlohmann's dump() and copies
// recurse once per level, and Zarr metadata needs a handful of levels.
constexpr int kMaxJsonDepth = 256;

// The deepest nesting of arrays and objects in `text` (brackets inside strings do not count).
static int json_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (in_string) {
      if (ch == '\\') {
        ++i;
      } else if (ch == '"') {
        in_string = false;
      }
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '[' || ch == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (ch == ']' || ch == '}') {
      --depth;
    }
  }
  return deepest;
}

Result<nlohmann::json> parse_json(std::string_view text, const std::string& where) {
  if (json_depth(text) > kMaxJsonDepth) {
    return invalid_argument(where + ": nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(where + ": not valid JSON: " + e.what());
  }
}

// The product of `dims` when it stays at most `limit`, else nullopt.
std::optional<int64_t> checked_product(const Shape& dims, int64_t limit) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d == 0) return 0;
  }
  for (int64_t d : dims) {
    if (__builtin_mul_overflow(n, d, &n) || n > limit) return std::nullopt;
  }
  return n;
}

namespace {

// `v` converted to the integer type T, saturating at T's range (NaN reads as 0): a fill
// value of 2^64 - 1 arrives here as the double 2^64, which does not fit a uint64_t.
template <typename T>
T saturate(double v) {
  if (std::isnan(v)) return 0;
  if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

Result<DType> parse_dtype(const std::string& s, bool& big_endian, const std::string& where) {
  if (s.size() < 3) return invalid_argument(where + ": unsupported dtype '" + s + "'");
  const char order = s[0];
  const std::string kind = s.substr(1);
  if (order != '<' && order != '>' && order != '|' && order != '=') {
    return invalid_argument(where + ": unsupported dtype '" + s + "'");
  }
  big_endian = order == '>';
  static const std::pair<const char*, DType> kKinds[] = {
      {"b1", DType::kBool},    {"i1", DType::kInt8},    {"i2", DType::kInt16},  {"i4", DType::kInt32},
      {"i8", DType::kInt64},   {"u1", DType::kUInt8},   {"u2", DType::kUInt16}, {"u4", DType::kUInt32},
      {"u8", DType::kUInt64},  {"f4", DType::kFloat32}, {"f8", DType::kFloat64},
  };
  for (const auto& [name, t] : kKinds) {
    if (kind == name) return t;
  }
  return invalid_argument(where + ": unsupported dtype '" + s +
                          "' (rsdat reads bool, int8-64, uint8-64, float32 and float64)");
}

Result<std::optional<double>> parse_fill(const json& v, const std::string& where) {
  if (v.is_null()) return std::optional<double>();
  if (v.is_boolean()) return std::optional<double>(v.get<bool>() ? 1.0 : 0.0);
  if (v.is_number()) return std::optional<double>(v.get<double>());
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "NaN") return std::optional<double>(std::numeric_limits<double>::quiet_NaN());
    if (s == "Infinity") return std::optional<double>(std::numeric_limits<double>::infinity());
    if (s == "-Infinity") return std::optional<double>(-std::numeric_limits<double>::infinity());
  }
  return invalid_argument(where + ": unsupported fill_value " + v.dump());
}

json fill_to_json(const std::optional<double>& v, DType t) {
  if (!v) return nullptr;
  if (std::isnan(*v)) return "NaN";
  if (std::isinf(*v)) return *v > 0 ? "Infinity" : "-Infinity";
  if (t == DType::kBool) return *v != 0;
  if (dtype_is_integer(t)) {
    if (t == DType::kUInt64) return saturate<uint64_t>(*v);
    return saturate<int64_t>(*v);
  }
  return *v;
}

Result<Compressor> parse_compressor(const json& c, const std::string& where) {
  Compressor out;
  if (c.is_null()) return out;
  if (!c.is_object() || !c.contains("id") || !c["id"].is_string()) {
    return invalid_argument(where + ": malformed compressor " + c.dump());
  }
  out.id = c["id"].get<std::string>();
  auto int_field = [&](const char* name, int& dst) {
    if (c.contains(name) && c[name].is_number_integer()) dst = c[name].get<int>();
  };
  if (out.id == "blosc") {
    if (c.contains("cname") && c["cname"].is_string()) out.cname = c["cname"].get<std::string>();
    int_field("clevel", out.level);
    int_field("shuffle", out.shuffle);
    int_field("blocksize", out.blocksize);
  } else if (out.id == "zstd" || out.id == "zlib" || out.id == "gzip") {
    out.level = out.id == "zstd" ? 1 : 1;
    int_field("level", out.level);
  } else if (out.id == "lz4") {
    int_field("acceleration", out.acceleration);
  } else {
    return invalid_argument(where + ": unknown codec '" + out.id +
                            "' (rsdat reads blosc, zstd, lz4, zlib, gzip or no compressor)");
  }
  return out;
}

json compressor_to_json(const Compressor& c) {
  if (c.id.empty()) return nullptr;
  if (c.id == "blosc") {
    return {{"id", "blosc"}, {"cname", c.cname}, {"clevel", c.level}, {"shuffle", c.shuffle}, {"blocksize", c.blocksize}};
  }
  if (c.id == "lz4") return {{"id", "lz4"}, {"acceleration", c.acceleration}};
  return {{"id", c.id}, {"level", c.level}};
}

void byteswap_inplace(uint8_t* p, size_t n, size_t item) {
  if (item == 1) return;
  for (size_t i = 0; i < n; i += item) std::reverse(p + i, p + i + item);
}

// Copies the C-order `extent` sub-block at the origin of a C-order block of `full` shape
// (or the reverse, `to_full`), elements of `item` bytes.
void copy_subblock(const uint8_t* src, uint8_t* dst, const Shape& full, const Shape& extent, size_t item, bool to_full) {
  const size_t nd = full.size();
  if (nd == 0) {
    std::memcpy(dst, src, item);
    return;
  }
  const Shape fs = c_strides(full);
  const Shape es = c_strides(extent);
  const size_t row = static_cast<size_t>(extent[nd - 1]) * item;
  const int64_t rows = shape_size(extent) / std::max<int64_t>(extent[nd - 1], 1);
  if (extent[nd - 1] == 0) return;
  std::vector<int64_t> idx(nd, 0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t rem = r, foff = 0, eoff = 0;
    for (size_t d = nd - 1; d-- > 0;) {
      int64_t i = rem % extent[d];
      rem /= extent[d];
      foff += i * fs[d];
      eoff += i * es[d];
    }
    if (to_full) {
      std::memcpy(dst + foff * item, src + eoff * item, row);
    } else {
      std::memcpy(dst + eoff * item, src + foff * item, row);
    }
  }
}

// Reorders between Fortran and C order for a block of `shape` (a transpose of all axes).
void reorder(const uint8_t* src, uint8_t* dst, const Shape& shape, size_t item, bool f_to_c) {
  const size_t nd = shape.size();
  const int64_t n = shape_size(shape);
  Shape rev(shape.rbegin(), shape.rend());
  // F-order element (i0..in) lives at C-order index of the reversed shape (in..i0).
  const Shape cs = c_strides(shape);
  const Shape rs = c_strides(rev);
  std::vector<int64_t> idx(nd, 0);
  for (int64_t lin = 0; lin < n; ++lin) {
    int64_t coff = 0, foff = 0;
    for (size_t d = 0; d < nd; ++d) {
      coff += idx[d] * cs[d];
      foff += idx[d] * rs[nd - 1 - d];
    }
    if (f_to_c) {
      std::memcpy(dst + coff * item, src + foff * item, item);
    } else {
      std::memcpy(dst + foff * item, src + coff * item, item);
    }
    for (size_t d = nd; d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

template <typename T>
void fill_typed(uint8_t* p, int64_t n, double v) {
  T t;
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    t = saturate<T>(v);
  } else if constexpr (std::is_same_v<T, float>) {
    // Beyond float's range the cast is undefined; NumPy gives infinity.
    t = std::fabs(v) > std::numeric_limits<float>::max() && std::isfinite(v)
            ? std::copysign(std::numeric_limits<float>::infinity(), static_cast<float>(v > 0 ? 1 : -1))
            : static_cast<float>(v);
  } else {
    t = static_cast<T>(v);
  }
  std::fill(reinterpret_cast<T*>(p), reinterpret_cast<T*>(p) + n, t);
}

void fill_bytes(uint8_t* p, DType t, int64_t n, const std::optional<double>& fill) {
  double v = fill.value_or(0.0);
  if (dtype_is_integer(t) || t == DType::kBool) {
    if (!std::isfinite(v)) v = 0;
  }
  visit_dtype(t, [&](auto tag) { fill_typed<decltype(tag)>(p, n, v); });
}

// The most bytes one stored byte can decode to, for each codec's format: LZ4 (and
// blosclz, snappy) blocks extend a match by at most 255 per byte, deflate codes a
// 258-byte match in two bits (1032:1), and a 4-byte zstd RLE block holds 128 KiB.
constexpr uint64_t kLz4MaxRatio = 256;
constexpr uint64_t kDeflateMaxRatio = 1032;
constexpr uint64_t kZstdMaxRatio = 32768;

// Checks that `in` can decode to `expected` bytes before any buffer of that size is
// allocated: from the sizes the stored headers give, and else from the codec's largest
// expansion. A few bytes of a chunk file thus never cost more memory than they could
// legitimately decode to.
Status check_stored_size(const Compressor& c, std::string_view in, size_t expected, const std::string& where) {
  auto corrupt = [&](const std::string& why) {
    return io_error(where + ": cannot decode chunk (" + c.id + "): " + why);
  };
  auto bounded = [&](uint64_t ratio, size_t stored) {
    if (expected / ratio <= stored) return Status::ok();
    return corrupt(std::to_string(stored) + " bytes cannot decode to the " + std::to_string(expected) +
                   " bytes of a chunk");
  };
  if (c.id.empty()) {
    if (in.size() != expected) {
      return corrupt("holds " + std::to_string(in.size()) + " bytes, expected " + std::to_string(expected));
    }
    return Status::ok();
  }
  if (c.id == "blosc") {
    size_t nbytes = 0, cbytes = 0, blocksize = 0;
    if (in.size() < BLOSC_MIN_HEADER_LENGTH) return corrupt("truncated header");
    blosc_cbuffer_sizes(in.data(), &nbytes, &cbytes, &blocksize);
    if (cbytes < BLOSC_MIN_HEADER_LENGTH || static_cast<uint8_t>(in[0]) < 1 || static_cast<uint8_t>(in[0]) > 4 ||
        in[3] == 0) {
      return corrupt("not a blosc buffer (bad header)");
    }
    if (cbytes != in.size()) return corrupt("truncated: " + std::to_string(in.size()) + " of " + std::to_string(cbytes) + " bytes");
    if (nbytes != expected) return corrupt("decodes to " + std::to_string(nbytes) + " bytes, expected " + std::to_string(expected));
    // blosc allocates two blocks of scratch: a block is never larger than the buffer.
    if (blocksize == 0 || blocksize > nbytes) return corrupt("block size " + std::to_string(blocksize) + " out of range");
    const uint8_t flags = static_cast<uint8_t>(in[2]);
    if (flags & BLOSC_MEMCPYED) {
      if (cbytes != nbytes + BLOSC_MAX_OVERHEAD) return corrupt("stored uncompressed, but of the wrong size");
      return Status::ok();
    }
    // The codec inside: bits 5-7 of the flags (0 blosclz, 1 lz4, 2 snappy, 3 zlib, 4 zstd).
    const int format = flags >> 5;
    return bounded(format == 3 ? kDeflateMaxRatio : format == 4 ? kZstdMaxRatio : kLz4MaxRatio, in.size());
  }
  if (c.id == "zstd") {
    const unsigned long long content = ZSTD_getFrameContentSize(in.data(), in.size());
    if (content == ZSTD_CONTENTSIZE_ERROR) return corrupt("not a zstd frame");
    // A frame that says its size (zarr-python's do) may not hold more than the chunk;
    // several frames may together make it up.
    if (content != ZSTD_CONTENTSIZE_UNKNOWN && content > expected) {
      return corrupt("decodes to " + std::to_string(content) + " bytes, expected " + std::to_string(expected));
    }
    return bounded(kZstdMaxRatio, in.size());
  }
  if (c.id == "lz4") {
    if (in.size() < 4) return corrupt("truncated header");
    uint32_t size = 0;
    std::memcpy(&size, in.data(), 4);  // little-endian on every platform rsdat builds for
    if (size != expected) return corrupt("header says " + std::to_string(size) + " bytes, expected " + std::to_string(expected));
    if (expected > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) return corrupt("larger than an LZ4 block can be");
    return bounded(kLz4MaxRatio, in.size() - 4);
  }
  // zlib and gzip
  if (in.size() > std::numeric_limits<uInt>::max()) return corrupt("larger than one inflate call takes");
  return bounded(kDeflateMaxRatio, in.size());
}

Status decompress(const Compressor& c, std::string_view in, uint8_t* out, size_t expected, const std::string& where) {
  auto corrupt = [&](const std::string& why) {
    return io_error(where + ": cannot decode chunk (" + c.id + "): " + why);
  };
  // check_stored_size has seen the headers.
  if (c.id.empty()) {
    std::memcpy(out, in.data(), expected);
    return Status::ok();
  }
  if (c.id == "blosc") {
    int n = blosc_decompress_ctx(in.data(), out, expected, 1);
    if (n < 0 || static_cast<size_t>(n) != expected) return corrupt("blosc error " + std::to_string(n));
    return Status::ok();
  }
  if (c.id == "zstd") {
    size_t n = ZSTD_decompress(out, expected, in.data(), in.size());
    if (ZSTD_isError(n)) return corrupt(ZSTD_getErrorName(n));
    if (n != expected) return corrupt("decodes to " + std::to_string(n) + " bytes, expected " + std::to_string(expected));
    return Status::ok();
  }
  if (c.id == "lz4") {
    int n = LZ4_decompress_safe(in.data() + 4, reinterpret_cast<char*>(out), static_cast<int>(in.size() - 4),
                                static_cast<int>(expected));
    if (n < 0 || static_cast<size_t>(n) != expected) return corrupt("LZ4 block is damaged or truncated");
    return Status::ok();
  }
  // zlib and gzip: one inflate stream (gzip: its header and trailer).
  z_stream zs{};
  if (inflateInit2(&zs, c.id == "gzip" ? 16 + MAX_WBITS : MAX_WBITS) != Z_OK) return corrupt("inflateInit failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = out;
  zs.avail_out = static_cast<uInt>(expected);
  int rc = inflate(&zs, Z_FINISH);
  size_t produced = expected - zs.avail_out;
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return corrupt(rc == Z_BUF_ERROR ? "truncated or larger than a chunk" : "damaged stream");
  if (produced != expected) return corrupt("decodes to " + std::to_string(produced) + " bytes, expected " + std::to_string(expected));
  return Status::ok();
}

Bytes allocate_bytes(size_t capacity) { return Bytes{Buffer::allocate(std::max<size_t>(capacity, 1)), 0}; }

Result<Bytes> compress(const Compressor& c, const uint8_t* in, size_t n, size_t item) {
  if (c.id.empty()) {
    Bytes out = allocate_bytes(n);
    std::memcpy(out.buffer->data(), in, n);
    out.size = n;
    return out;
  }
  if (c.id == "blosc") {
    Bytes out = allocate_bytes(n + BLOSC_MAX_OVERHEAD);
    int shuffle = c.shuffle;
    if (shuffle == -1) shuffle = item == 1 ? BLOSC_BITSHUFFLE : BLOSC_SHUFFLE;
    int r = blosc_compress_ctx(c.level, shuffle, item, n, in, out.buffer->data(), out.buffer->size(), c.cname.c_str(),
                               static_cast<size_t>(c.blocksize), 1);
    if (r <= 0) return internal_error("blosc compression failed (" + std::to_string(r) + ")");
    out.size = static_cast<size_t>(r);
    return out;
  }
  if (c.id == "zstd") {
    Bytes out = allocate_bytes(ZSTD_compressBound(n));
    size_t r = ZSTD_compress(out.buffer->data(), out.buffer->size(), in, n, c.level);
    if (ZSTD_isError(r)) return internal_error(std::string("zstd compression failed: ") + ZSTD_getErrorName(r));
    out.size = r;
    return out;
  }
  if (c.id == "lz4") {
    if (n > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) return invalid_argument("chunk too large for lz4");
    Bytes out = allocate_bytes(4 + static_cast<size_t>(LZ4_compressBound(static_cast<int>(n))));
    uint32_t size = static_cast<uint32_t>(n);
    std::memcpy(out.buffer->data(), &size, 4);
    int r = LZ4_compress_fast(reinterpret_cast<const char*>(in), reinterpret_cast<char*>(out.buffer->data()) + 4,
                              static_cast<int>(n), static_cast<int>(out.buffer->size() - 4), c.acceleration);
    if (r <= 0) return internal_error("lz4 compression failed");
    out.size = 4 + static_cast<size_t>(r);
    return out;
  }
  z_stream zs{};
  if (deflateInit2(&zs, c.level, Z_DEFLATED, c.id == "gzip" ? 16 + MAX_WBITS : MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return internal_error("deflateInit failed");
  }
  Bytes out = allocate_bytes(deflateBound(&zs, n) + 32);
  zs.next_in = const_cast<Bytef*>(in);
  zs.avail_in = static_cast<uInt>(n);
  zs.next_out = out.buffer->data();
  zs.avail_out = static_cast<uInt>(out.buffer->size());
  int rc = deflate(&zs, Z_FINISH);
  out.size = out.buffer->size() - zs.avail_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return internal_error("deflate failed");
  return out;
}

Status check_blosc_cname(const Compressor& c, const std::string& where) {
  if (c.id != "blosc") return Status::ok();
  const char* complib = nullptr;
  if (blosc_compname_to_compcode(c.cname.c_str()) < 0 || blosc_get_complib_info(c.cname.c_str(), const_cast<char**>(&complib), nullptr) < 0) {
    return invalid_argument(where + ": blosc compressor '" + c.cname + "' is not available");
  }
  free(const_cast<char*>(complib));
  if (c.shuffle < -1 || c.shuffle > 2) return invalid_argument(where + ": blosc shuffle " + std::to_string(c.shuffle) + " unknown");
  return Status::ok();
}

}  // namespace

size_t ArrayMeta::chunk_nbytes() const { return static_cast<size_t>(shape_size(chunks)) * dtype_size(dtype); }

std::string dtype_string(DType t, bool big_endian) {
  static const char* kKinds[] = {"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f4", "f8"};
  const char* kind = kKinds[static_cast<int>(t)];
  if (dtype_size(t) == 1) return std::string("|") + kind;
  return std::string(big_endian ? ">" : "<") + kind;
}

Result<ArrayMeta> parse_zarray(std::string_view text, const std::string& where) {
  RSDAT_ASSIGN_OR_RETURN(json j, parse_json(text, where));
  if (!j.is_object()) return invalid_argument(where + ": not a JSON object");
  auto need = [&](const char* key) -> const json* { return j.contains(key) ? &j[key] : nullptr; };
  if (!need("zarr_format") || !j["zarr_format"].is_number_integer() || j["zarr_format"].get<int>() != 2) {
    return invalid_argument(where + ": not a Zarr v2 array (zarr_format must be 2)");
  }
  ArrayMeta m;
  for (const char* key : {"shape", "chunks"}) {
    const json* v = need(key);
    if (!v || !v->is_array()) return invalid_argument(where + ": '" + key + "' missing or not a list");
    Shape s;
    for (const auto& e : *v) {
      if (!e.is_number_integer() || e.get<int64_t>() < 0) return invalid_argument(where + ": bad '" + key + "' " + v->dump());
      s.push_back(e.get<int64_t>());
    }
    (std::string(key) == "shape" ? m.shape : m.chunks) = std::move(s);
  }
  if (m.shape.size() != m.chunks.size()) return invalid_argument(where + ": shape and chunks differ in length");
  if (m.shape.size() > 32) return invalid_argument(where + ": too many dimensions");
  for (int64_t c : m.chunks) {
    if (c <= 0) return invalid_argument(where + ": chunk sizes must be positive");
  }
  const json* dt = need("dtype");
  if (!dt || !dt->is_string()) return invalid_argument(where + ": 'dtype' missing, or structured (unsupported)");
  RSDAT_ASSIGN_OR_RETURN(m.dtype, parse_dtype(dt->get<std::string>(), m.big_endian, where));
  // Checked before anything multiplies them: the products must not overflow.
  if (!checked_product(m.chunks, static_cast<int64_t>(kMaxChunkBytes / dtype_size(m.dtype)))) {
    return invalid_argument(where + ": chunks of more than 16 GiB");
  }
  if (!checked_product(m.shape, std::numeric_limits<int64_t>::max())) {
    return invalid_argument(where + ": more than 2^63 elements");
  }
  if (const json* o = need("order")) {
    if (*o == "F") {
      m.fortran_order = true;
    } else if (*o != "C") {
      return invalid_argument(where + ": order must be C or F");
    }
  }
  if (const json* f = need("fill_value")) {
    RSDAT_ASSIGN_OR_RETURN(m.fill_value, parse_fill(*f, where));
  }
  if (const json* c = need("compressor")) {
    RSDAT_ASSIGN_OR_RETURN(m.compressor, parse_compressor(*c, where));
    RSDAT_RETURN_IF_ERROR(check_blosc_cname(m.compressor, where));
  }
  if (const json* f = need("filters"); f && !f->is_null() && !(f->is_array() && f->empty())) {
    return invalid_argument(where + ": filters are not supported (" + f->dump() + ")");
  }
  if (const json* s = need("dimension_separator"); s && !s->is_null()) {
    if (*s == "/") {
      m.separator = '/';
    } else if (*s != ".") {
      return invalid_argument(where + ": dimension_separator must be '.' or '/'");
    }
  }
  return m;
}

std::string to_zarray(const ArrayMeta& m) {
  json j;
  j["zarr_format"] = 2;
  j["shape"] = m.shape;
  j["chunks"] = m.chunks;
  j["dtype"] = dtype_string(m.dtype, m.big_endian);
  j["compressor"] = compressor_to_json(m.compressor);
  j["fill_value"] = fill_to_json(m.fill_value, m.dtype);
  j["order"] = m.fortran_order ? "F" : "C";
  j["filters"] = nullptr;
  j["dimension_separator"] = std::string(1, m.separator);
  return j.dump(4);
}

std::string chunk_key(const ArrayMeta& meta, const std::vector<int64_t>& block) {
  if (block.empty()) return "0";
  std::string key;
  for (size_t i = 0; i < block.size(); ++i) {
    if (i) key += meta.separator;
    key += std::to_string(block[i]);
  }
  return key;
}

int64_t blocks_along(const ArrayMeta& meta, size_t axis) {
  const int64_t n = meta.shape[axis], c = meta.chunks[axis];
  return n / c + (n % c != 0);
}

Shape block_extent(const ArrayMeta& meta, const std::vector<int64_t>& block) {
  Shape e(meta.shape.size());
  for (size_t d = 0; d < e.size(); ++d) e[d] = std::min(meta.chunks[d], meta.shape[d] - block[d] * meta.chunks[d]);
  return e;
}

Result<Chunk> decode_chunk(const ArrayMeta& meta, std::string_view stored, const Shape& extent, const std::string& where) {
  const size_t item = dtype_size(meta.dtype);
  const size_t full_bytes = meta.chunk_nbytes();
  const bool direct = extent == meta.chunks && !meta.fortran_order;
  if (extent.size() != meta.chunks.size()) return invalid_argument(where + ": block of the wrong rank");
  for (size_t d = 0; d < extent.size(); ++d) {
    if (extent[d] < 0 || extent[d] > meta.chunks[d]) return invalid_argument(where + ": block larger than a chunk");
  }
  RSDAT_RETURN_IF_ERROR(check_stored_size(meta.compressor, stored, full_bytes, where));
  Chunk out = Chunk::allocate(meta.dtype, extent);
  Chunk scratch = direct ? out : Chunk::allocate(meta.dtype, meta.chunks);
  RSDAT_RETURN_IF_ERROR(decompress(meta.compressor, stored, scratch.mutable_bytes(), full_bytes, where));
  if (meta.big_endian) byteswap_inplace(scratch.mutable_bytes(), full_bytes, item);
  if (meta.fortran_order) {
    Chunk c_order = Chunk::allocate(meta.dtype, meta.chunks);
    reorder(scratch.bytes(), c_order.mutable_bytes(), meta.chunks, item, /*f_to_c=*/true);
    scratch = std::move(c_order);
  }
  if (!direct) copy_subblock(scratch.bytes(), out.mutable_bytes(), meta.chunks, extent, item, /*to_full=*/false);
  if (meta.dtype == DType::kBool) {
    // Any non-zero byte is true; keep the values canonical.
    uint8_t* p = out.mutable_bytes();
    for (size_t i = 0; i < out.nbytes(); ++i) p[i] = p[i] != 0;
  }
  return out;
}

Chunk fill_chunk(const ArrayMeta& meta, const Shape& extent) {
  Chunk out = Chunk::allocate(meta.dtype, extent);
  fill_bytes(out.mutable_bytes(), meta.dtype, out.num_elements(), meta.fill_value);
  return out;
}

Result<Bytes> encode_chunk(const ArrayMeta& meta, const Chunk& chunk) {
  const size_t item = dtype_size(meta.dtype);
  if (chunk.dtype != meta.dtype) return invalid_argument("chunk dtype differs from the array's");
  if (chunk.shape.size() != meta.chunks.size()) return invalid_argument("chunk rank differs from the array's");
  for (size_t d = 0; d < chunk.shape.size(); ++d) {
    if (chunk.shape[d] > meta.chunks[d]) return invalid_argument("chunk larger than the array's chunks");
  }
  const uint8_t* src = chunk.bytes();
  Chunk full;
  if (chunk.shape != meta.chunks || meta.fortran_order || meta.big_endian) {
    full = Chunk::allocate(meta.dtype, meta.chunks);
    if (chunk.shape != meta.chunks) {
      fill_bytes(full.mutable_bytes(), meta.dtype, full.num_elements(), meta.fill_value);
      copy_subblock(chunk.bytes(), full.mutable_bytes(), meta.chunks, chunk.shape, item, /*to_full=*/true);
    } else {
      std::memcpy(full.mutable_bytes(), chunk.bytes(), chunk.nbytes());
    }
    if (meta.fortran_order) {
      Chunk f = Chunk::allocate(meta.dtype, meta.chunks);
      reorder(full.bytes(), f.mutable_bytes(), meta.chunks, item, /*f_to_c=*/false);
      full = std::move(f);
    }
    if (meta.big_endian) byteswap_inplace(full.mutable_bytes(), full.nbytes(), item);
    src = full.bytes();
  }
  if (meta.compressor.id.empty()) {
    const Chunk& stored = full.buffer ? full : chunk;
    return Bytes{stored.buffer, meta.chunk_nbytes()};
  }
  return compress(meta.compressor, src, meta.chunk_nbytes(), item);
}

Result<Bytes> compress_bytes(const Compressor& c, const uint8_t* in, size_t n, size_t item) {
  return compress(c, in, n, item);
}

Result<Bytes> decompress_bytes(const Compressor& c, std::string_view in, size_t expected, const std::string& where) {
  RSDAT_RETURN_IF_ERROR(check_blosc_cname(c, where));
  RSDAT_RETURN_IF_ERROR(check_stored_size(c, in, expected, where));
  Bytes out = allocate_bytes(expected);
  RSDAT_RETURN_IF_ERROR(decompress(c, in, out.buffer->data(), expected, where));
  out.size = expected;
  return out;
}

uint64_t max_stored_bytes(const ArrayMeta& meta) {
  const uint64_t n = meta.chunk_nbytes();
  return n + n / 8 + (1u << 20);
}

Result<Bytes> read_file(const std::string& path, uint64_t limit) {
  return store::read_file_range(path, 0, UINT64_MAX, limit);
}

Result<std::string> read_text(const std::string& path) {
  RSDAT_ASSIGN_OR_RETURN(Bytes b, read_file(path));
  return std::string(b.view());
}

Status write_file_atomic(const std::string& path, std::string_view bytes) {
  return store::write_file_atomic(path, bytes);
}

size_t remove_temporaries(const std::string& dir) {
  std::error_code ec;
  std::vector<fs::path> found;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec) && it->path().filename().string().find(".tmp.") != std::string::npos) {
      found.push_back(it->path());
    }
  }
  size_t removed = 0;
  for (const fs::path& p : found) removed += fs::remove(p, ec) ? 1 : 0;
  return removed;
}

Result<std::string> join_inside(const std::string& base, const std::string& sub) {
  fs::path s(sub);
  if (s.is_absolute()) return invalid_argument("path '" + sub + "' must be relative to the store " + base);
  for (const auto& part : s) {
    if (part == "..") return invalid_argument("path '" + sub + "' leaves the store " + base);
  }
  if (sub.empty() || sub == ".") return base;
  return (fs::path(base) / s).lexically_normal().string();
}

std::string consolidated_key_prefix(const std::string& path) {
  std::string prefix = path.empty() || path == "." ? "" : fs::path(path).lexically_normal().generic_string();
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (!prefix.empty()) prefix += "/";
  return prefix;
}

Result<ConsolidatedArray> parse_zmetadata(std::string_view text, const std::string& path, const std::string& where) {
  RSDAT_ASSIGN_OR_RETURN(json j, parse_json(text, where));
  if (!j.is_object() || !j.contains("metadata") || !j["metadata"].is_object()) {
    return invalid_argument(where + ": no 'metadata' object");
  }
  const std::string key_prefix = consolidated_key_prefix(path);
  const json& md = j["metadata"];
  ConsolidatedArray out;
  if (md.contains(key_prefix + ".zarray")) {
    out.zarray = md[key_prefix + ".zarray"].dump();
    out.zarray_where = where + "[" + key_prefix + ".zarray]";
    if (md.contains(key_prefix + ".zattrs")) out.zattrs = md[key_prefix + ".zattrs"].dump();
  }
  return out;
}

Status parse_zattrs(std::string_view text, ArrayMeta& meta, const std::string& where) {
  RSDAT_ASSIGN_OR_RETURN(json a, parse_json(text, where));
  if (a.is_object() && a.contains("_ARRAY_DIMENSIONS") && a["_ARRAY_DIMENSIONS"].is_array()) {
    for (const auto& d : a["_ARRAY_DIMENSIONS"]) {
      if (d.is_string()) meta.dims.push_back(d.get<std::string>());
    }
    if (meta.dims.size() != meta.shape.size()) meta.dims.clear();
  }
  return Status::ok();
}

namespace {

// `path` inside a store (checked by join_url) as a key: without empty or "." names.
std::string array_key(const std::string& path) {
  std::string key;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string part = path.substr(start, end - start);
    if (!part.empty() && part != ".") key += (key.empty() ? "" : "/") + part;
    start = end + 1;
  }
  return key;
}

std::string under(const std::string& key, const std::string& name) { return key.empty() ? name : key + "/" + name; }

}  // namespace

Result<ArrayMeta> open_array(const std::string& store_url, const std::string& path) {
  if (path.size() && path.front() == '/') {
    return invalid_argument("path '" + path + "' must be relative to the store " + store_url);
  }
  RSDAT_ASSIGN_OR_RETURN(std::string dir, store::join_url(store_url, path));
  const std::string key = array_key(path);
  RSDAT_ASSIGN_OR_RETURN(auto st, store::open_store(store_url));
  if (!store::is_remote_url(store_url)) {
    RSDAT_ASSIGN_OR_RETURN(bool is_dir, st->is_dir(""));
    if (!is_dir) return not_found("no Zarr store at " + store_url + " (not a directory)");
  }

  std::string zarray, zattrs, zarray_where = dir + "/.zarray";
  auto consolidated = st->get(".zmetadata");
  if (!consolidated.ok() && consolidated.status().code() != StatusCode::kNotFound) return consolidated.status();
  if (consolidated.ok()) {
    RSDAT_ASSIGN_OR_RETURN(ConsolidatedArray entry,
                           parse_zmetadata(consolidated->view(), key, store_url + "/.zmetadata"));
    if (!entry.zarray.empty()) {
      zarray = std::move(entry.zarray);
      zarray_where = std::move(entry.zarray_where);
      zattrs = std::move(entry.zattrs);
    }
  }
  if (zarray.empty()) {
    auto text = st->get(under(key, ".zarray"));
    if (!text.ok()) {
      if (text.status().code() != StatusCode::kNotFound) return text.status();
      RSDAT_ASSIGN_OR_RETURN(bool group, st->exists(under(key, ".zgroup")));
      if (group) {
        std::string members;
        RSDAT_ASSIGN_OR_RETURN(auto entries, st->list(key));
        for (const auto& e : entries) {
          if (!e.is_dir) continue;
          RSDAT_ASSIGN_OR_RETURN(bool a, st->exists(under(key, e.name + "/.zarray")));
          bool g = false;
          if (!a) {
            RSDAT_ASSIGN_OR_RETURN(g, st->exists(under(key, e.name + "/.zgroup")));
          }
          if (a || g) members += (members.empty() ? "" : ", ") + e.name;
        }
        return invalid_argument(dir + " is a Zarr group, not an array; name one of its members: " +
                                (members.empty() ? "(none)" : members));
      }
      return not_found("no Zarr array at " + dir + ": " + dir + "/.zarray not found");
    }
    zarray = std::string(text->view());
    auto attrs = st->get(under(key, ".zattrs"));
    if (attrs.ok()) {
      zattrs = std::string(attrs->view());
    } else if (attrs.status().code() != StatusCode::kNotFound) {
      return attrs.status();
    }
  }
  RSDAT_ASSIGN_OR_RETURN(ArrayMeta meta, parse_zarray(zarray, zarray_where));
  if (!zattrs.empty()) RSDAT_RETURN_IF_ERROR(parse_zattrs(zattrs, meta, dir + "/.zattrs"));
  return meta;
}

Status create_array(const std::string& store_url, const std::string& path, const ArrayMeta& meta) {
  if (path.size() && path.front() == '/') {
    return invalid_argument("path '" + path + "' must be relative to the store " + store_url);
  }
  RSDAT_ASSIGN_OR_RETURN(std::string dir, store::join_url(store_url, path));
  const std::string key = array_key(path);
  RSDAT_ASSIGN_OR_RETURN(auto st, store::open_store(store_url));
  static constexpr std::string_view kGroup = "{\n    \"zarr_format\": 2\n}";
  RSDAT_ASSIGN_OR_RETURN(bool is_dir, st->is_dir(key));
  if (!is_dir && !key.empty()) {
    RSDAT_ASSIGN_OR_RETURN(bool is_file, st->exists(key));
    if (is_file) return invalid_argument("cannot write a Zarr array at " + dir + ": it is a file");
  }
  if (is_dir) {
    RSDAT_ASSIGN_OR_RETURN(bool has_array, st->exists(under(key, ".zarray")));
    RSDAT_ASSIGN_OR_RETURN(bool has_group, st->exists(under(key, ".zgroup")));
    RSDAT_ASSIGN_OR_RETURN(auto entries, st->list(key));
    if (!has_array && !has_group && !entries.empty()) {
      return invalid_argument("refusing to write a Zarr array into " + dir +
                              ": the directory holds files and is not a Zarr array or group");
    }
    if (has_group && !has_array) return invalid_argument("refusing to overwrite the Zarr group " + dir + " with an array");
    // An old array's chunks and metadata go; nothing else lives in an array directory.
    // An array of the very same metadata stays: every one of its chunks is written
    // again, and this may be the same write's create, run again after the worker that
    // held its result was lost, with some of the new chunks already in place.
    auto old = st->get(under(key, ".zarray"));
    if (!old.ok() || old->view() != to_zarray(meta)) {
      for (const auto& e : entries) RSDAT_RETURN_IF_ERROR(st->remove(under(key, e.name)), "clearing " + dir);
    }
  }
  // Groups on the way from the store root, as zarr-python makes them.
  if (!key.empty()) {
    RSDAT_ASSIGN_OR_RETURN(bool root_array, st->exists(".zarray"));
    RSDAT_ASSIGN_OR_RETURN(bool root_group, st->exists(".zgroup"));
    if (!root_array && !root_group) RSDAT_RETURN_IF_ERROR(st->put(".zgroup", kGroup));
    std::string at;
    for (size_t slash = key.find('/'); slash != std::string::npos; slash = key.find('/', slash + 1)) {
      at = key.substr(0, slash);
      RSDAT_ASSIGN_OR_RETURN(bool group, st->exists(at + "/.zgroup"));
      if (!group) RSDAT_RETURN_IF_ERROR(st->put(at + "/.zgroup", kGroup));
    }
  }
  RSDAT_RETURN_IF_ERROR(st->put(under(key, ".zarray"), to_zarray(meta)));
  json attrs = json::object();
  if (!meta.dims.empty()) attrs["_ARRAY_DIMENSIONS"] = meta.dims;
  RSDAT_RETURN_IF_ERROR(st->put(under(key, ".zattrs"), attrs.dump(4)));
  // A consolidated index would now be stale: drop it (zarr-python reads the files then).
  RSDAT_ASSIGN_OR_RETURN(bool consolidated, st->exists(".zmetadata"));
  if (consolidated) RSDAT_RETURN_IF_ERROR(st->remove(".zmetadata"));
  return Status::ok();
}

}  // namespace rsdat::zarr

// ---- kernels ------------------------------------------------------------------

#include "io/netcdf.hpp"
#include "io/zarr3.hpp"
#include "ops/kernel_util.hpp"
#include "ops/op_registry.hpp"

namespace rsdat::ops {
namespace {

zarr::ArrayMeta meta_from_params(const std::string& text, const std::string& dir) {
  auto meta = zarr::parse_zarray(text, dir + "/.zarray");
  if (!meta.ok()) throw std::runtime_error(meta.status().message());
  return std::move(meta).value();
}

void check_block(const zarr::ArrayMeta& meta, const std::vector<int64_t>& block, const std::string& dir) {
  if (block.size() != meta.shape.size()) throw std::runtime_error(dir + ": block index of the wrong rank");
  for (size_t d = 0; d < block.size(); ++d) {
    const int64_t n = zarr::blocks_along(meta, d);
    if (block[d] < 0 || block[d] >= std::max<int64_t>(n, 1)) throw std::runtime_error(dir + ": block index out of range");
  }
}

Chunk zarr_read_kernel(KernelContext& ctx) {
  const std::string dir = ctx.params.str();
  const zarr::ArrayMeta meta = meta_from_params(ctx.params.str(), dir);
  const std::vector<int64_t> block = ctx.params.i64s();
  check_block(meta, block, dir);
  const Shape extent = zarr::block_extent(meta, block);
  if (ctx.out_dtype != meta.dtype || ctx.out_shape != extent) throw std::runtime_error(dir + ": task shape differs from the store's");
  const std::string key = zarr::chunk_key(meta, block);
  const std::string file = dir + "/" + key;
  auto bytes = store::open_store_or_throw(dir)->get(key);
  if (bytes.ok() && bytes->size > zarr::max_stored_bytes(meta)) {
    throw std::runtime_error(file + ": " + std::to_string(bytes->size) + " bytes, more than a chunk of " +
                             std::to_string(meta.chunk_nbytes()) + " bytes can be stored in");
  }
  if (!bytes.ok()) {
    if (bytes.status().code() == StatusCode::kNotFound) return zarr::fill_chunk(meta, extent);
    throw std::runtime_error(bytes.status().message());
  }
  auto chunk = zarr::decode_chunk(meta, bytes->view(), extent, file);
  if (!chunk.ok()) throw std::runtime_error(chunk.status().message());
  return std::move(chunk).value();
}

Chunk zarr_write_kernel(KernelContext& ctx) {
  const std::string dir = ctx.params.str();
  const zarr::ArrayMeta meta = meta_from_params(ctx.params.str(), dir);
  const std::vector<int64_t> block = ctx.params.i64s();
  check_block(meta, block, dir);
  if (ctx.inputs.empty()) throw std::runtime_error("zarr_write: no input chunk");
  const Chunk& data = ctx.inputs.back();  // the first input may be the creation marker
  if (data.shape != zarr::block_extent(meta, block)) throw std::runtime_error(dir + ": chunk does not match the store's grid");
  auto bytes = zarr::encode_chunk(meta, data);
  if (!bytes.ok()) throw std::runtime_error(dir + ": " + bytes.status().message());
  Status st = store::open_store_or_throw(dir)->put(zarr::chunk_key(meta, block), bytes->view());
  if (!st.is_ok()) throw std::runtime_error(st.message());
  return int64_scalar_chunk(ctx.out_shape.size(), static_cast<int64_t>(bytes->size));
}

Chunk zarr_create_kernel(KernelContext& ctx) {
  const std::string store = ctx.params.str();
  const std::string path = ctx.params.str();
  zarr::ArrayMeta meta = meta_from_params(ctx.params.str(), store + "/" + path);
  const std::string dims = ctx.params.str();
  size_t start = 0;
  while (!dims.empty() && start <= dims.size()) {
    size_t end = dims.find('\n', start);
    if (end == std::string::npos) end = dims.size();
    meta.dims.push_back(dims.substr(start, end - start));
    start = end + 1;
  }
  Status st = zarr::create_array(store, path, meta);
  if (!st.is_ok()) throw std::runtime_error(st.message());
  return int64_scalar_chunk(ctx.out_shape.size(), 0);
}

}  // namespace

std::string zarr_read_params(const std::string& array_dir, const std::string& zarray, const std::vector<int64_t>& block) {
  return ParamWriter().str(array_dir).str(zarray).i64s(block).take();
}
std::string zarr_write_params(const std::string& array_dir, const std::string& zarray, const std::vector<int64_t>& block) {
  return ParamWriter().str(array_dir).str(zarray).i64s(block).take();
}
std::string zarr_create_params(const std::string& store, const std::string& path, const std::string& zarray,
                               const std::vector<std::string>& dims) {
  std::string joined;
  for (size_t i = 0; i < dims.size(); ++i) joined += (i ? "\n" : "") + dims[i];
  return ParamWriter().str(store).str(path).str(zarray).str(joined).take();
}

void register_zarr_ops(OpRegistry& r) {
  r.add(kZarrRead, zarr_read_kernel);
  r.add(kZarrWrite, zarr_write_kernel);
  r.add(kZarrCreate, zarr_create_kernel);
}

void register_io_ops() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_zarr_ops(OpRegistry::global());
    register_zarr3_ops(OpRegistry::global());
    register_raster_ops(OpRegistry::global());
    register_netcdf_ops(OpRegistry::global());
  });
}

}  // namespace rsdat::ops
