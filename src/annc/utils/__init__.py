"""annc.utils: keras.utils's helpers that annc programs use."""
from __future__ import annotations

import numpy as np

from .progbar import Progbar

__all__ = ["Progbar", "set_random_seed", "to_categorical", "normalize"]


def set_random_seed(seed: int) -> None:
    """Seed annc's RNG (initialisation, shuffling, dropout) and Python's and NumPy's, as
    keras.utils.set_random_seed does."""
    from .. import random as annc_random

    annc_random.set_random_seed(seed)


def to_categorical(x, num_classes: int | None = None) -> np.ndarray:
    """One-hot encode integer class ids (keras.utils.to_categorical): float64, as Keras 3 returns
    for NumPy input."""
    x = np.asarray(x)
    if x.size and (x.dtype.kind == "f" and not np.array_equal(x, np.floor(x))):
        raise ValueError("to_categorical expects integer class ids")
    x = x.astype(np.int64)
    input_shape = x.shape
    if input_shape and input_shape[-1] == 1 and len(input_shape) > 1:
        input_shape = input_shape[:-1]
    x = x.reshape(-1)
    if num_classes is None:
        num_classes = int(x.max()) + 1 if x.size else 0
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        raise ValueError(f"to_categorical: class ids must be in [0, {num_classes})")
    out = np.zeros((x.shape[0], num_classes))
    out[np.arange(x.shape[0]), x] = 1.0
    return out.reshape(input_shape + (num_classes,))


def normalize(x, axis: int = -1, order: int = 2) -> np.ndarray:
    """x scaled to unit `order`-norm along `axis` (keras.utils.normalize). A NumPy array keeps
    NumPy's dtype of x / norm (float64 stays float64), as in Keras 3; other input (lists, which
    Keras turns into float32 tensors) comes back as float32."""
    x = x if isinstance(x, np.ndarray) else np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return x / np.where(norm == 0, 1, norm)
