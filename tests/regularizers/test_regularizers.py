"""Regularizers: Keras 3 penalty values, the gradient the engine applies, lookup."""
import numpy as np
import pytest

import annc.regularizers as Reg


def _numeric_grad(f, w, h=1e-6):
    g = np.zeros_like(w)
    for idx in np.ndindex(*w.shape):
        wp, wm = w.copy(), w.copy()
        wp[idx] += h
        wm[idx] -= h
        g[idx] = (f(wp) - f(wm)) / (2 * h)
    return g


@pytest.mark.parametrize("reg,l1,l2", [
    (Reg.L1(0.3), 0.3, 0.0), (Reg.L2(0.2), 0.0, 0.2), (Reg.L1L2(0.1, 0.4), 0.1, 0.4),
    (Reg.l1(), 0.01, 0.0), (Reg.l2(), 0.0, 0.01), (Reg.l1_l2(), 0.0, 0.0),
])
def test_values_and_gradients(reg, l1, l2):
    w = np.random.default_rng(0).normal(size=(4, 3))
    w[np.abs(w) < 0.05] = 0.5  # off |w|'s kink
    assert (reg.l1, reg.l2) == (l1, l2)
    assert isinstance(reg.l1, float) and isinstance(reg.l2, float)
    assert reg(w) == pytest.approx(l1 * np.abs(w).sum() + l2 * (w ** 2).sum(), rel=1e-12)
    expected = l1 * np.sign(w) + 2 * l2 * w
    np.testing.assert_allclose(_numeric_grad(reg, w), expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(reg.gradient(w), expected, rtol=1e-6)
    assert Reg.annc_reg_spec(reg) == (l1, l2)


def test_float32_weights_accumulate_in_float64():
    w = np.full(10**6, 0.1, np.float32)
    assert Reg.L2(1.0)(w) == pytest.approx(10**6 * float(np.float32(0.1)) ** 2, rel=1e-9)


def test_validation_like_keras():
    for bad in (-0.1, float("nan"), float("inf"), "0.1"):
        with pytest.raises(ValueError, match="non-negative"):
            Reg.L2(bad)
    assert Reg.L1(None).l1 == 0.01
    assert Reg.L1L2(None, None).get_config() == {"l1": 0.0, "l2": 0.0}


def test_get_and_config():
    assert Reg.get(None) is None
    assert type(Reg.get("l2")) is Reg.L2 and Reg.get("l2").l2 == 0.01
    assert type(Reg.get("L1")) is Reg.L1
    assert type(Reg.get("l1_l2")) is Reg.L1L2
    r = Reg.L1L2(l1=0.5, l2=0.25)
    assert Reg.get(r) is r
    assert r.get_config() == {"l1": 0.5, "l2": 0.25}
    back = Reg.deserialize(Reg.serialize(r))
    assert (back.l1, back.l2) == (0.5, 0.25)
    assert Reg.get({"class_name": "L2", "config": {"l2": 0.3}}).l2 == 0.3
    fn = lambda w: 0.0  # noqa: E731
    assert Reg.get(fn) is fn
    assert Reg.annc_reg_spec(fn) is None
    assert Reg.annc_reg_spec(None) == (0.0, 0.0)
    with pytest.raises(ValueError, match="Valid names: .*l1_l2"):
        Reg.get("l3")
