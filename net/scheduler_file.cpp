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

Result<std::string> read_small_file(const std::string& path, size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + " does not exist");
  std::string text(limit + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return io_error("cannot read " + path);
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > limit) return invalid_argument(path + " is larger than " + std::to_string(limit) + " bytes");
  return text;
}

namespace {

// The integer field `name` of `j`, when present: an integer in [lo, hi], else an error.
template <typename T>
Result<T> int_field(const nlohmann::json& j, const char* name, T fallback, int64_t lo, int64_t hi) {
  if (!j.contains(name)) return fallback;
  const nlohmann::json& v = j[name];
  if (v.is_number_unsigned() ? v.get<uint64_t>() <= static_cast<uint64_t>(hi)
                             : v.is_number_integer() && v.get<int64_t>() >= lo && v.get<int64_t>() <= hi) {
    return static_cast<T>(v.get<int64_t>());
  }
  return invalid_argument(std::string("'") + name + "' is not an integer in [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "]");
}

}  // namespace

Result<SchedulerFileInfo> parse_scheduler_file(std::string_view text, const std::string& path) {
  const std::string invalid = "scheduler file " + path + " is not valid: ";
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    if (!j.is_object()) return invalid_argument(invalid + "not a JSON object");
    SchedulerFileInfo info;
    info.address = j.at("address").get<std::string>();
    auto version = int_field<uint32_t>(j, "protocol_version", 0, 0, UINT32_MAX);
    auto pid = int_field<int>(j, "pid", 0, INT32_MIN, INT32_MAX);
    for (const Status* st : {&version.status(), &pid.status()}) {
      if (!st->is_ok()) return invalid_argument(invalid + st->message());
    }
    info.protocol_version = *version;
    info.pid = *pid;
    info.host = j.value("host", "");
    info.encryption = j.value("encryption", false);
    if (j.contains("server_key") && j["server_key"].is_string()) info.server_key = j["server_key"].get<std::string>();
    if (j.contains("key_file") && j["key_file"].is_string()) info.key_file = j["key_file"].get<std::string>();
    if (j.contains("allowed_keys") && j["allowed_keys"].is_string()) {
      info.allowed_keys = j["allowed_keys"].get<std::string>();
    }
    return info;
  } catch (const std::exception& e) {
    return invalid_argument(invalid + e.what());
  }
}

Result<SchedulerFileInfo> read_scheduler_file(const std::string& path) {
  auto text = read_small_file(path, kMaxConfigFileBytes);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return not_found("scheduler file " + path + " does not exist");
    if (text.status().code() == StatusCode::kIO) return text.status();
    return invalid_argument("scheduler file " + text.status().message());
  }
  return parse_scheduler_file(*text, path);
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
