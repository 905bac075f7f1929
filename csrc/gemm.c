/* Single-precision GEMM in the BLIS/GotoBLAS structure.
 *
 *   for jc in N by NC:            (B block lives in L3)
 *     for pc in K by KC:          pack B[pc:pc+KC, jc:jc+NC] into NR-wide panels
 *       for ic in M by MC:        pack A[ic:ic+MC, pc:pc+KC] into MR-tall panels (L2)
 *         for jr in NC by NR:     one B panel stays in L1 ...
 *           kernel: for ir in MC by MR   ... while the micro-kernel streams A panels past it
 *
 * Operands are addressed by (row stride, column stride), so transposition is a stride swap and
 * never a copy. The driver may also compute C^T = op(B)^T op(A)^T when that fits the register
 * tile better (the training shapes have one side of 32 or 100 rows): same arithmetic per
 * element of C, so the result does not depend on the choice. An A operand whose panel columns
 * are already contiguous (stored transposed) is read in place when few B panels reuse it, which
 * is most of the training shapes in one orientation or the other.
 *
 * The packing routines and the micro-kernel come from the dispatch table (gemm_avx2.c,
 * gemm_generic.c); the ir loop lives in the kernel so that a short K costs no call per tile.
 * A product whose op(A) is mostly zeros (alpha 1, beta 0 or 1, op(B) stored by rows) goes to
 * zeroskip.c first, which gives the same bits with its zeros skipped, or declines.
 *
 * Threads: the output C is cut into a grid of rectangles, one per thread; every thread runs
 * the whole serial algorithm on its rectangle with its own packing buffers. The K loop is never
 * split and its blocking depends on the shape alone, so every element of C sees the same
 * sequence of FMAs whatever the thread count. One thread never enters an OpenMP region.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "annc.h"
#include "internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* A strided view of a matrix: element (i, j) is at p[i * rs + j * cs]. */
typedef struct {
    const float *p;
    ptrdiff_t rs, cs;
} mview;

typedef struct {
    ptrdiff_t m, n, k;
    ptrdiff_t kc;          /* K block (k_block) */
    mview a, b;            /* op(A) m x k, op(B) k x n */
    float *c;
    ptrdiff_t rsc, csc;    /* C (or C^T when swapped) */
    float alpha, beta;
    /* epilogue, always in the coordinates of the caller's C (row-major, ldc) */
    float *c_user;
    ptrdiff_t ldc_user;
    int swapped;
    int a_direct;          /* the kernel reads op(A)'s full panels in place (a.rs == 1) */
    annc_pack_cache *cache; /* op(A)'s packing kept by the caller (see annc_pack_cache) */
    annc_gemm_ukernel ukr; /* the kernel the plan chose, with its A packing and rows */
    annc_pack_fn pack_a;
    int MR;
    const float *bias;
    int act;
    float act_param;
} gemm_problem;

static ptrdiff_t round_up(ptrdiff_t x, ptrdiff_t to) { return (x + to - 1) / to * to; }
static ptrdiff_t ceil_div(ptrdiff_t x, ptrdiff_t y) { return (x + y - 1) / y; }

/* ---------------------------------------------------------------- epilogue */

/* bias + activation over the caller's C[r0:r0+nr, c0:c0+nc] while the tile is still in L1. */
static void epilogue(const gemm_problem *g, ptrdiff_t r0, ptrdiff_t nrows, ptrdiff_t c0,
                     ptrdiff_t ncols) {
    for (ptrdiff_t r = r0; r < r0 + nrows; r++) {
        float *row = g->c_user + r * g->ldc_user + c0;
        if (g->bias) {
            const float *bias = g->bias + c0;
            for (ptrdiff_t j = 0; j < ncols; j++) row[j] += bias[j];
        }
        if (g->act == ANNC_ACT_RELU) {
            for (ptrdiff_t j = 0; j < ncols; j++) row[j] = row[j] < 0.0f ? 0.0f : row[j]; /* NaN passes, as in relu */
        } else if (g->act != ANNC_ACT_LINEAR) {
            annc_act_forward(g->act, g->act_param, row, row, ncols);
        }
    }
}

static int has_epilogue(const gemm_problem *g) {
    return g->bias != NULL || g->act != ANNC_ACT_LINEAR;
}

/* ---------------------------------------------------------------- serial blocked algorithm */

typedef struct {
    ptrdiff_t m0, m1, n0, n1;
} rect;

/* The K blocking sets the rounding (every element of C is alpha * (sum over one block) + C,
 * block after block), so it may depend on the shape but never on the thread count or the
 * orientation: a function of k and of the smaller of m, n only. Equal blocks rather than
 * KC, KC, ..., remainder: no short last pass.
 * Skinny products (one side <= 128, the training shapes) take K blocks up to KC_SKINNY: their
 * A side is small, and one pass over K (784 = MNIST's width) saves the read-modify-write of C
 * between blocks, which for C^T tiles goes through a transpose; measured 10-15% on
 * (256,784,100) both ways, no change at (32,784,100). */
#define ANNC_KC_SKINNY 800

static ptrdiff_t k_block(const annc_kernels *K, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k) {
    const ptrdiff_t kmax = ANNC_MIN(m, n) <= 128 ? ANNC_MAX((ptrdiff_t)K->KC, ANNC_KC_SKINNY)
                                                 : (ptrdiff_t)K->KC;
    k = ANNC_MAX(k, 1);
    const ptrdiff_t nb = ceil_div(k, kmax);
    return ANNC_MIN(ANNC_MIN(round_up(ceil_div(k, nb), 8), kmax), k);
}

/* Workspace each thread needs for a rectangle of at most mt x nt. */
static size_t thread_ws_floats(const annc_kernels *K, int MR, ptrdiff_t mt, ptrdiff_t nt,
                               ptrdiff_t kc) {
    const ptrdiff_t mc = ANNC_MIN((ptrdiff_t)K->MC, round_up(ANNC_MAX(mt, 1), MR));
    const ptrdiff_t nc = ANNC_MIN((ptrdiff_t)K->NC, round_up(ANNC_MAX(nt, 1), K->NR));
    return (size_t)round_up(mc * kc, 16) + (size_t)round_up(kc * nc, 16);
}

/* Hints for the source of a B panel stored by rows (B.cs == 1): rows [p0, p0 + kc), the line
 * at column j0 of each. (Stored transposed, the kernel asks for it: annc_pf_hint.) */
static void prefetch_panel(mview B, ptrdiff_t p0, ptrdiff_t kc, ptrdiff_t j0) {
#if defined(__GNUC__) || defined(__clang__)
    if (B.cs == 1)
        for (ptrdiff_t p = p0; p < p0 + kc; p++) __builtin_prefetch(B.p + p * B.rs + j0, 0, 2);
#else
    (void)B; (void)p0; (void)kc; (void)j0;
#endif
}

/* The packed panels of op(A)'s rows [0, rows) x K [0, kc) from the caller's cache, packed into
 * it first when it holds something else (the driver uses a cache only for a whole op(A) in
 * one block). */
static const float *cached_panels(const gemm_problem *g, mview A, ptrdiff_t rows, ptrdiff_t kc) {
    annc_pack_cache *c = g->cache;
    if (c->src != A.p || c->rs != A.rs || c->cs != A.cs || c->rows != rows || c->kc != kc ||
        c->MR != g->MR) {
        g->pack_a(c->buf, A.p, A.rs, A.cs, rows, kc);
        c->src = A.p;
        c->rs = A.rs;
        c->cs = A.cs;
        c->rows = rows;
        c->kc = kc;
        c->MR = g->MR;
    }
    return c->buf;
}

static void gemm_rect(const annc_kernels *K, const gemm_problem *g, rect r, float *ws) {
    const int MR = g->MR, NR = K->NR;
    const ptrdiff_t MC = K->MC, NC = K->NC;
    const ptrdiff_t KC = g->kc;
    const ptrdiff_t mt = r.m1 - r.m0;
    float *ap = ws;
    float *bp = ws + round_up(ANNC_MIN(MC, round_up(mt, MR)) * KC, 16);
    const int epi = has_epilogue(g);
    const annc_gemm_ukernel ukr = g->ukr;
    const mview A = g->a, B = g->b;
    const ptrdiff_t rsc = g->rsc, csc = g->csc;
    /* With one block of A rows, each B panel is used once right after it is packed: pack it
     * then, and ask memory for the next panel's source meanwhile. When B is larger than L2 it
     * streams from DRAM (inference over a large batch: B is the input rows), and its latency
     * then overlaps with the kernel instead of stalling a packing pass over the whole block;
     * a B that fits in cache is packed in one pass as before. */
    const int lazy = mt <= MC &&
                     (double)ANNC_MIN(g->k, KC) * (double)(r.n1 - r.n0) * sizeof(float) > 512e3;

    for (ptrdiff_t jc = r.n0; jc < r.n1; jc += NC) {
        const ptrdiff_t nc = ANNC_MIN(NC, r.n1 - jc);
        for (ptrdiff_t pc = 0; pc < g->k; pc += KC) {
            const ptrdiff_t kc = ANNC_MIN(KC, g->k - pc);
            const float ab[2] = {g->alpha, pc == 0 ? g->beta : 1.0f};
            const int last = pc + kc == g->k;
            if (!lazy) K->pack_b(bp, B.p + pc * B.rs + jc * B.cs, B.rs, B.cs, kc, nc);
            for (ptrdiff_t ic = r.m0; ic < r.m1; ic += MC) {
                const ptrdiff_t mc = ANNC_MIN(MC, r.m1 - ic);
                /* a direct A is read in place except for a partial last panel, which the
                 * kernel could not read past the matrix's edge */
                const ptrdiff_t mfull = g->a_direct ? mc / MR * MR : 0;
                const float *apanels = ap + mfull * kc;
                if (g->cache)
                    apanels = cached_panels(g, A, mc, kc);
                else if (mfull < mc)
                    g->pack_a(ap + mfull * kc, A.p + (ic + mfull) * A.rs + pc * A.cs, A.rs, A.cs,
                              mc - mfull, kc);
                for (ptrdiff_t jr = 0; jr < nc; jr += NR) {
                    const int nr = (int)ANNC_MIN((ptrdiff_t)NR, nc - jr);
                    const float *bpanel = bp + jr * kc;
                    const ptrdiff_t j = jc + jr;
                    /* the next panel's source rows, one per tile of this column (see
                     * annc_pf_hint), when B is stored transposed; else asked at once */
                    annc_pf_hint hint[2] = {{NULL, 0, 0}, {NULL, 0, 0}};
                    if (lazy) {
                        K->pack_b(bp + jr * kc, B.p + pc * B.rs + j * B.cs, B.rs, B.cs, kc, nr);
                        const ptrdiff_t next = ANNC_MIN((ptrdiff_t)NR, nc - jr - NR);
                        if (next > 0 && B.rs == 1) {
                            const ptrdiff_t direct_tiles = mfull / MR;
                            hint[0].p = B.p + pc + (j + NR) * B.cs;
                            hint[0].ld = hint[1].ld = B.cs;
                            hint[0].rows = ANNC_MIN(next, direct_tiles);
                            hint[1].p = hint[0].p + direct_tiles * B.cs;
                            hint[1].rows = next - hint[0].rows;
                        } else if (next > 0) {
                            prefetch_panel(B, pc, kc, j + NR);
                        }
                    }
                    float *ct = g->c + ic * rsc + j * csc;
                    if (mfull > 0)
                        ukr(kc, A.p + ic + pc * A.cs, MR, A.cs, bpanel, ct, MR * rsc, rsc, csc, ab,
                            mfull, nr, hint[0].rows > 0 ? &hint[0] : NULL);
                    if (mfull < mc)
                        ukr(kc, apanels, MR * kc, MR, bpanel, ct + mfull * rsc, MR * rsc, rsc, csc,
                            ab, mc - mfull, nr, hint[1].rows > 0 ? &hint[1] : NULL);
                    /* bias and activation while this column of tiles is still in L1 */
                    if (last && epi) {
                        if (g->swapped)
                            epilogue(g, j, nr, ic, mc);
                        else
                            epilogue(g, ic, mc, j, nr);
                    }
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- planning */

typedef struct {
    int swapped;
    int alt;    /* the second (fewer-rows) kernel */
    int tm, tn; /* thread grid */
    double cost;
} plan;

/* Cycle estimate for one thread's share: padded FMAs at 16 per cycle, packing traffic and a
 * fixed cost per tile. Rough (in-place A and C^T stores are not modelled), but it picks the
 * orientation that measured fastest for every training shape and for the square ones. */
static double plan_cost(const annc_kernels *K, int MR, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                        int tm, int tn) {
    const ptrdiff_t pm = ceil_div(m, MR), pn = ceil_div(n, K->NR);
    if (pm < tm || pn < tn) return 1e300;
    const ptrdiff_t mt = ceil_div(pm, tm) * MR, nt = ceil_div(pn, tn) * K->NR;
    const double fma = (double)mt * (double)nt * (double)k;
    const double packed = (double)ANNC_MIN(mt, m) * (double)k * ceil_div(nt, K->NC) +
                          (double)k * (double)ANNC_MIN(nt, n);
    const double tiles = (double)ceil_div(mt, MR) * (double)ceil_div(nt, K->NR);
    return fma / 16.0 + packed * 1.0 + tiles * 20.0;
}

static plan make_plan(const annc_kernels *K, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int nt) {
    plan best = {0, 0, 1, 1, 1e301};
    for (int alt = 0; alt < (K->MR_alt ? 2 : 1); alt++) {
        /* the smaller tile has fewer FMAs per load: taken only where it saves padding (a
         * side of 10: 10 rows instead of 12), not for a percent or two */
        const int MR = alt ? K->MR_alt : K->MR;
        const double handicap = alt ? 1.05 : 1.0;
        for (int swapped = 0; swapped < 2; swapped++) {
            const ptrdiff_t mm = swapped ? n : m, nn = swapped ? m : n;
            for (int tm = 1; tm <= nt; tm++) {
                if (nt % tm) continue;
                const int tn = nt / tm;
                const double c = plan_cost(K, MR, mm, nn, k, tm, tn) * handicap;
                if (c < best.cost) {
                    best.swapped = swapped;
                    best.alt = alt;
                    best.tm = tm;
                    best.tn = tn;
                    best.cost = c;
                }
            }
        }
    }
    return best;
}

/* Below this many FMAs per thread a second thread costs more than it saves. Measured on a
 * 2-core Zen3 (GOMP_SPINCOUNT bounded, see annc/__init__.py): at 256K FMAs (the 10-wide
 * training products at batch 256) two threads gained ~2 us of ~14 us on a quiet machine but
 * lost milliseconds whenever another process held a core; from ~1M FMAs (64x256x64: 35 -> 25
 * us; 32x784x100: 65 -> 45 us) the gain is real. */
#define ANNC_GEMM_FMA_PER_THREAD (256.0 * 1024.0)

int annc_sgemm_threads_for(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int nthreads) {
#ifndef _OPENMP
    (void)m; (void)n; (void)k; (void)nthreads;
    return 1;
#else
    if (nthreads <= 1) return 1;
    const double fma = (double)m * (double)n * (double)k;
    if (fma < 2.0 * ANNC_GEMM_FMA_PER_THREAD) return 1;
    const double t = fma / ANNC_GEMM_FMA_PER_THREAD;
    return t < (double)nthreads ? (int)t : nthreads;
#endif
}

/* One thread's workspace for an m x n product with K blocks of kc: an upper bound over every
 * plan (a thread never owns more than the larger side) and either kernel. */
static size_t one_thread_ws_floats(const annc_kernels *K, ptrdiff_t m, ptrdiff_t n,
                                   ptrdiff_t kc) {
    const ptrdiff_t big = ANNC_MAX(m, n);
    size_t per = thread_ws_floats(K, K->MR, big, big, kc);
    if (K->MR_alt) per = ANNC_MAX(per, thread_ws_floats(K, K->MR_alt, big, big, kc));
    return per;
}

size_t annc_sgemm_workspace_floats(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int nthreads) {
    const annc_kernels *K = annc_kernels_get();
    const int nt = annc_sgemm_threads_for(m, n, k, nthreads);
    return (size_t)nt * one_thread_ws_floats(K, m, n, k_block(K, m, n, k)) + 16;
}

/* Split [0, panels) into `parts` ranges of whole panels; part t gets [lo, hi) in elements. */
static void split(ptrdiff_t extent, int unit, int parts, int t, ptrdiff_t *lo, ptrdiff_t *hi) {
    const ptrdiff_t panels = ceil_div(extent, unit);
    const ptrdiff_t base = panels / parts, extra = panels % parts;
    const ptrdiff_t p0 = t * base + ANNC_MIN((ptrdiff_t)t, extra);
    const ptrdiff_t p1 = p0 + base + (t < extra ? 1 : 0);
    *lo = ANNC_MIN(p0 * unit, extent);
    *hi = ANNC_MIN(p1 * unit, extent);
}

/* C = beta * C (+ epilogue) when there is nothing to multiply. */
static void scale_only(gemm_problem *g, ptrdiff_t m, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < m; i++) {
        float *row = g->c_user + i * g->ldc_user;
        if (g->beta == 0.0f)
            memset(row, 0, sizeof(float) * (size_t)n);
        else if (g->beta != 1.0f)
            for (ptrdiff_t j = 0; j < n; j++) row[j] *= g->beta;
    }
    if (has_epilogue(g)) epilogue(g, 0, m, 0, n);
}

/* The epilogue of rows [r0, r1) of C, after the zero-skipping product made them. */
typedef struct {
    const gemm_problem *g;
    ptrdiff_t n;
} zs_epilogue_ctx;

static void zs_epilogue(void *ctx, ptrdiff_t r0, ptrdiff_t r1) {
    const zs_epilogue_ctx *e = (const zs_epilogue_ctx *)ctx;
    epilogue(e->g, r0, r1 - r0, 0, e->n);
}

/* annc_short_k_product for C at least this wide: narrower rows are a vector or two per term,
 * where the row loop's fixed cost outweighs the packing it saves. */
#define SHORT_K_MIN_N 32

/* Floats of a one-thread workspace that the caller sized for this product (see
 * one_thread_ws_floats), which the short-K path may use for its copy of B^T. */
static size_t short_k_room(ptrdiff_t m, ptrdiff_t n, ptrdiff_t kc) {
    return one_thread_ws_floats(annc_kernels_get(), m, n, kc);
}

/* Whether the sizes and leading dimensions describe a product the driver can take. */
static int shape_ok(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, ptrdiff_t lda,
                    ptrdiff_t ldb, ptrdiff_t ldc) {
    return m >= 0 && n >= 0 && k >= 0 && ldc >= ANNC_MAX(n, 1) &&
           lda >= ANNC_MAX(transa ? m : k, 1) && ldb >= ANNC_MAX(transb ? k : n, 1);
}

/* The product on nt threads (the caller has clipped nt to what the shape deserves) with K
 * blocks of kc (>= 1; clipped to k): the caller's choice fixes the rounding (k_block of the
 * whole product for annc_sgemm, of the enclosing product for annc_sgemm_part, the caller's own
 * for annc_sgemm_kc). */
static int sgemm_driver(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                        const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta,
                        float *c, ptrdiff_t ldc, const float *bias, int act, float act_param,
                        ptrdiff_t kc, int nt, annc_pack_cache *cache, int b_flags,
                        float *workspace) {
    if (!shape_ok(transa, transb, m, n, k, lda, ldb, ldc)) return ANNC_ERR_ARG;
    if (act < 0 || act >= ANNC_ACT_COUNT || act == ANNC_ACT_SOFTMAX) return ANNC_ERR_ARG;
    if (m == 0 || n == 0) return ANNC_OK;

    gemm_problem g;
    memset(&g, 0, sizeof g);
    g.alpha = alpha;
    g.beta = beta;
    g.c_user = c;
    g.ldc_user = ldc;
    g.bias = bias;
    g.act = act;
    g.act_param = act_param;
    if (k == 0 || alpha == 0.0f) {
        scale_only(&g, m, n);
        return ANNC_OK;
    }

    /* a mostly-zero op(A): its zeros skipped, same bits (zeroskip.c) */
    if (alpha == 1.0f && (beta == 0.0f || beta == 1.0f) && !transb) {
        zs_epilogue_ctx e = {&g, n};
        if (annc_zs_product(transa, m, n, k, a, lda, b, ldb, beta == 1.0f, c, ldc, kc, nt,
                            cache, b_flags, has_epilogue(&g) ? zs_epilogue : NULL, &e))
            return ANNC_OK;
    }

    /* a short K against a transposed B (a narrow layer's input gradient): by rows from a
     * transposed copy of B, same bits, no packing */
    if (transb && !transa && alpha == 1.0f && (beta == 0.0f || beta == 1.0f) && nt == 1 &&
        kc >= k && n >= SHORT_K_MIN_N && workspace && ((uintptr_t)workspace & 63u) == 0 &&
        annc_short_k_product(m, n, k, a, lda, b, ldb, beta == 1.0f, c, ldc, workspace,
                             short_k_room(m, n, kc))) {
        if (has_epilogue(&g)) epilogue(&g, 0, m, 0, n);
        return ANNC_OK;
    }

    /* a narrow C (a layer of a few classes, its weight gradient) on one thread: A and B read
     * in place, same bits, no packing */
    if (!transb && alpha == 1.0f && (beta == 0.0f || beta == 1.0f) && nt == 1 &&
        annc_narrow_product(transa, m, n, k, a, lda, b, ldb, beta == 1.0f, c, ldc, kc)) {
        if (has_epilogue(&g)) epilogue(&g, 0, m, 0, n);
        return ANNC_OK;
    }

    const annc_kernels *K = annc_kernels_get();
    const plan pl = make_plan(K, m, n, k, nt);
    const mview A = {a, transa ? 1 : lda, transa ? lda : 1};
    const mview B = {b, transb ? 1 : ldb, transb ? ldb : 1};
    g.k = k;
    g.kc = ANNC_MIN(kc, k);
    g.swapped = pl.swapped;
    if (!pl.swapped) {
        g.m = m; g.n = n;
        g.a = A; g.b = B;
        g.c = c; g.rsc = ldc; g.csc = 1;
    } else {
        /* C^T (n x m) = op(B)^T (n x k) . op(A)^T (k x m) */
        g.m = n; g.n = m;
        g.a.p = B.p; g.a.rs = B.cs; g.a.cs = B.rs;
        g.b.p = A.p; g.b.rs = A.cs; g.b.cs = A.rs;
        g.c = c; g.rsc = 1; g.csc = ldc;
    }

    /* Reading A in place saves its packing pass but gives up the compact panel: worth it while
     * each A panel is reused by few B panels (the skinny training shapes); at 1024^3 with A
     * transposed the 4 KiB column stride thrashed L1 and halved the kernel's speed. */
    g.a_direct = g.a.rs == 1 && ceil_div(g.n, K->NR) <= 8;
    g.ukr = pl.alt ? K->gemm_ukr_alt : K->gemm_ukr;
    g.pack_a = pl.alt ? K->pack_a_alt : K->pack_a;
    g.MR = pl.alt ? K->MR_alt : K->MR;
    /* op(A) is op(B)^T, packed whole in one block: the caller's cache may keep it */
    if (cache && nt == 1 && pl.swapped && !g.a_direct && g.m <= K->MC && g.kc == g.k &&
        (size_t)round_up(g.m, g.MR) * (size_t)g.k <= cache->floats)
        g.cache = cache;
    const ptrdiff_t mt = ceil_div(ceil_div(g.m, g.MR), pl.tm) * g.MR;
    const ptrdiff_t ntc = ceil_div(ceil_div(g.n, K->NR), pl.tn) * K->NR;
    const size_t per_thread = thread_ws_floats(K, g.MR, mt, ntc, g.kc);
    float *owned = NULL;
    if (workspace && ((uintptr_t)workspace & 63u) != 0) return ANNC_ERR_ARG;
    if (!workspace) {
        owned = (float *)annc_aligned_alloc(sizeof(float) * (per_thread * (size_t)nt + 16));
        if (!owned) return ANNC_ERR_WORKSPACE;
        workspace = owned;
    }

    const int nrect = pl.tm * pl.tn;
    if (nt == 1) {
        /* no OpenMP region at all: a forked child that never asks for threads never touches
         * the (possibly broken) thread pool */
        const rect r = {0, g.m, 0, g.n};
        gemm_rect(K, &g, r, workspace);
    } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
        {
            int tid = 0, got = 1;
#ifdef _OPENMP
            tid = omp_get_thread_num();
            got = omp_get_num_threads();
#endif
            /* if the runtime gave fewer threads than asked, the survivors take the rest */
            for (int t = tid; t < nrect; t += got) {
                rect r;
                split(g.m, g.MR, pl.tm, t / pl.tn, &r.m0, &r.m1);
                split(g.n, K->NR, pl.tn, t % pl.tn, &r.n0, &r.n1);
                if (r.m0 < r.m1 && r.n0 < r.n1)
                    gemm_rect(K, &g, r, workspace + (size_t)tid * per_thread);
            }
        }
    }
    annc_aligned_free(owned);
    return ANNC_OK;
}

int annc_sgemm(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
               const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, float *c,
               ptrdiff_t ldc, const float *bias, int act, float act_param, int nthreads,
               float *workspace) {
    return sgemm_driver(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act,
                        act_param, k_block(annc_kernels_get(), m, n, k),
                        annc_sgemm_threads_for(m, n, k, nthreads), NULL, 0, workspace);
}

int annc_sgemm_part(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                    const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta,
                    float *c, ptrdiff_t ldc, const float *bias, int act, float act_param,
                    ptrdiff_t whole_m, ptrdiff_t whole_n, float *workspace) {
    if (whole_m < m || whole_n < n) return ANNC_ERR_ARG;
    return sgemm_driver(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act,
                        act_param, k_block(annc_kernels_get(), whole_m, whole_n, k), 1, NULL,
                        0, workspace);
}

int annc_sgemm_part_cached(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                           float alpha, const float *a, ptrdiff_t lda, const float *b,
                           ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc, ptrdiff_t whole_m,
                           ptrdiff_t whole_n, annc_pack_cache *cache, float *workspace) {
    if (whole_m < m || whole_n < n) return ANNC_ERR_ARG;
    return sgemm_driver(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL,
                        ANNC_ACT_LINEAR, 0.0f, k_block(annc_kernels_get(), whole_m, whole_n, k),
                        1, cache, 0, workspace);
}

int annc_sgemm_part_finite_b(int transa, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a,
                             ptrdiff_t lda, const float *b, ptrdiff_t ldb, int b_past, float beta,
                             float *c, ptrdiff_t ldc, ptrdiff_t whole_m, ptrdiff_t whole_n,
                             float *workspace) {
    if (whole_m < m || whole_n < n) return ANNC_ERR_ARG;
    return sgemm_driver(transa, 0, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc, NULL,
                        ANNC_ACT_LINEAR, 0.0f, k_block(annc_kernels_get(), whole_m, whole_n, k),
                        1, NULL, ANNC_ZS_B_FINITE | (b_past ? ANNC_ZS_B_PAST : 0), workspace);
}

int annc_sgemm_part_given(int transa, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a,
                          ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, float *c,
                          ptrdiff_t ldc, ptrdiff_t whole_m, ptrdiff_t whole_n,
                          annc_pack_cache *cache, int b_flags, const void *mask, ptrdiff_t nnz,
                          float *workspace) {
    if (whole_m < m || whole_n < n) return ANNC_ERR_ARG;
    const ptrdiff_t kc = k_block(annc_kernels_get(), whole_m, whole_n, k);
    if ((beta == 0.0f || beta == 1.0f) && shape_ok(transa, 0, m, n, k, lda, ldb, ldc) &&
        annc_zs_product_given(transa, m, n, k, a, lda, b, ldb, beta == 1.0f, c, ldc, kc, cache,
                              b_flags, mask, nnz))
        return ANNC_OK;
    return sgemm_driver(transa, 0, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc, NULL,
                        ANNC_ACT_LINEAR, 0.0f, kc, 1, cache, b_flags, workspace);
}

int annc_sgemm_kc(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                  const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta,
                  float *c, ptrdiff_t ldc, const float *bias, int act, float act_param,
                  ptrdiff_t kc, float *workspace) {
    if (kc < 1) return ANNC_ERR_ARG;
    return sgemm_driver(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act,
                        act_param, kc, 1, NULL, 0, workspace);
}

int annc_sgemm_cached(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                      const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta,
                      float *c, ptrdiff_t ldc, const float *bias, int act, float act_param,
                      annc_pack_cache *cache, float *workspace) {
    return sgemm_driver(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act,
                        act_param, k_block(annc_kernels_get(), m, n, k), 1, cache, 0, workspace);
}

size_t annc_sgemm_cache_floats(ptrdiff_t n, ptrdiff_t k) {
    /* rows padded to the kernel's MR (at most 8) */
    return (size_t)(ANNC_MAX(n, (ptrdiff_t)1) + 8) * (size_t)ANNC_MAX(k, (ptrdiff_t)1);
}

size_t annc_sgemm_kc_workspace_floats(ptrdiff_t m, ptrdiff_t n, ptrdiff_t kc) {
    return one_thread_ws_floats(annc_kernels_get(), m, n, kc) + 16;
}

size_t annc_sgemm_part_workspace_floats(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, ptrdiff_t whole_m,
                                        ptrdiff_t whole_n) {
    const annc_kernels *K = annc_kernels_get();
    return one_thread_ws_floats(K, m, n, k_block(K, whole_m, whole_n, k)) + 16;
}

void *annc_aligned_alloc(size_t bytes) {
    /* portable 64-byte alignment without aligned_alloc's size-multiple rule */
    void *raw = malloc(bytes + 64 + sizeof(void *));
    if (!raw) return NULL;
    uintptr_t p = ((uintptr_t)raw + sizeof(void *) + 63) & ~(uintptr_t)63;
    ((void **)p)[-1] = raw;
    return (void *)p;
}

void annc_aligned_free(void *p) {
    if (p) free(((void **)p)[-1]);
}
