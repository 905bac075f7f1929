/* Shared by optim.c and optim_avx2.c: force the update loops inline so each instantiation
 * is specialised on its constant flags. */
#ifndef ANNC_OPTIM_INLINE_H
#define ANNC_OPTIM_INLINE_H
#if defined(__GNUC__) || defined(__clang__)
#define ANNC_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define ANNC_INLINE static __forceinline
#else
#define ANNC_INLINE static inline
#endif
#endif
