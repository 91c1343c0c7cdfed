"""The workloads w1-w7 of issue 4 as pytest-benchmark tests, each in every mode.

Run with ``pytest benchmarks/ --benchmark-only`` (add ``--benchmark-group-by=func`` to see the modes
of one workload side by side). The modes are nexus with its compiled core, nexus with its pure-Python
twin, and the naive reference registry. pytest-benchmark times a call of the function under test,
so the figures carry its per-call overhead; ``python -m nexus.bench`` gives the ratios the targets
are about, measured in one process and one run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from nexus import bench

# ---- w1: get_backends_for_model -------------------------------------------------------------------


def test_w1_get_backends_for_model(benchmark, fleet, model_id):
    result = benchmark(fleet.get_backends_for_model, model_id)
    assert len(result) > 50


@pytest.mark.parametrize("backends", [10, 10_000])
def test_w1_flat_in_fleet_size(benchmark, flavour, backends):
    spec = bench.fleet_spec(backends)
    registry = bench.build_fleet(flavour, spec)
    model_id = spec.backends[0][3][0]
    benchmark.extra_info["backends"] = backends
    assert benchmark(registry.get_backends_for_model, model_id)


def test_w1_floor_dict_get(benchmark, fleet, spec, model_id):
    index = {m: tuple(fleet.get_backends_for_model(m)) for m in spec.model_pool}
    assert benchmark(index.get, model_id)


# ---- w2: increment_pending / decrement_pending by id ----------------------------------------------


def test_w2_increment_pending(benchmark, fleet, backend_id):
    benchmark(fleet.increment_pending, backend_id)
    assert fleet.get_backend(backend_id).pending_requests > 0


def test_w2_decrement_pending(benchmark, fleet, backend_id):
    # Enough requests in flight that no decrement reaches 0 (and the saturating, logging path).
    for _ in range(200_000):
        fleet.increment_pending(backend_id)
    benchmark.pedantic(
        fleet.decrement_pending, args=(backend_id,), rounds=100, iterations=1000, warmup_rounds=1
    )
    assert fleet.get_backend(backend_id).pending_requests > 0


def test_w2_increment_then_decrement(benchmark, fleet, backend_id):
    increment, decrement = fleet.increment_pending, fleet.decrement_pending

    def pair() -> None:
        increment(backend_id)
        decrement(backend_id)

    benchmark(pair)
    assert fleet.get_backend(backend_id).pending_requests == 0


# ---- w3: one request cycle ------------------------------------------------------------------------


def test_w3_request_cycle(benchmark, fleet, model_id):
    if bench.has_select(fleet):
        select = fleet.select

        def pick(model: str):
            return select(model, strategy="least_pending")
    else:

        def pick(model: str):
            return bench.pick_least_pending(fleet, model)

    def cycle() -> None:
        chosen = pick(model_id).id
        fleet.increment_pending(chosen)
        fleet.increment_total_requests(chosen)
        fleet.update_latency(chosen, bench.LATENCY_MS)
        fleet.decrement_pending(chosen)

    benchmark(cycle)
    assert all(b.pending_requests == 0 for b in fleet.get_backends_for_model(model_id))


# ---- w4: build the fleet --------------------------------------------------------------------------


def test_w4_build_the_fleet(benchmark, flavour, spec):
    registry = benchmark.pedantic(
        bench.build_fleet, args=(flavour, spec), rounds=5, iterations=1, warmup_rounds=1
    )
    assert len(registry.get_healthy_backends()) == spec.size


# ---- w5: memory per backend -----------------------------------------------------------------------


def test_w5_memory_per_backend(benchmark, flavour):
    per_backend = benchmark.pedantic(bench.measure_memory, args=(flavour,), rounds=1, iterations=1)
    benchmark.extra_info["bytes_per_backend"] = round(per_backend)
    assert 0 < per_backend < 100_000


# ---- w6: get_healthy_backends, get_backend --------------------------------------------------------


def test_w6_get_healthy_backends(benchmark, fleet, spec):
    assert len(benchmark(fleet.get_healthy_backends)) == spec.size


def test_w6_get_backend(benchmark, fleet, backend_id):
    assert benchmark(fleet.get_backend, backend_id).id == backend_id


# ---- w7: readers during writes --------------------------------------------------------------------


@pytest.fixture
def writer(fleet, spec, model_id) -> Iterator[list[int]]:
    """A thread rewriting, in a loop, the index entry of ``model_id`` and a backend's status."""
    writer_id, _, _, models = next(b for b in spec.backends if model_id in b[3])
    model_type = type(fleet.get_backend(writer_id).models[0])
    with_model = [model_type(m) for m in models]
    without_model = [model_type(m) for m in models if m != model_id]
    stop = threading.Event()
    writes = [0]

    def run() -> None:
        while not stop.is_set():
            fleet.update_models(writer_id, without_model)
            fleet.update_status(writer_id, "healthy")
            fleet.update_models(writer_id, with_model)
            fleet.update_status(writer_id, "healthy")
            writes[0] += 4

    thread = threading.Thread(target=run, name="w7-writer", daemon=True)
    thread.start()
    try:
        yield writes
    finally:
        stop.set()
        thread.join()


def test_w7_readers_during_writes(benchmark, fleet, model_id, writer):
    result = benchmark(fleet.get_backends_for_model, model_id)
    benchmark.extra_info["writes"] = writer[0]
    assert len(result) > 50
    assert writer[0] > 0


def test_w3_request_cycle_with_track(benchmark, fleet, model_id):
    if bench.has_select(fleet):

        def cycle() -> None:
            with fleet.track(fleet.select(model_id, strategy="least_pending")):
                pass
    else:

        def cycle() -> None:
            with fleet.track(bench.pick_least_pending(fleet, model_id).id):
                pass

    benchmark(cycle)
    assert all(b.pending_requests == 0 for b in fleet.get_backends_for_model(model_id))
