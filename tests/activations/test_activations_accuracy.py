"""Accuracy of the element-wise activations, their derivatives and softmax against float64
NumPy references over the whole float range: the dispatched kernels (AVX2+FMA where the CPU has
it) to within a few float32 ulp, denormal results, +-88, +-1e-30, +-inf and NaN included, and
the portable C kernels (ANNC_ISA=generic, in a subprocess) to the looser standard of the
original test suite.

Errors are measured in float32 ulp of the reference (the spacing of float32 at |ref|; 2^-149
for denormals). Derivatives that are a sum of terms (swish, gelu, gelu_tanh; sigmoid and tanh
from y) are ill-conditioned near their zeros, so their bound is in ulp of the largest term."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from annc import _core

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
G1 = 2 * math.sqrt(2 / math.pi)  # gelu_tanh: 2u = G1 (x + 0.044715 x^3)
_erfc = np.vectorize(math.erfc, otypes=[float])
F32 = np.float32
AVX2 = _core.isa_name() == "avx2-fma"


def _sig(x):
    """Stable float64 sigmoid (no cancellation on either tail)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _Phi(x):
    return 0.5 * _erfc(-x / math.sqrt(2))  # erfc: 1 + erf(x) would cancel for x << 0


def _phi(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _w(x):
    return G1 * (x + 0.044715 * x ** 3)


# act_id -> (name, float64 forward f(x, a), param)
FORWARD = {
    1: ("relu", lambda x, a: np.where(x < 0, 0.0, x), 0.0),
    2: ("sigmoid", lambda x, a: _sig(x), 0.0),
    3: ("tanh", lambda x, a: np.tanh(x), 0.0),
    5: ("elu", lambda x, a: np.where(x > 0, x, a * np.expm1(x)), 0.7),
    6: ("selu", lambda x, a: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)), 0.0),
    7: ("softplus", lambda x, a: np.logaddexp(x, 0.0), 0.0),
    8: ("softsign", lambda x, a: x / (1 + np.abs(x)), 0.0),
    9: ("swish", lambda x, a: x * _sig(x), 0.0),
    10: ("gelu", lambda x, a: x * _Phi(x), 0.0),
    11: ("leaky_relu", lambda x, a: np.where(x > 0, x, a * x), 0.2),
    # x sigmoid(2u) = 0.5 x (1 + tanh u), without the cancellation of 1 + tanh(u) for x << 0
    12: ("gelu_tanh", lambda x, a: x * _sig(_w(x)), 0.0),
}


def _deriv(act, x, y, a):
    """(act'(x), magnitude of its largest term) in float64; y is the kernel's float32 output,
    which sigmoid', tanh' and relu' read instead of x, exactly as the kernels do."""
    if act == 1:
        d = np.where(y > 0, 1.0, 0.0)
    elif act == 2:
        return y * (1 - y), y
    elif act == 3:
        return 1 - y * y, np.ones_like(y)
    elif act == 5:
        d = np.where(x > 0, 1.0, a * np.exp(np.minimum(x, 0)))
    elif act == 6:
        d = np.where(x > 0, SELU_SCALE, SELU_SCALE * SELU_ALPHA * np.exp(np.minimum(x, 0)))
    elif act == 7:
        d = _sig(x)
    elif act == 8:
        d = 1 / (1 + np.abs(x)) ** 2
    elif act == 9:  # s + x s (1 - s)
        s = _sig(x)
        return s + x * s * _sig(-x), s + np.abs(x) * s * _sig(-x)
    elif act == 10:  # Phi + x phi
        return _Phi(x) + x * _phi(x), _Phi(x) + np.abs(x) * _phi(x)
    elif act == 12:  # s + x s (1 - s) 2u'
        w = _w(x)
        s = _sig(w)
        t = x * s * _sig(-w) * G1 * (1 + 3 * 0.044715 * x * x)
        return s + t, s + np.abs(t)
    else:
        d = np.where(x > 0, 1.0, a)
    return d, np.abs(d)


SPECIAL = [0.0, -0.0, 1e-30, -1e-30, 1e-40, -1e-40, 1e-45, -1e-45, 1e-7, -1e-7, 0.5, -0.5,
           88.0, -88.0, 88.72, -88.72, 89.0, -89.0, 100.0, -100.0, 103.9, -103.9, 104.0,
           -104.0, 1e4, -1e4, 3.4e38, -3.4e38, np.inf, -np.inf, np.nan]
# the ends of gelu's polynomial pieces and of the clamps, either side
SPECIAL += [s * e * f for e in (1, 2, 4, 6, 9, 10, 14, 16, 20) for f in (1 - 2e-7, 1, 1 + 2e-7)
            for s in (1, -1)]


def wide_points(n=30000, seed=0):
    """Uniform on [-20, 20], dense near 0, log-uniform magnitudes from 1e-45 to 3e38 of both
    signs, and the special values."""
    rng = np.random.default_rng(seed)
    mag = np.exp(rng.uniform(math.log(1e-45), math.log(3.4e38), n // 3))
    x = np.concatenate([rng.uniform(-20, 20, n // 2), rng.uniform(-1, 1, n // 6),
                        mag * rng.choice([-1.0, 1.0], mag.size), SPECIAL])
    return x.astype(F32)


def ulp_error(got, ref, scale=None):
    """|got - ref| in float32 ulp of |ref| (or of `scale`, the term size, when larger); 0 where
    both are NaN or got is ref rounded to float32 (incl. +-inf), inf where only one is NaN."""
    got64 = got.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        ref32 = ref.astype(F32)
        size = np.abs(ref) if scale is None else np.maximum(np.abs(ref), scale)
        size32 = np.minimum(size, np.finfo(F32).max).astype(F32)
        err = np.abs(got64 - ref) / np.spacing(size32).astype(np.float64)
    exact = (got == ref32) | (np.isnan(got) & np.isnan(ref))
    err = np.where(exact, 0.0, err)
    return np.where(np.isnan(err), np.inf, err)


# A few ulp (the exponential ~1, each further rounding 1/2, gelu's Mills ratio ~1.4); the
# largest seen over 3 million points plus a margin.
FWD_ULP = {1: 0, 2: 3, 3: 3, 5: 2, 6: 2, 7: 2, 8: 2, 9: 4, 10: 4, 11: 0.5, 12: 4}
BWD_ULP = {1: 0, 2: 2, 3: 1.5, 5: 3, 6: 3, 7: 4, 8: 4, 9: 5, 10: 4, 11: 0.5, 12: 5}


def _fmt(err, x, got, ref):
    i = int(np.argmax(err))
    return f"max {err[i]:.3g} ulp at x={x[i]!r}: got {got[i]!r}, want {ref[i]!r}"


def _check_forward(act, x, y, bound):
    _, f, a = FORWARD[act]
    a = float(F32(a))  # the kernel's param is a float32
    with np.errstate(all="ignore"):
        ref = f(x.astype(np.float64), a)
    err = ulp_error(y, ref)
    assert err.max() <= bound, f"{FORWARD[act][0]} forward: " + _fmt(err, x, y, ref)


def _check_backward(act, x, dy, y, dx, bound):
    _, _, a = FORWARD[act]
    a = float(F32(a))
    with np.errstate(all="ignore"):
        d, size = _deriv(act, x.astype(np.float64), y.astype(np.float64), a)
        ref = dy.astype(np.float64) * d
        scale = np.abs(dy.astype(np.float64)) * size
    err = ulp_error(dx, ref, scale)
    assert err.max() <= bound, f"{FORWARD[act][0]} backward: " + _fmt(err, x, dx, ref)


needs_avx2 = pytest.mark.skipif(not AVX2, reason="the dispatched kernels are not AVX2 here")


@needs_avx2
@pytest.mark.parametrize("act", sorted(FORWARD))
def test_avx2_forward_within_few_ulp(act):
    x = wide_points()
    _check_forward(act, x, _core.act_forward(act, FORWARD[act][2], x), FWD_ULP[act])


@needs_avx2
@pytest.mark.parametrize("act", sorted(FORWARD))
def test_avx2_backward_within_few_ulp(act):
    x = wide_points(seed=1)
    dy = np.random.default_rng(2).normal(size=x.size).astype(F32)
    a = FORWARD[act][2]
    y = _core.act_forward(act, a, x)
    _check_backward(act, x, dy, y, _core.act_backward(act, a, dy, x, y), BWD_ULP[act])


@needs_avx2
@pytest.mark.parametrize("n", [1, 7, 8, 9, 1000])
@pytest.mark.parametrize("act", sorted(FORWARD))
def test_avx2_lengths_and_tails(act, n):
    """Every length is exact to the same bound, and an element's result does not depend on
    whether it fell in the vector body or the masked tail (the GEMM epilogue relies on that:
    its tile widths follow the thread split)."""
    a = FORWARD[act][2]
    x = wide_points(seed=3)
    dy = np.random.default_rng(4).normal(size=x.size).astype(F32)
    y_all = _core.act_forward(act, a, x)
    dx_all = _core.act_backward(act, a, dy, x, y_all)
    for start in (0, 3, 5, x.size - n):
        xs, dys = x[start:start + n].copy(), dy[start:start + n].copy()
        ys = _core.act_forward(act, a, xs)
        dxs = _core.act_backward(act, a, dys, xs, ys)
        np.testing.assert_array_equal(ys, y_all[start:start + n])
        np.testing.assert_array_equal(dxs, dx_all[start:start + n])
        _check_forward(act, xs, ys, FWD_ULP[act])
        _check_backward(act, xs, dys, ys, dxs, BWD_ULP[act])
        # y may alias x
        assert _core.act_forward(act, a, xs, out=xs) is xs
        np.testing.assert_array_equal(xs, ys)


def _softmax_ref(x):
    x = x.astype(np.float64)
    with np.errstate(invalid="ignore"):
        e = np.exp(x - x.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)


def _softmax_rows(cols, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=8.0, size=(6, cols))
    x[1] += 1e4                       # large logits: stable only with the max subtracted
    x[2] -= 3e4
    x[3, ::2] = -np.inf               # exp(-inf) = 0 exactly (all -inf when cols = 1: NaN)
    x[4] *= 20.0                      # entries far below the max underflow to (denormal) 0
    x[5, 0] = 88.0
    return x.astype(F32)


@needs_avx2
@pytest.mark.parametrize("cols", [1, 7, 8, 9, 1000])
def test_avx2_softmax_rows(cols):
    x = _softmax_rows(cols)
    y = _core.softmax(x)
    # x - max is rounded in float32 (up to 60 ulp of e^(x - max) near -88), unless the kernel
    # carries its rounding error into the exponential; the row sum adds a little
    err = ulp_error(y, _softmax_ref(x))
    assert err.max() <= 6, f"softmax: max {err.max():.3g} ulp"
    dy = np.random.default_rng(1).normal(size=x.shape).astype(F32)
    dx = _core.softmax_backward(dy, y)
    y64, dy64 = y.astype(np.float64), dy.astype(np.float64)
    dot = (dy64 * y64).sum(1, keepdims=True)
    ref_dx = y64 * (dy64 - dot)
    size = y64 * (np.abs(dy64) + np.abs(dy64 * y64).sum(1, keepdims=True))
    err = ulp_error(dx, ref_dx, size)
    assert err.max() <= 4, f"softmax backward: max {err.max():.3g} ulp"


@needs_avx2
def test_avx2_softmax_nan_and_inf_rows():
    x = np.array([[np.nan, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
                  [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, np.nan],
                  [np.inf, 0.0, 0, 0, 0, 0, 0, 0, 0],
                  [-np.inf] + [0.0] * 8], F32)
    y = _core.softmax(x)
    assert np.isnan(y[0]).all() and np.isnan(y[1]).all()
    assert np.isnan(y[2]).all()  # inf - inf, as the scalar kernel and Keras
    np.testing.assert_allclose(y[3], [0] + [1 / 8] * 8, rtol=1e-7)


# ------------------------------------------------------------- the portable kernels

_GENERIC_SCRIPT = r"""
import json, sys
import numpy as np
from annc import _core
x = np.load(sys.argv[1])
dy = np.load(sys.argv[2])
acts = json.loads(sys.argv[3])
out = {"isa": _core.isa_name()}
for act, a in acts:
    y = _core.act_forward(act, a, x)
    tails = [_core.act_forward(act, a, x[:n].copy()) for n in (1, 7, 8, 9, 1000)]
    np.save(sys.argv[4] + f"/y{act}.npy", y)
    np.save(sys.argv[4] + f"/dx{act}.npy", _core.act_backward(act, a, dy, x, y))
    out[str(act)] = all(np.array_equal(t, y[:t.size], equal_nan=True) for t in tails)
xs = np.load(sys.argv[5])
np.save(sys.argv[4] + "/sm.npy", _core.softmax(xs))
np.save(sys.argv[4] + "/smb.npy", _core.softmax_backward(xs, _core.softmax(xs)))
print(json.dumps(out))
"""


def test_generic_kernels_in_subprocess(tmp_path):
    """The portable kernels (ANNC_ISA=generic) on the moderate range the original suite covers
    plus the special values: float64 reference to rtol 3e-6 / atol 2e-7 (1 + erf and 1 + tanh
    cancel for x << 0 there, so not in ulp), NaN exactly where the reference has NaN."""
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(-20, 20, 3000), rng.uniform(-1, 1, 1000),
                        [v for v in SPECIAL if not (abs(v) > 1e4 and np.isfinite(v))]]).astype(F32)
    dy = rng.normal(size=x.size).astype(F32)
    xs = _softmax_rows(9)[:3]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "dy.npy", dy)
    np.save(tmp_path / "xs.npy", xs)
    acts = [[act, FORWARD[act][2]] for act in sorted(FORWARD)]
    env = dict(os.environ, ANNC_ISA="generic")
    proc = subprocess.run([sys.executable, "-c", _GENERIC_SCRIPT, str(tmp_path / "x.npy"),
                           str(tmp_path / "dy.npy"), json.dumps(acts), str(tmp_path),
                           str(tmp_path / "xs.npy")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["isa"] == "generic"
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    for act, a in acts:
        name, f = FORWARD[act][:2]
        assert res[str(act)], f"{name}: result depends on the array length"
        y = np.load(tmp_path / f"y{act}.npy")
        dx = np.load(tmp_path / f"dx{act}.npy")
        with np.errstate(all="ignore"):
            ref = f(x64, a)
            d, size = _deriv(act, x64, y.astype(np.float64), a)
            ref_dx = dy64 * d
        np.testing.assert_allclose(y, ref, rtol=3e-6, atol=2e-7, err_msg=name)
        # what the central-difference test of the original suite allows
        bad = ~(np.abs(dx - ref_dx) <= 1e-6 + 1e-4 * np.abs(dy64) * size)
        bad &= ~(np.isnan(dx) & np.isnan(ref_dx))
        assert not bad.any(), f"{name} backward at x={x[bad][:5]}: {dx[bad][:5]} vs {ref_dx[bad][:5]}"
    np.testing.assert_allclose(np.load(tmp_path / "sm.npy"), _softmax_ref(xs), rtol=1e-6,
                               atol=1e-30)


@pytest.mark.parametrize("act", [2, 3, 9, 10, 12])
@pytest.mark.parametrize("n", [7, 37, 100])
def test_gemm_epilogue_is_the_standalone_kernel(act, n):
    """The GEMM applies the activation per tile row, with tile widths that depend on the thread
    split: the result must be bit-identical to the activation of the plain product, for any
    thread count."""
    rng = np.random.default_rng(n)
    a = rng.normal(size=(33, 300)).astype(F32)
    b = (rng.normal(size=(300, n)) * 0.2).astype(F32)
    bias = rng.normal(size=n).astype(F32)
    plain = np.empty((33, n), F32)
    _core.sgemm(a, b, plain, False, False, 1.0, 0.0, 1, bias=bias, act=0)
    want = _core.act_forward(act, 0.0, plain)
    for threads in (1, 2):
        c = np.empty((33, n), F32)
        _core.sgemm(a, b, c, False, False, 1.0, 0.0, threads, bias=bias, act=act)
        np.testing.assert_array_equal(c, want)
