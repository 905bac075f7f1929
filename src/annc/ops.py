"""Low-level array operations backed by the C core."""
from __future__ import annotations

import numpy as np

from . import _core, config

__all__ = ["matmul"]

_F32 = np.dtype(np.float32)


def _as_matrix(x, name: str) -> np.ndarray:
    """A C-contiguous float32 2-D view of x, copying only when needed (documented behaviour:
    other real dtypes are converted to float32, non-contiguous arrays are copied)."""
    if type(x) is np.ndarray and x.dtype is _F32 and x.ndim == 2 and x.flags.c_contiguous:
        return x
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(
            f"matmul: {name} has dtype {arr.dtype}; expected a real numeric array "
            f"(float32 is used as is, other real dtypes are converted to float32)")
    if arr.ndim != 2:
        raise ValueError(f"matmul: {name} must be 2-D, got shape {arr.shape} ({arr.ndim}-D)")
    return np.ascontiguousarray(arr, dtype=np.float32)


def matmul(a, b, transpose_a: bool = False, transpose_b: bool = False,
           out: np.ndarray | None = None) -> np.ndarray:
    """op(a) @ op(b) in float32, where op transposes when asked (a GEMM flag, never a copy).

    a and b are 2-D arrays. float32 C-contiguous inputs are used in place; other real dtypes
    (float64, ints) are converted to float32 and non-contiguous arrays are copied first.
    ``out``, when given, must be a C-contiguous float32 array of the result's shape; it is
    overwritten (its previous contents, NaN included, never leak into the result).
    The GIL is released while the product is computed.
    """
    a = _as_matrix(a, "a")
    b = _as_matrix(b, "b")
    m, ka = (a.shape[1], a.shape[0]) if transpose_a else a.shape
    kb, n = (b.shape[1], b.shape[0]) if transpose_b else b.shape
    if ka != kb:
        sa = f"a{a.shape}" + (".T" if transpose_a else "")
        sb = f"b{b.shape}" + (".T" if transpose_b else "")
        raise ValueError(
            f"matmul: inner dimensions differ: {sa} has {ka} columns but {sb} has {kb} rows")
    if out is None:
        out = np.empty((m, n), dtype=np.float32)
    else:
        if not isinstance(out, np.ndarray) or out.dtype != _F32:
            raise TypeError(f"matmul: out must be a float32 ndarray, got "
                            f"{getattr(out, 'dtype', type(out).__name__)}")
        if out.shape != (m, n):
            raise ValueError(f"matmul: out has shape {out.shape}, the result is {(m, n)}")
        if not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError("matmul: out must be C-contiguous and writeable "
                             "(pass np.ascontiguousarray(out) and copy back)")
        if np.shares_memory(out, a) or np.shares_memory(out, b):
            raise ValueError("matmul: out must not overlap a or b")
    _core.sgemm(a, b, out, transpose_a, transpose_b, 1.0, 0.0, config.get_num_threads())
    return out
