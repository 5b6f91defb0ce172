// The performance report: a computation inside one, the data embedded in the file it
// writes, the page opened in headless Chromium (--dump-dom and a screenshot), a small
// task stream that overflows, a scheduler that keeps none, and the error paths.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "rsdat/rsdat.hpp"
#include "tests/integration/spawn.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace rsdat;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The JSON the page embeds (the script that draws it reads the same).
json embedded_data(const std::string& html) {
  const std::string open = "<script id=\"report-data\" type=\"application/json\">";
  const size_t at = html.find(open);
  if (at == std::string::npos) return json();
  const size_t from = at + open.size(), to = html.find("</script>", from);
  std::string text = html.substr(from, to - from);
  for (size_t i = 0; (i = text.find("<\\/", i)) != std::string::npos;) text.replace(i, 3, "</");
  return json::parse(text);
}

class PerformanceReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/rsdat-report-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    for (pid_t pid : pids_) ::kill(pid, SIGTERM);
    for (pid_t pid : pids_) ::waitpid(pid, nullptr, 0);
    fs::remove_all(dir_);
  }
  // A scheduler with `stream_size` task events and one worker of two threads.
  std::unique_ptr<Client> cluster_with_stream(const std::string& stream_size) {
    const char* bin = std::getenv("RSDAT_BIN_DIR");
    if (!bin) return nullptr;
    const std::string file = dir_ + "/scheduler.json";
    pids_.push_back(test_support::spawn_logged({std::string(bin) + "/rsdat-scheduler", "--scheduler-file", file,
                                                "--no-encryption", "--task-stream-size", stream_size},
                                               dir_ + "/scheduler.log"));
    for (int i = 0; i < 100 && !fs::exists(file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pids_.push_back(test_support::spawn_logged({std::string(bin) + "/rsdat-worker", "--scheduler-file", file,
                                                "--nthreads", "2", "--memory-limit", "1GB", "--local-directory", dir_},
                                               dir_ + "/worker.log"));
    return Client::from_scheduler_file(file, 30, ClientOptions{.progress = false});
  }
  std::string dir_;
  std::vector<pid_t> pids_;
};

// The sum of 36 random chunks of x + x.T: roots, elementwise tasks that read two
// chunks (one from another worker, often), then a tree of partial sums.
double compute_sum(Client& client) {
  auto x = random::uniform({600, 600}, {100, 100}, 5);
  return (x + x.T()).sum().compute<double>(&client)();
}

}  // namespace

TEST_F(PerformanceReportTest, TheFileHoldsEveryTaskOfTheScopeAndItsCriticalPath) {
  LocalCluster cluster(LocalClusterOptions{.workers = 2, .memory_limit = "1GB"});
  Client client(cluster, ClientOptions{.progress = false});
  compute_sum(client);  // before the report: not in it
  const std::string path = dir_ + "/report.html";
  uint64_t ran = 0;
  {
    auto report = performance_report(path, &client);
    EXPECT_GT(compute_sum(client), 0);
    ran = client.last_stats().tasks;
  }
  ASSERT_TRUE(fs::exists(path));
  const std::string html = read_all(path);
  EXPECT_EQ(html.find("http://"), std::string::npos) << "nothing is loaded from elsewhere";
  EXPECT_EQ(html.find("fetch("), std::string::npos);
  json d = embedded_data(html);
  ASSERT_TRUE(d.is_object());
  const json& s = d["summary"];
  EXPECT_EQ(s["tasks"].get<uint64_t>(), ran) << "the tasks the client ran in the scope, no more";
  EXPECT_EQ(s["tasks_submitted"].get<uint64_t>(), ran);
  EXPECT_EQ(s["workers"].get<uint64_t>(), 2u);
  EXPECT_EQ(s["threads"].get<uint64_t>(), 2u);
  EXPECT_GT(s["wall_seconds"].get<double>(), 0);
  // x.T's chunks live on both workers: some are fetched, and the fetched bytes are those counted.
  EXPECT_GT(s["bytes_transferred"].get<uint64_t>(), 0u);
  EXPECT_EQ(s["bytes_transferred"].get<uint64_t>(), s["transfer_bytes_of_tasks"].get<uint64_t>());
  uint64_t per_op_tasks = 0;
  double compute_seconds = 0;
  std::set<std::string> ops;
  for (const auto& o : d["per_op"]) {
    per_op_tasks += o["tasks"].get<uint64_t>();
    compute_seconds += o["compute_seconds"].get<double>();
    ops.insert(o["op"].get<std::string>());
  }
  EXPECT_EQ(per_op_tasks, ran);
  EXPECT_GE(ops.size(), 2u) << "the random roots and the sums at least";
  EXPECT_TRUE(d["notes"].empty()) << d["notes"].dump();
  // The critical path: a chain of dependent tasks, each starting after the one before
  // ended, from a root to the final sum; no longer than the computing done.
  const json& cp = d["critical_path"];
  ASSERT_GE(cp["tasks"].size(), 3u) << "a root, its elementwise task, a partial sum at least";
  double chain = 0, last_stop = -1;
  for (const auto& t : cp["tasks"]) {
    EXPECT_GE(t["start"].get<double>() + 1e-6, last_stop);
    last_stop = t["stop"].get<double>();
    chain += t["stop"].get<double>() - t["start"].get<double>();
  }
  EXPECT_NEAR(cp["seconds"].get<double>(), chain, 1e-6);
  EXPECT_LE(chain, compute_seconds + 1e-9);
  EXPECT_LE(last_stop, s["wall_seconds"].get<double>() + 1e-3);
  const auto& final_task = cp["tasks"].back();
  size_t last_event = 0;
  double latest = -1;
  for (size_t i = 0; i < d["events"].size(); ++i) {
    if (d["events"][i][2] == 0 && d["events"][i][5].get<double>() > latest) {
      latest = d["events"][i][5].get<double>();
      last_event = i;
    }
  }
  EXPECT_EQ(final_task["event"].get<size_t>(), last_event) << "the path ends at the last task, the total";
  const json& o = d["scheduler_overhead"];
  EXPECT_GT(o["transitions"].get<uint64_t>(), ran) << "each task goes through several states";
  EXPECT_GT(o["busy_seconds"].get<double>(), 0);
}

TEST_F(PerformanceReportTest, ThePageRendersItsSectionsInChromium) {
  ASSERT_EQ(std::system("command -v chromium > /dev/null"), 0)
      << "needs Debian's chromium (scripts/install-deps.sh --with-python)";
  LocalCluster cluster(LocalClusterOptions{.workers = 2, .memory_limit = "1GB"});
  Client client(cluster, ClientOptions{.progress = false});
  const std::string path = dir_ + "/report.html";
  {
    PerformanceReport report(path);  // Client::current()
    compute_sum(client);
    report.close();
    report.close();  // idempotent
  }
  const std::string chromium = "chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir=" +
                               dir_ + "/chromium-profile --virtual-time-budget=3000 ";
  const std::string dom = dir_ + "/dom.html";
  const std::string cmd = chromium + "--dump-dom 'file://" + path + "' > " + dom + " 2> " + dir_ + "/chromium.log";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd << "\n" << read_all(dir_ + "/chromium.log");
  const std::string page = read_all(dom);
  EXPECT_NE(page.find("data-rendered=\"1\""), std::string::npos) << "the script ran to its end";
  EXPECT_NE(page.find("id=\"summary-table\""), std::string::npos);
  EXPECT_NE(page.find("<svg id=\"stream\""), std::string::npos);
  EXPECT_NE(page.find("class=\"compute"), std::string::npos);
  EXPECT_NE(page.find("class=\"compute critical\""), std::string::npos) << "the critical path outlined";
  EXPECT_NE(page.find("id=\"ops-table\""), std::string::npos);
  EXPECT_NE(page.find("class=\"critical\""), std::string::npos);
  EXPECT_NE(page.find("id=\"scheduler-table\""), std::string::npos);
  EXPECT_NE(page.find("waiting for inputs"), std::string::npos);
  const std::string png = dir_ + "/report.png";
  const std::string shot = chromium + "--screenshot=" + png + " --window-size=1100,900 --hide-scrollbars 'file://" +
                           path + "' > " + dir_ + "/chromium.log 2>&1";
  ASSERT_EQ(std::system(shot.c_str()), 0) << shot << "\n" << read_all(dir_ + "/chromium.log");
  ASSERT_TRUE(fs::exists(png));
  EXPECT_GT(fs::file_size(png), 10000u) << "a page with something drawn on it";
}

TEST_F(PerformanceReportTest, AnOverflowingTaskStreamIsSaidWithHowManyEventsWereLost) {
  auto client = cluster_with_stream("10");
  ASSERT_NE(client, nullptr) << "needs RSDAT_BIN_DIR";
  const std::string path = dir_ + "/report.html";
  {
    auto report = performance_report(path, client.get());
    EXPECT_DOUBLE_EQ(ones({100}, {5}).sum().item(client.get()), 100.0);
  }
  json d = embedded_data(read_all(path));
  ASSERT_TRUE(d.is_object());
  const uint64_t lost = d["task_stream"]["lost"].get<uint64_t>();
  EXPECT_GT(lost, 0u);
  EXPECT_LE(d["task_stream"]["events_kept"].get<uint64_t>(), 10u);
  ASSERT_EQ(d["notes"].size(), 1u);
  EXPECT_NE(d["notes"][0].get<std::string>().find(std::to_string(lost) + " task events"), std::string::npos)
      << d["notes"][0];
}

TEST_F(PerformanceReportTest, ASchedulerWithoutATaskStreamStillGivesThePageAndSaysSo) {
  auto client = cluster_with_stream("0");
  ASSERT_NE(client, nullptr) << "needs RSDAT_BIN_DIR";
  const std::string path = dir_ + "/report.html";
  {
    auto report = performance_report(path, client.get());
    EXPECT_DOUBLE_EQ(ones({100}, {5}).sum().item(client.get()), 100.0);
  }
  json d = embedded_data(read_all(path));
  ASSERT_TRUE(d.is_object());
  EXPECT_TRUE(d["events"].empty());
  ASSERT_EQ(d["notes"].size(), 1u);
  EXPECT_NE(d["notes"][0].get<std::string>().find("keeps no task stream"), std::string::npos);
  EXPECT_GT(d["scheduler_overhead"]["transitions"].get<uint64_t>(), 0u);
  EXPECT_GT(d["summary"]["wall_seconds"].get<double>(), 0);
}

TEST_F(PerformanceReportTest, AMissingDirectoryOrAnUnwritableFileIsAClearError) {
  LocalCluster cluster(LocalClusterOptions{.workers = 1, .memory_limit = "1GB"});
  Client client(cluster, ClientOptions{.progress = false});
  try {
    PerformanceReport report(dir_ + "/no/such/dir/report.html", &client);
    ADD_FAILURE() << "a report into a directory that does not exist";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
  // The path is a directory: opening it for writing fails at close(), which throws...
  PerformanceReport report(dir_, &client);
  EXPECT_THROW(report.close(), std::runtime_error);
  // ...while a destructor only logs it.
  EXPECT_NO_THROW({ PerformanceReport quiet(dir_, &client); });
}
