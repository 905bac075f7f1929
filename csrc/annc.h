/* annc: the C core's public interface. Plain C11, no Python headers.
 *
 * Conventions
 *  - Every matrix is row-major float32 with an explicit leading dimension (elements per row).
 *  - Functions write their outputs first in the argument list where practical (llm.c style).
 *  - The caller owns every buffer; the core never allocates on a hot path and keeps no global
 *    mutable state besides the ISA dispatch table, which is written once.
 *  - `nthreads` is always an argument; the core never calls omp_set_num_threads.
 *  - Status codes: 0 is success; internal invariants that fail return a negative code.
 */
#ifndef ANNC_H
#define ANNC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum annc_status {
    ANNC_OK = 0,
    ANNC_ERR_ARG = -1,      /* an argument broke the documented contract */
    ANNC_ERR_WORKSPACE = -2 /* the workspace given is smaller than the query asked for */
};

/* ------------------------------------------------------------------ configuration (cpu.c) */
enum annc_isa { ANNC_ISA_GENERIC = 0, ANNC_ISA_AVX2 = 1 };

/* The ISA the dispatch table uses: the best the CPU and OS support, unless the environment
 * variable ANNC_ISA=generic forces the portable kernels. Detected once, on first use. */
int annc_isa(void);
const char *annc_isa_name(int isa);
int annc_cpu_has_avx2_fma(void);   /* what the hardware offers, regardless of ANNC_ISA */
int annc_openmp_enabled(void);     /* 1 when the core was compiled with OpenMP */
int annc_omp_max_threads(void);    /* OpenMP's own default, 1 without OpenMP */

/* ------------------------------------------------------------------ activations (activations.c) */
enum annc_act {
    ANNC_ACT_LINEAR = 0,
    ANNC_ACT_RELU = 1,
    ANNC_ACT_SIGMOID = 2,
    ANNC_ACT_TANH = 3,
    ANNC_ACT_SOFTMAX = 4,    /* row-wise; not valid for the element-wise functions */
    ANNC_ACT_ELU = 5,        /* param = alpha (Keras default 1.0) */
    ANNC_ACT_SELU = 6,
    ANNC_ACT_SOFTPLUS = 7,
    ANNC_ACT_SOFTSIGN = 8,
    ANNC_ACT_SWISH = 9,      /* x * sigmoid(x), a.k.a. silu */
    ANNC_ACT_GELU = 10,      /* exact (erf) form: Keras 3's default approximate=False */
    ANNC_ACT_LEAKY_RELU = 11,/* param = negative_slope (Keras 3 default 0.2) */
    ANNC_ACT_GELU_TANH = 12, /* gelu(approximate=True) */
    ANNC_ACT_COUNT = 13
};

/* 1 when the derivative needs the pre-activation x; 0 when it can be computed from y alone. */
int annc_act_backward_needs_input(int act);

/* y = act(x) element-wise over n values; y may alias x. */
void annc_act_forward(int act, float param, float *y, const float *x, ptrdiff_t n);

/* dx = dy * act'(x) element-wise; x is the pre-activation (may be NULL when
 * annc_act_backward_needs_input(act) == 0), y the activation output. dx may alias dy. */
void annc_act_backward(int act, float param, float *dx, const float *dy, const float *x,
                       const float *y, ptrdiff_t n);

/* Row-wise numerically stable softmax of a rows x cols matrix; y may alias x. */
void annc_softmax_forward(float *y, ptrdiff_t ldy, const float *x, ptrdiff_t ldx,
                          ptrdiff_t rows, ptrdiff_t cols);
/* dx = y * (dy - sum(dy * y)) row-wise; dx may alias dy. */
void annc_softmax_backward(float *dx, const float *dy, const float *y, ptrdiff_t rows,
                           ptrdiff_t cols);

/* The training executor's sums of a K-blocked layer (blocksums.c): rows [0, rows) x columns
 * [0, n) of its output from the planes of partial products at partials + k * plane (k < nb),
 * element (r, j) of each at [r * ld + j], added in the fixed order that makes the result
 * independent of the thread count: the first half's planes (plane 0, then planes m0 .. nb/2 - 1),
 * the second half's (plane nb/2, then m1 .. nb - 1), the two halves, then bias[j] (may be NULL):
 *   z = ((p0 + p_m0 + ... ) + (p_h + p_m1 + ...)) + bias
 * relu: y = max(z, 0) as annc_act_forward forms it (NaN and -0 pass through); y NULL then
 * writes that into z instead of z itself. z and y rows also ld apart. nb >= 2. */
void annc_block_sums(float *z, float *y, ptrdiff_t ld, ptrdiff_t rows, ptrdiff_t n,
                     const float *partials, size_t plane, ptrdiff_t nb, ptrdiff_t m0,
                     ptrdiff_t m1, const float *bias, int relu);

/* ------------------------------------------------------------------ GEMM (gemm.c) */
enum annc_trans { ANNC_NO_TRANS = 0, ANNC_TRANS = 1 };

/* Products whose op(A) is mostly zeros skip them, and products with a short K against a
 * transposed B go by rows without packing (same results bit for bit; see zeroskip.c). On
 * unless the environment says ANNC_ZERO_SKIP=0 (or off); off sends every product to the
 * dense kernels (tests and benchmarks compare the two). Process-wide. */
void annc_set_zero_skip(int on);
int annc_zero_skip(void);
/* How many products have skipped zeros, or gone by rows with a short K, so far (for tests). */
long long annc_zero_skip_taken(void);
long long annc_short_k_taken(void);
/* How many zero-skipping products have used the masks formed while gathering their rows (for
 * tests). */
long long annc_zs_given_taken(void);
/* The GEMM's in-place path for narrow products (narrow.c): on by default, same bits either
 * way; the switch is for tests and benchmarks, the count of products it took for tests. */
void annc_set_narrow(int on);
int annc_narrow(void);
long long annc_narrow_taken(void);

/* The training step's fused head (head.c): a tail's rows through a narrow softmax layer
 * fused with a sparse cross-entropy, and back through the ReLU layer before it, in one AVX2
 * pass per group of rows, where the unfused path makes four calls; the same bits. On by
 * default; the switch and the count of the steps' calls are for tests and benchmarks. */
void annc_set_fused_head(int on);
int annc_fused_head(void);
long long annc_fused_head_taken(void);

/* C = act(alpha * op(A) * op(B) + beta * C + bias)
 *   op(A) is m x k, op(B) is k x n, C is m x n; A is stored m x k (lda >= k) or, transposed,
 *   k x m (lda >= m); likewise B. beta == 0 overwrites C without reading it (NaN in C does not
 *   propagate). bias (length n, may be NULL) is added to every row; act is an element-wise
 *   annc_act (not softmax) applied last, with act_param. The K reduction is never split across
 *   threads, so the result is bit-identical for any nthreads >= 1.
 * workspace: at least annc_sgemm_workspace_floats(m, n, k, nthreads) floats, 64-byte aligned;
 *   may be NULL, in which case the function allocates (and frees) its own.
 * Returns ANNC_OK or ANNC_ERR_ARG. */
int annc_sgemm(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
               const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, float *c,
               ptrdiff_t ldc, const float *bias, int act, float act_param, int nthreads,
               float *workspace);
size_t annc_sgemm_workspace_floats(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int nthreads);

/* The thread count the GEMM would use for this shape given at most nthreads. */
int annc_sgemm_threads_for(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int nthreads);

/* Products with at most ANNC_ROWGEMM_MAX_ROWS rows (one record through a Dense layer):
 * C = act(A·B + bias), A m x k (lda), B k x n row-major (ldb), element-wise act (not softmax).
 * B is streamed in place, never packed; single-threaded. */
#define ANNC_ROWGEMM_MAX_ROWS 4
int annc_rowgemm(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t lda,
                 const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc, const float *bias,
                 int act, float act_param);

/* ------------------------------------------------------------------ losses (losses.c) */
enum annc_loss {
    ANNC_LOSS_SPARSE_CCE = 0, /* target: int32 class ids, pred: probabilities */
    ANNC_LOSS_CCE = 1,        /* target: float one-hot / distribution */
    ANNC_LOSS_BCE = 2,        /* target: float in [0, 1] */
    ANNC_LOSS_MSE = 3,
    ANNC_LOSS_MAE = 4,
    ANNC_LOSS_HUBER = 5,      /* param = delta (Keras default 1.0) */
    ANNC_LOSS_COUNT = 6
};

/* Per-sample loss (Keras semantics: mean over the last axis for MSE/MAE/Huber/BCE, sum over
 * classes for the cross-entropies, probabilities clipped to [eps, 1 - eps] with eps = 1e-7)
 * into loss_out[rows] (may be NULL), and the gradient of grad_scale * sum(loss_out) with
 * respect to pred into dpred (may be NULL). from_logits != 0 applies softmax (CCE, sparse
 * CCE) or sigmoid (BCE) to pred first, fused and stable. target: const int32_t* for sparse
 * CCE, else const float* with the layout of pred. Labels outside [0, cols) give ANNC_ERR_ARG. */
int annc_loss(int loss, int from_logits, float param, float *loss_out, float *dpred,
              const float *pred, const void *target, ptrdiff_t rows, ptrdiff_t cols,
              float grad_scale);
/* e[j] = expf(x[j] - m), j < n, as the softmax cross-entropies from logits form their terms:
 * glibc's bits on an x86-64 CPU with FMA (expf_avx2.c), libm's expf without AVX2. */
void annc_exp_shifted(float *e, const float *x, float m, ptrdiff_t n);

/* ------------------------------------------------------------------ optimizers (optim.c) */
enum annc_opt {
    ANNC_OPT_SGD = 0, ANNC_OPT_RMSPROP = 1, ANNC_OPT_ADAM = 2, ANNC_OPT_ADAMW = 3,
    ANNC_OPT_ADAGRAD = 4, ANNC_OPT_ADADELTA = 5, ANNC_OPT_ADAMAX = 6, ANNC_OPT_NADAM = 7,
    ANNC_OPT_COUNT = 8
};

/* Hyper-parameters (Keras 3 names) and the per-step scalars derived from them. */
typedef struct annc_optimizer {
    int kind;
    float learning_rate;   /* the current step's learning rate (schedules evaluated by caller) */
    float momentum;        /* SGD, RMSprop */
    int nesterov;          /* SGD */
    float rho;             /* RMSprop, Adadelta */
    int centered;          /* RMSprop */
    float beta_1, beta_2;  /* Adam family */
    int amsgrad;           /* Adam, AdamW */
    float epsilon;
    float initial_accumulator_value; /* Adagrad */
    float weight_decay;    /* 0 = off; applied as w -= w * weight_decay * lr before the update */
    int64_t iterations;    /* steps applied before this one (Keras' optimizer.iterations) */
    double u_product;      /* Nadam's running product; 1.0 at start; updated by annc_opt_prepare */
    /* per-step scalars filled by annc_opt_prepare */
    double s[8];
} annc_optimizer;

/* Number of float slots per parameter the optimizer keeps (0..3). */
int annc_opt_num_slots(const annc_optimizer *o);
/* Compute the step's scalars (bias corrections, Nadam's u_t ...) from o->iterations and
 * o->learning_rate; call once per step before annc_opt_apply, then increment iterations. */
void annc_opt_prepare(annc_optimizer *o);
/* One update of n parameters w with gradient g and slots s0..s2 (unused ones may be NULL),
 * exactly Keras 3's formulas. */
void annc_opt_apply(const annc_optimizer *o, float *w, const float *g, float *s0, float *s1,
                    float *s2, ptrdiff_t n);

/* ------------------------------------------------------------------ random numbers (rng.c) */
/* Counter-based: the value at (key, counter) depends on nothing else, so any split of the work
 * across threads gives the same stream. */
uint64_t annc_rng_u64(uint64_t key, uint64_t counter);
void annc_rng_uniform(float *out, ptrdiff_t n, uint64_t key, uint64_t counter, float lo, float hi);
void annc_rng_normal(float *out, ptrdiff_t n, uint64_t key, uint64_t counter, float mean,
                     float stddev);
/* Normal resampled until within two standard deviations (Keras' truncated_normal). */
void annc_rng_truncated_normal(float *out, ptrdiff_t n, uint64_t key, uint64_t counter,
                               float mean, float stddev);
/* A uniformly random permutation of 0..n-1 (Fisher-Yates driven by the counter stream). */
void annc_rng_permutation(int64_t *out, int64_t n, uint64_t key, uint64_t counter);
/* Inverted dropout: mask[i] = 0 with probability rate, else 1 / (1 - rate). */
void annc_rng_dropout_mask(float *mask, ptrdiff_t n, uint64_t key, uint64_t counter, float rate);


/* Index of the first NaN or infinity in x[0:n], or -1 (check.c; allocates nothing). */
int64_t annc_first_nonfinite(const float *x, int64_t n);

/* ------------------------------------------------------------------ the executor (engine.c) */
/* A Sequential network as the executor sees it: a list of layers over per-sample feature
 * vectors (Flatten/InputLayer are reshapes and never reach C). All memory is the caller's. */
enum annc_layer_kind { ANNC_LAYER_DENSE = 0, ANNC_LAYER_ACTIVATION = 1, ANNC_LAYER_DROPOUT = 2 };

typedef struct annc_layer {
    int kind;
    ptrdiff_t in, out;        /* features per sample */
    int act;                  /* annc_act; softmax allowed */
    float act_param;
    float *W, *b;             /* Dense: kernel (in x out, row-major), bias (out) or NULL */
    float *dW, *db;           /* their gradients (same layout) */
    float kernel_l1, kernel_l2, bias_l1, bias_l2; /* regularisation rates (0 = none) */
    float activity_l1, activity_l2; /* on the layer's output (Keras: summed over the batch) */
    int trainable;
    float rate;               /* Dropout */
    /* buffers of rows x out, owned by the caller: */
    float *z;                 /* pre-activation, when the backward pass needs it (else NULL) */
    float *y;                 /* output */
    float *mask;              /* Dropout mask */
} annc_layer;

enum annc_metric {
    ANNC_METRIC_SPARSE_CATEGORICAL_ACCURACY = 0,
    ANNC_METRIC_CATEGORICAL_ACCURACY = 1,
    ANNC_METRIC_BINARY_ACCURACY = 2, /* threshold 0.5 on the probability */
    ANNC_METRIC_MAE = 3,
    ANNC_METRIC_MSE = 4,
    ANNC_METRIC_COUNT = 5
};
#define ANNC_MAX_METRICS 8

typedef struct annc_net {
    int nlayers;
    annc_layer *layers;
    ptrdiff_t in_features, out_features;
    ptrdiff_t rows;           /* capacity (rows) of every buffer below and of the layer buffers */
    float *xbuf;              /* 2 x rows x in_features: the gathered batch, double-buffered */
    void *tbuf;               /* rows int32 labels, or rows x out_features floats */
    float *gbuf0, *gbuf1;     /* rows x max(layer widths): gradient ping-pong */
    float *loss_rows;         /* rows */
    float *ws;                /* GEMM workspace, 64-byte aligned */
    size_t ws_floats;
    size_t ws_need;           /* annc_net_workspace_floats(net, rows), set once by the caller */
    int loss, from_logits;
    float loss_param;
    int fused;                /* 1: the last layer's softmax/sigmoid is folded into the loss */
    int nthreads;
    /* every trainable parameter lives in one slab; gradients and optimizer slots mirror it */
    float *params, *grads, *slot0, *slot1, *slot2;
    ptrdiff_t nparams;
    int all_trainable;        /* 1: one optimizer pass over the whole slab */
    /* gradient clipping before the update, Keras's rules (at most one is > 0): each gradient
     * scaled to norm <= clipnorm; all scaled to global norm <= global_clipnorm; or clipped
     * element-wise to [-clipvalue, clipvalue] */
    float clipnorm, global_clipnorm, clipvalue;
} annc_net;

/* The workspace annc_net needs for its GEMMs at `rows` rows. */
size_t annc_net_workspace_floats(const annc_net *net, ptrdiff_t rows);

/* Training steps first_step .. first_step + nsteps - 1 of an epoch over the n rows of x (ld
 * ldx) and of the targets (int32 labels when target_cols == 0, else float rows of target_cols):
 * step s trains on rows perm[s * batch : min((s + 1) * batch, n)) with forward, loss,
 * backward, regularisation and one optimizer update; it stops early at the end of the data.
 * lrs: the learning rate of each step of the chunk (NULL: opt->learning_rate throughout).
 * Step s's dropout masks are seeded by (key, counter + (s << 40)). sums[0] += batch * (mean
 * loss + regularisation), sums[1 + i] += per-sample sum of metrics[i]; *seen = rows trained.
 * The whole chunk runs in one parallel region (see train.c for how threads share a step).
 * The caller has validated shapes and label ranges; ANNC_ERR_ARG if an invariant fails. */
int annc_train_steps(annc_net *net, annc_optimizer *opt, const float *x, ptrdiff_t ldx,
                     const void *targets, ptrdiff_t target_cols, const int64_t *perm, ptrdiff_t n,
                     ptrdiff_t batch, ptrdiff_t first_step, ptrdiff_t nsteps, const float *lrs,
                     uint64_t key, uint64_t counter, const int *metrics, int nmetrics,
                     double *sums, ptrdiff_t *seen);
/* How the threads of a training step share the first layer's K blocks when they update them
 * (see train.c): 1 (the default) each takes its own run's blocks and then the last ones left
 * in the others' runs; 0 each keeps its own run; 2 (for tests) each takes from the others'
 * runs before its own. The weights come out the same bits in every mode. Process-wide. */
void annc_set_block_sharing(int mode);
/* Blocks a thread has formed from another thread's run so far (for tests). */
long long annc_blocks_taken_over(void);

/* Loss and metrics on rows [0, n) of x (contiguous) and targets, in chunks of net->rows;
 * sums as for annc_train_steps (what Keras reports over batches of any size: each batch's
 * activity penalty is divided by its size and weighted by it again). */
int annc_evaluate(annc_net *net, const float *x, ptrdiff_t ldx, const void *targets,
                  ptrdiff_t target_cols, ptrdiff_t n, const int *metrics, int nmetrics,
                  double *sums);

/* Inference on n rows of x into out (n x out_features), in chunks of net->rows rows. */
int annc_predict(annc_net *net, float *out, const float *x, ptrdiff_t ldx, ptrdiff_t n);

#ifdef __cplusplus
}
#endif
#endif /* ANNC_H */
