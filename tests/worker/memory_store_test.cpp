// MemoryStore: spilling to disk and back, file clean-up, and stale directories.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "worker/memory_store.hpp"

namespace rsdat::worker {
namespace {

namespace fs = std::filesystem;

Chunk chunk_of(uint8_t value, int64_t n = 1 << 20) {
  Chunk c = Chunk::allocate(DType::kUInt8, {n});
  std::memset(c.mutable_bytes(), value, static_cast<size_t>(n));
  return c;
}

class MemoryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("rsdat-store-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  size_t files_in(const fs::path& d) {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(d)) n += e.path().filename() != "lock";
    return n;
  }
  fs::path dir_;
};

TEST_F(MemoryStoreTest, SpillsLeastRecentlyUsedIdleChunksAndReadsThemBack) {
  for (bool compress : {false, true}) {
    MemoryStore s;
    ASSERT_TRUE(s.enable_spill(dir_.string(), compress).is_ok());
    const fs::path spill = s.spill_directory();
    for (uint64_t i = 0; i < 4; ++i) s.put(TaskKey{1, i}, chunk_of(static_cast<uint8_t>(i)));
    EXPECT_EQ(s.memory_bytes(), 4u << 20);
    (void)s.get(TaskKey{1, 0});             // 0 is now the most recently used
    Chunk held = *s.get(TaskKey{1, 1});     // 1 is in use: cannot be spilled
    EXPECT_EQ(s.spill_to(2u << 20), 2u << 20);  // 2 and 3 go; then the target is met
    EXPECT_EQ(s.memory_bytes(), 2u << 20);
    EXPECT_EQ(s.spilled_bytes(), 2u << 20);
    EXPECT_EQ(s.managed_bytes(), 4u << 20);
    EXPECT_EQ(files_in(spill), 2u);
    auto back = s.get(TaskKey{1, 3});
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->nbytes(), 1u << 20);
    EXPECT_EQ(back->bytes()[12345], 3);
    EXPECT_EQ(s.spilled_bytes(), 1u << 20);
    EXPECT_TRUE(s.erase(TaskKey{1, 2}));    // spilled: its file goes
    EXPECT_EQ(files_in(spill), 1u);         // 3 was read back but keeps its file
    EXPECT_EQ(s.spilled_total(), 2u << 20);
    // Spilling again writes 0 but only drops 3 from memory (its file is still good).
    back.reset();
    EXPECT_EQ(s.spill_to(1u << 20), 2u << 20);
    EXPECT_EQ(s.spilled_total(), 3u << 20);
    EXPECT_EQ(files_in(spill), 2u);
    EXPECT_EQ(s.get(TaskKey{1, 3})->bytes()[99], 3);
    EXPECT_TRUE(s.erase(TaskKey{1, 3}));
    EXPECT_EQ(files_in(spill), 1u);
    EXPECT_EQ(held.bytes()[7], 1);
  }
  // Every store removed its directory when it went.
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(MemoryStoreTest, WithoutSpillingNothingIsWritten) {
  MemoryStore s;
  s.put(TaskKey{1, 0}, chunk_of(1));
  EXPECT_EQ(s.spill_to(0), 0u);
  EXPECT_EQ(s.memory_bytes(), 1u << 20);
}

TEST_F(MemoryStoreTest, StaleDirectoriesOfDeadWorkersAreRemovedLiveOnesKept) {
  MemoryStore live;
  ASSERT_TRUE(live.enable_spill(dir_.string()).is_ok());
  live.put(TaskKey{1, 0}, chunk_of(1));
  live.spill_to(0);
  // A worker that dies without cleaning up: a child process spills and exits at once.
  pid_t pid = ::fork();
  if (pid == 0) {
    auto* s = new MemoryStore();  // never destroyed: _exit skips clean-up, like a crash
    if (!s->enable_spill(dir_.string()).is_ok()) ::_exit(1);
    s->put(TaskKey{2, 0}, chunk_of(2));
    s->spill_to(0);
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  size_t dirs = 0;
  for (const auto& e : fs::directory_iterator(dir_)) dirs += e.is_directory();
  EXPECT_EQ(dirs, 2u);
  // A directory that merely looks like one, without a lock file, is not touched.
  fs::create_directories(dir_ / "rsdat-spill-mine");
  EXPECT_EQ(clean_stale_spill_dirs(dir_.string()), 1u);
  EXPECT_TRUE(fs::exists(dir_ / "rsdat-spill-mine"));
  EXPECT_TRUE(fs::exists(live.spill_directory()));
  EXPECT_EQ(live.get(TaskKey{1, 0})->bytes()[0], 1);
}

// A disk that fills up: here the kernel's own failure, through the real POSIX disk.
// RLIMIT_FSIZE makes write() fail (EFBIG) past 1.5 MiB, in a child process so the
// limit stays there. Chunks that fit are spilled; the 2 MiB one stays in memory, no
// partial file is left, and everything reads back whole.
TEST_F(MemoryStoreTest, AFullDiskKeepsChunksInMemoryAndLeavesNoPartialFile) {
  pid_t pid = ::fork();
  if (pid == 0) {
    auto fail = [](int code, const char* what) {
      std::fprintf(stderr, "child: %s\n", what);
      ::_exit(code);
    };
    std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim {1536 << 10, 1536 << 10};
    if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) fail(2, "setrlimit");
    MemoryStore s;
    if (!s.enable_spill(dir_.string()).is_ok()) fail(3, "enable_spill");
    s.put(TaskKey{1, 0}, chunk_of(1));
    s.put(TaskKey{1, 1}, chunk_of(2, 2 << 20));
    s.put(TaskKey{1, 2}, chunk_of(3));
    if (s.spill_to(0) != 1u << 20) fail(4, "spilled other than the first chunk before the failure");
    if (s.memory_bytes() != 3u << 20 || s.spilled_bytes() != 1u << 20) fail(5, "byte counts");
    if (files_in(s.spill_directory()) != 1) fail(6, "a partial file was left");
    auto big = s.get(TaskKey{1, 1});
    if (!big || big->nbytes() != 2u << 20 || big->bytes()[(2 << 20) - 1] != 2) fail(7, "big chunk");
    big.reset();
    s.erase(TaskKey{1, 1});  // room made: the rest spills
    if (s.spill_to(0) != 1u << 20) fail(8, "second spill");
    for (uint64_t i : {0u, 2u}) {
      auto c = s.get(TaskKey{1, i});
      if (!c || c->bytes()[777] != (i == 0 ? 1 : 3)) fail(9, "read back");
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// The real disk, but writes under the directories named `full` fail as on a full
// file system.
class PartlyFullDisk : public SpillDisk {
 public:
  Result<std::string> make_directory(const std::string& parent) override { return real_->make_directory(parent); }
  void remove_directory(const std::string& dir) override { real_->remove_directory(dir); }
  Status write_file(const std::string& path, const uint8_t* data, size_t n) override {
    for (const std::string& f : full) {
      if (path.rfind(f, 0) == 0) return io_error("cannot write " + path + ": No space left on device");
    }
    return real_->write_file(path, data, n);
  }
  Status read_file(const std::string& path, uint8_t* out, size_t n) override { return real_->read_file(path, out, n); }
  void remove_file(const std::string& path) override { real_->remove_file(path); }
  std::vector<std::string> full;

 private:
  std::shared_ptr<SpillDisk> real_ = posix_spill_disk();
};

// Several spill directories: when the one in use is full, chunks go to the next, which
// is used from then on; when all are full the error names every one, and chunks stay
// in memory, whole.
TEST_F(MemoryStoreTest, AFullSpillDirectoryMovesSpillingToTheNext) {
  auto disk = std::make_shared<PartlyFullDisk>();
  MemoryStore s;
  ASSERT_TRUE(s.enable_spill({(dir_ / "a").string(), (dir_ / "b").string()}, false, disk).is_ok());
  ASSERT_EQ(s.spill_directories().size(), 2u);
  const fs::path a = s.spill_directories()[0], b = s.spill_directories()[1];
  s.put(TaskKey{1, 0}, chunk_of(1));
  ASSERT_EQ(s.spill_to(0), 1u << 20);
  EXPECT_EQ(files_in(a), 1u);
  disk->full = {a.string()};
  s.put(TaskKey{1, 1}, chunk_of(2));
  s.put(TaskKey{1, 2}, chunk_of(3));
  Status error;
  EXPECT_EQ(s.spill_to(0, &error), 2u << 20);
  EXPECT_TRUE(error.is_ok()) << error.to_string();
  EXPECT_EQ(files_in(a), 1u);
  EXPECT_EQ(files_in(b), 2u);
  disk->full = {};  // a has room again, but b stays in use
  s.put(TaskKey{1, 3}, chunk_of(4));
  EXPECT_EQ(s.spill_to(0), 1u << 20);
  EXPECT_EQ(files_in(b), 3u);
  for (uint64_t i = 0; i < 4; ++i) {
    auto c = s.get(TaskKey{1, i});
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->bytes()[12345], i + 1);
  }
  // Both full: nothing leaves memory, and the error names both directories. (Chunks
  // read back keep their files, and would leave memory without a write: not those.)
  for (uint64_t i = 0; i < 4; ++i) s.erase(TaskKey{1, i});
  disk->full = {a.string(), b.string()};
  s.put(TaskKey{2, 0}, chunk_of(9));
  const uint64_t before = s.memory_bytes();
  EXPECT_EQ(s.spill_to(0, &error), 0u);
  EXPECT_EQ(s.memory_bytes(), before);
  EXPECT_NE(error.message().find(a.string()), std::string::npos) << error.message();
  EXPECT_NE(error.message().find(b.string()), std::string::npos) << error.message();
  EXPECT_EQ(s.get(TaskKey{2, 0})->bytes()[777], 9);
  s.validate();
}

// A spill file changed behind the store's back is an error naming it, not data.
TEST_F(MemoryStoreTest, ASpillFileOfTheWrongSizeIsAnErrorNotData) {
  MemoryStore s;
  ASSERT_TRUE(s.enable_spill(dir_.string()).is_ok());
  s.put(TaskKey{1, 0}, chunk_of(1));
  s.put(TaskKey{1, 1}, chunk_of(2));
  ASSERT_EQ(s.spill_to(0), 2u << 20);
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(s.spill_directory()))
    if (e.path().filename() != "lock") files.push_back(e.path());
  ASSERT_EQ(files.size(), 2u);
  std::sort(files.begin(), files.end());  // named by token, then chunk
  fs::resize_file(files[0], 1000);
  auto shorter = s.load(TaskKey{1, 0});
  ASSERT_FALSE(shorter.ok());
  EXPECT_NE(shorter.status().message().find(files[0].string()), std::string::npos) << shorter.status().message();
  EXPECT_NE(shorter.status().message().find("shorter"), std::string::npos);
  EXPECT_FALSE(s.get(TaskKey{1, 0}).has_value());
  fs::resize_file(files[1], (1 << 20) + 1);
  auto longer = s.load(TaskKey{1, 1});
  ASSERT_FALSE(longer.ok());
  EXPECT_NE(longer.status().message().find("longer"), std::string::npos);
  EXPECT_EQ(s.load(TaskKey{9, 9}).status().code(), StatusCode::kNotFound);
}

// Every spill file goes through the store's SpillDisk: one that refuses every write
// leaves all chunks in memory.
TEST_F(MemoryStoreTest, AllSpillFilesGoThroughItsDisk) {
  struct RefusingDisk : SpillDisk {
    std::shared_ptr<SpillDisk> dirs = posix_spill_disk();  // its directory is a real one
    int writes = 0;
    Result<std::string> make_directory(const std::string& parent) override { return dirs->make_directory(parent); }
    void remove_directory(const std::string& dir) override { dirs->remove_directory(dir); }
    Status write_file(const std::string& path, const uint8_t*, size_t) override {
      ++writes;
      return io_error("cannot write " + path + ": No space left on device");
    }
    Status read_file(const std::string& path, uint8_t*, size_t) override { return io_error("cannot open " + path); }
    void remove_file(const std::string&) override {}
  };
  auto disk = std::make_shared<RefusingDisk>();
  MemoryStore s;
  ASSERT_TRUE(s.enable_spill(dir_.string(), false, disk).is_ok());
  for (uint64_t i = 0; i < 3; ++i) s.put(TaskKey{1, i}, chunk_of(static_cast<uint8_t>(i)));
  EXPECT_EQ(s.spill_to(0), 0u);
  EXPECT_EQ(disk->writes, 1);  // the first failure stops the round
  EXPECT_EQ(s.memory_bytes(), 3u << 20);
  EXPECT_EQ(s.spilled_bytes(), 0u);
  EXPECT_EQ(files_in(s.spill_directory()), 0u);
  EXPECT_EQ(s.get(TaskKey{1, 2})->bytes()[5], 2);
}

}  // namespace
}  // namespace rsdat::worker
