/* The portable GEMM micro-kernel and packing: plain C that any compiler vectorises for the
 * baseline ISA (SSE2 on x86-64). It always ships and is always tested (ANNC_ISA=generic
 * forces it). */
#include "annc.h"
#include "internal.h"

#define GMR 4
#define GNR 8

static void tile_generic(ptrdiff_t k, const float *restrict ap, const float *restrict bp,
                         ptrdiff_t lda_p, float *restrict c, ptrdiff_t rsc, ptrdiff_t csc, const float *ab, int mr,
                        int nr) {
    float acc[GMR][GNR] = {{0}};
    for (ptrdiff_t p = 0; p < k; p++) {
        const float *a = ap + p * lda_p, *b = bp + p * GNR;
        for (int i = 0; i < GMR; i++)
            for (int j = 0; j < GNR; j++) acc[i][j] += a[i] * b[j];
    }
    const float alpha = ab[0], beta = ab[1];
    for (int i = 0; i < mr; i++) {
        float *row = c + i * rsc;
        if (beta == 0.0f)
            for (int j = 0; j < nr; j++) row[j * csc] = alpha * acc[i][j];
        else
            for (int j = 0; j < nr; j++) row[j * csc] = alpha * acc[i][j] + beta * row[j * csc];
    }
}

static void ukr_generic(ptrdiff_t k, const float *ap, ptrdiff_t ap_next, ptrdiff_t lda_p,
                        const float *bp, float *c, ptrdiff_t c_next, ptrdiff_t rsc, ptrdiff_t csc,
                        const float *ab, ptrdiff_t mc, int nr, const annc_pf_hint *pf) {
    (void)pf; /* the portable kernel leaves memory to the hardware */
    for (ptrdiff_t i = 0; i < mc; i += GMR, ap += ap_next, c += c_next)
        tile_generic(k, ap, bp, lda_p, c, rsc, csc, ab, (int)ANNC_MIN((ptrdiff_t)GMR, mc - i), nr);
}

static void pack_a_generic(float *restrict ap, const float *a, ptrdiff_t rs, ptrdiff_t cs,
                           ptrdiff_t mc, ptrdiff_t kc) {
    for (ptrdiff_t ir = 0; ir < mc; ir += GMR) {
        const int mr = (int)ANNC_MIN((ptrdiff_t)GMR, mc - ir);
        const float *src = a + ir * rs;
        for (ptrdiff_t p = 0; p < kc; p++) {
            for (int i = 0; i < mr; i++) ap[p * GMR + i] = src[i * rs + p * cs];
            for (int i = mr; i < GMR; i++) ap[p * GMR + i] = 0.0f;
        }
        ap += (ptrdiff_t)GMR * kc;
    }
}

static void pack_b_generic(float *restrict bp, const float *b, ptrdiff_t rs, ptrdiff_t cs,
                           ptrdiff_t kc, ptrdiff_t nc) {
    for (ptrdiff_t jr = 0; jr < nc; jr += GNR) {
        const int nr = (int)ANNC_MIN((ptrdiff_t)GNR, nc - jr);
        const float *src = b + jr * cs;
        for (ptrdiff_t p = 0; p < kc; p++) {
            for (int j = 0; j < nr; j++) bp[p * GNR + j] = src[p * rs + j * cs];
            for (int j = nr; j < GNR; j++) bp[p * GNR + j] = 0.0f;
        }
        bp += (ptrdiff_t)GNR * kc;
    }
}

void annc_kernels_generic(annc_kernels *t) {
    t->isa = ANNC_ISA_GENERIC;
    t->gemm_ukr = ukr_generic;
    t->pack_a = pack_a_generic;
    t->pack_b = pack_b_generic;
    t->MR = GMR;
    t->NR = GNR;
    t->KC = 256;
    t->MC = 128;
    t->NC = 2048;
    t->finite = annc_finite_generic;
}
