"""The pick engine in pure Python: the twin of the compiled ``nexus._select``.

A ``Candidates`` is the published, immutable snapshot of one model's HEALTHY backends, sorted by
backend id, each with its model entry's capabilities, its priority and its live counters. The
registry rebuilds it under its write lock whenever a backend serving the model is added, removed,
changes health or changes models; ``select_backend`` only reads it (no lock). The capability filter
is therefore precomputed: each entry carries a capability bit mask and a context length, and a
call compares integers.

Strategies (ties always end with the backend id, ascending, so every choice is deterministic):

* ``least_pending`` - fewest requests in flight; ties by priority, then latency, then id.
* ``smart`` - highest weighted score of priority, load and latency, each scaled to 0..100:
  ``100 - clamp(priority, 0, 100)``, ``100 - min(pending, 100)``, ``100 - min(latency_ms // 10, 100)``,
  weights 50/30/20 by default; ties as ``least_pending``.
* ``priority`` - lowest priority value; ties by pending, then latency, then id.
* ``round_robin`` - the next eligible candidate in id order, one cursor per model.
* ``random`` - a uniformly random eligible candidate (``random.randrange``, so ``random.seed``
  makes it reproducible).

This module also holds the argument checks, shared with the compiled twin so both raise the same
errors.
"""

from __future__ import annotations

import random
import threading
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from nexus._validate import U32_MAX, check_bool, check_int, check_str, describe

if TYPE_CHECKING:
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

STRATEGIES = ("least_pending", "smart", "priority", "round_robin", "random")
"""The strategy names ``select`` accepts (index = the strategy's code in both twins)."""

LEAST_PENDING, SMART, PRIORITY, ROUND_ROBIN, RANDOM = range(5)
_CODES = {name: code for code, name in enumerate(STRATEGIES)}

VISION = 1
TOOLS = 2
JSON_MODE = 4


class SmartWeights(NamedTuple):
    """Weights of the ``smart`` score: non-negative ints summing to 100."""

    priority: int = 50
    load: int = 30
    latency: int = 20


DEFAULT_WEIGHTS = SmartWeights()
"""50/30/20: priority, load, latency."""


# ---- argument checks (shared with the compiled twin) ----------------------------------------------


def strategy_code(strategy: object) -> int:
    """The code of a strategy name (a ``str`` or a ``str`` enum whose value is one)."""
    if isinstance(strategy, str):
        code = _CODES.get(str.__str__(strategy))
        if code is not None:
            return code
        raise ValueError(
            f"strategy must be one of {', '.join(map(repr, STRATEGIES))}, got {describe(strategy)}"
        )
    raise TypeError(f"strategy must be a str, got {type(strategy).__name__} {describe(strategy)}")


def capability_mask(
    require_vision: object, require_tools: object, require_json_mode: object
) -> int:
    """The capability bits a request requires."""
    mask = VISION if check_bool(require_vision, "require_vision") else 0
    if check_bool(require_tools, "require_tools"):
        mask |= TOOLS
    if check_bool(require_json_mode, "require_json_mode"):
        mask |= JSON_MODE
    return mask


def check_min_context(value: object) -> int:
    """``min_context_length``: an int in ``0 .. 2**32-1``."""
    return check_int(value, "min_context_length", 0, U32_MAX)


def check_exclude(value: object) -> tuple[str, ...]:
    """``exclude``: an iterable of backend ids (not a single ``str``), as a tuple of exact ``str``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(
            f"exclude must be an iterable of backend ids (e.g. a tuple or set), "
            f"got {type(value).__name__} {describe(value)}"
        )
    try:
        items = tuple(value)
    except Exception as exc:
        raise TypeError(f"exclude could not be iterated: {describe(exc)}") from None
    return tuple(check_str(item, f"exclude[{index}]") for index, item in enumerate(items))


def check_weights(value: object) -> tuple[int, int, int]:
    """Smart weights: ``(priority, load, latency)`` or a mapping with those keys; sum 100."""
    names = SmartWeights._fields
    if isinstance(value, Mapping):
        unknown = set(value) - set(names)
        if unknown:
            raise ValueError(
                f"weights has unknown keys {sorted(map(repr, unknown))}; allowed: {', '.join(names)}"
            )
        missing = [name for name in names if name not in value]
        if missing:
            raise ValueError(f"weights is missing {', '.join(missing)}")
        items = [value[name] for name in names]
    elif isinstance(value, (tuple, list)):
        if len(value) != 3:
            raise ValueError(
                f"weights must have 3 items (priority, load, latency), got {describe(value)}"
            )
        items = list(value)
    else:
        raise TypeError(
            "weights must be a (priority, load, latency) tuple or a mapping, "
            f"got {type(value).__name__} {describe(value)}"
        )
    numbers = [
        check_int(item, f"weights.{name}", 0, 100) for name, item in zip(names, items, strict=True)
    ]
    if sum(numbers) != 100:
        raise ValueError(f"weights must sum to 100, got {describe(value)} (sum {sum(numbers)})")
    return numbers[0], numbers[1], numbers[2]


def check_select_args(
    strategy: object,
    exclude: object,
    require_vision: object,
    require_tools: object,
    require_json_mode: object,
    min_context_length: object,
    weights: object,
) -> tuple[int, tuple[str, ...], int, int, tuple[int, int, int]]:
    """Every ``select`` argument checked: code, exclude, capability mask, min context, weights."""
    code = strategy_code(strategy)
    required = capability_mask(require_vision, require_tools, require_json_mode)
    min_context = check_min_context(min_context_length)
    excluded = () if type(exclude) is tuple and not exclude else check_exclude(exclude)
    weight_triple = (50, 30, 20) if weights is DEFAULT_WEIGHTS else check_weights(weights)
    return code, excluded, required, min_context, weight_triple


# ---- the snapshot ----------------------------------------------------------------------------------


class RoundRobin:
    """A model's round-robin cursor: a count of picks, carried from one snapshot to the next."""

    __slots__ = ("_lock", "_next")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0

    def advance(self) -> int:
        """The number of picks before this one (then counts this one)."""
        with self._lock:
            value = self._next
            self._next = value + 1
            return value


def _capabilities(model: Model) -> int:
    mask = VISION if model.supports_vision else 0
    if model.supports_tools:
        mask |= TOOLS
    if model.supports_json_mode:
        mask |= JSON_MODE
    return mask


# One candidate: (counters, priority, capability bits, context length).
_Entry = tuple[Any, int, int, int]


class Candidates:
    """One model's HEALTHY backends, sorted by id, with what ``select`` needs: immutable.

    ``with_entry`` and ``without`` return a new snapshot sharing this one's round-robin cursor.
    """

    __slots__ = ("_entries", "backends", "cursor", "ids")

    backends: tuple[Backend, ...]
    ids: tuple[str, ...]
    cursor: RoundRobin

    def __init__(self) -> None:
        self.backends = ()
        self.ids = ()
        self._entries: tuple[_Entry, ...] = ()
        self.cursor = RoundRobin()

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"<Candidates {list(self.ids)!r}>"

    def entries(self) -> tuple[tuple[str, int, int, int], ...]:
        """``(backend id, priority, capability bits, context length)`` per candidate, in id order."""
        return tuple(
            (backend_id, priority, capabilities, context)
            for backend_id, (_, priority, capabilities, context) in zip(
                self.ids, self._entries, strict=True
            )
        )

    def _derive(
        self, backends: tuple[Backend, ...], ids: tuple[str, ...], entries: tuple[_Entry, ...]
    ) -> Candidates:
        result = Candidates.__new__(Candidates)
        result.backends = backends
        result.ids = ids
        result._entries = entries
        result.cursor = self.cursor
        return result

    def with_entry(self, backend: Backend, model: Model) -> Candidates:
        """A snapshot with ``backend`` serving ``model`` (replacing its previous entry, if any)."""
        backend_id = backend.id
        entry = (backend._counters, backend.priority, _capabilities(model), model.context_length)
        ids = self.ids
        index = bisect_left(ids, backend_id)
        end = index + 1 if index < len(ids) and ids[index] == backend_id else index
        return self._derive(
            self.backends[:index] + (backend,) + self.backends[end:],
            ids[:index] + (backend_id,) + ids[end:],
            self._entries[:index] + (entry,) + self._entries[end:],
        )

    def without(self, backend_id: str) -> Candidates:
        """A snapshot without ``backend_id`` (``self`` if it is not there)."""
        ids = self.ids
        index = bisect_left(ids, backend_id)
        if index == len(ids) or ids[index] != backend_id:
            return self
        end = index + 1
        return self._derive(
            self.backends[:index] + self.backends[end:],
            ids[:index] + ids[end:],
            self._entries[:index] + self._entries[end:],
        )

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
        ids = self.ids
        entries = self._entries
        excluded: set[int] = set()
        for backend_id in exclude:
            index = bisect_left(ids, backend_id)
            if index < len(ids) and ids[index] == backend_id:
                excluded.add(index)
        eligible: Sequence[int]
        if excluded or required or min_context:
            eligible = [
                index
                for index, (_, _, capabilities, context) in enumerate(entries)
                if capabilities & required == required
                and context >= min_context
                and index not in excluded
            ]
            count = len(eligible)
        else:
            eligible = range(len(entries))
            count = len(entries)
        if not count:
            return None
        if code == ROUND_ROBIN:
            return self.backends[eligible[self.cursor.advance() % count]]
        if code == RANDOM:
            return self.backends[eligible[random.randrange(count)]]

        # The compiled twin walks the same order with strict comparisons; min() keeps the first
        # of equal keys, so on a full tie the earlier (lower) id wins here too.
        def load(index: int) -> tuple[int, int, int]:
            counters, priority, _, _ = entries[index]
            return counters.pending_requests, priority, counters.avg_latency_ms

        if code == LEAST_PENDING:
            best = min(eligible, key=load)
        elif code == PRIORITY:

            def by_priority(index: int) -> tuple[int, int, int]:
                pending, priority, latency = load(index)
                return priority, pending, latency

            best = min(eligible, key=by_priority)
        else:

            def smart(index: int) -> tuple[int, int, int, int]:
                pending, priority, latency = load(index)
                score = (
                    w_priority * (100 - min(max(priority, 0), 100))
                    + w_load * (100 - min(pending, 100))
                    + w_latency * (100 - min(latency // 10, 100))
                )
                return -score, pending, priority, latency

            best = min(eligible, key=smart)
        return self.backends[best]


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
    code, excluded, required, min_context, weight_triple = check_select_args(
        strategy,
        exclude,
        require_vision,
        require_tools,
        require_json_mode,
        min_context_length,
        weights,
    )
    if candidates is None:
        return None
    return candidates.pick(code, excluded, required, min_context, *weight_triple)


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
    """Choose a HEALTHY backend serving ``model_id`` for one request; ``None`` if none fits.

    Candidates are the model's HEALTHY backends whose entry for the model has every required
    capability and at least ``min_context_length``, minus the ids in ``exclude``. Strategies:
    ``"least_pending"`` (fewest in flight; ties by priority, latency, id), ``"smart"`` (highest
    weighted score of priority, load and latency, each scaled to 0..100 - priority
    ``100 - clamp(priority, 0, 100)``, load ``100 - min(pending, 100)``, latency
    ``100 - min(avg_latency_ms // 10, 100)`` - with ``weights`` (priority, load, latency),
    non-negative ints summing to 100, default 50/30/20; ties as least_pending), ``"priority"``
    (lowest value; ties by pending, latency, id), ``"round_robin"`` (per model, in id order) and
    ``"random"``. The scan walks a snapshot the registry keeps per model (in C with the compiled
    core, reading the counters' atomics directly); it takes no lock.
    """
    if type(model_id) is not str:
        model_id = check_str(model_id, "model_id")
    return select_backend(
        self._candidates.get(model_id),
        strategy,
        exclude,
        require_vision,
        require_tools,
        require_json_mode,
        min_context_length,
        weights,
    )
