/* The training step's fused head (annc_kernels.head, see head.c): a tail's rows through a
 * narrow softmax layer and its cross-entropy, and back to the ReLU layer before it, with each
 * of the unfused path's recipes: the GEMM's for the logits, the short-K product's for the
 * input gradient, the ReLU's gradient; the loss and its gradient are annc_loss's own code
 * (annc_sparse_logits_rows). */
#include "avx2_lanes.h"

/* Logits of up to four rows at once (each row's chains of dependent FMAs would otherwise
 * leave the FMA pipes idle for their latency), over rows [k0, k1) of W: the sums of one K
 * block, each element's FMA chain in order from zero, as the GEMM forms them. */
ANNC_INLINE void block4(int g, ptrdiff_t h, const float *y, const float *wp, ptrdiff_t k0,
                        ptrdiff_t k1, __m256 out[4][2]) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0,
           b3 = a0;
    for (ptrdiff_t k = k0; k < k1; k++) {
        const __m256 wl = _mm256_load_ps(wp + 16 * k), wh = _mm256_load_ps(wp + 16 * k + 8);
        __m256 x = _mm256_broadcast_ss(y + k);
        a0 = _mm256_fmadd_ps(x, wl, a0);
        b0 = _mm256_fmadd_ps(x, wh, b0);
        if (g > 1) {
            x = _mm256_broadcast_ss(y + h + k);
            a1 = _mm256_fmadd_ps(x, wl, a1);
            b1 = _mm256_fmadd_ps(x, wh, b1);
        }
        if (g > 2) {
            x = _mm256_broadcast_ss(y + 2 * h + k);
            a2 = _mm256_fmadd_ps(x, wl, a2);
            b2 = _mm256_fmadd_ps(x, wh, b2);
        }
        if (g > 3) {
            x = _mm256_broadcast_ss(y + 3 * h + k);
            a3 = _mm256_fmadd_ps(x, wl, a3);
            b3 = _mm256_fmadd_ps(x, wh, b3);
        }
    }
    out[0][0] = a0, out[0][1] = b0, out[1][0] = a1, out[1][1] = b1;
    out[2][0] = a2, out[2][1] = b2, out[3][0] = a3, out[3][1] = b3;
}

/* z = y W + b for up to four rows: K blocks of kc rows of W, the first block's sum stored and
 * each later one's added to it, then the bias (without one the sum is stored as it is). */
ANNC_INLINE void logits4(int g, ptrdiff_t h, ptrdiff_t c, ptrdiff_t kc, const float *y,
                         const float *wp, const float *b, float *z) {
    const int lo = c < 8 ? (int)c : 8, hi = (int)c - lo;
    const __m256i mlo = annc_first_lanes(lo), mhi = annc_first_lanes(hi);
    __m256 sum[4][2], part[4][2];
    block4(g, h, y, wp, 0, ANNC_MIN(kc, h), sum);
    for (ptrdiff_t k0 = kc; k0 < h; k0 += kc) {
        block4(g, h, y, wp, k0, ANNC_MIN(k0 + kc, h), part);
        for (int i = 0; i < 4; i++) {
            sum[i][0] = _mm256_add_ps(sum[i][0], part[i][0]);
            sum[i][1] = _mm256_add_ps(sum[i][1], part[i][1]);
        }
    }
    const __m256 bl = b ? _mm256_maskload_ps(b, mlo) : _mm256_setzero_ps();
    const __m256 bh = b && hi > 0 ? _mm256_maskload_ps(b + 8, mhi) : _mm256_setzero_ps();
    for (int i = 0; i < g; i++) {
        const __m256 l = b ? _mm256_add_ps(sum[i][0], bl) : sum[i][0];
        const __m256 u = b ? _mm256_add_ps(sum[i][1], bh) : sum[i][1];
        float row[16];
        _mm256_storeu_ps(row, l);
        _mm256_storeu_ps(row + 8, u);
        for (ptrdiff_t j = 0; j < c; j++) z[i * c + j] = row[j];
    }
}

/* One row of the input gradient, dy = (dz W^T) where y > 0, else 0: the short-K product's
 * recipe (one FMA chain per element over the classes in order from zero), all of the row's
 * vectors side by side. wt: W transposed, c rows of ldt floats (zero past h). */
ANNC_INLINE void input_gradient_row(ptrdiff_t h, ptrdiff_t c, const float *dz, const float *wt,
                                    ptrdiff_t ldt, const float *y, float *dy) {
    enum { V = ANNC_HEAD_MAX_IN / 8 };
    __m256 acc[V];
    const int nv = (int)((h + 7) / 8);
#pragma GCC unroll 13
    for (int v = 0; v < V; v++) acc[v] = _mm256_setzero_ps();
    for (ptrdiff_t p = 0; p < c; p++) {
        const __m256 d = _mm256_broadcast_ss(dz + p);
        const float *wp = wt + p * ldt;
#pragma GCC unroll 13
        for (int v = 0; v < V; v++)
            if (v < nv) acc[v] = _mm256_fmadd_ps(d, _mm256_loadu_ps(wp + 8 * v), acc[v]);
    }
    const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 13
    for (int v = 0; v < V; v++) {
        if (v >= nv) break;
        const ptrdiff_t j = 8 * v;
        const int count = h - j < 8 ? (int)(h - j) : 8;
        const __m256 yv = annc_load_count(y + j, count, annc_first_lanes(count));
        const __m256 r = _mm256_and_ps(_mm256_cmp_ps(yv, zero, _CMP_GT_OQ), acc[v]);
        annc_store_count(dy + j, r, count);
    }
}

static void head_avx2(ptrdiff_t n, ptrdiff_t h, ptrdiff_t c, ptrdiff_t kc, const float *y,
                      const float *W, const float *b, const int32_t *labels, float gs, float *z,
                      float *loss, float *dz, float *dy, float *ws) {
    const annc_kernels *K = annc_kernels_get();
    /* W transposed into rows of whole vectors, as the short-K product pads it */
    const ptrdiff_t ldt = (h + 7) / 8 * 8;
    float *wt = (float *)(((uintptr_t)ws + 31) & ~(uintptr_t)31);
    K->zs.transpose(wt, ldt, W, c, h, c);
    /* and W's rows padded to two whole vectors, so the logits' loop loads them whole */
    float *wp = wt + (size_t)c * (size_t)ldt;
    {
        const int lo = c < 8 ? (int)c : 8, hi = (int)c - lo;
        const __m256i mlo = annc_first_lanes(lo), mhi = annc_first_lanes(hi);
        for (ptrdiff_t k = 0; k < h; k++) {
            _mm256_store_ps(wp + 16 * k, _mm256_maskload_ps(W + k * c, mlo));
            _mm256_store_ps(wp + 16 * k + 8, hi > 0 ? _mm256_maskload_ps(W + k * c + 8, mhi)
                                                    : _mm256_setzero_ps());
        }
    }
    for (ptrdiff_t r0 = 0; r0 < n; r0 += 4) {
        const int g = n - r0 < 4 ? (int)(n - r0) : 4;
        logits4(g, h, c, kc, y + r0 * h, wp, b, z + r0 * c);
        annc_sparse_logits_rows(z + r0 * c, labels + r0, dz + r0 * c, g, c, gs, loss + r0);
        for (int i = 0; i < g; i++) {
            const ptrdiff_t r = r0 + i;
            input_gradient_row(h, c, dz + r * c, wt, ldt, y + r * h, dy + r * h);
        }
    }
}

void annc_head_avx2(annc_kernels *t) { t->head = head_avx2; }
