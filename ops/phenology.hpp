// Phenology ops: the hourly temperature model of the extended spring indices (SI-x).
#pragma once

#include <cstdint>
#include <string>

#include "core/params.hpp"
#include "ops/op_registry.hpp"

namespace rsdat::ops {

// "growing_degree_hours": three inputs of one shape, the day's minimum and maximum
// temperature (°C) and day length (s) as Daymet gives them, in any numeric dtype; the
// output (float64, the same shape) is each day's growing-degree hours above `base_f`
// (°F) by the SI-x hourly model, written out in rsdat/phenology.hpp.
inline constexpr const char* kGrowingDegreeHours = "growing_degree_hours";
struct GrowingDegreeHoursParams {
  static constexpr uint8_t kVersion = 1;
  double base_f = 31;
  template <typename A> void fields(A& a) { a(base_f); }
};

// "spring_index_chain": three inputs, blocks of tmin, tmax (°C) and dayl (s) of one
// shape (days, y, x) holding every day; the output (12, y, x) float64 holds the SI-x
// first-leaf day (1-based, NaN: never) of lilac, arnold red, zabelii and their rounded
// mean in rows 0-3, the growing-degree hours summed from that day to the last in rows
// 4-7 (NaN with the day), and the first-bloom day in rows 8-11 (rsdat/phenology.hpp);
// a pixel with a NaN input on any day is NaN in all rows. The block's growing-degree
// hours are computed into a scratch array (8 bytes per element), then the leaf and
// bloom predictors are kept per pixel as the days go by: no other intermediate array.
inline constexpr const char* kSpringIndexChain = "spring_index_chain";
struct SpringIndexChainParams {
  static constexpr uint8_t kVersion = 2;  // 2: the output gained the bloom rows
  double base_f = 31;
  template <typename A> void fields(A& a) { a(base_f); }
};

// One day's growing-degree hours from °F temperatures and day length in hours (the
// kernel's per-element function, exposed for tests).
double growing_degree_hours_of(double tmin_f, double tmax_f, double dayl_h, double base_f);
// The same for n days at once (what the kernel runs, a tile of days at a time).
void growing_degree_hours_tile(const double* tmin_f, const double* tmax_f, const double* dayl_h, int64_t n,
                               double base_f, double* out);

void register_phenology_ops(OpRegistry& registry);

}  // namespace rsdat::ops
