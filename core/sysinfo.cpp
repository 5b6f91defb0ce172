#include "core/sysinfo.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>

namespace rsdat {

namespace {
uint64_t status_field_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  size_t n = std::char_traits<char>::length(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0) return std::stoull(line.substr(n + 1)) * 1024;
  }
  return 0;
}
}  // namespace

uint64_t current_rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long long size = 0, resident = 0;
  int got = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return got == 2 ? resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

uint64_t peak_rss_bytes() { return status_field_kb("VmHWM:"); }

uint64_t total_memory_bytes() {
  return static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

namespace {
std::optional<uint64_t> read_u64_file(const char* path) {
  std::ifstream in(path);
  std::string s;
  if (!(in >> s) || s.empty() || s == "max") return std::nullopt;
  try {
    return std::stoull(s);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}
std::optional<uint64_t> env_u64(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  try {
    return std::stoull(v);  // SLURM's memory variables are in MB, without a unit
  } catch (const std::exception&) {
    return std::nullopt;
  }
}
}  // namespace

uint64_t allocation_memory_bytes() {
  uint64_t m = total_memory_bytes();
  for (const char* p : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    if (auto v = read_u64_file(p); v && *v > 0) m = std::min(m, *v);
  }
  if (auto node = env_u64("SLURM_MEM_PER_NODE"); node && *node > 0) {
    m = std::min(m, *node << 20);
  } else if (auto cpu = env_u64("SLURM_MEM_PER_CPU"); cpu && *cpu > 0) {
    m = std::min(m, (*cpu << 20) * env_u64("SLURM_CPUS_ON_NODE").value_or(1));
  }
  return m;
}

uint64_t auto_memory_limit_bytes() {
  uint64_t tasks = std::max<uint64_t>(1, env_u64("SLURM_NTASKS_PER_NODE").value_or(1));
  return allocation_memory_bytes() / tasks;
}

std::string host_name() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

std::optional<uint64_t> parse_bytes(const std::string& text) {
  if (text == "auto") return std::nullopt;
  size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text, &pos);
  } catch (const std::exception&) {
    throw std::invalid_argument("not a byte count: '" + text + "'");
  }
  std::string unit = text.substr(pos);
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.front()))) unit.erase(0, 1);
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  double mult = 1;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "kb" || unit == "k") mult = 1e3;
  else if (unit == "mb" || unit == "m") mult = 1e6;
  else if (unit == "gb" || unit == "g") mult = 1e9;
  else if (unit == "tb" || unit == "t") mult = 1e12;
  else if (unit == "kib") mult = 1024.0;
  else if (unit == "mib") mult = 1024.0 * 1024;
  else if (unit == "gib") mult = 1024.0 * 1024 * 1024;
  else if (unit == "tib") mult = 1024.0 * 1024 * 1024 * 1024;
  else throw std::invalid_argument("unknown byte unit in '" + text + "'");
  if (!(value >= 0) || !std::isfinite(value)) throw std::invalid_argument("negative byte count: '" + text + "'");
  return static_cast<uint64_t>(value * mult);
}

std::string format_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

std::vector<std::string> interface_addresses() {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    char host[INET_ADDRSTRLEN] = "";
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, host, sizeof host);
    out.push_back(std::string(i->ifa_name) + "=" + host);
  }
  ::freeifaddrs(list);
  return out;
}

Result<std::string> interface_address(const std::string& name) {
  std::vector<std::string> all = interface_addresses();
  std::string listing;
  for (const std::string& entry : all) {
    auto eq = entry.find('=');
    if (entry.substr(0, eq) == name) return entry.substr(eq + 1);
    listing += (listing.empty() ? "" : ", ") + entry;
  }
  return not_found("network interface '" + name + "' has no IPv4 address on " + host_name() +
                   " (interfaces here: " + (listing.empty() ? "none" : listing) + ")");
}

std::string local_address_towards(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), "9", &hints, &res) != 0 || !res) return "";
  std::string out;
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
    sockaddr_in local{};
    socklen_t len = sizeof local;
    char buf[INET_ADDRSTRLEN] = "";
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0 &&
        ::inet_ntop(AF_INET, &local.sin_addr, buf, sizeof buf)) {
      out = buf;
    }
  }
  if (fd >= 0) ::close(fd);
  ::freeaddrinfo(res);
  return out;
}

Result<std::string> resolve_bind_host(const std::string& host, const std::string& interface,
                                      const std::string& fallback) {
  std::string chosen = host;
  if (chosen.empty() && !interface.empty()) {
    auto addr = interface_address(interface);
    if (!addr.ok()) return addr.status();
    chosen = *addr;
  }
  if (chosen.empty()) chosen = fallback;
  if (chosen == "0.0.0.0" || chosen == "*" || chosen == "::" || chosen == "[::]") {
    return invalid_argument("refusing to bind to every interface (" + chosen +
                            "): give the address of one network with --host ADDR or --interface NAME");
  }
  return chosen;
}

CommandOutcome run_shell(const std::string& command) {
  CommandOutcome r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) r.output.append(buf.data(), n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace rsdat
