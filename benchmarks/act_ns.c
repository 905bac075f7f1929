/* ns per element of the element-wise activations (forward, backward), the softmax rows, and
 * the (32, 784, 100) Dense forward GEMM with and without a sigmoid / tanh epilogue, single
 * thread, straight against the C core (no binding overhead to subtract).
 *
 *   cc -O2 -Icsrc benchmarks/act_ns.c build/libannc_core.a -fopenmp -lm -o /tmp/act_ns
 *   /tmp/act_ns                     # dispatched kernels (AVX2+FMA where available)
 *   ANNC_ISA=generic /tmp/act_ns    # portable C (GEMM too)
 *
 * Inputs are uniform in [-6, 6] with random signs, as pre-activations are, so branchy scalar
 * code pays its mispredictions. Each cell is the best of 5 runs of ~10 ms. */
#define _POSIX_C_SOURCE 200112L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "annc.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;
static float uniform(float lo, float hi) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((rng_state >> 40) * (1.0 / 16777216.0));
}

typedef struct {
    int kind; /* 0 forward, 1 backward, 2 softmax fwd, 3 softmax bwd, 4 sgemm */
    int act;
    float param;
    ptrdiff_t n, rows, cols;
    float *x, *y, *dy, *dx, *a, *b, *c, *bias, *ws;
} job;

static void run(const job *j) {
    switch (j->kind) {
    case 0: annc_act_forward(j->act, j->param, j->y, j->x, j->n); break;
    case 1: annc_act_backward(j->act, j->param, j->dx, j->dy, j->x, j->y, j->n); break;
    case 2: annc_softmax_forward(j->y, j->cols, j->x, j->cols, j->rows, j->cols); break;
    case 3: annc_softmax_backward(j->dx, j->dy, j->y, j->rows, j->cols); break;
    default:
        annc_sgemm(0, 0, 32, 100, 784, 1.0f, j->a, 784, j->b, 100, 0.0f, j->c, 100, j->bias,
                   j->act, j->param, 1, j->ws);
    }
}

/* best seconds per call */
static double best(const job *j) {
    int reps = 1;
    for (;;) {
        const double t0 = now();
        for (int r = 0; r < reps; r++) run(j);
        if (now() - t0 > 2e-3) break;
        reps *= 2;
    }
    reps *= 5;
    double b = 1e30;
    for (int k = 0; k < 5; k++) {
        const double t0 = now();
        for (int r = 0; r < reps; r++) run(j);
        const double t = (now() - t0) / reps;
        if (t < b) b = t;
    }
    return b;
}

int main(void) {
    static const struct { int act; const char *name; float param; } acts[] = {
        {ANNC_ACT_RELU, "relu", 0}, {ANNC_ACT_SIGMOID, "sigmoid", 0}, {ANNC_ACT_TANH, "tanh", 0},
        {ANNC_ACT_ELU, "elu", 1}, {ANNC_ACT_SELU, "selu", 0}, {ANNC_ACT_SOFTPLUS, "softplus", 0},
        {ANNC_ACT_SOFTSIGN, "softsign", 0}, {ANNC_ACT_SWISH, "swish", 0},
        {ANNC_ACT_GELU, "gelu", 0}, {ANNC_ACT_LEAKY_RELU, "leaky_relu", 0.2f},
        {ANNC_ACT_GELU_TANH, "gelu_tanh", 0}};
    const ptrdiff_t sizes[2] = {3200, 100000}, nmax = 100000;
    job j = {0};
    j.x = malloc(sizeof(float) * nmax);
    j.y = malloc(sizeof(float) * nmax);
    j.dy = malloc(sizeof(float) * nmax);
    j.dx = malloc(sizeof(float) * nmax);
    for (ptrdiff_t i = 0; i < nmax; i++) {
        j.x[i] = uniform(-6, 6);
        j.dy[i] = uniform(-1, 1);
    }
    printf("isa=%s  ns/element, 1 thread\n", annc_isa_name(annc_isa()));
    printf("%-11s %10s %10s %10s %10s\n", "activation", "fwd 3200", "bwd 3200", "fwd 1e5",
           "bwd 1e5");
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        printf("%-11s", acts[a].name);
        j.act = acts[a].act;
        j.param = acts[a].param;
        for (int s = 0; s < 2; s++) {
            j.n = sizes[s];
            annc_act_forward(j.act, j.param, j.y, j.x, j.n);
            for (int kind = 0; kind < 2; kind++) {
                j.kind = kind;
                printf(" %10.3f", best(&j) / (double)j.n * 1e9);
            }
        }
        printf("\n");
    }
    static const ptrdiff_t sm[2][2] = {{32, 100}, {256, 10}};
    for (int s = 0; s < 2; s++) {
        j.rows = sm[s][0];
        j.cols = sm[s][1];
        for (ptrdiff_t i = 0; i < j.rows * j.cols; i++) j.x[i] = uniform(-12, 12);
        j.kind = 2;
        const double tf = best(&j);
        j.kind = 3;
        const double tb = best(&j);
        printf("softmax %lldx%lld: fwd %.3f  bwd %.3f ns/element\n", (long long)j.rows,
               (long long)j.cols, tf / (double)(j.rows * j.cols) * 1e9,
               tb / (double)(j.rows * j.cols) * 1e9);
    }
    j.a = malloc(sizeof(float) * 32 * 784);
    j.b = malloc(sizeof(float) * 784 * 100);
    j.c = malloc(sizeof(float) * 32 * 100);
    j.bias = malloc(sizeof(float) * 100);
    const size_t wsb = (annc_sgemm_workspace_floats(32, 100, 784, 1) * sizeof(float) + 63) / 64 * 64;
    j.ws = aligned_alloc(64, wsb);
    for (int i = 0; i < 32 * 784; i++) j.a[i] = uniform(-1, 1);
    for (int i = 0; i < 784 * 100; i++) j.b[i] = uniform(-0.1f, 0.1f);
    for (int i = 0; i < 100; i++) j.bias[i] = uniform(-1, 1);
    j.kind = 4;
    double lin = 0;
    static const struct { int act; const char *name; } ep[] = {
        {ANNC_ACT_LINEAR, "linear"}, {ANNC_ACT_SIGMOID, "sigmoid"}, {ANNC_ACT_TANH, "tanh"},
        {ANNC_ACT_GELU, "gelu"}};
    for (int e = 0; e < 4; e++) {
        j.act = ep[e].act;
        j.param = 0;
        const double t = best(&j);
        if (e == 0) lin = t;
        printf("sgemm (32,784,100) + bias + %-8s %8.2f us  (epilogue %+.2f us)\n", ep[e].name,
               t * 1e6, (t - lin) * 1e6);
    }
    return 0;
}
