/* annc_block_sums with AVX2 (see blocksums.c): each vector of a row summed over its planes
 * in registers, the bias added and the ReLU taken before it is stored, in the portable loops'
 * order of additions, so the bits are theirs. */
#include "avx2_lanes.h"

/* One vector of a row: `count` floats at column offset off + j of every plane. */
ANNC_INLINE void sum_vector(float *z, float *y, const float *partials, size_t plane,
                            size_t at, ptrdiff_t nb, ptrdiff_t m0, ptrdiff_t m1,
                            const float *bias, int relu, int count, __m256i mask) {
    const ptrdiff_t h = nb / 2;
    __m256 a = annc_load_count(partials + at, count, mask);
    for (ptrdiff_t k = m0; k < h; k++)
        a = _mm256_add_ps(a, annc_load_count(partials + (size_t)k * plane + at, count, mask));
    __m256 t = annc_load_count(partials + (size_t)h * plane + at, count, mask);
    for (ptrdiff_t k = m1; k < nb; k++)
        t = _mm256_add_ps(t, annc_load_count(partials + (size_t)k * plane + at, count, mask));
    a = _mm256_add_ps(a, t);
    if (bias) a = _mm256_add_ps(a, annc_load_count(bias, count, mask));
    if (!relu) {
        annc_store_count(z, a, count);
        return;
    }
    /* the second operand's lane when either is NaN or both are zeros: x < 0 ? 0 : x */
    const __m256 r = _mm256_max_ps(_mm256_setzero_ps(), a);
    if (y) {
        annc_store_count(z, a, count);
        annc_store_count(y, r, count);
    } else {
        annc_store_count(z, r, count);
    }
}

static void block_sums_avx2(float *z, float *y, ptrdiff_t ld, ptrdiff_t rows, ptrdiff_t n,
                            const float *partials, size_t plane, ptrdiff_t nb, ptrdiff_t m0,
                            ptrdiff_t m1, const float *bias, int relu) {
    const ptrdiff_t full = n / 8;
    const int rest = (int)(n % 8);
    const __m256i all = _mm256_set1_epi32(-1), mask = annc_first_lanes(rest);
    for (ptrdiff_t r = 0; r < rows; r++) {
        const size_t off = (size_t)(r * ld);
        float *zr = z + off, *yr = y ? y + off : NULL;
        for (ptrdiff_t v = 0; v < full; v++) {
            const ptrdiff_t j = 8 * v;
            sum_vector(zr + j, yr ? yr + j : NULL, partials, plane, off + (size_t)j, nb, m0, m1,
                       bias ? bias + j : NULL, relu, 8, all);
        }
        if (rest)
            sum_vector(zr + 8 * full, yr ? yr + 8 * full : NULL, partials, plane,
                       off + (size_t)(8 * full), nb, m0, m1, bias ? bias + 8 * full : NULL, relu,
                       rest, mask);
    }
}

void annc_blocksums_avx2(annc_kernels *t) { t->block_sums = block_sums_avx2; }
