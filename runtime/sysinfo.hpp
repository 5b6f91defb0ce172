// Facts about this process and machine, read from /proc and sysconf.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace rsdat {

uint64_t current_rss_bytes();     // resident set size now
uint64_t peak_rss_bytes();        // VmHWM
uint64_t total_memory_bytes();    // physical memory of the machine
// The memory this job may use on this node: the least of the machine's memory, the
// cgroup's limit (memory.max, or memory.limit_in_bytes of cgroup v1) and SLURM's
// allocation (SLURM_MEM_PER_NODE, or SLURM_MEM_PER_CPU x SLURM_CPUS_ON_NODE, in MB).
uint64_t allocation_memory_bytes();
// What --memory-limit auto means for one of the workers on this node: the allocation
// divided among SLURM_NTASKS_PER_NODE (1 when unset) workers.
uint64_t auto_memory_limit_bytes();
std::string host_name();
// "123", "4GB", "2.5GiB", "512MiB", "auto" (nullopt) ... -> bytes; throws std::invalid_argument.
std::optional<uint64_t> parse_bytes(const std::string& text);
std::string format_bytes(uint64_t bytes);

}  // namespace rsdat
