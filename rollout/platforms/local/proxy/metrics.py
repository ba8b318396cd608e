"""The proxy's Prometheus exposition (`GET /metrics` on the admin port), in its own
registry:

    rollout_proxy_requests_total{namespace,service,revision,code}      counter
    rollout_proxy_request_duration_seconds{namespace,service,revision}  histogram
    rollout_proxy_retries_total{namespace,service,revision}             counter
    rollout_proxy_mirrored_total{namespace,service,revision,code}      counter
    rollout_proxy_mirror_skipped_total{namespace,service,revision,reason}  counter

A mirrored copy (`mirror`) is counted in `requests_total` (and its duration) under the
revision that answered it, like any request that revision served — the analysis judges
its answers — and in `mirrored_total`: the clients' requests of a revision are
`requests_total - mirrored_total`. A copy not sent is counted in `mirror_skipped_total`
with its reason (`saturated`, `body`, `not-ready`).

A request retried on another revision because `revision` refused its connection
(`forward`) counts twice in `requests_total` — an `error` of the revision that refused,
and what the other one answered — and once in `retries_total`.

`code` is one of 2xx, 3xx, 4xx, 5xx, error (see `stats`). Requests the proxy answered
itself because no target could take them (502 no ready revision, 404 unknown pin) are
counted with `revision=""`. Durations are observed for answered requests only, like
the JSON stats. Label children are cached: one dict lookup per request.

Called by the server; no I/O of its own.
"""

from __future__ import annotations

import prometheus_client

__all__ = ["BUCKETS", "CONTENT_TYPE", "ProxyMetrics"]

BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST


class ProxyMetrics:
    def __init__(self) -> None:
        self.registry = prometheus_client.CollectorRegistry(auto_describe=True)
        self._requests = prometheus_client.Counter(
            "rollout_proxy_requests",
            "Requests through the rollout proxy, by revision and code class.",
            ["namespace", "service", "revision", "code"],
            registry=self.registry,
        )
        self._duration = prometheus_client.Histogram(
            "rollout_proxy_request_duration_seconds",
            "Time from receiving a request to the end of its response body.",
            ["namespace", "service", "revision"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self._retries = prometheus_client.Counter(
            "rollout_proxy_retries",
            "Requests sent again to another revision because this one refused the connection.",
            ["namespace", "service", "revision"],
            registry=self.registry,
        )
        self._mirrored = prometheus_client.Counter(
            "rollout_proxy_mirrored",
            "Copies of requests sent to a mirror's revision (also in requests_total).",
            ["namespace", "service", "revision", "code"],
            registry=self.registry,
        )
        self._mirror_skipped = prometheus_client.Counter(
            "rollout_proxy_mirror_skipped",
            "Copies a mirror should have sent and did not: saturated, body, not-ready.",
            ["namespace", "service", "revision", "reason"],
            registry=self.registry,
        )
        self._counters: dict[tuple[str, str, str, str], prometheus_client.Counter] = {}
        self._histograms: dict[tuple[str, str, str], prometheus_client.Histogram] = {}

    def record(self, key: tuple[str, str, str], code: str, latency: float | None) -> None:
        counter_key = (*key, code)
        counter = self._counters.get(counter_key)
        if counter is None:
            counter = self._counters[counter_key] = self._requests.labels(*counter_key)
        counter.inc()
        if latency is not None:
            histogram = self._histograms.get(key)
            if histogram is None:
                histogram = self._histograms[key] = self._duration.labels(*key)
            histogram.observe(latency)

    def retried(self, key: tuple[str, str, str]) -> None:
        self._retries.labels(*key).inc()

    def mirrored(self, key: tuple[str, str, str], code: str) -> None:
        self._mirrored.labels(*key, code).inc()

    def mirror_skipped(self, key: tuple[str, str, str], reason: str) -> None:
        self._mirror_skipped.labels(*key, reason).inc()

    def render(self) -> bytes:
        return prometheus_client.generate_latest(self.registry)
