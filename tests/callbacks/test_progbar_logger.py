"""ProgbarLogger driven through CallbackList: what fit/evaluate/predict print (non-TTY)."""
from __future__ import annotations

import re

import pytest

import annc.utils.progbar as progbar_module
from annc.callbacks import CallbackList, ProgbarLogger

BAR = "━" * 20
TIME = r"\d+s \d+(?:us|ms|s)/step"


@pytest.fixture(autouse=True)
def fake_clock(monkeypatch):
    """1 ms per call to the clock, so timings are deterministic."""
    state = {"t": 100.0}

    def clock():
        state["t"] += 0.001
        return state["t"]

    monkeypatch.setattr(progbar_module, "_clock", clock)
    return state


def _plain(out: str) -> None:
    assert "\r" not in out and "\x1b" not in out and "\b" not in out


def test_fit_verbose1_one_line_per_epoch(model, fit, capsys):
    step_logs = lambda epoch, step: {"loss": 0.5, "accuracy": 0.8}
    logs = [{"accuracy": 0.8, "loss": 0.5}] * 3
    fit(model, None, logs, steps=1875, verbose=1, step_logs=step_logs)
    out = capsys.readouterr().out
    _plain(out)
    lines = out.splitlines()
    assert len(lines) == 6
    for i in range(3):
        assert lines[2 * i] == f"Epoch {i + 1}/3"
        assert re.fullmatch(
            rf"1875/1875 {BAR} {TIME} - accuracy: 0\.8000 - loss: 0\.5000", lines[2 * i + 1]
        ), lines[2 * i + 1]


def test_fit_verbose_auto_means_bar(model, fit, capsys):
    fit(model, None, [{"loss": 0.25}], steps=10, verbose="auto")
    out = capsys.readouterr().out
    assert re.fullmatch(rf"10/10 {BAR} {TIME} - loss: 0\.2500\n", out), out


def test_single_epoch_prints_no_epoch_header(model, fit, capsys):
    # Keras 3 prints "Epoch i/N" only when N > 1.
    fit(model, None, [{"loss": 0.5}], steps=5, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch" not in out and out.count("\n") == 1


def test_fit_verbose2_summary_lines(model, fit, capsys):
    logs = [{"accuracy": 0.8, "loss": 0.5}] * 2
    fit(model, None, logs, steps=1875, verbose=2)
    out = capsys.readouterr().out
    _plain(out)
    lines = out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    for line in (lines[1], lines[3]):
        assert re.fullmatch(
            r"1875/1875 - \d+s - \d+(?:us|ms|s)/step - accuracy: 0\.8000 - loss: 0\.5000", line
        ), line


def test_fit_verbose0_prints_nothing(model, fit, capsys):
    cbs = fit(model, [ProgbarLogger()], [{"loss": 0.5}] * 2, steps=4, verbose=0)
    assert capsys.readouterr().out == ""
    assert isinstance(cbs.callbacks[0], ProgbarLogger)


def test_validation_inside_fit_is_silent_and_val_keys_follow(model, fit, capsys):
    logs = [{"accuracy": 0.5, "loss": 1.0}] * 2
    fit(model, None, logs, steps=3, verbose=1, val_steps=2,
        step_logs=lambda e, s: {"accuracy": 0.5, "loss": 1.0})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert lines[1].endswith("- accuracy: 0.5000 - loss: 1.0000 - val_loss: 2.0000")


def test_exact_line_with_fake_clock(model, fit, capsys, fake_clock):
    # Progbar starts at epoch begin and the clock ticks 1 ms per reading: steps are 1 ms,
    # 1875 steps take ~1.9 s.
    fit(model, None, [{"accuracy": 0.8, "loss": 0.5}], steps=1875, verbose=1,
        step_logs=lambda e, s: {"accuracy": 0.8, "loss": 0.5})
    assert capsys.readouterr().out == f"1875/1875 {BAR} 2s 1ms/step - accuracy: 0.8000 - loss: 0.5000\n"


def test_unknown_steps_take_the_count_seen(model, fit, capsys):
    fit(model, None, [{"loss": 0.5}] * 2, steps=7, verbose=1, declare_steps=False)
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(rf"7/7 {BAR} {TIME} - loss: 0\.5000", lines[1]), lines[1]
    assert re.fullmatch(rf"7/7 {BAR} {TIME} - loss: 0\.5000", lines[3]), lines[3]


def test_evaluate_prints_bar_for_test_steps(model, capsys):
    cbs = CallbackList(None, add_progbar=True, verbose=1, epochs=1, steps=313, model=model)
    cbs.on_test_begin()
    for step in range(313):
        cbs.on_test_batch_begin(step)
        cbs.on_test_batch_end(step, {"accuracy": 0.87, "loss": 0.36})
    cbs.on_test_end({"accuracy": 0.8712, "loss": 0.3571})
    out = capsys.readouterr().out
    _plain(out)
    assert re.fullmatch(rf"313/313 {BAR} {TIME} - accuracy: 0\.8712 - loss: 0\.3571\n", out), out


def test_predict_prints_bar_without_outputs(model, capsys):
    cbs = CallbackList(None, add_progbar=True, verbose=1, epochs=1, steps=4, model=model)
    cbs.on_predict_begin()
    for step in range(4):
        cbs.on_predict_batch_begin(step)
        cbs.on_predict_batch_end(step, {"outputs": [[0.1, 0.9]]})
    cbs.on_predict_end()
    out = capsys.readouterr().out
    assert re.fullmatch(rf"4/4 {BAR} {TIME}\n", out), out


def test_logger_reused_for_evaluate_after_fit(model, fit, capsys):
    logger = ProgbarLogger()
    fit(model, [logger], [{"loss": 0.5}], steps=2, verbose=1)
    capsys.readouterr()
    cbs = CallbackList([logger], verbose=1, epochs=1, steps=2, model=model)
    cbs.on_test_begin()
    cbs.on_test_batch_end(0, {"loss": 1.0})
    cbs.on_test_batch_end(1, {"loss": 1.0})
    cbs.on_test_end({"loss": 1.0})
    assert capsys.readouterr().out.startswith("2/2 ")
