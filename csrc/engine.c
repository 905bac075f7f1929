/* The executor's shared pieces and its inference side: workspace sizing, the forward pass used
 * by evaluate/predict (threads inside each GEMM), the loss, metrics, regularisation penalties
 * and Keras's gradient clipping. The training steps themselves live in train.c.
 *
 * Every buffer belongs to the caller (Python), sized once per fit; nothing is allocated here.
 * Reductions (loss and metric sums, clipping norms) run in a fixed order on one thread, so
 * results do not depend on the thread count.
 */
#include <math.h>
#include <string.h>

#include "annc.h"
#include "internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static size_t predict_thread_floats(const annc_net *net, ptrdiff_t rows);

size_t annc_net_workspace_floats(const annc_net *net, ptrdiff_t rows) {
    /* training: one region per thread (train.c) */
    size_t need = annc_eng_train_ws_floats(net, rows);
    for (int l = 0; l < net->nlayers; l++) {
        const annc_layer *L = &net->layers[l];
        if (L->kind != ANNC_LAYER_DENSE) continue;
        /* inference: the forward product on all threads */
        need = ANNC_MAX(need, annc_sgemm_workspace_floats(rows, L->out, L->in, net->nthreads));
    }
    /* inference of many chunks: one chunk per thread at a time */
    need = ANNC_MAX(need, (size_t)ANNC_MAX(net->nthreads, 1) * predict_thread_floats(net, rows));
    return need;
}

/* ---------------------------------------------------------------- forward */

/* What an inference pass runs on: the layers (the net's own, or a thread's copy whose output
 * buffers are its own), a GEMM workspace and the threads each product may use. */
typedef struct {
    annc_layer *layers;
    float *ws;
    int nthreads;
    annc_pack_cache *caches; /* per layer (buf NULL: none), or NULL */
} pass;

/* out = act(in · W + b) for a Dense layer; a handful of rows skips the packed GEMM, whose
 * packing of W would cost more than the product. */
static void dense_product(const pass *f, int l, const float *in, ptrdiff_t ld_in,
                          ptrdiff_t rows, float *out, int act, float act_param) {
    const annc_layer *L = &f->layers[l];
    annc_pack_cache *cache = f->caches && f->caches[l].buf ? &f->caches[l] : NULL;
    if (rows <= ANNC_ROWGEMM_MAX_ROWS)
        annc_rowgemm(rows, L->out, L->in, in, ld_in, L->W, L->out, out, L->out, L->b, act,
                     act_param);
    else if (cache) /* one thread, chunk after chunk: the packed kernel is kept */
        annc_sgemm_cached(0, 0, rows, L->out, L->in, 1.0f, in, ld_in, L->W, L->out, 0.0f, out,
                          L->out, L->b, act, act_param, cache, f->ws);
    else
        annc_sgemm(0, 0, rows, L->out, L->in, 1.0f, in, ld_in, L->W, L->out, 0.0f, out, L->out,
                   L->b, act, act_param, f->nthreads, f->ws);
}

/* Inference: runs the layers on rows x (ld ldx), threads inside each product. With
 * `logits_out` the last layer's softmax/sigmoid is skipped (the loss fuses it), so the last y
 * holds logits. Returns the last layer's output. */
static const float *forward_pass(const annc_net *net, const pass *f, const float *x,
                                 ptrdiff_t ldx, ptrdiff_t rows, int logits_out) {
    const float *in = x;
    ptrdiff_t ld_in = ldx;
    for (int l = 0; l < net->nlayers; l++) {
        annc_layer *L = &f->layers[l];
        const int last = l == net->nlayers - 1;
        const int act = (last && logits_out) ? ANNC_ACT_LINEAR : L->act;
        switch (L->kind) {
        case ANNC_LAYER_DENSE:
            if (act == ANNC_ACT_SOFTMAX) {
                float *z = L->z ? L->z : L->y;
                dense_product(f, l, in, ld_in, rows, z, ANNC_ACT_LINEAR, 0.0f);
                annc_softmax_forward(L->y, L->out, z, L->out, rows, L->out);
            } else {
                dense_product(f, l, in, ld_in, rows, L->y, act, L->act_param);
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
        case ANNC_LAYER_DROPOUT: /* identity outside training */
            for (ptrdiff_t r = 0; r < rows; r++)
                memcpy(L->y + r * L->out, in + r * ld_in, sizeof(float) * (size_t)L->out);
            break;
        default:
            return NULL;
        }
        in = L->y;
        ld_in = L->out;
    }
    return in;
}

static const float *forward(annc_net *net, const float *x, ptrdiff_t ldx, ptrdiff_t rows,
                            int logits_out) {
    const pass f = {net->layers, net->ws, net->nthreads, NULL};
    return forward_pass(net, &f, x, ldx, rows, logits_out);
}

/* One thread's region for predicting whole chunks on its own: a copy of the layers, their
 * output buffers for net->rows rows, a cache of each Dense kernel's packing (a thread packs
 * the kernel once per call instead of once per chunk: 2.4% of Program 2's 10k-row predict),
 * and a one-thread GEMM workspace. */
#define PACK_CACHE_MAX_FLOATS ((size_t)1 << 20) /* larger kernels are packed per chunk */

static size_t struct_floats(size_t bytes) { return (bytes + 63) / 64 * 16; }

static size_t cache_floats(const annc_layer *L) {
    if (L->kind != ANNC_LAYER_DENSE) return 0;
    const size_t n = annc_sgemm_cache_floats(L->out, L->in);
    return n <= PACK_CACHE_MAX_FLOATS ? (n + 15) / 16 * 16 : 0;
}

static size_t predict_thread_floats(const annc_net *net, ptrdiff_t rows) {
    size_t need = struct_floats((size_t)net->nlayers * sizeof(annc_layer)) +
                  struct_floats((size_t)net->nlayers * sizeof(annc_pack_cache));
    size_t gemm = 0;
    for (int l = 0; l < net->nlayers; l++) {
        const annc_layer *L = &net->layers[l];
        need += ((size_t)rows * (size_t)L->out + 15) / 16 * 16 + cache_floats(L);
        if (L->kind == ANNC_LAYER_DENSE)
            gemm = ANNC_MAX(gemm, annc_sgemm_workspace_floats(rows, L->out, L->in, 1));
    }
    return need + (gemm + 15) / 16 * 16;
}

/* A thread's pass over its region, its kernel caches empty (the weights may have changed
 * since the last call). */
static pass predict_thread_pass(const annc_net *net, float *region) {
    pass f;
    f.layers = (annc_layer *)region;
    memcpy(f.layers, net->layers, sizeof(annc_layer) * (size_t)net->nlayers);
    float *p = region + struct_floats((size_t)net->nlayers * sizeof(annc_layer));
    f.caches = (annc_pack_cache *)p;
    memset(f.caches, 0, sizeof(annc_pack_cache) * (size_t)net->nlayers);
    p += struct_floats((size_t)net->nlayers * sizeof(annc_pack_cache));
    for (int l = 0; l < net->nlayers; l++) {
        f.layers[l].y = p;
        f.layers[l].z = NULL; /* softmax runs in place */
        p += ((size_t)net->rows * (size_t)net->layers[l].out + 15) / 16 * 16;
        const size_t cf = cache_floats(&net->layers[l]);
        if (cf) {
            f.caches[l].buf = p;
            f.caches[l].floats = cf;
            p += cf;
        }
    }
    f.ws = p;
    f.nthreads = 1;
    return f;
}

/* ---------------------------------------------------------------- loss and metrics */

/* The first index of the row's largest value (NaN never wins a comparison), kept by selects:
 * a branch on the data mispredicted about twice a row of ten (the accuracy of a training step's
 * 32 rows took 1.5-1.8k cycles). */
static int argmax_row(const float *p, ptrdiff_t n) {
    int best = 0;
    float top = p[0];
    for (ptrdiff_t j = 1; j < n; j++) {
        const int more = p[j] > top;
        best = more ? (int)j : best;
        top = more ? p[j] : top;
    }
    return best;
}

/* Whether every metric can read targets of target_cols values a row (0: int32 class ids):
 * a class id per row for sparse categorical accuracy, one value per output for the others. */
int annc_eng_metrics_fit(const annc_net *net, ptrdiff_t target_cols, const int *metrics,
                         int nmetrics) {
    if (nmetrics > 0 && !metrics) return 0;
    for (int m = 0; m < nmetrics; m++) {
        switch (metrics[m]) {
        case ANNC_METRIC_SPARSE_CATEGORICAL_ACCURACY:
            if (target_cols > 1) return 0;
            break;
        case ANNC_METRIC_CATEGORICAL_ACCURACY:
        case ANNC_METRIC_BINARY_ACCURACY:
        case ANNC_METRIC_MAE:
        case ANNC_METRIC_MSE:
            if (target_cols != net->out_features) return 0;
            break;
        default:
            return 0;
        }
    }
    return 1;
}

/* pred: rows x cols; probabilities, or logits when `logits` (then the last activation is
 * net->layers[last].act and is applied here where a metric needs values). */
void annc_eng_add_metrics(const annc_net *net, const float *pred, int logits, const void *targets,
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

/* Activity regularisation of layer L's output rows [0, rows): adds to sums[0] (batch size x
 * the reported loss) the penalty summed over the rows. Keras 3 divides a batch's penalty by
 * the batch size (keras-team/keras#22021, in 3.15), so a batch adds its penalty sum once to
 * the batch-size-weighted loss, however the rows are cut into batches. */
static void add_activity_penalty(const annc_layer *L, const float *out, ptrdiff_t rows,
                                 double *sum) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *y = out + r * L->out;
        double s1 = 0.0, s2 = 0.0;
        for (ptrdiff_t j = 0; j < L->out; j++) {
            s1 += fabsf(y[j]);
            s2 += (double)y[j] * y[j];
        }
        *sum += L->activity_l1 * s1 + L->activity_l2 * s2;
    }
}

void annc_eng_fused_output(int act, float *p, const float *z, ptrdiff_t rows, ptrdiff_t n) {
    if (act == ANNC_ACT_SOFTMAX)
        annc_softmax_forward(p, n, z, n, rows, n);
    else
        annc_act_forward(act, 0.0f, p, z, rows * n);
}

void annc_eng_activity_penalties(const annc_net *net, ptrdiff_t rows, double *sum,
                                 float *scratch) {
    for (int l = 0; l < net->nlayers; l++) {
        const annc_layer *L = &net->layers[l];
        if (L->activity_l1 == 0.0f && L->activity_l2 == 0.0f) continue;
        const float *out = L->y;
        if (l == net->nlayers - 1 && net->fused) { /* L->y holds the logits */
            annc_eng_fused_output(L->act, scratch, L->y, rows, L->out);
            out = scratch;
        }
        add_activity_penalty(L, out, rows, sum);
    }
}

/* Sum of the regularisation penalties (Keras adds it to the reported loss). */
double annc_eng_regularisation_penalty(const annc_net *net) {
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
int annc_eng_loss_rows(annc_net *net, double *sum, const float *pred, const void *targets,
                     ptrdiff_t rows, float *dpred, float grad_scale) {
    const int from_logits = net->fused ? 1 : net->from_logits;
    const int st = annc_loss(net->loss, from_logits, net->loss_param, net->loss_rows, dpred,
                             pred, targets, rows, net->out_features, grad_scale);
    if (st != ANNC_OK) return st;
    annc_eng_add_loss_rows(net, rows, sum);
    return ANNC_OK;
}

void annc_eng_add_loss_rows(const annc_net *net, ptrdiff_t rows, double *sum) {
    double s = 0.0;
    for (ptrdiff_t r = 0; r < rows; r++) s += net->loss_rows[r];
    *sum += s;
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

/* Calls BODY on every trainable gradient (kernel then bias, layer by layer). */
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

/* Keras's _clip_gradients by norm, applied to the gradients before the optimizer sees them
 * (clipvalue is element-wise and train.c applies it block by block). */
void annc_eng_clip_gradients(annc_net *net) {
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
    }
}

/* ---------------------------------------------------------------- public entry points */

int annc_eng_check_net(const annc_net *net, ptrdiff_t rows) {
    if (!net || net->nlayers < 1 || rows < 0 || rows > net->rows) return ANNC_ERR_ARG;
    /* the workspace need only grows with rows: the figure for net->rows bounds every call */
    if (!net->ws || net->ws_need == 0 || net->ws_floats < net->ws_need) return ANNC_ERR_WORKSPACE;
    return ANNC_OK;
}

int annc_evaluate(annc_net *net, const float *x, ptrdiff_t ldx, const void *targets,
                  ptrdiff_t target_cols, ptrdiff_t n, const int *metrics, int nmetrics,
                  double *sums) {
    int st = annc_eng_check_net(net, ANNC_MIN(n, net->rows));
    if (st != ANNC_OK) return st;
    if (!annc_eng_metrics_fit(net, target_cols, metrics, nmetrics)) return ANNC_ERR_ARG;
    const double penalty = annc_eng_regularisation_penalty(net);
    for (ptrdiff_t r0 = 0; r0 < n; r0 += net->rows) {
        const ptrdiff_t rows = ANNC_MIN(net->rows, n - r0);
        const void *t = target_cols == 0 ? (const void *)((const int32_t *)targets + r0)
                                         : (const void *)((const float *)targets + r0 * target_cols);
        const float *pred = forward(net, x + r0 * ldx, ldx, rows, net->fused);
        if (!pred) return ANNC_ERR_ARG;
        st = annc_eng_loss_rows(net, &sums[0], pred, t, rows, NULL, 1.0f);
        if (st != ANNC_OK) return st;
        sums[0] += (double)rows * penalty;
        annc_eng_activity_penalties(net, rows, &sums[0], net->gbuf1);
        annc_eng_add_metrics(net, pred, net->fused, t, target_cols, rows, metrics, nmetrics, sums,
                    net->gbuf1);
    }
    return ANNC_OK;
}

/* Thread tid's share of a many-chunk prediction: chunks taken in turn from *next_chunk, each
 * through every layer on the thread's own region. Returns 0 if a layer failed. */
static int predict_chunks(const annc_net *net, float *out, const float *x, ptrdiff_t ldx,
                          ptrdiff_t n, int tid, ptrdiff_t *next_chunk) {
    const ptrdiff_t cols = net->out_features, chunk = net->rows;
    const ptrdiff_t nchunks = (n + chunk - 1) / chunk;
    pass f = predict_thread_pass(net, net->ws + (size_t)tid * predict_thread_floats(net, chunk));
    int ok = 1;
    for (;;) {
        ptrdiff_t c;
#ifdef _OPENMP
#pragma omp atomic capture
#endif
        c = (*next_chunk)++;
        if (c >= nchunks) break;
        const ptrdiff_t r0 = c * chunk, rows = ANNC_MIN(chunk, n - r0);
        f.layers[net->nlayers - 1].y = out + r0 * cols;
        if (!forward_pass(net, &f, x + r0 * ldx, ldx, rows, 0)) ok = 0;
    }
    return ok;
}

int annc_predict(annc_net *net, float *out, const float *x, ptrdiff_t ldx, ptrdiff_t n) {
    int st = annc_eng_check_net(net, ANNC_MIN(n, net->rows));
    if (st != ANNC_OK) return st;
    const ptrdiff_t cols = net->out_features, chunk = net->rows;
    const ptrdiff_t nchunks = (n + chunk - 1) / chunk;
    annc_layer *last = &net->layers[net->nlayers - 1];
    if (nchunks <= 1) {
        /* one chunk: threads inside each product */
        for (ptrdiff_t r0 = 0; r0 < n; r0 += chunk) {
            const ptrdiff_t rows = ANNC_MIN(chunk, n - r0);
            /* write the last layer straight into the caller's array: no copy */
            float *saved = last->y;
            last->y = out + r0 * cols;
            const float *pred = forward(net, x + r0 * ldx, ldx, rows, 0);
            last->y = saved;
            if (!pred) return ANNC_ERR_ARG;
        }
        return ANNC_OK;
    }
    /* Many chunks: each thread runs whole chunks through every layer on its own buffers (and
     * packs each kernel once), so no product waits for a barrier and the narrow layers and
     * softmax run in parallel too.
     * A chunk's products are the same one-thread products either way: same results. Chunks
     * are handed out in order as threads come free, not dealt in advance: on a shared machine
     * one core often runs slower for a while, and a fixed half would leave the other waiting. */
    ptrdiff_t next_chunk = 0;
#ifdef _OPENMP
    const int nt = (int)ANNC_MIN((ptrdiff_t)net->nthreads, nchunks);
    if (nt > 1) {
        int failed = 0;
#pragma omp parallel num_threads(nt) reduction(| : failed)
        if (!predict_chunks(net, out, x, ldx, n, omp_get_thread_num(), &next_chunk)) failed = 1;
        return failed ? ANNC_ERR_ARG : ANNC_OK;
    }
#endif
    /* one thread: no OpenMP region, so a forked child never touches the thread pool */
    return predict_chunks(net, out, x, ldx, n, 0, &next_chunk) ? ANNC_OK : ANNC_ERR_ARG;
}
