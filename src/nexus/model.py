"""``Model``: one model a backend serves, an immutable value."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nexus._validate import U32_MAX, check_bool, check_int, check_str, describe

__all__ = ["MODEL_FIELDS", "Model"]

_logger = logging.getLogger("nexus")

LONG_MODEL_ID = 1000
"""Model ids longer than this are accepted, with a WARNING."""

MODEL_FIELDS = (
    "id",
    "name",
    "context_length",
    "supports_vision",
    "supports_tools",
    "supports_json_mode",
    "max_output_tokens",
)


@dataclass(frozen=True, slots=True)
class Model:
    """One model a backend serves: id, display name and capabilities. Hashable, compared by value."""

    id: str
    name: str = None  # type: ignore[assignment]  # defaults to id
    context_length: int = 4096
    supports_vision: bool = False
    supports_tools: bool = False
    supports_json_mode: bool = False
    max_output_tokens: int | None = None

    def __post_init__(self) -> None:
        set_field = object.__setattr__
        # The common case - exact types, in range - passes the same checks inline: a fleet builds
        # thousands of models, and the general checks below cost a call each.
        model_id = self.id
        name = self.name
        context_length = self.context_length
        max_output_tokens = self.max_output_tokens
        if (
            type(model_id) is str
            and 0 < len(model_id) <= LONG_MODEL_ID
            and (name is None or (type(name) is str and name))
            and type(context_length) is int
            and 0 <= context_length <= U32_MAX
            and type(self.supports_vision) is bool
            and type(self.supports_tools) is bool
            and type(self.supports_json_mode) is bool
            and (
                max_output_tokens is None
                or (type(max_output_tokens) is int and 0 <= max_output_tokens <= U32_MAX)
            )
        ):
            if name is None:
                set_field(self, "name", model_id)
            return
        model_id = check_str(self.id, "Model.id")
        if len(model_id) > LONG_MODEL_ID:
            _logger.warning(
                "model id of %d characters (over %d) accepted: %s",
                len(model_id),
                LONG_MODEL_ID,
                describe(model_id),
            )
        set_field(self, "id", model_id)
        name = model_id if self.name is None else check_str(self.name, "Model.name")
        set_field(self, "name", name)
        set_field(
            self,
            "context_length",
            check_int(self.context_length, "Model.context_length", 0, U32_MAX),
        )
        for flag in ("supports_vision", "supports_tools", "supports_json_mode"):
            check_bool(getattr(self, flag), f"Model.{flag}")
        if self.max_output_tokens is not None:
            set_field(
                self,
                "max_output_tokens",
                check_int(self.max_output_tokens, "Model.max_output_tokens", 0, U32_MAX),
            )

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict with exactly the seven fields."""
        return {
            "id": self.id,
            "name": self.name,
            "context_length": self.context_length,
            "supports_vision": self.supports_vision,
            "supports_tools": self.supports_tools,
            "supports_json_mode": self.supports_json_mode,
            "max_output_tokens": self.max_output_tokens,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Model:
        """Rebuild a ``Model`` from ``to_dict()`` output; rejects missing ``id`` and unknown keys."""
        fields = mapping_fields(data, "Model", MODEL_FIELDS, required=("id",))
        return cls(**fields)


def mapping_fields(
    data: object, what: str, allowed: tuple[str, ...], required: tuple[str, ...]
) -> dict[str, Any]:
    """``data`` as a plain dict after checking it is a mapping with only ``allowed`` str keys."""
    if not isinstance(data, Mapping):
        raise TypeError(f"{what}.from_dict needs a mapping, got {type(data).__name__}")
    try:
        items = list(data.items())
    except Exception as exc:
        raise TypeError(f"{what}.from_dict could not read the mapping: {describe(exc)}") from None
    fields: dict[str, Any] = {}
    for key, value in items:
        if type(key) is not str or key not in allowed:
            raise ValueError(
                f"{what}.from_dict got unknown key {describe(key)}; allowed: {', '.join(allowed)}"
            )
        fields[key] = value
    missing = [key for key in required if key not in fields]
    if missing:
        raise ValueError(f"{what}.from_dict is missing required key(s): {', '.join(missing)}")
    return fields
