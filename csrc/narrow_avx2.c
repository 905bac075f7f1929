/* AVX2+FMA kernel for products whose C is at most 16 columns wide (a layer of ten classes: its
 * forward product, its weight gradient), entered through the dispatch table (narrow.c).
 *
 * Each C row's one or two vectors stay in registers, six rows at a time, with A and B read in
 * place. The packed kernel (gemm_avx2.c) first copies B (and a transposed A) into panels of 16
 * columns, which for these shapes costs as much as the product itself. Every element has the
 * packed kernel's recipe: per K block of kc, acc = 0, acc = fma(a_p, b_p, acc) over p in
 * order, then c = acc on the first block (beta 0) or c = c + acc; so both paths give the same
 * bits. */
#include <immintrin.h>

#include "annc.h"
#include "internal.h"
#include "avx2_lanes.h"

#define NARROW_ROWS 6

/* The twelve accumulators are named variables, not an array: GCC kept an array's copy on the
 * stack up to date, a store after every FMA. Row i, vector v exists when i < R and v < NV;
 * the constant tests vanish in each specialisation. */
#define NARROW_EACH(X) X(0, 0) X(0, 1) X(1, 0) X(1, 1) X(2, 0) X(2, 1) X(3, 0) X(3, 1) \
    X(4, 0) X(4, 1) X(5, 0) X(5, 1)
#define NARROW_DECL(i, v) __m256 acc##i##_##v = _mm256_setzero_ps();
/* row i's step: one broadcast, used at once by the row's vectors (six broadcasts held
 * together would leave no register for them) */
#define NARROW_ROW(i)                                                                      \
    if (i < R) {                                                                           \
        const __m256 x = _mm256_broadcast_ss(ap + i * ars);                                \
        acc##i##_0 = _mm256_fmadd_ps(x, b0, acc##i##_0);                                   \
        if (NV > 1) acc##i##_1 = _mm256_fmadd_ps(x, b1, acc##i##_1);                       \
    }
#define NARROW_ROWS_STEP NARROW_ROW(0) NARROW_ROW(1) NARROW_ROW(2) NARROW_ROW(3) NARROW_ROW(4) \
    NARROW_ROW(5)
#define NARROW_STORE(i, v)                                                                 \
    if (i < R && v < NV) narrow_store(acc##i##_##v, c + i * ldc + 8 * v, PART && v == NV - 1, \
                                      tail, tmask, add);

/* c = r, or c = c + r, over a whole vector or its first `tail` lanes. */
ANNC_INLINE void narrow_store(__m256 r, float *c, int part, int tail, __m256i tmask, int add) {
    if (add) r = _mm256_add_ps(part ? _mm256_maskload_ps(c, tmask) : _mm256_loadu_ps(c), r);
    if (part)
        annc_store_first(c, r, tail);
    else
        _mm256_storeu_ps(c, r);
}

/* Rows [0, R) of C over one K block of kb steps: op(A)'s element (i, p) at a[i * ars + p * acs],
 * B's row p at b + p * ldb. NV vectors per row, the last holding `tail` (1..7) columns when
 * PART; add: c = c + acc, else c = acc. */
ANNC_INLINE void narrow_tile(const int R, const int NV, const int PART, int tail,
                             ptrdiff_t kb, const float *a, ptrdiff_t ars, ptrdiff_t acs,
                             const float *b, ptrdiff_t ldb, int add, float *c, ptrdiff_t ldc) {
    const __m256i tmask = annc_first_lanes(tail);
    NARROW_EACH(NARROW_DECL)
    /* A partial last vector reads whole vectors of B (its lanes past n, from the rows after,
     * are never stored) while they end within B's last row's n floats: row p when
     * p * ldb + 8 NV <= (kb - 1) * ldb + n. The rows after those go masked. */
    ptrdiff_t whole = kb;
    if (PART) {
        const ptrdiff_t room = (kb - 1) * ldb + tail - 8;
        whole = room < 0 ? 0 : ANNC_MIN(kb, room / ldb + 1);
    }
    for (ptrdiff_t p = 0; p < whole; p++) {
        const float *bp = b + p * ldb, *ap = a + p * acs;
        const __m256 b0 = _mm256_loadu_ps(bp);
        const __m256 b1 = NV > 1 ? _mm256_loadu_ps(bp + 8) : b0;
        NARROW_ROWS_STEP
    }
    for (ptrdiff_t p = whole; p < kb; p++) {
        const float *bp = b + p * ldb, *ap = a + p * acs;
        const __m256 b0 = PART && NV == 1 ? _mm256_maskload_ps(bp, tmask) : _mm256_loadu_ps(bp);
        const __m256 b1 = NV < 2   ? b0
                          : PART ? _mm256_maskload_ps(bp + 8, tmask)
                                 : _mm256_loadu_ps(bp + 8);
        NARROW_ROWS_STEP
    }
    NARROW_EACH(NARROW_STORE)
}

/* The tiles take no vector arguments: GCC then clears the upper halves of the YMM registers
 * (vzeroupper) on their way out. Without it (a mask passed by value left every function here
 * without one), the SSE code that runs next, libm's expf in the loss, took 15 times longer. */
typedef void (*tile_fn)(int, ptrdiff_t, const float *, ptrdiff_t, ptrdiff_t, const float *,
                        ptrdiff_t, int, float *, ptrdiff_t);
#define NARROW_TILE(R, NV, PART)                                                           \
    static ANNC_NOINLINE void tile_##R##_##NV##_##PART(                                    \
        int tail, ptrdiff_t kb, const float *a, ptrdiff_t ars, ptrdiff_t acs, const float *b, \
        ptrdiff_t ldb, int add, float *c, ptrdiff_t ldc) {                                 \
        narrow_tile(R, NV, PART, tail, kb, a, ars, acs, b, ldb, add, c, ldc);               \
    }
#define NARROW_WIDTHS(R) NARROW_TILE(R, 1, 0) NARROW_TILE(R, 1, 1) NARROW_TILE(R, 2, 0) \
    NARROW_TILE(R, 2, 1)
NARROW_WIDTHS(1) NARROW_WIDTHS(2) NARROW_WIDTHS(3) NARROW_WIDTHS(4) NARROW_WIDTHS(5)
NARROW_WIDTHS(6)
/* indexed by rows (1..6), then by the vectors' layout: one partial, one full, a full and a
 * partial, two full */
#define NARROW_BY_ROWS(R) {tile_##R##_1_1, tile_##R##_1_0, tile_##R##_2_1, tile_##R##_2_0}
static const tile_fn tiles[NARROW_ROWS + 1][4] = {
    {NULL, NULL, NULL, NULL}, NARROW_BY_ROWS(1), NARROW_BY_ROWS(2), NARROW_BY_ROWS(3),
    NARROW_BY_ROWS(4),        NARROW_BY_ROWS(5), NARROW_BY_ROWS(6)};

/* C (m x n, n <= ANNC_NARROW_MAX_N) = op(A) . B (+ C when beta_one), K in blocks of kc. A row
 * group does all of its blocks while its C rows are in L1. */
static void narrow_avx2(int transa, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a,
                        ptrdiff_t lda, const float *b, ptrdiff_t ldb, int beta_one, float *c,
                        ptrdiff_t ldc, ptrdiff_t kc) {
    const int tail = (int)(n & 7);
    const int layout = (int)(2 * ((n + 7) / 8 - 1) + (tail == 0));
    const ptrdiff_t ars = transa ? 1 : lda, acs = transa ? lda : 1;
    for (ptrdiff_t i0 = 0; i0 < m; i0 += NARROW_ROWS) {
        const tile_fn f = tiles[ANNC_MIN((ptrdiff_t)NARROW_ROWS, m - i0)][layout];
        for (ptrdiff_t p0 = 0; p0 < k; p0 += kc)
            f(tail, ANNC_MIN(kc, k - p0), a + i0 * ars + p0 * acs, ars, acs,
              b + p0 * ldb, ldb, beta_one || p0 > 0, c + i0 * ldc, ldc);
    }
}

void annc_narrow_avx2(annc_kernels *t) { t->narrow = narrow_avx2; }
