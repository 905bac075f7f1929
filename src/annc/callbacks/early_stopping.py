"""``EarlyStopping``: stop ``fit`` when a monitored value stops improving."""
from __future__ import annotations

import math
from typing import Any, Iterator, Optional

from ..utils.progbar import write
from .callback import Callback, Logs

__all__ = ["EarlyStopping"]

# Used by mode='auto' when the model's metric objects don't state a direction themselves.
_HIGHER_IS_BETTER = {
    "acc", "accuracy", "auc", "precision", "recall", "f1_score", "fbeta_score", "iou",
    "mean_iou", "one_hot_iou", "one_hot_mean_iou", "binary_iou", "r2_score",
    "cosine_similarity", "pearson_correlation", "concordance_correlation",
    "precision_at_recall", "recall_at_precision", "sensitivity_at_specificity",
    "specificity_at_sensitivity",
}
_LOWER_IS_BETTER = {
    "loss", "mse", "mae", "mape", "msle", "rmse", "mean_squared_error", "mean_absolute_error",
    "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
    "root_mean_squared_error", "hinge", "squared_hinge", "categorical_hinge", "huber",
    "log_cosh", "logcosh", "kl_divergence", "kld", "kullback_leibler_divergence", "poisson",
}


def _metric_objects(model: Any) -> Iterator[Any]:
    try:
        metrics = list(getattr(model, "metrics", None) or [])
    except Exception:  # a model that cannot list its metrics yet: fall back to names
        return
    for m in metrics:
        yield m
        # Keras-style containers (compile metrics) hold the real metrics one level down.
        for sub in getattr(m, "metrics", None) or []:
            yield sub


def _direction_from_name(name: str) -> Optional[str]:
    if name in _HIGHER_IS_BETTER or name.endswith("accuracy"):
        return "max"
    if (
        name in _LOWER_IS_BETTER
        or name.endswith("loss")
        or name.endswith("crossentropy")
        or name.endswith("_error")
    ):
        return "min"
    return None


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has stopped improving.

    Args:
        monitor: the log key to watch (``'val_loss'``, ``'accuracy'``, ...). A key that the
            epoch logs don't have is an error listing the keys they do have (Keras only warns
            and then does nothing, which hides typos and a missing ``validation_data``).
        min_delta: an improvement smaller than this (in absolute value) doesn't count.
        patience: epochs without improvement after which training stops.
        verbose: 1 prints a line when stopping and when restoring weights.
        mode: ``'min'``, ``'max'`` or ``'auto'`` (from the metric: losses and errors go down,
            accuracies go up).
        baseline: training stops if the value does not beat this within ``patience`` epochs.
        restore_best_weights: at the end of training, put back the weights of the best epoch,
            whether this callback stopped the training or the epochs ran out.
        start_from_epoch: epochs to wait before watching (warm-up).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: Optional[float] = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(
                f"EarlyStopping: mode must be 'auto', 'min' or 'max'; received mode={mode!r}."
            )
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._direction: Optional[str] = None  # "min" or "max", decided at the first epoch end
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float = math.inf if self._direction != "max" else -math.inf
        self.best_weights: Optional[list] = None
        self.best_epoch = 0

    # -- direction ----------------------------------------------------------------------------

    def _resolve_direction(self) -> str:
        if self.mode != "auto":
            return self.mode
        name = self.monitor[len("val_"):] if self.monitor.startswith("val_") else self.monitor
        if name == "loss":
            return "min"
        for m in _metric_objects(self.model):
            if getattr(m, "name", None) != name:
                continue
            declared = getattr(m, "_direction", None) or getattr(m, "direction", None)
            if declared in ("up", "max"):
                return "max"
            if declared in ("down", "min"):
                return "min"
        direction = _direction_from_name(name)
        if direction is None:
            raise ValueError(
                f"EarlyStopping(monitor={self.monitor!r}) cannot tell whether {name!r} should "
                "go up or down. Pass mode='max' to stop when its highest value stops rising, "
                "or mode='min' to stop when its lowest value stops falling."
            )
        return direction

    def _is_improvement(self, value: float, reference: float) -> bool:
        if self._direction == "max":
            return value - self.min_delta > reference
        return value + self.min_delta < reference

    # -- hooks --------------------------------------------------------------------------------

    def on_train_begin(self, logs: Logs = None) -> None:
        # Reusable across fit calls: each run starts from scratch.
        self._reset()

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        logs = logs or {}
        current = logs.get(self.monitor)
        if current is None:
            available = ", ".join(logs) if logs else "(none)"
            hint = ""
            if self.monitor.startswith("val_") and not any(k.startswith("val_") for k in logs):
                hint = (
                    " Validation metrics (val_*) exist only when fit is given "
                    "validation_data or validation_split."
                )
            raise ValueError(
                f"EarlyStopping(monitor={self.monitor!r}): there is no {self.monitor!r} in the "
                f"epoch logs. Available keys: {available}.{hint}"
            )
        if self._direction is None:
            # Decided once the model's metrics exist; nothing has been compared yet.
            self._direction = self._resolve_direction()
            self.best = -math.inf if self._direction == "max" else math.inf
        if epoch < self.start_from_epoch:
            return
        current = float(current)

        if self.restore_best_weights and self.best_weights is None:
            # Until something improves, the first watched epoch is the best one seen.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch

        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # Patience restarts only once the baseline is beaten too.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return

        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            write(f"Epoch {self.stopped_epoch + 1}: early stopping\n")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                write(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}.\n"
                )
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs: Logs) -> Any:
        return (logs or {}).get(self.monitor)
