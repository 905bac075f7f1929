/* Per-sample losses and their gradients, with Keras 3's numerics
 * (keras/src/losses/losses.py over keras/src/backend/numpy/nn.py):
 *  - probabilities: the cross-entropies first divide each row by its sum (CCE, sparse CCE),
 *    then clip to [eps, 1 - eps], eps = 1e-7, then take the log; the clip has zero gradient
 *    where it is active, exactly as autodiff through clip gives;
 *  - logits: fused and stable (log-sum-exp for softmax CE, max(x,0) - x z + log1p(e^-|x|) for
 *    sigmoid BCE), so no probability is ever formed that could underflow to log(0).
 * Row sums are accumulated in double: the loss is cheap next to the GEMMs and the extra
 * precision makes the value independent of summation order details.
 *
 * Layout: pred and (dense) target are rows x cols, contiguous; loss_out[rows]; dpred like pred.
 * dpred is the gradient of grad_scale * sum_r loss_out[r]. NaN in pred propagates to the
 * loss and the gradient (the clips and maxima below are written so NaN passes through). */
#include <math.h>

#include "annc.h"
#include "internal.h"

#define EPS 1e-7f
#define ONE_M_EPS ((float)(1.0 - 1e-7))

/* np.clip semantics: NaN stays NaN (fminf/fmaxf would silently replace it) */
static inline float clip_prob(float p) { return p < EPS ? EPS : (p > ONE_M_EPS ? ONE_M_EPS : p); }
/* the clip passes the gradient unless it actually moved the value (NaN passes) */
static inline int clip_passes(float p) { return !(p < EPS || p > ONE_M_EPS); }

static inline float signf_nan(float d) { return d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : (d == 0.0f ? 0.0f : d)); }

static inline float sigmoidf_stable(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    const float z = expf(x);
    return z / (1.0f + z);
}

/* max over a row that lets NaN through (fmaxf would drop it): its first NaN */
static inline float row_max(const float *x, ptrdiff_t n) {
    const annc_kernels *K = annc_kernels_get();
    if (K->row_max && n > 0) return K->row_max(x, n);
    float m = -INFINITY;
    for (ptrdiff_t j = 0; j < n; j++) {
        if (x[j] > m || x[j] != x[j]) m = x[j];
        if (m != m) break;
    }
    return m;
}

void annc_exp_shifted(float *e, const float *x, float m, ptrdiff_t n) {
    const annc_kernels *K = annc_kernels_get();
    if (K->exp_shifted) {
        K->exp_shifted(e, x, m, n);
        return;
    }
    for (ptrdiff_t j = 0; j < n; j++) e[j] = expf(x[j] - m);
}

/* sum_j e^(x_j - m) in double, in order, the terms kept in e[] when e is non-NULL. The terms
 * go four at a time through the AVX2 table's copy of libm's expf (54 cycles a softmax row of
 * ten classes, against 127 for the scalar calls). */
static double sum_exp_shifted(const float *x, float m, float *e, ptrdiff_t n) {
    enum { CHUNK = 64 };
    float t[CHUNK];
    double s = 0.0;
    for (ptrdiff_t j0 = 0; j0 < n; j0 += CHUNK) {
        const ptrdiff_t c = ANNC_MIN((ptrdiff_t)CHUNK, n - j0);
        float *terms = e ? e + j0 : t;
        annc_exp_shifted(terms, x + j0, m, c);
        for (ptrdiff_t j = 0; j < c; j++) s += terms[j];
    }
    return s;
}

/* Softmax cross-entropy from logits for one row with a dense target t (weight sum T):
 *   loss = sum_j t_j (lse - x_j),  dloss/dx_k = T softmax_k - t_k.
 * Terms with t_j == 0 are skipped so a -inf logit on a class with zero weight costs nothing
 * (Keras computes 0 * -inf = NaN there; a masked logit should not poison the loss). */
static float cce_logits_row(const float *x, const float *t, float *dx, ptrdiff_t n, float gs) {
    const float m = row_max(x, n);
    const double s = sum_exp_shifted(x, m, dx, n);
    const double lse = (double)m + log(s);
    double loss = 0.0, tsum = 0.0;
    for (ptrdiff_t j = 0; j < n; j++) {
        if (t[j] != 0.0f) loss += (double)t[j] * (lse - (double)x[j]);
        tsum += t[j];
    }
    if (m != m) loss = NAN;
    if (dx) {
        const float a = (float)(tsum / s) * gs;
        for (ptrdiff_t j = 0; j < n; j++) dx[j] = a * dx[j] - gs * t[j];
    }
    return (float)loss;
}

static float sparse_logits_row(const float *x, int32_t y, float *dx, ptrdiff_t n, float gs) {
    const float m = row_max(x, n);
    const double s = sum_exp_shifted(x, m, dx, n);
    if (dx) {
        const float a = (float)(1.0 / s) * gs;
        for (ptrdiff_t j = 0; j < n; j++) dx[j] *= a;
        dx[y] -= gs;
    }
    return (float)((double)m + log(s) - (double)x[y]);
}

/* sparse_logits_row on two rows side by side, the same operations on each (so the same bits):
 * a row is a chain of dependent steps (its maximum, the exponentials, their sum in double, a
 * division, a logarithm), and two rows' chains overlap (16 rows of ten classes: 1.94k ->
 * 1.67k cycles alone). */
static void sparse_logits_2rows(const float *x0, const float *x1, const int32_t *y, float *d0,
                                float *d1, ptrdiff_t n, float gs, float *loss) {
    const float m0 = row_max(x0, n), m1 = row_max(x1, n);
    annc_exp_shifted(d0, x0, m0, n);
    annc_exp_shifted(d1, x1, m1, n);
    double s0 = 0.0, s1 = 0.0;
    for (ptrdiff_t j = 0; j < n; j++) {
        s0 += d0[j];
        s1 += d1[j];
    }
    const float a0 = (float)(1.0 / s0) * gs, a1 = (float)(1.0 / s1) * gs;
    for (ptrdiff_t j = 0; j < n; j++) {
        d0[j] *= a0;
        d1[j] *= a1;
    }
    d0[y[0]] -= gs;
    d1[y[1]] -= gs;
    loss[0] = (float)((double)m0 + log(s0) - (double)x0[y[0]]);
    loss[1] = (float)((double)m1 + log(s1) - (double)x1[y[1]]);
}

int annc_sparse_labels_ok(const int32_t *y, ptrdiff_t rows, ptrdiff_t cols) {
    for (ptrdiff_t r = 0; r < rows; r++)
        if (y[r] < 0 || (ptrdiff_t)y[r] >= cols) return 0;
    return 1;
}

void annc_sparse_logits_rows(const float *x, const int32_t *y, float *dx, ptrdiff_t rows,
                             ptrdiff_t cols, float gs, float *loss) {
    ptrdiff_t r = 0;
    for (; r + 1 < rows; r += 2)
        sparse_logits_2rows(x + r * cols, x + (r + 1) * cols, y + r, dx + r * cols,
                            dx + (r + 1) * cols, cols, gs, loss + r);
    if (r < rows) loss[r] = sparse_logits_row(x + r * cols, y[r], dx + r * cols, cols, gs);
}

/* Probabilities, dense target: r = p / sum(p), q = clip(r), loss = -sum t log q.
 * With g_j = dloss/dr_j = -t_j / q_j (0 where clipped):
 *   dloss/dp_k = (g_k - sum_j g_j r_j) / sum(p). */
static float cce_probs_row(const float *p, const float *t, float *dp, ptrdiff_t n, float gs) {
    double ssum = 0.0;
    for (ptrdiff_t j = 0; j < n; j++) ssum += p[j];
    const float s = (float)ssum, inv = 1.0f / s;
    double loss = 0.0, gr = 0.0;
    for (ptrdiff_t j = 0; j < n; j++) {
        const float r = p[j] * inv, q = clip_prob(r);
        loss -= (double)t[j] * (double)logf(q);
        if (dp) {
            const float g = clip_passes(r) ? -t[j] / q : 0.0f;
            dp[j] = g;
            gr += (double)g * r;
        }
    }
    if (dp) {
        const float c = (float)gr, a = gs * inv;
        for (ptrdiff_t j = 0; j < n; j++) dp[j] = (dp[j] - c) * a;
    }
    return (float)loss;
}

/* Sparse version of the above: only g_y is non-zero, so dloss/dp_k = g_y (delta_ky - r_y) / s. */
static float sparse_probs_row(const float *p, int32_t y, float *dp, ptrdiff_t n, float gs) {
    double ssum = 0.0;
    for (ptrdiff_t j = 0; j < n; j++) ssum += p[j];
    const float s = (float)ssum, inv = 1.0f / s;
    const float r = p[y] * inv, q = clip_prob(r);
    if (dp) {
        const float g = clip_passes(r) ? -1.0f / q : 0.0f;
        const float a = g * inv * gs, c = -a * r;
        for (ptrdiff_t j = 0; j < n; j++) dp[j] = c;
        dp[y] += a;
        /* NaN anywhere in the row makes s NaN; let it show in the whole gradient row */
        if (s != s)
            for (ptrdiff_t j = 0; j < n; j++) dp[j] = s;
    }
    return -logf(q);
}

static float bce_probs_row(const float *p, const float *t, float *dp, ptrdiff_t n, float gs) {
    double loss = 0.0;
    const float a = gs / (float)n;
    for (ptrdiff_t j = 0; j < n; j++) {
        const float q = clip_prob(p[j]);
        loss -= (double)t[j] * logf(q) + (double)(1.0f - t[j]) * logf(1.0f - q);
        if (dp) dp[j] = clip_passes(p[j]) ? -(t[j] / q - (1.0f - t[j]) / (1.0f - q)) * a : 0.0f;
    }
    return (float)(loss / (double)n);
}

static float bce_logits_row(const float *x, const float *t, float *dx, ptrdiff_t n, float gs) {
    double loss = 0.0;
    const float a = gs / (float)n;
    for (ptrdiff_t j = 0; j < n; j++) {
        const float v = x[j];
        loss += (double)(v > 0.0f ? v : 0.0f) - (double)v * t[j] + (double)log1pf(expf(-fabsf(v)));
        if (dx) dx[j] = (sigmoidf_stable(v) - t[j]) * a;
    }
    return (float)(loss / (double)n);
}

static float mse_row(const float *p, const float *t, float *dp, ptrdiff_t n, float gs) {
    double loss = 0.0;
    const float a = 2.0f * gs / (float)n;
    for (ptrdiff_t j = 0; j < n; j++) {
        const float d = p[j] - t[j];
        loss += (double)d * d;
        if (dp) dp[j] = d * a;
    }
    return (float)(loss / (double)n);
}

static float mae_row(const float *p, const float *t, float *dp, ptrdiff_t n, float gs) {
    double loss = 0.0;
    const float a = gs / (float)n;
    for (ptrdiff_t j = 0; j < n; j++) {
        const float d = p[j] - t[j];
        loss += fabsf(d);
        if (dp) dp[j] = signf_nan(d) * a;
    }
    return (float)(loss / (double)n);
}

static float huber_row(const float *p, const float *t, float *dp, ptrdiff_t n, float gs,
                       float delta) {
    double loss = 0.0;
    const float a = gs / (float)n;
    for (ptrdiff_t j = 0; j < n; j++) {
        const float e = p[j] - t[j], ae = fabsf(e);
        if (ae <= delta) {
            loss += 0.5 * (double)e * e;
            if (dp) dp[j] = e * a;
        } else {
            loss += (double)delta * ae - 0.5 * (double)delta * delta;
            if (dp) dp[j] = delta * signf_nan(e) * a;
        }
    }
    return (float)(loss / (double)n);
}

int annc_loss(int loss, int from_logits, float param, float *loss_out, float *dpred,
              const float *pred, const void *target, ptrdiff_t rows, ptrdiff_t cols,
              float grad_scale) {
    if (loss < 0 || loss >= ANNC_LOSS_COUNT || rows < 0 || cols < 0) return ANNC_ERR_ARG;
    if (rows == 0) return ANNC_OK;
    if (cols == 0 || pred == NULL || target == NULL) return ANNC_ERR_ARG;

    if (loss == ANNC_LOSS_SPARSE_CCE) {
        const int32_t *y = (const int32_t *)target;
        /* all labels are checked before anything is written */
        if (!annc_sparse_labels_ok(y, rows, cols)) return ANNC_ERR_ARG;
        if (from_logits && dpred && loss_out) { /* rows in pairs (a training step's loss) */
            annc_sparse_logits_rows(pred, y, dpred, rows, cols, grad_scale, loss_out);
            return ANNC_OK;
        }
        for (ptrdiff_t r = 0; r < rows; r++) {
            const float *p = pred + r * cols;
            float *d = dpred ? dpred + r * cols : NULL;
            const float l = from_logits ? sparse_logits_row(p, y[r], d, cols, grad_scale)
                                        : sparse_probs_row(p, y[r], d, cols, grad_scale);
            if (loss_out) loss_out[r] = l;
        }
        return ANNC_OK;
    }

    const float *tgt = (const float *)target;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *p = pred + r * cols, *t = tgt + r * cols;
        float *d = dpred ? dpred + r * cols : NULL;
        float l;
        switch (loss) {
        case ANNC_LOSS_CCE:
            l = from_logits ? cce_logits_row(p, t, d, cols, grad_scale)
                            : cce_probs_row(p, t, d, cols, grad_scale);
            break;
        case ANNC_LOSS_BCE:
            l = from_logits ? bce_logits_row(p, t, d, cols, grad_scale)
                            : bce_probs_row(p, t, d, cols, grad_scale);
            break;
        case ANNC_LOSS_MSE:
            l = mse_row(p, t, d, cols, grad_scale);
            break;
        case ANNC_LOSS_MAE:
            l = mae_row(p, t, d, cols, grad_scale);
            break;
        default: /* ANNC_LOSS_HUBER */
            l = huber_row(p, t, d, cols, grad_scale, param);
            break;
        }
        if (loss_out) loss_out[r] = l;
    }
    return ANNC_OK;
}
