"""Type stub of the compiled ``nexus._track``: the same API as the pure twin ``_track_py``.

Checked against the built module by ``python -m mypy.stubtest nexus._track`` and against the pure
twin by ``tests/test_stub.py``; a change to either twin must land here too.
"""

from types import TracebackType
from typing import Any

from typing_extensions import disjoint_base

from nexus._track_py import RECORD_LATENCY_MODES as RECORD_LATENCY_MODES
from nexus._track_py import check_record_latency as check_record_latency
from nexus.backend import Backend

__all__ = ["RECORD_LATENCY_MODES", "Track", "check_record_latency", "registry_track"]

@disjoint_base
class Track:
    """A context manager (sync and async) that counts one request on one backend."""

    def __init__(self, backend: Backend, record_latency: str = "success") -> None: ...
    @property
    def backend(self) -> Backend:
        """The backend this request runs on."""
    def __repr__(self) -> str: ...
    def __enter__(self) -> Backend: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
    async def __aenter__(self) -> Backend: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

def registry_track(self: Any, backend: str | Backend, *, record_latency: str = "success") -> Track:
    """``Registry.track``: count one request on a backend (``with``/``async with``)."""
