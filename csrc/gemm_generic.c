/* The portable GEMM micro-kernel: plain C that any compiler vectorises for the baseline ISA
 * (SSE2 on x86-64). It always ships and is always tested (ANNC_ISA=generic forces it). */
#include "annc.h"
#include "internal.h"

#define GMR 4
#define GNR 8

static void ukr_generic(ptrdiff_t k, const float *restrict ap, const float *restrict bp,
                        float *restrict c, ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
    float acc[GMR][GNR] = {{0}};
    for (ptrdiff_t p = 0; p < k; p++) {
        const float *a = ap + p * GMR, *b = bp + p * GNR;
        for (int i = 0; i < GMR; i++)
            for (int j = 0; j < GNR; j++) acc[i][j] += a[i] * b[j];
    }
    for (int i = 0; i < mr; i++) {
        float *row = c + i * ldc;
        if (beta == 0.0f)
            for (int j = 0; j < nr; j++) row[j] = alpha * acc[i][j];
        else
            for (int j = 0; j < nr; j++) row[j] = alpha * acc[i][j] + beta * row[j];
    }
}

void annc_kernels_generic(annc_kernels *t) {
    t->isa = ANNC_ISA_GENERIC;
    t->gemm_ukr = ukr_generic;
    t->MR = GMR;
    t->NR = GNR;
    t->KC = 256;
    t->MC = 128;
    t->NC = 2048;
}
