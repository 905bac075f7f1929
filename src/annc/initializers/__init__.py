"""Keras 3 initializers (``keras.initializers``), drawing from annc's seeded generator.

Seeding follows Keras 3: an ``int`` seed makes an initializer return the same values on every
call; ``seed=None`` draws a seed from annc's global generator when the initializer is created
(so it follows ``set_random_seed``, and each new instance, e.g. each layer's, differs); a
:class:`annc.random.SeedGenerator` gives fresh values on each call.
"""
from __future__ import annotations

import math
import re
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from .._serialization import deserialize_object, get_object, serialize_object

from .. import random as _random

__all__ = [
    "Initializer", "Constant", "Zeros", "Ones", "Identity", "RandomNormal", "RandomUniform",
    "TruncatedNormal", "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform",
    "HeNormal", "LecunUniform", "LecunNormal", "Orthogonal", "compute_fans", "get",
    "serialize", "deserialize",
]

# std of a standard normal truncated to [-2, 2]; VarianceScaling divides by it so that the
# truncated draw has the intended variance
_TRUNC_STDDEV_CORRECTION = 0.87962566103423978


def compute_fans(shape: Sequence[int]) -> Tuple[int, int]:
    """(fan_in, fan_out) as Keras computes them: a convolution kernel (kh, kw, in, out)
    counts its receptive field, kh * kw, in both fans."""
    shape = tuple(int(d) for d in shape)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


_shape = _random._shape  # an int or a sequence of non-negative ints, as a tuple


def _dtype(dtype: Any) -> np.dtype:
    return np.dtype("float32" if dtype is None else getattr(dtype, "name", dtype))


class Initializer:
    """Base class: ``__call__(shape, dtype=None)`` returns a new array (float32 by default)."""

    def __call__(self, shape, dtype=None) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> Dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Initializer":
        return cls(**config)

    def clone(self) -> "Initializer":
        return type(self).from_config(self.get_config())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Constant(Initializer):
    def __init__(self, value: float = 0.0) -> None:
        self.value = value

    def __call__(self, shape, dtype=None) -> np.ndarray:
        return np.full(_shape(shape), self.value, dtype=_dtype(dtype))

    def get_config(self) -> Dict[str, Any]:
        v = self.value
        return {"value": v.tolist() if isinstance(v, np.ndarray) else v}


class Zeros(Initializer):
    def __call__(self, shape, dtype=None) -> np.ndarray:
        return np.zeros(_shape(shape), dtype=_dtype(dtype))


class Ones(Initializer):
    def __call__(self, shape, dtype=None) -> np.ndarray:
        return np.ones(_shape(shape), dtype=_dtype(dtype))


class Identity(Initializer):
    """gain * I for 2-D shapes (rectangular shapes get ones on the main diagonal)."""

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = float(gain)

    def __call__(self, shape, dtype=None) -> np.ndarray:
        shape = _shape(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity initializer requires a 2-D shape, got {shape}")
        return (self.gain * np.eye(shape[0], shape[1])).astype(_dtype(dtype))

    def get_config(self) -> Dict[str, Any]:
        return {"gain": self.gain}


class RandomInitializer(Initializer):
    """Holds the seed: an int (same values each call), a SeedGenerator, or None (an int drawn
    now from the global generator)."""

    def __init__(self, seed: Any = None) -> None:
        self._init_seed = seed
        if seed is None:
            seed = _random.make_default_seed()
        elif isinstance(seed, dict):
            seed = _random.SeedGenerator.from_config(seed.get("config", seed))
        elif not (isinstance(seed, (int, np.integer, _random.SeedGenerator))
                  and not isinstance(seed, bool)):
            raise ValueError(f"`seed` argument should be an instance of "
                             f"`annc.random.SeedGenerator()` or an integer. Received: "
                             f"seed={seed!r}")
        self.seed = seed

    def _float_dtype(self, dtype: Any) -> np.dtype:
        dt = _dtype(dtype)
        if dt.kind != "f":
            raise ValueError(f"{type(self).__name__} only produces floating-point values, "
                             f"got dtype={dt}")
        return dt

    def get_config(self) -> Dict[str, Any]:
        s = self._init_seed
        if isinstance(s, _random.SeedGenerator):
            s = {"class_name": "SeedGenerator", "config": s.get_config()}
        return {"seed": s}


class RandomNormal(RandomInitializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Any = None) -> None:
        self.mean = float(mean)
        self.stddev = float(stddev)
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None) -> np.ndarray:
        return _random.normal(_shape(shape), self.mean, self.stddev,
                              dtype=self._float_dtype(dtype), seed=self.seed)

    def get_config(self) -> Dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class TruncatedNormal(RandomInitializer):
    """Normal values redrawn until within two standard deviations of the mean."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Any = None) -> None:
        self.mean = float(mean)
        self.stddev = float(stddev)
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None) -> np.ndarray:
        return _random.truncated_normal(_shape(shape), self.mean, self.stddev,
                                        dtype=self._float_dtype(dtype), seed=self.seed)

    def get_config(self) -> Dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class RandomUniform(RandomInitializer):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: Any = None) -> None:
        self.minval = float(minval)
        self.maxval = float(maxval)
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None) -> np.ndarray:
        return _random.uniform(_shape(shape), self.minval, self.maxval,
                               dtype=self._float_dtype(dtype), seed=self.seed)

    def get_config(self) -> Dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


class VarianceScaling(RandomInitializer):
    """Draws with variance ``scale / n``, n = fan_in, fan_out or their mean (``mode``), from a
    truncated normal (stddev corrected for the truncation), a normal or a uniform."""

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: Any = None, input_axes=None,
                 output_axes=None) -> None:
        if input_axes is not None or output_axes is not None:
            raise NotImplementedError("VarianceScaling: input_axes/output_axes (fans over chosen "
                                      "axes) are not supported by annc")
        if not scale > 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: "
                             f"scale={scale}")
        allowed_modes = {"fan_in", "fan_out", "fan_avg"}
        if mode not in allowed_modes:
            raise ValueError(f"Invalid `mode` argument: expected one of {allowed_modes}. "
                             f"Received: mode={mode}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        allowed = {"uniform", "truncated_normal", "untruncated_normal"}
        if distribution not in allowed:
            raise ValueError(f"Invalid `distribution` argument: expected one of {allowed}. "
                             f"Received: distribution={distribution}")
        self.scale = float(scale)
        self.mode = mode
        self.distribution = distribution
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None) -> np.ndarray:
        shape = _shape(shape)
        dt = self._float_dtype(dtype)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        if self.distribution == "truncated_normal":
            stddev = math.sqrt(scale) / _TRUNC_STDDEV_CORRECTION
            return _random.truncated_normal(shape, 0.0, stddev, dtype=dt, seed=self.seed)
        if self.distribution == "untruncated_normal":
            return _random.normal(shape, 0.0, math.sqrt(scale), dtype=dt, seed=self.seed)
        limit = math.sqrt(3.0 * scale)
        return _random.uniform(shape, -limit, limit, dtype=dt, seed=self.seed)

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "scale": self.scale, "mode": self.mode,
                "distribution": self.distribution, "input_axes": None, "output_axes": None}


class _FixedVarianceScaling(VarianceScaling):
    _SCALE, _MODE, _DIST = 1.0, "fan_in", "truncated_normal"

    def __init__(self, seed: Any = None, input_axes=None, output_axes=None) -> None:
        super().__init__(scale=self._SCALE, mode=self._MODE, distribution=self._DIST, seed=seed,
                         input_axes=input_axes, output_axes=output_axes)

    def get_config(self) -> Dict[str, Any]:
        return {**RandomInitializer.get_config(self), "input_axes": None, "output_axes": None}


class GlorotUniform(_FixedVarianceScaling):
    """Uniform in [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)) (Keras's default
    kernel initializer)."""
    _SCALE, _MODE, _DIST = 1.0, "fan_avg", "uniform"


class GlorotNormal(_FixedVarianceScaling):
    """Truncated normal with stddev sqrt(2 / (fan_in + fan_out))."""
    _SCALE, _MODE, _DIST = 1.0, "fan_avg", "truncated_normal"


class HeUniform(_FixedVarianceScaling):
    """Uniform in [-limit, limit], limit = sqrt(6 / fan_in)."""
    _SCALE, _MODE, _DIST = 2.0, "fan_in", "uniform"


class HeNormal(_FixedVarianceScaling):
    """Truncated normal with stddev sqrt(2 / fan_in)."""
    _SCALE, _MODE, _DIST = 2.0, "fan_in", "truncated_normal"


class LecunUniform(_FixedVarianceScaling):
    """Uniform in [-limit, limit], limit = sqrt(3 / fan_in)."""
    _SCALE, _MODE, _DIST = 1.0, "fan_in", "uniform"


class LecunNormal(_FixedVarianceScaling):
    """Truncated normal with stddev sqrt(1 / fan_in)."""
    _SCALE, _MODE, _DIST = 1.0, "fan_in", "truncated_normal"


class Orthogonal(RandomInitializer):
    """gain * an orthogonal matrix (the Q of a QR decomposition of a normal draw, with the
    signs fixed so the distribution is uniform), reshaped to ``shape``; needs >= 2 dims."""

    def __init__(self, gain: float = 1.0, seed: Any = None) -> None:
        self.gain = float(gain)
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None) -> np.ndarray:
        shape = _shape(shape)
        dt = self._float_dtype(dtype)
        if len(shape) < 2:
            raise ValueError(f"The tensor to initialize must be at least two-dimensional. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        rows = math.prod(shape[:-1])
        cols = shape[-1]
        flat = (max(rows, cols), min(rows, cols))
        a = _random.normal(flat, 0.0, 1.0, seed=self.seed).astype(np.float64)
        q, r = np.linalg.qr(a)
        q = q * np.where(np.diag(r) < 0, -1.0, 1.0)
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dt)

    def get_config(self) -> Dict[str, Any]:
        return {"gain": self.gain, **super().get_config()}


# Keras 3's class names for these two
IdentityInitializer = Identity
OrthogonalInitializer = Orthogonal


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


_CLASSES = (Constant, Zeros, Ones, Identity, RandomNormal, RandomUniform, TruncatedNormal,
            VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform,
            LecunNormal, Orthogonal)
_BY_NAME: Dict[str, type] = {c.__name__: c for c in _CLASSES}
_BY_NAME.update({_snake(c.__name__): c for c in _CLASSES})
_BY_NAME.update({"IdentityInitializer": Identity, "OrthogonalInitializer": Orthogonal,
                 "identity_initializer": Identity, "orthogonal_initializer": Orthogonal,
                 "normal": RandomNormal, "uniform": RandomUniform, "one": Ones, "zero": Zeros})


def get(identifier: Any) -> Optional[Initializer]:
    """An initializer from a name ('glorot_uniform' or 'GlorotUniform'), a config dict, an
    instance, a class or a callable ``(shape, dtype=None) -> array``."""
    valid = sorted(n for n in _BY_NAME if n == _snake(n))
    return get_object(identifier, "initializer", deserialize, _BY_NAME,
                      f"{', '.join(valid)} (or their class names)")


def serialize(initializer: Any) -> Any:
    """A Keras-style config dict for an Initializer; a plain callable gives its name."""
    if not isinstance(initializer, Initializer):
        return getattr(initializer, "__name__", None)
    return serialize_object(initializer, "keras.initializers")


def deserialize(config: Any, custom_objects: Optional[Dict[str, Any]] = None) -> Initializer:
    return deserialize_object(config, "initializer", _BY_NAME.get, get, custom_objects)
