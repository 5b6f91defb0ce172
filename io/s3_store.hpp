// The S3 store on libcurl (internal to io/: open_store makes it for s3:// URLs).
//
// s3://bucket/prefix is the store whose keys are the bucket's objects under "prefix/".
// Requests go to the endpoint (AWS_ENDPOINT_URL, or https://s3.REGION.amazonaws.com)
// either path-style (ENDPOINT/bucket/prefix/key: the default for a custom endpoint)
// or virtual-host style (bucket.HOST/prefix/key: the default for AWS), signed with
// AWS Signature V4 by libcurl when there are keys, unsigned (anonymous) when there are
// none. They share the HTTP stores' connection pool, bound on requests in flight,
// timeouts and retries (io/http_store.hpp).
//
// S3 has no directories: a "directory" is a key prefix ending in '/', listed with
// ListObjectsV2 and delimiter '/'; put() is one PUT of the whole object (atomic in
// S3), remove() of a directory deletes every key under it.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/store.hpp"

namespace rsdat::store {

// s3://bucket[/prefix]: the bucket and the prefix without surrounding '/'.
struct S3Url {
  std::string bucket;
  std::string prefix;
  std::string url() const { return "s3://" + bucket + (prefix.empty() ? "" : "/" + prefix); }
};
// kInvalidArgument for a URL that is not s3://, names no bucket or a malformed one,
// holds user:password, a query or "..".
Result<S3Url> parse_s3_url(const std::string& url);

// Where and as whom an S3 store's requests go. Holds secrets: never print it.
struct S3Config {
  std::string access_key_id;      // "" with the secret "": anonymous (unsigned) requests
  std::string secret_access_key;
  std::string session_token;      // temporary credentials: x-amz-security-token
  std::string region = "us-east-1";
  std::string endpoint_url;       // "" for AWS (https://s3.REGION.amazonaws.com)
  std::string addressing;         // "path", "virtual", or "" (path for a custom endpoint)
};

// The configuration for `url`, as the AWS tools read theirs: from the stores config's
// entry whose URL prefix matches longest (see resolve_credentials) with the fields
//   {"s3://bucket/prefix": {"aws_access_key_id": "...", "aws_secret_access_key": "...",
//     "aws_session_token": "...", "region": "eu-west-1",
//     "endpoint_url": "https://object-store.example.org", "addressing": "path"}}
// and for every field it lacks from the environment: AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (the keys come from one place: both from
// the entry when it names either), AWS_REGION or AWS_DEFAULT_REGION (us-east-1),
// AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, RSDAT_S3_ADDRESSING (path or virtual).
// `env` maps those names to their values. Errors name the file and the field, never a
// key.
Result<S3Config> resolve_s3_config(const std::string& url, const std::string& config_path,
                                   const std::map<std::string, std::string>& env);
// The same from this process's environment and $RSDAT_STORES_CONFIG or
// ~/.rsdat/stores.json.
Result<S3Config> resolve_s3_config(const std::string& url);

// kInvalidArgument for an endpoint that is not http(s) or an unknown addressing.
Result<std::shared_ptr<Store>> make_s3_store(S3Url url, S3Config config);

// One page of a ListObjectsV2 answer.
struct S3Listing {
  std::vector<std::string> common_prefixes;  // CommonPrefixes/Prefix, entity-decoded
  std::vector<std::string> keys;             // Contents/Key, entity-decoded
  bool truncated = false;                    // IsTruncated
  std::string next_token;                    // NextContinuationToken
};
// kProtocol for a document that is not a ListBucketResult.
Result<S3Listing> parse_list_objects(std::string_view xml);
// The Code of an S3 error document (<Error><Code>AccessDenied</Code>...), "" for none.
std::string s3_error_code(std::string_view xml);
// AWS's URI encoding: every byte but A-Z a-z 0-9 - _ . ~ as %XX, '/' kept when
// `keep_slash` (a path) and encoded otherwise (a query value).
std::string aws_uri_encode(std::string_view s, bool keep_slash);

}  // namespace rsdat::store
