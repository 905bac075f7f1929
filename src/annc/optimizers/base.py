"""The optimizer base class: Keras 3's `Optimizer` contract on NumPy float32 arrays.

Two ways an update runs:
  * ``apply``/``apply_gradients`` (this module): one binding call per variable, arrays updated in
    place. Used by custom training loops, ``train_on_batch``-style code and the tests.
  * the training engine: it reads ``_c_params()``, ``_num_slots()``, ``_slot_initial_value(i)``,
    ``iterations`` and ``_u_product`` and runs csrc/optim.c over its parameter slabs itself,
    doing gradient clipping from ``clipnorm``/``clipvalue``/``global_clipnorm``; it then bumps
    ``iterations`` and writes back ``_u_product``. Both paths run the same C loops.
"""
from __future__ import annotations

import inspect
import math
import warnings
from typing import Any, Callable, ClassVar, Iterable, Sequence, Union

import numpy as np

from .. import _core
from ..layers.base import auto_name
from . import schedules as _schedules
from .schedules import LearningRateSchedule

# Mirrors enum annc_opt in csrc/annc.h.
KIND_SGD, KIND_RMSPROP, KIND_ADAM, KIND_ADAMW = 0, 1, 2, 3
KIND_ADAGRAD, KIND_ADADELTA, KIND_ADAMAX, KIND_NADAM = 4, 5, 6, 7

LearningRate = Union[float, LearningRateSchedule, Callable[[], float]]

_C_PARAM_DEFAULTS: dict[str, Any] = {
    "momentum": 0.0,
    "nesterov": False,
    "rho": 0.0,
    "centered": False,
    "beta_1": 0.0,
    "beta_2": 0.0,
    "amsgrad": False,
    "epsilon": 0.0,
    "initial_accumulator_value": 0.0,
}


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


class Optimizer:
    """Base class of annc's optimizers (Keras 3 semantics).

    Subclasses that only override ``update_step(gradient, variable, learning_rate)`` work
    through ``apply`` in Python; the built-in ones set ``_c_kind`` and run the C update.
    """

    _c_kind: ClassVar[int | None] = None
    # the subclass's hyper-parameters (attribute names, in Keras's config order) and the type
    # each takes in csrc/optim.c's struct: one list serves the C fields and get_config
    _hyper: ClassVar[dict[str, type]] = {}
    _slot_names: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        learning_rate: LearningRate,
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
        # Keras 2 spelling, kept so tf.keras-era programs run unchanged
        if "lr" in kwargs:
            lr = kwargs.pop("lr")
            param = inspect.signature(type(self).__init__).parameters.get("learning_rate")
            default = param.default if param is not None else inspect.Parameter.empty
            if default is not inspect.Parameter.empty and learning_rate != default:
                raise ValueError(
                    "Pass the learning rate once: got both `lr` (the Keras 2 alias) and "
                    f"`learning_rate`. Received: lr={lr}, learning_rate={learning_rate}"
                )
            learning_rate = lr
        # Keras 3 drops `decay` with a warning rather than an error; annc does the same, and
        # names the schedule that reproduces Keras 2's time-based decay.
        if kwargs.pop("decay", None) is not None:
            warnings.warn(
                "Argument `decay` is no longer supported and will be ignored (as in Keras 3). "
                "For Keras 2's time-based decay lr / (1 + decay * iterations) use "
                "`learning_rate=keras.optimizers.schedules.InverseTimeDecay("
                "initial_learning_rate, decay_steps=1, decay_rate=decay)`.",
                UserWarning,
                stacklevel=3,
            )
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")

        # unnamed: as Keras 3.15 names it, 'sgd', 'sgd_1', 'rm_sprop' ... (like layers)
        self.name = name if name is not None else auto_name(type(self).__name__)
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.global_clipnorm = global_clipnorm
        self.clipvalue = clipvalue
        self.use_ema = use_ema
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps

        if gradient_accumulation_steps:
            if not gradient_accumulation_steps >= 2:
                raise ValueError(
                    "`gradient_accumulation_steps` must be an integer >= 2. Received: "
                    f"gradient_accumulation_steps={gradient_accumulation_steps}"
                )
        if gradient_accumulation_steps is not None:
            raise NotImplementedError(
                "annc does not implement `gradient_accumulation_steps` yet; use a larger "
                "`batch_size` instead."
            )
        if use_ema:
            if ema_momentum > 1 or ema_momentum < 0:
                raise ValueError(
                    f"`ema_momentum` must be in the range [0, 1]. Received: ema_momentum={ema_momentum}"
                )
            if ema_overwrite_frequency and (
                not isinstance(ema_overwrite_frequency, int) or ema_overwrite_frequency < 1
            ):
                raise ValueError(
                    "`ema_overwrite_frequency` must be an integer >= 1 or None. Received: "
                    f"ema_overwrite_frequency={ema_overwrite_frequency}"
                )
            raise NotImplementedError(
                "annc does not implement `use_ema=True` (exponential moving average of the "
                "weights) yet; construct the optimizer with use_ema=False."
            )
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency

        n_clip = sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm))
        if n_clip > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                f"global_clipnorm={global_clipnorm}"
            )
        if weight_decay is not None and not _is_number(weight_decay):
            raise ValueError(f"`weight_decay` must be a float or None. Received: {weight_decay!r}")

        self._learning_rate: LearningRate = self._check_learning_rate(learning_rate)
        #: steps applied so far (Keras' optimizer.iterations); the engine increments it
        self.iterations: int = 0
        #: Nadam's running product of momentum-schedule factors; the engine writes it back
        self._u_product: float = 1.0
        self.built = False
        self._trainable_variables: list[np.ndarray] = []
        self._var_index: dict[int, int] = {}
        #: per variable, the list of its slot arrays in csrc/optim.c's order
        self._slots: list[list[np.ndarray]] = []

    # ------------------------------------------------------------ learning rate
    @staticmethod
    def _check_learning_rate(learning_rate: Any) -> LearningRate:
        if isinstance(learning_rate, LearningRateSchedule) or (
            callable(learning_rate) and not _is_number(learning_rate)
        ):
            return learning_rate
        if not _is_number(learning_rate):
            raise ValueError(
                "Argument `learning_rate` should be float, or an instance of "
                "LearningRateSchedule, or a callable (that takes in the current iteration "
                "value and returns the corresponding learning rate value). "
                f"Received instead: learning_rate={learning_rate!r}"
            )
        return float(learning_rate)

    def _current_learning_rate(self) -> float:
        """The learning rate of the step about to be applied (a schedule evaluated at
        ``iterations``)."""
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            return float(lr(self.iterations))
        if callable(lr):
            return float(lr())
        return lr

    @property
    def learning_rate(self) -> float:
        return self._current_learning_rate()

    @learning_rate.setter
    def learning_rate(self, learning_rate: LearningRate) -> None:
        value = self._check_learning_rate(learning_rate)
        if isinstance(value, float) and isinstance(self._learning_rate, LearningRateSchedule):
            raise TypeError(
                "This optimizer was created with a `LearningRateSchedule` object as its "
                "`learning_rate` constructor argument, hence its learning rate is not settable. "
                "If you need the learning rate to be settable, you should instantiate the "
                "optimizer with a float `learning_rate` argument."
            )
        self._learning_rate = value

    # Keras 2 attribute name (callbacks written for tf.keras read and set optimizer.lr)
    lr = learning_rate

    # ------------------------------------------------------------ engine hooks
    def _c_fields(self) -> dict[str, Any]:
        """The subclass's hyper-parameters (`_hyper`) as csrc/optim.c's struct fields."""
        if self._c_kind is None:
            raise NotImplementedError(
                f"{type(self).__name__} has no compiled update; it runs only through apply()."
            )
        return {name: convert(getattr(self, name)) for name, convert in self._hyper.items()}

    def _c_params(self) -> dict[str, Any]:
        """Everything annc_optimizer needs for the next step, learning rate evaluated now."""
        params = dict(_C_PARAM_DEFAULTS)
        params.update(self._c_fields())  # raises for an optimizer with no compiled update
        params["kind"] = self._c_kind
        params["learning_rate"] = self._current_learning_rate()
        params["weight_decay"] = float(self.weight_decay) if self.weight_decay else 0.0
        return params

    def _num_slots(self) -> int:
        """Float32 state arrays kept per variable (what annc_opt_num_slots returns)."""
        return 0

    def _slot_initial_value(self, i: int) -> float:
        if not 0 <= i < self._num_slots():
            raise IndexError(f"{type(self).__name__} has {self._num_slots()} slot(s), not {i + 1}")
        return 0.0

    # ------------------------------------------------------------ state
    def build(self, variables: Sequence[np.ndarray]) -> None:
        """Create the slot arrays for ``variables`` (a no-op once built)."""
        if self.built:
            return
        variables = list(variables)
        for i, v in enumerate(variables):
            self._check_variable(v, i)
        self._trainable_variables = variables
        self._var_index = {id(v): i for i, v in enumerate(variables)}
        inits = [self._slot_initial_value(j) for j in range(self._num_slots())]
        self._slots = [
            [np.full(v.shape, init, dtype=np.float32) for init in inits] for v in variables
        ]
        self.built = True

    @property
    def variables(self) -> list[np.ndarray]:
        """Keras 3's list: the step counter, the learning rate (unless a schedule drives it),
        then the slot arrays grouped by kind then variable (all momentums, then all velocities
        ...; none before ``build``). The two scalars are snapshots; the slots are live."""
        scalars = [np.array(self.iterations, dtype=np.int64)]
        if not isinstance(self._learning_rate, LearningRateSchedule):
            scalars.append(np.array(self._current_learning_rate(), dtype=np.float32))
        per_var = self._slots
        n = len(per_var[0]) if per_var else 0
        return scalars + [slots[j] for j in range(n) for slots in per_var]

    @staticmethod
    def _check_variable(v: Any, i: int) -> None:
        if not isinstance(v, np.ndarray) or v.dtype != np.float32:
            what = f"{type(v).__name__}" + (f" of {v.dtype}" if isinstance(v, np.ndarray) else "")
            raise TypeError(
                f"annc optimizers update float32 NumPy arrays in place; variable {i} is a {what}. "
                "Convert it once with np.asarray(v, dtype=np.float32) and keep that array."
            )
        if not v.flags.c_contiguous or not v.flags.writeable:
            raise ValueError(
                f"Variable {i} must be a writeable C-contiguous array (it is updated in place); "
                "use np.ascontiguousarray(v) once and keep that array."
            )

    # ------------------------------------------------------------ updates
    def scale_loss(self, loss: Any) -> Any:
        """Multiply the loss by ``loss_scale_factor`` (apply() divides the gradients back)."""
        if self.loss_scale_factor is not None:
            return loss * self.loss_scale_factor
        return loss

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, np.ndarray]]) -> int:
        grads, variables = zip(*list(grads_and_vars))
        self.apply(grads, variables)
        return self.iterations

    def apply(
        self, grads: Sequence[Any], trainable_variables: Sequence[np.ndarray] | None = None
    ) -> None:
        """One optimizer step: ``variables[i]`` is updated in place from ``grads[i]``."""
        grads = list(grads)
        if len(grads) == 0:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "When passing `grads` without `variables`, the optimizer must already be "
                    "built on a list of variables. Call `optimizer.build(trainable_variables)` "
                    "first."
                )
            variables = self._trainable_variables
        else:
            variables = list(trainable_variables)
            if not self.built:
                self.build(variables)
            for v in variables:
                if id(v) not in self._var_index:
                    raise ValueError(
                        f"Unknown variable of shape {getattr(v, 'shape', '?')}. This optimizer "
                        "can only be called for the variables it was originally built with. "
                        "When working with a new set of variables, create a new optimizer."
                    )
        if len(grads) != len(variables):
            raise ValueError(
                f"Received {len(grads)} gradients for {len(variables)} variables; they must "
                "correspond one to one."
            )

        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if not pairs:
            raise ValueError("No gradients provided for any variable.")
        if len(pairs) < len(variables):
            missing = [self._var_index[id(v)] for g, v in zip(grads, variables) if g is None]
            warnings.warn(
                f"Gradients do not exist for variables {missing} when minimizing the loss.",
                UserWarning,
                stacklevel=2,
            )

        gs, vs = [], []
        for g, v in pairs:
            idx = self._var_index[id(v)]
            self._check_variable(v, idx)
            g = np.ascontiguousarray(g, dtype=np.float32)
            if g.shape != v.shape:
                raise ValueError(
                    f"Gradient {idx} has shape {g.shape} but its variable has shape {v.shape}."
                )
            gs.append(g)
            vs.append(v)

        if self.loss_scale_factor is not None:
            inv = np.float32(1.0 / self.loss_scale_factor)
            gs = [g * inv for g in gs]
        gs = self._clip_gradients(gs)
        self._update(gs, vs)

    def _update(self, grads: list[np.ndarray], variables: list[np.ndarray]) -> None:
        if self._c_kind is None:
            self._update_python(grads, variables)
            return
        params = self._c_params()
        u_in = self._u_product
        u_out = u_in
        for g, v in zip(grads, variables):
            slots = self._slots[self._var_index[id(v)]]
            # every variable gets the same step scalars: prepare is a pure function of
            # (iterations, u_product in), so each call returns the same u_out
            u_out = _core.opt_apply(params, self.iterations, u_in, v, g, slots)
        self._u_product = u_out
        self.iterations += 1

    def _update_python(self, grads: list[np.ndarray], variables: list[np.ndarray]) -> None:
        lr = self._current_learning_rate()
        if self.weight_decay:
            wd_lr = np.float32(self.weight_decay) * np.float32(lr)
            for v in variables:
                v -= v * wd_lr
        for g, v in zip(grads, variables):
            self.update_step(g, v, lr)
        self.iterations += 1

    def update_step(self, gradient: np.ndarray, variable: np.ndarray, learning_rate: float) -> None:
        """Update ``variable`` in place; override in Python-only custom optimizers."""
        raise NotImplementedError(f"{type(self).__name__} must implement update_step().")

    # ------------------------------------------------------------ clipping (Keras semantics)
    def _clip_gradients(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        if self.clipnorm and self.clipnorm > 0:
            return [clip_by_norm(g, self.clipnorm) for g in grads]
        if self.global_clipnorm and self.global_clipnorm > 0:
            return clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue and self.clipvalue > 0:
            v = np.float32(self.clipvalue)
            return [np.clip(g, -v, v) for g in grads]
        return grads

    # ------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            learning_rate: Any = _schedules.serialize(lr)
        else:
            learning_rate = lr
        return {
            "name": self.name,
            "learning_rate": learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
            **{name: getattr(self, name) for name in self._hyper},
        }

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> "Optimizer":
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = _schedules.deserialize(
                config["learning_rate"], custom_objects=custom_objects
            )
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self.learning_rate:g}>"


def _sumsq(g: np.ndarray) -> float:
    # float64 accumulation: the norm only sets a scale, and a float32 sum over millions of
    # values would lose digits the float64 one keeps for free
    flat = g.reshape(-1).astype(np.float64)
    return float(np.dot(flat, flat))


def clip_by_norm(g: np.ndarray, clipnorm: float) -> np.ndarray:
    """``g * clipnorm / max(||g||, clipnorm)`` (Keras' per-gradient clipnorm)."""
    l2 = math.sqrt(_sumsq(g))
    if l2 <= clipnorm:  # also l2 == 0; a NaN norm falls through and poisons g as Keras does
        return g
    return g * np.float32(clipnorm / l2)


def clip_by_global_norm(grads: list[np.ndarray], clipnorm: float) -> list[np.ndarray]:
    """Scale all gradients by ``clipnorm / max(global_norm, clipnorm)``; a non-finite global norm
    turns every gradient into NaN, as in Keras."""
    norm = math.sqrt(sum(_sumsq(g) for g in grads))
    if not math.isfinite(norm):
        return [np.full_like(g, np.nan) for g in grads]
    if norm <= clipnorm:
        return grads
    scale = np.float32(clipnorm / norm)
    return [g * scale for g in grads]
