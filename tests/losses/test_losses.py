"""Losses: the C kernel against float64 NumPy transcriptions of Keras 3's formulas, gradients
against central differences, stability, NaN, and the Keras-level API."""
import warnings

import numpy as np
import pytest

from annc import _core
import annc.losses as losses

EPS = 1e-7
SPARSE, CCE, BCE, MSE, MAE, HUBER = range(6)


# ---------------------------------------------------------------- float64 references

def _log_softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def ref_loss(loss_id, from_logits, param, pred, target):
    p = np.asarray(pred, np.float64)
    if loss_id == SPARSE:
        t = np.eye(p.shape[-1])[np.asarray(target)]
        loss_id = CCE
    else:
        t = np.asarray(target, np.float64)
    if loss_id == CCE:
        if from_logits:
            logp = _log_softmax(p)
        else:
            logp = np.log(np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS))
        return -np.sum(t * logp, axis=-1)
    if loss_id == BCE:
        if from_logits:
            return np.mean(np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p))), axis=-1)
        q = np.clip(p, EPS, 1 - EPS)
        return -np.mean(t * np.log(q) + (1 - t) * np.log(1 - q), axis=-1)
    e = p - t
    if loss_id == MSE:
        return np.mean(e * e, axis=-1)
    if loss_id == MAE:
        return np.mean(np.abs(e), axis=-1)
    a = np.abs(e)
    return np.mean(np.where(a <= param, 0.5 * e * e, param * a - 0.5 * param * param), axis=-1)


def numeric_grad(loss_id, from_logits, param, pred, target, scale, h=1e-6):
    p = np.asarray(pred, np.float64)
    g = np.zeros_like(p)
    for idx in np.ndindex(*p.shape):
        hi, lo = p.copy(), p.copy()
        hi[idx] += h
        lo[idx] -= h
        g[idx] = scale * (ref_loss(loss_id, from_logits, param, hi, target).sum()
                          - ref_loss(loss_id, from_logits, param, lo, target).sum()) / (2 * h)
    return g


def make_case(loss_id, from_logits, rng, rows=5, cols=4):
    """Inputs away from kinks and clip boundaries, so central differences are meaningful."""
    if loss_id in (SPARSE, CCE) and not from_logits:
        pred = rng.uniform(0.2, 2.0, (rows, cols))  # unnormalised: exercises the row-sum path
    elif loss_id == BCE and not from_logits:
        pred = rng.uniform(0.05, 0.95, (rows, cols))
    else:
        pred = rng.normal(0, 2, (rows, cols))
    if loss_id == SPARSE:
        target = rng.integers(0, cols, rows).astype(np.int32)
    elif loss_id == CCE:
        target = rng.dirichlet(np.ones(cols), rows)
    elif loss_id == BCE:
        target = rng.uniform(0, 1, (rows, cols))
    else:
        target = pred + rng.choice([-1, 1], (rows, cols)) * rng.uniform(0.1, 3.0, (rows, cols))
    if loss_id != SPARSE:
        target = target.astype(np.float32)
    return pred.astype(np.float32), target


CASES = [(l, fl) for l in (SPARSE, CCE, BCE) for fl in (False, True)] + \
        [(MSE, False), (MAE, False), (HUBER, False)]


@pytest.mark.parametrize("loss_id,from_logits", CASES)
def test_value_and_gradient_match_float64_reference(loss_id, from_logits):
    rng = np.random.default_rng(loss_id * 10 + from_logits)
    param = 1.3 if loss_id == HUBER else 0.0
    pred, target = make_case(loss_id, from_logits, rng)
    scale = 0.37
    per, grad = _core.loss(loss_id, from_logits, param, pred, target, scale, True)
    np.testing.assert_allclose(per, ref_loss(loss_id, from_logits, param, pred, target),
                               rtol=2e-6, atol=1e-6)
    expected = numeric_grad(loss_id, from_logits, param, pred, target, scale)
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6)
    # the loss alone gives the same values
    per2, none = _core.loss(loss_id, from_logits, param, pred, target, scale, False)
    assert none is None
    np.testing.assert_array_equal(per, per2)


def test_fused_softmax_gradient_is_softmax_minus_onehot():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 3, (6, 5)).astype(np.float32)
    y = rng.integers(0, 5, 6).astype(np.int32)
    _, g = _core.loss(SPARSE, True, 0.0, x, y, 1.0 / 6, True)
    e = np.exp(x.astype(np.float64) - x.max(1, keepdims=True))
    sm = e / e.sum(1, keepdims=True)
    np.testing.assert_allclose(g, (sm - np.eye(5)[y]) / 6, atol=1e-7)


@pytest.mark.parametrize("loss_id", [SPARSE, CCE])
def test_softmax_cross_entropy_is_stable_for_huge_logits(loss_id):
    x = np.array([[1000.0, 0.0, -1000.0], [-1e30, 1e30, 0.0], [88.0, 89.0, 90.0]], np.float32)
    y = np.array([2, 0, 1], np.int32)
    target = y if loss_id == SPARSE else np.eye(3, dtype=np.float32)[y]
    per, g = _core.loss(loss_id, True, 0.0, x, target, 1.0, True)
    assert np.all(np.isfinite(per)) and np.all(np.isfinite(g))
    np.testing.assert_allclose(per, ref_loss(loss_id, True, 0, x, target), rtol=1e-6)
    np.testing.assert_allclose(g[0], [1, 0, -1], atol=1e-7)


def test_sigmoid_bce_from_logits_is_stable():
    x = np.array([[100.0, -100.0, 0.0, 30.0]], np.float32)
    t = np.array([[0.0, 1.0, 0.5, 1.0]], np.float32)
    per, g = _core.loss(BCE, True, 0.0, x, t, 1.0, True)
    np.testing.assert_allclose(per, ref_loss(BCE, True, 0, x, t), rtol=1e-6)
    np.testing.assert_allclose(g, [[0.25, -0.25, 0.0, 0.0]], atol=1e-7)


def test_clip_gives_zero_gradient_where_active():
    # probability 0 for the true class: the loss saturates at -log(1e-7), no gradient
    p = np.array([[0.0, 1.0, 0.0]], np.float32)
    per, g = _core.loss(SPARSE, False, 0.0, p, np.array([0], np.int32), 1.0, True)
    np.testing.assert_allclose(per, [-np.log(np.float32(EPS))], rtol=1e-6)
    np.testing.assert_array_equal(g, 0.0)
    per, g = _core.loss(BCE, False, 0.0, np.array([[0.0, 1.0]], np.float32),
                        np.array([[1.0, 0.0]], np.float32), 1.0, True)
    # float32 like Keras: 1 - 1e-7 rounds to 1 - 2**-23, so log(1 - q) is log(2**-23)
    q_hi = np.float32(1.0 - 1e-7)
    expected = -(np.log(np.float32(EPS)) + np.log(np.float32(1.0) - q_hi)) / 2
    np.testing.assert_allclose(per, [expected], rtol=1e-6)
    np.testing.assert_array_equal(g, 0.0)


@pytest.mark.parametrize("loss_id,from_logits", CASES)
def test_nan_propagates_to_its_row_only(loss_id, from_logits):
    rng = np.random.default_rng(3)
    pred, target = make_case(loss_id, from_logits, rng, rows=3)
    pred[1, 2] = np.nan
    per, g = _core.loss(loss_id, from_logits, 1.0, pred, target, 1.0, True)
    assert np.isnan(per[1])
    assert np.isnan(g[1, 2])
    assert np.all(np.isfinite(per[[0, 2]])) and np.all(np.isfinite(g[[0, 2]]))


@pytest.mark.parametrize("bad", [-1, 4, 2**31 - 1])
def test_sparse_labels_out_of_range_are_an_error(bad):
    pred = np.full((3, 4), 0.25, np.float32)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        _core.loss(SPARSE, True, 0.0, pred, np.array([0, bad, 1], np.int32), 1.0, True)
    with pytest.raises(ValueError, match="labels must lie in"):
        losses.sparse_categorical_crossentropy(np.array([0, bad, 1]), pred)


def test_binding_rejects_bad_arrays():
    pred = np.zeros((2, 3), np.float32)
    with pytest.raises(TypeError):
        _core.loss(MSE, False, 0.0, pred.astype(np.float64), pred, 1.0, False)
    with pytest.raises(ValueError):
        _core.loss(MSE, False, 0.0, pred, np.zeros((2, 4), np.float32), 1.0, False)
    with pytest.raises(ValueError):
        _core.loss(7, False, 0.0, pred, pred, 1.0, False)
    with pytest.raises(TypeError):
        _core.loss(SPARSE, False, 0.0, pred, np.zeros(2, np.int64), 1.0, False)


# ---------------------------------------------------------------- Keras-level API

def test_keras_documented_values():
    yt = [[0.0, 1.0], [0.0, 0.0]]
    assert losses.MeanSquaredError()(yt, [[1.0, 1.0], [1.0, 0.0]]) == pytest.approx(0.5)
    assert losses.MeanAbsoluteError()(yt, [[1.0, 1.0], [1.0, 0.0]]) == pytest.approx(0.5)
    assert losses.Huber()(yt, [[0.6, 0.4], [0.4, 0.6]]) == pytest.approx(0.155, abs=1e-6)
    assert losses.BinaryCrossentropy()(yt, [[0.6, 0.4], [0.4, 0.6]]) == pytest.approx(
        0.815, abs=1e-3)
    assert losses.BinaryCrossentropy(from_logits=True)(
        [0, 1, 0, 0], [-18.6, 0.51, 2.94, -12.8]) == pytest.approx(0.865, abs=1e-3)
    probs = [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]]
    assert losses.CategoricalCrossentropy()([[0, 1, 0], [0, 0, 1]], probs) == pytest.approx(
        1.177, abs=1e-3)
    assert losses.SparseCategoricalCrossentropy()([1, 2], probs) == pytest.approx(1.177,
                                                                                  abs=1e-3)


def test_functions_return_per_sample_losses_and_reconcile_ranks():
    y = np.array([1.0, 0.0, 1.0])
    p = np.array([[0.9], [0.2], [0.6]])
    per = losses.binary_crossentropy(y, p)
    assert per.shape == (3,)
    np.testing.assert_allclose(per, ref_loss(BCE, False, 0, p, y[:, None]), rtol=1e-6)
    assert losses.mean_squared_error(np.zeros((2, 3, 4)), np.ones((2, 3, 4))).shape == (2, 3)
    # (N, 1) integer labels are accepted by the sparse loss
    per = losses.sparse_categorical_crossentropy(np.array([[1], [0]]),
                                                 np.array([[0.3, 0.7], [0.6, 0.4]]))
    np.testing.assert_allclose(per, -np.log([0.7, 0.6]), rtol=1e-6)


def test_reductions_and_sample_weight():
    yt = np.array([[0.0], [1.0], [2.0], [3.0]])
    yp = np.zeros((4, 1))
    sq = np.array([0.0, 1.0, 4.0, 9.0])
    assert losses.MeanSquaredError()(yt, yp) == pytest.approx(sq.mean())
    assert losses.MeanSquaredError(reduction="sum")(yt, yp) == pytest.approx(sq.sum())
    np.testing.assert_allclose(losses.MeanSquaredError(reduction=None)(yt, yp), sq)
    w = np.array([1.0, 0.0, 2.0, 0.5])
    assert losses.MeanSquaredError()(yt, yp, sample_weight=w) == pytest.approx((sq * w).mean())
    assert losses.MeanSquaredError(reduction="mean_with_sample_weight")(
        yt, yp, sample_weight=w) == pytest.approx((sq * w).sum() / w.sum())
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="avg")


def test_names_configs_and_engine_specs():
    cases = [
        (losses.SparseCategoricalCrossentropy(from_logits=True), "sparse_categorical_crossentropy",
         (0, True, 0.0)),
        (losses.CategoricalCrossentropy(), "categorical_crossentropy", (1, False, 0.0)),
        (losses.BinaryCrossentropy(from_logits=True), "binary_crossentropy", (2, True, 0.0)),
        (losses.MeanSquaredError(), "mean_squared_error", (3, False, 0.0)),
        (losses.MeanAbsoluteError(), "mean_absolute_error", (4, False, 0.0)),
        (losses.Huber(delta=2.5), "huber_loss", (5, False, 2.5)),
    ]
    for obj, name, spec in cases:
        assert obj.name == name
        assert obj.__annc_loss__ == spec
        assert losses.annc_loss_spec(obj) == spec
        clone = type(obj).from_config(obj.get_config())
        assert clone.__annc_loss__ == spec and clone.get_config() == obj.get_config()
        assert losses.deserialize(losses.serialize(obj)).__annc_loss__ == spec
    assert losses.CategoricalCrossentropy().get_config() == {
        "name": "categorical_crossentropy", "reduction": "sum_over_batch_size",
        "from_logits": False, "label_smoothing": 0.0, "axis": -1}
    assert losses.annc_loss_spec(losses.MeanSquaredError(reduction="sum")) is None
    assert losses.annc_loss_spec(lambda a, b: a - b) is None


def test_get_resolves_names_aliases_and_classes():
    assert losses.get("sparse_categorical_crossentropy") is losses.sparse_categorical_crossentropy
    for alias in ("mse", "MSE", "mean_squared_error"):
        assert losses.get(alias) is losses.mean_squared_error
    assert losses.get("mae") is losses.get("MAE") is losses.mean_absolute_error
    assert losses.get("huber") is losses.huber
    assert isinstance(losses.get("CategoricalCrossentropy"), losses.CategoricalCrossentropy)
    got = losses.get({"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}})
    assert got.from_logits
    obj = losses.Huber()
    assert losses.get(obj) is obj
    assert losses.get(None) is None
    for name, spec in [("categorical_crossentropy", (1, False, 0.0)), ("bce", (2, False, 0.0)),
                       ("huber", (5, False, 1.0)), ("mae", (4, False, 0.0))]:
        assert losses.annc_loss_spec(name) == spec
    with pytest.raises(ValueError, match="Valid names: .*mean_squared_error"):
        losses.get("mean_sqared_error")


def test_unsupported_arguments_raise_naming_them():
    with pytest.raises(NotImplementedError, match="label_smoothing"):
        losses.CategoricalCrossentropy(label_smoothing=0.1)
    with pytest.raises(NotImplementedError, match="label_smoothing"):
        losses.BinaryCrossentropy(label_smoothing=0.2)
    with pytest.raises(NotImplementedError, match="label_smoothing"):
        losses.binary_crossentropy([1.0], [0.5], label_smoothing=0.2)
    with pytest.raises(NotImplementedError, match="ignore_class"):
        losses.SparseCategoricalCrossentropy(ignore_class=0)
    with pytest.raises(NotImplementedError, match="axis"):
        losses.categorical_crossentropy([[1.0, 0.0]], [[0.5, 0.5]], axis=0)
    with pytest.raises(NotImplementedError, match="dtype"):
        losses.MeanSquaredError(dtype="float64")


def test_one_hot_labels_with_sparse_loss_say_so():
    with pytest.raises(ValueError, match="one-hot"):
        losses.SparseCategoricalCrossentropy()(np.eye(3)[[0, 2]], np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="class ids"):
        losses.prepare_targets("categorical_crossentropy", np.array([0, 2]), 3)


def test_logits_and_probabilities_mixups_warn():
    with pytest.warns(UserWarning, match="from_logits=True"):
        losses.SparseCategoricalCrossentropy()([0, 1], [[2.0, -1.0], [0.5, 3.0]])
    with pytest.warns(UserWarning, match="softmax would be applied twice"):
        losses.SparseCategoricalCrossentropy(from_logits=True)([0, 1], [[0.2, 0.8], [0.5, 0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses.SparseCategoricalCrossentropy(from_logits=True)([0, 1], [[2.0, -1.0], [0.5, 3.0]])


def test_prepare_targets_and_loss_and_grad():
    y = losses.prepare_targets("sparse_categorical_crossentropy", np.array([3, 0, 1], np.uint8), 4)
    assert y.dtype == np.int32 and y.shape == (3,)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        losses.prepare_targets("sparse_categorical_crossentropy", np.array([4]), 4)
    yb = losses.prepare_targets(losses.BinaryCrossentropy(), np.array([0, 1, 1]), 1)
    assert yb.dtype == np.float32 and yb.shape == (3, 1)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    per, g = losses.loss_and_grad(losses.SparseCategoricalCrossentropy(from_logits=True),
                                  [0, 1, 2, 0], x)
    assert per.shape == (4,)
    np.testing.assert_allclose(g, numeric_grad(SPARSE, True, 0, x, np.array([0, 1, 2, 0]), 0.25),
                               rtol=1e-4, atol=1e-7)


def test_config_dict_naming_a_function_keeps_its_arguments():
    got = losses.get({"class_name": "sparse_categorical_crossentropy",
                      "config": {"from_logits": True}})
    assert got.__annc_loss__ == (0, True, 0.0)
    assert losses.get({"class_name": "huber", "config": {"delta": 2.0}}).__annc_loss__ == (
        5, False, 2.0)
    assert losses.get({"class_name": "mse", "config": {}}) is losses.mean_squared_error
    with pytest.raises(TypeError):
        losses.get({"class_name": "mean_squared_error", "config": {"from_logits": True}})
