// Strangers are refused: real daemons on loopback with CURVE keys, and clients and
// workers with no keys, another cluster's keys, or a key not on the allow-list.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include <httplib.h>

#include "rsdat/rsdat.hpp"
#include "net/scheduler_file.hpp"
#include "net/security.hpp"
#include "net/transport.hpp"
#include "tests/integration/spawn.hpp"

namespace rsdat {
namespace {

namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Daemons started as separate processes, their output in log files, stopped by pid.
class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("RSDAT_BIN_DIR");
    ASSERT_NE(bin, nullptr);
    bin_ = bin;
    char dir[] = "/tmp/rsdat-security-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    for (pid_t pid : pids_) ::kill(pid, SIGINT);
    for (pid_t pid : pids_) ::waitpid(pid, nullptr, 0);
    fs::remove_all(dir_);
  }

  pid_t spawn(const std::string& program, std::vector<std::string> args, const std::string& log) {
    args.insert(args.begin(), bin_ + "/" + program);
    pid_t pid = test_support::spawn_logged(std::move(args), log);
    pids_.push_back(pid);
    return pid;
  }
  // Runs a daemon to its end (it is expected to fail); returns its exit status.
  int run_to_end(const std::string& program, std::vector<std::string> args, const std::string& log) {
    pid_t pid = spawn(program, std::move(args), log);
    int status = 0;
    ::waitpid(pid, &status, 0);
    pids_.erase(std::find(pids_.begin(), pids_.end(), pid));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  std::string start_scheduler(std::vector<std::string> extra = {}) {
    std::string file = dir_ + "/scheduler.json";
    std::vector<std::string> args{"--scheduler-file", file, "--port", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    spawn("rsdat-scheduler", args, scheduler_log());
    auto info = wait_for_scheduler_file(file, 20);
    EXPECT_TRUE(info.ok()) << info.status().to_string() << "\n" << read_text(scheduler_log());
    return file;
  }
  void start_worker(const std::string& file, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--scheduler-file", file, "--nthreads", "1", "--memory-limit", "1GB"};
    args.insert(args.end(), extra.begin(), extra.end());
    spawn("rsdat-worker", args, dir_ + "/worker.log");
  }
  // The log of the scheduler holds `text` (within a few seconds).
  bool scheduler_logged(const std::string& text) {
    for (int i = 0; i < 100; ++i) {
      if (read_text(scheduler_log()).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  std::string scheduler_log() const { return dir_ + "/scheduler.log"; }
  std::string write_keys(const std::string& name, const CurveKeys& keys) {
    std::string path = dir_ + "/" + name;
    EXPECT_TRUE(write_key_file(path, keys).is_ok());
    return path;
  }
  static ClientOptions quick(const std::string& key_file = "", bool encryption = true) {
    return ClientOptions{.connect_timeout = 10, .progress = false, .key_file = key_file, .encryption = encryption};
  }
  std::string expect_refused(const std::string& address, const ClientOptions& options) {
    try {
      Client c(address, options);
    } catch (const ClusterError& e) {
      return e.what();
    }
    ADD_FAILURE() << "a client was admitted to " << address;
    return "";
  }

  std::string bin_, dir_;
  std::vector<pid_t> pids_;
};

TEST_F(SecurityTest, EncryptedByDefaultWithPrivateKeyFiles) {
  std::string file = start_scheduler();
  start_worker(file);
  auto info = read_scheduler_file(file);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->encryption);
  EXPECT_EQ(info->key_file, dir_ + "/scheduler.key");
  auto keys = read_key_file(info->key_file);
  ASSERT_TRUE(keys.ok()) << keys.status().to_string();
  EXPECT_EQ(info->server_key, keys->server_public);
  struct stat st{};
  ASSERT_EQ(::stat(info->key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto client = Client::from_scheduler_file(file, 20, quick());
  for (int i = 0; i < 200 && client->cluster_status().workers.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_EQ(client->cluster_status().workers.size(), 1u) << read_text(dir_ + "/worker.log");
  auto x = random::uniform({400, 400}, {100, 100}, 3);
  EXPECT_DOUBLE_EQ((x * 2.0).sum().item(client.get()), 2.0 * x.sum().item(client.get()));
  // Gathering talks to the worker directly: that connection is encrypted too.
  EXPECT_EQ(x.compute<double>(client.get()).size(), 160000u);
  EXPECT_TRUE(scheduler_logged("CURVE encrypted"));
}

TEST_F(SecurityTest, StrangersAreRefusedAndTheRefusalIsLogged) {
  std::string file = start_scheduler();
  start_worker(file);
  auto info = read_scheduler_file(file);
  ASSERT_TRUE(info.ok());
  auto cluster_keys = read_key_file(info->key_file);
  ASSERT_TRUE(cluster_keys.ok());

  // No keys at all.
  std::string why = expect_refused(info->address, quick("", /*encryption=*/false));
  EXPECT_NE(why.find("refused the connection"), std::string::npos) << why;
  EXPECT_TRUE(scheduler_logged("refused a connection from"));

  // Another cluster's keys: the handshake fails on the server key.
  std::string other = write_keys("other.key", generate_curve_keys());
  why = expect_refused(info->address, quick(other));
  EXPECT_NE(why.find("refused the connection"), std::string::npos) << why;

  // The right server key but a client key not on the allow-list: refused by the ZAP
  // handler, which logs the peer's address and key.
  CurveKeys intruder = generate_curve_keys();
  intruder.server_public = cluster_keys->server_public;
  intruder.server_secret.clear();
  std::string intruder_file = write_keys("intruder.key", intruder);
  why = expect_refused(info->address, quick(intruder_file));
  EXPECT_NE(why.find("allow-list"), std::string::npos) << why;
  EXPECT_TRUE(scheduler_logged("refused a connection from 127.0.0.1: key " + intruder.client_public +
                               " is not on the allow-list"))
      << read_text(scheduler_log());

  // A worker with wrong keys never joins, and says why.
  CurveKeys bad_worker = generate_curve_keys();
  bad_worker.server_public = cluster_keys->server_public;
  std::string bad_worker_file = write_keys("bad-worker.key", bad_worker);
  EXPECT_EQ(run_to_end("rsdat-worker",
                       {"--scheduler", info->address, "--key-file", bad_worker_file, "--nthreads", "1",
                        "--memory-limit", "1GB"},
                       dir_ + "/bad-worker.log"),
            1);
  EXPECT_NE(read_text(dir_ + "/bad-worker.log").find("allow-list"), std::string::npos)
      << read_text(dir_ + "/bad-worker.log");

  // The cluster serves its own client as before.
  auto client = Client::from_scheduler_file(file, 20, quick());
  EXPECT_DOUBLE_EQ(ones({100}, {10}).sum().item(client.get()), 100.0);
  EXPECT_EQ(client->cluster_status().workers.size(), 1u);
}

TEST_F(SecurityTest, WorkerPeerSocketsRefuseStrangers) {
  std::string file = start_scheduler();
  start_worker(file);
  auto client = Client::from_scheduler_file(file, 20, quick());
  for (int i = 0; i < 200 && client->cluster_status().workers.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  auto workers = client->cluster_status().workers;
  ASSERT_EQ(workers.size(), 1u);
  const std::string& address = workers[0].address;
  auto cluster_keys = read_key_file(dir_ + "/scheduler.key");
  ASSERT_TRUE(cluster_keys.ok());
  // A DEALER with the worker's server key and a stranger's client key asks for chunks.
  CurveKeys stranger = generate_curve_keys();
  SocketSecurity security{.encryption = true, .keys = stranger};
  security.keys.server_public = cluster_keys->server_public;
  zmq::context_t ctx(1);
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  configure_socket(s);
  security.make_client(s, address);
  HandshakeWatch watch;
  watch.start(s, "inproc://test-watch");
  s.connect(address);
  std::string failure;
  for (int i = 0; i < 100 && failure.empty(); ++i) {
    failure = watch.failure();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(failure.find("allow-list"), std::string::npos) << failure;
  bool logged = false;
  for (int i = 0; i < 100 && !logged; ++i) {
    logged = read_text(dir_ + "/worker.log").find("worker refused a connection from 127.0.0.1: key " +
                                                  stranger.client_public) != std::string::npos;
    if (!logged) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(logged) << read_text(dir_ + "/worker.log");
}

TEST_F(SecurityTest, AllowedKeysFileAdmitsAnotherClient) {
  CurveKeys colleague = generate_curve_keys();
  std::string allowed = dir_ + "/allowed_keys";
  {
    std::ofstream out(allowed);
    out << "# a colleague's client key\n" << colleague.client_public << "  # shared analysis\n\n";
  }
  std::string file = start_scheduler({"--allowed-keys", allowed});
  start_worker(file);
  auto info = read_scheduler_file(file);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->allowed_keys, allowed);
  colleague.server_public = info->server_key;
  colleague.server_secret.clear();
  std::string colleague_file = write_keys("colleague.key", colleague);
  Client c(info->address, quick(colleague_file));
  EXPECT_DOUBLE_EQ(ones({10}, {5}).sum().item(&c), 10.0);
}

TEST_F(SecurityTest, NoEncryptionIsExplicitAndWarns) {
  std::string file = start_scheduler({"--no-encryption"});
  start_worker(file);
  auto info = read_scheduler_file(file);
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->encryption);
  EXPECT_TRUE(scheduler_logged("encryption is OFF"));
  auto client = Client::from_scheduler_file(file, 20, quick());
  EXPECT_DOUBLE_EQ(ones({10}, {5}).sum().item(client.get()), 10.0);
  // A client that insists on encryption is refused rather than silently downgraded.
  auto keys = read_key_file(write_keys("any.key", generate_curve_keys()));
  ASSERT_TRUE(keys.ok());
  std::string why = expect_refused(info->address, quick(dir_ + "/any.key"));
  EXPECT_NE(why.find("refused the connection"), std::string::npos) << why;
}

TEST_F(SecurityTest, BadBindAddressesAndKeyFilesAreClearErrors) {
  std::string log = dir_ + "/refused.log";
  EXPECT_EQ(run_to_end("rsdat-scheduler", {"--host", "0.0.0.0"}, log), 1);
  EXPECT_NE(read_text(log).find("refusing to bind to every interface"), std::string::npos) << read_text(log);
  EXPECT_EQ(run_to_end("rsdat-scheduler", {"--interface", "no-such-if0"}, log), 1);
  EXPECT_NE(read_text(log).find("no-such-if0"), std::string::npos) << read_text(log);
  EXPECT_NE(read_text(log).find("lo=127.0.0.1"), std::string::npos) << read_text(log);
  // A key file others can read is refused.
  std::string loose = write_keys("loose.key", generate_curve_keys());
  ::chmod(loose.c_str(), 0644);
  EXPECT_EQ(run_to_end("rsdat-scheduler", {"--key-file", loose}, log), 1);
  EXPECT_NE(read_text(log).find("chmod 600"), std::string::npos) << read_text(log);
  // A worker without a key file for an encrypted scheduler says what it needs.
  EXPECT_EQ(run_to_end("rsdat-worker", {"--scheduler", "tcp://127.0.0.1:1", "--key-file", dir_ + "/none.key",
                                        "--memory-limit", "1GB"},
                       log),
            1);
  EXPECT_NE(read_text(log).find("cluster's key file"), std::string::npos) << read_text(log);
  // A worker that cannot reach its scheduler says which address it tried and what this
  // node's addresses are.
  std::string unreachable = dir_ + "/unreachable.log";
  EXPECT_EQ(run_to_end("rsdat-worker", {"--scheduler", "tcp://127.0.0.1:1", "--no-encryption", "--connect-timeout",
                                        "1", "--memory-limit", "1GB"},
                       unreachable),
            1);
  EXPECT_NE(read_text(unreachable).find("tcp://127.0.0.1:1"), std::string::npos) << read_text(unreachable);
  EXPECT_NE(read_text(unreachable).find("lo=127.0.0.1"), std::string::npos) << read_text(unreachable);
  // --interface names the loopback interface: bound there.
  std::string file = start_scheduler({"--interface", "lo"});
  auto info = read_scheduler_file(file);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->address.rfind("tcp://127.0.0.1:", 0), 0u) << info->address;
}

TEST(LocalClusterSecurity, IpcByDefaultAndTcpEncrypted) {
  {
    LocalCluster cluster(LocalClusterOptions{.workers = 1, .memory_limit = "1GB"});
    EXPECT_EQ(cluster.scheduler_address().rfind("ipc://", 0), 0u) << cluster.scheduler_address();
    EXPECT_EQ(cluster.key_file(), "");
    struct stat st{};
    ASSERT_EQ(::stat(fs::path(cluster.scheduler_file()).parent_path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);  // only this user can open its sockets
  }
  LocalCluster cluster(LocalClusterOptions{.workers = 2, .memory_limit = "1GB", .transport = "tcp"});
  EXPECT_EQ(cluster.scheduler_address().rfind("tcp://127.0.0.1:", 0), 0u) << cluster.scheduler_address();
  ASSERT_NE(cluster.key_file(), "");
  EXPECT_TRUE(read_key_file(cluster.key_file()).ok());
  Client client(cluster, ClientOptions{.progress = false});
  auto x = random::uniform({600, 600}, {100, 100}, 5);
  // Workers exchange blocks for the transpose over encrypted peer connections.
  auto got = (x + x.T()).compute<double>(&client);
  auto ref = x.compute<double>(&client);
  EXPECT_EQ(got, ref + xt::transpose(ref));
  EXPECT_THROW(LocalCluster(LocalClusterOptions{.workers = 1, .transport = "udp"}), std::invalid_argument);
}

}  // namespace
}  // namespace rsdat

namespace rsdat {
namespace {

// The dashboard: on the scheduler's host, only for whoever has the scheduler file's token.
TEST(Dashboard, ShowsTheWorkersToTheTokenOnly) {
  LocalCluster cluster(LocalClusterOptions{.workers = 2, .memory_limit = "1GB"});
  Client client(cluster, ClientOptions{.progress = false});
  std::ifstream in(cluster.scheduler_file());
  auto file = nlohmann::json::parse(in);
  ASSERT_TRUE(file["dashboard"].is_string()) << file.dump();
  const std::string url = file["dashboard"];
  ASSERT_EQ(url.rfind("http://127.0.0.1:", 0), 0u) << url;
  const std::string token = url.substr(url.find("?token=") + 7);
  const std::string hostport = url.substr(7, url.find('/', 7) - 7);
  httplib::Client http("http://" + hostport);
  auto denied = http.Get("/status.json");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  EXPECT_EQ(http.Get("/status.json?token=wrong")->status, 401);
  auto x = random::uniform({400, 400}, {100, 100}, 2).persist(&client);
  nlohmann::json status;
  for (int i = 0; i < 50; ++i) {  // published every half second
    auto res = http.Get("/status.json?token=" + token);
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
    status = nlohmann::json::parse(res->body);
    if (status["tasks"] == 16) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status["workers"].size(), 2u) << status.dump();
  EXPECT_EQ(status["tasks"], 16) << status.dump();
  uint64_t chunks = 0;
  for (const auto& w : status["workers"]) chunks += w["keys"].get<uint64_t>();
  EXPECT_EQ(chunks, 16u);
  auto page = http.Get("/?token=" + token);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<title>rsdat: Workers</title>"), std::string::npos);
  EXPECT_NE(page->get_header_value("Set-Cookie").find(token), std::string::npos);
}

}  // namespace
}  // namespace rsdat
