"""annc.ops.matmul and the sgemm core against a float64 NumPy reference.

Tolerances scale with K: a float32 dot product of length K carries a relative error of order
K * 2^-24 in the worst case, sqrt(K) * 2^-24 typically; we allow 4 * K * eps * (|a| |b|)."""
from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annc import _core, config, ops

EPS32 = np.finfo(np.float32).eps

ACT = {"linear": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "elu": 5, "selu": 6, "softplus": 7,
       "softsign": 8, "swish": 9, "gelu": 10, "leaky_relu": 11, "gelu_tanh": 12}
_erf = np.frompyfunc(math.erf, 1, 1)


def act_ref(name, x, param):
    x = x.astype(np.float64)
    if name == "linear":
        return x
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "tanh":
        return np.tanh(x)
    if name == "elu":
        return np.where(x > 0, x, param * np.expm1(x))
    if name == "selu":
        a, s = 1.6732632423543772, 1.0507009873554805
        return s * np.where(x > 0, x, a * np.expm1(x))
    if name == "softplus":
        return np.logaddexp(0.0, x)
    if name == "softsign":
        return x / (1.0 + np.abs(x))
    if name == "swish":
        return x / (1.0 + np.exp(-x))
    if name == "gelu":
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))
    if name == "gelu_tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    if name == "leaky_relu":
        return np.where(x > 0, x, param * x)
    raise KeyError(name)


@pytest.fixture(autouse=True)
def _restore_threads():
    n = config.get_num_threads()
    yield
    config.set_num_threads(n)


def operands(rng, m, k, n, ta, tb, dtype=np.float32):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return a, b


def reference(a, b, ta, tb):
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    a64 = a64.T if ta else a64
    b64 = b64.T if tb else b64
    return a64 @ b64, np.abs(a64) @ np.abs(b64)


def assert_close(got, ref, mag, k, extra=0.0):
    tol = 4.0 * max(k, 1) * EPS32 * mag + extra + 1e-30
    err = np.abs(got.astype(np.float64) - ref)
    bad = err > tol
    assert not bad.any(), (f"{bad.sum()} mismatches, worst err {err.max():.3g}, "
                           f"tol there {tol.flat[np.argmax(err)]:.3g}")


SHAPES = [(1, 1, 1), (1, 7, 1), (1, 300, 33), (17, 1, 5), (6, 16, 16), (7, 17, 33),
          (13, 29, 31), (97, 101, 103), (32, 784, 100), (32, 100, 10), (784, 32, 100),
          (100, 32, 10), (32, 10, 100), (250, 513, 71), (5, 1031, 3), (1031, 37, 1009),
          # one block of A rows and a B larger than L2: B panels packed just in time
          (100, 784, 2000), (2000, 784, 100), (97, 1031, 1500)]


@pytest.mark.parametrize("m,k,n", SHAPES)
@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
def test_matmul_matches_reference(m, k, n, ta, tb):
    rng = np.random.default_rng(m * 1000003 + k * 1009 + n + 2 * ta + tb)
    a, b = operands(rng, m, k, n, ta, tb)
    ref, mag = reference(a, b, ta, tb)
    got = ops.matmul(a, b, transpose_a=ta, transpose_b=tb)
    assert got.shape == (m, n) and got.dtype == np.float32
    assert_close(got, ref, mag, k)
    out = np.full((m, n), np.nan, np.float32)
    assert ops.matmul(a, b, transpose_a=ta, transpose_b=tb, out=out) is out
    np.testing.assert_array_equal(out, got)


def test_large_square():
    rng = np.random.default_rng(7)
    a, b = operands(rng, 1100, 1003, 1013, False, False)
    ref, mag = reference(a, b, False, False)
    assert_close(ops.matmul(a, b), ref, mag, 1003)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(m=st.integers(1, 80), k=st.integers(1, 300), n=st.integers(1, 80), ta=st.booleans(),
       tb=st.booleans(), alpha=st.sampled_from([1.0, -0.5, 2.0]),
       beta=st.sampled_from([0.0, 1.0, 0.25]), seed=st.integers(0, 2**31))
def test_sgemm_alpha_beta_property(m, k, n, ta, tb, alpha, beta, seed):
    rng = np.random.default_rng(seed)
    a, b = operands(rng, m, k, n, ta, tb)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    c = c0.copy()
    _core.sgemm(a, b, c, ta, tb, alpha, beta, 1)
    ref, mag = reference(a, b, ta, tb)
    assert_close(c, alpha * ref + beta * c0.astype(np.float64), abs(alpha) * mag, k,
                 extra=2 * EPS32 * abs(beta) * np.abs(c0))


@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (0.5, 1.0), (-2.0, 0.75), (0.0, 0.5),
                                        (0.0, 0.0), (3.0, -1.0)])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_sgemm_alpha_beta(alpha, beta, ta, tb):
    rng = np.random.default_rng(11)
    m, k, n = 45, 700, 37  # k > KC: the later K blocks accumulate into C
    a, b = operands(rng, m, k, n, ta, tb)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    c = c0.copy()
    _core.sgemm(a, b, c, ta, tb, alpha, beta, 2)
    ref, mag = reference(a, b, ta, tb)
    assert_close(c, alpha * ref + beta * c0.astype(np.float64), abs(alpha) * mag, k,
                 extra=2 * EPS32 * abs(beta) * np.abs(c0))


def test_k_zero_scales_c():
    a = np.zeros((4, 0), np.float32)
    b = np.zeros((0, 3), np.float32)
    c = np.full((4, 3), 2.0, np.float32)
    _core.sgemm(a, b, c, False, False, 1.0, 0.5, 1)
    np.testing.assert_array_equal(c, np.ones((4, 3), np.float32))
    c[:] = np.nan
    _core.sgemm(a, b, c, False, False, 1.0, 0.0, 1)
    np.testing.assert_array_equal(c, np.zeros((4, 3), np.float32))
    np.testing.assert_array_equal(ops.matmul(a, b), np.zeros((4, 3), np.float32))


@pytest.mark.parametrize("act", sorted(ACT))
@pytest.mark.parametrize("m,k,n,ta,tb", [(32, 784, 100, False, False), (7, 300, 10, False, True),
                                         (100, 9, 32, True, False), (61, 20, 3, True, True)])
def test_bias_activation_epilogue(act, m, k, n, ta, tb):
    rng = np.random.default_rng(ACT[act] * 31 + m)
    a, b = operands(rng, m, k, n, ta, tb)
    a *= 0.1
    bias = rng.standard_normal(n).astype(np.float32)
    param = {"elu": 1.0, "leaky_relu": 0.2}.get(act, 0.0)
    for beta in (0.0, 0.5):
        c0 = rng.standard_normal((m, n)).astype(np.float32)
        c = c0.copy()
        _core.sgemm(a, b, c, ta, tb, 1.0, beta, 2, bias=bias, act=ACT[act], act_param=param)
        ref, mag = reference(a, b, ta, tb)
        pre = ref + beta * c0.astype(np.float64) + bias.astype(np.float64)
        want = act_ref(act, pre, param)
        # the activation's own float32 error on top of the product's
        tol = 4 * k * EPS32 * (mag + np.abs(c0) + np.abs(bias)) + 1e-5 * (1 + np.abs(want))
        err = np.abs(c.astype(np.float64) - want)
        assert (err <= tol).all(), f"{act}: worst err {err.max():.3g}"


def test_bias_validation():
    a = np.ones((3, 4), np.float32)
    b = np.ones((4, 5), np.float32)
    c = np.empty((3, 5), np.float32)
    with pytest.raises(ValueError, match="bias"):
        _core.sgemm(a, b, c, False, False, 1.0, 0.0, 1, bias=np.ones(4, np.float32), act=1)


@pytest.mark.parametrize("m,k,n,ta,tb", [(32, 784, 100, False, False), (784, 32, 100, True, False),
                                         (32, 10, 100, False, True), (256, 100, 10, False, False),
                                         (301, 777, 283, True, True), (1000, 300, 9, False, True),
                                         (9, 300, 1000, True, False), (513, 1100, 257, False, False),
                                         (50, 1700, 70, True, False), (120, 900, 700, False, True)])
def test_threads_bit_identical(m, k, n, ta, tb):
    rng = np.random.default_rng(m + n + k)
    a, b = operands(rng, m, k, n, ta, tb)
    bias = rng.standard_normal(n).astype(np.float32)
    results = []
    for nt in (1, 2, 3):
        config.set_num_threads(nt)
        results.append(ops.matmul(a, b, transpose_a=ta, transpose_b=tb))
        c = np.ones((m, n), np.float32)
        _core.sgemm(a, b, c, ta, tb, 0.5, 0.25, nt, bias=bias, act=ACT["tanh"])
        results.append(c)
    for i in range(2, len(results)):
        np.testing.assert_array_equal(results[i], results[i % 2])


def test_concurrent_python_threads():
    rng = np.random.default_rng(5)
    cases = []
    for i in range(12):
        m, k, n = (32, 784, 100) if i % 3 == 0 else (int(rng.integers(1, 200)),
                                                      int(rng.integers(1, 400)),
                                                      int(rng.integers(1, 200)))
        ta, tb = bool(i & 1), bool(i & 2)
        a, b = operands(rng, m, k, n, ta, tb)
        cases.append((a, b, ta, tb, ops.matmul(a, b, transpose_a=ta, transpose_b=tb)))
    config.set_num_threads(2)
    errors = []

    def worker(seed):
        try:
            order = np.random.default_rng(seed).permutation(len(cases))
            for _ in range(15):
                for idx in order:
                    a, b, ta, tb, want = cases[idx]
                    got = ops.matmul(a, b, transpose_a=ta, transpose_b=tb)
                    if not np.array_equal(got, want):
                        errors.append((seed, idx))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []


@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
def test_nan_inf_propagate(ta, tb):
    rng = np.random.default_rng(3)
    m, k, n = 37, 50, 41
    a, b = operands(rng, m, k, n, ta, tb)
    A = a.T if ta else a
    B = b.T if tb else b
    A[3, 7] = np.nan          # row 3 of C becomes NaN
    A[10, 4] = np.inf         # row 10: +-inf, or NaN where inf meets 0 or -inf
    B[5, 20] = 0.0
    B[4, 20] = 0.0            # inf * 0 in column 20 -> NaN
    B[9, 30] = -np.inf        # column 30 of C: -inf or NaN
    with np.errstate(invalid="ignore", over="ignore"):
        ref = A.astype(np.float64) @ B.astype(np.float64)
    for nt in (1, 2):
        config.set_num_threads(nt)
        got = ops.matmul(a, b, transpose_a=ta, transpose_b=tb)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        np.testing.assert_array_equal(np.isposinf(got), np.isposinf(ref))
        np.testing.assert_array_equal(np.isneginf(got), np.isneginf(ref))


@pytest.mark.parametrize("m,k,n", [(5, 3, 2), (32, 784, 100), (100, 32, 10), (301, 299, 97)])
def test_beta_zero_ignores_nan_in_out(m, k, n):
    rng = np.random.default_rng(9)
    for ta, tb in itertools.product([False, True], repeat=2):
        a, b = operands(rng, m, k, n, ta, tb)
        out = np.full((m, n), np.nan, np.float32)
        ops.matmul(a, b, transpose_a=ta, transpose_b=tb, out=out)
        assert np.isfinite(out).all()
        c = np.full((m, n), np.inf, np.float32)
        _core.sgemm(a, b, c, ta, tb, 1.0, 0.0, 2)
        assert np.isfinite(c).all()


# ---------------------------------------------------------------- input handling

def test_wrong_dtype_is_type_error():
    b = np.ones((3, 2), np.float32)
    for bad in (np.ones((2, 3), np.complex64), np.array([["a", "b", "c"]] * 2),
                np.empty((2, 3), object)):
        with pytest.raises(TypeError, match="dtype"):
            ops.matmul(bad, b)
        with pytest.raises(TypeError, match="dtype"):
            ops.matmul(b.T.copy(), bad.T)


def test_wrong_ndim_names_both_shapes():
    with pytest.raises(ValueError, match=r"2-D.*\(3,\).*\(3, 2\)"):
        ops.matmul(np.ones(3, np.float32), np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match=r"2-D.*\(2, 3\).*\(2, 3, 4\)"):
        ops.matmul(np.ones((2, 3), np.float32), np.ones((2, 3, 4), np.float32))


def test_inner_mismatch_names_both_shapes():
    a = np.ones((4, 5), np.float32)
    b = np.ones((6, 3), np.float32)
    with pytest.raises(ValueError, match=r"a\(4, 5\).*b\(6, 3\)"):
        ops.matmul(a, b)
    with pytest.raises(ValueError, match=r"a\(4, 5\)\.T.*b\(6, 3\)"):
        ops.matmul(a, b, transpose_a=True)


def test_float64_ints_and_noncontiguous_are_converted():
    rng = np.random.default_rng(1)
    a64 = rng.standard_normal((20, 30))
    b64 = rng.standard_normal((30, 10))
    want = ops.matmul(a64.astype(np.float32), b64.astype(np.float32))
    np.testing.assert_array_equal(ops.matmul(a64, b64), want)
    big = np.asfortranarray(a64.astype(np.float32))
    np.testing.assert_array_equal(ops.matmul(big, b64.astype(np.float32)), want)
    strided = np.zeros((40, 30), np.float32)
    strided[::2] = a64
    np.testing.assert_array_equal(ops.matmul(strided[::2], b64.astype(np.float32)), want)
    ints = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(ops.matmul(ints, ints.T.copy()),
                                  (ints @ ints.T).astype(np.float32))
    lists = ops.matmul([[1.0, 2.0]], [[3.0], [4.0]])
    assert lists.dtype == np.float32 and lists[0, 0] == 11.0


def test_bad_out_is_refused_with_a_message():
    a = np.ones((4, 5), np.float32)
    b = np.ones((5, 3), np.float32)
    with pytest.raises(TypeError, match="float32"):
        ops.matmul(a, b, out=np.empty((4, 3), np.float64))
    with pytest.raises(TypeError, match="float32"):
        ops.matmul(a, b, out=[[0.0] * 3] * 4)
    with pytest.raises(ValueError, match=r"\(4, 3\)"):
        ops.matmul(a, b, out=np.empty((3, 4), np.float32))
    with pytest.raises(ValueError, match="contiguous"):
        ops.matmul(a, b, out=np.empty((3, 4), np.float32).T)
    ro = np.empty((4, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        ops.matmul(a, b, out=ro)
    sq = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="overlap"):
        ops.matmul(sq, sq[:, :4].copy(), out=sq)
    buf = np.zeros(64, np.float32)
    x = buf[:16].reshape(4, 4)
    with pytest.raises(ValueError, match="overlap"):
        ops.matmul(x, np.ones((4, 4), np.float32), out=buf[8:24].reshape(4, 4))
    # adjacent but disjoint halves of one buffer are fine
    got = ops.matmul(x, np.ones((4, 4), np.float32), out=buf[16:32].reshape(4, 4))
    np.testing.assert_array_equal(got, np.zeros((4, 4), np.float32))


def test_ndarray_subclass_out_is_written():
    class Sub(np.ndarray):
        pass

    a = np.ones((2, 3), np.float32)
    b = np.ones((3, 2), np.float32)
    out = np.zeros((2, 2), np.float32).view(Sub)
    assert ops.matmul(a, b, out=out) is out
    np.testing.assert_array_equal(np.asarray(out), np.full((2, 2), 3.0, np.float32))


def test_sgemm_refuses_what_would_crash():
    a = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError):
        _core.sgemm(a, np.ones((4, 2)), np.empty((3, 2), np.float32), False, False, 1, 0, 1)
    with pytest.raises(ValueError, match="do not fit"):
        _core.sgemm(a, np.ones((5, 2), np.float32), np.empty((3, 2), np.float32),
                    False, False, 1, 0, 1)
    c = np.empty((3, 3), np.float32)
    with pytest.raises(ValueError, match="overlap"):
        _core.sgemm(c, c, c, False, False, 1, 0, 1)


# ---------------------------------------------------------------- the portable path

_GENERIC_SCRIPT = textwrap.dedent("""
    import itertools, json, numpy as np, annc
    from annc import _core, config, ops
    out = {"isa": _core.isa_name(), "bad": []}
    rng = np.random.default_rng(0)
    for (m, k, n) in [(1, 1, 1), (7, 17, 33), (32, 784, 100), (784, 32, 100), (32, 10, 100),
                      (100, 32, 10), (97, 300, 61), (300, 513, 129)]:
        for ta, tb in itertools.product([False, True], repeat=2):
            a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
            b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
            A = a.T.astype(np.float64) if ta else a.astype(np.float64)
            B = b.T.astype(np.float64) if tb else b.astype(np.float64)
            ref, mag = A @ B, np.abs(A) @ np.abs(B)
            got = []
            for nt in (1, 2):
                config.set_num_threads(nt)
                got.append(ops.matmul(a, b, transpose_a=ta, transpose_b=tb))
            c0 = rng.standard_normal((m, n)).astype(np.float32)
            c = c0.copy()
            _core.sgemm(a, b, c, ta, tb, 0.5, 2.0, 2)
            tol = 4 * k * np.finfo(np.float32).eps * mag + 1e-30
            ok = (np.abs(got[0] - ref) <= tol).all() and np.array_equal(got[0], got[1])
            ok = ok and (np.abs(c - (0.5 * ref + 2.0 * c0)) <= 0.5 * tol + 4e-7 * np.abs(c0)).all()
            if not ok:
                out["bad"].append([m, k, n, ta, tb])
    print(json.dumps(out))
""")


def _run_child(script, env_updates, timeout=120):
    env = dict(os.environ)
    env.update(env_updates)
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_generic_isa_path_in_subprocess():
    res = json.loads(_run_child(_GENERIC_SCRIPT, {"ANNC_ISA": "generic"}).strip().splitlines()[-1])
    assert res["isa"] == "generic"
    assert res["bad"] == []


@pytest.mark.skipif(not _core.cpu_has_avx2_fma(), reason="CPU without AVX2+FMA")
def test_default_isa_is_avx2_when_available():
    assert _core.isa_name() == "avx2-fma"


@pytest.mark.parametrize("k", [7, 256, 1100])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True)])
def test_element_independent_of_tile_and_kernel(k, ta, tb):
    """Rows 0..9 of a 10-row product (which may take the five-row kernel, or an edge tile)
    equal the same rows of 12- and 37-row products (six-row tiles) bit for bit, and the
    transposed product (the other orientation) holds the same values."""
    rng = np.random.default_rng(k)
    n = 100
    a37, b = operands(rng, 37, k, n, ta, tb)
    results = []
    for m in (10, 12, 37):
        a = a37[:, :m].copy() if ta else a37[:m].copy()
        for nt in (1, 2):
            config.set_num_threads(nt)
            results.append(ops.matmul(a, b, transpose_a=ta, transpose_b=tb)[:10])
            results.append(ops.matmul(b, a, transpose_a=not tb, transpose_b=not ta)[:, :10])
    for r in results[2::2]:
        np.testing.assert_array_equal(r, results[0])
    for r in results[3::2]:
        np.testing.assert_array_equal(r, results[1])
    np.testing.assert_array_equal(results[1], results[0].T)  # C^T's elements are C's


_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _c_compiler() -> str:
    import shutil

    cc = shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    return cc


def _core_objects(cc, flags, portable_extra, tmp_path):
    """csrc/'s files compiled (in parallel) into objects under tmp_path: every file with
    `flags`, the *_avx2.c ones with AVX2+FMA, the others with `portable_extra`."""
    from concurrent.futures import ThreadPoolExecutor

    csrc = os.path.join(_ROOT, "csrc")

    def compile_one(name):
        extra = ["-mavx2", "-mfma"] if name.endswith("_avx2.c") else portable_extra
        obj = str(tmp_path / (name + ".o"))
        subprocess.run([cc, *flags, *extra, "-c", os.path.join(csrc, name), "-o", obj],
                       check=True)
        return obj

    names = sorted(n for n in os.listdir(csrc) if n.endswith(".c"))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(compile_one, names))


@pytest.mark.skipif(os.environ.get("ANNC_FUZZ") != "1", reason="set ANNC_FUZZ=1 (slow: ASan)")
@pytest.mark.parametrize("isa", ["", "generic"])
def test_sanitizer_fuzz(tmp_path, isa):
    cc = _c_compiler()
    flags = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
             "-DANNC_HAVE_AVX2_KERNELS=1", f"-I{os.path.join(_ROOT, 'csrc')}"]
    objs = _core_objects(cc, flags, ["-fopenmp"], tmp_path)
    env = dict(os.environ, ANNC_ISA=isa, UBSAN_OPTIONS="halt_on_error=1")
    for fuzz in ("fuzz_gemm", "fuzz_train"):  # the GEMM, then the training executor
        exe = str(tmp_path / fuzz)
        subprocess.run([cc, *flags, "-fopenmp", os.path.join(_ROOT, "tests", "c", fuzz + ".c"),
                        *objs, "-lm", "-o", exe], check=True)
        proc = subprocess.run([exe], env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, fuzz + ": " + proc.stdout[-2000:] + proc.stderr[-4000:]
        assert "bad=0" in proc.stdout


def test_kernels_leave_the_upper_halves_clear(tmp_path):
    """Every AVX2 path returns with vzeroupper done (tests/c/upper_state.c reads XINUSE right
    after each): a kernel that took a mask by value once left them dirty, and libm's expf in
    the loss then ran 15 times slower. Built from the sources with the build's flags; skipped
    without a C compiler, or where the CPU cannot report the state."""
    cc = _c_compiler()
    flags = ["-O2", "-std=gnu11", "-fopenmp", "-DANNC_HAVE_AVX2_KERNELS=1",
             f"-I{os.path.join(_ROOT, 'csrc')}"]
    objs = _core_objects(cc, flags, [], tmp_path)
    exe = str(tmp_path / "upper_state")
    subprocess.run([cc, *flags, os.path.join(_ROOT, "tests", "c", "upper_state.c"), *objs, "-lm",
                    "-o", exe], check=True)
    proc = subprocess.run([exe], capture_output=True, text=True, timeout=120)
    if proc.returncode == 77:
        pytest.skip(proc.stdout.strip())
    assert proc.returncode == 0, proc.stdout
