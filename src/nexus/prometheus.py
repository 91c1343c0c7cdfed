"""A ``prometheus_client`` collector for a ``Registry`` (the optional extra ``nexus-registry[prometheus]``).

Usage::

    from prometheus_client import REGISTRY, start_http_server
    from nexus.prometheus import RegistryCollector

    REGISTRY.register(RegistryCollector(registry))
    start_http_server(9100)

Every scrape reads the registry as it is at that moment (lock-free reads; each backend's counters
are read from the atomics once). Exposed, with the labels ``backend_id``, ``backend_name`` and
``backend_type`` on the per-backend series (``namespace`` defaults to ``nexus``):

* ``nexus_backend_pending_requests`` (gauge) - requests in flight;
* ``nexus_backend_requests_total`` (counter) - requests started over the backend's lifetime;
* ``nexus_backend_latency_seconds`` (gauge) - the latency EMA, in seconds (0: no sample yet);
* ``nexus_backend_status`` (gauge, extra label ``status``) - one series per state, 1 for the
  current one and 0 for the others;
* ``nexus_backends``, ``nexus_healthy_backends``, ``nexus_models`` (gauges) - registry-wide counts.

The core package never imports this module, so ``prometheus_client`` is only needed here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

try:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "nexus.prometheus needs prometheus_client: pip install 'nexus-registry[prometheus]'"
    ) from exc

from nexus._validate import check_str
from nexus.enums import BackendStatus
from nexus.registry import Registry

__all__ = ["RegistryCollector"]

_LABELS = ("backend_id", "backend_name", "backend_type")


class _Families(NamedTuple):
    """One scrape's metric families, in exposition order."""

    pending: GaugeMetricFamily
    total: CounterMetricFamily
    latency: GaugeMetricFamily
    status: GaugeMetricFamily
    backends: GaugeMetricFamily
    healthy: GaugeMetricFamily
    models: GaugeMetricFamily


class RegistryCollector(Collector):
    """Collects per-backend load, health and registry-wide counts from a ``Registry`` on each scrape."""

    def __init__(self, registry: Registry, *, namespace: str = "nexus") -> None:
        if not isinstance(registry, Registry):
            raise TypeError(f"registry must be a nexus.Registry, got {type(registry).__name__}")
        self._registry = registry
        prefix = check_str(namespace, "namespace", allow_empty=True)
        self._prefix = f"{prefix}_" if prefix else ""

    def _families(self) -> _Families:
        p = self._prefix
        return _Families(
            pending=GaugeMetricFamily(
                f"{p}backend_pending_requests", "Requests in flight on the backend.", labels=_LABELS
            ),
            total=CounterMetricFamily(
                f"{p}backend_requests",
                "Requests started on the backend over its lifetime.",
                labels=_LABELS,
            ),
            latency=GaugeMetricFamily(
                f"{p}backend_latency_seconds",
                "Exponential moving average of the backend's request latency (0: no sample yet).",
                labels=_LABELS,
            ),
            status=GaugeMetricFamily(
                f"{p}backend_status",
                "Health of the backend: 1 for its current status, 0 for the others.",
                labels=(*_LABELS, "status"),
            ),
            backends=GaugeMetricFamily(f"{p}backends", "Backends registered."),
            healthy=GaugeMetricFamily(f"{p}healthy_backends", "Backends whose status is healthy."),
            models=GaugeMetricFamily(f"{p}models", "Distinct model ids served."),
        )

    def describe(self) -> Iterator[Metric]:
        """The metric families, without samples (so registering does not scrape the registry)."""
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        """One sample per backend and metric, read now, plus the registry-wide counts."""
        families = self._families()
        registry = self._registry
        backends = registry.get_all_backends()
        statuses = tuple(BackendStatus)
        for backend in backends:
            labels = [backend.id, backend.name, backend.backend_type.value]
            families.pending.add_metric(labels, backend.pending_requests)
            families.total.add_metric(labels, backend.total_requests)
            families.latency.add_metric(labels, backend.avg_latency_ms / 1000)
            current = backend.status
            for status in statuses:
                families.status.add_metric(
                    [*labels, status.value], 1.0 if status is current else 0.0
                )
        families.backends.add_metric([], len(backends))
        families.healthy.add_metric([], len(registry.get_healthy_backends()))
        families.models.add_metric([], registry.model_count())
        return iter(families)
