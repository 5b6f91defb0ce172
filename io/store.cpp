#include "io/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "io/http_store.hpp"
#include "io/s3_store.hpp"
#include "io/xml.hpp"

namespace rsdat::store {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr uint64_t kMaxObjectBytes = 1ull << 34;  // 16 GiB: anything larger is not a chunk

Status check_key(const std::string& key, const std::string& where) {
  if (!key.empty() && key.front() == '/') return invalid_argument("key '" + key + "' must be relative to the store " + where);
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string::npos) end = key.size();
    if (key.compare(start, end - start, "..") == 0) return invalid_argument("key '" + key + "' leaves the store " + where);
    start = end + 1;
  }
  return Status::ok();
}

// A directory on a filesystem every process that uses it sees at the same path.
// Thread-safe (no state but the root).
class LocalStore final : public Store {
 public:
  explicit LocalStore(std::string root) : root_(std::move(root)) {}

  std::string url() const override { return root_; }

  Result<Bytes> get(const std::string& key) override {
    RSDAT_ASSIGN_OR_RETURN(std::string path, path_of(key));
    return read_file_range(path, 0, UINT64_MAX);
  }

  Result<Bytes> get_range(const std::string& key, uint64_t offset, uint64_t length) override {
    RSDAT_ASSIGN_OR_RETURN(std::string path, path_of(key));
    return read_file_range(path, offset, length);
  }

  Result<Bytes> get_suffix(const std::string& key, uint64_t length) override {
    RSDAT_ASSIGN_OR_RETURN(std::string path, path_of(key));
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return not_found(path + " not found");
      return io_error("cannot read " + path + ": " + std::strerror(errno));
    }
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    return read_file_range(path, size - std::min(length, size), length);
  }

  Status put(const std::string& key, std::string_view bytes) override {
    RSDAT_ASSIGN_OR_RETURN(std::string path, path_of(key));
    return write_file_atomic(path, bytes);
  }

  Status remove(const std::string& key) override {
    RSDAT_ASSIGN_OR_RETURN(std::string path, path_of(key));
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec && ec != std::errc::no_such_file_or_directory) return io_error("cannot remove " + path + ": " + ec.message());
    return Status::ok();
  }

  Result<std::vector<Entry>> list(const std::string& prefix) override {
    RSDAT_ASSIGN_OR_RETURN(std::string path, path_of(prefix));
    std::error_code ec;
    if (!fs::is_directory(path, ec)) return not_found(path + " is not a directory");
    std::vector<Entry> out;
    for (auto it = fs::directory_iterator(path, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      out.push_back({it->path().filename().string(), it->is_directory(ec)});
    }
    if (ec) return io_error("cannot list " + path + ": " + ec.message());
    std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
    return out;
  }

  Result<bool> exists(const std::string& key) override {
    RSDAT_ASSIGN_OR_RETURN(std::string path, path_of(key));
    std::error_code ec;
    return fs::is_regular_file(path, ec);
  }

  Result<bool> is_dir(const std::string& key) override {
    RSDAT_ASSIGN_OR_RETURN(std::string path, path_of(key));
    std::error_code ec;
    return fs::is_directory(path, ec);
  }

 private:
  Result<std::string> path_of(const std::string& key) const {
    RSDAT_RETURN_IF_ERROR(check_key(key, root_));
    if (key.empty() || key == ".") return root_;
    return (fs::path(root_) / key).lexically_normal().string();
  }


  const std::string root_;
};

std::string trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws));
  s.erase(s.find_last_not_of(ws) + 1);
  return s;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "scheme://" at the start, lower-cased without "://"; "" when there is none.
std::string scheme_of(const std::string& url) {
  auto p = url.find("://");
  if (p == std::string::npos || p == 0) return "";
  for (size_t i = 0; i < p; ++i) {
    if (!std::isalnum(static_cast<unsigned char>(url[i])) && url[i] != '+' && url[i] != '-' && url[i] != '.') return "";
  }
  return lower(url.substr(0, p));
}

// The URL with dav/davs as http/https and without a trailing '/', for prefix matching.
std::string canonical_url(const std::string& url) {
  std::string s = url;
  std::string scheme = scheme_of(s);
  if (scheme == "dav") s = "http" + s.substr(3);
  if (scheme == "davs") s = "https" + s.substr(4);
  while (s.size() > 1 && s.back() == '/' && s.compare(s.size() - 3, 3, "://") != 0) s.pop_back();
  return s;
}

bool prefix_matches(const std::string& prefix, const std::string& url) {
  if (url.compare(0, prefix.size(), prefix) != 0) return false;
  return url.size() == prefix.size() || url[prefix.size()] == '/' || prefix.back() == '/';
}

}  // namespace

Result<Bytes> Store::get_suffix(const std::string& key, uint64_t length) {
  RSDAT_ASSIGN_OR_RETURN(Bytes whole, get(key));
  const size_t n = static_cast<size_t>(std::min<uint64_t>(length, whole.size));
  Bytes tail{Buffer::allocate(std::max<size_t>(n, 1)), n};
  if (n) std::memcpy(tail.buffer->data(), whole.buffer->data() + whole.size - n, n);
  return tail;
}

Result<Bytes> read_file_range(const std::string& path, uint64_t offset, uint64_t length, uint64_t limit) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return not_found(path + " not found");
    return io_error("cannot open " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return io_error("cannot read " + path + ": not a regular file");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const uint64_t begin = std::min(offset, size);
  const uint64_t want = std::min(length, size - begin);
  if (want > std::min(limit, kMaxObjectBytes)) {
    ::close(fd);
    return io_error(path + " is larger than any chunk can be (" + std::to_string(want) + " bytes)");
  }
  // A whole read asks one byte more than the size, to notice a file that grew.
  const bool whole = offset == 0 && length == UINT64_MAX;
  Bytes out{Buffer::allocate(std::max<size_t>(want + (whole ? 1 : 0), 1)), 0};
  const size_t cap = static_cast<size_t>(want + (whole ? 1 : 0));
  while (out.size < cap) {
    ssize_t n = ::pread(fd, out.buffer->data() + out.size, cap - out.size, static_cast<off_t>(begin + out.size));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return io_error("cannot read " + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    out.size += static_cast<size_t>(n);
  }
  ::close(fd);
  if (whole && out.size == cap) return io_error(path + " changed while it was read");
  return out;
}

Status write_file_atomic(const std::string& path, std::string_view bytes) {
  std::error_code ec;
  fs::path p(path);
  fs::create_directories(p.parent_path(), ec);
  if (ec) return io_error("cannot create directory " + p.parent_path().string() + ": " + ec.message());
  static std::atomic<uint64_t> counter{0};
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot create " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return io_error("cannot write " + path + ": " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return io_error("cannot write " + path + ": " + std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return io_error("cannot rename " + tmp + " to " + path + ": " + std::strerror(err));
  }
  return Status::ok();
}

bool is_remote_url(const std::string& url) {
  const std::string s = scheme_of(url);
  return s == "http" || s == "https" || s == "dav" || s == "davs" || s == "s3";
}

namespace {

struct IoCounters {
  std::atomic<uint64_t> read_bytes{0}, written_bytes{0}, requests{0};
};

std::mutex io_counters_mu;
std::map<std::string, std::shared_ptr<IoCounters>>& io_counters() {  // guarded by io_counters_mu
  static auto* counters = new std::map<std::string, std::shared_ptr<IoCounters>>();
  return *counters;
}

// The counters' name for the store at `url`: its scheme and authority, or "file".
std::string io_label(const std::string& url) {
  const size_t sep = url.find("://");
  if (sep == std::string::npos || url.compare(0, sep, "file") == 0) return "file";
  const size_t end = url.find('/', sep + 3);
  return url.substr(0, end);
}

// A store that counts the bytes through another.
class CountingStore final : public Store {
 public:
  CountingStore(std::shared_ptr<Store> inner, std::shared_ptr<IoCounters> counters)
      : inner_(std::move(inner)), counters_(std::move(counters)) {}
  std::string url() const override { return inner_->url(); }
  Result<Bytes> get(const std::string& key) override { return counted(inner_->get(key)); }
  Result<Bytes> get_range(const std::string& key, uint64_t offset, uint64_t length) override {
    return counted(inner_->get_range(key, offset, length));
  }
  Result<Bytes> get_suffix(const std::string& key, uint64_t length) override {
    return counted(inner_->get_suffix(key, length));
  }
  Status put(const std::string& key, std::string_view bytes) override {
    Status st = inner_->put(key, bytes);
    counters_->requests.fetch_add(1, std::memory_order_relaxed);
    if (st.is_ok()) counters_->written_bytes.fetch_add(bytes.size(), std::memory_order_relaxed);
    return st;
  }
  Status remove(const std::string& key) override { return inner_->remove(key); }
  Result<std::vector<Entry>> list(const std::string& prefix) override { return inner_->list(prefix); }
  Result<bool> exists(const std::string& key) override { return inner_->exists(key); }
  Result<bool> is_dir(const std::string& key) override { return inner_->is_dir(key); }

 private:
  Result<Bytes> counted(Result<Bytes> r) {
    counters_->requests.fetch_add(1, std::memory_order_relaxed);
    if (r.ok()) counters_->read_bytes.fetch_add(r->size, std::memory_order_relaxed);
    return r;
  }
  std::shared_ptr<Store> inner_;
  std::shared_ptr<IoCounters> counters_;
};

Result<std::shared_ptr<Store>> open_uncounted(const std::string& url);

}  // namespace

Result<std::shared_ptr<Store>> open_store(const std::string& url) {
  RSDAT_ASSIGN_OR_RETURN(std::shared_ptr<Store> inner, open_uncounted(url));
  std::shared_ptr<IoCounters> counters;
  {
    std::lock_guard lock(io_counters_mu);
    auto& c = io_counters()[io_label(url)];
    if (!c) c = std::make_shared<IoCounters>();
    counters = c;
  }
  return std::shared_ptr<Store>(std::make_shared<CountingStore>(std::move(inner), std::move(counters)));
}

std::shared_ptr<Store> open_store_or_throw(const std::string& url) {
  auto st = open_store(url);
  if (!st.ok()) throw std::runtime_error(st.status().message());
  return std::move(st).value();
}

std::vector<StoreIoCount> store_io_counts() {
  std::lock_guard lock(io_counters_mu);
  std::vector<StoreIoCount> out;
  for (const auto& [label, c] : io_counters()) {
    out.push_back({label, c->read_bytes.load(std::memory_order_relaxed), c->written_bytes.load(std::memory_order_relaxed),
                   c->requests.load(std::memory_order_relaxed)});
  }
  return out;
}

namespace {

Result<std::shared_ptr<Store>> open_uncounted(const std::string& url) {
  const std::string scheme = scheme_of(url);
  if (scheme.empty()) {
    if (url.empty()) return invalid_argument("empty store URL");
    return std::shared_ptr<Store>(std::make_shared<LocalStore>(url));
  }
  if (scheme == "file") {
    std::string rest = url.substr(7);
    if (rest.empty() || rest.front() != '/') {
      return invalid_argument("store URL " + url + ": a file URL names an absolute path (file:///path)");
    }
    return std::shared_ptr<Store>(std::make_shared<LocalStore>(url_decode(rest)));
  }
  if (scheme == "s3") {
    RSDAT_ASSIGN_OR_RETURN(S3Url u, parse_s3_url(url));
    RSDAT_ASSIGN_OR_RETURN(S3Config c, resolve_s3_config(url));
    return make_s3_store(std::move(u), std::move(c));
  }
  if (is_remote_url(url)) {
    RSDAT_ASSIGN_OR_RETURN(HttpUrl u, parse_http_url(url));
    RSDAT_ASSIGN_OR_RETURN(Credentials c, resolve_credentials(url));
    return make_http_store(std::move(u), std::move(c));
  }
  return invalid_argument("store URL " + url + ": unknown scheme '" + scheme +
                          "' (rsdat reads a directory, file://, http(s)://, dav(s):// and s3://)");
}

}  // namespace

Result<std::string> join_url(const std::string& base, const std::string& key) {
  RSDAT_RETURN_IF_ERROR(check_key(key, base));
  if (key.empty() || key == ".") return base;
  std::string k = key;
  while (!k.empty() && k.back() == '/') k.pop_back();
  if (scheme_of(base).empty()) return (fs::path(base) / k).lexically_normal().string();
  std::string b = base;
  while (!b.empty() && b.back() == '/') b.pop_back();
  // Collapse "./" and empty names, which a URL path would keep.
  std::string joined;
  size_t start = 0;
  while (start <= k.size()) {
    size_t end = k.find('/', start);
    if (end == std::string::npos) end = k.size();
    std::string part = k.substr(start, end - start);
    if (!part.empty() && part != ".") joined += "/" + part;
    start = end + 1;
  }
  return b + joined;
}

std::pair<std::string, std::string> split_store_arg(const std::string& arg) {
  size_t from = 0;
  if (!scheme_of(arg).empty()) {
    // Past "scheme://authority": the colons of the scheme and the port are not it.
    size_t authority = arg.find("://") + 3;
    size_t slash = arg.find('/', authority);
    if (slash == std::string::npos) return {arg, ""};
    from = slash;
  }
  auto colon = arg.rfind(':');
  if (colon == std::string::npos || colon < from) return {arg, ""};
  return {arg.substr(0, colon), arg.substr(colon + 1)};
}

std::string HttpUrl::origin() const {
  return scheme + "://" + host + (port ? ":" + std::to_string(port) : "");
}

Result<HttpUrl> parse_http_url(const std::string& url) {
  const std::string scheme = scheme_of(url);
  HttpUrl u;
  if (scheme == "http" || scheme == "dav") {
    u.scheme = "http";
  } else if (scheme == "https" || scheme == "davs") {
    u.scheme = "https";
  } else {
    return invalid_argument("not an http(s) or dav(s) URL: " + url);
  }
  const size_t start = url.find("://") + 3;
  size_t end = url.find_first_of("/?#", start);
  std::string authority = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  if (authority.find('@') != std::string::npos) {
    // Not echoing the URL: what precedes '@' is a password.
    return invalid_argument("a store URL of " + u.scheme + "://" + authority.substr(authority.find('@') + 1) +
                            " holds user:password; put credentials in RSDAT_BEARER_TOKEN or ~/.rsdat/stores.json");
  }
  if (authority.empty()) return invalid_argument("store URL " + url + " names no host");
  size_t colon = authority.rfind(':');
  size_t bracket = authority.rfind(']');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    const std::string port = authority.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) == 0 || std::stoi(port) > 65535) {
      return invalid_argument("store URL " + url + ": bad port '" + port + "'");
    }
    u.port = std::stoi(port);
    authority.resize(colon);
  }
  if (authority.empty()) return invalid_argument("store URL " + url + " names no host");
  u.host = lower(authority);
  u.path = end == std::string::npos ? "/" : url.substr(end);
  if (u.path.front() != '/' || u.path.find_first_of("?#") != std::string::npos) {
    // Not echoing it: a query may hold a credential (a macaroon, a signature).
    return invalid_argument("store URL " + u.origin() + "/...: a query or fragment is not part of a store URL");
  }
  while (u.path.size() > 1 && u.path.back() == '/') u.path.pop_back();
  return u;
}

std::string url_encode_path(std::string_view key) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : key) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string url_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

Result<std::string> stores_config_entry(const std::string& url, const std::string& config_path, std::string* prefix) {
  if (config_path.empty()) return std::string();
  struct stat st {};
  if (::stat(config_path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::string();
    return io_error("cannot read " + config_path + ": " + std::strerror(errno));
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return invalid_argument(config_path + " may be read by others (mode " + mode +
                            "): it holds credentials; chmod 600 it");
  }
  std::ifstream in(config_path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  if (!in.good() && !in.eof()) return io_error("cannot read " + config_path);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception&) {
    // The parser's message may quote the file, tokens included.
    return invalid_argument(config_path + ": not valid JSON");
  }
  if (!j.is_object()) return invalid_argument(config_path + ": not a JSON object of URL prefixes");
  const std::string target = canonical_url(url);
  std::string best;
  const json* entry = nullptr;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string p = canonical_url(it.key());
    if (!prefix_matches(p, target) || p.size() < best.size()) continue;
    if (!it.value().is_object()) return invalid_argument(config_path + ": the entry for " + it.key() + " is not an object");
    best = p;
    entry = &it.value();
  }
  if (!entry) return std::string();
  if (prefix) *prefix = best;
  return entry->dump();
}

Result<Credentials> resolve_credentials(const std::string& url, const std::string& config_path,
                                        const std::string& env_token, const std::string& env_token_file) {
  Credentials out;
  std::string best;
  RSDAT_ASSIGN_OR_RETURN(std::string entry_text, stores_config_entry(url, config_path, &best));
  if (!entry_text.empty()) {
    const json parsed = json::parse(entry_text);
    const json* entry = &parsed;
    if (entry->contains("bearer_token")) {
      if (!(*entry)["bearer_token"].is_string()) {
        return invalid_argument(config_path + ": bearer_token of " + best + " is not a string");
      }
      out.bearer_token = trim((*entry)["bearer_token"].get<std::string>());
    }
    if (entry->contains("headers")) {
      const json& h = (*entry)["headers"];
      if (!h.is_object()) return invalid_argument(config_path + ": headers of " + best + " is not an object");
      for (auto it = h.begin(); it != h.end(); ++it) {
        if (!it.value().is_string()) return invalid_argument(config_path + ": header " + it.key() + " of " + best + " is not a string");
        const std::string name = it.key(), value = it.value().get<std::string>();
        if (name.empty() || name.find_first_of(":\r\n ") != std::string::npos || value.find_first_of("\r\n") != std::string::npos) {
          return invalid_argument(config_path + ": malformed header name or value for " + best);
        }
        out.headers[name] = value;
      }
    }
    return out;
  }
  if (!env_token.empty()) {
    out.bearer_token = trim(env_token);
  } else if (!env_token_file.empty()) {
    std::ifstream in(env_token_file, std::ios::binary);
    if (!in) return invalid_argument("cannot read RSDAT_BEARER_TOKEN_FILE " + env_token_file);
    out.bearer_token = trim(std::string((std::istreambuf_iterator<char>(in)), {}));
  }
  if (out.bearer_token.find_first_of("\r\n") != std::string::npos) {
    return invalid_argument("the bearer token holds a line break");
  }
  return out;
}

Result<Credentials> resolve_credentials(const std::string& url) {
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v ? v : "";
  };
  std::string config = env("RSDAT_STORES_CONFIG");
  if (config.empty() && !env("HOME").empty()) config = env("HOME") + "/.rsdat/stores.json";
  return resolve_credentials(url, config, env("RSDAT_BEARER_TOKEN"), env("RSDAT_BEARER_TOKEN_FILE"));
}

Result<std::vector<DavResponse>> parse_multistatus(std::string_view doc) {
  std::vector<DavResponse> out;
  bool seen_multistatus = false;
  // The elements of a response are told by their parents: an href directly in the
  // response, a collection directly in its resourcetype.
  auto parent_is = [](const xml::Path& path, const char* name) { return path.size() >= 2 && path[path.size() - 2] == name; };
  auto in_response = [](const xml::Path& path) { return std::find(path.begin(), path.end(), "response") != path.end(); };
  Status st = xml::walk(doc, {
      .open = [&](const xml::Path& path) {
        const std::string& name = path.back();
        if (name == "multistatus") seen_multistatus = true;
        if (name == "response") out.emplace_back();
        if (name == "collection" && parent_is(path, "resourcetype") && in_response(path)) out.back().is_collection = true;
      },
      .close = [&](const xml::Path& path, std::string text) {
        if (path.back() != "href" || !parent_is(path, "response")) return;
        std::string href = trim(text);
        if (auto p = href.find("://"); p != std::string::npos) {
          auto slash = href.find('/', p + 3);
          href = slash == std::string::npos ? "/" : href.substr(slash);
        }
        out.back().href = url_decode(href);
      }});
  if (!st.is_ok()) return st.with_context("PROPFIND answer");
  if (!seen_multistatus) return protocol_error("PROPFIND answer is not a WebDAV multistatus document");
  return out;
}

const HttpLimits& http_limits() {
  static const HttpLimits limits = [] {
    HttpLimits l;
    auto number = [](const char* name, double fallback, double lo, double hi) {
      const char* v = std::getenv(name);
      if (!v || !*v) return fallback;
      char* end = nullptr;
      double d = std::strtod(v, &end);
      if (end == v || *end != '\0' || !(d >= lo && d <= hi)) {
        std::fprintf(stderr, "rsdat: ignoring %s=%s (want a number in %g..%g)\n", name, v, lo, hi);
        return fallback;
      }
      return d;
    };
    l.concurrency = static_cast<int>(number("RSDAT_STORE_CONCURRENCY", l.concurrency, 1, 4096));
    l.attempts = static_cast<int>(number("RSDAT_STORE_ATTEMPTS", l.attempts, 1, 100));
    l.connect_timeout = number("RSDAT_STORE_CONNECT_TIMEOUT", l.connect_timeout, 0.001, 3600);
    l.timeout = number("RSDAT_STORE_TIMEOUT", l.timeout, 0.001, 86400);
    l.backoff_ms = number("RSDAT_STORE_BACKOFF_MS", l.backoff_ms, 0, 60000);
    if (const char* v = std::getenv("RSDAT_STORE_CA_FILE")) l.ca_file = v;
    if (const char* v = std::getenv("RSDAT_STORE_CA_PATH")) l.ca_path = v;
    return l;
  }();
  return limits;
}

bool http_status_retryable(long status) { return status == 429 || (status >= 500 && status <= 599); }

double backoff_ms(int attempt, double base_ms, double unit) {
  const double cap = std::min(10000.0, base_ms * std::pow(2.0, std::max(attempt - 1, 0)));
  return unit * cap;
}

}  // namespace rsdat::store
