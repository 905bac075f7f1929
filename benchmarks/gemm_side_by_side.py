"""annc vs NumPy GEMM, side by side in one process, interleaved.

    python benchmarks/gemm_side_by_side.py [--quick] [--shapes big|train|all]

Prints a Markdown table: shape, threads, annc GFLOP/s, NumPy GFLOP/s, ratio, fraction of the
machine's fp32 peak. Both libraries are timed alternately inside the same loop, so background
load on a shared machine affects both alike; the figures are medians over many repetitions.

NumPy runs as a user's machine would run it: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE override
OpenBLAS' own CPU detection, so when either is set the script re-executes itself without them
(they must be gone before NumPy is imported). The BLAS NumPy used is reported via threadpoolctl
(`pip install threadpoolctl`, part of the `bench` extra).
"""
from __future__ import annotations

import os
import sys

_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
if any(v in os.environ for v in _OVERRIDES) and "numpy" not in sys.modules:
    env = {k: v for k, v in os.environ.items() if k not in _OVERRIDES}
    env["ANNC_BENCH_REMOVED"] = ",".join(v for v in _OVERRIDES if v in os.environ)
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import annc  # noqa: E402
from annc import ops  # noqa: E402

try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:  # pragma: no cover - the bench extra is optional
    threadpool_info = threadpool_limits = None

PEAK_PER_CORE = 100.6  # GFLOP/s, fp32 FMA, from shared/targets.md

# (label, m, k, n, transpose_a, transpose_b): op(A) is m x k, op(B) is k x n
BIG = [("1024^3", 1024, 1024, 1024, False, False), ("2048^3", 2048, 2048, 2048, False, False)]


def training_shapes(batch: int):
    return [
        (f"fwd ({batch},784,100)", batch, 784, 100, False, False),
        (f"fwd ({batch},100,10)", batch, 100, 10, False, False),
        (f"dW X^T.dY (784,{batch},100)", 784, batch, 100, True, False),
        (f"dW X^T.dY (100,{batch},10)", 100, batch, 10, True, False),
        (f"dX dY.W^T ({batch},10,100)", batch, 10, 100, False, True),
    ]


def operands(m, k, n, ta, tb, rng):
    a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
    return a, b


def time_pair(f_annc, f_numpy, budget_s, block_s):
    """Alternate blocks of calls to each function (block_s seconds each, order swapped every
    round); return the median seconds per call of each.

    Blocks rather than single calls: each library keeps a thread pool whose idle threads spin
    for a while after a call (OpenBLAS's for ~0.1 s, yielding), and on a 2-core machine the
    pool that just went idle competes with the one starting. Switching on every call would
    measure that handover, not either library; blocks of several tenths of a second measure
    both as a program that uses one of them at a time runs, and the median over groups is
    immune to the first ~0.1 s of each block."""
    t0 = time.perf_counter()
    for _ in range(3):  # warm-up: caches, thread pools, workspaces
        f_annc()
        f_numpy()
    one = max((time.perf_counter() - t0) / 6, 1e-7)
    group = max(1, int(20e-6 / one))  # calls per timed group: >= ~20 us, timer noise < 1%
    ta, tn = [], []
    rounds = max(3, int(budget_s / (2 * block_s)))
    for r in range(rounds):
        order = ((f_annc, ta), (f_numpy, tn)) if r % 2 == 0 else ((f_numpy, tn), (f_annc, ta))
        for f, acc in order:
            end = time.perf_counter() + block_s
            while True:
                t = time.perf_counter()
                for _ in range(group):
                    f()
                now = time.perf_counter()
                acc.append((now - t) / group)
                if now > end:
                    break
    return statistics.median(ta), statistics.median(tn)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter timing budget per row")
    ap.add_argument("--shapes", choices=["big", "train", "all"], default="all")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    args = ap.parse_args()

    shapes = []
    if args.shapes in ("big", "all"):
        shapes += BIG
    if args.shapes in ("train", "all"):
        shapes += training_shapes(32) + training_shapes(256)
    threads = [int(t) for t in args.threads.split(",")]
    budget = 0.6 if args.quick else 2.4
    block = 0.1 if args.quick else 0.4

    print(f"annc {annc.__version__}, isa {annc._core.isa_name()}, "
          f"openmp {'yes' if annc._core.openmp_enabled() else 'no'}")
    removed = os.environ.get("ANNC_BENCH_REMOVED")
    if removed:
        print(f"(re-executed without {removed}: NumPy's OpenBLAS detects the CPU itself)")
    if threadpool_info is None:
        print("NumPy BLAS: unknown (pip install threadpoolctl to report it and to limit its "
              "threads; NumPy runs with its default thread count)")
    else:
        for info in threadpool_info():
            if info.get("user_api") == "blas":
                print(f"NumPy {np.__version__} BLAS: {info.get('internal_api')} "
                      f"{info.get('version')}, kernel {info.get('architecture')}, "
                      f"{info.get('num_threads')} threads max")
    print()
    print("| shape (m,k,n) | threads | annc GFLOP/s | NumPy GFLOP/s | annc/NumPy | annc µs | "
          "NumPy µs | annc % of peak |")
    print("|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for label, m, k, n, ta, tb in shapes:
        a, b = operands(m, k, n, ta, tb, rng)
        out_a = np.empty((m, n), np.float32)
        out_n = np.empty((m, n), np.float32)
        an = a.T if ta else a
        bn = b.T if tb else b
        flops = 2.0 * m * n * k
        big = flops > 1e9
        for nt in threads:
            annc.config.set_num_threads(nt)

            def f_annc():
                ops.matmul(a, b, transpose_a=ta, transpose_b=tb, out=out_a)

            def f_numpy():
                np.matmul(an, bn, out=out_n)

            scale = 3 if big else 1
            if threadpool_limits is not None:
                with threadpool_limits(limits=nt, user_api="blas"):
                    sa, sn = time_pair(f_annc, f_numpy, budget * scale, block * scale)
            else:
                sa, sn = time_pair(f_annc, f_numpy, budget * scale, block * scale)
            ga, gn = flops / sa / 1e9, flops / sn / 1e9
            print(f"| {label} | {nt} | {ga:.1f} | {gn:.1f} | {ga / gn:.2f} | {sa * 1e6:.1f} | "
                  f"{sn * 1e6:.1f} | {ga / (PEAK_PER_CORE * nt):.0%} |", flush=True)
    annc.config.set_num_threads(annc.config.default_num_threads())


if __name__ == "__main__":
    main()
