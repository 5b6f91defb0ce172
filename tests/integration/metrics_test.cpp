// Prometheus metrics: the scheduler's /metrics in the text format behind the dashboard's
// token, linted by promtool, and scraped by a real Prometheus server on loopback.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include <httplib.h>

#include "rsdat/rsdat.hpp"
#include "tests/integration/dav_server.hpp"
#include "tests/integration/spawn.hpp"

namespace rsdat {
namespace {

namespace fs = std::filesystem;

struct Endpoint {
  std::string hostport;  // 127.0.0.1:PORT
  std::string token;
  std::string metrics_url;
};

Endpoint endpoint_of(const std::string& scheduler_file) {
  std::ifstream in(scheduler_file);
  auto file = nlohmann::json::parse(in);
  Endpoint e;
  const std::string url = file.at("dashboard");
  e.token = url.substr(url.find("?token=") + 7);
  e.hostport = url.substr(7, url.find('/', 7) - 7);
  e.metrics_url = file.at("metrics");
  return e;
}

// The value of the sample `name{labels}` (labels as written, "" for none); NaN if absent.
double sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nan("");
}

// The sum of every sample of `name` whose labels contain `having` (all samples for "").
double sum_of(const std::string& text, const std::string& name, const std::string& having = "") {
  std::istringstream in(text);
  std::string line;
  double total = 0;
  while (std::getline(in, line)) {
    if (line.rfind(name + "{", 0) != 0 && line.rfind(name + " ", 0) != 0) continue;
    const size_t space = line.rfind(' ');
    if (!having.empty() && line.substr(0, space).find(having) == std::string::npos) continue;
    total += std::stod(line.substr(space + 1));
  }
  return total;
}

class Metrics : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/rsdat-metrics-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    for (pid_t pid : pids_) ::kill(pid, SIGTERM);
    for (pid_t pid : pids_) ::waitpid(pid, nullptr, 0);
    fs::remove_all(dir_);
  }
  // Fetches /metrics until `ready` holds of it (bounded: the scheduler refreshes them
  // every half second and workers report with their heartbeats).
  template <class Ready>
  std::string metrics_when(httplib::Client& http, const httplib::Headers& headers, Ready ready) {
    std::string body;
    for (int i = 0; i < 100; ++i) {
      auto res = http.Get("/metrics", headers);
      if (res && res->status == 200) {
        body = res->body;
        if (ready(body)) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return body;
  }
  std::string dir_;
  std::vector<pid_t> pids_;
};

TEST_F(Metrics, TheSchedulerServesTheClusterInPrometheusTextBehindItsToken) {
  LocalCluster cluster(LocalClusterOptions{.workers = 2, .memory_limit = "1GB"});
  Client client(cluster, ClientOptions{.progress = false});
  const Endpoint e = endpoint_of(cluster.scheduler_file());
  EXPECT_EQ(e.metrics_url, "http://" + e.hostport + "/metrics");
  httplib::Client http("http://" + e.hostport);
  auto denied = http.Get("/metrics");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  EXPECT_EQ(http.Get("/metrics", {{"Authorization", "Bearer wrong"}})->status, 401);
  EXPECT_EQ(denied->body.find(e.token), std::string::npos);

  // Work of every kind the metrics count: tasks, a transfer between workers (the
  // transpose), a Zarr write and read (store bytes).
  auto x = random::uniform({600, 600}, {100, 100}, 7);
  const std::string store = dir_ + "/x.zarr";
  write_zarr(x, store, "", {}, &client);
  auto back = from_zarr(store);
  const double total = (back + back.T()).sum().compute<double>(&client)();
  EXPECT_GT(total, 0);

  const httplib::Headers bearer{{"Authorization", "Bearer " + e.token}};
  // Workers report with their heartbeats: wait for one sent after the last task.
  const std::string text = metrics_when(http, bearer, [](const std::string& t) {
    return sum_of(t, "rsdat_worker_store_read_bytes_total") > 0 && sum_of(t, "rsdat_worker_store_written_bytes_total") > 0 &&
           sum_of(t, "rsdat_worker_tasks_executed_total") > 108 && sum_of(t, "rsdat_worker_fetched_bytes_total") > 0 &&
           sample(t, "rsdat_scheduler_tasks_finished_total") > 108;
  });
  ASSERT_FALSE(text.empty());
  auto res = http.Get("/metrics", bearer);
  EXPECT_EQ(res->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u);
  EXPECT_EQ(sample(text, "rsdat_scheduler_workers"), 2) << text;
  EXPECT_EQ(sample(text, "rsdat_scheduler_threads"), 2) << text;
  // 36 chunks written, 36 read, 36 transposed sums, a tree of partial sums: more than 108.
  EXPECT_GT(sample(text, "rsdat_scheduler_tasks_finished_total"), 108) << text;
  EXPECT_EQ(sample(text, "rsdat_scheduler_tasks_erred_total"), 0) << text;
  EXPECT_GE(sample(text, "rsdat_scheduler_graphs_total"), 2) << text;
  EXPECT_GT(sample(text, "rsdat_scheduler_transferred_bytes_total"), 0) << text;
  EXPECT_EQ(sample(text, "rsdat_scheduler_malformed_messages_total"), 0) << text;
  EXPECT_GT(sample(text, "rsdat_scheduler_event_loop_busy_seconds_total"), 0) << text;
  EXPECT_GT(sample(text, "rsdat_scheduler_event_loop_turn_seconds_count"), 0) << text;
  for (const char* state : {"waiting", "queued", "processing", "memory", "erred"}) {
    EXPECT_FALSE(std::isnan(sample(text, std::string("rsdat_scheduler_tasks{state=\"") + state + "\"}")))
        << state << "\n" << text;
  }
  // Per worker, named by the worker label.
  EXPECT_EQ(sum_of(text, "rsdat_worker_memory_limit_bytes"), 2.0 * 1e9) << text;
  EXPECT_GT(sum_of(text, "rsdat_worker_rss_bytes"), 0) << text;
  EXPECT_EQ(sum_of(text, "rsdat_worker_threads"), 2) << text;
  // The 2.88 MB written went to the local directory store, every byte of it once.
  EXPECT_GE(sum_of(text, "rsdat_worker_store_written_bytes_total", "store=\"file\""), 36 * 100 * 100 * 8 / 2.0)
      << text;
  EXPECT_GE(sum_of(text, "rsdat_worker_store_read_bytes_total", "store=\"file\""), 36 * 100 * 100 * 8 / 2.0)
      << text;
  EXPECT_GT(sum_of(text, "rsdat_worker_fetched_bytes_total"), 0) << text;
  EXPECT_GT(sum_of(text, "rsdat_worker_fetch_seconds_count"), 0) << text;
  EXPECT_GT(sum_of(text, "rsdat_worker_tasks_executed_total"), 108) << text;
  EXPECT_NE(text.find("worker=\""), std::string::npos);
  EXPECT_EQ(text.find(e.token), std::string::npos);

  // Prometheus' own linter accepts it.
  const std::string file = dir_ + "/metrics.txt";
  std::ofstream(file) << text;
  const std::string check = "promtool check metrics < " + file + " > " + dir_ + "/promtool.log 2>&1";
  EXPECT_EQ(std::system(check.c_str()), 0) << std::ifstream(dir_ + "/promtool.log").rdbuf();

  // A cookie from the dashboard's address works as well.
  auto page = http.Get("/?token=" + e.token);
  const std::string cookie = page->get_header_value("Set-Cookie");
  EXPECT_EQ(http.Get("/metrics", {{"Cookie", cookie.substr(0, cookie.find(';'))}})->status, 200);
}

TEST_F(Metrics, MetricsPublicServesMetricsWithoutTheTokenButNothingElse) {
  const char* bin = std::getenv("RSDAT_BIN_DIR");
  ASSERT_NE(bin, nullptr);
  const std::string file = dir_ + "/scheduler.json";
  pids_.push_back(test_support::spawn_logged(
      {std::string(bin) + "/rsdat-scheduler", "--scheduler-file", file, "--no-encryption", "--metrics-public"},
      dir_ + "/scheduler.log"));
  for (int i = 0; i < 100 && !fs::exists(file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(file));  // written whole and then linked into place
  const Endpoint e = endpoint_of(file);
  httplib::Client http("http://" + e.hostport);
  auto res = http.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(sample(res->body, "rsdat_scheduler_workers"), 0) << res->body;
  EXPECT_EQ(http.Get("/status.json")->status, 401);
  EXPECT_EQ(http.Get("/")->status, 401);
}

TEST_F(Metrics, APrometheusServerScrapesARunningCluster) {
  LocalCluster cluster(LocalClusterOptions{.workers = 2, .memory_limit = "1GB"});
  Client client(cluster, ClientOptions{.progress = false});
  const Endpoint e = endpoint_of(cluster.scheduler_file());
  auto x = random::uniform({800, 800}, {100, 100}, 3);
  EXPECT_GT(x.sum().compute<double>(&client)(), 0);  // 64 chunks, then their sums

  const int port = test_support::free_port();
  {
    std::ofstream(dir_ + "/token") << e.token;
    std::ofstream conf(dir_ + "/prometheus.yml");
    conf << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
         << "scrape_configs:\n  - job_name: rsdat\n    metrics_path: /metrics\n"
         << "    authorization:\n      type: Bearer\n      credentials_file: " << dir_ << "/token\n"
         << "    static_configs:\n      - targets: ['" << e.hostport << "']\n";
  }
  pids_.push_back(test_support::spawn_logged(
      {"/usr/bin/prometheus", "--config.file=" + dir_ + "/prometheus.yml", "--storage.tsdb.path=" + dir_ + "/tsdb",
       "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"},
      dir_ + "/prometheus.log"));
  httplib::Client prom("127.0.0.1", port);
  double finished = 0;
  std::string last;
  for (int i = 0; i < 300 && finished < 64; ++i) {  // at most 30 s: start-up, then a scrape a second
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto res = prom.Get("/api/v1/query?query=rsdat_scheduler_tasks_finished_total");
    if (!res || res->status != 200) continue;
    last = res->body;
    auto j = nlohmann::json::parse(res->body);
    const auto& result = j["data"]["result"];
    if (result.empty()) continue;
    finished = std::stod(result[0]["value"][1].get<std::string>());
  }
  EXPECT_GE(finished, 64) << last << "\n" << std::ifstream(dir_ + "/prometheus.log").rdbuf();
  auto up = prom.Get("/api/v1/query?query=up");
  ASSERT_TRUE(up);
  EXPECT_NE(up->body.find("\"1\""), std::string::npos) << up->body;
}

}  // namespace
}  // namespace rsdat
