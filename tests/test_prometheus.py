"""The optional Prometheus collector: scraped with ``generate_latest``, parsed with the official parser."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from nexus import BackendStatus, Model, Registry
from nexus.prometheus import RegistryCollector


def scrape(registry: Registry, **kwargs: Any) -> dict[str, Any]:
    """Register a collector in a fresh CollectorRegistry, scrape, parse: {family name: family}."""
    prometheus = CollectorRegistry()
    prometheus.register(RegistryCollector(registry, **kwargs))
    text = generate_latest(prometheus).decode("utf-8")
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(family: Any, name: str | None = None) -> dict[tuple[str, ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for sample in family.samples
        if name is None or sample.name == name
    }


def labels(backend_id: str, name: str, kind: str, **extra: str) -> tuple:
    return tuple(
        sorted(
            {"backend_id": backend_id, "backend_name": name, "backend_type": kind, **extra}.items()
        )
    )


@pytest.fixture
def fleet(registry: Registry, make_backend: Any) -> Registry:
    registry.add_backend(make_backend("a", models=("m1", "m2"), name="Alpha"))
    registry.add_backend(make_backend("b", models=("m2", "m3"), name="Beta", backend_type="vllm"))
    registry.add_backend(make_backend("c", models=("m3",), name="Gamma", backend_type="llamacpp"))
    registry.update_status("a", "healthy")
    registry.update_status("b", "draining")
    for _ in range(3):
        registry.increment_pending("a")
        registry.increment_total_requests("a")
    registry.decrement_pending("a")
    registry.update_latency("a", 1500)
    registry.increment_total_requests("b")
    registry.update_latency("b", 20)
    return registry


def test_every_metric_per_backend(fleet):
    families = scrape(fleet)
    pending = samples(families["nexus_backend_pending_requests"])
    assert families["nexus_backend_pending_requests"].type == "gauge"
    assert pending == {
        labels("a", "Alpha", "ollama"): 2.0,
        labels("b", "Beta", "vllm"): 0.0,
        labels("c", "Gamma", "llamacpp"): 0.0,
    }
    total = families["nexus_backend_requests"]
    assert total.type == "counter"
    assert samples(total, "nexus_backend_requests_total") == {
        labels("a", "Alpha", "ollama"): 3.0,
        labels("b", "Beta", "vllm"): 1.0,
        labels("c", "Gamma", "llamacpp"): 0.0,
    }
    latency = families["nexus_backend_latency_seconds"]
    assert latency.type == "gauge"
    assert samples(latency) == {
        labels("a", "Alpha", "ollama"): 1.5,
        labels("b", "Beta", "vllm"): 0.02,
        labels("c", "Gamma", "llamacpp"): 0.0,
    }


def test_status_is_one_gauge_per_state_with_the_current_one_at_1(fleet):
    status = samples(scrape(fleet)["nexus_backend_status"])
    assert len(status) == 3 * len(BackendStatus)
    expected = {
        ("a", "Alpha", "ollama"): "healthy",
        ("b", "Beta", "vllm"): "draining",
        ("c", "Gamma", "llamacpp"): "unknown",
    }
    for (backend_id, name, kind), current in expected.items():
        for state in BackendStatus:
            value = status[labels(backend_id, name, kind, status=state.value)]
            assert value == (1.0 if state.value == current else 0.0)


def test_registry_wide_counts(fleet):
    families = scrape(fleet)
    assert samples(families["nexus_backends"]) == {(): 3.0}
    assert samples(families["nexus_healthy_backends"]) == {(): 1.0}
    assert samples(families["nexus_models"]) == {(): 3.0}


def test_scrapes_follow_the_registry(fleet):
    fleet.remove_backend("c")
    fleet.update_status("b", "unhealthy", error="timeout")
    fleet.update_models("a", [Model("m9")])
    with fleet.track("a"):
        families = scrape(fleet)
    assert samples(families["nexus_backend_pending_requests"])[labels("a", "Alpha", "ollama")] == 3
    assert not any(
        dict(key)["backend_id"] == "c" for key in samples(families["nexus_backend_status"])
    )
    status = samples(families["nexus_backend_status"])
    assert status[labels("b", "Beta", "vllm", status="unhealthy")] == 1.0
    assert samples(families["nexus_backends"]) == {(): 2.0}
    assert samples(families["nexus_models"]) == {(): 3.0}  # m9, m2, m3


def test_empty_registry(registry):
    families = scrape(registry)
    assert samples(families["nexus_backends"]) == {(): 0.0}
    assert samples(families["nexus_models"]) == {(): 0.0}
    assert samples(families["nexus_backend_pending_requests"]) == {}


def test_namespace(fleet):
    assert "llm_backends" in scrape(fleet, namespace="llm")
    assert "backends" in scrape(fleet, namespace="")
    with pytest.raises(TypeError, match="namespace"):
        RegistryCollector(fleet, namespace=None)  # type: ignore[arg-type]


def test_bad_registry_argument():
    with pytest.raises(TypeError, match="registry"):
        RegistryCollector({})  # type: ignore[arg-type]


def test_label_values_are_escaped_by_the_exposition(registry, make_backend):
    registry.add_backend(make_backend("x", name='Quote " and \\ backslash\nnewline'))
    status = samples(scrape(registry)["nexus_backend_pending_requests"])
    assert status == {labels("x", 'Quote " and \\ backslash\nnewline', "ollama"): 0.0}


def test_registering_twice_in_one_collector_registry_is_refused(fleet):
    prometheus = CollectorRegistry()
    prometheus.register(RegistryCollector(fleet))
    with pytest.raises(ValueError, match="Duplicated"):
        prometheus.register(RegistryCollector(fleet))


def test_scrape_during_writes(registry, make_backend):
    for index in range(10):
        registry.add_backend(make_backend(f"b{index}"))
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn() -> None:
        try:
            step = 0
            while not stop.is_set():
                backend_id = f"b{step % 10}"
                registry.update_status(backend_id, ("healthy", "unhealthy")[step % 2])
                registry.remove_backend(backend_id)
                registry.add_backend(make_backend(backend_id))
                step += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        for _ in range(100):
            families = scrape(registry)
            for key, value in samples(families["nexus_backend_status"]).items():
                assert value in (0.0, 1.0), key
    finally:
        stop.set()
        thread.join()
    assert not errors


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_core_package_does_not_import_prometheus_client():
    result = run(
        "import sys, nexus\n"
        "r = nexus.Registry()\n"
        "r.add_backend(nexus.Backend('a', 'A', 'http://a', 'ollama', [nexus.Model('m')]))\n"
        "r.update_status('a', 'healthy')\n"
        "with r.track(r.select('m')):\n"
        "    pass\n"
        "assert 'prometheus_client' not in sys.modules, 'core imported prometheus_client'\n"
        "print('ok')\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_missing_prometheus_client_gives_an_install_hint():
    result = run(
        "import sys\n"
        "sys.modules['prometheus_client'] = None  # as if not installed\n"
        "import nexus\n"
        "try:\n"
        "    import nexus.prometheus\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'nexus-registry[prometheus]'" in result.stdout
