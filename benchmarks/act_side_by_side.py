"""ns per element of every element-wise activation (forward and backward) and the softmax rows,
plus the cost of a sigmoid epilogue on the (32, 784, 100) Dense forward GEMM.

    PYTHONPATH=src python benchmarks/act_side_by_side.py            # dispatched ISA
    ANNC_ISA=generic PYTHONPATH=src python benchmarks/act_side_by_side.py   # portable C

One thread, a few milliseconds per cell: the binding's per-call cost (timed on a one-element
call) is subtracted, so the numbers are the kernel's. Inputs are uniform in [-6, 6] with random
signs, as pre-activations are, so branchy scalar code pays its mispredictions."""
from __future__ import annotations

import sys
import timeit

import numpy as np

import annc
from annc import _core

NAMES = {1: "relu", 2: "sigmoid", 3: "tanh", 5: "elu", 6: "selu", 7: "softplus", 8: "softsign",
         9: "swish", 10: "gelu", 11: "leaky_relu", 12: "gelu_tanh"}
PARAM = {5: 1.0, 11: 0.2}


def best(fn, budget=0.02):
    """The fastest of several runs of fn, in seconds per call."""
    number = max(1, int(budget / max(timeit.timeit(fn, number=1), 1e-7)))
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def main(sizes=(3200, 100000)):
    annc.config.set_num_threads(1)
    rng = np.random.default_rng(0)
    one = np.ones(1, np.float32)
    fwd0 = best(lambda: _core.act_forward(1, 0.0, one, out=one))
    bwd0 = best(lambda: _core.act_backward(1, 0.0, one, one, one))
    print(f"isa={_core.isa_name()}  ns/element, 1 thread")
    print(f"{'activation':<12}" + "".join(f"{'fwd n=' + str(n):>13}{'bwd n=' + str(n):>13}"
                                          for n in sizes))
    data = {n: (rng.uniform(-6, 6, n).astype(np.float32), rng.normal(size=n).astype(np.float32),
                np.empty(n, np.float32)) for n in sizes}
    for act, name in NAMES.items():
        a = PARAM.get(act, 0.0)
        row = f"{name:<12}"
        for n in sizes:
            x, dy, out = data[n]
            y = _core.act_forward(act, a, x)
            tf = best(lambda: _core.act_forward(act, a, x, out=out)) - fwd0
            tb = best(lambda: _core.act_backward(act, a, dy, x, y)) - bwd0
            row += f"{tf / n * 1e9:13.3f}{tb / n * 1e9:13.3f}"
        print(row)
    for rows, cols in ((32, 100), (256, 10)):
        x = rng.normal(size=(rows, cols)).astype(np.float32) * 4
        y = _core.softmax(x)
        tf = best(lambda: _core.softmax(x)) - fwd0
        tb = best(lambda: _core.softmax_backward(x, y)) - bwd0
        print(f"softmax {rows}x{cols}: fwd {tf / x.size * 1e9:.3f}  bwd {tb / x.size * 1e9:.3f}")
    a = rng.normal(size=(32, 784)).astype(np.float32)
    b = rng.normal(size=(784, 100)).astype(np.float32) * 0.05
    bias = rng.normal(size=100).astype(np.float32)
    c = np.empty((32, 100), np.float32)
    for act in (0, 2, 3):
        t = best(lambda: _core.sgemm(a, b, c, False, False, 1.0, 0.0, 1, bias=bias, act=act))
        print(f"sgemm (32,784,100) + bias, act={act} ({NAMES.get(act, 'linear')}): "
              f"{t * 1e6:.2f} us")


if __name__ == "__main__":
    main(tuple(int(s) for s in sys.argv[1:]) or (3200, 100000))
