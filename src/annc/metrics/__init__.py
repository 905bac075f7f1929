"""annc.metrics: the metrics `compile(metrics=...)` accepts, computed inside the C executor.

Each metric has a Keras-compatible object (update_state / result / reset_state, computed with
NumPy) and an id the executor uses to accumulate it during fit/evaluate without leaving C.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "Metric", "Mean", "SparseCategoricalAccuracy", "CategoricalAccuracy", "BinaryAccuracy",
    "MeanAbsoluteError", "MeanSquaredError", "Accuracy", "sparse_categorical_accuracy",
    "categorical_accuracy", "binary_accuracy", "mean_absolute_error", "mean_squared_error",
    "get", "serialize",
]

# ids of csrc/annc.h's enum annc_metric
SPARSE_CATEGORICAL_ACCURACY = 0
CATEGORICAL_ACCURACY = 1
BINARY_ACCURACY = 2
MAE = 3
MSE = 4


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true).reshape(y_pred.shape[:-1])
    return (np.argmax(y_pred, axis=-1) == y_true).astype(np.float32)


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    return (np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)).astype(np.float32)


def binary_accuracy(y_true, y_pred, threshold: float = 0.5) -> np.ndarray:
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true).reshape(y_pred.shape)
    return np.mean((y_pred > threshold) == (y_true > threshold), axis=-1, dtype=np.float32)


def mean_absolute_error(y_true, y_pred) -> np.ndarray:
    y_pred = np.asarray(y_pred, dtype=np.float32)
    return np.mean(np.abs(y_pred - np.asarray(y_true, np.float32).reshape(y_pred.shape)), axis=-1)


def mean_squared_error(y_true, y_pred) -> np.ndarray:
    y_pred = np.asarray(y_pred, dtype=np.float32)
    return np.mean(np.square(y_pred - np.asarray(y_true, np.float32).reshape(y_pred.shape)),
                   axis=-1)


class Metric:
    """A running mean of a per-sample quantity (Keras's MeanMetricWrapper contract)."""

    _fn = None
    _default_name = "metric"
    _c_id: int | None = None

    def __init__(self, name: str | None = None, dtype=None):
        self.name = name or self._default_name
        self.reset_state()

    def reset_state(self) -> None:
        self._total = 0.0
        self._count = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        self._accumulate(type(self)._fn(y_true, y_pred), sample_weight)

    def _accumulate(self, values, sample_weight) -> None:
        """Add per-sample values (weighted when sample_weight is given) to the running mean."""
        values = np.asarray(values, dtype=np.float64)
        if sample_weight is None:
            self._total += float(values.sum())
            self._count += float(values.size)
        else:
            w = np.broadcast_to(np.asarray(sample_weight, np.float64), values.shape)
            self._total += float((values * w).sum())
            self._count += float(w.sum())

    def result(self) -> float:
        return self._total / self._count if self._count else 0.0

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": "float32"}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class Mean(Metric):
    _default_name = "mean"

    def update_state(self, values, sample_weight=None) -> None:  # type: ignore[override]
        self._accumulate(values, sample_weight)


class SparseCategoricalAccuracy(Metric):
    _fn = staticmethod(sparse_categorical_accuracy)
    _default_name = "sparse_categorical_accuracy"
    _c_id = SPARSE_CATEGORICAL_ACCURACY


class CategoricalAccuracy(Metric):
    _fn = staticmethod(categorical_accuracy)
    _default_name = "categorical_accuracy"
    _c_id = CATEGORICAL_ACCURACY


class BinaryAccuracy(Metric):
    _fn = staticmethod(binary_accuracy)
    _default_name = "binary_accuracy"
    _c_id = BINARY_ACCURACY

    def __init__(self, name: str | None = None, dtype=None, threshold: float = 0.5):
        if threshold != 0.5:
            raise NotImplementedError("BinaryAccuracy: annc supports threshold=0.5 only")
        super().__init__(name, dtype)


class MeanAbsoluteError(Metric):
    _fn = staticmethod(mean_absolute_error)
    _default_name = "mean_absolute_error"
    _c_id = MAE


class MeanSquaredError(Metric):
    _fn = staticmethod(mean_squared_error)
    _default_name = "mean_squared_error"
    _c_id = MSE


class Accuracy(Metric):
    """Exact equality of y_true and y_pred (Keras's `Accuracy`); not the 'accuracy' string."""

    _fn = staticmethod(lambda t, p: (np.asarray(t) == np.asarray(p)).astype(np.float32))
    _default_name = "accuracy"


_BY_NAME = {
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
}
_FUNCS = {
    sparse_categorical_accuracy: SparseCategoricalAccuracy,
    categorical_accuracy: CategoricalAccuracy,
    binary_accuracy: BinaryAccuracy,
    mean_absolute_error: MeanAbsoluteError,
    mean_squared_error: MeanSquaredError,
}
ACCURACY_NAMES = ("accuracy", "acc")


def get(identifier) -> Metric:
    """A metric object from a name, a metric function or class, or an instance. 'accuracy'
    gives Keras's `Accuracy` (exact equality), as keras.metrics.get does; in compile() the
    string is resolved by the model from the shapes instead."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        if identifier in ("accuracy", "Accuracy"):  # as keras.metrics.get: exact equality
            return Accuracy()
        cls = _BY_NAME.get(identifier) or _BY_NAME.get(identifier.lower())
        if cls is None:
            valid = sorted(set(_BY_NAME) | set(ACCURACY_NAMES))
            raise ValueError(f"Unknown metric {identifier!r}. annc supports: {valid}")
        return cls(name=identifier)
    if callable(identifier) and identifier in _FUNCS:
        return _FUNCS[identifier](name=identifier.__name__)
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def serialize(metric: Metric) -> dict:
    return {"class_name": type(metric).__name__, "config": metric.get_config()}
