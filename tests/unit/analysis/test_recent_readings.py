"""`MetricStatus.recent`: the last readings of a metric kept in the release, as `fold`
adds them — bounded, ordered by time, the last one the latest verdict — and kept
across steps and retries. Properties with hypothesis, then the cases a chart needs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.analysis import assess, measurement
from rollout.api import policyspec
from rollout.api.release import RECENT_READINGS, MetricStatus, Reading, Verdict

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
PROVIDER = {"local": {"stat": "error_rate"}}

ANALYSIS = policyspec.Analysis.model_validate(
    {
        "metrics": [
            {
                "name": "rate",
                "provider": {"local": {"stat": "error_rate"}},
                "thresholds": {"max": 0.01},
            },
            {
                "name": "seq",
                "provider": {"local": {"stat": "error_rate"}},
                "compare": {
                    "against": "stable",
                    "method": "sequential",
                    "alpha": 0.01,
                    "maxRatio": 2,
                },
            },
        ]
    }
)


def _reading(kind: str, metric: str, at: datetime) -> measurement.Measurement:
    """A reading of `metric` at `at` of one kind: pass, fail, no data, error, counts."""
    if kind == "error":
        return measurement.Measurement(metric, at, error="connection refused")
    if kind == "empty":
        return measurement.Measurement(metric, at)
    if metric == "seq":
        errors = 30 if kind == "fail" else 0
        return measurement.Measurement(
            metric,
            at,
            canary=measurement.Counts(100, errors),
            stable=measurement.Counts(100, 0),
        )
    value = 0.05 if kind == "fail" else 0.001
    return measurement.Measurement(metric, at, value=value, samples=100)


READINGS = st.lists(
    st.tuples(
        st.sampled_from(["rate", "seq"]),
        st.sampled_from(["pass", "fail", "empty", "error"]),
        st.integers(min_value=0, max_value=30),  # seconds after the previous one
    ),
    max_size=3 * RECENT_READINGS,
)


def _in_order(steps: list[tuple[str, str, int]]) -> list[measurement.Measurement]:
    at, out = T0, []
    for metric, kind, gap in steps:
        at += timedelta(seconds=gap)
        out.append(_reading(kind, metric, at))
    return out


@settings(max_examples=60, deadline=None)
@given(READINGS, st.integers(min_value=1, max_value=4))
def test_recent_is_bounded_ordered_and_ends_with_the_latest_verdict(
    steps: list[tuple[str, str, int]], batches: int
) -> None:
    """However the readings come (in one fold or several), each metric keeps at most
    RECENT_READINGS, oldest first, the last being the status's latest reading."""
    readings = _in_order(steps)
    statuses: list[MetricStatus] = []
    size = max(1, len(readings) // batches)
    for i in range(0, max(len(readings), 1), size):
        statuses = assess.fold(ANALYSIS, statuses, readings[i : i + size])
    for s in statuses:
        mine = [r for r in readings if r.metric == s.metric]
        assert len(s.recent) == min(len(mine), RECENT_READINGS)
        assert [r.at for r in s.recent] == sorted(r.at for r in s.recent)
        if mine:
            assert (s.recent[-1].at, s.recent[-1].verdict) == (s.at, s.verdict)
            assert s.recent[-1].at == mine[-1].at
        MetricStatus.model_validate(s.model_dump(by_alias=True))  # within the CRD's maxItems


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=2 * RECENT_READINGS),
)
def test_remember_keeps_time_order_whatever_order_readings_come_in(seconds: list[int]) -> None:
    """A reading older than the last kept goes in its place; the newest are the ones kept."""
    kept: list[Reading] = []
    for s in seconds:
        kept = assess.remember(kept, Reading(at=T0 + timedelta(seconds=s), verdict=Verdict.PASSED))
    assert len(kept) == min(len(seconds), RECENT_READINGS)
    assert [r.at for r in kept] == sorted(r.at for r in kept)


def test_the_oldest_reading_is_dropped_first() -> None:
    """One past the bound: the first reading goes, the newest is last."""
    readings = [_reading("pass", "rate", T0 + timedelta(seconds=10 * i)) for i in range(61)]
    (rate, _) = assess.fold(ANALYSIS, [], readings)
    assert len(rate.recent) == RECENT_READINGS
    assert rate.recent[0].at == T0 + timedelta(seconds=10)
    assert rate.recent[-1].at == T0 + timedelta(seconds=600)


@pytest.mark.parametrize(
    ("metric", "kind", "verdict", "value"),
    [
        pytest.param("rate", "pass", Verdict.PASSED, 0.001, id="threshold-value"),
        pytest.param("rate", "fail", Verdict.FAILED, 0.05, id="threshold-failed"),
        pytest.param("rate", "empty", Verdict.INCONCLUSIVE, None, id="no-data-no-value"),
        pytest.param("rate", "error", Verdict.ERROR, None, id="error-no-value"),
        pytest.param("seq", "pass", Verdict.PASSED, "e", id="sequential-e-value"),
    ],
)
def test_a_reading_keeps_its_verdict_and_the_value_the_chart_draws(
    metric: str, kind: str, verdict: Verdict, value: float | str | None
) -> None:
    """The threshold metric's measured value; the comparison's fail e-value (its status's
    value too)."""
    (s,) = [
        s for s in assess.fold(ANALYSIS, [], [_reading(kind, metric, T0)]) if s.metric == metric
    ]
    (r,) = s.recent
    assert (r.at, r.verdict) == (T0, verdict)
    if value == "e":
        assert r.value is not None
        assert r.value == s.value
        assert 0 < r.value < 100
    else:
        assert r.value == value


def test_recent_survives_a_new_step_and_a_retry() -> None:
    """The readings are the release's, not the step's: a new step and a retry keep them."""
    statuses = assess.fold(ANALYSIS, [], [_reading("pass", "rate", T0)])
    statuses = assess.forget_evidence(assess.reset_step(statuses))
    statuses = assess.fold(
        ANALYSIS, statuses, [_reading("fail", "rate", T0 + timedelta(seconds=10))]
    )
    rate = statuses[0]
    assert rate.measurements == 1
    assert [r.verdict for r in rate.recent] == [Verdict.PASSED, Verdict.FAILED]


def test_a_status_with_more_readings_than_the_bound_is_refused() -> None:
    """The bound is the model's (and so the CRD's maxItems), not only the fold's."""
    too_many = [{"at": T0.isoformat(), "verdict": "Passed"}] * (RECENT_READINGS + 1)
    with pytest.raises(pydantic.ValidationError):
        MetricStatus.model_validate({"metric": "rate", "recent": too_many})
