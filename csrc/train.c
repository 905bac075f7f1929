/* Training steps of the executor: one call runs a chunk of an epoch's steps.
 *
 * How the threads share a step. Every thread runs the same step program (SPMD) inside one
 * parallel region per chunk. A wide Dense layer's kernel W (in x out, row-major) is cut into
 * K blocks of rows, fixed by its shape alone (about 80 rows, starting on whole cache lines),
 * and each thread owns a contiguous run of blocks for the whole chunk. The owner computes
 * its blocks' share of the forward product (a partial sum over those rows of W, from those
 * columns of the layer's input), their share of the input gradient (those columns of dX),
 * their weight gradient and their update with its optimizer slots. So a thread reads and
 * writes mostly its own lines of W and of the slots, which stay in its core's L2, and it
 * reads mostly its columns of the layer input (the first layer's last blocks may change hands
 * in the fused update: see block claims).
 *
 * The partial sums are added (a barrier first) with the bias and the activation in a fixed
 * order: each half of the blocks in block order, then the two halves, then the bias. A thread
 * adds its blocks of a half onto the half's first plane as it forms them when it owns the
 * half's first block, so on two threads each thread leaves one plane (Program 2: the tail
 * reads 2 planes per row instead of 10, half of them from the other core). They are added by
 * whoever owns those output columns next: the owners of the next layer's blocks, or thread 0
 * when a narrow layer (or the loss) follows. After the last split layer
 * (Program 2: the only one) the step's tail runs by batch rows instead (tail_start): each
 * thread adds the partial sums of its rows, takes them through the narrow layers and the loss
 * and back to the split layer's activation; thread 0 forms what needs every row (the narrow
 * layers' kernel and bias gradients, the split layer's bias gradient) after the barrier that
 * precedes the split layer's weight gradient, and the last thread adds the loss, penalties
 * and metrics in row order. Without that, narrow layers and the loss run on thread 0 alone.
 * The first layer's partial products for the next step are formed right after each block of
 * W is updated, while it is in cache; in that update a thread done with its own run takes
 * over the last blocks of another's (see block claims), and the tail's rows are shared by how
 * fast each thread has been taking them (see tail rows). A barrier is taken only where data
 * crosses threads: Program 2 takes two per step.
 *
 * Determinism: a layer's K blocks and halves depend on its shape, never on the thread count,
 * and one thread computes the same sums in the same order (two K-blocked products, one per
 * half, see halves_product: annc_sgemm_kc's K blocking adds block sums exactly as the planes
 * are added). Element-wise kernels treat every element alike, a row's products come out the
 * same whichever rows share the call, and reductions over the batch run per column in row
 * order, so weights after a chunk are bit-identical for any thread count.
 *
 * The batch is gathered from the shuffled rows of x into a buffer. When the next step's first
 * products are formed ahead, each thread copies just its blocks' columns of the next rows,
 * block by block before their products, over the current rows' columns that the block's
 * weight gradient has just read for the last time, having asked for them from memory one
 * block earlier. Otherwise the rows are copied right after the forward pass into the other of
 * two buffers, having been asked for a few at a time during the step before: by the threads
 * other than 0 while thread 0 runs the loss, or by all when the tail runs by rows.
 */
#include <math.h>
#include <string.h>

#include "annc.h"
#include "internal.h"
/* the chunk's own barrier needs GCC's atomics and sched_yield */
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__unix__) || defined(__APPLE__))
#define SPIN_BARRIER 1
#include <sched.h>
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

/* K blocks: about this many rows of W, each starting on a whole 64-byte line of a
 * 64-byte-aligned kernel (see block_rows). With the plane sums by halves, 80 measured faster
 * than 64 (1%), 112 and 160 (8-9%: Program 2's 7 and 5 blocks split unevenly between two
 * threads) and 196 (8%: 2 + 2 blocks, but each block's kernel and slots no longer near L1). */
#define BLOCK_TARGET 80
/* A layer is split only when each thread gets at least this many FMAs of its forward product.
 * Lower than the GEMM's own threshold: a chunk of steps pays for its parallel region once, and
 * a split step costs two barriers, not a region per product. Measured on 2 cores (whole fit
 * epochs of Dense(units, softmax) on Fashion-MNIST pixels, batch 32, 1 thread -> 2): 784x10
 * (Program 1, 251K FMAs a step) 0.104 -> 0.069 s, 392x20 0.068 -> 0.052, 392x10 (125K)
 * 0.047 -> 0.039, 784x4 0.071 -> 0.057, 196x10 (63K) 0.030 -> 0.026. The smallest of those
 * stay on one thread: their steps of 15-20 us gain a fifth at best, and when another process
 * holds a core every barrier can cost a wake-up of tens of microseconds. */
#define SPLIT_MIN_FMA (64.0 * 1024.0)
/* Rows of W per block of the fused weight-gradient + update pass: one block of dW stays in
 * L1/L2 between the product that forms it and the update that consumes it. */
#define DW_BLOCK_ROWS 128

typedef struct {
    ptrdiff_t lo, hi;
} span;

/* Who wrote a tensor, and when (in barriers), to decide whether a reader must wait. A tensor's
 * columns are either all thread 0's (PART_THREAD0) or cut among the threads like the K blocks
 * of layer `by` (the columns are that layer's input features). */
#define PART_THREAD0 (-1)
/* ... or its rows are cut among the threads (tail_rows), each thread all columns of its own */
#define PART_ROWS (-2)
typedef struct {
    int by;
    long at;   /* the worker's barrier count when it was written */
} written;

/* How a consumer reads a tensor: all of it on every thread, all of it on thread 0, or each
 * thread its own columns of partition `part`. */
enum { READ_ALL_BY_EVERYONE, READ_ALL_BY_THREAD0, READ_OWN };

struct spin_barrier;

/* One thread's view of the chunk. */
typedef struct {
    annc_net *net;
    annc_optimizer opt;    /* a private copy, prepared for the current step */
    int tid, nt;
    float *ws;             /* this thread's workspace */
    /* shared: per-block partial products of split layers, two areas used in turn, since a
     * thread may start the next split layer's products while others still add this one's */
    float *partials[2];
    ptrdiff_t rows;        /* rows of the current step */
    /* the first layer of the step's tail, which runs by batch rows (see tail_start), else
     * nlayers; `mine` this thread's rows of it */
    int tail;
    span mine;
    double penalty;        /* the weight penalty, taken before any update (tail by rows) */
    const float *x;        /* the current step's gathered batch */
    long barriers;
    int head;              /* this step's tail goes through the fused head (fused_head) */
    /* the chunk's barrier (NULL: OpenMP's) and this thread's sense of its current pass */
    struct spin_barrier *bar;
    unsigned bar_sense;
    int fused;             /* update each kernel as its gradient is formed (no norm clipping) */
    /* the first layer's partial products for the next step, formed right after each block of
     * W is updated (NULL: not this step); `ready`: this step's were formed that way */
    const float *next_x;
    ptrdiff_t next_rows;
    int ready;
    /* where next_x's rows come from: this thread gathers its blocks' columns of them */
    const float *next_src;
    ptrdiff_t next_ldx;
    const int64_t *next_idx;
    /* the columns of the next rows being asked for, and how far: row, line in it, lines done */
    span pf_cols;
    ptrdiff_t pf_row, pf_off, pf_done;
    /* the rows whose columns pf_cols the cursor walks (a closing barrier's wait may start
     * on the next step's first block before the step begins) */
    const int64_t *pf_for;
    /* the rows this thread gathers next, asked from memory a few at a time during the step */
    const float *pf_x;
    ptrdiff_t pf_ldx;
    const int64_t *pf_idx;
    ptrdiff_t pf_lo, pf_next, pf_end;
    /* the output gradient of gcache_of as padded rows, which the zero-skipping weight
     * gradients of its blocks read (zeroskip.c: whole-vector loads, none across lines);
     * cleared every step and whenever another layer's gradient comes: the gradient buffers
     * alternate, so two layers of one step can have theirs at the same address */
    annc_pack_cache gcache;
    const annc_layer *gcache_of;
    /* the first layer's block claims (see take_block): two sets of nt slots used in turn by
     * the steps' fused updates (`phase` counts them), NULL: fixed blocks; `claimed` the set
     * whose final state says which blocks the partial sums of this step came from (NULL:
     * each thread's own); `sums_at` the barrier count when this step's sums were read */
    uint64_t *claims;
    const uint64_t *claimed;
    long phase, sums_at;
    /* the first layer's blocks' column masks of the rows they gathered for the next step
     * (block k's at col_masks + k * cm_stride; block_nnz[k] < 0: none), which its weight
     * gradient reads in that step (see next_cols_gather); NULL: none kept */
    uint32_t *col_masks;
    ptrdiff_t *block_nnz;
    ptrdiff_t cm_stride;
    /* the tail's row shares (see tail_rows; NULL: equal), and when this step's tail began */
    struct tail_slot *tails;
    double tail_began;
} worker;

/* ---------------------------------------------------------------- the plan */

/* Rows per block: a multiple of the rows that make whole 64-byte lines of W (out floats
 * each): 16 / gcd(out, 16). */
static ptrdiff_t block_rows(const annc_layer *L) {
    if (L->in <= BLOCK_TARGET) return ANNC_MAX(L->in, (ptrdiff_t)1);
    ptrdiff_t g = 16, o = L->out;
    while (o % 2 == 0 && g > 1) {
        o /= 2;
        g /= 2;
    }
    const ptrdiff_t align = g; /* 16 / gcd(out, 16) */
    const ptrdiff_t nb = (L->in + BLOCK_TARGET - 1) / BLOCK_TARGET;
    const ptrdiff_t r = (L->in + nb - 1) / nb;
    return (r + align - 1) / align * align;
}

static ptrdiff_t num_blocks(const annc_layer *L) {
    const ptrdiff_t br = block_rows(L);
    return (L->in + br - 1) / br;
}

/* Whether a Dense layer's forward product is summed over its fixed K blocks (whatever the
 * thread count: the rounding must not depend on it). */
static int blocked(const annc_layer *L, ptrdiff_t rows) {
    return L->kind == ANNC_LAYER_DENSE && num_blocks(L) >= 2 && rows > ANNC_ROWGEMM_MAX_ROWS;
}

/* Whether layer l's blocks are shared among nt threads (else thread 0 runs it). */
static int split_layer(const annc_net *net, int l, ptrdiff_t rows, int nt) {
    if (nt <= 1 || l < 0 || l >= net->nlayers) return 0;
    const annc_layer *L = &net->layers[l];
    return blocked(L, rows) && (double)rows * (double)L->in * (double)L->out >= SPLIT_MIN_FMA * nt;
}

/* The partition of layer l's output columns: the blocks of the next Dense layer when that one
 * is split and only element-wise layers (no softmax) lie between, else thread 0's. */
static int out_part(const annc_net *net, int l, ptrdiff_t rows, int nt) {
    const annc_layer *L = &net->layers[l];
    if (L->kind != ANNC_LAYER_DROPOUT && L->act == ANNC_ACT_SOFTMAX) return PART_THREAD0;
    for (int m = l + 1; m < net->nlayers; m++) {
        const annc_layer *M = &net->layers[m];
        if (M->kind == ANNC_LAYER_DENSE)
            return split_layer(net, m, rows, nt) ? m : PART_THREAD0;
        if (M->kind == ANNC_LAYER_ACTIVATION && M->act == ANNC_ACT_SOFTMAX) return PART_THREAD0;
    }
    return PART_THREAD0;
}

/* The last split layer at `rows` rows on nt threads, or -1. */
static int last_split(const annc_net *net, ptrdiff_t rows, int nt) {
    for (int l = net->nlayers - 1; l >= 0; l--)
        if (split_layer(net, l, rows, nt)) return l;
    return -1;
}

/* The first layer of the step's tail when the tail runs by batch rows, else nlayers.
 *
 * The tail is what follows the last split layer's partial products: their sums with its bias
 * and activation, the layers after it (narrow ones), the loss, and the backward pass down to
 * that layer's activation. All of it is per row but the gradients of kernels and biases and
 * the sums of loss and metrics, so each thread takes its share of the rows, and thread 0 forms
 * the rest after the barrier that comes before the split layer's weight gradient anyway. The
 * tail Dense layer's gradient must survive the backward pass until then: with two gradient
 * buffers, at most one Dense layer may follow, and the split layer must be the last the
 * gradient reaches (no input gradient below it). */
static int tail_start(const annc_net *net, ptrdiff_t rows, int nt) {
    const int ls = last_split(net, rows, nt);
    if (ls < 0 || !net->layers[ls].trainable) return net->nlayers;
    for (int l = 0; l < ls; l++)
        if (net->layers[l].kind == ANNC_LAYER_DENSE && net->layers[l].trainable)
            return net->nlayers;
    int dense = 0;
    for (int l = ls + 1; l < net->nlayers; l++) dense += net->layers[l].kind == ANNC_LAYER_DENSE;
    return dense <= 1 ? ls : net->nlayers;
}

/* Whether a tail by rows starting at layer `tail` goes through the fused head (head.c): its
 * split layer a ReLU Dense, and after it only the last layer, a Dense one of at most 16
 * outputs whose softmax is fused with a cross-entropy over class ids; no activity
 * regularisers (they would add to the gradients in between). */
static int fused_head(const annc_net *net, int tail, ptrdiff_t rows, ptrdiff_t target_cols) {
    if (tail + 2 != net->nlayers || !net->fused || net->loss != ANNC_LOSS_SPARSE_CCE ||
        target_cols != 0 || rows <= ANNC_ROWGEMM_MAX_ROWS || !annc_head_usable())
        return 0;
    const annc_layer *S = &net->layers[tail], *L = &net->layers[tail + 1];
    /* dense_rows forms such a layer's product in one K block, or in its two fixed blocks */
    return S->kind == ANNC_LAYER_DENSE && S->act == ANNC_ACT_RELU && S->activity_l1 == 0.0f &&
           S->activity_l2 == 0.0f && L->kind == ANNC_LAYER_DENSE && L->in == S->out &&
           L->in <= ANNC_HEAD_MAX_IN && L->out <= ANNC_NARROW_MAX_N && L->activity_l1 == 0.0f &&
           L->activity_l2 == 0.0f && num_blocks(L) <= 2;
}

/* Blocks [lo, hi) of nb that thread tid owns: the blocks that do not divide evenly go to the
 * last threads, since thread 0 also runs the narrow layers (their gradients, in a tail by
 * rows) and, without a tail by rows, the loss. */
static span thread_blocks(ptrdiff_t nb, int tid, int nt) {
    const ptrdiff_t base = nb / nt, extra = nb % nt, first_extra = nt - extra;
    span s;
    s.lo = tid * base + ANNC_MAX((ptrdiff_t)0, tid - first_extra);
    s.hi = s.lo + base + (tid >= first_extra ? 1 : 0);
    return s;
}

/* This thread's rows of layer l's kernel (= its columns of layer l's input). */
static span own_rows(const annc_net *net, int l, const worker *w) {
    const annc_layer *L = &net->layers[l];
    const ptrdiff_t br = block_rows(L);
    const span b = thread_blocks(num_blocks(L), w->tid, w->nt);
    span s = {ANNC_MIN(b.lo * br, L->in), ANNC_MIN(b.hi * br, L->in)};
    return s;
}

/* The rows of layer l's kernel this thread forms the gradient of and updates: its blocks when
 * the layer is split, else all of them on thread 0. */
static span updated_rows(const annc_net *net, int l, const worker *w) {
    if (split_layer(net, l, w->rows, w->nt)) return own_rows(net, l, w);
    span s = {0, w->tid == 0 ? net->layers[l].in : 0};
    return s;
}

/* This thread's columns of a tensor `width` wide in partition `part`. */
static span own_cols(const annc_net *net, int part, ptrdiff_t width, const worker *w) {
    if (part == PART_ROWS) {
        span s = {0, width};
        return s;
    }
    if (part == PART_THREAD0) {
        span s = {0, w->tid == 0 ? width : 0};
        return s;
    }
    return own_rows(net, part, w);
}

/* This thread's rows of a tensor in partition `part`: its share when cut by rows, all of them
 * on thread 0 (none elsewhere) for thread 0's, else all of them (its columns are cut). */
static span part_rows(const worker *w, int part) {
    if (part == PART_ROWS) return w->mine;
    span s = {0, part == PART_THREAD0 && w->tid != 0 ? 0 : w->rows};
    return s;
}

/* The partition of layer l's output in this step: by rows from the tail on. */
static int part_of(const worker *w, int l) {
    return l >= w->tail ? PART_ROWS : out_part(w->net, l, w->rows, w->nt);
}

/* Whether the first layer's products can be formed ahead, during the previous step's update
 * (see train_backward): it is updated (the backward pass reaches it), and its blocks are
 * shared by the threads, or summed in order by one. */
static int first_layer_ahead(const annc_net *net, ptrdiff_t rows, int nt) {
    const annc_layer *L = &net->layers[0];
    return L->kind == ANNC_LAYER_DENSE && L->trainable &&
           (nt > 1 ? split_layer(net, 0, rows, nt) : blocked(L, rows));
}

/* Threads needed for a chunk at `rows` rows: 1 when no layer is worth splitting. */
static int chunk_threads(const annc_net *net, ptrdiff_t rows) {
    const int nt = ANNC_MAX(net->nthreads, 1);
    for (int l = 0; l < net->nlayers; l++)
        if (split_layer(net, l, rows, nt)) return nt;
    return 1;
}

/* Floats of the shared partial-sum area: the largest split-able layer's blocks. */
static size_t partial_floats(const annc_net *net, ptrdiff_t rows) {
    size_t need = 0;
    for (int l = 0; l < net->nlayers; l++) {
        const annc_layer *L = &net->layers[l];
        if (blocked(L, rows))
            need = ANNC_MAX(need, (size_t)num_blocks(L) * (size_t)rows * (size_t)L->out);
    }
    return (need + 15) / 16 * 16;
}

/* Where halves_product keeps the second half's sum: after the product's own workspace. */
static float *halves_scratch(const worker *w, const annc_layer *L) {
    const size_t at = annc_sgemm_kc_workspace_floats(w->rows, L->out, block_rows(L));
    return (float *)(((uintptr_t)(w->ws + at) + 63) & ~(uintptr_t)63);
}

/* One training thread's workspace (also the metrics' scratch in a tail by rows, see
 * tail_sums). */
/* Floats of a thread's copy of an output gradient as padded rows (worker.gcache). */
static size_t gcache_floats(const annc_net *net, ptrdiff_t rows) {
    ptrdiff_t widest = 1;
    for (int l = 0; l < net->nlayers; l++)
        if (net->layers[l].kind == ANNC_LAYER_DENSE) widest = ANNC_MAX(widest, net->layers[l].out);
    return ((size_t)rows * (size_t)((widest + 7) / 8 * 8) + 15) / 16 * 16;
}

static size_t train_ws_per_thread(const annc_net *net, ptrdiff_t rows) {
    size_t need = (size_t)rows * (size_t)net->out_features;
    for (int l = 0; l < net->nlayers; l++) {
        const annc_layer *L = &net->layers[l];
        if (L->kind != ANNC_LAYER_DENSE) continue;
        /* forward: whole, by fixed blocks, or one block's partial product */
        need = ANNC_MAX(need, annc_sgemm_part_workspace_floats(rows, L->out, L->in, rows, L->out));
        need = ANNC_MAX(need, annc_sgemm_kc_workspace_floats(rows, L->out, block_rows(L)) + 16 +
                                  (size_t)rows * (size_t)L->out); /* + halves_scratch */
        /* input gradient */
        need = ANNC_MAX(need, annc_sgemm_part_workspace_floats(rows, L->in, L->out, rows, L->in));
        /* a block of the weight gradient, then the block itself */
        const size_t block = annc_sgemm_part_workspace_floats(DW_BLOCK_ROWS, L->out, rows, L->in,
                                                              L->out) +
                             16 + (size_t)DW_BLOCK_ROWS * (size_t)L->out;
        need = ANNC_MAX(need, block);
    }
    need = ANNC_MAX(need, (size_t)ANNC_HEAD_WS_FLOATS); /* the fused head's copies of W */
    return (need + 15) / 16 * 16 + gcache_floats(net, rows); /* gcache last */
}

size_t annc_eng_train_ws_floats(const annc_net *net, ptrdiff_t rows) {
    return 2 * partial_floats(net, rows) +
           (size_t)ANNC_MAX(net->nthreads, 1) * train_ws_per_thread(net, rows);
}

/* ---------------------------------------------------------------- synchronisation */

static ptrdiff_t next_cols_prefetch_lines(worker *w, ptrdiff_t most); /* see the gather */

#ifdef SPIN_BARRIER
/* A chunk's threads meet at its own barrier: a count of arrivals and a sense that the last
 * arrival flips, each alone on a cache line. libgomp's barrier costs 0.8-1k cycles a pass
 * when the threads arrive together, since its last arrival wakes the others through a futex
 * call whether or not any sleeps; this one 0.2-0.3k. After a while spinning a waiting thread
 * yields its core on every turn, so that threads sharing a core (more threads than cores)
 * still make progress. */
#define BARRIER_SPINS 4000 /* pauses of about 70 cycles: 0.1 ms, ten times a step's waits */
struct spin_barrier {
    _Alignas(64) unsigned arrived;
    _Alignas(64) unsigned sense;
};

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* With `w`, the waiting thread asks for the lines its next-columns cursor has left (set up
 * before a step's closing barrier, see run_chunk), eight at a time between looks at the
 * sense: a thread that arrives first spends its wait on memory traffic its next tail would
 * otherwise stall on. */
static void spin_barrier_wait(struct spin_barrier *b, unsigned *local_sense, int nt,
                              worker *w) {
    const unsigned s = *local_sense ^= 1u;
    if (__atomic_add_fetch(&b->arrived, 1u, __ATOMIC_ACQ_REL) == (unsigned)nt) {
        /* nobody arrives at the next pass before seeing the flip, which this store precedes */
        __atomic_store_n(&b->arrived, 0u, __ATOMIC_RELAXED);
        __atomic_store_n(&b->sense, s, __ATOMIC_RELEASE);
        return;
    }
    ptrdiff_t left = w ? 1 : 0;
    for (long spins = 0; __atomic_load_n(&b->sense, __ATOMIC_ACQUIRE) != s; spins++) {
        if (left > 0)
            left = next_cols_prefetch_lines(w, 8);
        else if (spins < BARRIER_SPINS)
            cpu_relax();
        else
            sched_yield();
    }
}
#endif

static void barrier_working(worker *w, int work) {
    if (w->nt > 1) {
#ifdef SPIN_BARRIER
        if (w->bar) {
            spin_barrier_wait(w->bar, &w->bar_sense, w->nt, work ? w : NULL);
        } else
#endif
        {
#ifdef _OPENMP
#pragma omp barrier
#endif
        }
    }
    w->barriers++;
}

static void barrier(worker *w) { barrier_working(w, 0); }

/* Wait, if need be, until a tensor written as `t` may be read as `how` (partition `part` for
 * READ_OWN). */
static void require(worker *w, written t, int how, int part) {
    if (w->nt <= 1 || t.at < w->barriers) return; /* a barrier since the write: all see it */
    int ok;
    switch (how) {
    case READ_ALL_BY_THREAD0:
        ok = t.by == PART_THREAD0;
        break;
    case READ_OWN:
        ok = t.by == part;
        break;
    default:
        ok = 0;
    }
    if (!ok) barrier(w);
}

static written wrote(const worker *w, int part) {
    written t = {part, w->barriers};
    return t;
}

/* ---------------------------------------------------------------- block claims */

/* In the fused update of the first layer (train_backward) a thread takes the blocks of its own
 * run from the front, in order, and once they are gone the last unclaimed block of another
 * thread's run. A core that runs slower for a while (another guest on its physical core, an
 * interrupt) then hands its last blocks to the others instead of holding them at the closing
 * barrier, and blocks change hands only at the end of a run, so the rest stay in their
 * owner's L2. The sums do not depend on who formed a block (see target_plane): the weights
 * are the same bits whichever thread takes which. A run's [lo, hi) is one 64-bit word (lo in
 * the low half), alone on its cache line; when the step ends lo == hi marks where the owner's
 * blocks stopped. */
enum { CLAIM_STRIDE = 8 }; /* uint64_t per slot: a 64-byte line */
#define CLAIM_OFF 0        /* fixed blocks, as without claims */
#define CLAIM_ON 1         /* the default */
#define CLAIM_OTHERS_FIRST 2 /* tests: every thread takes from the others before its own */
static int g_claim_mode = CLAIM_ON;
static annc_counter g_blocks_taken_over;

void annc_set_block_sharing(int mode) { g_claim_mode = mode; }
long long annc_blocks_taken_over(void) { return annc_count_read(&g_blocks_taken_over); }

static uint64_t claim_range(span b) { return (uint64_t)b.lo | ((uint64_t)b.hi << 32); }

/* The slot of thread t's run in claim set `set`. */
static uint64_t *claim_slot(uint64_t *claims, int nt, long set, int t) {
    return claims + ((size_t)(set & 1) * (size_t)nt + (size_t)t) * CLAIM_STRIDE;
}

/* A block from the front (the owner) or the back (another thread) of the run in *slot, or -1
 * when none is left. */
static ptrdiff_t take_block(uint64_t *slot, int from_back) {
    ptrdiff_t k = -1;
#if defined(__GNUC__) || defined(__clang__)
    uint64_t v = __atomic_load_n(slot, __ATOMIC_RELAXED);
    for (;;) {
        const uint64_t lo = v & 0xffffffffu, hi = v >> 32;
        if (lo >= hi) break;
        const uint64_t nv = from_back ? lo | ((hi - 1) << 32) : v + 1;
        if (__atomic_compare_exchange_n(slot, &v, nv, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            k = (ptrdiff_t)(from_back ? hi - 1 : lo);
            break;
        }
    }
#else
#ifdef _OPENMP
#pragma omp critical(annc_block_claims)
#endif
    {
        const uint64_t v = *slot, lo = v & 0xffffffffu, hi = v >> 32;
        if (lo < hi) {
            *slot = from_back ? lo | ((hi - 1) << 32) : v + 1;
            k = (ptrdiff_t)(from_back ? hi - 1 : lo);
        }
    }
#endif
    return k;
}

/* Before a fused update's first claim: a barrier since this step's sums read the previous
 * claim set, if none came (on every thread alike); then this thread's slot of the set after
 * this one is its whole run again, for the next update (a closing barrier away). */
static void begin_claims(worker *w, span b) {
    if (!w->claims) return;
    if (w->sums_at == w->barriers) barrier(w);
    uint64_t *next = claim_slot(w->claims, w->nt, w->phase + 1, w->tid);
#if defined(__GNUC__) || defined(__clang__)
    __atomic_store_n(next, claim_range(b), __ATOMIC_RELAXED);
#else
    *next = claim_range(b);
#endif
}

/* After it: the set the next step's sums read. */
static void end_claims(worker *w) {
    if (!w->claims) return;
    w->claimed = claim_slot(w->claims, w->nt, w->phase, 0);
    w->phase++;
}

/* The next block this thread forms in the current fused update, or -1: its own run's next,
 * else another run's last (*taken set); tests can ask for the others' first. */
static ptrdiff_t claim_block(const worker *w, int *taken) {
    const int others_first = g_claim_mode == CLAIM_OTHERS_FIRST;
    for (int pass = 0; pass < 2; pass++) {
        if ((pass == 0) != others_first) {
            const ptrdiff_t k = take_block(claim_slot(w->claims, w->nt, w->phase, w->tid), 0);
            if (k >= 0) {
                *taken = 0;
                return k;
            }
            continue;
        }
        for (int d = 1; d < w->nt; d++) {
            const int t = (w->tid + d) % w->nt;
            const ptrdiff_t k = take_block(claim_slot(w->claims, w->nt, w->phase, t), 1);
            if (k >= 0) {
                annc_count_add(&g_blocks_taken_over);
                *taken = 1;
                return k;
            }
        }
    }
    return -1;
}

/* The block after `prev` this thread forms (-1: none left; prev = b.lo - 1 for the first):
 * claimed, or with fixed blocks the next of its own run b. */
static ptrdiff_t next_block(const worker *w, span b, ptrdiff_t prev, int *taken) {
    *taken = 0;
    if (!w->claims) return prev + 1 < b.hi ? prev + 1 : -1;
    return claim_block(w, taken);
}

/* ---------------------------------------------------------------- tail rows */

/* Thread tid's equal share of `rows` rows out of nt. */
static span equal_share(ptrdiff_t rows, int tid, int nt) {
    span s = {rows * tid / nt, rows * (tid + 1) / nt};
    return s;
}

/* The tail's rows (tail_start) are shared in proportion to how fast each thread has been
 * taking them lately: its rows over its time from the step's start to the barrier that ends
 * the tail. A core that runs slower for a while, or reads more of its rows' planes from the
 * other core, then gets fewer rows instead of holding the others at that barrier. Every row is
 * computed alike whichever thread takes it (see the header), so the shares never show in the
 * results. One slot per thread on its own line: the thread writes its time and rows before
 * that barrier, thread 0 the new rates after it, all read the rates when the next step
 * starts. */
struct tail_slot {
    double rate; /* rows per second, smoothed; 0: not yet measured */
    double busy;
    ptrdiff_t rows;
    char pad[64 - 2 * sizeof(double) - sizeof(ptrdiff_t)];
};

static double now_seconds(void) {
#ifdef _OPENMP
    return omp_get_wtime();
#else
    return 0.0;
#endif
}

/* This thread's rows of a step's `rows` in the tail. */
static span tail_rows(const worker *w, ptrdiff_t rows) {
    const struct tail_slot *ts = w->tails;
    int known = ts != NULL;
    for (int t = 0; known && t < w->nt; t++) known = ts[t].rate > 0.0;
    if (!known) return equal_share(rows, w->tid, w->nt);
    /* the same sums in the same order on every thread, so the bounds meet */
    double total = 0.0, before = 0.0;
    for (int t = 0; t < w->nt; t++) {
        if (t == w->tid) before = total;
        total += ts[t].rate;
    }
    const double after = w->tid == w->nt - 1 ? total : before + ts[w->tid].rate;
    span s = {(ptrdiff_t)((double)rows * (before / total) + 0.5),
              (ptrdiff_t)((double)rows * (after / total) + 0.5)};
    return s;
}

/* Before the barrier that ends the tail. */
static void tail_done(worker *w) {
    if (!w->tails) return;
    w->tails[w->tid].busy = now_seconds() - w->tail_began;
    w->tails[w->tid].rows = w->mine.hi - w->mine.lo;
}

/* Thread 0, after it: each rate moves an eighth of the way to the step's, kept within 4x of
 * the fastest so that no thread's share vanishes on one bad step. */
static void tail_rebalance(worker *w) {
    struct tail_slot *ts = w->tails;
    if (!ts || w->tid != 0) return;
    if (g_claim_mode == CLAIM_OTHERS_FIRST) { /* tests: uneven shares, 1 : 3 : 1 : 3 ... */
        for (int t = 0; t < w->nt; t++) ts[t].rate = t % 2 ? 3.0 : 1.0;
        return;
    }
    double top = 0.0;
    for (int t = 0; t < w->nt; t++) {
        if (ts[t].rows <= 0 || !(ts[t].busy > 0.0)) return; /* no rows or no clock: as is */
        const double r = (double)ts[t].rows / ts[t].busy;
        ts[t].rate = ts[t].rate > 0.0 ? ts[t].rate + 0.125 * (r - ts[t].rate) : r;
        if (ts[t].rate > top) top = ts[t].rate;
    }
    for (int t = 0; t < w->nt; t++)
        if (ts[t].rate < 0.25 * top) ts[t].rate = 0.25 * top;
}

/* ---------------------------------------------------------------- gather */

/* The rows of a step's `rows` that a thread gathers: an equal share when the tail runs by
 * rows, else, with several threads, none on thread 0: the others copy the next batch while
 * thread 0 alone runs the loss and the narrow layers. */
static span gather_rows(const worker *w, ptrdiff_t rows) {
    if (w->nt <= 1 || w->tail < w->net->nlayers) return equal_share(rows, w->tid, w->nt);
    return w->tid == 0 ? equal_share(0, 0, 1) : equal_share(rows, w->tid - 1, w->nt - 1);
}

/* Columns cols of rows r of the batch idx (rows of x) into the same places of buf. */
static void gather_block(const annc_net *net, float *buf, const float *x, ptrdiff_t ldx,
                         const int64_t *idx, span r, span cols) {
    const ptrdiff_t nin = net->in_features;
    for (ptrdiff_t i = r.lo; i < r.hi; i++)
        memcpy(buf + i * nin + cols.lo, x + idx[i] * ldx + cols.lo,
               sizeof(float) * (size_t)(cols.hi - cols.lo));
}

/* Rows r of the batch idx, every column. */
static void gather_span(const annc_net *net, float *buf, const float *x, ptrdiff_t ldx,
                        const int64_t *idx, span r) {
    const span all = {0, net->in_features};
    gather_block(net, buf, x, ldx, idx, r, all);
}

/* The targets of rows idx[0:rows] (by the thread that adds the sums, after every loss and its
 * own metrics have read the previous ones). */
static void gather_targets(const annc_net *net, const void *targets, ptrdiff_t target_cols,
                           const int64_t *idx, ptrdiff_t rows) {
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

/* The rows a thread gathers come from DRAM (x is large and shuffled). Asking for them all at
 * once stalls the core on its miss buffers for as long as the copy itself would; asked a few
 * at a time between the compute phases of the step before, the misses overlap with
 * arithmetic and the gather then copies from cache. */
static void prefetch_plan(worker *w, const float *x, ptrdiff_t ldx, const int64_t *idx,
                          ptrdiff_t rows) {
    w->pf_x = x;
    w->pf_ldx = ldx;
    w->pf_idx = idx;
    const span r = gather_rows(w, idx ? rows : 0);
    w->pf_lo = w->pf_next = r.lo;
    w->pf_end = r.hi;
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

/* Columns s of the next step's rows (next_src rows next_idx) asked from memory, or copied into
 * next_x. When the first layer's next products are formed ahead, each thread gathers exactly
 * its blocks' columns, block by block just before their product, having asked for them one
 * block earlier: no other thread reads them before the closing barrier, and the copy, off the
 * tail, reads from cache. */
static void next_cols_prefetch_start(worker *w, span s) {
    w->pf_cols = s;
    w->pf_for = w->next_idx;
    w->pf_row = w->pf_off = w->pf_done = 0;
}

/* The line slots of one next row's run of pf_cols (its lines, and one more for a run that
 * does not start on a line); 0 when there is nothing to ask for. */
static ptrdiff_t next_cols_slots(const worker *w) {
    const span s = w->pf_cols;
    if (s.hi <= s.lo || !w->next_idx) return 0;
    return ((s.hi - s.lo) * (ptrdiff_t)sizeof(float) + 63) / 64 + 1;
}

/* A 1/den share of the lines of pf_cols of the next rows (each row's run: the lines from its
 * first byte's to its last byte's, at most per_row of them). A burst of hundreds of
 * prefetches overflows the core's miss queue and most are dropped, so they go a few dozen at a
 * time between the block's phases. The cursor stays in locals while they go: kept in the
 * worker, whose fields may alias the row indices, it was stored and reloaded every line. */
static void next_cols_prefetch_part(worker *w, int den) {
    const ptrdiff_t total = next_cols_slots(w) * w->next_rows;
    if (total > 0) next_cols_prefetch_lines(w, (total + den - 1) / den);
}

/* At most `most` more of those lines; returns how many are left. */
static ptrdiff_t next_cols_prefetch_lines(worker *w, ptrdiff_t most) {
    const span s = w->pf_cols;
    const ptrdiff_t per_row = next_cols_slots(w), end = 64 * per_row;
    if (per_row == 0) return 0;
    const ptrdiff_t bytes = (s.hi - s.lo) * (ptrdiff_t)sizeof(float);
    const ptrdiff_t total = per_row * w->next_rows;
    ptrdiff_t count = ANNC_MIN(total - w->pf_done, most);
    w->pf_done += count;
    ptrdiff_t row = w->pf_row, off = w->pf_off;
    const float *src = w->next_src + s.lo;
    const int64_t *idx = w->next_idx;
    const ptrdiff_t ldx = w->next_ldx;
    while (count > 0) {
        const uintptr_t p = (uintptr_t)(src + idx[row] * ldx);
        const uintptr_t first = p & ~(uintptr_t)63, last = p + (uintptr_t)bytes - 1;
        for (; count > 0 && off < end; count--, off += 64) {
#if defined(__GNUC__) || defined(__clang__)
            /* a slot past the run's last line asks for nothing (a block's 320-byte run on
             * rows that start on a line spans five lines of the six slots) */
            if (first + (uintptr_t)off <= last)
                __builtin_prefetch((const void *)(first + (uintptr_t)off), 0, 2);
#else
            (void)first, (void)last;
#endif
        }
        if (off >= end) {
            off = 0;
            row++;
        }
    }
    w->pf_row = row;
    w->pf_off = off;
    return total - w->pf_done;
}

/* Columns of the first layer's input in its block k. */
static span block_cols(const annc_layer *L, ptrdiff_t k) {
    const ptrdiff_t br = block_rows(L);
    span s = {ANNC_MIN(k * br, L->in), ANNC_MIN((k + 1) * br, L->in)};
    return s;
}

/* Block k's columns of the next rows into next_x. With the kernel for it, the copy also
 * forms the masks the zero-skipping products would form from those values: the rows' into
 * rmask (room for 128 rows of two words) for the block's product that follows, the
 * columns' kept for the block's weight gradient in the next step; returns rmask then (*nnz
 * its set bits), else NULL. */
static const uint64_t *next_cols_gather(const worker *w, const annc_layer *L, ptrdiff_t k,
                                        uint64_t *rmask, ptrdiff_t *nnz) {
    const annc_kernels *K = annc_kernels_get();
    float *dst = (float *)w->next_x; /* the step's spare half of xbuf */
    const span s = block_cols(L, k);
    const ptrdiff_t n = s.hi - s.lo;
    /* only for products wide enough to skip zeros (not Program 1's ten outputs) */
    if (w->col_masks && K->zs.gather_masks && w->next_rows <= 128 && n <= 128 &&
        L->out >= ANNC_ZS_MIN_N && annc_zero_skip()) {
        *nnz = K->zs.gather_masks(dst + s.lo, w->net->in_features, w->next_src + s.lo,
                                  w->next_ldx, w->next_idx, w->next_rows, n, rmask,
                                  w->col_masks + k * w->cm_stride);
        w->block_nnz[k] = *nnz;
        return rmask;
    }
    if (w->block_nnz) w->block_nnz[k] = -1;
    const span rows = {0, w->next_rows};
    gather_block(w->net, dst, w->next_src, w->next_ldx, w->next_idx, rows, s);
    return NULL;
}

/* ---------------------------------------------------------------- forward */

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

/* Where a Dense layer's pre-activation goes: z when the backward pass needs it, else y. */
static float *preact_buffer(const annc_layer *L, int act) {
    return (L->z && act != ANNC_ACT_LINEAR) ? L->z : L->y;
}

/* The activation after the bias, on rows rr and columns s of z (into y); softmax only ever
 * gets whole rows. */
static void finish_dense(const annc_layer *L, int act, float *z, span rr, span s) {
    const ptrdiff_t out = L->out, n = rr.hi - rr.lo;
    if (n <= 0 || s.hi <= s.lo) return;
    float *y = L->y + rr.lo * out;
    z += rr.lo * out;
    if (act == ANNC_ACT_LINEAR) {
        if (z != y)
            for (ptrdiff_t r = 0; r < n; r++)
                memcpy(y + r * out + s.lo, z + r * out + s.lo,
                       sizeof(float) * (size_t)(s.hi - s.lo));
    } else if (act == ANNC_ACT_SOFTMAX) {
        annc_softmax_forward(y, out, z, out, n, out);
    } else {
        act_columns(act, L->act_param, y, z, out, out, n, s);
    }
}

/* n rows of a blocked layer that is not split, into zr: each half of its K blocks by a
 * K-blocked product (whose blocks add in order, as the planes do), then the halves and the
 * bias, as annc_block_sums adds a split layer's planes. */
static void halves_product(const worker *w, const annc_layer *L, const float *x, ptrdiff_t ld_in,
                           ptrdiff_t n, float *zr) {
    const ptrdiff_t out = L->out, br = block_rows(L), kh = num_blocks(L) / 2 * br;
    float *t = halves_scratch(w, L);
    annc_sgemm_kc(0, 0, n, out, kh, 1.0f, x, ld_in, L->W, out, 0.0f, zr, out, NULL,
                  ANNC_ACT_LINEAR, 0.0f, br, w->ws);
    annc_sgemm_kc(0, 0, n, out, L->in - kh, 1.0f, x + kh, ld_in, L->W + kh * out, out, 0.0f, t,
                  out, NULL, ANNC_ACT_LINEAR, 0.0f, br, w->ws);
    for (ptrdiff_t r = 0; r < n; r++) {
        float *restrict zrow = zr + r * out;
        const float *restrict trow = t + r * out;
        for (ptrdiff_t j = 0; j < out; j++) zrow[j] += trow[j];
        if (L->b)
            for (ptrdiff_t j = 0; j < out; j++) zrow[j] += L->b[j];
    }
}

/* Rows rr of a Dense layer that is not split: all of them on thread 0, or a thread's share of a
 * tail by rows. A row comes out the same whichever rows share the call: the product's K
 * blocking is the whole batch's. */
static void dense_rows(const worker *w, const annc_layer *L, const float *in, ptrdiff_t ld_in,
                       int act, span rr) {
    const ptrdiff_t rows = w->rows, n = rr.hi - rr.lo, out = L->out;
    if (n <= 0) return;
    const span all = {0, out};
    float *z = preact_buffer(L, act);
    /* with z kept, or softmax, the activation runs after the product; else in its epilogue */
    const int separate = z != L->y || act == ANNC_ACT_SOFTMAX;
    const int epi = separate ? ANNC_ACT_LINEAR : act;
    const float *x = in + rr.lo * ld_in;
    float *zr = z + rr.lo * out;
    if (rows <= ANNC_ROWGEMM_MAX_ROWS) { /* one thread: the tail never runs by rows this small */
        annc_rowgemm(n, out, L->in, x, ld_in, L->W, out, zr, out, L->b, epi, L->act_param);
    } else if (blocked(L, rows) && num_blocks(L) > 2) {
        halves_product(w, L, x, ld_in, n, zr);
        finish_dense(L, act, z, rr, all);
        return;
    } else if (blocked(L, rows)) { /* two blocks: the halves' sum is the K-blocked one */
        annc_sgemm_kc(0, 0, n, out, L->in, 1.0f, x, ld_in, L->W, out, 0.0f, zr, out, L->b, epi,
                      L->act_param, block_rows(L), w->ws);
    } else {
        annc_sgemm_part(0, 0, n, out, L->in, 1.0f, x, ld_in, L->W, out, 0.0f, zr, out, L->b, epi,
                        L->act_param, rows, out, w->ws);
    }
    if (separate) finish_dense(L, act, z, rr, all);
}

/* The plane of `partials` that block k's partial product goes to, made by a thread that owns
 * blocks b: added onto the first plane of block k's half when the same thread formed every
 * block of the half before it (*beta 1; 0 for the half's first block), else its own plane.
 * A block taken over from another thread's run is formed as if owned alone (b = {k, k + 1}):
 * the sums then add its plane in its place (annc_block_sums), which gives the same bits as
 * adding it onto the run. */
static ptrdiff_t target_plane(ptrdiff_t nb, ptrdiff_t k, span b, float *beta) {
    const ptrdiff_t hs = k < nb / 2 ? 0 : nb / 2;
    if (b.lo <= hs) {
        *beta = k == hs ? 0.0f : 1.0f;
        return hs;
    }
    *beta = 0.0f;
    return k;
}

/* Block k's partial product in[:, rows of block k] · W[rows of block k, :] into its plane of
 * `partials` (rows x out each), for a thread that owns blocks b (see target_plane);
 * w_finite: the block's rows of W are known to hold no inf or NaN (just updated). */
static void block_product(const worker *w, const annc_layer *L, const float *in, ptrdiff_t ld_in,
                          ptrdiff_t rows, ptrdiff_t k, span b, float *partials, int w_finite,
                          const uint64_t *rmask, ptrdiff_t nnz) {
    const ptrdiff_t out = L->out, br = block_rows(L);
    const ptrdiff_t r0 = k * br, nr = ANNC_MIN(br, L->in - r0);
    float beta;
    const ptrdiff_t t = target_plane(num_blocks(L), k, b, &beta);
    /* with beta 1 the kernel adds its sum to the plane (c = fma(1, c, acc)): the same as
     * adding a separate plane afterwards */
    float *plane = partials + (size_t)t * (size_t)rows * (size_t)out;
    /* the slab holds W's blocks in order and more after the last (its bias, or the padding
     * that ends every variable and the slab on whole lines) */
    const uintptr_t end = (uintptr_t)(L->W + (r0 + nr) * out), slab = (uintptr_t)w->net->params;
    const int b_past = w->net->params && end >= slab &&
                       (end - slab) / sizeof(float) + 8 <= (size_t)w->net->nparams;
    if (rmask) /* the masks formed while gathering these rows */
        annc_sgemm_part_given(0, rows, out, nr, in + r0, ld_in, L->W + r0 * out, out, beta, plane,
                              out, rows, out, NULL,
                              (w_finite ? ANNC_ZS_B_FINITE : 0) | (b_past ? ANNC_ZS_B_PAST : 0),
                              rmask, nnz, w->ws);
    else if (w_finite)
        annc_sgemm_part_finite_b(0, rows, out, nr, in + r0, ld_in, L->W + r0 * out, out, b_past,
                                 beta, plane, out, rows, out, w->ws);
    else
        annc_sgemm_part(0, 0, rows, out, nr, 1.0f, in + r0, ld_in, L->W + r0 * out, out, beta,
                        plane, out, NULL, ANNC_ACT_LINEAR, 0.0f, rows, out, w->ws);
}

/* The end of the run of blocks of half [hs, he) added onto its first plane: that of the
 * thread owning block hs, up to where others took over its run (`claimed`: the final claim
 * set, NULL: none did); the half's later blocks have planes of their own. */
static ptrdiff_t half_run_end(ptrdiff_t nb, ptrdiff_t hs, ptrdiff_t he, int nt,
                              const uint64_t *claimed) {
    for (int t = 0; t < nt; t++) {
        const span b = thread_blocks(nb, t, nt);
        if (b.lo <= hs && hs < b.hi) {
            ptrdiff_t end = ANNC_MIN(b.hi, he);
            if (claimed) /* lo == hi: the owner formed [b.lo, lo) */
                end = ANNC_MIN(end, (ptrdiff_t)(claimed[(size_t)t * CLAIM_STRIDE] & 0xffffffffu));
            return ANNC_MAX(end, hs + 1);
        }
    }
    return he;
}

/* A split Dense layer: this thread's blocks' partial products, then (after a barrier) the
 * block sums, bias and activation of the output columns (or, in a tail by rows, the rows)
 * this thread owns next. */
static void dense_split(worker *w, int l, const float *in, ptrdiff_t ld_in, int act, int part,
                        float *partials, int ready) {
    const annc_net *net = w->net;
    const annc_layer *L = &net->layers[l];
    const ptrdiff_t rows = w->rows, out = L->out, nb = num_blocks(L);
    const span b = thread_blocks(nb, w->tid, w->nt);
    const size_t plane = (size_t)rows * (size_t)out;
    if (ready) w->sums_at = w->barriers; /* the claims are read below, on every thread alike */
    /* formed during the previous step's update, before its closing barrier */
    for (ptrdiff_t k = ready ? b.hi : b.lo; k < b.hi; k++)
        block_product(w, L, in, ld_in, rows, k, b, partials, 0, NULL, 0);
    if (!ready) barrier(w);
    const span s = own_cols(net, part, out, w), rr = part_rows(w, part);
    if (s.hi <= s.lo) return;
    float *z = preact_buffer(L, act);
    const uint64_t *claimed = ready ? w->claimed : NULL;
    const ptrdiff_t m0 = half_run_end(nb, 0, nb / 2, w->nt, claimed);
    const ptrdiff_t m1 = half_run_end(nb, nb / 2, nb, w->nt, claimed);
    if (rr.hi <= rr.lo) return;
    /* a ReLU is taken as the sums are stored (into y beside z when z is kept) */
    const size_t at = (size_t)(rr.lo * out + s.lo);
    const int relu = act == ANNC_ACT_RELU;
    annc_block_sums(z + at, relu && z != L->y ? L->y + at : NULL, out, rr.hi - rr.lo,
                    s.hi - s.lo, partials + at, plane, nb, m0, m1, L->b ? L->b + s.lo : NULL,
                    relu);
    if (!relu) finish_dense(L, act, z, rr, s);
}

static const float *train_forward(worker *w, written *state, uint64_t key, uint64_t counter) {
    annc_net *net = w->net;
    const ptrdiff_t rows = w->rows;
    const float *in = w->x;
    ptrdiff_t ld_in = net->in_features;
    int nsplit = 0;
    for (int l = 0; l < net->nlayers; l++) {
        annc_layer *L = &net->layers[l];
        const int last = l == net->nlayers - 1;
        const int act = (last && net->fused) ? ANNC_ACT_LINEAR : L->act;
        const int part = part_of(w, l);
        const span rr = part_rows(w, part);
        const int by_rows = l > w->tail; /* the tail's layers after its split one */
        switch (L->kind) {
        case ANNC_LAYER_DENSE:
            if (split_layer(net, l, rows, w->nt) || (l == 0 && w->ready)) {
                require(w, *state, READ_OWN, l);
                dense_split(w, l, in, ld_in, act, part, w->partials[nsplit++ & 1],
                            l == 0 && w->ready);
                *state = wrote(w, split_layer(net, l, rows, w->nt) ? part : PART_THREAD0);
            } else { /* a narrow layer: its rows in the tail, else all of it on thread 0 */
                const int who = by_rows ? PART_ROWS : PART_THREAD0;
                require(w, *state, READ_OWN, who);
                if (!(w->head && l == w->tail + 1)) /* else formed with the loss (loss_share) */
                    dense_rows(w, L, in, ld_in, act, part_rows(w, who));
                *state = wrote(w, who);
            }
            break;
        case ANNC_LAYER_ACTIVATION:
            if (act == ANNC_ACT_SOFTMAX) { /* whole rows: the tail's, else thread 0's */
                const int who = by_rows ? PART_ROWS : PART_THREAD0;
                const span sr = part_rows(w, who);
                require(w, *state, READ_OWN, who);
                annc_softmax_forward(L->y + sr.lo * L->out, L->out, in + sr.lo * ld_in, ld_in,
                                     sr.hi - sr.lo, L->out);
                *state = wrote(w, who);
            } else {
                require(w, *state, READ_OWN, part);
                act_columns(act, L->act_param, L->y + rr.lo * L->out, in + rr.lo * ld_in, ld_in,
                            L->out, rr.hi - rr.lo, own_cols(net, part, L->out, w));
                *state = wrote(w, part);
            }
            break;
        case ANNC_LAYER_DROPOUT: {
            require(w, *state, READ_OWN, part);
            const span s = own_cols(net, part, L->out, w);
            for (ptrdiff_t r = rr.lo; r < rr.hi && s.hi > s.lo; r++) {
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
            *state = wrote(w, part);
            break;
        }
        default:
            return NULL;
        }
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

/* d(l1 |p| + l2 p^2)/dp for an activation output p >= 0 */
static inline float penalty_slope(float p, float l1, float two_l2) {
    return l1 * (float)(p > 0.0f) + two_l2 * p;
}

/* d += the gradient of l1 |p| + l2 p^2 with respect to logits z, p = act(z) the activation
 * a fused loss has folded in (softmax over each row, or the sigmoid): J^T (l1 sign(p) +
 * 2 l2 p), row by row through p (n floats of scratch). Keras's TF backend takes the
 * cross-entropy from the logits and the penalty from the activation's output alike. */
static void add_activity_grad_folded(int act, float *d, ptrdiff_t ldd, const float *z,
                                     ptrdiff_t ldz, ptrdiff_t rows, ptrdiff_t n, float l1,
                                     float l2, float *p) {
    const float two_l2 = 2.0f * l2;
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *restrict dr = d + r * ldd;
        annc_eng_fused_output(act, p, z + r * ldz, 1, n);
        if (act == ANNC_ACT_SOFTMAX) { /* p (gp - p . gp) */
            double dot = 0.0;
            for (ptrdiff_t j = 0; j < n; j++)
                dot += (double)p[j] * (double)penalty_slope(p[j], l1, two_l2);
            for (ptrdiff_t j = 0; j < n; j++)
                dr[j] += p[j] * (penalty_slope(p[j], l1, two_l2) - (float)dot);
        } else { /* sigmoid: gp p (1 - p) */
            for (ptrdiff_t j = 0; j < n; j++)
                dr[j] += penalty_slope(p[j], l1, two_l2) * p[j] * (1.0f - p[j]);
        }
    }
}

static void clip_rows(float *g, ptrdiff_t ld, ptrdiff_t rows, ptrdiff_t n, float v) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *gr = g + r * ld;
        for (ptrdiff_t i = 0; i < n; i++) gr[i] = gr[i] < -v ? -v : (gr[i] > v ? v : gr[i]);
    }
}

/* The optimizer on n contiguous parameters at p (a run of whole rows of a kernel, or a bias),
 * with gradients g; 1 when the new values are known finite (annc_opt_apply_finite). */
static int update_run(const worker *w, float *p, const float *g, ptrdiff_t n) {
    const annc_net *net = w->net;
    const ptrdiff_t off = p - net->params;
    return annc_opt_apply_finite(&w->opt, p, g, net->slot0 ? net->slot0 + off : NULL,
                                 net->slot1 ? net->slot1 + off : NULL,
                                 net->slot2 ? net->slot2 + off : NULL, n);
}

/* dW = inᵀ·g for rows s of W, and (fused) their update, DW_BLOCK_ROWS rows of W at a time so
 * that a block of the gradient is consumed while it is still in cache. Without `fused` the
 * gradient goes to L->dW for clipping and a later update. Returns 1 when rows s of W were
 * updated and are known finite. */
static int kernel_gradient(worker *w, annc_layer *L, const float *in, ptrdiff_t ld_in,
                           const float *g, span s, int prefetch, const uint32_t *cmask,
                           ptrdiff_t nnz) {
    const ptrdiff_t out = L->out;
    if (s.hi <= s.lo) return 0;
    int finite = w->fused;
    float *block = w->ws + annc_sgemm_part_workspace_floats(DW_BLOCK_ROWS, out, w->rows, L->in, out);
    block = (float *)(((uintptr_t)block + 63) & ~(uintptr_t)63);
    const ptrdiff_t nblocks = (s.hi - s.lo + DW_BLOCK_ROWS - 1) / DW_BLOCK_ROWS;
    for (ptrdiff_t r0 = s.lo; r0 < s.hi; r0 += DW_BLOCK_ROWS) {
        const ptrdiff_t nr = ANNC_MIN((ptrdiff_t)DW_BLOCK_ROWS, s.hi - r0);
        /* the first quarter went before the forward pass, the rest block by block here */
        if (prefetch)
            prefetch_upto(w, nblocks + 3 * ((r0 - s.lo) / DW_BLOCK_ROWS + 1), 4 * nblocks);
        float *W = L->W + r0 * out;
        float *dW = w->fused ? block : L->dW + r0 * out;
        if (w->gcache_of != L) {
            w->gcache.src = NULL;
            w->gcache_of = L;
        }
        if (cmask && nr == s.hi - s.lo) /* the masks formed while gathering these columns */
            annc_sgemm_part_given(1, nr, out, w->rows, in + r0, ld_in, g, out, 0.0f, dW, out,
                                  L->in, out, &w->gcache, 0, cmask, nnz, w->ws);
        else
            annc_sgemm_part_cached(1, 0, nr, out, w->rows, 1.0f, in + r0, ld_in, g, out, 0.0f,
                                   dW, out, L->in, out, &w->gcache, w->ws);
        next_cols_prefetch_part(w, 4);
        add_reg_grad_rows(dW, out, W, out, nr, out, L->kernel_l1, L->kernel_l2);
        if (!w->fused) continue;
        if (w->net->clipvalue > 0.0f) clip_rows(dW, out, nr, out, w->net->clipvalue);
        finite &= update_run(w, W, dW, nr * out);
    }
    return finite;
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
    update_run(w, L->b + s.lo, db, n);
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

/* Thread 0, in a tail by rows, once every row's gradient is in: what needs all the rows — the
 * bias gradient of the tail's split layer, and the kernel and bias gradients of the Dense
 * layer after it, whose output gradient is still in `g_after` (see tail_start). */
static void tail_gradients(worker *w, const float *g, const float *g_after) {
    annc_net *net = w->net;
    annc_layer *S = &net->layers[w->tail];
    const span all_s = {0, S->out};
    if (S->b) bias_gradient(w, S, g, all_s);
    for (int l = w->tail + 1; l < net->nlayers; l++) {
        annc_layer *L = &net->layers[l];
        if (L->kind != ANNC_LAYER_DENSE || !L->trainable) continue;
        const span cols = {0, L->out}, kernel_rows = {0, L->in};
        if (L->b) bias_gradient(w, L, g_after, cols);
        kernel_gradient(w, L, net->layers[l - 1].y, L->in, g_after, kernel_rows, 0, NULL, 0);
    }
}

/* g holds d(loss)/d(output of the last layer), written by thread 0 (or, in a tail by rows, by
 * each thread for its rows). Forms every gradient and updates the kernels and biases (fused),
 * or leaves them in the slab (norm clipping). */
static void train_backward(worker *w) {
    annc_net *net = w->net;
    const ptrdiff_t rows = w->rows;
    float *g = net->gbuf0, *other = net->gbuf1;
    written state = wrote(w, w->tail < net->nlayers ? PART_ROWS : PART_THREAD0);
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
        const int part = part_of(w, l);
        const span s = own_cols(net, part, L->out, w), rr = part_rows(w, part);
        const ptrdiff_t n = rr.hi - rr.lo, o0 = rr.lo * L->out; /* this thread's rows */
        switch (L->kind) {
        case ANNC_LAYER_DENSE: {
            const int split = split_layer(net, l, rows, w->nt);
            const int need_dx = l > first;
            require(w, state, READ_OWN, part);
            /* the penalty over the batch divided by its size, as Keras 3 takes it; onto
             * d(loss)/d(logits) through the activation when the loss has folded it in (both
             * add nothing without a penalty) */
            const float act_l1 = L->activity_l1 / (float)rows,
                        act_l2 = L->activity_l2 / (float)rows;
            if (last && net->fused && (act_l1 != 0.0f || act_l2 != 0.0f))
                add_activity_grad_folded(L->act, g + o0, L->out, L->y + o0, L->out, n, L->out,
                                         act_l1, act_l2, w->ws);
            else
                add_reg_grad_rows(g + o0 + s.lo, L->out, L->y + o0 + s.lo, L->out, n,
                                  s.hi - s.lo, act_l1, act_l2);
            if (!(last && net->fused)) {
                if (L->act == ANNC_ACT_SOFTMAX) /* part: thread 0's or the tail's rows */
                    annc_softmax_backward(g + o0, g + o0, L->y + o0, n, L->out);
                else if (L->act != ANNC_ACT_LINEAR && !(w->head && l == w->tail)) {
                    act_backward_columns(L->act, L->act_param, g + o0, L->z + o0, L->out,
                                         L->y + o0, L->out, n, s);
                }
            }
            state = wrote(w, part);
            if (l > w->tail) {
                /* the tail's narrow layer: this thread's rows of dX (from W before thread 0
                 * updates it, after the next barrier; see tail_gradients) */
                if (need_dx && !w->head)
                    annc_sgemm_part(0, 1, n, L->in, L->out, 1.0f, g + o0, L->out, L->W, L->out,
                                    0.0f, other + rr.lo * L->in, L->in, NULL, ANNC_ACT_LINEAR,
                                    0.0f, rows, L->in, w->ws);
                float *t = g;
                g = other;
                other = t;
                state = wrote(w, PART_ROWS);
                break;
            }
            if (L->trainable && L->b && part != PART_ROWS) bias_gradient(w, L, g, s);
            /* dX and dW read every column of g; each thread its own rows of W */
            const long before_tail_end = w->barriers;
            if (l == w->tail) tail_done(w);
            require(w, state, split ? READ_ALL_BY_EVERYONE : READ_ALL_BY_THREAD0, 0);
            if (l == w->tail && w->barriers != before_tail_end) tail_rebalance(w);
            if (l == w->tail && w->tid == 0) tail_gradients(w, g, other);
            const span r = updated_rows(net, l, w);
            /* the gradient below from W as the forward pass used it, so before its update */
            if (need_dx && r.hi > r.lo)
                annc_sgemm_part(0, 1, rows, r.hi - r.lo, L->out, 1.0f, g, L->out,
                                L->W + r.lo * L->out, L->out, 0.0f, other + r.lo, L->in, NULL,
                                ANNC_ACT_LINEAR, 0.0f, rows, L->in, w->ws);
            if (l == 0 && w->next_x) { /* set only when first_layer_ahead holds */
                /* block by block: update the rows, then while they are in cache form their
                 * share of the next step's first product (the same partial products its
                 * forward pass would form, in the same plane) */
                const span b = thread_blocks(num_blocks(L), w->tid, w->nt);
                begin_claims(w, b);
                int taken = 0;
                for (ptrdiff_t k = next_block(w, b, b.lo - 1, &taken); k >= 0;
                     k = next_block(w, b, k, &taken)) {
                    /* the next block's columns a quarter at a time between this one's
                     * phases (the kernel gradient's product and update take one). A block
                     * taken over had its columns asked for by its owner, into the owner's
                     * cache: the taker asks for them again, half before the gradient and the
                     * rest before the copy, or its copy waits on memory (a taken block's copy
                     * measured 7.1-7.5k cycles against its owner's 1.7-2.2k; 1.3-1.6k so) */
                    const span none = {0, 0};
                    next_cols_prefetch_start(w, taken ? block_cols(L, k)
                                                : k + 1 < b.hi ? block_cols(L, k + 1) : none);
                    next_cols_prefetch_part(w, taken ? 2 : 4);
                    /* this step's columns came from the last step's gathers (w->ready) */
                    const int have = w->ready && w->block_nnz && w->block_nnz[k] >= 0;
                    const int w_finite = kernel_gradient(
                        w, L, in, ld_in, g, block_cols(L, k), 0,
                        have ? w->col_masks + k * w->cm_stride : NULL, have ? w->block_nnz[k] : 0);
                    next_cols_prefetch_part(w, taken ? 1 : 4);
                    uint64_t rmask[128 * 2];
                    ptrdiff_t nnz = 0;
                    const uint64_t *rm = next_cols_gather(w, L, k, rmask, &nnz);
                    next_cols_prefetch_part(w, 4);
                    const span alone = {k, k + 1};
                    block_product(w, L, w->next_x, net->in_features, w->next_rows, k,
                                  taken ? alone : b, w->partials[0], w_finite, rm, nnz);
                }
                end_claims(w);
            } else if (L->trainable) {
                kernel_gradient(w, L, in, ld_in, g, r, 1, NULL, 0);
            }
            if (need_dx) {
                float *t = g;
                g = other;
                other = t;
                state = wrote(w, split ? l : PART_THREAD0);
            }
            break;
        }
        case ANNC_LAYER_ACTIVATION:
            if (last && net->fused) break; /* the loss already differentiated through it */
            if (L->act == ANNC_ACT_SOFTMAX) { /* whole rows: the tail's, else thread 0's */
                const int who = part == PART_ROWS ? PART_ROWS : PART_THREAD0;
                const span sr = part_rows(w, who);
                require(w, state, READ_OWN, who);
                annc_softmax_backward(g + sr.lo * L->out, g + sr.lo * L->out, L->y + sr.lo * L->out,
                                      sr.hi - sr.lo, L->out);
                state = wrote(w, who);
            } else {
                require(w, state, READ_OWN, part);
                /* the input is the previous layer's output, still intact: no copy kept */
                act_backward_columns(L->act, L->act_param, g + o0, in + rr.lo * ld_in, ld_in,
                                     L->y + o0, L->out, n, s);
                state = wrote(w, part);
            }
            break;
        case ANNC_LAYER_DROPOUT:
            require(w, state, READ_OWN, part);
            if (L->rate > 0.0f)
                for (ptrdiff_t r = rr.lo; r < rr.hi; r++)
                    for (ptrdiff_t j = s.lo; j < s.hi; j++)
                        g[r * L->out + j] *= L->mask[r * L->out + j];
            state = wrote(w, part);
            break;
        }
    }
}

/* After an unfused backward (norm clipping): thread 0 clips, then every thread updates the
 * rows it owns; thread 0 the biases. */
static void clipped_update(worker *w) {
    annc_net *net = w->net;
    barrier(w);
    if (w->tid == 0) annc_eng_clip_gradients(net);
    barrier(w);
    for (int l = 0; l < net->nlayers; l++) {
        annc_layer *L = &net->layers[l];
        if (L->kind != ANNC_LAYER_DENSE || !L->trainable) continue;
        const span r = updated_rows(net, l, w);
        if (r.hi > r.lo)
            update_run(w, L->W + r.lo * L->out, L->dW + r.lo * L->out, (r.hi - r.lo) * L->out);
        if (L->b && w->tid == 0) update_run(w, L->b, L->db, L->out);
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
    uint64_t *claims;      /* the first layer's block claims (NULL: fixed blocks) */
    uint32_t *col_masks;   /* see worker.col_masks (NULL: none kept) */
    ptrdiff_t *block_nnz;
    ptrdiff_t cm_stride;
    int status;            /* published by thread 0 just before a step's closing barrier */
    int step_status;       /* the loss's record, written during a step (by any thread in a tail
                            * by rows, see set_step_status) */
    ptrdiff_t seen;
    struct spin_barrier *bar; /* NULL: OpenMP's barrier */
} chunk;

static ptrdiff_t step_rows(const chunk *c, ptrdiff_t s) {
    const ptrdiff_t start = (c->first_step + s) * c->batch;
    return start >= c->n ? 0 : ANNC_MIN(c->batch, c->n - start);
}

static const int64_t *step_idx(const chunk *c, ptrdiff_t s) {
    return c->perm + (c->first_step + s) * c->batch;
}

/* Thread 0, between forward and backward: loss, its gradient into gbuf0, and the sums. */
/* After the loss sum: the weight penalty (taken before any update), activity penalties and
 * metrics of the step, added in that order. */
static void add_step_sums(const worker *w, chunk *c, const float *pred, double penalty,
                          float *scratch) {
    const annc_net *net = w->net;
    const ptrdiff_t rows = w->rows;
    c->sums[0] += (double)rows * penalty;
    annc_eng_activity_penalties(net, rows, &c->sums[0], scratch);
    annc_eng_add_metrics(net, pred, net->fused, net->tbuf, c->target_cols, rows, c->metrics,
                         c->nmetrics, c->sums, scratch);
}

static int loss_section(worker *w, chunk *c, const float *pred) {
    annc_net *net = w->net;
    const ptrdiff_t rows = w->rows;
    const double penalty = annc_eng_regularisation_penalty(net);
    int st = annc_eng_loss_rows(net, &c->sums[0], pred, net->tbuf, rows, net->gbuf0,
                                1.0f / (float)rows);
    if (st != ANNC_OK) return st;
    add_step_sums(w, c, pred, penalty, net->gbuf1);
    return ANNC_OK;
}

/* Any thread: a loss error. */
static void set_step_status(chunk *c, int st) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
    c->step_status = st;
    (void)st; /* GCC's -Wunused-but-set-parameter misreads the atomic write */
}

/* Every thread, in a tail by rows: the loss of its rows into loss_rows and their gradient into
 * gbuf0 (as annc_eng_loss_rows would for all of them); the last thread, which adds the sums
 * (tail_sums), also takes the weight penalty now, before any weight is updated. */
static void loss_share(worker *w, chunk *c, const float *pred) {
    annc_net *net = w->net;
    const ptrdiff_t cols = net->out_features, r0 = w->mine.lo, n = w->mine.hi - w->mine.lo;
    if (w->tid == w->nt - 1) w->penalty = annc_eng_regularisation_penalty(net);
    if (!pred) {
        set_step_status(c, ANNC_ERR_ARG);
        return;
    }
    const void *t = c->target_cols == 0
                        ? (const void *)((const int32_t *)net->tbuf + r0)
                        : (const void *)((const float *)net->tbuf + r0 * c->target_cols);
    if (w->head) { /* these rows' logits, loss and gradients down to the split layer's output */
        const annc_layer *S = &net->layers[w->tail], *L = &net->layers[w->tail + 1];
        const int32_t *labels = (const int32_t *)t;
        if (!annc_sparse_labels_ok(labels, n, cols)) { /* before anything is written */
            set_step_status(c, ANNC_ERR_ARG);
            return;
        }
        /* the K blocks dense_rows would use (fused_head leaves out its other ways) */
        const ptrdiff_t kc = blocked(L, w->rows) ? block_rows(L) : L->in;
        annc_kernels_get()->head(n, L->in, cols, kc, S->y + r0 * L->in, L->W, L->b, labels,
                                 1.0f / (float)w->rows, (float *)pred + r0 * cols,
                                 net->loss_rows + r0, net->gbuf0 + r0 * cols,
                                 net->gbuf1 + r0 * L->in, w->ws);
        annc_head_taken_add();
        return;
    }
    const int st = annc_loss(net->loss, net->fused ? 1 : net->from_logits, net->loss_param,
                             net->loss_rows + r0, net->gbuf0 + r0 * cols, pred + r0 * cols, t, n,
                             cols, 1.0f / (float)w->rows);
    if (st != ANNC_OK) set_step_status(c, st);
}

/* The last thread, in a tail by rows, after the barrier that ends the tail (while thread 0
 * forms the tail's kernel gradients): the sums loss_section would have added, in the same
 * order, with its own workspace, free between its products, as the metrics' scratch. */
static void tail_sums(worker *w, chunk *c, const float *pred) {
    if (c->step_status != ANNC_OK) return;
    annc_eng_add_loss_rows(w->net, w->rows, &c->sums[0]);
    add_step_sums(w, c, pred, w->penalty, w->ws);
}

static void run_chunk(chunk *c, int tid, int nt) {
    annc_net *net = c->net;
    worker w;
    memset(&w, 0, sizeof w);
    w.net = net;
    w.opt = *c->opt;
    w.tid = tid;
    w.nt = nt;
    w.partials[0] = net->ws;
    w.partials[1] = net->ws + partial_floats(net, net->rows);
    w.ws = net->ws + 2 * partial_floats(net, net->rows) +
           (size_t)tid * train_ws_per_thread(net, net->rows);
    w.fused = !(net->clipnorm > 0.0f || net->global_clipnorm > 0.0f);
    w.gcache.floats = gcache_floats(net, net->rows);
    w.gcache.buf = w.ws + train_ws_per_thread(net, net->rows) - w.gcache.floats;
    const size_t half = (size_t)net->rows * (size_t)net->in_features;
    w.sums_at = -1;
    w.col_masks = c->col_masks;
    w.block_nnz = c->block_nnz;
    w.cm_stride = c->cm_stride;
    w.bar = c->bar;
    if (nt > 1 && c->claims) { /* both sets start as this thread's run */
        w.claims = c->claims;
        w.tails = (struct tail_slot *)(c->claims + 2 * (size_t)nt * CLAIM_STRIDE);
        w.tails[tid].rate = 0.0;
        const span own = thread_blocks(num_blocks(&net->layers[0]), tid, nt);
        *claim_slot(w.claims, nt, 0, tid) = *claim_slot(w.claims, nt, 1, tid) = claim_range(own);
    }

    ptrdiff_t rows = step_rows(c, 0);
    if (rows > 0) {
        /* the first step's rows, all threads at once */
        gather_span(net, net->xbuf, c->x, c->ldx, step_idx(c, 0), equal_share(rows, tid, nt));
        if (tid == 0) gather_targets(net, c->targets, c->target_cols, step_idx(c, 0), rows);
    }
    barrier(&w);
    int cur = 0; /* the buffer holding this step's rows */
    for (ptrdiff_t s = 0; s < c->nsteps && rows > 0; s++) {
        w.rows = rows;
        w.tail = tail_start(net, rows, nt);
        w.head = w.tail < net->nlayers && fused_head(net, w.tail, rows, c->target_cols);
        w.mine = tail_rows(&w, rows);
        w.tail_began = now_seconds();
        w.x = net->xbuf + (size_t)cur * half;
        w.gcache.src = NULL; /* the gradient buffers are rewritten */
        w.opt.learning_rate = c->lrs ? c->lrs[s] : c->opt->learning_rate;
        annc_opt_prepare(&w.opt);
        const uint64_t counter = c->counter + ((uint64_t)(c->first_step + s) << 40);
        const ptrdiff_t next = step_rows(c, s + 1);
        /* the next step's first products ride on this step's update (same blocks, same
         * planes) when the first layer is blocked the same way at both sizes */
        const int ahead_ok = w.fused && next > 0 && s + 1 < c->nsteps &&
                             first_layer_ahead(net, rows, nt) && first_layer_ahead(net, next, nt);
        /* Formed ahead, each block's next columns replace its current ones right after the
         * block's weight gradient, their last reader: one buffer, 50 KB less in each L2 on
         * Program 2. Otherwise the next rows are gathered while these are still read. */
        float *next_buf = net->xbuf + (size_t)(ahead_ok ? cur : 1 - cur) * half;
        w.next_x = ahead_ok ? next_buf : NULL;
        w.next_rows = next;
        w.next_src = c->x;
        w.next_ldx = c->ldx;
        w.next_idx = next > 0 ? step_idx(c, s + 1) : NULL;
        /* Otherwise the next step's rows are gathered right after the forward pass (by the
         * threads other than 0 unless the tail runs by rows), so the ones asked for during
         * this step are those of the step after. */
        const ptrdiff_t pf_rows = ahead_ok ? 0 : step_rows(c, s + 2);
        prefetch_plan(&w, c->x, c->ldx, pf_rows > 0 ? step_idx(c, s + 2) : NULL, pf_rows);
        prefetch_upto(&w, 1, 4);
        /* with them, this thread's first block's columns of the next rows, while the tail
         * runs (a quarter at a time) */
        const span none = {0, 0};
        const span own = thread_blocks(num_blocks(&net->layers[0]), tid, nt);
        const span first_cols = ahead_ok && own.hi > own.lo ? block_cols(&net->layers[0], own.lo)
                                                            : none;
        if (!(w.pf_for == w.next_idx && w.pf_cols.lo == first_cols.lo &&
              w.pf_cols.hi == first_cols.hi && w.next_idx))
            next_cols_prefetch_start(&w, first_cols);
        next_cols_prefetch_part(&w, 4);

        written state = {PART_THREAD0, -1};
        const float *pred = train_forward(&w, &state, c->key, counter);
        next_cols_prefetch_part(&w, 4);
        const int by_rows = w.tail < net->nlayers;
        if (next > 0 && !ahead_ok)
            gather_span(net, next_buf, c->x, c->ldx, step_idx(c, s + 1), gather_rows(&w, next));
        if (by_rows) {
            loss_share(&w, c, pred);
        } else {
            require(&w, state, READ_ALL_BY_THREAD0, 0);
            if (tid == 0) {
                const int st = pred ? loss_section(&w, c, pred) : ANNC_ERR_ARG;
                if (st != ANNC_OK && c->step_status == ANNC_OK) c->step_status = st;
            }
        }
        next_cols_prefetch_part(&w, 1); /* the rest of the first block's */
        train_backward(&w);
        /* the last thread then also gathers the next targets (tail_sums read these) */
        const int sums_by = by_rows ? nt - 1 : 0;
        if (by_rows && tid == sums_by) tail_sums(&w, c, pred);
        if (!w.fused) clipped_update(&w);
        w.opt.iterations += 1;

        if (next > 0 && tid == sums_by)
            gather_targets(net, c->targets, c->target_cols, step_idx(c, s + 1), next);
        if (tid == 0) {
            c->seen += rows;
            c->status = c->step_status;
        }
        w.ready = ahead_ok;
        /* while waiting for the others: this thread's first block's columns of the rows after
         * the next, which the next step's tail would ask for (the step's own gathers are
         * done) */
        int early = 0;
        if (ahead_ok && w.bar && s + 2 < c->nsteps && step_rows(c, s + 2) > 0 &&
            own.hi > own.lo) {
            w.next_idx = step_idx(c, s + 2);
            w.next_rows = step_rows(c, s + 2);
            next_cols_prefetch_start(&w, block_cols(&net->layers[0], own.lo));
            early = 1;
        }
        barrier_working(&w, early);
        /* Every thread reads the same status here: thread 0 writes it again only before the
         * next closing barrier, which no thread passes before all have read this one. (The
         * loss may run before any barrier of the next step, so it keeps its own record.) */
        if (c->status != ANNC_OK) break;
        rows = next;
        if (!ahead_ok) cur = 1 - cur;
    }
    if (tid == 0) *c->opt = w.opt;
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
    if (!annc_eng_metrics_fit(net, target_cols, metrics, nmetrics)) return ANNC_ERR_ARG;
    const int nt = chunk_threads(net, ANNC_MIN(batch, n));
    /* without memory for the claims the blocks stay fixed: the same results */
    uint64_t *claims = nt > 1 && g_claim_mode != CLAIM_OFF
                           ? (uint64_t *)annc_aligned_alloc(
                                 (sizeof(uint64_t) * 2 * CLAIM_STRIDE + sizeof(struct tail_slot)) *
                                 (size_t)nt)
                           : NULL;
    /* the first layer's blocks' column masks for the next step (without the memory, or with
     * more than one group of rows, each product forms its own: the same results) */
    const annc_layer *L0 = &net->layers[0];
    const ptrdiff_t cm_stride = block_rows(L0) * ((ANNC_MIN(batch, n) + 31) / 32);
    const ptrdiff_t nb0 = num_blocks(L0);
    void *masks = L0->kind == ANNC_LAYER_DENSE && ANNC_MIN(batch, n) <= 128
                      ? annc_aligned_alloc(sizeof(ptrdiff_t) * (size_t)nb0 +
                                           sizeof(uint32_t) * (size_t)(nb0 * cm_stride))
                      : NULL;
    ptrdiff_t *block_nnz = (ptrdiff_t *)masks;
    if (block_nnz)
        for (ptrdiff_t k = 0; k < nb0; k++) block_nnz[k] = -1;
    chunk c = {net, opt, x, ldx, targets, target_cols, perm, n, batch, first_step, nsteps, lrs,
               key, counter, metrics, nmetrics, sums, claims,
               block_nnz ? (uint32_t *)(block_nnz + nb0) : NULL, block_nnz, cm_stride,
               ANNC_OK, ANNC_OK, 0, NULL};
#if defined(SPIN_BARRIER) && defined(_OPENMP)
    /* spinning only while every thread has a core of its own: with more threads than cores a
     * waiting thread would hold the core the thread it waits for needs (OpenMP's barrier then
     * sleeps instead) */
    struct spin_barrier bar = {0u, 0u};
    if (nt <= omp_get_num_procs()) c.bar = &bar;
#endif
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
    annc_aligned_free(claims);
    annc_aligned_free(masks);
    if (seen) *seen = c.seen;
    return c.status;
}
