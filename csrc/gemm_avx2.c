/* AVX2+FMA GEMM: the 6 x 16 and 5 x 16 micro-kernels and the packing routines that feed them.
 * Compiled with -mavx2 -mfma and only entered through the dispatch table after CPUID+XGETBV
 * said yes.
 *
 * Register budget of the kernel: twelve ymm accumulators, two B vectors, one A broadcast
 * (15 of 16). GCC's allocator does not reliably fit that from intrinsics (it spilled an
 * accumulator inside the loop, costing ~15% of the kernel), so on GNU-compatible compilers the
 * K loop is inline assembly with the accumulators bound to registers; other compilers get the
 * same arithmetic from intrinsics.
 *
 * Every element of C is computed by one recipe, whatever tile, edge or orientation it falls
 * in: acc = 0; acc = fma(a_p, b_p, acc) for p in order; c = alpha * acc; if beta != 0,
 * c = fma(beta, c_old, c). That is what makes results independent of the thread count. */
#include <immintrin.h>
#include <string.h>

#include "annc.h"
#include "internal.h"
#include "avx2_lanes.h"

#define AMR 6
#define ANR 16


/* ---------------------------------------------------------------- micro-kernel */

/* In-register transpose of eight rows of eight. */
static inline void transpose8(__m256 *r) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}



/* lo, hi already scaled by alpha */
static inline void store_row(float *c, __m256 lo, __m256 hi, __m256 vb, int beta_nz) {
    if (beta_nz) {
        lo = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), lo);
        hi = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), hi);
    }
    _mm256_storeu_ps(c, lo);
    _mm256_storeu_ps(c + 8, hi);
}

#if defined(__GNUC__) || defined(__clang__)
#define ANNC_ASM_KERNEL 1
/* one k step: B row p (two vectors, %r9) times the six A values of column p (%r8), then the
 * A pointer moves one column (%r11 bytes) */
#define ANNC_ASTEP(bo0, bo1)                                  \
    "vmovaps " #bo0 "(%%r9), %%ymm13\n\t"                     \
    "vmovaps " #bo1 "(%%r9), %%ymm14\n\t"                     \
    "vbroadcastss 0(%%r8), %%ymm15\n\t"                       \
    "vfmadd231ps %%ymm13, %%ymm15, %[c00]\n\t"                \
    "vfmadd231ps %%ymm14, %%ymm15, %[c01]\n\t"                \
    "vbroadcastss 4(%%r8), %%ymm15\n\t"                       \
    "vfmadd231ps %%ymm13, %%ymm15, %[c10]\n\t"                \
    "vfmadd231ps %%ymm14, %%ymm15, %[c11]\n\t"                \
    "vbroadcastss 8(%%r8), %%ymm15\n\t"                       \
    "vfmadd231ps %%ymm13, %%ymm15, %[c20]\n\t"                \
    "vfmadd231ps %%ymm14, %%ymm15, %[c21]\n\t"                \
    "vbroadcastss 12(%%r8), %%ymm15\n\t"                      \
    "vfmadd231ps %%ymm13, %%ymm15, %[c30]\n\t"                \
    "vfmadd231ps %%ymm14, %%ymm15, %[c31]\n\t"                \
    "vbroadcastss 16(%%r8), %%ymm15\n\t"                      \
    "vfmadd231ps %%ymm13, %%ymm15, %[c40]\n\t"                \
    "vfmadd231ps %%ymm14, %%ymm15, %[c41]\n\t"                \
    "vbroadcastss 20(%%r8), %%ymm15\n\t"                      \
    "vfmadd231ps %%ymm13, %%ymm15, %[c50]\n\t"                \
    "vfmadd231ps %%ymm14, %%ymm15, %[c51]\n\t"                \
    "add %%r11, %%r8\n\t"
/* The six-row tile's K loop, 4 steps per round with `extra` (a prefetch hint, or nothing)
 * once per round; the accumulators in registers, the operands in `args`. */
#define ANNC_TILE6_ASM(extra)                                                              \
    __asm__("mov 0(%[args]), %%r8\n\t"                                                     \
            "mov 8(%[args]), %%r9\n\t"                                                     \
            "mov 16(%[args]), %%r10\n\t"                                                   \
            "mov 24(%[args]), %%r11\n\t"                                                   \
            "mov 32(%[args]), %%r12\n\t"                                                   \
            "cmp $4, %%r10\n\t"                                                            \
            "jl 2f\n\t"                                                                    \
            ".p2align 5\n"                                                                 \
            "1:\n\t" ANNC_ASTEP(0, 32) ANNC_ASTEP(64, 96) ANNC_ASTEP(128, 160)              \
                ANNC_ASTEP(192, 224) "prefetcht0 512(%%r9)\n\t" extra                      \
            "add $256, %%r9\n\t"                                                           \
            "sub $4, %%r10\n\t"                                                            \
            "cmp $4, %%r10\n\t"                                                            \
            "jge 1b\n"                                                                     \
            "2:\n\t"                                                                       \
            "test %%r10, %%r10\n\t"                                                        \
            "jz 4f\n"                                                                      \
            "3:\n\t" ANNC_ASTEP(0, 32) "add $64, %%r9\n\t"                                \
            "dec %%r10\n\t"                                                                \
            "jnz 3b\n"                                                                     \
            "4:\n\t"                                                                       \
            : [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10), [c11] "+x"(c11),          \
              [c20] "+x"(c20), [c21] "+x"(c21), [c30] "+x"(c30), [c31] "+x"(c31),          \
              [c40] "+x"(c40), [c41] "+x"(c41), [c50] "+x"(c50), [c51] "+x"(c51)           \
            : [args] "r"(&args), "m"(args)                                                 \
            : "cc", "memory", "r8", "r9", "r10", "r11", "r12", "xmm13", "xmm14", "xmm15")
/* the same step for the five-row tile */
#define ANNC_ASTEP5(bo0, bo1)                                 \
    "vmovaps " #bo0 "(%%r9), %%ymm13\n\t"                     \
    "vmovaps " #bo1 "(%%r9), %%ymm14\n\t"                     \
    "vbroadcastss 0(%%r8), %%ymm15\n\t"                       \
    "vfmadd231ps %%ymm13, %%ymm15, %[c00]\n\t"                \
    "vfmadd231ps %%ymm14, %%ymm15, %[c01]\n\t"                \
    "vbroadcastss 4(%%r8), %%ymm15\n\t"                       \
    "vfmadd231ps %%ymm13, %%ymm15, %[c10]\n\t"                \
    "vfmadd231ps %%ymm14, %%ymm15, %[c11]\n\t"                \
    "vbroadcastss 8(%%r8), %%ymm15\n\t"                       \
    "vfmadd231ps %%ymm13, %%ymm15, %[c20]\n\t"                \
    "vfmadd231ps %%ymm14, %%ymm15, %[c21]\n\t"                \
    "vbroadcastss 12(%%r8), %%ymm15\n\t"                      \
    "vfmadd231ps %%ymm13, %%ymm15, %[c30]\n\t"                \
    "vfmadd231ps %%ymm14, %%ymm15, %[c31]\n\t"                \
    "vbroadcastss 16(%%r8), %%ymm15\n\t"                      \
    "vfmadd231ps %%ymm13, %%ymm15, %[c40]\n\t"                \
    "vfmadd231ps %%ymm14, %%ymm15, %[c41]\n\t"                \
    "add %%r11, %%r8\n\t"
#endif

/* One run of six floats of C^T at c: a4 its first four, and its last two the low (hi = 0) or
 * high (hi = 1) pair of `pair`. Stored as they are, or with beta: c = fma(beta, c, acc), the
 * kernel's contract. */
static inline void put_run6(float *c, __m128 a4, __m128 pair, int hi, int beta_nz, __m128 vb) {
    if (!beta_nz) {
        _mm_storeu_ps(c, a4);
        if (hi)
            _mm_storeh_pi((__m64 *)(c + 4), pair);
        else
            _mm_storel_pi((__m64 *)(c + 4), pair);
        return;
    }
    const __m128 a2 = hi ? _mm_movehl_ps(pair, pair) : pair;
    _mm_storeu_ps(c, _mm_fmadd_ps(vb, _mm_loadu_ps(c), a4));
    const __m128 old = _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)(c + 4));
    _mm_storel_pi((__m64 *)(c + 4), _mm_fmadd_ps(vb, old, a2));
}

/* Eight columns of a C^T tile, r[0..5] holding its six rows, written (or, with beta, added)
 * as eight runs of six floats at c + q * csc: 4 x 4 transposes within each 128-bit lane for
 * rows 0-3 and pairs for rows 4-5 (a third of the shuffles and stores of a padded 8 x 8
 * transpose). With beta these are the tiles after a product's first K block and the block
 * products that add onto a plane (train.c), where the general path's 8 x 8 transpose and
 * masked loads cost 12% of such a product. */
static inline void store_ct8(float *c, ptrdiff_t csc, const __m256 *r, int beta_nz, __m256 vb8) {
    const __m128 vb = _mm256_castps256_ps128(vb8);
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 q0 = _mm256_shuffle_ps(t0, t2, 0x44), q1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 q2 = _mm256_shuffle_ps(t1, t3, 0x44), q3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u0 = _mm256_unpacklo_ps(r[4], r[5]), u1 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m128 u0l = _mm256_castps256_ps128(u0), u0h = _mm256_extractf128_ps(u0, 1);
    const __m128 u1l = _mm256_castps256_ps128(u1), u1h = _mm256_extractf128_ps(u1, 1);
    put_run6(c + 0 * csc, _mm256_castps256_ps128(q0), u0l, 0, beta_nz, vb);
    put_run6(c + 1 * csc, _mm256_castps256_ps128(q1), u0l, 1, beta_nz, vb);
    put_run6(c + 2 * csc, _mm256_castps256_ps128(q2), u1l, 0, beta_nz, vb);
    put_run6(c + 3 * csc, _mm256_castps256_ps128(q3), u1l, 1, beta_nz, vb);
    put_run6(c + 4 * csc, _mm256_extractf128_ps(q0, 1), u0h, 0, beta_nz, vb);
    put_run6(c + 5 * csc, _mm256_extractf128_ps(q1, 1), u0h, 1, beta_nz, vb);
    put_run6(c + 6 * csc, _mm256_extractf128_ps(q2, 1), u1h, 0, beta_nz, vb);
    put_run6(c + 7 * csc, _mm256_extractf128_ps(q3, 1), u1h, 1, beta_nz, vb);
}

/* The first n (1..6) lanes of v to dst, with plain stores (masked stores are slow on AMD). */
static inline void store_run(float *dst, __m256 v, int n) {
    const __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    switch (n) {
    case 6: _mm_storeu_ps(dst, lo); _mm_storel_pi((__m64 *)(dst + 4), hi); break;
    case 5: _mm_storeu_ps(dst, lo); _mm_store_ss(dst + 4, hi); break;
    case 4: _mm_storeu_ps(dst, lo); break;
    case 3: _mm_storel_pi((__m64 *)dst, lo); _mm_store_ss(dst + 2, _mm_movehl_ps(lo, lo)); break;
    case 2: _mm_storel_pi((__m64 *)dst, lo); break;
    default: _mm_store_ss(dst, lo); break;
    }
}

/* Every tile store but the two common full ones: C edges (masked), C^T with beta or partial
 * (transposed in registers), anything else (no unit stride) through a scratch tile. Out of line so that the
 * kernel itself keeps a small frame. acc[0..5] are the rows' low halves, acc[6..11] the high
 * halves, already scaled by alpha; the arithmetic is the kernel's. */
static ANNC_NOINLINE void store_tile_other(float *c, ptrdiff_t rsc, ptrdiff_t csc,
                                          const __m256 *acc, __m256 vb, int beta_nz, int mr,
                                          int nr) {
    const __m256 c00 = acc[0], c10 = acc[1], c20 = acc[2], c30 = acc[3], c40 = acc[4], c50 = acc[5];
    const __m256 c01 = acc[6], c11 = acc[7], c21 = acc[8], c31 = acc[9], c41 = acc[10], c51 = acc[11];
    if (csc == 1) {
        /* edge tile of C: the same arithmetic, stores clipped by lane masks (never touching
         * C outside the mr x nr tile) */
        const __m256i m0 = annc_first_lanes(ANNC_MIN(nr, 8));
        const __m256i m1 = annc_first_lanes(ANNC_MAX(nr - 8, 0));
        const __m256 lo[AMR] = {c00, c10, c20, c30, c40, c50};
        const __m256 hi[AMR] = {c01, c11, c21, c31, c41, c51};
        for (int i = 0; i < mr; i++) {
            float *ci = c + i * rsc;
            __m256 l = lo[i], h = hi[i];
            if (beta_nz) {
                l = _mm256_fmadd_ps(vb, _mm256_maskload_ps(ci, m0), l);
                h = _mm256_fmadd_ps(vb, _mm256_maskload_ps(ci + 8, m1), h);
            }
            _mm256_maskstore_ps(ci, m0, l);
            _mm256_maskstore_ps(ci + 8, m1, h);
        }
        return;
    }
    if (rsc == 1) {
        /* the driver computes C^T: tile column j is a run of mr floats of the caller's row j;
         * transpose in registers (zero rows pad mr x 8 to 8 x 8) and store runs */
        const __m256i mm = annc_first_lanes(mr);
        for (int h = 0; h < 2 && h * 8 < nr; h++) {
            __m256 r[8];
            if (h == 0) {
                r[0] = c00; r[1] = c10; r[2] = c20; r[3] = c30; r[4] = c40; r[5] = c50;
            } else {
                r[0] = c01; r[1] = c11; r[2] = c21; r[3] = c31; r[4] = c41; r[5] = c51;
            }
            if (mr == AMR && nr - h * 8 >= 8) {
                store_ct8(c + h * 8 * csc, csc, r, beta_nz, vb);
                continue;
            }
            for (int i = mr; i < 8; i++) r[i] = _mm256_setzero_ps();
            transpose8(r);
            const int nq = ANNC_MIN(8, nr - h * 8);
            for (int q = 0; q < nq; q++) {
                float *cq = c + (h * 8 + q) * csc;
                __m256 v = r[q];
                if (beta_nz) v = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cq, mm), v);
                store_run(cq, v, mr);
            }
        }
        return;
    }
    /* any other layout: the same arithmetic on a scratch tile, then copy the mr x nr */
    float t[AMR * ANR];
    if (beta_nz) {
        memset(t, 0, sizeof t);
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < nr; j++) t[i * ANR + j] = c[i * rsc + j * csc];
    }
    store_row(t + 0 * ANR, c00, c01, vb, beta_nz);
    store_row(t + 1 * ANR, c10, c11, vb, beta_nz);
    store_row(t + 2 * ANR, c20, c21, vb, beta_nz);
    store_row(t + 3 * ANR, c30, c31, vb, beta_nz);
    store_row(t + 4 * ANR, c40, c41, vb, beta_nz);
    store_row(t + 5 * ANR, c50, c51, vb, beta_nz);
    for (int j = 0; j < nr; j++)
        for (int i = 0; i < mr; i++) c[i * rsc + j * csc] = t[i * ANR + j];
}

/* One tile: C[0:mr, 0:nr] (element (i, j) at c[i * rsc + j * csc]) = alpha * Ap.Bp + beta * C,
 * where column p of Ap is ap[p * lda_p .. p * lda_p + 5] (lda_p = 6 for a packed panel).
 * ab = {alpha, beta}: passed in memory so that no scalar stays live across the K loop. */
ANNC_INLINE void
tile_6x16(ptrdiff_t k, const float *restrict ap, const float *restrict bp, ptrdiff_t lda_p,
          float *restrict c, ptrdiff_t rsc, ptrdiff_t csc, const float *ab, int mr, int nr,
          const float *pf) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();

    if (csc == 1 && k >= 64) {
        /* the tile's rows are written at the end; start their lines on the way now (a short
         * K loop would not hide the latency, and small products have C in cache anyway) */
        for (int i = 0; i < mr; i++) {
            _mm_prefetch((const char *)(c + i * rsc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + i * rsc + 15), _MM_HINT_T0);
        }
    }

#ifdef ANNC_ASM_KERNEL
    {
        /* the operands go in through memory: GCC allows 30 asm operands and the twelve
         * accumulators (in and out) take 24 */
        struct { const float *a, *b; ptrdiff_t k, as; const float *pf; } args = {ap, bp, k,
                                                                                  lda_p * 4, pf};
        if (pf) /* 16 bytes of the hinted row per 4 k steps: k floats in all */
            ANNC_TILE6_ASM("prefetcht1 (%%r12)\n\t"
                           "add $16, %%r12\n\t");
        else
            ANNC_TILE6_ASM("");
    }
#else
    (void)pf;
    for (ptrdiff_t p = 0; p < k; p++) {
        const __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
        __m256 a;
        a = _mm256_broadcast_ss(ap + 0); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(ap + 1); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(ap + 2); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(ap + 3); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
        a = _mm256_broadcast_ss(ap + 4); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
        a = _mm256_broadcast_ss(ap + 5); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
        ap += lda_p;
        bp += ANR;
    }
#endif

    const float alpha = ab[0], beta = ab[1];
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    const int beta_nz = beta != 0.0f;
    if (alpha != 1.0f) {
        /* alpha * acc; skipped for alpha == 1, where it is exact anyway */
        c00 = _mm256_mul_ps(c00, va); c01 = _mm256_mul_ps(c01, va);
        c10 = _mm256_mul_ps(c10, va); c11 = _mm256_mul_ps(c11, va);
        c20 = _mm256_mul_ps(c20, va); c21 = _mm256_mul_ps(c21, va);
        c30 = _mm256_mul_ps(c30, va); c31 = _mm256_mul_ps(c31, va);
        c40 = _mm256_mul_ps(c40, va); c41 = _mm256_mul_ps(c41, va);
        c50 = _mm256_mul_ps(c50, va); c51 = _mm256_mul_ps(c51, va);
    }
    if (mr == AMR && nr == ANR && csc == 1) {
        store_row(c + 0 * rsc, c00, c01, vb, beta_nz);
        store_row(c + 1 * rsc, c10, c11, vb, beta_nz);
        store_row(c + 2 * rsc, c20, c21, vb, beta_nz);
        store_row(c + 3 * rsc, c30, c31, vb, beta_nz);
        store_row(c + 4 * rsc, c40, c41, vb, beta_nz);
        store_row(c + 5 * rsc, c50, c51, vb, beta_nz);
        return;
    }
    if (rsc == 1 && mr == AMR && nr == ANR) {
        /* the driver computes C^T (every tile of the swapped training shapes): tile column j
         * is a run of six floats of the caller's row j */
        const __m256 lo[AMR] = {c00, c10, c20, c30, c40, c50};
        const __m256 hi[AMR] = {c01, c11, c21, c31, c41, c51};
        if (beta_nz) { /* two copies, beta a constant in each: no test per run */
            store_ct8(c, csc, lo, 1, vb);
            store_ct8(c + 8 * csc, csc, hi, 1, vb);
        } else {
            store_ct8(c, csc, lo, 0, vb);
            store_ct8(c + 8 * csc, csc, hi, 0, vb);
        }
        return;
    }
    const __m256 acc[2 * AMR] = {c00, c10, c20, c30, c40, c50, c01, c11, c21, c31, c41, c51};
    store_tile_other(c, rsc, csc, acc, vb, beta_nz, mr, nr);
}

/* Eight columns of a five-row C^T tile (r[0..4] its rows) as eight runs of five floats. */
static inline void store_ct8_5(float *c, ptrdiff_t csc, const __m256 *r) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 q[4] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xEE),
                         _mm256_shuffle_ps(t1, t3, 0x44), _mm256_shuffle_ps(t1, t3, 0xEE)};
    float r4[8];
    _mm256_storeu_ps(r4, r[4]);
    for (int j = 0; j < 4; j++) {
        _mm_storeu_ps(c + j * csc, _mm256_castps256_ps128(q[j]));
        _mm_storeu_ps(c + (j + 4) * csc, _mm256_extractf128_ps(q[j], 1));
    }
    for (int j = 0; j < 8; j++) c[j * csc + 4] = r4[j];
}

/* The five-row tile: for a side of 10 (the 10-class output layer) six-row panels would pad to
 * 12 and waste a sixth of the FMAs; 10 accumulators, otherwise the six-row kernel exactly,
 * with the same per-element arithmetic. */
ANNC_INLINE void
tile_5x16(ptrdiff_t k, const float *restrict ap, const float *restrict bp, ptrdiff_t lda_p,
          float *restrict c, ptrdiff_t rsc, ptrdiff_t csc, const float *ab, int mr, int nr) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
#ifdef ANNC_ASM_KERNEL
    {
        struct { const float *a, *b; ptrdiff_t k, as; } args = {ap, bp, k, lda_p * 4};
        __asm__(
            "mov 0(%[args]), %%r8\n\t"
            "mov 8(%[args]), %%r9\n\t"
            "mov 16(%[args]), %%r10\n\t"
            "mov 24(%[args]), %%r11\n\t"
            "cmp $4, %%r10\n\t"
            "jl 2f\n\t"
            ".p2align 5\n"
            "1:\n\t"
            ANNC_ASTEP5(0, 32)
            ANNC_ASTEP5(64, 96)
            ANNC_ASTEP5(128, 160)
            ANNC_ASTEP5(192, 224)
            "prefetcht0 512(%%r9)\n\t"
            "add $256, %%r9\n\t"
            "sub $4, %%r10\n\t"
            "cmp $4, %%r10\n\t"
            "jge 1b\n"
            "2:\n\t"
            "test %%r10, %%r10\n\t"
            "jz 4f\n"
            "3:\n\t"
            ANNC_ASTEP5(0, 32)
            "add $64, %%r9\n\t"
            "dec %%r10\n\t"
            "jnz 3b\n"
            "4:\n\t"
            : [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10), [c11] "+x"(c11),
              [c20] "+x"(c20), [c21] "+x"(c21), [c30] "+x"(c30), [c31] "+x"(c31),
              [c40] "+x"(c40), [c41] "+x"(c41)
            : [args] "r"(&args), "m"(args)
            : "cc", "memory", "r8", "r9", "r10", "r11", "xmm13", "xmm14", "xmm15");
    }
#else
    for (ptrdiff_t p = 0; p < k; p++) {
        const __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
        __m256 a;
        a = _mm256_broadcast_ss(ap + 0); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(ap + 1); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(ap + 2); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(ap + 3); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
        a = _mm256_broadcast_ss(ap + 4); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
        ap += lda_p;
        bp += ANR;
    }
#endif
    const float alpha = ab[0], beta = ab[1];
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    const int beta_nz = beta != 0.0f;
    if (alpha != 1.0f) {
        c00 = _mm256_mul_ps(c00, va); c01 = _mm256_mul_ps(c01, va);
        c10 = _mm256_mul_ps(c10, va); c11 = _mm256_mul_ps(c11, va);
        c20 = _mm256_mul_ps(c20, va); c21 = _mm256_mul_ps(c21, va);
        c30 = _mm256_mul_ps(c30, va); c31 = _mm256_mul_ps(c31, va);
        c40 = _mm256_mul_ps(c40, va); c41 = _mm256_mul_ps(c41, va);
    }
    if (mr == 5 && nr == ANR && csc == 1) {
        store_row(c + 0 * rsc, c00, c01, vb, beta_nz);
        store_row(c + 1 * rsc, c10, c11, vb, beta_nz);
        store_row(c + 2 * rsc, c20, c21, vb, beta_nz);
        store_row(c + 3 * rsc, c30, c31, vb, beta_nz);
        store_row(c + 4 * rsc, c40, c41, vb, beta_nz);
        return;
    }
    if (rsc == 1 && mr == 5 && nr == ANR && !beta_nz) {
        const __m256 lo[5] = {c00, c10, c20, c30, c40};
        const __m256 hi[5] = {c01, c11, c21, c31, c41};
        store_ct8_5(c, csc, lo);
        store_ct8_5(c + 8 * csc, csc, hi);
        return;
    }
    const __m256 z = _mm256_setzero_ps();
    const __m256 acc[2 * AMR] = {c00, c10, c20, c30, c40, z, c01, c11, c21, c31, c41, z};
    store_tile_other(c, rsc, csc, acc, vb, beta_nz, mr, nr);
}

static void ukr_avx2_5x16(ptrdiff_t k, const float *ap, ptrdiff_t ap_next, ptrdiff_t lda_p,
                          const float *bp, float *c, ptrdiff_t c_next, ptrdiff_t rsc,
                          ptrdiff_t csc, const float *ab, ptrdiff_t mc, int nr,
                          const annc_pf_hint *pf) {
    (void)pf; /* taken for the ten-wide side, whose B is never streamed */
    for (ptrdiff_t i = 0; i < mc; i += 5, ap += ap_next, c += c_next)
        tile_5x16(k, ap, bp, lda_p, c, rsc, csc, ab, (int)ANNC_MIN((ptrdiff_t)5, mc - i), nr);
}

/* A column of tiles: rows [0, mc) of C in panels of six, all against one B panel. The loop
 * lives here rather than in the driver so that a short K (the 10-wide training products) does
 * not pay a call and a frame per tile. */
static void ukr_avx2_6x16(ptrdiff_t k, const float *ap, ptrdiff_t ap_next, ptrdiff_t lda_p,
                          const float *bp, float *c, ptrdiff_t c_next, ptrdiff_t rsc,
                          ptrdiff_t csc, const float *ab, ptrdiff_t mc, int nr,
                          const annc_pf_hint *pf) {
    ptrdiff_t q = 0;
    for (ptrdiff_t i = 0; i < mc; i += AMR, ap += ap_next, c += c_next, q++)
        tile_6x16(k, ap, bp, lda_p, c, rsc, csc, ab, (int)ANNC_MIN((ptrdiff_t)AMR, mc - i), nr,
                  pf && q < pf->rows ? pf->p + q * pf->ld : NULL);
}

/* ---------------------------------------------------------------- packing */

/* Ap <- rows [0, mc) x cols [0, kc) of the view (a, rs, cs) as ceil(mc/6) panels of kc
 * columns of 6 values; rows past mc are zero. */
static void pack_a_avx2(float *restrict ap, const float *a, ptrdiff_t rs, ptrdiff_t cs,
                        ptrdiff_t mc, ptrdiff_t kc) {
    for (ptrdiff_t ir = 0; ir < mc; ir += AMR) {
        const int mr = (int)ANNC_MIN((ptrdiff_t)AMR, mc - ir);
        const float *src = a + ir * rs;
        if (rs == 1) {
            /* op(A) stored transposed: each panel column is mr contiguous values */
            if (mr == AMR) {
                for (ptrdiff_t p = 0; p < kc; p++) {
                    const float *s = src + p * cs;
                    _mm_storeu_ps(ap + p * AMR, _mm_loadu_ps(s));
                    _mm_storel_pi((__m64 *)(ap + p * AMR + 4), _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)(s + 4)));
                }
            } else {
                const __m256i mk = annc_first_lanes(mr);
                for (ptrdiff_t p = 0; p < kc; p++) {
                    /* maskload never touches the lanes past mr */
                    const __m256 v = _mm256_maskload_ps(src + p * cs, mk);
                    _mm_storeu_ps(ap + p * AMR, _mm256_castps256_ps128(v));
                    _mm_storel_pi((__m64 *)(ap + p * AMR + 4), _mm256_extractf128_ps(v, 1));
                }
            }
        } else if (cs == 1 && mr == AMR) {
            /* row-major A: transpose 6 x 8 blocks (two zero rows make it 8 x 8) */
            ptrdiff_t p = 0;
            for (; p + 8 <= kc; p += 8) {
                __m256 r[8];
                for (int i = 0; i < AMR; i++) r[i] = _mm256_loadu_ps(src + i * rs + p);
                r[6] = r[7] = _mm256_setzero_ps();
                transpose8(r);
                float *d = ap + p * AMR;
                /* column q of the block goes to d[6q .. 6q+5]; the two extra lanes of each
                 * store are overwritten by the next one, the last store is trimmed */
                for (int q = 0; q < 7; q++) _mm256_storeu_ps(d + q * AMR, r[q]);
                _mm_storeu_ps(d + 7 * AMR, _mm256_castps256_ps128(r[7]));
                _mm_storel_pi((__m64 *)(d + 7 * AMR + 4), _mm256_extractf128_ps(r[7], 1));
            }
            for (; p < kc; p++)
                for (int i = 0; i < AMR; i++) ap[p * AMR + i] = src[i * rs + p];
        } else {
            for (int i = 0; i < mr; i++) {
                const float *s = src + i * rs;
                for (ptrdiff_t p = 0; p < kc; p++) ap[p * AMR + i] = s[p * cs];
            }
            for (int i = mr; i < AMR; i++)
                for (ptrdiff_t p = 0; p < kc; p++) ap[p * AMR + i] = 0.0f;
        }
        ap += (ptrdiff_t)AMR * kc;
    }
}

/* Ap for the five-row kernel. Its operands are the 10-wide ones, stored transposed (rs == 1)
 * in the training shapes; anything else takes the plain loop. */
static void pack_a5_avx2(float *restrict ap, const float *a, ptrdiff_t rs, ptrdiff_t cs,
                         ptrdiff_t mc, ptrdiff_t kc) {
    for (ptrdiff_t ir = 0; ir < mc; ir += 5) {
        const int mr = (int)ANNC_MIN((ptrdiff_t)5, mc - ir);
        const float *src = a + ir * rs;
        if (rs == 1 && mr == 5) {
            for (ptrdiff_t p = 0; p < kc; p++) {
                const float *s = src + p * cs;
                _mm_storeu_ps(ap + p * 5, _mm_loadu_ps(s));
                ap[p * 5 + 4] = s[4];
            }
        } else {
            for (ptrdiff_t p = 0; p < kc; p++) {
                for (int i = 0; i < mr; i++) ap[p * 5 + i] = src[i * rs + p * cs];
                for (int i = mr; i < 5; i++) ap[p * 5 + i] = 0.0f;
            }
        }
        ap += 5 * kc;
    }
}

/* Bp <- rows [0, kc) x cols [0, nc) of the view (b, rs, cs) as ceil(nc/16) panels of kc rows
 * of 16 values; columns past nc are zero. */
static void pack_b_avx2(float *restrict bp, const float *b, ptrdiff_t rs, ptrdiff_t cs,
                        ptrdiff_t kc, ptrdiff_t nc) {
    for (ptrdiff_t jr = 0; jr < nc; jr += ANR) {
        const int nr = (int)ANNC_MIN((ptrdiff_t)ANR, nc - jr);
        const float *src = b + jr * cs;
        if (cs == 1) {
            if (nr == ANR) {
                for (ptrdiff_t p = 0; p < kc; p++) {
                    const float *s = src + p * rs;
                    _mm256_store_ps(bp + p * ANR, _mm256_loadu_ps(s));
                    _mm256_store_ps(bp + p * ANR + 8, _mm256_loadu_ps(s + 8));
                }
            } else {
                const __m256i m0 = annc_first_lanes(ANNC_MIN(nr, 8));
                const __m256i m1 = annc_first_lanes(ANNC_MAX(nr - 8, 0));
                for (ptrdiff_t p = 0; p < kc; p++) {
                    const float *s = src + p * rs;
                    _mm256_store_ps(bp + p * ANR, _mm256_maskload_ps(s, m0));
                    _mm256_store_ps(bp + p * ANR + 8, _mm256_maskload_ps(s + 8, m1));
                }
            }
        } else if (rs == 1) {
            /* op(B) stored transposed: column j of the panel is contiguous in p; transpose
             * 8 x 8 blocks of (j, p) into (p, j) */
            ptrdiff_t p = 0;
            for (; p + 8 <= kc; p += 8) {
                for (int h = 0; h < ANR; h += 8) {
                    __m256 r[8];
                    const int n8 = ANNC_MAX(0, ANNC_MIN(8, nr - h));
                    for (int q = 0; q < 8; q++)
                        r[q] = q < n8 ? _mm256_loadu_ps(src + (h + q) * cs + p) : _mm256_setzero_ps();
                    transpose8(r);
                    for (int q = 0; q < 8; q++) _mm256_store_ps(bp + (p + q) * ANR + h, r[q]);
                }
            }
            if (p < kc) {
                const int rem = (int)(kc - p);
                for (ptrdiff_t q = p; q < kc; q++)
                    for (int j = 0; j < ANR; j++) bp[q * ANR + j] = 0.0f;
                for (int j = 0; j < nr; j++)
                    for (int q = 0; q < rem; q++) bp[(p + q) * ANR + j] = src[j * cs + p + q];
            }
        } else {
            for (ptrdiff_t p = 0; p < kc; p++) {
                for (int j = 0; j < nr; j++) bp[p * ANR + j] = src[p * rs + j * cs];
                for (int j = nr; j < ANR; j++) bp[p * ANR + j] = 0.0f;
            }
        }
        bp += (ptrdiff_t)ANR * kc;
    }
}

void annc_kernels_avx2(annc_kernels *t) {
    t->isa = ANNC_ISA_AVX2;
    t->gemm_ukr = ukr_avx2_6x16;
    t->pack_a = pack_a_avx2;
    t->pack_b = pack_b_avx2;
    t->MR = AMR;
    t->NR = ANR;
    t->gemm_ukr_alt = ukr_avx2_5x16;
    t->pack_a_alt = pack_a5_avx2;
    t->MR_alt = 5;
    t->KC = 256;
    t->MC = 168;
    t->NC = 4080;
}
