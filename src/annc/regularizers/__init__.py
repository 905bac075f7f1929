"""Keras 3 weight regularizers (``keras.regularizers``): L1, L2 and L1L2.

``reg(w)`` is the penalty ``l1 * sum(|w|) + l2 * sum(w**2)`` as a Python float. Every built-in
regularizer has float attributes ``l1`` and ``l2`` (0.0 where it has no such term): the training
engine adds the penalty's gradient ``l1 * sign(w) + 2 * l2 * w`` inside its fused step, and
:func:`annc_reg_spec` gives it the pair (None for a custom regularizer it cannot fuse).
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .._serialization import deserialize_object, get_object, serialize_object

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get", "serialize",
           "deserialize", "annc_reg_spec"]


def _validate(value: Any, name: str) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or math.isinf(value) or math.isnan(value) or value < 0:
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float. "
                         f"Received: {name}={value!r}")
    return float(value)


def _sum_abs(w: np.ndarray) -> float:
    return float(np.sum(np.abs(w), dtype=np.float64))


def _sum_sq(w: np.ndarray) -> float:
    flat = w.reshape(-1).astype(np.float64, copy=False)
    return float(np.dot(flat, flat))


class Regularizer:
    """Base class: ``__call__(w)`` returns the penalty for weights ``w``."""

    l1: float = 0.0
    l2: float = 0.0

    def __call__(self, x) -> float:
        return 0.0

    def get_config(self) -> Dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Regularizer":
        return cls(**config)

    def gradient(self, x) -> np.ndarray:
        """d(penalty)/dw = l1 * sign(w) + 2 * l2 * w (what the engine applies)."""
        w = np.asarray(x, dtype=np.float32)
        return (self.l1 * np.sign(w) + 2.0 * self.l2 * w).astype(np.float32)

    def __repr__(self) -> str:
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """l1 * sum(|w|) + l2 * sum(w**2)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        # Keras maps None to 0.0 here
        self.l1 = _validate(0.0 if l1 is None else l1, "l1")
        self.l2 = _validate(0.0 if l2 is None else l2, "l2")

    def __call__(self, x) -> float:
        w = np.asarray(x)
        total = 0.0
        if self.l1:
            total += self.l1 * _sum_abs(w)
        if self.l2:
            total += self.l2 * _sum_sq(w)
        return total

    def get_config(self) -> Dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """l1 * sum(|w|)."""

    def __init__(self, l1: float = 0.01) -> None:
        self.l1 = _validate(0.01 if l1 is None else l1, "l1")
        self.l2 = 0.0

    def __call__(self, x) -> float:
        return self.l1 * _sum_abs(np.asarray(x))

    def get_config(self) -> Dict[str, Any]:
        return {"l1": self.l1}


class L2(Regularizer):
    """l2 * sum(w**2)."""

    def __init__(self, l2: float = 0.01) -> None:
        self.l1 = 0.0
        self.l2 = _validate(0.01 if l2 is None else l2, "l2")

    def __call__(self, x) -> float:
        return self.l2 * _sum_sq(np.asarray(x))

    def get_config(self) -> Dict[str, Any]:
        return {"l2": self.l2}


# Keras's lower-case aliases are the classes themselves: l2(0.001) builds an L2
l1 = L1
l2 = L2
l1_l2 = L1L2

_CLASSES = (Regularizer, L1, L2, L1L2)
_BY_NAME: Dict[str, type] = {c.__name__: c for c in _CLASSES}
_BY_NAME.update({"regularizer": Regularizer, "l1": L1, "l2": L2, "l1_l2": L1L2})


def get(identifier: Any) -> Optional[Regularizer]:
    """A regularizer from None, a name ('l2', 'L1L2' ...; default rates), a config dict, an
    instance, a class or a callable ``w -> penalty``."""
    return get_object(identifier, "regularizer", deserialize, _BY_NAME,
                      ", ".join(sorted(_BY_NAME)))


def serialize(regularizer: Any) -> Any:
    """A Keras-style config dict for a Regularizer; None stays None; a plain callable gives
    its name."""
    if regularizer is None:
        return None
    if not isinstance(regularizer, Regularizer):
        return getattr(regularizer, "__name__", None)
    return serialize_object(regularizer, "keras.regularizers")


def deserialize(config: Any, custom_objects: Optional[Dict[str, Any]] = None) -> Regularizer:
    return deserialize_object(config, "regularizer", _BY_NAME.get, get, custom_objects)


def annc_reg_spec(reg: Any) -> Optional[Tuple[float, float]]:
    """``(l1, l2)`` for a regularizer the engine can fuse (L1, L2, L1L2 and their subclasses
    that keep ``__call__``), (0, 0) for None, else None."""
    if reg is None:
        return 0.0, 0.0
    if isinstance(reg, (L1, L2, L1L2)) and type(reg).__call__ in (L1.__call__, L2.__call__,
                                                                  L1L2.__call__):
        return float(reg.l1), float(reg.l2)
    return None
