"""`PrometheusStats` (the `local` provider's source over Prometheus), with a fake
client: where a reading ends (never past now − scrape delay), no query when nothing
new can be there, the counts and quantiles it asks for, and failures as errors."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
import requests

from rollout.analysis.providers import presets, promstats

PRESET = presets.PRESETS["rollout-proxy"]


class FakeClient:
    def __init__(self, answers: dict[tuple[str, int], list[Any]] | Exception) -> None:
        self.answers = answers
        self.asked: list[tuple[str, int]] = []

    def custom_query(self, query: str, params: dict[str, str], timeout: float) -> list[Any]:
        at = int(params["time"])
        self.asked.append((query, at))
        if isinstance(self.answers, Exception):
            raise self.answers
        if query.startswith("histogram_quantile"):
            return [{"metric": {}, "value": [at, "0.25"]}]
        return self.answers.get(("series", at), [])

    def close(self) -> None:
        pass


def series(code: str, value: float, revision: str = "web-2") -> dict[str, Any]:
    labels = {"namespace": "d", "service": "web", "revision": revision, "code": code}
    return {
        "metric": {"__name__": "rollout_proxy_requests_total", **labels},
        "value": [0, str(value)],
    }


def source(client: FakeClient, *, now: float, delay: float = 30.0) -> promstats.PrometheusStats:
    return promstats.PrometheusStats(
        "http://prom:9090", PRESET, scrape_delay=delay, connect=lambda address: client,  # type: ignore[arg-type,return-value]
        clock=lambda: now,
    )  # fmt: skip


def test_a_reading_ends_at_the_scrape_delay_and_counts_between_the_two_instants() -> None:
    client = FakeClient(
        {
            ("series", 1000): [series("2xx", 100), series("5xx", 1)],
            ("series", 1070): [series("2xx", 150), series("5xx", 4)],
        }
    )
    answer = source(client, now=1100.7).stats(
        "d", "web", "web-2", since=1000, until=1100, samples=0
    )
    assert (answer["requests"], answer["errors"]) == (53, 3)
    assert (answer["since"], answer["until"]) == (1000, 1070)
    assert answer["latency"] == {"p50": 0.25, "p90": 0.25, "p99": 0.25}
    assert {at for _, at in client.asked} == {1000, 1070}
    assert all('revision=~"web\\\\-2"' in q for q, _ in client.asked if not q.startswith("hist"))
    assert any("[70s]" in q for q, _ in client.asked if q.startswith("histogram_quantile"))


def test_nothing_new_is_asked_for_when_no_scrape_can_hold_it() -> None:
    client = FakeClient({})
    answer = source(client, now=1020.0).stats(
        "d", "web", "web-2", since=1000, until=1019, samples=0
    )
    assert (answer["requests"], answer["latency"], answer["until"]) == (0, None, 1000)
    assert client.asked == []


def test_latency_samples_are_not_in_prometheus() -> None:
    with pytest.raises(promstats.PrometheusStatsError, match="not in Prometheus"):
        source(FakeClient({}), now=2000).stats("d", "web", "web-2", since=0, until=10, samples=200)


def test_an_unreachable_prometheus_is_an_error_naming_it() -> None:
    down = FakeClient(requests.exceptions.ConnectionError("[Errno 111] Connection refused"))
    with pytest.raises(
        promstats.PrometheusStatsError, match="prom:9090 is unreachable: \\[Errno 111\\]"
    ):
        source(down, now=2000).stats("d", "web", "web-2", since=1000, until=1900, samples=0)


def recording() -> tuple[list[dict[str, Any]], Any]:
    """A `connect` handing out one fake client, and the settings of each call."""
    made: list[dict[str, Any]] = []
    client = FakeClient({})

    def connect(address: str, **settings: Any) -> FakeClient:
        made.append(settings)
        return client

    return made, connect


def test_the_token_file_is_read_at_each_query_so_a_rotated_token_is_used(
    tmp_path: Any,
) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    made, connect = recording()
    stats = promstats.PrometheusStats(
        "https://prom:9090", PRESET, scrape_delay=0, connect=connect,  # type: ignore[arg-type]
        clock=lambda: 2000.0, headers={"X-Scope-OrgID": "team-a"}, token_file=str(token),
        ca_file="/etc/ca.pem",
    )  # fmt: skip
    stats.stats("d", "web", "web-2", since=1000, until=1100, samples=0)
    token.write_text("second\n")
    stats.stats("d", "web", "web-2", since=1100, until=1200, samples=0)
    assert [m["headers"]["Authorization"] for m in made] == ["Bearer first", "Bearer second"]
    assert {m["headers"]["X-Scope-OrgID"] for m in made} == {"team-a"}
    assert {m["ca_file"] for m in made} == {"/etc/ca.pem"}


def test_the_basic_auth_file_is_read_at_each_query(tmp_path: Any) -> None:
    auth = tmp_path / "auth"
    auth.write_text("grafana:first\n")
    made, connect = recording()
    stats = promstats.PrometheusStats(
        "http://prom:9090", PRESET, scrape_delay=0, connect=connect,  # type: ignore[arg-type]
        clock=lambda: 2000.0, basic_auth_file=str(auth),
    )  # fmt: skip
    stats.stats("d", "web", "web-2", since=1000, until=1100, samples=0)
    auth.write_text("grafana:se:cond\n")  # a password may hold ':'
    stats.stats("d", "web", "web-2", since=1100, until=1200, samples=0)
    assert [m["headers"]["Authorization"] for m in made] == [
        "Basic Z3JhZmFuYTpmaXJzdA==",  # grafana:first
        "Basic Z3JhZmFuYTpzZTpjb25k",  # grafana:se:cond
    ]
    auth.write_text("no-colon\n")
    with pytest.raises(promstats.PrometheusStatsError, match="must hold user:password"):
        stats.stats("d", "web", "web-2", since=1200, until=1300, samples=0)


def test_a_comparison_with_history_gets_the_stable_s_counts_before_the_release() -> None:
    """`compare.history`: the stable's increments over that window before the release
    started, from the same counters at its two ends."""
    from datetime import UTC, datetime

    from rollout.analysis import measurement
    from rollout.analysis.providers import local
    from rollout.api import policyspec

    stable = "web-1"
    client = FakeClient(
        {
            ("series", 400): [series("2xx", 1000, stable), series("5xx", 10, stable)],
            ("series", 1000): [series("2xx", 7000, stable), series("5xx", 16, stable)],
        }
    )
    metric = policyspec.Metric.model_validate(
        {
            "name": "errors",
            "provider": {"local": {"stat": "errors"}},
            "compare": {"against": "stable", "method": "sequential", "history": "10m"},
        }
    )
    ctx = measurement.MeasureContext(
        namespace="d",
        service="web",
        stable=stable,
        canary="web-2",
        now=datetime.fromtimestamp(1000.5, UTC),
        release_started_at=datetime.fromtimestamp(1000, UTC),
    )
    reading = local.LocalProvider(source(client, now=2000.0, delay=0)).measure(metric, ctx)
    assert reading.error is None
    assert reading.baseline == measurement.Counts(requests=6006, errors=6)


def test_a_hanging_prometheus_is_an_error_after_the_timeout() -> None:
    """The controller's --prometheus-timeout: a server that accepts and never answers
    costs one timeout, then an error naming it (never a reading that waits forever)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        address = f"http://127.0.0.1:{server.getsockname()[1]}"
        stats = promstats.PrometheusStats(address, PRESET, scrape_delay=0, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(promstats.PrometheusStatsError, match=r"127\.0\.0\.1"):
            stats.stats("d", "web", "web-2", since=1000, until=1100, samples=0)
        assert time.monotonic() - started < 5.0
        stats.close()
