"""`local`: readings from a fake `StatsSource` (per-second counts per revision).

Checks what the provider asks for (revisions, whole-second windows, sample counts)
and what it builds: increments for `compare: sequential` (with the history baseline),
window values for thresholds, latency samples for Mann-Whitney, and error readings.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from rollout.analysis import evaluate, measurement
from rollout.analysis.providers import local
from rollout.api import policyspec
from rollout.api.release import Verdict

START = 1_700_000_000  # the release start, unix seconds
# canary and stable: (requests, errors) every second; stable also before the start
RATES = {"web-2": (10, 1), "web-1": (90, 0)}


@dataclasses.dataclass
class Call:
    revision: str
    since: float
    until: float
    samples: int


class FakeStats:
    """Per-second counts; optionally reports a shorter `until` (data not there yet)."""

    def __init__(self, *, lag: int = 0, latency: dict[str, float] | None = None) -> None:
        self.calls: list[Call] = []
        self.lag = lag
        self.latency = latency if latency is not None else {"p50": 0.01, "p90": 0.02, "p99": 0.05}

    def stats(
        self,
        namespace: str,
        service: str,
        revision: str,
        *,
        since: float,
        until: float,
        samples: int,
    ) -> dict[str, Any]:
        assert (namespace, service) == ("prod", "web")
        assert since == int(since)
        assert until == int(until)
        self.calls.append(Call(revision, since, until, samples))
        end = until - self.lag
        seconds = max(0, int(end - since))
        per_req, per_err = RATES.get(revision, (0, 0))
        requests = per_req * seconds
        return {
            "requests": requests,
            "errors": per_err * seconds,
            "codes": {"200": requests - per_err * seconds},
            "latency": self.latency if requests else None,
            "samples": [0.01 * (i % 7 + 1) for i in range(min(samples, requests))],
            "since": since,
            "until": end,
        }


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(START + seconds, tz=UTC)


def ctx(
    now: float, measured_until: float | None = None, stable: str | None = "web-1"
) -> measurement.MeasureContext:
    return measurement.MeasureContext(
        namespace="prod",
        service="web",
        stable=stable,
        canary="web-2",
        now=at(now),
        release_started_at=at(0),
        measured_until=at(measured_until) if measured_until is not None else None,
    )


def metric(stat: str = "error_rate", **fields: Any) -> policyspec.Metric:
    return policyspec.Metric.model_validate(
        {"name": "m", "provider": {"local": {"stat": stat}}, **fields}
    )


SEQUENTIAL = metric("errors", compare={"method": "sequential"})
HISTORY = metric("errors", compare={"method": "sequential", "history": "10m"})


# -- sequential comparison: increments ------------------------------------------------


@pytest.mark.parametrize(
    ("now", "measured_until", "since", "until"),
    [
        pytest.param(15.0, None, 0, 15, id="first-from-release-start"),
        pytest.param(15.7, None, 0, 15, id="last-whole-second"),
        pytest.param(30.2, 15.0, 15, 30, id="increment-from-measured-until"),
        pytest.param(15.9, 15.0, 15, 15, id="no-whole-second-yet"),
    ],
)
def test_sequential_reads_increments(
    now: float, measured_until: float | None, since: int, until: int
) -> None:
    """Counts of both revisions from where the last reading ended to the last whole second."""
    source = FakeStats()
    reading = local.LocalProvider(source).measure(SEQUENTIAL, ctx(now, measured_until))
    seconds = until - since
    assert reading.error is None
    assert reading.canary == measurement.Counts(10 * seconds, 1 * seconds)
    assert reading.stable == measurement.Counts(90 * seconds, 0)
    assert reading.until == at(until)
    assert reading.value is None
    assert reading.baseline is None
    if seconds:
        assert [(c.revision, c.since, c.until) for c in source.calls] == [
            ("web-2", START + since, START + until),
            ("web-1", START + since, START + until),
        ]
    else:
        assert source.calls == []  # nothing new: no question asked


def test_sequential_increments_never_overlap() -> None:
    """Chained readings cover each second exactly once."""
    source = FakeStats()
    provider = local.LocalProvider(source)
    until: float | None = None
    total = measurement.Counts(0, 0)
    for now in (7.3, 15.1, 15.6, 31.9, 45.0):
        reading = provider.measure(SEQUENTIAL, ctx(now, until))
        assert reading.canary is not None
        assert reading.until is not None
        total += reading.canary
        until = reading.until.timestamp() - START
    assert total == measurement.Counts(10 * 45, 45)


def test_sequential_until_follows_the_source() -> None:
    """A source whose data ends earlier sets `until`, so the next increment starts there."""
    reading = local.LocalProvider(FakeStats(lag=2)).measure(SEQUENTIAL, ctx(20.0))
    assert reading.until == at(18)
    assert reading.canary == measurement.Counts(180, 18)


def test_sequential_history_baseline() -> None:
    """With compare.history: the stable's counts over that window before the release."""
    source = FakeStats()
    reading = local.LocalProvider(source).measure(HISTORY, ctx(30.0, 15.0))
    assert reading.baseline == measurement.Counts(90 * 600, 0)
    assert (source.calls[-1].revision, source.calls[-1].since, source.calls[-1].until) == (
        "web-1",
        START - 600,
        START,
    )


def test_sequential_without_stable_is_an_error() -> None:
    """A comparison with no stable revision cannot be read."""
    reading = local.LocalProvider(FakeStats()).measure(SEQUENTIAL, ctx(15.0, stable=None))
    assert reading.error == "no stable revision to compare against"


def test_sequential_reading_feeds_evaluate() -> None:
    """The increment is what evaluate's sequential test consumes."""
    reading = local.LocalProvider(FakeStats()).measure(SEQUENTIAL, ctx(60.0))
    result = evaluate.evaluate(SEQUENTIAL, reading, None)
    assert result.verdict is Verdict.FAILED  # 60/600 canary errors vs 0/5400 stable
    assert "canary 60/600" in result.reason


# -- thresholds: the canary's stat over the window --------------------------------------


@pytest.mark.parametrize(
    ("stat", "value"),
    [
        pytest.param("requests", 300.0, id="requests"),
        pytest.param("errors", 30.0, id="errors"),
        pytest.param("error_rate", 0.1, id="error-rate"),
        pytest.param("latency_p50", 0.01, id="p50"),
        pytest.param("latency_p90", 0.02, id="p90"),
        pytest.param("latency_p99", 0.05, id="p99"),
    ],
)
def test_thresholds_read_the_canary_stat_over_the_window(stat: str, value: float) -> None:
    """The value over [now − window, now) in whole seconds, with the requests behind it."""
    source = FakeStats()
    m = metric(stat, window="30s", thresholds={"max": 1})
    reading = local.LocalProvider(source).measure(m, ctx(100.4, 90.0))
    assert reading.error is None
    assert reading.value == pytest.approx(value)
    assert reading.samples == 300
    assert reading.until == at(100)
    assert reading.canary is None
    assert [dataclasses.astuple(c) for c in source.calls] == [("web-2", START + 70, START + 100, 0)]


@pytest.mark.parametrize(
    ("stat", "latency"),
    [
        pytest.param("error_rate", None, id="error-rate-no-requests"),
        pytest.param("latency_p99", None, id="no-latency"),
    ],
)
def test_no_requests_is_no_data(stat: str, latency: dict[str, float] | None) -> None:
    """No requests: error rate and latency have no value (Inconclusive, never Failed)."""
    c = dataclasses.replace(ctx(30.0), canary="web-9")  # a revision with no traffic
    m = metric(stat, thresholds={"max": 0.01})
    reading = local.LocalProvider(FakeStats()).measure(m, c)
    assert reading.value is None
    assert reading.samples == 0
    assert evaluate.evaluate(m, reading, None).verdict is Verdict.INCONCLUSIVE


def test_mann_whitney_reads_samples_of_both() -> None:
    """Latency comparison: samples of the canary and the stable over the window."""
    source = FakeStats()
    m = metric("latency_p99", window="10s", compare={"method": "mann-whitney"})
    reading = local.LocalProvider(source).measure(m, ctx(60.0))
    assert len(reading.canary_values) == 100
    assert len(reading.stable_values) == local.MAX_LATENCY_SAMPLES
    assert [(c.revision, c.samples) for c in source.calls] == [
        ("web-2", local.MAX_LATENCY_SAMPLES),
        ("web-1", local.MAX_LATENCY_SAMPLES),
    ]
    assert reading.value == pytest.approx(0.05)


# -- failures are readings ------------------------------------------------------------------


class Broken:
    def __init__(self, answer: Any = None, exc: Exception | None = None) -> None:
        self.answer, self.exc = answer, exc

    def stats(self, namespace: str, service: str, revision: str, **kw: Any) -> Any:
        if self.exc is not None:
            raise self.exc
        return self.answer


@pytest.mark.parametrize(
    ("source", "error"),
    [
        pytest.param(
            Broken(exc=ConnectionRefusedError(111, "Connection refused")),
            "local stats unavailable: ConnectionRefusedError: [Errno 111] Connection refused",
            id="unreachable",
        ),
        pytest.param(
            Broken(exc=TimeoutError()), "local stats unavailable: TimeoutError", id="timeout"
        ),
        pytest.param(
            Broken(answer={"errors": 1}),
            "local stats malformed: no 'requests' in the answer",
            id="missing",
        ),
        pytest.param(
            Broken(answer={"requests": "ten", "errors": 1}),
            "local stats malformed: requests is 'ten', not a count",
            id="not-a-count",
        ),
        pytest.param(
            Broken(answer=["x"]),
            "local stats malformed: the answer is list, not an object",
            id="not-an-object",
        ),
        pytest.param(
            Broken(answer={"requests": 5, "errors": 0, "latency": {"p99": "slow"}}),
            "local stats malformed: latency.p99 is 'slow', not a number",
            id="bad-latency",
        ),
    ],
)
def test_source_failures_are_error_readings(source: Any, error: str) -> None:
    """An exception or a malformed answer is an error reading with the reason."""
    m = metric("latency_p99", thresholds={"max": 1})
    reading = local.LocalProvider(source).measure(m, ctx(30.0))
    assert reading.error == error
    assert reading.at == at(30.0)
    assert evaluate.evaluate(m, reading, None).verdict is Verdict.ERROR


def test_sequential_source_failure_is_an_error_reading() -> None:
    """The increment path also turns failures into readings."""
    reading = local.LocalProvider(Broken(exc=OSError("boom"))).measure(SEQUENTIAL, ctx(30.0))
    assert reading.error == "local stats unavailable: OSError: boom"
    assert reading.canary is None


def test_window_without_release_start() -> None:
    """No release start and no previous reading: the first increment covers the window."""
    source = FakeStats()
    c = dataclasses.replace(ctx(100.0), release_started_at=None)
    m = metric("errors", window="20s", compare={"method": "sequential"})
    reading = local.LocalProvider(source).measure(m, c)
    assert reading.canary == measurement.Counts(200, 20)
    assert source.calls[0].since == START + 80


@pytest.mark.parametrize(
    ("fresh", "since"),
    [
        pytest.param(None, 70, id="whole-window"),
        pytest.param(85.0, 85, id="cut-at-the-retry"),
        pytest.param(100.0, 100, id="retried-this-second"),
    ],
)
def test_a_window_starts_no_earlier_than_fresh_data(fresh: float | None, since: int) -> None:
    """A retried release or step (`fresh_since`) counts nothing from before the retry
    in a window either (issue 19)."""
    source = FakeStats()
    m = metric("error_rate", window="30s", thresholds={"max": 1})
    c = dataclasses.replace(ctx(100.4), fresh_since=at(fresh) if fresh is not None else None)
    reading = local.LocalProvider(source).measure(m, c)
    assert reading.samples == 10 * (100 - since)
    assert [dataclasses.astuple(call) for call in source.calls] == [
        ("web-2", START + since, START + 100, 0)
    ]
