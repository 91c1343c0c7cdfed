"""Chooses the counters implementation once, at import: the compiled core or its pure-Python twin.

The pure twin is used when ``NEXUS_NO_EXTENSIONS`` is set to anything but ``""``/``"0"``, off
CPython, or when the extension was not built. The rest of nexus imports counters only from here.
"""

from __future__ import annotations

import os
import platform
from typing import TYPE_CHECKING

__all__ = [
    "ATOMIC_IMPLEMENTATION",
    "NO_EXTENSIONS",
    "USING_EXTENSION",
    "Candidates",
    "CounterTable",
    "Counters",
    "RegistryCore",
    "Track",
    "registry_select",
    "registry_track",
    "select_backend",
]

NO_EXTENSIONS = (
    os.environ.get("NEXUS_NO_EXTENSIONS", "") not in ("", "0")
    or platform.python_implementation() != "CPython"
)

if TYPE_CHECKING or NO_EXTENSIONS:
    from nexus._counters_py import ATOMIC_IMPLEMENTATION, Counters, CounterTable
else:
    try:
        from nexus._counters import ATOMIC_IMPLEMENTATION, Counters, CounterTable
    except ImportError:  # not built (e.g. an sdist installed with NEXUS_NO_EXTENSIONS=1)
        from nexus._counters_py import ATOMIC_IMPLEMENTATION, Counters, CounterTable

# The pick engine behind ``Registry.select``. The compiled one needs compiled Counters; the pure one
# reads any Counters through its properties, so it is the fallback whenever the compiled one is absent.
# The same holds for Track, behind ``Registry.track``. ``registry_select``/``registry_track`` are
# Registry.select/track themselves, bound into the class at import (each copes with either twin's
# snapshots and backends).
if TYPE_CHECKING or NO_EXTENSIONS or Counters.__module__ != "nexus._counters":
    from nexus._select_py import Candidates, registry_select, select_backend
    from nexus._track_py import Track, registry_track
else:
    try:
        from nexus._select import Candidates, registry_select, select_backend
        from nexus._track import Track, registry_track
    except ImportError:  # built before _select/_track existed: rebuild to get the compiled ones
        from nexus._select_py import Candidates, registry_select, select_backend
        from nexus._track_py import Track, registry_track

# The base class of Registry (its per-request reads and by-id counter calls): C with the compiled
# core. Chosen once, at import, because it is a base class: the test suite's per-test swap of the
# counters twin does not reach it (NEXUS_NO_EXTENSIONS=1 runs the pure one).
if TYPE_CHECKING or NO_EXTENSIONS or Counters.__module__ != "nexus._counters":
    from nexus._core_py import RegistryCore
else:
    try:
        from nexus._core import RegistryCore
    except ImportError:  # built before _core existed: rebuild to get the compiled one
        from nexus._core_py import RegistryCore

USING_EXTENSION: bool = Counters.__module__ == "nexus._counters"
"""True when the compiled C11-atomics core is in use."""
