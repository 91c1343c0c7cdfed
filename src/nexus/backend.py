"""``Backend`` (one inference server, with live counters) and ``BackendView`` (its frozen snapshot)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, NamedTuple, NoReturn
from urllib.parse import urlsplit

from nexus import counters
from nexus._validate import (
    I32_MAX,
    I32_MIN,
    U32_MAX,
    U64_MAX,
    check_enum,
    check_int,
    check_optional_str,
    check_str,
    check_str_mapping,
    describe,
)
from nexus.enums import BackendStatus, BackendType, DiscoverySource
from nexus.model import Model, mapping_fields

__all__ = ["Backend", "BackendView", "check_models"]


class Health(NamedTuple):
    """Status, time of the last check and last error: always replaced together, in one assignment."""

    status: BackendStatus
    checked_at: datetime
    error: str | None


def utc_now() -> datetime:
    """The current time as a timezone-aware UTC ``datetime``."""
    return datetime.now(timezone.utc)


_WHITESPACE = re.compile(r"\s")  # the same characters as str.isspace(), checked in C

# Most backends carry no labels: they share one empty read-only mapping (saves ~120 bytes each).
_NO_METADATA: Mapping[str, str] = MappingProxyType({})


def check_url(value: object) -> str:
    """An ``http://`` or ``https://`` URL with a host."""
    url = check_str(value, "Backend.url")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ValueError(f"Backend.url is not a valid URL: {describe(url)} ({exc})") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(
            f"Backend.url must be http:// or https:// with a host, got {describe(url)}"
        )
    if _WHITESPACE.search(url):
        raise ValueError(f"Backend.url must not contain whitespace, got {describe(url)}")
    return url


def check_models(value: object, field_name: str = "models") -> tuple[Model, ...]:
    """An iterable of ``Model`` with distinct ids, as a tuple (a duplicated id is a ValueError)."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise TypeError(f"{field_name} must be an iterable of Model, got {type(value).__name__}")
    try:
        models = tuple(value)
    except Exception as exc:
        raise TypeError(f"{field_name} could not be iterated: {describe(exc)}") from None
    seen: set[str] = set()
    for index, model in enumerate(models):
        if not isinstance(model, Model):
            raise TypeError(
                f"{field_name}[{index}] must be a Model, got {type(model).__name__} {describe(model)}"
            )
        if model.id in seen:
            raise ValueError(f"{field_name} has the model id {model.id!r} more than once")
        seen.add(model.id)
    return models


class Backend:
    """One inference server: where it is, what it serves, its health and its live load.

    Attributes are read-only; state changes go through the ``Registry``. The counters
    (``pending_requests``, ``total_requests``, ``avg_latency_ms``) are read from the atomics at the
    moment of access.
    """

    __slots__ = (
        "_counters",
        "_health",
        "_metadata",
        "_models",
        "_owner",
        "backend_type",
        "discovery_source",
        "id",
        "name",
        "priority",
        "url",
    )

    id: str
    name: str
    url: str
    backend_type: BackendType
    discovery_source: DiscoverySource
    priority: int
    _counters: counters.Counters
    _health: Health
    _metadata: Mapping[str, str]
    _models: tuple[Model, ...]
    _owner: object  # the Registry holding this backend, or None

    def __init__(
        self,
        id: str,
        name: str,
        url: str,
        backend_type: BackendType | str,
        models: Iterable[Model] = (),
        discovery_source: DiscoverySource | str = DiscoverySource.STATIC,
        metadata: Mapping[str, str] | None = None,
        priority: int = 0,
    ) -> None:
        init = object.__setattr__
        backend_id = check_str(id, "Backend.id")
        init(self, "id", backend_id)
        init(self, "name", check_str(name, "Backend.name"))
        init(self, "url", check_url(url))
        init(self, "backend_type", check_enum(BackendType, backend_type, "Backend.backend_type"))
        init(self, "_models", check_models(models, "Backend.models"))
        init(
            self,
            "discovery_source",
            check_enum(DiscoverySource, discovery_source, "Backend.discovery_source"),
        )
        labels = check_str_mapping(metadata, "Backend.metadata")
        init(self, "_metadata", MappingProxyType(labels) if labels else _NO_METADATA)
        init(self, "priority", check_int(priority, "Backend.priority", I32_MIN, I32_MAX))
        init(self, "_health", Health(BackendStatus.UNKNOWN, utc_now(), None))
        init(self, "_counters", counters.Counters(backend_id))
        init(self, "_owner", None)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(
            f"Backend.{name} is read-only; change a backend's state through its Registry"
        )

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"Backend.{name} is read-only")

    def __repr__(self) -> str:
        return (
            f"Backend(id={self.id!r}, url={self.url!r}, type={self.backend_type.value}, "
            f"status={self.status.value}, pending={self.pending_requests})"
        )

    @property
    def metadata(self) -> Mapping[str, str]:
        """Free-form ``str -> str`` labels, as a read-only mapping."""
        return self._metadata

    @property
    def models(self) -> tuple[Model, ...]:
        """The models this backend serves."""
        return self._models

    @property
    def status(self) -> BackendStatus:
        """Health as last reported through ``Registry.update_status``."""
        return self._health.status

    @property
    def last_health_check(self) -> datetime:
        """When the status was last set (creation time until then), timezone-aware UTC."""
        return self._health.checked_at

    @property
    def last_error(self) -> str | None:
        """The error given with the last status update, or ``None``."""
        return self._health.error

    @property
    def pending_requests(self) -> int:
        """Requests in flight now."""
        return self._counters.pending_requests

    @property
    def total_requests(self) -> int:
        """Requests started over the backend's lifetime."""
        return self._counters.total_requests

    @property
    def avg_latency_ms(self) -> int:
        """Exponential moving average of latency in ms (0: no sample yet)."""
        return self._counters.avg_latency_ms

    def view(self) -> BackendView:
        """A frozen snapshot of this backend (see ``BackendView``)."""
        return BackendView.from_backend(self)


_VIEW_FIELDS = (
    "id",
    "name",
    "url",
    "backend_type",
    "status",
    "last_health_check",
    "last_error",
    "models",
    "priority",
    "pending_requests",
    "total_requests",
    "avg_latency_ms",
    "discovery_source",
    "metadata",
)


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with microseconds and a ``Z``: ``2026-02-14T10:30:45.123000Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: object, field_name: str) -> datetime:
    """A timezone-aware UTC ``datetime`` from an ISO-8601 string (``Z`` or an offset required)."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = check_str(value, field_name)
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise ValueError(
                f"{field_name} must be an ISO-8601 timestamp, got {describe(text)}"
            ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{field_name} must carry a time zone, got {describe(value)}")
    return moment.astimezone(timezone.utc)


@dataclass(frozen=True)
class BackendView:
    """A frozen, serialisable snapshot of a ``Backend`` at one moment."""

    id: str
    name: str
    url: str
    backend_type: BackendType
    status: BackendStatus
    last_health_check: datetime
    last_error: str | None
    models: tuple[Model, ...]
    priority: int
    pending_requests: int
    total_requests: int
    avg_latency_ms: int
    discovery_source: DiscoverySource
    metadata: Mapping[str, str] = field(hash=False)

    def __post_init__(self) -> None:
        set_field = object.__setattr__
        set_field(self, "id", check_str(self.id, "BackendView.id"))
        set_field(self, "name", check_str(self.name, "BackendView.name"))
        set_field(self, "url", check_url(self.url))
        set_field(
            self,
            "backend_type",
            check_enum(BackendType, self.backend_type, "BackendView.backend_type"),
        )
        set_field(self, "status", check_enum(BackendStatus, self.status, "BackendView.status"))
        set_field(
            self,
            "last_health_check",
            parse_timestamp(self.last_health_check, "BackendView.last_health_check"),
        )
        set_field(self, "last_error", check_optional_str(self.last_error, "BackendView.last_error"))
        set_field(self, "models", check_models(self.models, "BackendView.models"))
        set_field(
            self, "priority", check_int(self.priority, "BackendView.priority", I32_MIN, I32_MAX)
        )
        for name, high in (
            ("pending_requests", U32_MAX),
            ("total_requests", U64_MAX),
            ("avg_latency_ms", U32_MAX),
        ):
            set_field(self, name, check_int(getattr(self, name), f"BackendView.{name}", 0, high))
        set_field(
            self,
            "discovery_source",
            check_enum(DiscoverySource, self.discovery_source, "BackendView.discovery_source"),
        )
        set_field(
            self,
            "metadata",
            MappingProxyType(check_str_mapping(self.metadata, "BackendView.metadata")),
        )

    def __reduce__(self) -> tuple[type[BackendView], tuple[Any, ...]]:
        """Pickle/copy support: rebuild from the field values (``metadata`` as a plain dict)."""
        values = [getattr(self, name) for name in _VIEW_FIELDS]
        values[_VIEW_FIELDS.index("metadata")] = dict(self.metadata)
        return (type(self), tuple(values))

    @classmethod
    def from_backend(cls, backend: Backend) -> BackendView:
        """Snapshot ``backend`` now (same as ``backend.view()``)."""
        if not isinstance(backend, Backend):
            raise TypeError(f"backend must be a Backend, got {type(backend).__name__}")
        health = backend._health
        return cls(
            id=backend.id,
            name=backend.name,
            url=backend.url,
            backend_type=backend.backend_type,
            status=health.status,
            last_health_check=health.checked_at,
            last_error=health.error,
            models=backend._models,
            priority=backend.priority,
            pending_requests=backend.pending_requests,
            total_requests=backend.total_requests,
            avg_latency_ms=backend.avg_latency_ms,
            discovery_source=backend.discovery_source,
            metadata=backend._metadata,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: enums as strings, time as ISO-8601 UTC, models as dicts."""
        return {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "backend_type": self.backend_type.value,
            "status": self.status.value,
            "last_health_check": format_timestamp(self.last_health_check),
            "last_error": self.last_error,
            "models": [model.to_dict() for model in self.models],
            "priority": self.priority,
            "pending_requests": self.pending_requests,
            "total_requests": self.total_requests,
            "avg_latency_ms": self.avg_latency_ms,
            "discovery_source": self.discovery_source.value,
            "metadata": dict(self.metadata),
        }

    def to_json(self) -> str:
        """``json.dumps`` of ``to_dict()``."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackendView:
        """Rebuild a view from ``to_dict()`` output (all fields required, no unknown keys)."""
        fields = mapping_fields(data, "BackendView", _VIEW_FIELDS, required=_VIEW_FIELDS)
        models = fields["models"]
        if not isinstance(models, list):
            raise TypeError(f"BackendView.models must be a list, got {type(models).__name__}")
        fields["models"] = tuple(Model.from_dict(item) for item in models)
        return cls(**fields)
