# cython: language_level=3
"""C-level declarations of ``nexus._counters``, so other compiled modules can cimport them.

``nexus._select`` reads a ``Counters``' atomics straight from C (the pick engine walks a model's
candidates without creating a Python object per candidate); it needs the struct layout, hence this
file. ``nexus._core`` (the base of ``Registry``) calls ``CounterTable._lookup`` and the
``Counters`` operations from C, so a by-id counter call never leaves C. The atomic operations
themselves live in ``_atomic.h``.
"""

from cpython.object cimport PyObject
from libc.stdint cimport uint32_t, uint64_t

cdef extern from "_pydict.h":
    int nexus_dict_get_ref(object d, object key, PyObject **result) except -1

cdef extern from "_atomic.h" nogil:
    ctypedef uint32_t nexus_atomic_u32
    ctypedef uint64_t nexus_atomic_u64
    const char *nexus_atomic_impl
    uint32_t nexus_load_u32(nexus_atomic_u32 *p)
    uint64_t nexus_load_u64(nexus_atomic_u64 *p)
    void nexus_store_u32(nexus_atomic_u32 *p, uint32_t value)
    void nexus_store_u64(nexus_atomic_u64 *p, uint64_t value)
    bint nexus_increment_u32(nexus_atomic_u32 *p, uint32_t *result)
    bint nexus_increment_u64(nexus_atomic_u64 *p, uint64_t *result)
    uint32_t nexus_decrement_saturating_u32(nexus_atomic_u32 *p)
    uint32_t nexus_ema_update_u32(nexus_atomic_u32 *p, uint32_t sample)
    void nexus_racy_increment_u32(nexus_atomic_u32 *p)


cdef uint32_t latency_arg(object value) except? 0xFFFFFFFF


cdef class Counters:
    cdef nexus_atomic_u32 _pending
    cdef nexus_atomic_u64 _total
    cdef nexus_atomic_u32 _latency
    cdef readonly str backend_id

    cdef uint32_t _increment_pending(self) except? 0
    cdef uint32_t _decrement_pending(self)
    cdef uint64_t _increment_total(self) except? 0


cdef class CounterTable:
    cdef dict _by_id

    cdef Counters _lookup(self, object backend_id)
