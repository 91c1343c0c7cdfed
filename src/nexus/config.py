"""Static configuration: the backends a user lists in a TOML file (spec user story 1).

    [[backends]]
    name = "Local Ollama"            # required
    url = "http://localhost:11434"   # required
    type = "ollama"                  # required: a BackendType value
    id = "local-ollama"              # optional: derived from the name when absent
    priority = 1                     # optional, lower is preferred
    metadata = { rack = "a1" }       # optional str -> str

      [[backends.models]]            # optional, any number: the Model fields
      id = "llama3:8b"
      context_length = 8192

Every backend loaded here has ``DiscoverySource.STATIC``. Errors name the file, the entry and the
field; a file with any error loads nothing.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from nexus._validate import describe, exact_str
from nexus.backend import Backend
from nexus.enums import DiscoverySource
from nexus.errors import ConfigError
from nexus.model import Model

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["backend_id_from_name", "load_config", "parse_config"]

_BACKEND_KEYS = ("id", "name", "url", "type", "priority", "metadata", "models")


def backend_id_from_name(name: str) -> str:
    """The id a backend gets when the file gives none (``"Local Ollama"`` -> ``"local-ollama"``).

    The name lowercased, with every run of characters other than letters, digits, ``.`` and ``_``
    turned into one ``-``.
    """
    return re.sub(r"[^a-z0-9._]+", "-", name.lower()).strip("-")


def load_config(path: str | os.PathLike[str]) -> list[Backend]:
    """The backends listed in the TOML file at ``path``; ``ConfigError`` if it is unreadable or bad."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    try:
        fspath = os.fspath(path)
    except Exception as exc:
        raise TypeError(f"path could not be turned into a file name: {describe(exc)}") from None
    if not isinstance(fspath, str):
        raise TypeError(f"path must name a file as str, got {type(fspath).__name__}")
    fspath = exact_str(fspath)  # a str subclass from __fspath__ could raise in the messages below
    try:
        with open(fspath, "rb") as handle:
            raw = handle.read()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{fspath}: cannot read the configuration file: {exc}") from exc
    return parse_config(raw, source=fspath)


def parse_config(text: str | bytes, source: str = "<config>") -> list[Backend]:
    """The backends listed in TOML ``text``; ``source`` names it in error messages."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source}: not UTF-8 text: {exc}") from None
    if not isinstance(text, str):
        raise TypeError(f"text must be str or bytes, got {type(text).__name__}")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    unknown = [key for key in document if key != "backends"]
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key(s) {unknown}; expected [[backends]]")
    entries = document.get("backends", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: 'backends' must be an array of tables ([[backends]])")
    backends: list[Backend] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        backend = _backend_from_entry(entry, f"{source}: backends[{index}]")
        if backend.id in seen:
            raise ConfigError(
                f"{source}: backends[{index}]: id {backend.id!r} is already used by "
                f"backends[{seen[backend.id]}]"
            )
        seen[backend.id] = index
        backends.append(backend)
    return backends


def _backend_from_entry(entry: Any, where: str) -> Backend:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be a table, got {type(entry).__name__}")
    if isinstance(entry.get("name"), str):
        where = f"{where} (name {entry['name']!r})"
    unknown = [key for key in entry if key not in _BACKEND_KEYS]
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {unknown}; allowed: {', '.join(_BACKEND_KEYS)}"
        )
    for required in ("name", "url", "type"):
        if required not in entry:
            raise ConfigError(f"{where}: missing required field '{required}'")
    models_entry = entry.get("models", [])
    if not isinstance(models_entry, list):
        raise ConfigError(
            f"{where}: field 'models' must be an array of tables ([[backends.models]])"
        )
    models = []
    for model_index, model_entry in enumerate(models_entry):
        try:
            models.append(Model.from_dict(model_entry))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: field 'models[{model_index}]': {exc}") from None
    name = entry["name"]
    backend_id = entry.get("id")
    if backend_id is None and not isinstance(name, str):
        raise ConfigError(
            f"{where}: field 'name' must be a str, got {type(name).__name__} {describe(name)}"
        )
    if backend_id is None:
        backend_id = backend_id_from_name(name)
        if not backend_id:
            raise ConfigError(
                f"{where}: cannot derive an id from name {name!r}; give the field 'id'"
            )
    try:
        return Backend(
            id=backend_id,
            name=name,
            url=entry["url"],
            backend_type=entry["type"],
            models=models,
            discovery_source=DiscoverySource.STATIC,
            metadata=entry.get("metadata"),
            priority=entry.get("priority", 0),
        )
    except (TypeError, ValueError) as exc:
        field = str(exc).split(" ", 1)[0].removeprefix("Backend.")
        field = "type" if field == "backend_type" else field
        raise ConfigError(f"{where}: field '{field}': {exc}") from None
