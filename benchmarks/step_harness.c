/* Diagnostic: the executor alone, no Python, on Program 2 shapes (batch 32, synthetic data),
 * to see how a training step scales with threads without NumPy/OpenBLAS or the interpreter
 * around it. Not a claim against a rival (see m2_side_by_side.py for those). It alternates
 * 1 thread and N threads (first argument, default 2) for `reps` rounds (default 5) over a
 * 60,000-row x, so both see the same machine noise, and prints the best and median per step.
 * The net and its rows are program2_step.h's (XFILE=path for the real rows).
 *
 *   cmake --build build && gcc -O2 benchmarks/step_harness.c -Icsrc -Ibenchmarks build/libannc_core.a \
 *       -fopenmp -lm -o /tmp/step_harness && /tmp/step_harness 2 [reps]
 */
#include "program2_step.h"

int main(int argc, char **argv) {
    const int nt = argc > 1 ? atoi(argv[1]) : 2, reps = argc > 2 ? atoi(argv[2]) : 5;
    static p2_step p;
    if (p2_setup(&p, nt)) return 1;
    const int steps = P2_N / P2_B;
    double sums[2] = {0, 0};
    /* alternate 1 thread and nt threads so that both see the same machine noise */
    double best[2] = {1e9, 1e9}, all[2][64];
    for (int rep = 0; rep < reps && rep < 64; rep++)
        for (int k = 0; k < 2; k++) {
            p.net.nthreads = k ? nt : 1;
            const double t = p2_now();
            for (int s = 0; s < steps; s += 250) p2_steps(&p, s, 250, sums);
            const double us = (p2_now() - t) / steps * 1e6;
            all[k][rep] = us;
            if (us < best[k]) best[k] = us;
        }
    for (int k = 0; k < 2; k++) { /* median by insertion sort */
        const int n = reps < 64 ? reps : 64;
        double *a = all[k];
        for (int i = 1; i < n; i++) {
            const double v = a[i];
            int j = i - 1;
            while (j >= 0 && a[j] > v) {
                a[j + 1] = a[j];
                j--;
            }
            a[j + 1] = v;
        }
        printf("threads=%d: best %.1f us/step, median %.1f\n", k ? nt : 1, best[k], a[n / 2]);
    }
    return 0;
}
