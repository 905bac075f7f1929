"""The training executor's block sums (annc_block_sums): a K-blocked layer's rows from its
planes of partial products, in the one order that makes training independent of the thread
count, bit for bit against float32 NumPy adds in that order."""
import os
import subprocess
import sys

import numpy as np
import pytest

from annc import _core


def reference(planes, m0, m1, bias, relu):
    """The executor's order: the first half's planes (0, then m0..h-1), the second half's
    (h, then m1..nb-1), the two halves, the bias; then max(z, 0) letting NaN and -0 through."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _reference(planes, m0, m1, bias, relu)


def _reference(planes, m0, m1, bias, relu):
    nb = planes.shape[0]
    h = nb // 2
    z = planes[0].copy()
    for k in range(m0, h):
        z = z + planes[k]
    t = planes[h].copy()
    for k in range(m1, nb):
        t = t + planes[k]
    z = z + t
    if bias is not None:
        z = z + bias
    y = np.where(z < 0, np.float32(0), z) if relu else None
    return z, y


def planes_of(rng, nb, rows, n, specials=False):
    p = (rng.standard_normal((nb, rows, n)) * rng.choice([1e-3, 1.0, 1e3], (nb, rows, n)))
    p = p.astype(np.float32)
    if specials:
        flat = p.reshape(-1)
        at = rng.choice(flat.size, size=max(1, flat.size // 20), replace=False)
        flat[at] = rng.choice(np.array([np.nan, np.inf, -np.inf, -0.0, 0.0], np.float32),
                              at.size)
    return p


def bits(a):
    return np.ascontiguousarray(a).view(np.uint32)


def same_sums(a, b):
    """Bit for bit; on the portable path a NaN lane only needs a NaN beside it: when both
    operands of an add are NaN, x86 keeps the first one's payload, and the compiler may swap
    the operands of the portable loops' adds (inf - inf's NaN and a NaN input then differ in
    sign). The AVX2 kernel's adds keep their order, so there every bit must match."""
    if _core.isa_name() != "generic":
        return np.array_equal(bits(a), bits(b))
    nan = np.isnan(a)
    return np.array_equal(nan, np.isnan(b)) and np.array_equal(bits(a)[~nan], bits(b)[~nan])


@pytest.mark.parametrize("n", [1, 3, 7, 8, 9, 15, 16, 17, 100, 101, 257])
@pytest.mark.parametrize("nb,m0,m1", [(2, 1, 2), (3, 1, 3), (3, 1, 2), (10, 5, 10), (10, 4, 9),
                                      (10, 1, 6), (11, 3, 7)])
def test_block_sums_match_float32_adds_in_order(n, nb, m0, m1):
    rng = np.random.default_rng(n * 100 + nb * 10 + m0)
    for rows in (1, 2, 16, 33):
        planes = planes_of(rng, nb, rows, n, specials=rows == 16)
        bias = rng.standard_normal(n).astype(np.float32) if rows % 2 == 0 else None
        for relu in (False, True):
            ref_z, ref_y = reference(planes, m0, m1, bias, relu)
            z, y = _core.block_sums(planes, m0, m1, bias, relu)
            assert same_sums(z, ref_z)
            if relu:
                assert same_sums(y, ref_y)
                zy, none = _core.block_sums(planes, m0, m1, bias, True, separate_y=False)
                assert none is None
                assert same_sums(zy, ref_y)


def test_the_order_is_visible_in_the_bits():
    """The comparison above can fail: summing the same planes front to back rounds otherwise
    on this data, and so does adding the bias before the second half."""
    rng = np.random.default_rng(5)
    planes = planes_of(rng, 10, 16, 100)
    bias = rng.standard_normal(100).astype(np.float32)
    z, _ = _core.block_sums(planes, 5, 10, bias)
    front_to_back = planes[0].copy()
    for k in range(1, 10):
        front_to_back = front_to_back + planes[k]
    front_to_back = front_to_back + bias
    assert not np.array_equal(bits(z), bits(front_to_back))
    ref, _ = reference(planes, 5, 10, bias, False)
    early_bias = (planes[0] + planes[1] + planes[2] + planes[3] + planes[4] + bias)
    early_bias = early_bias + (planes[5] + planes[6] + planes[7] + planes[8] + planes[9])
    assert np.array_equal(bits(z), bits(ref))
    assert not np.array_equal(bits(z), bits(early_bias))


def test_relu_lets_nan_and_negative_zero_through():
    planes = np.zeros((2, 1, 9), np.float32)
    planes[0, 0] = [np.nan, -0.0, -1.0, 2.0, -np.inf, np.inf, 0.0, -3.0, 5.0]
    planes[1, 0, 1] = -0.0  # -0 + -0 stays -0 (a +0 in the other half would make it +0)
    z, y = _core.block_sums(planes, 1, 2, None, True)
    assert np.isnan(y[0, 0])
    assert y[0, 1] == 0 and np.signbit(y[0, 1])
    np.testing.assert_array_equal(y[0, 2:], [0, 2, 0, np.inf, 0, 0, 5])
    assert not np.signbit(y[0, 2]) and not np.signbit(y[0, 7])
    np.testing.assert_array_equal(bits(z), bits(planes[0]))


def test_block_sums_rejects_a_bad_plane_split():
    planes = np.zeros((4, 2, 3), np.float32)
    for m0, m1 in ((0, 3), (3, 3), (2, 2), (2, 5)):
        with pytest.raises(ValueError, match="block_sums"):
            _core.block_sums(planes, m0, m1)
    with pytest.raises(ValueError, match="bias"):
        _core.block_sums(planes, 2, 3, np.zeros(4, np.float32))


def test_block_sums_generic_path_in_subprocess():
    code = (
        "import numpy as np, sys\n"
        f"sys.path.insert(0, {os.path.dirname(__file__)!r})\n"
        "from test_block_sums import reference, planes_of, same_sums\n"
        "from annc import _core\n"
        "assert _core.isa_name() == 'generic'\n"
        "rng = np.random.default_rng(1)\n"
        "for n in (1, 9, 100):\n"
        "    for nb, m0, m1 in ((2, 1, 2), (10, 4, 9), (11, 3, 7)):\n"
        "        p = planes_of(rng, nb, 5, n, specials=True)\n"
        "        b = rng.standard_normal(n).astype(np.float32)\n"
        "        rz, ry = reference(p, m0, m1, b, True)\n"
        "        z, y = _core.block_sums(p, m0, m1, b, True)\n"
        "        assert same_sums(z, rz) and same_sums(y, ry)\n"
        "        zy, _ = _core.block_sums(p, m0, m1, b, True, separate_y=False)\n"
        "        assert same_sums(zy, ry)\n"
    )
    env = dict(os.environ, ANNC_ISA="generic")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
