"""The few-rows product (one record through a Dense layer) against a float64 reference, on
both ISA paths."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from annc import _core

SHAPES = [(m, k, n) for m in (1, 2, 3, 4) for k in (1, 3, 784) for n in (1, 7, 8, 9, 95, 96, 97,
                                                                         100, 104, 105, 200)]


@pytest.mark.parametrize("m,k,n", SHAPES)
def test_rowgemm_matches_reference(m, k, n):
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    ref = a.astype(np.float64) @ b.astype(np.float64) + bias
    c = np.full((m, n), np.nan, dtype=np.float32)
    _core.rowgemm(a, b, c, bias)
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-5 * np.sqrt(k))
    c2 = np.full((m, n), np.nan, dtype=np.float32)
    _core.rowgemm(a, b, c2, None, 1)  # relu, no bias
    np.testing.assert_allclose(c2, np.maximum(a.astype(np.float64) @ b, 0), rtol=1e-5,
                               atol=1e-5 * np.sqrt(k))


@pytest.mark.parametrize("n", [97, 100, 103, 104, 105])
def test_one_record_is_the_same_recipe_as_several(n):
    """One record of 97..104 outputs takes a single pass over B (13 accumulators, reading a
    little of B's next row); each column must still be the bias plus one FMA per row of B in
    order, bit for bit what the several-record paths give that row."""
    rng = np.random.default_rng(n)
    a = rng.standard_normal((4, 784)).astype(np.float32)
    b = rng.standard_normal((784, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    one = np.empty((1, n), np.float32)
    _core.rowgemm(a[:1], b, one, bias)
    for m in (2, 3, 4):
        several = np.empty((m, n), np.float32)
        _core.rowgemm(a[:m], b, several, bias)
        np.testing.assert_array_equal(one[0], several[0])


def test_rowgemm_rejects_bad_arguments():
    a = np.ones((5, 3), np.float32)
    with pytest.raises(ValueError, match="at most 4 rows"):
        _core.rowgemm(a, np.ones((3, 2), np.float32), np.empty((5, 2), np.float32))
    with pytest.raises(ValueError, match="do not fit"):
        _core.rowgemm(a[:2], np.ones((4, 2), np.float32), np.empty((2, 2), np.float32))
    with pytest.raises(ValueError, match="invalid"):
        _core.rowgemm(a[:2], np.ones((3, 2), np.float32), np.empty((2, 2), np.float32), None, 4)


def test_rowgemm_generic_path_in_subprocess():
    code = (
        "import numpy as np\n"
        "from annc import _core\n"
        "assert _core.isa_name() == 'generic'\n"
        "rng = np.random.default_rng(0)\n"
        "for m in (1, 4):\n"
        "    a = rng.standard_normal((m, 300)).astype(np.float32)\n"
        "    b = rng.standard_normal((300, 37)).astype(np.float32)\n"
        "    c = np.empty((m, 37), np.float32)\n"
        "    _core.rowgemm(a, b, c, np.ones(37, np.float32))\n"
        "    np.testing.assert_allclose(c, a.astype(float) @ b + 1, rtol=1e-5, atol=2e-4)\n"
    )
    env = dict(os.environ, ANNC_ISA="generic")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
