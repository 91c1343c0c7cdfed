"""The exceptions the registry raises on purpose."""

from __future__ import annotations

__all__ = ["BackendNotFoundError", "ConfigError", "DuplicateBackendError", "RegistryError"]


class RegistryError(Exception):
    """Base of every error the registry raises on purpose (bad arguments raise TypeError/ValueError)."""


class DuplicateBackendError(RegistryError):
    """A backend with this id is already registered."""

    def __init__(self, backend_id: str) -> None:
        super().__init__(backend_id)
        self.backend_id = backend_id

    def __str__(self) -> str:
        return f"backend already exists: {self.backend_id}"


class BackendNotFoundError(RegistryError, KeyError):
    """No backend with this id is registered (also a KeyError, like a failed mapping lookup)."""

    def __init__(self, backend_id: str) -> None:
        super().__init__(backend_id)
        self.backend_id = backend_id

    def __str__(self) -> str:
        return f"backend not found: {self.backend_id}"


class ConfigError(ValueError):
    """A configuration file could not be read or is invalid; the message names file, entry and field."""
