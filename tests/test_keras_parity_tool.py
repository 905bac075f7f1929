"""benchmarks/keras_parity.py, the side-by-side check against the real Keras, kept working
without Keras: its cases are drawn the same way in every interpreter, each feature it draws
trains on annc and repeats exactly (so a difference from Keras is Keras's), and its measure of
a difference."""
from __future__ import annotations

import os
import sys

import numpy as np

import annc as keras

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))
import keras_parity  # noqa: E402


def test_cases_are_reproducible_and_cover_the_features():
    cases = keras_parity.cases(7, 60)
    assert cases == keras_parity.cases(7, 60)
    for flag in ("l2", "activity", "schedule", "image", "split_act", "logits"):
        assert any(c[flag] for c in cases), flag
    assert {c["task"] for c in cases} == set(keras_parity.LOSSES)
    assert any(c["d"] >= 300 for c in cases)  # Program 2's scale


def test_every_drawn_case_trains_on_annc_and_repeats_exactly():
    for case in keras_parity.cases(3, 8):
        first = keras_parity.run(keras, case)
        assert all(np.isfinite(np.asarray(w)).all() for w in first["w"])
        again = keras_parity.run(keras, case)
        assert first == again  # same seed, same weights: the comparison is meaningful


def test_relative_difference():
    assert keras_parity.relative([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert abs(keras_parity.relative([1.0], [1.5]) - 0.25) < 1e-12
