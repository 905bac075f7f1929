"""Keras 3 activation functions (``keras.activations``) on NumPy arrays.

The functions the C core implements run there in float32 (inputs of other dtypes are
converted; the result is float32). Each such function carries ``__annc_act__ = (act_id,
param)`` with the id from annc.h's ``enum annc_act``, so the training engine can fuse it into a
GEMM epilogue; :func:`annc_act_spec` also resolves ``functools.partial`` objects and the
non-default arguments that map onto a kernel (``relu(negative_slope=a)`` is ``leaky_relu``).
Keras's remaining activations (relu6, exponential, hard_sigmoid, hard_silu, mish,
log_softmax) are provided in NumPy without an id; the engine refuses them by name.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from .. import _core

__all__ = [
    "relu", "sigmoid", "tanh", "softmax", "linear", "elu", "selu", "softplus", "softsign",
    "swish", "silu", "gelu", "leaky_relu", "relu6", "exponential", "hard_sigmoid", "hard_silu",
    "hard_swish", "mish", "log_softmax", "get", "serialize", "deserialize", "annc_act_spec",
    "ACT_IDS", "ALL_ACTIVATIONS",
]

# enum annc_act (csrc/annc.h)
ACT_IDS: Dict[str, int] = {
    "linear": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "softmax": 4, "elu": 5, "selu": 6,
    "softplus": 7, "softsign": 8, "silu": 9, "gelu": 10, "leaky_relu": 11, "gelu_tanh": 12,
}
_SOFTMAX = ACT_IDS["softmax"]


def _f32(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def _elementwise(act_id: int, param: float, x) -> np.ndarray:
    return _core.act_forward(act_id, float(param), _f32(x))


def _tag(act_id: int, param: float = 0.0):
    def deco(fn):
        fn.__annc_act__ = (act_id, float(param))
        return fn
    return deco


@_tag(ACT_IDS["relu"])
def relu(x, negative_slope: float = 0.0, max_value: Optional[float] = None,
         threshold: float = 0.0) -> np.ndarray:
    """max(x, 0); with ``negative_slope``, ``max_value`` and ``threshold`` as in Keras:
    ``x`` above ``threshold`` (clipped at ``max_value``), ``negative_slope * (x - threshold)``
    below it."""
    if max_value is None and threshold == 0:
        if negative_slope == 0:
            return _elementwise(ACT_IDS["relu"], 0.0, x)
        return _elementwise(ACT_IDS["leaky_relu"], negative_slope, x)
    x = _f32(x)
    # Keras's general formula, composed from NumPy (only reached with non-default arguments)
    negative_part = np.maximum(threshold - x, 0.0) if negative_slope != 0 else None
    y = x * (x > threshold) if threshold != 0 else np.maximum(x, 0.0)
    if max_value is not None:
        y = np.clip(y, 0.0, max_value)
    if negative_part is not None:
        y = y - negative_slope * negative_part
    return y.astype(np.float32, copy=False)


@_tag(ACT_IDS["leaky_relu"], 0.2)
def leaky_relu(x, negative_slope: float = 0.2) -> np.ndarray:
    """x for x > 0, negative_slope * x otherwise."""
    return _elementwise(ACT_IDS["leaky_relu"], negative_slope, x)


@_tag(ACT_IDS["sigmoid"])
def sigmoid(x) -> np.ndarray:
    """1 / (1 + exp(-x)), evaluated without overflow on either tail."""
    return _elementwise(ACT_IDS["sigmoid"], 0.0, x)


@_tag(ACT_IDS["tanh"])
def tanh(x) -> np.ndarray:
    return _elementwise(ACT_IDS["tanh"], 0.0, x)


@_tag(ACT_IDS["linear"])
def linear(x):
    """The identity (returns its input unchanged, as Keras does)."""
    return x


@_tag(ACT_IDS["elu"], 1.0)
def elu(x, alpha: float = 1.0) -> np.ndarray:
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    return _elementwise(ACT_IDS["elu"], alpha, x)


@_tag(ACT_IDS["selu"])
def selu(x) -> np.ndarray:
    """scale * elu(x, alpha) with Klambauer et al.'s constants."""
    return _elementwise(ACT_IDS["selu"], 0.0, x)


@_tag(ACT_IDS["softplus"])
def softplus(x) -> np.ndarray:
    """log(exp(x) + 1), stable for large |x|."""
    return _elementwise(ACT_IDS["softplus"], 0.0, x)


@_tag(ACT_IDS["softsign"])
def softsign(x) -> np.ndarray:
    """x / (|x| + 1)."""
    return _elementwise(ACT_IDS["softsign"], 0.0, x)


@_tag(ACT_IDS["silu"])
def silu(x) -> np.ndarray:
    """x * sigmoid(x) (a.k.a. swish)."""
    return _elementwise(ACT_IDS["silu"], 0.0, x)


swish = silu


@_tag(ACT_IDS["gelu"])
def gelu(x, approximate: bool = False) -> np.ndarray:
    """x * Phi(x) (exact, erf form); ``approximate=True`` uses the tanh approximation."""
    return _elementwise(ACT_IDS["gelu_tanh" if approximate else "gelu"], 0.0, x)


@_tag(_SOFTMAX)
def softmax(x, axis: int = -1) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, computed stably (max subtracted first)."""
    x = _f32(x)
    if x.ndim == 0:
        raise ValueError("softmax: input must have at least one dimension")
    if isinstance(axis, (tuple, list)):
        # several axes at once: rare, NumPy is fine
        e = np.exp(x - np.max(x, axis=tuple(axis), keepdims=True))
        return (e / np.sum(e, axis=tuple(axis), keepdims=True)).astype(np.float32)
    moved = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    if moved.size == 0:
        return x.copy()
    y = _core.softmax(moved.reshape(-1, moved.shape[-1]))
    return np.moveaxis(y.reshape(moved.shape), -1, axis)


# ---- Keras activations without a C kernel (NumPy, float32)

def relu6(x) -> np.ndarray:
    return np.clip(_f32(x), 0.0, 6.0)


def exponential(x) -> np.ndarray:
    return np.exp(_f32(x))


def hard_sigmoid(x) -> np.ndarray:
    return np.clip(_f32(x) / np.float32(6.0) + np.float32(0.5), 0.0, 1.0)


def hard_silu(x) -> np.ndarray:
    x = _f32(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def mish(x) -> np.ndarray:
    x = _f32(x)
    return x * np.tanh(softplus(x))


def log_softmax(x, axis: int = -1) -> np.ndarray:
    x = _f32(x)
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


_BY_NAME: Dict[str, Callable] = {
    fn.__name__: fn for fn in (
        relu, leaky_relu, sigmoid, tanh, linear, elu, selu, softplus, softsign, silu, gelu,
        softmax, relu6, exponential, hard_sigmoid, hard_silu, mish, log_softmax)
}
_BY_NAME.update({"swish": silu, "hard_swish": hard_silu})

# the names the C kernels (and so the training engine) run: name -> function
ALL_ACTIVATIONS: Dict[str, Callable] = {
    name: fn for name, fn in _BY_NAME.items() if getattr(fn, "__annc_act__", None) is not None}


def annc_act_spec(fn: Any) -> Optional[Tuple[int, float]]:
    """``(act_id, param)`` for a callable the C kernels implement, else None.

    Resolves the module's functions, ``functools.partial`` of them with keyword or positional
    arguments, and any callable carrying ``__annc_act__``. Softmax's id is only returned for
    the last axis.
    """
    if fn is None:
        return ACT_IDS["linear"], 0.0
    if isinstance(fn, str):
        fn = _BY_NAME.get(fn)
        if fn is None:
            return None
    if isinstance(fn, functools.partial):
        base = fn.func
        if getattr(base, "__annc_act__", None) is None:
            return None
        try:
            bound = inspect.signature(base).bind(None, *fn.args, **fn.keywords)
        except TypeError:
            return None
        args = dict(bound.arguments)
        args.pop(next(iter(inspect.signature(base).parameters)))  # the input x
        return _spec_with_args(base, args)
    spec = getattr(fn, "__annc_act__", None)
    if spec is None:
        return None
    return int(spec[0]), float(spec[1])


def _spec_with_args(base: Callable, args: Dict[str, Any]) -> Optional[Tuple[int, float]]:
    if base is relu:
        slope = float(args.get("negative_slope", 0.0))
        if args.get("max_value") is not None or float(args.get("threshold", 0.0)) != 0.0:
            return None
        return (ACT_IDS["leaky_relu"], slope) if slope != 0 else (ACT_IDS["relu"], 0.0)
    if base is leaky_relu:
        return ACT_IDS["leaky_relu"], float(args.get("negative_slope", 0.2))
    if base is elu:
        return ACT_IDS["elu"], float(args.get("alpha", 1.0))
    if base is gelu:
        return (ACT_IDS["gelu_tanh"] if args.get("approximate", False) else ACT_IDS["gelu"]), 0.0
    if base is softmax:
        return (_SOFTMAX, 0.0) if args.get("axis", -1) == -1 else None
    if args:
        return None
    return base.__annc_act__


def get(identifier: Any) -> Callable:
    """An activation function from None (linear), a name, a config dict or a callable."""
    if identifier is None:
        return linear
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier)
        if fn is None:
            raise ValueError(
                f"Unknown activation function {identifier!r}. Valid names: "
                f"{', '.join(sorted(_BY_NAME))} (or pass a callable)")
        return fn
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r}")


def serialize(activation: Callable) -> Any:
    """The name of a built-in activation (as Keras 3 writes it); a partial of one becomes a
    config dict; other callables are returned by their ``__name__``."""
    if isinstance(activation, functools.partial) and activation.func in _BY_NAME.values():
        return {"class_name": "function", "config": activation.func.__name__,
                "kwargs": dict(activation.keywords)}
    name = getattr(activation, "__name__", None)
    if name in _BY_NAME and _BY_NAME[name] is activation:
        return name
    if name is None:
        raise ValueError(f"Cannot serialize activation {activation!r}: it has no __name__")
    return name


def deserialize(config: Any, custom_objects: Optional[Dict[str, Callable]] = None) -> Callable:
    """Inverse of :func:`serialize` (also accepts Keras's ``{"class_name": "function",
    "config": name}`` dicts)."""
    custom_objects = custom_objects or {}
    if isinstance(config, str):
        if config in custom_objects:
            return custom_objects[config]
        return get(config)
    if isinstance(config, dict):
        name = config.get("config") if config.get("class_name") == "function" else \
            config.get("class_name")
        if not isinstance(name, str):
            raise ValueError(f"Could not interpret activation config: {config!r}")
        fn = custom_objects.get(name) or get(name)
        kwargs = config.get("kwargs")
        return functools.partial(fn, **kwargs) if kwargs else fn
    raise ValueError(f"Could not interpret activation config: {config!r}")
