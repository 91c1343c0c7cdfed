"""T02 enums: lowercase string values, JSON, and str/enum acceptance wherever the API takes one."""

from __future__ import annotations

import json
from enum import Enum

import pytest

from nexus import BackendStatus, BackendType, BackendView, DiscoverySource

TYPE_VALUES = {
    BackendType.OLLAMA: "ollama",
    BackendType.VLLM: "vllm",
    BackendType.LLAMACPP: "llamacpp",
    BackendType.EXO: "exo",
    BackendType.OPENAI: "openai",
    BackendType.LMSTUDIO: "lmstudio",
    BackendType.GENERIC: "generic",
}
STATUS_VALUES = {
    BackendStatus.HEALTHY: "healthy",
    BackendStatus.UNHEALTHY: "unhealthy",
    BackendStatus.UNKNOWN: "unknown",
    BackendStatus.DRAINING: "draining",
}
SOURCE_VALUES = {
    DiscoverySource.STATIC: "static",
    DiscoverySource.MDNS: "mdns",
    DiscoverySource.MANUAL: "manual",
}
ALL_VALUES = [
    *TYPE_VALUES.items(),
    *STATUS_VALUES.items(),
    *SOURCE_VALUES.items(),
]


def test_backend_type_serialization():
    # BackendType::Ollama serializes to "ollama"
    assert json.dumps(BackendType.OLLAMA) == '"ollama"'
    assert BackendType.OLLAMA.value == "ollama"
    assert BackendType(json.loads(json.dumps(BackendType.OLLAMA))) is BackendType.OLLAMA


def test_backend_status_serialization():
    # BackendStatus::Healthy serializes to "healthy"
    assert json.dumps(BackendStatus.HEALTHY) == '"healthy"'
    assert BackendStatus.HEALTHY.value == "healthy"
    assert BackendStatus(json.loads(json.dumps(BackendStatus.HEALTHY))) is BackendStatus.HEALTHY


def test_discovery_source_serialization():
    # DiscoverySource::MDNS serializes to "mdns"
    assert json.dumps(DiscoverySource.MDNS) == '"mdns"'
    assert DiscoverySource.MDNS.value == "mdns"
    assert DiscoverySource(json.loads(json.dumps(DiscoverySource.MDNS))) is DiscoverySource.MDNS


@pytest.mark.parametrize(
    ("enum_type", "expected"),
    [(BackendType, TYPE_VALUES), (BackendStatus, STATUS_VALUES), (DiscoverySource, SOURCE_VALUES)],
)
def test_enum_has_exactly_the_listed_members(enum_type, expected):
    assert set(enum_type) == set(expected)
    assert len(enum_type) == len(expected)


@pytest.mark.parametrize(("member", "value"), ALL_VALUES, ids=[v for _, v in ALL_VALUES])
def test_enum_values_are_lowercase_strings(member, value):
    assert isinstance(member, str)
    assert isinstance(member, Enum)
    assert member == value
    assert member.value == value
    assert value == value.lower()
    assert type(member)(value) is member
    assert str(member) == value
    assert f"{member}" == value
    assert json.dumps(member) == json.dumps(value)
    assert json.dumps({"k": member}) == json.dumps({"k": value})
    assert hash(member) == hash(value)


@pytest.mark.parametrize("enum_type", [BackendType, BackendStatus, DiscoverySource])
def test_enum_lookup_rejects_unknown_value(enum_type):
    with pytest.raises(ValueError):
        enum_type("not-a-member")
    with pytest.raises(ValueError):
        enum_type(next(iter(enum_type)).value.upper())


def _assert_names_value_and_allowed(message: str, bad: str, allowed: dict) -> None:
    assert bad in message
    for value in allowed.values():
        assert value in message


@pytest.mark.parametrize(("member", "value"), TYPE_VALUES.items(), ids=TYPE_VALUES.values())
def test_backend_accepts_backend_type_as_enum_or_string(member, value, make_backend):
    assert make_backend("e", backend_type=member).backend_type is member
    assert make_backend("s", backend_type=value).backend_type is member


@pytest.mark.parametrize(("member", "value"), SOURCE_VALUES.items(), ids=SOURCE_VALUES.values())
def test_backend_accepts_discovery_source_as_enum_or_string(member, value, make_backend):
    assert make_backend("e", discovery_source=member).discovery_source is member
    assert make_backend("s", discovery_source=value).discovery_source is member


@pytest.mark.parametrize(("member", "value"), STATUS_VALUES.items(), ids=STATUS_VALUES.values())
def test_update_status_accepts_enum_or_string(member, value, registry, make_backend):
    registry.add_backend(make_backend("b1"))
    registry.update_status("b1", value)
    assert registry.get_backend("b1").status is member
    registry.update_status("b1", BackendStatus.UNKNOWN if member != "unknown" else "healthy")
    registry.update_status("b1", member)
    assert registry.get_backend("b1").status is member


def test_str_subclass_value_is_accepted_and_normalised(make_backend):
    class Text(str):
        pass

    backend = make_backend(backend_type=Text("vllm"), discovery_source=Text("manual"))
    assert backend.backend_type is BackendType.VLLM
    assert backend.discovery_source is DiscoverySource.MANUAL


@pytest.mark.parametrize("bad", ["ollamaa", "OLLAMA", "", " ollama"])
def test_backend_rejects_unknown_backend_type_string(bad, make_backend):
    with pytest.raises(ValueError) as info:
        make_backend(backend_type=bad)
    message = str(info.value)
    assert "backend_type" in message
    assert repr(bad) in message
    _assert_names_value_and_allowed(message, bad, TYPE_VALUES)


def test_backend_rejects_unknown_discovery_source_string(make_backend):
    with pytest.raises(ValueError) as info:
        make_backend(discovery_source="dns")
    message = str(info.value)
    assert "discovery_source" in message
    _assert_names_value_and_allowed(message, "'dns'", SOURCE_VALUES)


def test_update_status_rejects_unknown_string(registry, make_backend):
    registry.add_backend(make_backend("b1"))
    before = registry.to_dict()
    with pytest.raises(ValueError) as info:
        registry.update_status("b1", "sick")
    message = str(info.value)
    assert "status" in message
    _assert_names_value_and_allowed(message, "'sick'", STATUS_VALUES)
    assert registry.to_dict() == before


def test_enum_of_the_wrong_kind_is_rejected(registry, make_backend):
    with pytest.raises(ValueError) as info:
        make_backend(backend_type=BackendStatus.HEALTHY)
    assert "healthy" in str(info.value)
    registry.add_backend(make_backend("b1"))
    before = registry.to_dict()
    with pytest.raises(ValueError):
        registry.update_status("b1", DiscoverySource.MDNS)
    assert registry.to_dict() == before


@pytest.mark.parametrize("bad", [1, None, 2.5, b"ollama", ["ollama"]])
def test_non_string_enum_argument_is_rejected(bad, registry, make_backend):
    # A wrong type is a bad argument: TypeError or ValueError, naming the field and the allowed values.
    with pytest.raises((TypeError, ValueError)) as info:
        make_backend(backend_type=bad)
    message = str(info.value)
    assert "backend_type" in message
    _assert_names_value_and_allowed(message, "", TYPE_VALUES)
    registry.add_backend(make_backend("b1"))
    before = registry.to_dict()
    with pytest.raises((TypeError, ValueError)) as info:
        registry.update_status("b1", bad)
    assert "status" in str(info.value)
    assert registry.to_dict() == before


@pytest.mark.parametrize("bad", [1, None, 2.5])
def test_non_string_enum_argument_is_a_value_error(bad, registry, make_backend):
    # API.md: any value other than a member or its string value raises ValueError.
    with pytest.raises(ValueError):
        make_backend(backend_type=bad)
    with pytest.raises(ValueError):
        make_backend(discovery_source=bad)
    registry.add_backend(make_backend("b1"))
    with pytest.raises(ValueError):
        registry.update_status("b1", bad)


def test_backend_view_accepts_enum_strings(make_backend):
    data = make_backend().view().to_dict()
    view = BackendView.from_dict(data)
    assert view.backend_type is BackendType.OLLAMA
    assert view.status is BackendStatus.UNKNOWN
    assert view.discovery_source is DiscoverySource.STATIC
    bad = dict(data, status="asleep")
    with pytest.raises(ValueError) as info:
        BackendView.from_dict(bad)
    _assert_names_value_and_allowed(str(info.value), "asleep", STATUS_VALUES)


def test_enum_members_compare_equal_to_registry_output(registry, make_backend):
    registry.add_backend(make_backend("b1"))
    registry.update_status("b1", "draining")
    snapshot = json.loads(registry.to_json())
    assert snapshot["backends"][0]["status"] == BackendStatus.DRAINING
    assert snapshot["backends"][0]["backend_type"] == BackendType.OLLAMA
    assert snapshot["backends"][0]["discovery_source"] == DiscoverySource.STATIC
