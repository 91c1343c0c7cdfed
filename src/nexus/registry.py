"""``Registry``: the source of truth for every backend a router knows.

Concurrency design
------------------
* Every write takes one ``threading.Lock``; reads take no lock at all.
* Writers publish immutable values with single assignments: each model's entry in the model index
  is a tuple that is replaced whole, the healthy and all-backends sets are tuples replaced whole, and
  a backend's status/time/error triple and its model tuple are each replaced in one assignment. A
  reader therefore sees, for each thing it reads, the complete old value or the complete new one.
  Two separate reads are not a transaction: a reader may see a model's new backend set and then
  another model's old one while ``update_models`` runs.
* The counters never take the lock: they are atomics (C11 in the compiled core) reached through a
  ``CounterTable`` keyed by backend id.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from types import MappingProxyType
from typing import Any

from nexus import counters
from nexus._validate import check_enum, check_int, check_optional_str, check_str, describe
from nexus.backend import Backend, Health, check_models, utc_now
from nexus.enums import BackendStatus
from nexus.errors import BackendNotFoundError, DuplicateBackendError
from nexus.model import Model

__all__ = ["Registry"]

_logger = logging.getLogger("nexus")

# Claiming a backend for a registry must be atomic across registries, whose locks differ.
_ownership_lock = threading.Lock()


def _check_backend_id(value: object) -> str:
    return check_str(value, "backend_id")


class Registry(counters.RegistryCore):
    """Every backend a router knows: storage, model index, health and live load.

    All methods are safe to call from many threads and from asyncio code at once (no method blocks
    for longer than a short critical section). Readers never wait for writers and never see a
    half-applied update. Backends returned are the live registered objects.

    The per-request calls (``get_backend``, ``get_backends_for_model``, ``get_all_backends``,
    ``get_healthy_backends`` and the by-id counter operations) are inherited from
    ``RegistryCore``, an extension type with the compiled core (``nexus._core``): a Python frame
    would cost more than the whole operation.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # RegistryCore made self._backends (id -> Backend) and self._by_model (model id -> tuple of
        # Backend): mutated in place under the lock, never rebound.
        self._all = ()
        self._healthy = ()
        self._table = counters.CounterTable()
        # model id -> immutable snapshot of its HEALTHY backends for select() (counters.Candidates)
        self._candidates: dict[str, Any] = {}

    # ---- construction -------------------------------------------------------------------------

    @classmethod
    def from_config(cls, path: str | os.PathLike[str]) -> Registry:
        """A registry holding the backends of a TOML file (see ``nexus.load_config``)."""
        from nexus.config import load_config

        registry = cls()
        registry.add_backends(load_config(path))
        return registry

    def add_backend(self, backend: Backend) -> None:
        """Store ``backend`` and index its models; ``DuplicateBackendError`` if the id is taken."""
        self.add_backends((backend,))

    def add_backends(self, backends: Iterable[Backend]) -> None:
        """Add several backends at once: all of them, or none if any id is taken or repeated."""
        if isinstance(backends, Backend):
            raise TypeError("add_backends takes an iterable of Backend; use add_backend for one")
        try:
            batch = tuple(backends)
        except Exception as exc:  # not iterable, or its iteration failed: a bad argument
            raise TypeError(
                f"backends must be an iterable of Backend, got {type(backends).__name__} "
                f"({describe(exc)})"
            ) from None
        for backend in batch:
            if not isinstance(backend, Backend):
                raise TypeError(
                    f"backend must be a Backend, got {type(backend).__name__} {describe(backend)}"
                )
        with self._lock:
            seen: set[str] = set()
            for backend in batch:
                if backend.id in self._backends or backend.id in seen:
                    raise DuplicateBackendError(backend.id)
                seen.add(backend.id)
            self._claim(batch)
            by_model = self._by_model
            for backend in batch:
                self._table.add(backend.id, backend._counters)
                self._backends[backend.id] = backend
                for model in backend._models:
                    by_model[model.id] = by_model.get(model.id, ()) + (backend,)
            self._all = self._all + batch
            healthy = tuple(b for b in batch if b._health.status is BackendStatus.HEALTHY)
            if healthy:
                self._healthy = self._healthy + healthy
                for backend in healthy:
                    self._index_candidates(backend, backend._models)

    def _claim(self, batch: tuple[Backend, ...]) -> None:
        with _ownership_lock:
            for backend in batch:
                if backend._owner is not None and backend._owner is not self:
                    raise ValueError(
                        f"backend {backend.id!r} is already registered in another Registry; "
                        "remove it there first"
                    )
            for backend in batch:
                object.__setattr__(backend, "_owner", self)

    def remove_backend(self, id: str) -> Backend:
        """Drop a backend and its model-index entries; returns it. Unknown id: ``BackendNotFoundError``."""
        key = _check_backend_id(id)
        with self._lock:
            backend = self._require(key)
            del self._backends[key]
            self._table.discard(key)
            self._all = _without(self._all, backend)
            if backend._health.status is BackendStatus.HEALTHY:
                self._healthy = _without(self._healthy, backend)
                self._unindex_candidates(backend, backend._models)
            self._unindex(backend, backend._models)
            with _ownership_lock:
                object.__setattr__(backend, "_owner", None)
        return backend

    # ---- reads (lock-free) ----------------------------------------------------------------------

    # get_backend, get_all_backends, get_healthy_backends, get_backends_for_model: RegistryCore.

    def backend_count(self) -> int:
        """How many backends are registered."""
        return len(self._backends)

    def model_count(self) -> int:
        """How many distinct model ids the backends serve."""
        return len(self._by_model)

    def model_ids(self) -> tuple[str, ...]:
        """The distinct model ids served, in the order they first appeared."""
        # Copy first: dict.copy() is atomic, while iterating a dict that a writer resizes raises
        # RuntimeError on a free-threaded CPython (no GIL to make tuple(dict) one step).
        return tuple(self._by_model.copy())

    def __len__(self) -> int:
        return len(self._backends)

    def __contains__(self, backend_id: object) -> bool:
        if not isinstance(backend_id, str):
            return False
        return check_str(backend_id, "backend_id", allow_empty=True) in self._backends

    def __iter__(self) -> Iterator[Backend]:
        return iter(self._all)

    def __repr__(self) -> str:
        return f"<Registry backends={len(self._backends)} models={len(self._by_model)}>"

    def has_backend_url(self, url: str) -> bool:
        """Whether a backend has this URL (trailing slashes ignored on both sides)."""
        wanted = check_str(url, "url", allow_empty=True).rstrip("/")
        return any(backend.url.rstrip("/") == wanted for backend in self._all)

    def find_by_mdns_instance(self, instance: str) -> str | None:
        """The id of the backend recorded with this mDNS instance name, or ``None``."""
        wanted = check_str(instance, "instance")
        for backend in self._all:
            if backend._metadata.get("mdns_instance") == wanted:
                return backend.id
        return None

    # ---- writes ---------------------------------------------------------------------------------

    def update_status(self, id: str, status: BackendStatus | str, error: str | None = None) -> None:
        """Set status, ``last_health_check`` = now (UTC) and ``last_error = error`` in one step."""
        key = _check_backend_id(id)
        new_status = check_enum(BackendStatus, status, "status")
        new_error = check_optional_str(error, "error")
        with self._lock:
            backend = self._require(key)
            was_healthy = backend._health.status is BackendStatus.HEALTHY
            object.__setattr__(backend, "_health", Health(new_status, utc_now(), new_error))
            is_healthy = new_status is BackendStatus.HEALTHY
            if is_healthy and not was_healthy:
                self._healthy = self._healthy + (backend,)
                self._index_candidates(backend, backend._models)
            elif was_healthy and not is_healthy:
                self._healthy = _without(self._healthy, backend)
                self._unindex_candidates(backend, backend._models)

    def update_models(self, id: str, models: Iterable[Model]) -> None:
        """Replace a backend's models and their index entries (readers see old or new, never a mix)."""
        key = _check_backend_id(id)
        new_models = check_models(models)
        with self._lock:
            backend = self._require(key)
            old_models = backend._models
            new_ids = {model.id for model in new_models}
            old_ids = {model.id for model in old_models}
            object.__setattr__(backend, "_models", new_models)
            self._unindex(backend, [m for m in old_models if m.id not in new_ids])
            by_model = self._by_model
            for model in new_models:
                if model.id not in old_ids:
                    by_model[model.id] = by_model.get(model.id, ()) + (backend,)
            if backend._health.status is BackendStatus.HEALTHY:
                self._unindex_candidates(backend, [m for m in old_models if m.id not in new_ids])
                self._index_candidates(backend, new_models)  # replaces the entries of kept ids

    def set_mdns_instance(self, id: str, instance: str) -> None:
        """Record the backend's mDNS instance name in its metadata under ``"mdns_instance"``."""
        key = _check_backend_id(id)
        name = check_str(instance, "instance")
        with self._lock:
            backend = self._require(key)
            metadata = dict(backend._metadata)
            metadata["mdns_instance"] = name
            object.__setattr__(backend, "_metadata", MappingProxyType(metadata))

    # ---- counters (lock-free, atomic) -----------------------------------------------------------

    # increment_pending, decrement_pending, increment_total_requests, update_latency: RegistryCore,
    # which calls the CounterTable (self._table).

    # ---- routing: pick a backend, track a request -------------------------------------------------

    # The compiled twins when the core is built (argument parsing and the scan in C), else the
    # pure ones; the docstrings are there: nexus._select_py.registry_select and
    # nexus._track_py.registry_track.
    select = counters.registry_select
    track = counters.registry_track

    # ---- self-check -----------------------------------------------------------------------------

    def check_consistency(self) -> list[str]:
        """Verify every internal invariant, repair what disagrees, and say what was repaired.

        Under the write lock, the derived structures are checked against the backends dict, the
        source of truth: the all-backends tuple (each backend once, registration order), the model
        index (model id -> exactly the backends whose models include it, no empty entries), the
        healthy tuple (exactly the backends whose status is HEALTHY, each once) and the counter
        table (each backend's id -> its own counters, nothing else). Whatever disagrees is rebuilt
        and republished with single assignments, so lock-free readers keep seeing whole values.
        Each repair is logged as a WARNING on the ``nexus`` logger. Returns one message per repair;
        an empty list means everything was consistent.
        """
        repairs: list[str] = []

        def repaired(message: str) -> None:
            _logger.warning("registry inconsistency repaired: %s", message)
            repairs.append(message)

        with self._lock:
            backends = self._backends
            for key, backend in list(backends.items()):
                if not isinstance(backend, Backend) or backend.id != key:
                    del backends[key]
                    repaired(f"backends dict: dropped entry {key!r} that is not that backend")
            registered = tuple(backends.values())

            if len(self._all) != len(registered) or any(
                a is not b for a, b in zip(self._all, registered, strict=False)
            ):
                self._all = registered
                repaired(f"all-backends tuple rebuilt ({len(registered)} backends)")

            expected_index: dict[str, tuple[Backend, ...]] = {}
            for backend in registered:
                for model in backend._models:
                    expected_index[model.id] = expected_index.get(model.id, ()) + (backend,)
            by_model = self._by_model
            for model_id in [m for m in list(by_model) if m not in expected_index]:
                by_model.pop(model_id, None)
                repaired(f"model index: dropped {model_id!r}, served by no backend")
            for model_id, expected in expected_index.items():
                current = by_model.get(model_id, ())
                if not _same_members(current, expected):
                    by_model[model_id] = _reconciled(current, expected)
                    repaired(
                        f"model index: {model_id!r} listed {_ids(current)}, "
                        f"served by {_ids(expected)}"
                    )

            healthy = tuple(b for b in registered if b._health.status is BackendStatus.HEALTHY)
            current_healthy = self._healthy
            if not _same_members(current_healthy, healthy):
                self._healthy = _reconciled(current_healthy, healthy)
                repaired(
                    f"healthy tuple listed {_ids(current_healthy)}, healthy are {_ids(healthy)}"
                )

            self._check_candidates(healthy, repaired)

            table = self._table
            table_ok = len(table) == len(registered)
            for backend in registered:
                if not table_ok:
                    break
                try:
                    table_ok = table.get(backend.id) is backend._counters
                except Exception:
                    table_ok = False
            if not table_ok:
                rebuilt = type(table)()
                for backend in registered:
                    rebuilt.add(backend.id, backend._counters)
                self._table = rebuilt
                repaired(f"counter table rebuilt ({len(registered)} backends)")

            with _ownership_lock:
                for backend in registered:
                    if backend._owner is None:
                        object.__setattr__(backend, "_owner", self)
                        repaired(f"backend {backend.id!r} was not marked as owned by this registry")
        return repairs

    # ---- serialisation --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """``{"backends": [view.to_dict(), ...]}`` sorted by backend id."""
        backends = sorted(self._all, key=lambda backend: backend.id)
        return {"backends": [backend.view().to_dict() for backend in backends]}

    def to_json(self, *, indent: int | None = None) -> str:
        """``to_dict()`` as JSON text; ``indent``: ``None`` (one line) or spaces per level, 0..100."""
        if indent is not None:
            # json.dumps would build " " * indent: a huge int is an OverflowError or a MemoryError.
            indent = check_int(indent, "indent", 0, 100)
        return json.dumps(self.to_dict(), indent=indent)

    # ---- internals (call with the lock held) ----------------------------------------------------

    def _require(self, key: str) -> Backend:
        backend = self._backends.get(key)
        if backend is None:
            raise BackendNotFoundError(key)
        return backend

    def _index_candidates(self, backend: Backend, models: Iterable[Model]) -> None:
        """Publish ``backend`` (HEALTHY) in the select snapshots of ``models``."""
        snapshots = self._candidates
        for model in models:
            current = snapshots.get(model.id)
            if current is None:
                current = counters.Candidates()
            snapshots[model.id] = current.with_entry(backend, model)

    def _unindex_candidates(self, backend: Backend, models: Iterable[Model]) -> None:
        """Withdraw ``backend`` from the select snapshots of ``models``."""
        snapshots = self._candidates
        for model in models:
            current = snapshots.get(model.id)
            if current is None:
                continue
            remaining = current.without(backend.id)
            if len(remaining):
                snapshots[model.id] = remaining
            else:
                snapshots.pop(model.id, None)

    def _check_candidates(
        self, healthy: tuple[Backend, ...], repaired: Callable[[str], None]
    ) -> None:
        """check_consistency's part for the select snapshots.

        Each model's must list exactly its HEALTHY backends with their current entries; one that
        does not is rebuilt.
        """
        fresh: dict[str, Any] = {}
        for backend in healthy:
            for model in backend._models:
                current = fresh.get(model.id)
                if current is None:
                    current = counters.Candidates()
                fresh[model.id] = current.with_entry(backend, model)
        snapshots = self._candidates
        for model_id in [m for m in list(snapshots) if m not in fresh]:
            snapshots.pop(model_id, None)
            repaired(f"select snapshot: dropped {model_id!r}, served by no healthy backend")
        for model_id, expected in fresh.items():
            current = snapshots.get(model_id)
            if (
                current is None
                or current.entries() != expected.entries()
                or any(a is not b for a, b in zip(current.backends, expected.backends, strict=True))
            ):
                snapshots[model_id] = expected
                repaired(f"select snapshot: {model_id!r} rebuilt")

    def _unindex(self, backend: Backend, models: Iterable[Model]) -> None:
        by_model = self._by_model
        for model in models:
            remaining = _without(by_model.get(model.id, ()), backend)
            if remaining:
                by_model[model.id] = remaining
            else:
                by_model.pop(model.id, None)


# Registry's own descriptors for the core's C methods: CPython's fast call path for a C method
# checks the exact type of self (no-op with the pure core).
counters.RegistryCore.own_methods(Registry)


def _ids(items: tuple[Backend, ...]) -> list[str]:
    """The ids of ``items``, sorted, for a repair message (whatever the entries turn out to be)."""
    return sorted(str(getattr(item, "id", f"<{type(item).__name__}>")) for item in items)


def _same_members(current: tuple[Backend, ...], expected: tuple[Backend, ...]) -> bool:
    """Whether ``current`` holds exactly the backends of ``expected`` (by identity), each once."""
    ids = {id(backend) for backend in current}
    return len(ids) == len(current) == len(expected) and ids == {id(b) for b in expected}


def _reconciled(current: tuple[Backend, ...], expected: tuple[Backend, ...]) -> tuple[Backend, ...]:
    """``expected``'s members: those of ``current`` first, in its order, once each, then the rest."""
    wanted = {id(backend) for backend in expected}
    kept: dict[int, Backend] = {}
    for backend in current:
        if id(backend) in wanted:
            kept.setdefault(id(backend), backend)
    return tuple(kept.values()) + tuple(b for b in expected if id(b) not in kept)


def _without(items: tuple[Backend, ...], backend: Backend) -> tuple[Backend, ...]:
    """``items`` less ``backend`` (compared by identity), as a new tuple."""
    try:
        index = items.index(backend)  # Backend compares by identity
    except ValueError:
        return items
    return items[:index] + items[index + 1 :]
