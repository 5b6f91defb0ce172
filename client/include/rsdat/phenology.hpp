// Phenology: the extended spring indices' (SI-x) first-leaf and first-bloom models on
// daily weather grids, the leaf as the RS-DAT phenology notebook writes it with xarray. Lazy, like every
// rsdat::Array.
//
//   auto tmin = rsdat::from_zarr("daymet.zarr", "tmin");    // (time, y, x), °C
//   auto tmax = rsdat::from_zarr("daymet.zarr", "tmax");    // °C
//   auto dayl = rsdat::from_zarr("daymet.zarr", "dayl");    // s
//   auto gdh = rsdat::growing_degree_hours(tmin, tmax, dayl);   // (time, y, x) float64
//   auto si = rsdat::spring_index(tmin, tmax, dayl);
//   si.first_leaf.compute<float>();                         // (4, y, x): lilac, arnold red, zabelii, mean
//   si.first_bloom.compute<float>();                        // (4, y, x)
//
// The model, with tmin_f = tmin * 1.8 + 32, tmax_f = tmax * 1.8 + 32 (°F), dayl_h =
// dayl / 3600 (hours) and base B (31 °F), for the hours h = 0..23 of each day:
//   hour 0:                       T_0 = tmin_f
//   day hours 1 <= h <= floor(dayl_h):
//                                 T_h = (tmax_f - tmin_f) sin(pi h / (dayl_h + 4)) + tmin_f
//   night hours h > floor(dayl_h), c = h - floor(dayl_h):
//                                 T_h = ts - (ts - tmin_f) / log(24 - dayl_h) log(c)
//   with the sunset temperature   ts = (tmax_f - tmin_f) sin(pi dayl_h / (dayl_h + 4)) + tmin_f
//                                 (0.01 where that is <= 0);
//   growing-degree hours          gdh = sum over h of clip(T_h - B, min=0), a term that
//                                 is not finite counting 0.
// Leaf predictors per day d (0-based), gdh being padded with 7 leading days of its
// first day (numpy.pad mode "edge") so that day -k reads day 0:
//   dde2[d]  = gdh[d] + gdh[d-1] + gdh[d-2]                 (rolling 3 sum)
//   dd57[d]  = gdh[d-5] + gdh[d-6] + gdh[d-7]               (rolling 8 minus rolling 5)
//   synop[d] = the days <= d with dde2 >= 637               (cumsum)
//   mds0[d]  = d
// and per plant, with its coefficients (a, b, c, e),
//   mdsum1 = a mds0 + b synop + c dde2 + e dd57,
// the first-leaf day (1-based) is the first day with mdsum1 >= 999.5, plus one; NaN
// where it is never reached. The plants are lilac (3.306, 13.878, 0.201, 0.153), arnold
// red (4.266, 20.899, 0, 0.248) and zabelii (2.802, 21.433, 0.266, 0); a fourth entry
// is their mean, rounded half to even (numpy.round), NaN if one of them is.
// agdh_after_leaf[p] is the growing-degree hours summed from day leaf[p] - 1 (0-based)
// to the last day: the last value of cumsum(where(d >= leaf[p] - 1, gdh, 0)); NaN where
// there is no leaf. A pixel whose tmin, tmax or dayl is NaN on any of the days (no data:
// Daymet's sea) is NaN in every output.
// First bloom, per plant after its first-leaf day L (1-based): on each day I >= L,
//   agdh[I] = the growing-degree hours of days L..I, mds0 = I - L,
// and the first-bloom day is the first I with alpha agdh[I] + beta mds0 > 999.5; NaN
// where it is never reached or there is no leaf. The coefficients (alpha, beta) are the
// SI-x bloom model's (Schwartz et al. 2013; as Izquierdo-Verdiguier et al. 2018 compute
// the SI-x products): lilac (0.116, -23.934), arnold red (0.127, -24.825) and zabelii
// (0.096, -11.368). The mean entry is the plants' mean rounded, NaN if one is NaN (that
// product code averages the plants that bloom, and reports the leaf day for one that
// never does).
//
// Everything computes in float64 (float32 inputs are widened first).
#pragma once

#include <array>
#include <string>

#include "rsdat/array.hpp"

namespace rsdat {

// Each day's growing-degree hours above base_f (°F) by the hourly model above, from
// Daymet's tmin and tmax (°C) and dayl (s): float64, tmin's shape and chunks (tmax and
// dayl are rechunked to them). One task per block, reading the three blocks and writing
// one float64 block: memory per task 3 input blocks + 1 output block. Per element one
// sin, one sqrt and one log (the daylight hours' sines by Chebyshev's recurrence, the
// night hours' logs from a table), and 24 hourly terms. Shapes that differ throw std::invalid_argument naming
// growing_degree_hours.
Array growing_degree_hours(const Array& tmin, const Array& tmax, const Array& dayl, double base_f = 31);

// The plants of spring_index_leaf, in the order of its outputs' first axis.
inline constexpr std::array<const char*, 4> kSpringIndexPlants{"lilac", "arnold_red", "zabelii", "mean"};

struct SpringIndexLeaf {
  Array first_leaf;       // (4, y, x) float32: the first-leaf day, 1-based; NaN: none
  Array agdh_after_leaf;  // (4, y, x) float64: growing-degree hours from the first-leaf day on
};

struct SpringIndex {
  Array first_leaf;       // (4, y, x) float32: the first-leaf day, 1-based; NaN: none
  Array first_bloom;      // (4, y, x) float32: the first-bloom day, 1-based; NaN: none
  Array agdh_after_leaf;  // (4, y, x) float64: growing-degree hours from the first-leaf day on
};

// The SI-x first-leaf and first-bloom models above on (time, y, x) inputs of one shape
// (tmax and dayl are rechunked to tmin's chunks), as spring_index_leaf computes the
// leaf. With one chunk along time the bloom day comes from the same task per spatial
// block, with no extra array; with several, from a cumulative sum over time of a
// (3, time, y, x) float64 array, whose blocks are three times tmin's in elements. Throws
// std::invalid_argument naming spring_index, as spring_index_leaf does.
SpringIndex spring_index(const Array& tmin, const Array& tmax, const Array& dayl, double base_f = 31);

// The SI-x first-leaf model above on (time, y, x) inputs of one shape (tmax and dayl
// are rechunked to tmin's chunks). With one chunk along time, one task per spatial
// block computes everything: it holds the three input blocks, a float64 scratch of the
// block's growing-degree hours (8 bytes per element) and its (8, y, x) float64 output.
// With several chunks along time the model is composed of growing_degree_hours, pad,
// rolling sums, cumsum and fused reductions (docs/architecture.md), about 40 bytes per
// element of a block at the peak and over twice as slow; the results are the same.
// Throws std::invalid_argument naming spring_index_leaf for inputs that are not 3-D, of
// different shapes, or with no days.
SpringIndexLeaf spring_index_leaf(const Array& tmin, const Array& tmax, const Array& dayl, double base_f = 31);

}  // namespace rsdat
