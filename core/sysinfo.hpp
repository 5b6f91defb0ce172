// Facts about this process and machine, read from /proc and sysconf.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.hpp"

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

// A shell command's exit status (-1 when it could not run or was killed) and its
// output, stdout and stderr together.
struct CommandOutcome {
  int status = -1;
  std::string output;
};
CommandOutcome run_shell(const std::string& command);
// "123", "4GB", "2.5GiB", "512MiB", "auto" (nullopt) ... -> bytes; throws std::invalid_argument.
std::optional<uint64_t> parse_bytes(const std::string& text);
std::string format_bytes(uint64_t bytes);

// Network interfaces with an IPv4 address, as "name=address".
std::vector<std::string> interface_addresses();
// The IPv4 address of interface `name` (e.g. ib0). Errors: kNotFound, listing the
// interfaces there are.
Result<std::string> interface_address(const std::string& name);
// The local address this machine uses to reach `host` (no packet is sent), or "".
std::string local_address_towards(const std::string& host);
// Where a daemon binds: `host` if given, else the address of `interface` if given, else
// `fallback`. A wildcard (0.0.0.0, *, ::) is refused: rsdat binds to one network only.
Result<std::string> resolve_bind_host(const std::string& host, const std::string& interface,
                                      const std::string& fallback);

}  // namespace rsdat
