// The store layer without a server: URL parsing and joining, command-line store
// arguments, credentials resolution, WebDAV multistatus parsing, backoff, and the
// local directory store.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "io/store.hpp"
#include "io/xml.hpp"

namespace rsdat::store {
namespace {

namespace fs = std::filesystem;

TEST(StoreUrl, ParsesHttpAndDavUrls) {
  auto u = parse_http_url("dav://Data.Example.org:2880/pnfs/s2.zarr/");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->host, "data.example.org");
  EXPECT_EQ(u->port, 2880);
  EXPECT_EQ(u->path, "/pnfs/s2.zarr");
  EXPECT_EQ(u->origin(), "http://data.example.org:2880");
  auto s = parse_http_url("davs://h");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->scheme, "https");
  EXPECT_EQ(s->port, 0);
  EXPECT_EQ(s->path, "/");
  EXPECT_EQ(s->origin(), "https://h");
  auto v6 = parse_http_url("https://[::1]:8443/x");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "[::1]");
  EXPECT_EQ(v6->port, 8443);
  EXPECT_FALSE(parse_http_url("ftp://h/x").ok());
  EXPECT_FALSE(parse_http_url("http://h:99999/x").ok());
  EXPECT_FALSE(parse_http_url("http://h:/x").ok());
  EXPECT_FALSE(parse_http_url("http:///x").ok());
  EXPECT_FALSE(parse_http_url("http://h/x?a=1").ok());
  auto secret = parse_http_url("https://me:hunter2@h/x");
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().message().find("hunter2"), std::string::npos) << secret.status().message();
}

TEST(StoreUrl, OpensByScheme) {
  EXPECT_TRUE(open_store("/tmp/x.zarr").ok());
  EXPECT_TRUE(open_store("relative.zarr").ok());
  auto f = open_store("file:///tmp/a%20b.zarr");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->url(), "/tmp/a b.zarr");
  EXPECT_FALSE(open_store("file://relative").ok());
  auto gs = open_store("gs://bucket/x.zarr");
  ASSERT_FALSE(gs.ok());
  EXPECT_NE(gs.status().message().find("unknown scheme 'gs'"), std::string::npos) << gs.status().message();
  EXPECT_FALSE(open_store("").ok());
  EXPECT_TRUE(is_remote_url("DAVS://h/x"));
  EXPECT_FALSE(is_remote_url("/http://x"));
}

TEST(StoreUrl, JoinsKeysThatStayInside) {
  EXPECT_EQ(*join_url("http://h:1/s.zarr/", "B04"), "http://h:1/s.zarr/B04");
  EXPECT_EQ(*join_url("http://h:1/s.zarr", "g//./B04/"), "http://h:1/s.zarr/g/B04");
  EXPECT_EQ(*join_url("http://h:1/s.zarr", ""), "http://h:1/s.zarr");
  EXPECT_EQ(*join_url("/data/s.zarr", "g/B04"), "/data/s.zarr/g/B04");
  EXPECT_EQ(join_url("http://h/s.zarr", "../t.zarr").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(join_url("http://h/s.zarr", "a/../../b").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(join_url("/d", "/etc").status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(join_url("/d", "a..b").ok());
}

TEST(StoreUrl, SplitsStoreArguments) {
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(split_store_arg("cube.zarr"), (P{"cube.zarr", ""}));
  EXPECT_EQ(split_store_arg("cube.zarr:B04"), (P{"cube.zarr", "B04"}));
  EXPECT_EQ(split_store_arg("/d/cube.zarr:g/B04"), (P{"/d/cube.zarr", "g/B04"}));
  EXPECT_EQ(split_store_arg("http://127.0.0.1:8080/s2.zarr"), (P{"http://127.0.0.1:8080/s2.zarr", ""}));
  EXPECT_EQ(split_store_arg("http://127.0.0.1:8080/s2.zarr:B04"), (P{"http://127.0.0.1:8080/s2.zarr", "B04"}));
  EXPECT_EQ(split_store_arg("davs://h/s2.zarr:g/B04"), (P{"davs://h/s2.zarr", "g/B04"}));
  EXPECT_EQ(split_store_arg("https://h:443"), (P{"https://h:443", ""}));
}

TEST(StoreUrl, EncodesAndDecodesPaths) {
  EXPECT_EQ(url_encode_path("a b/c%d.0"), "a%20b/c%25d.0");
  EXPECT_EQ(url_decode("a%20b/c%25d.0"), "a b/c%d.0");
  EXPECT_EQ(url_decode("100%"), "100%");
  EXPECT_EQ(url_decode("%zz%4"), "%zz%4");
}

class Credentials_ : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("rsdat-creds-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    config_ = (dir_ / "stores.json").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& path, const std::string& text, mode_t mode) {
    std::ofstream(path, std::ios::trunc) << text;
    ::chmod(path.c_str(), mode);
  }
  fs::path dir_;
  std::string config_;
};

TEST_F(Credentials_, ConfigLongestPrefixWinsOverTheEnvironment) {
  write(config_, R"({"https://h/a": {"bearer_token": "A"},
                     "https://h/a/b": {"bearer_token": " AB\n", "headers": {"X-One": "1"}},
                     "dav://other": {"bearer_token": "O"}})", 0600);
  auto c = resolve_credentials("https://h/a/b/c.zarr", config_, "ENV", "");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->bearer_token, "AB");
  EXPECT_EQ(c->headers, (std::map<std::string, std::string>{{"X-One", "1"}}));
  EXPECT_EQ(resolve_credentials("https://h/a/bc", config_, "ENV", "")->bearer_token, "A");
  EXPECT_EQ(resolve_credentials("davs://h/a", config_, "ENV", "")->bearer_token, "A");  // davs = https
  EXPECT_EQ(resolve_credentials("https://h/ab", config_, "ENV", "")->bearer_token, "ENV");
  EXPECT_EQ(resolve_credentials("http://other/x", config_, "", "")->bearer_token, "O");
  EXPECT_EQ(resolve_credentials("https://x/", "", "", "")->bearer_token, "");
}

TEST_F(Credentials_, TokenFileAndMissingConfig) {
  const std::string token_file = (dir_ / "token").string();
  write(token_file, "  from-file\n", 0600);
  auto c = resolve_credentials("https://h/x", (dir_ / "none.json").string(), "", token_file);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->bearer_token, "from-file");
  EXPECT_EQ(resolve_credentials("https://h/x", "", "env-wins", token_file)->bearer_token, "env-wins");
  auto missing = resolve_credentials("https://h/x", "", "", (dir_ / "nope").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("RSDAT_BEARER_TOKEN_FILE"), std::string::npos);
}

TEST_F(Credentials_, RefusesAConfigOthersMayRead) {
  write(config_, R"({"https://h": {"bearer_token": "s3cr3t-value"}})", 0644);
  auto c = resolve_credentials("https://h/x", config_, "", "");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("mode 0644"), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find(config_), std::string::npos);
  write(config_, R"({"https://h": {"bearer_token": "s3cr3t-value"}})", 0640);
  EXPECT_FALSE(resolve_credentials("https://h/x", config_, "", "").ok());
  write(config_, R"({"https://h": {"bearer_token": "s3cr3t-value"}})", 0400);
  EXPECT_EQ(resolve_credentials("https://h/x", config_, "", "")->bearer_token, "s3cr3t-value");
}

TEST_F(Credentials_, MalformedConfigNamesTheFileNotTheToken) {
  for (const char* text : {R"({"https://h": {"bearer_token": "s3cr3t-value",})",
                           R"({"https://h": {"bearer_token": 5, "x": "s3cr3t-value"}})",
                           R"({"https://h": {"headers": {"Bad Name": "s3cr3t-value"}}})",
                           R"(["s3cr3t-value"])"}) {
    write(config_, text, 0600);
    auto c = resolve_credentials("https://h/x", config_, "", "");
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_NE(c.status().message().find(config_), std::string::npos) << c.status().message();
    EXPECT_EQ(c.status().message().find("s3cr3t-value"), std::string::npos) << c.status().message();
  }
}

TEST(Multistatus, ParsesLighttpdAnswer) {
  const char* xml = R"(<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:" xmlns:ns0="urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/">
<D:response>
<D:href>/a/</D:href>
<D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop>
<D:status>HTTP/1.1 200 OK</D:status></D:propstat>
</D:response>
<D:response>
<D:href>/a/x%20y</D:href>
<D:propstat><D:prop><D:getcontentlength>10</D:getcontentlength><D:resourcetype/></D:prop>
<D:status>HTTP/1.1 200 OK</D:status></D:propstat>
</D:response>
</D:multistatus>)";
  auto r = parse_multistatus(xml);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].href, "/a/");
  EXPECT_TRUE((*r)[0].is_collection);
  EXPECT_EQ((*r)[1].href, "/a/x y");
  EXPECT_FALSE((*r)[1].is_collection);
}

TEST(Multistatus, DefaultNamespaceAbsoluteHrefsEntitiesAndComments) {
  const char* xml = R"(<?xml version="1.0"?><!-- a comment <D:href>/no</D:href> -->
<multistatus xmlns="DAV:"><response><href>https://h:2880/pnfs/a&amp;b/</href>
<propstat><prop><resourcetype><collection></collection></resourcetype>
<displayname><![CDATA[<collection/>]]></displayname></prop></propstat></response>
<response><href> /pnfs/a&amp;b/%C3%A9t%C3%A9.zarr </href><propstat><prop><resourcetype/>
<collection/></prop></propstat></response>
<response><href>/pnfs/&#x41;&#66;</href></response></multistatus>)";
  auto r = parse_multistatus(xml);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].href, "/pnfs/a&b/");
  EXPECT_TRUE((*r)[0].is_collection);
  EXPECT_EQ((*r)[1].href, "/pnfs/a&b/\xC3\xA9t\xC3\xA9.zarr");
  EXPECT_FALSE((*r)[1].is_collection);  // a collection element outside resourcetype
  EXPECT_EQ((*r)[2].href, "/pnfs/AB");
}

TEST(Xml, WalksElementsWithTheirOwnTextAndLocalNames) {
  std::vector<std::string> seen;
  Status st = xml::walk(R"(<?xml version="1.0"?><a:r xmlns:a="urn:x"><k>1 &lt; 2</k><![CDATA[<c>]]><e/><k>&#x41;</k></a:r>)",
                        {.open = [&](const xml::Path& p) { seen.push_back("open " + p.back() + " " + std::to_string(p.size())); },
                         .close = [&](const xml::Path& p, std::string text) { seen.push_back("close " + p.back() + " " + text); }});
  ASSERT_TRUE(st.is_ok()) << st.message();
  EXPECT_EQ(seen, (std::vector<std::string>{"open r 1", "open k 2", "close k 1 < 2", "open e 2", "close e ", "open k 2",
                                            "close k A", "close r <c>"}));
}

TEST(Xml, MalformedAndEntityBombsAreProtocolErrors) {
  for (const char* doc : {"", "<a>", "<a></b>", "<a><b></a></b>", "text", "<a>&undefined;</a>"}) {
    EXPECT_EQ(xml::walk(doc, {}).code(), StatusCode::kProtocol) << doc;
  }
  // Entities that expand a few hundred bytes into gigabytes: expat's amplification limit
  // stops them instead of the process running out of memory.
  std::string bomb = "<?xml version=\"1.0\"?><!DOCTYPE b [<!ENTITY e0 \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\">";
  for (int i = 1; i < 10; ++i) {
    bomb += "<!ENTITY e" + std::to_string(i) + " \"";
    for (int j = 0; j < 10; ++j) bomb += "&e" + std::to_string(i - 1) + ";";
    bomb += "\">";
  }
  bomb += "]><b>&e9;</b>";
  size_t text_bytes = 0;
  Status st = xml::walk(bomb, {.close = [&](const xml::Path&, std::string text) { text_bytes += text.size(); }});
  EXPECT_EQ(st.code(), StatusCode::kProtocol);
  EXPECT_LT(text_bytes, size_t{1} << 30);
}

TEST(Multistatus, MalformedDocumentsAreErrors) {
  EXPECT_EQ(parse_multistatus("<html><body>403</body></html>").status().code(), StatusCode::kProtocol);
  EXPECT_EQ(parse_multistatus("<D:multistatus xmlns:D=\"DAV:\"><D:response>").status().code(), StatusCode::kProtocol);
  EXPECT_EQ(parse_multistatus("<D:multistatus><D:response></D:href></D:multistatus>").status().code(),
            StatusCode::kProtocol);
  EXPECT_EQ(parse_multistatus("<D:multistatus><D:response><D:href>/x").status().code(), StatusCode::kProtocol);
  EXPECT_EQ(parse_multistatus("").status().code(), StatusCode::kProtocol);
  auto empty = parse_multistatus("<D:multistatus xmlns:D=\"DAV:\"/>");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(Retry, StatusesAndBackoff) {
  for (long s : {429L, 500L, 502L, 503L, 504L, 599L}) EXPECT_TRUE(http_status_retryable(s)) << s;
  for (long s : {200L, 206L, 400L, 401L, 403L, 404L, 409L, 416L}) EXPECT_FALSE(http_status_retryable(s)) << s;
  EXPECT_DOUBLE_EQ(backoff_ms(1, 200, 0.5), 100);
  EXPECT_DOUBLE_EQ(backoff_ms(3, 200, 0.5), 400);
  EXPECT_DOUBLE_EQ(backoff_ms(30, 200, 0.999), 9990);  // capped at 10 s
  EXPECT_DOUBLE_EQ(backoff_ms(2, 200, 0.0), 0);
}

TEST(LocalStore, GetsRangesPutsListsAndRemoves) {
  const fs::path dir = fs::temp_directory_path() / ("rsdat-store-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto opened = open_store("file://" + dir.string());
  ASSERT_TRUE(opened.ok());
  Store& s = **opened;
  EXPECT_EQ(s.get("a/b").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(s.list("").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(s.put("a/b/c", "0123456789").is_ok());
  ASSERT_TRUE(s.put("a/d", "").is_ok());
  EXPECT_EQ(s.get("a/b/c")->view(), "0123456789");
  EXPECT_EQ(s.get("a/d")->view(), "");
  EXPECT_EQ(s.get_range("a/b/c", 2, 3)->view(), "234");
  EXPECT_EQ(s.get_range("a/b/c", 8, 5)->view(), "89");
  EXPECT_EQ(s.get_range("a/b/c", 11, 5)->view(), "");
  EXPECT_EQ(s.get_range("a/none", 0, 5).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(*s.exists("a/b/c"));
  EXPECT_FALSE(*s.exists("a/b"));
  EXPECT_TRUE(*s.is_dir("a/b"));
  EXPECT_EQ(*s.list("a"), (std::vector<Entry>{{"b", true}, {"d", false}}));
  EXPECT_EQ(s.get("../x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.put("/etc/x", "").code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(s.remove("a/b").is_ok());
  EXPECT_TRUE(s.remove("a/b").is_ok());
  EXPECT_EQ(*s.list("a"), (std::vector<Entry>{{"d", false}}));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rsdat::store
