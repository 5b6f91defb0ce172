#include "ops/simd.hpp"

#include <immintrin.h>

#include <type_traits>

namespace rsdat::ops {

namespace {
// GCC 12's AVX-512 headers start shuffles from an "undefined" vector it then warns
// about; the values are fully defined.
#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// Transposes of 8-byte elements, 8 x 8 at a time in AVX-512 registers: a column of
// the source is read as 8 rows' worth of one vector each, not element by element.
// dst[a * ldd + b] = src[b * lds + a] for a < drows, b < dcols (multiples of 8).
[[gnu::target("avx512f")]] [[gnu::always_inline]] inline void transpose8x8_avx512(const double* src, int64_t lds,
                                                                                 double* dst, int64_t ldd) {
  __m512d r[8], a[8], b[8];
  for (int k = 0; k < 8; ++k) r[k] = _mm512_loadu_pd(src + k * lds);
  for (int k = 0; k < 8; k += 2) {
    a[k] = _mm512_unpacklo_pd(r[k], r[k + 1]);
    a[k + 1] = _mm512_unpackhi_pd(r[k], r[k + 1]);
  }
  for (int h = 0; h < 8; h += 4) {  // rows 0-3, then 4-7
    b[h + 0] = _mm512_shuffle_f64x2(a[h + 0], a[h + 2], 0x88);
    b[h + 1] = _mm512_shuffle_f64x2(a[h + 0], a[h + 2], 0xDD);
    b[h + 2] = _mm512_shuffle_f64x2(a[h + 1], a[h + 3], 0x88);
    b[h + 3] = _mm512_shuffle_f64x2(a[h + 1], a[h + 3], 0xDD);
  }
  _mm512_storeu_pd(dst + 0 * ldd, _mm512_shuffle_f64x2(b[0], b[4], 0x88));
  _mm512_storeu_pd(dst + 4 * ldd, _mm512_shuffle_f64x2(b[0], b[4], 0xDD));
  _mm512_storeu_pd(dst + 2 * ldd, _mm512_shuffle_f64x2(b[1], b[5], 0x88));
  _mm512_storeu_pd(dst + 6 * ldd, _mm512_shuffle_f64x2(b[1], b[5], 0xDD));
  _mm512_storeu_pd(dst + 1 * ldd, _mm512_shuffle_f64x2(b[2], b[6], 0x88));
  _mm512_storeu_pd(dst + 5 * ldd, _mm512_shuffle_f64x2(b[2], b[6], 0xDD));
  _mm512_storeu_pd(dst + 3 * ldd, _mm512_shuffle_f64x2(b[3], b[7], 0x88));
  _mm512_storeu_pd(dst + 7 * ldd, _mm512_shuffle_f64x2(b[3], b[7], 0xDD));
}
[[gnu::target("avx512f")]] void transpose_blocks_avx512(const double* src, int64_t lds, double* dst, int64_t ldd,
                                                        int64_t drows, int64_t dcols) {
  for (int64_t b = 0; b < dcols; b += 8)
    for (int64_t a = 0; a < drows; a += 8) transpose8x8_avx512(src + b * lds + a, lds, dst + a * ldd + b, ldd);
}
#pragma GCC diagnostic pop

// Four doubles at a time (float values widened). NaN fails the ordered compare, so its
// lanes add 0 to both.
template <typename T>
[[gnu::target("avx2")]] [[gnu::always_inline]] inline void add_sum_count_avx2(const T* v, int64_t m, double* sum,
                                                                              double* cnt) {
  const __m256d one = _mm256_set1_pd(1.0);
  int64_t j = 0;
  for (; j + 4 <= m; j += 4) {
    __m256d x;
    if constexpr (std::is_same_v<T, float>) {
      x = _mm256_cvtps_pd(_mm_loadu_ps(v + j));
    } else {
      x = _mm256_loadu_pd(v + j);
    }
    const __m256d ok = _mm256_cmp_pd(x, x, _CMP_ORD_Q);
    _mm256_storeu_pd(sum + j, _mm256_add_pd(_mm256_loadu_pd(sum + j), _mm256_and_pd(x, ok)));
    _mm256_storeu_pd(cnt + j, _mm256_add_pd(_mm256_loadu_pd(cnt + j), _mm256_and_pd(one, ok)));
  }
  for (; j < m; ++j) {
    const double x = static_cast<double>(v[j]);
    if (x == x) {
      sum[j] += x;
      cnt[j] += 1.0;
    }
  }
}
[[gnu::target("avx2")]] void add_sum_count_f32(const float* v, int64_t m, double* sum, double* cnt) {
  add_sum_count_avx2(v, m, sum, cnt);
}
[[gnu::target("avx2")]] void add_sum_count_f64(const double* v, int64_t m, double* sum, double* cnt) {
  add_sum_count_avx2(v, m, sum, cnt);
}
}  // namespace

bool cpu_has_avx2() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
  }();
  return has;
}

bool add_sum_count(const float* v, int64_t m, double* sum, double* cnt) {
  if (!cpu_has_avx2()) return false;
  add_sum_count_f32(v, m, sum, cnt);
  return true;
}
bool add_sum_count(const double* v, int64_t m, double* sum, double* cnt) {
  if (!cpu_has_avx2()) return false;
  add_sum_count_f64(v, m, sum, cnt);
  return true;
}

bool cpu_has_avx512() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
  }();
  return has;
}

// False (and nothing done) when the CPU or the sizes do not allow it. Elements are
// moved, never computed on: any 8-byte type may pass as double.
bool transpose_8byte(const void* src, int64_t lds, void* dst, int64_t ldd, int64_t drows, int64_t dcols) {
  if (drows % 8 != 0 || dcols % 8 != 0 || !cpu_has_avx512()) return false;
  transpose_blocks_avx512(static_cast<const double*>(src), lds, static_cast<double*>(dst), ldd, drows, dcols);
  return true;
}


}  // namespace rsdat::ops
