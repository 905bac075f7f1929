"""annc: Keras-compatible neural networks on the CPU, with C/OpenMP kernels.

Write ``import annc as keras`` and run Keras programs unchanged.
Submodules load on first use, so ``import annc`` stays cheap.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

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
