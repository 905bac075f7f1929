"""Every optimizer and option combination against a float64 NumPy transcription of Keras 3's
update formulas (keras/src/optimizers/*.py), plus the chunk-safety of the C update."""
from __future__ import annotations

import math

import numpy as np
import pytest

from annc import _core
from annc import optimizers as O
from annc.optimizers import schedules


# ---------------------------------------------------------------- float64 reference (Keras 3)
class Reference:
    """Keras 3's update rules written out in float64, one state dict per variable."""

    def __init__(self, kind: str, learning_rate=0.001, weight_decay=None, **hp):
        self.kind = kind
        self.lr = learning_rate
        self.wd = weight_decay
        self.hp = hp
        self.t = 0  # optimizer.iterations
        self.u_product = 1.0
        self.state: list[dict] = []

    def lr_now(self) -> float:
        lr = self.lr
        return float(lr(self.t)) if callable(lr) else float(lr)

    def step(self, ws: list[np.ndarray], gs: list[np.ndarray]) -> None:
        hp, lr = self.hp, self.lr_now()
        if not self.state:
            init = hp.get("initial_accumulator_value", 0.1) if self.kind == "adagrad" else 0.0
            self.state = [
                {k: np.full(w.shape, init if k == "acc" else 0.0) for k in ("m", "v", "vh", "a", "acc", "ag", "adv", "u")}
                for w in ws
            ]
        local_step = self.t + 1
        if self.kind == "nadam":
            b1 = hp.get("beta_1", 0.9)
            self.u_product *= b1 * (1.0 - 0.5 * 0.96**local_step)
        for w, g, st in zip(ws, gs, self.state):
            if self.wd is not None:
                w -= w * self.wd * lr
            getattr(self, "_" + self.kind)(w, g, st, lr, local_step)
        self.t += 1

    def _sgd(self, w, g, st, lr, t):
        mom, nesterov = self.hp.get("momentum", 0.0), self.hp.get("nesterov", False)
        if mom != 0:
            st["m"][...] = st["m"] * mom - g * lr
            if nesterov:
                w += st["m"] * mom - g * lr
            else:
                w += st["m"]
        else:
            w -= g * lr

    def _rmsprop(self, w, g, st, lr, t):
        rho, mom = self.hp.get("rho", 0.9), self.hp.get("momentum", 0.0)
        eps, centered = self.hp.get("epsilon", 1e-7), self.hp.get("centered", False)
        st["v"][...] = rho * st["v"] + (1 - rho) * g**2
        if centered:
            st["a"][...] = rho * st["a"] + (1 - rho) * g
            denom = st["v"] - st["a"] ** 2 + eps
        else:
            denom = st["v"] + eps
        inc = lr * g / np.sqrt(denom)
        if mom > 0:
            st["m"][...] = mom * st["m"] + inc
            w -= st["m"]
        else:
            w -= inc

    def _adam(self, w, g, st, lr, t):
        b1, b2 = self.hp.get("beta_1", 0.9), self.hp.get("beta_2", 0.999)
        eps, amsgrad = self.hp.get("epsilon", 1e-7), self.hp.get("amsgrad", False)
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        st["m"] += (g - st["m"]) * (1 - b1)
        st["v"] += (g**2 - st["v"]) * (1 - b2)
        v = st["v"]
        if amsgrad:
            st["vh"][...] = np.maximum(st["vh"], st["v"])
            v = st["vh"]
        w -= st["m"] * alpha / (np.sqrt(v) + eps)

    _adamw = _adam

    def _adagrad(self, w, g, st, lr, t):
        eps = self.hp.get("epsilon", 1e-7)
        st["acc"] += g**2
        w -= lr * g / np.sqrt(st["acc"] + eps)

    def _adadelta(self, w, g, st, lr, t):
        rho, eps = self.hp.get("rho", 0.95), self.hp.get("epsilon", 1e-7)
        st["ag"][...] = rho * st["ag"] + (1 - rho) * g**2
        delta = -(np.sqrt(st["adv"] + eps) * g) / np.sqrt(st["ag"] + eps)
        st["adv"][...] = rho * st["adv"] + (1 - rho) * delta**2
        w += lr * delta

    def _adamax(self, w, g, st, lr, t):
        b1, b2, eps = self.hp.get("beta_1", 0.9), self.hp.get("beta_2", 0.999), self.hp.get("epsilon", 1e-7)
        st["m"] += (g - st["m"]) * (1 - b1)
        st["u"][...] = np.maximum(b2 * st["u"], np.abs(g))
        w -= lr * st["m"] / ((1 - b1**t) * (st["u"] + eps))

    def _nadam(self, w, g, st, lr, t):
        b1, b2, eps = self.hp.get("beta_1", 0.9), self.hp.get("beta_2", 0.999), self.hp.get("epsilon", 1e-7)
        u_t = b1 * (1.0 - 0.5 * 0.96**t)
        u_t1 = b1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        u_prod_t = self.u_product
        u_prod_t1 = u_prod_t * u_t1
        st["m"] += (g - st["m"]) * (1 - b1)
        st["v"] += (g**2 - st["v"]) * (1 - b2)
        m_hat = u_t1 * st["m"] / (1 - u_prod_t1) + (1 - u_t) * g / (1 - u_prod_t)
        v_hat = st["v"] / (1 - b2**t)
        w -= m_hat * lr / (np.sqrt(v_hat) + eps)

    def slots(self, i: int) -> list[np.ndarray]:
        """The reference state in annc's slot order (csrc/optim.c)."""
        st, hp = self.state[i], self.hp
        k = self.kind
        if k == "sgd":
            return [st["m"]] if hp.get("momentum", 0.0) != 0 else []
        if k == "rmsprop":
            out = [st["v"]]
            if hp.get("momentum", 0.0) > 0:
                out.append(st["m"])
            if hp.get("centered", False):
                out.append(st["a"])
            return out
        if k in ("adam", "adamw"):
            return [st["m"], st["v"]] + ([st["vh"]] if hp.get("amsgrad", False) else [])
        if k == "adagrad":
            return [st["acc"]]
        if k == "adadelta":
            return [st["ag"], st["adv"]]
        if k == "adamax":
            return [st["m"], st["u"]]
        return [st["m"], st["v"]]


CLASSES = {
    "sgd": O.SGD, "rmsprop": O.RMSprop, "adam": O.Adam, "adamw": O.AdamW, "adagrad": O.Adagrad,
    "adadelta": O.Adadelta, "adamax": O.Adamax, "nadam": O.Nadam,
}

# (kind, hyper-parameters): Keras defaults, every option, and large epsilons so that where
# epsilon sits (inside or outside the root) is visible in the result
CONFIGS = [
    ("sgd", {}),
    ("sgd", {"learning_rate": 0.1}),
    ("sgd", {"learning_rate": 0.05, "momentum": 0.9}),
    ("sgd", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    ("sgd", {"learning_rate": 0.05, "momentum": 0.0, "nesterov": True}),
    ("rmsprop", {}),
    ("rmsprop", {"learning_rate": 0.01, "rho": 0.8, "epsilon": 0.1}),
    ("rmsprop", {"learning_rate": 0.01, "momentum": 0.5}),
    ("rmsprop", {"learning_rate": 0.01, "centered": True}),
    ("rmsprop", {"learning_rate": 0.01, "momentum": 0.7, "centered": True, "epsilon": 0.05}),
    ("adam", {}),
    ("adam", {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 0.1}),
    ("adam", {"learning_rate": 0.01, "amsgrad": True}),
    ("adamw", {}),
    ("adamw", {"learning_rate": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("adagrad", {}),
    ("adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5, "epsilon": 0.1}),
    ("adadelta", {}),
    ("adadelta", {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-3}),
    ("adamax", {}),
    ("adamax", {"learning_rate": 0.01, "beta_1": 0.7, "beta_2": 0.95, "epsilon": 0.1}),
    ("nadam", {}),
    ("nadam", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 0.1}),
]


def _ids(cfg):
    kind, hp = cfg
    return kind + ("-" + "-".join(f"{k}={v}" for k, v in hp.items()) if hp else "-defaults")


def _problem(seed: int, steps: int):
    rng = np.random.default_rng(seed)
    shapes = [(7, 5), (13,), (2, 3, 4)]
    ws = [rng.normal(size=s).astype(np.float32) for s in shapes]
    # gradients of varying scale, so bias corrections and moving averages are exercised
    gs = [[(rng.normal(size=s) * rng.uniform(0.1, 3.0)).astype(np.float32) for s in shapes] for _ in range(steps)]
    return ws, gs


def _run(kind, hp, steps=6, seed=0, weight_decay_extra=None):
    hp = dict(hp)
    if weight_decay_extra is not None:
        hp["weight_decay"] = weight_decay_extra
    ws, gs = _problem(seed, steps)
    opt = CLASSES[kind](**hp)
    ref_hp = {k: v for k, v in hp.items() if k not in ("learning_rate", "weight_decay")}
    lr = hp.get("learning_rate", opt.get_config()["learning_rate"])
    wd = opt.weight_decay
    ref = Reference(kind, learning_rate=lr, weight_decay=wd, **ref_hp)
    ref_ws = [w.astype(np.float64) for w in ws]
    for step in range(steps):
        opt.apply(gs[step], ws)
        ref.step(ref_ws, [g.astype(np.float64) for g in gs[step]])
    return opt, ref, ws, ref_ws


def _check(opt, ref, ws, ref_ws, steps=6):
    assert opt.iterations == steps
    for i, (w, rw) in enumerate(zip(ws, ref_ws)):
        np.testing.assert_allclose(w, rw, rtol=2e-5, atol=2e-6, err_msg=f"variable {i}")
        ref_slots = ref.slots(i)
        assert len(opt._slots[i]) == len(ref_slots) == opt._num_slots()
        for j, (s, rs) in enumerate(zip(opt._slots[i], ref_slots)):
            np.testing.assert_allclose(s, rs, rtol=5e-5, atol=1e-6, err_msg=f"variable {i} slot {j}")
    if ref.kind == "nadam":
        assert opt._u_product == pytest.approx(ref.u_product, rel=1e-6)  # beta_1 travels as float32


@pytest.mark.parametrize("cfg", CONFIGS, ids=[_ids(c) for c in CONFIGS])
def test_matches_keras_formulas(cfg):
    kind, hp = cfg
    opt, ref, ws, ref_ws = _run(kind, hp)
    _check(opt, ref, ws, ref_ws)
    # the update must actually move the weights measurably, or the comparison proves nothing
    ws0, _ = _problem(0, 6)
    assert max(float(np.max(np.abs(w - w0))) for w, w0 in zip(ws, ws0)) > 4e-6  # 2x atol


@pytest.mark.parametrize("cfg", CONFIGS, ids=[_ids(c) for c in CONFIGS])
def test_weight_decay_matches_keras(cfg):
    kind, hp = cfg
    if kind == "adamw":
        pytest.skip("AdamW always decays; covered by test_matches_keras_formulas")
    opt, ref, ws, ref_ws = _run(kind, hp, weight_decay_extra=0.05)
    _check(opt, ref, ws, ref_ws)


@pytest.mark.parametrize("kind", ["sgd", "adam", "nadam", "rmsprop"])
def test_schedule_learning_rate_matches_keras(kind):
    sched = schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.5)
    hp = {"learning_rate": sched}
    if kind == "sgd":
        hp["momentum"] = 0.9
    opt, ref, ws, ref_ws = _run(kind, hp)
    _check(opt, ref, ws, ref_ws)
    assert opt.learning_rate == pytest.approx(0.05 * 0.5 ** (6 / 2))


def test_sgd_weight_decay_one_step_by_hand():
    w = np.array([1.0, -2.0, 4.0], np.float32)
    g = np.array([0.5, 0.5, -1.0], np.float32)
    opt = O.SGD(learning_rate=0.1, weight_decay=0.2)
    opt.apply([g], [w])
    expected = np.array([1.0, -2.0, 4.0]) * (1 - 0.2 * 0.1) - 0.1 * np.array([0.5, 0.5, -1.0])
    np.testing.assert_allclose(w, expected, rtol=1e-6)


def test_nadam_u_product_bookkeeping():
    opt = O.Nadam(beta_1=0.9)
    w, g = np.zeros(4, np.float32), np.ones(4, np.float32)
    expected = 1.0
    for t in range(1, 8):
        opt.apply([g], [w])
        expected *= 0.9 * (1 - 0.5 * 0.96**t)
        assert opt._u_product == pytest.approx(expected, rel=1e-6)


# ---------------------------------------------------------------- chunk safety
CHUNK_CONFIGS = CONFIGS + [
    ("sgd", {"learning_rate": 0.05, "momentum": 0.9, "weight_decay": 0.01}),
    ("rmsprop", {"learning_rate": 0.01, "momentum": 0.7, "centered": True, "weight_decay": 0.01}),
    ("nadam", {"weight_decay": 0.02}),
]


@pytest.mark.parametrize("split", [1, 7, 501, 1036])
@pytest.mark.parametrize("cfg", CHUNK_CONFIGS, ids=[_ids(c) for c in CHUNK_CONFIGS])
def test_chunked_apply_is_bit_identical(cfg, split):
    """Two halves (any split, aligned or not) give exactly the whole-array update: the engine
    applies slabs in chunks from several threads."""
    kind, hp = cfg
    n = 1037
    rng = np.random.default_rng(3)
    opt = CLASSES[kind](**hp)
    params = opt._c_params()
    inits = [opt._slot_initial_value(j) for j in range(opt._num_slots())]
    w_whole = rng.normal(size=n).astype(np.float32)
    w_split = w_whole.copy()
    s_whole = [np.full(n, v, np.float32) for v in inits]
    s_split = [s.copy() for s in s_whole]
    u_whole = u_split = 1.0
    for it in range(4):
        g = (rng.normal(size=n) * 2).astype(np.float32)
        u_whole_next = _core.opt_apply(params, it, u_whole, w_whole, g, s_whole)
        u_a = _core.opt_apply(params, it, u_split, w_split[split:], g[split:], [s[split:] for s in s_split])
        u_b = _core.opt_apply(params, it, u_split, w_split[:split], g[:split], [s[:split] for s in s_split])
        assert u_a == u_b == u_whole_next
        u_whole, u_split = u_whole_next, u_a
    assert np.array_equal(w_whole, w_split)
    for a, b in zip(s_whole, s_split):
        assert np.array_equal(a, b)


def test_slab_apply_equals_per_variable_apply():
    """What the engine does (one call over a slab of all parameters) equals apply()."""
    ws, gs = _problem(5, 4)
    opt = O.Adam(learning_rate=0.01, amsgrad=True, weight_decay=0.01)
    slab = np.concatenate([w.ravel() for w in ws])
    slots = [np.zeros_like(slab) for _ in range(opt._num_slots())]
    engine = O.Adam(learning_rate=0.01, amsgrad=True, weight_decay=0.01)
    for step in range(4):
        opt.apply(gs[step], ws)
        gslab = np.concatenate([g.ravel() for g in gs[step]])
        engine._u_product = _core.opt_apply(engine._c_params(), engine.iterations, engine._u_product, slab, gslab, slots)
        engine.iterations += 1
    assert np.array_equal(slab, np.concatenate([w.ravel() for w in ws]))


# ---------------------------------------------------------------- plain RMSprop's precision
def test_default_rmsprop_increment_is_accurate_to_2_pow_minus_20():
    """The AVX2 build takes 1/sqrt(v + eps) from the hardware estimate plus one Newton step: the
    increment must still be lr*g/sqrt(v+eps) to ~2^-22 (a raw estimate is off by ~2^-12), over
    gradients and velocities across many magnitudes and every lane of the masked tail."""
    rng = np.random.default_rng(11)
    n = 4099
    g = (rng.normal(size=n) * 10.0 ** rng.uniform(-6, 3, size=n)).astype(np.float32)
    v0 = (10.0 ** rng.uniform(-12, 4, size=n)).astype(np.float32)
    opt = O.RMSprop(learning_rate=0.01)
    params = opt._c_params()
    w = np.zeros(n, np.float32)  # w = 0 - inc holds the increment exactly
    v = v0.copy()
    _core.opt_apply(params, 0, 1.0, w, g, [v])
    rho, omr = float(np.float32(0.9)), float(np.float32(0.1))  # as float32 carries them
    v_ref = rho * v0.astype(np.float64) + omr * g.astype(np.float64) ** 2
    np.testing.assert_allclose(v, v_ref, rtol=4e-7)  # three roundings
    lr, eps = float(np.float32(0.01)), float(np.float32(1e-7))
    inc_ref = lr * g.astype(np.float64) / np.sqrt(v.astype(np.float64) + eps)
    rel = np.abs(-w.astype(np.float64) - inc_ref) / np.abs(inc_ref)
    assert float(rel.max()) < 2.0**-20, float(rel.max())


def test_default_rmsprop_moves_weights_within_an_ulp_of_the_float32_formula():
    """w - lr*g/sqrt(v+eps) with every operation correctly rounded in float32 (what the portable
    build computes) and the AVX2 build differ by at most one unit in the last place of the
    largest of the final subtraction's operands and result."""
    rng = np.random.default_rng(12)
    n = 1031
    w0 = (rng.normal(size=n) * 0.05).astype(np.float32)
    g = (rng.normal(size=n) * 0.1).astype(np.float32)
    v = (rng.uniform(0, 0.01, size=n)).astype(np.float32)
    opt = O.RMSprop()
    w = w0.copy()
    _core.opt_apply(opt._c_params(), 0, 1.0, w, g, [v])  # v is the new velocity after this
    inc32 = (np.float32(1e-3) * g) / np.sqrt(v + np.float32(1e-7))
    w32 = w0 - inc32
    ulp = np.spacing(np.maximum(np.maximum(np.abs(w0), np.abs(inc32)), np.abs(w32)))
    assert np.all(np.abs(w - w32) <= ulp)
    assert np.count_nonzero(w != w32) < n // 4  # mostly identical


def test_default_rmsprop_keeps_the_formulas_answers_at_overflow_and_nan():
    """An overflowing g^2 makes v infinite: lr*g/sqrt(inf) is a zero step (w unchanged), as the
    formula says; an infinite g gives NaN (inf/inf), and so does a NaN velocity."""
    w = np.ones(11, np.float32)
    g = np.array([1e20, -1e20, np.inf, 1.0, 1.0, 1e20, 0.5, 0.5, 0.5, 0.5, 1e20], np.float32)
    v = np.zeros(11, np.float32)
    v[3] = np.nan
    _core.opt_apply(O.RMSprop()._c_params(), 0, 1.0, w, g, [v])
    assert w[0] == w[1] == w[5] == w[10] == 1.0  # tail lanes (masked) too
    assert np.isnan(w[2]) and np.isnan(w[3])
    assert np.all(np.isfinite(w[6:10])) and np.all(w[6:10] < 1.0)
