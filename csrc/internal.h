/* Internal interfaces of the C core: the dispatch table and helpers shared between files. */
#ifndef ANNC_INTERNAL_H
#define ANNC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* A GEMM micro-kernel computes one MR x NR tile:
 *   C[0:mr, 0:nr] = alpha * Ap . Bp + beta * C   (beta == 0: C is written, never read)
 * Ap is a packed MR x k panel (column p holds MR contiguous values), Bp a packed k x NR panel
 * (row p holds NR contiguous values); both are zero-padded, so the kernel always computes a full
 * tile and only the store is clipped to mr x nr (the edge tiles live inside the kernel). */
typedef void (*annc_gemm_ukernel)(ptrdiff_t k, const float *ap, const float *bp, float *c,
                                  ptrdiff_t ldc, float alpha, float beta, int mr, int nr);

typedef struct annc_kernels {
    int isa;
    /* GEMM micro-kernel with the block sizes it was tuned for */
    annc_gemm_ukernel gemm_ukr;
    int MR, NR;      /* register tile */
    int KC, MC, NC;  /* L1 (k panel), L2 (A block rows), L3 (B block cols) */
} annc_kernels;

const annc_kernels *annc_kernels_get(void);
void annc_kernels_generic(annc_kernels *t);
#ifdef ANNC_HAVE_AVX2_KERNELS
void annc_kernels_avx2(annc_kernels *t);
#endif

/* Aligned allocation for workspaces the caller did not provide. */
void *annc_aligned_alloc(size_t bytes);
void annc_aligned_free(void *p);

/* Philox4x32-10 on one block (rng.c); exposed for known-answer tests. */
void annc_philox4x32_10(uint32_t out[4], const uint32_t in[4], uint32_t k0, uint32_t k1);

/* The annc_rng_* fills starting at element `start` of the stream: out[j] is element start + j
 * of what the public function would write for an array of any length > start + j. For C
 * callers that split one logical array across threads. */
void annc_rng_uniform_at(float *out, int64_t start, ptrdiff_t n, uint64_t key, uint64_t counter,
                         float lo, float hi);
void annc_rng_normal_at(float *out, int64_t start, ptrdiff_t n, uint64_t key, uint64_t counter,
                        float mean, float stddev);
void annc_rng_truncated_normal_at(float *out, int64_t start, ptrdiff_t n, uint64_t key,
                                  uint64_t counter, float mean, float stddev);
void annc_rng_dropout_mask_at(float *mask, int64_t start, ptrdiff_t n, uint64_t key,
                              uint64_t counter, float rate);

#define ANNC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ANNC_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
