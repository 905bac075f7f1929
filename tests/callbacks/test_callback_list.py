"""CallbackList: construction, hook order, params/model propagation, History, Lambda, NaN."""
from __future__ import annotations

import math

import pytest

from annc.callbacks import (
    Callback,
    CallbackList,
    EarlyStopping,
    History,
    LambdaCallback,
    ProgbarLogger,
    TerminateOnNaN,
)

ALL_HOOKS = [
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
    "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
    "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
    "on_predict_batch_begin", "on_predict_batch_end",
]


class Recorder(Callback):
    """Records every hook call as (tag, hook, index-or-None)."""

    def __init__(self, tag: str, journal: list) -> None:
        super().__init__()
        self.tag = tag
        self.journal = journal

    def _rec(self, hook, index=None):
        self.journal.append((self.tag, hook, index))

    def on_train_begin(self, logs=None): self._rec("on_train_begin")
    def on_train_end(self, logs=None): self._rec("on_train_end")
    def on_epoch_begin(self, epoch, logs=None): self._rec("on_epoch_begin", epoch)
    def on_epoch_end(self, epoch, logs=None): self._rec("on_epoch_end", epoch)
    def on_train_batch_begin(self, batch, logs=None): self._rec("on_train_batch_begin", batch)
    def on_train_batch_end(self, batch, logs=None): self._rec("on_train_batch_end", batch)
    def on_test_begin(self, logs=None): self._rec("on_test_begin")
    def on_test_end(self, logs=None): self._rec("on_test_end")
    def on_test_batch_begin(self, batch, logs=None): self._rec("on_test_batch_begin", batch)
    def on_test_batch_end(self, batch, logs=None): self._rec("on_test_batch_end", batch)
    def on_predict_begin(self, logs=None): self._rec("on_predict_begin")
    def on_predict_end(self, logs=None): self._rec("on_predict_end")
    def on_predict_batch_begin(self, batch, logs=None): self._rec("on_predict_batch_begin", batch)
    def on_predict_batch_end(self, batch, logs=None): self._rec("on_predict_batch_end", batch)


def test_base_callback_has_every_hook_as_noop():
    cb = Callback()
    assert cb.model is None and cb.params is None
    for hook in ALL_HOOKS + ["on_batch_begin", "on_batch_end"]:
        fn = getattr(cb, hook)
        if "batch" in hook or "epoch" in hook:
            assert fn(0, logs={}) is None
        else:
            assert fn(logs={}) is None
    cb.set_model("m")
    cb.set_params({"epochs": 2})
    assert cb.model == "m" and cb.params == {"epochs": 2}


def test_hook_order_through_fit(model, fit):
    journal: list = []
    a, b = Recorder("a", journal), Recorder("b", journal)
    fit(model, [a, b], [{"loss": 1.0}, {"loss": 0.5}], steps=2, val_steps=1)
    # Every hook reaches a, then b.
    assert [t for t, _, _ in journal] == ["a", "b"] * (len(journal) // 2)
    sequence = [(h, i) for t, h, i in journal if t == "a"]
    epoch = lambda e: [
        ("on_epoch_begin", e),
        ("on_train_batch_begin", 0), ("on_train_batch_end", 0),
        ("on_train_batch_begin", 1), ("on_train_batch_end", 1),
        ("on_test_begin", None), ("on_test_batch_begin", 0), ("on_test_batch_end", 0),
        ("on_test_end", None),
        ("on_epoch_end", e),
    ]
    assert sequence == [("on_train_begin", None)] + epoch(0) + epoch(1) + [("on_train_end", None)]


def test_evaluate_and_predict_hooks_forwarded_in_order():
    journal: list = []
    cbs = CallbackList([Recorder("a", journal), Recorder("b", journal)], verbose=0, epochs=1, steps=1)
    cbs.on_test_begin()
    cbs.on_test_batch_begin(0)
    cbs.on_test_batch_end(0, {"loss": 1})
    cbs.on_test_end({"loss": 1})
    cbs.on_predict_begin()
    cbs.on_predict_batch_begin(0)
    cbs.on_predict_batch_end(0, {"outputs": [1, 2]})
    cbs.on_predict_end()
    hooks = [h for t, h, _ in journal if t == "a"]
    assert hooks == [
        "on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_end",
        "on_predict_begin", "on_predict_batch_begin", "on_predict_batch_end", "on_predict_end",
    ]
    assert [t for t, _, _ in journal] == ["a", "b"] * 8


def test_defaults_added_after_user_callbacks_and_not_duplicated(model):
    user = Recorder("u", [])
    cbs = CallbackList([user], add_history=True, add_progbar=True, model=model,
                       verbose=1, epochs=2, steps=5)
    assert cbs.callbacks[0] is user
    assert isinstance(cbs.callbacks[1], History) and isinstance(cbs.callbacks[2], ProgbarLogger)
    assert model.history is cbs.callbacks[1]

    own_history, own_bar = History(), ProgbarLogger()
    cbs = CallbackList([own_bar, own_history], add_history=True, add_progbar=True, model=model)
    assert cbs.callbacks == [own_bar, own_history]
    assert model.history is own_history

    assert CallbackList().callbacks == []
    assert CallbackList(add_history=False, add_progbar=False).callbacks == []


def test_params_and_model_reach_every_callback(model):
    a, b = Callback(), Callback()
    cbs = CallbackList([a, [b]], model=model, verbose=2, epochs=4, steps=10)
    assert cbs.callbacks == [a, b]  # nested lists are flattened
    for cb in (a, b):
        assert cb.model is model
        assert cb.params == {"verbose": 2, "epochs": 4, "steps": 10}
    assert cbs.params == {"verbose": 2, "epochs": 4, "steps": 10}
    assert len(cbs) == 2 and list(cbs) == [a, b]


def test_single_callback_and_append(model):
    a = Callback()
    cbs = CallbackList(a, model=model, verbose=0, epochs=1, steps=1)
    assert cbs.callbacks == [a]
    journal: list = []
    late = Recorder("late", journal)
    cbs.append(late)
    assert late.model is model and late.params["epochs"] == 1
    cbs.on_train_batch_end(0, {"loss": 1.0})
    assert journal == [("late", "on_train_batch_end", 0)]


def test_passing_a_class_or_junk_is_a_clear_error():
    with pytest.raises(TypeError, match=r"EarlyStopping\(\.\.\.\)"):
        CallbackList([EarlyStopping])
    with pytest.raises(TypeError, match="Callback instances"):
        CallbackList(["not a callback"])


def test_batch_logs_are_sorted_python_floats():
    import numpy as np

    seen = []
    cb = LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(logs))
    cbs = CallbackList([cb])
    cbs.on_train_batch_end(0, {"loss": np.float32(0.5), "accuracy": np.float64(0.25)})
    cbs.on_train_batch_end(1, {"loss": 1, "nested": {"mae": np.float32(2.0)}, "tag": "x"})
    assert list(seen[0]) == ["accuracy", "loss"]
    assert all(type(v) is float for v in seen[0].values())
    assert seen[1] == {"loss": 1.0, "mae": 2.0, "tag": "x"}


def test_epoch_end_logs_are_shared_so_later_callbacks_see_additions(model, fit):
    adder = LambdaCallback(on_epoch_end=lambda epoch, logs: logs.__setitem__("extra", epoch * 10))
    cbs = fit(model, [adder], [{"loss": 1.0}, {"loss": 0.5}])
    assert model.history.history == {"loss": [1.0, 0.5], "extra": [0, 10]}
    assert isinstance(cbs.callbacks[-1], History)


def test_history_contents(model, fit):
    logs = [
        {"accuracy": 0.5, "loss": 1.0, "val_accuracy": 0.4, "val_loss": 1.2},
        {"accuracy": 0.7, "loss": 0.6, "val_accuracy": 0.6, "val_loss": 0.9},
        {"accuracy": 0.8, "loss": 0.4, "val_accuracy": 0.7, "val_loss": 0.8},
    ]
    fit(model, None, logs)
    history = model.history
    assert isinstance(history, History)
    assert history.epoch == [0, 1, 2]
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.history["loss"] == [1.0, 0.6, 0.4]
    assert history.history["val_accuracy"] == [0.4, 0.6, 0.7]
    assert history.model is model


def test_history_stops_with_training(model, fit):
    stopper = LambdaCallback(
        on_epoch_end=lambda epoch, logs: setattr(model, "stop_training", epoch == 1)
    )
    fit(model, [stopper], [{"loss": 1.0}] * 5)
    assert model.history.epoch == [0, 1]
    assert model.history.history == {"loss": [1.0, 1.0]}


def test_keras2_batch_aliases_are_called():
    calls = []

    class Old(Callback):
        def on_batch_begin(self, batch, logs=None):
            calls.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            calls.append(("end", batch, logs["loss"]))

    cbs = CallbackList([Old()])
    cbs.on_train_batch_begin(3)
    cbs.on_train_batch_end(3, {"loss": 2})
    # Test and predict steps do not go to the training aliases.
    cbs.on_test_batch_end(0, {"loss": 1})
    cbs.on_predict_batch_end(0, {"outputs": None})
    assert calls == [("begin", 3), ("end", 3, 2.0)]


def test_lambda_callback_hooks_and_arguments():
    calls = []
    cb = LambdaCallback(
        on_epoch_begin=lambda epoch, logs: calls.append(("eb", epoch)),
        on_epoch_end=lambda epoch, logs: calls.append(("ee", epoch, dict(logs))),
        on_train_begin=lambda logs: calls.append(("tb",)),
        on_train_end=lambda logs: calls.append(("te", dict(logs))),
        on_train_batch_begin=lambda batch, logs: calls.append(("bb", batch)),
        on_train_batch_end=lambda batch, logs: calls.append(("be", batch)),
        on_test_end=lambda logs: calls.append(("test_end",)),
        on_batch_end=lambda batch, logs: calls.append(("k2", batch)),
    )
    cbs = CallbackList([cb])
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    cbs.on_train_batch_begin(0)
    cbs.on_train_batch_end(0, {"loss": 1})
    cbs.on_test_end({"loss": 2})
    cbs.on_epoch_end(0, {"loss": 1})
    cbs.on_train_end({"loss": 1})
    assert calls == [
        ("tb",), ("eb", 0), ("bb", 0), ("be", 0), ("test_end",),
        ("ee", 0, {"loss": 1}), ("te", {"loss": 1}),
    ]


def test_lambda_callback_keras2_on_batch_end_runs_on_train_steps():
    calls = []
    cbs = CallbackList([LambdaCallback(on_batch_end=lambda batch, logs: calls.append(batch))])
    cbs.on_train_batch_end(7, {"loss": 1})
    assert calls == [7]


def test_lambda_callback_rejects_unknown_hooks():
    with pytest.raises(TypeError, match="on_epoch_ends"):
        LambdaCallback(on_epoch_ends=lambda e, l: None)
    with pytest.raises(TypeError, match="callable"):
        LambdaCallback(on_epoch_end=3)


def test_batch_hooks_skip_callbacks_that_do_not_override_them(model):
    class OnlyEpoch(Callback):
        def on_epoch_end(self, epoch, logs=None):
            pass

    cbs = CallbackList([OnlyEpoch(), History()], model=model)
    assert not cbs.has_batch_hooks("train")
    assert not cbs.has_batch_hooks("test")
    cbs.on_train_batch_end(0, {"loss": 1})  # nothing to call, no error
    cbs = CallbackList([TerminateOnNaN()], model=model)
    assert cbs.has_batch_hooks("train") and not cbs.has_batch_hooks("predict")


def test_hooks_attached_after_construction_are_picked_up_at_train_begin():
    calls = []
    cb = Callback()
    cbs = CallbackList([cb])
    cb.on_train_batch_end = lambda batch, logs=None: calls.append(batch)
    cbs.on_train_begin()
    cbs.on_train_batch_end(4, {})
    assert calls == [4]


def test_terminate_on_nan_stops_training(model, fit, capsys):
    step_logs = lambda epoch, step: {"loss": math.nan if (epoch, step) == (1, 1) else 1.0}
    fit(model, [TerminateOnNaN()], [{"loss": 1.0}] * 4, steps=3, step_logs=step_logs)
    assert model.history.epoch == [0, 1]
    assert "Batch 1: Invalid loss, terminating training" in capsys.readouterr().out


def test_terminate_on_nan_inf_and_raise_error(model):
    cbs = CallbackList([TerminateOnNaN(raise_error=True)], model=model)
    cbs.on_train_batch_end(0, {"loss": 1.0})
    with pytest.raises(RuntimeError, match="batch 2"):
        cbs.on_train_batch_end(2, {"loss": math.inf})
    assert model.stop_training is False
    quiet = CallbackList([TerminateOnNaN()], model=model)
    quiet.on_train_batch_end(0, {"accuracy": math.nan})  # only the loss is watched
    assert model.stop_training is False


def test_fit_hands_on_train_end_the_last_epochs_logs_with_validation():
    # Keras's trainer passes on_train_end the last epoch's logs as fit formed them (val_*
    # included; not what callbacks added to their copy in on_epoch_end); {} when no epoch ran
    import numpy as np

    import annc as keras

    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 6)).astype(np.float32)
    y = rng.integers(0, 3, 50)
    seen = {}

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["tag"] = epoch

        def on_train_batch_end(self, batch, logs=None):
            seen.setdefault("batches", []).append(batch)

        def on_train_end(self, logs=None):
            seen["end"] = logs

    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=20, epochs=2, verbose=0, validation_split=0.2,
                        callbacks=[Recorder()])
    assert sorted(seen["end"]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert seen["end"]["val_loss"] == history.history["val_loss"][-1]
    assert seen["batches"] == [0, 1, 0, 1]  # 40 training rows in batches of 20, per epoch
    model.fit(x, y, epochs=0, verbose=0, callbacks=[Recorder()])
    assert seen["end"] == {}


def test_evaluate_calls_every_batchs_test_hooks_when_a_callback_wants_them():
    # as Keras: one on_test_batch_begin/end per batch, the running loss and metrics so far,
    # for evaluate() and fit's validation; the final figures those of the whole data
    import numpy as np

    import annc as keras

    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, 6)).astype(np.float32)
    y = rng.integers(0, 3, 50)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    calls = []

    class Batches(keras.callbacks.Callback):
        def on_test_batch_end(self, batch, logs=None):
            calls.append((batch, logs["loss"]))

    whole = model.evaluate(x, y, batch_size=50, verbose=0)
    result = model.evaluate(x, y, batch_size=20, verbose=0, callbacks=[Batches()])
    assert [b for b, _ in calls] == [0, 1, 2]
    first = model.evaluate(x[:20], y[:20], verbose=0)[0]
    assert calls[0][1] == pytest.approx(first, rel=1e-12)  # the first batch's alone
    assert calls[-1][1] == pytest.approx(whole[0], rel=1e-12)
    assert result == pytest.approx(whole, rel=1e-12)
    calls.clear()
    model.fit(x, y, batch_size=20, epochs=1, verbose=0, validation_split=0.2,
              callbacks=[Batches()])
    assert [b for b, _ in calls] == [0]  # ten validation rows: one batch of 20
    calls.clear()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, validation_split=0.2,
              callbacks=[Batches()])
    assert [b for b, _ in calls] == [0, 1, 2]  # ten rows in batches of 4
