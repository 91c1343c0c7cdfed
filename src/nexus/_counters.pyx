# cython: language_level=3, freethreading_compatible=True, embedsignature=True
"""Live load counters of a backend as C11 atomics: the compiled twin of ``nexus._counters_py``.

Every operation is one lock-free atomic step (see ``_atomic.h``), correct with no GIL at all: the
counters hold no Python objects that change after construction, and the by-id table only reads its
dict (writes to it are serialised by the registry's lock).
"""

import logging
import threading

from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF
from libc.stdint cimport uint32_t, uint64_t

from nexus._validate import check_str, latency_error
from nexus.errors import BackendNotFoundError

cdef extern from "Python.h":
    bint PyLong_Check(object o)
    bint PyLong_CheckExact(object o)
    bint PyUnicode_CheckExact(object o)
    bint PyBool_Check(object o)
    long long PyLong_AsLongLongAndOverflow(object o, int *overflow) except? -1

# The atomic operations (_atomic.h) and the Counters fields are declared in _counters.pxd.

ATOMIC_IMPLEMENTATION = nexus_atomic_impl.decode("ascii")

cdef object _logger = logging.getLogger("nexus")


cdef uint32_t latency_arg(object value) except? 0xFFFFFFFF:
    """``value`` as a latency sample, or raise the same error as the pure twin."""
    cdef int overflow = 0
    cdef long long number
    if PyLong_CheckExact(value) or (PyLong_Check(value) and not PyBool_Check(value)):
        number = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow == 0 and 0 <= number <= 0xFFFFFFFF:
            return <uint32_t>number
    raise latency_error(value)


cdef class Counters:
    """The three live counters of one backend.

    ``pending_requests`` (in flight, unsigned 32-bit), ``total_requests`` (lifetime, unsigned
    64-bit) and ``avg_latency_ms`` (integer EMA with alpha 1/5, unsigned 32-bit). Increments raise
    ``OverflowError`` at the maximum and leave the counter there; the pending decrement saturates at 0.
    """

    def __cinit__(self, str backend_id not None):
        self.backend_id = backend_id

    @property
    def pending_requests(self):
        """Requests in flight now."""
        return nexus_load_u32(&self._pending)

    @property
    def total_requests(self):
        """Requests started over the backend's lifetime."""
        return nexus_load_u64(&self._total)

    @property
    def avg_latency_ms(self):
        """Exponential moving average of latency in ms (0: no sample yet)."""
        return nexus_load_u32(&self._latency)

    cdef inline uint32_t _increment_pending(self) except? 0:
        cdef uint32_t result
        if not nexus_increment_u32(&self._pending, &result):
            raise OverflowError(
                f"pending_requests of backend {self.backend_id!r} is at its maximum 4294967295"
            )
        return result

    cdef inline uint32_t _decrement_pending(self):
        cdef uint32_t before = nexus_decrement_saturating_u32(&self._pending)
        if before == 0:
            _logger.warning(
                "decrement_pending on backend %r with no request pending; the counter stays at 0",
                self.backend_id,
            )
            return 0
        return before - 1

    cdef inline uint64_t _increment_total(self) except? 0:
        cdef uint64_t result
        if not nexus_increment_u64(&self._total, &result):
            raise OverflowError(
                f"total_requests of backend {self.backend_id!r} is at its maximum "
                "18446744073709551615"
            )
        return result

    def increment_pending(self):
        """Add one request in flight; returns the new value."""
        return self._increment_pending()

    def decrement_pending(self):
        """Take one request off, saturating at 0 (with a WARNING on the ``nexus`` logger)."""
        return self._decrement_pending()

    def increment_total_requests(self):
        """Count one more request over the lifetime; returns the new value."""
        return self._increment_total()

    def update_latency(self, latency_ms):
        """Fold one latency sample (int ms, 0..2**32-1) into the EMA; returns the new average."""
        return nexus_ema_update_u32(&self._latency, latency_arg(latency_ms))

    def _force(self, pending=None, total=None, latency=None):
        """Test only: set counters directly (to reach the limits without 2**32 calls)."""
        cdef uint32_t new_pending = 0
        cdef uint64_t new_total = 0
        cdef uint32_t new_latency = 0
        if pending is not None:
            new_pending = pending
        if total is not None:
            new_total = total
        if latency is not None:
            new_latency = latency
        if pending is not None:
            nexus_store_u32(&self._pending, new_pending)
        if total is not None:
            nexus_store_u64(&self._total, new_total)
        if latency is not None:
            nexus_store_u32(&self._latency, new_latency)

    def __repr__(self):
        return (
            f"Counters(backend_id={self.backend_id!r}, pending_requests={self.pending_requests}, "
            f"total_requests={self.total_requests}, avg_latency_ms={self.avg_latency_ms})"
        )


cdef class CounterTable:
    """Backend id -> ``Counters``: the by-id counter operations of a ``Registry``, C end to end.

    ``add`` and ``discard`` must be serialised by the caller (the registry's write lock); every
    other method is lock-free and safe from any thread.
    """

    # cdef dict _by_id and cdef Counters _lookup(...) are declared in _counters.pxd (nexus._core
    # calls _lookup from C).

    def __cinit__(self):
        self._by_id = {}

    def add(self, str backend_id not None, Counters counters not None):
        """Register ``counters`` under ``backend_id`` (caller holds the write lock)."""
        self._by_id[backend_id] = counters

    def discard(self, str backend_id not None):
        """Forget ``backend_id`` if present (caller holds the write lock)."""
        self._by_id.pop(backend_id, None)

    def __len__(self):
        return len(self._by_id)

    cdef Counters _lookup(self, object backend_id):
        cdef PyObject *raw
        cdef Counters found
        if PyUnicode_CheckExact(backend_id) and nexus_dict_get_ref(self._by_id, backend_id, &raw):
            found = <Counters>raw
            Py_DECREF(<object>raw)
            return found
        return <Counters>_lookup_slow(self._by_id, backend_id)

    def get(self, backend_id):
        """The ``Counters`` of ``backend_id``; ``BackendNotFoundError`` if it is not registered."""
        return self._lookup(backend_id)

    def increment_pending(self, backend_id):
        """Atomically add one request in flight to ``backend_id``; returns the new value."""
        return self._lookup(backend_id)._increment_pending()

    def decrement_pending(self, backend_id):
        """Atomically take one request off ``backend_id``, saturating at 0; returns the new value."""
        return self._lookup(backend_id)._decrement_pending()

    def increment_total_requests(self, backend_id):
        """Atomically count one more request for ``backend_id``; returns the new value."""
        return self._lookup(backend_id)._increment_total()

    def update_latency(self, backend_id, latency_ms):
        """Fold one latency sample into ``backend_id``'s EMA (compare-and-swap, never lost)."""
        cdef Counters counters = self._lookup(backend_id)
        nexus_ema_update_u32(&counters._latency, latency_arg(latency_ms))


def _lookup_slow(dict by_id, backend_id):
    """Lookup for anything but an exact ``str`` hit: normalise, or raise the right error."""
    key = check_str(backend_id, "backend_id")
    found = by_id.get(key)
    if found is None:
        raise BackendNotFoundError(key)
    return found


# ---- test only: run counter operations on OS threads with the GIL released -------------------------

cdef enum HammerOp:
    OP_INCREMENT = 0
    OP_INCREMENT_DECREMENT = 1
    OP_DECREMENT = 2
    OP_EMA = 3
    OP_RACY_INCREMENT = 4

cdef dict _HAMMER_OPS = {
    "increment": OP_INCREMENT,
    "increment_decrement": OP_INCREMENT_DECREMENT,
    "decrement": OP_DECREMENT,
    "ema": OP_EMA,
    "racy_increment": OP_RACY_INCREMENT,
}


cdef void _hammer_loop(Counters counters, int op, uint64_t ops, uint32_t low, uint32_t high,
                       uint64_t *floored, uint32_t *seen_min, uint32_t *seen_max) noexcept nogil:
    cdef uint64_t i
    cdef uint32_t value = 0
    cdef uint32_t sample
    cdef uint64_t total = 0
    cdef uint64_t span = <uint64_t>high - low + 1
    for i in range(ops):
        if op == OP_INCREMENT:
            nexus_increment_u32(&counters._pending, &value)
            nexus_increment_u64(&counters._total, &total)
        elif op == OP_INCREMENT_DECREMENT:
            nexus_increment_u32(&counters._pending, &value)
            if nexus_decrement_saturating_u32(&counters._pending) == 0:
                floored[0] += 1
        elif op == OP_DECREMENT:
            if nexus_decrement_saturating_u32(&counters._pending) == 0:
                floored[0] += 1
        elif op == OP_EMA:
            sample = <uint32_t>(low + (i * 2654435761u) % span)
            value = nexus_ema_update_u32(&counters._latency, sample)
            if value < seen_min[0]:
                seen_min[0] = value
            if value > seen_max[0]:
                seen_max[0] = value
        else:
            nexus_racy_increment_u32(&counters._pending)


def _hammer_one_thread(Counters counters not None, str op not None, uint64_t ops,
                       uint32_t low=1, uint32_t high=1):
    """Test only: run ``ops`` operations on this thread with the GIL released.

    Returns ``(decrements_that_found_zero, min_ema_seen, max_ema_seen)``.
    """
    cdef int code = _HAMMER_OPS[op]
    cdef uint64_t floored = 0
    cdef uint32_t seen_min = 0xFFFFFFFF
    cdef uint32_t seen_max = 0
    if low > high:
        raise ValueError(f"low must be <= high, got {low} > {high}")
    with nogil:
        _hammer_loop(counters, code, ops, low, high, &floored, &seen_min, &seen_max)
    return floored, seen_min, seen_max


def _hammer(Counters counters not None, str op not None, int threads, uint64_t ops_per_thread,
            uint32_t low=1, uint32_t high=1):
    """Test only: run ``op`` from ``threads`` OS threads at once, each with the GIL released.

    ``op`` is one of ``increment`` (pending and total), ``increment_decrement``, ``decrement``,
    ``ema`` (samples spread over ``low..high``) or ``racy_increment`` (a deliberately non-atomic
    read-modify-write of pending). Returns one result of ``_hammer_one_thread`` per thread.
    """
    if op not in _HAMMER_OPS:
        raise ValueError(f"op must be one of {sorted(_HAMMER_OPS)}, got {op!r}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if low > high:
        raise ValueError(f"low must be <= high, got {low} > {high}")
    start = threading.Barrier(threads)
    results = [None] * threads

    def worker(index):
        start.wait()
        results[index] = _hammer_one_thread(counters, op, ops_per_thread, low, high)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return results
