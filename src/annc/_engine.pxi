# The executor binding: a Sequential network's C description, built once per fit/predict
# setup from NumPy arrays that Python owns, then driven with scalars only.
from libc.stdlib cimport calloc, free
from libc.string cimport memset
from cpython.pythread cimport (PyThread_type_lock, PyThread_allocate_lock, PyThread_free_lock,
                               PyThread_acquire_lock, PyThread_release_lock, WAIT_LOCK,
                               NOWAIT_LOCK)

cdef extern from "annc.h" nogil:
    enum:
        ANNC_LAYER_DENSE
        ANNC_LAYER_ACTIVATION
        ANNC_LAYER_DROPOUT
        ANNC_MAX_METRICS

    ctypedef struct annc_layer:
        int kind
        Py_ssize_t in_ "in"
        Py_ssize_t out
        int act
        float act_param
        float *W
        float *b
        float *dW
        float *db
        float kernel_l1, kernel_l2, bias_l1, bias_l2
        float activity_l1, activity_l2
        int trainable
        float rate
        float *z
        float *y
        float *mask

    ctypedef struct annc_net:
        int nlayers
        annc_layer *layers
        Py_ssize_t in_features, out_features
        Py_ssize_t rows
        float *xbuf
        void *tbuf
        float *gbuf0
        float *gbuf1
        float *loss_rows
        float *ws
        size_t ws_floats
        size_t ws_need
        int loss, from_logits
        float loss_param
        int fused
        int nthreads
        float *params
        float *grads
        float *slot0
        float *slot1
        float *slot2
        Py_ssize_t nparams
        int all_trainable
        float clipnorm, global_clipnorm, clipvalue

    size_t annc_net_workspace_floats(const annc_net *net, Py_ssize_t rows)
    int annc_train_steps(annc_net *net, annc_optimizer *opt, const float *x, Py_ssize_t ldx,
                         const void *targets, Py_ssize_t target_cols, const int64_t *perm,
                         Py_ssize_t n, Py_ssize_t batch, Py_ssize_t first_step,
                         Py_ssize_t nsteps, const float *lrs, uint64_t key, uint64_t counter,
                         const int *metrics, int nmetrics, double *sums, Py_ssize_t *seen)
    int annc_evaluate(annc_net *net, const float *x, Py_ssize_t ldx, const void *targets,
                      Py_ssize_t target_cols, Py_ssize_t n, const int *metrics, int nmetrics,
                      double *sums)
    int annc_predict(annc_net *net, float *out, const float *x, Py_ssize_t ldx, Py_ssize_t n)
    int64_t annc_first_nonfinite(const float *x, int64_t n)
    enum:
        ANNC_ROWGEMM_MAX_ROWS
    void annc_block_sums(float *z, float *y, Py_ssize_t ld, Py_ssize_t rows, Py_ssize_t n,
                         const float *partials, size_t plane, Py_ssize_t nb, Py_ssize_t m0,
                         Py_ssize_t m1, const float *bias, int relu)
    int annc_rowgemm(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float *a, Py_ssize_t lda,
                     const float *b, Py_ssize_t ldb, float *c, Py_ssize_t ldc, const float *bias,
                     int act, float act_param)


cdef inline float *_fptr(object arr) except? NULL:
    """Address of a C-contiguous float32 array's first element (None -> NULL)."""
    cdef float[::1] v
    if arr is None:
        return NULL
    v = arr.reshape(-1)
    if v.shape[0] == 0:
        return NULL
    return &v[0]


cdef inline void *_vptr(object arr) except? NULL:
    cdef char[::1] v
    if arr is None:
        return NULL
    v = arr.reshape(-1).view(np.int8)
    if v.shape[0] == 0:
        return NULL
    return <void *>&v[0]


cdef class Engine:
    """A network description for the C executor. `layers` is a list of dicts (see
    annc.models._engine); every array in it is kept alive by this object."""
    cdef annc_net net
    cdef annc_optimizer opt
    cdef int metrics[8]
    cdef int nmetrics
    cdef object _keep
    # data bound for an epoch
    cdef const float *x
    cdef Py_ssize_t ldx, nrows
    cdef const void *targets
    cdef Py_ssize_t target_cols
    cdef const int64_t *perm
    cdef object _keep_bound
    # the layer buffers are per engine: calls from several Python threads take turns
    cdef PyThread_type_lock lock

    def __cinit__(self):
        self.net.layers = NULL
        self._keep = []
        self.lock = PyThread_allocate_lock()
        if self.lock == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.net.layers)
        if self.lock != NULL:
            PyThread_free_lock(self.lock)

    def __init__(self, list layers, Py_ssize_t in_features, Py_ssize_t rows, int nthreads,
                 dict buffers, dict slab, loss=None, metrics=()):
        cdef Py_ssize_t i
        cdef annc_layer *L
        cdef int nl = len(layers)
        if nl < 1:
            raise ValueError("Engine: a network needs at least one layer")
        if len(metrics) > ANNC_MAX_METRICS:
            raise ValueError(f"Engine: at most {ANNC_MAX_METRICS} compiled metrics")
        self.net.layers = <annc_layer *>calloc(nl, sizeof(annc_layer))
        if self.net.layers == NULL:
            raise MemoryError()
        self.net.nlayers = nl
        keep = self._keep
        for i, d in enumerate(layers):
            L = &self.net.layers[i]
            L.kind = d["kind"]
            L.in_ = d["in"]
            L.out = d["out"]
            L.act = d.get("act", 0)
            L.act_param = d.get("act_param", 0.0)
            L.trainable = d.get("trainable", 1)
            L.rate = d.get("rate", 0.0)
            L.kernel_l1, L.kernel_l2 = d.get("kernel_reg", (0.0, 0.0))
            L.bias_l1, L.bias_l2 = d.get("bias_reg", (0.0, 0.0))
            L.activity_l1, L.activity_l2 = d.get("activity_reg", (0.0, 0.0))
            for name in ("W", "b", "dW", "db", "z", "y", "mask"):
                arr = d.get(name)
                if arr is not None:
                    _check_f32(arr, name, i)
                    if name in ("z", "y", "mask") and arr.size < rows * L.out:
                        raise ValueError(f"Engine: layer {i} buffer {name} too small")
                    keep.append(arr)
            if L.kind == ANNC_LAYER_DENSE:
                if d["W"].size != L.in_ * L.out:
                    raise ValueError(f"Engine: layer {i} kernel size mismatch")
            L.W = _fptr(d.get("W")); L.b = _fptr(d.get("b"))
            L.dW = _fptr(d.get("dW")); L.db = _fptr(d.get("db"))
            L.z = _fptr(d.get("z")); L.y = _fptr(d.get("y")); L.mask = _fptr(d.get("mask"))
            if L.y == NULL:
                raise ValueError(f"Engine: layer {i} has no output buffer")
        self.net.in_features = in_features
        self.net.out_features = self.net.layers[nl - 1].out
        self.net.rows = rows
        self.net.nthreads = max(1, nthreads)
        for name in ("xbuf", "tbuf", "gbuf0", "gbuf1", "loss_rows"):
            arr = buffers.get(name)
            if arr is not None:
                keep.append(arr)
        self.net.xbuf = _fptr(buffers.get("xbuf"))
        self.net.tbuf = _vptr(buffers.get("tbuf"))
        self.net.gbuf0 = _fptr(buffers.get("gbuf0"))
        self.net.gbuf1 = _fptr(buffers.get("gbuf1"))
        self.net.loss_rows = _fptr(buffers.get("loss_rows"))
        # the GEMM workspace: a NumPy array (Python owns memory) sized by the C core's rule
        self.net.ws_need = annc_net_workspace_floats(&self.net, rows)
        ws = np.empty(self.net.ws_need + 32, dtype=np.float32)
        keep.append(ws)
        cdef size_t misalign = (<size_t>_fptr(ws)) % 64
        self.net.ws = _fptr(ws) + ((64 - misalign) % 64) // 4
        self.net.ws_floats = ws.size - 16
        for name in ("params", "grads", "slot0", "slot1", "slot2"):
            arr = slab.get(name)
            if arr is not None:
                keep.append(arr)
        self.net.params = _fptr(slab.get("params"))
        self.net.grads = _fptr(slab.get("grads"))
        self.net.slot0 = _fptr(slab.get("slot0"))
        self.net.slot1 = _fptr(slab.get("slot1"))
        self.net.slot2 = _fptr(slab.get("slot2"))
        self.net.nparams = slab["params"].size if slab.get("params") is not None else 0
        self.net.all_trainable = slab.get("all_trainable", 1)
        if loss is not None:
            self.net.loss, self.net.from_logits, self.net.loss_param, self.net.fused = loss
        self.nmetrics = len(metrics)
        for i, m in enumerate(metrics):
            self.metrics[i] = m

    def set_optimizer(self, dict p, long long iterations, double u_product, clipnorm=None,
                      global_clipnorm=None, clipvalue=None):
        memset(&self.opt, 0, sizeof(annc_optimizer))
        self.net.clipnorm = clipnorm or 0.0
        self.net.global_clipnorm = global_clipnorm or 0.0
        self.net.clipvalue = clipvalue or 0.0
        self.opt.kind = p["kind"]
        self.opt.learning_rate = p["learning_rate"]
        self.opt.momentum = p.get("momentum", 0.0)
        self.opt.nesterov = p.get("nesterov", 0)
        self.opt.rho = p.get("rho", 0.0)
        self.opt.centered = p.get("centered", 0)
        self.opt.beta_1 = p.get("beta_1", 0.0)
        self.opt.beta_2 = p.get("beta_2", 0.0)
        self.opt.amsgrad = p.get("amsgrad", 0)
        self.opt.epsilon = p.get("epsilon", 0.0)
        self.opt.initial_accumulator_value = p.get("initial_accumulator_value", 0.0)
        self.opt.weight_decay = p.get("weight_decay", 0.0) or 0.0
        self.opt.iterations = iterations
        self.opt.u_product = u_product

    @property
    def iterations(self):
        return self.opt.iterations

    @property
    def u_product(self):
        return self.opt.u_product

    def bind(self, x, targets, perm):
        """Bind the arrays one epoch reads (kept alive by the caller for the epoch)."""
        cdef const float[:, ::1] xv = x
        self.x = &xv[0, 0] if xv.shape[0] > 0 else NULL
        self.ldx = xv.shape[1]
        self.nrows = xv.shape[0]
        if xv.shape[1] != self.net.in_features:
            raise ValueError("Engine.bind: x width mismatch")
        self.targets = _vptr(targets)
        self.target_cols = 0 if targets.ndim == 1 else targets.shape[1]
        if targets.shape[0] != self.nrows:
            raise ValueError("Engine.bind: targets length mismatch")
        if perm is not None:
            if perm.dtype != np.int64 or perm.shape[0] != self.nrows:
                raise ValueError("Engine.bind: perm must be int64 of length n")
            self.perm = <const int64_t *>_vptr(perm)
        self._keep_bound = (x, targets, perm)

    def run_steps(self, Py_ssize_t first_step, Py_ssize_t nsteps, Py_ssize_t batch_size,
                  lrs, uint64_t key, uint64_t counter, double[::1] sums):
        """Steps first_step .. first_step+nsteps-1 of the bound epoch, in one call into C.
        lrs: one learning rate (float) or an array with one per step. Returns the number of
        samples seen."""
        cdef Py_ssize_t seen = 0
        cdef int st = 0
        cdef const float[::1] lr_v
        cdef const float *lr_p = NULL
        if not isinstance(lrs, float):
            lr_v = lrs
            if lr_v.shape[0] < nsteps:
                raise ValueError("run_steps: need one learning rate per step")
            lr_p = &lr_v[0] if nsteps > 0 else NULL
        else:
            self.opt.learning_rate = lrs
        if sums.shape[0] < 1 + self.nmetrics:
            raise ValueError("run_steps: sums too short")
        if batch_size < 1 or min(batch_size, self.nrows) > self.net.rows:
            raise ValueError("run_steps: batch larger than the engine's buffers")
        if nsteps <= 0 or first_step * batch_size >= self.nrows:
            return 0
        with nogil:
            PyThread_acquire_lock(self.lock, WAIT_LOCK)
            st = annc_train_steps(&self.net, &self.opt, self.x, self.ldx, self.targets,
                                  self.target_cols, self.perm, self.nrows, batch_size,
                                  first_step, nsteps, lr_p, key, counter, self.metrics,
                                  self.nmetrics, &sums[0], &seen)
            PyThread_release_lock(self.lock)
        if st != 0:
            raise RuntimeError(f"annc_train_steps failed with status {st}")
        return seen

    def evaluate(self, x, targets, double[::1] sums):
        cdef const float[:, ::1] xv = x
        cdef const void *t = _vptr(targets)
        cdef Py_ssize_t tc = 0 if targets.ndim == 1 else targets.shape[1]
        cdef Py_ssize_t n = xv.shape[0]
        cdef int st
        if xv.shape[1] != self.net.in_features or targets.shape[0] != n:
            raise ValueError("Engine.evaluate: shape mismatch")
        if n == 0:
            return
        if sums.shape[0] < 1 + self.nmetrics:
            raise ValueError("Engine.evaluate: sums too short")
        with nogil:
            PyThread_acquire_lock(self.lock, WAIT_LOCK)
            st = annc_evaluate(&self.net, &xv[0, 0], xv.shape[1], t, tc, n, self.metrics,
                               self.nmetrics, &sums[0])
            PyThread_release_lock(self.lock)
        if st != 0:
            raise RuntimeError(f"annc_evaluate failed with status {st}")

    def predict_new(self, x):
        """The network's output for x as a new float32 array when x is a C-contiguous float32
        matrix of the network's width; None otherwise, for the caller to convert and check x
        (one call for a Keras model(x) on a ready array: its checks and allocation in C)."""
        cdef cnp.npy_intp dims[2]
        if not annc_is_f32_matrix(x) or \
                cnp.PyArray_DIM(<cnp.ndarray>x, 1) != self.net.in_features:
            return None
        dims[0] = cnp.PyArray_DIM(<cnp.ndarray>x, 0)
        dims[1] = self.net.out_features
        return self.predict(x, cnp.PyArray_EMPTY(2, dims, cnp.NPY_FLOAT32, 0))

    def predict(self, x, out):
        """out[:] = the network's output for x; both float32 (n, features) arrays."""
        cdef Py_ssize_t n
        cdef int st
        cdef const float *xp
        cdef float *op
        if not (annc_is_f32_matrix(x) and annc_is_f32_matrix(out)):
            raise TypeError("Engine.predict: x and out must be C-contiguous float32 matrices")
        n = cnp.PyArray_DIM(<cnp.ndarray>x, 0)
        if cnp.PyArray_DIM(<cnp.ndarray>x, 1) != self.net.in_features or \
                cnp.PyArray_DIM(<cnp.ndarray>out, 0) != n or \
                cnp.PyArray_DIM(<cnp.ndarray>out, 1) != self.net.out_features or \
                not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out):
            raise ValueError("Engine.predict: shape mismatch")
        if n == 0:
            return out
        xp = <const float *>cnp.PyArray_DATA(<cnp.ndarray>x)
        op = <float *>cnp.PyArray_DATA(<cnp.ndarray>out)
        if n <= 4 and PyThread_acquire_lock(self.lock, NOWAIT_LOCK):
            # a few microseconds of work: releasing the GIL would cost more than it frees
            st = annc_predict(&self.net, op, xp, self.net.in_features, n)
            PyThread_release_lock(self.lock)
        else:
            with nogil:
                PyThread_acquire_lock(self.lock, WAIT_LOCK)
                st = annc_predict(&self.net, op, xp, self.net.in_features, n)
                PyThread_release_lock(self.lock)
        if st != 0:
            raise RuntimeError(f"annc_predict failed with status {st}")
        return out


cdef _check_f32(arr, name, i):
    if not isinstance(arr, np.ndarray) or arr.dtype != np.float32 or not arr.flags.c_contiguous:
        raise TypeError(f"Engine: layer {i} array {name} must be C-contiguous float32")


def gemm_workspace_floats(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, int nthreads):
    """Floats of packing workspace annc_sgemm needs for this product."""
    return annc_sgemm_workspace_floats(m, n, k, max(1, nthreads))



def rowgemm(const float[:, ::1] a, const float[:, ::1] b, float[:, ::1] c, bias=None,
            int act=0, float act_param=0.0):
    """c = act(a @ b + bias) through the few-rows path (a has at most 4 rows)."""
    cdef Py_ssize_t m = a.shape[0], k = a.shape[1], n = b.shape[1]
    cdef const float[::1] bias_v
    cdef const float *bias_p = NULL
    cdef int st
    if b.shape[0] != k or c.shape[0] != m or c.shape[1] != n:
        raise ValueError(f"rowgemm: shapes a({m}, {k}) b({b.shape[0]}, {n}) "
                         f"c({c.shape[0]}, {c.shape[1]}) do not fit")
    if m > ANNC_ROWGEMM_MAX_ROWS:
        raise ValueError(f"rowgemm: at most {ANNC_ROWGEMM_MAX_ROWS} rows, got {m}")
    if bias is not None:
        bias_v = bias
        if bias_v.shape[0] != n:
            raise ValueError("rowgemm: bias length differs from the columns")
        bias_p = &bias_v[0] if n > 0 else NULL
    if m == 0 or n == 0:
        return c
    st = annc_rowgemm(m, n, k, &a[0, 0] if k > 0 else NULL, max(k, 1),
                      &b[0, 0] if k > 0 else NULL, n, &c[0, 0], n, bias_p, act, act_param)
    if st != 0:
        raise ValueError(f"rowgemm: invalid arguments (status {st})")
    return c


def block_sums(const float[:, :, ::1] planes, Py_ssize_t m0, Py_ssize_t m1, bias=None,
               bint relu=False, bint separate_y=True):
    """The executor's sums of a K-blocked layer from its planes (nb, rows, n), in its fixed
    order: planes 0 and m0..nb/2-1, planes nb/2 and m1..nb-1, the two, then the bias; with
    relu also y = max(z, 0) (separate_y False: written into z). Returns (z, y or None)."""
    cdef Py_ssize_t nb = planes.shape[0], rows = planes.shape[1], n = planes.shape[2]
    cdef const float[::1] bias_v
    cdef const float *bias_p = NULL
    if nb < 2 or not (1 <= m0 <= nb // 2) or not (nb // 2 < m1 <= nb):
        raise ValueError(f"block_sums: need nb >= 2, 1 <= m0 <= nb/2 < m1 <= nb; got nb {nb}, "
                         f"m0 {m0}, m1 {m1}")
    if bias is not None:
        bias_v = bias
        if bias_v.shape[0] != n:
            raise ValueError("block_sums: bias length differs from the columns")
        bias_p = &bias_v[0] if n > 0 else NULL
    z = np.empty((rows, n), np.float32)
    y = np.empty((rows, n), np.float32) if relu and separate_y else None
    cdef float[:, ::1] zv = z
    cdef float[:, ::1] yv
    cdef float *y_p = NULL
    if y is not None:
        yv = y
        y_p = &yv[0, 0] if rows > 0 and n > 0 else NULL
    if rows > 0 and n > 0:
        with nogil:
            annc_block_sums(&zv[0, 0], y_p, n, rows, n, &planes[0, 0, 0], <size_t>(rows * n), nb,
                            m0, m1, bias_p, relu)
    return z, y


def first_nonfinite(const float[::1] x):
    """Index of the first NaN/inf in a flat float32 array, or -1; no temporary arrays."""
    cdef int64_t r
    if x.shape[0] == 0:
        return -1
    with nogil:
        r = annc_first_nonfinite(&x[0], x.shape[0])
    return r
