/* The optimizer update loops compiled for AVX2+FMA; entered only through annc_opt_apply after
 * the run-time ISA check.
 *
 * Plain RMSprop (Keras' default optimizer: no momentum, not centered) has its own loop here:
 * 1/sqrt(v + eps) is the hardware estimate refined by one Newton step instead of a square root
 * and a division. Its relative error is about 2^-22 (2^-24 for sqrt then divide), so the
 * increment lr*g/sqrt(v+eps) differs from the correctly rounded one in its last bits, and w
 * after the step by at most a unit in its last place, now and then. In exchange the pass is no
 * longer bound by the divider: vsqrtps + vdivps cost ~9 cycles per eight parameters on Zen3, so
 * a step of Program 2's 79,510 parameters went from 0.33 to 0.21 ns per parameter. The
 * portable build keeps sqrtf and the division. At the edge the formula's answers are kept:
 * an infinite v + eps (g^2 overflowed) gives a zero step, a NaN one a NaN. */
#include <immintrin.h>
#include <float.h>
#include <math.h>

#include "annc.h"
#include "internal.h"
#include "avx2_lanes.h"

/* 2 / sqrt(d): the hardware estimate r refined by one Newton step, r (3 - d r^2), which is the
 * step r (1.5 - (d / 2) r^2) times two with both halvings dropped, exactly (scaling by 2 rounds
 * alike). The caller takes half of lr instead: two multiplies fewer a vector (0.68 -> 0.61
 * cycles a parameter alone) for the same bits wherever lr g is a normal float. With d infinite
 * the step would compute inf * 0 = NaN from the estimate's exact 0, so it sees d capped at
 * FLT_MAX (r = 0 then gives 0; a NaN d has a NaN estimate, which stays NaN). */
ANNC_INLINE __m256 twice_rsqrt_refined(__m256 d) {
    const __m256 r = _mm256_rsqrt_ps(d);
    const __m256 dr = _mm256_mul_ps(_mm256_min_ps(d, _mm256_set1_ps(FLT_MAX)), r);
    return _mm256_mul_ps(r, _mm256_fnmadd_ps(dr, r, _mm256_set1_ps(3.0f)));
}

typedef struct {
    __m256 half_lr, rho, omr, eps, wdl;
} rms_consts;

/* v = rho v + (1 - rho) g^2; w = (w - w wd lr) - lr g / sqrt(v + eps), in registers, the last
 * step fused (one rounding). */
ANNC_INLINE void rms_step(__m256 *w, __m256 *v, __m256 g, const rms_consts *c, int wd) {
    const __m256 vn = _mm256_fmadd_ps(c->rho, *v, _mm256_mul_ps(c->omr, _mm256_mul_ps(g, g)));
    __m256 wn = *w;
    if (wd) wn = _mm256_fnmadd_ps(wn, c->wdl, wn);
    *w = _mm256_fnmadd_ps(_mm256_mul_ps(c->half_lr, g),
                          twice_rsqrt_refined(_mm256_add_ps(vn, c->eps)), wn);
    *v = vn;
}

/* The last n % 8 parameters go through the same arithmetic, masked, so a parameter's result
 * does not depend on where a chunk of the slab starts. Returns 1 when every new w is known
 * finite, which spares the zero-skipping forward product that reads these rows next its own
 * scan: the new w summed lane by lane stays finite only if each is (an inf or NaN makes the
 * sum inf or NaN; a sum that overflows on finite weights only says "not known", and the
 * product then scans). The sum is one add a vector, on the adder pipes: the pass is bound by
 * the multiply/FMA pipes (Zen3's 0 and 1), where the earlier w * 0 sum took a slot
 * (benchmarks/abba.sh: 0.994 / 0.994 / 0.995 against the null's 1.002 / 1.002). */
ANNC_INLINE int rmsprop_plain(const annc_optimizer *o, float *w, const float *g, float *v,
                              ptrdiff_t n, int wd) {
    const double *s = o->s;
    const rms_consts c = {_mm256_set1_ps(0.5f * (float)s[0]), _mm256_set1_ps((float)s[1]),
                          _mm256_set1_ps((float)s[2]), _mm256_set1_ps((float)s[4]),
                          _mm256_set1_ps((float)s[7])};
    const __m256 zero = _mm256_setzero_ps();
    __m256 nonfinite = zero, nf1 = zero, nf2 = zero, nf3 = zero;
    ptrdiff_t i = 0;
    /* Four vectors at a time, each with its own finiteness sum: a vector's update is a chain of
     * ~30 cycles of dependent operations, and with one vector an iteration the FP scheduler
     * held too few chains to fill the pipes (0.74 -> 0.65 cycles per parameter alone). */
    for (; i + 32 <= n; i += 32) {
        __m256 w0 = _mm256_loadu_ps(w + i), w1 = _mm256_loadu_ps(w + i + 8),
               w2 = _mm256_loadu_ps(w + i + 16), w3 = _mm256_loadu_ps(w + i + 24);
        __m256 v0 = _mm256_loadu_ps(v + i), v1 = _mm256_loadu_ps(v + i + 8),
               v2 = _mm256_loadu_ps(v + i + 16), v3 = _mm256_loadu_ps(v + i + 24);
        rms_step(&w0, &v0, _mm256_loadu_ps(g + i), &c, wd);
        rms_step(&w1, &v1, _mm256_loadu_ps(g + i + 8), &c, wd);
        rms_step(&w2, &v2, _mm256_loadu_ps(g + i + 16), &c, wd);
        rms_step(&w3, &v3, _mm256_loadu_ps(g + i + 24), &c, wd);
        _mm256_storeu_ps(w + i, w0);
        _mm256_storeu_ps(w + i + 8, w1);
        _mm256_storeu_ps(w + i + 16, w2);
        _mm256_storeu_ps(w + i + 24, w3);
        _mm256_storeu_ps(v + i, v0);
        _mm256_storeu_ps(v + i + 8, v1);
        _mm256_storeu_ps(v + i + 16, v2);
        _mm256_storeu_ps(v + i + 24, v3);
        nonfinite = _mm256_add_ps(nonfinite, w0);
        nf1 = _mm256_add_ps(nf1, w1);
        nf2 = _mm256_add_ps(nf2, w2);
        nf3 = _mm256_add_ps(nf3, w3);
    }
    nonfinite = _mm256_add_ps(_mm256_add_ps(nonfinite, nf1), _mm256_add_ps(nf2, nf3));
    for (; i + 8 <= n; i += 8) {
        __m256 wv = _mm256_loadu_ps(w + i), vv = _mm256_loadu_ps(v + i);
        rms_step(&wv, &vv, _mm256_loadu_ps(g + i), &c, wd);
        _mm256_storeu_ps(w + i, wv);
        _mm256_storeu_ps(v + i, vv);
        nonfinite = _mm256_add_ps(nonfinite, wv);
    }
    if (i < n) { /* the lanes past n hold w = 0, finite */
        const __m256i m = annc_first_lanes(n - i);
        __m256 wv = _mm256_maskload_ps(w + i, m), vv = _mm256_maskload_ps(v + i, m);
        rms_step(&wv, &vv, _mm256_maskload_ps(g + i, m), &c, wd);
        _mm256_maskstore_ps(w + i, m, wv);
        _mm256_maskstore_ps(v + i, m, vv);
        nonfinite = _mm256_add_ps(nonfinite, wv);
    }
    return _mm256_movemask_ps(_mm256_cmp_ps(nonfinite, nonfinite, _CMP_UNORD_Q)) == 0;
}

static int rmsprop_plain_avx2(const annc_optimizer *o, float *w, const float *g, float *v,
                              ptrdiff_t n) {
    if ((float)o->s[7] != 0.0f) return rmsprop_plain(o, w, g, v, n, 1);
    return rmsprop_plain(o, w, g, v, n, 0);
}

#define ANNC_OPT_APPLY_NAME annc_opt_apply_avx2
#define ANNC_OPT_RMSPROP_PLAIN rmsprop_plain_avx2
#include "optim_kernels.h"
