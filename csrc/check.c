/* Input validation helpers that must not allocate: training data is checked for NaN/inf once
 * per fit, and a temporary mask of a 60,000 x 784 array would cost 47 MB of fresh pages. */
#include <string.h>

#include "annc.h"
#include "internal.h"

/* exponent all ones: inf or NaN */
static inline int nonfinite_bits(uint32_t u) { return (u & 0x7f800000u) == 0x7f800000u; }

int annc_finite_generic(const float *x, ptrdiff_t n) {
    unsigned flag = 0;
    /* integer OR-reduction: vectorises without reassociating float arithmetic */
    for (ptrdiff_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        flag |= (unsigned)nonfinite_bits(u);
    }
    return !flag;
}

int64_t annc_first_nonfinite(const float *x, int64_t n) {
    const annc_kernels *K = annc_kernels_get();
    const int64_t block = 4096;
    for (int64_t b0 = 0; b0 < n; b0 += block) {
        const int64_t b1 = b0 + block < n ? b0 + block : n;
        if (!K->finite(x + b0, (ptrdiff_t)(b1 - b0)))
            for (int64_t i = b0; i < b1; i++) {
                uint32_t u;
                memcpy(&u, x + i, sizeof u);
                if (nonfinite_bits(u)) return i;
            }
    }
    return -1;
}
