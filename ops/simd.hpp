// What the CPU offers the kernels beyond the baseline, chosen at run time.
// Internal to the operations library.
#pragma once

#include <cstdint>

namespace rsdat::ops {

// Which instructions a kernel may use: the best the CPU has, or only the baseline
// (for tests comparing the two).
enum class Isa { kBest, kBaseline };

bool cpu_has_avx512();

// dst[a * ldd + b] = src[b * lds + a] for a < drows, b < dcols, for 8-byte elements
// (moved, never computed on: any 8-byte type may pass). False, and nothing done, when
// the CPU or the sizes (multiples of 8) do not allow it.
bool transpose_8byte(const void* src, int64_t lds, void* dst, int64_t ldd, int64_t drows, int64_t dcols);

bool cpu_has_avx2();

// sum[j] += v[j] and cnt[j] += 1 for each j < m where v[j] is not NaN (NumPy's
// nansum with its count), four values at a time. False, and nothing done, without AVX2.
bool add_sum_count(const float* v, int64_t m, double* sum, double* cnt);
bool add_sum_count(const double* v, int64_t m, double* sum, double* cnt);

}  // namespace rsdat::ops
