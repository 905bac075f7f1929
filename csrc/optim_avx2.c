/* The optimizer update loops compiled for AVX2+FMA; entered only through annc_opt_apply after
 * the run-time ISA check. */
#include <math.h>

#include "annc.h"
#include "internal.h"

#define ANNC_OPT_APPLY_NAME annc_opt_apply_avx2
#include "optim_kernels.h"
