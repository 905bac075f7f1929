"""Thread configuration, environment defaults, fork safety and show_config."""
from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys

import numpy as np
import pytest

import annc
from annc import config, ops


@pytest.fixture(autouse=True)
def _restore_threads():
    n = config.get_num_threads()
    yield
    config.set_num_threads(n)


def test_set_get_num_threads():
    config.set_num_threads(1)
    assert config.get_num_threads() == 1
    config.set_num_threads(np.int64(2))
    assert config.get_num_threads() == 2
    assert type(config.get_num_threads()) is int


@pytest.mark.parametrize("bad", [0, -1, -100])
def test_set_num_threads_rejects_non_positive(bad):
    with pytest.raises(ValueError, match=">= 1"):
        config.set_num_threads(bad)


@pytest.mark.parametrize("bad", [1.5, "2", None, True, [2]])
def test_set_num_threads_rejects_non_integers(bad):
    with pytest.raises(TypeError, match="int"):
        config.set_num_threads(bad)


def _threads_in_child(env_updates, code="import annc; print(annc.config.get_num_threads())"):
    env = {k: v for k, v in os.environ.items()
           if k not in ("ANNC_NUM_THREADS", "OMP_NUM_THREADS")}
    env.update(env_updates)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)


def _cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count()


@pytest.mark.parametrize("env,want", [
    ({}, None),
    ({"ANNC_NUM_THREADS": "3"}, 3),
    ({"OMP_NUM_THREADS": "2"}, 2),
    ({"OMP_NUM_THREADS": "4,2"}, 4),
    ({"ANNC_NUM_THREADS": "1", "OMP_NUM_THREADS": "5"}, 1),
    ({"ANNC_NUM_THREADS": " ", "OMP_NUM_THREADS": "2"}, 2),
])
def test_env_defaults(env, want):
    proc = _threads_in_child(env)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) == (want if want is not None else _cpus())


@pytest.mark.parametrize("env", [{"ANNC_NUM_THREADS": "many"}, {"OMP_NUM_THREADS": "0"}])
def test_bad_env_is_a_clear_error(env):
    proc = _threads_in_child(env)
    assert proc.returncode != 0
    assert next(iter(env)) in proc.stderr


def _child_matmul(q):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((256, 300)).astype(np.float32)
    b = rng.standard_normal((300, 200)).astype(np.float32)
    got = ops.matmul(a, b)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    q.put((config.get_num_threads(), float(np.abs(got - ref).max())))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_after_parent_used_threads():
    config.set_num_threads(2)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 400)).astype(np.float32)
    for _ in range(3):  # the parent's OpenMP pool is started and warm
        ops.matmul(a, a.T.copy())
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child_matmul, args=(q,))
    p.start()
    p.join(timeout=60)
    if p.is_alive():  # pragma: no cover - the failure this test exists for
        p.kill()
        pytest.fail("forked child hung in matmul")
    assert p.exitcode == 0
    nthreads, err = q.get(timeout=5)
    assert nthreads == 1
    assert err < 1e-3
    # and the parent still computes with its threads
    assert config.get_num_threads() == 2
    ops.matmul(a, a.T.copy())


def test_show_config(capsys):
    annc.show_config()
    text = capsys.readouterr().out
    assert annc.__version__ in text
    assert "isa" in text and annc._core.isa_name() in text
    assert "threads" in text and str(config.get_num_threads()) in text
    assert "openmp" in text
