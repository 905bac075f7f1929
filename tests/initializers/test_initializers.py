"""Initializers: Keras 3 distributions (checked by sample moments), fans, seeds, lookup."""
import math

import numpy as np
import pytest

import annc.initializers as I
import annc.random as R

TRUNC = 0.87962566103423978


def test_compute_fans_like_keras():
    assert I.compute_fans(()) == (1, 1)
    assert I.compute_fans((7,)) == (7, 7)
    assert I.compute_fans((784, 300)) == (784, 300)
    assert I.compute_fans((3, 3, 16, 32)) == (144, 288)
    assert I.compute_fans((5, 4, 6)) == (20, 30)


@pytest.mark.parametrize("name,shape,kind,param", [
    ("glorot_uniform", (400, 300), "uniform", math.sqrt(6 / 700)),
    ("he_uniform", (400, 300), "uniform", math.sqrt(6 / 400)),
    ("lecun_uniform", (400, 300), "uniform", math.sqrt(3 / 400)),
    ("glorot_normal", (400, 300), "trunc", math.sqrt(2 / 700) / TRUNC),
    ("he_normal", (400, 300), "trunc", math.sqrt(2 / 400) / TRUNC),
    ("lecun_normal", (400, 300), "trunc", math.sqrt(1 / 400) / TRUNC),
    ("he_normal", (3, 3, 32, 64), "trunc", math.sqrt(2 / 288) / TRUNC),
    ("glorot_uniform", (3, 3, 32, 64), "uniform", math.sqrt(6 / (288 + 576))),
])
def test_variance_scaling_family(name, shape, kind, param):
    w = I.get(name)(shape).astype(np.float64)
    assert w.shape == shape
    n = w.size
    if kind == "uniform":
        limit = param
        assert np.abs(w).max() <= limit
        assert np.abs(w).max() > 0.99 * limit
        assert abs(w.std() - limit / math.sqrt(3)) < 0.01 * limit
    else:
        # truncated normal with the corrected stddev: |w| <= 2 * param, std = param * 0.8796
        assert np.abs(w).max() <= 2 * param * (1 + 1e-6)
        assert abs(w.std() - param * TRUNC) < 5 * param / math.sqrt(n)
    assert abs(w.mean()) < 5 * param / math.sqrt(n)


def test_variance_scaling_untruncated_and_modes():
    w = I.VarianceScaling(scale=3.0, mode="fan_out", distribution="untruncated_normal",
                          seed=1)((500, 400)).astype(np.float64)
    assert abs(w.std() - math.sqrt(3 / 400)) < 0.01 * math.sqrt(3 / 400)
    assert np.abs(w).max() > 3 * math.sqrt(3 / 400)  # not truncated
    assert I.VarianceScaling(distribution="normal").distribution == "truncated_normal"
    with pytest.raises(ValueError, match="mode"):
        I.VarianceScaling(mode="fan_middle")
    with pytest.raises(ValueError, match="distribution"):
        I.VarianceScaling(distribution="cauchy")
    with pytest.raises(ValueError, match="scale"):
        I.VarianceScaling(scale=0.0)


def test_keras_defaults():
    # Keras 3.15's configs, keys as it writes them (input_axes/output_axes: always None here)
    assert I.VarianceScaling().get_config() == {
        "scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal", "seed": None,
        "input_axes": None, "output_axes": None}
    assert I.RandomNormal().get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}
    assert I.RandomUniform().get_config() == {"minval": -0.05, "maxval": 0.05, "seed": None}
    assert I.TruncatedNormal().get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}
    assert I.Orthogonal().get_config() == {"gain": 1.0, "seed": None}
    assert I.Constant().get_config() == {"value": 0.0}
    assert I.GlorotUniform(seed=3).get_config() == {"seed": 3, "input_axes": None,
                                                     "output_axes": None}
    with pytest.raises(NotImplementedError, match="input_axes"):
        I.HeNormal(input_axes=[0])
    g = I.GlorotUniform()
    assert (g.scale, g.mode, g.distribution) == (1.0, "fan_avg", "uniform")
    h = I.HeNormal()
    assert (h.scale, h.mode, h.distribution) == (2.0, "fan_in", "truncated_normal")


def test_random_initializers_distributions():
    w = I.RandomNormal(1.0, 0.5, seed=1)((200_000,)).astype(np.float64)
    assert abs(w.mean() - 1.0) < 0.005 and abs(w.std() - 0.5) < 0.005
    w = I.RandomUniform(-0.05, 0.05, seed=1)((200_000,)).astype(np.float64)
    assert w.min() >= -0.05 and w.max() < 0.05 and abs(w.std() - 0.1 / math.sqrt(12)) < 3e-4
    w = I.TruncatedNormal(seed=1)((200_000,)).astype(np.float64)
    assert np.abs(w).max() <= 0.1 + 1e-7 and abs(w.std() - 0.05 * TRUNC) < 5e-4
    assert I.RandomNormal()((4, 3)).dtype == np.float32


def test_constant_zeros_ones_identity():
    np.testing.assert_array_equal(I.Zeros()((2, 3)), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(I.Ones()((2,)), np.ones(2, np.float32))
    np.testing.assert_array_equal(I.Constant(2.5)((2, 2)), np.full((2, 2), 2.5, np.float32))
    np.testing.assert_array_equal(I.Identity(gain=2.0)((2, 3)), 2 * np.eye(2, 3))
    assert I.Zeros()((3,)).dtype == np.float32
    with pytest.raises(ValueError):
        I.Identity()((2, 2, 2))


@pytest.mark.parametrize("shape", [(30, 20), (20, 30), (3, 4, 10), (16, 16)])
def test_orthogonal(shape):
    w = I.Orthogonal(gain=1.5, seed=2)(shape).astype(np.float64).reshape(-1, shape[-1])
    rows, cols = w.shape
    gram = w.T @ w if rows >= cols else w @ w.T
    np.testing.assert_allclose(gram, 2.25 * np.eye(min(rows, cols)), atol=1e-5)
    with pytest.raises(ValueError, match="two-dimensional"):
        I.Orthogonal()((5,))


def test_seed_semantics():
    # an int seed: identical values on every call, like Keras
    init = I.GlorotUniform(seed=42)
    np.testing.assert_array_equal(init((5, 4)), init((5, 4)))
    assert not np.array_equal(I.GlorotUniform(seed=43)((5, 4)), init((5, 4)))
    # unseeded: each instance differs, and set_random_seed reproduces them all
    R.set_random_seed(5)
    a = [I.get("glorot_uniform")((5, 4)), I.get("he_normal")((5, 4)), I.get("orthogonal")((4, 4))]
    R.set_random_seed(5)
    b = [I.get("glorot_uniform")((5, 4)), I.get("he_normal")((5, 4)), I.get("orthogonal")((4, 4))]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(I.GlorotUniform()((5, 4)), I.GlorotUniform()((5, 4)))
    # a SeedGenerator advances
    g = I.RandomNormal(seed=R.SeedGenerator(1))
    assert not np.array_equal(g((4,)), g((4,)))
    with pytest.raises(ValueError, match="seed"):
        I.RandomNormal(seed="abc")


def test_get_and_serialization():
    for name, cls in [("glorot_uniform", I.GlorotUniform), ("GlorotUniform", I.GlorotUniform),
                      ("he_normal", I.HeNormal), ("lecun_uniform", I.LecunUniform),
                      ("zeros", I.Zeros), ("ones", I.Ones), ("random_normal", I.RandomNormal),
                      ("random_uniform", I.RandomUniform), ("truncated_normal", I.TruncatedNormal),
                      ("orthogonal", I.Orthogonal), ("identity", I.Identity),
                      ("variance_scaling", I.VarianceScaling), ("constant", I.Constant),
                      ("uniform", I.RandomUniform), ("normal", I.RandomNormal)]:
        assert type(I.get(name)) is cls, name
    inst = I.HeUniform(seed=1)
    assert I.get(inst) is inst
    assert isinstance(I.get(I.Zeros), I.Zeros)
    fn = lambda shape, dtype=None: np.zeros(shape)  # noqa: E731
    assert I.get(fn) is fn
    assert I.get(None) is None
    got = I.get({"class_name": "RandomNormal", "config": {"stddev": 2.0, "seed": 3}})
    assert got.stddev == 2.0 and got.seed == 3
    again = I.deserialize(I.serialize(I.VarianceScaling(2.0, "fan_out", "uniform", seed=7)))
    np.testing.assert_array_equal(again((3, 3)), I.VarianceScaling(2.0, "fan_out", "uniform",
                                                                   seed=7)((3, 3)))
    with pytest.raises(ValueError, match="Valid names: .*glorot_uniform"):
        I.get("glorot_uniformm")


def test_serialize_plain_callable_and_dtype_keyword():
    def my_init(shape, dtype=None):
        return np.zeros(shape)

    assert I.serialize(my_init) == "my_init"
    # the layers call initializer(shape, dtype="float32")
    assert I.get("he_uniform")((3, 2), dtype="float32").dtype == np.float32
