# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The one binding between annc's Python layer and its C core (csrc/).

Validation that produces user-facing messages happens in Python before anything here is called;
this module still checks every invariant the C code relies on (shapes, contiguity, sizes), so a
wrong call raises instead of crashing. Compute runs with the GIL released.
"""
import numpy as np

include "_decl.pxi"

# The C core picks its kernels and reads ANNC_ISA / ANNC_ZERO_SKIP on first use; do that here,
# on one thread, before any product can run on several.
annc_isa()
annc_zero_skip()

# ---------------------------------------------------------------- configuration

def isa_name():
    return annc_isa_name(annc_isa()).decode()

def cpu_has_avx2_fma():
    return bool(annc_cpu_has_avx2_fma())

def openmp_enabled():
    return bool(annc_openmp_enabled())

def omp_max_threads():
    return annc_omp_max_threads()

def set_zero_skip(bint on):
    """Process-wide: products with a mostly-zero left operand skip its zeros, and short-K
    products against a transposed B go by rows (same results); off: dense kernels only."""
    annc_set_zero_skip(on)

def zero_skip():
    return bool(annc_zero_skip())

def zero_skip_taken():
    """How many products have taken the zero-skipping path in this process."""
    return annc_zero_skip_taken()

def short_k_taken():
    """How many short-K products have gone by rows (annc_short_k_product) in this process."""
    return annc_short_k_taken()

def zs_given_taken():
    """How many zero-skipping products have used the masks formed while their rows were
    gathered (training's first layer), in this process."""
    return annc_zs_given_taken()

def set_narrow(bint on):
    """Process-wide: products with a C at most 16 columns wide read A and B in place (on, the
    default) or go through the packed GEMM (off); the same bits either way."""
    annc_set_narrow(on)

def narrow():
    return bool(annc_narrow())

def narrow_taken():
    """How many products have taken the in-place narrow path in this process."""
    return annc_narrow_taken()

def set_fused_head(bint on):
    """Process-wide: a training step's tail through a ReLU layer, a narrow softmax layer and a
    sparse cross-entropy goes through the fused head (on, the default) or the four calls it
    replaces (off); the same bits either way."""
    annc_set_fused_head(on)

def fused_head():
    return bool(annc_fused_head())

def fused_head_taken():
    """How many tails' shares of rows have gone through the fused head in this process."""
    return annc_fused_head_taken()

def set_block_sharing(int mode):
    """Process-wide: how training threads share the first layer's blocks (annc.h:
    annc_set_block_sharing): 1 (default) a thread takes the others' last blocks once its own
    are done, 0 fixed blocks, 2 (tests) the others' blocks first. Same results in every mode."""
    annc_set_block_sharing(mode)

def blocks_taken_over():
    """How many blocks training threads have formed from another thread's run, so far."""
    return annc_blocks_taken_over()

include "_gemm.pxi"
include "_losses.pxi"
include "_optim.pxi"
include "_rng.pxi"
include "_engine.pxi"
