/* AVX2+FMA GEMM micro-kernel, 6 x 16: twelve ymm accumulators, two B vectors and one A
 * broadcast in flight (15 of 16 registers). Compiled with -mavx2 -mfma and only entered
 * through the dispatch table after CPUID+XGETBV said yes. */
#include <immintrin.h>

#include "annc.h"
#include "internal.h"

#define AMR 6
#define ANR 16

static inline void store_row(float *c, __m256 lo, __m256 hi, __m256 va, __m256 vb, float beta) {
    lo = _mm256_mul_ps(lo, va);
    hi = _mm256_mul_ps(hi, va);
    if (beta != 0.0f) {
        lo = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), lo);
        hi = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), hi);
    }
    _mm256_storeu_ps(c, lo);
    _mm256_storeu_ps(c + 8, hi);
}

static void ukr_avx2_6x16(ptrdiff_t k, const float *restrict ap, const float *restrict bp,
                          float *restrict c, ptrdiff_t ldc, float alpha, float beta, int mr,
                          int nr) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();

#define ANNC_STEP(p)                                                     \
    do {                                                                 \
        const __m256 b0 = _mm256_load_ps(bp + (p) * ANR);                \
        const __m256 b1 = _mm256_load_ps(bp + (p) * ANR + 8);            \
        __m256 a;                                                        \
        a = _mm256_broadcast_ss(ap + (p) * AMR + 0);                     \
        c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01); \
        a = _mm256_broadcast_ss(ap + (p) * AMR + 1);                     \
        c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11); \
        a = _mm256_broadcast_ss(ap + (p) * AMR + 2);                     \
        c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21); \
        a = _mm256_broadcast_ss(ap + (p) * AMR + 3);                     \
        c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31); \
        a = _mm256_broadcast_ss(ap + (p) * AMR + 4);                     \
        c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41); \
        a = _mm256_broadcast_ss(ap + (p) * AMR + 5);                     \
        c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51); \
    } while (0)

    ptrdiff_t p = 0;
    for (; p + 4 <= k; p += 4) {
        _mm_prefetch((const char *)(bp + 8 * ANR), _MM_HINT_T0);
        ANNC_STEP(0);
        ANNC_STEP(1);
        ANNC_STEP(2);
        ANNC_STEP(3);
        ap += 4 * AMR;
        bp += 4 * ANR;
    }
    for (; p < k; p++) {
        ANNC_STEP(0);
        ap += AMR;
        bp += ANR;
    }
#undef ANNC_STEP

    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    if (mr == AMR && nr == ANR) {
        store_row(c + 0 * ldc, c00, c01, va, vb, beta);
        store_row(c + 1 * ldc, c10, c11, va, vb, beta);
        store_row(c + 2 * ldc, c20, c21, va, vb, beta);
        store_row(c + 3 * ldc, c30, c31, va, vb, beta);
        store_row(c + 4 * ldc, c40, c41, va, vb, beta);
        store_row(c + 5 * ldc, c50, c51, va, vb, beta);
        return;
    }
    /* edge tile: run the very same vector arithmetic on a scratch tile (so an element's value
     * never depends on where the tile boundaries fall), then copy back the mr x nr that exist */
    float t[AMR * ANR] = {0};
    if (beta != 0.0f)
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < nr; j++) t[i * ANR + j] = c[i * ldc + j];
    store_row(t + 0 * ANR, c00, c01, va, vb, beta);
    store_row(t + 1 * ANR, c10, c11, va, vb, beta);
    store_row(t + 2 * ANR, c20, c21, va, vb, beta);
    store_row(t + 3 * ANR, c30, c31, va, vb, beta);
    store_row(t + 4 * ANR, c40, c41, va, vb, beta);
    store_row(t + 5 * ANR, c50, c51, va, vb, beta);
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) c[i * ldc + j] = t[i * ANR + j];
}

void annc_kernels_avx2(annc_kernels *t) {
    t->isa = ANNC_ISA_AVX2;
    t->gemm_ukr = ukr_avx2_6x16;
    t->MR = AMR;
    t->NR = ANR;
    t->KC = 256;
    t->MC = 168;
    t->NC = 4080;
}
