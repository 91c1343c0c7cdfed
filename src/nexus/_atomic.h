/*
 * _atomic.h -- the few atomic operations nexus's counters need, behind one typed interface.
 *
 * Cython never sees an _Atomic type: it declares nexus_atomic_u32/u64 as plain integers and only
 * ever passes their addresses to the functions below.  Three implementations, chosen at compile time:
 *   1. C11 <stdatomic.h>              (GCC, Clang, MSVC >= 17.5 with /experimental:c11atomics)
 *   2. GCC/Clang __atomic builtins    (compilers that lack <stdatomic.h> or define __STDC_NO_ATOMICS__)
 *   3. MSVC Interlocked* intrinsics   (every MSVC)
 *
 * Memory order: every operation is sequentially consistent.  The counters are statistics, for which
 * relaxed would do, but a router reads pending right after another thread's increment to choose a
 * backend, and seq_cst makes "an increment that returned happens before any later load" hold on every
 * architecture for the price of one fence on ARM; on x86 loads are plain moves either way.
 *
 * 64-bit atomics on 32-bit GCC targets may need -latomic.
 */
#ifndef NEXUS_ATOMIC_H
#define NEXUS_ATOMIC_H

#include <stdint.h>

#if defined(_MSC_VER) && !defined(__clang__) && \
    (!defined(__STDC_VERSION__) || __STDC_VERSION__ < 201112L || defined(__STDC_NO_ATOMICS__))
#  define NEXUS_ATOMIC_MSVC 1
#  include <intrin.h>
typedef volatile long nexus_atomic_u32;       /* long is 32-bit on Windows */
typedef volatile __int64 nexus_atomic_u64;
#  define NEXUS_ATOMIC_IMPL "msvc-interlocked"
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && !defined(__STDC_NO_ATOMICS__)
#  define NEXUS_ATOMIC_C11 1
#  include <stdatomic.h>
typedef _Atomic uint32_t nexus_atomic_u32;
typedef _Atomic uint64_t nexus_atomic_u64;
#  define NEXUS_ATOMIC_IMPL "c11-stdatomic"
#elif defined(__GNUC__)
#  define NEXUS_ATOMIC_GNU 1
typedef uint32_t nexus_atomic_u32;
typedef uint64_t nexus_atomic_u64;
#  define NEXUS_ATOMIC_IMPL "gnu-builtins"
#else
#  error "nexus: no atomic operations known for this compiler"
#endif

static const char nexus_atomic_impl[] = NEXUS_ATOMIC_IMPL;

/* ---- primitives: load, store, compare-and-swap (strong) ---------------------------------------- */

static inline uint32_t nexus_load_u32(nexus_atomic_u32 *p) {
#if defined(NEXUS_ATOMIC_C11)
    return atomic_load_explicit(p, memory_order_seq_cst);
#elif defined(NEXUS_ATOMIC_GNU)
    return __atomic_load_n(p, __ATOMIC_SEQ_CST);
#else
    return (uint32_t)_InterlockedOr(p, 0);
#endif
}

static inline uint64_t nexus_load_u64(nexus_atomic_u64 *p) {
#if defined(NEXUS_ATOMIC_C11)
    return atomic_load_explicit(p, memory_order_seq_cst);
#elif defined(NEXUS_ATOMIC_GNU)
    return __atomic_load_n(p, __ATOMIC_SEQ_CST);
#else
    return (uint64_t)_InterlockedCompareExchange64(p, 0, 0);
#endif
}

static inline void nexus_store_u32(nexus_atomic_u32 *p, uint32_t value) {
#if defined(NEXUS_ATOMIC_C11)
    atomic_store_explicit(p, value, memory_order_seq_cst);
#elif defined(NEXUS_ATOMIC_GNU)
    __atomic_store_n(p, value, __ATOMIC_SEQ_CST);
#else
    _InterlockedExchange(p, (long)value);
#endif
}

static inline void nexus_store_u64(nexus_atomic_u64 *p, uint64_t value) {
#if defined(NEXUS_ATOMIC_C11)
    atomic_store_explicit(p, value, memory_order_seq_cst);
#elif defined(NEXUS_ATOMIC_GNU)
    __atomic_store_n(p, value, __ATOMIC_SEQ_CST);
#else
    _InterlockedExchange64(p, (__int64)value);
#endif
}

/* On failure *expected receives the current value, as in C11. */
static inline int nexus_cas_u32(nexus_atomic_u32 *p, uint32_t *expected, uint32_t desired) {
#if defined(NEXUS_ATOMIC_C11)
    return atomic_compare_exchange_strong_explicit(p, expected, desired, memory_order_seq_cst,
                                                   memory_order_seq_cst);
#elif defined(NEXUS_ATOMIC_GNU)
    return __atomic_compare_exchange_n(p, expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
#else
    long seen = _InterlockedCompareExchange(p, (long)desired, (long)*expected);
    if ((uint32_t)seen == *expected) return 1;
    *expected = (uint32_t)seen;
    return 0;
#endif
}

static inline int nexus_cas_u64(nexus_atomic_u64 *p, uint64_t *expected, uint64_t desired) {
#if defined(NEXUS_ATOMIC_C11)
    return atomic_compare_exchange_strong_explicit(p, expected, desired, memory_order_seq_cst,
                                                   memory_order_seq_cst);
#elif defined(NEXUS_ATOMIC_GNU)
    return __atomic_compare_exchange_n(p, expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
#else
    __int64 seen = _InterlockedCompareExchange64(p, (__int64)desired, (__int64)*expected);
    if ((uint64_t)seen == *expected) return 1;
    *expected = (uint64_t)seen;
    return 0;
#endif
}

/* ---- the counter operations, built on compare-and-swap ------------------------------------------ */
/* A CAS loop rather than fetch_add for the increments: a fetch_add at the maximum would wrap and be
 * visible to other threads before it could be undone.  Uncontended, the loop costs one load and one
 * locked instruction, like fetch_add. */

/* Adds 1 unless the counter is at UINT32_MAX.  Returns 1 and sets *result to the new value, or 0
 * (counter unchanged) on overflow. */
static inline int nexus_increment_u32(nexus_atomic_u32 *p, uint32_t *result) {
    uint32_t seen = nexus_load_u32(p);
    do {
        if (seen == UINT32_MAX) return 0;
    } while (!nexus_cas_u32(p, &seen, seen + 1));
    *result = seen + 1;
    return 1;
}

static inline int nexus_increment_u64(nexus_atomic_u64 *p, uint64_t *result) {
    uint64_t seen = nexus_load_u64(p);
    do {
        if (seen == UINT64_MAX) return 0;
    } while (!nexus_cas_u64(p, &seen, seen + 1));
    *result = seen + 1;
    return 1;
}

/* Subtracts 1, saturating at 0.  Returns the value before the call (0 means nothing was taken). */
static inline uint32_t nexus_decrement_saturating_u32(nexus_atomic_u32 *p) {
    uint32_t seen = nexus_load_u32(p);
    while (seen != 0 && !nexus_cas_u32(p, &seen, seen - 1)) {
    }
    return seen;
}

/* Integer EMA with alpha = 1/5: new = (sample + 4*old) / 5, or the sample itself when old is 0
 * ("no sample yet").  The sum is formed in 64 bits: 5 * (2**32 - 1) cannot overflow it, and the
 * quotient is at most max(sample, old), so it always fits back in 32 bits.  Returns the new value. */
static inline uint32_t nexus_ema_update_u32(nexus_atomic_u32 *p, uint32_t sample) {
    uint32_t seen = nexus_load_u32(p);
    uint32_t next;
    do {
        next = seen == 0 ? sample : (uint32_t)(((uint64_t)sample + 4u * (uint64_t)seen) / 5u);
    } while (!nexus_cas_u32(p, &seen, next));
    return next;
}

/* Test only: a deliberately NON-atomic read-modify-write (two separate atomic accesses), used to
 * show that the concurrency tests can detect lost updates. */
static inline void nexus_racy_increment_u32(nexus_atomic_u32 *p) {
    nexus_store_u32(p, nexus_load_u32(p) + 1);
}

#endif /* NEXUS_ATOMIC_H */
