// Small helpers shared by the files that define SchedulerState (scheduler_*.cpp).
// Not part of the scheduler's interface.
#pragma once

#include <algorithm>

namespace rsdat::sched {

template <typename V, typename T>
void erase_value(V& v, const T& x) {
  v.erase(std::remove(v.begin(), v.end(), x), v.end());
}

template <typename V, typename T>
bool contains(const V& v, const T& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace rsdat::sched
