#include "io/zarr3.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>

namespace rsdat::zarr3 {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr uint64_t kMaxChunkBytes = 1ull << 34;  // 16 GiB, as for v2
using zarr::checked_product;
using zarr::parse_json;

Bytes allocate_bytes(size_t capacity) { return Bytes{Buffer::allocate(std::max<size_t>(capacity, 1)), 0}; }

Bytes copy_bytes(const uint8_t* p, size_t n) {
  Bytes out = allocate_bytes(n);
  if (n) std::memcpy(out.buffer->data(), p, n);
  out.size = n;
  return out;
}

void byteswap_inplace(uint8_t* p, size_t n, size_t item) {
  if (item == 1) return;
  for (size_t i = 0; i + item <= n; i += item) std::reverse(p + i, p + i + item);
}

// Copies the box `extent` from `src` (C order, shape `src_shape`, box at `src_at`) to
// `dst` (C order, shape `dst_shape`, box at `dst_at`), elements of `item` bytes.
void copy_box(const uint8_t* src, const Shape& src_shape, const Shape& src_at, uint8_t* dst, const Shape& dst_shape,
              const Shape& dst_at, const Shape& extent, size_t item) {
  const size_t nd = extent.size();
  if (nd == 0) {
    std::memcpy(dst, src, item);
    return;
  }
  for (int64_t e : extent) {
    if (e <= 0) return;
  }
  const Shape ss = c_strides(src_shape), ds = c_strides(dst_shape);
  const size_t row = static_cast<size_t>(extent[nd - 1]) * item;
  std::vector<int64_t> idx(nd, 0);
  const int64_t rows = shape_size(extent) / extent[nd - 1];
  for (int64_t r = 0; r < rows; ++r) {
    int64_t so = 0, dof = 0;
    for (size_t d = 0; d < nd; ++d) {
      const int64_t i = d + 1 == nd ? 0 : idx[d];
      so += (src_at[d] + i) * ss[d];
      dof += (dst_at[d] + i) * ds[d];
    }
    std::memcpy(dst + dof * item, src + so * item, row);
    for (size_t d = nd - 1; d-- > 0;) {
      if (++idx[d] < extent[d]) break;
      idx[d] = 0;
    }
  }
}

// out[i_0..i_n] = in[...] with out axis k = in axis order[k] (NumPy's transpose(order)).
void permute(const uint8_t* src, const Shape& src_shape, const std::vector<int64_t>& order, uint8_t* dst, size_t item,
             bool inverse) {
  const size_t nd = src_shape.size();
  // Forward: dst has shape src_shape[order[k]]. Inverse: src is the permuted one.
  Shape out_shape(nd);
  Shape perm_shape(nd);
  for (size_t k = 0; k < nd; ++k) perm_shape[k] = src_shape[order[k]];
  const Shape& a_shape = inverse ? src_shape : perm_shape;  // the permuted array's shape
  const Shape orig_shape = [&] {
    if (!inverse) return src_shape;
    Shape s(nd);
    for (size_t k = 0; k < nd; ++k) s[order[k]] = src_shape[k];
    return s;
  }();
  const Shape os = c_strides(orig_shape), as = c_strides(a_shape);
  const int64_t n = shape_size(orig_shape);
  std::vector<int64_t> idx(nd, 0);  // index in the permuted array
  for (int64_t lin = 0; lin < n; ++lin) {
    int64_t ao = 0, oo = 0;
    for (size_t k = 0; k < nd; ++k) {
      ao += idx[k] * as[k];
      oo += idx[k] * os[order[k]];
    }
    if (inverse) {
      std::memcpy(dst + oo * item, src + ao * item, item);
    } else {
      std::memcpy(dst + ao * item, src + oo * item, item);
    }
    for (size_t k = nd; k-- > 0;) {
      if (++idx[k] < a_shape[k]) break;
      idx[k] = 0;
    }
  }
}

template <typename T>
T saturate(double v) {
  if (std::isnan(v)) return 0;
  if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

Result<std::optional<double>> parse_fill(const json& v, DType t, const std::string& where) {
  if (v.is_null()) return std::optional<double>();
  if (v.is_boolean()) return std::optional<double>(v.get<bool>() ? 1.0 : 0.0);
  if (v.is_number()) return std::optional<double>(v.get<double>());
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "NaN") return std::optional<double>(std::numeric_limits<double>::quiet_NaN());
    if (s == "Infinity") return std::optional<double>(std::numeric_limits<double>::infinity());
    if (s == "-Infinity") return std::optional<double>(-std::numeric_limits<double>::infinity());
    if (s.size() > 2 && s[0] == '0' && s[1] == 'x' && dtype_is_float(t)) {
      // The bit pattern of the value, big-endian hex (the spec's form for NaN payloads).
      const uint64_t bits = std::strtoull(s.c_str() + 2, nullptr, 16);
      if (t == DType::kFloat32 && s.size() == 10) {
        return std::optional<double>(std::bit_cast<float>(static_cast<uint32_t>(bits)));
      }
      if (t == DType::kFloat64 && s.size() == 18) return std::optional<double>(std::bit_cast<double>(bits));
    }
  }
  return invalid_argument(where + ": unsupported fill_value " + v.dump() + " for " + dtype_name(t));
}

json fill_to_json(const std::optional<double>& v, DType t) {
  if (!v) return nullptr;  // not valid v3; to_zarr always writes a value
  if (t == DType::kBool) return *v != 0;
  if (dtype_is_integer(t)) {
    if (!std::isfinite(*v)) return 0;
    if (t == DType::kUInt64) return saturate<uint64_t>(*v);
    return saturate<int64_t>(*v);
  }
  if (std::isnan(*v)) return "NaN";
  if (std::isinf(*v)) return *v > 0 ? "Infinity" : "-Infinity";
  return *v;
}

template <typename T>
void fill_typed(uint8_t* p, int64_t n, double v) {
  T t;
  if constexpr (std::is_same_v<T, bool>) {
    t = v != 0;
  } else if constexpr (std::is_integral_v<T>) {
    t = saturate<T>(v);
  } else {
    t = static_cast<T>(v);
  }
  std::fill(reinterpret_cast<T*>(p), reinterpret_cast<T*>(p) + n, t);
}

void fill_bytes(uint8_t* p, DType t, int64_t n, const std::optional<double>& fill) {
  double v = fill.value_or(0.0);
  if ((dtype_is_integer(t) || t == DType::kBool) && !std::isfinite(v)) v = 0;
  visit_dtype(t, [&](auto tag) { fill_typed<decltype(tag)>(p, n, v); });
}

bool is_array_to_array(const std::string& n) { return n == "transpose"; }
bool is_array_to_bytes(const std::string& n) { return n == "bytes" || n == "sharding_indexed"; }

Result<Codec> parse_codec(const json& c, DType dtype, size_t ndim, int depth, const std::string& where);

Result<std::vector<Codec>> parse_codecs(const json& list, DType dtype, size_t ndim, int depth, const std::string& where) {
  if (!list.is_array() || list.empty()) return invalid_argument(where + ": 'codecs' missing or not a non-empty list");
  std::vector<Codec> out;
  int stage = 0;  // 0: array-to-array, 1: after array-to-bytes
  for (const auto& c : list) {
    RSDAT_ASSIGN_OR_RETURN(Codec codec, parse_codec(c, dtype, ndim, depth, where));
    if (is_array_to_array(codec.name)) {
      if (stage != 0) return invalid_argument(where + ": codec '" + codec.name + "' after the array-to-bytes codec");
    } else if (is_array_to_bytes(codec.name)) {
      if (stage != 0) return invalid_argument(where + ": more than one array-to-bytes codec");
      stage = 1;
    } else if (stage != 1) {
      return invalid_argument(where + ": no array-to-bytes codec (bytes or sharding_indexed) before codec '" +
                              codec.name + "'");
    }
    out.push_back(std::move(codec));
  }
  if (stage != 1) return invalid_argument(where + ": the codecs have no array-to-bytes codec (bytes or sharding_indexed)");
  return out;
}

Result<Codec> parse_codec(const json& c, DType dtype, size_t ndim, int depth, const std::string& where) {
  Codec out;
  json config = json::object();
  if (c.is_string()) {
    out.name = c.get<std::string>();
  } else if (c.is_object() && c.contains("name") && c["name"].is_string()) {
    out.name = c["name"].get<std::string>();
    if (c.contains("configuration")) config = c["configuration"];
    if (!config.is_object()) return invalid_argument(where + ": codec '" + out.name + "': configuration is not an object");
  } else {
    return invalid_argument(where + ": malformed codec " + c.dump());
  }
  auto int_of = [&](const char* key, int lo, int hi, int& dst) -> Status {
    if (!config.contains(key)) return Status::ok();
    if (!config[key].is_number_integer() || config[key].get<int64_t>() < lo || config[key].get<int64_t>() > hi) {
      return invalid_argument(where + ": codec '" + out.name + "': bad " + key + " " + config[key].dump());
    }
    dst = config[key].get<int>();
    return Status::ok();
  };
  if (out.name == "bytes") {
    if (config.contains("endian")) {
      if (config["endian"] == "big") {
        out.big_endian = true;
      } else if (config["endian"] != "little") {
        return invalid_argument(where + ": codec 'bytes': endian must be \"little\" or \"big\"");
      }
    } else if (dtype_size(dtype) > 1) {
      return invalid_argument(where + ": codec 'bytes': endian is required for " + dtype_name(dtype));
    }
  } else if (out.name == "transpose") {
    if (!config.contains("order") || !config["order"].is_array()) {
      return invalid_argument(where + ": codec 'transpose': 'order' missing");
    }
    std::vector<bool> seen(ndim, false);
    for (const auto& o : config["order"]) {
      if (!o.is_number_integer() || o.get<int64_t>() < 0 || o.get<int64_t>() >= static_cast<int64_t>(ndim) ||
          seen[o.get<int64_t>()]) {
        return invalid_argument(where + ": codec 'transpose': order " + config["order"].dump() +
                                " is not a permutation of the " + std::to_string(ndim) + " axes");
      }
      seen[o.get<int64_t>()] = true;
      out.order.push_back(o.get<int64_t>());
    }
    if (out.order.size() != ndim) {
      return invalid_argument(where + ": codec 'transpose': order " + config["order"].dump() +
                              " is not a permutation of the " + std::to_string(ndim) + " axes");
    }
  } else if (out.name == "gzip") {
    out.compressor.id = "gzip";
    out.compressor.level = 5;
    RSDAT_RETURN_IF_ERROR(int_of("level", 0, 9, out.compressor.level));
  } else if (out.name == "zstd") {
    out.compressor.id = "zstd";
    out.compressor.level = 0;
    RSDAT_RETURN_IF_ERROR(int_of("level", -131072, 22, out.compressor.level));
    if (config.contains("checksum")) out.checksum = config["checksum"].is_boolean() && config["checksum"].get<bool>();
  } else if (out.name == "blosc") {
    out.compressor.id = "blosc";
    out.compressor.cname = "zstd";
    if (config.contains("cname")) {
      if (!config["cname"].is_string()) return invalid_argument(where + ": codec 'blosc': cname is not a string");
      out.compressor.cname = config["cname"].get<std::string>();
      static const char* kNames[] = {"lz4", "lz4hc", "blosclz", "zstd", "zlib", "snappy"};
      if (std::find(std::begin(kNames), std::end(kNames), out.compressor.cname) == std::end(kNames)) {
        return invalid_argument(where + ": codec 'blosc': unknown cname '" + out.compressor.cname + "'");
      }
    }
    out.compressor.level = 5;
    RSDAT_RETURN_IF_ERROR(int_of("clevel", 0, 9, out.compressor.level));
    out.compressor.shuffle = 0;
    if (config.contains("shuffle")) {
      const json& s = config["shuffle"];
      if (s == "noshuffle" || s == 0) {
        out.compressor.shuffle = 0;
      } else if (s == "shuffle" || s == 1) {
        out.compressor.shuffle = 1;
      } else if (s == "bitshuffle" || s == 2) {
        out.compressor.shuffle = 2;
      } else {
        return invalid_argument(where + ": codec 'blosc': shuffle must be noshuffle, shuffle or bitshuffle");
      }
    }
    RSDAT_RETURN_IF_ERROR(int_of("typesize", 0, 255, out.typesize));
    RSDAT_RETURN_IF_ERROR(int_of("blocksize", 0, std::numeric_limits<int>::max(), out.compressor.blocksize));
  } else if (out.name == "crc32c") {
  } else if (out.name == "sharding_indexed") {
    if (depth > 0) return invalid_argument(where + ": nested sharding_indexed codecs are not supported");
    if (!config.contains("chunk_shape") || !config["chunk_shape"].is_array() || config["chunk_shape"].size() != ndim) {
      return invalid_argument(where + ": codec 'sharding_indexed': chunk_shape missing or of the wrong rank");
    }
    for (const auto& e : config["chunk_shape"]) {
      if (!e.is_number_integer() || e.get<int64_t>() <= 0) {
        return invalid_argument(where + ": codec 'sharding_indexed': bad chunk_shape " + config["chunk_shape"].dump());
      }
      out.inner_chunks.push_back(e.get<int64_t>());
    }
    if (!config.contains("codecs")) return invalid_argument(where + ": codec 'sharding_indexed': 'codecs' missing");
    RSDAT_ASSIGN_OR_RETURN(out.inner, parse_codecs(config["codecs"], dtype, ndim, depth + 1, where + " (inner codecs)"));
    json index = config.contains("index_codecs") ? config["index_codecs"]
                                                  : json::array({{{"name", "bytes"}, {"configuration", {{"endian", "little"}}}},
                                                                 {{"name", "crc32c"}}});
    RSDAT_ASSIGN_OR_RETURN(out.index_codecs,
                           parse_codecs(index, DType::kUInt64, ndim + 1, depth + 1, where + " (index codecs)"));
    for (const Codec& ic : out.index_codecs) {
      if (ic.name != "bytes" && ic.name != "crc32c" && ic.name != "transpose") {
        return invalid_argument(where + ": codec 'sharding_indexed': index codec '" + ic.name +
                                "' is not of fixed size (bytes, crc32c)");
      }
    }
    if (config.contains("index_location")) {
      if (config["index_location"] == "start") {
        out.index_at_start = true;
      } else if (config["index_location"] != "end") {
        return invalid_argument(where + ": codec 'sharding_indexed': index_location must be \"start\" or \"end\"");
      }
    }
  } else {
    return invalid_argument(where + ": unsupported codec '" + out.name +
                            "' (rsdat reads bytes, transpose, gzip, zstd, blosc, crc32c and sharding_indexed)");
  }
  return out;
}

json codec_to_json(const Codec& c) {
  json j;
  j["name"] = c.name;
  if (c.name == "bytes") {
    j["configuration"] = {{"endian", c.big_endian ? "big" : "little"}};
  } else if (c.name == "transpose") {
    j["configuration"] = {{"order", c.order}};
  } else if (c.name == "gzip") {
    j["configuration"] = {{"level", c.compressor.level}};
  } else if (c.name == "zstd") {
    j["configuration"] = {{"level", c.compressor.level}, {"checksum", c.checksum}};
  } else if (c.name == "blosc") {
    static const char* kShuffle[] = {"noshuffle", "shuffle", "bitshuffle"};
    j["configuration"] = {{"cname", c.compressor.cname},
                          {"clevel", c.compressor.level},
                          {"shuffle", kShuffle[std::clamp(c.compressor.shuffle, 0, 2)]},
                          {"typesize", c.typesize},
                          {"blocksize", c.compressor.blocksize}};
  } else if (c.name == "sharding_indexed") {
    json inner = json::array(), index = json::array();
    for (const Codec& i : c.inner) inner.push_back(codec_to_json(i));
    for (const Codec& i : c.index_codecs) index.push_back(codec_to_json(i));
    j["configuration"] = {{"chunk_shape", c.inner_chunks},
                          {"codecs", inner},
                          {"index_codecs", index},
                          {"index_location", c.index_at_start ? "start" : "end"}};
  }
  return j;
}

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

// The shape the bytes codec sees after the array-to-array codecs.
Shape shape_after_transposes(const std::vector<Codec>& codecs, Shape shape) {
  for (const Codec& c : codecs) {
    if (c.name != "transpose") break;
    Shape s(shape.size());
    for (size_t k = 0; k < shape.size(); ++k) s[k] = shape[c.order[k]];
    shape = std::move(s);
  }
  return shape;
}

}  // namespace

// ---- metadata ------------------------------------------------------------------

const Codec* ArrayMeta::sharding() const {
  for (const Codec& c : codecs) {
    if (c.name == "sharding_indexed") return &c;
  }
  return nullptr;
}

size_t ArrayMeta::chunk_nbytes() const { return static_cast<size_t>(shape_size(chunks)) * dtype_size(dtype); }

zarr::ArrayMeta ArrayMeta::grid() const {
  zarr::ArrayMeta g;
  g.shape = shape;
  g.chunks = chunks;
  g.dtype = dtype;
  g.fill_value = fill_value;
  g.dims = dims;
  return g;
}

Result<std::string> node_type(std::string_view text, const std::string& where) {
  RSDAT_ASSIGN_OR_RETURN(json j, parse_json(text, where));
  if (!j.is_object()) return invalid_argument(where + ": not a JSON object");
  if (!j.contains("zarr_format") || j["zarr_format"] != 3) {
    return invalid_argument(where + ": not Zarr v3 metadata (zarr_format must be 3)");
  }
  if (!j.contains("node_type") || (j["node_type"] != "array" && j["node_type"] != "group")) {
    return invalid_argument(where + ": node_type must be \"array\" or \"group\"");
  }
  return j["node_type"].get<std::string>();
}

Result<ArrayMeta> parse_array(std::string_view text, const std::string& where) {
  RSDAT_ASSIGN_OR_RETURN(std::string type, node_type(text, where));
  if (type != "array") return invalid_argument(where + ": a group, not an array");
  json j = json::parse(text);
  ArrayMeta m;
  if (!j.contains("shape") || !j["shape"].is_array()) return invalid_argument(where + ": 'shape' missing or not a list");
  for (const auto& e : j["shape"]) {
    if (!e.is_number_integer() || e.get<int64_t>() < 0) return invalid_argument(where + ": bad shape " + j["shape"].dump());
    m.shape.push_back(e.get<int64_t>());
  }
  if (m.shape.size() > 32) return invalid_argument(where + ": too many dimensions");
  if (!j.contains("data_type") || !j["data_type"].is_string()) {
    return invalid_argument(where + ": 'data_type' missing or not a name");
  }
  const std::string dt = j["data_type"].get<std::string>();
  auto t = dtype_from_name(dt);
  if (!t) {
    return invalid_argument(where + ": unsupported data_type '" + dt +
                            "' (rsdat reads bool, int8-64, uint8-64, float32 and float64)");
  }
  m.dtype = *t;
  const json* grid = j.contains("chunk_grid") ? &j["chunk_grid"] : nullptr;
  if (!grid || !grid->is_object() || !grid->contains("name") || (*grid)["name"] != "regular" ||
      !grid->contains("configuration") || !(*grid)["configuration"].contains("chunk_shape") ||
      !(*grid)["configuration"]["chunk_shape"].is_array()) {
    return invalid_argument(where + ": chunk_grid must be \"regular\" with a chunk_shape");
  }
  for (const auto& e : (*grid)["configuration"]["chunk_shape"]) {
    if (!e.is_number_integer() || e.get<int64_t>() <= 0) {
      return invalid_argument(where + ": bad chunk_shape " + (*grid)["configuration"]["chunk_shape"].dump());
    }
    m.chunks.push_back(e.get<int64_t>());
  }
  if (m.chunks.size() != m.shape.size()) return invalid_argument(where + ": shape and chunk_shape differ in length");
  if (!checked_product(m.chunks, static_cast<int64_t>(kMaxChunkBytes / dtype_size(m.dtype)))) {
    return invalid_argument(where + ": chunks of more than 16 GiB");
  }
  if (!checked_product(m.shape, std::numeric_limits<int64_t>::max())) {
    return invalid_argument(where + ": more than 2^63 elements");
  }
  if (j.contains("chunk_key_encoding")) {
    const json& e = j["chunk_key_encoding"];
    if (!e.is_object() || !e.contains("name")) return invalid_argument(where + ": malformed chunk_key_encoding");
    if (e["name"] == "v2") {
      m.v2_keys = true;
      m.separator = '.';
    } else if (e["name"] != "default") {
      return invalid_argument(where + ": chunk_key_encoding must be \"default\" or \"v2\", not " + e["name"].dump());
    }
    if (e.contains("configuration") && e["configuration"].contains("separator")) {
      const json& s = e["configuration"]["separator"];
      if (s == "/") {
        m.separator = '/';
      } else if (s == ".") {
        m.separator = '.';
      } else {
        return invalid_argument(where + ": chunk key separator must be \"/\" or \".\"");
      }
    }
  }
  if (!j.contains("fill_value")) return invalid_argument(where + ": 'fill_value' missing");
  RSDAT_ASSIGN_OR_RETURN(m.fill_value, parse_fill(j["fill_value"], m.dtype, where));
  if (!j.contains("codecs")) return invalid_argument(where + ": 'codecs' missing");
  RSDAT_ASSIGN_OR_RETURN(m.codecs, parse_codecs(j["codecs"], m.dtype, m.shape.size(), 0, where));
  for (const Codec& c : m.codecs) {
    if (c.name == "sharding_indexed" && m.codecs.size() != 1) {
      return invalid_argument(where + ": sharding_indexed must be the only codec of the array");
    }
    if (c.name == "sharding_indexed") {
      for (size_t d = 0; d < m.chunks.size(); ++d) {
        if (m.chunks[d] % c.inner_chunks[d] != 0) {
          return invalid_argument(where + ": the shard shape " + shape_to_string(m.chunks) +
                                  " is not a multiple of the inner chunk shape " + shape_to_string(c.inner_chunks));
        }
      }
    }
  }
  if (j.contains("dimension_names") && !j["dimension_names"].is_null()) {
    const json& names = j["dimension_names"];
    if (!names.is_array() || names.size() != m.shape.size()) {
      return invalid_argument(where + ": dimension_names must name every axis");
    }
    bool any = false;
    for (const auto& n : names) {
      m.dims.push_back(n.is_string() ? n.get<std::string>() : "");
      any = any || n.is_string();
    }
    if (!any) m.dims.clear();
  }
  if (j.contains("attributes")) {
    if (!j["attributes"].is_object()) return invalid_argument(where + ": attributes must be an object");
    m.attributes = j["attributes"].dump();
  }
  if (j.contains("storage_transformers") && !j["storage_transformers"].empty()) {
    return invalid_argument(where + ": storage_transformers are not supported");
  }
  return m;
}

std::string to_json(const ArrayMeta& m) {
  json j;
  j["zarr_format"] = 3;
  j["node_type"] = "array";
  j["shape"] = m.shape;
  j["data_type"] = dtype_name(m.dtype);
  j["chunk_grid"] = {{"name", "regular"}, {"configuration", {{"chunk_shape", m.chunks}}}};
  j["chunk_key_encoding"] = {{"name", m.v2_keys ? "v2" : "default"},
                             {"configuration", {{"separator", std::string(1, m.separator)}}}};
  j["fill_value"] = fill_to_json(m.fill_value, m.dtype);
  json codecs = json::array();
  for (const Codec& c : m.codecs) codecs.push_back(codec_to_json(c));
  j["codecs"] = codecs;
  j["attributes"] = json::parse(m.attributes.empty() ? "{}" : m.attributes);
  if (!m.dims.empty()) j["dimension_names"] = m.dims;
  return j.dump(4);
}

std::string group_json() {
  return json({{"zarr_format", 3}, {"node_type", "group"}, {"attributes", json::object()}}).dump(4);
}

std::string chunk_key(const ArrayMeta& meta, const std::vector<int64_t>& block) {
  std::string key = meta.v2_keys ? "" : "c";
  if (block.empty()) return meta.v2_keys ? "0" : "c";
  for (size_t i = 0; i < block.size(); ++i) {
    if (i || !meta.v2_keys) key += meta.separator;
    key += std::to_string(block[i]);
  }
  return key;
}

// ---- crc32c ----------------------------------------------------------------------

uint32_t crc32c(const uint8_t* data, size_t n, uint32_t crc) {
  static const auto kTable = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = kTable[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

// ---- the codec pipeline ----------------------------------------------------------

Result<Bytes> encode(const std::vector<Codec>& codecs, DType dtype, const Shape& shape, const Chunk& chunk,
                     const std::string& where) {
  const size_t item = dtype_size(dtype);
  if (chunk.shape != shape || chunk.dtype != dtype) return invalid_argument(where + ": chunk of the wrong shape or type");
  Chunk cur = chunk;
  Shape cur_shape = shape;
  Bytes bytes;
  size_t i = 0;
  for (; i < codecs.size() && codecs[i].name == "transpose"; ++i) {
    Chunk t = Chunk::allocate(dtype, shape_after_transposes({codecs[i]}, cur_shape));
    permute(cur.bytes(), cur_shape, codecs[i].order, t.mutable_bytes(), item, /*inverse=*/false);
    cur_shape = t.shape;
    cur = std::move(t);
  }
  if (i == codecs.size() || codecs[i].name != "bytes") {
    return invalid_argument(where + ": encode needs a bytes codec (sharding is written shard by shard)");
  }
  if (codecs[i].big_endian && item > 1) {
    bytes = copy_bytes(cur.bytes(), cur.nbytes());
    byteswap_inplace(bytes.buffer->data(), bytes.size, item);
  } else {
    bytes = Bytes{cur.buffer, cur.nbytes()};  // shares the chunk's buffer until a codec copies
  }
  for (++i; i < codecs.size(); ++i) {
    const Codec& c = codecs[i];
    if (c.name == "crc32c") {
      Bytes out = allocate_bytes(bytes.size + 4);
      std::memcpy(out.buffer->data(), bytes.buffer->data(), bytes.size);
      const uint32_t crc = crc32c(bytes.buffer->data(), bytes.size);
      std::memcpy(out.buffer->data() + bytes.size, &crc, 4);  // little-endian hosts only
      out.size = bytes.size + 4;
      bytes = std::move(out);
    } else {
      const size_t ts = c.typesize > 0 ? static_cast<size_t>(c.typesize) : item;
      RSDAT_ASSIGN_OR_RETURN(bytes, zarr::compress_bytes(c.compressor, bytes.buffer->data(), bytes.size, ts),
                             where + ": codec " + c.name);
    }
  }
  return bytes;
}

Result<Chunk> decode(const std::vector<Codec>& codecs, DType dtype, const Shape& shape, std::string_view stored,
                     const std::string& where) {
  const size_t item = dtype_size(dtype);
  const size_t nbytes = static_cast<size_t>(shape_size(shape)) * item;
  size_t first_b2b = 0;
  while (first_b2b < codecs.size() && !is_array_to_bytes(codecs[first_b2b].name)) ++first_b2b;
  if (first_b2b == codecs.size() || codecs[first_b2b].name != "bytes") {
    return invalid_argument(where + ": decode needs a bytes codec");
  }
  // The size of the bytes entering each bytes-to-bytes codec on the way in, where known.
  std::vector<std::optional<size_t>> size_in(codecs.size() + 1);
  std::optional<size_t> size = nbytes;
  for (size_t i = first_b2b + 1; i < codecs.size(); ++i) {
    size_in[i] = size;
    if (codecs[i].name == "crc32c" && size) {
      size = *size + 4;
    } else if (codecs[i].name != "crc32c") {
      size.reset();
    }
  }
  auto corrupt = [&](const std::string& why) { return io_error(where + ": cannot decode chunk: " + why); };
  Bytes cur = copy_bytes(reinterpret_cast<const uint8_t*>(stored.data()), 0);
  std::string_view view = stored;
  for (size_t i = codecs.size(); i-- > first_b2b + 1;) {
    const Codec& c = codecs[i];
    if (c.name == "crc32c") {
      if (view.size() < 4) return corrupt("crc32c: shorter than its checksum");
      uint32_t want = 0;
      std::memcpy(&want, view.data() + view.size() - 4, 4);
      const uint32_t got = crc32c(reinterpret_cast<const uint8_t*>(view.data()), view.size() - 4);
      if (got != want) return corrupt("crc32c checksum mismatch (stored " + std::to_string(want) + ", computed " + std::to_string(got) + ")");
      view = view.substr(0, view.size() - 4);
    } else {
      if (!size_in[i]) return invalid_argument(where + ": codec " + c.name + " after another compressor is not supported");
      RSDAT_ASSIGN_OR_RETURN(cur, zarr::decompress_bytes(c.compressor, view, *size_in[i], where));
      view = cur.view();
    }
  }
  if (view.size() != nbytes) {
    return corrupt("holds " + std::to_string(view.size()) + " bytes, expected " + std::to_string(nbytes));
  }
  const Shape stored_shape = shape_after_transposes(codecs, shape);
  Chunk c;
  if (cur.buffer && view.data() == reinterpret_cast<const char*>(cur.buffer->data())) {
    c = Chunk{dtype, stored_shape, cur.buffer};  // a compressor's output: no copy
  } else {
    c = Chunk::allocate(dtype, stored_shape);
    std::memcpy(c.mutable_bytes(), view.data(), nbytes);
  }
  if (codecs[first_b2b].big_endian) byteswap_inplace(c.mutable_bytes(), nbytes, item);
  // Undo the transposes, last first.
  for (size_t i = first_b2b; i-- > 0;) {
    Shape before(stored_shape.size());
    Shape cur_shape = c.shape;
    for (size_t k = 0; k < cur_shape.size(); ++k) before[codecs[i].order[k]] = cur_shape[k];
    Chunk t = Chunk::allocate(dtype, before);
    permute(c.bytes(), cur_shape, codecs[i].order, t.mutable_bytes(), item, /*inverse=*/true);
    c = std::move(t);
  }
  if (dtype == DType::kBool) {
    uint8_t* p = c.mutable_bytes();
    for (size_t k = 0; k < nbytes; ++k) p[k] = p[k] != 0;
  }
  return c;
}

// ---- shards ----------------------------------------------------------------------

Shape inner_grid(const ArrayMeta& meta) {
  const Codec* s = meta.sharding();
  Shape g(meta.chunks.size());
  for (size_t d = 0; d < g.size(); ++d) g[d] = meta.chunks[d] / s->inner_chunks[d];
  return g;
}

Result<uint64_t> shard_index_nbytes(const ArrayMeta& meta) {
  const Codec* s = meta.sharding();
  if (!s) return invalid_argument("not a sharded array");
  uint64_t n = 16 * static_cast<uint64_t>(shape_size(inner_grid(meta)));
  for (const Codec& c : s->index_codecs) n += c.name == "crc32c" ? 4 : 0;
  return n;
}

Result<std::vector<uint64_t>> decode_shard_index(const ArrayMeta& meta, std::string_view stored, uint64_t shard_size,
                                                 const std::string& where) {
  const Codec* s = meta.sharding();
  RSDAT_ASSIGN_OR_RETURN(uint64_t want, shard_index_nbytes(meta));
  if (stored.size() != want) {
    return io_error(where + ": truncated shard: its index needs " + std::to_string(want) + " bytes, found " +
                    std::to_string(stored.size()));
  }
  Shape shape = inner_grid(meta);
  shape.push_back(2);
  RSDAT_ASSIGN_OR_RETURN(Chunk index, decode(s->index_codecs, DType::kUInt64, shape, stored, where + " (shard index)"));
  std::vector<uint64_t> entries(index.data<uint64_t>(), index.data<uint64_t>() + index.num_elements());
  for (size_t i = 0; i < entries.size(); i += 2) {
    const uint64_t off = entries[i], len = entries[i + 1];
    if (off == kEmptyEntry && len == kEmptyEntry) continue;
    uint64_t end = 0;
    if (__builtin_add_overflow(off, len, &end) || (shard_size && end > shard_size)) {
      return io_error(where + ": corrupt or truncated shard: inner chunk " + std::to_string(i / 2) + " at offset " +
                      std::to_string(off) + " of " + std::to_string(len) + " bytes lies outside the shard's " +
                      std::to_string(shard_size) + " bytes");
    }
  }
  return entries;
}

Result<Bytes> encode_shard(const ArrayMeta& meta, const Chunk& data, const std::string& where) {
  const Codec* s = meta.sharding();
  if (!s) return invalid_argument(where + ": not a sharded array");
  const size_t item = dtype_size(meta.dtype);
  const size_t nd = meta.chunks.size();
  const Shape grid = inner_grid(meta);
  const int64_t n_inner = shape_size(grid);
  std::vector<uint64_t> entries(static_cast<size_t>(n_inner) * 2, kEmptyEntry);
  std::vector<Bytes> parts;
  // One inner chunk of scratch, and the fill value's bytes to recognise empty ones.
  Chunk fill = Chunk::allocate(meta.dtype, s->inner_chunks);
  fill_bytes(fill.mutable_bytes(), meta.dtype, fill.num_elements(), meta.fill_value);
  uint64_t offset = 0;
  std::vector<int64_t> idx(nd, 0);
  Chunk inner;
  for (int64_t lin = 0; lin < n_inner; ++lin) {
    Shape at(nd), extent(nd);
    bool inside = true;
    for (size_t d = 0; d < nd; ++d) {
      at[d] = idx[d] * s->inner_chunks[d];
      extent[d] = std::min(s->inner_chunks[d], data.shape[d] - at[d]);
      inside = inside && extent[d] > 0;
    }
    if (inside) {
      // The scratch inner chunk is reused unless the last encoded part holds its buffer
      // (a pipeline without a compressor): fresh large buffers cost a page fault a page.
      if (!inner.buffer || inner.buffer.use_count() > 1) inner = Chunk::allocate(meta.dtype, s->inner_chunks);
      if (extent != s->inner_chunks) std::memcpy(inner.mutable_bytes(), fill.bytes(), fill.nbytes());
      copy_box(data.bytes(), data.shape, at, inner.mutable_bytes(), inner.shape, Shape(nd, 0), extent, item);
      if (std::memcmp(inner.bytes(), fill.bytes(), fill.nbytes()) != 0) {
        RSDAT_ASSIGN_OR_RETURN(Bytes b, encode(s->inner, meta.dtype, s->inner_chunks, inner, where));
        entries[2 * lin] = offset;
        entries[2 * lin + 1] = b.size;
        offset += b.size;
        parts.push_back(std::move(b));
      }
    }
    for (size_t d = nd; d-- > 0;) {
      if (++idx[d] < grid[d]) break;
      idx[d] = 0;
    }
  }
  if (parts.empty()) return Bytes{};
  RSDAT_ASSIGN_OR_RETURN(uint64_t index_size, shard_index_nbytes(meta));
  if (s->index_at_start) {
    for (size_t i = 0; i < entries.size(); i += 2) {
      if (entries[i] != kEmptyEntry) entries[i] += index_size;
    }
  }
  Shape ishape = grid;
  ishape.push_back(2);
  Chunk ichunk = Chunk::allocate(DType::kUInt64, ishape);
  std::memcpy(ichunk.mutable_bytes(), entries.data(), entries.size() * 8);
  RSDAT_ASSIGN_OR_RETURN(Bytes index, encode(s->index_codecs, DType::kUInt64, ishape, ichunk, where + " (shard index)"));
  Bytes out = allocate_bytes(offset + index.size);
  uint8_t* p = out.buffer->data();
  if (s->index_at_start) {
    std::memcpy(p, index.buffer->data(), index.size);
    p += index.size;
  }
  for (const Bytes& b : parts) {
    std::memcpy(p, b.buffer->data(), b.size);
    p += b.size;
  }
  if (!s->index_at_start) std::memcpy(p, index.buffer->data(), index.size);
  out.size = offset + index.size;
  return out;
}

Result<Bytes> encode_block(const ArrayMeta& meta, const Chunk& data, const std::string& where) {
  if (meta.sharding()) return encode_shard(meta, data, where);
  if (data.shape == meta.chunks) return encode(meta.codecs, meta.dtype, meta.chunks, data, where);
  if (data.shape.size() != meta.chunks.size()) return invalid_argument(where + ": chunk of the wrong rank");
  for (size_t d = 0; d < data.shape.size(); ++d) {
    if (data.shape[d] > meta.chunks[d]) return invalid_argument(where + ": chunk larger than the array's chunks");
  }
  // Edge chunks are stored at full size, padded with the fill value.
  Chunk padded = zarr::fill_chunk(meta.grid(), meta.chunks);
  const Shape zero(data.shape.size(), 0);
  copy_box(data.bytes(), data.shape, zero, padded.mutable_bytes(), meta.chunks, zero, data.shape, dtype_size(meta.dtype));
  return encode(meta.codecs, meta.dtype, meta.chunks, padded, where);
}

Result<Chunk> read_block(store::Store& st, const std::string& key, const ArrayMeta& meta,
                         const std::vector<int64_t>& block, const std::string& where) {
  const zarr::ArrayMeta g = meta.grid();
  const Shape extent = zarr::block_extent(g, block);
  const std::string object = key.empty() ? chunk_key(meta, block) : key + "/" + chunk_key(meta, block);
  const std::string object_where = where + "/" + chunk_key(meta, block);
  const size_t item = dtype_size(meta.dtype);
  const Codec* s = meta.sharding();
  if (!s) {
    auto bytes = st.get(object);
    if (!bytes.ok()) {
      if (bytes.status().code() == StatusCode::kNotFound) return zarr::fill_chunk(g, extent);
      return bytes.status();
    }
    if (bytes->size > zarr::max_stored_bytes(g)) {
      return io_error(object_where + ": " + std::to_string(bytes->size) + " bytes, more than a chunk of " +
                      std::to_string(meta.chunk_nbytes()) + " bytes can be stored in");
    }
    RSDAT_ASSIGN_OR_RETURN(Chunk full, decode(meta.codecs, meta.dtype, meta.chunks, bytes->view(), object_where));
    if (extent == meta.chunks) return full;
    Chunk out = Chunk::allocate(meta.dtype, extent);
    copy_box(full.bytes(), full.shape, Shape(extent.size(), 0), out.mutable_bytes(), extent, Shape(extent.size(), 0),
             extent, item);
    return out;
  }
  RSDAT_ASSIGN_OR_RETURN(uint64_t index_size, shard_index_nbytes(meta));
  auto index_bytes = s->index_at_start ? st.get_range(object, 0, index_size) : st.get_suffix(object, index_size);
  if (!index_bytes.ok()) {
    if (index_bytes.status().code() == StatusCode::kNotFound) return zarr::fill_chunk(g, extent);
    return index_bytes.status();
  }
  RSDAT_ASSIGN_OR_RETURN(std::vector<uint64_t> entries,
                         decode_shard_index(meta, index_bytes->view(), 0, object_where));
  const size_t nd = extent.size();
  const Shape grid = inner_grid(meta);
  // The inner chunks inside the array, in the order they lie in the shard, so that
  // adjacent ones are fetched with one ranged get.
  struct Want {
    int64_t lin;
    uint64_t off, len;
  };
  std::vector<Want> wants;
  int64_t inside_count = 0;
  for (int64_t lin = 0; lin < shape_size(grid); ++lin) {
    int64_t rem = lin;
    bool inside = true;
    for (size_t d = nd; d-- > 0;) {
      const int64_t i = rem % grid[d];
      rem /= grid[d];
      inside = inside && i * s->inner_chunks[d] < extent[d];
    }
    if (!inside) continue;
    ++inside_count;
    if (entries[2 * lin] == kEmptyEntry) continue;
    if (entries[2 * lin + 1] > zarr::max_stored_bytes(g)) {
      return io_error(object_where + ": inner chunk " + std::to_string(lin) + " of " + std::to_string(entries[2 * lin + 1]) +
                      " bytes is larger than a chunk can be stored in");
    }
    wants.push_back({lin, entries[2 * lin], entries[2 * lin + 1]});
  }
  std::sort(wants.begin(), wants.end(), [](const Want& a, const Want& b) { return a.off < b.off; });
  // The fill value goes in first only where an inner chunk is empty.
  Chunk out = static_cast<int64_t>(wants.size()) == inside_count ? Chunk::allocate(meta.dtype, extent)
                                                                 : zarr::fill_chunk(g, extent);
  constexpr uint64_t kMaxRun = 64ull << 20;  // one ranged get covers at most this much
  for (size_t i = 0; i < wants.size();) {
    size_t j = i + 1;
    uint64_t end = wants[i].off + wants[i].len;
    while (j < wants.size() && wants[j].off == end && end - wants[i].off + wants[j].len <= kMaxRun) {
      end += wants[j].len;
      ++j;
    }
    RSDAT_ASSIGN_OR_RETURN(Bytes run, st.get_range(object, wants[i].off, end - wants[i].off));
    if (run.size != end - wants[i].off) {
      return io_error(object_where + ": truncated shard: inner chunks at bytes " + std::to_string(wants[i].off) + ".." +
                      std::to_string(end) + " but the object ends at " + std::to_string(wants[i].off + run.size));
    }
    for (size_t k = i; k < j; ++k) {
      const Want& w = wants[k];
      std::string_view part = run.view().substr(w.off - wants[i].off, w.len);
      Shape at(nd), within(nd);
      int64_t rem = w.lin;
      for (size_t d = nd; d-- > 0;) {
        at[d] = (rem % grid[d]) * s->inner_chunks[d];
        rem /= grid[d];
      }
      for (size_t d = 0; d < nd; ++d) within[d] = std::min(s->inner_chunks[d], extent[d] - at[d]);
      RSDAT_ASSIGN_OR_RETURN(Chunk inner, decode(s->inner, meta.dtype, s->inner_chunks, part,
                                                 object_where + " (inner chunk " + std::to_string(w.lin) + ")"));
      copy_box(inner.bytes(), inner.shape, Shape(nd, 0), out.mutable_bytes(), extent, at, within, item);
    }
    i = j;
  }
  return out;
}

// ---- stores ----------------------------------------------------------------------

Result<ArrayMeta> open_array(const std::string& store_url, const std::string& path) {
  if (path.size() && path.front() == '/') {
    return invalid_argument("path '" + path + "' must be relative to the store " + store_url);
  }
  RSDAT_ASSIGN_OR_RETURN(std::string dir, store::join_url(store_url, path));
  const std::string key = array_key(path);
  RSDAT_ASSIGN_OR_RETURN(auto st, store::open_store(store_url));
  auto text = st->get(under(key, "zarr.json"));
  if (!text.ok()) return text.status();
  const std::string where = dir + "/zarr.json";
  RSDAT_ASSIGN_OR_RETURN(std::string type, node_type(text->view(), where));
  if (type == "group") {
    std::string members;
    auto entries = st->list(key);
    if (entries.ok()) {
      for (const auto& e : *entries) {
        if (!e.is_dir) continue;
        RSDAT_ASSIGN_OR_RETURN(bool member, st->exists(under(key, e.name + "/zarr.json")));
        if (member) members += (members.empty() ? "" : ", ") + e.name;
      }
    }
    return invalid_argument(dir + " is a Zarr group, not an array; name one of its members: " +
                            (members.empty() ? "(none)" : members));
  }
  return parse_array(text->view(), where);
}

Status create_array(const std::string& store_url, const std::string& path, const ArrayMeta& meta) {
  if (path.size() && path.front() == '/') {
    return invalid_argument("path '" + path + "' must be relative to the store " + store_url);
  }
  RSDAT_ASSIGN_OR_RETURN(std::string dir, store::join_url(store_url, path));
  const std::string key = array_key(path);
  RSDAT_ASSIGN_OR_RETURN(auto st, store::open_store(store_url));
  const std::string doc = to_json(meta);
  RSDAT_ASSIGN_OR_RETURN(bool is_dir, st->is_dir(key));
  if (!is_dir && !key.empty()) {
    RSDAT_ASSIGN_OR_RETURN(bool is_file, st->exists(key));
    if (is_file) return invalid_argument("cannot write a Zarr array at " + dir + ": it is a file");
  }
  if (is_dir) {
    auto old = st->get(under(key, "zarr.json"));
    RSDAT_ASSIGN_OR_RETURN(bool v2_array, st->exists(under(key, ".zarray")));
    RSDAT_ASSIGN_OR_RETURN(bool v2_group, st->exists(under(key, ".zgroup")));
    RSDAT_ASSIGN_OR_RETURN(auto entries, st->list(key));
    if (!old.ok() && !v2_array && !v2_group && !entries.empty()) {
      return invalid_argument("refusing to write a Zarr array into " + dir +
                              ": the directory holds files and is not a Zarr array or group");
    }
    bool old_group = false;
    if (old.ok()) {
      auto type = node_type(old->view(), dir + "/zarr.json");
      old_group = type.ok() && *type == "group";
    }
    if (v2_group || old_group) {
      return invalid_argument("refusing to overwrite the Zarr group " + dir + " with an array");
    }
    // An array of the very same metadata stays (this may be the same write's create,
    // run again after a lost worker, with some shards already in place).
    if (!old.ok() || old->view() != doc) {
      for (const auto& e : entries) RSDAT_RETURN_IF_ERROR(st->remove(under(key, e.name)), "clearing " + dir);
    }
  }
  if (!key.empty()) {
    RSDAT_ASSIGN_OR_RETURN(bool root_meta, st->exists("zarr.json"));
    RSDAT_ASSIGN_OR_RETURN(bool root_v2, st->exists(".zgroup"));
    if (!root_meta && !root_v2) RSDAT_RETURN_IF_ERROR(st->put("zarr.json", group_json()));
    for (size_t slash = key.find('/'); slash != std::string::npos; slash = key.find('/', slash + 1)) {
      const std::string at = key.substr(0, slash);
      RSDAT_ASSIGN_OR_RETURN(bool group, st->exists(at + "/zarr.json"));
      if (!group) RSDAT_RETURN_IF_ERROR(st->put(at + "/zarr.json", group_json()));
    }
  }
  return st->put(under(key, "zarr.json"), doc);
}

}  // namespace rsdat::zarr3

// ---- kernels ---------------------------------------------------------------------

#include "ops/kernel_util.hpp"
#include "ops/op_registry.hpp"

namespace rsdat::ops {
namespace {

zarr3::ArrayMeta meta_or_throw(const std::string& text, const std::string& where) {
  auto meta = zarr3::parse_array(text, where);
  if (!meta.ok()) throw std::runtime_error(meta.status().message());
  return std::move(meta).value();
}

void check_block(const zarr3::ArrayMeta& meta, const std::vector<int64_t>& block, const std::string& dir) {
  if (block.size() != meta.shape.size()) throw std::runtime_error(dir + ": block index of the wrong rank");
  const zarr::ArrayMeta g = meta.grid();
  for (size_t d = 0; d < block.size(); ++d) {
    const int64_t n = zarr::blocks_along(g, d);
    if (block[d] < 0 || block[d] >= std::max<int64_t>(n, 1)) throw std::runtime_error(dir + ": block index out of range");
  }
}

Chunk zarr3_read_kernel(KernelContext& ctx) {
  const std::string dir = ctx.params.str();
  const zarr3::ArrayMeta meta = meta_or_throw(ctx.params.str(), dir + "/zarr.json");
  const std::vector<int64_t> block = ctx.params.i64s();
  check_block(meta, block, dir);
  if (ctx.out_dtype != meta.dtype || ctx.out_shape != zarr::block_extent(meta.grid(), block)) {
    throw std::runtime_error(dir + ": task shape differs from the store's");
  }
  auto chunk = zarr3::read_block(*store::open_store_or_throw(dir), "", meta, block, dir);
  if (!chunk.ok()) throw std::runtime_error(chunk.status().message());
  return std::move(chunk).value();
}

Chunk zarr3_write_kernel(KernelContext& ctx) {
  const std::string dir = ctx.params.str();
  const zarr3::ArrayMeta meta = meta_or_throw(ctx.params.str(), dir + "/zarr.json");
  const std::vector<int64_t> block = ctx.params.i64s();
  check_block(meta, block, dir);
  if (ctx.inputs.empty()) throw std::runtime_error("zarr3_write: no input chunk");
  const Chunk& data = ctx.inputs.back();
  const zarr::ArrayMeta g = meta.grid();
  if (data.shape != zarr::block_extent(g, block) || data.dtype != meta.dtype) {
    throw std::runtime_error(dir + ": chunk does not match the store's grid");
  }
  const std::string key = zarr3::chunk_key(meta, block);
  const std::string where = dir + "/" + key;
  auto bytes = zarr3::encode_block(meta, data, where);
  if (!bytes.ok()) throw std::runtime_error(bytes.status().message());
  auto st = store::open_store_or_throw(dir);
  Status s = bytes->size == 0 && meta.sharding() ? st->remove(key) : st->put(key, bytes->view());
  if (!s.is_ok()) throw std::runtime_error(s.message());
  return int64_scalar_chunk(ctx.out_shape.size(), static_cast<int64_t>(bytes->size));
}

Chunk zarr3_create_kernel(KernelContext& ctx) {
  const std::string store = ctx.params.str();
  const std::string path = ctx.params.str();
  const zarr3::ArrayMeta meta = meta_or_throw(ctx.params.str(), store + "/" + path + "/zarr.json");
  Status st = zarr3::create_array(store, path, meta);
  if (!st.is_ok()) throw std::runtime_error(st.message());
  return int64_scalar_chunk(ctx.out_shape.size(), 0);
}

}  // namespace

std::string zarr3_block_params(const std::string& array_url, const std::string& meta_json,
                               const std::vector<int64_t>& block) {
  return ParamWriter().str(array_url).str(meta_json).i64s(block).take();
}
std::string zarr3_create_params(const std::string& store, const std::string& path, const std::string& meta_json) {
  return ParamWriter().str(store).str(path).str(meta_json).take();
}

void register_zarr3_ops(OpRegistry& r) {
  r.add(kZarr3Read, zarr3_read_kernel);
  r.add(kZarr3Write, zarr3_write_kernel);
  r.add(kZarr3Create, zarr3_create_kernel);
}

}  // namespace rsdat::ops
