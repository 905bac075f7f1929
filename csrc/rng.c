/* Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy
 * as 1, 2, 3", SC'11).
 *
 * Every output element i of a call with (key, counter) is a pure function of (key, counter, i):
 * there is no state to advance, so a caller may split an array across threads, or generate a
 * prefix, and get exactly the numbers a single call would give.
 *
 * Philox input block (four 32-bit words):
 *   w0, w1 = the block index within the call (56 bits) and, in the top byte of w1, a tag
 *            (resampling attempt for truncated normals and bounded integers; 0xFF for
 *            annc_rng_u64), so retries never reuse the bits of another element;
 *   w2, w3 = the caller's 64-bit counter (SeedGenerator hands out one per call).
 * The 64-bit key is Philox's two key words. */
#include <math.h>
#include <string.h>

#include "annc.h"
#include "internal.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

#define TAG_U64 0xFFu
#define MAX_ATTEMPTS 255 /* tags 0..254; a truncated normal needs > 255 tries with p ~ 1e-343 */
#define BLOCK_MASK ((UINT64_C(1) << 56) - 1)

#define TWO_PI 6.283185307179586476925286766559

void annc_philox4x32_10(uint32_t out[4], const uint32_t in[4], uint32_t k0, uint32_t k1) {
    uint32_t c0 = in[0], c1 = in[1], c2 = in[2], c3 = in[3];
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        const uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        const uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

static inline void block(uint32_t out[4], uint64_t key, uint64_t counter, uint64_t blk,
                         uint32_t tag) {
    uint32_t in[4];
    blk &= BLOCK_MASK;
    in[0] = (uint32_t)blk;
    in[1] = (uint32_t)(blk >> 32) | (tag << 24);
    in[2] = (uint32_t)counter;
    in[3] = (uint32_t)(counter >> 32);
    annc_philox4x32_10(out, in, (uint32_t)key, (uint32_t)(key >> 32));
}

uint64_t annc_rng_u64(uint64_t key, uint64_t counter) {
    uint32_t r[4];
    block(r, key, counter, 0, TAG_U64);
    return ((uint64_t)r[0] << 32) | r[1];
}

/* 24 random mantissa bits: exactly representable in float, uniform on a grid in [0, 1). */
static inline double u24(uint32_t w) { return (double)(w >> 8) * (1.0 / 16777216.0); }

static inline float uniform_map(uint32_t w, double lo, double span, float hi, int clamp) {
    float v = (float)(lo + span * u24(w));
    /* rounding to float can land exactly on hi; the interval is half-open */
    if (clamp && v >= hi) v = nextafterf(hi, -INFINITY);
    return v;
}

void annc_rng_uniform_at(float *out, int64_t start, ptrdiff_t n, uint64_t key, uint64_t counter,
                         float lo, float hi) {
    const double dlo = lo, span = (double)hi - (double)lo;
    const int clamp = hi > lo;
    ptrdiff_t j = 0;
    while (j < n) {
        const uint64_t i = (uint64_t)(start + j);
        uint32_t r[4];
        block(r, key, counter, i >> 2, 0);
        for (unsigned w = (unsigned)(i & 3); w < 4 && j < n; w++, j++)
            out[j] = uniform_map(r[w], dlo, span, hi, clamp);
    }
}

void annc_rng_uniform(float *out, ptrdiff_t n, uint64_t key, uint64_t counter, float lo,
                      float hi) {
    annc_rng_uniform_at(out, 0, n, key, counter, lo, hi);
}

/* Box-Muller on one block: two independent standard normals from 53-bit uniforms.
 * u1 is in (0, 1] so the log is finite. */
static inline void box_muller(const uint32_t r[4], double *z0, double *z1) {
    const uint64_t a = (((uint64_t)r[0] << 32) | r[1]) >> 11;
    const uint64_t b = (((uint64_t)r[2] << 32) | r[3]) >> 11;
    const double u1 = ((double)a + 1.0) * (1.0 / 9007199254740992.0);
    const double u2 = (double)b * (1.0 / 9007199254740992.0);
    const double rad = sqrt(-2.0 * log(u1));
    const double th = TWO_PI * u2;
    *z0 = rad * cos(th);
    *z1 = rad * sin(th);
}

/* The two normals of pair p (draw `attempt` of it). */
static void normal_pair(double z[2], uint64_t key, uint64_t counter, uint64_t p,
                        uint32_t attempt) {
    uint32_t r[4];
    block(r, key, counter, p, attempt);
    box_muller(r, &z[0], &z[1]);
}

static double truncated_z(uint64_t key, uint64_t counter, uint64_t p, unsigned h);

/* Elements [start, start + n) of the normal stream, or of the one truncated at two standard
 * deviations: element i is half i & 1 of pair i >> 1. */
static void normal_fill(float *out, int64_t start, ptrdiff_t n, uint64_t key, uint64_t counter,
                        float mean, float stddev, int truncated) {
    ptrdiff_t j = 0;
    while (j < n) {
        const uint64_t i = (uint64_t)(start + j);
        double z[2];
        normal_pair(z, key, counter, i >> 1, 0);
        for (unsigned h = (unsigned)(i & 1); h < 2 && j < n; h++, j++) {
            const double v = !truncated || fabs(z[h]) <= 2.0
                                 ? z[h] : truncated_z(key, counter, i >> 1, h);
            out[j] = (float)((double)mean + (double)stddev * v);
        }
    }
}

void annc_rng_normal_at(float *out, int64_t start, ptrdiff_t n, uint64_t key, uint64_t counter,
                        float mean, float stddev) {
    normal_fill(out, start, n, key, counter, mean, stddev, 0);
}

void annc_rng_normal(float *out, ptrdiff_t n, uint64_t key, uint64_t counter, float mean,
                     float stddev) {
    annc_rng_normal_at(out, 0, n, key, counter, mean, stddev);
}

/* Element (pair index p, half h) retries with its own tag, never borrowing its partner's draws,
 * so each element's value depends on its index alone. */
static double truncated_z(uint64_t key, uint64_t counter, uint64_t p, unsigned h) {
    for (uint32_t a = 1; a < MAX_ATTEMPTS; a++) {
        double z[2];
        normal_pair(z, key, counter, p, a);
        if (fabs(z[h]) <= 2.0) return z[h];
    }
    return 0.0;
}

void annc_rng_truncated_normal_at(float *out, int64_t start, ptrdiff_t n, uint64_t key,
                                  uint64_t counter, float mean, float stddev) {
    normal_fill(out, start, n, key, counter, mean, stddev, 1);
}

void annc_rng_truncated_normal(float *out, ptrdiff_t n, uint64_t key, uint64_t counter,
                               float mean, float stddev) {
    annc_rng_truncated_normal_at(out, 0, n, key, counter, mean, stddev);
}

/* High 64 bits of a 64x64 product. */
static inline uint64_t mulhi64(uint64_t a, uint64_t b, uint64_t *lo) {
#if defined(__SIZEOF_INT128__)
    __extension__ typedef unsigned __int128 u128; /* GCC/Clang extension, guarded above */
    const u128 p = (u128)a * b;
    *lo = (uint64_t)p;
    return (uint64_t)(p >> 64);
#else
    const uint64_t a0 = (uint32_t)a, a1 = a >> 32, b0 = (uint32_t)b, b1 = b >> 32;
    const uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    const uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10;
    *lo = (mid << 32) | (uint32_t)p00;
    return p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
#endif
}

/* The a-th 64-bit draw of step s: two per Philox block. */
static inline uint64_t draw64(uint64_t key, uint64_t counter, uint64_t s, uint32_t a) {
    uint32_t r[4];
    block(r, key, counter, s, a >> 1);
    return (a & 1) ? (((uint64_t)r[2] << 32) | r[3]) : (((uint64_t)r[0] << 32) | r[1]);
}

/* Unbiased integer in [0, range) (Lemire, "Fast random integer generation in an interval",
 * 2019): multiply-shift with rejection of the few low products that would bias the result. */
static uint64_t bounded(uint64_t range, uint64_t key, uint64_t counter, uint64_t s) {
    uint64_t lo;
    uint64_t hi = mulhi64(draw64(key, counter, s, 0), range, &lo);
    if (lo < range) {
        const uint64_t t = (0 - range) % range;
        for (uint32_t a = 1; lo < t && a < 2 * MAX_ATTEMPTS; a++)
            hi = mulhi64(draw64(key, counter, s, a), range, &lo);
    }
    return hi;
}

void annc_rng_permutation(int64_t *out, int64_t n, uint64_t key, uint64_t counter) {
    for (int64_t i = 0; i < n; i++) out[i] = i;
    /* Fisher-Yates: step i draws from its own counter block, so the sequence of swaps is a
     * function of (key, counter, n) only */
    for (int64_t i = n - 1; i > 0; i--) {
        const int64_t j = (int64_t)bounded((uint64_t)i + 1, key, counter, (uint64_t)i);
        const int64_t t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
}

void annc_rng_dropout_mask_at(float *mask, int64_t start, ptrdiff_t n, uint64_t key,
                              uint64_t counter, float rate) {
    if (!(rate > 0.0f)) { /* also rate NaN: callers validate; keep everything */
        for (ptrdiff_t j = 0; j < n; j++) mask[j] = 1.0f;
        return;
    }
    if (rate >= 1.0f) {
        memset(mask, 0, sizeof(float) * (size_t)n);
        return;
    }
    const double keep = 1.0 - (double)rate;
    const float scale = (float)(1.0 / keep);
    /* keep when u < keep, u on the 24-bit grid: compare integers, P(keep) = ceil(keep*2^24)/2^24 */
    const uint32_t thresh = (uint32_t)ceil(keep * 16777216.0);
    ptrdiff_t j = 0;
    while (j < n) {
        const uint64_t i = (uint64_t)(start + j);
        uint32_t r[4];
        block(r, key, counter, i >> 2, 0);
        for (unsigned w = (unsigned)(i & 3); w < 4 && j < n; w++, j++)
            mask[j] = (r[w] >> 8) < thresh ? scale : 0.0f;
    }
}

void annc_rng_dropout_mask(float *mask, ptrdiff_t n, uint64_t key, uint64_t counter, float rate) {
    annc_rng_dropout_mask_at(mask, 0, n, key, counter, rate);
}
