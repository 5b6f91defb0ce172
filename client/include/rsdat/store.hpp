// Stores by URL: the local directories and HTTP(S)/WebDAV servers that from_zarr and
// to_zarr read and write, for a program's own small files beside its arrays
// (attributes, coordinates, a manifest).
//
//   auto [store, path] = rsdat::split_store_arg("https://dcache.example.org/s2.zarr:B04");
//   rsdat::Array red = rsdat::from_zarr(store, path);
//   rsdat::store_put(store, "B04/.zattrs", R"({"units": "reflectance"})");
//
// A store is a directory (/path, relative/path, file:///path), an http://, https://,
// dav:// (= http) or davs:// (= https) URL, or an S3 bucket and prefix (s3://bucket/
// prefix). Keys are relative '/'-separated paths that may not leave the store.
// Credentials for HTTP(S) come from RSDAT_BEARER_TOKEN, RSDAT_BEARER_TOKEN_FILE or
// ~/.rsdat/stores.json (mode 0600); for S3 from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, AWS_REGION and AWS_ENDPOINT_URL or the same stores.json; they are
// read by the process that makes the request: on a cluster every worker reads them
// itself (see the README's "Stores" and "S3" sections). These calls run in the calling process, with
// the retries and limits of every store request; they throw std::invalid_argument for
// a bad URL or key and std::runtime_error naming the URL (never a token) when the
// store fails. Thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rsdat {

// "STORE:PATH" as tools take it on their command lines ("cube.zarr:B04",
// "https://h:8443/cube.zarr:g/B04") split at the colon after the store; a URL's scheme
// and port colons are not that colon. Without one: {arg, ""}.
std::pair<std::string, std::string> split_store_arg(const std::string& arg);

// True for http(s)://, dav(s):// and s3:// URLs.
bool is_remote_store(const std::string& store);

// The object at `key`; throws std::out_of_range naming the URL when there is none.
std::string store_get(const std::string& store, const std::string& key);
// Replaces the object at `key` atomically (a reader sees the old or the new bytes),
// making missing directories (WebDAV collections; S3 has none to make).
void store_put(const std::string& store, const std::string& key, std::string_view bytes);
// Whether an object exists at `key`.
bool store_exists(const std::string& store, const std::string& key);
// Removes the object, or the directory and all under it; a missing key is no error.
void store_remove(const std::string& store, const std::string& key);

struct StoreEntry {
  std::string name;
  bool is_dir = false;
};
// The names directly under `prefix` ("" for the root), sorted; throws
// std::out_of_range when `prefix` is not a directory.
std::vector<StoreEntry> store_list(const std::string& store, const std::string& prefix = "");

}  // namespace rsdat
