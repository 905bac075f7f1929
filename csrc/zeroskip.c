/* The zero-skipping product: C = op(A) . B when op(A) is mostly zeros.
 *
 * Fashion-MNIST's pixels are half zeros (MNIST's four fifths), and so are a ReLU layer's
 * outputs. A dense kernel multiplies them all; here each row of C is the sum of B's rows
 * weighted by the nonzero entries of op(A)'s row, found through bit masks (one pass over A),
 * with the row in registers (zeroskip_avx2.c). Per nonzero that is one broadcast and one FMA
 * per vector of C's row, with B's row as the memory operand: about the dense kernel's speed
 * per multiply, on half of them or fewer.
 *
 * Exactness. The dense kernel computes each element as acc = 0; acc = fma(a_p, b_p, acc) over
 * p in order within a K block; then c = acc, or c = fma(1, c, acc) for beta 1 and the later K
 * blocks. fma(0, b, acc) returns acc unchanged for every finite b (acc starts at +0, and
 * +0 + -0 is +0), so skipping the zero terms in the same order gives the same bits, and this
 * driver cuts K exactly where the dense driver does. A B holding inf or NaN would have made
 * 0 * b NaN: such a B goes to the dense kernel. So the choice between the two is only about
 * speed and never shows in a result (tested bit for bit, and training runs alike either way).
 *
 * Order of work, for cache: C's rows in groups of ZS_GROUP; within a group and a K block that
 * starts C (beta 0), the block's first 64 (row form) or 32 (column form) K steps for every
 * row, then the next ones onto the stored partial sums (ANNC_ZS_CONTINUE is a continuation of
 * the same accumulation, not a new sum), so the 64 rows of B in use stay in L1.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "annc.h"
#include "internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* C's rows per group: the group's masks live on the stack, and its rows of C stay in L2. */
#define ZS_GROUP 128
/* Largest K block this driver takes (the dense driver's blocks are at most 800). */
#define ZS_KC_MAX 1024
#define ZS_MIN_N ANNC_ZS_MIN_N
/* op(A) denser than this goes to the dense kernel. */
#define ZS_MAX_DENSITY 0.75

static int g_zs_enabled = -1; /* -1: not yet read from ANNC_ZERO_SKIP (default on) */
static annc_counter g_zs_taken; /* products this path took: tests check that it ran */
static annc_counter g_short_k_taken; /* annc_short_k_product's, likewise */
static annc_counter g_zs_given_taken; /* annc_zs_product_given's, likewise */

void annc_set_zero_skip(int on) { g_zs_enabled = on != 0; }

/* The binding makes the first call at import, on one thread. */
int annc_zero_skip(void) {
    if (g_zs_enabled < 0) {
        const char *v = getenv("ANNC_ZERO_SKIP");
        g_zs_enabled = !(v && (strcmp(v, "0") == 0 || strcmp(v, "off") == 0));
    }
    return g_zs_enabled;
}
long long annc_zero_skip_taken(void) { return annc_count_read(&g_zs_taken); }
long long annc_short_k_taken(void) { return annc_count_read(&g_short_k_taken); }
long long annc_zs_given_taken(void) { return annc_count_read(&g_zs_given_taken); }

typedef struct {
    const annc_kernels *K;
    int transa;
    ptrdiff_t n, k, kc;
    const float *a, *b;
    ptrdiff_t lda, ldb;
    float *c;
    ptrdiff_t ldc;
    int beta_one;
    int b_finite; /* the caller knows B finite */
    int b_past;   /* a whole vector past B's last row's n floats may be read */
} zs_problem;

static zs_problem problem(const annc_kernels *K, int transa, ptrdiff_t n, ptrdiff_t k,
                          ptrdiff_t kc, const float *a, ptrdiff_t lda, const float *b,
                          ptrdiff_t ldb, float *c, ptrdiff_t ldc, int beta_one, int b_flags) {
    zs_problem z = {K, transa, n, k, kc, a, b, lda, ldb, c, ldc, beta_one,
                    (b_flags & ANNC_ZS_B_FINITE) != 0, (b_flags & ANNC_ZS_B_PAST) != 0};
    return z;
}

/* Whether op(A)'s rows with nnz nonzeros among m x k go to the dense kernel instead. */
static int too_dense(ptrdiff_t nnz, ptrdiff_t m, ptrdiff_t k) {
    return (double)nnz > ZS_MAX_DENSITY * (double)m * (double)k;
}

/* K steps per mask word */
static ptrdiff_t word_bits(const zs_problem *z) { return z->transa ? 32 : 64; }

/* Masks of C's rows [r0, r0 + m) over K steps [p0, p0 + kb); returns the nonzeros. */
static ptrdiff_t group_masks(const zs_problem *z, void *mask, ptrdiff_t r0, ptrdiff_t m,
                             ptrdiff_t p0, ptrdiff_t kb) {
    const ptrdiff_t words = (kb + word_bits(z) - 1) / word_bits(z);
    if (z->transa)
        return z->K->zs.mask_cols((uint32_t *)mask, words, z->a + p0 * z->lda + r0, z->lda, m, kb);
    return z->K->zs.mask_rows((uint64_t *)mask, words, z->a + r0 * z->lda + p0, z->lda, m, kb);
}

/* C's rows [r0, r0 + m) over the K block [p0, p0 + kb), its masks made; the next group's
 * next_rows rows of A (row form) are asked from memory meanwhile, word by word. */
static void group_block(const zs_problem *z, const void *mask, ptrdiff_t r0, ptrdiff_t m,
                        ptrdiff_t p0, ptrdiff_t kb, int starts_c, ptrdiff_t next_rows) {
    const ptrdiff_t words = (kb + word_bits(z) - 1) / word_bits(z);
    const float *b = z->b + p0 * z->ldb;
    float *c = z->c + r0 * z->ldc;
    /* the kernels read B's last row with masked loads (and a branch on the data per row of
     * C) only when nothing may be read past it: not when a K block follows, nor when the
     * caller or the padded copy vouches for the floats after it */
    const ptrdiff_t kb_read = kb + (p0 + kb < z->k || z->b_past ? 1 : 0);
    const float *pf = next_rows > 0 && starts_c ? z->a + (r0 + m) * z->lda + p0 : NULL;
    /* a block that starts C goes word by word (B's rows of one word stay in L1) when it is
     * long; one that adds onto C keeps its sum apart from C's value until the end, so it runs
     * whole, as do short blocks (training's K blocks of ~80: two words, the second of 16 bits,
     * whose pass would reload and store every row for a few terms; 2-8% per product) */
    const ptrdiff_t step = starts_c && kb > 2 * word_bits(z) ? 1 : words;
    for (ptrdiff_t w = 0; w < words; w += step) {
        const int mode = !starts_c ? ANNC_ZS_ADD : w == 0 ? ANNC_ZS_STORE : ANNC_ZS_CONTINUE;
        if (z->transa)
            z->K->zs.cols(m, z->n, (const uint32_t *)mask, words, w, w + step,
                       z->a + p0 * z->lda + r0, z->lda, b, z->ldb, kb_read, c, z->ldc, mode);
        else
            z->K->zs.rows(m, z->n, (const uint64_t *)mask, words, w, w + step,
                       z->a + r0 * z->lda + p0, z->lda, b, z->ldb, kb_read, c, z->ldc, mode, pf,
                       pf ? next_rows : 0);
    }
}

/* B rows padded to whole vectors (ldb = n rounded up to 8, 32-byte aligned): a 100-float row
 * otherwise starts 16 bytes into a line every other row, and its loads that cross lines cost
 * 13% of a 10k-row prediction. */
static ptrdiff_t padded_ld(ptrdiff_t n) { return (n + 7) / 8 * 8; }

/* Whether B is finite, with B then read from the caller's cache as padded rows when there is
 * one: copied there on the first product (its tag says the copy is of a finite B; the caller
 * clears the tag when B may change, and the dense driver's own tags never match it). */
static int finite_b(zs_problem *z, annc_pack_cache *c) {
    const ptrdiff_t ldp = padded_ld(z->n);
    const int usable = c && c->buf && (size_t)(z->k * ldp) <= c->floats &&
                       ((uintptr_t)c->buf & 31u) == 0;
    if (usable && c->src == z->b && c->rs == z->ldb && c->cs == -1 && c->rows == z->k &&
        c->kc == z->n) {
        z->b = c->buf;
        z->ldb = ldp;
        z->b_past = 1; /* every row padded to whole vectors */
        return 1;
    }
    /* B's extent in one run (a strided B's gaps included: one call, not one per row); only
     * when that finds inf or NaN and B is strided, row by row, since it may lie in a gap */
    if (!z->b_finite && !z->K->finite(z->b, (z->k - 1) * z->ldb + z->n)) {
        if (z->ldb == z->n) return 0;
        for (ptrdiff_t p = 0; p < z->k; p++)
            if (!z->K->finite(z->b + p * z->ldb, z->n)) return 0;
    }
    if (!usable) return 1;
    for (ptrdiff_t p = 0; p < z->k; p++) {
        memcpy(c->buf + p * ldp, z->b + p * z->ldb, sizeof(float) * (size_t)z->n);
        memset(c->buf + p * ldp + z->n, 0, sizeof(float) * (size_t)(ldp - z->n));
    }
    c->src = z->b;
    c->rs = z->ldb;
    c->cs = -1; /* this file's layout */
    c->rows = z->k;
    c->kc = z->n;
    c->MR = 0;
    z->b = c->buf;
    z->ldb = ldp;
    z->b_past = 1;
    return 1;
}

/* C's rows [r0, r0 + m), every K block; `mask` holds the first block's masks already when
 * `have` (the deciding group). The next group's first next_rows rows of A are asked from
 * memory during the last K block (0: none, as on several threads, where another thread may
 * take that group). */
static void run_group(const zs_problem *z, uint64_t *mask, int have, ptrdiff_t r0, ptrdiff_t m,
                      ptrdiff_t next_rows, void (*done)(void *, ptrdiff_t, ptrdiff_t),
                      void *ctx) {
    for (ptrdiff_t p0 = 0; p0 < z->k; p0 += z->kc) {
        const ptrdiff_t kb = ANNC_MIN(z->kc, z->k - p0);
        if (!have || p0 > 0) group_masks(z, mask, r0, m, p0, kb);
        group_block(z, mask, r0, m, p0, kb, p0 == 0 && !z->beta_one,
                    p0 + kb == z->k ? next_rows : 0);
    }
    if (done) done(ctx, r0, r0 + m);
}

int annc_zs_product(int transa, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a,
                    ptrdiff_t lda, const float *b, ptrdiff_t ldb, int beta_one, float *c,
                    ptrdiff_t ldc, ptrdiff_t kc, int nthreads, annc_pack_cache *cache,
                    int b_flags, void (*done)(void *, ptrdiff_t, ptrdiff_t), void *ctx) {
    const annc_kernels *K = annc_kernels_get();
    if (!annc_zero_skip() || !K->zs.rows || n < ZS_MIN_N || m < 1 || k < 1 || kc < 1) return 0;
    kc = ANNC_MIN(kc, k);
    if (kc > ZS_KC_MAX) return 0;
    zs_problem z = problem(K, transa, n, k, kc, a, lda, b, ldb, c, ldc, beta_one, b_flags);
    /* on several threads, groups small enough that each thread gets one (rows are
     * independent: the grouping never shows in C) */
    const int nt = nthreads > 1 ? nthreads : 1;
    const ptrdiff_t group =
        nt > 1 ? ANNC_MIN((ptrdiff_t)ZS_GROUP, ((m + nt - 1) / nt + 7) / 8 * 8) : ZS_GROUP;
    /* room for a group's masks of one K block: 64-bit words (row form) or 32-bit ones */
    uint64_t mask[ZS_GROUP * (ZS_KC_MAX / 64)];

    /* the first group's first block decides; its masks are then used as they are */
    const ptrdiff_t m0 = ANNC_MIN(group, m);
    const ptrdiff_t nnz = group_masks(&z, mask, 0, m0, 0, kc);
    if (too_dense(nnz, m0, kc)) return 0;
    if (!finite_b(&z, nt == 1 ? cache : NULL)) return 0;
    annc_count_add(&g_zs_taken);

    const ptrdiff_t groups = (m + group - 1) / group;
#ifdef _OPENMP
    if (nt > 1 && groups > 1) {
#pragma omp parallel num_threads(nt)
        {
            uint64_t own[ZS_GROUP * (ZS_KC_MAX / 64)];
#pragma omp for schedule(dynamic, 1)
            for (ptrdiff_t q = 0; q < groups; q++)
                run_group(&z, own, 0, q * group, ANNC_MIN(group, m - q * group), 0, done, ctx);
        }
        return 1;
    }
#endif
    /* one thread: no OpenMP region (a forked child never touches the thread pool) */
    for (ptrdiff_t q = 0; q < groups; q++) {
        const ptrdiff_t r0 = q * group, next = ANNC_MAX((ptrdiff_t)0, ANNC_MIN(group, m - r0 - group));
        run_group(&z, mask, q == 0, r0, ANNC_MIN(group, m - r0), next, done, ctx);
    }
    return 1;
}

int annc_zs_product_given(int transa, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a,
                          ptrdiff_t lda, const float *b, ptrdiff_t ldb, int beta_one, float *c,
                          ptrdiff_t ldc, ptrdiff_t kc, annc_pack_cache *cache, int b_flags,
                          const void *mask, ptrdiff_t nnz) {
    const annc_kernels *K = annc_kernels_get();
    if (!annc_zero_skip() || !K->zs.rows || !mask || n < ZS_MIN_N || m < 1 || m > ZS_GROUP ||
        k < 1 || k > ANNC_MIN(kc, (ptrdiff_t)ZS_KC_MAX))
        return 0;
    if (too_dense(nnz, m, k)) return 0;
    zs_problem z = problem(K, transa, n, k, k, a, lda, b, ldb, c, ldc, beta_one, b_flags);
    if (!finite_b(&z, cache)) return 0;
    annc_count_add(&g_zs_taken);
    annc_count_add(&g_zs_given_taken);
    group_block(&z, mask, 0, m, 0, k, !beta_one, 0);
    return 1;
}

/* ---------------------------------------------------------------- short K, B transposed */

/* Largest K of annc_short_k_product: one mask word per row. */
#define SHORT_K_MAX 64

size_t annc_short_k_ws_floats(ptrdiff_t n, ptrdiff_t k) {
    return (size_t)ANNC_MAX(k, (ptrdiff_t)1) * (size_t)padded_ld(ANNC_MAX(n, (ptrdiff_t)1)) + 8;
}

int annc_short_k_product(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t lda,
                         const float *b, ptrdiff_t ldb, int beta_one, float *c, ptrdiff_t ldc,
                         float *ws, size_t ws_floats) {
    const annc_kernels *K = annc_kernels_get();
    if (!annc_zero_skip() || !K->zs.rows || m < 1 || n < 1 || k < 1 || k > SHORT_K_MAX || !ws ||
        ws_floats < annc_short_k_ws_floats(n, k))
        return 0;
    annc_count_add(&g_short_k_taken);
    /* B^T, k rows of n floats, each padded with zeros to whole vectors on a 32-byte boundary
     * (so the kernel may read a whole vector past n on every row of it: kb = k + 1 below) */
    float *bt = (float *)(((uintptr_t)ws + 31) & ~(uintptr_t)31);
    const ptrdiff_t ldt = padded_ld(n);
    K->zs.transpose(bt, ldt, b, ldb, n, k);
    uint64_t mask[ZS_GROUP];
    const uint64_t every = k == 64 ? ~(uint64_t)0 : ((uint64_t)1 << k) - 1;
    const ptrdiff_t group = ANNC_MIN((ptrdiff_t)ZS_GROUP, m);
    for (ptrdiff_t i = 0; i < group; i++) mask[i] = every;
    const int mode = beta_one ? ANNC_ZS_ADD : ANNC_ZS_STORE;
    for (ptrdiff_t r0 = 0; r0 < m; r0 += ZS_GROUP)
        K->zs.rows(ANNC_MIN((ptrdiff_t)ZS_GROUP, m - r0), n, mask, 1, 0, 1, a + r0 * lda, lda, bt,
                   ldt, k + 1, c + r0 * ldc, ldc, mode, NULL, 0);
    return 1;
}
