// A real WebDAV server on loopback for the store tests: lighttpd with mod_webdav,
// started in a scratch directory without systemd, answering only requests that carry
// `Authorization: Bearer <token>` (403 otherwise); and a fault-injecting TCP proxy in
// front of it that drops connections or answers 503.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace rsdat::test_support {

// A free TCP port on 127.0.0.1 (bound once and released: the caller binds it next).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline bool port_accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// lighttpd serving `dir`/root over WebDAV on a free port. Stopped by pid.
// Thread-compatible.
class DavServer {
 public:
  // With `tls`, HTTPS with a self-signed certificate for 127.0.0.1 (cert_file()).
  DavServer(std::filesystem::path dir, std::string token, bool tls = false)
      : dir_(std::move(dir)), token_(std::move(token)), tls_(tls) {
    std::filesystem::create_directories(dir_ / "root");
    std::filesystem::create_directories(dir_ / "tmp");
    if (tls_) {
      const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
                              "-addext subjectAltName=IP:127.0.0.1 -keyout " + (dir_ / "key.pem").string() +
                              " -out " + cert_file() + " 2>/dev/null";
      if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl could not make a certificate");
    }
    port_ = free_port();
    start();
  }
  ~DavServer() { stop(); }
  DavServer(const DavServer&) = delete;
  DavServer& operator=(const DavServer&) = delete;

  // (Re)starts the server on its port.
  void start() {
    if (pid_ > 0) return;
    {
      std::ofstream conf(dir_ / "lighttpd.conf");
      conf << "server.document-root = \"" << (dir_ / "root").string() << "\"\n"
           << "server.bind = \"127.0.0.1\"\n"
           << "server.port = " << port_ << "\n"
           << "server.modules = (\"mod_access\", \"mod_webdav\")\n"
           << "server.errorlog = \"" << (dir_ / "error.log").string() << "\"\n"
           << "server.upload-dirs = (\"" << (dir_ / "tmp").string() << "\")\n"
           << "server.max-keep-alive-requests = 10000\n"
           << "webdav.activate = \"enable\"\n"
           << "webdav.is-readonly = \"disable\"\n"
           << (tls_ ? "server.modules += (\"mod_openssl\")\nssl.engine = \"enable\"\nssl.pemfile = \"" +
                          cert_file() + "\"\nssl.privkey = \"" + (dir_ / "key.pem").string() + "\"\n"
                    : std::string())
           << "$REQUEST_HEADER[\"Authorization\"] != \"Bearer " << token_ << "\" { url.access-deny = (\"\") }\n";
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a test that dies takes its server along
      ::execlp("lighttpd", "lighttpd", "-D", "-f", (dir_ / "lighttpd.conf").c_str(), nullptr);
      ::_exit(127);
    }
    for (int i = 0; i < 500 && !port_accepts(port_); ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("lighttpd exited at start; see " + (dir_ / "error.log").string());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!port_accepts(port_)) throw std::runtime_error("lighttpd did not listen on port " + std::to_string(port_));
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  int port() const { return port_; }
  std::filesystem::path root() const { return dir_ / "root"; }
  std::string cert_file() const { return (dir_ / "cert.pem").string(); }
  // http(s)://127.0.0.1:PORT/path
  std::string url(const std::string& path = "") const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + "/" + path;
  }

 private:
  std::filesystem::path dir_;
  std::string token_;
  bool tls_ = false;
  int port_ = 0;
  pid_t pid_ = -1;
};

// Relays loopback TCP connections to `target_port`, with faults: every
// `drop_every`-th connection is closed as soon as it is accepted, and the first
// `fail_first` connections are answered "503 Service Unavailable" and closed.
// Thread-safe; stop() joins its threads.
class FaultProxy {
 public:
  FaultProxy(int target_port, int drop_every, int fail_first)
      : target_(target_port), drop_every_(drop_every), fail_first_(fail_first) {
    listen_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_, 64) != 0) {
      throw std::runtime_error("FaultProxy: cannot listen");
    }
    socklen_t len = sizeof a;
    ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~FaultProxy() { stop(); }

  void stop() {
    if (stopping_.exchange(true)) return;
    acceptor_.join();
    ::close(listen_);
    std::lock_guard lock(mu_);
    for (auto& t : relays_) t.join();
  }

  int port() const { return port_; }
  std::string url(const std::string& path = "") const { return "http://127.0.0.1:" + std::to_string(port_) + "/" + path; }
  int connections() const { return accepted_.load(); }
  int dropped() const { return dropped_.load(); }
  int failed() const { return failed_.load(); }

 private:
  void accept_loop() {
    while (!stopping_) {
      pollfd p{listen_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept(listen_, nullptr, nullptr);
      if (c < 0) continue;
      const int n = ++accepted_;
      if (n <= fail_first_) {
        ++failed_;
        std::lock_guard lock(mu_);
        relays_.emplace_back([this, c] { answer_503(c); });
        continue;
      }
      if (drop_every_ > 0 && n % drop_every_ == 0) {
        ++dropped_;
        ::close(c);
        continue;
      }
      std::lock_guard lock(mu_);
      relays_.emplace_back([this, c] { relay(c); });
    }
  }

  void answer_503(int c) {
    // Read the request's head, then refuse it.
    std::string head;
    char buf[4096];
    while (!stopping_ && head.find("\r\n\r\n") == std::string::npos) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      head.append(buf, static_cast<size_t>(n));
    }
    static const char kAnswer[] =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    (void)!::send(c, kAnswer, sizeof kAnswer - 1, MSG_NOSIGNAL);
    ::shutdown(c, SHUT_RDWR);
    ::close(c);
  }

  void relay(int c) {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(target_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(s);
      ::close(c);
      return;
    }
    char buf[65536];
    bool open = true;
    while (open && !stopping_) {
      pollfd p[2] = {{c, POLLIN, 0}, {s, POLLIN, 0}};
      if (::poll(p, 2, 50) <= 0) continue;
      for (int i = 0; i < 2 && open; ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = ::read(p[i].fd, buf, sizeof buf);
        if (n <= 0) {
          open = false;
          break;
        }
        const int to = i == 0 ? s : c;
        for (ssize_t done = 0; done < n;) {
          ssize_t w = ::send(to, buf + done, static_cast<size_t>(n - done), MSG_NOSIGNAL);
          if (w <= 0) {
            open = false;
            break;
          }
          done += w;
        }
      }
    }
    ::close(s);
    ::close(c);
  }

  const int target_, drop_every_, fail_first_;
  int listen_ = -1, port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0}, dropped_{0}, failed_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> relays_;  // guarded by mu_
};

}  // namespace rsdat::test_support
