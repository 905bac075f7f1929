"""A float64 NumPy reference of a Sequential Dense network's loss (Keras semantics), used to
check the C executor's gradients by central finite differences."""
from __future__ import annotations

import math

import numpy as np

_erf = np.vectorize(math.erf)
SELU_A, SELU_S = 1.6732632423543772, 1.0507009873554805


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


ACTS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: SELU_S * np.where(x > 0, x, SELU_A * np.expm1(np.minimum(x, 0))),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "swish": lambda x: x * _sigmoid(x),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "softmax": lambda x: np.exp(x - x.max(-1, keepdims=True)) /
    np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True),
}

EPS = 1e-7


def per_sample_loss(name: str, pred, y, from_logits=False, delta=1.0):
    if name == "sparse_categorical_crossentropy":
        p = ACTS["softmax"](pred) if from_logits else pred / pred.sum(-1, keepdims=True)
        p = np.clip(p, EPS, 1 - EPS) if not from_logits else p
        return -np.log(p[np.arange(len(y)), y.astype(int)])
    if name == "categorical_crossentropy":
        p = ACTS["softmax"](pred) if from_logits else pred / pred.sum(-1, keepdims=True)
        p = np.clip(p, EPS, 1 - EPS) if not from_logits else p
        return -(y * np.log(p)).sum(-1)
    if name == "binary_crossentropy":
        if from_logits:
            return (np.maximum(pred, 0) - pred * y + np.log1p(np.exp(-np.abs(pred)))).mean(-1)
        p = np.clip(pred, EPS, 1 - EPS)
        return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(-1)
    if name == "mean_squared_error":
        return ((pred - y) ** 2).mean(-1)
    if name == "mean_absolute_error":
        return np.abs(pred - y).mean(-1)
    if name == "huber":
        d = np.abs(pred - y)
        return np.where(d <= delta, 0.5 * d * d, delta * d - 0.5 * delta * delta).mean(-1)
    raise KeyError(name)


def network_loss(layers, params, x, y, loss, from_logits=False):
    """layers: list of (kind, activation, reg[, activity_reg]) with kind 'dense' or 'act';
    params: list of (W, b) per dense layer (float64). Mean loss + regularisation, as Keras
    reports it."""
    h = x
    pi = 0
    penalty = 0.0
    for kind, act, reg, *rest in layers:
        if kind == "dense":
            W, b = params[pi]
            pi += 1
            h = h @ W + (b if b is not None else 0.0)
            if reg is not None:
                penalty += reg[0] * np.abs(W).sum() + reg[1] * (W ** 2).sum()
        h = ACTS[act](h)
        if rest and rest[0] is not None:  # activity regulariser: over the batch, / its size
            penalty += (rest[0][0] * np.abs(h).sum() + rest[0][1] * (h ** 2).sum()) / len(h)
    return per_sample_loss(loss, h, y, from_logits).mean() + penalty


def numeric_grads(layers, params, x, y, loss, from_logits=False, h=1e-6):
    """Central differences of network_loss for every parameter array (None stays None)."""

    def grad(arr):
        if arr is None:
            return None
        out = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + h
            fp = network_loss(layers, params, x, y, loss, from_logits)
            arr[idx] = old - h
            fm = network_loss(layers, params, x, y, loss, from_logits)
            arr[idx] = old
            out[idx] = (fp - fm) / (2 * h)
        return out

    return [(grad(W), grad(b)) for W, b in params]
