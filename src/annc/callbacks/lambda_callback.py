"""``LambdaCallback``: a callback made of plain functions."""
from __future__ import annotations

from typing import Any, Callable, Optional

from .callback import Callback

__all__ = ["LambdaCallback"]

_HOOKS = sorted(name for name in vars(Callback) if name.startswith("on_"))


class LambdaCallback(Callback):
    """Builds a callback from functions, one per hook.

    ``on_epoch_begin``/``on_epoch_end`` are called as ``f(epoch, logs)``;
    ``on_train_begin``/``on_train_end`` as ``f(logs)``; batch hooks as ``f(batch, logs=logs)``.
    Any other hook (``on_test_end=...``, Keras 2's ``on_batch_end=...``) can be given by name.
    """

    def __init__(
        self,
        on_epoch_begin: Optional[Callable[..., Any]] = None,
        on_epoch_end: Optional[Callable[..., Any]] = None,
        on_train_begin: Optional[Callable[..., Any]] = None,
        on_train_end: Optional[Callable[..., Any]] = None,
        on_train_batch_begin: Optional[Callable[..., Any]] = None,
        on_train_batch_end: Optional[Callable[..., Any]] = None,
        **kwargs: Callable[..., Any],
    ) -> None:
        super().__init__()
        unknown = [k for k in kwargs if k not in _HOOKS]
        if unknown:
            raise TypeError(
                f"LambdaCallback got unknown hook name(s) {', '.join(unknown)}; "
                f"valid hooks: {', '.join(_HOOKS)}."
            )
        hooks = dict(
            on_epoch_begin=on_epoch_begin,
            on_epoch_end=on_epoch_end,
            on_train_begin=on_train_begin,
            on_train_end=on_train_end,
            on_train_batch_begin=on_train_batch_begin,
            on_train_batch_end=on_train_batch_end,
            **kwargs,
        )
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(f"LambdaCallback: {name} must be callable; got {fn!r}.")
            # Instance attributes shadow the base class's no-op methods.
            setattr(self, name, fn)
