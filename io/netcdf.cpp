#include "io/netcdf.hpp"

#include <H5Epublic.h>
#include <netcdf.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>

#include "io/store.hpp"
#include "ops/op_registry.hpp"

namespace rsdat::netcdf {
namespace {

namespace fs = std::filesystem;

std::string nc_message(int rc) { return nc_strerror(rc); }

Result<DType> dtype_of_nc(nc_type t, const std::string& where) {
  switch (t) {
    case NC_BYTE: return DType::kInt8;
    case NC_UBYTE: return DType::kUInt8;
    case NC_SHORT: return DType::kInt16;
    case NC_USHORT: return DType::kUInt16;
    case NC_INT: return DType::kInt32;
    case NC_UINT: return DType::kUInt32;
    case NC_INT64: return DType::kInt64;
    case NC_UINT64: return DType::kUInt64;
    case NC_FLOAT: return DType::kFloat32;
    case NC_DOUBLE: return DType::kFloat64;
    default: break;
  }
  return invalid_argument(where + ": NetCDF type " + std::to_string(t) +
                          " is not read (rsdat reads int8-64, uint8-64, float32 and float64 variables)");
}

Result<nc_type> nc_of_dtype(DType t, const std::string& where) {
  switch (t) {
    case DType::kInt8: return NC_BYTE;
    case DType::kUInt8: return NC_UBYTE;
    case DType::kInt16: return NC_SHORT;
    case DType::kUInt16: return NC_USHORT;
    case DType::kInt32: return NC_INT;
    case DType::kUInt32: return NC_UINT;
    case DType::kInt64: return NC_INT64;
    case DType::kUInt64: return NC_UINT64;
    case DType::kFloat32: return NC_FLOAT;
    case DType::kFloat64: return NC_DOUBLE;
    case DType::kBool: break;
  }
  return invalid_argument(where + ": NetCDF has no bool type: write astype(uint8)");
}

Result<std::vector<Attribute>> read_attributes(int ncid, int varid, int natts, const std::string& where) {
  std::vector<Attribute> out;
  for (int i = 0; i < natts; ++i) {
    char name[NC_MAX_NAME + 1] = {};
    nc_type type = 0;
    size_t len = 0;
    if (int rc = nc_inq_attname(ncid, varid, i, name); rc != NC_NOERR) return io_error(where + ": " + nc_message(rc));
    if (int rc = nc_inq_att(ncid, varid, name, &type, &len); rc != NC_NOERR) {
      return io_error(where + ": attribute " + name + ": " + nc_message(rc));
    }
    Attribute a;
    a.name = name;
    if (type == NC_CHAR) {
      a.is_text = true;
      a.text.resize(len);
      if (len) {
        if (int rc = nc_get_att_text(ncid, varid, name, a.text.data()); rc != NC_NOERR) {
          return io_error(where + ": attribute " + a.name + ": " + nc_message(rc));
        }
      }
      while (!a.text.empty() && a.text.back() == '\0') a.text.pop_back();
    } else if (type == NC_STRING) {
      a.is_text = true;
      std::vector<char*> strings(len, nullptr);
      if (len) {
        if (int rc = nc_get_att_string(ncid, varid, name, strings.data()); rc != NC_NOERR) {
          return io_error(where + ": attribute " + a.name + ": " + nc_message(rc));
        }
        for (size_t k = 0; k < len; ++k) a.text += (k ? "\n" : "") + std::string(strings[k] ? strings[k] : "");
        nc_free_string(len, strings.data());
      }
    } else {
      auto t = dtype_of_nc(type, where + ": attribute " + a.name);
      if (!t.ok()) continue;  // compound or other attributes: not listed
      a.dtype = *t;
      a.values.resize(len);
      if (len) {
        if (int rc = nc_get_att_double(ncid, varid, name, a.values.data()); rc != NC_NOERR && rc != NC_ERANGE) {
          return io_error(where + ": attribute " + a.name + ": " + nc_message(rc));
        }
      }
    }
    out.push_back(std::move(a));
  }
  return out;
}

// ---- open files, one handle per file per process --------------------------------

struct OpenFile {
  int ncid = -1;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
};
constexpr size_t kMaxOpenFiles = 128;

std::map<std::string, OpenFile>& open_files() {  // guarded by library_mutex()
  static auto* files = new std::map<std::string, OpenFile>;
  return *files;
}

Result<struct stat> stat_file(const std::string& path, const std::string& where) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return not_found(where + ": no such file");
    return io_error(where + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return invalid_argument(where + ": not a NetCDF file (not a regular file)");
  return st;
}

// Opens `path` read-only (library_mutex() held).
Result<int> open_locked(const std::string& path, const std::string& where, bool cached) {
  RSDAT_ASSIGN_OR_RETURN(struct stat st, stat_file(path, where));
  const int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  auto& files = open_files();
  if (cached) {
    auto it = files.find(path);
    if (it != files.end()) {
      const OpenFile& f = it->second;
      if (f.dev == st.st_dev && f.ino == st.st_ino && f.size == st.st_size && f.mtime_ns == mtime) return f.ncid;
      nc_close(f.ncid);  // the file changed: read the new one
      files.erase(it);
    }
  }
  int ncid = -1;
  if (int rc = nc_open(path.c_str(), NC_NOWRITE, &ncid); rc != NC_NOERR) {
    if (rc == NC_ENOTNC || rc == NC_EHDFERR || rc == NC_ENOTBUILT) {
      return invalid_argument(where + ": not a NetCDF file (" + nc_message(rc) + ")");
    }
    return io_error(where + ": cannot open: " + nc_message(rc));
  }
  if (cached) {
    if (files.size() >= kMaxOpenFiles) {
      for (auto& [p, f] : files) nc_close(f.ncid);
      files.clear();
    }
    files[path] = OpenFile{ncid, st.st_dev, st.st_ino, st.st_size, mtime};
  }
  return ncid;
}

std::string variable_names(int ncid) {
  int nvars = 0;
  nc_inq_nvars(ncid, &nvars);
  std::string names;
  for (int v = 0; v < nvars; ++v) {
    char name[NC_MAX_NAME + 1] = {};
    if (nc_inq_varname(ncid, v, name) == NC_NOERR) names += (names.empty() ? "" : ", ") + std::string(name);
  }
  return names.empty() ? "(none)" : names;
}

Result<int> varid_of(int ncid, const std::string& variable, const std::string& where) {
  int varid = -1;
  if (int rc = nc_inq_varid(ncid, variable.c_str(), &varid); rc != NC_NOERR) {
    if (rc == NC_ENOTVAR) {
      return not_found(where + ": no variable '" + variable + "' (it has: " + variable_names(ncid) + ")");
    }
    return io_error(where + ": variable '" + variable + "': " + nc_message(rc));
  }
  return varid;
}

// ---- the cache of remote files ---------------------------------------------------

struct CacheSlot {
  std::mutex mu;
  std::string path;  // "" until fetched; guarded by mu
  uint64_t size = 0;
};

struct Cache {
  std::mutex mu;
  std::string base;  // the configured directory; guarded by mu
  std::string dir;   // base/rsdat-netcdf-PID once made
  std::map<std::string, std::shared_ptr<CacheSlot>> slots;
  std::atomic<uint64_t> counter{0};
};
Cache& cache() {
  static auto* c = new Cache;  // never destroyed: atexit handlers and late tasks use it
  return *c;
}

void remove_cache_dir() {
  Cache& c = cache();
  std::string dir;
  {
    std::lock_guard lock(c.mu);
    dir = c.dir;
  }
  if (dir.empty()) return;
  std::error_code ec;
  fs::remove_all(dir, ec);
}

Result<std::string> cache_dir() {
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  if (!c.dir.empty()) return c.dir;
  std::error_code ec;
  std::string base = c.base.empty() ? fs::temp_directory_path(ec).string() : c.base;
  if (base.empty()) base = "/tmp";
  // Copies left by processes that died without removing theirs (killed workers).
  for (auto it = fs::directory_iterator(base, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("rsdat-netcdf-", 0) != 0) continue;
    const std::string digits = name.substr(13);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    std::error_code ignored;
    if (pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) fs::remove_all(it->path(), ignored);
  }
  ec.clear();
  const std::string dir = (fs::path(base) / ("rsdat-netcdf-" + std::to_string(::getpid()))).string();
  fs::create_directories(dir, ec);
  if (ec) return io_error("cannot create the NetCDF cache directory " + dir + ": " + ec.message());
  c.dir = dir;
  static std::once_flag once;
  std::call_once(once, [] { std::atexit(remove_cache_dir); });
  return dir;
}

Result<std::string> fetch(const std::string& url, uint64_t expected_size, uint64_t* size, bool refresh) {
  const size_t slash = url.find_last_of('/');
  const size_t scheme_end = url.find("://");
  if (slash == std::string::npos || scheme_end == std::string::npos || slash <= scheme_end + 2 || slash + 1 == url.size()) {
    return invalid_argument(url + ": not the URL of a file");
  }
  const std::string parent = url.substr(0, slash), name = url.substr(slash + 1);
  std::shared_ptr<CacheSlot> slot;
  {
    Cache& c = cache();
    std::lock_guard lock(c.mu);
    auto& s = c.slots[url];
    if (!s) s = std::make_shared<CacheSlot>();
    slot = s;
  }
  std::lock_guard lock(slot->mu);  // one fetch of a URL at a time; others wait for it
  if (!refresh && !slot->path.empty() && (expected_size == 0 || slot->size == expected_size)) {
    if (size) *size = slot->size;
    return slot->path;
  }
  RSDAT_ASSIGN_OR_RETURN(auto st, store::open_store(parent));
  RSDAT_ASSIGN_OR_RETURN(store::Bytes bytes, st->get(store::url_decode(name)), "fetching a NetCDF file");
  if (expected_size != 0 && bytes.size != expected_size) {
    return io_error(url + ": " + std::to_string(bytes.size) + " bytes, " + std::to_string(expected_size) +
                    " when it was opened: the file changed");
  }
  RSDAT_ASSIGN_OR_RETURN(std::string dir, cache_dir());
  std::string base = store::url_decode(name);
  for (char& ch : base) {
    if (ch == '/' || ch == '\\') ch = '_';
  }
  const std::string path = dir + "/" + std::to_string(cache().counter++) + "-" + base;
  RSDAT_RETURN_IF_ERROR(store::write_file_atomic(path, bytes.view()), "caching " + url);
  if (!slot->path.empty()) {
    std::error_code ec;
    fs::remove(slot->path, ec);  // an older copy of a file that changed
  }
  slot->path = path;
  slot->size = bytes.size;
  if (size) *size = bytes.size;
  return path;
}

template <typename S, typename M, typename O>
void decode_typed(const S* in, O* out, int64_t n, const Decoding& d) {
  std::vector<M> fills;
  for (double f : d.fill_values) fills.push_back(static_cast<M>(f));
  const O scale = static_cast<O>(d.scale_factor.value_or(1.0));
  const O offset = static_cast<O>(d.add_offset.value_or(0.0));
  const bool has_scale = d.scale_factor.has_value(), has_offset = d.add_offset.has_value();
  for (int64_t i = 0; i < n; ++i) {
    M m = static_cast<M>(in[i]);
    for (M f : fills) {
      if (m == f) m = std::numeric_limits<M>::quiet_NaN();
    }
    O v = static_cast<O>(m);
    if (has_scale) v = v * scale;
    if (has_offset) v = v + offset;
    out[i] = v;
  }
}

// The dtype xarray's CFMaskCoder gives masked values of `t`.
DType masked_dtype(DType t) {
  if (dtype_is_float(t)) return t;
  return dtype_size(t) <= 2 ? DType::kFloat32 : DType::kFloat64;
}
// xarray's _choose_float_dtype.
DType scaled_dtype(DType t, bool has_offset) {
  if (dtype_is_float(t) && dtype_size(t) <= 4) return DType::kFloat32;
  if (dtype_is_integer(t) && dtype_size(t) <= 2 && !has_offset) return DType::kFloat32;
  return DType::kFloat64;
}

}  // namespace

const Attribute* Variable::attribute(std::string_view n) const {
  for (const auto& a : attributes) {
    if (a.name == n) return &a;
  }
  return nullptr;
}

const Variable* FileInfo::variable(std::string_view n) const {
  for (const auto& v : variables) {
    if (v.name == n) return &v;
  }
  return nullptr;
}

std::mutex& library_mutex() {
  static auto* mu = [] {
    // HDF5 1.10 locks every file it opens (flock); a worker keeping a file open for
    // reading would then make every writer of it fail, also in other programs. Readers
    // here take no lock (a user's own HDF5_USE_FILE_LOCKING wins); a file changed on disk
    // is reopened (open_locked), and writes go to a new file renamed into place.
    ::setenv("HDF5_USE_FILE_LOCKING", "FALSE", /*overwrite=*/0);
    return new std::mutex;
  }();
  // The thread-safe HDF5 keeps its error-printing switch per thread, and libnetcdf turns
  // it off only on the thread that initialised it: its expected errors (attributes it
  // probes for) would be printed on every other thread.
  thread_local bool quiet = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)quiet;
  return *mu;
}

void set_cache_directory(const std::string& dir) {
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  c.base = dir;
}

Result<std::string> local_file(const std::string& url, uint64_t expected_size, uint64_t* size, bool refresh) {
  if (store::is_remote_url(url)) return fetch(url, expected_size, size, refresh);
  std::string path = url.rfind("file://", 0) == 0 ? store::url_decode(url.substr(7)) : url;
  RSDAT_ASSIGN_OR_RETURN(struct stat st, stat_file(path, url));
  if (size) *size = static_cast<uint64_t>(st.st_size);
  return path;
}

Result<FileInfo> inspect(const std::string& path, const std::string& where) {
  std::lock_guard lock(library_mutex());
  RSDAT_ASSIGN_OR_RETURN(int ncid, open_locked(path, where, /*cached=*/true));
  FileInfo info;
  info.where = where;
  int format = 0;
  nc_inq_format(ncid, &format);
  switch (format) {
    case NC_FORMAT_CLASSIC: info.format = "classic"; break;
    case NC_FORMAT_64BIT_OFFSET: info.format = "64-bit offset"; break;
    case NC_FORMAT_NETCDF4: info.format = "netCDF-4"; break;
    case NC_FORMAT_NETCDF4_CLASSIC: info.format = "netCDF-4 classic model"; break;
    case NC_FORMAT_64BIT_DATA: info.format = "64-bit data"; break;
    default: info.format = "unknown"; break;
  }
  int ndims = 0, nvars = 0, natts = 0, unlimited = -1;
  if (int rc = nc_inq(ncid, &ndims, &nvars, &natts, &unlimited); rc != NC_NOERR) return io_error(where + ": " + nc_message(rc));
  std::vector<int> dimids(NC_MAX_DIMS);
  int found = 0;
  if (nc_inq_dimids(ncid, &found, dimids.data(), 0) != NC_NOERR) found = 0;
  for (int i = 0; i < found; ++i) {
    char name[NC_MAX_NAME + 1] = {};
    size_t len = 0;
    if (int rc = nc_inq_dim(ncid, dimids[i], name, &len); rc != NC_NOERR) return io_error(where + ": " + nc_message(rc));
    info.dimensions.emplace_back(name, static_cast<int64_t>(len));
  }
  RSDAT_ASSIGN_OR_RETURN(info.attributes, read_attributes(ncid, NC_GLOBAL, natts, where));
  for (int v = 0; v < nvars; ++v) {
    char name[NC_MAX_NAME + 1] = {};
    nc_type type = 0;
    int vdims = 0, vatts = 0;
    int ids[NC_MAX_VAR_DIMS];
    if (int rc = nc_inq_var(ncid, v, name, &type, &vdims, ids, &vatts); rc != NC_NOERR) {
      return io_error(where + ": " + nc_message(rc));
    }
    Variable var;
    var.name = name;
    const std::string vwhere = where + ": variable '" + var.name + "'";
    auto t = dtype_of_nc(type, vwhere);
    if (!t.ok()) continue;  // strings, compounds: not arrays rsdat reads
    var.dtype = *t;
    for (int d = 0; d < vdims; ++d) {
      char dname[NC_MAX_NAME + 1] = {};
      size_t len = 0;
      if (int rc = nc_inq_dim(ncid, ids[d], dname, &len); rc != NC_NOERR) return io_error(vwhere + ": " + nc_message(rc));
      var.dims.push_back(dname);
      var.shape.push_back(static_cast<int64_t>(len));
    }
    int storage = NC_CONTIGUOUS;
    std::vector<size_t> chunks(std::max(vdims, 1));
    if (vdims > 0 && nc_inq_var_chunking(ncid, v, &storage, chunks.data()) == NC_NOERR && storage == NC_CHUNKED) {
      for (int d = 0; d < vdims; ++d) var.chunking.push_back(static_cast<int64_t>(chunks[d]));
    }
    int shuffle = 0, deflate = 0, level = 0;
    if (nc_inq_var_deflate(ncid, v, &shuffle, &deflate, &level) == NC_NOERR && deflate) var.deflate_level = level;
    RSDAT_ASSIGN_OR_RETURN(var.attributes, read_attributes(ncid, v, vatts, vwhere));
    info.variables.push_back(std::move(var));
  }
  return info;
}

Result<Decoding> decoding_of(const Variable& v, bool mask_and_scale, const std::string& where) {
  Decoding d;
  d.stored = d.out = v.dtype;
  if (!mask_and_scale) return d;
  for (const char* name : {"missing_value", "_FillValue"}) {
    const Attribute* a = v.attribute(name);
    if (!a || a->is_text) continue;
    for (double f : a->values) {
      if (std::isnan(f)) continue;
      bool seen = false;
      for (double g : d.fill_values) seen = seen || g == f;
      if (!seen) d.fill_values.push_back(f);
    }
  }
  DType t = d.fill_values.empty() ? v.dtype : masked_dtype(v.dtype);
  for (const char* name : {"scale_factor", "add_offset"}) {
    const Attribute* a = v.attribute(name);
    if (!a) continue;
    if (a->is_text || a->values.size() != 1) {
      return invalid_argument(where + ": variable '" + v.name + "': " + name + " is not one number");
    }
    (std::string(name) == "scale_factor" ? d.scale_factor : d.add_offset) = a->values[0];
  }
  if (d.scale_factor || d.add_offset) t = scaled_dtype(t, d.add_offset.has_value());
  d.out = t;
  return d;
}

Chunk decode(const Chunk& raw, const Decoding& d) {
  if (d.identity()) return raw;
  Chunk out = Chunk::allocate(d.out, raw.shape);
  const DType m = d.fill_values.empty() ? d.out : masked_dtype(d.stored);
  visit_dtype(d.stored, [&](auto s) {
    using S = decltype(s);
    if constexpr (!std::is_same_v<S, bool>) {
      auto run = [&](auto mtag, auto otag) {
        using M = decltype(mtag);
        using O = decltype(otag);
        decode_typed<S, M, O>(raw.data<S>(), out.mutable_data<O>(), raw.num_elements(), d);
      };
      // Masking casts to a float (M); scaling may then widen it (O). Without masking
      // M is O (the cast to O is where scaling starts).
      if (m == DType::kFloat32 && d.out == DType::kFloat32) run(float{}, float{});
      else if (m == DType::kFloat32) run(float{}, double{});
      else if (d.out == DType::kFloat32) run(double{}, float{});  // float64 data never scales to float32
      else run(double{}, double{});
    }
  });
  return out;
}

Result<Chunk> read(const std::string& path, const std::string& variable, const Shape& start, const Shape& count,
                   const std::string& where) {
  std::lock_guard lock(library_mutex());
  RSDAT_ASSIGN_OR_RETURN(int ncid, open_locked(path, where, /*cached=*/true));
  RSDAT_ASSIGN_OR_RETURN(int varid, varid_of(ncid, variable, where));
  nc_type type = 0;
  int ndims = 0;
  int ids[NC_MAX_VAR_DIMS];
  if (int rc = nc_inq_var(ncid, varid, nullptr, &type, &ndims, ids, nullptr); rc != NC_NOERR) {
    return io_error(where + ": variable '" + variable + "': " + nc_message(rc));
  }
  RSDAT_ASSIGN_OR_RETURN(DType dtype, dtype_of_nc(type, where + ": variable '" + variable + "'"));
  if (static_cast<size_t>(ndims) != start.size() || start.size() != count.size()) {
    return invalid_argument(where + ": variable '" + variable + "' has " + std::to_string(ndims) + " dimensions, not " +
                            std::to_string(start.size()));
  }
  Chunk out = Chunk::allocate(dtype, count);
  if (out.num_elements() == 0) return out;
  std::vector<size_t> s(start.begin(), start.end()), c(count.begin(), count.end());
  int rc = ndims == 0 ? nc_get_var(ncid, varid, out.mutable_bytes())
                      : nc_get_vara(ncid, varid, s.data(), c.data(), out.mutable_bytes());
  if (rc != NC_NOERR) {
    return io_error(where + ": variable '" + variable + "': cannot read " + shape_to_string(count) + " from " +
                    shape_to_string(start) + ": " + nc_message(rc));
  }
  return out;
}

void close_cached_files() {
  std::lock_guard lock(library_mutex());
  for (auto& [p, f] : open_files()) nc_close(f.ncid);
  open_files().clear();
}

// ---- writing ----------------------------------------------------------------------

Writer::Writer(std::string path, std::string variable, int ncid, int varid, DType dtype)
    : path_(std::move(path)), variable_(std::move(variable)), ncid_(ncid), varid_(varid), dtype_(dtype) {}

Writer::~Writer() {
  if (ncid_ >= 0) (void)close();
}

Result<std::unique_ptr<Writer>> Writer::create(const std::string& path, const WriteSpec& spec) {
  const std::string where = path + ": variable '" + spec.variable + "'";
  RSDAT_ASSIGN_OR_RETURN(nc_type type, nc_of_dtype(spec.dtype, where));
  const size_t nd = spec.shape.size();
  if (spec.dims.size() != nd) return invalid_argument(where + ": one dimension name per axis is needed");
  if (nd > 0 && spec.chunking.size() != nd) return invalid_argument(where + ": one chunk size per axis is needed");
  if (spec.variable.empty()) return invalid_argument(path + ": the variable needs a name");
  std::lock_guard lock(library_mutex());
  // A file being replaced may be open for reading in this process.
  if (auto it = open_files().find(path); it != open_files().end()) {
    nc_close(it->second.ncid);
    open_files().erase(it);
  }
  int ncid = -1;
  auto fail = [&](int rc, const std::string& what) {
    if (ncid >= 0) nc_close(ncid);
    return io_error(where + ": " + what + ": " + nc_message(rc));
  };
  if (spec.append) {
    if (int rc = nc_open(path.c_str(), NC_WRITE, &ncid); rc != NC_NOERR) {
      ncid = -1;
      return rc == ENOENT ? not_found(path + ": no such file to add a variable to") : fail(rc, "cannot open for writing");
    }
    int format = 0;
    nc_inq_format(ncid, &format);
    if (format != NC_FORMAT_NETCDF4) {
      nc_close(ncid);
      return invalid_argument(path + ": not a NetCDF4 file: variables are added to NetCDF4 files only");
    }
    int existing = -1;
    if (nc_inq_varid(ncid, spec.variable.c_str(), &existing) == NC_NOERR) {
      nc_close(ncid);
      return invalid_argument(where + ": the file has a variable of that name already");
    }
    int rc = nc_redef(ncid);
    if (rc != NC_NOERR && rc != NC_EINDEFINE) return fail(rc, "cannot define");
  } else {
    std::error_code ec;
    fs::path parent = fs::path(path).parent_path();
    if (!parent.empty()) fs::create_directories(parent, ec);
    if (int rc = nc_create(path.c_str(), NC_NETCDF4 | NC_CLOBBER, &ncid); rc != NC_NOERR) {
      ncid = -1;
      return fail(rc, "cannot create");
    }
  }
  std::vector<int> dimids(nd);
  for (size_t d = 0; d < nd; ++d) {
    int id = -1;
    if (nc_inq_dimid(ncid, spec.dims[d].c_str(), &id) == NC_NOERR) {
      size_t len = 0;
      nc_inq_dimlen(ncid, id, &len);
      if (static_cast<int64_t>(len) != spec.shape[d]) {
        nc_close(ncid);
        return invalid_argument(where + ": dimension '" + spec.dims[d] + "' has length " + std::to_string(len) +
                                " in the file, not " + std::to_string(spec.shape[d]));
      }
    } else if (int rc = nc_def_dim(ncid, spec.dims[d].c_str(), static_cast<size_t>(spec.shape[d]), &id); rc != NC_NOERR) {
      return fail(rc, "cannot define dimension '" + spec.dims[d] + "'");
    }
    dimids[d] = id;
  }
  int varid = -1;
  if (int rc = nc_def_var(ncid, spec.variable.c_str(), type, static_cast<int>(nd), dimids.data(), &varid); rc != NC_NOERR) {
    return fail(rc, "cannot define");
  }
  if (nd > 0) {
    std::vector<size_t> chunks(nd);
    for (size_t d = 0; d < nd; ++d) chunks[d] = static_cast<size_t>(std::max<int64_t>(1, std::min(spec.chunking[d], std::max<int64_t>(spec.shape[d], 1))));
    if (int rc = nc_def_var_chunking(ncid, varid, NC_CHUNKED, chunks.data()); rc != NC_NOERR) return fail(rc, "chunking");
    if (spec.deflate_level > 0) {
      if (int rc = nc_def_var_deflate(ncid, varid, spec.shuffle ? 1 : 0, 1, std::min(spec.deflate_level, 9)); rc != NC_NOERR) {
        return fail(rc, "compression");
      }
    }
  }
  if (spec.fill_value) {
    int rc = visit_dtype(spec.dtype, [&](auto tag) {
      using T = decltype(tag);
      T v = static_cast<T>(*spec.fill_value);
      return nc_def_var_fill(ncid, varid, NC_FILL, &v);
    });
    if (rc != NC_NOERR) return fail(rc, "_FillValue");
  }
  for (const Attribute& a : spec.attributes) {
    if (a.name == "_FillValue") continue;  // from fill_value
    int rc = NC_NOERR;
    if (a.is_text) {
      rc = nc_put_att_text(ncid, varid, a.name.c_str(), a.text.size(), a.text.data());
    } else {
      auto at = nc_of_dtype(a.dtype, where + ": attribute " + a.name);
      if (!at.ok()) {
        nc_close(ncid);
        return at.status();
      }
      rc = nc_put_att_double(ncid, varid, a.name.c_str(), *at, a.values.size(), a.values.data());
    }
    if (rc != NC_NOERR) return fail(rc, "attribute " + a.name);
  }
  if (int rc = nc_enddef(ncid); rc != NC_NOERR) return fail(rc, "cannot end definitions");
  return std::unique_ptr<Writer>(new Writer(path, spec.variable, ncid, varid, spec.dtype));
}

Status Writer::write(const Shape& start, const Chunk& block) {
  const std::string where = path_ + ": variable '" + variable_ + "'";
  if (ncid_ < 0) return invalid_argument(where + ": written after close");
  if (block.dtype != dtype_) return invalid_argument(where + ": block of dtype " + dtype_name(block.dtype));
  if (block.num_elements() == 0) return Status::ok();
  std::vector<size_t> s(start.begin(), start.end()), c(block.shape.begin(), block.shape.end());
  std::lock_guard lock(library_mutex());
  int rc = start.empty() ? nc_put_var(ncid_, varid_, block.bytes())
                         : nc_put_vara(ncid_, varid_, s.data(), c.data(), block.bytes());
  if (rc != NC_NOERR) return io_error(where + ": cannot write " + shape_to_string(block.shape) + " at " +
                                      shape_to_string(start) + ": " + nc_message(rc));
  return Status::ok();
}

Status Writer::close() {
  if (ncid_ < 0) return Status::ok();
  std::lock_guard lock(library_mutex());
  int rc = nc_close(ncid_);
  ncid_ = -1;
  if (rc != NC_NOERR) return io_error(path_ + ": cannot close: " + nc_message(rc));
  return Status::ok();
}

}  // namespace rsdat::netcdf

// ---- the kernel ---------------------------------------------------------------------

namespace rsdat::ops {
namespace {

DType dtype_param(uint8_t v) {
  if (v >= kNumDTypes) throw ParamError("netcdf_read: dtype out of range");
  return static_cast<DType>(v);
}

Chunk netcdf_read_kernel(KernelContext& ctx) {
  const std::string url = ctx.params.str();
  const uint64_t size = ctx.params.u64();
  const std::string variable = ctx.params.str();
  netcdf::Decoding d;
  d.stored = dtype_param(ctx.params.u8());
  d.out = dtype_param(ctx.params.u8());
  const uint64_t nfill = ctx.params.u64();
  if (nfill > 64) throw ParamError("netcdf_read: too many fill values");
  for (uint64_t i = 0; i < nfill; ++i) d.fill_values.push_back(ctx.params.f64());
  if (ctx.params.u8()) d.scale_factor = ctx.params.f64();
  if (ctx.params.u8()) d.add_offset = ctx.params.f64();
  const Shape start = ctx.params.i64s(), count = ctx.params.i64s();
  if (ctx.out_dtype != d.out || ctx.out_shape != count) {
    throw std::runtime_error(url + ": variable '" + variable + "': task shape or dtype differs from the variable's");
  }
  auto path = netcdf::local_file(url, size);
  if (!path.ok()) throw std::runtime_error(path.status().message());
  auto raw = netcdf::read(*path, variable, start, count, url);
  if (!raw.ok()) throw std::runtime_error(raw.status().message());
  if (raw->dtype != d.stored) {
    throw std::runtime_error(url + ": variable '" + variable + "' is " + dtype_name(raw->dtype) + " now, " +
                             dtype_name(d.stored) + " when it was opened: the file changed");
  }
  return netcdf::decode(*raw, d);
}

}  // namespace

std::string netcdf_read_params(const std::string& url, uint64_t size, const std::string& variable,
                               const netcdf::Decoding& d, const Shape& start, const Shape& count) {
  ParamWriter w;
  w.str(url).u64(size).str(variable).u8(static_cast<uint8_t>(d.stored)).u8(static_cast<uint8_t>(d.out));
  w.u64(d.fill_values.size());
  for (double f : d.fill_values) w.f64(f);
  w.u8(d.scale_factor ? 1 : 0);
  if (d.scale_factor) w.f64(*d.scale_factor);
  w.u8(d.add_offset ? 1 : 0);
  if (d.add_offset) w.f64(*d.add_offset);
  w.i64s(start).i64s(count);
  return w.take();
}

void register_netcdf_ops(OpRegistry& r) { r.add(kNetcdfRead, netcdf_read_kernel, CostClass::kIO); }

}  // namespace rsdat::ops
