#include "io/http_store.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace rsdat::store {
namespace {

std::atomic<uint64_t> g_requests{0}, g_retries{0}, g_connections{0};
std::atomic<int> g_max_in_flight{0};

// The process's easy handles, kept per origin so each keeps its connection alive for
// the next request to the same host, and the bound on requests in flight.
// Thread-safe.
class HandlePool {
 public:
  static HandlePool& instance() {
    static HandlePool* pool = new HandlePool();  // never destroyed: tasks may run at exit
    return *pool;
  }

  CURL* acquire(const std::string& origin) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return in_flight_ < http_limits().concurrency; });
    ++in_flight_;
    if (in_flight_ > g_max_in_flight.load(std::memory_order_relaxed)) g_max_in_flight.store(in_flight_);
    auto& idle = idle_[origin];
    if (!idle.empty()) {
      CURL* h = idle.back();
      idle.pop_back();
      return h;
    }
    lock.unlock();
    CURL* h = curl_easy_init();
    if (!h) {
      release(origin, nullptr);
      return nullptr;
    }
    return h;
  }

  // Returns `h` (nullptr: none) for reuse, or closes it when enough are idle.
  void release(const std::string& origin, CURL* h) {
    CURL* close = nullptr;
    {
      std::lock_guard lock(mu_);
      --in_flight_;
      if (h) {
        curl_easy_reset(h);  // keeps the live connection, the DNS and TLS session caches
        auto& idle = idle_[origin];
        if (static_cast<int>(idle.size()) < http_limits().concurrency) {
          idle.push_back(h);
        } else {
          close = h;
        }
      }
    }
    cv_.notify_one();
    if (close) curl_easy_cleanup(close);
  }

 private:
  HandlePool() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  std::mutex mu_;
  std::condition_variable cv_;
  int in_flight_ = 0;                                // guarded by mu_
  std::map<std::string, std::vector<CURL*>> idle_;   // guarded by mu_
};

}  // namespace

const char* http_reason(long status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 416: return "Range Not Satisfiable";
    case 423: return "Locked";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 507: return "Insufficient Storage";
    default: return "";
  }
}

namespace {

bool curl_retryable(CURLcode c) {
  switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
      return true;
    default:
      return false;
  }
}

using Request = HttpRequest;
using Response = HttpResponse;

// What a transfer writes into and reads from. Lives on the requesting thread's stack.
struct Transfer {
  CURL* handle = nullptr;
  Bytes body;
  bool sized = false;
  std::string_view upload;
  size_t upload_at = 0;
  bool overflow = false;
};

size_t on_write(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  if (!t->sized) {
    t->sized = true;
    curl_off_t expected = -1;
    curl_easy_getinfo(t->handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &expected);
    if (expected > static_cast<curl_off_t>(1ull << 34)) {
      t->overflow = true;
      return 0;
    }
    t->body.buffer = Buffer::allocate(std::max<size_t>(expected > 0 ? static_cast<size_t>(expected) : 0, std::max<size_t>(len, 64 * 1024)));
    t->body.size = 0;
  }
  if (t->body.size + len > t->body.buffer->size()) {
    if (t->body.size + len > (1ull << 34)) {
      t->overflow = true;
      return 0;
    }
    auto bigger = Buffer::allocate(std::max(t->body.buffer->size() * 2, t->body.size + len));
    std::memcpy(bigger->data(), t->body.buffer->data(), t->body.size);
    t->body.buffer = std::move(bigger);
  }
  std::memcpy(t->body.buffer->data() + t->body.size, data, len);
  t->body.size += len;
  return len;
}

size_t on_read(char* out, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = std::min(size * n, t->upload.size() - t->upload_at);
  std::memcpy(out, t->upload.data() + t->upload_at, len);
  t->upload_at += len;
  return len;
}

int on_seek(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > t->upload.size()) return CURL_SEEKFUNC_CANTSEEK;
  t->upload_at = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

double jitter_unit() {
  thread_local std::mt19937_64 rng(std::random_device{}() ^ std::hash<std::thread::id>{}(std::this_thread::get_id()));
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// An HTTP(S) server holding a store under one path. Thread-safe: every request
// borrows an easy handle of the process-wide pool.
class HttpStore final : public Store {
 public:
  HttpStore(HttpUrl url, Credentials credentials) : url_(std::move(url)) {
    // The credentials become headers here and are kept nowhere else.
    if (!credentials.bearer_token.empty()) auth_.headers.push_back("Authorization: Bearer " + credentials.bearer_token);
    for (const auto& [name, value] : credentials.headers) auth_.headers.push_back(name + ": " + value);
    auth_.headers.push_back("Expect:");  // no 100-continue round trip before each PUT
  }

  std::string url() const override { return url_.origin() + (url_.path == "/" ? "" : url_.path); }

  Result<Bytes> get(const std::string& key) override {
    RSDAT_ASSIGN_OR_RETURN(std::string u, object_url(key));
    Request req{.method = "GET", .url = u};
    RSDAT_ASSIGN_OR_RETURN(Response r, perform(req));
    if (r.status == 200) return std::move(r.body);
    if (r.status == 404 || r.status == 410) return not_found(u + " not found");
    return failure(req, r);
  }

  Result<Bytes> get_range(const std::string& key, uint64_t offset, uint64_t length) override {
    RSDAT_ASSIGN_OR_RETURN(std::string u, object_url(key));
    if (length == 0) return Bytes{Buffer::allocate(1), 0};
    const uint64_t last = length > UINT64_MAX - offset ? UINT64_MAX - 1 : offset + length - 1;
    Request req{.method = "GET", .url = u, .range = std::to_string(offset) + "-" + std::to_string(last)};
    RSDAT_ASSIGN_OR_RETURN(Response r, perform(req));
    if (r.status == 206) return std::move(r.body);
    if (r.status == 416) return Bytes{Buffer::allocate(1), 0};  // starts past the end
    if (r.status == 200) {
      // A server that ignores Range sends the whole object: cut the part out.
      const size_t begin = std::min<uint64_t>(offset, r.body.size);
      const size_t n = std::min<uint64_t>(length, r.body.size - begin);
      Bytes part{Buffer::allocate(std::max<size_t>(n, 1)), n};
      if (n) std::memcpy(part.buffer->data(), r.body.buffer->data() + begin, n);
      return part;
    }
    if (r.status == 404 || r.status == 410) return not_found(u + " not found");
    return failure(req, r);
  }

  Result<Bytes> get_suffix(const std::string& key, uint64_t length) override {
    RSDAT_ASSIGN_OR_RETURN(std::string u, object_url(key));
    if (length == 0) return Bytes{Buffer::allocate(1), 0};
    Request req{.method = "GET", .url = u, .range = "-" + std::to_string(length)};
    RSDAT_ASSIGN_OR_RETURN(Response r, perform(req));
    if (r.status == 206) return std::move(r.body);
    if (r.status == 416) return Bytes{Buffer::allocate(1), 0};  // an empty object
    if (r.status == 200) {
      // A server that ignores Range sends the whole object: keep its end.
      const size_t n = static_cast<size_t>(std::min<uint64_t>(length, r.body.size));
      Bytes part{Buffer::allocate(std::max<size_t>(n, 1)), n};
      if (n) std::memcpy(part.buffer->data(), r.body.buffer->data() + r.body.size - n, n);
      return part;
    }
    if (r.status == 404 || r.status == 410) return not_found(u + " not found");
    return failure(req, r);
  }

  Status put(const std::string& key, std::string_view bytes) override {
    RSDAT_ASSIGN_OR_RETURN(std::string u, object_url(key));
    Request req{.method = "PUT", .url = u, .upload = &bytes};
    RSDAT_ASSIGN_OR_RETURN(Response r, perform(req));
    if (r.status == 409 || r.status == 404) {
      // The parent collection is missing (RFC 4918 9.7.1): make it and try once more.
      RSDAT_RETURN_IF_ERROR(make_parents(key));
      RSDAT_ASSIGN_OR_RETURN(r, perform(req));
    }
    if (r.status == 200 || r.status == 201 || r.status == 204) return Status::ok();
    return failure(req, r);
  }

  Status remove(const std::string& key) override {
    RSDAT_ASSIGN_OR_RETURN(std::string u, object_url(key));
    Request req{.method = "DELETE", .url = u};
    RSDAT_ASSIGN_OR_RETURN(Response r, perform(req));
    if (r.status == 200 || r.status == 202 || r.status == 204 || r.status == 404 || r.status == 410) return Status::ok();
    return failure(req, r);
  }

  Result<std::vector<Entry>> list(const std::string& prefix) override {
    RSDAT_ASSIGN_OR_RETURN(std::string u, object_url(prefix));
    RSDAT_ASSIGN_OR_RETURN(auto found, propfind(u, "1"));
    if (!found) return not_found(u + " is not a WebDAV collection (not found)");
    const std::string self = strip_slash(url_decode(path_of(u)));
    std::vector<Entry> out;
    bool saw_self = false;
    for (const DavResponse& d : *found) {
      const std::string href = strip_slash(d.href);
      if (href == self) {
        saw_self = d.is_collection;
        continue;
      }
      if (href.size() <= self.size() + 1 || href.compare(0, self.size(), self) != 0 || href[self.size()] != '/') continue;
      std::string name = href.substr(self.size() + 1);
      if (name.find('/') != std::string::npos) continue;  // not a direct child
      out.push_back({name, d.is_collection});
    }
    if (!saw_self && out.empty()) return not_found(u + " is not a WebDAV collection");
    std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
    return out;
  }

  Result<bool> exists(const std::string& key) override {
    RSDAT_ASSIGN_OR_RETURN(std::string u, object_url(key));
    Request req{.method = "HEAD", .url = u};
    RSDAT_ASSIGN_OR_RETURN(Response r, perform(req));
    // A collection answers with a redirect to its URL with a '/' (followed): not an object.
    if (r.status == 200) return !(r.effective_url.size() > u.size() && r.effective_url.back() == '/');
    if (r.status == 404 || r.status == 410) return false;
    if (r.status == 301 || r.status == 302 || r.status == 307 || r.status == 308) return false;  // a collection
    return failure(req, r);
  }

  Result<bool> is_dir(const std::string& key) override {
    RSDAT_ASSIGN_OR_RETURN(std::string u, object_url(key));
    RSDAT_ASSIGN_OR_RETURN(auto found, propfind(u, "0"));
    if (!found || found->empty()) return false;
    return found->front().is_collection;
  }

 private:
  static std::string strip_slash(std::string s) {
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
  }
  std::string path_of(const std::string& u) const { return u.substr(url_.origin().size()); }

  Result<std::string> object_url(const std::string& key) const {
    RSDAT_ASSIGN_OR_RETURN(std::string joined, join_url(url(), key));
    const std::string origin = url_.origin();
    return origin + url_encode_path(url_decode(joined.substr(origin.size())));
  }

  // The responses of a PROPFIND of `u` at `depth`; nullopt when there is nothing there.
  Result<std::optional<std::vector<DavResponse>>> propfind(const std::string& u, const char* depth) {
    static constexpr std::string_view kBody =
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
        "<D:propfind xmlns:D=\"DAV:\"><D:prop><D:resourcetype/></D:prop></D:propfind>";
    // No trailing '/': lighttpd, Apache and dCache answer for a collection without it,
    // and lighttpd refuses "FILE/" with 403.
    Request req{.method = "PROPFIND", .url = u, .post = kBody};
    req.headers = {std::string("Depth: ") + depth, "Content-Type: application/xml; charset=utf-8"};
    RSDAT_ASSIGN_OR_RETURN(Response r, perform(req));
    if (r.status == 404 || r.status == 410) return std::optional<std::vector<DavResponse>>();
    if (r.status != 207) return failure(req, r);
    auto parsed = parse_multistatus(r.body.view());
    if (!parsed.ok()) return parsed.status().with_context("PROPFIND " + req.url);
    return std::optional<std::vector<DavResponse>>(std::move(parsed).value());
  }

  // MKCOL of every collection from the store's root down to `key`'s parent.
  Status make_parents(const std::string& key) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
      size_t slash = key.find('/', start);
      if (slash == std::string::npos) break;
      if (slash > start) parts.push_back(key.substr(0, slash));
      start = slash + 1;
    }
    // The root itself first (a store written to a fresh URL), then each level.
    std::vector<std::string> dirs{""};
    dirs.insert(dirs.end(), parts.begin(), parts.end());
    for (const std::string& d : dirs) {
      RSDAT_ASSIGN_OR_RETURN(std::string u, object_url(d));
      if (d.empty() && url_.path == "/") continue;
      Request req{.method = "MKCOL", .url = u + "/"};
      RSDAT_ASSIGN_OR_RETURN(Response r, perform(req));
      if (r.status == 201 || r.status == 200 || r.status == 204 || r.status == 405 || r.status == 301) continue;
      if (r.status == 409 && d.empty()) {
        // The store's own parent is missing too: make its ancestors from the top.
        RSDAT_RETURN_IF_ERROR(make_root_ancestors());
        RSDAT_ASSIGN_OR_RETURN(r, perform(req));
        if (r.status == 201 || r.status == 405) continue;
      }
      return failure(req, r);
    }
    return Status::ok();
  }

  Status make_root_ancestors() {
    std::string at;
    const std::string& p = url_.path;
    size_t start = 1;
    while (true) {
      size_t slash = p.find('/', start);
      if (slash == std::string::npos) break;
      at = p.substr(0, slash);
      Request req{.method = "MKCOL", .url = url_.origin() + at + "/"};
      RSDAT_ASSIGN_OR_RETURN(Response r, perform(req));
      if (r.status != 201 && r.status != 405 && r.status != 200 && r.status != 301) return failure(req, r);
      start = slash + 1;
    }
    return Status::ok();
  }

  Status failure(const Request& req, const Response& r) const {
    std::string msg = std::string(req.method) + " " + req.url + ": HTTP " + std::to_string(r.status);
    if (*http_reason(r.status)) msg += std::string(" ") + http_reason(r.status);
    if (r.status == 401 || r.status == 403) {
      msg += " from " + url_.origin() + " (check RSDAT_BEARER_TOKEN, RSDAT_BEARER_TOKEN_FILE or ~/.rsdat/stores.json)";
    }
    if (r.attempts > 1) msg += " after " + std::to_string(r.attempts) + " attempts";
    if (http_status_retryable(r.status)) return unavailable(msg);
    if (r.status == 404) return not_found(msg);
    return io_error(msg);
  }

  Result<Response> perform(const Request& req) { return http_perform(url_.origin(), req, auth_); }

  const HttpUrl url_;
  HttpAuth auth_;  // const after construction
};

}  // namespace

// One request, retried on connection errors, 429 and 5xx; the last answer is
// returned whatever its status, a transport failure after the last attempt as an
// error naming the URL.
Result<HttpResponse> http_perform(const std::string& origin, const HttpRequest& req, const HttpAuth& auth) {
  const HttpLimits& lim = http_limits();
  Response resp;
  std::string last_error;
  for (int attempt = 1; attempt <= lim.attempts; ++attempt) {
    if (attempt > 1) {
      g_retries.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(backoff_ms(attempt - 1, lim.backoff_ms, jitter_unit())));
    }
    resp = Response{.attempts = attempt};
    CURL* h = HandlePool::instance().acquire(origin);
    if (!h) return internal_error("curl_easy_init failed");
    Transfer t{.handle = h};
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_slist* headers = nullptr;
    for (const auto& x : auth.headers) headers = curl_slist_append(headers, x.c_str());
    for (const auto& x : req.headers) headers = curl_slist_append(headers, x.c_str());
    curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(lim.connect_timeout * 1000));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(lim.timeout * 1000));
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    // Chunks are megabytes: receive them in large pieces, not curl's default 16 KiB per
    // read (remote_zarr_mean: about a tenth less time on loopback).
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 1L << 20);
    // HTTP/1.1 with kept-alive connections: what WebDAV storage speaks. Over TLS curl
    // would offer HTTP/2, where a server's early answer to a PUT (409: no parent
    // collection) resets the stream mid-upload.
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    if (!lim.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, lim.ca_file.c_str());
    if (!lim.ca_path.empty()) curl_easy_setopt(h, CURLOPT_CAPATH, lim.ca_path.c_str());
    // Storage systems (dCache) redirect reads and writes to the node holding the
    // data; curl drops the Authorization header when the redirect leaves the host.
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, auth.follow_redirects ? 1L : 0L);
    if (!auth.aws_sigv4.empty()) {
      curl_easy_setopt(h, CURLOPT_AWS_SIGV4, auth.aws_sigv4.c_str());
      curl_easy_setopt(h, CURLOPT_USERPWD, auth.userpwd.c_str());
    }
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    if (std::strcmp(req.method, "HEAD") == 0) {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (std::strcmp(req.method, "PUT") == 0) {
      t.upload = *req.upload;
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
      curl_easy_setopt(h, CURLOPT_READDATA, &t);
      curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
      curl_easy_setopt(h, CURLOPT_SEEKDATA, &t);
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(t.upload.size()));
    } else if (!req.post.empty()) {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.post.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.post.size()));
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method);
    } else if (std::strcmp(req.method, "GET") != 0) {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method);
    }
    if (!req.range.empty()) curl_easy_setopt(h, CURLOPT_RANGE, req.range.c_str());
    g_requests.fetch_add(1, std::memory_order_relaxed);
    CURLcode rc = curl_easy_perform(h);
    long connects = 0;
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
    g_connections.fetch_add(static_cast<uint64_t>(connects), std::memory_order_relaxed);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
    if (curl_off_t length = -1; curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK) {
      resp.content_length = static_cast<int64_t>(length);
    }
    if (char* eff = nullptr; curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff) resp.effective_url = eff;
    curl_slist_free_all(headers);
    // A handle whose transfer broke may hold a broken connection: close it.
    HandlePool::instance().release(origin, rc == CURLE_OK ? h : nullptr);
    if (rc != CURLE_OK) curl_easy_cleanup(h);
    if (t.overflow) return io_error(std::string(req.method) + " " + req.url + ": the answer is larger than any chunk can be");
    if (rc != CURLE_OK) {
      last_error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
      if (curl_retryable(rc) && attempt < lim.attempts) continue;
      std::string msg = std::string(req.method) + " " + req.url + ": " + last_error;
      if (attempt > 1) msg += " (after " + std::to_string(attempt) + " attempts)";
      return curl_retryable(rc) ? unavailable(msg) : io_error(msg);
    }
    if (http_status_retryable(resp.status) && attempt < lim.attempts) continue;
    if (!t.body.buffer) t.body.buffer = Buffer::allocate(1);
    resp.body = std::move(t.body);
    return resp;
  }
  return resp;  // not reached: the last attempt returns above
}

Result<HttpResponse> http_fetch(const std::string& method, const std::string& url, std::string_view body,
                                const std::vector<std::string>& headers) {
  // The query is not part of a store URL: parse without it, send it as it is.
  const size_t authority = url.find("://");
  const size_t q = url.find_first_of("?#", authority == std::string::npos ? 0 : authority + 3);
  std::string query = q == std::string::npos ? "" : url.substr(q);
  if (auto hash = query.find('#'); hash != std::string::npos) query.resize(hash);
  const std::string base = url.substr(0, q);
  RSDAT_ASSIGN_OR_RETURN(HttpUrl u, parse_http_url(base));
  RSDAT_ASSIGN_OR_RETURN(Credentials c, resolve_credentials(base));
  HttpAuth auth;
  if (!c.bearer_token.empty()) auth.headers.push_back("Authorization: Bearer " + c.bearer_token);
  for (const auto& [name, value] : c.headers) auth.headers.push_back(name + ": " + value);
  auth.headers.push_back("Expect:");
  HttpRequest req{.method = method.c_str(), .url = u.origin() + u.path + query, .headers = headers, .post = body};
  return http_perform(u.origin(), req, auth);
}

std::shared_ptr<Store> make_http_store(HttpUrl url, Credentials credentials) {
  return std::make_shared<HttpStore>(std::move(url), std::move(credentials));
}

HttpStats http_stats() {
  return HttpStats{g_requests.load(), g_retries.load(), g_connections.load(), g_max_in_flight.load()};
}

}  // namespace rsdat::store
