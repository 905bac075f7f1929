/* Element-wise activations and their derivatives, plus the row-wise softmax.
 * Formulas follow Keras 3 (keras/src/activations): elu alpha, leaky_relu negative_slope,
 * selu's constants, gelu exact by default.
 *
 * These are the portable kernels. With AVX2+FMA the public functions hand over to
 * activations_avx2.c: libm's scalar expf/tanhf/erff cost 10-30 ns an element, more than the
 * GEMM whose epilogue calls them. */
#include <math.h>
#include <string.h>

#include "annc.h"
#include "internal.h"

#define SELU_ALPHA 1.67326324235437728481f
#define SELU_SCALE 1.05070098735548049342f
#define SQRT_2_OVER_PI 0.79788456080286535588f
#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

static inline float sigmoidf(float x) {
    /* stable on both tails: exp never overflows */
    if (x >= 0.0f) {
        const float z = expf(-x);
        return 1.0f / (1.0f + z);
    }
    const float z = expf(x);
    return z / (1.0f + z);
}

static inline float softplusf(float x) {
    /* log(1 + e^x) = max(x, 0) + log1p(e^-|x|) */
    return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
}

int annc_act_backward_needs_input(int act) {
    switch (act) {
    case ANNC_ACT_SOFTPLUS:
    case ANNC_ACT_SOFTSIGN:
    case ANNC_ACT_SWISH:
    case ANNC_ACT_GELU:
    case ANNC_ACT_GELU_TANH:
    case ANNC_ACT_ELU:
    case ANNC_ACT_SELU:
    case ANNC_ACT_LEAKY_RELU:
        return 1;
    default:
        return 0;
    }
}

void annc_act_forward(int act, float param, float *y, const float *x, ptrdiff_t n) {
    ptrdiff_t i;
#ifdef ANNC_HAVE_AVX2_KERNELS
    if (annc_isa() == ANNC_ISA_AVX2) {
        annc_act_forward_avx2(act, param, y, x, n);
        return;
    }
#endif
    switch (act) {
    case ANNC_ACT_LINEAR:
        if (y != x) memmove(y, x, sizeof(float) * (size_t)n);
        break;
    case ANNC_ACT_RELU:
        /* written so NaN passes through, as Keras's maximum(x, 0) does */
        for (i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
        break;
    case ANNC_ACT_SIGMOID:
        for (i = 0; i < n; i++) y[i] = sigmoidf(x[i]);
        break;
    case ANNC_ACT_TANH:
        for (i = 0; i < n; i++) y[i] = tanhf(x[i]);
        break;
    case ANNC_ACT_ELU:
        for (i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : param * expm1f(x[i]);
        break;
    case ANNC_ACT_SELU:
        for (i = 0; i < n; i++)
            y[i] = x[i] > 0.0f ? SELU_SCALE * x[i] : SELU_SCALE * SELU_ALPHA * expm1f(x[i]);
        break;
    case ANNC_ACT_SOFTPLUS:
        for (i = 0; i < n; i++) y[i] = softplusf(x[i]);
        break;
    case ANNC_ACT_SOFTSIGN:
        for (i = 0; i < n; i++) y[i] = x[i] / (1.0f + fabsf(x[i]));
        break;
    case ANNC_ACT_SWISH:
        for (i = 0; i < n; i++) y[i] = x[i] * sigmoidf(x[i]);
        break;
    case ANNC_ACT_GELU:
        for (i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * INV_SQRT2));
        break;
    case ANNC_ACT_GELU_TANH:
        for (i = 0; i < n; i++) {
            const float v = x[i];
            y[i] = 0.5f * v * (1.0f + tanhf(SQRT_2_OVER_PI * (v + 0.044715f * v * v * v)));
        }
        break;
    case ANNC_ACT_LEAKY_RELU:
        for (i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : param * x[i];
        break;
    default:
        break;
    }
}

void annc_act_backward(int act, float param, float *dx, const float *dy, const float *x,
                       const float *y, ptrdiff_t n) {
    ptrdiff_t i;
#ifdef ANNC_HAVE_AVX2_KERNELS
    if (annc_isa() == ANNC_ISA_AVX2) {
        annc_act_backward_avx2(act, param, dx, dy, x, y, n);
        return;
    }
#endif
    switch (act) {
    case ANNC_ACT_LINEAR:
        if (dx != dy) memmove(dx, dy, sizeof(float) * (size_t)n);
        break;
    case ANNC_ACT_RELU:
        for (i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case ANNC_ACT_SIGMOID:
        for (i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
        break;
    case ANNC_ACT_TANH:
        for (i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
    case ANNC_ACT_ELU:
        for (i = 0; i < n; i++) dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * param * expf(x[i]);
        break;
    case ANNC_ACT_SELU:
        for (i = 0; i < n; i++)
            dx[i] = x[i] > 0.0f ? dy[i] * SELU_SCALE : dy[i] * SELU_SCALE * SELU_ALPHA * expf(x[i]);
        break;
    case ANNC_ACT_SOFTPLUS:
        for (i = 0; i < n; i++) dx[i] = dy[i] * sigmoidf(x[i]);
        break;
    case ANNC_ACT_SOFTSIGN:
        for (i = 0; i < n; i++) {
            const float d = 1.0f + fabsf(x[i]);
            dx[i] = dy[i] / (d * d);
        }
        break;
    case ANNC_ACT_SWISH:
        for (i = 0; i < n; i++) {
            const float s = sigmoidf(x[i]);
            dx[i] = dy[i] * (s + x[i] * s * (1.0f - s));
        }
        break;
    case ANNC_ACT_GELU:
        for (i = 0; i < n; i++) {
            const float v = x[i];
            const float cdf = 0.5f * (1.0f + erff(v * INV_SQRT2));
            const float pdf = INV_SQRT_2PI * expf(-0.5f * v * v);
            dx[i] = dy[i] * (cdf + v * pdf);
        }
        break;
    case ANNC_ACT_GELU_TANH:
        for (i = 0; i < n; i++) {
            const float v = x[i];
            const float u = SQRT_2_OVER_PI * (v + 0.044715f * v * v * v);
            const float t = tanhf(u);
            const float du = SQRT_2_OVER_PI * (1.0f + 3.0f * 0.044715f * v * v);
            dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
        }
        break;
    case ANNC_ACT_LEAKY_RELU:
        for (i = 0; i < n; i++) dx[i] = x[i] > 0.0f ? dy[i] : param * dy[i];
        break;
    default:
        break;
    }
}

void annc_softmax_forward(float *y, ptrdiff_t ldy, const float *x, ptrdiff_t ldx,
                          ptrdiff_t rows, ptrdiff_t cols) {
#ifdef ANNC_HAVE_AVX2_KERNELS
    if (annc_isa() == ANNC_ISA_AVX2) {
        annc_softmax_forward_avx2(y, ldy, x, ldx, rows, cols);
        return;
    }
#endif
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *xr = x + r * ldx;
        float *yr = y + r * ldy;
        float mx = -INFINITY;
        for (ptrdiff_t j = 0; j < cols; j++) mx = fmaxf(mx, xr[j]);
        float s = 0.0f;
        for (ptrdiff_t j = 0; j < cols; j++) {
            yr[j] = expf(xr[j] - mx);
            s += yr[j];
        }
        const float inv = 1.0f / s;
        for (ptrdiff_t j = 0; j < cols; j++) yr[j] *= inv;
    }
}

void annc_softmax_backward(float *dx, const float *dy, const float *y, ptrdiff_t rows,
                           ptrdiff_t cols) {
#ifdef ANNC_HAVE_AVX2_KERNELS
    if (annc_isa() == ANNC_ISA_AVX2) {
        annc_softmax_backward_avx2(dx, dy, y, rows, cols);
        return;
    }
#endif
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *dyr = dy + r * cols, *yr = y + r * cols;
        float *dxr = dx + r * cols;
        float dot = 0.0f;
        for (ptrdiff_t j = 0; j < cols; j++) dot += dyr[j] * yr[j];
        for (ptrdiff_t j = 0; j < cols; j++) dxr[j] = yr[j] * (dyr[j] - dot);
    }
}
