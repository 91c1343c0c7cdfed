"""Concurrency stress tests (seed T10), with OS threads and with asyncio tasks.

Each of the four seed tests (``test_concurrent_reads_no_deadlock``, ``test_concurrent_read_write_safe``,
``test_concurrent_add_remove_same_id``, ``test_concurrent_model_queries``) runs in two modes:

* ``threads``: the work is spread over a ``ThreadPoolExecutor``;
* ``asyncio``: readers are asyncio tasks on one event loop, and the writers run through
  ``loop.run_in_executor`` (a router's request handlers on the loop, background writers on threads).

The whole workload runs on a watchdog thread joined with a timeout, so a deadlock fails the test
instead of hanging the run (an asyncio timeout alone cannot fire while a blocked call holds the loop).
With the GIL, Python threads interleave only at bytecode boundaries; on a free-threaded CPython
(``scripts/test-freethreaded.sh``) they run truly in parallel, which is where these tests bite.
No test asserts a wall-clock limit: the timeout only turns a hang into a failure.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

import nexus
from nexus import BackendNotFoundError, BackendStatus, DuplicateBackendError, Model

T = TypeVar("T")
DEADLOCK_TIMEOUT = 120.0  # seconds; generous for a loaded 2-core machine
WORKERS = 8

BackendFactory = Callable[..., nexus.Backend]

pytestmark = pytest.mark.parametrize("mode", ["threads", "asyncio"])


@pytest.fixture(autouse=True)
def frequent_thread_switches() -> Iterator[None]:
    """With the GIL, switch threads every microsecond instead of 5 ms, so that threads interleave often."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def within_timeout(work: Callable[[], T], timeout: float = DEADLOCK_TIMEOUT) -> T:
    """Run ``work`` on a daemon thread; fail the test if it has not finished after ``timeout``."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:
            outcome["error"] = exc

    watchdog = threading.Thread(target=target, name="workload", daemon=True)
    watchdog.start()
    watchdog.join(timeout)
    if watchdog.is_alive():
        pytest.fail(f"workload did not finish within {timeout} s: deadlock?")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def run_concurrently(mode: str, readers: Iterable[Callable[[], T]], writers=()) -> list[T]:
    """Run every job at once; returns the readers' results in order (writers' results dropped)."""
    readers, writers = list(readers), list(writers)
    if mode == "threads":

        def work() -> list[T]:
            with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                writer_futures = [pool.submit(job) for job in writers]
                reader_futures = [pool.submit(job) for job in readers]
                for future in writer_futures:
                    future.result()
                return [future.result() for future in reader_futures]

    else:

        def work() -> list[T]:
            async def on_loop(job: Callable[[], T]) -> T:
                await asyncio.sleep(0)  # let every task start before any finishes
                return job()

            async def main() -> list[T]:
                loop = asyncio.get_running_loop()
                with ThreadPoolExecutor(max_workers=max(1, min(len(writers), WORKERS))) as pool:
                    background = [loop.run_in_executor(pool, job) for job in writers]
                    tasks = [asyncio.ensure_future(on_loop(job)) for job in readers]
                    results = await asyncio.wait_for(asyncio.gather(*tasks), DEADLOCK_TIMEOUT)
                    await asyncio.wait_for(asyncio.gather(*background), DEADLOCK_TIMEOUT)
                return list(results)

            return asyncio.run(main())

    return within_timeout(work)


def brute_force_index(registry: nexus.Registry) -> dict[str, set[str]]:
    served: dict[str, set[str]] = {}
    for backend in registry.get_all_backends():
        for model in backend.models:
            served.setdefault(model.id, set()).add(backend.id)
    return served


def assert_consistent(registry: nexus.Registry) -> None:
    """Every public view agrees with the backends, and the self-check finds nothing to repair."""
    served = brute_force_index(registry)
    assert registry.model_count() == len(served)
    for model_id, ids in served.items():
        found = registry.get_backends_for_model(model_id)
        assert sorted(b.id for b in found) == sorted(ids)
    backends = registry.get_all_backends()
    assert len(backends) == registry.backend_count() == len(registry)
    assert {b.id for b in registry.get_healthy_backends()} == {
        b.id for b in backends if b.status is BackendStatus.HEALTHY
    }
    assert registry.check_consistency() == []


# ---- test_concurrent_reads_no_deadlock -----------------------------------------------------------


def test_concurrent_reads_no_deadlock(
    mode: str, registry: nexus.Registry, make_backend: BackendFactory
) -> None:
    """10,000 concurrent ``get_backend`` calls all complete and all find the right backend."""
    backends = [make_backend(f"b{i}") for i in range(20)]
    registry.add_backends(backends)
    calls = 10_000
    expected = [backends[i % 20] for i in range(calls)]
    ids = [backend.id for backend in expected]

    # A writer keeps the lock busy meanwhile (other backends), so readers run against live writes.
    def churn() -> int:
        for n in range(200):
            registry.add_backend(make_backend(f"churn{n}"))
            registry.update_status(f"b{n % 20}", "healthy" if n % 2 else "unhealthy")
            registry.remove_backend(f"churn{n}")
        return n

    results = run_concurrently(
        mode, [lambda i=i: registry.get_backend(i) for i in ids], writers=[churn]
    )
    assert len(results) == calls
    assert all(found is wanted for found, wanted in zip(results, expected, strict=True))
    assert registry.get_backend("churn0") is None
    assert_consistent(registry)


# ---- test_concurrent_read_write_safe -------------------------------------------------------------


def test_concurrent_read_write_safe(
    mode: str, registry: nexus.Registry, make_backend: BackendFactory, caplog
) -> None:
    """A mixed workload of every reader and writer completes with no error and a consistent end."""
    caplog.set_level(logging.ERROR, logger="nexus")  # decrements at 0 warn; not the point here
    stable = [make_backend(f"s{i}", [f"m{i}", "shared"]) for i in range(4)]
    registry.add_backends(stable)
    rounds = 300
    requests_per_reader = 100
    readers_n = 6

    def writer(index: int) -> None:
        statuses = list(BackendStatus)
        for n in range(rounds):
            target = f"s{(index + n) % 4}"
            registry.update_status(target, statuses[n % 4], None if n % 3 else "boom")
            registry.update_models(target, [Model("shared"), Model(f"m{(index + n) % 4}")])
            registry.update_latency(target, 1 + n % 50)
            registry.set_mdns_instance(target, f"svc-{index}")
            transient = f"t{index}-{n}"
            registry.add_backend(make_backend(transient, ["shared", f"only-{transient}"]))
            registry.update_status(transient, "healthy")
            registry.remove_backend(transient)

    def reader(index: int) -> dict[str, int]:
        seen = {"requests": 0}
        for n in range(requests_per_reader):
            backend_id = f"s{(index + n) % 4}"
            registry.increment_pending(backend_id)
            registry.increment_total_requests(backend_id)
            candidates = registry.get_backends_for_model("shared")
            assert len({id(b) for b in candidates}) == len(candidates)  # no backend twice
            assert all(isinstance(b, nexus.Backend) for b in candidates)
            healthy = registry.get_healthy_backends()
            assert len({id(b) for b in healthy}) == len(healthy)
            everyone = registry.get_all_backends()
            assert len({b.id for b in everyone}) == len(everyone)
            registry.get_backend(backend_id)
            registry.has_backend_url("http://s0.local:11434")
            registry.find_by_mdns_instance("svc-0")
            registry.model_count()
            registry.model_ids()
            if n % 10 == 0:
                snapshot = registry.to_dict()
                assert [b["id"] for b in snapshot["backends"]] == sorted(
                    b["id"] for b in snapshot["backends"]
                )
                registry.to_json()
            registry.decrement_pending(backend_id)
            seen["requests"] += 1
        return seen

    results = run_concurrently(
        mode,
        [lambda i=i: reader(i) for i in range(readers_n)],
        writers=[lambda i=i: writer(i) for i in range(2)],
    )
    assert sum(r["requests"] for r in results) == readers_n * requests_per_reader
    # Every request that started also finished: pending back to exactly 0, totals exact.
    assert sum(b.pending_requests for b in stable) == 0
    assert sum(b.total_requests for b in stable) == readers_n * requests_per_reader
    assert all(1 <= b.avg_latency_ms <= 50 for b in stable)
    assert [b.id for b in registry.get_all_backends()] == ["s0", "s1", "s2", "s3"]
    assert set(registry.model_ids()) == {"shared", "m0", "m1", "m2", "m3"} & set(
        brute_force_index(registry)
    )
    assert_consistent(registry)


# ---- test_concurrent_add_remove_same_id ----------------------------------------------------------


def test_concurrent_add_remove_same_id(
    mode: str, registry: nexus.Registry, make_backend: BackendFactory
) -> None:
    """Racing adds and removes of one id: each call succeeds or raises the right error, and the
    successes alternate, so the end state is exactly what they imply."""
    jobs_n = 8
    tries = 150
    lock = threading.Lock()
    added: list[nexus.Backend] = []
    removed: list[nexus.Backend] = []

    def contender(index: int) -> tuple[int, int, int, int]:
        adds = removes = duplicates = missing = 0
        for n in range(tries):
            if (index + n) % 2:
                backend = make_backend("same", [f"m{index}", "shared"])
                try:
                    registry.add_backend(backend)
                except DuplicateBackendError as exc:
                    assert exc.backend_id == "same"
                    duplicates += 1
                else:
                    adds += 1
                    with lock:
                        added.append(backend)
            else:
                try:
                    gone = registry.remove_backend("same")
                except BackendNotFoundError as exc:
                    assert exc.backend_id == "same"
                    missing += 1
                else:
                    removes += 1
                    with lock:
                        removed.append(gone)
            found = registry.get_backend("same")
            assert found is None or found.id == "same"
            shared = registry.get_backends_for_model("shared")
            assert len(shared) <= 1
        return adds, removes, duplicates, missing

    results = run_concurrently(mode, [lambda i=i: contender(i) for i in range(jobs_n)])
    adds = sum(r[0] for r in results)
    removes = sum(r[1] for r in results)
    assert sum(sum(r) for r in results) == jobs_n * tries
    assert adds >= 1
    # Successful adds and removes alternate (an add needs the id free, a remove needs it taken).
    assert adds - removes in (0, 1)
    assert len(added) == adds and len(removed) == removes
    # Each removal handed back a backend that had been added, and none twice.
    assert len({id(b) for b in removed}) == removes
    assert {id(b) for b in removed} <= {id(b) for b in added}
    present = registry.get_backend("same")
    if adds - removes == 1:
        assert present is not None
        assert {id(b) for b in added} - {id(b) for b in removed} == {id(present)}
        assert registry.get_backends_for_model("shared") == (present,)
        assert registry.backend_count() == 1
    else:
        assert present is None
        assert registry.get_backends_for_model("shared") == ()
        assert registry.model_count() == 0 and registry.backend_count() == 0
    assert_consistent(registry)


# ---- test_concurrent_model_queries ---------------------------------------------------------------


def test_concurrent_model_queries(
    mode: str, registry: nexus.Registry, make_backend: BackendFactory
) -> None:
    """Readers racing ``update_models`` only ever see the complete old or new backend set.

    Two writers flip their own backend (``x1``, ``x2``) between an old model list and a new one;
    ``shared`` is in both lists, so its backend set must never change at all (an update that
    unindexed and re-indexed it would show a set without ``x1``/``x2`` for a moment). For the other
    models each reader observation must be one of the sets that a whole number of updates gives.
    """
    registry.add_backends(
        [
            make_backend("static1", ["old", "shared"]),
            make_backend("static2", ["new", "shared", "other"]),
            make_backend("x1", ["old", "old-x1", "shared"]),
            make_backend("x2", ["old", "old-x2", "shared"]),
        ]
    )
    old_models = {
        name: [Model("old"), Model(f"old-{name}"), Model("shared")] for name in ("x1", "x2")
    }
    new_models = {
        name: [Model("shared"), Model("new"), Model(f"new-{name}")] for name in ("x1", "x2")
    }
    queries = 300
    readers_done = threading.Event()
    flip_counts: dict[str, int] = {}

    def flipper(name: str) -> int:
        # Flip until every reader is done (at least 100 times), and end on the old list.
        n = 0
        while n < 100 or not readers_done.is_set() or n % 2:
            registry.update_models(name, new_models[name] if n % 2 == 0 else old_models[name])
            n += 1
        flip_counts[name] = n
        return n

    # Allowed observations: static backends always; each flipping backend in or out independently.
    togglers = ("x1", "x2")
    subsets = [frozenset(c) for r in range(3) for c in itertools.combinations(togglers, r)]
    allowed = {
        "shared": {frozenset({"static1", "static2", "x1", "x2"})},
        "old": {frozenset({"static1"}) | s for s in subsets},
        "new": {frozenset({"static2"}) | s for s in subsets},
        "old-x1": {frozenset(), frozenset({"x1"})},
        "new-x1": {frozenset(), frozenset({"x1"})},
        "old-x2": {frozenset(), frozenset({"x2"})},
        "new-x2": {frozenset(), frozenset({"x2"})},
        "other": {frozenset({"static2"})},
    }

    def reader(index: int) -> dict[str, set[frozenset[str]]]:
        seen: dict[str, set[frozenset[str]]] = {model: set() for model in allowed}
        for _ in range(queries):
            for model in allowed:
                found = registry.get_backends_for_model(model)
                ids = frozenset(b.id for b in found)
                assert len(ids) == len(found), f"{model}: a backend listed twice: {found}"
                assert ids in allowed[model], f"{model}: torn backend set {sorted(ids)}"
                seen[model].add(ids)
            # A backend's own model list is always one of its two lists, whole.
            for name in togglers:
                models = registry.get_backend(name).models
                assert list(models) in (old_models[name], new_models[name])
        return seen

    finished = []

    def reader_then_signal(index: int) -> dict[str, set[frozenset[str]]]:
        try:
            return reader(index)
        finally:
            finished.append(index)
            if len(finished) == 4:
                readers_done.set()

    observations = run_concurrently(
        mode,
        [lambda i=i: reader_then_signal(i) for i in range(4)],
        writers=[lambda name=name: flipper(name) for name in togglers],
    )
    assert all(obs["shared"] == allowed["shared"] for obs in observations)
    # Each flipper stopped after an even number of flips: both ended on their old lists.
    assert all(count % 2 == 0 for count in flip_counts.values())
    for name in togglers:
        assert list(registry.get_backend(name).models) == old_models[name]
    final = brute_force_index(registry)
    assert final == {
        "old": {"static1", "x1", "x2"},
        "shared": {"static1", "static2", "x1", "x2"},
        "new": {"static2"},
        "other": {"static2"},
        "old-x1": {"x1"},
        "old-x2": {"x2"},
    }
    assert_consistent(registry)
