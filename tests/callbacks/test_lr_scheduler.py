"""LearningRateScheduler: schedule(epoch, lr) sets a float learning rate before each epoch."""
from __future__ import annotations

import numpy as np
import pytest

from annc.callbacks import CallbackList, LambdaCallback, LearningRateScheduler


def test_sets_float_learning_rate_each_epoch(make_model, fit):
    model = make_model(learning_rate=0.1)
    seen = []
    calls = []

    def schedule(epoch, lr):
        calls.append((epoch, lr))
        return lr * 0.5 if epoch > 0 else lr

    spy = LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(model.optimizer.learning_rate))
    fit(model, [LearningRateScheduler(schedule), spy], [{"loss": 1.0}] * 3)
    assert calls == [(0, 0.1), (1, 0.1), (2, 0.05)]
    assert seen == [0.1, 0.05, 0.025]
    assert all(type(lr) is float for lr in seen)
    assert model.history.history["learning_rate"] == [0.1, 0.05, 0.025]


def test_learning_rate_logged_before_history_and_progbar(make_model, fit, capsys):
    model = make_model(learning_rate=0.01)
    fit(model, [LearningRateScheduler(lambda e, lr: 0.002)], [{"loss": 1.0}], verbose=2, steps=4)
    out = capsys.readouterr().out
    assert out.rstrip("\n").endswith("- loss: 1.0000 - learning_rate: 0.0020")
    assert model.history.history == {"loss": [1.0], "learning_rate": [0.002]}


def test_old_style_one_argument_schedule(make_model, fit):
    model = make_model(learning_rate=1.0)
    fit(model, [LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))], [{"loss": 1.0}] * 2)
    assert model.optimizer.learning_rate == pytest.approx(0.05)


def test_numpy_and_int_results_become_floats(make_model, fit):
    model = make_model()
    fit(model, [LearningRateScheduler(lambda e, lr: np.float32(0.25))], [{"loss": 1.0}])
    assert type(model.optimizer.learning_rate) is float and model.optimizer.learning_rate == 0.25
    fit(model, [LearningRateScheduler(lambda e, lr: 1)], [{"loss": 1.0}])
    assert type(model.optimizer.learning_rate) is float and model.optimizer.learning_rate == 1.0


def test_non_numeric_schedule_output_is_an_error(model, fit):
    with pytest.raises(ValueError, match="should be a float"):
        fit(model, [LearningRateScheduler(lambda e, lr: "fast")], [{"loss": 1.0}])


def test_verbose_prints_the_new_rate(model, fit, capsys):
    fit(model, [LearningRateScheduler(lambda e, lr: 0.5, verbose=1)], [{"loss": 1.0}])
    assert "Epoch 1: LearningRateScheduler setting learning rate to 0.5." in capsys.readouterr().out


def test_needs_an_optimizer_with_a_learning_rate(model):
    model.optimizer = None
    cbs = CallbackList([LearningRateScheduler(lambda e, lr: lr)], model=model)
    with pytest.raises(ValueError, match="compile"):
        cbs.on_epoch_begin(0)


def test_schedule_object_learning_rate_is_a_clear_error(model):
    class Schedule:
        def __call__(self, step):
            return 0.1

    model.optimizer.learning_rate = Schedule()
    cbs = CallbackList([LearningRateScheduler(lambda e, lr: lr)], model=model)
    with pytest.raises(TypeError, match="float learning_rate"):
        cbs.on_epoch_begin(0)


def test_schedule_must_be_callable():
    with pytest.raises(TypeError, match="schedule must be a function"):
        LearningRateScheduler(0.1)
