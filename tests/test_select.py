"""``Registry.select``: candidates, strategies, ties, the per-model snapshots, argument checks."""

from __future__ import annotations

import random
import sys
import threading
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nexus
from nexus import Model, Registry
from nexus._select_py import SmartWeights

STRATEGIES = ("least_pending", "smart", "priority", "round_robin", "random")


def add(
    registry: Registry,
    make_backend: Any,
    backend_id: str,
    *,
    models: tuple[Model | str, ...] = ("m",),
    priority: int = 0,
    pending: int = 0,
    latency: int = 0,
    status: str = "healthy",
) -> nexus.Backend:
    backend = make_backend(backend_id, models=models, priority=priority)
    registry.add_backend(backend)
    if status != "unknown":
        registry.update_status(backend_id, status)
    backend._counters._force(pending=pending, latency=latency)
    return backend


def pick(registry: Registry, model: str = "m", **kwargs: Any) -> str | None:
    chosen = registry.select(model, **kwargs)
    return None if chosen is None else chosen.id


# ---- candidates -------------------------------------------------------------------------------------


def test_empty_registry_and_unknown_model_give_none(registry):
    for strategy in STRATEGIES:
        assert registry.select("m", strategy=strategy) is None


def test_only_healthy_backends_are_candidates(registry, make_backend):
    add(registry, make_backend, "a-unknown", status="unknown")
    add(registry, make_backend, "b-unhealthy", status="unhealthy")
    add(registry, make_backend, "c-draining", status="draining")
    for strategy in STRATEGIES:
        assert registry.select("m", strategy=strategy) is None
    add(registry, make_backend, "d-healthy", pending=50)
    for strategy in STRATEGIES:
        assert pick(registry, strategy=strategy) == "d-healthy"


def test_returns_the_registered_backend_object(registry, make_backend):
    backend = add(registry, make_backend, "a")
    assert registry.select("m") is backend


def test_capability_filters(registry, make_backend):
    add(registry, make_backend, "plain", models=(Model("m", context_length=2048),))
    add(registry, make_backend, "vision", models=(Model("m", supports_vision=True),), pending=5)
    add(registry, make_backend, "tools", models=(Model("m", supports_tools=True),), pending=6)
    add(
        registry,
        make_backend,
        "all",
        models=(
            Model(
                "m",
                context_length=131072,
                supports_vision=True,
                supports_tools=True,
                supports_json_mode=True,
            ),
        ),
        pending=9,
    )
    for strategy in ("least_pending", "smart", "priority"):
        assert pick(registry, strategy=strategy) == "plain"
        assert pick(registry, strategy=strategy, require_vision=True) == "vision"
        assert pick(registry, strategy=strategy, require_tools=True) == "tools"
        assert pick(registry, strategy=strategy, require_json_mode=True) == "all"
        assert pick(registry, strategy=strategy, require_vision=True, require_tools=True) == "all"
        assert pick(registry, strategy=strategy, min_context_length=4096) == "vision"
        assert pick(registry, strategy=strategy, min_context_length=4097) == "all"
        assert pick(registry, strategy=strategy, min_context_length=131073) is None
    for strategy in ("round_robin", "random"):
        for _ in range(8):
            assert pick(registry, strategy=strategy, require_json_mode=True) == "all"
            assert pick(registry, strategy=strategy, require_tools=True) in ("tools", "all")


def test_capabilities_are_those_of_the_backends_entry_for_that_model(registry, make_backend):
    add(
        registry,
        make_backend,
        "a",
        models=(Model("m"), Model("other", supports_vision=True)),
    )
    assert registry.select("m", require_vision=True) is None
    assert pick(registry, "other", require_vision=True) == "a"


def test_exclude(registry, make_backend):
    add(registry, make_backend, "a", pending=0)
    add(registry, make_backend, "b", pending=1)
    add(registry, make_backend, "c", pending=2)
    for strategy in ("least_pending", "smart", "priority"):
        assert pick(registry, strategy=strategy, exclude=("a",)) == "b"
        assert pick(registry, strategy=strategy, exclude=["a", "b"]) == "c"
        assert pick(registry, strategy=strategy, exclude={"a", "b", "c"}) is None
        assert pick(registry, strategy=strategy, exclude=("zzz",)) == "a"
        assert pick(registry, strategy=strategy, exclude=iter(["b"])) == "a"
    for strategy in ("round_robin", "random"):
        assert {pick(registry, strategy=strategy, exclude=("a", "c")) for _ in range(6)} == {"b"}


# ---- strategies, pinned -------------------------------------------------------------------------------


def test_least_pending_ties_by_priority_then_latency_then_id(registry, make_backend):
    add(registry, make_backend, "e", pending=3, priority=0, latency=10)
    add(registry, make_backend, "d", pending=1, priority=5, latency=10)
    add(registry, make_backend, "c", pending=1, priority=2, latency=90)
    add(registry, make_backend, "b", pending=1, priority=2, latency=40)
    add(registry, make_backend, "a", pending=1, priority=2, latency=40)
    assert pick(registry, strategy="least_pending") == "a"  # full tie with b: lower id
    registry.get_backend("a")._counters._force(latency=41)
    assert pick(registry, strategy="least_pending") == "b"  # latency
    registry.get_backend("b")._counters._force(latency=91)
    assert pick(registry, strategy="least_pending") == "a"
    registry.get_backend("e")._counters._force(pending=0)
    assert pick(registry, strategy="least_pending") == "e"  # pending beats everything


def test_priority_lowest_value_wins_ties_by_load_then_latency_then_id(registry, make_backend):
    add(registry, make_backend, "a", priority=3, pending=0)
    add(registry, make_backend, "b", priority=-2, pending=7, latency=50)
    add(registry, make_backend, "c", priority=-2, pending=5, latency=80)
    add(registry, make_backend, "d", priority=-2, pending=5, latency=60)
    add(registry, make_backend, "e", priority=-2, pending=5, latency=60)
    assert pick(registry, strategy="priority") == "d"
    registry.get_backend("b")._counters._force(pending=4)
    assert pick(registry, strategy="priority") == "b"


def test_smart_default_weights_pinned(registry, make_backend):
    # scores (priority 50 / load 30 / latency 20, each part 0..100):
    # a: prio 0 -> 100, pending 40 -> 60, latency 500 -> 50: 5000 + 1800 + 1000 = 7800
    # b: prio 20 -> 80, pending 0 -> 100, latency 0 -> 100: 4000 + 3000 + 2000 = 9000
    # c: prio 10 -> 90, pending 10 -> 90, latency 100 -> 90: 4500 + 2700 + 1800 = 9000 (tie with b:
    #    b has fewer pending)
    # d: prio 0 -> 100, pending 200 -> 0, latency 5000 -> 0: 5000
    add(registry, make_backend, "a", priority=0, pending=40, latency=500)
    add(registry, make_backend, "b", priority=20, pending=0, latency=0)
    add(registry, make_backend, "c", priority=10, pending=10, latency=100)
    add(registry, make_backend, "d", priority=0, pending=200, latency=5000)
    assert pick(registry) == "b"  # smart is the default strategy
    assert pick(registry, strategy="smart") == "b"
    registry.get_backend("b")._counters._force(pending=1)  # b: 9000 - 30 = 8970
    assert pick(registry) == "c"
    # Priority only: a and d (priority 0) tie on score; a has fewer pending.
    assert pick(registry, weights=(100, 0, 0)) == "a"
    assert pick(registry, weights=SmartWeights(priority=0, load=100, latency=0)) == "b"
    assert pick(registry, weights={"priority": 0, "load": 0, "latency": 100}) == "b"
    registry.get_backend("b")._counters._force(latency=11)  # latency part 99
    assert pick(registry, weights={"priority": 0, "load": 0, "latency": 100}) == "b"
    registry.get_backend("b")._counters._force(latency=100)  # latency part 90, as c's: b has fewer
    assert pick(registry, weights=[0, 0, 100]) == "b"
    registry.get_backend("b")._counters._force(latency=110)  # 89
    assert pick(registry, weights=[0, 0, 100]) == "c"


def test_smart_scales_clamp(registry, make_backend):
    # Negative priority counts as 0 (part 100); above 100 as 100 (part 0). Pending and latency
    # saturate at 100 and 1000 ms.
    add(registry, make_backend, "neg", priority=-1000, pending=100, latency=1000)
    add(registry, make_backend, "zero", priority=0, pending=500, latency=99999)
    assert pick(registry, weights=(100, 0, 0)) == "neg"  # both 100: tie -> fewer pending
    registry.get_backend("neg")._counters._force(pending=600)
    assert pick(registry, weights=(100, 0, 0)) == "zero"
    assert pick(registry, weights=(0, 100, 0)) == "zero"  # both load part 0: fewer pending
    add(registry, make_backend, "huge", priority=2**31 - 1, pending=0, latency=0)
    assert pick(registry, weights=(0, 50, 50)) == "huge"
    # 0 + 3000 + 2000 ties with 5000 + 0 + 0 for the other two: fewest pending wins.
    assert pick(registry, weights=(50, 30, 20)) == "huge"


def test_round_robin_cycles_in_id_order_per_model(registry, make_backend):
    for backend_id in ("c", "a", "b"):
        add(registry, make_backend, backend_id, models=("m", "n"))
    assert [pick(registry, strategy="round_robin") for _ in range(7)] == list("abcabca")
    # Another model has its own cursor.
    assert [pick(registry, "n", strategy="round_robin") for _ in range(4)] == list("abca")
    assert pick(registry, strategy="round_robin") == "b"


def test_round_robin_cursor_survives_snapshot_rebuilds(registry, make_backend):
    for backend_id in ("a", "b", "c", "d"):
        add(registry, make_backend, backend_id)
    assert pick(registry, strategy="round_robin") == "a"
    registry.update_status("d", "unhealthy")  # rebuilds m's snapshot
    assert pick(registry, strategy="round_robin") == "b"
    assert pick(registry, strategy="round_robin") == "c"
    assert pick(registry, strategy="round_robin") == "a"  # 4th pick over 3 candidates


def test_round_robin_with_filters_only_visits_eligible(registry, make_backend):
    add(registry, make_backend, "a", models=(Model("m", supports_tools=True),))
    add(registry, make_backend, "b")
    add(registry, make_backend, "c", models=(Model("m", supports_tools=True),))
    picks = [pick(registry, strategy="round_robin", require_tools=True) for _ in range(6)]
    assert set(picks) == {"a", "c"}
    assert picks[0] != picks[1]


def test_random_reaches_every_eligible_candidate_and_nothing_else(registry, make_backend):
    for backend_id in "abcdef":
        add(registry, make_backend, backend_id)
    random.seed(1234)
    seen = Counter(pick(registry, strategy="random", exclude=("f",)) for _ in range(500))
    assert set(seen) == set("abcde")
    assert min(seen.values()) > 50  # ~100 each expected


def test_random_is_reproducible_with_random_seed_and_same_in_both_twins(registry, make_backend):
    for backend_id in "abcdef":
        add(registry, make_backend, backend_id)
    random.seed(99)
    first = [pick(registry, strategy="random", exclude=("b",)) for _ in range(20)]
    random.seed(99)
    assert [pick(registry, strategy="random", exclude=("b",)) for _ in range(20)] == first
    # random.randrange over the eligible candidates in id order, in both twins:
    random.seed(99)
    eligible = list("acdef")
    assert first == [eligible[random.randrange(5)] for _ in range(20)]


# ---- the snapshots follow every write -----------------------------------------------------------------


def test_snapshot_follows_add_remove_status_and_models(registry, make_backend):
    add(registry, make_backend, "a", pending=5)
    add(registry, make_backend, "b", pending=1)
    assert pick(registry, strategy="least_pending") == "b"
    registry.update_status("b", "draining")
    assert pick(registry, strategy="least_pending") == "a"
    registry.update_status("b", "healthy")
    assert pick(registry, strategy="least_pending") == "b"
    registry.update_models("b", [Model("other")])
    assert pick(registry, strategy="least_pending") == "a"
    assert pick(registry, "other", strategy="least_pending") == "b"
    registry.update_models("b", [Model("m", supports_vision=True), Model("other")])
    assert pick(registry, strategy="least_pending") == "b"
    assert pick(registry, strategy="least_pending", require_vision=True) == "b"
    registry.update_models("b", [Model("m"), Model("other")])  # same id, capability dropped
    assert registry.select("m", require_vision=True) is None
    registry.remove_backend("b")
    assert pick(registry, strategy="least_pending") == "a"
    assert registry.select("other") is None
    registry.remove_backend("a")
    assert registry.select("m") is None
    assert registry._candidates == {}  # no empty snapshot is left behind


def test_snapshot_follows_update_models_while_unhealthy(registry, make_backend):
    add(registry, make_backend, "a", status="unhealthy")
    registry.update_models("a", [Model("x", supports_tools=True)])
    assert registry.select("x") is None
    registry.update_status("a", "healthy")
    assert pick(registry, "x", require_tools=True) == "a"
    assert registry.select("m") is None


def test_re_adding_a_removed_healthy_backend_makes_it_a_candidate_again(registry, make_backend):
    backend = add(registry, make_backend, "a")
    registry.remove_backend("a")
    assert registry.select("m") is None
    registry.add_backend(backend)  # still HEALTHY
    assert registry.select("m") is backend


def test_snapshots_match_a_rebuild_after_random_writes(registry, make_backend):
    rng = random.Random(7)
    models = [f"m{i}" for i in range(5)]
    statuses = ["healthy", "unhealthy", "draining", "unknown"]
    for step in range(300):
        backend_id = f"b{rng.randrange(12)}"
        action = rng.randrange(4)
        chosen = [Model(m, supports_vision=rng.random() < 0.5) for m in rng.sample(models, 2)]
        if backend_id not in registry:
            registry.add_backend(make_backend(backend_id, models=chosen))
        elif action == 0:
            registry.remove_backend(backend_id)
        elif action == 1:
            registry.update_models(backend_id, chosen)
        else:
            registry.update_status(backend_id, rng.choice(statuses))
        if step % 25 == 0 or step == 299:
            for model in models:
                expected = sorted(
                    b.id
                    for b in registry.get_backends_for_model(model)
                    if b.status is nexus.BackendStatus.HEALTHY
                )
                snapshot = registry._candidates.get(model)
                assert (list(snapshot.ids) if snapshot is not None else []) == expected
                vision = sorted(
                    b.id
                    for b in registry.get_backends_for_model(model)
                    if b.status is nexus.BackendStatus.HEALTHY
                    and next(m for m in b.models if m.id == model).supports_vision
                )
                got = {
                    registry.select(model, strategy="round_robin", require_vision=True)
                    for _ in range(len(vision) + 1)
                }
                assert sorted(b.id for b in got if b is not None) == vision


# ---- arguments -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"strategy": "fastest"}, ValueError, "strategy"),
        ({"strategy": 3}, TypeError, "strategy"),
        ({"strategy": None}, TypeError, "strategy"),
        ({"exclude": "a"}, TypeError, "exclude"),
        ({"exclude": 5}, TypeError, "exclude"),
        ({"exclude": [5]}, TypeError, "exclude[0]"),
        ({"require_vision": 1}, TypeError, "require_vision"),
        ({"require_tools": None}, TypeError, "require_tools"),
        ({"require_json_mode": "yes"}, TypeError, "require_json_mode"),
        ({"min_context_length": -1}, ValueError, "min_context_length"),
        ({"min_context_length": 2**32}, ValueError, "min_context_length"),
        ({"min_context_length": 1.5}, TypeError, "min_context_length"),
        ({"min_context_length": True}, TypeError, "min_context_length"),
        ({"weights": (50, 30, 30)}, ValueError, "sum to 100"),
        ({"weights": (50, 50)}, ValueError, "3 items"),
        ({"weights": (150, -30, -20)}, ValueError, "weights.priority"),
        ({"weights": (50.0, 30, 20)}, TypeError, "weights.priority"),
        ({"weights": {"priority": 100}}, ValueError, "missing"),
        ({"weights": {"priority": 100, "load": 0, "latency": 0, "x": 0}}, ValueError, "unknown"),
        ({"weights": 100}, TypeError, "weights"),
    ],
)
def test_bad_arguments_raise_naming_the_field(registry, make_backend, kwargs, error, fragment):
    add(registry, make_backend, "a")
    for model in ("m", "unknown-model"):  # checked even when there is no candidate
        with pytest.raises(error) as info:
            registry.select(model, **kwargs)
        assert fragment in str(info.value)
    assert pick(registry) == "a"


def test_bad_model_id(registry):
    with pytest.raises(TypeError, match="model_id"):
        registry.select(None)  # type: ignore[arg-type]
    assert registry.select("") is None  # like get_backends_for_model: no model has that id


def test_str_subclass_and_enum_values_are_accepted(registry, make_backend):
    import enum

    class Strategy(str, enum.Enum):
        LEAST = "least_pending"

    class Text(str):
        pass

    add(registry, make_backend, "a", pending=3)
    add(registry, make_backend, "b", pending=1)
    assert pick(registry, Text("m"), strategy=Strategy.LEAST) == "b"
    assert pick(registry, strategy=Text("least_pending"), exclude=[Text("b")]) == "a"


def test_weights_are_ignored_by_other_strategies_but_still_checked(registry, make_backend):
    add(registry, make_backend, "a")
    assert pick(registry, strategy="least_pending", weights=(0, 0, 100)) == "a"
    with pytest.raises(ValueError):
        registry.select("m", strategy="least_pending", weights=(0, 0, 99))


# ---- property: least_pending / smart / priority against a brute force ----------------------------------

# Small value sets on purpose: collisions make the tie-break rules decide often.
backend_rows = st.lists(
    st.tuples(
        st.sampled_from(["healthy", "healthy", "healthy", "unhealthy", "draining", "unknown"]),
        st.sampled_from([-5, 0, 1, 99, 100, 101]),  # priority
        st.sampled_from([0, 1, 100, 101, 2**32 - 1]),  # pending
        st.sampled_from([0, 9, 10, 11, 20, 1009, 1010, 2**32 - 1]),  # latency
        st.sampled_from([0, 0, 1, 2, 4, 7]),  # capability bits
        st.sampled_from([1024, 4096, 8192]),  # context length
    ),
    min_size=0,
    max_size=12,
)
WEIGHT_SETS = [(50, 30, 20), (100, 0, 0), (0, 100, 0), (0, 0, 100), (34, 33, 33), (0, 50, 50)]
weight_triples = st.sampled_from(WEIGHT_SETS)


def brute_force(rows, strategy, required, min_context, excluded, weights):
    best_key, best_id = None, None
    for index, (status, priority, pending, latency, caps, context) in enumerate(rows):
        backend_id = f"b{index:02d}"
        if status != "healthy" or caps & required != required or context < min_context:
            continue
        if backend_id in excluded:
            continue
        if strategy == "least_pending":
            key = (pending, priority, latency, backend_id)
        elif strategy == "priority":
            key = (priority, pending, latency, backend_id)
        else:
            score = (
                weights[0] * (100 - min(max(priority, 0), 100))
                + weights[1] * (100 - min(pending, 100))
                + weights[2] * (100 - min(latency // 10, 100))
            )
            key = (-score, pending, priority, latency, backend_id)
        if best_key is None or key < best_key:
            best_key, best_id = key, backend_id
    return best_id


@given(
    rows=backend_rows,
    required=st.integers(0, 7),
    min_context=st.sampled_from([0, 4096, 5000]),
    excluded=st.sets(st.sampled_from([f"b{i:02d}" for i in range(12)] + ["nope"]), max_size=3),
    weights=weight_triples,
    seed=st.integers(0, 2**16),
)
def test_strategies_match_brute_force(
    twin, make_backend, rows, required, min_context, excluded, weights, seed
):
    check_against_brute_force(make_backend, rows, required, min_context, excluded, weights, seed)


def test_strategies_match_brute_force_on_seeded_fleets(twin, make_backend):
    # The same check on 150 fixed pseudo-random fleets: deterministic, and dense in ties.
    rng = random.Random(2024)
    for _ in range(150):
        rows = [
            (
                rng.choice(["healthy", "healthy", "healthy", "unhealthy", "draining", "unknown"]),
                rng.choice([-5, 0, 1, 99, 100, 101]),
                rng.choice([0, 1, 100, 101, 2**32 - 1]),
                rng.choice([0, 9, 10, 11, 20, 1009, 1010, 2**32 - 1]),
                rng.choice([0, 0, 1, 2, 4, 7]),
                rng.choice([1024, 4096, 8192]),
            )
            for _ in range(rng.randrange(13))
        ]
        excluded = {f"b{rng.randrange(12):02d}" for _ in range(rng.randrange(3))}
        check_against_brute_force(
            make_backend,
            rows,
            rng.randrange(8),
            rng.choice([0, 4096, 5000]),
            excluded,
            rng.choice(WEIGHT_SETS),
            rng.randrange(2**16),
        )


def check_against_brute_force(make_backend, rows, required, min_context, excluded, weights, seed):
    registry = Registry()
    order = list(enumerate(rows))
    random.Random(seed).shuffle(order)  # registration order must not matter
    for index, (status, priority, pending, latency, caps, context) in order:
        model = Model(
            "m",
            context_length=context,
            supports_vision=bool(caps & 1),
            supports_tools=bool(caps & 2),
            supports_json_mode=bool(caps & 4),
        )
        add(
            registry,
            make_backend,
            f"b{index:02d}",
            models=(model,),
            priority=priority,
            pending=pending,
            latency=latency,
            status=status,
        )
    queries = [(0, 0, ()), (required, min_context, tuple(excluded))]
    for strategy in ("least_pending", "smart", "priority"):
        for query_required, query_context, query_excluded in queries:
            for query_weights in WEIGHT_SETS if strategy == "smart" else [weights]:
                got = pick(
                    registry,
                    strategy=strategy,
                    exclude=query_excluded,
                    min_context_length=query_context,
                    weights=query_weights,
                    require_vision=bool(query_required & 1),
                    require_tools=bool(query_required & 2),
                    require_json_mode=bool(query_required & 4),
                )
                expected = brute_force(
                    rows, strategy, query_required, query_context, query_excluded, query_weights
                )
                assert got == expected, (strategy, query_required, query_context, query_weights)


# ---- concurrency and the C scan ------------------------------------------------------------------------


def test_select_during_writes_only_returns_backends_serving_the_model(registry, make_backend):
    for index in range(20):
        add(registry, make_backend, f"b{index:02d}", models=("m", "n"))
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        rng = random.Random(3)
        try:
            while not stop.is_set():
                backend_id = f"b{rng.randrange(20):02d}"
                registry.update_status(backend_id, rng.choice(["healthy", "unhealthy"]))
                registry.update_models(backend_id, [Model(rng.choice(["m", "n"])), Model("x")])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for step in range(3000):
            strategy = STRATEGIES[step % len(STRATEGIES)]
            chosen = registry.select("m", strategy=strategy)
            assert chosen is None or chosen.id in {f"b{i:02d}" for i in range(20)}
    finally:
        stop.set()
        thread.join()
    assert not errors


@pytest.mark.c_only
def test_compiled_scan_allocates_nothing_per_candidate(registry, make_backend):
    for index in range(2000):
        add(registry, make_backend, f"b{index:04d}", pending=index % 7, latency=index % 300)
    for strategy in ("least_pending", "smart", "priority", "round_robin"):
        registry.select("m", strategy=strategy)  # warm up
        before = sys.getallocatedblocks()
        for _ in range(200):
            registry.select("m", strategy=strategy)
        assert sys.getallocatedblocks() - before < 20, strategy


def test_check_consistency_verifies_and_repairs_the_select_snapshots(registry, make_backend):
    add(registry, make_backend, "a", models=("m", "n"), pending=2)
    add(registry, make_backend, "b", models=("m",), pending=1)
    add(registry, make_backend, "c", models=("n",), status="unhealthy")
    assert registry.check_consistency() == []
    snapshots = registry._candidates
    stale = snapshots["m"].without("b")
    snapshots["m"] = stale  # b missing
    snapshots["ghost"] = stale  # a model nobody healthy serves
    del snapshots["n"]  # a missing snapshot
    repairs = registry.check_consistency()
    assert len(repairs) == 3
    assert any("'ghost'" in r for r in repairs)
    assert pick(registry, strategy="least_pending") == "b"
    assert pick(registry, "n") == "a"
    assert registry.select("ghost") is None
    # A stale capability (same ids, old model entry) is caught too.
    registry._candidates["m"] = registry._candidates["m"].with_entry(
        registry.get_backend("b"), Model("m", supports_vision=True)
    )
    assert registry.check_consistency() == ["select snapshot: 'm' rebuilt"]
    assert registry.select("m", require_vision=True) is None
    assert registry.check_consistency() == []


@pytest.mark.c_only
def test_the_engines_accept_each_others_snapshots(make_backend):
    # The benchmarks mix twins in one process: either select wrapper must cope with either snapshot.
    from nexus import _select, _select_py

    for snapshot_type in (_select.Candidates, _select_py.Candidates):
        snapshot = snapshot_type()
        for backend_id, pending in (("a", 3), ("b", 1), ("c", 2)):
            backend = make_backend(backend_id)
            backend._counters._force(pending=pending)
            snapshot = snapshot.with_entry(backend, backend.models[0])
        for engine in (_select, _select_py):
            chosen = engine.select_backend(
                snapshot, "least_pending", ("b",), False, False, False, 0, (50, 30, 20)
            )
            assert chosen.id == "c"
        with pytest.raises(ValueError, match="code"):
            _select.Candidates().pick(9, (), 0, 0, 50, 30, 20)


def test_registry_select_and_track_are_the_twins_functions(twin):
    from nexus import _select_py, _track_py

    compiled = twin.__name__ == "nexus._counters"
    assert (Registry.select is _select_py.registry_select) is not compiled
    assert (Registry.track is _track_py.registry_track) is not compiled
    assert "least_pending" in (Registry.select.__doc__ or "")


@pytest.mark.c_only
def test_compiled_snapshots_hold_and_release_their_counters(make_backend):
    from nexus import _select

    backends = [make_backend(f"b{i}") for i in range(5)]
    before = [sys.getrefcount(b._counters) for b in backends]
    snapshot = _select.Candidates()
    history = []
    for step in range(50):
        backend = backends[step % 5]
        if step % 3 == 2:
            snapshot = snapshot.without(backend.id)
        else:
            snapshot = snapshot.with_entry(backend, backend.models[0])
        history.append(snapshot)
    assert all(sys.getrefcount(b._counters) > n for b, n in zip(backends, before, strict=True))
    del history, snapshot
    assert [sys.getrefcount(b._counters) for b in backends] == before


@pytest.mark.c_only
def test_compiled_snapshot_is_self_contained(make_backend):
    import gc

    from nexus import _select

    backend = make_backend("a")
    backend._counters._force(pending=7)
    snapshot = _select.Candidates().with_entry(backend, backend.models[0])
    other = make_backend("b")
    snapshot = snapshot.with_entry(other, other.models[0])
    del backend  # the snapshot alone keeps a (and its counters) alive
    gc.collect()
    # The scan reads a's counters (pending 7): b (0 pending) wins unless excluded.
    assert snapshot.pick(0, (), 0, 0, 50, 30, 20) is other
    assert snapshot.pick(0, ("b",), 0, 0, 50, 30, 20).id == "a"
