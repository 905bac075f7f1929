"""A competent NumPy implementation of the lecture's Program 2: the baseline annc is timed against.

Program 2 (``../shared/seed/README.md``): Dense(100, relu) -> Dense(10, softmax) on
Fashion-MNIST, sparse categorical cross-entropy, RMSprop, batch 32, 5 epochs, with
Keras's defaults: glorot_uniform kernels, zero biases, RMSprop(learning_rate=1e-3,
rho=0.9, epsilon=1e-7) updating ``v = rho*v + (1-rho)*g*g; w -= lr*g/sqrt(v+eps)``,
data shuffled every epoch, inputs ``x/255`` as float32.

What makes it a fair baseline rather than a strawman:

* float32 everywhere (NumPy's BLAS sgemm), no float64 temporaries;
* every buffer (batch, activations, gradients, optimizer slots, temporaries) is
  allocated once per batch size, and each step runs in place: ``np.matmul(..., out=)``,
  ``np.take(..., out=)``, ``np.maximum(..., out=)``, ``np.multiply(..., out=)``;
* softmax and cross-entropy are fused: the loss comes from the shifted logits and
  the log of the softmax denominator, the logit gradient is ``(p - onehot) / batch``
  written over ``p``;
* all parameters live in one float32 slab (kernels and biases are views), so the
  RMSprop update is one sequence of in-place passes over the whole slab, not one per
  tensor.

Importable: ``NumpyMLP(seed).train_epoch(x, y, rng=rng)``, ``.predict(x)``,
``.accuracy(x, y)``, ``.evaluate(x, y)``. Run as a script to train Program 2 and print
per-epoch seconds and the test accuracy (about 0.87)::

    python benchmarks/numpy_mlp.py [--epochs 5] [--batch-size 32] [--seed 0]
"""

import argparse
import gzip
import os
import time

import numpy as np

__all__ = ["NumpyMLP", "load_fashion_mnist", "prepare"]

_F32 = np.float32


class _Buffers:
    """Workspace for one batch size: allocated once, reused by every step."""

    def __init__(self, batch, n_in, hidden, n_out):
        self.x = np.empty((batch, n_in), _F32)  # gathered batch
        self.y = np.empty(batch, np.intp)  # gathered labels
        self.h = np.empty((batch, hidden), _F32)  # hidden activations (relu(z1))
        self.mask = np.empty((batch, hidden), np.bool_)  # relu'(z1)
        self.dh = np.empty((batch, hidden), _F32)  # dLoss/dz1
        self.z = np.empty((batch, n_out), _F32)  # logits, shifted by their row max
        self.p = np.empty((batch, n_out), _F32)  # softmax, then dLoss/dz2
        self.m = np.empty((batch, 1), _F32)  # row max
        self.s = np.empty((batch, 1), _F32)  # softmax denominator, then its log
        self.rows = np.arange(batch, dtype=np.intp)


class NumpyMLP:
    """Dense(hidden, relu) -> Dense(n_out, softmax) trained with RMSprop, all in float32;
    with ``hidden=0`` the softmax layer alone (Program 1's softmax regression).

    Args:
        seed: seeds the glorot_uniform initialisation.
        hidden: width of the hidden layer (Program 2: 100; Program 1: 0, none).
        n_in, n_out: input width (784) and number of classes (10).
        learning_rate, rho, epsilon: Keras 3 RMSprop defaults.
    """

    def __init__(
        self,
        seed=0,
        hidden=100,
        n_in=784,
        n_out=10,
        learning_rate=1e-3,
        rho=0.9,
        epsilon=1e-7,
    ):
        self.n_in, self.hidden, self.n_out = n_in, hidden, n_out
        self.lr, self.rho, self.eps = _F32(learning_rate), _F32(rho), _F32(epsilon)
        self.one_minus_rho = _F32(1.0) - self.rho
        self._fan = hidden or n_in  # the softmax layer's input width
        sizes = (n_in * hidden, hidden, self._fan * n_out, n_out)
        total = sum(sizes)
        # One slab per kind: parameters, gradients, RMSprop velocity, update temporary.
        self.params = np.zeros(total, _F32)
        self.grads = np.zeros(total, _F32)
        self.velocity = np.zeros(total, _F32)
        self._tmp = np.empty(total, _F32)
        self.W1, self.b1, self.W2, self.b2 = self._views(self.params, sizes)
        self.gW1, self.gb1, self.gW2, self.gb2 = self._views(self.grads, sizes)
        rng = np.random.default_rng(seed)
        for w in (self.W1, self.W2) if hidden else (self.W2,):
            fan_in, fan_out = w.shape
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            w[...] = rng.uniform(-limit, limit, size=w.shape)
        self._buffers = {}

    def _views(self, slab, sizes):
        shapes = (
            (self.n_in, self.hidden),
            (self.hidden,),
            (self._fan, self.n_out),
            (self.n_out,),
        )
        views, offset = [], 0
        for size, shape in zip(sizes, shapes):
            views.append(slab[offset : offset + size].reshape(shape))
            offset += size
        return views

    def _buf(self, batch):
        buf = self._buffers.get(batch)
        if buf is None:
            buf = self._buffers[batch] = _Buffers(batch, self.n_in, self.hidden, self.n_out)
        return buf

    def get_weights(self):
        """Copies of [W1, b1, W2, b2], in Keras's order and layouts."""
        return [w.copy() for w in (self.W1, self.b1, self.W2, self.b2)]

    def set_weights(self, weights):
        for dst, src in zip((self.W1, self.b1, self.W2, self.b2), weights):
            dst[...] = src

    # ------------------------------------------------------------------ forward

    def _forward(self, x, buf, out):
        """Softmax probabilities of ``x`` into ``out``; leaves h, z, s in ``buf``."""
        n = x.shape[0]
        h, z, m, s = buf.h[:n], buf.z[:n], buf.m[:n], buf.s[:n]
        if self.hidden:
            np.matmul(x, self.W1, out=h)
            h += self.b1
            np.maximum(h, 0, out=h)
        np.matmul(h if self.hidden else x, self.W2, out=z)
        z += self.b2
        np.max(z, axis=1, keepdims=True, out=m)
        z -= m  # stable: exp of non-positive numbers
        np.exp(z, out=out)
        np.sum(out, axis=1, keepdims=True, out=s)
        out /= s
        return out

    # ----------------------------------------------------------------- training

    def _step(self, buf):
        """One RMSprop step on the batch already gathered in ``buf``; returns the loss sum."""
        x, y, h, p, z, s, rows = buf.x, buf.y, buf.h, buf.p, buf.z, buf.s, buf.rows
        n = x.shape[0]
        self._forward(x, buf, p)
        # Fused sparse categorical cross-entropy: -log p[y] = log(sum exp z) - z[y].
        np.log(s, out=s)
        loss_sum = float(s.sum()) - float(z[rows, y].sum())
        # dLoss/dz2 = (p - onehot(y)) / n, in place over p.
        p[rows, y] -= 1
        p *= _F32(1.0 / n)
        # Layer 2: dW2 = h^T dz2, db2 = sum dz2, dh = dz2 W2^T masked by relu'.
        np.matmul((h if self.hidden else x).T, p, out=self.gW2)
        np.sum(p, axis=0, out=self.gb2)
        if self.hidden:
            self._hidden_gradients(buf)
        self._rmsprop()
        return loss_sum

    def _hidden_gradients(self, buf):
        """dh = dz2 W2^T masked by relu'; dW1 = x^T dh, db1 = sum dh."""
        p, h, x = buf.p, buf.h, buf.x
        np.matmul(p, self.W2.T, out=buf.dh)
        np.greater(h, 0, out=buf.mask)
        np.multiply(buf.dh, buf.mask, out=buf.dh)
        # Layer 1: dW1 = x^T dh, db1 = sum dh (no gradient w.r.t. the input is needed).
        np.matmul(x.T, buf.dh, out=self.gW1)
        np.sum(buf.dh, axis=0, out=self.gb1)

    def _rmsprop(self):
        """Keras 3 RMSprop over the whole parameter slab, in place:
        v = rho*v + (1-rho)*g*g;  w -= lr * g / sqrt(v + eps)."""
        g, v, t = self.grads, self.velocity, self._tmp
        v *= self.rho
        np.multiply(g, g, out=t)
        t *= self.one_minus_rho
        v += t
        np.add(v, self.eps, out=t)
        np.sqrt(t, out=t)
        np.divide(g, t, out=t)
        t *= self.lr
        self.params -= t

    def train_epoch(self, x, y, batch_size=32, rng=None):
        """One epoch of shuffled mini-batch RMSprop; returns the mean training loss.

        ``x``: float32 (n, n_in), C-contiguous (see :func:`prepare`); ``y``: integer
        labels (n,). ``rng``: a ``np.random.Generator`` for the shuffle.
        """
        if x.dtype != _F32 or not x.flags.c_contiguous:
            raise TypeError(
                "x must be a C-contiguous float32 array; convert it once with prepare()"
            )
        if rng is None:
            rng = np.random.default_rng()
        y = np.asarray(y, dtype=np.intp)
        n = x.shape[0]
        order = rng.permutation(n)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            buf = self._buf(idx.shape[0])
            np.take(x, idx, axis=0, out=buf.x)
            np.take(y, idx, out=buf.y)
            total += self._step(buf)
        return total / n

    # --------------------------------------------------------------- inference

    def predict(self, x, batch_size=32):
        """Softmax probabilities, (n, n_out) float32, computed ``batch_size`` rows at a time."""
        x = np.ascontiguousarray(x, dtype=_F32).reshape(-1, self.n_in)
        n = x.shape[0]
        out = np.empty((n, self.n_out), _F32)
        buf = self._buf(min(batch_size, n) if n else 1)
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            self._forward(x[start:stop], buf, out[start:stop])
        return out

    def evaluate(self, x, y, batch_size=32):
        """(mean cross-entropy, accuracy) on ``x``, ``y``."""
        p = self.predict(x, batch_size)
        y = np.asarray(y, dtype=np.intp)
        picked = p[np.arange(y.shape[0]), y]
        loss = float(-np.log(np.maximum(picked, _F32(1e-7))).mean())
        return loss, float((p.argmax(axis=1) == y).mean())

    def accuracy(self, x, y, batch_size=1024):
        """Fraction of rows whose argmax matches ``y``."""
        return float((self.predict(x, batch_size).argmax(axis=1) == np.asarray(y)).mean())


# ---------------------------------------------------------------------------- data

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"


def _read_idx_gz(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load_fashion_mnist():
    """(x_train, y_train), (x_test, y_test) as uint8, via annc.datasets when importable,
    else straight from Debian's dataset-fashion-mnist files."""
    try:
        from annc.datasets import fashion_mnist
    except ImportError:
        pass
    else:
        return fashion_mnist.load_data()
    join = os.path.join
    y_train = _read_idx_gz(join(DEBIAN_DIR, "train-labels-idx1-ubyte.gz"), 8)
    x_train = _read_idx_gz(join(DEBIAN_DIR, "train-images-idx3-ubyte.gz"), 16).reshape(-1, 28, 28)
    y_test = _read_idx_gz(join(DEBIAN_DIR, "t10k-labels-idx1-ubyte.gz"), 8)
    x_test = _read_idx_gz(join(DEBIAN_DIR, "t10k-images-idx3-ubyte.gz"), 16).reshape(-1, 28, 28)
    return (x_train, y_train), (x_test, y_test)


def prepare(images):
    """uint8 (n, 28, 28) -> C-contiguous float32 (n, 784) scaled to [0, 1], done once."""
    x = images.reshape(images.shape[0], -1).astype(_F32)
    x /= _F32(255.0)
    return x


# ---------------------------------------------------------------------------- main


def _blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "?"
    counts = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    return "/".join(map(str, counts)) or "?"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="limit NumPy's BLAS threads (needs threadpoolctl); batch-32 GEMMs are small, "
        "so 1 thread is often fastest, especially on a busy machine",
    )
    args = parser.parse_args(argv)
    if args.blas_threads is not None:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            parser.error("--blas-threads needs threadpoolctl (pip install threadpoolctl)")
        with threadpool_limits(limits=args.blas_threads, user_api="blas"):
            return _run(args)
    return _run(args)


def _run(args):

    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    x_train, x_test = prepare(x_train), prepare(x_test)
    y_train, y_test = y_train.astype(np.intp), y_test.astype(np.intp)

    model = NumpyMLP(seed=args.seed, hidden=args.hidden)
    rng = np.random.default_rng(args.seed + 1)
    print(
        f"NumPy {np.__version__} ({_blas_threads()} BLAS threads), "
        f"Program 2 (784-{args.hidden}-10), batch {args.batch_size}"
    )
    times = []
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        loss = model.train_epoch(x_train, y_train, batch_size=args.batch_size, rng=rng)
        times.append(time.perf_counter() - t0)
        print(f"Epoch {epoch + 1}/{args.epochs}: {times[-1]:.3f} s - loss: {loss:.4f}", flush=True)
    test_loss, test_acc = model.evaluate(x_test, y_test)
    print(f"mean epoch: {np.mean(times):.3f} s (min {np.min(times):.3f} s)")
    print(f"test loss: {test_loss:.4f} - test accuracy: {test_acc:.4f}")
    return test_acc


if __name__ == "__main__":
    main()
