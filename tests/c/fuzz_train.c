/* Sanitizer fuzz of the training executor (annc_train_steps): random Dense(hidden, relu) ->
 * Dense(classes, softmax) nets on mostly-zero inputs, random batch sizes (short last steps,
 * more than one word of column masks, more than a group of rows), trained for a few steps on
 * 1 thread, then on 2 and 3 with each way of sharing the first layer's blocks (fixed, taken
 * over at the end of a run, taken from the others first) and with zero-skipping off. Every
 * run must leave the same weights, bit for bit. The parameter slab is malloc'd to its exact
 * size, so AddressSanitizer sees any read past its end (the zero-skipping kernels read a
 * whole vector past a row of W when the slab vouches for the floats after it). Built and run
 * by tests/test_ops.py::test_sanitizer_fuzz when ANNC_FUZZ=1 (both ISA paths). Every third
 * net has activity penalties on both layers: the softmax one's then goes through the
 * activation the loss folds in, and the step takes the tail without the fused head. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "annc.h"

static float *zeroed(size_t n) { /* 64-byte aligned, as the executor's buffers are */
    float *p = aligned_alloc(64, ((n * 4 + 63) / 64) * 64);
    memset(p, 0, ((n * 4 + 63) / 64) * 64);
    return p;
}

typedef struct {
    int in, hidden, classes, batch, n, steps;
    float act_l1, act_l2; /* activity penalties of both layers (0: none) */
    float *x;
    int32_t *y;
    int64_t *perm;
    float *init;
} problem;

/* Trains a fresh copy of the initial weights; returns them (malloc'd) or NULL on error. */
static float *train(const problem *p, int nt) {
    const int B = p->batch, IN = p->in, H = p->hidden, O = p->classes;
    const size_t np_ = (size_t)IN * H + H + (size_t)H * O + O;
    float *P = malloc(np_ * 4), *G = zeroed(np_), *S0 = zeroed(np_);
    memcpy(P, p->init, np_ * 4);
    annc_layer L[2];
    memset(L, 0, sizeof L);
    L[0].kind = ANNC_LAYER_DENSE; L[0].in = IN; L[0].out = H; L[0].act = ANNC_ACT_RELU;
    L[0].W = P; L[0].b = P + (size_t)IN * H; L[0].dW = G; L[0].db = G + (size_t)IN * H;
    L[0].trainable = 1; L[0].y = zeroed((size_t)B * H); L[0].z = zeroed((size_t)B * H);
    L[1].kind = ANNC_LAYER_DENSE; L[1].in = H; L[1].out = O; L[1].act = ANNC_ACT_SOFTMAX;
    L[1].W = L[0].b + H; L[1].b = L[1].W + (size_t)H * O; L[1].dW = L[0].db + H;
    L[1].db = L[1].dW + (size_t)H * O; L[1].trainable = 1; L[1].y = zeroed((size_t)B * O);
    for (int l = 0; l < 2; l++) {
        L[l].activity_l1 = p->act_l1;
        L[l].activity_l2 = p->act_l2;
    }
    annc_net net;
    memset(&net, 0, sizeof net);
    net.nlayers = 2; net.layers = L; net.in_features = IN; net.out_features = O; net.rows = B;
    net.xbuf = zeroed((size_t)2 * B * IN); net.tbuf = zeroed(B);
    const size_t gw = (size_t)B * (IN > H ? IN : H);
    net.gbuf0 = zeroed(gw); net.gbuf1 = zeroed(gw); net.loss_rows = zeroed(B);
    net.loss = ANNC_LOSS_SPARSE_CCE; net.fused = 1; net.nthreads = nt;
    net.params = P; net.grads = G; net.slot0 = S0; net.nparams = (ptrdiff_t)np_;
    net.all_trainable = 1;
    net.ws_need = annc_net_workspace_floats(&net, B);
    net.ws = zeroed(net.ws_need + 16); net.ws_floats = net.ws_need;
    annc_optimizer opt;
    memset(&opt, 0, sizeof opt);
    opt.kind = ANNC_OPT_RMSPROP; opt.learning_rate = 1e-2f; opt.rho = 0.9f; opt.epsilon = 1e-7f;
    opt.u_product = 1;
    int metrics[1] = {0};
    double sums[2] = {0, 0};
    ptrdiff_t seen = 0;
    int st = annc_train_steps(&net, &opt, p->x, IN, p->y, 0, p->perm, p->n, B, 0, p->steps, NULL,
                              1, 0, metrics, 1, sums, &seen);
    free(G); free(S0); free(L[0].y); free(L[0].z); free(L[1].y); free((void *)net.xbuf);
    free(net.tbuf); free(net.gbuf0); free(net.gbuf1); free(net.loss_rows); free(net.ws);
    if (st != ANNC_OK) {
        printf("status %d\n", st);
        free(P);
        return NULL;
    }
    return P;
}

int main(void) {
    srand(3);
    int bad = 0;
    for (int it = 0; it < 14; it++) {
        problem p;
        p.in = 90 + rand() % 700; p.hidden = 33 + rand() % 100; p.classes = 2 + rand() % 11;
        p.batch = it % 5 == 4 ? 129 + rand() % 40 : 1 + rand() % 64;
        p.n = p.batch * (3 + rand() % 4) - rand() % p.batch; /* a short last step */
        p.steps = (p.n + p.batch - 1) / p.batch;
        p.act_l1 = it % 3 == 2 ? 1e-3f : 0.0f;
        p.act_l2 = it % 3 == 2 ? 2e-3f : 0.0f;
        p.x = malloc((size_t)p.n * p.in * 4); p.y = malloc((size_t)p.n * 4);
        p.perm = malloc((size_t)p.n * 8);
        for (size_t i = 0; i < (size_t)p.n * p.in; i++)
            p.x[i] = rand() % 10 < 5 ? (rand() % 2 ? 0.0f : -0.0f) : (float)rand() / RAND_MAX;
        for (int i = 0; i < p.n; i++) { p.y[i] = rand() % p.classes; p.perm[i] = i; }
        for (int i = p.n - 1; i > 0; i--) {
            const int j = rand() % (i + 1);
            const int64_t t = p.perm[i]; p.perm[i] = p.perm[j]; p.perm[j] = t;
        }
        const size_t np_ = (size_t)p.in * p.hidden + p.hidden + (size_t)p.hidden * p.classes +
                           p.classes;
        p.init = malloc(np_ * 4);
        for (size_t i = 0; i < np_; i++) p.init[i] = ((float)rand() / RAND_MAX - 0.5f) * 0.2f;

        float *ref = train(&p, 1);
        if (!ref) { bad++; continue; }
        const int modes[4] = {0, 1, 2, 1};
        for (int nt = 2; nt <= 3; nt++)
            for (int m = 0; m < 4; m++) {
                annc_set_block_sharing(modes[m]);
                annc_set_zero_skip(m != 3); /* the last run: dense kernels only */
                float *w = train(&p, nt);
                annc_set_zero_skip(1);
                annc_set_block_sharing(1);
                if (!w || memcmp(w, ref, np_ * 4) != 0) {
                    if (bad < 5)
                        printf("it%d in %d hidden %d classes %d batch %d n %d: %d threads, "
                               "sharing %d, zero-skip %d differs\n", it, p.in, p.hidden,
                               p.classes, p.batch, p.n, nt, modes[m], m != 3);
                    bad++;
                }
                free(w);
            }
        free(ref); free(p.x); free(p.y); free(p.perm); free(p.init);
    }
    printf("fuzz done, bad=%d\n", bad);
    return bad != 0;
}
