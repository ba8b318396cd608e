"""`Providers`: the platform's MetricProvider dispatches on the provider kind."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rollout.analysis import measurement
from rollout.analysis.providers import dispatch
from rollout.api import policyspec

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
CTX = measurement.MeasureContext(
    namespace="prod", service="web", stable="web-1", canary="web-2", now=NOW
)


def metric(provider: dict[str, Any]) -> policyspec.Metric:
    return policyspec.Metric.model_validate(
        {"name": "m", "provider": provider, "thresholds": {"max": 1}}
    )


class Stats:
    def stats(self, namespace: str, service: str, revision: str, **kw: Any) -> dict[str, Any]:
        return {"requests": 4, "errors": 1, "codes": {}, "latency": None, "samples": []}


def test_is_a_metric_provider() -> None:
    """`Providers` satisfies the platform port."""
    port: measurement.MetricProvider = dispatch.Providers()
    assert port is not None


def test_local_goes_to_the_stats_source() -> None:
    """A local metric reads the stats source."""
    reading = dispatch.Providers(Stats()).measure(metric({"local": {"stat": "error_rate"}}), CTX)
    assert reading.value == 0.25


def test_local_without_stats_is_an_error() -> None:
    """A platform with no local stats says so instead of guessing."""
    reading = dispatch.Providers().measure(metric({"local": {"stat": "errors"}}), CTX)
    assert reading.error is not None
    assert "no local stats" in reading.error


def test_prometheus_and_web_are_dispatched() -> None:
    """Prometheus metrics use the cached client; web metrics go through the opener."""
    made: list[str] = []
    opened: list[str] = []

    class Client:
        def custom_query(self, query: str, **kw: Any) -> Any:
            return [{"metric": {}, "value": [0, "0.5"]}]

        def close(self) -> None:
            pass

    def connect(address: str) -> Any:
        made.append(address)
        return Client()

    class Response:
        def __enter__(self) -> Response:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def read(self, n: int) -> bytes:
            return b"0.75"

    def opener(request: Any, timeout: float) -> Response:
        opened.append(request.full_url)
        return Response()

    p = dispatch.Providers(connect=connect, opener=opener)
    prom = metric({"prometheus": {"address": "http://prom:9090", "query": "up"}})
    assert p.measure(prom, CTX).value == 0.5
    assert p.measure(prom, CTX).value == 0.5
    assert made == ["http://prom:9090"]
    assert p.measure(metric({"web": {"url": "http://w/{{canary}}"}}), CTX).value == 0.75
    assert opened == ["http://w/web-2"]
    p.close()


def test_the_secret_reader_reaches_the_web_provider() -> None:
    """`Providers(secrets=…)`: a `secretKeyRef` header is read through it, in the
    release's namespace; without one it is an error saying what it needs."""
    sent: list[str | None] = []

    class Response:
        def __enter__(self) -> Response:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def read(self, n: int) -> bytes:
            return b"0"

    def opener(request: Any, timeout: float) -> Response:
        sent.append(request.get_header("X-token"))
        return Response()

    class Reader:
        def read(self, namespace: str, name: str, key: str) -> str:
            return f"{namespace}/{name}/{key}"

    m = metric(
        {
            "web": {
                "url": "http://w/",
                "headers": {"X-Token": {"valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}},
            }
        }
    )
    assert dispatch.Providers(opener=opener, secrets=Reader()).measure(m, CTX).error is None
    assert sent == ["prod/s/k"]
    reading = dispatch.Providers(opener=opener).measure(m, CTX)
    assert reading.error == "header X-Token: secretKeyRef needs the kubernetes platform"
    assert sent == ["prod/s/k"]
