# GEMM binding: annc.ops.matmul's engine room.
#
# The fast path (float32 C-contiguous ndarrays) reads the arrays through NumPy's C API, which
# costs a few nanoseconds where typed memoryviews cost hundreds: for the 10-wide training
# products the call overhead is most of the time.
cimport numpy as cnp
from libc.stdlib cimport malloc, free
from libc.stdint cimport uintptr_t

cnp.import_array()

cdef extern from *:
    """
    /* float32 C-contiguous aligned 2-D ndarray (exactly ndarray, not a subclass) */
    static int annc_is_f32_matrix(PyObject *o) {
        if (Py_TYPE(o) != &PyArray_Type) return 0;
        PyArrayObject *a = (PyArrayObject *)o;
        return PyArray_NDIM(a) == 2 && PyArray_TYPE(a) == NPY_FLOAT32 &&
               PyArray_CHKFLAGS(a, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED);
    }
    """
    bint annc_is_f32_matrix(object o)

# One shared packing workspace, taken under the GIL by the call that finds it free; a call
# that finds it taken (another Python thread is inside a GEMM) lets the C core allocate its
# own. So concurrent calls never share one, and the common case allocates nothing.
cdef void *_ws_raw = NULL
cdef float *_ws = NULL
cdef size_t _ws_floats = 0
cdef bint _ws_busy = False

cdef float *_take_workspace(size_t nfloats):
    """The shared workspace (64-byte aligned, at least nfloats), or NULL if it is in use."""
    global _ws_raw, _ws, _ws_floats, _ws_busy
    if _ws_busy:
        return NULL
    if nfloats > _ws_floats:
        free(_ws_raw)
        _ws_raw = NULL
        _ws = NULL
        _ws_floats = 0
        nfloats = max(nfloats, <size_t>65536)
        _ws_raw = malloc(nfloats * sizeof(float) + 64)
        if _ws_raw == NULL:
            return NULL
        _ws = <float *>((<uintptr_t>_ws_raw + 63) & ~(<uintptr_t>63))
        _ws_floats = nfloats
    _ws_busy = True
    return _ws

cdef inline void _give_back(float *ws):
    global _ws_busy
    if ws != NULL:
        _ws_busy = False

def _workspace_after_fork():
    # a fork taken while another thread was inside a GEMM leaves the flag set in the child,
    # where that thread does not exist
    global _ws_busy
    _ws_busy = False

import os as _os
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_workspace_after_fork)

cdef object _config = None
cdef object _slow = None

cdef int _threads() except -1:
    global _config
    if _config is None:
        from annc import config as _c
        _config = _c
    return _config._num_threads

cdef inline bint _overlap(cnp.ndarray x, cnp.ndarray y):
    cdef char *x0 = <char *>cnp.PyArray_DATA(x)
    cdef char *y0 = <char *>cnp.PyArray_DATA(y)
    return x0 < y0 + cnp.PyArray_NBYTES(y) and y0 < x0 + cnp.PyArray_NBYTES(x)

cdef int _run(int ta, int tb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha,
              const float *a, Py_ssize_t lda, const float *b, Py_ssize_t ldb, float beta,
              float *c, Py_ssize_t ldc, const float *bias, int act, float act_param,
              int nthreads) except -1:
    cdef size_t need = annc_sgemm_workspace_floats(m, n, k, nthreads)
    cdef float *ws = _take_workspace(need)
    cdef int status
    with nogil:
        status = annc_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act,
                            act_param, nthreads, ws)
    _give_back(ws)
    if status != ANNC_OK:
        if status == ANNC_ERR_WORKSPACE:
            raise MemoryError("annc_sgemm could not allocate its packing workspace")
        raise RuntimeError(f"annc_sgemm failed with status {status}")
    return 0


def matmul(a, b, bint transpose_a=False, bint transpose_b=False, out=None):
    """op(a) @ op(b) in float32, where op transposes when asked (a GEMM flag, never a copy).

    a and b are 2-D arrays. float32 C-contiguous inputs are used in place; other real dtypes
    (float64, ints) are converted to float32 and non-contiguous arrays are copied first.
    ``out``, when given, must be a C-contiguous float32 array of the result's shape that does
    not overlap a or b; it is overwritten (its previous contents, NaN included, never leak into
    the result). The GIL is released while the product is computed.
    """
    global _slow
    cdef cnp.ndarray A, B, C
    cdef Py_ssize_t m, n, k, kb
    cdef cnp.npy_intp dims[2]
    if annc_is_f32_matrix(a) and annc_is_f32_matrix(b):
        A = <cnp.ndarray>a
        B = <cnp.ndarray>b
        if transpose_a:
            m = A.shape[1]; k = A.shape[0]
        else:
            m = A.shape[0]; k = A.shape[1]
        if transpose_b:
            kb = B.shape[1]; n = B.shape[0]
        else:
            kb = B.shape[0]; n = B.shape[1]
        if k == kb:
            if out is None:
                dims[0] = m
                dims[1] = n
                C = cnp.PyArray_EMPTY(2, dims, cnp.NPY_FLOAT32, 0)
            elif (annc_is_f32_matrix(out) and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out)
                  and (<cnp.ndarray>out).shape[0] == m and (<cnp.ndarray>out).shape[1] == n
                  and not _overlap(<cnp.ndarray>out, A) and not _overlap(<cnp.ndarray>out, B)):
                C = <cnp.ndarray>out
            else:
                C = None
            if C is not None:
                if m > 0 and n > 0:
                    _run(transpose_a, transpose_b, m, n, k, 1.0,
                         <const float *>cnp.PyArray_DATA(A), max(A.shape[1], 1),
                         <const float *>cnp.PyArray_DATA(B), max(B.shape[1], 1), 0.0,
                         <float *>cnp.PyArray_DATA(C), max(n, 1), NULL, 0, 0.0, _threads())
                return C
    # everything else (conversion, and the errors with their messages) lives in Python
    if _slow is None:
        from annc.ops import _matmul_checked
        _slow = _matmul_checked
    return _slow(a, b, transpose_a, transpose_b, out)


def sgemm(a, b, c, bint transpose_a, bint transpose_b, float alpha, float beta, int nthreads,
          bias=None, int act=0, float act_param=0.0):
    """c = act(alpha * op(a) @ op(b) + beta * c + bias), all C-contiguous float32 ndarrays
    (c writeable); the low-level entry the tests use for alpha, beta and the epilogue."""
    for name, x in (("a", a), ("b", b), ("c", c)):
        if not annc_is_f32_matrix(x):
            raise TypeError(f"sgemm: {name} must be a C-contiguous float32 2-D ndarray")
    cdef cnp.ndarray A = <cnp.ndarray>a, B = <cnp.ndarray>b, C = <cnp.ndarray>c
    if not cnp.PyArray_ISWRITEABLE(C):
        raise ValueError("sgemm: c must be writeable")
    cdef Py_ssize_t m = C.shape[0], n = C.shape[1]
    cdef Py_ssize_t k = A.shape[0] if transpose_a else A.shape[1]
    cdef Py_ssize_t am = A.shape[1] if transpose_a else A.shape[0]
    cdef Py_ssize_t bk = B.shape[1] if transpose_b else B.shape[0]
    cdef Py_ssize_t bn = B.shape[0] if transpose_b else B.shape[1]
    if am != m or bn != n or bk != k:
        raise ValueError(f"sgemm: shapes a{a.shape} b{b.shape} c{c.shape} do not fit")
    if _overlap(C, A) or _overlap(C, B):
        raise ValueError("sgemm: c must not overlap a or b")
    cdef const float[::1] bias_v
    cdef const float *bias_p = NULL
    if bias is not None:
        bias_v = bias
        if bias_v.shape[0] != n:
            raise ValueError(f"sgemm: bias has {bias_v.shape[0]} values for {n} columns")
        bias_p = &bias_v[0] if n > 0 else NULL
    if nthreads < 1:
        nthreads = 1
    if m == 0 or n == 0:
        return
    _run(transpose_a, transpose_b, m, n, k, alpha,
         <const float *>cnp.PyArray_DATA(A), max(A.shape[1], 1),
         <const float *>cnp.PyArray_DATA(B), max(B.shape[1], 1), beta,
         <float *>cnp.PyArray_DATA(C), max(n, 1), bias_p, act, act_param, nthreads)
