# Counter-based RNG binding: annc.random's engine room. Every function is a pure function of
# (key, counter, n): no state lives here.

cdef object _rng_out(object out, Py_ssize_t n, object dtype, str fn):
    if out is None:
        if n < 0:
            raise ValueError(f"{fn}: n must be >= 0, got {n}")
        return np.empty(n, dtype=dtype)
    if not isinstance(out, np.ndarray) or out.dtype != dtype:
        raise TypeError(f"{fn}: out must be a {np.dtype(dtype).name} ndarray")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{fn}: out must be C-contiguous and writeable")
    return out


def rng_u64(uint64_t key, uint64_t counter):
    """One 64-bit random integer for (key, counter): a mixer for deriving keys from seeds."""
    return annc_rng_u64(key, counter)


def rng_uniform(Py_ssize_t n, uint64_t key, uint64_t counter, float lo=0.0, float hi=1.0,
                out=None):
    """n float32 values uniform in [lo, hi) (into out, any shape, when given)."""
    out = _rng_out(out, n, np.float32, "rng_uniform")
    cdef Py_ssize_t m = out.size
    if m == 0:
        return out
    cdef float[::1] v = out.reshape(-1)
    with nogil:
        annc_rng_uniform(&v[0], m, key, counter, lo, hi)
    return out


def rng_normal(Py_ssize_t n, uint64_t key, uint64_t counter, float mean=0.0, float stddev=1.0,
               out=None):
    out = _rng_out(out, n, np.float32, "rng_normal")
    cdef Py_ssize_t m = out.size
    if m == 0:
        return out
    cdef float[::1] v = out.reshape(-1)
    with nogil:
        annc_rng_normal(&v[0], m, key, counter, mean, stddev)
    return out


def rng_truncated_normal(Py_ssize_t n, uint64_t key, uint64_t counter, float mean=0.0,
                         float stddev=1.0, out=None):
    out = _rng_out(out, n, np.float32, "rng_truncated_normal")
    cdef Py_ssize_t m = out.size
    if m == 0:
        return out
    cdef float[::1] v = out.reshape(-1)
    with nogil:
        annc_rng_truncated_normal(&v[0], m, key, counter, mean, stddev)
    return out


def rng_permutation(int64_t n, uint64_t key, uint64_t counter, out=None):
    """A uniformly random permutation of 0..n-1 as int64."""
    out = _rng_out(out, n, np.int64, "rng_permutation")
    if out.size != n:
        raise ValueError(f"rng_permutation: out has {out.size} elements, expected {n}")
    if n == 0:
        return out
    cdef int64_t[::1] v = out.reshape(-1)
    with nogil:
        annc_rng_permutation(&v[0], n, key, counter)
    return out


def rng_dropout_mask(Py_ssize_t n, uint64_t key, uint64_t counter, float rate, out=None):
    """Inverted-dropout mask: 0 with probability rate, else 1 / (1 - rate)."""
    if not (0.0 <= rate <= 1.0):
        raise ValueError(f"rng_dropout_mask: rate must be in [0, 1], got {rate}")
    out = _rng_out(out, n, np.float32, "rng_dropout_mask")
    cdef Py_ssize_t m = out.size
    if m == 0:
        return out
    cdef float[::1] v = out.reshape(-1)
    with nogil:
        annc_rng_dropout_mask(&v[0], m, key, counter, rate)
    return out
