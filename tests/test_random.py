"""The counter-based RNG: known answers, reproducibility, chunk independence, distributions."""
import math
import random as py_random
import threading

import numpy as np
import pytest

from annc import _core
import annc.random as R


def test_philox_known_answer():
    # Random123's Philox4x32-10 vector for counter 0, key 0: 6627e8d5 e169c58d bc57ac4c 9b00dbd8;
    # uniform element i of (key 0, counter 0) is word i's top 24 bits
    words = [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    np.testing.assert_array_equal(_core.rng_uniform(4, 0, 0),
                                  np.array([(w >> 8) / 2**24 for w in words], np.float32))


def test_values_depend_only_on_key_counter_index():
    key, counter = 0x1234_5678_9ABC_DEF0, 77
    for fn in (_core.rng_uniform, _core.rng_normal, _core.rng_truncated_normal):
        full = fn(1001, key, counter)
        for n in (1, 2, 3, 5, 8, 333):
            np.testing.assert_array_equal(fn(n, key, counter), full[:n])
        assert not np.array_equal(fn(16, key, counter + 1), full[:16])
        assert not np.array_equal(fn(16, key + 1, counter), full[:16])
    full = _core.rng_dropout_mask(1001, key, counter, 0.3)
    np.testing.assert_array_equal(_core.rng_dropout_mask(7, key, counter, 0.3), full[:7])


def test_out_argument_and_shapes():
    out = np.empty((3, 5), np.float32)
    assert _core.rng_uniform(0, 1, 2, out=out) is out
    np.testing.assert_array_equal(out.ravel(), _core.rng_uniform(15, 1, 2))
    with pytest.raises(TypeError):
        _core.rng_uniform(0, 1, 2, out=np.empty(3))
    assert R.uniform((2, 3, 4)).shape == (2, 3, 4)
    assert R.normal(5, dtype="float64").dtype == np.float64
    assert R.uniform((0, 3)).shape == (0, 3)
    with pytest.raises(ValueError):
        R.uniform((2, -1))
    with pytest.raises(ValueError):
        R.normal((2,), dtype="int32")


def test_set_random_seed_makes_programs_reproducible():
    def program():
        g = R.SeedGenerator()
        return [R.uniform((5,)), R.normal((3,)), R.permutation(10), R.uniform(4, seed=g),
                R.dropout_mask((6,), 0.5), py_random.random(), np.random.rand()]

    R.set_random_seed(123)
    a = program()
    R.set_random_seed(123)
    b = program()
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    R.set_random_seed(124)
    c = program()
    assert not np.array_equal(a[0], c[0])
    assert R.get_global_seed() == 124


def test_set_random_seed_validation():
    for bad in (1.5, "3", None, True):
        with pytest.raises(ValueError, match="integer"):
            R.set_random_seed(bad)
    with pytest.raises(ValueError):
        R.set_random_seed(-1)
    R.set_random_seed(np.int64(7))  # numpy integers are integers


def test_seed_argument_semantics():
    # an int seed is stateless: the same numbers every call, as in Keras
    np.testing.assert_array_equal(R.uniform(8, seed=5), R.uniform(8, seed=5))
    assert not np.array_equal(R.uniform(8, seed=5), R.uniform(8, seed=6))
    # None and a SeedGenerator advance
    assert not np.array_equal(R.uniform(8), R.uniform(8))
    g = R.SeedGenerator(3)
    assert not np.array_equal(R.uniform(8, seed=g), R.uniform(8, seed=g))
    g1, g2 = R.SeedGenerator(3), R.SeedGenerator(3)
    np.testing.assert_array_equal(R.normal(8, seed=g1), R.normal(8, seed=g2))
    with pytest.raises(ValueError):
        R.uniform(3, seed=1.5)


def test_seed_generator_counters_are_disjoint_across_threads():
    g = R.SeedGenerator(0)
    got = []
    lock = threading.Lock()

    def work():
        mine = [g.next() for _ in range(2000)]
        with lock:
            got.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 8000
    assert {k for k, _ in got} == {g.key}


def test_nearby_seeds_give_unrelated_keys():
    keys = {R.SeedGenerator(s).key for s in range(1000)}
    assert len(keys) == 1000


def test_uniform_moments_and_range():
    x = _core.rng_uniform(400_000, 11, 0, -2.0, 3.0).astype(np.float64)
    assert x.min() >= -2.0 and x.max() < 3.0
    assert abs(x.mean() - 0.5) < 5 * 5 / math.sqrt(12 * 400_000)
    assert abs(x.var() - 25 / 12) < 0.02
    counts = np.histogram(x, bins=50, range=(-2, 3))[0]
    chi2 = np.sum((counts - 8000) ** 2 / 8000)
    assert chi2 < 100  # 49 degrees of freedom; p ~ 1e-5 at 100


def test_uniform_never_returns_maxval():
    hi = np.nextafter(np.float32(1), np.float32(2))  # [1, 1 + ulp): rounding hits hi often
    x = _core.rng_uniform(10_000, 3, 4, 1.0, float(hi))
    assert np.all(x < hi) and np.all(x >= 1.0)
    x = _core.rng_uniform(100_000, 3, 5)
    assert x.max() < 1.0 and x.min() >= 0.0


def test_normal_moments():
    x = R.normal((400_000,), mean=1.5, stddev=2.0, seed=9).astype(np.float64)
    z = (x - 1.5) / 2.0
    se = 1 / math.sqrt(len(z))
    assert abs(z.mean()) < 5 * se
    assert abs(z.std() - 1) < 5 * se
    assert abs(np.mean(z ** 3)) < 5 * math.sqrt(15) * se
    assert abs(np.mean(z ** 4) - 3) < 5 * math.sqrt(96) * se
    assert abs(np.mean(np.abs(z) < 1) - 0.682689) < 0.004


def test_truncated_normal_within_two_sigma_with_keras_moments():
    x = R.truncated_normal((400_000,), mean=-1.0, stddev=0.5, seed=10).astype(np.float64)
    z = (x + 1.0) / 0.5
    assert np.all(np.abs(z) <= 2.0 + 1e-6)
    assert abs(z.mean()) < 0.01
    assert abs(z.std() - 0.87962566103423978) < 0.005
    # shape of the truncated density: P(|z| < 1) / P(|z| < 2) for a standard normal
    assert abs(np.mean(np.abs(z) < 1) - 0.682689 / 0.954500) < 0.005


def test_permutation_valid_and_uniform():
    p = R.permutation(1000, seed=1)
    assert p.dtype == np.int64
    np.testing.assert_array_equal(np.sort(p), np.arange(1000))
    assert R.permutation(0).shape == (0,) and list(R.permutation(1)) == [0]
    g = R.SeedGenerator(2)
    counts = {}
    for _ in range(6000):
        key = tuple(R.permutation(3, seed=g))
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 6
    chi2 = sum((c - 1000) ** 2 / 1000 for c in counts.values())
    assert chi2 < 25  # 5 degrees of freedom
    # each position sees each value equally often
    pos = np.zeros((8, 8))
    for _ in range(4000):
        pos[np.arange(8), R.permutation(8, seed=g)] += 1
    assert np.all(np.abs(pos - 500) < 5 * math.sqrt(500))


def test_shuffle_permutes_rows():
    x = np.arange(20).reshape(10, 2)
    s = R.shuffle(x, seed=4)
    np.testing.assert_array_equal(np.sort(s[:, 0]), x[:, 0])
    np.testing.assert_array_equal(s[:, 1] - s[:, 0], 1)


def test_dropout_mask():
    m = R.dropout_mask((200_000,), 0.3, seed=1)
    assert m.dtype == np.float32
    assert set(np.unique(m)) == {0.0, np.float32(1 / 0.7)}
    assert abs(np.mean(m == 0) - 0.3) < 0.005
    assert abs(m.mean() - 1.0) < 0.01
    np.testing.assert_array_equal(R.dropout_mask(5, 0.0), np.ones(5, np.float32))
    with pytest.raises(ValueError):
        R.dropout_mask(5, 1.0)
    with pytest.raises(ValueError):
        R.dropout_mask(5, -0.1)
