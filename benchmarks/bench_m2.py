"""Program 2's training step and inference under pytest-benchmark (a benchmark suite, not timed
tests): annc vs the NumPy baseline (benchmarks/numpy_mlp.py) on one epoch of 12,000 synthetic
Fashion-MNIST-shaped rows, 10k-row predict and one-record latency.

    pytest benchmarks/bench_m2.py --benchmark-group-by=param:what

benchmarks/m2_side_by_side.py gives the full-data interleaved table for the README."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy_mlp  # noqa: E402

import annc as keras  # noqa: E402

N = 12_000


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.random((N, 784), dtype=np.float32)
    y = rng.integers(0, 10, N)
    return x, y


def _annc_model():
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.layers.Dense(100, activation="relu", input_shape=(784,)),
                          keras.layers.Dense(10, activation="softmax")])
    m.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


@pytest.mark.parametrize("what", ["epoch"])
def test_annc_epoch(benchmark, data, what):
    x, y = data
    m = _annc_model()
    benchmark(lambda: m.fit(x, y, epochs=1, verbose=0))


@pytest.mark.parametrize("what", ["epoch"])
def test_numpy_epoch(benchmark, data, what):
    x, y = data
    ref = numpy_mlp.NumpyMLP(seed=0)
    rng = np.random.default_rng(0)
    benchmark(lambda: ref.train_epoch(x, y, rng=rng))


@pytest.mark.parametrize("what", ["predict10k"])
def test_annc_predict(benchmark, data, what):
    m = _annc_model()
    benchmark(lambda: m.predict(data[0][:10_000], verbose=0))


@pytest.mark.parametrize("what", ["predict10k"])
def test_numpy_predict(benchmark, data, what):
    ref = numpy_mlp.NumpyMLP(seed=0)
    benchmark(lambda: ref.predict(data[0][:10_000], batch_size=32))


@pytest.mark.parametrize("what", ["latency"])
def test_annc_one_record(benchmark, data, what):
    m = _annc_model()
    one = data[0][:1].copy()
    benchmark(lambda: m(one))


@pytest.mark.parametrize("what", ["latency"])
def test_numpy_one_record(benchmark, data, what):
    ref = numpy_mlp.NumpyMLP(seed=0)
    one = data[0][:1].copy()
    benchmark(lambda: ref.predict(one, batch_size=1))
