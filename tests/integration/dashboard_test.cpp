// The scheduler's dashboard after a real computation: its JSON endpoints (task stream,
// progress, memory, workers, graph), and its pages opened in headless Chromium
// (Debian's chromium: --dump-dom of what the pages' scripts drew, and screenshots).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <httplib.h>

#include "rsdat/rsdat.hpp"
#include "tests/integration/spawn.hpp"

namespace rsdat {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Endpoint {
  std::string hostport;  // 127.0.0.1:PORT
  std::string token;
};

Endpoint endpoint_of(const std::string& scheduler_file) {
  std::ifstream in(scheduler_file);
  auto file = json::parse(in);
  const std::string url = file.at("dashboard");
  return {url.substr(7, url.find('/', 7) - 7), url.substr(url.find("?token=") + 7)};
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

class DashboardViews : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/rsdat-dashboard-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    for (pid_t pid : pids_) ::kill(pid, SIGTERM);
    for (pid_t pid : pids_) ::waitpid(pid, nullptr, 0);
    fs::remove_all(dir_);
  }
  // GETs `path` (with the token) until `ready` holds of its JSON; bounded: the
  // scheduler publishes twice a second and workers report with their heartbeats.
  json json_when(httplib::Client& http, const std::string& path, const std::function<bool(const json&)>& ready) {
    json doc;
    for (int i = 0; i < 100; ++i) {
      auto res = http.Get(path, {{"Authorization", "Bearer " + e_.token}});
      if (res && res->status == 200) {
        doc = json::parse(res->body);
        if (ready(doc)) return doc;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << path << " never got there: " << doc.dump().substr(0, 4000);
    return doc;
  }
  // Chromium's DOM of `page` after its scripts ran (5 s of virtual time: several polls).
  std::string dom_of(const std::string& page) {
    const std::string out = dir_ + "/dom-" + page + ".html";
    const std::string cmd = chromium("--dump-dom", page) + " > " + out + " 2> " + dir_ + "/chromium.log";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd << "\n" << std::ifstream(dir_ + "/chromium.log").rdbuf();
    std::stringstream s;
    s << std::ifstream(out).rdbuf();
    // What the scripts drew, without the scripts themselves.
    std::string dom = s.str();
    for (size_t at; (at = dom.find("<script>")) != std::string::npos;) {
      const size_t end = dom.find("</script>", at);
      dom.erase(at, end == std::string::npos ? std::string::npos : end + 9 - at);
    }
    return dom;
  }
  // A PNG of `page` (to RSDAT_DASHBOARD_SCREENSHOTS when set, else the test directory).
  std::string screenshot_of(const std::string& page) {
    const char* keep = std::getenv("RSDAT_DASHBOARD_SCREENSHOTS");
    const std::string png = (keep ? std::string(keep) : dir_) + "/dashboard-" + page + ".png";
    fs::remove(png);
    const std::string cmd = chromium("--screenshot=" + png + " --window-size=1100,700 --hide-scrollbars", page) +
                            " > " + dir_ + "/chromium.log 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd << "\n" << std::ifstream(dir_ + "/chromium.log").rdbuf();
    return png;
  }
  std::string chromium(const std::string& what, const std::string& page) const {
    return "chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir=" + dir_ +
           "/chromium-profile --virtual-time-budget=5000 " + what + " 'http://" + e_.hostport + "/" + page +
           "?token=" + e_.token + "'";
  }
  std::string dir_;
  std::vector<pid_t> pids_;
  Endpoint e_;
};

// x + x.T on two workers: random chunks, transposes that move chunks between workers,
// sums; the result is kept (persisted) so its array shows in memory.
struct Computation {
  Array total;
  double value;
};
Computation compute_on(Client& client) {
  auto x = random::uniform({600, 600}, {100, 100}, 11);
  Array y = (x + x.T()).persist(&client);
  const double v = y.sum().compute<double>(&client)();
  return {y, v};
}

TEST_F(DashboardViews, JsonEndpointsDescribeARealComputation) {
  LocalCluster cluster(LocalClusterOptions{.workers = 2, .memory_limit = "1GB"});
  Client client(cluster, ClientOptions{.progress = false});
  e_ = endpoint_of(cluster.scheduler_file());
  httplib::Client http("http://" + e_.hostport);
  for (const char* path : {"/api/task-stream.json", "/api/progress.json", "/api/memory.json", "/api/graph.json",
                           "/status.json", "/tasks", "/progress", "/memory", "/graph", "/workers", "/"}) {
    auto res = http.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 401) << path;
    EXPECT_EQ(res->body.find(e_.token), std::string::npos) << path;
  }
  Computation c = compute_on(client);
  EXPECT_GT(c.value, 0);

  // Task stream: every task of both graphs, on both workers' threads, by operation,
  // with the fetches of the transposed chunks.
  json stream = json_when(http, "/api/task-stream.json", [](const json& d) {
    size_t compute = 0;
    for (const auto& ev : d["events"]) compute += ev[2] == 0;
    return compute >= 36 * 2;
  });
  ASSERT_EQ(stream["workers"].size(), 2u) << stream.dump();
  std::set<std::string> ops;
  std::set<uint64_t> workers;
  size_t compute = 0, transfers = 0;
  for (const auto& ev : stream["events"]) {
    const int kind = ev[2];
    EXPECT_LE(ev[4].get<double>(), ev[5].get<double>());  // starts before it stops
    EXPECT_LE(ev[5].get<double>(), 0.0);                  // in the past
    if (kind == 0) {
      ++compute;
      ops.insert(stream["ops"][ev[3].get<size_t>()].get<std::string>());
      workers.insert(ev[0].get<uint64_t>());
      EXPECT_GE(ev[1].get<uint32_t>(), 0u);
      EXPECT_LE(ev[1].get<uint32_t>(), 1u);  // one thread each (0: the event loop)
    }
    if (kind == 2) {
      ++transfers;
      EXPECT_GT(ev[6].get<uint64_t>(), 0u);
    }
  }
  EXPECT_GE(compute, 72u);
  EXPECT_GT(transfers, 0u);
  EXPECT_EQ(workers.size(), 2u);
  EXPECT_GE(ops.size(), 2u) << stream["ops"].dump();
  EXPECT_EQ(stream["kinds"], json({"compute", "error", "transfer", "spill", "unspill"}));
  // A window of a second later on holds nothing of it.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  auto recent = json::parse(http.Get("/api/task-stream.json?seconds=1", {{"Authorization", "Bearer " + e_.token}})->body);
  EXPECT_TRUE(recent["events"].empty()) << recent.dump().substr(0, 2000);
  // Polling for what is new: nothing after the last answer's "next"; all of it from 0.
  const uint64_t next = stream["next"];
  EXPECT_GE(next, compute + transfers);
  auto none = json::parse(
      http.Get("/api/task-stream.json?after=" + std::to_string(next), {{"Authorization", "Bearer " + e_.token}})->body);
  EXPECT_TRUE(none["events"].empty()) << none.dump().substr(0, 2000);
  EXPECT_EQ(none["next"], next);
  EXPECT_GT(none["clock"].get<double>(), 0);
  auto last = json::parse(
      http.Get("/api/task-stream.json?after=" + std::to_string(next - 1), {{"Authorization", "Bearer " + e_.token}})->body);
  EXPECT_EQ(last["events"].size(), 1u);
  for (const char* bad : {"abc", "-1", "1.5", ""}) {
    auto res = http.Get(std::string("/api/task-stream.json?after=") + bad, {{"Authorization", "Bearer " + e_.token}});
    EXPECT_EQ(res->status, 400) << bad;
    EXPECT_NE(res->body.find("after"), std::string::npos);
  }
  for (const char* bad : {"abc", "-1", "0", "1e9", ""}) {
    auto res = http.Get(std::string("/api/task-stream.json?seconds=") + bad, {{"Authorization", "Bearer " + e_.token}});
    EXPECT_EQ(res->status, 400) << bad;
    EXPECT_NE(res->body.find("seconds"), std::string::npos);
  }

  // Progress: each array of the graphs, done; the persisted result still in memory.
  json progress = json_when(http, "/api/progress.json", [](const json& d) {
    if (d["arrays"].size() < 2) return false;
    for (const auto& a : d["arrays"]) {
      if (a["finished"] != a["total"]) return false;
    }
    return true;
  });
  uint64_t in_memory = 0;
  for (const auto& a : progress["arrays"]) {
    EXPECT_GT(a["total"].get<uint64_t>(), 0u);
    EXPECT_EQ(a["erred"], 0);
    EXPECT_EQ(a["waiting"], 0);
    EXPECT_EQ(a["processing"], 0);
    EXPECT_FALSE(a["name"].get<std::string>().empty());
    in_memory += a["memory"].get<uint64_t>();
  }
  EXPECT_GE(in_memory, 36u) << progress.dump();  // the 36 chunks of x + x.T

  // Graph: arrays linked to what they read, in the state of their tasks.
  json graph = json_when(http, "/api/graph.json", [](const json& d) { return d["arrays"].size() >= 2; });
  std::set<std::string> tokens;
  for (const auto& a : graph["arrays"]) tokens.insert(a["token"].get<std::string>());
  size_t edges = 0;
  std::set<std::string> states;
  for (const auto& a : graph["arrays"]) {
    states.insert(a["state"].get<std::string>());
    for (const auto& d : a["deps"]) edges += tokens.count(d.get<std::string>());
  }
  EXPECT_GT(edges, 0u) << graph.dump();
  EXPECT_TRUE(states.count("memory")) << graph.dump();
  EXPECT_FALSE(states.count("erred") || states.count("waiting") || states.count("processing")) << graph.dump();

  // Memory: both workers against their limit, with a history.
  json memory = json_when(http, "/api/memory.json", [](const json& d) {
    if (d["workers"].size() != 2) return false;
    uint64_t managed = 0;
    for (const auto& w : d["workers"]) managed += w["managed"].get<uint64_t>();
    return managed >= 36 * 100 * 100 * 8 && d["workers"][0]["history"]["t"].size() >= 2;
  });
  for (const auto& w : memory["workers"]) {
    EXPECT_EQ(w["memory_limit"], 1000000000);
    EXPECT_GT(w["unmanaged"].get<uint64_t>(), 0u);
    EXPECT_EQ(w["history"]["t"].size(), w["history"]["managed"].size());
    EXPECT_LE(w["history"]["t"].back().get<double>(), 0.0);
  }

  // Workers: CPU used and bytes moved between them, by heartbeat.
  json status = json_when(http, "/status.json", [](const json& d) {
    uint64_t in = 0, out = 0;
    double cpu = 0;
    for (const auto& w : d["workers"]) {
      in += w["network_in_bytes"].get<uint64_t>();
      out += w["network_out_bytes"].get<uint64_t>();
      cpu += w["cpu_seconds"].get<double>();
    }
    return d["workers"].size() == 2 && in > 0 && out > 0 && cpu > 0;
  });
  for (const auto& w : status["workers"]) {
    EXPECT_FALSE(w["paused"].get<bool>());
    EXPECT_EQ(w["pause_reason"], "");
    EXPECT_GE(w["cpu"].get<double>(), 0.0);
  }
}

TEST_F(DashboardViews, TheTaskStreamKeepsAsManyEventsAsAskedFor) {
  const char* bin = std::getenv("RSDAT_BIN_DIR");
  ASSERT_NE(bin, nullptr);
  const std::string file = dir_ + "/scheduler.json";
  pids_.push_back(test_support::spawn_logged({std::string(bin) + "/rsdat-scheduler", "--scheduler-file", file,
                                              "--no-encryption", "--task-stream-size", "10"},
                                             dir_ + "/scheduler.log"));
  for (int i = 0; i < 100 && !fs::exists(file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(file));
  pids_.push_back(test_support::spawn_logged({std::string(bin) + "/rsdat-worker", "--scheduler-file", file, "--nthreads",
                                              "1", "--memory-limit", "1GB", "--local-directory", dir_},
                                             dir_ + "/worker.log"));
  auto client = Client::from_scheduler_file(file, 30, ClientOptions{.progress = false});
  EXPECT_DOUBLE_EQ(ones({100}, {5}).sum().item(client.get()), 100.0);  // 20 chunks and their sums
  e_ = endpoint_of(file);
  httplib::Client http("http://" + e_.hostport);
  json stream = json_when(http, "/api/task-stream.json", [](const json& d) { return d["events"].size() >= 10; });
  EXPECT_EQ(stream["events"].size(), 10u);
  // The newest: the final sum is among them.
  double latest = -1e9;
  for (const auto& ev : stream["events"]) latest = std::max(latest, ev[5].get<double>());
  EXPECT_LE(latest, 0.0);
}

TEST_F(DashboardViews, EachPageRendersItsViewInChromium) {
  ASSERT_EQ(std::system("command -v chromium > /dev/null"), 0)
      << "needs Debian's chromium (scripts/install-deps.sh --with-python)";
  LocalCluster cluster(LocalClusterOptions{.workers = 2, .memory_limit = "1GB"});
  Client client(cluster, ClientOptions{.progress = false});
  e_ = endpoint_of(cluster.scheduler_file());
  Computation c = compute_on(client);
  EXPECT_GT(c.value, 0);
  httplib::Client http("http://" + e_.hostport);
  // Wait until the workers' heartbeats after the work are in (the pages show them).
  json status = json_when(http, "/status.json", [](const json& d) {
    uint64_t in = 0;
    for (const auto& w : d["workers"]) in += w["network_in_bytes"].get<uint64_t>();
    return d["workers"].size() == 2 && in > 0 && d["tasks_finished"].get<uint64_t>() >= 72;
  });
  std::vector<std::string> names;
  for (const auto& w : status["workers"]) names.push_back(w["name"]);

  // Workers: the table, one row per worker, drawn by the page's script.
  std::string dom = dom_of("workers");
  EXPECT_EQ(count_of(dom, "<tr class=\"worker\""), 2u) << dom;
  for (const std::string& n : names) EXPECT_NE(dom.find("data-name=\"" + n + "\""), std::string::npos) << n;
  EXPECT_NE(dom.find("class=\"cpu\""), std::string::npos);
  EXPECT_NE(dom.find("2 workers, 2 threads"), std::string::npos) << dom;
  EXPECT_EQ(count_of(dom, "running</td>"), 2u) << dom;
  EXPECT_EQ(dom.find("not reachable"), std::string::npos) << dom;
  EXPECT_EQ(count_of(dom_of(""), "<tr class=\"worker\""), 2u);  // / is the workers page

  // Task stream: bars for the tasks on each worker's thread, coloured by operation.
  dom = dom_of("tasks");
  EXPECT_GE(count_of(dom, "<rect class=\"compute\""), 72u) << dom.substr(0, 4000);
  EXPECT_GT(count_of(dom, "<rect class=\"transfer\""), 0u);
  for (const std::string& n : names) EXPECT_NE(dom.find(n + " thread 1"), std::string::npos) << n;
  EXPECT_GE(count_of(dom, "<span class=\"op\""), 2u);
  EXPECT_NE(dom.find("tasks on 2 workers"), std::string::npos);

  // Progress: a bar per array, all done.
  dom = dom_of("progress");
  std::regex row("<tr class=\"array\" data-op=\"[^\"]+\" data-done=\"(\\d+)\" data-total=\"(\\d+)\"");
  size_t rows = 0;
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), row); it != std::sregex_iterator(); ++it) {
    ++rows;
    EXPECT_EQ((*it)[1], (*it)[2]) << it->str();
  }
  EXPECT_GE(rows, 2u) << dom;
  EXPECT_GT(count_of(dom, "<span class=\"memory\" style=\"width:"), 0u) << dom;
  EXPECT_EQ(count_of(dom, "<span class=\"waiting\" style=\"width:"), 0u) << dom;

  // Memory: both workers' bars and lines over time.
  dom = dom_of("memory");
  EXPECT_EQ(count_of(dom, "<tr class=\"worker-memory\""), 2u) << dom;
  EXPECT_EQ(count_of(dom, "<polyline class=\"series\""), 2u) << dom;
  EXPECT_GE(count_of(dom, "<span class=\"managed\" style=\"width:"), 2u) << dom;

  // Graph: the arrays, their dependencies, the persisted one in memory.
  dom = dom_of("graph");
  EXPECT_GE(count_of(dom, "<g class=\"node\""), 2u) << dom;
  EXPECT_GT(count_of(dom, "<path class=\"edge\""), 0u) << dom;
  EXPECT_NE(dom.find("data-state=\"memory\""), std::string::npos) << dom;

  // And as pictures: a PNG of each page.
  for (const char* page : {"workers", "tasks", "progress", "memory", "graph"}) {
    const std::string png = screenshot_of(page);
    ASSERT_TRUE(fs::exists(png)) << page;
    std::ifstream in(png, std::ios::binary);
    char magic[8] = {};
    in.read(magic, 8);
    EXPECT_EQ(std::string(magic + 1, 3), "PNG") << page;
    EXPECT_GT(fs::file_size(png), 5000u) << page;  // more than a blank page
  }
}

}  // namespace
}  // namespace rsdat
