"""A hypothesis rule-based state machine over the whole ``Registry``, against a plain-Python model.

Rules make random calls to every writing method (``add_backend``/``add_backends``,
``remove_backend`` — including re-adding a removed backend object —, ``update_models``,
``update_status``, ``set_mdns_instance`` and the four counter operations), including their error
cases: duplicate and unknown ids, ids of the wrong type, duplicated model ids, bad statuses and
out-of-range latencies. A rejected call must raise the documented error and leave ``to_dict()``
exactly as it was.

After every step the invariants compare the registry with the model: the model index equals the
brute-force answer computed from every backend's models, and ``model_count``, ``backend_count``,
``len``, ``in``, the healthy set, the all-backends order, the mDNS lookup, ``to_dict()`` and
``check_consistency()`` all agree with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import nexus
from nexus import BackendNotFoundError, BackendStatus, DuplicateBackendError, Model

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
BACKEND_IDS = ["a", "b", "c", "d", "e"]
MODEL_IDS = ["llama3", "mistral", "qwen", "phi", "gemma", "x" * 3]
# HEALTHY twice: the healthy tuple's order (the order backends became healthy) needs runs with
# several backends turning healthy and back.
STATUSES = [BackendStatus.HEALTHY, *BackendStatus]

model_ids = st.sampled_from(MODEL_IDS)
models_strategy = st.lists(model_ids, unique=True, max_size=4).map(
    lambda ids: tuple(Model(model_id) for model_id in ids)
)
ERROR_CASES = [
    "remove unknown",
    "unknown id",
    "bad id",
    "duplicated model id",
    "bad models",
    "bad status",
    "bad error",
    "bad latency",
    "bad mdns instance",
]
bad_ids = st.one_of(
    st.none(), st.integers(), st.just(""), st.binary(max_size=3), st.just(["a"]), st.just(1.5)
)


@dataclass
class Expected:
    """What the model believes about one backend."""

    backend: nexus.Backend
    models: tuple[Model, ...]
    status: BackendStatus = BackendStatus.UNKNOWN
    error: str | None = None
    checked_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    pending: int = 0
    total: int = 0
    latency: int = 0
    metadata: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        backend = self.backend
        return {
            "id": backend.id,
            "name": backend.name,
            "url": backend.url,
            "backend_type": backend.backend_type.value,
            "status": self.status.value,
            "last_health_check": self.checked_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "last_error": self.error,
            "models": [model.to_dict() for model in self.models],
            "priority": backend.priority,
            "pending_requests": self.pending,
            "total_requests": self.total,
            "avg_latency_ms": self.latency,
            "discovery_source": backend.discovery_source.value,
            "metadata": dict(self.metadata),
        }


class RegistryMachine(RuleBasedStateMachine):
    """Random operations on one ``Registry``, mirrored on a dict of ``Expected``."""

    removed = Bundle("removed")

    def __init__(self) -> None:
        super().__init__()
        self.registry = nexus.Registry()
        self.live: dict[str, Expected] = {}  # in registration order, like the registry
        self.healthy_order: list[str] = []
        self.created = 0

    # ---- helpers --------------------------------------------------------------------------------

    def new_backend(self, backend_id: str, models: tuple[Model, ...]) -> Expected:
        self.created += 1
        backend = nexus.Backend(
            backend_id,
            f"Backend {backend_id} #{self.created}",
            f"http://{backend_id}-{self.created}.local:8000/",
            "vllm",
            models,
            discovery_source="manual",
            priority=self.created % 7 - 3,
        )
        return Expected(backend, models, checked_at=backend.last_health_check)

    def rejected(self, errors: type[BaseException] | tuple, call, *args) -> BaseException:
        """``call(*args)`` must raise one of ``errors`` and change nothing."""
        before = self.registry.to_dict()
        with pytest.raises(errors) as info:
            call(*args)
        assert self.registry.to_dict() == before
        return info.value

    def unknown_id(self, data: st.DataObject) -> str:
        choices = [i for i in BACKEND_IDS + ["zz"] if i not in self.live]
        return data.draw(st.sampled_from(choices))

    def known_id(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(sorted(self.live)))

    # ---- adding and removing --------------------------------------------------------------------

    @initialize(
        backend_ids=st.lists(st.sampled_from(BACKEND_IDS), unique=True, max_size=4),
        models=st.lists(models_strategy, min_size=4, max_size=4),
    )
    def start_with(self, backend_ids: list[str], models: list[tuple[Model, ...]]) -> None:
        """Most runs start with a few backends, so that the rules on known ids have work to do."""
        for backend_id, served in zip(backend_ids, models, strict=False):
            expected = self.new_backend(backend_id, served)
            self.registry.add_backend(expected.backend)
            self.live[backend_id] = expected

    @rule(backend_id=st.sampled_from(BACKEND_IDS), models=models_strategy)
    def add_backend(self, backend_id: str, models: tuple[Model, ...]) -> None:
        expected = self.new_backend(backend_id, models)
        if backend_id in self.live:
            error = self.rejected(
                DuplicateBackendError, self.registry.add_backend, expected.backend
            )
            assert str(error) == f"backend already exists: {backend_id}"
            assert self.registry.get_backend(backend_id) is self.live[backend_id].backend
        else:
            assert self.registry.add_backend(expected.backend) is None
            self.live[backend_id] = expected

    @rule(
        backend_ids=st.lists(st.sampled_from(BACKEND_IDS), min_size=1, max_size=3),
        models=models_strategy,
    )
    def add_backends(self, backend_ids: list[str], models: tuple[Model, ...]) -> None:
        batch = [self.new_backend(backend_id, models) for backend_id in backend_ids]
        clash = len(set(backend_ids)) < len(backend_ids) or any(i in self.live for i in backend_ids)
        if clash:
            self.rejected(
                DuplicateBackendError, self.registry.add_backends, [e.backend for e in batch]
            )
        else:
            self.registry.add_backends([e.backend for e in batch])
            for expected in batch:
                self.live[expected.backend.id] = expected

    @precondition(lambda self: self.live)
    @rule(target=removed, data=st.data())
    def remove_backend(self, data: st.DataObject) -> Expected:
        backend_id = self.known_id(data)
        expected = self.live.pop(backend_id)
        if backend_id in self.healthy_order:
            self.healthy_order.remove(backend_id)
        assert self.registry.remove_backend(backend_id) is expected.backend
        assert self.registry.get_backend(backend_id) is None
        return expected

    @rule(expected=consumes(removed))
    def re_add_removed_backend(self, expected: Expected) -> None:
        """A removed backend object keeps its state and may be registered again."""
        backend_id = expected.backend.id
        if backend_id in self.live:
            self.rejected(DuplicateBackendError, self.registry.add_backend, expected.backend)
            return
        self.registry.add_backend(expected.backend)
        self.live[backend_id] = expected
        if expected.status is BackendStatus.HEALTHY:
            self.healthy_order.append(backend_id)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def add_foreign_backend(self, data: st.DataObject) -> None:
        """A backend registered here cannot be added to a second registry."""
        backend = self.live[self.known_id(data)].backend
        other = nexus.Registry()
        with pytest.raises(ValueError):
            other.add_backend(backend)
        assert len(other) == 0

    # ---- updates --------------------------------------------------------------------------------

    @precondition(lambda self: self.live)
    @rule(data=st.data(), models=models_strategy)
    def update_models(self, data: st.DataObject, models: tuple[Model, ...]) -> None:
        backend_id = self.known_id(data)
        assert self.registry.update_models(backend_id, list(models)) is None
        self.live[backend_id].models = models

    @precondition(lambda self: self.live)
    @rule(
        data=st.data(),
        status=st.sampled_from(STATUSES),
        as_string=st.booleans(),
        error=st.none() | st.text(max_size=5),
    )
    def update_status(
        self, data: st.DataObject, status: BackendStatus, as_string: bool, error: str | None
    ) -> None:
        status = BackendStatus(status)
        backend_id = self.known_id(data)
        before = datetime.now(timezone.utc)
        self.registry.update_status(backend_id, status.value if as_string else status, error)
        after = datetime.now(timezone.utc)
        expected = self.live[backend_id]
        checked_at = expected.backend.last_health_check
        assert checked_at.tzinfo is not None
        assert before <= checked_at <= after
        was_healthy = expected.status is BackendStatus.HEALTHY
        expected.status, expected.error, expected.checked_at = status, error, checked_at
        if status is BackendStatus.HEALTHY and not was_healthy:
            self.healthy_order.append(backend_id)
        elif was_healthy and status is not BackendStatus.HEALTHY:
            self.healthy_order.remove(backend_id)

    @precondition(lambda self: self.live)
    @rule(data=st.data(), healthy=st.booleans())
    def flip_health(self, data: st.DataObject, healthy: bool) -> None:
        """A health checker's verdict (more frequent than other status changes)."""
        self.update_status(data, "healthy" if healthy else "unhealthy", False, None)

    @precondition(lambda self: self.live)
    @rule(data=st.data(), instance=st.sampled_from(["svc-1", "svc-2", "svc-3"]))
    def set_mdns_instance(self, data: st.DataObject, instance: str) -> None:
        backend_id = self.known_id(data)
        self.registry.set_mdns_instance(backend_id, instance)
        self.live[backend_id].metadata["mdns_instance"] = instance

    @rule(data=st.data(), case=st.sampled_from(ERROR_CASES))
    def rejected_call(self, data: st.DataObject, case: str) -> None:
        """One call that must be refused (documented error, ``to_dict()`` unchanged)."""
        registry = self.registry
        missing = self.unknown_id(data)
        known = self.known_id(data) if self.live else None
        not_found = BackendNotFoundError
        bad_arg = (TypeError, ValueError)
        if case == "remove unknown":
            error = self.rejected(not_found, registry.remove_backend, missing)
            assert isinstance(error, KeyError)
            assert str(error) == f"backend not found: {missing}"
            assert error.backend_id == missing
        elif case == "unknown id":
            call, args = data.draw(st.sampled_from(self.id_calls()))
            error = self.rejected(not_found, call, missing, *args)
            assert error.backend_id == missing
        elif case == "bad id":
            call, args = data.draw(st.sampled_from(self.id_calls()))
            self.rejected(bad_arg, call, data.draw(bad_ids), *args)
        elif known is None:
            return
        elif case == "duplicated model id":
            model_id = data.draw(model_ids)
            twice = [Model(model_id), Model(model_id, context_length=8)]
            self.rejected(ValueError, registry.update_models, known, twice)
        elif case == "bad models":
            bad = data.draw(st.sampled_from([None, "llama3", [1], [None], {"id": "m"}, 5]))
            self.rejected(bad_arg, registry.update_models, known, bad)
        elif case == "bad status":
            bad = data.draw(st.sampled_from(["HEALTHY", "up", "", None, 1, b"healthy"]))
            self.rejected(bad_arg, registry.update_status, known, bad)
        elif case == "bad error":
            bad = data.draw(st.sampled_from([5, b"x", ["e"]]))
            self.rejected(bad_arg, registry.update_status, known, "healthy", bad)
        elif case == "bad latency":
            bad = data.draw(st.sampled_from([-1, U32_MAX + 1, 2**64, True, 1.0, "5", None]))
            self.rejected(bad_arg, registry.update_latency, known, bad)
        elif case == "bad mdns instance":
            bad = data.draw(st.sampled_from([None, "", 5]))
            self.rejected(bad_arg, registry.set_mdns_instance, known, bad)
        else:  # pragma: no cover
            raise AssertionError(case)

    def id_calls(self) -> list[tuple]:
        """Every method that takes a backend id, with its other arguments."""
        registry = self.registry
        return [
            (registry.remove_backend, ()),
            (registry.update_models, ([Model("m")],)),
            (registry.update_status, ("healthy",)),
            (registry.set_mdns_instance, ("svc",)),
            (registry.increment_pending, ()),
            (registry.decrement_pending, ()),
            (registry.increment_total_requests, ()),
            (registry.update_latency, (10,)),
        ]

    # ---- counters -------------------------------------------------------------------------------

    @precondition(lambda self: self.live)
    @rule(data=st.data(), times=st.integers(1, 3))
    def increment_pending(self, data: st.DataObject, times: int) -> None:
        backend_id = self.known_id(data)
        expected = self.live[backend_id]
        for _ in range(times):
            expected.pending += 1
            assert self.registry.increment_pending(backend_id) == expected.pending

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def decrement_pending(self, data: st.DataObject) -> None:
        backend_id = self.known_id(data)
        expected = self.live[backend_id]
        expected.pending = max(0, expected.pending - 1)
        assert self.registry.decrement_pending(backend_id) == expected.pending

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def increment_total_requests(self, data: st.DataObject) -> None:
        backend_id = self.known_id(data)
        expected = self.live[backend_id]
        expected.total += 1
        assert self.registry.increment_total_requests(backend_id) == expected.total

    @precondition(lambda self: self.live)
    @rule(data=st.data(), sample=st.integers(0, 1000) | st.sampled_from([0, 1, U32_MAX]))
    def update_latency(self, data: st.DataObject, sample: int) -> None:
        backend_id = self.known_id(data)
        expected = self.live[backend_id]
        old = expected.latency
        expected.latency = sample if old == 0 else (sample + 4 * old) // 5
        assert self.registry.update_latency(backend_id, sample) is None

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def pending_at_limit(self, data: st.DataObject) -> None:
        """Forced to the maximum, pending refuses to wrap: OverflowError, value unchanged."""
        backend_id = self.known_id(data)
        expected = self.live[backend_id]
        expected.backend._counters._force(pending=U32_MAX)
        with pytest.raises(OverflowError):
            self.registry.increment_pending(backend_id)
        assert expected.backend.pending_requests == U32_MAX
        expected.backend._counters._force(pending=expected.pending)

    # ---- invariants -----------------------------------------------------------------------------

    @invariant()
    def index_matches_brute_force(self) -> None:
        registry = self.registry
        brute: dict[str, list[nexus.Backend]] = {}
        for backend in registry.get_all_backends():  # from every backend's own models
            for model in backend.models:
                brute.setdefault(model.id, []).append(backend)
        for model_id in MODEL_IDS + ["unknown-model"]:
            found = registry.get_backends_for_model(model_id)
            assert len({id(b) for b in found}) == len(found)  # no backend twice
            assert {id(b) for b in found} == {id(b) for b in brute.get(model_id, [])}
        assert set(registry.model_ids()) == set(brute)
        # ...and the backends' models are what the model expects.
        served: dict[str, set[str]] = {}
        for backend_id, expected in self.live.items():
            assert registry.get_backend(backend_id).models == expected.models
            for model in expected.models:
                served.setdefault(model.id, set()).add(backend_id)
        assert {m: {b.id for b in bs} for m, bs in brute.items()} == served
        assert registry.model_count() == len(served)

    @invariant()
    def counts_and_membership(self) -> None:
        registry = self.registry
        assert registry.backend_count() == len(registry) == len(self.live)
        assert [b.id for b in registry.get_all_backends()] == list(self.live)
        assert [b.id for b in registry] == list(self.live)
        for backend_id in BACKEND_IDS + ["zz"]:
            assert (backend_id in registry) == (backend_id in self.live)
            found = registry.get_backend(backend_id)
            if backend_id in self.live:
                assert found is self.live[backend_id].backend
            else:
                assert found is None

    @invariant()
    def healthy_set(self) -> None:
        healthy = [b.id for b in self.registry.get_healthy_backends()]
        assert healthy == self.healthy_order
        assert set(healthy) == {
            i for i, e in self.live.items() if e.status is BackendStatus.HEALTHY
        }

    @invariant()
    def lookups(self) -> None:
        registry = self.registry
        for expected in self.live.values():
            url = expected.backend.url
            assert registry.has_backend_url(url.rstrip("/"))
            assert registry.has_backend_url(url + "//")
        for instance in ("svc-1", "svc-2", "svc-3"):
            owners = [
                i for i, e in self.live.items() if e.metadata.get("mdns_instance") == instance
            ]
            found = registry.find_by_mdns_instance(instance)
            assert (found in owners) if owners else found is None

    @invariant()
    def snapshot_and_self_check(self) -> None:
        registry = self.registry
        expected = [self.live[i].to_dict() for i in sorted(self.live)]
        assert registry.to_dict() == {"backends": expected}
        for backend_id, state in self.live.items():
            backend = registry.get_backend(backend_id)
            assert backend.view() == replace(
                backend.view(), models=state.models, pending_requests=state.pending
            )
            assert (backend.total_requests, backend.avg_latency_ms) == (state.total, state.latency)
        assert registry.check_consistency() == []


def test_registry_state_machine() -> None:
    """Runs the machine under the active profile (more and longer runs in the long profile)."""
    current = settings()
    run_state_machine_as_test(
        RegistryMachine,
        settings=settings(
            current,
            max_examples=max(10, current.max_examples // 2),
            stateful_step_count=40,
        ),
    )
