"""Activations: C kernels against float64 NumPy references (forward) and central differences
(backward), softmax stability, NaN propagation, lookup and the engine's act specs."""
import functools
import math

import numpy as np
import pytest

from annc import _core
import annc.activations as A

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_erf = np.vectorize(math.erf)


def _sig(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


# act_id -> (float64 reference f(x, param), param used in the tests)
REFS = {
    0: (lambda x, a: x, 0.0),
    1: (lambda x, a: np.maximum(x, 0.0), 0.0),
    2: (lambda x, a: _sig(x), 0.0),
    3: (lambda x, a: np.tanh(x), 0.0),
    5: (lambda x, a: np.where(x > 0, x, a * np.expm1(x)), 0.7),
    6: (lambda x, a: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)), 0.0),
    7: (lambda x, a: np.logaddexp(x, 0.0), 0.0),
    8: (lambda x, a: x / (1 + np.abs(x)), 0.0),
    9: (lambda x, a: x * _sig(x), 0.0),
    10: (lambda x, a: 0.5 * x * (1 + _erf(x / np.sqrt(2))), 0.0),
    11: (lambda x, a: np.where(x > 0, x, a * x), 0.2),
    12: (lambda x, a: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))), 0.0),
}


def _inputs(seed=0, n=400):
    x = np.random.default_rng(seed).uniform(-6, 6, n)
    x = x[np.abs(x) > 1e-2]  # keep central differences off the kinks at 0
    return x.astype(np.float32)


@pytest.mark.parametrize("act_id", sorted(REFS))
def test_forward_matches_float64_reference(act_id):
    f, a = REFS[act_id]
    x = np.concatenate([_inputs(), np.array([-80, -20, 0, 20, 80], np.float32)])
    y = _core.act_forward(act_id, a, x)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, f(x.astype(np.float64), a), rtol=3e-6, atol=2e-7)


@pytest.mark.parametrize("act_id", sorted(REFS))
def test_backward_matches_central_differences(act_id):
    f, a = REFS[act_id]
    x = _inputs(1)
    x64 = x.astype(np.float64)
    h = 1e-6
    num = (f(x64 + h, a) - f(x64 - h, a)) / (2 * h)
    dy = np.random.default_rng(2).normal(size=x.shape).astype(np.float32)
    y = _core.act_forward(act_id, a, x)
    dx = _core.act_backward(act_id, a, dy, x, y)
    np.testing.assert_allclose(dx, dy * num, rtol=1e-4, atol=1e-6)
    # y alone suffices when the kernel says it does
    if not _core.act_needs_input(act_id):
        np.testing.assert_array_equal(_core.act_backward(act_id, a, dy, None, y), dx)
    else:
        with pytest.raises(ValueError, match="pre-activation"):
            _core.act_backward(act_id, a, dy, None, y)


@pytest.mark.parametrize("act_id", sorted(REFS))
def test_nan_propagates(act_id):
    _, a = REFS[act_id]
    y = _core.act_forward(act_id, a, np.array([np.nan, 1.0], np.float32))
    assert np.isnan(y[0]) and np.isfinite(y[1])


def test_sigmoid_softplus_do_not_overflow():
    x = np.array([-1e4, -100, 100, 1e4], np.float32)
    with np.errstate(all="raise"):
        np.testing.assert_allclose(A.sigmoid(x), [0, 0, 1, 1], atol=1e-30)
        np.testing.assert_allclose(A.softplus(x), [0, 0, 100, 1e4], atol=1e-30)


def test_softmax_stable_and_along_any_axis():
    x = np.array([[1000.0, 1001.0, 1002.0], [-1e4, 0.0, 1e4]], np.float32)
    y = A.softmax(x)
    e = np.exp(x.astype(np.float64) - x.max(1, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(1, keepdims=True), rtol=1e-6, atol=1e-30)
    z = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32)
    for axis in (0, 1, -1):
        e = np.exp(z.astype(np.float64) - z.max(axis, keepdims=True))
        np.testing.assert_allclose(A.softmax(z, axis=axis), e / e.sum(axis, keepdims=True),
                                   rtol=1e-6)
    y = A.softmax(np.array([[np.nan, 1.0], [0.0, 1.0]], np.float32))
    assert np.all(np.isnan(y[0])) and np.all(np.isfinite(y[1]))


def test_softmax_backward_matches_central_differences():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 5))
    dy = rng.normal(size=(3, 5))

    def f(v):
        e = np.exp(v - v.max(1, keepdims=True))
        return np.sum(dy * e / e.sum(1, keepdims=True))

    h = 1e-6
    num = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        num[idx] = (f(xp) - f(xm)) / (2 * h)
    y = _core.softmax(x.astype(np.float32))
    dx = _core.softmax_backward(dy.astype(np.float32), y)
    np.testing.assert_allclose(dx, num, rtol=1e-4, atol=1e-6)


def test_keras_relu_arguments():
    x = np.array([-10, -5, 0.0, 5, 10])
    np.testing.assert_allclose(A.relu(x), [0, 0, 0, 5, 10])
    np.testing.assert_allclose(A.relu(x, negative_slope=0.5), [-5, -2.5, 0, 5, 10])
    np.testing.assert_allclose(A.relu(x, max_value=5.0), [0, 0, 0, 5, 5])
    np.testing.assert_allclose(A.relu(x, threshold=5.0), [0, 0, 0, 0, 10])
    np.testing.assert_allclose(A.relu(x, negative_slope=0.5, threshold=2.0, max_value=6.0),
                               [-6, -3.5, -1, 5, 6])


def test_keras_signatures_and_defaults():
    x = np.array([-1.0, 2.0])
    np.testing.assert_allclose(A.leaky_relu(x), [-0.2, 2.0])
    np.testing.assert_allclose(A.elu(x, alpha=2.0), [2 * np.expm1(-1), 2.0], rtol=1e-6)
    assert A.linear(x) is x
    assert A.swish is A.silu
    np.testing.assert_allclose(A.gelu(x, approximate=True), REFS[12][0](x, 0), rtol=1e-6)
    np.testing.assert_allclose(A.gelu(x), REFS[10][0](x, 0), rtol=1e-6)
    np.testing.assert_allclose(A.relu6(np.array([-1.0, 3.0, 9.0])), [0, 3, 6])
    np.testing.assert_allclose(A.hard_sigmoid(np.array([-4.0, 0.0, 4.0])), [0, 0.5, 1])
    np.testing.assert_allclose(np.exp(A.log_softmax(x)).sum(), 1.0, rtol=1e-6)


def test_engine_specs():
    expected = {"linear": (0, 0.0), "relu": (1, 0.0), "sigmoid": (2, 0.0), "tanh": (3, 0.0),
                "softmax": (4, 0.0), "elu": (5, 1.0), "selu": (6, 0.0), "softplus": (7, 0.0),
                "softsign": (8, 0.0), "swish": (9, 0.0), "silu": (9, 0.0), "gelu": (10, 0.0),
                "leaky_relu": (11, 0.2)}
    for name, spec in expected.items():
        assert A.get(name).__annc_act__ == spec
        assert A.annc_act_spec(A.get(name)) == spec
    assert A.annc_act_spec(None) == (0, 0.0)
    assert A.annc_act_spec(functools.partial(A.gelu, approximate=True)) == (12, 0.0)
    assert A.annc_act_spec(functools.partial(A.relu, negative_slope=0.1)) == (11, 0.1)
    assert A.annc_act_spec(functools.partial(A.leaky_relu, negative_slope=0.3)) == (11, 0.3)
    assert A.annc_act_spec(functools.partial(A.elu, alpha=0.5)) == (5, 0.5)
    assert A.annc_act_spec(functools.partial(A.elu, 0.5)) == (5, 0.5)
    assert A.annc_act_spec(functools.partial(A.relu, max_value=6.0)) is None
    assert A.annc_act_spec(functools.partial(A.softmax, axis=0)) is None
    assert A.annc_act_spec(A.relu6) is None
    assert A.annc_act_spec(lambda v: v) is None


def test_get_and_serialize():
    assert A.get(None) is A.linear
    assert A.get("relu") is A.relu
    fn = lambda v: v  # noqa: E731
    assert A.get(fn) is fn
    assert A.serialize(A.relu) == "relu"
    assert A.serialize(A.swish) == "silu"
    assert A.deserialize(A.serialize(A.gelu)) is A.gelu
    p = A.deserialize(A.serialize(functools.partial(A.relu, negative_slope=0.1)))
    assert A.annc_act_spec(p) == (11, 0.1)
    with pytest.raises(ValueError, match="Valid names: .*relu.*tanh"):
        A.get("rellu")
    with pytest.raises(ValueError):
        A.get(3)


def test_binding_validation():
    with pytest.raises(ValueError, match="softmax"):
        _core.act_forward(4, 0.0, np.zeros(3, np.float32))
    with pytest.raises(ValueError):
        _core.act_forward(13, 0.0, np.zeros(3, np.float32))
    with pytest.raises(TypeError):
        _core.act_forward(1, 0.0, np.zeros(3))
    with pytest.raises(ValueError):
        _core.act_forward(1, 0.0, np.zeros((3, 4), np.float32).T)
    x = np.array([-1.0, 2.0], np.float32)
    assert _core.act_forward(1, 0.0, x, out=x) is x
    np.testing.assert_array_equal(x, [0, 2])


def test_all_activations_lists_the_kernel_backed_names():
    assert set(A.ALL_ACTIVATIONS) == {
        "linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "softsign",
        "silu", "swish", "gelu", "leaky_relu"}
    assert all(A.annc_act_spec(fn) is not None for fn in A.ALL_ACTIVATIONS.values())
