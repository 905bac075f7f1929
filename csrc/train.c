/* Training steps of the executor: one call runs a chunk of an epoch's steps.
 *
 * How the threads share a step. Every thread runs the same step program (SPMD) inside one
 * parallel region per chunk. A wide Dense layer's output columns are cut into one contiguous
 * span per thread, and a thread owns its span throughout: it computes those columns of the
 * forward product, their activation, their share of the backward pass, and the update of
 * those columns of the kernel (with its optimizer slots). A thread therefore only ever writes
 * parameters it will read itself in the next forward pass, and each core keeps its half of
 * W and of the optimizer state in its own L2. The owner-computes split replaced threading
 * inside each GEMM, where the forward product split W by columns but the update split it by
 * rows, so every step moved each line of W between the cores.
 *
 * Narrow layers (little work, or a softmax needing whole rows) and the loss run on thread 0
 * alone; the other threads wait at the next barrier. A barrier is taken only where data
 * crosses threads: before a layer that reads all of a tensor whose parts other threads wrote,
 * and before updating a kernel that other threads are still reading to form the gradient
 * below it (that update waits, "pending", for the next barrier).
 *
 * Determinism: every element is computed by the same arithmetic whatever the split:
 * annc_sgemm_part blocks K as the whole product would, element-wise kernels treat every
 * element alike (masked vector tails), and reductions (bias gradients per column, loss and
 * metric sums, clipping norms) run in a fixed order on one thread or per column. So weights
 * after a chunk are bit-identical for any thread count.
 *
 * The batch is gathered from the shuffled rows of x into one of two buffers: each thread copies
 * its share of the next step's rows at the end of a step (while the other buffer may still be
 * read), and asks the memory system for the rows of the step after that.
 */
#include <math.h>
#include <string.h>

#include "annc.h"
#include "internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Columns are split in multiples of this (whole AVX half-vectors for the element-wise passes). */
#define SPLIT_UNIT 4
/* A layer is split only when each thread gets at least this many FMAs of its forward product
 * (the same threshold as the GEMM's threading, for the same reason). */
#define SPLIT_MIN_FMA (256.0 * 1024.0)
/* Rows of W per block of the fused weight-gradient + update pass: one block of dW stays in
 * L1/L2 between the product that forms it and the update that consumes it. */
#define DW_BLOCK_ROWS 128

typedef struct {
    ptrdiff_t lo, hi;
} span;

/* Who wrote a tensor, and when (in barriers), to decide whether a reader must wait. */
enum { BY_THREAD0 = 0, BY_SPLIT = 1 };
typedef struct {
    int by;
    long at;   /* the worker's barrier count when it was written */
} written;

/* How a consumer reads a tensor. */
enum { READ_ALL_BY_EVERYONE, READ_ALL_BY_THREAD0, READ_OWN_SPLIT, READ_OWN_THREAD0 };

typedef struct {
    int layer;             /* -1: none */
    const float *in;       /* the layer's input rows */
    ptrdiff_t ld_in;
    const float *g;        /* d(loss)/d(pre-activation), rows x out */
} pending_update;

/* One thread's view of the chunk. */
typedef struct {
    annc_net *net;
    annc_optimizer opt;    /* a private copy, prepared for the current step */
    int tid, nt;
    float *ws;             /* this thread's workspace */
    ptrdiff_t rows;        /* rows of the current step */
    const float *x;        /* the current step's gathered batch */
    long barriers;
    int fused;             /* update each kernel as its gradient is formed (no norm clipping) */
    pending_update pending;
    /* the rows this thread gathers next, asked from memory a few at a time during the step */
    const float *pf_x;
    ptrdiff_t pf_ldx;
    const int64_t *pf_idx;
    ptrdiff_t pf_lo, pf_next, pf_end;
} worker;

/* ---------------------------------------------------------------- the plan */

/* Whether layer l's output columns are split among nt threads at `rows` rows (else thread 0
 * computes them). Element-wise layers follow their input. Same answer on every thread. */
static int out_split(const annc_net *net, int l, ptrdiff_t rows, int nt) {
    if (nt <= 1 || l < 0) return 0;
    const annc_layer *L = &net->layers[l];
    switch (L->kind) {
    case ANNC_LAYER_DENSE:
        return L->act != ANNC_ACT_SOFTMAX && L->out >= 2 * SPLIT_UNIT * nt &&
               (double)rows * (double)L->in * (double)L->out >= SPLIT_MIN_FMA * nt;
    case ANNC_LAYER_ACTIVATION:
        if (L->act == ANNC_ACT_SOFTMAX) return 0;
        return out_split(net, l - 1, rows, nt);
    default:
        return out_split(net, l - 1, rows, nt);
    }
}

static span own_span(ptrdiff_t width, int split, const worker *w) {
    span s = {0, 0};
    if (!split) {
        if (w->tid == 0) s.hi = width;
        return s;
    }
    /* the units that do not divide evenly go to the last threads: thread 0 also runs the
     * narrow layers and the loss */
    const ptrdiff_t units = (width + SPLIT_UNIT - 1) / SPLIT_UNIT;
    const ptrdiff_t base = units / w->nt, extra = units % w->nt, first_extra = w->nt - extra;
    const ptrdiff_t u0 = w->tid * base + ANNC_MAX((ptrdiff_t)0, w->tid - first_extra);
    const ptrdiff_t u1 = u0 + base + (w->tid >= first_extra ? 1 : 0);
    s.lo = ANNC_MIN(u0 * SPLIT_UNIT, width);
    s.hi = ANNC_MIN(u1 * SPLIT_UNIT, width);
    return s;
}

/* Threads needed for a chunk at `rows` rows: 1 when no layer is worth splitting. */
static int chunk_threads(const annc_net *net, ptrdiff_t rows) {
    const int nt = ANNC_MAX(net->nthreads, 1);
    for (int l = 0; l < net->nlayers; l++)
        if (out_split(net, l, rows, nt)) return nt;
    return 1;
}

/* ---------------------------------------------------------------- synchronisation */

static void run_pending(worker *w);

static void barrier(worker *w) {
#ifdef _OPENMP
    if (w->nt > 1) {
#pragma omp barrier
    }
#endif
    w->barriers++;
    if (w->pending.layer >= 0) run_pending(w);
}

/* Wait, if need be, until a tensor written as `t` may be read as `how`. */
static void require(worker *w, written t, int how) {
    if (t.at < w->barriers) return; /* a barrier since the write: visible to all */
    int ok;
    switch (how) {
    case READ_ALL_BY_THREAD0:
    case READ_OWN_THREAD0:
        ok = t.by == BY_THREAD0;
        break;
    case READ_OWN_SPLIT:
        ok = t.by == BY_SPLIT;
        break;
    default:
        ok = 0;
    }
    if (!ok && w->nt > 1) barrier(w);
}

static written wrote(const worker *w, int split) {
    written t = {split ? BY_SPLIT : BY_THREAD0, w->barriers};
    return t;
}

/* ---------------------------------------------------------------- gather */

/* This thread's share of the rows of a step: rows idx[0:rows] of x into buf, the labels (by
 * thread 0) into the target buffer. */
/* Rows [*r0, *r1) of a step's `rows` that thread tid gathers: thread 0, which also runs the
 * loss and the narrow layers, takes half a share. */
static void gather_rows(int tid, int nt, ptrdiff_t rows, ptrdiff_t *r0, ptrdiff_t *r1) {
    const ptrdiff_t shares = 2 * (ptrdiff_t)nt - 1; /* in half shares */
    *r0 = tid == 0 ? 0 : rows * (2 * tid - 1) / shares;
    *r1 = rows * (2 * tid + 1) / shares;
}

static void gather_share(const worker *w, float *buf, const float *x, ptrdiff_t ldx,
                         const void *targets, ptrdiff_t target_cols, const int64_t *idx,
                         ptrdiff_t rows) {
    const annc_net *net = w->net;
    const ptrdiff_t nin = net->in_features;
    ptrdiff_t r0, r1;
    gather_rows(w->tid, w->nt, rows, &r0, &r1);
    for (ptrdiff_t r = r0; r < r1; r++)
        memcpy(buf + r * nin, x + idx[r] * ldx, sizeof(float) * (size_t)nin);
    if (w->tid != 0) return;
    if (target_cols == 0) {
        int32_t *t = (int32_t *)net->tbuf;
        for (ptrdiff_t r = 0; r < rows; r++) t[r] = ((const int32_t *)targets)[idx[r]];
    } else {
        float *t = (float *)net->tbuf;
        for (ptrdiff_t r = 0; r < rows; r++)
            memcpy(t + r * target_cols, (const float *)targets + idx[r] * target_cols,
                   sizeof(float) * (size_t)target_cols);
    }
}

/* The rows this thread will gather at the end of the step come from DRAM (x is large and
 * shuffled). Asking for them all at once stalls the core on its miss buffers for as long as
 * the copy itself would; asked a few at a time between the step's compute phases, the misses
 * overlap with arithmetic and the gather then copies from cache. */
static void prefetch_plan(worker *w, const float *x, ptrdiff_t ldx, const int64_t *idx,
                          ptrdiff_t rows) {
    w->pf_x = x;
    w->pf_ldx = ldx;
    w->pf_idx = idx;
    gather_rows(w->tid, w->nt, idx ? rows : 0, &w->pf_lo, &w->pf_end);
    w->pf_next = w->pf_lo;
}

/* Prefetches the planned rows up to fraction num/den of this thread's share. */
static void prefetch_upto(worker *w, ptrdiff_t num, ptrdiff_t den) {
#if defined(__GNUC__) || defined(__clang__)
    if (!w->pf_idx) return;
    const ptrdiff_t bytes = w->net->in_features * (ptrdiff_t)sizeof(float);
    const ptrdiff_t target = ANNC_MIN(w->pf_end, w->pf_lo + (w->pf_end - w->pf_lo) * num / den);
    for (; w->pf_next < target; w->pf_next++) {
        const char *row = (const char *)(w->pf_x + w->pf_idx[w->pf_next] * w->pf_ldx);
        for (ptrdiff_t off = 0; off < bytes; off += 64) __builtin_prefetch(row + off, 0, 2);
    }
#else
    (void)w; (void)num; (void)den;
#endif
}

/* ---------------------------------------------------------------- forward */

/* dst[:, s] = act(in · W[:, s] + b[s]) for this thread's columns s of a Dense layer. */
static void dense_columns(const worker *w, const annc_layer *L, const float *in, ptrdiff_t ld_in,
                          span s, float *dst, int act) {
    const ptrdiff_t n = s.hi - s.lo, rows = w->rows;
    if (n <= 0) return;
    const float *bias = L->b ? L->b + s.lo : NULL;
    if (rows <= ANNC_ROWGEMM_MAX_ROWS)
        annc_rowgemm(rows, n, L->in, in, ld_in, L->W + s.lo, L->out, dst + s.lo, L->out, bias,
                     act, L->act_param);
    else
        annc_sgemm_part(0, 0, rows, n, L->in, 1.0f, in, ld_in, L->W + s.lo, L->out, 0.0f,
                        dst + s.lo, L->out, bias, act, L->act_param, rows, L->out, w->ws);
}

/* y[:, s] = act(x[:, s]) row by row (one call when s is whole rows of a dense tensor). */
static void act_columns(int act, float param, float *y, const float *x, ptrdiff_t ldx,
                        ptrdiff_t width, ptrdiff_t rows, span s) {
    if (s.hi <= s.lo) return;
    if (s.lo == 0 && s.hi == width && ldx == width) {
        annc_act_forward(act, param, y, x, rows * width);
        return;
    }
    for (ptrdiff_t r = 0; r < rows; r++)
        annc_act_forward(act, param, y + r * width + s.lo, x + r * ldx + s.lo, s.hi - s.lo);
}

static const float *train_forward(worker *w, written *state, uint64_t key, uint64_t counter) {
    annc_net *net = w->net;
    const ptrdiff_t rows = w->rows;
    const float *in = w->x;
    ptrdiff_t ld_in = net->in_features;
    for (int l = 0; l < net->nlayers; l++) {
        annc_layer *L = &net->layers[l];
        const int last = l == net->nlayers - 1;
        const int act = (last && net->fused) ? ANNC_ACT_LINEAR : L->act;
        const int split = out_split(net, l, rows, w->nt);
        const span s = own_span(L->out, split, w);
        switch (L->kind) {
        case ANNC_LAYER_DENSE:
            require(w, *state, split ? READ_ALL_BY_EVERYONE : READ_ALL_BY_THREAD0);
            if (act == ANNC_ACT_SOFTMAX) { /* never split: thread 0 has whole rows */
                if (w->tid == 0) {
                    float *z = L->z ? L->z : L->y;
                    dense_columns(w, L, in, ld_in, s, z, ANNC_ACT_LINEAR);
                    annc_softmax_forward(L->y, L->out, z, L->out, rows, L->out);
                }
            } else if (L->z && act != ANNC_ACT_LINEAR) {
                /* the derivative needs the pre-activation: keep it */
                dense_columns(w, L, in, ld_in, s, L->z, ANNC_ACT_LINEAR);
                act_columns(act, L->act_param, L->y, L->z, L->out, L->out, rows, s);
            } else {
                dense_columns(w, L, in, ld_in, s, L->y, act);
            }
            break;
        case ANNC_LAYER_ACTIVATION:
            if (act == ANNC_ACT_SOFTMAX) {
                require(w, *state, READ_ALL_BY_THREAD0);
                if (w->tid == 0) annc_softmax_forward(L->y, L->out, in, ld_in, rows, L->out);
            } else {
                require(w, *state, split ? READ_OWN_SPLIT : READ_OWN_THREAD0);
                act_columns(act, L->act_param, L->y, in, ld_in, L->out, rows, s);
            }
            break;
        case ANNC_LAYER_DROPOUT:
            require(w, *state, split ? READ_OWN_SPLIT : READ_OWN_THREAD0);
            for (ptrdiff_t r = 0; r < rows && s.hi > s.lo; r++) {
                const float *src = in + r * ld_in;
                float *dst = L->y + r * L->out, *m = L->mask + r * L->out;
                if (L->rate > 0.0f) {
                    annc_rng_dropout_mask_at(m + s.lo, r * L->out + s.lo, s.hi - s.lo, key,
                                             counter + ((uint64_t)l << 32), L->rate);
                    for (ptrdiff_t j = s.lo; j < s.hi; j++) dst[j] = src[j] * m[j];
                } else {
                    memcpy(dst + s.lo, src + s.lo, sizeof(float) * (size_t)(s.hi - s.lo));
                }
            }
            break;
        default:
            return NULL;
        }
        *state = wrote(w, split);
        in = L->y;
        ld_in = L->out;
    }
    return in;
}

/* ---------------------------------------------------------------- backward */

static void add_reg_grad_rows(float *d, ptrdiff_t ldd, const float *v, ptrdiff_t ldv,
                              ptrdiff_t rows, ptrdiff_t n, float l1, float l2) {
    if (l1 == 0.0f && l2 == 0.0f) return;
    const float two_l2 = 2.0f * l2;
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *restrict dr = d + r * ldd;
        const float *restrict vr = v + r * ldv;
        for (ptrdiff_t i = 0; i < n; i++) {
            const float sgn = (vr[i] > 0.0f) - (vr[i] < 0.0f);
            dr[i] += l1 * sgn + two_l2 * vr[i];
        }
    }
}

static void clip_rows(float *g, ptrdiff_t ld, ptrdiff_t rows, ptrdiff_t n, float v) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *gr = g + r * ld;
        for (ptrdiff_t i = 0; i < n; i++) gr[i] = gr[i] < -v ? -v : (gr[i] > v ? v : gr[i]);
    }
}

/* The optimizer on a block of parameters starting at p (rows x n, ld ldp in the slab), with
 * gradients at g (ld ldg). */
static void update_block(const worker *w, float *p, ptrdiff_t ldp, const float *g,
                         ptrdiff_t ldg, ptrdiff_t rows, ptrdiff_t n) {
    const annc_net *net = w->net;
    const ptrdiff_t off = p - net->params;
    if (ldp == n && ldg == n) { /* whole rows: one run, no per-row loop or tails */
        n *= rows;
        rows = 1;
    }
    annc_opt_apply_2d(&w->opt, p, ldp, g, ldg, net->slot0 ? net->slot0 + off : NULL,
                      net->slot1 ? net->slot1 + off : NULL, net->slot2 ? net->slot2 + off : NULL,
                      rows, n);
}

/* This thread's columns s of dW = inᵀ·g, and (fused) their update, DW_BLOCK_ROWS rows of W
 * at a time so that a block of the gradient is consumed while it is still in cache. Without
 * `fused` the gradient goes to L->dW for clipping and a later update. */
static void kernel_gradient(worker *w, annc_layer *L, const float *in, ptrdiff_t ld_in,
                            const float *g, span s) {
    const ptrdiff_t n = s.hi - s.lo, out = L->out;
    if (n <= 0) return;
    float *block = w->ws + annc_sgemm_part_workspace_floats(DW_BLOCK_ROWS, out, w->rows, L->in, out);
    block = (float *)(((uintptr_t)block + 63) & ~(uintptr_t)63);
    const ptrdiff_t nblocks = (L->in + DW_BLOCK_ROWS - 1) / DW_BLOCK_ROWS;
    for (ptrdiff_t r0 = 0; r0 < L->in; r0 += DW_BLOCK_ROWS) {
        const ptrdiff_t nr = ANNC_MIN((ptrdiff_t)DW_BLOCK_ROWS, L->in - r0);
        /* the first quarter went before the forward pass, the rest block by block here */
        prefetch_upto(w, nblocks + 3 * (r0 / DW_BLOCK_ROWS + 1), 4 * nblocks);
        float *W = L->W + r0 * out + s.lo;
        float *dW = w->fused ? block : L->dW + r0 * out + s.lo;
        const ptrdiff_t ld = w->fused ? n : out;
        annc_sgemm_part(1, 0, nr, n, w->rows, 1.0f, in + r0, ld_in, g + s.lo, out, 0.0f, dW, ld,
                        NULL, ANNC_ACT_LINEAR, 0.0f, L->in, out, w->ws);
        add_reg_grad_rows(dW, ld, W, out, nr, n, L->kernel_l1, L->kernel_l2);
        if (!w->fused) continue;
        if (w->net->clipvalue > 0.0f) clip_rows(dW, ld, nr, n, w->net->clipvalue);
        update_block(w, W, out, dW, ld, nr, n);
    }
}

static void run_pending(worker *w) {
    pending_update p = w->pending;
    w->pending.layer = -1;
    annc_layer *L = &w->net->layers[p.layer];
    kernel_gradient(w, L, p.in, p.ld_in, p.g, own_span(L->out, out_split(w->net, p.layer, w->rows, w->nt), w));
}

static void flush_pending(worker *w) {
    if (w->pending.layer >= 0) barrier(w); /* runs it */
}

/* db[s] = column sums of g[:, s] (+ regularisation); fused: the update of b[s] too. */
static void bias_gradient(const worker *w, annc_layer *L, const float *g, span s) {
    const ptrdiff_t n = s.hi - s.lo, out = L->out;
    if (n <= 0) return;
    float *db = L->db + s.lo;
    memset(db, 0, sizeof(float) * (size_t)n);
    for (ptrdiff_t r = 0; r < w->rows; r++) {
        const float *gr = g + r * out + s.lo;
        for (ptrdiff_t j = 0; j < n; j++) db[j] += gr[j];
    }
    add_reg_grad_rows(db, n, L->b + s.lo, n, 1, n, L->bias_l1, L->bias_l2);
    if (!w->fused) return;
    if (w->net->clipvalue > 0.0f) clip_rows(db, n, 1, n, w->net->clipvalue);
    update_block(w, L->b + s.lo, n, db, n, 1, n);
}

/* g[:, s] = d/d(input) of an activation, in place, row by row over the span. */
static void act_backward_columns(int act, float param, float *g, const float *x,
                                 ptrdiff_t ldx, const float *y, ptrdiff_t width, ptrdiff_t rows,
                                 span s) {
    if (s.hi <= s.lo) return;
    if (s.lo == 0 && s.hi == width && (ldx == width || x == NULL)) {
        annc_act_backward(act, param, g, g, x, y, rows * width);
        return;
    }
    for (ptrdiff_t r = 0; r < rows; r++)
        annc_act_backward(act, param, g + r * width + s.lo, g + r * width + s.lo,
                          x ? x + r * ldx + s.lo : NULL, y + r * width + s.lo, s.hi - s.lo);
}

/* g holds d(loss)/d(output of the last layer), written by thread 0. Forms every gradient and
 * updates the kernels and biases (fused), or leaves them in the slab (norm clipping). */
static void train_backward(worker *w) {
    annc_net *net = w->net;
    const ptrdiff_t rows = w->rows;
    float *g = net->gbuf0, *other = net->gbuf1;
    written state = wrote(w, 0);
    int first = net->nlayers; /* no gradient flows below the first layer with parameters */
    for (int l = 0; l < net->nlayers; l++)
        if (net->layers[l].kind == ANNC_LAYER_DENSE && net->layers[l].trainable) {
            first = l;
            break;
        }
    for (int l = net->nlayers - 1; l >= first; l--) {
        annc_layer *L = &net->layers[l];
        const int last = l == net->nlayers - 1;
        const float *in = l == 0 ? w->x : net->layers[l - 1].y;
        const ptrdiff_t ld_in = l == 0 ? net->in_features : L->in;
        const int split = out_split(net, l, rows, w->nt);
        const span s = own_span(L->out, split, w);
        switch (L->kind) {
        case ANNC_LAYER_DENSE: {
            require(w, state, split ? READ_OWN_SPLIT : READ_OWN_THREAD0);
            if (L->activity_l1 != 0.0f || L->activity_l2 != 0.0f)
                add_reg_grad_rows(g + s.lo, L->out, L->y + s.lo, L->out, rows, s.hi - s.lo,
                                  L->activity_l1, L->activity_l2);
            if (!(last && net->fused)) {
                if (L->act == ANNC_ACT_SOFTMAX) {
                    if (w->tid == 0) annc_softmax_backward(g, g, L->y, rows, L->out);
                } else if (L->act != ANNC_ACT_LINEAR) {
                    act_backward_columns(L->act, L->act_param, g, L->z, L->out, L->y, L->out,
                                         rows, s);
                }
            }
            state = wrote(w, split);
            if (L->trainable && L->b) bias_gradient(w, L, g, s);
            const int need_dx = l > first;
            int dx_split = 0;
            if (need_dx) {
                /* the gradient below, from W as the forward pass used it: split like the
                 * layer below's output when this layer is split, else thread 0's */
                dx_split = split && out_split(net, l - 1, rows, w->nt);
                flush_pending(w); /* its gradient lives in `other` */
                require(w, state, dx_split ? READ_ALL_BY_EVERYONE : READ_ALL_BY_THREAD0);
                const span d = own_span(L->in, dx_split, w);
                if (d.hi > d.lo)
                    annc_sgemm_part(0, 1, rows, d.hi - d.lo, L->out, 1.0f, g, L->out,
                                    L->W + d.lo * L->out, L->out, 0.0f, other + d.lo, L->in,
                                    NULL, ANNC_ACT_LINEAR, 0.0f, rows, L->in, w->ws);
            }
            if (L->trainable) {
                /* another thread may still read W for its part of the gradient below */
                const int conflict = w->fused && need_dx && (split || dx_split) && w->nt > 1;
                if (conflict) {
                    pending_update p = {l, in, ld_in, g};
                    w->pending = p;
                } else {
                    kernel_gradient(w, L, in, ld_in, g, s);
                }
            }
            if (need_dx) {
                float *t = g;
                g = other;
                other = t;
                state = wrote(w, dx_split);
            }
            break;
        }
        case ANNC_LAYER_ACTIVATION:
            if (last && net->fused) break; /* the loss already differentiated through it */
            if (L->act == ANNC_ACT_SOFTMAX) {
                require(w, state, READ_ALL_BY_THREAD0);
                if (w->tid == 0) annc_softmax_backward(g, g, L->y, rows, L->out);
            } else {
                require(w, state, split ? READ_OWN_SPLIT : READ_OWN_THREAD0);
                /* the input is the previous layer's output, still intact: no copy kept */
                act_backward_columns(L->act, L->act_param, g, in, ld_in, L->y, L->out, rows, s);
            }
            state = wrote(w, split);
            break;
        case ANNC_LAYER_DROPOUT:
            require(w, state, split ? READ_OWN_SPLIT : READ_OWN_THREAD0);
            if (L->rate > 0.0f)
                for (ptrdiff_t r = 0; r < rows; r++)
                    for (ptrdiff_t j = s.lo; j < s.hi; j++)
                        g[r * L->out + j] *= L->mask[r * L->out + j];
            state = wrote(w, split);
            break;
        }
    }
    flush_pending(w);
}

/* After an unfused backward (norm clipping): thread 0 clips, then every thread updates what it
 * owns. */
static void clipped_update(worker *w) {
    annc_net *net = w->net;
    barrier(w);
    if (w->tid == 0) annc_eng_clip_gradients(net);
    barrier(w);
    for (int l = 0; l < net->nlayers; l++) {
        annc_layer *L = &net->layers[l];
        if (L->kind != ANNC_LAYER_DENSE || !L->trainable) continue;
        const span s = own_span(L->out, out_split(net, l, w->rows, w->nt), w);
        if (s.hi <= s.lo) continue;
        update_block(w, L->W + s.lo, L->out, L->dW + s.lo, L->out, L->in, s.hi - s.lo);
        if (L->b) update_block(w, L->b + s.lo, 0, L->db + s.lo, 0, 1, s.hi - s.lo);
    }
}

/* ---------------------------------------------------------------- the chunk */

typedef struct {
    annc_net *net;
    annc_optimizer *opt;
    const float *x;
    ptrdiff_t ldx;
    const void *targets;
    ptrdiff_t target_cols;
    const int64_t *perm;
    ptrdiff_t n, batch, first_step, nsteps;
    const float *lrs;
    uint64_t key, counter;
    const int *metrics;
    int nmetrics;
    double *sums;
    int status;
    ptrdiff_t seen;
} chunk;

static ptrdiff_t step_rows(const chunk *c, ptrdiff_t s) {
    const ptrdiff_t start = (c->first_step + s) * c->batch;
    return start >= c->n ? 0 : ANNC_MIN(c->batch, c->n - start);
}

static const int64_t *step_idx(const chunk *c, ptrdiff_t s) {
    return c->perm + (c->first_step + s) * c->batch;
}

/* Thread 0, between forward and backward: loss, its gradient into gbuf0, and the sums. */
static int loss_section(worker *w, chunk *c, const float *pred) {
    annc_net *net = w->net;
    const ptrdiff_t rows = w->rows;
    const double penalty = annc_eng_regularisation_penalty(net);
    int st = annc_eng_loss_rows(net, &c->sums[0], pred, net->tbuf, rows, net->gbuf0,
                                1.0f / (float)rows);
    if (st != ANNC_OK) return st;
    c->sums[0] += (double)rows * penalty;
    annc_eng_activity_penalties(net, rows, 0, rows, rows, &c->sums[0]);
    annc_eng_add_metrics(net, pred, net->fused, net->tbuf, c->target_cols, rows, c->metrics,
                         c->nmetrics, c->sums, net->gbuf1);
    return ANNC_OK;
}

static void run_chunk(chunk *c, int tid, int nt) {
    annc_net *net = c->net;
    worker w;
    memset(&w, 0, sizeof w);
    w.net = net;
    w.opt = *c->opt;
    w.tid = tid;
    w.nt = nt;
    w.ws = net->ws + (size_t)tid * annc_eng_train_ws_per_thread(net, net->rows);
    w.fused = !(net->clipnorm > 0.0f || net->global_clipnorm > 0.0f);
    w.pending.layer = -1;
    const size_t half = (size_t)net->rows * (size_t)net->in_features;

    ptrdiff_t rows = step_rows(c, 0);
    if (rows > 0) {
        gather_share(&w, net->xbuf, c->x, c->ldx, c->targets, c->target_cols, step_idx(c, 0), rows);
    }
    barrier(&w);
    for (ptrdiff_t s = 0; s < c->nsteps && rows > 0; s++) {
        w.rows = rows;
        w.x = net->xbuf + (size_t)(s & 1) * half;
        w.opt.learning_rate = c->lrs ? c->lrs[s] : c->opt->learning_rate;
        annc_opt_prepare(&w.opt);
        const uint64_t counter = c->counter + ((uint64_t)(c->first_step + s) << 40);
        const ptrdiff_t next = step_rows(c, s + 1);
        prefetch_plan(&w, c->x, c->ldx, next > 0 ? step_idx(c, s + 1) : NULL, next);
        prefetch_upto(&w, 1, 4);

        written state = {BY_THREAD0, -1};
        const float *pred = train_forward(&w, &state, c->key, counter);
        require(&w, state, READ_ALL_BY_THREAD0);
        if (tid == 0) {
            const int st = pred ? loss_section(&w, c, pred) : ANNC_ERR_ARG;
            if (st != ANNC_OK && c->status == ANNC_OK) c->status = st;
        }
        train_backward(&w);
        if (!w.fused) clipped_update(&w);
        w.opt.iterations += 1;

        /* the next step's rows into the other buffer */
        if (next > 0) {
            gather_share(&w, net->xbuf + (size_t)((s + 1) & 1) * half, c->x, c->ldx, c->targets,
                         c->target_cols, step_idx(c, s + 1), next);
        }
        if (tid == 0) c->seen += rows;
        barrier(&w);
        /* every thread sees the same status after the barrier */
        if (c->status != ANNC_OK) break;
        rows = next;
    }
    if (tid == 0) *c->opt = w.opt;
}

size_t annc_eng_train_ws_per_thread(const annc_net *net, ptrdiff_t rows) {
    size_t need = 0;
    for (int l = 0; l < net->nlayers; l++) {
        const annc_layer *L = &net->layers[l];
        if (L->kind != ANNC_LAYER_DENSE) continue;
        need = ANNC_MAX(need, annc_sgemm_part_workspace_floats(rows, L->out, L->in, rows, L->out));
        need = ANNC_MAX(need, annc_sgemm_part_workspace_floats(rows, L->in, L->out, rows, L->in));
        const size_t block = annc_sgemm_part_workspace_floats(DW_BLOCK_ROWS, L->out, rows, L->in,
                                                              L->out) +
                             16 + (size_t)DW_BLOCK_ROWS * (size_t)L->out;
        need = ANNC_MAX(need, block);
    }
    return (need + 15) / 16 * 16;
}

int annc_train_steps(annc_net *net, annc_optimizer *opt, const float *x, ptrdiff_t ldx,
                     const void *targets, ptrdiff_t target_cols, const int64_t *perm, ptrdiff_t n,
                     ptrdiff_t batch, ptrdiff_t first_step, ptrdiff_t nsteps, const float *lrs,
                     uint64_t key, uint64_t counter, const int *metrics, int nmetrics,
                     double *sums, ptrdiff_t *seen) {
    if (!net || !opt || !perm || !sums || batch < 1 || first_step < 0 || nsteps < 0)
        return ANNC_ERR_ARG;
    const int st = annc_eng_check_net(net, ANNC_MIN(batch, n));
    if (st != ANNC_OK) return st;
    chunk c = {net, opt, x, ldx, targets, target_cols, perm, n, batch, first_step, nsteps, lrs,
               key, counter, metrics, nmetrics, sums, ANNC_OK, 0};
    const int nt = chunk_threads(net, ANNC_MIN(batch, n));
    if (nt <= 1) {
        run_chunk(&c, 0, 1);
    } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
        {
            /* the plan assumed nt threads: if the runtime gave fewer, run on one */
            if (omp_get_num_threads() == nt) {
                run_chunk(&c, omp_get_thread_num(), nt);
            } else if (omp_get_thread_num() == 0) {
                run_chunk(&c, 0, 1);
            }
        }
#else
        run_chunk(&c, 0, 1);
#endif
    }
    if (seen) *seen = c.seen;
    return c.status;
}
