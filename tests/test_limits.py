"""Limits: counters at their maximum, EMA at the top of its range, very long ids, many models.

``Counters._force`` (test only) sets a counter directly, to reach 2**32-1 or 2**64-1 without
billions of calls. Both twins must refuse to wrap: the increments raise ``OverflowError`` and leave
the counter at its maximum (the contract lets them saturate or raise, and says which: they raise).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest

import nexus
from nexus import BackendView, Model

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1

BackendFactory = Callable[..., nexus.Backend]


@pytest.fixture
def backend(registry: nexus.Registry, make_backend: BackendFactory) -> nexus.Backend:
    backend = make_backend("edge")
    registry.add_backend(backend)
    return backend


# ---- pending (u32) and total (u64) ----------------------------------------------------------------


def test_pending_at_u32_max_does_not_wrap(registry: nexus.Registry, backend: nexus.Backend) -> None:
    backend._counters._force(pending=U32_MAX - 1)
    assert registry.increment_pending("edge") == U32_MAX
    with pytest.raises(OverflowError, match="4294967295"):
        registry.increment_pending("edge")
    assert backend.pending_requests == U32_MAX
    with pytest.raises(OverflowError):
        registry.increment_pending("edge")
    assert backend.pending_requests == U32_MAX  # still there, not 0
    assert registry.decrement_pending("edge") == U32_MAX - 1
    assert backend.view().pending_requests == U32_MAX - 1


def test_total_at_u64_max_does_not_wrap(registry: nexus.Registry, backend: nexus.Backend) -> None:
    backend._counters._force(total=U64_MAX - 1)
    assert registry.increment_total_requests("edge") == U64_MAX
    with pytest.raises(OverflowError, match="18446744073709551615"):
        registry.increment_total_requests("edge")
    assert backend.total_requests == U64_MAX
    view = backend.view()
    assert view.total_requests == U64_MAX
    # A u64 survives JSON and the round trip exactly (no float conversion on the way).
    data = json.loads(registry.to_json())
    assert data["backends"][0]["total_requests"] == U64_MAX
    assert BackendView.from_dict(data["backends"][0]) == view


def test_total_crosses_u32_boundary(registry: nexus.Registry, backend: nexus.Backend) -> None:
    backend._counters._force(total=U32_MAX)
    assert registry.increment_total_requests("edge") == 2**32
    assert backend.total_requests == 2**32


def test_overflow_on_one_counter_leaves_the_others(
    registry: nexus.Registry, backend: nexus.Backend
) -> None:
    backend._counters._force(pending=U32_MAX, total=7, latency=9)
    with pytest.raises(OverflowError):
        registry.increment_pending("edge")
    assert (backend.total_requests, backend.avg_latency_ms) == (7, 9)


@pytest.mark.parametrize(
    "field_value", [("pending", 2**32), ("total", 2**64), ("latency", 2**32), ("pending", -1)]
)
def test_force_refuses_out_of_range(backend: nexus.Backend, field_value: tuple[str, int]) -> None:
    field, value = field_value
    backend._counters._force(pending=3, total=4, latency=5)
    with pytest.raises(OverflowError):
        backend._counters._force(**{field: value})
    assert (backend.pending_requests, backend.total_requests, backend.avg_latency_ms) == (3, 4, 5)


# ---- EMA at the top of the range ------------------------------------------------------------------


def ema(old: int, sample: int) -> int:
    return sample if old == 0 else (sample + 4 * old) // 5


def test_ema_with_max_samples_is_exact(registry: nexus.Registry, backend: nexus.Backend) -> None:
    registry.update_latency("edge", U32_MAX)  # first sample: stored as is
    assert backend.avg_latency_ms == U32_MAX
    for _ in range(10):
        registry.update_latency("edge", U32_MAX)  # 4*old + sample needs 35 bits: no overflow
        assert backend.avg_latency_ms == U32_MAX


@pytest.mark.parametrize(
    "samples",
    [
        [U32_MAX, 0, U32_MAX, 1, U32_MAX - 1],
        [1, U32_MAX, U32_MAX, U32_MAX],
        [U32_MAX] + [0] * 120,  # decays to 0 exactly, then starts afresh
        [U32_MAX] + [0] * 120 + [U32_MAX],
        [2**31, 2**31 + 1, U32_MAX, 2**31],
    ],
)
def test_ema_near_max_matches_exact_integer_arithmetic(
    registry: nexus.Registry, backend: nexus.Backend, samples: list[int]
) -> None:
    value = 0
    window: list[int] = []
    for sample in samples:
        registry.update_latency("edge", sample)
        value = ema(value, sample)
        window.append(sample)
        assert backend.avg_latency_ms == value
        assert min(window) <= value <= max(window) <= U32_MAX
        if value == 0:
            window = []


def test_ema_from_a_forced_max(registry: nexus.Registry, backend: nexus.Backend) -> None:
    backend._counters._force(latency=U32_MAX)
    registry.update_latency("edge", 0)
    assert backend.avg_latency_ms == (4 * U32_MAX) // 5
    registry.update_latency("edge", U32_MAX)
    assert backend.avg_latency_ms == (U32_MAX + 4 * ((4 * U32_MAX) // 5)) // 5


@pytest.mark.parametrize("bad", [U32_MAX + 1, -1, 2**64, 2**200, -(2**200)])
def test_latency_out_of_range_is_refused(
    registry: nexus.Registry, backend: nexus.Backend, bad: int
) -> None:
    registry.update_latency("edge", 42)
    with pytest.raises(ValueError, match="latency_ms"):
        registry.update_latency("edge", bad)
    assert backend.avg_latency_ms == 42


# ---- very long model ids ------------------------------------------------------------------------


def test_model_id_over_1000_chars_accepted_with_warning(
    registry: nexus.Registry, make_backend: BackendFactory, caplog: pytest.LogCaptureFixture
) -> None:
    long_id = "m" * 1001
    with caplog.at_level(logging.WARNING, logger="nexus"):
        model = Model(long_id)
    warnings = [r for r in caplog.records if r.name == "nexus" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "1001" in warnings[0].getMessage()
    assert model.id == long_id and model.name == long_id
    registry.add_backend(make_backend("long", [model]))
    assert [b.id for b in registry.get_backends_for_model(long_id)] == ["long"]
    assert Model.from_dict(model.to_dict()) == model
    view = registry.get_backend("long").view()
    assert BackendView.from_dict(json.loads(view.to_json())) == view


def test_model_id_of_exactly_1000_chars_has_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="nexus"):
        Model("m" * 1000)
    assert caplog.records == []


def test_huge_non_ascii_model_id(registry: nexus.Registry, make_backend: BackendFactory) -> None:
    long_id = "模型-🦙-" * 20_000  # 120,000 characters
    registry.add_backend(make_backend("wide", [Model(long_id)]))
    assert registry.get_backends_for_model(long_id)[0].id == "wide"
    assert registry.get_backends_for_model(long_id[:-1]) == ()
    assert json.loads(registry.to_json())["backends"][0]["models"][0]["id"] == long_id


# ---- a backend with thousands of models --------------------------------------------------------------


def test_backend_with_thousands_of_models(
    registry: nexus.Registry, make_backend: BackendFactory
) -> None:
    count = 5_000
    models = [Model(f"model-{i}", context_length=i) for i in range(count)]
    registry.add_backend(make_backend("big", models))
    registry.add_backend(make_backend("small", ["model-0", "model-4999", "other"]))
    assert registry.model_count() == count + 1
    assert len(registry.get_backend("big").models) == count
    for i in range(0, count, 97):
        assert registry.get_backends_for_model(f"model-{i}")[0].id == "big"
    assert [b.id for b in registry.get_backends_for_model("model-4999")] == ["big", "small"]

    # Replace with an overlapping half: the index follows exactly.
    registry.update_models("big", [Model(f"model-{i}") for i in range(count // 2, count + 2_000)])
    assert registry.get_backends_for_model("model-1") == ()
    assert [b.id for b in registry.get_backends_for_model("model-0")] == ["small"]
    assert [b.id for b in registry.get_backends_for_model("model-6999")] == ["big"]
    assert registry.model_count() == (count + 2_000 - count // 2) + 2  # + model-0, other
    assert registry.check_consistency() == []

    view = registry.get_backend("big").view()
    assert BackendView.from_dict(json.loads(view.to_json())) == view

    registry.remove_backend("big")
    assert registry.model_count() == 3
    assert registry.check_consistency() == []


def test_thousands_of_backends_serving_one_model(
    registry: nexus.Registry, make_backend: BackendFactory
) -> None:
    registry.add_backends(make_backend(f"b{i}", ["shared"]) for i in range(2_000))
    assert len(registry.get_backends_for_model("shared")) == 2_000
    for i in range(0, 2_000, 2):
        registry.remove_backend(f"b{i}")
    assert [b.id for b in registry.get_backends_for_model("shared")] == [
        f"b{i}" for i in range(1, 2_000, 2)
    ]
    assert registry.check_consistency() == []
