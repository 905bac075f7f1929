"""EarlyStopping: Keras 3 semantics, plus annc's error for a monitor key that isn't logged."""
from __future__ import annotations

import math

import pytest

from annc.callbacks import EarlyStopping


def test_patience_zero_stops_at_first_non_improvement(model, fit, as_losses):
    es = EarlyStopping(monitor="loss")
    fit(model, [es], as_losses(1.0, 0.9, 0.95, 0.5, 0.4))
    assert model.history.epoch == [0, 1, 2]
    assert es.stopped_epoch == 2
    assert model.stop_training is True


def test_patience_counts_epochs_without_improvement(model, fit, as_losses):
    es = EarlyStopping(monitor="loss", patience=2)
    fit(model, [es], as_losses(1.0, 1.1, 0.9, 1.0, 1.0, 1.0, 0.1))
    # best 0.9 at epoch 2; epochs 3 and 4 don't improve -> stop after epoch 4
    assert model.history.epoch == [0, 1, 2, 3, 4]
    assert es.stopped_epoch == 4 and es.best == 0.9 and es.best_epoch == 2


def test_never_stops_while_improving(model, fit, as_losses):
    es = EarlyStopping(monitor="loss", patience=0)
    fit(model, [es], as_losses(5, 4, 3, 2, 1))
    assert model.history.epoch == [0, 1, 2, 3, 4]
    assert es.stopped_epoch == 0 and model.stop_training is False


def test_min_delta_ignores_small_improvements(model, fit, as_losses):
    es = EarlyStopping(monitor="loss", min_delta=0.1)
    fit(model, [es], as_losses(1.0, 0.95, 0.5))
    assert model.history.epoch == [0, 1]
    # the sign of min_delta does not matter
    es = EarlyStopping(monitor="loss", min_delta=-0.1)
    fit(model, [es], as_losses(1.0, 0.95, 0.5))
    assert model.history.epoch == [0, 1]
    es = EarlyStopping(monitor="loss", min_delta=0.01)
    fit(model, [es], as_losses(1.0, 0.95, 0.5))
    assert model.history.epoch == [0, 1, 2]


@pytest.mark.parametrize(
    "monitor, values, epochs_run",
    [
        ("val_accuracy", [0.5, 0.6, 0.55, 0.9], 3),  # auto -> max
        ("accuracy", [0.5, 0.6, 0.7, 0.9], 4),
        ("acc", [0.5, 0.4, 0.7], 2),
        ("sparse_categorical_accuracy", [0.5, 0.4, 0.7], 2),
        ("val_loss", [1.0, 0.9, 1.2, 0.1], 3),  # auto -> min
        ("mae", [1.0, 1.1, 0.5], 2),
        ("val_mean_squared_error", [1.0, 1.1, 0.5], 2),
        ("categorical_crossentropy", [1.0, 1.1, 0.5], 2),
    ],
)
def test_mode_auto_infers_direction(model, fit, monitor, values, epochs_run):
    es = EarlyStopping(monitor=monitor)
    fit(model, [es], [{"loss": 1.0, "val_loss": 1.0, monitor: v} for v in values])
    assert len(model.history.epoch) == epochs_run


def test_explicit_mode_overrides_name(model, fit):
    # accuracy watched with mode='min': a rise counts as getting worse
    es = EarlyStopping(monitor="accuracy", mode="min")
    fit(model, [es], [{"accuracy": a} for a in (0.5, 0.6, 0.7)])
    assert model.history.epoch == [0, 1]
    es = EarlyStopping(monitor="loss", mode="max")
    fit(model, [es], [{"loss": v} for v in (1.0, 2.0, 1.5)])
    assert model.history.epoch == [0, 1, 2]


def test_auto_mode_reads_metric_direction_from_model(make_model, fit):
    class Metric:
        def __init__(self, name, direction):
            self.name, self._direction = name, direction

    class Container:  # Keras-style compile-metrics wrapper
        metrics = [Metric("score", "up")]

    model = make_model(metrics=[Container()])
    es = EarlyStopping(monitor="val_score")
    fit(model, [es], [{"val_score": v} for v in (0.1, 0.5, 0.4, 0.9)])
    assert model.history.epoch == [0, 1, 2]


def test_auto_mode_unknown_metric_name_asks_for_mode(model, fit):
    es = EarlyStopping(monitor="widgets")
    with pytest.raises(ValueError, match="mode='max'"):
        fit(model, [es], [{"widgets": 1.0}])
    es = EarlyStopping(monitor="widgets", mode="max")
    fit(model, [es], [{"widgets": v} for v in (1.0, 0.5)])
    assert model.history.epoch == [0, 1]


def test_invalid_mode_is_an_error():
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max'"):
        EarlyStopping(mode="minimum")


def test_unknown_monitor_lists_available_keys(model, fit):
    es = EarlyStopping(monitor="val_loss")
    with pytest.raises(ValueError) as err:
        fit(model, [es], [{"accuracy": 0.5, "loss": 1.0}])
    message = str(err.value)
    assert "'val_loss'" in message
    assert "Available keys: accuracy, loss" in message
    assert "validation_data" in message  # explains where val_* keys come from

    es = EarlyStopping(monitor="accuracyy")
    with pytest.raises(ValueError, match=r"Available keys: accuracy, loss, val_loss\.$"):
        fit(model, [es], [{"accuracy": 0.5, "loss": 1.0, "val_loss": 2.0}])


def test_baseline_stops_when_not_beaten_even_while_improving(model, fit, as_losses):
    # Without a baseline patience restarts at every improvement ...
    es = EarlyStopping(monitor="loss", patience=2)
    fit(model, [es], as_losses(0.9, 0.8, 0.85, 0.7))
    assert model.history.epoch == [0, 1, 2, 3]
    # ... with one, improvements that don't beat it don't restart patience.
    es = EarlyStopping(monitor="loss", patience=2, baseline=0.5)
    fit(model, [es], as_losses(0.9, 0.8, 0.85, 0.7))
    assert model.history.epoch == [0, 1, 2]
    # beating the baseline restarts patience as usual
    es = EarlyStopping(monitor="loss", patience=2, baseline=0.5)
    fit(model, [es], as_losses(0.4, 0.45, 0.42, 0.3))
    assert model.history.epoch == [0, 1, 2]
    es = EarlyStopping(monitor="loss", patience=2, baseline=0.5)
    fit(model, [es], as_losses(0.4, 0.3, 0.45, 0.2))
    assert model.history.epoch == [0, 1, 2, 3]


def test_start_from_epoch_skips_warmup(model, fit, as_losses):
    es = EarlyStopping(monitor="loss")
    fit(model, [es], as_losses(1.0, 2.0, 3.0, 4.0))
    assert model.history.epoch == [0, 1]
    es = EarlyStopping(monitor="loss", start_from_epoch=2)
    fit(model, [es], as_losses(1.0, 2.0, 3.0, 4.0, 5.0))
    assert model.history.epoch == [0, 1, 2, 3]
    assert es.best == 3.0 and es.best_epoch == 2


def test_restore_best_weights_when_stopping(model, fit, as_losses, capsys):
    es = EarlyStopping(monitor="loss", patience=1, restore_best_weights=True, verbose=1)
    fit(model, [es], as_losses(1.0, 0.5, 0.7, 0.8, 0.1))
    assert model.history.epoch == [0, 1, 2]
    assert model.weights_value == 1.0  # the weights at the end of epoch 1
    out = capsys.readouterr().out
    assert "Epoch 3: early stopping" in out
    assert "Restoring model weights from the end of the best epoch: 2." in out


def test_restore_best_weights_when_training_runs_out(model, fit, as_losses, capsys):
    # The pitfall: restoring must happen at the end of training even without an early stop.
    es = EarlyStopping(monitor="loss", patience=10, restore_best_weights=True, verbose=1)
    fit(model, [es], as_losses(1.0, 0.5, 0.7, 0.9))
    assert model.history.epoch == [0, 1, 2, 3]
    assert es.stopped_epoch == 0
    assert model.weights_value == 1.0
    out = capsys.readouterr().out
    assert "early stopping" not in out
    assert "Restoring model weights from the end of the best epoch: 2." in out


def test_restore_best_weights_with_nothing_better_keeps_first_watched_epoch(model, fit, as_losses):
    es = EarlyStopping(monitor="loss", patience=5, restore_best_weights=True, start_from_epoch=1)
    fit(model, [es], as_losses(0.1, 2.0, 3.0, 4.0))
    assert model.weights_value == 1.0


def test_no_restore_without_flag(model, fit, as_losses):
    es = EarlyStopping(monitor="loss", patience=1)
    fit(model, [es], as_losses(1.0, 0.5, 0.7, 0.8))
    assert model.weights_value == 2.0  # left as the last epoch run (2) made them


def test_nan_counts_as_no_improvement(model, fit, as_losses):
    es = EarlyStopping(monitor="loss")
    fit(model, [es], as_losses(1.0, math.nan, 0.5))
    assert model.history.epoch == [0, 1]


def test_quiet_by_default(model, fit, as_losses, capsys):
    fit(model, [EarlyStopping(monitor="loss", restore_best_weights=True)], as_losses(1.0, 2.0))
    assert capsys.readouterr().out == ""


def test_reusable_across_fits(model, fit, as_losses):
    es = EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    fit(model, [es], as_losses(0.1, 0.2, 0.3))
    assert es.stopped_epoch == 1 and es.best == 0.1
    # A fresh run does not remember the old best of 0.1.
    fit(model, [es], as_losses(1.0, 0.9, 0.8))
    assert model.history.epoch == [0, 1, 2]
    assert es.stopped_epoch == 0 and es.best == 0.8
    assert model.weights_value == 2.0
