"""The NumPy baseline the benchmarks time annc against (benchmarks/numpy_mlp.py) computes
the same training step as annc: Keras's RMSprop on the fused softmax cross-entropy, for
Program 2's MLP and for Program 1's softmax regression (hidden=0). A baseline with a wrong
gradient or update would make every ratio in the README meaningless."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import annc as keras

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))
import numpy_mlp  # noqa: E402


def _annc_model(hidden: int):
    layers = ([keras.layers.Dense(hidden, activation="relu", input_shape=(30,)),
               keras.layers.Dense(5, activation="softmax")] if hidden else
              [keras.layers.Dense(5, activation="softmax", input_shape=(30,))])
    model = keras.Sequential(layers)
    model.compile(loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("hidden", [17, 0])
def test_baseline_steps_match_annc(hidden):
    rng = np.random.default_rng(3)
    x = rng.random((64, 30), dtype=np.float32)
    y = rng.integers(0, 5, 64)
    ref = numpy_mlp.NumpyMLP(seed=1, hidden=hidden, n_in=30, n_out=5)
    rng_w = np.random.default_rng(9)
    start = [(rng_w.standard_normal(w.shape) * 0.3).astype(np.float32)
             for w in ref.get_weights()]
    ref.set_weights(start)
    model = _annc_model(hidden)
    model.set_weights([w for w in start if w.size])  # hidden=0: W1, b1 are empty
    losses_ref, losses_annc = [], []
    for step in range(3):  # the same batches, in order, three RMSprop steps
        rows = np.arange(step * 32, step * 32 + 32) % 64
        buf = ref._buf(32)
        np.take(x, rows, axis=0, out=buf.x)
        np.take(y, rows, out=buf.y)
        losses_ref.append(ref._step(buf) / 32)
        losses_annc.append(float(model.train_on_batch(x[rows], y[rows])))
    # Keras 3's train_on_batch resets the metrics first: each call reports its own batch
    np.testing.assert_allclose(losses_annc, losses_ref, rtol=2e-5)
    got = model.get_weights()
    want = [w for w in ref.get_weights() if w.size]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-6)
    # the steps moved the weights (the comparison is not of two untouched copies)
    assert not np.allclose(got[0], start[0 if hidden else 2])
