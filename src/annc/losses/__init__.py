"""Keras 3 losses (``keras.losses``) computed by the C core.

Functions (``mean_squared_error``, ``sparse_categorical_crossentropy`` ...) return per-sample
losses; ``Loss`` objects reduce them (default ``"sum_over_batch_size"``, the mean). Numerics
follow Keras: probabilities are divided by their row sum (the categorical cross-entropies),
clipped to ``[1e-7, 1 - 1e-7]`` and logged; ``from_logits=True`` uses fused, stable
log-sum-exp / log1p forms.

Engine hooks: every built-in loss function and ``Loss`` instance carries
``__annc_loss__ = (loss_id, from_logits, param)`` (ids from annc.h's ``enum annc_loss``);
:func:`annc_loss_spec` resolves any identifier to that triple (or None for custom losses);
:func:`prepare_targets` validates and converts ``y_true`` once into the array the C kernel
takes; :func:`loss_and_grad` is the NumPy-level call of the kernel with its gradient.

Arguments annc does not implement (``label_smoothing != 0``, ``ignore_class``, ``axis`` other
than -1, a dtype other than float32) raise NotImplementedError naming the argument.
"""
from __future__ import annotations

import inspect
import os
import re
import sys
import warnings
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from .. import _core
from .._serialization import serialize_object

__all__ = [
    "Loss", "LossFunctionWrapper", "SparseCategoricalCrossentropy", "CategoricalCrossentropy",
    "BinaryCrossentropy", "MeanSquaredError", "MeanAbsoluteError", "Huber",
    "sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
    "mean_squared_error", "mean_absolute_error", "huber", "mse", "mae", "MSE", "MAE", "bce",
    "BCE", "get", "serialize", "deserialize", "annc_loss_spec", "prepare_targets",
    "loss_and_grad", "LOSS_IDS",
]

# enum annc_loss (csrc/annc.h)
LOSS_IDS: Dict[str, int] = {
    "sparse_categorical_crossentropy": 0, "categorical_crossentropy": 1,
    "binary_crossentropy": 2, "mean_squared_error": 3, "mean_absolute_error": 4, "huber": 5,
}
_SPARSE, _CCE, _BCE, _MSE, _MAE, _HUBER = range(6)
_ID_NAMES = {v: k for k, v in LOSS_IDS.items()}

_REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")


# ---------------------------------------------------------------- argument checks

def _unsupported(what: str, value: Any, fix: str) -> NotImplementedError:
    return NotImplementedError(f"annc does not implement {what}={value!r}; {fix}")


def _check_label_smoothing(label_smoothing: float) -> None:
    if label_smoothing:
        raise _unsupported("label_smoothing", label_smoothing,
                           "smooth the targets yourself (y * (1 - ls) + ls / num_classes) "
                           "and pass label_smoothing=0.0")


def _check_axis(axis: int) -> None:
    if isinstance(axis, bool) or axis != -1:
        raise _unsupported("axis", axis, "move the class axis last and pass axis=-1")


def _check_ignore_class(ignore_class: Optional[int]) -> None:
    if ignore_class is not None:
        raise _unsupported("ignore_class", ignore_class,
                           "drop those samples or give them sample_weight=0")


def _check_dtype(dtype: Any) -> None:
    if dtype is not None and np.dtype(getattr(dtype, "name", dtype)) != np.float32:
        raise _unsupported("dtype", dtype, "annc computes losses in float32 (pass dtype=None)")


# ---------------------------------------------------------------- shapes and conversion

def _squeeze_or_expand(a: np.ndarray, b: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Keras's squeeze_or_expand_to_same_rank: ranks that differ by one over a trailing size-1
    axis are reconciled, e.g. labels (N,) with predictions (N, 1)."""
    ra, rb = a.ndim, b.ndim
    if ra == rb + 1 and a.shape[-1] == 1:
        if rb == 1:
            b = b[:, None]
        else:
            a = a[..., 0]
    elif rb == ra + 1 and b.shape[-1] == 1:
        if ra == 1:
            a = a[:, None]
        else:
            b = b[..., 0]
    return a, b


def _f32(x, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{name} has dtype {a.dtype}; expected a real numeric array")
    return np.ascontiguousarray(a, dtype=np.float32)


def _sparse_labels(y_true, pred_shape: Tuple[int, ...], fn: str) -> np.ndarray:
    """Integer class ids as int32, checked against the number of classes."""
    y = np.asarray(y_true)
    if y.dtype.kind not in "fiub":
        raise TypeError(f"{fn}: labels have dtype {y.dtype}; expected integer class ids")
    num_classes = pred_shape[-1]
    if y.ndim == len(pred_shape) and y.ndim > 0 and y.shape[-1] == 1:
        y = y[..., 0]
    if y.shape != tuple(pred_shape[:-1]):
        hint = ""
        if y.shape == tuple(pred_shape) and num_classes > 1:
            hint = (" These look like one-hot labels: use categorical_crossentropy "
                    "(CategoricalCrossentropy) for one-hot targets, or pass class ids.")
        raise ValueError(f"{fn}: labels have shape {y.shape} but predictions have shape "
                         f"{tuple(pred_shape)}; expected labels of shape "
                         f"{tuple(pred_shape[:-1])} (one class id per sample).{hint}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{fn}: labels contain NaN or infinity")
        if np.any(y != np.floor(y)):
            raise ValueError(f"{fn}: labels must be integer class ids, got non-integral "
                             f"values such as {y[y != np.floor(y)].ravel()[:3].tolist()}")
    if y.size:
        lo, hi = y.min(), y.max()
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"{fn}: labels must lie in [0, {num_classes}) for {num_classes} "
                             f"classes, got values in [{lo}, {hi}]. Check the number of units "
                             f"of the last layer and the labels.")
    return np.ascontiguousarray(y, dtype=np.int32)


def _dense_pair(y_true, y_pred, fn: str, same_shape: bool) -> Tuple[np.ndarray, np.ndarray]:
    yp = _f32(y_pred, "y_pred")
    yt = _f32(y_true, "y_true")
    yt, yp = _squeeze_or_expand(yt, yp)
    if yp.ndim == 0:
        raise ValueError(f"{fn}: y_pred must have at least one dimension")
    if yt.shape != yp.shape:
        if same_shape:
            raise ValueError(f"{fn}: y_true and y_pred must have the same shape, got "
                             f"y_true {yt.shape} and y_pred {yp.shape}")
        yt = np.broadcast_to(yt, np.broadcast_shapes(yt.shape, yp.shape))
        yp = np.broadcast_to(yp, yt.shape)
    return np.ascontiguousarray(yt), np.ascontiguousarray(yp)


_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _user_stacklevel() -> int:
    """The stacklevel of the first frame outside annc, so a warning names the user's line."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PKG_DIR):
        frame = frame.f_back
        level += 1
    return level


def _warn_if_mismatched(loss_id: int, from_logits: bool, yp2: np.ndarray, fn: str) -> None:
    """House rule: say so when predictions plainly contradict from_logits (Keras would train
    silently on clipped or doubly-squashed values)."""
    if loss_id not in (_SPARSE, _CCE, _BCE) or yp2.size == 0:
        return
    lo, hi = float(yp2.min()), float(yp2.max())  # NaN makes both tests below false
    if not from_logits and (lo < 0.0 or hi > 1.0):
        warnings.warn(f"{fn}: received from_logits=False but y_pred has values outside "
                      f"[0, 1] (min {lo:.3g}, max {hi:.3g}), so it is not a probability; "
                      f"if the model's last layer has no softmax/sigmoid, pass "
                      f"from_logits=True.", stacklevel=_user_stacklevel())
    elif (from_logits and loss_id != _BCE and yp2.shape[-1] > 1 and lo >= 0.0 and hi <= 1.0
          and np.allclose(yp2.sum(axis=-1), 1.0, atol=1e-3)):
        warnings.warn(f"{fn}: received from_logits=True but every row of y_pred is a "
                      f"probability distribution (as a softmax output is); the softmax would "
                      f"be applied twice. Pass from_logits=False, or remove the softmax.",
                      stacklevel=_user_stacklevel())


def _run(loss_id: int, from_logits: bool, param: float, y_true, y_pred, fn: str,
         want_grad: bool = False, grad_scale: float = 1.0):
    """Per-sample loss with shape y_pred.shape[:-1] (and the gradient w.r.t. y_pred)."""
    if loss_id == _SPARSE:
        yp = _f32(y_pred, "y_pred")
        if yp.ndim == 0:
            raise ValueError(f"{fn}: y_pred must have at least one dimension")
        target = _sparse_labels(y_true, yp.shape, fn).reshape(-1)
    else:
        yt, yp = _dense_pair(y_true, y_pred, fn, same_shape=loss_id in (_CCE, _BCE))
        target = yt.reshape(-1, yt.shape[-1])
    cols = yp.shape[-1]
    if cols == 0:
        raise ValueError(f"{fn}: y_pred has an empty last axis {yp.shape}")
    pred2 = yp.reshape(-1, cols)
    _warn_if_mismatched(loss_id, from_logits, pred2, fn)
    per, grad = _core.loss(loss_id, bool(from_logits), float(param), pred2, target,
                           float(grad_scale), want_grad)
    per = per.reshape(yp.shape[:-1])
    if want_grad:
        return per, grad.reshape(yp.shape)
    return per


def _tag(loss_id: int, param: float = 0.0):
    def deco(fn):
        fn.__annc_loss__ = (loss_id, False, float(param))
        return fn
    return deco


# ---------------------------------------------------------------- loss functions

@_tag(_MSE)
def mean_squared_error(y_true, y_pred) -> np.ndarray:
    """mean((y_true - y_pred)**2, axis=-1)."""
    return _run(_MSE, False, 0.0, y_true, y_pred, "mean_squared_error")


@_tag(_MAE)
def mean_absolute_error(y_true, y_pred) -> np.ndarray:
    """mean(|y_true - y_pred|, axis=-1)."""
    return _run(_MAE, False, 0.0, y_true, y_pred, "mean_absolute_error")


@_tag(_HUBER, 1.0)
def huber(y_true, y_pred, delta: float = 1.0) -> np.ndarray:
    """mean over the last axis of 0.5 e**2 where |e| <= delta, else delta (|e| - delta / 2)."""
    return _run(_HUBER, False, float(delta), y_true, y_pred, "huber")


@_tag(_BCE)
def binary_crossentropy(y_true, y_pred, from_logits: bool = False,
                        label_smoothing: float = 0.0, axis: int = -1) -> np.ndarray:
    """mean over the last axis of -(y log p + (1 - y) log(1 - p))."""
    _check_label_smoothing(label_smoothing)
    _check_axis(axis)
    return _run(_BCE, from_logits, 0.0, y_true, y_pred, "binary_crossentropy")


@_tag(_CCE)
def categorical_crossentropy(y_true, y_pred, from_logits: bool = False,
                             label_smoothing: float = 0.0, axis: int = -1) -> np.ndarray:
    """-sum(y_true * log(p), axis=-1) with p = y_pred / sum(y_pred) clipped (or
    log_softmax(y_pred) when from_logits)."""
    _check_label_smoothing(label_smoothing)
    _check_axis(axis)
    return _run(_CCE, from_logits, 0.0, y_true, y_pred, "categorical_crossentropy")


@_tag(_SPARSE)
def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False,
                                    ignore_class: Optional[int] = None,
                                    axis: int = -1) -> np.ndarray:
    """categorical_crossentropy with integer class ids as y_true."""
    _check_ignore_class(ignore_class)
    _check_axis(axis)
    return _run(_SPARSE, from_logits, 0.0, y_true, y_pred, "sparse_categorical_crossentropy")


# ---------------------------------------------------------------- Loss classes

def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


class Loss:
    """Base class: ``__call__`` computes per-sample losses with ``call`` and reduces them."""

    def __init__(self, name: Optional[str] = None, reduction: Optional[str] =
                 "sum_over_batch_size", dtype: Any = None) -> None:
        if reduction not in _REDUCTIONS:
            raise ValueError(f"Invalid value for argument `reduction`. Expected one of "
                             f"{_REDUCTIONS}. Received: reduction={reduction!r}")
        _check_dtype(dtype)
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction

    @property
    def dtype(self) -> str:
        return "float32"

    def call(self, y_true, y_pred) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        values = np.asarray(self.call(y_true, y_pred), dtype=np.float32)
        return _reduce(values, sample_weight, self.reduction)

    def get_config(self) -> Dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Loss":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _reduce(values: np.ndarray, sample_weight, reduction: Optional[str]):
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=np.float32)
        values, sw = _squeeze_or_expand(values, sw) if values.ndim and sw.ndim else (values, sw)
        values = values * sw
    else:
        sw = None
    if reduction is None or reduction == "none" or values.shape in ((), (0,)):
        return values
    # float64 accumulation, then float32 like Keras's result dtype
    total = float(np.sum(values, dtype=np.float64))
    if reduction == "sum":
        return np.float32(total)
    if reduction == "mean_with_sample_weight" and sw is not None:
        div = float(np.sum(sw, dtype=np.float64))
    else:
        div = float(values.size)
    return np.float32(total / div if div else 0.0)


class LossFunctionWrapper(Loss):
    """A Loss around a per-sample loss function and its keyword arguments."""

    def __init__(self, fn: Callable, reduction: Optional[str] = "sum_over_batch_size",
                 name: Optional[str] = None, dtype: Any = None, **kwargs: Any) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred) -> np.ndarray:
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config.update(self._fn_kwargs)
        return config


class MeanSquaredError(LossFunctionWrapper):
    def __init__(self, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "mean_squared_error", dtype: Any = None) -> None:
        super().__init__(mean_squared_error, reduction=reduction, name=name, dtype=dtype)
        self.__annc_loss__ = (_MSE, False, 0.0)

    def get_config(self) -> Dict[str, Any]:
        return Loss.get_config(self)


class MeanAbsoluteError(LossFunctionWrapper):
    def __init__(self, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "mean_absolute_error", dtype: Any = None) -> None:
        super().__init__(mean_absolute_error, reduction=reduction, name=name, dtype=dtype)
        self.__annc_loss__ = (_MAE, False, 0.0)

    def get_config(self) -> Dict[str, Any]:
        return Loss.get_config(self)


class Huber(LossFunctionWrapper):
    def __init__(self, delta: float = 1.0, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "huber_loss", dtype: Any = None) -> None:
        delta = float(delta)
        if not delta >= 0.0:
            raise ValueError(f"Huber: delta must be a non-negative float, got {delta}")
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=delta)
        self.__annc_loss__ = (_HUBER, False, delta)


class BinaryCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 axis: int = -1, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "binary_crossentropy", dtype: Any = None) -> None:
        _check_label_smoothing(label_smoothing)
        _check_axis(axis)
        super().__init__(binary_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=bool(from_logits), label_smoothing=float(label_smoothing),
                         axis=axis)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = axis
        self.__annc_loss__ = (_BCE, self.from_logits, 0.0)


class CategoricalCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 axis: int = -1, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "categorical_crossentropy", dtype: Any = None) -> None:
        _check_label_smoothing(label_smoothing)
        _check_axis(axis)
        super().__init__(categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=bool(from_logits), label_smoothing=float(label_smoothing),
                         axis=axis)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = axis
        self.__annc_loss__ = (_CCE, self.from_logits, 0.0)


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits: bool = False, ignore_class: Optional[int] = None,
                 reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "sparse_categorical_crossentropy", dtype: Any = None) -> None:
        _check_ignore_class(ignore_class)
        super().__init__(sparse_categorical_crossentropy, reduction=reduction, name=name,
                         dtype=dtype, from_logits=bool(from_logits), ignore_class=ignore_class)
        self.from_logits = bool(from_logits)
        self.ignore_class = ignore_class
        self.__annc_loss__ = (_SPARSE, self.from_logits, 0.0)


# ---------------------------------------------------------------- lookup and engine hooks

mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
bce = BCE = binary_crossentropy

_CLASSES = (Loss, LossFunctionWrapper, SparseCategoricalCrossentropy, CategoricalCrossentropy,
            BinaryCrossentropy, MeanSquaredError, MeanAbsoluteError, Huber)
_FUNCTIONS = (sparse_categorical_crossentropy, categorical_crossentropy, binary_crossentropy,
              mean_squared_error, mean_absolute_error, huber)
_CLASS_OF = {sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
             categorical_crossentropy: CategoricalCrossentropy,
             binary_crossentropy: BinaryCrossentropy, mean_squared_error: MeanSquaredError,
             mean_absolute_error: MeanAbsoluteError, huber: Huber}
_BY_NAME: Dict[str, Any] = {c.__name__: c for c in _CLASSES}
_BY_NAME.update({f.__name__: f for f in _FUNCTIONS})
_BY_NAME.update({"mse": mse, "MSE": mse, "mae": mae, "MAE": mae, "bce": bce, "BCE": bce,
                 "huber_loss": huber})


def get(identifier: Any):
    """A loss from a name (function or class name, or an alias such as 'mse'), a config
    dict, a Loss instance or a callable. Class names give instances, as in Keras."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = _BY_NAME.get(identifier)
        if obj is None:
            valid = sorted(n for n in _BY_NAME if n not in ("Loss", "LossFunctionWrapper"))
            raise ValueError(f"Unknown loss {identifier!r}. Valid names: {', '.join(valid)}")
    else:
        obj = identifier
    if inspect.isclass(obj):
        obj = obj()
    if not callable(obj):
        raise ValueError(f"Could not interpret loss identifier: {identifier!r}")
    return obj


def serialize(loss: Any) -> Any:
    """A Loss instance becomes a Keras-style config dict; a built-in function its name."""
    if isinstance(loss, Loss):
        return serialize_object(loss, "keras.losses")
    name = getattr(loss, "__name__", None)
    if name is None:
        raise ValueError(f"Cannot serialize loss {loss!r}")
    return name


def deserialize(config: Any, custom_objects: Optional[Dict[str, Any]] = None):
    custom_objects = custom_objects or {}
    if isinstance(config, str):
        return custom_objects.get(config) or get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret loss config: {config!r}")
    name = config["class_name"]
    if name == "function":  # Keras's form for a plain function
        return deserialize(config.get("config"), custom_objects)
    cls = custom_objects.get(name) or _BY_NAME.get(name)
    if cls is None:
        raise ValueError(f"Unknown loss class {name!r}")
    cfg = dict(config.get("config") or {})
    if not inspect.isclass(cls):
        if not cfg:
            return cls
        # a function named with arguments, e.g. {"class_name": "huber", "config": {"delta": 2}}:
        # its Loss class takes them (and rejects unknown ones) rather than dropping them
        cls = _CLASS_OF.get(cls)
        if cls is None:
            raise ValueError(f"Loss {name!r} takes no configuration, got {cfg!r}")
    return cls.from_config(cfg)


def annc_loss_spec(loss: Any) -> Optional[Tuple[int, bool, float]]:
    """``(loss_id, from_logits, param)`` for the C kernel, or None for a loss it cannot run
    (a custom function or Loss subclass). Accepts anything :func:`get` accepts."""
    if isinstance(loss, (str, dict)) or inspect.isclass(loss):
        loss = get(loss)
    spec = getattr(loss, "__annc_loss__", None)
    if spec is None:
        return None
    if isinstance(loss, Loss) and loss.reduction not in ("sum_over_batch_size", "mean"):
        return None  # the engine averages over the batch; other reductions go the slow way
    return int(spec[0]), bool(spec[1]), float(spec[2])


def prepare_targets(loss: Any, y_true, num_outputs: int) -> np.ndarray:
    """``y_true`` converted and checked once for the C kernel: int32 class ids of shape (N,)
    for the sparse cross-entropy (range-checked against ``num_outputs``), else a C-contiguous
    float32 (N, num_outputs) array ((N,) labels against one output become (N, 1))."""
    spec = annc_loss_spec(loss)
    if spec is None:
        raise ValueError(f"prepare_targets: {loss!r} has no annc kernel")
    y = np.asarray(y_true)
    n = y.shape[0] if y.ndim else 0
    name = _ID_NAMES[spec[0]]
    if spec[0] == _SPARSE:
        return _sparse_labels(y, (n, num_outputs), name)
    yt = _f32(y, "y_true")
    if yt.ndim == 1 and num_outputs == 1:
        yt = yt[:, None]
    if yt.ndim != 2 or yt.shape[1] != num_outputs:
        hint = ""
        if spec[0] == _CCE and yt.ndim == 1:
            hint = (" These look like integer class ids: use sparse_categorical_crossentropy "
                    "or one-hot encode the labels.")
        raise ValueError(f"{name}: y has shape {y.shape} but the model has {num_outputs} "
                         f"outputs; expected ({n}, {num_outputs}).{hint}")
    return np.ascontiguousarray(yt)


def loss_and_grad(loss: Any, y_true, y_pred, grad_scale: Optional[float] = None
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """Per-sample losses and the gradient of ``grad_scale * sum(per-sample)`` with respect to
    ``y_pred`` (default ``grad_scale = 1 / number of samples``, the gradient of the mean)."""
    spec = annc_loss_spec(loss)
    if spec is None:
        raise ValueError(f"loss_and_grad: {loss!r} has no annc kernel")
    yp = np.asarray(y_pred)
    if grad_scale is None:
        grad_scale = 1.0 / max(1, int(np.prod(yp.shape[:-1])))
    return _run(spec[0], spec[1], spec[2], y_true, yp, _ID_NAMES[spec[0]], want_grad=True,
                grad_scale=grad_scale)
