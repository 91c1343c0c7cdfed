"""The naive reference registry the benchmarks compare nexus against.

It lives in the package as ``nexus._naive`` so that ``python -m nexus.bench`` works from an installed
wheel; this module re-exports it for the pytest-benchmark files. See ``nexus._naive`` for what it is:
one ``threading.Lock`` around every operation, plain ``int`` counters, fresh lists out.
"""

from nexus._naive import NaiveBackend, NaiveModel, NaiveRegistry

__all__ = ["NaiveBackend", "NaiveModel", "NaiveRegistry"]
