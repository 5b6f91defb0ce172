#include "io/s3_store.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>

#include "io/http_store.hpp"
#include "io/xml.hpp"

namespace rsdat::store {
namespace {

using json = nlohmann::json;

// Every element of an S3 answer with no child elements: `leaf(path, text)`.
Status walk_leaves(std::string_view doc, const std::function<void(const xml::Path&, std::string)>& leaf) {
  bool had_child = false;
  return xml::walk(doc, {.open = [&](const xml::Path&) { had_child = false; },
                         .close = [&](const xml::Path& path, std::string text) {
                           if (!had_child) leaf(path, std::move(text));
                           had_child = true;
                         }});
}

std::string env_of(const std::map<std::string, std::string>& env, const char* name) {
  auto it = env.find(name);
  return it == env.end() ? "" : it->second;
}

bool has_line_break(const std::string& s) { return s.find_first_of("\r\n") != std::string::npos; }

// The S3 store: see io/s3_store.hpp. Thread-safe: state is const after construction,
// every request borrows a handle of the process-wide pool.
class S3Store final : public Store {
 public:
  S3Store(S3Url url, HttpUrl endpoint, bool virtual_host, const S3Config& config)
      : url_(std::move(url)), endpoint_(std::move(endpoint)), virtual_host_(virtual_host) {
    if (virtual_host_) endpoint_.host = url_.bucket + "." + endpoint_.host;
    // The credentials go into the signing options here and are kept nowhere else.
    if (!config.access_key_id.empty()) {
      auth_.aws_sigv4 = "aws:amz:" + config.region + ":s3";
      auth_.userpwd = config.access_key_id + ":" + config.secret_access_key;
      // libcurl 7.88 does not hash the payload itself; S3 accepts an unsigned one.
      auth_.headers.push_back("x-amz-content-sha256: UNSIGNED-PAYLOAD");
      if (!config.session_token.empty()) auth_.headers.push_back("x-amz-security-token: " + config.session_token);
    }
    auth_.headers.push_back("Expect:");
    auth_.follow_redirects = false;  // S3's redirects are wrong-region errors
    signed_ = !config.access_key_id.empty();
    // Keys per listing page: S3's 1000 unless RSDAT_S3_MAX_KEYS asks for fewer.
    if (const char* v = std::getenv("RSDAT_S3_MAX_KEYS"); v && *v) {
      const long n = std::strtol(v, nullptr, 10);
      if (n >= 1 && n <= 1000) max_keys_ = static_cast<int>(n);
    }
  }

  std::string url() const override { return url_.url(); }

  Result<Bytes> get(const std::string& key) override {
    RSDAT_ASSIGN_OR_RETURN(std::string k, full_key(key));
    HttpRequest req{.method = "GET", .url = object_url(k)};
    RSDAT_ASSIGN_OR_RETURN(HttpResponse r, perform(req));
    if (r.status == 200) return std::move(r.body);
    if (r.status == 404) return not_found(name_of(k) + " not found");
    return failure(req, r, k);
  }

  Result<Bytes> get_range(const std::string& key, uint64_t offset, uint64_t length) override {
    RSDAT_ASSIGN_OR_RETURN(std::string k, full_key(key));
    if (length == 0) return Bytes{Buffer::allocate(1), 0};
    const uint64_t last = length > UINT64_MAX - offset ? UINT64_MAX - 1 : offset + length - 1;
    HttpRequest req{.method = "GET", .url = object_url(k), .range = std::to_string(offset) + "-" + std::to_string(last)};
    RSDAT_ASSIGN_OR_RETURN(HttpResponse r, perform(req));
    if (r.status == 206) return std::move(r.body);
    if (r.status == 416) return Bytes{Buffer::allocate(1), 0};  // starts past the end
    if (r.status == 200) {
      const size_t begin = std::min<uint64_t>(offset, r.body.size);
      const size_t n = std::min<uint64_t>(length, r.body.size - begin);
      Bytes part{Buffer::allocate(std::max<size_t>(n, 1)), n};
      if (n) std::memcpy(part.buffer->data(), r.body.buffer->data() + begin, n);
      return part;
    }
    if (r.status == 404) return not_found(name_of(k) + " not found");
    return failure(req, r, k);
  }

  // The object's last `length` bytes (a shard index at the end of a Zarr v3 shard): its
  // size from a HEAD, then a ranged GET. Not `Range: bytes=-N`, which S3 look-alikes do
  // not all honour (s3rver reads it as 0-N).
  Result<Bytes> get_suffix(const std::string& key, uint64_t length) override {
    RSDAT_ASSIGN_OR_RETURN(std::string k, full_key(key));
    HttpRequest head{.method = "HEAD", .url = object_url(k)};
    RSDAT_ASSIGN_OR_RETURN(HttpResponse h, perform(head));
    if (h.status == 404) return not_found(name_of(k) + " not found");
    if (h.status != 200 || h.content_length < 0) return get_range_of_whole(key, length);
    const uint64_t size = static_cast<uint64_t>(h.content_length);
    const uint64_t n = std::min(length, size);
    return get_range(key, size - n, n);
  }

  // The end of the whole object, for a server whose HEAD says no size.
  Result<Bytes> get_range_of_whole(const std::string& key, uint64_t length) {
    RSDAT_ASSIGN_OR_RETURN(Bytes all, get(key));
    const size_t n = static_cast<size_t>(std::min<uint64_t>(length, all.size));
    Bytes part{Buffer::allocate(std::max<size_t>(n, 1)), n};
    if (n) std::memcpy(part.buffer->data(), all.buffer->data() + all.size - n, n);
    return part;
  }

  Status put(const std::string& key, std::string_view bytes) override {
    RSDAT_ASSIGN_OR_RETURN(std::string k, full_key(key));
    if (k.empty()) return invalid_argument("cannot write an object at the root of the bucket " + url_.url());
    HttpRequest req{.method = "PUT", .url = object_url(k), .upload = &bytes};
    RSDAT_ASSIGN_OR_RETURN(HttpResponse r, perform(req));
    if (r.status == 200 || r.status == 201 || r.status == 204) return Status::ok();
    return failure(req, r, k);
  }

  Status remove(const std::string& key) override {
    RSDAT_ASSIGN_OR_RETURN(std::string k, full_key(key));
    if (!k.empty()) RSDAT_RETURN_IF_ERROR(delete_object(k));
    // A "directory": every key under it, page by page (the listing goes on from the
    // last key seen, which deleting does not disturb).
    const std::string dir = k.empty() ? "" : k + "/";
    std::string token;
    do {
      RSDAT_ASSIGN_OR_RETURN(S3Listing page, list_page(dir, /*delimiter=*/false, token, max_keys_));
      for (const std::string& sub : page.keys) RSDAT_RETURN_IF_ERROR(delete_object(sub));
      token = page.truncated ? page.next_token : "";
    } while (!token.empty());
    return Status::ok();
  }

  Result<std::vector<Entry>> list(const std::string& prefix) override {
    RSDAT_ASSIGN_OR_RETURN(std::string k, full_key(prefix));
    const std::string dir = k.empty() ? "" : k + "/";
    std::vector<Entry> out;
    std::string token;
    do {
      RSDAT_ASSIGN_OR_RETURN(S3Listing page, list_page(dir, /*delimiter=*/true, token, max_keys_));
      for (const std::string& p : page.common_prefixes) {
        if (p.size() <= dir.size() + 1 || p.compare(0, dir.size(), dir) != 0) continue;
        out.push_back({p.substr(dir.size(), p.size() - dir.size() - 1), true});
      }
      for (const std::string& key : page.keys) {
        if (key.size() <= dir.size() || key.compare(0, dir.size(), dir) != 0) continue;  // the marker "dir/"
        out.push_back({key.substr(dir.size()), false});
      }
      token = page.truncated ? page.next_token : "";
    } while (!token.empty());
    if (out.empty() && !dir.empty()) return not_found(name_of(k) + " is not a directory (no keys under it)");
    std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
    return out;
  }

  Result<bool> exists(const std::string& key) override {
    RSDAT_ASSIGN_OR_RETURN(std::string k, full_key(key));
    if (k.empty()) return false;
    HttpRequest req{.method = "HEAD", .url = object_url(k)};
    RSDAT_ASSIGN_OR_RETURN(HttpResponse r, perform(req));
    if (r.status == 200) return true;
    if (r.status == 404) return false;
    // A HEAD answer has no body to name S3's error Code: ask once more with a GET.
    HttpRequest get{.method = "GET", .url = req.url, .range = "0-0"};
    RSDAT_ASSIGN_OR_RETURN(HttpResponse g, perform(get));
    if (g.status == 200 || g.status == 206 || g.status == 416) return true;
    if (g.status == 404) return false;
    return failure(get, g, k);
  }

  Result<bool> is_dir(const std::string& key) override {
    RSDAT_ASSIGN_OR_RETURN(std::string k, full_key(key));
    const std::string dir = k.empty() ? "" : k + "/";
    RSDAT_ASSIGN_OR_RETURN(S3Listing page, list_page(dir, /*delimiter=*/false, "", 1));
    return dir.empty() || !page.keys.empty() || !page.common_prefixes.empty();
  }

 private:
  Result<std::string> full_key(const std::string& key) const {
    RSDAT_ASSIGN_OR_RETURN(std::string joined, join_url(url_.url(), key));
    std::string k = joined.substr(5 + url_.bucket.size());  // past "s3://bucket"
    if (!k.empty() && k.front() == '/') k.erase(0, 1);
    return k;
  }

  std::string name_of(const std::string& k) const { return "s3://" + url_.bucket + (k.empty() ? "" : "/" + k); }

  std::string bucket_url() const {
    const std::string base = endpoint_.origin() + (endpoint_.path == "/" ? "" : endpoint_.path);
    return virtual_host_ ? base + "/" : base + "/" + aws_uri_encode(url_.bucket, false);
  }
  std::string object_url(const std::string& k) const {
    std::string b = bucket_url();
    if (b.back() != '/') b += '/';
    return b + aws_uri_encode(k, true);
  }

  Result<HttpResponse> perform(const HttpRequest& req) const { return http_perform(endpoint_.origin(), req, auth_); }

  Status delete_object(const std::string& k) {
    HttpRequest req{.method = "DELETE", .url = object_url(k)};
    RSDAT_ASSIGN_OR_RETURN(HttpResponse r, perform(req));
    if (r.status == 200 || r.status == 202 || r.status == 204 || r.status == 404) return Status::ok();
    return failure(req, r, k);
  }

  // One ListObjectsV2 page of the keys starting with `dir`.
  Result<S3Listing> list_page(const std::string& dir, bool delimiter, const std::string& token, int max_keys) {
    // The parameters in the canonical order and encoding of Signature V4, so that what
    // libcurl signs is what S3 checks.
    std::string q = "?";
    if (!token.empty()) q += "continuation-token=" + aws_uri_encode(token, false) + "&";
    if (delimiter) q += "delimiter=%2F&";
    q += "list-type=2&max-keys=" + std::to_string(max_keys) + "&prefix=" + aws_uri_encode(dir, false);
    HttpRequest req{.method = "GET", .url = bucket_url() + q};
    RSDAT_ASSIGN_OR_RETURN(HttpResponse r, perform(req));
    if (r.status != 200) return failure(req, r, dir);
    auto parsed = parse_list_objects(r.body.view());
    if (!parsed.ok()) return parsed.status().with_context("listing " + name_of(dir));
    return parsed;
  }

  Status failure(const HttpRequest& req, const HttpResponse& r, const std::string& k) const {
    std::string msg = std::string(req.method) + " " + name_of(k) + " (" + req.url + "): HTTP " + std::to_string(r.status);
    if (*http_reason(r.status)) msg += std::string(" ") + http_reason(r.status);
    const std::string code = std::string(req.method) == "HEAD" ? "" : s3_error_code(r.body.view());
    if (!code.empty()) msg += ", " + code;
    if (r.status == 401 || r.status == 403) {
      msg += std::string(" from bucket ") + url_.bucket + " at " + endpoint_.origin() +
             (signed_ ? " (check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN or ~/.rsdat/stores.json)"
                      : " (the request was anonymous: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or ~/.rsdat/stores.json)");
    }
    if (r.status == 301 || r.status == 307) msg += " (the bucket is in another region: set AWS_REGION or the store's region)";
    if (r.attempts > 1) msg += " after " + std::to_string(r.attempts) + " attempts";
    if (http_status_retryable(r.status)) return unavailable(msg);
    if (r.status == 404) return not_found(msg);
    return io_error(msg);
  }

  const S3Url url_;
  HttpUrl endpoint_;    // const after construction
  bool virtual_host_;   // const after construction
  HttpAuth auth_;       // const after construction
  bool signed_ = false; // const after construction
  int max_keys_ = 1000; // const after construction
};

}  // namespace

std::string aws_uri_encode(std::string_view s, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<S3Url> parse_s3_url(const std::string& url) {
  if (url.size() < 5 || (url.compare(0, 5, "s3://") != 0 && url.compare(0, 5, "S3://") != 0)) {
    return invalid_argument("not an s3:// URL: " + url);
  }
  const std::string rest = url.substr(5);
  const size_t slash = rest.find('/');
  S3Url u;
  u.bucket = rest.substr(0, slash);
  if (u.bucket.find('@') != std::string::npos) {
    return invalid_argument("an s3:// store URL holds user:password; put the keys in AWS_ACCESS_KEY_ID and "
                            "AWS_SECRET_ACCESS_KEY or ~/.rsdat/stores.json");
  }
  if (u.bucket.empty()) return invalid_argument("store URL " + url + " names no bucket");
  if (u.bucket.size() < 3 || u.bucket.size() > 63 ||
      std::any_of(u.bucket.begin(), u.bucket.end(), [](char c) {
        return !(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
                 c == '-' || c == '.' || c == '_');
      })) {
    return invalid_argument("store URL " + url + ": '" + u.bucket +
                            "' is not an S3 bucket name (3 to 63 lower-case letters, digits, '-', '.')");
  }
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (prefix.find_first_of("?#") != std::string::npos) {
    return invalid_argument("store URL s3://" + u.bucket + "/...: a query or fragment is not part of a store URL");
  }
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  while (!prefix.empty() && prefix.front() == '/') prefix.erase(0, 1);
  RSDAT_ASSIGN_OR_RETURN(std::string checked, join_url("s3://" + u.bucket, prefix));
  (void)checked;  // join_url refuses "..": a prefix may not leave the bucket
  u.prefix = prefix;
  return u;
}

Result<S3Config> resolve_s3_config(const std::string& url, const std::string& config_path,
                                   const std::map<std::string, std::string>& env) {
  S3Config c;
  std::string best;
  RSDAT_ASSIGN_OR_RETURN(std::string entry_text, stores_config_entry(url, config_path, &best));
  json entry = entry_text.empty() ? json::object() : json::parse(entry_text);
  auto field = [&](const char* name, std::string* out) -> Status {
    if (!entry.contains(name)) return Status::ok();
    if (!entry[name].is_string()) return invalid_argument(config_path + ": " + name + " of " + best + " is not a string");
    *out = entry[name].get<std::string>();
    return Status::ok();
  };
  for (auto it = entry.begin(); it != entry.end(); ++it) {
    static const char* kKnown[] = {"aws_access_key_id", "aws_secret_access_key", "aws_session_token", "region",
                                   "endpoint_url", "addressing"};
    if (std::none_of(std::begin(kKnown), std::end(kKnown), [&](const char* k) { return it.key() == k; })) {
      return invalid_argument(config_path + ": the entry for " + best + " has an unknown field '" + it.key() +
                              "' (an S3 entry takes aws_access_key_id, aws_secret_access_key, aws_session_token, "
                              "region, endpoint_url, addressing)");
    }
  }
  if (entry.contains("aws_access_key_id") || entry.contains("aws_secret_access_key")) {
    RSDAT_RETURN_IF_ERROR(field("aws_access_key_id", &c.access_key_id));
    RSDAT_RETURN_IF_ERROR(field("aws_secret_access_key", &c.secret_access_key));
    RSDAT_RETURN_IF_ERROR(field("aws_session_token", &c.session_token));
    if (c.access_key_id.empty() || c.secret_access_key.empty()) {
      return invalid_argument(config_path + ": the entry for " + best +
                              " needs both aws_access_key_id and aws_secret_access_key");
    }
  } else {
    c.access_key_id = env_of(env, "AWS_ACCESS_KEY_ID");
    c.secret_access_key = env_of(env, "AWS_SECRET_ACCESS_KEY");
    c.session_token = env_of(env, "AWS_SESSION_TOKEN");
    if (c.access_key_id.empty() != c.secret_access_key.empty()) {
      return invalid_argument(std::string(c.access_key_id.empty() ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID") +
                              " is set without " +
                              (c.access_key_id.empty() ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY"));
    }
  }
  if (c.access_key_id.empty()) c.session_token.clear();
  c.region = env_of(env, "AWS_REGION");
  if (c.region.empty()) c.region = env_of(env, "AWS_DEFAULT_REGION");
  if (c.region.empty()) c.region = "us-east-1";
  RSDAT_RETURN_IF_ERROR(field("region", &c.region));
  c.endpoint_url = env_of(env, "AWS_ENDPOINT_URL_S3");
  if (c.endpoint_url.empty()) c.endpoint_url = env_of(env, "AWS_ENDPOINT_URL");
  RSDAT_RETURN_IF_ERROR(field("endpoint_url", &c.endpoint_url));
  c.addressing = env_of(env, "RSDAT_S3_ADDRESSING");
  RSDAT_RETURN_IF_ERROR(field("addressing", &c.addressing));
  if (!c.addressing.empty() && c.addressing != "path" && c.addressing != "virtual") {
    return invalid_argument("S3 addressing of " + url + " is '" + c.addressing + "' (want path or virtual)");
  }
  if (c.region.empty() || c.region.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos) {
    return invalid_argument("S3 region of " + url + " is not a region name");
  }
  if (has_line_break(c.access_key_id) || has_line_break(c.secret_access_key) || has_line_break(c.session_token) ||
      c.access_key_id.find(':') != std::string::npos) {
    return invalid_argument("the S3 keys for " + url + " hold a line break or the access key id a ':'");
  }
  return c;
}

Result<S3Config> resolve_s3_config(const std::string& url) {
  std::map<std::string, std::string> env;
  for (const char* name : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                           "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "RSDAT_S3_ADDRESSING"}) {
    if (const char* v = std::getenv(name); v && *v) env[name] = v;
  }
  std::string config = std::getenv("RSDAT_STORES_CONFIG") ? std::getenv("RSDAT_STORES_CONFIG") : "";
  if (config.empty() && std::getenv("HOME")) config = std::string(std::getenv("HOME")) + "/.rsdat/stores.json";
  return resolve_s3_config(url, config, env);
}

Result<std::shared_ptr<Store>> make_s3_store(S3Url url, S3Config config) {
  const bool custom = !config.endpoint_url.empty();
  const std::string endpoint = custom ? config.endpoint_url : "https://s3." + config.region + ".amazonaws.com";
  auto parsed = parse_http_url(endpoint);
  if (!parsed.ok()) return invalid_argument("S3 endpoint of " + url.url() + ": " + parsed.status().message());
  const bool virtual_host = config.addressing.empty() ? !custom : config.addressing == "virtual";
  return std::shared_ptr<Store>(std::make_shared<S3Store>(std::move(url), std::move(parsed).value(), virtual_host, config));
}

Result<S3Listing> parse_list_objects(std::string_view xml) {
  S3Listing out;
  bool is_list = false;
  Status st = walk_leaves(xml, [&](const xml::Path& path, std::string text) {
    if (path.empty() || path[0] != "ListBucketResult") return;
    is_list = true;
    if (path.size() == 3 && path[1] == "Contents" && path[2] == "Key") out.keys.push_back(std::move(text));
    if (path.size() == 3 && path[1] == "CommonPrefixes" && path[2] == "Prefix") out.common_prefixes.push_back(std::move(text));
    if (path.size() == 2 && path[1] == "IsTruncated") out.truncated = text == "true";
    if (path.size() == 2 && path[1] == "NextContinuationToken") out.next_token = std::move(text);
  });
  if (!st.is_ok()) return st.with_context("ListObjectsV2 answer");
  if (!is_list) return protocol_error("ListObjectsV2 answer is not a ListBucketResult document");
  if (out.truncated && out.next_token.empty()) return protocol_error("ListObjectsV2 answer is truncated without a NextContinuationToken");
  return out;
}

std::string s3_error_code(std::string_view xml) {
  std::string code;
  Status st = walk_leaves(xml, [&](const xml::Path& path, std::string text) {
    if (path.size() == 2 && path[0] == "Error" && path[1] == "Code") code = std::move(text);
  });
  if (!st.is_ok()) return "";
  // Codes are identifiers; anything else is not worth echoing.
  if (code.size() > 64 || std::any_of(code.begin(), code.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); })) return "";
  return code;
}

}  // namespace rsdat::store
