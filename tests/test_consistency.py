"""``Registry.check_consistency()``: the spec's "stale model index -> rebuild on inconsistency".

Each test corrupts one internal structure on purpose (as a bug in a writer would), then checks that
``check_consistency()`` reports and logs the repair, that the public reads are right again, and that
a second call finds nothing left to repair.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest

import nexus
from nexus import BackendNotFoundError, BackendStatus, Model

BackendFactory = Callable[..., nexus.Backend]


@pytest.fixture
def populated(registry: nexus.Registry, make_backend: BackendFactory) -> nexus.Registry:
    """a: m1 m2 (healthy), b: m2 m3 (unhealthy), c: m3 (healthy)."""
    registry.add_backend(make_backend("a", ["m1", "m2"]))
    registry.add_backend(make_backend("b", ["m2", "m3"]))
    registry.add_backend(make_backend("c", ["m3"]))
    registry.update_status("a", "healthy")
    registry.update_status("b", "unhealthy", "down")
    registry.update_status("c", "healthy")
    return registry


def ids(backends: tuple[nexus.Backend, ...]) -> list[str]:
    return [backend.id for backend in backends]


def repair(registry: nexus.Registry, caplog: pytest.LogCaptureFixture) -> list[str]:
    """Run the check, assert one WARNING per repair, and that a second run finds nothing."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="nexus"):
        report = registry.check_consistency()
    warnings = [r for r in caplog.records if r.name == "nexus" and r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        f"registry inconsistency repaired: {message}" for message in report
    ]
    assert registry.check_consistency() == []
    return report


def assert_public_reads_right(registry: nexus.Registry) -> None:
    backends = {b.id: b for b in registry.get_all_backends()}
    assert len(backends) == len(registry.get_all_backends()) == registry.backend_count()
    served: dict[str, set[str]] = {}
    for backend in backends.values():
        for model in backend.models:
            served.setdefault(model.id, set()).add(backend.id)
    assert registry.model_count() == len(served)
    for model_id, expected in served.items():
        found = ids(registry.get_backends_for_model(model_id))
        assert sorted(found) == sorted(expected)
    healthy = ids(registry.get_healthy_backends())
    assert sorted(healthy) == sorted(
        b.id for b in backends.values() if b.status is BackendStatus.HEALTHY
    )
    for backend_id in backends:
        registry.increment_pending(backend_id)
        registry.decrement_pending(backend_id)


def test_consistent_registry_reports_nothing(
    populated: nexus.Registry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="nexus"):
        assert populated.check_consistency() == []
    assert caplog.records == []


def test_empty_registry_reports_nothing(registry: nexus.Registry) -> None:
    assert registry.check_consistency() == []


def test_stale_model_entry_is_dropped(
    populated: nexus.Registry, caplog: pytest.LogCaptureFixture
) -> None:
    populated._by_model["ghost"] = (populated.get_backend("a"),)
    populated._by_model["empty"] = ()
    assert populated.model_count() == 5
    report = repair(populated, caplog)
    assert len(report) == 2
    assert any("'ghost'" in message for message in report)
    assert populated.get_backends_for_model("ghost") == ()
    assert populated.model_count() == 3
    assert_public_reads_right(populated)


def test_missing_model_entry_is_rebuilt(
    populated: nexus.Registry, caplog: pytest.LogCaptureFixture
) -> None:
    del populated._by_model["m1"]
    assert populated.get_backends_for_model("m1") == ()
    report = repair(populated, caplog)
    assert report == ["model index: 'm1' listed [], served by ['a']"]
    assert ids(populated.get_backends_for_model("m1")) == ["a"]
    assert_public_reads_right(populated)


def test_model_entry_missing_a_backend_keeps_order_of_the_rest(
    populated: nexus.Registry,
    make_backend: BackendFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    populated.add_backend(make_backend("d", ["m2"]))
    assert ids(populated.get_backends_for_model("m2")) == ["a", "b", "d"]
    a, _b, d = populated.get_backends_for_model("m2")
    populated._by_model["m2"] = (d, a)  # lost b
    report = repair(populated, caplog)
    assert report == ["model index: 'm2' listed ['a', 'd'], served by ['a', 'b', 'd']"]
    assert ids(populated.get_backends_for_model("m2")) == ["d", "a", "b"]


def test_model_entry_with_extra_or_duplicated_backend(
    populated: nexus.Registry, caplog: pytest.LogCaptureFixture
) -> None:
    a, b, c = populated.get_all_backends()
    populated._by_model["m1"] = (a, c)  # c does not serve m1
    populated._by_model["m3"] = (b, c, b)  # b twice
    report = repair(populated, caplog)
    assert len(report) == 2
    assert ids(populated.get_backends_for_model("m1")) == ["a"]
    assert ids(populated.get_backends_for_model("m3")) == ["b", "c"]
    assert_public_reads_right(populated)


def test_model_entry_holding_a_removed_backend(
    populated: nexus.Registry, caplog: pytest.LogCaptureFixture
) -> None:
    c = populated.get_backend("c")
    populated.remove_backend("c")
    populated._by_model["m3"] = populated._by_model["m3"] + (c,)  # a stale, removed backend
    report = repair(populated, caplog)
    assert report == ["model index: 'm3' listed ['b', 'c'], served by ['b']"]
    assert ids(populated.get_backends_for_model("m3")) == ["b"]


def test_healthy_tuple_is_repaired(
    populated: nexus.Registry, caplog: pytest.LogCaptureFixture
) -> None:
    _a, b, c = populated.get_all_backends()
    populated._healthy = (c, b, c)  # b is unhealthy, c twice, a missing
    report = repair(populated, caplog)
    assert report == ["healthy tuple listed ['b', 'c', 'c'], healthy are ['a', 'c']"]
    assert ids(populated.get_healthy_backends()) == ["c", "a"]
    assert_public_reads_right(populated)


def test_all_backends_tuple_is_repaired(
    populated: nexus.Registry, caplog: pytest.LogCaptureFixture
) -> None:
    a, _b, c = populated.get_all_backends()
    populated._all = (c, a, a)
    assert len(populated.to_dict()["backends"]) == 3  # wrong: c, a, a
    report = repair(populated, caplog)
    assert report == ["all-backends tuple rebuilt (3 backends)"]
    assert ids(populated.get_all_backends()) == ["a", "b", "c"]
    assert [entry["id"] for entry in populated.to_dict()["backends"]] == ["a", "b", "c"]


def test_counter_table_missing_entry_is_rebuilt_without_losing_counts(
    populated: nexus.Registry, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        populated.increment_pending("b")
    populated._table.discard("b")
    with pytest.raises(BackendNotFoundError):
        populated.increment_pending("b")
    report = repair(populated, caplog)
    assert report == ["counter table rebuilt (3 backends)"]
    assert populated.increment_pending("b") == 4  # the same counters, nothing lost
    assert populated.get_backend("b").pending_requests == 4


def test_counter_table_ghost_entry_is_dropped(
    populated: nexus.Registry, twin, caplog: pytest.LogCaptureFixture
) -> None:
    populated._table.add("ghost", twin.Counters("ghost"))
    assert populated.increment_pending("ghost") == 1  # wrong: no such backend
    report = repair(populated, caplog)
    assert report == ["counter table rebuilt (3 backends)"]
    with pytest.raises(BackendNotFoundError):
        populated.increment_pending("ghost")
    assert type(populated._table) is twin.CounterTable
    assert_public_reads_right(populated)


def test_counter_table_entry_with_foreign_counters(
    populated: nexus.Registry, twin, caplog: pytest.LogCaptureFixture
) -> None:
    populated._table.add("a", twin.Counters("a"))  # not backend a's own counters
    populated.increment_pending("a")
    assert populated.get_backend("a").pending_requests == 0  # the count went astray
    assert repair(populated, caplog) == ["counter table rebuilt (3 backends)"]
    populated.increment_pending("a")
    assert populated.get_backend("a").pending_requests == 1


def test_backend_under_wrong_key_is_dropped(
    populated: nexus.Registry, caplog: pytest.LogCaptureFixture
) -> None:
    populated._backends["zz"] = populated._backends.pop("c")
    report = repair(populated, caplog)
    assert report[0] == "backends dict: dropped entry 'zz' that is not that backend"
    assert "c" not in populated and "zz" not in populated
    assert_public_reads_right(populated)


def test_ownership_mark_is_restored(
    populated: nexus.Registry, caplog: pytest.LogCaptureFixture
) -> None:
    backend = populated.get_backend("a")
    object.__setattr__(backend, "_owner", None)
    assert repair(populated, caplog) == ["backend 'a' was not marked as owned by this registry"]
    other = nexus.Registry()
    with pytest.raises(ValueError, match="another Registry"):
        other.add_backend(backend)


def test_everything_corrupted_at_once(
    populated: nexus.Registry, caplog: pytest.LogCaptureFixture
) -> None:
    populated.update_models("a", [Model("m9")])
    populated._by_model.clear()
    populated._healthy = ()
    populated._all = ()
    populated._table.discard("a")
    report = repair(populated, caplog)
    assert len(report) == 1 + 3 + 1 + 1  # all, three models, healthy, table
    assert_public_reads_right(populated)
    assert populated.model_count() == 3


def test_no_false_repairs_while_writers_run(
    registry: nexus.Registry, make_backend: BackendFactory
) -> None:
    """Run concurrently with writers, the check always finds a consistent registry."""
    for i in range(4):
        registry.add_backend(make_backend(f"fixed{i}", ["shared", f"own{i}"]))
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            n = 0
            while not stop.is_set():
                n += 1
                backend_id = f"w{index}"
                registry.add_backend(make_backend(backend_id, ["shared", f"m{n % 5}"]))
                registry.update_status(backend_id, "healthy" if n % 2 else "draining")
                registry.update_models(f"fixed{index}", [Model("shared"), Model(f"x{n % 3}")])
                registry.remove_backend(backend_id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(2)]
    for thread in threads:
        thread.start()
    try:
        reports = [registry.check_consistency() for _ in range(300)]
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "writer deadlocked"
    assert errors == []
    assert all(report == [] for report in reports)
    assert registry.check_consistency() == []
