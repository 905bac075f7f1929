/* Products with very few rows (one record through a Dense layer): C = act(A·B + bias) with B
 * read in place, row by row. For m <= 4 packing B (the whole weight matrix) costs more than the
 * product itself, so this path streams B once and keeps the output rows in registers. */
#include <string.h>

#include "annc.h"
#include "internal.h"

#ifdef ANNC_HAVE_AVX2_KERNELS
void annc_rowgemm_avx2(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t lda,
                       const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc, const float *bias);
#endif

static void rowgemm_generic(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t lda,
                            const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                            const float *bias) {
    for (ptrdiff_t i = 0; i < m; i++) {
        float *restrict ci = c + i * ldc;
        if (bias)
            memcpy(ci, bias, sizeof(float) * (size_t)n);
        else
            memset(ci, 0, sizeof(float) * (size_t)n);
        for (ptrdiff_t p = 0; p < k; p++) {
            const float aip = a[i * lda + p];
            const float *restrict bp = b + p * ldb;
            for (ptrdiff_t j = 0; j < n; j++) ci[j] += aip * bp[j];
        }
    }
}

int annc_rowgemm(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t lda,
                 const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc, const float *bias,
                 int act, float act_param) {
    if (m < 0 || m > ANNC_ROWGEMM_MAX_ROWS || n < 0 || k < 0 || lda < k || ldb < n || ldc < n)
        return ANNC_ERR_ARG;
    if (act < 0 || act >= ANNC_ACT_COUNT || act == ANNC_ACT_SOFTMAX) return ANNC_ERR_ARG;
#ifdef ANNC_HAVE_AVX2_KERNELS
    if (annc_isa() == ANNC_ISA_AVX2)
        annc_rowgemm_avx2(m, n, k, a, lda, b, ldb, c, ldc, bias);
    else
#endif
        rowgemm_generic(m, n, k, a, lda, b, ldb, c, ldc, bias);
    if (act != ANNC_ACT_LINEAR)
        for (ptrdiff_t i = 0; i < m; i++) annc_act_forward(act, act_param, c + i * ldc, c + i * ldc, n);
    return ANNC_OK;
}
