// Facts about this process and machine, read from /proc and sysconf.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace rsdat {

uint64_t current_rss_bytes();     // resident set size now
uint64_t peak_rss_bytes();        // VmHWM
uint64_t total_memory_bytes();    // physical memory of the machine
std::string host_name();
// "123", "4GB", "2.5GiB", "512MiB", "auto" (nullopt) ... -> bytes; throws std::invalid_argument.
std::optional<uint64_t> parse_bytes(const std::string& text);
std::string format_bytes(uint64_t bytes);

}  // namespace rsdat
