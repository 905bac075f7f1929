/* AVX2+FMA kernels of the zero-skipping product (zeroskip.c): C rows formed as sums of B rows
 * weighted by the nonzero entries of a row of op(A), found through bit masks.
 *
 * A row of C is at most 13 vectors (104 floats) wide per strip, all in registers: per
 * nonzero a(i, p) one broadcast and one FMA per vector with row p of B as its memory operand.
 * Each element's recipe is the dense kernel's (gemm_avx2.c) minus the terms whose a is zero:
 * acc = 0; acc = fma(a_p, b_p, acc) over the set bits p in order; then c = acc, or
 * c = c + acc (= fma(1, c, acc)). With B finite, a skipped term fma(0, b, acc) would have
 * returned acc unchanged, so C comes out bit for bit as the dense kernel's. */
#include <immintrin.h>

#include "annc.h"
#include "internal.h"
#include "avx2_lanes.h"

#define ZS_MAXV 13

/* Bit scans (every AVX2 CPU has POPCNT; GCC's ctz is a BSF-compatible TZCNT). */
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
static inline int ctz64(uint64_t x) {
    unsigned long i;
    _BitScanForward64(&i, x);
    return (int)i;
}
static inline int popcount64(uint64_t x) { return (int)__popcnt64(x); }
#else
static inline int ctz64(uint64_t x) { return __builtin_ctzll(x); }
static inline int popcount64(uint64_t x) { return __builtin_popcountll(x); }
#endif

static inline __m256 load_lanes(const float *p, int part, __m256i tmask) {
    return part ? _mm256_maskload_ps(p, tmask) : _mm256_loadu_ps(p);
}

/* nonzero (or NaN) lanes of v as bits */
static inline unsigned nonzero_bits(__m256 v) {
    return (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NEQ_UQ));
}

/* ---------------------------------------------------------------- masks */

static ptrdiff_t zs_mask_rows_avx2(uint64_t *mask, ptrdiff_t words, const float *a, ptrdiff_t lda,
                                   ptrdiff_t m, ptrdiff_t k) {
    ptrdiff_t nnz = 0;
    for (ptrdiff_t i = 0; i < m; i++) {
        const float *ai = a + i * lda;
        for (ptrdiff_t w = 0; w < words; w++) {
            const ptrdiff_t p0 = 64 * w, np = ANNC_MIN((ptrdiff_t)64, k - p0);
            uint64_t bits = 0;
            ptrdiff_t q = 0;
            for (; q + 8 <= np; q += 8)
                bits |= (uint64_t)nonzero_bits(_mm256_loadu_ps(ai + p0 + q)) << q;
            if (q < np)
                bits |= (uint64_t)nonzero_bits(
                            _mm256_maskload_ps(ai + p0 + q, annc_first_lanes(np - q)))
                        << q;
            mask[i * words + w] = bits;
            nnz += popcount64(bits);
        }
    }
    return nnz;
}

/* Row i of C reads column i of A (k x m, lda): word g of row i holds A's rows [32g, 32g + 32)
 * where column i is nonzero, built eight columns at a time. */
static ptrdiff_t zs_mask_cols_avx2(uint32_t *mask, ptrdiff_t words, const float *a, ptrdiff_t lda,
                                   ptrdiff_t m, ptrdiff_t k) {
    ptrdiff_t nnz = 0;
    for (ptrdiff_t i0 = 0; i0 < m; i0 += 8) {
        const ptrdiff_t ni = ANNC_MIN((ptrdiff_t)8, m - i0);
        const __m256i lanes = annc_first_lanes(ni);
        for (ptrdiff_t g = 0; g < words; g++) {
            __m256i bits = _mm256_setzero_si256(), bit = _mm256_set1_epi32(1);
            const ptrdiff_t p1 = ANNC_MIN(k, 32 * g + 32);
            for (ptrdiff_t p = 32 * g; p < p1; p++) {
                const __m256 v = ni == 8 ? _mm256_loadu_ps(a + p * lda + i0)
                                         : _mm256_maskload_ps(a + p * lda + i0, lanes);
                const __m256i nz = _mm256_castps_si256(
                    _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NEQ_UQ));
                bits = _mm256_or_si256(bits, _mm256_and_si256(nz, bit));
                bit = _mm256_slli_epi32(bit, 1);
            }
            uint32_t t[8];
            _mm256_storeu_si256((__m256i *)t, bits);
            for (ptrdiff_t q = 0; q < ni; q++) {
                mask[(i0 + q) * words + g] = t[q];
                nnz += popcount64(t[q]);
            }
        }
    }
    return nnz;
}

/* nv vectors of columns, the last partial (tail lanes) when part, at most GATHER_MAX_VECS (one
 * or two row-mask words), of m rows (at most 32: one word of the column masks) for
 * gather_masks below, in one pass per row over all its vectors; dst, src, rmask and cmask
 * come pointed at the span's first column and row (rows idx[0..m), row i's mask words at
 * rmask + i * rwords, column q's word at cmask + q * cwords). nv and part are constants in each
 * specialisation, so the column masks' accumulators stay in registers (with a run-time count
 * GCC kept them on the stack: a store and a reload per vector and row). Program 2's blocks of
 * 80 and 64 columns go in one call for all their rows; one call per row-mask word took 0.71k
 * instead of 0.61k cycles for 32 rows of 80 columns. */
#define GATHER_MAX_VECS 12
/* loops over the span's vectors unrolled whole, or GCC keeps the accumulators in memory */
#if defined(__GNUC__) && !defined(__clang__)
#define GATHER_UNROLL _Pragma("GCC unroll 16")
#else
#define GATHER_UNROLL
#endif
ANNC_INLINE ptrdiff_t gather_span(const int nv, const int part, int tail, float *dst,
                                  ptrdiff_t ldd, const float *src, ptrdiff_t lds,
                                  const int64_t *idx, ptrdiff_t m, uint64_t *rmask,
                                  ptrdiff_t rwords, uint32_t *cmask, ptrdiff_t cwords) {
    const __m256i tmask = annc_first_lanes(tail);
    const __m256 zero = _mm256_setzero_ps();
    const int vecs = nv + part, words = (vecs + 7) / 8;
    __m256i acc[GATHER_MAX_VECS];
    GATHER_UNROLL
    for (int v = 0; v < vecs; v++) acc[v] = _mm256_setzero_si256();
    ptrdiff_t nnz = 0;
    for (ptrdiff_t i = 0; i < m; i++) {
        const float *si = src + idx[i] * lds;
        float *di = dst + i * ldd;
        const __m256i bit = _mm256_set1_epi32((int)(1u << i));
        uint64_t bits[2] = {0, 0};
        GATHER_UNROLL
        for (int v = 0; v < vecs; v++) {
            const int last = part && v == nv;
            const __m256 x = last ? _mm256_maskload_ps(si + 8 * v, tmask)
                                  : _mm256_loadu_ps(si + 8 * v);
            if (last)
                annc_store_first(di + 8 * v, x, tail);
            else
                _mm256_storeu_ps(di + 8 * v, x);
            const __m256 nz = _mm256_cmp_ps(x, zero, _CMP_NEQ_UQ);
            bits[v / 8] |= (uint64_t)(unsigned)_mm256_movemask_ps(nz) << (8 * (v % 8));
            acc[v] = _mm256_or_si256(acc[v], _mm256_and_si256(_mm256_castps_si256(nz), bit));
        }
        for (int w = 0; w < words; w++) {
            rmask[i * rwords + w] = bits[w];
            nnz += popcount64(bits[w]);
        }
    }
    GATHER_UNROLL
    for (int v = 0; v < vecs; v++) {
        uint32_t t[8];
        _mm256_storeu_si256((__m256i *)t, acc[v]);
        const int lanes = part && v == nv ? tail : 8;
        for (int q = 0; q < lanes; q++) cmask[(8 * v + q) * cwords] = t[q];
    }
    return nnz;
}

/* The functions called through these tables take no vector arguments, so that GCC clears the
 * upper halves of the YMM registers (vzeroupper) on their way out: with a mask passed by
 * value it left them dirty, and the SSE code that ran next (the portable C around these
 * kernels, libm's expf in the loss) paid for it, expf 15 times over. */
typedef ptrdiff_t (*gather_fn)(int, float *, ptrdiff_t, const float *, ptrdiff_t,
                               const int64_t *, ptrdiff_t, uint64_t *, ptrdiff_t, uint32_t *,
                               ptrdiff_t);
#define GATHER_WIDTH(NV, PART)                                                             \
    static ANNC_NOINLINE ptrdiff_t gather_##NV##_##PART(                                  \
        int tail, float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds,              \
        const int64_t *idx, ptrdiff_t m, uint64_t *rmask, ptrdiff_t rwords,                \
        uint32_t *cmask, ptrdiff_t cwords) {                                               \
        return gather_span(NV, PART, tail, dst, ldd, src, lds, idx, m, rmask, rwords,      \
                           cmask, cwords);                                                 \
    }
GATHER_WIDTH(0, 1)
GATHER_WIDTH(1, 0) GATHER_WIDTH(1, 1) GATHER_WIDTH(2, 0) GATHER_WIDTH(2, 1)
GATHER_WIDTH(3, 0) GATHER_WIDTH(3, 1) GATHER_WIDTH(4, 0) GATHER_WIDTH(4, 1)
GATHER_WIDTH(5, 0) GATHER_WIDTH(5, 1) GATHER_WIDTH(6, 0) GATHER_WIDTH(6, 1)
GATHER_WIDTH(7, 0) GATHER_WIDTH(7, 1) GATHER_WIDTH(8, 0) GATHER_WIDTH(8, 1)
GATHER_WIDTH(9, 0) GATHER_WIDTH(9, 1) GATHER_WIDTH(10, 0) GATHER_WIDTH(10, 1)
GATHER_WIDTH(11, 0) GATHER_WIDTH(11, 1) GATHER_WIDTH(12, 0)
/* indexed by the columns rounded up to vectors (1..12) and whether the last is partial */
static const gather_fn gather_by_width[GATHER_MAX_VECS + 1][2] = {
    {NULL, NULL},
    {gather_1_0, gather_0_1},   {gather_2_0, gather_1_1},   {gather_3_0, gather_2_1},
    {gather_4_0, gather_3_1},   {gather_5_0, gather_4_1},   {gather_6_0, gather_5_1},
    {gather_7_0, gather_6_1},   {gather_8_0, gather_7_1},   {gather_9_0, gather_8_1},
    {gather_10_0, gather_9_1},  {gather_11_0, gather_10_1}, {gather_12_0, gather_11_1}};

/* Rows idx[0..m) of src (ld lds; the block's first column already applied), k columns,
 * copied into rows [0, m) of dst (ld ldd), forming on the way the masks that mask_rows (row
 * i's words at rmask + i * ceil(k / 64)) and mask_cols (column q's words at
 * cmask + q * ceil(m / 32)) would form from the copy: the same compare, on the values in
 * registers, instead of two more passes over them. Returns the nonzeros. */
static ptrdiff_t zs_gather_masks_avx2(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds,
                                      const int64_t *idx, ptrdiff_t m, ptrdiff_t k,
                                      uint64_t *rmask, uint32_t *cmask) {
    const ptrdiff_t rwords = (k + 63) / 64, cwords = (m + 31) / 32;
    /* one span of every column for at most 32 rows (training's blocks), else one span per
     * row-mask word */
    const ptrdiff_t span_cols = m <= 32 && k <= 8 * GATHER_MAX_VECS ? k : 64;
    ptrdiff_t nnz = 0;
    for (ptrdiff_t c0 = 0; c0 < k; c0 += span_cols) {
        const ptrdiff_t kc = ANNC_MIN(span_cols, k - c0);
        const int tail = (int)(kc & 7);
        const gather_fn f = gather_by_width[(kc + 7) / 8][tail != 0];
        for (ptrdiff_t g = 0; g < cwords; g++) { /* one word of every column mask */
            const ptrdiff_t i0 = 32 * g;
            nnz += f(tail, dst + i0 * ldd + c0, ldd, src + c0, lds, idx + i0,
                     ANNC_MIN(m - i0, (ptrdiff_t)32), rmask + i0 * rwords + c0 / 64, rwords,
                     cmask + c0 * cwords + g, cwords);
        }
    }
    return nnz;
}

/* ---------------------------------------------------------------- strips */

/* A row's accumulators are thirteen named variables, not an array: GCC kept an array in
 * memory once the loop grew a second exit, storing all thirteen every nonzero. Vector j
 * exists when j < nv + part; the constant tests vanish in each specialisation. */
#define ZS_EACH(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12)
#define ZS_DECL(j) __m256 acc##j = _mm256_setzero_ps();
#define ZS_INIT(j)                                                                         \
    if (j < nv + part && mode == ANNC_ZS_CONTINUE)                                         \
        acc##j = load_lanes(ci + 8 * j, part && j == nv, tmask);
/* acc += x * B's row at br. With part, the last vector reads a whole vector past the strip's
 * end (lanes never stored), masked only for the view's last row of B, whose next floats may
 * not exist (masked loads cost a third more per nonzero). */
#define ZS_FMA(j, masked)                                                                  \
    if (j < nv)                                                                            \
        acc##j = _mm256_fmadd_ps(x, _mm256_loadu_ps(br + 8 * j), acc##j);                  \
    else if (j == nv && part)                                                              \
        acc##j = _mm256_fmadd_ps(x, (masked) ? _mm256_maskload_ps(br + 8 * j, tmask)       \
                                             : _mm256_loadu_ps(br + 8 * j),                \
                                 acc##j);
#define ZS_FMA_FULL(j) ZS_FMA(j, 0)
#define ZS_FMA_MASKED(j) ZS_FMA(j, 1)
#define ZS_FINISH(j)                                                                       \
    if (j < nv + part) {                                                                   \
        __m256 v = acc##j;                                                                 \
        if (mode == ANNC_ZS_ADD)                                                           \
            v = _mm256_add_ps(load_lanes(ci + 8 * j, part && j == nv, tmask), v);          \
        if (part && j == nv)                                                               \
            annc_store_first(ci + 8 * j, v, nlast);                                             \
        else                                                                               \
            _mm256_storeu_ps(ci + 8 * j, v);                                               \
    }
/* The set bits of one mask word in order: B's rows bw + p * ldb weighted by ap[p * as]. Bit
 * `last` (-1: none in this word) is the view's last row of B, taken last (it is the highest
 * bit) with masked loads. */
#define ZS_ADD_WORD(word, last, ap, as, bw)                                                \
    do {                                                                                   \
        uint64_t bits = (word), tail = 0;                                                  \
        if (part && (last) >= 0) {                                                         \
            tail = bits & ((uint64_t)1 << (last));                                         \
            bits &= ~tail;                                                                 \
        }                                                                                  \
        while (bits) {                                                                     \
            const ptrdiff_t p = ctz64(bits);                                               \
            bits &= bits - 1;                                                              \
            const __m256 x = _mm256_broadcast_ss((ap) + p * (as));                         \
            const float *br = (bw) + p * ldb;                                              \
            ZS_EACH(ZS_FMA_FULL)                                                           \
        }                                                                                  \
        if (tail) {                                                                        \
            const __m256 x = _mm256_broadcast_ss((ap) + (last) * (as));                    \
            const float *br = (bw) + (last) * ldb;                                         \
            ZS_EACH(ZS_FMA_MASKED)                                                         \
        }                                                                                  \
    } while (0)

/* Rows [0, m) of a strip of C: the set bits of words [w0, w1) of each row's mask; B's rows
 * [0, kb) may be read. nlast: the floats of the partial last vector. */
ANNC_INLINE void rows_strip(const int nv, const int part, int nlast, ptrdiff_t m,
                            const uint64_t *mask, ptrdiff_t words, ptrdiff_t w0, ptrdiff_t w1,
                            const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                            ptrdiff_t kb, float *c, ptrdiff_t ldc, int mode, const float *pf,
                            ptrdiff_t pf_rows) {
    const __m256i tmask = annc_first_lanes(nlast);
    for (ptrdiff_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        if (i < pf_rows) { /* the word's 256 bytes of the next rows' row i: five lines at most */
            const char *q = (const char *)(pf + i * lda + 64 * w0);
            _mm_prefetch(q, _MM_HINT_T0);
            _mm_prefetch(q + 64, _MM_HINT_T0);
            _mm_prefetch(q + 128, _MM_HINT_T0);
            _mm_prefetch(q + 192, _MM_HINT_T0);
            _mm_prefetch(q + 255, _MM_HINT_T0);
        }
        ZS_EACH(ZS_DECL)
        ZS_EACH(ZS_INIT)
        const float *ai = a + i * lda;
        for (ptrdiff_t w = w0; w < w1; w++) {
            const ptrdiff_t p0 = 64 * w;
            const int last = kb - p0 <= 64 ? (int)(kb - 1 - p0) : -1;
            ZS_ADD_WORD(mask[i * words + w], last, ai + p0, 1, b + p0 * ldb);
        }
        ZS_EACH(ZS_FINISH)
    }
}

/* Rows [0, m) of a strip of C^T-shaped products: row i sums B's rows p where column i of A
 * (kb x m) is nonzero. */
ANNC_INLINE void cols_strip(const int nv, const int part, int nlast, ptrdiff_t m,
                            const uint32_t *mask, ptrdiff_t words, ptrdiff_t w0, ptrdiff_t w1,
                            const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                            ptrdiff_t kb, float *c, ptrdiff_t ldc, int mode) {
    const __m256i tmask = annc_first_lanes(nlast);
    for (ptrdiff_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        ZS_EACH(ZS_DECL)
        ZS_EACH(ZS_INIT)
        for (ptrdiff_t g = w0; g < w1; g++) {
            const ptrdiff_t p0 = 32 * g;
            const int last = kb - p0 <= 32 ? (int)(kb - 1 - p0) : -1;
            ZS_ADD_WORD(mask[i * words + g], last, a + p0 * lda + i, lda, b + p0 * ldb);
        }
        ZS_EACH(ZS_FINISH)
    }
}

/* One out-of-line copy per strip width (1..13 vectors, the last full or partial), so each
 * keeps its accumulators in registers. */
typedef void (*rows_fn)(int, ptrdiff_t, const uint64_t *, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                        const float *, ptrdiff_t, const float *, ptrdiff_t, ptrdiff_t, float *,
                        ptrdiff_t, int, const float *, ptrdiff_t);
typedef void (*cols_fn)(int, ptrdiff_t, const uint32_t *, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                        const float *, ptrdiff_t, const float *, ptrdiff_t, ptrdiff_t, float *,
                        ptrdiff_t, int);

#define ZS_WIDTH(NV, PART)                                                                 \
    static ANNC_NOINLINE void rows_##NV##_##PART(                                          \
        int nl, ptrdiff_t m, const uint64_t *mk, ptrdiff_t words, ptrdiff_t w0,            \
        ptrdiff_t w1, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,        \
        ptrdiff_t kb, float *c, ptrdiff_t ldc, int mode, const float *pf, ptrdiff_t pfr) { \
        rows_strip(NV, PART, nl, m, mk, words, w0, w1, a, lda, b, ldb, kb, c, ldc, mode, \
                   pf, pfr);                                                               \
    }                                                                                      \
    static ANNC_NOINLINE void cols_##NV##_##PART(                                          \
        int nl, ptrdiff_t m, const uint32_t *mk, ptrdiff_t words, ptrdiff_t w0,            \
        ptrdiff_t w1, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,        \
        ptrdiff_t kb, float *c, ptrdiff_t ldc, int mode) {                                 \
        cols_strip(NV, PART, nl, m, mk, words, w0, w1, a, lda, b, ldb, kb, c, ldc, mode); \
    }
ZS_WIDTH(0, 1)
ZS_WIDTH(1, 0) ZS_WIDTH(1, 1) ZS_WIDTH(2, 0) ZS_WIDTH(2, 1) ZS_WIDTH(3, 0) ZS_WIDTH(3, 1)
ZS_WIDTH(4, 0) ZS_WIDTH(4, 1) ZS_WIDTH(5, 0) ZS_WIDTH(5, 1) ZS_WIDTH(6, 0) ZS_WIDTH(6, 1)
ZS_WIDTH(7, 0) ZS_WIDTH(7, 1) ZS_WIDTH(8, 0) ZS_WIDTH(8, 1) ZS_WIDTH(9, 0) ZS_WIDTH(9, 1)
ZS_WIDTH(10, 0) ZS_WIDTH(10, 1) ZS_WIDTH(11, 0) ZS_WIDTH(11, 1) ZS_WIDTH(12, 0)
ZS_WIDTH(12, 1) ZS_WIDTH(13, 0)

/* indexed by the strip's width in floats rounded up to vectors (1..13) and whether the last
 * vector is partial */
#define ZS_BY_WIDTH(f)                                                                     \
    {{NULL, NULL},         {f##_1_0, f##_0_1},   {f##_2_0, f##_1_1},   {f##_3_0, f##_2_1},   \
     {f##_4_0, f##_3_1},   {f##_5_0, f##_4_1},   {f##_6_0, f##_5_1},   {f##_7_0, f##_6_1},   \
     {f##_8_0, f##_7_1},   {f##_9_0, f##_8_1},   {f##_10_0, f##_9_1},  {f##_11_0, f##_10_1}, \
     {f##_12_0, f##_11_1}, {f##_13_0, f##_12_1}}
static const rows_fn rows_by_width[ZS_MAXV + 1][2] = ZS_BY_WIDTH(rows);
static const cols_fn cols_by_width[ZS_MAXV + 1][2] = ZS_BY_WIDTH(cols);

/* C's n columns in strips of at most 13 vectors, as even as whole vectors allow. */
static ptrdiff_t strip_width(ptrdiff_t n) {
    const ptrdiff_t strips = (n + 8 * ZS_MAXV - 1) / (8 * ZS_MAXV);
    return ((n + strips - 1) / strips + 7) / 8 * 8;
}

static void zs_rows_avx2(ptrdiff_t m, ptrdiff_t n, const uint64_t *mask, ptrdiff_t words,
                         ptrdiff_t w0, ptrdiff_t w1, const float *a, ptrdiff_t lda, const float *b,
                         ptrdiff_t ldb, ptrdiff_t kb, float *c, ptrdiff_t ldc, int mode,
                         const float *pf, ptrdiff_t pf_rows) {
    const ptrdiff_t sw = strip_width(n);
    for (ptrdiff_t j0 = 0; j0 < n; j0 += sw) {
        const int nj = (int)ANNC_MIN(sw, n - j0), tail = nj & 7;
        /* the next rows are asked for once, during the first strip */
        rows_by_width[(nj + 7) / 8][tail != 0](tail, m, mask, words, w0,
                                               w1, a, lda, b + j0, ldb, kb, c + j0, ldc, mode,
                                               pf, j0 == 0 ? pf_rows : 0);
    }
}

static void zs_cols_avx2(ptrdiff_t m, ptrdiff_t n, const uint32_t *mask, ptrdiff_t words,
                         ptrdiff_t w0, ptrdiff_t w1, const float *a, ptrdiff_t lda, const float *b,
                         ptrdiff_t ldb, ptrdiff_t kb, float *c, ptrdiff_t ldc, int mode) {
    const ptrdiff_t sw = strip_width(n);
    for (ptrdiff_t j0 = 0; j0 < n; j0 += sw) {
        const int nj = (int)ANNC_MIN(sw, n - j0), tail = nj & 7;
        cols_by_width[(nj + 7) / 8][tail != 0](tail, m, mask, words, w0,
                                               w1, a, lda, b + j0, ldb, kb, c + j0, ldc, mode);
    }
}

/* Eight rows of B (their columns [p0, p0 + cols), cols <= 8) into bt's rows p0.. as eight
 * columns from j0: an 8 x 8 transpose in registers. */
static void transpose_8(float *bt, ptrdiff_t ldt, const float *b, ptrdiff_t ldb, ptrdiff_t j0,
                        ptrdiff_t p0, int cols) {
    const __m256i lanes = annc_first_lanes(cols);
    __m256 r[8];
    for (int i = 0; i < 8; i++) {
        const float *src = b + (j0 + i) * ldb + p0;
        r[i] = cols == 8 ? _mm256_loadu_ps(src) : _mm256_maskload_ps(src, lanes);
    }
    /* pairs, then quads within each 128-bit half, then the halves */
    __m256 t[8], q[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        q[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        q[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        q[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        q[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < cols; i++) {
        const __m256 v = i < 4 ? _mm256_permute2f128_ps(q[i], q[i + 4], 0x20)
                               : _mm256_permute2f128_ps(q[i - 4], q[i], 0x31);
        _mm256_storeu_ps(bt + (p0 + i) * ldt + j0, v);
    }
}

static void zs_transpose_avx2(float *bt, ptrdiff_t ldt, const float *b, ptrdiff_t ldb,
                              ptrdiff_t n, ptrdiff_t k) {
    ptrdiff_t j0 = 0;
    for (; j0 + 8 <= n; j0 += 8)
        for (ptrdiff_t p0 = 0; p0 < k; p0 += 8)
            transpose_8(bt, ldt, b, ldb, j0, p0, (int)ANNC_MIN((ptrdiff_t)8, k - p0));
    for (ptrdiff_t p = 0; p < k; p++) {
        for (ptrdiff_t j = j0; j < n; j++) bt[p * ldt + j] = b[j * ldb + p];
        for (ptrdiff_t j = n; j < ldt; j++) bt[p * ldt + j] = 0.0f;
    }
}

/* 1 when x[0:n] holds no inf or NaN: x * 0 is 0 for finite x, NaN otherwise, so four running
 * sums of it stay 0 exactly when all are finite. */
static int finite_avx2(const float *x, ptrdiff_t n) {
    const __m256 zero = _mm256_setzero_ps();
    __m256 s0 = zero, s1 = zero, s2 = zero, s3 = zero;
    ptrdiff_t j = 0;
    for (; j + 32 <= n; j += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), zero, s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j + 8), zero, s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j + 16), zero, s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j + 24), zero, s3);
    }
    for (; j + 8 <= n; j += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), zero, s0);
    if (j < n) s1 = _mm256_fmadd_ps(_mm256_maskload_ps(x + j, annc_first_lanes(n - j)), zero, s1);
    const __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    return _mm256_movemask_ps(_mm256_cmp_ps(s, s, _CMP_UNORD_Q)) == 0;
}

/* The zero-skipping kernels, and the AVX2 finiteness scan, into the dispatch table (cpu.c). */
void annc_zeroskip_avx2(annc_kernels *t) {
    t->finite = finite_avx2;
    t->zs.mask_rows = zs_mask_rows_avx2;
    t->zs.mask_cols = zs_mask_cols_avx2;
    t->zs.gather_masks = zs_gather_masks_avx2;
    t->zs.rows = zs_rows_avx2;
    t->zs.cols = zs_cols_avx2;
    t->zs.transpose = zs_transpose_avx2;
}
