/* Program 2's training step for the C harnesses of benchmarks/ (step_harness.c,
 * abba_harness.c): 784 -> 100 relu -> 10 softmax fused with the sparse cross-entropy,
 * RMSprop, batch 32, over 60,000 rows: the real ones from XFILE (60,000 x 784 float32 in
 * [0, 1], e.g. numpy: (x / 255).astype(np.float32).tofile(path)), else synthetic rows half of
 * whose values are zero, like Fashion-MNIST's pixels (the first layer's products skip zeros).
 * Weights, labels and row order are fixed, so every run starts from the same state. */
#ifndef ANNC_PROGRAM2_STEP_H
#define ANNC_PROGRAM2_STEP_H

#include "annc.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

enum { P2_B = 32, P2_N = 60000, P2_IN = 784, P2_H = 100, P2_O = 10 };

typedef struct {
    annc_layer L[2];
    annc_net net; /* its layers are L: the struct stays where p2_setup filled it */
    annc_optimizer opt;
    float *x, *params, *slot0;
    size_t nparams;
    int32_t *y;
    int64_t *perm;
    int metrics[1];
} p2_step;

static double p2_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *p2_zeros(size_t n) {
    float *p = aligned_alloc(64, (n * 4 + 63) / 64 * 64);
    memset(p, 0, n * 4);
    return p;
}

/* The net, its data and RMSprop on nt threads; 0, or 1 (with a message) when XFILE is set
 * and cannot be read. */
static int p2_setup(p2_step *p, int nt) {
    const int B = P2_B, N = P2_N, IN = P2_IN, H = P2_H, O = P2_O;
    memset(p, 0, sizeof *p);
    /* x on 2 MiB pages where the kernel allows it, as NumPy asks for its large arrays, so that
     * the gathers' random rows cost what they cost under fit */
    const size_t xbytes = ((size_t)N * IN * 4 + (1u << 21) - 1) & ~(size_t)((1u << 21) - 1);
    float *x = p->x = aligned_alloc(1u << 21, xbytes);
#ifdef MADV_HUGEPAGE
    madvise(x, xbytes, MADV_HUGEPAGE);
#endif
    memset(x, 0, xbytes);
    const char *xfile = getenv("XFILE");
    if (xfile) {
        FILE *f = fopen(xfile, "rb");
        if (!f || fread(x, 4, (size_t)N * IN, f) != (size_t)N * IN) {
            fprintf(stderr, "cannot read %s\n", xfile);
            return 1;
        }
        fclose(f);
    } else {
        for (size_t i = 0; i < (size_t)N * IN; i++) {
            const unsigned h = (unsigned)(i * 2654435761u);
            x[i] = (h >> 7) % 100 < 50 ? 0.f : (float)(h % 1000) / 1000.f;
        }
    }
    p->y = malloc(N * 4);
    for (int i = 0; i < N; i++) p->y[i] = i % 10;
    p->perm = malloc(N * 8);
    for (int i = 0; i < N; i++) p->perm[i] = ((int64_t)i * 7919) % N;
    const size_t np = p->nparams = (size_t)IN * H + H + (size_t)H * O + O;
    float *P = p->params = p2_zeros(np), *G = p2_zeros(np), *S0 = p->slot0 = p2_zeros(np);
    for (size_t i = 0; i < np; i++) P[i] = ((float)((i * 40503u) % 2000) / 1000.f - 1.f) * 0.05f;
    annc_layer *L = p->L;
    L[0].kind = ANNC_LAYER_DENSE; L[0].in = IN; L[0].out = H; L[0].act = ANNC_ACT_RELU;
    L[0].W = P; L[0].b = P + IN * H; L[0].dW = G; L[0].db = G + IN * H; L[0].trainable = 1;
    L[0].y = p2_zeros(B * H);
    L[1].kind = ANNC_LAYER_DENSE; L[1].in = H; L[1].out = O; L[1].act = ANNC_ACT_SOFTMAX;
    L[1].W = P + IN * H + H; L[1].b = L[1].W + H * O; L[1].dW = G + IN * H + H;
    L[1].db = L[1].dW + H * O; L[1].trainable = 1; L[1].y = p2_zeros(B * O);
    annc_net *net = &p->net;
    net->nlayers = 2; net->layers = L; net->in_features = IN; net->out_features = O;
    net->rows = B; net->xbuf = p2_zeros(2 * B * IN); net->tbuf = malloc(B * 4);
    net->gbuf0 = p2_zeros(B * IN); net->gbuf1 = p2_zeros(B * IN); net->loss_rows = p2_zeros(B);
    net->loss = ANNC_LOSS_SPARSE_CCE; net->fused = 1; net->nthreads = nt;
    net->params = P; net->grads = G; net->slot0 = S0; net->nparams = (ptrdiff_t)np;
    net->all_trainable = 1;
    net->ws_need = annc_net_workspace_floats(net, B);
    net->ws = p2_zeros(net->ws_need + 16); net->ws_floats = net->ws_need;
    p->opt.kind = ANNC_OPT_RMSPROP; p->opt.learning_rate = 1e-3f; p->opt.rho = 0.9f;
    p->opt.epsilon = 1e-7f; p->opt.u_product = 1;
    return 0;
}

/* Steps [first, first + n) of an epoch, the loss and accuracy sums added into sums[0..1]. */
static int p2_steps(p2_step *p, ptrdiff_t first, ptrdiff_t n, double *sums) {
    ptrdiff_t seen = 0;
    return annc_train_steps(&p->net, &p->opt, p->x, P2_IN, p->y, 0, p->perm, P2_N, P2_B, first,
                            n, NULL, 1, 0, p->metrics, 1, sums, &seen);
}

#endif
