// The HTTP(S)/WebDAV store on libcurl (internal to io/: open_store makes it).
#pragma once

#include <cstdint>
#include <memory>

#include "io/store.hpp"

namespace rsdat::store {

std::shared_ptr<Store> make_http_store(HttpUrl url, Credentials credentials);

// Counters of this process's HTTP requests (for tests and benchmarks). Thread-safe.
struct HttpStats {
  uint64_t requests = 0;     // attempts sent, retries included
  uint64_t retries = 0;      // attempts after the first
  uint64_t connections = 0;  // new connections opened (the rest reused a kept-alive one)
  int max_in_flight = 0;     // the most requests in flight at once so far
};
HttpStats http_stats();

}  // namespace rsdat::store
