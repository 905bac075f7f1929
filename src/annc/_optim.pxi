# Optimizer binding: one Keras-3 optimizer step over one parameter array (annc.optimizers'
# Python path; the training engine drives csrc/optim.c directly on its slabs).

cdef tuple _OPT_FLOAT_KEYS = ("learning_rate", "momentum", "rho", "beta_1", "beta_2", "epsilon",
                              "initial_accumulator_value", "weight_decay")
cdef tuple _OPT_INT_KEYS = ("kind", "nesterov", "centered", "amsgrad")


cdef int _opt_fill(annc_optimizer *o, dict params) except -1:
    missing = [k for k in _OPT_FLOAT_KEYS + _OPT_INT_KEYS if k not in params]
    if missing:
        raise KeyError(f"opt_apply: params lacks {missing}")
    o.kind = int(params["kind"])
    o.learning_rate = float(params["learning_rate"])
    o.momentum = float(params["momentum"])
    o.nesterov = 1 if params["nesterov"] else 0
    o.rho = float(params["rho"])
    o.centered = 1 if params["centered"] else 0
    o.beta_1 = float(params["beta_1"])
    o.beta_2 = float(params["beta_2"])
    o.amsgrad = 1 if params["amsgrad"] else 0
    o.epsilon = float(params["epsilon"])
    o.initial_accumulator_value = float(params["initial_accumulator_value"])
    o.weight_decay = float(params["weight_decay"])
    return 0


cdef object _opt_flat(object a, str what, bint writable):
    """A 1-D float32 view of a C-contiguous array of any shape (never a copy: the update must
    land in the caller's memory)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"opt_apply: {what} must be a NumPy array, got {type(a).__name__}")
    if a.dtype != np.float32:
        raise TypeError(f"opt_apply: {what} must be float32, got {a.dtype}")
    if not a.flags.c_contiguous:
        raise ValueError(f"opt_apply: {what} must be C-contiguous (np.ascontiguousarray)")
    if writable and not a.flags.writeable:
        raise ValueError(f"opt_apply: {what} is read-only")
    return a.reshape(-1)


def opt_apply(dict params, long long iterations, double u_product, w, g, list slots):
    """One optimizer step on w (updated in place) with gradient g and the optimizer's slot arrays
    (updated in place, in the order csrc/optim.c documents). `iterations` is the number of steps
    already applied; returns the new Nadam u_product (the input unchanged for other kinds)."""
    cdef annc_optimizer o
    _opt_fill(&o, params)
    o.iterations = iterations
    o.u_product = u_product
    cdef int nslots = annc_opt_num_slots(&o)
    if nslots < 0:
        raise ValueError(f"opt_apply: unknown optimizer kind {o.kind}")
    if len(slots) != nslots:
        raise ValueError(f"opt_apply: this optimizer keeps {nslots} slot(s), got {len(slots)}")
    wf = _opt_flat(w, "w", True)
    gf = _opt_flat(g, "g", False)
    flats = [_opt_flat(s, f"slots[{i}]", True) for i, s in enumerate(slots)]
    cdef Py_ssize_t n = wf.shape[0]
    if gf.shape[0] != n or any(f.shape[0] != n for f in flats):
        raise ValueError(f"opt_apply: sizes differ: w {n}, g {gf.shape[0]}, slots "
                         f"{[f.shape[0] for f in flats]}")
    # the C loops are restrict-qualified; overlapping buffers would be silently wrong
    arrays = [wf, gf] + flats
    for i in range(len(arrays)):
        for j in range(i + 1, len(arrays)):
            if np.may_share_memory(arrays[i], arrays[j]):
                raise ValueError("opt_apply: w, g and the slots must not overlap in memory")

    cdef float[::1] wv = wf
    cdef const float[::1] gv = gf
    cdef float[::1] sv
    cdef float *sp[3]
    sp[0] = NULL
    sp[1] = NULL
    sp[2] = NULL
    cdef int i_s
    for i_s in range(nslots):
        sv = flats[i_s]
        sp[i_s] = &sv[0] if n > 0 else NULL
    cdef float *wp = &wv[0] if n > 0 else NULL
    cdef const float *gp = &gv[0] if n > 0 else NULL
    with nogil:
        annc_opt_prepare(&o)
        annc_opt_apply(&o, wp, gp, sp[0], sp[1], sp[2], n)
    return o.u_product
