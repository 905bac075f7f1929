"""annc.metrics: the metric objects and functions (Keras 3's contract), and metrics.get."""
import numpy as np
import pytest

import annc as keras
from annc import metrics as M

rng = np.random.default_rng(0)
P = rng.random((6, 4)).astype(np.float32)
P /= P.sum(1, keepdims=True)
IDS = rng.integers(0, 4, 6)
ONE_HOT = np.eye(4, dtype=np.float32)[IDS]
Y = rng.standard_normal((6, 4)).astype(np.float32)


def test_running_mean_over_updates_and_reset():
    m = keras.metrics.SparseCategoricalAccuracy()
    m.update_state(IDS, P)
    m.update_state(IDS[:3], P[:3])
    hits = (P.argmax(1) == IDS).astype(float)
    assert m.result() == pytest.approx((hits.sum() + hits[:3].sum()) / 9)
    m.reset_state()
    assert m.result() == 0.0  # as Keras: no samples, zero


def test_sample_weights_weight_each_samples_value():
    m = keras.metrics.MeanAbsoluteError()
    w = np.arange(6, dtype=np.float32)
    m.update_state(Y, P, sample_weight=w)
    per_sample = np.abs(Y - P).mean(1)
    assert m.result() == pytest.approx((per_sample * w).sum() / w.sum(), rel=1e-6)


def test_metric_functions_per_sample():
    np.testing.assert_array_equal(M.sparse_categorical_accuracy(IDS[:, None], P),
                                  (P.argmax(1) == IDS).astype(np.float32))
    np.testing.assert_array_equal(M.categorical_accuracy(ONE_HOT, P),
                                  (P.argmax(1) == IDS).astype(np.float32))
    np.testing.assert_allclose(M.binary_accuracy(ONE_HOT, P),
                               ((P > 0.5) == (ONE_HOT > 0.5)).mean(1))
    np.testing.assert_allclose(M.mean_squared_error(Y, P), ((Y - P) ** 2).mean(1), rtol=1e-6)


def test_get_by_name_function_class_or_instance():
    assert isinstance(M.get("mae"), M.MeanAbsoluteError) and M.get("mae").name == "mae"
    assert isinstance(M.get("categorical_accuracy"), M.CategoricalAccuracy)
    assert isinstance(M.get(M.mean_squared_error), M.MeanSquaredError)
    assert isinstance(M.get(M.BinaryAccuracy), M.BinaryAccuracy)
    inst = M.SparseCategoricalAccuracy(name="acc_ids")
    assert M.get(inst) is inst
    # keras.metrics.get('accuracy') is the exact-equality Accuracy; compile resolves the
    # string by shape instead
    acc = M.get("accuracy")
    assert type(acc) is M.Accuracy and acc.name == "accuracy"
    acc.update_state(np.array([1, 2, 3]), np.array([1, 0, 3]))
    assert acc.result() == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="Unknown metric 'f1'"):
        M.get("f1")
    with pytest.raises(ValueError, match="Could not interpret"):
        M.get(3)
