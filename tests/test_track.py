"""``Registry.track``: one request counted on every way out, sync and async, in both twins."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any

import pytest

from nexus import BackendNotFoundError, Registry


@pytest.fixture
def fleet(registry: Registry, make_backend: Any) -> Registry:
    for backend_id in ("a", "b", "c"):
        registry.add_backend(make_backend(backend_id))
        registry.update_status(backend_id, "healthy")
    return registry


def counts(registry: Registry, backend_id: str) -> tuple[int, int, int]:
    backend = registry.get_backend(backend_id)
    assert backend is not None
    return backend.pending_requests, backend.total_requests, backend.avg_latency_ms


class Boom(Exception):
    pass


# ---- sync ----------------------------------------------------------------------------------------------


def test_success_counts_and_times_the_request(fleet):
    with fleet.track("a") as backend:
        assert backend is fleet.get_backend("a")
        assert counts(fleet, "a")[:2] == (1, 1)
        time.sleep(0.03)
    pending, total, latency = counts(fleet, "a")
    assert (pending, total) == (0, 1)
    assert latency >= 30  # elapsed monotonic time in whole ms (sleep lasts at least that long)


def test_latency_is_whole_milliseconds_folded_into_the_ema(fleet):
    fleet.get_backend("a")._counters._force(latency=1000)
    with fleet.track("a"):
        pass  # ~0 ms: (0 + 4 * 1000) // 5
    assert counts(fleet, "a")[2] == 800


def test_exception_decrements_reraises_and_records_no_latency_by_default(fleet):
    with pytest.raises(Boom), fleet.track("a"):
        assert counts(fleet, "a")[0] == 1
        raise Boom
    assert counts(fleet, "a") == (0, 1, 0)


@pytest.mark.parametrize(
    ("mode", "on_success", "on_failure"),
    [("success", True, False), ("always", True, True), ("never", False, False)],
)
def test_record_latency_modes(fleet, mode, on_success, on_failure):
    with fleet.track("a", record_latency=mode):
        time.sleep(0.002)
    assert (counts(fleet, "a")[2] > 0) is on_success
    with pytest.raises(Boom), fleet.track("b", record_latency=mode):
        time.sleep(0.002)
        raise Boom
    assert (counts(fleet, "b")[2] > 0) is on_failure
    assert counts(fleet, "a")[0] == counts(fleet, "b")[0] == 0


def test_keyboard_interrupt_decrements_and_propagates(fleet):
    with pytest.raises(KeyboardInterrupt), fleet.track("a"):
        raise KeyboardInterrupt
    assert counts(fleet, "a") == (0, 1, 0)


def test_system_exit_and_return_from_inside(fleet):
    def handler() -> str:
        with fleet.track("a"):
            return "done"

    assert handler() == "done"
    assert counts(fleet, "a")[:2] == (0, 1)
    with pytest.raises(SystemExit), fleet.track("b"):
        raise SystemExit(3)
    assert counts(fleet, "b")[:2] == (0, 1)


def test_generator_close_decrements(fleet):
    def stream():
        with fleet.track("a"):
            yield 1
            yield 2

    gen = stream()
    assert next(gen) == 1
    assert counts(fleet, "a")[0] == 1
    gen.close()  # GeneratorExit inside the block
    assert counts(fleet, "a") == (0, 1, 0)  # not a success: no latency sample


def test_generator_dropped_without_close_decrements(fleet):
    def stream():
        with fleet.track("a"):
            yield 1
            yield 2

    gen = stream()
    next(gen)
    assert counts(fleet, "a")[0] == 1
    del gen  # finalised by CPython's refcounting: close() runs
    assert counts(fleet, "a")[0] == 0


def test_generator_exhausted_is_a_success(fleet):
    def stream():
        with fleet.track("a"):
            yield 1

    assert list(stream()) == [1]
    assert counts(fleet, "a")[:2] == (0, 1)


def test_nested_and_sequential_requests(fleet):
    with fleet.track("a"), fleet.track("a"), fleet.track("b"):
        assert counts(fleet, "a")[:2] == (2, 2)
        assert counts(fleet, "b")[:2] == (1, 1)
    for _ in range(5):
        with fleet.track("c"):
            pass
    assert counts(fleet, "a")[:2] == (0, 2)
    assert counts(fleet, "c")[:2] == (0, 5)


def test_a_track_counts_one_request_only(fleet):
    track = fleet.track("a")
    with track:
        with pytest.raises(RuntimeError), track:
            pass
        assert counts(fleet, "a")[:2] == (1, 1)
    assert counts(fleet, "a")[:2] == (0, 1)
    with pytest.raises(RuntimeError), track:
        pass
    assert counts(fleet, "a")[:2] == (0, 1)
    track.__exit__(None, None, None)  # a stray exit does nothing
    assert counts(fleet, "a")[:2] == (0, 1)


def test_exit_without_enter_does_nothing(fleet):
    fleet.track("a").__exit__(None, None, None)
    assert counts(fleet, "a") == (0, 0, 0)


def test_track_a_backend_object(fleet, make_backend):
    backend = fleet.get_backend("b")
    with fleet.track(backend) as entered:
        assert entered is backend
        assert backend.pending_requests == 1
    assert backend.pending_requests == 0
    stranger = make_backend("a")  # same id, never registered here
    with pytest.raises(BackendNotFoundError):
        fleet.track(stranger)
    assert counts(fleet, "a") == (0, 0, 0)


def test_select_then_track(fleet):
    assert fleet.select("m-missing") is None
    seen = []
    for _ in range(3):
        backend = fleet.select("llama3", strategy="least_pending")
        track = fleet.track(backend)
        track.__enter__()
        seen.append(backend.id)
    assert sorted(seen) == ["a", "b", "c"]  # each in-flight request pushed the next elsewhere


# ---- removal in flight -----------------------------------------------------------------------------------


def test_backend_removed_in_flight(fleet):
    with fleet.track("a") as backend:
        removed = fleet.remove_backend("a")
        assert removed is backend
    assert "a" not in fleet
    assert backend.pending_requests == 0
    assert backend.total_requests == 1
    with pytest.raises(BackendNotFoundError):
        fleet.track(backend)  # no longer registered here
    fleet.add_backend(backend)  # its counters are still consistent
    assert counts(fleet, "a")[:2] == (0, 1)


def test_backend_replaced_in_flight_leaves_the_new_one_alone(fleet, make_backend):
    with fleet.track("a") as old, pytest.raises(Boom):
        fleet.remove_backend("a")
        fleet.add_backend(make_backend("a"))
        new = fleet.get_backend("a")
        with fleet.track("a"):
            pass
        raise Boom
    assert old.pending_requests == 0
    assert new.pending_requests == 0
    assert new.total_requests == 1


# ---- arguments ------------------------------------------------------------------------------------------


def test_bad_arguments(fleet):
    with pytest.raises(BackendNotFoundError):
        fleet.track("nope")
    with pytest.raises(TypeError, match="backend_id"):
        fleet.track(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="record_latency"):
        fleet.track("a", record_latency="sometimes")
    with pytest.raises(TypeError, match="record_latency"):
        fleet.track("a", record_latency=True)  # type: ignore[arg-type]
    assert counts(fleet, "a") == (0, 0, 0)


def test_overflow_on_enter_changes_nothing(fleet):
    counters = fleet.get_backend("a")._counters
    counters._force(pending=2**32 - 1)
    with pytest.raises(OverflowError), fleet.track("a"):
        pytest.fail("body must not run")
    assert counts(fleet, "a")[:2] == (2**32 - 1, 0)
    counters._force(pending=0, total=2**64 - 1)
    with pytest.raises(OverflowError), fleet.track("a"):
        pytest.fail("body must not run")
    assert counts(fleet, "a")[:2] == (0, 2**64 - 1)  # pending was put back


# ---- async ----------------------------------------------------------------------------------------------


def test_async_success_and_failure(fleet):
    async def main() -> None:
        async with fleet.track("a") as backend:
            assert backend.pending_requests == 1
            await asyncio.sleep(0.01)
        with pytest.raises(Boom):
            async with fleet.track("b"):
                await asyncio.sleep(0)
                raise Boom

    asyncio.run(main())
    assert counts(fleet, "a")[:2] == (0, 1)
    assert counts(fleet, "a")[2] >= 10
    assert counts(fleet, "b") == (0, 1, 0)


def test_async_cancellation_mid_request(fleet):
    async def request(started: asyncio.Event) -> None:
        async with fleet.track("a"):
            started.set()
            await asyncio.sleep(3600)

    async def main() -> None:
        started = asyncio.Event()
        task = asyncio.create_task(request(started))
        await started.wait()
        assert counts(fleet, "a")[0] == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert counts(fleet, "a") == (0, 1, 0)


def test_async_timeout_mid_request(fleet):
    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(slow(), timeout=0.01)

    async def slow() -> None:
        async with fleet.track("a"):
            await asyncio.sleep(3600)

    asyncio.run(main())
    assert counts(fleet, "a") == (0, 1, 0)


def test_async_generator_aclose(fleet):
    async def stream():
        async with fleet.track("a"):
            yield 1
            yield 2

    async def main() -> None:
        gen = stream()
        assert await gen.__anext__() == 1
        assert counts(fleet, "a")[0] == 1
        await gen.aclose()

    asyncio.run(main())
    assert counts(fleet, "a") == (0, 1, 0)


# ---- stress -----------------------------------------------------------------------------------------------


def test_stress_threads_random_failures_end_at_zero(fleet):
    ids = ["a", "b", "c"]
    threads, per_thread = 4, 750
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(per_thread):
                backend = fleet.select("llama3", strategy=rng.choice(["least_pending", "smart"]))
                target = backend.id if backend is not None else rng.choice(ids)
                try:
                    with fleet.track(target, record_latency=rng.choice(["success", "always"])):
                        if rng.random() < 0.3:
                            raise Boom
                        if rng.random() < 0.05:
                            raise KeyboardInterrupt
                except (Boom, KeyboardInterrupt):
                    pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(seed,)) for seed in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert not errors
    assert [counts(fleet, i)[0] for i in ids] == [0, 0, 0]
    assert sum(counts(fleet, i)[1] for i in ids) == threads * per_thread


def test_stress_asyncio_random_failures_and_cancellations_end_at_zero(fleet):
    ids = ["a", "b", "c"]
    requests = 2000

    async def request(rng: random.Random) -> None:
        backend = fleet.select("llama3", strategy="least_pending")
        assert backend is not None
        async with fleet.track(backend.id):
            for _ in range(rng.randrange(3)):
                await asyncio.sleep(0)
            if rng.random() < 0.3:
                raise Boom

    async def main() -> None:
        rng = random.Random(5)
        tasks = [asyncio.create_task(request(random.Random(i))) for i in range(requests)]
        await asyncio.sleep(0)
        for task in tasks:
            if rng.random() < 0.2:
                task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        kinds = {type(result) for result in results}
        assert kinds <= {type(None), Boom, asyncio.CancelledError}
        assert Boom in kinds
        assert asyncio.CancelledError in kinds

    asyncio.run(main())
    assert [counts(fleet, i)[0] for i in ids] == [0, 0, 0]
    total = sum(counts(fleet, i)[1] for i in ids)
    assert 0 < total <= requests  # tasks cancelled before their first step never entered


def test_stress_with_removals_in_flight(registry, make_backend):
    backends = [make_backend(f"b{i}") for i in range(4)]
    for backend in backends:
        registry.add_backend(backend)
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn() -> None:
        rng = random.Random(11)
        try:
            while not stop.is_set():
                backend = rng.choice(backends)
                if backend.id in registry:
                    registry.remove_backend(backend.id)
                else:
                    registry.add_backend(backend)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def work(seed: int) -> None:
        rng = random.Random(seed)
        tracked = attempts = 0
        try:
            # Until 300 requests were tracked: under the GIL a worker may run whole time slices
            # while the churner has removed every backend it picks.
            while tracked < 300 and attempts < 200_000:
                attempts += 1
                backend = rng.choice(backends)
                try:
                    track = registry.track(backend.id)
                except BackendNotFoundError:
                    continue
                tracked += 1
                try:
                    with track:
                        if rng.random() < 0.3:
                            raise Boom
                except Boom:
                    pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    churner = threading.Thread(target=churn)
    workers = [threading.Thread(target=work, args=(seed,)) for seed in range(3)]
    churner.start()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    stop.set()
    churner.join()
    assert not errors
    assert [b.pending_requests for b in backends] == [0, 0, 0, 0]
    assert sum(b.total_requests for b in backends) == 3 * 300


def test_track_type_follows_the_twin(twin, fleet):
    track = fleet.track("a")
    expected = "nexus._track" if twin.__name__ == "nexus._counters" else "nexus._track_py"
    assert type(track).__module__ == expected
    assert repr(track) == "<Track 'a' not started>"
    with track:
        assert repr(track) == "<Track 'a' in flight>"
    assert repr(track) == "<Track 'a' finished>"
    assert track.backend is fleet.get_backend("a")


@pytest.mark.c_only
def test_compiled_track_copes_with_pure_python_backends(monkeypatch, make_backend):
    # The benchmarks mix twins in one process: Registry.track must not fail on a pure backend.
    from nexus import _counters_py, _track, _track_py
    from nexus import counters as selector

    monkeypatch.setattr(selector, "Counters", _counters_py.Counters)
    monkeypatch.setattr(selector, "CounterTable", _counters_py.CounterTable)
    registry = Registry()
    backend = make_backend("a")
    registry.add_backend(backend)
    for target in ("a", backend):
        track = _track.registry_track(registry, target)
        assert type(track) is _track_py.Track
        with track:
            assert backend.pending_requests == 1
        assert backend.pending_requests == 0
    assert backend.total_requests == 2


def test_a_shared_track_entered_by_racing_threads_counts_once(registry, make_backend):
    # One Track shared by threads: exactly one enter wins, the others get RuntimeError, and the
    # counters move once. (With the GIL the race is rare; the free-threaded leg makes it real.)
    import threading

    registry.add_backend(make_backend("b1"))
    for _ in range(200):
        track = registry.track("b1")
        barrier = threading.Barrier(4)
        outcomes: list[str] = []

        def enter(track=track, barrier=barrier, outcomes=outcomes) -> None:
            barrier.wait()
            try:
                track.__enter__()
                outcomes.append("entered")
            except RuntimeError:
                outcomes.append("refused")

        threads = [threading.Thread(target=enter) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["entered", "refused", "refused", "refused"]
        assert registry.get_backend("b1").pending_requests == 1
        exits = [threading.Thread(target=track.__exit__, args=(None, None, None)) for _ in range(4)]
        for thread in exits:
            thread.start()
        for thread in exits:
            thread.join()
        assert registry.get_backend("b1").pending_requests == 0
    assert registry.get_backend("b1").total_requests == 200
