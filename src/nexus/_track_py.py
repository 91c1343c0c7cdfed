"""``Track`` in pure Python: the twin of the compiled ``nexus._track``.

One request on one backend, counted correctly on every way out.

``Registry.track(backend_id)`` returns a ``Track``; use it as ``with`` or ``async with``. The
pending counter goes up on enter and down on exit, whatever the way out - a normal return, an
exception, ``asyncio.CancelledError``, ``KeyboardInterrupt``, a generator closed while suspended
inside the block - because ``__exit__``/``__aexit__`` run for every one of them and do nothing that
can fail before the decrement.

The ``Track`` holds the backend's ``Counters`` object itself, not its id: if the backend is removed
from the registry while the request is in flight, exit updates the counters of the (now detached)
backend and raises nothing; nothing in the registry is touched.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from nexus._validate import U32_MAX, check_str, describe

if TYPE_CHECKING:
    from nexus.backend import Backend

__all__ = ["RECORD_LATENCY_MODES", "Track", "check_record_latency", "registry_track"]

RECORD_LATENCY_MODES = ("success", "always", "never")
"""When ``Track`` feeds the elapsed time to ``update_latency``."""

_NS_PER_MS = 1_000_000
_NOT_STARTED = -1
_FINISHED = -2
_ENTERING = -3  # claimed by one __enter__, counters not yet incremented
_claim_lock = threading.Lock()  # guards only the state claims below: two compare-and-sets


def check_record_latency(value: object) -> str:
    """``record_latency``: one of ``"success"``, ``"always"``, ``"never"``."""
    if isinstance(value, str) and value in RECORD_LATENCY_MODES:
        return str.__str__(value)
    if not isinstance(value, str):
        raise TypeError(
            f"record_latency must be a str, got {type(value).__name__} {describe(value)}"
        )
    raise ValueError(
        f"record_latency must be one of {', '.join(map(repr, RECORD_LATENCY_MODES))}, "
        f"got {describe(value)}"
    )


class Track:
    """A context manager (sync and async) that counts one request on one backend.

    Enter: ``increment_pending`` then ``increment_total_requests`` (if the second overflows, the
    first is undone). Exit: ``decrement_pending``; then, if ``record_latency`` is ``"always"``, or
    ``"success"`` (the default) and the block raised nothing, the elapsed monotonic time in whole
    milliseconds goes to ``update_latency``. Failures are not timed by default because a backend
    that fails fast would otherwise look like the fastest one to the ``smart`` strategy.

    Exit never raises and never swallows the block's exception. One ``Track`` counts one request:
    entering it a second time raises ``RuntimeError``.
    """

    __slots__ = ("_backend", "_counters", "_record", "_started")

    def __init__(self, backend: Backend, record_latency: str = "success") -> None:
        self._backend = backend
        self._counters = backend._counters
        self._record = check_record_latency(record_latency)
        self._started = _NOT_STARTED

    @property
    def backend(self) -> Backend:
        """The backend this request runs on."""
        return self._backend

    def __repr__(self) -> str:
        state = {_NOT_STARTED: "not started", _FINISHED: "finished"}.get(self._started, "in flight")
        return f"<Track {self._backend.id!r} {state}>"

    def __enter__(self) -> Backend:
        # Claim the Track first: two threads entering one shared Track must not both count.
        with _claim_lock:
            if self._started != _NOT_STARTED:
                raise RuntimeError(
                    "a Track counts one request: create a new one with registry.track()"
                )
            self._started = _ENTERING
        counters = self._counters
        try:
            counters.increment_pending()
            try:
                counters.increment_total_requests()
            except BaseException:
                counters.decrement_pending()
                raise
        except BaseException:
            self._started = _FINISHED
            raise
        self._started = time.monotonic_ns()
        return self._backend

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with _claim_lock:  # one exit only, even from racing threads
            started = self._started
            if started < 0:  # not entered, or already exited: nothing of ours is pending
                return
            self._started = _FINISHED
        elapsed_ms = (time.monotonic_ns() - started) // _NS_PER_MS
        counters = self._counters
        counters.decrement_pending()
        record = self._record
        if record == "always" or (record == "success" and exc_type is None):
            counters.update_latency(elapsed_ms if elapsed_ms < U32_MAX else U32_MAX)

    async def __aenter__(self) -> Backend:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)


_backend_class: type[Backend] | None = None


def backend_class() -> type[Backend]:
    """``nexus.backend.Backend``, imported on first use (that module imports this one)."""
    global _backend_class
    if _backend_class is None:
        from nexus.backend import Backend

        _backend_class = Backend
    return _backend_class


def track_slow(registry: Any, backend: object, record_latency: str, track_type: type) -> Any:
    """``registry.track`` for anything but a registered id given as an exact ``str``."""
    from nexus.errors import BackendNotFoundError

    if isinstance(backend, backend_class()):
        if backend._owner is not registry:
            raise BackendNotFoundError(backend.id)
        return track_type(backend, record_latency)
    key = check_str(backend, "backend_id")
    found = registry._backends.get(key)
    if found is None:
        raise BackendNotFoundError(key)
    return track_type(found, record_latency)


def registry_track(self: Any, backend: str | Backend, *, record_latency: str = "success") -> Track:
    """Count one request on a backend: ``with registry.track(id) as backend: ...``.

    Also ``async with``. On enter: ``increment_pending`` and ``increment_total_requests``. On
    exit, whatever the way out (return, exception, cancellation, ``KeyboardInterrupt``,
    generator close): ``decrement_pending``, and the elapsed monotonic time in whole
    milliseconds goes to ``update_latency`` when ``record_latency`` says so: ``"success"``
    (default: only when the block raised nothing, so fast failures do not make a broken backend
    look fast), ``"always"`` or ``"never"``. ``backend`` is an id or a ``Backend`` of this
    registry (else ``BackendNotFoundError``, raised here). A backend removed while the request is
    in flight is fine: exit updates its (now detached) counters and raises nothing.
    """
    if type(backend) is str:
        found = self._backends.get(backend)
        if found is not None:
            return Track(found, record_latency)
    elif type(backend) is backend_class() and backend._owner is self:
        return Track(backend, record_latency)
    result: Track = track_slow(self, backend, record_latency, Track)
    return result
