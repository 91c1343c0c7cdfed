# cython: language_level=3, freethreading_compatible=True, embedsignature=True
"""``Track`` in C: the compiled twin of ``nexus._track_py`` (read its docstring for the rules).

Enter and exit work on the backend's ``Counters`` struct directly (``_counters.pxd``): no lookup by
id, no Python call per counter, so a tracked request costs about what the four by-id calls would
without a ``with``. A ``Track`` belongs to one request: share it between threads and the counts are
still never corrupted (each step is atomic), but entering it twice is refused.
"""

import time

cimport cython

from libc.stdint cimport int64_t, uint32_t

from nexus._counters cimport Counters, nexus_ema_update_u32

from nexus._track_py import RECORD_LATENCY_MODES, backend_class, check_record_latency, track_slow
from nexus._track_py import Track as _PyTrack
from nexus._track_py import registry_track as _py_registry_track

__all__ = ["RECORD_LATENCY_MODES", "Track", "check_record_latency", "registry_track"]

cdef enum:
    RECORD_SUCCESS = 0
    RECORD_ALWAYS = 1
    RECORD_NEVER = 2

cdef enum:
    NOT_STARTED = -1
    FINISHED = -2
    ENTERING = -3  # claimed by one __enter__, counters not yet incremented

cdef dict _MODES = {"success": RECORD_SUCCESS, "always": RECORD_ALWAYS, "never": RECORD_NEVER}
cdef object _monotonic_ns = time.monotonic_ns


cdef class Track:
    """A context manager (sync and async) that counts one request on one backend.

    Enter: ``increment_pending`` then ``increment_total_requests`` (if the second overflows, the
    first is undone). Exit: ``decrement_pending``; then, if ``record_latency`` is ``"always"``, or
    ``"success"`` (the default) and the block raised nothing, the elapsed monotonic time in whole
    milliseconds goes to ``update_latency``. Failures are not timed by default because a backend
    that fails fast would otherwise look like the fastest one to the ``smart`` strategy.

    Exit never raises and never swallows the block's exception. One ``Track`` counts one request:
    entering it a second time raises ``RuntimeError``.
    """

    cdef readonly object backend
    cdef Counters _counters
    cdef int _record
    cdef int64_t _started

    def __cinit__(self, backend, record_latency="success"):
        found = _MODES.get(record_latency) if type(record_latency) is str else None
        self._record = _MODES[check_record_latency(record_latency)] if found is None else found
        self._counters = backend._counters
        self.backend = backend
        self._started = NOT_STARTED

    def __repr__(self):
        state = {NOT_STARTED: "not started", FINISHED: "finished"}.get(self._started, "in flight")
        return f"<Track {self.backend.id!r} {state}>"

    def __enter__(self):
        # Claim the Track first: two threads entering one shared Track must not both count.
        with cython.critical_section(self):
            if self._started != NOT_STARTED:
                raise RuntimeError(
                    "a Track counts one request: create a new one with registry.track()"
                )
            self._started = ENTERING
        try:
            self._counters._increment_pending()
            try:
                self._counters._increment_total()
            except BaseException:
                self._counters._decrement_pending()
                raise
        except BaseException:
            self._started = FINISHED
            raise
        self._started = _monotonic_ns()
        return self.backend

    cdef inline void _finish(self, bint failed) noexcept:
        cdef int64_t started
        cdef int64_t elapsed_ms
        with cython.critical_section(self):  # one exit only, even from racing threads
            started = self._started
            if started < 0:  # not entered, or already exited: nothing of ours is pending
                return
            self._started = FINISHED
        try:
            elapsed_ms = (<int64_t>_monotonic_ns() - started) // 1000000
        except BaseException:  # cannot happen with a working clock; never lose the decrement
            elapsed_ms = 0
        self._counters._decrement_pending()
        if self._record == RECORD_ALWAYS or (self._record == RECORD_SUCCESS and not failed):
            nexus_ema_update_u32(&self._counters._latency,
                                 <uint32_t>(elapsed_ms if elapsed_ms < 0xFFFFFFFF else 0xFFFFFFFF))

    def __exit__(self, exc_type, exc, traceback):
        self._finish(exc_type is not None)

    async def __aenter__(self):
        return self.__enter__()

    async def __aexit__(self, exc_type, exc, traceback):
        self._finish(exc_type is not None)


def registry_track(self, backend, *, record_latency="success"):
    """Count one request on a backend: ``with registry.track(id) as backend: ...``.

    ``Registry.track``, compiled (see ``nexus._track_py.registry_track`` for the rules).
    """
    if type(backend) is str:
        found = self._backends.get(backend)
        if found is not None:
            return _track(found, record_latency)
    elif type(backend) is backend_class() and backend._owner is self:
        return _track(backend, record_latency)
    return track_slow(self, backend, record_latency, _track)


def _track(backend, record_latency):
    """A compiled ``Track``, or the pure one for a backend built with the pure counters (the twins
    can be mixed in one process, e.g. by the benchmarks)."""
    if type(backend._counters) is Counters:
        return Track(backend, record_latency)
    return _PyTrack(backend, record_latency)


# One text for both twins: help(Registry.track) shows the rules whichever is in use.
registry_track.__doc__ = _py_registry_track.__doc__
