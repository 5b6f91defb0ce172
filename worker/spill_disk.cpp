#include "worker/spill_disk.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <unordered_map>

namespace rsdat::worker {
namespace {

namespace fs = std::filesystem;
constexpr const char* kPrefix = "rsdat-spill-";
constexpr const char* kNewPrefix = ".rsdat-new-";  // the cleaner ignores these

class PosixSpillDisk final : public SpillDisk {
 public:
  ~PosixSpillDisk() override {
    for (const auto& [dir, fd] : locks_) ::close(fd);
  }

  Result<std::string> make_directory(const std::string& parent) override {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) return io_error("cannot create local directory " + parent + ": " + ec.message());
    // Made under a name the cleaner ignores, locked, then renamed: a directory with the
    // spill prefix always has its lock held while its worker lives.
    const std::string suffix = std::to_string(::getpid()) + "-XXXXXX";
    std::string tmp = (fs::path(parent) / (kNewPrefix + suffix)).string();
    if (!::mkdtemp(tmp.data())) return io_error("cannot create a spill directory in " + parent + ": " + std::strerror(errno));
    int fd = ::open((tmp + "/lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (fd >= 0) ::close(fd);
      fs::remove_all(tmp, ec);
      return io_error("cannot lock spill directory " + tmp);
    }
    const std::string name = fs::path(tmp).filename().string().substr(std::strlen(kNewPrefix));
    std::string dir = (fs::path(parent) / (kPrefix + name)).string();
    if (::rename(tmp.c_str(), dir.c_str()) != 0) {
      ::close(fd);
      fs::remove_all(tmp, ec);
      return io_error("cannot create spill directory " + dir + ": " + std::strerror(errno));
    }
    locks_[dir] = fd;
    return dir;
  }

  void remove_directory(const std::string& dir) override {
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (auto it = locks_.find(dir); it != locks_.end()) {
      ::close(it->second);
      locks_.erase(it);
    }
  }

  Status write_file(const std::string& path, const uint8_t* data, size_t n) override {
    int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) return io_error("cannot create " + path + ": " + std::strerror(errno));
    Status st = Status::ok();
    while (n > 0) {
      ssize_t w = ::write(fd, data, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        st = io_error("cannot write " + path + ": " + std::strerror(errno));
        break;
      }
      data += w;
      n -= static_cast<size_t>(w);
    }
    if (::close(fd) != 0 && st.is_ok()) st = io_error("cannot write " + path + ": " + std::strerror(errno));
    if (!st.is_ok()) ::unlink(path.c_str());  // never half a chunk on disk
    return st;
  }

  Status read_file(const std::string& path, uint8_t* out, size_t n) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return io_error("cannot open " + path + ": " + std::strerror(errno));
    Status st = Status::ok();
    while (n > 0) {
      ssize_t r = ::read(fd, out, n);
      if (r < 0) {
        if (errno == EINTR) continue;
        st = io_error("cannot read " + path + ": " + std::strerror(errno));
        break;
      }
      if (r == 0) {
        st = io_error(path + " is shorter than the chunk it holds");
        break;
      }
      out += r;
      n -= static_cast<size_t>(r);
    }
    if (st.is_ok()) {
      uint8_t extra;
      ssize_t r;
      do {
        r = ::read(fd, &extra, 1);
      } while (r < 0 && errno == EINTR);
      if (r != 0) st = io_error(path + " is longer than the chunk it holds");
    }
    ::close(fd);
    return st;
  }

  void remove_file(const std::string& path) override { ::unlink(path.c_str()); }

 private:
  std::unordered_map<std::string, int> locks_;  // directory -> its lock file, held
};

}  // namespace

std::shared_ptr<SpillDisk> posix_spill_disk() { return std::make_shared<PosixSpillDisk>(); }

size_t clean_stale_spill_dirs(const std::string& local_directory) {
  std::error_code ec;
  size_t removed = 0;
  for (const auto& entry : fs::directory_iterator(local_directory, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kPrefix, 0) != 0 || !entry.is_directory(ec)) continue;
    // Only directories a worker made (they always hold a lock file) whose lock is free.
    int fd = ::open((entry.path() / "lock").c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);  // a live worker holds it
      continue;
    }
    ::close(fd);
    fs::remove_all(entry.path(), ec);
    if (!ec) ++removed;
  }
  return removed;
}

}  // namespace rsdat::worker
