"""T05-T07 ``Registry``: storage, model index, queries, status and model updates, mDNS helpers,
serialisation, unknown ids and bad arguments (which must leave the registry exactly as it was).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from nexus import (
    Backend,
    BackendNotFoundError,
    BackendStatus,
    BackendView,
    DuplicateBackendError,
    Model,
    Registry,
    RegistryError,
)


def ids(backends) -> list[str]:
    return [backend.id for backend in backends]


def state(registry: Registry) -> dict[str, Any]:
    """Everything observable about a registry, for before/after comparisons."""
    snapshot = registry.to_dict()
    model_ids = sorted({m["id"] for b in snapshot["backends"] for m in b["models"]})
    return {
        "snapshot": snapshot,
        "count": registry.backend_count(),
        "len": len(registry),
        "all": ids(registry.get_all_backends()),
        "healthy": ids(registry.get_healthy_backends()),
        "model_count": registry.model_count(),
        "index": {m: sorted(ids(registry.get_backends_for_model(m))) for m in model_ids},
    }


@pytest.fixture
def populated(registry, make_backend):
    """b1 serves llama3 + mistral, b2 serves llama3, b3 serves nothing; b1 healthy, b2 unhealthy."""
    registry.add_backend(make_backend("b1", models=["llama3", "mistral"]))
    registry.add_backend(make_backend("b2", models=["llama3"]))
    registry.add_backend(make_backend("b3", models=[]))
    registry.update_status("b1", "healthy")
    registry.update_status("b2", "unhealthy", error="connection refused")
    registry.increment_pending("b1")
    registry.update_latency("b2", 30)
    registry.set_mdns_instance("b3", "ollama-b3._ollama._tcp.local.")
    return registry


# ---- T05: add / remove / get -------------------------------------------------------------------


def test_registry_new_empty():
    # New registry has 0 backends
    registry = Registry()
    assert registry.backend_count() == 0
    assert len(registry) == 0
    assert registry.model_count() == 0
    assert list(registry.get_all_backends()) == []
    assert list(registry.get_healthy_backends()) == []
    assert registry.to_dict() == {"backends": []}


def test_add_backend_success(registry, make_backend):
    # Adding backend stores it and can be retrieved
    backend = make_backend("b1")
    assert registry.add_backend(backend) is None
    assert registry.get_backend("b1") is backend
    assert registry.backend_count() == 1


def test_add_backend_duplicate_error(registry, make_backend):
    # Adding duplicate ID returns DuplicateBackend error
    first = make_backend("b1", models=["llama3"])
    registry.add_backend(first)
    before = state(registry)
    with pytest.raises(DuplicateBackendError) as info:
        registry.add_backend(make_backend("b1", models=["other"]))
    assert info.value.backend_id == "b1"
    assert str(info.value) == "backend already exists: b1"
    assert state(registry) == before
    assert registry.get_backend("b1") is first


def test_add_same_backend_object_twice_is_a_duplicate(registry, make_backend):
    backend = make_backend("b1")
    registry.add_backend(backend)
    before = state(registry)
    with pytest.raises(DuplicateBackendError):
        registry.add_backend(backend)
    assert state(registry) == before


def test_remove_backend_success(registry, make_backend):
    # Removing backend returns it and removes from registry
    backend = make_backend("b1")
    registry.add_backend(backend)
    registry.add_backend(make_backend("b2"))
    assert registry.remove_backend("b1") is backend
    assert registry.get_backend("b1") is None
    assert "b1" not in registry
    assert ids(registry.get_all_backends()) == ["b2"]
    assert registry.backend_count() == 1


def test_remove_backend_not_found(registry, make_backend):
    # Removing non-existent ID returns BackendNotFound error
    registry.add_backend(make_backend("b1"))
    before = state(registry)
    with pytest.raises(BackendNotFoundError) as info:
        registry.remove_backend("ghost")
    assert info.value.backend_id == "ghost"
    assert str(info.value) == "backend not found: ghost"
    assert state(registry) == before


def test_get_backend_found(registry, make_backend):
    # Getting existing backend returns Some(backend)
    backend = make_backend("b1")
    registry.add_backend(backend)
    found = registry.get_backend("b1")
    assert found is backend
    assert found.id == "b1"


def test_get_backend_not_found(registry, make_backend):
    # Getting non-existent ID returns None
    assert registry.get_backend("ghost") is None
    registry.add_backend(make_backend("b1"))
    assert registry.get_backend("ghost") is None
    assert registry.get_backend("") is None


def test_get_all_backends(registry, make_backend):
    # Returns all registered backends
    backends = [make_backend(f"b{i}") for i in range(5)]
    for backend in backends:
        registry.add_backend(backend)
    found = registry.get_all_backends()
    assert sorted(ids(found)) == [f"b{i}" for i in range(5)]
    assert all(any(f is b for f in found) for b in backends)


def test_backend_count(registry, make_backend):
    # Returns correct count after add/remove
    assert registry.backend_count() == 0
    for i in range(3):
        registry.add_backend(make_backend(f"b{i}"))
    assert registry.backend_count() == 3
    registry.remove_backend("b1")
    assert registry.backend_count() == 2
    registry.remove_backend("b0")
    registry.remove_backend("b2")
    assert registry.backend_count() == 0


def test_len_and_in(registry, make_backend):
    registry.add_backend(make_backend("b1"))
    registry.add_backend(make_backend("b2"))
    assert len(registry) == 2
    assert "b1" in registry
    assert "b3" not in registry
    assert 1 not in registry
    assert None not in registry
    registry.remove_backend("b1")
    assert len(registry) == 1
    assert "b1" not in registry


def test_add_after_remove_works(registry, make_backend):
    backend = make_backend("b1", models=["m"])
    registry.add_backend(backend)
    registry.remove_backend("b1")
    registry.add_backend(backend)
    assert registry.get_backend("b1") is backend
    assert ids(registry.get_backends_for_model("m")) == ["b1"]
    registry.remove_backend("b1")
    replacement = make_backend("b1", models=["n"])
    registry.add_backend(replacement)
    assert registry.get_backend("b1") is replacement
    assert list(registry.get_backends_for_model("m")) == []
    assert ids(registry.get_backends_for_model("n")) == ["b1"]
    assert registry.increment_pending("b1") == 1
    assert replacement.pending_requests == 1


def test_returned_backends_are_live_objects(registry, make_backend):
    backend = make_backend("b1")
    registry.add_backend(backend)
    registry.increment_pending("b1")
    registry.update_status("b1", "healthy")
    assert backend.pending_requests == 1
    assert backend.status is BackendStatus.HEALTHY
    assert registry.get_all_backends()[0] is backend
    assert registry.get_healthy_backends()[0] is backend
    assert registry.get_backends_for_model("llama3")[0] is backend


def test_backend_cannot_be_in_two_registries(twin, make_backend):
    first, second = Registry(), Registry()
    backend = make_backend("b1")
    first.add_backend(backend)
    second.add_backend(make_backend("other"))
    before = state(second)
    with pytest.raises(ValueError, match="b1"):
        second.add_backend(backend)
    assert state(second) == before
    assert first.get_backend("b1") is backend
    first.remove_backend("b1")
    second.add_backend(backend)
    assert second.get_backend("b1") is backend
    assert "b1" not in first


@pytest.mark.parametrize("bad", [None, "b1", 5, Model("m")])
def test_add_backend_rejects_non_backend(bad, populated):
    before = state(populated)
    with pytest.raises(TypeError):
        populated.add_backend(bad)
    assert state(populated) == before


def test_add_backend_rejects_view(populated, make_backend):
    before = state(populated)
    with pytest.raises(TypeError):
        populated.add_backend(make_backend("b9").view())
    assert state(populated) == before


def test_add_backend_keeps_status_of_a_healthy_backend(registry, make_backend):
    backend = make_backend("b1")
    registry.add_backend(backend)
    registry.update_status("b1", "healthy")
    registry.remove_backend("b1")
    other = Registry()
    other.add_backend(backend)
    assert ids(other.get_healthy_backends()) == ["b1"]


# ---- T06: model index and queries ---------------------------------------------------------------


def test_model_index_updated_on_add(registry, make_backend):
    # Adding backend updates model index
    assert list(registry.get_backends_for_model("llama3")) == []
    registry.add_backend(make_backend("b1", models=["llama3", "mistral"]))
    assert ids(registry.get_backends_for_model("llama3")) == ["b1"]
    assert ids(registry.get_backends_for_model("mistral")) == ["b1"]
    assert registry.model_count() == 2


def test_model_index_updated_on_remove(registry, make_backend):
    # Removing backend cleans up model index
    registry.add_backend(make_backend("b1", models=["llama3", "mistral"]))
    registry.add_backend(make_backend("b2", models=["llama3"]))
    registry.remove_backend("b1")
    assert ids(registry.get_backends_for_model("llama3")) == ["b2"]
    assert list(registry.get_backends_for_model("mistral")) == []
    assert registry.model_count() == 1


def test_model_disappears_when_its_last_backend_is_removed(registry, make_backend):
    registry.add_backend(make_backend("b1", models=["m"]))
    registry.add_backend(make_backend("b2", models=["m"]))
    registry.remove_backend("b1")
    assert registry.model_count() == 1
    registry.remove_backend("b2")
    assert registry.model_count() == 0
    assert list(registry.get_backends_for_model("m")) == []


def test_get_backends_for_model_single(registry, make_backend):
    # Returns single backend with model
    backend = make_backend("b1", models=["llama3"])
    registry.add_backend(backend)
    registry.add_backend(make_backend("b2", models=["mistral"]))
    found = registry.get_backends_for_model("llama3")
    assert len(found) == 1
    assert found[0] is backend


def test_get_backends_for_model_multiple(registry, make_backend):
    # Returns multiple backends with same model
    for name in ("b1", "b2", "b3"):
        registry.add_backend(make_backend(name, models=["llama3"]))
    registry.add_backend(make_backend("b4", models=["mistral"]))
    assert sorted(ids(registry.get_backends_for_model("llama3"))) == ["b1", "b2", "b3"]


def test_get_backends_for_model_none(registry, make_backend):
    # Returns empty vec for unknown model
    registry.add_backend(make_backend("b1", models=["llama3"]))
    found = registry.get_backends_for_model("gpt-7")
    assert len(found) == 0
    assert list(found) == []
    assert list(registry.get_backends_for_model("LLAMA3")) == []


def test_get_backends_for_model_rejects_non_str(populated):
    with pytest.raises(TypeError):
        populated.get_backends_for_model(5)


def test_get_healthy_backends_includes_healthy(registry, make_backend):
    # Includes backends with Healthy status
    registry.add_backend(make_backend("b1"))
    registry.add_backend(make_backend("b2"))
    registry.update_status("b1", BackendStatus.HEALTHY)
    registry.update_status("b2", BackendStatus.HEALTHY)
    assert sorted(ids(registry.get_healthy_backends())) == ["b1", "b2"]


def test_get_healthy_backends_excludes_unhealthy(registry, make_backend):
    # Excludes backends with Unhealthy status
    registry.add_backend(make_backend("b1"))
    registry.add_backend(make_backend("b2"))
    registry.update_status("b1", BackendStatus.HEALTHY)
    registry.update_status("b2", BackendStatus.UNHEALTHY)
    assert ids(registry.get_healthy_backends()) == ["b1"]
    registry.update_status("b1", BackendStatus.UNHEALTHY)
    assert list(registry.get_healthy_backends()) == []


def test_get_healthy_backends_excludes_draining(registry, make_backend):
    # Excludes backends with Draining status
    registry.add_backend(make_backend("b1"))
    registry.add_backend(make_backend("b2"))
    registry.update_status("b1", BackendStatus.HEALTHY)
    registry.update_status("b2", BackendStatus.DRAINING)
    assert ids(registry.get_healthy_backends()) == ["b1"]


def test_get_healthy_backends_excludes_unknown(registry, make_backend):
    registry.add_backend(make_backend("b1"))
    assert list(registry.get_healthy_backends()) == []
    registry.update_status("b1", "healthy")
    registry.update_status("b1", "unknown")
    assert list(registry.get_healthy_backends()) == []


def test_get_healthy_backends_follows_every_transition(registry, make_backend):
    registry.add_backend(make_backend("b1"))
    for status in ["healthy", "healthy", "draining", "healthy", "unhealthy", "healthy"]:
        registry.update_status("b1", status)
        expected = ["b1"] if status == "healthy" else []
        assert ids(registry.get_healthy_backends()) == expected
    registry.remove_backend("b1")
    assert list(registry.get_healthy_backends()) == []


def test_model_count(registry, make_backend):
    # Counts unique models across all backends
    assert registry.model_count() == 0
    registry.add_backend(make_backend("b1", models=["llama3", "mistral"]))
    registry.add_backend(make_backend("b2", models=["llama3", "qwen"]))
    registry.add_backend(make_backend("b3", models=[]))
    assert registry.model_count() == 3


# ---- T07: status and model updates ------------------------------------------------------------


def test_update_status_changes_status(registry, make_backend):
    # Status changes from Healthy to Unhealthy
    registry.add_backend(make_backend("b1"))
    registry.update_status("b1", BackendStatus.HEALTHY)
    assert registry.get_backend("b1").status is BackendStatus.HEALTHY
    assert registry.update_status("b1", BackendStatus.UNHEALTHY) is None
    assert registry.get_backend("b1").status is BackendStatus.UNHEALTHY


def test_update_status_sets_timestamp(registry, make_backend):
    # last_health_check is updated
    registry.add_backend(make_backend("b1"))
    created = registry.get_backend("b1").last_health_check
    before = datetime.now(timezone.utc)
    registry.update_status("b1", BackendStatus.HEALTHY)
    after = datetime.now(timezone.utc)
    checked = registry.get_backend("b1").last_health_check
    assert before <= checked <= after
    assert checked >= created
    assert checked.utcoffset() == timedelta(0)


def test_update_status_sets_error(registry, make_backend):
    # last_error is set when status is Unhealthy
    registry.add_backend(make_backend("b1"))
    registry.update_status("b1", BackendStatus.UNHEALTHY, error="connection refused")
    assert registry.get_backend("b1").last_error == "connection refused"
    registry.update_status("b1", BackendStatus.UNHEALTHY, "timeout")
    assert registry.get_backend("b1").last_error == "timeout"


def test_update_status_clears_error(registry, make_backend):
    # last_error is cleared when status becomes Healthy
    registry.add_backend(make_backend("b1"))
    registry.update_status("b1", BackendStatus.UNHEALTHY, error="connection refused")
    registry.update_status("b1", BackendStatus.HEALTHY)
    assert registry.get_backend("b1").last_error is None


def test_update_status_without_error_clears_it_for_any_status(registry, make_backend):
    registry.add_backend(make_backend("b1"))
    registry.update_status("b1", "unhealthy", error="boom")
    registry.update_status("b1", "unhealthy")
    assert registry.get_backend("b1").last_error is None
    registry.update_status("b1", "healthy", error="recovered after 3 tries")
    assert registry.get_backend("b1").last_error == "recovered after 3 tries"
    registry.update_status("b1", "draining", error=None)
    assert registry.get_backend("b1").last_error is None


def test_update_status_not_found(registry, make_backend):
    # Returns error for unknown backend ID
    registry.add_backend(make_backend("b1"))
    before = state(registry)
    with pytest.raises(BackendNotFoundError) as info:
        registry.update_status("ghost", BackendStatus.HEALTHY)
    assert info.value.backend_id == "ghost"
    assert state(registry) == before


def test_update_models_replaces_list(registry, make_backend):
    # Model list is completely replaced
    registry.add_backend(make_backend("b1", models=["llama3", "mistral"]))
    new_models = [Model("qwen2:7b", context_length=32768), Model("llama3", supports_tools=True)]
    assert registry.update_models("b1", new_models) is None
    assert registry.get_backend("b1").models == tuple(new_models)


def test_update_models_updates_index(registry, make_backend):
    # Model index reflects new models, removes old
    registry.add_backend(make_backend("b1", models=["llama3", "mistral"]))
    registry.add_backend(make_backend("b2", models=["mistral"]))
    registry.update_models("b1", [Model("llama3"), Model("qwen")])
    assert ids(registry.get_backends_for_model("llama3")) == ["b1"]
    assert ids(registry.get_backends_for_model("qwen")) == ["b1"]
    assert ids(registry.get_backends_for_model("mistral")) == ["b2"]
    assert registry.model_count() == 3
    registry.update_models("b2", [])
    assert list(registry.get_backends_for_model("mistral")) == []
    assert registry.model_count() == 2
    registry.update_models("b1", ())
    assert registry.model_count() == 0


def test_update_models_accepts_any_iterable(registry, make_backend):
    registry.add_backend(make_backend("b1", models=[]))
    registry.update_models("b1", (Model(x) for x in ["a", "b"]))
    assert [m.id for m in registry.get_backend("b1").models] == ["a", "b"]
    assert registry.model_count() == 2


def test_update_models_not_found(registry, make_backend):
    # Returns error for unknown backend ID
    registry.add_backend(make_backend("b1"))
    before = state(registry)
    with pytest.raises(BackendNotFoundError) as info:
        registry.update_models("ghost", [Model("x")])
    assert info.value.backend_id == "ghost"
    assert state(registry) == before
    assert list(registry.get_backends_for_model("x")) == []


def test_update_models_does_not_touch_status_or_counters(populated):
    populated.update_models("b1", [Model("new")])
    backend = populated.get_backend("b1")
    assert backend.status is BackendStatus.HEALTHY
    assert backend.pending_requests == 1


# ---- has_backend_url, mDNS helpers -------------------------------------------------------------


def test_has_backend_url_ignores_trailing_slashes(registry, make_backend):
    registry.add_backend(make_backend("b1", url="http://localhost:11434"))
    registry.add_backend(make_backend("b2", url="http://127.0.0.1:8080/"))
    assert registry.has_backend_url("http://localhost:11434")
    assert registry.has_backend_url("http://localhost:11434/")
    assert registry.has_backend_url("http://localhost:11434//")
    assert registry.has_backend_url("http://127.0.0.1:8080")
    assert registry.has_backend_url("http://127.0.0.1:8080/")
    assert not registry.has_backend_url("http://localhost:11435")
    assert not registry.has_backend_url("https://localhost:11434")
    assert not registry.has_backend_url("")
    registry.remove_backend("b1")
    assert not registry.has_backend_url("http://localhost:11434")


def test_has_backend_url_rejects_non_str(populated):
    with pytest.raises(TypeError):
        populated.has_backend_url(None)


def test_set_and_find_mdns_instance(registry, make_backend):
    registry.add_backend(make_backend("b1", metadata={"rack": "a1"}))
    registry.add_backend(make_backend("b2"))
    assert registry.find_by_mdns_instance("gpu._ollama._tcp.local.") is None
    assert registry.set_mdns_instance("b1", "gpu._ollama._tcp.local.") is None
    assert registry.get_backend("b1").metadata["mdns_instance"] == "gpu._ollama._tcp.local."
    assert registry.get_backend("b1").metadata["rack"] == "a1"
    assert registry.find_by_mdns_instance("gpu._ollama._tcp.local.") == "b1"
    assert registry.find_by_mdns_instance("other") is None
    registry.set_mdns_instance("b1", "renamed")
    assert registry.find_by_mdns_instance("renamed") == "b1"
    assert registry.find_by_mdns_instance("gpu._ollama._tcp.local.") is None
    registry.remove_backend("b1")
    assert registry.find_by_mdns_instance("renamed") is None


def test_mdns_instance_is_serialised_in_metadata(registry, make_backend):
    registry.add_backend(make_backend("b1"))
    registry.set_mdns_instance("b1", "inst")
    assert registry.to_dict()["backends"][0]["metadata"] == {"mdns_instance": "inst"}


def test_metadata_stays_read_only_after_set_mdns_instance(registry, make_backend):
    registry.add_backend(make_backend("b1"))
    registry.set_mdns_instance("b1", "inst")
    with pytest.raises(TypeError):
        registry.get_backend("b1").metadata["mdns_instance"] = "x"


# ---- serialisation -----------------------------------------------------------------------------


def test_to_dict_sorted_by_id(registry, make_backend):
    for name in ["zeta", "alpha", "mid", "Beta"]:
        registry.add_backend(make_backend(name))
    data = registry.to_dict()
    assert list(data) == ["backends"]
    assert [b["id"] for b in data["backends"]] == ["Beta", "alpha", "mid", "zeta"]


def test_to_dict_entries_are_backend_views(populated):
    data = populated.to_dict()
    for entry in data["backends"]:
        backend = populated.get_backend(entry["id"])
        assert entry == backend.view().to_dict()
        assert BackendView.from_dict(entry) == backend.view()
    b1 = data["backends"][0]
    assert b1["status"] == "healthy"
    assert b1["pending_requests"] == 1
    assert data["backends"][1]["last_error"] == "connection refused"
    assert data["backends"][1]["avg_latency_ms"] == 30


def test_to_json_is_json_of_to_dict(populated):
    text = populated.to_json()
    assert isinstance(text, str)
    assert json.loads(text) == populated.to_dict()
    assert json.loads(Registry().to_json()) == {"backends": []}


# ---- unknown ids -------------------------------------------------------------------------------

UNKNOWN_ID_CALLS = {
    "remove_backend": lambda r: r.remove_backend("ghost"),
    "update_status": lambda r: r.update_status("ghost", "healthy"),
    "update_models": lambda r: r.update_models("ghost", []),
    "set_mdns_instance": lambda r: r.set_mdns_instance("ghost", "inst"),
    "increment_pending": lambda r: r.increment_pending("ghost"),
    "decrement_pending": lambda r: r.decrement_pending("ghost"),
    "increment_total_requests": lambda r: r.increment_total_requests("ghost"),
    "update_latency": lambda r: r.update_latency("ghost", 10),
}


@pytest.mark.parametrize("method", sorted(UNKNOWN_ID_CALLS))
def test_unknown_id_raises_backend_not_found(method, populated):
    before = state(populated)
    with pytest.raises(BackendNotFoundError) as info:
        UNKNOWN_ID_CALLS[method](populated)
    assert info.value.backend_id == "ghost"
    assert str(info.value) == "backend not found: ghost"
    assert isinstance(info.value, KeyError)
    assert state(populated) == before


@pytest.mark.parametrize("method", sorted(UNKNOWN_ID_CALLS))
def test_removed_id_raises_backend_not_found(method, populated, make_backend):
    populated.add_backend(make_backend("ghost"))
    populated.remove_backend("ghost")
    before = state(populated)
    with pytest.raises(BackendNotFoundError):
        UNKNOWN_ID_CALLS[method](populated)
    assert state(populated) == before


def test_get_backend_unknown_returns_none(populated):
    assert populated.get_backend("ghost") is None


# ---- bad arguments leave the registry unchanged ------------------------------------------------

BAD_ID_CALLS = {
    "remove_backend": lambda r, bad: r.remove_backend(bad),
    "get_backend": lambda r, bad: r.get_backend(bad),
    "update_status": lambda r, bad: r.update_status(bad, "healthy"),
    "update_models": lambda r, bad: r.update_models(bad, []),
    "set_mdns_instance": lambda r, bad: r.set_mdns_instance(bad, "inst"),
    "increment_pending": lambda r, bad: r.increment_pending(bad),
    "decrement_pending": lambda r, bad: r.decrement_pending(bad),
    "increment_total_requests": lambda r, bad: r.increment_total_requests(bad),
    "update_latency": lambda r, bad: r.update_latency(bad, 10),
}


@pytest.mark.parametrize("method", sorted(BAD_ID_CALLS))
@pytest.mark.parametrize("bad", [None, 1, b"b1", ("b1",)])
def test_non_str_backend_id_is_a_type_error(method, bad, populated):
    before = state(populated)
    with pytest.raises(TypeError) as info:
        BAD_ID_CALLS[method](populated, bad)
    assert not isinstance(info.value, RegistryError)
    assert "backend_id" in str(info.value)
    assert state(populated) == before


BAD_ARGUMENT_CALLS = {
    "status-unknown-string": (lambda r: r.update_status("b1", "sick"), ValueError, "status"),
    "status-int": (lambda r: r.update_status("b1", 1), (TypeError, ValueError), "status"),
    "status-error-int": (
        lambda r: r.update_status("b2", "healthy", error=500),
        TypeError,
        "error",
    ),
    "status-error-bytes": (
        lambda r: r.update_status("b1", "unhealthy", error=b"x"),
        TypeError,
        "error",
    ),
    "models-not-models": (lambda r: r.update_models("b1", ["llama3"]), TypeError, "models"),
    "models-mixed": (
        lambda r: r.update_models("b1", [Model("ok"), "bad"]),
        TypeError,
        "models",
    ),
    "models-a-model": (lambda r: r.update_models("b1", Model("m")), TypeError, "models"),
    "models-a-str": (lambda r: r.update_models("b1", "llama3"), TypeError, "models"),
    "models-none": (lambda r: r.update_models("b1", None), TypeError, "models"),
    "models-duplicate-ids": (
        lambda r: r.update_models("b1", [Model("x"), Model("x")]),
        ValueError,
        "models",
    ),
    "mdns-int": (lambda r: r.set_mdns_instance("b1", 5), TypeError, "instance"),
    "mdns-empty": (lambda r: r.set_mdns_instance("b1", ""), ValueError, "instance"),
    "find-mdns-int": (lambda r: r.find_by_mdns_instance(5), TypeError, "instance"),
    "latency-negative": (lambda r: r.update_latency("b1", -1), ValueError, "latency_ms"),
    "latency-too-big": (lambda r: r.update_latency("b1", 2**32), ValueError, "latency_ms"),
    "latency-float": (lambda r: r.update_latency("b1", 1.5), TypeError, "latency_ms"),
    "latency-bool": (lambda r: r.update_latency("b1", True), TypeError, "latency_ms"),
    "latency-str": (lambda r: r.update_latency("b1", "5"), TypeError, "latency_ms"),
    "latency-none": (lambda r: r.update_latency("b1", None), TypeError, "latency_ms"),
    "model-id-int": (lambda r: r.get_backends_for_model(3), TypeError, "model_id"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARGUMENT_CALLS))
def test_bad_argument_leaves_registry_unchanged(case, populated):
    call, error_type, field = BAD_ARGUMENT_CALLS[case]
    before = state(populated)
    with pytest.raises(error_type) as info:
        call(populated)
    assert not isinstance(info.value, RegistryError)
    assert field in str(info.value)
    assert state(populated) == before


def test_bad_argument_on_unknown_id_is_still_a_bad_argument(populated):
    # Argument checks come first: a bad status is a ValueError even for an unknown id.
    before = state(populated)
    with pytest.raises(ValueError):
        populated.update_status("ghost", "sick")
    with pytest.raises(TypeError):
        populated.update_models("ghost", ["x"])
    assert state(populated) == before


def test_failed_update_models_keeps_the_old_models(populated):
    old = populated.get_backend("b1").models
    with pytest.raises(ValueError):
        populated.update_models("b1", [Model("a"), Model("a")])
    assert populated.get_backend("b1").models == old
    assert ids(populated.get_backends_for_model("mistral")) == ["b1"]
    assert list(populated.get_backends_for_model("a")) == []


def test_registry_methods_never_raise_registry_error_for_bad_arguments(populated):
    with pytest.raises(TypeError) as info:
        populated.add_backend(object())
    assert not isinstance(info.value, RegistryError)


def test_str_subclass_id_finds_the_backend(populated):
    class Text(str):
        pass

    assert populated.get_backend(Text("b1")) is populated.get_backend("b1")
    assert Text("b1") in populated
    assert populated.increment_pending(Text("b1")) == 2


def test_backend_objects_built_directly_are_independent(twin):
    a = Backend("a", "A", "http://a", "ollama")
    b = Backend("a", "A", "http://a", "ollama")
    registry = Registry()
    registry.add_backend(a)
    registry.increment_pending("a")
    assert (a.pending_requests, b.pending_requests) == (1, 0)


@pytest.mark.parametrize("method", sorted(set(BAD_ID_CALLS) - {"get_backend"}))
def test_empty_backend_id_is_a_value_error(method, populated):
    # No backend can have the id "": it is a bad argument, not an unknown id.
    before = state(populated)
    with pytest.raises(ValueError) as info:
        BAD_ID_CALLS[method](populated, "")
    assert not isinstance(info.value, RegistryError)
    assert "backend_id" in str(info.value)
    assert state(populated) == before


def test_empty_backend_id_is_not_found_by_get_backend(populated):
    assert populated.get_backend("") is None
    assert "" not in populated


def test_methods_accept_the_api_parameter_names_as_keywords(registry, make_backend):
    # API.md names the parameters: id, model_id, status, error, models, latency_ms, instance, url.
    registry.add_backend(backend=make_backend("b1", models=["m"]))
    assert registry.get_backend(id="b1").id == "b1"
    assert [b.id for b in registry.get_backends_for_model(model_id="m")] == ["b1"]
    registry.update_status(id="b1", status="healthy", error=None)
    assert registry.get_healthy_backends()[0].id == "b1"
    assert registry.increment_pending(id="b1") == 1
    assert registry.decrement_pending(id="b1") == 0
    assert registry.increment_total_requests(id="b1") == 1
    registry.update_latency(id="b1", latency_ms=40)
    registry.update_latency("b1", latency_ms=40)
    assert registry.get_backend("b1").avg_latency_ms == 40
    registry.update_models(id="b1", models=[Model("m2")])
    registry.set_mdns_instance(id="b1", instance="svc._ollama._tcp")
    assert registry.find_by_mdns_instance(instance="svc._ollama._tcp") == "b1"
    assert registry.has_backend_url(url="http://b1.local:11434/")
    assert registry.remove_backend(id="b1").id == "b1"
