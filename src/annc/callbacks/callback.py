"""The ``Callback`` base class: every hook Keras 3 calls, each a no-op by default."""
from __future__ import annotations

from typing import Any, Dict, Optional

__all__ = ["Callback"]

Logs = Optional[Dict[str, Any]]


class Callback:
    """Base class for objects that hook into ``fit``, ``evaluate`` and ``predict``.

    Subclass it and override the hooks you need. A callback reaches the model only through
    ``self.model`` (set by ``set_model``) and the run's settings through ``self.params``
    (``{'verbose': ..., 'epochs': ..., 'steps': ...}``, set by ``set_params``).

    ``on_train_batch_begin``/``on_train_batch_end`` call the Keras 2 names ``on_batch_begin``/
    ``on_batch_end``, so callbacks written against either API work.
    """

    def __init__(self) -> None:
        self.params: Optional[Dict[str, Any]] = None
        self._model: Any = None

    def set_params(self, params: Dict[str, Any]) -> None:
        self.params = params

    def set_model(self, model: Any) -> None:
        self._model = model

    @property
    def model(self) -> Any:
        return self._model

    @model.setter
    def model(self, model: Any) -> None:
        self.set_model(model)

    # -- Keras 2 aliases ----------------------------------------------------------------------

    def on_batch_begin(self, batch: int, logs: Logs = None) -> None:
        """Keras 2 name of ``on_train_batch_begin``."""

    def on_batch_end(self, batch: int, logs: Logs = None) -> None:
        """Keras 2 name of ``on_train_batch_end``."""

    # -- fit ----------------------------------------------------------------------------------

    def on_train_begin(self, logs: Logs = None) -> None:
        """Called once when ``fit`` starts."""

    def on_train_end(self, logs: Logs = None) -> None:
        """Called once when ``fit`` ends normally; ``logs`` are the last epoch's logs."""

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        """Called at the start of epoch ``epoch`` (0-based)."""

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        """Called at the end of an epoch; ``logs`` hold its metrics, ``val_``-prefixed ones too."""

    def on_train_batch_begin(self, batch: int, logs: Logs = None) -> None:
        """Called before training step ``batch`` (0-based within the epoch)."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: Logs = None) -> None:
        """Called after a training step; ``logs`` hold the epoch's running metrics so far."""
        self.on_batch_end(batch, logs=logs)

    # -- evaluate (and validation inside fit) -------------------------------------------------

    def on_test_begin(self, logs: Logs = None) -> None:
        """Called when ``evaluate`` (or fit's validation pass) starts."""

    def on_test_end(self, logs: Logs = None) -> None:
        """Called when ``evaluate`` ends; ``logs`` hold the final metrics."""

    def on_test_batch_begin(self, batch: int, logs: Logs = None) -> None:
        """Called before evaluation step ``batch``."""

    def on_test_batch_end(self, batch: int, logs: Logs = None) -> None:
        """Called after an evaluation step; ``logs`` hold the running metrics so far."""

    # -- predict ------------------------------------------------------------------------------

    def on_predict_begin(self, logs: Logs = None) -> None:
        """Called when ``predict`` starts."""

    def on_predict_end(self, logs: Logs = None) -> None:
        """Called when ``predict`` ends."""

    def on_predict_batch_begin(self, batch: int, logs: Logs = None) -> None:
        """Called before prediction step ``batch``."""

    def on_predict_batch_end(self, batch: int, logs: Logs = None) -> None:
        """Called after a prediction step; ``logs['outputs']`` holds the batch's outputs."""
