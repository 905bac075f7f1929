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

#include "internal.h"

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

/* the portable instantiation; optim_avx2.c makes the AVX2 one */
int annc_opt_apply_generic(const annc_optimizer *o, float *w, const float *g, float *s0,
                           float *s1, float *s2, ptrdiff_t n);
#define ANNC_OPT_APPLY_NAME annc_opt_apply_generic
#include "optim_kernels.h"

#ifdef ANNC_HAVE_AVX2_KERNELS
int annc_opt_apply_avx2(const annc_optimizer *o, float *w, const float *g, float *s0, float *s1,
                        float *s2, ptrdiff_t n);
#endif

/* The update is bound by sqrt and division throughput: 8-wide AVX2 halves its cost. */
int annc_opt_apply_finite(const annc_optimizer *o, float *w, const float *g, float *s0,
                          float *s1, float *s2, ptrdiff_t n) {
#ifdef ANNC_HAVE_AVX2_KERNELS
    if (annc_isa() == ANNC_ISA_AVX2) return annc_opt_apply_avx2(o, w, g, s0, s1, s2, n);
#endif
    return annc_opt_apply_generic(o, w, g, s0, s1, s2, n);
}

void annc_opt_apply(const annc_optimizer *o, float *w, const float *g, float *s0, float *s1,
                    float *s2, ptrdiff_t n) {
    (void)annc_opt_apply_finite(o, w, g, s0, s1, s2, n);
}
