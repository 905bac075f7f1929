"""Low-level array operations backed by the C core."""
from __future__ import annotations

import numpy as np

from . import _core

__all__ = ["matmul"]

_F32 = np.dtype(np.float32)

# The common call (float32 C-contiguous ndarrays, a fitting `out`) is handled entirely in
# compiled code; anything else comes back here to be converted or refused with a message.
matmul = _core.matmul


def _shape_text(x) -> str:
    return str(getattr(x, "shape", None) or np.shape(x))


def _as_matrix(x, name: str, a, b) -> np.ndarray:
    """A C-contiguous float32 2-D ndarray holding x, copying only when needed (documented
    behaviour: other real dtypes are converted to float32, non-contiguous arrays are copied)."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(
            f"matmul: {name} has dtype {arr.dtype}; expected a real numeric array "
            f"(float32 is used as is, other real dtypes are converted to float32)")
    if arr.ndim != 2:
        raise ValueError(
            f"matmul: {name} must be 2-D, got {name}.shape={arr.shape} ({arr.ndim}-D); "
            f"a has shape {_shape_text(a)}, b has shape {_shape_text(b)}")
    return np.ascontiguousarray(arr, dtype=_F32)


def _matmul_checked(a, b, transpose_a: bool, transpose_b: bool, out):
    """matmul's general path: validate and convert, then run the compiled fast path."""
    a2 = _as_matrix(a, "a", a, b)
    b2 = _as_matrix(b, "b", a, b)
    m, ka = (a2.shape[1], a2.shape[0]) if transpose_a else a2.shape
    kb, n = (b2.shape[1], b2.shape[0]) if transpose_b else b2.shape
    if ka != kb:
        sa = f"a{a2.shape}" + (".T" if transpose_a else "")
        sb = f"b{b2.shape}" + (".T" if transpose_b else "")
        raise ValueError(
            f"matmul: inner dimensions differ: {sa} has {ka} columns but {sb} has {kb} rows")
    if out is None:
        return _core.matmul(a2, b2, transpose_a, transpose_b)
    if not isinstance(out, np.ndarray) or out.dtype != _F32:
        raise TypeError(f"matmul: out must be a float32 ndarray, got "
                        f"{getattr(out, 'dtype', type(out).__name__)}")
    if out.shape != (m, n):
        raise ValueError(f"matmul: out has shape {out.shape}, the result of "
                         f"a{a2.shape}{'.T' if transpose_a else ''} @ "
                         f"b{b2.shape}{'.T' if transpose_b else ''} is {(m, n)}")
    if not out.flags.c_contiguous or not out.flags.writeable or not out.flags.aligned:
        raise ValueError("matmul: out must be C-contiguous, aligned and writeable "
                         "(pass np.ascontiguousarray(out) and copy the result back)")
    if np.shares_memory(out, a2) or np.shares_memory(out, b2):
        raise ValueError("matmul: out must not overlap a or b (use a separate output array)")
    # an ndarray subclass (memmap, ...) is written through a plain view of its memory
    base = out if type(out) is np.ndarray else out.view(np.ndarray)
    _core.matmul(a2, b2, transpose_a, transpose_b, base)
    return out
