"""annc's one seeded random-number generator (Keras 3's ``keras.random`` surface).

Every draw is produced by the C core's counter-based generator (Philox4x32-10) from a
``(key, counter)`` pair: the numbers depend on that pair and the element index only, never on
hidden state, thread count or how the work is split.

Where the pair comes from, by the ``seed`` argument:
  - ``None``: the global default generator hands out a fresh pair (so successive calls differ);
  - an ``int``: the pair is derived from the int alone, so the same call gives the same numbers
    every time (Keras's stateless behaviour for integer seeds);
  - a :class:`SeedGenerator`: its next pair.

The global generator is seeded from ``os.urandom`` unless :func:`set_random_seed` was called;
``set_random_seed(s)`` re-creates it from ``s`` (and seeds Python's ``random`` and
``numpy.random`` as Keras does), so after it the same program draws the same numbers.
"""
from __future__ import annotations

import itertools
import numbers
import os
import random as _py_random
import threading
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from . import _core

__all__ = [
    "SeedGenerator", "set_random_seed", "get_global_seed_generator", "make_default_seed",
    "next_key_counter", "uniform", "normal", "truncated_normal", "permutation", "shuffle",
    "dropout_mask",
]

_MASK64 = (1 << 64) - 1
# a fixed counter for deriving keys from seeds: the key-derivation stream never meets a
# SeedGenerator's own counters, which start at 0 under the derived key
_KEY_DERIVATION_COUNTER = 0x616E6E63_6B657921  # "annckey!"

ShapeLike = Union[int, Sequence[int]]
SeedLike = Union[None, int, "SeedGenerator"]


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _derive_key(seed: int) -> int:
    # Philox itself as the mixer: nearby seeds (0, 1, 2, ...) give unrelated keys
    return int(_core.rng_u64(int(seed) & _MASK64, _KEY_DERIVATION_COUNTER))


class SeedGenerator:
    """A source of fresh ``(key, counter)`` pairs for the counter-based generator.

    ``next()`` returns the generator's key and a counter never returned before by this
    generator; each pair names its own stream of 2**56 blocks, so pairs never overlap.
    ``seed=None`` draws the seed from the global default generator (deterministic after
    :func:`set_random_seed`).
    """

    def __init__(self, seed: Optional[int] = None) -> None:
        if seed is None:
            seed = make_default_seed()
        elif not _is_int(seed):
            raise ValueError(f"SeedGenerator: seed must be an int or None, got {seed!r} "
                             f"(of type {type(seed).__name__})")
        self._initial_seed = int(seed)
        self._key = _derive_key(self._initial_seed)
        # itertools.count's __next__ is atomic under the GIL: concurrent next() calls from
        # several Python threads never receive the same counter
        self._counter = itertools.count()

    @property
    def key(self) -> int:
        return self._key

    def next(self) -> Tuple[int, int]:
        """A fresh ``(key, counter)`` pair."""
        return self._key, next(self._counter) & _MASK64

    def get_config(self) -> dict:
        return {"seed": self._initial_seed}

    @classmethod
    def from_config(cls, config: dict) -> "SeedGenerator":
        return cls(**config)

    def __repr__(self) -> str:
        return f"SeedGenerator(seed={self._initial_seed})"


_global_lock = threading.Lock()
_global_generator: Optional[SeedGenerator] = None
_global_seed: Optional[int] = None


def get_global_seed_generator() -> SeedGenerator:
    """The default generator used when no seed is given (created on first use)."""
    global _global_generator
    gen = _global_generator
    if gen is None:
        with _global_lock:
            if _global_generator is None:
                _global_generator = SeedGenerator(int.from_bytes(os.urandom(8), "little"))
            gen = _global_generator
    return gen


def get_global_seed() -> Optional[int]:
    """The seed last given to :func:`set_random_seed`, or None."""
    return _global_seed


def set_random_seed(seed: int) -> None:
    """Seed annc's generator, Python's ``random`` and ``numpy.random`` (as Keras does).

    After this call, a program that draws the same things in the same order (weight
    initialisation, shuffling, dropout) gets the same numbers.
    """
    global _global_generator, _global_seed
    if not _is_int(seed):
        raise ValueError(f"Expected `seed` argument to be an integer. Received: seed={seed!r} "
                         f"(of type {type(seed).__name__})")
    seed = int(seed)
    if not 0 <= seed < 2**32:
        # numpy.random.seed's range; Keras passes the seed on to it and fails the same way
        raise ValueError(f"Expected `seed` to be in [0, 2**32 - 1]. Received: seed={seed}")
    _py_random.seed(seed)
    np.random.seed(seed)
    with _global_lock:
        _global_seed = seed
        _global_generator = SeedGenerator(seed)


def make_default_seed() -> int:
    """A 63-bit seed drawn from the global generator (used by unseeded initializers and
    generators, so that they too follow :func:`set_random_seed`)."""
    key, counter = get_global_seed_generator().next()
    return int(_core.rng_u64(key, counter)) >> 1


def next_key_counter(seed: SeedLike = None) -> Tuple[int, int]:
    """The ``(key, counter)`` pair a draw with this ``seed`` argument uses (see module doc).
    The training engine calls this to hand pairs to C code."""
    if seed is None:
        return get_global_seed_generator().next()
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if _is_int(seed):
        return _derive_key(int(seed)), 0
    raise ValueError(f"seed must be None, an int or a SeedGenerator; got {seed!r} "
                     f"(of type {type(seed).__name__})")


def _shape(shape: ShapeLike) -> Tuple[int, ...]:
    if _is_int(shape):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be an int or a sequence of ints, got {shape!r}") from None
    for d in dims:
        if not _is_int(d) or d < 0:
            raise ValueError(f"shape must contain non-negative ints, got {shape!r}")
    return tuple(int(d) for d in dims)


def _float_dtype(dtype) -> np.dtype:
    dt = np.dtype("float32" if dtype is None else dtype)
    if dt.kind != "f":
        raise ValueError(f"dtype must be a floating-point type, got {dt}")
    return dt


def _finish(a: np.ndarray, shape: Tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    a = a.reshape(shape)
    return a if dtype == np.float32 else a.astype(dtype)


def uniform(shape: ShapeLike, minval: float = 0.0, maxval: float = 1.0, dtype=None,
            seed: SeedLike = None) -> np.ndarray:
    """Values uniform in ``[minval, maxval)``, each with 24 random mantissa bits."""
    shape, dt = _shape(shape), _float_dtype(dtype)
    key, counter = next_key_counter(seed)
    return _finish(_core.rng_uniform(int(np.prod(shape, dtype=np.int64)), key, counter,
                                     float(minval), float(maxval)), shape, dt)


def normal(shape: ShapeLike, mean: float = 0.0, stddev: float = 1.0, dtype=None,
           seed: SeedLike = None) -> np.ndarray:
    """Normally distributed values (Box-Muller)."""
    shape, dt = _shape(shape), _float_dtype(dtype)
    key, counter = next_key_counter(seed)
    return _finish(_core.rng_normal(int(np.prod(shape, dtype=np.int64)), key, counter,
                                    float(mean), float(stddev)), shape, dt)


def truncated_normal(shape: ShapeLike, mean: float = 0.0, stddev: float = 1.0, dtype=None,
                     seed: SeedLike = None) -> np.ndarray:
    """Normal values redrawn until within two standard deviations of the mean (Keras's
    truncated normal; the result's standard deviation is about 0.88 * stddev)."""
    shape, dt = _shape(shape), _float_dtype(dtype)
    key, counter = next_key_counter(seed)
    return _finish(_core.rng_truncated_normal(int(np.prod(shape, dtype=np.int64)), key,
                                              counter, float(mean), float(stddev)), shape, dt)


def permutation(n: int, seed: SeedLike = None) -> np.ndarray:
    """A uniformly random permutation of ``0 .. n-1`` (int64), by Fisher-Yates with unbiased
    bounded integers."""
    if not _is_int(n) or n < 0:
        raise ValueError(f"permutation: n must be a non-negative int, got {n!r}")
    key, counter = next_key_counter(seed)
    return _core.rng_permutation(int(n), key, counter)


def shuffle(x, axis: int = 0, seed: SeedLike = None) -> np.ndarray:
    """A copy of ``x`` with its entries along ``axis`` randomly permuted (Keras's shuffle)."""
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError("shuffle: x must have at least one dimension")
    return np.take(x, permutation(x.shape[axis], seed=seed), axis=axis)


def dropout_mask(shape: ShapeLike, rate: float, seed: SeedLike = None) -> np.ndarray:
    """Inverted-dropout mask (float32): 0 with probability ``rate``, else ``1 / (1 - rate)``."""
    rate = float(rate)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout_mask: rate must be in [0, 1), got {rate}")
    shape = _shape(shape)
    key, counter = next_key_counter(seed)
    return _core.rng_dropout_mask(int(np.prod(shape, dtype=np.int64)), key, counter,
                                  rate).reshape(shape)
