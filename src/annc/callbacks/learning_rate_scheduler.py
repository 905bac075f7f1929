"""``LearningRateScheduler``: set the optimizer's learning rate at the start of each epoch."""
from __future__ import annotations

import inspect
import numbers
from typing import Any, Callable

import numpy as np

from ..utils.progbar import write
from .callback import Callback, Logs

__all__ = ["LearningRateScheduler"]


def _takes_two_args(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` accepts ``(epoch, lr)``; old-style schedules take only ``(epoch)``."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins and some C callables: assume the new form
        return True
    positional = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 2


def _current_lr(optimizer: Any) -> float:
    lr = optimizer.learning_rate
    try:
        return float(np.asarray(lr))
    except (TypeError, ValueError):
        raise TypeError(
            "LearningRateScheduler needs the optimizer's learning_rate to be a number, but it is "
            f"{type(lr).__name__}; a learning-rate schedule object already decides the rate "
            "itself. Compile with a float learning_rate to use this callback."
        ) from None


class LearningRateScheduler(Callback):
    """Sets ``model.optimizer.learning_rate = schedule(epoch, lr)`` before each epoch.

    Args:
        schedule: ``schedule(epoch, lr) -> new_lr`` with ``epoch`` 0-based and ``lr`` the
            current rate as a float; a one-argument ``schedule(epoch)`` works too.
        verbose: 1 prints the rate set at each epoch.

    The rate in force is also logged at each epoch end as ``learning_rate`` (so it appears in
    ``History.history['learning_rate']``).
    """

    def __init__(self, schedule: Callable[..., Any], verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                f"LearningRateScheduler: schedule must be a function (epoch, lr) -> lr; got "
                f"{type(schedule).__name__}."
            )
        self.schedule = schedule
        self.verbose = verbose
        self._two_args = _takes_two_args(schedule)

    def _optimizer(self) -> Any:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None or not hasattr(optimizer, "learning_rate"):
            raise ValueError(
                "LearningRateScheduler needs a compiled model whose optimizer has a "
                "learning_rate; call model.compile(optimizer=...) before fit."
            )
        return optimizer

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        optimizer = self._optimizer()
        if self._two_args:
            new_lr = self.schedule(epoch, _current_lr(optimizer))
        else:
            new_lr = self.schedule(epoch)
        if isinstance(new_lr, bool) or not isinstance(new_lr, (numbers.Real, np.floating, np.integer)):
            if not (isinstance(new_lr, np.ndarray) and new_lr.ndim == 0):
                raise ValueError(
                    "The output of the `schedule` function should be a float. "
                    f"Got: {new_lr!r} (type {type(new_lr).__name__})."
                )
        new_lr = float(new_lr)
        optimizer.learning_rate = new_lr
        if self.verbose > 0:
            write(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {new_lr}.\n")

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        if logs is not None:
            # Mutated in place so History and the progress line, which run later, see it.
            logs["learning_rate"] = _current_lr(self._optimizer())
