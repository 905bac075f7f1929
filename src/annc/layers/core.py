"""The core layers: InputLayer/Input, Dense, Activation, Dropout, Flatten."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core, activations, config, initializers, regularizers
from .. import random as annc_random
from .base import Layer, _standardize_shape

__all__ = ["InputLayer", "Input", "KerasTensor", "Dense", "Activation", "Dropout", "Flatten"]

_ACT_SOFTMAX = 4


def act_spec(fn) -> tuple[int, float]:
    """The C executor's (activation id, parameter) for an activation function."""
    spec = activations.annc_act_spec(fn)
    if spec is None:
        raise ValueError(f"annc cannot run the activation {fn!r} in its kernels; use one of "
                         f"{sorted(activations.ALL_ACTIVATIONS)}")
    return int(spec[0]), float(spec[1])


class KerasTensor:
    """The symbolic input `keras.Input` returns: a shape (batch first) and its layer."""

    def __init__(self, shape: tuple, layer: "InputLayer", name: str):
        self.shape = shape
        self.dtype = "float32"
        self.name = name
        self._layer = layer

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype=float32, name={self.name}>"


class InputLayer(Layer):
    """Declares the model's input shape (batch dimension excluded in `shape`)."""

    def __init__(self, shape=None, batch_size: int | None = None, dtype: Any = None,
                 sparse: bool | None = None, batch_shape=None, input_tensor=None,
                 name: str | None = None, ragged: bool | None = None,
                 optional: bool = False, **kwargs):
        if "input_shape" in kwargs and shape is None:
            shape = kwargs.pop("input_shape")
        if sparse:
            raise NotImplementedError("InputLayer: sparse inputs are not supported by annc")
        if input_tensor is not None:
            raise NotImplementedError("InputLayer: input_tensor is not supported by annc")
        if ragged or optional:
            raise NotImplementedError("InputLayer: ragged or optional inputs are not supported "
                                      "by annc")
        super().__init__(name=name, dtype=dtype, **kwargs)
        if batch_shape is not None:
            full = _standardize_shape(batch_shape, "batch_shape")
        elif shape is not None:
            full = (batch_size,) + _standardize_shape(shape, "shape")
        else:
            raise ValueError("InputLayer needs `shape` or `batch_shape`")
        self.batch_shape = full
        self.build((None,) + full[1:])

    def call(self, x, training=False):
        return x

    def get_config(self) -> dict:
        return {"batch_shape": self.batch_shape, "dtype": "float32", "sparse": False,
                "ragged": False, "name": self.name, "optional": False}


def Input(shape=None, batch_size: int | None = None, dtype: Any = None, sparse: bool | None = None,
          batch_shape=None, name: str | None = None, tensor=None) -> KerasTensor:
    """keras.Input: a symbolic input of the given per-sample shape."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                       batch_shape=batch_shape, name=name, input_tensor=tensor)
    return KerasTensor((None,) + layer.batch_shape[1:], layer, layer.name)


class Dense(Layer):
    """Densely connected layer: output = activation(inputs @ kernel + bias).

    The kernel has shape (input_dim, units) as in Keras; bias + activation are fused into the
    GEMM's epilogue.
    """

    def __init__(self, units: int, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None,
                 quantization_config=None, **kwargs):
        super().__init__(**kwargs)
        if quantization_config is not None:
            raise NotImplementedError("Dense: quantization is not supported by annc")
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Received an invalid value for `units`, expected a positive "
                             f"integer. Received: units={units!r}")
        if kernel_constraint is not None or bias_constraint is not None:
            raise NotImplementedError("Dense: weight constraints are not supported by annc yet")
        if lora_rank:
            raise NotImplementedError("Dense: lora_rank is not supported by annc")
        self.units = int(units)
        self.activation = activations.get(activation)
        self._act = act_spec(self.activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel = None
        self.bias = None

    def build(self, input_shape) -> None:
        input_shape = tuple(input_shape)
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f'Layer "{self.name}": the last axis of the input must be known, '
                             f"got input shape {input_shape}")
        in_dim = int(input_shape[-1])
        self.kernel = self.add_weight((in_dim, self.units), self.kernel_initializer, "kernel",
                                      regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight((self.units,), self.bias_initializer, "bias",
                                        regularizer=self.bias_regularizer)
        super().build(input_shape)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape[:-1]) + (self.units,)

    def _ensure_built(self, input_shape: tuple) -> None:
        if self.built and input_shape[-1] != self.kernel.shape[0]:
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis -1 '
                f"of input shape to have value {self.kernel.shape[0]}, but received input with "
                f"shape {tuple(input_shape)}")
        super()._ensure_built(input_shape)

    def call(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        lead = x.shape[:-1]
        x2 = x.reshape(-1, x.shape[-1])
        out = np.empty((x2.shape[0], self.units), dtype=np.float32)
        act, param = self._act
        epi = 0 if act == _ACT_SOFTMAX else act
        _core.sgemm(x2, self.kernel.value, out, False, False, 1.0, 0.0,
                    config.get_num_threads(), self.bias.value if self.use_bias else None,
                    epi, param)
        if act == _ACT_SOFTMAX:
            out = _core.softmax(out)
        return out.reshape(lead + (self.units,))

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update({
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer)
            if self.kernel_regularizer else None,
            "bias_regularizer": regularizers.serialize(self.bias_regularizer)
            if self.bias_regularizer else None,
            "kernel_constraint": None,
            "bias_constraint": None,
            "quantization_config": None,
        })
        if self.activity_regularizer:  # Keras 3 writes the key only when there is one
            cfg["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return cfg


class Activation(Layer):
    """Applies an activation function to its input."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self._act = act_spec(self.activation)

    def call(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return np.asarray(self.activation(x), dtype=np.float32)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg["activation"] = activations.serialize(self.activation)
        return cfg


class Dropout(Layer):
    """Inverted dropout: during training zeroes a `rate` fraction of inputs and scales the rest
    by 1 / (1 - rate); identity at inference."""

    def __init__(self, rate: float, noise_shape=None, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        rate = float(rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"Invalid value received for argument `rate`. Expected a float "
                             f"value between 0 and 1. Received: rate={rate}")
        if noise_shape is not None:
            raise NotImplementedError("Dropout: noise_shape is not supported by annc yet")
        self.rate = rate
        self.noise_shape = None
        self.seed = seed
        self._seed_gen = annc_random.SeedGenerator(seed)

    def call(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if not training or self.rate == 0.0:
            return x
        if self.rate == 1.0:
            return np.zeros_like(x)
        mask = annc_random.dropout_mask(x.shape, self.rate, seed=self._seed_gen)
        return x * mask

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update({"rate": self.rate, "seed": self.seed, "noise_shape": None})
        return cfg


class Flatten(Layer):
    """Flattens each sample to one axis: (batch, d1, d2, ...) -> (batch, d1*d2*...)."""

    def __init__(self, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise NotImplementedError("Flatten: annc uses channels_last only")
        self.data_format = "channels_last"

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        rest = input_shape[1:]
        if any(d is None for d in rest):
            return (input_shape[0], None)
        return (input_shape[0], int(np.prod(rest, dtype=np.int64)))

    def call(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x.reshape(x.shape[0], -1)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg["data_format"] = self.data_format
        return cfg
