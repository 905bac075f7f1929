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

#define ANNC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ANNC_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
