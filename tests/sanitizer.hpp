// What tests that set workers' memory limits allow for the sanitizers (`make sanitize`):
// AddressSanitizer's shadow memory and quarantine make an idle worker about 90 MiB
// larger, so such a worker with a 100 MB limit would be above its pause threshold
// before its first task.
#pragma once

#include <cstdint>
#include <string>

namespace rsdat::test_support {

#ifdef RSDAT_SANITIZE
inline constexpr uint64_t kSanitizerOverheadBytes = 256'000'000;
#else
inline constexpr uint64_t kSanitizerOverheadBytes = 0;
#endif

// A --memory-limit of `bytes` plus the sanitizers' overhead, in bytes.
inline uint64_t memory_limit(uint64_t bytes) { return bytes + kSanitizerOverheadBytes; }
inline std::string memory_limit_text(uint64_t bytes) { return std::to_string(memory_limit(bytes)); }

}  // namespace rsdat::test_support
