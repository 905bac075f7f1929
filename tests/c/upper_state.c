/* Every AVX2 path of the C core must return with the upper halves of the YMM registers clear
 * (vzeroupper). Left dirty, the SSE code that runs next (the portable C around the kernels,
 * libm's expf in the loss) is slowed many times over on the cores we measure on: expf 15x
 * after a kernel that took a mask by value. This calls each entry point on small inputs and
 * reads XINUSE (xgetbv with ecx = 1) at once after it, before any library call could clear
 * the state. Built without AVX flags itself, so only the core sets the state.
 * Exit 0: all clean; 1: some left it dirty (named); 77: the CPU cannot tell (no XGETBV with
 * ecx = 1) or runs the portable kernels. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "annc.h"
#include "internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
static int can_read_inuse(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(0xD, 1, &a, &b, &c, &d)) return 0;
    return (a >> 2) & 1;
}
static int upper_dirty(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(1));
    return (lo >> 2) & 1; /* the AVX (YMM upper halves) component is in use */
}
#else
static int can_read_inuse(void) { return 0; }
static int upper_dirty(void) { return 0; }
#endif

static int failures;
static void check(const char *what) {
    if (upper_dirty()) {
        printf("dirty after %s\n", what);
        failures++;
    }
}

static float *floats(size_t n, unsigned seed, int sparse) {
    float *p = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (sparse && (seed >> 16) % 10 < 6) ? 0.0f : (float)((seed >> 8) % 2000) / 1000.0f - 1.0f;
    }
    return p;
}

int main(void) {
    if (!can_read_inuse() || annc_isa() != ANNC_ISA_AVX2) {
        printf("skip: cannot read XINUSE, or not the AVX2 kernels\n");
        return 77;
    }
    const ptrdiff_t m = 37, n = 100, k = 90;
    float *a = floats((size_t)m * k, 1, 1), *ad = floats((size_t)m * k, 2, 0);
    float *b = floats((size_t)k * n, 3, 0), *c = floats((size_t)200 * 128, 4, 0);
    float *bias = floats(128, 5, 0);
    /* products: dense, zero-skipping (both forms), narrow (both forms), short K, few rows */
    annc_sgemm(0, 0, m, n, k, 1.0f, ad, k, b, n, 0.0f, c, n, bias, ANNC_ACT_RELU, 0.0f, 1, NULL);
    check("annc_sgemm, dense");
    annc_sgemm(0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n, bias, ANNC_ACT_RELU, 0.0f, 1, NULL);
    check("annc_sgemm, zero-skipping rows");
    annc_sgemm(1, 0, k, n, m, 1.0f, a, k, b, n, 1.0f, c, n, NULL, ANNC_ACT_LINEAR, 0.0f, 1, NULL);
    check("annc_sgemm, zero-skipping columns");
    annc_sgemm(0, 0, m, 10, k, 1.0f, ad, k, b, 10, 0.0f, c, 10, bias, ANNC_ACT_LINEAR, 0.0f, 1,
               NULL);
    check("annc_sgemm, narrow");
    annc_sgemm(1, 0, k, 10, m, 1.0f, ad, k, b, 10, 1.0f, c, 10, NULL, ANNC_ACT_LINEAR, 0.0f, 1,
               NULL);
    check("annc_sgemm, narrow, A transposed");
    annc_sgemm(0, 1, m, n, 10, 1.0f, ad, 10, b, 10, 0.0f, c, n, NULL, ANNC_ACT_LINEAR, 0.0f, 1,
               NULL);
    check("annc_sgemm, short K");
    annc_sgemm(0, 0, m, n, k, 1.0f, ad, k, b, n, 0.0f, c, n, NULL, ANNC_ACT_LINEAR, 0.0f, 2, NULL);
    check("annc_sgemm, two threads");
    annc_rowgemm(1, n, k, ad, k, b, n, c, n, bias, ANNC_ACT_RELU, 0.0f);
    check("annc_rowgemm");

    /* the kernel table's entries the products above may not reach */
    const annc_kernels *K = annc_kernels_get();
    uint64_t rmask[64 * 2];
    uint32_t cmask[128 * 2];
    int64_t idx[8] = {3, 0, 5, 1, 7, 2, 6, 4};
    K->finite(b, k * n);
    check("finite");
    K->zs.mask_rows(rmask, 2, a, k, 8, k);
    check("zs.mask_rows");
    K->zs.mask_cols(cmask, 1, a, k, k, 8);
    check("zs.mask_cols");
    K->zs.gather_masks(c, k, a, k, idx, 8, k, rmask, cmask);
    check("zs.gather_masks");

    /* element-wise passes and the optimizers */
    for (int act = 0; act < ANNC_ACT_COUNT; act++) {
        if (act == ANNC_ACT_SOFTMAX) continue;
        annc_act_forward(act, 0.2f, c, ad, 1000);
        check("annc_act_forward");
        annc_act_backward(act, 0.2f, c, b, ad, ad, 1000);
        check("annc_act_backward");
    }
    annc_softmax_forward(c, 10, ad, 10, 30, 10);
    check("annc_softmax_forward");
    annc_softmax_backward(c, b, ad, 30, 10);
    check("annc_softmax_backward");
    annc_exp_shifted(c, ad, 0.5f, 13);
    check("annc_exp_shifted");
    annc_block_sums(c, c + 500, 100, 3, 37, ad, 300, 3, 1, 2, bias, 1);
    check("annc_block_sums");
    {
        int32_t classes[5] = {0, 9, 3, 3, 7};
        float *hws = calloc(ANNC_HEAD_WS_FLOATS + 8, sizeof(float));
        K->head(5, 90, 10, 56, ad, b, bias, classes, 0.2f, c, c + 100, c + 200, c + 300, hws);
        check("head");
        free(hws);
    }
    int32_t labels[3] = {0, 4, 12};
    annc_loss(ANNC_LOSS_SPARSE_CCE, 1, 0.0f, c, b, ad, labels, 3, 13, 1.0f);
    check("annc_loss, softmax cross-entropy from logits");
    for (int kind = 0; kind < ANNC_OPT_COUNT; kind++) {
        annc_optimizer o;
        memset(&o, 0, sizeof o);
        o.kind = kind;
        o.learning_rate = 1e-3f;
        o.rho = 0.9f;
        o.beta_1 = 0.9f;
        o.beta_2 = 0.999f;
        o.epsilon = 1e-7f;
        o.u_product = 1.0;
        annc_opt_prepare(&o);
        float *w = floats(1003, 6, 0), *s0 = calloc(1003, 4), *s1 = calloc(1003, 4),
              *s2 = calloc(1003, 4);
        annc_opt_apply(&o, w, b, s0, s1, s2, 1003);
        check("annc_opt_apply");
        free(w), free(s0), free(s1), free(s2);
    }
    printf("%d entry points left the upper halves dirty\n", failures);
    free(a), free(ad), free(b), free(c), free(bias);
    return failures ? 1 : 0;
}
