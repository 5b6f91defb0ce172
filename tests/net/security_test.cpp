// Key files, the allowed-keys format and bind addresses.
#include "net/security.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/sysinfo.hpp"
#include "net/scheduler_file.hpp"

namespace rsdat {
namespace {

namespace fs = std::filesystem;

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/rsdat-keys-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

TEST_F(KeyFileTest, CreatedOncePrivateAndReadBack) {
  std::string path = dir_ + "/sub/cluster.key";
  bool created = false;
  auto first = load_or_create_key_file(path, &created);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_TRUE(created);
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto second = load_or_create_key_file(path, &created);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(created);
  EXPECT_EQ(second->server_secret, first->server_secret);
  EXPECT_EQ(second->client_public, first->client_public);
  EXPECT_NE(first->server_public, first->client_public);
  EXPECT_EQ(first->server_public.size(), 40u);
}

TEST_F(KeyFileTest, BadKeyFilesAreClearErrors) {
  EXPECT_EQ(read_key_file(dir_ + "/absent").status().code(), StatusCode::kNotFound);
  std::string path = dir_ + "/bad.key";
  {
    std::ofstream(path) << "{\"server_public\": \"short\", \"client_public\": \"x\", \"client_secret\": \"y\"}";
  }
  ::chmod(path.c_str(), 0600);
  auto bad = read_key_file(path);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("Z85"), std::string::npos) << bad.status().message();
  ASSERT_TRUE(write_key_file(dir_ + "/good.key", generate_curve_keys()).is_ok());
  ::chmod((dir_ + "/good.key").c_str(), 0640);
  auto loose = read_key_file(dir_ + "/good.key");
  EXPECT_EQ(loose.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(loose.status().message().find("640"), std::string::npos) << loose.status().message();
  // A worker needs the server secret; a client does not.
  CurveKeys client_only = generate_curve_keys();
  client_only.server_secret.clear();
  ASSERT_TRUE(write_key_file(dir_ + "/client.key", client_only).is_ok());
  EXPECT_TRUE(load_security(true, dir_ + "/client.key", false).ok());
  EXPECT_EQ(load_security(true, dir_ + "/client.key", true).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(load_security(false, dir_ + "/absent", true).ok());  // no encryption, no keys needed
}

TEST_F(KeyFileTest, AllowedKeysMayContainHashSigns) {
  // Z85 has '#' among its characters: only a leading '#' or one after a space starts a comment.
  std::string hashy;
  for (int i = 0; i < 100000 && hashy.find('#') == std::string::npos; ++i) hashy = generate_curve_keys().client_public;
  ASSERT_NE(hashy.find('#'), std::string::npos);
  std::string other = generate_curve_keys().client_public;
  std::string path = dir_ + "/allowed";
  std::ofstream(path) << "# colleagues\n\n" << hashy << "\n  " << other << "   # alice\n";
  auto keys = read_allowed_keys(path);
  ASSERT_TRUE(keys.ok()) << keys.status().to_string();
  EXPECT_EQ(*keys, (std::vector<std::string>{hashy, other}));
  std::ofstream(path, std::ios::app) << "not-a-key\n";
  auto bad = read_allowed_keys(path);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("line 5"), std::string::npos) << bad.status().message();
}

TEST_F(KeyFileTest, KeysWithCharactersOutsideZ85AreRefused) {
  // A NUL inside a key ends it for the Z85 decoder, which would leave most of the
  // 32 key bytes unwritten.
  const CurveKeys keys = generate_curve_keys();
  std::string with_nul = keys.client_public;
  with_nul.replace(5, 1, "\\u0000");
  const std::string doc = R"({"server_public": ")" + keys.server_public + R"(", "client_public": ")" + with_nul +
                          R"(", "client_secret": ")" + keys.client_secret + R"("})";
  auto bad = parse_key_file(doc, "k");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  std::string good_doc = doc;
  good_doc.replace(good_doc.find(with_nul), with_nul.size(), keys.client_public);
  EXPECT_TRUE(parse_key_file(good_doc, "k").ok());
  std::string spaced = keys.client_public;
  spaced[39] = '\x01';
  EXPECT_FALSE(parse_allowed_keys(spaced + "\n", "allowed").ok());
  EXPECT_FALSE(parse_allowed_keys(std::string(keys.client_public).replace(10, 1, "\"") + "\n", "allowed").ok());
  EXPECT_EQ(parse_allowed_keys(keys.client_public, "allowed").value(), std::vector<std::string>{keys.client_public});
}

TEST_F(KeyFileTest, ConfigFilesLargerThanAMegabyteAreRefused) {
  const std::string path = dir_ + "/allowed";
  {
    std::ofstream out(path);
    const std::string key = generate_curve_keys().client_public;
    for (size_t n = 0; n < kMaxConfigFileBytes; n += key.size() + 1) out << key << "\n";
  }
  auto big = read_allowed_keys(path);
  EXPECT_EQ(big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find("larger than 1048576 bytes"), std::string::npos) << big.status().message();
  ::chmod(path.c_str(), 0600);
  EXPECT_EQ(read_key_file(path).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(read_scheduler_file(path).status().code(), StatusCode::kInvalidArgument);
}

TEST(SchedulerFile, FieldsOutOfRangeAreErrorsNotCasts) {
  auto good = parse_scheduler_file(R"({"address": "tcp://h:1", "protocol_version": 3, "pid": 12, "host": "h",
                                       "encryption": true, "server_key": "k", "dashboard": null})", "s.json");
  ASSERT_TRUE(good.ok()) << good.status().to_string();
  EXPECT_EQ(good->protocol_version, 3u);
  EXPECT_EQ(good->pid, 12);
  EXPECT_TRUE(good->encryption);
  for (const char* bad : {R"({"address": "tcp://h:1", "pid": 1e300})", R"({"address": "tcp://h:1", "pid": 4294967296})",
                          R"({"address": "tcp://h:1", "protocol_version": -1})", R"({"address": 5})", "[1]", "",
                          R"({"address": "tcp://h:1", "protocol_version": 1.5})"}) {
    auto r = parse_scheduler_file(bad, "s.json");
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("scheduler file s.json is not valid"), std::string::npos) << r.status().message();
  }
}

TEST(BindAddress, WildcardsAreRefusedAndInterfacesResolved) {
  EXPECT_EQ(resolve_bind_host("", "", "127.0.0.1").value(), "127.0.0.1");
  EXPECT_EQ(resolve_bind_host("10.1.2.3", "", "127.0.0.1").value(), "10.1.2.3");
  EXPECT_EQ(resolve_bind_host("", "lo", "10.0.0.1").value(), "127.0.0.1");
  for (const char* wild : {"0.0.0.0", "*", "::"}) {
    EXPECT_EQ(resolve_bind_host(wild, "", "127.0.0.1").status().code(), StatusCode::kInvalidArgument) << wild;
  }
  EXPECT_EQ(resolve_bind_host("", "nope9", "127.0.0.1").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(local_address_towards("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(endpoint_host("tcp://10.0.0.5:4000"), "10.0.0.5");
  EXPECT_EQ(endpoint_host("tcp://[::1]:4000"), "::1");
  EXPECT_EQ(endpoint_host("ipc:///tmp/x.sock"), "");
  EXPECT_TRUE(is_tcp_endpoint("tcp://a:1"));
  EXPECT_FALSE(is_tcp_endpoint("ipc:///a"));
  EXPECT_EQ(default_key_file("/data/run/scheduler.json"), "/data/run/scheduler.key");
}

}  // namespace
}  // namespace rsdat
