"""Exact counts through a real Prometheus (issue 16, step 1): the `rollout-proxy`
preset's query, sent to the Debian `prometheus` binary scraping an exporter whose
counters the test sets, read at two instants and turned into increments by
`analysis.counters` — including a pod whose counter resets between the two.

Waits are on data, with deadlines; the exporter and Prometheus are stopped at the end
(Prometheus by its PID, in the fixture).
"""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import prometheus_client
import pytest
from prometheus_client.core import CounterMetricFamily
from promserver import PrometheusServer, free_port

from rollout.analysis import counters, measurement
from rollout.analysis.providers import local, presets, prometheus, promstats
from rollout.api import policyspec

NAMESPACE, SERVICE, STABLE, CANARY = "prod", "web", "web-00001", "web-00002"
LABELS = ["namespace", "service", "revision", "code", "pod"]


class Counters:
    """A collector serving the counter values the test sets (a reset is a lower one)."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str, str], float] = {}  # (revision, code, pod) → value
        self.lock = threading.Lock()

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("rollout_proxy_requests", "Requests", labels=LABELS)
        with self.lock:
            for (revision, code, pod), value in sorted(self.values.items()):
                family.add_metric([NAMESPACE, SERVICE, revision, code, pod], value)
        yield family


@pytest.fixture(scope="module")
def exporter() -> Iterator[tuple[Counters, str]]:
    registry = prometheus_client.CollectorRegistry()
    values = Counters()
    registry.register(values)  # type: ignore[arg-type]
    port = free_port()
    server, thread = prometheus_client.start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield values, f"127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def series_at(srv: PrometheusServer, query: str, at: float) -> dict[counters.Series, float]:
    url = f"{srv.url}/api/v1/query?" + urllib.parse.urlencode({"query": query, "time": at})
    with urllib.request.urlopen(url, timeout=5) as response:
        body: dict[str, Any] = json.load(response)
    return {
        tuple(sorted((k, v) for k, v in r["metric"].items() if k != "__name__")): float(
            r["value"][1]
        )
        for r in body["data"]["result"]
    }


def scraped(
    srv: PrometheusServer, query: str, expected: dict[tuple[str, str, str], float]
) -> float:
    """Wait until Prometheus holds exactly `expected`; the instant it did."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = time.time()
        got = {
            (dict(k)["revision"], dict(k)["code"], dict(k)["pod"]): v
            for k, v in series_at(srv, query, now).items()
        }
        if got == expected:
            return now
        time.sleep(0.2)
    pytest.fail(f"Prometheus never held {expected}")


def test_increments_between_two_instants_with_a_reset_and_a_new_series(
    start_prometheus: Callable[[list[str]], PrometheusServer],
    exporter: tuple[Counters, str],
) -> None:
    values, target = exporter
    preset = presets.PRESETS["rollout-proxy"]
    query = presets.series_query(
        preset, namespace=NAMESPACE, service=SERVICE, revisions=[CANARY, STABLE]
    )
    with values.lock:
        values.values.update(
            {
                (CANARY, "2xx", "a"): 100.0,
                (CANARY, "5xx", "a"): 3.0,
                (STABLE, "2xx", "s"): 1000.0,
                ("web-00003", "2xx", "x"): 7.0,  # another revision: never counted
            }
        )
    srv = start_prometheus([target])
    first = dict(values.values)
    first.pop(("web-00003", "2xx", "x"))
    t0 = scraped(srv, query, first)

    with values.lock:
        values.values.update(
            {
                (CANARY, "2xx", "a"): 20.0,  # pod a restarted: counts again from 0
                (CANARY, "5xx", "a"): 1.0,
                (CANARY, "2xx", "b"): 30.0,  # a new pod
                (STABLE, "2xx", "s"): 1400.0,
                (STABLE, "5xx", "s"): 2.0,  # the stable's first failures
            }
        )
    second = {k: v for k, v in values.values.items() if k[0] != "web-00003"}
    t1 = scraped(srv, query, second)

    canary, stable = counters.split(
        series_at(srv, query, t0),
        series_at(srv, query, t1),
        revision_label=preset.revision_label,
        status_label=preset.status_label,
        failed=preset.failed,
        canary=CANARY,
        stable=STABLE,
    )
    assert canary == measurement.Counts(requests=20 + 1 + 30, errors=1)
    assert stable == measurement.Counts(requests=400 + 2, errors=2)


def after_instant(at: float) -> int:
    """A whole second at or after `at`, once it has passed (so data held at `at` is
    what Prometheus answers for it, and no later change is)."""
    second = math.ceil(at)
    while time.time() < second + 0.5:
        time.sleep(0.05)
    return second


def test_the_local_provider_reads_prometheus_counts_for_a_sequential_comparison(
    start_prometheus: Callable[[list[str]], PrometheusServer],
    exporter: tuple[Counters, str],
) -> None:
    """The `local` provider over `PrometheusStats`: a ready policy's comparison metric
    gets the canary's and the stable's increments, ending no later than the scrape
    delay allows; a bad address is an Error reading with the reason."""
    values, target = exporter
    preset = presets.PRESETS["rollout-proxy"]
    query = presets.series_query(
        preset, namespace=NAMESPACE, service=SERVICE, revisions=[CANARY, STABLE]
    )
    with values.lock:
        values.values.clear()
        values.values.update({(CANARY, "2xx", "a"): 10.0, (STABLE, "2xx", "s"): 100.0})
    srv = start_prometheus([target])
    since = after_instant(scraped(srv, query, dict(values.values)))
    with values.lock:
        values.values.update(
            {(CANARY, "2xx", "a"): 60.0, (CANARY, "5xx", "a"): 9.0, (STABLE, "2xx", "s"): 600.0}
        )
    until = after_instant(scraped(srv, query, dict(values.values)))

    source = promstats.PrometheusStats(srv.url, preset, scrape_delay=0.0, clock=lambda: until)
    provider = local.LocalProvider(source)
    metric = policyspec.Metric.model_validate(
        {
            "name": "errors-vs-stable",
            "provider": {"local": {"stat": "errors"}},
            "compare": {"against": "stable", "method": "sequential"},
        }
    )
    ctx = measurement.MeasureContext(
        namespace=NAMESPACE,
        service=SERVICE,
        stable=STABLE,
        canary=CANARY,
        now=datetime.fromtimestamp(until + 1, UTC),
        measured_until=datetime.fromtimestamp(since, UTC),
    )
    reading = provider.measure(metric, ctx)
    assert reading.error is None
    assert reading.canary == measurement.Counts(requests=59, errors=9)
    assert reading.stable == measurement.Counts(requests=500, errors=0)
    assert reading.until == datetime.fromtimestamp(until, UTC)

    delayed = promstats.PrometheusStats(srv.url, preset, scrape_delay=30.0, clock=lambda: until)
    early = local.LocalProvider(delayed).measure(metric, ctx)
    assert early.canary == measurement.Counts(0, 0)  # nothing surely scraped yet
    assert early.until == datetime.fromtimestamp(since, UTC)

    dead = promstats.PrometheusStats(f"http://127.0.0.1:{free_port()}", preset, scrape_delay=0)
    broken = local.LocalProvider(dead).measure(metric, ctx)
    assert broken.error is not None
    assert "is unreachable" in broken.error


def test_a_prometheus_comparison_reads_the_counts_templates_of_both_revisions(
    start_prometheus: Callable[[list[str]], PrometheusServer],
    exporter: tuple[Counters, str],
) -> None:
    """`provider: {prometheus: {counts: …}}` with `compare`: the user's own counter
    selectors, read at two instants against a real Prometheus."""
    values, target = exporter
    selector = 'rollout_proxy_requests_total{service="{{service}}", revision="{{revision}}"'
    metric = policyspec.Metric.model_validate(
        {
            "name": "errors",
            "provider": {
                "prometheus": {
                    "address": "http://placeholder:9090",
                    "counts": {
                        "requests": selector + "}",
                        "errors": selector + ', code=~"5.."}',
                        "delay": "0s",
                    },
                }
            },
            "compare": {"against": "stable", "method": "sequential"},
        }
    )
    with values.lock:
        values.values.clear()
        values.values.update({(CANARY, "2xx", "a"): 5.0, (STABLE, "2xx", "s"): 50.0})
    srv = start_prometheus([target])
    query = presets.series_query(
        presets.PRESETS["rollout-proxy"], namespace=NAMESPACE, service=SERVICE,
        revisions=[CANARY, STABLE],
    )  # fmt: skip
    since = after_instant(scraped(srv, query, dict(values.values)))
    with values.lock:
        values.values.update(
            {(CANARY, "2xx", "a"): 25.0, (CANARY, "5xx", "a"): 4.0, (STABLE, "2xx", "s"): 250.0}
        )
    until = after_instant(scraped(srv, query, dict(values.values)))
    spec = metric.provider.prometheus
    assert spec is not None
    metric = metric.model_copy(
        update={
            "provider": metric.provider.model_copy(
                update={"prometheus": spec.model_copy(update={"address": srv.url})}
            )
        }
    )
    ctx = measurement.MeasureContext(
        namespace=NAMESPACE,
        service=SERVICE,
        stable=STABLE,
        canary=CANARY,
        now=datetime.fromtimestamp(until, UTC),
        measured_until=datetime.fromtimestamp(since, UTC),
    )
    reading = prometheus.PrometheusProvider().measure(metric, ctx)
    assert reading.error is None
    assert reading.canary == measurement.Counts(requests=24, errors=4)
    assert reading.stable == measurement.Counts(requests=200, errors=0)
