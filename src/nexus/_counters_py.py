"""Live load counters of a backend in pure Python: the twin of the compiled ``nexus._counters``.

Same names, same behaviour, same errors. Each ``Counters`` has its own lock, so the twin stays
exact on a free-threaded CPython where the GIL no longer serialises ``+= 1``.
"""

from __future__ import annotations

import logging
import threading

from nexus._validate import U32_MAX, U64_MAX, check_str, latency_error
from nexus.errors import BackendNotFoundError

__all__ = ["ATOMIC_IMPLEMENTATION", "CounterTable", "Counters"]

ATOMIC_IMPLEMENTATION = "python-lock"

_logger = logging.getLogger("nexus")


def _latency_arg(value: object) -> int:
    if type(value) is int or (isinstance(value, int) and not isinstance(value, bool)):
        number = int.__index__(value)
        if 0 <= number <= U32_MAX:
            return number
    raise latency_error(value)


class Counters:
    """The three live counters of one backend.

    ``pending_requests`` (in flight, unsigned 32-bit), ``total_requests`` (lifetime, unsigned
    64-bit) and ``avg_latency_ms`` (integer EMA with alpha 1/5, unsigned 32-bit). Increments raise
    ``OverflowError`` at the maximum and leave the counter there; the pending decrement saturates at 0.
    """

    __slots__ = ("_backend_id", "_latency", "_lock", "_pending", "_total")

    def __init__(self, backend_id: str) -> None:
        if not isinstance(backend_id, str):
            raise TypeError(f"Counters() argument 'backend_id' must be str, not {type(backend_id)}")
        self._backend_id = backend_id
        self._lock = threading.Lock()
        self._pending = 0
        self._total = 0
        self._latency = 0

    @property
    def backend_id(self) -> str:
        """The id of the backend these counters belong to (named in errors and warnings)."""
        return self._backend_id

    @property
    def pending_requests(self) -> int:
        """Requests in flight now."""
        return self._pending

    @property
    def total_requests(self) -> int:
        """Requests started over the backend's lifetime."""
        return self._total

    @property
    def avg_latency_ms(self) -> int:
        """Exponential moving average of latency in ms (0: no sample yet)."""
        return self._latency

    def increment_pending(self) -> int:
        """Add one request in flight; returns the new value."""
        with self._lock:
            if self._pending == U32_MAX:
                raise OverflowError(
                    f"pending_requests of backend {self.backend_id!r} is at its maximum {U32_MAX}"
                )
            self._pending += 1
            return self._pending

    def decrement_pending(self) -> int:
        """Take one request off, saturating at 0 (with a WARNING on the ``nexus`` logger)."""
        with self._lock:
            if self._pending:
                self._pending -= 1
                return self._pending
        _logger.warning(
            "decrement_pending on backend %r with no request pending; the counter stays at 0",
            self.backend_id,
        )
        return 0

    def increment_total_requests(self) -> int:
        """Count one more request over the lifetime; returns the new value."""
        with self._lock:
            if self._total == U64_MAX:
                raise OverflowError(
                    f"total_requests of backend {self.backend_id!r} is at its maximum {U64_MAX}"
                )
            self._total += 1
            return self._total

    def update_latency(self, latency_ms: int) -> int:
        """Fold one latency sample (int ms, 0..2**32-1) into the EMA; returns the new average."""
        sample = _latency_arg(latency_ms)
        with self._lock:
            old = self._latency
            self._latency = sample if old == 0 else (sample + 4 * old) // 5
            return self._latency

    def _force(
        self, pending: int | None = None, total: int | None = None, latency: int | None = None
    ) -> None:
        """Test only: set counters directly (to reach the limits without 2**32 calls)."""
        for value, high in ((pending, U32_MAX), (total, U64_MAX), (latency, U32_MAX)):
            if value is not None and not 0 <= value <= high:
                raise OverflowError(f"value {value} out of range 0..{high}")
        with self._lock:
            if pending is not None:
                self._pending = pending
            if total is not None:
                self._total = total
            if latency is not None:
                self._latency = latency

    def __repr__(self) -> str:
        return (
            f"Counters(backend_id={self.backend_id!r}, pending_requests={self.pending_requests}, "
            f"total_requests={self.total_requests}, avg_latency_ms={self.avg_latency_ms})"
        )


class CounterTable:
    """Backend id -> ``Counters``: the by-id counter operations of a ``Registry``.

    ``add`` and ``discard`` must be serialised by the caller (the registry's write lock); every
    other method is safe from any thread.
    """

    __slots__ = ("_by_id",)

    def __init__(self) -> None:
        self._by_id: dict[str, Counters] = {}

    def add(self, backend_id: str, counters: Counters) -> None:
        """Register ``counters`` under ``backend_id`` (caller holds the write lock)."""
        self._by_id[backend_id] = counters

    def discard(self, backend_id: str) -> None:
        """Forget ``backend_id`` if present (caller holds the write lock)."""
        self._by_id.pop(backend_id, None)

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, backend_id: str) -> Counters:
        """The ``Counters`` of ``backend_id``; ``BackendNotFoundError`` if it is not registered."""
        if type(backend_id) is str:
            found = self._by_id.get(backend_id)
            if found is not None:
                return found
        key = check_str(backend_id, "backend_id")
        found = self._by_id.get(key)
        if found is None:
            raise BackendNotFoundError(key)
        return found

    def increment_pending(self, backend_id: str) -> int:
        """Atomically add one request in flight to ``backend_id``; returns the new value."""
        return self.get(backend_id).increment_pending()

    def decrement_pending(self, backend_id: str) -> int:
        """Atomically take one request off ``backend_id``, saturating at 0; returns the new value."""
        return self.get(backend_id).decrement_pending()

    def increment_total_requests(self, backend_id: str) -> int:
        """Atomically count one more request for ``backend_id``; returns the new value."""
        return self.get(backend_id).increment_total_requests()

    def update_latency(self, backend_id: str, latency_ms: int) -> None:
        """Fold one latency sample into ``backend_id``'s EMA (under the counters' lock)."""
        self.get(backend_id).update_latency(latency_ms)
