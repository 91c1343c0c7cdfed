"""Shared fixtures: every test runs against both counter twins unless marked ``c_only``.

The ``twin`` fixture is autouse and parametrised over ``c-extension`` and ``pure-python``. It swaps
the implementation that ``nexus.counters`` hands to ``Backend`` and ``Registry`` for the duration of
one test. The C variant imports ``nexus._counters`` directly, so a missing build *errors* instead of
quietly testing the pure twin twice. With ``NEXUS_NO_EXTENSIONS`` set (or ``--no-c-extensions``),
the C variants are deselected.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

import nexus
from nexus import _counters_py, _select_py, _track_py
from nexus import counters as selector

C_EXTENSION = "c-extension"
PURE_PYTHON = "pure-python"

settings.register_profile(
    "default",
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("NEXUS_HYPOTHESIS_PROFILE", "default"))


def _extensions_disabled() -> bool:
    return os.environ.get("NEXUS_NO_EXTENSIONS", "") not in ("", "0")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-c-extensions",
        action="store_true",
        default=_extensions_disabled(),
        help="deselect the tests of the compiled core (default when NEXUS_NO_EXTENSIONS is set)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "twin" not in metafunc.fixturenames:
        return
    twins = [C_EXTENSION, PURE_PYTHON]
    if metafunc.definition.get_closest_marker("c_only"):
        twins = [C_EXTENSION]
    metafunc.parametrize("twin", twins, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--no-c-extensions"):
        return
    keep, drop = [], []
    for item in items:
        spec = getattr(item, "callspec", None)
        params = spec.params if spec is not None else {}
        is_c = params.get("twin") == C_EXTENSION or params.get("core") == "nexus._core"
        (drop if is_c else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def twin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The counters module under test (compiled or pure), installed for this test."""
    # The compiled module is imported directly: if it was not built, the C variants error.
    compiled = request.param == C_EXTENSION
    module = importlib.import_module("nexus._counters") if compiled else _counters_py
    monkeypatch.setattr(selector, "Counters", module.Counters)
    monkeypatch.setattr(selector, "CounterTable", module.CounterTable)
    # The pick engine of Registry.select follows the counters (nexus._select / nexus._select_py).
    engine = importlib.import_module("nexus._select") if compiled else _select_py
    monkeypatch.setattr(selector, "Candidates", engine.Candidates)
    monkeypatch.setattr(selector, "select_backend", engine.select_backend)
    tracker = importlib.import_module("nexus._track") if compiled else _track_py
    monkeypatch.setattr(selector, "Track", tracker.Track)
    monkeypatch.setattr(nexus.Registry, "select", engine.registry_select)
    monkeypatch.setattr(nexus.Registry, "track", tracker.registry_track)
    return module


@pytest.fixture
def registry(twin: ModuleType) -> nexus.Registry:
    """An empty registry whose counters come from the twin under test."""
    return nexus.Registry()


BackendFactory = Callable[..., nexus.Backend]


@pytest.fixture
def make_backend(twin: ModuleType) -> BackendFactory:
    """Build a valid ``Backend``; keyword arguments override the defaults."""

    def make(
        backend_id: str = "b1", models: Iterable[str | nexus.Model] = ("llama3",), **overrides: Any
    ) -> nexus.Backend:
        fields: dict[str, Any] = {
            "id": backend_id,
            "name": f"Backend {backend_id}",
            "url": f"http://{backend_id}.local:11434",
            "backend_type": nexus.BackendType.OLLAMA,
            "models": [m if isinstance(m, nexus.Model) else nexus.Model(m) for m in models],
        }
        fields.update(overrides)
        return nexus.Backend(**fields)

    return make
