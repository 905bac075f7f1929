"""The in-place path for narrow products (csrc/narrow.c: C at most 16 columns wide, A and B read
where they lie): every element bit for bit what the packed GEMM computes. Each test runs the
same work with the path switched off and on, checks that it ran (its counter) and compares the
bits; a float64 reference checks both."""
from __future__ import annotations

import numpy as np
import pytest

import annc as keras
from annc import _core, config

from .bits import assert_same_bits, off_then_on

needs_kernel = pytest.mark.skipif(_core.isa_name() != "avx2-fma",
                                  reason="the in-place narrow kernel is AVX2+FMA")


@pytest.fixture(autouse=True)
def _restore():
    threads = config.get_num_threads()
    yield
    _core.set_narrow(True)
    config.set_num_threads(threads)


def both_ways(run):
    """run() through the packed GEMM, then through the narrow path: (packed result, narrow
    result, products the narrow path took)."""
    return off_then_on(run, _core.set_narrow, _core.narrow_taken)


# m: 1, a row group of six and a bit, primes, a batch, many; n: one partial vector, one full,
# a full and a partial, two full; k: 1, short, a training block, Program 1's width, and more
# than the 800 a narrow product takes in one K block (two and three blocks); whole tiles of 16
# rows over the deepest K block they take in place (56) and one step more
SHAPES = [(m, n, k) for m in (1, 5, 6, 7, 13, 32, 101) for n in (1, 3, 8, 10, 15, 16)
          for k in (1, 7, 80, 257)] + [(300, 10, 784), (784, 10, 32), (100, 10, 32),
                                         (7, 10, 1100), (32, 16, 1601), (13, 3, 2000),
                                         (16, 10, 56), (16, 10, 57), (48, 10, 44)]


@needs_kernel
@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_bits_equal_the_packed_kernel(m, n, k, ta, beta):
    rng = np.random.default_rng(m * 7919 + n * 31 + k + ta)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)

    def run():
        c = c0.copy()
        _core.sgemm(a, b, c, ta, False, 1.0, beta, 1)
        return c

    packed, narrow, taken = both_ways(run)
    # a multiple of 16 rows stays packed unless its K block is shallow (see narrow.c; these
    # products are one K block)
    assert taken == (m % 16 != 0 or (k <= 56 and (not ta or m == 16)))
    assert_same_bits(packed, narrow)
    ref = (a.T if ta else a).astype(np.float64) @ b + beta * c0
    np.testing.assert_allclose(narrow, ref, rtol=1e-5, atol=1e-5 * np.sqrt(k))


@needs_kernel
@pytest.mark.parametrize("act", [0, 1, 2])
def test_bias_and_activation(act):
    rng = np.random.default_rng(act)
    a = rng.standard_normal((37, 300)).astype(np.float32)
    b = rng.standard_normal((300, 10)).astype(np.float32)
    bias = rng.standard_normal(10).astype(np.float32)

    def run():
        c = np.full((37, 10), np.nan, dtype=np.float32)  # beta 0 never reads C
        _core.sgemm(a, b, c, False, False, 1.0, 0.0, 1, bias, act)
        return c

    packed, narrow, taken = both_ways(run)
    assert taken == 1
    assert_same_bits(packed, narrow)


@needs_kernel
def test_non_finite_operands_as_packed():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((20, 90)).astype(np.float32)
    b = rng.standard_normal((90, 10)).astype(np.float32)
    a[3, 7], a[11, 0] = np.inf, np.nan
    b[40, 2], b[89, 9] = -np.inf, np.nan
    a[5, :] = 0.0  # 0 * inf: NaN in row 5's column 2, as the packed kernel gives
    a[[0, 2, 4], :] = -0.0

    def run():
        c = np.zeros((20, 10), dtype=np.float32)
        _core.sgemm(a, b, c, False, False, 1.0, 0.0, 1)
        return c

    packed, narrow, taken = both_ways(run)
    assert taken == 1
    assert_same_bits(packed, narrow)
    assert np.isnan(narrow[5, 2]) and np.isnan(narrow[:, 9]).all()


def test_declines_wide_or_transposed_b_or_whole_tiles():
    """C wider than 16 columns, B transposed, or a multiple of 16 rows over a K block deeper
    than 56 (the packed kernel's tiles then full and worth packing) keeps the packed path
    (untouched counter)."""
    rng = np.random.default_rng(2)
    before = _core.narrow_taken()
    for rows, shape_b, tb in ((8, (80, 17), False), (8, (10, 80), True), (32, (80, 10), False),
                              (16, (80, 10), False)):
        a = rng.standard_normal((rows, 80)).astype(np.float32)
        b = rng.standard_normal(shape_b).astype(np.float32)
        c = np.zeros((rows, shape_b[0] if tb else shape_b[1]), dtype=np.float32)
        _core.sgemm(a, b, c, False, tb, 1.0, 0.0, 1)
        np.testing.assert_allclose(c, a @ (b.T if tb else b), rtol=1e-4, atol=1e-4)
    assert _core.narrow_taken() == before


def lecture_model(program: int):
    keras.utils.set_random_seed(3)
    layers = ([keras.layers.Dense(100, activation="relu")] if program == 2 else []) + \
        [keras.layers.Dense(10, activation="softmax")]
    model = keras.Sequential([keras.Input((784,))] + layers)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@needs_kernel
@pytest.mark.parametrize("program", [1, 2])
@pytest.mark.parametrize("threads", [1, 2])
def test_training_gives_the_same_weights(program, threads):
    """Programs 1 and 2 (the softmax layer's products of the last batch of 19 rows, and of a
    tail's share of rows on two threads, and Program 2's weight gradient of the softmax layer
    go the narrow way): the weights after training, and the predictions, bit for bit those of
    the packed path."""
    config.set_num_threads(threads)
    rng = np.random.default_rng(program)
    x = rng.random((403, 784)).astype(np.float32)
    x[x < 0.5] = 0.0
    y = rng.integers(0, 10, 403)

    def run():
        model = lecture_model(program)
        model.fit(x, y, epochs=2, verbose=0)
        return model.get_weights() + [model.predict(x[:50], verbose=0)]

    packed, narrow, taken = both_ways(run)
    assert taken > 0
    assert_same_bits(packed, narrow)
