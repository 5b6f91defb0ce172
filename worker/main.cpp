// rsdat-worker: runs chunk tasks for an rsdat scheduler.
#include <dlfcn.h>
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <spdlog/spdlog.h>
#include <tbb/global_control.h>
#include <thread>

#include "core/chunk.hpp"
#include "net/scheduler_file.hpp"
#include "net/security.hpp"
#include "core/sysinfo.hpp"
#include "io/raster.hpp"
#include "worker/worker_server.hpp"

extern "C" void openblas_set_num_threads(int);

namespace {
rsdat::worker::WorkerServer* g_server = nullptr;
void on_signal(int) {
  if (g_server) g_server->stop();
}
// SIGTERM (scancel, SLURM's --signal before the time limit): retire, handing chunks over.
void on_term(int) {
  if (g_server) g_server->retire();
}

// The library that embeds Python (python/worker_kernels.cpp): $RSDAT_PYTHON_KERNELS_LIB,
// else beside this program, else in ../lib/rsdat (installed).
std::string python_kernels_library(const char* argv0) {
  if (const char* v = std::getenv("RSDAT_PYTHON_KERNELS_LIB"); v && *v) return v;
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) exe = std::filesystem::absolute(argv0);
  for (const auto& candidate : {exe.parent_path() / "librsdat_python_kernels.so",
                                exe.parent_path().parent_path() / "lib" / "rsdat" / "librsdat_python_kernels.so"}) {
    if (std::filesystem::exists(candidate, ec)) return candidate.string();
  }
  return "";
}

bool load_python_kernels(const std::vector<std::string>& files, const char* argv0) {
  const std::string lib = python_kernels_library(argv0);
  if (lib.empty()) {
    std::cerr << "rsdat-worker: --python-kernels needs librsdat_python_kernels.so beside rsdat-worker or in "
                 "../lib/rsdat (it is built with the Python module: python3-dev and pybind11-dev), or "
                 "RSDAT_PYTHON_KERNELS_LIB naming it\n";
    return false;
  }
  // Global: NumPy's extension modules find the interpreter's symbols in the process.
  void* handle = dlopen(lib.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!handle) {
    std::cerr << "rsdat-worker: cannot load " << lib << ": " << dlerror() << "\n";
    return false;
  }
  using Load = bool (*)(const char*, std::string*);
  auto load = reinterpret_cast<Load>(dlsym(handle, "rsdat_load_python_kernels"));
  if (!load) {
    std::cerr << "rsdat-worker: " << lib << " is not rsdat's Python kernel library\n";
    return false;
  }
  for (const std::string& f : files) {
    std::string error;
    if (!load(f.c_str(), &error)) {
      std::cerr << "rsdat-worker: --python-kernels " << error << "\n";
      return false;
    }
    spdlog::info("loaded Python kernels from {}", f);
  }
  return true;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rsdat-worker: runs chunk tasks for an rsdat scheduler"};
  rsdat::worker::WorkerOptions options;
  std::string scheduler_file, memory_limit = "auto", log_level = "info";
  double scheduler_file_timeout = 60;
  std::vector<std::string> plugins, python_kernels;
  options.nthreads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto* addr = app.add_option("--scheduler", options.scheduler_address, "scheduler address, tcp://HOST:PORT");
  auto* file = app.add_option("--scheduler-file", scheduler_file, "read the scheduler's address from this file");
  addr->excludes(file);
  app.add_option("--scheduler-file-timeout", scheduler_file_timeout, "seconds to wait for the scheduler file")
      ->capture_default_str();
  app.add_option("--nthreads", options.nthreads, "threads running tasks")->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--memory-limit", memory_limit, "bytes (e.g. 4GB, 2GiB) or auto (the machine's, cgroup's or SLURM allocation's memory, divided among SLURM_NTASKS_PER_NODE workers)")
      ->capture_default_str();
  app.add_option("--local-directory", options.local_directories,
                 "scratch directory for spilled chunks; give it again for more, each tried in turn when the one in "
                 "use is full")
      ->capture_default_str();
  app.add_option("--memory-target", options.memory_target,
                 "fraction of the limit: above it (chunks in memory) least-recently-used chunks spill to disk")
      ->capture_default_str()->check(CLI::Range(0.05, 1.0));
  app.add_option("--memory-spill", options.memory_spill, "fraction of the limit: above it (process memory) chunks spill")
      ->capture_default_str()->check(CLI::Range(0.05, 1.0));
  app.add_option("--memory-pause", options.memory_pause,
                 "fraction of the limit: above it (process memory) no new task starts")
      ->capture_default_str()->check(CLI::Range(0.05, 1.0));
  app.add_flag("--spill-compression", options.spill_compression, "lz4-compress spill files");
  app.add_option("--name", options.name, "worker name (default host-pid)");
  auto* host = app.add_option("--host", options.host,
                              "address to bind the peer socket (default: the address this node uses to reach the "
                              "scheduler)");
  app.add_option("--interface", options.interface, "bind to the IPv4 address of this network interface (e.g. ib0)")
      ->excludes(host);
  app.add_option("--listen", options.listen, "bind this ZeroMQ endpoint instead (ipc://PATH: a node-local cluster)")
      ->excludes(host);
  std::string key_file, allowed_keys;
  bool no_encryption = false;
  app.add_option("--key-file", key_file,
                 "cluster keys (the scheduler's key file); default: the one the scheduler file names, else "
                 "~/.rsdat/cluster.key");
  app.add_option("--allowed-keys", allowed_keys, "file of further client public keys to admit (Z85, one per line)")
      ->check(CLI::ExistingFile);
  app.add_flag("--no-encryption", no_encryption,
               "connect and serve without CURVE (only with a scheduler started with --no-encryption)");
  app.add_option("--port", options.port, "port of the peer socket; 0 picks a free one")->capture_default_str();
  app.add_option("--connect-timeout", options.connect_timeout, "seconds to wait for the scheduler's welcome at start")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--death-timeout", options.death_timeout,
                 "seconds without a word from the scheduler before the worker exits")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--lifetime", options.lifetime,
                 "seconds after which the worker retires (hands its chunks to other workers and leaves); "
                 "SIGTERM does the same, a second SIGTERM stops at once")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--retire-timeout", options.retire_timeout, "seconds a retirement may take before the worker leaves")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--plugin", plugins, "shared library registering ops with RSDAT_REGISTER_OP (repeatable)")
      ->check(CLI::ExistingFile);
  app.add_option("--python-kernels", python_kernels,
                 "Python file whose @rsdat.kernel(\"name\") functions become ops, run by an interpreter in the "
                 "worker (repeatable; needs librsdat_python_kernels.so, built with the Python module)")
      ->check(CLI::ExistingFile);
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e worker %l: %v");
  if (options.scheduler_address.empty() && scheduler_file.empty()) {
    std::cerr << "rsdat-worker: give --scheduler ADDR or --scheduler-file FILE (see --help)\n";
    return 2;
  }
  if (!(options.memory_target <= options.memory_spill && options.memory_spill <= options.memory_pause)) {
    std::cerr << "rsdat-worker: thresholds must satisfy --memory-target <= --memory-spill <= --memory-pause\n";
    return 2;
  }
  try {
    auto limit = rsdat::parse_bytes(memory_limit);
    options.memory_limit = limit ? *limit : rsdat::auto_memory_limit_bytes();
  } catch (const std::exception& e) {
    std::cerr << "rsdat-worker: --memory-limit: " << e.what() << "\n";
    return 2;
  }
  for (const auto& p : plugins) {
    if (!dlopen(p.c_str(), RTLD_NOW | RTLD_GLOBAL)) {
      std::cerr << "rsdat-worker: cannot load plugin " << p << ": " << dlerror() << "\n";
      return 2;
    }
    spdlog::info("loaded plugin {}", p);
  }
  // The kernels' arena has --nthreads threads of its own even where that is more than
  // TBB's default (the cores less one); without this, whatever first starts TBB's thread
  // pool (a library a Python kernel file loads) would cap it lower for the process's life.
  tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism,
                                  static_cast<size_t>(std::max(options.nthreads, 1)) + 1);
  if (!python_kernels.empty() && !load_python_kernels(python_kernels, argv[0])) return 2;
  // Kernels run on --nthreads arena threads; BLAS inside a kernel must not start its own
  // pool on top of them.
  openblas_set_num_threads(1);
  // Received frames and kernel temporaries are freed and allocated again all the time:
  // keep freed heap memory for reuse rather than handing it back and faulting it in
  // again (page faults dominate large transfers otherwise). Under memory pressure the
  // worker trims explicitly (its memory policy has WorkerServer call trim_buffer_pool()).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  // Keep freed chunk buffers for reuse, within a small part of the memory limit.
  rsdat::set_buffer_pool_limit(std::min<uint64_t>(options.memory_limit / 8, uint64_t{1} << 30));
  // GDAL's block cache (raster reads) lives inside the memory limit: 5 % of it, in the
  // process memory that the spill and pause thresholds measure.
  const uint64_t gdal_cache = rsdat::raster::set_cache_for_memory_limit(options.memory_limit);
  spdlog::debug("GDAL block cache {} bytes", gdal_cache);
  g_server = nullptr;
  // A file-size limit (ulimit -f) makes a spill write fail with EFBIG, which the store
  // reports like a full disk, instead of killing the worker.
  std::signal(SIGXFSZ, SIG_IGN);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_term);
  bool encryption = !no_encryption;
  if (!scheduler_file.empty()) {
    auto info = rsdat::wait_for_scheduler_file(scheduler_file, scheduler_file_timeout);
    if (!info.ok()) {
      spdlog::error("{}", info.status().to_string());
      return 1;
    }
    options.scheduler_address = info->address;
    encryption = encryption && info->encryption;
    if (key_file.empty()) key_file = info->key_file;
    if (allowed_keys.empty()) allowed_keys = info->allowed_keys;
  }
  // Keys are needed as soon as one of this worker's connections is tcp.
  bool tcp = rsdat::is_tcp_endpoint(options.scheduler_address) || options.listen.empty() ||
             rsdat::is_tcp_endpoint(options.listen);
  auto security = rsdat::load_security(encryption && tcp, key_file.empty() ? rsdat::default_key_file() : key_file,
                                       /*need_server_secret=*/true);
  if (!security.ok()) {
    spdlog::error("{}", security.status().to_string());
    return 1;
  }
  options.security = std::move(security).value();
  if (!allowed_keys.empty()) {
    auto extra = rsdat::read_allowed_keys(allowed_keys);
    if (!extra.ok()) {
      spdlog::error("{}", extra.status().to_string());
      return 1;
    }
    options.allowed_keys = std::move(extra).value();
  }
  if (!encryption && tcp) spdlog::warn("encryption is OFF (--no-encryption): peers connect without keys");
  rsdat::worker::WorkerServer server(options);
  g_server = &server;
  if (auto st = server.start(); !st.is_ok()) {
    spdlog::error("{}", st.to_string());
    g_server = nullptr;
    return 1;
  }
  server.run();
  g_server = nullptr;
  return 0;
}
