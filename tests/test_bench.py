"""``python -m nexus.bench`` runs end to end (on a tiny fleet) and reports every workload.

No figure is asserted (timings depend on the machine); what is checked is that each registry is
measured, the naive reference behaves like a registry, and the JSON and the table are complete.
"""

from __future__ import annotations

import json

import pytest

from nexus import bench
from nexus._naive import NaiveBackend, NaiveModel, NaiveRegistry
from nexus.errors import BackendNotFoundError, DuplicateBackendError


@pytest.fixture(scope="module")
def results() -> dict:
    return bench.run(
        rounds=2, build_rounds=1, fleet=(40, 5, 20), flat_sizes=(10, 60), w7_seconds=0.05
    )


def test_every_registry_and_workload_is_measured(results: dict) -> None:
    names = list(results["ratios"])
    assert names[-2:] == ["nexus py", "naive"]
    for workload in ("w1", "w2 inc", "w2 dec", "w2 pair", "w3", "w6 healthy", "w6 get"):
        assert set(results["ns_per_op"][workload]) == set(names), workload
        assert all(value >= 0 for value in results["ns_per_op"][workload].values())
    assert results["floor_ns"] > 0
    assert set(results["w4_build_s"]) == set(names)
    assert all(v > 0 for v in results["w5_bytes_per_backend"].values())
    assert set(results["w7"]) == set(names)
    assert results["w3_pick"]["naive"].startswith("pick in Python")
    json.dumps(results)  # --json can write it


def test_table_names_every_workload(results: dict) -> None:
    table = bench.render(results)
    for label in ("floor", "w1", "w2", "w3", "w4", "w5", "w6", "w7"):
        assert label in table


def test_main_writes_json(tmp_path, capsys) -> None:
    out = tmp_path / "bench.json"
    argv = [
        "--rounds",
        "1",
        "--build-rounds",
        "1",
        "--backends",
        "20",
        "--quiet",
        "--json",
        str(out),
    ]
    code = bench.main(argv)
    assert code == 0
    data = json.loads(out.read_text())
    assert data["command"].startswith("python -m nexus.bench")
    assert "w1 get_backends_for_model" in capsys.readouterr().out


def test_pure_flavour_runs_on_the_pure_core() -> None:
    pure = next(f for f in bench.flavours() if f.name == "nexus py")
    registry = pure.make_registry()
    assert type(registry).__mro__[1].__module__ == "nexus._core_py"
    assert pure.twin["CounterTable"].__module__ == "nexus._counters_py"


def test_naive_registry_is_a_working_registry() -> None:
    registry = NaiveRegistry()
    backend = NaiveBackend("b1", "B1", "http://h:1", "ollama", [NaiveModel("m")])
    registry.add_backend(backend)
    with pytest.raises(DuplicateBackendError):
        registry.add_backend(NaiveBackend("b1", "B1", "http://h:1", "ollama"))
    assert registry.get_backends_for_model("m") == [backend]
    assert registry.get_healthy_backends() == []
    registry.update_status("b1", "healthy")
    assert registry.get_healthy_backends() == [backend]
    assert registry.increment_pending("b1") == 1
    assert registry.decrement_pending("b1") == 0
    assert registry.decrement_pending("b1") == 0
    assert registry.increment_total_requests("b1") == 1
    registry.update_latency("b1", 100)
    registry.update_latency("b1", 200)
    assert backend.avg_latency_ms == 120
    registry.update_models("b1", [NaiveModel("n")])
    assert registry.get_backends_for_model("m") == []
    assert registry.remove_backend("b1") is backend
    with pytest.raises(BackendNotFoundError):
        registry.increment_pending("b1")
    with pytest.raises(ValueError):
        NaiveBackend("b2", "B2", "ftp://h", "ollama")
