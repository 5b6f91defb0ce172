#include "rsdat/local_cluster.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "client/client_internal.hpp"
#include "rsdat/errors.hpp"
#include "net/scheduler_file.hpp"
#include "core/sysinfo.hpp"

namespace rsdat {

namespace fs = std::filesystem;

std::string rsdat_bin_dir() {
  if (const char* env = std::getenv("RSDAT_BIN_DIR"); env && *env) return env;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (fs::path dir : {self.parent_path(), self.parent_path().parent_path() / "bin"}) {
      if (fs::exists(dir / "rsdat-scheduler", ec) && fs::exists(dir / "rsdat-worker", ec)) return dir.string();
    }
  }
  return "";  // rely on PATH
}

namespace {

bool wait_exit(pid_t pid, std::chrono::milliseconds grace) {
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// SIGINT stops a daemon at once (SIGTERM makes a worker retire, handing its chunks over).
void terminate(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGINT);
  if (!wait_exit(pid, std::chrono::milliseconds(5000))) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
}

}  // namespace

struct LocalCluster::Spawner {
  Spawner() : thread([this] { loop(); }) {}
  ~Spawner() {
    {
      std::lock_guard lock(mu);
      quit = true;
    }
    cv.notify_all();
    thread.join();
  }
  // Runs `f` on the spawner's thread and waits for it; its exception comes back here.
  void run(const std::function<void()>& f) {
    std::lock_guard one_at_a_time(call_mu);
    std::unique_lock lock(mu);
    job = &f;
    error = nullptr;
    cv.notify_all();
    cv.wait(lock, [&] { return job == nullptr; });
    if (error) std::rethrow_exception(error);
  }

 private:
  void loop() {
    std::unique_lock lock(mu);
    while (true) {
      cv.wait(lock, [&] { return quit || job != nullptr; });
      if (job) {
        try {
          (*job)();
        } catch (...) {
          error = std::current_exception();
        }
        job = nullptr;
        cv.notify_all();
      } else if (quit) {
        return;
      }
    }
  }
  std::mutex call_mu;  // one caller at a time
  std::mutex mu;
  std::condition_variable cv;
  const std::function<void()>* job = nullptr;  // guarded by mu
  std::exception_ptr error;                    // guarded by mu
  bool quit = false;                           // guarded by mu
  std::thread thread;                          // last: starts once the rest is ready
};

LocalCluster::LocalCluster(int workers, int threads_per_worker)
    : LocalCluster(LocalClusterOptions{.workers = workers, .threads_per_worker = threads_per_worker}) {}

LocalCluster::LocalCluster(LocalClusterOptions options)
    : spawner_(std::make_unique<Spawner>()), options_(std::move(options)) {
  if (options_.workers < 0) throw std::invalid_argument("LocalCluster: workers must be >= 0");
  if (options_.threads_per_worker < 1) throw std::invalid_argument("LocalCluster: threads_per_worker must be >= 1");
  bin_dir_ = rsdat_bin_dir();
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/rsdat-local-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw ClusterError("LocalCluster: cannot create a temporary directory");
  dir_ = buf.data();
  scheduler_file_ = dir_ + "/scheduler.json";
  if (options_.memory_limit == "auto") {
    options_.memory_limit =
        std::to_string(allocation_memory_bytes() / static_cast<uint64_t>(std::max(1, options_.workers)));
  }
  if (options_.local_directory.empty()) options_.local_directory = dir_;
  if (options_.transport != "ipc" && options_.transport != "tcp") {
    throw std::invalid_argument("LocalCluster: transport must be \"ipc\" or \"tcp\", not \"" + options_.transport + "\"");
  }
  // sockaddr_un holds 107 characters of path.
  ipc_ = options_.transport == "ipc" && dir_.size() + 32 < 107;
  try {
    std::vector<std::string> args{"--scheduler-file", scheduler_file_, "--log-level", options_.log_level,
                                  "--stall-timeout", std::to_string(options_.stall_timeout)};
    if (ipc_) {
      args.insert(args.end(), {"--listen", endpoint("scheduler")});
    } else {
      args.insert(args.end(), {"--host", "127.0.0.1", "--port", "0"});
      if (options_.encryption) {
        key_file_ = dir_ + "/cluster.key";
        args.insert(args.end(), {"--key-file", key_file_});
      } else {
        args.push_back("--no-encryption");
      }
    }
    scheduler_pid_ = spawn("rsdat-scheduler", args);
    auto info = wait_for_scheduler_file(scheduler_file_, options_.start_timeout);
    if (!info.ok()) throw ClusterError("LocalCluster: scheduler did not start: " + info.status().to_string());
    address_ = info->address;
    for (int i = 0; i < options_.workers; ++i) add_worker();
    wait_for_workers(static_cast<size_t>(options_.workers));
  } catch (...) {
    stop();
    throw;
  }
}

LocalCluster::~LocalCluster() { stop(); }

void LocalCluster::wait_for_workers(size_t n) {
  // Ready means every worker has joined, so work is spread from the first task on.
  Client::Impl probe(address_, ClientOptions{.connect_timeout = options_.start_timeout, .progress = false,
                                             .name = "local-cluster", .key_file = key_file_,
                                             .encryption = !key_file_.empty()});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(options_.start_timeout);
  while (probe.cluster_status().workers.size() < n) {
    for (pid_t pid : worker_pids_) {
      int status;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        throw ClusterError("LocalCluster: a worker exited at start (status " + std::to_string(status) + ")");
      }
    }
    if (std::chrono::steady_clock::now() > deadline) throw ClusterError("LocalCluster: workers did not join in time");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

pid_t LocalCluster::add_worker() {
  std::string name = "local-" + std::to_string(next_worker_++);
  std::vector<std::string> args{"--scheduler", address_, "--nthreads", std::to_string(options_.threads_per_worker),
                                "--memory-limit", options_.memory_limit, "--local-directory",
                                options_.local_directory, "--name", name, "--log-level", options_.log_level};
  if (ipc_) {
    args.insert(args.end(), {"--listen", endpoint(name)});
  } else {
    args.insert(args.end(), {"--host", "127.0.0.1"});
    if (key_file_.empty()) {
      args.push_back("--no-encryption");
    } else {
      args.insert(args.end(), {"--key-file", key_file_});
    }
  }
  for (const std::string& p : options_.worker_plugins) {
    args.push_back("--plugin");
    args.push_back(p);
  }
  for (const std::string& p : options_.worker_python_kernels) {
    args.push_back("--python-kernels");
    args.push_back(fs::absolute(p).string());
  }
  pid_t pid = spawn("rsdat-worker", args);
  worker_pids_.push_back(pid);
  return pid;
}

std::string LocalCluster::endpoint(const std::string& name) const { return "ipc://" + dir_ + "/" + name + ".sock"; }

pid_t LocalCluster::spawn(const std::string& program, const std::vector<std::string>& args) {
  std::string path = bin_dir_.empty() ? program : bin_dir_ + "/" + program;
  std::vector<std::string> argv_s{path};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = -1;
  spawner_->run([&] {
    pid = ::fork();
    if (pid != 0) return;
    // The child (of the spawner's thread): dies with it, whatever way the program ends.
    ::prctl(PR_SET_PDEATHSIG, SIGINT);
    if (::getppid() != parent) ::_exit(1);
    ::setpgid(0, 0);  // keep Ctrl-C of the terminal for the parent to handle
    ::execvp(argv[0], argv.data());
    std::fprintf(stderr, "LocalCluster: cannot run %s: %s (set RSDAT_BIN_DIR)\n", argv[0], std::strerror(errno));
    ::_exit(127);
  });
  if (pid < 0) throw ClusterError("LocalCluster: fork failed");
  return pid;
}

void LocalCluster::stop() {
  // Workers first, so they say goodbye to a scheduler that is still there.
  for (pid_t pid : worker_pids_) ::kill(pid, SIGINT);
  for (pid_t pid : worker_pids_) terminate(pid);
  // A worker that was killed could not remove its spill directory
  // (rsdat-spill-PID-XXXXXX): all of this cluster's workers are gone now.
  if (!options_.local_directory.empty()) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(options_.local_directory, ec)) {
      const std::string name = e.path().filename().string();
      for (pid_t pid : worker_pids_) {
        if (name.rfind("rsdat-spill-" + std::to_string(pid) + "-", 0) == 0) fs::remove_all(e.path(), ec);
      }
    }
  }
  worker_pids_.clear();
  terminate(scheduler_pid_);
  scheduler_pid_ = -1;
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    dir_.clear();
  }
}

}  // namespace rsdat
