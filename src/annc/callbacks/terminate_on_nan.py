"""``TerminateOnNaN``: stop training as soon as the loss is NaN or infinite."""
from __future__ import annotations

import math

from ..utils.progbar import write
from .callback import Callback, Logs

__all__ = ["TerminateOnNaN"]


class TerminateOnNaN(Callback):
    """Stops ``fit`` after the first step whose ``loss`` is NaN or infinite.

    Args:
        raise_error: raise ``RuntimeError`` at once instead of setting
            ``model.stop_training`` (which still lets ``on_train_end`` run).
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch: int, logs: Logs = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        try:
            value = float(loss)
        except (TypeError, ValueError):
            return
        if math.isfinite(value):
            return
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. Loss value: {value}. "
                "Terminating training immediately."
            )
        write(f"Batch {batch}: Invalid loss, terminating training\n")
        self.model.stop_training = True
