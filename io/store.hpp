// Stores: named byte ranges under one root, chosen by URL.
//
//   RSDAT_ASSIGN_OR_RETURN(auto store, store::open_store("dav://dcache.example.org/home/me/s2.zarr"));
//   RSDAT_ASSIGN_OR_RETURN(Bytes b, store->get("B04/.zarray"));
//   RSDAT_RETURN_IF_ERROR(store->put("out/.zgroup", "{\"zarr_format\": 2}"));
//
// A key is a relative path of '/'-separated names under the store's root ("B04/0.0");
// it may not be absolute or hold "..". Every format reads and writes through this
// interface, on the process that needs the bytes (a worker runs its own requests).
//
// URLs:
//   /path, relative/path, file:///path   a local (or shared) directory
//   http://host[:port]/path, https://...  HTTP(S), WebDAV for writing and listing
//   dav://..., davs://...                 the same as http:// and https://
//   s3://bucket[/prefix]                  an S3 bucket (AWS or any S3 endpoint), keys under
//                                         prefix; io/s3_store.hpp says how it is reached
//
// HTTP(S) and S3 stores: one process-wide pool of keep-alive connections per host, shared by
// every task of the process; at most RSDAT_STORE_CONCURRENCY requests in flight per
// process (default 16); connect timeout RSDAT_STORE_CONNECT_TIMEOUT seconds (10) and
// total timeout per request RSDAT_STORE_TIMEOUT (300); connection errors, 429 and 5xx
// are retried with exponential backoff and full jitter (first pause
// RSDAT_STORE_BACKOFF_MS, 200 ms, doubling, at most 10 s) up to RSDAT_STORE_ATTEMPTS
// attempts (5). HTTPS servers are verified against the system's certificates, or
// RSDAT_STORE_CA_FILE / RSDAT_STORE_CA_PATH when set. Credentials are resolved when a store is opened, by the process that
// opens it (resolve_credentials below); they never appear in a URL, an error message
// or a log line.
//
// Thread-safety: a Store is thread-safe; open_store is thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/chunk.hpp"
#include "core/status.hpp"

namespace rsdat::store {

// Bytes read from a store: a buffer (pooled) and how much of it is used.
struct Bytes {
  std::shared_ptr<Buffer> buffer;
  size_t size = 0;
  std::string_view view() const { return {reinterpret_cast<const char*>(buffer ? buffer->data() : nullptr), size}; }
};

// One entry of a listing: a name directly under the listed prefix.
struct Entry {
  std::string name;
  bool is_dir = false;  // a directory (WebDAV: a collection)
  bool operator==(const Entry&) const = default;
};

class Store {
 public:
  virtual ~Store() = default;
  // The store's URL without credentials (for messages).
  virtual std::string url() const = 0;
  // The whole object. kNotFound when there is none.
  virtual Result<Bytes> get(const std::string& key) = 0;
  // `length` bytes from `offset` (fewer at the object's end). kNotFound when the object
  // does not exist.
  virtual Result<Bytes> get_range(const std::string& key, uint64_t offset, uint64_t length) = 0;
  // The last `length` bytes of the object (all of it when it is shorter): one ranged
  // request where the store can (a shard index at the end of its object). kNotFound
  // when the object does not exist. The default reads the whole object.
  virtual Result<Bytes> get_suffix(const std::string& key, uint64_t length);
  // Replaces the object atomically: a reader sees the old bytes or the new, never a
  // part (local: a temporary file renamed into place; HTTP: one PUT of the whole
  // object). Missing parent directories (collections) are made.
  virtual Status put(const std::string& key, std::string_view bytes) = 0;
  // Removes the object, or the directory and everything under it. A missing key is ok.
  virtual Status remove(const std::string& key) = 0;
  // The names directly under `prefix` (a directory key; "" is the root), sorted.
  // kNotFound when the prefix is not a directory.
  virtual Result<std::vector<Entry>> list(const std::string& prefix) = 0;
  // Whether an object (not a directory) exists at `key`.
  virtual Result<bool> exists(const std::string& key) = 0;
  // Whether `key` is a directory (a collection). Stores without directories say false.
  virtual Result<bool> is_dir(const std::string& key) = 0;
};

// The store at `url` (see the kinds above). An http(s)/dav(s) URL resolves its
// credentials here. kInvalidArgument for an unknown scheme or a malformed URL; nothing
// is contacted yet.
Result<std::shared_ptr<Store>> open_store(const std::string& url);
// open_store for kernels, which fail their task by throwing: the error names the URL.
std::shared_ptr<Store> open_store_or_throw(const std::string& url);

// What this process read from and wrote to stores, per store: "file" for local
// directories, scheme://host[:port] (s3://bucket) for remote ones, never a path or a
// credential. Every Store that open_store makes counts into it. Thread-safe.
struct StoreIoCount {
  std::string store;
  uint64_t read_bytes = 0, written_bytes = 0, requests = 0;
};
std::vector<StoreIoCount> store_io_counts();

// Writes `bytes` to a temporary file beside `path` (`NAME.tmp.PID.N`) and renames it
// into place, so a reader never sees half a file; creates missing parent directories.
Status write_file_atomic(const std::string& path, std::string_view bytes);
// Reads `length` bytes (UINT64_MAX: to the end) from `offset` of the regular file at
// `path`, one buffer; a file larger than `limit` (and than any chunk, 16 GiB) is an
// error, before anything is read, as is one that grew while it was read. kNotFound
// when it does not exist.
Result<Bytes> read_file_range(const std::string& path, uint64_t offset, uint64_t length,
                              uint64_t limit = UINT64_MAX);

// True for URLs of remote stores (http, https, dav, davs, s3).
bool is_remote_url(const std::string& url);

// `base` (a URL or a directory) joined with a relative key, which may not leave it:
// kInvalidArgument for an absolute key or one holding "..". "" and "." give `base`.
Result<std::string> join_url(const std::string& base, const std::string& key);

// "STORE:PATH" on a command line (e.g. "cube.zarr:B04", "https://h:8443/cube.zarr:B04")
// split at the colon that starts the path inside the store; a URL's scheme and port
// colons are not that colon. No colon: {arg, ""}.
std::pair<std::string, std::string> split_store_arg(const std::string& arg);

// A parsed http(s) URL: scheme "http" or "https" (dav and davs map to them).
struct HttpUrl {
  std::string scheme;
  std::string host;  // as written (an IPv6 literal keeps its brackets)
  int port = 0;      // 0: the scheme's default
  std::string path;  // percent-encoded as given, starts with '/', no trailing '/' unless root
  // scheme://host[:port]: the key of the connection pool, what errors name.
  std::string origin() const;
};
// kInvalidArgument for a URL that is not http, https, dav or davs, or that holds
// user:password (credentials belong in the environment or ~/.rsdat/stores.json).
Result<HttpUrl> parse_http_url(const std::string& url);

// Percent-encodes a key for a URL path (keeps unreserved characters and '/').
std::string url_encode_path(std::string_view key);
// Decodes %XX escapes (a malformed escape stays as it is).
std::string url_decode(std::string_view s);

// What a request to a store carries to prove who sends it.
struct Credentials {
  std::string bearer_token;                   // "" for none
  std::map<std::string, std::string> headers; // extra request headers
};

// The credentials for `url`: the entry of the stores config whose URL prefix is the
// longest that matches (path-wise: "https://h/a" matches "https://h/a/b", not
// "https://h/ab"), else $RSDAT_BEARER_TOKEN, else the contents of
// $RSDAT_BEARER_TOKEN_FILE (surrounding whitespace trimmed), else none. The stores
// config is $RSDAT_STORES_CONFIG or ~/.rsdat/stores.json:
//   {"https://host/prefix": {"bearer_token": "...", "headers": {"X-Name": "value"}}}
// and is refused unless only its owner may read it (mode 0600 or stricter), as ssh
// refuses a private key. A missing config is no error. Errors name the file, never a
// token.
Result<Credentials> resolve_credentials(const std::string& url);
// The same from a given config file (`config_path` "" for none) and token values.
Result<Credentials> resolve_credentials(const std::string& url, const std::string& config_path,
                                        const std::string& env_token, const std::string& env_token_file);

// The entry of the stores config at `config_path` whose URL prefix is the longest that
// matches `url` (as above), as JSON text, and that prefix in `*prefix`; "" when there is
// none or no config file. The same checks (mode 0600, valid JSON) and errors as above.
Result<std::string> stores_config_entry(const std::string& url, const std::string& config_path,
                                        std::string* prefix = nullptr);

// One response of a WebDAV multistatus document.
struct DavResponse {
  std::string href;  // percent-decoded path (an absolute URL is reduced to its path)
  bool is_collection = false;
};
// Parses a PROPFIND multistatus body: every response's href and whether its
// resourcetype holds a collection. Namespace prefixes are ignored. kProtocol for a
// document that is not well-formed XML or has no multistatus element.
Result<std::vector<DavResponse>> parse_multistatus(std::string_view xml);

// The limits of HTTP requests, from the environment (see above). Read once per process.
struct HttpLimits {
  int concurrency = 16;
  int attempts = 5;
  double connect_timeout = 10;
  double timeout = 300;
  double backoff_ms = 200;
  std::string ca_file;  // RSDAT_STORE_CA_FILE: certificates to verify HTTPS servers with
  std::string ca_path;  // RSDAT_STORE_CA_PATH: a directory of them (/etc/grid-security/certificates)
};
const HttpLimits& http_limits();
// Whether an HTTP status is worth another attempt (429 and 5xx).
bool http_status_retryable(long status);
// The pause before attempt `attempt` (1 is the first retry) in milliseconds, from a
// uniform `unit` in [0, 1): full jitter over base * 2^(attempt-1), at most 10 s.
double backoff_ms(int attempt, double base_ms, double unit);

}  // namespace rsdat::store
