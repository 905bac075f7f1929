# Declarations of the C core (csrc/annc.h) for the binding. Keep in step with annc.h.
from libc.stdint cimport int64_t, uint64_t, int32_t

cdef extern from "annc.h" nogil:
    enum:
        ANNC_OK
        ANNC_ERR_ARG
        ANNC_ERR_WORKSPACE

    int annc_isa()
    void annc_set_zero_skip(int on)
    int annc_zero_skip()
    long long annc_zero_skip_taken()
    long long annc_short_k_taken()
    long long annc_zs_given_taken()
    void annc_set_narrow(int on)
    int annc_narrow()
    long long annc_narrow_taken()
    void annc_set_fused_head(int on)
    int annc_fused_head()
    long long annc_fused_head_taken()
    void annc_set_block_sharing(int mode)
    long long annc_blocks_taken_over()
    const char *annc_isa_name(int isa)
    int annc_cpu_has_avx2_fma()
    int annc_openmp_enabled()
    int annc_omp_max_threads()

    int annc_act_backward_needs_input(int act)
    void annc_act_forward(int act, float param, float *y, const float *x, Py_ssize_t n)
    void annc_act_backward(int act, float param, float *dx, const float *dy, const float *x,
                           const float *y, Py_ssize_t n)
    void annc_softmax_forward(float *y, Py_ssize_t ldy, const float *x, Py_ssize_t ldx,
                              Py_ssize_t rows, Py_ssize_t cols)
    void annc_softmax_backward(float *dx, const float *dy, const float *y, Py_ssize_t rows,
                               Py_ssize_t cols)

    int annc_sgemm(int transa, int transb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha,
                   const float *a, Py_ssize_t lda, const float *b, Py_ssize_t ldb, float beta,
                   float *c, Py_ssize_t ldc, const float *bias, int act, float act_param,
                   int nthreads, float *workspace)
    size_t annc_sgemm_workspace_floats(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, int nthreads)
    int annc_sgemm_threads_for(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, int nthreads)

    int annc_loss(int loss, int from_logits, float param, float *loss_out, float *dpred,
                  const float *pred, const void *target, Py_ssize_t rows, Py_ssize_t cols,
                  float grad_scale)
    void annc_exp_shifted(float *e, const float *x, float m, Py_ssize_t n)

    ctypedef struct annc_optimizer:
        int kind
        float learning_rate
        float momentum
        int nesterov
        float rho
        int centered
        float beta_1
        float beta_2
        int amsgrad
        float epsilon
        float initial_accumulator_value
        float weight_decay
        int64_t iterations
        double u_product
        double s[8]

    int annc_opt_num_slots(const annc_optimizer *o)
    void annc_opt_prepare(annc_optimizer *o)
    void annc_opt_apply(const annc_optimizer *o, float *w, const float *g, float *s0, float *s1,
                        float *s2, Py_ssize_t n)

    uint64_t annc_rng_u64(uint64_t key, uint64_t counter)
    void annc_rng_uniform(float *out, Py_ssize_t n, uint64_t key, uint64_t counter, float lo, float hi)
    void annc_rng_normal(float *out, Py_ssize_t n, uint64_t key, uint64_t counter, float mean,
                         float stddev)
    void annc_rng_truncated_normal(float *out, Py_ssize_t n, uint64_t key, uint64_t counter,
                                   float mean, float stddev)
    void annc_rng_permutation(int64_t *out, int64_t n, uint64_t key, uint64_t counter)
    void annc_rng_dropout_mask(float *mask, Py_ssize_t n, uint64_t key, uint64_t counter, float rate)
