"""Keras 3 API surface of annc.optimizers: defaults, lookup, (de)serialization, errors, clipping,
schedules, the binding's validation and the hooks the training engine uses."""
from __future__ import annotations

import inspect
import math
import re

import numpy as np
import pytest

from annc import _core
from annc import optimizers as O
from annc.optimizers import schedules

BASE_DEFAULTS = {
    "weight_decay": None,
    "clipnorm": None,
    "global_clipnorm": None,
    "clipvalue": None,
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}

# Keras 3's defaults (keras.io/api/optimizers/*); the names as Keras 3.15 gives an unnamed
# optimizer, a per-name counter's suffix after the first ('sgd', 'sgd_1', ...)
KERAS_DEFAULTS = {
    O.SGD: {"name": "sgd", "learning_rate": 0.01, "momentum": 0.0, "nesterov": False},
    O.RMSprop: {"name": "rm_sprop", "learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False},
    O.Adam: {"name": "adam", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False},
    O.AdamW: {"name": "adam_w", "learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False},
    O.Adagrad: {"name": "adagrad", "learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7},
    O.Adadelta: {"name": "adadelta", "learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7},
    O.Adamax: {"name": "adamax", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
    O.Nadam: {"name": "nadam", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
}
NAMES = ["sgd", "rmsprop", "adam", "adamw", "adagrad", "adadelta", "adamax", "nadam"]


@pytest.mark.parametrize("cls", list(KERAS_DEFAULTS), ids=lambda c: c.__name__)
def test_defaults_match_keras(cls):
    expected = dict(BASE_DEFAULTS)
    expected.update(KERAS_DEFAULTS[cls])
    got = cls().get_config()
    assert re.fullmatch(re.escape(expected.pop("name")) + r"(_\d+)?", got.pop("name"))
    assert got == expected
    params = inspect.signature(cls.__init__).parameters
    for key in set(BASE_DEFAULTS) | {"learning_rate", "name"}:
        assert key in params, key
    assert params["learning_rate"].default == KERAS_DEFAULTS[cls]["learning_rate"]


@pytest.mark.parametrize("cls", list(KERAS_DEFAULTS), ids=lambda c: c.__name__)
def test_config_round_trip(cls):
    opt = cls(learning_rate=0.123, clipnorm=2.0)
    clone = cls.from_config(opt.get_config())
    assert type(clone) is cls and clone.get_config() == opt.get_config()
    clone = O.deserialize(O.serialize(opt))
    assert type(clone) is cls and clone.get_config() == opt.get_config()


def test_config_round_trip_with_schedule():
    sched = schedules.ExponentialDecay(0.1, decay_steps=100, decay_rate=0.9, staircase=True)
    opt = O.SGD(learning_rate=sched, momentum=0.9)
    config = opt.get_config()
    assert config["learning_rate"]["class_name"] == "ExponentialDecay"
    clone = O.SGD.from_config(config)
    assert isinstance(clone._learning_rate, schedules.ExponentialDecay)
    assert clone._learning_rate.get_config() == sched.get_config()


# ---------------------------------------------------------------- lookup
@pytest.mark.parametrize("name", NAMES + ["Adam", "ADAMW", "RMSprop", "SGD", "NaDaM"])
def test_get_by_name_is_case_insensitive(name):
    opt = O.get(name)
    assert type(opt).__name__.lower() == name.lower()


def test_get_instance_dict_none_and_errors():
    opt = O.Adam()
    assert O.get(opt) is opt
    assert O.get(None) is None
    assert isinstance(O.get({"class_name": "RMSprop", "config": {"rho": 0.5}}), O.RMSprop)
    assert O.get({"class_name": "rmsprop", "config": {"rho": 0.5}}).rho == 0.5
    with pytest.raises(ValueError) as exc:
        O.get("adamm")
    for name in NAMES:
        assert name in str(exc.value)
    with pytest.raises(ValueError, match="Could not interpret"):
        O.get(42)
    with pytest.raises(ValueError, match="Unknown optimizer"):
        O.deserialize({"class_name": "Lion", "config": {}})


# ---------------------------------------------------------------- arguments
def test_lr_alias_and_decay():
    assert O.SGD(lr=0.5).learning_rate == 0.5
    assert O.Adam(lr=0.02).get_config()["learning_rate"] == 0.02
    with pytest.raises(ValueError, match="once"):
        O.Adam(lr=0.1, learning_rate=0.2)
    with pytest.warns(UserWarning, match="decay.*InverseTimeDecay"):
        opt = O.SGD(learning_rate=0.1, decay=1e-6)
    assert opt.learning_rate == 0.1
    with pytest.raises(ValueError, match="not recognized"):
        O.Adam(beta1=0.9)


def test_unsupported_options_raise():
    with pytest.raises(NotImplementedError, match="use_ema"):
        O.Adam(use_ema=True)
    with pytest.raises(NotImplementedError, match="gradient_accumulation_steps"):
        O.Adam(gradient_accumulation_steps=4)
    with pytest.raises(ValueError, match=">= 2"):
        O.Adam(gradient_accumulation_steps=1)
    with pytest.raises(ValueError, match="ema_momentum"):
        O.Adam(use_ema=True, ema_momentum=2.0)


def test_argument_validation():
    with pytest.raises(ValueError, match="Only one of"):
        O.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        O.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match="momentum"):
        O.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="learning_rate"):
        O.Adam(learning_rate="fast")
    with pytest.raises(ValueError, match="learning_rate"):
        O.Adam(learning_rate=None)


def test_learning_rate_property_and_setter():
    opt = O.RMSprop(learning_rate=0.01)
    assert isinstance(opt.learning_rate, float) and opt.learning_rate == 0.01
    opt.learning_rate = 0.003  # what LearningRateScheduler does
    assert opt.learning_rate == 0.003 and opt._c_params()["learning_rate"] == 0.003
    opt.learning_rate = np.float32(0.5)
    assert opt.learning_rate == pytest.approx(0.5)
    assert opt.lr == opt.learning_rate  # Keras 2 name
    sched = schedules.InverseTimeDecay(1.0, decay_steps=1, decay_rate=0.5)
    opt = O.SGD(learning_rate=sched)
    assert opt.learning_rate == 1.0
    opt.iterations = 4
    assert opt.learning_rate == pytest.approx(1.0 / 3.0)
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.1
    opt = O.SGD(learning_rate=lambda: 0.25)
    assert opt.learning_rate == 0.25


# ---------------------------------------------------------------- apply
def test_apply_gradients_and_build():
    w1, w2 = np.ones((3, 2), np.float32), np.ones(4, np.float32)
    opt = O.SGD(learning_rate=0.5, momentum=0.9)
    assert [v.shape for v in opt.variables] == [(), ()]  # iterations, learning_rate
    assert opt.apply_gradients([(np.ones((3, 2)), w1), (np.full(4, 2.0), w2)]) == 1
    np.testing.assert_allclose(w1, 0.5)
    np.testing.assert_allclose(w2, 0.0)
    # Keras' order: all momentums (one per variable) ...
    assert [v.shape for v in opt.variables[2:]] == [(3, 2), (4,)]
    assert int(opt.variables[0]) == 1 and float(opt.variables[1]) == 0.5
    opt.apply([np.zeros((3, 2), np.float32), np.zeros(4, np.float32)])  # built: variables implied
    np.testing.assert_allclose(w1, 0.5 - 0.9 * 0.5, rtol=1e-6)
    assert opt.iterations == 2
    adam = O.Adam()
    adam.build([w1, w2])
    assert [v.shape for v in adam.variables[2:]] == [(3, 2), (4,), (3, 2), (4,)]
    ada = O.Adagrad(initial_accumulator_value=0.3)
    ada.build([w1])
    assert np.all(ada.variables[2] == np.float32(0.3))
    sched = O.SGD(learning_rate=O.schedules.ExponentialDecay(0.1, 10, 0.5))
    assert [v.shape for v in sched.variables] == [()]  # a schedule is not a variable


def test_apply_errors():
    w = np.ones(3, np.float32)
    opt = O.Adam()
    with pytest.raises(ValueError, match="build"):
        opt.apply([np.ones(3)])
    with pytest.raises(TypeError, match="float32"):
        O.Adam().apply([np.ones(3)], [np.ones(3)])
    with pytest.raises(ValueError, match="shape"):
        O.Adam().apply([np.ones(4)], [w])
    opt.apply([np.ones(3)], [w])
    with pytest.raises(ValueError, match="Unknown variable"):
        opt.apply([np.ones(3)], [np.ones(3, np.float32)])
    with pytest.raises(ValueError, match="No gradients"):
        opt.apply([None], [w])
    w, w2 = np.ones(3, np.float32), np.ones(2, np.float32)
    opt = O.SGD(learning_rate=1.0)
    with pytest.warns(UserWarning, match="Gradients do not exist"):
        opt.apply([None, np.ones(2)], [w, w2])
    np.testing.assert_allclose(w, 1.0)
    np.testing.assert_allclose(w2, 0.0)
    opt.apply([], [])  # Keras: empty gradient list is a no-op


def test_custom_python_optimizer():
    class HalfStep(O.Optimizer):
        def __init__(self, learning_rate=0.1, **kwargs):
            super().__init__(learning_rate=learning_rate, **kwargs)

        def update_step(self, gradient, variable, learning_rate):
            variable -= 0.5 * learning_rate * gradient

    w = np.ones(3, np.float32)
    opt = HalfStep(weight_decay=0.1)
    assert opt.name == "half_step"
    opt.apply([np.ones(3)], [w])
    np.testing.assert_allclose(w, 1 - 0.1 * 0.1 - 0.05, rtol=1e-6)
    with pytest.raises(NotImplementedError):
        opt._c_params()


def test_loss_scale_factor_unscales_gradients():
    w = np.ones(2, np.float32)
    opt = O.SGD(learning_rate=1.0, loss_scale_factor=8.0)
    assert opt.scale_loss(2.0) == 16.0
    opt.apply([np.full(2, 8.0)], [w])
    np.testing.assert_allclose(w, 0.0)


# ---------------------------------------------------------------- clipping (Keras semantics)
def _sgd_step(grads, **kw):
    ws = [np.zeros(g.shape, np.float32) for g in grads]
    opt = O.SGD(learning_rate=1.0, **kw)
    originals = [g.copy() for g in grads]
    opt.apply(grads, ws)
    for g, o in zip(grads, originals):
        assert np.array_equal(g, o), "the caller's gradients must not be modified"
    return [-w for w in ws]  # the gradients after clipping


def test_clipnorm_per_gradient():
    g1 = np.array([3.0, 4.0], np.float32)  # norm 5
    g2 = np.array([0.3, 0.4], np.float32)  # norm 0.5: untouched
    c1, c2 = _sgd_step([g1, g2], clipnorm=1.0)
    np.testing.assert_allclose(c1, g1 / 5.0, rtol=1e-6)
    np.testing.assert_allclose(c2, g2, rtol=1e-6)
    (z,) = _sgd_step([np.zeros(3, np.float32)], clipnorm=1.0)
    assert np.all(z == 0)


def test_global_clipnorm():
    g1 = np.array([3.0, 0.0], np.float32)
    g2 = np.array([[0.0], [4.0]], np.float32)  # global norm 5
    c1, c2 = _sgd_step([g1, g2], global_clipnorm=2.5)
    np.testing.assert_allclose(c1, g1 * 0.5, rtol=1e-6)
    np.testing.assert_allclose(c2, g2 * 0.5, rtol=1e-6)
    c1, c2 = _sgd_step([g1, g2], global_clipnorm=10.0)
    np.testing.assert_allclose(c1, g1)
    c1, c2 = _sgd_step([np.array([np.inf, 1.0], np.float32), g2], global_clipnorm=1.0)
    assert np.all(np.isnan(c1)) and np.all(np.isnan(c2))


def test_clipvalue():
    g = np.array([-3.0, -0.5, 0.2, 7.0], np.float32)
    (c,) = _sgd_step([g], clipvalue=1.0)
    np.testing.assert_allclose(c, [-1.0, -0.5, 0.2, 1.0])


def test_clipping_config_round_trip():
    assert O.Adam(global_clipnorm=1.5).get_config()["global_clipnorm"] == 1.5
    assert O.Adam(clipvalue=0.5).clipvalue == 0.5


# ---------------------------------------------------------------- schedules vs their formulas
STEPS = [0, 1, 5, 10, 33, 100, 1000]


@pytest.mark.parametrize("step", STEPS)
def test_schedules_match_formulas(step):
    s = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert s(step) == pytest.approx(0.1 * 0.5 ** (step / 10))
    s = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert s(step) == pytest.approx(0.1 * 0.5 ** (step // 10))
    s = schedules.InverseTimeDecay(0.2, decay_steps=5, decay_rate=0.3)
    assert s(step) == pytest.approx(0.2 / (1 + 0.3 * step / 5))
    s = schedules.InverseTimeDecay(0.2, decay_steps=5, decay_rate=0.3, staircase=True)
    assert s(step) == pytest.approx(0.2 / (1 + 0.3 * (step // 5)))
    s = schedules.PolynomialDecay(0.1, decay_steps=50, end_learning_rate=0.01, power=0.5)
    st = min(step, 50)
    assert s(step) == pytest.approx((0.1 - 0.01) * (1 - st / 50) ** 0.5 + 0.01)
    s = schedules.PolynomialDecay(0.1, decay_steps=50, end_learning_rate=0.01, cycle=True)
    ds = 50 * (1 if step == 0 else math.ceil(step / 50))
    assert s(step) == pytest.approx((0.1 - 0.01) * (1 - step / ds) + 0.01)
    s = schedules.CosineDecay(0.1, decay_steps=200, alpha=0.1)
    st = min(step, 200)
    assert s(step) == pytest.approx(0.1 * (0.9 * 0.5 * (1 + math.cos(math.pi * st / 200)) + 0.1))
    s = schedules.CosineDecay(0.0, decay_steps=200, warmup_target=0.1, warmup_steps=20)
    st = min(step, 220)
    want = 0.1 * st / 20 if st < 20 else 0.1 * 0.5 * (1 + math.cos(math.pi * (st - 20) / 200))
    assert s(step) == pytest.approx(want, abs=1e-12)


def test_piecewise_constant_decay():
    s = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [s(t) for t in (0, 10, 11, 20, 21, 500)] == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]
    with pytest.raises(ValueError, match="1 less"):
        schedules.PiecewiseConstantDecay([10], [1.0])


def test_cosine_decay_restarts():
    s = schedules.CosineDecayRestarts(1.0, first_decay_steps=10, t_mul=2.0, m_mul=0.5)
    assert s(0) == pytest.approx(1.0)
    assert s(5) == pytest.approx(0.5)
    assert s(10) == pytest.approx(0.5)  # restart at half height, period now 20
    assert s(20) == pytest.approx(0.5 * 0.5)


def test_schedule_errors_and_serialization():
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, decay_steps=0, decay_rate=0.9)
    with pytest.raises(NotImplementedError):
        schedules.LearningRateSchedule()(0)
    s = schedules.CosineDecay(0.1, 100, warmup_target=0.2, warmup_steps=10)
    d = schedules.serialize(s)
    assert d["class_name"] == "CosineDecay"
    assert schedules.deserialize(d).get_config() == s.get_config()
    with pytest.raises(ValueError, match="Unknown learning rate schedule"):
        schedules.deserialize({"class_name": "Nope", "config": {}})


def test_optimizer_follows_schedule_per_step():
    s = schedules.PiecewiseConstantDecay([1, 3], [1.0, 0.1, 0.01])
    w = np.zeros(1, np.float32)
    opt = O.SGD(learning_rate=s)
    moves = []
    for _ in range(5):
        before = float(w[0])
        opt.apply([np.ones(1, np.float32)], [w])
        moves.append(before - float(w[0]))
    # iterations 0..4 -> step <= 1: 1.0; 1 < step <= 3: 0.1; then 0.01
    np.testing.assert_allclose(moves, [1.0, 1.0, 0.1, 0.1, 0.01], rtol=1e-5)


# ---------------------------------------------------------------- engine hooks
C_KEYS = {"kind", "learning_rate", "momentum", "nesterov", "rho", "centered", "beta_1", "beta_2",
          "amsgrad", "epsilon", "initial_accumulator_value", "weight_decay"}


@pytest.mark.parametrize("name", NAMES)
def test_engine_hooks(name):
    opt = O.get(name)
    params = opt._c_params()
    assert set(params) == C_KEYS
    assert params["kind"] == NAMES.index(name)  # enum annc_opt order
    assert params["learning_rate"] == opt._current_learning_rate() == opt.learning_rate
    assert params["weight_decay"] == (0.004 if name == "adamw" else 0.0)
    assert isinstance(opt.iterations, int) and opt.iterations == 0
    assert opt._u_product == 1.0
    n = opt._num_slots()
    w = np.ones(5, np.float32)
    opt.build([w])
    assert len(opt._slots) == 1 and len(opt._slots[0]) == n
    for i in range(n):
        assert np.all(opt._slots[0][i] == np.float32(opt._slot_initial_value(i)))
    with pytest.raises(IndexError):
        opt._slot_initial_value(n)
    # the C side agrees on the slot count
    _core.opt_apply(params, 0, 1.0, w, np.ones(5, np.float32), opt._slots[0])
    with pytest.raises(ValueError, match="slot"):
        _core.opt_apply(params, 0, 1.0, w, np.ones(5, np.float32), opt._slots[0] + [np.zeros(5, np.float32)])


@pytest.mark.parametrize(
    "opt, n",
    [
        (O.SGD(), 0), (O.SGD(momentum=0.5), 1), (O.RMSprop(), 1), (O.RMSprop(momentum=0.1), 2),
        (O.RMSprop(centered=True), 2), (O.RMSprop(momentum=0.1, centered=True), 3), (O.Adam(), 2),
        (O.Adam(amsgrad=True), 3), (O.AdamW(amsgrad=True), 3), (O.Adagrad(), 1), (O.Adadelta(), 2),
        (O.Adamax(), 2), (O.Nadam(), 2),
    ],
    ids=repr,
)
def test_slot_counts(opt, n):
    assert opt._num_slots() == n


def test_binding_validation():
    params = O.Adam()._c_params()
    w, g = np.ones(6, np.float32), np.ones(6, np.float32)
    slots = [np.zeros(6, np.float32), np.zeros(6, np.float32)]
    with pytest.raises(TypeError, match="float32"):
        _core.opt_apply(params, 0, 1.0, w.astype(np.float64), g, slots)
    with pytest.raises(ValueError, match="contiguous"):
        _core.opt_apply(params, 0, 1.0, np.ones((6, 2), np.float32)[:, 0], g, slots)
    with pytest.raises(ValueError, match="sizes"):
        _core.opt_apply(params, 0, 1.0, w, np.ones(5, np.float32), slots)
    with pytest.raises(ValueError, match="overlap"):
        _core.opt_apply(params, 0, 1.0, w, w, slots)
    ro = np.ones(6, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _core.opt_apply(params, 0, 1.0, ro, g, slots)
    with pytest.raises(ValueError, match="kind"):
        _core.opt_apply(dict(params, kind=99), 0, 1.0, w, g, slots)
    with pytest.raises(KeyError):
        _core.opt_apply({"kind": 0}, 0, 1.0, w, g, [])
    # any-D arrays are taken flat, and empty arrays are fine
    w2 = np.ones((2, 3), np.float32)
    _core.opt_apply(params, 0, 1.0, w2, np.ones((3, 2), np.float32), slots)
    assert np.all(w2 < 1)
    e = np.zeros(0, np.float32)
    _core.opt_apply(params, 0, 1.0, e, np.zeros(0, np.float32), [np.zeros(0, np.float32)] * 2)
