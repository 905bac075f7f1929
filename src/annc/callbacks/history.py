"""``History``: the per-epoch record that ``fit`` returns."""
from __future__ import annotations

from typing import Any, Dict, List

from .callback import Callback, Logs

__all__ = ["History"]


class History(Callback):
    """Records every epoch's logs.

    ``history`` maps each log key (``loss``, ``accuracy``, ``val_loss`` ...) to the list of its
    values, one per epoch; ``epoch`` lists the epoch indices. ``fit`` adds one automatically
    and returns it; it is also ``model.history``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: Dict[str, List[Any]] = {}
        self.epoch: List[int] = []

    def on_train_begin(self, logs: Logs = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        # Re-point after every epoch, so a model that was re-fit shows the newest record.
        if self.model is not None:
            self.model.history = self
