/* Optimizer updates: Keras 3's update rules (keras/src/optimizers/<name>.py), one fused element-wise
 * pass per parameter chunk.
 *
 * Split of work
 *  - annc_opt_prepare runs once per step and turns the hyper-parameters plus the step count into
 *    the handful of scalars the update needs (bias corrections, Nadam's momentum schedule).
 *    Powers such as beta^t are taken in double: in float32 they lose digits as t grows, and they
 *    are computed once per step, so the precision costs nothing.
 *  - annc_opt_apply is then purely element-wise and reads nothing but its arguments and the
 *    const optimizer, so any split of a slab into chunks, applied from any threads in any order,
 *    gives bit-identical results to one call over the whole slab.
 *
 * Slots (the per-parameter state, float32, same length as w), compact in this order:
 *   SGD       momentum != 0: s0 = velocity (Keras "momentum")          ; momentum == 0: none
 *   RMSprop   s0 = velocity (moving mean of g^2), then, if momentum > 0, the momentum buffer,
 *             then, if centered, the average gradient: momentum>0 && centered -> s1 = momentum,
 *             s2 = average_gradient; only centered -> s1 = average_gradient
 *   Adam/AdamW s0 = m (momentum), s1 = v (velocity), s2 = v_hat (only with amsgrad)
 *   Adagrad   s0 = accumulator, initialised to initial_accumulator_value (the others start at 0)
 *   Adadelta  s0 = accumulated_grad, s1 = accumulated_delta_var
 *   Adamax    s0 = m (momentum), s1 = u (exponentially weighted infinity norm)
 *   Nadam     s0 = m (momentum), s1 = v (velocity)
 *
 * Per-step scalars in o->s[] (doubles, narrowed to float inside the loops):
 *   s[7] = weight_decay * learning_rate for every kind (0 when weight decay is off).
 *   SGD      s0 lr, s1 momentum
 *   RMSprop  s0 lr, s1 rho, s2 1 - rho, s3 momentum, s4 epsilon
 *   Adam(W)  s0 alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t), s1 1 - beta_1, s2 1 - beta_2,
 *            s3 epsilon
 *   Adagrad  s0 lr, s1 epsilon
 *   Adadelta s0 lr, s1 rho, s2 1 - rho, s3 epsilon
 *   Adamax   s0 lr / (1 - beta_1^t), s1 1 - beta_1, s2 beta_2, s3 epsilon
 *   Nadam    s0 lr, s1 1 - beta_1, s2 1 - beta_2, s3 u_{t+1} / (1 - u_prod_t * u_{t+1}),
 *            s4 (1 - u_t) / (1 - u_prod_t), s5 1 / (1 - beta_2^t), s6 epsilon
 * with t = iterations + 1, as Keras' local_step.
 *
 * The loops are written so GCC vectorises them at -O3 for the baseline ISA: restrict pointers,
 * no calls but sqrtf/fabsf (inlined to vector instructions under -fno-math-errno), max as a
 * comparison, and loop-invariant choices (weight decay on/off, nesterov, amsgrad ...) hoisted
 * into separately instantiated loops rather than tested per element.
 */
#include <math.h>

#include "annc.h"

#if defined(__GNUC__) || defined(__clang__)
#define ANNC_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define ANNC_INLINE static __forceinline
#else
#define ANNC_INLINE static inline
#endif

int annc_opt_num_slots(const annc_optimizer *o) {
    switch (o->kind) {
    case ANNC_OPT_SGD:
        return o->momentum != 0.0f ? 1 : 0;
    case ANNC_OPT_RMSPROP:
        return 1 + (o->momentum > 0.0f) + (o->centered != 0);
    case ANNC_OPT_ADAM:
    case ANNC_OPT_ADAMW:
        return o->amsgrad ? 3 : 2;
    case ANNC_OPT_ADAGRAD:
        return 1;
    case ANNC_OPT_ADADELTA:
    case ANNC_OPT_ADAMAX:
    case ANNC_OPT_NADAM:
        return 2;
    default:
        return ANNC_ERR_ARG;
    }
}

void annc_opt_prepare(annc_optimizer *o) {
    const double lr = o->learning_rate;
    const double t = (double)o->iterations + 1.0;
    const double b1 = o->beta_1, b2 = o->beta_2;
    double *s = o->s;
    for (int i = 0; i < 8; i++) s[i] = 0.0;
    s[7] = (double)o->weight_decay * lr;
    switch (o->kind) {
    case ANNC_OPT_SGD:
        s[0] = lr;
        s[1] = o->momentum;
        break;
    case ANNC_OPT_RMSPROP:
        s[0] = lr;
        s[1] = o->rho;
        s[2] = 1.0 - (double)o->rho;
        s[3] = o->momentum;
        s[4] = o->epsilon;
        break;
    case ANNC_OPT_ADAM:
    case ANNC_OPT_ADAMW:
        s[0] = lr * sqrt(1.0 - pow(b2, t)) / (1.0 - pow(b1, t));
        s[1] = 1.0 - b1;
        s[2] = 1.0 - b2;
        s[3] = o->epsilon;
        break;
    case ANNC_OPT_ADAGRAD:
        s[0] = lr;
        s[1] = o->epsilon;
        break;
    case ANNC_OPT_ADADELTA:
        s[0] = lr;
        s[1] = o->rho;
        s[2] = 1.0 - (double)o->rho;
        s[3] = o->epsilon;
        break;
    case ANNC_OPT_ADAMAX:
        s[0] = lr / (1.0 - pow(b1, t));
        s[1] = 1.0 - b1;
        s[2] = b2;
        s[3] = o->epsilon;
        break;
    case ANNC_OPT_NADAM: {
        /* Dozat's momentum schedule u_t = beta_1 (1 - 0.5 * 0.96^t); Keras multiplies the
         * running product by u_t before the variables are updated, so the step sees
         * u_prod_t = u_1 ... u_t, and peeks one step ahead with u_{t+1}. */
        const double u_t = b1 * (1.0 - 0.5 * pow(0.96, t));
        const double u_t1 = b1 * (1.0 - 0.5 * pow(0.96, t + 1.0));
        const double u_prod_t = o->u_product * u_t;
        const double u_prod_t1 = u_prod_t * u_t1;
        o->u_product = u_prod_t;
        s[0] = lr;
        s[1] = 1.0 - b1;
        s[2] = 1.0 - b2;
        s[3] = u_t1 / (1.0 - u_prod_t1);
        s[4] = (1.0 - u_t) / (1.0 - u_prod_t);
        s[5] = 1.0 / (1.0 - pow(b2, t));
        s[6] = o->epsilon;
        break;
    }
    default:
        break;
    }
}

/* Base-optimizer weight decay, applied before the update as Keras' _apply_weight_decay does;
 * `on` is a compile-time constant at every call site, so the test disappears. */
ANNC_INLINE float decayed(float w, float wd_lr, int on) { return on ? w - w * wd_lr : w; }

ANNC_INLINE void sgd_plain(float *restrict w, const float *restrict g, ptrdiff_t n, float lr,
                           float wdl, int wd) {
    for (ptrdiff_t i = 0; i < n; i++) w[i] = decayed(w[i], wdl, wd) - g[i] * lr;
}

ANNC_INLINE void sgd_momentum(float *restrict w, const float *restrict g, float *restrict m,
                              ptrdiff_t n, float lr, float mom, int nesterov, float wdl, int wd) {
    for (ptrdiff_t i = 0; i < n; i++) {
        const float wi = decayed(w[i], wdl, wd);
        const float mi = m[i] * mom - g[i] * lr;
        m[i] = mi;
        w[i] = nesterov ? wi + (mi * mom - g[i] * lr) : wi + mi;
    }
}

ANNC_INLINE void rmsprop(float *restrict w, const float *restrict g, float *restrict v,
                         float *restrict mom_buf, float *restrict avg, ptrdiff_t n, const double *s,
                         int has_mom, int centered, float wdl, int wd) {
    const float lr = (float)s[0], rho = (float)s[1], omr = (float)s[2], mom = (float)s[3];
    const float eps = (float)s[4];
    for (ptrdiff_t i = 0; i < n; i++) {
        const float wi = decayed(w[i], wdl, wd);
        const float gi = g[i];
        const float vi = rho * v[i] + omr * (gi * gi);
        v[i] = vi;
        float denom;
        if (centered) {
            const float ai = rho * avg[i] + omr * gi;
            avg[i] = ai;
            denom = vi - ai * ai + eps;
        } else {
            denom = vi + eps;
        }
        const float inc = (lr * gi) / sqrtf(denom);
        if (has_mom) {
            const float mi = mom * mom_buf[i] + inc;
            mom_buf[i] = mi;
            w[i] = wi - mi;
        } else {
            w[i] = wi - inc;
        }
    }
}

ANNC_INLINE void adam(float *restrict w, const float *restrict g, float *restrict m,
                      float *restrict v, float *restrict vhat, ptrdiff_t n, const double *s,
                      int amsgrad, float wdl, int wd) {
    const float alpha = (float)s[0], omb1 = (float)s[1], omb2 = (float)s[2], eps = (float)s[3];
    for (ptrdiff_t i = 0; i < n; i++) {
        const float wi = decayed(w[i], wdl, wd);
        const float gi = g[i];
        const float mi = m[i] + (gi - m[i]) * omb1;
        float vi = v[i] + (gi * gi - v[i]) * omb2;
        m[i] = mi;
        v[i] = vi;
        if (amsgrad) {
            const float h = vhat[i];
            vi = h > vi ? h : vi;
            vhat[i] = vi;
        }
        w[i] = wi - (mi * alpha) / (sqrtf(vi) + eps);
    }
}

ANNC_INLINE void adagrad(float *restrict w, const float *restrict g, float *restrict acc,
                         ptrdiff_t n, const double *s, float wdl, int wd) {
    const float lr = (float)s[0], eps = (float)s[1];
    for (ptrdiff_t i = 0; i < n; i++) {
        const float wi = decayed(w[i], wdl, wd);
        const float gi = g[i];
        const float ai = acc[i] + gi * gi;
        acc[i] = ai;
        w[i] = wi - (lr * gi) / sqrtf(ai + eps);
    }
}

ANNC_INLINE void adadelta(float *restrict w, const float *restrict g, float *restrict ag,
                          float *restrict adv, ptrdiff_t n, const double *s, float wdl, int wd) {
    const float lr = (float)s[0], rho = (float)s[1], omr = (float)s[2], eps = (float)s[3];
    for (ptrdiff_t i = 0; i < n; i++) {
        const float wi = decayed(w[i], wdl, wd);
        const float gi = g[i];
        const float agi = rho * ag[i] + omr * (gi * gi);
        ag[i] = agi;
        const float delta = -((sqrtf(adv[i] + eps) * gi) / sqrtf(agi + eps));
        adv[i] = rho * adv[i] + omr * (delta * delta);
        w[i] = wi + lr * delta;
    }
}

ANNC_INLINE void adamax(float *restrict w, const float *restrict g, float *restrict m,
                        float *restrict u, ptrdiff_t n, const double *s, float wdl, int wd) {
    const float lr_c = (float)s[0], omb1 = (float)s[1], b2 = (float)s[2], eps = (float)s[3];
    for (ptrdiff_t i = 0; i < n; i++) {
        const float wi = decayed(w[i], wdl, wd);
        const float gi = g[i];
        const float mi = m[i] + (gi - m[i]) * omb1;
        const float bu = b2 * u[i], ag = fabsf(gi);
        const float ui = bu > ag ? bu : ag;
        m[i] = mi;
        u[i] = ui;
        w[i] = wi - (lr_c * mi) / (ui + eps);
    }
}

ANNC_INLINE void nadam(float *restrict w, const float *restrict g, float *restrict m,
                       float *restrict v, ptrdiff_t n, const double *s, float wdl, int wd) {
    const float lr = (float)s[0], omb1 = (float)s[1], omb2 = (float)s[2];
    const float c_m = (float)s[3], c_g = (float)s[4], c_v = (float)s[5], eps = (float)s[6];
    for (ptrdiff_t i = 0; i < n; i++) {
        const float wi = decayed(w[i], wdl, wd);
        const float gi = g[i];
        const float mi = m[i] + (gi - m[i]) * omb1;
        const float vi = v[i] + (gi * gi - v[i]) * omb2;
        m[i] = mi;
        v[i] = vi;
        const float m_hat = c_m * mi + c_g * gi;
        w[i] = wi - (m_hat * lr) / (sqrtf(vi * c_v) + eps);
    }
}

/* Each kernel instantiated with weight decay off and on; the flags are literals here so that
 * GCC specialises every loop body instead of branching per element. */
#define WITH_WD(call_wd0, call_wd1) \
    do {                            \
        if (wd_on) {                \
            call_wd1;               \
        } else {                    \
            call_wd0;               \
        }                           \
    } while (0)

void annc_opt_apply(const annc_optimizer *o, float *w, const float *g, float *s0, float *s1,
                    float *s2, ptrdiff_t n) {
    if (n <= 0) return;
    const double *s = o->s;
    const float wdl = (float)s[7];
    const int wd_on = wdl != 0.0f;
    switch (o->kind) {
    case ANNC_OPT_SGD:
        if (o->momentum == 0.0f) {
            WITH_WD(sgd_plain(w, g, n, (float)s[0], wdl, 0),
                    sgd_plain(w, g, n, (float)s[0], wdl, 1));
        } else if (o->nesterov) {
            WITH_WD(sgd_momentum(w, g, s0, n, (float)s[0], (float)s[1], 1, wdl, 0),
                    sgd_momentum(w, g, s0, n, (float)s[0], (float)s[1], 1, wdl, 1));
        } else {
            WITH_WD(sgd_momentum(w, g, s0, n, (float)s[0], (float)s[1], 0, wdl, 0),
                    sgd_momentum(w, g, s0, n, (float)s[0], (float)s[1], 0, wdl, 1));
        }
        break;
    case ANNC_OPT_RMSPROP: {
        const int has_mom = o->momentum > 0.0f, centered = o->centered != 0;
        float *avg = centered ? (has_mom ? s2 : s1) : 0;
        float *mb = has_mom ? s1 : 0;
        if (has_mom && centered)
            WITH_WD(rmsprop(w, g, s0, mb, avg, n, s, 1, 1, wdl, 0),
                    rmsprop(w, g, s0, mb, avg, n, s, 1, 1, wdl, 1));
        else if (has_mom)
            WITH_WD(rmsprop(w, g, s0, mb, avg, n, s, 1, 0, wdl, 0),
                    rmsprop(w, g, s0, mb, avg, n, s, 1, 0, wdl, 1));
        else if (centered)
            WITH_WD(rmsprop(w, g, s0, mb, avg, n, s, 0, 1, wdl, 0),
                    rmsprop(w, g, s0, mb, avg, n, s, 0, 1, wdl, 1));
        else
            WITH_WD(rmsprop(w, g, s0, mb, avg, n, s, 0, 0, wdl, 0),
                    rmsprop(w, g, s0, mb, avg, n, s, 0, 0, wdl, 1));
        break;
    }
    case ANNC_OPT_ADAM:
    case ANNC_OPT_ADAMW:
        if (o->amsgrad)
            WITH_WD(adam(w, g, s0, s1, s2, n, s, 1, wdl, 0), adam(w, g, s0, s1, s2, n, s, 1, wdl, 1));
        else
            WITH_WD(adam(w, g, s0, s1, s2, n, s, 0, wdl, 0), adam(w, g, s0, s1, s2, n, s, 0, wdl, 1));
        break;
    case ANNC_OPT_ADAGRAD:
        WITH_WD(adagrad(w, g, s0, n, s, wdl, 0), adagrad(w, g, s0, n, s, wdl, 1));
        break;
    case ANNC_OPT_ADADELTA:
        WITH_WD(adadelta(w, g, s0, s1, n, s, wdl, 0), adadelta(w, g, s0, s1, n, s, wdl, 1));
        break;
    case ANNC_OPT_ADAMAX:
        WITH_WD(adamax(w, g, s0, s1, n, s, wdl, 0), adamax(w, g, s0, s1, n, s, wdl, 1));
        break;
    case ANNC_OPT_NADAM:
        WITH_WD(nadam(w, g, s0, s1, n, s, wdl, 0), nadam(w, g, s0, s1, n, s, wdl, 1));
        break;
    default:
        break;
    }
}
