"""The zero-skipping product (csrc/zeroskip.c): a mostly-zero left operand's zeros are skipped,
and every element of the result is bit for bit what the dense kernel computes. Each test runs
the same work with the path switched off and on, checks the path really ran (its counter), and
compares the bits; the float64 reference checks both."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import annc as keras
from annc import _core, config

from .bits import assert_same_bits, off_then_on

needs_kernel = pytest.mark.skipif(_core.isa_name() != "avx2-fma",
                                  reason="the zero-skipping kernels are AVX2+FMA")


@pytest.fixture(autouse=True)
def _restore():
    threads = config.get_num_threads()
    yield
    _core.set_zero_skip(True)
    config.set_num_threads(threads)


def sparse(rng, shape, density, signed_zeros=False):
    a = rng.standard_normal(shape).astype(np.float32)
    a[rng.random(shape) >= density] = 0.0
    if signed_zeros:
        a[(a == 0) & (rng.random(shape) < 0.5)] = -0.0
    return a


def both_ways(run, taken=_core.zero_skip_taken):
    """run() with the row-form paths off, then on: (dense result, row-form result, products
    the path counted by `taken` took: zero-skipping by default, or _core.short_k_taken)."""
    return off_then_on(run, _core.set_zero_skip, taken)


# m: 1, primes, a group and a bit; n: the narrowest taken, strips of 13 vectors and a bit,
# partial last vectors; k: one mask word or several, partial words, K blocks (1100 > 800;
# 784 with both sides > 128 is cut into blocks of 264)
SHAPES = [(1, 32, 1), (7, 33, 13), (32, 100, 80), (65, 104, 64), (129, 105, 129),
          (300, 257, 784), (31, 211, 1100), (2, 40, 65)]


@needs_kernel
@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_bits_equal_the_dense_kernel(m, n, k, ta, beta):
    rng = np.random.default_rng(m * 7919 + n * 31 + k + ta)
    a = sparse(rng, (k, m) if ta else (m, k), 0.35, signed_zeros=True)
    a.flat[0] = 0.0  # the 1 x 1 case: sparse enough to take
    b = rng.standard_normal((k, n)).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)

    def run():
        c = c0.copy()
        _core.sgemm(a, b, c, ta, False, 1.0, beta, 1)
        return c

    dense, skipping, taken = both_ways(run)
    assert taken == 1
    assert_same_bits(skipping, dense)
    ref = (a.T if ta else a).astype(np.float64) @ b + beta * c0
    mag = np.abs(a.T if ta else a).astype(np.float64) @ np.abs(b) + np.abs(c0)
    assert (np.abs(skipping - ref) <= 4 * k * np.finfo(np.float32).eps * mag + 1e-30).all()


@needs_kernel
@pytest.mark.parametrize("act", [0, 1, 2])  # linear, relu, sigmoid
def test_bias_and_activation_after_the_rows(act):
    rng = np.random.default_rng(act)
    a = sparse(rng, (300, 784), 0.5)
    b = rng.standard_normal((784, 100)).astype(np.float32)
    bias = rng.standard_normal(100).astype(np.float32)

    def run():
        c = np.empty((300, 100), np.float32)
        _core.sgemm(a, b, c, False, False, 1.0, 0.0, 1, bias=bias, act=act)
        return c

    dense, skipping, taken = both_ways(run)
    assert taken == 1
    assert_same_bits(skipping, dense)


@needs_kernel
def test_all_zero_rows_and_operands():
    rng = np.random.default_rng(5)
    b = rng.standard_normal((64, 48)).astype(np.float32)
    a = sparse(rng, (20, 64), 0.3)
    a[3] = 0.0
    a[7] = -0.0

    def run():
        c = np.full((20, 48), np.nan, np.float32)
        _core.sgemm(a, b, c, False, False, 1.0, 0.0, 1)
        return c

    dense, skipping, taken = both_ways(run)
    assert taken == 1
    assert_same_bits(skipping, dense)
    assert_same_bits(skipping[3], np.zeros(48, np.float32))  # +0, not -0
    zeros = np.zeros((20, 64), np.float32)
    c = np.full((20, 48), np.nan, np.float32)
    _core.sgemm(zeros, b, c, False, False, 1.0, 0.0, 1)
    assert_same_bits(c, np.zeros((20, 48), np.float32))


@needs_kernel
def test_nan_and_inf_in_a_propagate_as_dense():
    rng = np.random.default_rng(6)
    a = sparse(rng, (40, 90), 0.3)
    a[2, 5] = np.nan
    a[9, 60] = np.inf
    b = rng.standard_normal((90, 64)).astype(np.float32)
    b[60, 3] = 0.0  # inf * 0 -> NaN in row 9, column 3

    def run():
        c = np.empty((40, 64), np.float32)
        _core.sgemm(a, b, c, False, False, 1.0, 0.0, 1)
        return c

    dense, skipping, taken = both_ways(run)
    assert taken == 1
    assert_same_bits(skipping, dense)
    assert np.isnan(skipping[2]).all() and np.isnan(skipping[9, 3])


@needs_kernel
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("k,n,at", [(80, 100, (41, 17)), (7, 45, (6, 44)), (9, 40, (8, 33))])
def test_a_non_finite_b_goes_to_the_dense_kernel(bad, ta, k, n, at):
    # a skipped 0 * inf would have been NaN: the whole product must stay dense (the last two
    # put it in the partial vectors after the finiteness scan's runs of 32)
    rng = np.random.default_rng(7)
    a = sparse(rng, (k, 32) if ta else (32, k), 0.3)
    b = rng.standard_normal((k, n)).astype(np.float32)
    b[at] = bad

    def run():
        c = np.empty((32, n), np.float32)
        _core.sgemm(a, b, c, ta, False, 1.0, 0.0, 1)
        return c

    dense, skipping, taken = both_ways(run)
    assert taken == 0
    assert_same_bits(skipping, dense)
    assert np.isnan(skipping[:, at[1]]).sum() >= 1


@needs_kernel
def test_declined_when_dense_or_narrow():
    rng = np.random.default_rng(8)
    b = rng.standard_normal((100, 64)).astype(np.float32)
    c = np.empty((50, 64), np.float32)
    before = _core.zero_skip_taken()
    _core.sgemm(sparse(rng, (50, 100), 0.9), b, c, False, False, 1.0, 0.0, 1)  # too dense
    _core.sgemm(sparse(rng, (50, 100), 0.3), b[:, :31].copy(), c[:, :31].copy(), False, False,
                1.0, 0.0, 1)  # too narrow
    _core.sgemm(sparse(rng, (50, 100), 0.3), b, c, False, False, 0.5, 0.0, 1)  # alpha
    _core.sgemm(sparse(rng, (50, 100), 0.3), b, c, False, False, 1.0, 0.5, 1)  # beta
    assert _core.zero_skip_taken() == before
    _core.sgemm(sparse(rng, (50, 100), 0.3), b, c, False, False, 1.0, 0.0, 1)
    assert _core.zero_skip_taken() == before + 1


def _sparse_dataset(n=1200, features=150, classes=5, seed=0):
    rng = np.random.default_rng(seed)
    x = np.abs(sparse(rng, (n, features), 0.45))
    y = (x[:, :classes] * 3 + rng.random((n, classes))).argmax(1).astype(np.int64)
    return x, y


def _train_sparse(threads):
    config.set_num_threads(threads)
    x, y = _sparse_dataset()
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.layers.Dense(100, activation="sigmoid", input_shape=(150,)),
                              keras.layers.Dense(5, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    return [w.copy() for w in model.get_weights()], hist.history, model.predict(x, verbose=0)


@needs_kernel
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_training_and_prediction_identical(threads):
    dense, skipping, taken = both_ways(lambda: _train_sparse(threads))
    assert taken > 100  # forward blocks and weight gradients of every step
    (w0, h0, p0), (w1, h1, p1) = dense, skipping
    assert h1 == h0
    assert_same_bits([w1, p1], [w0, p0])


@needs_kernel
@pytest.mark.parametrize("threads", [1, 2])
def test_equal_widths_apart_keep_their_own_gradients(threads):
    # the gradient buffers alternate by layer: the third and the first layer's output
    # gradients share an address within a step (same width, same rows), and the narrow layer
    # between them does not skip zeros; each must still use its own padded copy
    def run():
        config.set_num_threads(threads)
        x, y = _sparse_dataset(n=640)
        keras.utils.set_random_seed(6)
        model = keras.Sequential([keras.layers.Dense(400, activation="relu", input_shape=(150,)),
                                  keras.layers.Dense(20, activation="relu"),
                                  keras.layers.Dense(400, activation="relu"),
                                  keras.layers.Dense(5, activation="softmax")])
        model.compile(loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=1, batch_size=32, verbose=0)
        return [w.copy() for w in model.get_weights()]

    dense, skipping, taken = both_ways(run)
    assert taken > 0
    assert_same_bits(skipping, dense)


@needs_kernel
def test_many_chunk_prediction_keeps_one_padded_kernel_per_call():
    # the padded copy of W is kept across a call's chunks and dropped between calls
    config.set_num_threads(2)
    x, _ = _sparse_dataset(n=3000)
    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.layers.Dense(100, activation="relu", input_shape=(150,)),
                              keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(5)])
    model.compile(loss="mse")

    original = [w.copy() for w in model.get_weights()]

    def run():
        first = model.predict(x, batch_size=3000, verbose=0)
        w = [v.copy() for v in original]
        w[0] *= 0.5
        w[2][:, 0] = 0.0
        model.set_weights(w)
        second = model.predict(x, batch_size=3000, verbose=0)
        model.set_weights(original)
        return first, second

    dense, skipping, taken = both_ways(run)
    assert taken > 0
    assert_same_bits(skipping, dense)
    assert not np.array_equal(skipping[0], skipping[1])


@needs_kernel
@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("m", [100, 1000])
def test_rows_shared_among_threads(threads, m):
    rng = np.random.default_rng(threads * m)
    a = sparse(rng, (m, 784), 0.5)
    b = rng.standard_normal((784, 100)).astype(np.float32)
    bias = rng.standard_normal(100).astype(np.float32)

    def run():
        out = []
        for nt in (1, threads):
            c = np.empty((m, 100), np.float32)
            _core.sgemm(a, b, c, False, False, 1.0, 0.0, nt, bias=bias, act=1)
            out.append(c)
        return out

    dense, skipping, taken = both_ways(run)
    assert taken == 2
    assert_same_bits(skipping, dense)


@needs_kernel
def test_evaluate_identical():
    config.set_num_threads(2)
    x, y = _sparse_dataset(n=2000)
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.layers.Dense(100, activation="relu", input_shape=(150,)),
                              keras.layers.Dense(5, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    dense, skipping, taken = both_ways(lambda: model.evaluate(x, y, verbose=0))
    assert taken > 0
    assert skipping == dense


@needs_kernel
@pytest.mark.parametrize("value,on", [("0", False), ("off", False), ("1", True)])
def test_environment_switch(value, on):
    script = ("import numpy as np; from annc import _core\n"
              "a = np.zeros((40, 64), np.float32); a[:, ::5] = 1\n"
              "b = np.ones((64, 48), np.float32); c = np.empty((40, 48), np.float32)\n"
              "_core.sgemm(a, b, c, False, False, 1.0, 0.0, 1)\n"
              "print(_core.zero_skip(), _core.zero_skip_taken(), float(c.sum()))")
    env = dict(os.environ, ANNC_ZERO_SKIP=value)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert out == [str(on), "1" if on else "0", str(40.0 * 48 * 13)]


# ---------------------------------------------------------------- short K against B^T

# m: 1, primes, a 128-row group and a bit; n: the narrowest taken, a padded row (100: 13
# vectors, the last partial), several strips (257); k: 1, a narrow layer's 10 units, a prime,
# the largest (one mask word)
SHORT_K_SHAPES = [(1, 32, 1), (16, 100, 10), (7, 33, 13), (129, 257, 64), (300, 100, 63),
                  (2, 211, 5)]


@needs_kernel
@pytest.mark.parametrize("m,n,k", SHORT_K_SHAPES)
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_short_k_bits_equal_the_dense_kernel(m, n, k, beta):
    rng = np.random.default_rng(m * 131 + n * 7 + k)
    a = sparse(rng, (m, k), 0.8, signed_zeros=True)  # zeros included, not skipped
    b = rng.standard_normal((n, k)).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)

    def run():
        c = c0.copy()
        _core.sgemm(a, b, c, False, True, 1.0, beta, 1)
        return c

    dense, by_rows, taken = both_ways(run, _core.short_k_taken)
    assert taken == 1
    assert_same_bits(by_rows, dense)
    ref = a.astype(np.float64) @ b.T.astype(np.float64) + beta * c0
    np.testing.assert_allclose(by_rows, ref, rtol=1e-5, atol=1e-5)


@needs_kernel
@pytest.mark.parametrize("act", [1, 2])  # relu, sigmoid
def test_short_k_bias_and_activation(act):
    rng = np.random.default_rng(act)
    a = rng.standard_normal((9, 10)).astype(np.float32)
    b = rng.standard_normal((100, 10)).astype(np.float32)
    bias = rng.standard_normal(100).astype(np.float32)

    def run():
        c = np.full((9, 100), np.nan, np.float32)  # beta 0: never read
        _core.sgemm(a, b, c, False, True, 1.0, 0.0, 1, bias=bias, act=act)
        return c

    dense, by_rows, taken = both_ways(run, _core.short_k_taken)
    assert taken == 1
    assert_same_bits(by_rows, dense)


@needs_kernel
def test_short_k_non_finite_operands_as_dense():
    # nothing is skipped, so inf and NaN anywhere give what the dense kernel gives
    rng = np.random.default_rng(11)
    a = rng.standard_normal((12, 10)).astype(np.float32)
    b = rng.standard_normal((100, 10)).astype(np.float32)
    a[3, 4] = np.nan
    a[5, 0] = np.inf
    a[6, 9] = 0.0
    b[7, 9] = np.inf  # 0 * inf in row 6 is NaN, as dense
    b[50, 2] = -np.inf

    def run():
        c = np.empty((12, 100), np.float32)
        _core.sgemm(a, b, c, False, True, 1.0, 0.0, 1)
        return c

    dense, by_rows, taken = both_ways(run, _core.short_k_taken)
    assert taken == 1
    assert np.isnan(by_rows[3]).all() and np.isnan(by_rows[6, 7])
    assert_same_bits(by_rows, dense)


@needs_kernel
def test_short_k_declines():
    rng = np.random.default_rng(12)
    b = rng.standard_normal((100, 65)).astype(np.float32)
    c = np.empty((8, 100), np.float32)
    before = _core.short_k_taken()
    _core.sgemm(rng.standard_normal((8, 65)).astype(np.float32), b, c, False, True, 1.0, 0.0,
                1)  # k > 64
    _core.sgemm(rng.standard_normal((8, 10)).astype(np.float32), b[:31, :10].copy(),
                c[:, :31].copy(), False, True, 1.0, 0.0, 1)  # too narrow
    _core.sgemm(rng.standard_normal((8, 10)).astype(np.float32), b[:, :10].copy(), c, False,
                True, 2.0, 0.0, 1)  # alpha
    _core.sgemm(rng.standard_normal((10, 8)).astype(np.float32), b[:, :10].copy(), c, True,
                True, 1.0, 0.0, 1)  # op(A) transposed
    _core.sgemm(rng.standard_normal((8, 10)).astype(np.float32), b[:, :10].copy().T.copy(), c,
                False, False, 1.0, 0.0, 1)  # B not transposed
    assert _core.short_k_taken() == before
    _core.set_zero_skip(False)
    _core.sgemm(rng.standard_normal((8, 10)).astype(np.float32), b[:, :10].copy(), c, False,
                True, 1.0, 0.0, 1)  # switched off with the zero-skipping products
    assert _core.short_k_taken() == before


@needs_kernel
@pytest.mark.parametrize("threads", [1, 2])
def test_short_k_in_training(threads):
    # the narrow output layer's input gradient goes by rows (on two threads, each thread's
    # rows of the tail); the weights come out as the dense kernels make them
    dense, by_rows, taken = both_ways(lambda: _train_sparse(threads), _core.short_k_taken)
    assert taken > 50
    (w0, h0, p0), (w1, h1, p1) = dense, by_rows
    assert h1 == h0
    assert_same_bits([w1, p1], [w0, p0])


@needs_kernel
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("batch", [32, 45, 7])
@pytest.mark.parametrize("width", [230, 97])
def test_masks_formed_while_gathering_in_training(threads, batch, width):
    # the first layer's blocks copy the next rows' columns and form their row and column masks
    # on the way (train.c: next_cols_gather); the block's forward product uses the row masks at
    # once and its weight gradient the column masks a step later. Signed zeros are zeros, two
    # words of column masks at 45 rows (up to 32, one pass per row over both row-mask words),
    # blocks of 80 and 70 columns (230) or 52 and 45 (97), and the last step is short. Same
    # bits as dense.
    def run():
        config.set_num_threads(threads)
        rng = np.random.default_rng(batch)
        x = sparse(rng, (400, width), 0.45, signed_zeros=True)
        y = rng.integers(0, 4, 400)
        keras.utils.set_random_seed(5)
        model = keras.Sequential([keras.Input((width,)),
                                  keras.layers.Dense(100, activation="relu"),
                                  keras.layers.Dense(4, activation="softmax")])
        model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        h = model.fit(x, y, batch_size=batch, epochs=2, verbose=0)
        return [w.copy() for w in model.get_weights()], h.history

    dense, skipping, taken = both_ways(run, _core.zs_given_taken)
    assert taken > 2 * (400 // batch)  # forward blocks and weight gradients of most steps
    assert skipping[1] == dense[1]
    assert_same_bits(skipping[0], dense[0])


@needs_kernel
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_kernel_turned_non_finite_goes_dense(threads, bad):
    # the forward products after an update skip their scan of W when RMSprop reports the rows
    # finite; a kernel holding inf or NaN must still take the dense kernel (0 * inf is NaN), in
    # the first step and in every step after, whatever the thread count (the NaN cases fail
    # when the update claims finite rows regardless; an inf spreads to NaN in the first step,
    # dense in both runs, before any update could claim anything)
    def run():
        config.set_num_threads(threads)
        x, y = _sparse_dataset(n=480)
        keras.utils.set_random_seed(8)
        model = keras.Sequential([keras.layers.Dense(100, activation="relu", input_shape=(150,)),
                                  keras.layers.Dense(5, activation="softmax")])
        model.compile(loss="sparse_categorical_crossentropy")
        weights = model.get_weights()
        weights[0][7, 3] = bad  # a row of the first K block; its column 7 is often zero
        model.set_weights(weights)
        model.fit(x, y, epochs=1, batch_size=32, verbose=0)
        return [w.copy() for w in model.get_weights()]

    dense, skipping, taken = both_ways(run)
    assert taken > 0  # the blocks without the bad row still skip zeros
    assert not np.isfinite(skipping[0]).all()
    assert_same_bits(skipping, dense)
