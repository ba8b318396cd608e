"""Slow requests, the latency comparison on counts (issue 16): which requests each
source counts as slow, which bound a release keeps, and the policy rules around it.

- the proxy's stats count requests in histogram buckets wholly above the bound;
- `PrometheusStats` rounds the bound up to a bucket of the service's histogram and
  counts `_count − _bucket{le}` increments, reset-aware like the requests;
- the `local` provider takes the bound of earlier readings, else the policy's
  `slowerThan`, else the stable's quantile before the release — and a bound chosen
  from the release's own data judges none of it.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from rollout.analysis import assess, evaluate, measurement
from rollout.analysis.providers import local, presets, promstats
from rollout.api import policyspec
from rollout.api.release import Verdict
from rollout.platforms.local.proxy import stats

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
START = NOW - timedelta(minutes=5)


def metric(**fields: Any) -> policyspec.Metric:
    body = {
        "name": "latency-vs-stable",
        "provider": {"local": {"stat": "latency_p90"}},
        "compare": {"method": "sequential", "maxRatio": 2, **fields.pop("compare", {})},
        **fields,
    }
    return policyspec.Metric.model_validate(body)


# -- the proxy's stats -------------------------------------------------------------


def test_the_proxy_counts_requests_wholly_above_the_bound_as_slow() -> None:
    s = stats.Stats(random.Random(1))
    key = ("d", "web", "web-2")
    for latency in (0.05, 0.1, 0.19, 0.21, 0.5, 2.0):
        s.record(key, now=100.2, code="2xx", latency=latency)
    s.record(key, now=100.3, code="error", latency=None)  # no latency: not timed
    answer = s.query(key, since=100, until=101, now=101.0, slower_than=0.2)
    assert (answer["requests"], answer["timed"], answer["slow"]) == (7, 6, 3)
    assert answer["slowerThan"] == 0.2
    assert "slow" not in s.query(key, since=100, until=101, now=101.0)


# -- Prometheus histograms -----------------------------------------------------------


class HistogramClient:
    """Answers the queries of `PrometheusStats._slow` from histogram series by time."""

    def __init__(self, counts: dict[int, float], fast: dict[int, float]) -> None:
        self.counts, self.fast = counts, fast
        self.asked: list[str] = []

    def custom_query(self, query: str, params: dict[str, str], timeout: float) -> list[Any]:
        at = int(params["time"])
        self.asked.append(query)
        if query.startswith("count by (le)"):
            return [{"metric": {"le": le}, "value": [at, "2"]} for le in ("100", "250", "+Inf")]
        if "_count{" in query:
            return [{"metric": {"pod": "a"}, "value": [at, str(self.counts[at])]}]
        if "_bucket{" in query and 'le="250"' in query:
            return [{"metric": {"pod": "a"}, "value": [at, str(self.fast[at])]}]
        return []  # the request counter and quantiles: nothing (not what is tested)

    def close(self) -> None:
        pass


def histogram_source(client: HistogramClient) -> promstats.PrometheusStats:
    return promstats.PrometheusStats(
        "http://prom:9090", presets.PRESETS["istio"], scrape_delay=0,
        connect=lambda address: client, clock=lambda: 2000.0,  # type: ignore[arg-type,return-value]
    )  # fmt: skip


def test_prometheus_rounds_the_bound_up_to_a_bucket_and_counts_count_minus_bucket() -> None:
    client = HistogramClient(counts={1000: 100, 1060: 300}, fast={1000: 90, 1060: 250})
    answer = histogram_source(client).stats(
        "prod", "web", "web-2", since=1000, until=1060, samples=0, slower_than=0.183
    )
    assert (answer["timed"], answer["slow"]) == (200, 40)  # 200 timed, 160 of them ≤ 250 ms
    assert answer["slowerThan"] == pytest.approx(0.25)
    assert any('destination_workload="web-2"' in q and 'le="250"' in q for q in client.asked)


def test_a_pod_restart_between_the_instants_never_makes_slow_counts_negative() -> None:
    client = HistogramClient(counts={1000: 500, 1060: 40}, fast={1000: 400, 1060: 38})
    answer = histogram_source(client).stats(
        "prod", "web", "web-2", since=1000, until=1060, samples=0, slower_than=0.25
    )
    assert (answer["timed"], answer["slow"]) == (40, 2)  # counted from 0 after the reset


def test_a_bound_above_every_bucket_is_an_error_saying_so() -> None:
    client = HistogramClient(counts={1000: 1, 1060: 2}, fast={1000: 1, 1060: 2})
    with pytest.raises(promstats.PrometheusStatsError, match=r"no bucket .* at or above 5 s"):
        histogram_source(client).stats(
            "prod", "web", "web-2", since=1000, until=1060, samples=0, slower_than=5.0
        )


# -- the local provider's bound --------------------------------------------------------


class Source:
    """Stats by revision; latency before the release only when `history_p90` is set."""

    def __init__(self, history_p90: float | None, during_p90: float = 0.3) -> None:
        self.history_p90, self.during_p90 = history_p90, during_p90
        self.asked: list[tuple[str, float, float, float | None]] = []

    def stats(self, namespace: str, service: str, revision: str, **kw: Any) -> dict[str, Any]:
        since, until, bound = kw["since"], kw["until"], kw.get("slower_than")
        self.asked.append((revision, since, until, bound))
        before = until <= START.timestamp()
        p90 = self.history_p90 if before else self.during_p90
        answer: dict[str, Any] = {
            "requests": 100,
            "errors": 0,
            "latency": None if p90 is None else {"p50": p90 / 2, "p90": p90, "p99": 2 * p90},
            "until": until,
        }
        if bound is not None:
            slow = 30 if revision == "web-2" else 10
            answer |= {"timed": 100, "slow": slow, "slowerThan": round(bound, 3)}
        return answer


def ctx(**fields: Any) -> measurement.MeasureContext:
    return measurement.MeasureContext(
        namespace="d", service="web", stable="web-1", canary="web-2", now=NOW,
        release_started_at=START, measured_until=NOW - timedelta(seconds=30), **fields,
    )  # fmt: skip


def test_the_bound_is_the_stables_quantile_before_the_release() -> None:
    source = Source(history_p90=0.18)
    reading = local.LocalProvider(source).measure(metric(), ctx())
    assert reading.slower_than == 0.18
    assert reading.canary == measurement.Counts(100, 30)
    assert reading.stable == measurement.Counts(100, 10)
    first = source.asked[0]
    assert (first[0], first[2], first[3]) == ("web-1", START.timestamp(), None)
    assert first[1] == START.timestamp() - 60  # the metric's window before the start


def test_a_bound_kept_from_earlier_readings_wins_over_everything() -> None:
    source = Source(history_p90=0.18)
    reading = local.LocalProvider(source).measure(
        metric(compare={"slowerThan": "400ms"}), ctx(slower_than=0.2)
    )
    assert reading.slower_than == 0.2
    assert all(bound == 0.2 for _, _, _, bound in source.asked)


def test_a_given_slower_than_is_used_without_asking_for_the_stables_latency() -> None:
    source = Source(history_p90=0.18)
    reading = local.LocalProvider(source).measure(metric(compare={"slowerThan": "400ms"}), ctx())
    assert reading.slower_than == 0.4
    assert all(bound == 0.4 for _, _, _, bound in source.asked)


def test_a_bound_chosen_from_the_releases_own_data_judges_none_of_it() -> None:
    source = Source(history_p90=None, during_p90=0.3)
    reading = local.LocalProvider(source).measure(metric(), ctx())
    assert reading.slower_than == 0.3
    assert reading.canary == measurement.Counts(0, 0) == reading.stable
    assert reading.until == NOW  # the next increment starts after the data that chose it
    result = evaluate.evaluate(metric(), reading, None)
    assert result.verdict is Verdict.INCONCLUSIVE


def test_no_stable_latency_at_all_is_inconclusive_with_the_reason() -> None:
    source = Source(history_p90=None, during_p90=None)  # type: ignore[arg-type]
    reading = local.LocalProvider(source).measure(metric(), ctx())
    assert reading.canary is None
    assert reading.until is None  # the next reading starts at the same place
    result = evaluate.evaluate(metric(), reading, None)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "no stable latency yet" in result.reason


def test_the_verdict_speaks_of_slow_requests_and_their_bound() -> None:
    reading = measurement.Measurement(
        "latency-vs-stable", NOW, canary=measurement.Counts(200, 120),
        stable=measurement.Counts(2000, 200), slower_than=0.25,
    )  # fmt: skip
    result = evaluate.evaluate(metric(compare={"alpha": 0.01}), reading, None)
    assert result.verdict is Verdict.FAILED
    assert "canary slow requests exceed stable's" in result.reason
    assert "120/200 vs stable 200/2000 slower than 250 ms" in result.reason


# -- policy rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"provider": {"local": {"stat": "requests"}}},
            r"counts failed \(errors\) or slow",
        ),
        (
            {"provider": {"local": {"stat": "errors"}}, "compare": {"slowerThan": "300ms"}},
            "slowerThan says which requests are slow",
        ),
        (
            {"thresholds": {"max": 0.5}},
            "make them two metrics",
        ),
        (
            {"compare": {"method": "mann-whitney", "slowerThan": "300ms"}},
            "slowerThan applies to the sequential method only",
        ),
    ],
)
def test_fields_that_would_do_nothing_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        metric(**fields)


def test_mann_whitney_needs_a_latency_stat() -> None:
    with pytest.raises(ValidationError, match="mann-whitney compares latency"):
        policyspec.Metric.model_validate(
            {
                "name": "m",
                "provider": {"local": {"stat": "errors"}},
                "compare": {"method": "mann-whitney"},
            }
        )


def test_the_status_keeps_the_bound_the_source_counted_against() -> None:
    analysis = policyspec.Analysis.model_validate(
        {"metrics": [metric().model_dump(by_alias=True, mode="json")]}
    )
    first = measurement.Measurement(
        "latency-vs-stable", NOW, canary=measurement.Counts(0, 0),
        stable=measurement.Counts(0, 0), slower_than=0.225,
    )  # fmt: skip
    later = measurement.Measurement(
        "latency-vs-stable", NOW + timedelta(seconds=10), canary=measurement.Counts(50, 5),
        stable=measurement.Counts(500, 20), slower_than=0.25,
    )  # fmt: skip
    statuses = assess.fold(analysis, [], [first])
    assert statuses[0].slower_than_seconds == 0.225
    statuses = assess.fold(analysis, statuses, [later])
    assert statuses[0].slower_than_seconds == 0.25  # rounded up to a bucket by Prometheus
    statuses = assess.fold(analysis, statuses, [dataclasses.replace(later, slower_than=None)])
    assert statuses[0].slower_than_seconds == 0.25  # a reading without one keeps it
