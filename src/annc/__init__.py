"""annc: Keras-compatible neural networks on the CPU, with C/OpenMP kernels.

Write ``import annc as keras`` and run Keras programs unchanged.
Submodules load on first use, so ``import annc`` stays cheap.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

import os as _os

# GNU libgomp's idle threads spin 300,000 rounds (milliseconds) before they sleep. On a machine
# with few cores that spinning starves whatever runs next: another library's thread pool
# (OpenBLAS), or annc's own worker woken onto a core the spinner holds; calls then take whole
# scheduler ticks (4-30 ms instead of 50 us, measured with NumPy interleaved on 2 cores). A
# short spin keeps back-to-back kernel calls warm and bounds the damage. libgomp reads this
# once, when it is loaded (with annc._core); a user's own setting always wins.
if "GOMP_SPINCOUNT" not in _os.environ and "OMP_WAIT_POLICY" not in _os.environ:
    _os.environ["GOMP_SPINCOUNT"] = "20000"

_SUBMODULES = {
    "activations", "callbacks", "config", "datasets", "initializers", "layers", "losses",
    "metrics", "models", "ops", "optimizers", "random", "regularizers", "utils",
}
_ATTRS = {
    "Sequential": ("models", "Sequential"),
    "Input": ("layers", "Input"),
    "Layer": ("layers", "Layer"),
    "Variable": ("layers", "Variable"),
}

__all__ = sorted(_SUBMODULES | set(_ATTRS) | {"show_config", "__version__"})


def show_config() -> None:
    """Print the build and run-time configuration: version, ISA, threads, OpenMP."""
    from . import _core, config

    lines = [
        f"annc {__version__}",
        f"  isa:          {_core.isa_name()} (cpu has avx2+fma: {_core.cpu_has_avx2_fma()})",
        f"  threads:      {config.get_num_threads()}",
        f"  openmp:       {'yes' if _core.openmp_enabled() else 'no'}",
    ]
    print("\n".join(lines))


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _ATTRS:
        module, attr = _ATTRS[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'annc' has no attribute {name!r}")


def __dir__():
    return __all__
