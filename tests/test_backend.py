"""T03 ``Backend`` and ``BackendView``: creation, defaults, validation, read-only state, snapshots."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

import pytest

from nexus import (
    Backend,
    BackendStatus,
    BackendType,
    BackendView,
    DiscoverySource,
    Model,
)

I32_MIN = -(2**31)
I32_MAX = 2**31 - 1
U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
VIEW_FIELDS = [
    "id",
    "name",
    "url",
    "backend_type",
    "status",
    "last_health_check",
    "last_error",
    "models",
    "priority",
    "pending_requests",
    "total_requests",
    "avg_latency_ms",
    "discovery_source",
    "metadata",
]
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def full_backend() -> Backend:
    return Backend(
        id="gpu-1",
        name="GPU box",
        url="https://gpu-1.lan:8000/v1",
        backend_type=BackendType.VLLM,
        models=[Model("llama3.1:70b", context_length=32768), Model("qwen2:7b")],
        discovery_source=DiscoverySource.MDNS,
        metadata={"rack": "a1", "gpu": "h100"},
        priority=-3,
    )


def test_backend_creation():
    # Backend can be created with all fields
    backend = full_backend()
    assert backend.id == "gpu-1"
    assert backend.name == "GPU box"
    assert backend.url == "https://gpu-1.lan:8000/v1"
    assert backend.backend_type is BackendType.VLLM
    assert backend.models == (Model("llama3.1:70b", context_length=32768), Model("qwen2:7b"))
    assert backend.discovery_source is DiscoverySource.MDNS
    assert dict(backend.metadata) == {"rack": "a1", "gpu": "h100"}
    assert backend.priority == -3


def test_backend_view_from_backend():
    # BackendView can be created from Backend
    backend = full_backend()
    view = BackendView.from_backend(backend)
    assert view == backend.view()
    assert view.id == backend.id
    assert view.name == backend.name
    assert view.url == backend.url
    assert view.backend_type is backend.backend_type
    assert view.status is backend.status
    assert view.last_health_check == backend.last_health_check
    assert view.last_error == backend.last_error
    assert view.models == backend.models
    assert view.priority == backend.priority
    assert view.pending_requests == backend.pending_requests
    assert view.total_requests == backend.total_requests
    assert view.avg_latency_ms == backend.avg_latency_ms
    assert view.discovery_source is backend.discovery_source
    assert dict(view.metadata) == dict(backend.metadata)


def test_backend_view_json_roundtrip():
    # BackendView serializes to JSON correctly
    view = full_backend().view()
    text = view.to_json()
    data = json.loads(text)
    assert data == view.to_dict()
    assert data["backend_type"] == "vllm"
    assert data["status"] == "unknown"
    assert data["discovery_source"] == "mdns"
    assert data["models"][0] == Model("llama3.1:70b", context_length=32768).to_dict()
    assert data["metadata"] == {"rack": "a1", "gpu": "h100"}
    assert BackendView.from_dict(data) == view


def test_backend_default_values():
    # New backend has sensible defaults (pending=0, total=0, etc.)
    before = datetime.now(timezone.utc)
    backend = Backend("b", "B", "http://localhost:1", "generic")
    after = datetime.now(timezone.utc)
    assert backend.status is BackendStatus.UNKNOWN
    assert backend.last_error is None
    assert before <= backend.last_health_check <= after
    assert backend.pending_requests == 0
    assert backend.total_requests == 0
    assert backend.avg_latency_ms == 0
    assert backend.models == ()
    assert backend.discovery_source is DiscoverySource.STATIC
    assert dict(backend.metadata) == {}
    assert backend.priority == 0


def test_backend_positional_arguments_follow_the_documented_order():
    models = [Model("m")]
    backend = Backend("i", "n", "http://h", "exo", models, "manual", {"k": "v"}, 7)
    assert (backend.id, backend.name, backend.url) == ("i", "n", "http://h")
    assert backend.backend_type is BackendType.EXO
    assert backend.models == tuple(models)
    assert backend.discovery_source is DiscoverySource.MANUAL
    assert dict(backend.metadata) == {"k": "v"}
    assert backend.priority == 7


def test_backend_last_health_check_is_timezone_aware_utc():
    moment = full_backend().last_health_check
    assert isinstance(moment, datetime)
    assert moment.tzinfo is not None
    assert moment.utcoffset() == timedelta(0)


def test_backend_models_is_a_tuple_of_models_from_any_iterable():
    backend = Backend("b", "B", "http://h", "ollama", models=(Model(x) for x in "abc"))
    assert isinstance(backend.models, tuple)
    assert [m.id for m in backend.models] == ["a", "b", "c"]


def test_backend_copies_its_models_and_metadata():
    models = [Model("a")]
    metadata = {"k": "v"}
    backend = Backend("b", "B", "http://h", "ollama", models=models, metadata=metadata)
    models.append(Model("b"))
    metadata["k"] = "changed"
    metadata["new"] = "x"
    assert backend.models == (Model("a"),)
    assert dict(backend.metadata) == {"k": "v"}


# ---- validation --------------------------------------------------------------------------------


def make(**overrides):
    fields = {"id": "b", "name": "B", "url": "http://localhost:11434", "backend_type": "ollama"}
    fields.update(overrides)
    return Backend(**fields)


@pytest.mark.parametrize("field", ["id", "name"])
@pytest.mark.parametrize("bad", [None, 1, b"x", ["x"]])
def test_backend_id_and_name_must_be_str(field, bad):
    with pytest.raises(TypeError) as info:
        make(**{field: bad})
    assert field in str(info.value)


@pytest.mark.parametrize("field", ["id", "name"])
def test_backend_id_and_name_must_not_be_empty(field):
    with pytest.raises(ValueError) as info:
        make(**{field: ""})
    assert field in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost",
        "http://localhost:11434",
        "https://example.com/v1/",
        "http://127.0.0.1:8080/",
        "http://[::1]:8000",
        "HTTP://EXAMPLE.COM",
        "http://user:pw@host:1/path?q=1",
    ],
)
def test_backend_accepts_http_and_https_urls(url):
    assert make(url=url).url == url


@pytest.mark.parametrize(
    "url",
    [
        "",
        "localhost:11434",
        "ftp://example.com",
        "ws://example.com",
        "file:///tmp/x",
        "http://",
        "https:///path",
        "http:/localhost",
        "//localhost:1",
        "http://host:notaport",
        "http://host:99999",
        "http://ho st",
    ],
)
def test_backend_rejects_bad_urls(url):
    with pytest.raises(ValueError) as info:
        make(url=url)
    assert "url" in str(info.value)


@pytest.mark.parametrize("bad", [None, 1, b"http://h"])
def test_backend_url_must_be_str(bad):
    with pytest.raises(TypeError, match="url"):
        make(url=bad)


@pytest.mark.parametrize("priority", [I32_MIN, -1, 0, 1, I32_MAX])
def test_backend_priority_accepts_int32_range(priority):
    assert make(priority=priority).priority == priority


@pytest.mark.parametrize("bad", [I32_MIN - 1, I32_MAX + 1, 2**63])
def test_backend_priority_rejects_out_of_range(bad):
    with pytest.raises(ValueError) as info:
        make(priority=bad)
    assert "priority" in str(info.value)
    assert str(bad) in str(info.value)


@pytest.mark.parametrize("bad", [True, False, 1.0, "1", None])
def test_backend_priority_rejects_non_int_and_bool(bad):
    with pytest.raises(TypeError, match="priority"):
        make(priority=bad)


@pytest.mark.parametrize(
    "bad",
    [{"k": 1}, {1: "v"}, {"k": None}, {"k": b"v"}, {("t",): "v"}],
)
def test_backend_metadata_must_map_str_to_str(bad):
    with pytest.raises(TypeError, match="metadata"):
        make(metadata=bad)


@pytest.mark.parametrize("bad", [["k", "v"], "kv", 5, [("k", "v")]])
def test_backend_metadata_must_be_a_mapping(bad):
    with pytest.raises(TypeError, match="metadata"):
        make(metadata=bad)


def test_backend_metadata_accepts_none_and_empty_strings():
    assert dict(make(metadata=None).metadata) == {}
    assert dict(make(metadata={"": ""}).metadata) == {"": ""}


def test_backend_metadata_is_read_only():
    backend = make(metadata={"k": "v"})
    assert isinstance(backend.metadata, Mapping)
    with pytest.raises(TypeError):
        backend.metadata["k"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        backend.metadata["new"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        del backend.metadata["k"]  # type: ignore[attr-defined]
    assert dict(backend.metadata) == {"k": "v"}


@pytest.mark.parametrize("bad", [Model("m"), "m", {"m": Model("m")}, 5, [Model("m"), "x"]])
def test_backend_models_must_be_an_iterable_of_model(bad):
    with pytest.raises(TypeError, match="models"):
        make(models=bad)


def test_backend_duplicate_model_ids_are_a_value_error():
    # Decision (README): a model id twice in one backend's list is a ValueError, nothing dropped.
    with pytest.raises(ValueError) as info:
        make(models=[Model("m"), Model("x"), Model("m", context_length=1)])
    assert "'m'" in str(info.value)
    assert "models" in str(info.value)


@pytest.mark.parametrize(
    "attribute",
    [
        "id",
        "name",
        "url",
        "backend_type",
        "discovery_source",
        "priority",
        "metadata",
        "status",
        "last_health_check",
        "last_error",
        "models",
        "pending_requests",
        "total_requests",
        "avg_latency_ms",
    ],
)
def test_backend_attributes_are_read_only(attribute):
    backend = full_backend()
    before = backend.view()
    value = getattr(backend, attribute)
    with pytest.raises(AttributeError):
        setattr(backend, attribute, value)
    with pytest.raises(AttributeError):
        delattr(backend, attribute)
    assert backend.view() == before


def test_backend_cannot_grow_new_attributes():
    with pytest.raises(AttributeError):
        full_backend().colour = "red"  # type: ignore[attr-defined]


def test_backend_status_is_unknown_and_counters_zero_after_view():
    backend = full_backend()
    view = backend.view()
    assert view.status is BackendStatus.UNKNOWN
    assert (view.pending_requests, view.total_requests, view.avg_latency_ms) == (0, 0, 0)


# ---- BackendView -------------------------------------------------------------------------------


def test_backend_view_field_order():
    assert [f.name for f in dataclasses.fields(BackendView)] == VIEW_FIELDS


def test_backend_view_to_dict_keys_in_field_order():
    assert list(full_backend().view().to_dict()) == VIEW_FIELDS


def test_backend_view_is_frozen():
    view = full_backend().view()
    with pytest.raises(AttributeError):
        view.status = BackendStatus.HEALTHY  # type: ignore[misc]
    with pytest.raises(TypeError):
        view.metadata["k"] = "v"  # type: ignore[index]


def test_backend_view_is_a_snapshot(registry):
    backend = full_backend()
    registry.add_backend(backend)
    view = backend.view()
    registry.increment_pending("gpu-1")
    registry.update_status("gpu-1", "healthy")
    registry.update_models("gpu-1", [])
    registry.set_mdns_instance("gpu-1", "inst")
    assert view.pending_requests == 0
    assert view.status is BackendStatus.UNKNOWN
    assert len(view.models) == 2
    assert "mdns_instance" not in view.metadata
    fresh = backend.view()
    assert fresh.pending_requests == 1
    assert fresh.status is BackendStatus.HEALTHY
    assert fresh.models == ()
    assert fresh.metadata["mdns_instance"] == "inst"


def test_backend_view_to_dict_format():
    backend = full_backend()
    data = backend.view().to_dict()
    assert data["id"] == "gpu-1"
    assert data["name"] == "GPU box"
    assert data["url"] == "https://gpu-1.lan:8000/v1"
    assert data["last_error"] is None
    assert data["priority"] == -3
    assert (data["pending_requests"], data["total_requests"], data["avg_latency_ms"]) == (0, 0, 0)
    assert data["models"] == [m.to_dict() for m in backend.models]
    assert isinstance(data["models"], list)
    assert isinstance(data["metadata"], dict)
    stamp = data["last_health_check"]
    assert ISO_Z.match(stamp), stamp
    assert datetime.fromisoformat(stamp[:-1] + "+00:00") == backend.last_health_check
    for value in (data["backend_type"], data["status"], data["discovery_source"]):
        assert type(value) is str


def test_backend_view_timestamp_format_example():
    view = dataclasses.replace(
        full_backend().view(),
        last_health_check=datetime(2026, 2, 14, 10, 30, 45, 123000, tzinfo=timezone.utc),
    )
    assert view.to_dict()["last_health_check"] == "2026-02-14T10:30:45.123000Z"


def test_backend_view_timestamp_is_converted_to_utc():
    plus_two = timezone(timedelta(hours=2))
    view = dataclasses.replace(
        full_backend().view(), last_health_check=datetime(2026, 2, 14, 12, 0, 0, tzinfo=plus_two)
    )
    assert view.to_dict()["last_health_check"] == "2026-02-14T10:00:00.000000Z"
    assert view.last_health_check.utcoffset() == timedelta(0)


def test_backend_view_rejects_naive_timestamp():
    with pytest.raises(ValueError, match="last_health_check"):
        dataclasses.replace(full_backend().view(), last_health_check=datetime(2026, 1, 1))


def test_backend_view_roundtrip_with_live_state(registry):
    backend = full_backend()
    registry.add_backend(backend)
    registry.update_status("gpu-1", "unhealthy", error="timeout after 5 s")
    registry.increment_pending("gpu-1")
    registry.increment_total_requests("gpu-1")
    registry.update_latency("gpu-1", 42)
    view = backend.view()
    assert BackendView.from_dict(view.to_dict()) == view
    assert BackendView.from_dict(json.loads(view.to_json())) == view
    assert json.loads(view.to_json()) == view.to_dict()
    assert view.to_dict()["last_error"] == "timeout after 5 s"


def test_backend_view_roundtrip_at_counter_limits(twin):
    backend = full_backend()
    backend._counters._force(pending=U32_MAX, total=U64_MAX, latency=U32_MAX)
    view = backend.view()
    assert (view.pending_requests, view.total_requests, view.avg_latency_ms) == (
        U32_MAX,
        U64_MAX,
        U32_MAX,
    )
    assert BackendView.from_dict(json.loads(view.to_json())) == view


def test_backend_view_equality_and_hash():
    backend = full_backend()
    first, second = backend.view(), backend.view()
    assert first == second
    assert hash(first) == hash(second)


def test_backend_view_from_dict_rejects_missing_and_unknown_keys():
    data = full_backend().view().to_dict()
    missing = dict(data)
    del missing["url"]
    with pytest.raises((TypeError, ValueError), match="url"):
        BackendView.from_dict(missing)
    with pytest.raises((TypeError, ValueError), match="colour"):
        BackendView.from_dict(dict(data, colour="red"))


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("priority", "1"),
        ("pending_requests", -1),
        ("total_requests", U64_MAX + 1),
        ("avg_latency_ms", 1.5),
        ("last_health_check", "yesterday"),
        ("last_health_check", "2026-01-01T00:00:00"),
        ("models", "llama"),
        ("metadata", {"k": 1}),
        ("url", "ftp://x"),
    ],
)
def test_backend_view_from_dict_rejects_bad_values(field, bad):
    data = dict(full_backend().view().to_dict(), **{field: bad})
    with pytest.raises((TypeError, ValueError)) as info:
        BackendView.from_dict(data)
    assert field in str(info.value)


def test_backend_view_from_backend_rejects_non_backend():
    with pytest.raises(TypeError):
        BackendView.from_backend(full_backend().view())  # type: ignore[arg-type]


def test_backend_view_can_be_copied_and_pickled(registry):
    backend = full_backend()
    registry.add_backend(backend)
    registry.update_status("gpu-1", "unhealthy", error="x")
    view = backend.view()
    for again in (copy.copy(view), copy.deepcopy(view), pickle.loads(pickle.dumps(view))):
        assert again == view
        assert again.to_dict() == view.to_dict()
        with pytest.raises(TypeError):
            again.metadata["k"] = "v"  # type: ignore[index]


def test_model_can_be_copied_and_pickled():
    model = Model("m", context_length=5, supports_tools=True)
    assert copy.deepcopy(model) == model
    assert pickle.loads(pickle.dumps(model)) == model
