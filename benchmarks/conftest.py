"""Fixtures of the pytest-benchmark files: every workload in each mode, on the standard fleet.

``mode`` is parametrised over ``c-extension`` (nexus, compiled core), ``pure-python`` (nexus, pure
twin) and ``naive`` (the reference registry in ``naive_registry.py``). The nexus twins are swapped
in ``nexus.counters`` exactly as the test suite does, for the duration of one benchmark.
"""

from __future__ import annotations

import os

import pytest

from nexus import bench
from nexus import counters as selector

MODES = ("c-extension", "pure-python", "naive")


def _flavour(mode: str) -> bench.Flavour:
    wanted = {"c-extension": "nexus C", "pure-python": "nexus py", "naive": "naive"}[mode]
    for flavour in bench.flavours():
        if flavour.name == wanted:
            return flavour
    pytest.fail(f"{mode}: nexus._counters is not built (pip install -e . builds it)")


@pytest.fixture(params=MODES)
def flavour(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bench.Flavour:
    """The registry implementation under test, installed in ``nexus.counters`` for this test."""
    if request.param == "c-extension" and os.environ.get("NEXUS_NO_EXTENSIONS", "") not in (
        "",
        "0",
    ):
        pytest.skip("NEXUS_NO_EXTENSIONS is set: the compiled core is not measured")
    chosen = _flavour(request.param)
    for name, value in chosen.selector_names().items():
        monkeypatch.setattr(selector, name, value)
    return chosen


@pytest.fixture(scope="session")
def spec() -> bench.FleetSpec:
    """The standard fleet: 1000 backends x 10 models from a pool of 100 ids."""
    return bench.fleet_spec()


@pytest.fixture
def fleet(flavour: bench.Flavour, spec: bench.FleetSpec):
    """The standard fleet, built and all healthy, in the registry of ``flavour``."""
    return bench.build_fleet(flavour, spec)


@pytest.fixture
def model_id(spec: bench.FleetSpec) -> str:
    """A model served by about 100 backends."""
    return spec.model_pool[len(spec.model_pool) // 2]


@pytest.fixture
def backend_id(spec: bench.FleetSpec) -> str:
    """A registered backend id."""
    return spec.backends[len(spec.backends) // 2][0]
