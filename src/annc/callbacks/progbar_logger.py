"""``ProgbarLogger``: the progress output of ``fit``, ``evaluate`` and ``predict``."""
from __future__ import annotations

from typing import Any, Dict, Optional

from ..utils import progbar as _progbar
from .callback import Callback, Logs

__all__ = ["ProgbarLogger"]

# "A few redraws a second" is plenty for a human; every redraw in a notebook is a message to
# the browser, so redraw less often there.
_TERMINAL_INTERVAL = 0.1
_NOTEBOOK_INTERVAL = 0.25


class ProgbarLogger(Callback):
    """Prints ``Epoch i/N`` and a Keras-style progress bar.

    Reads ``verbose`` (0 silent, 1 bar, 2 one line per epoch; ``'auto'`` means 1), ``epochs``
    and ``steps`` (steps per epoch, or None if unknown) from ``params``. Inside ``fit`` the
    validation pass prints nothing; ``evaluate`` and ``predict`` get a bar of their own.

    The loops pass running averages in their batch logs, so the bar shows them as given
    rather than averaging them a second time.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0
        self.progbar: Optional[_progbar.Progbar] = None
        self.target: Optional[int] = None
        self.verbose: Any = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params: Dict[str, Any]) -> None:
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    # -- fit ----------------------------------------------------------------------------------

    def on_train_begin(self, logs: Logs = None) -> None:
        # Validation inside fit runs the test hooks; the epoch line already reports it.
        self._called_in_fit = True

    def on_train_end(self, logs: Logs = None) -> None:
        self._called_in_fit = False

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        self._reset_progbar()
        self._maybe_init_progbar()
        if self.verbose and self.epochs > 1:
            _progbar.write(f"Epoch {epoch + 1}/{self.epochs}\n")

    def on_train_batch_end(self, batch: int, logs: Logs = None) -> None:
        # Every training step lands here: kept to the minimum when no redraw is due.
        self.seen = batch + 1
        if self.verbose == 1:
            progbar = self.progbar
            if progbar is None:
                self._maybe_init_progbar()
                progbar = self.progbar
            progbar.update(self.seen, logs.items() if logs else None, False)

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        self._finalize_progbar(logs)

    # -- evaluate -----------------------------------------------------------------------------

    def on_test_begin(self, logs: Logs = None) -> None:
        if not self._called_in_fit:
            self._reset_progbar()
            self._maybe_init_progbar()

    def on_test_batch_end(self, batch: int, logs: Logs = None) -> None:
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_test_end(self, logs: Logs = None) -> None:
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    # -- predict ------------------------------------------------------------------------------

    def on_predict_begin(self, logs: Logs = None) -> None:
        self._reset_progbar()
        self._maybe_init_progbar()

    def on_predict_batch_end(self, batch: int, logs: Logs = None) -> None:
        # The batch logs carry the predictions, which are not metrics.
        self._update_progbar(batch, None)

    def on_predict_end(self, logs: Logs = None) -> None:
        self._finalize_progbar(logs)

    # -- internals ----------------------------------------------------------------------------

    def _reset_progbar(self) -> None:
        self.seen = 0
        self.progbar = None

    def _maybe_init_progbar(self) -> None:
        if self.progbar is None:
            interval = _NOTEBOOK_INTERVAL if _progbar.in_notebook() else _TERMINAL_INTERVAL
            self.progbar = _progbar.Progbar(
                target=self.target,
                verbose=self.verbose,
                interval=interval,
                stateless_metrics=(),
                unit_name="step",
            )

    def _update_progbar(self, batch: int, logs: Logs = None) -> None:
        self._maybe_init_progbar()
        self.seen = batch + 1  # batch is 0-based
        if self.verbose == 1:
            self.progbar.update(self.seen, logs.items() if logs else None, finalize=False)

    def _finalize_progbar(self, logs: Logs) -> None:
        self._maybe_init_progbar()
        if self.target is None:
            # Unknown length: the epoch is as long as the steps we saw.
            self.target = self.seen
            self.progbar.target = self.seen
        self.progbar.update(self.target, list((logs or {}).items()), finalize=True)
