"""Keras-style progress bar.

The text matches Keras 3 (``1875/1875 ━━━━━━━━━━━━━━━━━━━━ 2s 1ms/step - loss: 0.5000``), but
the line is redrawn in place only on a terminal or in a notebook, and at most once per
``interval`` seconds. Anywhere else (a file, a pipe, a CI log) the bar prints one plain line
when it is finalized, with no carriage returns and no ANSI codes, so logs stay one line per
epoch instead of one per step.

``update`` runs once per training step: when no redraw is due it only folds the new values into
the running averages and returns, without formatting any text.
"""
from __future__ import annotations

import math
import os
import sys
import time
from typing import Any, Iterable, Optional, Sequence, Tuple

import numpy as np

__all__ = ["Progbar"]

# Looked up on every call (not bound at import) so tests can install a fake clock.
_clock = time.perf_counter

_BOLD = "\x1b[1m"
_GREEN = "\x1b[32m"
_WHITE = "\x1b[37m"
_RESET = "\x1b[0m"


def in_notebook() -> bool:
    """True inside a Jupyter/IPython kernel, whose output cell honours ``\\r`` and colours."""
    return "ipykernel" in sys.modules


def stdout_is_interactive() -> bool:
    """True when ``sys.stdout`` (as it is now) is a terminal or a notebook cell."""
    if in_notebook():
        return True
    stream = sys.stdout
    if stream is None:
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        # No isatty, or a closed stream: treat it as a plain file.
        return False


def write(text: str) -> None:
    """Write to whatever ``sys.stdout`` is at call time (pytest's capsys swaps it)."""
    stream = sys.stdout
    if stream is None:  # pythonw and some daemons run without a stdout
        return
    stream.write(text)
    try:
        stream.flush()
    except (AttributeError, ValueError, OSError):
        pass


def format_time_per_unit(time_per_unit: float, unit_name: str) -> str:
    """Keras's per-unit duration, with its leading space: `` 3ms/step``, `` 1s/step``."""
    if time_per_unit >= 1 or time_per_unit == 0:
        return f" {time_per_unit:.0f}s/{unit_name}"
    if time_per_unit >= 1e-3:
        return f" {time_per_unit * 1e3:.0f}ms/{unit_name}"
    return f" {time_per_unit * 1e6:.0f}us/{unit_name}"


def format_eta(eta: float) -> str:
    if eta > 3600:
        return "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
    if eta > 60:
        return "%d:%02d" % (eta // 60, eta % 60)
    return "%ds" % eta


class Progbar:
    """Displays a progress bar, Keras 3 style.

    Args:
        target: total number of steps expected, or None if unknown.
        width: width of the bar in characters.
        verbose: 0 (silent), 1 (bar), 2 (one summary line when finalized).
        interval: minimum number of seconds between two redraws on a terminal/notebook.
        stateful_metrics: names whose values are shown as given; every other metric is
            averaged over the steps seen (weighted by the number of steps per update).
        stateless_metrics: the opposite selection: only these are averaged, every other
            metric is shown as given. Give at most one of the two.
        unit_name: what a step is called in the rate (``ms/step``).
    """

    def __init__(
        self,
        target: Optional[int],
        width: int = 20,
        verbose: int = 1,
        interval: float = 0.05,
        stateful_metrics: Optional[Iterable[str]] = None,
        stateless_metrics: Optional[Iterable[str]] = None,
        unit_name: str = "step",
    ) -> None:
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError(
                "Progbar: give either `stateful_metrics` (shown as-is; the rest are averaged) "
                "or `stateless_metrics` (averaged; the rest are shown as-is), not both."
            )
        self.target = target
        self.width = int(width)
        self.verbose = verbose
        self.interval = float(interval)
        self.unit_name = unit_name
        if stateless_metrics is not None:
            self.stateful_metrics: Optional[set] = None
            self.stateless_metrics: Optional[set] = set(stateless_metrics)
        else:
            self.stateful_metrics = set(stateful_metrics or ())
            self.stateless_metrics = None

        # Decided once: a bar that starts in place must keep drawing in place.
        self._dynamic_display = stdout_is_interactive()
        self._color = self._dynamic_display and not os.environ.get("NO_COLOR")

        self._seen_so_far = 0
        # name -> [weighted sum, weight]; a plain dict keeps insertion order and is cheap.
        self._values: dict = {}
        self._values_order: list = []
        self._start = _clock()
        self._last_update = -math.inf
        self._time_after_first_step: Optional[float] = None
        self._prev_total_width = 0

    # -- public API -------------------------------------------------------------------------

    def update(
        self,
        current: int,
        values: Optional[Sequence[Tuple[str, Any]]] = None,
        finalize: Optional[bool] = None,
    ) -> None:
        """Record progress up to step ``current`` and redraw if one is due.

        Args:
            current: index of the current step (1-based count of steps done).
            values: ``(name, value_for_last_step)`` pairs.
            finalize: whether this is the last update; defaults to ``current >= target``.
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target

        if values:
            self._accumulate(current, values, finalize)
        self._seen_so_far = current

        now = _clock()
        # The first step includes warm-up (allocation, first-touch pages) and is left out of
        # the per-step estimate once later steps exist; remember when it ended.
        if current == 1:
            self._time_after_first_step = now

        if self.verbose == 1:
            if not finalize and (
                not self._dynamic_display or now - self._last_update < self.interval
            ):
                return
            self._draw_bar(current, now, finalize)
        elif self.verbose == 2:
            if finalize and self.target is not None and self.target > 0:
                self._print_summary_line(current, now)
        self._last_update = now

    def add(self, n: int, values: Optional[Sequence[Tuple[str, Any]]] = None) -> None:
        """Advance by ``n`` steps."""
        self.update(self._seen_so_far + n, values)

    # -- internals --------------------------------------------------------------------------

    def _accumulate(self, current: int, values: Sequence[Tuple[str, Any]], finalize: bool) -> None:
        store = self._values
        stateful = self.stateful_metrics
        stateless_set = self.stateless_metrics
        for k, v in values:
            entry = store.get(k)
            if entry is None:
                self._values_order.append(k)
            if stateful is not None:
                averaged = k not in stateful
            else:
                averaged = k in stateless_set
            if averaged and not finalize:
                # An update may cover several steps; weight by how many.
                weight = max(current - self._seen_so_far, 1)
                if entry is None:
                    store[k] = [v * weight, weight]
                else:
                    entry[0] += v * weight
                    entry[1] += weight
            else:
                # Finalized values are epoch results, already averaged: show them as given.
                store[k] = [v, 1]

    def _estimate_step_duration(self, current: int, now: float) -> float:
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            return (now - self._time_after_first_step) / (current - 1)
        return (now - self._start) / current

    def _mean(self, k: str) -> float:
        total, count = self._values[k]
        if not isinstance(total, float):
            total = float(np.mean(total))
        return total / max(1, count)

    def _style(self, text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if self._color else text

    def _draw_bar(self, current: int, now: float, finalize: bool) -> None:
        time_per_unit = self._estimate_step_duration(current, now)
        target = self.target
        # `plain` mirrors `styled` without escape codes, to measure the visible width.
        if target is not None and target > 0:
            numdigits = int(math.log10(target)) + 1
            count = f"%{numdigits}d/%d" % (current, target)
            done = min(max(int(self.width * (float(current) / target)), 0), self.width)
            done_bar = "━" * done
            todo_bar = "━" * (self.width - done)
            plain = f"{count} {done_bar}{todo_bar}"
            styled = f"{self._style(count, _BOLD)} "
            if done:
                styled += self._style(done_bar, _GREEN)
            styled += self._style(todo_bar, _WHITE)
        else:
            plain = styled = "%7d/Unknown" % current

        if target is not None and target > 0 and not finalize:
            clock = format_eta(time_per_unit * (target - current))
        else:
            clock = f"{now - self._start:.0f}s"
        info_plain = f" {clock}{format_time_per_unit(time_per_unit, self.unit_name)}"
        info_styled = f" {self._style(clock, _BOLD)}{format_time_per_unit(time_per_unit, self.unit_name)}"

        metrics = ""
        for k in self._values_order:
            avg = self._mean(k)
            metrics += f" - {k}: {avg:.4f}" if abs(avg) > 1e-3 else f" - {k}: {avg:.4e}"
        plain += info_plain + metrics
        styled += info_styled + metrics

        if self._dynamic_display:
            total_width = len(plain)
            # Blank out the tail of a longer previous line before ending this one.
            pad = " " * max(self._prev_total_width - total_width, 0)
            self._prev_total_width = total_width
            write("\r" + styled + pad + ("\n" if finalize else ""))
        else:
            write(plain + "\n")

    def _print_summary_line(self, current: int, now: float) -> None:
        time_per_unit = self._estimate_step_duration(current, now)
        numdigits = int(math.log10(self.target)) + 1
        line = f"%{numdigits}d/%d" % (current, self.target)
        line += f" - {now - self._start:.0f}s -{format_time_per_unit(time_per_unit, self.unit_name)}"
        for k in self._values_order:
            avg = self._mean(k)
            # Keras compares the signed value here (unlike verbose=1), so negative numbers
            # print in exponent form; kept for identical logs.
            line += f" - {k}: {avg:.4f}" if avg > 1e-3 else f" - {k}: {avg:.4e}"
        write(line + "\n")
