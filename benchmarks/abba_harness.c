/* Diagnostic: an A/B comparison of two versions of the training executor inside one process,
 * for changes of about 1% of a step, which separate runs on a shared VM cannot resolve (the
 * machine's speed moves by 30-50% from one minute to the next). Built by benchmarks/abba.sh
 * against a copy of csrc/ in which a patch makes some code depend on the global `annc_ab`
 * (0: version A, 1: version B); never part of the library.
 *
 * Program 2's shapes (784 -> 100 relu -> 10 softmax, RMSprop, batch 32) on 60,000 rows: the
 * real ones from XFILE (60,000 x 784 float32 in [0, 1]), else synthetic half-zero rows.
 *
 *   abba_harness threads quads   chunks of 125 steps in the order A B B A, A B B A, ...; each
 *                                quad's ratio (B + B) / (A + A) cancels a drift linear over the
 *                                quad, so a change that does nothing measures 0.996-1.002
 *                                (median of 450 quads, about 45 s; quartiles about +-3%)
 *   AB=0|1 abba_harness threads  600 steps of one version from the same start, then a hash of
 *                                the weights and the optimizer's slots: equal hashes for A and
 *                                B mean the change keeps the bits
 */
#include "annc.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

extern int annc_ab;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *zeros(size_t n) {
    float *p = aligned_alloc(64, (n * 4 + 63) / 64 * 64);
    memset(p, 0, n * 4);
    return p;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t bytes) {
    const unsigned char *b = p;
    for (size_t i = 0; i < bytes; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static int by_value(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const int nt = argc > 1 ? atoi(argv[1]) : 2, quads = argc > 2 ? atoi(argv[2]) : 450;
    const int B = 32, N = 60000, IN = 784, H = 100, O = 10, CH = 125;
    /* x on 2 MiB pages where the kernel allows it, as NumPy asks for its large arrays */
    const size_t xbytes = ((size_t)N * IN * 4 + (1u << 21) - 1) & ~(size_t)((1u << 21) - 1);
    float *x = aligned_alloc(1u << 21, xbytes);
    madvise(x, xbytes, MADV_HUGEPAGE);
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
    int32_t *y = malloc(N * 4);
    for (int i = 0; i < N; i++) y[i] = i % 10;
    const size_t np = (size_t)IN * H + H + (size_t)H * O + O;
    float *P = zeros(np), *G = zeros(np), *S0 = zeros(np);
    for (size_t i = 0; i < np; i++) P[i] = ((float)((i * 40503u) % 2000) / 1000.f - 1.f) * 0.05f;
    annc_layer L[2];
    memset(L, 0, sizeof L);
    L[0].kind = ANNC_LAYER_DENSE; L[0].in = IN; L[0].out = H; L[0].act = ANNC_ACT_RELU;
    L[0].W = P; L[0].b = P + IN * H; L[0].dW = G; L[0].db = G + IN * H; L[0].trainable = 1;
    L[0].y = zeros(B * H);
    L[1].kind = ANNC_LAYER_DENSE; L[1].in = H; L[1].out = O; L[1].act = ANNC_ACT_SOFTMAX;
    L[1].W = P + IN * H + H; L[1].b = L[1].W + H * O; L[1].dW = G + IN * H + H;
    L[1].db = L[1].dW + H * O; L[1].trainable = 1; L[1].y = zeros(B * O);
    annc_net net;
    memset(&net, 0, sizeof net);
    net.nlayers = 2; net.layers = L; net.in_features = IN; net.out_features = O; net.rows = B;
    net.xbuf = zeros(2 * B * IN); net.tbuf = malloc(B * 4);
    net.gbuf0 = zeros(B * IN); net.gbuf1 = zeros(B * IN); net.loss_rows = zeros(B);
    net.loss = ANNC_LOSS_SPARSE_CCE; net.fused = 1; net.nthreads = nt;
    net.params = P; net.grads = G; net.slot0 = S0; net.nparams = np; net.all_trainable = 1;
    net.ws_need = annc_net_workspace_floats(&net, B);
    net.ws = zeros(net.ws_need + 16); net.ws_floats = net.ws_need;
    annc_optimizer opt;
    memset(&opt, 0, sizeof opt);
    opt.kind = ANNC_OPT_RMSPROP; opt.learning_rate = 1e-3f; opt.rho = 0.9f; opt.epsilon = 1e-7f;
    opt.u_product = 1;
    int64_t *perm = malloc(N * 8);
    for (int i = 0; i < N; i++) perm[i] = ((int64_t)i * 7919) % N;
    int metrics[1] = {0};
    double sums[2] = {0, 0};
    ptrdiff_t seen = 0;

    if (getenv("AB")) { /* the bits of one version */
        annc_ab = atoi(getenv("AB"));
        const int st = annc_train_steps(&net, &opt, x, IN, y, 0, perm, N, B, 0, 600, NULL, 1, 0,
                                        metrics, 1, sums, &seen);
        uint64_t h = fnv1a(1469598103934665603ull, P, np * 4);
        h = fnv1a(h, S0, np * 4);
        printf("AB=%d threads=%d status %d weights+slots %016llx loss sum %.9g\n", annc_ab, nt, st,
               (unsigned long long)h, sums[0]);
        return st != ANNC_OK;
    }
    const int steps = N / B;
    double *ratio = malloc(sizeof(double) * (size_t)quads), t[2] = {0, 0}, q[4];
    long counted[2] = {0, 0};
    int nq = 0, qi = 0;
    static const int order[4] = {0, 1, 1, 0};
    while (nq < quads)
        for (int s = 0; s + CH <= steps && nq < quads; s += CH) {
            annc_ab = order[qi];
            const double t0 = now();
            annc_train_steps(&net, &opt, x, IN, y, 0, perm, N, B, s, CH, NULL, 1, 0, metrics, 1,
                             sums, &seen);
            const double dt = now() - t0;
            t[annc_ab] += dt;
            counted[annc_ab] += CH;
            q[qi++] = dt;
            if (qi == 4) {
                ratio[nq++] = (q[1] + q[2]) / (q[0] + q[3]);
                qi = 0;
            }
        }
    qsort(ratio, (size_t)nq, sizeof(double), by_value);
    double lg = 0;
    for (int i = 0; i < nq; i++) lg += log(ratio[i]);
    printf("A %.1f us/step, B %.1f us/step | ABBA ratio B/A: median %.4f geomean %.4f "
           "p25 %.4f p75 %.4f (%d quads)\n",
           t[0] / counted[0] * 1e6, t[1] / counted[1] * 1e6, ratio[nq / 2], exp(lg / nq),
           ratio[nq / 4], ratio[3 * nq / 4], nq);
    return 0;
}
