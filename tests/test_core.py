"""``RegistryCore``, the base of ``Registry`` holding its per-request calls: both twins, directly.

``Registry`` inherits from whichever core the selector chose at import (the compiled one unless
``NEXUS_NO_EXTENSIONS`` is set), so the per-test counters swap does not reach it; these tests run
the compiled ``nexus._core`` and the pure ``nexus._core_py`` side by side on the same inputs.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

import nexus
from nexus import counters as selector

CORES = ("nexus._core", "nexus._core_py")


@pytest.fixture(params=CORES)
def core(request: pytest.FixtureRequest) -> ModuleType:
    """The core module under test (the compiled one errors here if it was not built)."""
    return importlib.import_module(request.param)


class Text(str):
    """A str subclass whose hash and equality would corrupt a dict if they reached it."""

    def __hash__(self) -> int:
        raise AssertionError("the subclass hash must never be used")

    def __eq__(self, other: object) -> bool:
        raise AssertionError("the subclass eq must never be used")


def test_registry_uses_the_selected_core() -> None:
    assert issubclass(nexus.Registry, selector.RegistryCore)
    expected = "nexus._core" if selector.USING_EXTENSION else "nexus._core_py"
    assert selector.RegistryCore.__module__ == expected


def test_fresh_core_is_empty(core: ModuleType) -> None:
    c = core.RegistryCore()
    assert c._backends == {} and c._by_model == {}
    assert c.get_all_backends() == () and c.get_healthy_backends() == ()
    assert c._all == () and c._healthy == ()


def test_reads_follow_the_dicts_and_published_tuples(core: ModuleType) -> None:
    c = core.RegistryCore()
    one, two = object(), object()
    c._backends["b1"] = one
    c._by_model["m"] = (one, two)
    c._all = (one, two)
    c._healthy = (two,)
    assert c.get_backend("b1") is one
    assert c.get_backend("nope") is None
    assert c.get_backend("") is None
    assert c.get_backends_for_model("m") == (one, two)
    assert c.get_backends_for_model("unknown") == ()
    assert c.get_all_backends() == (one, two) and c._all == (one, two)
    assert c.get_healthy_backends() == (two,) and c._healthy == (two,)


def test_published_tuples_must_be_tuples(core: ModuleType) -> None:
    c = core.RegistryCore()
    with pytest.raises(TypeError):
        c._all = [1]
    with pytest.raises(TypeError):
        c._healthy = None
    assert c._all == () and c._healthy == ()


@pytest.mark.parametrize("method", ["get_backend", "get_backends_for_model"])
def test_str_subclass_key_is_normalised(core: ModuleType, method: str) -> None:
    c = core.RegistryCore()
    c._backends["b1"] = "backend"
    c._by_model["b1"] = ("backend",)
    expected = "backend" if method == "get_backend" else ("backend",)
    assert getattr(c, method)(Text("b1")) == expected


@pytest.mark.parametrize(
    ("method", "field"), [("get_backend", "backend_id"), ("get_backends_for_model", "model_id")]
)
@pytest.mark.parametrize("bad", [None, 5, b"b1", ["b1"]])
def test_non_str_key_is_a_type_error_naming_the_field(
    core: ModuleType, method: str, field: str, bad: object
) -> None:
    c = core.RegistryCore()
    with pytest.raises(TypeError, match=field):
        getattr(c, method)(bad)


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("get_backend", ("b1",)),
        ("get_backends_for_model", ("m",)),
        ("increment_pending", ("b1",)),
        ("decrement_pending", ("b1",)),
        ("increment_total_requests", ("b1",)),
        ("update_latency", ("b1", 5)),
    ],
)
def test_hot_methods_take_the_api_parameter_names(
    core: ModuleType, twin: ModuleType, method: str, args: tuple
) -> None:
    c = core.RegistryCore()
    c._table = twin.CounterTable()
    c._table.add("b1", twin.Counters("b1"))
    by_position = getattr(c, method)(*args)
    names = ("model_id",) if method == "get_backends_for_model" else ("id", "latency_ms")
    by_keyword = getattr(c, method)(**dict(zip(names, args, strict=False)))
    if method in ("get_backend", "get_backends_for_model", "update_latency"):
        assert by_keyword == by_position
    with pytest.raises(TypeError):
        getattr(c, method)(*args, unexpected=1)


def test_counter_calls_go_to_the_current_table(core: ModuleType, twin: ModuleType) -> None:
    c = core.RegistryCore()
    first = twin.CounterTable()
    first.add("b1", twin.Counters("b1"))
    c._table = first
    assert c._table is first
    assert c.increment_pending("b1") == 1
    assert c.increment_total_requests("b1") == 1
    assert c.update_latency("b1", 100) is None
    assert first.get("b1").avg_latency_ms == 100
    assert c.decrement_pending("b1") == 0
    # Replacing the table (as check_consistency does) redirects every counter call at once.
    second = twin.CounterTable()
    second.add("b1", twin.Counters("b1"))
    c._table = second
    assert c.increment_pending("b1") == 1
    assert first.get("b1").pending_requests == 0
    with pytest.raises(nexus.BackendNotFoundError):
        c.increment_pending("other")
    with pytest.raises(TypeError, match="backend_id"):
        c.decrement_pending(7)


def test_core_methods_are_documented(core: ModuleType) -> None:
    for name in (
        "get_backend",
        "get_backends_for_model",
        "get_all_backends",
        "get_healthy_backends",
        "increment_pending",
        "decrement_pending",
        "increment_total_requests",
        "update_latency",
    ):
        assert getattr(core.RegistryCore, name).__doc__, name
        assert getattr(nexus.Registry, name).__doc__, name


def test_subclass_init_runs_after_the_core_is_set_up(core: ModuleType) -> None:
    class Sub(core.RegistryCore):  # type: ignore[name-defined,misc]
        def __init__(self, label: str) -> None:
            self.label = label
            self._backends["x"] = label

    sub = Sub("hello")
    assert sub.get_backend("x") == "hello" and sub.label == "hello"


def test_registry_does_not_shadow_the_core() -> None:
    # With the compiled core, Registry holds its own C method descriptors (so CPython's specialised
    # call path applies); with the pure one it simply inherits. A Python method of the same name
    # on Registry would silently put a Python frame back on every request.
    compiled = selector.RegistryCore.__module__ == "nexus._core"
    core = importlib.import_module(selector.RegistryCore.__module__)
    for name in core.HOT_METHODS:
        own = nexus.Registry.__dict__.get(name)
        if compiled:
            assert type(own) is type(dict.get), name
            assert own.__objclass__ is nexus.Registry, name
        else:
            assert own is None, name
            assert getattr(nexus.Registry, name) is getattr(core.RegistryCore, name)


def test_own_methods_refuses_other_classes(core: ModuleType) -> None:
    with pytest.raises(TypeError):
        core.RegistryCore.own_methods(dict)
