"""The exponential and the row maximum of the softmax cross-entropies from logits
(csrc/expf_avx2.c). The exponential is a vector copy of glibc's expf, which must give libm's
bits on glibc (so a seeded training run does not move) and stay within glibc's stated 0.502
ulp of e^x everywhere."""
import ctypes
import ctypes.util
import platform

import numpy as np
import pytest

from annc import _core


def _all_floats_strided(stride):
    """Every stride-th float32 bit pattern (stride odd, so every exponent and many mantissas
    are met), as float32."""
    return np.arange(0, 2**32, stride, dtype=np.uint64).astype(np.uint32).view(np.float32)


SPECIALS = np.array([0.0, -0.0, 1.0, -1.0, 88.0, -88.0, 88.72283, 88.722839, -103.27893,
                     -103.972084, -103.97209, -104.0, 1e-45, -1e-45, 3.4028235e38,
                     -3.4028235e38, np.inf, -np.inf, np.nan], dtype=np.float32)


def _libm_expf():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("m")
    if not name:
        return None
    f = ctypes.CDLL(name).expf
    f.restype, f.argtypes = ctypes.c_float, [ctypes.c_float]
    return f


def test_same_bits_as_glibc_expf():
    """glibc 2.28+ computes expf by this algorithm; on an FMA CPU (the only one the AVX2 copy
    runs on) with the fused form of its reduction, which the copy uses. Checked here on a
    sample of all floats (the whole range was checked once, all 2^32: no difference)."""
    expf = _libm_expf()
    if expf is None:
        pytest.skip("libm is not glibc's")
    # the two floats whose glibc result needs the fused reduction (an unfused one misses by
    # an ulp there, and nowhere else)
    fused_only = np.array([float.fromhex("0x1.04845ep+5"), float.fromhex("-0x1.f8cbb2p+5")],
                          np.float32)
    x = np.concatenate([_all_floats_strided(30011), SPECIALS, fused_only])
    got = _core.exp_shifted(x)
    want = np.array([expf(float(v)) for v in x], dtype=np.float32)
    nan = np.isnan(want)
    assert np.isnan(got[nan]).all()
    np.testing.assert_array_equal(got[~nan].view(np.int32), want[~nan].view(np.int32))


def test_within_half_an_ulp_and_a_bit():
    x = np.concatenate([_all_floats_strided(4099), SPECIALS])
    x = x[np.isfinite(x) & (x < 88.7) & (x > -87.3)]  # normal results
    got = _core.exp_shifted(x).astype(np.float64)
    exact = np.exp(x.astype(np.float64))
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got - exact) / ulp) <= 0.502


def test_edges():
    got = _core.exp_shifted(SPECIALS)
    assert got[SPECIALS == np.inf][0] == np.inf
    assert got[SPECIALS == -np.inf][0] == 0.0
    assert np.isnan(got[-1])
    assert _core.exp_shifted(np.array([89.0, -105.0], np.float32)).tolist() == [np.inf, 0.0]
    # past -87.3 the results are denormal, and still rounded once
    x = np.array([-88.0, -95.5, -103.0], np.float32)
    np.testing.assert_allclose(_core.exp_shifted(x), np.exp(x.astype(np.float64)), rtol=0,
                               atol=2.0**-149)


@pytest.mark.parametrize("n", [1, 3, 4, 5, 8, 10, 13, 64, 67, 1000])
def test_every_length_and_shift(n):
    """The vector body, the masked tail and the chunks of the loss give each element the same
    value: x - m rounded to float, then e^."""
    rng = np.random.default_rng(n)
    x = rng.normal(0, 8, n).astype(np.float32)
    m = float(x.max())
    got = _core.exp_shifted(x, m)
    one_by_one = np.array([_core.exp_shifted(np.array([v], np.float32), m)[0] for v in x])
    np.testing.assert_array_equal(got.view(np.int32), one_by_one.view(np.int32))
    np.testing.assert_allclose(got, np.exp((x - np.float32(m)).astype(np.float64)), rtol=1e-6)


@pytest.mark.parametrize("cols", list(range(1, 20)))
@pytest.mark.parametrize("offset", [-200.0, 0.0, 80.0])
def test_softmax_cross_entropy_rows_of_every_width(cols, offset):
    """The loss's row maximum (eight lanes at a time, the tail filled with -inf) keeps rows far
    from zero stable: e^(x - max) must not underflow for every class (-200) or overflow (80)."""
    rng = np.random.default_rng(cols)
    pred = (offset + rng.normal(0, 3, (5, cols))).astype(np.float32)
    target = rng.integers(0, cols, 5).astype(np.int32)
    per, grad = _core.loss(0, True, 0.0, pred, target, 1.0, True)
    p = pred.astype(np.float64)
    lse = p.max(axis=1) + np.log(np.exp(p - p.max(axis=1, keepdims=True)).sum(axis=1))
    np.testing.assert_allclose(per, lse - p[np.arange(5), target], rtol=1e-5, atol=1e-5)
    soft = np.exp(p - lse[:, None])
    soft[np.arange(5), target] -= 1.0
    np.testing.assert_allclose(grad, soft, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("at", [0, 7, 8, 12])
def test_nan_anywhere_in_a_row_makes_its_loss_nan(at):
    pred = np.zeros((2, 13), np.float32)
    pred[1, at] = np.nan
    per, grad = _core.loss(0, True, 0.0, pred, np.array([1, 2], np.int32), 1.0, True)
    assert np.isfinite(per[0]) and np.isnan(per[1]) and np.isnan(grad[1]).all()
