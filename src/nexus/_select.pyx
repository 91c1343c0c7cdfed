# cython: language_level=3, freethreading_compatible=True, embedsignature=True
"""The pick engine in C: the compiled twin of ``nexus._select_py`` (whose docstring has the rules).

A ``Candidates`` snapshot keeps, besides the tuple of backends, a C array with one 24-byte slot per
candidate: a strong reference to the backend's ``Counters`` (whose atomics sit at fixed offsets in
the object) plus the priority, capability bits and context length. A pick is one loop over that
array that loads the atomics directly: no Python object is created or even touched per candidate.
The references keep every ``Counters`` alive for the snapshot's lifetime, and a snapshot never
changes after it is built, so any number of threads may pick from it at once, GIL or not.
"""

import random

from cpython.mem cimport PyMem_Calloc, PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF, Py_XDECREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport int32_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

from nexus._counters cimport (
    Counters,
    nexus_atomic_u32,
    nexus_atomic_u64,
    nexus_dict_get_ref,
    nexus_increment_u64,
    nexus_load_u32,
)

from nexus._validate import check_str
from nexus._select_py import (
    DEFAULT_WEIGHTS,
    STRATEGIES,
    SmartWeights,
    capability_mask,
    check_exclude,
    check_min_context,
    check_weights,
    strategy_code,
)
from nexus._select_py import registry_select as _py_registry_select

__all__ = ["DEFAULT_WEIGHTS", "STRATEGIES", "Candidates", "RoundRobin", "SmartWeights",
           "registry_select", "select_backend"]

cdef enum:
    LEAST_PENDING = 0
    SMART = 1
    PRIORITY = 2
    ROUND_ROBIN = 3
    RANDOM = 4

cdef enum:
    VISION = 1
    TOOLS = 2
    JSON_MODE = 4

cdef dict _CODES = {name: code for code, name in enumerate(STRATEGIES)}
cdef object _DEFAULT_WEIGHTS = DEFAULT_WEIGHTS
cdef object _randrange = random.randrange


ctypedef struct Slot:
    PyObject *counters          # a strong reference to the backend's Counters (see __dealloc__)
    int32_t priority
    uint32_t context_length
    uint8_t capabilities
    uint8_t priority_part       # smart: 100 - clamp(priority, 0, 100), precomputed


# Where a Counters' atomics sit inside the object: a slot keeps one pointer (24 bytes a slot, the
# memory per backend matters at fleet scale) and the scan adds these offsets.
cdef Counters _probe = Counters("offset-probe")
cdef Py_ssize_t _PENDING_OFFSET = <char *>&_probe._pending - <char *><PyObject *>_probe
cdef Py_ssize_t _LATENCY_OFFSET = <char *>&_probe._latency - <char *><PyObject *>_probe
_probe = None


cdef inline nexus_atomic_u32 *_pending_of(const Slot *slot) noexcept nogil:
    return <nexus_atomic_u32 *>(<char *>slot.counters + _PENDING_OFFSET)


cdef inline nexus_atomic_u32 *_latency_of(const Slot *slot) noexcept nogil:
    return <nexus_atomic_u32 *>(<char *>slot.counters + _LATENCY_OFFSET)


cdef tuple _splice(tuple items, Py_ssize_t index, Py_ssize_t end, object item, bint insert):
    """``items[:index] + (item,) + items[end:]`` (without ``item`` unless ``insert``), built in one
    allocation: a snapshot update copies three tuples of the model's size, not nine."""
    cdef Py_ssize_t n = len(items)
    cdef Py_ssize_t position = 0
    cdef Py_ssize_t source
    cdef tuple result = PyTuple_New(index + insert + (n - end))
    cdef object value
    for source in range(index):
        value = items[source]
        Py_INCREF(value)
        PyTuple_SET_ITEM(result, position, value)  # steals the reference taken just above
        position += 1
    if insert:
        Py_INCREF(item)
        PyTuple_SET_ITEM(result, position, item)
        position += 1
    for source in range(end, n):
        value = items[source]
        Py_INCREF(value)
        PyTuple_SET_ITEM(result, position, value)
        position += 1
    return result


cdef class RoundRobin:
    """A model's round-robin cursor: an atomic count of picks, carried over to the next snapshot."""

    cdef nexus_atomic_u64 _next

    cdef inline uint64_t _advance(self) noexcept nogil:
        cdef uint64_t after = 0
        nexus_increment_u64(&self._next, &after)  # 2**64 picks are out of reach
        return after - 1

    def advance(self):
        """The number of picks before this one (then counts this one)."""
        return self._advance()


cdef inline bint _eligible(const Slot *slot, Py_ssize_t index, const uint8_t *excluded,
                           uint32_t required, uint32_t min_context) noexcept nogil:
    return ((slot.capabilities & required) == required and slot.context_length >= min_context
            and (excluded == NULL or excluded[index] == 0))


cdef Py_ssize_t _best(const Slot *slots, Py_ssize_t n, int code, bint filtered,
                      const uint8_t *excluded, uint32_t required, uint32_t min_context,
                      uint32_t w_priority, uint32_t w_load, uint32_t w_latency) noexcept nogil:
    """Index of the best eligible slot for least_pending / smart / priority, or -1.

    One loop per strategy, so the compiler sees a tight loop of loads and compares. Every
    comparison is strict: on a full tie the earlier slot (the lower id) stays.
    """
    cdef Py_ssize_t index
    cdef Py_ssize_t best = -1
    cdef const Slot *slot
    cdef uint32_t pending, latency, score
    cdef uint32_t best_pending = 0, best_latency = 0, best_score = 0
    cdef int32_t best_priority = 0
    if code == LEAST_PENDING:
        for index in range(n):
            slot = &slots[index]
            if filtered and not _eligible(slot, index, excluded, required, min_context):
                continue
            pending = nexus_load_u32(_pending_of(slot))
            if best >= 0 and pending > best_pending:
                continue
            latency = nexus_load_u32(_latency_of(slot))
            if (best < 0 or pending < best_pending or slot.priority < best_priority
                    or slot.priority == best_priority and latency < best_latency):
                best = index
                best_pending = pending
                best_priority = slot.priority
                best_latency = latency
    elif code == PRIORITY:
        for index in range(n):
            slot = &slots[index]
            if filtered and not _eligible(slot, index, excluded, required, min_context):
                continue
            if best >= 0 and slot.priority > best_priority:
                continue
            pending = nexus_load_u32(_pending_of(slot))
            latency = nexus_load_u32(_latency_of(slot))
            if (best < 0 or slot.priority < best_priority or pending < best_pending
                    or pending == best_pending and latency < best_latency):
                best = index
                best_pending = pending
                best_priority = slot.priority
                best_latency = latency
    else:
        for index in range(n):
            slot = &slots[index]
            if filtered and not _eligible(slot, index, excluded, required, min_context):
                continue
            pending = nexus_load_u32(_pending_of(slot))
            latency = nexus_load_u32(_latency_of(slot))
            score = (w_priority * slot.priority_part
                     + w_load * (100 - (100 if pending > 100 else pending))
                     + w_latency * (100 - (100 if latency > 1009 else latency // 10)))
            if best >= 0 and score < best_score:
                continue
            if (best < 0 or score > best_score or pending < best_pending
                    or pending == best_pending and (
                        slot.priority < best_priority or slot.priority == best_priority
                        and latency < best_latency)):
                best = index
                best_score = score
                best_pending = pending
                best_priority = slot.priority
                best_latency = latency
    return best


cdef class Candidates:
    """One model's HEALTHY backends, sorted by id, with what ``select`` needs: immutable.

    ``with_entry`` and ``without`` return a new snapshot sharing this one's round-robin cursor.
    """

    cdef readonly tuple backends
    cdef readonly RoundRobin cursor
    cdef Slot *_slots
    cdef Py_ssize_t _n
    cdef uint32_t _common_capabilities   # AND over every slot: a filter all of them pass is skipped
    cdef uint32_t _min_context_length    # min over every slot

    def __cinit__(self):
        self.backends = ()
        self.cursor = RoundRobin()
        self._slots = NULL
        self._n = 0
        self._common_capabilities = VISION | TOOLS | JSON_MODE
        self._min_context_length = 0xFFFFFFFF

    def __dealloc__(self):
        cdef Py_ssize_t index
        if self._slots != NULL:
            for index in range(self._n):
                Py_XDECREF(self._slots[index].counters)
            PyMem_Free(self._slots)

    @property
    def ids(self):
        """The candidates' backend ids, in order (ascending)."""
        return tuple([backend.id for backend in self.backends])

    cdef Py_ssize_t _find(self, str backend_id) except -1:
        """Where ``backend_id`` is, or would be inserted (``bisect_left`` over the ids)."""
        cdef Py_ssize_t low = 0
        cdef Py_ssize_t high = self._n
        cdef Py_ssize_t middle
        while low < high:
            middle = (low + high) // 2
            if self.backends[middle].id < backend_id:
                low = middle + 1
            else:
                high = middle
        return low

    cdef bint _holds(self, Py_ssize_t index, str backend_id) except -1:
        return index < self._n and self.backends[index].id == backend_id

    def __len__(self):
        return self._n

    def __repr__(self):
        return f"<Candidates {list(self.ids)!r}>"

    def entries(self):
        """``(backend id, priority, capability bits, context length)`` per candidate, by id."""
        return tuple([(self.backends[index].id, self._slots[index].priority,
                       self._slots[index].capabilities, self._slots[index].context_length)
                      for index in range(self._n)])

    cdef Candidates _derive(self, tuple backends, Py_ssize_t n):
        """A new snapshot with these backends, the same cursor and room for ``n`` slots.

        The caller fills every slot, then calls ``_own`` and ``_summarise``; until ``_own`` the
        snapshot holds no reference (``_n`` is 0, so dealloc releases nothing).
        """
        cdef Candidates result = Candidates.__new__(Candidates)
        result.backends = backends
        result.cursor = self.cursor
        if n:
            result._slots = <Slot *>PyMem_Malloc(n * sizeof(Slot))
            if result._slots == NULL:
                raise MemoryError()
        return result

    cdef void _own(self, Py_ssize_t n) noexcept:
        """Take a reference to each slot's Counters; from now on dealloc releases them."""
        cdef Py_ssize_t index
        for index in range(n):
            Py_INCREF(<object>self._slots[index].counters)
        self._n = n

    cdef void _summarise(self) noexcept nogil:
        cdef Py_ssize_t index
        for index in range(self._n):
            self._common_capabilities &= self._slots[index].capabilities
            if self._slots[index].context_length < self._min_context_length:
                self._min_context_length = self._slots[index].context_length

    def with_entry(self, backend, model):
        """A snapshot with ``backend`` serving ``model`` (replacing its previous entry, if any)."""
        cdef str backend_id = backend.id
        cdef Counters counters = backend._counters
        cdef Slot slot
        slot.counters = <PyObject *>counters
        slot.priority = backend.priority
        slot.priority_part = 100 - (0 if slot.priority < 0 else
                                    (100 if slot.priority > 100 else slot.priority))
        slot.context_length = model.context_length
        slot.capabilities = ((VISION if model.supports_vision else 0)
                             | (TOOLS if model.supports_tools else 0)
                             | (JSON_MODE if model.supports_json_mode else 0))
        cdef Py_ssize_t n = self._n
        cdef Py_ssize_t index = self._find(backend_id)
        cdef Py_ssize_t end = index + 1 if self._holds(index, backend_id) else index
        cdef Py_ssize_t size = n + 1 - (end - index)
        cdef Candidates result = self._derive(_splice(self.backends, index, end, backend, True),
                                              size)
        if index:
            memcpy(result._slots, self._slots, index * sizeof(Slot))
        result._slots[index] = slot
        if n > end:
            memcpy(&result._slots[index + 1], &self._slots[end], (n - end) * sizeof(Slot))
        result._own(size)
        result._summarise()
        return result

    def without(self, str backend_id not None):
        """A snapshot without ``backend_id`` (``self`` if it is not there)."""
        cdef Py_ssize_t n = self._n
        cdef Py_ssize_t index = self._find(backend_id)
        if not self._holds(index, backend_id):
            return self
        cdef Candidates result = self._derive(_splice(self.backends, index, index + 1, None, False),
                                              n - 1)
        if index:
            memcpy(result._slots, self._slots, index * sizeof(Slot))
        if n - 1 > index:
            memcpy(&result._slots[index], &self._slots[index + 1],
                   (n - 1 - index) * sizeof(Slot))
        result._own(n - 1)
        result._summarise()
        return result

    def pick(self, int code, tuple exclude not None, uint32_t required, uint32_t min_context,
             uint32_t w_priority, uint32_t w_load, uint32_t w_latency):
        """The engine: the chosen backend for checked arguments (``code``: index in STRATEGIES)."""
        if not 0 <= code < len(STRATEGIES):
            raise ValueError(f"code must be in 0..{len(STRATEGIES) - 1}, got {code}")
        return self._pick(code, exclude, required, min_context, w_priority, w_load, w_latency)

    cdef object _pick(self, int code, tuple exclude, uint32_t required, uint32_t min_context,
                      uint32_t w_priority, uint32_t w_load, uint32_t w_latency):
        cdef Py_ssize_t n = self._n
        cdef Py_ssize_t index, count, wanted
        cdef Py_ssize_t best = -1
        cdef uint8_t *excluded = NULL
        cdef bint filtered
        if n == 0:
            return None
        if exclude:
            excluded = <uint8_t *>PyMem_Calloc(n, 1)
            if excluded == NULL:
                raise MemoryError()
        try:
            if excluded != NULL:
                for backend_id in exclude:
                    index = self._find(backend_id)
                    if self._holds(index, backend_id):
                        excluded[index] = 1
            filtered = (excluded != NULL or (required & ~self._common_capabilities) != 0
                        or min_context > self._min_context_length)
            if code == ROUND_ROBIN or code == RANDOM:
                count = n
                if filtered:
                    count = 0
                    for index in range(n):
                        if _eligible(&self._slots[index], index, excluded, required, min_context):
                            count += 1
                if count == 0:
                    return None
                if code == ROUND_ROBIN:
                    wanted = <Py_ssize_t>(self.cursor._advance() % <uint64_t>count)
                else:
                    wanted = _randrange(count)
                best = wanted
                if filtered:
                    for index in range(n):
                        if _eligible(&self._slots[index], index, excluded, required, min_context):
                            if wanted == 0:
                                best = index
                                break
                            wanted -= 1
            else:
                best = _best(self._slots, n, code, filtered, excluded, required, min_context,
                             w_priority, w_load, w_latency)
        finally:
            PyMem_Free(excluded)
        if best < 0:
            return None
        return self.backends[best]


cdef object _select(candidates, strategy, exclude, require_vision, require_tools,
                    require_json_mode, min_context_length, weights):
    cdef object found = _CODES.get(strategy) if type(strategy) is str else None
    cdef int code = strategy_code(strategy) if found is None else found
    cdef uint32_t required = 0
    cdef uint32_t min_context
    cdef tuple excluded = ()
    cdef tuple weight_triple
    if require_vision is not False or require_tools is not False or require_json_mode is not False:
        required = capability_mask(require_vision, require_tools, require_json_mode)
    if type(min_context_length) is int and 0 <= min_context_length <= 0xFFFFFFFF:
        min_context = min_context_length
    else:
        min_context = check_min_context(min_context_length)
    if type(exclude) is not tuple or exclude:
        excluded = check_exclude(exclude)
    if weights is _DEFAULT_WEIGHTS:
        weight_triple = (50, 30, 20)
    else:
        weight_triple = check_weights(weights)
    if candidates is None:
        return None
    if type(candidates) is Candidates:
        return (<Candidates>candidates)._pick(code, excluded, required, min_context,
                                              weight_triple[0], weight_triple[1], weight_triple[2])
    # A pure-Python snapshot (the twins can be mixed, e.g. by the benchmarks): its own engine.
    return candidates.pick(code, excluded, required, min_context, *weight_triple)


def select_backend(candidates, strategy, exclude, require_vision, require_tools,
                   require_json_mode, min_context_length, weights):
    """Check the ``select`` arguments, then pick from ``candidates`` (``None``: no candidate)."""
    return _select(candidates, strategy, exclude, require_vision, require_tools,
                   require_json_mode, min_context_length, weights)


def registry_select(self, model_id, *, strategy="smart", exclude=(), require_vision=False,
                    require_tools=False, require_json_mode=False, min_context_length=0,
                    weights=DEFAULT_WEIGHTS):
    """Choose a HEALTHY backend serving ``model_id`` for one request; ``None`` if none fits.

    ``Registry.select``, compiled (see ``nexus._select_py.registry_select`` for the rules): the
    argument parsing, the snapshot lookup and the scan all run in C.
    """
    cdef PyObject *raw = NULL
    cdef object candidates = None
    if type(model_id) is not str:
        model_id = check_str(model_id, "model_id")
    snapshots = self._candidates
    if type(snapshots) is dict:
        if nexus_dict_get_ref(snapshots, model_id, &raw):
            candidates = <object>raw
            Py_DECREF(candidates)  # <object> took its own reference
    else:
        candidates = snapshots.get(model_id)
    return _select(candidates, strategy, exclude, require_vision, require_tools,
                   require_json_mode, min_context_length, weights)


# One text for both twins: help(Registry.select) shows the rules whichever is in use.
registry_select.__doc__ = _py_registry_select.__doc__
