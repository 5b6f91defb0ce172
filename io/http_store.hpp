// The HTTP(S)/WebDAV store on libcurl (internal to io/: open_store makes it).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/store.hpp"

namespace rsdat::store {

std::shared_ptr<Store> make_http_store(HttpUrl url, Credentials credentials);

// One request of a store over HTTP(S): what every remote store (WebDAV, S3) sends
// through the process-wide connection pool, bound on requests in flight, timeouts and
// retry policy (see io/store.hpp).
struct HttpRequest {
  const char* method = "GET";
  std::string url;                 // what is sent (no credentials in it)
  std::vector<std::string> headers;
  const std::string_view* upload = nullptr;  // PUT body
  std::string_view post;                     // PROPFIND body
  std::string range;                         // "first-last"
};

struct HttpResponse {
  long status = 0;
  std::string effective_url;  // after redirects
  Bytes body;
  int attempts = 0;
  int64_t content_length = -1;  // as the server said (a HEAD's object size); -1: not said
};

// How the requests of one store prove who sends them. Holds secrets: never print it.
struct HttpAuth {
  std::vector<std::string> headers;  // sent with every request (a bearer token, "Expect:")
  std::string aws_sigv4;             // "aws:amz:REGION:s3" to sign with AWS Signature V4; "" for none
  std::string userpwd;               // "ACCESS_KEY_ID:SECRET_ACCESS_KEY" with aws_sigv4
  bool follow_redirects = true;      // storage redirects (dCache); S3 answers 301/307 as errors
};

// `req` against `origin` (the pool's key), retried on connection errors, 429 and 5xx;
// the last answer is returned whatever its status, a transport failure after the last
// attempt as an error naming the URL (kUnavailable when it was worth retrying).
// Thread-safe.
Result<HttpResponse> http_perform(const std::string& origin, const HttpRequest& req, const HttpAuth& auth);
// One request to an http(s) URL outside any store (a STAC API's /search and its next
// pages): `method` with `body` (sent when not empty) and `headers`, the credentials of
// the URL as for a store (resolve_credentials), the query kept. The answer whatever
// its status; kInvalidArgument for a URL that is not http(s). Thread-safe.
Result<HttpResponse> http_fetch(const std::string& method, const std::string& url, std::string_view body,
                                const std::vector<std::string>& headers = {});

// The reason phrase of an HTTP status ("Forbidden"), "" for one it does not know.
const char* http_reason(long status);

// Counters of this process's HTTP requests (for tests and benchmarks). Thread-safe.
struct HttpStats {
  uint64_t requests = 0;     // attempts sent, retries included
  uint64_t retries = 0;      // attempts after the first
  uint64_t connections = 0;  // new connections opened (the rest reused a kept-alive one)
  int max_in_flight = 0;     // the most requests in flight at once so far
};
HttpStats http_stats();

}  // namespace rsdat::store
