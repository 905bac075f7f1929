"""Fakes for the callback tests: a model with just what callbacks touch, and a loop that drives
a CallbackList the way ``Sequential.fit`` / ``evaluate`` / ``predict`` do (Keras 3 order)."""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import pytest

from annc.callbacks import CallbackList


class FakeOptimizer:
    def __init__(self, learning_rate: float = 0.01) -> None:
        self.learning_rate = learning_rate


class FakeModel:
    """``stop_training``, ``get_weights``/``set_weights`` (copies), ``optimizer``, ``history``."""

    def __init__(self, learning_rate: float = 0.01, metrics: Optional[list] = None) -> None:
        self.stop_training = False
        self.optimizer = FakeOptimizer(learning_rate)
        self.history = None
        self.weights_value = 0.0
        if metrics is not None:
            self.metrics = metrics

    def get_weights(self) -> List[np.ndarray]:
        return [np.full((2, 2), self.weights_value, np.float32)]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        self.weights_value = float(weights[0][0, 0])


EpochLogs = Union[Sequence[Dict[str, float]], Callable[[int], Dict[str, float]]]


def run_fit(
    model: FakeModel,
    callbacks: Any,
    epoch_logs: EpochLogs,
    epochs: Optional[int] = None,
    steps: Optional[int] = 3,
    verbose: Any = 0,
    val_steps: int = 0,
    step_logs: Optional[Callable[[int, int], Dict[str, float]]] = None,
    declare_steps: bool = True,
) -> CallbackList:
    """Drive callbacks like fit: weights are set to the epoch index during each epoch."""
    if epochs is None:
        epochs = len(epoch_logs)  # type: ignore[arg-type]
    cbs = CallbackList(
        callbacks,
        add_history=True,
        add_progbar=verbose != 0,
        verbose=verbose,
        epochs=epochs,
        steps=steps if declare_steps else None,
        model=model,
    )
    model.stop_training = False
    training_logs: Dict[str, float] = {}
    cbs.on_train_begin()
    for epoch in range(epochs):
        cbs.on_epoch_begin(epoch)
        model.weights_value = float(epoch)
        for step in range(steps or 0):
            cbs.on_train_batch_begin(step)
            logs = step_logs(epoch, step) if step_logs else {"loss": 1.0}
            cbs.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        logs = dict(epoch_logs(epoch) if callable(epoch_logs) else epoch_logs[epoch])
        if val_steps:
            cbs.on_test_begin()
            for step in range(val_steps):
                cbs.on_test_batch_begin(step)
                cbs.on_test_batch_end(step, {"loss": 2.0})
            cbs.on_test_end({"loss": 2.0})
            logs.update({"val_loss": 2.0})
        cbs.on_epoch_end(epoch, logs)
        training_logs = logs
        if model.stop_training:
            break
    cbs.on_train_end(training_logs)
    return cbs


def losses(*values: float) -> List[Dict[str, float]]:
    return [{"loss": v} for v in values]


@pytest.fixture
def model() -> FakeModel:
    return FakeModel()


@pytest.fixture
def fit() -> Callable[..., CallbackList]:
    return run_fit


@pytest.fixture
def as_losses() -> Callable[..., List[Dict[str, float]]]:
    return losses


@pytest.fixture
def make_model() -> Callable[..., FakeModel]:
    return FakeModel
