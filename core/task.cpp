#include "core/task.hpp"

#include <cstdio>

namespace rsdat {

std::string TaskKey::to_string() const {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%016llx:%llu", static_cast<unsigned long long>(token),
                static_cast<unsigned long long>(chunk));
  return buf;
}

}  // namespace rsdat
