/* The training step's fused head: the switch and count around annc_kernels.head
 * (head_avx2.c), which train.c calls for a tail's rows when the network ends in a ReLU layer,
 * a Dense layer of at most 16 outputs and a softmax cross-entropy over class ids fused into
 * the loss (Program 2). The unfused path is four calls on those rows: the narrow product with
 * its bias, annc_loss, the short-K product of the input gradient, the ReLU's gradient; the
 * kernel follows each one's recipe, so the results are the same bits either way. */
#include "annc.h"
#include "internal.h"

static int g_head_enabled = 1;
static annc_counter g_head_taken; /* calls this path took: tests check that it ran */

void annc_set_fused_head(int on) { g_head_enabled = on != 0; }
int annc_fused_head(void) { return g_head_enabled; }
long long annc_fused_head_taken(void) { return annc_count_read(&g_head_taken); }

int annc_head_usable(void) { return g_head_enabled && annc_kernels_get()->head != NULL; }
void annc_head_taken_add(void) { annc_count_add(&g_head_taken); }
