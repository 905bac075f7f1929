/* Diagnostic: an A/B comparison of two versions of the training executor inside one process,
 * for changes of about 1% of a step, which separate runs on a shared VM cannot resolve (the
 * machine's speed moves by 30-50% from one minute to the next). Built by benchmarks/abba.sh
 * against a copy of csrc/ in which a patch makes some code depend on the global `annc_ab`
 * (0: version A, 1: version B); never part of the library.
 *
 * Program 2's step from program2_step.h (XFILE=path for the real rows).
 *
 *   abba_harness threads quads   chunks of 125 steps in the order A B B A, A B B A, ...; each
 *                                quad's ratio (B + B) / (A + A) cancels a drift linear over the
 *                                quad, so a change that does nothing measures 0.996-1.002
 *                                (median of 450 quads, about 45 s; quartiles about +-3%)
 *   AB=0|1 abba_harness threads  600 steps of one version from the same start, then a hash of
 *                                the weights and the optimizer's slots: equal hashes for A and
 *                                B mean the change keeps the bits
 */
#include "program2_step.h"
#include <math.h>

extern int annc_ab;

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
    const int CH = 125;
    static p2_step p;
    if (p2_setup(&p, nt)) return 1;
    double sums[2] = {0, 0};

    if (getenv("AB")) { /* the bits of one version */
        annc_ab = atoi(getenv("AB"));
        const int st = p2_steps(&p, 0, 600, sums);
        uint64_t h = fnv1a(1469598103934665603ull, p.params, p.nparams * 4);
        h = fnv1a(h, p.slot0, p.nparams * 4);
        printf("AB=%d threads=%d status %d weights+slots %016llx loss sum %.9g\n", annc_ab, nt, st,
               (unsigned long long)h, sums[0]);
        return st != ANNC_OK;
    }
    const int steps = P2_N / P2_B;
    double *ratio = malloc(sizeof(double) * (size_t)quads), t[2] = {0, 0}, q[4];
    long counted[2] = {0, 0};
    int nq = 0, qi = 0;
    static const int order[4] = {0, 1, 1, 0};
    while (nq < quads)
        for (int s = 0; s + CH <= steps && nq < quads; s += CH) {
            annc_ab = order[qi];
            const double t0 = p2_now();
            p2_steps(&p, s, CH, sums);
            const double dt = p2_now() - t0;
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
