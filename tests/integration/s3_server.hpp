// A real S3 server on loopback for the S3 store tests: s3rver (the npm package pinned
// in tests/s3/package-lock.json), installed with `npm ci` into the build tree on first
// use and started with Node in a scratch directory, one bucket, access key id S3RVER.
// s3rver 3.7 checks the access key id of a signed request (an unknown one: 403
// InvalidAccessKeyId) but not the Signature V4 itself, so the clients talk to
// tests/s3/sigv4_proxy.py in front of it, which recomputes every signature with the
// one secret and answers 403 SignatureDoesNotMatch when it differs. Both serve
// anonymous requests.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "tests/integration/dav_server.hpp"

namespace rsdat::test_support {

// The directory holding node_modules/s3rver, installed by `npm ci` from the committed
// lock file the first time (under a lock: test processes run in parallel).
inline std::filesystem::path s3rver_install() {
  namespace fs = std::filesystem;
  const fs::path src = fs::path(RSDAT_SOURCE_DIR) / "tests/s3";
  const fs::path dir = fs::path(RSDAT_BINARY_DIR) / "tests/s3";
  fs::create_directories(dir);
  const int lock = ::open((dir / "install.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0 || ::flock(lock, LOCK_EX) != 0) throw std::runtime_error("cannot lock " + (dir / "install.lock").string());
  auto read = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const bool current = fs::exists(dir / "node_modules/s3rver/package.json") &&
                       read(dir / "package-lock.json") == read(src / "package-lock.json");
  if (!current) {
    fs::copy_file(src / "package.json", dir / "package.json", fs::copy_options::overwrite_existing);
    fs::copy_file(src / "package-lock.json", dir / "package-lock.json", fs::copy_options::overwrite_existing);
    const std::string cmd = "cd '" + dir.string() + "' && npm ci --no-audit --no-fund --loglevel=error >npm.log 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      ::close(lock);
      throw std::runtime_error("npm ci of s3rver failed; see " + (dir / "npm.log").string());
    }
  }
  ::close(lock);
  return dir;
}

// s3rver serving bucket `bucket` from `dir` on a free port. Stopped by pid.
// Thread-compatible.
class S3Server {
 public:
  static constexpr const char* kKeyId = "S3RVER";

  S3Server(std::filesystem::path dir, std::string bucket, std::string secret)
      : dir_(std::move(dir)), bucket_(std::move(bucket)) {
    const std::filesystem::path install = s3rver_install();
    std::filesystem::create_directories(dir_ / "data");
    upstream_ = free_port();
    const std::string script = (install / "node_modules/.bin/s3rver").string();
    const std::string log = (dir_ / "s3rver.log").string();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a test that dies takes its server along
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      const std::string port = std::to_string(upstream_);
      // s3rver makes continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider.
      ::execlp("node", "node", "--openssl-legacy-provider", script.c_str(), "-d", (dir_ / "data").c_str(), "-a", "127.0.0.1", "-p", port.c_str(),
               "--configure-bucket", bucket_.c_str(), "--service-endpoint", "localhost", "--silent", nullptr);
      ::_exit(127);
    }
    wait_for(pid_, upstream_, "s3rver", log);
    port_ = free_port();
    const std::string proxy = std::string(RSDAT_SOURCE_DIR) + "/tests/s3/sigv4_proxy.py";
    const std::string proxy_log = (dir_ / "proxy.log").string();
    proxy_pid_ = ::fork();
    if (proxy_pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      const int fd = ::open(proxy_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      const std::string port = std::to_string(port_), up = std::to_string(upstream_);
      ::setenv("SIGV4_SECRET", secret.c_str(), 1);  // not on the command line
      ::execl("/usr/bin/python3", "python3", proxy.c_str(), port.c_str(), up.c_str(), kKeyId, nullptr);
      ::_exit(127);
    }
    wait_for(proxy_pid_, port_, "sigv4_proxy.py", proxy_log);
  }
  ~S3Server() { stop(); }
  S3Server(const S3Server&) = delete;
  S3Server& operator=(const S3Server&) = delete;

  void stop() {
    for (pid_t* p : {&proxy_pid_, &pid_}) {
      if (*p <= 0) continue;
      ::kill(*p, SIGTERM);
      ::waitpid(*p, nullptr, 0);
      *p = -1;
    }
  }

  int port() const { return port_; }
  const std::string& bucket() const { return bucket_; }
  // The value of AWS_ENDPOINT_URL: http://127.0.0.1:PORT (the proxy)
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // An endpoint for virtual-host addressing: BUCKET.s3.localhost resolves to loopback
  // (libcurl resolves *.localhost itself) and s3rver takes the bucket from the name.
  std::string vhost_endpoint() const { return "http://s3.localhost:" + std::to_string(port_); }
  // s3://BUCKET/path
  std::string url(const std::string& path = "") const { return "s3://" + bucket_ + (path.empty() ? "" : "/" + path); }

 private:
  static void wait_for(pid_t& pid, int port, const char* what, const std::string& log) {
    for (int i = 0; i < 1000 && !port_accepts(port); ++i) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        throw std::runtime_error(std::string(what) + " exited at start; see " + log);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!port_accepts(port)) throw std::runtime_error(std::string(what) + " did not listen on port " + std::to_string(port));
  }

  std::filesystem::path dir_;
  std::string bucket_;
  int upstream_ = 0;  // s3rver
  int port_ = 0;      // the proxy
  pid_t pid_ = -1, proxy_pid_ = -1;
};

}  // namespace rsdat::test_support
