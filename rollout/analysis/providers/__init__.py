"""Metric providers: where readings come from (DESIGN §5, §6). Adapters, not logic.

Three layers of analysis (STYLE): a provider does I/O and parsing only and returns
a `Measurement` (a value, counts, samples, or an `error` with the reason — never an
exception); `evaluate` judges one reading; `assess` judges a metric over its
readings. This package is the first layer, the only part of `rollout.analysis`
allowed to import I/O clients (tests/unit/test_layers.py).

- `local`: the local proxy's per-revision stats, through a `StatsSource`;
- `prometheus`: an instant PromQL query (prometheus-api-client);
- `web`: HTTP GET of JSON and a JSON path to a number, within a total deadline;
- `rendering`: query/URL templates with escaping (pure);
- `secrets`: credentials named by `valueFrom` (env, file, a Kubernetes Secret), read
  at measurement time, and the `SecretReader` port;
- `printable`: provider texts made one printable line before they reach history.

`Providers` is the platform's `MetricProvider`: it dispatches on the metric's
provider kind. A platform without local stats (no proxy) passes no `StatsSource`;
a `local` metric then reads as an error saying so. A platform with Secrets passes a
`SecretReader` (`secrets=`); without one, a `secretKeyRef` reads as an error saying
it needs the kubernetes platform.

Providers may block on I/O (each within its own timeout, the web provider within a
total deadline); the controller runs them off the reconcile
(`rollout.controller.measuring`), which also turns anything one raises into an error
reading.
"""

from __future__ import annotations

from rollout.analysis import measurement
from rollout.analysis.providers import prometheus, secrets, web
from rollout.analysis.providers.local import LocalProvider, StatsSource
from rollout.analysis.providers.prometheus import PrometheusProvider
from rollout.analysis.providers.web import WebProvider
from rollout.api import policyspec

__all__ = [
    "LocalProvider",
    "PrometheusProvider",
    "Providers",
    "StatsSource",
    "WebProvider",
]


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
