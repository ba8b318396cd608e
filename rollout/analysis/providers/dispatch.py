"""`Providers`: the platform's `MetricProvider` over every provider kind — `local`
(the proxy's stats, through a `StatsSource`), `prometheus` and `web` — dispatching on
the metric's provider kind (see the package docstring)."""

from __future__ import annotations

from rollout.analysis import measurement
from rollout.analysis.providers import prometheus, secrets, web
from rollout.analysis.providers.local import LocalProvider, StatsSource
from rollout.analysis.providers.prometheus import PrometheusProvider
from rollout.analysis.providers.web import WebProvider
from rollout.api import policyspec

__all__ = ["Providers", "StatsSource"]


class Providers:
    """A `MetricProvider` over all provider kinds; one per platform."""

    def __init__(
        self,
        local: StatsSource | None = None,
        *,
        connect: prometheus.Connect = prometheus.connect,
        opener: web.Opener | None = None,
        secrets: secrets.SecretReader | None = None,
    ) -> None:
        self._local = LocalProvider(local) if local is not None else None
        self.prometheus = PrometheusProvider(connect, secrets=secrets)
        self._web = WebProvider(opener, secrets=secrets)

    def measure(
        self, metric: policyspec.Metric, ctx: measurement.MeasureContext
    ) -> measurement.Measurement:
        kind = metric.provider.kind
        if kind == "local":
            if self._local is None:
                return measurement.Measurement(
                    metric=metric.name,
                    at=ctx.now,
                    error="this platform has no local stats (no local proxy): start the"
                    " controller with --metrics prometheus --prometheus-url URL --preset"
                    " NAME to read them from Prometheus",
                )
            return self._local.measure(metric, ctx)
        if kind == "prometheus":
            return self.prometheus.measure(metric, ctx)
        return self._web.measure(metric, ctx)

    def close(self) -> None:
        """Close cached Prometheus connections."""
        self.prometheus.close()
