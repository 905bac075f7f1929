"""annc vs NumPy GEMM under pytest-benchmark (a benchmark suite, not timed tests).

    pytest benchmarks/bench_gemm.py --benchmark-group-by=param:shape,param:threads

Each shape runs for annc and for NumPy on 1 and 2 threads (NumPy's via threadpoolctl when it
is installed). benchmarks/gemm_side_by_side.py gives the interleaved GFLOP/s table."""
from __future__ import annotations

import numpy as np
import pytest

import annc
from annc import ops

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - optional bench dependency
    threadpool_limits = None

pytest.importorskip("pytest_benchmark")

# (label, m, k, n, transpose_a, transpose_b): op(A) is m x k, op(B) is k x n
SHAPES = [("1024^3", 1024, 1024, 1024, False, False),
          ("2048^3", 2048, 2048, 2048, False, False)]
for _b in (32, 256):
    SHAPES += [(f"fwd({_b},784,100)", _b, 784, 100, False, False),
               (f"fwd({_b},100,10)", _b, 100, 10, False, False),
               (f"dW({784},{_b},100)", 784, _b, 100, True, False),
               (f"dW({100},{_b},10)", 100, _b, 10, True, False),
               (f"dX({_b},10,100)", _b, 10, 100, False, True)]


@pytest.fixture(params=[1, 2], ids=lambda t: f"{t}thr")
def threads(request):
    old = annc.config.get_num_threads()
    annc.config.set_num_threads(request.param)
    if threadpool_limits is not None:
        with threadpool_limits(limits=request.param, user_api="blas"):
            yield request.param
    else:
        yield request.param
    annc.config.set_num_threads(old)


@pytest.mark.parametrize("lib", ["annc", "numpy"])
@pytest.mark.parametrize("shape", SHAPES, ids=[s[0] for s in SHAPES])
def test_gemm(benchmark, shape, lib, threads):
    label, m, k, n, ta, tb = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
    out = np.empty((m, n), np.float32)
    if lib == "annc":
        fn = lambda: ops.matmul(a, b, transpose_a=ta, transpose_b=tb, out=out)  # noqa: E731
    else:
        an, bn = (a.T if ta else a), (b.T if tb else b)
        fn = lambda: np.matmul(an, bn, out=out)  # noqa: E731
    benchmark.group = f"{label} {threads} thread(s)"
    benchmark.extra_info["gflop"] = 2.0 * m * n * k / 1e9
    if m * n * k >= 1024 ** 3:
        benchmark.pedantic(fn, rounds=5, iterations=1, warmup_rounds=1)
    else:
        benchmark(fn)
