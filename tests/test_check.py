"""annc_first_nonfinite: the allocation-free NaN/inf scan used on training data."""
import numpy as np
import pytest

from annc import _core


@pytest.mark.parametrize("n", [1, 7, 4095, 4096, 4097, 100_003])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_finds_the_first_nonfinite(n, bad):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(np.float32) * 1e30  # large but finite
    assert _core.first_nonfinite(x) == -1
    for pos in sorted({0, n // 2, n - 1}, reverse=True):
        x[pos] = bad
        assert _core.first_nonfinite(x) == pos


def test_empty_and_subnormals():
    assert _core.first_nonfinite(np.zeros(0, np.float32)) == -1
    tiny = np.full(10, np.finfo(np.float32).smallest_subnormal, np.float32)
    big = np.full(10, np.finfo(np.float32).max, np.float32)
    assert _core.first_nonfinite(tiny) == -1 and _core.first_nonfinite(big) == -1
