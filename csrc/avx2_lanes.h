/* Included only by the *_avx2.c files (compiled with -mavx2 -mfma). */
#ifndef ANNC_AVX2_LANES_H
#define ANNC_AVX2_LANES_H

#include <immintrin.h>

#include "internal.h"

/* A mask selecting the first n (0..8) lanes, for the masked loads and stores of a vector
 * that runs past the end of a row. */
ANNC_INLINE __m256i annc_first_lanes(ptrdiff_t n) {
    static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - n));
}

/* The first 1..3 floats of x at p, with plain stores. */
ANNC_INLINE void annc_store_upto3(float *p, __m128 x, int n) {
    if (n & 2) {
        _mm_storel_pi((__m64 *)p, x);
        if (n & 1) _mm_store_ss(p + 2, _mm_movehl_ps(x, x));
    } else if (n & 1) {
        _mm_store_ss(p, x);
    }
}

/* A row's last vector: its first n (1..7) lanes with plain stores (a masked store costs a
 * dozen cycles on AMD cores, once per row of C). */
ANNC_INLINE void annc_store_first(float *p, __m256 v, int n) {
    const __m128 lo = _mm256_castps256_ps128(v);
    if (n >= 4) {
        _mm_storeu_ps(p, lo);
        annc_store_upto3(p + 4, _mm256_extractf128_ps(v, 1), n - 4);
    } else {
        annc_store_upto3(p, lo, n);
    }
}

/* `count` (1..8) floats at p: a whole vector, or its first lanes (mask: annc_first_lanes(count))
 * by a masked load; and the matching store. */
ANNC_INLINE __m256 annc_load_count(const float *p, int count, __m256i mask) {
    return count == 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask);
}

ANNC_INLINE void annc_store_count(float *p, __m256 v, int count) {
    if (count == 8)
        _mm256_storeu_ps(p, v);
    else
        annc_store_first(p, v, count);
}

#endif
