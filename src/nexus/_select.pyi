"""Type stub of the compiled ``nexus._select``: the same API as the pure twin ``_select_py``.

Checked against the built module by ``python -m mypy.stubtest nexus._select`` and against the pure
twin by ``tests/test_stub.py``; a change to either twin must land here too.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from typing_extensions import disjoint_base

from nexus._select_py import DEFAULT_WEIGHTS as DEFAULT_WEIGHTS
from nexus._select_py import STRATEGIES as STRATEGIES
from nexus._select_py import SmartWeights as SmartWeights
from nexus.backend import Backend
from nexus.model import Model

__all__ = [
    "DEFAULT_WEIGHTS",
    "STRATEGIES",
    "Candidates",
    "RoundRobin",
    "SmartWeights",
    "registry_select",
    "select_backend",
]

@disjoint_base
class RoundRobin:
    """A model's round-robin cursor: an atomic count of picks, carried over to the next snapshot."""

    def __init__(self) -> None: ...
    def advance(self) -> int:
        """The number of picks before this one (then counts this one)."""

@disjoint_base
class Candidates:
    """One model's HEALTHY backends, sorted by id, with what ``select`` needs: immutable."""

    @property
    def backends(self) -> tuple[Backend, ...]:
        """The candidates, in id order."""
    @property
    def ids(self) -> tuple[str, ...]:
        """The candidates' backend ids, in order (ascending)."""
    @property
    def cursor(self) -> RoundRobin:
        """The round-robin cursor, shared by every snapshot derived from this one."""
    def __init__(self) -> None: ...
    def __len__(self) -> int: ...
    def __repr__(self) -> str: ...
    def entries(self) -> tuple[tuple[str, int, int, int], ...]:
        """``(backend id, priority, capability bits, context length)`` per candidate, by id."""
    def with_entry(self, backend: Backend, model: Model) -> Candidates:
        """A snapshot with ``backend`` serving ``model`` (replacing its previous entry, if any)."""
    def without(self, backend_id: str) -> Candidates:
        """A snapshot without ``backend_id`` (``self`` if it is not there)."""
    def pick(
        self,
        code: int,
        exclude: tuple[str, ...],
        required: int,
        min_context: int,
        w_priority: int,
        w_load: int,
        w_latency: int,
    ) -> Backend | None:
        """The engine: the chosen backend for checked arguments (``code``: index in STRATEGIES)."""

def select_backend(
    candidates: Candidates | None,
    strategy: object,
    exclude: object,
    require_vision: object,
    require_tools: object,
    require_json_mode: object,
    min_context_length: object,
    weights: object,
) -> Backend | None:
    """Check the ``select`` arguments, then pick from ``candidates`` (``None``: no candidate)."""

def registry_select(
    self: Any,
    model_id: str,
    *,
    strategy: str = "smart",
    exclude: Iterable[str] = (),
    require_vision: bool = False,
    require_tools: bool = False,
    require_json_mode: bool = False,
    min_context_length: int = 0,
    weights: SmartWeights | tuple[int, int, int] | Mapping[str, int] = DEFAULT_WEIGHTS,
) -> Backend | None:
    """``Registry.select``: a HEALTHY backend serving ``model_id`` for one request, or ``None``."""
