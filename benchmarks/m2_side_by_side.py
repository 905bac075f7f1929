"""The lecture's Program 2 (Dense(100, relu) -> Dense(10, softmax), RMSprop, batch 32) — or
with --program 1 its Program 1 (Dense(10, softmax) alone) — trained by annc and by a competent
NumPy implementation (benchmarks/numpy_mlp.py) side by side in one process, epochs interleaved
so that machine noise hits both alike. PyTorch and the real Keras 3 (its configured backend,
TensorFlow by default) join when installed beside annc: optional, never required.

Reports seconds per epoch, the ratio, test accuracy after the epochs (annc also with its
zero-skipping products switched off: the dense kernels alone, same weights bit for bit), the
fraction of the FLOP floor (Program 2: 19.2 GFLOP per epoch at the machine's peak), 10k-row
predict throughput and one-record latency, as a Markdown table; for Program 1 also the
lecture's own predict(test, batch_size=1).

NumPy runs as a user's machine would: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed from the
environment (the script re-executes itself without them) and the BLAS NumPy ran is reported.

    python benchmarks/m2_side_by_side.py [--program 1|2] [--epochs 5] [--numpy-threads best|1|2]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time

_BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
if any(v in os.environ for v in _BLAS_VARS) and os.environ.get("_ANNC_BENCH_REEXEC") != "1":
    env = {k: v for k, v in os.environ.items() if k not in _BLAS_VARS}
    env["_ANNC_BENCH_REEXEC"] = "1"
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy_mlp  # noqa: E402

import annc as keras  # noqa: E402

PEAK_GFLOPS = {1: 100.6, 2: 200.7}     # ../shared/targets.md
# FLOPs per epoch in matrix products (forward, weight gradients, the hidden layer's input
# gradient): Program 2 319,600 per sample, Program 1 31,360 (no input gradient), x 60,000
EPOCH_GFLOP = {2: 19.2, 1: 1.88}
HIDDEN = {2: 100, 1: 0}


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed (pip install threadpoolctl)"
    parts = []
    for info in threadpool_info():
        if info.get("user_api") == "blas":
            parts.append(f"{info.get('internal_api')} {info.get('version')} "
                         f"kernel={info.get('architecture')} threads={info.get('num_threads')}")
    return "; ".join(parts) or "no BLAS found"


def numpy_threads(n):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self._t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._t)

    def __init__(self):
        super().__init__()
        self.times = []


def latencies_us(fn, reps=1000, warm=50):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e6)
    return ts


@contextlib.contextmanager
def zero_skip(on: bool):
    """annc's zero-skipping products on or off (process-wide), restored after."""
    from annc import _core
    was = _core.zero_skip()
    _core.set_zero_skip(on)
    try:
        yield
    finally:
        _core.set_zero_skip(was)


def best_s(fn, reps=5):
    fn()
    return min(_timed(fn) for _ in range(reps))


def _settle(seconds=0.3):
    """Let the previous library's thread pool go idle before the next one is timed: OpenBLAS's,
    PyTorch's and annc's idle threads spin for a while after their last call, and on a 2-core
    machine a spinning pool steals a core from whichever library runs next. A program uses
    one of them at a time; every library gets the same pause."""
    time.sleep(seconds)


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def torch_epoch_runner(x, y, seed, hidden=100):
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(seed)
    model = (torch.nn.Sequential(torch.nn.Linear(784, hidden), torch.nn.ReLU(),
                                 torch.nn.Linear(hidden, 10)) if hidden
             else torch.nn.Sequential(torch.nn.Linear(784, 10)))
    for m in model:
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)
    # Keras's RMSprop: v = rho v + (1-rho) g^2; w -= lr g / sqrt(v + eps) (eps inside sqrt
    # differs from torch's, negligible here)
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    lossf = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    gen = torch.Generator().manual_seed(seed)

    def epoch():
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 32):
            idx = perm[i:i + 32]
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    def accuracy(xs, ys):
        with torch.no_grad():
            return float((model(torch.from_numpy(xs)).argmax(1).numpy() == ys).mean())

    return epoch, accuracy, f"PyTorch {torch.__version__}"


def keras_epoch_runner(x, y, seed, hidden=100):
    """The real Keras (3.x, on whichever backend it is configured for: TensorFlow by default)
    when it is installed beside annc; the script imports annc under the name keras, the real
    package keeps its own."""
    try:
        import importlib
        real = importlib.import_module("keras")
    except ImportError:
        return None
    if getattr(real, "__name__", "") != "keras" or not hasattr(real, "backend"):
        return None
    real.utils.set_random_seed(seed)
    layers = ([real.layers.Dense(hidden, activation="relu")] if hidden else []) + \
        [real.layers.Dense(10, activation="softmax")]
    model = real.Sequential([real.Input((784,))] + layers)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])

    def epoch():
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)

    def accuracy(xs, ys):
        return float(model.evaluate(xs, ys, verbose=0)[1])

    return epoch, accuracy, f"Keras {real.__version__} ({real.backend.backend()})"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--program", type=int, default=2, choices=[1, 2])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--numpy-threads", default="best", choices=["best", "1", "2"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    (xtr, ytr), (xte, yte) = keras.datasets.fashion_mnist.load_data()
    xtr = (xtr / 255.0).reshape(-1, 784).astype(np.float32)
    xte = (xte / 255.0).reshape(-1, 784).astype(np.float32)
    threads = keras.config.get_num_threads()
    keras.show_config()
    print(f"NumPy {np.__version__}: {blas_info()}")

    # NumPy's best thread count on this machine (2 BLAS threads are often slower for batch 32)
    if args.numpy_threads == "best":
        probe = {}
        for t in (1, 2):
            with numpy_threads(t):
                m = numpy_mlp.NumpyMLP(seed=args.seed, hidden=HIDDEN[args.program])
                rng = np.random.default_rng(args.seed)
                probe[t] = _timed(lambda: m.train_epoch(xtr[:12000], ytr[:12000], rng=rng))
        np_threads = min(probe, key=probe.get)
    else:
        np_threads = int(args.numpy_threads)

    def make_model():
        keras.utils.set_random_seed(args.seed)
        if args.program == 2:
            m = keras.Sequential([keras.layers.Dense(100, activation="relu", input_shape=(784,)),
                                  keras.layers.Dense(10, activation="softmax")])
        else:
            m = keras.Sequential([keras.layers.Dense(10, activation="softmax",
                                                     input_shape=(784,))])
        m.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return m

    # annc twice from the same seed: as it runs, and with its zero-skipping products off (the
    # dense kernels alone), which must end with the same weights bit for bit
    model, model_dense = make_model(), make_model()
    timer, timer_dense = EpochTimer(), EpochTimer()
    ref = numpy_mlp.NumpyMLP(seed=args.seed, hidden=HIDDEN[args.program])
    rng = np.random.default_rng(args.seed)
    np_times = []
    # rivals that are installed (optional, never required): name, runner, epoch times
    torch_run = torch_epoch_runner(xtr, ytr, args.seed, HIDDEN[args.program])
    rivals = [("PyTorch", torch_run, [])] if torch_run else []
    for epoch in range(args.epochs):
        _settle()
        # each fit shuffles from the global seed: the same shuffle for both annc models
        keras.utils.set_random_seed(args.seed * 1000 + epoch)
        model.fit(xtr, ytr, epochs=epoch + 1, initial_epoch=epoch, verbose=0, callbacks=[timer])
        _settle()
        keras.utils.set_random_seed(args.seed * 1000 + epoch)
        with zero_skip(False):
            model_dense.fit(xtr, ytr, epochs=epoch + 1, initial_epoch=epoch, verbose=0,
                            callbacks=[timer_dense])
        _settle()
        with numpy_threads(np_threads):
            np_times.append(_timed(lambda: ref.train_epoch(xtr, ytr, rng=rng)))
        for _, run, times in rivals:
            _settle()
            times.append(_timed(run[0]))
    # the real Keras after the others, not between them, so that TensorFlow's import and its
    # thread pools cannot touch annc's or NumPy's epochs (a first in-between run showed NumPy
    # at 1.18-1.29 s, a later check could not separate that from the VM's own swings);
    # against Keras itself the gap is too wide for the timing to matter
    keras_run = keras_epoch_runner(xtr, ytr, args.seed, HIDDEN[args.program])
    if keras_run is not None:
        rivals.append(("Keras", keras_run, []))
        for _ in range(args.epochs):
            _settle()
            rivals[-1][2].append(_timed(keras_run[0]))
    annc_acc = model.evaluate(xte, yte, verbose=0)[1]
    same = all(np.array_equal(a, b)
               for a, b in zip(model.get_weights(), model_dense.get_weights()))
    np_acc = ref.accuracy(xte, yte)

    # inference, in rounds that alternate the libraries (each after a pause): a disturbance of
    # a few tenths of a second (another process, a slow vCPU) then costs each library one
    # round, not one library its whole measurement. Latency: the median of the calls of all
    # rounds (1002 calls each); throughput: the best pass of all rounds.
    one = xte[:1].copy()
    lat = {"annc model(x)": [], "annc predict(verbose=0)": [], "annc predict_on_batch": [],
           "NumPy forward": []}
    annc_p32, annc_p1, np_p32, np_p1, annc_p1_dense = [], [], [], [], []
    for _ in range(3):
        _settle()  # OpenBLAS's workers spin for a while after NumPy's last product
        lat["annc model(x)"] += latencies_us(lambda: model(one), reps=334)
        lat["annc predict(verbose=0)"] += latencies_us(lambda: model.predict(one, verbose=0),
                                                       reps=334)
        lat["annc predict_on_batch"] += latencies_us(lambda: model.predict_on_batch(one),
                                                     reps=334)
        annc_p32.append(best_s(lambda: model.predict(xte, batch_size=32, verbose=0), reps=3))
        annc_p1.append(best_s(lambda: model.predict(xte, batch_size=10000, verbose=0), reps=3))
        with zero_skip(False):
            annc_p1_dense.append(best_s(lambda: model.predict(xte, batch_size=10000, verbose=0),
                                        reps=3))
        for t in (1, 2):  # NumPy at its faster thread count for each measurement
            _settle()
            with numpy_threads(t):
                lat["NumPy forward"].append(
                    statistics.median(latencies_us(lambda: ref.predict(one, batch_size=1),
                                                   reps=334)))
                np_p32.append(best_s(lambda: ref.predict(xte, batch_size=32), reps=3))
                np_p1.append(best_s(lambda: ref.predict(xte, batch_size=10000), reps=3))
    # NumPy's thread counts differ in kind, so its latency is its better median of a round
    lat = {name: (min(v) if name == "NumPy forward" else statistics.median(v))
           for name, v in lat.items()}
    annc_pred32, annc_pred1 = min(annc_p32), min(annc_p1)
    np_pred32, np_pred1 = min(np_p32), min(np_p1)
    if args.program == 1:  # the lecture's own call: predict(test_scaled, batch_size=1)
        _settle()
        annc_pred_b1 = best_s(lambda: model.predict(xte, batch_size=1, verbose=0), reps=2)
        _settle()
        with numpy_threads(1):
            np_pred_b1 = best_s(lambda: ref.predict(xte, batch_size=1), reps=2)

    a_ep, n_ep = statistics.median(timer.times), statistics.median(np_times)
    floor = EPOCH_GFLOP[args.program] / PEAK_GFLOPS[min(threads, 2)]
    print()
    print(f"Program {args.program}, {args.epochs} epochs, batch 32, annc threads={threads}, NumPy BLAS "
          f"threads={np_threads} for training (its faster setting here), the faster of 1 and 2 "
          f"for inference; epochs interleaved; median epoch")
    print()
    print("| | annc | NumPy | ratio (NumPy / annc) |" +
          "".join(f" {run[2]} |" for _, run, _ in rivals))
    print("|---|---|---|---|" + "---|" * len(rivals))

    def tcol(*values):  # the rivals' cells of a row (empty when not given)
        return "".join(f" {v} |" for v in (values or [""] * len(rivals)))

    r_ep = [statistics.median(times) for _, _, times in rivals]
    d_ep = statistics.median(timer_dense.times)
    print(f"| epoch (s) | {a_ep:.3f} | {n_ep:.3f} | {n_ep / a_ep:.2f}x |" +
          tcol(*(f"{t:.3f} ({t / a_ep:.1f}x annc's)" for t in r_ep)))
    print(f"| epoch, annc's zero-skipping off (s) | {d_ep:.3f} | {n_ep:.3f} | "
          f"{n_ep / d_ep:.2f}x |" + tcol())
    print(f"| test accuracy after {args.epochs} epochs | {annc_acc:.4f} | {np_acc:.4f} | |" +
          tcol(*(f"{run[1](xte, yte):.4f}" for _, run, _ in rivals)))
    # the floor counts every multiply of the dense products, including those annc's
    # zero-skipping products leave out
    print(f"| fraction of the FLOP floor ({floor:.3f} s, dense FLOPs) | {floor / a_ep:.0%} | "
          f"{floor / n_ep:.0%} | |" + tcol())
    print(f"| predict 10k rows, batch 32 (s) | {annc_pred32:.4f} | {np_pred32:.4f} | "
          f"{np_pred32 / annc_pred32:.2f}x |" + tcol())
    if args.program == 1:
        print(f"| predict 10k rows, `batch_size=1` (s) | {annc_pred_b1:.4f} | "
              f"{np_pred_b1:.4f} | {np_pred_b1 / annc_pred_b1:.1f}x |" + tcol())
    print(f"| predict 10k rows, one batch (s) | {annc_pred1:.4f} | {np_pred1:.4f} | "
          f"{np_pred1 / annc_pred1:.2f}x |" + tcol())
    d_pred1 = min(annc_p1_dense)
    print(f"| predict 10k rows, one batch, zero-skipping off (s) | {d_pred1:.4f} | "
          f"{np_pred1:.4f} | {np_pred1 / d_pred1:.2f}x |" + tcol())
    np_lat = lat.pop("NumPy forward")
    for name, v in lat.items():
        print(f"| one-record latency, {name} vs NumPy forward (µs) | {v:.1f} | {np_lat:.1f} | "
              f"{np_lat / v:.2f}x |" + tcol())
    print()
    print(f"annc epoch times: {[round(t, 3) for t in timer.times]}; zero-skipping off: "
          f"{[round(t, 3) for t in timer_dense.times]} (weights bit-identical: {same})")
    print(f"NumPy epoch times: {[round(t, 3) for t in np_times]}")
    for _, run, times in rivals:
        print(f"{run[2]} epoch times: {[round(t, 3) for t in times]}")
    print(f"10k one-batch predict per round (s): annc {[round(t, 4) for t in annc_p1]}, "
          f"NumPy (1, 2 threads) {[round(t, 4) for t in np_p1]}")


if __name__ == "__main__":
    main()
