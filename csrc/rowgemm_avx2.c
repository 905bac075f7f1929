/* AVX2+FMA body of annc_rowgemm. A full tile is ROWS rows x NV vectors of 8 columns with
 * ROWS * NV = 12 accumulators (plus one B vector and the broadcasts), so one record sweeps
 * 96 columns per pass over B. What is left of the row goes 8 columns at a time, the last
 * vector masked. One record of at most 104 outputs takes all of them in one pass (13
 * accumulators): B is then read once, which is what one record's time is made of when B
 * lives in L2 (Program 2's first kernel is 313 KB). Every column has the same recipe either
 * way: the bias, then one FMA per row of B in order. */
#include <immintrin.h>

#include "annc.h"
#include "internal.h"
#include "avx2_lanes.h"

ANNC_INLINE void full_tile(const int ROWS, const int NV, ptrdiff_t j, ptrdiff_t k,
                           const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                           float *c, ptrdiff_t ldc, const float *bias) {
    __m256 acc[4][12];
    for (int v = 0; v < NV; v++) {
        const __m256 init = bias ? _mm256_loadu_ps(bias + j + 8 * v) : _mm256_setzero_ps();
        for (int i = 0; i < ROWS; i++) acc[i][v] = init;
    }
    for (ptrdiff_t p = 0; p < k; p++) {
        const float *bp = b + p * ldb + j;
        __m256 ai[4];
        for (int i = 0; i < ROWS; i++) ai[i] = _mm256_broadcast_ss(a + i * lda + p);
        for (int v = 0; v < NV; v++) {
            const __m256 bv = _mm256_loadu_ps(bp + 8 * v);
            for (int i = 0; i < ROWS; i++) acc[i][v] = _mm256_fmadd_ps(ai[i], bv, acc[i][v]);
        }
    }
    for (int i = 0; i < ROWS; i++)
        for (int v = 0; v < NV; v++) _mm256_storeu_ps(c + i * ldc + j + 8 * v, acc[i][v]);
}

/* columns [j, j + 8) clipped to n, for ROWS rows */
ANNC_INLINE void vector_tile(const int ROWS, ptrdiff_t n, ptrdiff_t j, ptrdiff_t k,
                             const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                             float *c, ptrdiff_t ldc, const float *bias) {
    const ptrdiff_t left = n - j < 8 ? n - j : 8;
    const __m256i mask = annc_first_lanes(left);
    __m256 acc[4];
    const __m256 init = bias ? _mm256_maskload_ps(bias + j, mask) : _mm256_setzero_ps();
    for (int i = 0; i < ROWS; i++) acc[i] = init;
    for (ptrdiff_t p = 0; p < k; p++) {
        const __m256 bv = _mm256_maskload_ps(b + p * ldb + j, mask);
        for (int i = 0; i < ROWS; i++)
            acc[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + i * lda + p), bv, acc[i]);
    }
    for (int i = 0; i < ROWS; i++) _mm256_maskstore_ps(c + i * ldc + j, mask, acc[i]);
}

/* One record, 97..104 columns in one pass: 13 accumulators. The 13th vector's lanes past n
 * read the start of B's next row (in bounds for every row but the last, which is masked) and
 * are never stored. */
static void one_pass13(ptrdiff_t n, ptrdiff_t k, const float *a, const float *b, ptrdiff_t ldb,
                       float *c, const float *bias) {
    const __m256i mask = annc_first_lanes(n - 96);
#define ANNC_ACC(v) \
    __m256 c##v = bias ? (v < 12 ? _mm256_loadu_ps(bias + 8 * v) \
                                 : _mm256_maskload_ps(bias + 8 * v, mask)) : _mm256_setzero_ps()
    ANNC_ACC(0); ANNC_ACC(1); ANNC_ACC(2); ANNC_ACC(3); ANNC_ACC(4); ANNC_ACC(5); ANNC_ACC(6);
    ANNC_ACC(7); ANNC_ACC(8); ANNC_ACC(9); ANNC_ACC(10); ANNC_ACC(11); ANNC_ACC(12);
#undef ANNC_ACC
#define ANNC_STEP(v) c##v = _mm256_fmadd_ps(ap, _mm256_loadu_ps(bp + 8 * v), c##v)
    for (ptrdiff_t p = 0; p < k; p++) {
        const float *bp = b + p * ldb;
        const __m256 ap = _mm256_broadcast_ss(a + p);
        ANNC_STEP(0); ANNC_STEP(1); ANNC_STEP(2); ANNC_STEP(3); ANNC_STEP(4); ANNC_STEP(5);
        ANNC_STEP(6); ANNC_STEP(7); ANNC_STEP(8); ANNC_STEP(9); ANNC_STEP(10); ANNC_STEP(11);
        c12 = _mm256_fmadd_ps(ap, p + 1 < k ? _mm256_loadu_ps(bp + 96)
                                            : _mm256_maskload_ps(bp + 96, mask), c12);
    }
#undef ANNC_STEP
    _mm256_storeu_ps(c, c0); _mm256_storeu_ps(c + 8, c1); _mm256_storeu_ps(c + 16, c2);
    _mm256_storeu_ps(c + 24, c3); _mm256_storeu_ps(c + 32, c4); _mm256_storeu_ps(c + 40, c5);
    _mm256_storeu_ps(c + 48, c6); _mm256_storeu_ps(c + 56, c7); _mm256_storeu_ps(c + 64, c8);
    _mm256_storeu_ps(c + 72, c9); _mm256_storeu_ps(c + 80, c10); _mm256_storeu_ps(c + 88, c11);
    _mm256_maskstore_ps(c + 96, mask, c12);
}

ANNC_INLINE void rows_n(const int ROWS, ptrdiff_t n, ptrdiff_t k, const float *a,
                        ptrdiff_t lda, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                        const float *bias) {
    const int NV = 12 / ROWS;
    ptrdiff_t j = 0;
    for (; j + 8 * NV <= n; j += 8 * NV) full_tile(ROWS, NV, j, k, a, lda, b, ldb, c, ldc, bias);
    for (; j < n; j += 8) vector_tile(ROWS, n, j, k, a, lda, b, ldb, c, ldc, bias);
}

static void rows1(ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t lda, const float *b,
                  ptrdiff_t ldb, float *c, ptrdiff_t ldc, const float *bias) {
    /* 97..104 columns in one pass (a width of 96 or less is already one pass or close) */
    if (n > 96 && n <= 104)
        one_pass13(n, k, a, b, ldb, c, bias);
    else
        rows_n(1, n, k, a, lda, b, ldb, c, ldc, bias);
}
static void rows2(ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t lda, const float *b,
                  ptrdiff_t ldb, float *c, ptrdiff_t ldc, const float *bias) {
    rows_n(2, n, k, a, lda, b, ldb, c, ldc, bias);
}
static void rows3(ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t lda, const float *b,
                  ptrdiff_t ldb, float *c, ptrdiff_t ldc, const float *bias) {
    rows_n(3, n, k, a, lda, b, ldb, c, ldc, bias);
}
static void rows4(ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t lda, const float *b,
                  ptrdiff_t ldb, float *c, ptrdiff_t ldc, const float *bias) {
    rows_n(4, n, k, a, lda, b, ldb, c, ldc, bias);
}

void annc_rowgemm_avx2(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t lda,
                       const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc, const float *bias) {
    switch (m) {
    case 1: rows1(n, k, a, lda, b, ldb, c, ldc, bias); break;
    case 2: rows2(n, k, a, lda, b, ldb, c, ldc, bias); break;
    case 3: rows3(n, k, a, lda, b, ldb, c, ldc, bias); break;
    case 4: rows4(n, k, a, lda, b, ldb, c, ldc, bias); break;
    default: break;
    }
}
