/* e^x in float with the same bits as glibc's expf (2.28 and later) gives on an x86-64 CPU with
 * FMA, four lanes at a time; compiled with -mavx2 -mfma and entered through the kernel table
 * (cpu.c). The softmax cross-entropy from logits (losses.c) calls libm's expf ten times a row
 * otherwise, a sixth of a training step's tail on Program 2; with this the loss keeps every
 * bit it had on that platform, and becomes the same on every other.
 *
 * The algorithm is glibc's (from Arm's optimized-routines): in double, k = round(x 32/ln2),
 * r = x 32/ln2 - k, e^x = 2^(k/32) 2^(r/32) with 2^(k/32) from a 32-entry table whose
 * exponent field takes k / 32 and 2^(r/32) a degree-3 polynomial, then one rounding to
 * float. Its error is under 0.502 ulp. glibc's FMA build forms r with one fused
 * multiply-subtract from x; this does the same. Checked against glibc 2.36's expf for all
 * 2^32 floats: no difference (tests/losses/test_expf.py samples it). The loss's row maximum is
 * here too. */
#include <immintrin.h>
#include <math.h>

#include "annc.h"
#include "internal.h"
#include "avx2_lanes.h"

/* 2^(i/32) rounded to the nearest double, less i << 47 (the exponent field then takes
 * k / 32 by an integer add of k << 47) */
static const uint64_t two_i32[32] = {
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
    0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
    0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
    0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
    0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
    0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
};

#define INV_LN2_32 (0x1.71547652b82fep+0 * 32)
#define ROUND_SHIFT 0x1.8p+52 /* adding it rounds to an integer, which lands in the low bits */
#define P0 (0x1.c6af84b912394p-5 / 32 / 32 / 32)
#define P1 (0x1.ebfce50fac4f3p-3 / 32 / 32)
#define P2 (0x1.62e42ff0c52d6p-1 / 32)
/* past these e^x is +inf or +0 (glibc returns them without the polynomial) */
#define OVERFLOW_ABOVE 0x1.62e42ep6f
#define UNDERFLOW_BELOW -0x1.9fe368p6f

/* e^x of four floats */
ANNC_INLINE __m128 exp4(__m128 x) {
    const __m256d xd = _mm256_cvtps_pd(x), scale = _mm256_set1_pd(INV_LN2_32);
    const __m256d shifted = _mm256_fmadd_pd(scale, xd, _mm256_set1_pd(ROUND_SHIFT));
    const __m256i k = _mm256_castpd_si256(shifted);
    const __m256d kd = _mm256_sub_pd(shifted, _mm256_set1_pd(ROUND_SHIFT));
    const __m256d r = _mm256_fmsub_pd(scale, xd, kd);
    const __m256i t = _mm256_add_epi64(
        _mm256_i64gather_epi64((const long long *)two_i32,
                               _mm256_and_si256(k, _mm256_set1_epi64x(31)), 8),
        _mm256_slli_epi64(k, 47));
    const __m256d hi = _mm256_fmadd_pd(_mm256_set1_pd(P0), r, _mm256_set1_pd(P1));
    const __m256d lo = _mm256_fmadd_pd(_mm256_set1_pd(P2), r, _mm256_set1_pd(1.0));
    const __m256d p = _mm256_fmadd_pd(hi, _mm256_mul_pd(r, r), lo);
    __m128 y = _mm256_cvtpd_ps(_mm256_mul_pd(p, _mm256_castsi256_pd(t)));
    y = _mm_blendv_ps(y, _mm_setzero_ps(), _mm_cmp_ps(x, _mm_set1_ps(UNDERFLOW_BELOW), _CMP_LT_OQ));
    y = _mm_blendv_ps(y, _mm_set1_ps(INFINITY), _mm_cmp_ps(x, _mm_set1_ps(OVERFLOW_ABOVE), _CMP_GT_OQ));
    return _mm_blendv_ps(y, _mm_add_ps(x, x), _mm_cmp_ps(x, x, _CMP_UNORD_Q)); /* NaN stays */
}

/* e^x of eight floats: two independent chains of four */
ANNC_INLINE __m256 exp8(__m256 x) {
    return _mm256_set_m128(exp4(_mm256_extractf128_ps(x, 1)), exp4(_mm256_castps256_ps128(x)));
}

/* e[j] = expf(x[j] - m) for j < n (x - m rounded to float first, as the scalar code does).
 * A softmax row of ten classes is one call: the tail's eight lanes go with the rest. */
static void exp_shifted_avx2(float *e, const float *x, float m, ptrdiff_t n) {
    const __m256 mv = _mm256_set1_ps(m);
    ptrdiff_t j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(e + j, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv)));
    if (j < n) {
        const int rest = (int)(n - j);
        const __m256 v = _mm256_maskload_ps(x + j, annc_first_lanes(rest));
        annc_store_first(e + j, exp8(_mm256_sub_ps(v, mv)), rest);
    }
}

/* The largest of x[0:n] (n >= 1), eight lanes at a time: the loss's scalar loop branched on
 * the data, about 57 cycles for a row of ten random logits. A row holding NaN goes back to
 * that loop, which returns its first NaN. Of equal maxima +0 and -0 either may come back;
 * x - m and m + log(s) come out the same for both. */
static float row_max_avx2(const float *x, ptrdiff_t n) {
    __m256 m = _mm256_set1_ps(-INFINITY), unordered = _mm256_setzero_ps();
    ptrdiff_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 v = _mm256_loadu_ps(x + j);
        m = _mm256_max_ps(m, v);
        unordered = _mm256_or_ps(unordered, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    if (j < n) {
        const __m256i lanes = annc_first_lanes(n - j);
        const __m256 v = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY),
                                          _mm256_maskload_ps(x + j, lanes),
                                          _mm256_castsi256_ps(lanes));
        m = _mm256_max_ps(m, v);
        unordered = _mm256_or_ps(unordered, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    if (_mm256_movemask_ps(unordered)) {
        for (j = 0; x[j] == x[j]; j++) {
        }
        return x[j];
    }
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
}

void annc_expf_avx2(annc_kernels *t) {
    t->exp_shifted = exp_shifted_avx2;
    t->row_max = row_max_avx2;
}
