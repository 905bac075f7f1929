# GEMM binding: annc.ops.matmul's engine room.

cdef object _ws_local = threading.local()

cdef float[::1] _workspace(size_t nfloats):
    """A per-Python-thread packing workspace, grown on demand and reused across calls, so
    concurrent calls from several Python threads never share one."""
    cdef float[::1] ws
    buf = getattr(_ws_local, "buf", None)
    if buf is None or buf.shape[0] < nfloats:
        buf = np.empty(max(nfloats, 1024), dtype=np.float32)
        _ws_local.buf = buf
    ws = buf
    return ws


def sgemm(const float[:, ::1] a, const float[:, ::1] b, float[:, ::1] c, bint transpose_a,
          bint transpose_b, float alpha, float beta, int nthreads, bias=None, int act=0,
          float act_param=0.0):
    """c = act(alpha * op(a) @ op(b) + beta * c + bias), all C-contiguous float32."""
    cdef Py_ssize_t m = c.shape[0], n = c.shape[1]
    cdef Py_ssize_t k = a.shape[0] if transpose_a else a.shape[1]
    cdef Py_ssize_t am = a.shape[1] if transpose_a else a.shape[0]
    cdef Py_ssize_t bk = b.shape[1] if transpose_b else b.shape[0]
    cdef Py_ssize_t bn = b.shape[0] if transpose_b else b.shape[1]
    if am != m or bn != n or bk != k:
        raise ValueError(f"sgemm: shapes a({a.shape[0]}, {a.shape[1]}) b({b.shape[0]}, {b.shape[1]}) "
                         f"c({m}, {n}) do not fit")
    cdef const float[::1] bias_v
    cdef const float *bias_p = NULL
    if bias is not None:
        bias_v = bias
        if bias_v.shape[0] != n:
            raise ValueError(f"sgemm: bias has {bias_v.shape[0]} values for {n} columns")
        bias_p = &bias_v[0] if n > 0 else NULL
    if nthreads < 1:
        nthreads = 1
    cdef size_t need = annc_sgemm_workspace_floats(m, n, k, nthreads)
    # the C core wants 64-byte aligned workspace; NumPy only promises 16
    cdef float[::1] ws = _workspace(need + 16)
    cdef size_t misalign = (<size_t>&ws[0]) % 64
    cdef float *wsp = &ws[0] + ((64 - misalign) % 64) // 4
    cdef int status
    cdef const float *ap = &a[0, 0] if a.shape[0] > 0 and a.shape[1] > 0 else NULL
    cdef const float *bp = &b[0, 0] if b.shape[0] > 0 and b.shape[1] > 0 else NULL
    cdef float *cp = &c[0, 0] if m > 0 and n > 0 else NULL
    cdef Py_ssize_t lda = max(a.shape[1], 1), ldb = max(b.shape[1], 1), ldc = max(n, 1)
    with nogil:
        status = annc_sgemm(transpose_a, transpose_b, m, n, k, alpha, ap, lda, bp, ldb, beta,
                            cp, ldc, bias_p, act, act_param, nthreads, wsp)
    if status != ANNC_OK:
        raise RuntimeError(f"annc_sgemm failed with status {status}")
