"""End to end: the prometheus provider against a REAL Prometheus server.

The test process runs an exporter (prometheus_client on a free 127.0.0.1 port) with
metrics shaped like the proxy's — `rollout_proxy_requests_total{namespace, service,
revision, code}` and `rollout_proxy_request_duration_seconds{namespace, service,
revision}` — fed by a bounded traffic thread: a stable `web-1`, a healthy canary
`web-2` and a bad canary `web-3` that fails every fifth request. Prometheus (started
by `start_prometheus`, tests/e2e/conftest.py) scrapes it every second; the provider
queries it through prometheus-api-client, and `evaluate` judges the readings.

Waits are on data, with deadlines; no fixed sleeps. Everything started here is
stopped at the end of the module (the exporter and traffic thread here, Prometheus
by its PID in the fixture).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import prometheus_client
import pytest
from promserver import PrometheusServer, free_port

from rollout.analysis import evaluate, measurement
from rollout.analysis.providers import prometheus
from rollout.api import policyspec
from rollout.api.release import Verdict

NAMESPACE, SERVICE = "prod", "web"
STABLE, GOOD, BAD = "web-1", "web-2", "web-3"
MATCH = 'namespace="{{namespace}}",service="{{service}}",revision="{{revision}}"'
ERROR_RATIO = (
    f'(sum(rate(rollout_proxy_requests_total{{{MATCH},code=~"5.."}}[{{{{window}}}}]))'
    " or vector(0))"
    f" / sum(rate(rollout_proxy_requests_total{{{MATCH}}}[{{{{window}}}}]))"
)
LATENCY_P99 = (
    "histogram_quantile(0.99, sum by (le) ("
    f"rate(rollout_proxy_request_duration_seconds_bucket{{{MATCH}}}[{{{{window}}}}])))"
)
TRAFFIC_LIMIT_S = 300.0  # the traffic thread stops by itself after this
DATA_DEADLINE_S = 30.0


class Exporter:
    """Proxy-shaped metrics on 127.0.0.1, fed by a bounded traffic thread."""

    def __init__(self) -> None:
        self.registry = prometheus_client.CollectorRegistry()
        self.requests = prometheus_client.Counter(
            "rollout_proxy_requests",
            "Requests through the proxy",
            ["namespace", "service", "revision", "code"],
            registry=self.registry,
        )
        self.duration = prometheus_client.Histogram(
            "rollout_proxy_request_duration_seconds",
            "Request latency through the proxy",
            ["namespace", "service", "revision"],
            registry=self.registry,
        )
        self.port = free_port()
        self.server, self.server_thread = prometheus_client.start_http_server(
            self.port, addr="127.0.0.1", registry=self.registry
        )
        self._stop = threading.Event()
        self._traffic = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._traffic.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self) -> None:
        deadline = time.monotonic() + TRAFFIC_LIMIT_S
        n = 0
        while not self._stop.wait(0.05) and time.monotonic() < deadline:
            n += 1
            for revision in (STABLE, GOOD, BAD):
                failed = revision == BAD and n % 5 == 0
                code = "500" if failed else "200"
                self.requests.labels(NAMESPACE, SERVICE, revision, code).inc()
                self.duration.labels(NAMESPACE, SERVICE, revision).observe(0.01 + 0.005 * (n % 4))

    def stop(self) -> None:
        self._stop.set()
        self._traffic.join(5)
        self.server.shutdown()
        self.server.server_close()
        self.server_thread.join(5)


@pytest.fixture(scope="module")
def exporter() -> Iterator[Exporter]:
    exp = Exporter()
    try:
        yield exp
    finally:
        exp.stop()


@pytest.fixture(scope="module")
def server(
    start_prometheus: Callable[[list[str]], PrometheusServer], exporter: Exporter
) -> PrometheusServer:
    srv = start_prometheus([exporter.target])
    # rate() needs two samples in its window: wait until the canaries have a rate
    srv.wait_for(f'rate(rollout_proxy_requests_total{{revision="{BAD}",code="500"}}[10s]) > 0')
    return srv


def metric(address: str, query: str, **fields: Any) -> policyspec.Metric:
    return policyspec.Metric.model_validate(
        {
            "name": "m",
            "provider": {"prometheus": {"address": address, "query": query, "timeout": "5s"}},
            "window": "10s",
            **fields,
        }
    )


def context(canary: str) -> measurement.MeasureContext:
    return measurement.MeasureContext(
        namespace=NAMESPACE, service=SERVICE, stable=STABLE, canary=canary, now=datetime.now(UTC)
    )


def measure_until_data(
    provider: prometheus.PrometheusProvider, m: policyspec.Metric, canary: str
) -> measurement.Measurement:
    """Readings until one has a value or an error (data may lag a scrape), with a deadline."""
    deadline = time.monotonic() + DATA_DEADLINE_S
    while True:
        reading = provider.measure(m, context(canary))
        if reading.value is not None or reading.error is not None:
            return reading
        if time.monotonic() > deadline:
            return reading
        time.sleep(0.2)


@pytest.fixture(scope="module")
def provider() -> Iterator[prometheus.PrometheusProvider]:
    p = prometheus.PrometheusProvider()
    try:
        yield p
    finally:
        p.close()


@pytest.mark.parametrize(
    ("query", "canary", "thresholds", "verdict"),
    [
        pytest.param(ERROR_RATIO, GOOD, {"max": 0.05}, Verdict.PASSED, id="error-ratio-healthy"),
        pytest.param(ERROR_RATIO, BAD, {"max": 0.05}, Verdict.FAILED, id="error-ratio-bad"),
        pytest.param(LATENCY_P99, GOOD, {"max": 0.5}, Verdict.PASSED, id="latency-p99-healthy"),
    ],
)
def test_thresholds_gate_on_real_prometheus(
    server: PrometheusServer,
    provider: prometheus.PrometheusProvider,
    query: str,
    canary: str,
    thresholds: dict[str, float],
    verdict: Verdict,
) -> None:
    """A thresholds-gated query passes a healthy canary and fails a bad one."""
    m = metric(server.url, query, thresholds=thresholds)
    reading = measure_until_data(provider, m, canary)
    assert reading.error is None
    assert reading.value is not None
    result = evaluate.evaluate(m, reading, None)
    assert result.verdict is verdict, result.reason
    if canary == BAD:
        assert reading.value == pytest.approx(0.2, abs=0.05)


@pytest.mark.parametrize(
    "canary",
    [
        pytest.param("web-404", id="no-such-revision"),
        pytest.param('web-2"} or vector(1) #', id="hostile-quote-stays-a-label-value"),
        pytest.param('web-2\\"\n\t} or vector(1)', id="hostile-backslash-newline-tab"),
    ],
)
def test_empty_result_is_inconclusive(
    server: PrometheusServer, provider: prometheus.PrometheusProvider, canary: str
) -> None:
    """No series for the revision: no data, Inconclusive — never Failed, never Error."""
    m = metric(server.url, ERROR_RATIO, thresholds={"max": 0.05})
    reading = provider.measure(m, context(canary))
    assert reading.error is None
    assert reading.value is None
    assert evaluate.evaluate(m, reading, None).verdict is Verdict.INCONCLUSIVE


def test_several_series_is_an_error(
    server: PrometheusServer, provider: prometheus.PrometheusProvider
) -> None:
    """A query returning one series per code must be aggregated: an error saying so."""
    m = metric(
        server.url,
        f"rate(rollout_proxy_requests_total{{{MATCH}}}[{{{{window}}}}])",
        thresholds={"max": 1},
    )
    reading = measure_until_data(provider, m, BAD)
    assert reading.error == "the query returned 2 series; aggregate to one (e.g. sum(...))"
    assert evaluate.evaluate(m, reading, None).verdict is Verdict.ERROR


def test_bad_query_is_an_error_with_the_reason(
    server: PrometheusServer, provider: prometheus.PrometheusProvider
) -> None:
    """A query Prometheus cannot parse: Error with Prometheus's parse error."""
    m = metric(
        server.url, "sum(rate(rollout_proxy_requests_total[{{window}}])", thresholds={"max": 1}
    )
    reading = provider.measure(m, context(GOOD))
    assert reading.error is not None
    assert reading.error.startswith("bad query (HTTP 400): bad_data: ")
    assert "parse error" in reading.error
    result = evaluate.evaluate(m, reading, None)
    assert result.verdict is Verdict.ERROR
    assert "parse error" in result.reason


def test_unreachable_prometheus_is_an_error(provider: prometheus.PrometheusProvider) -> None:
    """Nothing listening at the address: Error naming the address and the refusal."""
    address = f"http://127.0.0.1:{free_port()}"
    m = metric(address, ERROR_RATIO, thresholds={"max": 0.05})
    reading = provider.measure(m, context(GOOD))
    assert reading.error is not None
    assert reading.error.startswith(f"Prometheus at {address} is unreachable: ")
    assert "Connection refused" in reading.error
    assert evaluate.evaluate(m, reading, None).verdict is Verdict.ERROR
