"""annc: Keras-compatible neural networks on the CPU, with C/OpenMP kernels.

Write ``import annc as keras`` and run Keras programs unchanged.
"""
from __future__ import annotations

__version__ = "0.1.0"

from . import config, ops  # noqa: E402
from ._core import isa_name as _isa_name  # noqa: E402


def show_config() -> None:
    """Print the build and run-time configuration: version, ISA, threads, OpenMP."""
    from . import _core

    lines = [
        f"annc {__version__}",
        f"  isa:          {_core.isa_name()} (cpu has avx2+fma: {_core.cpu_has_avx2_fma()})",
        f"  threads:      {config.get_num_threads()}",
        f"  openmp:       {'yes' if _core.openmp_enabled() else 'no'}",
    ]
    print("\n".join(lines))


def __getattr__(name: str):
    # submodules that pull in more code are imported on first use, keeping `import annc` fast
    import importlib

    if name in {"datasets", "callbacks", "utils"}:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'annc' has no attribute {name!r}")
