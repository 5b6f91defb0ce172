// Zarr over HTTP/WebDAV against a real server on loopback (lighttpd with mod_webdav,
// checking a bearer token): reading what zarr-python wrote, writing what zarr-python
// reads back through the same server, a wrong token, connections dropped and 503s
// answered by a proxy in front of the server, a server that stops, and no token in any
// log line, error message, scheduler file or status page.
#include <gtest/gtest.h>
#include <httplib.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "io/http_store.hpp"
#include "io/store.hpp"
#include "rsdat/rsdat.hpp"
#include "tests/integration/dav_server.hpp"
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
using test_support::DavServer;
using test_support::FaultProxy;

const char* kInterop = RSDAT_SOURCE_DIR "/tests/zarr/interop.py";
const char* kCheck = RSDAT_SOURCE_DIR "/tests/zarr/store_check.py";
constexpr const char* kToken = "tok-3f9c1e77a2-secret";
constexpr const char* kWrongToken = "wrong-8d41b0c5e6-secret";

class StoreOverDav : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("rsdat-dav-" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_);
    token_file_ = new fs::path(*dir_ / "token");
    write_text(*token_file_, std::string(kToken) + "\n");
    // What the workers inherit: they resolve credentials themselves, from this file.
    ::unsetenv("RSDAT_BEARER_TOKEN");
    ::setenv("RSDAT_BEARER_TOKEN_FILE", token_file_->c_str(), 1);
    ::setenv("RSDAT_STORES_CONFIG", (*dir_ / "no-stores.json").c_str(), 1);
    ::setenv("RSDAT_STORE_BACKOFF_MS", "20", 1);
    ::setenv("RSDAT_STORE_CONCURRENCY", "4", 1);  // read at this process's first request
    server_ = new DavServer(*dir_ / "dav", kToken);
    tls_server_ = new DavServer(*dir_ / "davs", kToken, /*tls=*/true);
    ::setenv("RSDAT_STORE_CA_FILE", tls_server_->cert_file().c_str(), 1);
    cluster_ = new LocalCluster(LocalClusterOptions{.workers = 2, .threads_per_worker = 2, .memory_limit = "1GB"});
    client_ = new Client(*cluster_, ClientOptions{.progress = false});
  }
  static void TearDownTestSuite() {
    delete client_;
    delete cluster_;
    delete server_;
    delete tls_server_;
    ::unsetenv("RSDAT_BEARER_TOKEN_FILE");
    ::unsetenv("RSDAT_STORE_CA_FILE");
    ::unsetenv("RSDAT_STORE_CONCURRENCY");
    ::unsetenv("RSDAT_STORES_CONFIG");
    fs::remove_all(*dir_);
    delete token_file_;
    delete dir_;
  }
  void TearDown() override { write_text(*token_file_, kToken); }

  static fs::path* dir_;
  static fs::path* token_file_;
  static DavServer* server_;
  static DavServer* tls_server_;  // HTTPS, its certificate in RSDAT_STORE_CA_FILE
  static LocalCluster* cluster_;
  static Client* client_;
};
fs::path* StoreOverDav::dir_ = nullptr;
fs::path* StoreOverDav::token_file_ = nullptr;
DavServer* StoreOverDav::server_ = nullptr;
DavServer* StoreOverDav::tls_server_ = nullptr;
LocalCluster* StoreOverDav::cluster_ = nullptr;
Client* StoreOverDav::client_ = nullptr;

TEST_F(StoreOverDav, GetsRangesPutsListsAndRemoves) {
  for (const std::string scheme : {"http", "dav"}) {
    SCOPED_TRACE(scheme);
    const std::string url = scheme + server_->url("ops-" + scheme).substr(4);
    auto opened = store::open_store(url);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    auto& s = **opened;
    EXPECT_EQ(s.get("a/b/c.bin").status().code(), StatusCode::kNotFound);
    EXPECT_EQ(s.list("").status().code(), StatusCode::kNotFound);
    ASSERT_TRUE(s.put("a/b/c.bin", "0123456789").is_ok());  // makes ops-*, a and a/b
    ASSERT_TRUE(s.put("a/x y%.txt", "spaced").is_ok());
    EXPECT_EQ(text_of(s.get("a/b/c.bin")), "0123456789");
    EXPECT_EQ(text_of(s.get("a/x y%.txt")), "spaced");
    EXPECT_EQ(text_of(s.get_range("a/b/c.bin", 2, 3)), "234");
    EXPECT_EQ(text_of(s.get_range("a/b/c.bin", 8, 100)), "89");
    EXPECT_EQ(text_of(s.get_range("a/b/c.bin", 20, 5)), "");
    EXPECT_EQ(read_text(server_->root() / ("ops-" + scheme) / "a/b/c.bin"), "0123456789");
    EXPECT_TRUE(*s.exists("a/b/c.bin"));
    EXPECT_FALSE(*s.exists("a/b/none"));
    EXPECT_TRUE(*s.is_dir("a/b"));
    EXPECT_FALSE(*s.is_dir("a/b/c.bin"));
    EXPECT_FALSE(*s.is_dir("nowhere"));
    auto root = s.list("");
    ASSERT_TRUE(root.ok()) << root.status().message();
    EXPECT_EQ(*root, (std::vector<store::Entry>{{"a", true}}));
    auto a = s.list("a");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(*a, (std::vector<store::Entry>{{"b", true}, {"x y%.txt", false}}));
    ASSERT_TRUE(s.put("a/b/c.bin", "new").is_ok());  // replaces
    EXPECT_EQ(text_of(s.get("a/b/c.bin")), "new");
    ASSERT_TRUE(s.remove("a").is_ok());
    EXPECT_FALSE(*s.exists("a/b/c.bin"));
    EXPECT_TRUE(s.remove("a").is_ok());  // already gone
    EXPECT_EQ(*s.list(""), std::vector<store::Entry>{});
  }
}

TEST_F(StoreOverDav, ReusesConnections) {
  auto s = std::move(store::open_store(server_->url("reuse"))).value();
  ASSERT_TRUE(s->put("k", "v").is_ok());
  const auto before = store::http_stats();
  for (int i = 0; i < 20; ++i) ASSERT_EQ(text_of(s->get("k")), "v");
  const auto after = store::http_stats();
  EXPECT_EQ(after.requests - before.requests, 20u);
  EXPECT_LE(after.connections - before.connections, 1u);
}

// Twelve threads of requests: never more than RSDAT_STORE_CONCURRENCY (4) in flight,
// and no more connections than that, each kept alive for the next request.
TEST_F(StoreOverDav, BoundsRequestsInFlightAndConnections) {
  ASSERT_EQ(store::http_limits().concurrency, 4);
  auto s = std::move(store::open_store(server_->url("burst"))).value();
  ASSERT_TRUE(s->put("k", std::string(256 << 10, 'x')).is_ok());
  ASSERT_EQ(s->get("k")->size, 256u << 10);
  const auto before = store::http_stats();
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) good += s->get("k").ok() ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  const auto after = store::http_stats();
  EXPECT_EQ(good.load(), 120);
  EXPECT_LE(after.max_in_flight, 4);
  EXPECT_LE(after.connections - before.connections, 4u);
}

TEST_F(StoreOverDav, ReadsWhatZarrPythonWrites) {
  const fs::path root = server_->root() / "interop";
  ASSERT_EQ(std::system(("/usr/bin/python3 " + std::string(kInterop) + " write " + root.string()).c_str()), 0);
  json manifest = json::parse(read_text(root / "python" / "manifest.json"));
  ASSERT_GT(manifest.size(), 50u);
  const std::string local_root = server_->root().string();
  int n = 0;
  for (const auto& m : manifest) {
    std::string store = m["store"];
    ASSERT_EQ(store.rfind(local_root, 0), 0u) << store;
    // Half the stores through dav://, the others http://.
    std::string url = server_->url(store.substr(local_root.size() + 1));
    if (n++ % 2) url = "dav" + url.substr(4);
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

// rsdat's result on the server, read back by zarr-python through the same server.
TEST_F(StoreOverDav, WritesWhatZarrPythonReadsBack) {
  const std::string url = "dav" + server_->url("written.zarr").substr(4);
  Array v = from_array(v_values(), {5, 9, 7}, client_).rechunk(Chunks{{1, 4}, {2, 7}, {7}});
  ZarrWriteOptions opts{.chunks = {2, 4, 3}, .fill_value = std::nan(""), .dims = {"t", "y", "x"}};
  EXPECT_GT(write_zarr(v, url, "grp/v", opts, client_), 0u);
  xt::xarray<int16_t> one_values = {{7, 8, 9}};
  write_zarr(from_array(one_values, {1, 2}, client_), url, "one", {}, client_);
  // What the server lists, then what zarr-python reads.
  auto s = std::move(store::open_store(url)).value();
  auto listed = s->list("grp/v");
  ASSERT_TRUE(listed.ok()) << listed.status().message();
  EXPECT_EQ(listed->size(), 2u + 3 * 3 * 3);  // .zarray, .zattrs and the chunks
  EXPECT_TRUE(*s->exists(".zgroup"));
  EXPECT_TRUE(*s->exists("grp/.zgroup"));
  EXPECT_TRUE(same(from_zarr(url, "grp/v").compute<double>(client_), v_values()));
  const std::string cmd = "/usr/bin/python3 " + std::string(kCheck) + " check " + server_->url("written.zarr") + " " +
                          token_file_->string();
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  // Written again over itself, with other chunks: the old chunks are gone.
  opts.chunks = {5, 9, 7};
  write_zarr(v, url, "grp/v", opts, client_);
  EXPECT_EQ(s->list("grp/v")->size(), 3u);
  EXPECT_TRUE(same(from_zarr(url, "grp/v").compute<double>(client_), v_values()));
}

// davs:// is https://: written and read back over TLS, the server's certificate
// verified against RSDAT_STORE_CA_FILE.
TEST_F(StoreOverDav, WritesAndReadsOverHttps) {
  const std::string url = "davs" + tls_server_->url("tls.zarr").substr(5);
  ASSERT_EQ(url.rfind("davs://127.0.0.1:", 0), 0u) << url;
  Array v = from_array(v_values(), {2, 4, 7}, client_);
  write_zarr(v, url, "v", ZarrWriteOptions{.fill_value = std::nan("")}, client_);
  EXPECT_TRUE(fs::exists(tls_server_->root() / "tls.zarr" / "v" / ".zarray"));
  EXPECT_TRUE(same(from_zarr(tls_server_->url("tls.zarr"), "v").compute<double>(client_), v_values()));
}

TEST_F(StoreOverDav, WrongTokenNamesTheHostAndStatusAndWritesNothing) {
  write_text(*token_file_, kWrongToken);
  const std::string origin = "http://127.0.0.1:" + std::to_string(server_->port());
  try {
    from_zarr(server_->url("nothing.zarr"), "a");
    ADD_FAILURE() << "from_zarr with a wrong token did not throw";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(origin), std::string::npos) << m;
    EXPECT_NE(m.find("HTTP 403 Forbidden"), std::string::npos) << m;
    EXPECT_EQ(m.find(kWrongToken), std::string::npos) << m;
  }
  try {
    write_zarr(ones({4, 4}, {2, 2}), server_->url("denied.zarr"), "a", {}, client_);
    ADD_FAILURE() << "write_zarr with a wrong token did not throw";
  } catch (const TaskError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(origin), std::string::npos) << m;
    EXPECT_NE(m.find("HTTP 403 Forbidden"), std::string::npos) << m;
    EXPECT_EQ(m.find(kWrongToken), std::string::npos) << m;
  }
  EXPECT_FALSE(fs::exists(server_->root() / "denied.zarr"));
}

// Every third connection dropped as it opens, then the first two answered 503: the
// retries still give exactly the values, read and written.
TEST_F(StoreOverDav, RetriesGiveTheExactResultThroughFaults) {
  write_zarr(from_array(v_values(), {2, 3, 7}, client_), (server_->root() / "faulty.zarr").string(), "v",
             ZarrWriteOptions{.chunks = {2, 3, 7}, .fill_value = std::nan("")}, client_);
  for (auto [drop_every, fail_first] : {std::pair{3, 0}, std::pair{0, 2}}) {
    SCOPED_TRACE("drop every " + std::to_string(drop_every) + ", 503 first " + std::to_string(fail_first));
    FaultProxy proxy(server_->port(), drop_every, fail_first);
    const std::string out = "out-" + std::to_string(drop_every) + "-" + std::to_string(fail_first) + ".zarr";
    Array v = from_zarr(proxy.url("faulty.zarr"), "v");
    EXPECT_TRUE(same(v.compute<double>(client_), v_values()));
    write_zarr(v * 2.0, proxy.url(out), "", ZarrWriteOptions{.fill_value = std::nan("")}, client_);
    EXPECT_TRUE(same(from_zarr((server_->root() / out).string()).compute<double>(client_), xt::xarray<double>(v_values() * 2.0)));
    proxy.stop();
    EXPECT_GT(proxy.dropped() + proxy.failed(), 0) << proxy.connections() << " connections";
    if (fail_first) {
      EXPECT_EQ(proxy.failed(), fail_first);
    }
  }
}

TEST_F(StoreOverDav, StoppedServerFailsTheTaskAfterRetriesAndTheClusterGoesOn) {
  write_zarr(from_array(v_values(), {5, 3, 7}, client_), server_->url("down.zarr"), "v", {}, client_);
  Array v = from_zarr(server_->url("down.zarr"), "v");  // metadata read: the server is up
  server_->stop();
  try {
    v.sum().item(client_);
    ADD_FAILURE() << "reading from a stopped server did not throw";
  } catch (const TaskError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("GET " + server_->url("down.zarr/v/")), std::string::npos) << m;
    EXPECT_NE(m.find("after 5 attempts"), std::string::npos) << m;
  }
  server_->start();
  EXPECT_EQ(ones({10, 10}, {5, 5}).sum().item(client_), 100.0);
  // Served again (through another URL: the failed graph's keys may not be released yet).
  EXPECT_TRUE(same(from_zarr("dav" + server_->url("down.zarr").substr(4), "v").compute<double>(client_), v_values()));
}

TEST_F(StoreOverDav, StoresConfigGivesPerPrefixTokensAndIsRefusedUnlessPrivate) {
  const fs::path config = *dir_ / "stores.json";
  write_text(*token_file_, kWrongToken);  // the config's entry wins over it
  write_text(config, json{{server_->url("conf"), {{"bearer_token", kToken}, {"headers", {{"X-Rsdat-Test", "1"}}}}}}.dump());
  ::chmod(config.c_str(), 0600);
  ::setenv("RSDAT_STORES_CONFIG", config.c_str(), 1);
  auto s = store::open_store(server_->url("conf/x.zarr"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE((*s)->put("k", "v").is_ok());
  // Not for another prefix: the wrong token from the file.
  auto other = std::move(store::open_store(server_->url("config/x.zarr"))).value();
  EXPECT_NE(other->put("k", "v").message().find("HTTP 403"), std::string::npos);
  ::chmod(config.c_str(), 0644);
  auto refused = store::open_store(server_->url("conf/x.zarr"));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("chmod 600"), std::string::npos) << refused.status().message();
  EXPECT_EQ(refused.status().message().find(kToken), std::string::npos);
  ::setenv("RSDAT_STORES_CONFIG", (*dir_ / "no-stores.json").c_str(), 1);
}

// The NDVI tool with URL:PATH arguments: bands read over http://, the map written over
// dav:// and compared with NumPy's from the server's directory.
TEST_F(StoreOverDav, NdviProgramTakesUrls) {
  const char* bin = std::getenv("RSDAT_BIN_DIR");
  ASSERT_NE(bin, nullptr) << "RSDAT_BIN_DIR names where rsdat-ndvi is";
  const std::string script = RSDAT_SOURCE_DIR "/tests/zarr/ndvi_check.py";
  const fs::path local = server_->root() / "ndvi";
  ASSERT_EQ(std::system(("/usr/bin/python3 " + script + " make " + local.string()).c_str()), 0);
  const std::string in = server_->url("ndvi/float.zarr");
  const std::string out = "dav" + server_->url("ndvi/float_ndvi.zarr").substr(4) + ":ndvi/mean";
  const std::string cmd = std::string(bin) + "/rsdat-ndvi --red " + in + ":B04 --nir " + in + ":B08 --out " + out +
                          " --scheduler-file " + cluster_->scheduler_file() + " >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::string check = "/usr/bin/python3 " + script + " check " + local.string() + " float " + local.string() +
                            "/float_ndvi.zarr:ndvi/mean";
  EXPECT_EQ(std::system(check.c_str()), 0) << check;
}

// A cluster of its own with its daemons' output in a file, logging everything: after
// a run that fails (the wrong token) and one that succeeds, no token is in the logs,
// the error messages, the scheduler file or the status page.
TEST_F(StoreOverDav, NoTokenInLogsErrorsSchedulerFileOrStatus) {
  const fs::path log = *dir_ / "daemons.log";
  // The daemons inherit stdout and stderr when they start: point both at the log.
  fflush(stdout);
  fflush(stderr);
  const int saved_out = ::dup(1), saved_err = ::dup(2);
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
  ::dup2(fd, 1);
  ::dup2(fd, 2);
  ::close(fd);
  std::string errors, scheduler_file, status;
  {
    LocalCluster cluster(LocalClusterOptions{.workers = 1, .memory_limit = "1GB", .log_level = "debug"});
    Client client(cluster, ClientOptions{.progress = false});
    write_zarr(ones({4, 4}, {2, 2}), server_->url("leak.zarr"), "a", {}, &client);
    write_text(*token_file_, kWrongToken);
    try {
      write_zarr(ones({4, 4}, {2, 2}), server_->url("leak.zarr"), "b", {}, &client);
    } catch (const std::exception& e) {
      errors += std::string(e.what()) + "\n";
    }
    try {
      from_zarr(server_->url("leak.zarr"), "a");
    } catch (const std::exception& e) {
      errors += std::string(e.what()) + "\n";
    }
    scheduler_file = read_text(cluster.scheduler_file());
    const std::string dashboard = json::parse(scheduler_file)["dashboard"];
    const std::string hostport = dashboard.substr(7, dashboard.find('/', 7) - 7);
    auto res = httplib::Client("http://" + hostport).Get("/status.json?token=" + dashboard.substr(dashboard.find("?token=") + 7));
    if (res) status = res->body;
  }
  fflush(stdout);
  fflush(stderr);
  ::dup2(saved_out, 1);
  ::dup2(saved_err, 2);
  ::close(saved_out);
  ::close(saved_err);
  const std::string logs = read_text(log);
  // The log holds what the workers said, the failure included.
  EXPECT_NE(logs.find("running zarr_write"), std::string::npos) << logs;
  EXPECT_NE(logs.find("HTTP 403 Forbidden"), std::string::npos) << logs;
  EXPECT_NE(errors.find("HTTP 403"), std::string::npos) << errors;
  EXPECT_FALSE(status.empty());
  for (const char* token : {kToken, kWrongToken}) {
    EXPECT_EQ(logs.find(token), std::string::npos) << logs;
    EXPECT_EQ(errors.find(token), std::string::npos) << errors;
    EXPECT_EQ(scheduler_file.find(token), std::string::npos);
    EXPECT_EQ(status.find(token), std::string::npos) << status;
  }
}

}  // namespace
}  // namespace rsdat
