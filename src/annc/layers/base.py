"""Layer and Variable: the pieces every annc layer is made of.

A layer's weights are NumPy float32 arrays. Once a model is built they are views into the
model's single parameter slab, so the C executor updates them in place; `get_weights()` hands
out copies and `set_weights()` copies in.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = ["Layer", "Variable", "auto_name"]

_name_counts: dict[str, int] = {}


def _snake(name: str) -> str:
    # Keras's rule: Dense -> dense, MaxPooling2D -> max_pooling2d, InputLayer -> input_layer
    s = re.sub(r"\W+", "", name)
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", s)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def auto_name(prefix: str) -> str:
    """Keras's unique default names: dense, dense_1, dense_2, ..."""
    base = _snake(prefix)
    n = _name_counts.get(base, 0)
    _name_counts[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


class Variable:
    """A named float32 array (Keras's Variable, backed by NumPy)."""

    def __init__(self, value: np.ndarray, name: str, trainable: bool = True, path: str = ""):
        self._value = value
        self.name = name
        self.path = path or name
        self.trainable = trainable

    @property
    def value(self) -> np.ndarray:
        return self._value

    @property
    def shape(self) -> tuple:
        return self._value.shape

    @property
    def dtype(self) -> str:
        return "float32"

    @property
    def size(self) -> int:
        return int(self._value.size)

    @property
    def ndim(self) -> int:
        return self._value.ndim

    @property
    def nbytes(self) -> int:
        return int(self._value.nbytes)

    def numpy(self) -> np.ndarray:
        return self._value.copy()

    def assign(self, value) -> None:
        v = np.asarray(value, dtype=np.float32)
        if v.shape != self._value.shape:
            raise ValueError(f"Variable {self.path}: cannot assign a value of shape {v.shape} "
                             f"to a variable of shape {self._value.shape}")
        self._value[...] = v

    def _rebind(self, storage: np.ndarray) -> None:
        """Move the value into `storage` (a slab view) keeping its contents."""
        storage[...] = self._value
        self._value = storage

    def __array__(self, dtype=None, copy=None):
        return self._value.astype(dtype) if dtype is not None else self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"<Variable path={self.path}, shape={self.shape}, dtype=float32>"


def _standardize_shape(shape, what: str) -> tuple:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        out = tuple(None if d is None else int(d) for d in shape)
    except TypeError:
        raise TypeError(f"{what} must be a tuple of ints, got {shape!r}") from None
    for d in out:
        if d is not None and d < 0:
            raise ValueError(f"{what} has a negative dimension: {shape!r}")
    return out


# The names of the models whose build() is running, outermost first (Keras's name scope).
_BUILD_SCOPE: list[str] = []

def float32_policy() -> dict:
    """A layer config's dtype as Keras 3 writes it (a serialized DTypePolicy); a new dict each
    time, since callers may edit the config they get."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
            "registered_name": None}


def _dtype_name(dtype: Any) -> str | None:
    """The name of a dtype argument: a string, a NumPy dtype, a DTypePolicy (or its config,
    as Keras writes it in a layer's config), or None."""
    if dtype is None:
        return None
    if isinstance(dtype, dict):
        return str(dtype.get("config", {}).get("name", dtype))
    if hasattr(dtype, "name") and not isinstance(dtype, (str, np.dtype)):
        return str(dtype.name)  # a policy object
    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype)


class Layer:
    """Base class of annc layers (Keras 3's contract for the parts annc implements)."""

    _KNOWN_KWARGS = {"name", "dtype", "trainable", "input_shape", "input_dim",
                     "batch_input_shape", "batch_size", "autocast"}

    def __init__(self, *, name: str | None = None, dtype: Any = None, trainable: bool = True,
                 **kwargs):
        unknown = set(kwargs) - self._KNOWN_KWARGS
        if unknown:
            raise TypeError(f"{type(self).__name__}: unrecognized keyword arguments: "
                            f"{sorted(unknown)}")
        if _dtype_name(dtype) not in (None, "float32"):
            raise ValueError(f"{type(self).__name__}: annc computes in float32; dtype={dtype!r} "
                             f"is not supported")
        self.name = name or auto_name(type(self).__name__)
        self.trainable = bool(trainable)
        self.built = False
        self._weights: list[Variable] = []
        self._input_shape_arg: tuple | None = None
        if "input_shape" in kwargs and kwargs["input_shape"] is not None:
            self._input_shape_arg = (None,) + _standardize_shape(kwargs["input_shape"],
                                                                "input_shape")
        elif "batch_input_shape" in kwargs and kwargs["batch_input_shape"] is not None:
            self._input_shape_arg = _standardize_shape(kwargs["batch_input_shape"],
                                                       "batch_input_shape")
        elif "input_dim" in kwargs and kwargs["input_dim"] is not None:
            self._input_shape_arg = (None, int(kwargs["input_dim"]))
        self.input_shape: tuple | None = None
        self.output_shape: tuple | None = None

    @property
    def dtype(self) -> str:
        """The dtype of the layer's weights and computation (annc: always float32)."""
        return "float32"

    # ---- shapes and building
    def build(self, input_shape: Sequence[int | None]) -> None:
        self.input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def _ensure_built(self, input_shape: tuple) -> None:
        if not self.built:
            self.build(input_shape)
        elif self.input_shape is not None and tuple(input_shape[1:]) != tuple(self.input_shape[1:]):
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected shape='
                f"{self.input_shape}, found shape={tuple(input_shape)}")

    def add_weight(self, shape, initializer, name: str, trainable: bool = True,
                   regularizer=None) -> Variable:
        """A weight of this layer; its path is prefixed by the models building it, as Keras 3
        names variables ('sequential/dense/kernel'; 'dense/kernel' for a layer built alone)."""
        value = np.ascontiguousarray(initializer(tuple(shape), dtype="float32"), dtype=np.float32)
        if value.shape != tuple(shape):
            raise ValueError(f"{self.name}: initializer returned shape {value.shape} for {name}, "
                             f"expected {tuple(shape)}")
        var = Variable(value, name, trainable=trainable and self.trainable,
                       path="/".join(_BUILD_SCOPE + [self.name, name]))
        var.regularizer = regularizer
        self._weights.append(var)
        return var

    # ---- weights
    @property
    def weights(self) -> list[Variable]:
        return list(self._weights)

    @property
    def variables(self) -> list[Variable]:
        return self.weights

    @property
    def trainable_weights(self) -> list[Variable]:
        return list(self._weights) if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[Variable]:
        return [] if self.trainable else list(self._weights)

    @property
    def trainable_variables(self) -> list[Variable]:
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list[Variable]:
        return self.non_trainable_weights

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy() for w in self._weights]

    def set_weights(self, weights: Iterable) -> None:
        weights = list(weights)
        if len(weights) != len(self._weights):
            raise ValueError(
                f'Layer "{self.name}" expects {len(self._weights)} weight arrays, but received '
                f"{len(weights)}")
        for var, value in zip(self._weights, weights):
            v = np.asarray(value)
            if v.shape != var.shape:
                raise ValueError(
                    f'Layer "{self.name}" weight "{var.name}" has shape {var.shape}; the value '
                    f"given has shape {v.shape}")
        for var, value in zip(self._weights, weights):
            var.assign(value)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"You tried to call `count_params` on layer '{self.name}', but the "
                             "layer isn't built. You can build it manually via: "
                             f"`{self.name}.build(batch_input_shape)`.")
        return int(sum(w.size for w in self._weights))

    # ---- calling on arrays
    def __call__(self, inputs, training: bool = False):
        x = np.asarray(inputs, dtype=np.float32)
        if x.ndim == 0:
            raise ValueError(f'Layer "{self.name}" expects an array with a batch dimension, '
                             f"got a scalar")
        self._ensure_built((None,) + x.shape[1:])
        return self.call(np.ascontiguousarray(x), training=training)

    def call(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    # ---- config
    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable, "dtype": float32_policy()}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
