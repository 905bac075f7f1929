/* The training executor's block sums (annc_block_sums, annc.h): a K-blocked layer's output
 * rows from the planes its blocks' partial products were added onto. Once per step on the
 * tail's rows, between the block products and everything after them, so the tail waits on
 * it: the AVX2 kernel (blocksums_avx2.c) forms each vector of a row in registers, over all
 * its planes, the bias and the ReLU, where the portable loops below make a pass per plane. */
#include "annc.h"
#include "internal.h"

void annc_block_sums(float *z, float *y, ptrdiff_t ld, ptrdiff_t rows, ptrdiff_t n,
                     const float *partials, size_t plane, ptrdiff_t nb, ptrdiff_t m0,
                     ptrdiff_t m1, const float *bias, int relu) {
    if (rows <= 0 || n <= 0 || nb < 2) return;
    const annc_kernels *K = annc_kernels_get();
    if (K->block_sums) {
        K->block_sums(z, y, ld, rows, n, partials, plane, nb, m0, m1, bias, relu);
        return;
    }
    const ptrdiff_t h = nb / 2;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const size_t off = (size_t)(r * ld);
        float *restrict zr = z + off;
        const float *p0 = partials + off, *ph = partials + (size_t)h * plane + off;
        for (ptrdiff_t j = 0; j < n; j++) zr[j] = p0[j];
        for (ptrdiff_t k = m0; k < h; k++) {
            const float *restrict pk = partials + (size_t)k * plane + off;
            for (ptrdiff_t j = 0; j < n; j++) zr[j] += pk[j];
        }
        for (ptrdiff_t j = 0; j < n; j++) {
            float t = ph[j];
            for (ptrdiff_t k = m1; k < nb; k++) t += partials[(size_t)k * plane + off + (size_t)j];
            zr[j] += t;
        }
        if (bias)
            for (ptrdiff_t j = 0; j < n; j++) zr[j] += bias[j];
        if (relu) {
            float *restrict yr = y ? y + off : zr;
            for (ptrdiff_t j = 0; j < n; j++) yr[j] = zr[j] < 0.0f ? 0.0f : zr[j];
        }
    }
}
