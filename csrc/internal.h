/* Internal interfaces of the C core: the dispatch table and helpers shared between files. */
#ifndef ANNC_INTERNAL_H
#define ANNC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h> /* annc_count_add's thread slot */
#endif

#include "annc.h"

/* Helpers that must be inlined, so that each use is specialised on its constant arguments
 * (the vector kernels' tiles and the optimizer loops' flags). */
#if defined(__GNUC__) || defined(__clang__)
#define ANNC_INLINE static inline __attribute__((always_inline))
#define ANNC_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define ANNC_INLINE static __forceinline
#define ANNC_NOINLINE __declspec(noinline)
#else
#define ANNC_INLINE static inline
#define ANNC_NOINLINE
#endif

/* A GEMM micro-kernel computes a column of MR x NR tiles against one B panel:
 *   C[0:mc, 0:nr] = alpha * Ap . Bp + beta * C   (beta == 0: C is written, never read)
 * in panels of MR rows: panel q reads A at ap + q * ap_next and writes C at c + q * c_next,
 * element (i, j) of a tile at [i * rsc + j * csc] (csc != 1 when the driver computes C^T).
 * Column p of an A panel is the MR values at [p * lda_p]: lda_p = MR for a packed panel, or
 * the leading dimension of an operand stored transposed that the driver hands over in place
 * (full panels only: the kernel reads all MR values of each column). Bp is a packed k x NR
 * panel (row p holds NR contiguous values, 32-byte aligned). Padding rows/columns are zero, so
 * the kernel always computes full tiles and only the stores are clipped (edge tiles live
 * inside the kernel). ab = {alpha, beta}. k >= 1, mc >= 1, 1 <= nr <= NR. */
typedef struct annc_pf_hint annc_pf_hint;
typedef void (*annc_gemm_ukernel)(ptrdiff_t k, const float *ap, ptrdiff_t ap_next,
                                  ptrdiff_t lda_p, const float *bp, float *c, ptrdiff_t c_next,
                                  ptrdiff_t rsc, ptrdiff_t csc, const float *ab, ptrdiff_t mc,
                                  int nr, const annc_pf_hint *pf);

/* A hint a kernel may take (NULL: none): the source rows of the next B panel, which tile q
 * (q < rows) of the call asks memory for at a steady pace during its K loop, k floats from
 * p + q * ld. Spread that way, the next panel's lines arrive while this one is multiplied; a
 * burst of hundreds of prefetches overflows the core's miss queue and is mostly dropped. */
struct annc_pf_hint {
    const float *p;
    ptrdiff_t ld, rows;
};

/* Packing: element (i, j) of the source view is src[i * rs + j * cs].
 *   pack_a: rows [0, mc) x cols [0, kc) into ceil(mc / MR) panels of kc columns of MR values;
 *   pack_b: rows [0, kc) x cols [0, nc) into ceil(nc / NR) panels of kc rows of NR values;
 * the padding rows / columns are zero. */
typedef void (*annc_pack_fn)(float *dst, const float *src, ptrdiff_t rs, ptrdiff_t cs,
                             ptrdiff_t rows, ptrdiff_t cols);

/* Products that skip the zeros of op(A) (zeroskip.c): rows of C are sums of B's rows weighted
 * by the nonzero entries of op(A)'s rows, found through bit masks. On sparse inputs (image
 * pixels, ReLU outputs) that is fewer FMAs than the dense kernel's, with every element of C
 * bit for bit what the dense kernel gives (see annc_zs_product). The kernels are AVX2+FMA
 * only: the portable table leaves them NULL, and every product then stays dense. */
enum { ANNC_ZS_STORE = 0, ANNC_ZS_CONTINUE = 1, ANNC_ZS_ADD = 2 };
/* Products narrower than this stay dense: their rows gain little per nonzero over the dense
 * kernel's 6 x 16 tiles (Program 1's 10 columns: 2 vectors per nonzero against the loop's
 * fixed cost). */
#define ANNC_ZS_MIN_N 32
typedef struct {
    /* op(A) = A (m x k, lda): word w of row i, bit b: a[i * lda + 64 w + b] != 0 (NaN counts) */
    ptrdiff_t (*mask_rows)(uint64_t *mask, ptrdiff_t words, const float *a, ptrdiff_t lda,
                           ptrdiff_t m, ptrdiff_t k);
    /* op(A) = A^T, A k x m (lda): word g of row i, bit b: a[(32 g + b) * lda + i] != 0 */
    ptrdiff_t (*mask_cols)(uint32_t *mask, ptrdiff_t words, const float *a, ptrdiff_t lda,
                           ptrdiff_t m, ptrdiff_t k);
    /* rows idx[0..m) of src (ld lds), k columns, copied into dst (ld ldd), with
     * the masks mask_rows and mask_cols would form from the copy: row i's ceil(k / 64) words
     * at rmask + i * ceil(k / 64), column q's ceil(m / 32) at cmask + q * ceil(m / 32);
     * returns the nonzeros */
    ptrdiff_t (*gather_masks)(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds,
                              const int64_t *idx, ptrdiff_t m, ptrdiff_t k, uint64_t *rmask,
                              uint32_t *cmask);
    /* C rows [0, m) x [0, n) from the set bits of words [w0, w1) of each row's mask, B's row p
     * at b + p * ldb (p < kb: the kernels read whole vectors past a row's n floats, but never
     * past row kb - 1's). mode STORE: c = acc; CONTINUE: acc starts from c, c = acc; ADD:
     * c = c + acc. With pf, row i (< pf_rows) of pf (ld lda) is asked from memory over word
     * w0's columns while row i is formed: the next rows' inputs arrive during this work. */
    void (*rows)(ptrdiff_t m, ptrdiff_t n, const uint64_t *mask, ptrdiff_t words, ptrdiff_t w0,
                 ptrdiff_t w1, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                 ptrdiff_t kb, float *c, ptrdiff_t ldc, int mode, const float *pf,
                 ptrdiff_t pf_rows);
    void (*cols)(ptrdiff_t m, ptrdiff_t n, const uint32_t *mask, ptrdiff_t words, ptrdiff_t w0,
                 ptrdiff_t w1, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                 ptrdiff_t kb, float *c, ptrdiff_t ldc, int mode);
    /* bt (k rows, ld ldt) = the transpose of B (n rows of k floats, ld ldb), each row of bt
     * padded with zeros from n to ldt */
    void (*transpose)(float *bt, ptrdiff_t ldt, const float *b, ptrdiff_t ldb, ptrdiff_t n,
                      ptrdiff_t k);
} annc_zs_kernels;
typedef struct annc_kernels {
    int isa;
    /* GEMM micro-kernel with its packing routines and the block sizes it was tuned for */
    annc_gemm_ukernel gemm_ukr;
    annc_pack_fn pack_a, pack_b;
    int MR, NR;      /* register tile */
    /* an optional second kernel with fewer rows (same NR, pack_b and block sizes, and the
     * same per-element arithmetic), for a side that MR would pad badly; MR_alt = 0: none */
    annc_gemm_ukernel gemm_ukr_alt;
    annc_pack_fn pack_a_alt;
    int MR_alt;
    int KC, MC, NC;  /* L1 (k panel), L2 (A block rows), L3 (B block cols) */
    /* 1 when x[0:n] holds no inf or NaN (annc_first_nonfinite's scan, and the zero-skipping
     * product's check of B) */
    int (*finite)(const float *x, ptrdiff_t n);
    annc_zs_kernels zs;
    /* C (m x n, n <= ANNC_NARROW_MAX_N) = op(A) . B (+ C when beta_one), K in blocks of kc,
     * A and B read in place with the packed kernel's per-element recipe (narrow.c); NULL in
     * the portable table */
    void (*narrow)(int transa, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a,
                   ptrdiff_t lda, const float *b, ptrdiff_t ldb, int beta_one, float *c,
                   ptrdiff_t ldc, ptrdiff_t kc);
    /* e[j] = expf(x[j] - m), j < n, bit for bit glibc's on an x86-64 CPU with FMA
     * (expf_avx2.c); NULL in the portable table (libm's expf then) */
    void (*exp_shifted)(float *e, const float *x, float m, ptrdiff_t n);
    /* the largest of x[0:n], n >= 1, or its first NaN (the loss's row maximum); NULL in the
     * portable table */
    float (*row_max)(const float *x, ptrdiff_t n);
    /* the training step's fused head (head.c): for n rows of a ReLU layer's output y (ld h,
     * h <= ANNC_HEAD_MAX_IN) into a Dense layer of c <= ANNC_NARROW_MAX_N outputs (W h x c, b
     * or NULL) whose softmax is fused with a sparse cross-entropy from logits, labels checked:
     * z = y W + b over K blocks of kc rows of W, loss and dz as annc_loss forms them (gradient
     * scale gs), dy = dz W^T where y > 0 (else 0); ws: ANNC_HEAD_WS_FLOATS. NULL in the
     * portable table */
    void (*head)(ptrdiff_t n, ptrdiff_t h, ptrdiff_t c, ptrdiff_t kc, const float *y,
                 const float *W, const float *b, const int32_t *labels, float gs, float *z,
                 float *loss, float *dz, float *dy, float *ws);
    /* annc_block_sums (blocksums_avx2.c); NULL in the portable table */
    void (*block_sums)(float *z, float *y, ptrdiff_t ld, ptrdiff_t rows, ptrdiff_t n,
                       const float *partials, size_t plane, ptrdiff_t nb, ptrdiff_t m0,
                       ptrdiff_t m1, const float *bias, int relu);
} annc_kernels;

const annc_kernels *annc_kernels_get(void);
void annc_kernels_generic(annc_kernels *t);
int annc_finite_generic(const float *x, ptrdiff_t n);
#ifdef ANNC_HAVE_AVX2_KERNELS
void annc_kernels_avx2(annc_kernels *t);
void annc_zeroskip_avx2(annc_kernels *t);
void annc_narrow_avx2(annc_kernels *t);
void annc_expf_avx2(annc_kernels *t);
void annc_blocksums_avx2(annc_kernels *t);
void annc_head_avx2(annc_kernels *t);
#endif
/* The softmax cross-entropy from logits over class ids (losses.c), as annc_loss forms it:
 * whether every label lies in [0, cols); then, labels checked, rows of logits x (ld cols) into
 * their losses and gradients dx (scale gs), two rows at a time. */
int annc_sparse_labels_ok(const int32_t *y, ptrdiff_t rows, ptrdiff_t cols);
void annc_sparse_logits_rows(const float *x, const int32_t *y, float *dx, ptrdiff_t rows,
                             ptrdiff_t cols, float gs, float *loss);
/* the fused head's widest input (13 vectors of accumulators) and its workspace */
#define ANNC_HEAD_MAX_IN 104
#define ANNC_HEAD_WS_FLOATS (2 * ANNC_NARROW_MAX_N * ANNC_HEAD_MAX_IN + 8)
/* Whether the fused head may run (the switch and the kernel), and a count of its calls. */
int annc_head_usable(void);
void annc_head_taken_add(void);

/* The AVX2+FMA activations (activations_avx2.c), same contracts as the annc.h functions;
 * activations.c enters them after the run-time ISA check. */
#ifdef ANNC_HAVE_AVX2_KERNELS
void annc_act_forward_avx2(int act, float param, float *y, const float *x, ptrdiff_t n);
void annc_act_backward_avx2(int act, float param, float *dx, const float *dy, const float *x,
                            const float *y, ptrdiff_t n);
void annc_softmax_forward_avx2(float *y, ptrdiff_t ldy, const float *x, ptrdiff_t ldx,
                               ptrdiff_t rows, ptrdiff_t cols);
void annc_softmax_backward_avx2(float *dx, const float *dy, const float *y, ptrdiff_t rows,
                                ptrdiff_t cols);
#endif

/* One thread's part of a larger product, e.g. a block of a layer's output columns: the same
 * contract as annc_sgemm on one thread, but K is blocked as it is for the whole (whole_m x
 * whole_n) product, so every element comes out bit for bit as annc_sgemm on the whole would
 * compute it. Workspace: annc_sgemm_part_workspace_floats(m, n, k, whole_m, whole_n). */
int annc_sgemm_part(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                    const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta,
                    float *c, ptrdiff_t ldc, const float *bias, int act, float act_param,
                    ptrdiff_t whole_m, ptrdiff_t whole_n, float *workspace);
size_t annc_sgemm_part_workspace_floats(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, ptrdiff_t whole_m,
                                        ptrdiff_t whole_n);
/* The same on one thread with K cut into blocks of exactly kc (the last one shorter): every
 * element is ((sum over block 0) + sum over block 1) + ... (alpha = 1), which is what summing
 * per-block products made separately, in block order, gives bit for bit. */
int annc_sgemm_kc(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                  const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta,
                  float *c, ptrdiff_t ldc, const float *bias, int act, float act_param,
                  ptrdiff_t kc, float *workspace);
size_t annc_sgemm_kc_workspace_floats(ptrdiff_t m, ptrdiff_t n, ptrdiff_t kc);

/* Packed panels of op(B) — the operand that calls share, such as a layer's weights in
 * inference over chunks of rows — kept by the caller across one-thread products. When the
 * plan computes C^T and packs op(B)^T whole (one block of rows, one K block), the product
 * packs it into `buf` on the first call and reads it from there while `src` and the view
 * match; otherwise the cache is not used. The caller sets src = NULL whenever op(B)'s values
 * may have changed. */
typedef struct {
    float *buf;
    size_t floats; /* capacity of buf */
    const float *src;
    ptrdiff_t rs, cs, rows, kc;
    int MR;
} annc_pack_cache;

/* annc_sgemm_part (no epilogue) with op(B)'s packing kept in `cache`. */
int annc_sgemm_part_cached(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                           float alpha, const float *a, ptrdiff_t lda, const float *b,
                           ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc, ptrdiff_t whole_m,
                           ptrdiff_t whole_n, annc_pack_cache *cache, float *workspace);
/* annc_sgemm on one thread with op(B)'s packing kept in `cache` (may be NULL). */
int annc_sgemm_cached(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                      const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta,
                      float *c, ptrdiff_t ldc, const float *bias, int act, float act_param,
                      annc_pack_cache *cache, float *workspace);
/* Floats a cache needs for a product with op(B) k x n. */
size_t annc_sgemm_cache_floats(ptrdiff_t n, ptrdiff_t k);

/* The executor's pieces shared by engine.c (inference, evaluation) and train.c (training):
 * loss over rows (adds the per-sample sum to *sum, writes d/d(pred) to dpred when non-NULL),
 * metric sums, activity and weight regularisation penalties as Keras reports them, clipping by
 * norm, the argument/workspace check, and the training workspace (the shared partial sums,
 * then one region per thread). */
int annc_eng_loss_rows(annc_net *net, double *sum, const float *pred, const void *targets,
                       ptrdiff_t rows, float *dpred, float grad_scale);
/* The sum of loss_rows[0:rows], in row order, added to *sum (annc_eng_loss_rows ends with it;
 * a loss formed by rows on several threads is summed with it afterwards). */
void annc_eng_add_loss_rows(const annc_net *net, ptrdiff_t rows, double *sum);
void annc_eng_add_metrics(const annc_net *net, const float *pred, int logits,
                          const void *targets, ptrdiff_t tcols, ptrdiff_t rows,
                          const int *metrics, int nmetrics, double *sums, float *scratch);
/* The activity penalties of `rows` rows (the layer's output: a fused last layer's from its
 * logits, through scratch, rows x its width); p = a fused last layer's output from logits z
 * (rows x n, contiguous): softmax, or the sigmoid. */
void annc_eng_activity_penalties(const annc_net *net, ptrdiff_t rows, double *sum,
                                 float *scratch);
void annc_eng_fused_output(int act, float *p, const float *z, ptrdiff_t rows, ptrdiff_t n);
double annc_eng_regularisation_penalty(const annc_net *net);
void annc_eng_clip_gradients(annc_net *net);
int annc_eng_check_net(const annc_net *net, ptrdiff_t rows);
int annc_eng_metrics_fit(const annc_net *net, ptrdiff_t target_cols, const int *metrics,
                         int nmetrics);
size_t annc_eng_train_ws_floats(const annc_net *net, ptrdiff_t rows);

/* Counters of how often a path was taken, read by tests to check that it ran. Each OpenMP
 * thread adds on a 64-byte slot of its own (relaxed atomics; other threads outside a parallel
 * region share slot 0), and a read sums the slots: one counter line for every thread was
 * bounced between the cores on every product of a training step (~20 a step each; paired step
 * ratio 0.98-0.99 without them). Approximate under threads without atomics; only tests read
 * them. */
#define ANNC_COUNT_SLOTS 16
typedef struct {
    _Alignas(64) long long slot[ANNC_COUNT_SLOTS][8];
} annc_counter;
ANNC_INLINE void annc_count_add(annc_counter *c) {
#ifdef _OPENMP
    long long *v = &c->slot[omp_get_thread_num() & (ANNC_COUNT_SLOTS - 1)][0];
#else
    long long *v = &c->slot[0][0];
#endif
#if defined(__GNUC__) || defined(__clang__)
    __atomic_fetch_add(v, 1, __ATOMIC_RELAXED);
#else
    (*v)++;
#endif
}
ANNC_INLINE long long annc_count_read(const annc_counter *c) {
    long long sum = 0;
    for (int t = 0; t < ANNC_COUNT_SLOTS; t++) {
#if defined(__GNUC__) || defined(__clang__)
        sum += __atomic_load_n(&c->slot[t][0], __ATOMIC_RELAXED);
#else
        sum += c->slot[t][0];
#endif
    }
    return sum;
}

/* Aligned allocation for workspaces the caller did not provide. */
void *annc_aligned_alloc(size_t bytes);
void annc_aligned_free(void *p);


/* C = op(A) . B (+ C when beta_one), B k x n stored by rows, K cut into blocks of kc as the
 * dense driver cuts it, so that C is bit for bit what annc_sgemm_kc (alpha 1, beta 0 or 1)
 * gives. Returns 0 without touching C when it declines: no zero-skipping kernel (or switched
 * off), C too narrow to gain, op(A) too dense (judged on its first rows), or B not finite
 * (a skipped 0 * inf would have been NaN; b_flags ANNC_ZS_B_FINITE: the caller knows it is,
 * no scan; ANNC_ZS_B_PAST: the 8 floats after B's last row's n may be read). Groups
 * of C's rows go to `nthreads` threads (one: no OpenMP region). `cache` (may be NULL; the caller's annc_pack_cache for B, same rules;
 * one thread only) keeps a padded copy of B across calls. After each group of C's rows
 * [r0, r1) is final, calls done(ctx, r0, r1) when given (the caller's bias and activation,
 * while in cache). */
enum { ANNC_ZS_B_FINITE = 1, ANNC_ZS_B_PAST = 2 };
int annc_zs_product(int transa, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a,
                    ptrdiff_t lda, const float *b, ptrdiff_t ldb, int beta_one, float *c,
                    ptrdiff_t ldc, ptrdiff_t kc, int nthreads, annc_pack_cache *cache,
                    int b_flags, void (*done)(void *, ptrdiff_t, ptrdiff_t), void *ctx);

/* annc_zs_product for one group of C's rows (m <= 128) and one K block (k <= kc), with op(A)'s
 * masks given (as mask_rows or mask_cols forms them; nnz their set bits, on which the density
 * decision is made as annc_zs_product makes it): 0 without touching C when it declines, like
 * annc_zs_product, or when the shape is not one group and one block. */
int annc_zs_product_given(int transa, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a,
                          ptrdiff_t lda, const float *b, ptrdiff_t ldb, int beta_one, float *c,
                          ptrdiff_t ldc, ptrdiff_t kc, annc_pack_cache *cache, int b_flags,
                          const void *mask, ptrdiff_t nnz);
/* C (m x n) = op(A) . B (+ C when beta_one), B k x n stored by rows, K in blocks of kc, with
 * A and B read in place when C is narrow (n <= ANNC_NARROW_MAX_N) and the AVX2 kernel is
 * there: every element bit for bit what the packed GEMM (alpha 1, beta 0 or 1) gives.
 * Returns 0 without touching C otherwise, or when switched off (annc_set_narrow). */
#define ANNC_NARROW_MAX_N 16
int annc_narrow_product(int transa, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a,
                        ptrdiff_t lda, const float *b, ptrdiff_t ldb, int beta_one, float *c,
                        ptrdiff_t ldc, ptrdiff_t kc);

/* annc_sgemm_part (alpha 1, beta 0 or 1, no bias or activation, B not transposed) trying
 * annc_zs_product_given first, with kc as annc_sgemm_part chooses it; b_flags and cache as
 * annc_zs_product takes them. */
int annc_sgemm_part_given(int transa, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a,
                          ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, float *c,
                          ptrdiff_t ldc, ptrdiff_t whole_m, ptrdiff_t whole_n,
                          annc_pack_cache *cache, int b_flags, const void *mask, ptrdiff_t nnz,
                          float *workspace);

/* annc_opt_apply, returning 1 when every updated parameter is known finite (the AVX2 plain
 * RMSprop tracks it at no cost), 0 when some is not or it is not known. */
int annc_opt_apply_finite(const annc_optimizer *o, float *w, const float *g, float *s0,
                          float *s1, float *s2, ptrdiff_t n);

/* annc_sgemm_part without bias or activation, for a B (k x n, ldb) the caller knows to hold no
 * inf or NaN (a block of a kernel that the optimizer has just updated and checked): the
 * zero-skipping product then skips its own scan of B. b_past: the 8 floats after B's last
 * row's n lie in the caller's memory (B is not the end of its allocation). */
int annc_sgemm_part_finite_b(int transa, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a,
                             ptrdiff_t lda, const float *b, ptrdiff_t ldb, int b_past, float beta,
                             float *c, ptrdiff_t ldc, ptrdiff_t whole_m, ptrdiff_t whole_n,
                             float *workspace);

/* C = A . B^T (+ C when beta_one) for a short K (k <= 64), B stored n x k (ldb): the
 * row-form kernel of the zero-skipping product over every p < k, zeros included, from a copy
 * of B^T with rows padded to whole vectors in ws. Every element is the dense kernel's recipe
 * (acc = 0, fma over p in order, then c = acc or c + acc: one K block), so C is bit for bit
 * what the dense driver gives, without its packing and its tiles of a few K steps. Returns 0
 * without touching C when the kernels are missing (portable build), k or the shape does not
 * fit, or ws holds fewer than annc_short_k_ws_floats(n, k) floats. */
int annc_short_k_product(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t lda,
                         const float *b, ptrdiff_t ldb, int beta_one, float *c, ptrdiff_t ldc,
                         float *ws, size_t ws_floats);
size_t annc_short_k_ws_floats(ptrdiff_t n, ptrdiff_t k);

/* Philox4x32-10 on one block (rng.c); exposed for known-answer tests. */
void annc_philox4x32_10(uint32_t out[4], const uint32_t in[4], uint32_t k0, uint32_t k1);

/* The annc_rng_* fills starting at element `start` of the stream: out[j] is element start + j
 * of what the public function would write for an array of any length > start + j. For C
 * callers that split one logical array across threads. */
void annc_rng_uniform_at(float *out, int64_t start, ptrdiff_t n, uint64_t key, uint64_t counter,
                         float lo, float hi);
void annc_rng_normal_at(float *out, int64_t start, ptrdiff_t n, uint64_t key, uint64_t counter,
                        float mean, float stddev);
void annc_rng_truncated_normal_at(float *out, int64_t start, ptrdiff_t n, uint64_t key,
                                  uint64_t counter, float mean, float stddev);
void annc_rng_dropout_mask_at(float *mask, int64_t start, ptrdiff_t n, uint64_t key,
                              uint64_t counter, float rate);

#define ANNC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ANNC_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
