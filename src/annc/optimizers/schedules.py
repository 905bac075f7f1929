"""Learning-rate schedules with Keras 3's names, arguments and formulas
(keras.optimizers.schedules).

A schedule maps the optimizer's step count (``optimizer.iterations``, the number of updates
already applied) to a learning rate. annc evaluates schedules in Python once per step, in double
precision, and hands the value to the C update as a float.
"""
from __future__ import annotations

import bisect
import math
from typing import Any, Sequence

from .._serialization import class_and_config, serialize_object

__all__ = [
    "LearningRateSchedule",
    "ExponentialDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "InverseTimeDecay",
    "CosineDecay",
    "CosineDecayRestarts",
    "serialize",
    "deserialize",
]


def _check_decay_steps(value: float, arg: str = "decay_steps") -> None:
    if value <= 0:
        raise ValueError(f"Argument `{arg}` must be > 0. Received: {arg}={value}")


class LearningRateSchedule:
    """Base class: subclasses implement ``__call__(step) -> float`` and ``get_config()``."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError(
            f"Learning rate schedule '{self.__class__.__name__}' "
            "must override `__call__(self, step)`."
        )

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(
            f"Learning rate schedule '{self.__class__.__name__}' "
            "must override `get_config()` in order to be serializable."
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "LearningRateSchedule":
        return cls(**config)

    def __repr__(self) -> str:
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            args = ""
        return f"{self.__class__.__name__}({args})"


class _RateDecay(LearningRateSchedule):
    """What ExponentialDecay and InverseTimeDecay share: their arguments, config and the
    progress ``step / decay_steps`` (floored with ``staircase``)."""

    def __init__(self, initial_learning_rate: float, decay_steps: float, decay_rate: float,
                 staircase: bool, name: str) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name
        _check_decay_steps(decay_steps)

    def _progress(self, step: int) -> float:
        p = float(step) / float(self.decay_steps)
        return math.floor(p) if self.staircase else p

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class ExponentialDecay(_RateDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``; with ``staircase`` the
    exponent is floored, so the rate drops at discrete intervals."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        decay_rate: float,
        staircase: bool = False,
        name: str = "ExponentialDecay",
    ) -> None:
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step: int) -> float:
        return float(self.initial_learning_rate) * float(self.decay_rate) ** self._progress(step)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after the last boundary."""

    def __init__(
        self,
        boundaries: Sequence[float],
        values: Sequence[float],
        name: str = "PiecewiseConstant",
    ) -> None:
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries} of length {len(boundaries)}, and "
                f"values={values} of length {len(values)}."
            )
        if any(b1 <= b0 for b0, b1 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"`boundaries` must be strictly increasing. Received: {boundaries}")
        self.boundaries = list(boundaries)
        self.values = list(values)
        self.name = name

    def __call__(self, step: int) -> float:
        # bisect_left counts the boundaries strictly below step: exactly the interval index
        # under Keras' (low, high] convention
        return float(self.values[bisect.bisect_left(self.boundaries, step)])

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - min(step, decay_steps) / decay_steps) ** power + end``; with
    ``cycle`` the horizon grows to the first multiple of ``decay_steps`` at or above ``step``."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
        name: str = "PolynomialDecay",
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name
        _check_decay_steps(decay_steps)

    def __call__(self, step: int) -> float:
        step = float(step)
        decay_steps = float(self.decay_steps)
        if self.cycle:
            multiplier = 1.0 if step == 0 else math.ceil(step / decay_steps)
            decay_steps *= multiplier
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        init, end = float(self.initial_learning_rate), float(self.end_learning_rate)
        return (init - end) * (1.0 - p) ** float(self.power) + end

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class InverseTimeDecay(_RateDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (floored ratio with
    ``staircase``). This is what Keras 2's ``decay=`` argument did with ``decay_steps=1``."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        decay_rate: float,
        staircase: bool = False,
        name: str = "InverseTimeDecay",
    ) -> None:
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step: int) -> float:
        return float(self.initial_learning_rate) / (1.0 + float(self.decay_rate) *
                                                    self._progress(step))


class CosineDecay(LearningRateSchedule):
    """Cosine decay from ``initial_learning_rate`` (or ``warmup_target`` after a linear warmup of
    ``warmup_steps``) down to ``alpha`` times that value over ``decay_steps``, then flat."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        alpha: float = 0.0,
        name: str = "CosineDecay",
        warmup_target: float | None = None,
        warmup_steps: float = 0,
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_steps = warmup_steps
        self.warmup_target = warmup_target
        _check_decay_steps(decay_steps)

    def _decay(self, step: float, decay_from: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / float(self.decay_steps)))
        alpha = float(self.alpha)
        return decay_from * ((1.0 - alpha) * cosine + alpha)

    def __call__(self, step: int) -> float:
        step = float(step)
        init = float(self.initial_learning_rate)
        decay_steps = float(self.decay_steps)
        if self.warmup_target is None:
            return self._decay(min(step, decay_steps), init)
        target = float(self.warmup_target)
        warmup_steps = float(self.warmup_steps)
        step = min(step, decay_steps + warmup_steps)
        if step < warmup_steps:
            return (target - init) * (step / warmup_steps) + init
        return self._decay(step - warmup_steps, target)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """SGDR: cosine decay over ``first_decay_steps``, then warm restarts, each period ``t_mul``
    times longer and starting ``m_mul`` times lower."""

    def __init__(
        self,
        initial_learning_rate: float,
        first_decay_steps: float,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
        name: str = "SGDRDecay",
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self._t_mul = t_mul
        self._m_mul = m_mul
        self.alpha = alpha
        self.name = name
        _check_decay_steps(first_decay_steps, "first_decay_steps")

    def __call__(self, step: int) -> float:
        fraction = float(step) / float(self.first_decay_steps)
        t_mul, m_mul = float(self._t_mul), float(self._m_mul)
        if t_mul == 1.0:
            i_restart = math.floor(fraction)
            fraction -= i_restart
        else:
            # periods grow geometrically: restart i begins at (1 - t_mul**i) / (1 - t_mul)
            i_restart = math.floor(math.log(1.0 - fraction * (1.0 - t_mul)) / math.log(t_mul))
            sum_r = (1.0 - t_mul**i_restart) / (1.0 - t_mul)
            fraction = (fraction - sum_r) / t_mul**i_restart
        cosine = 0.5 * m_mul**i_restart * (1.0 + math.cos(math.pi * fraction))
        alpha = float(self.alpha)
        return float(self.initial_learning_rate) * ((1.0 - alpha) * cosine + alpha)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self._t_mul,
            "m_mul": self._m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


_SCHEDULES: dict[str, type[LearningRateSchedule]] = {
    cls.__name__: cls
    for cls in (
        ExponentialDecay,
        PiecewiseConstantDecay,
        PolynomialDecay,
        InverseTimeDecay,
        CosineDecay,
        CosineDecayRestarts,
    )
}


def serialize(learning_rate_schedule: LearningRateSchedule) -> dict[str, Any]:
    """A JSON-compatible dict in Keras 3's serialization format."""
    return serialize_object(learning_rate_schedule, "keras.optimizers.schedules")


def deserialize(
    config: dict[str, Any], custom_objects: dict[str, Any] | None = None
) -> LearningRateSchedule:
    """The schedule a ``serialize`` dict (or Keras 2's ``{'class_name', 'config'}``) describes."""
    cls, cfg = class_and_config(
        config, "learning rate schedule", _SCHEDULES.get, custom_objects,
        f"Known: {sorted(_SCHEDULES)}; pass custom classes through `custom_objects`.")
    return cls.from_config(cfg)
