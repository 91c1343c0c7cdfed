"""The enumerations of the data model: ``str`` subclasses whose values are lowercase strings."""

from __future__ import annotations

from enum import Enum

__all__ = ["BackendStatus", "BackendType", "DiscoverySource"]


class _StrEnum(str, Enum):
    """A ``str`` enum that prints and serialises as its value (``json.dumps`` gives ``"ollama"``)."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(str.__str__(self), spec)


class BackendType(_StrEnum):
    """The kind of inference server behind a backend."""

    OLLAMA = "ollama"
    VLLM = "vllm"
    LLAMACPP = "llamacpp"
    EXO = "exo"
    OPENAI = "openai"
    LMSTUDIO = "lmstudio"
    GENERIC = "generic"


class BackendStatus(_StrEnum):
    """Health of a backend as last seen by the health checker."""

    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"
    DRAINING = "draining"  # healthy, but takes no new requests


class DiscoverySource(_StrEnum):
    """How the registry learnt about a backend."""

    STATIC = "static"  # configuration file
    MDNS = "mdns"  # auto-discovered
    MANUAL = "manual"  # added at runtime
