// The S3 store without a server: s3:// URLs, the configuration as the AWS tools read
// it (environment and stores config), ListObjectsV2 and error documents.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "io/s3_store.hpp"

namespace rsdat::store {
namespace {

namespace fs = std::filesystem;

TEST(S3Url, ParsesBucketAndPrefix) {
  auto u = parse_s3_url("s3://my-bucket/a/b.zarr/");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->bucket, "my-bucket");
  EXPECT_EQ(u->prefix, "a/b.zarr");
  EXPECT_EQ(u->url(), "s3://my-bucket/a/b.zarr");
  auto root = parse_s3_url("s3://bkt");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->prefix, "");
  EXPECT_EQ(root->url(), "s3://bkt");
  EXPECT_FALSE(parse_s3_url("s3://").ok());
  EXPECT_FALSE(parse_s3_url("s3:///x").ok());
  EXPECT_FALSE(parse_s3_url("s3://Upper/x").ok());
  EXPECT_FALSE(parse_s3_url("s3://bkt/x?versionId=1").ok());
  EXPECT_FALSE(parse_s3_url("s3://bkt/a/../../other").ok());
  auto creds = parse_s3_url("s3://AKIA:secret-9f1@bkt/x");
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().message().find("secret-9f1"), std::string::npos) << creds.status().message();
  EXPECT_TRUE(is_remote_url("s3://bkt/x"));
  auto opened = open_store("s3://bkt/x.zarr");  // nothing contacted yet
  EXPECT_TRUE(opened.ok()) << opened.status().message();
}

TEST(S3Url, EncodesAsSignatureV4Wants) {
  EXPECT_EQ(aws_uri_encode("a/b c+d&e=f~g", true), "a/b%20c%2Bd%26e%3Df~g");
  EXPECT_EQ(aws_uri_encode("a/b", false), "a%2Fb");
}

TEST(S3Config, FromTheEnvironment) {
  auto c = resolve_s3_config("s3://bkt/x", "", {{"AWS_ACCESS_KEY_ID", "AK"}, {"AWS_SECRET_ACCESS_KEY", "SK"},
                                                 {"AWS_SESSION_TOKEN", "ST"}, {"AWS_DEFAULT_REGION", "eu-west-1"},
                                                 {"AWS_ENDPOINT_URL", "http://127.0.0.1:9000"}});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->access_key_id, "AK");
  EXPECT_EQ(c->secret_access_key, "SK");
  EXPECT_EQ(c->session_token, "ST");
  EXPECT_EQ(c->region, "eu-west-1");
  EXPECT_EQ(c->endpoint_url, "http://127.0.0.1:9000");
  auto anon = resolve_s3_config("s3://bkt/x", "", {});
  ASSERT_TRUE(anon.ok());
  EXPECT_EQ(anon->access_key_id, "");
  EXPECT_EQ(anon->region, "us-east-1");
  auto half = resolve_s3_config("s3://bkt/x", "", {{"AWS_ACCESS_KEY_ID", "AK"}});
  ASSERT_FALSE(half.ok());
  EXPECT_NE(half.status().message().find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
  EXPECT_FALSE(resolve_s3_config("s3://bkt/x", "", {{"RSDAT_S3_ADDRESSING", "dns"}}).ok());
  EXPECT_TRUE(make_s3_store(*parse_s3_url("s3://bkt/x"), *anon).ok());
  S3Config bad = *anon;
  bad.endpoint_url = "ftp://h";
  EXPECT_FALSE(make_s3_store(*parse_s3_url("s3://bkt/x"), bad).ok());
}

TEST(S3Config, FromTheStoresConfigByLongestPrefix) {
  const fs::path dir = fs::temp_directory_path() / ("rsdat-s3cfg-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path cfg = dir / "stores.json";
  std::ofstream(cfg) << R"({"s3://bkt": {"aws_access_key_id": "A1", "aws_secret_access_key": "S1-zz9"},
    "s3://bkt/private": {"aws_access_key_id": "A2", "aws_secret_access_key": "S2", "region": "eu-central-1",
                         "endpoint_url": "https://objects.example.org", "addressing": "virtual"},
    "s3://bad": {"aws_access_key_id": "A3"},
    "s3://typo": {"aws_secret_key": "S4-zz9"}})";
  ::chmod(cfg.c_str(), 0600);
  const std::map<std::string, std::string> env{{"AWS_ACCESS_KEY_ID", "ENV"}, {"AWS_SECRET_ACCESS_KEY", "ENVS"},
                                               {"AWS_REGION", "us-west-2"}};
  auto a = resolve_s3_config("s3://bkt/public/x.zarr", cfg, env);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->access_key_id, "A1");
  EXPECT_EQ(a->region, "us-west-2");  // not in the entry: the environment's
  auto b = resolve_s3_config("s3://bkt/private/y", cfg, env);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->access_key_id, "A2");
  EXPECT_EQ(b->region, "eu-central-1");
  EXPECT_EQ(b->endpoint_url, "https://objects.example.org");
  EXPECT_EQ(b->addressing, "virtual");
  auto other = resolve_s3_config("s3://bkt2/x", cfg, env);  // "s3://bkt" is not a prefix of it
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->access_key_id, "ENV");
  auto bad = resolve_s3_config("s3://bad/x", cfg, env);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("aws_secret_access_key"), std::string::npos);
  auto typo = resolve_s3_config("s3://typo/x", cfg, env);
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("aws_secret_key"), std::string::npos);
  EXPECT_EQ(typo.status().message().find("S4-zz9"), std::string::npos);
  ::chmod(cfg.c_str(), 0644);
  auto open = resolve_s3_config("s3://bkt/x", cfg, env);
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.status().message().find("chmod 600"), std::string::npos);
  EXPECT_EQ(open.status().message().find("S1-zz9"), std::string::npos);
  fs::remove_all(dir);
}

TEST(S3Listing, ParsesPrefixesKeysAndContinuation) {
  auto l = parse_list_objects(R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name><Prefix>a/</Prefix>
<KeyCount>3</KeyCount><MaxKeys>2</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>
<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
<Contents><Key>a/x &amp; y&lt;1&gt;.txt</Key><ETag>&quot;e1&quot;</ETag><Size>3</Size>
<Owner><ID>o</ID></Owner></Contents>
<Contents><Key>a/caf&#233;</Key></Contents>
<CommonPrefixes><Prefix>a/b/</Prefix></CommonPrefixes><!-- <Contents><Key>no</Key></Contents> -->
</ListBucketResult>)");
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(l->keys, (std::vector<std::string>{"a/x & y<1>.txt", "a/caf\xc3\xa9"}));
  EXPECT_EQ(l->common_prefixes, std::vector<std::string>{"a/b/"});
  EXPECT_TRUE(l->truncated);
  EXPECT_EQ(l->next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
  auto empty = parse_list_objects("<ListBucketResult><Name>b</Name><IsTruncated>false</IsTruncated></ListBucketResult>");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->keys.empty());
  EXPECT_FALSE(parse_list_objects("<Error><Code>AccessDenied</Code></Error>").ok());
  EXPECT_FALSE(parse_list_objects("<ListBucketResult><Contents><Key>x</Contents></ListBucketResult>").ok());
  EXPECT_FALSE(parse_list_objects("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>").ok());
}

TEST(S3Listing, ErrorCodes) {
  EXPECT_EQ(s3_error_code("<?xml version=\"1.0\"?><Error><Code>InvalidAccessKeyId</Code><Message>m</Message>"
                          "<AWSAccessKeyId>AK</AWSAccessKeyId></Error>"),
            "InvalidAccessKeyId");
  EXPECT_EQ(s3_error_code(""), "");
  EXPECT_EQ(s3_error_code("<html>bad gateway</html>"), "");
}

}  // namespace
}  // namespace rsdat::store
