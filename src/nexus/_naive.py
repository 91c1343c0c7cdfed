"""A naive reference registry: what a competent first version looks like, for the benchmarks.

This is the baseline ``python -m nexus.bench`` compares nexus against, not part of the public API.
It implements the same contract in the obvious way: plain classes that validate their arguments,
one ``threading.Lock`` around every registry operation (reads included), plain ``int`` counters
changed under that lock, a model index of ``model id -> {backend id: backend}`` and queries that
build a fresh ``list`` under the lock. Nothing in it is deliberately slow.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from urllib.parse import urlsplit

from nexus.enums import BackendStatus, BackendType, DiscoverySource
from nexus.errors import BackendNotFoundError, DuplicateBackendError

__all__ = ["NaiveBackend", "NaiveModel", "NaiveRegistry"]

_logger = logging.getLogger("nexus.naive")

_U32_MAX = 2**32 - 1
_U64_MAX = 2**64 - 1


def _require_str(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a str, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{field} must not be empty")
    return value


def _require_int(value: object, field: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{field} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{field} must be in {low}..{high}, got {value}")
    return value


class NaiveModel:
    """One model a backend serves (validated, plain attributes)."""

    def __init__(
        self,
        id: str,
        name: str | None = None,
        context_length: int = 4096,
        supports_vision: bool = False,
        supports_tools: bool = False,
        supports_json_mode: bool = False,
        max_output_tokens: int | None = None,
    ) -> None:
        self.id = _require_str(id, "Model.id")
        self.name = id if name is None else _require_str(name, "Model.name")
        self.context_length = _require_int(context_length, "Model.context_length", 0, _U32_MAX)
        for flag, value in (
            ("supports_vision", supports_vision),
            ("supports_tools", supports_tools),
            ("supports_json_mode", supports_json_mode),
        ):
            if not isinstance(value, bool):
                raise TypeError(f"Model.{flag} must be a bool, got {type(value).__name__}")
        self.supports_vision = supports_vision
        self.supports_tools = supports_tools
        self.supports_json_mode = supports_json_mode
        if max_output_tokens is not None:
            _require_int(max_output_tokens, "Model.max_output_tokens", 0, _U32_MAX)
        self.max_output_tokens = max_output_tokens


class NaiveBackend:
    """One inference server with plain ``int`` counters (changed only under the registry's lock)."""

    def __init__(
        self,
        id: str,
        name: str,
        url: str,
        backend_type: BackendType | str,
        models: Iterable[NaiveModel] = (),
        discovery_source: DiscoverySource | str = DiscoverySource.STATIC,
        metadata: Mapping[str, str] | None = None,
        priority: int = 0,
    ) -> None:
        self.id = _require_str(id, "Backend.id")
        self.name = _require_str(name, "Backend.name")
        parts = urlsplit(_require_str(url, "Backend.url"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Backend.url must be http(s):// with a host, got {url!r}")
        self.url = url
        self.backend_type = BackendType(backend_type)
        self.models = list(models)
        for model in self.models:
            if not isinstance(model, NaiveModel):
                raise TypeError(f"Backend.models must hold Model, got {type(model).__name__}")
        self.discovery_source = DiscoverySource(discovery_source)
        self.metadata = dict(metadata or {})
        self.priority = _require_int(priority, "Backend.priority", -(2**31), 2**31 - 1)
        self.status = BackendStatus.UNKNOWN
        self.last_health_check = datetime.now(timezone.utc)
        self.last_error: str | None = None
        self.pending_requests = 0
        self.total_requests = 0
        self.avg_latency_ms = 0


class NaiveRegistry:
    """The registry written the obvious way: one lock around everything, fresh lists out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._backends: dict[str, NaiveBackend] = {}
        self._by_model: dict[str, dict[str, NaiveBackend]] = {}

    def add_backend(self, backend: NaiveBackend) -> None:
        """Store a backend and index its models."""
        if not isinstance(backend, NaiveBackend):
            raise TypeError(f"backend must be a Backend, got {type(backend).__name__}")
        with self._lock:
            if backend.id in self._backends:
                raise DuplicateBackendError(backend.id)
            self._backends[backend.id] = backend
            for model in backend.models:
                self._by_model.setdefault(model.id, {})[backend.id] = backend

    def remove_backend(self, backend_id: str) -> NaiveBackend:
        """Drop a backend and its index entries."""
        with self._lock:
            backend = self._require(backend_id)
            del self._backends[backend_id]
            self._unindex(backend)
            return backend

    def get_backend(self, backend_id: str) -> NaiveBackend | None:
        """The backend with this id, or ``None``."""
        _require_str(backend_id, "backend_id")
        with self._lock:
            return self._backends.get(backend_id)

    def get_all_backends(self) -> list[NaiveBackend]:
        """Every backend, as a fresh list."""
        with self._lock:
            return list(self._backends.values())

    def get_healthy_backends(self) -> list[NaiveBackend]:
        """The HEALTHY backends, as a fresh list."""
        with self._lock:
            return [b for b in self._backends.values() if b.status is BackendStatus.HEALTHY]

    def get_backends_for_model(self, model_id: str) -> list[NaiveBackend]:
        """Every backend serving ``model_id``, as a fresh list."""
        _require_str(model_id, "model_id")
        with self._lock:
            return list(self._by_model.get(model_id, {}).values())

    def backend_count(self) -> int:
        """How many backends are registered."""
        with self._lock:
            return len(self._backends)

    def update_status(
        self, backend_id: str, status: BackendStatus | str, error: str | None = None
    ) -> None:
        """Set status, time of check and last error."""
        new_status = BackendStatus(status)
        with self._lock:
            backend = self._require(backend_id)
            backend.status = new_status
            backend.last_health_check = datetime.now(timezone.utc)
            backend.last_error = error

    def update_models(self, backend_id: str, models: Iterable[NaiveModel]) -> None:
        """Replace a backend's models and re-index it."""
        new_models = list(models)
        with self._lock:
            backend = self._require(backend_id)
            self._unindex(backend)
            backend.models = new_models
            for model in new_models:
                self._by_model.setdefault(model.id, {})[backend.id] = backend

    def increment_pending(self, backend_id: str) -> int:
        """One more request in flight; returns the new value."""
        with self._lock:
            backend = self._require(backend_id)
            if backend.pending_requests >= _U32_MAX:
                raise OverflowError("pending_requests at its maximum")
            backend.pending_requests += 1
            return backend.pending_requests

    def decrement_pending(self, backend_id: str) -> int:
        """One request fewer in flight, saturating at 0; returns the new value."""
        with self._lock:
            backend = self._require(backend_id)
            if backend.pending_requests == 0:
                _logger.warning("decrement_pending on %r with nothing pending", backend_id)
                return 0
            backend.pending_requests -= 1
            return backend.pending_requests

    def increment_total_requests(self, backend_id: str) -> int:
        """Count one more request; returns the new value."""
        with self._lock:
            backend = self._require(backend_id)
            if backend.total_requests >= _U64_MAX:
                raise OverflowError("total_requests at its maximum")
            backend.total_requests += 1
            return backend.total_requests

    def update_latency(self, backend_id: str, latency_ms: int) -> None:
        """Fold a latency sample into the EMA (alpha 1/5)."""
        _require_int(latency_ms, "latency_ms", 0, _U32_MAX)
        with self._lock:
            backend = self._require(backend_id)
            old = backend.avg_latency_ms
            backend.avg_latency_ms = latency_ms if old == 0 else (latency_ms + 4 * old) // 5

    @contextlib.contextmanager
    def track(self, backend_id: str) -> Iterator[NaiveBackend]:
        """Count one request: pending and total up; on exit pending down, latency if it succeeded."""
        backend = self.get_backend(backend_id)
        if backend is None:
            raise BackendNotFoundError(backend_id)
        self.increment_pending(backend_id)
        self.increment_total_requests(backend_id)
        start = time.monotonic_ns()
        succeeded = False
        try:
            yield backend
            succeeded = True
        finally:
            self.decrement_pending(backend_id)
            if succeeded:
                self.update_latency(backend_id, (time.monotonic_ns() - start) // 1_000_000)

    def _require(self, backend_id: str) -> NaiveBackend:
        backend = self._backends.get(backend_id)
        if backend is None:
            raise BackendNotFoundError(backend_id)
        return backend

    def _unindex(self, backend: NaiveBackend) -> None:
        for model in backend.models:
            entry = self._by_model.get(model.id)
            if entry is not None:
                entry.pop(backend.id, None)
                if not entry:
                    del self._by_model[model.id]
