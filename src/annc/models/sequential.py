"""Sequential: Keras's linear stack of layers, trained by annc's C executor.

Python here does what happens once per call — validation, conversion to float32, building the
executor's description of the network — and then drives the executor with scalars: a chunk of
training steps is one call into C with the GIL released; callbacks and the progress bar run
between chunks (every step when a callback asks for batch hooks).
"""
from __future__ import annotations

import time
import warnings
from typing import Any, Iterable

import numpy as np

from .. import _core, callbacks as callbacks_module, config, losses, metrics as metrics_module
from .. import optimizers, regularizers
from .. import random as annc_random
from ..layers.base import _BUILD_SCOPE, Layer, Variable, auto_name
from ..layers.core import Activation, Dense, Dropout, Flatten, InputLayer, KerasTensor

__all__ = ["Sequential"]

_F32 = np.dtype(np.float32)
_KIND_DENSE, _KIND_ACTIVATION, _KIND_DROPOUT = 0, 1, 2
_ACT_LINEAR, _ACT_SIGMOID, _ACT_SOFTMAX = 0, 2, 4
_LOSS_SPARSE_CCE, _LOSS_CCE, _LOSS_BCE = 0, 1, 2
_SLAB_ALIGN = 16              # floats: one 64-byte cache line
_PREDICT_ROWS = 512          # rows per executor chunk in predict/evaluate/model(x)
_CHUNK_SECONDS = 0.05        # wall time between callback calls when no batch hooks are needed
_slab_generation = 0         # bumped whenever a model moves weights into a new slab


def _aligned_floats(n: int, value: float) -> np.ndarray:
    """A float32 array of n values starting on a 64-byte boundary."""
    raw = np.empty(n + _SLAB_ALIGN, dtype=np.float32)
    skip = (-raw.ctypes.data % 64) // 4
    out = raw[skip:skip + n]
    out.fill(value)
    return out


def _features(shape: tuple) -> int:
    """Values per sample of an array of this shape (also when it holds no samples, where
    reshape's -1 cannot be inferred)."""
    return int(np.prod(shape[1:], dtype=np.int64))


class _Compiled:
    """What compile() resolved: the optimizer, the loss object and the metric identifiers."""

    def __init__(self, optimizer, loss, metrics: list):
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = metrics


class Sequential(Layer):
    """A linear stack of layers (keras.Sequential)."""

    def __init__(self, layers: Iterable | None = None, trainable: bool = True,
                 name: str | None = None):
        super().__init__(name=name or auto_name("Sequential"), trainable=trainable)
        self._layers: list[Layer] = []
        self._input_layer: InputLayer | None = None
        self._compiled: _Compiled | None = None
        self._slab: dict[str, np.ndarray] | None = None
        self._slab_gen = 0
        self._opt_state: tuple | None = None     # (optimizer, [slot arrays])
        self._engines: dict = {}
        self.stop_training = False
        self.history = None
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ structure
    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by its name or its index in `layers` (Keras's Model.get_layer)."""
        if index is not None and name is not None:
            raise ValueError(f"Provide only a layer name or a layer index. Received: "
                             f"index={index}, name={name}.")
        layers = self.layers
        if index is not None:
            if len(layers) <= index:
                raise ValueError(f"Was asked to retrieve layer at index {index} but model only "
                                 f"has {len(layers)} layers.")
            return layers[index]
        if name is not None:
            for layer in layers:
                if layer.name == name:
                    return layer
            raise ValueError(f"No such layer: {name}. Existing layers are: "
                             f"{[layer.name for layer in layers]}.")
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    def add(self, layer, rebuild: bool = True) -> None:
        """Append a layer (or a keras.Input) to the stack."""
        if isinstance(layer, KerasTensor):
            layer = layer._layer
        if not isinstance(layer, Layer):
            raise ValueError(f"Only instances of `keras.Layer` can be added to a Sequential "
                             f"model. Received: {layer!r} (of type {type(layer).__name__})")
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError("An InputLayer can only be the first layer of a Sequential")
            self._input_layer = layer
        else:
            if any(existing is layer for existing in self._layers):
                raise ValueError(f"Layer {layer.name!r} is already in this model")
            names = {lay.name for lay in self._layers}
            if layer.name in names:
                raise ValueError(f"All layers added to a Sequential model should have unique "
                                 f"names. Name '{layer.name}' is already the name of a layer "
                                 f"in this model.")
            self._layers.append(layer)
        self._invalidate()
        shape = self._declared_input_shape()
        if rebuild and shape is not None:
            self.build(shape)

    def pop(self, rebuild: bool = True) -> Layer:
        if not self._layers:
            raise TypeError("There are no layers in the model.")
        layer = self._layers.pop()
        self._invalidate()
        self.built = False
        shape = self._declared_input_shape()
        if rebuild and shape is not None and self._layers:
            self.build(shape)
        return layer

    def _invalidate(self) -> None:
        self._engines.clear()
        self._slab = None
        self._opt_state = None

    def _declared_input_shape(self) -> tuple | None:
        if self._input_layer is not None:
            return self._input_layer.batch_shape
        if self._layers and self._layers[0]._input_shape_arg is not None:
            return self._layers[0]._input_shape_arg
        return None

    def build(self, input_shape=None) -> None:
        if input_shape is None:
            input_shape = self._declared_input_shape()
            if input_shape is None:
                raise ValueError("You must provide an `input_shape` argument.")
        shape = (None,) + tuple(input_shape)[1:]
        self.input_shape = shape
        _BUILD_SCOPE.append(self.name)
        try:
            for layer in self._layers:
                layer._ensure_built(shape)
                shape = layer.compute_output_shape(shape)
        finally:
            _BUILD_SCOPE.pop()
        self.output_shape = shape
        self.built = True
        self._make_slab()

    @property
    def input(self):
        return self.input_shape

    # ------------------------------------------------------------------ weights
    @property
    def weights(self) -> list[Variable]:
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return []
        return [w for layer in self._layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return self.weights
        return [w for layer in self._layers for w in layer.non_trainable_weights]

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights) -> None:
        weights = list(weights)
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(f"You called `set_weights(weights)` on model '{self.name}' with a "
                             f"weight list of length {len(weights)}, but the model expects "
                             f"{len(own)} weights.")
        for var, value in zip(own, weights):
            v = np.asarray(value)
            if v.shape != var.shape:
                raise ValueError(f"Weight {var.path} has shape {var.shape}; the value given "
                                 f"has shape {v.shape}")
        for var, value in zip(own, weights):
            var.assign(value)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError("This model has not yet been built. Build the model first by "
                             "calling `build()` or by calling the model on a batch of data.")
        return int(sum(w.size for w in self.weights))

    def _make_slab(self) -> None:
        """Move every weight into one contiguous parameter slab (kernel then bias per layer),
        so gradients and optimizer slots are slabs of the same layout."""
        global _slab_generation
        _slab_generation += 1
        self._slab_gen = _slab_generation
        variables = self.weights
        # every variable starts on a 64-byte line, so a thread's block of a kernel's rows is
        # whole cache lines (train.c) and gradient and slot slabs mirror it
        offsets, total = [], 0
        for v in variables:
            offsets.append(total)
            total += -(-v.size // _SLAB_ALIGN) * _SLAB_ALIGN
        params = _aligned_floats(max(total, 1), 0.0)
        for v, off in zip(variables, offsets):
            v._rebind(params[off:off + v.size].reshape(v.shape))
        self._slab = {"params": params, "grads": _aligned_floats(params.size, 0.0),
                      "size": total}
        self._opt_state = None
        self._engines.clear()

    # ------------------------------------------------------------------ summary
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None) -> None:
        from ..utils.summary_utils import print_summary

        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable,
                      layer_range=layer_range)

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly: bool = False, steps_per_execution: int = 1,
                jit_compile="auto", auto_scale_loss: bool = True) -> None:
        """Configure the model for training (Keras 3 arguments; a bare metric string, as Keras 2
        code writes it, is accepted too)."""
        if loss_weights is not None:
            raise NotImplementedError("compile: loss_weights needs several outputs; annc's "
                                      "Sequential has one")
        if weighted_metrics:
            raise NotImplementedError("compile: weighted_metrics is not supported by annc yet")
        opt = optimizers.get(optimizer)
        loss_obj = losses.get(loss) if loss is not None else None
        if isinstance(metrics, (str, metrics_module.Metric)) or callable(metrics) and \
                not isinstance(metrics, (list, tuple, dict)):
            metrics = [metrics]
        if isinstance(metrics, dict):
            raise NotImplementedError("compile: per-output metric dicts need several outputs")
        metrics = list(metrics or [])
        for m in metrics:  # unknown names fail here, not at the first fit
            if not (isinstance(m, str) and m.lower() in metrics_module.ACCURACY_NAMES):
                metrics_module.get(m)
        self._compiled = _Compiled(opt, loss_obj, metrics)
        self.optimizer = opt
        self.loss = loss
        self._engines.clear()
        # the slots stay with their optimizer: compiled again with the same object, training
        # goes on from its momenta (Keras keeps an optimizer's variables); another optimizer
        # starts its own (_optimizer_slots)

    @property
    def compiled(self) -> bool:
        return self._compiled is not None

    @property
    def metrics_names(self) -> list[str]:
        names = ["loss"]
        if self._compiled is not None:
            names += [name for name, _ in self._resolved_metrics()]
        return names

    def _require_compiled(self) -> _Compiled:
        if self._compiled is None:
            raise ValueError("You must call `compile()` before using the model.")
        if self._compiled.loss is None:
            raise ValueError("The model was compiled without a loss: pass `loss=` to "
                             "`compile()` before training or evaluating.")
        return self._compiled

    def _loss_spec(self) -> tuple[int, int, float, int]:
        """(loss id, from_logits, param, fused) for the executor."""
        spec = getattr(self._compiled.loss, "__annc_loss__", None)
        if spec is None:
            raise ValueError(f"annc cannot compute the loss {self._compiled.loss!r} in its "
                             f"kernels; use one of the built-in losses")
        loss_id, from_logits, param = int(spec[0]), int(bool(spec[1])), float(spec[2])
        last_act = self._last_activation()
        fused = 0
        if last_act == _ACT_SOFTMAX and loss_id in (_LOSS_SPARSE_CCE, _LOSS_CCE):
            if from_logits:
                warnings.warn(
                    f'"{self._loss_name()}" received `from_logits=True`, but the model output '
                    f"is produced by a softmax activation and thus does not represent logits. "
                    f"Was this intended?", UserWarning, stacklevel=3)
            else:
                fused = 1
        elif last_act == _ACT_SIGMOID and loss_id == _LOSS_BCE:
            if from_logits:
                warnings.warn(
                    f'"{self._loss_name()}" received `from_logits=True`, but the model output '
                    f"is produced by a sigmoid activation and thus does not represent logits. "
                    f"Was this intended?", UserWarning, stacklevel=3)
            else:
                fused = 1
        return loss_id, from_logits, param, fused

    def _loss_name(self) -> str:
        loss = self._compiled.loss
        return getattr(loss, "name", None) or type(loss).__name__

    def _last_activation(self) -> int:
        for layer in reversed(self._layers):
            if isinstance(layer, (Dense, Activation)):
                return layer._act[0]
            if isinstance(layer, Dropout):
                return -1
        return -1

    def _resolved_metrics(self) -> list[tuple[str, int]]:
        """(log name, executor metric id) per compiled metric, 'accuracy' resolved as Keras 3
        does, from the shapes alone: binary for one output, else sparse categorical for class
        ids (here: the sparse loss's targets), else categorical; so a binary cross-entropy over
        several outputs gets categorical accuracy, as in Keras 3 (Keras 2 chose by the loss)."""
        out = []
        loss_id = getattr(self._compiled.loss, "__annc_loss__", (None,))[0]
        out_dim = self.output_shape[-1] if self.output_shape else None
        for m in self._compiled.metrics:
            if isinstance(m, str) and m.lower() in metrics_module.ACCURACY_NAMES:
                if out_dim == 1:
                    mid = metrics_module.BINARY_ACCURACY
                elif loss_id == _LOSS_SPARSE_CCE:
                    mid = metrics_module.SPARSE_CATEGORICAL_ACCURACY
                else:
                    mid = metrics_module.CATEGORICAL_ACCURACY
                out.append((m, mid))
                continue
            obj = metrics_module.get(m)
            if obj._c_id is None:
                raise NotImplementedError(f"annc cannot compute the metric {obj.name!r} during "
                                          f"fit yet")
            out.append((obj.name, obj._c_id))
        return out

    # ------------------------------------------------------------------ data checks
    def _prepare_x(self, x, what: str = "x", check_finite: bool = True) -> np.ndarray:
        """x as a C-contiguous float32 (n, features) array, converted once. Training data is
        checked for NaN/inf (they would poison the weights); inference passes them through."""
        if (type(x) is np.ndarray and x.dtype is _F32 and self.built and
                x.shape[1:] == self.input_shape[1:] and x.flags.c_contiguous and
                not check_finite):
            return x if x.ndim == 2 else x.reshape(x.shape[0], _features(x.shape))
        if x is None:
            raise ValueError(f"`{what}` must be provided")
        if isinstance(x, (list, tuple)) and len(x) == 1:
            x = x[0]
        arr = np.asarray(x)
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"`{what}` must be a numeric array; got dtype {arr.dtype}")
        if arr.ndim < 1:
            raise ValueError(f"`{what}` must have a batch dimension; got a scalar")
        if not self.built:
            self.build((None,) + arr.shape[1:])
        expected = self.input_shape[1:]
        if arr.shape[1:] != tuple(expected):
            first = self._layers[0] if self._layers else None
            lname = first.name if first is not None else self.name
            raise ValueError(
                f'Input 0 of layer "{lname}" is incompatible with the layer: expected shape='
                f"{self.input_shape}, found shape={(None,) + arr.shape[1:]}. "
                f"(`{what}` has shape {arr.shape}; each sample must have shape {expected})")
        flat = np.ascontiguousarray(arr.reshape(arr.shape[0], _features(arr.shape)),
                                    dtype=np.float32)
        if check_finite and arr.dtype.kind == "f" and flat.size:
            first = _core.first_nonfinite(flat.reshape(-1))
            if first >= 0:
                row, col = divmod(int(first), flat.shape[1])
                kind = "NaN" if np.isnan(flat[row, col]) else "infinite value"
                raise ValueError(f"`{what}` contains a {kind} at sample {row} (flattened "
                                 f"feature {col}); clean or impute the data before training")
        return flat

    def _prepare_y(self, y, n: int, what: str = "y") -> np.ndarray:
        if y is None:
            raise ValueError(f"`{what}` must be provided for training and evaluation")
        arr = np.asarray(y)
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"`{what}` must be numeric; got dtype {arr.dtype}")
        if arr.ndim == 0 or arr.shape[0] != n:
            raise ValueError(
                "Data cardinality is ambiguous. Make sure all arrays contain the same number of "
                f"samples. 'x' sizes: {n} '{what}' sizes: {arr.shape[0] if arr.ndim else 'scalar'}")
        loss_id = self._loss_spec()[0]
        out_dim = self.output_shape[-1]
        if loss_id == _LOSS_SPARSE_CCE:
            if arr.ndim == 2 and arr.shape[1] == 1:
                arr = arr[:, 0]
            if arr.ndim != 1:
                hint = (" It looks one-hot encoded: use loss='categorical_crossentropy', or pass "
                        "integer class ids." if arr.ndim == 2 and arr.shape[1] == out_dim else "")
                raise ValueError(f"sparse_categorical_crossentropy expects integer class labels "
                                 f"of shape ({n},); `{what}` has shape {arr.shape}.{hint}")
            if arr.dtype.kind == "f":
                if not np.isfinite(arr).all() or not np.array_equal(arr, np.floor(arr)):
                    raise ValueError(f"sparse_categorical_crossentropy expects integer class "
                                     f"ids; `{what}` holds non-integer values")
            if n:
                lo, hi = arr.min(), arr.max()
                if lo < 0 or hi >= out_dim:
                    bad = int(np.argmax((arr < 0) | (arr >= out_dim)))
                    raise ValueError(
                        f"Labels must be in [0, {out_dim}) for a model with {out_dim} outputs; "
                        f"`{what}`[{bad}] = {arr[bad]}. (Received labels from {lo} to {hi}.)")
            arr = np.ascontiguousarray(arr, dtype=np.int32)
            self._check_metric_targets(arr, what)
            return arr
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if arr.ndim == 1:
            arr = arr.reshape(n, 1)
        arr = arr.reshape(n, -1)
        if arr.shape[1] != out_dim:
            hint = ""
            if loss_id == _LOSS_CCE and arr.shape[1] == 1:
                hint = (" Integer labels need loss='sparse_categorical_crossentropy' (or one-hot "
                        "encode them with keras.utils.to_categorical).")
            raise ValueError(f"`{what}` has {arr.shape[1]} values per sample but the model "
                             f"outputs {out_dim}.{hint}")
        if not np.isfinite(arr).all():
            raise ValueError(f"`{what}` contains NaN or infinite values")
        self._check_metric_targets(arr, what)
        return arr

    def _check_metric_targets(self, arr: np.ndarray, what: str) -> None:
        """Every compiled metric can read targets of this form: class ids (one per sample) for
        sparse_categorical_accuracy, one value per output for the others. Keras fails on the
        mismatches with a shape error (and gives categorical_accuracy over class ids a
        meaningless value); the executor would read one form as the other."""
        out_dim = self.output_shape[-1]
        ids = arr.ndim == 1 or arr.shape[1] == 1
        for name, mid in self._resolved_metrics():
            if mid == metrics_module.SPARSE_CATEGORICAL_ACCURACY:
                if not ids:
                    raise ValueError(
                        f"Metric {name!r} compares the predicted class with a class id per "
                        f"sample, but `{what}` has {arr.shape[1]} values per sample (one-hot?). "
                        f"Use 'categorical_accuracy' (or 'accuracy') with one-hot targets.")
            elif arr.ndim == 1:
                raise ValueError(
                    f"Metric {name!r} compares `{what}` with the model's outputs ({out_dim}), but "
                    f"`{what}` holds one class id per sample (shape {arr.shape}, loss "
                    f"sparse_categorical_crossentropy). Use 'accuracy' or "
                    f"'sparse_categorical_accuracy', or one-hot targets with "
                    f"loss='categorical_crossentropy'.")

    @staticmethod
    def _check_batch_size(batch_size) -> int:
        if batch_size is None:
            return 32
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"batch_size must be a positive integer, got {batch_size!r}")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        return int(batch_size)

    # ------------------------------------------------------------------ executor setup
    def _optimizer_slots(self) -> list[np.ndarray]:
        opt = self._compiled.optimizer
        if self._opt_state is None or self._opt_state[0] is not opt:
            size = self._slab["params"].size
            slots = [_aligned_floats(size, opt._slot_initial_value(i))
                     for i in range(opt._num_slots())]
            self._opt_state = (opt, slots)
            self._expose_slots(opt, slots)
        return self._opt_state[1]

    def _expose_slots(self, opt, slots: list[np.ndarray]) -> None:
        """Give the optimizer per-variable views of the slot slabs, so `optimizer.variables`
        (and the summary's optimizer line) show the state the executor updates."""
        params = self._slab["params"]
        base = params.__array_interface__["data"][0]
        variables = [w for w in self.trainable_weights]
        per_var = []
        for v in variables:
            off = (v.value.__array_interface__["data"][0] - base) // 4
            per_var.append([s[off:off + v.size].reshape(v.shape) for s in slots])
        opt._trainable_variables = [v.value for v in variables]
        opt._var_index = {id(v.value): i for i, v in enumerate(variables)}
        opt._slots = per_var
        opt.built = True

    def _engine_layers(self, rows: int, training: bool) -> tuple[list[dict], int]:
        descs: list[dict] = []
        shape = self.input_shape
        in_features = int(np.prod(shape[1:], dtype=np.int64))
        width = in_features
        for layer in self._layers:
            out_shape = layer.compute_output_shape(shape)
            if isinstance(layer, (InputLayer, Flatten)):
                shape = out_shape
                continue
            if len(shape) != 2:
                raise NotImplementedError(
                    f'Layer "{layer.name}" receives inputs of shape {shape}; annc trains stacks '
                    f"of layers on flat feature vectors only so far: add a Flatten() first")
            out = int(out_shape[-1])
            d: dict[str, Any] = {"in": width, "out": out,
                                 "y": np.empty(rows * out, dtype=np.float32),
                                 "trainable": int(layer.trainable and self.trainable)}
            if isinstance(layer, Dense):
                act, param = layer._act
                d.update(kind=_KIND_DENSE, act=act, act_param=param,
                         W=layer.kernel.value, b=layer.bias.value if layer.use_bias else None)
                d["dW"] = self._grad_view(layer.kernel)
                d["db"] = self._grad_view(layer.bias) if layer.use_bias else None
                d["kernel_reg"] = self._reg_spec(layer, "kernel_regularizer")
                d["bias_reg"] = self._reg_spec(layer, "bias_regularizer")
                d["activity_reg"] = self._reg_spec(layer, "activity_regularizer")
                if training and act != _ACT_SOFTMAX and _core.act_needs_input(act):
                    d["z"] = np.empty(rows * out, dtype=np.float32)
            elif isinstance(layer, Activation):
                act, param = layer._act
                d.update(kind=_KIND_ACTIVATION, act=act, act_param=param)
            elif isinstance(layer, Dropout):
                d.update(kind=_KIND_DROPOUT, rate=layer.rate)
                if training:
                    d["mask"] = np.empty(rows * out, dtype=np.float32)
            else:
                raise NotImplementedError(f"annc cannot run layer {layer.name!r} "
                                          f"({type(layer).__name__}) in its executor yet")
            descs.append(d)
            width = out
            shape = out_shape
        if not descs:
            raise ValueError("The model has no layers to run")
        return descs, in_features

    @staticmethod
    def _reg_spec(layer, attr: str) -> tuple[float, float]:
        spec = regularizers.annc_reg_spec(getattr(layer, attr))
        if spec is None:
            raise NotImplementedError(
                f'Layer "{layer.name}": annc fuses L1/L2 regularizers into its executor; the '
                f"custom {attr} {getattr(layer, attr)!r} cannot be trained yet")
        return float(spec[0]), float(spec[1])

    def _grad_view(self, var: Variable) -> np.ndarray:
        params = self._slab["params"]
        offset = (var.value.__array_interface__["data"][0] -
                  params.__array_interface__["data"][0]) // 4
        return self._slab["grads"][offset:offset + var.size]

    def _own_slab(self) -> None:
        """Layers shared with another model (transfer learning) have their weights moved into
        whichever model built its slab last; take them back, values and all, before running,
        so both models always compute with the same, current weights."""
        if self._slab is None or self._slab_gen == _slab_generation:
            return
        params = self._slab["params"]
        if any(v.value.base is not params for v in self.weights):
            self._make_slab()
        else:
            self._slab_gen = _slab_generation

    def _engine(self, rows: int, training: bool):
        self._own_slab()
        key = (rows, training, config.get_num_threads(), config.fork_generation)
        eng = self._engines.get(key)
        if eng is not None:
            return eng
        descs, in_features = self._engine_layers(rows, training)
        maxw = max([in_features] + [d["out"] for d in descs])
        nthreads = config.get_num_threads()
        out_dim = descs[-1]["out"]
        buffers = {
            # gradients need the widest layer; inference only scratch for metric values
            "gbuf0": np.empty(rows * (maxw if training else out_dim), dtype=np.float32),
            "gbuf1": np.empty(rows * (maxw if training else out_dim), dtype=np.float32),
            "loss_rows": np.empty(rows, dtype=np.float32),
        }
        if training:
            buffers["xbuf"] = np.empty(2 * rows * in_features, dtype=np.float32)  # double-buffered
            sparse = self._compiled is not None and self._loss_spec()[0] == _LOSS_SPARSE_CCE
            buffers["tbuf"] = (np.empty(rows, dtype=np.int32) if sparse
                               else np.empty(rows * out_dim, dtype=np.float32))
        slab = {"params": self._slab["params"], "grads": self._slab["grads"],
                "all_trainable": int(all(d["trainable"] for d in descs))}
        loss_spec = None
        metric_ids: list[int] = []
        if self._compiled is not None and self._compiled.loss is not None:
            loss_spec = self._loss_spec()
            metric_ids = [mid for _, mid in self._resolved_metrics()]
        if training:
            for i, s in enumerate(self._optimizer_slots()):
                slab[f"slot{i}"] = s
        eng = _core.Engine(descs, in_features, rows, nthreads, buffers, slab, loss_spec,
                           metric_ids)
        self._engines[key] = eng
        return eng

    # ------------------------------------------------------------------ inference
    def _predict_ready(self, inputs) -> np.ndarray | None:
        """The output for inputs that need no conversion (a C-contiguous float32 matrix of a
        flat-input model's width) in one call into the binding, which checks and allocates in
        C: a microsecond of one record's few; None for anything else (the caller's general
        path converts, checks and raises as Keras does)."""
        if not self.built or len(self.input_shape) != 2:
            return None
        return self._engine(_PREDICT_ROWS, False).predict_new(inputs)

    def __call__(self, inputs, training: bool = False):
        if training:
            x = np.asarray(inputs, dtype=np.float32)
            for layer in self._layers:
                x = layer(x, training=True)
            return x
        out = self._predict_ready(inputs)
        if out is not None:
            return out
        x = self._prepare_x(inputs, "inputs", check_finite=False)
        out = np.empty((x.shape[0], self.output_shape[-1]), dtype=np.float32)
        return self._engine(_PREDICT_ROWS, False).predict(x, out)

    def call(self, x, training=False):
        return self(x, training=training)

    def predict(self, x, batch_size: int | None = None, verbose="auto", steps=None,
                callbacks=None) -> np.ndarray:
        """Output probabilities/values for x, as a float32 array (n, outputs)."""
        batch_size = self._check_batch_size(batch_size)
        if steps is not None:
            raise NotImplementedError("predict: `steps` applies to generators, which annc "
                                      "does not take yet")
        if verbose == 0 and not callbacks:
            out = self._predict_ready(x)
            if out is not None:
                return out
        x = self._prepare_x(x, check_finite=False)
        n = x.shape[0]
        out = np.empty((n, self.output_shape[-1]), dtype=np.float32)
        if verbose == 0 and not callbacks:
            return self._engine(_PREDICT_ROWS, False).predict(x, out)
        nsteps = -(-n // batch_size)
        cbs = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                            verbose=verbose, epochs=1, steps=nsteps)
        cbs.on_predict_begin()
        eng = self._engine(_PREDICT_ROWS, False)
        if nsteps > 1 and self._needs_batch_hooks(cbs, "predict"):
            for s in range(nsteps):
                lo, hi = s * batch_size, min(n, (s + 1) * batch_size)
                cbs.on_predict_batch_begin(s)
                eng.predict(x[lo:hi], out[lo:hi])
                cbs.on_predict_batch_end(s, {"outputs": out[lo:hi]})
        else:
            eng.predict(x, out)
            cbs.on_predict_batch_end(nsteps - 1, {"outputs": out})
        cbs.on_predict_end()
        return out

    def predict_on_batch(self, x) -> np.ndarray:
        out = self._predict_ready(x)
        if out is not None:
            return out
        x = self._prepare_x(x, check_finite=False)
        out = np.empty((x.shape[0], self.output_shape[-1]), dtype=np.float32)
        return self._engine(_PREDICT_ROWS, False).predict(x, out)

    # ------------------------------------------------------------------ evaluation
    def _evaluate_arrays(self, x: np.ndarray, y: np.ndarray,
                         sums: np.ndarray | None = None, seen: int = 0) -> dict[str, float]:
        """Loss and metrics over (x, y); with `sums` (from earlier rows, `seen` of them) the
        running means over those rows and these."""
        if x.shape[0] == 0 and not seen:  # a mean over no samples (Keras: an empty list)
            raise ValueError("No samples to evaluate: `x` has 0 rows")
        names = [name for name, _ in self._resolved_metrics()]
        if sums is None:
            sums = np.zeros(1 + len(names), dtype=np.float64)
        self._engine(_PREDICT_ROWS, False).evaluate(x, y, sums)
        n = seen + x.shape[0]
        logs = {"loss": sums[0] / n}
        for i, name in enumerate(names):
            logs[name] = sums[1 + i] / n
        return logs

    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose="auto",
                 sample_weight=None, steps=None, callbacks=None, return_dict: bool = False,
                 **kwargs):
        """Loss and metrics on (x, y): the loss alone, or [loss, *metrics] (Keras's order)."""
        self._require_compiled()
        if sample_weight is not None:
            raise NotImplementedError("evaluate: sample_weight is not supported by annc yet")
        if steps is not None:
            raise NotImplementedError("evaluate: `steps` applies to generators, which annc "
                                      "does not take yet")
        if kwargs:
            raise TypeError(f"evaluate() got unexpected keyword arguments {sorted(kwargs)}")
        batch_size = self._check_batch_size(batch_size)
        x = self._prepare_x(x)
        y = self._prepare_y(y, x.shape[0])
        nsteps = max(1, -(-x.shape[0] // batch_size))
        cbs = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                            verbose=verbose, epochs=1, steps=nsteps)
        return self._format_result(self._test_pass(cbs, x, y, batch_size), return_dict)

    def _sorted_logs(self, logs: dict) -> dict:
        return {k: float(logs[k]) for k in sorted(logs)}

    def _format_result(self, logs: dict, return_dict: bool):
        if return_dict:
            return dict(logs)
        names = self.metrics_names
        if len(names) == 1:
            return float(logs["loss"])
        return [float(logs[name]) for name in names]

    # ------------------------------------------------------------------ training
    def fit(self, x=None, y=None, batch_size: int | None = None, epochs: int = 1, verbose="auto",
            callbacks=None, validation_split: float = 0.0, validation_data=None,
            shuffle: bool = True, class_weight=None, sample_weight=None, initial_epoch: int = 0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None,
            validation_freq: int = 1):
        """Train for `epochs` epochs; returns the History callback (history.history holds the
        per-epoch logs)."""
        compiled = self._require_compiled()
        for arg, val in (("class_weight", class_weight), ("sample_weight", sample_weight),
                         ("steps_per_epoch", steps_per_epoch),
                         ("validation_steps", validation_steps)):
            if val is not None:
                raise NotImplementedError(f"fit: `{arg}` is not supported by annc yet")
        batch_size = self._check_batch_size(batch_size)
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
        if not 0.0 <= float(validation_split) < 1.0:
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
        if shuffle not in (True, False):
            raise NotImplementedError(f"fit: shuffle={shuffle!r} is not supported; use True "
                                      f"or False")
        x = self._prepare_x(x)
        y = self._prepare_y(y, x.shape[0])
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be a tuple (x_val, y_val)")
            if len(validation_data) == 3 and validation_data[2] is not None:
                raise NotImplementedError("fit: validation sample weights are not supported")
            xv = self._prepare_x(validation_data[0], "validation_data[0]")
            val = (xv, self._prepare_y(validation_data[1], xv.shape[0], "validation_data[1]"))
        elif validation_split:
            # Keras takes the last fraction of the data, before any shuffling
            split = int(x.shape[0] * (1.0 - float(validation_split)))
            val = (x[split:], y[split:])
            x, y = x[:split], y[:split]
        n = x.shape[0]
        if n == 0:
            raise ValueError("fit: no training samples (x is empty after the validation split)")
        steps = -(-n // batch_size)

        self.stop_training = False
        cbs = callbacks_module.CallbackList(callbacks, add_history=True,
                                            add_progbar=verbose != 0, model=self,
                                            verbose=verbose, epochs=epochs, steps=steps)
        per_step_hooks = self._needs_batch_hooks(cbs)
        rows = min(batch_size, n)
        eng = self._engine(rows, True)
        opt = compiled.optimizer
        names = ["loss"] + [name for name, _ in self._resolved_metrics()]
        seeds = annc_random.SeedGenerator()  # shuffling and dropout, from the global seed
        self._set_optimizer(eng, opt)
        sums = np.zeros(len(names), dtype=np.float64)
        logs: dict = {}
        train_logs = None  # the last epoch's, validation included: on_train_end's, as Keras
        cbs.on_train_begin()
        try:
            for epoch in range(initial_epoch, epochs):
                cbs.on_epoch_begin(epoch)
                perm = (annc_random.permutation(n, seed=seeds) if shuffle
                        else np.arange(n, dtype=np.int64))
                key, counter = seeds.next()
                eng.bind(x, y, perm)
                sums[:] = 0.0
                seen = 0
                step = 0
                chunk = 1
                while step < steps:
                    if per_step_hooks:
                        chunk = 1
                        cbs.on_train_batch_begin(step)
                    nsteps = min(chunk, steps - step)
                    lrs = self._learning_rates(opt, eng.iterations, nsteps)
                    t0 = time.perf_counter()
                    seen += eng.run_steps(step, nsteps, batch_size, lrs, key, counter, sums)
                    elapsed = time.perf_counter() - t0
                    step += nsteps
                    if not per_step_hooks:
                        # aim each chunk at ~50 ms so the bar and callbacks stay live
                        per = elapsed / nsteps
                        chunk = max(1, min(steps, int(_CHUNK_SECONDS / per) if per > 0 else steps))
                    self._sync_optimizer(eng, opt)
                    logs = {name: sums[i] / seen for i, name in enumerate(names)}
                    cbs.on_train_batch_end(step - 1, self._sorted_logs(logs))
                    if self.stop_training:
                        break
                epoch_logs = dict(logs)
                if val is not None and self._validate_now(epoch, validation_freq):
                    vlogs = self._test_pass(cbs, *val, validation_batch_size or batch_size)
                    epoch_logs.update({f"val_{k}": v for k, v in vlogs.items()})
                train_logs = self._sorted_logs(epoch_logs)
                cbs.on_epoch_end(epoch, dict(train_logs))  # their additions stay in their copy
                if self.stop_training:
                    break
        finally:
            self._sync_optimizer(eng, opt)
        cbs.on_train_end(train_logs)
        return self.history

    def _test_pass(self, cbs, x: np.ndarray, y: np.ndarray, batch_size: int) -> dict[str, float]:
        """Loss and metrics on (x, y) between the test hooks, as evaluate() and fit's
        validation call them."""
        nsteps = max(1, -(-x.shape[0] // batch_size))
        cbs.on_test_begin()
        if nsteps > 1 and self._needs_batch_hooks(cbs, "test"):
            # a callback wants every batch: one call per batch, the running logs after each
            sums = np.zeros(1 + len(self._resolved_metrics()), dtype=np.float64)
            for s in range(nsteps):
                lo, hi = s * batch_size, min(x.shape[0], (s + 1) * batch_size)
                cbs.on_test_batch_begin(s)
                logs = self._sorted_logs(self._evaluate_arrays(x[lo:hi], y[lo:hi], sums, lo))
                cbs.on_test_batch_end(s, logs)
        else:
            cbs.on_test_batch_begin(0)
            logs = self._sorted_logs(self._evaluate_arrays(x, y))
            cbs.on_test_batch_end(nsteps - 1, logs)
        cbs.on_test_end(logs)
        return logs

    @staticmethod
    def _validate_now(epoch: int, validation_freq) -> bool:
        """Keras's validation_freq: every N epochs, or the listed (1-based) epochs."""
        if isinstance(validation_freq, (list, tuple, set, range)):
            return epoch + 1 in validation_freq
        return (epoch + 1) % int(validation_freq) == 0

    @staticmethod
    def _set_optimizer(eng, opt) -> None:
        eng.set_optimizer(opt._c_params(), opt.iterations, getattr(opt, "_u_product", 1.0),
                          clipnorm=opt.clipnorm, global_clipnorm=opt.global_clipnorm,
                          clipvalue=opt.clipvalue)

    @staticmethod
    def _learning_rates(opt, iterations: int, nsteps: int):
        schedule = getattr(opt, "_learning_rate", None)
        if not callable(schedule):
            return float(opt._current_learning_rate())
        if not isinstance(schedule, optimizers.schedules.LearningRateSchedule):
            return float(schedule())  # a zero-argument callable, read once per chunk
        return np.array([float(schedule(iterations + i)) for i in range(nsteps)],
                        dtype=np.float32)

    @staticmethod
    def _sync_optimizer(eng, opt) -> None:
        opt.iterations = int(eng.iterations)
        if hasattr(opt, "_u_product"):
            opt._u_product = float(eng.u_product)

    @staticmethod
    def _needs_batch_hooks(cbs, mode: str = "train") -> bool:
        """Whether a callback other than History/ProgbarLogger wants every step's hooks (then
        steps run one per call; otherwise in chunks, with the hooks between chunks)."""
        hooks = [f"on_{mode}_batch_begin", f"on_{mode}_batch_end"]
        if mode == "train":
            hooks += ["on_batch_begin", "on_batch_end"]
        base = callbacks_module.Callback
        for cb in cbs.callbacks:
            if isinstance(cb, (callbacks_module.History, callbacks_module.ProgbarLogger)):
                continue
            for hook in hooks:
                if hook in getattr(cb, "__dict__", {}) or \
                        getattr(type(cb), hook, None) is not getattr(base, hook, None):
                    return True
        return False

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict: bool = False):
        """One optimizer step on exactly this batch; returns this batch's loss and metrics (Keras
        3 resets the metrics first)."""
        compiled = self._require_compiled()
        if sample_weight is not None or class_weight is not None:
            raise NotImplementedError("train_on_batch: sample/class weights are not supported")
        x = self._prepare_x(x)
        y = self._prepare_y(y, x.shape[0])
        n = x.shape[0]
        if n == 0:
            raise ValueError("train_on_batch: empty batch")
        eng = self._engine(n, True)
        opt = compiled.optimizer
        names = ["loss"] + [name for name, _ in self._resolved_metrics()]
        sums = np.zeros(len(names), dtype=np.float64)
        self._set_optimizer(eng, opt)
        key, counter = annc_random.SeedGenerator().next()
        eng.bind(x, y, np.arange(n, dtype=np.int64))
        seen = eng.run_steps(0, 1, n, self._learning_rates(opt, opt.iterations, 1), key, counter,
                             sums)
        self._sync_optimizer(eng, opt)
        logs = {name: sums[i] / seen for i, name in enumerate(names)}
        return self._format_result(self._sorted_logs(logs), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        self._require_compiled()
        if sample_weight is not None:
            raise NotImplementedError("test_on_batch: sample_weight is not supported")
        x = self._prepare_x(x)
        y = self._prepare_y(y, x.shape[0])
        return self._format_result(
            self._sorted_logs(self._evaluate_arrays(x, y)), return_dict)

    def reset_metrics(self) -> None:
        """Keras's metric reset. annc keeps no metric state between calls: fit and evaluate
        start their sums afresh, and train_on_batch/test_on_batch report their batch alone."""

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        """The architecture as Keras 3 writes it: each layer serialized (module, class name,
        config, and the input shape it was built for), and the model's built input shape."""
        def entry(layer: Layer, built_for=None) -> dict:
            e = {"module": "keras.layers", "class_name": type(layer).__name__,
                 "config": layer.get_config(), "registered_name": None}
            if built_for is not None:
                e["build_config"] = {"input_shape": list(built_for)}
            return e

        layers = [entry(self._input_layer)] if self._input_layer is not None else []
        # Keras records the shape a layer was built for when its class builds weights
        layers += [entry(layer, layer.input_shape if layer.built and layer.weights else None)
                   for layer in self._layers]
        cfg = {**super().get_config(), "layers": layers}
        if self.built:
            cfg["build_input_shape"] = list(self.input_shape)
        return cfg

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Sequential":
        """A new model (fresh weights) from get_config's dict, annc's or Keras 3's."""
        from .. import layers as layers_module

        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for entry in config.get("layers", []):
            name = entry.get("class_name")
            layer_cls = (custom_objects or {}).get(name) or getattr(layers_module, name, None)
            if not (isinstance(layer_cls, type) and issubclass(layer_cls, Layer)):
                raise ValueError(f"Sequential.from_config: unknown layer class {name!r}; annc "
                                 f"has {layers_module.__all__}")
            layer_cfg = dict(entry.get("config", {}))
            if layer_cls is InputLayer and layer_cfg.get("batch_shape") is not None:
                layer_cfg["batch_shape"] = tuple(layer_cfg["batch_shape"])
            model.add(layer_cls.from_config(layer_cfg), rebuild=False)
        shape = config.get("build_input_shape")
        if model._input_layer is None and shape is not None:
            model.build(tuple(shape))
        elif model._input_layer is not None:
            model.build(model._declared_input_shape())
        return model
