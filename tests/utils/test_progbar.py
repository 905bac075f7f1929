"""Progbar: Keras 3's text, in place only on a terminal/notebook, throttled, plain elsewhere."""
from __future__ import annotations

import io
import re
import sys
import types

import pytest

import annc.utils.progbar as progbar_module
from annc.utils.progbar import Progbar, format_eta, format_time_per_unit

BAR = "━" * 20
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


class FakeTTY(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list = []

    def isatty(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self.writes.append(s)
        return super().write(s)


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(progbar_module, "_clock", fake)
    return fake


@pytest.fixture(autouse=True)
def no_notebook(monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)


def install_tty(monkeypatch) -> FakeTTY:
    # Called inside the test body: pytest re-installs its own capture stream as sys.stdout
    # between fixture setup and the test call.
    stream = FakeTTY()
    monkeypatch.setattr(sys, "stdout", stream)
    return stream


def run_epoch(bar: Progbar, clock: FakeClock, steps: int, dt: float, values=None, finalize_values=None):
    for step in range(1, steps + 1):
        clock.advance(dt)
        bar.update(step, values, finalize=False)
    bar.update(steps, finalize_values if finalize_values is not None else values, finalize=True)


# -- non-terminal output ----------------------------------------------------------------------


def test_plain_stream_gets_one_line_at_finalize(clock, capsys):
    bar = Progbar(1875)
    values = [("accuracy", 0.8), ("loss", 0.5)]
    run_epoch(bar, clock, 1875, 0.00105, values)
    out = capsys.readouterr().out
    assert out == f"1875/1875 {BAR} 2s 1ms/step - accuracy: 0.8000 - loss: 0.5000\n"


def test_plain_output_has_no_control_characters(clock, capsys):
    bar = Progbar(100, interval=0.0)
    run_epoch(bar, clock, 100, 0.5, [("loss", 1.234)])
    out = capsys.readouterr().out
    assert "\r" not in out and "\x1b" not in out and "\b" not in out
    assert out.count("\n") == 1
    assert re.fullmatch(rf"100/100 {BAR} \d+s \d+(?:us|ms|s)/step - loss: 1\.2340\n", out)


def test_no_formatting_while_nothing_is_printed(clock, capsys, monkeypatch):
    bar = Progbar(500)
    draws = []
    original = Progbar._draw_bar
    monkeypatch.setattr(Progbar, "_draw_bar", lambda self, *a: (draws.append(a), original(self, *a)))
    run_epoch(bar, clock, 500, 0.01, [("loss", 0.1)])
    assert len(draws) == 1  # only the finalizing update formats text
    assert capsys.readouterr().out.count("\n") == 1


def test_verbose2_line(clock, capsys):
    bar = Progbar(1875, verbose=2)
    run_epoch(bar, clock, 1875, 0.00105, [("accuracy", 0.8), ("loss", 0.5)])
    assert capsys.readouterr().out == "1875/1875 - 2s - 1ms/step - accuracy: 0.8000 - loss: 0.5000\n"


def test_verbose0_is_silent(clock, capsys, monkeypatch):
    tty = install_tty(monkeypatch)
    run_epoch(Progbar(10, verbose=0), clock, 10, 0.1, [("loss", 1.0)])
    assert tty.getvalue() == ""


def test_count_is_padded_to_target_width(clock, capsys):
    bar = Progbar(1000)
    bar.update(7, [("loss", 2.0)], finalize=True)
    assert capsys.readouterr().out.startswith(f"   7/1000 {BAR} ")
    bar = Progbar(1000, verbose=2)
    bar.update(7, finalize=True)
    assert capsys.readouterr().out.startswith("   7/1000 - ")


def test_partial_bar_when_finalized_early(clock, capsys):
    bar = Progbar(10)
    clock.advance(1)
    bar.update(5, [("loss", 1.0)], finalize=True)
    out = capsys.readouterr().out
    assert out == " 5/10 " + BAR + " 1s 200ms/step - loss: 1.0000\n"


def test_unknown_target(clock, capsys):
    bar = Progbar(None)
    for step in range(1, 11):
        clock.advance(0.002)
        bar.update(step, [("loss", 0.5)])
    assert capsys.readouterr().out == ""  # never finalizes by itself
    bar.update(10, [("loss", 0.5)], finalize=True)
    assert re.fullmatch(r"     10/Unknown \d+s 2ms/step - loss: 0\.5000\n", capsys.readouterr().out)


# -- number formats ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seconds, text",
    [(0, " 0s/step"), (2.4, " 2s/step"), (1.0, " 1s/step"), (0.0123, " 12ms/step"),
     (0.001, " 1ms/step"), (0.000456, " 456us/step"), (3e-7, " 0us/step")],
)
def test_time_per_unit(seconds, text):
    assert format_time_per_unit(seconds, "step") == text


def test_time_per_unit_name():
    assert format_time_per_unit(0.5, "sample") == " 500ms/sample"


@pytest.mark.parametrize(
    "eta, text", [(0, "0s"), (59.9, "59s"), (61, "1:01"), (3599, "59:59"), (3661, "1:01:01")]
)
def test_eta(eta, text):
    assert format_eta(eta) == text


def test_metric_number_formats(clock, capsys):
    bar = Progbar(1)
    bar.update(1, [("big", 1234.56789), ("small", 0.0001234), ("neg", -0.5), ("zero", 0.0)])
    assert capsys.readouterr().out.endswith(
        " - big: 1234.5679 - small: 1.2340e-04 - neg: -0.5000 - zero: 0.0000e+00\n"
    )
    # verbose=2 compares the signed value, as Keras does
    bar = Progbar(1, verbose=2)
    bar.update(1, [("neg", -0.5), ("pos", 0.5)])
    assert capsys.readouterr().out.endswith(" - neg: -5.0000e-01 - pos: 0.5000\n")


def test_stateless_values_are_averaged_weighted_by_steps(clock, monkeypatch):
    tty = install_tty(monkeypatch)
    bar = Progbar(10, interval=0.0)
    bar.update(1, [("loss", 1.0)])
    bar.update(3, [("loss", 4.0)])  # covers 2 steps: (1*1 + 4*2) / 3 = 3
    assert ANSI.sub("", tty.writes[-1]).endswith("- loss: 3.0000")


def test_stateful_values_are_shown_as_given(clock, monkeypatch):
    tty = install_tty(monkeypatch)
    bar = Progbar(10, interval=0.0, stateful_metrics=["acc"])
    bar.update(1, [("acc", 0.2), ("loss", 1.0)])
    bar.update(2, [("acc", 0.6), ("loss", 3.0)])
    assert ANSI.sub("", tty.writes[-1]).endswith("- acc: 0.6000 - loss: 2.0000")
    bar = Progbar(10, interval=0.0, stateless_metrics=["loss"])
    bar.update(1, [("acc", 0.2), ("loss", 1.0)])
    bar.update(2, [("acc", 0.6), ("loss", 3.0)])
    assert ANSI.sub("", tty.writes[-1]).endswith("- acc: 0.6000 - loss: 2.0000")


def test_finalize_shows_final_values_as_given(clock, capsys):
    bar = Progbar(3)
    bar.update(1, [("loss", 10.0)])
    bar.update(2, [("loss", 20.0)])
    bar.update(3, [("loss", 0.25)], finalize=True)
    assert capsys.readouterr().out.endswith("- loss: 0.2500\n")


def test_both_metric_selections_is_an_error():
    with pytest.raises(ValueError, match="not both"):
        Progbar(10, stateful_metrics=["a"], stateless_metrics=["b"])


def test_add_advances(clock, capsys):
    bar = Progbar(4, verbose=2)
    bar.add(2)
    bar.add(2, [("loss", 1.0)])
    assert capsys.readouterr().out.startswith("4/4 - ")


# -- terminal / notebook ----------------------------------------------------------------------


def test_terminal_redraws_in_place_throttled(clock, monkeypatch):
    tty = install_tty(monkeypatch)
    bar = Progbar(1000, interval=0.05)
    run_epoch(bar, clock, 1000, 0.00105, [("loss", 0.5)])  # ~1 s of steps
    draws = tty.writes
    # First update draws, then at most one redraw per 50 ms, then the final one.
    assert 15 <= len(draws) <= 1 + 1.0 / 0.05 + 1
    assert all(w.startswith("\r") for w in draws)
    assert all(not w.endswith("\n") for w in draws[:-1]) and draws[-1].endswith("\n")
    final = ANSI.sub("", draws[-1])
    assert re.fullmatch(rf"\r1000/1000 {BAR} 1s 1ms/step - loss: 0\.5000\s*\n", final)
    assert "\x1b[" in draws[-1]  # colours on a terminal, like Keras


def test_terminal_throttle_respects_interval(clock, monkeypatch):
    tty = install_tty(monkeypatch)
    bar = Progbar(100, interval=1.0)
    for step in range(1, 100):
        clock.advance(0.01)
        bar.update(step)
    assert len(tty.writes) == 1  # 0.99 s: only the first update drew
    clock.advance(0.05)
    bar.update(99)
    assert len(tty.writes) == 2


def test_terminal_in_progress_line_shows_eta(clock, monkeypatch):
    tty = install_tty(monkeypatch)
    bar = Progbar(100, interval=0.0)
    clock.advance(0.5)
    bar.update(1)
    clock.advance(0.5)
    bar.update(2, [("loss", 0.5)])
    line = ANSI.sub("", tty.writes[-1])
    # 2/100: 2 of 20 bar cells done; ETA = 98 steps * 0.5 s = 49 s
    assert line == f"\r  2/100 {BAR} 49s 500ms/step - loss: 0.5000"


def test_shorter_line_blanks_the_rest_of_the_previous_one(clock, monkeypatch):
    tty = install_tty(monkeypatch)
    bar = Progbar(10, interval=0.0)
    bar.update(1, [("loss", 12345.678)])
    bar.update(2, [("loss", 0.5)])
    first, second = (ANSI.sub("", w) for w in tty.writes)
    assert len(second) == len(first)  # padded with spaces


def test_no_color_env(clock, monkeypatch):
    tty = install_tty(monkeypatch)
    monkeypatch.setenv("NO_COLOR", "1")
    bar = Progbar(5, interval=0.0)
    run_epoch(bar, clock, 5, 0.1)
    assert "\x1b" not in tty.getvalue() and "\r" in tty.getvalue()


def test_notebook_is_dynamic_even_without_a_tty(clock, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    bar = Progbar(50, interval=0.0)
    run_epoch(bar, clock, 50, 0.1, [("loss", 0.5)])
    out = capsys.readouterr().out
    assert out.count("\r") == 51


def test_stdout_looked_up_at_call_time(clock, monkeypatch):
    bar = Progbar(2)
    later = io.StringIO()
    monkeypatch.setattr(sys, "stdout", later)
    bar.update(2, [("loss", 1.0)])
    assert later.getvalue().startswith("2/2 ")


def test_missing_stdout_is_tolerated(clock, monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)
    bar = Progbar(2)
    bar.update(2, [("loss", 1.0)])
