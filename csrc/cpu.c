/* CPU feature detection and the kernel dispatch table.
 * Compiled without any ISA flags: it must run on every x86-64 (and non-x86) CPU, and it is
 * the only place that decides whether the AVX2+FMA kernels may be entered. */
#include <stdlib.h>
#include <string.h>

#include "annc.h"
#include "internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define ANNC_X86 1
#if defined(_MSC_VER)
#include <intrin.h>
static void cpuid(int leaf, int sub, unsigned r[4]) {
    int v[4];
    __cpuidex(v, leaf, sub);
    memcpy(r, v, sizeof v);
}
static unsigned long long xgetbv0(void) { return _xgetbv(0); }
#else
#include <cpuid.h>
static void cpuid(int leaf, int sub, unsigned r[4]) {
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}
static unsigned long long xgetbv0(void) {
    unsigned lo, hi;
    /* xgetbv by opcode so no -mxsave flag is needed */
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif
#endif

int annc_cpu_has_avx2_fma(void) {
#ifdef ANNC_X86
    unsigned r[4];
    cpuid(0, 0, r);
    if (r[0] < 7) return 0;
    cpuid(1, 0, r);
    const int fma = (r[2] >> 12) & 1, osxsave = (r[2] >> 27) & 1, avx = (r[2] >> 28) & 1;
    if (!(fma && osxsave && avx)) return 0;
    /* The OS must save the YMM state (XCR0 bits 1 and 2), else AVX faults. */
    if ((xgetbv0() & 0x6) != 0x6) return 0;
    cpuid(7, 0, r);
    return (r[1] >> 5) & 1; /* AVX2 */
#else
    return 0;
#endif
}

/* The table is written once; every reader sees either the zeroed or the final state, and both
 * writers write identical values, so a benign race on first use cannot produce a wrong table. */
static annc_kernels g_kernels;
static volatile int g_kernels_ready;

static void fill_table(annc_kernels *t) {
    const char *force = getenv("ANNC_ISA");
    int want_generic = force && (strcmp(force, "generic") == 0 || strcmp(force, "GENERIC") == 0);
    annc_kernels_generic(t);
#ifdef ANNC_HAVE_AVX2_KERNELS
    if (!want_generic && annc_cpu_has_avx2_fma()) {
        annc_kernels_avx2(t);
        annc_zeroskip_avx2(t);
        annc_narrow_avx2(t);
        annc_expf_avx2(t);
        annc_blocksums_avx2(t);
        annc_head_avx2(t);
    }
#else
    (void)want_generic;
#endif
}

const annc_kernels *annc_kernels_get(void) {
    if (!g_kernels_ready) {
        annc_kernels t;
        memset(&t, 0, sizeof t);
        fill_table(&t);
        g_kernels = t;
        g_kernels_ready = 1;
    }
    return &g_kernels;
}

int annc_isa(void) { return annc_kernels_get()->isa; }

const char *annc_isa_name(int isa) {
    switch (isa) {
    case ANNC_ISA_AVX2: return "avx2-fma";
    case ANNC_ISA_GENERIC: return "generic";
    default: return "unknown";
    }
}

int annc_openmp_enabled(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int annc_omp_max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
