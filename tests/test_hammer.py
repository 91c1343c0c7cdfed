"""True parallelism for the C core: counter operations from several OS threads, GIL released.

Why this module exists: with the GIL, Python threads run one at a time, so no Python-level test
can tell an atomic C counter from a plain ``+= 1`` -- both always come out exact. The test-only
entry point ``nexus._counters._hammer(counters, op, threads, ops_per_thread, low, high)`` starts
``threads`` OS threads that wait on a barrier and then run ``op`` in a C loop with the GIL
released, so the operations really overlap on a multi-core machine (on any CPython, GIL or not).
The tests check exact results where atomicity guarantees them; the ``racy_increment`` mode, a
deliberately non-atomic load-then-store, must *lose* updates under the same harness -- that is what
shows these tests would catch a counter that is not atomic. It is skipped only when a single CPU is
available, where the threads cannot overlap.

These tests are about the compiled core alone (``c_only``); the pure-Python twin's locking is
tested by the threaded property and stress tests, for real on a free-threaded CPython.
"""

from __future__ import annotations

import os
import threading
from types import ModuleType

import pytest

import nexus

pytestmark = pytest.mark.c_only

U32_MAX = 2**32 - 1
THREADS = 4
OPS = 100_000  # per thread: enough overlap on 2 cores, a few milliseconds of work


def usable_cpus() -> int:
    """CPUs this process may run on (the affinity mask, where the OS has one)."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13+
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


_counters: ModuleType  # nexus._counters, set by the autouse fixture below


@pytest.fixture(autouse=True)
def compiled_core(twin: ModuleType) -> ModuleType:
    """``nexus._counters``, from the ``twin`` fixture: for c_only tests it imports the compiled
    module directly, so a missing build errors instead of skipping (with NEXUS_NO_EXTENSIONS set,
    these tests are deselected instead)."""
    global _counters
    assert twin.__name__ == "nexus._counters"
    _counters = twin
    return twin


@pytest.fixture
def backend(registry: nexus.Registry, compiled_core: ModuleType) -> nexus.Backend:
    """A registered backend whose counters are the compiled ones."""
    backend = nexus.Backend("hammered", "Hammered", "http://h.local:1", "vllm")
    registry.add_backend(backend)
    assert type(backend._counters) is _counters.Counters
    return backend


def test_increments_are_exact(backend: nexus.Backend, registry: nexus.Registry) -> None:
    """``threads x n`` increments give exactly ``threads x n`` pending and total."""
    results = _counters._hammer(backend._counters, "increment", THREADS, OPS)
    assert len(results) == THREADS
    assert backend.pending_requests == THREADS * OPS
    assert backend.total_requests == THREADS * OPS
    # The registry's by-id path reads the same atomics.
    assert registry.increment_pending("hammered") == THREADS * OPS + 1
    assert registry.increment_total_requests("hammered") == THREADS * OPS + 1


def test_increments_are_exact_near_the_64_bit_range(backend: nexus.Backend) -> None:
    """The total is a real 64-bit counter: increments across 2**32 carry correctly."""
    start = 2**32 - 1000
    backend._counters._force(total=start)
    _counters._hammer(backend._counters, "increment", THREADS, OPS)
    assert backend.total_requests == start + THREADS * OPS


def test_increment_then_decrement_pairs_end_at_zero(backend: nexus.Backend) -> None:
    """Each thread increments then decrements: nothing ever floors at 0, and the end is 0."""
    results = _counters._hammer(backend._counters, "increment_decrement", THREADS, OPS)
    assert [floored for floored, _, _ in results] == [0] * THREADS
    assert backend.pending_requests == 0


def test_interleaved_increments_and_decrements_never_go_below_zero(
    backend: nexus.Backend,
) -> None:
    """Incrementing and decrementing threads at once: decrements saturate at 0, the end is exact.

    Every decrement either took one request or found 0 (and reported it), so the end value is
    ``increments - (decrements - floored)``; with more decrements than increments, a counter that
    could wrap below 0 would end near 2**32 instead.
    """
    start = 1_000
    backend._counters._force(pending=start)
    incs, decs = OPS, 2 * OPS  # per thread; 2 threads each
    outcome: dict[str, list] = {}

    def run(op: str, ops: int) -> None:
        outcome[op] = _counters._hammer(backend._counters, op, 2, ops)

    threads = [
        threading.Thread(target=run, args=("increment", incs)),
        threading.Thread(target=run, args=("decrement", decs)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)
    floored = sum(result[0] for result in outcome["decrement"])
    expected = start + 2 * incs - (2 * decs - floored)
    assert backend.pending_requests == expected
    assert 0 <= expected <= start + 2 * incs
    assert floored >= 2 * decs - 2 * incs - start  # the decrements outnumber what was there
    assert backend.total_requests == 2 * incs


def test_decrements_from_a_known_value_stop_exactly_at_zero(backend: nexus.Backend) -> None:
    """``start`` pending, far more concurrent decrements: exactly ``start`` of them take one."""
    start = 12_345
    backend._counters._force(pending=start)
    results = _counters._hammer(backend._counters, "decrement", THREADS, OPS)
    floored = sum(result[0] for result in results)
    assert backend.pending_requests == 0
    assert THREADS * OPS - floored == start


@pytest.mark.parametrize(
    ("low", "high"),
    [(1, 1), (100, 5_000), (1, U32_MAX), (U32_MAX - 1_000, U32_MAX)],
    ids=["constant", "typical", "full-range", "near-max"],
)
def test_concurrent_ema_stays_within_the_samples(
    backend: nexus.Backend, low: int, high: int
) -> None:
    """Every value any thread saw, and the end value, lie within [min, max] of the samples."""
    results = _counters._hammer(backend._counters, "ema", THREADS, OPS, low, high)
    for _, seen_min, seen_max in results:
        assert low <= seen_min <= seen_max <= high
    assert low <= backend.avg_latency_ms <= high
    if low == high:
        assert backend.avg_latency_ms == low


def test_concurrent_ema_from_an_old_average_moves_towards_the_samples(
    backend: nexus.Backend,
) -> None:
    """Starting above every sample, the average only falls, and never below the samples' minimum."""
    backend._counters._force(latency=U32_MAX)
    results = _counters._hammer(backend._counters, "ema", THREADS, OPS, 10, 20)
    for _, seen_min, seen_max in results:
        assert seen_min >= 10 and seen_max < U32_MAX
    assert 10 <= backend.avg_latency_ms <= 20  # after 400,000 samples the start is long forgotten


@pytest.mark.skipif(usable_cpus() < 2, reason="threads cannot overlap on a single CPU")
def test_racy_increment_loses_updates(backend: nexus.Backend) -> None:
    """The harness has teeth: the same threads doing a non-atomic increment lose updates.

    A few attempts, because losing an update is likely but not certain on any one run; an atomic
    counter never loses one (``test_increments_are_exact`` runs the same harness).
    """
    attempts = []
    for _ in range(5):
        backend._counters._force(pending=0)
        _counters._hammer(backend._counters, "racy_increment", THREADS, OPS * 5)
        expected = THREADS * OPS * 5
        attempts.append(expected - backend.pending_requests)
        if attempts[-1] > 0:
            break
    assert any(lost > 0 for lost in attempts), f"no update lost in {attempts} attempts"
    assert all(0 <= lost < THREADS * OPS * 5 for lost in attempts)


def test_hammer_rejects_bad_arguments(backend: nexus.Backend) -> None:
    with pytest.raises(ValueError, match="op must be one of"):
        _counters._hammer(backend._counters, "nope", 1, 1)
    with pytest.raises(ValueError, match="threads must be"):
        _counters._hammer(backend._counters, "increment", 0, 1)
    with pytest.raises(ValueError, match="low must be <= high"):
        _counters._hammer_one_thread(backend._counters, "ema", 1, 5, 4)
    with pytest.raises(ValueError, match="low must be <= high"):
        _counters._hammer(backend._counters, "ema", 2, 1, 5, 4)  # before any thread starts
