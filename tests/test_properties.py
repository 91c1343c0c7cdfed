"""Property tests of the counters (seed T09), through the public ``Registry`` API.

The four properties keep the seed's names (with pytest's ``test_`` prefix):
``prop_increment_decrement_balanced``, ``prop_concurrent_increments_correct``,
``prop_latency_bounded`` and ``prop_decrement_never_negative``. Each has a sequential form and a
concurrent form (OS threads through ``ThreadPoolExecutor``; the increment property also has an asyncio
form). Every test runs against both counter twins (see ``conftest.py``).

Each hypothesis example builds its own ``Registry``: the ``registry`` fixture is function-scoped and
would otherwise carry counter values from one example into the next.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import nexus

U32_MAX = 2**32 - 1
BACKEND = "b1"
TIMEOUT = 60.0  # seconds; a deadlock fails the test instead of hanging the run

# ``nexus.counters`` is monkeypatched per test by the ``twin`` fixture; every test below requests it
# (autouse), so a Registry built inside an example uses the twin under test.
pytestmark = pytest.mark.usefixtures("twin")


def fresh_registry() -> nexus.Registry:
    registry = nexus.Registry()
    registry.add_backend(
        nexus.Backend(BACKEND, "Backend 1", "http://b1.local:11434", "ollama", [nexus.Model("m")])
    )
    return registry


def ema_reference(samples: list[int], start: int = 0) -> list[int]:
    """Every value the EMA takes, by the contract's integer formula (Python ints never overflow)."""
    values, current = [], start
    for sample in samples:
        current = sample if current == 0 else (sample + 4 * current) // 5
        values.append(current)
    return values


def run_threads(workers: int, jobs: list, timeout: float = TIMEOUT) -> list:
    """Run the callables in ``jobs`` on ``workers`` threads; results in order, errors re-raised."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(job) for job in jobs]
        return [future.result(timeout=timeout) for future in futures]


def run_asyncio(jobs: list, on_thread: int = 2) -> list:
    """Run the callables in ``jobs`` as asyncio tasks; every ``on_thread``-th goes through
    ``asyncio.to_thread`` (so loop code and threads race), the rest run on the loop after a yield.
    Results in order; a hang fails through the timeout."""

    async def on_loop(job):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0)  # let the other tasks start before this one runs
        return job()

    async def main() -> list:
        tasks = [
            asyncio.to_thread(job) if i % on_thread == 0 else on_loop(job)
            for i, job in enumerate(jobs)
        ]
        return await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT)

    return asyncio.run(main())


# ---- prop_increment_decrement_balanced -----------------------------------------------------------


@given(n=st.integers(1, 100))
def test_prop_increment_decrement_balanced(n: int) -> None:
    """``n`` increments followed by ``n`` decrements leave pending at 0; each step returns its value."""
    registry = fresh_registry()
    assert [registry.increment_pending(BACKEND) for _ in range(n)] == list(range(1, n + 1))
    assert registry.get_backend(BACKEND).pending_requests == n
    assert [registry.decrement_pending(BACKEND) for _ in range(n)] == list(range(n - 1, -1, -1))
    backend = registry.get_backend(BACKEND)
    assert backend.pending_requests == 0
    assert backend.total_requests == 0  # pending never touches the lifetime count


@given(ops=st.lists(st.booleans(), max_size=200))
def test_prop_increment_decrement_balanced_any_order(ops: list[bool]) -> None:
    """Any sequence of increments (True) and decrements (False) matches ``max(0, value - 1)``."""
    registry = fresh_registry()
    expected = 0
    for increment in ops:
        if increment:
            expected += 1
            assert registry.increment_pending(BACKEND) == expected
        else:
            expected = max(0, expected - 1)
            assert registry.decrement_pending(BACKEND) == expected
    assert registry.get_backend(BACKEND).pending_requests == expected


@given(n=st.integers(1, 100), workers=st.integers(2, 6))
def test_prop_increment_decrement_balanced_threads(n: int, workers: int) -> None:
    """Each of ``n`` jobs increments then decrements on a thread pool: pending ends at exactly 0."""
    registry = fresh_registry()

    def in_and_out() -> tuple[int, int]:
        return registry.increment_pending(BACKEND), registry.decrement_pending(BACKEND)

    results = run_threads(workers, [in_and_out] * n)
    # A job's own increment is still counted when it decrements: the counter never floors here.
    assert all(up >= 1 and down >= 0 for up, down in results)
    assert registry.get_backend(BACKEND).pending_requests == 0


@given(n=st.integers(1, 100))
def test_prop_increment_decrement_balanced_asyncio(n: int) -> None:
    """``n`` asyncio tasks (some on threads) each increment then decrement: pending ends at 0."""
    registry = fresh_registry()

    def in_and_out() -> tuple[int, int]:
        return registry.increment_pending(BACKEND), registry.decrement_pending(BACKEND)

    results = run_asyncio([in_and_out] * n)
    assert all(up >= 1 and down >= 0 for up, down in results)
    assert registry.get_backend(BACKEND).pending_requests == 0


# ---- prop_concurrent_increments_correct -------------------------------------------------------


@given(n=st.integers(1, 50), per_job=st.integers(1, 200), workers=st.integers(2, 8))
def test_prop_concurrent_increments_correct(n: int, per_job: int, workers: int) -> None:
    """``n`` concurrent jobs of ``per_job`` increments give exactly ``n * per_job``, no value twice."""
    registry = fresh_registry()

    def job() -> list[tuple[int, int]]:
        return [
            (registry.increment_pending(BACKEND), registry.increment_total_requests(BACKEND))
            for _ in range(per_job)
        ]

    returned = [pair for batch in run_threads(workers, [job] * n) for pair in batch]
    expected = n * per_job
    backend = registry.get_backend(BACKEND)
    assert backend.pending_requests == expected
    assert backend.total_requests == expected
    # Atomic increments hand out every intermediate value exactly once.
    assert sorted(pending for pending, _ in returned) == list(range(1, expected + 1))
    assert sorted(total for _, total in returned) == list(range(1, expected + 1))


@given(n=st.integers(1, 50), per_task=st.integers(1, 50))
def test_prop_concurrent_increments_correct_asyncio(n: int, per_task: int) -> None:
    """``n`` asyncio tasks, half on the loop and half through ``asyncio.to_thread``, lose nothing."""
    registry = fresh_registry()

    async def on_loop() -> list[int]:
        values = []
        for _ in range(per_task):
            await asyncio.sleep(0)  # let the other tasks interleave
            values.append(registry.increment_pending(BACKEND))
            registry.increment_total_requests(BACKEND)
        return values

    def on_thread() -> list[int]:
        values = []
        for _ in range(per_task):
            values.append(registry.increment_pending(BACKEND))
            registry.increment_total_requests(BACKEND)
        return values

    async def main() -> list[list[int]]:
        tasks = [on_loop() if i % 2 else asyncio.to_thread(on_thread) for i in range(n)]
        return await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT)

    returned = [value for batch in asyncio.run(main()) for value in batch]
    expected = n * per_task
    backend = registry.get_backend(BACKEND)
    assert backend.pending_requests == expected
    assert backend.total_requests == expected
    assert sorted(returned) == list(range(1, expected + 1))


# ---- prop_latency_bounded -------------------------------------------------------------------------
# The contract: ``new = (sample + 4*old) // 5``, except that a current value of 0 means "no sample
# yet", so the next sample is stored as is. A 0 *sample* is folded in like any other; when it drives
# the average down to 0, the history is forgotten and the next sample starts afresh.
# Hence: with samples >= 1 the average never returns to 0 and stays within [min, max] of all the
# samples; in general it stays within [min, max] of the samples since it was last 0.


@given(samples=st.lists(st.integers(1, 10_000), min_size=1, max_size=100))
@example(samples=[100, 200, 150])  # the contract's worked example: 100, 120, 126
@example(samples=[U32_MAX, U32_MAX, 1, U32_MAX])
def test_prop_latency_bounded(samples: list[int]) -> None:
    """With samples >= 1 the EMA is within [min, max] of the samples so far, after every update."""
    registry = fresh_registry()
    backend = registry.get_backend(BACKEND)
    expected = ema_reference(samples)
    for index, sample in enumerate(samples):
        assert registry.update_latency(BACKEND, sample) is None
        value = backend.avg_latency_ms
        seen = samples[: index + 1]
        assert min(seen) <= value <= max(seen)
        assert value == expected[index]
    if samples == [100, 200, 150]:
        assert expected == [100, 120, 126]


@given(
    samples=st.lists(
        st.one_of(st.integers(0, 10_000), st.just(0), st.integers(0, U32_MAX)), max_size=100
    )
)
@example(samples=[5, 0, 0, 0, 0, 0, 7])  # 5 -> 4 -> 3 -> 2 -> 1 -> 0 -> 7 (starts afresh)
def test_prop_latency_bounded_with_zero_samples(samples: list[int]) -> None:
    """Any samples (0 included): exact integer EMA, within [min, max] of the samples since the last 0."""
    registry = fresh_registry()
    backend = registry.get_backend(BACKEND)
    window: list[int] = []
    for sample, expected in zip(samples, ema_reference(samples), strict=True):
        registry.update_latency(BACKEND, sample)
        value = backend.avg_latency_ms
        window.append(sample)
        assert value == expected
        assert min(window) <= value <= max(window) <= U32_MAX
        if value == 0:
            window = []  # "no sample yet": the next sample is stored as is


@given(
    samples=st.lists(st.integers(1, 10_000), min_size=1, max_size=60),
    workers=st.integers(2, 6),
)
def test_prop_latency_bounded_threads(samples: list[int], workers: int) -> None:
    """Samples folded in from several threads: every value seen and the end value stay in range."""
    registry = fresh_registry()
    backend = registry.get_backend(BACKEND)
    low, high = min(samples), max(samples)

    def fold(sample: int) -> int:
        registry.update_latency(BACKEND, sample)
        return backend.avg_latency_ms

    seen = run_threads(workers, [lambda s=s: fold(s) for s in samples])
    assert all(low <= value <= high for value in seen)
    assert low <= backend.avg_latency_ms <= high


@given(samples=st.lists(st.integers(1, 10_000), min_size=1, max_size=60))
def test_prop_latency_bounded_asyncio(samples: list[int]) -> None:
    """Samples folded in by asyncio tasks (some on threads): every value seen stays in range."""
    registry = fresh_registry()
    backend = registry.get_backend(BACKEND)
    low, high = min(samples), max(samples)

    def fold(sample: int) -> int:
        registry.update_latency(BACKEND, sample)
        return backend.avg_latency_ms

    seen = run_asyncio([lambda s=s: fold(s) for s in samples])
    assert all(low <= value <= high for value in seen)
    assert low <= backend.avg_latency_ms <= high


# ---- prop_decrement_never_negative ---------------------------------------------------------------


@given(decrements=st.integers(1, 100))
def test_prop_decrement_never_negative(decrements: int) -> None:
    """Any number of decrements on an empty counter return 0, leave 0 and log a WARNING each."""
    registry = fresh_registry()
    records: list[logging.LogRecord] = []
    handler = _ListHandler(records)
    logger = logging.getLogger("nexus")
    logger.addHandler(handler)
    try:
        assert [registry.decrement_pending(BACKEND) for _ in range(decrements)] == [0] * decrements
    finally:
        logger.removeHandler(handler)
    assert registry.get_backend(BACKEND).pending_requests == 0
    warnings = [r for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == decrements
    assert all(BACKEND in r.getMessage() for r in warnings)
    assert registry.increment_pending(BACKEND) == 1  # no hidden negative balance to pay back


@given(start=st.integers(0, 50), decrements=st.integers(1, 100), workers=st.integers(2, 6))
def test_prop_decrement_never_negative_threads(start: int, decrements: int, workers: int) -> None:
    """Concurrent decrements from ``start`` never go below 0: exactly ``start`` of them take one."""
    registry = fresh_registry()
    for _ in range(start):
        registry.increment_pending(BACKEND)
    logger = logging.getLogger("nexus")
    level = logger.level
    logger.setLevel(logging.ERROR)  # the expected WARNINGs at 0 are not the point here
    try:
        results = run_threads(workers, [lambda: registry.decrement_pending(BACKEND)] * decrements)
    finally:
        logger.setLevel(level)
    assert registry.get_backend(BACKEND).pending_requests == max(0, start - decrements)
    # The decrements that found a request took exactly one each, so they returned the distinct values
    # start-1, start-2, ...; every other one found 0 and returned 0.
    taken = min(start, decrements)
    expected = list(range(start - taken, start)) + [0] * (decrements - taken)
    assert sorted(results) == sorted(expected)


@given(start=st.integers(0, 50), decrements=st.integers(1, 100))
def test_prop_decrement_never_negative_asyncio(start: int, decrements: int) -> None:
    """Decrements from asyncio tasks (some on threads) never go below 0; exactly ``start`` take one."""
    registry = fresh_registry()
    for _ in range(start):
        registry.increment_pending(BACKEND)
    logger = logging.getLogger("nexus")
    level = logger.level
    logger.setLevel(logging.ERROR)  # the expected WARNINGs at 0 are not the point here
    try:
        results = run_asyncio([lambda: registry.decrement_pending(BACKEND)] * decrements)
    finally:
        logger.setLevel(level)
    assert registry.get_backend(BACKEND).pending_requests == max(0, start - decrements)
    taken = min(start, decrements)
    expected = list(range(start - taken, start)) + [0] * (decrements - taken)
    assert sorted(results) == sorted(expected)


class _ListHandler(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
