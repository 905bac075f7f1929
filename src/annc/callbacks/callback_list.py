"""``CallbackList``: forwards each hook to every callback, in list order."""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional

from .callback import Callback, Logs
from .history import History
from .progbar_logger import ProgbarLogger

__all__ = ["CallbackList"]

# Per-step hooks, with the Keras 2 alias that the base class forwards each to.
_BATCH_HOOKS = {
    "on_train_batch_begin": "on_batch_begin",
    "on_train_batch_end": "on_batch_end",
    "on_test_batch_begin": None,
    "on_test_batch_end": None,
    "on_predict_batch_begin": None,
    "on_predict_batch_end": None,
    "on_batch_begin": None,
    "on_batch_end": None,
}


def _flatten(callbacks: Any) -> List[Any]:
    if callbacks is None:
        return []
    if isinstance(callbacks, CallbackList):
        return list(callbacks.callbacks)
    if isinstance(callbacks, (list, tuple)):
        out: List[Any] = []
        for item in callbacks:
            out.extend(_flatten(item))
        return out
    return [callbacks]


def _check(callback: Any) -> None:
    if isinstance(callback, type):
        raise TypeError(
            f"callbacks must hold callback instances, but got the class {callback.__name__}; "
            f"write {callback.__name__}(...) instead."
        )
    if not callable(getattr(callback, "set_model", None)):
        raise TypeError(
            "callbacks must be keras.callbacks.Callback instances (or objects with the same "
            f"hooks); got {type(callback).__name__}: {callback!r}."
        )


def _overrides(callback: Any, hook: str) -> bool:
    """Whether calling ``hook`` on ``callback`` can do anything (base-class hooks do nothing)."""
    if not hasattr(callback, hook):
        return False
    names = (hook,) + ((_BATCH_HOOKS[hook],) if _BATCH_HOOKS.get(hook) else ())
    for name in names:
        if name in getattr(callback, "__dict__", {}):  # e.g. LambdaCallback's functions
            return True
        if getattr(type(callback), name, None) is not getattr(Callback, name):
            return True
    return False


def _pythonify_logs(logs: Logs) -> Dict[str, Any]:
    """Sorted, flattened copy with numeric values as Python floats, as Keras 3 hands them on."""
    if not logs:
        return {}
    try:
        # Runs every step: the common case (flat, all numbers) in one comprehension.
        return {key: float(logs[key]) for key in sorted(logs)}
    except (TypeError, ValueError):
        pass
    result: Dict[str, Any] = {}
    for key, value in sorted(logs.items()):
        if isinstance(value, dict):
            result.update(_pythonify_logs(value))
        else:
            try:
                value = float(value)
            except (TypeError, ValueError):
                pass
            result[key] = value
    return result


class CallbackList(Callback):
    """A list of callbacks driven as one.

    Args:
        callbacks: a callback, or a (possibly nested) list of them.
        add_history: append a ``History`` unless the list already has one.
        add_progbar: append a ``ProgbarLogger`` unless the list already has one.
        model: the model; handed to every callback (and ``model.history`` set to the History).
        **params: run settings handed to every callback via ``set_params``
            (``verbose``, ``epochs``, ``steps``).

    Hooks run in list order: the user's callbacks first, then History, then ProgbarLogger,
    so the History records and the progress line shows what earlier callbacks added to
    ``logs`` (e.g. ``learning_rate``). Per-step hooks skip callbacks that don't override them,
    keeping the per-step cost low.
    """

    def __init__(
        self,
        callbacks: Any = None,
        add_history: bool = False,
        add_progbar: bool = False,
        model: Any = None,
        **params: Any,
    ) -> None:
        super().__init__()
        self.callbacks: List[Any] = _flatten(callbacks)
        for cb in self.callbacks:
            _check(cb)
        self._history: Optional[History] = None
        self._progbar: Optional[ProgbarLogger] = None
        self._add_default_callbacks(add_history, add_progbar)
        self._refresh_dispatch()
        self.set_model(model)
        self.set_params(params)

    # -- list management ----------------------------------------------------------------------

    def _add_default_callbacks(self, add_history: bool, add_progbar: bool) -> None:
        for cb in self.callbacks:
            if isinstance(cb, ProgbarLogger):
                self._progbar = cb
            elif isinstance(cb, History):
                self._history = cb
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)

    def _refresh_dispatch(self) -> None:
        self._batch_targets = {
            hook: [getattr(cb, hook) for cb in self.callbacks if _overrides(cb, hook)]
            for hook in _BATCH_HOOKS
        }

    def append(self, callback: Any) -> None:
        _check(callback)
        self.callbacks.append(callback)
        if isinstance(callback, History) and self._history is None:
            self._history = callback
        if isinstance(callback, ProgbarLogger) and self._progbar is None:
            self._progbar = callback
        if self.model is not None:
            callback.set_model(self.model)
            if callback is self._history:
                self.model.history = callback
        if self.params:
            callback.set_params(self.params)
        self._refresh_dispatch()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def set_params(self, params: Dict[str, Any]) -> None:
        self.params = params
        if params:
            for cb in self.callbacks:
                cb.set_params(params)

    def set_model(self, model: Any) -> None:
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for cb in self.callbacks:
            cb.set_model(model)

    # -- once-per-run hooks -------------------------------------------------------------------

    def on_train_begin(self, logs: Logs = None) -> None:
        # Users may attach hooks to a callback between runs; re-read which ones are live.
        self._refresh_dispatch()
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs: Logs = None) -> None:
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        # One dict for all: a callback may add keys (learning_rate) for those after it.
        logs = logs if logs is not None else {}
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_test_begin(self, logs: Logs = None) -> None:
        self._refresh_dispatch()
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_test_begin(logs)

    def on_test_end(self, logs: Logs = None) -> None:
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_test_end(logs)

    def on_predict_begin(self, logs: Logs = None) -> None:
        self._refresh_dispatch()
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_predict_begin(logs)

    def on_predict_end(self, logs: Logs = None) -> None:
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_predict_end(logs)

    # -- per-step hooks -----------------------------------------------------------------------

    def on_train_batch_begin(self, batch: int, logs: Logs = None) -> None:
        targets = self._batch_targets["on_train_batch_begin"]
        if targets:
            logs = logs or {}
            for hook in targets:
                hook(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: Logs = None) -> None:
        targets = self._batch_targets["on_train_batch_end"]
        if targets:
            logs = _pythonify_logs(logs)
            for hook in targets:
                hook(batch, logs=logs)

    def on_test_batch_begin(self, batch: int, logs: Logs = None) -> None:
        targets = self._batch_targets["on_test_batch_begin"]
        if targets:
            logs = logs or {}
            for hook in targets:
                hook(batch, logs=logs)

    def on_test_batch_end(self, batch: int, logs: Logs = None) -> None:
        targets = self._batch_targets["on_test_batch_end"]
        if targets:
            logs = _pythonify_logs(logs)
            for hook in targets:
                hook(batch, logs=logs)

    def on_predict_batch_begin(self, batch: int, logs: Logs = None) -> None:
        targets = self._batch_targets["on_predict_batch_begin"]
        if targets:
            logs = logs or {}
            for hook in targets:
                hook(batch, logs=logs)

    def on_predict_batch_end(self, batch: int, logs: Logs = None) -> None:
        # Outputs are arrays: passed on untouched.
        targets = self._batch_targets["on_predict_batch_end"]
        if targets:
            logs = logs or {}
            for hook in targets:
                hook(batch, logs=logs)

    def on_batch_begin(self, batch: int, logs: Logs = None) -> None:
        targets = self._batch_targets["on_batch_begin"]
        if targets:
            logs = logs or {}
            for hook in targets:
                hook(batch, logs=logs)

    def on_batch_end(self, batch: int, logs: Logs = None) -> None:
        targets = self._batch_targets["on_batch_end"]
        if targets:
            logs = _pythonify_logs(logs)
            for hook in targets:
                hook(batch, logs=logs)

    def has_batch_hooks(self, mode: str = "train") -> bool:
        """Whether any callback listens to per-step hooks of ``mode`` (train/test/predict).

        Lets a loop skip building per-step logs when nobody reads them.
        """
        return bool(
            self._batch_targets[f"on_{mode}_batch_begin"] or self._batch_targets[f"on_{mode}_batch_end"]
        )
