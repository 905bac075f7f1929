/* The element-wise update loops, included by optim.c (baseline ISA) and optim_avx2.c (compiled
 * with -mavx2 -mfma), so both are the same source vectorised for each ISA. The includer
 * defines ANNC_OPT_APPLY_NAME, and may define ANNC_OPT_RMSPROP_PLAIN(o, w, g, v, n) for the
 * plain RMSprop, which returns 1 when every updated w is finite (0: some is not); ANNC_INLINE
 * comes from internal.h. The apply function returns what that kernel returns, and 0 (not
 * known) for every other update. */
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

int ANNC_OPT_APPLY_NAME(const annc_optimizer *o, float *w, const float *g, float *s0, float *s1,
                        float *s2, ptrdiff_t n) {
    if (n <= 0) return 1;
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
#ifdef ANNC_OPT_RMSPROP_PLAIN /* an ISA's own kernel for the default form */
            return ANNC_OPT_RMSPROP_PLAIN(o, w, g, s0, n);
#else
            WITH_WD(rmsprop(w, g, s0, mb, avg, n, s, 0, 0, wdl, 0),
                    rmsprop(w, g, s0, mb, avg, n, s, 0, 0, wdl, 1));
#endif
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
    return 0;
}
