"""Run-time configuration: the thread count every compute call uses.

The default comes from ANNC_NUM_THREADS, then OMP_NUM_THREADS, then the CPUs this process may
run on. The count is handed to each C call; annc never changes OpenMP's global state.
"""
from __future__ import annotations

import os

__all__ = ["get_num_threads", "set_num_threads", "default_num_threads"]


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _parse_env(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    # OMP_NUM_THREADS may be a nesting list such as "4,2": the first level is ours
    first = raw.split(",")[0].strip()
    try:
        n = int(first)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a positive integer") from None
    if n < 1:
        raise ValueError(f"{name}={raw!r} must be at least 1")
    return n


def default_num_threads() -> int:
    for name in ("ANNC_NUM_THREADS", "OMP_NUM_THREADS"):
        n = _parse_env(name)
        if n is not None:
            return n
    return _available_cpus()


_num_threads = default_num_threads()


def get_num_threads() -> int:
    """The number of threads annc's kernels use."""
    return _num_threads


def set_num_threads(n: int) -> None:
    """Set the number of threads annc's kernels use (1 = no threading)."""
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, (int,)) and not hasattr(n, "__index__"):
        raise TypeError(f"set_num_threads expects an int, got {type(n).__name__}")
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads expects n >= 1, got {n}")
    _num_threads = n


#: bumped in a forked child, so objects cached per process (executor engines and their locks)
#: are rebuilt there rather than inherited in whatever state another thread left them
fork_generation = 0


def _after_fork_in_child() -> None:
    # A forked child must never hang: GNU libgomp's thread pool does not survive fork(), so the
    # child runs single-threaded unless it explicitly asks for more.
    global _num_threads, fork_generation
    _num_threads = 1
    fork_generation += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
