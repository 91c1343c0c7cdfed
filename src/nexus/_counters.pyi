"""Type stub of the compiled ``nexus._counters``: the same API as the pure twin ``_counters_py``.

Checked against the built module by ``python -m mypy.stubtest nexus._counters`` and against the
pure twin by ``tests/test_stub.py``; a change to either twin must land here too.
"""

from typing import Final

from typing_extensions import disjoint_base

ATOMIC_IMPLEMENTATION: Final[str]
"""Which atomics the build uses (``"c11-stdatomic"``, ``"gnu-builtins"`` or ``"msvc-interlocked"``)."""

@disjoint_base
class Counters:
    """The three live counters of one backend (pending u32, total u64, EMA latency u32)."""

    def __init__(self, backend_id: str) -> None: ...
    @property
    def backend_id(self) -> str:
        """The id of the backend these counters belong to."""
    @property
    def pending_requests(self) -> int:
        """Requests in flight now."""
    @property
    def total_requests(self) -> int:
        """Requests started over the backend's lifetime."""
    @property
    def avg_latency_ms(self) -> int:
        """Exponential moving average of latency in ms (0: no sample yet)."""
    def increment_pending(self) -> int:
        """Add one request in flight; returns the new value."""
    def decrement_pending(self) -> int:
        """Take one request off, saturating at 0 (with a WARNING on the ``nexus`` logger)."""
    def increment_total_requests(self) -> int:
        """Count one more request over the lifetime; returns the new value."""
    def update_latency(self, latency_ms: int) -> int:
        """Fold one latency sample (int ms, 0..2**32-1) into the EMA; returns the new average."""
    def _force(
        self, pending: int | None = None, total: int | None = None, latency: int | None = None
    ) -> None:
        """Test only: set counters directly (to reach the limits without 2**32 calls)."""
    def __repr__(self) -> str: ...

@disjoint_base
class CounterTable:
    """Backend id -> ``Counters``: the by-id counter operations of a ``Registry``."""

    def __init__(self) -> None: ...
    def add(self, backend_id: str, counters: Counters) -> None:
        """Register ``counters`` under ``backend_id`` (caller holds the write lock)."""
    def discard(self, backend_id: str) -> None:
        """Forget ``backend_id`` if present (caller holds the write lock)."""
    def __len__(self) -> int: ...
    def get(self, backend_id: str) -> Counters:
        """The ``Counters`` of ``backend_id``; ``BackendNotFoundError`` if it is not registered."""
    def increment_pending(self, backend_id: str) -> int:
        """Atomically add one request in flight to ``backend_id``; returns the new value."""
    def decrement_pending(self, backend_id: str) -> int:
        """Atomically take one request off ``backend_id``, saturating at 0; returns the new value."""
    def increment_total_requests(self, backend_id: str) -> int:
        """Atomically count one more request for ``backend_id``; returns the new value."""
    def update_latency(self, backend_id: str, latency_ms: int) -> None:
        """Fold one latency sample into ``backend_id``'s EMA."""

# ---- test only: present in the compiled module alone, never in the pure twin -------------------

def _hammer_one_thread(
    counters: Counters, op: str, ops: int, low: int = 1, high: int = 1
) -> tuple[int, int, int]:
    """Test only: run ``ops`` operations on this thread with the GIL released."""

def _hammer(
    counters: Counters,
    op: str,
    threads: int,
    ops_per_thread: int,
    low: int = 1,
    high: int = 1,
) -> list[tuple[int, int, int]]:
    """Test only: run ``op`` from ``threads`` OS threads at once, each with the GIL released."""
