"""Side-by-side check of annc against the real Keras 3 on random small models.

Each case builds the same Sequential model (random widths, activations, loss, optimizer,
batch size, L2 and activity penalties, validation split) in annc and in Keras, starts both from the same
weights, trains two epochs with shuffle=False and evaluates; the script compares the weights,
the History and evaluate()'s values. Keras runs in another interpreter (a virtual environment
that has it: annc never depends on Keras), this script in both:

    python benchmarks/keras_parity.py --keras-python /path/to/venv/bin/python [--seed 7] [--cases 24]

Prints one line per case (relative differences) and exits 1 when any case's History or
evaluate() differs by more than --tol (default 1e-4), its weights by more than --wtol (1e-3),
or it logs different History keys. The weights get the looser bound because the adaptive
optimizers (Adam, Adamax, ...) divide by a gradient's own running size: a weight whose
gradient nearly vanishes (a pixel that is rarely lit) moves by a whole step either way on the
last bits of a sum that the two libraries round differently (checked: with SGD such cases
agree within 1e-7).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ACTS = ["relu", "sigmoid", "tanh", "linear", "elu", "selu", "softplus", "softsign", "swish",
        "gelu", "leaky_relu"]
OPTS = ["sgd", "rmsprop", "adam", "adamw", "adagrad", "adadelta", "adamax", "nadam"]
LOSSES = {"scce": "sparse_categorical_crossentropy", "cce": "categorical_crossentropy",
          "bce": "binary_crossentropy", "mse": "mse", "mae": "mae", "huber": "huber"}


def optimizer_options(r) -> dict:
    """Random hyper-parameters for the drawn optimizer (those its constructor takes)."""
    opts: dict = {}
    if r.random() < 0.3:
        opts[["clipnorm", "clipvalue", "global_clipnorm"][int(r.integers(3))]] = 0.05
    return opts


def cases(seed: int, count: int) -> list[dict]:
    """The cases' descriptions, drawn from `seed` (the same in both interpreters)."""
    r = np.random.default_rng(seed)
    out = []
    for i in range(count):
        task = list(LOSSES)[int(r.integers(len(LOSSES)))]
        hidden = [int(r.integers(1, 70)) for _ in range(int(r.integers(0, 3)))]
        # one case in five at Program 2's scale: the executor's K-split layers, zero-skipping
        # products, tail by rows and fused head
        big = bool(r.random() < 0.2)
        if big:
            hidden = [int(r.integers(64, 161))] + hidden[:1]
        opt = OPTS[int(r.integers(len(OPTS)))]
        extra = optimizer_options(r)
        if opt == "sgd" and r.random() < 0.6:
            extra.update(momentum=0.9, nesterov=bool(r.random() < 0.5))
        if opt == "rmsprop" and r.random() < 0.5:
            extra.update(momentum=0.5, centered=True)
        if opt == "adam" and r.random() < 0.5:
            extra.update(amsgrad=True)
        if opt in ("sgd", "adam") and r.random() < 0.3:
            extra.update(weight_decay=0.05)
        out.append({
            "opt_args": extra, "schedule": bool(r.random() < 0.25),
            "image": bool(r.random() < 0.25),  # (n, 2, d/2) inputs through Flatten
            "split_act": bool(r.random() < 0.25),  # the output activation as its own layer
            "logits": bool(r.random() < 0.3),  # a linear output, the loss from_logits
            "seed": 1000 * seed + i,
            "d": int(r.integers(300, 800)) if big else int(r.integers(2, 40)),
            "n": int(r.integers(200, 400)) if big else int(r.integers(10, 120)),
            "batch": int(r.integers(24, 64)) if big else int(r.integers(1, 40)), "hidden": hidden,
            "acts": (["relu"] if big else []) + [ACTS[int(r.integers(len(ACTS)))]
                                                 for _ in hidden[1 if big else 0:]],
            "task": task,
            "k": int(r.integers(2, 7)) if task in ("scce", "cce") else int(r.integers(1, 5)),
            "out_act": {"scce": "softmax", "cce": "softmax", "bce": "sigmoid"}.get(
                task, [None, "tanh", "relu"][int(r.integers(3))]),
            "opt": opt, "l2": bool(r.random() < 0.3),
            "activity": bool(r.random() < 0.3),
        })
    return out


def run(keras, case: dict) -> dict:
    """Train and evaluate one case with the given keras module."""
    rng = np.random.default_rng(case["seed"])
    n, d, k, task = case["n"], case["d"], case["k"], case["task"]
    x = rng.standard_normal((n, d)).astype("float32") * (rng.random((n, d)) > 0.3)
    if task == "scce":
        y = rng.integers(0, k, n)
    elif task == "cce":
        y = np.eye(k, dtype="float32")[rng.integers(0, k, n)]
    elif task == "bce":
        y = (rng.random((n, k)) > 0.5).astype("float32")
    else:
        y = rng.standard_normal((n, k)).astype("float32")
    reg = (lambda: keras.regularizers.l2(0.01)) if case["l2"] else (lambda: None)
    act = ((lambda: keras.regularizers.l1_l2(0.01, 0.02)) if case["activity"]
           else (lambda: None))
    d2 = d + d % 2
    if case["image"]:
        x = np.concatenate([x, np.zeros((n, d2 - d), "float32")], 1).reshape(n, 2, d2 // 2)
        layers = [keras.Input((2, d2 // 2)), keras.layers.Flatten()]
    else:
        layers = [keras.Input((d,))]
    layers += [keras.layers.Dense(h, activation=a, kernel_regularizer=reg(),
                                  activity_regularizer=act())
               for h, a in zip(case["hidden"], case["acts"])]
    logits = case["logits"] and task in ("scce", "cce", "bce")
    out_act = None if logits else case["out_act"]
    if case["split_act"] and out_act:
        layers += [keras.layers.Dense(k, activity_regularizer=act()),
                   keras.layers.Activation(out_act)]
    else:
        layers.append(keras.layers.Dense(k, activation=out_act, activity_regularizer=act()))
    model = keras.Sequential(layers)
    lr = 0.01 if case["opt"] == "sgd" else 0.001  # Keras's default rates
    if case["schedule"]:
        lr = keras.optimizers.schedules.ExponentialDecay(lr * 10, 3, 0.7)
    optimizer = keras.optimizers.get(case["opt"]).__class__(learning_rate=lr, **case["opt_args"])
    loss = {"scce": keras.losses.SparseCategoricalCrossentropy,
            "cce": keras.losses.CategoricalCrossentropy,
            "bce": keras.losses.BinaryCrossentropy}[task](from_logits=True) if logits \
        else LOSSES[task]
    model.compile(optimizer=optimizer, loss=loss,
                  metrics=["accuracy"] if task in ("scce", "cce", "bce") else ["mae"])
    # scaled by fan-in, so that no unit starts saturated: Adam-like updates turn the last
    # bits of a vanishing gradient into whole steps, and the two libraries' sums, equal to a
    # float's rounding, would part for that reason alone
    model.set_weights([(rng.standard_normal(w.shape) / np.sqrt(w.shape[0] if w.ndim > 1 else 100)
                        ).astype("float32") for w in model.get_weights()])
    hist = model.fit(x, y, batch_size=case["batch"], epochs=2, shuffle=False, verbose=0,
                     validation_split=0.2 if n > 30 else 0.0)
    ev = model.evaluate(x, y, batch_size=case["batch"], verbose=0)
    return {"w": [w.tolist() for w in model.get_weights()],
            "h": {name: [float(v) for v in vals] for name, vals in hist.history.items()},
            "ev": [float(v) for v in np.atleast_1d(ev)]}


def relative(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / (1.0 + np.abs(a)))) if a.size else 0.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keras-python", help="an interpreter that can import keras")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cases", type=int, default=24)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--wtol", type=float, default=1e-3)
    ap.add_argument("--side", choices=["annc", "keras"], help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    todo = cases(args.seed, args.cases)
    if args.side:  # one interpreter's half: results to --out
        if args.side == "keras":
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            import keras
        else:
            import annc as keras
        with open(args.out, "w") as f:
            json.dump([run(keras, c) for c in todo], f)
        return 0
    if not args.keras_python:
        ap.error("--keras-python is required (a virtual environment with Keras 3)")
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for side, python in (("annc", sys.executable), ("keras", args.keras_python)):
            path = os.path.join(tmp, side + ".json")
            subprocess.run([python, os.path.abspath(__file__), "--side", side, "--out", path,
                            "--seed", str(args.seed), "--cases", str(args.cases)], check=True,
                           stderr=subprocess.DEVNULL if side == "keras" else None)
            with open(path) as f:
                results[side] = json.load(f)
    bad = 0
    for c, a, k in zip(todo, results["annc"], results["keras"]):
        dw = max(relative(p, q) for p, q in zip(k["w"], a["w"]))
        same_keys = sorted(k["h"]) == sorted(a["h"])
        dh = max((relative(k["h"][m], a["h"][m]) for m in k["h"] if m in a["h"]), default=0.0)
        de = relative(k["ev"], a["ev"])
        ok = same_keys and max(dh, de) <= args.tol and dw <= args.wtol
        bad += not ok
        flags = [name for name in ("l2", "activity", "schedule", "image", "split_act", "logits")
                 if c[name]]
        print(f"{'ok ' if ok else 'BAD'} {c['task']:5s} {c['out_act'] or 'linear':8s} {c['opt']:8s} "
              f"{c['opt_args']} d{c['d']} n{c['n']} batch {c['batch']} hidden {c['hidden']} "
              f"{c['acts']} {flags}: weights {dw:.1e}, history {dh:.1e}, evaluate {de:.1e}"
              + ("" if same_keys else f", keys {sorted(a['h'])} vs {sorted(k['h'])}"))
    print(f"{len(todo) - bad}/{len(todo)} cases agree (logs within {args.tol:g}, weights within "
          f"{args.wtol:g})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
