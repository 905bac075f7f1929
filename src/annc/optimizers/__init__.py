"""Optimizers with Keras 3's names, constructor signatures, defaults and update formulas
(``keras.optimizers``). The updates run in C (csrc/optim.c), one fused pass per array.

Slot order per optimizer (``opt._slots[i]`` for variable i; the engine passes them as s0, s1,
s2 to annc_opt_apply):

=========  =====================================================================
SGD        [momentum]  only when momentum != 0, else no slots
RMSprop    [velocity, momentum (if momentum > 0), average_gradient (if centered)]
Adam(W)    [momentum, velocity, velocity_hat (if amsgrad)]
Adagrad    [accumulator]  (starts at initial_accumulator_value, the others at 0)
Adadelta   [accumulated_grad, accumulated_delta_var]
Adamax     [momentum, norm]
Nadam      [momentum, velocity]  (+ the scalar ``_u_product``)
=========  =====================================================================
"""
from __future__ import annotations

from typing import Any

from .._serialization import class_and_config, serialize_object
from . import schedules
from .base import (
    KIND_ADADELTA,
    KIND_ADAGRAD,
    KIND_ADAM,
    KIND_ADAMAX,
    KIND_ADAMW,
    KIND_NADAM,
    KIND_RMSPROP,
    KIND_SGD,
    LearningRate,
    Optimizer,
    _is_number,
)

__all__ = [
    "Optimizer",
    "SGD",
    "RMSprop",
    "Adam",
    "AdamW",
    "Adagrad",
    "Adadelta",
    "Adamax",
    "Nadam",
    "schedules",
    "get",
    "serialize",
    "deserialize",
]


class SGD(Optimizer):
    """Gradient descent, optionally with (Nesterov) momentum.

    ``velocity = momentum * velocity - learning_rate * g``; ``w += velocity``, or with
    ``nesterov`` ``w += momentum * velocity - learning_rate * g``.
    """

    _c_kind = KIND_SGD
    _hyper = {"momentum": float, "nesterov": bool}

    def __init__(
        self,
        learning_rate: LearningRate = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )
        if not _is_number(momentum) or momentum < 0 or momentum > 1:
            raise ValueError(f"`momentum` must be a float between [0, 1]. Received: {momentum!r}")
        self.momentum = momentum
        self.nesterov = nesterov

    def _num_slots(self) -> int:
        return 1 if self.momentum != 0 else 0


class RMSprop(Optimizer):
    """RMSprop: ``v = rho v + (1 - rho) g^2``; ``w -= lr g / sqrt(v + epsilon)`` (Keras puts
    epsilon inside the root), optionally centered and with plain momentum."""

    _c_kind = KIND_RMSPROP
    _hyper = {"rho": float, "momentum": float, "epsilon": float, "centered": bool}

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def _num_slots(self) -> int:
        return 1 + (1 if self.momentum > 0 else 0) + (1 if self.centered else 0)


class Adam(Optimizer):
    """Adam with Keras 3's bias correction folded into the step size:
    ``alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)``, ``w -= alpha m / (sqrt(v) + epsilon)``."""

    _c_kind = KIND_ADAM
    _hyper = {"beta_1": float, "beta_2": float, "epsilon": float, "amsgrad": bool}

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad

    def _num_slots(self) -> int:
        return 3 if self.amsgrad else 2


class AdamW(Adam):
    """Adam plus decoupled weight decay ``w -= w * weight_decay * lr`` before each update."""

    _c_kind = KIND_ADAMW

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )
        if self.weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")


class Adagrad(Optimizer):
    """Adagrad: ``acc += g^2``; ``w -= lr g / sqrt(acc + epsilon)``, acc starting at
    ``initial_accumulator_value``."""

    _c_kind = KIND_ADAGRAD
    _hyper = {"initial_accumulator_value": float, "epsilon": float}

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def _num_slots(self) -> int:
        return 1

    def _slot_initial_value(self, i: int) -> float:
        super()._slot_initial_value(i)
        return float(self.initial_accumulator_value)


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012) with Keras' learning-rate scaling of the step."""

    _c_kind = KIND_ADADELTA
    _hyper = {"rho": float, "epsilon": float}

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        rho: float = 0.95,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )
        self.rho = rho
        self.epsilon = epsilon

    def _num_slots(self) -> int:
        return 2


class Adamax(Optimizer):
    """Adamax: Adam with the infinity norm ``u = max(beta_2 u, |g|)``;
    ``w -= lr m / ((1 - beta_1^t) (u + epsilon))``."""

    _c_kind = KIND_ADAMAX
    _hyper = {"beta_1": float, "beta_2": float, "epsilon": float}

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def _num_slots(self) -> int:
        return 2


class Nadam(Optimizer):
    """Nadam: Adam with Nesterov momentum and Dozat's momentum schedule
    ``u_t = beta_1 (1 - 0.5 * 0.96^t)``, whose running product lives in ``_u_product``."""

    _c_kind = KIND_NADAM
    _hyper = {"beta_1": float, "beta_2": float, "epsilon": float}

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def _num_slots(self) -> int:
        return 2


_BUILTINS: dict[str, type[Optimizer]] = {
    cls.__name__.lower(): cls for cls in (SGD, RMSprop, Adam, AdamW, Adagrad, Adadelta, Adamax, Nadam)
}


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """The optimizer's configuration in Keras 3's serialization format."""
    return serialize_object(optimizer, "keras.optimizers")


def deserialize(
    config: dict[str, Any], custom_objects: dict[str, Any] | None = None
) -> Optimizer:
    """An optimizer from ``serialize``'s dict (class names of built-ins are case-insensitive)."""
    cls, cfg = class_and_config(
        config, "optimizer", lambda name: _BUILTINS.get(str(name).lower()), custom_objects,
        f"Valid names: {', '.join(sorted(_BUILTINS))}; pass custom classes through "
        "`custom_objects`.")
    return cls.from_config(cfg, custom_objects=custom_objects)


def get(identifier: str | dict[str, Any] | Optimizer | None) -> Optimizer | None:
    """An optimizer from a name ('adam', case-insensitive), a config dict or an instance (returned
    unchanged)."""
    if identifier is None:
        return None
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _BUILTINS.get(identifier.lower())
        if cls is None:
            raise ValueError(
                f"Unknown optimizer: {identifier!r}. Valid names: "
                f"{', '.join(sorted(_BUILTINS))}."
            )
        return cls()
    raise ValueError(
        f"Could not interpret optimizer identifier: {identifier!r}. Pass a name "
        f"({', '.join(sorted(_BUILTINS))}), a config dict or an Optimizer instance."
    )
