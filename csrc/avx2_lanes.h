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

#endif
