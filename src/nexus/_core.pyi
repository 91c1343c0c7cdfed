"""Type stub of the compiled ``nexus._core``: the same API as the pure twin ``_core_py``.

Checked against the built module by ``python -m mypy.stubtest nexus._core`` and against the pure
twin by ``tests/test_stub.py``; a change to either twin must land here too.
"""

from typing import Any

from typing_extensions import disjoint_base

from nexus.backend import Backend

HOT_METHODS: tuple[str, ...]
"""The per-request methods of ``RegistryCore`` (what ``own_methods`` copies)."""

@disjoint_base
class RegistryCore:
    """The lock-free reads and by-id counter calls of ``Registry`` (its base class)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> RegistryCore: ...
    def get_backend(self, id: str) -> Backend | None:
        """The backend with this id, or ``None``."""
    def get_backends_for_model(self, model_id: str) -> tuple[Backend, ...]:
        """Every backend serving ``model_id``, from the model index (empty if none)."""
    def get_all_backends(self) -> tuple[Backend, ...]:
        """Every registered backend, in registration order."""
    def get_healthy_backends(self) -> tuple[Backend, ...]:
        """Backends whose status is ``HEALTHY``, in the order they became healthy."""
    def increment_pending(self, id: str) -> int:
        """Atomically add a request in flight; returns the new value."""
    def decrement_pending(self, id: str) -> int:
        """Atomically take a request off, saturating at 0; returns the new value."""
    def increment_total_requests(self, id: str) -> int:
        """Atomically count one more request (64-bit); returns the new value."""
    def update_latency(self, id: str, latency_ms: int) -> None:
        """Fold a latency sample (int ms) into the EMA, atomically."""
    @staticmethod
    def own_methods(cls: type[RegistryCore]) -> type[RegistryCore]:
        """Give ``cls`` its own descriptors of the hot methods (a no-op in the pure twin)."""
