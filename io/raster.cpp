#include "io/raster.hpp"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <gdal_utils.h>
#include <ogr_srs_api.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <stdexcept>

#include "io/store.hpp"
#include "ops/op_registry.hpp"

namespace rsdat::raster {
namespace {

namespace fs = std::filesystem;

constexpr size_t kHandlesPerThread = 8;

void init_gdal() {
  static std::once_flag once;
  std::call_once(once, [] {
    GDALAllRegister();
    // Errors are read from CPLGetLastErrorMsg() and reported with the file's name;
    // GDAL printing them to stderr as well would only duplicate them.
    CPLSetErrorHandler(CPLQuietErrorHandler);
  });
}

// `message` with every occurrence of `secret` replaced: GDAL's messages should never
// hold a header value, but one echoed back from a server must not leak either.
std::string scrub(std::string message, const std::string& secret) {
  if (secret.size() < 4) return message;
  for (size_t at; (at = message.find(secret)) != std::string::npos;) message.replace(at, secret.size(), "***");
  return message;
}

// GDAL's last error message on this thread, or `fallback`.
std::string last_error(const char* fallback) {
  const char* m = CPLGetLastErrorMsg();
  return m && *m ? std::string(m) : std::string(fallback);
}

bool is_file_url(const std::string& url) { return url.rfind("file://", 0) == 0; }

// While alive: this thread's GDAL requests to `url` carry its credentials (thread-local
// configuration options: other threads, and this one afterwards, never see them).
class HttpScope {
 public:
  static Result<std::unique_ptr<HttpScope>> open(const std::string& url) {
    auto scope = std::make_unique<HttpScope>();
    if (!store::is_remote_url(url)) return scope;
    RSDAT_ASSIGN_OR_RETURN(store::Credentials cred, store::resolve_credentials(url));
    std::string headers;
    if (!cred.bearer_token.empty()) {
      headers = "Authorization: Bearer " + cred.bearer_token;
      scope->secret_ = cred.bearer_token;
    }
    for (const auto& [k, v] : cred.headers) headers += (headers.empty() ? "" : "\r\n") + k + ": " + v;
    scope->set("GDAL_HTTP_HEADERS", headers);
    // Only ranged GETs of the file itself: no directory listing for side-car files.
    scope->set("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR");
    scope->set("GDAL_HTTP_MAX_RETRY", "3");
    scope->set("GDAL_HTTP_RETRY_DELAY", "0.5");
    if (const char* ca = std::getenv("RSDAT_STORE_CA_FILE")) scope->set("CURL_CA_BUNDLE", ca);
    return scope;
  }
  HttpScope() = default;
  HttpScope(const HttpScope&) = delete;
  HttpScope& operator=(const HttpScope&) = delete;
  ~HttpScope() {
    for (const std::string& k : keys_) CPLSetThreadLocalConfigOption(k.c_str(), nullptr);
  }
  const std::string& secret() const { return secret_; }

 private:
  void set(const char* key, const std::string& value) {
    if (value.empty()) return;
    CPLSetThreadLocalConfigOption(key, value.c_str());
    keys_.emplace_back(key);
  }
  std::vector<std::string> keys_;
  std::string secret_;
};

Result<DType> dtype_of_gdal(GDALDataType t, const std::string& url) {
  switch (t) {
    case GDT_Byte: return DType::kUInt8;
    case GDT_UInt16: return DType::kUInt16;
    case GDT_Int16: return DType::kInt16;
    case GDT_UInt32: return DType::kUInt32;
    case GDT_Int32: return DType::kInt32;
    case GDT_UInt64: return DType::kUInt64;
    case GDT_Int64: return DType::kInt64;
    case GDT_Float32: return DType::kFloat32;
    case GDT_Float64: return DType::kFloat64;
    default:
      return invalid_argument(url + ": bands of type " + GDALGetDataTypeName(t) +
                              " (complex values) are not supported");
  }
}

GDALDataType gdal_type_of(DType t) {
  switch (t) {
    case DType::kBool: case DType::kUInt8: return GDT_Byte;
    case DType::kUInt16: return GDT_UInt16;
    case DType::kInt16: return GDT_Int16;
    case DType::kUInt32: return GDT_UInt32;
    case DType::kInt32: return GDT_Int32;
    case DType::kUInt64: return GDT_UInt64;
    case DType::kInt64: return GDT_Int64;
    case DType::kFloat32: return GDT_Float32;
    case DType::kFloat64: return GDT_Float64;
    // GDAL 3.6 has no signed byte type: int8 is stored as bytes marked PIXELTYPE=SIGNEDBYTE,
    // and read or written as GDT_Byte, whose bits are the same.
    case DType::kInt8: return GDT_Byte;
    default: return GDT_Unknown;
  }
}

// Whether a band holds int8 (bytes marked PIXELTYPE=SIGNEDBYTE, GDAL 3.6's int8).
bool signed_bytes(GDALRasterBandH band) {
  if (GDALGetRasterDataType(band) != GDT_Byte) return false;
  const char* pt = GDALGetMetadataItem(band, "PIXELTYPE", "IMAGE_STRUCTURE");
  return pt && std::string(pt) == "SIGNEDBYTE";
}

// Opens `path` read-only; the caller holds the HttpScope of the URL.
Result<GDALDatasetH> open_dataset(const std::string& url, const std::string& path, const std::string& secret) {
  init_gdal();
  if (!store::is_remote_url(url)) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return not_found(url + ": no such file");
  }
  CPLErrorReset();
  GDALDatasetH ds = GDALOpenEx(path.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR, nullptr,
                               nullptr, nullptr);
  if (!ds) {
    std::string msg = scrub(last_error("GDAL cannot open it"), secret);
    // GDAL names the /vsicurl/ path; the URL is named in front already.
    if (msg.find("404") != std::string::npos) return not_found(url + ": not found (HTTP 404)");
    return invalid_argument(url + ": cannot be read as a raster: " + msg);
  }
  return ds;
}

// The open handles of this thread, most recently used first. A local file is reopened
// when its size or modification time changed (a file written again at the same path).
struct HandleCache {
  struct Entry {
    std::string url;
    int64_t size = -1, mtime_ns = -1;
    GDALDatasetH ds = nullptr;
  };
  std::vector<Entry> entries;
  ~HandleCache() {
    for (Entry& e : entries) GDALClose(e.ds);
  }
};
thread_local HandleCache t_handles;

void file_stamp(const std::string& path, int64_t& size, int64_t& mtime_ns) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    size = st.st_size;
    mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  }
}

Result<GDALDatasetH> thread_handle(const std::string& url, const std::string& path, const std::string& secret) {
  int64_t size = -1, mtime = -1;
  if (!store::is_remote_url(url)) file_stamp(path, size, mtime);
  auto& es = t_handles.entries;
  for (size_t i = 0; i < es.size(); ++i) {
    if (es[i].url != url) continue;
    if (es[i].size == size && es[i].mtime_ns == mtime) {
      std::rotate(es.begin(), es.begin() + static_cast<std::ptrdiff_t>(i), es.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      return es.front().ds;
    }
    GDALClose(es[i].ds);
    es.erase(es.begin() + static_cast<std::ptrdiff_t>(i));
    break;
  }
  RSDAT_ASSIGN_OR_RETURN(GDALDatasetH ds, open_dataset(url, path, secret));
  if (es.size() >= kHandlesPerThread) {
    GDALClose(es.back().ds);
    es.pop_back();
  }
  es.insert(es.begin(), HandleCache::Entry{url, size, mtime, ds});
  return ds;
}

}  // namespace

Result<std::string> gdal_path(const std::string& url) {
  if (store::is_remote_url(url)) {
    RSDAT_ASSIGN_OR_RETURN(store::HttpUrl u, store::parse_http_url(url));
    return "/vsicurl/" + u.origin() + u.path;
  }
  if (is_file_url(url)) return store::url_decode(url.substr(7));
  const size_t colon = url.find("://");
  if (colon != std::string::npos) {
    return invalid_argument(url + ": unknown scheme (a path, file://, http(s):// or dav(s)://)");
  }
  return url;
}

Result<FileInfo> describe(const std::string& url) {
  RSDAT_ASSIGN_OR_RETURN(std::string path, gdal_path(url));
  RSDAT_ASSIGN_OR_RETURN(auto scope, HttpScope::open(url));
  RSDAT_ASSIGN_OR_RETURN(GDALDatasetH ds, open_dataset(url, path, scope->secret()));
  struct Closer {
    GDALDatasetH ds;
    ~Closer() { GDALClose(ds); }
  } closer{ds};
  FileInfo info;
  info.bands = GDALGetRasterCount(ds);
  info.height = GDALGetRasterYSize(ds);
  info.width = GDALGetRasterXSize(ds);
  if (info.bands == 0) return invalid_argument(url + ": has no raster bands");
  if (GDALDriverH drv = GDALGetDatasetDriver(ds)) info.driver = GDALGetDriverShortName(drv);
  std::optional<GDALDataType> type;
  for (int b = 1; b <= info.bands; ++b) {
    GDALRasterBandH band = GDALGetRasterBand(ds, b);
    const GDALDataType t = GDALGetRasterDataType(band);
    if (type && *type != t) {
      return invalid_argument(url + ": bands of different types (" + GDALGetDataTypeName(*type) + ", " +
                              GDALGetDataTypeName(t) + ")");
    }
    type = t;
    if (b == 1) {
      int bx = 0, by = 0;
      GDALGetBlockSize(band, &bx, &by);
      info.block_width = bx;
      info.block_height = by;
      for (int k = 0; k < GDALGetOverviewCount(band); ++k) {
        GDALRasterBandH ov = GDALGetOverview(band, k);
        info.overviews.emplace_back(GDALGetRasterBandYSize(ov), GDALGetRasterBandXSize(ov));
      }
    }
    int has = 0;
    const double nd = GDALGetRasterNoDataValue(band, &has);
    info.nodata.push_back(has ? std::optional<double>(nd) : std::nullopt);
    info.scale.push_back(GDALGetRasterScale(band, nullptr));
    info.offset.push_back(GDALGetRasterOffset(band, nullptr));
  }
  RSDAT_ASSIGN_OR_RETURN(info.dtype, dtype_of_gdal(*type, url));
  if (signed_bytes(GDALGetRasterBand(ds, 1))) info.dtype = DType::kInt8;
  const char* il = GDALGetMetadataItem(ds, "INTERLEAVE", "IMAGE_STRUCTURE");
  info.pixel_interleaved = il && std::string(il) == "PIXEL" && info.bands > 1;
  double gt[6];
  if (GDALGetGeoTransform(ds, gt) == CE_None) {
    info.has_transform = true;
    std::copy(gt, gt + 6, info.transform.begin());
  }
  if (OGRSpatialReferenceH srs = GDALGetSpatialRef(ds)) {
    char* wkt = nullptr;
    const char* opts[] = {"FORMAT=WKT2_2018", nullptr};
    if (OSRExportToWktEx(srs, &wkt, opts) == OGRERR_NONE && wkt) info.crs_wkt = wkt;
    CPLFree(wkt);
    const char* name = OSRGetAuthorityName(srs, nullptr);
    const char* code = OSRGetAuthorityCode(srs, nullptr);
    if (name && code && std::string(name) == "EPSG") {
      info.epsg = std::atoi(code);
    } else {
      OGRSpatialReferenceH clone = OSRClone(srs);
      if (OSRAutoIdentifyEPSG(clone) == OGRERR_NONE) {
        const char* c = OSRGetAuthorityCode(clone, nullptr);
        if (c) info.epsg = std::atoi(c);
      }
      OSRDestroySpatialReference(clone);
    }
  }
  return info;
}

uint64_t set_cache_for_memory_limit(uint64_t memory_limit) {
  init_gdal();
  const uint64_t bytes = std::clamp<uint64_t>(memory_limit / 20, uint64_t{16} << 20, uint64_t{1} << 30);
  GDALSetCacheMax64(static_cast<GIntBig>(bytes));
  return bytes;
}

Result<uint64_t> assemble(const std::vector<std::string>& pieces, const std::string& path,
                          const AssembleOptions& o) {
  init_gdal();
  if (pieces.empty()) return invalid_argument(path + ": nothing to write");
  const fs::path dir = fs::path(pieces.front()).parent_path();
  const std::string vrt_path = (dir / "pieces.vrt").string();
  std::vector<const char*> names;
  for (const auto& p : pieces) names.push_back(p.c_str());
  CPLErrorReset();
  GDALBuildVRTOptions* vo = GDALBuildVRTOptionsNew(nullptr, nullptr);
  int err = 0;
  GDALDatasetH vrt = GDALBuildVRT(vrt_path.c_str(), static_cast<int>(names.size()), nullptr, names.data(), vo, &err);
  GDALBuildVRTOptionsFree(vo);
  if (!vrt || err) return io_error(path + ": cannot combine the pieces: " + last_error("GDALBuildVRT failed"));
  // A VRT drops the pieces' int8 marking: put it back on its bands, where the COG driver
  // looks for it (it takes no PIXELTYPE option; GTiff is given one below).
  bool int8 = false;
  if (GDALDatasetH first = GDALOpen(pieces.front().c_str(), GA_ReadOnly)) {
    int8 = signed_bytes(GDALGetRasterBand(first, 1));
    GDALClose(first);
  }
  for (int b = 1; int8 && b <= GDALGetRasterCount(vrt); ++b) {
    GDALSetMetadataItem(GDALGetRasterBand(vrt, b), "PIXELTYPE", "SIGNEDBYTE", "IMAGE_STRUCTURE");
  }

  CPLStringList argv;
  const bool cog = o.driver == "COG";
  argv.AddString("-of");
  argv.AddString(o.driver.c_str());
  auto co = [&](const std::string& kv) {
    argv.AddString("-co");
    argv.AddString(kv.c_str());
  };
  co("COMPRESS=" + o.compress);
  co("NUM_THREADS=ALL_CPUS");
  co("BIGTIFF=IF_SAFER");
  if (cog) {
    co("BLOCKSIZE=" + std::to_string(o.blocksize));
    co(std::string("OVERVIEWS=") + (o.overviews ? "AUTO" : "NONE"));
    co("RESAMPLING=" + o.resampling);
    if (o.level >= 0) co("LEVEL=" + std::to_string(o.level));
    if (o.predictor == 2) co("PREDICTOR=STANDARD");
    if (o.predictor == 3) co("PREDICTOR=FLOATING_POINT");
  } else {
    co("TILED=YES");
    if (int8) co("PIXELTYPE=SIGNEDBYTE");
    co("BLOCKXSIZE=" + std::to_string(o.blocksize));
    co("BLOCKYSIZE=" + std::to_string(o.blocksize));
    if (o.predictor != 0) co("PREDICTOR=" + std::to_string(o.predictor));
    if (o.level >= 0 && o.compress == "DEFLATE") co("ZLEVEL=" + std::to_string(o.level));
    if (o.level >= 0 && o.compress == "ZSTD") co("ZSTD_LEVEL=" + std::to_string(o.level));
  }
  GDALTranslateOptions* to = GDALTranslateOptionsNew(argv.List(), nullptr);
  if (!to) {
    GDALClose(vrt);
    return invalid_argument(path + ": " + last_error("bad write options"));
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + ".tif";
  GDALDatasetH out = GDALTranslate(tmp.c_str(), vrt, to, &err);
  GDALTranslateOptionsFree(to);
  std::string msg = last_error("GDALTranslate failed");
  bool failed = !out || err;
  if (out) {
    CPLErrorReset();
    GDALClose(out);
    if (CPLGetLastErrorType() >= CE_Failure) {
      failed = true;
      msg = last_error("closing failed");
    }
  }
  GDALClose(vrt);
  std::error_code ec;
  if (failed) {
    fs::remove(tmp, ec);
    return io_error(path + ": cannot write: " + msg);
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return io_error(path + ": cannot rename the written file into place: " + ec.message());
  }
  return static_cast<uint64_t>(fs::file_size(path, ec));
}

}  // namespace rsdat::raster

// ---- kernels ------------------------------------------------------------------

namespace rsdat::ops {
namespace {

using raster::HttpScope;

template <typename T>
void mask_and_scale(T* p, int64_t n, bool masked, double nodata, std::optional<std::pair<double, double>> scale) {
  if (masked) {
    const T nd = static_cast<T>(nodata);
    if (!std::isnan(nd)) {
      for (int64_t i = 0; i < n; ++i)
        if (p[i] == nd) p[i] = std::numeric_limits<T>::quiet_NaN();
    }
  }
  if (scale) {
    const T s = static_cast<T>(scale->first), o = static_cast<T>(scale->second);
    for (int64_t i = 0; i < n; ++i) p[i] = p[i] * s + o;
  }
}

Chunk raster_read_kernel(KernelContext& ctx) {
  const std::string url = ctx.params.str();
  const int overview = static_cast<int>(ctx.params.i64());
  const std::vector<int64_t> bands = ctx.params.i64s();
  const std::vector<int64_t> w = ctx.params.i64s();
  const bool masked = ctx.params.u8() != 0;
  const bool scaled = ctx.params.u8() != 0;
  if (w.size() != 4) throw std::runtime_error(url + ": malformed raster window");
  const Shape want{static_cast<int64_t>(bands.size()), w[1], w[3]};
  if (ctx.out_shape != want) throw std::runtime_error(url + ": task shape differs from its window");
  const GDALDataType t = raster::gdal_type_of(ctx.out_dtype);
  if (t == GDT_Unknown || ctx.out_dtype == DType::kBool) throw std::runtime_error(url + ": unsupported task dtype");
  auto path = raster::gdal_path(url);
  if (!path.ok()) throw std::runtime_error(path.status().message());
  auto scope = HttpScope::open(url);
  if (!scope.ok()) throw std::runtime_error(scope.status().message());
  const std::string& secret = (*scope)->secret();
  auto ds = raster::thread_handle(url, *path, secret);
  if (!ds.ok()) throw std::runtime_error(ds.status().message());
  const int nbands = GDALGetRasterCount(*ds);
  Chunk out = Chunk::allocate(ctx.out_dtype, ctx.out_shape);
  const size_t item = dtype_size(ctx.out_dtype);
  const int64_t plane = w[1] * w[3];
  for (size_t b = 0; b < bands.size(); ++b) {
    const int64_t number = bands[b];
    if (number < 1 || number > nbands) {
      throw std::runtime_error(url + ": no band " + std::to_string(number) + " (it has " + std::to_string(nbands) +
                               ")");
    }
    GDALRasterBandH band = GDALGetRasterBand(*ds, static_cast<int>(number));
    int has_nodata = 0;
    const double nodata = GDALGetRasterNoDataValue(band, &has_nodata);
    int has_scale = 0, has_offset = 0;
    const double sc = GDALGetRasterScale(band, &has_scale), off = GDALGetRasterOffset(band, &has_offset);
    if (overview >= 0) {
      band = GDALGetOverview(band, overview);
      if (!band) throw std::runtime_error(url + ": no overview level " + std::to_string(overview));
    }
    const int64_t bw = GDALGetRasterBandXSize(band), bh = GDALGetRasterBandYSize(band);
    if (w[0] < 0 || w[2] < 0 || w[0] + w[1] > bh || w[2] + w[3] > bw) {
      throw std::runtime_error(url + ": window outside the raster");
    }
    void* dst = out.mutable_bytes() + b * static_cast<size_t>(plane) * item;
    // int8 read as anything wider: GDAL would take its bytes as unsigned, so they are read
    // as they are and widened here.
    const bool widen_int8 = raster::signed_bytes(band) && ctx.out_dtype != DType::kInt8;
    std::vector<int8_t> int8_plane(widen_int8 ? static_cast<size_t>(plane) : 0);
    CPLErrorReset();
    if (GDALRasterIO(band, GF_Read, static_cast<int>(w[2]), static_cast<int>(w[0]), static_cast<int>(w[3]),
                     static_cast<int>(w[1]), widen_int8 ? static_cast<void*>(int8_plane.data()) : dst,
                     static_cast<int>(w[3]), static_cast<int>(w[1]), widen_int8 ? GDT_Byte : t, 0, 0) != CE_None) {
      throw std::runtime_error(url + ": cannot read band " + std::to_string(number) + ": " +
                               raster::scrub(raster::last_error("read failed"), secret));
    }
    if (widen_int8) {
      visit_dtype(ctx.out_dtype, [&](auto tag) {
        using T = decltype(tag);
        std::transform(int8_plane.begin(), int8_plane.end(), static_cast<T*>(dst), [](int8_t v) { return static_cast<T>(v); });
      });
    }
    if (!dtype_is_float(ctx.out_dtype)) continue;
    const bool mask = masked && has_nodata;
    std::optional<std::pair<double, double>> scale;
    if (scaled && (sc != 1 || off != 0)) scale = std::make_pair(sc, off);
    if (ctx.out_dtype == DType::kFloat32) {
      mask_and_scale(static_cast<float*>(dst), plane, mask, nodata, scale);
    } else {
      mask_and_scale(static_cast<double*>(dst), plane, mask, nodata, scale);
    }
  }
  return out;
}

Chunk raster_write_piece_kernel(KernelContext& ctx) {
  namespace fs = std::filesystem;
  const std::string piece = ctx.params.str();
  const std::string wkt = ctx.params.str();
  const bool has_transform = ctx.params.u8() != 0;
  double gt[6];
  for (double& v : gt) v = ctx.params.f64();
  const bool has_nodata = ctx.params.u8() != 0;
  const double nodata = ctx.params.f64();
  const int64_t blocksize = ctx.params.i64();
  if (ctx.inputs.empty()) throw std::runtime_error(piece + ": no input chunk");
  const Chunk& in = ctx.inputs.back();
  if (in.shape.size() != 2 && in.shape.size() != 3) throw std::runtime_error(piece + ": a piece is 2-D or 3-D");
  const int64_t nb = in.shape.size() == 3 ? in.shape[0] : 1;
  const int64_t ny = in.shape[in.shape.size() - 2], nx = in.shape.back();
  Chunk data = in;
  if (in.dtype == DType::kBool) {  // GDAL has no bool: bytes of 0 and 1
    data = Chunk::allocate(DType::kUInt8, in.shape);
    std::memcpy(data.mutable_bytes(), in.bytes(), in.nbytes());
  }
  const GDALDataType t = raster::gdal_type_of(data.dtype);
  if (t == GDT_Unknown) throw std::runtime_error(piece + ": dtype " + dtype_name(in.dtype) + " cannot be written");
  raster::init_gdal();
  std::error_code ec;
  fs::create_directories(fs::path(piece).parent_path(), ec);
  GDALDriverH gtiff = GDALGetDriverByName("GTiff");
  CPLStringList co;
  co.AddNameValue("TILED", "YES");
  co.AddNameValue("BLOCKXSIZE", std::to_string(blocksize).c_str());
  co.AddNameValue("BLOCKYSIZE", std::to_string(blocksize).c_str());
  co.AddNameValue("INTERLEAVE", "BAND");
  co.AddNameValue("BIGTIFF", "IF_SAFER");
  if (data.dtype == DType::kInt8) co.AddNameValue("PIXELTYPE", "SIGNEDBYTE");
  const std::string tmp = piece + ".tmp." + std::to_string(::getpid());
  CPLErrorReset();
  GDALDatasetH ds = GDALCreate(gtiff, tmp.c_str(), static_cast<int>(nx), static_cast<int>(ny), static_cast<int>(nb),
                               t, co.List());
  if (!ds) throw std::runtime_error(piece + ": cannot create: " + raster::last_error("GDALCreate failed"));
  if (has_transform) GDALSetGeoTransform(ds, gt);
  if (!wkt.empty()) GDALSetProjection(ds, wkt.c_str());
  for (int b = 1; b <= nb && has_nodata; ++b) GDALSetRasterNoDataValue(GDALGetRasterBand(ds, b), nodata);
  CPLErr e = GDALDatasetRasterIO(ds, GF_Write, 0, 0, static_cast<int>(nx), static_cast<int>(ny),
                                 const_cast<uint8_t*>(data.bytes()), static_cast<int>(nx), static_cast<int>(ny), t,
                                 static_cast<int>(nb), nullptr, 0, 0, 0);
  std::string msg = e != CE_None ? raster::last_error("write failed") : "";
  CPLErrorReset();
  GDALClose(ds);
  if (msg.empty() && CPLGetLastErrorType() >= CE_Failure) msg = raster::last_error("close failed");
  if (!msg.empty()) {
    fs::remove(tmp, ec);
    throw std::runtime_error(piece + ": cannot write: " + msg);
  }
  fs::rename(tmp, piece, ec);
  if (ec) throw std::runtime_error(piece + ": cannot rename into place: " + ec.message());
  Chunk c = Chunk::allocate(DType::kInt64, ctx.out_shape);
  *c.mutable_data<int64_t>() = static_cast<int64_t>(fs::file_size(piece, ec));
  return c;
}

}  // namespace

std::string raster_read_params(const std::string& url, int overview, const std::vector<int64_t>& bands,
                               const std::vector<int64_t>& window, bool masked, bool scaled) {
  return ParamWriter().str(url).i64(overview).i64s(bands).i64s(window).u8(masked).u8(scaled).take();
}

std::string raster_write_piece_params(const std::string& piece, const std::string& crs_wkt, bool has_transform,
                                      const std::array<double, 6>& transform, std::optional<double> nodata,
                                      int blocksize) {
  ParamWriter w;
  w.str(piece).str(crs_wkt).u8(has_transform);
  for (double v : transform) w.f64(v);
  w.u8(nodata.has_value()).f64(nodata.value_or(0)).i64(blocksize);
  return w.take();
}

void register_raster_ops(OpRegistry& r) {
  r.add(kRasterRead, raster_read_kernel, CostClass::kIO);
  r.add(kRasterWritePiece, raster_write_piece_kernel, CostClass::kIO);
}

}  // namespace rsdat::ops
