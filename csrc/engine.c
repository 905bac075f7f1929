/* The training-step executor: one call runs a whole step of a Sequential network.
 *
 *   gather (the next batch prefetched) -> forward (GEMM + fused bias/activation per Dense)
 *   -> loss (fused with the last softmax/sigmoid when possible) -> backward (dA = dZ·Wᵀ,
 *   db = colsum dZ, then dW = Aᵀ·dZ and the optimizer update of W fused block by block)
 *   -> regularisation and Keras's gradient clipping along the way.
 * Norm-based clipping needs every gradient before any update, so with it the gradients are
 * formed first and the optimizer makes one pass over the parameter slab afterwards.
 *
 * Every buffer belongs to the caller (Python), sized once per fit; nothing is allocated here.
 * Parallelism lives inside the GEMMs (over output blocks) and in the fused update (over
 * blocks of rows of W); reductions (bias gradients, loss and metric sums, clipping norms) run
 * in a fixed order on one thread, so a step's result does not depend on the thread count.
 */
#include <math.h>
#include <string.h>

#include "annc.h"
#include "internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Rows of W per block of the fused weight-gradient + update pass (see fused_dense_update);
 * the GEMM workspace for a block is sized with this bound. */
#define ANNC_FUSED_MAX_BLOCK 136

/* Per thread: the block GEMM's packing space, then the block of dW itself (it lives only
 * until the update has consumed it, so it never needs the whole-matrix gradient slab). */
static size_t block_ws_floats(const annc_net *net, ptrdiff_t rows) {
    size_t need = 0;
    for (int l = 0; l < net->nlayers; l++) {
        const annc_layer *L = &net->layers[l];
        if (L->kind == ANNC_LAYER_DENSE) {
            const size_t pack = annc_sgemm_workspace_floats(ANNC_FUSED_MAX_BLOCK, L->out, rows, 1);
            const size_t grad = (size_t)ANNC_FUSED_MAX_BLOCK * (size_t)L->out;
            need = ANNC_MAX(need, (pack + 15) / 16 * 16 + grad);
        }
    }
    return (need + 15) / 16 * 16;
}

static size_t block_pack_floats(const annc_net *net, ptrdiff_t rows, const annc_layer *L) {
    (void)net;
    return (annc_sgemm_workspace_floats(ANNC_FUSED_MAX_BLOCK, L->out, rows, 1) + 15) / 16 * 16;
}

size_t annc_net_workspace_floats(const annc_net *net, ptrdiff_t rows) {
    size_t need = (size_t)ANNC_MAX(net->nthreads, 1) * block_ws_floats(net, rows);
    for (int l = 0; l < net->nlayers; l++) {
        const annc_layer *L = &net->layers[l];
        if (L->kind != ANNC_LAYER_DENSE) continue;
        /* forward, weight gradient and input gradient products */
        need = ANNC_MAX(need, annc_sgemm_workspace_floats(rows, L->out, L->in, net->nthreads));
        need = ANNC_MAX(need, annc_sgemm_workspace_floats(L->in, L->out, rows, net->nthreads));
        need = ANNC_MAX(need, annc_sgemm_workspace_floats(rows, L->in, L->out, net->nthreads));
    }
    return need;
}

/* ---------------------------------------------------------------- forward */

/* out = act(in · W + b) for a Dense layer; a handful of rows skips the packed GEMM, whose
 * packing of W would cost more than the product. */
static void dense_product(annc_net *net, const annc_layer *L, const float *in, ptrdiff_t ld_in,
                          ptrdiff_t rows, float *out, int act, float act_param) {
    if (rows <= ANNC_ROWGEMM_MAX_ROWS)
        annc_rowgemm(rows, L->out, L->in, in, ld_in, L->W, L->out, out, L->out, L->b, act,
                     act_param);
    else
        annc_sgemm(0, 0, rows, L->out, L->in, 1.0f, in, ld_in, L->W, L->out, 0.0f, out, L->out,
                   L->b, act, act_param, net->nthreads, net->ws);
}

/* Runs the layers on rows x (ld ldx). With `logits_out` the last layer's softmax/sigmoid is
 * skipped (the loss fuses it), so the last y holds logits. Returns the last layer's output. */
static const float *forward(annc_net *net, const float *x, ptrdiff_t ldx, ptrdiff_t rows,
                            int training, int logits_out, uint64_t key, uint64_t counter) {
    const float *in = x;
    ptrdiff_t ld_in = ldx;
    for (int l = 0; l < net->nlayers; l++) {
        annc_layer *L = &net->layers[l];
        const int last = l == net->nlayers - 1;
        const int act = (last && logits_out) ? ANNC_ACT_LINEAR : L->act;
        switch (L->kind) {
        case ANNC_LAYER_DENSE:
            if (act == ANNC_ACT_SOFTMAX) {
                float *z = L->z ? L->z : L->y;
                dense_product(net, L, in, ld_in, rows, z, ANNC_ACT_LINEAR, 0.0f);
                annc_softmax_forward(L->y, L->out, z, L->out, rows, L->out);
            } else if (L->z && training && act != ANNC_ACT_LINEAR) {
                /* the derivative needs the pre-activation: keep it */
                dense_product(net, L, in, ld_in, rows, L->z, ANNC_ACT_LINEAR, 0.0f);
                annc_act_forward(act, L->act_param, L->y, L->z, rows * L->out);
            } else {
                dense_product(net, L, in, ld_in, rows, L->y, act, L->act_param);
            }
            break;
        case ANNC_LAYER_ACTIVATION:
            for (ptrdiff_t r = 0; r < rows; r++) {
                const float *src = in + r * ld_in;
                if (act == ANNC_ACT_SOFTMAX)
                    annc_softmax_forward(L->y + r * L->out, L->out, src, L->out, 1, L->out);
                else
                    annc_act_forward(act, L->act_param, L->y + r * L->out, src, L->out);
            }
            break;
        case ANNC_LAYER_DROPOUT:
            if (training && L->rate > 0.0f) {
                annc_rng_dropout_mask(L->mask, rows * L->out, key,
                                      counter + ((uint64_t)l << 32), L->rate);
                for (ptrdiff_t r = 0; r < rows; r++) {
                    const float *src = in + r * ld_in, *m = L->mask + r * L->out;
                    float *dst = L->y + r * L->out;
                    for (ptrdiff_t j = 0; j < L->out; j++) dst[j] = src[j] * m[j];
                }
            } else {
                for (ptrdiff_t r = 0; r < rows; r++)
                    memcpy(L->y + r * L->out, in + r * ld_in, sizeof(float) * (size_t)L->out);
            }
            break;
        default:
            return NULL;
        }
        in = L->y;
        ld_in = L->out;
    }
    return in;
}

/* ---------------------------------------------------------------- loss and metrics */

static int argmax_row(const float *p, ptrdiff_t n) {
    int best = 0;
    for (ptrdiff_t j = 1; j < n; j++)
        if (p[j] > p[best]) best = (int)j;
    return best;
}

/* pred: rows x cols; probabilities, or logits when `logits` (then the last activation is
 * net->layers[last].act and is applied here where a metric needs values). */
static void add_metrics(const annc_net *net, const float *pred, int logits, const void *targets,
                        ptrdiff_t tcols, ptrdiff_t rows, const int *metrics, int nmetrics,
                        double *sums, float *scratch) {
    const ptrdiff_t cols = net->out_features;
    const int last_act = net->layers[net->nlayers - 1].act;
    const float *prob = pred;
    int have_prob = !logits;
    for (int m = 0; m < nmetrics; m++) {
        double acc = 0.0;
        const int kind = metrics[m];
        if ((kind == ANNC_METRIC_MAE || kind == ANNC_METRIC_MSE ||
             kind == ANNC_METRIC_BINARY_ACCURACY) && !have_prob) {
            if (last_act == ANNC_ACT_SOFTMAX)
                annc_softmax_forward(scratch, cols, pred, cols, rows, cols);
            else
                annc_act_forward(last_act, 0.0f, scratch, pred, rows * cols);
            prob = scratch;
            have_prob = 1;
        }
        for (ptrdiff_t r = 0; r < rows; r++) {
            const float *pr = pred + r * cols, *qr = prob + r * cols;
            switch (kind) {
            case ANNC_METRIC_SPARSE_CATEGORICAL_ACCURACY: {
                const int32_t label = tcols == 0 ? ((const int32_t *)targets)[r]
                                                 : (int32_t)((const float *)targets)[r * tcols];
                acc += argmax_row(pr, cols) == label;
                break;
            }
            case ANNC_METRIC_CATEGORICAL_ACCURACY:
                acc += argmax_row(pr, cols) ==
                       argmax_row((const float *)targets + r * tcols, tcols);
                break;
            case ANNC_METRIC_BINARY_ACCURACY: {
                const float *t = (const float *)targets + r * tcols;
                double s = 0.0;
                for (ptrdiff_t j = 0; j < cols; j++) s += (qr[j] > 0.5f) == (t[j] > 0.5f);
                acc += s / (double)cols;
                break;
            }
            case ANNC_METRIC_MAE:
            case ANNC_METRIC_MSE: {
                const float *t = (const float *)targets + r * tcols;
                double s = 0.0;
                for (ptrdiff_t j = 0; j < cols; j++) {
                    const double d = (double)qr[j] - (double)t[j];
                    s += kind == ANNC_METRIC_MAE ? fabs(d) : d * d;
                }
                acc += s / (double)cols;
                break;
            }
            default:
                break;
            }
        }
        sums[1 + m] += acc;
    }
}

/* Activity regularisation of layer L's output rows [0, rows): adds to sums[0] the term Keras
 * reports, batch size x the penalty summed over the batch, for rows that start at global row
 * r0 of data cut into batches of `batch` rows. */
static void add_activity_penalty(const annc_layer *L, ptrdiff_t rows, ptrdiff_t r0,
                                 ptrdiff_t batch, ptrdiff_t n, double *sum) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *y = L->y + r * L->out;
        double s1 = 0.0, s2 = 0.0;
        for (ptrdiff_t j = 0; j < L->out; j++) {
            s1 += fabsf(y[j]);
            s2 += (double)y[j] * y[j];
        }
        const ptrdiff_t first = (r0 + r) / batch * batch;
        const ptrdiff_t bsize = ANNC_MIN(batch, n - first);
        *sum += (double)bsize * (L->activity_l1 * s1 + L->activity_l2 * s2);
    }
}

static void activity_penalties(const annc_net *net, ptrdiff_t rows, ptrdiff_t r0, ptrdiff_t batch,
                               ptrdiff_t n, double *sum) {
    for (int l = 0; l < net->nlayers; l++) {
        const annc_layer *L = &net->layers[l];
        if (L->activity_l1 != 0.0f || L->activity_l2 != 0.0f)
            add_activity_penalty(L, rows, r0, batch, n, sum);
    }
}

/* Sum of the regularisation penalties (Keras adds it to the reported loss). */
static double regularisation_penalty(const annc_net *net) {
    double total = 0.0;
    for (int l = 0; l < net->nlayers; l++) {
        const annc_layer *L = &net->layers[l];
        if (L->kind != ANNC_LAYER_DENSE) continue;
        const float rates[2][2] = {{L->kernel_l1, L->kernel_l2}, {L->bias_l1, L->bias_l2}};
        const float *vals[2] = {L->W, L->b};
        const ptrdiff_t counts[2] = {L->in * L->out, L->out};
        for (int v = 0; v < 2; v++) {
            if (!vals[v] || (rates[v][0] == 0.0f && rates[v][1] == 0.0f)) continue;
            double s1 = 0.0, s2 = 0.0;
            for (ptrdiff_t i = 0; i < counts[v]; i++) {
                s1 += fabsf(vals[v][i]);
                s2 += (double)vals[v][i] * vals[v][i];
            }
            total += rates[v][0] * s1 + rates[v][1] * s2;
        }
    }
    return total;
}

/* Loss over rows: adds the per-sample loss sum to *sum and writes d(loss)/d(last output)
 * into dpred when non-NULL. */
static int loss_rows(annc_net *net, double *sum, const float *pred, const void *targets,
                     ptrdiff_t rows, float *dpred, float grad_scale) {
    const int from_logits = net->fused ? 1 : net->from_logits;
    const int st = annc_loss(net->loss, from_logits, net->loss_param, net->loss_rows, dpred,
                             pred, targets, rows, net->out_features, grad_scale);
    if (st != ANNC_OK) return st;
    double s = 0.0;
    for (ptrdiff_t r = 0; r < rows; r++) s += net->loss_rows[r];
    *sum += s;
    return ANNC_OK;
}

/* ---------------------------------------------------------------- backward */

static void colsum(float *restrict db, const float *restrict g, ptrdiff_t rows, ptrdiff_t cols) {
    memset(db, 0, sizeof(float) * (size_t)cols);
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *gr = g + r * cols;
        for (ptrdiff_t j = 0; j < cols; j++) db[j] += gr[j];
    }
}

static void add_reg_grad(float *restrict d, const float *restrict w, ptrdiff_t n, float l1,
                         float l2) {
    if (l1 == 0.0f && l2 == 0.0f) return;
    const float two_l2 = 2.0f * l2;
    for (ptrdiff_t i = 0; i < n; i++) {
        const float sgn = (w[i] > 0.0f) - (w[i] < 0.0f);
        d[i] += l1 * sgn + two_l2 * w[i];
    }
}

static void fused_dense_update(annc_net *net, const annc_optimizer *opt, annc_layer *L,
                               const float *in, ptrdiff_t ld_in, const float *g, ptrdiff_t rows);
static void apply_range(const annc_optimizer *opt, annc_net *net, ptrdiff_t lo, ptrdiff_t hi);
static void clip_values(float *g, ptrdiff_t n, float v);

/* g (rows x out of the last layer) holds d(loss)/d(output) — or d/d(logits) when fused.
 * With `opt` (the fused path) each trainable Dense layer's parameters are updated here, right
 * after their gradient is formed and after the gradient below them has been taken. */
static void backward(annc_net *net, const annc_optimizer *opt, const float *x, ptrdiff_t ldx,
                     ptrdiff_t rows) {
    float *g = net->gbuf0, *other = net->gbuf1;
    /* no gradient needs to flow below the first layer with parameters */
    int first = net->nlayers;
    for (int l = 0; l < net->nlayers; l++)
        if (net->layers[l].kind == ANNC_LAYER_DENSE && net->layers[l].trainable) {
            first = l;
            break;
        }
    for (int l = net->nlayers - 1; l >= 0; l--) {
        annc_layer *L = &net->layers[l];
        const int last = l == net->nlayers - 1;
        const float *in = l == 0 ? x : net->layers[l - 1].y;
        const ptrdiff_t ld_in = l == 0 ? ldx : L->in;
        const int need_dx = l > first;
        switch (L->kind) {
        case ANNC_LAYER_DENSE:
            if (L->activity_l1 != 0.0f || L->activity_l2 != 0.0f)
                add_reg_grad(g, L->y, rows * L->out, L->activity_l1, L->activity_l2);
            if (!(last && net->fused)) {
                if (L->act == ANNC_ACT_SOFTMAX)
                    annc_softmax_backward(g, g, L->y, rows, L->out);
                else if (L->act != ANNC_ACT_LINEAR)
                    annc_act_backward(L->act, L->act_param, g, g, L->z, L->y, rows * L->out);
            }
            if (L->trainable && !opt) {
                annc_sgemm(1, 0, L->in, L->out, rows, 1.0f, in, ld_in, g, L->out, 0.0f, L->dW,
                           L->out, NULL, ANNC_ACT_LINEAR, 0.0f, net->nthreads, net->ws);
                add_reg_grad(L->dW, L->W, L->in * L->out, L->kernel_l1, L->kernel_l2);
            }
            if (L->trainable && L->b) {
                colsum(L->db, g, rows, L->out);
                add_reg_grad(L->db, L->b, L->out, L->bias_l1, L->bias_l2);
            }
            /* the gradient below uses W as it was in the forward pass: take it before any
             * update of W */
            if (need_dx)
                annc_sgemm(0, 1, rows, L->in, L->out, 1.0f, g, L->out, L->W, L->out, 0.0f, other,
                           L->in, NULL, ANNC_ACT_LINEAR, 0.0f, net->nthreads, net->ws);
            if (L->trainable && opt) {
                fused_dense_update(net, opt, L, in, ld_in, g, rows);
                if (L->b) {
                    if (net->clipvalue > 0.0f) clip_values(L->db, L->out, net->clipvalue);
                    apply_range(opt, net, L->b - net->params, L->b - net->params + L->out);
                }
            }
            if (need_dx) {
                float *t = g;
                g = other;
                other = t;
            }
            break;
        case ANNC_LAYER_ACTIVATION:
            if (last && net->fused) break; /* the loss already differentiated through it */
            /* the input is the previous layer's output, still intact: no copy kept */
            if (L->act == ANNC_ACT_SOFTMAX)
                annc_softmax_backward(g, g, L->y, rows, L->out);
            else if (ld_in == L->out)
                annc_act_backward(L->act, L->act_param, g, g, in, L->y, rows * L->out);
            else
                for (ptrdiff_t r = 0; r < rows; r++)
                    annc_act_backward(L->act, L->act_param, g + r * L->out, g + r * L->out,
                                      in + r * ld_in, L->y + r * L->out, L->out);
            break;
        case ANNC_LAYER_DROPOUT:
            if (L->rate > 0.0f)
                for (ptrdiff_t i = 0; i < rows * L->out; i++) g[i] *= L->mask[i];
            break;
        }
        if (!need_dx) break;
    }
}

/* ---------------------------------------------------------------- gradient clipping */

/* sum of squares in double, in index order (deterministic) */
static double sumsq(const float *g, ptrdiff_t n) {
    double s = 0.0;
    for (ptrdiff_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return s;
}

static void scale(float *g, ptrdiff_t n, float f) {
    for (ptrdiff_t i = 0; i < n; i++) g[i] *= f;
}

/* Calls fn on every trainable gradient (kernel then bias, layer by layer). */
#define FOR_EACH_GRAD(net, G, N, BODY)                                                     \
    for (int l_ = 0; l_ < (net)->nlayers; l_++) {                                          \
        const annc_layer *L_ = &(net)->layers[l_];                                         \
        if (L_->kind != ANNC_LAYER_DENSE || !L_->trainable) continue;                      \
        for (int v_ = 0; v_ < 2; v_++) {                                                   \
            float *G = v_ == 0 ? L_->dW : L_->db;                                          \
            const ptrdiff_t N = v_ == 0 ? L_->in * L_->out : (L_->db ? L_->out : 0);        \
            if (!G || N == 0) continue;                                                    \
            BODY;                                                                          \
        }                                                                                  \
    }

/* Keras's _clip_gradients, applied to the gradients before the optimizer sees them. */
static void clip_gradients(annc_net *net) {
    if (net->clipnorm > 0.0f) {
        FOR_EACH_GRAD(net, g, n, {
            const double l2 = sqrt(sumsq(g, n));
            if (!(l2 <= net->clipnorm)) scale(g, n, (float)(net->clipnorm / l2));
        })
    } else if (net->global_clipnorm > 0.0f) {
        double total = 0.0;
        FOR_EACH_GRAD(net, g, n, { total += sumsq(g, n); })
        const double norm = sqrt(total);
        if (!isfinite(norm)) {
            FOR_EACH_GRAD(net, g, n, { for (ptrdiff_t i = 0; i < n; i++) g[i] = NAN; })
        } else if (norm > net->global_clipnorm) {
            const float f = (float)(net->global_clipnorm / norm);
            FOR_EACH_GRAD(net, g, n, { scale(g, n, f); })
        }
    } else if (net->clipvalue > 0.0f) {
        FOR_EACH_GRAD(net, g, n, { clip_values(g, n, net->clipvalue); })
    }
}

static void clip_values(float *g, ptrdiff_t n, float v) {
    for (ptrdiff_t i = 0; i < n; i++) g[i] = g[i] < -v ? -v : (g[i] > v ? v : g[i]);
}

/* ---------------------------------------------------------------- fused gradient + update */

/* dW = inᵀ·g and the optimizer update of W, block of rows by block of rows: each block of dW
 * is consumed by the update while it is still in L1/L2, instead of a whole-matrix write and
 * a second pass that reads it back. Blocks are independent (element-wise update, one K pass
 * per element), so the threads take whole blocks and the result does not depend on how many
 * there are. Only used when no norm-based clipping needs the whole gradient first. */
static void fused_dense_update(annc_net *net, const annc_optimizer *opt, annc_layer *L,
                               const float *in, ptrdiff_t ld_in, const float *g, ptrdiff_t rows) {
    const ptrdiff_t nrow = L->in, out = L->out;
    int nt = ANNC_MAX(net->nthreads, 1);
    /* about 128 rows a block, and a multiple of the threads so they share evenly */
    ptrdiff_t nblk = ANNC_MAX((ptrdiff_t)nt, (nrow + 127) / 128);
    nblk = (nblk + nt - 1) / nt * nt;
    ptrdiff_t blk = ((nrow + nblk - 1) / nblk + 7) / 8 * 8;
    blk = ANNC_MIN(blk, (ptrdiff_t)ANNC_FUSED_MAX_BLOCK);
    nblk = (nrow + blk - 1) / blk;
    if ((double)nrow * out * rows < 32768.0) nt = 1; /* too little work to wake a thread */
    nt = (int)ANNC_MIN((ptrdiff_t)nt, nblk);
    const size_t wsb = block_ws_floats(net, rows);
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
#endif
    for (ptrdiff_t b = 0; b < nblk; b++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        const ptrdiff_t r0 = b * blk, nr = ANNC_MIN(blk, nrow - r0);
        float *ws = net->ws + (size_t)tid * wsb;
        float *dW = ws + block_pack_floats(net, rows, L); /* this block of the gradient */
        annc_sgemm(1, 0, nr, out, rows, 1.0f, in + r0, ld_in, g, out, 0.0f, dW, out, NULL,
                   ANNC_ACT_LINEAR, 0.0f, 1, ws);
        add_reg_grad(dW, L->W + r0 * out, nr * out, L->kernel_l1, L->kernel_l2);
        if (net->clipvalue > 0.0f) clip_values(dW, nr * out, net->clipvalue);
        const ptrdiff_t lo = (L->W - net->params) + r0 * out;
        annc_opt_apply(opt, net->params + lo, dW, net->slot0 ? net->slot0 + lo : NULL,
                       net->slot1 ? net->slot1 + lo : NULL, net->slot2 ? net->slot2 + lo : NULL,
                       nr * out);
    }
}

/* ---------------------------------------------------------------- optimizer pass */

/* Element ranges per thread are fixed by n alone and updates are element-wise, so the result
 * is independent of the thread count. */
#define ANNC_OPT_MT_MIN 32768

static void apply_range(const annc_optimizer *opt, annc_net *net, ptrdiff_t lo, ptrdiff_t hi) {
    if (hi <= lo) return;
    annc_opt_apply(opt, net->params + lo, net->grads + lo, net->slot0 ? net->slot0 + lo : NULL,
                   net->slot1 ? net->slot1 + lo : NULL, net->slot2 ? net->slot2 + lo : NULL,
                   hi - lo);
}

static void apply_slab(const annc_optimizer *opt, annc_net *net, ptrdiff_t lo, ptrdiff_t hi) {
    const ptrdiff_t n = hi - lo;
    int nt = net->nthreads;
    if (n < ANNC_OPT_MT_MIN || nt <= 1) {
        apply_range(opt, net, lo, hi);
        return;
    }
    nt = (int)ANNC_MIN((ptrdiff_t)nt, n / (ANNC_OPT_MT_MIN / 2));
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
    for (int t = 0; t < nt; t++) {
        /* 16-float aligned chunk boundaries */
        const ptrdiff_t chunk = ((n + nt - 1) / nt + 15) / 16 * 16;
        apply_range(opt, net, lo + ANNC_MIN(n, t * chunk), lo + ANNC_MIN(n, (t + 1) * chunk));
    }
}

static void optimizer_update(annc_net *net, annc_optimizer *opt) {
    annc_opt_prepare(opt);
    if (net->all_trainable) {
        apply_slab(opt, net, 0, net->nparams);
    } else {
        for (int l = 0; l < net->nlayers; l++) {
            const annc_layer *L = &net->layers[l];
            if (L->kind != ANNC_LAYER_DENSE || !L->trainable) continue;
            const ptrdiff_t lo = L->W - net->params;
            apply_slab(opt, net, lo, lo + L->in * L->out);
            if (L->b) {
                const ptrdiff_t blo = L->b - net->params;
                apply_slab(opt, net, blo, blo + L->out);
            }
        }
    }
    opt->iterations += 1;
}

/* ---------------------------------------------------------------- public entry points */

static int check_net(const annc_net *net, ptrdiff_t rows) {
    if (!net || net->nlayers < 1 || rows < 0 || rows > net->rows) return ANNC_ERR_ARG;
    /* the workspace need only grows with rows: the figure for net->rows bounds every call */
    if (!net->ws || net->ws_need == 0 || net->ws_floats < net->ws_need) return ANNC_ERR_WORKSPACE;
    return ANNC_OK;
}

/* Ask the memory system for the rows the next step will gather (a hint; no effect on results). */
static void prefetch_rows(const float *x, ptrdiff_t ldx, ptrdiff_t nin, const int64_t *idx,
                          ptrdiff_t n) {
#if defined(__GNUC__) || defined(__clang__)
    for (ptrdiff_t r = 0; r < n; r++) {
        const char *row = (const char *)(x + idx[r] * ldx);
        for (ptrdiff_t off = 0; off < nin * (ptrdiff_t)sizeof(float); off += 64)
            __builtin_prefetch(row + off, 0, 2);
    }
#else
    (void)x; (void)ldx; (void)nin; (void)idx; (void)n;
#endif
}

int annc_train_step(annc_net *net, annc_optimizer *opt, const float *x, ptrdiff_t ldx,
                    const void *targets, ptrdiff_t target_cols, const int64_t *idx,
                    ptrdiff_t batch, const int64_t *next_idx, ptrdiff_t next_batch,
                    uint64_t key, uint64_t counter, const int *metrics, int nmetrics,
                    double *sums) {
    int st = check_net(net, batch);
    if (st != ANNC_OK) return st;
    if (batch == 0) return ANNC_OK;
    const ptrdiff_t nin = net->in_features;
    /* gather the batch (rows of x and of the targets) */
    for (ptrdiff_t r = 0; r < batch; r++)
        memcpy(net->xbuf + r * nin, x + idx[r] * ldx, sizeof(float) * (size_t)nin);
    if (target_cols == 0) {
        int32_t *t = (int32_t *)net->tbuf;
        for (ptrdiff_t r = 0; r < batch; r++) t[r] = ((const int32_t *)targets)[idx[r]];
    } else {
        float *t = (float *)net->tbuf;
        for (ptrdiff_t r = 0; r < batch; r++)
            memcpy(t + r * target_cols, (const float *)targets + idx[r] * target_cols,
                   sizeof(float) * (size_t)target_cols);
    }

    if (next_idx) prefetch_rows(x, ldx, nin, next_idx, next_batch);
    const double penalty = regularisation_penalty(net);
    const float *pred = forward(net, net->xbuf, nin, batch, 1, net->fused, key, counter);
    if (!pred) return ANNC_ERR_ARG;
    st = loss_rows(net, &sums[0], pred, net->tbuf, batch, net->gbuf0, 1.0f / (float)batch);
    if (st != ANNC_OK) return st;
    sums[0] += (double)batch * penalty;
    activity_penalties(net, batch, 0, batch, batch, &sums[0]);
    add_metrics(net, pred, net->fused, net->tbuf, target_cols, batch, metrics, nmetrics, sums,
                net->gbuf1);
    if (net->clipnorm > 0.0f || net->global_clipnorm > 0.0f) {
        /* norm clipping needs every gradient before any update */
        backward(net, NULL, net->xbuf, nin, batch);
        clip_gradients(net);
        optimizer_update(net, opt);
    } else {
        annc_opt_prepare(opt);
        backward(net, opt, net->xbuf, nin, batch);
        opt->iterations += 1;
    }
    return ANNC_OK;
}

int annc_evaluate(annc_net *net, const float *x, ptrdiff_t ldx, const void *targets,
                  ptrdiff_t target_cols, ptrdiff_t n, ptrdiff_t batch, const int *metrics,
                  int nmetrics, double *sums) {
    int st = check_net(net, ANNC_MIN(n, net->rows));
    if (st != ANNC_OK) return st;
    if (batch < 1) return ANNC_ERR_ARG;
    const double penalty = regularisation_penalty(net);
    for (ptrdiff_t r0 = 0; r0 < n; r0 += net->rows) {
        const ptrdiff_t rows = ANNC_MIN(net->rows, n - r0);
        const void *t = target_cols == 0 ? (const void *)((const int32_t *)targets + r0)
                                         : (const void *)((const float *)targets + r0 * target_cols);
        const float *pred = forward(net, x + r0 * ldx, ldx, rows, 0, net->fused, 0, 0);
        if (!pred) return ANNC_ERR_ARG;
        st = loss_rows(net, &sums[0], pred, t, rows, NULL, 1.0f);
        if (st != ANNC_OK) return st;
        sums[0] += (double)rows * penalty;
        activity_penalties(net, rows, r0, batch, n, &sums[0]);
        add_metrics(net, pred, net->fused, t, target_cols, rows, metrics, nmetrics, sums,
                    net->gbuf1);
    }
    return ANNC_OK;
}

int annc_predict(annc_net *net, float *out, const float *x, ptrdiff_t ldx, ptrdiff_t n) {
    int st = check_net(net, ANNC_MIN(n, net->rows));
    if (st != ANNC_OK) return st;
    const ptrdiff_t cols = net->out_features;
    annc_layer *last = &net->layers[net->nlayers - 1];
    for (ptrdiff_t r0 = 0; r0 < n; r0 += net->rows) {
        const ptrdiff_t rows = ANNC_MIN(net->rows, n - r0);
        /* write the last layer straight into the caller's array: no copy */
        float *saved = last->y;
        last->y = out + r0 * cols;
        const float *pred = forward(net, x + r0 * ldx, ldx, rows, 0, 0, 0, 0);
        last->y = saved;
        if (!pred) return ANNC_ERR_ARG;
    }
    return ANNC_OK;
}
