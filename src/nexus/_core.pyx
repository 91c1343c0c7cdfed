# cython: language_level=3, freethreading_compatible=True, embedsignature=True, binding=False, always_allow_keywords=False
"""The C base of ``Registry``: its per-request calls, C end to end. Twin of ``nexus._core_py``.

A router calls ``get_backends_for_model``, ``get_backend`` and the by-id counter operations on every
request, and a Python frame costs more than the whole operation. Here they are methods of an
extension type that ``Registry`` inherits from, so a call is the interpreter's fast path for a C
method: an exact-``str`` check, one dict lookup, and for the counters one call into the counter
table (C as well when the compiled ``CounterTable`` is in use).

Thread safety: the two dicts are created here, mutated in place by the registry under its write
lock and never rebound; every value is fetched with a strong reference (``PyDict_GetItemRef`` on
3.13+). The published tuples and the counter table are replaced whole by writers; readers load
them inside a critical section, which is free with a GIL and a per-object lock without one.
"""

cimport cython
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF

from nexus._validate import check_str

cdef extern from "Python.h":
    bint PyUnicode_CheckExact(object o)

cdef extern from *:
    """
    /* A new reference to dict[key], or NULL with no error set when the key is absent. On 3.13+
       PyDict_GetItemRef: the borrowed reference of PyDict_GetItemWithError could be freed by
       another thread before we INCREF it when there is no GIL. */
    static PyObject *nexus_core_dict_get(PyObject *dict, PyObject *key) {
        PyObject *result;
    #if PY_VERSION_HEX >= 0x030D0000
        if (PyDict_GetItemRef(dict, key, &result) < 0) return NULL;
        return result;
    #else
        result = PyDict_GetItemWithError(dict, key);
        Py_XINCREF(result);
        return result;
    #endif
    }
    """
    PyObject *nexus_core_dict_get(object d, object key) except? NULL


cdef inline object _get(dict mapping, object key, object default):
    cdef PyObject *found = nexus_core_dict_get(mapping, key)
    cdef object value
    if found is NULL:
        return default
    value = <object>found  # takes its own reference...
    Py_DECREF(value)       # ...so drop the one the lookup gave us
    return value


cdef tuple _EMPTY = ()


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
    # the counter table's bound methods, fetched once per table
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
        with cython.critical_section(self):
            self._counter_table = table
            self._increment_pending = increment
            self._decrement_pending = decrement
            self._increment_total_requests = total
            self._update_latency = latency

    # ---- reads (lock-free) ------------------------------------------------------------------------

    def get_backend(self, backend_id):
        """The backend with this id, or ``None``."""
        if PyUnicode_CheckExact(backend_id):
            return _get(self._backends, backend_id, None)
        return _get(self._backends, check_str(backend_id, "backend_id"), None)

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

    def increment_pending(self, backend_id):
        """Atomically add a request in flight; returns the new value (``OverflowError`` at 2**32-1)."""
        cdef object call
        with cython.critical_section(self):
            call = self._increment_pending
        return call(backend_id)

    def decrement_pending(self, backend_id):
        """Atomically take a request off, saturating at 0 (a WARNING is logged there); new value."""
        cdef object call
        with cython.critical_section(self):
            call = self._decrement_pending
        return call(backend_id)

    def increment_total_requests(self, backend_id):
        """Atomically count one more request (64-bit); returns the new value."""
        cdef object call
        with cython.critical_section(self):
            call = self._increment_total_requests
        return call(backend_id)

    def update_latency(self, backend_id, latency_ms, /):
        """Fold a latency sample (int ms) into the EMA: ``new = (sample + 4*old) // 5``, atomically."""
        cdef object call
        with cython.critical_section(self):
            call = self._update_latency
        call(backend_id, latency_ms)
