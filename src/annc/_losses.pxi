# Losses and activations binding: annc.losses and annc.activations call these; the engine may
# too. Each function checks the invariants the C code relies on (dtype, contiguity, shapes,
# ids) with the GIL held, then runs the kernel with it released.

cdef int _N_LOSSES = 6      # ANNC_LOSS_COUNT
cdef int _LOSS_SPARSE = 0   # ANNC_LOSS_SPARSE_CCE
cdef int _N_ACTS = 13       # ANNC_ACT_COUNT
cdef int _ACT_SOFTMAX = 4   # ANNC_ACT_SOFTMAX


cdef object _f32_array(object a, str name, int ndim=-1):
    """a itself when it is a C-contiguous float32 ndarray (of ndim dims when ndim >= 0);
    otherwise a TypeError/ValueError naming the argument. No silent copies: callers above
    this module convert once, outside any loop."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype != np.float32:
        raise TypeError(f"{name} must be float32, got {a.dtype}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use np.ascontiguousarray)")
    if ndim >= 0 and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    return a


def loss(int loss_id, bint from_logits, float param, pred, target, float grad_scale=1.0,
         bint want_grad=False):
    """Per-sample loss of pred (rows, cols) against target -> (loss[rows], dpred or None).

    target is int32 (rows,) class ids for the sparse cross-entropy, else float32 (rows, cols).
    dpred is the gradient of grad_scale * sum(loss) with respect to pred."""
    if loss_id < 0 or loss_id >= _N_LOSSES:
        raise ValueError(f"loss: unknown loss id {loss_id} (valid: 0..{_N_LOSSES - 1})")
    _f32_array(pred, "pred", 2)
    cdef Py_ssize_t rows = pred.shape[0], cols = pred.shape[1]
    if loss_id == _LOSS_SPARSE:
        if not isinstance(target, np.ndarray) or target.dtype != np.int32:
            raise TypeError(f"loss: sparse targets must be an int32 ndarray, got "
                            f"{getattr(target, 'dtype', type(target).__name__)}")
        if not target.flags.c_contiguous or target.ndim != 1 or target.shape[0] != rows:
            raise ValueError(f"loss: sparse targets must be C-contiguous with shape ({rows},), "
                             f"got {target.shape}")
    else:
        _f32_array(target, "target", 2)
        if target.shape[0] != rows or target.shape[1] != cols:
            raise ValueError(f"loss: target shape {target.shape} differs from pred shape "
                             f"{pred.shape}")
    if rows > 0 and cols == 0:
        raise ValueError("loss: pred has no columns")
    out = np.empty(rows, dtype=np.float32)
    grad = np.empty((rows, cols), dtype=np.float32) if want_grad else None
    if rows == 0:
        return out, grad
    cdef const float[:, ::1] pv = pred
    cdef float[::1] ov = out
    cdef float[:, ::1] gv
    cdef float *gp = NULL
    if want_grad:
        gv = grad
        gp = &gv[0, 0]
    cdef const int[::1] tiv
    cdef const float[:, ::1] tfv
    cdef const void *tp
    if loss_id == _LOSS_SPARSE:
        tiv = target
        tp = &tiv[0]
    else:
        tfv = target
        tp = &tfv[0, 0]
    cdef int status
    cdef int lid = loss_id, fl = from_logits
    with nogil:
        status = annc_loss(lid, fl, param, &ov[0], gp, &pv[0, 0], tp, rows, cols, grad_scale)
    if status != ANNC_OK:
        if loss_id == _LOSS_SPARSE:
            bad = target[(target < 0) | (target >= cols)]
            raise ValueError(f"loss: class ids must lie in [0, {cols}); got {bad[:5].tolist()}")
        raise RuntimeError(f"annc_loss failed with status {status}")
    return out, grad


def exp_shifted(x, float m=0.0):
    """expf(x - m) element-wise, as the softmax cross-entropies from logits form their terms
    (x: C-contiguous float32, any shape)."""
    _f32_array(x, "x")
    out = np.empty_like(x)
    cdef const float[::1] xv = x.reshape(-1)
    cdef float[::1] ov = out.reshape(-1)
    cdef Py_ssize_t n = x.size
    if n:
        with nogil:
            annc_exp_shifted(&ov[0], &xv[0], m, n)
    return out


cdef int _check_act(int act_id) except -1:
    if act_id < 0 or act_id >= _N_ACTS:
        raise ValueError(f"unknown activation id {act_id} (valid: 0..{_N_ACTS - 1})")
    if act_id == _ACT_SOFTMAX:
        raise ValueError("softmax is row-wise: use softmax()/softmax_backward(), "
                         "not the element-wise act_forward()/act_backward()")
    return 0


def act_needs_input(int act_id):
    """True when act_backward needs the pre-activation x (else y alone suffices)."""
    _check_act(act_id)
    return bool(annc_act_backward_needs_input(act_id))


def act_forward(int act_id, float param, x, out=None):
    """y = act(x) element-wise; x is a C-contiguous float32 array of any shape. out (same
    shape, float32, C-contiguous) may be x itself."""
    _check_act(act_id)
    _f32_array(x, "x")
    if out is None:
        out = np.empty_like(x)
    else:
        _f32_array(out, "out")
        if out.shape != x.shape:
            raise ValueError(f"act_forward: out shape {out.shape} != x shape {x.shape}")
    cdef Py_ssize_t n = x.size
    if n == 0:
        return out
    cdef const float[::1] xv = x.reshape(-1)
    cdef float[::1] yv = out.reshape(-1)
    with nogil:
        annc_act_forward(act_id, param, &yv[0], &xv[0], n)
    return out


def act_backward(int act_id, float param, dy, x=None, y=None):
    """dx = dy * act'(x). x is the pre-activation, y = act(x); pass whichever you have kept:
    a missing y is recomputed from x; x may be omitted when act_needs_input(act_id) is False."""
    _check_act(act_id)
    _f32_array(dy, "dy")
    cdef bint need_x = annc_act_backward_needs_input(act_id)
    if x is not None:
        _f32_array(x, "x")
        if x.shape != dy.shape:
            raise ValueError(f"act_backward: x shape {x.shape} != dy shape {dy.shape}")
    elif need_x:
        raise ValueError(f"act_backward: activation id {act_id} needs the pre-activation x")
    if y is None:
        if x is None:
            raise ValueError("act_backward: give x or y")
        y = act_forward(act_id, param, x)
    else:
        _f32_array(y, "y")
        if y.shape != dy.shape:
            raise ValueError(f"act_backward: y shape {y.shape} != dy shape {dy.shape}")
    dx = np.empty_like(dy)
    cdef Py_ssize_t n = dy.size
    if n == 0:
        return dx
    cdef const float[::1] dyv = dy.reshape(-1)
    cdef const float[::1] yv = y.reshape(-1)
    cdef const float[::1] xv
    cdef const float *xp = NULL
    if x is not None:
        xv = x.reshape(-1)
        xp = &xv[0]
    cdef float[::1] dxv = dx.reshape(-1)
    with nogil:
        annc_act_backward(act_id, param, &dxv[0], &dyv[0], xp, &yv[0], n)
    return dx


def softmax(x):
    """Row-wise stable softmax of a C-contiguous float32 (rows, cols) matrix."""
    _f32_array(x, "x", 2)
    y = np.empty_like(x)
    cdef Py_ssize_t rows = x.shape[0], cols = x.shape[1]
    if rows == 0 or cols == 0:
        return y
    cdef const float[:, ::1] xv = x
    cdef float[:, ::1] yv = y
    with nogil:
        annc_softmax_forward(&yv[0, 0], cols, &xv[0, 0], cols, rows, cols)
    return y


def softmax_backward(dy, y):
    """dx = y * (dy - sum(dy * y)) row-wise, for y = softmax(x)."""
    _f32_array(dy, "dy", 2)
    _f32_array(y, "y", 2)
    if dy.shape != y.shape:
        raise ValueError(f"softmax_backward: dy shape {dy.shape} != y shape {y.shape}")
    dx = np.empty_like(dy)
    cdef Py_ssize_t rows = y.shape[0], cols = y.shape[1]
    if rows == 0 or cols == 0:
        return dx
    cdef const float[:, ::1] dyv = dy
    cdef const float[:, ::1] yv = y
    cdef float[:, ::1] dxv = dx
    with nogil:
        annc_softmax_backward(&dxv[0, 0], &dyv[0, 0], &yv[0, 0], rows, cols)
    return dx
