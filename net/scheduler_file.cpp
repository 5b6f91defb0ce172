#include "net/scheduler_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

namespace rsdat {

Result<SchedulerFileInfo> read_scheduler_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return not_found("scheduler file " + path + " does not exist");
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    SchedulerFileInfo info;
    info.address = j.at("address").get<std::string>();
    info.protocol_version = j.value("protocol_version", 0u);
    info.pid = j.value("pid", 0);
    info.host = j.value("host", "");
    info.encryption = j.value("encryption", false);
    if (j.contains("server_key") && j["server_key"].is_string()) info.server_key = j["server_key"].get<std::string>();
    if (j.contains("key_file") && j["key_file"].is_string()) info.key_file = j["key_file"].get<std::string>();
    if (j.contains("allowed_keys") && j["allowed_keys"].is_string()) {
      info.allowed_keys = j["allowed_keys"].get<std::string>();
    }
    return info;
  } catch (const std::exception& e) {
    return invalid_argument("scheduler file " + path + " is not valid: " + e.what());
  }
}

Status write_private_file(const std::string& path, const std::string& text, bool replace) {
  std::filesystem::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return io_error("cannot write " + tmp + ": " + std::strerror(errno));
  bool ok = ::fchmod(fd, 0600) == 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  // link() keeps a file another process made first; rename() replaces it.
  bool placed = ok && (replace ? std::rename(tmp.c_str(), path.c_str()) == 0
                               : (::link(tmp.c_str(), path.c_str()) == 0 || errno == EEXIST));
  const int error = errno;
  ::unlink(tmp.c_str());
  if (!placed) return io_error("cannot write " + path + ": " + std::strerror(error));
  return Status::ok();
}

Result<SchedulerFileInfo> wait_for_scheduler_file(const std::string& path, double timeout) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout);
  while (true) {
    auto r = read_scheduler_file(path);
    if (r.ok() || r.status().code() != StatusCode::kNotFound) return r;
    if (std::chrono::steady_clock::now() >= deadline) {
      return timed_out("scheduler file " + path + " did not appear within " + std::to_string(static_cast<int>(timeout)) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace rsdat
