"""Helpers for the tests that run the same work through two paths of the C core that must agree
bit for bit (test_zero_skip.py, test_narrow.py)."""
from __future__ import annotations

import numpy as np


def assert_same_bits(x, y):
    """float32 arrays equal bit for bit; lists and tuples of them element by element."""
    if isinstance(x, (list, tuple)):
        assert len(x) == len(y)
        for a, b in zip(x, y):
            assert_same_bits(a, b)
        return
    np.testing.assert_array_equal(np.asarray(x).view(np.int32), np.asarray(y).view(np.int32))


def off_then_on(run, switch, taken):
    """run() with a path switched off (switch(False)), then on: (result off, result on, how
    many products the path took while on, by its counter `taken`); checks that it took none
    while off."""
    switch(False)
    before = taken()
    off = run()
    assert taken() == before  # switched off: never taken
    switch(True)
    before = taken()
    on = run()
    return off, on, taken() - before
