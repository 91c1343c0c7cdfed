"""Argument checks shared by every public entry point and by both counter twins.

Each check returns the normalised value or raises TypeError/ValueError naming the field and the bad
value. Strings are normalised to exact ``str`` so that a ``str`` subclass with a hostile ``__hash__``
or ``__eq__`` never reaches a dict of the registry.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from enum import Enum
from typing import TypeVar

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
I32_MIN = -(2**31)
I32_MAX = 2**31 - 1

_repr = reprlib.Repr()
_repr.maxstring = 80
_repr.maxother = 80
_repr.maxlong = 40

E = TypeVar("E", bound=Enum)


def describe(value: object) -> str:
    """A short, never-failing repr of ``value`` for error messages."""
    try:
        return _repr.repr(value)
    except Exception:
        return f"<{type(value).__name__} object>"


def exact_str(value: str) -> str:
    """``value`` as an exact ``str`` (a subclass instance is copied)."""
    return value if type(value) is str else str.__str__(value)


def check_str(value: object, field: str, *, allow_empty: bool = False) -> str:
    """A ``str`` (non-empty unless ``allow_empty``), normalised to exact ``str``."""
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a str, got {type(value).__name__} {describe(value)}")
    text = exact_str(value)
    if not text and not allow_empty:
        raise ValueError(f"{field} must be a non-empty str, got ''")
    return text


def check_optional_str(value: object, field: str) -> str | None:
    """``None`` or a ``str`` (may be empty)."""
    return None if value is None else check_str(value, field, allow_empty=True)


def check_int(value: object, field: str, low: int, high: int) -> int:
    """An ``int`` (never a ``bool``) in ``low .. high``, as an exact ``int``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{field} must be an int, got {type(value).__name__} {describe(value)}")
    number = int.__index__(value)
    if not low <= number <= high:
        raise ValueError(f"{field} must be in {low}..{high}, got {describe(number)}")
    return number


def check_bool(value: object, field: str) -> bool:
    """A ``bool``."""
    if not isinstance(value, bool):
        raise TypeError(f"{field} must be a bool, got {type(value).__name__} {describe(value)}")
    return value


class EnumArgumentError(TypeError, ValueError):
    """A non-``str`` value where an enum is expected.

    A ``ValueError`` as API.md promises for any value that is not a member ("any other value raises
    ValueError"), and a ``TypeError`` as for any other argument of the wrong type.
    """


def check_enum(enum_type: type[E], value: object, field: str) -> E:
    """A member of ``enum_type``, given as a member or as its plain string value."""
    if isinstance(value, enum_type):
        return value
    if isinstance(value, str):
        member = enum_type._value2member_map_.get(exact_str(value))
        if member is not None:
            return member  # type: ignore[return-value]
    # Only now, on the way to an error: building the list costs more than the whole check.
    allowed = ", ".join(repr(member.value) for member in enum_type)
    if isinstance(value, str):
        raise ValueError(f"{field} must be one of {allowed}, got {describe(value)}")
    raise EnumArgumentError(
        f"{field} must be a {enum_type.__name__} or one of {allowed}, "
        f"got {type(value).__name__} {describe(value)}"
    )


def check_str_mapping(value: object, field: str) -> dict[str, str]:
    """A ``str -> str`` mapping (``None`` is an empty one), copied into a fresh dict."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{field} must be a mapping of str to str, got {type(value).__name__}")
    result: dict[str, str] = {}
    try:
        items = list(value.items())
    except Exception as exc:
        raise TypeError(f"{field} could not be read as a mapping: {describe(exc)}") from None
    for key, item in items:
        key_text = check_str(key, f"{field} key", allow_empty=True)
        result[key_text] = check_str(item, f"{field}[{key_text!r}]", allow_empty=True)
    return result


def latency_error(value: object) -> Exception:
    """The exception for a bad ``latency_ms`` (built here so both counter twins say the same)."""
    try:
        check_int(value, "latency_ms", 0, U32_MAX)
    except (TypeError, ValueError) as exc:
        return exc
    return ValueError(f"latency_ms rejected: {describe(value)}")  # pragma: no cover - not reached


def check_latency(value: object) -> int:
    """A latency sample in whole milliseconds, ``0 .. 2**32-1``."""
    return check_int(value, "latency_ms", 0, U32_MAX)
