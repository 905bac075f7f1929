/* AVX2+FMA element-wise activations, their derivatives and the softmax rows: the same
 * functions as activations.c, eight lanes at a time. Compiled with -mavx2 -mfma and entered
 * only from activations.c after annc_isa() said AVX2.
 *
 * Accuracy: within a few float32 ulp of the float64 value of the same formula over the whole
 * float range, denormal results included (tests/activations/test_activations_avx2.py measures
 * it). The pieces:
 *  - e^x = (1 + p) 2^n, n = round(x / ln2), r = x - n ln2 in two FMA steps (ln2 as hi + lo),
 *    p = r + r^2 Q(r) with Q a degree-4 minimax fit (tools/fit_act_polys.py): ~1 ulp.
 *    Every exponential here has x <= 0 (sigmoid and softplus use e^-|x|, softmax x - max,
 *    gelu e^(-x^2/2), elu's derivative only keeps its x <= 0 lanes), so 2^n is applied as two
 *    normal factors <= 2 (exp_split): the denormal range is reached with a single rounding.
 *    Where e^x is multiplied by something (x * sigmoid(x), dy * e^x ...), that product is
 *    formed before the two factors, so a denormal result is rounded once instead of being
 *    scaled up from an already-rounded denormal.
 *    Below x = EXP_ZERO_BELOW the second factor is an exact 0, so -inf * 0 gives NaN exactly
 *    where the scalar formulas (and Keras) give NaN, e.g. swish(-inf).
 *  - expm1 (elu, selu, tanh) from the same reduction: 2^n p + (2^n - 1) in one FMA, exact
 *    where n = 0, so tiny arguments keep full relative precision.
 *  - tanh(x) = sign(x) em / (em + 2), em = expm1(2|x|); |x| is clamped at 10, beyond which
 *    tanh rounds to 1.
 *  - sigmoid from z = e^-|x| and q = 1 / (1 + z): q for x >= 0, z q for x < 0, so neither tail
 *    overflows or cancels. gelu_tanh = x * sigmoid(2u) (as 0.5 (1 + tanh u) = sigmoid(2u)),
 *    which, unlike 1 + tanh(u), does not cancel for negative x.
 *  - softplus = max(x, 0) + log1p(e^-|x|), log1p on [0, 1] by an exact reduction (f = z for
 *    z < 1/2, f = (z - 1) / 2 and + ln2 above) and log(1+f) = f - s (f - T(s^2)),
 *    s = f / (2 + f), T a degree-3 fit.
 *  - gelu = x Phi(x), Phi(-a) = e^(-a^2/2) M(a) / sqrt(2 pi) with M the Mills ratio, a
 *    piecewise degree-8 polynomial on 7 intervals picked by a table permute. a^2 is split
 *    exactly (FMA) into hi + lo so the exponent carries no rounding error; Phi(x) for x >= 0 is
 *    1 - Phi(-x). 1 + erf(x / sqrt 2) would lose all digits for x < -5 or so.
 *
 * Tails (n % 8) go through the same vector code with masked loads and stores, so an element's
 * result never depends on where it sits in the array (the GEMM epilogue calls these on tiles
 * whose widths follow the thread split). */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "annc.h"
#include "internal.h"
#include "avx2_lanes.h"

#define SELU_ALPHA 1.67326324235437728481f
#define SELU_SCALE 1.05070098735548049342f
#define SELU_SA 1.75809934084737685994f /* SELU_SCALE * SELU_ALPHA, rounded once */
#define INV_SQRT_2PI 0.39894228040143267794f
/* gelu_tanh: 2u = x (G1 + G3 x^2), G1 = 2 sqrt(2/pi), G3 = G1 * 0.044715 */
#define GT_G1_D 1.59576912160573071176

#define LOG2E 1.44269504088896340736f
#define LN2_HI 0.693147182464599609375f
#define LN2_LO -1.904654299957768e-09f
/* e^x below this is taken as exactly 0: the true value, times any factor under 2^95, rounds
 * to 0 */
#define EXP_ZERO_BELOW -170.0f

/* ---------------------------------------------------------------- helpers */

ANNC_INLINE __m256 vset(float v) { return _mm256_set1_ps(v); }
ANNC_INLINE __m256 vabs(__m256 x) { return _mm256_andnot_ps(vset(-0.0f), x); }
ANNC_INLINE __m256 vsign(__m256 x) { return _mm256_and_ps(vset(-0.0f), x); }
/* min/max return their second operand when either is NaN: the argument order below keeps a
 * NaN x as NaN. */
ANNC_INLINE __m256 vmin_keepnan(__m256 x, float hi) { return _mm256_min_ps(vset(hi), x); }
ANNC_INLINE __m256 vmax_keepnan(__m256 x, float lo) { return _mm256_max_ps(vset(lo), x); }
ANNC_INLINE __m256 vsel(__m256 mask, __m256 if_true, __m256 if_false) {
    return _mm256_blendv_ps(if_false, if_true, mask);
}

/* e^r - 1 for |r| <= ln2/2 (with a little slack for the rounding of n) */
ANNC_INLINE __m256 expm1_reduced(__m256 r) {
    __m256 q = vset(0.00138182961f);
    q = _mm256_fmadd_ps(q, r, vset(0.00836853217f));
    q = _mm256_fmadd_ps(q, r, vset(0.0416682921f));
    q = _mm256_fmadd_ps(q, r, vset(0.166665226f));
    q = _mm256_fmadd_ps(q, r, vset(0.49999994f));
    return _mm256_fmadd_ps(_mm256_mul_ps(r, r), q, r);
}

/* r = x - k ln2 for k = round(x / ln2); exact first step, as k ln2_hi is exact inside the FMA
 * and the difference is representable */
ANNC_INLINE __m256 reduce_ln2(__m256 x, __m256 *k) {
    *k = _mm256_round_ps(_mm256_mul_ps(x, vset(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 r = _mm256_fnmadd_ps(*k, vset(LN2_HI), x);
    return _mm256_fnmadd_ps(*k, vset(LN2_LO), r);
}

/* e^(x + xlo) for x <= 0 (larger x is read as 0) in three factors, e^x = m * s1 * s2:
 * m = e^r / 2 in [0.35, 0.71], so that m times any finite float cannot overflow, and
 * s1 = 2^n1, s2 = 2^n2 with n1, n2 in [-126, 1], both normal (n1 + n2 = n + 1 reaches
 * -245), or s2 = 0 below EXP_ZERO_BELOW. A product v * m * ... formed before s1 and s2 is
 * rounded into the denormals only once, at the end. NaN gives a NaN m. xlo is a small
 * low-order correction to x (0 for a plain exponential). */
ANNC_INLINE __m256 exp_split(__m256 x, __m256 xlo, __m256 *s1, __m256 *s2) {
    const __m256 xc = vmax_keepnan(vmin_keepnan(x, 0.0f), EXP_ZERO_BELOW);
    const __m256 zero = _mm256_cmp_ps(x, vset(EXP_ZERO_BELOW), _CMP_LT_OQ);
    __m256 k;
    /* xlo is dropped where x was clamped: it belongs to the unclamped x and may be large */
    const __m256 r = _mm256_add_ps(reduce_ln2(xc, &k), _mm256_andnot_ps(zero, xlo));
    const __m256i n = _mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(1));
    const __m256i n1 = _mm256_max_epi32(n, _mm256_set1_epi32(-126));
    const __m256i n2 = _mm256_sub_epi32(n, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    *s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    *s2 = _mm256_andnot_ps(zero, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23)));
    const __m256 half = vset(0.5f);
    return _mm256_fmadd_ps(expm1_reduced(r), half, half);
}

/* v * s1 * s2, the last steps of a product that contains an exp_split */
ANNC_INLINE __m256 unscale(__m256 v, __m256 s1, __m256 s2) {
    return _mm256_mul_ps(_mm256_mul_ps(v, s1), s2);
}

/* 1 for finite x, NaN for +-inf and NaN: restores the reference's inf * 0 = NaN where an
 * infinite x was clamped */
ANNC_INLINE __m256 nan_if_inf(__m256 x) {
    return _mm256_fmadd_ps(x, _mm256_setzero_ps(), vset(1.0f));
}

/* e^x for x <= 0 */
ANNC_INLINE __m256 exp_neg(__m256 x) {
    __m256 s1, s2;
    const __m256 m = exp_split(x, _mm256_setzero_ps(), &s1, &s2);
    return unscale(m, s1, s2);
}

/* e^x - 1 for x in [-30, 88] (outside: clamped; below -30 it rounds to -1 anyway). 2^n is
 * built directly: n stays in [-44, 127]. */
ANNC_INLINE __m256 expm1_v(__m256 x) {
    const __m256 xc = vmax_keepnan(vmin_keepnan(x, 88.0f), -30.0f);
    __m256 k;
    const __m256 p = expm1_reduced(reduce_ln2(xc, &k));
    const __m256 s = _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23));
    return _mm256_fmadd_ps(s, p, _mm256_sub_ps(s, vset(1.0f)));
}

/* Pieces of sigmoid(w + wlo) (wlo: a low-order part, |wlo| <= ulp(w)/2, or 0):
 * z = e^-|w + wlo| = zm * zs1 * zs2 (see exp_split), zf = z in full, q = 1 / (1 + z),
 * pos = (w >= 0). Then sigmoid(w) = pos ? q : zm q zs1 zs2 and
 * 1 - sigmoid(w) = pos ? zf q : q. */
typedef struct {
    __m256 zm, zs1, zs2, zf, q, pos;
} sig_parts;

ANNC_INLINE sig_parts sigmoid_parts2(__m256 w, __m256 wlo) {
    sig_parts p;
    /* -|w + wlo| = -|w| + (wlo with its sign flipped where w >= 0) */
    const __m256 lo = _mm256_xor_ps(wlo, _mm256_andnot_ps(w, vset(-0.0f)));
    p.zm = exp_split(_mm256_or_ps(w, vset(-0.0f)), lo, &p.zs1, &p.zs2);
    p.zf = unscale(p.zm, p.zs1, p.zs2);
    p.q = _mm256_div_ps(vset(1.0f), _mm256_add_ps(vset(1.0f), p.zf));
    p.pos = _mm256_cmp_ps(w, _mm256_setzero_ps(), _CMP_GE_OQ);
    return p;
}

ANNC_INLINE sig_parts sigmoid_parts(__m256 w) {
    return sigmoid_parts2(w, _mm256_setzero_ps());
}

ANNC_INLINE __m256 sigmoid_v(__m256 x) {
    const sig_parts p = sigmoid_parts(x);
    return vsel(p.pos, p.q, _mm256_mul_ps(p.zf, p.q));
}

/* v * sigmoid(w), rounded once even where the result is denormal */
ANNC_INLINE __m256 times_sigmoid(__m256 v, const sig_parts *p) {
    const __m256 neg = unscale(_mm256_mul_ps(_mm256_mul_ps(v, p->zm), p->q), p->zs1, p->zs2);
    return vsel(p->pos, _mm256_mul_ps(v, p->q), neg);
}

/* v * sigmoid(w) * (1 + ck * (1 - sigmoid(w))): the derivatives of x sigmoid(x) (ck = x) and
 * of x sigmoid(2u) (ck = x * 2u'). ck must be finite (the callers clamp x; past the clamp
 * 1 - sigmoid or the sigmoid is exactly 0 and the factor is moot). */
ANNC_INLINE __m256 times_sigmoid_1pck(__m256 v, __m256 ck, const sig_parts *p) {
    const __m256 one = vset(1.0f);
    const __m256 pos = _mm256_mul_ps(_mm256_mul_ps(v, p->q),
                                     _mm256_fmadd_ps(ck, _mm256_mul_ps(p->zf, p->q), one));
    const __m256 neg = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(v, p->zm), p->q),
                                     _mm256_fmadd_ps(ck, p->q, one));
    return vsel(p->pos, pos, unscale(neg, p->zs1, p->zs2));
}

ANNC_INLINE __m256 tanh_v(__m256 x) {
    const __m256 a = vmin_keepnan(vabs(x), 10.0f);
    const __m256 em = expm1_v(_mm256_add_ps(a, a));
    const __m256 t = _mm256_div_ps(em, _mm256_add_ps(em, vset(2.0f)));
    return _mm256_or_ps(t, vsign(x));
}

/* log(1 + z) for z in [0, 1] (NaN passes) */
ANNC_INLINE __m256 log1p_01(__m256 z) {
    const __m256 one = vset(1.0f), half = vset(0.5f);
    const __m256 big = _mm256_cmp_ps(z, half, _CMP_GE_OQ);
    /* exact: Sterbenz for z - 1 on [1/2, 1], and a halving */
    const __m256 f = vsel(big, _mm256_mul_ps(_mm256_sub_ps(z, one), half), z);
    const __m256 s = _mm256_div_ps(f, _mm256_add_ps(vset(2.0f), f));
    const __m256 w = _mm256_mul_ps(s, s);
    __m256 t = _mm256_fmadd_ps(vset(0.30362606f), w, vset(0.399577111f));
    t = _mm256_fmadd_ps(t, w, vset(0.666669488f));
    t = _mm256_mul_ps(t, w);
    const __m256 l = _mm256_fnmadd_ps(s, _mm256_sub_ps(f, t), f);
    const __m256 hi = _mm256_and_ps(big, vset(LN2_HI)), lo = _mm256_and_ps(big, vset(LN2_LO));
    return _mm256_add_ps(_mm256_add_ps(l, lo), hi);
}

ANNC_INLINE __m256 softplus_v(__m256 x) {
    const __m256 z = exp_neg(_mm256_or_ps(x, vset(-0.0f)));
    return _mm256_add_ps(vmax_keepnan(x, 0.0f), log1p_01(z));
}

/* M(a) = Phi(-a) / (sqrt(2 pi) phi(a)) = Phi(-a) e^(a^2/2), the Mills ratio over sqrt(2 pi),
 * for a >= 0 (clamped at 16, past which every product with e^(-a^2/2) underflows). Interval index from the exponent and top mantissa bit
 * of a + 2: [0,1) [1,2) [2,4) [4,6) [6,10) [10,14) [14,22) -> 0..6. Row 0: the centres,
 * rows 1..9: c0..c8 of the polynomial in a - centre (tools/fit_act_polys.py; float32 Horner
 * within 1.4 ulp). */
static const float GELU_M[10][8] = {
    {0.5f, 1.5f, 3.0f, 5.0f, 8.0f, 12.0f, 18.0f, 0.0f},
    {0.349618822f, 0.20578067f, 0.121513948f, 0.0769193023f, 0.0491225459f, 0.0330189727f,
     0.0220956784f, 0.0f},
    {-0.224132851f, -0.0902712792f, -0.0344004259f, -0.0143457549f, -0.00596190989f,
     -0.00271462766f, -0.0012200746f, 0.0f},
    {0.118777707f, 0.0351864994f, 0.00915633421f, 0.00259534433f, 0.000713631045f,
     0.000221708135f, 6.71670932e-05f, 0.0f},
    {-0.0549159274f, -0.0124969529f, -0.00231061131f, -0.000456492562f, -8.4293868e-05f,
     -1.79922063e-05f, -3.68675478e-06f, 0.0f},
    {0.0228012018f, 0.00411745114f, 0.000556178042f, 7.78307221e-05f, 9.82854817e-06f,
     1.46595517e-06f, 2.01850682e-07f, 0.0f},
    {-0.00868496485f, -0.00126683863f, -0.000127928215f, -1.30330427e-05f, -1.12735006e-06f,
     -1.16910606e-07f, -1.09825748e-08f, 0.0f},
    {0.00325125712f, 0.00032528743f, 2.85075257e-05f, 2.7289816e-06f, 1.28502634e-07f,
     3.53217122e-09f, 5.90373472e-10f, 0.0f},
    {-0.00109364209f, -0.000101752521f, -6.71325233e-06f, -3.85159922e-07f, -1.61224438e-08f,
     -6.34761577e-10f, -3.54846291e-11f, 0.0f},
    {5.90083937e-06f, 0.000109542692f, 1.35326138e-06f, -2.28619172e-07f, 1.76992321e-09f,
     7.44828366e-10f, 2.10768577e-12f, 0.0f},
};

ANNC_INLINE __m256 mills_coef(int k, __m256i idx) {
    return _mm256_permutevar8x32_ps(_mm256_loadu_ps(GELU_M[k]), idx);
}

ANNC_INLINE __m256 mills(__m256 a) {
    const __m256 ac = _mm256_min_ps(a, vset(16.0f)); /* NaN becomes 16: M stays finite */
    const __m256i idx = _mm256_sub_epi32(
        _mm256_srli_epi32(_mm256_castps_si256(_mm256_add_ps(ac, vset(2.0f))), 22),
        _mm256_set1_epi32(256));
    const __m256 t = _mm256_sub_ps(ac, mills_coef(0, idx));
    __m256 m = mills_coef(9, idx);
    for (int k = 8; k >= 1; k--) m = _mm256_fmadd_ps(m, t, mills_coef(k, idx));
    return m;
}

/* e^(-x^2/2) in exp_split form; x^2 is split exactly into hi + lo (FMA), so the exponent
 * carries no rounding error (x^2 rounded would cost up to ~100 ulp near x = 14) */
ANNC_INLINE __m256 gauss_split(__m256 x, __m256 *s1, __m256 *s2) {
    const __m256 a = vmin_keepnan(vabs(x), 20.0f);
    const __m256 hi = _mm256_mul_ps(a, a);
    const __m256 lo = _mm256_fmsub_ps(a, a, hi);
    const __m256 mhalf = vset(-0.5f);
    return exp_split(_mm256_mul_ps(hi, mhalf), _mm256_mul_ps(lo, mhalf), s1, s2);
}

ANNC_INLINE __m256 gelu_v(__m256 x) {
    __m256 s1, s2;
    const __m256 e = gauss_split(x, &s1, &s2);
    /* Phi(-|x|) = tm * s1 * s2 */
    const __m256 tm = _mm256_mul_ps(mills(vabs(x)), e);
    const __m256 neg = unscale(_mm256_mul_ps(x, tm), s1, s2);
    const __m256 pos = _mm256_mul_ps(x, _mm256_sub_ps(vset(1.0f), unscale(tm, s1, s2)));
    return vsel(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ), neg, pos);
}

/* dy (Phi(x) + x phi(x)) = dy (1 + e^(-x^2/2) (x / sqrt(2 pi) - M)) for x >= 0 and
 * dy e^(-x^2/2) (x / sqrt(2 pi) + M) for x < 0, M = M(|x|). x is clamped in the bracket (the
 * exponential is exactly 0 long before) */
ANNC_INLINE __m256 gelu_grad_v(__m256 dy, __m256 x) {
    __m256 s1, s2;
    const __m256 e = gauss_split(x, &s1, &s2);
    const __m256 m = mills(vabs(x));
    const __m256 xc = vmax_keepnan(vmin_keepnan(x, 1e4f), -1e4f);
    const __m256 isneg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    const __m256 d = _mm256_fmadd_ps(xc, vset(INV_SQRT_2PI),
                                     vsel(isneg, m, _mm256_sub_ps(_mm256_setzero_ps(), m)));
    const __m256 pd = _mm256_mul_ps(d, e);
    const __m256 neg = unscale(_mm256_mul_ps(dy, pd), s1, s2);
    const __m256 pos = _mm256_mul_ps(dy, _mm256_add_ps(vset(1.0f), unscale(pd, s1, s2)));
    return _mm256_mul_ps(vsel(isneg, neg, pos), nan_if_inf(x));
}

/* 2u = x (G1 + G3 x^2) for gelu_tanh, as hi + lo floats, and (when xdw is not NULL)
 * x d(2u)/dx = x (G1 + 3 G3 x^2). sigmoid(2u) turns an absolute error in 2u into the same
 * relative error of the result, and 2u reaches -88 before the result underflows, so a float
 * 2u (rounding error up to 4e-6 there) would cost ~60 ulp: both are formed in double from x
 * clamped to +-1e4 (beyond which sigmoid(2u) is exactly 0 or 1 anyway, and hi stays finite). */
ANNC_INLINE __m256 gelu_tanh_w(__m256 x, __m256 *lo, __m256 *xdw) {
    const __m256 xc = vmax_keepnan(vmin_keepnan(x, 1e4f), -1e4f);
    const __m256d g1 = _mm256_set1_pd(GT_G1_D), g3 = _mm256_set1_pd(GT_G1_D * 0.044715);
    const __m256d g3x3 = _mm256_set1_pd(GT_G1_D * 0.044715 * 3.0);
    const __m256d x0 = _mm256_cvtps_pd(_mm256_castps256_ps128(xc));
    const __m256d x1 = _mm256_cvtps_pd(_mm256_extractf128_ps(xc, 1));
    const __m256d q0 = _mm256_mul_pd(x0, x0), q1 = _mm256_mul_pd(x1, x1);
    const __m256d w0 = _mm256_mul_pd(x0, _mm256_fmadd_pd(g3, q0, g1));
    const __m256d w1 = _mm256_mul_pd(x1, _mm256_fmadd_pd(g3, q1, g1));
    const __m128 h0 = _mm256_cvtpd_ps(w0), h1 = _mm256_cvtpd_ps(w1);
    const __m128 l0 = _mm256_cvtpd_ps(_mm256_sub_pd(w0, _mm256_cvtps_pd(h0)));
    const __m128 l1 = _mm256_cvtpd_ps(_mm256_sub_pd(w1, _mm256_cvtps_pd(h1)));
    *lo = _mm256_insertf128_ps(_mm256_castps128_ps256(l0), l1, 1);
    if (xdw) {
        const __m128 d0 = _mm256_cvtpd_ps(_mm256_mul_pd(x0, _mm256_fmadd_pd(g3x3, q0, g1)));
        const __m128 d1 = _mm256_cvtpd_ps(_mm256_mul_pd(x1, _mm256_fmadd_pd(g3x3, q1, g1)));
        *xdw = _mm256_insertf128_ps(_mm256_castps128_ps256(d0), d1, 1);
    }
    return _mm256_insertf128_ps(_mm256_castps128_ps256(h0), h1, 1);
}

ANNC_INLINE __m256 swish_v(__m256 x) {
    const sig_parts p = sigmoid_parts(x);
    return times_sigmoid(x, &p);
}

ANNC_INLINE __m256 gelu_tanh_v(__m256 x) {
    __m256 lo;
    const __m256 w = gelu_tanh_w(x, &lo, NULL);
    const sig_parts p = sigmoid_parts2(w, lo);
    return times_sigmoid(x, &p);
}

ANNC_INLINE __m256 swish_grad_v(__m256 dy, __m256 x) {
    const sig_parts p = sigmoid_parts(x);
    const __m256 xc = vmax_keepnan(vmin_keepnan(x, 1e4f), -1e4f);
    return _mm256_mul_ps(times_sigmoid_1pck(dy, xc, &p), nan_if_inf(x));
}

ANNC_INLINE __m256 gelu_tanh_grad_v(__m256 dy, __m256 x) {
    __m256 lo, xdw;
    const __m256 w = gelu_tanh_w(x, &lo, &xdw);
    const sig_parts p = sigmoid_parts2(w, lo);
    return _mm256_mul_ps(times_sigmoid_1pck(dy, xdw, &p), nan_if_inf(x));
}

ANNC_INLINE __m256 softplus_grad_v(__m256 dy, __m256 x) {
    const sig_parts p = sigmoid_parts(x);
    return times_sigmoid(dy, &p);
}

/* dy / (1 + |x|)^2 as (dy / d) / d: (1 + |x|)^2 itself overflows from |x| ~ 1.8e19 while the
 * result is still a normal float, and 1 / d squared would round twice more */
ANNC_INLINE __m256 softsign_grad_v(__m256 dy, __m256 x) {
    const __m256 d = _mm256_add_ps(vset(1.0f), vabs(x));
    return _mm256_div_ps(_mm256_div_ps(dy, d), d);
}

/* scale * expm1(x) for the x <= 0 lanes (the others are discarded by the caller); the sign
 * of x is or-ed in so that -0 gives -0 as in the scalar code (a no-op for x < 0) */
ANNC_INLINE __m256 elu_neg(__m256 x, __m256 scale) {
    return _mm256_mul_ps(scale, _mm256_or_ps(expm1_v(x), vsign(x)));
}

/* dy * scale * e^x for the x <= 0 lanes */
ANNC_INLINE __m256 elu_grad_neg(__m256 dy, __m256 x, __m256 scale) {
    __m256 s1, s2;
    const __m256 m = exp_split(x, _mm256_setzero_ps(), &s1, &s2);
    return unscale(_mm256_mul_ps(_mm256_mul_ps(dy, scale), m), s1, s2);
}

/* ---------------------------------------------------------------- loops */

/* Y = EXPR over the n elements, EXPR reading the vector X (and DY in backward loops). The tail
 * reuses EXPR on masked loads (masked lanes read as 0 and are not stored). */
#define FORWARD_LOOP(EXPR)                                                                     \
    do {                                                                                       \
        ptrdiff_t i = 0;                                                                       \
        for (; i + 8 <= n; i += 8) {                                                           \
            const __m256 X = _mm256_loadu_ps(x + i);                                           \
            _mm256_storeu_ps(y + i, (EXPR));                                                   \
        }                                                                                      \
        if (i < n) {                                                                           \
            const __m256i mk = annc_first_lanes(n - i);                                        \
            const __m256 X = _mm256_maskload_ps(x + i, mk);                                    \
            _mm256_maskstore_ps(y + i, mk, (EXPR));                                            \
        }                                                                                      \
    } while (0)

/* SRC is x or y, whichever the derivative reads */
#define BACKWARD_LOOP(SRC, EXPR)                                                               \
    do {                                                                                       \
        ptrdiff_t i = 0;                                                                       \
        for (; i + 8 <= n; i += 8) {                                                           \
            const __m256 DY = _mm256_loadu_ps(dy + i), X = _mm256_loadu_ps(SRC + i);           \
            _mm256_storeu_ps(dx + i, (EXPR));                                                  \
        }                                                                                      \
        if (i < n) {                                                                           \
            const __m256i mk = annc_first_lanes(n - i);                                        \
            const __m256 DY = _mm256_maskload_ps(dy + i, mk), X = _mm256_maskload_ps(SRC + i, mk); \
            _mm256_maskstore_ps(dx + i, mk, (EXPR));                                           \
        }                                                                                      \
    } while (0)

void annc_act_forward_avx2(int act, float param, float *y, const float *x, ptrdiff_t n) {
    const __m256 zero = _mm256_setzero_ps(), P = vset(param);
    switch (act) {
    case ANNC_ACT_LINEAR:
        if (y != x) memmove(y, x, sizeof(float) * (size_t)n);
        break;
    case ANNC_ACT_RELU:
        FORWARD_LOOP(_mm256_max_ps(zero, X)); /* x when x is NaN or -0, as x < 0 ? 0 : x */
        break;
    case ANNC_ACT_SIGMOID:
        FORWARD_LOOP(sigmoid_v(X));
        break;
    case ANNC_ACT_TANH:
        FORWARD_LOOP(tanh_v(X));
        break;
    case ANNC_ACT_ELU:
        FORWARD_LOOP(vsel(_mm256_cmp_ps(X, zero, _CMP_GT_OQ), X, elu_neg(X, P)));
        break;
    case ANNC_ACT_SELU:
        FORWARD_LOOP(vsel(_mm256_cmp_ps(X, zero, _CMP_GT_OQ), _mm256_mul_ps(vset(SELU_SCALE), X),
                          elu_neg(X, vset(SELU_SA))));
        break;
    case ANNC_ACT_SOFTPLUS:
        FORWARD_LOOP(softplus_v(X));
        break;
    case ANNC_ACT_SOFTSIGN:
        FORWARD_LOOP(_mm256_div_ps(X, _mm256_add_ps(vset(1.0f), vabs(X))));
        break;
    case ANNC_ACT_SWISH:
        FORWARD_LOOP(swish_v(X));
        break;
    case ANNC_ACT_GELU:
        FORWARD_LOOP(gelu_v(X));
        break;
    case ANNC_ACT_GELU_TANH:
        FORWARD_LOOP(gelu_tanh_v(X));
        break;
    case ANNC_ACT_LEAKY_RELU:
        FORWARD_LOOP(vsel(_mm256_cmp_ps(X, zero, _CMP_GT_OQ), X, _mm256_mul_ps(P, X)));
        break;
    default:
        break;
    }
}

void annc_act_backward_avx2(int act, float param, float *dx, const float *dy, const float *x,
                            const float *y, ptrdiff_t n) {
    const __m256 zero = _mm256_setzero_ps(), one = vset(1.0f), P = vset(param);
    switch (act) {
    case ANNC_ACT_LINEAR:
        if (dx != dy) memmove(dx, dy, sizeof(float) * (size_t)n);
        break;
    case ANNC_ACT_RELU:
        BACKWARD_LOOP(y, _mm256_and_ps(_mm256_cmp_ps(X, zero, _CMP_GT_OQ), DY));
        break;
    case ANNC_ACT_SIGMOID:
        BACKWARD_LOOP(y, _mm256_mul_ps(_mm256_mul_ps(DY, X), _mm256_sub_ps(one, X)));
        break;
    case ANNC_ACT_TANH:
        BACKWARD_LOOP(y, _mm256_mul_ps(DY, _mm256_fnmadd_ps(X, X, one)));
        break;
    case ANNC_ACT_ELU:
        BACKWARD_LOOP(x, vsel(_mm256_cmp_ps(X, zero, _CMP_GT_OQ), DY, elu_grad_neg(DY, X, P)));
        break;
    case ANNC_ACT_SELU:
        BACKWARD_LOOP(x, vsel(_mm256_cmp_ps(X, zero, _CMP_GT_OQ), _mm256_mul_ps(DY, vset(SELU_SCALE)),
                              elu_grad_neg(DY, X, vset(SELU_SA))));
        break;
    case ANNC_ACT_SOFTPLUS:
        BACKWARD_LOOP(x, softplus_grad_v(DY, X));
        break;
    case ANNC_ACT_SOFTSIGN:
        BACKWARD_LOOP(x, softsign_grad_v(DY, X));
        break;
    case ANNC_ACT_SWISH:
        BACKWARD_LOOP(x, swish_grad_v(DY, X));
        break;
    case ANNC_ACT_GELU:
        BACKWARD_LOOP(x, gelu_grad_v(DY, X));
        break;
    case ANNC_ACT_GELU_TANH:
        BACKWARD_LOOP(x, gelu_tanh_grad_v(DY, X));
        break;
    case ANNC_ACT_LEAKY_RELU:
        BACKWARD_LOOP(x, vsel(_mm256_cmp_ps(X, zero, _CMP_GT_OQ), DY, _mm256_mul_ps(P, DY)));
        break;
    default:
        break;
    }
}

/* ---------------------------------------------------------------- softmax rows */

/* sum of the eight lanes in a fixed order */
ANNC_INLINE float hsum(__m256 v) {
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

ANNC_INLINE float hmax(__m256 v) {
    const __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 m2 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    return _mm_cvtss_f32(_mm_max_ss(m2, _mm_movehdup_ps(m2)));
}

/* e^(x + b) for x + b <= 0. x + b is rounded (by up to 4e-6 when it is near -88, i.e. ~60 ulp
 * of the result); its rounding error, recovered exactly by two-sum, goes in as the
 * exponential's low-order part. */
ANNC_INLINE __m256 exp_shifted(__m256 x, __m256 b) {
    const __m256 sum = _mm256_add_ps(x, b);
    const __m256 bv = _mm256_sub_ps(sum, x), xv = _mm256_sub_ps(sum, bv);
    const __m256 err = _mm256_add_ps(_mm256_sub_ps(x, xv), _mm256_sub_ps(b, bv));
    __m256 s1, s2;
    const __m256 m = exp_split(sum, err, &s1, &s2);
    return unscale(m, s1, s2);
}

void annc_softmax_forward_avx2(float *y, ptrdiff_t ldy, const float *x, ptrdiff_t ldx,
                               ptrdiff_t rows, ptrdiff_t cols) {
    const ptrdiff_t full = cols & ~(ptrdiff_t)7;
    const __m256i mk = annc_first_lanes(cols - full);
    const __m256 ninf = vset(-INFINITY);
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *xr = x + r * ldx;
        float *yr = y + r * ldy;
        /* a NaN anywhere makes its e^(x - max) NaN and so the whole row, whatever the max */
        __m256 vm = ninf;
        ptrdiff_t j = 0;
        for (; j < full; j += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(xr + j));
        if (j < cols)
            vm = _mm256_max_ps(vm, vsel(_mm256_castsi256_ps(mk), _mm256_maskload_ps(xr + j, mk), ninf));
        const __m256 nmx = vset(-hmax(vm));
        __m256 vs = _mm256_setzero_ps(), et = vs;
        for (j = 0; j < full; j += 8) {
            const __m256 e = exp_shifted(_mm256_loadu_ps(xr + j), nmx);
            _mm256_storeu_ps(yr + j, e);
            vs = _mm256_add_ps(vs, e);
        }
        if (j < cols) { /* kept in a register until scaled: one masked store */
            et = _mm256_and_ps(_mm256_castsi256_ps(mk),
                               exp_shifted(_mm256_maskload_ps(xr + j, mk), nmx));
            vs = _mm256_add_ps(vs, et);
        }
        const __m256 inv = vset(1.0f / hsum(vs));
        for (j = 0; j < full; j += 8) _mm256_storeu_ps(yr + j, _mm256_mul_ps(_mm256_loadu_ps(yr + j), inv));
        if (j < cols) _mm256_maskstore_ps(yr + j, mk, _mm256_mul_ps(et, inv));
    }
}

void annc_softmax_backward_avx2(float *dx, const float *dy, const float *y, ptrdiff_t rows,
                                ptrdiff_t cols) {
    const ptrdiff_t full = cols & ~(ptrdiff_t)7;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *dyr = dy + r * cols, *yr = y + r * cols;
        float *dxr = dx + r * cols;
        __m256 vd = _mm256_setzero_ps();
        ptrdiff_t j = 0;
        for (; j < full; j += 8)
            vd = _mm256_fmadd_ps(_mm256_loadu_ps(dyr + j), _mm256_loadu_ps(yr + j), vd);
        /* the tail in scalar code: rows are whole here, so an element always takes the same
         * path; masked loads and stores cost more than a few scalar ones */
        float dsum = hsum(vd);
        for (; j < cols; j++) dsum += dyr[j] * yr[j];
        const __m256 dot = vset(dsum);
        for (j = 0; j < full; j += 8) {
            const __m256 yv = _mm256_loadu_ps(yr + j);
            _mm256_storeu_ps(dxr + j, _mm256_mul_ps(yv, _mm256_sub_ps(_mm256_loadu_ps(dyr + j), dot)));
        }
        for (; j < cols; j++) dxr[j] = yr[j] * (dyr[j] - dsum);
    }
}
