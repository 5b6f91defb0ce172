// Memory limits from the machine, the cgroup and SLURM's allocation.
#include "core/sysinfo.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

namespace rsdat {
namespace {

struct ScopedEnv {
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }
  const char* name_;
};

TEST(SysInfo, AutoMemoryLimitFollowsTheSlurmAllocation) {
  const uint64_t machine = allocation_memory_bytes();
  ASSERT_GT(machine, 0u);
  EXPECT_LE(machine, total_memory_bytes());
  {
    ScopedEnv node("SLURM_MEM_PER_NODE", "1000");
    EXPECT_EQ(allocation_memory_bytes(), std::min<uint64_t>(machine, 1000ull << 20));
    ScopedEnv tasks("SLURM_NTASKS_PER_NODE", "4");
    EXPECT_EQ(auto_memory_limit_bytes(), std::min<uint64_t>(machine, 1000ull << 20) / 4);
  }
  {
    ScopedEnv cpu("SLURM_MEM_PER_CPU", "256");
    ScopedEnv cpus("SLURM_CPUS_ON_NODE", "3");
    EXPECT_EQ(allocation_memory_bytes(), std::min<uint64_t>(machine, 768ull << 20));
  }
  {
    ScopedEnv junk("SLURM_MEM_PER_NODE", "lots");
    EXPECT_EQ(allocation_memory_bytes(), machine);
  }
  EXPECT_EQ(auto_memory_limit_bytes(), machine);
}

TEST(SysInfo, ParseBytes) {
  EXPECT_EQ(*parse_bytes("4GB"), 4'000'000'000u);
  EXPECT_EQ(*parse_bytes("2GiB"), 2ull << 30);
  EXPECT_FALSE(parse_bytes("auto").has_value());
  EXPECT_THROW(parse_bytes("four"), std::invalid_argument);
}

}  // namespace
}  // namespace rsdat
