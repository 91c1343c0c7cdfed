"""The base of ``Registry`` in pure Python: the twin of the compiled ``nexus._core``.

Same names, same behaviour, same errors: the lock-free reads and the by-id counter calls that a
router makes on every request. (In the compiled twin they are C methods; see ``nexus._core``.)
Their parameters carry API.md's names (``id``, ``model_id``, ``latency_ms``) and may be passed by
position or by keyword in both twins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nexus._validate import check_str

if TYPE_CHECKING:
    from nexus.backend import Backend

__all__ = ["HOT_METHODS", "RegistryCore"]

_EMPTY: tuple[Backend, ...] = ()

HOT_METHODS = (
    "get_backend",
    "get_backends_for_model",
    "get_all_backends",
    "get_healthy_backends",
    "increment_pending",
    "decrement_pending",
    "increment_total_requests",
    "update_latency",
)
"""The per-request methods of ``RegistryCore`` (what ``own_methods`` copies)."""


def _check_tuple(value: object) -> tuple[Backend, ...]:
    if type(value) is not tuple:
        raise TypeError(f"expected tuple, got {type(value).__name__}")
    return value


class RegistryCore:
    """The lock-free reads and by-id counter calls of ``Registry`` (its base class).

    ``_backends`` (id -> ``Backend``) and ``_by_model`` (model id -> tuple of ``Backend``) are
    mutated in place by the registry under its write lock; ``_all``, ``_healthy`` and ``_table``
    are replaced whole by assignment.
    """

    _backends: dict[str, Backend]
    _by_model: dict[str, tuple[Backend, ...]]
    _all_backends: tuple[Backend, ...]
    _healthy_backends: tuple[Backend, ...]
    _counter_table: Any

    def __new__(cls, *args: Any, **kwargs: Any) -> RegistryCore:
        # Like the compiled twin's __cinit__: runs whatever __init__ a subclass has.
        self = super().__new__(cls)
        self._backends = {}
        self._by_model = {}
        self._all_backends = _EMPTY
        self._healthy_backends = _EMPTY
        self._counter_table = None
        return self

    @property
    def _all(self) -> tuple[Backend, ...]:
        """Every backend, in registration order (published tuple)."""
        return self._all_backends

    @_all.setter
    def _all(self, backends: tuple[Backend, ...]) -> None:
        self._all_backends = _check_tuple(backends)

    @property
    def _healthy(self) -> tuple[Backend, ...]:
        """The HEALTHY backends, in the order they became healthy (published tuple)."""
        return self._healthy_backends

    @_healthy.setter
    def _healthy(self, backends: tuple[Backend, ...]) -> None:
        self._healthy_backends = _check_tuple(backends)

    @property
    def _table(self) -> Any:
        """The ``CounterTable`` of the registry's backends."""
        return self._counter_table

    @_table.setter
    def _table(self, table: Any) -> None:
        self._counter_table = table

    # ---- reads (lock-free) ------------------------------------------------------------------------

    def get_backend(self, id: str) -> Backend | None:
        """The backend with this id, or ``None``."""
        if type(id) is not str:
            id = check_str(id, "backend_id")
        return self._backends.get(id)

    def get_backends_for_model(self, model_id: str) -> tuple[Backend, ...]:
        """Every backend serving ``model_id``, from the model index (empty if none)."""
        if type(model_id) is not str:
            model_id = check_str(model_id, "model_id")
        return self._by_model.get(model_id, _EMPTY)

    def get_all_backends(self) -> tuple[Backend, ...]:
        """Every registered backend, in registration order."""
        return self._all_backends

    def get_healthy_backends(self) -> tuple[Backend, ...]:
        """Backends whose status is ``HEALTHY`` (not UNKNOWN, UNHEALTHY or DRAINING).

        In the order they became healthy.
        """
        return self._healthy_backends

    # ---- counters (lock-free, atomic) -------------------------------------------------------------

    def increment_pending(self, id: str) -> int:
        """Atomically add a request in flight; returns the new value (``OverflowError`` at 2**32-1)."""
        return self._counter_table.increment_pending(id)  # type: ignore[no-any-return]

    def decrement_pending(self, id: str) -> int:
        """Atomically take a request off, saturating at 0 (a WARNING is logged there); new value."""
        return self._counter_table.decrement_pending(id)  # type: ignore[no-any-return]

    def increment_total_requests(self, id: str) -> int:
        """Atomically count one more request (64-bit); returns the new value."""
        return self._counter_table.increment_total_requests(id)  # type: ignore[no-any-return]

    def update_latency(self, id: str, latency_ms: int) -> None:
        """Fold a latency sample (int ms) into the EMA: ``new = (sample + 4*old) // 5``, atomically."""
        self._counter_table.update_latency(id, latency_ms)

    @staticmethod
    def own_methods(cls: type[RegistryCore]) -> type[RegistryCore]:
        """Nothing to do for the pure core (the compiled one gives ``cls`` its own descriptors)."""
        if not issubclass(cls, RegistryCore):
            raise TypeError(f"{cls.__name__} is not a subclass of RegistryCore")
        return cls
