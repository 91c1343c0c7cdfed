# cython: language_level=3, freethreading_compatible=True, embedsignature=True
# cython: binding=False
"""The C base of ``Registry``: its per-request calls, C end to end. Twin of ``nexus._core_py``.

A router calls ``get_backends_for_model``, ``get_backend`` and the by-id counter operations on every
request, and a Python frame costs more than the whole operation. Here they are methods of an
extension type that ``Registry`` inherits from, so a call is the interpreter's fast path for a C
method: an exact-``str`` check, one dict lookup, and for the counters one call into the counter
table (C as well when the compiled ``CounterTable`` is in use).

Thread safety: the two dicts are created here, mutated in place by the registry under its write
lock and never rebound; every value is fetched with a strong reference (``PyDict_GetItemRef`` on
3.13+, ``_pydict.h``). The published tuples and the counter table are replaced whole by writers; readers load
them inside a critical section, which is free with a GIL and a per-object lock without one.
"""

cimport cython
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF
from libc.stdint cimport uint32_t, uint64_t

from nexus._counters cimport (
    Counters,
    CounterTable,
    latency_arg,
    nexus_dict_get_ref,
    nexus_decrement_saturating_u32,
    nexus_ema_update_u32,
    nexus_increment_u32,
    nexus_increment_u64,
)

from nexus._validate import check_str

cdef extern from "Python.h":
    bint PyUnicode_CheckExact(object o)
    ctypedef struct PyMethodDef:
        pass
    ctypedef struct PyMethodDescrObject:
        PyMethodDef *d_method
    object PyDescr_NewMethod(type cls, PyMethodDef *method)


cdef inline object _get(dict mapping, object key, object default):
    cdef PyObject *found
    cdef object value
    if not nexus_dict_get_ref(mapping, key, &found):
        return default
    value = <object>found  # takes its own reference...
    Py_DECREF(value)       # ...so drop the one the lookup gave us
    return value


cdef tuple _EMPTY = ()
cdef type _METHOD_DESCRIPTOR = type(dict.get)


cdef inline Counters _counters_of(CounterTable table, object backend_id):
    """The ``Counters`` of ``backend_id``: the table's own lookup, with the exact-str hit inlined."""
    cdef PyObject *found
    cdef Counters result
    if PyUnicode_CheckExact(backend_id) and nexus_dict_get_ref(table._by_id, backend_id, &found):
        result = <Counters>found
        Py_DECREF(result)  # the lookup's reference; result holds its own
        return result
    return table._lookup(backend_id)  # normalises the id, or raises the error the table raises


HOT_METHODS = (
    "get_backend",
    "get_backends_for_model",
    "get_all_backends",
    "get_healthy_backends",
    "increment_pending",
    "decrement_pending",
    "increment_total_requests",
    "update_latency",
)
"""The per-request methods of ``RegistryCore`` (what ``own_methods`` copies)."""


cdef class RegistryCore:
    """The lock-free reads and by-id counter calls of ``Registry`` (its base class).

    ``_backends`` (id -> ``Backend``) and ``_by_model`` (model id -> tuple of ``Backend``) are
    mutated in place by the registry under its write lock; ``_all``, ``_healthy`` and ``_table``
    are replaced whole by assignment.
    """

    cdef readonly dict _backends
    cdef readonly dict _by_model
    cdef tuple _all_backends
    cdef tuple _healthy_backends
    cdef object _counter_table
    cdef CounterTable _compiled_table  # the same table when it is the compiled one, else None
    # the counter table's bound methods, fetched once per table (the path for the pure twin)
    cdef object _increment_pending
    cdef object _decrement_pending
    cdef object _increment_total_requests
    cdef object _update_latency

    def __cinit__(self, *args, **kwargs):
        self._backends = {}
        self._by_model = {}
        self._all_backends = _EMPTY
        self._healthy_backends = _EMPTY

    @property
    def _all(self):
        """Every backend, in registration order (published tuple)."""
        cdef tuple value
        with cython.critical_section(self):
            value = self._all_backends
        return value

    @_all.setter
    def _all(self, tuple backends not None):
        with cython.critical_section(self):
            self._all_backends = backends

    @property
    def _healthy(self):
        """The HEALTHY backends, in the order they became healthy (published tuple)."""
        cdef tuple value
        with cython.critical_section(self):
            value = self._healthy_backends
        return value

    @_healthy.setter
    def _healthy(self, tuple backends not None):
        with cython.critical_section(self):
            self._healthy_backends = backends

    @property
    def _table(self):
        """The ``CounterTable`` of the registry's backends."""
        cdef object value
        with cython.critical_section(self):
            value = self._counter_table
        return value

    @_table.setter
    def _table(self, table):
        increment = table.increment_pending
        decrement = table.decrement_pending
        total = table.increment_total_requests
        latency = table.update_latency
        compiled = table if type(table) is CounterTable else None
        with cython.critical_section(self):
            self._counter_table = table
            self._compiled_table = compiled
            self._increment_pending = increment
            self._decrement_pending = decrement
            self._increment_total_requests = total
            self._update_latency = latency

    @staticmethod
    def own_methods(type cls not None):
        """Give subclass ``cls`` its own method descriptors for ``RegistryCore``'s ``HOT_METHODS``.

        CPython's fastest call path for a C method (the specialised ``PRECALL``/``CALL`` for a
        method descriptor) requires ``type(self)`` to be exactly the type the descriptor was made
        for, so an inherited C method is called through the generic path. A descriptor over the
        same C function, made for ``cls``, is called through the fast one; behaviour is identical.
        Returns ``cls``.
        """
        if not issubclass(cls, RegistryCore):
            raise TypeError(f"{cls.__name__} is not a subclass of RegistryCore")
        for name in HOT_METHODS:
            inherited = RegistryCore.__dict__[name]
            if type(inherited) is not _METHOD_DESCRIPTOR:
                raise TypeError(f"RegistryCore.{name} is not a C method")
            setattr(cls, name, PyDescr_NewMethod(cls, (<PyMethodDescrObject*>inherited).d_method))
        return cls

    # ---- reads (lock-free) ------------------------------------------------------------------------

    def get_backend(self, id):
        """The backend with this id, or ``None``."""
        if PyUnicode_CheckExact(id):
            return _get(self._backends, id, None)
        return _get(self._backends, check_str(id, "backend_id"), None)

    def get_backends_for_model(self, model_id):
        """Every backend serving ``model_id``, from the model index (empty if none)."""
        if PyUnicode_CheckExact(model_id):
            return _get(self._by_model, model_id, _EMPTY)
        return _get(self._by_model, check_str(model_id, "model_id"), _EMPTY)

    def get_all_backends(self):
        """Every registered backend, in registration order."""
        cdef tuple value
        with cython.critical_section(self):
            value = self._all_backends
        return value

    def get_healthy_backends(self):
        """Backends whose status is ``HEALTHY`` (not UNKNOWN, UNHEALTHY or DRAINING).

        In the order they became healthy.
        """
        cdef tuple value
        with cython.critical_section(self):
            value = self._healthy_backends
        return value

    # ---- counters (lock-free, atomic) -------------------------------------------------------------

    # With the compiled CounterTable the operations below run the atomics inline; every path that
    # is not the plain success (overflow, decrement at 0) is handed to the Counters' own method,
    # which redoes the check and raises or logs exactly as it always does. With any other table
    # (the pure twin) the table's bound method is called.

    def increment_pending(self, id):
        """Atomically add a request in flight; returns the new value (``OverflowError`` at 2**32-1)."""
        cdef CounterTable table
        cdef Counters counters
        cdef uint32_t result
        cdef object call
        with cython.critical_section(self):
            table = self._compiled_table
        if table is not None:
            counters = _counters_of(table, id)
            if nexus_increment_u32(&counters._pending, &result):
                return result
            return counters._increment_pending()  # at the maximum: raises OverflowError
        with cython.critical_section(self):
            call = self._increment_pending
        return call(id)

    def decrement_pending(self, id):
        """Atomically take a request off, saturating at 0 (a WARNING is logged there); new value."""
        cdef CounterTable table
        cdef Counters counters
        cdef uint32_t before
        cdef object call
        with cython.critical_section(self):
            table = self._compiled_table
        if table is not None:
            counters = _counters_of(table, id)
            before = nexus_decrement_saturating_u32(&counters._pending)
            if before != 0:
                return before - 1
            # Nothing was pending: the Counters' own decrement logs the warning (or, if a request
            # was added meanwhile, takes that one off - as if this call had come just after it).
            return counters._decrement_pending()
        with cython.critical_section(self):
            call = self._decrement_pending
        return call(id)

    def increment_total_requests(self, id):
        """Atomically count one more request (64-bit); returns the new value."""
        cdef CounterTable table
        cdef Counters counters
        cdef uint64_t result
        cdef object call
        with cython.critical_section(self):
            table = self._compiled_table
        if table is not None:
            counters = _counters_of(table, id)
            if nexus_increment_u64(&counters._total, &result):
                return result
            return counters._increment_total()  # at the maximum: raises OverflowError
        with cython.critical_section(self):
            call = self._increment_total_requests
        return call(id)

    def update_latency(self, id, latency_ms):
        """Fold a latency sample (int ms) into the EMA: ``new = (sample + 4*old) // 5``, atomically."""
        cdef CounterTable table
        cdef Counters counters
        cdef object call
        with cython.critical_section(self):
            table = self._compiled_table
        if table is not None:
            counters = _counters_of(table, id)
            nexus_ema_update_u32(&counters._latency, latency_arg(latency_ms))
            return None
        with cython.critical_section(self):
            call = self._update_latency
        call(id, latency_ms)
