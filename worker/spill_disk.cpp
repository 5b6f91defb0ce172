#include "worker/spill_disk.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rsdat::worker {
namespace {

class PosixSpillDisk final : public SpillDisk {
 public:
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
};

}  // namespace

std::shared_ptr<SpillDisk> posix_spill_disk() { return std::make_shared<PosixSpillDisk>(); }

}  // namespace rsdat::worker
