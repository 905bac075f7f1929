"""The training step's fused head (csrc/head.c, head_avx2.c): a tail's rows through a narrow
softmax layer fused with a sparse cross-entropy, and back through the ReLU layer before it, in
one pass where the unfused path makes four calls. Training with it on and off must give the
same weights and the same reported loss and accuracy, bit for bit; each test checks that the
head ran."""
from __future__ import annotations

import numpy as np
import pytest

import annc as keras
from annc import _core, config

from .bits import assert_same_bits, off_then_on

needs_kernel = pytest.mark.skipif(_core.isa_name() != "avx2-fma",
                                  reason="the fused head is AVX2+FMA")


@pytest.fixture(autouse=True)
def _restore():
    threads = config.get_num_threads()
    yield
    _core.set_fused_head(True)
    _core.set_block_sharing(1)
    config.set_num_threads(threads)


def model_of(hidden: int, classes: int, out_bias: bool) -> keras.Sequential:
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(hidden, activation="relu"),
                              keras.layers.Dense(classes, activation="softmax",
                                                 use_bias=out_bias)])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def train_both_ways(hidden, classes, out_bias, batch, sharing=1):
    config.set_num_threads(2)
    _core.set_block_sharing(sharing)
    rng = np.random.default_rng(hidden * 31 + classes)
    x = rng.random((403, 784)).astype(np.float32)
    x[x < 0.5] = 0.0
    y = rng.integers(0, classes, 403)

    def run():
        model = model_of(hidden, classes, out_bias)
        history = model.fit(x, y, epochs=2, batch_size=batch, verbose=0)
        logs = [np.array(v, np.float64) for v in history.history.values()]
        return model.get_weights() + logs

    return off_then_on(run, _core.set_fused_head, _core.fused_head_taken)


# hidden widths: Program 2's, one vector, primes, the widest the head takes (13 vectors) and
# one more (the unfused path); classes: Program 2's, two, one vector and one more, the most
@needs_kernel
@pytest.mark.parametrize("hidden,classes,out_bias", [
    (100, 10, True), (100, 10, False), (37, 3, True), (104, 16, True), (81, 9, True),
    (64, 2, False), (53, 8, True)])
@pytest.mark.parametrize("batch", [32, 50])
def test_training_gives_the_same_bits(hidden, classes, out_bias, batch):
    off, on, taken = train_both_ways(hidden, classes, out_bias, batch)
    assert taken > 0
    assert_same_bits(off, on)


@needs_kernel
def test_uneven_row_shares_give_the_same_bits():
    """The tail's rows shared 1 : 3 between the threads (and every block formed by the other
    thread first): 8 and 24 rows, groups of four rows and a row alone at the end of 50."""
    for batch in (32, 50):
        off, on, taken = train_both_ways(100, 10, True, batch, sharing=2)
        assert taken > 0
        assert_same_bits(off, on)


@needs_kernel
def test_a_layer_wider_than_the_head_takes_the_unfused_path():
    _core.set_fused_head(True)
    before = _core.fused_head_taken()
    config.set_num_threads(2)
    model = model_of(105, 10, True)
    rng = np.random.default_rng(0)
    model.fit(rng.random((64, 784)).astype(np.float32), rng.integers(0, 10, 64), verbose=0)
    assert _core.fused_head_taken() == before


@needs_kernel
def test_weights_set_between_fits_and_clipped_updates():
    """A kernel set from Python between fits, and updates made after the whole backward pass
    (norm clipping): the same bits with the head on and off."""
    config.set_num_threads(2)
    rng = np.random.default_rng(9)
    x = rng.random((256, 784)).astype(np.float32)
    x[x < 0.5] = 0.0
    y = rng.integers(0, 10, 256)

    def run():
        model = model_of(100, 10, True)
        model.fit(x, y, epochs=1, verbose=0)
        weights = model.get_weights()
        weights[2] = (weights[2] * -1.5).astype(np.float32)
        model.set_weights(weights)
        model.fit(x, y, epochs=1, verbose=0)
        model.compile(optimizer=keras.optimizers.RMSprop(clipnorm=1.0),
                      loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=1, verbose=0)
        return model.get_weights()

    off, on, taken = off_then_on(run, _core.set_fused_head, _core.fused_head_taken)
    assert taken > 0
    assert_same_bits(off, on)
