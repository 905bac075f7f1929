/* Products whose C is at most ANNC_NARROW_MAX_N columns wide (a softmax layer over a few
 * classes: its forward product on a tail's share of rows, its weight gradient): the AVX2
 * kernel (narrow_avx2.c) reads A and B in place, where the packed GEMM would copy B, and a
 * transposed A, into panels first. The bits are the packed kernel's, so the GEMM driver takes
 * this path whenever it can; the switch exists for the tests and benchmarks that compare. */
#include "annc.h"
#include "internal.h"

/* the AVX2 packed kernel's NR: the rows of C a swapped tile covers */
#define NARROW_PACKED_ROWS 16
/* K blocks at most this deep go this way even for such multiples (see below) */
#define NARROW_SHALLOW_K 56

static int g_narrow_enabled = 1;
static annc_counter g_narrow_taken; /* products this path took: tests check that it ran */

void annc_set_narrow(int on) { g_narrow_enabled = on != 0; }
int annc_narrow(void) { return g_narrow_enabled; }
long long annc_narrow_taken(void) { return annc_count_read(&g_narrow_taken); }

int annc_narrow_product(int transa, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a,
                        ptrdiff_t lda, const float *b, ptrdiff_t ldb, int beta_one, float *c,
                        ptrdiff_t ldc, ptrdiff_t kc) {
    const annc_kernels *K = annc_kernels_get();
    if (!g_narrow_enabled || !K->narrow || m < 1 || n < 1 || n > ANNC_NARROW_MAX_N || k < 1 ||
        kc < 1)
        return 0;
    /* A multiple of NARROW_PACKED_ROWS rows fills the packed kernel's tiles of C^T, whose 16
     * lanes run along C's rows: it then does about a third fewer FMAs than the 10 of 16 lanes
     * here, which is worth its packing once the K blocks are deep (m = 16, k = 784: 1.27x
     * slower here; Program 1's 32-row blocks of 80: 1.09x). Blocks of up to 56 steps pay
     * for the packing less often than this path loses on lanes: 0.77x the packed time for 16
     * rows in blocks of 56 (a tail's share of Program 2's output layer), 0.83-0.95x for 32 and
     * 48 rows; with A transposed only for 16 rows (0.79-0.95x; 32 and 48 rows: 1.02-1.10x).
     * Any other count leaves lanes of those tiles idle: this path measured 0.2-0.9x the packed
     * time for 8-24 rows, and 0.6-0.9x for the transposed A of a weight gradient. */
    if (m % NARROW_PACKED_ROWS == 0 &&
        (ANNC_MIN(kc, k) > NARROW_SHALLOW_K || (transa && m > NARROW_PACKED_ROWS)))
        return 0;
    K->narrow(transa, m, n, k, a, lda, b, ldb, beta_one, c, ldc, ANNC_MIN(kc, k));
    annc_count_add(&g_narrow_taken);
    return 1;
}
