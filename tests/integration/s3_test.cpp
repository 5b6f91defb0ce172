// Zarr on S3 against a real S3 server on loopback (s3rver from the npm registry):
// the store's operations path-style and virtual-host style, listings over many pages,
// rsdat's result written and read back, what zarr-python wrote read and compared with
// NumPy, wrong keys, rsdat-ndvi on s3:// URLs, and no secret in any log line, error
// message, scheduler file or command line.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "io/s3_store.hpp"
#include "io/store.hpp"
#include "rsdat/rsdat.hpp"
#include "tests/integration/s3_server.hpp"
#include "tests/integration/store_test_util.hpp"

namespace rsdat {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test_support::read_text;
using test_support::write_text;
using test_support::v_values;
using test_support::same;
using test_support::text_of;
using test_support::S3Server;

constexpr const char* kBucket = "rsdat-test";
// The one secret the signature-checking proxy knows; secrets that can be told apart
// from everything else in a log.
constexpr const char* kSecret = "sk-7d1f0c93e2-secret";
constexpr const char* kSessionToken = "st-5b2e8a41c9-secret";
constexpr const char* kWrongKeyId = "AKWRONG4e7a0b";
constexpr const char* kWrongSecret = "wrong-0c6d2f91-secret";

// Every file under `local` put at its relative path in `st`, by four threads (a
// store is thread-safe); the number of files.
int upload(const fs::path& local, store::Store& st) {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(local)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::string failed;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (size_t i; (i = next++) < files.size();) {
        const Status put = st.put(fs::relative(files[i], local).string(), read_text(files[i]));
        if (!put.is_ok()) {
          std::lock_guard lock(mu);
          failed = put.message();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  if (!failed.empty()) throw std::runtime_error(failed);
  return static_cast<int>(files.size());
}

// Every key under `prefix` of `st` written below `local`, through the listing.
void download(store::Store& st, const std::string& prefix, const fs::path& local) {
  auto entries = st.list(prefix);
  if (!entries.ok()) throw std::runtime_error(entries.status().message());
  fs::create_directories(local);
  for (const auto& e : *entries) {
    const std::string key = prefix.empty() ? e.name : prefix + "/" + e.name;
    if (e.is_dir) {
      download(st, key, local / e.name);
    } else {
      write_text(local / e.name, std::string(st.get(key)->view()));
    }
  }
}

class StoreOverS3 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("rsdat-s3-" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_);
    server_ = new S3Server(*dir_ / "s3", kBucket, kSecret);
    // What the workers inherit: they resolve their credentials themselves.
    ::setenv("AWS_ACCESS_KEY_ID", S3Server::kKeyId, 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", kSecret, 1);
    ::setenv("AWS_SESSION_TOKEN", kSessionToken, 1);
    ::setenv("AWS_REGION", "eu-west-1", 1);
    ::setenv("AWS_ENDPOINT_URL", server_->endpoint().c_str(), 1);
    ::setenv("RSDAT_STORES_CONFIG", (*dir_ / "stores.json").c_str(), 1);  // none yet
    ::setenv("RSDAT_STORE_BACKOFF_MS", "20", 1);
    cluster_ = new LocalCluster(LocalClusterOptions{.workers = 2, .threads_per_worker = 2, .memory_limit = "1GB"});
    client_ = new Client(*cluster_, ClientOptions{.progress = false});
  }
  static void TearDownTestSuite() {
    delete client_;
    delete cluster_;
    delete server_;
    for (const char* v : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                          "AWS_ENDPOINT_URL", "RSDAT_STORES_CONFIG", "RSDAT_S3_MAX_KEYS"}) {
      ::unsetenv(v);
    }
    fs::remove_all(*dir_);
    delete dir_;
  }
  void TearDown() override { fs::remove(*dir_ / "stores.json"); }

  static fs::path* dir_;
  static S3Server* server_;
  static LocalCluster* cluster_;
  static Client* client_;
};
fs::path* StoreOverS3::dir_ = nullptr;
S3Server* StoreOverS3::server_ = nullptr;
LocalCluster* StoreOverS3::cluster_ = nullptr;
Client* StoreOverS3::client_ = nullptr;

void exercise(store::Store& s) {
  EXPECT_EQ(s.get("a/b/c.bin").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(s.list("").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(*s.is_dir(""));
  ASSERT_TRUE(s.put("a/b/c.bin", "0123456789").is_ok()) << s.put("a/b/c.bin", "0123456789").message();
  ASSERT_TRUE(s.put("a/x y+&%.txt", "spaced").is_ok());
  EXPECT_EQ(text_of(s.get("a/b/c.bin")), "0123456789");
  EXPECT_EQ(text_of(s.get("a/x y+&%.txt")), "spaced");
  EXPECT_EQ(text_of(s.get_range("a/b/c.bin", 2, 3)), "234");
  EXPECT_EQ(text_of(s.get_range("a/b/c.bin", 8, 100)), "89");
  EXPECT_EQ(text_of(s.get_range("a/b/c.bin", 20, 5)), "");
  EXPECT_EQ(text_of(s.get_suffix("a/b/c.bin", 3)), "789");
  EXPECT_EQ(text_of(s.get_suffix("a/b/c.bin", 100)), "0123456789");
  EXPECT_TRUE(*s.exists("a/b/c.bin"));
  EXPECT_FALSE(*s.exists("a/b/none"));
  EXPECT_FALSE(*s.exists("a/b"));  // a prefix, not an object
  EXPECT_TRUE(*s.is_dir(""));
  EXPECT_TRUE(*s.is_dir("a/b"));
  EXPECT_FALSE(*s.is_dir("a/b/c.bin"));
  EXPECT_FALSE(*s.is_dir("nowhere"));
  auto root = s.list("");
  ASSERT_TRUE(root.ok()) << root.status().message();
  EXPECT_EQ(*root, (std::vector<store::Entry>{{"a", true}}));
  auto a = s.list("a");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(*a, (std::vector<store::Entry>{{"b", true}, {"x y+&%.txt", false}}));
  EXPECT_EQ(s.list("a/b/c.bin").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(s.put("a/b/c.bin", "new").is_ok());  // replaces
  EXPECT_EQ(text_of(s.get("a/b/c.bin")), "new");
  ASSERT_TRUE(s.remove("a").is_ok());  // every key under a/
  EXPECT_FALSE(*s.exists("a/b/c.bin"));
  EXPECT_FALSE(*s.exists("a/x y+&%.txt"));
  EXPECT_TRUE(s.remove("a").is_ok());  // already gone
  EXPECT_EQ(s.list("").status().code(), StatusCode::kNotFound);
}

TEST_F(StoreOverS3, PathStyleGetsRangesPutsListsAndRemoves) {
  auto s = store::open_store_or_throw(server_->url("ops-path"));
  EXPECT_EQ(s->url(), "s3://rsdat-test/ops-path");
  exercise(*s);
  // What the server holds is where path-style addressing put it: read it anonymously.
  ASSERT_TRUE(s->put("k", "v").is_ok());
  const std::string cmd = "curl -sf " + server_->endpoint() + "/" + kBucket + "/ops-path/k > " + (*dir_ / "k").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  EXPECT_EQ(read_text(*dir_ / "k"), "v");
}

TEST_F(StoreOverS3, VirtualHostStyleFromTheStoresConfig) {
  const fs::path config = *dir_ / "stores.json";
  write_text(config, json{{server_->url("ops-vhost"),
                           {{"aws_access_key_id", S3Server::kKeyId}, {"aws_secret_access_key", kSecret},
                            {"endpoint_url", server_->vhost_endpoint()}, {"addressing", "virtual"}}}}.dump());
  ::chmod(config.c_str(), 0600);
  auto s = store::open_store_or_throw(server_->url("ops-vhost"));
  exercise(*s);
  ASSERT_TRUE(s->put("k", "vhost").is_ok());
  // The same object path-style, through the environment's endpoint.
  EXPECT_EQ(text_of(store::open_store_or_throw(server_->url())->get("ops-vhost/k")), "vhost");
}

TEST_F(StoreOverS3, AnonymousReads) {
  ASSERT_TRUE(store::open_store_or_throw(server_->url("public"))->put("k", "open").is_ok());
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  auto s = store::open_store_or_throw(server_->url("public"));
  ::setenv("AWS_ACCESS_KEY_ID", S3Server::kKeyId, 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", kSecret, 1);
  EXPECT_EQ(text_of(s->get("k")), "open");
}

// Listings of more keys than a page holds follow the continuation tokens.
TEST_F(StoreOverS3, ListsAcrossPages) {
  ::setenv("RSDAT_S3_MAX_KEYS", "7", 1);
  auto s = store::open_store_or_throw(server_->url("pages"));
  ::unsetenv("RSDAT_S3_MAX_KEYS");
  std::vector<store::Entry> want;
  for (int i = 0; i < 23; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "k%02d", i);
    ASSERT_TRUE(s->put(name, "x").is_ok());
    want.push_back({name, false});
    if (i % 4 == 0) {
      ASSERT_TRUE(s->put(std::string("d") + name + "/inner", "y").is_ok());
      want.push_back({std::string("d") + name, true});
    }
  }
  std::sort(want.begin(), want.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  auto got = s->list("");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(*got, want);
  ASSERT_TRUE(s->remove("").is_ok());  // 29 keys, five pages
  EXPECT_EQ(s->list("").status().code(), StatusCode::kNotFound);
}

TEST_F(StoreOverS3, WritesAndReadsBackRsdatResults) {
  const std::string url = server_->url("written.zarr");
  Array v = from_array(v_values(), {5, 9, 7}, client_).rechunk(Chunks{{1, 4}, {2, 7}, {7}});
  ZarrWriteOptions opts{.chunks = {2, 4, 3}, .fill_value = std::nan(""), .dims = {"t", "y", "x"}};
  EXPECT_GT(write_zarr(v, url, "grp/v", opts, client_), 0u);
  auto s = store::open_store_or_throw(url);
  auto listed = s->list("grp/v");
  ASSERT_TRUE(listed.ok()) << listed.status().message();
  EXPECT_EQ(listed->size(), 2u + 3 * 3 * 3);  // .zarray, .zattrs and the chunks
  EXPECT_TRUE(*s->exists(".zgroup"));
  Array back = from_zarr(url, "grp/v");
  EXPECT_EQ(back.dims(), (std::vector<std::string>{"t", "y", "x"}));
  EXPECT_TRUE(same(back.compute<double>(client_), v_values()));
  EXPECT_TRUE(same((back * 2.0).compute<double>(client_), xt::xarray<double>(v_values() * 2.0)));
  // Written again over itself with other chunks: the old chunks are gone.
  opts.chunks = {5, 9, 7};
  write_zarr(v, url, "grp/v", opts, client_);
  EXPECT_EQ(s->list("grp/v")->size(), 3u);
  EXPECT_TRUE(same(from_zarr(url, "grp/v").compute<double>(client_), v_values()));
  // Zarr v3 with shards (the index at the end: a suffix read), and at the start.
  for (const char* where : {"end", "start"}) {
    ZarrWriteOptions v3{.chunks = {1, 3, 7}, .fill_value = std::nan(""), .dims = {"t", "y", "x"}, .zarr_format = 3,
                        .shards = {5, 9, 7}, .index_location = where};
    EXPECT_GT(write_zarr(v, url, std::string("grp/v3-") + where, v3, client_), 0u);
    EXPECT_TRUE(*s->exists(std::string("grp/v3-") + where + "/zarr.json"));
    EXPECT_TRUE(same(from_zarr(url, std::string("grp/v3-") + where).compute<double>(client_), v_values())) << where;
  }
}

// The stores zarr-python wrote (every dtype, order, codec, separator, group and
// consolidated metadata of tests/zarr/interop.py), uploaded to S3 and read from there.
TEST_F(StoreOverS3, ReadsWhatZarrPythonWrites) {
  const fs::path local = *dir_ / "interop";
  const std::string interop = RSDAT_SOURCE_DIR "/tests/zarr/interop.py";
  ASSERT_EQ(std::system(("/usr/bin/python3 " + interop + " write " + local.string() + " >/dev/null").c_str()), 0);
  json manifest = json::parse(read_text(local / "python" / "manifest.json"));
  ASSERT_GT(manifest.size(), 50u);
  auto bucket = store::open_store_or_throw(server_->url("interop"));
  EXPECT_GT(upload(local, *bucket), 100);
  for (const auto& m : manifest) {
    const std::string store = m["store"];
    const std::string url = server_->url("interop/" + fs::relative(store, local).string());
    SCOPED_TRACE(url + " " + m["path"].get<std::string>() + ": " + m["what"].get<std::string>());
    Array a = from_zarr(url, m["path"]);
    EXPECT_EQ(dtype_name(a.dtype()), m["dtype"].get<std::string>());
    EXPECT_EQ(a.shape(), m["shape"].get<Shape>());
    EXPECT_EQ(a.dims(), m["dims"].get<std::vector<std::string>>());
    std::string bytes = visit_dtype(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      auto v = a.compute<T>(client_);
      return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
    });
    EXPECT_TRUE(bytes == read_text(m["expected"].get<std::string>())) << "values differ";
  }
}

// A wrong secret (the proxy's SignatureDoesNotMatch) and an unknown key id (s3rver's
// InvalidAccessKeyId), for reading in the client and writing on the workers.
TEST_F(StoreOverS3, WrongKeysNameTheBucketAndStatusAndWriteNothing) {
  const fs::path config = *dir_ / "stores.json";
  write_text(config, json{{server_->url("denied-secret"), {{"aws_access_key_id", S3Server::kKeyId}, {"aws_secret_access_key", kWrongSecret}}},
                          {server_->url("denied-id"), {{"aws_access_key_id", kWrongKeyId}, {"aws_secret_access_key", kSecret}}}}.dump());
  ::chmod(config.c_str(), 0600);
  for (const std::string& prefix : {std::string("denied-secret"), std::string("denied-id")}) {
    const std::string code = prefix == "denied-id" ? "InvalidAccessKeyId" : "SignatureDoesNotMatch";
    for (bool write : {false, true}) {
      SCOPED_TRACE(prefix + (write ? " write" : " read"));
      try {
        if (write) {
          write_zarr(ones({4, 4}, {2, 2}), server_->url(prefix + "/b.zarr"), "a", {}, client_);  // the workers read the config too
        } else {
          from_zarr(server_->url(prefix + "/a.zarr"), "a");
        }
        ADD_FAILURE() << "wrong keys did not throw";
      } catch (const std::exception& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("s3://rsdat-test/" + prefix), std::string::npos) << m;
        EXPECT_NE(m.find("HTTP 403 Forbidden, " + code), std::string::npos) << m;
        EXPECT_NE(m.find("bucket rsdat-test"), std::string::npos) << m;
        for (const char* secret : {kWrongKeyId, kWrongSecret, kSecret, kSessionToken}) {
          EXPECT_EQ(m.find(secret), std::string::npos) << m;
        }
      }
    }
  }
  fs::remove(config);
  // Nothing is there: the bucket's own keys see no key under either prefix.
  EXPECT_EQ(store::open_store_or_throw(server_->url("denied-secret"))->list("").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store::open_store_or_throw(server_->url("denied-id"))->list("").status().code(), StatusCode::kNotFound);
}

// rsdat-ndvi with s3:// arguments: the bands (written by zarr-python, uploaded) read
// from S3, the map written to S3, fetched and compared with NumPy's.
TEST_F(StoreOverS3, NdviProgramTakesS3Urls) {
  const char* bin = std::getenv("RSDAT_BIN_DIR");
  ASSERT_NE(bin, nullptr) << "RSDAT_BIN_DIR names where rsdat-ndvi is";
  const std::string script = RSDAT_SOURCE_DIR "/tests/zarr/ndvi_check.py";
  const fs::path local = *dir_ / "ndvi";
  ASSERT_EQ(std::system(("/usr/bin/python3 " + script + " make " + local.string()).c_str()), 0);
  upload(local / "float.zarr", *store::open_store_or_throw(server_->url("ndvi/float.zarr")));
  const std::string in = server_->url("ndvi/float.zarr");
  const std::string cmd = std::string(bin) + "/rsdat-ndvi --red " + in + ":B04 --nir " + in + ":B08 --out " +
                          server_->url("ndvi/out.zarr") + ":ndvi/mean --scheduler-file " + cluster_->scheduler_file() +
                          " >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  download(*store::open_store_or_throw(server_->url("ndvi/out.zarr")), "", local / "fetched.zarr");
  const std::string check = "/usr/bin/python3 " + script + " check " + local.string() + " float " + local.string() +
                            "/fetched.zarr:ndvi/mean";
  EXPECT_EQ(std::system(check.c_str()), 0) << check;
}

// The command lines of every process of the machine we may read.
std::string command_lines() {
  std::string all;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = read_text(e.path() / "cmdline");
    for (char& c : cmdline) c = c == '\0' ? ' ' : c;
    all += name + ": " + cmdline + "\n";
  }
  return all;
}

// A cluster of its own with its daemons' output in a file, logging everything: after
// a run that succeeds and one that fails (wrong keys), no secret is in the logs, the
// error messages, the scheduler file or any process's command line.
TEST_F(StoreOverS3, NoKeysInLogsErrorsSchedulerFileOrCommandLines) {
  const fs::path log = *dir_ / "daemons.log";
  fflush(stdout);
  fflush(stderr);
  const int saved_out = ::dup(1), saved_err = ::dup(2);
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
  ::dup2(fd, 1);
  ::dup2(fd, 2);
  ::close(fd);
  std::string errors, scheduler_file, processes;
  {
    LocalCluster cluster(LocalClusterOptions{.workers = 1, .memory_limit = "1GB", .log_level = "debug"});
    Client client(cluster, ClientOptions{.progress = false});
    write_zarr(ones({4, 4}, {2, 2}), server_->url("leak.zarr"), "a", {}, &client);
    processes = command_lines();
    const fs::path config = *dir_ / "stores.json";
    write_text(config, json{{server_->url("leak.zarr/b"), {{"aws_access_key_id", kWrongKeyId}, {"aws_secret_access_key", kWrongSecret}}}}.dump());
    ::chmod(config.c_str(), 0600);
    try {
      write_zarr(ones({4, 4}, {2, 2}), server_->url("leak.zarr/b"), "", {}, &client);
    } catch (const std::exception& e) {
      errors += std::string(e.what()) + "\n";
    }
    processes += command_lines();
    scheduler_file = read_text(cluster.scheduler_file());
  }
  fflush(stdout);
  fflush(stderr);
  ::dup2(saved_out, 1);
  ::dup2(saved_err, 2);
  ::close(saved_out);
  ::close(saved_err);
  const std::string logs = read_text(log);
  EXPECT_NE(logs.find("running zarr_write"), std::string::npos) << logs;
  EXPECT_NE(errors.find("HTTP 403"), std::string::npos) << errors;
  EXPECT_NE(processes.find("rsdat-worker"), std::string::npos);
  for (const char* secret : {kSecret, kSessionToken, kWrongKeyId, kWrongSecret}) {
    EXPECT_EQ(logs.find(secret), std::string::npos) << logs;
    EXPECT_EQ(errors.find(secret), std::string::npos) << errors;
    EXPECT_EQ(scheduler_file.find(secret), std::string::npos);
    EXPECT_EQ(processes.find(secret), std::string::npos) << processes;
  }
}

}  // namespace
}  // namespace rsdat
